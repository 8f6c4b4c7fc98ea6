//! Persistence: retained messages, persistent sessions, queued and in-flight messages survive a
//! restart on the same `persistence_location`; damaged files stop the start.

use std::time::Duration;

use mqtt_broker::{Broker, Config};
use mqtt_codec::{Packet, PubRec};

use crate::client::{Client, Got, TempDir, broker_with, id, publish};

fn persistent(dir: &TempDir) -> Config {
    Config {
        persistence: true,
        persistence_location: dir.0.clone(),
        sys_interval: Duration::ZERO,
        ..Config::default()
    }
}

/// Subscriptions, a queued QoS 1 message, an unacknowledged QoS 2 message (same packet id, DUP
/// set [MQTT-4.4.0-1]) and a retained message are all there after a restart.
#[test]
fn sessions_queues_in_flight_and_retained_survive_a_restart_mqtt_4_4_0_1() {
    let dir = TempDir::new("persist");
    let (broker, address) = broker_with(persistent(&dir));
    let (mut subscriber, _) = Client::connect(address, "sub", false);
    subscriber.subscribe("t/#", 2);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t/2", b"in flight", 2, 1, false);
    assert_eq!(publisher.recv(), Got::PubRec(1));
    let Got::Publish { packet_id, .. } = subscriber.recv() else {
        panic!("expected the QoS 2 message");
    };
    drop(subscriber); // never answered
    publisher.publish("t/1", b"queued", 1, 2, false);
    assert_eq!(publisher.recv(), Got::PubAck(2));
    publisher.publish("r", b"kept", 1, 3, true);
    assert_eq!(publisher.recv(), Got::PubAck(3));
    publisher.disconnect();
    broker.shutdown();

    let (_broker, address) = broker_with(persistent(&dir));
    let (mut subscriber, present) = Client::connect(address, "sub", false);
    assert!(present);
    assert_eq!(
        subscriber.recv(),
        publish("t/2", b"in flight", 2, packet_id, true, false)
    );
    assert!(matches!(subscriber.recv(), Got::Publish { ref payload, .. } if payload == b"queued"));
    subscriber.send(Packet::PubRec(PubRec {
        packet_id: id(packet_id.expect("QoS 2 has an id")),
    }));
    assert_eq!(subscriber.recv(), Got::PubRel(packet_id.expect("id")));
    let (mut late, _) = Client::connect(address, "late", true);
    late.subscribe("r", 1);
    assert_eq!(late.recv(), publish("r", b"kept", 1, Some(1), false, true));
}

/// A damaged log is refused at start with the file and the offset, never loaded in part.
#[test]
fn a_damaged_log_stops_the_start_naming_file_and_offset() {
    let dir = TempDir::new("damaged");
    let (broker, address) = broker_with(persistent(&dir));
    let (mut publisher, _) = Client::connect(address, "pub", true);
    for n in 1..=3u16 {
        publisher.publish("r", b"retained", 1, n, true);
        assert_eq!(publisher.recv(), Got::PubAck(n));
    }
    broker.shutdown();
    let snapshot = dir.0.join("snapshot");
    let mut bytes = std::fs::read(&snapshot).expect("a snapshot was written at shutdown");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&snapshot, &bytes).expect("write");
    let error = Broker::start(Config {
        listeners: vec!["127.0.0.1:0".parse().expect("address")],
        ..persistent(&dir)
    })
    .expect_err("a damaged snapshot is refused");
    let message = error.to_string();
    assert!(
        message.contains("snapshot") && message.contains("offset"),
        "{message}"
    );
}

/// A crash at any moment of an inbound QoS 2 PUBLISH for two offline persistent subscribers:
/// whatever prefix of the log reached the disk, the publisher's resent PUBLISH (same packet
/// identifier, DUP set, as its session requires [MQTT-4.3.3-1]) ends with each subscriber holding
/// the message exactly once [MQTT-4.3.3-2]. The crash is simulated by restarting on a copy of the
/// log cut after each of its records. It broke while the publisher's `Received` record was logged
/// before the subscribers' copies: cut between them, the resent PUBLISH was taken for a duplicate
/// and acknowledged, and the message reached nobody.
#[test]
fn an_inbound_qos2_message_survives_a_crash_between_any_two_records_mqtt_4_3_3_2() {
    let dir = TempDir::new("qos2-group");
    let (broker, address) = broker_with(persistent(&dir));
    for name in ["sub-a", "sub-b"] {
        let (mut subscriber, _) = Client::connect(address, name, false);
        subscriber.subscribe("t", 2);
        subscriber.disconnect();
    }
    // The SUBACKs were sent, so the subscriptions are on disk: crashes from here on.
    let subscribed = newest_segment_len(&dir.0);
    let (mut publisher, _) = Client::connect(address, "pub", false);
    publisher.publish("t", b"m", 2, 7, false);
    assert_eq!(publisher.recv(), Got::PubRec(7));
    // PUBREC was sent, so everything is on disk: this is what a SIGKILL now would leave.
    let files: Vec<(std::ffi::OsString, Vec<u8>)> = std::fs::read_dir(&dir.0)
        .expect("lists")
        .map(|entry| {
            let entry = entry.expect("entry");
            (
                entry.file_name(),
                std::fs::read(entry.path()).expect("reads"),
            )
        })
        .collect();
    drop(publisher);
    broker.shutdown();
    let newest = files
        .iter()
        .filter(|(name, _)| name.to_string_lossy().starts_with("wal-"))
        .map(|(name, _)| name.clone())
        .max()
        .expect("a log segment");
    let log = &files
        .iter()
        .find(|(name, _)| *name == newest)
        .expect("it")
        .1;
    // Record boundaries: each record is a u32 LE body length, a CRC, then the body.
    let mut cuts = vec![0];
    while let Some(&at) = cuts.last().filter(|&&at| at < log.len()) {
        let len = u32::from_le_bytes(log[at..at + 4].try_into().expect("4 bytes")) as usize;
        cuts.push(at + 8 + len);
    }
    cuts.retain(|&cut| cut >= subscribed);
    assert!(cuts.len() > 3, "the log holds the publication: {cuts:?}");
    for cut in cuts {
        let crashed = TempDir::new("qos2-group-cut");
        for (name, bytes) in &files {
            let bytes = if *name == newest {
                &bytes[..cut]
            } else {
                bytes
            };
            std::fs::write(crashed.0.join(name), bytes).expect("writes");
        }
        let (_broker, address) = broker_with(persistent(&crashed));
        let (mut publisher, _) = Client::connect(address, "pub", false);
        publisher.send(Packet::Publish(mqtt_codec::Publish {
            topic: mqtt_codec::TopicName::new("t").expect("topic"),
            payload: b"m",
            delivery: mqtt_codec::Delivery::new(mqtt_codec::QoS::ExactlyOnce, id(7), true),
            retain: false,
        }));
        assert_eq!(publisher.recv(), Got::PubRec(7), "cut at byte {cut}");
        publisher.send(Packet::PubRel(mqtt_codec::PubRel { packet_id: id(7) }));
        assert_eq!(publisher.recv(), Got::PubComp(7), "cut at byte {cut}");
        for name in ["sub-a", "sub-b"] {
            let (mut subscriber, _) = Client::connect(address, name, false);
            match subscriber.recv() {
                Got::Publish { payload, qos, .. } if payload == b"m" && qos == 2 => {}
                other => {
                    panic!("{name}, log cut at byte {cut}: expected the message, got {other:?}")
                }
            }
            // A second copy would already have been sent, before the PINGRESP.
            subscriber.barrier();
        }
    }
}

/// The length of the newest log segment in `dir`.
fn newest_segment_len(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .expect("lists")
        .map(|entry| entry.expect("entry"))
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("wal-"))
        .max_by_key(|entry| entry.file_name())
        .map(|entry| entry.metadata().expect("metadata").len() as usize)
        .expect("a log segment")
}

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

//! Deep topics: a filter or topic name as deep as MQTT allows (65 535 bytes of `/`, 65 536 empty
//! levels [MQTT-4.7.3-3]) is a valid packet, and with the default configuration (no
//! `max_topic_levels`) the broker must serve it like any other, then go on serving everyone else.
//! Each test ends with a fresh pair exchanging a message. Before issue 14, the SUBSCRIBE alone
//! overflowed the reader thread's stack (a recursive tree walk) and aborted the whole process.

use std::time::Duration;

use mqtt_broker::Config;
use mqtt_codec::{List, Packet, TopicFilter, Unsubscribe};

use crate::client::{Client, Got, TempDir, broker, broker_with, id, publish};
use crate::limits::assert_served;

/// 65 535 bytes of `/`: the deepest topic name or filter a packet can carry.
fn deepest() -> String {
    "/".repeat(65_535)
}

/// A deep SUBSCRIBE, a deep retained PUBLISH delivered to it, the retained copy delivered to a
/// later deep subscription, a deep `+` filter and a deep shared subscription, then a deep
/// UNSUBSCRIBE after which nothing more arrives [MQTT-3.10.4-1].
#[test]
fn a_filter_and_a_topic_of_65536_levels_are_served_and_so_is_everyone_after() {
    let (_broker, address) = broker();
    let deep = deepest();
    let plus = "+/".repeat(32_767) + "+";
    let shared = format!("$share/g/{}", &deep[9..]);
    let (mut subscriber, _) = Client::connect(address, "deep-sub", true);
    subscriber.subscribe(&deep, 1);
    subscriber.subscribe(&plus, 0);
    subscriber.subscribe(&shared, 0);

    let (mut publisher, _) = Client::connect(address, "deep-pub", true);
    publisher.publish(&deep, b"deep", 1, 1, true);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    match subscriber.recv() {
        Got::Publish { topic, payload, .. } => {
            assert_eq!(topic, deep);
            assert_eq!(payload, b"deep");
        }
        other => panic!("expected the deep message, got {other:?}"),
    }
    // The `+` filter has 32 768 levels, the shared one 65 527: neither matches 65 536 levels.
    publisher.publish(&"/".repeat(32_767), b"half", 0, 0, false);
    publisher.publish(&deep[..65_526], b"shared", 0, 0, false);
    let mut got: Vec<_> = (0..2)
        .map(|_| match subscriber.recv() {
            Got::Publish { payload, .. } => payload,
            other => panic!("expected a message, got {other:?}"),
        })
        .collect();
    got.sort();
    assert_eq!(got, [b"half".to_vec(), b"shared".to_vec()]);

    let (mut late, _) = Client::connect(address, "deep-late", true);
    late.subscribe(&deep, 1);
    match late.recv() {
        Got::Publish {
            topic,
            retain: true,
            ..
        } => assert_eq!(topic, deep),
        other => panic!("expected the retained deep message, got {other:?}"),
    }

    for filter in [&deep, &plus, &shared] {
        subscriber.send(Packet::Unsubscribe(Unsubscribe {
            packet_id: id(7),
            filters: List::from_slice(&[TopicFilter::new(filter).expect("filter")]),
        }));
        assert_eq!(subscriber.recv(), Got::UnsubAck(7));
    }
    publisher.publish(&deep, b"after", 0, 0, false);
    publisher.barrier();
    subscriber.barrier(); // nothing arrived before the PINGRESP
    assert_served(address);
}

/// A persistent session's deep subscription is written to the log and replayed at the next start,
/// where it still matches.
#[test]
fn a_deep_subscription_survives_a_restart() {
    let dir = TempDir::new("deep");
    let persistent = || Config {
        persistence: true,
        persistence_location: dir.0.clone(),
        sys_interval: Duration::ZERO,
        ..Config::default()
    };
    let deep = deepest();
    let (broker, address) = broker_with(persistent());
    let (mut subscriber, _) = Client::connect(address, "deep-kept", false);
    subscriber.subscribe(&deep, 1);
    subscriber.disconnect();
    broker.shutdown();

    let (_broker, address) = broker_with(persistent());
    let (mut subscriber, present) = Client::connect(address, "deep-kept", false);
    assert!(present);
    let (mut publisher, _) = Client::connect(address, "deep-pub", true);
    publisher.publish(&deep, b"kept", 1, 1, false);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    assert_eq!(
        subscriber.recv(),
        publish(&deep, b"kept", 1, Some(1), false, false)
    );
    assert_served(address);
}

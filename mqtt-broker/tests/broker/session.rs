//! Clean and persistent sessions, queued messages and re-delivery on reconnect.

use std::time::Duration;

use mqtt_broker::Config;

use crate::client::{Client, Got, broker, broker_with, publish};

/// A persistent session keeps its subscriptions and queues QoS 1 messages while offline
/// [MQTT-3.1.2-4] [MQTT-3.1.2-5]; reconnecting gives Session Present 1 [MQTT-3.2.2-2].
#[test]
fn persistent_session_queues_while_offline_mqtt_3_1_2_5() {
    let (_broker, address) = broker();
    let (mut subscriber, present) = Client::connect(address, "keep", false);
    assert!(!present); // [MQTT-3.2.2-3]
    subscriber.subscribe("t", 1);
    subscriber.disconnect();
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"while away", 1, 1, false);
    publisher.publish("t", b"qos 0 is not kept", 0, 0, false);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    publisher.barrier();
    let (mut subscriber, present) = Client::connect(address, "keep", false);
    assert!(present);
    assert_eq!(
        subscriber.recv(),
        publish("t", b"while away", 1, Some(1), false, false)
    );
    subscriber.barrier();
}

/// A clean session discards the previous one: Session Present 0, no subscriptions [MQTT-3.1.2-6].
#[test]
fn clean_session_discards_the_old_one_mqtt_3_1_2_6() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "c", false);
    subscriber.subscribe("t", 1);
    subscriber.disconnect();
    let (mut subscriber, present) = Client::connect(address, "c", true);
    assert!(!present);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"x", 1, 1, false);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    subscriber.barrier();
}

/// Unacknowledged messages are re-sent with DUP and their original id on reconnect [MQTT-4.4.0-1]
/// [MQTT-3.3.1-1].
#[test]
fn unacknowledged_messages_are_resent_with_dup_mqtt_4_4_0_1() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "s", false);
    subscriber.subscribe("t", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"m", 1, 1, false);
    assert_eq!(
        subscriber.recv(),
        publish("t", b"m", 1, Some(1), false, false)
    );
    drop(subscriber); // no PUBACK
    // The old connection may not be detached yet: the take-over rule covers that case too.
    let (mut subscriber, present) = Client::connect(address, "s", false);
    assert!(present);
    assert_eq!(
        subscriber.recv(),
        publish("t", b"m", 1, Some(1), true, false)
    );
}

/// With `queue_full_drop true`, a full queue drops the newest messages for that session (by
/// default the publisher of one is refused instead: see `offline.rs`).
#[test]
fn with_queue_full_drop_a_full_queue_drops_new_messages() {
    let (_broker, address) = broker_with(Config {
        max_inflight_messages: 1,
        max_queued_messages: 2,
        queue_full_drop: true,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut subscriber, _) = Client::connect(address, "s", false);
    subscriber.subscribe("t", 1);
    subscriber.disconnect();
    let (mut publisher, _) = Client::connect(address, "pub", true);
    for n in 1..=4u16 {
        publisher.publish("t", n.to_string().as_bytes(), 1, n, false);
        assert_eq!(publisher.recv(), Got::PubAck(n));
    }
    let (mut subscriber, _) = Client::connect(address, "s", false);
    assert!(matches!(subscriber.recv(), Got::Publish { ref payload, .. } if payload == b"1"));
    subscriber.send(mqtt_codec::Packet::PubAck(mqtt_codec::PubAck {
        packet_id: crate::client::id(1),
    }));
    assert!(matches!(subscriber.recv(), Got::Publish { ref payload, .. } if payload == b"2"));
    subscriber.send(mqtt_codec::Packet::PubAck(mqtt_codec::PubAck {
        packet_id: crate::client::id(2),
    }));
    subscriber.barrier();
}

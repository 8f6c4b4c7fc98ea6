//! The Will: published on an abnormal end, not after DISCONNECT.

use std::net::Shutdown;

use mqtt_codec::Packet;

use crate::client::{Client, Got, broker, connect_with_will, publish};

/// A connection lost without DISCONNECT publishes the Will [MQTT-3.1.2-8] with its QoS.
#[test]
fn will_is_published_when_the_connection_drops_mqtt_3_1_2_8() {
    let (_broker, address) = broker();
    let (mut watcher, _) = Client::connect(address, "watcher", true);
    watcher.subscribe("wills/#", 1);
    let (dying, _) = Client::connect_with(
        address,
        connect_with_will("dying", "wills/dying", b"bye", 1, false),
    );
    let _ = dying.stream.shutdown(Shutdown::Both);
    assert_eq!(
        watcher.recv(),
        publish("wills/dying", b"bye", 1, Some(1), false, false)
    );
}

/// After DISCONNECT the Will is discarded [MQTT-3.14.4-3].
#[test]
fn will_is_not_published_after_disconnect_mqtt_3_14_4_3() {
    let (_broker, address) = broker();
    let (mut watcher, _) = Client::connect(address, "watcher", true);
    watcher.subscribe("wills/#", 0);
    let (polite, _) = Client::connect_with(
        address,
        connect_with_will("polite", "wills/polite", b"bye", 0, false),
    );
    polite.disconnect();
    // The reconnect below proves the first connection's close was fully processed.
    let (again, _) = Client::connect(address, "polite", true);
    again.disconnect();
    watcher.barrier();
}

/// A protocol violation publishes the Will, retained when Will Retain is set [MQTT-3.1.2-17].
#[test]
fn will_retain_is_honoured_on_protocol_violation_mqtt_3_1_2_17() {
    let (_broker, address) = broker();
    let (mut rude, _) = Client::connect_with(
        address,
        connect_with_will("rude", "wills/rude", b"gone", 0, true),
    );
    rude.send(Packet::Connect(crate::client::connect("rude", true))); // [MQTT-3.1.0-2]
    rude.expect_closed();
    let (mut late, _) = Client::connect(address, "late", true);
    late.subscribe("wills/rude", 0);
    assert_eq!(
        late.recv(),
        publish("wills/rude", b"gone", 0, None, false, true)
    );
}

/// The broker's own messages take no part in back-pressure (see `docs/mqtt-broker-choices.md`):
/// a Will bound for a connected subscriber whose queue is full is dropped and counted, and the
/// other subscribers get it at once. It broke while the Will waited for room like a client's
/// PUBLISH: behind one slow subscriber (a window of 1 it never acknowledges, a queue of 2), the
/// Will reached the next subscriber only when `write_timeout` cut the slow one off.
#[test]
fn a_will_for_a_full_queue_is_dropped_and_counted_and_holds_nobody_up() {
    let (_broker, address) = crate::client::broker_with(mqtt_broker::Config {
        max_inflight_messages: 1,
        max_queued_messages: 2,
        write_timeout: std::time::Duration::from_secs(600),
        sys_interval: std::time::Duration::from_secs(1),
        ..mqtt_broker::Config::default()
    });
    // Subscribed first, so that delivery reaches it before the watcher.
    let (mut slow, _) = Client::connect(address, "slow", true);
    slow.subscribe("wills/#", 1);
    let (mut watcher, _) = Client::connect(address, "watcher", true);
    watcher.subscribe("wills/#", 1);
    let (mut publisher, _) = Client::connect(address, "filler", true);
    // One in the slow subscriber's window, two in its queue: full. The watcher acknowledges.
    for n in 1..=3u16 {
        publisher.publish("wills/filler", b"fill", 1, n, false);
        assert_eq!(publisher.recv(), Got::PubAck(n));
        let Got::Publish { packet_id, .. } = watcher.recv() else {
            panic!("the watcher gets message {n}");
        };
        watcher.send(Packet::PubAck(mqtt_codec::PubAck {
            packet_id: crate::client::id(packet_id.expect("QoS 1")),
        }));
    }
    let (dying, _) = Client::connect_with(
        address,
        connect_with_will("dying", "wills/dying", b"bye", 1, false),
    );
    let _ = dying.stream.shutdown(Shutdown::Both);
    match watcher.recv() {
        Got::Publish { topic, payload, .. } if topic == "wills/dying" && payload == b"bye" => {}
        other => panic!("expected the Will, got {other:?}"),
    }
    assert_eq!(
        crate::limits::sys_counter(address, "$SYS/broker/publish/messages/dropped", |n| n >= 1),
        1
    );
    // The slow subscriber has its window's message and nothing else was lost for it: acknowledging
    // it releases the two queued ones, and no Will follows them.
    let Got::Publish { packet_id, .. } = slow.recv() else {
        panic!("the slow subscriber has message 1 in flight");
    };
    slow.send(Packet::PubAck(mqtt_codec::PubAck {
        packet_id: crate::client::id(packet_id.expect("QoS 1")),
    }));
    for _ in 0..2 {
        let Got::Publish {
            topic, packet_id, ..
        } = slow.recv()
        else {
            panic!("the queued messages follow");
        };
        assert_eq!(topic, "wills/filler");
        slow.send(Packet::PubAck(mqtt_codec::PubAck {
            packet_id: crate::client::id(packet_id.expect("QoS 1")),
        }));
    }
    slow.barrier();
}

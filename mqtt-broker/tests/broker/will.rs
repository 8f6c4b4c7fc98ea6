//! The Will: published on an abnormal end, not after DISCONNECT.

use std::net::Shutdown;

use mqtt_codec::Packet;

use crate::client::{Client, broker, connect_with_will, publish};

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

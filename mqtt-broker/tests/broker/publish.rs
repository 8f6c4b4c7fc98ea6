//! PUBLISH at QoS 0, 1 and 2, in both directions, and the QoS a subscriber gets.

use std::time::Duration;

use mqtt_broker::Config;
use mqtt_codec::{Packet, PubAck, PubComp, PubRec, PubRel};

use crate::client::{Client, Got, broker, broker_with, id, publish};

/// QoS 0 is delivered with no acknowledgement [MQTT-4.3.1-1].
#[test]
fn qos_0_is_delivered_mqtt_4_3_1_1() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("t", 0);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"hello", 0, 0, false);
    assert_eq!(
        subscriber.recv(),
        publish("t", b"hello", 0, None, false, false)
    );
}

/// QoS 1 is answered PUBACK with the same id [MQTT-3.3.4-1] [MQTT-2.3.1-6] and delivered at QoS 1
/// with an identifier of the broker's own [MQTT-4.3.2-1].
#[test]
fn qos_1_is_acknowledged_and_delivered_mqtt_3_3_4_1() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("t", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"one", 1, 42, false);
    assert_eq!(publisher.recv(), Got::PubAck(42));
    assert_eq!(
        subscriber.recv(),
        publish("t", b"one", 1, Some(1), false, false)
    );
    subscriber.send(Packet::PubAck(PubAck { packet_id: id(1) }));
    subscriber.barrier();
}

/// QoS 2 inbound: PUBREC, a duplicate PUBLISH before PUBREL is answered but not delivered twice,
/// PUBREL gets PUBCOMP [MQTT-4.3.3-2].
#[test]
fn qos_2_duplicate_before_pubrel_is_not_delivered_twice_mqtt_4_3_3_2() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("t", 0);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"once", 2, 7, false);
    assert_eq!(publisher.recv(), Got::PubRec(7));
    publisher.publish("t", b"once", 2, 7, false);
    assert_eq!(publisher.recv(), Got::PubRec(7));
    publisher.send(Packet::PubRel(PubRel { packet_id: id(7) }));
    assert_eq!(publisher.recv(), Got::PubComp(7));
    assert_eq!(
        subscriber.recv(),
        publish("t", b"once", 0, None, false, false)
    );
    subscriber.barrier();
}

/// A PUBREL for an identifier the broker does not know is still answered PUBCOMP [MQTT-4.3.3-2].
#[test]
fn pubrel_for_unknown_id_gets_pubcomp_mqtt_4_3_3_2() {
    let (_broker, address) = broker();
    let (mut client, _) = Client::connect(address, "c", true);
    client.send(Packet::PubRel(PubRel { packet_id: id(9) }));
    assert_eq!(client.recv(), Got::PubComp(9));
}

/// QoS 2 outbound: PUBLISH, PUBREC from the client, PUBREL from the broker, PUBCOMP [MQTT-4.3.3-1].
#[test]
fn qos_2_outbound_flow_mqtt_4_3_3_1() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("t", 2);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"two", 2, 1, false);
    assert_eq!(
        subscriber.recv(),
        publish("t", b"two", 2, Some(1), false, false)
    );
    subscriber.send(Packet::PubRec(PubRec { packet_id: id(1) }));
    assert_eq!(subscriber.recv(), Got::PubRel(1));
    subscriber.send(Packet::PubComp(PubComp { packet_id: id(1) }));
    subscriber.barrier();
}

/// Delivered QoS is the lower of published and granted QoS [MQTT-3.8.4-6].
#[test]
fn delivered_qos_is_the_minimum_mqtt_3_8_4_6() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("t", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"a", 2, 1, false);
    publisher.publish("t", b"b", 0, 0, false);
    assert_eq!(
        subscriber.recv(),
        publish("t", b"a", 1, Some(1), false, false)
    );
    assert_eq!(subscriber.recv(), publish("t", b"b", 0, None, false, false));
}

/// Overlapping subscriptions deliver one copy at the highest granted QoS [MQTT-3.3.5-1].
#[test]
fn overlapping_subscriptions_deliver_once_mqtt_3_3_5_1() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("a/#", 0);
    subscriber.subscribe("a/+", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("a/b", b"x", 1, 1, false);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    assert_eq!(
        subscriber.recv(),
        publish("a/b", b"x", 1, Some(1), false, false)
    );
    subscriber.barrier();
}

/// Messages from one publisher on one topic arrive in the order sent [MQTT-4.6.0-6].
#[test]
fn order_is_kept_per_topic_mqtt_4_6_0_6() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("t", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    for n in 1..=50u16 {
        publisher.publish("t", n.to_string().as_bytes(), 1, n, false);
    }
    for n in 1..=50u16 {
        match subscriber.recv() {
            Got::Publish {
                payload,
                packet_id: Some(packet_id),
                ..
            } => {
                assert_eq!(payload, n.to_string().as_bytes());
                subscriber.send(Packet::PubAck(PubAck {
                    packet_id: id(packet_id),
                }));
            }
            other => panic!("expected PUBLISH {n}, got {other:?}"),
        }
    }
}

/// At most `max_inflight_messages` are unacknowledged; an acknowledgement lets the next one go.
#[test]
fn the_inflight_window_holds_back_further_messages() {
    let (_broker, address) = broker_with(Config {
        max_inflight_messages: 2,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("t", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    for n in 1..=3u16 {
        publisher.publish("t", b"m", 1, n, false);
        assert_eq!(publisher.recv(), Got::PubAck(n));
    }
    assert!(matches!(
        subscriber.recv(),
        Got::Publish {
            packet_id: Some(1),
            ..
        }
    ));
    assert!(matches!(
        subscriber.recv(),
        Got::Publish {
            packet_id: Some(2),
            ..
        }
    ));
    subscriber.barrier(); // the third is held back
    subscriber.send(Packet::PubAck(PubAck { packet_id: id(1) }));
    assert!(matches!(
        subscriber.recv(),
        Got::Publish {
            packet_id: Some(3),
            ..
        }
    ));
}

/// The acknowledgements a subscriber can get wrong: each answers a message in flight with the
/// packet of another flow or another step.
// Named after the packets, so the shared prefix is the point.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy)]
enum WrongAck {
    PubRec,
    PubComp,
    PubAck,
}

fn ack(kind: WrongAck, packet_id: u16) -> Packet<'static> {
    let packet_id = id(packet_id);
    match kind {
        WrongAck::PubRec => Packet::PubRec(PubRec { packet_id }),
        WrongAck::PubComp => Packet::PubComp(PubComp { packet_id }),
        WrongAck::PubAck => Packet::PubAck(PubAck { packet_id }),
    }
}

/// A subscriber (with a Will) gets one message at `qos`, optionally answers PUBREC and gets the
/// PUBREL, then sends `wrong`: the broker closes the connection and, since the close is not a
/// DISCONNECT, publishes the Will, which a watcher sees [MQTT-4.8.0-1]. Meanwhile a healthy pair
/// is still served.
fn wrong_ack_closes(qos: u8, after_pubrec: bool, wrong: WrongAck) {
    let (_broker, address) = broker();
    let (mut watcher, _) = Client::connect(address, "watcher", true);
    watcher.subscribe("will", 0);
    let (mut subscriber, _) = Client::connect_with(
        address,
        crate::client::connect_with_will("wrong-acker", "will", b"gone", 0, false),
    );
    subscriber.subscribe("t", qos);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"m", qos, 1, false);
    let Got::Publish {
        packet_id: Some(packet_id),
        ..
    } = subscriber.recv()
    else {
        panic!("expected the QoS {qos} message");
    };
    if after_pubrec {
        subscriber.send(Packet::PubRec(PubRec {
            packet_id: id(packet_id),
        }));
        assert_eq!(subscriber.recv(), Got::PubRel(packet_id));
    }
    subscriber.send(ack(wrong, packet_id));
    subscriber.send(Packet::PingReq);
    subscriber.expect_closed();
    assert_eq!(
        watcher.recv(),
        publish("will", b"gone", 0, None, false, false)
    );
    crate::limits::assert_served(address);
}

/// PUBREC or PUBCOMP answering a QoS 1 PUBLISH, whose flow ends with PUBACK [MQTT-4.3.2-1], is a
/// protocol violation: the connection is closed [MQTT-4.8.0-1].
#[test]
fn pubrec_or_pubcomp_for_a_qos_1_message_closes_the_connection_mqtt_4_8_0_1() {
    wrong_ack_closes(1, false, WrongAck::PubRec);
    wrong_ack_closes(1, false, WrongAck::PubComp);
}

/// PUBACK or PUBCOMP answering a QoS 2 PUBLISH (which waits for PUBREC), and PUBACK after the
/// PUBREL (which waits for PUBCOMP), break the QoS 2 flow [MQTT-4.3.3-1]: closed [MQTT-4.8.0-1].
#[test]
fn puback_or_pubcomp_at_the_wrong_step_of_qos_2_closes_the_connection_mqtt_4_8_0_1() {
    wrong_ack_closes(2, false, WrongAck::PubAck);
    wrong_ack_closes(2, false, WrongAck::PubComp);
    wrong_ack_closes(2, true, WrongAck::PubAck);
}

/// What the specification keeps legal is still tolerated: acknowledgements for identifiers not in
/// flight (a late duplicate) are ignored, a repeated PUBREC gets the PUBREL again, and a PUBREL for
/// an identifier the broker never saw still gets its PUBCOMP [MQTT-4.3.3-2].
#[test]
fn unknown_identifiers_and_repeats_are_tolerated_mqtt_4_3_3_2() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "tolerant", true);
    subscriber.subscribe("t", 2);
    for kind in [WrongAck::PubAck, WrongAck::PubRec, WrongAck::PubComp] {
        subscriber.send(ack(kind, 42));
    }
    subscriber.send(Packet::PubRel(PubRel { packet_id: id(43) }));
    assert_eq!(subscriber.recv(), Got::PubComp(43));
    subscriber.barrier();
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"m", 2, 1, false);
    let Got::Publish {
        packet_id: Some(packet_id),
        ..
    } = subscriber.recv()
    else {
        panic!("expected the QoS 2 message");
    };
    for _ in 0..2 {
        subscriber.send(Packet::PubRec(PubRec {
            packet_id: id(packet_id),
        }));
        assert_eq!(subscriber.recv(), Got::PubRel(packet_id));
    }
    subscriber.send(Packet::PubComp(PubComp {
        packet_id: id(packet_id),
    }));
    subscriber.send(Packet::PubComp(PubComp {
        packet_id: id(packet_id),
    }));
    subscriber.barrier();
}

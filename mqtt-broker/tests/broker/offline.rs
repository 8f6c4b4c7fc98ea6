//! An offline persistent session's full queue (`max_queued_messages`, `max_queued_bytes`): by
//! default a QoS 1 or 2 PUBLISH it would have to drop is refused upstream, so nothing the broker
//! acknowledged is lost (issue #14, item 2): the publisher gets no PUBACK/PUBREC, its connection is
//! closed, and it sends the message again once reconnected [MQTT-4.4.0-1]. With `queue_full_drop
//! true` the broker acknowledges and drops instead, counted, as mosquitto does.

use std::net::SocketAddr;
use std::time::Duration;

use mqtt_broker::Config;
use mqtt_codec::{Delivery, Packet, PubRel, Publish, QoS, TopicName};

use crate::client::{Client, Got, broker_with, id};
use crate::limits::sys_counter;

const TOPIC: &str = "offline/t";
/// Each message counts `TOPIC` (9 bytes) and its payload (4 bytes) for `max_queued_bytes`.
const MESSAGE_BYTES: usize = 13;

fn payload(n: u16) -> Vec<u8> {
    format!("{n:04}").into_bytes()
}

fn config(max_queued_messages: usize, max_queued_bytes: usize, drop: bool) -> Config {
    Config {
        max_queued_messages,
        max_queued_bytes,
        queue_full_drop: drop,
        sys_interval: Duration::from_secs(1),
        ..Config::default()
    }
}

/// A persistent session subscribed to `TOPIC` at `qos`, left offline.
fn offline_subscriber(address: SocketAddr, name: &str, qos: u8) {
    let (mut subscriber, _) = Client::connect(address, name, false);
    subscriber.subscribe(TOPIC, qos);
    subscriber.disconnect();
}

/// Publishes messages `from..=to` at `qos` one at a time, each waiting for its acknowledgement (at
/// QoS 2 the whole flow), and answers the numbers acknowledged, stopping at the first that is not:
/// the connection must then be closed.
fn publish_one_at_a_time(client: &mut Client, qos: u8, from: u16, to: u16) -> Vec<u16> {
    let mut acknowledged = Vec::new();
    for n in from..=to {
        client.publish(TOPIC, &payload(n), qos, n, false);
        match (qos, client.try_recv()) {
            (1, Some(Got::PubAck(got))) if got == n => acknowledged.push(n),
            (2, Some(Got::PubRec(got))) if got == n => {
                client.send(Packet::PubRel(PubRel { packet_id: id(n) }));
                assert_eq!(client.recv(), Got::PubComp(n));
                acknowledged.push(n);
            }
            (_, None) => return acknowledged,
            (_, Some(other)) => panic!("message {n}: expected its acknowledgement, got {other:?}"),
        }
    }
    acknowledged
}

/// Reconnects `name` and answers the payloads its session delivers, acknowledging each; a PINGREQ
/// sent after the CONNACK is the barrier: the resumed session's queue goes out before it is read.
fn drain(address: SocketAddr, name: &str) -> Vec<Vec<u8>> {
    let (mut subscriber, present) = Client::connect(address, name, false);
    assert!(present, "the persistent session is resumed");
    subscriber.send(Packet::PingReq);
    let mut got = Vec::new();
    loop {
        match subscriber.recv() {
            Got::Publish {
                payload, packet_id, ..
            } => {
                let packet_id = packet_id.expect("queued messages are QoS 1 here");
                subscriber.send(Packet::PubAck(mqtt_codec::PubAck {
                    packet_id: id(packet_id),
                }));
                got.push(payload);
            }
            Got::PingResp => break,
            other => panic!("expected the queued messages, got {other:?}"),
        }
    }
    subscriber.disconnect();
    got
}

fn payloads(numbers: impl IntoIterator<Item = u16>) -> Vec<Vec<u8>> {
    numbers.into_iter().map(payload).collect()
}

/// The scenario of both limits: five messages fill the offline session's queue; the sixth is not
/// acknowledged and its publisher is disconnected; the subscriber gets exactly the five.
fn the_sixth_is_refused(config: Config, name: &str) {
    let (broker, address) = broker_with(config);
    offline_subscriber(address, name, 1);
    let (mut publisher, _) = Client::connect(address, &format!("{name}-pub"), true);
    let acknowledged = publish_one_at_a_time(&mut publisher, 1, 1, 10);
    assert_eq!(
        acknowledged,
        [1, 2, 3, 4, 5],
        "the sixth is refused, unacknowledged"
    );
    assert_eq!(
        sys_counter(address, "$SYS/broker/publish/messages/refused", |n| n >= 1),
        1
    );
    assert_eq!(drain(address, name), payloads(1..=5));
    broker.shutdown();
}

#[test]
fn a_full_offline_queue_refuses_the_publish_unacknowledged_max_queued_messages() {
    the_sixth_is_refused(config(5, 0, false), "offline-messages");
}

#[test]
fn a_full_offline_queue_refuses_the_publish_unacknowledged_max_queued_bytes() {
    the_sixth_is_refused(config(0, 5 * MESSAGE_BYTES, false), "offline-bytes");
}

/// `queue_full_drop true`: all ten are acknowledged, five are dropped and counted.
fn the_last_five_are_dropped(config: Config, name: &str) {
    let (broker, address) = broker_with(config);
    offline_subscriber(address, name, 1);
    let (mut publisher, _) = Client::connect(address, &format!("{name}-pub"), true);
    let acknowledged = publish_one_at_a_time(&mut publisher, 1, 1, 10);
    assert_eq!(acknowledged, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        sys_counter(address, "$SYS/broker/publish/messages/dropped", |n| n >= 5),
        5
    );
    assert_eq!(drain(address, name), payloads(1..=5));
    publisher.disconnect();
    broker.shutdown();
}

#[test]
fn with_queue_full_drop_a_full_offline_queue_drops_and_counts_max_queued_messages() {
    the_last_five_are_dropped(config(5, 0, true), "drop-messages");
}

#[test]
fn with_queue_full_drop_a_full_offline_queue_drops_and_counts_max_queued_bytes() {
    the_last_five_are_dropped(config(0, 5 * MESSAGE_BYTES, true), "drop-bytes");
}

/// At QoS 2 the refused PUBLISH gets no PUBREC, and its identifier is not remembered as received:
/// when the publisher (a persistent session) sends it again with DUP after the queue has room, it
/// is delivered, once [MQTT-4.3.3-2].
#[test]
fn a_refused_qos_2_publish_sent_again_is_delivered_once() {
    let (broker, address) = broker_with(config(5, 0, false));
    let name = "offline-qos2";
    offline_subscriber(address, name, 1);
    let (mut publisher, _) = Client::connect(address, "offline-qos2-pub", false);
    assert_eq!(
        publish_one_at_a_time(&mut publisher, 2, 1, 10),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(drain(address, name), payloads(1..=5));
    // The client's resend of what was never acknowledged [MQTT-4.4.0-1].
    let (mut publisher, present) = Client::connect(address, "offline-qos2-pub", false);
    assert!(present);
    publisher.send(Packet::Publish(Publish {
        topic: TopicName::new(TOPIC).expect("topic"),
        payload: &payload(6),
        delivery: Delivery::new(QoS::ExactlyOnce, id(6), true),
        retain: false,
    }));
    assert_eq!(publisher.recv(), Got::PubRec(6));
    publisher.send(Packet::PubRel(PubRel { packet_id: id(6) }));
    assert_eq!(publisher.recv(), Got::PubComp(6));
    publisher.disconnect();
    assert_eq!(drain(address, name), payloads([6]));
    broker.shutdown();
}

/// A refusal delivers to nobody: a connected subscriber of the same topic does not get the refused
/// message either, so the resend is not a duplicate for it.
#[test]
fn a_refused_publish_reaches_no_other_subscriber() {
    let (broker, address) = broker_with(config(2, 0, false));
    offline_subscriber(address, "offline-partial", 1);
    let (mut online, _) = Client::connect(address, "online-partial", true);
    online.subscribe(TOPIC, 1);
    let (mut publisher, _) = Client::connect(address, "partial-pub", true);
    assert_eq!(publish_one_at_a_time(&mut publisher, 1, 1, 3), [1, 2]);
    let mut got = Vec::new();
    online.send(Packet::PingReq);
    loop {
        match online.recv() {
            Got::Publish {
                payload, packet_id, ..
            } => {
                online.send(Packet::PubAck(mqtt_codec::PubAck {
                    packet_id: id(packet_id.expect("QoS 1")),
                }));
                got.push(payload);
            }
            Got::PingResp => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    // PINGRESP may overtake nothing that was routed before the publisher's PUBACK came back.
    assert_eq!(got, payloads(1..=2));
    online.disconnect();
    broker.shutdown();
}

/// A shared group whose only member is an offline persistent session with a full queue refuses
/// the message the same way: the group is one subscription, and it would have to drop it.
#[test]
fn a_shared_group_of_full_offline_members_refuses_the_publish() {
    let (broker, address) = broker_with(config(5, 0, false));
    let name = "offline-member";
    let (mut member, _) = Client::connect(address, name, false);
    member.subscribe(&format!("$share/g/{TOPIC}"), 1);
    member.disconnect();
    let (mut publisher, _) = Client::connect(address, "member-pub", true);
    assert_eq!(
        publish_one_at_a_time(&mut publisher, 1, 1, 10),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(drain(address, name), payloads(1..=5));
    broker.shutdown();
}

/// A Will, one of the broker's own messages, bound for an offline session whose queue is full: it
/// cannot be refused to anyone, and nobody was acknowledged for it, so it is dropped and counted
/// (`$SYS/broker/publish/messages/dropped`), never queued past the limit.
#[test]
fn a_will_for_a_full_offline_queue_is_dropped_and_counted() {
    let (broker, address) = broker_with(config(5, 0, false));
    offline_subscriber(address, "offline-will", 1);
    let (mut publisher, _) = Client::connect(address, "offline-will-pub", true);
    assert_eq!(
        publish_one_at_a_time(&mut publisher, 1, 1, 5),
        [1, 2, 3, 4, 5]
    );
    let (dying, _) = Client::connect_with(
        address,
        crate::client::connect_with_will("offline-will-dying", TOPIC, b"will", 1, false),
    );
    let _ = dying.stream.shutdown(std::net::Shutdown::Both);
    assert_eq!(
        sys_counter(address, "$SYS/broker/publish/messages/dropped", |n| n >= 1),
        1
    );
    assert_eq!(drain(address, "offline-will"), payloads(1..=5));
    broker.shutdown();
}

/// A client subscribed to what it publishes, which never acknowledges its deliveries (window 1,
/// queue 5): its publisher cannot wait for room in its own queue (only its own reader reads the
/// acknowledgements that make room), so at the limit its PUBLISH is refused upstream,
/// unacknowledged, and the connection closed. It broke while such a message went into the queue
/// past its limit: all twenty were acknowledged and the queue grew without bound. The persistent
/// session keeps exactly what was acknowledged.
#[test]
fn a_client_publishing_to_its_own_full_queue_is_refused_upstream() {
    let (broker, address) = broker_with(Config {
        max_inflight_messages: 1,
        ..config(5, 0, false)
    });
    let (mut client, _) = Client::connect(address, "own-queue", false);
    client.subscribe(TOPIC, 1);
    let mut acknowledged = Vec::new();
    'publishing: for n in 1..=20u16 {
        client.publish(TOPIC, &payload(n), 1, n, false);
        loop {
            match client.try_recv() {
                Some(Got::PubAck(got)) if got == n => {
                    acknowledged.push(n);
                    break;
                }
                // Its own deliveries, never acknowledged.
                Some(Got::Publish { .. }) => {}
                Some(other) => panic!("message {n}: expected its PUBACK, got {other:?}"),
                None => break 'publishing,
            }
        }
    }
    assert_eq!(
        acknowledged,
        [1, 2, 3, 4, 5, 6],
        "one in flight, five queued, the seventh refused"
    );
    assert_eq!(
        sys_counter(address, "$SYS/broker/publish/messages/refused", |n| n >= 1),
        1
    );
    // Window 1: each acknowledgement lets the next one out.
    let (mut client, present) = Client::connect(address, "own-queue", false);
    assert!(present);
    let mut got = Vec::new();
    while got.len() < 6 {
        let Got::Publish {
            payload, packet_id, ..
        } = client.recv()
        else {
            panic!("expected the queued messages");
        };
        client.send(Packet::PubAck(mqtt_codec::PubAck {
            packet_id: id(packet_id.expect("QoS 1")),
        }));
        got.push(payload);
    }
    client.barrier();
    assert_eq!(got, payloads(1..=6));
    broker.shutdown();
}

/// `memory_limit`: once the messages the broker holds (here, an offline session's queue) pass it,
/// a PUBLISH with a payload closes its connection unacknowledged; nothing acknowledged is lost, a
/// client can still connect, and once the subscriber has taken its messages PUBLISH is accepted
/// again. (The limit is measured at most every 100 ms, so how far past it the queue goes depends on
/// the machine's speed; what is checked is that it stops, and that nothing acknowledged is lost.)
#[test]
fn past_memory_limit_a_publish_is_refused_unacknowledged_and_nothing_acknowledged_is_lost() {
    const LIMIT: u64 = 16 * 1024;
    let (broker, address) = broker_with(Config {
        memory_limit: LIMIT,
        // No queue limit can be what refuses here.
        max_queued_messages: 0,
        ..Config::default()
    });
    let name = "memory-limited";
    offline_subscriber(address, name, 1);
    let (mut publisher, _) = Client::connect(address, "memory-pub", true);
    let big = |n: u16| {
        let mut payload = payload(n);
        payload.resize(1024, b'.');
        payload
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut acknowledged = Vec::new();
    for n in 1..=u16::MAX {
        assert!(
            std::time::Instant::now() < deadline,
            "{} messages acknowledged and no refusal",
            acknowledged.len()
        );
        publisher.publish(TOPIC, &big(n), 1, n, false);
        match publisher.try_recv() {
            Some(Got::PubAck(got)) if got == n => acknowledged.push(n),
            None => break,
            Some(other) => panic!("message {n}: expected PUBACK, got {other:?}"),
        }
    }
    assert!(
        acknowledged.len() as u64 * 1024 > LIMIT,
        "refused after {} messages, within the limit",
        acknowledged.len()
    );
    // Connecting is not refused: a connection holds no message, and subscribers must come back
    // for the figure to fall.
    let (mut publisher, _) = Client::connect(address, "memory-pub", true);
    // More than one window's worth waits: take them as they come, acknowledging each, and a
    // PINGREQ after the last shows nothing else was queued.
    let (mut subscriber, present) = Client::connect(address, name, false);
    assert!(present, "the persistent session is resumed");
    for &n in &acknowledged {
        match subscriber.recv() {
            Got::Publish {
                payload, packet_id, ..
            } => {
                assert!(
                    payload == big(n),
                    "message {n} delivered in order, unchanged"
                );
                subscriber.send(Packet::PubAck(mqtt_codec::PubAck {
                    packet_id: id(packet_id.expect("QoS 1")),
                }));
            }
            other => panic!("expected acknowledged message {n}, got {other:?}"),
        }
    }
    subscriber.send(Packet::PingReq);
    assert_eq!(
        subscriber.recv(),
        Got::PingResp,
        "only what was acknowledged"
    );
    subscriber.disconnect();
    // With the queue taken, the next measure is under the limit: PUBLISH is accepted again.
    let mut accepted = false;
    for n in 1..=200u16 {
        publisher.publish(TOPIC, &big(n), 1, n, false);
        match publisher.try_recv() {
            Some(Got::PubAck(got)) if got == n => {
                accepted = true;
                break;
            }
            None => {
                (publisher, _) = Client::connect(address, "memory-pub", true);
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(other) => panic!("expected PUBACK, got {other:?}"),
        }
    }
    assert!(accepted, "PUBLISH accepted again once the queue was taken");
    broker.shutdown();
}

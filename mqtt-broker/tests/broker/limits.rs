//! The broker's limits, each tested with one misbehaving client and, at the same time, a healthy
//! publisher and subscriber that must still be served: `max_connections`, `message_size_limit`
//! (refused from the fixed header, before the body is buffered), `connect_timeout` (a silent client
//! and one that sends its CONNECT a byte at a time), the per-client queue of a consumer that never
//! reads, `max_subscriptions_per_client` and `max_topic_levels`.
//!
//! Where a limit drops messages, the test reads `$SYS/broker/publish/messages/dropped` to see that
//! the broker let go of them rather than kept them: memory is shown bounded by what was counted, not
//! by measuring it.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mqtt_broker::Config;
use mqtt_codec::{List, Packet, QoS, Subscribe, Subscription, TopicFilter};

use crate::client::{Client, Got, WAIT, broker_with, connect, id, publish};

/// Tells test clients apart across calls of [`assert_served`].
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh subscriber and publisher exchange a QoS 1 message: the broker is serving other clients.
pub(crate) fn assert_served(address: SocketAddr) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let (mut subscriber, _) = Client::connect(address, &format!("healthy-sub-{n}"), true);
    subscriber.subscribe(&format!("healthy/{n}"), 1);
    let (mut publisher, _) = Client::connect(address, &format!("healthy-pub-{n}"), true);
    publisher.publish(&format!("healthy/{n}"), b"still here", 1, 1, false);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    match subscriber.recv() {
        Got::Publish { topic, payload, .. } => {
            assert_eq!(topic, format!("healthy/{n}"));
            assert_eq!(payload, b"still here");
        }
        other => panic!("the healthy subscriber expected its message, got {other:?}"),
    }
    subscriber.disconnect();
    publisher.disconnect();
}

/// Waits until the `$SYS` counter `topic` satisfies `wanted`, and answers its value. `$SYS` is
/// published every second and only when a value changes, so every update is a new reading; a counter
/// that never gets there fails the test within [`WAIT`] of its last change.
pub(crate) fn sys_counter(address: SocketAddr, topic: &str, wanted: impl Fn(u64) -> bool) -> u64 {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let (mut watcher, _) = Client::connect(address, &format!("sys-watch-{n}"), true);
    watcher.subscribe(topic, 0);
    loop {
        match watcher.recv() {
            Got::Publish { payload, .. } => {
                let value: u64 = String::from_utf8_lossy(&payload)
                    .parse()
                    .expect("a $SYS counter is a number");
                if wanted(value) {
                    return value;
                }
            }
            other => panic!("expected {topic}, got {other:?}"),
        }
    }
}

/// Over `max_connections`, a client gets CONNACK 3 (server unavailable) and the connection closes,
/// while the clients already connected go on exchanging messages; once one leaves, a new client is
/// accepted.
#[test]
fn over_max_connections_gets_connack_3_and_the_others_are_served() {
    let (_broker, address) = broker_with(Config {
        max_connections: Some(2),
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut subscriber, _) = Client::connect(address, "one", true);
    subscriber.subscribe("pair", 1);
    let (mut publisher, _) = Client::connect(address, "two", true);
    let mut third = Client::open(address);
    third.send(Packet::Connect(connect("three", true)));
    assert_eq!(
        third.recv(),
        Got::ConnAck {
            session_present: false,
            code: 3
        }
    );
    third.expect_closed();
    publisher.publish("pair", b"served", 1, 1, false);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    assert_eq!(
        subscriber.recv(),
        publish("pair", b"served", 1, Some(1), false, false)
    );
    subscriber.disconnect();
    // The slot is freed when the first connection's thread ends; retry until it has.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = Client::open(address);
        again.send(Packet::Connect(connect("four", true)));
        match again.recv() {
            Got::ConnAck { code: 0, .. } => break,
            Got::ConnAck { code: 3, .. } if Instant::now() < deadline => continue,
            other => panic!("expected CONNACK 0 after a client left, got {other:?}"),
        }
    }
}

/// A fixed header announcing a packet larger than `message_size_limit` allows closes the connection
/// at once: the test sends only those five bytes, so the broker cannot have waited for the body.
#[test]
fn an_oversized_packet_is_refused_from_its_fixed_header() {
    let (_broker, address) = broker_with(Config {
        message_size_limit: 1024,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut liar, _) = Client::connect(address, "liar", true);
    // PUBLISH QoS 0, remaining length 268 435 455: the largest a fixed header can announce.
    liar.send_raw(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]);
    liar.expect_closed();
    assert_served(address);
}

/// A PUBLISH whose payload is over `message_size_limit`, but whose packet is small enough to read, is
/// acknowledged (so that the client does not retry it) and not forwarded, and counted as dropped.
#[test]
fn a_payload_over_message_size_limit_is_acknowledged_and_dropped() {
    let (_broker, address) = broker_with(Config {
        message_size_limit: 16,
        sys_interval: Duration::from_secs(1),
        ..Config::default()
    });
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("size/#", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("size/big", &[b'x'; 17], 1, 1, false);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    publisher.publish("size/small", &[b'x'; 16], 1, 2, false);
    assert_eq!(publisher.recv(), Got::PubAck(2));
    // The small message is the first thing the subscriber sees: the big one was not forwarded.
    assert_eq!(
        subscriber.recv(),
        publish("size/small", &[b'x'; 16], 1, Some(1), false, false)
    );
    sys_counter(address, "$SYS/broker/publish/messages/dropped", |n| n == 1);
    assert_served(address);
}

/// A connection that sends nothing is closed after `connect_timeout` [MQTT-3.1.0-1], and other
/// clients are served while it waits.
#[test]
fn a_silent_connection_is_dropped_and_others_are_served_mqtt_3_1_0_1() {
    let (_broker, address) = broker_with(Config {
        connect_timeout: Duration::from_millis(800),
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let mut silent = Client::open(address);
    assert_served(address);
    silent.expect_closed();
}

/// A client that sends its CONNECT one byte every 100 ms is closed once `connect_timeout` has passed
/// since it connected, long before its CONNECT is complete: the timeout bounds the whole CONNECT, not
/// each read [MQTT-3.1.0-1]. Meanwhile other clients are served.
#[test]
fn a_connect_sent_a_byte_at_a_time_is_cut_off_by_connect_timeout_mqtt_3_1_0_1() {
    let (_broker, address) = broker_with(Config {
        connect_timeout: Duration::from_secs(1),
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let client_id = "a-client-identifier-long-enough-to-take-seconds";
    let mut bytes = Vec::new();
    Packet::Connect(connect(client_id, true))
        .encode(mqtt_codec::ProtocolLevel::Mqtt311, &mut bytes)
        .expect("encodes");
    assert!(bytes.len() * 100 > 4_000, "the drip outlasts the timeout");
    let mut dripper = Client::open(address);
    let mut writer = dripper.stream.try_clone().expect("clone");
    let (sent_tx, sent_rx) = mpsc::channel();
    let drip = thread::spawn(move || {
        let mut sent = 0;
        for byte in &bytes {
            if writer.write_all(&[*byte]).is_err() {
                break;
            }
            sent += 1;
            thread::sleep(Duration::from_millis(100));
        }
        let _ = sent_tx.send((sent, bytes.len()));
    });
    assert_served(address);
    // Closed with no CONNACK: the CONNECT never completed.
    dripper.expect_closed();
    let (sent, total) = sent_rx.recv_timeout(WAIT * 2).expect("the drip ends");
    assert!(
        sent < total,
        "the whole CONNECT ({total} bytes) got through"
    );
    drip.join().expect("drip thread");
}

/// A consumer that never reads: its QoS 1 messages fill the in-flight window and the queue, and the
/// rest are dropped and counted, exactly; nothing more is held for it. Its publisher is never
/// blocked, and other clients are served.
#[test]
fn a_consumer_that_never_reads_holds_at_most_its_window_and_queue() {
    const WINDOW: usize = 2;
    const QUEUE: usize = 5;
    const SENT: usize = 50;
    let (_broker, address) = broker_with(Config {
        max_inflight_messages: WINDOW,
        max_queued_messages: QUEUE,
        // mosquitto's drop-when-full, opted into: by default the publisher would be held back.
        queue_full_drop: true,
        sys_interval: Duration::from_secs(1),
        ..Config::default()
    });
    let (mut sleeper, _) = Client::connect(address, "sleeper", true);
    sleeper.subscribe("flood/#", 1);
    let (mut publisher, _) = Client::connect(address, "flooder", true);
    for n in 1..=SENT {
        publisher.publish("flood/x", b"payload", 1, n as u16, false);
        assert_eq!(publisher.recv(), Got::PubAck(n as u16));
    }
    let expected = (SENT - WINDOW - QUEUE) as u64;
    let dropped = sys_counter(address, "$SYS/broker/publish/messages/dropped", |n| {
        n >= expected
    });
    assert_eq!(dropped, expected, "only the window and the queue are kept");
    assert_served(address);
    // The sleeper wakes up: it gets the window, then the queue, in order, and nothing else.
    for n in 1..=(WINDOW + QUEUE) as u16 {
        match sleeper.recv() {
            Got::Publish {
                packet_id: Some(packet_id),
                ..
            } => {
                assert_eq!(packet_id, n);
                sleeper.send(Packet::PubAck(mqtt_codec::PubAck { packet_id: id(n) }));
            }
            other => panic!("expected queued message {n}, got {other:?}"),
        }
    }
    sleeper.barrier();
}

/// A consumer that never reads, sent large QoS 0 messages: once the socket buffers, its writer's
/// channel and its session queue (`max_queued_messages`, which holds QoS 0 too while the client is
/// connected) are full, further messages for it are dropped and counted, instead of piling up in
/// the broker; its publisher is not slowed down and other clients are served.
#[test]
fn qos_0_to_a_consumer_that_never_reads_is_dropped_not_buffered() {
    const SENT: usize = 2_000;
    const PAYLOAD: usize = 16 * 1024;
    let (_broker, address) = broker_with(Config {
        max_inflight_messages: 2,
        max_queued_messages: 100,
        // mosquitto's drop-when-full, opted into: by default the publisher would be held back.
        queue_full_drop: true,
        sys_interval: Duration::from_secs(1),
        ..Config::default()
    });
    let (mut sleeper, _) = Client::connect(address, "sleeper0", true);
    sleeper.subscribe("bulk", 0);
    let (mut publisher, _) = Client::connect(address, "bulk-publisher", true);
    let payload = vec![0xA5; PAYLOAD];
    for _ in 0..SENT {
        publisher.publish("bulk", &payload, 0, 0, false);
    }
    publisher.barrier();
    // What may be held for the sleeper: its channel (window + 256 packets), its session queue (100)
    // and what the socket buffers of both ends absorb (a few MiB on Linux loopback; 16 MiB is a
    // generous bound).
    let held = 2 + 256 + 100 + 16 * 1024 * 1024 / PAYLOAD;
    let dropped = sys_counter(address, "$SYS/broker/publish/messages/dropped", |n| {
        n as usize >= SENT - held
    });
    assert!(dropped as usize <= SENT, "{dropped}");
    assert_served(address);
    drop(sleeper);
}

/// A client over `max_subscriptions_per_client` gets 0x80 for the filters beyond it [MQTT-3.8.4-5]
/// [MQTT-3.9.3-2]; re-subscribing to a filter it has replaces it and is not a new one; other clients
/// are served.
#[test]
fn subscriptions_beyond_the_cap_get_0x80_mqtt_3_8_4_5() {
    let (_broker, address) = broker_with(Config {
        max_subscriptions_per_client: 2,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut greedy, _) = Client::connect(address, "greedy", true);
    let filters = ["a/1", "a/2", "a/3", "a/1"];
    let entries: Vec<Subscription<'_>> = filters
        .iter()
        .map(|filter| Subscription {
            filter: TopicFilter::new(filter).expect("filter"),
            qos: QoS::AtLeastOnce,
        })
        .collect();
    greedy.send(Packet::Subscribe(Subscribe {
        packet_id: id(7),
        filters: List::from_slice(&entries),
    }));
    assert_eq!(greedy.recv(), Got::SubAck(7, vec![1, 1, 0x80, 1]));
    // Only the granted filters deliver.
    let (mut publisher, _) = Client::connect(address, "cap-publisher", true);
    publisher.publish("a/3", b"refused", 0, 0, false);
    publisher.publish("a/2", b"granted", 0, 0, false);
    assert_eq!(
        greedy.recv(),
        publish("a/2", b"granted", 0, None, false, false)
    );
    assert_served(address);
}

/// With `max_topic_levels`, a deeper filter gets 0x80 [MQTT-3.9.3-2], and a PUBLISH to a deeper topic
/// closes its connection unacknowledged, at every QoS: acknowledged and dropped (as it was), it was
/// lost without its publisher knowing [MQTT-4.3.2-2]. Other clients are served.
#[test]
fn topics_deeper_than_max_topic_levels_are_refused_mqtt_3_9_3_2_mqtt_4_3_2_2() {
    let (_broker, address) = broker_with(Config {
        max_topic_levels: 3,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut deep, _) = Client::connect(address, "deep", true);
    let entries = [
        Subscription {
            filter: TopicFilter::new("a/b/c/d").expect("filter"),
            qos: QoS::AtMostOnce,
        },
        Subscription {
            filter: TopicFilter::new("#").expect("filter"),
            qos: QoS::AtMostOnce,
        },
    ];
    deep.send(Packet::Subscribe(Subscribe {
        packet_id: id(3),
        filters: List::from_slice(&entries),
    }));
    assert_eq!(deep.recv(), Got::SubAck(3, vec![0x80, 0]));
    for qos in [0, 1, 2] {
        let (mut publisher, _) = Client::connect(address, "deep-publisher", true);
        publisher.publish("a/b/c/d", b"too deep", qos, 1, false);
        publisher.expect_closed();
    }
    let (mut publisher, _) = Client::connect(address, "deep-publisher", true);
    publisher.publish("a/b/c", b"fine", 1, 2, false);
    assert_eq!(publisher.recv(), Got::PubAck(2));
    assert_eq!(
        deep.recv(),
        publish("a/b/c", b"fine", 0, None, false, false)
    );
    assert_served(address);
}

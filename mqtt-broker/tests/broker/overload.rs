//! Overload: publishers faster than their subscriber, with no end-to-end window (open loop: a
//! publisher sends its QoS 1 or 2 messages without waiting for their acknowledgements). Whatever
//! the broker acknowledged (PUBACK, or PUBREC at QoS 2) must reach the subscriber: by default the
//! broker slows its publishers down (it stops reading them) instead of dropping what it promised
//! (issue #14, item 2). A subscriber that makes no progress at all is cut off after
//! `write_timeout`, and the others go on.

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mqtt_broker::Config;
use mqtt_codec::{
    Decoder, Delivery, Packet, ProtocolLevel, PubAck, PubComp, PubRec, PubRel, Publish, QoS,
    Status, TopicName,
};

use crate::client::{Client, Got, WAIT, broker_with, id};

/// Small limits, so that a few thousand messages overload the subscriber many times over.
fn small_queues() -> Config {
    Config {
        max_inflight_messages: 5,
        max_queued_messages: 10,
        sys_interval: Duration::ZERO,
        ..Config::default()
    }
}

/// Encodes one packet at 3.1.1.
fn bytes(packet: Packet<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    packet
        .encode(ProtocolLevel::Mqtt311, &mut out)
        .expect("test packet encodes");
    out
}

/// Reads packets from `stream` and hands each to `each`, until `each` answers false or nothing
/// arrives for [`WAIT`] (or the connection ends).
fn read_packets(stream: &mut TcpStream, mut each: impl FnMut(&Packet<'_>) -> bool) {
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let decoder = Decoder::new(ProtocolLevel::Mqtt311);
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let mut used_total = 0;
        loop {
            match decoder.decode(&buffer[used_total..]) {
                Ok(Status::Complete((packet, used))) => {
                    used_total += used;
                    if !each(&packet) {
                        return;
                    }
                }
                Ok(Status::Partial) => break,
                Err(error) => panic!("broker sent a malformed packet: {error}"),
            }
        }
        buffer.drain(..used_total);
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(count) => buffer.extend_from_slice(&chunk[..count]),
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::ConnectionReset
                ) =>
            {
                return;
            }
            Err(error) => panic!("read: {error}"),
        }
    }
}

/// One open-loop publisher: a thread writes `count` PUBLISH packets as fast as the socket takes
/// them; this thread reads the acknowledgements (answering PUBREL to each PUBREC) and answers the
/// payloads the broker acknowledged.
fn open_loop_publisher(
    address: SocketAddr,
    name: String,
    qos: QoS,
    count: u16,
) -> thread::JoinHandle<HashSet<Vec<u8>>> {
    thread::spawn(move || {
        let (client, _) = Client::connect(address, &name, true);
        let mut reader = client.stream;
        let mut writer = reader.try_clone().expect("clone");
        // PUBRELs come from the acknowledgement side: they go through a channel to the one thread
        // that writes, so that packets never interleave on the socket.
        let (rel_tx, rel_rx) = mpsc::channel::<u16>();
        let name_w = name.clone();
        let sender = thread::spawn(move || {
            for n in 1..=count {
                let payload = format!("{name_w}/{n}");
                let packet = bytes(Packet::Publish(Publish {
                    topic: TopicName::new("overload/topic").expect("topic"),
                    payload: payload.as_bytes(),
                    delivery: Delivery::new(qos, id(n), false),
                    retain: false,
                }));
                if writer.write_all(&packet).is_err() {
                    return;
                }
                while let Ok(rel) = rel_rx.try_recv() {
                    let _ = writer.write_all(&bytes(Packet::PubRel(PubRel { packet_id: id(rel) })));
                }
            }
            // The rest of the PUBRELs, until the acknowledgement side is done.
            while let Ok(rel) = rel_rx.recv() {
                let _ = writer.write_all(&bytes(Packet::PubRel(PubRel { packet_id: id(rel) })));
            }
        });
        let mut acknowledged = HashSet::new();
        let mut completed = 0;
        read_packets(&mut reader, |packet| {
            match packet {
                Packet::PubAck(ack) if qos == QoS::AtLeastOnce => {
                    acknowledged.insert(format!("{name}/{}", ack.packet_id.get()).into_bytes());
                }
                Packet::PubRec(rec) if qos == QoS::ExactlyOnce => {
                    acknowledged.insert(format!("{name}/{}", rec.packet_id.get()).into_bytes());
                    let _ = rel_tx.send(rec.packet_id.get());
                }
                Packet::PubComp(_) => completed += 1,
                other => panic!("publisher {name}: unexpected {other:?}"),
            }
            let done = match qos {
                QoS::ExactlyOnce => completed,
                _ => acknowledged.len(),
            };
            done < usize::from(count)
        });
        drop(rel_tx);
        let _ = sender.join();
        acknowledged
    })
}

/// `publishers` open-loop publishers of `count` messages each at `qos`, and one subscriber that
/// does not read at first (until the publishers have written everything, or for two seconds while
/// they are held back), then reads and acknowledges everything. Every acknowledged message must
/// arrive, and, since the flow resumes, every message must be acknowledged.
fn acknowledged_messages_all_arrive(publishers: usize, qos: QoS, count: u16) {
    acknowledged_messages_all_arrive_at("overload/#", publishers, qos, count);
}

/// [`acknowledged_messages_all_arrive`], the subscriber subscribed to `filter`.
fn acknowledged_messages_all_arrive_at(filter: &str, publishers: usize, qos: QoS, count: u16) {
    let (_broker, address) = broker_with(small_queues());
    acknowledged_messages_all_arrive_via(address, filter, publishers, qos, count);
}

/// [`acknowledged_messages_all_arrive_at`], with every client connecting to `address`: a broker
/// listener, or a front for one (`relay.rs`).
fn acknowledged_messages_all_arrive_via(
    address: SocketAddr,
    filter: &str,
    publishers: usize,
    qos: QoS,
    count: u16,
) {
    let (mut subscriber, _) = Client::connect(address, "slow-subscriber", true);
    subscriber.subscribe(filter, qos.bits());
    let started = Instant::now();
    let handles: Vec<_> = (0..publishers)
        .map(|n| open_loop_publisher(address, format!("pub{n}"), qos, count))
        .collect();
    // The pause only makes the overload worse; the outcome does not depend on its length.
    while started.elapsed() < Duration::from_secs(2) && !handles.iter().all(|h| h.is_finished()) {
        thread::park_timeout(Duration::from_millis(50));
    }
    let total = publishers * usize::from(count);
    let mut received = HashSet::new();
    let mut stream = subscriber.stream.try_clone().expect("clone");
    read_packets(&mut subscriber.stream, |packet| {
        match packet {
            Packet::Publish(publish) => {
                received.insert(publish.payload.to_vec());
                let reply = match publish.delivery {
                    Delivery::AtLeastOnce { packet_id, .. } => {
                        Some(Packet::PubAck(PubAck { packet_id }))
                    }
                    Delivery::ExactlyOnce { packet_id, .. } => {
                        Some(Packet::PubRec(PubRec { packet_id }))
                    }
                    Delivery::AtMostOnce => None,
                };
                if let Some(reply) = reply {
                    stream.write_all(&bytes(reply)).expect("ack");
                }
            }
            Packet::PubRel(rel) => {
                stream
                    .write_all(&bytes(Packet::PubComp(PubComp {
                        packet_id: rel.packet_id,
                    })))
                    .expect("pubcomp");
            }
            other => panic!("subscriber: unexpected {other:?}"),
        }
        received.len() < total
    });
    let mut acknowledged = HashSet::new();
    for handle in handles {
        acknowledged.extend(handle.join().expect("publisher thread"));
    }
    let lost = acknowledged.difference(&received).count();
    assert_eq!(
        lost,
        0,
        "{lost} of {} acknowledged messages never arrived ({} received)",
        acknowledged.len(),
        received.len()
    );
    assert_eq!(
        acknowledged.len(),
        total,
        "every message was acknowledged in the end"
    );
}

#[test]
fn open_loop_qos_1_one_to_one_loses_nothing_acknowledged() {
    acknowledged_messages_all_arrive(1, QoS::AtLeastOnce, 3_000);
}

/// The same through a shared subscription whose only member is full: the group has nobody else
/// to give the message to, so the publisher waits rather than the message being dropped.
#[test]
fn open_loop_qos_1_to_a_full_shared_group_loses_nothing_acknowledged() {
    acknowledged_messages_all_arrive_at("$share/g/overload/#", 1, QoS::AtLeastOnce, 2_000);
}

#[test]
fn open_loop_qos_2_one_to_one_loses_nothing_acknowledged() {
    acknowledged_messages_all_arrive(1, QoS::ExactlyOnce, 2_000);
}

#[test]
fn open_loop_qos_1_sixteen_to_one_loses_nothing_acknowledged() {
    acknowledged_messages_all_arrive(16, QoS::AtLeastOnce, 300);
}

/// A broker with [`small_queues`] and only a TLS listener (certificates made by `openssl`), and a
/// plain front for it: the overload goes through the broker's TLS code.
fn tls_overload(qos: QoS, count: u16) {
    let certs = crate::tls::Certificates::generate();
    let broker = mqtt_broker::Broker::start(Config {
        listeners: vec![mqtt_broker::ListenerSettings::tls(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            certs.settings(false),
        )],
        ..small_queues()
    })
    .expect("the TLS broker starts");
    let front = crate::relay::front(
        broker.local_addrs()[0],
        crate::relay::Upstream::Tls(crate::tls::client_config(&certs)),
    );
    acknowledged_messages_all_arrive_via(front, "overload/#", 1, qos, count);
}

/// The same over a WebSocket listener.
fn websocket_overload(qos: QoS, count: u16) {
    let broker = mqtt_broker::Broker::start(Config {
        listeners: vec![mqtt_broker::ListenerSettings::websocket(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            None,
        )],
        ..small_queues()
    })
    .expect("the WebSocket broker starts");
    let front = crate::relay::front(broker.local_addrs()[0], crate::relay::Upstream::WebSocket);
    acknowledged_messages_all_arrive_via(front, "overload/#", 1, qos, count);
}

/// Back-pressure does not depend on the transport: over TLS, a publisher held back by a full
/// subscriber queue loses nothing it was acknowledged for.
#[test]
fn open_loop_qos_1_over_tls_loses_nothing_acknowledged() {
    tls_overload(QoS::AtLeastOnce, 3_000);
}

#[test]
fn open_loop_qos_2_over_tls_loses_nothing_acknowledged() {
    tls_overload(QoS::ExactlyOnce, 2_000);
}

/// The same over WebSocket: the broker's frame reader stops reading like a TCP one.
#[test]
fn open_loop_qos_1_over_websocket_loses_nothing_acknowledged() {
    websocket_overload(QoS::AtLeastOnce, 3_000);
}

#[test]
fn open_loop_qos_2_over_websocket_loses_nothing_acknowledged() {
    websocket_overload(QoS::ExactlyOnce, 2_000);
}

/// A subscriber that never reads (nor acknowledges) holds its publisher back for at most
/// `write_timeout` without progress: then it is disconnected, the publisher goes on, and another
/// subscriber of the same topic gets everything.
#[test]
fn a_stuck_subscriber_holds_publishers_back_for_at_most_the_write_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    let (_broker, address) = broker_with(Config {
        write_timeout: TIMEOUT,
        ..small_queues()
    });
    let (mut stuck, _) = Client::connect(address, "stuck", true);
    stuck.subscribe("overload/#", 1);
    let (mut healthy, _) = Client::connect(address, "healthy", true);
    healthy.subscribe("overload/#", 1);
    let (mut publisher, _) = Client::connect(address, "publisher", true);
    const SENT: u16 = 100;
    let started = Instant::now();
    for n in 1..=SENT {
        publisher.publish("overload/x", b"m", 1, n, false);
        assert_eq!(publisher.recv(), Got::PubAck(n));
        match healthy.recv() {
            Got::Publish {
                packet_id: Some(packet_id),
                ..
            } => healthy.send(Packet::PubAck(PubAck {
                packet_id: id(packet_id),
            })),
            other => panic!("healthy subscriber: {other:?}"),
        }
    }
    let took = started.elapsed();
    // Held back once, for the timeout, then served at full speed; the margin is for a loaded
    // machine.
    assert!(took < TIMEOUT + WAIT, "took {took:?}");
    // The stuck one was cut off: its socket ends after what was in flight and queued.
    let mut stream = stuck.stream.try_clone().expect("clone");
    let mut ended = false;
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut chunk = [0u8; 4096];
    while let Ok(count) = stream.read(&mut chunk) {
        if count == 0 {
            ended = true;
            break;
        }
    }
    assert!(ended, "the stuck subscriber was disconnected");
}

/// Reads what `client` (a persistent session) is sent, acknowledging each delivery, until the
/// connection ends, or all `sent` of its PUBLISHes are acknowledged and `sent` deliveries came
/// (or, failing both, nothing arrives for [`WAIT`]): answers the packet identifiers of the PUBACKs
/// it got for its own PUBLISHes, and the payloads delivered to it.
fn exchange(client: &mut Client, sent: u16) -> (HashSet<u16>, HashSet<Vec<u8>>) {
    let mut acknowledged = HashSet::new();
    let mut received = HashSet::new();
    let mut stream = client.stream.try_clone().expect("clone");
    read_packets(&mut client.stream, |packet| {
        match packet {
            Packet::PubAck(ack) => {
                acknowledged.insert(ack.packet_id.get());
            }
            Packet::Publish(publish) => {
                received.insert(publish.payload.to_vec());
                if let Some(packet_id) = publish.delivery.packet_id() {
                    // The broker may have closed the connection meanwhile (a refusal).
                    let _ = stream.write_all(&bytes(Packet::PubAck(PubAck { packet_id })));
                }
            }
            other => panic!("unexpected {other:?}"),
        }
        acknowledged.len() < usize::from(sent) || received.len() < usize::from(sent)
    });
    (acknowledged, received)
}

/// A QoS 1 PUBLISH with packet identifier `n`, written whether or not the broker has closed the
/// connection meanwhile (a refusal ends it, and the rest of an open-loop burst is then lost to the
/// socket, unacknowledged).
fn publish_open_loop(client: &mut Client, topic: &str, payload: &[u8], n: u16) {
    let _ = client.stream.write_all(&bytes(Packet::Publish(Publish {
        topic: TopicName::new(topic).expect("topic"),
        payload,
        delivery: Delivery::new(QoS::AtLeastOnce, id(n), false),
        retain: false,
    })));
}

/// Reconnects persistent session `name` and adds what it still had queued to `received`, until
/// every payload of `wanted` is there (each delivery acknowledged).
fn collect_rest(
    address: SocketAddr,
    name: &str,
    wanted: &HashSet<Vec<u8>>,
    received: &mut HashSet<Vec<u8>>,
) {
    let (mut client, _) = Client::connect(address, name, false);
    while !wanted.is_subset(received) {
        match client.recv() {
            Got::Publish {
                payload, packet_id, ..
            } => {
                if let Some(packet_id) = packet_id {
                    client.send(Packet::PubAck(PubAck {
                        packet_id: id(packet_id),
                    }));
                }
                received.insert(payload);
            }
            other => panic!("{name}: expected its queued messages, got {other:?}"),
        }
    }
    client.disconnect();
}

/// A client subscribed to its own topic, publishing open loop far past its queue before it reads
/// anything: its reader must not wait for room that only its own acknowledgements could make
/// (a deadlock until `write_timeout`), nor let its queue grow past the limit: at the limit its
/// PUBLISH is refused upstream (the connection closes, unacknowledged). Every acknowledged message
/// arrives, before the close or, from the persistent session, after reconnecting.
#[test]
fn a_client_subscribed_to_itself_does_not_wait_for_itself() {
    const SENT: u16 = 200;
    let (_broker, address) = broker_with(small_queues());
    let (mut client, _) = Client::connect(address, "narcissus", false);
    client.subscribe("self/t", 1);
    for n in 1..=SENT {
        publish_open_loop(&mut client, "self/t", format!("{n}").as_bytes(), n);
    }
    let (acknowledged, mut received) = exchange(&mut client, SENT);
    let wanted: HashSet<Vec<u8>> = acknowledged
        .iter()
        .map(|n| n.to_string().into_bytes())
        .collect();
    assert!(!wanted.is_empty(), "the first ones are acknowledged");
    collect_rest(address, "narcissus", &wanted, &mut received);
}

/// Two clients, each subscribed to what the other publishes, both publishing open loop past the
/// other's queue before reading: neither reader may wait for the other for ever. A queue neither
/// can wait for refuses upstream at its limit; every acknowledged message reaches the other.
#[test]
fn two_clients_publishing_to_each_other_do_not_deadlock() {
    const SENT: u16 = 200;
    let (_broker, address) = broker_with(small_queues());
    let (mut a, _) = Client::connect(address, "ping", false);
    a.subscribe("to/ping", 1);
    let (mut b, _) = Client::connect(address, "pong", false);
    b.subscribe("to/pong", 1);
    for n in 1..=SENT {
        publish_open_loop(&mut a, "to/pong", format!("a{n}").as_bytes(), n);
        publish_open_loop(&mut b, "to/ping", format!("b{n}").as_bytes(), n);
    }
    let run = |mut client: Client| thread::spawn(move || exchange(&mut client, SENT));
    let (a, b) = (run(a), run(b));
    let (a_acknowledged, mut a_received) = a.join().expect("a");
    let (b_acknowledged, mut b_received) = b.join().expect("b");
    let wanted = |acknowledged: &HashSet<u16>, prefix: char| -> HashSet<Vec<u8>> {
        acknowledged
            .iter()
            .map(|n| format!("{prefix}{n}").into_bytes())
            .collect()
    };
    collect_rest(
        address,
        "pong",
        &wanted(&a_acknowledged, 'a'),
        &mut b_received,
    );
    collect_rest(
        address,
        "ping",
        &wanted(&b_acknowledged, 'b'),
        &mut a_received,
    );
}

/// A client that never reads while large messages pile up for it is disconnected within the
/// configured `write_timeout` (plus a margin for a loaded machine) of the moment the broker could
/// no longer write to it, not several times that (issue #14, item 8). Its Will, watched by another
/// client, shows the moment the broker let it go.
#[test]
fn a_never_reading_client_is_disconnected_within_the_write_timeout() {
    // Long enough that the stall, not the filling of socket buffers, is most of what is measured.
    const TIMEOUT: Duration = Duration::from_secs(4);
    let (_broker, address) = broker_with(Config {
        write_timeout: TIMEOUT,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut watcher, _) = Client::connect(address, "watcher", true);
    watcher.subscribe("gone/#", 0);
    let (mut deaf, _) = Client::connect_with(
        address,
        crate::client::connect_with_will("deaf", "gone/deaf", b"bye", 0, false),
    );
    deaf.subscribe("big", 0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = std::sync::Arc::clone(&stop);
    let publisher = thread::spawn(move || {
        let (mut publisher, _) = Client::connect(address, "big-publisher", true);
        let payload = vec![0x5A; 128 * 1024];
        // Stops once the Will came, or after a bounded number of messages.
        for _ in 0..2_000 {
            if stopping.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            publisher.publish("big", &payload, 0, 0, false);
        }
    });
    let started = Instant::now();
    watcher
        .stream
        .set_read_timeout(Some(TIMEOUT * 10 + WAIT))
        .expect("timeout");
    let got = watcher.recv();
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        matches!(&got, Got::Publish { topic, .. } if topic == "gone/deaf"),
        "{got:?}"
    );
    // Filling the socket buffers takes a moment, then the stall lasts at most the timeout. Before
    // the fix the timeout applied to each write call, and this took about twice the timeout.
    assert!(took < TIMEOUT + TIMEOUT / 2, "disconnected after {took:?}");
    drop(deaf);
    let _ = publisher.join();
}

/// A client that reads nothing and acknowledges nothing, whose unread messages all fit in the
/// socket buffers, so that no write ever blocks, and whose queue has room, so that no publisher
/// waits for it: with messages waiting in its queue and no progress for `write_timeout`, it is
/// disconnected all the same (its Will shows when). It broke there: nothing ever timed out, and
/// the client kept its threads and its queue until keep-alive expired, 1.5 x keep-alive (the 92 s
/// of issue #14, item 8, with a keep-alive of 60 s), or for ever with keep-alive 0 as here.
#[test]
fn a_client_that_acknowledges_nothing_is_disconnected_after_the_write_timeout_even_unblocked() {
    let (_broker, address) = broker_with(Config {
        write_timeout: Duration::from_secs(1),
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut watcher, _) = Client::connect(address, "watcher3", true);
    watcher.subscribe("gone/#", 0);
    let (mut deaf, _) = Client::connect_with(
        address,
        crate::client::connect_with_will(
            "unacknowledging",
            "gone/unacknowledging",
            b"bye",
            0,
            false,
        ),
    );
    deaf.subscribe("small", 1);
    let (mut publisher, _) = Client::connect(address, "small-publisher", true);
    // The window (20 by default) fills, and five wait in the queue, which has room for 1 000.
    for n in 1..=25u16 {
        publisher.publish("small", b"x", 1, n, false);
        assert_eq!(publisher.recv(), Got::PubAck(n));
    }
    assert_eq!(
        watcher.recv(),
        crate::client::publish("gone/unacknowledging", b"bye", 0, None, false, false)
    );
    drop(deaf);
}

/// A client that reads a trickle (1 KiB every 100 ms) while megabytes wait for it: each socket
/// write makes a little progress, so a timeout per write call never fired and the client held its
/// connection, and what was queued for it, indefinitely. The write timeout covers the whole write.
#[test]
fn a_client_reading_a_trickle_is_held_to_the_write_timeout_of_a_whole_write() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let (_broker, address) = broker_with(Config {
        write_timeout: TIMEOUT,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut watcher, _) = Client::connect(address, "watcher2", true);
    watcher.subscribe("gone/#", 0);
    let (mut slow, _) = Client::connect_with(
        address,
        crate::client::connect_with_will("trickle", "gone/trickle", b"bye", 0, false),
    );
    slow.subscribe("big", 0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = std::sync::Arc::clone(&stop);
    let mut stream = slow.stream.try_clone().expect("clone");
    let reader = thread::spawn(move || {
        let mut chunk = [0u8; 1024];
        // Load shaping, not synchronisation: a slow reader.
        while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    let (mut publisher, _) = Client::connect(address, "big-publisher2", true);
    let payload = vec![0x5A; 64 * 1024];
    for _ in 0..100 {
        publisher.publish("big", &payload, 0, 0, false);
    }
    let started = Instant::now();
    watcher
        .stream
        .set_read_timeout(Some(TIMEOUT * 5))
        .expect("timeout");
    let got = watcher.try_recv_within();
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        matches!(&got, Some(Got::Publish { topic, .. }) if topic == "gone/trickle"),
        "no Will within {took:?}: {got:?}"
    );
    // Before the fix this took three times the timeout here (each write call made progress).
    assert!(took < 2 * TIMEOUT, "disconnected after {took:?}");
    drop(slow);
    let _ = reader.join();
}

/// A retained flood: 10 000 retained messages, then a new subscriber to `ret/#` gets every one of
/// them, at QoS 1 and at QoS 0, however small its queue (issue #14, item 4).
#[test]
fn a_new_subscriber_gets_every_one_of_10_000_retained_messages() {
    const RETAINED: usize = 10_000;
    let (_broker, address) = broker_with(small_queues());
    let (mut publisher, _) = Client::connect(address, "retainer", true);
    let mut batch = Vec::new();
    for n in 0..RETAINED {
        let topic = format!("ret/{n}");
        batch.extend(bytes(Packet::Publish(Publish {
            topic: TopicName::new(&topic).expect("topic"),
            payload: topic.as_bytes(),
            delivery: Delivery::AtMostOnce,
            retain: true,
        })));
    }
    publisher.send_raw(&batch);
    publisher.barrier();
    for qos in [1u8, 0] {
        let (subscriber, _) = Client::connect(address, &format!("late-{qos}"), true);
        // SUBSCRIBE by hand: the retained messages follow the SUBACK at once, and the test
        // client's own buffer would keep those read with it.
        let mut stream = subscriber.stream.try_clone().expect("clone");
        let entries = [mqtt_codec::Subscription {
            filter: mqtt_codec::TopicFilter::new("ret/#").expect("filter"),
            qos: QoS::from_bits(qos).expect("qos"),
        }];
        stream
            .write_all(&bytes(Packet::Subscribe(mqtt_codec::Subscribe {
                packet_id: id(7),
                filters: mqtt_codec::List::from_slice(&entries),
            })))
            .expect("subscribe");
        let mut received = HashSet::new();
        let mut reading = subscriber.stream;
        read_packets(&mut reading, |packet| {
            if let Packet::Publish(publish) = packet {
                assert!(publish.retain, "sent as retained [MQTT-3.3.1-8]");
                received.insert(publish.payload.to_vec());
                if let Some(packet_id) = publish.delivery.packet_id() {
                    stream
                        .write_all(&bytes(Packet::PubAck(PubAck { packet_id })))
                        .expect("ack");
                }
            }
            received.len() < RETAINED
        });
        assert_eq!(received.len(), RETAINED, "at QoS {qos}");
    }
}

/// A subscriber that never reads does not hold up the thread of a publisher that writes to it
/// (issue #16). There is no writer thread per connection: the publisher's own reader writes each
/// message into the subscriber's socket, and a write into a full socket gives up after one tick of
/// the kernel's clock, leaving the rest to the subscriber's helper thread. With a `write_timeout`
/// of a minute, a publisher whose writes waited for the deaf client would not get its PINGRESP for
/// a minute; it gets it within [`WAIT`], and a subscriber that reads gets every message.
#[test]
fn a_never_reading_subscriber_does_not_hold_up_its_publisher() {
    const SENT: usize = 400;
    let (_broker, address) = broker_with(Config {
        write_timeout: Duration::from_secs(60),
        // mosquitto's drop-when-full: without it the publisher is held back on purpose once the
        // deaf client's queue is full (back-pressure), which is not what is tested here.
        queue_full_drop: true,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut deaf, _) = Client::connect(address, "deaf-subscriber", true);
    deaf.subscribe("flood", 0);
    let (mut listener, _) = Client::connect(address, "listening-subscriber", true);
    listener.subscribe("flood", 0);
    let counting = thread::spawn(move || {
        let mut count = 0;
        read_packets(&mut listener.stream, |packet| {
            if matches!(packet, Packet::Publish(_)) {
                count += 1;
            }
            count < SENT
        });
        count
    });
    let (mut publisher, _) = Client::connect(address, "flood-publisher", true);
    // 25 MiB in all, far more than the deaf client's socket buffers hold.
    let payload = vec![0xA5; 64 * 1024];
    for _ in 0..SENT {
        publisher.publish("flood", &payload, 0, 0, false);
    }
    publisher.barrier();
    assert_eq!(counting.join().expect("the listener"), SENT);
    drop(deaf);
}

/// Taking over the session of a client that is behind (issue #16): its helper thread is blocked
/// writing into its full socket when a second connection with the same client id arrives. The new
/// connection is answered at once, the old one is cut (its socket ends after what was already in
/// it), and the publisher goes on.
#[test]
fn a_client_that_is_behind_can_be_taken_over() {
    let (_broker, address) = broker_with(Config {
        write_timeout: Duration::from_secs(60),
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut behind, _) = Client::connect(address, "taken-over", true);
    behind.subscribe("flood", 0);
    let (mut publisher, _) = Client::connect(address, "flood-publisher-2", true);
    // 20 MiB at QoS 0, more than the client's socket buffers: its helper is left writing.
    let payload = vec![0xA5; 64 * 1024];
    for _ in 0..320 {
        publisher.publish("flood", &payload, 0, 0, false);
    }
    publisher.barrier();
    let started = Instant::now();
    let (mut again, _) = Client::connect(address, "taken-over", true);
    assert!(
        started.elapsed() < WAIT,
        "the take-over waited {:?}",
        started.elapsed()
    );
    again.subscribe("after", 0);
    publisher.publish("after", b"still served", 0, 0, false);
    assert!(
        matches!(again.recv(), Got::Publish { topic, .. } if topic == "after"),
        "the new connection is served"
    );
    // The old connection ends: reading it gives what was already sent, then end of file.
    behind.stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut chunk = vec![0u8; 256 * 1024];
    let mut read = 0usize;
    loop {
        match behind.stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(count) => read += count,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!("the old connection did not end ({read} bytes read): {error}"),
        }
    }
    publisher.barrier();
}

//! Bridges (mosquitto's `connection` blocks): two of our brokers bridged both ways without a loop,
//! our broker bridged to a real mosquitto and mosquitto bridged to ours, an outage of the remote
//! broker during a QoS 1 stream, fail-over between addresses, the state notifications, and
//! configuration errors with their line numbers.
//!
//! Clients here are `mqtt-client` clients. Nothing sleeps for a fixed time: every wait is for a
//! message, with a deadline; "nothing more arrived" is proven by a sentinel message sent after
//! everything else on the same path.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_broker::{Broker, BrokerHandle, Config};
use mqtt_client::{Client, ConnectOptions, Message, Messages, QoS};

use crate::client::TempDir;

const PATIENCE: Duration = Duration::from_secs(20);

/// Our broker on 127.0.0.1:`port` with `$SYS` off and the configuration `text` (bridge blocks).
fn ours(port: u16, text: &str) -> BrokerHandle {
    let parsed = Config::parse(text, "test.conf").expect("the test configuration parses");
    Broker::start(Config {
        listeners: vec![SocketAddr::from(([127, 0, 0, 1], port)).into()],
        sys_interval: Duration::ZERO,
        ..parsed
    })
    .expect("broker starts")
}

fn port(broker: &BrokerHandle) -> u16 {
    broker.local_addrs()[0].port()
}

/// A connected client subscribed to `filters` at QoS 1.
fn subscriber(port: u16, id: &str, filters: &[&str]) -> (Client, Messages) {
    let client = client(port, id);
    let filters: Vec<(&str, QoS)> = filters.iter().map(|f| (*f, QoS::AtLeastOnce)).collect();
    client
        .subscribe(&filters)
        .expect("subscribe")
        .wait_timeout(PATIENCE)
        .expect("SUBACK");
    let messages = client.messages();
    (client, messages)
}

fn client(port: u16, id: &str) -> Client {
    let options = ConnectOptions::builder("127.0.0.1", port)
        .client_id(id)
        .build()
        .expect("options");
    Client::connect(options).expect("client connects")
}

fn publish(client: &Client, topic: &str, payload: &str) {
    client
        .publish(topic, payload, QoS::AtLeastOnce, false)
        .expect("publish")
        .wait_timeout(PATIENCE)
        .expect("PUBACK");
}

/// Receives until a message on `topic` arrives, returning everything received, in order.
fn until(messages: &Messages, topic: &str) -> Vec<Message> {
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = messages
            .recv_timeout(left)
            .unwrap_or_else(|| panic!("{topic:?} did not arrive; got {:?}", topics(&got)));
        let done = message.topic == topic;
        got.push(message);
        if done {
            return got;
        }
    }
}

/// Waits for the bridge's state notification `state` on `messages`.
fn state(messages: &Messages, topic: &str, state: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = messages
            .recv_timeout(left)
            .unwrap_or_else(|| panic!("{topic} never became {state}"));
        if message.topic == topic && message.payload == state.as_bytes() {
            return;
        }
    }
}

fn topics(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.topic.as_str()).collect()
}

fn count(messages: &[Message]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for message in messages {
        *counts.entry(message.topic.as_str()).or_default() += 1;
    }
    counts
}

/// A `topic ... both` bridge between two of our brokers, announced with try_private: each message
/// reaches each side once (no loop), prefixes are applied both ways, QoS 1 is kept.
#[test]
fn two_brokers_bridged_both_ways_without_a_loop() {
    let b = ours(0, "");
    let a = ours(
        0,
        &format!(
            "connection to-b\naddress 127.0.0.1:{}\nremote_clientid a-to-b\nrestart_timeout 1\n\
             topic sensors/# both 1\ntopic out/# out 1 a/ from-a/\ntopic # in 1 a/in/ to-a/\n",
            port(&b)
        ),
    );
    let state_topic = "$SYS/broker/connection/a-to-b/state";
    let (_watch, watch) = subscriber(port(&a), "watch", &[state_topic]);
    state(&watch, state_topic, "1");
    // The remote side was announced as a bridge and its notification is retained there too.
    let (_remote_watch, remote_watch) = subscriber(port(&b), "remote-watch", &[state_topic]);
    state(&remote_watch, state_topic, "1");

    let (_sa, on_a) = subscriber(port(&a), "sa", &["sensors/#", "a/in/#"]);
    let (_sb, on_b) = subscriber(port(&b), "sb", &["sensors/#", "from-a/#"]);
    let pa = client(port(&a), "pa");
    let pb = client(port(&b), "pb");
    for n in 0..5 {
        publish(&pa, "sensors/a", &format!("a{n}"));
        publish(&pb, "sensors/b", &format!("b{n}"));
    }
    publish(&pa, "a/out/x", "prefixed out");
    publish(&pb, "to-a/y", "prefixed in");
    // Every copy that could loop would be queued before these sentinels on the same paths.
    publish(&pb, "sensors/end-b", "");
    publish(&pa, "sensors/end-a", "");
    let mut got_a = until(&on_a, "sensors/end-b");
    let mut got_b = until(&on_b, "sensors/end-a");
    if !got_a.iter().any(|m| m.topic == "sensors/end-a") {
        got_a.extend(until(&on_a, "sensors/end-a"));
    }
    if !got_b.iter().any(|m| m.topic == "sensors/end-b") {
        got_b.extend(until(&on_b, "sensors/end-b"));
    }
    // Let anything still in flight on either bridge path arrive behind one more pair of sentinels.
    publish(&pb, "sensors/final-b", "");
    publish(&pa, "sensors/final-a", "");
    got_a.extend(until(&on_a, "sensors/final-b"));
    got_b.extend(until(&on_b, "sensors/final-a"));
    for got in [&got_a, &got_b] {
        let counts = count(got);
        assert_eq!(counts.get("sensors/a"), Some(&5), "{:?}", topics(got));
        assert_eq!(counts.get("sensors/b"), Some(&5), "{:?}", topics(got));
        assert!(
            got.iter()
                .filter(|m| m.topic.starts_with("sensors/"))
                .all(|m| m.qos == QoS::AtLeastOnce)
        );
    }
    let payload_of = |got: &[Message], topic: &str| {
        got.iter()
            .filter(|m| m.topic == topic)
            .map(|m| m.payload.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        payload_of(&got_b, "from-a/out/x"),
        [b"prefixed out".to_vec()]
    );
    assert_eq!(payload_of(&got_a, "a/in/y"), [b"prefixed in".to_vec()]);
    // Order is kept along one path: a0..a4 reach B in order.
    let order: Vec<&[u8]> = got_b
        .iter()
        .filter(|m| m.topic == "sensors/a")
        .map(|m| m.payload.as_slice())
        .collect();
    assert_eq!(order, [b"a0", b"a1", b"a2", b"a3", b"a4"]);
    drop(a);
    // A clean stop of the bridge says so on the remote broker.
    state(&remote_watch, state_topic, "0");
}

/// mosquitto on a free port, with `conf` added to its configuration.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Mosquitto {
    fn start() -> Self {
        Self::with("")
    }

    /// mosquitto with `extra` appended to its configuration.
    fn with(extra: &str) -> Self {
        let port = free_port();
        let dir = TempDir::new("bridge-mosquitto");
        let conf = dir.file(
            "mosquitto.conf",
            &format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}"),
        );
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts (apt-get install mosquitto)");
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen");
            thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Our broker bridged to a real mosquitto, both ways, with try_private (which mosquitto knows):
/// messages cross each way once, and the notification is retained on both sides.
#[test]
fn bridged_to_mosquitto() {
    let mosquitto = Mosquitto::start();
    let ours = ours(
        0,
        &format!(
            "connection m\naddress 127.0.0.1:{}\nremote_clientid ours-to-m\nrestart_timeout 1\n\
             topic m/# both 1\n",
            mosquitto.port
        ),
    );
    let state_topic = "$SYS/broker/connection/ours-to-m/state";
    let (_watch, watch) = subscriber(port(&ours), "watch", &[state_topic]);
    state(&watch, state_topic, "1");
    let (_remote_watch, remote_watch) = subscriber(mosquitto.port, "remote-watch", &[state_topic]);
    state(&remote_watch, state_topic, "1");
    let (_s_ours, on_ours) = subscriber(port(&ours), "s-ours", &["m/#"]);
    let (_s_mosq, on_mosq) = subscriber(mosquitto.port, "s-mosq", &["m/#"]);
    let p_ours = client(port(&ours), "p-ours");
    let p_mosq = client(mosquitto.port, "p-mosq");
    for n in 0..3 {
        publish(&p_ours, "m/ours", &n.to_string());
        publish(&p_mosq, "m/mosq", &n.to_string());
    }
    publish(&p_mosq, "m/end-mosq", "");
    publish(&p_ours, "m/end-ours", "");
    let mut got_ours = until(&on_ours, "m/end-mosq");
    let mut got_mosq = until(&on_mosq, "m/end-ours");
    publish(&p_mosq, "m/final-mosq", "");
    publish(&p_ours, "m/final-ours", "");
    got_ours.extend(until(&on_ours, "m/final-mosq"));
    got_mosq.extend(until(&on_mosq, "m/final-ours"));
    for got in [&got_ours, &got_mosq] {
        let counts = count(got);
        assert_eq!(counts.get("m/ours"), Some(&3), "{:?}", topics(got));
        assert_eq!(counts.get("m/mosq"), Some(&3), "{:?}", topics(got));
    }
}

/// mosquitto bridging to our broker with try_private: we accept its CONNECT with the bridge bit
/// (protocol level 0x84) and do not send back what it publishes, so nothing loops.
#[test]
fn mosquitto_bridging_to_us_is_accepted_as_a_bridge() {
    let ours = ours(0, "");
    let state_topic = "$SYS/broker/connection/mosq-to-ours/state";
    let (_watch, watch) = subscriber(port(&ours), "watch", &[state_topic]);
    let mosquitto = Mosquitto::with(&format!(
        "connection to-ours\naddress 127.0.0.1:{}\nremote_clientid mosq-to-ours\n\
         try_private true\nrestart_timeout 1\ntopic x/# both 1\n",
        port(&ours)
    ));
    // mosquitto announces itself on our broker once its bridge is up.
    state(&watch, state_topic, "1");
    let (_s_ours, on_ours) = subscriber(port(&ours), "s-ours", &["x/#"]);
    let (_s_mosq, on_mosq) = subscriber(mosquitto.port, "s-mosq", &["x/#"]);
    let p_ours = client(port(&ours), "p-ours");
    let p_mosq = client(mosquitto.port, "p-mosq");
    for n in 0..3 {
        publish(&p_ours, "x/ours", &n.to_string());
        publish(&p_mosq, "x/mosq", &n.to_string());
    }
    publish(&p_mosq, "x/end-mosq", "");
    publish(&p_ours, "x/end-ours", "");
    let mut got_ours = until(&on_ours, "x/end-mosq");
    let mut got_mosq = until(&on_mosq, "x/end-ours");
    publish(&p_mosq, "x/final-mosq", "");
    publish(&p_ours, "x/final-ours", "");
    got_ours.extend(until(&on_ours, "x/final-mosq"));
    got_mosq.extend(until(&on_mosq, "x/final-ours"));
    for got in [&got_ours, &got_mosq] {
        let counts = count(got);
        assert_eq!(counts.get("x/ours"), Some(&3), "{:?}", topics(got));
        assert_eq!(counts.get("x/mosq"), Some(&3), "{:?}", topics(got));
    }
}

/// The remote broker stops in the middle of a QoS 1 stream and comes back on the same port: every
/// message acknowledged to the publisher reaches the remote subscriber, and the state notification
/// goes 1, 0, 1.
#[test]
fn remote_outage_during_a_qos_1_stream_loses_nothing() {
    const COUNT: usize = 200;
    let dir = TempDir::new("bridge-outage");
    let remote_config = || Config {
        persistence: true,
        persistence_location: dir.0.clone(),
        ..Config::default()
    };
    let start_remote = |port: u16| {
        Broker::start(Config {
            listeners: vec![SocketAddr::from(([127, 0, 0, 1], port)).into()],
            sys_interval: Duration::ZERO,
            ..remote_config()
        })
        .expect("remote broker starts")
    };
    let remote = start_remote(0);
    let remote_port = port(&remote);
    let local = ours(
        0,
        &format!(
            "connection out\naddress 127.0.0.1:{remote_port}\nremote_clientid outage\n\
             restart_timeout 1\ntopic q/# out 1\n"
        ),
    );
    let state_topic = "$SYS/broker/connection/outage/state";
    let (_watch, watch) = subscriber(port(&local), "watch", &[state_topic]);
    state(&watch, state_topic, "1");

    // A persistent subscriber on the remote that reconnects by itself after the outage.
    let sink_options = ConnectOptions::builder("127.0.0.1", remote_port)
        .client_id("sink")
        .clean_session(false)
        .reconnect(Duration::from_millis(100), Duration::from_millis(500))
        .build()
        .expect("options");
    let sink = Client::connect(sink_options).expect("sink connects");
    sink.subscribe(&[("q/#", QoS::AtLeastOnce)])
        .expect("subscribe")
        .wait_timeout(PATIENCE)
        .expect("SUBACK");
    let received = sink.messages();

    let publisher = client(port(&local), "publisher");
    let stream = thread::spawn(move || {
        for n in 0..COUNT {
            publish(&publisher, &format!("q/{n}"), &n.to_string());
        }
        publisher
    });
    let mut seen = vec![false; COUNT];
    let note = |seen: &mut Vec<bool>, message: Message| {
        if let Some(n) = message
            .topic
            .strip_prefix("q/")
            .and_then(|n| n.parse::<usize>().ok())
        {
            seen[n] = true;
        }
    };
    // Part of the stream arrives, then the remote goes away.
    for _ in 0..20 {
        note(
            &mut seen,
            received.recv_timeout(PATIENCE).expect("the stream starts"),
        );
    }
    remote.shutdown();
    state(&watch, state_topic, "0");
    let remote = start_remote(remote_port);
    state(&watch, state_topic, "1");
    let _publisher = stream.join().expect("every publication was acknowledged");
    let deadline = Instant::now() + PATIENCE * 2;
    while seen.iter().any(|seen| !seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Some(message) => note(&mut seen, message),
            None => {
                let missing: Vec<usize> = (0..COUNT).filter(|n| !seen[*n]).collect();
                panic!("lost across the outage: {missing:?}");
            }
        }
    }
    drop(local);
    remote.shutdown();
}

/// A retained message crosses the bridge as retained: the bridge receives it with its retain flag
/// (it announced itself as a bridge), so the remote broker retains it for later subscribers.
#[test]
fn retained_messages_cross_the_bridge_as_retained() {
    let remote = ours(0, "");
    let local = ours(
        0,
        &format!(
            "connection r\naddress 127.0.0.1:{}\nremote_clientid retain\nrestart_timeout 1\n\
             topic r/# out 1\n",
            port(&remote)
        ),
    );
    let state_topic = "$SYS/broker/connection/retain/state";
    let (_watch, watch) = subscriber(port(&remote), "watch", &[state_topic, "r/#"]);
    state(&watch, state_topic, "1");
    client(port(&local), "p")
        .publish("r/kept", "last value", QoS::AtLeastOnce, true)
        .expect("publish")
        .wait_timeout(PATIENCE)
        .expect("PUBACK");
    until(&watch, "r/kept");
    let (_late, late) = subscriber(port(&remote), "late", &["r/#"]);
    let got = until(&late, "r/kept");
    let kept = got.last().expect("one message");
    assert!(kept.retain, "the remote broker retained it");
    assert_eq!(kept.payload, b"last value");
}

/// With several addresses, one that cannot be reached is skipped for the next.
#[test]
fn an_unreachable_address_fails_over_to_the_next() {
    let remote = ours(0, "");
    let local = ours(
        0,
        &format!(
            "connection f\naddress 127.0.0.1:{} 127.0.0.1:{}\nremote_clientid failover\n\
             restart_timeout 1\ntopic f/# out 1\n",
            free_port(),
            port(&remote)
        ),
    );
    let state_topic = "$SYS/broker/connection/failover/state";
    let (_watch, watch) = subscriber(port(&remote), "watch", &[state_topic, "f/#"]);
    state(&watch, state_topic, "1");
    publish(&client(port(&local), "p"), "f/x", "via the second address");
    until(&watch, "f/x");
}

/// Bridge mistakes stop the start with the line that is wrong.
#[test]
fn bridge_configuration_errors_name_their_line() {
    for (text, line) in [
        ("sys_interval 0\naddress 127.0.0.1\n", 2),
        ("connection a\naddress h\ntopic x/# sideways\n", 3),
        (
            "connection a\naddress h\ntopic x/# out 1\nbridge_psk 00ff\n",
            4,
        ),
        ("sys_interval 0\nconnection a\ntopic x/#\n", 2),
    ] {
        let error = Config::parse(text, "bridge.conf").expect_err(text);
        assert_eq!(error.line, line, "{text}: {error}");
        assert!(error.to_string().starts_with("bridge.conf:"), "{error}");
    }
}

/// Reads one MQTT packet from a raw socket: its first byte and its body.
fn read_packet(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    use std::io::Read;
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).expect("a fixed header");
    let kind = byte[0];
    let (mut length, mut shift) = (0usize, 0);
    loop {
        stream.read_exact(&mut byte).expect("a remaining length");
        length |= usize::from(byte[0] & 0x7f) << shift;
        shift += 7;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("a body");
    (kind, body)
}

/// At `bridge_protocol_version mqttv50`, seen on the wire by a hand-written remote: CONNECT names
/// level 5 without the bridge bit (a 3.1.1 convention), the `out` line's filter is unsubscribed
/// first (`bridge_attempt_unsubscribe`), and the `in` line is subscribed with No Local and Retain
/// As Published, which take the place of try_private at 5.0 [MQTT5-3.8.3-3].
#[test]
fn a_5_0_bridge_connects_at_level_5_and_subscribes_with_no_local() {
    use std::io::Write;
    let remote = TcpListener::bind("127.0.0.1:0").expect("bind");
    let remote_port = remote.local_addr().expect("address").port();
    let _local = ours(
        0,
        &format!(
            "connection v5\naddress 127.0.0.1:{remote_port}\nremote_clientid v5-wire\n\
             bridge_protocol_version mqttv50\nrestart_timeout 1\ntopic o/# out 1\n\
             topic i/# in 1\n"
        ),
    );
    let (mut stream, _) = remote.accept().expect("the bridge connects");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let (kind, connect) = read_packet(&mut stream);
    assert_eq!(kind, 0x10, "CONNECT first");
    assert_eq!(&connect[..6], b"\x00\x04MQTT");
    assert_eq!(connect[6], 5, "protocol level 5, no bridge bit");
    assert_eq!(connect[7] & 0x02, 0, "cleansession false: no Clean Start");
    // CONNACK: no session present, success, no properties.
    stream.write_all(&[0x20, 3, 0, 0, 0]).expect("CONNACK");
    let (kind, unsubscribe) = read_packet(&mut stream);
    assert_eq!(kind, 0xA2, "UNSUBSCRIBE of the `out` line first");
    assert_eq!(
        &unsubscribe[2..],
        b"\x00\x00\x03o/#",
        "no properties, one filter"
    );
    let id = [unsubscribe[0], unsubscribe[1]];
    stream
        .write_all(&[0xB0, 4, id[0], id[1], 0, 0x11])
        .expect("UNSUBACK: no subscription existed");
    let (kind, subscribe) = read_packet(&mut stream);
    assert_eq!(kind, 0x82, "then SUBSCRIBE of the `in` line");
    assert_eq!(&subscribe[2..8], b"\x00\x00\x03i/#");
    assert_eq!(
        subscribe[8],
        0x01 | 0x04 | 0x08,
        "QoS 1, No Local, Retain As Published"
    );
}

/// A 5.0 bridge between two of our brokers, both ways: each message reaches each side once (No
/// Local breaks the loop instead of the bridge bit), and a retained message stays retained.
#[test]
fn a_5_0_bridge_between_our_brokers_carries_both_ways_without_a_loop() {
    let b = ours(0, "");
    let a = ours(
        0,
        &format!(
            "connection to-b\naddress 127.0.0.1:{}\nremote_clientid a5-to-b\nrestart_timeout 1\n\
             bridge_protocol_version mqttv50\ntopic v/# both 1\n",
            port(&b)
        ),
    );
    let state_topic = "$SYS/broker/connection/a5-to-b/state";
    let (_watch, watch) = subscriber(port(&a), "watch", &[state_topic]);
    state(&watch, state_topic, "1");
    let (_remote_watch, remote_watch) = subscriber(port(&b), "remote-watch", &[state_topic]);
    state(&remote_watch, state_topic, "1");
    let (_sa, on_a) = subscriber(port(&a), "sa", &["v/#"]);
    let (_sb, on_b) = subscriber(port(&b), "sb", &["v/#"]);
    let pa = client(port(&a), "pa");
    let pb = client(port(&b), "pb");
    for n in 0..3 {
        publish(&pa, "v/a", &n.to_string());
        publish(&pb, "v/b", &n.to_string());
    }
    publish(&pb, "v/end-b", "");
    publish(&pa, "v/end-a", "");
    let mut got_a = until(&on_a, "v/end-b");
    let mut got_b = until(&on_b, "v/end-a");
    publish(&pb, "v/final-b", "");
    publish(&pa, "v/final-a", "");
    got_a.extend(until(&on_a, "v/final-b"));
    got_b.extend(until(&on_b, "v/final-a"));
    for got in [&got_a, &got_b] {
        let counts = count(got);
        assert_eq!(counts.get("v/a"), Some(&3), "{:?}", topics(got));
        assert_eq!(counts.get("v/b"), Some(&3), "{:?}", topics(got));
    }
    pb.publish("v/kept", "from b", QoS::AtLeastOnce, true)
        .expect("publish")
        .wait_timeout(PATIENCE)
        .expect("PUBACK");
    until(&on_a, "v/kept");
    let (_late, late) = subscriber(port(&a), "late", &["v/kept"]);
    let kept = until(&late, "v/kept");
    assert!(kept[0].retain, "Retain As Published kept it retained on a");
}

/// Our broker bridged to a real mosquitto at 5.0, both ways: messages cross once each way.
#[test]
fn a_5_0_bridge_to_mosquitto() {
    let mosquitto = Mosquitto::start();
    let ours = ours(
        0,
        &format!(
            "connection m5\naddress 127.0.0.1:{}\nremote_clientid ours5-to-m\nrestart_timeout 1\n\
             bridge_protocol_version mqttv50\ntopic m5/# both 1\n",
            mosquitto.port
        ),
    );
    let state_topic = "$SYS/broker/connection/ours5-to-m/state";
    let (_remote_watch, remote_watch) = subscriber(mosquitto.port, "remote-watch", &[state_topic]);
    state(&remote_watch, state_topic, "1");
    let (_s_ours, on_ours) = subscriber(port(&ours), "s-ours", &["m5/#"]);
    let (_s_mosq, on_mosq) = subscriber(mosquitto.port, "s-mosq", &["m5/#"]);
    let p_ours = client(port(&ours), "p-ours");
    let p_mosq = client(mosquitto.port, "p-mosq");
    for n in 0..3 {
        publish(&p_ours, "m5/ours", &n.to_string());
        publish(&p_mosq, "m5/mosq", &n.to_string());
    }
    publish(&p_mosq, "m5/end-mosq", "");
    publish(&p_ours, "m5/end-ours", "");
    let mut got_ours = until(&on_ours, "m5/end-mosq");
    let mut got_mosq = until(&on_mosq, "m5/end-ours");
    publish(&p_mosq, "m5/final-mosq", "");
    publish(&p_ours, "m5/final-ours", "");
    got_ours.extend(until(&on_ours, "m5/final-mosq"));
    got_mosq.extend(until(&on_mosq, "m5/final-ours"));
    for got in [&got_ours, &got_mosq] {
        let counts = count(got);
        assert_eq!(counts.get("m5/ours"), Some(&3), "{:?}", topics(got));
        assert_eq!(counts.get("m5/mosq"), Some(&3), "{:?}", topics(got));
    }
}

/// `bridge_outgoing_retain false` sends retained messages unretained, and a message over
/// `bridge_max_packet_size` is not sent at all (the next one is).
#[test]
fn outgoing_retain_off_and_max_packet_size() {
    let remote = ours(0, "");
    let local = ours(
        0,
        &format!(
            "connection r\naddress 127.0.0.1:{}\nremote_clientid noretain\nrestart_timeout 1\n\
             bridge_outgoing_retain false\nbridge_max_packet_size 1000\ntopic r/# out 1\n",
            port(&remote)
        ),
    );
    let state_topic = "$SYS/broker/connection/noretain/state";
    let (_watch, watch) = subscriber(port(&remote), "watch", &[state_topic, "r/#"]);
    state(&watch, state_topic, "1");
    let p = client(port(&local), "p");
    p.publish("r/kept", "last value", QoS::AtLeastOnce, true)
        .expect("publish")
        .wait_timeout(PATIENCE)
        .expect("PUBACK");
    publish(&p, "r/big", &"x".repeat(1000));
    publish(&p, "r/after", "small");
    let got = until(&watch, "r/after");
    assert_eq!(topics(&got), ["r/kept", "r/after"], "r/big was not sent");
    let (_late, late) = subscriber(port(&remote), "late", &["r/#"]);
    publish(&p, "r/end", "");
    let got = until(&late, "r/end");
    assert_eq!(
        topics(&got),
        ["r/end"],
        "nothing was retained on the remote"
    );
}

/// A 5.0 client of `port`.
fn client5(port: u16, id: &str) -> Client {
    let options = ConnectOptions::builder("127.0.0.1", port)
        .client_id(id)
        .mqtt5(mqtt_client::v5::ConnectProperties::default())
        .build()
        .expect("options");
    Client::connect(options).expect("client connects")
}

/// The properties a 5.0 bridge must carry unchanged [MQTT5-3.3.2-18] (5.0 §3.3.2.3).
fn request_properties(tag: &str) -> mqtt_client::v5::PublishProperties {
    mqtt_client::v5::PublishProperties {
        payload_format_indicator: Some(1),
        content_type: Some("text/plain".into()),
        response_topic: Some(format!("replies/{tag}")),
        correlation_data: Some(tag.as_bytes().to_vec()),
        user_properties: vec![
            ("trace".into(), tag.into()),
            ("trace".into(), "again".into()),
        ],
        ..Default::default()
    }
}

/// Checks that `message` carries `request_properties(tag)`.
fn assert_carried(message: &Message, tag: &str) {
    let expected = request_properties(tag);
    let got = &message.properties;
    assert_eq!(
        got.payload_format_indicator,
        expected.payload_format_indicator
    );
    assert_eq!(got.content_type, expected.content_type);
    assert_eq!(got.response_topic, expected.response_topic);
    assert_eq!(got.correlation_data, expected.correlation_data);
    assert_eq!(got.user_properties, expected.user_properties);
}

/// `publish` of a QoS 1 message with `request_properties(tag)`.
fn publish5(client: &Client, topic: &str, tag: &str) {
    client
        .publish_with(topic, tag, QoS::AtLeastOnce, false, request_properties(tag))
        .expect("publish")
        .wait_timeout(PATIENCE)
        .expect("PUBACK");
}

/// Across a 5.0 bridge between our brokers, a message keeps its 5.0 properties both ways: the
/// bridge's local side speaks 5.0 too.
#[test]
fn a_5_0_bridge_forwards_message_properties_both_ways() {
    let b = ours(0, "");
    let a = ours(
        0,
        &format!(
            "connection p\naddress 127.0.0.1:{}\nremote_clientid props\nrestart_timeout 1\n\
             bridge_protocol_version mqttv50\ntopic p/# both 1\n",
            port(&b)
        ),
    );
    let state_topic = "$SYS/broker/connection/props/state";
    let (_watch, watch) = subscriber(port(&b), "watch", &[state_topic]);
    state(&watch, state_topic, "1");
    let sa = client5(port(&a), "sa");
    let sb = client5(port(&b), "sb");
    for subscriber in [&sa, &sb] {
        subscriber
            .subscribe(&[("p/#", QoS::AtLeastOnce)])
            .expect("subscribe")
            .wait_timeout(PATIENCE)
            .expect("SUBACK");
    }
    let (on_a, on_b) = (sa.messages(), sb.messages());
    publish5(&client5(port(&a), "pa"), "p/from-a", "out");
    publish5(&client5(port(&b), "pb"), "p/from-b", "in");
    let got = until(&on_b, "p/from-a");
    assert_carried(got.last().expect("a message"), "out");
    let got = until(&on_a, "p/from-b");
    assert_carried(got.last().expect("a message"), "in");
}

/// Our broker bridged at 5.0 to mosquitto: properties survive the trip into mosquitto and back.
#[test]
fn a_5_0_bridge_to_mosquitto_forwards_message_properties() {
    let mosquitto = Mosquitto::start();
    let ours = ours(
        0,
        &format!(
            "connection mp\naddress 127.0.0.1:{}\nremote_clientid ours-props\nrestart_timeout 1\n\
             bridge_protocol_version mqttv50\ntopic mp/# both 1\n",
            mosquitto.port
        ),
    );
    let state_topic = "$SYS/broker/connection/ours-props/state";
    let (_watch, watch) = subscriber(mosquitto.port, "watch", &[state_topic]);
    state(&watch, state_topic, "1");
    let s_ours = client5(port(&ours), "s-ours");
    let s_mosq = client5(mosquitto.port, "s-mosq");
    for subscriber in [&s_ours, &s_mosq] {
        subscriber
            .subscribe(&[("mp/#", QoS::AtLeastOnce)])
            .expect("subscribe")
            .wait_timeout(PATIENCE)
            .expect("SUBACK");
    }
    let (on_ours, on_mosq) = (s_ours.messages(), s_mosq.messages());
    publish5(&client5(port(&ours), "p-ours"), "mp/ours", "out");
    publish5(&client5(mosquitto.port, "p-mosq"), "mp/mosq", "in");
    assert_carried(until(&on_mosq, "mp/ours").last().expect("a message"), "out");
    assert_carried(until(&on_ours, "mp/mosq").last().expect("a message"), "in");
}

/// `round_robin false` (the default): connected to the second address because the first did not
/// answer, the bridge moves back to the first as soon as a broker listens there.
#[test]
fn without_round_robin_the_bridge_moves_back_to_the_main_address() {
    let main_port = free_port();
    let secondary = ours(0, "");
    let _local = ours(
        0,
        &format!(
            "connection rr\naddress 127.0.0.1:{main_port} 127.0.0.1:{}\nremote_clientid rr\n\
             restart_timeout 1\ntopic rr/# out 1\n",
            port(&secondary)
        ),
    );
    let state_topic = "$SYS/broker/connection/rr/state";
    let (_on_secondary, on_secondary) = subscriber(port(&secondary), "w2", &[state_topic]);
    state(&on_secondary, state_topic, "1");
    let main = ours(main_port, "");
    let (_on_main, on_main) = subscriber(port(&main), "w1", &[state_topic]);
    state(&on_main, state_topic, "1");
}

/// `round_robin true`: after losing the first address, the bridge goes on to the second, and stays
/// there even though the first comes back.
#[test]
fn with_round_robin_a_lost_connection_moves_on_to_the_next_address() {
    let first = ours(0, "");
    let first_port = port(&first);
    let second = ours(0, "");
    let local = ours(
        0,
        &format!(
            "connection rr2\naddress 127.0.0.1:{first_port} 127.0.0.1:{}\nremote_clientid rr2\n\
             round_robin true\nrestart_timeout 1\ntopic rr2/# out 1\n",
            port(&second)
        ),
    );
    let state_topic = "$SYS/broker/connection/rr2/state";
    let (_w1, w1) = subscriber(first_port, "w1", &[state_topic]);
    state(&w1, state_topic, "1");
    let (_w2, w2) = subscriber(port(&second), "w2", &[state_topic, "rr2/#"]);
    drop((_w1, w1));
    first.shutdown();
    state(&w2, state_topic, "1");
    // The first broker is back on its port; the bridge stays on the second.
    let first = ours(first_port, "");
    let (_w1, w1) = subscriber(port(&first), "w1", &["rr2/#"]);
    let p = client(port(&local), "p");
    publish(&p, "rr2/x", "still via the second");
    let got = until(&w2, "rr2/x");
    assert_eq!(topics(&got).last(), Some(&"rr2/x"));
    // Had the bridge moved back, the first broker's subscriber would have it first.
    assert!(
        w1.recv_timeout(Duration::ZERO).is_none(),
        "nothing on the first"
    );
    drop(_w1);
}

/// `start_type lazy`: the bridge connects only once `threshold` messages wait for the remote,
/// carries them in order, disconnects after `idle_timeout` without traffic, and starts again at
/// the next `threshold`.
#[test]
fn a_lazy_bridge_starts_at_the_threshold_and_stops_when_idle() {
    let remote = ours(0, "");
    let state_topic = "$SYS/broker/connection/lazy/state";
    let (_watch, watch) = subscriber(port(&remote), "watch", &[state_topic, "l/#"]);
    let local = ours(
        0,
        &format!(
            "connection lz\naddress 127.0.0.1:{}\nremote_clientid lazy\nrestart_timeout 1\n\
             start_type lazy\nthreshold 3\nidle_timeout 1\ntopic l/# out 1\n",
            port(&remote)
        ),
    );
    // The lazy bridge publishes its `0` here once it counts messages.
    let (_local_watch, local_watch) = subscriber(port(&local), "local-watch", &[state_topic]);
    state(&local_watch, state_topic, "0");
    let p = client(port(&local), "p");
    publish(&p, "l/1", "");
    publish(&p, "l/2", "");
    // Below the threshold nothing crosses: a message published on the remote itself arrives
    // before any of them, and before the bridge says it is up.
    publish(&client(port(&remote), "r"), "l/sentinel", "");
    let got = until(&watch, "l/sentinel");
    assert_eq!(topics(&got), ["l/sentinel"], "the bridge stayed down");
    publish(&p, "l/3", "");
    let got = until(&watch, "l/3");
    let carried: Vec<&str> = topics(&got)
        .into_iter()
        .filter(|topic| topic.starts_with("l/"))
        .collect();
    assert_eq!(carried, ["l/1", "l/2", "l/3"]);
    // Idle for a second: the bridge says goodbye on the remote, then starts again when needed.
    state(&watch, state_topic, "0");
    for n in 4..7 {
        publish(&p, &format!("l/{n}"), "");
    }
    until(&watch, "l/6");
}

/// `start_type once`: the bridge connects at start-up and, once the connection is lost, is not
/// started again, even with the remote back on its port. (An automatic bridge with the same
/// `restart_timeout 1` is back within a second or two: `round_robin` above waits for that. Three
/// restart timeouts without a reconnection is the evidence here.)
#[test]
fn a_once_bridge_is_not_restarted_after_its_connection_is_lost() {
    let remote = ours(0, "");
    let remote_port = port(&remote);
    let local = ours(
        0,
        &format!(
            "connection once\naddress 127.0.0.1:{remote_port}\nremote_clientid once\n\
             start_type once\nrestart_timeout 1\ntopic once/# out 1\n"
        ),
    );
    let state_topic = "$SYS/broker/connection/once/state";
    let (watcher, watched) = subscriber(remote_port, "w", &[state_topic, "once/#"]);
    state(&watched, state_topic, "1");
    let p = client(port(&local), "p");
    publish(&p, "once/first", "while connected");
    assert_eq!(
        topics(&until(&watched, "once/first")).last(),
        Some(&"once/first")
    );
    drop((watcher, watched));
    remote.shutdown();
    let remote = ours(remote_port, "");
    let (_watcher, watched) = subscriber(port(&remote), "w", &[state_topic, "once/#"]);
    publish(&p, "once/second", "after the loss");
    if let Some(message) = watched.recv_timeout(Duration::from_secs(3)) {
        panic!(
            "the once bridge came back: {} {:?}",
            message.topic,
            String::from_utf8_lossy(&message.payload)
        );
    }
    drop(local);
}

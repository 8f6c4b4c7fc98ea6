//! Plugins registered through `Broker::builder` (`hooks.rs`): a custom authenticator, an authoriser,
//! message hooks, and `per_listener_settings`, which gives each listener its own built-in chain.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt_broker::hooks::{
    Authentication, Authenticator, Authoriser, ClientInfo, ConnectRequest, DisconnectReason, Hooks,
    MessageView, Permission, PublishDecision,
};
use mqtt_broker::{Broker, BrokerBuilder, BrokerHandle, Config, hash_line};
use mqtt_codec::{Connect, List, Packet, QoS, Subscribe, Subscription, TopicFilter};
use parking_lot::Mutex;

use crate::client::{Client, Got, TempDir, connack_code, connect};

/// A builder for a broker on 127.0.0.1, any free port, `$SYS` off.
fn builder() -> BrokerBuilder {
    Broker::builder(Config {
        listeners: vec![SocketAddr::from(([127, 0, 0, 1], 0)).into()],
        sys_interval: Duration::ZERO,
        ..Config::default()
    })
}

fn start(builder: BrokerBuilder) -> (BrokerHandle, SocketAddr) {
    let broker = builder.start().expect("broker starts");
    let address = broker.local_addrs()[0];
    (broker, address)
}

fn with_credentials<'a>(client_id: &'a str, user: &'a str, password: &'a [u8]) -> Connect<'a> {
    Connect {
        user_name: Some(user),
        password: Some(password),
        ..connect(client_id, true)
    }
}

/// Sends one SUBSCRIBE and answers the SUBACK's return codes.
fn subscribe_codes(client: &mut Client, filter: &str, qos: QoS) -> Vec<u8> {
    let entries = [Subscription {
        filter: TopicFilter::new(filter).expect("filter"),
        qos,
    }];
    client.send(Packet::Subscribe(Subscribe {
        packet_id: crate::client::id(7),
        filters: List::from_slice(&entries),
    }));
    match client.recv() {
        Got::SubAck(7, codes) => codes,
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

/// Devices log in with user name `dev-<n>` and password `token`, and act as `device:dev-<n>`;
/// client id `banned` is never let in; everything else is left to the next authenticator.
struct Tokens;

impl Authenticator for Tokens {
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Authentication {
        if request.client_id() == "banned" {
            return Authentication::NotAuthorised("banned client id".into());
        }
        match request.user_name() {
            Some(user) if user.starts_with("dev-") => match request.password() {
                Some(b"token") => Authentication::AcceptAs(format!("device:{user}")),
                _ => Authentication::BadCredentials("wrong device token".into()),
            },
            _ => Authentication::Defer,
        }
    }
}

/// Records every hook call as a line, in order.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Recorder {
    /// Waits (polling, with a deadline) until `count` events are recorded, and returns them.
    fn wait_for(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + crate::client::WAIT;
        loop {
            let events = self.events.lock().clone();
            if events.len() >= count || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Hooks for Recorder {
    fn on_connect(&self, client: &ClientInfo) {
        self.events.lock().push(format!(
            "connect {} as {:?} on listener {:?} with {}",
            client.client_id(),
            client.user_name(),
            client.listener().map(|listener| listener.index()),
            client
                .protocol_version()
                .map_or("no connection".into(), |version| version.to_string()),
        ));
    }

    fn on_publish(&self, client: &ClientInfo, message: &MessageView<'_>) -> PublishDecision {
        let payload = String::from_utf8_lossy(message.payload()).into_owned();
        self.events.lock().push(format!(
            "publish {} {} {payload} qos {:?}",
            client.client_id(),
            message.topic(),
            message.qos()
        ));
        if payload == "bad" {
            PublishDecision::Reject("payload is bad".into())
        } else {
            PublishDecision::Accept
        }
    }

    fn on_subscribe(&self, client: &ClientInfo, filter: &str, granted: Option<QoS>) {
        self.events.lock().push(format!(
            "subscribe {} {filter} {granted:?}",
            client.client_id()
        ));
    }

    fn on_disconnect(&self, client: &ClientInfo, reason: DisconnectReason) {
        self.events
            .lock()
            .push(format!("disconnect {} {reason:?}", client.client_id()));
    }
}

/// A registered authenticator decides before the anonymous rule: its refusals are CONNACK 4 and 5
/// followed by a close [MQTT-3.2.2-5], its `AcceptAs` name is the user the client acts under, and
/// what it defers falls through to `allow_anonymous` (true here: no password file).
#[test]
fn a_custom_authenticator_answers_connack_4_or_5_and_names_the_user_mqtt_3_2_2_5() {
    let recorder = Arc::new(Recorder::default());
    let (_broker, address) = start(
        builder()
            .authenticator(Arc::new(Tokens))
            .hooks(Arc::clone(&recorder) as Arc<dyn Hooks>),
    );
    let (mut device, _) = Client::connect_with(address, with_credentials("d1", "dev-1", b"token"));
    device.barrier(); // on_connect ran before this PINGREQ was read
    for (connect, expected) in [
        (with_credentials("d2", "dev-2", b"guess"), 4),
        (connect("banned", true), 5),
    ] {
        let (mut client, code) = connack_code(address, connect);
        assert_eq!(code, expected);
        client.expect_closed();
    }
    let (mut anonymous, _) = Client::connect(address, "plain", true);
    anonymous.barrier();
    assert_eq!(
        recorder.wait_for(2),
        [
            "connect d1 as Some(\"device:dev-1\") on listener Some(0) with MQTT 3.1.1",
            "connect plain as None on listener Some(0) with MQTT 3.1.1",
        ]
    );
}

/// Nothing may be published under `locked/`, nobody may subscribe under `secret/`, and client
/// `spy` receives nothing under `private/`, even through a filter it was granted.
struct Rules;

impl Authoriser for Rules {
    fn may_publish(&self, _: &ClientInfo, message: &MessageView<'_>) -> Permission {
        if message.topic().starts_with("locked/") {
            Permission::Deny
        } else {
            Permission::Defer
        }
    }

    fn may_subscribe(&self, _: &ClientInfo, filter: &str, _: QoS) -> Permission {
        if filter.starts_with("secret/") {
            Permission::Deny
        } else {
            Permission::Defer
        }
    }

    fn may_receive(&self, client: &ClientInfo, message: &MessageView<'_>) -> Permission {
        if client.client_id() == "spy" && message.topic().starts_with("private/") {
            Permission::Deny
        } else {
            Permission::Defer
        }
    }
}

/// A PUBLISH the authoriser refuses is acknowledged as usual and dropped [MQTT-3.3.5-2]; a filter
/// it refuses gets 0x80 in SUBACK [MQTT-3.9.3-2]; `may_receive` keeps one subscriber from a message
/// another subscriber of the same filter gets.
#[test]
fn an_authoriser_drops_publishes_and_refuses_subscriptions_mqtt_3_3_5_2_mqtt_3_9_3_2() {
    let (_broker, address) = start(builder().authoriser(Arc::new(Rules)));
    let (mut reader, _) = Client::connect(address, "reader", true);
    let (mut spy, _) = Client::connect(address, "spy", true);
    reader.subscribe("#", 1);
    spy.subscribe("#", 1);
    assert_eq!(
        subscribe_codes(&mut reader, "secret/#", QoS::AtLeastOnce),
        [0x80]
    );
    let (mut writer, _) = Client::connect(address, "writer", true);
    writer.publish("locked/door", b"open", 1, 1, false);
    assert_eq!(writer.recv(), Got::PubAck(1));
    writer.publish("private/diary", b"dear", 1, 2, false);
    assert_eq!(writer.recv(), Got::PubAck(2));
    writer.publish("public/news", b"hello", 0, 0, false);
    writer.barrier();
    // The reader gets the private message, then the public one: the locked one was dropped.
    for expected in ["private/diary", "public/news"] {
        match reader.recv() {
            Got::Publish {
                topic, packet_id, ..
            } => {
                assert_eq!(topic, expected);
                if let Some(packet_id) = packet_id {
                    reader.send(Packet::PubAck(mqtt_codec::PubAck {
                        packet_id: crate::client::id(packet_id),
                    }));
                }
            }
            other => panic!("expected a PUBLISH, got {other:?}"),
        }
    }
    // The spy gets only the public one.
    assert!(matches!(spy.recv(), Got::Publish { ref topic, .. } if topic == "public/news"));
    spy.barrier();
    reader.barrier();
}

/// Hooks see a client's life in order: connect, subscribe (with the QoS granted), publish, and
/// disconnect with its reason.
#[test]
fn hooks_see_connect_subscribe_publish_and_disconnect_in_order() {
    let recorder = Arc::new(Recorder::default());
    let (_broker, address) = start(builder().hooks(Arc::clone(&recorder) as Arc<dyn Hooks>));
    let (mut client, _) = Client::connect(address, "c1", true);
    client.subscribe("a/#", 1);
    client.publish("a/1", b"hi", 1, 1, false);
    // Routed (to itself), then acknowledged [MQTT-3.3.4-1].
    assert!(matches!(client.recv(), Got::Publish { ref topic, .. } if topic == "a/1"));
    assert_eq!(client.recv(), Got::PubAck(1));
    client.disconnect();
    assert_eq!(
        recorder.wait_for(4),
        [
            "connect c1 as None on listener Some(0) with MQTT 3.1.1",
            "subscribe c1 a/# Some(AtLeastOnce)",
            "publish c1 a/1 hi qos AtLeastOnce",
            "disconnect c1 Disconnect",
        ]
    );
}

/// A PUBLISH an `on_publish` hook rejects is acknowledged as usual, PUBACK at QoS 1 and PUBREC at
/// QoS 2, and never delivered [MQTT-3.3.5-2]; the next message is.
#[test]
fn a_publish_rejected_by_a_hook_is_acknowledged_and_dropped_mqtt_3_3_5_2() {
    let (_broker, address) = start(builder().hooks(Arc::new(Recorder::default())));
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("t", 0);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"bad", 1, 1, false);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    publisher.publish("t", b"bad", 2, 2, false);
    assert_eq!(publisher.recv(), Got::PubRec(2));
    publisher.publish("t", b"good", 0, 0, false);
    publisher.barrier();
    assert!(matches!(subscriber.recv(), Got::Publish { ref payload, .. } if payload == b"good"));
    subscriber.barrier();
}

/// With `per_listener_settings true`, each listener has its own password file, ACL and anonymous
/// rule; `reload` reads each listener's files again.
#[test]
fn per_listener_settings_give_each_listener_its_own_security() {
    let dir = TempDir::new("per-listener");
    let iterations = NonZeroU32::new(1000).expect("non-zero");
    let passwords = dir.file(
        "passwords",
        &hash_line("alice", b"wonder", iterations).expect("hash"),
    );
    let acl_0 = dir.file("acl-0", "user alice\ntopic readwrite a/#\n");
    let acl_1 = dir.file("acl-1", "topic read a/#\n");
    let text = format!(
        "per_listener_settings true\nsys_interval 0\n\
         listener 0 127.0.0.1\npassword_file {}\nacl_file {}\n\
         listener 0 127.0.0.1\nallow_anonymous true\nacl_file {}\n",
        passwords.display(),
        acl_0.display(),
        acl_1.display()
    );
    let config = Config::parse(&text, "per-listener.conf").expect("parses");
    let broker = Broker::start(config).expect("starts");
    let (secure, open) = (broker.local_addrs()[0], broker.local_addrs()[1]);

    // The first listener has a password file, so anonymous clients are refused there only.
    let (_, code) = connack_code(secure, connect("anon-0", true));
    assert_eq!(code, 5);
    let (mut alice, _) =
        Client::connect_with(secure, with_credentials("alice", "alice", b"wonder"));
    // The second has none: a user name is not checked there (the client counts as anonymous).
    let (_, code) = connack_code(open, with_credentials("alice-1", "alice", b"wrong"));
    assert_eq!(code, 0);
    let (mut anonymous, _) = Client::connect(open, "anon-1", true);
    let (mut reader, _) = Client::connect(open, "reader", true);

    // The second listener's ACL lets anonymous clients read a/# and nothing else.
    reader.subscribe("a/#", 0);
    assert_eq!(subscribe_codes(&mut reader, "b/#", QoS::AtMostOnce), [0x80]);
    // alice writes through the first listener's ACL; the reader reads through the second's.
    alice.publish("a/1", b"from alice", 0, 0, false);
    alice.barrier();
    assert!(matches!(reader.recv(), Got::Publish { ref payload, .. } if payload == b"from alice"));
    // Anonymous clients of the second listener may not write: acknowledged and dropped
    // [MQTT-3.3.5-2].
    anonymous.publish("a/2", b"from anonymous", 1, 1, false);
    assert_eq!(anonymous.recv(), Got::PubAck(1));

    // Reloading reads each listener's files again.
    dir.file("acl-1", "topic readwrite a/#\n");
    broker.reload().expect("reloads");
    anonymous.publish("a/3", b"after reload", 0, 0, false);
    anonymous.barrier();
    assert!(
        matches!(reader.recv(), Got::Publish { ref payload, .. } if payload == b"after reload")
    );
    reader.barrier();
}

/// `per_listener_settings` must come before the settings it changes, and with several listeners a
/// setting must follow one of them.
#[test]
fn per_listener_settings_is_refused_where_it_would_be_misread() {
    for text in [
        "acl_file a\nper_listener_settings true\n",
        "per_listener_settings true\nacl_file a\nlistener 1883\nlistener 1884\n",
        "per_listener_settings true\nlistener 1883\nallow_anonymous false\n",
    ] {
        assert!(Config::parse(text, "bad.conf").is_err(), "{text}");
    }
}

/// What a hook is told of a client's protocol is the version its CONNECT named: 5.0 for a 5.0
/// client (whose connection shares 3.1.1's code inside the broker), 3.1 and 3.1.1 for theirs; an
/// authenticator sees the same in the `ConnectRequest`.
#[test]
fn hooks_see_the_protocol_version_the_client_speaks() {
    struct Versions(Mutex<Vec<String>>);
    impl Authenticator for Versions {
        fn authenticate(&self, request: &ConnectRequest<'_>) -> Authentication {
            self.0.lock().push(format!(
                "{} {} {}",
                request.client_id(),
                request.protocol_version().level_byte(),
                request.is_mqtt5()
            ));
            Authentication::Defer
        }
    }
    let versions = Arc::new(Versions(Mutex::new(Vec::new())));
    let recorder = Arc::new(Recorder::default());
    let (_broker, address) = start(
        builder()
            .authenticator(Arc::clone(&versions) as Arc<dyn Authenticator>)
            .hooks(Arc::clone(&recorder) as Arc<dyn Hooks>),
    );
    let (mut v5, connack) =
        crate::mqtt5::Client5::connect_with(address, crate::mqtt5::connect("five"));
    assert!(
        matches!(connack, crate::mqtt5::Got5::ConnAck { reason: 0, .. }),
        "{connack:?}"
    );
    v5.barrier();
    let (mut v311, _) = Client::connect(address, "four", true);
    v311.barrier();
    let (mut v31, _) = Client::connect_with(
        address,
        Connect {
            level: mqtt_codec::ProtocolLevel::Mqtt31,
            ..connect("three", true)
        },
    );
    v31.barrier();
    assert_eq!(
        recorder.wait_for(3),
        [
            "connect five as None on listener Some(0) with MQTT 5.0",
            "connect four as None on listener Some(0) with MQTT 3.1.1",
            "connect three as None on listener Some(0) with MQTT 3.1",
        ]
    );
    assert_eq!(
        *versions.0.lock(),
        ["five 5 true", "four 4 false", "three 3 false"]
    );
}

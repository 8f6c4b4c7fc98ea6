//! Authentication (password file, `allow_anonymous`), the ACL file and reloading them.

use std::num::NonZeroU32;
use std::time::Duration;

use mqtt_broker::{Config, hash_line};
use mqtt_codec::{Connect, List, Packet, ProtocolLevel, QoS, Subscribe, Subscription, TopicFilter};

use crate::client::{Client, Got, TempDir, broker_with, connack_code, connect};

fn password_file(dir: &TempDir, users: &[(&str, &str)]) -> std::path::PathBuf {
    let iterations = NonZeroU32::new(1000).expect("non-zero");
    let lines: Vec<String> = users
        .iter()
        .map(|(user, password)| hash_line(user, password.as_bytes(), iterations).expect("hash"))
        .collect();
    dir.file("passwords", &(lines.join("\n") + "\n"))
}

fn with_credentials<'a>(client_id: &'a str, user: &'a str, password: &'a [u8]) -> Connect<'a> {
    Connect {
        user_name: Some(user),
        password: Some(password),
        ..connect(client_id, true)
    }
}

fn secured(dir: &TempDir, acl: Option<&str>) -> (mqtt_broker::BrokerHandle, std::net::SocketAddr) {
    broker_with(Config {
        password_file: Some(password_file(
            dir,
            &[("alice", "wonder"), ("bob", "builder")],
        )),
        acl_file: acl.map(|text| dir.file("acl", text)),
        sys_interval: Duration::ZERO,
        ..Config::default()
    })
}

/// A wrong password gets CONNACK 4 and an anonymous client CONNACK 5 once a password file is set
/// (allow_anonymous then defaults to false); the connection is closed after a refusal
/// [MQTT-3.2.2-5], with Session Present 0 [MQTT-3.2.2-4].
#[test]
fn bad_password_is_refused_with_4_and_anonymous_with_5_mqtt_3_2_2_5() {
    let dir = TempDir::new("auth");
    let (_broker, address) = secured(&dir, None);
    let (_alice, code) = connack_code(address, with_credentials("a", "alice", b"wonder"));
    assert_eq!(code, 0);
    for (connect, expected) in [
        (with_credentials("b", "alice", b"wrong"), 4),
        (with_credentials("c", "mallory", b"wonder"), 4),
        (connect("d", true), 5),
    ] {
        let (mut client, code) = connack_code(address, connect);
        assert_eq!(code, expected);
        client.expect_closed();
    }
}

/// A PUBLISH the ACL does not allow is acknowledged and dropped [MQTT-3.3.5-2]; `read` is checked
/// at delivery too; a SUBSCRIBE the ACL does not cover gets 0x80 at 3.1.1 and a granted code (with
/// nothing delivered) at 3.1 [V31-DIFF-34].
#[test]
fn the_acl_drops_denied_publishes_and_refuses_subscriptions_mqtt_3_3_5_2() {
    let dir = TempDir::new("acl");
    let acl = "user alice\ntopic readwrite a/#\ntopic read r/#\n\nuser bob\ntopic readwrite #\n";
    let (_broker, address) = secured(&dir, Some(acl));
    let (mut alice, _) = Client::connect_with(address, with_credentials("a", "alice", b"wonder"));
    let (mut bob, _) = Client::connect_with(address, with_credentials("b", "bob", b"builder"));
    alice.subscribe("r/#", 1);
    bob.subscribe("#", 1);
    // alice may not write r/x: acknowledged, not delivered to anyone.
    alice.publish("r/x", b"no", 1, 1, false);
    assert_eq!(alice.recv(), Got::PubAck(1));
    bob.barrier();
    // bob may write r/x, and alice may read it.
    bob.publish("r/x", b"yes", 0, 0, false);
    assert!(matches!(alice.recv(), Got::Publish { ref payload, .. } if payload == b"yes"));
    assert!(matches!(bob.recv(), Got::Publish { ref payload, .. } if payload == b"yes"));
    // alice may not read b/...: refused with 0x80 at 3.1.1.
    let entries = [Subscription {
        filter: TopicFilter::new("b/#").expect("filter"),
        qos: QoS::AtLeastOnce,
    }];
    alice.send(Packet::Subscribe(Subscribe {
        packet_id: crate::client::id(5),
        filters: List::from_slice(&entries),
    }));
    assert_eq!(alice.recv(), Got::SubAck(5, vec![0x80]));
    // At 3.1 the same refusal is a granted code, and nothing arrives.
    let (mut old, _) = Client::connect_with(
        address,
        Connect {
            level: ProtocolLevel::Mqtt31,
            ..with_credentials("old", "alice", b"wonder")
        },
    );
    old.send(Packet::Subscribe(Subscribe {
        packet_id: crate::client::id(6),
        filters: List::from_slice(&entries),
    }));
    assert_eq!(old.recv(), Got::SubAck(6, vec![1]));
    bob.publish("b/1", b"secret", 0, 0, false);
    assert!(matches!(bob.recv(), Got::Publish { .. }));
    old.barrier();
    alice.barrier();
}

/// `reload` reads the password file again; connected clients stay connected.
#[test]
fn reload_applies_a_new_password_file_without_dropping_connections() {
    let dir = TempDir::new("reload");
    let (broker, address) = secured(&dir, None);
    let (mut alice, _) = Client::connect_with(address, with_credentials("a", "alice", b"wonder"));
    password_file(&dir, &[("alice", "changed")]);
    broker.reload().expect("reloads");
    let (_, code) = connack_code(address, with_credentials("a2", "alice", b"wonder"));
    assert_eq!(code, 4);
    let (_, code) = connack_code(address, with_credentials("a3", "alice", b"changed"));
    assert_eq!(code, 0);
    alice.barrier();
    // A damaged file is refused with its line, and the old settings stay.
    dir.file("passwords", "alice:plain\n");
    let error = broker.reload().expect_err("damaged file");
    assert!(error.contains("passwords:1:"), "{error}");
    let (_, code) = connack_code(address, with_credentials("a4", "alice", b"changed"));
    assert_eq!(code, 0);
}

/// mosquitto 2's default: once a configuration file has a `listener`, anonymous clients are refused
/// with CONNACK 5, not authorised (3.1 and 3.1.1 alike), unless it says `allow_anonymous true`.
#[test]
fn a_configured_listener_refuses_anonymous_clients_unless_allow_anonymous_true() {
    let refused =
        Config::parse("listener 0 127.0.0.1\nsys_interval 0\n", "l.conf").expect("parses");
    let (_broker, address) = broker_with(refused);
    for level in [ProtocolLevel::Mqtt31, ProtocolLevel::Mqtt311] {
        let (mut client, code) = connack_code(
            address,
            Connect {
                level,
                ..connect("anonymous", true)
            },
        );
        assert_eq!(code, 5, "{level:?}");
        client.expect_closed();
    }
    let open = Config::parse(
        "listener 0 127.0.0.1\nallow_anonymous true\nsys_interval 0\n",
        "l.conf",
    )
    .expect("parses");
    let (_broker, address) = broker_with(open);
    let (_client, code) = connack_code(address, connect("anonymous", true));
    assert_eq!(code, 0);
}

/// Without a listener configured (local-only mode) anonymous clients are let in, but only while
/// every listener is on loopback: a program that keeps `local_only` from `Config::default()` and
/// listens on every interface gets the safe default.
#[test]
fn anonymous_by_default_only_on_loopback() {
    let local = Config::parse("sys_interval 0\n", "l.conf").expect("parses");
    assert!(local.local_only);
    let (_broker, address) = broker_with(local);
    let (_client, code) = connack_code(address, connect("anonymous", true));
    assert_eq!(code, 0);

    let everywhere = mqtt_broker::Broker::start(Config {
        listeners: vec![std::net::SocketAddr::from(([0, 0, 0, 0], 0)).into()],
        sys_interval: Duration::ZERO,
        ..Config::default()
    })
    .expect("broker starts");
    let port = everywhere.local_addrs()[0].port();
    let (mut client, code) = connack_code(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        connect("anonymous", true),
    );
    assert_eq!(code, 5);
    client.expect_closed();
}

/// Asks for `filter` at QoS 1 and answers the SUBACK code.
fn suback_code(client: &mut Client, filter: &str) -> u8 {
    let entries = [Subscription {
        filter: TopicFilter::new(filter).expect("filter"),
        qos: QoS::AtLeastOnce,
    }];
    client.send(Packet::Subscribe(Subscribe {
        packet_id: crate::client::id(8),
        filters: List::from_slice(&entries),
    }));
    match client.recv() {
        Got::SubAck(8, codes) => codes[0],
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

/// An ACL line whose access word is a typo (`topic dney sensors/secret`) was read as a readwrite
/// rule on the topic `dney sensors/secret`, which left `sensors/secret` open. Now it stops the
/// start with `file:line`, and on reload the old rules stay, the error naming the line.
#[test]
fn an_acl_typo_refuses_the_start_and_a_reload_keeps_the_old_rules() {
    let dir = TempDir::new("acl-typo");
    let good = "user alice\ntopic readwrite sensors/#\ntopic deny sensors/secret\n";
    let typo = "user alice\ntopic readwrite sensors/#\ntopic dney sensors/secret\n";
    dir.file("typo.acl", typo);
    let refused = mqtt_broker::Broker::start(Config {
        listeners: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()],
        acl_file: Some(dir.0.join("typo.acl")),
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    match refused {
        Err(error @ mqtt_broker::StartError::Security(_)) => {
            let error = error.to_string();
            assert!(error.contains("typo.acl:3:"), "{error}");
            assert!(error.contains("dney"), "{error}");
        }
        other => panic!("expected a security error, got {:?}", other.map(|_| ())),
    }

    let (broker, address) = secured(&dir, Some(good));
    let (mut alice, _) = Client::connect_with(address, with_credentials("a", "alice", b"wonder"));
    assert_eq!(suback_code(&mut alice, "sensors/secret"), 0x80);
    dir.file("acl", typo);
    let error = broker.reload().expect_err("the typo is refused");
    assert!(error.contains("acl:3:"), "{error}");
    assert_eq!(
        suback_code(&mut alice, "sensors/secret"),
        0x80,
        "the old rules stay after the refused reload"
    );
    assert_eq!(suback_code(&mut alice, "sensors/open"), 1);
}

/// A filter that read rules cover only in part is granted, as mosquitto grants it, and each
/// delivery (retained ones too) is filtered by `read`: alice, who may read `a/b/#` only, subscribes
/// `#` (what `mosquitto_sub -t '#'` does) and gets `a/b/...` and nothing else. A filter no read rule
/// could match is still refused with 0x80.
#[test]
fn a_partly_covered_filter_is_granted_and_filtered_per_delivery() {
    let dir = TempDir::new("acl-partial");
    let acl = "user alice\ntopic read a/b/#\n\nuser bob\ntopic readwrite #\n";
    let (_broker, address) = secured(&dir, Some(acl));
    let (mut bob, _) = Client::connect_with(address, with_credentials("b", "bob", b"builder"));
    bob.publish("a/b/kept", b"retained-ok", 1, 1, true);
    assert_eq!(bob.recv(), Got::PubAck(1));
    bob.publish("a/c/kept", b"retained-secret", 1, 2, true);
    assert_eq!(bob.recv(), Got::PubAck(2));
    let (mut alice, _) = Client::connect_with(address, with_credentials("a", "alice", b"wonder"));
    assert_eq!(
        suback_code(&mut alice, "#"),
        1,
        "granted, as mosquitto does"
    );
    // Of the retained messages only the readable one arrives.
    match alice.recv() {
        Got::Publish { topic, payload, .. } => {
            assert_eq!(
                (topic.as_str(), payload.as_slice()),
                ("a/b/kept", &b"retained-ok"[..])
            );
        }
        other => panic!("expected the readable retained message, got {other:?}"),
    }
    for (topic, payload) in [("a/c", "secret"), ("a/b/1", "ok-1"), ("z", "secret")] {
        bob.publish(topic, payload.as_bytes(), 0, 0, false);
    }
    bob.barrier();
    match alice.recv() {
        Got::Publish { topic, payload, .. } => {
            assert_eq!(
                (topic.as_str(), payload.as_slice()),
                ("a/b/1", &b"ok-1"[..])
            );
        }
        other => panic!("expected a/b/1 only, got {other:?}"),
    }
    // Nothing else was delivered: the barrier's PINGRESP is next.
    alice.barrier();
    assert_eq!(
        suback_code(&mut alice, "a/c/#"),
        0x80,
        "no read rule could match"
    );
    assert_eq!(suback_code(&mut alice, "a/+/x"), 1, "a/b/x is readable");
}

/// `check_retain_source` (on by default, as in mosquitto): once the ACL no longer lets a retained
/// message's publisher publish to its topic, the message is not given to new subscribers; off,
/// it still is. The publisher is remembered across a restart too (see `persistence.rs`'s tests of
/// the record).
#[test]
fn check_retain_source_withholds_what_a_publisher_may_no_longer_publish() {
    for check in [true, false] {
        let dir = TempDir::new("retain-source");
        let allowed = "user alice\ntopic readwrite news/#\nuser bob\ntopic read news/#\n";
        let acl = dir.file("acl", allowed);
        let (broker, address) = broker_with(Config {
            password_file: Some(password_file(
                &dir,
                &[("alice", "wonder"), ("bob", "builder")],
            )),
            acl_file: Some(acl.clone()),
            check_retain_source: check,
            sys_interval: Duration::ZERO,
            ..Config::default()
        });
        let (mut alice, _) =
            Client::connect_with(address, with_credentials("alice", "alice", b"wonder"));
        alice.publish("news/today", b"kept", 1, 1, true);
        assert_eq!(alice.recv(), Got::PubAck(1));
        alice.disconnect();
        let retained_for_bob = |name: &str| {
            let (mut bob, _) =
                Client::connect_with(address, with_credentials(name, "bob", b"builder"));
            bob.subscribe("news/#", 0);
            bob.send(Packet::PingReq);
            let got = bob.recv();
            if got != Got::PingResp {
                assert_eq!(bob.recv(), Got::PingResp, "one retained message at most");
            }
            bob.disconnect();
            got
        };
        assert!(
            matches!(retained_for_bob("bob-1"), Got::Publish { ref payload, .. } if payload == b"kept"),
            "while alice may publish there"
        );
        // alice loses write access; the reload keeps the retained message.
        std::fs::write(
            &acl,
            "user alice\ntopic read news/#\nuser bob\ntopic read news/#\n",
        )
        .expect("new ACL");
        broker.reload().expect("reloads");
        let got = retained_for_bob("bob-2");
        if check {
            assert_eq!(
                got,
                Got::PingResp,
                "withheld once alice may not publish there"
            );
        } else {
            assert!(
                matches!(got, Got::Publish { ref payload, .. } if payload == b"kept"),
                "check_retain_source false: delivered whatever the ACL says now, got {got:?}"
            );
        }
        broker.shutdown();
    }
}

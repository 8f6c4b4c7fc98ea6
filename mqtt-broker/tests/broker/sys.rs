//! The `$SYS` hierarchy.

use std::time::Duration;

use mqtt_broker::Config;

use crate::client::{Client, Got, broker_with};

/// `$SYS/broker/version` and `$SYS/broker/clients/connected` are published retained.
#[test]
fn sys_topics_are_published_retained() {
    let (_broker, address) = broker_with(Config {
        sys_interval: Duration::from_secs(1),
        ..Config::default()
    });
    let (mut client, _) = Client::connect(address, "sys", true);
    // The first `$SYS` publication races with this subscription: a copy published after it arrives
    // live, without RETAIN [MQTT-3.3.1-9]. Subscribing again then re-sends the retained copy, with
    // RETAIN set [MQTT-3.8.4-3] [MQTT-3.3.1-8].
    let mut retained = false;
    for _ in 0..2 {
        client.subscribe("$SYS/broker/version", 0);
        match client.recv() {
            Got::Publish {
                topic,
                payload,
                retain,
                ..
            } => {
                assert_eq!(topic, "$SYS/broker/version");
                assert!(payload.starts_with(b"mqtt-broker version"));
                if retain {
                    retained = true;
                    break;
                }
            }
            other => panic!("expected the version, got {other:?}"),
        }
    }
    assert!(retained, "the version was never sent as a retained message");
    client.subscribe("$SYS/broker/clients/connected", 0);
    // Published before or after this client connected: 0 or 1, then 1 at the next refresh.
    loop {
        match client.recv() {
            Got::Publish { payload, .. } if payload == b"1" => break,
            Got::Publish { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Every topic of mosquitto 2.0's $SYS tree (`man mosquitto`, "Broker Status", and what 2.0.11
/// publishes to `mosquitto_sub -t '$SYS/#' -v`) bar the per-bridge `connection/<id>/state` (tested
/// in bridge.rs), with true values: the payload bytes published, the messages held (retained plus
/// queued for an offline session), sockets accepted. `heap/*` is resident memory (see README,
/// "$SYS"), present on Linux.
#[test]
fn every_mosquitto_sys_topic_is_published_with_true_values() {
    const MOSQUITTO_TOPICS: &[&str] = &[
        "bytes/received",
        "bytes/sent",
        "clients/active",
        "clients/connected",
        "clients/disconnected",
        "clients/expired",
        "clients/inactive",
        "clients/maximum",
        "clients/total",
        "messages/inflight",
        "messages/received",
        "messages/sent",
        "messages/stored",
        "publish/bytes/received",
        "publish/bytes/sent",
        "publish/messages/dropped",
        "publish/messages/received",
        "publish/messages/sent",
        "retained messages/count",
        "shared_subscriptions/count",
        "store/messages/bytes",
        "store/messages/count",
        "subscriptions/count",
        "uptime",
        "version",
    ];
    const LOADS: &[&str] = &[
        "bytes/received",
        "bytes/sent",
        "connections",
        "messages/received",
        "messages/sent",
        "publish/dropped",
        "publish/received",
        "publish/sent",
        "sockets",
    ];
    let (_broker, address) = broker_with(Config {
        sys_interval: Duration::from_secs(1),
        ..Config::default()
    });
    // An offline persistent session with three 4-byte messages queued for it.
    let (mut offline, _) = Client::connect(address, "sys-offline", false);
    offline.subscribe("q/#", 1);
    offline.disconnect();
    let (mut publisher, _) = Client::connect(address, "sys-pub", true);
    for id in 1..=3 {
        publisher.publish("q/1", b"abcd", 1, id, false);
        assert_eq!(publisher.recv(), Got::PubAck(id));
    }
    let (mut watcher, _) = Client::connect(address, "sys-watch", true);
    watcher.subscribe("$SYS/#", 0);
    let mut expected: Vec<String> = MOSQUITTO_TOPICS
        .iter()
        .map(|topic| format!("$SYS/broker/{topic}"))
        .collect();
    if cfg!(target_os = "linux") {
        expected.push("$SYS/broker/heap/current".into());
        expected.push("$SYS/broker/heap/maximum".into());
    }
    for load in LOADS {
        for window in ["1min", "5min", "15min"] {
            expected.push(format!("$SYS/broker/load/{load}/{window}"));
        }
    }
    let mut latest = std::collections::HashMap::<String, String>::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let number = |latest: &std::collections::HashMap<String, String>, topic: &str| {
        latest
            .get(&format!("$SYS/broker/{topic}"))
            .and_then(|value| value.parse::<f64>().ok())
    };
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "not all true within 30 s: missing {:?}, have {latest:?}",
            expected
                .iter()
                .filter(|topic| !latest.contains_key(*topic))
                .collect::<Vec<_>>()
        );
        if let Got::Publish { topic, payload, .. } = watcher.recv() {
            latest.insert(topic, String::from_utf8(payload).expect("text payload"));
        }
        let all_there = expected.iter().all(|topic| latest.contains_key(topic));
        let held = number(&latest, "store/messages/count")
            .zip(number(&latest, "retained messages/count"))
            .is_some_and(|(stored, retained)| stored - retained == 3.0);
        let settled = all_there
            && held
            && number(&latest, "publish/bytes/received") == Some(12.0)
            && number(&latest, "messages/stored") == number(&latest, "store/messages/count")
            && number(&latest, "clients/active") == number(&latest, "clients/connected")
            && number(&latest, "clients/inactive") == Some(1.0)
            && number(&latest, "clients/expired") == Some(0.0)
            && number(&latest, "load/sockets/1min").is_some_and(|load| load > 0.0);
        if settled {
            break;
        }
    }
    // The queued payloads are part of the bytes held.
    assert!(number(&latest, "store/messages/bytes").is_some_and(|bytes| bytes >= 12.0));
}

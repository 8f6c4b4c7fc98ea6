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

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
            assert!(retain);
        }
        other => panic!("expected the version, got {other:?}"),
    }
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

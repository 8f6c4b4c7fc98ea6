//! Connection limits: refusal with CONNACK 3.

use std::time::Duration;

use mqtt_broker::Config;

use crate::client::{Client, Got, broker_with, connect};

/// Over `max_connections`, a client gets CONNACK 3 (server unavailable) and the connection closes;
/// once a client leaves, a new one is accepted.
#[test]
fn over_max_connections_gets_connack_3() {
    let (_broker, address) = broker_with(Config {
        max_connections: Some(2),
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (first, _) = Client::connect(address, "one", true);
    let (_second, _) = Client::connect(address, "two", true);
    let mut third = Client::open(address);
    third.send(mqtt_codec::Packet::Connect(connect("three", true)));
    assert_eq!(
        third.recv(),
        Got::ConnAck {
            session_present: false,
            code: 3
        }
    );
    third.expect_closed();
    first.disconnect();
    // The slot is freed when the first connection's thread ends; retry until it has.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = Client::open(address);
        again.send(mqtt_codec::Packet::Connect(connect("four", true)));
        match again.recv() {
            Got::ConnAck { code: 0, .. } => break,
            Got::ConnAck { code: 3, .. } if std::time::Instant::now() < deadline => continue,
            other => panic!("expected CONNACK 0 after a client left, got {other:?}"),
        }
    }
}

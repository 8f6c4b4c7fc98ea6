//! Keep-alive: PINGREQ answered, silence punished at 1.5 times the interval.

use std::time::Instant;

use mqtt_codec::Connect;

use crate::client::{Client, Got, broker, connect_with_will, publish};

/// PINGREQ is answered PINGRESP [MQTT-3.12.4-1].
#[test]
fn pingreq_gets_pingresp_mqtt_3_12_4_1() {
    let (_broker, address) = broker();
    let (mut client, _) = Client::connect(address, "p", true);
    client.send(mqtt_codec::Packet::PingReq);
    assert_eq!(client.recv(), Got::PingResp);
}

/// A client silent for 1.5 times its keep-alive is disconnected and its Will published
/// [MQTT-3.1.2-24].
#[test]
fn silence_for_one_and_a_half_keep_alives_closes_mqtt_3_1_2_24() {
    let (_broker, address) = broker();
    let (mut watcher, _) = Client::connect(address, "watcher", true);
    watcher.subscribe("w", 0);
    let started = Instant::now();
    let (mut silent, _) = Client::connect_with(
        address,
        Connect {
            keep_alive: 1,
            ..connect_with_will("silent", "w", b"timeout", 0, false)
        },
    );
    silent.expect_closed();
    assert!(
        started.elapsed().as_millis() >= 1400,
        "closed too early: {:?}",
        started.elapsed()
    );
    assert_eq!(
        watcher.recv(),
        publish("w", b"timeout", 0, None, false, false)
    );
}

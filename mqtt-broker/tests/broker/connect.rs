//! CONNECT and CONNACK: both protocol levels, client identifiers, ordering rules, take-over.

use std::time::Duration;

use mqtt_broker::Config;
use mqtt_codec::{Packet, ProtocolLevel};

use crate::client::{Client, Got, broker, broker_with, connect};

/// CONNECT at 3.1.1 and at 3.1 on the same listener, each answered CONNACK 0 [MQTT-3.1.4-4]; the 3.1
/// CONNACK has no Session Present bit [V31-DIFF-7].
#[test]
fn both_levels_on_one_listener_mqtt_3_1_4_4() {
    let (_broker, address) = broker();
    let (_v311, present) = Client::connect(address, "v311", true);
    assert!(!present); // [MQTT-3.2.2-1]
    // MQIsdp level 3, clean session, keep-alive 0, client id "v31".
    let mut v31 = Client::open(address);
    v31.send_raw(&[
        0x10, 0x11, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x00, 0x00,
        0x03, b'v', b'3', b'1',
    ]);
    assert_eq!(
        v31.recv(),
        Got::ConnAck {
            session_present: false,
            code: 0
        }
    );
}

/// An unsupported protocol level (6: no MQTT has it; 5 is 5.0, see `mqtt5.rs`) gets CONNACK 1,
/// then the connection closes [MQTT-3.1.2-2].
#[test]
fn unsupported_level_gets_connack_1_then_close_mqtt_3_1_2_2() {
    let (_broker, address) = broker();
    let mut client = Client::open(address);
    client.send_raw(&[
        0x10, 0x0D, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x06, 0x02, 0x00, 0x00, 0x00, 0x01, b'c',
    ]);
    assert_eq!(
        client.recv(),
        Got::ConnAck {
            session_present: false,
            code: 1
        }
    );
    client.expect_closed();
}

/// A first packet other than CONNECT closes the connection without a CONNACK [MQTT-3.1.0-1].
#[test]
fn first_packet_must_be_connect_mqtt_3_1_0_1() {
    let (_broker, address) = broker();
    let mut client = Client::open(address);
    client.send(Packet::PingReq);
    client.expect_closed();
}

/// A second CONNECT is a protocol violation: the connection is closed [MQTT-3.1.0-2].
#[test]
fn second_connect_closes_mqtt_3_1_0_2() {
    let (_broker, address) = broker();
    let (mut client, _) = Client::connect(address, "twice", true);
    client.send(Packet::Connect(connect("twice", true)));
    client.expect_closed();
}

/// A CONNECT with the client id of a connected client disconnects the older one [MQTT-3.1.4-2].
#[test]
fn takeover_disconnects_the_older_connection_mqtt_3_1_4_2() {
    let (_broker, address) = broker();
    let (mut old, _) = Client::connect(address, "same", true);
    let (mut new, _) = Client::connect(address, "same", true);
    old.expect_closed();
    new.barrier();
}

/// An empty client id with a clean session at 3.1.1 is accepted with an assigned id [MQTT-3.1.3-6].
#[test]
fn empty_client_id_is_assigned_one_mqtt_3_1_3_6() {
    let (_broker, address) = broker();
    let (mut client, present) = Client::connect(address, "", true);
    assert!(!present);
    client.barrier();
}

/// An empty client id with CleanSession 0 gets CONNACK 2, then close [MQTT-3.1.3-8] [MQTT-3.2.2-5].
#[test]
fn empty_client_id_with_persistent_session_is_rejected_mqtt_3_1_3_8() {
    let (_broker, address) = broker();
    let mut client = Client::open(address);
    client.send(Packet::Connect(connect("", false)));
    assert_eq!(
        client.recv(),
        Got::ConnAck {
            session_present: false,
            code: 2
        }
    );
    client.expect_closed();
}

/// MQTT 3.1 refuses an empty client id with CONNACK 2 [V31-DIFF-6].
#[test]
fn mqtt_3_1_empty_client_id_is_rejected_v31_diff_6() {
    let (_broker, address) = broker();
    let mut client = Client::open(address);
    let mut packet = connect("", true);
    packet.level = ProtocolLevel::Mqtt31;
    client.send(Packet::Connect(packet));
    assert_eq!(
        client.recv(),
        Got::ConnAck {
            session_present: false,
            code: 2
        }
    );
    client.expect_closed();
}

/// A connection that sends no CONNECT within `connect_timeout` is closed [MQTT-3.1.0-1].
#[test]
fn connect_timeout_closes_a_silent_connection_mqtt_3_1_0_1() {
    let (_broker, address) = broker_with(Config {
        connect_timeout: Duration::from_secs(1),
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let mut client = Client::open(address);
    client.expect_closed();
}

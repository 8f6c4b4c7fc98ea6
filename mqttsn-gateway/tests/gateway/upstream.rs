//! The MQTT level the gateway speaks to its broker: 3.1.1 (protocol name "MQTT", level 4) on every
//! connection it opens, its own and, in front of a transparent gateway, each node's. A raw TCP
//! listener plays the broker, so the test reads the CONNECT bytes as they arrive rather than
//! trusting a broker that would also accept another level. Why 3.1.1: README, "Decisions".

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use crossbeam_channel::Receiver;
use mqttsn_gateway::{Gateway, GatewayHandle, GatewayKind};

use crate::support::*;

/// A broker that accepts every CONNECT with CONNACK 0 and reports each CONNECT's bytes. The
/// streams are kept open for as long as the listener thread lives (the test's process).
fn raw_broker() -> (u16, Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = listener.local_addr().expect("an address").port();
    let (tx, rx) = crossbeam_channel::unbounded();
    thread::spawn(move || {
        let mut open: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(connect) = read_packet(&mut stream) else {
                continue;
            };
            // CONNACK, session present 0, return code 0 [MQTT-3.2.2-3].
            let _ = stream.write_all(&[0x20, 0x02, 0x00, 0x00]);
            if tx.send(connect).is_err() {
                return;
            }
            open.push(stream);
        }
    });
    (port, rx)
}

/// One whole packet: the fixed header and the body its Remaining Length announces.
fn read_packet(stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    let mut packet = vec![0u8; 1];
    stream.read_exact(&mut packet).ok()?;
    let (mut length, mut shift) = (0usize, 0);
    loop {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).ok()?;
        packet.push(byte[0]);
        length |= usize::from(byte[0] & 0x7f) << shift;
        shift += 7;
        if byte[0] & 0x80 == 0 || shift > 21 {
            break;
        }
    }
    let header = packet.len();
    packet.resize(header + length, 0);
    stream.read_exact(&mut packet[header..]).ok()?;
    Some(packet)
}

/// Asserts that `packet` is a CONNECT at MQTT 3.1.1: type 1, protocol name "MQTT", level 4 (3.1
/// would be "MQIsdp" and 3, 5.0 "MQTT" and 5). Answers the client id, to tell the connections
/// apart.
fn assert_connect_at_3_1_1(packet: &[u8]) -> String {
    assert_eq!(packet[0], 0x10, "a CONNECT: {packet:02x?}");
    let body = &packet[2..];
    assert_eq!(&body[..6], b"\x00\x04MQTT", "protocol name: {packet:02x?}");
    assert_eq!(
        body[6], 4,
        "protocol level 4 (3.1.1), not 3 (3.1) or 5: {packet:02x?}"
    );
    // Then the flags, the keep-alive, and the client id as the payload's first string.
    let id_length = usize::from(u16::from_be_bytes([body[10], body[11]]));
    String::from_utf8_lossy(&body[12..12 + id_length]).into_owned()
}

fn next_connect(connects: &Receiver<Vec<u8>>) -> Vec<u8> {
    connects
        .recv_timeout(PATIENCE)
        .expect("a CONNECT within the test's patience")
}

/// A gateway of `kind` in front of a raw broker, once its own CONNECT was checked and its
/// connection is up; and the raw broker's later CONNECTs.
fn gateway_at_raw_broker(kind: GatewayKind) -> (GatewayHandle, Receiver<Vec<u8>>) {
    let (port, connects) = raw_broker();
    // Started directly, not by `gateway_with`, so that a wrong level fails on the bytes below
    // rather than as a connection that never comes up.
    let gateway = Gateway::start(config(port, kind)).expect("the gateway starts");
    let own = assert_connect_at_3_1_1(&next_connect(&connects));
    assert!(
        own.starts_with("gw-test-"),
        "the gateway's own client id: {own}"
    );
    wait_until("the gateway's broker connection", || {
        gateway.stats().is_some_and(|s| s.broker_connected)
    });
    (gateway, connects)
}

#[test]
fn the_gateways_own_connection_is_mqtt_3_1_1_aggregating() {
    let (gateway, _connects) = gateway_at_raw_broker(GatewayKind::Aggregating);
    gateway.shutdown();
}

#[test]
fn each_nodes_connection_is_mqtt_3_1_1_transparent() {
    let (gateway, connects) = gateway_at_raw_broker(GatewayKind::Transparent);
    let node = sn_client(&gateway, "node-level");
    // The node's own MQTT connection carries its client id [SN-4.1-1].
    let id = assert_connect_at_3_1_1(&next_connect(&connects));
    assert_eq!(id, "node-level");
    drop(node);
    gateway.shutdown();
}

//! MQTT over WebSocket (`protocol websockets`): a small RFC 6455 client written here sends masked
//! frames cut wherever a test wants, over plain TCP (ws) and rustls (wss). It checks the upgrade and
//! the subprotocol, packets split across frames and packed into one, the refusal of text frames,
//! bad handshakes and plain HTTP, pings and closes, and a real client: paho-mqtt over WebSocket.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mqtt_broker::{Broker, BrokerHandle, Config, ListenerSettings, TlsSettings};
use mqtt_codec::{
    Decoder, Delivery, List, Packet, ProtocolLevel, Publish, QoS, Status, Subscribe, Subscription,
    TopicFilter, TopicName,
};

use crate::client::{self, Client, Got, WAIT};
use crate::tls::Certificates;

/// A broker with one plain TCP listener and one WebSocket listener (wss with `tls`).
fn ws_broker(tls: Option<TlsSettings>) -> (BrokerHandle, SocketAddr, SocketAddr) {
    let broker = Broker::start(Config {
        listeners: vec![
            SocketAddr::from(([127, 0, 0, 1], 0)).into(),
            ListenerSettings::websocket(SocketAddr::from(([127, 0, 0, 1], 0)), tls),
        ],
        sys_interval: Duration::ZERO,
        ..Config::default()
    })
    .expect("broker starts");
    let (tcp, ws) = (broker.local_addrs()[0], broker.local_addrs()[1]);
    (broker, tcp, ws)
}

/// The opening request, with the RFC 6455 §1.3 key (whose answer is known) and `protocols` offered.
pub(crate) fn upgrade_request(protocols: &str) -> String {
    format!(
        "GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\n\r\n"
    )
}

/// Sends `request` and reads the response head (up to the empty line).
fn http_exchange(stream: &mut impl ReadWrite, request: &str) -> String {
    stream.write_all(request.as_bytes()).expect("write request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "response ended after {:?}: {other:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8(head).expect("the response head is text")
}

/// A 3.1.1 SUBSCRIBE (packet id 99) to one filter, encoded.
fn subscribe_bytes(filter: &str, qos: u8) -> Vec<u8> {
    let entries = [Subscription {
        filter: TopicFilter::new(filter).expect("filter"),
        qos: QoS::from_bits(qos).expect("qos"),
    }];
    encode(Packet::Subscribe(Subscribe {
        packet_id: client::id(99),
        filters: List::from_slice(&entries),
    }))
}

/// A 3.1.1 PUBLISH, encoded.
fn publish_bytes(topic: &str, payload: &[u8], qos: u8, packet_id: u16) -> Vec<u8> {
    encode(Packet::Publish(Publish {
        topic: TopicName::new(topic).expect("topic"),
        payload,
        delivery: Delivery::new(
            QoS::from_bits(qos).expect("qos"),
            client::id(packet_id),
            false,
        ),
        retain: false,
    }))
}

fn encode(packet: Packet<'_>) -> Vec<u8> {
    let mut bytes = Vec::new();
    packet
        .encode(ProtocolLevel::Mqtt311, &mut bytes)
        .expect("encodes");
    bytes
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A WebSocket MQTT client over any byte stream.
struct WsClient<S: ReadWrite> {
    stream: S,
    /// Bytes read and not yet parsed into frames.
    raw: Vec<u8>,
    /// Binary payloads received and not yet decoded into packets.
    mqtt: Vec<u8>,
    level: ProtocolLevel,
}

/// A frame from the server.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ServerFrame {
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
}

impl<S: ReadWrite> WsClient<S> {
    /// Upgrades `stream`, offering `protocols`; checks the 101 answer and returns the subprotocol.
    fn upgrade(mut stream: S, protocols: &str) -> (Self, String) {
        let head = http_exchange(&mut stream, &upgrade_request(protocols));
        assert!(
            head.starts_with("HTTP/1.1 101 "),
            "expected 101, got {head}"
        );
        // RFC 6455 §1.3's example: the server proves it read the key.
        assert!(
            head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{head}"
        );
        let protocol = head
            .lines()
            .find_map(|line| line.strip_prefix("Sec-WebSocket-Protocol: "))
            .expect("a subprotocol is returned")
            .to_owned();
        let client = Self {
            stream,
            raw: Vec::new(),
            mqtt: Vec::new(),
            level: ProtocolLevel::Mqtt311,
        };
        (client, protocol)
    }

    /// Sends one masked frame (the mask varies, as a browser's does).
    fn send_frame(&mut self, first: u8, payload: &[u8]) {
        let mask = [0x37, payload.len() as u8, 0xA5, first];
        let mut frame = vec![first];
        match payload.len() {
            0..=125 => frame.push(0x80 | payload.len() as u8),
            126..=0xFFFF => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            _ => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).expect("write frame");
    }

    /// Sends `packets` in one binary frame.
    fn send(&mut self, packets: &[Packet<'_>]) {
        let bytes = self.encode(packets);
        self.send_frame(0x82, &bytes);
    }

    fn encode(&self, packets: &[Packet<'_>]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for packet in packets {
            packet.encode(self.level, &mut bytes).expect("encodes");
        }
        bytes
    }

    /// The next frame from the server, or `None` at the end of the stream.
    fn recv_frame(&mut self) -> Option<ServerFrame> {
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.raw) {
                self.raw.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(count) => self.raw.extend_from_slice(&chunk[..count]),
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return None,
                Err(error) => panic!("no frame within {WAIT:?}: {error}"),
            }
        }
    }

    /// The next MQTT packet, whatever the frames it came in.
    fn recv(&mut self) -> Got {
        loop {
            let decoder = Decoder::new(self.level);
            match decoder.decode(&self.mqtt) {
                Ok(Status::Complete((packet, used))) => {
                    let got = client::owned(&packet);
                    self.mqtt.drain(..used);
                    return got;
                }
                Ok(Status::Partial) => {}
                Err(error) => panic!("malformed packet from the broker: {error}"),
            }
            match self.recv_frame() {
                Some(ServerFrame::Binary(payload)) => self.mqtt.extend_from_slice(&payload),
                other => panic!("expected a binary frame, got {other:?}"),
            }
        }
    }

    fn connect(&mut self, client_id: &str) {
        self.send(&[Packet::Connect(client::connect(client_id, true))]);
        assert_eq!(
            self.recv(),
            Got::ConnAck {
                session_present: false,
                code: 0
            }
        );
    }
}

/// Parses one unmasked server frame at the start of `raw`.
pub(crate) fn parse_server_frame(raw: &[u8]) -> Option<(ServerFrame, usize)> {
    let [first, second, ..] = *raw else {
        return None;
    };
    assert_eq!(first & 0x70, 0, "no reserved bits");
    assert_eq!(first & 0x80, 0x80, "the server does not fragment");
    assert_eq!(
        second & 0x80,
        0,
        "server frames are not masked (RFC 6455 §5.1)"
    );
    let (length, at) = match second & 0x7F {
        126 => (
            usize::from(u16::from_be_bytes(raw.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (
            u64::from_be_bytes(raw.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        short => (usize::from(short), 2),
    };
    let payload = raw.get(at..at + length)?.to_vec();
    let frame = match first & 0x0F {
        0x2 => ServerFrame::Binary(payload),
        0xA => ServerFrame::Pong(payload),
        0x8 => ServerFrame::Close(
            payload
                .get(..2)
                .map(|code| u16::from_be_bytes([code[0], code[1]])),
        ),
        other => panic!("unexpected opcode {other:#x}"),
    };
    Some((frame, at + length))
}

fn ws_connect(address: SocketAddr) -> WsClient<TcpStream> {
    let stream = TcpStream::connect(address).expect("connects");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let (client, protocol) = WsClient::upgrade(stream, "mqtt");
    assert_eq!(protocol, "mqtt");
    client
}

/// A subscriber over WebSocket receives what a TCP client and a WebSocket client publish, and a
/// TCP subscriber what a WebSocket client publishes: the same broker, whatever the transport. The
/// large payload needs the 64-bit frame length.
#[test]
fn ws_and_tcp_clients_exchange_messages_mqtt_6_0_0_4() {
    let (_broker, tcp, ws) = ws_broker(None);
    let mut subscriber = ws_connect(ws);
    subscriber.connect("ws-sub");
    subscriber.send_frame(0x82, &subscribe_bytes("t/#", 1));
    assert_eq!(subscriber.recv(), Got::SubAck(99, vec![1]));
    let (mut tcp_subscriber, _) = Client::connect(tcp, "tcp-sub", true);
    tcp_subscriber.subscribe("t/#", 0);

    let (mut tcp_publisher, _) = Client::connect(tcp, "tcp-pub", true);
    tcp_publisher.publish("t/from-tcp", b"hello", 1, 1, false);
    assert_eq!(tcp_publisher.recv(), Got::PubAck(1));
    let mut publisher = ws_connect(ws);
    publisher.connect("ws-pub");
    let large = vec![0x5A; 100_000];
    publisher.send_frame(0x82, &publish_bytes("t/from-ws", &large, 1, 7));
    assert_eq!(publisher.recv(), Got::PubAck(7));

    for (topic, payload) in [("t/from-tcp", &b"hello"[..]), ("t/from-ws", &large)] {
        match subscriber.recv() {
            Got::Publish {
                topic: got,
                payload: body,
                qos: 1,
                ..
            } => assert_eq!((got.as_str(), body.as_slice()), (topic, payload)),
            other => panic!("expected {topic}, got {other:?}"),
        }
    }
    for topic in ["t/from-tcp", "t/from-ws"] {
        assert!(
            matches!(tcp_subscriber.recv(), Got::Publish { topic: got, .. } if got == topic),
            "{topic}"
        );
    }
}

/// A packet may be cut across frames, even a fragmented message's continuation frames with a ping
/// between them, and one frame may carry several packets [MQTT-6.0.0-2].
#[test]
fn packets_split_across_frames_and_packed_into_one_mqtt_6_0_0_2() {
    let (_broker, _, ws) = ws_broker(None);
    let mut client = ws_connect(ws);
    let connect = client.encode(&[Packet::Connect(client::connect("split", true))]);
    // One byte per frame: a fragmented binary message (FIN clear, then continuations).
    let (last, rest) = connect.split_last().expect("not empty");
    for (index, byte) in rest.iter().enumerate() {
        let first = if index == 0 { 0x02 } else { 0x00 };
        client.send_frame(first, &[*byte]);
        if index == 3 {
            client.send_frame(0x89, b"mid"); // a control frame between fragments (§5.4)
        }
    }
    client.send_frame(0x80, &[*last]);
    assert_eq!(
        client.recv_frame(),
        Some(ServerFrame::Pong(b"mid".to_vec()))
    );
    assert_eq!(
        client.recv(),
        Got::ConnAck {
            session_present: false,
            code: 0
        }
    );
    // SUBSCRIBE, PUBLISH and PINGREQ in one frame, then the half of a PINGREQ in each of two.
    let packed = [
        subscribe_bytes("s", 0),
        publish_bytes("s", b"packed", 0, 1),
        encode(Packet::PingReq),
    ]
    .concat();
    client.send_frame(0x82, &packed);
    assert_eq!(client.recv(), Got::SubAck(99, vec![0]));
    assert!(matches!(client.recv(), Got::Publish { payload, .. } if payload == b"packed"));
    assert_eq!(client.recv(), Got::PingResp);
    client.send_frame(0x82, &[0xC0]);
    client.send_frame(0x82, &[0x00]);
    assert_eq!(client.recv(), Got::PingResp);
}

/// A text frame closes the connection with close code 1003 [MQTT-6.0.0-1]; it ended without
/// DISCONNECT, so the Will is published.
#[test]
fn a_text_frame_closes_the_connection_and_the_will_goes_out_mqtt_6_0_0_1() {
    let (_broker, tcp, ws) = ws_broker(None);
    let (mut watcher, _) = Client::connect(tcp, "watcher", true);
    watcher.subscribe("will/ws", 0);
    let mut client = ws_connect(ws);
    client.send(&[Packet::Connect(client::connect_with_will(
        "texter", "will/ws", b"gone", 0, false,
    ))]);
    assert!(matches!(client.recv(), Got::ConnAck { code: 0, .. }));
    client.send_frame(0x81, b"{\"cmd\":\"publish\"}");
    assert_eq!(client.recv_frame(), Some(ServerFrame::Close(Some(1003))));
    assert_eq!(client.recv_frame(), None);
    assert!(matches!(watcher.recv(), Got::Publish { payload, .. } if payload == b"gone"));
}

/// A ping is answered with a pong carrying its payload (RFC 6455 §5.5.2); the client's close is
/// answered with a close, and the connection ends; after DISCONNECT the broker closes with 1000.
#[test]
fn pings_are_answered_and_closes_are_returned() {
    let (_broker, _, ws) = ws_broker(None);
    let mut client = ws_connect(ws);
    client.connect("pinger");
    client.send_frame(0x89, b"are you there");
    assert_eq!(
        client.recv_frame(),
        Some(ServerFrame::Pong(b"are you there".to_vec()))
    );
    client.send_frame(0x88, &1000u16.to_be_bytes());
    assert_eq!(client.recv_frame(), Some(ServerFrame::Close(Some(1000))));
    assert_eq!(client.recv_frame(), None);

    let mut client = ws_connect(ws);
    client.connect("leaver");
    client.send(&[Packet::Disconnect]);
    assert_eq!(client.recv_frame(), Some(ServerFrame::Close(Some(1000))));
    assert_eq!(client.recv_frame(), None);
}

/// WebSocket pings are not MQTT packets: a client that sends only pings is still disconnected
/// after 1.5 times its keep-alive [MQTT-3.1.2-24] (its Will proves the broker, not the client,
/// ended it).
#[test]
fn websocket_pings_do_not_keep_an_mqtt_session_alive_mqtt_3_1_2_24() {
    let (_broker, tcp, ws) = ws_broker(None);
    let (mut watcher, _) = Client::connect(tcp, "keepalive-watcher", true);
    watcher.subscribe("will/pinger", 0);
    let mut client = ws_connect(ws);
    let connect = mqtt_codec::Connect {
        keep_alive: 1,
        ..client::connect_with_will("only-pings", "will/pinger", b"expired", 0, false)
    };
    client.send(&[Packet::Connect(connect)]);
    assert!(matches!(client.recv(), Got::ConnAck { code: 0, .. }));
    // A ping every 200 ms, each answered, until the broker closes (1.5 s in; bounded at 5 s).
    let started = std::time::Instant::now();
    loop {
        client.send_frame(0x89, b"still here");
        match client.recv_frame() {
            Some(ServerFrame::Pong(_)) => {}
            Some(ServerFrame::Close(_)) | None => break,
            other => panic!("unexpected {other:?}"),
        }
        assert!(started.elapsed() < WAIT, "pings kept the connection open");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(matches!(watcher.recv(), Got::Publish { payload, .. } if payload == b"expired"));
}

/// Requests that are not an MQTT WebSocket upgrade get HTTP 400 with the reason (a plain page
/// request, a subprotocol other than `mqtt`), 426 for another WebSocket version; the listener keeps
/// serving good clients.
#[test]
fn bad_upgrades_and_plain_http_are_refused_with_an_http_status() {
    let (_broker, _, ws) = ws_broker(None);
    let wrong_version =
        upgrade_request("mqtt").replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
    for (request, status, reason) in [
        (
            "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
            "400",
            "Upgrade: websocket",
        ),
        (upgrade_request("chat, superchat"), "400", "chat"),
        (wrong_version, "426", "version 8"),
    ] {
        let mut stream = TcpStream::connect(ws).expect("connects");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let head = http_exchange(&mut stream, &request);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request}: {head}"
        );
        let mut body = String::new();
        let _ = stream.read_to_string(&mut body);
        assert!(body.contains(reason), "{request}: {body}");
    }
    let mut client = ws_connect(ws);
    client.connect("after-the-refusals");
}

/// A 3.1 client offering only `mqttv3.1` (as mosquitto and paho do at that level) gets it, and
/// speaks 3.1 inside the frames.
#[test]
fn a_3_1_client_offering_mqttv3_1_is_answered_with_it() {
    let (_broker, _, ws) = ws_broker(None);
    let stream = TcpStream::connect(ws).expect("connects");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let (mut client, protocol) = WsClient::upgrade(stream, "mqttv3.1");
    assert_eq!(protocol, "mqttv3.1");
    client.level = ProtocolLevel::Mqtt31;
    let connect = mqtt_codec::Connect {
        level: ProtocolLevel::Mqtt31,
        ..client::connect("old-timer", true)
    };
    client.send(&[Packet::Connect(connect)]);
    assert!(matches!(client.recv(), Got::ConnAck { code: 0, .. }));
    client.send(&[Packet::PingReq]);
    assert_eq!(client.recv(), Got::PingResp);
}

/// wss: the WebSocket upgrade and MQTT inside TLS, through the same rustls set-up as the TLS
/// listeners.
#[test]
fn wss_carries_mqtt_inside_tls() {
    let certs = Certificates::generate();
    let (_broker, tcp, wss) = ws_broker(Some(certs.settings(false)));
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in
        rustls::pki_types::CertificateDer::pem_file_iter(certs.path("ca.pem")).expect("ca.pem")
    {
        roots.add(cert.expect("a certificate")).expect("a CA");
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "localhost".try_into().expect("a server name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp_stream = TcpStream::connect(wss).expect("connects");
    tcp_stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let stream = rustls::StreamOwned::new(connection, tcp_stream);
    let (mut client, protocol) = WsClient::upgrade(stream, "mqtt");
    assert_eq!(protocol, "mqtt");
    client.connect("secure-ws");
    client.send_frame(0x82, &subscribe_bytes("sec", 1));
    assert_eq!(client.recv(), Got::SubAck(99, vec![1]));
    let (mut publisher, _) = Client::connect(tcp, "plain-pub", true);
    publisher.publish("sec", b"through wss", 0, 1, false);
    assert!(matches!(client.recv(), Got::Publish { payload, .. } if payload == b"through wss"));
}

/// Debian's python3-paho-mqtt with `transport="websockets"` subscribes and publishes through the
/// broker: a real client's handshake and framing.
#[test]
fn paho_over_websockets_round_trip() {
    let (_broker, _, ws) = ws_broker(None);
    let script = r#"
import sys, paho.mqtt.client as mqtt
port = int(sys.argv[1])
got = []
def on_connect(client, userdata, flags, rc):
    client.subscribe("paho/ws", qos=1)
def on_subscribe(client, userdata, mid, granted):
    client.publish("paho/ws", b"over websockets", qos=1)
def on_message(client, userdata, message):
    got.append(message.payload)
    client.disconnect()
client = mqtt.Client(client_id="paho-ws", transport="websockets")
client.ws_set_options(path="/mqtt")
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect("127.0.0.1", port, keepalive=10)
client.loop_start()
import time
deadline = time.time() + 10
while not got and time.time() < deadline:
    time.sleep(0.05)
client.loop_stop()
print(got[0].decode() if got else "nothing received")
sys.exit(0 if got else 1)
"#;
    let python = if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let output = Command::new(python)
        .args(["-c", script, &ws.port().to_string()])
        .output()
        .unwrap_or_else(|error| panic!("{python} is needed (python3-paho-mqtt): {error}"));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "over websockets"
    );
}

/// A WebSocket listener carries MQTT 5.0 too: a level 5 CONNECT is answered with a 5.0 CONNACK
/// (Reason Code 0x00, then properties), and a 5.0 PINGREQ with PINGRESP.
#[test]
fn websocket_carries_mqtt_5() {
    let (_broker, _tcp, ws) = ws_broker(None);
    let mut client = ws_connect(ws);
    let mut connect = Vec::new();
    mqtt_codec::v5::Packet::Connect(mqtt_codec::v5::Connect {
        clean_start: true,
        client_id: "ws5",
        ..mqtt_codec::v5::Connect::default()
    })
    .encode(&mut connect)
    .expect("encodes");
    client.send_frame(0x82, &connect);
    let Some(ServerFrame::Binary(connack)) = client.recv_frame() else {
        panic!("expected CONNACK in a binary frame");
    };
    // CONNACK, Session Present 0, Reason Code 0x00, a property length (5.0 §3.2.2).
    assert_eq!(&connack[..1], [0x20]);
    assert_eq!(&connack[2..4], [0x00, 0x00], "{connack:02x?}");
    client.send_frame(0x82, &[0xC0, 0x00]);
    assert!(matches!(client.recv_frame(), Some(ServerFrame::Binary(pong)) if pong == [0xD0, 0x00]));
}

//! The test client: a broker on a free port, and a raw MQTT connection to it.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use mqtt_broker::{Broker, BrokerHandle, Config};
use mqtt_codec::{
    Connect, Decoder, Delivery, List, Packet, PacketId, ProtocolLevel, Publish, QoS, Status,
    Subscribe, Subscription, TopicFilter, TopicName, Will,
};

/// The longest any test waits for a packet that should come.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// A broker on 127.0.0.1, any free port, with `$SYS` off unless a test turns it on.
pub(crate) fn broker_with(config: Config) -> (BrokerHandle, SocketAddr) {
    let config = Config {
        listeners: vec![SocketAddr::from(([127, 0, 0, 1], 0)).into()],
        ..config
    };
    let broker = Broker::start(config).expect("broker starts");
    let address = broker.local_addrs()[0];
    (broker, address)
}

/// A broker with the defaults, `$SYS` off.
pub(crate) fn broker() -> (BrokerHandle, SocketAddr) {
    broker_with(Config {
        sys_interval: Duration::ZERO,
        ..Config::default()
    })
}

/// A packet received by a test client, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Got {
    ConnAck {
        session_present: bool,
        code: u8,
    },
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        packet_id: Option<u16>,
        dup: bool,
        retain: bool,
    },
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    SubAck(u16, Vec<u8>),
    UnsubAck(u16),
    PingResp,
    Other(String),
}

/// A raw MQTT connection.
pub(crate) struct Client {
    pub(crate) stream: TcpStream,
    buffer: Vec<u8>,
    level: ProtocolLevel,
}

pub(crate) fn id(value: u16) -> PacketId {
    PacketId::new(value).expect("non-zero test packet id")
}

impl Client {
    /// A TCP connection, nothing sent yet.
    pub(crate) fn open(address: SocketAddr) -> Self {
        let stream = TcpStream::connect(address).expect("connects");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        Self {
            stream,
            buffer: Vec::new(),
            level: ProtocolLevel::Mqtt311,
        }
    }

    /// Connects with client id `client_id`, expects CONNACK 0, and returns it with Session Present.
    pub(crate) fn connect(address: SocketAddr, client_id: &str, clean: bool) -> (Self, bool) {
        Self::connect_with(address, connect(client_id, clean))
    }

    pub(crate) fn connect_with(address: SocketAddr, connect: Connect<'_>) -> (Self, bool) {
        let mut client = Self::open(address);
        client.level = connect.level;
        client.send(Packet::Connect(connect));
        match client.recv() {
            Got::ConnAck {
                session_present,
                code: 0,
            } => (client, session_present),
            other => panic!("expected CONNACK 0, got {other:?}"),
        }
    }

    pub(crate) fn send(&mut self, packet: Packet<'_>) {
        let mut bytes = Vec::new();
        packet
            .encode(self.level, &mut bytes)
            .expect("test packet encodes");
        self.send_raw(&bytes);
    }

    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    pub(crate) fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        packet_id: u16,
        retain: bool,
    ) {
        let qos = QoS::from_bits(qos).expect("qos");
        self.send(Packet::Publish(Publish {
            topic: TopicName::new(topic).expect("topic"),
            payload,
            delivery: Delivery::new(qos, id(packet_id.max(1)), false),
            retain,
        }));
    }

    /// Subscribes and expects the SUBACK with the granted QoS.
    pub(crate) fn subscribe(&mut self, filter: &str, qos: u8) {
        let entries = [Subscription {
            filter: TopicFilter::new(filter).expect("filter"),
            qos: QoS::from_bits(qos).expect("qos"),
        }];
        self.send(Packet::Subscribe(Subscribe {
            packet_id: id(99),
            filters: List::from_slice(&entries),
        }));
        assert_eq!(self.recv(), Got::SubAck(99, vec![qos]));
    }

    /// The next packet, within [`WAIT`].
    pub(crate) fn recv(&mut self) -> Got {
        self.try_recv()
            .unwrap_or_else(|| panic!("connection closed while a packet was expected"))
    }

    /// The next packet, or `None` if the broker closed the connection.
    pub(crate) fn try_recv(&mut self) -> Option<Got> {
        let decoder = Decoder::new(self.level);
        loop {
            match decoder.decode(&self.buffer) {
                Ok(Status::Complete((packet, used))) => {
                    let got = owned(&packet);
                    self.buffer.drain(..used);
                    return Some(got);
                }
                Ok(Status::Partial) => {}
                Err(error) => panic!("broker sent a malformed packet: {error}"),
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(count) => self.buffer.extend_from_slice(&chunk[..count]),
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return None,
                Err(error) => panic!("no packet within {WAIT:?}: {error}"),
            }
        }
    }

    /// The next packet, or `None` if none came within the stream's read timeout or the connection
    /// closed.
    pub(crate) fn try_recv_within(&mut self) -> Option<Got> {
        let decoder = Decoder::new(self.level);
        loop {
            match decoder.decode(&self.buffer) {
                Ok(Status::Complete((packet, used))) => {
                    let got = owned(&packet);
                    self.buffer.drain(..used);
                    return Some(got);
                }
                Ok(Status::Partial) => {}
                Err(error) => panic!("broker sent a malformed packet: {error}"),
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(count) => self.buffer.extend_from_slice(&chunk[..count]),
            }
        }
    }

    /// Expects the broker to close the connection, with nothing else sent first.
    pub(crate) fn expect_closed(&mut self) {
        if let Some(got) = self.try_recv() {
            panic!("expected the connection to close, got {got:?}");
        }
    }

    /// PINGREQ, then expects PINGRESP as the very next packet: proves that the broker processed
    /// everything sent before, and that nothing was queued for this client before it.
    pub(crate) fn barrier(&mut self) {
        self.send(Packet::PingReq);
        assert_eq!(self.recv(), Got::PingResp);
    }

    pub(crate) fn disconnect(mut self) {
        self.send(Packet::Disconnect);
        self.expect_closed();
    }
}

/// A 3.1.1 CONNECT with keep-alive 0 and no will.
pub(crate) fn connect(client_id: &str, clean: bool) -> Connect<'_> {
    Connect {
        level: ProtocolLevel::Mqtt311,
        clean_session: clean,
        keep_alive: 0,
        client_id,
        will: None,
        user_name: None,
        password: None,
        bridge: false,
    }
}

/// A CONNECT with a will.
pub(crate) fn connect_with_will<'a>(
    client_id: &'a str,
    topic: &'a str,
    payload: &'a [u8],
    qos: u8,
    retain: bool,
) -> Connect<'a> {
    Connect {
        will: Some(Will {
            topic: TopicName::new(topic).expect("will topic"),
            payload,
            qos: QoS::from_bits(qos).expect("qos"),
            retain,
        }),
        ..connect(client_id, true)
    }
}

pub(crate) fn owned(packet: &Packet<'_>) -> Got {
    match packet {
        Packet::ConnAck(connack) => Got::ConnAck {
            session_present: connack.session_present,
            code: connack.code as u8,
        },
        Packet::Publish(publish) => Got::Publish {
            topic: publish.topic.as_str().to_owned(),
            payload: publish.payload.to_vec(),
            qos: publish.qos().bits(),
            packet_id: publish.delivery.packet_id().map(PacketId::get),
            dup: publish.delivery.dup(),
            retain: publish.retain,
        },
        Packet::PubAck(ack) => Got::PubAck(ack.packet_id.get()),
        Packet::PubRec(ack) => Got::PubRec(ack.packet_id.get()),
        Packet::PubRel(ack) => Got::PubRel(ack.packet_id.get()),
        Packet::PubComp(ack) => Got::PubComp(ack.packet_id.get()),
        Packet::SubAck(suback) => Got::SubAck(
            suback.packet_id.get(),
            suback
                .return_codes
                .iter()
                .map(|code| match code {
                    mqtt_codec::SubAckReturnCode::Granted(qos) => qos.bits(),
                    mqtt_codec::SubAckReturnCode::Failure => 0x80,
                })
                .collect(),
        ),
        Packet::UnsubAck(ack) => Got::UnsubAck(ack.packet_id.get()),
        Packet::PingResp => Got::PingResp,
        other => Got::Other(format!("{other:?}")),
    }
}

/// A publish as a subscriber should see it.
pub(crate) fn publish(
    topic: &str,
    payload: &[u8],
    qos: u8,
    packet_id: Option<u16>,
    dup: bool,
    retain: bool,
) -> Got {
    Got::Publish {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos,
        packet_id,
        dup,
        retain,
    }
}

/// A fresh, empty directory under the system's temporary directory, removed when dropped.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "mqtt-broker-test-{name}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub(crate) fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("writing a test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends CONNECT and returns the CONNACK code.
pub(crate) fn connack_code(address: SocketAddr, connect: Connect<'_>) -> (Client, u8) {
    let mut client = Client::open(address);
    client.level = connect.level;
    client.send(Packet::Connect(connect));
    match client.recv() {
        Got::ConnAck { code, .. } => (client, code),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

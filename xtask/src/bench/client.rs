//! A minimal MQTT 3.1.1 client for the load generator: connect, subscribe, and a reader that decodes
//! whatever a read brought in, all over a plain blocking `TcpStream` and `mqtt-codec`.
//!
//! It is deliberately not `mqtt-client`: the benchmark needs control of every system call (many
//! packets per `write`, acknowledgements batched per read) and no thread it does not own, so that the
//! load generator is never what a figure measures. Each message's payload starts with a [`Stamp`]:
//! who published it, its sequence number and when it was sent, from which the subscribers count
//! losses and duplicates and measure latency.
//!
//! This file does not decide how fast to publish (`throughput.rs`, `latency.rs`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mqtt_codec::{
    Connect, ConnectReturnCode, Decoder, Delivery, List, Packet, PacketId, ProtocolLevel, Publish,
    QoS, Status, SubAckReturnCode, Subscribe, Subscription, TopicFilter, TopicName,
};

/// How long connecting, subscribing and any single read during setup may take.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a connection and completes CONNECT / CONNACK, with a clean session unless `persistent`.
pub(crate) fn connect(
    address: SocketAddr,
    client_id: &str,
    keep_alive: u16,
    persistent: bool,
) -> Result<(TcpStream, Reader), String> {
    let mut stream = TcpStream::connect_timeout(&address, SETUP_TIMEOUT)
        .map_err(|error| format!("{client_id}: cannot connect to {address}: {error}"))?;
    stream
        .set_nodelay(true)
        .map_err(|error| error.to_string())?;
    send_connect(&mut stream, client_id, keep_alive, persistent)?;
    let mut reader = Reader::new();
    let code = reader.expect(&stream, SETUP_TIMEOUT, |packet| match packet {
        Packet::ConnAck(connack) => Some(connack.code),
        _ => None,
    });
    match code {
        Ok(ConnectReturnCode::Accepted) => Ok((stream, reader)),
        Ok(code) => Err(format!("{client_id}: CONNACK {}", code as u8)),
        Err(error) => Err(format!("{client_id}: no CONNACK: {error}")),
    }
}

/// Sends CONNECT without waiting for the answer: for opening thousands of connections quickly.
pub(crate) fn send_connect(
    stream: &mut TcpStream,
    client_id: &str,
    keep_alive: u16,
    persistent: bool,
) -> Result<(), String> {
    let mut out = Vec::with_capacity(64);
    encode(
        Packet::Connect(Connect {
            level: ProtocolLevel::Mqtt311,
            clean_session: !persistent,
            keep_alive,
            client_id,
            will: None,
            user_name: None,
            password: None,
            bridge: false,
        }),
        &mut out,
    )?;
    stream
        .write_all(&out)
        .map_err(|error| format!("{client_id}: cannot send CONNECT: {error}"))
}

/// Subscribes to `filter` at `qos` and waits for the SUBACK granting it.
pub(crate) fn subscribe(
    stream: &mut TcpStream,
    reader: &mut Reader,
    filter: &str,
    qos: QoS,
) -> Result<(), String> {
    let filter = TopicFilter::new(filter).map_err(|error| format!("{filter}: {error:?}"))?;
    let entries = [Subscription { filter, qos }];
    let mut out = Vec::with_capacity(64);
    encode(
        Packet::Subscribe(Subscribe {
            packet_id: packet_id(1),
            filters: List::from_slice(&entries),
        }),
        &mut out,
    )?;
    stream
        .write_all(&out)
        .map_err(|error| format!("cannot send SUBSCRIBE: {error}"))?;
    let granted = reader.expect(stream, SETUP_TIMEOUT, |packet| match packet {
        Packet::SubAck(suback) => Some(suback.return_codes.iter().next()),
        _ => None,
    });
    match granted {
        Ok(Some(SubAckReturnCode::Granted(_))) => Ok(()),
        Ok(_) => Err("SUBSCRIBE refused".to_owned()),
        Err(error) => Err(format!("no SUBACK: {error}")),
    }
}

/// Appends one PUBLISH of `payload` to `out`.
pub(crate) fn publish(
    out: &mut Vec<u8>,
    topic: &str,
    payload: &[u8],
    qos: QoS,
    id: u16,
) -> Result<(), String> {
    let topic = TopicName::new(topic).map_err(|error| format!("{topic}: {error:?}"))?;
    encode(
        Packet::Publish(Publish {
            topic,
            payload,
            delivery: Delivery::new(qos, packet_id(id), false),
            retain: false,
        }),
        out,
    )
}

/// Appends `packet` to `out`.
pub(crate) fn encode(packet: Packet<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    packet
        .encode(ProtocolLevel::Mqtt311, out)
        .map(|_| ())
        .map_err(|error| format!("cannot encode {:?}: {error}", packet.packet_type()))
}

/// The packet identifier for `value`, with 0 (which is not one) read as 1.
pub(crate) fn packet_id(value: u16) -> PacketId {
    const ONE: PacketId = match PacketId::new(1) {
        Some(id) => id,
        None => panic!("1 is a packet identifier"),
    };
    PacketId::new(value).unwrap_or(ONE)
}

/// Turns the bytes of a stream into packets, keeping an incomplete packet for the next read.
#[derive(Debug)]
pub(crate) struct Reader {
    /// Zeroed once; bytes `start..end` are read and not yet decoded.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    /// The fewest bytes of room offered to each `read`.
    chunk: usize,
    decoder: Decoder,
}

impl Reader {
    /// A reader for a busy connection: 64 KiB per read.
    pub(crate) fn new() -> Self {
        Self::with_chunk(64 * 1024)
    }

    /// A reader asking for about `chunk` bytes per read: small for thousands of idle connections.
    pub(crate) fn with_chunk(chunk: usize) -> Self {
        Self {
            buffer: vec![0; chunk],
            start: 0,
            end: 0,
            chunk,
            decoder: Decoder::new(ProtocolLevel::Mqtt311).with_max_packet_size(1 << 20),
        }
    }

    /// One `read`. `Ok(0)` is end of stream; a timeout is `ErrorKind::WouldBlock` or `TimedOut`, as
    /// the read timeout of `stream` decides.
    pub(crate) fn fill(&mut self, mut stream: &TcpStream) -> io::Result<usize> {
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buffer.len() - self.end < self.chunk {
            self.buffer.resize(self.end + self.chunk, 0);
        }
        let read = stream.read(&mut self.buffer[self.end..])?;
        self.end += read;
        Ok(read)
    }

    /// Hands each complete packet buffered to `handle`, in order.
    pub(crate) fn drain(&mut self, mut handle: impl FnMut(Packet<'_>)) -> Result<(), String> {
        loop {
            match self.decoder.decode(&self.buffer[self.start..self.end]) {
                Ok(Status::Complete((packet, used))) => {
                    handle(packet);
                    self.start += used;
                }
                Ok(Status::Partial) => return Ok(()),
                Err(error) => return Err(format!("malformed packet from the broker: {error}")),
            }
        }
    }

    /// Reads until `pick` finds the packet it wants, dropping the others, within `timeout`.
    pub(crate) fn expect<T>(
        &mut self,
        stream: &TcpStream,
        timeout: Duration,
        mut pick: impl FnMut(Packet<'_>) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut found = None;
            self.drain(|packet| {
                if found.is_none() {
                    found = pick(packet);
                }
            })?;
            if let Some(found) = found {
                return Ok(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("timed out".to_owned());
            }
            stream
                .set_read_timeout(Some(left))
                .map_err(|error| error.to_string())?;
            match self.fill(stream) {
                Ok(0) => return Err("connection closed".to_owned()),
                Ok(_) => {}
                Err(error) => return Err(error.to_string()),
            }
        }
    }
}

/// What the load generator writes at the start of each payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// Which publisher of the scenario.
    pub(crate) publisher: u32,
    /// 0, 1, 2... per publisher.
    pub(crate) sequence: u64,
    /// Nanoseconds since the run's time origin (`EPOCH`) when it was handed to the socket.
    pub(crate) sent: u64,
}

impl Stamp {
    /// Bytes a payload needs to carry a stamp; payloads are never smaller.
    pub(crate) const LEN: usize = 20;

    pub(crate) fn write(self, payload: &mut [u8]) {
        payload[..4].copy_from_slice(&self.publisher.to_be_bytes());
        payload[4..12].copy_from_slice(&self.sequence.to_be_bytes());
        payload[12..20].copy_from_slice(&self.sent.to_be_bytes());
    }

    pub(crate) fn read(payload: &[u8]) -> Option<Self> {
        Some(Self {
            publisher: u32::from_be_bytes(payload.get(..4)?.try_into().ok()?),
            sequence: u64::from_be_bytes(payload.get(4..12)?.try_into().ok()?),
            sent: u64::from_be_bytes(payload.get(12..20)?.try_into().ok()?),
        })
    }
}

/// Nanoseconds since the first call: the clock all stamps and receipts share (one process).
pub(crate) fn now_nanos() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Whether an I/O error is a read timeout rather than a failure.
pub(crate) fn timed_out(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

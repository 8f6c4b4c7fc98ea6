//! Connection scale: thousands of idle clients held open, the broker's memory with them, and proof
//! that it still serves a publisher and a subscriber meanwhile.
//!
//! The clients connect with a clean session and a keep-alive of `keep_alive` seconds, in batches
//! (CONNECT written on a batch of sockets, then their CONNACKs read), and stay silent: the scenario
//! is over well within one and a half keep-alive periods, so no PINGREQ is due. The broker's resident
//! memory is read before the first connection, once all are connected and idle, and after the
//! service check (a QoS 1 publisher and subscriber at 1 000 messages a second).
//!
//! This file does not raise the open-files limit: `target.rs` does, for the brokers and for us.

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use mqtt_codec::{ConnectReturnCode, Packet, QoS};

use super::client::{self, Reader};
use super::latency::{self, Latency};
use super::scenario::IdleShape;
use super::target::{Memory, Target};

/// Connections opened together before their CONNACKs are read.
const BATCH: usize = 250;

/// The figures of one idle-connection run.
#[derive(Debug, Clone)]
pub(crate) struct Idle {
    pub(crate) wanted: usize,
    pub(crate) connected: usize,
    /// Why fewer than `wanted` connected, if they did not.
    pub(crate) shortfall: Option<String>,
    pub(crate) before: Option<Memory>,
    pub(crate) idle: Option<Memory>,
    pub(crate) after: Option<Memory>,
    /// The fixed-rate publisher and subscriber run while the connections were open.
    pub(crate) service: Result<Latency, String>,
}

/// Runs one idle-connection scenario against `target`.
pub(crate) fn run(shape: &IdleShape, target: &Target) -> Result<Idle, String> {
    let before = target.memory_kib();
    let mut held: Vec<TcpStream> = Vec::with_capacity(shape.connections);
    let mut shortfall = None;
    while held.len() < shape.connections {
        let count = BATCH.min(shape.connections - held.len());
        match connect_batch(target, held.len(), count, shape.keep_alive) {
            Ok(streams) => held.extend(streams),
            Err(why) => {
                shortfall = Some(why);
                break;
            }
        }
    }
    // Let the broker's threads settle (stacks touched, buffers shrunk) before reading its memory.
    thread::sleep(Duration::from_millis(500));
    let idle = target.memory_kib();
    let service = latency::measure(QoS::AtLeastOnce, 1_000, 64, shape.service, target);
    let after = target.memory_kib();
    let connected = held.len();
    drop(held);
    Ok(Idle {
        wanted: shape.connections,
        connected,
        shortfall,
        before,
        idle,
        after,
        service,
    })
}

/// Opens `count` connections numbered from `first` and completes their CONNECT.
fn connect_batch(
    target: &Target,
    first: usize,
    count: usize,
    keep_alive: u16,
) -> Result<Vec<TcpStream>, String> {
    let mut streams = Vec::with_capacity(count);
    for number in first..first + count {
        let mut stream = TcpStream::connect_timeout(&target.address, client::SETUP_TIMEOUT)
            .map_err(|error| format!("connection {number}: {error}"))?;
        let id = format!("bench-{}-idle-{number}", std::process::id());
        client::send_connect(&mut stream, &id, keep_alive, false)?;
        streams.push(stream);
    }
    for (offset, stream) in streams.iter().enumerate() {
        let mut reader = Reader::with_chunk(64);
        let code = reader
            .expect(stream, client::SETUP_TIMEOUT, |packet| match packet {
                Packet::ConnAck(connack) => Some(connack.code),
                _ => None,
            })
            .map_err(|error| format!("connection {}: no CONNACK: {error}", first + offset))?;
        if code != ConnectReturnCode::Accepted {
            return Err(format!(
                "connection {}: CONNACK {}",
                first + offset,
                code as u8
            ));
        }
    }
    Ok(streams)
}

//! The writer thread of one connection: drains its bounded channel and writes to the socket.
//!
//! It is the only thread that writes to an accepted connection's socket. It blocks on the channel
//! when there is nothing to send, and on the socket when the client reads slowly; neither blocks
//! anyone else, because every other thread hands it packets with `try_send` or, for the connection's
//! own reader, with a blocking send that holds no lock. Packets waiting in the channel are batched:
//! one `write` system call carries as many as are ready, up to 64 KiB. With persistence on, a batch
//! holding an acknowledgement or a QoS 1/2 PUBLISH waits until the log is durable up to the LSN it
//! was tagged with: this is where "fsync before acknowledging" is enforced, one wait per batch.
//!
//! This file does not decide what to send, and it never reads.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use log::{debug, error, warn};
use mqtt_codec::ProtocolLevel;

use super::QUIET;
use super::topic_aliases::{AliasUse, OutboundAliases};
use crate::logging;
use crate::metrics::Metrics;
use crate::routing::outbound::{OutPacket, Outbound, Shape, WriterRx};
use crate::routing::router::{Router, SlotRef, Stall};
use crate::transport::Stream;

/// The largest batch written at once.
const BATCH_BYTES: usize = 64 * 1024;

/// A write this small, after a quiet spell (`connection::QUIET`), gives the buffer back.
const SMALL_WRITE: usize = 256;

/// Everything a writer thread needs.
pub(crate) struct Writer {
    pub(crate) stream: Arc<Stream>,
    pub(crate) rx: WriterRx,
    pub(crate) level: ProtocolLevel,
    /// For a 5.0 connection, the client's Maximum Packet Size (`usize::MAX` without one): packets
    /// are encoded at 5.0, and one larger than that is not sent [MQTT5-3.1.2-24]. `None` at 3.x.
    pub(crate) mqtt5: Option<usize>,
    /// The Topic Aliases used toward a 5.0 client that accepts some (see `topic_aliases.rs`).
    pub(crate) aliases: Option<OutboundAliases>,
    /// Whether a failing acknowledgement says why in a Reason String: a 5.0 client that did not
    /// set Request Problem Information 0 [MQTT5-3.1.2-29].
    pub(crate) explain: bool,
    pub(crate) router: Arc<Router>,
    pub(crate) slot: SlotRef,
    pub(crate) connection_id: u64,
    pub(crate) starved: Arc<AtomicBool>,
    /// For the debug line of each packet sent (`logging/lines.rs`).
    pub(crate) client_id: Arc<str>,
}

impl Writer {
    /// Starts the thread, with a small stack (see ARCHITECTURE.md, "Memory").
    pub(crate) fn spawn(self, stack_size: usize) -> io::Result<JoinHandle<()>> {
        thread::Builder::new()
            .name(format!("writer-{}", self.connection_id))
            .stack_size(stack_size)
            .spawn(move || self.run())
    }

    fn run(mut self) {
        // Allocated by the first packet, and given back after a small write (see below).
        let mut buffer = Vec::new();
        let mut open = true;
        let mut last_write: Option<Instant> = None;
        while open {
            let Some(first) = self.next_outbound() else {
                break; // every sender is gone, or the client is stuck
            };
            let mut next = Some(first);
            let mut packets = 0;
            // The highest LSN that must be durable before this batch is written.
            let mut durable = 0;
            while let Some(outbound) = next.take() {
                match outbound {
                    Outbound::Packet(packet) => packets += self.encode(&packet, &mut buffer),
                    Outbound::Durable(packet, lsn) => {
                        durable = durable.max(lsn);
                        packets += self.encode(&packet, &mut buffer);
                    }
                    Outbound::Batch(batch, lsn) => {
                        durable = durable.max(lsn);
                        for packet in &batch {
                            packets += self.encode(packet, &mut buffer);
                        }
                    }
                    Outbound::Close => {
                        open = false;
                        break;
                    }
                }
                if buffer.len() < BATCH_BYTES {
                    next = self.rx.try_recv().ok();
                }
            }
            // What was taken from the channel is room for a reader that waits for it.
            self.rx.drained();
            if durable > 0 && !self.router.wait_durable(durable) {
                // The log cannot be written: promising anything now would be a lie.
                break;
            }
            if !buffer.is_empty() {
                if let Err(error) = self.stream.write_all(&buffer) {
                    debug!("connection {}: write failed: {error}", self.connection_id);
                    break;
                }
                Metrics::add(&self.router.metrics.bytes_sent, buffer.len() as u64);
                Metrics::add(&self.router.metrics.messages_sent, packets);
                let now = Instant::now();
                let quiet =
                    last_write.is_none_or(|last| now.saturating_duration_since(last) >= QUIET);
                last_write = Some(now);
                if quiet && buffer.len() < SMALL_WRITE {
                    // A connection that is sent little and seldom (a CONNACK, a PINGRESP) does not
                    // keep a buffer while it is idle: with thousands of idle clients that adds up.
                    // A busy one keeps it, rather than allocating one per write.
                    buffer = Vec::new();
                } else {
                    buffer.clear();
                    if buffer.capacity() > BATCH_BYTES * 4 {
                        buffer.shrink_to(BATCH_BYTES);
                    }
                }
            }
            if self.starved.swap(false, Ordering::Relaxed) {
                self.router.pump(&self.slot, self.connection_id);
            }
        }
        // Ends the reader too: its next read returns end of file. A WebSocket client is sent a
        // close frame first.
        self.stream.close();
    }

    /// The next thing to send, waiting for it; `None` once every sender is gone, or when the
    /// client is stuck: messages wait for it and it has acknowledged nothing for `write_timeout`
    /// (see `Router::stall_left`), which only an idle writer can notice.
    fn next_outbound(&self) -> Option<Outbound> {
        if let Ok(outbound) = self.rx.try_recv() {
            return Some(outbound);
        }
        loop {
            match self.router.stall_left(&self.slot, self.connection_id) {
                Stall::Stuck => return None,
                Stall::Never => return self.rx.recv().ok(),
                Stall::CheckIn(wait) => match self.rx.recv_timeout(wait) {
                    Ok(outbound) => return Some(outbound),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
                },
            }
        }
    }

    /// Appends `packet` to `buffer`; answers 1 if it was encoded, 0 if not (a bug, logged).
    fn encode(&mut self, packet: &OutPacket, buffer: &mut Vec<u8>) -> u64 {
        let start = buffer.len();
        let encoded = match self.mqtt5 {
            None => packet.encode(self.level, buffer),
            Some(maximum) => self.encode5(packet, maximum, buffer),
        };
        if let Err(error) = encoded {
            error!(
                "connection {}: cannot encode {packet:?}: {error}",
                self.connection_id
            );
            return 0;
        }
        if packet.is_publish() {
            Metrics::add(&self.router.metrics.publish_sent, 1);
            let payload = OutPacket::publish_payload_len(&buffer[start..], self.mqtt5.is_some());
            Metrics::add(&self.router.metrics.publish_bytes_sent, payload as u64);
        }
        if logging::lines::packet_lines_enabled() {
            logging::lines::sent(&self.client_id, self.mqtt5.is_some(), &buffer[start..]);
        }
        1
    }

    /// Appends `packet` at 5.0, a PUBLISH under its Topic Alias where it has or gets one, unless
    /// the result is over the client's Maximum Packet Size `maximum`: then nothing is appended.
    fn encode5(
        &mut self,
        packet: &OutPacket,
        maximum: usize,
        buffer: &mut Vec<u8>,
    ) -> Result<usize, mqtt_codec::EncodeError> {
        let start = buffer.len();
        let now = Instant::now();
        let topic = match packet {
            OutPacket::Publish { message, .. } => Some(&message.topic),
            _ => None,
        };
        let alias = topic
            .zip(self.aliases.as_ref())
            .and_then(|(topic, aliases)| aliases.name(topic));
        let shape = Shape {
            alias,
            explain: self.explain,
        };
        let mut len = packet.encode5_shaped(now, shape, buffer)?;
        if len > maximum && (matches!(alias, Some(AliasUse::Set(_))) || self.explain) {
            // Setting an alias adds three bytes, a Reason String more: without them the packet
            // may still fit [MQTT5-3.4.2-2].
            buffer.truncate(start);
            len = packet.encode5_shaped(now, Shape::default(), buffer)?;
        } else if let (Some(AliasUse::Set(alias)), Some(topic), Some(aliases)) =
            (alias, topic, self.aliases.as_mut())
        {
            // Only now does the client learn the alias (what goes into `buffer` is sent, or the
            // connection ends, and the table with it).
            aliases.assigned(topic, alias);
        }
        if len > maximum {
            // Discarded unsent, and treated as sent [MQTT5-3.1.2-25]: the window entry of a QoS
            // 1/2 PUBLISH stays until the client's next session resends it.
            buffer.truncate(start);
            warn!(
                "connection {}: {len} bytes over the client's Maximum Packet Size {maximum}, not sent",
                self.connection_id
            );
        }
        Ok(len)
    }
}

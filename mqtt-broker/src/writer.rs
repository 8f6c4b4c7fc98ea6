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

use crossbeam_channel::Receiver;
use log::{debug, error};
use mqtt_codec::ProtocolLevel;

use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::router::{Router, SlotRef};
use crate::transport::Stream;

/// The largest batch written at once.
const BATCH_BYTES: usize = 64 * 1024;

/// Everything a writer thread needs.
pub(crate) struct Writer {
    pub(crate) stream: Arc<Stream>,
    pub(crate) rx: Receiver<Outbound>,
    pub(crate) level: ProtocolLevel,
    pub(crate) router: Arc<Router>,
    pub(crate) slot: SlotRef,
    pub(crate) connection_id: u64,
    pub(crate) starved: Arc<AtomicBool>,
}

impl Writer {
    /// Starts the thread, with a small stack (see ARCHITECTURE.md, "Memory").
    pub(crate) fn spawn(self, stack_size: usize) -> io::Result<JoinHandle<()>> {
        thread::Builder::new()
            .name(format!("writer-{}", self.connection_id))
            .stack_size(stack_size)
            .spawn(move || self.run())
    }

    fn run(self) {
        let mut buffer = Vec::with_capacity(1024);
        let mut open = true;
        while open {
            let Ok(first) = self.rx.recv() else {
                break; // every sender is gone
            };
            let mut next = Some(first);
            let mut packets = 0;
            // The highest LSN that must be durable before this batch is written.
            let mut durable = 0;
            while let Some(outbound) = next.take() {
                let packet = match outbound {
                    Outbound::Packet(packet) => Some(packet),
                    Outbound::Durable(packet, lsn) => {
                        durable = durable.max(lsn);
                        Some(packet)
                    }
                    Outbound::Close => None,
                };
                match packet {
                    Some(packet) => {
                        if let Err(error) = packet.encode(self.level, &mut buffer) {
                            error!(
                                "connection {}: cannot encode {packet:?}: {error}",
                                self.connection_id
                            );
                        } else {
                            packets += 1;
                            if packet.is_publish() {
                                Metrics::add(&self.router.metrics.publish_sent, 1);
                            }
                        }
                    }
                    None => {
                        open = false;
                        break;
                    }
                }
                if buffer.len() < BATCH_BYTES {
                    next = self.rx.try_recv().ok();
                }
            }
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
                buffer.clear();
                if buffer.capacity() > BATCH_BYTES * 4 {
                    buffer.shrink_to(BATCH_BYTES);
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
}

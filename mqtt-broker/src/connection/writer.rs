//! The writing side of one connection: empties its channel into its socket, on whichever thread
//! sent to it, and only when its client falls behind on a helper thread of its own.
//!
//! There is no writer thread waiting on the channel. A thread that puts packets in it (a
//! publisher's reader routing a message, the connection's own reader answering its client, the
//! router pumping a queue) owes the connection a *kick*, which it makes before it next blocks and
//! with no lock held (`routing/outbound.rs`, `kick_all`). The kick takes what the channel holds,
//! encodes it, waits until the log is durable if the batch holds a promise (persistence on), and
//! writes it to the socket itself. So a QoS 1 message crosses from its publisher's socket to its
//! subscriber's on one thread, and each connection needs one thread, its reader, while its client
//! keeps up.
//!
//! That write must not wait for a slow client: the kicking thread may be another client's reader.
//! A plain TCP socket's write timeout is kept at its least (one kernel tick) while writes are
//! direct, so a write into a full socket returns after at most that tick with what fitted. What is
//! left over, and everything after it until the client has caught up, goes to the connection's
//! *helper*: a thread started for it, which writes with the whole `write_timeout` and ends once it
//! has been idle for [`QUIET`]. TLS, WebSocket and in-process streams cannot take half a write
//! back (a record or a frame would be cut), so their writes always go to the helper; such a
//! connection has a second thread only while it is being sent to, and for `QUIET` after.
//!
//! The helper also watches a client that reads but does not acknowledge: while messages wait in
//! its session's queue (its window is full), it asks `Router::stall_left` and ends a connection that
//! made no progress for `write_timeout`. The router asks for that watch when the queue starts to fill
//! ([`Drain::watch`]).
//!
//! Order: the socket is written only by whoever holds [`Writer::core`], which also holds the bytes
//! encoded and not yet written, so bytes reach the socket in the order they were taken from the
//! channel. A kick that finds `core` held leaves a mark (`kicked`) that the holder looks at before
//! it lets go of the connection.
//!
//! This file does not decide what to send, and it never reads.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::{debug, error, warn};
use mqtt_codec::ProtocolLevel;
use parking_lot::{Condvar, Mutex};

use super::QUIET;
use super::topic_aliases::{AliasUse, OutboundAliases};
use crate::logging;
use crate::metrics::Metrics;
use crate::routing::outbound::{self, Drain, OutPacket, Outbound, Shape, WriterRx};
use crate::routing::router::{Router, SlotRef, Stall};
use crate::transport::Stream;

/// The largest batch taken from the channel at once.
const BATCH_BYTES: usize = 64 * 1024;

/// A write this small, after a quiet spell (`connection::QUIET`), gives the buffer back.
const SMALL_WRITE: usize = 256;

/// The write timeout of a plain socket while other threads write to it directly: the least there
/// is. Linux rounds it up to one tick of its clock (4 ms at `CONFIG_HZ=250`), which is what a
/// thread writing into a full socket loses once, before the helper takes over.
const DIRECT_WRITE_TIMEOUT: Duration = Duration::from_micros(1);

/// What a connection's packets are encoded with: fixed at CONNECT, except the Topic Aliases.
pub(crate) struct Encoding {
    pub(crate) level: ProtocolLevel,
    /// For a 5.0 connection, the client's Maximum Packet Size (`usize::MAX` without one): packets
    /// are encoded at 5.0, and one larger than that is not sent [MQTT5-3.1.2-24]. `None` at 3.x.
    pub(crate) mqtt5: Option<usize>,
    /// The Topic Aliases used toward a 5.0 client that accepts some (see `topic_aliases.rs`).
    pub(crate) aliases: Option<OutboundAliases>,
    /// Whether a failing acknowledgement says why in a Reason String: a 5.0 client that did not
    /// set Request Problem Information 0 [MQTT5-3.1.2-29].
    pub(crate) explain: bool,
    /// For the debug line of each packet sent (`logging/lines.rs`).
    pub(crate) client_id: Arc<str>,
}

/// The writing side of one connection, shared by every thread that sends to it (as the channel's
/// [`Drain`]) and by its helper thread.
pub(crate) struct Writer {
    /// The channel, the bytes not yet written and the encoder. Whoever holds it may write to the
    /// socket; nobody else does.
    core: Mutex<Core>,
    /// Set by every kick: the holder of `core` drains again if it finds it set after unlocking.
    kicked: AtomicBool,
    /// Set while the client is behind: a direct write fell short, so every write goes to the
    /// helper until it has been idle for `QUIET`.
    behind: AtomicBool,
    /// Set by [`Drain::watch`] until a helper is running to watch.
    watch: AtomicBool,
    helper: Mutex<Helper>,
    /// Wakes the helper when it is asked to write.
    wake: Condvar,
    stream: Arc<Stream>,
    router: Arc<Router>,
    /// The session's slot, known once the router opened it (after the channel's first packet).
    slot: OnceLock<SlotRef>,
    connection_id: u64,
    /// Set by the router when its `try_send` found the channel full: whoever drained it then
    /// pumps the session ([`Router::pump`]).
    starved: Arc<AtomicBool>,
    /// How long the helper lets a client read nothing before the connection is ended.
    write_timeout: Duration,
    /// The helper thread's stack size (see ARCHITECTURE.md, "Memory").
    stack_size: usize,
    /// Whether the stream takes direct writes ([`Stream::takes_direct_writes`]).
    direct: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Writer({})", self.connection_id)
    }
}

/// What the holder of [`Writer::core`] works on.
struct Core {
    rx: WriterRx,
    encoding: Encoding,
    /// Encoded bytes; those from `written` on are not on the socket yet.
    buffer: Vec<u8>,
    written: usize,
    /// `Close` was taken from the channel: once `buffer` is written, the stream is closed.
    closing: bool,
    /// The stream was closed or failed: nothing more is written.
    ended: bool,
    /// Whether the socket's write timeout is the whole `write_timeout` (the helper's) rather
    /// than [`DIRECT_WRITE_TIMEOUT`].
    patient: bool,
    last_write: Option<Instant>,
}

/// The helper thread's state.
#[derive(Default)]
struct Helper {
    running: bool,
    /// The helper is asked to write: the client is behind, or the stream takes no direct write.
    asked: bool,
    handle: Option<JoinHandle<()>>,
    /// The reader has finished with the connection: no helper starts any more.
    finished: bool,
}

/// How a drain ended.
enum Drained {
    /// Everything taken was written.
    All,
    /// A direct write fell short: the rest is the helper's.
    Behind,
    /// The stream was closed, or failed.
    Ended,
}

/// How a drain writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One write that returns at once (on any thread).
    Direct,
    /// Writes that wait up to `write_timeout` for the client to read (the helper).
    Patient,
}

impl Writer {
    /// The writing side of a connection on `stream`, draining `rx`.
    pub(crate) fn new(
        stream: Arc<Stream>,
        rx: WriterRx,
        encoding: Encoding,
        router: Arc<Router>,
        connection_id: u64,
        write_timeout: Duration,
        stack_size: usize,
    ) -> Self {
        let direct = stream.takes_direct_writes()
            && stream.set_write_timeout(Some(DIRECT_WRITE_TIMEOUT)).is_ok();
        Self {
            core: Mutex::new(Core {
                rx,
                encoding,
                buffer: Vec::new(),
                written: 0,
                closing: false,
                ended: false,
                patient: !direct,
                last_write: None,
            }),
            kicked: AtomicBool::new(false),
            behind: AtomicBool::new(false),
            watch: AtomicBool::new(false),
            helper: Mutex::new(Helper::default()),
            wake: Condvar::new(),
            stream,
            router,
            slot: OnceLock::new(),
            connection_id,
            starved: Arc::new(AtomicBool::new(false)),
            write_timeout,
            stack_size,
            direct,
        }
    }

    /// The flag the router's [`Link`](crate::routing::router::Link) sets when it finds the
    /// channel full.
    pub(crate) fn starved(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.starved)
    }

    /// The session's slot, once the router has opened it.
    pub(crate) fn attach(&self, slot: SlotRef) {
        let _ = self.slot.set(slot);
    }

    /// Called by the reader once `Close` is in the channel and kicked: waits for the helper, if
    /// one is still writing or watching (it is woken, and ends once nothing is left to write), and
    /// lets no other start.
    pub(crate) fn finish(&self) {
        let handle = {
            let mut helper = self.helper.lock();
            helper.finished = true;
            self.wake.notify_one();
            helper.handle.take()
        };
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Asks the helper to write (`write`) or only to watch, starting it if it is not running.
    fn call_helper(self: &Arc<Self>, write: bool) {
        let mut helper = self.helper.lock();
        if write {
            helper.asked = true;
        }
        if helper.running {
            if write {
                self.wake.notify_one();
            }
            return;
        }
        if helper.finished {
            return;
        }
        helper.running = true;
        let me = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(format!("writer-{}", self.connection_id))
            .stack_size(self.stack_size)
            .spawn(move || me.help());
        match spawned {
            Ok(handle) => {
                // A helper that ended before is done with its handle; it is only detached here.
                helper.handle = Some(handle);
            }
            Err(error) => {
                helper.running = false;
                drop(helper);
                // Without a thread nothing can wait for this client: it is ended, as one that
                // stopped reading would be (its persistent session keeps what was not acknowledged).
                warn!(
                    "connection {}: cannot start a thread to write to a client that is behind \
                     ({error}); disconnecting it",
                    self.connection_id
                );
                self.stream.shutdown();
            }
        }
    }

    /// The helper thread: writes for a client that is behind (or on a stream that takes no direct
    /// write) and watches a client whose queue holds messages, until it has had nothing to do for
    /// `QUIET`.
    fn help(self: Arc<Self>) {
        let mut idle_since = Instant::now();
        loop {
            let asked = std::mem::take(&mut self.helper.lock().asked);
            if asked {
                let drained = self.drain(&mut self.core.lock(), Mode::Patient);
                if matches!(drained, Drained::Ended) {
                    break;
                }
                self.pump_if_starved();
                self.after_release();
                outbound::kick_all();
                idle_since = Instant::now();
                continue;
            }
            let stall = match self.slot.get() {
                Some(slot) => self.router.stall_left(slot, self.connection_id),
                None => Stall::Nothing,
            };
            let check_in = match stall {
                Stall::Stuck => {
                    self.stream.shutdown();
                    break;
                }
                Stall::CheckIn(wait) => Some(wait),
                Stall::Nothing | Stall::Never => None,
            };
            let idle = idle_since.elapsed();
            let mut helper = self.helper.lock();
            if helper.asked {
                continue;
            }
            let finished = helper.finished;
            if finished || (check_in.is_none() && idle >= QUIET) {
                // Caught up and nothing to watch: direct writes again. Decided under the helper's
                // lock, so that a kick either finds this helper running or starts another.
                let mut core = self.core.lock();
                if !core.ended && (core.written < core.buffer.len() || !core.rx.is_empty()) {
                    // Sent while this thread held the locks: written before it goes.
                    helper.asked = true;
                    continue;
                }
                if finished || core.ended {
                    break;
                }
                if self.direct && core.patient {
                    core.patient = self
                        .stream
                        .set_write_timeout(Some(DIRECT_WRITE_TIMEOUT))
                        .is_err();
                }
                if !core.patient {
                    self.behind.store(false, Ordering::SeqCst);
                }
                helper.running = false;
                drop(core);
                drop(helper);
                self.after_release();
                return;
            }
            // Until the next look at the client's progress, or until `QUIET` is over.
            let wait = check_in.unwrap_or_else(|| QUIET.saturating_sub(idle));
            self.wake
                .wait_for(&mut helper, wait.max(Duration::from_millis(1)));
        }
        self.helper.lock().running = false;
    }

    /// After this thread let go of `core`: a kick that found it held meanwhile left `kicked`, and
    /// is made again here, so that what it was for is not left in the channel.
    fn after_release(self: &Arc<Self>) {
        if self.kicked.load(Ordering::SeqCst) {
            Arc::clone(self).kick();
        }
    }

    /// After a drain that may have made room in the channel: the session is pumped if the router
    /// found the channel full meanwhile.
    fn pump_if_starved(&self) {
        if let Some(slot) = self.slot.get()
            && self.starved.swap(false, Ordering::Relaxed)
        {
            self.router.pump(slot, self.connection_id);
        }
    }

    /// Takes batches from the channel and writes them until the channel is empty, a direct write
    /// falls short, or the stream ends.
    fn drain(&self, core: &mut Core, mode: Mode) -> Drained {
        if core.ended {
            return Drained::Ended;
        }
        if mode == Mode::Patient && !core.patient {
            core.patient = self
                .stream
                .set_write_timeout(Some(self.write_timeout))
                .is_ok();
        }
        loop {
            if core.written >= core.buffer.len() {
                if core.closing {
                    return self.end(core, true);
                }
                let (durable, taken) = core.take_batch(&self.router, self.connection_id);
                // What was taken from the channel is room for a reader that waits for it.
                core.rx.drained();
                if durable > 0 && !self.router.wait_durable(durable) {
                    // The log cannot be written: promising anything now would be a lie.
                    return self.end(core, false);
                }
                if !taken {
                    return Drained::All;
                }
                if core.buffer.is_empty() {
                    continue; // nothing encodable, or only `Close`
                }
            }
            let unwritten = &core.buffer[core.written..];
            let result = match mode {
                Mode::Direct => self.stream.try_write(unwritten),
                Mode::Patient => self.stream.write_all(unwritten).map(|()| unwritten.len()),
            };
            match result {
                Ok(count) => {
                    Metrics::add(&self.router.metrics.bytes_sent, count as u64);
                    core.written += count;
                    if core.written < core.buffer.len() {
                        return Drained::Behind;
                    }
                    core.wrote_all();
                }
                Err(error)
                    if mode == Mode::Direct
                        && matches!(
                            error.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) =>
                {
                    return Drained::Behind;
                }
                Err(error) => {
                    debug!("connection {}: write failed: {error}", self.connection_id);
                    return self.end(core, false);
                }
            }
        }
    }

    /// Ends the stream: closed the way its protocol says after `Close` (`graceful`), cut otherwise.
    fn end(&self, core: &mut Core, graceful: bool) -> Drained {
        core.ended = true;
        core.rx.close();
        core.buffer = Vec::new();
        core.written = 0;
        if graceful {
            // Ends the reader too: its next read returns end of file. A WebSocket client is sent
            // a close frame first.
            self.stream.close();
        } else {
            self.stream.shutdown();
        }
        Drained::Ended
    }
}

impl Drain for Writer {
    fn kick(self: Arc<Self>) {
        self.kicked.store(true, Ordering::SeqCst);
        if self.watch.swap(false, Ordering::SeqCst) {
            self.call_helper(false);
        }
        loop {
            if !self.direct || self.behind.load(Ordering::SeqCst) {
                // The helper empties the channel once asked, whatever was kicked meanwhile.
                self.kicked.store(false, Ordering::SeqCst);
                self.call_helper(true);
                return;
            }
            let Some(mut core) = self.core.try_lock() else {
                return; // its holder sees `kicked` before it lets go
            };
            if !self.kicked.swap(false, Ordering::SeqCst) {
                return; // drained meanwhile by whoever held `core`
            }
            let drained = if core.written < core.buffer.len() || core.patient {
                Drained::Behind // the helper's bytes go first
            } else {
                self.drain(&mut core, Mode::Direct)
            };
            drop(core);
            match drained {
                Drained::All => {}
                Drained::Behind => {
                    self.behind.store(true, Ordering::SeqCst);
                    self.kicked.store(false, Ordering::SeqCst);
                    self.call_helper(true);
                    return;
                }
                Drained::Ended => return,
            }
            self.pump_if_starved();
            if !self.kicked.load(Ordering::SeqCst) {
                return;
            }
        }
    }

    fn watch(&self) {
        self.watch.store(true, Ordering::SeqCst);
    }
}

impl Core {
    /// Encodes packets from the channel into `buffer` (emptied first), up to one batch: answers
    /// the highest LSN that must be durable before they are written, and whether anything was
    /// taken. `Close` stops the batch and sets `closing`.
    fn take_batch(&mut self, router: &Router, connection_id: u64) -> (u64, bool) {
        self.buffer.clear();
        self.written = 0;
        let mut durable = 0;
        let mut taken = false;
        while self.buffer.len() < BATCH_BYTES {
            let Ok(outbound) = self.rx.try_recv() else {
                break;
            };
            taken = true;
            match outbound {
                Outbound::Packet(packet) => self.encode(&packet, router, connection_id),
                Outbound::Durable(packet, lsn) => {
                    durable = durable.max(lsn);
                    self.encode(&packet, router, connection_id);
                }
                Outbound::Batch(batch, lsn) => {
                    durable = durable.max(lsn);
                    for packet in &batch {
                        self.encode(packet, router, connection_id);
                    }
                }
                Outbound::Close => {
                    self.closing = true;
                    break;
                }
            }
        }
        (durable, taken)
    }

    /// After the whole buffer was written: a connection that is sent little and seldom (a CONNACK,
    /// a PINGRESP) does not keep a buffer while it is idle, which with thousands of idle clients
    /// adds up; a busy one keeps it, rather than allocating one per write.
    fn wrote_all(&mut self) {
        let now = Instant::now();
        let quiet = self
            .last_write
            .is_none_or(|last| now.saturating_duration_since(last) >= QUIET);
        self.last_write = Some(now);
        if quiet && self.buffer.len() < SMALL_WRITE {
            self.buffer = Vec::new();
        } else {
            self.buffer.clear();
            if self.buffer.capacity() > BATCH_BYTES * 4 {
                self.buffer.shrink_to(BATCH_BYTES);
            }
        }
        self.written = 0;
    }

    /// Appends `packet` to `buffer`; a packet that cannot be encoded (a bug) is logged and left out.
    fn encode(&mut self, packet: &OutPacket, router: &Router, connection_id: u64) {
        let start = self.buffer.len();
        let encoded = match self.encoding.mqtt5 {
            None => packet.encode(self.encoding.level, &mut self.buffer),
            Some(maximum) => self.encode5(packet, maximum, connection_id),
        };
        if let Err(error) = encoded {
            error!("connection {connection_id}: cannot encode {packet:?}: {error}");
            return;
        }
        Metrics::add(&router.metrics.messages_sent, 1);
        let mqtt5 = self.encoding.mqtt5.is_some();
        if packet.is_publish() {
            Metrics::add(&router.metrics.publish_sent, 1);
            let payload = OutPacket::publish_payload_len(&self.buffer[start..], mqtt5);
            Metrics::add(&router.metrics.publish_bytes_sent, payload as u64);
        }
        if logging::lines::packet_lines_enabled() {
            logging::lines::sent(&self.encoding.client_id, mqtt5, &self.buffer[start..]);
        }
    }

    /// Appends `packet` at 5.0, a PUBLISH under its Topic Alias where it has or gets one, unless
    /// the result is over the client's Maximum Packet Size `maximum`: then nothing is appended.
    fn encode5(
        &mut self,
        packet: &OutPacket,
        maximum: usize,
        connection_id: u64,
    ) -> Result<usize, mqtt_codec::EncodeError> {
        let buffer = &mut self.buffer;
        let start = buffer.len();
        let now = Instant::now();
        let topic = match packet {
            OutPacket::Publish { message, .. } => Some(&message.topic),
            _ => None,
        };
        let alias = topic
            .zip(self.encoding.aliases.as_ref())
            .and_then(|(topic, aliases)| aliases.name(topic));
        let shape = Shape {
            alias,
            explain: self.encoding.explain,
        };
        let mut len = packet.encode5_shaped(now, shape, buffer)?;
        if len > maximum && (matches!(alias, Some(AliasUse::Set(_))) || self.encoding.explain) {
            // Setting an alias adds three bytes, a Reason String more: without them the packet
            // may still fit [MQTT5-3.4.2-2].
            buffer.truncate(start);
            len = packet.encode5_shaped(now, Shape::default(), buffer)?;
        } else if let (Some(AliasUse::Set(alias)), Some(topic), Some(aliases)) =
            (alias, topic, self.encoding.aliases.as_mut())
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
                "connection {connection_id}: {len} bytes over the client's Maximum Packet Size {maximum}, not sent"
            );
        }
        Ok(len)
    }
}

//! Publishers and subscribers on one topic, flat out, with every message accounted for.
//!
//! Each publisher and each subscriber has its own connection and thread; a QoS 1 or 2 publisher has a
//! second thread reading its acknowledgements. Writes are batched (up to 64 KiB of PUBLISH packets
//! per system call) and acknowledgements are sent once per read, so the client does little per
//! message.
//!
//! # Flow control, and why it is end to end
//!
//! A publisher that writes as fast as the socket takes measures how much the broker buffers or drops,
//! not how fast it delivers. So each publisher keeps at most `window / publishers` messages
//! (`--window`, 1 000 by default) *between itself and its slowest subscriber*: published, and not yet
//! reached by that subscriber's stream (a subscriber has reached sequence number n when it has
//! received n or a later message of that publisher; a skipped message was lost, and waiting for it
//! would be pointless). That is both brokers' default queue of 1 000 messages per session, so a
//! broker that keeps its own promise loses no QoS 1 or 2 message. If no subscriber moves on for
//! `STALL` while the publisher waits for room, the messages outstanding are written off (counted as
//! lost by the final accounting if they never come) and publishing goes on, so that a broker that
//! drops the last messages cannot stall the run.
//!
//! At QoS 1 and 2 a publisher also keeps at most `--flows` (20 by default) flows open: PUBLISH sent,
//! PUBACK or PUBCOMP not yet received. That is both brokers' default `max_inflight_messages`, the
//! Receive Maximum mosquitto announces to MQTT 5 clients; mosquitto 2.0.11 loses QoS 2 messages
//! from a 3.1.1 publisher that keeps many more open.
//!
//! # What is reported
//!
//! Deliveries per second (messages received by all subscribers together) over the measuring window,
//! after a warm-up; the broker's CPU seconds per million deliveries in the same window; its resident
//! memory at the end of the window and at its peak. After the window, publishing stops and the run
//! waits (bounded) for the stragglers, then compares published × subscribers with what was received,
//! per publisher and sequence number, so that losses and duplicates are exact.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mqtt_codec::{Delivery, Packet, PubAck, PubComp, PubRec, PubRel, QoS};

use super::client::{self, Reader, Stamp};
use super::scenario::{BrokerSetup, ThroughputShape};
use super::target::{Memory, Target};

/// No delivery progress for this long while waiting means the outstanding messages are lost: QoS 0
/// messages are dropped by design, QoS 1 and 2 ones only by a broker in trouble, so it waits longer.
const STALL: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(250)];
/// The most bytes of PUBLISH packets written with one system call.
const BATCH_BYTES: usize = 64 * 1024;
/// How long stragglers may take to arrive once publishing has stopped.
const DRAIN: Duration = Duration::from_secs(10);
/// A write blocked this long means the broker stopped reading: the run fails rather than hangs.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The figures of one throughput run.
#[derive(Debug, Clone)]
pub(crate) struct Throughput {
    pub(crate) per_second: f64,
    pub(crate) counts: Counts,
    pub(crate) cpu_per_million: Option<f64>,
    pub(crate) memory: Option<Memory>,
}

/// Message accounting at the end of a run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub(crate) published: u64,
    /// Published × subscribers.
    pub(crate) expected: u64,
    /// Distinct messages received, all subscribers together.
    pub(crate) delivered: u64,
    pub(crate) duplicates: u64,
}

impl Counts {
    pub(crate) fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }
}

/// Runs one throughput scenario against `target`.
pub(crate) fn run(shape: &ThroughputShape, target: &Target) -> Result<Throughput, String> {
    let plan = Plan {
        qos: shape.qos,
        publishers: shape.publishers,
        subscribers: shape.subscribers,
        payload: shape.payload,
        pace: None,
        record_latency: false,
        window: shape.in_flight,
        flows: shape.flows,
        persistent: shape.setup == BrokerSetup::Persistent,
    };
    let running = Running::start(&plan, target)?;
    thread::sleep(shape.warmup);
    let before = (running.shared.delivered_total(), target.cpu_seconds());
    let started = Instant::now();
    thread::sleep(shape.window);
    let after = (running.shared.delivered_total(), target.cpu_seconds());
    let elapsed = started.elapsed().as_secs_f64();
    let memory = target.memory_kib();
    let finished = running.finish()?;
    let deliveries = after.0.saturating_sub(before.0);
    let cpu_per_million = match (before.1, after.1) {
        (Some(start), Some(end)) if deliveries > 0 => {
            Some((end - start) / (deliveries as f64 / 1e6))
        }
        _ => None,
    };
    Ok(Throughput {
        per_second: deliveries as f64 / elapsed,
        counts: finished.counts,
        cpu_per_million,
        memory,
    })
}

/// What to start: the same machinery serves the latency scenarios, paced.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) qos: QoS,
    pub(crate) publishers: usize,
    pub(crate) subscribers: usize,
    pub(crate) payload: usize,
    /// Messages per second per publisher, or flat out.
    pub(crate) pace: Option<u32>,
    /// Keep each message's delivery time.
    pub(crate) record_latency: bool,
    /// Messages allowed between the publishers and their slowest subscriber, all publishers together.
    pub(crate) window: u64,
    /// QoS 1 and 2 flows each publisher keeps open at most.
    pub(crate) flows: u64,
    /// Connect with CleanSession 0, so that a broker with persistence on keeps the sessions durably.
    pub(crate) persistent: bool,
}

/// The result of a finished run.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) counts: Counts,
    /// Delivery times in nanoseconds, if recorded.
    pub(crate) latencies: Vec<u64>,
}

/// The clients of a run, started and working.
pub(crate) struct Running {
    pub(crate) shared: Arc<Shared>,
    subscribers: Vec<JoinHandle<Result<SubscriberEnd, String>>>,
    publishers: Vec<JoinHandle<Result<(), String>>>,
    ack_readers: Vec<JoinHandle<Result<(), String>>>,
}

/// What the threads of a run share.
#[derive(Debug)]
pub(crate) struct Shared {
    qos: QoS,
    subscribers: u64,
    topic: String,
    /// Per publisher: messages published (counted before they are written).
    published: Vec<AtomicU64>,
    /// Per publisher, per subscriber: the sequence number after the last message received.
    reached: Vec<Vec<AtomicU64>>,
    /// Per publisher: QoS 1 and 2 flows completed (PUBACK, PUBCOMP).
    completed: Vec<AtomicU64>,
    /// Per publisher: PUBREC identifiers waiting for their PUBREL to be written.
    releases: Vec<Mutex<Vec<u16>>>,
    delivered_total: AtomicU64,
    /// Publishers stop publishing (they still finish their QoS 2 flows).
    stop: AtomicBool,
    /// Every thread stops.
    done: AtomicBool,
    progress: Progress,
}

impl Shared {
    pub(crate) fn delivered_total(&self) -> u64 {
        self.delivered_total.load(Ordering::Acquire)
    }

    fn published_total(&self) -> u64 {
        self.published
            .iter()
            .map(|count| count.load(Ordering::Acquire))
            .sum()
    }

    fn completed_total(&self) -> u64 {
        self.completed
            .iter()
            .map(|count| count.load(Ordering::Acquire))
            .sum()
    }
}

impl Running {
    /// Connects the subscribers (each waits for its SUBACK), then the publishers, and lets them go.
    pub(crate) fn start(plan: &Plan, target: &Target) -> Result<Self, String> {
        let run = next_run_id();
        let shared = Arc::new(Shared {
            qos: plan.qos,
            subscribers: plan.subscribers as u64,
            topic: format!("bench/{}/{run}", std::process::id()),
            published: (0..plan.publishers).map(|_| AtomicU64::new(0)).collect(),
            reached: (0..plan.publishers)
                .map(|_| (0..plan.subscribers).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            completed: (0..plan.publishers).map(|_| AtomicU64::new(0)).collect(),
            releases: (0..plan.publishers)
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
            delivered_total: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
            progress: Progress::default(),
        });
        let mut running = Self {
            shared: Arc::clone(&shared),
            subscribers: Vec::new(),
            publishers: Vec::new(),
            ack_readers: Vec::new(),
        };
        // On an early return, dropping `running` stops and joins whatever was started.
        for index in 0..plan.subscribers {
            let id = format!("bench-{}-{run}-sub-{index}", std::process::id());
            let (mut stream, mut reader) =
                client::connect(target.address, &id, 60, plan.persistent)?;
            client::subscribe(&mut stream, &mut reader, &shared.topic, plan.qos)?;
            stream
                .set_write_timeout(Some(WRITE_TIMEOUT))
                .map_err(|error| error.to_string())?;
            let subscriber = Subscriber {
                shared: Arc::clone(&shared),
                index,
                stream,
                reader,
                publishers: plan.publishers,
                record_latency: plan.record_latency,
            };
            running
                .subscribers
                .push(spawn(&format!("sub-{index}"), move || subscriber.run())?);
        }
        let epoch = Instant::now();
        for index in 0..plan.publishers {
            let id = format!("bench-{}-{run}-pub-{index}", std::process::id());
            let (stream, reader) = client::connect(target.address, &id, 60, plan.persistent)?;
            stream
                .set_write_timeout(Some(WRITE_TIMEOUT))
                .map_err(|error| error.to_string())?;
            let publisher = Publisher {
                shared: Arc::clone(&shared),
                index,
                stream: stream
                    .try_clone()
                    .map_err(|error| format!("cannot clone a socket: {error}"))?,
                payload: plan.payload.max(Stamp::LEN),
                window: (plan.window / plan.publishers as u64).max(32),
                flows: plan.flows.clamp(1, 65_535),
                pace: plan.pace.map(|rate| (epoch, rate)),
            };
            if plan.qos != QoS::AtMostOnce {
                let acks = AckReader {
                    shared: Arc::clone(&shared),
                    index,
                    stream,
                    reader,
                };
                running
                    .ack_readers
                    .push(spawn(&format!("acks-{index}"), move || acks.run())?);
            }
            running
                .publishers
                .push(spawn(&format!("pub-{index}"), move || publisher.run())?);
        }
        Ok(running)
    }

    /// Stops publishing, waits (bounded) for every QoS 1 and 2 flow to complete and every message
    /// to arrive, then stops the threads and does the accounting.
    pub(crate) fn finish(mut self) -> Result<Finished, String> {
        let shared = Arc::clone(&self.shared);
        shared.stop.store(true, Ordering::Release);
        shared.progress.bump();
        let mut errors = Vec::new();
        for publisher in self.publishers.drain(..) {
            collect(publisher.join(), &mut errors);
        }
        wait_for_stragglers(&shared);
        shared.done.store(true, Ordering::Release);
        shared.progress.bump();
        for reader in self.ack_readers.drain(..) {
            collect(reader.join(), &mut errors);
        }
        let mut counts = Counts {
            published: shared.published_total(),
            ..Counts::default()
        };
        counts.expected = counts.published * shared.subscribers;
        let mut latencies = Vec::new();
        for subscriber in self.subscribers.drain(..) {
            if let Some(end) = collect(subscriber.join(), &mut errors) {
                counts.delivered += end.distinct;
                counts.duplicates += end.duplicates;
                latencies.extend(end.latencies);
            }
        }
        if let Some(error) = errors.into_iter().next() {
            return Err(error);
        }
        Ok(Finished { counts, latencies })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.done.store(true, Ordering::Release);
        self.shared.progress.bump();
        for handle in self.publishers.drain(..).chain(self.ack_readers.drain(..)) {
            let _ = handle.join();
        }
        for handle in self.subscribers.drain(..) {
            let _ = handle.join();
        }
    }
}

/// Waits until every message has arrived and every flow has completed, or no progress is made for a
/// while (QoS 0 messages that were dropped never come), within [`DRAIN`].
fn wait_for_stragglers(shared: &Shared) {
    let deadline = Instant::now() + DRAIN;
    let quiet = if shared.qos == QoS::AtMostOnce {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(3)
    };
    let mut last = (shared.delivered_total(), shared.completed_total());
    let mut last_change = Instant::now();
    while Instant::now() < deadline && last_change.elapsed() < quiet {
        let expected = shared.published_total() * shared.subscribers;
        let complete = shared.qos == QoS::AtMostOnce || last.1 >= shared.published_total();
        if last.0 >= expected && complete {
            return;
        }
        thread::sleep(Duration::from_millis(2));
        let now = (shared.delivered_total(), shared.completed_total());
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
}

fn collect<T>(joined: thread::Result<Result<T, String>>, errors: &mut Vec<String>) -> Option<T> {
    match joined {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            errors.push(error);
            None
        }
        Err(_) => {
            errors.push("a load generator thread panicked".to_owned());
            None
        }
    }
}

fn spawn<T: Send + 'static>(
    name: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, String> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
        .map_err(|error| format!("cannot start a thread: {error}"))
}

fn next_run_id() -> u64 {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    RUNS.fetch_add(1, Ordering::Relaxed)
}

/// One publishing connection's writing side.
struct Publisher {
    shared: Arc<Shared>,
    index: usize,
    stream: TcpStream,
    payload: usize,
    /// Messages allowed between this publisher and its subscribers.
    window: u64,
    /// QoS 1 and 2 flows open at most.
    flows: u64,
    /// For the latency scenarios: the start and the rate in messages per second.
    pace: Option<(Instant, u32)>,
}

impl Publisher {
    fn run(mut self) -> Result<(), String> {
        let shared = Arc::clone(&self.shared);
        let mut out = Vec::with_capacity(BATCH_BYTES + self.payload + 256);
        let mut payload = vec![0u8; self.payload];
        let per_packet = self.payload + shared.topic.len() + 9;
        let batch = (BATCH_BYTES / per_packet).max(1) as u64;
        let mut sequence = 0u64;
        let stall = STALL[usize::from(shared.qos != QoS::AtMostOnce)];
        // Everything before this sequence number is written off as lost.
        let mut written_off = 0u64;
        let mut stalled_since: Option<(Instant, u64)> = None;
        loop {
            let stopping = shared.stop.load(Ordering::Acquire);
            out.clear();
            self.release(&mut out)?;
            let room = if stopping {
                0
            } else {
                self.room(sequence, written_off).min(batch)
            };
            for _ in 0..room {
                Stamp {
                    publisher: self.index as u32,
                    sequence,
                    sent: client::now_nanos(),
                }
                .write(&mut payload);
                let id = (sequence % 65_535) as u16 + 1;
                client::publish(&mut out, &shared.topic, &payload, shared.qos, id)?;
                sequence += 1;
            }
            shared.published[self.index].store(sequence, Ordering::Release);
            if !out.is_empty() {
                stalled_since = None;
                std::io::Write::write_all(&mut self.stream, &out)
                    .map_err(|error| format!("publisher {}: write failed: {error}", self.index))?;
                continue;
            }
            let completed = shared.completed[self.index].load(Ordering::Acquire);
            if stopping && (shared.qos == QoS::AtMostOnce || completed >= sequence) {
                return Ok(());
            }
            if shared.done.load(Ordering::Acquire) {
                return Ok(());
            }
            if let Some(wait) = self.pace_wait(sequence) {
                thread::sleep(wait);
                continue;
            }
            // No room: wait for deliveries; write off what a broker seems to have dropped.
            let reached = self.reached();
            match stalled_since {
                Some((since, seen)) if seen == reached && since.elapsed() >= stall => {
                    written_off = sequence;
                    stalled_since = None;
                }
                Some((_, seen)) if seen == reached => {}
                _ => stalled_since = Some((Instant::now(), reached)),
            }
            let index = self.index;
            shared.progress.wait(Duration::from_millis(5), || {
                self.reached() != reached
                    || shared.completed[index].load(Ordering::Acquire) != completed
                    || !shared.releases[index]
                        .lock()
                        .is_ok_and(|ids| ids.is_empty())
                    || shared.stop.load(Ordering::Acquire) != stopping
                    || shared.done.load(Ordering::Acquire)
            });
        }
    }

    /// How many messages may be published now.
    fn room(&self, sequence: u64, written_off: u64) -> u64 {
        let shared = &self.shared;
        let between = sequence.saturating_sub(written_off.max(self.reached()));
        let mut room = self.window.saturating_sub(between);
        if shared.qos != QoS::AtMostOnce {
            // Packet identifiers must not be reused while in use, so the flows open are bounded too.
            let open = sequence - shared.completed[self.index].load(Ordering::Acquire);
            room = room.min(self.flows.saturating_sub(open));
        }
        if let Some((start, rate)) = self.pace {
            let due = (start.elapsed().as_secs_f64() * f64::from(rate)) as u64 + 1;
            room = room.min(due.saturating_sub(sequence));
        }
        room
    }

    /// The sequence number the slowest subscriber has reached.
    fn reached(&self) -> u64 {
        self.shared.reached[self.index]
            .iter()
            .map(|position| position.load(Ordering::Acquire))
            .min()
            .unwrap_or(0)
    }

    /// When paced and ahead of schedule: how long until the next message is due.
    fn pace_wait(&self, sequence: u64) -> Option<Duration> {
        let (start, rate) = self.pace?;
        let due_at = Duration::from_secs_f64(sequence as f64 / f64::from(rate));
        let elapsed = start.elapsed();
        (due_at > elapsed).then(|| due_at - elapsed)
    }

    /// Appends the PUBRELs the acknowledgement reader asked for.
    fn release(&self, out: &mut Vec<u8>) -> Result<(), String> {
        let ids = match self.shared.releases[self.index].lock() {
            Ok(mut ids) => std::mem::take(&mut *ids),
            Err(_) => return Err("a lock was poisoned".to_owned()),
        };
        for id in ids {
            client::encode(
                Packet::PubRel(PubRel {
                    packet_id: client::packet_id(id),
                }),
                out,
            )?;
        }
        Ok(())
    }
}

/// One publishing connection's reading side (QoS 1 and 2): counts completed flows and asks the
/// publisher for PUBRELs. It never writes, so it never waits for the publisher: a broker blocked
/// writing PUBRECs to us is always being read.
struct AckReader {
    shared: Arc<Shared>,
    index: usize,
    stream: TcpStream,
    reader: Reader,
}

impl AckReader {
    fn run(mut self) -> Result<(), String> {
        let shared = Arc::clone(&self.shared);
        self.stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(|error| error.to_string())?;
        while !shared.done.load(Ordering::Acquire) {
            match self.reader.fill(&self.stream) {
                Ok(0) => return Err(format!("publisher {}: connection closed", self.index)),
                Ok(_) => {}
                Err(error) if client::timed_out(&error) => continue,
                Err(error) => return Err(format!("publisher {}: {error}", self.index)),
            }
            let mut completed = 0;
            let mut releases = Vec::new();
            self.reader.drain(|packet| match packet {
                Packet::PubAck(_) | Packet::PubComp(_) => completed += 1,
                Packet::PubRec(PubRec { packet_id }) => releases.push(packet_id.get()),
                _ => {}
            })?;
            if !releases.is_empty()
                && let Ok(mut ids) = shared.releases[self.index].lock()
            {
                ids.extend(releases);
            }
            shared.completed[self.index].fetch_add(completed, Ordering::AcqRel);
            shared.progress.bump();
        }
        Ok(())
    }
}

/// What a subscriber counted.
#[derive(Debug, Default)]
struct SubscriberEnd {
    distinct: u64,
    duplicates: u64,
    latencies: Vec<u64>,
}

/// One subscribing connection: counts, acknowledges and (for latency) times every message.
struct Subscriber {
    shared: Arc<Shared>,
    index: usize,
    stream: TcpStream,
    reader: Reader,
    publishers: usize,
    record_latency: bool,
}

impl Subscriber {
    fn run(mut self) -> Result<SubscriberEnd, String> {
        let shared = Arc::clone(&self.shared);
        self.stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(|error| error.to_string())?;
        let mut end = SubscriberEnd::default();
        // Per publisher: the next sequence number expected.
        let mut next = vec![0u64; self.publishers];
        let mut fresh = 0;
        let mut acks = Vec::with_capacity(16 * 1024);
        while !shared.done.load(Ordering::Acquire) {
            match self.reader.fill(&self.stream) {
                Ok(0) => return Err("subscriber: connection closed".to_owned()),
                Ok(_) => {}
                Err(error) if client::timed_out(&error) => continue,
                Err(error) => return Err(format!("subscriber: {error}")),
            }
            let received = client::now_nanos();
            let mut failure = Ok(());
            self.reader.drain(|packet| {
                let reply = match packet {
                    Packet::Publish(publish) => {
                        if let Some(stamp) = Stamp::read(publish.payload) {
                            let publisher = stamp.publisher as usize;
                            if let Some(expected) = next.get_mut(publisher) {
                                if stamp.sequence < *expected {
                                    end.duplicates += 1;
                                } else {
                                    *expected = stamp.sequence + 1;
                                    fresh += 1;
                                    end.distinct += 1;
                                    if self.record_latency {
                                        end.latencies.push(received.saturating_sub(stamp.sent));
                                    }
                                }
                            }
                        }
                        match publish.delivery {
                            Delivery::AtMostOnce => None,
                            Delivery::AtLeastOnce { packet_id, .. } => {
                                Some(Packet::PubAck(PubAck { packet_id }))
                            }
                            Delivery::ExactlyOnce { packet_id, .. } => {
                                Some(Packet::PubRec(PubRec { packet_id }))
                            }
                        }
                    }
                    Packet::PubRel(PubRel { packet_id }) => {
                        Some(Packet::PubComp(PubComp { packet_id }))
                    }
                    _ => None,
                };
                if let Some(reply) = reply
                    && let Err(error) = client::encode(reply, &mut acks)
                {
                    failure = Err(error);
                }
            })?;
            failure?;
            if !acks.is_empty() {
                std::io::Write::write_all(&mut self.stream, &acks)
                    .map_err(|error| format!("subscriber: write failed: {error}"))?;
                acks.clear();
            }
            for (position, reached) in next.iter().zip(&shared.reached) {
                if let Some(shared_position) = reached.get(self.index) {
                    shared_position.store(*position, Ordering::Release);
                }
            }
            shared.delivered_total.fetch_add(fresh, Ordering::AcqRel);
            fresh = 0;
            shared.progress.bump();
        }
        Ok(end)
    }
}

/// A wake-up for publishers waiting for room: bumped by whoever counts progress. Notifies only when
/// someone waits, so that the common case costs one atomic load.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    waiting: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Progress {
    fn bump(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders this bump after a waiter's last look at `ready`.
            drop(self.lock.lock());
            self.wake.notify_all();
        }
    }

    /// Waits until `ready` or `timeout`. A bump after `ready` was checked cannot be missed: the
    /// waiter is counted before it looks, and the bump takes the lock the waiter holds while looking.
    fn wait(&self, timeout: Duration, ready: impl Fn() -> bool) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        if let Ok(guard) = self.lock.lock()
            && !ready()
        {
            let _ = self.wake.wait_timeout(guard, timeout);
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

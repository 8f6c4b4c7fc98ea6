//! [`Persistence`]: the durable copy of everything a restart must not lose (retained messages and
//! persistent sessions, with their subscriptions, queues, in-flight windows and inbound QoS 2
//! identifiers), kept as a write-ahead log plus a snapshot.
//!
//! # The promise
//!
//! Once the broker has acknowledged a QoS 1 or 2 PUBLISH (PUBACK or PUBREC on the wire), the message is
//! in the durable queue of every matching persistent session, and survives `SIGKILL` at any moment.
//! The same holds for SUBACK (the subscription is durable), PUBCOMP to a publisher (the identifier is
//! durably free) and, towards subscribers, for every PUBLISH (its packet identifier is durable, so a
//! re-send after a restart carries the same identifier and a QoS 2 receiver drops it as a duplicate)
//! and every PUBREL (the PUBLISH is durably never to be sent again) [MQTT-4.3.3-1].
//!
//! # How
//!
//! `routing/router.rs` appends a [`Record`] for every change to a persistent session or to the retained store,
//! while it holds the lock that protects that state, so each session's records are in the order its
//! changes happened. Writer threads wait for the log to be durable up to the newest record before
//! sending any of the packets listed above (see `wal.rs`, "Group commit"). QoS 0 traffic, CONNACK,
//! PINGRESP and clean sessions never wait.
//!
//! # On disk (`persistence_location`)
//!
//! - `wal-<generation>.log`: log segments, records framed as in `src/record.rs`. Only the newest is
//!   appended to; a new one is started at start-up and at each compaction.
//! - `snapshot`: the whole state at one point, as records, starting with a header record-less magic
//!   `MQTTSNAP` + u64 LE generation (the first segment to replay after it) and ending with an `End`
//!   record. Written to `snapshot.tmp`, synced, then renamed over `snapshot` and the directory synced,
//!   so a crash leaves either the old snapshot or the new one, never half of one.
//!
//! Compaction (when the open segment passes 64 MiB, at start-up and at a clean shutdown): start a new
//! segment, write a snapshot of the live state, delete the older segments. The snapshot is taken
//! session by session while the broker runs, so records of the new segment may already be reflected
//! in it: each session's snapshot carries a mark, the LSN of its last record included, and replay
//! skips that session's records up to the mark (the retained store has one mark of its own).
//!
//! This file loads and compacts; `wal.rs` owns the files, `src/record.rs` the bytes.

mod wal;

pub(crate) use wal::Group;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use log::info;

use crate::record::Record;

use crate::message::Message;

/// Open segments are compacted beyond this size.
pub(crate) const COMPACT_BYTES: u64 = 64 * 1024 * 1024;
const SNAPSHOT_MAGIC: &[u8; 8] = b"MQTTSNAP";

/// The durable store of a broker with `persistence true`.
#[derive(Debug)]
pub(crate) struct Persistence {
    dir: PathBuf,
    log: wal::Log,
}

/// What one persistent session's records rebuild at start-up.
///
/// `routing/session_state.rs` implements it for `SessionState`. This folder replays records in
/// order, skips what a snapshot already holds, and knows which session each record belongs to, but
/// not what a session holds: so `persistence/` does not depend on `routing/`, and the one direction
/// is routing -> persistence (the router appends records while it holds its locks). The test
/// `persistence_does_not_depend_on_routing` below keeps it so.
pub(crate) trait ReplayedState: Default + std::fmt::Debug {
    /// Applies one record of this session, in log order. `Session`, `Session5`, `Detached`,
    /// `Forget`, the marks, `Retain` and `End` never come here: the replay handles them itself.
    fn replay(&mut self, record: Record);
}

/// A persistent session as loaded.
#[derive(Debug, Default)]
pub(crate) struct RestoredSession<S> {
    pub(crate) user: Option<Arc<str>>,
    /// A 5.0 client's session: its Session Expiry Interval.
    pub(crate) expiry5: Option<u32>,
    /// When it lost its last connection, in wall-clock milliseconds since the Unix epoch (see
    /// `record.rs`); `None` when the log does not say: it was connected at a crash, or the log was
    /// written before it kept that.
    pub(crate) detached_at: Option<u64>,
    pub(crate) state: S,
    pub(crate) last_lsn: u64,
}

/// Everything loaded at start-up.
#[derive(Debug)]
pub(crate) struct Restored<S> {
    pub(crate) sessions: BTreeMap<Arc<str>, RestoredSession<S>>,
    pub(crate) retained: BTreeMap<Arc<str>, Message>,
    pub(crate) retained_lsn: u64,
}

impl Persistence {
    /// Loads the state in `dir` (created if missing) and opens a new log segment after it. Errors
    /// name the file and, for damage, the byte offset.
    pub(crate) fn open<S: ReplayedState>(dir: &Path) -> Result<(Self, Restored<S>), String> {
        fs::create_dir_all(dir)
            .map_err(|error| format!("persistence_location {}: {error}", dir.display()))?;
        let mut replay = Replay::<S>::new();
        let snapshot = dir.join("snapshot");
        let mut first_generation = 0;
        if snapshot.exists() {
            first_generation = replay.snapshot(&snapshot)?;
        }
        let generations = wal::segments(dir)?;
        let last = generations.last().copied();
        for &generation in &generations {
            let path = wal::segment_path(dir, generation);
            if generation < first_generation {
                // Left by a compaction that stopped before deleting it: already in the snapshot.
                let _ = fs::remove_file(&path);
                continue;
            }
            let read = wal::read_file(&path, Some(generation) == last)?;
            if let Some(at) = read.torn_at {
                wal::truncate(&path, at)?;
            }
            for (lsn, record) in read.records {
                replay.apply(lsn, record, false);
            }
        }
        let generation = last.unwrap_or(0).max(first_generation) + 1;
        let log = wal::Log::create(dir, generation, replay.max_lsn + 1)?;
        let restored = replay.finish();
        info!(
            "persistence: loaded {} sessions and {} retained messages from {}",
            restored.sessions.len(),
            restored.retained.len(),
            dir.display()
        );
        Ok((
            Self {
                dir: dir.to_owned(),
                log,
            },
            restored,
        ))
    }

    /// Appends a record (see `wal.rs`); answers its LSN.
    pub(crate) fn append(&self, record: &Record) -> u64 {
        self.log.append(record)
    }

    /// Begins a group of records that a restart applies whole or not at all; it ends when the
    /// answer is dropped (see `wal.rs`, "Groups"). Call it with no lock held, and wait for nothing
    /// while it is open.
    pub(crate) fn begin_group(&self) -> Group<'_> {
        self.log.begin_group()
    }

    /// The highest LSN appended.
    pub(crate) fn appended(&self) -> u64 {
        self.log.appended()
    }

    /// Blocks until `lsn` is durable; false if the log failed.
    pub(crate) fn wait_durable(&self, lsn: u64) -> bool {
        self.log.wait_durable(lsn)
    }

    /// Whether the open segment is large enough to compact.
    pub(crate) fn wants_compaction(&self) -> bool {
        self.log.segment_len() > COMPACT_BYTES
    }

    /// The flusher thread's body.
    pub(crate) fn run_flusher(&self) {
        self.log.run_flusher();
    }

    /// Stops the flusher once it has written everything.
    pub(crate) fn stop(&self) {
        self.log.stop();
    }

    /// Compaction: starts a new segment, writes the snapshot `collect` produces, deletes the
    /// segments the snapshot replaces. `collect` must take each session's state and mark under that
    /// session's lock (see the module doc).
    ///
    /// No group of records is open while `collect` runs (see `wal.rs`, "Groups"): a snapshot with
    /// half an inbound QoS 2 message in it (its publisher's `Received`, not every subscriber's
    /// `Enqueue`) would lose the message at the next crash.
    pub(crate) fn compact(&self, collect: impl FnOnce() -> Vec<Record>) -> Result<(), String> {
        let (generation, records, lsn) = self.log.quiesce(|| {
            let generation = self.log.rotate()?;
            let records = collect();
            // Every record the snapshot reflects has an LSN up to this; framing the snapshot's
            // records with it makes the next start continue numbering above every mark (see
            // `Replay::apply`).
            Ok::<_, String>((generation, records, self.log.appended()))
        })?;
        let mut bytes = Vec::with_capacity(1024);
        bytes.extend_from_slice(SNAPSHOT_MAGIC);
        bytes.extend_from_slice(&generation.to_le_bytes());
        for record in records.iter().chain([&Record::End]) {
            wal::frame(record, lsn, &mut bytes);
        }
        let temporary = self.dir.join("snapshot.tmp");
        let io = |error: std::io::Error| format!("{}: {error}", temporary.display());
        let mut file = fs::File::create(&temporary).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&temporary, self.dir.join("snapshot")).map_err(io)?;
        wal::sync_dir(&self.dir).map_err(io)?;
        for old in wal::segments(&self.dir)? {
            if old < generation {
                let _ = fs::remove_file(wal::segment_path(&self.dir, old));
            }
        }
        log::debug!(
            "persistence: compacted to {} records, {} bytes",
            records.len(),
            bytes.len()
        );
        Ok(())
    }
}

/// Applies records, from the snapshot and then from the log, to rebuild the state.
#[derive(Debug)]
struct Replay<S> {
    sessions: HashMap<Arc<str>, RestoredSession<S>>,
    retained: BTreeMap<Arc<str>, Message>,
    /// Per session: log records up to this LSN are already in the snapshot.
    marks: HashMap<Arc<str>, u64>,
    retained_mark: u64,
    max_lsn: u64,
}

impl<S> Default for Restored<S> {
    fn default() -> Self {
        Self {
            sessions: BTreeMap::new(),
            retained: BTreeMap::new(),
            retained_lsn: 0,
        }
    }
}

impl<S: ReplayedState> Replay<S> {
    fn new() -> Self {
        Self {
            sessions: HashMap::new(),
            retained: BTreeMap::new(),
            marks: HashMap::new(),
            retained_mark: 0,
            max_lsn: 0,
        }
    }

    /// Reads the snapshot; answers the first log generation that follows it.
    fn snapshot(&mut self, path: &Path) -> Result<u64, String> {
        let bytes =
            fs::read(path).map_err(|error| format!("{}: cannot read: {error}", path.display()))?;
        if bytes.len() < 16 || &bytes[..8] != SNAPSHOT_MAGIC {
            return Err(format!(
                "{}: not a snapshot of this broker (bad header at byte offset 0)",
                path.display()
            ));
        }
        let generation = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default());
        let read = wal::read_bytes(&bytes[16..], path, false, 16)?;
        if read.records.last().map(|(_, record)| record) != Some(&Record::End) {
            return Err(format!(
                "{}: the snapshot is incomplete (no end record)",
                path.display()
            ));
        }
        for (lsn, record) in read.records {
            self.apply(lsn, record, true);
        }
        Ok(generation)
    }

    fn apply(&mut self, lsn: u64, record: Record, from_snapshot: bool) {
        // New records must be numbered above every mark, or the next replay would skip them as
        // already in the snapshot (found by `cargo xtask crash`: lost and repeated QoS 2 messages).
        self.max_lsn = self.max_lsn.max(lsn);
        if let Record::SessionMark { lsn: mark, .. } | Record::RetainedMark { lsn: mark } = &record
        {
            self.max_lsn = self.max_lsn.max(*mark);
        }
        if !from_snapshot {
            let skip = match record.client_id() {
                Some(client_id) => self.marks.get(client_id).is_some_and(|&mark| lsn <= mark),
                None => lsn <= self.retained_mark,
            };
            if skip {
                return;
            }
        }
        if let Record::Session { client_id, user } = &record {
            let session = self.sessions.entry(Arc::clone(client_id)).or_default();
            session.user.clone_from(user);
            // A connection opened it: connected until a `Detached` says otherwise.
            session.detached_at = None;
            session.last_lsn = lsn;
            return;
        }
        if let Some(client_id) = record.client_id()
            && let Some(session) = self.sessions.get_mut(client_id)
        {
            session.last_lsn = session.last_lsn.max(lsn);
        }
        match record {
            Record::Retain(message) => {
                if message.payload.is_empty() {
                    self.retained.remove(&message.topic);
                } else {
                    self.retained.insert(Arc::clone(&message.topic), message);
                }
            }
            // `wal.rs` keeps group markers out of what it reads.
            Record::Session { .. } | Record::End | Record::GroupBegin | Record::GroupEnd => {}
            Record::Forget { client_id } => {
                self.sessions.remove(&client_id);
            }
            Record::Session5 { client_id, expiry } => {
                if let Some(session) = self.sessions.get_mut(&client_id) {
                    session.expiry5 = Some(expiry);
                }
            }
            Record::Detached { client_id, at } => {
                if let Some(session) = self.sessions.get_mut(&client_id) {
                    session.detached_at = Some(at);
                }
            }
            Record::SessionMark { client_id, lsn } => {
                self.marks.insert(client_id, lsn);
            }
            Record::RetainedMark { lsn } => self.retained_mark = lsn,
            // Every other record changes one session's state, which is routing's to interpret.
            record => {
                if let Some(session) = record
                    .client_id()
                    .and_then(|client_id| self.sessions.get_mut(client_id))
                {
                    session.state.replay(record);
                }
            }
        }
    }

    fn finish(self) -> Restored<S> {
        let mut sessions = BTreeMap::new();
        for (client_id, mut session) in self.sessions {
            session.last_lsn = session
                .last_lsn
                .max(self.marks.get(&client_id).copied().unwrap_or(0));
            sessions.insert(client_id, session);
        }
        Restored {
            sessions,
            retained: self.retained,
            retained_lsn: self.retained_mark.max(self.max_lsn),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt_codec::QoS;

    /// A session state that only remembers what it was given, so these tests see exactly which
    /// records the replay hands on, without routing's `SessionState`.
    #[derive(Debug, Default)]
    struct Recorded(Vec<Record>);

    impl ReplayedState for Recorded {
        fn replay(&mut self, record: Record) {
            self.0.push(record);
        }
    }

    #[test]
    fn persistence_does_not_depend_on_routing() {
        // The folder-level direction is routing -> persistence (see `ReplayedState`). Split so
        // that this test's own text does not match.
        let forbidden = concat!("crate::", "routing");
        for (file, text) in [
            ("persistence/mod.rs", include_str!("mod.rs")),
            ("persistence/wal.rs", include_str!("wal.rs")),
            ("record.rs", include_str!("../record.rs")),
            ("message.rs", include_str!("../message.rs")),
        ] {
            assert!(
                !text.contains(forbidden),
                "{file} names {forbidden}: persistence must not depend on routing"
            );
        }
    }

    /// One framed record of the given body, written byte by byte as the format was before
    /// wall-clock times (see `record.rs`), so that the test pins the old layout, not the encoder.
    fn old_frame(out: &mut Vec<u8>, lsn: u64, kind: u8, fields: &[&[u8]]) {
        let mut body = lsn.to_le_bytes().to_vec();
        body.push(kind);
        for field in fields {
            body.extend_from_slice(field);
        }
        out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&wal::crc32(&body).to_le_bytes());
        out.extend_from_slice(&body);
    }

    /// A string field: u16 LE length and the bytes.
    fn old_str(text: &str) -> Vec<u8> {
        let mut field = u16::try_from(text.len())
            .unwrap_or(0)
            .to_le_bytes()
            .to_vec();
        field.extend_from_slice(text.as_bytes());
        field
    }

    /// A log written before the log kept wall-clock times still loads as it did: a 5.0 session
    /// with its interval and subscription, the log not saying when it lost its connection, and a
    /// queued message whose Message Expiry Interval (stored as what was left, 30 s) counts from
    /// the load. Then the new record: `Detached` says when a session lost its connection, and a
    /// later `Session` (a connection opened it) undoes that.
    #[test]
    fn a_log_written_before_wall_clock_times_still_loads() {
        let dir = std::env::temp_dir().join(format!("mqtt-broker-old-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("a directory");
        let mut bytes = Vec::new();
        let old = old_str("old");
        old_frame(&mut bytes, 1, 2, &[&old, &[0]]);
        old_frame(&mut bytes, 2, 18, &[&old, &600u32.to_le_bytes()]);
        old_frame(&mut bytes, 3, 4, &[&old, &old_str("t/#"), &[1]]);
        // Enqueue: topic, flags (QoS 1, properties follow), payload, then the properties: only
        // the expiry (bit 1), 30 s left, and no user properties.
        let message: &[&[u8]] = &[
            &old,
            &old_str("t/1"),
            &[0x01 | 0x08],
            &2u32.to_le_bytes(),
            b"hi",
            &[0b10],
            &30u32.to_le_bytes(),
            &0u16.to_le_bytes(),
        ];
        old_frame(&mut bytes, 4, 6, message);
        for (lsn, record) in [
            Record::Session {
                client_id: "new".into(),
                user: None,
            },
            Record::Detached {
                client_id: "new".into(),
                at: 1_765_000_000_000,
            },
            Record::Session {
                client_id: "back".into(),
                user: None,
            },
            Record::Detached {
                client_id: "back".into(),
                at: 1_765_000_000_000,
            },
            Record::Session {
                client_id: "back".into(),
                user: None,
            },
        ]
        .into_iter()
        .enumerate()
        {
            wal::frame(&record, 5 + lsn as u64, &mut bytes);
        }
        fs::write(wal::segment_path(&dir, 1), &bytes).expect("the old log");

        let loaded_at = std::time::Instant::now();
        let (store, restored) = Persistence::open::<Recorded>(&dir).expect("loads");
        drop(store);
        let session = restored.sessions.get("old").expect("the old session");
        assert_eq!((session.expiry5, session.detached_at), (Some(600), None));
        let [
            Record::Subscribe { filter, .. },
            Record::Enqueue { message, .. },
        ] = &session.state.0[..]
        else {
            panic!("the subscription and the message: {:?}", session.state.0);
        };
        assert_eq!((filter.as_str(), &*message.payload), ("t/#", &b"hi"[..]));
        let properties = message.properties.as_deref().expect("its properties");
        assert_eq!(properties.message_expiry, Some(30));
        let left = properties
            .expires_at
            .map(|at| at.saturating_duration_since(loaded_at));
        assert!(
            left.is_some_and(|left| left > std::time::Duration::from_secs(29)),
            "{left:?}"
        );
        let detached = |client_id: &str| restored.sessions.get(client_id).map(|s| s.detached_at);
        assert_eq!(detached("new"), Some(Some(1_765_000_000_000)));
        assert_eq!(detached("back"), Some(None));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_after_a_snapshot_are_numbered_above_its_marks_and_replayed() {
        let dir = std::env::temp_dir().join(format!("mqtt-broker-marks-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let client: Arc<str> = "c".into();
        let run = |work: &dyn Fn(&Persistence)| {
            let (store, restored) = Persistence::open::<Recorded>(&dir).expect("opens");
            let store = Arc::new(store);
            let flusher = {
                let store = Arc::clone(&store);
                std::thread::spawn(move || store.run_flusher())
            };
            work(&store);
            store.stop();
            flusher.join().expect("flusher ends");
            restored
        };
        run(&|store| {
            let snapshot = vec![
                Record::SessionMark {
                    client_id: Arc::clone(&client),
                    lsn: 100,
                },
                Record::Session {
                    client_id: Arc::clone(&client),
                    user: None,
                },
            ];
            store.compact(|| snapshot.clone()).expect("compacts");
        });
        // A start, a change, and a crash (no compaction after the change).
        run(&|store| {
            let lsn = store.append(&Record::Subscribe {
                client_id: Arc::clone(&client),
                filter: "t".into(),
                qos: QoS::AtLeastOnce,
            });
            assert!(lsn > 100, "numbered above the mark: {lsn}");
            assert!(store.wait_durable(lsn));
        });
        let restored = run(&|_| {});
        let session = restored.sessions.get(&client).expect("the session is back");
        assert_eq!(
            session.state.0,
            [Record::Subscribe {
                client_id: Arc::clone(&client),
                filter: "t".into(),
                qos: QoS::AtLeastOnce,
            }]
        );
        let _ = fs::remove_dir_all(&dir);
    }
}

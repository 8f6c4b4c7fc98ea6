//! The files: framing records with a length and a CRC, reading a file back (telling a torn last
//! record from damage), and [`Log`], the append side with its group-commit flusher.
//!
//! # Torn records and damage
//!
//! A crash can leave the last record of the newest log segment half written. Reading stops at the
//! first record that is incomplete or fails its CRC. If that record reaches the end of the file (its
//! length runs past the end, or nothing but it and zero bytes follow), it is a torn write: it was never
//! acknowledged to anyone, so it is discarded with a warning and the file is truncated there. Anywhere
//! else, and in any file but the newest segment, it is damage: the broker refuses to start and names
//! the file and the byte offset, because starting with part of the state silently missing would break
//! the promise made by every acknowledgement in the lost part.
//!
//! # Group commit
//!
//! Appending encodes the record into an in-memory buffer under a short lock and returns its LSN. One
//! flusher thread repeatedly takes the whole buffer, writes it and calls `fdatasync`, then publishes
//! the highest LSN now durable. Whoever must not act before a record is durable (a thread about
//! to write PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK or an outbound QoS 2 PUBLISH) waits for that LSN.
//! Records appended during one `fdatasync` share the next: the cost of durability is paid per batch,
//! not per message.
//!
//! # Groups
//!
//! Some changes take several records that a restart must see all or none of: an inbound QoS 2
//! PUBLISH is one `Received` record for its publisher's session and one `Enqueue` for each
//! persistent subscriber. With only the first on disk, the publisher's resent PUBLISH would be taken
//! for a duplicate and the message would reach nobody [MQTT-4.3.3-2]. Such a change is appended
//! between a `GroupBegin` and a `GroupEnd` record ([`Log::begin_group`]). Groups may overlap (other
//! threads append meanwhile), so the flusher treats every group begun while another was open as
//! one *chain*, and writes nothing from the chain's start until its last group has ended: the chain
//! reaches the file in one write, and becomes durable in one `fdatasync`. On reading, a chain that
//! has not ended by the end of the newest segment is the remains of a write that never completed:
//! it is discarded like a torn record. Elsewhere it is damage.
//!
//! Nothing may wait inside a group (everything appended after its start waits with it); and so
//! that a stream of overlapping groups cannot hold the log back for ever, the flusher, when the
//! chain is all it has left to write, closes a gate that new groups wait at, with no lock held,
//! until the chain has ended. Compaction closes the same gate while it takes its snapshot
//! ([`Log::quiesce`]), so that no snapshot holds half a group.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use log::warn;
use parking_lot::{Condvar, Mutex};

use crate::record::Record;

/// CRC-32 (IEEE 802.3, reflected, as zlib), bit by bit: records are small and this is not the hot
/// path next to an `fdatasync`.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                crc >> 1 ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Appends one framed record to `out`.
pub(crate) fn frame(record: &Record, lsn: u64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    record.encode(lsn, out);
    let body = &out[start + 8..];
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes();
    let crc = crc32(body).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + 8].copy_from_slice(&crc);
}

/// What reading a file found.
#[derive(Debug)]
pub(crate) struct Read {
    /// The records, in order, with their LSNs.
    pub(crate) records: Vec<(u64, Record)>,
    /// Where a torn last record starts, if there is one.
    pub(crate) torn_at: Option<u64>,
}

/// Reads every record of `path`. `tail_may_tear` is true only for the newest log segment.
pub(crate) fn read_file(path: &Path, tail_may_tear: bool) -> Result<Read, String> {
    let bytes =
        fs::read(path).map_err(|error| format!("{}: cannot read: {error}", path.display()))?;
    read_bytes(&bytes, path, tail_may_tear, 0)
}

/// Reads the records in `bytes`, which start at byte `base` of the file `path` (for messages).
pub(crate) fn read_bytes(
    bytes: &[u8],
    path: &Path,
    tail_may_tear: bool,
    base: usize,
) -> Result<Read, String> {
    let mut records = Vec::new();
    let mut offset = 0usize;
    // The open chain of groups (see "Groups"): how deep, and where it began (index in `records`,
    // byte offset).
    let mut depth = 0usize;
    let mut chain_start = (0usize, 0usize);
    // A chain still open where the readable records end is an unfinished write: cut it off, as a
    // torn record, in the newest segment; anywhere else it is damage.
    let unfinished = |mut records: Vec<(u64, Record)>, depth: usize, start: (usize, usize)| {
        if depth == 0 {
            return Ok(records);
        }
        if !tail_may_tear {
            return Err(format!(
                "{}: a group of records begun at byte offset {} never ends; refusing to start \
                 with part of the persistent state missing. Move the directory aside to start \
                 empty.",
                path.display(),
                base + start.1
            ));
        }
        records.truncate(start.0);
        Ok(records)
    };
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let body = rest.get(..8).and_then(|header| {
            let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
            let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
            let body = rest.get(8..8usize.checked_add(len)?)?;
            // Every body has at least an LSN and a kind; this also refuses a run of zeros, whose
            // empty "body" would pass the CRC.
            (body.len() >= 9 && crc32(body) == crc).then_some(body)
        });
        let Some(body) = body else {
            let reaches_end = rest.get(..8).is_none_or(|header| {
                let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
                8 + len as usize >= rest.len()
            });
            let zeros_after = rest.iter().all(|&b| b == 0);
            if tail_may_tear && (reaches_end || zeros_after) {
                let torn_at = if depth > 0 { chain_start.1 } else { offset };
                return Ok(Read {
                    records: unfinished(records, depth, chain_start)?,
                    torn_at: Some(torn_at as u64),
                });
            }
            return Err(format!(
                "{}: damaged record at byte offset {} (bad length or checksum); refusing to start \
                 with part of the persistent state missing. Move the directory aside to start \
                 empty.",
                path.display(),
                base + offset
            ));
        };
        let Some(record) = Record::decode(body) else {
            return Err(format!(
                "{}: record at byte offset {} passes its checksum but cannot be decoded",
                path.display(),
                base + offset
            ));
        };
        match record.1 {
            Record::GroupBegin => {
                if depth == 0 {
                    chain_start = (records.len(), offset);
                }
                depth += 1;
            }
            Record::GroupEnd => depth = depth.saturating_sub(1),
            _ => records.push(record),
        }
        offset += 8 + body.len();
    }
    let torn_at = (depth > 0).then_some(chain_start.1 as u64);
    Ok(Read {
        records: unfinished(records, depth, chain_start)?,
        torn_at,
    })
}

/// Truncates a file with a torn last record to its valid prefix.
pub(crate) fn truncate(path: &Path, at: u64) -> Result<(), String> {
    warn!(
        "{}: discarding a torn record or unfinished group at byte offset {at} (the broker \
         stopped while writing it; nothing in it was acknowledged)",
        path.display()
    );
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|error| format!("{}: cannot open: {error}", path.display()))?;
    file.set_len(at)
        .and_then(|()| file.sync_all())
        .map_err(|error| format!("{}: cannot truncate: {error}", path.display()))
}

/// The path of log segment `generation`.
pub(crate) fn segment_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("wal-{generation:020}.log"))
}

/// The generations of the log segments in `dir`, sorted.
pub(crate) fn segments(dir: &Path) -> Result<Vec<u64>, String> {
    let mut generations = Vec::new();
    let entries =
        fs::read_dir(dir).map_err(|error| format!("{}: cannot list: {error}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(number) = name
            .strip_prefix("wal-")
            .and_then(|rest| rest.strip_suffix(".log"))
            && let Ok(generation) = number.parse::<u64>()
        {
            generations.push(generation);
        }
    }
    generations.sort_unstable();
    Ok(generations)
}

/// Makes a directory entry change (create, rename, delete) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The append side of the log.
#[derive(Debug)]
pub(crate) struct Log {
    dir: PathBuf,
    /// Records appended and not yet handed to the flusher, and the LSN counter. Held only to encode.
    pending: Mutex<Pending>,
    /// Signals the flusher that `pending` has bytes, or that it should stop.
    work: Condvar,
    /// The open segment; held by the flusher (and rotation) across the write and `fdatasync`.
    file: Mutex<Segment>,
    /// The highest LSN appended.
    appended: AtomicU64,
    /// The highest LSN durable, and a condition signalled when it grows.
    durable: Mutex<u64>,
    grown: Condvar,
    /// Signalled, with `pending`, when the gate opens or the last open group ends (see "Groups").
    gate_opened: Condvar,
    /// Set when the log cannot be written any more (disk full, I/O error): waiters give up.
    failed: AtomicBool,
    stop: AtomicBool,
}

#[derive(Debug)]
struct Pending {
    buffer: Vec<u8>,
    next_lsn: u64,
    /// Groups begun and not yet ended.
    open_groups: usize,
    /// Where the open chain starts in `buffer` (byte offset) and its first LSN: nothing from there
    /// on is written until `open_groups` is back to zero.
    chain: Option<(usize, u64)>,
    /// Set by the flusher when the chain is all it has to write: new groups wait.
    gate_closed: bool,
    /// Set during compaction's snapshot: new groups wait.
    quiescing: bool,
}

impl Pending {
    /// How many bytes of `buffer` may be written now, and the last LSN among them.
    fn writable(&self) -> (usize, u64) {
        match self.chain {
            Some((at, first_lsn)) => (at, first_lsn - 1),
            None => (self.buffer.len(), self.next_lsn - 1),
        }
    }

    /// Removes and answers the writable bytes; what stays is the chain, now at offset 0.
    fn take_writable(&mut self) -> (Vec<u8>, u64) {
        let (len, last) = self.writable();
        let rest = self.buffer.split_off(len);
        if let Some((at, _)) = &mut self.chain {
            *at = 0;
        }
        (std::mem::replace(&mut self.buffer, rest), last)
    }

    fn push(&mut self, record: &Record) -> u64 {
        let lsn = self.next_lsn;
        self.next_lsn += 1;
        frame(record, lsn, &mut self.buffer);
        lsn
    }
}

/// An open group of records (see "Groups"): records appended while it lives, by this thread or any
/// other, reach the file together with it. Dropping it ends the group. Nothing may wait for
/// durability, or for another thread that might, while one is held.
#[derive(Debug)]
pub(crate) struct Group<'a> {
    log: &'a Log,
}

impl Drop for Group<'_> {
    fn drop(&mut self) {
        let log = self.log;
        let mut pending = log.pending.lock();
        let lsn = pending.push(&Record::GroupEnd);
        log.appended.store(lsn, Ordering::Release);
        pending.open_groups -= 1;
        if pending.open_groups == 0 {
            pending.chain = None;
            pending.gate_closed = false;
            log.gate_opened.notify_all();
        }
        drop(pending);
        log.work.notify_one();
    }
}

#[derive(Debug)]
struct Segment {
    file: File,
    generation: u64,
    len: u64,
}

impl Log {
    /// Opens a new, empty segment `generation` in `dir`; LSNs continue from `next_lsn`.
    pub(crate) fn create(dir: &Path, generation: u64, next_lsn: u64) -> Result<Self, String> {
        let file = new_segment(dir, generation)?;
        Ok(Self {
            dir: dir.to_owned(),
            pending: Mutex::new(Pending {
                buffer: Vec::new(),
                next_lsn,
                open_groups: 0,
                chain: None,
                gate_closed: false,
                quiescing: false,
            }),
            work: Condvar::new(),
            file: Mutex::new(Segment {
                file,
                generation,
                len: 0,
            }),
            appended: AtomicU64::new(next_lsn - 1),
            durable: Mutex::new(next_lsn - 1),
            grown: Condvar::new(),
            gate_opened: Condvar::new(),
            failed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        })
    }

    /// Appends a record; answers its LSN. It is durable once [`wait_durable`](Self::wait_durable)
    /// for that LSN returns true.
    pub(crate) fn append(&self, record: &Record) -> u64 {
        let mut pending = self.pending.lock();
        let lsn = pending.push(record);
        self.appended.store(lsn, Ordering::Release);
        drop(pending);
        self.work.notify_one();
        lsn
    }

    /// Begins a group (see "Groups"); it ends when the answer is dropped. Waits while the gate is
    /// closed, so it must be called with no lock held that an open group's thread might need.
    pub(crate) fn begin_group(&self) -> Group<'_> {
        let mut pending = self.pending.lock();
        while pending.gate_closed || pending.quiescing {
            self.gate_opened.wait(&mut pending);
        }
        if pending.open_groups == 0 {
            pending.chain = Some((pending.buffer.len(), pending.next_lsn));
        }
        pending.open_groups += 1;
        let lsn = pending.push(&Record::GroupBegin);
        self.appended.store(lsn, Ordering::Release);
        Group { log: self }
    }

    /// Runs `f` with no group open and none beginning: compaction's snapshot, which reads the
    /// live state, then sees every group whole or not at all.
    pub(crate) fn quiesce<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut pending = self.pending.lock();
        pending.quiescing = true;
        while pending.open_groups > 0 {
            self.gate_opened.wait(&mut pending);
        }
        drop(pending);
        let result = f();
        self.pending.lock().quiescing = false;
        self.gate_opened.notify_all();
        result
    }

    /// The highest LSN appended so far.
    pub(crate) fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// Blocks until `lsn` is durable; false if the log failed and it never will be.
    pub(crate) fn wait_durable(&self, lsn: u64) -> bool {
        let mut durable = self.durable.lock();
        while *durable < lsn {
            if self.failed.load(Ordering::Acquire) {
                return false;
            }
            self.grown.wait(&mut durable);
        }
        true
    }

    /// The size of the open segment, for the compaction trigger.
    pub(crate) fn segment_len(&self) -> u64 {
        self.file.lock().len
    }

    /// The flusher thread's loop: until [`stop`](Self::stop), writes and syncs what was appended.
    pub(crate) fn run_flusher(&self) {
        loop {
            let mut pending = self.pending.lock();
            while pending.writable().0 == 0 {
                if pending.buffer.is_empty() && self.stop.load(Ordering::Acquire) {
                    return; // stopping, and everything is flushed
                }
                if !pending.buffer.is_empty() {
                    // Only an open chain is left: let no new group lengthen it (see "Groups").
                    pending.gate_closed = true;
                }
                self.work.wait(&mut pending);
            }
            if self.flush_locked(pending).is_err() {
                return;
            }
        }
    }

    /// Takes the writable part of the pending buffer, then writes and syncs it with `pending`
    /// released.
    fn flush_locked(&self, mut pending: parking_lot::MutexGuard<'_, Pending>) -> Result<(), ()> {
        let (buffer, last) = pending.take_writable();
        let mut segment = self.file.lock();
        drop(pending);
        let result = segment
            .file
            .write_all(&buffer)
            .and_then(|()| segment.file.sync_data());
        match result {
            Ok(()) => {
                segment.len += buffer.len() as u64;
                drop(segment);
                let mut durable = self.durable.lock();
                *durable = (*durable).max(last);
                drop(durable);
                self.grown.notify_all();
                Ok(())
            }
            Err(error) => {
                log::error!(
                    "persistence: cannot write {}: {error}; acknowledgements stop until restart",
                    segment_path(&self.dir, segment.generation).display()
                );
                self.failed.store(true, Ordering::Release);
                drop(segment);
                self.grown.notify_all();
                Err(())
            }
        }
    }

    /// Flushes what is pending into the current segment, then starts segment `generation + 1`;
    /// answers the new generation. Records appended after this call go to the new segment. Appenders
    /// wait for one `fdatasync` meanwhile; this only happens at compaction.
    /// An open chain (there is none under [`quiesce`](Self::quiesce)) stays pending, for the new
    /// segment.
    pub(crate) fn rotate(&self) -> Result<u64, String> {
        let mut pending = self.pending.lock();
        let mut segment = self.file.lock();
        let (len, last) = pending.writable();
        segment
            .file
            .write_all(&pending.buffer[..len])
            .and_then(|()| segment.file.sync_data())
            .map_err(|error| format!("persistence: cannot write the log: {error}"))?;
        let generation = segment.generation + 1;
        *segment = Segment {
            file: new_segment(&self.dir, generation)?,
            generation,
            len: 0,
        };
        drop(pending.take_writable());
        drop(segment);
        drop(pending);
        let mut durable = self.durable.lock();
        *durable = (*durable).max(last);
        drop(durable);
        self.grown.notify_all();
        Ok(generation)
    }

    /// Asks the flusher to write what is left and return.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _guard = self.pending.lock();
        self.work.notify_all();
    }
}

fn new_segment(dir: &Path, generation: u64) -> Result<File, String> {
    let path = segment_path(dir, generation);
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(|error| format!("{}: cannot create: {error}", path.display()))?;
    sync_dir(dir).map_err(|error| format!("{}: cannot sync: {error}", dir.display()))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use mqtt_codec::QoS;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mqtt-broker-wal-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn retain(n: u8) -> Record {
        Record::Retain(Message::new("t", &[n; 40], QoS::AtLeastOnce, true))
    }

    #[test]
    fn crc32_of_the_standard_check_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    fn file_with(dir: &Path, records: &[Record]) -> (PathBuf, Vec<u8>) {
        let mut bytes = Vec::new();
        for (lsn, record) in records.iter().enumerate() {
            frame(record, lsn as u64 + 1, &mut bytes);
        }
        let path = dir.join("f.log");
        fs::write(&path, &bytes).expect("write");
        (path, bytes)
    }

    #[test]
    fn a_torn_last_record_is_detected_and_only_in_the_newest_segment() {
        let dir = temp_dir("torn");
        let (path, bytes) = file_with(&dir, &[retain(1), retain(2)]);
        let whole = read_file(&path, true).expect("reads");
        assert_eq!(whole.records.len(), 2);
        for cut in [bytes.len() - 1, bytes.len() - 30, bytes.len() / 2 + 3] {
            fs::write(&path, &bytes[..cut]).expect("write");
            let read = read_file(&path, true).expect("a torn tail is not an error");
            assert_eq!(read.records.len(), 1, "cut at {cut}");
            assert_eq!(read.torn_at, Some(bytes.len() as u64 / 2));
            assert!(
                read_file(&path, false).is_err(),
                "older segments never tear"
            );
        }
        // The last record's bytes replaced by zeros (a file extended but not written).
        let mut zeroed = bytes.clone();
        zeroed[bytes.len() / 2..].fill(0);
        fs::write(&path, &zeroed).expect("write");
        assert_eq!(read_file(&path, true).map(|r| r.records.len()), Ok(1));
        truncate(&path, bytes.len() as u64 / 2).expect("truncates");
        assert_eq!(read_file(&path, true).map(|r| r.torn_at), Ok(None));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn damage_before_the_end_is_refused_with_the_file_and_offset() {
        let dir = temp_dir("damage");
        let (path, mut bytes) = file_with(&dir, &[retain(1), retain(2), retain(3)]);
        let second = bytes.len() / 3;
        bytes[second + 20] ^= 0xFF;
        fs::write(&path, &bytes).expect("write");
        let error = read_file(&path, true).expect_err("damage is an error");
        assert!(
            error.contains("f.log") && error.contains(&format!("offset {second}")),
            "{error}"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn nothing_after_an_open_group_becomes_durable_until_it_ends() {
        let dir = temp_dir("group");
        let log = std::sync::Arc::new(Log::create(&dir, 1, 1).expect("creates"));
        let flusher = {
            let log = std::sync::Arc::clone(&log);
            std::thread::spawn(move || log.run_flusher())
        };
        let before = log.append(&retain(1));
        let group = log.begin_group();
        let inside = log.append(&retain(2));
        let after = log.append(&retain(3));
        assert!(log.wait_durable(before));
        assert!(
            *log.durable.lock() < inside,
            "the flusher stops at the group's start"
        );
        drop(group);
        assert!(log.wait_durable(after));
        log.stop();
        flusher.join().expect("flusher ends");
        let read = read_file(&segment_path(&dir, 1), true).expect("reads");
        assert_eq!(
            read.records,
            [(before, retain(1)), (inside, retain(2)), (after, retain(3))],
            "the markers are not records to apply"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unfinished_group_is_cut_off_the_newest_segment_and_damage_elsewhere() {
        let dir = temp_dir("unfinished");
        let records = [
            retain(1),
            Record::GroupBegin,
            retain(2),
            Record::GroupBegin,
            Record::GroupEnd,
            retain(3),
        ];
        let (path, bytes) = file_with(&dir, &records);
        let read = read_file(&path, true).expect("an unfinished tail is not an error");
        assert_eq!(read.records, [(1, retain(1))]);
        let group_start = {
            let mut first = Vec::new();
            frame(&retain(1), 1, &mut first);
            first.len() as u64
        };
        assert_eq!(read.torn_at, Some(group_start));
        assert!(
            read_file(&path, false).is_err(),
            "older segments never tear"
        );
        // The same, ended: everything but the markers is read.
        let mut ended = bytes.clone();
        frame(&Record::GroupEnd, 7, &mut ended);
        fs::write(&path, &ended).expect("write");
        let read = read_file(&path, false).expect("reads");
        assert_eq!(read.records.len(), 3);
        assert_eq!(read.torn_at, None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn appended_records_become_durable_through_the_flusher() {
        let dir = temp_dir("flush");
        let log = std::sync::Arc::new(Log::create(&dir, 1, 1).expect("creates"));
        let flusher = {
            let log = std::sync::Arc::clone(&log);
            std::thread::spawn(move || log.run_flusher())
        };
        let lsns: Vec<u64> = (0..50).map(|n| log.append(&retain(n))).collect();
        assert_eq!(lsns.first(), Some(&1));
        assert!(log.wait_durable(50));
        assert_eq!(log.rotate(), Ok(2));
        log.append(&retain(99));
        log.stop();
        flusher.join().expect("flusher ends");
        let first = read_file(&segment_path(&dir, 1), false).expect("reads");
        assert_eq!(first.records.len(), 50);
        let second = read_file(&segment_path(&dir, 2), true).expect("reads");
        assert_eq!(second.records, [(51, retain(99))]);
        let _ = fs::remove_dir_all(&dir);
    }
}

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
//! the highest LSN now durable. Whoever must not act before a record is durable (a writer thread about
//! to send PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK or an outbound QoS 1/2 PUBLISH) waits for that LSN.
//! Records appended during one `fdatasync` share the next: the cost of durability is paid per batch,
//! not per message.

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
                return Ok(Read {
                    records,
                    torn_at: Some(offset as u64),
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
        records.push(record);
        offset += 8 + body.len();
    }
    Ok(Read {
        records,
        torn_at: None,
    })
}

/// Truncates a file with a torn last record to its valid prefix.
pub(crate) fn truncate(path: &Path, at: u64) -> Result<(), String> {
    warn!(
        "{}: discarding a torn record at byte offset {at} (the broker stopped while writing it; \
         it was never acknowledged)",
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
    /// Set when the log cannot be written any more (disk full, I/O error): waiters give up.
    failed: AtomicBool,
    stop: AtomicBool,
}

#[derive(Debug)]
struct Pending {
    buffer: Vec<u8>,
    next_lsn: u64,
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
            failed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        })
    }

    /// Appends a record; answers its LSN. It is durable once [`wait_durable`](Self::wait_durable)
    /// for that LSN returns true.
    pub(crate) fn append(&self, record: &Record) -> u64 {
        let mut pending = self.pending.lock();
        let lsn = pending.next_lsn;
        pending.next_lsn += 1;
        frame(record, lsn, &mut pending.buffer);
        self.appended.store(lsn, Ordering::Release);
        drop(pending);
        self.work.notify_one();
        lsn
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
            while pending.buffer.is_empty() && !self.stop.load(Ordering::Acquire) {
                self.work.wait(&mut pending);
            }
            if pending.buffer.is_empty() {
                return; // stopping, and everything is flushed
            }
            if self.flush_locked(pending).is_err() {
                return;
            }
        }
    }

    /// Takes the pending buffer, then writes and syncs it with `pending` released.
    fn flush_locked(&self, mut pending: parking_lot::MutexGuard<'_, Pending>) -> Result<(), ()> {
        let buffer = std::mem::take(&mut pending.buffer);
        let last = pending.next_lsn - 1;
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
    pub(crate) fn rotate(&self) -> Result<u64, String> {
        let mut pending = self.pending.lock();
        let mut segment = self.file.lock();
        segment
            .file
            .write_all(&pending.buffer)
            .and_then(|()| segment.file.sync_data())
            .map_err(|error| format!("persistence: cannot write the log: {error}"))?;
        let generation = segment.generation + 1;
        *segment = Segment {
            file: new_segment(&self.dir, generation)?,
            generation,
            len: 0,
        };
        pending.buffer.clear();
        let last = pending.next_lsn - 1;
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

//! [`duplex`]: an in-memory, bidirectional byte stream between two threads of this process, with the
//! blocking, timeout and shutdown behaviour of a socket.
//!
//! A bridge's local side is an ordinary MQTT connection to this broker, served by the same reader and
//! writer (`connection/reader.rs`, `connection/writer.rs`) as a network client, so the router and session code
//! know nothing of bridges. Only the bytes travel differently: each direction is a bounded crossbeam
//! channel of chunks (one `write_all` is one chunk, so a packet is never interleaved with another
//! thread's), and a full channel blocks the writer as a full socket buffer would. A shutdown, from
//! either end, wakes every blocked read and write on both ends: reads then answer end of stream, and
//! writes an error, as after `TcpStream::shutdown(Both)`.
//!
//! This file knows no MQTT.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use parking_lot::Mutex;

/// How many chunks may wait in one direction before a writer blocks: a few hundred packets, like
/// the buffer of a local socket.
const CHUNKS: usize = 256;

/// One end of an in-memory connection. Shared by reference between a reader and a writer thread.
#[derive(Debug)]
pub(crate) struct End {
    incoming: Receiver<Vec<u8>>,
    outgoing: Sender<Vec<u8>>,
    /// What the last read did not have room for: `(chunk, bytes already read)`. Only the reader
    /// thread locks it.
    pending: Mutex<(Vec<u8>, usize)>,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
    closed: Arc<Closed>,
}

/// The shutdown both ends share: dropping the sender disconnects `signal`, which wakes every
/// `select!` waiting on it.
#[derive(Debug)]
struct Closed {
    trigger: Mutex<Option<Sender<()>>>,
    signal: Receiver<()>,
}

/// A connected pair of ends.
pub(crate) fn duplex() -> (End, End) {
    let (a_tx, a_rx) = crossbeam_channel::bounded(CHUNKS);
    let (b_tx, b_rx) = crossbeam_channel::bounded(CHUNKS);
    let (trigger, signal) = crossbeam_channel::bounded(0);
    let closed = Arc::new(Closed {
        trigger: Mutex::new(Some(trigger)),
        signal,
    });
    let end = |incoming, outgoing, closed| End {
        incoming,
        outgoing,
        pending: Mutex::new((Vec::new(), 0)),
        read_timeout: Mutex::new(None),
        write_timeout: Mutex::new(None),
        closed,
    };
    (
        end(a_rx, b_tx, Arc::clone(&closed)),
        end(b_rx, a_tx, closed),
    )
}

impl End {
    /// Reads what is there, waiting up to the read timeout for something; `Ok(0)` once the stream
    /// is shut down or the other end is gone, `TimedOut` after the timeout.
    pub(crate) fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        let mut pending = self.pending.lock();
        if pending.1 >= pending.0.len() {
            if self.is_closed() {
                return Ok(0);
            }
            let deadline = self
                .read_timeout
                .lock()
                .map(|timeout| Instant::now() + timeout);
            let chunk = select! {
                recv(self.incoming) -> chunk => chunk.ok(),
                recv(self.closed.signal) -> _ => None,
                default(until(deadline)) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out"));
                }
            };
            match chunk {
                Some(chunk) => *pending = (chunk, 0),
                None => return Ok(0),
            }
        }
        let (chunk, start) = &mut *pending;
        let count = buffer.len().min(chunk.len() - *start);
        buffer[..count].copy_from_slice(&chunk[*start..*start + count]);
        *start += count;
        Ok(count)
    }

    /// Writes all of `bytes` as one chunk, waiting up to the write timeout for room.
    pub(crate) fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        if self.is_closed() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let deadline = self
            .write_timeout
            .lock()
            .map(|timeout| Instant::now() + timeout);
        select! {
            send(self.outgoing, bytes.to_vec()) -> sent => {
                sent.map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
            }
            recv(self.closed.signal) -> _ => Err(io::ErrorKind::BrokenPipe.into()),
            default(until(deadline)) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    /// Sets how long a read may wait; `None` waits for ever.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) {
        *self.read_timeout.lock() = timeout;
    }

    /// Sets how long a write may wait for room; `None` waits for ever.
    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) {
        *self.write_timeout.lock() = timeout;
    }

    /// Ends the stream for both ends and wakes everything blocked on it.
    pub(crate) fn shutdown(&self) {
        self.closed.trigger.lock().take();
    }

    fn is_closed(&self) -> bool {
        self.closed.trigger.lock().is_none()
    }
}

impl Drop for End {
    /// An end that goes away ends the stream, as closing a socket does.
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How long `select!`'s `default` should wait for `deadline` (a very long time for none).
fn until(deadline: Option<Instant>) -> Duration {
    deadline.map_or(Duration::from_secs(365 * 24 * 3600), |deadline| {
        deadline.saturating_duration_since(Instant::now())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_in_order_and_in_pieces() {
        let (a, b) = duplex();
        a.write_all(b"hello").expect("write");
        a.write_all(b" world").expect("write");
        let mut buffer = [0u8; 3];
        let mut got = Vec::new();
        while got.len() < 11 {
            let count = b.read(&mut buffer).expect("read");
            got.extend_from_slice(&buffer[..count]);
        }
        assert_eq!(got, b"hello world");
    }

    #[test]
    fn a_read_times_out_and_a_shutdown_ends_it() {
        let (a, b) = duplex();
        b.set_read_timeout(Some(Duration::from_millis(10)));
        let mut buffer = [0u8; 8];
        let error = b.read(&mut buffer).expect_err("nothing to read");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        b.set_read_timeout(None);
        let reader = std::thread::spawn(move || b.read(&mut buffer).map(|count| (count, b)));
        a.shutdown();
        let (count, b) = reader.join().expect("reader").expect("read");
        assert_eq!(count, 0);
        assert!(b.write_all(b"x").is_err());
    }

    #[test]
    fn dropping_one_end_ends_the_other() {
        let (a, b) = duplex();
        drop(a);
        assert_eq!(b.read(&mut [0u8; 4]).expect("read"), 0);
    }
}

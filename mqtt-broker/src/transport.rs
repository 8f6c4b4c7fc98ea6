//! [`Stream`]: one accepted connection's byte stream, plain TCP or TLS (or, for a bridge's local
//! side, an in-process duplex: `bridge/duplex.rs`), shared by its reader and writer threads.
//!
//! A plain `TcpStream` can be read by one thread and written by another at the same time. A TLS
//! connection cannot simply be split: one rustls state holds both directions. So for TLS:
//! - the rustls state sits behind a mutex that is only held to move bytes in and out of it, never
//!   across a socket read or write;
//! - the reader reads raw bytes from the socket with no lock held, then locks to decrypt them;
//! - every write of TLS records to the socket (the writer's batches, and any record rustls wants to
//!   send after reading, such as an alert) happens under a second, *write* mutex, taken before the
//!   state mutex and held across the socket write. Records leave rustls in sequence order and reach
//!   the socket in that same order, which TLS requires. Only the connection's own two threads ever
//!   take these locks, so a slow client still stalls nobody else.
//!
//! The handshake runs in the reader thread before anything else, bounded by `connect_timeout`; a
//! failed handshake is that connection's error alone. This file does not know MQTT.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustls::{ServerConfig, ServerConnection};

/// A connection's byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: the rustls state is large, and most listeners are plain).
    Tls(Box<TlsStream>),
    /// In-process: the local side of a bridge, which is served as an ordinary connection.
    Memory(crate::bridge::duplex::End),
}

/// A server-side TLS connection.
#[derive(Debug)]
pub(crate) struct TlsStream {
    tcp: TcpStream,
    /// The rustls state: locked briefly, never across socket I/O.
    state: Mutex<ServerConnection>,
    /// Held while records taken from `state` are written, so they reach the socket in order.
    write: Mutex<()>,
}

impl Stream {
    /// A TLS stream on an accepted socket; the handshake is done later by [`Stream::handshake`].
    pub(crate) fn tls(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<Self> {
        let mut state = ServerConnection::new(config).map_err(io::Error::other)?;
        // Records are drained right after each write, so rustls need not bound its buffer.
        state.set_buffer_limit(None);
        Ok(Self::Tls(Box::new(TlsStream {
            tcp,
            state: Mutex::new(state),
            write: Mutex::new(()),
        })))
    }

    /// Whether this is a TLS stream.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// Completes the TLS handshake before `deadline` (a no-op for plain TCP). On success, answers the
    /// subject CN of the client's certificate, if it sent one.
    pub(crate) fn handshake(&self, deadline: Instant) -> Result<Option<String>, String> {
        let Self::Tls(tls) = self else {
            return Ok(None);
        };
        let mut raw = [0u8; 4096];
        while tls.state.lock().is_handshaking() {
            tls.flush()
                .map_err(|error| format!("write failed: {error}"))?;
            if !tls.state.lock().is_handshaking() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("handshake not finished within connect_timeout".into());
            }
            tls.tcp
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .map_err(|error| error.to_string())?;
            let count = match (&tls.tcp).read(&mut raw) {
                Ok(0) => return Err("the client closed the connection".into()),
                Ok(count) => count,
                Err(error) if is_timeout(&error) => continue,
                Err(error) => return Err(format!("read failed: {error}")),
            };
            if let Err(error) = tls.absorb(&raw[..count]) {
                // Send the alert rustls prepared, so the client learns why.
                let _ = tls.flush();
                return Err(error.to_string());
            }
        }
        tls.flush()
            .map_err(|error| format!("write failed: {error}"))?;
        let state = tls.state.lock();
        Ok(state
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| crate::tls::common_name(leaf)))
    }

    /// Reads decrypted bytes; 0 at the end of the stream. Read timeouts surface as errors of kind
    /// `WouldBlock` or `TimedOut`, as for a `TcpStream`.
    pub(crate) fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        let tls = match self {
            Self::Plain(tcp) => return (&*tcp).read(buffer),
            Self::Tls(tls) => tls,
            Self::Memory(end) => return end.read(buffer),
        };
        let mut raw = [0u8; 4096];
        loop {
            match tls.state.lock().reader().read(buffer) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                // Ok(0) after the client's close_notify; an error for a truncated stream.
                result => return result,
            }
            let count = (&tls.tcp).read(&mut raw)?;
            if count == 0 {
                return Ok(0);
            }
            let absorbed = tls.absorb(&raw[..count]);
            tls.flush()?;
            absorbed?;
        }
    }

    /// Writes all of `bytes` (encrypted, for TLS).
    pub(crate) fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => (&*tcp).write_all(bytes),
            Self::Memory(end) => end.write_all(bytes),
            Self::Tls(tls) => {
                let _order = tls.write.lock();
                let records = {
                    let mut state = tls.state.lock();
                    state.writer().write_all(bytes)?;
                    drain(&mut state)?
                };
                (&tls.tcp).write_all(&records)
            }
        }
    }

    /// Sets the socket's read timeout.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.set_read_timeout(timeout),
            Self::Tls(tls) => tls.tcp.set_read_timeout(timeout),
            Self::Memory(end) => {
                end.set_read_timeout(timeout);
                Ok(())
            }
        }
    }

    /// Sets the socket's write timeout.
    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.set_write_timeout(timeout),
            Self::Tls(tls) => tls.tcp.set_write_timeout(timeout),
            Self::Memory(end) => {
                end.set_write_timeout(timeout);
                Ok(())
            }
        }
    }

    /// Shuts the socket down in both directions, which ends both threads' blocking calls.
    pub(crate) fn shutdown(&self) {
        match self {
            Self::Plain(tcp) => {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            Self::Tls(tls) => {
                let _ = tls.tcp.shutdown(Shutdown::Both);
            }
            Self::Memory(end) => end.shutdown(),
        }
    }
}

impl TlsStream {
    /// Feeds raw bytes from the socket to rustls and processes them.
    fn absorb(&self, mut raw: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock();
        while !raw.is_empty() {
            state.read_tls(&mut raw)?;
            state
                .process_new_packets()
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        }
        Ok(())
    }

    /// Writes whatever records rustls has ready.
    fn flush(&self) -> io::Result<()> {
        if !self.state.lock().wants_write() {
            return Ok(());
        }
        let _order = self.write.lock();
        let records = drain(&mut self.state.lock())?;
        if records.is_empty() {
            return Ok(());
        }
        (&self.tcp).write_all(&records)
    }
}

fn drain(state: &mut ServerConnection) -> io::Result<Vec<u8>> {
    let mut records = Vec::new();
    while state.wants_write() {
        state.write_tls(&mut records)?;
    }
    Ok(records)
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

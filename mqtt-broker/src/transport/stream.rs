//! [`Stream`]: one accepted connection's byte stream, plain TCP, TLS, or WebSocket over either (or,
//! for a bridge's local side, an in-process duplex: `duplex.rs`), shared by its reader and
//! writing side (the connection's reader thread, other connections' readers writing to it, its
//! helper thread while its client is behind: `connection/writer.rs`).
//!
//! A plain `TcpStream` can be read by one thread and written by another at the same time. A TLS
//! connection cannot simply be split: one rustls state holds both directions. So for TLS:
//! - the rustls state sits behind a mutex that is only held to move bytes in and out of it, never
//!   across a socket read or write;
//! - the reader reads raw bytes from the socket with no lock held, then locks to decrypt them;
//! - every write of TLS records to the socket (the writer's batches, and any record rustls wants to
//!   send after reading, such as an alert) happens under a second, *write* mutex, taken before the
//!   state mutex and held across the socket write. Records leave rustls in sequence order and reach
//!   the socket in that same order, which TLS requires. A TLS stream takes no direct write from
//!   another connection's thread: its writes go to its own helper, so a slow client still stalls
//!   nobody else.
//!
//! A WebSocket stream (`protocol websockets`, RFC 6455 in `transport/websocket.rs`) wraps a plain or TLS one
//! and splits the same way: the reader alone decodes frames (the receiving state is locked only by
//! it), and whoever sends a frame holds the sending lock until the whole frame is on the socket. The
//! writer sends each batch of MQTT packets as one binary frame; the reader sends the pong that
//! answers a ping and the close that answers a close or a protocol error. So the MQTT code above sees
//! a byte stream, as with TCP, and never a frame.
//!
//! The handshakes run in the reader thread before anything else, bounded by `connect_timeout`: TLS
//! first, then the WebSocket upgrade; a failed handshake is that connection's error alone. This file
//! does not know MQTT.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustls::{ServerConfig, ServerConnection};

use crate::transport::http_dir;
use crate::transport::websocket::{self, Frame, FrameDecoder, close_code};

/// A connection's byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: the rustls state is large, and most listeners are plain).
    Tls(Box<TlsStream>),
    /// MQTT in WebSocket binary frames, over a plain or a TLS stream.
    WebSocket(Box<WebSocketStream>),
    /// In-process: the local side of a bridge, which is served as an ordinary connection.
    Memory(super::duplex::End),
}

/// Why a connection's opening handshake failed; the connection is then closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HandshakeError {
    /// The TLS handshake failed (a bad certificate, a timeout, a client that went away...).
    Tls(String),
    /// The HTTP upgrade request was refused (with its HTTP status) or did not come.
    WebSocket(String),
    /// Not a failure: a plain HTTP GET was answered from `http_dir` (what was served, and the
    /// status), and the connection ends there.
    Served(String),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tls(why) => write!(f, "TLS handshake failed: {why}"),
            Self::WebSocket(why) => write!(f, "WebSocket handshake failed: {why}"),
            Self::Served(what) => write!(f, "{what}"),
        }
    }
}

/// A server-side TLS connection.
#[derive(Debug)]
pub(crate) struct TlsStream {
    tcp: TcpStream,
    /// The rustls state: locked briefly, never across socket I/O.
    state: Mutex<ServerConnection>,
    /// Held while records taken from `state` are written, so they reach the socket in order.
    write: Mutex<()>,
    /// Bytes read from the socket that rustls could not take yet: it holds at most 16 KiB of
    /// decrypted bytes the reader has not taken, and refuses more ("received plaintext buffer
    /// full", which closed the connection of a client sending a burst: found by the overload test
    /// over TLS). Only the reader thread (and the handshake before it) uses it.
    unread: Mutex<Vec<u8>>,
    /// `use_subject_as_username`: the identity is the certificate's whole subject, not its CN.
    subject_identity: bool,
}

/// A server-side WebSocket connection.
#[derive(Debug)]
pub(crate) struct WebSocketStream {
    /// The plain or TLS stream underneath; never itself a WebSocket.
    inner: Stream,
    /// The listener's `http_dir`, if it has one (`http_dir.rs`).
    http_dir: Option<Arc<Path>>,
    /// The reader's state. Only the reader thread locks it (a lock only because `read` takes
    /// `&self`), and it may hold it across a socket read.
    receiving: Mutex<Receiving>,
    /// Held by whichever thread sends a frame, until the frame is on the socket, so that the
    /// writer's data frames and the reader's control frames never interleave.
    sending: Mutex<Sending>,
}

#[derive(Debug, Default)]
struct Receiving {
    decoder: FrameDecoder,
    /// Bytes read from `inner` and not decoded yet, from `start`.
    raw: Vec<u8>,
    start: usize,
    /// Set once the client's close frame or a protocol error ended the stream.
    ended: bool,
}

#[derive(Debug, Default)]
struct Sending {
    /// A reused buffer for a frame header and, up to [`COPY_LIMIT`], its payload.
    frame: Vec<u8>,
    /// Set once a close frame was sent or a write failed: nothing more may be sent (RFC 6455
    /// §5.5.1), and trying again could only block.
    closed: bool,
}

/// Payloads up to this size are copied behind their frame header and written in one call; larger
/// ones are written after it, to spare copying a large PUBLISH.
const COPY_LIMIT: usize = 64 * 1024;

impl Stream {
    /// A TLS stream on an accepted socket; the handshake is done later by [`Stream::handshake`].
    /// `subject_identity`: the identity the handshake answers is the client certificate's whole
    /// subject (`use_subject_as_username`) rather than its CN.
    pub(crate) fn tls(
        tcp: TcpStream,
        config: Arc<ServerConfig>,
        subject_identity: bool,
    ) -> io::Result<Self> {
        let mut state = ServerConnection::new(config).map_err(io::Error::other)?;
        // Records are drained right after each write, so rustls need not bound its buffer.
        state.set_buffer_limit(None);
        Ok(Self::Tls(Box::new(TlsStream {
            tcp,
            state: Mutex::new(state),
            write: Mutex::new(()),
            unread: Mutex::new(Vec::new()),
            subject_identity,
        })))
    }

    /// A WebSocket stream over `inner` (plain or TLS); the upgrade is done by [`Stream::handshake`].
    /// With `http_dir`, a plain HTTP GET instead of an upgrade is answered with a file from it.
    pub(crate) fn websocket(inner: Self, http_dir: Option<Arc<Path>>) -> Self {
        Self::WebSocket(Box::new(WebSocketStream {
            inner,
            http_dir,
            receiving: Mutex::default(),
            sending: Mutex::default(),
        }))
    }

    /// Completes the opening handshakes before `deadline`: TLS, then the WebSocket upgrade (nothing
    /// for plain TCP). On success, answers the subject CN of the client's certificate, if it sent one.
    pub(crate) fn handshake(&self, deadline: Instant) -> Result<Option<String>, HandshakeError> {
        match self {
            Self::Plain(_) | Self::Memory(_) => Ok(None),
            Self::Tls(tls) => tls.handshake(deadline).map_err(HandshakeError::Tls),
            Self::WebSocket(ws) => {
                let identity = ws.inner.handshake(deadline)?;
                ws.upgrade(deadline)?;
                Ok(identity)
            }
        }
    }

    /// Reads MQTT bytes (decrypted, unframed); 0 at the end of the stream. Read timeouts surface as
    /// errors of kind `WouldBlock` or `TimedOut`, as for a `TcpStream`.
    ///
    /// Every reader thread blocks here, so its frame is kept small: the TLS and WebSocket reads are
    /// out of line. Inlined, they made this frame 4 KiB, one more resident stack page on every
    /// idle connection (see ARCHITECTURE.md, "Memory").
    pub(crate) fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => (&*tcp).read(buffer),
            Self::Tls(tls) => tls.read(buffer),
            Self::WebSocket(ws) => ws.read(buffer),
            Self::Memory(end) => end.read(buffer),
        }
    }

    /// Writes all of `bytes` (encrypted, for TLS; as one binary frame, for WebSocket).
    pub(crate) fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => write_all_within_timeout(tcp, bytes),
            Self::Tls(tls) => tls.write_all(bytes),
            Self::WebSocket(ws) => ws.write_all(bytes),
            Self::Memory(end) => end.write_all(bytes),
        }
    }

    /// Whether [`try_write`](Self::try_write) works on this stream: plain TCP, whose write can be
    /// made to return at once (see `connection/writer.rs`). TLS and WebSocket streams frame or
    /// encrypt what they are given, and a short write would leave half a record behind; the
    /// in-process duplex blocks until the bridge reads.
    pub(crate) fn takes_direct_writes(&self) -> bool {
        matches!(self, Self::Plain(_))
    }

    /// One write of as much of `bytes` as the socket takes now: how many it took. Only for a
    /// stream that [`takes_direct_writes`](Self::takes_direct_writes); the socket's write timeout
    /// bounds how long it can block when the socket buffer is full.
    pub(crate) fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => (&*tcp).write(bytes),
            _ => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// Sets the socket's read timeout.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.set_read_timeout(timeout),
            Self::Tls(tls) => tls.tcp.set_read_timeout(timeout),
            Self::WebSocket(ws) => ws.inner.set_read_timeout(timeout),
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
            Self::WebSocket(ws) => ws.inner.set_write_timeout(timeout),
            Self::Memory(end) => {
                end.set_write_timeout(timeout);
                Ok(())
            }
        }
    }

    /// Shuts the socket down in both directions, which ends both threads' blocking calls. Any
    /// thread may call it: it never blocks.
    pub(crate) fn shutdown(&self) {
        match self {
            Self::Plain(tcp) => {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            Self::Tls(tls) => {
                let _ = tls.tcp.shutdown(Shutdown::Both);
            }
            Self::WebSocket(ws) => ws.inner.shutdown(),
            Self::Memory(end) => end.shutdown(),
        }
    }

    /// Ends the connection the way its protocol says, then shuts the socket down: a WebSocket
    /// connection first sends a close frame (RFC 6455 §5.5.1), unless one was sent already or the
    /// socket failed. Sending can block for the write timeout, so only the connection's own threads
    /// call this; everybody else uses [`Stream::shutdown`].
    pub(crate) fn close(&self) {
        if let Self::WebSocket(ws) = self {
            let _ = ws.send_close(close_code::NORMAL);
        }
        self.shutdown();
    }
}

impl TlsStream {
    /// Completes the handshake before `deadline`; answers the client certificate's subject CN.
    fn handshake(&self, deadline: Instant) -> Result<Option<String>, String> {
        let tls = self;
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
                return Err(error
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .map_or_else(|| error.to_string(), crate::tls::describe_handshake_error));
            }
        }
        tls.flush()
            .map_err(|error| format!("write failed: {error}"))?;
        let state = tls.state.lock();
        Ok(state
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| {
                if self.subject_identity {
                    crate::transport::tls::subject(leaf)
                } else {
                    crate::transport::tls::common_name(leaf)
                }
            }))
    }

    /// Reads decrypted bytes.
    ///
    /// At most one socket read is made per call, and a call whose bytes did not complete a record
    /// answers `WouldBlock`. Looping here until a record is whole would let a client that sends one
    /// byte a second keep the caller away from its deadlines (`connect_timeout`, keep-alive) for as
    /// long as it likes.
    // Out of line: inlined, its frame would be on every plain connection's reader stack too
    // (see `Stream::read`).
    #[inline(never)]
    fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        match self.state.lock().reader().read(buffer) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            // Ok(0) after the client's close_notify; an error for a truncated stream.
            result => return result,
        }
        // What rustls could not take last time goes first, without reading the socket.
        let unread = std::mem::take(&mut *self.unread.lock());
        let absorbed = if unread.is_empty() {
            let mut raw = [0u8; 4096];
            let count = (&self.tcp).read(&mut raw)?;
            if count == 0 {
                return Ok(0);
            }
            self.absorb(&raw[..count])
        } else {
            self.absorb(&unread)
        };
        self.flush()?;
        absorbed?;
        self.state.lock().reader().read(buffer)
    }

    /// Encrypts and writes all of `bytes`.
    fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        let _order = self.write.lock();
        let records = {
            let mut state = self.state.lock();
            state.writer().write_all(bytes)?;
            drain(&mut state)?
        };
        write_all_within_timeout(&self.tcp, &records)
    }

    /// Feeds raw bytes from the socket to rustls and processes them. Once rustls holds decrypted
    /// bytes, the rest is kept in `unread` for the next read: rustls would refuse it.
    fn absorb(&self, mut raw: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock();
        while !raw.is_empty() {
            state.read_tls(&mut raw)?;
            state
                .process_new_packets()
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
            if !raw.is_empty() && !state.wants_read() {
                self.unread.lock().extend_from_slice(raw);
                break;
            }
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
        write_all_within_timeout(&self.tcp, &records)
    }
}

impl WebSocketStream {
    /// Reads the HTTP upgrade request before `deadline` and answers it: `101` and the subprotocol,
    /// or an error status with the reason, which is also returned for the log.
    fn upgrade(&self, deadline: Instant) -> Result<(), HandshakeError> {
        self.upgrade_or_serve(deadline).map_err(|end| match end {
            Ok(served) => HandshakeError::Served(served),
            Err(why) => HandshakeError::WebSocket(why),
        })
    }

    /// [`upgrade`](Self::upgrade)'s work: `Err(Ok(_))` when a file was served instead.
    fn upgrade_or_serve(&self, deadline: Instant) -> Result<(), Result<String, String>> {
        let mut receiving = self.receiving.lock();
        let raw = &mut receiving.raw;
        loop {
            match websocket::handshake(raw) {
                Ok(Some(upgrade)) => {
                    self.inner
                        .write_all(&upgrade.response)
                        .map_err(|error| Err(format!("write failed: {error}")))?;
                    // Anything after the request is already frames.
                    raw.drain(..upgrade.used);
                    return Ok(());
                }
                Ok(None) => {}
                Err(refusal) => {
                    if let Some(dir) = &self.http_dir
                        && let Some(target) = http_dir::plain_get(raw)
                    {
                        let (status, response) = http_dir::answer(dir, &target);
                        let _ = self.inner.write_all(&response);
                        return Err(Ok(format!(
                            "HTTP GET {target} answered {status} from http_dir"
                        )));
                    }
                    let _ = self.inner.write_all(&refusal.response());
                    return Err(Err(refusal.to_string()));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Err(
                    "no complete upgrade request within connect_timeout".into()
                ));
            }
            self.inner
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .map_err(|error| Err(error.to_string()))?;
            match read_more(&self.inner, raw) {
                Ok(0) => return Err(Err("the client closed the connection".into())),
                Ok(_) => {}
                Err(error) if is_timeout(&error) => {}
                Err(error) => return Err(Err(format!("read failed: {error}"))),
            }
        }
    }

    /// Reads the next bytes of the MQTT stream: binary frame payloads, unmasked and joined
    /// whatever the framing [MQTT-6.0.0-2]. Pings are answered on the way. A close from the
    /// client ends the stream (0); a protocol error, including a text frame [MQTT-6.0.0-1], is
    /// answered with a close frame and returned as an `InvalidData` error.
    ///
    /// Frames that carry no MQTT bytes (pings, pongs, empty frames) end the call with an
    /// `Interrupted` error before the socket is read again, as a read timeout would: the caller's
    /// deadlines (keep-alive, connect timeout) are then checked, so a client cannot hold a
    /// connection open with pings alone.
    // Out of line: inlined, its frame would be on every plain connection's reader stack too
    // (see `Stream::read`).
    #[inline(never)]
    fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        let mut guard = self.receiving.lock();
        let receiving = &mut *guard;
        let mut idle_frames = false;
        loop {
            if receiving.ended {
                return Ok(0);
            }
            let start = receiving.start;
            let decoded = receiving
                .decoder
                .decode(&mut receiving.raw[start..], buffer.len());
            match decoded {
                Ok(Some((frame, used))) => {
                    receiving.start += used;
                    match frame {
                        Frame::Data(bytes) if !bytes.is_empty() => {
                            buffer[..bytes.len()].copy_from_slice(bytes);
                            return Ok(bytes.len());
                        }
                        Frame::Data(_) | Frame::Pong => idle_frames = true,
                        Frame::Ping(payload) => {
                            self.send_control(&websocket::pong(payload))?;
                            idle_frames = true;
                        }
                        Frame::Close(_) => {
                            // Answered, and nothing more is read (§5.5.1); the MQTT layer sees the
                            // end of the stream, as for TCP, and decides about the Will.
                            let _ = self.send_close(close_code::NORMAL);
                            receiving.ended = true;
                            return Ok(0);
                        }
                    }
                }
                Ok(None) => {
                    // All decoded, or an incomplete header or control frame: read more, unless
                    // the caller should look at its clock first.
                    receiving.raw.drain(..start);
                    receiving.start = 0;
                    if idle_frames {
                        return Err(io::ErrorKind::Interrupted.into());
                    }
                    if read_more(&self.inner, &mut receiving.raw)? == 0 {
                        return Ok(0);
                    }
                }
                Err(error) => {
                    let _ = self.send_close(error.close_code());
                    receiving.ended = true;
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("WebSocket: {error}"),
                    ));
                }
            }
        }
    }

    /// Sends `bytes` as one binary frame [MQTT-6.0.0-1].
    fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        let mut sending = self.sending.lock();
        if sending.closed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the WebSocket is closed",
            ));
        }
        let Sending { frame, closed } = &mut *sending;
        frame.clear();
        websocket::binary_header(bytes.len(), frame);
        let result = if bytes.len() <= COPY_LIMIT {
            frame.extend_from_slice(bytes);
            self.inner.write_all(frame)
        } else {
            self.inner
                .write_all(frame)
                .and_then(|()| self.inner.write_all(bytes))
        };
        *closed = result.is_err();
        result
    }

    /// Sends a complete control frame, unless the connection is closed.
    fn send_control(&self, frame: &[u8]) -> io::Result<()> {
        let mut sending = self.sending.lock();
        if sending.closed {
            return Ok(());
        }
        let result = self.inner.write_all(frame);
        sending.closed = result.is_err();
        result
    }

    /// Sends a close frame with `code`, once; nothing is sent after it.
    fn send_close(&self, code: u16) -> io::Result<()> {
        let mut sending = self.sending.lock();
        if sending.closed {
            return Ok(());
        }
        sending.closed = true;
        self.inner.write_all(&websocket::close(code))
    }
}

/// Reads once from `stream`, appending to `raw`; answers the count (0 at the end of the stream).
fn read_more(stream: &Stream, raw: &mut Vec<u8>) -> io::Result<usize> {
    let filled = raw.len();
    raw.resize(filled + 4096, 0);
    let result = stream.read(&mut raw[filled..]);
    raw.truncate(filled + *result.as_ref().unwrap_or(&0));
    result
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

/// Writes all of `bytes`, taking at most the socket's write timeout in all. The timeout set on a
/// socket applies to each `write` call, and a client that reads a little now and then keeps each
/// call short: a never-reading client with a large send buffer held its connection for about three
/// times the documented `write_timeout` (issue #14, item 8). So after a partial write the timeout
/// is shortened to what is left of the first, and put back once everything is written. A write
/// that completes at once (the usual case) costs no extra system call.
fn write_all_within_timeout(tcp: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    let started = Instant::now();
    let mut total: Option<Option<Duration>> = None;
    let result = loop {
        if bytes.is_empty() {
            break Ok(());
        }
        match (&*tcp).write(bytes) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(count) => bytes = &bytes[count..],
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => break Err(error),
        }
        if bytes.is_empty() {
            break Ok(());
        }
        let whole = match total {
            Some(whole) => whole,
            None => {
                let whole = tcp.write_timeout()?;
                total = Some(whole);
                whole
            }
        };
        if let Some(whole) = whole {
            let left = whole.saturating_sub(started.elapsed());
            if left.is_zero() {
                break Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the client read nothing for {whole:?} (write_timeout)"),
                ));
            }
            tcp.set_write_timeout(Some(left))?;
        }
    };
    if let Some(whole) = total {
        tcp.set_write_timeout(whole)?;
    }
    result
}

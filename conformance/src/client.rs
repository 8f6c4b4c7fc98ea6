//! A raw test client: a TCP (or TLS) connection that sends bytes and reads [`Frame`]s, each wait
//! bounded by the run's timeout. It holds no protocol state; the checks decide what to send and what
//! to expect.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConnection, StreamOwned};

use crate::check::Context;
use crate::wire::{self, ConnectSpec, Frame, kind};

/// What a check gets back when something other than the expected packet happens.
pub type Outcome<T> = Result<T, String>;

/// The byte stream: plain TCP, or rustls over it.
enum Stream {
    Tcp(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn socket(&self) -> &TcpStream {
        match self {
            Self::Tcp(socket) => socket,
            Self::Tls(tls) => tls.get_ref(),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Tcp(socket) => socket.write_all(bytes),
            Self::Tls(tls) => tls.write_all(bytes).and_then(|()| tls.flush()),
        }
    }

    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(socket) => socket.read(buffer),
            Self::Tls(tls) => tls.read(buffer),
        }
    }
}

/// One connection to the server under test.
pub struct TestClient {
    stream: Stream,
    buffer: Vec<u8>,
    /// Packets that arrived while the client waited for another one (a server may send the next
    /// PUBLISH before the PUBREL of the previous one); served before anything new.
    set_aside: VecDeque<Frame>,
    timeout: Duration,
}

impl TestClient {
    /// Opens a TCP connection to the server under test.
    pub fn open(context: &Context) -> Outcome<Self> {
        let address = context.address();
        let socket = TcpStream::connect(&address)
            .map_err(|error| format!("cannot connect to {address}: {error}"))?;
        socket
            .set_nodelay(true)
            .map_err(|error| error.to_string())?;
        let stream = match &context.tls {
            None => Stream::Tcp(socket),
            Some(config) => {
                let name = crate::tls::server_name(&context.host)?;
                let mut connection = ClientConnection::new(Arc::clone(config), name)
                    .map_err(|error| format!("cannot start TLS: {error}"))?;
                let mut socket = socket;
                socket
                    .set_read_timeout(Some(context.timeout))
                    .map_err(|error| error.to_string())?;
                while connection.is_handshaking() {
                    connection
                        .complete_io(&mut socket)
                        .map_err(|error| format!("TLS handshake with {address} failed: {error}"))?;
                }
                Stream::Tls(Box::new(StreamOwned::new(connection, socket)))
            }
        };
        Ok(Self {
            stream,
            buffer: Vec::new(),
            set_aside: VecDeque::new(),
            timeout: context.timeout,
        })
    }

    /// Opens a connection and completes a CONNECT for `client_id` with the run's version and
    /// credentials. Fails unless the server answers CONNACK 0 (accepted). Returns the CONNACK.
    pub fn connect(context: &Context, client_id: &str, flags: u8) -> Outcome<(Self, Frame)> {
        let mut client = Self::open(context)?;
        let spec = context.connect_spec(client_id, flags);
        client.send(&wire::connect(context.version, &spec))?;
        let connack = client.expect(kind::CONNACK)?;
        if connack.body.get(1) != Some(&0) {
            return Err(format!("connection refused: {}", connack.describe()));
        }
        Ok((client, connack))
    }

    /// Connects with a clean session.
    pub fn clean(context: &Context, client_id: &str) -> Outcome<Self> {
        Self::connect(context, client_id, wire::flags::CLEAN_SESSION).map(|(client, _)| client)
    }

    /// The longest this client waits for any one answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) -> Outcome<()> {
        self.stream
            .write_all(bytes)
            .map_err(|error| format!("send failed: {error}"))
    }

    /// Sends a CONNECT built from `spec` with the run's version.
    pub fn send_connect(&mut self, context: &Context, spec: &ConnectSpec<'_>) -> Outcome<()> {
        self.send(&wire::connect(context.version, spec))
    }

    /// The next packet, within the timeout.
    pub fn recv(&mut self) -> Outcome<Frame> {
        if let Some(frame) = self.set_aside.pop_front() {
            return Ok(frame);
        }
        match self.next_event(self.timeout)? {
            Event::Frame(frame) => Ok(frame),
            Event::Closed => Err("the server closed the connection".to_owned()),
            Event::Silence => Err(format!("no packet within {:?}", self.timeout)),
        }
    }

    /// The next packet, which must be of type `expected`.
    pub fn expect(&mut self, expected: u8) -> Outcome<Frame> {
        let frame = self
            .recv()
            .map_err(|error| format!("waiting for {}: {error}", kind::name(expected)))?;
        if frame.kind() != expected {
            return Err(format!(
                "expected {}, got {}",
                kind::name(expected),
                frame.describe()
            ));
        }
        Ok(frame)
    }

    /// The next PUBLISH, acknowledged as its QoS requires so the server can go on.
    pub fn expect_publish(&mut self) -> Outcome<Frame> {
        let frame = self.expect(kind::PUBLISH)?;
        self.acknowledge(&frame)?;
        Ok(frame)
    }

    /// Completes the receiver's side of a PUBLISH's QoS flow.
    pub fn acknowledge(&mut self, frame: &Frame) -> Outcome<()> {
        let Some((_, Some(id), _)) = frame.publish_parts() else {
            return Ok(());
        };
        if frame.qos() == 1 {
            self.send(&wire::with_id(0x40, id))
        } else {
            self.send(&wire::with_id(0x50, id))?;
            self.wait_for(kind::PUBREL)?;
            self.send(&wire::with_id(0x70, id))
        }
    }

    /// Waits for a packet of type `wanted`, setting aside PUBLISH packets that arrive first (a server
    /// may send a subscription's first messages before its SUBACK, and the next PUBLISH before a
    /// PUBREL); they are served by the next [`recv`](Self::recv).
    pub fn wait_for(&mut self, wanted: u8) -> Outcome<Frame> {
        loop {
            let frame = match self.next_event(self.timeout)? {
                Event::Frame(frame) => frame,
                Event::Closed => {
                    return Err(format!("closed while waiting for {}", kind::name(wanted)));
                }
                Event::Silence => {
                    return Err(format!(
                        "no {} within {:?}",
                        kind::name(wanted),
                        self.timeout
                    ));
                }
            };
            if frame.kind() == wanted {
                return Ok(frame);
            }
            if frame.kind() != kind::PUBLISH {
                return Err(format!(
                    "expected {}, got {}",
                    kind::name(wanted),
                    frame.describe()
                ));
            }
            self.set_aside.push_back(frame);
        }
    }

    /// The server must close the connection, sending nothing first (or only what `allowed` lists).
    pub fn expect_closed(&mut self, allowed: &[u8]) -> Outcome<()> {
        self.expect_closed_within(self.timeout, allowed)
    }

    /// As [`expect_closed`](Self::expect_closed), waiting up to `wait`.
    pub fn expect_closed_within(&mut self, wait: Duration, allowed: &[u8]) -> Outcome<()> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left)? {
                Event::Closed => return Ok(()),
                Event::Frame(frame) if allowed.contains(&frame.kind()) => {}
                Event::Frame(frame) => {
                    return Err(format!(
                        "expected the connection closed, got {}",
                        frame.describe()
                    ));
                }
                Event::Silence => {
                    return Err(format!("the connection was still open after {wait:?}"));
                }
            }
        }
    }

    /// Whether the server closed the connection, or sent `frame`, or stayed silent for `wait`.
    pub fn next_within(&mut self, wait: Duration) -> Outcome<Option<Frame>> {
        if let Some(frame) = self.set_aside.pop_front() {
            return Ok(Some(frame));
        }
        match self.next_event(wait)? {
            Event::Frame(frame) => Ok(Some(frame)),
            Event::Closed => Err("the server closed the connection".to_owned()),
            Event::Silence => Ok(None),
        }
    }

    /// A PINGREQ/PINGRESP round trip: everything the server sent before the PINGRESP is returned.
    /// Used as a barrier: the server has processed what this client sent before it.
    pub fn ping(&mut self) -> Outcome<Vec<Frame>> {
        self.send(&wire::PINGREQ)?;
        let mut before = Vec::new();
        loop {
            let frame = self.recv()?;
            if frame.kind() == kind::PINGRESP {
                return Ok(before);
            }
            before.push(frame);
        }
    }

    /// Sends DISCONNECT and closes the socket.
    pub fn disconnect(mut self) -> Outcome<()> {
        self.send(&wire::DISCONNECT)?;
        let _ = self.stream.socket().shutdown(Shutdown::Both);
        Ok(())
    }

    /// Closes the socket without DISCONNECT: an abnormal end for the server.
    pub fn drop_connection(self) {
        let _ = self.stream.socket().shutdown(Shutdown::Both);
    }

    fn next_event(&mut self, wait: Duration) -> Outcome<Event> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(frame) = wire::take_frame(&mut self.buffer)? {
                return Ok(Event::Frame(frame));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Event::Silence);
            }
            self.stream
                .socket()
                .set_read_timeout(Some(left))
                .map_err(|error| error.to_string())?;
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(Event::Closed),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Ok(Event::Silence);
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::ConnectionReset
                            | ErrorKind::ConnectionAborted
                            | ErrorKind::BrokenPipe
                            // A TLS peer that closes without close_notify.
                            | ErrorKind::UnexpectedEof
                    ) =>
                {
                    return Ok(Event::Closed);
                }
                Err(error) => return Err(format!("read failed: {error}")),
            }
        }
    }
}

enum Event {
    Frame(Frame),
    Closed,
    Silence,
}

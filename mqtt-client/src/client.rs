//! [`Client`]: the blocking client, a few threads around the sans-IO [`Session`].
//!
//! # The threading pattern
//!
//! ```text
//!   application threads ──lock──▶ ┌──────────────┐ ◀──lock── reader thread ◀── socket (read half)
//!   (publish, subscribe, …)       │ Core:        │           (decode, session.handle)
//!          │ wake                 │  Session     │
//!          ▼                      │  waiters     │ ──────▶ notifications channel ──▶ application
//!   driver thread ──────lock────▶ └──────────────┘           (messages, connected, lost)
//!   (timers, writes, reconnects) ──▶ socket (write half)
//! ```
//!
//! - **One lock**, around [`Core`]: the session and the table of waiting tokens. Everyone who holds it
//!   only computes: no socket I/O and no blocking channel operation happens under it. Messages go to
//!   an unbounded channel and completions to one-slot channels that are never full, so dispatching
//!   an event never waits for the application.
//! - **The reader thread** (one per connection) blocks on the socket, decodes packets and hands them
//!   to the session. It never waits for the application, so an application that publishes and waits
//!   for the acknowledgement from inside its message loop cannot deadlock the client: the PUBACK is
//!   read by a thread that is not the one waiting.
//! - **The driver thread** (one per client) owns the write half. It sleeps until the session's next
//!   deadline or until woken, then ticks the session and writes what it queued. It also notices a
//!   lost connection (from the reader, a failed write or a keep-alive timeout) and reconnects with
//!   backoff.
//!
//! The price of never waiting for the application is memory: an application that stops reading its
//! notifications lets them pile up. Flow control toward the server comes from the in-flight window
//! and the server's own limits, not from this channel.
//!
//! This file does not speak the protocol (the session does) or open sockets (`transport.rs` does).

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use mqtt_codec::v5::{self, ReasonCode};
use mqtt_codec::{Decoder, Status, SubAckReturnCode};
use parking_lot::Mutex;

use crate::error::Timeout;
use crate::reconnect::Backoff;
use crate::session::{Event, Message, Session, State, Token};
use crate::transport::{self, ReadHalf, WriteHalf};
use crate::v5::{PublishProperties, ServerSettings, SubscribeOptions, SubscribeProperties};
use crate::{ConnectOptions, Error, QoS};

/// A connected MQTT client. Cheap to clone; every clone drives the same connection, and the
/// connection closes when the last clone is dropped or [`disconnect`](Self::disconnect) is called.
#[derive(Clone)]
pub struct Client {
    handle: Arc<Handle>,
}

/// What happened on the connection, in order, as delivered by [`Client::notifications`].
#[derive(Debug, Clone)]
pub enum Notification {
    /// A message arrived.
    Message(Message),
    /// A connection was established; after a reconnection, says whether the server kept the session.
    Connected {
        /// Whether the server resumed the session (always false with a clean session).
        session_present: bool,
    },
    /// The connection was lost. With reconnection on, the client is trying again; otherwise this is
    /// the last notification.
    ConnectionLost(Error),
}

/// A request in progress: wait on it for its result.
#[derive(Debug)]
#[must_use = "a request's outcome is only known by waiting on it"]
pub struct Pending<T> {
    result: Receiver<Result<T, Error>>,
}

/// The incoming messages: an iterator that ends when the client is closed for good.
#[derive(Debug, Clone)]
pub struct Messages {
    notifications: Receiver<Notification>,
}

/// Dropped with the last `Client` clone: tells the driver to disconnect.
struct Handle {
    inner: Arc<Inner>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

/// What the application threads, the reader thread and the driver thread share.
struct Inner {
    /// The protocol state and the tokens waited on. Locked briefly by all three kinds of thread,
    /// never across I/O (see the module documentation).
    core: Mutex<Core>,
    /// Wakes the driver: bytes to write, a lost connection, a disconnect. Unbounded, so that waking
    /// never blocks; the messages are tiny.
    wake: Sender<Wake>,
    /// The application's end of the notifications; cloned out by `notifications` and `messages`.
    notifications: Receiver<Notification>,
}

/// The state behind the lock.
struct Core {
    session: Session,
    /// Who waits for which token.
    waiters: HashMap<Token, Waiter>,
    /// Where notifications go; `None` once the client is closed for good, which ends the
    /// application's iterator.
    notify: Option<Sender<Notification>>,
    /// Why the client closed, for the application to ask.
    close_reason: Option<Error>,
}

enum Waiter {
    Publish(Sender<Result<(), Error>>),
    Subscribe(Sender<Result<Vec<SubAckReturnCode>, Error>>),
    SubscribeWith(Sender<Result<Vec<ReasonCode>, Error>>),
    Unsubscribe(Sender<Result<(), Error>>),
    UnsubscribeWith(Sender<Result<Vec<ReasonCode>, Error>>),
}

enum Wake {
    /// The session has bytes to send.
    Write,
    /// The reader of connection `generation` stopped, for the reason given.
    Lost { generation: u64, error: Error },
    /// The application asked to disconnect.
    Disconnect,
}

/// One established connection, as the driver holds it.
struct Connection {
    writer: WriteHalf,
    reader: Option<JoinHandle<()>>,
    generation: u64,
}

impl Client {
    /// Connects to the server of `options` and waits for its CONNACK.
    ///
    /// The first connection is never retried, even with reconnection on: a wrong address or a
    /// refusal is reported here, at once. Reconnection applies to connections lost later.
    pub fn connect(options: ConnectOptions) -> Result<Self, Error> {
        let (notify, notifications) = crossbeam_channel::unbounded();
        let (wake, wake_rx) = crossbeam_channel::unbounded();
        let now = Instant::now();
        let inner = Arc::new(Inner {
            core: Mutex::new(Core {
                session: Session::new(options.clone(), now),
                waiters: HashMap::new(),
                notify: Some(notify),
                close_reason: None,
            }),
            wake,
            notifications,
        });
        let connection = match establish(&inner, &options, 1) {
            Ok(connection) => connection,
            Err(error) => {
                inner.core.lock().session.connection_lost(&error, false);
                return Err(error);
            }
        };
        let driver_inner = Arc::clone(&inner);
        let driver = thread::Builder::new()
            .name("mqtt-driver".into())
            .spawn(move || Driver::new(driver_inner, options, wake_rx).run(connection))
            .map_err(|error| Error::io("starting the driver thread", error))?;
        Ok(Self {
            handle: Arc::new(Handle {
                inner,
                driver: Mutex::new(Some(driver)),
            }),
        })
    }

    /// Publishes `payload` to `topic`. Wait on the result to know it was acknowledged: at once for
    /// QoS 0 (handed to the network), on PUBACK for QoS 1, on PUBCOMP for QoS 2.
    ///
    /// Fails at once with [`Error::QueueFull`] when the in-flight window and the offline buffer are
    /// full, and with [`Error::InvalidTopic`] for a topic with wildcards.
    pub fn publish(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: QoS,
        retain: bool,
    ) -> Result<Pending<()>, Error> {
        let (sender, result) = crossbeam_channel::bounded(1);
        self.request(Waiter::Publish(sender), |session, now| {
            session.publish(topic, payload.as_ref(), qos, retain, now)
        })?;
        Ok(Pending { result })
    }

    /// [`publish`](Self::publish) with MQTT 5.0 properties: content type, response topic,
    /// correlation data, message expiry, payload format, user properties. Dropped at 3.1.1. A
    /// refusal by the server (PUBACK or PUBREC 0x80 and above) is [`Error::PublishRefused`].
    pub fn publish_with(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: QoS,
        retain: bool,
        properties: PublishProperties,
    ) -> Result<Pending<()>, Error> {
        let (sender, result) = crossbeam_channel::bounded(1);
        self.request(Waiter::Publish(sender), |session, now| {
            session.publish_with(topic, payload.as_ref(), qos, retain, properties, now)
        })?;
        Ok(Pending { result })
    }

    /// Subscribes with MQTT 5.0 subscription options and properties. The result gives the Reason
    /// Code of each filter in order: 0x00 to 0x02 the QoS granted, 0x80 and above why it was
    /// refused (for example 0x87 not authorized, 0xA2 wildcards not supported).
    pub fn subscribe_with(
        &self,
        filters: &[(&str, SubscribeOptions)],
        properties: SubscribeProperties,
    ) -> Result<Pending<Vec<ReasonCode>>, Error> {
        let (sender, result) = crossbeam_channel::bounded(1);
        self.request(Waiter::SubscribeWith(sender), |session, now| {
            session.subscribe_with(filters, properties, now)
        })?;
        Ok(Pending { result })
    }

    /// Re-authenticates the connection with its [`v5::Authenticator`](crate::v5::Authenticator)
    /// (MQTT 5.0 §4.12.1), for example when a token is about to expire. Returns once AUTH 0x19 is
    /// queued; the exchange then runs in the background, and a refusal by the server ends the
    /// connection like any DISCONNECT.
    pub fn reauthenticate(&self) -> Result<(), Error> {
        let inner = &self.handle.inner;
        {
            let mut core = inner.core.lock();
            core.session.reauthenticate(Instant::now())?;
        }
        let _ = inner.wake.send(Wake::Write);
        Ok(())
    }

    /// What the server announced in its 5.0 CONNACK on the current connection (the defaults at
    /// 3.1.1): receive maximum, maximum packet size, topic aliases, assigned client identifier...
    pub fn server_settings(&self) -> ServerSettings {
        self.handle
            .inner
            .core
            .lock()
            .session
            .server_settings()
            .clone()
    }

    /// Subscribes to `filters`, each with the maximum QoS wanted. The result gives, per filter in
    /// order, the QoS granted or a failure.
    pub fn subscribe(
        &self,
        filters: &[(&str, QoS)],
    ) -> Result<Pending<Vec<SubAckReturnCode>>, Error> {
        let (sender, result) = crossbeam_channel::bounded(1);
        self.request(Waiter::Subscribe(sender), |session, now| {
            session.subscribe(filters, now)
        })?;
        Ok(Pending { result })
    }

    /// Unsubscribes from `filters`, with MQTT 5.0 user properties (dropped at 3.1.1).
    pub fn unsubscribe_with(
        &self,
        filters: &[&str],
        user_properties: Vec<(String, String)>,
    ) -> Result<Pending<Vec<ReasonCode>>, Error> {
        let (sender, result) = crossbeam_channel::bounded(1);
        self.request(Waiter::UnsubscribeWith(sender), |session, now| {
            session.unsubscribe_with(filters, user_properties, now)
        })?;
        Ok(Pending { result })
    }

    /// Unsubscribes from `filters`.
    pub fn unsubscribe(&self, filters: &[&str]) -> Result<Pending<()>, Error> {
        let (sender, result) = crossbeam_channel::bounded(1);
        self.request(Waiter::Unsubscribe(sender), |session, now| {
            session.unsubscribe(filters, now)
        })?;
        Ok(Pending { result })
    }

    /// The incoming messages, as an iterator that ends when the client closes for good.
    pub fn messages(&self) -> Messages {
        Messages {
            notifications: self.handle.inner.notifications.clone(),
        }
    }

    /// Every notification (messages, connections, losses), as a crossbeam receiver to `select!` on.
    /// Each notification goes to one receiver only: use either this or [`messages`](Self::messages).
    pub fn notifications(&self) -> Receiver<Notification> {
        self.handle.inner.notifications.clone()
    }

    /// Whether the client is connected right now.
    pub fn is_connected(&self) -> bool {
        self.handle.inner.core.lock().session.state() == State::Connected
    }

    /// Why the client closed, once it has: `None` while it runs and after a plain disconnect.
    pub fn close_reason(&self) -> Option<Error> {
        self.handle.inner.core.lock().close_reason.clone()
    }

    /// Sends DISCONNECT, so the server discards the will [MQTT-3.14.4-3], and closes the connection.
    /// Requests still pending fail with [`Error::Closed`]. Waits for the driver thread to finish.
    pub fn disconnect(&self) {
        let _ = self.handle.inner.wake.send(Wake::Disconnect);
        if let Some(driver) = self.handle.driver.lock().take() {
            let _ = driver.join();
        }
    }

    fn request(
        &self,
        waiter: Waiter,
        call: impl FnOnce(&mut Session, Instant) -> Result<Token, Error>,
    ) -> Result<(), Error> {
        let inner = &self.handle.inner;
        let wake = {
            let mut core = inner.core.lock();
            let token = call(&mut core.session, Instant::now())?;
            // Registered before dispatching, since a QoS 0 publication is already complete.
            core.waiters.insert(token, waiter);
            core.dispatch();
            core.session.has_outgoing()
        };
        if wake {
            let _ = inner.wake.send(Wake::Write);
        }
        Ok(())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.inner.wake.send(Wake::Disconnect);
    }
}

impl<T> Pending<T> {
    /// Blocks until the request completes.
    pub fn wait(self) -> Result<T, Error> {
        self.result.recv().unwrap_or(Err(Error::Closed))
    }

    /// Blocks until the request completes or `timeout` passes, which is
    /// [`Error::TimedOut`]`(`[`Timeout::Acknowledgement`]`)`; the request itself goes on.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T, Error> {
        match self.result.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(Error::TimedOut(Timeout::Acknowledgement)),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }

    /// The result if the request is complete, without blocking.
    pub fn try_result(&self) -> Option<Result<T, Error>> {
        self.result.try_recv().ok()
    }

    /// The channel the result arrives on, for a program that waits on many requests at once with
    /// `crossbeam_channel::Select` (the MQTT-SN gateway does). It carries exactly one result; it is
    /// disconnected without one if the client closes first, which means [`Error::Closed`].
    pub fn into_receiver(self) -> Receiver<Result<T, Error>> {
        self.result
    }
}

impl Messages {
    /// The underlying receiver of notifications.
    pub fn into_receiver(self) -> Receiver<Notification> {
        self.notifications
    }

    /// The next message, waiting at most `timeout`; `None` on timeout or when the client is closed.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.notifications.recv_deadline(deadline) {
                Ok(Notification::Message(message)) => return Some(message),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

impl Iterator for Messages {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        loop {
            match self.notifications.recv() {
                Ok(Notification::Message(message)) => return Some(message),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

impl Core {
    /// Delivers the session's events: messages to the application, results to their waiters.
    /// Never blocks (see the module documentation).
    fn dispatch(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Message(message) => self.notify(Notification::Message(message)),
                Event::Connected { session_present } => {
                    self.notify(Notification::Connected { session_present });
                }
                Event::Published(token) => match self.waiters.remove(&token) {
                    Some(Waiter::Publish(sender)) => {
                        let _ = sender.try_send(Ok(()));
                    }
                    _ => log::debug!("no waiter for a completed publication"),
                },
                Event::Subscribed {
                    token,
                    return_codes,
                    reason_codes,
                } => match self.waiters.remove(&token) {
                    Some(Waiter::Subscribe(sender)) => {
                        let _ = sender.try_send(Ok(return_codes));
                    }
                    Some(Waiter::SubscribeWith(sender)) => {
                        let _ = sender.try_send(Ok(reason_codes));
                    }
                    _ => {}
                },
                Event::Unsubscribed {
                    token,
                    reason_codes,
                } => match self.waiters.remove(&token) {
                    Some(Waiter::Unsubscribe(sender)) => {
                        let _ = sender.try_send(Ok(()));
                    }
                    Some(Waiter::UnsubscribeWith(sender)) => {
                        let _ = sender.try_send(Ok(reason_codes));
                    }
                    _ => {}
                },
                Event::Failed { token, error } => match self.waiters.remove(&token) {
                    Some(Waiter::Publish(sender) | Waiter::Unsubscribe(sender)) => {
                        let _ = sender.try_send(Err(error));
                    }
                    Some(Waiter::Subscribe(sender)) => {
                        let _ = sender.try_send(Err(error));
                    }
                    Some(Waiter::SubscribeWith(sender)) => {
                        let _ = sender.try_send(Err(error));
                    }
                    Some(Waiter::UnsubscribeWith(sender)) => {
                        let _ = sender.try_send(Err(error));
                    }
                    None => {}
                },
            }
        }
    }

    fn notify(&self, notification: Notification) {
        if let Some(notify) = &self.notify {
            // Unbounded: never blocks. An error only means nobody listens any more.
            let _ = notify.send(notification);
        }
    }
}

/// Opens a transport, sends CONNECT and waits for CONNACK, then starts the reader thread. Run by
/// `Client::connect` for the first connection and by the driver for every reconnection.
fn establish(
    inner: &Arc<Inner>,
    options: &ConnectOptions,
    generation: u64,
) -> Result<Connection, Error> {
    let (mut reader, mut writer) = transport::connect(options)?;
    let connect = {
        let mut core = inner.core.lock();
        if let Err(error) = core.session.connect(Instant::now()) {
            writer.shutdown();
            return Err(error);
        }
        core.session.take_outgoing()
    };
    writer
        .write_all(&connect)
        .map_err(|error| Error::io("sending CONNECT", error))?;

    // Read until the session leaves AwaitingConnAck, within the connect timeout.
    let deadline = Instant::now() + options.connect_timeout;
    let decoder = Decoding::for_options(options);
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = vec![0; 16 * 1024];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            writer.shutdown();
            return Err(Error::TimedOut(Timeout::ConnAck));
        }
        reader
            .set_timeout(Some(remaining))
            .map_err(|error| Error::io("setting the read timeout", error))?;
        let read = match reader.read(&mut chunk) {
            Ok(0) => Err(Error::ConnectionLost(
                "the server closed the connection before CONNACK".into(),
            )),
            Ok(read) => Ok(read),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(Error::TimedOut(Timeout::ConnAck))
            }
            Err(error) => Err(Error::io("waiting for CONNACK", error)),
        };
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                writer.shutdown();
                return Err(error);
            }
        };
        buffer.extend_from_slice(&chunk[..read]);
        if let Err(error) = feed(inner, &decoder, &mut buffer) {
            // At 5.0 the session may have queued a DISCONNECT saying why [MQTT5-4.13.1-1].
            let bytes = inner.core.lock().session.take_outgoing();
            let _ = writer.write_all(&bytes);
            writer.shutdown();
            return Err(error);
        }
        let (state, bytes) = {
            let mut core = inner.core.lock();
            (core.session.state(), core.session.take_outgoing())
        };
        // Before CONNACK: the answers to the server's AUTH challenges (5.0 §4.12), which the
        // server waits for. After it: resent messages and re-subscriptions the CONNACK caused.
        if !bytes.is_empty() {
            writer
                .write_all(&bytes)
                .map_err(|error| Error::io("writing to the server", error))?;
        }
        if state == State::Connected {
            break;
        }
    }
    reader
        .set_timeout(None)
        .map_err(|error| Error::io("clearing the read timeout", error))?;
    let reader_inner = Arc::clone(inner);
    let reader = thread::Builder::new()
        .name("mqtt-reader".into())
        .spawn(move || read_loop(reader_inner, reader, decoder, buffer, generation))
        .map_err(|error| Error::io("starting the reader thread", error))?;
    Ok(Connection {
        writer,
        reader: Some(reader),
        generation,
    })
}

/// The decoder of the connection's level: 3.1 / 3.1.1, or 5.0 limited to our Maximum Packet Size.
#[derive(Clone, Copy)]
enum Decoding {
    V3(Decoder),
    V5(v5::Decoder),
}

impl Decoding {
    fn for_options(options: &ConnectOptions) -> Self {
        match &options.v5 {
            None => Self::V3(Decoder::new(options.level)),
            Some(properties) => {
                let decoder = v5::Decoder::new();
                Self::V5(match properties.maximum_packet_size {
                    // A larger packet from the server is refused before it is buffered
                    // [MQTT5-3.1.2-24].
                    Some(maximum) => {
                        decoder.with_max_packet_size(usize::try_from(maximum).unwrap_or(usize::MAX))
                    }
                    None => decoder,
                })
            }
        }
    }

    /// Decodes one packet from `bytes` and hands it to `session`: `Ok(Some(used))` when a whole
    /// packet was there, `Ok(None)` when more bytes are needed.
    fn feed_one(&self, session: &mut Session, bytes: &[u8]) -> Result<Option<usize>, Error> {
        match self {
            Self::V3(decoder) => match decoder.decode(bytes) {
                Ok(Status::Complete((packet, used))) => {
                    log::debug!("received {:?}", packet.packet_type());
                    session.handle(packet, Instant::now()).map(|()| Some(used))
                }
                Ok(Status::Partial) => Ok(None),
                Err(error) => Err(Error::malformed(error)),
            },
            Self::V5(decoder) => match decoder.decode(bytes) {
                Ok(Status::Complete((packet, used))) => {
                    log::debug!("received {:?}", packet.packet_type());
                    session
                        .handle_v5(packet, Instant::now())
                        .map(|()| Some(used))
                }
                Ok(Status::Partial) => Ok(None),
                Err(error) => {
                    // Tell the server why before closing [MQTT5-4.13.1-1].
                    let reason = error.reason_code();
                    session.protocol_error(reason, Instant::now());
                    Err(Error::malformed(error))
                }
            },
        }
    }
}

/// Hands every complete packet in `buffer` to the session, and removes it from the buffer.
fn feed(inner: &Inner, decoder: &Decoding, buffer: &mut Vec<u8>) -> Result<(), Error> {
    let mut consumed = 0;
    let mut core = inner.core.lock();
    let result = loop {
        let Some(rest) = buffer.get(consumed..) else {
            break Ok(());
        };
        let fed = decoder.feed_one(&mut core.session, rest);
        core.dispatch();
        match fed {
            Ok(Some(used)) => consumed += used,
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    drop(core);
    buffer.drain(..consumed);
    result
}

/// The reader thread: reads, decodes, hands packets to the session, and wakes the driver when the
/// session has something to send or the connection ends.
fn read_loop(
    inner: Arc<Inner>,
    mut reader: ReadHalf,
    decoder: Decoding,
    mut buffer: Vec<u8>,
    generation: u64,
) {
    let mut chunk = vec![0; 16 * 1024];
    let error = loop {
        // Bytes left over from the handshake may already hold packets.
        if let Err(error) = feed(&inner, &decoder, &mut buffer) {
            break error;
        }
        if inner.core.lock().session.has_outgoing() {
            let _ = inner.wake.send(Wake::Write);
        }
        match reader.read(&mut chunk) {
            Ok(0) => break Error::ConnectionLost("the server closed the connection".into()),
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => break Error::io("reading from the server", error),
        }
    };
    let _ = inner.wake.send(Wake::Lost { generation, error });
}

/// The driver thread's state.
struct Driver {
    inner: Arc<Inner>,
    options: ConnectOptions,
    wake: Receiver<Wake>,
    backoff: Option<Backoff>,
    generation: u64,
}

/// How the driver's inner loop ended.
enum Ending {
    Disconnect,
    Lost(Error),
}

impl Driver {
    fn new(inner: Arc<Inner>, options: ConnectOptions, wake: Receiver<Wake>) -> Self {
        let backoff = options.reconnect.map(Backoff::new);
        Self {
            inner,
            options,
            wake,
            backoff,
            generation: 1,
        }
    }

    fn run(mut self, mut connection: Connection) {
        loop {
            let ending = self.serve(&mut connection);
            connection.writer.shutdown();
            if let Some(reader) = connection.reader.take() {
                let _ = reader.join();
            }
            let error = match ending {
                Ending::Disconnect => {
                    self.close(None);
                    return;
                }
                Ending::Lost(error) => error,
            };
            log::warn!("{error}");
            // Reconnect after anything but a refusal that would only be repeated (bad credentials, a
            // rejected id): network trouble and protocol violations may well be transient.
            let permanent = (error.is_refusal()
                || matches!(
                    &error,
                    Error::ServerDisconnected { .. } | Error::Authentication(_)
                ))
                && !error.is_transient();
            let retry = self.backoff.is_some() && !permanent;
            if !retry {
                self.close(Some(error));
                return;
            }
            {
                let mut core = self.inner.core.lock();
                core.session.connection_lost(&error, true);
                core.dispatch();
                core.notify(Notification::ConnectionLost(error));
            }
            match self.reconnect() {
                Some(next) => connection = next,
                None => return,
            }
        }
    }

    /// Serves one connection until it is lost or the application disconnects.
    fn serve(&mut self, connection: &mut Connection) -> Ending {
        loop {
            let deadline = self.inner.core.lock().session.next_deadline();
            let woken = match deadline {
                Some(deadline) => self.wake.recv_deadline(deadline),
                None => self.wake.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match woken {
                Ok(Wake::Write) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Wake::Lost { generation, error }) if generation == connection.generation => {
                    // At 5.0 the session may have queued a DISCONNECT saying why the connection
                    // ends [MQTT5-4.13.1-1]; it goes out before the socket closes.
                    let bytes = self.inner.core.lock().session.take_outgoing();
                    if !bytes.is_empty() {
                        let _ = connection.writer.write_all(&bytes);
                    }
                    return Ending::Lost(error);
                }
                Ok(Wake::Lost { .. }) => {}
                Ok(Wake::Disconnect) | Err(RecvTimeoutError::Disconnected) => {
                    let bytes = {
                        let mut core = self.inner.core.lock();
                        core.session.disconnect(Instant::now());
                        core.dispatch();
                        core.session.take_outgoing()
                    };
                    let _ = connection.writer.write_all(&bytes);
                    return Ending::Disconnect;
                }
            }
            let (ticked, bytes) = {
                let mut core = self.inner.core.lock();
                let ticked = core.session.tick(Instant::now());
                core.dispatch();
                (ticked, core.session.take_outgoing())
            };
            let written = if bytes.is_empty() {
                Ok(())
            } else {
                connection.writer.write_all(&bytes)
            };
            if let Err(error) = written {
                return Ending::Lost(Error::io("writing to the server", error));
            }
            if let Err(error) = ticked {
                return Ending::Lost(error);
            }
        }
    }

    /// Tries to connect again, with backoff, until it succeeds, gives up, or the application
    /// disconnects. `None` means the client is closed.
    fn reconnect(&mut self) -> Option<Connection> {
        loop {
            let delay = self
                .backoff
                .as_mut()
                .map_or(Duration::ZERO, Backoff::next_delay);
            log::info!("reconnecting in {delay:?}");
            let deadline = Instant::now() + delay;
            loop {
                match self.wake.recv_deadline(deadline) {
                    Ok(Wake::Disconnect) | Err(RecvTimeoutError::Disconnected) => {
                        let mut core = self.inner.core.lock();
                        core.session.disconnect(Instant::now());
                        core.dispatch();
                        drop(core);
                        self.close(None);
                        return None;
                    }
                    Ok(_) => {}
                    Err(RecvTimeoutError::Timeout) => break,
                }
            }
            self.generation += 1;
            match establish(&self.inner, &self.options, self.generation) {
                Ok(connection) => {
                    if let Some(backoff) = &mut self.backoff {
                        backoff.reset();
                    }
                    return Some(connection);
                }
                Err(error) if error.is_refusal() && !error.is_transient() => {
                    self.close(Some(error));
                    return None;
                }
                Err(error) => {
                    log::warn!("reconnection failed: {error}");
                    let mut core = self.inner.core.lock();
                    core.session.connection_lost(&error, true);
                    core.dispatch();
                }
            }
        }
    }

    /// Closes the client for good: fails what is pending and ends the notifications.
    fn close(&self, error: Option<Error>) {
        let mut core = self.inner.core.lock();
        let reason = error.clone().unwrap_or(Error::Closed);
        core.session.connection_lost(&reason, false);
        core.dispatch();
        if let Some(error) = error {
            core.notify(Notification::ConnectionLost(error.clone()));
            core.close_reason = Some(error);
        }
        core.notify = None;
    }
}

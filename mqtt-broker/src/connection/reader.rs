//! The reader thread of one connection: reads the socket, decodes packets, feeds them to the
//! connection's [`ProtocolMachine`] and carries out the actions it answers.
//!
//! One such thread per accepted socket, and the connection's only thread while its client keeps up.
//! It owns the read side, the decoder and the session state machine; it makes the connection's
//! [`Writer`] once CONNECT is accepted, and before each blocking read it writes what it put in
//! channels, its own and its subscribers' (`outbound::kick_all`, see `writer.rs`). It blocks only on
//! its own socket (with a read timeout that wakes it for the session's next deadline), on its own
//! channel when that is full, and on the log's fsync before a write that promises, never while
//! holding a lock. When it ends, for whatever reason, it publishes the Will if the session handed one
//! over, detaches from the router, and waits for its writer's helper, if one is running.
//!
//! On a TLS or WebSocket listener the thread first completes the handshakes (`transport/stream.rs`), within
//! `connect_timeout`. At CONNECT it asks `security/auth.rs` whether the client may connect, and on every
//! PUBLISH and SUBSCRIBE whether its listener's authorisers (the ACL, registered plugins) let it: a
//! PUBLISH that may not go through is acknowledged as usual and dropped [MQTT-3.3.5-2]
//! [V31-DIFF-35]; a refused filter is answered 0x80 (see `Router::subscribe` for 3.1). It also calls
//! the registered [`Hooks`](crate::hooks::Hooks) (connect, publish, subscribe, disconnect), with no
//! lock held.
//!
//! The level is known only once CONNECT has arrived: the reader looks at the level byte of the
//! first packet (`v5::connect_level`) and decodes it, and everything after it, with the 5.0
//! decoder if it names level 5, with the 3.1.1 one (which speaks 3.1 too) otherwise. A 5.0
//! PUBLISH is answered with the Reason Code of what happened to it (`protocol::ack_reason`).
//!
//! This file holds no protocol rules (`connection/protocol.rs`) and no shared state (`routing/router.rs`); it is the glue
//! between a socket and those two.

use std::io;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mqtt_codec::v5::{self, ReasonCode};
use mqtt_codec::{ConnectReturnCode, Decoder, Packet, ProtocolLevel, Status, SubAckReturnCode};

use super::QUIET;
use super::protocol::{
    Action, Close, CloseReason, OpenRequest, ProtocolMachine, Settings, ack_reason,
};
use super::topic_aliases::OutboundAliases;
use super::writer::{Encoding, Writer};
use crate::hooks::{
    AuthenticationExchange, ClientInfo, ConnectRequest, ConnectionInfo, DisconnectReason,
    ExchangeRequest, ExchangeStep, Listener, MessageView, ProtocolVersion, PublishDecision,
};
use crate::logging;
use crate::memory_limit::MemoryLimit;
use crate::message::Message;
use crate::message::Source;
use crate::metrics::Metrics;
use crate::routing::outbound::{
    self as outbound, ConnAck5, ConnAckProperties, Drain, OutPacket, Outbound, WriterTx,
    connack_reason, writer_channel,
};
use crate::routing::router::{Asked, Link, Router, SlotRef};
use crate::transport::Stream;

/// What every connection thread shares: the router and the broker-wide settings and limits.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) router: Arc<Router>,
    pub(crate) settings: Settings,
    /// The most accepted (CONNACK 0) connections at once.
    pub(crate) max_connections: usize,
    /// Accepted connections now; compared with `max_connections` at CONNECT.
    pub(crate) admitted: AtomicUsize,
    /// The capacity of each writer's channel, in packets.
    pub(crate) channel_capacity: usize,
    /// The largest packet the decoder accepts.
    pub(crate) max_packet_size: usize,
    /// Set by [`BrokerHandle::shutdown`](crate::BrokerHandle::shutdown): Wills are not published.
    pub(crate) shutting_down: AtomicBool,
    /// Stack size of the writers' helper threads.
    pub(crate) writer_stack: usize,
    /// The most subscriptions per session (0: no limit).
    pub(crate) max_subscriptions: usize,
    /// The most levels in a topic name or filter (0: no limit).
    pub(crate) max_topic_levels: usize,
    /// How long a write may block before the client is considered gone (`write_timeout`).
    pub(crate) write_timeout: Duration,
    /// `memory_limit`, if set: no PUBLISH or CONNECT is taken while it is exceeded.
    pub(crate) memory_limit: Option<MemoryLimit>,
}

/// How late the socket's read timeout may fire after the session's deadline before it is set again.
/// Setting it is a system call; without this slack the reader made one before every read, because
/// every packet moves the keep-alive deadline a little (see [`needs_rearming`]).
const TIMEOUT_SLACK: Duration = Duration::from_millis(100);

/// The most packets for the connection's own writer held back before they are handed over (see
/// [`Connection::send`]).
const PENDING_MAX: usize = 64;

/// The bytes of CONNACK 3, server unavailable: the same at both levels (Session Present is 0 on a
/// refusal [MQTT-3.2.2-4]).
pub(crate) const CONNACK_SERVER_UNAVAILABLE: [u8; 4] = [0x20, 0x02, 0x00, 0x03];

/// The connection after CONNECT: its slot in the router and its writer.
struct Attached {
    slot: SlotRef,
    tx: WriterTx,
    writer: Arc<Writer>,
    /// Who the client is (its client id among it), for authorisers and hooks (the user name it acts under, its listener...).
    client: Arc<ClientInfo>,
    /// Whether the client is a bridge (see `OpenRequest::bridge`): what it publishes is not sent back
    /// to it.
    bridge: bool,
}

/// One connection's reader.
pub(crate) struct Connection {
    context: Arc<Context>,
    stream: Arc<Stream>,
    peer: SocketAddr,
    id: u64,
    protocol: ProtocolMachine,
    attached: Option<Attached>,
    /// The subject CN of the client's certificate, once a TLS handshake verified one.
    identity: Option<Arc<str>>,
    /// The listener that accepted the connection.
    listener: Listener,
    /// Why the connection ended, for [`Hooks::on_disconnect`](crate::hooks::Hooks::on_disconnect).
    ended: DisconnectReason,
    /// Packets for this connection's writer (PUBACK, PUBREC, PUBCOMP, SUBACK...) produced while
    /// decoding one read, handed over together before the next blocking read. One channel message
    /// per read instead of one per packet: a publisher's writer is woken once per batch of
    /// acknowledgements, not once per acknowledgement.
    pending: Vec<OutPacket>,
    /// The local side of one of our own bridges (`bridge/`): not authenticated, not subject to the
    /// ACL.
    trusted: bool,
    /// The 5.0 enhanced authentication exchange under way, which the machine steps through
    /// [`Action::Authenticate`].
    exchange: Option<Box<dyn AuthenticationExchange>>,
}

impl Connection {
    /// A connection accepted from `peer` by `listener`; numbered `id` for the logs and for assigned
    /// client ids.
    pub(crate) fn new(
        context: Arc<Context>,
        stream: Stream,
        peer: SocketAddr,
        id: u64,
        listener: Listener,
    ) -> Self {
        let protocol = ProtocolMachine::new(context.settings.clone(), id, Instant::now());
        Self {
            context,
            stream: Arc::new(stream),
            peer,
            id,
            protocol,
            attached: None,
            identity: None,
            listener,
            ended: DisconnectReason::ConnectionLost,
            pending: Vec::new(),
            trusted: false,
            exchange: None,
        }
    }

    /// [`Connection::new`], on the heap. Every frame below the reader's loop stays on its stack
    /// for the connection's life, and every idle connection keeps the deepest page it touched
    /// resident: built in this function's frame (popped before the loop starts) and kept behind a
    /// pointer, the 600-byte connection adds to no frame. That is what keeps the reader's stack
    /// to three pages (see ARCHITECTURE.md, "Memory").
    #[inline(never)]
    pub(crate) fn boxed(
        context: Arc<Context>,
        stream: Stream,
        peer: SocketAddr,
        id: u64,
        listener: Listener,
    ) -> Box<Self> {
        Box::new(Self::new(context, stream, peer, id, listener))
    }

    /// The broker's end of an in-process connection: the local side of one of our own bridges,
    /// trusted as mosquitto trusts its bridges (no password, no ACL). `peer` stands in for an address
    /// in the logs, and for the listener's (whose index, `usize::MAX`, is no listener's).
    pub(crate) fn internal(
        context: Arc<Context>,
        end: crate::transport::duplex::End,
        peer: SocketAddr,
        id: u64,
    ) -> Box<Self> {
        let listener = Listener {
            index: usize::MAX,
            address: peer,
            tls: false,
        };
        let mut connection = Self::boxed(context, Stream::Memory(end), peer, id, listener);
        connection.trusted = true;
        connection.protocol.offer_everything();
        connection
    }

    /// Runs the connection to its end. The connection is boxed (see [`Connection::boxed`]).
    pub(crate) fn run(mut self: Box<Self>) {
        let _ = self
            .stream
            .set_write_timeout(Some(self.context.write_timeout));
        // TLS and WebSocket listeners: their handshakes first (nothing to do on plain TCP).
        let deadline = Instant::now() + self.context.settings.connect_timeout;
        match self.stream.handshake(deadline) {
            Ok(identity) => {
                if identity.is_some() {
                    debug!("{}: certificate CN {identity:?}", self.peer);
                }
                self.identity = identity.map(Arc::from);
            }
            Err(crate::transport::HandshakeError::Served(what)) => {
                info!(target: logging::WEBSOCKETS, "{}: {what}", self.peer);
                self.stream.shutdown();
                return;
            }
            Err(why) => {
                warn!("{}: {why}", self.peer);
                self.stream.shutdown();
                return;
            }
        }
        logging::lines::new_connection(self.peer, self.listener.address.port());
        let mut decoder = Decoders {
            v3: Decoder::new(ProtocolLevel::Mqtt311)
                .with_max_packet_size(self.context.max_packet_size),
            v5: v5::Decoder::new().with_max_packet_size(self.context.max_packet_size),
        };
        let mut buffer = ReadBuffer::default();
        // The read timeout now set on the socket; `None` until the first is set.
        let mut armed: Option<Option<Duration>> = None;
        loop {
            let now = Instant::now();
            let actions = self.protocol.tick(now);
            if self.execute(actions).is_break() {
                break;
            }
            // Whatever this read produced for the writer goes now, before blocking on the socket,
            // and so does what it delivered to other connections (see `writer.rs`).
            if self.flush().is_break() {
                break;
            }
            outbound::kick_all();
            let needed = self.protocol.deadline().map(|deadline| {
                deadline
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1))
            });
            if needs_rearming(armed, needed) {
                if self.stream.set_read_timeout(needed).is_err() {
                    let actions = self.protocol.connection_lost();
                    let _ = self.execute(actions);
                    break;
                }
                armed = Some(needed);
            }
            let read = buffer.read_from(&self.stream, now);
            let actions = match read {
                Ok(0) => self.protocol.connection_lost(),
                Ok(count) => {
                    Metrics::add(&self.context.router.metrics.bytes_received, count as u64);
                    let flow = self.decode_all(&mut decoder, &mut buffer);
                    if Router::waited() {
                        self.protocol.held_back(Instant::now());
                    }
                    match flow {
                        ControlFlow::Continue(()) => continue,
                        ControlFlow::Break(()) => break,
                    }
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue; // the next tick looks at the deadlines
                }
                Err(error) => {
                    // A broken WebSocket frame or TLS record is the client's fault: say so.
                    if error.kind() == io::ErrorKind::InvalidData {
                        info!("{}: {error}", self.describe());
                    } else {
                        debug!("{}: read failed: {error}", self.peer);
                    }
                    self.protocol.connection_lost()
                }
            };
            if self.execute(actions).is_break() {
                break;
            }
        }
        self.finish();
    }

    /// Decodes and handles every complete packet in `buffer`, keeping the incomplete rest.
    fn decode_all(&mut self, decoder: &mut Decoders, buffer: &mut ReadBuffer) -> ControlFlow<()> {
        let mut consumed = 0;
        // One vector for the actions of every packet of this read (see `ProtocolMachine::packet_into`).
        let mut actions = Vec::new();
        let flow = 'decoding: loop {
            let bytes = &buffer.unread()[consumed..];
            if !self.protocol.is_v5() && self.attached.is_none() {
                // Before CONNECT: a level 5 CONNECT turns the 5.0 decoder on for good.
                match v5::connect_level(bytes) {
                    Ok(Status::Complete(Some(5))) => self.protocol.expect_v5(),
                    Ok(Status::Partial) if !bytes.is_empty() => break ControlFlow::Continue(()),
                    _ => {}
                }
            }
            let metrics = &self.context.router.metrics;
            let decoded = if self.protocol.is_v5() {
                match decoder.v5.decode(bytes) {
                    Ok(Status::Complete((packet, used))) => {
                        if let v5::Packet::Publish(publish) = &packet {
                            Metrics::add(&metrics.publish_received, 1);
                            let payload = publish.payload.len() as u64;
                            Metrics::add(&metrics.publish_bytes_received, payload);
                        }
                        self.protocol
                            .packet5_into(packet, Instant::now(), &mut actions);
                        Ok(Status::Complete(used))
                    }
                    Ok(Status::Partial) => Ok(Status::Partial),
                    Err(error) => Err(error),
                }
            } else {
                match decoder.v3.decode(bytes) {
                    Ok(Status::Complete((packet, used))) => {
                        if let Packet::Publish(publish) = &packet {
                            Metrics::add(&metrics.publish_received, 1);
                            let payload = publish.payload.len() as u64;
                            Metrics::add(&metrics.publish_bytes_received, payload);
                        }
                        self.protocol
                            .packet_into(packet, Instant::now(), &mut actions);
                        // After CONNECT, the connection speaks the level it named.
                        decoder.v3.set_level(self.protocol.level());
                        Ok(Status::Complete(used))
                    }
                    Ok(Status::Partial) => Ok(Status::Partial),
                    Err(error) => Err(error),
                }
            };
            match decoded {
                Ok(Status::Complete(used)) => {
                    if let Some(attached) = &self.attached {
                        let v5 = self.protocol.is_v5();
                        logging::lines::received(&attached.client.client_id, v5, &bytes[..used]);
                    }
                    consumed += used;
                    Metrics::add(&metrics.messages_received, 1);
                }
                Ok(Status::Partial) => break ControlFlow::Continue(()),
                Err(error) => actions.extend(self.protocol.malformed(error)),
            }
            for action in actions.drain(..) {
                if self.execute_one(action).is_break() {
                    break 'decoding ControlFlow::Break(());
                }
            }
        };
        buffer.consume(consumed);
        flow
    }

    /// Carries out the session's actions in order; `Break` once the connection is to end.
    fn execute(&mut self, actions: Vec<Action>) -> ControlFlow<()> {
        for action in actions {
            self.execute_one(action)?;
        }
        ControlFlow::Continue(())
    }

    fn execute_one(&mut self, action: Action) -> ControlFlow<()> {
        let router = Arc::clone(&self.context.router);
        match action {
            Action::Send(packet) => self.send(packet),
            Action::Open(mut request) => {
                request.trusted = self.trusted;
                self.open(&request)
            }
            Action::Publish(message) => {
                let message = self.with_source(message);
                self.within_topic_levels(&message)?;
                self.within_memory_limit(Some(message.payload.len()))?;
                if self.may_publish(&message)
                    && let Err(refused) =
                        router.publish_from(&message, self.bridge_id(), self.publisher())
                {
                    // Its PUBACK, the next action, is never sent: the loop stops at the close.
                    let actions = self.protocol.queue_full(refused.to_string());
                    return self.execute(actions);
                }
                ControlFlow::Continue(())
            }
            Action::PublishAcked { packet_id, message } => {
                let message = message.map(|message| self.with_source(message));
                if let Some(message) = &message {
                    self.within_topic_levels(message)?;
                }
                self.within_memory_limit(message.as_ref().map(|message| message.payload.len()))?;
                let forwarded = message.is_some();
                let allowed = message
                    .as_ref()
                    .is_none_or(|message| self.may_publish(message));
                let routed = match message.filter(|_| allowed) {
                    Some(message) => {
                        router.publish_from(&message, self.bridge_id(), self.publisher())
                    }
                    None => Ok(0),
                };
                match routed {
                    Ok(delivered) => match ack_reason(allowed, forwarded, delivered) {
                        ReasonCode::SUCCESS => self.send(OutPacket::PubAck(packet_id)),
                        code => self.send(OutPacket::PubAckWith(packet_id, code)),
                    },
                    Err(refused) => {
                        let actions = self.protocol.queue_full(refused.to_string());
                        self.execute(actions)
                    }
                }
            }
            Action::PublishOnce { packet_id, message } => {
                let message = message.map(|message| self.with_source(message));
                if let Some(message) = &message {
                    self.within_topic_levels(message)?;
                }
                self.within_memory_limit(message.as_ref().map(|message| message.payload.len()))?;
                let forwarded = message.is_some();
                let allowed = message
                    .as_ref()
                    .is_none_or(|message| self.may_publish(message));
                let message = message.filter(|_| allowed);
                let attached = self.attached()?;
                let bridge = self.bridge_id();
                let publisher = self.publisher();
                match router.publish_once(
                    &attached.slot,
                    self.id,
                    packet_id,
                    message.as_ref(),
                    bridge,
                    publisher,
                ) {
                    Err(refused) => {
                        let actions = self.protocol.queue_full(refused.to_string());
                        self.execute(actions)
                    }
                    // A duplicate of one already routed [MQTT5-4.3.3-10].
                    Ok(None) if allowed && forwarded => self.send(OutPacket::PubRec(packet_id)),
                    Ok(delivered) if self.protocol.is_v5() => {
                        match ack_reason(allowed, forwarded, delivered.unwrap_or(0)) {
                            ReasonCode::SUCCESS => self.send(OutPacket::PubRec(packet_id)),
                            code => {
                                if code.is_failure() {
                                    // PUBREL only answers a PUBREC under 0x80 [MQTT5-4.3.3-4]:
                                    // none will come to end this one's count.
                                    self.protocol.refused_inbound(packet_id);
                                    // Nor to free the identifier: the exchange ends here, and a
                                    // later PUBLISH with it is a new message [MQTT5-4.3.3-9].
                                    router.release(&self.attached()?.slot, self.id, packet_id);
                                }
                                self.send(OutPacket::PubRecWith(packet_id, code))
                            }
                        }
                    }
                    Ok(_) => self.send(OutPacket::PubRec(packet_id)),
                }
            }
            Action::SessionExpiry(seconds) => {
                router.set_session_expiry(&self.attached()?.slot, self.id, seconds);
                ControlFlow::Continue(())
            }
            Action::Release(packet_id) => {
                let known = router.release(&self.attached()?.slot, self.id, packet_id);
                if !known && self.protocol.is_v5() {
                    // Packet Identifier not found (5.0 §3.7.2.1).
                    return self.send(OutPacket::PubCompWith(
                        packet_id,
                        ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
                    ));
                }
                self.send(OutPacket::PubComp(packet_id))
            }
            Action::Acknowledged(ack) => {
                match router.acknowledged(&self.attached()?.slot, self.id, ack) {
                    Ok(Some(reply)) => self.send(reply),
                    Ok(None) => ControlFlow::Continue(()),
                    Err(why) => {
                        let actions = self.protocol.wrong_acknowledgement(why);
                        self.execute(actions)
                    }
                }
            }
            Action::Subscribe {
                packet_id,
                filters,
                options,
                unoffered,
            } => {
                let attached = self.attached()?;
                let slot = Arc::clone(&attached.slot);
                let security = router.security();
                let allowed: Vec<bool> = filters
                    .iter()
                    .enumerate()
                    .map(|(index, (filter, qos))| {
                        if self.trusted {
                            return true;
                        }
                        if let Some(Some(what)) = unoffered.get(index) {
                            info!(
                                "{}: subscription to {filter:?} refused: {}",
                                self.describe(),
                                what.describe()
                            );
                            return false;
                        }
                        // A shared subscription is judged by its own filter (see `routing/shared.rs`).
                        let filter = crate::routing::shared::acl_filter(filter);
                        let levels_ok = self.context.max_topic_levels == 0
                            || filter.split('/').count() <= self.context.max_topic_levels;
                        let ok =
                            levels_ok && security.may_subscribe(&attached.client, filter, *qos);
                        if !ok {
                            info!(
                                "{}: subscription to {filter:?} refused (acl_file or \
                                 max_topic_levels)",
                                self.describe()
                            );
                        }
                        ok
                    })
                    .collect();
                let asked = Asked {
                    filters: &filters,
                    options: &options,
                    allowed: &allowed,
                };
                let done = router.subscribe(
                    &slot,
                    self.id,
                    asked,
                    self.context.max_subscriptions,
                    self.protocol.level(),
                );
                let subscribed = done.subscribed;
                for (filter, _) in &filters {
                    let granted = subscribed
                        .iter()
                        .find(|(subscribed, _)| subscribed == filter)
                        .map(|(_, qos)| *qos);
                    for hooks in security.hooks() {
                        hooks.on_subscribe(&attached.client, filter, granted);
                    }
                }
                // The SUBACK goes before the retained messages, which a client may find easier to
                // read, though either order is allowed (3.1.1 §3.8.4). The retained messages go
                // to the writer directly, so what is held back goes first.
                let suback = if self.protocol.is_v5() {
                    // A refusal says why where the broker knows: the authorisers said no.
                    let codes = done
                        .codes
                        .iter()
                        .zip(&allowed)
                        .map(|(code, allowed)| match (code, allowed) {
                            (SubAckReturnCode::Granted(qos), _) => ReasonCode::granted(*qos),
                            (SubAckReturnCode::Failure, false) => ReasonCode::NOT_AUTHORIZED,
                            (SubAckReturnCode::Failure, true) => ReasonCode::UNSPECIFIED_ERROR,
                        })
                        .collect();
                    OutPacket::SubAck5 { packet_id, codes } // [MQTT5-3.9.3-1] [MQTT5-3.9.3-2]
                } else {
                    OutPacket::SubAck {
                        packet_id,
                        codes: done.codes,
                    }
                };
                self.send(suback)?;
                self.flush()?;
                router.send_retained(&slot, self.id, &done.send_retained);
                ControlFlow::Continue(())
            }
            Action::Unsubscribe { packet_id, filters } => {
                let existed = router.unsubscribe(&self.attached()?.slot, self.id, &filters);
                if self.protocol.is_v5() {
                    let codes = existed
                        .iter()
                        .map(|existed| {
                            if *existed {
                                ReasonCode::SUCCESS
                            } else {
                                ReasonCode::NO_SUBSCRIPTION_EXISTED
                            }
                        })
                        .collect();
                    return self.send(OutPacket::UnsubAck5 { packet_id, codes }); // [MQTT5-3.11.3-1]
                }
                self.send(OutPacket::UnsubAck(packet_id)) // [MQTT-3.10.4-4] [MQTT-3.10.4-5]
            }
            Action::Dropped { topic, size } => {
                Metrics::add(&router.metrics.publish_dropped, 1);
                warn!(
                    "{}: message to {topic:?} not forwarded: {size} bytes is over message_size_limit",
                    self.describe()
                );
                ControlFlow::Continue(())
            }
            Action::Authenticate { start, data } => {
                // The sans-I/O machine asked for the enhanced authenticator's next step; it runs
                // here, on this client's thread, with no lock held.
                if let Some(start) = start {
                    let request = ExchangeRequest {
                        client_id: &start.client_id,
                        user_name: start.user_name.as_deref(),
                        authenticated_as: start.authenticated_as.as_deref(),
                        reauthentication: start.reauthentication,
                        certificate_identity: self.identity.as_deref(),
                        listener: self.listener,
                        peer: self.peer,
                    };
                    self.exchange = router.security().start_exchange(&start.method, &request);
                }
                let step = self
                    .exchange
                    .as_mut()
                    .map(|exchange| exchange.step(data.as_deref()));
                if !matches!(step, Some(ExchangeStep::Continue(_))) {
                    self.exchange = None; // over, one way or the other
                }
                let actions = self.protocol.exchange_step(step, Instant::now());
                self.execute(actions)
            }
            Action::Close(close) => {
                self.close(close);
                ControlFlow::Break(())
            }
        }
    }

    /// Whether the client may publish `message`: `max_topic_levels`, the authorisers' `write`
    /// (the ACL's and registered ones) and every `on_publish` hook. A refusal is counted and logged;
    /// the caller still acknowledges the PUBLISH, which 3.1.1 allows [MQTT-3.3.5-2] and 3.1 requires
    /// [V31-DIFF-35], so that the client does not retry it forever.
    /// A PUBLISH to a topic deeper than `max_topic_levels` closes the connection, unacknowledged:
    /// acknowledged and dropped, it would be lost to its publisher without a word [MQTT-4.3.2-2].
    fn within_topic_levels(&mut self, message: &Message) -> ControlFlow<()> {
        let levels = self.context.max_topic_levels;
        if self.trusted || levels == 0 || message.topic.split('/').nth(levels).is_none() {
            return ControlFlow::Continue(());
        }
        let why = format!(
            "PUBLISH to a topic of more than {levels} levels (max_topic_levels); closing the \
             connection without acknowledging it"
        );
        let actions = self.protocol.over_limit(why);
        self.execute(actions)
    }

    /// `memory_limit`: while the broker holds more message bytes than it allows, a PUBLISH with a
    /// payload closes its connection unacknowledged, to be sent again later (see
    /// `memory_limit.rs`). One without a payload passes: it is how a retained message is deleted,
    /// which is one way back under the limit. A bridge's local side (trusted) is held to it too:
    /// what it brings in takes memory like anything else.
    fn within_memory_limit(&mut self, payload: Option<usize>) -> ControlFlow<()> {
        let Some(limit) = &self.context.memory_limit else {
            return ControlFlow::Continue(());
        };
        if payload.unwrap_or(0) == 0 || !limit.exceeded(&self.context.router, Instant::now()) {
            return ControlFlow::Continue(());
        }
        let why = format!(
            "{}; closing the connection without acknowledging its PUBLISH",
            limit.describe()
        );
        let actions = self.protocol.queue_full(why);
        self.execute(actions)
    }

    /// A retained PUBLISH remembers who published it, for `check_retain_source` (the
    /// `routing/router.rs` side). Not one from inside the process (a bridge's local side), which
    /// the ACL never judges.
    fn with_source(&self, mut message: Message) -> Message {
        if message.retain
            && !self.trusted
            && let Some(attached) = &self.attached
        {
            message.source = Some(Arc::new(Source {
                client_id: Arc::clone(&attached.client.client_id),
                user_name: attached.client.user_name.clone(),
            }));
        }
        message
    }

    fn may_publish(&self, message: &Message) -> bool {
        let Some(attached) = &self.attached else {
            return false;
        };
        if self.trusted {
            return true;
        }
        let security = self.context.router.security();
        // Deeper topics closed the connection already (`within_topic_levels`).
        let allowed = security.may_publish(&attached.client, message);
        let refusal = if allowed {
            let view = MessageView::new(message);
            security.hooks().iter().find_map(|hooks| {
                match hooks.on_publish(&attached.client, &view) {
                    PublishDecision::Accept => None,
                    PublishDecision::Reject(why) => Some(why),
                }
            })
        } else {
            Some("acl_file or a registered authoriser".into())
        };
        let Some(why) = refusal else {
            return true;
        };
        Metrics::add(&self.context.router.metrics.publish_denied, 1);
        info!(
            "{}: PUBLISH to {:?} denied ({why}); acknowledged and dropped",
            self.describe(),
            message.topic
        );
        false
    }

    /// The client identifier of this connection, as the publisher of what it sends (No Local
    /// compares it with each subscriber's).
    fn publisher(&self) -> Option<&str> {
        self.attached
            .as_ref()
            .map(|attached| &*attached.client.client_id)
    }

    /// The client identifier, if this connection is a bridge: what it publishes skips its session.
    fn bridge_id(&self) -> Option<&str> {
        self.attached
            .as_ref()
            .filter(|attached| attached.bridge)
            .map(|attached| &*attached.client.client_id)
    }

    fn attached(&self) -> ControlFlow<(), &Attached> {
        match &self.attached {
            Some(attached) => ControlFlow::Continue(attached),
            None => ControlFlow::Break(()),
        }
    }

    /// Sends through the writer once there is one, held back in `pending` until the reader is about
    /// to block (or `PENDING_MAX` packets are waiting); before that (refusals of CONNECT) directly.
    fn send(&mut self, packet: OutPacket) -> ControlFlow<()> {
        match &self.attached {
            Some(_) => {
                self.pending.push(packet);
                if self.pending.len() >= PENDING_MAX {
                    return self.flush();
                }
                ControlFlow::Continue(())
            }
            None => {
                let mut bytes = Vec::with_capacity(8);
                let encoded = if self.protocol.is_v5() {
                    packet.encode5(Instant::now(), &mut bytes)
                } else {
                    packet.encode(self.protocol.level(), &mut bytes)
                };
                if encoded.is_ok() {
                    let _ = self.stream.write_all(&bytes);
                }
                ControlFlow::Continue(())
            }
        }
    }

    /// Hands the held-back packets to the writer as one channel message. This is the reader's one
    /// blocking send, made with no lock held: a client that does not read its acknowledgements
    /// stalls only its own reader.
    fn flush(&mut self) -> ControlFlow<()> {
        let Some(attached) = &self.attached else {
            return ControlFlow::Continue(());
        };
        if self.pending.is_empty() {
            return ControlFlow::Continue(());
        }
        let packets = std::mem::take(&mut self.pending);
        match attached
            .tx
            .send(self.context.router.outbound_batch(packets))
        {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()), // the writer is gone: so is the connection
        }
    }

    /// A valid CONNECT: check the connection limit, start the writer, open the session.
    // Out of line, like `close`: inlined into `execute_one`, their locals made its frame 2.5 KiB,
    // which every packet paid in stack depth (and every idle connection in a resident page).
    #[inline(never)]
    fn open(&mut self, request: &OpenRequest) -> ControlFlow<()> {
        let context = Arc::clone(&self.context);
        let security = context.router.security();
        let asked = ConnectRequest {
            client_id: &request.client_id,
            user_name: request.user_name.as_deref(),
            password: request
                .password
                .as_ref()
                .map(|password| password.0.as_slice()),
            certificate_identity: self.identity.as_deref(),
            listener: self.listener,
            peer: self.peer,
            version: ProtocolVersion::of(request.level, request.mqtt5.is_some()),
        };
        let authenticated = if self.trusted {
            Ok(None)
        } else if let Some(proved) = &request.authenticated {
            // An enhanced authentication proved who the client is (`protocol/auth.rs`): the
            // password chain has nothing to add.
            Ok(proved.user_name.clone())
        } else {
            security.authenticate(&asked)
        };
        let user = match authenticated {
            Ok(user) => user,
            Err(refusal) => {
                // Session Present 0 on a refusal [MQTT-3.2.2-4] [MQTT5-3.2.2-6]; then close
                // [MQTT-3.2.2-5] [MQTT5-3.2.2-7].
                self.write_refusal(refusal.code);
                warn!(
                    "{}: client {:?} (user {:?}) refused with CONNACK {} ({}): {}",
                    self.peer,
                    request.client_id,
                    request.user_name,
                    refusal.code as u8,
                    refusal.code,
                    refusal.why
                );
                self.close(Close {
                    reason: CloseReason::Refused(refusal.code, "not authenticated"),
                    will: None,
                });
                return ControlFlow::Break(());
            }
        };
        let admitted = context
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now < context.max_connections).then_some(now + 1)
            })
            .is_ok();
        if !admitted {
            return self.refuse_unavailable(request, "max_connections reached");
        }
        let (tx, rx) = writer_channel(context.channel_capacity);
        let encoding = Encoding {
            level: request.level,
            mqtt5: request.mqtt5.as_ref().map(|open| {
                // Nothing larger than the client accepts is sent to it [MQTT5-3.1.2-24].
                open.maximum_packet_size.map_or(usize::MAX, |size| {
                    usize::try_from(size).unwrap_or(usize::MAX)
                })
            }),
            explain: request
                .mqtt5
                .as_ref()
                .is_some_and(|open| open.problem_information),
            aliases: request.mqtt5.as_ref().and_then(|open| {
                OutboundAliases::new(open.topic_alias_maximum, self.protocol.topic_alias_cap())
            }),
            client_id: Arc::clone(&request.client_id),
        };
        let writer = Arc::new(Writer::new(
            Arc::clone(&self.stream),
            rx,
            encoding,
            Arc::clone(&context.router),
            self.id,
            context.write_timeout,
            context.writer_stack,
        ));
        let tx = tx.drained_by(Arc::clone(&writer) as Arc<dyn Drain>);
        let link = Link {
            connection_id: self.id,
            tx: tx.clone(),
            stream: Arc::clone(&self.stream),
            starved: writer.starved(),
            mqtt5: request.mqtt5.is_some(),
        };
        let client = Arc::new(ClientInfo {
            client_id: Arc::clone(&request.client_id),
            user_name: user,
            connection: Some(ConnectionInfo {
                listener: self.listener,
                peer: self.peer,
                version: ProtocolVersion::of(request.level, request.mqtt5.is_some()),
                certificate_identity: self.identity.clone(),
            }),
        });
        let opened = context.router.open(request, Arc::clone(&client), link);
        writer.attach(Arc::clone(&opened.slot));
        if let Some(old) = opened.taken_over {
            info!(
                "client {:?} already connected, closing the old connection [MQTT-3.1.4-2]",
                request.client_id
            );
            old.disconnect_with(ReasonCode::SESSION_TAKEN_OVER); // [MQTT5-3.1.4-3]
        }
        // The operator's line is mosquitto's (`logging::lines::client_connected` below); this one
        // adds what it leaves out.
        debug!(
            "{}: client {:?}{} connected ({}{}, clean session {}, keep-alive {}s, session present {})",
            self.peer,
            request.client_id,
            if request.assigned { " (assigned)" } else { "" },
            if request.mqtt5.is_some() {
                "MQTT 5.0".to_string()
            } else {
                request.level.to_string()
            },
            if request.bridge { " bridge" } else { "" },
            u8::from(request.clean_session),
            request.keep_alive,
            u8::from(opened.session_present),
        );
        logging::lines::client_connected(&logging::lines::Connected {
            peer: self.peer,
            client_id: &request.client_id,
            protocol: match (&request.mqtt5, request.level) {
                (Some(_), _) => 5,
                (None, ProtocolLevel::Mqtt31) => 1,
                (None, ProtocolLevel::Mqtt311) => 2,
            },
            // mosquitto's c is Clean Session at 3.1.1 and Clean Start at 5.0.
            clean: if request.mqtt5.is_some() {
                request.clean_start
            } else {
                request.clean_session
            },
            keep_alive: request.keep_alive,
            // The enhanced authenticator's user name when the client sent none.
            user_name: request.user_name.as_deref().or(request
                .authenticated
                .as_ref()
                .and_then(|proved| proved.user_name.as_deref())),
        });
        for hooks in security.hooks() {
            hooks.on_connect(&client);
        }
        self.attached = Some(Attached {
            slot: opened.slot,
            tx,
            writer,
            client,
            bridge: request.bridge,
        });
        ControlFlow::Continue(())
    }

    /// CONNACK 3 and close, with a log line an operator can act on.
    fn refuse_unavailable(&mut self, request: &OpenRequest, why: &str) -> ControlFlow<()> {
        self.write_refusal(ConnectReturnCode::ServerUnavailable);
        warn!(
            "{}: client {:?} refused with CONNACK 3 (server unavailable): {why}",
            self.peer, request.client_id
        );
        self.close(Close {
            reason: CloseReason::Refused(ConnectReturnCode::ServerUnavailable, "limit reached"),
            will: None,
        });
        ControlFlow::Break(())
    }

    /// Writes the CONNACK of a refusal the reader decided (authentication, limits), at the
    /// connection's level: before any writer exists, so straight to the socket.
    fn write_refusal(&self, code: ConnectReturnCode) {
        if self.protocol.is_v5() {
            let connack = OutPacket::ConnAck5(Box::new(ConnAck5 {
                session_present: false,
                reason: connack_reason(code),
                properties: ConnAckProperties::default(),
            }));
            let mut bytes = Vec::with_capacity(8);
            if connack.encode5(Instant::now(), &mut bytes).is_ok() {
                let _ = self.stream.write_all(&bytes);
            }
        } else if code == ConnectReturnCode::ServerUnavailable {
            let _ = self.stream.write_all(&CONNACK_SERVER_UNAVAILABLE);
        } else {
            let _ = self.stream.write_all(&[0x20, 0x02, 0x00, code as u8]);
        }
    }

    fn describe(&self) -> String {
        match &self.attached {
            Some(attached) => format!("{}: client {:?}", self.peer, attached.client.client_id),
            None => format!("{}", self.peer),
        }
    }

    /// Logs the end and publishes the Will, if any. The session is detached in `finish`.
    #[inline(never)]
    fn close(&mut self, close: Close) {
        let shutting_down = self.context.shutting_down.load(Ordering::Relaxed);
        self.ended = match close.reason {
            _ if shutting_down => DisconnectReason::Shutdown,
            CloseReason::Disconnect => DisconnectReason::Disconnect,
            CloseReason::KeepAliveExpired => DisconnectReason::KeepAliveExpired,
            CloseReason::ReauthenticationFailed(_) | CloseReason::ReauthenticationTimeout => {
                DisconnectReason::NotAuthorised
            }
            CloseReason::Malformed(_)
            | CloseReason::ProtocolViolation(_)
            | CloseReason::TopicAliasInvalid
            | CloseReason::WrongAcknowledgement(_)
            | CloseReason::OverLimit(_)
            | CloseReason::RetainUnavailable
            | CloseReason::Unoffered(_)
            | CloseReason::ReceiveMaximumExceeded(_) => DisconnectReason::ProtocolError,
            CloseReason::ConnectionLost
            | CloseReason::QueueFull(_)
            | CloseReason::ConnectTimeout
            | CloseReason::AuthenticationTimeout
            | CloseReason::Refused(..)
            | CloseReason::Refused5(..) => DisconnectReason::ConnectionLost,
        };
        match (&close.reason, &self.attached) {
            (
                CloseReason::Refused(
                    ConnectReturnCode::ServerUnavailable
                    | ConnectReturnCode::BadUserNameOrPassword
                    | ConnectReturnCode::NotAuthorized,
                    _,
                ),
                _,
            ) => {}
            // mosquitto's `Client X disconnected.` follows.
            (CloseReason::Disconnect, _) => debug!("{} disconnected", self.describe()),
            (CloseReason::ConnectionLost, Some(_)) if shutting_down => {
                debug!("{} disconnected: broker shutting down", self.describe());
            }
            (reason, _) => info!("{} disconnected: {reason}", self.describe()),
        }
        if let Some(attached) = &self.attached {
            let ended = match self.ended {
                DisconnectReason::Disconnect => Some(logging::lines::Ended::Disconnect),
                DisconnectReason::KeepAliveExpired => Some(logging::lines::Ended::KeepAlive),
                DisconnectReason::ProtocolError => Some(logging::lines::Ended::ProtocolError),
                DisconnectReason::NotAuthorised => Some(logging::lines::Ended::NotAuthorised),
                DisconnectReason::ConnectionLost => Some(logging::lines::Ended::Lost),
                DisconnectReason::Shutdown => None,
            };
            if let Some(ended) = ended {
                logging::lines::client_disconnected(&attached.client.client_id, ended);
            }
        }
        if let Some(will) = close.will {
            if shutting_down {
                debug!(
                    "{}: will not published, broker shutting down",
                    self.describe()
                );
            } else if self.may_publish(&will) {
                let delay = self.protocol.will_delay();
                if delay.is_zero() {
                    // [MQTT-3.1.2-8], with its QoS and retain flag [MQTT-3.1.2-16] [MQTT-3.1.2-17].
                    self.context
                        .router
                        .publish(&will.published_now(Instant::now()));
                } else if let Some(attached) = &self.attached {
                    self.publish_will_later(will, delay, Arc::clone(&attached.slot));
                }
            }
        }
    }

    /// A 5.0 Will with a Will Delay Interval: published by a thread of its own once `delay` has
    /// passed, unless a new connection took up the session meanwhile [MQTT5-3.1.3-9]
    /// [MQTT5-3.1.2-8] or the broker is stopping. The thread wakes every second to see whether the
    /// broker is stopping, so that it never outlives a shutdown by more than that.
    fn publish_will_later(&self, will: Message, delay: Duration, slot: SlotRef) {
        let context = Arc::clone(&self.context);
        let connection_id = self.id;
        let due = Instant::now() + delay;
        let spawned = std::thread::Builder::new()
            .name(format!("will-{connection_id}"))
            .stack_size(context.writer_stack)
            .spawn(move || {
                loop {
                    if context.shutting_down.load(Ordering::Relaxed) {
                        return;
                    }
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    std::thread::sleep((due - now).min(Duration::from_secs(1)));
                }
                if context.router.will_due(&slot, connection_id) {
                    context.router.publish(&will.published_now(Instant::now()));
                }
            });
        if let Err(error) = spawned {
            warn!(
                "{}: cannot start a thread to delay the Will ({error}): published now",
                self.describe()
            );
            // No thread: the Will goes now rather than never.
        }
    }

    /// Detaches from the router, tells the hooks, stops the writer and waits for it.
    fn finish(mut self: Box<Self>) {
        // Acknowledgements of packets read before the end still go out.
        let _ = self.flush();
        outbound::kick_all();
        if let Some(attached) = self.attached {
            self.context.router.close(&attached.slot, self.id);
            self.context.admitted.fetch_sub(1, Ordering::AcqRel);
            let reason = if self.context.shutting_down.load(Ordering::Relaxed) {
                DisconnectReason::Shutdown
            } else {
                self.ended
            };
            for hooks in self.context.router.security().hooks() {
                hooks.on_disconnect(&attached.client, reason);
            }
            // Let the writer flush what is queued; if its channel is full, cut the socket instead.
            if attached.tx.try_send(Outbound::Close).is_err() {
                self.stream.shutdown();
            }
            drop(attached.tx);
            outbound::kick_all();
            attached.writer.finish();
        }
        self.stream.close();
    }
}

/// Whether the socket's read timeout must be set again: it was never set, it is to be switched on or
/// off, or the one set would fire more than [`TIMEOUT_SLACK`] after the session's next deadline, or
/// less than half way to it. A timeout that fires early costs one loop that finds nothing to do; one
/// that fires a little late delays a keep-alive close by at most the slack.
fn needs_rearming(armed: Option<Option<Duration>>, needed: Option<Duration>) -> bool {
    match (armed, needed) {
        (Some(Some(armed)), Some(needed)) => armed > needed + TIMEOUT_SLACK || armed < needed / 2,
        (Some(None), None) => false,
        _ => true,
    }
}

/// The two decoders a connection may need: 3.1.1 (which also speaks 3.1) and 5.0.
struct Decoders {
    v3: Decoder,
    v5: v5::Decoder,
}

/// The bytes read from the socket and not yet decoded: `data[start..end]`.
///
/// The socket is read straight into the free end of `data`, and decoded packets are skipped by
/// moving `start`; the undecoded tail is moved to the front only when the end is reached. Reads
/// start at 4 KiB and grow, while each read fills all the room it was given, to 64 KiB: a client
/// that sends little keeps a small buffer, one that sends in bulk is read in few system calls.
/// Nothing is allocated before the first read, and a small read after a quiet spell (the first
/// read, a PINGREQ) gives the buffer back once it is decoded. A reader without a buffer reads into a
/// small array on its stack (see [`ReadBuffer::read_from`]), so that a silent client costs no heap
/// while its reader waits.
#[derive(Debug, Default)]
struct ReadBuffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
    /// The last read filled all the room it was given: there is probably more waiting.
    was_full: bool,
    /// When the last read returned: with `None`, there was none.
    last_read_at: Option<Instant>,
    /// The last read was small and came after a quiet spell: give the buffer back once it is
    /// decoded.
    give_back: bool,
}

impl ReadBuffer {
    const INITIAL: usize = 4 * 1024;
    const BULK: usize = 64 * 1024;
    /// A read this small, after a quiet spell and leaving nothing undecoded, gives the buffer back.
    const SMALL: usize = 256;

    /// Reads once from `stream` at `now`; answers the count (0 at the end of the stream).
    ///
    /// Without a buffer (none yet, or given back by [`consume`](Self::consume)), the read goes to
    /// a [`SMALL`](Self::SMALL) array on the stack and what came is copied into a buffer just big
    /// enough. Reading into [`spare`](Self::spare) instead would allocate 4 KiB, and write it,
    /// before blocking: the reader of an idle client would hold it for as long as the client is
    /// silent, 4 KiB of each idle connection's 31 (see `BENCHMARKS.md`). A read that fills the
    /// array means more is coming: the next one gets a real buffer.
    fn read_from(&mut self, stream: &Stream, now: Instant) -> io::Result<usize> {
        if self.data.is_empty() {
            let mut first = [0u8; Self::SMALL];
            let count = stream.read(&mut first)?;
            self.data.extend_from_slice(&first[..count]);
            self.filled(count, now);
            // Full is measured against the array, not against the buffer made to fit.
            self.was_full = count == first.len();
            Ok(count)
        } else {
            let count = stream.read(self.spare())?;
            self.filled(count, now);
            Ok(count)
        }
    }

    /// Room for the next read, at the end of the buffer.
    fn spare(&mut self) -> &mut [u8] {
        // 4 KiB, doubling up to 64 KiB while reads come back full.
        let wanted = if self.was_full {
            (self.data.len() * 2).clamp(Self::INITIAL, Self::BULK)
        } else {
            Self::INITIAL
        };
        if self.data.len() - self.end < wanted {
            // Move the undecoded tail (part of a packet) to the front, and grow if that is not
            // enough. Growing is also how a packet larger than the buffer gets room: the decoder
            // has already refused one over `max_packet_size` from its header.
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.data.len() - self.end < wanted {
                // Grow with what arrives, never with what a header claims: by the next read's
                // room, or an eighth of what is held if that is more (so a large packet costs few
                // copies), reserved exactly. `Vec`'s own growth would double the capacity and let
                // a packet streamed in pin up to twice its size; this pins at most an eighth more
                // plus 64 KiB (see the README, "Memory a connection can pin").
                let grow = (self.end + wanted - self.data.len()).max(self.data.len() / 8);
                self.data.reserve_exact(grow);
                self.data.resize(self.data.len() + grow, 0);
            }
        }
        &mut self.data[self.end..]
    }

    /// The read put `count` bytes into [`spare`](Self::spare).
    fn filled(&mut self, count: usize, now: Instant) {
        self.was_full = self.end + count == self.data.len();
        self.end += count;
        let quiet = self
            .last_read_at
            .is_none_or(|last| now.saturating_duration_since(last) >= QUIET);
        self.give_back = quiet && count < Self::SMALL;
        self.last_read_at = Some(now);
    }

    /// The bytes not yet decoded.
    fn unread(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// `count` bytes at the front were decoded. A buffer grown for one large packet is given back.
    fn consume(&mut self, count: usize) {
        self.start += count;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.give_back {
                // A client that sends little and seldom (CONNECT, PINGREQ, the odd PUBLISH) does
                // not keep 4 KiB while it is silent: with thousands of idle connections that was
                // most of their heap (see `BENCHMARKS.md`). A busy one keeps its buffer, rather
                // than allocating one per read.
                self.data = Vec::new();
            } else if self.data.len() > 2 * Self::BULK {
                self.data.truncate(Self::BULK);
                self.data.shrink_to_fit();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_timeout_is_set_again_only_when_it_would_be_wrong() {
        let second = Duration::from_secs(1);
        assert!(needs_rearming(None, None), "never set");
        assert!(needs_rearming(None, Some(second)));
        assert!(!needs_rearming(
            Some(Some(90 * second)),
            Some(90 * second - second / 100)
        ));
        assert!(
            needs_rearming(Some(Some(90 * second)), Some(80 * second)),
            "too late"
        );
        assert!(
            needs_rearming(Some(Some(10 * second)), Some(90 * second)),
            "too early"
        );
        assert!(needs_rearming(Some(Some(second)), None), "switched off");
        assert!(!needs_rearming(Some(None), None));
    }

    #[test]
    fn an_idle_reader_holds_no_buffer_and_a_full_first_read_asks_for_one() {
        let (client, broker) = crate::transport::duplex::duplex();
        let broker = Stream::Memory(broker);
        let mut buffer = ReadBuffer::default();
        // A PINGREQ after a quiet spell: read without a 4 KiB buffer, given back once decoded.
        assert!(client.write_all(&[0xC0, 0x00]).is_ok());
        assert_eq!(buffer.read_from(&broker, Instant::now()).ok(), Some(2));
        assert_eq!(buffer.unread(), [0xC0, 0x00]);
        assert!(buffer.data.capacity() < ReadBuffer::INITIAL);
        buffer.consume(2);
        assert_eq!(buffer.data.capacity(), 0, "nothing held while idle");
        // A burst that fills the stack array: the next read gets a real buffer, nothing is lost.
        let burst: Vec<u8> = (0..=255u8).cycle().take(3 * ReadBuffer::SMALL).collect();
        assert!(client.write_all(&burst).is_ok());
        assert_eq!(
            buffer.read_from(&broker, Instant::now()).ok(),
            Some(ReadBuffer::SMALL)
        );
        assert!(buffer.was_full);
        let now = Instant::now();
        assert_eq!(
            buffer.read_from(&broker, now).ok(),
            Some(2 * ReadBuffer::SMALL)
        );
        assert!(buffer.data.len() >= ReadBuffer::INITIAL);
        assert_eq!(buffer.unread(), &burst[..]);
    }

    /// A PUBLISH whose header claims 200 MiB, of which 8 MiB arrive in 64 KiB reads: the buffer
    /// holds what arrived plus at most an eighth and one read's room, never the claimed size, and
    /// not the double that `Vec`'s own growth would reach (issue 14, item 9).
    #[test]
    fn the_read_buffer_grows_with_the_bytes_that_arrive_not_with_the_header() {
        let mut buffer = ReadBuffer::default();
        let claimed: usize = 200 << 20;
        let mut header = vec![0x30];
        let mut length = claimed;
        loop {
            let byte = (length % 128) as u8;
            length /= 128;
            header.push(if length > 0 { byte | 0x80 } else { byte });
            if length == 0 {
                break;
            }
        }
        buffer.spare()[..header.len()].copy_from_slice(&header);
        buffer.filled(header.len(), Instant::now());
        let mut arrived = header.len();
        let mut worst = 0.0f64;
        while arrived < 8 << 20 {
            let room = buffer.spare().len().min(ReadBuffer::BULK);
            buffer.filled(room, Instant::now());
            arrived += room;
            let held = buffer.data.capacity();
            assert!(
                held <= arrived + arrived / 8 + 2 * ReadBuffer::BULK,
                "{held} bytes held for {arrived} arrived"
            );
            worst = worst.max(held as f64 / arrived as f64);
        }
        assert!(buffer.data.capacity() < claimed / 16);
        assert!(worst < 1.5, "at worst {worst:.2} times what arrived");
    }

    #[test]
    fn the_read_buffer_keeps_an_incomplete_packet_and_grows_for_bulk_reads() {
        let mut buffer = ReadBuffer::default();
        assert_eq!(buffer.spare().len(), ReadBuffer::INITIAL);
        buffer.spare()[..3].copy_from_slice(b"abc");
        buffer.filled(3, Instant::now());
        buffer.consume(2);
        assert_eq!(buffer.unread(), b"c");
        // A read that fills the buffer asks for a bigger one, keeping what was not decoded.
        let room = buffer.spare().len();
        buffer.filled(room, Instant::now());
        assert_eq!(buffer.unread()[0], b'c');
        buffer.consume(buffer.unread().len());
        assert!(buffer.spare().len() > ReadBuffer::INITIAL);
        // A packet bigger than the buffer makes it grow, since nothing can be decoded before.
        let mut total = 0;
        for _ in 0..40 {
            let room = buffer.spare().len();
            total += room;
            buffer.filled(room, Instant::now());
        }
        assert_eq!(
            buffer.unread().len(),
            total,
            "nothing was lost while growing"
        );
        buffer.consume(total);
        assert!(
            buffer.data.len() <= ReadBuffer::BULK,
            "given back once decoded"
        );
    }
}

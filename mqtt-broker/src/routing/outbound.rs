//! [`OutPacket`]: a packet the broker sends, owned so that it can wait in a writer's channel,
//! [`Outbound`], what travels on that channel, and the channel itself ([`writer_channel`]).
//!
//! Everything the broker sends to a client is one of these. They are turned into the codec's borrowed
//! [`Packet`] only at the moment of encoding, by the connection's writer, under the protocol level of the
//! connection: that is where CONNACK loses its Session Present bit for MQTT 3.1 ([V31-DIFF-7]), and
//! where a 5.0 connection's packets get their Reason Codes and properties ([`OutPacket::encode5`]).
//! The 5.0-only packets (CONNACK with properties, SUBACK and UNSUBACK with 5.0 Reason Codes, a
//! server's DISCONNECT) have variants of their own; the acknowledgements of the publish path are
//! shared by both levels and reach a 5.0 client as Success [MQTT5-3.4.2-1].
//!
//! The channel has no thread waiting on it: a thread that sends into one owes its [`Drain`] a kick,
//! made with no lock held ([`kick_all`]), which writes what the channel holds.
//!
//! This file does not decide what to send (`connection/protocol.rs`, `routing/session_state.rs`, `routing/router.rs`) nor write to a socket
//! (`connection/writer.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::collections::VecDeque;

use crossbeam_channel::{SendError, TryRecvError, TrySendError};
use mqtt_codec::{
    ConnAck, ConnectReturnCode, Delivery, EncodeError, List, Packet, PacketId, PacketType,
    ProtocolLevel, PubAck, PubComp, PubRec, PubRel, Publish, QoS, SubAck, SubAckReturnCode,
    TopicName, UnsubAck,
};
use parking_lot::{Condvar, Mutex};

use mqtt_codec::v5::{self, Property, ReasonCode};

use crate::message::Message;

/// A packet from the broker to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutPacket {
    /// The answer to CONNECT; always the first packet on a connection [MQTT-3.2.0-1].
    ConnAck {
        session_present: bool,
        code: ConnectReturnCode,
    },
    /// An application message; `message.qos` and `message.retain` are this delivery's.
    Publish {
        message: Message,
        delivery: Delivery,
    },
    /// A QoS 0 PUBLISH already encoded, shared by the writers of every subscriber of one message
    /// (see [`OutPacket::encode_qos0`]).
    Encoded(Arc<[u8]>),
    /// QoS 1 acknowledgement of an inbound PUBLISH [MQTT-3.3.4-1].
    PubAck(PacketId),
    /// QoS 2, first answer to an inbound PUBLISH [MQTT-4.3.3-2].
    PubRec(PacketId),
    /// QoS 2, release of an outbound PUBLISH [MQTT-4.3.3-1].
    PubRel(PacketId),
    /// QoS 2, last answer to an inbound PUBREL [MQTT-4.3.3-2].
    PubComp(PacketId),
    /// The answer to SUBSCRIBE [MQTT-3.8.4-1].
    SubAck {
        packet_id: PacketId,
        codes: Vec<SubAckReturnCode>,
    },
    /// The answer to UNSUBSCRIBE [MQTT-3.10.4-4].
    UnsubAck(PacketId),
    /// The answer to PINGREQ [MQTT-3.12.4-1].
    PingResp,
    /// 5.0: the answer to CONNECT, with its Reason Code and properties (5.0 §3.2).
    ConnAck5(Box<ConnAck5>),
    /// 5.0: PUBACK with a Reason Code other than Success (0x10 no matching subscribers, 0x87 not
    /// authorised...) [MQTT5-3.4.2-1]. At 3.1.1 a plain PUBACK.
    PubAckWith(PacketId, ReasonCode),
    /// 5.0: PUBREC with a Reason Code other than Success [MQTT5-3.5.2-1]. At 3.1.1 a plain PUBREC.
    PubRecWith(PacketId, ReasonCode),
    /// 5.0: PUBREL with a Reason Code other than Success: 0x92 for a PUBREC whose identifier is
    /// not in flight [MQTT5-3.6.2-1]. At 3.1.1 a plain PUBREL.
    PubRelWith(PacketId, ReasonCode),
    /// 5.0: PUBCOMP with a Reason Code other than Success: 0x92 for a PUBREL whose identifier
    /// was not awaiting one [MQTT5-3.7.2-1]. At 3.1.1 a plain PUBCOMP.
    PubCompWith(PacketId, ReasonCode),
    /// 5.0: the answer to SUBSCRIBE, one Reason Code per filter in order [MQTT5-3.9.3-1]
    /// [MQTT5-3.9.3-2].
    SubAck5 {
        packet_id: PacketId,
        codes: Vec<ReasonCode>,
    },
    /// 5.0: the answer to UNSUBSCRIBE, one Reason Code per filter in order [MQTT5-3.11.3-1]
    /// [MQTT5-3.11.3-2].
    UnsubAck5 {
        packet_id: PacketId,
        codes: Vec<ReasonCode>,
    },
    /// 5.0: the server ends the connection, and says why [MQTT5-3.14.2-1], with a Reason String
    /// for a person reading the client's log when the sender checked that it fits within the
    /// client's Maximum Packet Size [MQTT5-3.14.2-3]. Nothing at 3.1.1, which has no server
    /// DISCONNECT ([V5-DIFF-18]).
    Disconnect(ReasonCode, Option<Box<str>>),
    /// 5.0: a step of an enhanced authentication exchange (5.0 §4.12). Nothing at 3.1.1, which has
    /// no AUTH.
    Auth(Box<Auth5>),
}

/// How the writer shapes one 5.0 packet for its connection (see [`OutPacket::encode5_shaped`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shape {
    /// How a PUBLISH names its topic; `None`: in full.
    pub(crate) alias: Option<AliasUse>,
    /// Whether a failing PUBACK, PUBREC or SUBACK carries a Reason String: only for a client that
    /// did not set Request Problem Information 0 [MQTT5-3.1.2-29], and only where it fits the
    /// client's Maximum Packet Size [MQTT5-3.4.2-2] [MQTT5-3.5.2-2] [MQTT5-3.9.2-1] (the writer
    /// encodes again without it otherwise).
    pub(crate) explain: bool,
}

/// What this broker means by a failing acknowledgement, in words: the codes alone say what, not
/// which of the broker's rules (an ACL, a plugin, a configured limit) said so. `None` for a code
/// the broker does not send there.
pub(crate) fn explanation(packet: PacketType, code: ReasonCode) -> Option<&'static str> {
    match (packet, code) {
        (PacketType::PubAck | PacketType::PubRec, ReasonCode::NOT_AUTHORIZED) => {
            Some("not authorized: the ACL or a plugin does not let this client publish there")
        }
        (PacketType::PubAck | PacketType::PubRec, ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR) => {
            Some("not forwarded: the payload is over the broker's message_size_limit")
        }
        (PacketType::SubAck, ReasonCode::NOT_AUTHORIZED) => {
            Some("not authorized: the ACL or a plugin does not let this client subscribe there")
        }
        (PacketType::SubAck, ReasonCode::UNSPECIFIED_ERROR) => Some(
            "refused: over max_topic_levels or max_subscriptions_per_client, or a filter the \
             broker does not take",
        ),
        _ => None,
    }
}

/// The Reason String property for `code` in `packet`, when `explain` and there is one.
fn explained(explain: bool, packet: PacketType, code: ReasonCode) -> Option<Property<'static>> {
    explain
        .then(|| explanation(packet, code))
        .flatten()
        .map(Property::ReasonString)
}

/// How a 5.0 PUBLISH names its topic toward a client that accepts Topic Aliases (the writer's
/// `connection/topic_aliases.rs` decides which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AliasUse {
    /// Topic and alias: this PUBLISH tells the client what the alias stands for.
    Set(u16),
    /// The alias alone, with an empty topic: the client knows it from an earlier PUBLISH on this
    /// connection.
    Reuse(u16),
}

/// A 5.0 AUTH from the broker, owned: 0x18 Continue authentication with the method's next
/// message [MQTT5-4.12.0-2], or 0x00 Success ending a re-authentication (5.0 §4.12.1). It always
/// names the method of CONNECT [MQTT5-4.12.0-5].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Auth5 {
    pub(crate) reason: ReasonCode,
    pub(crate) method: Box<str>,
    pub(crate) data: Box<[u8]>,
}

/// A 5.0 CONNACK, owned: Session Present, the Reason Code and the properties the broker announces
/// (5.0 §3.2.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnAck5 {
    /// Session Present; 0 with a failure code [MQTT5-3.2.2-6].
    pub(crate) session_present: bool,
    pub(crate) reason: ReasonCode,
    pub(crate) properties: ConnAckProperties,
}

/// The properties of a CONNACK that the broker may send; `None` or `false` leaves one out (its
/// default then applies, 5.0 §3.2.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ConnAckProperties {
    /// Session Expiry Interval, sent when the broker uses another than the client asked for.
    pub(crate) session_expiry: Option<u32>,
    /// Receive Maximum: QoS 1/2 PUBLISHes the broker processes at once from this client.
    pub(crate) receive_maximum: Option<u16>,
    /// Maximum QoS, sent when below 2 [MQTT5-3.2.2-9].
    pub(crate) maximum_qos: Option<u8>,
    /// Retain Available, sent as 0 when retained messages are off.
    pub(crate) retain_unavailable: bool,
    /// Maximum Packet Size the broker accepts.
    pub(crate) maximum_packet_size: Option<u32>,
    /// Assigned Client Identifier, for a client that sent an empty one [MQTT5-3.1.3-7].
    pub(crate) assigned_client_id: Option<Box<str>>,
    /// Topic Alias Maximum: aliases the broker accepts from this client [MQTT5-3.2.2-17].
    pub(crate) topic_alias_maximum: Option<u16>,
    /// Reason String, for a refusal.
    pub(crate) reason_string: Option<Box<str>>,
    /// Wildcard Subscription Available, sent as 0 when off.
    pub(crate) wildcards_unavailable: bool,
    /// Subscription Identifiers Available, sent as 0 when off.
    pub(crate) subscription_ids_unavailable: bool,
    /// Shared Subscription Available, sent as 0 when off.
    pub(crate) shared_unavailable: bool,
    /// Server Keep Alive, sent when the broker caps the client's keep-alive [MQTT5-3.2.2-21].
    pub(crate) server_keep_alive: Option<u16>,
    /// Response Information, for a client that asked for it (5.0 §4.10).
    pub(crate) response_information: Option<Box<str>>,
    /// Authentication Method, after an enhanced authentication: the method of CONNECT
    /// [MQTT5-4.12.0-5], and never without one [MQTT5-4.12.0-6].
    pub(crate) authentication_method: Option<Box<str>>,
    /// Authentication Data: the method's last message (SCRAM's server-final).
    pub(crate) authentication_data: Option<Box<[u8]>>,
}

impl ConnAckProperties {
    fn to_wire<'a>(&'a self, out: &mut Vec<Property<'a>>) {
        let flags = [
            (self.retain_unavailable, Property::RetainAvailable(0)),
            (
                self.wildcards_unavailable,
                Property::WildcardSubscriptionAvailable(0),
            ),
            (
                self.subscription_ids_unavailable,
                Property::SubscriptionIdentifierAvailable(0),
            ),
            (
                self.shared_unavailable,
                Property::SharedSubscriptionAvailable(0),
            ),
        ];
        if let Some(value) = self.session_expiry {
            out.push(Property::SessionExpiryInterval(value));
        }
        if let Some(value) = self.receive_maximum {
            out.push(Property::ReceiveMaximum(value));
        }
        if let Some(value) = self.maximum_qos {
            out.push(Property::MaximumQoS(value));
        }
        if let Some(value) = self.maximum_packet_size {
            out.push(Property::MaximumPacketSize(value));
        }
        if let Some(value) = &self.assigned_client_id {
            out.push(Property::AssignedClientIdentifier(value));
        }
        if let Some(value) = self.topic_alias_maximum {
            out.push(Property::TopicAliasMaximum(value));
        }
        if let Some(value) = &self.reason_string {
            out.push(Property::ReasonString(value));
        }
        out.extend(flags.into_iter().filter(|(off, _)| *off).map(|(_, p)| p));
        if let Some(value) = self.server_keep_alive {
            out.push(Property::ServerKeepAlive(value));
        }
        if let Some(value) = &self.response_information {
            out.push(Property::ResponseInformation(value));
        }
        if let Some(value) = &self.authentication_method {
            out.push(Property::AuthenticationMethod(value));
            if let Some(data) = &self.authentication_data {
                out.push(Property::AuthenticationData(data));
            }
        }
    }
}

/// The 5.0 CONNACK Reason Code for a 3.1.1 return code: the refusals the broker decides alike at
/// both levels (authentication, limits) [MQTT5-3.2.2-8].
pub(crate) fn connack_reason(code: ConnectReturnCode) -> ReasonCode {
    match code {
        ConnectReturnCode::Accepted => ReasonCode::SUCCESS,
        ConnectReturnCode::UnacceptableProtocolVersion => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
        ConnectReturnCode::IdentifierRejected => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
        ConnectReturnCode::ServerUnavailable => ReasonCode::SERVER_UNAVAILABLE,
        ConnectReturnCode::BadUserNameOrPassword => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
        ConnectReturnCode::NotAuthorized => ReasonCode::NOT_AUTHORIZED,
    }
}

/// What travels on a connection's channel.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Encode and send this packet.
    Packet(OutPacket),
    /// Send this packet only once the persistent log is durable up to this LSN (see
    /// `persistence/mod.rs`, "The promise").
    Durable(OutPacket, u64),
    /// Send these packets, in order, once the log is durable up to this LSN (0: at once). The
    /// reader hands over what one read produced this way, waking the writer once.
    Batch(Vec<OutPacket>, u64),
    /// Send what is buffered, then close the connection.
    Close,
}

/// A writer's channel holding at most `capacity` messages: the sending side is shared by the router
/// (publishers, with [`WriterTx::try_send`], which never waits) and the connection's reader (with
/// [`WriterTx::send`], which waits for room).
///
/// It is a queue under a mutex (a leaf lock, held to push or pop one message) rather than a
/// crossbeam channel: nothing ever blocks on receiving from it, since whoever sent drains it
/// (`connection/writer.rs`), and a queue can give its memory back whenever it empties. A crossbeam
/// channel keeps a block of 31 slots (3.5 KiB) once a message has passed, which was the largest
/// part of an idle connection's heap. The bound is soft, as it was with the channel: a reader
/// and a publisher sending at once may both find the last place free, and publishers deliver to
/// one session under its slot lock, one at a time, so the overshoot is at most one batch of the
/// reader's.
pub(crate) fn writer_channel(capacity: usize) -> (WriterTx, WriterRx) {
    let room = Arc::new(Room {
        capacity,
        queue: Mutex::new(VecDeque::new()),
        waiting: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        lock: Mutex::new(()),
        drained: Condvar::new(),
    });
    (
        WriterTx {
            room: Arc::clone(&room),
            drain: None,
        },
        WriterRx { room },
    )
}

/// Whoever empties a writer's channel into its socket (`connection/writer.rs`), seen from the
/// senders. There is no writer thread waiting on the channel: a sender that put something in it
/// owes its drain a [`Drain::kick`], made later on the same thread with no lock held (see
/// [`kick_all`]).
pub(crate) trait Drain: Send + Sync + std::fmt::Debug {
    /// Writes what the channel holds, now on this thread if the socket takes it without waiting,
    /// or by the connection's helper thread otherwise. Called with no lock held.
    fn kick(self: Arc<Self>);
    /// The session's queue began to hold messages: somebody must watch that its client makes
    /// progress (`Router::stall_left`), since no thread waits on the channel to notice.
    fn watch(&self);
}

thread_local! {
    /// The drains this thread sent something to and has not kicked yet (see [`kick_all`]).
    static OWED: std::cell::RefCell<Vec<Arc<dyn Drain>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Remembers that this thread owes `drain` a kick; the last few entries are looked at so that a
/// burst of messages for one subscriber costs one kick, and a repeat elsewhere costs only a cheap
/// second kick.
fn owe(drain: &Arc<dyn Drain>) {
    OWED.with(|owed| {
        let mut owed = owed.borrow_mut();
        let recent = owed.len().saturating_sub(8);
        if !owed[recent..].iter().any(|seen| Arc::ptr_eq(seen, drain)) {
            owed.push(Arc::clone(drain));
        }
    });
}

/// Kicks every drain this thread sent to since its last call, and those those kicks owe in turn
/// (a drain that pumps its session sends more). Call with no lock held: a kick may write to a
/// socket (never waiting for a slow client) and wait until the log is durable.
pub(crate) fn kick_all() {
    loop {
        let owed = OWED.with(|owed| std::mem::take(&mut *owed.borrow_mut()));
        if owed.is_empty() {
            return;
        }
        for drain in owed {
            drain.kick();
        }
    }
}

/// Whether this thread owes any drain a kick (see [`kick_all`]).
pub(crate) fn kicks_owed() -> bool {
    OWED.with(|owed| !owed.borrow().is_empty())
}

/// The sending side of [`writer_channel`].
#[derive(Debug, Clone)]
pub(crate) struct WriterTx {
    room: Arc<Room>,
    /// Who empties the channel; `None` in tests that read the channel themselves.
    drain: Option<Arc<dyn Drain>>,
}

/// The receiving side of [`writer_channel`], owned by the connection's writer.
#[derive(Debug)]
pub(crate) struct WriterRx {
    room: Arc<Room>,
}

/// The queue of one writer's channel, its bound, and how a reader waiting for room is woken.
#[derive(Debug)]
struct Room {
    capacity: usize,
    queue: Mutex<VecDeque<Outbound>>,
    /// Set by a reader about to wait; the writer then notifies `drained` after its next write.
    waiting: AtomicBool,
    /// Set when the writer ends: nobody will take messages or make room any more.
    closed: AtomicBool,
    lock: Mutex<()>,
    drained: Condvar,
}

impl WriterTx {
    /// This sending side, with `drain` to be kicked after each send.
    pub(crate) fn drained_by(self, drain: Arc<dyn Drain>) -> Self {
        Self {
            drain: Some(drain),
            ..self
        }
    }

    /// Whether the channel holds `capacity` messages already (what makes `try_send` fail).
    pub(crate) fn is_full(&self) -> bool {
        self.room.queue.lock().len() >= self.room.capacity
    }

    /// Sends unless the channel holds `capacity` messages already or the writer is gone. Never
    /// waits. This thread then owes the drain a kick ([`kick_all`]).
    pub(crate) fn try_send(&self, outbound: Outbound) -> Result<(), TrySendError<Outbound>> {
        {
            let mut queue = self.room.queue.lock();
            if self.room.closed.load(Ordering::SeqCst) {
                return Err(TrySendError::Disconnected(outbound));
            }
            if queue.len() >= self.room.capacity {
                return Err(TrySendError::Full(outbound));
            }
            queue.push_back(outbound);
        }
        if let Some(drain) = &self.drain {
            owe(drain);
        }
        Ok(())
    }

    /// Sends, first waiting while the channel is full: a client that does not read what it is sent
    /// stops its own reader, and nobody else. Fails only once the writer is gone. This thread then
    /// owes the drain a kick ([`kick_all`]).
    pub(crate) fn send(&self, outbound: Outbound) -> Result<(), SendError<Outbound>> {
        while self.is_full() && !self.room.closed.load(Ordering::SeqCst) {
            // What this thread sent before may be what fills the channel: written first.
            kick_all();
            let mut guard = self.room.lock.lock();
            self.room.waiting.store(true, Ordering::SeqCst);
            // Checked again under the lock: the writer may have drained just before `waiting` was
            // set, and would then not notify.
            if !self.is_full() || self.room.closed.load(Ordering::SeqCst) {
                break;
            }
            // The timeout is a safety net; the writer notifies when it takes messages or ends.
            self.room
                .drained
                .wait_for(&mut guard, Duration::from_millis(100));
        }
        {
            let mut queue = self.room.queue.lock();
            if self.room.closed.load(Ordering::SeqCst) {
                return Err(SendError(outbound));
            }
            queue.push_back(outbound);
        }
        if let Some(drain) = &self.drain {
            owe(drain);
        }
        Ok(())
    }

    /// Asks the drain to watch the client's progress (see [`Drain::watch`]).
    pub(crate) fn watch(&self) {
        if let Some(drain) = &self.drain {
            drain.watch();
            owe(drain);
        }
    }
}

impl WriterRx {
    /// Whether nothing waits in the channel.
    pub(crate) fn is_empty(&self) -> bool {
        self.room.queue.lock().is_empty()
    }

    /// The next message if there is one, without waiting. Once the channel is empty it gives its
    /// memory back: an idle connection holds none.
    pub(crate) fn try_recv(&self) -> Result<Outbound, TryRecvError> {
        let mut queue = self.room.queue.lock();
        match queue.pop_front() {
            Some(outbound) => Ok(outbound),
            None => {
                if queue.capacity() > 0 {
                    *queue = VecDeque::new();
                }
                Err(TryRecvError::Empty)
            }
        }
    }

    /// Called by the writer after each write: wakes a reader waiting for room.
    pub(crate) fn drained(&self) {
        if self.room.waiting.swap(false, Ordering::SeqCst) {
            let _guard = self.room.lock.lock();
            self.room.drained.notify_all();
        }
    }

    /// The writer is done (its stream closed or failed): senders fail from now on, a reader
    /// waiting for room stops waiting, and what is left in the queue is dropped.
    pub(crate) fn close(&self) {
        self.room.closed.store(true, Ordering::SeqCst);
        let left = std::mem::take(&mut *self.room.queue.lock());
        drop(left);
        let _guard = self.room.lock.lock();
        self.room.drained.notify_all();
    }
}

impl Drop for WriterRx {
    fn drop(&mut self) {
        self.close();
    }
}

impl OutPacket {
    /// The QoS 0 PUBLISH of `message` (with its retain flag), encoded once for any number of
    /// connections: a PUBLISH is the same at 3.1 and 3.1.1, and at QoS 0 it has no packet
    /// identifier, so the bytes are the same for every subscriber. `None` if it cannot be encoded,
    /// which would be a bug (the topic was validated on the way in).
    pub(crate) fn encode_qos0(message: &Message) -> Option<Arc<[u8]>> {
        let packet = Self::Publish {
            message: message.clone(),
            delivery: Delivery::AtMostOnce,
        };
        let mut bytes = Vec::with_capacity(message.topic.len() + message.payload.len() + 7);
        packet.encode(ProtocolLevel::Mqtt311, &mut bytes).ok()?;
        Some(bytes.into())
    }

    /// The payload length of an encoded PUBLISH (fixed header, topic, packet identifier if QoS > 0,
    /// at 5.0 the properties, then the payload), for `$SYS/broker/publish/bytes/sent`; 0 for
    /// anything else.
    pub(crate) fn publish_payload_len(bytes: &[u8], v5: bool) -> usize {
        let Some(&first) = bytes.first() else {
            return 0;
        };
        let mut at = 1;
        while bytes.get(at).is_some_and(|byte| byte & 0x80 != 0) {
            at += 1;
        }
        at += 1;
        let Some(topic) = bytes.get(at..at + 2) else {
            return 0;
        };
        let topic = usize::from(u16::from_be_bytes([topic[0], topic[1]]));
        let identifier = if first & 0x06 == 0 { 0 } else { 2 };
        let mut header = at + 2 + topic + identifier;
        if v5 {
            // The property length, a variable byte integer, and the properties.
            let mut properties = 0usize;
            for (index, byte) in bytes.iter().skip(header).take(4).enumerate() {
                properties |= usize::from(byte & 0x7f) << (7 * index);
                if byte & 0x80 == 0 {
                    header += index + 1 + properties;
                    break;
                }
            }
        }
        bytes.len().saturating_sub(header)
    }

    /// Appends the packet, as spoken at `level`, to `out`.
    pub(crate) fn encode(
        &self,
        level: ProtocolLevel,
        out: &mut Vec<u8>,
    ) -> Result<usize, EncodeError> {
        let packet = match self {
            Self::Encoded(bytes) => {
                out.extend_from_slice(bytes);
                return Ok(bytes.len());
            }
            Self::ConnAck {
                session_present,
                code,
            } => Packet::ConnAck(ConnAck {
                session_present: *session_present,
                code: *code,
            }),
            Self::Publish { message, delivery } => {
                // The topic was validated when the message came in; a failure here would be a bug,
                // reported as an encoding error rather than a panic.
                let topic =
                    TopicName::new(&message.topic).map_err(|_| EncodeError::FieldTooLong)?;
                Packet::Publish(Publish {
                    topic,
                    payload: &message.payload,
                    delivery: *delivery,
                    retain: message.retain,
                })
            }
            Self::PubAck(packet_id) => Packet::PubAck(PubAck {
                packet_id: *packet_id,
            }),
            Self::PubRec(packet_id) => Packet::PubRec(PubRec {
                packet_id: *packet_id,
            }),
            Self::PubRel(packet_id) => Packet::PubRel(PubRel {
                packet_id: *packet_id,
            }),
            Self::PubComp(packet_id) => Packet::PubComp(PubComp {
                packet_id: *packet_id,
            }),
            Self::SubAck { packet_id, codes } => Packet::SubAck(SubAck {
                packet_id: *packet_id,
                return_codes: List::from_slice(codes),
            }),
            Self::UnsubAck(packet_id) => Packet::UnsubAck(UnsubAck {
                packet_id: *packet_id,
            }),
            Self::PingResp => Packet::PingResp,
            // The 5.0 forms reach a 3.x connection only by mistake; each has a 3.1.1 meaning but
            // DISCONNECT, which a 3.1.1 server never sends.
            Self::ConnAck5(connack) => Packet::ConnAck(ConnAck {
                session_present: connack.session_present,
                code: if connack.reason.is_failure() {
                    ConnectReturnCode::ServerUnavailable
                } else {
                    ConnectReturnCode::Accepted
                },
            }),
            Self::PubAckWith(packet_id, _) => Packet::PubAck(PubAck {
                packet_id: *packet_id,
            }),
            Self::PubRecWith(packet_id, _) => Packet::PubRec(PubRec {
                packet_id: *packet_id,
            }),
            Self::PubCompWith(packet_id, _) => Packet::PubComp(PubComp {
                packet_id: *packet_id,
            }),
            Self::PubRelWith(packet_id, _) => Packet::PubRel(PubRel {
                packet_id: *packet_id,
            }),
            Self::SubAck5 { packet_id, codes } => {
                let codes: Vec<SubAckReturnCode> = codes
                    .iter()
                    .map(|code| match code.get() {
                        0 => SubAckReturnCode::Granted(QoS::AtMostOnce),
                        1 => SubAckReturnCode::Granted(QoS::AtLeastOnce),
                        2 => SubAckReturnCode::Granted(QoS::ExactlyOnce),
                        _ => SubAckReturnCode::Failure,
                    })
                    .collect();
                return Packet::SubAck(SubAck {
                    packet_id: *packet_id,
                    return_codes: List::from_slice(&codes),
                })
                .encode(level, out);
            }
            Self::UnsubAck5 { packet_id, .. } => Packet::UnsubAck(UnsubAck {
                packet_id: *packet_id,
            }),
            Self::Disconnect(..) | Self::Auth(_) => return Ok(0),
        };
        packet.encode(level, out)
    }

    /// Appends the packet, as spoken at 5.0, to `out`, at `now` (the Message Expiry Interval left
    /// depends on it [MQTT5-3.3.2-6]). The shared QoS 0 bytes of [`OutPacket::Encoded`] are 3.1.1
    /// bytes; the router never gives them to a 5.0 connection.
    pub(crate) fn encode5(&self, now: Instant, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        self.encode5_shaped(now, Shape::default(), out)
    }

    /// [`encode5`](Self::encode5), shaped for one connection as the writer decides: a PUBLISH
    /// naming its topic as `shape.alias` says (`connection/topic_aliases.rs`), and a failing
    /// acknowledgement saying why in words when `shape.explain` (see [`explanation`]).
    pub(crate) fn encode5_shaped(
        &self,
        now: Instant,
        shape: Shape,
        out: &mut Vec<u8>,
    ) -> Result<usize, EncodeError> {
        let Shape { alias, explain } = shape;
        let mut properties: Vec<Property<'_>> = Vec::new();
        let granted: Vec<ReasonCode>;
        let packet: v5::Packet<'_> = match self {
            Self::Encoded(bytes) => {
                out.extend_from_slice(bytes);
                return Ok(bytes.len());
            }
            Self::ConnAck {
                session_present,
                code,
            } => v5::Packet::ConnAck(v5::ConnAck {
                session_present: *session_present,
                reason: connack_reason(*code),
                properties: v5::Properties::from_slice(&[]),
            }),
            Self::ConnAck5(connack) => {
                connack.properties.to_wire(&mut properties);
                v5::Packet::ConnAck(v5::ConnAck {
                    session_present: connack.session_present,
                    reason: connack.reason,
                    properties: v5::Properties::from_slice(&properties),
                })
            }
            Self::Publish { message, delivery } => {
                let topic =
                    TopicName::new(&message.topic).map_err(|_| EncodeError::FieldTooLong)?;
                if let Some(kept) = &message.properties {
                    kept.to_wire(now, &mut properties);
                }
                // [MQTT5-3.3.4-3] [MQTT5-3.3.4-4]
                for id in message.subscription_ids.iter().flat_map(|ids| ids.iter()) {
                    properties.push(Property::SubscriptionIdentifier(*id));
                }
                let topic = match alias {
                    None => Some(topic),
                    Some(AliasUse::Set(alias)) => {
                        properties.push(Property::TopicAlias(alias));
                        Some(topic)
                    }
                    Some(AliasUse::Reuse(alias)) => {
                        properties.push(Property::TopicAlias(alias));
                        None
                    }
                };
                v5::Packet::Publish(v5::Publish {
                    topic,
                    payload: &message.payload,
                    delivery: *delivery,
                    retain: message.retain,
                    properties: v5::Properties::from_slice(&properties),
                })
            }
            Self::PubAck(packet_id) => v5::Packet::PubAck(v5::PubAck::new(*packet_id)),
            Self::PubRec(packet_id) => v5::Packet::PubRec(v5::PubRec::new(*packet_id)),
            Self::PubRel(packet_id) => v5::Packet::PubRel(v5::PubRel::new(*packet_id)),
            Self::PubComp(packet_id) => v5::Packet::PubComp(v5::PubComp::new(*packet_id)),
            Self::PubAckWith(packet_id, reason) => {
                properties.extend(explained(explain, PacketType::PubAck, *reason));
                v5::Packet::PubAck(v5::PubAck {
                    reason: *reason,
                    properties: v5::Properties::from_slice(&properties),
                    ..v5::PubAck::new(*packet_id)
                })
            }
            Self::PubRecWith(packet_id, reason) => {
                properties.extend(explained(explain, PacketType::PubRec, *reason));
                v5::Packet::PubRec(v5::PubRec {
                    reason: *reason,
                    properties: v5::Properties::from_slice(&properties),
                    ..v5::PubRec::new(*packet_id)
                })
            }
            Self::PubRelWith(packet_id, reason) => v5::Packet::PubRel(v5::PubRel {
                reason: *reason,
                ..v5::PubRel::new(*packet_id)
            }),
            Self::PubCompWith(packet_id, reason) => v5::Packet::PubComp(v5::PubComp {
                reason: *reason,
                ..v5::PubComp::new(*packet_id)
            }),
            Self::SubAck { packet_id, codes } => {
                granted = codes
                    .iter()
                    .map(|code| match code {
                        SubAckReturnCode::Granted(qos) => ReasonCode::granted(*qos),
                        SubAckReturnCode::Failure => ReasonCode::UNSPECIFIED_ERROR,
                    })
                    .collect();
                v5::Packet::SubAck(v5::SubAck {
                    packet_id: *packet_id,
                    properties: v5::Properties::from_slice(&[]),
                    reason_codes: List::from_slice(&granted),
                })
            }
            Self::SubAck5 { packet_id, codes } => {
                // One Reason String for the packet: the first refusal's.
                if let Some(refused) = codes.iter().find(|code| code.is_failure()) {
                    properties.extend(explained(explain, PacketType::SubAck, *refused));
                }
                v5::Packet::SubAck(v5::SubAck {
                    packet_id: *packet_id,
                    properties: v5::Properties::from_slice(&properties),
                    reason_codes: List::from_slice(codes),
                })
            }
            // The reader answers 5.0 clients with `UnsubAck5`; one code is all this one knows.
            Self::UnsubAck(packet_id) => v5::Packet::UnsubAck(v5::UnsubAck {
                packet_id: *packet_id,
                properties: v5::Properties::from_slice(&[]),
                reason_codes: List::from_slice(&[ReasonCode::SUCCESS]),
            }),
            Self::UnsubAck5 { packet_id, codes } => v5::Packet::UnsubAck(v5::UnsubAck {
                packet_id: *packet_id,
                properties: v5::Properties::from_slice(&[]),
                reason_codes: List::from_slice(codes),
            }),
            Self::PingResp => v5::Packet::PingResp,
            // No Session Expiry Interval from the server [MQTT5-3.14.2-2].
            Self::Disconnect(reason, reason_string) => {
                if let Some(text) = reason_string {
                    properties.push(Property::ReasonString(text));
                }
                v5::Packet::Disconnect(v5::Disconnect {
                    reason: *reason,
                    properties: v5::Properties::from_slice(&properties),
                })
            }
            Self::Auth(auth) => {
                properties.push(Property::AuthenticationMethod(&auth.method));
                if !auth.data.is_empty() {
                    properties.push(Property::AuthenticationData(&auth.data));
                }
                v5::Packet::Auth(v5::Auth {
                    reason: auth.reason,
                    properties: v5::Properties::from_slice(&properties),
                })
            }
        };
        packet.encode(out)
    }

    /// Whether, with persistence on, this packet promises something that must be durable first:
    /// acknowledgements, SUBACK/UNSUBACK, and a QoS 2 PUBLISH (its packet identifier).
    ///
    /// A QoS 1 PUBLISH to a subscriber promises nothing the log must hold first. If the broker dies
    /// before the records behind it (the message queued, its identifier assigned) are on disk,
    /// either its publisher was never acknowledged and sends it again, or the restarted broker
    /// sends it again from its queue: the subscriber gets it twice, which QoS 1 allows
    /// [MQTT-4.3.2-1], and never loses it (`cargo xtask crash` counts both). At QoS 2 the same
    /// resend would be a second delivery, so its PUBLISH (and PUBREL) wait. Not waiting here is what
    /// lets a persistent subscriber's reader write the next messages as soon as it has read the
    /// acknowledgements that made room, instead of once per `fdatasync`.
    pub(crate) fn needs_durability(&self) -> bool {
        match self {
            Self::Publish { delivery, .. } => matches!(delivery, Delivery::ExactlyOnce { .. }),
            Self::PubAck(_)
            | Self::PubRec(_)
            | Self::PubRel(_)
            | Self::PubComp(_)
            | Self::PubAckWith(..)
            | Self::PubRecWith(..)
            | Self::PubCompWith(..)
            | Self::PubRelWith(..)
            | Self::SubAck { .. }
            | Self::SubAck5 { .. }
            | Self::UnsubAck5 { .. }
            | Self::UnsubAck(_) => true,
            Self::ConnAck { .. }
            | Self::ConnAck5(_)
            | Self::PingResp
            | Self::Encoded(_)
            | Self::Disconnect(..)
            | Self::Auth(_) => false,
        }
    }

    /// Whether this is a PUBLISH, for the counters of `$SYS/broker/publish/messages/sent`.
    pub(crate) fn is_publish(&self) -> bool {
        matches!(self, Self::Publish { .. } | Self::Encoded(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_channel_refuses_past_its_capacity_and_a_sender_waits_for_room() {
        let (tx, rx) = writer_channel(2);
        assert!(tx.try_send(Outbound::Close).is_ok());
        assert!(tx.try_send(Outbound::Close).is_ok());
        assert!(matches!(
            tx.try_send(Outbound::Close),
            Err(TrySendError::Full(_))
        ));
        let waiting = std::thread::spawn(move || tx.send(Outbound::Close).is_ok());
        // The sender waits until the writer takes one and says so.
        assert!(rx.try_recv().is_ok());
        rx.drained();
        assert!(waiting.join().unwrap_or(false));
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_shared_qos_0_publish_is_the_same_bytes_at_both_levels() {
        let message = Message::new("a/b", b"xyz", QoS::AtMostOnce, false);
        let Some(shared) = OutPacket::encode_qos0(&message) else {
            panic!("encodes");
        };
        for level in [ProtocolLevel::Mqtt31, ProtocolLevel::Mqtt311] {
            let mut direct = Vec::new();
            let packet = OutPacket::Publish {
                message: message.clone(),
                delivery: Delivery::AtMostOnce,
            };
            assert!(packet.encode(level, &mut direct).is_ok());
            assert_eq!(&direct[..], &shared[..]);
            let mut copied = Vec::new();
            assert!(
                OutPacket::Encoded(Arc::clone(&shared))
                    .encode(level, &mut copied)
                    .is_ok()
            );
            assert_eq!(copied, direct);
        }
    }

    /// A 5.0 CONNACK carries its Reason Code and properties; PUBACK with Success is the short form
    /// (5.0 §3.4.2.1), with another code its code [MQTT5-3.4.2-1].
    #[test]
    fn mqtt5_connack_and_acks_have_reason_codes() {
        let connack = OutPacket::ConnAck5(Box::new(ConnAck5 {
            session_present: true,
            reason: ReasonCode::SUCCESS,
            properties: ConnAckProperties {
                topic_alias_maximum: Some(10),
                ..ConnAckProperties::default()
            },
        }));
        let mut out = Vec::new();
        assert!(connack.encode5(Instant::now(), &mut out).is_ok());
        assert_eq!(out, [0x20, 0x06, 0x01, 0x00, 0x03, 0x22, 0x00, 0x0A]);
        let Some(packet_id) = PacketId::new(7) else {
            return;
        };
        for (packet, bytes) in [
            (OutPacket::PubAck(packet_id), &[0x40, 0x02, 0x00, 0x07][..]),
            (
                OutPacket::PubAckWith(packet_id, ReasonCode::NO_MATCHING_SUBSCRIBERS),
                &[0x40, 0x03, 0x00, 0x07, 0x10][..],
            ),
            (
                OutPacket::Disconnect(ReasonCode::SESSION_TAKEN_OVER, None),
                &[0xE0, 0x01, 0x8E][..],
            ),
        ] {
            out.clear();
            assert!(packet.encode5(Instant::now(), &mut out).is_ok());
            assert_eq!(out, bytes, "{packet:?}");
        }
        // A server DISCONNECT has no 3.1.1 form.
        out.clear();
        assert_eq!(
            OutPacket::Disconnect(ReasonCode::SESSION_TAKEN_OVER, None)
                .encode(ProtocolLevel::Mqtt311, &mut out),
            Ok(0)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn connack_has_no_session_present_at_3_1_v31_diff_7() {
        let connack = OutPacket::ConnAck {
            session_present: true,
            code: ConnectReturnCode::Accepted,
        };
        let mut out = Vec::new();
        assert!(connack.encode(ProtocolLevel::Mqtt311, &mut out).is_ok());
        assert_eq!(out, [0x20, 0x02, 0x01, 0x00]);
        out.clear();
        assert!(connack.encode(ProtocolLevel::Mqtt31, &mut out).is_ok());
        assert_eq!(out, [0x20, 0x02, 0x00, 0x00]);
    }

    #[test]
    fn publish_carries_the_delivery_flags() {
        let message = Message::new("a", b"x", QoS::AtLeastOnce, true);
        let Some(packet_id) = PacketId::new(5) else {
            return;
        };
        let publish = OutPacket::Publish {
            message,
            delivery: Delivery::AtLeastOnce {
                packet_id,
                dup: true,
            },
        };
        let mut out = Vec::new();
        assert!(publish.encode(ProtocolLevel::Mqtt311, &mut out).is_ok());
        assert_eq!(out, [0x3B, 0x06, 0x00, 0x01, b'a', 0x00, 0x05, b'x']);
    }

    #[test]
    fn the_payload_length_of_an_encoded_publish_is_found_for_publish_bytes_sent() {
        // QoS 0 "t" "abc"; QoS 1 "ab" id 7 "xy"; a PUBACK has none.
        assert_eq!(
            OutPacket::publish_payload_len(&[0x30, 6, 0, 1, b't', b'a', b'b', b'c'], false),
            3
        );
        assert_eq!(
            OutPacket::publish_payload_len(&[0x32, 8, 0, 2, b'a', b'b', 0, 7, b'x', b'y'], false),
            2
        );
        assert_eq!(OutPacket::publish_payload_len(&[0x40, 2], false), 0);
        assert_eq!(OutPacket::publish_payload_len(&[], false), 0);
        // 5.0: QoS 1 "t" id 1, two bytes of properties (Payload Format Indicator), "ok".
        assert_eq!(
            OutPacket::publish_payload_len(
                &[0x32, 10, 0, 1, b't', 0, 1, 2, 1, 1, b'o', b'k'],
                true
            ),
            2
        );
    }

    /// A failing acknowledgement carries its explanation only when the writer asks for it, and a
    /// SUBACK the first refusal's; a successful one never does.
    #[test]
    fn failing_acknowledgements_are_explained_only_when_asked() {
        let Some(packet_id) = PacketId::new(9) else {
            return;
        };
        let decoded_reason_string = |packet: &OutPacket, explain: bool| {
            let mut out = Vec::new();
            let shape = Shape {
                alias: None,
                explain,
            };
            assert!(
                packet
                    .encode5_shaped(Instant::now(), shape, &mut out)
                    .is_ok()
            );
            match v5::Decoder::new().decode(&out) {
                Ok(mqtt_codec::Status::Complete((v5::Packet::PubAck(ack), _))) => {
                    ack.properties.reason_string().map(str::to_owned)
                }
                Ok(mqtt_codec::Status::Complete((v5::Packet::SubAck(ack), _))) => {
                    ack.properties.reason_string().map(str::to_owned)
                }
                other => panic!("{other:?}"),
            }
        };
        let refused = OutPacket::PubAckWith(packet_id, ReasonCode::NOT_AUTHORIZED);
        assert!(decoded_reason_string(&refused, true).is_some_and(|text| text.contains("ACL")));
        assert_eq!(decoded_reason_string(&refused, false), None);
        let unmatched = OutPacket::PubAckWith(packet_id, ReasonCode::NO_MATCHING_SUBSCRIBERS);
        assert_eq!(
            decoded_reason_string(&unmatched, true),
            None,
            "not a failure"
        );
        let suback = OutPacket::SubAck5 {
            packet_id,
            codes: vec![
                ReasonCode::granted(QoS::AtLeastOnce),
                ReasonCode::UNSPECIFIED_ERROR,
                ReasonCode::NOT_AUTHORIZED,
            ],
        };
        assert!(
            decoded_reason_string(&suback, true)
                .is_some_and(|text| text.contains("max_topic_levels"))
        );
    }
}

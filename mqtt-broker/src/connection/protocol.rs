//! [`ProtocolMachine`]: the protocol state machine of one client connection, sans I/O.
//!
//! It is fed what happens on the connection (a decoded packet, a decoding error, the connection
//! dropping, or simply the passing of time) together with the current time, and answers with
//! [`Action`]s for the connection thread to carry out: send a packet, open a session in the store,
//! route a message, close. It never touches a socket, a lock or the clock, so every rule below is unit
//! tested with made-up instants and no sleeping.
//!
//! What it enforces (3.1.1 §3.1, §3.12, §3.14, §4.8 and the 3.1 differences):
//! - CONNECT first, within `connect_timeout` [MQTT-3.1.0-1]; a second CONNECT is a violation
//!   [MQTT-3.1.0-2];
//! - the client identifier rules of each level [MQTT-3.1.3-5] [MQTT-3.1.3-6] [MQTT-3.1.3-8]
//!   [V31-DIFF-5] [V31-DIFF-6], answered with CONNACK 2 [MQTT-3.1.3-9];
//! - an unsupported protocol level answered with CONNACK 1 [MQTT-3.1.2-2], any other malformed CONNECT
//!   closed without CONNACK [MQTT-3.1.4-1];
//! - the keep-alive: silence for one and a half times the interval closes the connection
//!   [MQTT-3.1.2-24]; PINGREQ gets PINGRESP [MQTT-3.12.4-1];
//! - the Will: kept from CONNECT [MQTT-3.1.2-8], handed over for publication on every close except
//!   after DISCONNECT [MQTT-3.14.4-3] [MQTT-3.1.2-10];
//! - a packet only a server may send, arriving from a client, is a protocol violation [MQTT-4.8.0-1].
//!
//! MQTT 5.0 connections are handled by the same machine, their packets in `protocol/v5.rs`
//! ([`ProtocolMachine::packet5_into`]): the rules above in their 5.0 form, plus Reason Codes,
//! properties, topic aliases and a server DISCONNECT before every close the broker decides.
//! Enhanced authentication (an Authentication Method in CONNECT, then AUTH packets, whatever the
//! method) is `protocol/auth.rs`, in the phase between CONNECT and CONNACK
//! ([`Phase::Authenticating`]), and in re-authentications after it.
//!
//! What it does not do: hold session state that outlives the connection (`routing/session_state.rs`), know other
//! clients (`routing/router.rs`), or decide whether the broker has room for one more (`connection/reader.rs`).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt_codec::{
    ClientIdRule, ConnectReturnCode, DecodeError, Packet, PacketId, ProtocolLevel, QoS,
};

use crate::message::Message;
use crate::routing::outbound::OutPacket;
// The router's vocabulary, which this machine speaks to it in (defined with the router, so that
// routing needs nothing from connection/).
pub(crate) use crate::routing::requests::{Ack, Authenticated, Open5, OpenRequest, Password};

mod auth;
mod v5;

pub(crate) use auth::ExchangeStart;
pub(crate) use v5::{SubscriptionOptions5, ack_reason};

/// The settings a session needs from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// How long CONNECT may take to arrive.
    pub(crate) connect_timeout: Duration,
    /// Whether an empty 3.1.1 client identifier with a clean session is given one [MQTT-3.1.3-6].
    pub(crate) allow_zero_length_clientid: bool,
    /// The prefix of assigned identifiers.
    pub(crate) auto_id_prefix: String,
    /// Payloads over this many bytes are not forwarded; 0 means no limit.
    pub(crate) message_size_limit: usize,
    /// The largest packet the decoder accepts: announced to 5.0 clients as Maximum Packet Size.
    pub(crate) max_packet_size: usize,
    /// The longest keep-alive allowed, in seconds (0: no cap); a 5.0 client asking for more, or
    /// for none, is told this one as Server Keep Alive [MQTT5-3.2.2-21].
    pub(crate) max_keepalive: u16,
    /// Topic aliases accepted from each 5.0 client (Topic Alias Maximum, 0: none).
    pub(crate) topic_alias_maximum: u16,
    /// `retain_available`: when false a retained PUBLISH closes its connection and 5.0 clients
    /// are told Retain Available 0.
    pub(crate) retain_available: bool,
    /// `wildcard_subscriptions`: when false, a filter with `+` or `#` is refused (see
    /// [`Unoffered`]) and 5.0 clients are told Wildcard Subscription Available 0.
    pub(crate) wildcard_subscriptions: bool,
    /// `subscription_identifiers`: when false, 5.0 clients are told Subscription Identifiers
    /// Available 0 and may not send one.
    pub(crate) subscription_identifiers: bool,
    /// `shared_subscriptions`: when false, a `$share/` filter is refused and 5.0 clients are told
    /// Shared Subscription Available 0.
    pub(crate) shared_subscriptions: bool,
    /// `clientid_prefixes`: when not empty, a client identifier must start with one of them.
    pub(crate) clientid_prefixes: Arc<[String]>,
    /// The Receive Maximum announced to 5.0 clients: QoS 2 PUBLISHes from one connection that may
    /// await their PUBREL at once (65 535: none announced, the protocol's default).
    pub(crate) receive_maximum: u16,
    /// `response_information`: given to a 5.0 client that asks for it (5.0 §4.10).
    pub(crate) response_information: Option<Arc<str>>,
}

impl Settings {
    /// What of `filter` the configuration does not offer, if anything: a share name while
    /// `shared_subscriptions` is false (checked first: a share name's filter is judged only if the
    /// share is offered), a wildcard while `wildcard_subscriptions` is false.
    pub(crate) fn unoffered(&self, filter: &str) -> Option<Unoffered> {
        let shared = crate::routing::shared::is_share_name(filter);
        if shared && !self.shared_subscriptions {
            return Some(Unoffered::SharedSubscriptions);
        }
        let own = crate::routing::shared::acl_filter(filter);
        if !self.wildcard_subscriptions && own.contains(['+', '#']) {
            return Some(Unoffered::WildcardSubscriptions);
        }
        None
    }

    /// Whether `clientid_prefixes` lets `client_id` in.
    pub(crate) fn prefix_allowed(&self, client_id: &str) -> bool {
        self.clientid_prefixes.is_empty()
            || self
                .clientid_prefixes
                .iter()
                .any(|prefix| client_id.starts_with(prefix.as_str()))
    }
}

impl Settings {
    /// The settings `config` gives every connection.
    pub(crate) fn from_config(config: &crate::Config) -> Self {
        let mut max_packet_size = if config.message_size_limit == 0 {
            mqtt_codec::MAX_PACKET_SIZE
        } else {
            // Room for the fixed header, topic and packet identifier around the payload; a payload
            // over the limit but within this is acknowledged and dropped, a larger packet closes
            // the connection before it is buffered.
            config.message_size_limit.saturating_add(5 + 2 + 65_535 + 2)
        };
        // `max_packet_size` bounds whole packets, whatever `message_size_limit` allows.
        if config.max_packet_size != 0 {
            max_packet_size = max_packet_size.min(config.max_packet_size);
        }
        Self {
            connect_timeout: config.connect_timeout,
            allow_zero_length_clientid: config.allow_zero_length_clientid,
            auto_id_prefix: config.auto_id_prefix.clone(),
            message_size_limit: config.message_size_limit,
            max_packet_size,
            // `max_keepalive` at mosquitto's default, 65535, caps nothing: 0 here leaves the
            // client's own keep-alive.
            max_keepalive: if config.max_keepalive == u16::MAX {
                0
            } else {
                config.max_keepalive
            },
            topic_alias_maximum: config.max_topic_alias,
            retain_available: config.retain_available,
            wildcard_subscriptions: config.wildcard_subscriptions,
            subscription_identifiers: config.subscription_identifiers,
            shared_subscriptions: config.shared_subscriptions,
            clientid_prefixes: config.clientid_prefixes.clone().into(),
            // mosquitto's reading of `max_inflight_messages`: the same number bounds both
            // directions, and 0 means no bound.
            receive_maximum: match config.max_inflight_messages {
                0 => u16::MAX,
                n => u16::try_from(n).unwrap_or(u16::MAX),
            },
            response_information: config.response_information.as_deref().map(Arc::from),
        }
    }
}

/// What the connection thread must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send a packet to this client.
    Send(OutPacket),
    /// Open (or resume) the session for this client in the store; the store queues the CONNACK.
    Open(OpenRequest),
    /// Route an application message to its subscribers (QoS 0 and 1).
    Publish(Message),
    /// An inbound QoS 2 PUBLISH: route `message` only if `packet_id` is not already awaiting PUBREL,
    /// then answer PUBREC either way [MQTT-4.3.3-2]. `message` is `None` when it was too large to
    /// forward.
    PublishOnce {
        packet_id: PacketId,
        message: Option<Message>,
    },
    /// A 5.0 QoS 1 PUBLISH: route `message` (`None`: too large to forward), then answer PUBACK with
    /// the Reason Code [`ack_reason`] gives for what happened [MQTT5-3.4.2-1].
    PublishAcked {
        packet_id: PacketId,
        message: Option<Message>,
    },
    /// A 5.0 client changed its Session Expiry Interval at DISCONNECT (5.0 §3.14.2.2.2).
    SessionExpiry(u32),
    /// An inbound PUBREL: forget `packet_id` and answer PUBCOMP, known or not [MQTT-4.3.3-2].
    Release(PacketId),
    /// The client acknowledged an outbound message.
    Acknowledged(Ack),
    /// Subscribe to filters (already validated by the codec), answering one SUBACK [MQTT-3.8.4-4].
    Subscribe {
        packet_id: PacketId,
        filters: Vec<(String, QoS)>,
        /// 5.0: each filter's other options, in the same order; empty at 3.1.1.
        options: Vec<SubscriptionOptions5>,
        /// 3.x: for each filter, in the same order, what of it the configuration does not offer
        /// (refused with 0x80); empty when everything asked for is offered, and always at 5.0,
        /// where asking is a Protocol Error instead.
        unoffered: Vec<Option<Unoffered>>,
    },
    /// Unsubscribe from filters, answering one UNSUBACK [MQTT-3.10.4-6].
    Unsubscribe {
        packet_id: PacketId,
        filters: Vec<String>,
    },
    /// A message was not forwarded because its payload is over `message_size_limit`.
    Dropped { topic: String, size: usize },
    /// 5.0 enhanced authentication: with `start`, begin an exchange of its method with the
    /// first enhanced authenticator of this connection's listener that takes it; then hand
    /// `data` (the client's Authentication Data) to the exchange under way, and its answer (or
    /// `None`, no authenticator runs the method) to [`ProtocolMachine::exchange_step`], whose
    /// actions follow this one.
    Authenticate {
        start: Option<ExchangeStart>,
        data: Option<Box<[u8]>>,
    },
    /// Close the connection, publishing `will` if there is one.
    Close(Close),
}

/// A feature of SUBSCRIBE that the configuration switched off (and a 5.0 CONNACK said so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unoffered {
    /// `wildcard_subscriptions false`: a filter with `+` or `#`.
    WildcardSubscriptions,
    /// `subscription_identifiers false`: a 5.0 SUBSCRIBE with a Subscription Identifier.
    SubscriptionIdentifiers,
    /// `shared_subscriptions false`: a `$share/<group>/<filter>`.
    SharedSubscriptions,
}

impl Unoffered {
    /// What was asked for and the directive that refuses it, for the logs and Reason Strings.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::WildcardSubscriptions => {
                "a wildcard subscription while wildcard_subscriptions is false"
            }
            Self::SubscriptionIdentifiers => {
                "a Subscription Identifier while subscription_identifiers is false"
            }
            Self::SharedSubscriptions => {
                "a shared subscription while shared_subscriptions is false"
            }
        }
    }
}

/// How and why a connection ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Close {
    /// Why, for the log line.
    pub(crate) reason: CloseReason,
    /// The Will to publish, if the close is abnormal and there is one [MQTT-3.1.2-8].
    pub(crate) will: Option<Message>,
}

/// Why a connection ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The client sent DISCONNECT.
    Disconnect,
    /// No packet for 1.5 times the keep-alive [MQTT-3.1.2-24].
    KeepAliveExpired,
    /// No CONNECT within `connect_timeout` [MQTT-3.1.0-1].
    ConnectTimeout,
    /// 5.0: an enhanced authentication exchange still unfinished when `connect_timeout` ran out.
    AuthenticationTimeout,
    /// 5.0: a re-authentication failed (5.0 §4.12.1): DISCONNECT 0x87 [MQTT5-4.12.1-2].
    ReauthenticationFailed(Cow<'static, str>),
    /// 5.0: the client left the broker's AUTH 0x18 of a re-authentication unanswered for
    /// `connect_timeout`: DISCONNECT 0x87, as for a failed one [MQTT5-4.12.1-2].
    ReauthenticationTimeout,
    /// The socket closed or failed.
    ConnectionLost,
    /// Bytes that are not a valid packet [MQTT-4.8.0-1].
    Malformed(DecodeError),
    /// A valid packet that breaks a rule, described with its rule id.
    ProtocolViolation(&'static str),
    /// 5.0: a Topic Alias over the Topic Alias Maximum the broker announced [MQTT5-3.2.2-17].
    TopicAliasInvalid,
    /// An acknowledgement of the wrong kind for a message in flight (PUBREC for QoS 1, PUBACK at
    /// QoS 2, PUBCOMP before PUBREC...), as the session store described it [MQTT-4.8.0-1].
    WrongAcknowledgement(String),
    /// CONNECT refused with this CONNACK code, for this reason.
    Refused(ConnectReturnCode, &'static str),
    /// 5.0 CONNECT refused with this CONNACK Reason Code, for this reason.
    Refused5(mqtt_codec::v5::ReasonCode, Cow<'static, str>),
    /// A QoS 1/2 PUBLISH the broker could not take (an offline session's queue is full, as the
    /// router described it, or `memory_limit` is reached): closed without acknowledging it, since 3.1.1 has no negative
    /// acknowledgement; the client sends it again once reconnected [MQTT-4.4.0-1].
    QueueFull(String),
    /// A PUBLISH beyond a configured limit (a topic deeper than `max_topic_levels`), as the
    /// connection described it: closed unacknowledged, since acknowledging a message and then
    /// dropping it would break the promise an acknowledgement makes [MQTT-4.3.2-2].
    OverLimit(String),
    /// A retained PUBLISH while `retain_available` is false: closed unacknowledged, as mosquitto
    /// does (at 5.0 with DISCONNECT 0x9A, Retain not supported).
    RetainUnavailable,
    /// 5.0: a QoS 2 PUBLISH while as many as the Receive Maximum the broker announced still await
    /// their PUBREL [MQTT5-3.3.4-7]: DISCONNECT 0x93.
    ReceiveMaximumExceeded(u16),
    /// 5.0: a SUBSCRIBE asking for what CONNACK said is not available, a Protocol Error (5.0
    /// §3.2.2.3.11 to §3.2.2.3.13): DISCONNECT 0xA2, 0xA1 or 0x9E.
    Unoffered(Unoffered),
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Disconnect => f.write_str("DISCONNECT received"),
            Self::KeepAliveExpired => f.write_str(
                "keep-alive expired: nothing received for 1.5 x keep-alive [MQTT-3.1.2-24]",
            ),
            Self::ConnectTimeout => f.write_str("no CONNECT within connect_timeout [MQTT-3.1.0-1]"),
            Self::AuthenticationTimeout => {
                f.write_str("enhanced authentication unfinished within connect_timeout")
            }
            Self::ReauthenticationFailed(why) => write!(f, "re-authentication failed: {why}"),
            Self::ReauthenticationTimeout => f.write_str(
                "re-authentication: the broker's AUTH 0x18 unanswered within connect_timeout",
            ),
            Self::ConnectionLost => f.write_str("connection lost"),
            Self::Malformed(error) => write!(f, "{error}"),
            Self::ProtocolViolation(what) => write!(f, "protocol violation: {what}"),
            Self::TopicAliasInvalid => {
                f.write_str("Topic Alias over the Topic Alias Maximum [MQTT5-3.2.2-17]")
            }
            Self::WrongAcknowledgement(what) => {
                write!(f, "protocol violation: {what} [MQTT-4.8.0-1]")
            }
            Self::Refused(code, why) => write!(f, "refused with CONNACK {}: {why}", *code as u8),
            Self::Refused5(code, why) => write!(f, "refused with CONNACK {code}: {why}"),
            Self::QueueFull(why) | Self::OverLimit(why) => f.write_str(why),
            Self::RetainUnavailable => {
                f.write_str("retained PUBLISH while retain_available is false")
            }
            Self::Unoffered(what) => write!(f, "protocol violation: {}", what.describe()),
            Self::ReceiveMaximumExceeded(maximum) => write!(
                f,
                "a QoS 2 PUBLISH while {maximum} (the Receive Maximum) await PUBREL [MQTT5-3.3.4-7]"
            ),
        }
    }
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Expecting CONNECT, until the deadline.
    AwaitingConnect { deadline: Instant },
    /// 5.0: CONNECT named an Authentication Method; expecting the client's AUTH packets until
    /// the same deadline, which covers the whole exchange (`protocol/auth.rs`).
    Authenticating { deadline: Instant },
    /// CONNECT accepted: any packet a client may send.
    Connected,
    /// Nothing more is processed [MQTT-3.1.4-5].
    Closed,
}

/// The protocol state of one connection.
#[derive(Debug)]
pub(crate) struct ProtocolMachine {
    phase: Phase,
    level: ProtocolLevel,
    /// The silence allowed before closing: 1.5 times the keep-alive, or `None` for keep-alive 0.
    silence_limit: Option<Duration>,
    last_received: Instant,
    will: Option<Message>,
    /// Makes assigned client identifiers unique (the connection's number).
    connection_id: u64,
    settings: Settings,
    /// What a 5.0 connection keeps (topic aliases, the Session Expiry Interval); `None` at 3.x.
    mqtt5: Option<v5::Mqtt5State>,
    /// 5.0 enhanced authentication: the method, the exchange under way, what CONNECT asked for
    /// until it succeeds; `None` when CONNECT named no Authentication Method.
    auth: Option<Box<auth::Enhanced>>,
}

impl ProtocolMachine {
    /// How long after the close the Will is to wait (5.0's Will Delay Interval, bounded by the
    /// Session Expiry Interval, since the Will goes when the session ends if that comes first
    /// [MQTT5-3.1.2-8]); zero at 3.1.1 and without one.
    pub(crate) fn will_delay(&self) -> Duration {
        self.mqtt5.as_ref().map_or(Duration::ZERO, |state| {
            Duration::from_secs(u64::from(state.will_delay.min(state.session_expiry)))
        })
    }
}

impl ProtocolMachine {
    /// A session for a connection accepted at `now`.
    pub(crate) fn new(settings: Settings, connection_id: u64, now: Instant) -> Self {
        Self {
            phase: Phase::AwaitingConnect {
                deadline: now + settings.connect_timeout,
            },
            level: ProtocolLevel::Mqtt311,
            silence_limit: None,
            last_received: now,
            will: None,
            connection_id,
            settings,
            mqtt5: None,
            auth: None,
        }
    }

    /// The protocol level: 3.1.1 until CONNECT says otherwise. A 5.0 connection answers 3.1.1,
    /// whose rules it shares where the broker's code is common (see [`is_v5`](Self::is_v5)).
    pub(crate) fn level(&self) -> ProtocolLevel {
        self.level
    }

    /// Whether the connection speaks 5.0: from the moment its reader saw a CONNECT naming level 5
    /// ([`expect_v5`](Self::expect_v5)).
    pub(crate) fn is_v5(&self) -> bool {
        self.mqtt5.is_some()
    }

    /// This is the local side of one of the broker's own bridges: it may subscribe to whatever the
    /// broker can (a bridge's topic patterns have wildcards), whatever the configuration offers
    /// clients.
    pub(crate) fn offer_everything(&mut self) {
        self.settings.wildcard_subscriptions = true;
        self.settings.subscription_identifiers = true;
        self.settings.shared_subscriptions = true;
    }

    /// The most Topic Aliases the broker uses toward a client, whatever it accepts
    /// (`max_topic_alias`, the same number it accepts from one).
    pub(crate) fn topic_alias_cap(&self) -> u16 {
        self.settings.topic_alias_maximum
    }

    /// When [`tick`](Self::tick) must next be called, if ever.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::AwaitingConnect { deadline } | Phase::Authenticating { deadline } => {
                Some(deadline)
            }
            Phase::Connected => {
                let keep_alive = self.silence_limit.map(|limit| self.last_received + limit);
                let reauthentication = self.auth.as_deref().and_then(auth::Enhanced::deadline);
                match (keep_alive, reauthentication) {
                    (Some(one), Some(other)) => Some(one.min(other)),
                    (one, other) => one.or(other),
                }
            }
            Phase::Closed => None,
        }
    }

    /// The broker held this connection's reading back until `now` (back-pressure: its reader
    /// waited for room in a subscriber's queue). The client's packets meanwhile sat unread in the
    /// socket, so the silence was the broker's: the keep-alive counts from `now` [MQTT-3.1.2-24].
    pub(crate) fn held_back(&mut self, now: Instant) {
        if self.last_received < now {
            self.last_received = now;
        }
    }

    /// Time has passed: close if a deadline is over.
    pub(crate) fn tick(&mut self, now: Instant) -> Vec<Action> {
        match self.phase {
            Phase::AwaitingConnect { deadline } if now >= deadline => {
                self.close(CloseReason::ConnectTimeout)
            }
            Phase::Authenticating { deadline } if now >= deadline => {
                self.close(CloseReason::AuthenticationTimeout)
            }
            Phase::Connected => {
                if let Some(actions) = self.reauthentication_expired(now) {
                    return actions;
                }
                let keep_alive = self.silence_limit.map(|limit| self.last_received + limit);
                if keep_alive.is_some_and(|deadline| now >= deadline) {
                    self.close(CloseReason::KeepAliveExpired)
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    /// The socket closed or failed.
    pub(crate) fn connection_lost(&mut self) -> Vec<Action> {
        self.close(CloseReason::ConnectionLost)
    }

    /// The bytes received are not a valid packet.
    pub(crate) fn malformed(&mut self, error: DecodeError) -> Vec<Action> {
        if self.is_v5() {
            return self.malformed5(error);
        }
        let mut actions = Vec::new();
        if let (Phase::AwaitingConnect { .. }, Some(code)) = (self.phase, error.connack_code()) {
            // An unsupported level is answered before closing [MQTT-3.1.2-2]; nothing else is
            // [MQTT-3.1.4-1].
            actions.push(connack(code));
        }
        actions.extend(self.close(CloseReason::Malformed(error)));
        actions
    }

    /// The session store refused an acknowledgement the session passed on
    /// ([`Action::Acknowledged`]): it answers a message in flight with the wrong kind of packet,
    /// which breaks the QoS 1 or QoS 2 flow [MQTT-4.3.2-1] [MQTT-4.3.3-1]. Closed as a protocol
    /// violation [MQTT-4.8.0-1], with the Will published since the close is not a DISCONNECT.
    /// (Only the store knows what each identifier waits for, so the decision is made there.)
    pub(crate) fn wrong_acknowledgement(&mut self, why: String) -> Vec<Action> {
        self.close(CloseReason::WrongAcknowledgement(why))
    }

    /// The router refused a PUBLISH this session passed on ([`Action::Publish`] or
    /// [`Action::PublishOnce`]), or the broker holds more than `memory_limit` allows: the
    /// connection closes before its acknowledgement goes out, and, the close not being a
    /// DISCONNECT, the Will is published [MQTT-3.1.2-8].
    pub(crate) fn queue_full(&mut self, why: String) -> Vec<Action> {
        self.close(CloseReason::QueueFull(why))
    }

    /// The connection found a PUBLISH this session passed on beyond a configured limit: it closes
    /// before the PUBLISH is routed or acknowledged.
    pub(crate) fn over_limit(&mut self, why: String) -> Vec<Action> {
        self.close(CloseReason::OverLimit(why))
    }

    /// A packet arrived.
    #[cfg(test)]
    pub(crate) fn packet(&mut self, packet: Packet<'_>, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        self.packet_into(packet, now, &mut actions);
        actions
    }

    /// A packet arrived: its actions are appended to `actions`. The connection passes the same
    /// vector for every packet of a read, so that the packets of the publish path (PUBLISH, the
    /// acknowledgements, PINGREQ) cost no allocation here.
    pub(crate) fn packet_into(
        &mut self,
        packet: Packet<'_>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.last_received = now;
        let more = match (self.phase, packet) {
            (Phase::Closed, _) => return,
            (Phase::AwaitingConnect { .. }, Packet::Connect(connect)) => self.connect(&connect),
            (Phase::AwaitingConnect { .. }, _) => self.close(CloseReason::ProtocolViolation(
                "first packet is not CONNECT [MQTT-3.1.0-1]",
            )),
            // Only a 5.0 CONNECT starts an enhanced authentication; not reached at 3.x.
            (Phase::Authenticating { .. }, _) => self.close(CloseReason::ProtocolViolation(
                "a 3.x packet during a 5.0 enhanced authentication",
            )),
            (Phase::Connected, Packet::Connect(_)) => self.close(CloseReason::ProtocolViolation(
                "second CONNECT [MQTT-3.1.0-2]",
            )),
            (Phase::Connected, Packet::Publish(publish))
                if publish.retain && !self.settings.retain_available =>
            {
                self.close(CloseReason::RetainUnavailable)
            }
            (Phase::Connected, Packet::Publish(publish)) => {
                let message = Message::from_publish(&publish);
                let limit = self.settings.message_size_limit;
                let oversized = limit != 0 && message.payload.len() > limit;
                if oversized {
                    actions.push(Action::Dropped {
                        topic: message.topic.to_string(),
                        size: message.payload.len(),
                    });
                }
                let routed = (!oversized).then_some(message);
                // Route, then acknowledge: the broker owns the message once it is in the
                // subscribers' sessions [MQTT-4.5.0-1] [MQTT-3.3.4-1].
                match publish.delivery.packet_id() {
                    None => actions.extend(routed.map(Action::Publish)),
                    Some(packet_id) if publish.qos() == QoS::AtLeastOnce => {
                        actions.extend(routed.map(Action::Publish));
                        actions.push(Action::Send(OutPacket::PubAck(packet_id)));
                    }
                    Some(packet_id) => actions.push(Action::PublishOnce {
                        packet_id,
                        message: routed,
                    }),
                }
                return;
            }
            (Phase::Connected, Packet::PubAck(ack)) => {
                return actions.push(Action::Acknowledged(Ack::PubAck(ack.packet_id)));
            }
            (Phase::Connected, Packet::PubRec(ack)) => {
                return actions.push(Action::Acknowledged(Ack::PubRec(ack.packet_id)));
            }
            (Phase::Connected, Packet::PubComp(ack)) => {
                return actions.push(Action::Acknowledged(Ack::PubComp(ack.packet_id)));
            }
            (Phase::Connected, Packet::PubRel(rel)) => {
                return actions.push(Action::Release(rel.packet_id));
            }
            (Phase::Connected, Packet::Subscribe(subscribe)) => {
                let filters: Vec<(String, QoS)> = subscribe
                    .filters
                    .iter()
                    .map(|entry| (entry.filter.as_str().to_owned(), entry.qos))
                    .collect();
                // A filter the configuration does not offer is refused alone, with 0x80
                // [MQTT-3.8.4-5]; 3.1.1 has no way to announce what is missing.
                let unoffered = if filters
                    .iter()
                    .any(|(filter, _)| self.settings.unoffered(filter).is_some())
                {
                    filters
                        .iter()
                        .map(|(filter, _)| self.settings.unoffered(filter))
                        .collect()
                } else {
                    Vec::new()
                };
                vec![Action::Subscribe {
                    packet_id: subscribe.packet_id,
                    filters,
                    options: Vec::new(),
                    unoffered,
                }]
            }
            (Phase::Connected, Packet::Unsubscribe(unsubscribe)) => vec![Action::Unsubscribe {
                packet_id: unsubscribe.packet_id,
                filters: unsubscribe
                    .filters
                    .iter()
                    .map(|filter| filter.as_str().to_owned())
                    .collect(),
            }],
            (Phase::Connected, Packet::PingReq) => {
                return actions.push(Action::Send(OutPacket::PingResp));
            }
            (Phase::Connected, Packet::Disconnect) => {
                // The Will is discarded, not published [MQTT-3.14.4-3] [MQTT-3.1.2-10].
                self.will = None;
                self.close(CloseReason::Disconnect)
            }
            (
                Phase::Connected,
                Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp,
            ) => self.close(CloseReason::ProtocolViolation(
                "a packet only a server sends [MQTT-4.8.0-1]",
            )),
        };
        // The rarer packets build their own vector.
        actions.extend(more);
    }

    fn connect(&mut self, connect: &mqtt_codec::Connect<'_>) -> Vec<Action> {
        self.level = connect.level;
        let (client_id, assigned): (Arc<str>, bool) = match connect.client_id_rule() {
            ClientIdRule::MustAccept | ClientIdRule::MayAccept => (connect.client_id.into(), false),
            ClientIdRule::MayAssign if self.settings.allow_zero_length_clientid => {
                let id = format!(
                    "{}{:016x}",
                    self.settings.auto_id_prefix, self.connection_id
                );
                (id.into(), true)
            }
            ClientIdRule::MayAssign => {
                return self
                    .refuse("empty client identifier and allow_zero_length_clientid is false");
            }
            ClientIdRule::MustReject => {
                return self.refuse(match connect.level {
                    ProtocolLevel::Mqtt311 => {
                        "empty client identifier with clean session 0 [MQTT-3.1.3-8]"
                    }
                    ProtocolLevel::Mqtt31 => {
                        "client identifier not 1 to 23 characters [V31-DIFF-5] [V31-DIFF-6]"
                    }
                });
            }
        };
        if !self.settings.prefix_allowed(&client_id) {
            return self.refuse("client identifier does not start with one of clientid_prefixes");
        }
        if !self.settings.retain_available && connect.will.as_ref().is_some_and(|will| will.retain)
        {
            // A retained will could not be kept; 3.1.1 has no CONNACK code for it, so the
            // connection closes without one, as mosquitto's does.
            return self.close(CloseReason::RetainUnavailable);
        }
        self.phase = Phase::Connected;
        self.silence_limit = (connect.keep_alive != 0)
            .then(|| Duration::from_millis(u64::from(connect.keep_alive) * 1500));
        self.will = connect.will.as_ref().map(Message::from_will);
        vec![Action::Open(OpenRequest {
            client_id,
            assigned,
            clean_session: connect.clean_session,
            clean_start: connect.clean_session,
            mqtt5: None,
            level: connect.level,
            keep_alive: connect.keep_alive,
            user_name: connect.user_name.map(Arc::from),
            password: connect.password.map(|password| Password(password.to_vec())),
            bridge: connect.bridge,
            trusted: false,
            authenticated: None,
        })]
    }

    /// CONNACK 2 and close [MQTT-3.1.3-9] [MQTT-3.2.2-5].
    fn refuse(&mut self, why: &'static str) -> Vec<Action> {
        let code = ConnectReturnCode::IdentifierRejected;
        let mut actions = vec![connack(code)];
        actions.extend(self.close(CloseReason::Refused(code, why)));
        actions
    }

    fn close(&mut self, reason: CloseReason) -> Vec<Action> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        let mut actions = Vec::new();
        // A 5.0 client is told why the broker ends the connection, once CONNACK has gone
        // [MQTT5-3.14.0-1] (V5-DIFF-18).
        if self.phase == Phase::Connected
            && let Some(state) = &self.mqtt5
            && let Some(code) = v5::disconnect_reason(&reason)
        {
            actions.push(Action::Send(state.disconnect(code, &reason)));
        }
        self.phase = Phase::Closed;
        actions.push(Action::Close(Close {
            reason,
            will: self.will.take(),
        }));
        actions
    }
}

fn connack(code: ConnectReturnCode) -> Action {
    Action::Send(OutPacket::ConnAck {
        session_present: false, // always 0 on a refusal [MQTT-3.2.2-4]
        code,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use mqtt_codec::{Connect, Decoder, Status, TopicName, Will};

    pub(in crate::connection::protocol) fn settings() -> Settings {
        Settings {
            connect_timeout: Duration::from_secs(10),
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".into(),
            message_size_limit: 0,
            max_packet_size: 1 << 20,
            max_keepalive: 0,
            topic_alias_maximum: 10,
            retain_available: true,
            wildcard_subscriptions: true,
            subscription_identifiers: true,
            shared_subscriptions: true,
            clientid_prefixes: Arc::from([]),
            receive_maximum: 20,
            response_information: None,
        }
    }

    fn connect_packet(client_id: &str, keep_alive: u16, will: bool) -> Connect<'_> {
        Connect {
            level: ProtocolLevel::Mqtt311,
            clean_session: true,
            keep_alive,
            client_id,
            will: will
                .then(|| TopicName::new("will").ok())
                .flatten()
                .map(|topic| Will {
                    topic,
                    payload: b"gone",
                    qos: QoS::AtLeastOnce,
                    retain: true,
                }),
            user_name: None,
            password: None,
            bridge: false,
        }
    }

    /// A connected session, with the instant it connected at.
    fn connected(keep_alive: u16, will: bool) -> (ProtocolMachine, Instant) {
        let start = Instant::now();
        let mut machine = ProtocolMachine::new(settings(), 1, start);
        let actions = machine.packet(
            Packet::Connect(connect_packet("c", keep_alive, will)),
            start,
        );
        assert!(
            matches!(actions.as_slice(), [Action::Open(_)]),
            "{actions:?}"
        );
        (machine, start)
    }

    fn closed_with(actions: &[Action]) -> Option<(&CloseReason, bool)> {
        actions.iter().find_map(|action| match action {
            Action::Close(close) => Some((&close.reason, close.will.is_some())),
            _ => None,
        })
    }

    #[test]
    fn keep_alive_expires_at_one_and_a_half_times_mqtt_3_1_2_24() {
        let (mut machine, start) = connected(10, true);
        assert_eq!(machine.deadline(), Some(start + Duration::from_secs(15)));
        assert!(
            machine
                .tick(start + Duration::from_millis(14_999))
                .is_empty()
        );
        let actions = machine.tick(start + Duration::from_secs(15));
        assert_eq!(
            closed_with(&actions),
            Some((&CloseReason::KeepAliveExpired, true))
        );
        // Closed once only.
        assert!(machine.tick(start + Duration::from_secs(99)).is_empty());
    }

    #[test]
    fn time_the_broker_held_a_publisher_back_is_not_its_silence_mqtt_3_1_2_24() {
        let (mut machine, start) = connected(10, false);
        // The reader waited 20 s for room in a subscriber's queue: the client is not to blame.
        let resumed = start + Duration::from_secs(20);
        machine.held_back(resumed);
        assert!(machine.tick(resumed).is_empty());
        assert_eq!(machine.deadline(), Some(resumed + Duration::from_secs(15)));
        // An earlier moment never moves the deadline back.
        machine.held_back(start);
        assert_eq!(machine.deadline(), Some(resumed + Duration::from_secs(15)));
    }

    #[test]
    fn any_packet_resets_the_keep_alive_mqtt_3_1_2_24() {
        let (mut machine, start) = connected(10, false);
        let later = start + Duration::from_secs(12);
        assert_eq!(
            machine.packet(Packet::PingReq, later),
            [Action::Send(OutPacket::PingResp)]
        );
        assert!(machine.tick(start + Duration::from_secs(20)).is_empty());
        assert!(closed_with(&machine.tick(later + Duration::from_secs(15))).is_some());
    }

    #[test]
    fn keep_alive_zero_means_no_timeout() {
        let (mut machine, start) = connected(0, false);
        assert_eq!(machine.deadline(), None);
        assert!(
            machine
                .tick(start + Duration::from_secs(1_000_000))
                .is_empty()
        );
    }

    #[test]
    fn connect_must_arrive_within_the_timeout_mqtt_3_1_0_1() {
        let start = Instant::now();
        let mut machine = ProtocolMachine::new(settings(), 1, start);
        assert!(machine.tick(start + Duration::from_secs(9)).is_empty());
        let actions = machine.tick(start + Duration::from_secs(10));
        assert_eq!(
            closed_with(&actions),
            Some((&CloseReason::ConnectTimeout, false))
        );
    }

    #[test]
    fn first_packet_must_be_connect_mqtt_3_1_0_1() {
        let start = Instant::now();
        let mut machine = ProtocolMachine::new(settings(), 1, start);
        let actions = machine.packet(Packet::PingReq, start);
        assert_eq!(actions.len(), 1, "no CONNACK, just the close: {actions:?}");
        assert!(matches!(
            closed_with(&actions),
            Some((CloseReason::ProtocolViolation(_), false))
        ));
    }

    #[test]
    fn second_connect_closes_and_publishes_the_will_mqtt_3_1_0_2() {
        let (mut machine, start) = connected(0, true);
        let actions = machine.packet(Packet::Connect(connect_packet("c", 0, false)), start);
        assert!(matches!(
            closed_with(&actions),
            Some((CloseReason::ProtocolViolation(_), true))
        ));
    }

    /// The store's refusal of a wrong acknowledgement closes the connection as a protocol
    /// violation, Will published [MQTT-4.8.0-1]; nothing is done after it.
    #[test]
    fn a_wrong_acknowledgement_closes_with_the_will_mqtt_4_8_0_1() {
        let (mut machine, now) = connected(0, true);
        let actions = machine.wrong_acknowledgement("PUBREC for packet id 1".into());
        assert_eq!(
            closed_with(&actions),
            Some((
                &CloseReason::WrongAcknowledgement("PUBREC for packet id 1".into()),
                true
            ))
        );
        assert!(machine.packet(Packet::PingReq, now).is_empty());
    }

    #[test]
    fn disconnect_discards_the_will_mqtt_3_14_4_3() {
        let (mut machine, start) = connected(0, true);
        let actions = machine.packet(Packet::Disconnect, start);
        assert_eq!(
            closed_with(&actions),
            Some((&CloseReason::Disconnect, false))
        );
    }

    #[test]
    fn a_lost_connection_publishes_the_will_with_its_qos_and_retain_mqtt_3_1_2_8() {
        let (mut machine, _) = connected(0, true);
        let actions = machine.connection_lost();
        let will = actions.iter().find_map(|action| match action {
            Action::Close(close) => close.will.clone(),
            _ => None,
        });
        assert_eq!(
            will,
            Some(Message::new("will", b"gone", QoS::AtLeastOnce, true))
        );
    }

    #[test]
    fn empty_client_id_with_clean_session_is_assigned_one_mqtt_3_1_3_6() {
        let start = Instant::now();
        let mut machine = ProtocolMachine::new(settings(), 0xAB, start);
        let actions = machine.packet(Packet::Connect(connect_packet("", 0, false)), start);
        let [Action::Open(request)] = actions.as_slice() else {
            panic!("expected Open, got {actions:?}");
        };
        assert!(request.assigned);
        assert_eq!(&*request.client_id, "auto-00000000000000ab");
    }

    #[test]
    fn empty_client_id_with_persistent_session_gets_connack_2_mqtt_3_1_3_8() {
        let start = Instant::now();
        let mut machine = ProtocolMachine::new(settings(), 1, start);
        let mut connect = connect_packet("", 0, false);
        connect.clean_session = false;
        let actions = machine.packet(Packet::Connect(connect), start);
        assert_eq!(
            actions.first(),
            Some(&Action::Send(OutPacket::ConnAck {
                session_present: false,
                code: ConnectReturnCode::IdentifierRejected
            }))
        );
        assert!(closed_with(&actions).is_some());
    }

    #[test]
    fn mqtt_3_1_refuses_ids_over_23_characters_v31_diff_5() {
        let start = Instant::now();
        let mut machine = ProtocolMachine::new(settings(), 1, start);
        let mut connect = connect_packet("abcdefghijklmnopqrstuvwx", 0, false);
        connect.level = ProtocolLevel::Mqtt31;
        let actions = machine.packet(Packet::Connect(connect), start);
        assert!(matches!(
            closed_with(&actions),
            Some((
                CloseReason::Refused(ConnectReturnCode::IdentifierRejected, _),
                false
            ))
        ));
        // 3.1.1 accepts the same identifier [MQTT-3.1.3-5] allows more.
        let (mut machine, _) = (ProtocolMachine::new(settings(), 1, start), ());
        let actions = machine.packet(
            Packet::Connect(connect_packet("abcdefghijklmnopqrstuvwx", 0, false)),
            start,
        );
        assert!(matches!(actions.as_slice(), [Action::Open(_)]));
    }

    #[test]
    fn unsupported_level_is_answered_with_connack_1_mqtt_3_1_2_2() {
        let start = Instant::now();
        let mut machine = ProtocolMachine::new(settings(), 1, start);
        // CONNECT naming MQTT level 5.
        let bytes = [
            0x10, 0x0D, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x00, 0x00, 0x01,
            b'c',
        ];
        let error = match Decoder::new(ProtocolLevel::Mqtt311).decode(&bytes) {
            Err(error) => error,
            other => panic!("expected an error, got {other:?}"),
        };
        let actions = machine.malformed(error);
        assert_eq!(
            actions.first(),
            Some(&Action::Send(OutPacket::ConnAck {
                session_present: false,
                code: ConnectReturnCode::UnacceptableProtocolVersion
            }))
        );
        assert!(closed_with(&actions).is_some());
    }

    #[test]
    fn qos_1_publish_is_routed_then_acknowledged_mqtt_3_3_4_1() {
        let (mut machine, start) = connected(0, false);
        let bytes = [0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x07, b'x'];
        let Ok(Status::Complete((packet, _))) = Decoder::new(ProtocolLevel::Mqtt311).decode(&bytes)
        else {
            panic!("test packet decodes");
        };
        let actions = machine.packet(packet, start);
        let id = PacketId::new(7);
        assert_eq!(
            actions,
            [
                Action::Publish(Message::new("t", b"x", QoS::AtLeastOnce, false)),
                Action::Send(OutPacket::PubAck(id.unwrap_or_else(|| unreachable!())))
            ]
        );
    }

    #[test]
    fn oversized_payload_is_acknowledged_but_not_routed() {
        let start = Instant::now();
        let mut settings = settings();
        settings.message_size_limit = 0;
        settings.message_size_limit += 1;
        let mut machine = ProtocolMachine::new(settings, 1, start);
        machine.packet(Packet::Connect(connect_packet("c", 0, false)), start);
        let bytes = [0x32, 0x07, 0x00, 0x01, b't', 0x00, 0x07, b'x', b'y'];
        let Ok(Status::Complete((packet, _))) = Decoder::new(ProtocolLevel::Mqtt311).decode(&bytes)
        else {
            panic!("test packet decodes");
        };
        let actions = machine.packet(packet, start);
        assert!(matches!(
            actions.as_slice(),
            [
                Action::Dropped { size: 2, .. },
                Action::Send(OutPacket::PubAck(_))
            ]
        ));
    }

    /// `clientid_prefixes`: an identifier starting with none of them gets CONNACK 2 and is closed.
    #[test]
    fn clientid_prefixes_refuse_other_identifiers_with_connack_2() {
        let start = Instant::now();
        let strict = Settings {
            clientid_prefixes: Arc::from(["sensor-".to_owned(), "ops-".to_owned()]),
            ..settings()
        };
        let mut machine = ProtocolMachine::new(strict.clone(), 1, start);
        let actions = machine.packet(Packet::Connect(connect_packet("laptop", 0, false)), start);
        assert_eq!(
            actions.first(),
            Some(&Action::Send(OutPacket::ConnAck {
                session_present: false,
                code: ConnectReturnCode::IdentifierRejected
            }))
        );
        assert!(closed_with(&actions).is_some());
        let mut machine = ProtocolMachine::new(strict, 2, start);
        let actions = machine.packet(Packet::Connect(connect_packet("ops-1", 0, false)), start);
        assert!(
            matches!(actions.as_slice(), [Action::Open(_)]),
            "{actions:?}"
        );
    }

    /// `retain_available false`: a retained PUBLISH closes the connection unacknowledged and is
    /// not routed (so nothing is retained); an unretained one passes.
    #[test]
    fn a_retained_publish_without_retain_available_closes_the_connection() {
        let start = Instant::now();
        let settings = Settings {
            retain_available: false,
            ..settings()
        };
        let mut machine = ProtocolMachine::new(settings, 1, start);
        machine.packet(Packet::Connect(connect_packet("c", 0, false)), start);
        let topic = TopicName::new("t").expect("topic");
        let publish = |retain| {
            Packet::Publish(mqtt_codec::Publish {
                topic,
                payload: b"x",
                delivery: mqtt_codec::Delivery::AtMostOnce,
                retain,
            })
        };
        let actions = machine.packet(publish(false), start);
        assert!(
            matches!(actions.as_slice(), [Action::Publish(_)]),
            "{actions:?}"
        );
        let actions = machine.packet(publish(true), start);
        assert!(
            !actions
                .iter()
                .any(|action| matches!(action, Action::Publish(_))),
            "{actions:?}"
        );
        assert_eq!(
            closed_with(&actions),
            Some((&CloseReason::RetainUnavailable, false))
        );
        // A retained will cannot be kept either: closed without CONNACK or session.
        let mut machine = ProtocolMachine::new(
            Settings {
                retain_available: false,
                ..tests::settings()
            },
            2,
            start,
        );
        let actions = machine.packet(Packet::Connect(connect_packet("w", 0, true)), start);
        assert!(
            !actions
                .iter()
                .any(|action| matches!(action, Action::Open(_) | Action::Send(_))),
            "{actions:?}"
        );
        assert!(closed_with(&actions).is_some());
    }

    /// `wildcard_subscriptions false` and `shared_subscriptions false` at 3.1.1: the filters they
    /// switch off are marked for refusal (0x80, [MQTT-3.8.4-5]), one by one, and the others go
    /// through; a share name is judged as a share first, its own filter for wildcards after.
    #[test]
    fn filters_the_configuration_switched_off_are_marked_for_refusal_mqtt_3_8_4_5() {
        let start = Instant::now();
        let subscribe = |settings: Settings| {
            let mut machine = ProtocolMachine::new(settings, 1, start);
            machine.packet(Packet::Connect(connect_packet("c", 0, false)), start);
            let entries = ["a/b", "a/+", "$share/g/a/b", "$share/g/#"].map(|filter| {
                mqtt_codec::Subscription {
                    filter: mqtt_codec::TopicFilter::new(filter).expect("filter"),
                    qos: QoS::AtMostOnce,
                }
            });
            let actions = machine.packet(
                Packet::Subscribe(mqtt_codec::Subscribe {
                    packet_id: PacketId::new(1).expect("non-zero"),
                    filters: mqtt_codec::List::from_slice(&entries),
                }),
                start,
            );
            match actions.as_slice() {
                [Action::Subscribe { unoffered, .. }] => unoffered.clone(),
                other => panic!("expected Subscribe, got {other:?}"),
            }
        };
        assert_eq!(subscribe(settings()), [], "all offered: nothing to refuse");
        let no_wildcards = Settings {
            wildcard_subscriptions: false,
            ..settings()
        };
        let wildcard = Some(Unoffered::WildcardSubscriptions);
        assert_eq!(subscribe(no_wildcards), [None, wildcard, None, wildcard]);
        let no_shares = Settings {
            shared_subscriptions: false,
            ..settings()
        };
        let share = Some(Unoffered::SharedSubscriptions);
        assert_eq!(subscribe(no_shares), [None, None, share, share]);
        let neither = Settings {
            shared_subscriptions: false,
            wildcard_subscriptions: false,
            ..settings()
        };
        assert_eq!(subscribe(neither), [None, wildcard, share, share]);
    }
}

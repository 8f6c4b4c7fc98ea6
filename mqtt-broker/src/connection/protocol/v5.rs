//! The MQTT 5.0 packets of [`ProtocolMachine`]: CONNECT with its properties, PUBLISH with topic
//! aliases, acknowledgements with Reason Codes, SUBSCRIBE options, DISCONNECT both ways.
//!
//! The machine is the same as at 3.1.1 (phases, keep-alive, Will); this file adds what 5.0 changes
//! (5.0 §3, V5-DIFF rows of `mqtt-v5-differences.md`): the Session Expiry Interval replaces
//! CleanSession [MQTT5-3.1.2-23], an empty client identifier is assigned one and told so
//! [MQTT5-3.1.3-6] [MQTT5-3.1.3-7], inbound Topic Aliases are resolved per connection
//! [MQTT5-3.3.2-7] [MQTT5-3.3.2-12], and every close the broker decides is announced with a
//! DISCONNECT Reason Code [MQTT5-4.13.1-1].
//!
//! The Receive Maximum it announces bounds the QoS 2 PUBLISHes awaiting their PUBREL on this
//! connection [MQTT5-3.3.4-7]; QoS 1 needs no count, because the reader routes and acknowledges
//! each QoS 1 PUBLISH before it decodes the next one (a publisher held up by back-pressure is held
//! before its PUBLISH is routed, and reads nothing meanwhile). Every DISCONNECT the broker decides
//! carries the reason as a Reason String when it fits the client's Maximum Packet Size
//! [MQTT5-3.14.2-3]; so does a refusing CONNACK [MQTT5-3.2.2-19].
//!
//! Enhanced authentication (an Authentication Method in CONNECT, then AUTH packets) is in
//! `protocol/auth.rs`; this file hands the CONNECT over to it and AUTH packets with it.
//!
//! What it does not do: wait out a Will Delay Interval (it says how long,
//! [`ProtocolMachine::will_delay`], and the reader waits).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt_codec::v5::{self, ReasonCode};
use mqtt_codec::{ClientIdRule, DecodeError, PacketId, PacketType, QoS};

use super::{
    Ack, Action, CloseReason, Open5, OpenRequest, Password, Phase, ProtocolMachine, Unoffered,
};
use crate::message::Message;
use crate::routing::outbound::{ConnAck5, ConnAckProperties, OutPacket};

pub(crate) use crate::subscription_options::SubscriptionOptions5;

/// A CONNECT that passed every check, waiting for nothing but, when it named an Authentication
/// Method, the end of its exchange: what [`ProtocolMachine::accept5`] needs.
#[derive(Debug)]
pub(super) struct Accepted {
    pub(super) request: OpenRequest,
    /// The Will; armed only on acceptance, so that a client refused mid-exchange leaves none.
    pub(super) will: Option<Message>,
    pub(super) silence_limit: Option<Duration>,
}

/// What a 5.0 connection keeps beyond the 3.1.1 state.
#[derive(Debug, Default)]
pub(super) struct Mqtt5State {
    /// The topic each inbound Topic Alias stands for, by alias - 1; never carried to another
    /// connection [MQTT5-3.3.2-7].
    aliases: Vec<Option<Arc<str>>>,
    /// The Session Expiry Interval in force, in seconds (5.0 §3.1.2.11.2).
    pub(super) session_expiry: u32,
    /// The Will Delay Interval of the Will, in seconds (5.0 §3.1.3.2.2).
    pub(super) will_delay: u32,
    /// The client's Maximum Packet Size: a Reason String that would make a CONNACK or DISCONNECT
    /// larger is left out [MQTT5-3.2.2-19] [MQTT5-3.14.2-3].
    peer_maximum_packet_size: Option<u32>,
    /// The Receive Maximum announced in CONNACK (65 535 when none was).
    receive_maximum: u16,
    /// The inbound QoS 2 PUBLISHes of this connection whose PUBREL has not come yet: the count the
    /// Receive Maximum bounds. It applies to this network connection only (5.0 §3.3.4), so a
    /// session's releases pending from an earlier connection are not in it.
    awaiting_release: HashSet<PacketId>,
}

impl Mqtt5State {
    /// The DISCONNECT that tells the client `reason` with `code`, with the reason in words when
    /// that fits within the client's Maximum Packet Size [MQTT5-3.14.2-3].
    pub(super) fn disconnect(&self, code: ReasonCode, reason: &CloseReason) -> OutPacket {
        let text: Box<str> = reason.to_string().into();
        let reason_string = [v5::Property::ReasonString(&text)];
        let with_text = v5::Disconnect {
            reason: code,
            properties: v5::Properties::from_slice(&reason_string),
        };
        if fits(
            self.peer_maximum_packet_size,
            &v5::Packet::Disconnect(with_text),
        ) {
            OutPacket::Disconnect(code, Some(text))
        } else {
            OutPacket::Disconnect(code, None)
        }
    }
}

/// Whether `packet` encodes within `maximum` bytes (any size fits without one).
fn fits(maximum: Option<u32>, packet: &v5::Packet<'_>) -> bool {
    let Some(maximum) = maximum else {
        return true;
    };
    let mut scratch = Vec::new();
    packet
        .encode(&mut scratch)
        .is_ok_and(|len| u32::try_from(len).is_ok_and(|len| len <= maximum))
}

/// The PUBACK or PUBREC Reason Code for an inbound PUBLISH: 0x87 when the authorisers refused it,
/// 0x83 when it was too large to forward (`message_size_limit`), 0x10 when nobody was subscribed,
/// Success otherwise [MQTT5-3.4.2-1] [MQTT5-3.5.2-1].
pub(crate) fn ack_reason(allowed: bool, forwarded: bool, delivered: usize) -> ReasonCode {
    match (allowed, forwarded, delivered) {
        (false, _, _) => ReasonCode::NOT_AUTHORIZED,
        (true, false, _) => ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR,
        (true, true, 0) => ReasonCode::NO_MATCHING_SUBSCRIBERS,
        (true, true, _) => ReasonCode::SUCCESS,
    }
}

/// The DISCONNECT Reason Code the broker sends before closing for `reason`, if it sends one: not
/// after the client's own DISCONNECT, a lost connection or a refused CONNECT (no DISCONNECT
/// before a successful CONNACK [MQTT5-3.14.0-1]).
pub(super) fn disconnect_reason(reason: &CloseReason) -> Option<ReasonCode> {
    match reason {
        CloseReason::KeepAliveExpired => Some(ReasonCode::KEEP_ALIVE_TIMEOUT),
        CloseReason::Malformed(error) => Some(allowed_or_protocol_error(
            error.reason_code(),
            PacketType::Disconnect,
        )),
        CloseReason::ProtocolViolation(_) | CloseReason::WrongAcknowledgement(_) => {
            Some(ReasonCode::PROTOCOL_ERROR)
        }
        CloseReason::TopicAliasInvalid => Some(ReasonCode::TOPIC_ALIAS_INVALID),
        CloseReason::QueueFull(_) => Some(ReasonCode::QUOTA_EXCEEDED),
        // A well-formed topic name deeper than `max_topic_levels`, a limit of ours: 0x90 is the
        // code for a correctly formed topic name the receiver does not accept.
        CloseReason::OverLimit(_) => Some(ReasonCode::TOPIC_NAME_INVALID),
        CloseReason::RetainUnavailable => Some(ReasonCode::RETAIN_NOT_SUPPORTED),
        CloseReason::ReceiveMaximumExceeded(_) => Some(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED),
        CloseReason::Unoffered(what) => Some(match what {
            Unoffered::WildcardSubscriptions => ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
            Unoffered::SubscriptionIdentifiers => {
                ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED
            }
            Unoffered::SharedSubscriptions => ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
        }),
        // [MQTT5-4.12.1-2]
        CloseReason::ReauthenticationFailed(_) | CloseReason::ReauthenticationTimeout => {
            Some(ReasonCode::NOT_AUTHORIZED)
        }
        CloseReason::Disconnect
        | CloseReason::ConnectTimeout
        | CloseReason::AuthenticationTimeout
        | CloseReason::ConnectionLost
        | CloseReason::Refused(..)
        | CloseReason::Refused5(..) => None,
    }
}

impl ProtocolMachine {
    /// The reader saw a CONNECT naming level 5: from now on packets come through
    /// [`packet5_into`](Self::packet5_into).
    pub(crate) fn expect_v5(&mut self) {
        self.mqtt5.get_or_insert_with(Mqtt5State::default);
    }

    /// The 5.0 counterpart of [`packet_into`](Self::packet_into).
    pub(crate) fn packet5_into(
        &mut self,
        packet: v5::Packet<'_>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.last_received = now;
        let more = match (self.phase, packet) {
            (Phase::Closed, _) => return,
            (Phase::AwaitingConnect { .. }, v5::Packet::Connect(connect)) => {
                self.connect5(&connect, now)
            }
            (Phase::AwaitingConnect { .. }, _) => self.close(CloseReason::ProtocolViolation(
                "first packet is not CONNECT [MQTT5-3.1.0-1]",
            )),
            (Phase::Authenticating { .. }, v5::Packet::Auth(auth)) => {
                self.auth_before_connack(&auth)
            }
            // The client may give up at any point of the exchange (5.0 §4.12).
            (Phase::Authenticating { .. }, v5::Packet::Disconnect(_)) => {
                self.close(CloseReason::Disconnect)
            }
            (Phase::Authenticating { .. }, _) => self.refuse5(
                ReasonCode::PROTOCOL_ERROR,
                "a packet other than AUTH during enhanced authentication [MQTT5-4.12.0-3]",
            ),
            (Phase::Connected, v5::Packet::Connect(_)) => self.close(
                CloseReason::ProtocolViolation("second CONNECT [MQTT5-3.1.0-2]"),
            ),
            (Phase::Connected, v5::Packet::Publish(publish)) => {
                return self.publish5(&publish, now, actions);
            }
            (Phase::Connected, v5::Packet::PubAck(ack)) => {
                // A failure code still ends the delivery [MQTT5-4.4.0-2].
                return actions.push(Action::Acknowledged(Ack::PubAck(ack.packet_id)));
            }
            (Phase::Connected, v5::Packet::PubRec(ack)) => {
                let ack = if ack.reason.is_failure() {
                    Ack::PubRecRefused(ack.packet_id) // [MQTT5-4.4.0-2]
                } else {
                    Ack::PubRec(ack.packet_id)
                };
                return actions.push(Action::Acknowledged(ack));
            }
            (Phase::Connected, v5::Packet::PubComp(ack)) => {
                return actions.push(Action::Acknowledged(Ack::PubComp(ack.packet_id)));
            }
            (Phase::Connected, v5::Packet::PubRel(rel)) => {
                if let Some(state) = &mut self.mqtt5 {
                    state.awaiting_release.remove(&rel.packet_id);
                }
                return actions.push(Action::Release(rel.packet_id));
            }
            (Phase::Connected, v5::Packet::Subscribe(subscribe)) => {
                let id = subscribe.properties.subscription_identifiers().next();
                // What CONNACK said is not available is a Protocol Error to ask for, each with its
                // own DISCONNECT code (5.0 §3.2.2.3.11 to §3.2.2.3.13).
                let unoffered = if id.is_some() && !self.settings.subscription_identifiers {
                    Some(Unoffered::SubscriptionIdentifiers)
                } else {
                    subscribe
                        .filters
                        .iter()
                        .find_map(|entry| self.settings.unoffered(entry.filter.as_str()))
                };
                if let Some(what) = unoffered {
                    return actions.extend(self.close(CloseReason::Unoffered(what)));
                }
                let (filters, options) = subscribe
                    .filters
                    .iter()
                    .map(|entry| {
                        let options = entry.options;
                        (
                            (entry.filter.as_str().to_owned(), options.qos),
                            SubscriptionOptions5 {
                                no_local: options.no_local,
                                retain_as_published: options.retain_as_published,
                                retain_handling: options.retain_handling,
                                id,
                            },
                        )
                    })
                    .unzip();
                vec![Action::Subscribe {
                    packet_id: subscribe.packet_id,
                    filters,
                    options,
                    unoffered: Vec::new(),
                }]
            }
            (Phase::Connected, v5::Packet::Unsubscribe(unsubscribe)) => {
                vec![Action::Unsubscribe {
                    packet_id: unsubscribe.packet_id,
                    filters: unsubscribe
                        .filters
                        .iter()
                        .map(|filter| filter.as_str().to_owned())
                        .collect(),
                }]
            }
            (Phase::Connected, v5::Packet::PingReq) => {
                return actions.push(Action::Send(OutPacket::PingResp));
            }
            (Phase::Connected, v5::Packet::Disconnect(disconnect)) => self.disconnect5(&disconnect),
            (Phase::Connected, v5::Packet::Auth(auth)) => self.auth_after_connack(&auth),
            (
                Phase::Connected,
                v5::Packet::ConnAck(_)
                | v5::Packet::SubAck(_)
                | v5::Packet::UnsubAck(_)
                | v5::Packet::PingResp,
            ) => self.close(CloseReason::ProtocolViolation(
                "a packet only a server sends [MQTT5-4.13.1-1]",
            )),
        };
        actions.extend(more);
    }

    /// Bytes that are not a valid 5.0 packet: before CONNECT, CONNACK with the error's Reason Code
    /// (0x84 for a level the broker does not speak [MQTT5-3.1.2-2]); after, DISCONNECT with it
    /// [MQTT5-4.13.1-1]. Closed either way [MQTT5-4.13.2-1].
    pub(super) fn malformed5(&mut self, error: DecodeError) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Phase::AwaitingConnect { .. } | Phase::Authenticating { .. } = self.phase {
            let code = allowed_or_protocol_error(error.reason_code(), PacketType::ConnAck);
            actions.push(connack5(code, ConnAckProperties::default()));
        }
        actions.extend(self.close(CloseReason::Malformed(error)));
        actions
    }

    /// The reader answered the QoS 2 PUBLISH `packet_id` with a failure PUBREC: no PUBREL will
    /// follow, so it no longer counts against the Receive Maximum [MQTT5-3.3.4-7].
    pub(crate) fn refused_inbound(&mut self, packet_id: PacketId) {
        if let Some(state) = &mut self.mqtt5 {
            state.awaiting_release.remove(&packet_id);
        }
    }

    fn connect5(&mut self, connect: &v5::Connect<'_>, now: Instant) -> Vec<Action> {
        let properties = &connect.properties;
        let peer_maximum_packet_size = properties.maximum_packet_size();
        if let Some(state) = &mut self.mqtt5 {
            // Known before any refusal, whose CONNACK it bounds [MQTT5-3.2.2-19].
            state.peer_maximum_packet_size = peer_maximum_packet_size;
        }
        let mut connack = ConnAckProperties::default();
        let (client_id, assigned): (Arc<str>, bool) = match connect.client_id_rule() {
            ClientIdRule::MustAccept | ClientIdRule::MayAccept => (connect.client_id.into(), false),
            ClientIdRule::MayAssign if self.settings.allow_zero_length_clientid => {
                // Unique: the connection's number is [MQTT5-3.2.2-16]; processed as if the client
                // had sent it, and told in CONNACK [MQTT5-3.1.3-6] [MQTT5-3.1.3-7].
                let id = format!(
                    "{}{:016x}",
                    self.settings.auto_id_prefix, self.connection_id
                );
                connack.assigned_client_id = Some(id.as_str().into());
                (id.into(), true)
            }
            ClientIdRule::MayAssign | ClientIdRule::MustReject => {
                return self.refuse5(
                    ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
                    "empty client identifier and allow_zero_length_clientid is false [MQTT5-3.1.3-8]",
                );
            }
        };
        if !self.settings.prefix_allowed(&client_id) {
            return self.refuse5(
                ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
                "client identifier does not start with one of clientid_prefixes",
            );
        }
        if !self.settings.retain_available && connect.will.as_ref().is_some_and(|will| will.retain)
        {
            return self.refuse5(
                ReasonCode::RETAIN_NOT_SUPPORTED,
                "a retained will while retain_available is false [MQTT5-3.2.2-13]",
            );
        }
        connack.retain_unavailable = !self.settings.retain_available;
        // What the configuration switched off, said so (5.0 §3.2.2.3.11 to §3.2.2.3.13); left out,
        // each flag means available.
        connack.wildcards_unavailable = !self.settings.wildcard_subscriptions;
        connack.subscription_ids_unavailable = !self.settings.subscription_identifiers;
        connack.shared_unavailable = !self.settings.shared_subscriptions;
        let session_expiry = properties.session_expiry_interval().unwrap_or(0);
        // Server Keep Alive, when the broker caps the client's [MQTT5-3.2.2-21]; without it the
        // client's own applies [MQTT5-3.2.2-22].
        let cap = self.settings.max_keepalive;
        let keep_alive = if cap != 0 && (connect.keep_alive == 0 || connect.keep_alive > cap) {
            connack.server_keep_alive = Some(cap);
            cap
        } else {
            connect.keep_alive
        };
        if self.settings.max_packet_size < mqtt_codec::MAX_PACKET_SIZE {
            connack.maximum_packet_size = u32::try_from(self.settings.max_packet_size).ok();
        }
        let aliases = self.settings.topic_alias_maximum;
        if aliases > 0 {
            connack.topic_alias_maximum = Some(aliases);
        }
        // Only to a client that asked [MQTT5-3.1.2-28] (5.0 §3.1.2.11.6).
        if properties.request_response_information() == Some(1) {
            connack.response_information =
                self.settings.response_information.as_deref().map(Box::from);
        }
        let receive_maximum = self.settings.receive_maximum.max(1);
        if receive_maximum < u16::MAX {
            connack.receive_maximum = Some(receive_maximum);
        }
        self.mqtt5 = Some(Mqtt5State {
            aliases: vec![None; usize::from(aliases)],
            session_expiry,
            will_delay: connect
                .will
                .as_ref()
                .and_then(|will| will.properties.will_delay_interval())
                .unwrap_or(0),
            peer_maximum_packet_size,
            receive_maximum,
            awaiting_release: HashSet::new(),
        });
        let silence_limit =
            (keep_alive != 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500)); // [MQTT5-3.1.2-22]
        // [MQTT5-3.1.2-7]; its Will Delay Interval is applied by the reader (`will_delay`).
        let will = connect
            .will
            .as_ref()
            .map(|will| Message::from_will5(will, now));
        let request = OpenRequest {
            client_id,
            assigned,
            clean_session: session_expiry == 0, // [MQTT5-3.1.2-23]
            clean_start: connect.clean_start,   // [MQTT5-3.1.2-4] [MQTT5-3.1.2-5]
            mqtt5: Some(Open5 {
                connack,
                maximum_packet_size: properties.maximum_packet_size(),
                receive_maximum: properties.receive_maximum(),
                topic_alias_maximum: properties.topic_alias_maximum(),
                problem_information: properties.request_problem_information() != Some(0),
                session_expiry,
            }),
            level: mqtt_codec::ProtocolLevel::Mqtt311,
            keep_alive,
            user_name: connect.user_name.map(Arc::from),
            password: connect.password.map(|password| Password(password.to_vec())),
            bridge: connect.bridge,
            trusted: false,
            authenticated: None,
        };
        let accepted = Accepted {
            request,
            will,
            silence_limit,
        };
        match properties.authentication_method() {
            Some(method) => {
                self.begin_authentication(method, properties.authentication_data(), accepted)
            }
            None => self.accept5(accepted),
        }
    }

    /// The CONNECT is accepted (after its enhanced authentication, if it had one): the
    /// connection is live, its Will armed, its session opened.
    pub(super) fn accept5(&mut self, accepted: Accepted) -> Vec<Action> {
        self.phase = Phase::Connected;
        self.silence_limit = accepted.silence_limit;
        self.will = accepted.will;
        vec![Action::Open(accepted.request)]
    }

    fn publish5(&mut self, publish: &v5::Publish<'_>, now: Instant, actions: &mut Vec<Action>) {
        if publish.retain && !self.settings.retain_available {
            // CONNACK said Retain Available 0: DISCONNECT 0x9A [MQTT5-3.2.2-14].
            return actions.extend(self.close(CloseReason::RetainUnavailable));
        }
        if publish
            .properties
            .subscription_identifiers()
            .next()
            .is_some()
        {
            // Only a server sends Subscription Identifiers [MQTT5-3.3.4-6].
            return actions.extend(self.close(CloseReason::ProtocolViolation(
                "Subscription Identifier in a client's PUBLISH [MQTT5-3.3.4-6]",
            )));
        }
        let Some(state) = &mut self.mqtt5 else {
            return;
        };
        if let Some(packet_id) = publish.delivery.packet_id()
            && publish.qos() == QoS::ExactlyOnce
            && !state.awaiting_release.contains(&packet_id)
        {
            // A new one (a resent duplicate is already counted) [MQTT5-3.3.4-7].
            if state.awaiting_release.len() >= usize::from(state.receive_maximum) {
                let maximum = state.receive_maximum;
                return actions.extend(self.close(CloseReason::ReceiveMaximumExceeded(maximum)));
            }
            state.awaiting_release.insert(packet_id);
        }
        // The topic: the PUBLISH's own, which a Topic Alias then stands for, or the one the alias
        // was given earlier on this connection [MQTT5-3.3.2-12].
        let topic: Arc<str> = match (publish.topic, publish.properties.topic_alias()) {
            (Some(topic), None) => topic.as_str().into(),
            (topic, Some(alias)) => {
                let Some(entry) = usize::from(alias)
                    .checked_sub(1)
                    .and_then(|index| state.aliases.get_mut(index))
                else {
                    // Over the Topic Alias Maximum the broker announced [MQTT5-3.2.2-17].
                    return actions.extend(self.close(CloseReason::TopicAliasInvalid));
                };
                match topic {
                    Some(topic) => Arc::clone(entry.insert(topic.as_str().into())),
                    None => match entry {
                        Some(known) => Arc::clone(known),
                        None => {
                            return actions.extend(self.close(CloseReason::ProtocolViolation(
                                "a Topic Alias with no topic set for it on this connection \
                                 [MQTT5-3.3.2-12]",
                            )));
                        }
                    },
                }
            }
            // The codec refuses an empty topic without an alias.
            (None, None) => return,
        };
        let Ok(topic_name) = mqtt_codec::TopicName::new(&topic) else {
            return;
        };
        let message = Message::from_publish5(topic_name, publish, now);
        let limit = self.settings.message_size_limit;
        let oversized = limit != 0 && message.payload.len() > limit;
        if oversized {
            actions.push(Action::Dropped {
                topic: message.topic.to_string(),
                size: message.payload.len(),
            });
        }
        let routed = (!oversized).then_some(message);
        match publish.delivery.packet_id() {
            None => actions.extend(routed.map(Action::Publish)),
            Some(packet_id) if publish.qos() == QoS::AtLeastOnce => {
                actions.push(Action::PublishAcked {
                    packet_id,
                    message: routed,
                });
            }
            Some(packet_id) => actions.push(Action::PublishOnce {
                packet_id,
                message: routed,
            }),
        }
    }

    /// A client's DISCONNECT: 0x04 keeps the Will for publication, any other code discards it
    /// [MQTT5-3.14.4-3] [MQTT5-3.1.2-10]. A new Session Expiry Interval applies, except that one
    /// cannot be set when CONNECT said 0 (5.0 §3.14.2.2.2): that is a Protocol Error.
    fn disconnect5(&mut self, disconnect: &v5::Disconnect<'_>) -> Vec<Action> {
        let mut actions = Vec::new();
        if let (Some(state), Some(expiry)) = (
            &mut self.mqtt5,
            disconnect.properties.session_expiry_interval(),
        ) {
            if state.session_expiry == 0 && expiry != 0 {
                return self.close(CloseReason::ProtocolViolation(
                    "Session Expiry Interval set at DISCONNECT after 0 at CONNECT (5.0 §3.14.2.2.2)",
                ));
            }
            state.session_expiry = expiry;
            actions.push(Action::SessionExpiry(expiry));
        }
        if disconnect.reason != ReasonCode::DISCONNECT_WITH_WILL_MESSAGE {
            self.will = None;
        }
        actions.extend(self.close(CloseReason::Disconnect));
        actions
    }

    /// CONNACK with a failure code and close [MQTT5-3.2.2-6] [MQTT5-3.2.2-7], saying why in a
    /// Reason String when it fits the client's Maximum Packet Size [MQTT5-3.2.2-19].
    pub(super) fn refuse5(
        &mut self,
        code: ReasonCode,
        why: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Vec<Action> {
        let why = why.into();
        let explained = ConnAckProperties {
            reason_string: Some(why.as_ref().into()),
            ..ConnAckProperties::default()
        };
        let limit = self
            .mqtt5
            .as_ref()
            .and_then(|state| state.peer_maximum_packet_size);
        let reason_string = [v5::Property::ReasonString(&why)];
        let with_text = v5::Packet::ConnAck(v5::ConnAck {
            session_present: false,
            reason: code,
            properties: v5::Properties::from_slice(&reason_string),
        });
        let properties = if fits(limit, &with_text) {
            explained
        } else {
            ConnAckProperties::default()
        };
        let mut actions = vec![connack5(code, properties)];
        actions.extend(self.close(CloseReason::Refused5(code, why)));
        actions
    }
}

/// `code` if `packet_type` may carry it [MQTT5-3.2.2-8] [MQTT5-3.14.2-1], else 0x82, Protocol
/// Error: a decoding error's own code may belong to another packet (0x84 Unsupported Protocol
/// Version, say, is for CONNACK only, and a second CONNECT naming level 4 gets DISCONNECT 0x82).
fn allowed_or_protocol_error(code: ReasonCode, packet_type: PacketType) -> ReasonCode {
    if code.allowed_in(packet_type) {
        code
    } else {
        ReasonCode::PROTOCOL_ERROR
    }
}

fn connack5(reason: ReasonCode, properties: ConnAckProperties) -> Action {
    Action::Send(OutPacket::ConnAck5(Box::new(ConnAck5 {
        session_present: false, // on a refusal [MQTT5-3.2.2-6]
        reason,
        properties,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::protocol::tests::settings;
    use mqtt_codec::v5::{Properties, Property};
    use mqtt_codec::{Delivery, TopicName};

    fn connected(
        connect: v5::Connect<'_>,
        settings: super::super::Settings,
    ) -> (ProtocolMachine, Vec<Action>) {
        let now = Instant::now();
        let mut machine = ProtocolMachine::new(settings, 0xAB, now);
        machine.expect_v5();
        let mut actions = Vec::new();
        machine.packet5_into(v5::Packet::Connect(connect), now, &mut actions);
        (machine, actions)
    }

    fn open(actions: &[Action]) -> &OpenRequest {
        match actions {
            [Action::Open(request)] => request,
            other => panic!("expected Open, got {other:?}"),
        }
    }

    #[test]
    fn session_expiry_0_is_a_clean_session_and_clean_start_discards_mqtt5_3_1_2_23() {
        let properties = [Property::SessionExpiryInterval(30)];
        let connect = v5::Connect {
            client_id: "c",
            clean_start: false,
            properties: Properties::from_slice(&properties),
            ..v5::Connect::default()
        };
        let (_, actions) = connected(connect, settings());
        let request = open(&actions);
        assert!(!request.clean_session && !request.clean_start);
        let (_, actions) = connected(
            v5::Connect {
                client_id: "c",
                clean_start: true,
                ..v5::Connect::default()
            },
            settings(),
        );
        let request = open(&actions);
        assert!(request.clean_session && request.clean_start);
    }

    #[test]
    fn a_capped_keep_alive_is_announced_as_server_keep_alive_mqtt5_3_2_2_21() {
        let mut capped = settings();
        capped.max_keepalive = 60;
        for asked in [0, 61, 600] {
            let (machine, actions) = connected(
                v5::Connect {
                    client_id: "c",
                    keep_alive: asked,
                    ..v5::Connect::default()
                },
                capped.clone(),
            );
            let request = open(&actions);
            let connack = &request.mqtt5.as_ref().expect("5.0").connack;
            assert_eq!(connack.server_keep_alive, Some(60), "asked {asked}");
            assert!(machine.deadline().is_some());
        }
        let (_, actions) = connected(
            v5::Connect {
                client_id: "c",
                keep_alive: 30,
                ..v5::Connect::default()
            },
            capped,
        );
        assert_eq!(
            open(&actions)
                .mqtt5
                .as_ref()
                .expect("5.0")
                .connack
                .server_keep_alive,
            None,
            "[MQTT5-3.2.2-22]"
        );
    }

    #[test]
    fn an_empty_id_without_allow_zero_length_clientid_is_0x85_mqtt5_3_1_3_8() {
        let mut strict = settings();
        strict.allow_zero_length_clientid = false;
        let (_, actions) = connected(v5::Connect::default(), strict);
        assert!(matches!(
            actions.as_slice(),
            [Action::Send(OutPacket::ConnAck5(connack)), Action::Close(_)]
                if connack.reason == ReasonCode::CLIENT_IDENTIFIER_NOT_VALID && !connack.session_present
        ));
    }

    #[test]
    fn session_expiry_cannot_go_from_0_to_more_at_disconnect() {
        let (mut machine, _) = connected(
            v5::Connect {
                client_id: "c",
                ..v5::Connect::default()
            },
            settings(),
        );
        let properties = [Property::SessionExpiryInterval(10)];
        let mut actions = Vec::new();
        machine.packet5_into(
            v5::Packet::Disconnect(v5::Disconnect {
                reason: ReasonCode::NORMAL_DISCONNECTION,
                properties: Properties::from_slice(&properties),
            }),
            Instant::now(),
            &mut actions,
        );
        assert!(matches!(
            actions.as_slice(),
            [
                Action::Send(OutPacket::Disconnect(ReasonCode::PROTOCOL_ERROR, _)),
                Action::Close(_)
            ]
        ));
    }

    #[test]
    fn a_topic_alias_over_the_maximum_is_0x94_mqtt5_3_2_2_17() {
        let (mut machine, _) = connected(
            v5::Connect {
                client_id: "c",
                ..v5::Connect::default()
            },
            settings(),
        );
        let properties = [Property::TopicAlias(11)];
        let mut actions = Vec::new();
        machine.packet5_into(
            v5::Packet::Publish(v5::Publish {
                topic: TopicName::new("t").ok(),
                payload: b"",
                delivery: Delivery::AtMostOnce,
                retain: false,
                properties: Properties::from_slice(&properties),
            }),
            Instant::now(),
            &mut actions,
        );
        assert!(matches!(
            actions.as_slice(),
            [
                Action::Send(OutPacket::Disconnect(ReasonCode::TOPIC_ALIAS_INVALID, _)),
                Action::Close(_)
            ]
        ));
    }

    #[test]
    fn a_refused_pubrec_ends_the_delivery_mqtt5_4_4_0_2() {
        let (mut machine, _) = connected(
            v5::Connect {
                client_id: "c",
                ..v5::Connect::default()
            },
            settings(),
        );
        let Some(packet_id) = PacketId::new(4) else {
            return;
        };
        let mut actions = Vec::new();
        machine.packet5_into(
            v5::Packet::PubRec(v5::PubRec {
                reason: ReasonCode::UNSPECIFIED_ERROR,
                ..v5::PubRec::new(packet_id)
            }),
            Instant::now(),
            &mut actions,
        );
        assert_eq!(
            actions,
            [Action::Acknowledged(Ack::PubRecRefused(packet_id))]
        );
    }

    /// Regression: a decoding error whose own Reason Code DISCONNECT may not carry (0x84, from a
    /// second CONNECT naming level 4) made the broker queue a DISCONNECT that could not be
    /// encoded. It is sent as 0x82 [MQTT5-3.14.2-1]; before CONNECT, a CONNACK keeps 0x84.
    #[test]
    fn a_reason_code_disconnect_cannot_carry_becomes_0x82_mqtt5_3_14_2_1() {
        let (mut machine, _) = connected(
            v5::Connect {
                client_id: "c",
                ..v5::Connect::default()
            },
            settings(),
        );
        let actions = machine.malformed(DecodeError::UnsupportedProtocolLevel);
        assert!(matches!(
            actions.as_slice(),
            [
                Action::Send(OutPacket::Disconnect(ReasonCode::PROTOCOL_ERROR, _)),
                Action::Close(_)
            ]
        ));
        let mut fresh = ProtocolMachine::new(settings(), 1, Instant::now());
        fresh.expect_v5();
        let actions = fresh.malformed(DecodeError::UnsupportedProtocolLevel);
        assert!(matches!(
            actions.as_slice(),
            [Action::Send(OutPacket::ConnAck5(connack)), Action::Close(_)]
                if connack.reason == ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
        ));
    }

    #[test]
    fn ack_reasons_say_what_happened_mqtt5_3_4_2_1() {
        assert_eq!(ack_reason(false, true, 3), ReasonCode::NOT_AUTHORIZED);
        assert_eq!(
            ack_reason(true, false, 0),
            ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR
        );
        assert_eq!(
            ack_reason(true, true, 0),
            ReasonCode::NO_MATCHING_SUBSCRIBERS
        );
        assert_eq!(ack_reason(true, true, 2), ReasonCode::SUCCESS);
    }

    /// `retain_available false`: CONNACK says Retain Available 0, and a retained PUBLISH is
    /// answered with DISCONNECT 0x9A (Retain not supported) and closes the connection.
    #[test]
    fn retain_available_false_is_announced_and_enforced_with_0x9a() {
        let no_retain = super::super::Settings {
            retain_available: false,
            ..settings()
        };
        let (mut machine, actions) = connected(
            v5::Connect {
                client_id: "c",
                ..v5::Connect::default()
            },
            no_retain,
        );
        assert!(
            open(&actions)
                .mqtt5
                .as_ref()
                .expect("5.0")
                .connack
                .retain_unavailable
        );
        let mut actions = Vec::new();
        machine.packet5_into(
            v5::Packet::Publish(v5::Publish {
                topic: TopicName::new("t").ok(),
                payload: b"x",
                delivery: Delivery::AtMostOnce,
                retain: true,
                properties: Properties::default(),
            }),
            Instant::now(),
            &mut actions,
        );
        assert!(matches!(
            actions.as_slice(),
            [
                Action::Send(OutPacket::Disconnect(ReasonCode::RETAIN_NOT_SUPPORTED, _)),
                Action::Close(_)
            ]
        ));
    }

    /// `clientid_prefixes`: another identifier is refused with CONNACK 0x85.
    #[test]
    fn clientid_prefixes_refuse_other_identifiers_with_0x85() {
        let strict = super::super::Settings {
            clientid_prefixes: Arc::from(["sensor-".to_owned()]),
            ..settings()
        };
        let (_, actions) = connected(
            v5::Connect {
                client_id: "laptop",
                ..v5::Connect::default()
            },
            strict,
        );
        assert!(matches!(
            actions.as_slice(),
            [Action::Send(OutPacket::ConnAck5(connack)), Action::Close(_)]
                if connack.reason == ReasonCode::CLIENT_IDENTIFIER_NOT_VALID
        ));
    }

    fn qos2_publish(machine: &mut ProtocolMachine, id: u16) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(packet_id) = PacketId::new(id) else {
            return actions;
        };
        machine.packet5_into(
            v5::Packet::Publish(v5::Publish {
                topic: TopicName::new("t").ok(),
                payload: b"x",
                delivery: Delivery::ExactlyOnce {
                    packet_id,
                    dup: false,
                },
                retain: false,
                properties: Properties::default(),
            }),
            Instant::now(),
            &mut actions,
        );
        actions
    }

    /// The Receive Maximum is announced, counts QoS 2 PUBLISHes until their PUBREL (a resent one
    /// once), and one more is DISCONNECT 0x93 with the reason in words [MQTT5-3.3.4-7].
    #[test]
    fn more_qos_2_than_the_receive_maximum_is_0x93_mqtt5_3_3_4_7() {
        let limited = super::super::Settings {
            receive_maximum: 2,
            ..settings()
        };
        let (mut machine, actions) = connected(
            v5::Connect {
                client_id: "c",
                ..v5::Connect::default()
            },
            limited,
        );
        let connack = &open(&actions).mqtt5.as_ref().expect("5.0").connack;
        assert_eq!(connack.receive_maximum, Some(2));
        for id in [1, 2, 2] {
            let actions = qos2_publish(&mut machine, id);
            assert!(
                matches!(actions.as_slice(), [Action::PublishOnce { .. }]),
                "{id}: {actions:?}"
            );
        }
        // PUBREL for 1 frees its place; a PUBREC refused for 3 frees it at once.
        let mut actions = Vec::new();
        if let Some(one) = PacketId::new(1) {
            machine.packet5_into(
                v5::Packet::PubRel(v5::PubRel::new(one)),
                Instant::now(),
                &mut actions,
            );
        }
        assert!(matches!(
            qos2_publish(&mut machine, 3).as_slice(),
            [Action::PublishOnce { .. }]
        ));
        if let Some(three) = PacketId::new(3) {
            machine.refused_inbound(three);
        }
        assert!(matches!(
            qos2_publish(&mut machine, 4).as_slice(),
            [Action::PublishOnce { .. }]
        ));
        // 2 and 4 await PUBREL: 5 is one too many.
        let actions = qos2_publish(&mut machine, 5);
        assert!(
            matches!(
                actions.as_slice(),
                [
                    Action::Send(OutPacket::Disconnect(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED, Some(text))),
                    Action::Close(_)
                ] if text.contains("Receive Maximum")
            ),
            "{actions:?}"
        );
    }

    /// At the default, 65 535, no Receive Maximum is announced (it is the protocol's default).
    #[test]
    fn no_receive_maximum_is_announced_at_65535() {
        let unlimited = super::super::Settings {
            receive_maximum: u16::MAX,
            ..settings()
        };
        let (_, actions) = connected(
            v5::Connect {
                client_id: "c",
                ..v5::Connect::default()
            },
            unlimited,
        );
        assert_eq!(
            open(&actions)
                .mqtt5
                .as_ref()
                .expect("5.0")
                .connack
                .receive_maximum,
            None
        );
    }

    /// A refusing CONNACK says why in a Reason String, unless that would make it larger than the
    /// client's Maximum Packet Size [MQTT5-3.2.2-19].
    #[test]
    fn a_refusal_says_why_within_the_clients_maximum_packet_size_mqtt5_3_2_2_19() {
        let strict = super::super::Settings {
            clientid_prefixes: Arc::from(["sensor-".to_owned()]),
            ..settings()
        };
        for (maximum, explained) in [(None, true), (Some(1_000), true), (Some(20), false)] {
            let properties: Vec<Property<'_>> = maximum
                .into_iter()
                .map(Property::MaximumPacketSize)
                .collect();
            let (_, actions) = connected(
                v5::Connect {
                    client_id: "laptop",
                    properties: Properties::from_slice(&properties),
                    ..v5::Connect::default()
                },
                strict.clone(),
            );
            let Some(Action::Send(OutPacket::ConnAck5(connack))) = actions.first() else {
                panic!("expected CONNACK, got {actions:?}");
            };
            assert_eq!(
                connack.properties.reason_string.is_some(),
                explained,
                "Maximum Packet Size {maximum:?}"
            );
            let mut out = Vec::new();
            let packet = OutPacket::ConnAck5(connack.clone());
            let len = packet
                .encode5(Instant::now(), &mut out)
                .unwrap_or(usize::MAX);
            assert!(maximum.is_none_or(|maximum| len <= maximum as usize));
        }
    }

    /// A server DISCONNECT carries the reason in words, and leaves them out where they would not
    /// fit the client's Maximum Packet Size [MQTT5-3.14.2-3].
    #[test]
    fn a_server_disconnect_says_why_within_the_maximum_packet_size_mqtt5_3_14_2_3() {
        for (maximum, explained) in [(None, true), (Some(10), false)] {
            let properties: Vec<Property<'_>> = maximum
                .into_iter()
                .map(Property::MaximumPacketSize)
                .collect();
            let (mut machine, _) = connected(
                v5::Connect {
                    client_id: "c",
                    properties: Properties::from_slice(&properties),
                    ..v5::Connect::default()
                },
                settings(),
            );
            let actions = machine.malformed(DecodeError::UnsupportedProtocolLevel);
            let Some(Action::Send(disconnect @ OutPacket::Disconnect(_, text))) = actions.first()
            else {
                panic!("expected DISCONNECT, got {actions:?}");
            };
            assert_eq!(text.is_some(), explained, "Maximum Packet Size {maximum:?}");
            let mut out = Vec::new();
            let len = disconnect
                .encode5(Instant::now(), &mut out)
                .unwrap_or(usize::MAX);
            assert!(maximum.is_none_or(|maximum| len <= maximum as usize));
        }
    }

    /// `response_information` goes only to a client that set Request Response Information 1
    /// [MQTT5-3.1.2-28].
    #[test]
    fn response_information_only_when_asked_mqtt5_3_1_2_28() {
        let offering = super::super::Settings {
            response_information: Some(Arc::from("responses/")),
            ..settings()
        };
        for (asked, expected) in [(None, None), (Some(0), None), (Some(1), Some("responses/"))] {
            let properties: Vec<Property<'_>> = asked
                .into_iter()
                .map(Property::RequestResponseInformation)
                .collect();
            let (_, actions) = connected(
                v5::Connect {
                    client_id: "c",
                    properties: Properties::from_slice(&properties),
                    ..v5::Connect::default()
                },
                offering.clone(),
            );
            let connack = &open(&actions).mqtt5.as_ref().expect("5.0").connack;
            assert_eq!(
                connack.response_information.as_deref(),
                expected,
                "Request Response Information {asked:?}"
            );
        }
    }

    /// What the configuration switched off is said in CONNACK (Wildcard Subscription, Subscription
    /// Identifiers, Shared Subscription Available 0), and asking for it all the same is a Protocol
    /// Error with its own DISCONNECT code (5.0 §3.2.2.3.11 to §3.2.2.3.13); what is on is left out.
    #[test]
    fn switched_off_features_are_announced_and_refused_with_their_disconnect_code() {
        let off = super::super::Settings {
            wildcard_subscriptions: false,
            subscription_identifiers: false,
            shared_subscriptions: false,
            ..settings()
        };
        let connect = || v5::Connect {
            client_id: "c",
            ..v5::Connect::default()
        };
        let (_, actions) = connected(connect(), settings());
        let connack = &open(&actions).mqtt5.as_ref().expect("5.0").connack;
        assert!(
            !connack.wildcards_unavailable
                && !connack.subscription_ids_unavailable
                && !connack.shared_unavailable
        );
        let (_, actions) = connected(connect(), off.clone());
        let connack = &open(&actions).mqtt5.as_ref().expect("5.0").connack;
        assert!(
            connack.wildcards_unavailable
                && connack.subscription_ids_unavailable
                && connack.shared_unavailable
        );

        let identifier = [Property::SubscriptionIdentifier(7)];
        let cases: [(&str, &[Property<'_>], Option<ReasonCode>); 5] = [
            ("a/b", &[], None),
            (
                "a/+",
                &[],
                Some(ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED),
            ),
            (
                "$share/g/a",
                &[],
                Some(ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED),
            ),
            (
                "$share/g/#",
                &[],
                Some(ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED),
            ),
            (
                "a/b",
                &identifier,
                Some(ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED),
            ),
        ];
        for (filter, properties, refused) in cases {
            let (mut machine, _) = connected(connect(), off.clone());
            check(&mut machine, filter, properties, refused);
            // The local side of one of our own bridges is bound by none of it.
            let (mut machine, _) = connected(connect(), off.clone());
            machine.offer_everything();
            check(&mut machine, filter, properties, None);
        }

        fn check(
            machine: &mut ProtocolMachine,
            filter: &str,
            properties: &[Property<'_>],
            refused: Option<ReasonCode>,
        ) {
            let entries = [v5::Subscription {
                filter: mqtt_codec::TopicFilter::new(filter).expect("filter"),
                options: v5::SubscriptionOptions::default(),
            }];
            let mut actions = Vec::new();
            machine.packet5_into(
                v5::Packet::Subscribe(v5::Subscribe {
                    packet_id: PacketId::new(1).expect("non-zero"),
                    properties: Properties::from_slice(properties),
                    filters: mqtt_codec::List::from_slice(&entries),
                }),
                Instant::now(),
                &mut actions,
            );
            match (refused, actions.as_slice()) {
                (None, [Action::Subscribe { unoffered, .. }]) => assert!(unoffered.is_empty()),
                (
                    Some(code),
                    [
                        Action::Send(OutPacket::Disconnect(sent, Some(_))),
                        Action::Close(_),
                    ],
                ) => assert_eq!(*sent, code, "{filter}"),
                (_, other) => panic!("{filter}: expected {refused:?}, got {other:?}"),
            }
        }
    }
}

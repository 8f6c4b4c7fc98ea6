//! [`SessionState`]: everything MQTT calls "session state" on the server side (3.1.1 §4.1), as plain
//! data with the rules that change it, and [`Limits`], the two bounds put on it.
//!
//! A session outlives its network connection when the client asked for a persistent one (CleanSession
//! 0) [MQTT-3.1.2-4]: its subscriptions, the QoS 1 and 2 messages waiting for it [MQTT-3.1.2-5], the
//! outbound messages sent but not yet acknowledged, and the identifiers of inbound QoS 2 messages not
//! yet released. All of that is here and nothing else: no channel, no socket, no lock, no clock. That is
//! what makes it the unit a persistent store would save and load (see ARCHITECTURE.md, "Persistence"):
//! every field is owned, plain data.
//!
//! Outbound flow control works in two stages. New QoS 1 and 2 messages enter the *queue*; the *window*
//! of in-flight messages takes from the front of the queue while it has room (`max_inflight_messages`).
//! Acknowledgements free window slots. A QoS 0 message normally goes straight to the writer; it
//! enters the queue only while the client is connected and the writer's channel is full (or other
//! messages already wait), so that a burst is delayed rather than lost, as mosquitto does for online
//! clients. It leaves the queue without taking a window slot, and is forgotten when the connection
//! ends: QoS 0 is never kept for an offline session (3.1 §2.2) nor written to the log.
//!
//! This file does not know who is connected (`routing/router.rs`) nor how packets reach a socket (`connection/writer.rs`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use mqtt_codec::{Delivery, PacketId, QoS};

use crate::message::Message;
use crate::persistence::ReplayedState;
use crate::record::Record;
use crate::routing::outbound::OutPacket;
use crate::subscription_options::SubscriptionOptions5;

/// How much one session may hold. Zero means "no limit", as in mosquitto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Outbound QoS 1 and 2 messages sent and not yet fully acknowledged (`max_inflight_messages`).
    pub(crate) max_inflight: usize,
    /// The bytes (topics and payloads) of those messages (`max_inflight_bytes`, 0: no limit, as in
    /// mosquitto). A window at either limit is full; one message always fits in an empty window,
    /// however large, so that none waits for ever.
    pub(crate) max_inflight_bytes: usize,
    /// QoS 1 and 2 messages waiting for a window slot or for the client to come back
    /// (`max_queued_messages`). While a live client's queue is full its publishers wait (see
    /// `router.rs`, "Back-pressure"), while an offline one's is, their QoS 1/2 PUBLISH is refused
    /// (`Router::room_for_all`); with `drop_when_full` the message is dropped and counted.
    pub(crate) max_queued: usize,
    /// `queue_full_drop true`: mosquitto's behaviour, a message for a full queue is dropped (and
    /// counted) instead of making its publisher wait.
    pub(crate) drop_when_full: bool,
    /// The bytes (topic and payload) the queue may hold (`max_queued_bytes`, 0: no limit, as in
    /// mosquitto). Checked like `max_queued`: a queue at either limit is full. A message larger
    /// than the limit still enters an empty queue, so that it can never wait for ever.
    pub(crate) max_queued_bytes: usize,
    /// How long a publisher waits for room in one subscriber's queue without any progress before
    /// that subscriber is disconnected as stuck (`write_timeout`).
    pub(crate) stall: std::time::Duration,
}

/// What [`SessionState::pump_with`] did to the queue that the log must hear of, in the order it
/// happened, so that a replay takes the same messages out of the queue: the replayed queue has no
/// QoS 0 messages, so neither change is ever about one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueChange {
    /// The front of the queue entered the window with this packet identifier.
    Assigned(PacketId),
    /// A message expired before its delivery started, and left the queue [MQTT5-3.3.2-5]: the
    /// one at this position among the queue's QoS 1 and 2 messages (0: the first).
    Expired(u32),
}

/// Why a message was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull;

/// An outbound message in the window. `sent` is false while the packet has not been handed to the
/// writer on the current connection: the channel had no room, or the session was just resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum InFlight {
    /// PUBLISH assigned an identifier, waiting for PUBACK (QoS 1) or PUBREC (QoS 2). `dup` records
    /// that it was sent before, so that any later sending is marked as a re-delivery [MQTT-3.3.1-1].
    Publish {
        packet_id: PacketId,
        message: Message,
        sent: bool,
        dup: bool,
    },
    /// PUBREL sent, waiting for PUBCOMP; the PUBLISH is never sent again [MQTT-4.3.3-1].
    Released { packet_id: PacketId, sent: bool },
}

impl InFlight {
    /// The bytes it holds against `max_inflight_bytes`: a released one holds no message.
    fn bytes(&self) -> usize {
        match self {
            Self::Publish { message, .. } => size(message),
            Self::Released { .. } => 0,
        }
    }
}

/// The acknowledgement an in-flight entry waits for.
// Named after the packets, so the shared prefix is the point.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expected {
    /// A QoS 1 PUBLISH [MQTT-4.3.2-1].
    PubAck,
    /// A QoS 2 PUBLISH, first step [MQTT-4.3.3-1].
    PubRec,
    /// A PUBREL, last step of QoS 2 [MQTT-4.3.3-1].
    PubComp,
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PubAck => "PUBACK (QoS 1)",
            Self::PubRec => "PUBREC (QoS 2, first step)",
            Self::PubComp => "PUBCOMP (QoS 2, after PUBREL)",
        })
    }
}

/// Why an acknowledgement of an outbound message was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckError {
    /// No message with this identifier is in flight: a late duplicate, or an acknowledgement from
    /// an earlier connection. Ignored, as mosquitto does.
    Unknown,
    /// The identifier is in flight but waits for another acknowledgement (for example PUBREC for
    /// a QoS 1 message): a protocol violation [MQTT-4.8.0-1]; the connection is closed.
    WrongStep(Expected),
}

impl InFlight {
    /// What this entry waits for.
    fn expected(&self) -> Expected {
        match self {
            Self::Publish { message, .. } if message.qos == QoS::ExactlyOnce => Expected::PubRec,
            Self::Publish { .. } => Expected::PubAck,
            Self::Released { .. } => Expected::PubComp,
        }
    }

    fn packet_id(&self) -> PacketId {
        match self {
            Self::Publish { packet_id, .. } | Self::Released { packet_id, .. } => *packet_id,
        }
    }

    fn is_sent(&self) -> bool {
        match self {
            Self::Publish { sent, .. } | Self::Released { sent, .. } => *sent,
        }
    }

    fn sent(&mut self) -> &mut bool {
        match self {
            Self::Publish { sent, .. } | Self::Released { sent, .. } => sent,
        }
    }

    fn packet(&self) -> OutPacket {
        match self {
            Self::Publish {
                packet_id,
                message,
                dup,
                ..
            } => publish_packet(message, *packet_id, *dup),
            Self::Released { packet_id, .. } => OutPacket::PubRel(*packet_id),
        }
    }
}

/// The server side of one MQTT session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionState {
    /// Topic filter → granted QoS. The subscription tree indexes these; this map is the truth that
    /// survives a disconnect [MQTT-3.1.2-4].
    pub(crate) subscriptions: BTreeMap<String, QoS>,
    /// 5.0 subscription options by filter (No Local, Retain As Published, Retain Handling,
    /// Subscription Identifier), for the filters of `subscriptions` a 5.0 client subscribed to.
    pub(crate) options5: BTreeMap<String, SubscriptionOptions5>,
    /// QoS 1 and 2 messages not yet in the window, and QoS 0 messages waiting for room in the
    /// writer's channel, oldest first.
    queue: VecDeque<Message>,
    /// The bytes of topic and payload in `queue`, for `max_queued_bytes`.
    queued_bytes: usize,
    /// No queued message expires before this (it may be earlier than the first that does, never
    /// later): [`drop_expired`](Self::drop_expired) looks through the queue only once it has
    /// passed, so a full queue of messages without an expiry is not scanned at every publish.
    /// `None`: nothing queued has an expiry.
    earliest_expiry: Option<std::time::Instant>,
    /// The window, in the order the packets were first sent, which is the order they are re-sent in
    /// [MQTT-4.6.0-1].
    inflight: VecDeque<InFlight>,
    /// How many entries of `inflight` are not sent on this connection. `pump` looks through the
    /// window for them only when there are some: with a full window and a deep queue (16
    /// publishers to one subscriber) it is called twice per message, and the scan was 145
    /// instructions of each.
    unsent: usize,
    /// Identifiers of inbound QoS 2 PUBLISH packets delivered onwards and not yet released by PUBREL.
    /// A PUBLISH arriving again with one of these is acknowledged but not delivered again
    /// [MQTT-4.3.3-2].
    inbound_qos2: BTreeSet<PacketId>,
    /// The part of `inbound_qos2` still being routed, whose `Received` record is not logged yet
    /// (see `Router::publish_once`): a snapshot leaves them out, since the subscribers' copies may
    /// not be in it either.
    routing_qos2: BTreeSet<PacketId>,
    /// The last identifier assigned to an outbound PUBLISH.
    last_packet_id: PacketId,
}

impl Default for SessionState {
    fn default() -> Self {
        Self {
            subscriptions: BTreeMap::new(),
            options5: BTreeMap::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            earliest_expiry: None,
            inflight: VecDeque::new(),
            unsent: 0,
            inbound_qos2: BTreeSet::new(),
            routing_qos2: BTreeSet::new(),
            // So that the first identifier assigned is 1.
            last_packet_id: LAST_ID,
        }
    }
}

/// What a queued message counts for `max_queued_bytes`: its topic and payload, as mosquitto counts.
fn size(message: &Message) -> usize {
    message.topic.len() + message.payload.len()
}

/// 65 535, the largest packet identifier; checked at compile time.
const LAST_ID: PacketId = match PacketId::new(u16::MAX) {
    Some(id) => id,
    None => panic!("65535 is a packet identifier"),
};

impl SessionState {
    /// Takes a message for later sending: refused when the queue is full. The caller queues a QoS 0
    /// message only for a connected client (see the module doc).
    pub(crate) fn enqueue(&mut self, message: Message, limits: Limits) -> Result<(), QueueFull> {
        if !self.has_room(limits) {
            return Err(QueueFull);
        }
        self.restore_enqueue(message);
        Ok(())
    }

    /// Takes every queued message whose Message Expiry Interval has passed at `now` out of the
    /// queue, wherever it is in it, since its delivery has not started [MQTT5-3.3.2-5]; calls
    /// `expired` with each QoS 1 or 2 one's position among the queue's QoS 1 and 2 messages at
    /// that moment (what the log records, see [`QueueChange::Expired`]). Answers how many left.
    ///
    /// The pump drops an expired message when it reaches the front; this is for a queue at a
    /// limit, whose expired messages would otherwise keep out live ones (an offline session's
    /// would refuse publishers) until they reached the front, at its client's return.
    pub(crate) fn drop_expired(
        &mut self,
        now: std::time::Instant,
        mut expired: impl FnMut(u32),
    ) -> usize {
        if self.earliest_expiry.is_none_or(|at| at > now) {
            return 0;
        }
        let before = self.queue.len();
        let mut position = 0u32;
        let mut earliest = None;
        self.queue.retain(|message| {
            let expires_at = message
                .properties
                .as_ref()
                .and_then(|properties| properties.expires_at);
            let qos12 = message.qos != QoS::AtMostOnce;
            if expires_at.is_some_and(|at| at <= now) {
                if qos12 {
                    expired(position);
                }
                return false;
            }
            if let Some(at) = expires_at {
                earliest =
                    Some(earliest.map_or(at, |earliest: std::time::Instant| earliest.min(at)));
            }
            position += u32::from(qos12);
            true
        });
        self.earliest_expiry = earliest;
        self.queued_bytes = self.queue.iter().map(size).sum();
        before - self.queue.len()
    }

    /// The messages this session holds, queued or in flight, and their payload bytes (for
    /// `$SYS/broker/store/messages/...`). A released QoS 2 entry holds no message any more.
    ///
    /// Also returns the number of outgoing QoS 1 and 2 messages awaiting their acknowledgement (a
    /// PUBREL-stage entry counts: its PUBCOMP is still awaited), for `$SYS/broker/messages/inflight`.
    pub(crate) fn held(&self) -> ((usize, usize), usize) {
        let awaiting = self.inflight.len();
        let in_flight = self.inflight.iter().filter_map(|entry| match entry {
            InFlight::Publish { message, .. } => Some(message.payload.len()),
            InFlight::Released { .. } => None,
        });
        let queued = self.queue.iter().map(|message| message.payload.len());
        let held = queued
            .chain(in_flight)
            .fold((0, 0), |(count, bytes), payload| {
                (count + 1, bytes + payload)
            });
        (held, awaiting)
    }

    /// Whether the queue can take another message: a shared subscription's group passes a member
    /// whose queue is full over for one that has room, rather than dropping the message.
    pub(crate) fn has_room(&self, limits: Limits) -> bool {
        (limits.max_queued == 0 || self.queue.len() < limits.max_queued)
            && (limits.max_queued_bytes == 0 || self.queued_bytes < limits.max_queued_bytes)
    }

    /// Which limit a full queue is at (`max_queued_messages` or `max_queued_bytes`), for the log
    /// line of a refusal; `None` while it has room.
    pub(crate) fn full_at(&self, limits: Limits) -> Option<&'static str> {
        if limits.max_queued != 0 && self.queue.len() >= limits.max_queued {
            Some("max_queued_messages")
        } else if limits.max_queued_bytes != 0 && self.queued_bytes >= limits.max_queued_bytes {
            Some("max_queued_bytes")
        } else {
            None
        }
    }

    /// How many messages wait in the queue.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether no message waits in the queue: a new QoS 0 message may then go straight to the
    /// writer without overtaking one.
    pub(crate) fn nothing_queued(&self) -> bool {
        self.queue.is_empty()
    }

    /// The connection ended (or was taken over): queued QoS 0 messages are not kept (3.1 §2.2 ›
    /// Clean session flag).
    pub(crate) fn forget_qos0(&mut self) {
        self.queue.retain(|message| message.qos != QoS::AtMostOnce);
        self.queued_bytes = self.queue.iter().map(size).sum();
    }

    /// Sends what can be sent: first window entries not yet sent on this connection, in order, then
    /// queued messages while the window has room. `send` hands one packet to the writer and answers
    /// false when the writer's channel is full; everything after that waits for the next call.
    #[cfg(test)]
    pub(crate) fn pump(&mut self, limits: Limits, send: impl FnMut(OutPacket) -> bool) {
        self.pump_with(limits, None, |_| {}, send);
    }

    /// [`pump`](Self::pump), calling `changed` when a queued QoS 1 or 2 message takes a packet
    /// identifier (before it is handed to `send`) or expires: the persistent store logs both
    /// there, so that its replay takes the same messages out of the queue.
    ///
    /// With `now`, a 5.0 message whose Message Expiry Interval has passed while it was queued is
    /// dropped when it reaches the front, before any onward delivery starts [MQTT5-3.3.2-5]; one
    /// already in the window is not [MQTT5-4.3.3-7].
    pub(crate) fn pump_with(
        &mut self,
        limits: Limits,
        now: Option<std::time::Instant>,
        mut changed: impl FnMut(QueueChange),
        mut send: impl FnMut(OutPacket) -> bool,
    ) {
        debug_assert_eq!(
            self.unsent,
            self.inflight
                .iter()
                .filter(|entry| !entry.is_sent())
                .count(),
            "the count of unsent window entries is kept up to date"
        );
        if self.unsent > 0 {
            for entry in &mut self.inflight {
                if !*entry.sent() {
                    if !send(entry.packet()) {
                        return;
                    }
                    *entry.sent() = true;
                    self.unsent -= 1;
                    if let InFlight::Publish { dup, .. } = entry {
                        *dup = true;
                    }
                }
            }
        }
        let window = if limits.max_inflight == 0 {
            usize::from(u16::MAX)
        } else {
            limits.max_inflight.min(usize::from(u16::MAX))
        };
        while let Some(front) = self.queue.front() {
            if let (Some(now), Some(properties)) = (now, &front.properties)
                && properties.expired(now)
            {
                if let Some(expired) = self.queue.pop_front() {
                    self.queued_bytes -= size(&expired);
                    if expired.qos != QoS::AtMostOnce {
                        changed(QueueChange::Expired(0));
                    }
                }
                continue;
            }
            if front.qos == QoS::AtMostOnce {
                // No identifier and no window slot: it is sent, or it stays at the front.
                let packet = OutPacket::Publish {
                    message: front.clone(),
                    delivery: Delivery::AtMostOnce,
                };
                if !send(packet) {
                    return;
                }
                if let Some(sent) = self.queue.pop_front() {
                    self.queued_bytes -= size(&sent);
                }
                continue;
            }
            if self.inflight.len() >= window {
                return;
            }
            if limits.max_inflight_bytes != 0 {
                let in_flight: usize = self.inflight.iter().map(InFlight::bytes).sum();
                if in_flight != 0 && in_flight + size(front) > limits.max_inflight_bytes {
                    return;
                }
            }
            let Some(message) = self.queue.pop_front() else {
                return;
            };
            self.queued_bytes -= size(&message);
            let packet_id = self.fresh_packet_id();
            changed(QueueChange::Assigned(packet_id));
            let sent = send(publish_packet(&message, packet_id, false));
            self.inflight.push_back(InFlight::Publish {
                packet_id,
                message,
                sent,
                dup: sent,
            });
            if !sent {
                self.unsent += 1;
            }
            if !sent {
                return;
            }
        }
    }

    /// A persistent session is resumed on a new connection: every unacknowledged PUBLISH (with DUP
    /// set if it was sent before [MQTT-3.3.1-1]) and every unanswered PUBREL is to be sent again, with
    /// its original identifier and in its original order [MQTT-4.4.0-1] [MQTT-4.6.0-1], by the next
    /// [`pump`](Self::pump).
    pub(crate) fn resume(&mut self) {
        self.forget_qos0();
        for entry in &mut self.inflight {
            *entry.sent() = false;
        }
        self.unsent = self.inflight.len();
    }

    /// PUBACK: the QoS 1 delivery `packet_id` is complete [MQTT-4.3.2-1].
    pub(crate) fn puback(&mut self, packet_id: PacketId) -> Result<(), AckError> {
        self.expect(packet_id, Expected::PubAck)?;
        self.remove_if(packet_id, |_| true);
        Ok(())
    }

    /// PUBREC: the QoS 2 delivery `packet_id` was received; answer PUBREL and never send the PUBLISH
    /// again [MQTT-4.3.3-1]. A repeated PUBREC gets the PUBREL again.
    pub(crate) fn pubrec(&mut self, packet_id: PacketId) -> Result<OutPacket, AckError> {
        let index = self.position(packet_id).ok_or(AckError::Unknown)?;
        let Some(entry) = self.inflight.get_mut(index) else {
            return Err(AckError::Unknown);
        };
        match entry.expected() {
            Expected::PubRec => {
                if !entry.is_sent() {
                    self.unsent -= 1;
                }
                // The PUBREL is sent by the caller now, so it counts as sent.
                *entry = InFlight::Released {
                    packet_id,
                    sent: true,
                };
                Ok(OutPacket::PubRel(packet_id))
            }
            // A PUBREC repeated after our PUBREL was lost: the receiver still waits for it.
            Expected::PubComp => Ok(OutPacket::PubRel(packet_id)),
            Expected::PubAck => Err(AckError::WrongStep(Expected::PubAck)),
        }
    }

    /// A 5.0 PUBREC with a failure Reason Code: the QoS 2 delivery `packet_id` ends there, as
    /// acknowledged, with no PUBREL and never sent again [MQTT5-4.4.0-2].
    pub(crate) fn pubrec_refused(&mut self, packet_id: PacketId) -> Result<(), AckError> {
        self.expect(packet_id, Expected::PubRec)?;
        self.remove_if(packet_id, |_| true);
        Ok(())
    }

    /// PUBCOMP: the QoS 2 delivery `packet_id` is complete [MQTT-4.3.3-1].
    pub(crate) fn pubcomp(&mut self, packet_id: PacketId) -> Result<(), AckError> {
        self.expect(packet_id, Expected::PubComp)?;
        self.remove_if(packet_id, |_| true);
        Ok(())
    }

    /// Checks that the in-flight entry `packet_id` waits for `wanted`.
    fn expect(&self, packet_id: PacketId, wanted: Expected) -> Result<(), AckError> {
        let index = self.position(packet_id).ok_or(AckError::Unknown)?;
        match self.inflight.get(index).map(InFlight::expected) {
            Some(expected) if expected == wanted => Ok(()),
            Some(expected) => Err(AckError::WrongStep(expected)),
            None => Err(AckError::Unknown),
        }
    }

    fn position(&self, packet_id: PacketId) -> Option<usize> {
        self.inflight
            .iter()
            .position(|entry| entry.packet_id() == packet_id)
    }

    /// Takes out the QoS 1 and 2 messages that came through a shared subscription and that the
    /// client has not acknowledged: queued ones, and window entries still waiting for PUBACK or
    /// PUBREC. A member whose session ends gives them back to its group (see `routing/shared.rs`); a message
    /// past PUBREC was received and stays. So does a QoS 2 PUBLISH already sent to the member: its
    /// delivery was under way, and it must not go to another member [MQTT5-4.8.2-5].
    pub(crate) fn take_shared(&mut self) -> Vec<Message> {
        let mut taken = Vec::new();
        let given_back = |message: &Message, sent: bool, dup: bool| {
            message.shared.is_some() && !(message.qos == QoS::ExactlyOnce && (sent || dup))
        };
        if self.inflight.iter().any(|entry| {
            matches!(entry, InFlight::Publish { message, sent, dup, .. } if given_back(message, *sent, *dup))
        }) {
            let mut kept = VecDeque::with_capacity(self.inflight.len());
            for entry in self.inflight.drain(..) {
                match entry {
                    InFlight::Publish {
                        message, sent, dup, ..
                    } if given_back(&message, sent, dup) => {
                        if !sent {
                            self.unsent -= 1;
                        }
                        taken.push(message);
                    }
                    other => kept.push_back(other),
                }
            }
            self.inflight = kept;
        }
        let (shared, own): (VecDeque<Message>, VecDeque<Message>) = self
            .queue
            .drain(..)
            .partition(|message| message.shared.is_some() && message.qos != QoS::AtMostOnce);
        self.queue = own;
        self.queued_bytes = self.queue.iter().map(size).sum();
        taken.extend(shared);
        taken
    }

    /// An inbound QoS 2 PUBLISH: true the first time `packet_id` is seen, when the message is to be
    /// delivered; false for a duplicate before PUBREL, which must not be [MQTT-4.3.3-2].
    /// Until [`routed_qos2`](Self::routed_qos2), the identifier counts as being routed.
    pub(crate) fn receive_qos2(&mut self, packet_id: PacketId) -> bool {
        let first = self.inbound_qos2.insert(packet_id);
        if first {
            self.routing_qos2.insert(packet_id);
        }
        first
    }

    /// The message of `packet_id` reached every subscriber: true if the identifier still awaits
    /// PUBREL (a clean take-over may have discarded it meanwhile), when its `Received` record is due.
    pub(crate) fn routed_qos2(&mut self, packet_id: PacketId) -> bool {
        self.routing_qos2.remove(&packet_id) && self.inbound_qos2.contains(&packet_id)
    }

    /// Replay: a logged `Received`.
    pub(crate) fn restore_received(&mut self, packet_id: PacketId) {
        self.inbound_qos2.insert(packet_id);
    }

    /// An inbound PUBREL: the identifier may be used for a new message from now on [MQTT-4.3.3-2].
    /// The caller answers PUBCOMP whether or not the identifier was known.
    pub(crate) fn release_qos2(&mut self, packet_id: PacketId) -> bool {
        self.routing_qos2.remove(&packet_id);
        self.inbound_qos2.remove(&packet_id)
    }

    /// Replay: a logged [`enqueue`](Self::enqueue), which was within the limit when it happened.
    pub(crate) fn restore_enqueue(&mut self, message: Message) {
        if let Some(at) = message
            .properties
            .as_ref()
            .and_then(|properties| properties.expires_at)
        {
            self.earliest_expiry =
                Some(self.earliest_expiry.map_or(at, |earliest| earliest.min(at)));
        }
        self.queued_bytes += size(&message);
        self.queue.push_back(message);
    }

    /// Replay: the front of the queue took `packet_id`. It may have been sent before the restart, so
    /// it is re-sent with DUP set [MQTT-3.3.1-1].
    pub(crate) fn restore_assign(&mut self, packet_id: PacketId) {
        if let Some(message) = self.queue.pop_front() {
            self.queued_bytes -= size(&message);
            self.inflight.push_back(InFlight::Publish {
                packet_id,
                message,
                sent: false,
                dup: true,
            });
            self.unsent += 1;
        }
        self.last_packet_id = packet_id;
    }

    /// Replay: the QoS 1 or 2 message at `position` among the queue's (the replayed queue holds
    /// no others) expired before it was sent.
    pub(crate) fn restore_expired(&mut self, position: u32) {
        let index = self
            .queue
            .iter()
            .enumerate()
            .filter(|(_, message)| message.qos != QoS::AtMostOnce)
            .nth(position as usize)
            .map(|(index, _)| index);
        if let Some(message) = index.and_then(|index| self.queue.remove(index)) {
            self.queued_bytes -= size(&message);
        }
    }

    /// Replay: PUBACK or PUBCOMP completed `packet_id`.
    pub(crate) fn restore_complete(&mut self, packet_id: PacketId) {
        self.remove_if(packet_id, |_| true);
    }

    /// Replay of a snapshot: a window entry, a PUBLISH if `message` is given, else a PUBREL.
    pub(crate) fn restore_inflight(&mut self, packet_id: PacketId, message: Option<Message>) {
        self.unsent += 1;
        self.inflight.push_back(match message {
            Some(message) => InFlight::Publish {
                packet_id,
                message,
                sent: false,
                dup: true,
            },
            None => InFlight::Released {
                packet_id,
                sent: false,
            },
        });
    }

    /// Replay of a snapshot: the last identifier assigned.
    pub(crate) fn restore_last_id(&mut self, packet_id: PacketId) {
        self.last_packet_id = packet_id;
    }

    /// The records that rebuild this state from nothing, for a snapshot.
    pub(crate) fn snapshot(&self, client_id: &Arc<str>, out: &mut Vec<Record>) {
        for (filter, qos) in &self.subscriptions {
            out.push(Record::Subscribe {
                client_id: Arc::clone(client_id),
                filter: filter.clone(),
                qos: *qos,
            });
            if let Some(options) = self.options5.get(filter) {
                out.push(Record::Options5 {
                    client_id: Arc::clone(client_id),
                    filter: filter.clone(),
                    options: *options,
                });
            }
        }
        for entry in &self.inflight {
            out.push(Record::InFlight {
                client_id: Arc::clone(client_id),
                packet_id: entry.packet_id(),
                message: match entry {
                    InFlight::Publish { message, .. } => Some(message.clone()),
                    InFlight::Released { .. } => None,
                },
            });
        }
        // Queued QoS 0 messages are not logged (see the module doc), so they are not in the snapshot.
        for message in self.queue.iter().filter(|m| m.qos != QoS::AtMostOnce) {
            out.push(Record::Enqueue {
                client_id: Arc::clone(client_id),
                message: message.clone(),
            });
        }
        for packet_id in self.inbound_qos2.difference(&self.routing_qos2) {
            out.push(Record::Received {
                client_id: Arc::clone(client_id),
                packet_id: *packet_id,
            });
        }
        out.push(Record::LastId {
            client_id: Arc::clone(client_id),
            packet_id: self.last_packet_id,
        });
    }

    /// Messages in the window.
    #[cfg(test)]
    pub(crate) fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// An identifier not used by any message in the window [MQTT-2.3.1-4]. The window holds at most
    /// 65 535 entries (see `pump`), so one is always free when this is called.
    fn fresh_packet_id(&mut self) -> PacketId {
        let mut candidate = self.last_packet_id.next();
        for _ in 0..u16::MAX {
            if !self
                .inflight
                .iter()
                .any(|entry| entry.packet_id() == candidate)
            {
                break;
            }
            candidate = candidate.next();
        }
        self.last_packet_id = candidate;
        candidate
    }

    fn remove_if(&mut self, packet_id: PacketId, wanted: impl Fn(&InFlight) -> bool) -> bool {
        let position = self
            .inflight
            .iter()
            .position(|entry| entry.packet_id() == packet_id && wanted(entry));
        let Some(removed) = position.and_then(|index| self.inflight.remove(index)) else {
            return false;
        };
        if !removed.is_sent() {
            self.unsent -= 1;
        }
        true
    }
}

fn publish_packet(message: &Message, packet_id: PacketId, dup: bool) -> OutPacket {
    OutPacket::Publish {
        message: message.clone(),
        delivery: Delivery::new(message.qos, packet_id, dup),
    }
}

/// Start-up: the persistent store replays each of this session's records here, in log order. The
/// rules are the live ones (`pubrec`, `release_qos2`, ...) or their `restore_*` twins, so a restored
/// session is in the state the same changes made live.
impl ReplayedState for SessionState {
    fn replay(&mut self, record: Record) {
        match record {
            Record::Subscribe { filter, qos, .. } => {
                self.subscriptions.insert(filter, qos);
            }
            Record::Unsubscribe { filter, .. } => {
                self.subscriptions.remove(&filter);
                self.options5.remove(&filter);
            }
            Record::Options5 {
                filter, options, ..
            } => {
                self.options5.insert(filter, options);
            }
            Record::Enqueue { message, .. } => self.restore_enqueue(message),
            Record::Assign { packet_id, .. } => self.restore_assign(packet_id),
            Record::Expired { position, .. } => self.restore_expired(position),
            Record::Released { packet_id, .. } => {
                let _ = self.pubrec(packet_id);
            }
            Record::Completed { packet_id, .. } => self.restore_complete(packet_id),
            Record::Received { packet_id, .. } => self.restore_received(packet_id),
            Record::Freed { packet_id, .. } => {
                self.release_qos2(packet_id);
            }
            Record::InFlight {
                packet_id, message, ..
            } => self.restore_inflight(packet_id, message),
            Record::LastId { packet_id, .. } => self.restore_last_id(packet_id),
            // Not changes of one session's state: the replay keeps them itself.
            Record::Retain(_)
            | Record::Session { .. }
            | Record::Session5 { .. }
            | Record::Detached { .. }
            | Record::Forget { .. }
            | Record::SessionMark { .. }
            | Record::RetainedMark { .. }
            | Record::End
            | Record::GroupBegin
            | Record::GroupEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 5.0 message queued past its Message Expiry Interval is not delivered; one still in time
    /// is [MQTT5-3.3.2-5].
    #[test]
    fn an_expired_queued_message_is_not_delivered_mqtt5_3_3_2_5() {
        use std::time::{Duration, Instant};
        let start = Instant::now();
        let expiring = |payload: &str, seconds| {
            let mut message = message(payload, QoS::AtLeastOnce);
            message.properties = Some(Arc::new(crate::message::MessageProperties {
                message_expiry: Some(seconds),
                expires_at: Some(start + Duration::from_secs(u64::from(seconds))),
                ..Default::default()
            }));
            message
        };
        let mut state = SessionState::default();
        for message in [expiring("old", 1), expiring("fresh", 60)] {
            assert_eq!(state.enqueue(message, LIMITS), Ok(()));
        }
        let mut sent = Vec::new();
        let later = start + Duration::from_secs(2);
        state.pump_with(
            LIMITS,
            Some(later),
            |_| {},
            |packet| {
                sent.push(packet);
                true
            },
        );
        let payloads: Vec<&[u8]> = sent
            .iter()
            .filter_map(|packet| match packet {
                OutPacket::Publish { message, .. } => Some(&message.payload[..]),
                _ => None,
            })
            .collect();
        assert_eq!(payloads, [&b"fresh"[..]]);
    }

    /// A full queue lets go of every message that expired in it, not only one at the front, and
    /// reports each QoS 1/2 one's position as the log records it; replaying those positions in
    /// order leaves the same queue [MQTT5-3.3.2-5]. A queue with nothing that expires is not
    /// looked through. The clock is made up.
    #[test]
    fn a_full_queue_lets_go_of_its_expired_messages_wherever_they_are_mqtt5_3_3_2_5() {
        use std::time::{Duration, Instant};
        let start = Instant::now();
        let expiring = |payload: &str, qos, seconds| {
            let mut message = message(payload, qos);
            message.properties = Some(Arc::new(crate::message::MessageProperties {
                message_expiry: Some(seconds),
                expires_at: Some(start + Duration::from_secs(u64::from(seconds))),
                ..Default::default()
            }));
            message
        };
        let queued = [
            expiring("live", QoS::AtLeastOnce, 60),
            expiring("dead1", QoS::AtLeastOnce, 1),
            expiring("dead0", QoS::AtMostOnce, 1),
            expiring("dead2", QoS::ExactlyOnce, 1),
            message("plain", QoS::AtLeastOnce),
        ];
        let limits = Limits {
            max_queued: queued.len(),
            ..LIMITS
        };
        let mut live = SessionState::default();
        for message in queued.clone() {
            assert_eq!(live.enqueue(message, limits), Ok(()));
        }
        assert!(!live.has_room(limits));
        let mut positions = Vec::new();
        assert_eq!(
            live.drop_expired(start, |p| positions.push(p)),
            0,
            "not yet"
        );
        let later = start + Duration::from_secs(2);
        assert_eq!(live.drop_expired(later, |p| positions.push(p)), 3);
        assert_eq!(
            positions,
            [1, 1],
            "dead1, then dead2 where dead1 was; QoS 0 unlogged"
        );
        assert!(live.has_room(limits));
        assert_eq!(live.queued(), 2);
        assert_eq!(
            live.drop_expired(later, |_| panic!("nothing left to expire")),
            0
        );

        let mut replayed = SessionState::default();
        let client_id: Arc<str> = "c".into();
        for message in queued.into_iter().filter(|m| m.qos != QoS::AtMostOnce) {
            replayed.replay(Record::Enqueue {
                client_id: Arc::clone(&client_id),
                message,
            });
        }
        for position in positions {
            replayed.replay(Record::Expired {
                client_id: Arc::clone(&client_id),
                position,
            });
        }
        let payloads = |state: &mut SessionState| {
            let mut sent = Vec::new();
            state.pump(LIMITS, |packet| {
                if let OutPacket::Publish { message, .. } = packet {
                    sent.push(message.payload.to_vec());
                }
                true
            });
            sent
        };
        assert_eq!(payloads(&mut replayed), payloads(&mut live));
        assert_eq!(
            payloads(&mut SessionState::default()),
            Vec::<Vec<u8>>::new()
        );
    }

    /// With persistence, a message that expires in the queue is logged as it leaves, like an
    /// assignment, so that the replay takes the same messages out of the queue and gives the
    /// identifier to the one that was sent [MQTT5-3.3.2-5]. (Queued messages used not to expire
    /// at all with persistence, for want of this.) The clock is made up.
    #[test]
    fn an_expiry_in_the_queue_is_replayed_like_an_assignment_mqtt5_3_3_2_5() {
        use std::time::{Duration, Instant};
        let start = Instant::now();
        let expiring = |payload: &str, seconds| {
            let mut message = message(payload, QoS::AtLeastOnce);
            message.properties = Some(Arc::new(crate::message::MessageProperties {
                message_expiry: Some(seconds),
                expires_at: Some(start + Duration::from_secs(u64::from(seconds))),
                ..Default::default()
            }));
            message
        };
        let queued = [expiring("old", 1), expiring("fresh", 60)];
        let mut live = SessionState::default();
        for message in queued.clone() {
            assert_eq!(live.enqueue(message, LIMITS), Ok(()));
        }
        let mut changes = Vec::new();
        live.pump_with(
            LIMITS,
            Some(start + Duration::from_secs(2)),
            |change| changes.push(change),
            |_| true,
        );
        let Some(&QueueChange::Assigned(packet_id)) = changes.get(1) else {
            panic!("an expiry, then an assignment: {changes:?}");
        };
        assert_eq!(changes[0], QueueChange::Expired(0));

        let mut replayed = SessionState::default();
        let client_id: Arc<str> = "c".into();
        for message in queued {
            replayed.replay(Record::Enqueue {
                client_id: Arc::clone(&client_id),
                message,
            });
        }
        replayed.replay(Record::Expired {
            client_id: Arc::clone(&client_id),
            position: 0,
        });
        replayed.replay(Record::Assign {
            client_id,
            packet_id,
        });
        assert_eq!((replayed.queued(), replayed.inflight()), (0, 1));
        let mut resent = Vec::new();
        replayed.pump(LIMITS, |packet| {
            resent.push(packet);
            true
        });
        assert!(
            matches!(&resent[..], [OutPacket::Publish { message, .. }] if &message.payload[..] == b"fresh"),
            "{resent:?}"
        );
    }

    #[test]
    fn max_queued_bytes_bounds_the_queue_in_bytes_and_an_empty_queue_takes_any_message() {
        let limits = Limits {
            max_inflight: 1,
            max_queued: 0,
            max_queued_bytes: 10,
            ..LIMITS
        };
        let mut state = SessionState::default();
        // Topic "t" and 4 bytes: 5 each; the third finds 10 queued and is refused.
        for payload in ["aaaa", "bbbb"] {
            assert_eq!(
                state.enqueue(message(payload, QoS::AtLeastOnce), limits),
                Ok(())
            );
        }
        assert_eq!(
            state.enqueue(message("cccc", QoS::AtLeastOnce), limits),
            Err(QueueFull)
        );
        assert!(!state.has_room(limits));
        assert_eq!(state.full_at(limits), Some("max_queued_bytes"));
        // One leaves for the window: room again.
        state.pump(limits, |_| true);
        assert!(state.has_room(limits));
        // A message bigger than the limit enters an empty queue.
        let mut empty = SessionState::default();
        let big = message(&"x".repeat(100), QoS::AtLeastOnce);
        assert_eq!(empty.enqueue(big, limits), Ok(()));
    }

    const LIMITS: Limits = Limits {
        max_inflight: 2,
        max_inflight_bytes: 0,
        max_queued: 3,
        drop_when_full: true,
        max_queued_bytes: 0,
        stall: std::time::Duration::from_secs(30),
    };

    fn message(payload: &str, qos: QoS) -> Message {
        Message::new("t", payload.as_bytes(), qos, false)
    }

    fn id(value: u16) -> PacketId {
        PacketId::new(value).unwrap_or(LAST_ID)
    }

    /// Pumps with a writer that always has room, and returns what it was given.
    fn pump_all(state: &mut SessionState) -> Vec<OutPacket> {
        let mut sent = Vec::new();
        state.pump(LIMITS, |packet| {
            sent.push(packet);
            true
        });
        sent
    }

    fn publish_ids(packets: &[OutPacket]) -> Vec<(u16, bool)> {
        packets
            .iter()
            .filter_map(|packet| match packet {
                OutPacket::Publish { delivery, .. } => {
                    Some((delivery.packet_id()?.get(), delivery.dup()))
                }
                _ => None,
            })
            .collect()
    }

    /// `max_inflight_bytes`: the window fills at that many bytes even with slots free; an
    /// acknowledgement makes room; a message larger than the limit still goes alone.
    #[test]
    fn max_inflight_bytes_bounds_the_window_in_bytes() {
        let limits = Limits {
            max_inflight: 10,
            max_inflight_bytes: 10,
            max_queued: 0,
            ..LIMITS
        };
        let mut state = SessionState::default();
        // Topic "t" and 4 bytes: 5 each, so two fill the 10 bytes.
        for payload in ["aaaa", "bbbb", "cccc", "a much larger payload"] {
            assert_eq!(
                state.enqueue(message(payload, QoS::AtLeastOnce), limits),
                Ok(())
            );
        }
        let mut sent = Vec::new();
        state.pump(limits, |packet| {
            sent.push(packet);
            true
        });
        assert_eq!(publish_ids(&sent), [(1, false), (2, false)]);
        assert_eq!(state.puback(id(1)), Ok(()));
        assert_eq!(state.puback(id(2)), Ok(()));
        sent.clear();
        state.pump(limits, |packet| {
            sent.push(packet);
            true
        });
        // "cccc" goes; the large one waits for an empty window, then goes alone.
        assert_eq!(publish_ids(&sent), [(3, false)]);
        assert_eq!(state.puback(id(3)), Ok(()));
        sent.clear();
        state.pump(limits, |packet| {
            sent.push(packet);
            true
        });
        assert_eq!(publish_ids(&sent), [(4, false)]);
    }

    #[test]
    fn window_holds_at_most_max_inflight_then_acks_free_slots() {
        let mut state = SessionState::default();
        for payload in ["a", "b", "c"] {
            assert_eq!(
                state.enqueue(message(payload, QoS::AtLeastOnce), LIMITS),
                Ok(())
            );
        }
        assert_eq!(publish_ids(&pump_all(&mut state)), [(1, false), (2, false)]);
        assert_eq!((state.inflight(), state.queued()), (2, 1));
        assert_eq!(state.puback(id(1)), Ok(()));
        assert_eq!(publish_ids(&pump_all(&mut state)), [(3, false)]);
    }

    #[test]
    fn take_shared_gives_back_unacknowledged_group_messages_only() {
        let origin = crate::message::SharedOrigin {
            group: std::sync::Arc::new(("g".into(), "t".into())),
            qos: QoS::ExactlyOnce,
        };
        let from_group = |payload: &str, qos| Message {
            shared: Some(origin.clone()),
            ..message(payload, qos)
        };
        let limits = Limits {
            max_inflight: 3,
            max_queued: 0,
            ..LIMITS
        };
        let mut state = SessionState::default();
        for queued in [
            from_group("received", QoS::ExactlyOnce),
            message("own", QoS::AtLeastOnce),
            from_group("in flight", QoS::AtLeastOnce),
            from_group("queued", QoS::AtLeastOnce),
            from_group("qos 0", QoS::AtMostOnce),
        ] {
            assert_eq!(state.enqueue(queued, limits), Ok(()));
        }
        // The writer takes two packets: "in flight" gets its identifier but waits unsent.
        let mut sent = 0;
        state.pump(limits, |_| {
            sent += 1;
            sent <= 2
        });
        assert!(state.pubrec(id(1)).is_ok(), "past PUBREC: received");
        let taken: Vec<_> = state
            .take_shared()
            .iter()
            .map(|message| message.payload.to_vec())
            .collect();
        assert_eq!(taken, [b"in flight".to_vec(), b"queued".to_vec()]);
        assert_eq!(
            (state.inflight(), state.queued()),
            (2, 1),
            "PUBREL, own; qos 0"
        );
        // The count of unsent window entries was kept (`pump` checks it): only QoS 0 is left.
        let left = pump_all(&mut state);
        assert_eq!((left.len(), publish_ids(&left).len()), (1, 0));
    }

    /// A QoS 2 delivery already sent to a member whose session ends goes with the session: it must
    /// not reach another member, which would make two deliveries of it; a QoS 2 one not sent yet
    /// is given back like any other.
    #[test]
    fn take_shared_keeps_a_sent_qos_2_delivery_mqtt5_4_8_2_5() {
        let origin = crate::message::SharedOrigin {
            group: std::sync::Arc::new(("g".into(), "t".into())),
            qos: QoS::ExactlyOnce,
        };
        let from_group = |payload: &str| Message {
            shared: Some(origin.clone()),
            ..message(payload, QoS::ExactlyOnce)
        };
        let limits = Limits {
            max_inflight: 2,
            max_queued: 0,
            ..LIMITS
        };
        let mut state = SessionState::default();
        for queued in [from_group("sent"), from_group("unsent")] {
            assert_eq!(state.enqueue(queued, limits), Ok(()));
        }
        // The writer takes one packet: "unsent" gets its identifier but waits.
        let mut sent = 0;
        state.pump(limits, |_| {
            sent += 1;
            sent <= 1
        });
        let taken: Vec<_> = state
            .take_shared()
            .iter()
            .map(|message| message.payload.to_vec())
            .collect();
        assert_eq!(taken, [b"unsent".to_vec()]);
        assert_eq!(state.inflight(), 1, "the sent one stays, with the session");
    }

    #[test]
    fn a_full_queue_refuses_the_newest_message() {
        let mut state = SessionState::default();
        for payload in ["a", "b", "c"] {
            assert_eq!(
                state.enqueue(message(payload, QoS::AtLeastOnce), LIMITS),
                Ok(())
            );
        }
        assert_eq!(
            state.enqueue(message("d", QoS::AtLeastOnce), LIMITS),
            Err(QueueFull)
        );
        assert_eq!(state.full_at(LIMITS), Some("max_queued_messages"));
    }

    #[test]
    fn queued_qos_0_needs_no_window_slot_keeps_its_place_and_is_not_kept_offline() {
        let mut state = SessionState::default();
        // pump_all uses LIMITS (a window of 2); the queue here holds 4.
        let roomy = Limits {
            max_queued: 4,
            ..LIMITS
        };
        for (payload, qos) in [
            ("a", QoS::AtLeastOnce),
            ("b", QoS::AtLeastOnce),
            ("c", QoS::AtLeastOnce),
            ("d", QoS::AtMostOnce),
        ] {
            assert_eq!(state.enqueue(message(payload, qos), roomy), Ok(()));
        }
        // The window (2) fills; "c" waits for a slot, and "d" waits behind it, in order.
        assert_eq!(pump_all(&mut state).len(), 2);
        assert_eq!(state.queued(), 2);
        assert_eq!(state.puback(id(1)), Ok(()));
        let sent = pump_all(&mut state);
        assert_eq!(publish_ids(&sent), [(3, false)]);
        assert!(
            matches!(&sent[..], [_, OutPacket::Publish { message, delivery: Delivery::AtMostOnce }] if &*message.payload == b"d"),
            "the QoS 0 message follows without a packet identifier: {sent:?}"
        );
        // A channel with no room leaves it at the front.
        assert_eq!(state.enqueue(message("e", QoS::AtMostOnce), roomy), Ok(()));
        state.pump(LIMITS, |_| false);
        assert_eq!(state.queued(), 1);
        // Not kept once the connection is gone, nor in a snapshot.
        let mut records = Vec::new();
        state.snapshot(&Arc::from("c"), &mut records);
        assert!(!records.iter().any(|r| matches!(r, Record::Enqueue { .. })));
        state.resume();
        assert_eq!(state.queued(), 0);
    }

    #[test]
    fn resume_resends_with_dup_in_order_mqtt_4_4_0_1() {
        let mut state = SessionState::default();
        for (payload, qos) in [("a", QoS::AtLeastOnce), ("b", QoS::ExactlyOnce)] {
            assert_eq!(state.enqueue(message(payload, qos), LIMITS), Ok(()));
        }
        pump_all(&mut state);
        assert!(
            pump_all(&mut state).is_empty(),
            "nothing is sent twice on one connection"
        );
        state.resume();
        assert_eq!(publish_ids(&pump_all(&mut state)), [(1, true), (2, true)]);
        // After PUBREC only the PUBREL is re-sent, never the PUBLISH [MQTT-4.3.3-1].
        assert_eq!(state.pubrec(id(2)), Ok(OutPacket::PubRel(id(2))));
        state.resume();
        assert_eq!(
            pump_all(&mut state),
            [
                publish_packet(&message("a", QoS::AtLeastOnce), id(1), true),
                OutPacket::PubRel(id(2))
            ]
        );
        assert_eq!(state.pubcomp(id(2)), Ok(()));
        assert_eq!(state.puback(id(1)), Ok(()));
        state.resume();
        assert!(pump_all(&mut state).is_empty());
    }

    #[test]
    fn an_unsent_message_is_sent_later_without_dup() {
        let mut state = SessionState::default();
        assert_eq!(
            state.enqueue(message("a", QoS::AtLeastOnce), LIMITS),
            Ok(())
        );
        state.pump(LIMITS, |_| false);
        assert_eq!(state.inflight(), 1);
        assert_eq!(publish_ids(&pump_all(&mut state)), [(1, false)]);
        assert!(pump_all(&mut state).is_empty());
    }

    /// An acknowledgement of the wrong kind for an identifier in flight is refused as a protocol
    /// violation [MQTT-4.8.0-1], naming what the identifier waits for; one for an unknown
    /// identifier is only unknown. Neither changes anything.
    #[test]
    fn acks_of_the_wrong_kind_or_unknown_ids_change_nothing_mqtt_4_8_0_1() {
        let mut state = SessionState::default();
        assert_eq!(
            state.enqueue(message("a", QoS::ExactlyOnce), LIMITS),
            Ok(())
        );
        assert_eq!(
            state.enqueue(message("b", QoS::AtLeastOnce), LIMITS),
            Ok(())
        );
        pump_all(&mut state);
        let wrong = |expected| Err(AckError::WrongStep(expected));
        // id 1 is QoS 2 waiting for PUBREC [MQTT-4.3.3-1], id 2 QoS 1 waiting for PUBACK
        // [MQTT-4.3.2-1].
        assert_eq!(state.puback(id(1)), wrong(Expected::PubRec));
        assert_eq!(state.pubcomp(id(1)), wrong(Expected::PubRec));
        assert_eq!(
            state.pubrec(id(2)),
            Err(AckError::WrongStep(Expected::PubAck))
        );
        assert_eq!(state.pubcomp(id(2)), wrong(Expected::PubAck));
        assert_eq!(state.puback(id(9)), Err(AckError::Unknown));
        assert_eq!(state.pubcomp(id(9)), Err(AckError::Unknown));
        assert_eq!(state.pubrec(id(9)), Err(AckError::Unknown));
        assert_eq!(state.inflight(), 2);
        // After PUBREC, id 1 waits for PUBCOMP: PUBACK is the wrong step, a repeated PUBREC is
        // answered with PUBREL again.
        assert_eq!(state.pubrec(id(1)), Ok(OutPacket::PubRel(id(1))));
        assert_eq!(state.puback(id(1)), wrong(Expected::PubComp));
        assert_eq!(state.pubrec(id(1)), Ok(OutPacket::PubRel(id(1))));
        assert_eq!(state.pubcomp(id(1)), Ok(()));
        assert_eq!(state.puback(id(2)), Ok(()));
        assert_eq!(state.inflight(), 0);
    }

    #[test]
    fn inbound_qos_2_is_delivered_once_until_released_mqtt_4_3_3_2() {
        let mut state = SessionState::default();
        assert!(state.receive_qos2(id(7)));
        assert!(!state.receive_qos2(id(7)));
        assert!(state.release_qos2(id(7)));
        assert!(!state.release_qos2(id(7)));
        assert!(state.receive_qos2(id(7)));
    }

    #[test]
    fn identifiers_in_use_are_skipped_mqtt_2_3_1_4() {
        let mut state = SessionState {
            last_packet_id: id(u16::MAX - 1),
            ..SessionState::default()
        };
        let limits = Limits {
            max_inflight: 3,
            max_queued: 0,
            ..LIMITS
        };
        for payload in ["a", "b"] {
            assert_eq!(
                state.enqueue(message(payload, QoS::AtLeastOnce), limits),
                Ok(())
            );
        }
        let mut sent = Vec::new();
        state.pump(limits, |packet| {
            sent.push(packet);
            true
        });
        assert_eq!(publish_ids(&sent), [(u16::MAX, false), (1, false)]);
        state.last_packet_id = id(u16::MAX - 1);
        assert_eq!(
            state.enqueue(message("c", QoS::AtLeastOnce), limits),
            Ok(())
        );
        sent.clear();
        state.pump(limits, |packet| {
            sent.push(packet);
            true
        });
        assert_eq!(publish_ids(&sent), [(2, false)]);
    }
}

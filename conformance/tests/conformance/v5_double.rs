//! Broken MQTT 5.0 servers for the tests: a TCP relay in front of a real mosquitto, transparent by
//! default, with one [`Fault`] switch that rewrites, drops or injects the bytes of one rule.
//!
//! A relay rather than a second 5.0 broker of our own (as `double.rs` is for 3.1.1): writing one
//! would be writing the broker under test again, while mosquitto already does the 5.0 work, and
//! breaking one rule of it from outside is a few lines per rule. Packets are read and rewritten
//! with `mqtt-codec`'s `v5` module; those it refuses are passed on unchanged (the hostile bytes of
//! the malformed checks) unless the fault is [`Fault::IgnoreMalformed`].

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mqtt_codec::v5::{self, Packet, Properties, Property, ReasonCode};
use mqtt_codec::{List, Status};

/// One rule the relay breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Fault {
    /// Breaks nothing.
    #[default]
    None,
    // CONNECT and CONNACK.
    /// CONNACK in the 3.1.1 shape, without properties.
    ConnackV311Shape,
    /// No Assigned Client Identifier in CONNACK.
    StripAssignedClientId,
    /// Session Present always 0.
    SessionPresentZero,
    /// Every CONNECT is sent on with Clean Start 0: stored sessions are never discarded.
    CleanStartOff,
    /// A CONNECT without Session Expiry Interval gets the longest one: sessions never end.
    SessionExpiryForever,
    /// Response Information in every CONNACK, asked for or not.
    InjectResponseInformation,
    /// A second CONNECT on a connection is dropped, not treated as a Protocol Error.
    IgnoreSecondConnect,
    /// DISCONNECT from the server says 0x80 (Unspecified error) whatever the reason.
    DisconnectReasonUnspecified,
    /// Keep Alive turned off in every CONNECT, and the Server Keep Alive mosquitto answers that
    /// with dropped from CONNACK: silent clients are never dropped, and not told so.
    KeepAliveZero,
    // PUBLISH and acknowledgements.
    /// PUBACK says 0x10 (No matching subscribers) even with subscribers.
    PubackNoMatchingSubscribers,
    /// PUBCOMP says 0x92 (Packet Identifier not found).
    PubcompNotFound,
    /// User Properties of deliveries in reverse order.
    ReverseUserProperties,
    /// Payload Format Indicator, Content Type, Response Topic and Correlation Data dropped from
    /// deliveries.
    StripMessageProperties,
    /// Message Expiry Interval dropped from deliveries.
    StripMessageExpiry,
    /// Message Expiry Interval dropped from what clients publish: nothing ever expires.
    IgnoreMessageExpiry,
    /// Topic Alias dropped from what clients publish: aliases are never set.
    StripTopicAlias,
    /// The relay resolves Topic Aliases itself, for any value, and keeps them per Client
    /// Identifier across connections.
    ResolveAliasesUnbounded,
    /// Topic Alias 1 added to every delivery, allowed or not.
    InjectTopicAlias,
    /// Topic Alias 2 added to every delivery that has none: one past a maximum of 1.
    AliasPastMaximum,
    // SUBSCRIBE.
    /// SUBACK's Reason Codes in reverse order.
    SubackReasonsReversed,
    /// UNSUBACK says 0x00 for every filter.
    UnsubackAllSuccess,
    /// No Local cleared in every SUBSCRIBE.
    ClearNoLocal,
    /// Retain As Published cleared in every SUBSCRIBE.
    ClearRetainAsPublished,
    /// Retain Handling forced to 0 (always send).
    RetainHandlingAlwaysSend,
    /// Retain Handling forced to 1 (send only for a new subscription).
    RetainHandlingIfNew,
    /// Subscription Identifiers dropped from deliveries.
    StripSubscriptionIdentifiers,
    // Flow control and sizes.
    /// Receive Maximum dropped from CONNECT: the server sends as many as it likes.
    StripReceiveMaximum,
    /// The server's Receive Maximum in CONNACK halved: a limit announced and not enforced.
    HalveReceiveMaximum,
    /// Maximum Packet Size dropped from CONNECT: the server sends packets of any size.
    StripMaximumPacketSize,
    /// A packet over the Maximum Packet Size of CONNACK is dropped silently, the connection kept.
    DropOversize,
    // DISCONNECT and the Will.
    /// DISCONNECT 0x00 from a client sent on as 0x04: the Will is published after all.
    DisconnectNormalAsWill,
    /// DISCONNECT 0x04 from a client sent on as 0x00: the Will is discarded.
    DisconnectWillAsNormal,
    /// Will Delay Interval dropped from the Will Properties: the Will goes at once.
    StripWillDelay,
    /// Will Retain cleared in every CONNECT: Wills are never retained.
    ClearWillRetain,
    /// A PINGREQ before CONNECT is answered by the relay with PINGRESP.
    AnswerPingBeforeConnect,
    /// A Client Identifier of 20 characters or more is refused with CONNACK 0x85.
    RejectLongClientIds,
    /// An Authentication Method in every CONNACK.
    InjectAuthenticationMethod,
    /// Authentication Method and Data dropped from CONNECT: any method is accepted.
    StripAuthenticationMethod,
    /// AUTH from a client is dropped, not treated as a Protocol Error.
    SwallowAuth,
    /// DUP set on every delivery.
    SetDupOnDeliveries,
    /// DUP cleared on every delivery, re-sent ones included.
    ClearDupOnDeliveries,
    /// Every subscription asks for QoS 2, whatever the client asked.
    UpgradeRequestedQos,
    /// The first two deliveries of a connection swapped.
    SwapDeliveries,
    /// A PUBLISH reusing a Packet Identifier already seen on the connection is dropped.
    DropReusedIds,
    /// A QoS 2 PUBLISH sent again with DUP is passed on under another identifier: a second message.
    RedeliverDuplicate,
    /// RETAIN cleared on what clients publish: nothing is ever retained.
    ClearRetainInbound,
    /// Subscription Identifier dropped from what clients publish.
    StripInboundSubscriptionIdentifier,
    /// UNSUBSCRIBE answered by the relay (0x00 for each filter) and never passed on.
    FakeUnsuback,
    /// Deliveries carry their topic with "/x" appended.
    WrongDeliveryTopic,
    /// "$share/NAME/" removed from SUBSCRIBE filters: every member gets every message.
    UnshareSubscriptions,
    // QoS flows, as the server runs them towards subscribers.
    /// Every QoS 1/2 delivery carries Packet Identifier 1, in use or not.
    ReuseDeliveryIds,
    /// A PUBREL from the server for an identifier the client has not PUBREC'd on this connection
    /// (one sent again for a returning session) is dropped: a server that forgot it.
    DropResentPubrel,
    /// A PUBACK or PUBREC of 0x80 or above from a client is dropped: the server still holds the
    /// delivery as unacknowledged, and sends it again.
    IgnoreFailedAcks,
    /// A delivery sent again (DUP 1) is dropped: a server that forgets what it had sent.
    DropRedeliveries,
    /// A delivery a client left unacknowledged when it disconnected, or refused with 0x80 or above,
    /// is handed to the next other connection the relay writes to, as a QoS 0 PUBLISH: a server
    /// passing a shared message on to another member.
    HandOverToAnotherMember,
    /// After an UNSUBSCRIBE, the client's PUBRECs are dropped: a server that forgot the deliveries
    /// under way for the filter.
    DropAcksAfterUnsubscribe,
    /// A QoS 2 PUBLISH reusing the identifier of one the server refused with a PUBREC of 0x80 or
    /// above is answered with that PUBREC again and dropped: taken as the refused one again.
    RememberFailedPubrec,
    /// Deliveries stop once the connection is older than the Session Expiry Interval of its
    /// CONNECT: a server that let the session expire while the connection was open.
    DropDeliveriesAfterSessionExpiry,
    // Topics.
    /// U+FEFF taken out of the topics and User Property values of deliveries.
    StripByteOrderMark,
    /// A client PUBLISH to a topic starting with '$' also goes on, at QoS 0, to the same topic
    /// without the '$': wildcards at the start of a filter then get it.
    DollarCopiedUndollared,
    /// A packet of more than 32 KiB from a client is dropped: a server whose strings stop at 32 KiB.
    DropLongPackets,
    /// Every filter of a SUBSCRIBE gets the QoS of the first: overlapping subscriptions lose the
    /// highest one.
    SubscriptionsAtFirstQos,
    // Capabilities.
    /// CONNACK says Maximum QoS 1 and Retain Available 0, and SUBACK refuses (0x80) what mosquitto
    /// grants at QoS 2: capabilities announced and not applied to Wills, a QoS 2 request refused.
    UnderstateCapabilities,
    /// A Reason String on every PUBACK, PUBREC, PUBCOMP, SUBACK and UNSUBACK, asked for or not.
    InjectReasonString,
    /// Topic Alias Maximum dropped from CONNACK: the client is told no alias is allowed, and the
    /// server accepts them anyway.
    StripTopicAliasMaximum,
    // Malformed packets.
    /// A packet the codec refuses is dropped (a CONNECT: replaced by a valid one), not answered by
    /// closing the connection.
    IgnoreMalformed,
}

/// A running relay; it stops accepting when dropped.
pub(crate) struct Relay {
    /// Where the suite connects.
    pub(crate) port: u16,
    stopping: Arc<AtomicBool>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Aliases the [`Fault::ResolveAliasesUnbounded`] relay has seen, by Client Identifier.
type AliasBook = Arc<Mutex<HashMap<String, HashMap<u16, String>>>>;

/// Deliveries the [`Fault::HandOverToAnotherMember`] relay took from a connection (its serial) to
/// give to another.
type Orphans = Arc<Mutex<Vec<(u32, Vec<u8>)>>>;

impl Relay {
    /// A relay on a free loopback port in front of `upstream` (a mosquitto port).
    pub(crate) fn start(upstream: u16, fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let aliases = AliasBook::default();
        let fresh = Arc::new(AtomicU32::new(0));
        let orphans = Orphans::default();
        let mut serial = 0;
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let state = Arc::new(Mutex::new(Connection {
                    fault,
                    aliases: Arc::clone(&aliases),
                    fresh: Arc::clone(&fresh),
                    back: client.try_clone().ok(),
                    serial,
                    orphans: Arc::clone(&orphans),
                    ..Connection::default()
                }));
                serial += 1;
                pump(&client, &server, Direction::Up, &state);
                pump(&server, &client, Direction::Down, &state);
            }
        });
        Self { port, stopping }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// What the relay knows of one connection.
#[derive(Default)]
struct Connection {
    fault: Fault,
    connects: u32,
    client_id: String,
    /// The Maximum Packet Size the server's CONNACK stated.
    maximum_packet_size: Option<u32>,
    aliases: AliasBook,
    fresh: Arc<AtomicU32>,
    /// The client's socket, for the faults that answer it themselves.
    back: Option<TcpStream>,
    /// [`Fault::SwapDeliveries`]: the first delivery, held until the second; then `swapped`.
    held: Option<Vec<u8>>,
    swapped: bool,
    /// [`Fault::DropReusedIds`]: the Packet Identifiers the client has used.
    used_ids: std::collections::HashSet<u16>,
    /// This connection's number, to tell it from the others in [`Orphans`].
    serial: u32,
    /// [`Fault::HandOverToAnotherMember`]: this connection's unacknowledged deliveries, by Packet
    /// Identifier, as QoS 0 PUBLISH bytes; and those given up, shared by all connections.
    unacked: HashMap<u16, Vec<u8>>,
    orphans: Orphans,
    /// [`Fault::DropResentPubrel`]: the identifiers the client PUBREC'd on this connection.
    pubrecs: std::collections::HashSet<u16>,
    /// [`Fault::RememberFailedPubrec`]: the failed PUBRECs the server sent, by identifier.
    failed_pubrecs: HashMap<u16, Vec<u8>>,
    /// [`Fault::DropAcksAfterUnsubscribe`]: whether the client has sent UNSUBSCRIBE.
    unsubscribed: bool,
    /// [`Fault::DropDeliveriesAfterSessionExpiry`]: when the session would expire if its interval
    /// counted from the CONNECT.
    expires_at: Option<Instant>,
}

impl Connection {
    /// Writes `bytes` to the client, for a fault that answers in the server's place.
    fn answer(&mut self, bytes: &[u8]) {
        if let Some(back) = self.back.as_mut() {
            let _ = back.write_all(bytes);
        }
    }
}

/// A lock that a panicked pump thread does not poison for the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Copies `from` to `to` packet by packet through [`rewrite`], on a thread of its own; when
/// `from` ends, so does what is written to `to`.
fn pump(from: &TcpStream, to: &TcpStream, direction: Direction, state: &Arc<Mutex<Connection>>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let state = Arc::clone(state);
    std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        'read: loop {
            let n = match from.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buffer.extend_from_slice(&chunk[..n]);
            while let Some(length) = frame_length(&buffer) {
                let packet: Vec<u8> = buffer.drain(..length).collect();
                let out = rewrite(&mut lock(&state), direction, packet);
                if let Some(bytes) = out
                    && to.write_all(&bytes).is_err()
                {
                    break 'read;
                }
            }
        }
        // Half-close only: the far side reads everything sent before the end (a full shutdown
        // with unread data would reset the connection and lose, say, a final DISCONNECT), then
        // closes its own side, which ends the other pump.
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// The length of the whole packet at the front of `buffer`, once it is all there.
fn frame_length(buffer: &[u8]) -> Option<usize> {
    let mut length = 0usize;
    for at in 1..5 {
        let byte = *buffer.get(at)?;
        length |= usize::from(byte & 0x7F) << (7 * (at - 1));
        if byte & 0x80 == 0 {
            let total = at + 1 + length;
            return (buffer.len() >= total).then_some(total);
        }
    }
    // A Remaining Length over four bytes: pass the rest on as one piece for the server to refuse.
    Some(buffer.len())
}

/// What to send on for one packet: the bytes, changed or not, or nothing; with
/// [`Fault::HandOverToAnotherMember`], what another connection gave up goes first.
fn rewrite(connection: &mut Connection, direction: Direction, packet: Vec<u8>) -> Option<Vec<u8>> {
    if connection.fault != Fault::HandOverToAnotherMember {
        return rewrite_packet(connection, direction, packet);
    }
    track_unacknowledged(connection, direction, &packet);
    let out = rewrite_packet(connection, direction, packet);
    if direction == Direction::Up {
        return out;
    }
    let serial = connection.serial;
    let mut orphans = lock(&connection.orphans);
    let (theirs, ours): (Vec<_>, Vec<_>) = orphans.drain(..).partition(|(from, _)| *from != serial);
    *orphans = ours;
    drop(orphans);
    if theirs.is_empty() {
        return out;
    }
    let mut bytes: Vec<u8> = theirs.into_iter().flat_map(|(_, bytes)| bytes).collect();
    bytes.extend(out.unwrap_or_default());
    Some(bytes)
}

/// For [`Fault::HandOverToAnotherMember`]: records deliveries, forgets acknowledged ones, and
/// gives up those refused or left behind by a DISCONNECT.
fn track_unacknowledged(connection: &mut Connection, direction: Direction, packet: &[u8]) {
    let Ok(Status::Complete((decoded, _))) = v5::Decoder::new().decode(packet) else {
        return;
    };
    let given_up = match (direction, decoded) {
        (Direction::Down, Packet::Publish(publish)) => {
            if let Some(id) = publish.delivery.packet_id() {
                let copy = v5::Publish {
                    delivery: mqtt_codec::Delivery::AtMostOnce,
                    properties: Properties::EMPTY,
                    ..publish
                };
                connection
                    .unacked
                    .insert(id.get(), encode(Packet::Publish(copy)));
            }
            return;
        }
        (
            Direction::Up,
            Packet::PubAck(v5::PubAck {
                packet_id, reason, ..
            }),
        )
        | (
            Direction::Up,
            Packet::PubRec(v5::PubRec {
                packet_id, reason, ..
            }),
        ) => {
            let taken = connection.unacked.remove(&packet_id.get());
            if reason.is_failure() {
                taken.into_iter().collect()
            } else {
                Vec::new()
            }
        }
        (Direction::Up, Packet::Disconnect(_)) => {
            connection.unacked.drain().map(|(_, bytes)| bytes).collect()
        }
        _ => return,
    };
    let serial = connection.serial;
    lock(&connection.orphans).extend(given_up.into_iter().map(|bytes| (serial, bytes)));
}

fn rewrite_packet(
    connection: &mut Connection,
    direction: Direction,
    packet: Vec<u8>,
) -> Option<Vec<u8>> {
    let fault = connection.fault;
    let kind = packet.first().map_or(0, |first| first >> 4);
    if direction == Direction::Up {
        if fault == Fault::DropLongPackets && packet.len() > 32 * 1024 {
            return None;
        }
        if kind == 10 {
            connection.unsubscribed = true;
        }
        if fault == Fault::DropOversize
            && connection
                .maximum_packet_size
                .is_some_and(|maximum| packet.len() as u64 > u64::from(maximum))
        {
            return None;
        }
        if kind == 12 && connection.connects == 0 && fault == Fault::AnswerPingBeforeConnect {
            connection.answer(&[0xD0, 0x00]);
            return None;
        }
        if kind == 15 && fault == Fault::SwallowAuth {
            return None;
        }
        if kind == 8 {
            return Some(subscription_options(fault, packet));
        }
        if kind == 14 {
            return Some(disconnect_reason(fault, packet));
        }
    }
    let decoded = match v5::Decoder::new().decode(&packet) {
        Ok(Status::Complete((decoded, used))) if used == packet.len() => decoded,
        _ if fault == Fault::IgnoreMalformed && direction == Direction::Up => {
            // A CONNECT the relay cannot read becomes a valid one, as a lenient server would take it.
            return (kind == 1).then(|| {
                let n = connection.fresh.fetch_add(1, Ordering::Relaxed);
                let id = format!("relay{n}");
                encode(Packet::Connect(v5::Connect {
                    clean_start: true,
                    keep_alive: 60,
                    client_id: &id,
                    ..v5::Connect::default()
                }))
            });
        }
        _ => return Some(packet),
    };
    match (direction, decoded) {
        (Direction::Up, Packet::Connect(connect)) => {
            connection.connects += 1;
            if connection.connects > 1 && fault == Fault::IgnoreSecondConnect {
                return None;
            }
            connection.client_id = connect.client_id.to_owned();
            connection.expires_at = connect
                .properties
                .session_expiry_interval()
                .map(|seconds| Instant::now() + Duration::from_secs(u64::from(seconds)));
            if fault == Fault::RejectLongClientIds && connect.client_id.len() >= 20 {
                connection.answer(&[0x20, 0x03, 0x00, 0x85, 0x00]);
                return None;
            }
            Some(rewrite_connect(fault, connect).unwrap_or(packet))
        }
        (Direction::Up, Packet::Publish(publish)) => {
            if fault == Fault::RememberFailedPubrec
                && publish.qos() == mqtt_codec::QoS::ExactlyOnce
                && let Some(id) = publish.delivery.packet_id()
                && let Some(answer) = connection.failed_pubrecs.get(&id.get()).cloned()
            {
                connection.answer(&answer);
                return None;
            }
            if fault == Fault::DropReusedIds
                && let Some(id) = publish.delivery.packet_id()
                && !connection.used_ids.insert(id.get())
            {
                return None;
            }
            if fault == Fault::DollarCopiedUndollared
                && let Some(topic) = publish.topic
                && let Some(plain) = topic.as_str().strip_prefix('$')
                && let Ok(plain) = mqtt_codec::TopicName::new(plain)
            {
                let mut out = packet.clone();
                out.extend(encode(Packet::Publish(v5::Publish {
                    topic: Some(plain),
                    delivery: mqtt_codec::Delivery::AtMostOnce,
                    ..publish
                })));
                return Some(out);
            }
            rewrite_inbound_publish(connection, fault, publish).or(Some(packet))
        }
        (Direction::Up, Packet::PubAck(ack))
            if fault == Fault::IgnoreFailedAcks && ack.reason.is_failure() =>
        {
            None
        }
        (Direction::Up, Packet::PubRec(rec)) => {
            connection.pubrecs.insert(rec.packet_id.get());
            let dropped = (fault == Fault::IgnoreFailedAcks && rec.reason.is_failure())
                || (fault == Fault::DropAcksAfterUnsubscribe && connection.unsubscribed);
            (!dropped).then_some(packet)
        }
        (Direction::Down, Packet::PubRec(rec))
            if fault == Fault::RememberFailedPubrec && rec.reason.is_failure() =>
        {
            connection
                .failed_pubrecs
                .insert(rec.packet_id.get(), packet.clone());
            Some(packet)
        }
        (Direction::Down, Packet::PubRel(rel))
            if fault == Fault::DropResentPubrel
                && !connection.pubrecs.contains(&rel.packet_id.get()) =>
        {
            None
        }
        (Direction::Up, Packet::Unsubscribe(unsubscribe)) if fault == Fault::FakeUnsuback => {
            let codes = vec![ReasonCode::SUCCESS; unsubscribe.filters.len()];
            let answer = encode(Packet::UnsubAck(v5::UnsubAck {
                packet_id: unsubscribe.packet_id,
                properties: Properties::EMPTY,
                reason_codes: List::from_slice(&codes),
            }));
            connection.answer(&answer);
            None
        }
        (Direction::Down, Packet::ConnAck(connack)) => {
            connection.maximum_packet_size = connack.properties.maximum_packet_size();
            Some(rewrite_connack(fault, connack).unwrap_or(packet))
        }
        (Direction::Down, Packet::Publish(publish)) => {
            let dup = packet.first().is_some_and(|first| first & 0x08 != 0);
            if (fault == Fault::DropRedeliveries && dup)
                || (fault == Fault::DropDeliveriesAfterSessionExpiry
                    && connection.expires_at.is_some_and(|at| Instant::now() >= at))
            {
                return None;
            }
            let mut out = rewrite_delivery(fault, publish).unwrap_or(packet);
            match fault {
                Fault::SetDupOnDeliveries => out[0] |= 0x08,
                Fault::ClearDupOnDeliveries => out[0] &= !0x08,
                Fault::SwapDeliveries if !connection.swapped => match connection.held.take() {
                    None => {
                        connection.held = Some(out);
                        return None;
                    }
                    Some(first) => {
                        connection.swapped = true;
                        out.extend(first);
                    }
                },
                _ => {}
            }
            Some(out)
        }
        (Direction::Down, Packet::PubAck(ack)) if fault == Fault::InjectReasonString => {
            Some(encode(Packet::PubAck(v5::PubAck {
                properties: Properties::from_slice(&[RELAY_REASON]),
                ..ack
            })))
        }
        (Direction::Down, Packet::PubRec(ack)) if fault == Fault::InjectReasonString => {
            Some(encode(Packet::PubRec(v5::PubRec {
                properties: Properties::from_slice(&[RELAY_REASON]),
                ..ack
            })))
        }
        (Direction::Down, Packet::PubComp(ack)) if fault == Fault::InjectReasonString => {
            Some(encode(Packet::PubComp(v5::PubComp {
                properties: Properties::from_slice(&[RELAY_REASON]),
                ..ack
            })))
        }
        (Direction::Down, Packet::SubAck(ack)) if fault == Fault::InjectReasonString => {
            Some(encode(Packet::SubAck(v5::SubAck {
                properties: Properties::from_slice(&[RELAY_REASON]),
                ..ack
            })))
        }
        (Direction::Down, Packet::UnsubAck(ack)) if fault == Fault::InjectReasonString => {
            Some(encode(Packet::UnsubAck(v5::UnsubAck {
                properties: Properties::from_slice(&[RELAY_REASON]),
                ..ack
            })))
        }
        (Direction::Down, Packet::SubAck(suback)) if fault == Fault::UnderstateCapabilities => {
            let codes: Vec<ReasonCode> = suback
                .reason_codes
                .iter()
                .map(|code| {
                    if code.get() == 2 {
                        ReasonCode::UNSPECIFIED_ERROR
                    } else {
                        code
                    }
                })
                .collect();
            Some(encode(Packet::SubAck(v5::SubAck {
                reason_codes: List::from_slice(&codes),
                ..suback
            })))
        }
        (Direction::Down, Packet::PubAck(ack)) if fault == Fault::PubackNoMatchingSubscribers => {
            Some(encode(Packet::PubAck(v5::PubAck {
                reason: ReasonCode::NO_MATCHING_SUBSCRIBERS,
                ..ack
            })))
        }
        (Direction::Down, Packet::PubComp(comp)) if fault == Fault::PubcompNotFound => {
            Some(encode(Packet::PubComp(v5::PubComp {
                reason: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
                ..comp
            })))
        }
        (Direction::Down, Packet::SubAck(suback)) if fault == Fault::SubackReasonsReversed => {
            let mut codes: Vec<ReasonCode> = suback.reason_codes.iter().collect();
            codes.reverse();
            Some(encode(Packet::SubAck(v5::SubAck {
                reason_codes: List::from_slice(&codes),
                ..suback
            })))
        }
        (Direction::Down, Packet::UnsubAck(unsuback)) if fault == Fault::UnsubackAllSuccess => {
            let codes = vec![ReasonCode::SUCCESS; unsuback.reason_codes.len()];
            Some(encode(Packet::UnsubAck(v5::UnsubAck {
                reason_codes: List::from_slice(&codes),
                ..unsuback
            })))
        }
        (Direction::Down, Packet::Disconnect(disconnect))
            if fault == Fault::DisconnectReasonUnspecified =>
        {
            Some(encode(Packet::Disconnect(v5::Disconnect {
                reason: ReasonCode::UNSPECIFIED_ERROR,
                ..disconnect
            })))
        }
        _ => Some(packet),
    }
}

/// What [`Fault::InjectReasonString`] adds.
const RELAY_REASON: Property<'static> = Property::ReasonString("said by the relay");

fn encode(packet: Packet<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    packet
        .encode(&mut out)
        .expect("the relay re-encodes what it decoded");
    out
}

/// The properties of `properties` that `keep` keeps.
fn filtered<'a>(
    properties: Properties<'a>,
    keep: impl Fn(&Property<'a>) -> bool,
) -> Vec<Property<'a>> {
    properties
        .iter()
        .filter(|property| keep(property))
        .collect()
}

fn rewrite_connect(fault: Fault, connect: v5::Connect<'_>) -> Option<Vec<u8>> {
    let mut connect = connect;
    let mut properties: Vec<Property<'_>> = connect.properties.iter().collect();
    let mut will_properties: Vec<Property<'_>> = connect
        .will
        .map(|will| will.properties.iter().collect())
        .unwrap_or_default();
    match fault {
        Fault::CleanStartOff => connect.clean_start = false,
        Fault::KeepAliveZero => connect.keep_alive = 0,
        Fault::SessionExpiryForever
            if !properties
                .iter()
                .any(|property| matches!(property, Property::SessionExpiryInterval(_))) =>
        {
            properties.push(Property::SessionExpiryInterval(u32::MAX));
        }
        Fault::StripReceiveMaximum => {
            properties.retain(|property| !matches!(property, Property::ReceiveMaximum(_)));
        }
        Fault::StripMaximumPacketSize => {
            properties.retain(|property| !matches!(property, Property::MaximumPacketSize(_)));
        }
        Fault::StripAuthenticationMethod => {
            properties.retain(|property| {
                !matches!(
                    property,
                    Property::AuthenticationMethod(_) | Property::AuthenticationData(_)
                )
            });
        }
        Fault::StripWillDelay => {
            will_properties.retain(|property| !matches!(property, Property::WillDelayInterval(_)));
        }
        Fault::ClearWillRetain => {
            if let Some(will) = connect.will.as_mut() {
                will.retain = false;
            }
        }
        _ => return None,
    }
    connect.properties = Properties::from_slice(&properties);
    if let Some(will) = connect.will.as_mut() {
        will.properties = Properties::from_slice(&will_properties);
    }
    Some(encode(Packet::Connect(connect)))
}

fn rewrite_connack(fault: Fault, connack: v5::ConnAck<'_>) -> Option<Vec<u8>> {
    let mut connack = connack;
    let properties = match fault {
        Fault::ConnackV311Shape => {
            return Some(vec![
                0x20,
                0x02,
                u8::from(connack.session_present),
                connack.reason.get(),
            ]);
        }
        Fault::SessionPresentZero => {
            connack.session_present = false;
            connack.properties.iter().collect()
        }
        Fault::StripAssignedClientId => filtered(connack.properties, |property| {
            !matches!(property, Property::AssignedClientIdentifier(_))
        }),
        Fault::InjectResponseInformation => {
            let mut properties: Vec<Property<'_>> = connack.properties.iter().collect();
            properties.push(Property::ResponseInformation("relay/responses"));
            properties
        }
        Fault::InjectAuthenticationMethod => {
            let mut properties: Vec<Property<'_>> = connack.properties.iter().collect();
            properties.push(Property::AuthenticationMethod("RELAY"));
            properties
        }
        Fault::UnderstateCapabilities => {
            let mut properties = filtered(connack.properties, |property| {
                !matches!(
                    property,
                    Property::MaximumQoS(_) | Property::RetainAvailable(_)
                )
            });
            properties.extend([Property::MaximumQoS(1), Property::RetainAvailable(0)]);
            properties
        }
        Fault::KeepAliveZero => filtered(connack.properties, |property| {
            !matches!(property, Property::ServerKeepAlive(_))
        }),
        Fault::StripTopicAliasMaximum => filtered(connack.properties, |property| {
            !matches!(property, Property::TopicAliasMaximum(_))
        }),
        Fault::HalveReceiveMaximum => connack
            .properties
            .iter()
            .map(|property| match property {
                Property::ReceiveMaximum(maximum) => Property::ReceiveMaximum((maximum / 2).max(1)),
                other => other,
            })
            .collect(),
        _ => return None,
    };
    connack.properties = Properties::from_slice(&properties);
    Some(encode(Packet::ConnAck(connack)))
}

fn rewrite_delivery(fault: Fault, publish: v5::Publish<'_>) -> Option<Vec<u8>> {
    let mut publish = publish;
    let properties = match fault {
        Fault::ReverseUserProperties => {
            let mut users: Vec<Property<'_>> = filtered(publish.properties, |property| {
                matches!(property, Property::UserProperty(..))
            });
            users.reverse();
            let mut properties = filtered(publish.properties, |property| {
                !matches!(property, Property::UserProperty(..))
            });
            properties.extend(users);
            properties
        }
        Fault::StripMessageProperties => filtered(publish.properties, |property| {
            !matches!(
                property,
                Property::PayloadFormatIndicator(_)
                    | Property::ContentType(_)
                    | Property::ResponseTopic(_)
                    | Property::CorrelationData(_)
            )
        }),
        Fault::StripMessageExpiry => filtered(publish.properties, |property| {
            !matches!(property, Property::MessageExpiryInterval(_))
        }),
        Fault::StripSubscriptionIdentifiers => filtered(publish.properties, |property| {
            !matches!(property, Property::SubscriptionIdentifier(_))
        }),
        Fault::WrongDeliveryTopic => {
            let wrong = format!("{}/x", publish.topic?.as_str());
            let mut publish = publish;
            publish.topic = Some(mqtt_codec::TopicName::new(&wrong).ok()?);
            return Some(encode(Packet::Publish(publish)));
        }
        Fault::ReuseDeliveryIds => {
            let one = mqtt_codec::PacketId::new(1)?;
            publish.delivery = match publish.delivery {
                mqtt_codec::Delivery::AtMostOnce => return None,
                mqtt_codec::Delivery::AtLeastOnce { dup, .. } => {
                    mqtt_codec::Delivery::AtLeastOnce {
                        packet_id: one,
                        dup,
                    }
                }
                mqtt_codec::Delivery::ExactlyOnce { dup, .. } => {
                    mqtt_codec::Delivery::ExactlyOnce {
                        packet_id: one,
                        dup,
                    }
                }
            };
            return Some(encode(Packet::Publish(publish)));
        }
        Fault::StripByteOrderMark => {
            let strip = |text: &str| text.replace('\u{feff}', "");
            let topic = publish.topic.map(|topic| strip(topic.as_str()));
            let users: Vec<(String, String)> = publish
                .properties
                .user_properties()
                .map(|(name, value)| (strip(name), strip(value)))
                .collect();
            let mut properties = filtered(publish.properties, |property| {
                !matches!(property, Property::UserProperty(..))
            });
            properties.extend(
                users
                    .iter()
                    .map(|(name, value)| Property::UserProperty(name, value)),
            );
            publish.properties = Properties::from_slice(&properties);
            if let Some(topic) = &topic {
                publish.topic = Some(mqtt_codec::TopicName::new(topic).ok()?);
            }
            return Some(encode(Packet::Publish(publish)));
        }
        Fault::InjectTopicAlias if publish.properties.topic_alias().is_none() => {
            let mut properties: Vec<Property<'_>> = publish.properties.iter().collect();
            properties.push(Property::TopicAlias(1));
            properties
        }
        Fault::AliasPastMaximum if publish.properties.topic_alias().is_none() => {
            let mut properties: Vec<Property<'_>> = publish.properties.iter().collect();
            properties.push(Property::TopicAlias(2));
            properties
        }
        _ => return None,
    };
    publish.properties = Properties::from_slice(&properties);
    Some(encode(Packet::Publish(publish)))
}

fn rewrite_inbound_publish(
    connection: &Connection,
    fault: Fault,
    publish: v5::Publish<'_>,
) -> Option<Vec<u8>> {
    let mut publish = publish;
    let properties = match fault {
        Fault::IgnoreMessageExpiry => filtered(publish.properties, |property| {
            !matches!(property, Property::MessageExpiryInterval(_))
        }),
        Fault::StripInboundSubscriptionIdentifier => filtered(publish.properties, |property| {
            !matches!(property, Property::SubscriptionIdentifier(_))
        }),
        Fault::ClearRetainInbound => {
            publish.retain = false;
            return Some(encode(Packet::Publish(publish)));
        }
        Fault::RedeliverDuplicate => {
            let mqtt_codec::Delivery::ExactlyOnce {
                packet_id,
                dup: true,
            } = publish.delivery
            else {
                return None;
            };
            let other = mqtt_codec::PacketId::new(packet_id.get() ^ 0x8000)?;
            publish.delivery =
                mqtt_codec::Delivery::new(mqtt_codec::QoS::ExactlyOnce, other, false);
            return Some(encode(Packet::Publish(publish)));
        }
        // A server without aliases cannot route an empty topic: the message goes nowhere (an
        // empty write).
        Fault::StripTopicAlias if publish.topic.is_none() => return Some(Vec::new()),
        Fault::StripTopicAlias => filtered(publish.properties, |property| {
            !matches!(property, Property::TopicAlias(_))
        }),
        Fault::ResolveAliasesUnbounded => {
            let alias = publish.properties.topic_alias()?;
            let mut book = lock(&connection.aliases);
            let known = book.entry(connection.client_id.clone()).or_default();
            let topic = match publish.topic {
                Some(topic) => {
                    known.insert(alias, topic.as_str().to_owned());
                    topic.as_str().to_owned()
                }
                None => known.get(&alias)?.clone(),
            };
            let properties = filtered(publish.properties, |property| {
                !matches!(property, Property::TopicAlias(_))
            });
            publish.properties = Properties::from_slice(&properties);
            let name = mqtt_codec::TopicName::new(&topic).ok()?;
            publish.topic = Some(name);
            return Some(encode(Packet::Publish(publish)));
        }
        _ => return None,
    };
    publish.properties = Properties::from_slice(&properties);
    Some(encode(Packet::Publish(publish)))
}

/// SUBSCRIBE options rewritten byte by byte, so that hostile SUBSCRIBEs (No Local on a shared
/// filter, which the codec refuses to read) are rewritten too.
fn subscription_options(fault: Fault, packet: Vec<u8>) -> Vec<u8> {
    let (set, clear) = match fault {
        Fault::ClearNoLocal => (0, 0b0000_0100),
        Fault::ClearRetainAsPublished => (0, 0b0000_1000),
        Fault::RetainHandlingAlwaysSend => (0, 0b0011_0000),
        Fault::RetainHandlingIfNew => (0b0001_0000, 0b0011_0000),
        Fault::UpgradeRequestedQos => (0b0000_0010, 0b0000_0011),
        Fault::UnshareSubscriptions => return unshare(packet),
        Fault::SubscriptionsAtFirstQos => return at_first_qos(packet),
        _ => return rewrite_or_drop_malformed(fault, packet),
    };
    let Some(body_at) = (1..5).find(|at| packet.get(*at).is_some_and(|byte| byte & 0x80 == 0))
    else {
        return packet;
    };
    let mut packet = packet;
    // After the packet identifier, the Property Length (one byte, in the suite's SUBSCRIBEs) and
    // the properties: (filter, options) pairs.
    let mut at = body_at + 3;
    at += 1 + usize::from(packet.get(at).copied().unwrap_or(0));
    while at + 2 <= packet.len() {
        let length = usize::from(u16::from_be_bytes([packet[at], packet[at + 1]]));
        at += 2 + length;
        if let Some(options) = packet.get_mut(at) {
            *options = (*options & !clear) | set;
        }
        at += 1;
    }
    packet
}

/// A SUBSCRIBE whose every filter asks for the QoS of the first.
fn at_first_qos(packet: Vec<u8>) -> Vec<u8> {
    let Ok(Status::Complete((Packet::Subscribe(subscribe), _))) =
        v5::Decoder::new().decode(&packet)
    else {
        return packet;
    };
    let Some(first) = subscribe.filters.iter().next() else {
        return packet;
    };
    let qos = first.options.to_byte() & 0b11;
    let mut subscriptions = Vec::new();
    for subscription in subscribe.filters.iter() {
        let Ok(options) =
            v5::SubscriptionOptions::from_byte(subscription.options.to_byte() & !0b11 | qos)
        else {
            return packet;
        };
        subscriptions.push(v5::Subscription {
            filter: subscription.filter,
            options,
        });
    }
    encode(Packet::Subscribe(v5::Subscribe {
        filters: List::from_slice(&subscriptions),
        ..subscribe
    }))
}

/// A SUBSCRIBE left alone, or dropped when it is malformed and the fault says so.
fn rewrite_or_drop_malformed(fault: Fault, packet: Vec<u8>) -> Vec<u8> {
    if fault == Fault::IgnoreMalformed && !decodes(&packet) {
        // An empty write: nothing reaches the server.
        return Vec::new();
    }
    packet
}

fn decodes(packet: &[u8]) -> bool {
    matches!(v5::Decoder::new().decode(packet), Ok(Status::Complete((_, used))) if used == packet.len())
}

/// A client's DISCONNECT with its reason swapped by the Will faults.
fn disconnect_reason(fault: Fault, packet: Vec<u8>) -> Vec<u8> {
    let reason = packet.get(2).copied().unwrap_or(0);
    match (fault, reason) {
        (Fault::DisconnectNormalAsWill, 0x00) => vec![0xE0, 0x01, 0x04],
        (Fault::DisconnectWillAsNormal, 0x04) => vec![0xE0, 0x01, 0x00],
        _ => rewrite_or_drop_malformed(fault, packet),
    }
}

/// A SUBSCRIBE with "$share/NAME/" taken off each filter.
fn unshare(packet: Vec<u8>) -> Vec<u8> {
    let Ok(Status::Complete((Packet::Subscribe(subscribe), _))) =
        v5::Decoder::new().decode(&packet)
    else {
        return packet;
    };
    let names: Vec<String> = subscribe
        .filters
        .iter()
        .map(|subscription| {
            let filter = subscription.filter.as_str();
            match filter
                .strip_prefix("$share/")
                .and_then(|rest| rest.split_once('/'))
            {
                Some((_, plain)) => plain.to_owned(),
                None => filter.to_owned(),
            }
        })
        .collect();
    let mut subscriptions = Vec::new();
    for (subscription, name) in subscribe.filters.iter().zip(&names) {
        let Ok(filter) = mqtt_codec::TopicFilter::new(name) else {
            return packet;
        };
        subscriptions.push(v5::Subscription {
            filter,
            options: subscription.options,
        });
    }
    encode(Packet::Subscribe(v5::Subscribe {
        filters: List::from_slice(&subscriptions),
        ..subscribe
    }))
}

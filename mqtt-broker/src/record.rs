//! [`Record`]: one change of durable state, and its bytes on disk.
//!
//! Every record is framed the same way in the write-ahead log and in the snapshot:
//!
//! ```text
//! u32 LE  length of the body
//! u32 LE  CRC-32 (IEEE) of the body
//! body:   u64 LE  log sequence number (LSN)
//!         u8      kind (the discriminants below)
//!         ...     the kind's fields: strings as u16 LE length + UTF-8, payloads as u32 LE length +
//!                 bytes, QoS and flags as one byte, packet identifiers as u16 LE
//! ```
//!
//! A message's 5.0 properties follow its payload when bit 3 of its flags byte is set, its
//! Subscription Identifiers (u8 count, u32 LE each) after them when bit 4 is, and a retained
//! message's publisher (client id, then u8 0 or 1 and the user name) last when bit 5 is; 5.0
//! subscription options and a 5.0 session's Session Expiry Interval have records of their own
//! (kinds 17 and 18), so that logs written before 5.0 read as they did.
//!
//! Group markers (kinds 19 and 20) frame records a restart applies whole or not at all.
//!
//! Time that must survive a restart is wall-clock time, as u64 LE milliseconds since the Unix
//! epoch, since an `Instant` means nothing to the next process: when a session lost its
//! connection (kind 21, `Detached`), and when a message expires (bit 5 of its properties' byte),
//! so that the broker's downtime counts against a Session Expiry Interval and a Message Expiry
//! Interval alike. A message that expires in the queue has a record too (kind 22, `Expired`).
//! Logs written before these existed read as they did: their sessions and messages count from
//! the restart.
//!
//! This file only encodes and decodes; `persistence/wal.rs` frames and checks, `persistence/mod.rs`
//! replays, and `routing/session_state.rs` applies a session's records to its state.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mqtt_codec::v5::RetainHandling;
use mqtt_codec::{PacketId, QoS};

use crate::message::{Message, MessageProperties, Source};
use crate::subscription_options::SubscriptionOptions5;

/// A change to the durable state. Session records name the session by client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// Set (or, with an empty payload, delete) the retained message of a topic.
    Retain(Message),
    /// A persistent session exists, with this user name (for `read` checks while it is offline).
    Session {
        client_id: Arc<str>,
        user: Option<Arc<str>>,
    },
    /// The session is gone (a clean session replaced it).
    Forget { client_id: Arc<str> },
    /// A subscription was added or replaced.
    Subscribe {
        client_id: Arc<str>,
        filter: String,
        qos: QoS,
    },
    /// A subscription was removed.
    Unsubscribe { client_id: Arc<str>, filter: String },
    /// A QoS 1 or 2 message joined the end of the session's queue.
    Enqueue {
        client_id: Arc<str>,
        message: Message,
    },
    /// The message at the front of the queue entered the window with this packet identifier.
    Assign {
        client_id: Arc<str>,
        packet_id: PacketId,
    },
    /// PUBREC: the outbound QoS 2 message now waits for PUBCOMP.
    Released {
        client_id: Arc<str>,
        packet_id: PacketId,
    },
    /// PUBACK or PUBCOMP: the outbound message is done.
    Completed {
        client_id: Arc<str>,
        packet_id: PacketId,
    },
    /// An inbound QoS 2 PUBLISH was delivered onwards and awaits PUBREL.
    Received {
        client_id: Arc<str>,
        packet_id: PacketId,
    },
    /// PUBREL: the inbound identifier is free again.
    Freed {
        client_id: Arc<str>,
        packet_id: PacketId,
    },
    /// Snapshot only: records of this session up to `lsn` are already in the snapshot.
    SessionMark { client_id: Arc<str>, lsn: u64 },
    /// Snapshot only: retained records up to `lsn` are already in the snapshot.
    RetainedMark { lsn: u64 },
    /// Snapshot only: a window entry, with its message (a PUBLISH awaiting PUBACK/PUBREC) or
    /// without (a PUBREL awaiting PUBCOMP).
    InFlight {
        client_id: Arc<str>,
        packet_id: PacketId,
        message: Option<Message>,
    },
    /// Snapshot only: the last packet identifier the session assigned.
    LastId {
        client_id: Arc<str>,
        packet_id: PacketId,
    },
    /// Snapshot only: the last record; a snapshot without it is incomplete.
    End,
    /// Log only: the records up to the matching [`GroupEnd`](Self::GroupEnd) are one change, which
    /// a restart applies whole or not at all (see `persistence/wal.rs`, "Groups").
    GroupBegin,
    /// Log only: the end of the group the last unmatched [`GroupBegin`](Self::GroupBegin) opened.
    GroupEnd,
    /// The 5.0 options of a subscription, logged after its `Subscribe`.
    Options5 {
        client_id: Arc<str>,
        filter: String,
        options: SubscriptionOptions5,
    },
    /// The session is a 5.0 client's, with this Session Expiry Interval (after its `Session`, and
    /// again when DISCONNECT changes it).
    Session5 { client_id: Arc<str>, expiry: u32 },
    /// The session lost its connection at `at` (wall-clock milliseconds since the Unix epoch): its
    /// expiry runs from then, across a restart. A later `Session` (a connection opened it) undoes
    /// it.
    Detached { client_id: Arc<str>, at: u64 },
    /// A queued message expired before its delivery started and left the queue [MQTT5-3.3.2-5]:
    /// the one at `position` among the queue's QoS 1 and 2 messages (0: the front, where the pump
    /// finds them). Replay must take the same one out, or it would give the next `Assign`'s
    /// identifier to the wrong message.
    Expired { client_id: Arc<str>, position: u32 },
}

impl Record {
    /// The session this record belongs to, if any.
    pub(crate) fn client_id(&self) -> Option<&str> {
        match self {
            Self::Session { client_id, .. }
            | Self::Forget { client_id }
            | Self::Subscribe { client_id, .. }
            | Self::Unsubscribe { client_id, .. }
            | Self::Enqueue { client_id, .. }
            | Self::Assign { client_id, .. }
            | Self::Released { client_id, .. }
            | Self::Completed { client_id, .. }
            | Self::Received { client_id, .. }
            | Self::Freed { client_id, .. }
            | Self::SessionMark { client_id, .. }
            | Self::InFlight { client_id, .. }
            | Self::LastId { client_id, .. }
            | Self::Options5 { client_id, .. }
            | Self::Session5 { client_id, .. }
            | Self::Detached { client_id, .. }
            | Self::Expired { client_id, .. } => Some(client_id),
            Self::Retain(_)
            | Self::RetainedMark { .. }
            | Self::End
            | Self::GroupBegin
            | Self::GroupEnd => None,
        }
    }

    /// Appends the body (LSN, kind, fields) to `out`.
    pub(crate) fn encode(&self, lsn: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&lsn.to_le_bytes());
        let id_record = |out: &mut Vec<u8>, kind: u8, client_id: &str, packet_id: PacketId| {
            out.push(kind);
            put_str(out, client_id);
            out.extend_from_slice(&packet_id.get().to_le_bytes());
        };
        match self {
            Self::Retain(message) => {
                out.push(1);
                put_message(out, message);
            }
            Self::Session { client_id, user } => {
                out.push(2);
                put_str(out, client_id);
                match user {
                    Some(user) => {
                        out.push(1);
                        put_str(out, user);
                    }
                    None => out.push(0),
                }
            }
            Self::Forget { client_id } => {
                out.push(3);
                put_str(out, client_id);
            }
            Self::Subscribe {
                client_id,
                filter,
                qos,
            } => {
                out.push(4);
                put_str(out, client_id);
                put_str(out, filter);
                out.push(qos.bits());
            }
            Self::Unsubscribe { client_id, filter } => {
                out.push(5);
                put_str(out, client_id);
                put_str(out, filter);
            }
            Self::Enqueue { client_id, message } => {
                out.push(6);
                put_str(out, client_id);
                put_message(out, message);
            }
            Self::Assign {
                client_id,
                packet_id,
            } => id_record(out, 7, client_id, *packet_id),
            Self::Released {
                client_id,
                packet_id,
            } => id_record(out, 8, client_id, *packet_id),
            Self::Completed {
                client_id,
                packet_id,
            } => id_record(out, 9, client_id, *packet_id),
            Self::Received {
                client_id,
                packet_id,
            } => id_record(out, 10, client_id, *packet_id),
            Self::Freed {
                client_id,
                packet_id,
            } => id_record(out, 11, client_id, *packet_id),
            Self::SessionMark { client_id, lsn } => {
                out.push(12);
                put_str(out, client_id);
                out.extend_from_slice(&lsn.to_le_bytes());
            }
            Self::RetainedMark { lsn } => {
                out.push(13);
                out.extend_from_slice(&lsn.to_le_bytes());
            }
            Self::InFlight {
                client_id,
                packet_id,
                message,
            } => {
                id_record(out, 14, client_id, *packet_id);
                match message {
                    Some(message) => {
                        out.push(1);
                        put_message(out, message);
                    }
                    None => out.push(0),
                }
            }
            Self::LastId {
                client_id,
                packet_id,
            } => id_record(out, 15, client_id, *packet_id),
            Self::End => out.push(16),
            Self::Options5 {
                client_id,
                filter,
                options,
            } => {
                out.push(17);
                put_str(out, client_id);
                put_str(out, filter);
                out.push(
                    u8::from(options.no_local)
                        | u8::from(options.retain_as_published) << 1
                        | (options.retain_handling as u8) << 2,
                );
                out.extend_from_slice(&options.id.unwrap_or(0).to_le_bytes());
            }
            Self::Session5 { client_id, expiry } => {
                out.push(18);
                put_str(out, client_id);
                out.extend_from_slice(&expiry.to_le_bytes());
            }
            Self::GroupBegin => out.push(19),
            Self::GroupEnd => out.push(20),
            Self::Detached { client_id, at } => {
                out.push(21);
                put_str(out, client_id);
                out.extend_from_slice(&at.to_le_bytes());
            }
            Self::Expired {
                client_id,
                position,
            } => {
                out.push(22);
                put_str(out, client_id);
                out.extend_from_slice(&position.to_le_bytes());
            }
        }
    }

    /// Decodes a body checked by its CRC; `None` if it does not parse (a bug or a damaged file that
    /// passed the CRC by chance, both refused by the caller).
    pub(crate) fn decode(body: &[u8]) -> Option<(u64, Self)> {
        let mut r = Reader(body);
        let lsn = r.u64()?;
        let kind = r.u8()?;
        let record = match kind {
            1 => Self::Retain(r.message()?),
            2 => {
                let client_id = r.str()?.into();
                let user = match r.u8()? {
                    0 => None,
                    1 => Some(r.str()?.into()),
                    _ => return None,
                };
                Self::Session { client_id, user }
            }
            3 => Self::Forget {
                client_id: r.str()?.into(),
            },
            4 => Self::Subscribe {
                client_id: r.str()?.into(),
                filter: r.str()?.to_owned(),
                qos: QoS::from_bits(r.u8()?).ok()?,
            },
            5 => Self::Unsubscribe {
                client_id: r.str()?.into(),
                filter: r.str()?.to_owned(),
            },
            6 => Self::Enqueue {
                client_id: r.str()?.into(),
                message: r.message()?,
            },
            7..=11 | 14 | 15 => {
                let client_id: Arc<str> = r.str()?.into();
                let packet_id = PacketId::new(r.u16()?)?;
                match kind {
                    7 => Self::Assign {
                        client_id,
                        packet_id,
                    },
                    8 => Self::Released {
                        client_id,
                        packet_id,
                    },
                    9 => Self::Completed {
                        client_id,
                        packet_id,
                    },
                    10 => Self::Received {
                        client_id,
                        packet_id,
                    },
                    11 => Self::Freed {
                        client_id,
                        packet_id,
                    },
                    14 => Self::InFlight {
                        client_id,
                        packet_id,
                        message: match r.u8()? {
                            0 => None,
                            1 => Some(r.message()?),
                            _ => return None,
                        },
                    },
                    _ => Self::LastId {
                        client_id,
                        packet_id,
                    },
                }
            }
            12 => Self::SessionMark {
                client_id: r.str()?.into(),
                lsn: r.u64()?,
            },
            13 => Self::RetainedMark { lsn: r.u64()? },
            16 => Self::End,
            17 => {
                let client_id = r.str()?.into();
                let filter = r.str()?.to_owned();
                let flags = r.u8()?;
                let id = r.u32()?;
                Self::Options5 {
                    client_id,
                    filter,
                    options: SubscriptionOptions5 {
                        no_local: flags & 1 != 0,
                        retain_as_published: flags & 2 != 0,
                        retain_handling: match flags >> 2 & 3 {
                            0 => RetainHandling::SendOnSubscribe,
                            1 => RetainHandling::SendIfNew,
                            2 => RetainHandling::DoNotSend,
                            _ => return None,
                        },
                        id: (id != 0).then_some(id),
                    },
                }
            }
            18 => Self::Session5 {
                client_id: r.str()?.into(),
                expiry: r.u32()?,
            },
            19 => Self::GroupBegin,
            20 => Self::GroupEnd,
            21 => Self::Detached {
                client_id: r.str()?.into(),
                at: r.u64()?,
            },
            22 => Self::Expired {
                client_id: r.str()?.into(),
                position: r.u32()?,
            },
            _ => return None,
        };
        r.0.is_empty().then_some((lsn, record))
    }
}

/// `at` as the log keeps time: wall-clock milliseconds since the Unix epoch, given that `now` is
/// `wall_now` on the wall clock. (0 for a time before the epoch, which no clock set right shows.)
pub(crate) fn wall_millis(at: Instant, now: Instant, wall_now: SystemTime) -> u64 {
    let wall = if at <= now {
        wall_now.checked_sub(now - at)
    } else {
        wall_now.checked_add(at - now)
    };
    wall.and_then(|wall| wall.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The `Instant` of the wall-clock time `millis` (see [`wall_millis`]), given that `now` is
/// `wall_now`. A time too far back for an `Instant` to hold is taken as `now`: an expiry counted
/// from it is then counted from the restart, as it was before the log kept time.
pub(crate) fn instant_of(millis: u64, now: Instant, wall_now: SystemTime) -> Instant {
    let Some(wall) = UNIX_EPOCH.checked_add(Duration::from_millis(millis)) else {
        return now;
    };
    match wall_now.duration_since(wall) {
        Ok(ago) => now.checked_sub(ago).unwrap_or(now),
        Err(ahead) => now.checked_add(ahead.duration()).unwrap_or(now),
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Client ids, topics and filters are MQTT strings, at most 65 535 bytes [MQTT-1.5.3-1].
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..usize::from(len)]);
}

fn put_message(out: &mut Vec<u8>, message: &Message) {
    put_str(out, &message.topic);
    let properties = message.properties.as_deref();
    let ids = message.subscription_ids.as_deref();
    let source = message.source.as_deref();
    out.push(
        message.qos.bits()
            | u8::from(message.retain) << 2
            | u8::from(properties.is_some()) << 3
            | u8::from(ids.is_some()) << 4
            | u8::from(source.is_some()) << 5,
    );
    let len = u32::try_from(message.payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&message.payload[..len as usize]);
    if let Some(properties) = properties {
        put_properties(out, properties);
    }
    if let Some(ids) = ids {
        let count = u8::try_from(ids.len()).unwrap_or(u8::MAX);
        out.push(count);
        for id in ids.iter().take(usize::from(count)) {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    if let Some(source) = source {
        put_str(out, &source.client_id);
        match &source.user_name {
            Some(user) => {
                out.push(1);
                put_str(out, user);
            }
            None => out.push(0),
        }
    }
}

/// A message's 5.0 properties: a byte saying which are present, then those, in its bit order:
/// Payload Format Indicator (bit 0), Message Expiry Interval (bit 1: u32 LE seconds, as
/// published), Content Type, Response Topic, Correlation Data (bits 2 to 4), and when the message
/// expires (bit 5: u64 LE wall-clock milliseconds, see [`wall_millis`]), then the user properties.
/// The deadline is what a restart goes by, so the time the broker is down counts against the
/// interval [MQTT5-3.3.2-5]. Logs written before bit 5 stored in bit 1 what was left of the
/// interval when the record was written, and have no deadline: their messages count from the load.
fn put_properties(out: &mut Vec<u8>, properties: &MessageProperties) {
    let (now, wall_now) = (Instant::now(), SystemTime::now());
    let deadline = properties
        .expires_at
        .map(|at| wall_millis(at, now, wall_now));
    let present = [
        properties.payload_format.is_some(),
        properties.expires_at.is_some(),
        properties.content_type.is_some(),
        properties.response_topic.is_some(),
        properties.correlation_data.is_some(),
        deadline.is_some(),
    ];
    out.push(
        present
            .iter()
            .enumerate()
            .map(|(bit, present)| u8::from(*present) << bit)
            .sum(),
    );
    if let Some(format) = properties.payload_format {
        out.push(format);
    }
    if let Some(expires_at) = properties.expires_at {
        let seconds = properties.message_expiry.unwrap_or_else(|| {
            let left = expires_at.saturating_duration_since(now);
            u32::try_from(left.as_secs()).unwrap_or(u32::MAX)
        });
        out.extend_from_slice(&seconds.to_le_bytes());
    }
    for text in [&properties.content_type, &properties.response_topic]
        .into_iter()
        .flatten()
    {
        put_str(out, text);
    }
    if let Some(data) = &properties.correlation_data {
        put_str_bytes(out, data);
    }
    if let Some(deadline) = deadline {
        out.extend_from_slice(&deadline.to_le_bytes());
    }
    let count = u16::try_from(properties.user_properties.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_le_bytes());
    for (name, value) in properties.user_properties.iter().take(usize::from(count)) {
        put_str(out, name);
        put_str(out, value);
    }
}

/// Binary data of an MQTT field (at most 65 535 bytes), as `put_str` writes a string.
fn put_str_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<&'a str> {
        let len = self.u16()?;
        std::str::from_utf8(self.take(usize::from(len))?).ok()
    }
    fn message(&mut self) -> Option<Message> {
        let topic = self.str()?;
        let flags = self.u8()?;
        let len = self.u32()? as usize;
        let payload = self.take(len)?;
        let mut message = Message::new(
            topic,
            payload,
            QoS::from_bits(flags & 3).ok()?,
            flags & 4 != 0,
        );
        if flags & 8 != 0 {
            message.properties = Some(Arc::new(self.properties()?));
        }
        if flags & 16 != 0 {
            let ids: Option<Vec<u32>> = (0..self.u8()?).map(|_| self.u32()).collect();
            message.subscription_ids = Some(ids?.into());
        }
        if flags & 32 != 0 {
            let client_id = self.str()?.into();
            let user_name = match self.u8()? {
                0 => None,
                1 => Some(self.str()?.into()),
                _ => return None,
            };
            message.source = Some(Arc::new(Source {
                client_id,
                user_name,
            }));
        }
        Some(message)
    }

    fn properties(&mut self) -> Option<MessageProperties> {
        let present = self.u8()?;
        let mut properties = MessageProperties::default();
        if present & 1 != 0 {
            properties.payload_format = Some(self.u8()?);
        }
        let now = Instant::now();
        if present & 2 != 0 {
            let seconds = self.u32()?;
            properties.message_expiry = Some(seconds);
            // What an older log has: counted from the load.
            properties.expires_at = now.checked_add(Duration::from_secs(u64::from(seconds)));
        }
        if present & 4 != 0 {
            properties.content_type = Some(self.str()?.into());
        }
        if present & 8 != 0 {
            properties.response_topic = Some(self.str()?.into());
        }
        if present & 16 != 0 {
            let len = usize::from(self.u16()?);
            properties.correlation_data = Some(self.take(len)?.into());
        }
        if present & 32 != 0 {
            properties.expires_at = Some(instant_of(self.u64()?, now, SystemTime::now()));
        }
        for _ in 0..self.u16()? {
            properties
                .user_properties
                .push((self.str()?.into(), self.str()?.into()));
        }
        Some(properties)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 5.0 additions round-trip: a message's properties (all but the expiry, whose deadline
    /// is an instant), subscription options, a session's expiry.
    #[test]
    fn mqtt5_state_round_trips() {
        let mut message = Message::new("a/b", b"payload", QoS::AtLeastOnce, false);
        message.properties = Some(Arc::new(MessageProperties {
            payload_format: Some(1),
            content_type: Some("text/plain".into()),
            response_topic: Some("re/1".into()),
            correlation_data: Some((*b"\x00\x01").into()),
            user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
            ..MessageProperties::default()
        }));
        let c: Arc<str> = "client".into();
        for record in [
            Record::Enqueue {
                client_id: Arc::clone(&c),
                message: Message {
                    subscription_ids: Some(Arc::from([1, 7])),
                    ..message
                },
            },
            Record::Options5 {
                client_id: Arc::clone(&c),
                filter: "a/#".into(),
                options: SubscriptionOptions5 {
                    no_local: true,
                    retain_as_published: false,
                    retain_handling: RetainHandling::DoNotSend,
                    id: Some(268_435_455),
                },
            },
            Record::Session5 {
                client_id: Arc::clone(&c),
                expiry: 600,
            },
        ] {
            let mut body = Vec::new();
            record.encode(9, &mut body);
            assert_eq!(Record::decode(&body), Some((9, record)));
        }
    }

    /// Instants go to the log as wall-clock milliseconds and come back as the same moment in
    /// another process, whose clocks started elsewhere: what was 90 s before the old process's
    /// `now` is 90 s plus the downtime before the new one's. The clocks are made up.
    #[test]
    fn instants_cross_a_restart_as_wall_clock_time() {
        let before = Instant::now();
        let wall_before = UNIX_EPOCH + Duration::from_secs(1_765_000_000);
        let detached = before - Duration::from_secs(90);
        let millis = wall_millis(detached, before, wall_before);
        assert_eq!(millis, (1_765_000_000 - 90) * 1000);
        let deadline = before + Duration::from_millis(2_500);
        assert_eq!(
            wall_millis(deadline, before, wall_before),
            1_765_000_002_500
        );

        // The new process started 10 s of wall-clock time later.
        let after = Instant::now();
        let wall_after = wall_before + Duration::from_secs(10);
        assert_eq!(
            after.duration_since(instant_of(millis, after, wall_after)),
            Duration::from_secs(100)
        );
        assert_eq!(
            instant_of(1_765_000_012_500, after, wall_after).duration_since(after),
            Duration::from_millis(2_500),
            "a deadline still ahead"
        );
        assert_eq!(
            wall_millis(before, before, UNIX_EPOCH - Duration::from_secs(1)),
            0
        );
    }

    /// A message's expiry is logged as a wall-clock deadline with the interval as published, so
    /// that after a restart it expires when it would have, downtime included [MQTT5-3.3.2-5], and
    /// what is forwarded is what is left [MQTT5-3.3.2-6].
    #[test]
    fn a_messages_expiry_is_logged_as_a_deadline_mqtt5_3_3_2_5() {
        let expiring = |expires_at| {
            let mut message = Message::new("a/b", b"p", QoS::AtLeastOnce, false);
            message.properties = Some(Arc::new(MessageProperties {
                message_expiry: Some(3),
                expires_at: Some(expires_at),
                ..MessageProperties::default()
            }));
            Record::Enqueue {
                client_id: "c".into(),
                message,
            }
        };
        let decoded = |record: &Record| {
            let mut body = Vec::new();
            record.encode(1, &mut body);
            match Record::decode(&body) {
                Some((_, Record::Enqueue { message, .. })) => message.properties,
                other => panic!("{other:?}"),
            }
        };
        let now = Instant::now();
        let properties = decoded(&expiring(now + Duration::from_millis(2_500)));
        let properties = properties.as_deref().expect("properties");
        assert_eq!(properties.message_expiry, Some(3), "as published");
        let left = properties
            .expires_at
            .map(|at| at.saturating_duration_since(now));
        assert!(
            left.is_some_and(
                |left| left > Duration::from_millis(2_400) && left <= Duration::from_millis(2_500)
            ),
            "the deadline, not the interval: {left:?}"
        );
        // Written after its deadline (a snapshot of a queue that waited offline): still expired.
        let late = decoded(&expiring(now - Duration::from_secs(5)));
        assert!(late.is_some_and(|properties| properties.expired(Instant::now())));
    }

    #[test]
    fn every_kind_round_trips() {
        let id = PacketId::new(513).unwrap_or(PacketId::MIN);
        let c: Arc<str> = "client".into();
        let message = Message::new("a/b", b"payload", QoS::ExactlyOnce, true);
        let with_source = |user_name: Option<&str>| {
            let mut retained = message.clone();
            retained.source = Some(Arc::new(Source {
                client_id: "publisher".into(),
                user_name: user_name.map(Arc::from),
            }));
            retained
        };
        for record in [
            Record::Retain(message.clone()),
            Record::Retain(with_source(Some("alice"))),
            Record::Retain(with_source(None)),
            Record::Session {
                client_id: c.clone(),
                user: Some("u".into()),
            },
            Record::Session {
                client_id: c.clone(),
                user: None,
            },
            Record::Forget {
                client_id: c.clone(),
            },
            Record::Subscribe {
                client_id: c.clone(),
                filter: "a/#".into(),
                qos: QoS::AtLeastOnce,
            },
            Record::Unsubscribe {
                client_id: c.clone(),
                filter: "a/#".into(),
            },
            Record::Enqueue {
                client_id: c.clone(),
                message: message.clone(),
            },
            Record::Assign {
                client_id: c.clone(),
                packet_id: id,
            },
            Record::Released {
                client_id: c.clone(),
                packet_id: id,
            },
            Record::Completed {
                client_id: c.clone(),
                packet_id: id,
            },
            Record::Received {
                client_id: c.clone(),
                packet_id: id,
            },
            Record::Freed {
                client_id: c.clone(),
                packet_id: id,
            },
            Record::SessionMark {
                client_id: c.clone(),
                lsn: 9,
            },
            Record::RetainedMark { lsn: 10 },
            Record::InFlight {
                client_id: c.clone(),
                packet_id: id,
                message: Some(message.clone()),
            },
            Record::InFlight {
                client_id: c.clone(),
                packet_id: id,
                message: None,
            },
            Record::LastId {
                client_id: c.clone(),
                packet_id: id,
            },
            Record::End,
            Record::GroupBegin,
            Record::GroupEnd,
            Record::Detached {
                client_id: c.clone(),
                at: 1_765_000_000_123,
            },
            Record::Expired {
                client_id: c.clone(),
                position: 3,
            },
        ] {
            let mut body = Vec::new();
            record.encode(77, &mut body);
            assert_eq!(Record::decode(&body), Some((77, record.clone())));
            assert_eq!(Record::decode(&body[..body.len() - 1]), None, "{record:?}");
        }
    }
}

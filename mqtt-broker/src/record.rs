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
//! This file only encodes and decodes; `persistence/wal.rs` frames and checks, `persistence/mod.rs`
//! replays, and `routing/session_state.rs` applies a session's records to its state.

use std::sync::Arc;

use mqtt_codec::{PacketId, QoS};

use crate::message::Message;

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
            | Self::LastId { client_id, .. } => Some(client_id),
            Self::Retain(_) | Self::RetainedMark { .. } | Self::End => None,
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
            _ => return None,
        };
        r.0.is_empty().then_some((lsn, record))
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
    out.push(message.qos.bits() | u8::from(message.retain) << 2);
    let len = u32::try_from(message.payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&message.payload[..len as usize]);
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
        Some(Message::new(
            topic,
            payload,
            QoS::from_bits(flags & 3).ok()?,
            flags & 4 != 0,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let id = PacketId::new(513).unwrap_or(PacketId::MIN);
        let c: Arc<str> = "client".into();
        let message = Message::new("a/b", b"payload", QoS::ExactlyOnce, true);
        for record in [
            Record::Retain(message.clone()),
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
        ] {
            let mut body = Vec::new();
            record.encode(77, &mut body);
            assert_eq!(Record::decode(&body), Some((77, record.clone())));
            assert_eq!(Record::decode(&body[..body.len() - 1]), None, "{record:?}");
        }
    }
}

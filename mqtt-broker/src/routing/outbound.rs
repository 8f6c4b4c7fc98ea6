//! [`OutPacket`]: a packet the broker sends, owned so that it can wait in a writer's channel,
//! [`Outbound`], what travels on that channel, and the channel itself ([`writer_channel`]).
//!
//! Everything the broker sends to a client is one of these. They are turned into the codec's borrowed
//! [`Packet`] only at the moment of encoding, in the writer thread, under the protocol level of the
//! connection: that is where CONNACK loses its Session Present bit for MQTT 3.1 ([V31-DIFF-7]).
//!
//! This file does not decide what to send (`connection/protocol.rs`, `routing/session_state.rs`, `routing/router.rs`) nor write to a socket
//! (`connection/writer.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvError, SendError, Sender, TryRecvError, TrySendError};
use mqtt_codec::{
    ConnAck, ConnectReturnCode, Delivery, EncodeError, List, Packet, PacketId, ProtocolLevel,
    PubAck, PubComp, PubRec, PubRel, Publish, SubAck, SubAckReturnCode, TopicName, UnsubAck,
};
use parking_lot::{Condvar, Mutex};

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
}

/// What a writer thread receives on its channel.
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
/// The bound is kept here rather than by the channel. crossbeam's bounded channel allocates and
/// writes all its slots when it is created: 17 KiB for the default 276, most of the memory of an
/// idle connection (see `BENCHMARKS.md`). Its unbounded channel allocates blocks of 31 slots as they
/// fill and frees them as they drain, so an idle connection holds one block (about 2 KiB). The
/// price is that the length is checked before sending, so the bound is soft: a reader and a
/// publisher sending at once may both find the last place free. Publishers deliver to one session
/// under its slot lock, one at a time, so the overshoot is at most one batch of the reader's.
pub(crate) fn writer_channel(capacity: usize) -> (WriterTx, WriterRx) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let room = Arc::new(Room {
        capacity,
        waiting: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        lock: Mutex::new(()),
        drained: Condvar::new(),
    });
    (
        WriterTx {
            tx,
            room: Arc::clone(&room),
        },
        WriterRx { rx, room },
    )
}

/// The sending side of [`writer_channel`].
#[derive(Debug, Clone)]
pub(crate) struct WriterTx {
    tx: Sender<Outbound>,
    room: Arc<Room>,
}

/// The receiving side of [`writer_channel`], owned by the writer thread.
#[derive(Debug)]
pub(crate) struct WriterRx {
    rx: Receiver<Outbound>,
    room: Arc<Room>,
}

/// The bound of one writer's channel, and how a reader waiting for room is woken.
#[derive(Debug)]
struct Room {
    capacity: usize,
    /// Set by a reader about to wait; the writer then notifies `drained` after its next write.
    waiting: AtomicBool,
    /// Set when the writer ends: nobody will make room any more.
    closed: AtomicBool,
    lock: Mutex<()>,
    drained: Condvar,
}

impl WriterTx {
    /// Whether the channel holds `capacity` messages already (what makes `try_send` fail).
    pub(crate) fn is_full(&self) -> bool {
        self.tx.len() >= self.room.capacity
    }

    /// Sends unless the channel holds `capacity` messages already or the writer is gone. Never waits.
    pub(crate) fn try_send(&self, outbound: Outbound) -> Result<(), TrySendError<Outbound>> {
        if self.tx.len() >= self.room.capacity {
            return Err(TrySendError::Full(outbound));
        }
        self.tx.try_send(outbound)
    }

    /// Sends, first waiting while the channel is full: a client that does not read what it is sent
    /// stops its own reader, and nobody else. Fails only once the writer is gone.
    pub(crate) fn send(&self, outbound: Outbound) -> Result<(), SendError<Outbound>> {
        while self.tx.len() >= self.room.capacity {
            let mut guard = self.room.lock.lock();
            self.room.waiting.store(true, Ordering::SeqCst);
            // Checked again under the lock: the writer may have drained just before `waiting` was
            // set, and would then not notify.
            if self.tx.len() < self.room.capacity || self.room.closed.load(Ordering::SeqCst) {
                break;
            }
            // The timeout is a safety net; the writer notifies when it takes messages or ends.
            self.room
                .drained
                .wait_for(&mut guard, Duration::from_millis(100));
        }
        self.tx.send(outbound)
    }
}

impl WriterRx {
    /// Waits for the next message; fails once every sender is gone.
    pub(crate) fn recv(&self) -> Result<Outbound, RecvError> {
        self.rx.recv()
    }

    /// The next message if there is one, without waiting.
    pub(crate) fn try_recv(&self) -> Result<Outbound, TryRecvError> {
        self.rx.try_recv()
    }

    /// Called by the writer after each write: wakes a reader waiting for room.
    pub(crate) fn drained(&self) {
        if self.room.waiting.swap(false, Ordering::SeqCst) {
            let _guard = self.room.lock.lock();
            self.room.drained.notify_all();
        }
    }
}

impl Drop for WriterRx {
    /// The writer is gone: a reader waiting for room must stop waiting (its send then fails).
    fn drop(&mut self) {
        self.room.closed.store(true, Ordering::SeqCst);
        let _guard = self.room.lock.lock();
        self.room.drained.notify_all();
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

    /// The payload length of an encoded PUBLISH (3.1 or 3.1.1 layout: fixed header, topic, packet
    /// identifier if QoS > 0, payload), for `$SYS/broker/publish/bytes/sent`; 0 for anything else.
    pub(crate) fn publish_payload_len(bytes: &[u8]) -> usize {
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
        bytes.len().saturating_sub(at + 2 + topic + identifier)
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
        };
        packet.encode(level, out)
    }

    /// Whether, with persistence on, this packet promises something that must be durable first:
    /// acknowledgements, SUBACK/UNSUBACK, and QoS 1/2 PUBLISH (its packet identifier).
    pub(crate) fn needs_durability(&self) -> bool {
        match self {
            Self::Publish { delivery, .. } => delivery.packet_id().is_some(),
            Self::PubAck(_)
            | Self::PubRec(_)
            | Self::PubRel(_)
            | Self::PubComp(_)
            | Self::SubAck { .. }
            | Self::UnsubAck(_) => true,
            Self::ConnAck { .. } | Self::PingResp | Self::Encoded(_) => false,
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
    use mqtt_codec::QoS;

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
        assert!(rx.recv().is_ok());
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
            OutPacket::publish_payload_len(&[0x30, 6, 0, 1, b't', b'a', b'b', b'c']),
            3
        );
        assert_eq!(
            OutPacket::publish_payload_len(&[0x32, 8, 0, 2, b'a', b'b', 0, 7, b'x', b'y']),
            2
        );
        assert_eq!(OutPacket::publish_payload_len(&[0x40, 2]), 0);
        assert_eq!(OutPacket::publish_payload_len(&[]), 0);
    }
}

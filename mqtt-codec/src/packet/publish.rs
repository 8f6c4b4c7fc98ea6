//! PUBLISH: an application message, in either direction (3.1.1 §3.3, 3.1 §3.3).
//!
//! ```text
//! byte 1      0011 D Q Q R           type 3; DUP, QoS (two bits), RETAIN
//! byte 2..    Remaining Length
//! variable    topic name             string, no wildcards
//! header      packet identifier      two bytes, only when QoS > 0
//! payload     the message            all remaining bytes, possibly none
//! ```
//!
//! The QoS, the packet identifier and DUP are one value here, [`Delivery`], because the specification
//! ties them together: a QoS 0 message has no identifier [MQTT-2.3.1-5] and never DUP [MQTT-3.3.1-2],
//! and a QoS 1 or 2 message always has an identifier [MQTT-2.3.1-1].

use crate::wire::{Reader, Sink};
use crate::{DecodeError, PacketId, ProtocolLevel, QoS, TopicName};

/// A PUBLISH packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish<'a> {
    /// Where the message is published [MQTT-3.3.2-1].
    pub topic: TopicName<'a>,
    /// The application message; its content is opaque to MQTT (3.1.1 §3.3.3).
    pub payload: &'a [u8],
    /// The QoS, with the packet identifier and DUP flag that go with it.
    pub delivery: Delivery,
    /// From a client: keep this as the topic's retained message [MQTT-3.3.1-5]. From a server: this
    /// is a retained message sent because of a new subscription [MQTT-3.3.1-8] [MQTT-3.3.1-9].
    pub retain: bool,
}

/// How a PUBLISH is delivered: its QoS, and for QoS 1 and 2 its packet identifier and DUP flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// QoS 0: no identifier [MQTT-2.3.1-5], never DUP [MQTT-3.3.1-2].
    AtMostOnce,
    /// QoS 1, acknowledged by PUBACK.
    AtLeastOnce {
        /// Pairs the message with its PUBACK [MQTT-2.3.1-6].
        packet_id: PacketId,
        /// Set on a re-delivery [MQTT-3.3.1-1].
        dup: bool,
    },
    /// QoS 2, acknowledged by PUBREC, PUBREL and PUBCOMP.
    ExactlyOnce {
        /// Pairs the message with its PUBREC [MQTT-2.3.1-6].
        packet_id: PacketId,
        /// Set on a re-delivery [MQTT-3.3.1-1].
        dup: bool,
    },
}

impl Delivery {
    /// The delivery for `qos`, using `packet_id` and `dup` only where the QoS has them.
    #[inline]
    pub const fn new(qos: QoS, packet_id: PacketId, dup: bool) -> Self {
        match qos {
            QoS::AtMostOnce => Self::AtMostOnce,
            QoS::AtLeastOnce => Self::AtLeastOnce { packet_id, dup },
            QoS::ExactlyOnce => Self::ExactlyOnce { packet_id, dup },
        }
    }

    /// The QoS level.
    #[inline]
    pub const fn qos(self) -> QoS {
        match self {
            Self::AtMostOnce => QoS::AtMostOnce,
            Self::AtLeastOnce { .. } => QoS::AtLeastOnce,
            Self::ExactlyOnce { .. } => QoS::ExactlyOnce,
        }
    }

    /// The packet identifier, for QoS 1 and 2.
    #[inline]
    pub const fn packet_id(self) -> Option<PacketId> {
        match self {
            Self::AtMostOnce => None,
            Self::AtLeastOnce { packet_id, .. } | Self::ExactlyOnce { packet_id, .. } => {
                Some(packet_id)
            }
        }
    }

    /// Whether this is a re-delivery.
    #[inline]
    pub const fn dup(self) -> bool {
        match self {
            Self::AtMostOnce => false,
            Self::AtLeastOnce { dup, .. } | Self::ExactlyOnce { dup, .. } => dup,
        }
    }
}

const DUP: u8 = 0b1000;
const QOS_SHIFT: u8 = 1;
const RETAIN: u8 = 0b0001;

impl<'a> Publish<'a> {
    /// The QoS level, a shorthand for `self.delivery.qos()`.
    #[inline]
    pub const fn qos(&self) -> QoS {
        self.delivery.qos()
    }

    #[inline]
    pub(crate) fn decode(
        flags: u8,
        body: &'a [u8],
        level: ProtocolLevel,
    ) -> Result<Self, DecodeError> {
        let qos = QoS::from_bits((flags >> QOS_SHIFT) & 0b11)?; // [MQTT-3.3.1-4]
        let dup = flags & DUP != 0;
        let mut reader = Reader::new(body);
        let topic = TopicName::new(reader.topic_string()?)?; // [MQTT-3.3.2-1] [MQTT-3.3.2-2]
        let delivery = match qos {
            // [MQTT-3.3.1-2]; at 3.1 DUP only "applies" above QoS 0 and is disregarded ([V31-DIFF-29]).
            QoS::AtMostOnce if dup && level.is_strict() => return Err(DecodeError::DupWithQoS0),
            QoS::AtMostOnce => Delivery::AtMostOnce,
            _ => Delivery::new(qos, PacketId::from_wire(reader.u16()?)?, dup), // [MQTT-2.3.1-1]
        };
        Ok(Self {
            topic,
            payload: reader.rest(),
            delivery,
            retain: flags & RETAIN != 0,
        })
    }

    #[inline]
    pub(crate) fn first_byte(&self) -> u8 {
        let mut byte = 0x30 | self.qos().bits() << QOS_SHIFT;
        if self.delivery.dup() {
            byte |= DUP;
        }
        if self.retain {
            byte |= RETAIN;
        }
        byte
    }

    #[inline]
    pub(crate) fn body_len(&self) -> usize {
        let id_len = if self.delivery.packet_id().is_some() {
            2
        } else {
            0
        };
        2 + self.topic.as_str().len() + id_len + self.payload.len()
    }

    #[inline]
    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        sink.put_prefixed(self.topic.as_str().as_bytes());
        if let Some(packet_id) = self.delivery.packet_id() {
            sink.put_u16(packet_id.get());
        }
        sink.put(self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Packet;
    use crate::testing::{assert_decodes_to, assert_malformed, assert_vector};
    use ProtocolLevel::{Mqtt31, Mqtt311};

    fn id(value: u16) -> PacketId {
        PacketId::new(value).expect("test ids are non-zero")
    }

    fn publish<'a>(topic: &'a str, payload: &'a [u8], delivery: Delivery) -> Publish<'a> {
        Publish {
            topic: TopicName::new(topic).expect("test topics are valid"),
            payload,
            delivery,
            retain: false,
        }
    }

    #[test]
    fn qos_0() {
        assert_vector(
            Mqtt311,
            "30 0a            PUBLISH QoS 0, remaining length 10
             00 03 61 2f 62   topic 'a/b'
             68 65 6c 6c 6f   payload 'hello' (no packet identifier at QoS 0 [MQTT-2.3.1-5])",
            Packet::Publish(publish("a/b", b"hello", Delivery::AtMostOnce)),
        );
    }

    #[test]
    fn qos_1_dup_retain() {
        let delivery = Delivery::AtLeastOnce {
            packet_id: id(10),
            dup: true,
        };
        let mut packet = publish("t", b"x", delivery);
        packet.retain = true;
        assert_vector(
            Mqtt311,
            "3b 06      PUBLISH: DUP, QoS 1, RETAIN; remaining length 6
             00 01 74   topic 't'
             00 0a      packet identifier 10
             78         payload 'x'",
            Packet::Publish(packet),
        );
    }

    #[test]
    fn qos_2_empty_payload() {
        let delivery = Delivery::ExactlyOnce {
            packet_id: id(0x1234),
            dup: false,
        };
        assert_vector(
            Mqtt31,
            "34 05      PUBLISH QoS 2, remaining length 5
             00 01 74   topic 't'
             12 34      packet identifier 0x1234; payload empty (3.1.1 §3.3.3)",
            Packet::Publish(publish("t", b"", delivery)),
        );
    }

    #[test]
    fn qos_3_refused_mqtt_3_3_1_4() {
        assert_malformed(Mqtt311, "36 05 00 01 74 00 01", DecodeError::InvalidQoS);
        assert_malformed(Mqtt31, "36 05 00 01 74 00 01", DecodeError::InvalidQoS);
    }

    #[test]
    fn dup_on_qos_0_refused_at_3_1_1_mqtt_3_3_1_2() {
        assert_malformed(Mqtt311, "38 03 00 01 74", DecodeError::DupWithQoS0);
        // [V31-DIFF-29]: disregarded at 3.1.
        assert_decodes_to(
            Mqtt31,
            "38 03 00 01 74",
            Packet::Publish(publish("t", b"", Delivery::AtMostOnce)),
        );
    }

    #[test]
    fn wildcards_in_topic_name_refused_mqtt_3_3_2_2() {
        assert_malformed(Mqtt311, "30 03 00 01 23", DecodeError::WildcardInTopicName);
        assert_malformed(
            Mqtt311,
            "30 05 00 03 61 2f 2b",
            DecodeError::WildcardInTopicName,
        );
    }

    #[test]
    fn empty_topic_refused_mqtt_4_7_3_1() {
        assert_malformed(Mqtt311, "30 02 00 00", DecodeError::EmptyTopic);
    }

    #[test]
    fn topic_must_be_valid_utf8_mqtt_3_3_2_1() {
        assert_malformed(Mqtt311, "30 03 00 01 c0", DecodeError::InvalidUtf8);
        assert_malformed(Mqtt311, "30 03 00 01 00", DecodeError::NullCharacter);
    }

    #[test]
    fn packet_id_zero_refused_mqtt_2_3_1_1() {
        assert_malformed(Mqtt311, "32 05 00 01 74 00 00", DecodeError::ZeroPacketId);
    }

    #[test]
    fn missing_packet_id_is_malformed() {
        assert_malformed(
            Mqtt311,
            "32 04 00 01 74 00",
            DecodeError::UnexpectedEndOfPacket,
        );
    }

    #[test]
    fn delivery_keeps_id_and_dup_only_above_qos_0() {
        assert_eq!(
            Delivery::new(QoS::AtMostOnce, id(5), true),
            Delivery::AtMostOnce
        );
        let delivery = Delivery::new(QoS::ExactlyOnce, id(5), true);
        assert_eq!(delivery.packet_id(), Some(id(5)));
        assert!(delivery.dup());
        assert_eq!(delivery.qos(), QoS::ExactlyOnce);
    }
}

//! PUBLISH at MQTT 5.0 (5.0 §3.3): properties after the packet identifier, and a topic name that
//! may be empty when a Topic Alias stands for it.
//!
//! ```text
//! byte 1      0011 D Q Q R           type 3; DUP, QoS (two bits), RETAIN
//! byte 2..    Remaining Length
//! variable    topic name             string, no wildcards; empty if a Topic Alias replaces it
//! header      packet identifier      two bytes, only when QoS > 0 [MQTT5-2.2.1-2]
//!             properties             Property Length, then PUBLISH properties
//! payload     the message            all remaining bytes, possibly none
//! ```

use super::Properties;
use super::properties::PropertyContext;
use crate::wire::{Reader, Sink};
use crate::{DecodeError, Delivery, EncodeError, PacketId, PacketType, QoS, TopicName};

/// A PUBLISH packet at MQTT 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish<'a> {
    /// Where the message is published [MQTT5-3.3.2-1]; `None` when the topic name is empty and the
    /// Topic Alias property says which topic is meant (5.0 §3.3.2.3.4, V5-DIFF-6).
    pub topic: Option<TopicName<'a>>,
    /// The application message.
    pub payload: &'a [u8],
    /// The QoS, with the packet identifier and DUP flag that go with it.
    pub delivery: Delivery,
    /// The RETAIN flag (5.0 §3.3.1.3).
    pub retain: bool,
    /// Payload Format Indicator, Message Expiry Interval, Topic Alias, Response Topic, Correlation
    /// Data, User Property, Subscription Identifier, Content Type.
    pub properties: Properties<'a>,
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
    pub(crate) fn decode(flags: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        let qos = QoS::from_bits((flags >> QOS_SHIFT) & 0b11)?; // [MQTT5-3.3.1-4]
        let dup = flags & DUP != 0;
        let mut reader = Reader::new(body);
        let name = reader.topic_string()?;
        let topic = if name.is_empty() {
            None
        } else {
            Some(TopicName::new(name)?) // [MQTT5-3.3.2-1] [MQTT5-3.3.2-2]
        };
        let delivery = match qos {
            QoS::AtMostOnce if dup => return Err(DecodeError::DupWithQoS0), // [MQTT5-3.3.1-2]
            QoS::AtMostOnce => Delivery::AtMostOnce,
            _ => Delivery::new(qos, PacketId::from_wire(reader.u16()?)?, dup),
        };
        let properties =
            Properties::read(&mut reader, PropertyContext::Packet(PacketType::Publish))?;
        if topic.is_none() && properties.topic_alias().is_none() {
            return Err(DecodeError::EmptyTopicWithoutAlias); // 5.0 §3.3.2.1
        }
        Ok(Self {
            topic,
            payload: reader.rest(),
            delivery,
            retain: flags & RETAIN != 0,
            properties,
        })
    }

    #[inline]
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        self.properties
            .check(PropertyContext::Packet(PacketType::Publish))?;
        if self.topic.is_none() && self.properties.topic_alias().is_none() {
            return Err(EncodeError::EmptyTopicWithoutAlias);
        }
        Ok(())
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
        let packet_id = if self.delivery.packet_id().is_some() {
            2
        } else {
            0
        };
        let topic = self.topic.map_or(0, |topic| topic.as_str().len());
        2 + topic + packet_id + self.properties.encoded_len() + self.payload.len()
    }

    #[inline]
    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        sink.put_prefixed(
            self.topic
                .map_or(&[][..], |topic| topic.as_str().as_bytes()),
        );
        if let Some(packet_id) = self.delivery.packet_id() {
            sink.put_u16(packet_id.get());
        }
        self.properties.write(sink);
        sink.put(self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_malformed_v5, assert_vector_v5};
    use crate::v5::{Packet, Property};

    fn topic(name: &str) -> Option<TopicName<'_>> {
        Some(TopicName::new(name).expect("valid"))
    }

    #[test]
    fn qos_0_without_properties() {
        assert_vector_v5(
            "30 08 00 03 61 2f 62   PUBLISH to 'a/b'
             00                     no properties
             68 69                  payload 'hi'",
            Packet::Publish(Publish {
                topic: topic("a/b"),
                payload: b"hi",
                delivery: Delivery::AtMostOnce,
                retain: false,
                properties: Properties::EMPTY,
            }),
        );
    }

    #[test]
    fn qos_1_with_alias_and_user_property() {
        let properties = [Property::TopicAlias(3), Property::UserProperty("a", "b")];
        assert_vector_v5(
            "33 13                  PUBLISH, QoS 1, retain
             00 03 61 2f 62         topic 'a/b'
             00 07                  packet identifier 7
             0a                     property length 10
             23 00 03               topic alias 3
             26 00 01 61 00 01 62   user property a=b
             21                     payload '!'",
            Packet::Publish(Publish {
                topic: topic("a/b"),
                payload: b"!",
                delivery: Delivery::AtLeastOnce {
                    packet_id: PacketId::new(7).expect("non-zero"),
                    dup: false,
                },
                retain: true,
                properties: Properties::from_slice(&properties),
            }),
        );
    }

    #[test]
    fn empty_topic_with_an_alias() {
        let properties = [Property::TopicAlias(3)];
        assert_vector_v5(
            "30 07 00 00   PUBLISH, empty topic name
             03 23 00 03   topic alias 3
             21            payload",
            Packet::Publish(Publish {
                topic: None,
                payload: b"!",
                delivery: Delivery::AtMostOnce,
                retain: false,
                properties: Properties::from_slice(&properties),
            }),
        );
    }

    #[test]
    fn empty_topic_without_an_alias_is_a_protocol_error() {
        let error = DecodeError::EmptyTopicWithoutAlias;
        assert_malformed_v5("30 03 00 00 00", error);
        assert_eq!(error.reason_code(), crate::v5::ReasonCode::PROTOCOL_ERROR);
    }

    #[test]
    fn topic_alias_0_is_invalid_mqtt5_3_3_2_8() {
        let error = DecodeError::ZeroTopicAlias;
        assert_malformed_v5("30 06 00 00 03 23 00 00", error);
        assert_eq!(
            error.reason_code(),
            crate::v5::ReasonCode::TOPIC_ALIAS_INVALID
        );
    }

    #[test]
    fn several_subscription_identifiers_in_a_delivery_mqtt5_3_3_4_4() {
        let properties = [
            Property::SubscriptionIdentifier(1),
            Property::SubscriptionIdentifier(200),
        ];
        assert_vector_v5(
            "30 09 00 01 61   PUBLISH to 'a'
             05 0b 01 0b c8 01   subscription identifiers 1 and 200
             ",
            Packet::Publish(Publish {
                topic: topic("a"),
                payload: b"",
                delivery: Delivery::AtMostOnce,
                retain: false,
                properties: Properties::from_slice(&properties),
            }),
        );
    }

    #[test]
    fn malformed_publishes() {
        assert_malformed_v5("36 05 00 01 61 00 01", DecodeError::InvalidQoS); // [MQTT5-3.3.1-4]
        assert_malformed_v5("38 04 00 01 61 00", DecodeError::DupWithQoS0); // [MQTT5-3.3.1-2]
        assert_malformed_v5("30 04 00 01 23 00", DecodeError::WildcardInTopicName); // [MQTT5-3.3.2-2]
        // No Property Length at all: the 3.1.1 layout is not 5.0.
        assert_malformed_v5("30 03 00 01 61", DecodeError::UnexpectedEndOfPacket);
        // A Session Expiry Interval does not belong in PUBLISH (5.0 §2.2.2.2).
        assert_malformed_v5(
            "30 09 00 01 61 05 11 00 00 00 01",
            DecodeError::PropertyNotAllowed,
        );
        // Two Message Expiry Intervals (5.0 §3.3.2.3.3).
        assert_malformed_v5(
            "30 0e 00 01 61 0a 02 00 00 00 01 02 00 00 00 01",
            DecodeError::DuplicateProperty,
        );
    }
}

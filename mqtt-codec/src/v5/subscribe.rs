//! SUBSCRIBE at MQTT 5.0 (5.0 §3.8): properties, and an options byte per filter where 3.1.1 has a
//! bare requested QoS (V5-DIFF-9).
//!
//! ```text
//! byte 1      0x82                 type 8, flags 0010 [MQTT5-3.8.1-1]
//! byte 2..    Remaining Length
//! variable    packet identifier    two bytes, non-zero
//! header      properties           Property Length; Subscription Identifier, User Property
//! payload     one or more of:      topic filter (string), options: 00 RR P N QQ
//!                                  (reserved, Retain Handling, Retain As Published, No Local, QoS)
//! ```

use super::properties::PropertyContext;
use super::{Properties, shared_subscription};
use crate::list::sealed::Entry;
use crate::packet::filter_request;
use crate::wire::{Reader, Sink};
use crate::{
    DecodeError, EncodeError, List, PacketId, PacketType, ProtocolLevel, QoS, TopicFilter,
};

/// A SUBSCRIBE packet at MQTT 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Echoed by the SUBACK [MQTT5-3.8.4-2].
    pub packet_id: PacketId,
    /// Subscription Identifier (at most one, not 0) and User Property.
    pub properties: Properties<'a>,
    /// At least one filter with its options [MQTT5-3.8.3-2].
    pub filters: List<'a, Subscription<'a>>,
}

/// One entry of a 5.0 SUBSCRIBE: a filter and its Subscription Options (5.0 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subscription<'a> {
    /// Which topics [MQTT5-3.8.3-1]; `$share/{ShareName}/{filter}` for a shared subscription
    /// [MQTT5-4.8.2-1] [MQTT5-4.8.2-2].
    pub filter: TopicFilter<'a>,
    /// How messages are delivered through it.
    pub options: SubscriptionOptions,
}

/// The Subscription Options byte (5.0 §3.8.3.1). The default is QoS 0 with every option off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    /// The highest QoS delivered through this subscription.
    pub qos: QoS,
    /// Do not send back what this connection's client id published [MQTT5-3.8.3-3]; not allowed on
    /// a shared subscription [MQTT5-3.8.3-4].
    pub no_local: bool,
    /// Keep the RETAIN flag of forwarded messages as published (5.0 §3.8.3.1).
    pub retain_as_published: bool,
    /// When retained messages are sent on subscribing [MQTT5-3.8.4-4].
    pub retain_handling: RetainHandling,
}

/// Bits 4 and 5 of the Subscription Options; 3 is a Protocol Error (5.0 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// 0: send retained messages when the subscription is made.
    #[default]
    SendOnSubscribe = 0,
    /// 1: send them only if the subscription did not already exist.
    SendIfNew = 1,
    /// 2: do not send them.
    DoNotSend = 2,
}

const NO_LOCAL: u8 = 0b0000_0100;
const RETAIN_AS_PUBLISHED: u8 = 0b0000_1000;
const RETAIN_HANDLING_SHIFT: u8 = 4;
const RESERVED: u8 = 0b1100_0000;

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            qos: QoS::AtMostOnce,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendOnSubscribe,
        }
    }
}

impl SubscriptionOptions {
    /// The options byte on the wire.
    pub const fn to_byte(self) -> u8 {
        let mut byte = self.qos.bits() | (self.retain_handling as u8) << RETAIN_HANDLING_SHIFT;
        if self.no_local {
            byte |= NO_LOCAL;
        }
        if self.retain_as_published {
            byte |= RETAIN_AS_PUBLISHED;
        }
        byte
    }

    /// The options of `byte`: reserved bits set are malformed [MQTT5-3.8.3-5]; a QoS or a Retain
    /// Handling of 3 is a Protocol Error (5.0 §3.8.3.1).
    pub const fn from_byte(byte: u8) -> Result<Self, DecodeError> {
        if byte & RESERVED != 0 {
            return Err(DecodeError::InvalidSubscriptionOptions);
        }
        let qos = match QoS::from_bits(byte & 0b11) {
            Ok(qos) => qos,
            Err(_) => return Err(DecodeError::InvalidRequestedQoS),
        };
        let retain_handling = match (byte >> RETAIN_HANDLING_SHIFT) & 0b11 {
            0 => RetainHandling::SendOnSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::InvalidRetainHandling),
        };
        Ok(Self {
            qos,
            no_local: byte & NO_LOCAL != 0,
            retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
            retain_handling,
        })
    }
}

impl<'a> Entry<'a> for Subscription<'a> {
    fn read(reader: &mut Reader<'a>, _level: ProtocolLevel) -> Result<Self, DecodeError> {
        let filter = TopicFilter::new(reader.topic_string()?)?;
        let options = SubscriptionOptions::from_byte(reader.u8()?)?;
        let shared = shared_subscription(filter)?;
        if shared.is_some() && options.no_local {
            return Err(DecodeError::NoLocalOnSharedSubscription); // [MQTT5-3.8.3-4]
        }
        Ok(Self { filter, options })
    }

    #[inline]
    fn encoded_len(&self) -> usize {
        2 + self.filter.as_str().len() + 1
    }

    #[inline]
    fn write(&self, sink: &mut impl Sink) {
        sink.put_prefixed(self.filter.as_str().as_bytes());
        sink.put_u8(self.options.to_byte());
    }
}

impl<'a> Subscribe<'a> {
    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        // The shared frame refuses a zero identifier [MQTT5-2.2.1-3] and an empty list
        // [MQTT5-3.8.3-2]. The level is not used by 5.0 entries; the list type is shared with
        // 3.1.1.
        let frame = filter_request::decode(body, ProtocolLevel::Mqtt311, |reader| {
            Properties::read(reader, PropertyContext::Packet(PacketType::Subscribe))
        })?;
        Ok(Self {
            packet_id: frame.packet_id,
            properties: frame.header,
            filters: frame.entries,
        })
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        filter_request::check(&self.filters)?; // [MQTT5-3.8.3-2]
        for subscription in self.filters.iter() {
            let shared = shared_subscription(subscription.filter)
                .map_err(|_| EncodeError::InvalidTopicFilter)?;
            if shared.is_some() && subscription.options.no_local {
                return Err(EncodeError::NoLocalOnSharedSubscription);
            }
        }
        self.properties
            .check(PropertyContext::Packet(PacketType::Subscribe))
    }

    pub(crate) fn body_len(&self) -> usize {
        filter_request::body_len(self.properties.encoded_len(), &self.filters)
    }

    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        let properties = &self.properties;
        filter_request::write_body(sink, self.packet_id, |s| properties.write(s), &self.filters);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_malformed_v5, assert_vector_v5};
    use crate::v5::{Packet, Property};

    fn subscription(filter: &str, options: SubscriptionOptions) -> Subscription<'_> {
        Subscription {
            filter: TopicFilter::new(filter).expect("valid"),
            options,
        }
    }

    #[test]
    fn every_option_and_a_subscription_identifier() {
        let entries = [
            subscription(
                "a/+",
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            ),
            subscription("$share/g/#", SubscriptionOptions::default()),
        ];
        let properties = [Property::SubscriptionIdentifier(300)];
        assert_vector_v5(
            "82 19                         SUBSCRIBE, remaining length 25
             00 01                         packet identifier 1
             03 0b ac 02                   subscription identifier 300
             00 03 61 2f 2b 2d             'a/+', options 0x2D: retain handling 2, RAP, no local, QoS 1
             00 0a 24 73 68 61 72 65 2f 67 2f 23 00   '$share/g/#', options 0",
            Packet::Subscribe(Subscribe {
                packet_id: PacketId::new(1).expect("non-zero"),
                properties: Properties::from_slice(&properties),
                filters: List::from_slice(&entries),
            }),
        );
    }

    #[test]
    fn reserved_option_bits_are_malformed_mqtt5_3_8_3_5() {
        let error = DecodeError::InvalidSubscriptionOptions;
        assert_malformed_v5("82 07 00 01 00 00 01 61 40", error);
        assert_malformed_v5("82 07 00 01 00 00 01 61 80", error);
        assert_eq!(error.reason_code(), crate::v5::ReasonCode::MALFORMED_PACKET);
    }

    #[test]
    fn retain_handling_3_and_qos_3_are_protocol_errors() {
        assert_malformed_v5(
            "82 07 00 01 00 00 01 61 30",
            DecodeError::InvalidRetainHandling,
        );
        assert_malformed_v5(
            "82 07 00 01 00 00 01 61 03",
            DecodeError::InvalidRequestedQoS,
        );
    }

    #[test]
    fn no_local_on_a_shared_subscription_mqtt5_3_8_3_4() {
        assert_malformed_v5(
            "82 10 00 01 00 00 0a 24 73 68 61 72 65 2f 67 2f 23 04",
            DecodeError::NoLocalOnSharedSubscription,
        );
        let entries = [subscription(
            "$share/g/a",
            SubscriptionOptions {
                no_local: true,
                ..SubscriptionOptions::default()
            },
        )];
        let packet = Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(1).expect("non-zero"),
            properties: Properties::EMPTY,
            filters: List::from_slice(&entries),
        });
        assert_eq!(
            packet.encode(&mut alloc::vec::Vec::new()),
            Err(EncodeError::NoLocalOnSharedSubscription)
        );
    }

    #[test]
    fn malformed_shared_filters_mqtt5_4_8_2_1_and_2() {
        // No ShareName; no filter after it; a wildcard in the ShareName.
        for hex in [
            "82 0d 00 01 00 00 07 24 73 68 61 72 65 2f 00",
            "82 0e 00 01 00 00 08 24 73 68 61 72 65 2f 67 00",
            "82 10 00 01 00 00 0a 24 73 68 61 72 65 2f 2b 2f 61 00",
        ] {
            assert_malformed_v5(hex, DecodeError::InvalidTopicFilter);
        }
    }

    #[test]
    fn subscription_identifier_rules() {
        // 0 is a Protocol Error; twice is too (5.0 §3.8.2.1.2).
        assert_malformed_v5(
            "82 09 00 01 02 0b 00 00 01 61 00",
            DecodeError::ZeroSubscriptionIdentifier,
        );
        assert_malformed_v5(
            "82 0b 00 01 04 0b 01 0b 02 00 01 61 00",
            DecodeError::DuplicateProperty,
        );
        // A Topic Alias does not belong here.
        assert_malformed_v5(
            "82 0a 00 01 03 23 00 01 00 01 61 00",
            DecodeError::PropertyNotAllowed,
        );
    }

    #[test]
    fn no_filters_is_a_protocol_error_mqtt5_3_8_3_2() {
        assert_malformed_v5("82 03 00 01 00", DecodeError::NoTopicFilters);
        assert_malformed_v5(
            "80 07 00 01 00 00 01 61 00",
            DecodeError::InvalidHeaderFlags,
        );
    }
}

//! SUBACK and UNSUBACK at MQTT 5.0 (5.0 §3.9, §3.11): properties, then one Reason Code per filter
//! of the request, in its order [MQTT5-3.9.3-1] [MQTT5-3.11.3-1]. 3.1.1's UNSUBACK has no codes at
//! all (V5-DIFF-2); the two share this file because at 5.0 they share their layout.
//!
//! ```text
//! byte 1      0x90 SUBACK, 0xB0 UNSUBACK
//! byte 2..    Remaining Length
//! variable    packet identifier    the identifier of the SUBSCRIBE or UNSUBSCRIBE
//! header      properties           Property Length; Reason String, User Property
//! payload     reason codes         one byte per filter
//! ```

use super::properties::PropertyContext;
use super::{Properties, ReasonCode};
use crate::list::sealed::Entry;
use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, List, PacketId, PacketType, ProtocolLevel};

impl Entry<'_> for ReasonCode {
    fn read(reader: &mut Reader<'_>, _level: ProtocolLevel) -> Result<Self, DecodeError> {
        // Which codes are allowed depends on the packet, which checks them after the list.
        Ok(Self::from_byte(reader.u8()?))
    }

    fn encoded_len(&self) -> usize {
        1
    }

    fn write(&self, sink: &mut impl Sink) {
        sink.put_u8(self.get());
    }
}

macro_rules! reason_list_ack {
    ($(#[$doc:meta])* $name:ident, $packet_type:ident, $codes:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<'a> {
            /// The identifier of the request answered [MQTT5-2.2.1-6].
            pub packet_id: PacketId,
            /// Reason String, User Property.
            pub properties: Properties<'a>,
            #[doc = $codes]
            pub reason_codes: List<'a, ReasonCode>,
        }

        impl<'a> $name<'a> {
            pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
                let mut reader = Reader::new(body);
                let packet_id = PacketId::from_wire(reader.u16()?)?;
                let properties = Properties::read(
                    &mut reader,
                    PropertyContext::Packet(PacketType::$packet_type),
                )?;
                let reason_codes: List<'a, ReasonCode> =
                    List::decode(reader.rest(), ProtocolLevel::Mqtt311)?;
                if reason_codes.is_empty() {
                    // Every request has at least one filter, so every answer one code.
                    return Err(DecodeError::NoReturnCodes);
                }
                if reason_codes
                    .iter()
                    .any(|code| !code.allowed_in(PacketType::$packet_type))
                {
                    return Err(DecodeError::InvalidReasonCode);
                }
                Ok(Self { packet_id, properties, reason_codes })
            }

            pub(crate) fn check(&self) -> Result<(), EncodeError> {
                if self.reason_codes.is_empty() {
                    return Err(EncodeError::EmptyList);
                }
                if self
                    .reason_codes
                    .iter()
                    .any(|code| !code.allowed_in(PacketType::$packet_type))
                {
                    return Err(EncodeError::InvalidReasonCode);
                }
                self.properties
                    .check(PropertyContext::Packet(PacketType::$packet_type))
            }

            pub(crate) fn body_len(&self) -> usize {
                2 + self.properties.encoded_len() + self.reason_codes.encoded_len()
            }

            pub(crate) fn write_body(&self, sink: &mut impl Sink) {
                sink.put_u16(self.packet_id.get());
                self.properties.write(sink);
                self.reason_codes.write(sink);
            }
        }
    };
}

reason_list_ack! {
    /// SUBACK at 5.0: the answer to SUBSCRIBE [MQTT5-3.8.4-1].
    SubAck, SubAck,
    "One per filter: the QoS granted, or why not [MQTT5-3.8.4-6] [MQTT5-3.8.4-7] [MQTT5-3.9.3-2]."
}

reason_list_ack! {
    /// UNSUBACK at 5.0: the answer to UNSUBSCRIBE [MQTT5-3.10.4-4].
    UnsubAck, UnsubAck,
    "One per filter: success, no subscription existed, or a failure [MQTT5-3.11.3-2]."
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_malformed_v5, assert_vector_v5};
    use crate::v5::{Packet, Property};

    fn id(value: u16) -> PacketId {
        PacketId::new(value).expect("non-zero")
    }

    #[test]
    fn suback_codes() {
        let codes = [
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::NOT_AUTHORIZED,
            ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
        ];
        assert_vector_v5(
            "90 06 00 03 00   SUBACK, packet identifier 3, no properties
             01 87 9e         granted QoS 1, not authorized, shared subscriptions not supported",
            Packet::SubAck(SubAck {
                packet_id: id(3),
                properties: Properties::EMPTY,
                reason_codes: List::from_slice(&codes),
            }),
        );
    }

    #[test]
    fn unsuback_codes_with_a_reason_string() {
        let codes = [ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED];
        let properties = [Property::ReasonString("x")];
        assert_vector_v5(
            "b0 09 00 04 04 1f 00 01 78   UNSUBACK 4, reason string 'x'
             00 11                        success, no subscription existed",
            Packet::UnsubAck(UnsubAck {
                packet_id: id(4),
                properties: Properties::from_slice(&properties),
                reason_codes: List::from_slice(&codes),
            }),
        );
    }

    #[test]
    fn codes_of_other_packets_refused_mqtt5_3_9_3_2_and_3_11_3_2() {
        assert_malformed_v5("90 04 00 01 00 03", DecodeError::InvalidReasonCode);
        assert_malformed_v5("90 04 00 01 00 11", DecodeError::InvalidReasonCode);
        assert_malformed_v5("b0 04 00 01 00 01", DecodeError::InvalidReasonCode);
        assert_malformed_v5("b0 03 00 01 00", DecodeError::NoReturnCodes);
        // The 3.1.1 UNSUBACK (identifier only) lacks the Property Length.
        assert_malformed_v5("b0 02 00 01", DecodeError::UnexpectedEndOfPacket);
    }
}

//! PUBACK, PUBREC, PUBREL and PUBCOMP at MQTT 5.0 (5.0 §3.4 to §3.7): the packet identifier, then a
//! Reason Code and properties that may be left out.
//!
//! ```text
//! byte 1    type << 4 | flags    0x40 PUBACK, 0x50 PUBREC, 0x62 PUBREL, 0x70 PUBCOMP
//! byte 2..  Remaining Length     2: success, no properties; 3: a reason code, no properties
//! bytes     packet identifier    the identifier of the PUBLISH (or PUBREL) answered
//! byte      reason code          if the Remaining Length is over 2
//! ...       properties           if the Remaining Length is over 3: Reason String, User Property
//! ```
//!
//! The encoder writes the shortest form that says the same thing: 2 bytes for success without
//! properties, 3 for another code without properties (5.0 §3.4.2.1, §3.4.2.2.1 and the same
//! paragraphs of §3.5 to §3.7). A decoder accepts all three forms, so a 3- or 4-byte success decodes
//! to the same value as the 2-byte one.

use super::properties::PropertyContext;
use super::{Properties, ReasonCode};
use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, PacketId, PacketType};

macro_rules! publish_ack {
    ($(#[$doc:meta])* $name:ident, $packet_type:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<'a> {
            /// The identifier of the packet this one answers [MQTT5-2.2.1-5].
            pub packet_id: PacketId,
            /// The outcome, from this packet's column of Table 2-6.
            pub reason: ReasonCode,
            /// Reason String, User Property.
            pub properties: Properties<'a>,
        }

        impl<'a> $name<'a> {
            /// A success answer to `packet_id`, without properties.
            pub const fn new(packet_id: PacketId) -> Self {
                Self {
                    packet_id,
                    reason: ReasonCode::SUCCESS,
                    properties: Properties::EMPTY,
                }
            }

            pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
                let (packet_id, reason, properties) = decode_ack(body, PacketType::$packet_type)?;
                Ok(Self { packet_id, reason, properties })
            }

            pub(crate) fn check(&self) -> Result<(), EncodeError> {
                check_ack(self.reason, &self.properties, PacketType::$packet_type)
            }

            pub(crate) fn body_len(&self) -> usize {
                ack_body_len(self.reason, &self.properties)
            }

            pub(crate) fn write_body(&self, sink: &mut impl Sink) {
                write_ack(self.packet_id, self.reason, &self.properties, sink);
            }
        }
    };
}

publish_ack! {
    /// PUBACK at 5.0: the answer to a QoS 1 PUBLISH [MQTT5-3.4.2-1].
    PubAck, PubAck
}

publish_ack! {
    /// PUBREC at 5.0: the first answer to a QoS 2 PUBLISH [MQTT5-3.5.2-1]. A code from 0x80 ends the
    /// exchange there.
    PubRec, PubRec
}

publish_ack! {
    /// PUBREL at 5.0: the answer to PUBREC [MQTT5-3.6.2-1]; fixed-header flags 0010 [MQTT5-3.6.1-1].
    PubRel, PubRel
}

publish_ack! {
    /// PUBCOMP at 5.0: the answer to PUBREL [MQTT5-3.7.2-1].
    PubComp, PubComp
}

fn decode_ack(
    body: &[u8],
    packet_type: PacketType,
) -> Result<(PacketId, ReasonCode, Properties<'_>), DecodeError> {
    let mut reader = Reader::new(body);
    let packet_id = PacketId::from_wire(reader.u16()?)?;
    if reader.is_empty() {
        return Ok((packet_id, ReasonCode::SUCCESS, Properties::EMPTY));
    }
    let reason = ReasonCode::from_byte(reader.u8()?);
    if !reason.allowed_in(packet_type) {
        return Err(DecodeError::InvalidReasonCode);
    }
    let properties = if reader.is_empty() {
        Properties::EMPTY
    } else {
        Properties::read(&mut reader, PropertyContext::Packet(packet_type))?
    };
    reader.finish()?;
    Ok((packet_id, reason, properties))
}

fn check_ack(
    reason: ReasonCode,
    properties: &Properties<'_>,
    packet_type: PacketType,
) -> Result<(), EncodeError> {
    if !reason.allowed_in(packet_type) {
        return Err(EncodeError::InvalidReasonCode);
    }
    properties.check(PropertyContext::Packet(packet_type))
}

fn ack_body_len(reason: ReasonCode, properties: &Properties<'_>) -> usize {
    match (reason == ReasonCode::SUCCESS, properties.is_empty()) {
        (true, true) => 2,
        (false, true) => 3,
        (_, false) => 3 + properties.encoded_len(),
    }
}

fn write_ack(
    packet_id: PacketId,
    reason: ReasonCode,
    properties: &Properties<'_>,
    sink: &mut impl Sink,
) {
    sink.put_u16(packet_id.get());
    let len = ack_body_len(reason, properties);
    if len > 2 {
        sink.put_u8(reason.get());
    }
    if len > 3 {
        properties.write(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_decodes_to_v5, assert_malformed_v5, assert_vector_v5};
    use crate::v5::{Packet, Property};

    fn id(value: u16) -> PacketId {
        PacketId::new(value).expect("test ids are non-zero")
    }

    #[test]
    fn short_forms_are_success_without_properties() {
        for (hex, packet) in [
            ("40 02 00 01", Packet::PubAck(PubAck::new(id(1)))),
            ("50 02 00 02", Packet::PubRec(PubRec::new(id(2)))),
            ("62 02 00 03", Packet::PubRel(PubRel::new(id(3)))),
            ("70 02 00 04", Packet::PubComp(PubComp::new(id(4)))),
        ] {
            assert_vector_v5(hex, packet);
        }
        // The longer spellings of the same thing decode to it; the encoder writes the short one.
        assert_decodes_to_v5("40 03 00 01 00", Packet::PubAck(PubAck::new(id(1))));
        assert_decodes_to_v5("40 04 00 01 00 00", Packet::PubAck(PubAck::new(id(1))));
    }

    #[test]
    fn reason_code_without_properties() {
        assert_vector_v5(
            "50 03 00 05 10   PUBREC, no matching subscribers",
            Packet::PubRec(PubRec {
                reason: ReasonCode::NO_MATCHING_SUBSCRIBERS,
                ..PubRec::new(id(5))
            }),
        );
        assert_vector_v5(
            "70 03 00 05 92   PUBCOMP, packet identifier not found",
            Packet::PubComp(PubComp {
                reason: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
                ..PubComp::new(id(5))
            }),
        );
    }

    #[test]
    fn reason_code_with_properties() {
        let properties = [
            Property::ReasonString("no"),
            Property::UserProperty("k", "v"),
        ];
        assert_vector_v5(
            "40 10               PUBACK, remaining length 16
             00 09               packet identifier 9
             87                  not authorized
             0c                  property length 12
             1f 00 02 6e 6f      reason string 'no'
             26 00 01 6b 00 01 76   user property k=v",
            Packet::PubAck(PubAck {
                packet_id: id(9),
                reason: ReasonCode::NOT_AUTHORIZED,
                properties: Properties::from_slice(&properties),
            }),
        );
        // Success with properties keeps the reason byte.
        let reason = [Property::ReasonString("ok")];
        assert_vector_v5(
            "62 09 00 01 00 05 1f 00 02 6f 6b",
            Packet::PubRel(PubRel {
                properties: Properties::from_slice(&reason),
                ..PubRel::new(id(1))
            }),
        );
    }

    #[test]
    fn codes_of_other_packets_refused() {
        // PUBREL and PUBCOMP have only 0x00 and 0x92 [MQTT5-3.6.2-1] [MQTT5-3.7.2-1].
        assert_malformed_v5("62 03 00 01 80", DecodeError::InvalidReasonCode);
        assert_malformed_v5("70 03 00 01 10", DecodeError::InvalidReasonCode);
        // 0x92 is not a PUBACK code [MQTT5-3.4.2-1]; 0x04 is DISCONNECT's [MQTT5-3.5.2-1].
        assert_malformed_v5("40 03 00 01 92", DecodeError::InvalidReasonCode);
        assert_malformed_v5("50 03 00 01 04", DecodeError::InvalidReasonCode);
        let bad = Packet::PubAck(PubAck {
            reason: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
            ..PubAck::new(id(1))
        });
        assert_eq!(
            bad.encode(&mut alloc::vec::Vec::new()),
            Err(EncodeError::InvalidReasonCode)
        );
    }

    #[test]
    fn only_reason_string_and_user_property_allowed() {
        // A Topic Alias in a PUBACK.
        assert_malformed_v5(
            "40 07 00 01 00 03 23 00 01",
            DecodeError::PropertyNotAllowed,
        );
        // Two Reason Strings (5.0 §3.4.2.2.2).
        assert_malformed_v5(
            "40 0c 00 01 00 08 1f 00 01 61 1f 00 01 62",
            DecodeError::DuplicateProperty,
        );
        assert_malformed_v5("62 02 00 00", DecodeError::ZeroPacketId);
        assert_malformed_v5("60 02 00 01", DecodeError::InvalidHeaderFlags); // [MQTT5-3.6.1-1]
    }
}

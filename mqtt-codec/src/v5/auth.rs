//! AUTH (5.0 §3.15): a step of an enhanced authentication exchange, new in 5.0 as packet type 15
//! (V5-DIFF-3, V5-DIFF-14).
//!
//! ```text
//! byte 1    0xF0                 type 15, flags 0000 [MQTT5-3.15.1-1]
//! byte 2..  Remaining Length     0: success, no properties
//! byte      reason code          0x00 success, 0x18 continue authentication, 0x19 re-authenticate
//! ...       properties           Authentication Method, Authentication Data, Reason String,
//!                                User Property
//! ```
//!
//! Unlike DISCONNECT, AUTH has no form with a Reason Code but no Property Length: the text allows
//! leaving out both or neither (5.0 §3.15.2.1, §3.15.2.2.1). Whether the method matches the one of
//! CONNECT is for the session to check, not the codec.

use super::properties::PropertyContext;
use super::{Properties, ReasonCode, check_authentication};
use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, PacketType};

/// An AUTH packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    /// Where the exchange is [MQTT5-3.15.2-1].
    pub reason: ReasonCode,
    /// Authentication Method, Authentication Data, Reason String, User Property.
    pub properties: Properties<'a>,
}

impl<'a> Auth<'a> {
    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        if reader.is_empty() {
            return Ok(Self {
                reason: ReasonCode::SUCCESS,
                properties: Properties::EMPTY,
            });
        }
        let reason = ReasonCode::from_byte(reader.u8()?);
        if !reason.allowed_in(PacketType::Auth) {
            return Err(DecodeError::InvalidReasonCode); // [MQTT5-3.15.2-1]
        }
        let properties = Properties::read(&mut reader, PropertyContext::Packet(PacketType::Auth))?;
        check_authentication(&properties)?;
        reader.finish()?;
        Ok(Self { reason, properties })
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if !self.reason.allowed_in(PacketType::Auth) {
            return Err(EncodeError::InvalidReasonCode);
        }
        if self.properties.authentication_data().is_some()
            && self.properties.authentication_method().is_none()
        {
            return Err(EncodeError::AuthenticationDataWithoutMethod);
        }
        self.properties
            .check(PropertyContext::Packet(PacketType::Auth))
    }

    pub(crate) fn body_len(&self) -> usize {
        if self.reason == ReasonCode::SUCCESS && self.properties.is_empty() {
            0
        } else {
            1 + self.properties.encoded_len()
        }
    }

    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        if self.body_len() > 0 {
            sink.put_u8(self.reason.get());
            self.properties.write(sink);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_decodes_to_v5, assert_malformed_v5, assert_vector_v5};
    use crate::v5::{Packet, Property};

    #[test]
    fn continue_with_method_and_data() {
        let properties = [
            Property::AuthenticationMethod("SCRAM-SHA-256"),
            Property::AuthenticationData(b"r=abc"),
        ];
        assert_vector_v5(
            "f0 1a                 AUTH, remaining length 26
             18                    continue authentication
             18                    property length 24
             15 00 0d 53 43 52 41 4d 2d 53 48 41 2d 32 35 36   method 'SCRAM-SHA-256'
             16 00 05 72 3d 61 62 63                           data 'r=abc'",
            Packet::Auth(Auth {
                reason: ReasonCode::CONTINUE_AUTHENTICATION,
                properties: Properties::from_slice(&properties),
            }),
        );
    }

    #[test]
    fn success_short_form() {
        let success = Packet::Auth(Auth {
            reason: ReasonCode::SUCCESS,
            properties: Properties::EMPTY,
        });
        assert_vector_v5("f0 00", success);
        assert_decodes_to_v5("f0 02 00 00", success);
    }

    #[test]
    fn refused() {
        assert_malformed_v5("f1 00", DecodeError::InvalidHeaderFlags); // [MQTT5-3.15.1-1]
        assert_malformed_v5("f0 02 87 00", DecodeError::InvalidReasonCode); // [MQTT5-3.15.2-1]
        // A reason code without the Property Length.
        assert_malformed_v5("f0 01 18", DecodeError::UnexpectedEndOfPacket);
        assert_malformed_v5(
            "f0 06 18 04 16 00 01 78",
            DecodeError::AuthenticationDataWithoutMethod,
        );
        // Type 15 stays reserved at 3.1.1.
        assert_eq!(
            crate::Decoder::new(crate::ProtocolLevel::Mqtt311).decode(&[0xF0, 0x00]),
            Err(DecodeError::ReservedPacketType)
        );
    }
}

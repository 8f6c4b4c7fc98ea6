//! CONNACK at MQTT 5.0 (5.0 §3.2): a Connect Reason Code instead of a return code, and properties.
//!
//! ```text
//! byte 1   0x20               type 2, flags 0000
//! byte 2.. Remaining Length
//! byte     acknowledge flags  bits 7-1 reserved [MQTT5-3.2.2-1], bit 0 Session Present
//! byte     reason code        Table 2-6, CONNACK column [MQTT5-3.2.2-8]
//! ...      properties         Property Length, then CONNACK properties
//! ```

use super::properties::PropertyContext;
use super::{Properties, ReasonCode, check_authentication};
use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, PacketType};

/// A CONNACK packet at MQTT 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck<'a> {
    /// Whether the server resumed a stored session [MQTT5-3.2.2-2] [MQTT5-3.2.2-3]; never with a
    /// failure code [MQTT5-3.2.2-6].
    pub session_present: bool,
    /// Success, or why the connection is refused; from 0x80 the server closes [MQTT5-3.2.2-7].
    pub reason: ReasonCode,
    /// Session Expiry Interval, Receive Maximum, Maximum QoS, Retain Available, Maximum Packet Size,
    /// Assigned Client Identifier, Topic Alias Maximum, Reason String, User Property, the three
    /// availability flags, Server Keep Alive, Response Information, Server Reference and
    /// Authentication Method/Data.
    pub properties: Properties<'a>,
}

impl Default for ConnAck<'_> {
    fn default() -> Self {
        Self {
            session_present: false,
            reason: ReasonCode::SUCCESS,
            properties: Properties::EMPTY,
        }
    }
}

const SESSION_PRESENT: u8 = 0b0000_0001;

impl<'a> ConnAck<'a> {
    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let flags = reader.u8()?;
        if flags & !SESSION_PRESENT != 0 {
            return Err(DecodeError::InvalidConnAckFlags); // [MQTT5-3.2.2-1]
        }
        let reason = ReasonCode::from_byte(reader.u8()?);
        if !reason.allowed_in(PacketType::ConnAck) {
            return Err(DecodeError::InvalidReasonCode); // [MQTT5-3.2.2-8]
        }
        let session_present = flags & SESSION_PRESENT != 0;
        if session_present && reason != ReasonCode::SUCCESS {
            return Err(DecodeError::SessionPresentOnRefusal); // [MQTT5-3.2.2-6]
        }
        let properties =
            Properties::read(&mut reader, PropertyContext::Packet(PacketType::ConnAck))?;
        check_authentication(&properties)?;
        reader.finish()?;
        Ok(Self {
            session_present,
            reason,
            properties,
        })
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if !self.reason.allowed_in(PacketType::ConnAck) {
            return Err(EncodeError::InvalidReasonCode);
        }
        if self.session_present && self.reason != ReasonCode::SUCCESS {
            return Err(EncodeError::SessionPresentOnRefusal);
        }
        if self.properties.authentication_data().is_some()
            && self.properties.authentication_method().is_none()
        {
            return Err(EncodeError::AuthenticationDataWithoutMethod);
        }
        self.properties
            .check(PropertyContext::Packet(PacketType::ConnAck))
    }

    pub(crate) fn body_len(&self) -> usize {
        2 + self.properties.encoded_len()
    }

    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        sink.put_u8(if self.session_present {
            SESSION_PRESENT
        } else {
            0
        });
        sink.put_u8(self.reason.get());
        self.properties.write(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_malformed_v5, assert_vector_v5};
    use crate::v5::{Packet, Property};

    #[test]
    fn accepted_with_a_session() {
        assert_vector_v5(
            "20 03   CONNACK, remaining length 3
             01      session present
             00      success
             00      no properties",
            Packet::ConnAck(ConnAck {
                session_present: true,
                ..ConnAck::default()
            }),
        );
    }

    #[test]
    fn with_capabilities() {
        let properties = [
            Property::AssignedClientIdentifier("auto-7"),
            Property::TopicAliasMaximum(10),
            Property::RetainAvailable(0),
            Property::ServerKeepAlive(30),
        ];
        assert_vector_v5(
            "20 14                       CONNACK, remaining length 20
             00 00                       no session, success
             11                          property length 17
             12 00 06 61 75 74 6f 2d 37  assigned client identifier 'auto-7'
             22 00 0a                    topic alias maximum 10
             25 00                       retain available 0
             13 00 1e                    server keep alive 30",
            Packet::ConnAck(ConnAck {
                properties: Properties::from_slice(&properties),
                ..ConnAck::default()
            }),
        );
    }

    #[test]
    fn refused() {
        assert_vector_v5(
            "20 03 00 87 00   not authorized",
            Packet::ConnAck(ConnAck {
                reason: ReasonCode::NOT_AUTHORIZED,
                ..ConnAck::default()
            }),
        );
    }

    #[test]
    fn session_present_only_on_success_mqtt5_3_2_2_6() {
        assert_malformed_v5("20 03 01 80 00", DecodeError::SessionPresentOnRefusal);
    }

    #[test]
    fn reserved_flags_and_foreign_codes_refused() {
        assert_malformed_v5("20 03 02 00 00", DecodeError::InvalidConnAckFlags); // [MQTT5-3.2.2-1]
        // 0x01 is a 3.1.1 return code, 0x8E a DISCONNECT code: neither is a CONNACK code
        // [MQTT5-3.2.2-8].
        assert_malformed_v5("20 03 00 01 00", DecodeError::InvalidReasonCode);
        assert_malformed_v5("20 03 00 8e 00", DecodeError::InvalidReasonCode);
        // The 3.1.1 two-byte form has no Property Length, which 5.0 requires [MQTT5-2.2.2-1].
        assert_malformed_v5("20 02 00 00", DecodeError::UnexpectedEndOfPacket);
    }

    #[test]
    fn connect_only_properties_refused() {
        // Request Problem Information belongs to CONNECT.
        assert_malformed_v5("20 05 00 00 02 17 01", DecodeError::PropertyNotAllowed);
        // Maximum QoS may only be 0 or 1 (5.0 §3.2.2.3.4).
        assert_malformed_v5("20 05 00 00 02 24 02", DecodeError::InvalidPropertyValue);
    }

    #[test]
    fn encoder_refuses_authentication_data_without_method() {
        // Found by the v5 round-trip property test: the decoder refused this, the encoder wrote it.
        let properties = [Property::AuthenticationData(b"")];
        let connack = Packet::ConnAck(ConnAck {
            reason: ReasonCode::UNSPECIFIED_ERROR,
            properties: Properties::from_slice(&properties),
            ..ConnAck::default()
        });
        assert_eq!(
            connack.encode(&mut alloc::vec::Vec::new()),
            Err(EncodeError::AuthenticationDataWithoutMethod)
        );
        assert_malformed_v5(
            "20 06 00 80 03 16 00 00",
            DecodeError::AuthenticationDataWithoutMethod,
        );
    }
}

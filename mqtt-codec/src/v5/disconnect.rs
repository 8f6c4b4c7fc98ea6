//! DISCONNECT at MQTT 5.0 (5.0 §3.14): sent by either side, with a Reason Code and properties that
//! may be left out. At 3.1.1 it is client-only and has no body (V5-DIFF-18).
//!
//! ```text
//! byte 1    0xE0                 type 14, flags 0000 [MQTT5-3.14.1-1]
//! byte 2..  Remaining Length     0: normal disconnection, no properties
//! byte      reason code          if the Remaining Length is over 0
//! ...       properties           if it is over 1: Session Expiry Interval, Reason String,
//!                                User Property, Server Reference
//! ```

use super::properties::PropertyContext;
use super::{Properties, ReasonCode};
use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, PacketType};

/// A DISCONNECT packet at MQTT 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// Why the connection ends [MQTT5-3.14.2-1]: 0x00 discards the Will [MQTT5-3.14.4-3], 0x04 asks
    /// for it to be published; a server uses the failure codes (0x8B shutting down, 0x8E taken
    /// over, ...).
    pub reason: ReasonCode,
    /// Session Expiry Interval (from a client only [MQTT5-3.14.2-2]), Reason String, User Property,
    /// Server Reference.
    pub properties: Properties<'a>,
}

impl Default for Disconnect<'_> {
    fn default() -> Self {
        Self {
            reason: ReasonCode::NORMAL_DISCONNECTION,
            properties: Properties::EMPTY,
        }
    }
}

impl<'a> Disconnect<'a> {
    /// A DISCONNECT with `reason` and no properties.
    pub const fn new(reason: ReasonCode) -> Self {
        Self {
            reason,
            properties: Properties::EMPTY,
        }
    }

    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        if reader.is_empty() {
            return Ok(Self::default()); // 5.0 §3.14.2.1
        }
        let reason = ReasonCode::from_byte(reader.u8()?);
        if !reason.allowed_in(PacketType::Disconnect) {
            return Err(DecodeError::InvalidReasonCode); // [MQTT5-3.14.2-1]
        }
        let properties = if reader.is_empty() {
            Properties::EMPTY // 5.0 §3.14.2.2.1
        } else {
            Properties::read(&mut reader, PropertyContext::Packet(PacketType::Disconnect))?
        };
        reader.finish()?;
        Ok(Self { reason, properties })
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if !self.reason.allowed_in(PacketType::Disconnect) {
            return Err(EncodeError::InvalidReasonCode);
        }
        self.properties
            .check(PropertyContext::Packet(PacketType::Disconnect))
    }

    pub(crate) fn body_len(&self) -> usize {
        match (
            self.reason == ReasonCode::NORMAL_DISCONNECTION,
            self.properties.is_empty(),
        ) {
            (true, true) => 0,
            (false, true) => 1,
            (_, false) => 1 + self.properties.encoded_len(),
        }
    }

    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        let len = self.body_len();
        if len > 0 {
            sink.put_u8(self.reason.get());
        }
        if len > 1 {
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
    fn the_three_forms() {
        assert_vector_v5(
            "e0 00   normal disconnection",
            Packet::Disconnect(Disconnect::default()),
        );
        assert_vector_v5(
            "e0 01 04   disconnect with will message",
            Packet::Disconnect(Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE)),
        );
        let properties = [
            Property::SessionExpiryInterval(0),
            Property::ReasonString("bye"),
        ];
        assert_vector_v5(
            "e0 0d 00 0b            normal, property length 11
             11 00 00 00 00         session expiry interval 0
             1f 00 03 62 79 65      reason string 'bye'",
            Packet::Disconnect(Disconnect {
                reason: ReasonCode::NORMAL_DISCONNECTION,
                properties: Properties::from_slice(&properties),
            }),
        );
        assert_decodes_to_v5("e0 01 00", Packet::Disconnect(Disconnect::default()));
        assert_decodes_to_v5("e0 02 00 00", Packet::Disconnect(Disconnect::default()));
    }

    #[test]
    fn from_the_server() {
        let properties = [Property::ServerReference("other:1883")];
        assert_vector_v5(
            "e0 0f 9c 0d 1c 00 0a 6f 74 68 65 72 3a 31 38 38 33   use another server",
            Packet::Disconnect(Disconnect {
                reason: ReasonCode::USE_ANOTHER_SERVER,
                properties: Properties::from_slice(&properties),
            }),
        );
        assert_vector_v5(
            "e0 01 8e   session taken over [MQTT5-3.1.4-3]",
            Packet::Disconnect(Disconnect::new(ReasonCode::SESSION_TAKEN_OVER)),
        );
    }

    #[test]
    fn refused() {
        assert_malformed_v5("e1 00", DecodeError::InvalidHeaderFlags); // [MQTT5-3.14.1-1]
        assert_eq!(
            DecodeError::InvalidHeaderFlags.reason_code(),
            ReasonCode::MALFORMED_PACKET
        );
        // 0x19 (Re-authenticate) belongs to AUTH; 0x01 to SUBACK [MQTT5-3.14.2-1].
        assert_malformed_v5("e0 01 19", DecodeError::InvalidReasonCode);
        assert_malformed_v5("e0 01 01", DecodeError::InvalidReasonCode);
        // A Topic Alias Maximum belongs to CONNECT and CONNACK.
        assert_malformed_v5("e0 05 00 03 22 00 01", DecodeError::PropertyNotAllowed);
        assert_malformed_v5("e0 03 00 00 00", DecodeError::TrailingBytes);
    }
}

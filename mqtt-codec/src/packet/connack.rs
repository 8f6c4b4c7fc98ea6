//! CONNACK: the server's answer to CONNECT (3.1.1 §3.2, 3.1 §3.2).
//!
//! ```text
//! byte 1   0x20               type 2, flags 0000
//! byte 2   0x02               Remaining Length
//! byte 3   acknowledge flags  3.1.1: bits 7-1 reserved, bit 0 Session Present; 3.1: not used
//! byte 4   return code        0 accepted, 1 to 5 refused, 6 to 255 reserved
//! ```

use core::fmt;

use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, ProtocolLevel};

/// A CONNACK packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnAck {
    /// Whether the server resumed a stored session [MQTT-3.2.2-2]. MQTT 3.1 has no such flag
    /// ([V31-DIFF-7]): at that level it is neither written nor read, and decodes as `false`.
    pub session_present: bool,
    /// Whether the connection is accepted, and if not, why.
    pub code: ConnectReturnCode,
}

/// The CONNACK return codes, the same at both levels (3.1.1 Table 3.1, [V31-DIFF-8]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectReturnCode {
    /// 0x00: connection accepted.
    Accepted = 0,
    /// 0x01: the server does not speak the requested protocol level.
    UnacceptableProtocolVersion = 1,
    /// 0x02: the client identifier is well-formed UTF-8 but not allowed by the server.
    IdentifierRejected = 2,
    /// 0x03: the network connection is up but the MQTT service is not available.
    ServerUnavailable = 3,
    /// 0x04: the user name or password is malformed or wrong.
    BadUserNameOrPassword = 4,
    /// 0x05: the client is not authorised to connect.
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    /// The code for `byte`; 6 to 255 are reserved (3.1.1 §3.2.2.3).
    #[inline]
    pub const fn from_byte(byte: u8) -> Result<Self, DecodeError> {
        Ok(match byte {
            0 => Self::Accepted,
            1 => Self::UnacceptableProtocolVersion,
            2 => Self::IdentifierRejected,
            3 => Self::ServerUnavailable,
            4 => Self::BadUserNameOrPassword,
            5 => Self::NotAuthorized,
            _ => return Err(DecodeError::InvalidConnectReturnCode),
        })
    }
}

impl fmt::Display for ConnectReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accepted => "connection accepted",
            Self::UnacceptableProtocolVersion => "unacceptable protocol version",
            Self::IdentifierRejected => "identifier rejected",
            Self::ServerUnavailable => "server unavailable",
            Self::BadUserNameOrPassword => "bad user name or password",
            Self::NotAuthorized => "not authorized",
        })
    }
}

const SESSION_PRESENT: u8 = 0b0000_0001;

impl ConnAck {
    #[inline]
    pub(crate) fn decode(body: &[u8], level: ProtocolLevel) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let flags = reader.u8()?;
        let code = ConnectReturnCode::from_byte(reader.u8()?)?;
        reader.finish()?;
        if !level.is_strict() {
            // At 3.1 this byte is "not used" ([V31-DIFF-7]).
            return Ok(Self {
                session_present: false,
                code,
            });
        }
        if flags & !SESSION_PRESENT != 0 {
            return Err(DecodeError::InvalidConnAckFlags); // 3.1.1 §3.2.2.1
        }
        let session_present = flags & SESSION_PRESENT != 0;
        if session_present && code != ConnectReturnCode::Accepted {
            return Err(DecodeError::SessionPresentOnRefusal); // [MQTT-3.2.2-4]
        }
        Ok(Self {
            session_present,
            code,
        })
    }

    #[inline]
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if self.session_present && self.code != ConnectReturnCode::Accepted {
            return Err(EncodeError::SessionPresentOnRefusal); // [MQTT-3.2.2-4]
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn write_body(&self, level: ProtocolLevel, sink: &mut impl Sink) {
        let flags = if self.session_present && level.is_strict() {
            SESSION_PRESENT
        } else {
            0 // 3.1 clients get 0x00 here ([V31-DIFF-7]).
        };
        sink.put(&[flags, self.code as u8]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Packet;
    use crate::testing::{assert_decodes_to, assert_malformed, assert_vector};
    use ProtocolLevel::{Mqtt31, Mqtt311};

    fn connack(session_present: bool, code: ConnectReturnCode) -> Packet<'static> {
        Packet::ConnAck(ConnAck {
            session_present,
            code,
        })
    }

    #[test]
    fn accepted_with_session_mqtt_3_2_2_2() {
        assert_vector(
            Mqtt311,
            "20 02   CONNACK, remaining length 2
             01      session present
             00      accepted",
            connack(true, ConnectReturnCode::Accepted),
        );
    }

    #[test]
    fn every_return_code() {
        for byte in 0..=5u8 {
            let code = ConnectReturnCode::from_byte(byte).expect("0 to 5 are codes");
            let hex = alloc::format!("20 02 00 {byte:02x}");
            assert_vector(Mqtt311, &hex, connack(false, code));
            assert_vector(Mqtt31, &hex, connack(false, code));
        }
    }

    #[test]
    fn reserved_return_codes_refused() {
        assert_malformed(
            Mqtt311,
            "20 02 00 06",
            DecodeError::InvalidConnectReturnCode,
        );
        assert_malformed(Mqtt31, "20 02 00 ff", DecodeError::InvalidConnectReturnCode);
    }

    #[test]
    fn reserved_acknowledge_flags_refused_at_3_1_1() {
        assert_malformed(Mqtt311, "20 02 02 00", DecodeError::InvalidConnAckFlags);
        // "Not used" at 3.1 ([V31-DIFF-7]).
        assert_decodes_to(
            Mqtt31,
            "20 02 03 00",
            connack(false, ConnectReturnCode::Accepted),
        );
    }

    #[test]
    fn refusal_never_has_session_present_mqtt_3_2_2_4() {
        assert_malformed(Mqtt311, "20 02 01 05", DecodeError::SessionPresentOnRefusal);
        let packet = connack(true, ConnectReturnCode::NotAuthorized);
        assert_eq!(
            packet.encode_to_slice(Mqtt311, &mut [0; 4]),
            Err(EncodeError::SessionPresentOnRefusal)
        );
    }

    #[test]
    fn session_present_is_not_sent_to_3_1_clients() {
        let mut out = [0u8; 4];
        let packet = connack(true, ConnectReturnCode::Accepted);
        assert_eq!(packet.encode_to_slice(Mqtt31, &mut out), Ok(4));
        assert_eq!(out, [0x20, 0x02, 0x00, 0x00]);
    }

    #[test]
    fn wrong_length_is_malformed() {
        assert_malformed(Mqtt311, "20 01 00", DecodeError::UnexpectedEndOfPacket);
        assert_malformed(Mqtt311, "20 03 00 00 00", DecodeError::TrailingBytes);
    }
}

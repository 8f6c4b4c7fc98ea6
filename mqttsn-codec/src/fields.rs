//! The small fields of the variable part (§5.3) that have rules of their own: [`MsgId`],
//! [`ClientId`], [`GwAddress`] and [`ReturnCode`]. Topic identifiers and names are in `topic.rs`.
//!
//! Each is a validated newtype, so a value that breaks its rule cannot be put in a message. Plain
//! fields without rules (GwId, Radius, Duration in seconds) are plain integers in the message structs.

use core::fmt;

use crate::{DecodeError, FieldError};

/// A MsgId: pairs a message with its acknowledgement [SN-5.3.7-1].
///
/// Unlike MQTT's Packet Identifier this is not `NonZero`: the MQTT-SN specification does not forbid
/// 0x0000 in REGISTER, SUBSCRIBE and their acknowledgements, and a QoS 0 or -1 PUBLISH carries 0x0000
/// on purpose [SN-5.4.12-3] (see `docs/mqtt-sn-ambiguities.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MsgId(pub u16);

impl MsgId {
    /// The MsgId of a QoS 0 or QoS -1 PUBLISH [SN-5.4.12-3].
    pub const NONE: Self = Self(0);

    /// Its value.
    pub const fn get(self) -> u16 {
        self.0
    }
}

/// A ClientId: 1 to 23 characters of UTF-8 [SN-5.3.1-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId<'a>(&'a str);

impl<'a> ClientId<'a> {
    /// The longest ClientId, in characters [SN-5.3.1-1].
    pub const MAX_CHARS: usize = 23;

    /// Checks `id` against the ClientId rule [SN-5.3.1-1].
    pub fn new(id: &'a str) -> Result<Self, FieldError> {
        // A string of at most 23 octets has at most 23 characters, so only longer ones are counted.
        let fits = !id.is_empty()
            && (id.len() <= Self::MAX_CHARS || id.chars().count() <= Self::MAX_CHARS);
        if fits {
            Ok(Self(id))
        } else {
            Err(FieldError::ClientIdLength)
        }
    }

    pub(crate) fn from_bytes(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let id = core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
        Ok(Self::new(id)?)
    }

    /// The identifier.
    pub const fn as_str(self) -> &'a str {
        self.0
    }
}

impl fmt::Display for ClientId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The GwAdd of a GWINFO sent by a client: the address of a gateway, in whatever form the network
/// uses, never empty [SN-5.3.5-1] [SN-5.4.3-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GwAddress<'a>(&'a [u8]);

impl<'a> GwAddress<'a> {
    /// The address `bytes`, which must not be empty: a GWINFO without an address is the gateway's own
    /// form [SN-5.4.3-1].
    pub const fn new(bytes: &'a [u8]) -> Result<Self, FieldError> {
        if bytes.is_empty() {
            Err(FieldError::EmptyGwAddress)
        } else {
            Ok(Self(bytes))
        }
    }

    /// The address octets.
    pub const fn as_bytes(self) -> &'a [u8] {
        self.0
    }
}

/// The ReturnCode of CONNACK, REGACK, PUBACK, SUBACK, WILLTOPICRESP and WILLMSGRESP
/// [SN-5.3.10-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnCode {
    /// 0x00: accepted.
    Accepted = 0x00,
    /// 0x01: rejected, congestion; the client waits T_WAIT before trying again (§6.5, §6.6, §6.9).
    Congestion = 0x01,
    /// 0x02: rejected, invalid topic id (§6.6, §6.7, §6.10).
    InvalidTopicId = 0x02,
    /// 0x03: rejected, not supported (added in version 1.2).
    NotSupported = 0x03,
}

impl ReturnCode {
    /// The return code for the octet `code`; 0x04 to 0xFF are reserved [SN-5.3.10-1].
    pub const fn from_u8(code: u8) -> Result<Self, DecodeError> {
        match code {
            0x00 => Ok(Self::Accepted),
            0x01 => Ok(Self::Congestion),
            0x02 => Ok(Self::InvalidTopicId),
            0x03 => Ok(Self::NotSupported),
            _ => Err(DecodeError::ReservedReturnCode),
        }
    }

    /// The octet.
    pub const fn to_u8(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accepted => "accepted",
            Self::Congestion => "rejected: congestion",
            Self::InvalidTopicId => "rejected: invalid topic id",
            Self::NotSupported => "rejected: not supported",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_has_1_to_23_characters() {
        // [SN-5.3.1-1]
        assert_eq!(ClientId::new(""), Err(FieldError::ClientIdLength));
        assert!(ClientId::new("a").is_ok());
        assert!(ClientId::new("abcdefghijklmnopqrstuvw").is_ok());
        assert_eq!(
            ClientId::new("abcdefghijklmnopqrstuvwx"),
            Err(FieldError::ClientIdLength)
        );
        // Characters, not octets: 23 two-octet characters are allowed.
        assert!(ClientId::new(&"é".repeat(23)).is_ok());
        assert_eq!(ClientId::from_bytes(&[0xC3]), Err(DecodeError::InvalidUtf8));
    }

    #[test]
    fn return_codes_above_3_are_reserved() {
        // [SN-5.3.10-1]
        for code in 0..=3 {
            assert_eq!(ReturnCode::from_u8(code).map(ReturnCode::to_u8), Ok(code));
        }
        for code in 4..=u8::MAX {
            assert_eq!(
                ReturnCode::from_u8(code),
                Err(DecodeError::ReservedReturnCode)
            );
        }
    }

    #[test]
    fn a_gateway_address_is_not_empty() {
        // [SN-5.4.3-1]
        assert_eq!(GwAddress::new(&[]), Err(FieldError::EmptyGwAddress));
        assert_eq!(GwAddress::new(&[1]).map(GwAddress::as_bytes), Ok(&[1][..]));
    }
}

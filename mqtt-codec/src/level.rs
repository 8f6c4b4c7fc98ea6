//! The two protocol versions this codec speaks, and how a CONNECT packet names them.
//!
//! A connection's version is fixed by its CONNECT packet: the pair (protocol name, protocol level)
//! ([V31-DIFF-1], [V31-DIFF-2]). Every later packet on the connection is decoded and encoded under the
//! rules of that version, which is why [`Decoder`](crate::Decoder) and
//! [`Packet::encode`](crate::Packet::encode) take a [`ProtocolLevel`].

use core::fmt;

/// An MQTT protocol version, by the level byte of its CONNECT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolLevel {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3 (3.1 §3.1).
    Mqtt31,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4 (3.1.1 §3.1.2.1, §3.1.2.2).
    Mqtt311,
}

impl ProtocolLevel {
    /// The protocol name, as it appears in CONNECT.
    pub const fn protocol_name(self) -> &'static str {
        match self {
            Self::Mqtt31 => "MQIsdp",
            Self::Mqtt311 => "MQTT",
        }
    }

    /// The protocol level byte, as it appears in CONNECT.
    pub const fn level_byte(self) -> u8 {
        match self {
            Self::Mqtt31 => 3,
            Self::Mqtt311 => 4,
        }
    }

    /// Whether reserved bits must be checked (3.1.1) or may be disregarded (3.1, which calls them "not
    /// used": [V31-DIFF-4], [V31-DIFF-26]).
    #[inline]
    pub(crate) const fn is_strict(self) -> bool {
        matches!(self, Self::Mqtt311)
    }
}

impl fmt::Display for ProtocolLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mqtt31 => "MQTT 3.1",
            Self::Mqtt311 => "MQTT 3.1.1",
        })
    }
}

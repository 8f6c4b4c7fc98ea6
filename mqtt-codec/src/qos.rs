//! Quality of service levels and packet identifiers: two small values with rules of their own.
//!
//! Both are validated newtypes, so that a QoS of 3 or a packet identifier of 0 cannot exist once
//! decoded (3.1.1 §4.3, §2.3.1).

use core::fmt;
use core::num::NonZeroU16;

use crate::DecodeError;

/// A delivery guarantee (3.1.1 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QoS {
    /// QoS 0: delivered once or not at all (3.1.1 §4.3.1).
    AtMostOnce = 0,
    /// QoS 1: delivered one or more times (3.1.1 §4.3.2).
    AtLeastOnce = 1,
    /// QoS 2: delivered exactly once (3.1.1 §4.3.3).
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for the two-bit value `bits`; 3 is not a QoS level [MQTT-3.3.1-4].
    #[inline]
    pub const fn from_bits(bits: u8) -> Result<Self, DecodeError> {
        match bits {
            0 => Ok(Self::AtMostOnce),
            1 => Ok(Self::AtLeastOnce),
            2 => Ok(Self::ExactlyOnce),
            _ => Err(DecodeError::InvalidQoS),
        }
    }

    /// The two-bit value on the wire.
    #[inline]
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for QoS {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QoS {}", self.bits())
    }
}

/// A Packet Identifier: a non-zero 16-bit number pairing a packet with its acknowledgement
/// [MQTT-2.3.1-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketId(NonZeroU16);

impl PacketId {
    /// The smallest identifier, 1: where a sender's counter starts.
    pub const MIN: Self = Self(NonZeroU16::MIN);
    /// The largest identifier, 65 535.
    pub const MAX: Self = Self(NonZeroU16::MAX);

    /// The packet identifier `value`, or `None` for zero, which is not one [MQTT-2.3.1-1].
    #[inline]
    pub const fn new(value: u16) -> Option<Self> {
        match NonZeroU16::new(value) {
            Some(id) => Some(Self(id)),
            None => None,
        }
    }

    /// Its value.
    #[inline]
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    /// The identifier after this one, wrapping from 65 535 to 1: a simple way for a sender to pick
    /// fresh identifiers.
    pub const fn next(self) -> Self {
        match NonZeroU16::new(self.0.get().wrapping_add(1)) {
            Some(id) => Self(id),
            None => Self::MIN,
        }
    }

    #[inline]
    pub(crate) const fn from_wire(value: u16) -> Result<Self, DecodeError> {
        match Self::new(value) {
            Some(id) => Ok(id),
            None => Err(DecodeError::ZeroPacketId),
        }
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_3_is_refused_mqtt_3_3_1_4() {
        assert_eq!(QoS::from_bits(3), Err(DecodeError::InvalidQoS));
        assert_eq!(QoS::from_bits(2), Ok(QoS::ExactlyOnce));
    }

    #[test]
    fn packet_id_zero_is_not_an_identifier_mqtt_2_3_1_1() {
        assert_eq!(PacketId::new(0), None);
        assert_eq!(PacketId::from_wire(0), Err(DecodeError::ZeroPacketId));
    }

    #[test]
    fn next_packet_id_skips_zero() {
        let last = PacketId::new(u16::MAX)
            .map(PacketId::next)
            .map(PacketId::get);
        assert_eq!(last, Some(1));
    }
}

//! The Flags octet (§5.3.4) and the two values packed into it: [`QoS`], with MQTT-SN's level -1, and
//! [`TopicIdType`].
//!
//! ```text
//! bit    7     6 5     4       3       2             1 0
//!       DUP    QoS   Retain   Will   CleanSession   TopicIdType
//! ```
//!
//! Which flags each message uses:
//!
//! | message                   | DUP | QoS          | Retain | Will | CleanSession | TopicIdType |
//! |---------------------------|-----|--------------|--------|------|--------------|-------------|
//! | CONNECT                   |     |              |        | yes  | yes          |             |
//! | WILLTOPIC, WILLTOPICUPD   |     | will QoS     | yes    |      |              |             |
//! | PUBLISH                   | yes | yes, -1 too  | yes    |      |              | yes         |
//! | SUBSCRIBE                 | yes | requested    |        |      |              | yes         |
//! | SUBACK                    |     | granted      |        |      |              |             |
//! | UNSUBSCRIBE               |     |              |        |      |              | yes         |
//!
//! A flag a message does not use is written as 0 and ignored when read: the specification calls them
//! "not used", not reserved, and deployed clients set some of them (see
//! `docs/mqtt-sn-ambiguities.md`). The reserved TopicIdType 0b11 is refused wherever the field is read.

use core::fmt;

use crate::DecodeError;

/// The Flags octet of §5.3.4, read or built one flag at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// Bit 7: retransmitted [SN-5.3.4-1].
    pub const DUP: u8 = 0x80;
    /// Bits 6 and 5: the QoS level [SN-5.3.4-2].
    pub const QOS_MASK: u8 = 0x60;
    /// Bit 4: retain [SN-5.3.4-3].
    pub const RETAIN: u8 = 0x10;
    /// Bit 3: CONNECT asks to be prompted for a will [SN-5.3.4-4].
    pub const WILL: u8 = 0x08;
    /// Bit 2: CONNECT asks for a clean session [SN-5.3.4-5].
    pub const CLEAN_SESSION: u8 = 0x04;
    /// Bits 1 and 0: the kind of topic identifier [SN-5.3.4-6].
    pub const TOPIC_ID_TYPE_MASK: u8 = 0x03;

    /// The flags in the octet `byte`.
    pub const fn from_u8(byte: u8) -> Self {
        Self(byte)
    }

    /// The octet.
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// DUP [SN-5.3.4-1].
    pub const fn dup(self) -> bool {
        self.0 & Self::DUP != 0
    }

    /// QoS; every two-bit value is a level, 0b11 being -1 [SN-5.3.4-2].
    pub const fn qos(self) -> QoS {
        QoS::from_bits((self.0 & Self::QOS_MASK) >> 5)
    }

    /// Retain [SN-5.3.4-3].
    pub const fn retain(self) -> bool {
        self.0 & Self::RETAIN != 0
    }

    /// Will [SN-5.3.4-4].
    pub const fn will(self) -> bool {
        self.0 & Self::WILL != 0
    }

    /// CleanSession [SN-5.3.4-5].
    pub const fn clean_session(self) -> bool {
        self.0 & Self::CLEAN_SESSION != 0
    }

    /// TopicIdType; 0b11 is reserved [SN-5.3.4-6].
    pub const fn topic_id_type(self) -> Result<TopicIdType, DecodeError> {
        TopicIdType::from_bits(self.0 & Self::TOPIC_ID_TYPE_MASK)
    }

    /// With DUP set to `dup`.
    #[must_use]
    pub const fn with_dup(self, dup: bool) -> Self {
        self.with(Self::DUP, dup)
    }

    /// With the QoS field set to `qos`.
    #[must_use]
    pub const fn with_qos(self, qos: QoS) -> Self {
        Self((self.0 & !Self::QOS_MASK) | (qos.bits() << 5))
    }

    /// With Retain set to `retain`.
    #[must_use]
    pub const fn with_retain(self, retain: bool) -> Self {
        self.with(Self::RETAIN, retain)
    }

    /// With Will set to `will`.
    #[must_use]
    pub const fn with_will(self, will: bool) -> Self {
        self.with(Self::WILL, will)
    }

    /// With CleanSession set to `clean_session`.
    #[must_use]
    pub const fn with_clean_session(self, clean_session: bool) -> Self {
        self.with(Self::CLEAN_SESSION, clean_session)
    }

    /// With the TopicIdType field set to `kind`.
    #[must_use]
    pub const fn with_topic_id_type(self, kind: TopicIdType) -> Self {
        Self((self.0 & !Self::TOPIC_ID_TYPE_MASK) | kind.bits())
    }

    const fn with(self, bit: u8, on: bool) -> Self {
        if on {
            Self(self.0 | bit)
        } else {
            Self(self.0 & !bit)
        }
    }
}

/// A quality of service level: MQTT's three, and MQTT-SN's -1 [SN-5.3.4-2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QoS {
    /// QoS 0 (0b00): at most once, as in MQTT.
    AtMostOnce = 0b00,
    /// QoS 1 (0b01): at least once, as in MQTT.
    AtLeastOnce = 0b01,
    /// QoS 2 (0b10): exactly once, as in MQTT.
    ExactlyOnce = 0b10,
    /// QoS -1 (0b11): a client publishes without connecting, registering or subscribing, to a gateway
    /// it knows in advance, and forgets the message (§6.8). Only in PUBLISH [SN-6.8-2].
    MinusOne = 0b11,
}

impl QoS {
    /// The level for the two-bit value `bits` (higher bits are ignored).
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0b00 => Self::AtMostOnce,
            0b01 => Self::AtLeastOnce,
            0b10 => Self::ExactlyOnce,
            _ => Self::MinusOne,
        }
    }

    /// The two-bit value on the wire.
    pub const fn bits(self) -> u8 {
        self as u8
    }

    /// Whether the level is acknowledged and so needs a MsgId: QoS 1 and 2 [SN-5.4.12-3].
    pub const fn needs_msg_id(self) -> bool {
        matches!(self, Self::AtLeastOnce | Self::ExactlyOnce)
    }

    /// Refuses QoS -1 in a message other than PUBLISH [SN-5.3.4-2].
    pub(crate) const fn not_minus_one(self) -> Result<Self, DecodeError> {
        match self {
            Self::MinusOne => Err(DecodeError::QoSMinusOneNotAllowed),
            _ => Ok(self),
        }
    }
}

impl fmt::Display for QoS {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MinusOne => f.write_str("QoS -1"),
            _ => write!(f, "QoS {}", self.bits()),
        }
    }
}

/// What the TopicId field (or the topic at the end of SUBSCRIBE and UNSUBSCRIBE) holds [SN-5.3.4-6].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicIdType {
    /// 0b00: a normal topic id, registered with REGISTER. In SUBSCRIBE and UNSUBSCRIBE: a topic name
    /// follows instead [SN-5.4.15-2].
    Normal = 0b00,
    /// 0b01: a pre-defined topic id, known to both sides in advance (§6.7).
    Predefined = 0b01,
    /// 0b10: a short topic name of two octets (§6.7).
    Short = 0b10,
}

impl TopicIdType {
    /// The kind for the two-bit value `bits`; 0b11 is reserved [SN-5.3.4-6].
    pub const fn from_bits(bits: u8) -> Result<Self, DecodeError> {
        match bits {
            0b00 => Ok(Self::Normal),
            0b01 => Ok(Self::Predefined),
            0b10 => Ok(Self::Short),
            _ => Err(DecodeError::ReservedTopicIdType),
        }
    }

    /// The two-bit value on the wire.
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flag_has_its_bit() {
        // [SN-5.3.4-1] [SN-5.3.4-2] [SN-5.3.4-3] [SN-5.3.4-4] [SN-5.3.4-5] [SN-5.3.4-6]
        let all = Flags::default()
            .with_dup(true)
            .with_qos(QoS::MinusOne)
            .with_retain(true)
            .with_will(true)
            .with_clean_session(true)
            .with_topic_id_type(TopicIdType::Short);
        assert_eq!(all.to_u8(), 0b1111_1110);
        assert!(all.dup() && all.retain() && all.will() && all.clean_session());
        assert_eq!(all.qos(), QoS::MinusOne);
        assert_eq!(all.topic_id_type(), Ok(TopicIdType::Short));
        assert_eq!(Flags::from_u8(0x20).qos(), QoS::AtLeastOnce);
        assert_eq!(Flags::from_u8(0x40).qos(), QoS::ExactlyOnce);
        assert_eq!(
            all.with_dup(false).with_qos(QoS::AtMostOnce).to_u8(),
            0b0001_1110
        );
    }

    #[test]
    fn topic_id_type_0b11_is_reserved() {
        // [SN-5.3.4-6]
        assert_eq!(
            Flags::from_u8(0x03).topic_id_type(),
            Err(DecodeError::ReservedTopicIdType)
        );
        assert_eq!(
            Flags::from_u8(0x01).topic_id_type(),
            Ok(TopicIdType::Predefined)
        );
    }

    #[test]
    fn qos_minus_one_is_0b11_and_needs_no_msg_id() {
        // [SN-5.3.4-2] [SN-5.4.12-3]
        assert_eq!(QoS::MinusOne.bits(), 0b11);
        assert!(!QoS::MinusOne.needs_msg_id() && !QoS::AtMostOnce.needs_msg_id());
        assert!(QoS::AtLeastOnce.needs_msg_id() && QoS::ExactlyOnce.needs_msg_id());
        assert_eq!(
            QoS::MinusOne.not_minus_one(),
            Err(DecodeError::QoSMinusOneNotAllowed)
        );
    }
}

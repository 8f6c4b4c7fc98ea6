//! Topics by kind (§3, §5.3.11, §5.3.12, §6.7): normal and pre-defined [`TopicId`]s, two-octet
//! [`ShortTopicName`]s, and the UTF-8 [`TopicName`]s and [`TopicFilter`]s carried in REGISTER,
//! WILLTOPIC, SUBSCRIBE and UNSUBSCRIBE; and the two unions a message can carry, [`PublishTopic`] and
//! [`SubscribeTopic`].
//!
//! Wildcards are allowed only where MQTT allows them, in a subscription's topic filter (SUBSCRIBE and
//! UNSUBSCRIBE with TopicIdType 0b00); names and short names never contain one. This module does not
//! match filters against names: that is MQTT's job, done by `mqtt-codec`. The rules shared with MQTT
//! (no empty topic, no U+0000, wildcards only whole levels) are applied because MQTT-SN refers to MQTT
//! for them [SN-6-1] and a gateway could not forward a topic that breaks them.

use core::fmt;

use crate::flags::TopicIdType;
use crate::{DecodeError, FieldError};

/// A topic id: two octets standing for a topic name, assigned by REGISTER/REGACK/SUBACK or agreed in
/// advance (pre-defined) [SN-5.3.11-1].
///
/// Every value is representable. 0x0000 and 0xFFFF are reserved and "should not be used"
/// [SN-5.3.11-1], yet 0x0000 appears by design in a client's REGISTER [SN-5.4.10-1] and in a SUBACK
/// for a wildcard filter [SN-6.9-3], and a receiver answers an unknown id with a ReturnCode rather than
/// by dropping the message: so the codec carries them and [`TopicId::is_reserved`] lets the protocol
/// layer decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TopicId(pub u16);

impl TopicId {
    /// 0x0000: "no topic id", as in a client's REGISTER [SN-5.4.10-1] or a wildcard SUBACK [SN-6.9-3].
    pub const UNASSIGNED: Self = Self(0x0000);

    /// Its value.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Whether the value is one of the two reserved ones, 0x0000 and 0xFFFF [SN-5.3.11-1].
    pub const fn is_reserved(self) -> bool {
        matches!(self.0, 0x0000 | 0xFFFF)
    }
}

/// A short topic name: exactly two octets of UTF-8, carried in place of a topic id and never
/// registered (§6.7) [SN-6.7-6]. It holds no wildcard [SN-6.7-7].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortTopicName([u8; 2]);

impl ShortTopicName {
    /// Checks `name`: two octets [SN-6.7-6], no wildcard [SN-6.7-7].
    pub fn new(name: &str) -> Result<Self, FieldError> {
        let bytes: [u8; 2] = name
            .as_bytes()
            .try_into()
            .map_err(|_| FieldError::ShortTopicNameLength)?;
        Self::from_array(bytes)
    }

    /// The short name in the two octets `bytes`, which must be UTF-8 and hold no wildcard.
    pub fn from_array(bytes: [u8; 2]) -> Result<Self, FieldError> {
        // [SN-6.7-7]
        if bytes.iter().any(|&byte| byte == b'+' || byte == b'#') {
            return Err(FieldError::WildcardInShortTopicName);
        }
        // [SN-6.7-6] Otherwise topic-name rules apply: UTF-8, no U+0000.
        if bytes.contains(&0) {
            return Err(FieldError::NullCharacter);
        }
        core::str::from_utf8(&bytes).map_err(|_| FieldError::InvalidUtf8)?;
        Ok(Self(bytes))
    }

    /// The two octets as they travel in the TopicId field.
    pub const fn to_array(self) -> [u8; 2] {
        self.0
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        // Checked in `from_array`; the fallback is never taken.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for ShortTopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A topic name: non-empty UTF-8 without wildcards, as carried by REGISTER, WILLTOPIC and
/// WILLTOPICUPD [SN-5.3.12-1] [MQTT-4.7.1-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName<'a>(&'a str);

impl<'a> TopicName<'a> {
    /// Checks `name` against the topic name rules.
    pub fn new(name: &'a str) -> Result<Self, FieldError> {
        if name.is_empty() {
            return Err(FieldError::EmptyTopic); // [MQTT-4.7.3-1]
        }
        // One pass over the octets: the checks run on every received REGISTER and WILLTOPIC.
        for &byte in name.as_bytes() {
            match byte {
                0 => return Err(FieldError::NullCharacter), // [MQTT-4.7.3-2]
                b'+' | b'#' => return Err(FieldError::WildcardInTopicName), // [MQTT-4.7.1-1]
                _ => {}
            }
        }
        Ok(Self(name))
    }

    pub(crate) fn from_bytes(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(Self::new(utf8(bytes)?)?)
    }

    /// The name.
    pub const fn as_str(self) -> &'a str {
        self.0
    }
}

impl fmt::Display for TopicName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A topic filter: a topic name that may contain MQTT wildcards, as carried by SUBSCRIBE and
/// UNSUBSCRIBE with TopicIdType 0b00 [SN-5.4.15-2] [SN-5.4.17-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter<'a>(&'a str);

impl<'a> TopicFilter<'a> {
    /// Checks `filter` against the topic filter rules.
    pub fn new(filter: &'a str) -> Result<Self, FieldError> {
        let bytes = filter.as_bytes();
        if bytes.is_empty() {
            return Err(FieldError::EmptyTopic); // [MQTT-4.7.3-1]
        }
        // One pass over the octets, looking at a wildcard's neighbours rather than splitting levels.
        for (i, &byte) in bytes.iter().enumerate() {
            let starts_level = i == 0 || bytes[i - 1] == b'/';
            let is_last = i + 1 == bytes.len();
            let valid = match byte {
                0 => return Err(FieldError::NullCharacter), // [MQTT-4.7.3-2]
                // [MQTT-4.7.1-3] `+` fills its whole level.
                b'+' => starts_level && (is_last || bytes[i + 1] == b'/'),
                // [MQTT-4.7.1-2] `#` fills the last level.
                b'#' => starts_level && is_last,
                _ => true,
            };
            if !valid {
                return Err(FieldError::InvalidTopicFilter);
            }
        }
        Ok(Self(filter))
    }

    pub(crate) fn from_bytes(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(Self::new(utf8(bytes)?)?)
    }

    /// The filter.
    pub const fn as_str(self) -> &'a str {
        self.0
    }

    /// Whether it contains a wildcard, in which case a SUBACK carries topic id 0x0000 and the gateway
    /// registers each matching name before publishing on it [SN-6.9-3].
    pub fn has_wildcards(self) -> bool {
        self.0.bytes().any(|byte| byte == b'+' || byte == b'#')
    }
}

impl fmt::Display for TopicFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// [SN-5.3.12-1] Topic names are UTF-8.
fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)
}

/// The topic of a PUBLISH: the TopicId field read according to TopicIdType [SN-5.4.12-2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishTopic {
    /// A topic id registered with REGISTER (TopicIdType 0b00).
    Normal(TopicId),
    /// A pre-defined topic id (TopicIdType 0b01).
    Predefined(TopicId),
    /// A short topic name (TopicIdType 0b10).
    Short(ShortTopicName),
}

impl PublishTopic {
    /// Reads the two TopicId octets as `kind` says.
    pub(crate) fn from_wire(kind: TopicIdType, bytes: [u8; 2]) -> Result<Self, DecodeError> {
        Ok(match kind {
            TopicIdType::Normal => Self::Normal(TopicId(u16::from_be_bytes(bytes))),
            TopicIdType::Predefined => Self::Predefined(TopicId(u16::from_be_bytes(bytes))),
            TopicIdType::Short => Self::Short(ShortTopicName::from_array(bytes)?),
        })
    }

    /// The TopicIdType that goes with it.
    pub const fn id_type(self) -> TopicIdType {
        match self {
            Self::Normal(_) => TopicIdType::Normal,
            Self::Predefined(_) => TopicIdType::Predefined,
            Self::Short(_) => TopicIdType::Short,
        }
    }

    /// The two octets of the TopicId field.
    pub const fn to_array(self) -> [u8; 2] {
        match self {
            Self::Normal(id) | Self::Predefined(id) => id.0.to_be_bytes(),
            Self::Short(name) => name.to_array(),
        }
    }
}

/// The topic at the end of a SUBSCRIBE or UNSUBSCRIBE, as TopicIdType says [SN-5.4.15-2]
/// [SN-5.4.17-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscribeTopic<'a> {
    /// A topic filter, wildcards allowed (TopicIdType 0b00).
    Name(TopicFilter<'a>),
    /// A pre-defined topic id (TopicIdType 0b01).
    Predefined(TopicId),
    /// A short topic name (TopicIdType 0b10).
    Short(ShortTopicName),
}

impl<'a> SubscribeTopic<'a> {
    /// Reads everything after the MsgId as `kind` says: a name of any length, or exactly two octets.
    pub(crate) fn from_wire(
        kind: TopicIdType,
        bytes: &'a [u8],
        wrong_size: DecodeError,
    ) -> Result<Self, DecodeError> {
        if kind == TopicIdType::Normal {
            return Ok(Self::Name(TopicFilter::from_bytes(bytes)?));
        }
        let pair: [u8; 2] = bytes.try_into().map_err(|_| wrong_size)?;
        Ok(match kind {
            TopicIdType::Short => Self::Short(ShortTopicName::from_array(pair)?),
            _ => Self::Predefined(TopicId(u16::from_be_bytes(pair))),
        })
    }

    /// The TopicIdType that goes with it.
    pub const fn id_type(self) -> TopicIdType {
        match self {
            Self::Name(_) => TopicIdType::Normal,
            Self::Predefined(_) => TopicIdType::Predefined,
            Self::Short(_) => TopicIdType::Short,
        }
    }

    pub(crate) const fn wire_len(self) -> usize {
        match self {
            Self::Name(filter) => filter.0.len(),
            Self::Predefined(_) | Self::Short(_) => 2,
        }
    }

    pub(crate) fn write(self, w: &mut crate::wire::Writer<'_>) {
        match self {
            Self::Name(filter) => w.bytes(filter.0.as_bytes()),
            Self::Predefined(id) => w.u16(id.0),
            Self::Short(name) => w.bytes(&name.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_topic_name_is_two_octets_without_wildcards() {
        // [SN-6.7-6] [SN-6.7-7]
        assert_eq!(ShortTopicName::new("ab").map(|n| n.to_array()), Ok(*b"ab"));
        assert_eq!(
            ShortTopicName::new("é").map(|n| n.to_array()),
            Ok([0xC3, 0xA9])
        );
        assert_eq!(
            ShortTopicName::new("a"),
            Err(FieldError::ShortTopicNameLength)
        );
        assert_eq!(
            ShortTopicName::new("abc"),
            Err(FieldError::ShortTopicNameLength)
        );
        assert_eq!(
            ShortTopicName::new("a#"),
            Err(FieldError::WildcardInShortTopicName)
        );
        assert_eq!(
            ShortTopicName::new("+a"),
            Err(FieldError::WildcardInShortTopicName)
        );
        assert_eq!(
            ShortTopicName::from_array([0xFF, 0x41]),
            Err(FieldError::InvalidUtf8)
        );
        assert_eq!(
            ShortTopicName::from_array([0x41, 0]),
            Err(FieldError::NullCharacter)
        );
    }

    #[test]
    fn wildcards_only_in_filters_and_only_where_mqtt_allows_them() {
        // [MQTT-4.7.1-1]
        assert_eq!(TopicName::new("a/+"), Err(FieldError::WildcardInTopicName));
        assert_eq!(TopicName::new("a/#"), Err(FieldError::WildcardInTopicName));
        assert!(TopicName::new("a/b").is_ok());
        // [MQTT-4.7.1-2] [MQTT-4.7.1-3]
        for valid in ["#", "+", "a/#", "+/b/#", "a/+/c", "/"] {
            assert!(TopicFilter::new(valid).is_ok(), "{valid}");
        }
        for invalid in ["a#", "#/a", "a+/b", "a/b+", "##"] {
            assert_eq!(
                TopicFilter::new(invalid),
                Err(FieldError::InvalidTopicFilter),
                "{invalid}"
            );
        }
        // [MQTT-4.7.3-1] [MQTT-4.7.3-2]
        assert_eq!(TopicFilter::new(""), Err(FieldError::EmptyTopic));
        assert_eq!(TopicName::new("a\0"), Err(FieldError::NullCharacter));
        // [SN-5.3.12-1]
        assert_eq!(
            TopicName::from_bytes(&[0xFF]),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn reserved_topic_ids_are_carried_but_flagged() {
        // [SN-5.3.11-1]
        assert!(TopicId(0).is_reserved() && TopicId(0xFFFF).is_reserved());
        assert!(!TopicId(1).is_reserved());
    }
}

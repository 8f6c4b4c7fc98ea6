//! The codec's error types: what was wrong with a datagram ([`DecodeError`]), why a message value could
//! not be written ([`EncodeError`]), and why a value cannot be a field ([`FieldError`]).
//!
//! All three are flat `Copy` enums, and every variant names the rule it enforces through `rule()`, so
//! that a gateway can log which rule a peer broke. There is no "need more bytes": MQTT-SN runs over
//! datagrams, one message per datagram, so a datagram is either a complete message or malformed
//! [SN-5.2.1-5].

use core::fmt;

use crate::MsgType;

/// Why a datagram is not a valid MQTT-SN message.
///
/// The specification says nothing about how a receiver reacts to a malformed message; a gateway
/// usually drops it, or answers a CONNECT it cannot accept with CONNACK "not supported" (see
/// `docs/mqtt-sn-ambiguities.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer octets than a header: under 2, or under 4 when the first octet announces the 3-octet
    /// Length [SN-5.2.1-1] [SN-5.2.1-2].
    TooShort,
    /// A Length value smaller than the header it belongs to: 0 in the 1-octet form, under 4 in the
    /// 3-octet form [SN-5.2.1-1].
    InvalidLength,
    /// The datagram is shorter than its Length field says [SN-5.2.1-1].
    Truncated,
    /// The datagram is longer than its Length field says [SN-5.2.1-1].
    TrailingBytes,
    /// A MsgType the specification reserves: 0x03, 0x11, 0x19, 0x1E to 0xFD, 0xFF [SN-5.2.2-1].
    ReservedMsgType,
    /// The variable part does not have the size the message's format gives it (a field missing, or
    /// octets left over). Carries the message type; `rule()` names its format rule.
    BodyLength(MsgType),
    /// TopicIdType 0b11, which is reserved [SN-5.3.4-6].
    ReservedTopicIdType,
    /// A ReturnCode from 0x04 to 0xFF, which are reserved [SN-5.3.10-1].
    ReservedReturnCode,
    /// A CONNECT ProtocolId other than 0x01 [SN-5.3.8-1]. A gateway may answer it with CONNACK
    /// "not supported".
    UnsupportedProtocolId,
    /// QoS -1 (0b11) in a message other than PUBLISH: SUBSCRIBE, SUBACK, WILLTOPIC or WILLTOPICUPD
    /// [SN-5.3.4-2].
    QoSMinusOneNotAllowed,
    /// A QoS -1 PUBLISH naming a normal topic id: only a pre-defined id or a short name is allowed
    /// [SN-6.8-2].
    QoSMinusOneWithNormalTopic,
    /// A QoS 0 or QoS -1 PUBLISH whose MsgId is not 0x0000 [SN-5.4.12-3].
    MsgIdNotZero,
    /// A topic name or ClientId that is not well-formed UTF-8 [SN-5.3.12-1].
    InvalidUtf8,
    /// A topic name or filter containing U+0000; MQTT refuses it, so a gateway could not forward it
    /// [MQTT-4.7.3-2].
    NullCharacter,
    /// A topic name or filter of zero length [MQTT-4.7.3-1].
    EmptyTopic,
    /// A topic name (REGISTER, WILLTOPIC, WILLTOPICUPD) containing `+` or `#` [MQTT-4.7.1-1].
    WildcardInTopicName,
    /// A topic filter with `#` not alone in the last level [MQTT-4.7.1-2], or `+` not alone in its
    /// level [MQTT-4.7.1-3].
    InvalidTopicFilter,
    /// A short topic name containing `+` or `#`, which make no sense in two octets [SN-6.7-7].
    WildcardInShortTopicName,
    /// A ClientId that is not 1 to 23 characters long [SN-5.3.1-1].
    ClientIdLength,
    /// An encapsulation Ctrl octet with a reserved bit (7 to 2) set [SN-5.5-2].
    ReservedCtrlBits,
    /// An encapsulation whose Length is under 3, or uses the 3-octet form: its Length is one octet and
    /// covers only the encapsulation header [SN-5.5-1].
    EncapsulationLength,
    /// An encapsulated frame inside another one: the payload is a plain MQTT-SN message [SN-5.5-1].
    NestedEncapsulation,
}

impl DecodeError {
    /// The rule this error enforces, in the project's citation format (without brackets).
    pub const fn rule(self) -> &'static str {
        match self {
            Self::TooShort | Self::InvalidLength | Self::Truncated | Self::TrailingBytes => {
                "SN-5.2.1-1"
            }
            Self::ReservedMsgType => "SN-5.2.2-1",
            Self::BodyLength(msg_type) => msg_type.format_rule(),
            Self::ReservedTopicIdType => "SN-5.3.4-6",
            Self::ReservedReturnCode => "SN-5.3.10-1",
            Self::UnsupportedProtocolId => "SN-5.3.8-1",
            Self::QoSMinusOneNotAllowed => "SN-5.3.4-2",
            Self::QoSMinusOneWithNormalTopic => "SN-6.8-2",
            Self::MsgIdNotZero => "SN-5.4.12-3",
            Self::InvalidUtf8 => "SN-5.3.12-1",
            Self::NullCharacter => "MQTT-4.7.3-2",
            Self::EmptyTopic => "MQTT-4.7.3-1",
            Self::WildcardInTopicName => "MQTT-4.7.1-1",
            Self::InvalidTopicFilter => "MQTT-4.7.1-2",
            Self::WildcardInShortTopicName => "SN-6.7-7",
            Self::ClientIdLength => "SN-5.3.1-1",
            Self::ReservedCtrlBits => "SN-5.5-2",
            Self::EncapsulationLength | Self::NestedEncapsulation => "SN-5.5-1",
        }
    }

    const fn description(self) -> &'static str {
        match self {
            Self::TooShort => "datagram shorter than a message header",
            Self::InvalidLength => "Length field smaller than the header",
            Self::Truncated => "datagram shorter than its Length field",
            Self::TrailingBytes => "datagram longer than its Length field",
            Self::ReservedMsgType => "reserved MsgType",
            Self::BodyLength(_) => "variable part of the wrong size for the message type",
            Self::ReservedTopicIdType => "reserved TopicIdType 0b11",
            Self::ReservedReturnCode => "reserved ReturnCode",
            Self::UnsupportedProtocolId => "ProtocolId other than 0x01",
            Self::QoSMinusOneNotAllowed => "QoS -1 outside PUBLISH",
            Self::QoSMinusOneWithNormalTopic => "QoS -1 PUBLISH with a normal topic id",
            Self::MsgIdNotZero => "QoS 0 or -1 PUBLISH with a non-zero MsgId",
            Self::InvalidUtf8 => "string is not well-formed UTF-8",
            Self::NullCharacter => "topic contains U+0000",
            Self::EmptyTopic => "empty topic",
            Self::WildcardInTopicName => "wildcard in a topic name",
            Self::InvalidTopicFilter => "misplaced wildcard in a topic filter",
            Self::WildcardInShortTopicName => "wildcard in a short topic name",
            Self::ClientIdLength => "ClientId not 1 to 23 characters long",
            Self::ReservedCtrlBits => "reserved Ctrl bits set",
            Self::EncapsulationLength => "invalid encapsulation Length",
            Self::NestedEncapsulation => "encapsulation inside an encapsulation",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BodyLength(msg_type) => write!(
                f,
                "malformed message: {} {} [{}]",
                msg_type,
                self.description(),
                self.rule()
            ),
            _ => write!(
                f,
                "malformed message: {} [{}]",
                self.description(),
                self.rule()
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// Why a message value could not be encoded.
///
/// These are mistakes of the caller, not of a peer: combinations the field types cannot rule out,
/// refused so that the encoder never writes a datagram this decoder would reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output slice is shorter than [`Message::encoded_len`](crate::Message::encoded_len).
    BufferTooSmall,
    /// The message would be longer than 65 535 octets, the most the 3-octet Length can say
    /// [SN-5.2.1-4].
    MessageTooLong,
    /// QoS -1 in SUBSCRIBE, SUBACK, WILLTOPIC or WILLTOPICUPD [SN-5.3.4-2].
    QoSMinusOneNotAllowed,
    /// A QoS -1 PUBLISH with a normal topic id [SN-6.8-2].
    QoSMinusOneWithNormalTopic,
    /// A QoS 0 or QoS -1 PUBLISH with a non-zero MsgId [SN-5.4.12-3].
    MsgIdNotZero,
}

impl EncodeError {
    /// The rule this error enforces, if any (without brackets).
    pub const fn rule(self) -> Option<&'static str> {
        match self {
            Self::BufferTooSmall => None,
            Self::MessageTooLong => Some("SN-5.2.1-4"),
            Self::QoSMinusOneNotAllowed => Some("SN-5.3.4-2"),
            Self::QoSMinusOneWithNormalTopic => Some("SN-6.8-2"),
            Self::MsgIdNotZero => Some("SN-5.4.12-3"),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferTooSmall => "output buffer too small for the message",
            Self::MessageTooLong => "message longer than 65535 octets [SN-5.2.1-4]",
            Self::QoSMinusOneNotAllowed => "QoS -1 outside PUBLISH [SN-5.3.4-2]",
            Self::QoSMinusOneWithNormalTopic => "QoS -1 PUBLISH with a normal topic id [SN-6.8-2]",
            Self::MsgIdNotZero => "QoS 0 or -1 PUBLISH with a non-zero MsgId [SN-5.4.12-3]",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// Why a value cannot be a field of a message: returned by the constructors of the validated field
/// types ([`TopicName::new`](crate::TopicName::new), [`ClientId::new`](crate::ClientId::new), ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldError {
    /// A topic name or filter of zero length [MQTT-4.7.3-1].
    EmptyTopic,
    /// A topic name or filter containing U+0000 [MQTT-4.7.3-2].
    NullCharacter,
    /// A topic name containing `+` or `#` [MQTT-4.7.1-1].
    WildcardInTopicName,
    /// A topic filter with a misplaced wildcard [MQTT-4.7.1-2] [MQTT-4.7.1-3].
    InvalidTopicFilter,
    /// A short topic name that is not exactly two octets [SN-6.7-6].
    ShortTopicNameLength,
    /// A short topic name containing `+` or `#` [SN-6.7-7].
    WildcardInShortTopicName,
    /// Bytes that are not well-formed UTF-8 where a string is required [SN-5.3.12-1].
    InvalidUtf8,
    /// A ClientId that is not 1 to 23 characters long [SN-5.3.1-1].
    ClientIdLength,
    /// An empty GwAdd: a GWINFO without an address is written with `gw_add: None` [SN-5.4.3-1].
    EmptyGwAddress,
}

impl FieldError {
    /// The rule this error enforces (without brackets).
    pub const fn rule(self) -> &'static str {
        match self {
            Self::EmptyTopic => "MQTT-4.7.3-1",
            Self::NullCharacter => "MQTT-4.7.3-2",
            Self::WildcardInTopicName => "MQTT-4.7.1-1",
            Self::InvalidTopicFilter => "MQTT-4.7.1-2",
            Self::ShortTopicNameLength => "SN-6.7-6",
            Self::WildcardInShortTopicName => "SN-6.7-7",
            Self::InvalidUtf8 => "SN-5.3.12-1",
            Self::ClientIdLength => "SN-5.3.1-1",
            Self::EmptyGwAddress => "SN-5.4.3-1",
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let description = match self {
            Self::EmptyTopic => "empty topic",
            Self::NullCharacter => "topic contains U+0000",
            Self::WildcardInTopicName => "wildcard in a topic name",
            Self::InvalidTopicFilter => "misplaced wildcard in a topic filter",
            Self::ShortTopicNameLength => "short topic name not exactly two octets",
            Self::WildcardInShortTopicName => "wildcard in a short topic name",
            Self::InvalidUtf8 => "not well-formed UTF-8",
            Self::ClientIdLength => "ClientId not 1 to 23 characters long",
            Self::EmptyGwAddress => "empty gateway address",
        };
        write!(f, "{description} [{}]", self.rule())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FieldError {}

/// A field read from a datagram fails with the same rule as the constructor would.
impl From<FieldError> for DecodeError {
    fn from(error: FieldError) -> Self {
        match error {
            FieldError::EmptyTopic => Self::EmptyTopic,
            FieldError::NullCharacter => Self::NullCharacter,
            FieldError::WildcardInTopicName => Self::WildcardInTopicName,
            FieldError::InvalidTopicFilter => Self::InvalidTopicFilter,
            FieldError::WildcardInShortTopicName => Self::WildcardInShortTopicName,
            FieldError::InvalidUtf8 => Self::InvalidUtf8,
            FieldError::ClientIdLength => Self::ClientIdLength,
            // A short topic name is read as exactly two octets, and a GwAdd only when octets follow
            // the GwId: these cases cannot come from a datagram, and map to the nearest framing error.
            FieldError::ShortTopicNameLength => Self::BodyLength(MsgType::Publish),
            FieldError::EmptyGwAddress => Self::BodyLength(MsgType::GwInfo),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn every_error_names_its_rule_in_its_message() {
        let error = DecodeError::BodyLength(MsgType::ConnAck);
        assert_eq!(error.rule(), "SN-5.4.5-1");
        assert_eq!(
            error.to_string(),
            "malformed message: CONNACK variable part of the wrong size for the message type [SN-5.4.5-1]"
        );
        assert!(
            DecodeError::ReservedMsgType
                .to_string()
                .ends_with("[SN-5.2.2-1]")
        );
        assert!(
            FieldError::ClientIdLength
                .to_string()
                .ends_with("[SN-5.3.1-1]")
        );
        assert_eq!(EncodeError::BufferTooSmall.rule(), None);
    }
}

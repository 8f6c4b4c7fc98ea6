//! The codec's two error types: what was wrong with bytes we were given ([`DecodeError`]), and why a
//! packet value could not be written ([`EncodeError`]).
//!
//! Both are flat `Copy` enums. "Need more bytes" is not among them: it is
//! [`Status::Partial`](crate::Status::Partial), a normal answer of the decoder. Every variant names the
//! rule it enforces, through [`DecodeError::rule`], so that a server can log which rule a client broke.

use core::fmt;

use crate::ConnectReturnCode;
use crate::v5::ReasonCode;

/// Why a byte sequence is not a valid MQTT packet.
///
/// Almost every variant means the peer broke the protocol, and the answer the specification requires is
/// to close the network connection [MQTT-4.8.0-1]. The exception is
/// [`UnsupportedProtocolLevel`](DecodeError::UnsupportedProtocolLevel), which a server first answers with
/// a CONNACK: see [`DecodeError::connack_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// The Remaining Length field has a continuation bit set in its fourth byte (3.1.1 §2.2.3).
    MalformedRemainingLength,
    /// The packet is larger than the maximum the decoder was configured with. Refused from the fixed
    /// header alone, before the body is buffered.
    PacketTooLarge,
    /// Control packet type 0 or 15, which both versions reserve (3.1.1 §2.2.1, [V31-DIFF-33]).
    ReservedPacketType,
    /// Fixed-header flags other than those Table 2.2 lists for the packet type [MQTT-2.2.2-1]
    /// [MQTT-2.2.2-2] (for PUBREL, SUBSCRIBE, UNSUBSCRIBE and DISCONNECT also [MQTT-3.6.1-1]
    /// [MQTT-3.8.1-1] [MQTT-3.10.1-1] [MQTT-3.14.1-1]). Only checked at level 3.1.1 ([V31-DIFF-26]).
    InvalidHeaderFlags,
    /// A field runs past the end of the packet's Remaining Length.
    UnexpectedEndOfPacket,
    /// Bytes are left over after the packet's last field.
    TrailingBytes,
    /// A string is not well-formed UTF-8, or encodes a surrogate [MQTT-1.5.3-1].
    InvalidUtf8,
    /// A string contains U+0000 [MQTT-1.5.3-2] [MQTT-4.7.3-2].
    NullCharacter,
    /// CONNECT names a protocol other than `MQTT` or `MQIsdp` [MQTT-3.1.2-1].
    InvalidProtocolName,
    /// CONNECT names `MQTT` or `MQIsdp` with a level this codec does not speak [MQTT-3.1.2-2]. A server
    /// answers CONNACK 0x01 before closing.
    UnsupportedProtocolLevel,
    /// The reserved bit 0 of the CONNECT flags is set [MQTT-3.1.2-3]. Only checked at level 3.1.1
    /// ([V31-DIFF-4]).
    ReservedConnectFlag,
    /// Will QoS or Will Retain is set while the Will Flag is not [MQTT-3.1.2-11] [MQTT-3.1.2-13]
    /// [MQTT-3.1.2-15]. Only checked at level 3.1.1 ([V31-DIFF-13]).
    WillFlagsWithoutWill,
    /// The Password Flag is set while the User Name Flag is not [MQTT-3.1.2-22] ([V31-DIFF-11]).
    PasswordWithoutUserName,
    /// CONNACK acknowledge flags with a reserved bit set (3.1.1 §3.2.2.1).
    InvalidConnAckFlags,
    /// CONNACK return code 6 to 255, reserved by both versions (3.1.1 §3.2.2.3, [V31-DIFF-8]).
    InvalidConnectReturnCode,
    /// CONNACK with Session Present set and a non-zero return code [MQTT-3.2.2-4].
    SessionPresentOnRefusal,
    /// A QoS of 3, in PUBLISH [MQTT-3.3.1-4] or in the Will QoS of CONNECT [MQTT-3.1.2-14].
    InvalidQoS,
    /// A QoS 0 PUBLISH with DUP set [MQTT-3.3.1-2]. Only checked at level 3.1.1 ([V31-DIFF-29]).
    DupWithQoS0,
    /// A topic name or topic filter of zero length [MQTT-4.7.3-1].
    EmptyTopic,
    /// A topic name (PUBLISH or Will Topic) containing `+` or `#` [MQTT-3.3.2-2] [MQTT-4.7.1-1].
    WildcardInTopicName,
    /// A topic filter with `#` not alone in the last level [MQTT-4.7.1-2], or `+` not alone in its level
    /// [MQTT-4.7.1-3].
    InvalidTopicFilter,
    /// A Packet Identifier of zero [MQTT-2.3.1-1].
    ZeroPacketId,
    /// A SUBSCRIBE or UNSUBSCRIBE without any topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2].
    NoTopicFilters,
    /// A SUBSCRIBE requested-QoS byte with reserved bits set or QoS 3 [MQTT-3.8.3-4]. At level 3.1 only
    /// QoS 3 is refused ([V31-DIFF-31]).
    InvalidRequestedQoS,
    /// A SUBACK without any return code: it cannot answer a SUBSCRIBE, which has at least one filter
    /// [MQTT-3.8.4-5].
    NoReturnCodes,
    /// A SUBACK return code other than 0x00, 0x01, 0x02 and 0x80 [MQTT-3.9.3-2].
    InvalidSubAckReturnCode,
    /// MQTT 5.0: a Variable Byte Integer (a Remaining Length, Property Length, property identifier or
    /// Subscription Identifier) longer than four bytes, or longer than its value needs
    /// [MQTT5-1.5.5-1].
    MalformedVariableByteInteger,
    /// MQTT 5.0: a property identifier that Table 2-4 does not define, or does not define for this
    /// packet or for the Will (5.0 §2.2.2.2: malformed).
    PropertyNotAllowed,
    /// MQTT 5.0: a property included twice where its section allows it once (a Protocol Error).
    DuplicateProperty,
    /// MQTT 5.0: a property value its section calls a Protocol Error: Receive Maximum or Maximum
    /// Packet Size 0, a 0-or-1 byte with another value, a Response Topic that is not a topic name
    /// [MQTT5-3.3.2-14].
    InvalidPropertyValue,
    /// MQTT 5.0: a Subscription Identifier of 0 (5.0 §3.8.2.1.2, §3.3.2.3.8: a Protocol Error).
    ZeroSubscriptionIdentifier,
    /// MQTT 5.0: a Topic Alias of 0 [MQTT5-3.3.2-8]; the receiver answers DISCONNECT 0x94.
    ZeroTopicAlias,
    /// MQTT 5.0: a PUBLISH with an empty topic name and no Topic Alias (5.0 §3.3.2.1).
    EmptyTopicWithoutAlias,
    /// MQTT 5.0: Authentication Data without an Authentication Method (5.0 §3.1.2.11.10).
    AuthenticationDataWithoutMethod,
    /// MQTT 5.0: a Reason Code that Table 2-6 does not list for this packet [MQTT5-3.2.2-8]
    /// [MQTT5-3.4.2-1] [MQTT5-3.14.2-1] and the like.
    InvalidReasonCode,
    /// MQTT 5.0: a SUBSCRIBE options byte with a reserved bit (6 or 7) set [MQTT5-3.8.3-5].
    InvalidSubscriptionOptions,
    /// MQTT 5.0: a Retain Handling of 3 (5.0 §3.8.3.1: a Protocol Error).
    InvalidRetainHandling,
    /// MQTT 5.0: No Local set on a shared subscription [MQTT5-3.8.3-4].
    NoLocalOnSharedSubscription,
}

impl DecodeError {
    /// The specification rule this error enforces, in the project's citation format.
    pub const fn rule(self) -> &'static str {
        match self {
            Self::MalformedRemainingLength => "MQTT-3.1.1 §2.2.3",
            Self::PacketTooLarge => "configured maximum packet size",
            Self::ReservedPacketType => "MQTT-3.1.1 §2.2.1",
            Self::InvalidHeaderFlags => "MQTT-2.2.2-2",
            Self::UnexpectedEndOfPacket | Self::TrailingBytes => "MQTT-3.1.1 §2.2.3",
            Self::InvalidUtf8 => "MQTT-1.5.3-1",
            Self::NullCharacter => "MQTT-1.5.3-2",
            Self::InvalidProtocolName => "MQTT-3.1.2-1",
            Self::UnsupportedProtocolLevel => "MQTT-3.1.2-2",
            Self::ReservedConnectFlag => "MQTT-3.1.2-3",
            Self::WillFlagsWithoutWill => "MQTT-3.1.2-11",
            Self::PasswordWithoutUserName => "MQTT-3.1.2-22",
            Self::InvalidConnAckFlags => "MQTT-3.1.1 §3.2.2.1",
            Self::InvalidConnectReturnCode => "MQTT-3.1.1 §3.2.2.3",
            Self::SessionPresentOnRefusal => "MQTT-3.2.2-4",
            Self::InvalidQoS => "MQTT-3.3.1-4",
            Self::DupWithQoS0 => "MQTT-3.3.1-2",
            Self::EmptyTopic => "MQTT-4.7.3-1",
            Self::WildcardInTopicName => "MQTT-3.3.2-2",
            Self::InvalidTopicFilter => "MQTT-4.7.1-2",
            Self::ZeroPacketId => "MQTT-2.3.1-1",
            Self::NoTopicFilters => "MQTT-3.8.3-3",
            Self::InvalidRequestedQoS => "MQTT-3.8.3-4",
            Self::NoReturnCodes => "MQTT-3.8.4-5",
            Self::InvalidSubAckReturnCode => "MQTT-3.9.3-2",
            Self::MalformedVariableByteInteger => "MQTT5-1.5.5-1",
            Self::PropertyNotAllowed => "MQTT-5.0 §2.2.2.2",
            Self::DuplicateProperty | Self::InvalidPropertyValue => "MQTT-5.0 §2.2.2.2, Table 2-4",
            Self::ZeroSubscriptionIdentifier => "MQTT-5.0 §3.8.2.1.2",
            Self::ZeroTopicAlias => "MQTT5-3.3.2-8",
            Self::EmptyTopicWithoutAlias => "MQTT-5.0 §3.3.2.1",
            Self::AuthenticationDataWithoutMethod => "MQTT-5.0 §3.1.2.11.10",
            Self::InvalidReasonCode => "MQTT-5.0 §2.4, Table 2-6",
            Self::InvalidSubscriptionOptions => "MQTT5-3.8.3-5",
            Self::InvalidRetainHandling => "MQTT-5.0 §3.8.3.1",
            Self::NoLocalOnSharedSubscription => "MQTT5-3.8.3-4",
        }
    }

    /// The MQTT 5.0 Reason Code a receiver sends in its CONNACK or DISCONNECT before closing (5.0
    /// §4.13): 0x81 Malformed Packet for bytes that cannot be parsed, 0x82 Protocol Error for a parsed
    /// packet the protocol does not allow, 0x95 Packet too large, 0x94 Topic Alias invalid, and 0x84
    /// Unsupported Protocol Version for a CONNECT of another level [MQTT5-3.1.2-2].
    ///
    /// Where the text names the class of an error it is followed (a reserved flag, a QoS of 3, an
    /// unknown property: malformed; a duplicate property, a Receive Maximum of 0, a Retain Handling of
    /// 3: protocol errors). Where it does not, bytes that do not parse (lengths, types, reserved bits)
    /// are malformed and well-formed values that break a rule are protocol errors.
    pub const fn reason_code(self) -> ReasonCode {
        match self {
            Self::PacketTooLarge => ReasonCode::PACKET_TOO_LARGE,
            Self::UnsupportedProtocolLevel => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            Self::ZeroTopicAlias => ReasonCode::TOPIC_ALIAS_INVALID,
            Self::DuplicateProperty
            | Self::InvalidPropertyValue
            | Self::ZeroSubscriptionIdentifier
            | Self::EmptyTopicWithoutAlias
            | Self::AuthenticationDataWithoutMethod
            | Self::InvalidReasonCode
            | Self::InvalidRetainHandling
            | Self::NoLocalOnSharedSubscription
            | Self::SessionPresentOnRefusal
            | Self::EmptyTopic
            | Self::WildcardInTopicName
            | Self::InvalidTopicFilter
            | Self::ZeroPacketId
            | Self::NoTopicFilters
            | Self::InvalidRequestedQoS
            | Self::NoReturnCodes => ReasonCode::PROTOCOL_ERROR,
            Self::MalformedRemainingLength
            | Self::ReservedPacketType
            | Self::InvalidHeaderFlags
            | Self::UnexpectedEndOfPacket
            | Self::TrailingBytes
            | Self::InvalidUtf8
            | Self::NullCharacter
            | Self::InvalidProtocolName
            | Self::ReservedConnectFlag
            | Self::WillFlagsWithoutWill
            | Self::PasswordWithoutUserName
            | Self::InvalidConnAckFlags
            | Self::InvalidConnectReturnCode
            | Self::InvalidQoS
            | Self::DupWithQoS0
            | Self::InvalidSubAckReturnCode
            | Self::MalformedVariableByteInteger
            | Self::PropertyNotAllowed
            | Self::InvalidSubscriptionOptions => ReasonCode::MALFORMED_PACKET,
        }
    }

    /// The CONNACK code a server sends before closing, when the specification asks for one.
    ///
    /// Only an unsupported protocol level is answered [MQTT-3.1.2-2]; every other malformed CONNECT is
    /// closed without a CONNACK [MQTT-3.1.4-1].
    pub const fn connack_code(self) -> Option<ConnectReturnCode> {
        match self {
            Self::UnsupportedProtocolLevel => Some(ConnectReturnCode::UnacceptableProtocolVersion),
            _ => None,
        }
    }

    const fn description(self) -> &'static str {
        match self {
            Self::MalformedRemainingLength => "remaining length longer than four bytes",
            Self::PacketTooLarge => "packet larger than the maximum packet size",
            Self::ReservedPacketType => "reserved control packet type 0 or 15",
            Self::InvalidHeaderFlags => "fixed-header flags invalid for the packet type",
            Self::UnexpectedEndOfPacket => "a field runs past the end of the packet",
            Self::TrailingBytes => "bytes left over after the last field of the packet",
            Self::InvalidUtf8 => "string is not well-formed UTF-8",
            Self::NullCharacter => "string contains U+0000",
            Self::InvalidProtocolName => "protocol name is neither MQTT nor MQIsdp",
            Self::UnsupportedProtocolLevel => "unsupported protocol level",
            Self::ReservedConnectFlag => "reserved CONNECT flag is set",
            Self::WillFlagsWithoutWill => "will QoS or will retain set without the will flag",
            Self::PasswordWithoutUserName => "password flag set without the user name flag",
            Self::InvalidConnAckFlags => "reserved CONNACK flag is set",
            Self::InvalidConnectReturnCode => "reserved CONNACK return code",
            Self::SessionPresentOnRefusal => "session present set on a refused connection",
            Self::InvalidQoS => "QoS 3 is not a QoS level",
            Self::DupWithQoS0 => "DUP set on a QoS 0 PUBLISH",
            Self::EmptyTopic => "empty topic",
            Self::WildcardInTopicName => "wildcard in a topic name",
            Self::InvalidTopicFilter => "misplaced wildcard in a topic filter",
            Self::ZeroPacketId => "packet identifier 0",
            Self::NoTopicFilters => "no topic filter",
            Self::InvalidRequestedQoS => "invalid requested QoS byte",
            Self::NoReturnCodes => "SUBACK without return codes",
            Self::InvalidSubAckReturnCode => "reserved SUBACK return code",
            Self::MalformedVariableByteInteger => "variable byte integer too long or not minimal",
            Self::PropertyNotAllowed => "property not defined for this packet",
            Self::DuplicateProperty => "property included more than once",
            Self::InvalidPropertyValue => "property value not allowed",
            Self::ZeroSubscriptionIdentifier => "subscription identifier 0",
            Self::ZeroTopicAlias => "topic alias 0",
            Self::EmptyTopicWithoutAlias => "empty topic name without a topic alias",
            Self::AuthenticationDataWithoutMethod => "authentication data without a method",
            Self::InvalidReasonCode => "reason code not allowed in this packet",
            Self::InvalidSubscriptionOptions => "reserved subscription option bits set",
            Self::InvalidRetainHandling => "retain handling 3",
            Self::NoLocalOnSharedSubscription => "no local on a shared subscription",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed packet: {} [{}]",
            self.description(),
            self.rule()
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// Why a packet value could not be encoded.
///
/// These are mistakes of the caller, not of a peer: values the types cannot rule out, refused so that
/// the encoder never writes bytes that a conforming decoder (this one included) would reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string or binary field longer than 65 535 bytes, the most a two-byte length prefix can say
    /// (3.1.1 §1.5.3).
    FieldTooLong,
    /// A Remaining Length over 268 435 455, the most four bytes can encode (3.1.1 §2.2.3).
    PacketTooLarge,
    /// The output slice is shorter than [`Packet::encoded_len`](crate::Packet::encoded_len).
    BufferTooSmall,
    /// A CONNECT with a password but no user name [MQTT-3.1.2-22].
    PasswordWithoutUserName,
    /// A CONNACK with Session Present set and a non-zero return code [MQTT-3.2.2-4].
    SessionPresentOnRefusal,
    /// A SUBSCRIBE or UNSUBSCRIBE with no topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2], or a SUBACK with no
    /// return code.
    EmptyList,
    /// A SUBACK failure (0x80) addressed to an MQTT 3.1 client, which has no such code: 3.1 servers
    /// grant a QoS and deliver nothing instead ([V31-DIFF-34]).
    SubAckFailureInMqtt31,
    /// MQTT 5.0: a property not defined for the packet, included twice where it may appear once, or
    /// with a value its section forbids (5.0 §2.2.2.2).
    InvalidProperty,
    /// MQTT 5.0: a Reason Code Table 2-6 does not list for the packet [MQTT5-3.4.2-1] and the like.
    InvalidReasonCode,
    /// MQTT 5.0: a PUBLISH with neither a topic name nor a Topic Alias (5.0 §3.3.2.1).
    EmptyTopicWithoutAlias,
    /// MQTT 5.0: No Local on a shared subscription [MQTT5-3.8.3-4].
    NoLocalOnSharedSubscription,
    /// MQTT 5.0: Authentication Data without an Authentication Method (5.0 §3.1.2.11.10).
    AuthenticationDataWithoutMethod,
    /// MQTT 5.0: a `$share/` filter without a ShareName, with a wildcard or nothing after it
    /// [MQTT5-4.8.2-1] [MQTT5-4.8.2-2].
    InvalidTopicFilter,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FieldTooLong => "string or binary field longer than 65535 bytes",
            Self::PacketTooLarge => "remaining length over 268435455 bytes",
            Self::BufferTooSmall => "output buffer too small for the packet",
            Self::PasswordWithoutUserName => "password without user name [MQTT-3.1.2-22]",
            Self::SessionPresentOnRefusal => {
                "session present on a refused connection [MQTT-3.2.2-4]"
            }
            Self::EmptyList => "SUBSCRIBE, UNSUBSCRIBE or SUBACK with an empty list [MQTT-3.8.3-3]",
            Self::SubAckFailureInMqtt31 => {
                "SUBACK failure code sent to an MQTT 3.1 client [V31-DIFF-34]"
            }
            Self::InvalidProperty => "property not allowed, repeated or out of range (MQTT 5.0)",
            Self::InvalidReasonCode => "reason code not allowed in this packet (MQTT 5.0)",
            Self::EmptyTopicWithoutAlias => "empty topic name without a topic alias (MQTT 5.0)",
            Self::NoLocalOnSharedSubscription => {
                "no local on a shared subscription [MQTT5-3.8.3-4]"
            }
            Self::AuthenticationDataWithoutMethod => {
                "authentication data without a method (MQTT 5.0)"
            }
            Self::InvalidTopicFilter => "malformed shared subscription filter [MQTT5-4.8.2-2]",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

//! [`ReasonCode`]: the one-byte outcome that every MQTT 5.0 acknowledgement carries (5.0 §2.4,
//! Table 2-6), and which codes each packet type may use.
//!
//! 3.1.1 has CONNACK return codes 0 to 5 and SUBACK codes 0, 1, 2 and 0x80 only; 5.0 shares one table
//! of codes between CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT and AUTH,
//! and each packet may use only its own column of it (V5-DIFF-2). The value 0 has three names
//! (Success, Normal disconnection, Granted QoS 0), so a code is a byte with named constants rather
//! than an enum; [`ReasonCode::allowed_in`] is the table's "Packets" column.

use core::fmt;

use crate::PacketType;

/// An MQTT 5.0 Reason Code. Below 0x80 it reports success, from 0x80 on failure (5.0 §2.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReasonCode(u8);

macro_rules! reason_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal, [$($packet:ident),*];)*) => {
        impl ReasonCode {
            $($(#[$doc])* pub const $name: Self = Self($value);)*

            /// The specification's name for the code, or `None` for a byte Table 2-6 does not list.
            /// For 0x00 the name depends on the packet; this answers "success".
            pub const fn name(self) -> Option<&'static str> {
                // The first listed name of a value wins, so 0x00 reads "success".
                $(if self.0 == $value { return Some($text); })*
                None
            }

            /// Whether Table 2-6 lets a packet of `packet_type` carry this code [MQTT5-3.2.2-8]
            /// [MQTT5-3.4.2-1] [MQTT5-3.5.2-1] [MQTT5-3.6.2-1] [MQTT5-3.7.2-1] [MQTT5-3.9.3-2]
            /// [MQTT5-3.11.3-2] [MQTT5-3.14.2-1] [MQTT5-3.15.2-1].
            pub const fn allowed_in(self, packet_type: PacketType) -> bool {
                let packet = packet_type as u8;
                $(if self.0 == $value && ($(packet == PacketType::$packet as u8)||*) {
                    return true;
                })*
                false
            }
        }
    };
}

reason_codes! {
    /// 0x00 Success: CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH.
    SUCCESS = 0x00, "success", [ConnAck, PubAck, PubRec, PubRel, PubComp, UnsubAck, Auth];
    /// 0x00 Normal disconnection: DISCONNECT.
    NORMAL_DISCONNECTION = 0x00, "normal disconnection", [Disconnect];
    /// 0x00 Granted QoS 0: SUBACK.
    GRANTED_QOS_0 = 0x00, "granted QoS 0", [SubAck];
    /// 0x01 Granted QoS 1: SUBACK.
    GRANTED_QOS_1 = 0x01, "granted QoS 1", [SubAck];
    /// 0x02 Granted QoS 2: SUBACK.
    GRANTED_QOS_2 = 0x02, "granted QoS 2", [SubAck];
    /// 0x04 Disconnect with Will Message: DISCONNECT from a client.
    DISCONNECT_WITH_WILL_MESSAGE = 0x04, "disconnect with will message", [Disconnect];
    /// 0x10 No matching subscribers: PUBACK, PUBREC.
    NO_MATCHING_SUBSCRIBERS = 0x10, "no matching subscribers", [PubAck, PubRec];
    /// 0x11 No subscription existed: UNSUBACK.
    NO_SUBSCRIPTION_EXISTED = 0x11, "no subscription existed", [UnsubAck];
    /// 0x18 Continue authentication: AUTH.
    CONTINUE_AUTHENTICATION = 0x18, "continue authentication", [Auth];
    /// 0x19 Re-authenticate: AUTH from a client.
    RE_AUTHENTICATE = 0x19, "re-authenticate", [Auth];
    /// 0x80 Unspecified error.
    UNSPECIFIED_ERROR = 0x80, "unspecified error", [ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect];
    /// 0x81 Malformed Packet: the packet could not be parsed (5.0 §4.13.1).
    MALFORMED_PACKET = 0x81, "malformed packet", [ConnAck, Disconnect];
    /// 0x82 Protocol Error: parsed, but not allowed by the protocol (5.0 §4.13.1).
    PROTOCOL_ERROR = 0x82, "protocol error", [ConnAck, Disconnect];
    /// 0x83 Implementation specific error.
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83, "implementation specific error", [ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect];
    /// 0x84 Unsupported Protocol Version: CONNACK [MQTT5-3.1.2-2].
    UNSUPPORTED_PROTOCOL_VERSION = 0x84, "unsupported protocol version", [ConnAck];
    /// 0x85 Client Identifier not valid: CONNACK [MQTT5-3.1.3-8].
    CLIENT_IDENTIFIER_NOT_VALID = 0x85, "client identifier not valid", [ConnAck];
    /// 0x86 Bad User Name or Password: CONNACK.
    BAD_USER_NAME_OR_PASSWORD = 0x86, "bad user name or password", [ConnAck];
    /// 0x87 Not authorized.
    NOT_AUTHORIZED = 0x87, "not authorized", [ConnAck, PubAck, PubRec, SubAck, UnsubAck, Disconnect];
    /// 0x88 Server unavailable: CONNACK.
    SERVER_UNAVAILABLE = 0x88, "server unavailable", [ConnAck];
    /// 0x89 Server busy.
    SERVER_BUSY = 0x89, "server busy", [ConnAck, Disconnect];
    /// 0x8A Banned: CONNACK.
    BANNED = 0x8A, "banned", [ConnAck];
    /// 0x8B Server shutting down: DISCONNECT.
    SERVER_SHUTTING_DOWN = 0x8B, "server shutting down", [Disconnect];
    /// 0x8C Bad authentication method.
    BAD_AUTHENTICATION_METHOD = 0x8C, "bad authentication method", [ConnAck, Disconnect];
    /// 0x8D Keep Alive timeout: DISCONNECT.
    KEEP_ALIVE_TIMEOUT = 0x8D, "keep alive timeout", [Disconnect];
    /// 0x8E Session taken over: DISCONNECT [MQTT5-3.1.4-3].
    SESSION_TAKEN_OVER = 0x8E, "session taken over", [Disconnect];
    /// 0x8F Topic Filter invalid.
    TOPIC_FILTER_INVALID = 0x8F, "topic filter invalid", [SubAck, UnsubAck, Disconnect];
    /// 0x90 Topic Name invalid.
    TOPIC_NAME_INVALID = 0x90, "topic name invalid", [ConnAck, PubAck, PubRec, Disconnect];
    /// 0x91 Packet Identifier in use.
    PACKET_IDENTIFIER_IN_USE = 0x91, "packet identifier in use", [PubAck, PubRec, SubAck, UnsubAck];
    /// 0x92 Packet Identifier not found: PUBREL, PUBCOMP.
    PACKET_IDENTIFIER_NOT_FOUND = 0x92, "packet identifier not found", [PubRel, PubComp];
    /// 0x93 Receive Maximum exceeded: DISCONNECT.
    RECEIVE_MAXIMUM_EXCEEDED = 0x93, "receive maximum exceeded", [Disconnect];
    /// 0x94 Topic Alias invalid: DISCONNECT.
    TOPIC_ALIAS_INVALID = 0x94, "topic alias invalid", [Disconnect];
    /// 0x95 Packet too large.
    PACKET_TOO_LARGE = 0x95, "packet too large", [ConnAck, Disconnect];
    /// 0x96 Message rate too high: DISCONNECT.
    MESSAGE_RATE_TOO_HIGH = 0x96, "message rate too high", [Disconnect];
    /// 0x97 Quota exceeded.
    QUOTA_EXCEEDED = 0x97, "quota exceeded", [ConnAck, PubAck, PubRec, SubAck, Disconnect];
    /// 0x98 Administrative action: DISCONNECT.
    ADMINISTRATIVE_ACTION = 0x98, "administrative action", [Disconnect];
    /// 0x99 Payload format invalid.
    PAYLOAD_FORMAT_INVALID = 0x99, "payload format invalid", [ConnAck, PubAck, PubRec, Disconnect];
    /// 0x9A Retain not supported.
    RETAIN_NOT_SUPPORTED = 0x9A, "retain not supported", [ConnAck, Disconnect];
    /// 0x9B QoS not supported.
    QOS_NOT_SUPPORTED = 0x9B, "QoS not supported", [ConnAck, Disconnect];
    /// 0x9C Use another server.
    USE_ANOTHER_SERVER = 0x9C, "use another server", [ConnAck, Disconnect];
    /// 0x9D Server moved.
    SERVER_MOVED = 0x9D, "server moved", [ConnAck, Disconnect];
    /// 0x9E Shared Subscriptions not supported.
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E, "shared subscriptions not supported", [SubAck, Disconnect];
    /// 0x9F Connection rate exceeded.
    CONNECTION_RATE_EXCEEDED = 0x9F, "connection rate exceeded", [ConnAck, Disconnect];
    /// 0xA0 Maximum connect time: DISCONNECT.
    MAXIMUM_CONNECT_TIME = 0xA0, "maximum connect time", [Disconnect];
    /// 0xA1 Subscription Identifiers not supported.
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1, "subscription identifiers not supported", [SubAck, Disconnect];
    /// 0xA2 Wildcard Subscriptions not supported.
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2, "wildcard subscriptions not supported", [SubAck, Disconnect];
}

impl ReasonCode {
    /// The code with value `byte`, whether or not the specification defines it: decoders check
    /// [`allowed_in`](Self::allowed_in) for the packet at hand.
    #[inline]
    pub const fn from_byte(byte: u8) -> Self {
        Self(byte)
    }

    /// The byte on the wire.
    #[inline]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Whether the code reports a failure: 0x80 and above (5.0 §2.4).
    #[inline]
    pub const fn is_failure(self) -> bool {
        self.0 >= 0x80
    }

    /// The SUBACK code granting `qos`.
    #[inline]
    pub const fn granted(qos: crate::QoS) -> Self {
        Self(qos.bits())
    }
}

impl fmt::Debug for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReasonCode(0x{:02X}", self.0)?;
        if let Some(name) = self.name() {
            write!(f, " {name}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:02X})", self.0),
            None => write!(f, "reserved reason code 0x{:02X}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_packet_has_its_column_of_table_2_6() {
        use PacketType::*;
        let count = |packet| {
            (0..=255u8)
                .filter(|&b| ReasonCode(b).allowed_in(packet))
                .count()
        };
        assert_eq!(count(ConnAck), 22);
        assert_eq!(count(PubAck), 9);
        assert_eq!(count(PubRec), 9);
        assert_eq!(count(PubRel), 2);
        assert_eq!(count(PubComp), 2);
        assert_eq!(count(SubAck), 12);
        assert_eq!(count(UnsubAck), 7);
        assert_eq!(count(Disconnect), 30);
        assert_eq!(count(Auth), 3);
        assert_eq!(count(Publish), 0);
    }

    #[test]
    fn zero_is_allowed_everywhere_but_under_its_own_names() {
        assert!(ReasonCode::NORMAL_DISCONNECTION.allowed_in(PacketType::Disconnect));
        assert!(ReasonCode::SUCCESS.allowed_in(PacketType::Auth));
        assert!(!ReasonCode::RE_AUTHENTICATE.allowed_in(PacketType::Disconnect));
        assert!(!ReasonCode::from_byte(0x03).allowed_in(PacketType::SubAck));
        assert_eq!(ReasonCode::from_byte(0x03).name(), None);
    }

    #[test]
    fn failure_starts_at_0x80() {
        assert!(!ReasonCode::from_byte(0x7F).is_failure());
        assert!(ReasonCode::UNSPECIFIED_ERROR.is_failure());
        assert_eq!(
            ReasonCode::granted(crate::QoS::ExactlyOnce),
            ReasonCode::GRANTED_QOS_2
        );
    }
}

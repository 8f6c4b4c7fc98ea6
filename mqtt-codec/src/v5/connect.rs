//! CONNECT at MQTT 5.0 (5.0 §3.1): the 3.1.1 layout with two property sets added.
//!
//! ```text
//! byte 1      0x10                       type 1, flags 0000
//! byte 2..    Remaining Length
//! variable    protocol name              00 04 'MQTT'
//! header      protocol level             05 (0x85 from a bridge, as at 3.1.1)
//!             connect flags              user | pass | will retain | will QoS (2) | will | clean start | reserved
//!             keep alive                 two bytes, seconds
//!             properties                 Property Length, then CONNECT properties
//! payload     client identifier          string
//!             will properties            Property Length, then Will properties   } if the will
//!             will topic, will payload   string, binary                          } flag is set
//!             user name                  string           if the user name flag is set
//!             password                   binary           if the password flag is set
//! ```
//!
//! What changes from 3.1.1 (V5-DIFF-1, V5-DIFF-4, V5-DIFF-12): Clean Session becomes Clean Start (the
//! same bit; how long the session lasts is now the Session Expiry Interval property); the Will gets
//! properties of its own; and a password may be sent without a user name (5.0 §3.1.2.9, a change the
//! differences table does not list).

use super::properties::PropertyContext;
use super::{Properties, check_authentication};
use crate::packet::connect::{
    FLAG_CLEAN_SESSION, FLAG_PASSWORD, FLAG_RESERVED, FLAG_USER_NAME, FLAG_WILL, FLAG_WILL_RETAIN,
    WILL_QOS_SHIFT, connect_flags,
};
use crate::wire::{Reader, Sink};
use crate::{ClientIdRule, DecodeError, EncodeError, PacketType, QoS, TopicName};

/// A CONNECT packet at MQTT 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Connect<'a> {
    /// Start a new session, discarding any stored one (5.0 §3.1.2.4) [MQTT5-3.1.2-4].
    pub clean_start: bool,
    /// The longest silence, in seconds, before the server may drop the client; 0 turns it off
    /// (5.0 §3.1.2.10). The server may impose another with Server Keep Alive [MQTT5-3.1.2-21].
    pub keep_alive: u16,
    /// The CONNECT properties: Session Expiry Interval, Receive Maximum, Maximum Packet Size, Topic
    /// Alias Maximum, Request Response/Problem Information, User Property, Authentication Method/Data.
    pub properties: Properties<'a>,
    /// Names the session [MQTT5-3.1.3-3]; may be empty, for the server to assign [MQTT5-3.1.3-6].
    pub client_id: &'a str,
    /// The message to publish if the connection ends without DISCONNECT 0x00 [MQTT5-3.1.2-10].
    pub will: Option<Will<'a>>,
    /// The user name, if the client sends one [MQTT5-3.1.3-12].
    pub user_name: Option<&'a str>,
    /// The password: binary data, which 5.0 allows without a user name (5.0 §3.1.2.9; a difference
    /// `mqtt-v5-differences.md` does not list).
    pub password: Option<&'a [u8]>,
    /// Whether the top bit of the protocol level was set: a broker bridging to this one (see the
    /// 3.1.1 `Connect`). Not part of the specification.
    pub bridge: bool,
}

/// The Will at MQTT 5.0: the 3.1.1 fields plus Will Properties (5.0 §3.1.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Will<'a> {
    /// Will Delay Interval, Payload Format Indicator, Message Expiry Interval, Content Type, Response
    /// Topic, Correlation Data, User Property.
    pub properties: Properties<'a>,
    /// Where the will is published: a topic name [MQTT5-3.1.3-11].
    pub topic: TopicName<'a>,
    /// The will's payload, binary data.
    pub payload: &'a [u8],
    /// The QoS the will is published with [MQTT5-3.1.2-12].
    pub qos: QoS,
    /// Whether the will is published as a retained message [MQTT5-3.1.2-15].
    pub retain: bool,
}

const LEVEL: u8 = 5;
const LEVEL_BRIDGE_BIT: u8 = 0x80;
// The connect flags are 3.1.1's bits; bit 1, Clean Session there, is Clean Start [V5-DIFF-4].
const FLAG_CLEAN_START: u8 = FLAG_CLEAN_SESSION;

impl<'a> Connect<'a> {
    /// What the specification lets a server do with this packet's client identifier. At 5.0 an empty
    /// identifier may be assigned one whatever Clean Start says [MQTT5-3.1.3-6] (V5-DIFF-19), and
    /// identifiers outside the must-accept set may be refused with CONNACK 0x85 [MQTT5-3.1.3-8].
    pub fn client_id_rule(&self) -> ClientIdRule {
        let id = self.client_id;
        if id.is_empty() {
            ClientIdRule::MayAssign
        } else if id.len() <= 23 && id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            ClientIdRule::MustAccept // [MQTT5-3.1.3-5]
        } else {
            ClientIdRule::MayAccept
        }
    }

    pub(crate) fn decode(flags: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let name = reader.binary()?;
        let level_byte = reader.u8()?;
        match (name, level_byte & !LEVEL_BRIDGE_BIT) {
            (b"MQTT", LEVEL) => {}
            // 3.1.1 or 3.1 (or a level nobody speaks): CONNACK 0x84, then close [MQTT5-3.1.2-2].
            (b"MQTT" | b"MQIsdp", _) => return Err(DecodeError::UnsupportedProtocolLevel),
            _ => return Err(DecodeError::InvalidProtocolName), // [MQTT5-3.1.2-1]
        }
        if flags != 0 {
            return Err(DecodeError::InvalidHeaderFlags); // [MQTT5-2.1.3-1]
        }
        let connect_flags = reader.u8()?;
        if connect_flags & FLAG_RESERVED != 0 {
            return Err(DecodeError::ReservedConnectFlag); // [MQTT5-3.1.2-3]
        }
        let has_will = connect_flags & FLAG_WILL != 0;
        let will_qos_bits = (connect_flags >> WILL_QOS_SHIFT) & 0b11;
        let will_retain = connect_flags & FLAG_WILL_RETAIN != 0;
        if !has_will && (will_qos_bits != 0 || will_retain) {
            return Err(DecodeError::WillFlagsWithoutWill); // [MQTT5-3.1.2-11] [MQTT5-3.1.2-13]
        }
        let keep_alive = reader.u16()?;
        let properties =
            Properties::read(&mut reader, PropertyContext::Packet(PacketType::Connect))?;
        check_authentication(&properties)?;
        // The payload, in its fixed order [MQTT5-3.1.3-1], the client identifier first
        // [MQTT5-3.1.3-3] and a string [MQTT5-3.1.3-4].
        let client_id = reader.string()?;
        let will = if has_will {
            // All three Will fields must be there [MQTT5-3.1.2-9].
            let properties = Properties::read(&mut reader, PropertyContext::Will)?;
            let topic = TopicName::new(reader.topic_string()?)?; // [MQTT5-3.1.3-11]
            let payload = reader.binary()?;
            let qos = QoS::from_bits(will_qos_bits)?; // 3 is malformed [MQTT5-3.1.2-12]
            Some(Will {
                properties,
                topic,
                payload,
                qos,
                retain: will_retain,
            })
        } else {
            None
        };
        let user_name = if connect_flags & FLAG_USER_NAME != 0 {
            Some(reader.string()?) // [MQTT5-3.1.3-12]
        } else {
            None
        };
        let password = if connect_flags & FLAG_PASSWORD != 0 {
            Some(reader.binary()?)
        } else {
            None
        };
        reader.finish()?;
        Ok(Self {
            clean_start: connect_flags & FLAG_CLEAN_START != 0,
            keep_alive,
            properties,
            client_id,
            will,
            user_name,
            password,
            bridge: level_byte & LEVEL_BRIDGE_BIT != 0,
        })
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        self.properties
            .check(PropertyContext::Packet(PacketType::Connect))?;
        if self.properties.authentication_data().is_some()
            && self.properties.authentication_method().is_none()
        {
            return Err(EncodeError::AuthenticationDataWithoutMethod);
        }
        if let Some(will) = &self.will {
            will.properties.check(PropertyContext::Will)?;
        }
        let too_long = |field: &[u8]| field.len() > usize::from(u16::MAX);
        if too_long(self.client_id.as_bytes())
            || self.will.is_some_and(|will| too_long(will.payload))
            || self.user_name.is_some_and(|name| too_long(name.as_bytes()))
            || self.password.is_some_and(too_long)
        {
            return Err(EncodeError::FieldTooLong);
        }
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        let variable_header = 2 + 4 + 1 + 1 + 2 + self.properties.encoded_len();
        let will = self.will.map_or(0, |will| {
            will.properties.encoded_len() + 2 + will.topic.as_str().len() + 2 + will.payload.len()
        });
        let user_name = self.user_name.map_or(0, |name| 2 + name.len());
        let password = self.password.map_or(0, |password| 2 + password.len());
        variable_header + 2 + self.client_id.len() + will + user_name + password
    }

    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        sink.put_prefixed(b"MQTT");
        let bridge = if self.bridge { LEVEL_BRIDGE_BIT } else { 0 };
        sink.put_u8(LEVEL | bridge);
        sink.put_u8(connect_flags(
            self.clean_start,
            self.will.as_ref().map(|will| (will.qos, will.retain)),
            self.user_name.is_some(),
            self.password.is_some(),
        ));
        sink.put_u16(self.keep_alive);
        self.properties.write(sink);
        sink.put_prefixed(self.client_id.as_bytes());
        if let Some(will) = &self.will {
            will.properties.write(sink);
            sink.put_prefixed(will.topic.as_str().as_bytes());
            sink.put_prefixed(will.payload);
        }
        if let Some(user_name) = self.user_name {
            sink.put_prefixed(user_name.as_bytes());
        }
        if let Some(password) = self.password {
            sink.put_prefixed(password);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_malformed_v5, assert_vector_v5};
    use crate::v5::{Packet, Property};

    #[test]
    fn minimal() {
        assert_vector_v5(
            "10 10                 CONNECT, remaining length 16
             00 04 4d 51 54 54     protocol name 'MQTT'
             05                    protocol level 5
             02                    flags: clean start
             00 3c                 keep alive 60 s
             00                    no properties [MQTT5-2.2.2-1]
             00 03 63 69 64        client id 'cid'",
            Packet::Connect(Connect {
                clean_start: true,
                keep_alive: 60,
                client_id: "cid",
                ..Connect::default()
            }),
        );
    }

    #[test]
    fn everything_set() {
        let properties = [
            Property::SessionExpiryInterval(3600),
            Property::ReceiveMaximum(20),
            Property::UserProperty("k", "v"),
        ];
        let will_properties = [Property::WillDelayInterval(10), Property::ContentType("t")];
        assert_vector_v5(
            "10 3d                 CONNECT, remaining length 61
             00 04 4d 51 54 54     'MQTT'
             85                    level 5, bridge bit
             f4                    flags: user name, password, will retain, will QoS 2, will
             00 0a                 keep alive 10 s
             0f                    property length 15
             11 00 00 0e 10        session expiry interval 3600
             21 00 14              receive maximum 20
             26 00 01 6b 00 01 76  user property k=v
             00 01 63              client id 'c'
             09                    will property length 9
             18 00 00 00 0a        will delay interval 10
             03 00 01 74           content type 't'
             00 03 61 2f 62        will topic 'a/b'
             00 03 62 79 65        will payload 'bye'
             00 04 75 73 65 72     user name 'user'
             00 04 70 61 73 73     password 'pass'",
            Packet::Connect(Connect {
                clean_start: false,
                keep_alive: 10,
                properties: Properties::from_slice(&properties),
                client_id: "c",
                will: Some(Will {
                    properties: Properties::from_slice(&will_properties),
                    topic: TopicName::new("a/b").expect("valid"),
                    payload: b"bye",
                    qos: QoS::ExactlyOnce,
                    retain: true,
                }),
                user_name: Some("user"),
                password: Some(b"pass"),
                bridge: true,
            }),
        );
    }

    #[test]
    fn password_without_user_name_is_allowed_at_5_0() {
        assert_vector_v5(
            "10 11 00 04 4d 51 54 54 05
             40                    flags: password only (5.0 §3.1.2.9)
             00 00 00 00 00
             00 02 70 77           password 'pw'",
            Packet::Connect(Connect {
                password: Some(b"pw"),
                ..Connect::default()
            }),
        );
    }

    #[test]
    fn other_levels_are_unsupported_mqtt5_3_1_2_2() {
        let error = DecodeError::UnsupportedProtocolLevel;
        assert_malformed_v5("10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00", error);
        assert_eq!(
            error.reason_code(),
            crate::v5::ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
        );
        assert_malformed_v5(
            "10 0e 00 04 4d 51 54 54 05 02 00 3c 00 00 00 ff",
            DecodeError::TrailingBytes,
        );
    }

    #[test]
    fn flags_are_checked_mqtt5_3_1_2_3_and_11_and_13() {
        assert_malformed_v5(
            "10 0d 00 04 4d 51 54 54 05 03 00 3c 00 00 00",
            DecodeError::ReservedConnectFlag,
        );
        assert_malformed_v5(
            "10 0d 00 04 4d 51 54 54 05 0a 00 3c 00 00 00",
            DecodeError::WillFlagsWithoutWill,
        );
        assert_malformed_v5(
            "10 0d 00 04 4d 51 54 54 05 20 00 3c 00 00 00",
            DecodeError::WillFlagsWithoutWill,
        );
        // Will QoS 3 is malformed [MQTT5-3.1.2-12].
        assert_malformed_v5(
            "10 13 00 04 4d 51 54 54 05 1c 00 3c 00 00 00 00 00 01 61 00 00",
            DecodeError::InvalidQoS,
        );
    }

    #[test]
    fn will_fields_must_all_be_there_mqtt5_3_1_2_9() {
        // The will flag set, the Will Properties present, but no topic.
        assert_malformed_v5(
            "10 0e 00 04 4d 51 54 54 05 04 00 3c 00 00 00 00",
            DecodeError::UnexpectedEndOfPacket,
        );
    }

    #[test]
    fn misplaced_and_duplicate_properties() {
        // A Topic Alias (PUBLISH only) in CONNECT: malformed (5.0 §2.2.2.2).
        assert_malformed_v5(
            "10 10 00 04 4d 51 54 54 05 02 00 3c 03 23 00 01 00 00",
            DecodeError::PropertyNotAllowed,
        );
        // A Will Delay Interval in the CONNECT properties instead of the Will's.
        assert_malformed_v5(
            "10 12 00 04 4d 51 54 54 05 02 00 3c 05 18 00 00 00 01 00 00",
            DecodeError::PropertyNotAllowed,
        );
        // A Session Expiry Interval in the Will Properties.
        assert_malformed_v5(
            "10 18 00 04 4d 51 54 54 05 06 00 3c 00 00 00 05 11 00 00 00 01 00 01 61 00 00",
            DecodeError::PropertyNotAllowed,
        );
        // Receive Maximum twice: a Protocol Error (5.0 §3.1.2.11.3).
        let error = DecodeError::DuplicateProperty;
        assert_malformed_v5(
            "10 13 00 04 4d 51 54 54 05 02 00 3c 06 21 00 01 21 00 02 00 00",
            error,
        );
        assert_eq!(error.reason_code(), crate::v5::ReasonCode::PROTOCOL_ERROR);
    }

    #[test]
    fn authentication_data_needs_a_method() {
        assert_malformed_v5(
            "10 11 00 04 4d 51 54 54 05 02 00 3c 04 16 00 01 78 00 00",
            DecodeError::AuthenticationDataWithoutMethod,
        );
        let properties = [Property::AuthenticationData(b"x")];
        let connect = Packet::Connect(Connect {
            properties: Properties::from_slice(&properties),
            ..Connect::default()
        });
        assert_eq!(
            connect.encode(&mut alloc::vec::Vec::new()),
            Err(EncodeError::AuthenticationDataWithoutMethod)
        );
    }

    #[test]
    fn client_id_rules_mqtt5_3_1_3_5_and_6() {
        let rule = |client_id| {
            Connect {
                client_id,
                ..Connect::default()
            }
            .client_id_rule()
        };
        assert_eq!(rule(""), ClientIdRule::MayAssign);
        assert_eq!(rule("abc123"), ClientIdRule::MustAccept);
        assert_eq!(rule("a-b"), ClientIdRule::MayAccept);
    }
}

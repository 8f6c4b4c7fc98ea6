//! CONNECT: the first packet a client sends, opening a session (3.1.1 §3.1, 3.1 §3.1).
//!
//! ```text
//! byte 1      0x10                       type 1, flags 0000
//! byte 2..    Remaining Length
//! variable    protocol name              00 04 'MQTT'  (3.1: 00 06 'MQIsdp')
//! header      protocol level             04            (3.1: 03); 0x84 / 0x83 from a bridge
//!             connect flags              user | pass | will retain | will QoS (2) | will | clean | reserved
//!             keep alive                 two bytes, seconds
//! payload     client identifier          string
//!             will topic, will message   string, binary   if the will flag is set
//!             user name                  string           if the user name flag is set
//!             password                   binary           if the password flag is set
//! ```
//!
//! The packet names its own version, so it is decoded the same way whatever level the decoder is set
//! to. Whether a server accepts the client identifier is a server decision answered with a CONNACK,
//! not a decoding error; [`Connect::client_id_rule`] says what the specification allows.
//!
//! One extension outside the specifications, which mosquitto and other brokers share: a broker that
//! bridges to another sets the top bit of the protocol level (0x84, or 0x83 at 3.1; mosquitto's
//! `try_private`) so that the other broker treats the connection as a bridge and does not send it
//! back what it published. [`Connect::bridge`] carries that bit; a broker that does not know it
//! answers CONNACK 1 [MQTT-3.1.2-2], and the bridge then connects again without it.

use crate::wire::{Reader, Sink};
use crate::{DecodeError, EncodeError, ProtocolLevel, QoS, TopicName};

/// A CONNECT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// The protocol version the client speaks, from the protocol name and level.
    pub level: ProtocolLevel,
    /// Start a new session, discarding any stored one (3.1.1 §3.1.2.4).
    pub clean_session: bool,
    /// The longest silence, in seconds, before the server may drop the client; 0 turns it off
    /// (3.1.1 §3.1.2.10).
    pub keep_alive: u16,
    /// Names the session (3.1.1 §3.1.3.1). May be empty at level 3.1.1.
    pub client_id: &'a str,
    /// The message to publish if the connection ends without DISCONNECT.
    pub will: Option<Will<'a>>,
    /// The user name, if the client sends one.
    pub user_name: Option<&'a str>,
    /// The password: binary data in 3.1.1 ([V31-DIFF-12]). Only sent with a user name [MQTT-3.1.2-22].
    pub password: Option<&'a [u8]>,
    /// Whether the top bit of the protocol level was set: a broker bridging to this one (see the
    /// module documentation). Not part of either specification.
    pub bridge: bool,
}

/// The bit of the protocol level byte that marks a bridge (mosquitto's `try_private`).
const LEVEL_BRIDGE_BIT: u8 = 0x80;

/// The Will: published by the server for the client when the connection ends abnormally
/// [MQTT-3.1.2-8].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Will<'a> {
    /// Where the will is published: a topic name, without wildcards [MQTT-3.1.3-10].
    pub topic: TopicName<'a>,
    /// The will's payload: binary data in 3.1.1, treated as bytes at 3.1 too ([V31-DIFF-14]).
    pub payload: &'a [u8],
    /// The QoS the will is published with [MQTT-3.1.2-14].
    pub qos: QoS,
    /// Whether the will is published as a retained message [MQTT-3.1.2-16] [MQTT-3.1.2-17].
    pub retain: bool,
}

/// What the specification lets a server do with a CONNECT's client identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientIdRule {
    /// 1 to 23 bytes of `0-9a-zA-Z` at 3.1.1 [MQTT-3.1.3-5], or 1 to 23 characters at 3.1
    /// ([V31-DIFF-5]): the server must accept it.
    MustAccept,
    /// Longer, or other characters, at 3.1.1: the server may accept it or answer CONNACK 0x02
    /// [MQTT-3.1.3-5] [MQTT-3.1.3-9].
    MayAccept,
    /// Empty, with a clean session, at 3.1.1: the server may assign an identifier of its own choosing
    /// [MQTT-3.1.3-6], or reject it with CONNACK 0x02.
    MayAssign,
    /// Empty with a persistent session at 3.1.1 [MQTT-3.1.3-8], or empty or over 23 characters at 3.1
    /// ([V31-DIFF-5], [V31-DIFF-6]): the server must answer CONNACK 0x02 and close.
    MustReject,
}

// The connect flags byte; 5.0 keeps the same bits, bit 1 renamed Clean Start (`v5/connect.rs`).
pub(crate) const FLAG_RESERVED: u8 = 0b0000_0001;
pub(crate) const FLAG_CLEAN_SESSION: u8 = 0b0000_0010;
pub(crate) const FLAG_WILL: u8 = 0b0000_0100;
pub(crate) const WILL_QOS_SHIFT: u8 = 3;
pub(crate) const FLAG_WILL_RETAIN: u8 = 0b0010_0000;
pub(crate) const FLAG_PASSWORD: u8 = 0b0100_0000;
pub(crate) const FLAG_USER_NAME: u8 = 0b1000_0000;

/// The connect flags byte for what a CONNECT carries, at every level: bit 1 (Clean Session, 5.0's
/// Clean Start), the Will flag with its QoS and retain bits, and the user name and password flags.
pub(crate) fn connect_flags(
    clean: bool,
    will: Option<(QoS, bool)>,
    user_name: bool,
    password: bool,
) -> u8 {
    let mut flags = 0;
    if clean {
        flags |= FLAG_CLEAN_SESSION;
    }
    if let Some((qos, retain)) = will {
        flags |= FLAG_WILL | qos.bits() << WILL_QOS_SHIFT;
        if retain {
            flags |= FLAG_WILL_RETAIN;
        }
    }
    if user_name {
        flags |= FLAG_USER_NAME;
    }
    if password {
        flags |= FLAG_PASSWORD;
    }
    flags
}

impl<'a> Connect<'a> {
    /// What the specification lets a server do with this packet's client identifier.
    pub fn client_id_rule(&self) -> ClientIdRule {
        let id = self.client_id;
        match self.level {
            ProtocolLevel::Mqtt311 if id.is_empty() && self.clean_session => {
                ClientIdRule::MayAssign
            }
            ProtocolLevel::Mqtt311 if id.is_empty() => ClientIdRule::MustReject,
            ProtocolLevel::Mqtt311
                if id.len() <= 23 && id.bytes().all(|byte| byte.is_ascii_alphanumeric()) =>
            {
                ClientIdRule::MustAccept
            }
            ProtocolLevel::Mqtt311 => ClientIdRule::MayAccept,
            // 3.1 counts characters, where 3.1.1 counts bytes ([V31-DIFF-5]).
            ProtocolLevel::Mqtt31 if (1..=23).contains(&id.chars().count()) => {
                ClientIdRule::MustAccept
            }
            ProtocolLevel::Mqtt31 => ClientIdRule::MustReject,
        }
    }

    #[inline]
    pub(crate) fn decode(flags: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let name = reader.binary()?;
        let level_byte = reader.u8()?;
        let bridge = level_byte & LEVEL_BRIDGE_BIT != 0;
        let level = match (name, level_byte & !LEVEL_BRIDGE_BIT) {
            (b"MQTT", 4) => ProtocolLevel::Mqtt311,
            (b"MQIsdp", 3) => ProtocolLevel::Mqtt31,
            // A known name with an unknown level: CONNACK 0x01, then close [MQTT-3.1.2-2].
            (b"MQTT" | b"MQIsdp", _) => return Err(DecodeError::UnsupportedProtocolLevel),
            // Not an MQTT connection at all [MQTT-3.1.2-1].
            _ => return Err(DecodeError::InvalidProtocolName),
        };
        // Now that the version is known, the fixed-header flags can be judged [MQTT-2.2.2-1].
        if level.is_strict() && flags != 0 {
            return Err(DecodeError::InvalidHeaderFlags);
        }
        let connect_flags = reader.u8()?;
        let strict = level.is_strict();
        if strict && connect_flags & FLAG_RESERVED != 0 {
            return Err(DecodeError::ReservedConnectFlag); // [MQTT-3.1.2-3]
        }
        let has_will = connect_flags & FLAG_WILL != 0;
        let will_qos_bits = (connect_flags >> WILL_QOS_SHIFT) & 0b11;
        let will_retain = connect_flags & FLAG_WILL_RETAIN != 0;
        if strict && !has_will && (will_qos_bits != 0 || will_retain) {
            // [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]
            return Err(DecodeError::WillFlagsWithoutWill);
        }
        let has_user_name = connect_flags & FLAG_USER_NAME != 0;
        let has_password = connect_flags & FLAG_PASSWORD != 0;
        if has_password && !has_user_name {
            return Err(DecodeError::PasswordWithoutUserName); // [MQTT-3.1.2-22]
        }
        let keep_alive = reader.u16()?;

        // The payload, in its fixed order [MQTT-3.1.3-1]; the client identifier always first
        // [MQTT-3.1.3-3] and always a valid string [MQTT-3.1.3-4].
        let client_id = reader.string()?;
        let will = if has_will {
            let topic = TopicName::new(reader.topic_string()?)?; // [MQTT-3.1.3-10]
            let payload = reader.binary()?;
            let qos = QoS::from_bits(will_qos_bits)?; // [MQTT-3.1.2-14]
            Some(Will {
                topic,
                payload,
                qos,
                retain: will_retain,
            })
        } else {
            None
        };
        // At 3.1 a flag whose field is missing is accepted as if the flag were clear: the Remaining
        // Length takes precedence ([V31-DIFF-10]). At 3.1.1 the flag and the field must agree
        // [MQTT-3.1.2-19] [MQTT-3.1.2-21]; a field without its flag is left over [MQTT-3.1.2-18]
        // [MQTT-3.1.2-20].
        let lenient_end = !strict && reader.is_empty();
        let user_name = if has_user_name && !lenient_end {
            Some(reader.string()?) // [MQTT-3.1.3-11]
        } else {
            None
        };
        let lenient_end = !strict && reader.is_empty();
        let password = if has_password && !lenient_end {
            Some(reader.binary()?)
        } else {
            None
        };
        reader.finish()?;
        Ok(Self {
            level,
            clean_session: connect_flags & FLAG_CLEAN_SESSION != 0,
            keep_alive,
            client_id,
            will,
            user_name,
            password,
            bridge,
        })
    }

    #[inline]
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if self.password.is_some() && self.user_name.is_none() {
            return Err(EncodeError::PasswordWithoutUserName);
        }
        // Every field has a two-byte length (3.1.1 §1.5.3); the will topic is a `TopicName`, which
        // cannot be longer.
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

    #[inline]
    pub(crate) fn body_len(&self) -> usize {
        let variable_header = 2 + self.level.protocol_name().len() + 1 + 1 + 2;
        let will = self.will.map_or(0, |will| {
            2 + will.topic.as_str().len() + 2 + will.payload.len()
        });
        let user_name = self.user_name.map_or(0, |name| 2 + name.len());
        let password = self.password.map_or(0, |password| 2 + password.len());
        variable_header + 2 + self.client_id.len() + will + user_name + password
    }

    #[inline]
    pub(crate) fn write_body(&self, sink: &mut impl Sink) {
        sink.put_prefixed(self.level.protocol_name().as_bytes());
        let bridge = if self.bridge { LEVEL_BRIDGE_BIT } else { 0 };
        sink.put_u8(self.level.level_byte() | bridge);
        sink.put_u8(connect_flags(
            self.clean_session,
            self.will.as_ref().map(|will| (will.qos, will.retain)),
            self.user_name.is_some(),
            self.password.is_some(),
        ));
        sink.put_u16(self.keep_alive);
        sink.put_prefixed(self.client_id.as_bytes());
        if let Some(will) = &self.will {
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
    use crate::Packet;
    use crate::testing::{assert_decodes_to, assert_malformed, assert_vector};
    use ProtocolLevel::{Mqtt31, Mqtt311};

    fn minimal(level: ProtocolLevel, client_id: &str) -> Connect<'_> {
        Connect {
            level,
            clean_session: true,
            keep_alive: 60,
            client_id,
            will: None,
            user_name: None,
            password: None,
            bridge: false,
        }
    }

    #[test]
    fn minimal_3_1_1() {
        assert_vector(
            Mqtt311,
            "10 0f                 CONNECT, remaining length 15
             00 04 4d 51 54 54     protocol name 'MQTT'
             04                    protocol level 4
             02                    flags: clean session
             00 3c                 keep alive 60 s
             00 03 63 69 64        client id 'cid'",
            Packet::Connect(minimal(Mqtt311, "cid")),
        );
    }

    #[test]
    fn minimal_3_1() {
        assert_vector(
            Mqtt31,
            "10 11                    CONNECT, remaining length 17 (two more than 3.1.1: [V31-DIFF-3])
             00 06 4d 51 49 73 64 70  protocol name 'MQIsdp' [V31-DIFF-1]
             03                       protocol level 3 [V31-DIFF-2]
             02                       flags: clean session
             00 3c                    keep alive 60 s
             00 03 63 69 64           client id 'cid'",
            Packet::Connect(minimal(Mqtt31, "cid")),
        );
    }

    #[test]
    fn everything_set() {
        assert_vector(
            Mqtt311,
            "10 23                 CONNECT, remaining length 35
             00 04 4d 51 54 54     'MQTT'
             04                    level 4
             f4                    flags: user name, password, will retain, will QoS 2, will
             00 0a                 keep alive 10 s
             00 01 63              client id 'c'
             00 03 61 2f 62        will topic 'a/b'
             00 03 62 79 65        will message 'bye'
             00 04 75 73 65 72     user name 'user'
             00 04 70 61 73 73     password 'pass'",
            Packet::Connect(Connect {
                level: Mqtt311,
                clean_session: false,
                keep_alive: 10,
                client_id: "c",
                will: Some(Will {
                    topic: TopicName::new("a/b").expect("valid"),
                    payload: b"bye",
                    qos: QoS::ExactlyOnce,
                    retain: true,
                }),
                user_name: Some("user"),
                password: Some(b"pass"),
                bridge: false,
            }),
        );
    }

    #[test]
    fn a_bridge_sets_the_top_bit_of_the_level() {
        assert_vector(
            Mqtt311,
            "10 0f                 CONNECT, remaining length 15
             00 04 4d 51 54 54     'MQTT'
             84                    level 4 with the bridge bit (mosquitto's try_private)
             02                    flags: clean session
             00 3c                 keep alive 60 s
             00 03 63 69 64        client id 'cid'",
            Packet::Connect(Connect {
                bridge: true,
                ..minimal(Mqtt311, "cid")
            }),
        );
        assert_vector(
            Mqtt31,
            "10 11 00 06 4d 51 49 73 64 70   'MQIsdp'
             83                             level 3 with the bridge bit
             02 00 3c 00 03 63 69 64        clean session, keep alive 60 s, 'cid'",
            Packet::Connect(Connect {
                bridge: true,
                ..minimal(Mqtt31, "cid")
            }),
        );
        // The bit does not make an unknown level known [MQTT-3.1.2-2].
        assert_malformed(
            Mqtt311,
            "10 0f 00 04 4d 51 54 54 85 02 00 3c 00 03 63 69 64   'MQTT' level 0x85",
            DecodeError::UnsupportedProtocolLevel,
        );
    }

    #[test]
    fn unknown_protocol_name_mqtt_3_1_2_1() {
        assert_malformed(
            Mqtt311,
            "10 0f 00 04 4d 51 54 58 04 02 00 3c 00 03 63 69 64   name 'MQTX'",
            DecodeError::InvalidProtocolName,
        );
    }

    #[test]
    fn unsupported_level_is_answered_with_connack_1_mqtt_3_1_2_2() {
        let error = DecodeError::UnsupportedProtocolLevel;
        assert_malformed(
            Mqtt311,
            "10 0f 00 04 4d 51 54 54 05 02 00 3c 00 03 63 69 64   'MQTT' level 5",
            error,
        );
        assert_malformed(
            Mqtt311,
            "10 11 00 06 4d 51 49 73 64 70 04 02 00 3c 00 03 63 69 64   'MQIsdp' level 4",
            error,
        );
        assert_malformed(
            Mqtt311,
            "10 0f 00 04 4d 51 54 54 03 02 00 3c 00 03 63 69 64   'MQTT' level 3",
            error,
        );
        assert_eq!(
            error.connack_code(),
            Some(crate::ConnectReturnCode::UnacceptableProtocolVersion)
        );
    }

    #[test]
    fn reserved_flag_refused_at_3_1_1_mqtt_3_1_2_3() {
        assert_malformed(
            Mqtt311,
            "10 0f 00 04 4d 51 54 54 04 03 00 3c 00 03 63 69 64   flags 03: reserved bit set",
            DecodeError::ReservedConnectFlag,
        );
        // 3.1 calls the bit unused ([V31-DIFF-4]).
        assert_decodes_to(
            Mqtt31,
            "10 11 00 06 4d 51 49 73 64 70 03 03 00 3c 00 03 63 69 64",
            Packet::Connect(minimal(Mqtt31, "cid")),
        );
    }

    #[test]
    fn fixed_header_flags_refused_at_3_1_1_mqtt_2_2_2_2() {
        assert_malformed(
            Mqtt311,
            "11 0f 00 04 4d 51 54 54 04 02 00 3c 00 03 63 69 64   first byte 0x11",
            DecodeError::InvalidHeaderFlags,
        );
    }

    #[test]
    fn will_qos_and_retain_need_the_will_flag_mqtt_3_1_2_11_13_15() {
        for flags in ["0a", "12", "22"] {
            let hex = alloc::format!("10 0f 00 04 4d 51 54 54 04 {flags} 00 3c 00 03 63 69 64");
            assert_malformed(Mqtt311, &hex, DecodeError::WillFlagsWithoutWill);
        }
        // Disregarded at 3.1 ([V31-DIFF-13]).
        assert_decodes_to(
            Mqtt31,
            "10 11 00 06 4d 51 49 73 64 70 03 3a 00 3c 00 03 63 69 64",
            Packet::Connect(minimal(Mqtt31, "cid")),
        );
    }

    #[test]
    fn will_qos_3_refused_mqtt_3_1_2_14() {
        assert_malformed(
            Mqtt311,
            "10 13 00 04 4d 51 54 54 04 1e 00 3c 00 01 63 00 01 74 00 01 6d   will QoS 3",
            DecodeError::InvalidQoS,
        );
    }

    #[test]
    fn will_topic_must_be_a_topic_name_mqtt_3_1_3_10() {
        assert_malformed(
            Mqtt311,
            "10 13 00 04 4d 51 54 54 04 06 00 3c 00 01 63 00 01 23 00 01 6d   will topic '#'",
            DecodeError::WildcardInTopicName,
        );
    }

    #[test]
    fn password_without_user_name_mqtt_3_1_2_22() {
        assert_malformed(
            Mqtt311,
            "10 11 00 04 4d 51 54 54 04 42 00 3c 00 01 63 00 02 70 77   password flag only",
            DecodeError::PasswordWithoutUserName,
        );
        // 3.1 calls it "not valid" too ([V31-DIFF-11]).
        assert_malformed(
            Mqtt31,
            "10 13 00 06 4d 51 49 73 64 70 03 42 00 3c 00 01 63 00 02 70 77",
            DecodeError::PasswordWithoutUserName,
        );
        let mut connect = minimal(Mqtt311, "c");
        connect.password = Some(b"pw");
        assert_eq!(
            Packet::Connect(connect).encode_to_slice(Mqtt311, &mut [0; 64]),
            Err(EncodeError::PasswordWithoutUserName)
        );
    }

    #[test]
    fn user_name_flag_and_field_must_agree_mqtt_3_1_2_18_19() {
        // Flag set, field missing [MQTT-3.1.2-19].
        assert_malformed(
            Mqtt311,
            "10 0d 00 04 4d 51 54 54 04 82 00 3c 00 01 63",
            DecodeError::UnexpectedEndOfPacket,
        );
        // Field present, flag clear [MQTT-3.1.2-18].
        assert_malformed(
            Mqtt311,
            "10 11 00 04 4d 51 54 54 04 02 00 3c 00 01 63 00 02 75 73",
            DecodeError::TrailingBytes,
        );
    }

    #[test]
    fn password_flag_and_field_must_agree_mqtt_3_1_2_20_21() {
        // Flag set, field missing [MQTT-3.1.2-21].
        assert_malformed(
            Mqtt311,
            "10 11 00 04 4d 51 54 54 04 c2 00 3c 00 01 63 00 02 75 73",
            DecodeError::UnexpectedEndOfPacket,
        );
        // Field present, flag clear [MQTT-3.1.2-20].
        assert_malformed(
            Mqtt311,
            "10 15 00 04 4d 51 54 54 04 82 00 3c 00 01 63 00 02 75 73 00 02 70 77",
            DecodeError::TrailingBytes,
        );
    }

    #[test]
    fn missing_user_name_and_password_accepted_at_3_1() {
        // [V31-DIFF-10]: both flags set, neither field present, and the connection goes on.
        assert_decodes_to(
            Mqtt31,
            "10 11 00 06 4d 51 49 73 64 70 03 c2 00 3c 00 03 63 69 64",
            Packet::Connect(minimal(Mqtt31, "cid")),
        );
    }

    #[test]
    fn client_id_must_be_a_valid_string_mqtt_3_1_3_4() {
        assert_malformed(
            Mqtt311,
            "10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 ff   client id 0xFF",
            DecodeError::InvalidUtf8,
        );
        assert_malformed(
            Mqtt311,
            "10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 00   client id U+0000",
            DecodeError::NullCharacter,
        );
    }

    #[test]
    fn modified_utf8_of_java_refused_at_3_1_too() {
        // C0 80 is how Java's writeUTF() writes U+0000 ([V31-DIFF-45]); it is not UTF-8.
        assert_malformed(
            Mqtt31,
            "10 10 00 06 4d 51 49 73 64 70 03 02 00 3c 00 02 c0 80   client id C0 80",
            DecodeError::InvalidUtf8,
        );
    }

    #[test]
    fn client_id_rules_by_level() {
        let rule = |level, clean_session, id| {
            let mut connect = minimal(level, id);
            connect.clean_session = clean_session;
            connect.client_id_rule()
        };
        // [MQTT-3.1.3-5]
        assert_eq!(
            rule(Mqtt311, true, "abcXYZ0123456789abcdefg"),
            ClientIdRule::MustAccept
        );
        assert_eq!(
            rule(Mqtt311, true, "abcXYZ0123456789abcdefgh"),
            ClientIdRule::MayAccept
        );
        assert_eq!(rule(Mqtt311, true, "with-dash"), ClientIdRule::MayAccept);
        // [MQTT-3.1.3-6] [MQTT-3.1.3-8]
        assert_eq!(rule(Mqtt311, true, ""), ClientIdRule::MayAssign);
        assert_eq!(rule(Mqtt311, false, ""), ClientIdRule::MustReject);
        // [V31-DIFF-5] [V31-DIFF-6]: 1 to 23 characters, any characters.
        assert_eq!(
            rule(Mqtt31, true, "with-dash/and:colon"),
            ClientIdRule::MustAccept
        );
        assert_eq!(
            rule(Mqtt31, true, "ééééééééééééééééééééééé"),
            ClientIdRule::MustAccept
        );
        assert_eq!(
            rule(Mqtt31, true, "abcdefghijklmnopqrstuvwx"),
            ClientIdRule::MustReject
        );
        assert_eq!(rule(Mqtt31, true, ""), ClientIdRule::MustReject);
    }
}

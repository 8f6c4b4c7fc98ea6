//! PUBLISH (§5.4.12): application data for a topic, in either direction.
//!
//! ```text
//! Length | MsgType 0x0C | Flags | TopicId (2) | MsgId (2) | Data
//! ```
//!
//! Flags: DUP, QoS (including -1), Retain and TopicIdType are used [SN-5.4.12-1]; Will and
//! CleanSession are ignored when read and written as 0. TopicIdType says whether the two TopicId
//! octets are a normal id, a pre-defined id or a short name [SN-5.4.12-2]. The codec enforces the two
//! field rules the format states: a QoS 0 or -1 PUBLISH has MsgId 0x0000 [SN-5.4.12-3], and a QoS -1
//! PUBLISH names its topic by pre-defined id or short name [SN-6.8-2]. Whether a topic id is known is
//! the receiver's question, answered with PUBACK.

use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, Flags, MsgId, PublishTopic, QoS};

/// PUBLISH [SN-5.4.12-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Publish<'a> {
    /// Retransmission [SN-5.3.4-1].
    pub dup: bool,
    /// The QoS level, -1 included [SN-5.3.4-2].
    pub qos: QoS,
    /// Retain, as in MQTT [SN-5.3.4-3].
    pub retain: bool,
    /// The topic, of the kind TopicIdType names [SN-5.4.12-2].
    pub topic: PublishTopic,
    /// For QoS 1 and 2; [`MsgId::NONE`] otherwise [SN-5.4.12-3].
    pub msg_id: MsgId,
    /// The application data.
    pub data: &'a [u8],
}

impl<'a> Publish<'a> {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'a>) -> Result<Self, DecodeError> {
        let flags = Flags::from_u8(r.u8()?);
        let topic = PublishTopic::from_wire(flags.topic_id_type()?, r.array()?)?;
        let publish = Self {
            dup: flags.dup(),
            qos: flags.qos(),
            retain: flags.retain(),
            topic,
            msg_id: MsgId(r.u16()?),
            data: r.rest(),
        };
        publish.check().map_err(|error| match error {
            EncodeError::QoSMinusOneWithNormalTopic => DecodeError::QoSMinusOneWithNormalTopic,
            _ => DecodeError::MsgIdNotZero,
        })?;
        Ok(publish)
    }

    #[inline]
    pub(crate) fn validate(&self) -> Result<(), EncodeError> {
        self.check()
    }

    /// The two rules shared by decoding and encoding.
    const fn check(&self) -> Result<(), EncodeError> {
        // [SN-6.8-2] QoS -1 only with a pre-defined id or a short name.
        if matches!(self.qos, QoS::MinusOne) && matches!(self.topic, PublishTopic::Normal(_)) {
            return Err(EncodeError::QoSMinusOneWithNormalTopic);
        }
        // [SN-5.4.12-3] MsgId is coded 0x0000 when there is no acknowledgement to match.
        if !self.qos.needs_msg_id() && self.msg_id.0 != 0 {
            return Err(EncodeError::MsgIdNotZero);
        }
        Ok(())
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        5 + self.data.len()
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let flags = Flags::default()
            .with_dup(self.dup)
            .with_qos(self.qos)
            .with_retain(self.retain)
            .with_topic_id_type(self.topic.id_type());
        w.u8(flags.to_u8());
        w.bytes(&self.topic.to_array());
        w.u16(self.msg_id.0);
        w.bytes(self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, check_decode, hex, refuse};
    use crate::{Message, MsgType, ShortTopicName, TopicId};

    #[test]
    fn publish_with_a_normal_topic_id_vector() {
        // [SN-5.4.12-1] [SN-5.4.12-2] Length 11 | PUBLISH | Flags QoS 1, normal id |
        // TopicId 0x0001 | MsgId 0x0002 | "21.5".
        check(
            "0b | 0c | 20 | 00 01 | 00 02 | 32 31 2e 35",
            &Message::Publish(Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: PublishTopic::Normal(TopicId(1)),
                msg_id: MsgId(2),
                data: b"21.5",
            }),
        );
    }

    #[test]
    fn publish_with_a_short_topic_name_vector() {
        // [SN-5.4.12-2] [SN-6.7-6] Length 9 | PUBLISH | Flags DUP + QoS 2 + Retain, short name |
        // "tt" | MsgId 0x1234 | "on".
        check(
            "09 | 0c | d2 | 74 74 | 12 34 | 6f 6e",
            &Message::Publish(Publish {
                dup: true,
                qos: QoS::ExactlyOnce,
                retain: true,
                topic: PublishTopic::Short(ShortTopicName::new("tt").expect("valid name")),
                msg_id: MsgId(0x1234),
                data: b"on",
            }),
        );
    }

    #[test]
    fn publish_qos_minus_one_vector() {
        // [SN-6.8-2] [SN-5.4.12-3] Length 8 | PUBLISH | Flags QoS -1, pre-defined id | TopicId 5 |
        // MsgId 0 | "x".
        check(
            "08 | 0c | 61 | 00 05 | 00 00 | 78",
            &Message::Publish(Publish {
                dup: false,
                qos: QoS::MinusOne,
                retain: false,
                topic: PublishTopic::Predefined(TopicId(5)),
                msg_id: MsgId::NONE,
                data: b"x",
            }),
        );
    }

    #[test]
    fn publish_ignores_will_and_clean_session() {
        // [SN-5.4.12-1] Will and CleanSession are not used in PUBLISH. Paho's Python client sets
        // CleanSession in every Flags octet; it must still decode.
        check_decode(
            &hex("07 0c 0c 00 01 00 00"),
            &Message::Publish(Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: false,
                topic: PublishTopic::Normal(TopicId(1)),
                msg_id: MsgId::NONE,
                data: b"",
            }),
        );
    }

    #[test]
    fn publish_refuses_what_its_format_forbids() {
        // [SN-5.3.4-6]
        refuse("07 0c 03 00 01 00 00", DecodeError::ReservedTopicIdType);
        // [SN-6.8-2]
        refuse(
            "07 0c 60 00 01 00 00",
            DecodeError::QoSMinusOneWithNormalTopic,
        );
        // [SN-5.4.12-3]
        refuse("07 0c 00 00 01 00 07", DecodeError::MsgIdNotZero);
        refuse("07 0c 62 61 62 00 07", DecodeError::MsgIdNotZero);
        // [SN-6.7-7]
        refuse(
            "07 0c 02 61 23 00 00",
            DecodeError::WildcardInShortTopicName,
        );
        // [SN-5.4.12-1]
        refuse(
            "06 0c 00 00 01 00",
            DecodeError::BodyLength(MsgType::Publish),
        );
    }

    #[test]
    fn publish_encoding_checks_the_same_rules() {
        // [SN-6.8-2] [SN-5.4.12-3]
        let mut publish = Publish {
            dup: false,
            qos: QoS::MinusOne,
            retain: false,
            topic: PublishTopic::Normal(TopicId(1)),
            msg_id: MsgId::NONE,
            data: b"",
        };
        let mut out = [0; 16];
        assert_eq!(
            Message::Publish(publish).encode_to_slice(&mut out),
            Err(EncodeError::QoSMinusOneWithNormalTopic)
        );
        publish.qos = QoS::AtMostOnce;
        publish.msg_id = MsgId(3);
        assert_eq!(
            Message::Publish(publish).encode_to_slice(&mut out),
            Err(EncodeError::MsgIdNotZero)
        );
    }
}

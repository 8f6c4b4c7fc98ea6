//! SUBSCRIBE (§5.4.15): a client subscribing to a topic filter, a pre-defined id or a short name.
//!
//! ```text
//! Length | MsgType 0x12 | Flags | MsgId (2) | TopicName (n octets) or TopicId (2 octets)
//! ```
//!
//! Flags: DUP, QoS (the requested level, never -1) and TopicIdType are used [SN-5.4.15-1]; Retain,
//! Will and CleanSession are ignored when read and written as 0. TopicIdType 0b00 means a topic name
//! follows, which may contain wildcards [SN-5.4.15-2]. UNSUBSCRIBE has the same table (Table 19) but
//! uses no flag other than TopicIdType, so it has its own file.

use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, Flags, MsgId, QoS, SubscribeTopic};

/// SUBSCRIBE [SN-5.4.15-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subscribe<'a> {
    /// Retransmission [SN-5.3.4-1].
    pub dup: bool,
    /// The requested QoS: 0, 1 or 2 [SN-5.3.4-2].
    pub qos: QoS,
    /// Echoed by the SUBACK [SN-5.4.15-3].
    pub msg_id: MsgId,
    /// What is subscribed to [SN-5.4.15-2].
    pub topic: SubscribeTopic<'a>,
}

impl<'a> Subscribe<'a> {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'a>) -> Result<Self, DecodeError> {
        let flags = Flags::from_u8(r.u8()?);
        let kind = flags.topic_id_type()?;
        let msg_id = MsgId(r.u16()?);
        let wrong_size = r.wrong_size();
        Ok(Self {
            dup: flags.dup(),
            // [SN-5.3.4-2] QoS -1 is for PUBLISH only.
            qos: flags.qos().not_minus_one()?,
            msg_id,
            topic: SubscribeTopic::from_wire(kind, r.rest(), wrong_size)?,
        })
    }

    #[inline]
    pub(crate) const fn validate(&self) -> Result<(), EncodeError> {
        match self.qos {
            QoS::MinusOne => Err(EncodeError::QoSMinusOneNotAllowed),
            _ => Ok(()),
        }
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        3 + self.topic.wire_len()
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let flags = Flags::default()
            .with_dup(self.dup)
            .with_qos(self.qos)
            .with_topic_id_type(self.topic.id_type());
        w.u8(flags.to_u8());
        w.u16(self.msg_id.0);
        self.topic.write(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, check_decode, hex, refuse};
    use crate::{Message, MsgType, ShortTopicName, TopicFilter, TopicId};

    #[test]
    fn subscribe_to_a_topic_filter_vector() {
        // [SN-5.4.15-1] [SN-5.4.15-2] Length 14 | SUBSCRIBE | Flags QoS 1, topic name | MsgId 3 |
        // "sensors/#".
        check(
            "0e | 12 | 20 | 00 03 | 73 65 6e 73 6f 72 73 2f 23",
            &Message::Subscribe(Subscribe {
                dup: false,
                qos: QoS::AtLeastOnce,
                msg_id: MsgId(3),
                topic: SubscribeTopic::Name(TopicFilter::new("sensors/#").expect("valid filter")),
            }),
        );
    }

    #[test]
    fn subscribe_to_a_predefined_id_and_a_short_name_vectors() {
        // [SN-5.4.15-2] Length 7 | SUBSCRIBE | Flags DUP + QoS 2, pre-defined | MsgId 4 | TopicId 9.
        check(
            "07 | 12 | c1 | 00 04 | 00 09",
            &Message::Subscribe(Subscribe {
                dup: true,
                qos: QoS::ExactlyOnce,
                msg_id: MsgId(4),
                topic: SubscribeTopic::Predefined(TopicId(9)),
            }),
        );
        // [SN-5.4.15-2] [SN-6.7-5] Length 7 | SUBSCRIBE | Flags QoS 0, short name | MsgId 5 | "ab".
        check(
            "07 | 12 | 02 | 00 05 | 61 62",
            &Message::Subscribe(Subscribe {
                dup: false,
                qos: QoS::AtMostOnce,
                msg_id: MsgId(5),
                topic: SubscribeTopic::Short(ShortTopicName::new("ab").expect("valid name")),
            }),
        );
    }

    #[test]
    fn subscribe_ignores_retain_will_and_clean_session() {
        // [SN-5.4.15-1]
        check_decode(
            &hex("07 12 1d 00 05 61 62"),
            &Message::Subscribe(Subscribe {
                dup: false,
                qos: QoS::AtMostOnce,
                msg_id: MsgId(5),
                topic: SubscribeTopic::Predefined(TopicId(0x6162)),
            }),
        );
    }

    #[test]
    fn subscribe_refuses_what_its_format_forbids() {
        // [SN-5.3.4-2]
        refuse("07 12 61 00 05 00 09", DecodeError::QoSMinusOneNotAllowed);
        // [SN-5.3.4-6]
        refuse("07 12 03 00 05 00 09", DecodeError::ReservedTopicIdType);
        // [MQTT-4.7.1-2] [MQTT-4.7.3-1]
        refuse("07 12 00 00 05 23 61", DecodeError::InvalidTopicFilter);
        refuse("05 12 00 00 05", DecodeError::EmptyTopic);
        // [SN-5.4.15-2] A pre-defined id or short name is exactly two octets.
        refuse(
            "08 12 01 00 05 00 09 00",
            DecodeError::BodyLength(MsgType::Subscribe),
        );
        refuse(
            "06 12 02 00 05 61",
            DecodeError::BodyLength(MsgType::Subscribe),
        );
        // [SN-6.7-7]
        refuse(
            "07 12 02 00 05 61 2b",
            DecodeError::WildcardInShortTopicName,
        );
    }
}

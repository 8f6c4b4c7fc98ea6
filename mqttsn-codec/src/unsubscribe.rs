//! UNSUBSCRIBE (§5.4.17): a client ending a subscription.
//!
//! ```text
//! Length | MsgType 0x14 | Flags | MsgId (2) | TopicName (n octets) or TopicId (2 octets)
//! ```
//!
//! The layout of SUBSCRIBE (Table 19), but only TopicIdType is used among the flags [SN-5.4.17-1];
//! the others are ignored when read and written as 0.

use crate::wire::{Reader, Writer};
use crate::{DecodeError, Flags, MsgId, SubscribeTopic};

/// UNSUBSCRIBE [SN-5.4.17-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Unsubscribe<'a> {
    /// Echoed by the UNSUBACK [SN-5.4.17-2].
    pub msg_id: MsgId,
    /// What is unsubscribed from [SN-5.4.17-1].
    pub topic: SubscribeTopic<'a>,
}

impl<'a> Unsubscribe<'a> {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'a>) -> Result<Self, DecodeError> {
        let kind = Flags::from_u8(r.u8()?).topic_id_type()?;
        let msg_id = MsgId(r.u16()?);
        let wrong_size = r.wrong_size();
        Ok(Self {
            msg_id,
            topic: SubscribeTopic::from_wire(kind, r.rest(), wrong_size)?,
        })
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        3 + self.topic.wire_len()
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u8(Flags::default()
            .with_topic_id_type(self.topic.id_type())
            .to_u8());
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
    fn unsubscribe_vectors() {
        // [SN-5.4.17-1] Length 8 | UNSUBSCRIBE | Flags topic name | MsgId 6 | "a/+".
        check(
            "08 | 14 | 00 | 00 06 | 61 2f 2b",
            &Message::Unsubscribe(Unsubscribe {
                msg_id: MsgId(6),
                topic: SubscribeTopic::Name(TopicFilter::new("a/+").expect("valid filter")),
            }),
        );
        // [SN-5.4.17-1] Length 7 | UNSUBSCRIBE | Flags pre-defined | MsgId 6 | TopicId 9.
        check(
            "07 | 14 | 01 | 00 06 | 00 09",
            &Message::Unsubscribe(Unsubscribe {
                msg_id: MsgId(6),
                topic: SubscribeTopic::Predefined(TopicId(9)),
            }),
        );
        // [SN-5.4.17-1] Length 7 | UNSUBSCRIBE | Flags short name | MsgId 6 | "ab".
        check(
            "07 | 14 | 02 | 00 06 | 61 62",
            &Message::Unsubscribe(Unsubscribe {
                msg_id: MsgId(6),
                topic: SubscribeTopic::Short(ShortTopicName::new("ab").expect("valid name")),
            }),
        );
    }

    #[test]
    fn unsubscribe_ignores_every_flag_but_topic_id_type() {
        // [SN-5.4.17-1]
        check_decode(
            &hex("07 14 fd 00 06 00 09"),
            &Message::Unsubscribe(Unsubscribe {
                msg_id: MsgId(6),
                topic: SubscribeTopic::Predefined(TopicId(9)),
            }),
        );
    }

    #[test]
    fn unsubscribe_refuses_what_its_format_forbids() {
        // [SN-5.3.4-6] [MQTT-4.7.1-3] [SN-5.4.17-1]
        refuse("07 14 03 00 06 00 09", DecodeError::ReservedTopicIdType);
        refuse("07 14 00 00 06 61 2b", DecodeError::InvalidTopicFilter);
        refuse("04 14 00 00", DecodeError::BodyLength(MsgType::Unsubscribe));
    }
}

//! REGISTER (§5.4.10): asking for, or announcing, the topic id of a topic name.
//!
//! ```text
//! Length | MsgType 0x0A | TopicId (2) | MsgId (2) | TopicName
//! ```
//!
//! A client sends TopicId 0x0000, which the gateway ignores [SN-5.4.10-1]; a gateway sends the id it
//! has assigned [SN-5.4.10-2]. The codec cannot know who sent a datagram, so it carries the TopicId as
//! it is and leaves that rule to the client and the gateway. The topic name is a name: no wildcards.

use crate::wire::{Reader, Writer};
use crate::{DecodeError, MsgId, TopicId, TopicName};

/// REGISTER: a topic name and the id for it [SN-5.4.10-1] [SN-5.4.10-2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Register<'a> {
    /// [`TopicId::UNASSIGNED`] from a client; the assigned id from a gateway.
    pub topic_id: TopicId,
    /// Echoed by the REGACK [SN-5.4.10-3].
    pub msg_id: MsgId,
    /// The topic name being registered [SN-5.3.12-1].
    pub topic_name: TopicName<'a>,
}

impl<'a> Register<'a> {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            topic_id: TopicId(r.u16()?),
            msg_id: MsgId(r.u16()?),
            topic_name: TopicName::from_bytes(r.rest())?,
        })
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        4 + self.topic_name.as_str().len()
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.topic_id.0);
        w.u16(self.msg_id.0);
        w.bytes(self.topic_name.as_str().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, refuse};
    use crate::{Message, MsgType};

    #[test]
    fn register_from_a_client_vector() {
        // [SN-5.4.10-1] Length 15 | REGISTER | TopicId 0x0000 | MsgId 1 | "sensors/t".
        check(
            "0f | 0a | 00 00 | 00 01 | 73 65 6e 73 6f 72 73 2f 74",
            &Message::Register(Register {
                topic_id: TopicId::UNASSIGNED,
                msg_id: MsgId(1),
                topic_name: TopicName::new("sensors/t").expect("valid topic"),
            }),
        );
    }

    #[test]
    fn register_from_a_gateway_vector() {
        // [SN-5.4.10-2] Length 9 | REGISTER | TopicId 0x0102 | MsgId 0xBEEF | "a/b".
        check(
            "09 | 0a | 01 02 | be ef | 61 2f 62",
            &Message::Register(Register {
                topic_id: TopicId(0x0102),
                msg_id: MsgId(0xBEEF),
                topic_name: TopicName::new("a/b").expect("valid topic"),
            }),
        );
    }

    #[test]
    fn register_refuses_wildcards_and_an_empty_name() {
        // [MQTT-4.7.1-1] [MQTT-4.7.3-1] [SN-5.3.12-1] [SN-5.4.10-1]
        refuse("07 0a 00 00 00 01 23", DecodeError::WildcardInTopicName);
        refuse("06 0a 00 00 00 01", DecodeError::EmptyTopic);
        refuse("07 0a 00 00 00 01 ff", DecodeError::InvalidUtf8);
        refuse("05 0a 00 00 00", DecodeError::BodyLength(MsgType::Register));
    }
}

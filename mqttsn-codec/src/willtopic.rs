//! WILLTOPIC (§5.4.7) and WILLTOPICUPD (§5.4.22): a client giving, or changing, its will topic.
//!
//! ```text
//! Length | MsgType 0x07 or 0x1A | Flags | WillTopic
//!   n    |                      |  xx   | xx .. xx
//!   02   |                      |                      (the empty form: delete the will)
//! ```
//!
//! Grouped because the two messages have the same layout and the same empty form; they differ only in
//! when they are sent (during CONNECT's will prompt, or at any time while connected, §6.4). Of the
//! flags only QoS (the will QoS) and Retain (the will retain flag) are used [SN-5.4.7-1]
//! [SN-5.4.22-1]; the others are ignored when read and written as 0. The empty form is exactly two
//! octets, without even the Flags, and deletes both the will topic and the will message [SN-5.4.7-2]
//! [SN-5.4.22-2].

use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, Flags, QoS, TopicName};

/// The variable part of WILLTOPIC and WILLTOPICUPD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WillTopic<'a> {
    /// The empty form: delete the stored will topic and will message [SN-5.4.7-2] [SN-5.4.22-2].
    Delete,
    /// A will topic with its QoS and retain flag [SN-5.4.7-1] [SN-5.4.22-1].
    Set {
        /// The will QoS; -1 is not allowed here [SN-5.3.4-2].
        qos: QoS,
        /// The will retain flag [SN-5.3.4-3].
        retain: bool,
        /// The will topic: a topic name, so without wildcards.
        topic: TopicName<'a>,
    },
}

impl<'a> WillTopic<'a> {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'a>) -> Result<Self, DecodeError> {
        if r.remaining() == 0 {
            return Ok(Self::Delete);
        }
        let flags = Flags::from_u8(r.u8()?);
        Ok(Self::Set {
            // [SN-5.3.4-2] QoS -1 is for PUBLISH only.
            qos: flags.qos().not_minus_one()?,
            retain: flags.retain(),
            topic: TopicName::from_bytes(r.rest())?,
        })
    }

    #[inline]
    pub(crate) fn validate(&self) -> Result<(), EncodeError> {
        match self {
            Self::Set {
                qos: QoS::MinusOne, ..
            } => Err(EncodeError::QoSMinusOneNotAllowed),
            _ => Ok(()),
        }
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        match self {
            Self::Delete => 0,
            Self::Set { topic, .. } => 1 + topic.as_str().len(),
        }
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        if let Self::Set { qos, retain, topic } = *self {
            let flags = Flags::default().with_qos(qos).with_retain(retain);
            w.u8(flags.to_u8());
            w.bytes(topic.as_str().as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use crate::testing::{check, check_decode, hex, refuse};

    fn will(qos: QoS, retain: bool) -> WillTopic<'static> {
        WillTopic::Set {
            qos,
            retain,
            topic: TopicName::new("n/down").expect("valid topic"),
        }
    }

    #[test]
    fn willtopic_vector() {
        // [SN-5.4.7-1] Length 9 | WILLTOPIC | Flags QoS 1 + Retain | "n/down".
        check(
            "09 | 07 | 30 | 6e 2f 64 6f 77 6e",
            &Message::WillTopic(will(QoS::AtLeastOnce, true)),
        );
    }

    #[test]
    fn willtopicupd_vector() {
        // [SN-5.4.22-1] Length 9 | WILLTOPICUPD | Flags QoS 2 | "n/down".
        check(
            "09 | 1a | 40 | 6e 2f 64 6f 77 6e",
            &Message::WillTopicUpd(will(QoS::ExactlyOnce, false)),
        );
    }

    #[test]
    fn the_empty_forms_delete_the_will() {
        // [SN-5.4.7-2] [SN-5.4.22-2] Length 2 | WILLTOPIC or WILLTOPICUPD, no Flags.
        check("02 | 07", &Message::WillTopic(WillTopic::Delete));
        check("02 | 1a", &Message::WillTopicUpd(WillTopic::Delete));
    }

    #[test]
    fn willtopic_ignores_the_flags_it_does_not_use() {
        // [SN-5.4.7-1] DUP, Will, CleanSession and TopicIdType are not used.
        check_decode(
            &hex("09 07 8f 6e 2f 64 6f 77 6e"),
            &Message::WillTopic(will(QoS::AtMostOnce, false)),
        );
    }

    #[test]
    fn willtopic_refuses_qos_minus_one_wildcards_and_an_empty_topic() {
        // [SN-5.3.4-2]
        refuse("04 07 60 61", DecodeError::QoSMinusOneNotAllowed);
        assert_eq!(
            Message::WillTopicUpd(will(QoS::MinusOne, false)).encode_to_slice(&mut [0; 16]),
            Err(EncodeError::QoSMinusOneNotAllowed)
        );
        // [MQTT-4.7.1-1] [MQTT-4.7.3-1]
        refuse("04 07 20 23", DecodeError::WildcardInTopicName);
        refuse("03 1a 20", DecodeError::EmptyTopic);
    }
}

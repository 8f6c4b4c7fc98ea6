//! SUBACK (§5.4.16): the gateway's answer to SUBSCRIBE.
//!
//! ```text
//! Length | MsgType 0x13 | Flags | TopicId (2) | MsgId (2) | ReturnCode
//!   08   |      13      |  xx   |   xx xx     |   xx xx   |    xx
//! ```
//!
//! Of the flags only QoS, the granted level, is used [SN-5.4.16-1]. TopicId is the id the gateway will
//! publish with; it is 0x0000 for a wildcard filter, whose topics are registered one by one later
//! [SN-5.4.16-2] [SN-6.9-3].

use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, Flags, MsgId, QoS, ReturnCode, TopicId};

/// SUBACK [SN-5.4.16-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubAck {
    /// The granted QoS: 0, 1 or 2 [SN-5.3.4-2].
    pub qos: QoS,
    /// The topic id for the subscription, or 0x0000 [SN-5.4.16-2].
    pub topic_id: TopicId,
    /// The MsgId of the SUBSCRIBE being answered.
    pub msg_id: MsgId,
    /// Accepted, or the reason for the rejection [SN-5.3.10-1].
    pub return_code: ReturnCode,
}

impl SubAck {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let flags = Flags::from_u8(r.u8()?);
        let suback = Self {
            // [SN-5.3.4-2] QoS -1 is for PUBLISH only.
            qos: flags.qos().not_minus_one()?,
            topic_id: TopicId(r.u16()?),
            msg_id: MsgId(r.u16()?),
            return_code: ReturnCode::from_u8(r.u8()?)?,
        };
        r.finish()?;
        Ok(suback)
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
        6
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u8(Flags::default().with_qos(self.qos).to_u8());
        w.u16(self.topic_id.0);
        w.u16(self.msg_id.0);
        w.u8(self.return_code.to_u8());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, refuse};
    use crate::{Message, MsgType};

    #[test]
    fn suback_vector() {
        // [SN-5.4.16-1] [SN-5.4.16-2] Length 8 | SUBACK | Flags QoS 1 | TopicId 0x0007 | MsgId 3 |
        // accepted.
        check(
            "08 | 13 | 20 | 00 07 | 00 03 | 00",
            &Message::SubAck(SubAck {
                qos: QoS::AtLeastOnce,
                topic_id: TopicId(7),
                msg_id: MsgId(3),
                return_code: ReturnCode::Accepted,
            }),
        );
    }

    #[test]
    fn suback_for_a_wildcard_filter_has_topic_id_zero() {
        // [SN-6.9-3] Length 8 | SUBACK | Flags QoS 0 | TopicId 0x0000 | MsgId 3 | accepted.
        check(
            "08 | 13 | 00 | 00 00 | 00 03 | 00",
            &Message::SubAck(SubAck {
                qos: QoS::AtMostOnce,
                topic_id: TopicId::UNASSIGNED,
                msg_id: MsgId(3),
                return_code: ReturnCode::Accepted,
            }),
        );
    }

    #[test]
    fn suback_refuses_qos_minus_one_and_a_wrong_size() {
        // [SN-5.3.4-2] [SN-5.4.16-1]
        refuse(
            "08 13 60 00 07 00 03 00",
            DecodeError::QoSMinusOneNotAllowed,
        );
        refuse(
            "07 13 20 00 07 00 03",
            DecodeError::BodyLength(MsgType::SubAck),
        );
    }
}

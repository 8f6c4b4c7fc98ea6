//! REGACK (§5.4.11): the answer to REGISTER, from either side.
//!
//! ```text
//! Length | MsgType 0x0B | TopicId (2) | MsgId (2) | ReturnCode
//!   07   |      0b      |   xx xx     |   xx xx   |    xx
//! ```

use crate::wire::{Reader, Writer};
use crate::{DecodeError, MsgId, ReturnCode, TopicId};

/// REGACK: the topic id to publish with, the REGISTER's MsgId and the outcome [SN-5.4.11-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegAck {
    /// The id to use in PUBLISH for the registered name [SN-5.4.11-1].
    pub topic_id: TopicId,
    /// The MsgId of the REGISTER being answered.
    pub msg_id: MsgId,
    /// Accepted, or the reason for the rejection [SN-5.3.10-1].
    pub return_code: ReturnCode,
}

impl RegAck {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let regack = Self {
            topic_id: TopicId(r.u16()?),
            msg_id: MsgId(r.u16()?),
            return_code: ReturnCode::from_u8(r.u8()?)?,
        };
        r.finish()?;
        Ok(regack)
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        5
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
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
    fn regack_vector() {
        // [SN-5.4.11-1] Length 7 | REGACK | TopicId 0x0001 | MsgId 1 | accepted.
        check(
            "07 | 0b | 00 01 | 00 01 | 00",
            &Message::RegAck(RegAck {
                topic_id: TopicId(1),
                msg_id: MsgId(1),
                return_code: ReturnCode::Accepted,
            }),
        );
    }

    #[test]
    fn regack_refuses_a_reserved_code_and_a_wrong_size() {
        // [SN-5.3.10-1] [SN-5.4.11-1]
        refuse("07 0b 00 01 00 01 09", DecodeError::ReservedReturnCode);
        refuse(
            "06 0b 00 01 00 01",
            DecodeError::BodyLength(MsgType::RegAck),
        );
        refuse(
            "08 0b 00 01 00 01 00 00",
            DecodeError::BodyLength(MsgType::RegAck),
        );
    }
}

//! REGACK (§5.4.11): the answer to REGISTER, from either side.
//!
//! ```text
//! Length | MsgType 0x0B | TopicId (2) | MsgId (2) | ReturnCode
//!   07   |      0b      |   xx xx     |   xx xx   |    xx
//! ```

use crate::{MsgId, ReturnCode, TopicId};

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

// The same body as PUBACK's, read and written by the same code.
crate::puback::id_msg_code_body!(RegAck);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeError;
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

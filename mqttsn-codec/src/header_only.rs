//! The three messages that are a header and nothing else: WILLTOPICREQ (§5.4.6), WILLMSGREQ (§5.4.8)
//! and PINGRESP (§5.4.20).
//!
//! ```text
//! Length | MsgType 0x06 (WILLTOPICREQ), 0x08 (WILLMSGREQ) or 0x17 (PINGRESP)
//!   02   |
//! ```
//!
//! They are grouped because their layout is identical and they have no fields, so they are unit
//! variants of [`Message`] with no struct of their own. What they mean (prompting for the will in
//! §6.2, answering a keep-alive or ending a sleeping client's buffered messages in §6.14) is up to
//! the client and the gateway.

use crate::wire::Reader;
use crate::{DecodeError, Message};

/// Checks that the variable part is empty and returns `message`.
#[inline]
pub(crate) fn decode<'a>(r: Reader<'_>, message: Message<'a>) -> Result<Message<'a>, DecodeError> {
    r.finish()?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MsgType;
    use crate::testing::{check, check_decode, hex, refuse};

    #[test]
    fn willtopicreq_vector() {
        // [SN-5.4.6-1] Length 2 | WILLTOPICREQ.
        check("02 | 06", &Message::WillTopicReq);
    }

    #[test]
    fn willmsgreq_vector() {
        // [SN-5.4.8-1] Length 2 | WILLMSGREQ.
        check("02 | 08", &Message::WillMsgReq);
    }

    #[test]
    fn pingresp_vector() {
        // [SN-5.4.20-1] Length 2 | PINGRESP.
        check("02 | 17", &Message::PingResp);
    }

    #[test]
    fn the_three_octet_length_is_accepted_on_a_short_message() {
        // [SN-5.2.1-4] Short messages "may" use the 1-octet form, so the 3-octet one is valid too;
        // this encoder always writes the shortest form.
        check_decode(&hex("01 00 04 | 17"), &Message::PingResp);
    }

    #[test]
    fn header_only_messages_with_a_variable_part_are_refused() {
        // [SN-5.4.6-1] [SN-5.4.8-1] [SN-5.4.20-1]
        refuse("03 06 00", DecodeError::BodyLength(MsgType::WillTopicReq));
        refuse("03 08 00", DecodeError::BodyLength(MsgType::WillMsgReq));
        refuse("03 17 00", DecodeError::BodyLength(MsgType::PingResp));
    }
}

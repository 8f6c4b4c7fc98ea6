//! UNSUBACK (§5.4.18): the gateway's answer to UNSUBSCRIBE.
//!
//! ```text
//! Length | MsgType 0x15 | MsgId (2)
//!   04   |      15      |  xx xx
//! ```
//!
//! No ReturnCode, unlike SUBACK. The layout is that of PUBREC/PUBREL/PUBCOMP, whose reader it shares.

use crate::pubrec_pubrel_pubcomp::decode_msg_id;
use crate::wire::{Reader, Writer};
use crate::{DecodeError, MsgId};

/// UNSUBACK [SN-5.4.18-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnsubAck {
    /// The MsgId of the UNSUBSCRIBE being answered.
    pub msg_id: MsgId,
}

impl UnsubAck {
    #[inline]
    pub(crate) fn decode(r: Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            msg_id: decode_msg_id(r)?,
        })
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        2
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.msg_id.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, refuse};
    use crate::{Message, MsgType};

    #[test]
    fn unsuback_vector() {
        // [SN-5.4.18-1] Length 4 | UNSUBACK | MsgId 6.
        check(
            "04 | 15 | 00 06",
            &Message::UnsubAck(UnsubAck { msg_id: MsgId(6) }),
        );
    }

    #[test]
    fn unsuback_with_a_return_code_is_refused() {
        // [SN-5.4.18-1]
        refuse("05 15 00 06 00", DecodeError::BodyLength(MsgType::UnsubAck));
    }
}

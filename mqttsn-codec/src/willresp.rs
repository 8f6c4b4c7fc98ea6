//! WILLTOPICRESP (§5.4.24) and WILLMSGRESP (§5.4.25): the gateway acknowledging a will update.
//!
//! ```text
//! Length | MsgType 0x1B or 0x1D | ReturnCode
//!   03   |                      |    xx
//! ```
//!
//! Grouped because the specification gives both one table (Table 27). The ReturnCode was added in
//! version 1.2; a 1.1 peer sends these messages without it, which this 1.2 codec refuses.

use crate::wire::{Reader, Writer};
use crate::{DecodeError, ReturnCode};

/// The variable part of WILLTOPICRESP and WILLMSGRESP [SN-5.4.24-1] [SN-5.4.25-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WillResp {
    /// Accepted, or the reason for the rejection [SN-5.3.10-1].
    pub return_code: ReturnCode,
}

impl WillResp {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let return_code = ReturnCode::from_u8(r.u8()?)?;
        r.finish()?;
        Ok(Self { return_code })
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        1
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u8(self.return_code.to_u8());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, refuse};
    use crate::{Message, MsgType};

    #[test]
    fn willtopicresp_vector() {
        // [SN-5.4.24-1] Length 3 | WILLTOPICRESP | accepted.
        check(
            "03 | 1b | 00",
            &Message::WillTopicResp(WillResp {
                return_code: ReturnCode::Accepted,
            }),
        );
    }

    #[test]
    fn willmsgresp_vector() {
        // [SN-5.4.25-1] Length 3 | WILLMSGRESP | rejected: not supported.
        check(
            "03 | 1d | 03",
            &Message::WillMsgResp(WillResp {
                return_code: ReturnCode::NotSupported,
            }),
        );
    }

    #[test]
    fn the_version_1_1_form_without_return_code_is_refused() {
        // [SN-5.4.24-1] [SN-5.4.25-1]
        refuse("02 1b", DecodeError::BodyLength(MsgType::WillTopicResp));
        refuse("02 1d", DecodeError::BodyLength(MsgType::WillMsgResp));
    }
}

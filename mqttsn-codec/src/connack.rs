//! CONNACK (§5.4.5): the gateway's answer to CONNECT.
//!
//! ```text
//! Length | MsgType 0x05 | ReturnCode
//!   03   |      05      |    xx
//! ```

use crate::wire::{Reader, Writer};
use crate::{DecodeError, ReturnCode};

/// CONNACK: whether the connection was accepted, or why not [SN-5.4.5-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnAck {
    /// Accepted, or the reason for the rejection [SN-5.3.10-1].
    pub return_code: ReturnCode,
}

impl ConnAck {
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
    fn connack_vectors() {
        // [SN-5.4.5-1] [SN-5.3.10-1] Length 3 | CONNACK | ReturnCode.
        let codes = [
            ("03 | 05 | 00", ReturnCode::Accepted),
            ("03 | 05 | 01", ReturnCode::Congestion),
            ("03 | 05 | 02", ReturnCode::InvalidTopicId),
            ("03 | 05 | 03", ReturnCode::NotSupported),
        ];
        for (text, return_code) in codes {
            check(text, &Message::ConnAck(ConnAck { return_code }));
        }
    }

    #[test]
    fn connack_with_a_reserved_return_code_is_refused() {
        // [SN-5.3.10-1]
        refuse("03 05 04", DecodeError::ReservedReturnCode);
        refuse("02 05", DecodeError::BodyLength(MsgType::ConnAck));
    }
}

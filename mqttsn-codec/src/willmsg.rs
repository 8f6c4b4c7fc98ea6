//! WILLMSG (§5.4.9) and WILLMSGUPD (§5.4.23): a client giving, or changing, its will message.
//!
//! ```text
//! Length | MsgType 0x09 or 0x1C | WillMsg
//!   n    |                      | xx .. xx
//! ```
//!
//! Grouped because the layout is identical: the whole variable part is the will message, any octets,
//! possibly none. They differ only in when they are sent (§6.2, §6.4).

use crate::wire::{Reader, Writer};

/// The variable part of WILLMSG and WILLMSGUPD [SN-5.4.9-1] [SN-5.4.23-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WillMsg<'a> {
    /// The will message, as opaque octets.
    pub message: &'a [u8],
}

impl<'a> WillMsg<'a> {
    /// Cannot fail: every variable part is a valid will message.
    #[inline]
    pub(crate) fn decode(mut r: Reader<'a>) -> Self {
        Self { message: r.rest() }
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        self.message.len()
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.bytes(self.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use crate::testing::check;

    #[test]
    fn willmsg_vector() {
        // [SN-5.4.9-1] Length 6 | WILLMSG | "gone".
        check(
            "06 | 09 | 67 6f 6e 65",
            &Message::WillMsg(WillMsg { message: b"gone" }),
        );
    }

    #[test]
    fn willmsgupd_vector() {
        // [SN-5.4.23-1] Length 6 | WILLMSGUPD | "gone".
        check(
            "06 | 1c | 67 6f 6e 65",
            &Message::WillMsgUpd(WillMsg { message: b"gone" }),
        );
    }

    #[test]
    fn an_empty_will_message_is_allowed() {
        // [SN-5.4.9-1] Length 2 | WILLMSG, no octets of message.
        check("02 | 09", &Message::WillMsg(WillMsg { message: b"" }));
    }
}

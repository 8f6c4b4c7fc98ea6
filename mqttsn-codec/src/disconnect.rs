//! DISCONNECT (§5.4.21): closing a connection, or a client going to sleep.
//!
//! ```text
//! Length | MsgType 0x18 | Duration (optional, 2)
//!   02   |      18      |
//!   04   |      18      |   xx xx
//! ```
//!
//! Without Duration: a client closing, a gateway acknowledging, or a gateway disconnecting a client
//! [SN-5.4.21-4]. With Duration: a client asking to sleep for that many seconds, which the gateway
//! acknowledges with a DISCONNECT without Duration [SN-5.4.21-5].

use crate::DecodeError;
use crate::wire::{Reader, Writer};

/// DISCONNECT [SN-5.4.21-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Disconnect {
    /// The sleep duration in seconds, when a client goes to sleep [SN-5.4.21-5].
    pub duration: Option<u16>,
}

impl Disconnect {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let duration = match r.remaining() {
            0 => None,
            _ => Some(r.u16()?),
        };
        r.finish()?;
        Ok(Self { duration })
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        match self.duration {
            Some(_) => 2,
            None => 0,
        }
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        if let Some(duration) = self.duration {
            w.u16(duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, refuse};
    use crate::{Message, MsgType};

    #[test]
    fn disconnect_vectors() {
        // [SN-5.4.21-4] Length 2 | DISCONNECT.
        check(
            "02 | 18",
            &Message::Disconnect(Disconnect { duration: None }),
        );
        // [SN-5.4.21-5] Length 4 | DISCONNECT | Duration 3600 s of sleep.
        check(
            "04 | 18 | 0e 10",
            &Message::Disconnect(Disconnect {
                duration: Some(3600),
            }),
        );
    }

    #[test]
    fn disconnect_with_a_partial_or_long_duration_is_refused() {
        // [SN-5.4.21-5]
        refuse("03 18 0e", DecodeError::BodyLength(MsgType::Disconnect));
        refuse(
            "05 18 0e 10 00",
            DecodeError::BodyLength(MsgType::Disconnect),
        );
    }
}

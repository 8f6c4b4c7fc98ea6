//! ADVERTISE (§5.4.1): a gateway announcing itself by periodic broadcast.
//!
//! ```text
//! Length | MsgType 0x00 | GwId | Duration (2)
//!   05   |      00      |  xx  |   xx xx
//! ```
//!
//! Duration is the time in seconds until the gateway's next ADVERTISE [SN-5.4.1-1]. When to send it
//! and how clients use it (§6.1) is the gateway's and the client's business, not the codec's.

use crate::DecodeError;
use crate::wire::{Reader, Writer};

/// ADVERTISE: GwId and the interval to the next advertisement [SN-5.4.1-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Advertise {
    /// The id of the advertising gateway [SN-5.3.6-1].
    pub gw_id: u8,
    /// Seconds until the next ADVERTISE from this gateway [SN-5.3.3-1].
    pub duration: u16,
}

impl Advertise {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let advertise = Self {
            gw_id: r.u8()?,
            duration: r.u16()?,
        };
        r.finish()?;
        Ok(advertise)
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        3
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u8(self.gw_id);
        w.u16(self.duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, refuse};
    use crate::{Message, MsgType};

    #[test]
    fn advertise_vector() {
        // [SN-5.4.1-1] Length 5 | ADVERTISE | GwId 1 | Duration 900 s.
        check(
            "05 | 00 | 01 | 03 84",
            &Message::Advertise(Advertise {
                gw_id: 1,
                duration: 900,
            }),
        );
    }

    #[test]
    fn advertise_with_a_missing_or_extra_octet_is_refused() {
        // [SN-5.4.1-1]
        refuse("04 00 01 03", DecodeError::BodyLength(MsgType::Advertise));
        refuse(
            "06 00 01 03 84 00",
            DecodeError::BodyLength(MsgType::Advertise),
        );
    }
}

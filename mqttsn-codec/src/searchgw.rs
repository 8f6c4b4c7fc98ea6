//! SEARCHGW (§5.4.2): a client looking for a gateway, by broadcast.
//!
//! ```text
//! Length | MsgType 0x01 | Radius
//!   03   |      01      |   xx
//! ```
//!
//! The radius is also handed to the network layer [SN-5.4.2-2]; that is the transport's job.

use crate::DecodeError;
use crate::wire::{Reader, Writer};

/// SEARCHGW: the broadcast radius of the search [SN-5.4.2-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SearchGw {
    /// Broadcast radius in hops; 0 means the whole network [SN-5.3.9-1].
    pub radius: u8,
}

impl SearchGw {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let radius = r.u8()?;
        r.finish()?;
        Ok(Self { radius })
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        1
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u8(self.radius);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, refuse};
    use crate::{Message, MsgType};

    #[test]
    fn searchgw_vector() {
        // [SN-5.4.2-1] [SN-5.3.9-1] Length 3 | SEARCHGW | Radius 0 (whole network).
        check("03 | 01 | 00", &Message::SearchGw(SearchGw { radius: 0 }));
    }

    #[test]
    fn searchgw_without_radius_is_refused() {
        // [SN-5.4.2-1]
        refuse("02 01", DecodeError::BodyLength(MsgType::SearchGw));
    }
}

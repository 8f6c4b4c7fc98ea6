//! GWINFO (§5.4.3): the answer to SEARCHGW, from a gateway or from a client that knows one.
//!
//! ```text
//! Length | MsgType 0x02 | GwId | GwAdd (only when a client sends it)
//!   03   |      02      |  xx  |
//!   n    |      02      |  xx  | xx .. xx
//! ```
//!
//! A gateway sends its GwId only; a client also sends the address of the gateway it names
//! [SN-5.4.3-1]. So the presence of GwAdd tells the two apart, and an empty GwAdd cannot exist.

use crate::wire::{Reader, Writer};
use crate::{DecodeError, GwAddress};

/// GWINFO: a gateway's id, and its address when a client answers for it [SN-5.4.3-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GwInfo<'a> {
    /// The gateway's id [SN-5.3.6-1].
    pub gw_id: u8,
    /// `None` when a gateway sends it; the gateway's address when a client does [SN-5.3.5-1].
    pub gw_add: Option<GwAddress<'a>>,
}

impl<'a> GwInfo<'a> {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'a>) -> Result<Self, DecodeError> {
        let gw_id = r.u8()?;
        let gw_add = GwAddress::new(r.rest()).ok();
        Ok(Self { gw_id, gw_add })
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        match self.gw_add {
            Some(address) => 1 + address.as_bytes().len(),
            None => 1,
        }
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u8(self.gw_id);
        if let Some(address) = self.gw_add {
            w.bytes(address.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, refuse};
    use crate::{Message, MsgType};

    #[test]
    fn gwinfo_from_a_gateway_has_no_address() {
        // [SN-5.4.3-1] Length 3 | GWINFO | GwId 7.
        check(
            "03 | 02 | 07",
            &Message::GwInfo(GwInfo {
                gw_id: 7,
                gw_add: None,
            }),
        );
    }

    #[test]
    fn gwinfo_from_a_client_carries_the_gateway_address() {
        // [SN-5.4.3-1] [SN-5.3.5-1] Length 9 | GWINFO | GwId 7 | GwAdd 192.168.1.10:1884 (6 octets).
        let address = [0xC0, 0xA8, 0x01, 0x0A, 0x07, 0x5C];
        check(
            "09 | 02 | 07 | c0 a8 01 0a 07 5c",
            &Message::GwInfo(GwInfo {
                gw_id: 7,
                gw_add: GwAddress::new(&address).ok(),
            }),
        );
    }

    #[test]
    fn gwinfo_without_gwid_is_refused() {
        // [SN-5.4.3-1]
        refuse("02 02", DecodeError::BodyLength(MsgType::GwInfo));
    }
}

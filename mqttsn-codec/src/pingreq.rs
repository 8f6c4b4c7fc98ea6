//! PINGREQ (§5.4.19): "are you alive", in either direction; from a sleeping client, "I am awake".
//!
//! ```text
//! Length | MsgType 0x16 | ClientId (optional)
//!   02   |      16      |
//!   n    |      16      | xx .. xx
//! ```
//!
//! A sleeping client going to the awake state includes its ClientId [SN-5.4.19-2]; otherwise the
//! message is header only [SN-5.4.19-1]. What the gateway does then (§6.14) is not the codec's business.

use crate::wire::{Reader, Writer};
use crate::{ClientId, DecodeError};

/// PINGREQ [SN-5.4.19-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PingReq<'a> {
    /// Present when a sleeping client wakes up to collect its buffered messages [SN-5.4.19-2].
    pub client_id: Option<ClientId<'a>>,
}

impl<'a> PingReq<'a> {
    #[inline]
    pub(crate) fn decode(mut r: Reader<'a>) -> Result<Self, DecodeError> {
        let rest = r.rest();
        let client_id = if rest.is_empty() {
            None
        } else {
            Some(ClientId::from_bytes(rest)?)
        };
        Ok(Self { client_id })
    }

    #[inline]
    pub(crate) const fn body_len(&self) -> usize {
        match self.client_id {
            Some(id) => id.as_str().len(),
            None => 0,
        }
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        if let Some(id) = self.client_id {
            w.bytes(id.as_str().as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use crate::testing::{check, refuse};

    #[test]
    fn pingreq_without_client_id_vector() {
        // [SN-5.4.19-1] Length 2 | PINGREQ.
        check("02 | 16", &Message::PingReq(PingReq { client_id: None }));
    }

    #[test]
    fn pingreq_from_a_waking_client_vector() {
        // [SN-5.4.19-2] Length 10 | PINGREQ | ClientId "sensor-1".
        check(
            "0a | 16 | 73 65 6e 73 6f 72 2d 31",
            &Message::PingReq(PingReq {
                client_id: Some(ClientId::new("sensor-1").expect("valid id")),
            }),
        );
    }

    #[test]
    fn pingreq_client_id_follows_the_client_id_rule() {
        // [SN-5.3.1-1]
        refuse(
            "1a 16 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61",
            DecodeError::ClientIdLength,
        );
    }
}

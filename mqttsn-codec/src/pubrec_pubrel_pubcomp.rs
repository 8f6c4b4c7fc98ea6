//! PUBREC, PUBREL and PUBCOMP (§5.4.14): the QoS 2 handshake, as in MQTT.
//!
//! ```text
//! Length | MsgType 0x0F (PUBREC), 0x10 (PUBREL) or 0x0E (PUBCOMP) | MsgId (2)
//!   04   |                                                        |  xx xx
//! ```
//!
//! Grouped because the specification gives the three one table: the same layout, a MsgId only
//! [SN-5.4.14-1]. Note the codes: PUBCOMP (0x0E) comes before PUBREC (0x0F) and PUBREL (0x10).
//! UNSUBACK has this layout too, but belongs to another exchange and has its own file.

use crate::wire::{Reader, Writer};
use crate::{DecodeError, MsgId};

/// Reads the MsgId-only variable part shared by PUBREC, PUBREL, PUBCOMP and UNSUBACK.
pub(crate) fn decode_msg_id(mut r: Reader<'_>) -> Result<MsgId, DecodeError> {
    let msg_id = MsgId(r.u16()?);
    r.finish()?;
    Ok(msg_id)
}

/// PUBREC: QoS 2 PUBLISH received (step 1 of 3) [SN-5.4.14-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PubRec {
    /// The MsgId of the PUBLISH.
    pub msg_id: MsgId,
}

/// PUBREL: QoS 2 PUBLISH released (step 2 of 3) [SN-5.4.14-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PubRel {
    /// The MsgId of the PUBLISH.
    pub msg_id: MsgId,
}

/// PUBCOMP: QoS 2 PUBLISH complete (step 3 of 3) [SN-5.4.14-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PubComp {
    /// The MsgId of the PUBLISH.
    pub msg_id: MsgId,
}

macro_rules! msg_id_only {
    ($($name:ident),*) => {$(
        impl $name {
            #[inline]
            pub(crate) fn decode(r: Reader<'_>) -> Result<Self, DecodeError> {
                Ok(Self { msg_id: decode_msg_id(r)? })
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
    )*};
}

msg_id_only!(PubRec, PubRel, PubComp);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, refuse};
    use crate::{Message, MsgType};

    #[test]
    fn qos2_vectors_with_the_spec_codes() {
        // [SN-5.4.14-1] Length 4 | PUBREC 0x0F / PUBREL 0x10 / PUBCOMP 0x0E | MsgId 0x1234.
        let msg_id = MsgId(0x1234);
        check("04 | 0f | 12 34", &Message::PubRec(PubRec { msg_id }));
        check("04 | 10 | 12 34", &Message::PubRel(PubRel { msg_id }));
        check("04 | 0e | 12 34", &Message::PubComp(PubComp { msg_id }));
    }

    #[test]
    fn qos2_messages_of_the_wrong_size_are_refused() {
        // [SN-5.4.14-1]
        refuse("03 0f 12", DecodeError::BodyLength(MsgType::PubRec));
        refuse("05 10 12 34 00", DecodeError::BodyLength(MsgType::PubRel));
        refuse("02 0e", DecodeError::BodyLength(MsgType::PubComp));
    }
}

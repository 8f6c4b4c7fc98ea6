//! PUBACK (§5.4.13): acknowledges a QoS 1 PUBLISH, or answers any PUBLISH with an error.
//!
//! ```text
//! Length | MsgType 0x0D | TopicId (2) | MsgId (2) | ReturnCode
//!   07   |      0d      |   xx xx     |   xx xx   |    xx
//! ```
//!
//! The TopicId echoes the two octets of the PUBLISH as they were, whatever their kind, so it is kept
//! as a raw [`TopicId`] [SN-5.4.13-1]. A PUBACK may reject a PUBLISH of any QoS [SN-5.4.13-2].

use crate::{MsgId, ReturnCode, TopicId};

/// PUBACK [SN-5.4.13-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PubAck {
    /// The TopicId octets of the PUBLISH being answered.
    pub topic_id: TopicId,
    /// The MsgId of the PUBLISH being answered.
    pub msg_id: MsgId,
    /// Accepted, or the reason for the rejection [SN-5.4.13-2].
    pub return_code: ReturnCode,
}

id_msg_code_body!(PubAck);

/// The body PUBACK and REGACK share (§5.4.11, §5.4.13: TopicId, MsgId and ReturnCode, in that
/// order, five octets): one decoder and one writer for both, generated for each type's own fields.
macro_rules! id_msg_code_body {
    ($name:ident) => {
        impl $name {
            #[inline]
            pub(crate) fn decode(
                mut r: $crate::wire::Reader<'_>,
            ) -> Result<Self, $crate::DecodeError> {
                let message = Self {
                    topic_id: $crate::TopicId(r.u16()?),
                    msg_id: $crate::MsgId(r.u16()?),
                    return_code: $crate::ReturnCode::from_u8(r.u8()?)?,
                };
                r.finish()?;
                Ok(message)
            }

            #[inline]
            pub(crate) const fn body_len(&self) -> usize {
                5
            }

            #[inline]
            pub(crate) fn write(&self, w: &mut $crate::wire::Writer<'_>) {
                w.u16(self.topic_id.0);
                w.u16(self.msg_id.0);
                w.u8(self.return_code.to_u8());
            }
        }
    };
}
pub(crate) use id_msg_code_body;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeError;
    use crate::testing::{check, refuse};
    use crate::{Message, MsgType};

    #[test]
    fn puback_vector() {
        // [SN-5.4.13-1] [SN-5.4.13-2] Length 7 | PUBACK | TopicId 0x0001 | MsgId 2 |
        // rejected: invalid topic id.
        check(
            "07 | 0d | 00 01 | 00 02 | 02",
            &Message::PubAck(PubAck {
                topic_id: TopicId(1),
                msg_id: MsgId(2),
                return_code: ReturnCode::InvalidTopicId,
            }),
        );
    }

    #[test]
    fn puback_of_the_wrong_size_is_refused() {
        // [SN-5.4.13-1]
        refuse(
            "06 0d 00 01 00 02",
            DecodeError::BodyLength(MsgType::PubAck),
        );
        refuse("07 0d 00 01 00 02 04", DecodeError::ReservedReturnCode);
    }
}

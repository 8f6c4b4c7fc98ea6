//! The Forwarder Encapsulation (§5.5): a message relayed between a gateway and a forwarder, wrapped
//! with the id of the wireless node it came from or goes to.
//!
//! ```text
//! Length | MsgType 0xFE | Ctrl | Wireless Node Id | MQTT-SN message
//!   n    |      fe      |  xx  |  (n - 3 octets)  | (with its own Length)
//! ```
//!
//! Unlike every other message, the Length is always one octet and counts only up to the end of the
//! Wireless Node Id [SN-5.5-1]; the message that follows is complete, with its own header. Ctrl holds
//! the broadcast radius in bits 1 and 0, the rest being reserved [SN-5.5-2]. The node id is opaque to
//! the codec: only the forwarder knows how it maps to an address [SN-5.5-3].
//!
//! The wrapped message is kept as the octets it was sent as, checked when decoded or built. A
//! forwarder passes it on unchanged [SN-4-1]; a gateway decodes it with [`Encapsulated::message`].
//! Keeping octets rather than a nested [`Message`] also keeps the codec free of allocation.

use crate::header::{self, MsgType};
use crate::wire::{Reader, Writer};
use crate::{DecodeError, Message};

/// The largest Wireless Node Id: the one-octet Length also counts itself, MsgType and Ctrl.
pub const MAX_WIRELESS_NODE_ID_LEN: usize = 255 - 3;

/// The radius bits of the Ctrl octet [SN-5.5-2].
const RADIUS_MASK: u8 = 0b0000_0011;

/// An encapsulated frame. Its fields are private so that it always holds a valid message: build one
/// with [`Encapsulated::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encapsulated<'a> {
    radius: u8,
    wireless_node_id: &'a [u8],
    message: &'a [u8],
}

impl<'a> Encapsulated<'a> {
    /// Wraps the encoded `message` for the wireless node `wireless_node_id`.
    ///
    /// Refuses what decoding would refuse: a radius above 3 ([`DecodeError::ReservedCtrlBits`]), a
    /// node id longer than [`MAX_WIRELESS_NODE_ID_LEN`] ([`DecodeError::EncapsulationLength`]), and
    /// a `message` that is not exactly one valid, unencapsulated MQTT-SN message.
    pub fn new(
        radius: u8,
        wireless_node_id: &'a [u8],
        message: &'a [u8],
    ) -> Result<Self, DecodeError> {
        // [SN-5.5-2]
        if radius & !RADIUS_MASK != 0 {
            return Err(DecodeError::ReservedCtrlBits);
        }
        // [SN-5.5-1]
        if wireless_node_id.len() > MAX_WIRELESS_NODE_ID_LEN {
            return Err(DecodeError::EncapsulationLength);
        }
        check_message(message)?;
        Ok(Self {
            radius,
            wireless_node_id,
            message,
        })
    }

    /// The broadcast radius, 0 to 3; meaningful only from gateway to forwarder [SN-5.5-2].
    pub const fn radius(&self) -> u8 {
        self.radius
    }

    /// The id of the wireless node that sent, or is to receive, the message [SN-5.5-3].
    pub const fn wireless_node_id(&self) -> &'a [u8] {
        self.wireless_node_id
    }

    /// The encapsulated message, as octets.
    pub const fn message_bytes(&self) -> &'a [u8] {
        self.message
    }

    /// The encapsulated message, decoded.
    ///
    /// The octets were checked when `self` was made, so this does not fail; it returns a `Result`
    /// rather than panic on a broken invariant.
    pub fn message(&self) -> Result<Message<'a>, DecodeError> {
        Message::decode(self.message)
    }

    #[inline]
    pub(crate) fn decode(mut r: Reader<'a>, message: &'a [u8]) -> Result<Self, DecodeError> {
        let ctrl = r.u8()?;
        // [SN-5.5-2] Bits 7 to 2 are reserved.
        if ctrl & !RADIUS_MASK != 0 {
            return Err(DecodeError::ReservedCtrlBits);
        }
        let wireless_node_id = r.rest();
        check_message(message)?;
        Ok(Self {
            radius: ctrl,
            wireless_node_id,
            message,
        })
    }

    #[inline]
    pub(crate) const fn encoded_len(&self) -> usize {
        3 + self.wireless_node_id.len() + self.message.len()
    }

    #[inline]
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        // [SN-5.5-1] Guaranteed to fit one octet by `new` and `decode`.
        let header_len = u8::try_from(3 + self.wireless_node_id.len()).unwrap_or(u8::MAX);
        w.u8(header_len);
        w.u8(MsgType::Encapsulated.code());
        w.u8(self.radius);
        w.bytes(self.wireless_node_id);
        w.bytes(self.message);
    }
}

/// [SN-5.5-1] The payload is one plain MQTT-SN message. A nested encapsulation is refused before
/// decoding, so that a datagram of nested headers cannot make decoding recurse.
fn check_message(message: &[u8]) -> Result<(), DecodeError> {
    if header::split(message)?.msg_type == MsgType::Encapsulated {
        return Err(DecodeError::NestedEncapsulation);
    }
    Message::decode(message).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, refuse};
    use crate::{ClientId, PingReq};

    #[test]
    fn encapsulated_pingreq_vector() {
        // [SN-5.5-1] [SN-5.5-2] [SN-5.5-3] Length 5 (header only) | Encapsulated | Ctrl radius 1 |
        // Wireless Node Id 0x00 0x2A | PINGREQ "n1" with its own Length 4.
        let frame =
            Encapsulated::new(1, &[0x00, 0x2A], &[0x04, 0x16, 0x6E, 0x31]).expect("valid frame");
        check(
            "05 | fe | 01 | 00 2a | 04 16 6e 31",
            &Message::Encapsulated(frame),
        );
        assert_eq!(
            frame.message(),
            Ok(Message::PingReq(PingReq {
                client_id: Some(ClientId::new("n1").expect("valid id")),
            }))
        );
    }

    #[test]
    fn encapsulation_with_an_empty_node_id_vector() {
        // [SN-5.5-1] Length 3 | Encapsulated | Ctrl 0 | no node id | PINGRESP.
        let frame = Encapsulated::new(0, &[], &[0x02, 0x17]).expect("valid frame");
        check("03 | fe | 00 | 02 17", &Message::Encapsulated(frame));
    }

    #[test]
    fn encapsulation_refuses_reserved_ctrl_bits_nesting_and_a_bad_message() {
        // [SN-5.5-2]
        refuse("03 fe 04 02 17", DecodeError::ReservedCtrlBits);
        assert_eq!(
            Encapsulated::new(4, &[], &[0x02, 0x17]),
            Err(DecodeError::ReservedCtrlBits)
        );
        // [SN-5.5-1]
        refuse("03 fe 00 03 fe 00 02 17", DecodeError::NestedEncapsulation);
        refuse("03 fe 00", DecodeError::TooShort);
        refuse("03 fe 00 02 03", DecodeError::ReservedMsgType);
        assert_eq!(
            Encapsulated::new(0, &[0; 253], &[0x02, 0x17]),
            Err(DecodeError::EncapsulationLength)
        );
        assert!(Encapsulated::new(0, &[0; 252], &[0x02, 0x17]).is_ok());
    }
}

//! The message header (§5.2): the Length field in its two forms, and the MsgType octet.
//!
//! A header is 2 octets (`Length MsgType`) when the whole message fits in 255 octets, else 4
//! (`0x01 LengthMSB LengthLSB MsgType`). This module finds where a datagram's variable part starts
//! and checks that the datagram is exactly as long as its Length says. It does not look inside the
//! variable part; the message files do. The Forwarder Encapsulation (§5.5) has a header of its own,
//! whose Length covers only the encapsulation header, and is split here too.

use core::fmt;

use crate::DecodeError;
use crate::wire::Writer;

/// The longest message the 3-octet Length can describe [SN-5.2.1-4].
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// The longest message the 1-octet Length can describe [SN-5.2.1-4].
pub const MAX_SHORT_MESSAGE_LEN: usize = 255;

/// The first Length octet that announces the 3-octet form [SN-5.2.1-2].
const THREE_OCTET_MARKER: u8 = 0x01;

/// The message type codes of Table 3 [SN-5.2.2-1].
///
/// Note the order of the QoS 2 messages: PUBCOMP is 0x0E, PUBREC 0x0F and PUBREL 0x10, unlike the
/// order of the MQTT flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // Each variant is the message of the same name in §5.4.
pub enum MsgType {
    Advertise = 0x00,
    SearchGw = 0x01,
    GwInfo = 0x02,
    Connect = 0x04,
    ConnAck = 0x05,
    WillTopicReq = 0x06,
    WillTopic = 0x07,
    WillMsgReq = 0x08,
    WillMsg = 0x09,
    Register = 0x0A,
    RegAck = 0x0B,
    Publish = 0x0C,
    PubAck = 0x0D,
    PubComp = 0x0E,
    PubRec = 0x0F,
    PubRel = 0x10,
    Subscribe = 0x12,
    SubAck = 0x13,
    Unsubscribe = 0x14,
    UnsubAck = 0x15,
    PingReq = 0x16,
    PingResp = 0x17,
    Disconnect = 0x18,
    WillTopicUpd = 0x1A,
    WillTopicResp = 0x1B,
    WillMsgUpd = 0x1C,
    WillMsgResp = 0x1D,
    /// The Forwarder Encapsulation frame (§5.5).
    Encapsulated = 0xFE,
}

impl MsgType {
    /// The message type for the MsgType octet `code`; the reserved codes are refused [SN-5.2.2-1].
    pub const fn from_u8(code: u8) -> Result<Self, DecodeError> {
        Ok(match code {
            0x00 => Self::Advertise,
            0x01 => Self::SearchGw,
            0x02 => Self::GwInfo,
            0x04 => Self::Connect,
            0x05 => Self::ConnAck,
            0x06 => Self::WillTopicReq,
            0x07 => Self::WillTopic,
            0x08 => Self::WillMsgReq,
            0x09 => Self::WillMsg,
            0x0A => Self::Register,
            0x0B => Self::RegAck,
            0x0C => Self::Publish,
            0x0D => Self::PubAck,
            0x0E => Self::PubComp,
            0x0F => Self::PubRec,
            0x10 => Self::PubRel,
            0x12 => Self::Subscribe,
            0x13 => Self::SubAck,
            0x14 => Self::Unsubscribe,
            0x15 => Self::UnsubAck,
            0x16 => Self::PingReq,
            0x17 => Self::PingResp,
            0x18 => Self::Disconnect,
            0x1A => Self::WillTopicUpd,
            0x1B => Self::WillTopicResp,
            0x1C => Self::WillMsgUpd,
            0x1D => Self::WillMsgResp,
            0xFE => Self::Encapsulated,
            // [SN-5.2.2-1] 0x03, 0x11, 0x19, 0x1E..=0xFD and 0xFF are reserved.
            _ => return Err(DecodeError::ReservedMsgType),
        })
    }

    /// The MsgType octet.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The rule that gives this message its format (§5.4, §5.5).
    pub const fn format_rule(self) -> &'static str {
        match self {
            Self::Advertise => "SN-5.4.1-1",
            Self::SearchGw => "SN-5.4.2-1",
            Self::GwInfo => "SN-5.4.3-1",
            Self::Connect => "SN-5.4.4-1",
            Self::ConnAck => "SN-5.4.5-1",
            Self::WillTopicReq => "SN-5.4.6-1",
            Self::WillTopic => "SN-5.4.7-1",
            Self::WillMsgReq => "SN-5.4.8-1",
            Self::WillMsg => "SN-5.4.9-1",
            Self::Register => "SN-5.4.10-1",
            Self::RegAck => "SN-5.4.11-1",
            Self::Publish => "SN-5.4.12-1",
            Self::PubAck => "SN-5.4.13-1",
            Self::PubComp | Self::PubRec | Self::PubRel => "SN-5.4.14-1",
            Self::Subscribe => "SN-5.4.15-1",
            Self::SubAck => "SN-5.4.16-1",
            Self::Unsubscribe => "SN-5.4.17-1",
            Self::UnsubAck => "SN-5.4.18-1",
            Self::PingReq => "SN-5.4.19-1",
            Self::PingResp => "SN-5.4.20-1",
            Self::Disconnect => "SN-5.4.21-5",
            Self::WillTopicUpd => "SN-5.4.22-1",
            Self::WillTopicResp => "SN-5.4.24-1",
            Self::WillMsgUpd => "SN-5.4.23-1",
            Self::WillMsgResp => "SN-5.4.25-1",
            Self::Encapsulated => "SN-5.5-1",
        }
    }

    /// The name the specification gives the message, e.g. `WILLTOPICREQ`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Advertise => "ADVERTISE",
            Self::SearchGw => "SEARCHGW",
            Self::GwInfo => "GWINFO",
            Self::Connect => "CONNECT",
            Self::ConnAck => "CONNACK",
            Self::WillTopicReq => "WILLTOPICREQ",
            Self::WillTopic => "WILLTOPIC",
            Self::WillMsgReq => "WILLMSGREQ",
            Self::WillMsg => "WILLMSG",
            Self::Register => "REGISTER",
            Self::RegAck => "REGACK",
            Self::Publish => "PUBLISH",
            Self::PubAck => "PUBACK",
            Self::PubComp => "PUBCOMP",
            Self::PubRec => "PUBREC",
            Self::PubRel => "PUBREL",
            Self::Subscribe => "SUBSCRIBE",
            Self::SubAck => "SUBACK",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::UnsubAck => "UNSUBACK",
            Self::PingReq => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect => "DISCONNECT",
            Self::WillTopicUpd => "WILLTOPICUPD",
            Self::WillTopicResp => "WILLTOPICRESP",
            Self::WillMsgUpd => "WILLMSGUPD",
            Self::WillMsgResp => "WILLMSGRESP",
            Self::Encapsulated => "Encapsulated message",
        }
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A datagram cut at the end of its header.
#[derive(Debug)]
pub(crate) struct Split<'a> {
    pub(crate) msg_type: MsgType,
    /// The variable part. For an encapsulation: the Ctrl octet and the Wireless Node Id.
    pub(crate) body: &'a [u8],
    /// Empty, except for an encapsulation: the encapsulated message.
    pub(crate) encapsulated: &'a [u8],
}

/// Reads the header of `datagram` and checks its Length against the datagram's size.
#[inline]
pub(crate) fn split(datagram: &[u8]) -> Result<Split<'_>, DecodeError> {
    let (length, header_len) = match *datagram {
        // [SN-5.2.1-2] 0x01 announces the 3-octet form: two octets, most significant first.
        [THREE_OCTET_MARKER, msb, lsb, _, ..] => (usize::from(u16::from_be_bytes([msb, lsb])), 4),
        [THREE_OCTET_MARKER, ..] => return Err(DecodeError::TooShort),
        // [SN-5.2.1-3] Any other first octet is the length itself.
        [length, _, ..] => (usize::from(length), 2),
        _ => return Err(DecodeError::TooShort),
    };
    let msg_type = MsgType::from_u8(datagram[header_len - 1])?;
    if msg_type == MsgType::Encapsulated {
        return split_encapsulation(datagram, header_len, length);
    }
    // [SN-5.2.1-1] The Length counts the whole message, itself included. The 3-octet form is accepted
    // for short messages too, since it is only "may" that they use the short one [SN-5.2.1-4].
    if length < header_len {
        return Err(DecodeError::InvalidLength);
    }
    if datagram.len() < length {
        return Err(DecodeError::Truncated);
    }
    if datagram.len() > length {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(Split {
        msg_type,
        body: &datagram[header_len..],
        encapsulated: &[],
    })
}

/// [SN-5.5-1] The encapsulation Length is one octet and counts up to the end of the Wireless Node
/// Id, so at least Length, MsgType and Ctrl; the encapsulated message follows with its own Length.
fn split_encapsulation(
    datagram: &[u8],
    header_len: usize,
    length: usize,
) -> Result<Split<'_>, DecodeError> {
    if header_len != 2 || length < 3 {
        return Err(DecodeError::EncapsulationLength);
    }
    if datagram.len() < length {
        return Err(DecodeError::Truncated);
    }
    let (header, encapsulated) = datagram.split_at(length);
    Ok(Split {
        msg_type: MsgType::Encapsulated,
        body: &header[2..],
        encapsulated,
    })
}

/// The length of the whole message whose variable part is `body_len` octets long.
///
/// A sender uses the 1-octet form whenever the message fits in 255 octets, and the 3-octet form
/// otherwise [SN-5.2.1-4]. The result may exceed [`MAX_MESSAGE_LEN`]; encoders refuse that.
#[inline]
pub(crate) const fn message_len(body_len: usize) -> usize {
    if body_len + 2 <= MAX_SHORT_MESSAGE_LEN {
        body_len + 2
    } else {
        body_len + 4
    }
}

/// Writes the header of a message `total_len` octets long (as computed by [`message_len`]).
#[inline]
pub(crate) fn write(w: &mut Writer<'_>, total_len: usize, msg_type: MsgType) {
    match u8::try_from(total_len) {
        // [SN-5.2.1-3]
        Ok(short) if total_len <= MAX_SHORT_MESSAGE_LEN => w.u8(short),
        // [SN-5.2.1-2] The caller checked `total_len <= MAX_MESSAGE_LEN`.
        _ => {
            w.u8(THREE_OCTET_MARKER);
            w.u16(u16::try_from(total_len).unwrap_or(u16::MAX));
        }
    }
    w.u8(msg_type.code());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_table_3_round_trips_and_the_reserved_ones_are_refused() {
        // [SN-5.2.2-1]
        let mut known = 0;
        for code in 0..=u8::MAX {
            match MsgType::from_u8(code) {
                Ok(msg_type) => {
                    known += 1;
                    assert_eq!(msg_type.code(), code);
                }
                Err(error) => {
                    assert_eq!(error, DecodeError::ReservedMsgType);
                    assert!(matches!(code, 0x03 | 0x11 | 0x19 | 0x1E..=0xFD | 0xFF));
                }
            }
        }
        assert_eq!(known, 28);
        // The spec's own code assignment for the QoS 2 messages.
        assert_eq!(MsgType::PubComp.code(), 0x0E);
        assert_eq!(MsgType::PubRec.code(), 0x0F);
        assert_eq!(MsgType::PubRel.code(), 0x10);
    }

    #[test]
    fn a_sender_switches_to_the_three_octet_length_above_255() {
        // [SN-5.2.1-4]
        assert_eq!(message_len(0), 2);
        assert_eq!(message_len(253), 255);
        assert_eq!(message_len(254), 258);
        assert_eq!(message_len(65_531), MAX_MESSAGE_LEN);
    }

    #[test]
    fn both_length_forms_are_read_and_checked_against_the_datagram() {
        // [SN-5.2.1-3] 1-octet form.
        let split_short = split(&[0x02, 0x17]).map(|s| (s.msg_type, s.body.len()));
        assert_eq!(split_short, Ok((MsgType::PingResp, 0)));
        // [SN-5.2.1-2] [SN-5.2.1-4] 3-octet form for a message that would fit in one: accepted.
        let split_long = split(&[0x01, 0x00, 0x04, 0x17]).map(|s| (s.msg_type, s.body.len()));
        assert_eq!(split_long, Ok((MsgType::PingResp, 0)));
        // [SN-5.2.1-1]
        assert_eq!(split(&[]).err(), Some(DecodeError::TooShort));
        assert_eq!(split(&[0x02]).err(), Some(DecodeError::TooShort));
        assert_eq!(
            split(&[0x01, 0x00, 0x04]).err(),
            Some(DecodeError::TooShort)
        );
        assert_eq!(split(&[0x00, 0x17]).err(), Some(DecodeError::InvalidLength));
        assert_eq!(
            split(&[0x01, 0x00, 0x03, 0x17]).err(),
            Some(DecodeError::InvalidLength)
        );
        assert_eq!(split(&[0x03, 0x17]).err(), Some(DecodeError::Truncated));
        assert_eq!(
            split(&[0x02, 0x17, 0x00]).err(),
            Some(DecodeError::TrailingBytes)
        );
        // [SN-5.2.2-1]
        assert_eq!(
            split(&[0x02, 0x03]).err(),
            Some(DecodeError::ReservedMsgType)
        );
    }

    #[test]
    fn an_encapsulation_length_covers_only_its_own_header() {
        // [SN-5.5-1]
        let split_frame = split(&[0x04, 0xFE, 0x00, 0xAA, 0x02, 0x17]);
        let parts = split_frame.map(|s| (s.msg_type, s.body, s.encapsulated));
        assert_eq!(
            parts,
            Ok((MsgType::Encapsulated, &[0x00, 0xAA][..], &[0x02, 0x17][..]))
        );
        assert_eq!(
            split(&[0x02, 0xFE]).err(),
            Some(DecodeError::EncapsulationLength)
        );
        assert_eq!(
            split(&[0x01, 0x00, 0x05, 0xFE, 0x00]).err(),
            Some(DecodeError::EncapsulationLength)
        );
        assert_eq!(
            split(&[0x05, 0xFE, 0x00]).err(),
            Some(DecodeError::Truncated)
        );
    }
}

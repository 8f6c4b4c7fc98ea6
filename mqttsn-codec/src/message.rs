//! [`Message`]: one variant per message type of §5.4 and the Forwarder Encapsulation of §5.5, and the
//! three operations every message shares: decode one datagram, say the exact encoded length, encode.
//!
//! This file only dispatches. The layout and rules of each message live in the file named after it;
//! the header (Length and MsgType) lives in `header.rs`. Encoding is done in three steps so that
//! writing cannot fail halfway: check the values the types cannot rule out, compute the exact length
//! and check the output's size, then write into a slice of exactly that length.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::header::{self, MAX_MESSAGE_LEN, MsgType};
use crate::wire::{Reader, Writer};
use crate::{
    Advertise, ConnAck, Connect, DecodeError, Disconnect, Encapsulated, EncodeError, GwInfo,
    PingReq, PubAck, PubComp, PubRec, PubRel, Publish, RegAck, Register, SearchGw, SubAck,
    Subscribe, UnsubAck, Unsubscribe, WillMsg, WillResp, WillTopic,
};

/// One MQTT-SN message, borrowing its variable-length fields from the datagram it was decoded from
/// (or from the caller, when built to be sent).
///
/// The variants are in the order of Table 3; the header-only messages have no fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// ADVERTISE (0x00), §5.4.1.
    Advertise(Advertise),
    /// SEARCHGW (0x01), §5.4.2.
    SearchGw(SearchGw),
    /// GWINFO (0x02), §5.4.3.
    GwInfo(GwInfo<'a>),
    /// CONNECT (0x04), §5.4.4.
    Connect(Connect<'a>),
    /// CONNACK (0x05), §5.4.5.
    ConnAck(ConnAck),
    /// WILLTOPICREQ (0x06), §5.4.6: header only.
    WillTopicReq,
    /// WILLTOPIC (0x07), §5.4.7.
    WillTopic(WillTopic<'a>),
    /// WILLMSGREQ (0x08), §5.4.8: header only.
    WillMsgReq,
    /// WILLMSG (0x09), §5.4.9.
    WillMsg(WillMsg<'a>),
    /// REGISTER (0x0A), §5.4.10.
    Register(Register<'a>),
    /// REGACK (0x0B), §5.4.11.
    RegAck(RegAck),
    /// PUBLISH (0x0C), §5.4.12.
    Publish(Publish<'a>),
    /// PUBACK (0x0D), §5.4.13.
    PubAck(PubAck),
    /// PUBCOMP (0x0E), §5.4.14.
    PubComp(PubComp),
    /// PUBREC (0x0F), §5.4.14.
    PubRec(PubRec),
    /// PUBREL (0x10), §5.4.14.
    PubRel(PubRel),
    /// SUBSCRIBE (0x12), §5.4.15.
    Subscribe(Subscribe<'a>),
    /// SUBACK (0x13), §5.4.16.
    SubAck(SubAck),
    /// UNSUBSCRIBE (0x14), §5.4.17.
    Unsubscribe(Unsubscribe<'a>),
    /// UNSUBACK (0x15), §5.4.18.
    UnsubAck(UnsubAck),
    /// PINGREQ (0x16), §5.4.19.
    PingReq(PingReq<'a>),
    /// PINGRESP (0x17), §5.4.20: header only.
    PingResp,
    /// DISCONNECT (0x18), §5.4.21.
    Disconnect(Disconnect),
    /// WILLTOPICUPD (0x1A), §5.4.22: the same layout as WILLTOPIC.
    WillTopicUpd(WillTopic<'a>),
    /// WILLTOPICRESP (0x1B), §5.4.24.
    WillTopicResp(WillResp),
    /// WILLMSGUPD (0x1C), §5.4.23: the same layout as WILLMSG.
    WillMsgUpd(WillMsg<'a>),
    /// WILLMSGRESP (0x1D), §5.4.25.
    WillMsgResp(WillResp),
    /// A message wrapped by a forwarder (0xFE), §5.5.
    Encapsulated(Encapsulated<'a>),
}

impl<'a> Message<'a> {
    /// Decodes one datagram, which must hold exactly one message.
    ///
    /// Nothing is copied: strings and payloads in the result point into `datagram`. Every rule the
    /// codec checks is checked here, so a message that decodes always encodes again.
    pub fn decode(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        let split = header::split(datagram)?;
        let r = Reader::new(split.body, split.msg_type);
        Ok(match split.msg_type {
            MsgType::Advertise => Self::Advertise(Advertise::decode(r)?),
            MsgType::SearchGw => Self::SearchGw(SearchGw::decode(r)?),
            MsgType::GwInfo => Self::GwInfo(GwInfo::decode(r)?),
            MsgType::Connect => Self::Connect(Connect::decode(r)?),
            MsgType::ConnAck => Self::ConnAck(ConnAck::decode(r)?),
            MsgType::WillTopicReq => crate::header_only::decode(r, Self::WillTopicReq)?,
            MsgType::WillTopic => Self::WillTopic(WillTopic::decode(r)?),
            MsgType::WillMsgReq => crate::header_only::decode(r, Self::WillMsgReq)?,
            MsgType::WillMsg => Self::WillMsg(WillMsg::decode(r)),
            MsgType::Register => Self::Register(Register::decode(r)?),
            MsgType::RegAck => Self::RegAck(RegAck::decode(r)?),
            MsgType::Publish => Self::Publish(Publish::decode(r)?),
            MsgType::PubAck => Self::PubAck(PubAck::decode(r)?),
            MsgType::PubComp => Self::PubComp(PubComp::decode(r)?),
            MsgType::PubRec => Self::PubRec(PubRec::decode(r)?),
            MsgType::PubRel => Self::PubRel(PubRel::decode(r)?),
            MsgType::Subscribe => Self::Subscribe(Subscribe::decode(r)?),
            MsgType::SubAck => Self::SubAck(SubAck::decode(r)?),
            MsgType::Unsubscribe => Self::Unsubscribe(Unsubscribe::decode(r)?),
            MsgType::UnsubAck => Self::UnsubAck(UnsubAck::decode(r)?),
            MsgType::PingReq => Self::PingReq(PingReq::decode(r)?),
            MsgType::PingResp => crate::header_only::decode(r, Self::PingResp)?,
            MsgType::Disconnect => Self::Disconnect(Disconnect::decode(r)?),
            MsgType::WillTopicUpd => Self::WillTopicUpd(WillTopic::decode(r)?),
            MsgType::WillTopicResp => Self::WillTopicResp(WillResp::decode(r)?),
            MsgType::WillMsgUpd => Self::WillMsgUpd(WillMsg::decode(r)),
            MsgType::WillMsgResp => Self::WillMsgResp(WillResp::decode(r)?),
            MsgType::Encapsulated => {
                Self::Encapsulated(Encapsulated::decode(r, split.encapsulated)?)
            }
        })
    }

    /// The message type.
    pub const fn msg_type(&self) -> MsgType {
        match self {
            Self::Advertise(_) => MsgType::Advertise,
            Self::SearchGw(_) => MsgType::SearchGw,
            Self::GwInfo(_) => MsgType::GwInfo,
            Self::Connect(_) => MsgType::Connect,
            Self::ConnAck(_) => MsgType::ConnAck,
            Self::WillTopicReq => MsgType::WillTopicReq,
            Self::WillTopic(_) => MsgType::WillTopic,
            Self::WillMsgReq => MsgType::WillMsgReq,
            Self::WillMsg(_) => MsgType::WillMsg,
            Self::Register(_) => MsgType::Register,
            Self::RegAck(_) => MsgType::RegAck,
            Self::Publish(_) => MsgType::Publish,
            Self::PubAck(_) => MsgType::PubAck,
            Self::PubComp(_) => MsgType::PubComp,
            Self::PubRec(_) => MsgType::PubRec,
            Self::PubRel(_) => MsgType::PubRel,
            Self::Subscribe(_) => MsgType::Subscribe,
            Self::SubAck(_) => MsgType::SubAck,
            Self::Unsubscribe(_) => MsgType::Unsubscribe,
            Self::UnsubAck(_) => MsgType::UnsubAck,
            Self::PingReq(_) => MsgType::PingReq,
            Self::PingResp => MsgType::PingResp,
            Self::Disconnect(_) => MsgType::Disconnect,
            Self::WillTopicUpd(_) => MsgType::WillTopicUpd,
            Self::WillTopicResp(_) => MsgType::WillTopicResp,
            Self::WillMsgUpd(_) => MsgType::WillMsgUpd,
            Self::WillMsgResp(_) => MsgType::WillMsgResp,
            Self::Encapsulated(_) => MsgType::Encapsulated,
        }
    }

    /// The exact number of octets [`encode`](Self::encode) and
    /// [`encode_to_slice`](Self::encode_to_slice) write, header included.
    ///
    /// It can exceed 65 535 for a message too long to send; encoding such a message fails with
    /// [`EncodeError::MessageTooLong`].
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Encapsulated(frame) => frame.encoded_len(),
            _ => header::message_len(self.body_len()),
        }
    }

    /// Encodes the message at the start of `out`, returning the number of octets written.
    ///
    /// Needs no allocator: a microcontroller encodes into a static buffer. `out` must hold at least
    /// [`encoded_len`](Self::encoded_len) octets; nothing is written if it does not, or if the message
    /// breaks a rule.
    pub fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        // One dispatch on the message type, then everything inlined for that type: checking, length
        // and writing are fused here because a separate `match` for each step cost more than the
        // work itself (see BENCHMARKS.md).
        match self {
            Self::Advertise(m) => emit(out, MsgType::Advertise, m.body_len(), |w| m.write(w)),
            Self::SearchGw(m) => emit(out, MsgType::SearchGw, m.body_len(), |w| m.write(w)),
            Self::GwInfo(m) => emit(out, MsgType::GwInfo, m.body_len(), |w| m.write(w)),
            Self::Connect(m) => emit(out, MsgType::Connect, m.body_len(), |w| m.write(w)),
            Self::ConnAck(m) => emit(out, MsgType::ConnAck, m.body_len(), |w| m.write(w)),
            Self::WillTopicReq => emit(out, MsgType::WillTopicReq, 0, |_| {}),
            Self::WillTopic(m) => {
                m.validate()?;
                emit(out, MsgType::WillTopic, m.body_len(), |w| m.write(w))
            }
            Self::WillMsgReq => emit(out, MsgType::WillMsgReq, 0, |_| {}),
            Self::WillMsg(m) => emit(out, MsgType::WillMsg, m.body_len(), |w| m.write(w)),
            Self::Register(m) => emit(out, MsgType::Register, m.body_len(), |w| m.write(w)),
            Self::RegAck(m) => emit(out, MsgType::RegAck, m.body_len(), |w| m.write(w)),
            Self::Publish(m) => {
                m.validate()?;
                emit(out, MsgType::Publish, m.body_len(), |w| m.write(w))
            }
            Self::PubAck(m) => emit(out, MsgType::PubAck, m.body_len(), |w| m.write(w)),
            Self::PubComp(m) => emit(out, MsgType::PubComp, m.body_len(), |w| m.write(w)),
            Self::PubRec(m) => emit(out, MsgType::PubRec, m.body_len(), |w| m.write(w)),
            Self::PubRel(m) => emit(out, MsgType::PubRel, m.body_len(), |w| m.write(w)),
            Self::Subscribe(m) => {
                m.validate()?;
                emit(out, MsgType::Subscribe, m.body_len(), |w| m.write(w))
            }
            Self::SubAck(m) => {
                m.validate()?;
                emit(out, MsgType::SubAck, m.body_len(), |w| m.write(w))
            }
            Self::Unsubscribe(m) => emit(out, MsgType::Unsubscribe, m.body_len(), |w| m.write(w)),
            Self::UnsubAck(m) => emit(out, MsgType::UnsubAck, m.body_len(), |w| m.write(w)),
            Self::PingReq(m) => emit(out, MsgType::PingReq, m.body_len(), |w| m.write(w)),
            Self::PingResp => emit(out, MsgType::PingResp, 0, |_| {}),
            Self::Disconnect(m) => emit(out, MsgType::Disconnect, m.body_len(), |w| m.write(w)),
            Self::WillTopicUpd(m) => {
                m.validate()?;
                emit(out, MsgType::WillTopicUpd, m.body_len(), |w| m.write(w))
            }
            Self::WillTopicResp(m) => {
                emit(out, MsgType::WillTopicResp, m.body_len(), |w| m.write(w))
            }
            Self::WillMsgUpd(m) => emit(out, MsgType::WillMsgUpd, m.body_len(), |w| m.write(w)),
            Self::WillMsgResp(m) => emit(out, MsgType::WillMsgResp, m.body_len(), |w| m.write(w)),
            Self::Encapsulated(frame) => {
                // Its Length covers only its own header; the message inside was checked when
                // `frame` was made, so there is nothing to validate.
                let len = frame.encoded_len();
                let target = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
                frame.write(&mut Writer::new(target));
                Ok(len)
            }
        }
    }

    /// Encodes the message by appending it to `out`, returning the number of octets appended.
    ///
    /// `out` is left as it was if the message breaks a rule.
    #[cfg(feature = "alloc")]
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let len = self.checked_len()?;
        let start = out.len();
        out.resize(start + len, 0);
        self.encode_to_slice(&mut out[start..])
    }

    /// The rules the field types cannot enforce, then the length: what `encode` checks before it
    /// grows the `Vec`.
    #[cfg(feature = "alloc")]
    fn checked_len(&self) -> Result<usize, EncodeError> {
        match self {
            Self::Publish(publish) => publish.validate()?,
            Self::Subscribe(subscribe) => subscribe.validate()?,
            Self::SubAck(suback) => suback.validate()?,
            Self::WillTopic(will) | Self::WillTopicUpd(will) => will.validate()?,
            _ => {}
        }
        let len = self.encoded_len();
        // [SN-5.2.1-4] The 3-octet Length stops at 65 535. An encapsulation is exempt: its Length
        // covers only its own header, and the message inside was checked when it was encoded.
        if len > MAX_MESSAGE_LEN && !matches!(self, Self::Encapsulated(_)) {
            return Err(EncodeError::MessageTooLong);
        }
        Ok(len)
    }

    /// The length of the variable part (for an encapsulation: not used).
    fn body_len(&self) -> usize {
        match self {
            Self::Advertise(m) => m.body_len(),
            Self::SearchGw(m) => m.body_len(),
            Self::GwInfo(m) => m.body_len(),
            Self::Connect(m) => m.body_len(),
            Self::ConnAck(m) => m.body_len(),
            Self::WillTopicReq | Self::WillMsgReq | Self::PingResp => 0,
            Self::WillTopic(m) | Self::WillTopicUpd(m) => m.body_len(),
            Self::WillMsg(m) | Self::WillMsgUpd(m) => m.body_len(),
            Self::Register(m) => m.body_len(),
            Self::RegAck(m) => m.body_len(),
            Self::Publish(m) => m.body_len(),
            Self::PubAck(m) => m.body_len(),
            Self::PubComp(m) => m.body_len(),
            Self::PubRec(m) => m.body_len(),
            Self::PubRel(m) => m.body_len(),
            Self::Subscribe(m) => m.body_len(),
            Self::SubAck(m) => m.body_len(),
            Self::Unsubscribe(m) => m.body_len(),
            Self::UnsubAck(m) => m.body_len(),
            Self::PingReq(m) => m.body_len(),
            Self::Disconnect(m) => m.body_len(),
            Self::WillTopicResp(m) | Self::WillMsgResp(m) => m.body_len(),
            Self::Encapsulated(_) => 0,
        }
    }
}

/// Checks the length, then writes the header and, through `write_body`, the `body_len` octets of
/// the variable part into the start of `out`.
#[inline(always)]
fn emit(
    out: &mut [u8],
    msg_type: MsgType,
    body_len: usize,
    write_body: impl FnOnce(&mut Writer<'_>),
) -> Result<usize, EncodeError> {
    let len = header::message_len(body_len);
    // [SN-5.2.1-4] The 3-octet Length stops at 65 535.
    if len > MAX_MESSAGE_LEN {
        return Err(EncodeError::MessageTooLong);
    }
    let target = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
    let mut w = Writer::new(target);
    header::write(&mut w, len, msg_type);
    write_body(&mut w);
    debug_assert_eq!(w.position(), len, "body_len disagrees with write");
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MsgId, TopicId};

    #[test]
    fn a_buffer_one_octet_short_is_refused_and_left_untouched() {
        let message = Message::PubAck(PubAck {
            topic_id: TopicId(1),
            msg_id: MsgId(2),
            return_code: crate::ReturnCode::Accepted,
        });
        let mut out = [0xAA; 6];
        assert_eq!(
            message.encode_to_slice(&mut out),
            Err(EncodeError::BufferTooSmall)
        );
        assert_eq!(out, [0xAA; 6]);
        let mut out = [0xAA; 8];
        assert_eq!(message.encode_to_slice(&mut out), Ok(7));
        assert_eq!(out[7], 0xAA);
    }

    #[test]
    fn a_message_over_65535_octets_cannot_be_encoded() {
        // [SN-5.2.1-4] 65 531 octets of will message make exactly 65 535; one more is too many.
        let payload = [0u8; 65_532];
        let too_long = Message::WillMsg(WillMsg { message: &payload });
        assert_eq!(too_long.encoded_len(), 65_536);
        let mut out = [0u8; 65_536];
        assert_eq!(
            too_long.encode_to_slice(&mut out),
            Err(EncodeError::MessageTooLong)
        );
        let longest = Message::WillMsg(WillMsg {
            message: &payload[1..],
        });
        assert_eq!(longest.encode_to_slice(&mut out), Ok(65_535));
        assert_eq!(out[..4], [0x01, 0xFF, 0xFF, 0x09]);
    }
}

//! [`Packet`]: any of the fourteen control packets, and how a whole packet is encoded.
//!
//! Each packet type lives in its own file under `packet/`, in specification order, with its byte
//! layout, struct, decoding, encoding and tests. This file only dispatches between them and writes the
//! fixed header that all of them share. PINGREQ, PINGRESP and DISCONNECT have no body at all, so they
//! have no file and no struct: the variant is the whole packet.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::fixed_header::{
    FixedHeader, MAX_REMAINING_LENGTH, PacketType, put_fixed_header, remaining_length_len,
};
use crate::wire::{Sink, SliceSink};
use crate::{DecodeError, EncodeError, ProtocolLevel};

pub(crate) mod acks;
pub(crate) mod connack;
pub(crate) mod connect;
pub(crate) mod filter_request;
pub(crate) mod publish;
pub(crate) mod suback;
pub(crate) mod subscribe;
pub(crate) mod unsubscribe;

use acks::{PubAck, PubComp, PubRec, PubRel, UnsubAck};
use connack::ConnAck;
use connect::Connect;
use publish::Publish;
use suback::SubAck;
use subscribe::Subscribe;
use unsubscribe::Unsubscribe;

/// An MQTT control packet, borrowing its strings and payload from the bytes it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Client to server: open a session (3.1.1 §3.1).
    Connect(Connect<'a>),
    /// Server to client: the answer to CONNECT (3.1.1 §3.2).
    ConnAck(ConnAck),
    /// Either direction: an application message (3.1.1 §3.3).
    Publish(Publish<'a>),
    /// Either direction: QoS 1 acknowledgement (3.1.1 §3.4).
    PubAck(PubAck),
    /// Either direction: QoS 2, publish received (3.1.1 §3.5).
    PubRec(PubRec),
    /// Either direction: QoS 2, publish released (3.1.1 §3.6).
    PubRel(PubRel),
    /// Either direction: QoS 2, publish complete (3.1.1 §3.7).
    PubComp(PubComp),
    /// Client to server: subscribe to topic filters (3.1.1 §3.8).
    Subscribe(Subscribe<'a>),
    /// Server to client: the answer to SUBSCRIBE (3.1.1 §3.9).
    SubAck(SubAck<'a>),
    /// Client to server: unsubscribe from topic filters (3.1.1 §3.10).
    Unsubscribe(Unsubscribe<'a>),
    /// Server to client: the answer to UNSUBSCRIBE (3.1.1 §3.11).
    UnsubAck(UnsubAck),
    /// Client to server: are you there? (3.1.1 §3.12). No body.
    PingReq,
    /// Server to client: yes (3.1.1 §3.13). No body.
    PingResp,
    /// Client to server: a clean goodbye; the Will is discarded [MQTT-3.14.4-3]. No body.
    Disconnect,
}

impl<'a> Packet<'a> {
    /// The control packet type.
    #[inline]
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect => PacketType::Disconnect,
        }
    }

    /// The exact number of bytes [`encode`](Self::encode) writes, computed without encoding.
    #[inline]
    pub fn encoded_len(&self) -> usize {
        let body_len = self.body_len();
        1 + remaining_length_len(body_len) + body_len
    }

    /// Appends the packet, as spoken at `level`, to `out`, and returns how many bytes it added.
    ///
    /// `level` matters for CONNACK (3.1 has no Session Present) and SUBACK (3.1 has no failure code);
    /// a CONNECT carries its own level and ignores it. On error `out` is left as it was.
    #[cfg(feature = "alloc")]
    #[inline]
    pub fn encode(&self, level: ProtocolLevel, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let body_len = self.checked_body_len(level)?;
        let len = 1 + remaining_length_len(body_len) + body_len;
        out.reserve(len);
        self.write(level, body_len, out);
        Ok(len)
    }

    /// Writes the packet, as spoken at `level`, to the start of `out`, and returns its length.
    ///
    /// This needs no allocator. Fails with [`EncodeError::BufferTooSmall`] when `out` is shorter than
    /// [`encoded_len`](Self::encoded_len), before writing anything.
    #[inline]
    pub fn encode_to_slice(
        &self,
        level: ProtocolLevel,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let body_len = self.checked_body_len(level)?;
        let len = 1 + remaining_length_len(body_len) + body_len;
        let out = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
        let mut sink = SliceSink::new(out);
        self.write(level, body_len, &mut sink);
        debug_assert_eq!(
            sink.written(),
            len,
            "encoded_len disagrees with the encoder"
        );
        Ok(len)
    }

    /// The second decoding phase: the body of a packet whose fixed header has been read and whose
    /// bytes are all present.
    #[inline]
    pub(crate) fn decode_body(
        header: &FixedHeader,
        body: &'a [u8],
        level: ProtocolLevel,
    ) -> Result<Self, DecodeError> {
        // CONNECT names its own level, and so judges its own flags.
        if header.packet_type != PacketType::Connect {
            header.check_flags(level)?;
        }
        Ok(match header.packet_type {
            PacketType::Connect => Self::Connect(Connect::decode(header.flags, body)?),
            PacketType::ConnAck => Self::ConnAck(ConnAck::decode(body, level)?),
            PacketType::Publish => Self::Publish(Publish::decode(header.flags, body, level)?),
            PacketType::PubAck => Self::PubAck(PubAck::decode(body)?),
            PacketType::PubRec => Self::PubRec(PubRec::decode(body)?),
            PacketType::PubRel => Self::PubRel(PubRel::decode(body)?),
            PacketType::PubComp => Self::PubComp(PubComp::decode(body)?),
            PacketType::Subscribe => Self::Subscribe(Subscribe::decode(body, level)?),
            PacketType::SubAck => Self::SubAck(SubAck::decode(body, level)?),
            PacketType::Unsubscribe => Self::Unsubscribe(Unsubscribe::decode(body, level)?),
            PacketType::UnsubAck => Self::UnsubAck(UnsubAck::decode(body)?),
            // AUTH is 5.0's; at 3.1 and 3.1.1 type 15 is reserved (and refused by the fixed header
            // already, so this is only for completeness).
            PacketType::Auth => return Err(DecodeError::ReservedPacketType),
            PacketType::PingReq | PacketType::PingResp | PacketType::Disconnect => {
                if !body.is_empty() {
                    return Err(DecodeError::TrailingBytes);
                }
                match header.packet_type {
                    PacketType::PingReq => Self::PingReq,
                    PacketType::PingResp => Self::PingResp,
                    _ => Self::Disconnect,
                }
            }
        })
    }

    /// Refuses values the types allow but the protocol does not, and returns the body length.
    #[inline]
    fn checked_body_len(&self, level: ProtocolLevel) -> Result<usize, EncodeError> {
        match self {
            Self::Connect(connect) => connect.check()?,
            Self::ConnAck(connack) => connack.check()?,
            Self::Subscribe(subscribe) => subscribe.check()?,
            Self::SubAck(suback) => suback.check(level)?,
            Self::Unsubscribe(unsubscribe) => unsubscribe.check()?,
            _ => {}
        }
        let body_len = self.body_len();
        if body_len > MAX_REMAINING_LENGTH {
            return Err(EncodeError::PacketTooLarge);
        }
        Ok(body_len)
    }

    #[inline]
    fn body_len(&self) -> usize {
        match self {
            Self::Connect(connect) => connect.body_len(),
            Self::ConnAck(_) => 2,
            Self::Publish(publish) => publish.body_len(),
            Self::PubAck(_) | Self::PubRec(_) | Self::PubRel(_) | Self::PubComp(_) => 2,
            Self::UnsubAck(_) => 2,
            Self::Subscribe(subscribe) => subscribe.body_len(),
            Self::SubAck(suback) => suback.body_len(),
            Self::Unsubscribe(unsubscribe) => unsubscribe.body_len(),
            Self::PingReq | Self::PingResp | Self::Disconnect => 0,
        }
    }

    #[inline]
    fn first_byte(&self) -> u8 {
        let packet_type = self.packet_type();
        match self {
            Self::Publish(publish) => publish.first_byte(),
            // Every other type sends exactly the flags of Table 2.2 [MQTT-2.2.2-1].
            _ => (packet_type as u8) << 4 | packet_type.required_flags().unwrap_or(0),
        }
    }

    #[inline]
    fn write(&self, level: ProtocolLevel, body_len: usize, sink: &mut impl Sink) {
        put_fixed_header(sink, self.first_byte(), body_len);
        match self {
            Self::Connect(connect) => connect.write_body(sink),
            Self::ConnAck(connack) => connack.write_body(level, sink),
            Self::Publish(publish) => publish.write_body(sink),
            Self::PubAck(ack) => ack.write_body(sink),
            Self::PubRec(ack) => ack.write_body(sink),
            Self::PubRel(ack) => ack.write_body(sink),
            Self::PubComp(ack) => ack.write_body(sink),
            Self::Subscribe(subscribe) => subscribe.write_body(sink),
            Self::SubAck(suback) => suback.write_body(sink),
            Self::Unsubscribe(unsubscribe) => unsubscribe.write_body(sink),
            Self::UnsubAck(ack) => ack.write_body(sink),
            Self::PingReq | Self::PingResp | Self::Disconnect => {}
        }
    }
}

macro_rules! packet_from {
    ($($variant:ident($type:ty)),* $(,)?) => {
        $(
            impl<'a> From<$type> for Packet<'a> {
                fn from(packet: $type) -> Self {
                    Self::$variant(packet)
                }
            }
        )*
    };
}

packet_from! {
    Connect(Connect<'a>),
    ConnAck(ConnAck),
    Publish(Publish<'a>),
    PubAck(PubAck),
    PubRec(PubRec),
    PubRel(PubRel),
    PubComp(PubComp),
    Subscribe(Subscribe<'a>),
    SubAck(SubAck<'a>),
    Unsubscribe(Unsubscribe<'a>),
    UnsubAck(UnsubAck),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_malformed, assert_vector};
    use ProtocolLevel::Mqtt311;

    #[test]
    fn bodiless_packets() {
        assert_vector(Mqtt311, "c0 00   PINGREQ", Packet::PingReq);
        assert_vector(Mqtt311, "d0 00   PINGRESP", Packet::PingResp);
        assert_vector(Mqtt311, "e0 00   DISCONNECT", Packet::Disconnect);
    }

    #[test]
    fn bodiless_packets_refuse_a_body() {
        assert_malformed(Mqtt311, "c0 01 00", DecodeError::TrailingBytes);
        assert_malformed(Mqtt311, "e0 01 00", DecodeError::TrailingBytes);
    }

    #[test]
    fn disconnect_flags_refused_mqtt_3_14_1_1() {
        assert_malformed(Mqtt311, "e2 00", DecodeError::InvalidHeaderFlags);
    }

    #[test]
    fn slice_too_small_is_refused_before_writing() {
        let mut out = [0xAAu8; 1];
        assert_eq!(
            Packet::PingReq.encode_to_slice(Mqtt311, &mut out),
            Err(EncodeError::BufferTooSmall)
        );
        assert_eq!(out, [0xAA]);
    }
}

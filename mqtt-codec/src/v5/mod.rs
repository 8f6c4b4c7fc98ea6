//! MQTT 5.0: the third protocol level, with its own packet types beside the 3.1 and 3.1.1 ones.
//!
//! 5.0 keeps the fixed header and most field layouts of 3.1.1 but adds a property set to nearly every
//! packet ([`Properties`]), a Reason Code to every acknowledgement ([`ReasonCode`]), a body to
//! DISCONNECT, subscription options to SUBSCRIBE, and a fifteenth packet, AUTH. Its packets are
//! therefore separate types, in this module, named as the 3.1.1 ones are (`v5::Publish` beside
//! `Publish`), so that code written for 3.1.1 is untouched and code for 5.0 cannot forget a
//! property. They reuse what did not change: [`TopicName`](crate::TopicName),
//! [`TopicFilter`], [`PacketId`](crate::PacketId), [`Delivery`](crate::Delivery),
//! [`List`](crate::List), the fixed header and the primitive fields of `wire.rs`.
//!
//! The contract is the crate's: no I/O, incremental ([`Decoder::decode`] answers
//! [`Status::Partial`]), zero-copy (properties borrow the input and are
//! validated once), bounded, no panic on any input. Each rule is cited as `[MQTT5-x.y.z-n]`, and each
//! place where 5.0 differs from 3.1.1 as `V5-DIFF-n` (rows of `mqtt-v5-differences.md`). A decoding
//! error says which 5.0 Reason Code to answer with: [`DecodeError::reason_code`](crate::DecodeError::reason_code).
//!
//! A server does not know a connection's level until its CONNECT has arrived: [`connect_level`]
//! reads the level byte of a buffered CONNECT, so that the server can pick this decoder or the 3.1.1
//! one.
//!
//! ```
//! use mqtt_codec::v5::{self, Property, Properties};
//! use mqtt_codec::{Delivery, Status, TopicName};
//!
//! let properties = [Property::TopicAlias(1), Property::UserProperty("unit", "C")];
//! let publish = v5::Publish {
//!     topic: Some(TopicName::new("sensors/1/temperature")?),
//!     payload: b"21.5",
//!     delivery: Delivery::AtMostOnce,
//!     retain: false,
//!     properties: Properties::from_slice(&properties),
//! };
//! let mut bytes = Vec::new();
//! v5::Packet::from(publish).encode(&mut bytes)?;
//!
//! let Status::Complete((v5::Packet::Publish(decoded), used)) = v5::Decoder::new().decode(&bytes)? else {
//!     panic!("a whole PUBLISH");
//! };
//! assert_eq!(used, bytes.len());
//! assert_eq!(decoded.properties.topic_alias(), Some(1));
//! assert_eq!(decoded.properties.user_properties().collect::<Vec<_>>(), [("unit", "C")]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::fixed_header::{
    FixedHeader, MAX_PACKET_SIZE, MAX_REMAINING_LENGTH, PacketType, put_fixed_header,
    remaining_length_len,
};
use crate::wire::{Reader, SliceSink};
use crate::{DecodeError, EncodeError, Status, TopicFilter};

mod acks;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod properties;
mod publish;
mod reason;
mod suback;
mod subscribe;
mod unsubscribe;

pub use acks::{PubAck, PubComp, PubRec, PubRel};
pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::Disconnect;
pub use properties::{Properties, Property, PropertyContext, PropertyIter};
pub use publish::Publish;
pub use reason::ReasonCode;
pub use suback::{SubAck, UnsubAck};
pub use subscribe::{RetainHandling, Subscribe, Subscription, SubscriptionOptions};
pub use unsubscribe::Unsubscribe;

/// An MQTT 5.0 control packet, borrowing its strings, properties and payload from its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Client to server: open a session (5.0 §3.1).
    Connect(Connect<'a>),
    /// Server to client: the answer to CONNECT (5.0 §3.2).
    ConnAck(ConnAck<'a>),
    /// Either direction: an application message (5.0 §3.3).
    Publish(Publish<'a>),
    /// Either direction: QoS 1 acknowledgement (5.0 §3.4).
    PubAck(PubAck<'a>),
    /// Either direction: QoS 2, publish received (5.0 §3.5).
    PubRec(PubRec<'a>),
    /// Either direction: QoS 2, publish released (5.0 §3.6).
    PubRel(PubRel<'a>),
    /// Either direction: QoS 2, publish complete (5.0 §3.7).
    PubComp(PubComp<'a>),
    /// Client to server: subscribe (5.0 §3.8).
    Subscribe(Subscribe<'a>),
    /// Server to client: the answer to SUBSCRIBE (5.0 §3.9).
    SubAck(SubAck<'a>),
    /// Client to server: unsubscribe (5.0 §3.10).
    Unsubscribe(Unsubscribe<'a>),
    /// Server to client: the answer to UNSUBSCRIBE (5.0 §3.11).
    UnsubAck(UnsubAck<'a>),
    /// Client to server: are you there? (5.0 §3.12). No body.
    PingReq,
    /// Server to client: yes (5.0 §3.13). No body.
    PingResp,
    /// Either direction: the connection ends, and why (5.0 §3.14).
    Disconnect(Disconnect<'a>),
    /// Either direction: enhanced authentication (5.0 §3.15).
    Auth(Auth<'a>),
}

impl<'a> Packet<'a> {
    /// The control packet type.
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
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }

    /// The exact number of bytes [`encode`](Self::encode) writes, computed without encoding. A
    /// sender compares it with the peer's Maximum Packet Size [MQTT5-3.1.2-24] [MQTT5-3.2.2-15].
    #[inline]
    pub fn encoded_len(&self) -> usize {
        let body_len = self.body_len();
        1 + remaining_length_len(body_len) + body_len
    }

    /// Appends the packet to `out` and returns how many bytes it added. On error `out` is left as
    /// it was.
    #[cfg(feature = "alloc")]
    #[inline]
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let body_len = self.checked_body_len()?;
        let len = 1 + remaining_length_len(body_len) + body_len;
        // Sized first, then written through a slice: each small field becomes a bounds-checked
        // store instead of a `Vec` growth check and a `memcpy` call (see BENCHMARKS.md).
        let start = out.len();
        out.resize(start + len, 0);
        let mut sink = SliceSink::new(&mut out[start..]);
        self.write(body_len, &mut sink);
        debug_assert_eq!(
            sink.written(),
            len,
            "encoded_len disagrees with the encoder"
        );
        Ok(len)
    }

    /// Writes the packet to the start of `out` and returns its length; needs no allocator. Fails
    /// with [`EncodeError::BufferTooSmall`] before writing anything when `out` is too short.
    pub fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let body_len = self.checked_body_len()?;
        let len = 1 + remaining_length_len(body_len) + body_len;
        let out = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
        let mut sink = SliceSink::new(out);
        self.write(body_len, &mut sink);
        debug_assert_eq!(
            sink.written(),
            len,
            "encoded_len disagrees with the encoder"
        );
        Ok(len)
    }

    #[inline]
    fn decode_body(header: &FixedHeader, body: &'a [u8]) -> Result<Self, DecodeError> {
        // Every type's flags are fixed but PUBLISH's [MQTT5-2.1.3-1]; CONNECT checks its own after
        // its level, so that a 3.1 CONNECT is "unsupported", not "malformed".
        if header.packet_type != PacketType::Connect {
            header.check_flags(crate::ProtocolLevel::Mqtt311)?;
        }
        Ok(match header.packet_type {
            PacketType::Connect => Self::Connect(Connect::decode(header.flags, body)?),
            PacketType::ConnAck => Self::ConnAck(ConnAck::decode(body)?),
            PacketType::Publish => Self::Publish(Publish::decode(header.flags, body)?),
            PacketType::PubAck => Self::PubAck(PubAck::decode(body)?),
            PacketType::PubRec => Self::PubRec(PubRec::decode(body)?),
            PacketType::PubRel => Self::PubRel(PubRel::decode(body)?),
            PacketType::PubComp => Self::PubComp(PubComp::decode(body)?),
            PacketType::Subscribe => Self::Subscribe(Subscribe::decode(body)?),
            PacketType::SubAck => Self::SubAck(SubAck::decode(body)?),
            PacketType::Unsubscribe => Self::Unsubscribe(Unsubscribe::decode(body)?),
            PacketType::UnsubAck => Self::UnsubAck(UnsubAck::decode(body)?),
            PacketType::Disconnect => Self::Disconnect(Disconnect::decode(body)?),
            PacketType::Auth => Self::Auth(Auth::decode(body)?),
            PacketType::PingReq | PacketType::PingResp => {
                if !body.is_empty() {
                    return Err(DecodeError::TrailingBytes);
                }
                if header.packet_type == PacketType::PingReq {
                    Self::PingReq
                } else {
                    Self::PingResp
                }
            }
        })
    }

    #[inline]
    fn checked_body_len(&self) -> Result<usize, EncodeError> {
        match self {
            Self::Connect(packet) => packet.check()?,
            Self::ConnAck(packet) => packet.check()?,
            Self::Publish(packet) => packet.check()?,
            Self::PubAck(packet) => packet.check()?,
            Self::PubRec(packet) => packet.check()?,
            Self::PubRel(packet) => packet.check()?,
            Self::PubComp(packet) => packet.check()?,
            Self::Subscribe(packet) => packet.check()?,
            Self::SubAck(packet) => packet.check()?,
            Self::Unsubscribe(packet) => packet.check()?,
            Self::UnsubAck(packet) => packet.check()?,
            Self::Disconnect(packet) => packet.check()?,
            Self::Auth(packet) => packet.check()?,
            Self::PingReq | Self::PingResp => {}
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
            Self::Connect(packet) => packet.body_len(),
            Self::ConnAck(packet) => packet.body_len(),
            Self::Publish(packet) => packet.body_len(),
            Self::PubAck(packet) => packet.body_len(),
            Self::PubRec(packet) => packet.body_len(),
            Self::PubRel(packet) => packet.body_len(),
            Self::PubComp(packet) => packet.body_len(),
            Self::Subscribe(packet) => packet.body_len(),
            Self::SubAck(packet) => packet.body_len(),
            Self::Unsubscribe(packet) => packet.body_len(),
            Self::UnsubAck(packet) => packet.body_len(),
            Self::Disconnect(packet) => packet.body_len(),
            Self::Auth(packet) => packet.body_len(),
            Self::PingReq | Self::PingResp => 0,
        }
    }

    #[inline]
    fn first_byte(&self) -> u8 {
        let packet_type = self.packet_type();
        match self {
            Self::Publish(publish) => publish.first_byte(),
            _ => (packet_type as u8) << 4 | packet_type.required_flags().unwrap_or(0),
        }
    }

    #[inline]
    fn write(&self, body_len: usize, sink: &mut impl crate::wire::Sink) {
        put_fixed_header(sink, self.first_byte(), body_len);
        match self {
            Self::Connect(packet) => packet.write_body(sink),
            Self::ConnAck(packet) => packet.write_body(sink),
            Self::Publish(packet) => packet.write_body(sink),
            Self::PubAck(packet) => packet.write_body(sink),
            Self::PubRec(packet) => packet.write_body(sink),
            Self::PubRel(packet) => packet.write_body(sink),
            Self::PubComp(packet) => packet.write_body(sink),
            Self::Subscribe(packet) => packet.write_body(sink),
            Self::SubAck(packet) => packet.write_body(sink),
            Self::Unsubscribe(packet) => packet.write_body(sink),
            Self::UnsubAck(packet) => packet.write_body(sink),
            Self::Disconnect(packet) => packet.write_body(sink),
            Self::Auth(packet) => packet.write_body(sink),
            Self::PingReq | Self::PingResp => {}
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
    ConnAck(ConnAck<'a>),
    Publish(Publish<'a>),
    PubAck(PubAck<'a>),
    PubRec(PubRec<'a>),
    PubRel(PubRel<'a>),
    PubComp(PubComp<'a>),
    Subscribe(Subscribe<'a>),
    SubAck(SubAck<'a>),
    Unsubscribe(Unsubscribe<'a>),
    UnsubAck(UnsubAck<'a>),
    Disconnect(Disconnect<'a>),
    Auth(Auth<'a>),
}

/// Decodes MQTT 5.0 packets for one connection: the 5.0 counterpart of [`crate::Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    max_packet_size: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder that accepts packets up to the protocol's largest.
    pub const fn new() -> Self {
        Self {
            max_packet_size: MAX_PACKET_SIZE,
        }
    }

    /// Refuses packets whose total size exceeds `bytes`: the Maximum Packet Size this side
    /// announced (5.0 §3.1.2.11.4, §3.2.2.3.6). The refusal is
    /// [`DecodeError::PacketTooLarge`], answered with Reason Code 0x95.
    pub const fn with_max_packet_size(mut self, bytes: usize) -> Self {
        self.max_packet_size = bytes;
        self
    }

    /// The largest packet accepted, in bytes.
    pub const fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    /// The fixed header at the start of `bytes`, checked against the maximum packet size.
    #[inline]
    pub fn decode_header(&self, bytes: &[u8]) -> Result<Status<FixedHeader>, DecodeError> {
        let header = match FixedHeader::parse_v5(bytes)? {
            Status::Complete(header) => header,
            Status::Partial => return Ok(Status::Partial),
        };
        if header.packet_len() > self.max_packet_size {
            return Err(DecodeError::PacketTooLarge);
        }
        Ok(Status::Complete(header))
    }

    /// Decodes the packet at the start of `bytes`: the packet and the bytes it took, or
    /// [`Status::Partial`]. Never reads beyond the packet and never panics.
    #[inline]
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Status<(Packet<'a>, usize)>, DecodeError> {
        let header = match self.decode_header(bytes)? {
            Status::Complete(header) => header,
            Status::Partial => return Ok(Status::Partial),
        };
        let Some(body) = bytes.get(header.header_len..header.packet_len()) else {
            return Ok(Status::Partial);
        };
        let packet = Packet::decode_body(&header, body)?;
        Ok(Status::Complete((packet, header.packet_len())))
    }
}

/// The protocol level byte of the CONNECT at the start of `bytes` (without the bridge bit): 3, 4
/// or 5 for the three levels, anything else for a level nobody speaks. `None` when the packet is
/// not a CONNECT or does not name `MQTT` or `MQIsdp` (the 3.1.1 decoder then says why). Needs only
/// the first bytes of the packet, not all of it.
pub fn connect_level(bytes: &[u8]) -> Result<Status<Option<u8>>, DecodeError> {
    let header = match FixedHeader::parse(bytes)? {
        Status::Complete(header) => header,
        Status::Partial => return Ok(Status::Partial),
    };
    if header.packet_type != PacketType::Connect {
        return Ok(Status::Complete(None));
    }
    let body = bytes.get(header.header_len..).unwrap_or_default();
    let body = body.get(..header.remaining_length).unwrap_or(body);
    let mut reader = Reader::new(body);
    let complete = body.len() == header.remaining_length;
    match (reader.binary(), reader.u8()) {
        (Ok(b"MQTT" | b"MQIsdp"), Ok(level)) => Ok(Status::Complete(Some(level & 0x7F))),
        (Ok(_), Ok(_)) => Ok(Status::Complete(None)),
        _ if complete => Ok(Status::Complete(None)),
        _ => Ok(Status::Partial),
    }
}

/// Splits a shared subscription's filter `$share/{ShareName}/{filter}` into the ShareName and the
/// filter (5.0 §4.8.2). `Ok(None)` for a filter that is not shared; an error when it starts with
/// `$share/` but has no ShareName, a ShareName with a wildcard, or nothing after it
/// [MQTT5-4.8.2-1] [MQTT5-4.8.2-2]. (A `/` in the ShareName cannot occur: the first `/` ends it.)
pub fn shared_subscription(
    filter: TopicFilter<'_>,
) -> Result<Option<(&str, TopicFilter<'_>)>, DecodeError> {
    let Some(rest) = filter.as_str().strip_prefix("$share/") else {
        return Ok(None);
    };
    let (share_name, inner) = rest
        .split_once('/')
        .ok_or(DecodeError::InvalidTopicFilter)?;
    if share_name.is_empty() || share_name.contains(['+', '#']) {
        return Err(DecodeError::InvalidTopicFilter);
    }
    let inner = TopicFilter::new(inner).map_err(|_| DecodeError::InvalidTopicFilter)?;
    Ok(Some((share_name, inner)))
}

/// Authentication Data is a Protocol Error without an Authentication Method (5.0 §3.1.2.11.10,
/// §3.2.2.3.18, §3.15.2.2.3).
#[inline]
fn check_authentication(properties: &Properties<'_>) -> Result<(), DecodeError> {
    if properties.authentication_data().is_some() && properties.authentication_method().is_none() {
        return Err(DecodeError::AuthenticationDataWithoutMethod);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_malformed_v5, assert_vector_v5};

    #[test]
    fn pings() {
        assert_vector_v5("c0 00", Packet::PingReq);
        assert_vector_v5("d0 00", Packet::PingResp);
        assert_malformed_v5("c0 01 00", DecodeError::TrailingBytes);
    }

    #[test]
    fn remaining_length_must_be_minimal_mqtt5_1_5_5_1() {
        // A PINGREQ whose Remaining Length 0 is written in two bytes: fine at 3.1.1, not at 5.0.
        assert_malformed_v5("c0 80 00", DecodeError::MalformedVariableByteInteger);
        assert!(matches!(
            crate::Decoder::new(crate::ProtocolLevel::Mqtt311).decode(&[0xC0, 0x80, 0x00]),
            Ok(Status::Complete(_))
        ));
    }

    #[test]
    fn too_large_is_0x95() {
        let decoder = Decoder::new().with_max_packet_size(10);
        let error = decoder.decode(&[0x30, 0x20]).expect_err("too large");
        assert_eq!(error, DecodeError::PacketTooLarge);
        assert_eq!(error.reason_code(), ReasonCode::PACKET_TOO_LARGE);
    }

    #[test]
    fn connect_level_from_the_first_bytes() {
        let v5 = [0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05];
        assert_eq!(connect_level(&v5), Ok(Status::Complete(Some(5))));
        assert_eq!(connect_level(&v5[..8]), Ok(Status::Partial));
        let bridge_31 = [
            0x10, 0x11, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x83,
        ];
        assert_eq!(connect_level(&bridge_31), Ok(Status::Complete(Some(3))));
        assert_eq!(
            connect_level(&[0x10, 0x03, 0x00, 0x01, b'x']),
            Ok(Status::Complete(None))
        );
        assert_eq!(connect_level(&[0xC0, 0x00]), Ok(Status::Complete(None)));
        assert_eq!(
            connect_level(&[0x10, 0x01, 0x00]),
            Ok(Status::Complete(None))
        );
    }

    #[test]
    fn shared_subscription_syntax() {
        let split = |filter| shared_subscription(TopicFilter::new(filter).expect("a filter"));
        assert_eq!(
            split("$share/g/a/#").map(|shared| shared.map(|(name, f)| (name, f.as_str()))),
            Ok(Some(("g", "a/#")))
        );
        assert_eq!(split("a/b"), Ok(None));
        assert_eq!(split("$shared/g/a"), Ok(None));
        for bad in [
            "$share/",
            "$share//a",
            "$share/g",
            "$share/g/",
            "$share/+/a",
            "$share/#",
        ] {
            assert_eq!(split(bad), Err(DecodeError::InvalidTopicFilter), "{bad}");
        }
    }
}

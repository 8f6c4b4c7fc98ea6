//! [`Decoder`]: the incremental, zero-copy entry point, and [`Status`], its "need more bytes" answer.
//!
//! Decoding takes two phases (see `../ARCHITECTURE.md`). The fixed header comes first and tells the
//! packet's full length; an oversized packet is refused right there, before its body is buffered. Only
//! when every byte of the packet is present is the body decoded, in one pass, borrowing from the input.

use crate::fixed_header::{FixedHeader, MAX_PACKET_SIZE};
use crate::{DecodeError, Packet, ProtocolLevel};

/// The outcome of a decode that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status<T> {
    /// A complete value.
    Complete(T),
    /// The input ends before the value does: read more bytes and call again with all of them. This is
    /// not an error; it is what a stream looks like between reads.
    Partial,
}

/// Decodes packets for one connection, under the rules of one protocol level.
///
/// A server starts with any level: the first packet is CONNECT, which names its own. It then switches
/// to the level the CONNECT named with [`set_level`](Self::set_level). A client uses the level it
/// connected with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    level: ProtocolLevel,
    max_packet_size: usize,
}

impl Decoder {
    /// A decoder for `level` that accepts packets up to the protocol's largest, 268 435 460 bytes.
    #[inline]
    pub const fn new(level: ProtocolLevel) -> Self {
        Self {
            level,
            max_packet_size: MAX_PACKET_SIZE,
        }
    }

    /// Refuses packets whose total size, fixed header included, exceeds `bytes`.
    pub const fn with_max_packet_size(mut self, bytes: usize) -> Self {
        self.max_packet_size = bytes;
        self
    }

    /// Decodes under `level` from now on.
    pub const fn set_level(&mut self, level: ProtocolLevel) {
        self.level = level;
    }

    /// The protocol level packets are decoded under.
    pub const fn level(&self) -> ProtocolLevel {
        self.level
    }

    /// The largest packet accepted, in bytes.
    pub const fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    /// The first phase alone: the fixed header at the start of `bytes`, checked against the maximum
    /// packet size. Useful to a reader that wants to know how many bytes to wait for.
    #[inline]
    pub fn decode_header(&self, bytes: &[u8]) -> Result<Status<FixedHeader>, DecodeError> {
        let header = match FixedHeader::parse(bytes)? {
            Status::Complete(header) => header,
            Status::Partial => return Ok(Status::Partial),
        };
        if header.packet_len() > self.max_packet_size {
            return Err(DecodeError::PacketTooLarge);
        }
        Ok(Status::Complete(header))
    }

    /// Decodes the packet at the start of `bytes`.
    ///
    /// Answers the packet and the number of bytes it took, which the caller drops from its buffer
    /// before decoding the next one; or [`Status::Partial`] when `bytes` holds only part of a packet.
    /// Never reads beyond the packet, never claims more bytes than `bytes` holds, and never panics,
    /// whatever the input.
    #[inline]
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Status<(Packet<'a>, usize)>, DecodeError> {
        let header = match self.decode_header(bytes)? {
            Status::Complete(header) => header,
            Status::Partial => return Ok(Status::Partial),
        };
        let Some(body) = bytes.get(header.header_len..header.packet_len()) else {
            return Ok(Status::Partial);
        };
        let packet = Packet::decode_body(&header, body, self.level)?;
        Ok(Status::Complete((packet, header.packet_len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_packet_refused_from_the_header_alone() {
        let decoder = Decoder::new(ProtocolLevel::Mqtt311).with_max_packet_size(100);
        // A PUBLISH announcing 200 bytes, of which only the fixed header has arrived.
        assert_eq!(
            decoder.decode(&[0x30, 0xC8, 0x01]),
            Err(DecodeError::PacketTooLarge)
        );
        // Exactly at the limit: 2 header bytes + 98 body bytes is waited for, not refused.
        assert_eq!(decoder.decode(&[0x30, 0x62]), Ok(Status::Partial));
        assert_eq!(
            decoder.decode(&[0x30, 0x63]),
            Err(DecodeError::PacketTooLarge)
        );
    }

    #[test]
    fn level_can_change_after_connect() {
        let mut decoder = Decoder::new(ProtocolLevel::Mqtt311);
        decoder.set_level(ProtocolLevel::Mqtt31);
        assert_eq!(decoder.level(), ProtocolLevel::Mqtt31);
        // SUBSCRIBE re-sent with DUP, valid only at 3.1 ([V31-DIFF-27]).
        let bytes = [0x8A, 0x06, 0x00, 0x01, 0x00, 0x01, b'#', 0x00];
        assert!(matches!(decoder.decode(&bytes), Ok(Status::Complete(_))));
    }
}

//! The fixed header that starts every packet (3.1.1 §2.2): packet type, flags and Remaining Length.
//!
//! This is the first of the two decoding phases. From the first two to five bytes alone it learns how
//! long the whole packet is, so that a reader can refuse an oversized packet before buffering its body,
//! and wait for exactly the bytes it needs. It does not look inside the body.

use crate::{DecodeError, ProtocolLevel, Status};

/// The largest Remaining Length four bytes can encode (3.1.1 §2.2.3, Table 2.4).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// The largest packet on the wire: one type byte, four length bytes and the largest body.
pub const MAX_PACKET_SIZE: usize = 1 + 4 + MAX_REMAINING_LENGTH;

/// The control packet types (3.1.1 §2.2.1, Table 2.1; 5.0 §2.1.2, Table 2-1). Value 0 is reserved;
/// 15 is reserved at 3.1 and 3.1.1 and is AUTH at 5.0 (V5-DIFF-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // The names are the specification's.
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    /// MQTT 5.0 only.
    Auth = 15,
}

impl PacketType {
    /// The type in the high nibble of a packet's first byte, at 3.1 or 3.1.1 (where 15 is reserved).
    #[inline]
    pub const fn from_nibble(nibble: u8) -> Result<Self, DecodeError> {
        Ok(match nibble {
            1 => Self::Connect,
            2 => Self::ConnAck,
            3 => Self::Publish,
            4 => Self::PubAck,
            5 => Self::PubRec,
            6 => Self::PubRel,
            7 => Self::PubComp,
            8 => Self::Subscribe,
            9 => Self::SubAck,
            10 => Self::Unsubscribe,
            11 => Self::UnsubAck,
            12 => Self::PingReq,
            13 => Self::PingResp,
            14 => Self::Disconnect,
            // 0 and 15: reserved, forbidden in both directions (3.1.1 §2.2.1, [V31-DIFF-33]).
            _ => return Err(DecodeError::ReservedPacketType),
        })
    }

    /// The type in the high nibble of a packet's first byte, at 5.0, where 15 is AUTH (V5-DIFF-3).
    #[inline]
    pub const fn from_nibble_v5(nibble: u8) -> Result<Self, DecodeError> {
        match nibble {
            15 => Ok(Self::Auth),
            _ => Self::from_nibble(nibble),
        }
    }

    /// The flags Table 2.2 fixes for this type; `None` for PUBLISH, whose flags carry DUP, QoS and
    /// RETAIN [MQTT-2.2.2-1].
    #[inline]
    pub const fn required_flags(self) -> Option<u8> {
        match self {
            Self::Publish => None,
            // [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1], the same at 5.0 [MQTT5-3.6.1-1]
            // [MQTT5-3.8.1-1] [MQTT5-3.10.1-1]; AUTH's are 0000 [MQTT5-3.15.1-1].
            Self::PubRel | Self::Subscribe | Self::Unsubscribe => Some(0b0010),
            _ => Some(0b0000),
        }
    }
}

/// A decoded fixed header: what the packet is and how many bytes it spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedHeader {
    /// The control packet type.
    pub packet_type: PacketType,
    /// The low nibble of the first byte.
    pub flags: u8,
    /// The number of bytes after the fixed header: variable header plus payload.
    pub remaining_length: usize,
    /// The size of the fixed header itself, 2 to 5 bytes.
    pub header_len: usize,
}

impl FixedHeader {
    /// Decodes a fixed header from the start of `bytes`, which may hold less than a whole packet.
    ///
    /// Answers [`Status::Partial`] while the Remaining Length field is incomplete. A reserved packet
    /// type is refused from the first byte, and a Remaining Length longer than four bytes from the
    /// fifth (3.1.1 §2.2.3); neither waits for more input.
    #[inline]
    pub fn parse(bytes: &[u8]) -> Result<Status<Self>, DecodeError> {
        let Some(&first) = bytes.first() else {
            return Ok(Status::Partial);
        };
        Self::parse_as(PacketType::from_nibble(first >> 4)?, first, bytes)
    }

    /// [`parse`](Self::parse) at MQTT 5.0: type 15 is AUTH, and the Remaining Length must use the
    /// fewest bytes that hold it [MQTT5-1.5.5-1].
    #[inline]
    pub fn parse_v5(bytes: &[u8]) -> Result<Status<Self>, DecodeError> {
        let Some(&first) = bytes.first() else {
            return Ok(Status::Partial);
        };
        let status = Self::parse_as(PacketType::from_nibble_v5(first >> 4)?, first, bytes)?;
        if let Status::Complete(header) = &status
            && header.header_len != 1 + remaining_length_len(header.remaining_length)
        {
            return Err(DecodeError::MalformedVariableByteInteger);
        }
        Ok(status)
    }

    #[inline]
    fn parse_as(
        packet_type: PacketType,
        first: u8,
        bytes: &[u8],
    ) -> Result<Status<Self>, DecodeError> {
        // Most packets are under 128 bytes: a one-byte length needs no loop.
        if let Some(&len) = bytes.get(1)
            && len < 0x80
        {
            return Ok(Status::Complete(Self {
                packet_type,
                flags: first & 0x0F,
                remaining_length: usize::from(len),
                header_len: 2,
            }));
        }
        let mut remaining_length = 0usize;
        for (index, &byte) in bytes[1..].iter().take(4).enumerate() {
            remaining_length |= usize::from(byte & 0x7F) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(Status::Complete(Self {
                    packet_type,
                    flags: first & 0x0F,
                    remaining_length,
                    header_len: 2 + index,
                }));
            }
        }
        if bytes.len() >= 5 {
            Err(DecodeError::MalformedRemainingLength)
        } else {
            Ok(Status::Partial)
        }
    }

    /// The size of the whole packet: fixed header plus Remaining Length.
    #[inline]
    pub const fn packet_len(&self) -> usize {
        self.header_len + self.remaining_length
    }

    /// Checks the flags of every type but PUBLISH against Table 2.2 [MQTT-2.2.2-1]; a mismatch is
    /// malformed and closes the connection [MQTT-2.2.2-2]. MQTT 3.1 marks these bits "not used", and
    /// sets DUP on a re-sent PUBREL, SUBSCRIBE or UNSUBSCRIBE, so at that level they are disregarded
    /// ([V31-DIFF-26], [V31-DIFF-27]).
    #[inline]
    pub(crate) const fn check_flags(&self, level: ProtocolLevel) -> Result<(), DecodeError> {
        match self.packet_type.required_flags() {
            Some(required) if level.is_strict() && self.flags != required => {
                Err(DecodeError::InvalidHeaderFlags)
            }
            _ => Ok(()),
        }
    }
}

/// How many bytes the Remaining Length field takes for `len` (Table 2.4).
#[inline]
pub(crate) const fn remaining_length_len(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes the fixed header of a packet with the given first byte and Remaining Length, which the
/// caller has checked is at most [`MAX_REMAINING_LENGTH`].
#[inline]
pub(crate) fn put_fixed_header(sink: &mut impl crate::wire::Sink, first: u8, mut len: usize) {
    if len < 128 {
        sink.put(&[first, len as u8]);
        return;
    }
    let mut bytes = [first, 0, 0, 0, 0];
    let mut used = 1;
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        bytes[used] = byte;
        used += 1;
        if len == 0 || used == bytes.len() {
            break;
        }
    }
    sink.put(&bytes[..used]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Status<FixedHeader>, DecodeError> {
        FixedHeader::parse(bytes)
    }

    fn encode_len(len: usize) -> ([u8; 5], usize) {
        let mut out = [0u8; 5];
        let mut sink = crate::wire::SliceSink::new(&mut out);
        put_fixed_header(&mut sink, 0x30, len);
        let used = sink.written();
        (out, used)
    }

    #[test]
    fn remaining_length_boundaries_of_table_2_4() {
        let cases: &[(usize, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for &(len, encoded) in cases {
            let (out, used) = encode_len(len);
            assert_eq!(&out[1..used], encoded, "encoding {len}");
            assert_eq!(remaining_length_len(len), encoded.len(), "size of {len}");
            let mut bytes = alloc::vec![0x30];
            bytes.extend_from_slice(encoded);
            let header = match parse(&bytes) {
                Ok(Status::Complete(header)) => header,
                other => panic!("{len}: {other:?}"),
            };
            assert_eq!(header.remaining_length, len);
            assert_eq!(header.header_len, 1 + encoded.len());
        }
    }

    #[test]
    fn fifth_length_byte_is_malformed() {
        // 268 435 456 would need a fifth byte: the fourth has its continuation bit set.
        assert_eq!(
            parse(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(DecodeError::MalformedRemainingLength)
        );
        assert_eq!(
            parse(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(DecodeError::MalformedRemainingLength)
        );
    }

    #[test]
    fn non_minimal_length_is_accepted() {
        // Zero written in two bytes. 3.1.1 §2.2.3 describes the shortest form but does not require
        // it of a sender (docs/mqtt-ambiguities.md, "Remaining Length in more bytes than needed").
        let header = match parse(&[0xC0, 0x80, 0x00]) {
            Ok(Status::Complete(header)) => header,
            other => panic!("{other:?}"),
        };
        assert_eq!((header.remaining_length, header.header_len), (0, 3));
    }

    #[test]
    fn incomplete_length_is_partial() {
        assert_eq!(parse(&[]), Ok(Status::Partial));
        assert_eq!(parse(&[0x30]), Ok(Status::Partial));
        assert_eq!(parse(&[0x30, 0x80, 0x80, 0x80]), Ok(Status::Partial));
    }

    #[test]
    fn reserved_packet_types_are_refused_from_the_first_byte() {
        assert_eq!(parse(&[0x00]), Err(DecodeError::ReservedPacketType));
        assert_eq!(parse(&[0xF0]), Err(DecodeError::ReservedPacketType));
    }

    #[test]
    fn flags_are_checked_at_3_1_1_only_mqtt_2_2_2_2() {
        let header = |first: u8| match parse(&[first, 0]) {
            Ok(Status::Complete(header)) => header,
            other => panic!("{other:?}"),
        };
        // SUBSCRIBE must be 0x82 [MQTT-3.8.1-1]; MQTT 3.1 re-sends it as 0x8A ([V31-DIFF-27]).
        assert_eq!(header(0x82).check_flags(ProtocolLevel::Mqtt311), Ok(()));
        assert_eq!(
            header(0x8A).check_flags(ProtocolLevel::Mqtt311),
            Err(DecodeError::InvalidHeaderFlags)
        );
        assert_eq!(header(0x8A).check_flags(ProtocolLevel::Mqtt31), Ok(()));
        // DISCONNECT with a flag bit [MQTT-3.14.1-1].
        assert_eq!(
            header(0xE1).check_flags(ProtocolLevel::Mqtt311),
            Err(DecodeError::InvalidHeaderFlags)
        );
        // PUBLISH flags are not reserved.
        assert_eq!(header(0x3F).check_flags(ProtocolLevel::Mqtt311), Ok(()));
    }
}

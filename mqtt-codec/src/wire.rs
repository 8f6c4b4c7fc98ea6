//! The primitive fields every packet is made of (3.1.1 §1.5): bytes, two-byte integers, length-prefixed
//! strings and binary data, read from a packet body and written to a sink.
//!
//! Reading never panics and never reads past the body it was given: a field that does not fit is
//! [`DecodeError::UnexpectedEndOfPacket`]. Writing is infallible because every encoder checks the
//! packet and reserves its exact length before it writes the first byte.

use crate::DecodeError;

/// A cursor over one packet's body (everything after the fixed header).
///
/// `pub` only so that the sealed `list::sealed::Entry` trait may name it; this module is private, so
/// nothing outside the crate can.
#[derive(Debug, Clone, Copy)]
#[allow(unreachable_pub)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline]
    pub(crate) const fn new(body: &'a [u8]) -> Self {
        Self { rest: body }
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&byte, rest) = self
            .rest
            .split_first()
            .ok_or(DecodeError::UnexpectedEndOfPacket)?;
        self.rest = rest;
        Ok(byte)
    }

    /// A two-byte big-endian integer (3.1.1 §1.5.2).
    #[inline]
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// A four-byte big-endian integer (5.0 §1.5.3).
    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// A Variable Byte Integer (5.0 §1.5.5): at most four bytes, and in the fewest bytes that can hold
    /// the value [MQTT5-1.5.5-1]. 3.1.1 uses the same encoding for the Remaining Length only, and does
    /// not require the shortest form (a difference `mqtt-v5-differences.md` does not list).
    #[inline]
    pub(crate) fn var_int(&mut self) -> Result<u32, DecodeError> {
        let mut value = 0u32;
        for index in 0..4 {
            let byte = self.u8()?;
            value |= u32::from(byte & 0x7F) << (7 * index);
            if byte & 0x80 == 0 {
                // A last byte of zero after the first adds nothing: a longer form than needed.
                if index > 0 && byte == 0 {
                    return Err(DecodeError::MalformedVariableByteInteger);
                }
                return Ok(value);
            }
        }
        Err(DecodeError::MalformedVariableByteInteger)
    }

    /// Binary data: a two-byte length, then that many bytes (3.1.1 §3.1.3.3).
    #[inline]
    pub(crate) fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 encoded string (3.1.1 §1.5.3): well-formed [MQTT-1.5.3-1], without U+0000
    /// [MQTT-1.5.3-2]. Rust's UTF-8 check already refuses encoded surrogates and overlong forms. A BOM
    /// (EF BB BF) is kept as U+FEFF, never stripped [MQTT-1.5.3-3].
    #[inline]
    pub(crate) fn string(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.binary()?;
        utf8(bytes)
    }

    /// A string checked by the rules of [`string`](Self::string) but not returned: an empty string
    /// stands in for it. Short ASCII strings without U+0000, which most property names and values
    /// are, are recognised in one pass over the bytes without the general UTF-8 check.
    #[inline]
    pub(crate) fn checked_string(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.binary()?;
        // 1..=127 is ASCII other than U+0000: subtracting 1 maps it to 0..=126, and U+0000 to 255.
        if !bytes.iter().all(|&byte| byte.wrapping_sub(1) < 0x7F) {
            utf8(bytes)?;
        }
        Ok("")
    }

    /// A string checked for UTF-8 only: for topics, whose constructors look for U+0000 in the same
    /// pass as the wildcards, so that the bytes are scanned once.
    #[inline]
    pub(crate) fn topic_string(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.binary()?;
        core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// Everything left in the body.
    #[inline]
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Ends the body: bytes left after the last field make the packet malformed.
    #[inline]
    pub(crate) const fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }

    #[inline]
    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < len {
            return Err(DecodeError::UnexpectedEndOfPacket);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }
}

/// The largest value a Variable Byte Integer holds (5.0 §1.5.5, Table 1-1).
pub(crate) const MAX_VAR_INT: u32 = 268_435_455;

/// How many bytes the Variable Byte Integer for `value` takes (5.0 Table 1-1).
#[inline]
pub(crate) const fn var_int_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Checks the MQTT string rules on raw bytes [MQTT-1.5.3-1] [MQTT-1.5.3-2].
#[inline]
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    let string = core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
    if contains_any(bytes, [0, 0, 0]) {
        return Err(DecodeError::NullCharacter);
    }
    Ok(string)
}

/// Whether `bytes` contains any of the three `needles`, eight bytes at a time.
///
/// Strings in MQTT are short (a topic is typically 10 to 60 bytes), where `memchr`'s set-up costs more
/// than the search, and a topic needs three bytes looked for at once (U+0000, `+` and `#`). This is
/// the classic "has a zero byte" word trick: `x - 0x01…01` borrows into the high bit of each byte
/// that was zero, and `& !x` discards bytes whose high bit was already set.
#[inline]
pub(crate) fn contains_any(bytes: &[u8], needles: [u8; 3]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS != 0;
    let [a, b, c] = needles.map(|needle| ONES * u64::from(needle));
    let has_needle =
        |word: u64| has_zero_byte(word ^ a) | has_zero_byte(word ^ b) | has_zero_byte(word ^ c);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if has_needle(u64::from_ne_bytes(word)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|byte| needles.contains(byte))
}

/// Where encoded bytes go: a growable `Vec<u8>`, or a caller's fixed slice.
///
/// `pub` for the same reason as [`Reader`].
#[allow(unreachable_pub)]
pub trait Sink {
    fn put(&mut self, bytes: &[u8]);

    #[inline]
    fn put_u8(&mut self, byte: u8) {
        self.put(&[byte]);
    }

    #[inline]
    fn put_u16(&mut self, value: u16) {
        self.put(&value.to_be_bytes());
    }

    #[inline]
    fn put_u32(&mut self, value: u32) {
        self.put(&value.to_be_bytes());
    }

    /// A Variable Byte Integer in its shortest form [MQTT5-1.5.5-1]; the caller has checked that the
    /// value is at most [`MAX_VAR_INT`].
    #[inline]
    fn put_var_int(&mut self, mut value: u32) {
        let mut bytes = [0u8; 4];
        let mut used = 0;
        loop {
            let mut byte = (value % 128) as u8;
            value /= 128;
            if value > 0 {
                byte |= 0x80;
            }
            bytes[used] = byte;
            used += 1;
            if value == 0 || used == bytes.len() {
                break;
            }
        }
        self.put(&bytes[..used]);
    }

    /// A length-prefixed string or binary field. The caller has checked that it fits in 65 535 bytes.
    #[inline]
    fn put_prefixed(&mut self, bytes: &[u8]) {
        self.put_u16(bytes.len() as u16);
        self.put(bytes);
    }
}

#[cfg(feature = "alloc")]
impl Sink for alloc::vec::Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A sink over a slice that the encoder has already checked is long enough.
pub(crate) struct SliceSink<'b> {
    out: &'b mut [u8],
    written: usize,
}

impl<'b> SliceSink<'b> {
    pub(crate) const fn new(out: &'b mut [u8]) -> Self {
        Self { out, written: 0 }
    }

    pub(crate) const fn written(&self) -> usize {
        self.written
    }
}

impl Sink for SliceSink<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.written + bytes.len();
        self.out[self.written..end].copy_from_slice(bytes);
        self.written = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_refuses_ill_formed_utf8_mqtt_1_5_3_1() {
        // ED A0 80 is U+D800, a surrogate, encoded as if it were a character.
        assert_eq!(
            Reader::new(&[0, 3, 0xED, 0xA0, 0x80]).string(),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(
            Reader::new(&[0, 1, 0xFF]).string(),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn string_refuses_null_character_mqtt_1_5_3_2() {
        assert_eq!(
            Reader::new(&[0, 3, b'a', 0, b'b']).string(),
            Err(DecodeError::NullCharacter)
        );
    }

    #[test]
    fn string_keeps_byte_order_mark_mqtt_1_5_3_3() {
        assert_eq!(
            Reader::new(&[0, 4, 0xEF, 0xBB, 0xBF, b'a']).string(),
            Ok("\u{FEFF}a")
        );
    }

    #[test]
    fn short_fields_are_unexpected_end_not_panics() {
        assert_eq!(
            Reader::new(&[0]).u16(),
            Err(DecodeError::UnexpectedEndOfPacket)
        );
        assert_eq!(
            Reader::new(&[0, 5, b'a']).binary(),
            Err(DecodeError::UnexpectedEndOfPacket)
        );
        assert_eq!(
            Reader::new(&[]).u8(),
            Err(DecodeError::UnexpectedEndOfPacket)
        );
    }

    #[test]
    fn contains_any_finds_each_needle_at_every_position() {
        for len in 0..40 {
            let clean = alloc::vec![b'a'; len];
            assert!(!contains_any(&clean, [0, b'+', b'#']), "clean, {len}");
            for at in 0..len {
                for needle in [0, b'+', b'#'] {
                    let mut dirty = clean.clone();
                    dirty[at] = needle;
                    assert!(
                        contains_any(&dirty, [0, b'+', b'#']),
                        "{needle} at {at} of {len}"
                    );
                }
            }
        }
        // Bytes with the high bit set are not mistaken for needles.
        assert!(!contains_any(
            &[0x80, 0xFF, 0xAB, 0xA3, 0x81, 0xC0, 0xE0, 0xF0, 0x90],
            [0, b'+', b'#']
        ));
    }

    #[test]
    fn var_int_round_trips_at_every_boundary() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            MAX_VAR_INT,
        ] {
            let mut out = alloc::vec::Vec::new();
            out.put_var_int(value);
            assert_eq!(out.len(), var_int_len(value), "{value}");
            let mut reader = Reader::new(&out);
            assert_eq!(reader.var_int(), Ok(value));
            assert!(reader.is_empty());
        }
    }

    #[test]
    fn var_int_refuses_longer_than_needed_mqtt5_1_5_5_1() {
        // 0 as two bytes, 127 as two bytes, 128 as three.
        for bytes in [&[0x80, 0x00][..], &[0xFF, 0x00], &[0x80, 0x81, 0x00]] {
            assert_eq!(
                Reader::new(bytes).var_int(),
                Err(DecodeError::MalformedVariableByteInteger),
                "{bytes:02x?}"
            );
        }
        // A fifth byte is never allowed.
        assert_eq!(
            Reader::new(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]).var_int(),
            Err(DecodeError::MalformedVariableByteInteger)
        );
        assert_eq!(
            Reader::new(&[0x80]).var_int(),
            Err(DecodeError::UnexpectedEndOfPacket)
        );
    }

    #[test]
    fn finish_refuses_trailing_bytes() {
        assert_eq!(Reader::new(&[1]).finish(), Err(DecodeError::TrailingBytes));
        assert_eq!(Reader::new(&[]).finish(), Ok(()));
    }
}

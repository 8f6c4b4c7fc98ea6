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
    pub(crate) const fn new(body: &'a [u8]) -> Self {
        Self { rest: body }
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&byte, rest) = self
            .rest
            .split_first()
            .ok_or(DecodeError::UnexpectedEndOfPacket)?;
        self.rest = rest;
        Ok(byte)
    }

    /// A two-byte big-endian integer (3.1.1 §1.5.2).
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// Binary data: a two-byte length, then that many bytes (3.1.1 §3.1.3.3).
    pub(crate) fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 encoded string (3.1.1 §1.5.3): well-formed [MQTT-1.5.3-1], without U+0000
    /// [MQTT-1.5.3-2]. Rust's UTF-8 check already refuses encoded surrogates and overlong forms. A BOM
    /// (EF BB BF) is kept as U+FEFF, never stripped [MQTT-1.5.3-3].
    pub(crate) fn string(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.binary()?;
        utf8(bytes)
    }

    /// Everything left in the body.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Ends the body: bytes left after the last field make the packet malformed.
    pub(crate) const fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < len {
            return Err(DecodeError::UnexpectedEndOfPacket);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }
}

/// Checks the MQTT string rules on raw bytes [MQTT-1.5.3-1] [MQTT-1.5.3-2].
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    let string = core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
    if bytes.contains(&0) {
        return Err(DecodeError::NullCharacter);
    }
    Ok(string)
}

/// Where encoded bytes go: a growable `Vec<u8>`, or a caller's fixed slice.
///
/// `pub` for the same reason as [`Reader`].
#[allow(unreachable_pub)]
pub trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn put_u8(&mut self, byte: u8) {
        self.put(&[byte]);
    }

    fn put_u16(&mut self, value: u16) {
        self.put(&value.to_be_bytes());
    }

    /// A length-prefixed string or binary field. The caller has checked that it fits in 65 535 bytes.
    fn put_prefixed(&mut self, bytes: &[u8]) {
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        self.put_u16(len);
        self.put(bytes);
    }
}

#[cfg(feature = "alloc")]
impl Sink for alloc::vec::Vec<u8> {
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
    fn put(&mut self, bytes: &[u8]) {
        let end = self.written + bytes.len();
        self.out[self.written..end].copy_from_slice(bytes);
        self.written = end;
    }
}

/// The encoded size of a length-prefixed field, or `FieldTooLong` past 65 535 bytes.
pub(crate) fn prefixed_len(bytes: &[u8]) -> Result<usize, crate::EncodeError> {
    if bytes.len() > usize::from(u16::MAX) {
        Err(crate::EncodeError::FieldTooLong)
    } else {
        Ok(2 + bytes.len())
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
    fn finish_refuses_trailing_bytes() {
        assert_eq!(Reader::new(&[1]).finish(), Err(DecodeError::TrailingBytes));
        assert_eq!(Reader::new(&[]).finish(), Ok(()));
    }
}

//! The primitive fields every message is made of (§5.3): octets and two-octet integers, most
//! significant octet first, read from a variable part and written to an output slice.
//!
//! Reading never panics and never reads past the variable part it was given: a field that does not
//! fit, or octets left after the last field, are [`DecodeError::BodyLength`] for the message being
//! read. Writing cannot fail: every encoder checks the message and computes its exact length before
//! it writes the first octet, into a slice of exactly that length.

use crate::{DecodeError, MsgType};

/// A cursor over one message's variable part.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    msg_type: MsgType,
}

impl<'a> Reader<'a> {
    #[inline]
    pub(crate) const fn new(body: &'a [u8], msg_type: MsgType) -> Self {
        Self {
            rest: body,
            msg_type,
        }
    }

    /// The error for a variable part of the wrong size, naming the message's format rule.
    #[inline]
    pub(crate) const fn wrong_size(&self) -> DecodeError {
        DecodeError::BodyLength(self.msg_type)
    }

    #[inline]
    pub(crate) const fn remaining(&self) -> usize {
        self.rest.len()
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&byte, rest) = self.rest.split_first().ok_or(self.wrong_size())?;
        self.rest = rest;
        Ok(byte)
    }

    /// A two-octet integer, most significant octet first (§5.3.3, §5.3.7, §5.3.11).
    #[inline]
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let [msb, lsb] = self.array()?;
        Ok(u16::from_be_bytes([msb, lsb]))
    }

    #[inline]
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(self.wrong_size())?;
        self.rest = rest;
        Ok(*head)
    }

    /// Everything left: the last, variable-length field of a message.
    #[inline]
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Ends the variable part: octets left after the last field make the message malformed.
    #[inline]
    pub(crate) const fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.wrong_size())
        }
    }
}

/// A cursor over an output slice that the caller sized exactly.
///
/// Writing past the end would be a bug in a length computation, not bad input; the unit tests and the
/// round-trip properties check that `encoded_len` and the bytes written always agree.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    #[inline]
    pub(crate) const fn new(out: &'a mut [u8]) -> Self {
        Self { out, pos: 0 }
    }

    #[inline]
    pub(crate) fn u8(&mut self, byte: u8) {
        self.out[self.pos] = byte;
        self.pos += 1;
    }

    /// A two-octet integer, most significant octet first.
    #[inline]
    pub(crate) fn u16(&mut self, value: u16) {
        self.bytes(&value.to_be_bytes());
    }

    #[inline]
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        self.out[self.pos..end].copy_from_slice(bytes);
        self.pos = end;
    }

    /// How many octets were written.
    #[inline]
    pub(crate) const fn position(&self) -> usize {
        self.pos
    }
}

//! [`List`]: the borrowed, allocation-free sequence inside SUBSCRIBE, UNSUBSCRIBE and SUBACK.
//!
//! Those three packets carry a variable number of entries (filters with a QoS, filters, return codes).
//! Decoding must not allocate, and encoding must work from a plain slice, so a list is either the
//! validated bytes of a decoded packet or a slice of values built by the caller. Both iterate the same
//! way and compare equal when their entries do.
//!
//! Iterating decoded bytes parses each entry again. That is deliberate: the crate forbids `unsafe`, so
//! it cannot turn already-checked bytes back into `&str` without checking them, and the entries were all
//! checked once when the packet was decoded, so the second parse cannot fail.

use core::fmt;

use crate::wire::{Reader, Sink};
use crate::{DecodeError, ProtocolLevel};

pub(crate) mod sealed {
    use super::{DecodeError, ProtocolLevel, Reader, Sink};

    /// One entry of a [`List`](super::List): how it is read and written.
    pub trait Entry<'a>: Copy + Sized {
        fn read(reader: &mut Reader<'a>, level: ProtocolLevel) -> Result<Self, DecodeError>;
        fn encoded_len(&self) -> usize;
        fn write(&self, sink: &mut impl Sink);
    }
}

use sealed::Entry;

/// A sequence of entries, borrowed from a decoded packet or from the caller.
pub struct List<'a, T> {
    repr: Repr<'a, T>,
}

enum Repr<'a, T> {
    /// Entries still in wire form, all validated at decode time.
    Wire {
        bytes: &'a [u8],
        level: ProtocolLevel,
        count: usize,
    },
    /// Entries given by the caller.
    Slice(&'a [T]),
}

impl<'a, T> List<'a, T> {
    /// A list of the given entries, for encoding.
    pub const fn from_slice(entries: &'a [T]) -> Self {
        Self {
            repr: Repr::Slice(entries),
        }
    }
}

impl<'a, T: Entry<'a>> List<'a, T> {
    /// The entries in order.
    pub fn iter(&self) -> Iter<'a, T> {
        Iter {
            repr: match self.repr {
                Repr::Wire { bytes, level, .. } => IterRepr::Wire {
                    reader: Reader::new(bytes),
                    level,
                },
                Repr::Slice(entries) => IterRepr::Slice(entries.iter()),
            },
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        match self.repr {
            Repr::Wire { count, .. } => count,
            Repr::Slice(entries) => entries.len(),
        }
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Validates every entry of `bytes` (the rest of a packet body) and keeps them borrowed.
    pub(crate) fn decode(bytes: &'a [u8], level: ProtocolLevel) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let mut count = 0;
        while !reader.is_empty() {
            T::read(&mut reader, level)?;
            count += 1;
        }
        Ok(Self {
            repr: Repr::Wire {
                bytes,
                level,
                count,
            },
        })
    }

    pub(crate) fn encoded_len(&self) -> usize {
        match self.repr {
            // Decoded entries are re-encoded exactly as they arrived.
            Repr::Wire { bytes, .. } => bytes.len(),
            Repr::Slice(entries) => entries.iter().map(T::encoded_len).sum(),
        }
    }

    pub(crate) fn write(&self, sink: &mut impl Sink) {
        for entry in self.iter() {
            entry.write(sink);
        }
    }
}

impl<T> Clone for List<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for List<'_, T> {}

impl<T> Clone for Repr<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Repr<'_, T> {}

impl<'a, T: Entry<'a> + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: Entry<'a> + Eq> Eq for List<'a, T> {}

impl<'a, T: Entry<'a> + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: Entry<'a>> IntoIterator for List<'a, T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// An iterator over the entries of a [`List`].
pub struct Iter<'a, T> {
    repr: IterRepr<'a, T>,
}

enum IterRepr<'a, T> {
    Wire {
        reader: Reader<'a>,
        level: ProtocolLevel,
    },
    Slice(core::slice::Iter<'a, T>),
}

impl<'a, T: Entry<'a>> Iterator for Iter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match &mut self.repr {
            IterRepr::Wire { reader, level } if !reader.is_empty() => {
                // Validated when decoded: this parse cannot fail (see the module doc).
                T::read(reader, *level).ok()
            }
            IterRepr::Wire { .. } => None,
            IterRepr::Slice(entries) => entries.next().copied(),
        }
    }
}

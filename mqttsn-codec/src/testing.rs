//! The one helper every message file's tests use to check a hex vector (compiled for tests only).
//!
//! A vector is written as hex with the fields separated by `|`, each file annotating the fields in a
//! comment beside it. The check is the same for every message: decode gives the expected message,
//! encode gives the same octets back (both into a slice and appended to a `Vec`), the announced length
//! is exact, and every proper prefix and every one-octet extension of the datagram is refused with an
//! error, never a panic.

use std::vec::Vec;

use crate::{DecodeError, EncodeError, Message};

/// Octets from hex digits; spaces and `|` separate fields and are ignored.
pub(crate) fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'|')
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => panic!("not a hex digit: {}", char::from(b)),
        })
        .collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {text:?}"
    );
    digits
        .chunks(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect()
}

/// Checks that `text` decodes to `expected` and that `expected` encodes to `text` again.
pub(crate) fn check(text: &str, expected: &Message<'_>) {
    let bytes = hex(text);
    check_decode(&bytes, expected);
    check_encode(&bytes, expected);
}

/// Checks decoding only: for datagrams that decode but that this encoder writes differently (the
/// 3-octet Length on a short message, unused flags set).
pub(crate) fn check_decode(bytes: &[u8], expected: &Message<'_>) {
    assert_eq!(
        Message::decode(bytes).as_ref(),
        Ok(expected),
        "decoding {bytes:02x?}"
    );
    for end in 0..bytes.len() {
        assert!(
            Message::decode(&bytes[..end]).is_err(),
            "the {end}-octet prefix of {bytes:02x?} decoded"
        );
    }
    for extra in [0x00, 0x17, 0xFF] {
        let mut longer = bytes.to_vec();
        longer.push(extra);
        assert!(
            Message::decode(&longer).is_err(),
            "{bytes:02x?} extended with {extra:02x} decoded"
        );
    }
}

/// Checks that `message` encodes to exactly `bytes`, by both encoders.
pub(crate) fn check_encode(bytes: &[u8], message: &Message<'_>) {
    assert_eq!(
        message.encoded_len(),
        bytes.len(),
        "encoded_len of {message:?}"
    );
    let mut out = std::vec![0xAA; bytes.len() + 1];
    assert_eq!(message.encode_to_slice(&mut out), Ok(bytes.len()));
    assert_eq!(&out[..bytes.len()], bytes, "encode_to_slice of {message:?}");
    assert_eq!(
        message.encode_to_slice(&mut out[..bytes.len() - 1]),
        Err(EncodeError::BufferTooSmall)
    );
    #[cfg(feature = "alloc")]
    {
        let mut appended = std::vec![0x42];
        assert_eq!(message.encode(&mut appended), Ok(bytes.len()));
        assert_eq!(&appended[1..], bytes, "encode of {message:?}");
    }
}

/// Checks that `text` is refused with `error`.
pub(crate) fn refuse(text: &str, error: DecodeError) {
    assert_eq!(Message::decode(&hex(text)), Err(error), "decoding {text}");
}

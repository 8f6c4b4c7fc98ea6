//! The one helper every hex-vector test goes through (compiled for tests only).
//!
//! A vector is written as annotated hex: on each line, bytes separated by single spaces, then two or
//! more spaces and a comment naming the field. [`assert_vector`] checks all that a vector can tell:
//! decoding gives the expected packet, every proper prefix is "need more bytes", a following packet
//! is not consumed, and encoding gives the same bytes back.

extern crate std;

use alloc::vec::Vec;
use std::format;

use crate::{DecodeError, Decoder, Packet, ProtocolLevel, Status};

/// The bytes of an annotated hex vector.
pub(crate) fn hex(annotated: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in annotated.lines() {
        let line = line.trim_start();
        let hex_part = line.split("  ").next().unwrap_or_default();
        for token in hex_part.split_whitespace() {
            let byte = u8::from_str_radix(token, 16)
                .unwrap_or_else(|_| panic!("bad hex byte {token:?} in line {line:?}"));
            bytes.push(byte);
        }
    }
    bytes
}

/// Decodes, checks every prefix is partial, and checks nothing beyond the packet is consumed.
fn decode_checked<'a>(level: ProtocolLevel, bytes: &'a [u8]) -> Packet<'a> {
    let decoder = Decoder::new(level);
    for cut in 0..bytes.len() {
        assert_eq!(
            decoder.decode(&bytes[..cut]),
            Ok(Status::Partial),
            "prefix of {cut} of {} bytes",
            bytes.len()
        );
    }
    let packet = match decoder.decode(bytes) {
        Ok(Status::Complete((packet, consumed))) => {
            assert_eq!(consumed, bytes.len(), "bytes consumed");
            packet
        }
        other => panic!("expected a packet, got {other:?}"),
    };
    let mut followed = bytes.to_vec();
    followed.extend_from_slice(&[0xC0, 0x00]); // a PINGREQ after it
    match decoder.decode(&followed) {
        Ok(Status::Complete((again, consumed))) => {
            assert_eq!(consumed, bytes.len(), "consumed the packet that followed");
            assert_eq!(again, packet);
        }
        other => panic!("with a packet after it: {other:?}"),
    }
    packet
}

/// A canonical vector: decodes to `expected`, and `expected` encodes to exactly these bytes.
pub(crate) fn assert_vector(level: ProtocolLevel, annotated: &str, expected: Packet<'_>) {
    let bytes = hex(annotated);
    assert_eq!(decode_checked(level, &bytes), expected, "decoded");
    assert_eq!(expected.encoded_len(), bytes.len(), "encoded_len");
    let mut encoded = Vec::new();
    assert_eq!(expected.encode(level, &mut encoded), Ok(bytes.len()));
    assert_eq!(
        format!("{encoded:02x?}"),
        format!("{bytes:02x?}"),
        "encoded"
    );
    let mut slice = std::vec![0u8; bytes.len()];
    assert_eq!(expected.encode_to_slice(level, &mut slice), Ok(bytes.len()));
    assert_eq!(slice, bytes, "encoded to a slice");
}

/// A vector that decodes to `expected` but is not what the encoder writes (a lenient 3.1 form).
pub(crate) fn assert_decodes_to(level: ProtocolLevel, annotated: &str, expected: Packet<'_>) {
    let bytes = hex(annotated);
    assert_eq!(decode_checked(level, &bytes), expected);
}

/// A malformed vector: refused with `error`, and each prefix is partial or refused the same way.
pub(crate) fn assert_malformed(level: ProtocolLevel, annotated: &str, error: DecodeError) {
    let bytes = hex(annotated);
    let decoder = Decoder::new(level);
    assert_eq!(decoder.decode(&bytes), Err(error), "{bytes:02x?}");
    for cut in 0..bytes.len() {
        let result = decoder.decode(&bytes[..cut]);
        assert!(
            result == Ok(Status::Partial) || result == Err(error),
            "prefix of {cut}: {result:?}"
        );
    }
}

/// [`decode_checked`] at MQTT 5.0.
fn decode_checked_v5(bytes: &[u8]) -> crate::v5::Packet<'_> {
    let decoder = crate::v5::Decoder::new();
    for cut in 0..bytes.len() {
        assert_eq!(
            decoder.decode(&bytes[..cut]),
            Ok(Status::Partial),
            "prefix of {cut} of {} bytes",
            bytes.len()
        );
    }
    let packet = match decoder.decode(bytes) {
        Ok(Status::Complete((packet, consumed))) => {
            assert_eq!(consumed, bytes.len(), "bytes consumed");
            packet
        }
        other => panic!("expected a packet, got {other:?}"),
    };
    let mut followed = bytes.to_vec();
    followed.extend_from_slice(&[0xC0, 0x00]);
    match decoder.decode(&followed) {
        Ok(Status::Complete((again, consumed))) => {
            assert_eq!(consumed, bytes.len(), "consumed the packet that followed");
            assert_eq!(again, packet);
        }
        other => panic!("with a packet after it: {other:?}"),
    }
    packet
}

/// [`assert_vector`] at MQTT 5.0: decodes to `expected`, which encodes to exactly these bytes.
pub(crate) fn assert_vector_v5(annotated: &str, expected: crate::v5::Packet<'_>) {
    let bytes = hex(annotated);
    assert_eq!(decode_checked_v5(&bytes), expected, "decoded");
    assert_eq!(expected.encoded_len(), bytes.len(), "encoded_len");
    let mut encoded = Vec::new();
    assert_eq!(expected.encode(&mut encoded), Ok(bytes.len()));
    assert_eq!(
        format!("{encoded:02x?}"),
        format!("{bytes:02x?}"),
        "encoded"
    );
    let mut slice = std::vec![0u8; bytes.len()];
    assert_eq!(expected.encode_to_slice(&mut slice), Ok(bytes.len()));
    assert_eq!(slice, bytes, "encoded to a slice");
}

/// [`assert_decodes_to`] at MQTT 5.0: a longer form the encoder does not write (a success spelled
/// out where the short form means the same).
pub(crate) fn assert_decodes_to_v5(annotated: &str, expected: crate::v5::Packet<'_>) {
    let bytes = hex(annotated);
    assert_eq!(decode_checked_v5(&bytes), expected);
}

/// [`assert_malformed`] at MQTT 5.0.
pub(crate) fn assert_malformed_v5(annotated: &str, error: DecodeError) {
    let bytes = hex(annotated);
    let decoder = crate::v5::Decoder::new();
    assert_eq!(decoder.decode(&bytes), Err(error), "{bytes:02x?}");
    for cut in 0..bytes.len() {
        let result = decoder.decode(&bytes[..cut]);
        assert!(
            result == Ok(Status::Partial) || result == Err(error),
            "prefix of {cut}: {result:?}"
        );
    }
}

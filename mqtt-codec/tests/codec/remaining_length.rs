//! Whole packets at every boundary of the Remaining Length encoding (3.1.1 §2.2.3, Table 2.4), in both
//! directions, and the first length past the largest.

use mqtt_codec::{
    DecodeError, Decoder, Delivery, EncodeError, MAX_REMAINING_LENGTH, Packet, ProtocolLevel,
    Publish, Status, TopicName,
};

const LEVEL: ProtocolLevel = ProtocolLevel::Mqtt311;

/// A QoS 0 PUBLISH to topic `t` whose Remaining Length is `len` (topic field 3 bytes + payload).
fn publish_with_remaining_length(payload_source: &[u8], len: usize) -> Publish<'_> {
    Publish {
        topic: TopicName::new("t").expect("valid"),
        payload: &payload_source[..len - 3],
        delivery: Delivery::AtMostOnce,
        retain: false,
    }
}

#[test]
fn every_boundary_encodes_and_decodes() {
    let payload_source = vec![0x5A; MAX_REMAINING_LENGTH];
    let cases: &[(usize, &[u8])] = &[
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ];
    let mut bytes = Vec::new();
    for &(len, length_field) in cases {
        let packet = Packet::Publish(publish_with_remaining_length(&payload_source, len));
        bytes.clear();
        let written = packet
            .encode(LEVEL, &mut bytes)
            .expect("within the maximum");
        assert_eq!(written, 1 + length_field.len() + len, "length {len}");
        assert_eq!(
            &bytes[1..1 + length_field.len()],
            length_field,
            "length field of {len}"
        );
        match Decoder::new(LEVEL).decode(&bytes) {
            Ok(Status::Complete((decoded, consumed))) => {
                assert_eq!(consumed, written);
                assert_eq!(decoded, packet, "length {len}");
            }
            other => panic!("length {len}: {other:?}"),
        }
        // One byte short of the whole packet is still only partial.
        assert_eq!(
            Decoder::new(LEVEL).decode(&bytes[..written - 1]),
            Ok(Status::Partial)
        );
    }
    // Zero: a packet with no body at all.
    bytes.clear();
    assert_eq!(Packet::PingReq.encode(LEVEL, &mut bytes), Ok(2));
    assert_eq!(bytes, [0xC0, 0x00]);
}

#[test]
fn one_past_the_largest_is_refused_both_ways() {
    // Encoding: 268 435 456 bytes of body cannot be written.
    let payload_source = vec![0x5A; MAX_REMAINING_LENGTH + 1];
    let packet = Packet::Publish(publish_with_remaining_length(
        &payload_source,
        MAX_REMAINING_LENGTH + 1,
    ));
    let mut out = Vec::new();
    assert_eq!(
        packet.encode(LEVEL, &mut out),
        Err(EncodeError::PacketTooLarge)
    );
    assert!(out.is_empty(), "nothing written on error");
    // Decoding: 268 435 456 needs a fifth length byte, which is malformed.
    assert_eq!(
        Decoder::new(LEVEL).decode(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01]),
        Err(DecodeError::MalformedRemainingLength)
    );
}

//! Arbitrary datagrams never make the decoder panic, and whatever decodes re-encodes to a datagram that
//! decodes to the same message: the decoder accepts nothing the encoder cannot write.

use mqttsn_codec::{Message, MsgType};
use proptest::prelude::*;

/// Decodes `datagram`; if it is a message, checks that it survives encoding.
fn decode_and_re_encode(datagram: &[u8]) {
    if let Ok(message) = Message::decode(datagram) {
        let mut octets = Vec::new();
        let len = message
            .encode(&mut octets)
            .expect("a decoded message encodes");
        assert_eq!(len, message.encoded_len());
        assert_eq!(Message::decode(&octets), Ok(message));
    }
}

/// A datagram with a correct 1-octet Length and a known MsgType, so that the body decoders are
/// reached far more often than with raw bytes.
fn framed() -> impl Strategy<Value = Vec<u8>> {
    let codes: Vec<u8> = (0..=u8::MAX)
        .filter(|&code| MsgType::from_u8(code).is_ok())
        .collect();
    (
        prop::sample::select(codes),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(code, body)| {
            let mut datagram = vec![body.len() as u8 + 2, code];
            datagram.extend(body);
            datagram
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn raw_bytes_never_panic(datagram in prop::collection::vec(any::<u8>(), 0..300)) {
        decode_and_re_encode(&datagram);
    }

    #[test]
    fn framed_bodies_never_panic(datagram in framed()) {
        decode_and_re_encode(&datagram);
    }

    #[test]
    fn encapsulated_bodies_never_panic(
        ctrl in 0..8u8,
        node in prop::collection::vec(any::<u8>(), 0..4),
        inner in framed(),
    ) {
        let mut datagram = vec![node.len() as u8 + 3, 0xFE, ctrl];
        datagram.extend(node);
        datagram.extend(inner);
        decode_and_re_encode(&datagram);
    }
}

#[test]
fn deeply_nested_encapsulations_are_refused_without_recursing() {
    // [SN-5.5-1] 20 000 nested encapsulation headers: refused at the second one.
    let datagram: Vec<u8> = std::iter::repeat_n([0x03, 0xFE, 0x00], 20_000)
        .flatten()
        .collect();
    assert_eq!(
        Message::decode(&datagram),
        Err(mqttsn_codec::DecodeError::NestedEncapsulation)
    );
}

//! The codec's fuzzing body: decode whatever bytes come, at all three protocol levels, and check
//! that every packet decoded encodes again to bytes that decode to the same packet.
//!
//! It is the body of the `mqtt_decode` fuzz target (`fuzz/` at the workspace root), public only for
//! that crate (`#[doc(hidden)]`, not part of the API), and a unit test runs it over the target's seed
//! corpus so that CI keeps it compiling and meaningful without a fuzzer. The `hostile` property tests
//! check the same invariants with proptest's generators; a coverage-guided fuzzer reaches further.

use alloc::vec::Vec;

use crate::{Decoder, EncodeError, ProtocolLevel, Status};

/// Decodes `data` as a stream of packets at the three protocol levels, and panics if an invariant breaks:
/// a decoded packet that does not encode (but for the one leniency below), or whose encoding decodes to something else or leaves
/// bytes over; a decoder that claims more bytes than it was given. Answers how many packets decoded.
pub fn decode(data: &[u8]) -> usize {
    let mut decoded = 0;
    for level in [ProtocolLevel::Mqtt31, ProtocolLevel::Mqtt311] {
        let decoder = Decoder::new(level);
        let mut rest = data;
        while let Ok(Status::Complete((packet, used))) = decoder.decode(rest) {
            assert!(
                used > 0 && used <= rest.len(),
                "used {used} of {}",
                rest.len()
            );
            decoded += 1;
            let mut encoded = Vec::new();
            match packet.encode(level, &mut encoded) {
                Ok(_) => {}
                // The one leniency of the decoder: a 3.1 client reads the 0x80 that brokers send,
                // though 3.1 has no such code and we never write it [V31-DIFF-34].
                Err(EncodeError::SubAckFailureInMqtt31) if level == ProtocolLevel::Mqtt31 => {
                    rest = &rest[used..];
                    continue;
                }
                Err(error) => panic!("{packet:?} decoded but does not encode: {error:?}"),
            }
            match decoder.decode(&encoded) {
                Ok(Status::Complete((again, used))) => {
                    assert_eq!(again, packet, "the re-encoded packet differs");
                    assert_eq!(used, encoded.len(), "bytes left over after {packet:?}");
                }
                other => panic!("{packet:?} re-encoded as {encoded:02x?}, which gives {other:?}"),
            }
            rest = &rest[used..];
        }
    }
    decoded + decode_v5(data)
}

/// The same at MQTT 5.0, where the decoder has no leniency: whatever it accepts, the encoder must
/// write back, properties included.
fn decode_v5(data: &[u8]) -> usize {
    let decoder = crate::v5::Decoder::new();
    let mut decoded = 0;
    let mut rest = data;
    while let Ok(Status::Complete((packet, used))) = decoder.decode(rest) {
        assert!(
            used > 0 && used <= rest.len(),
            "used {used} of {}",
            rest.len()
        );
        decoded += 1;
        let mut encoded = Vec::new();
        if let Err(error) = packet.encode(&mut encoded) {
            panic!("{packet:?} decoded at 5.0 but does not encode: {error:?}");
        }
        assert_eq!(
            encoded.len(),
            packet.encoded_len(),
            "encoded_len of {packet:?}"
        );
        match decoder.decode(&encoded) {
            Ok(Status::Complete((again, used))) => {
                assert_eq!(again, packet, "the re-encoded 5.0 packet differs");
                assert_eq!(used, encoded.len(), "bytes left over after {packet:?}");
            }
            other => panic!("{packet:?} re-encoded as {encoded:02x?}, which gives {other:?}"),
        }
        rest = &rest[used..];
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed corpus of the fuzz target, run as a plain test.
    #[test]
    fn the_seed_corpus_decodes_and_round_trips() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/mqtt_decode");
        let mut decoded = 0;
        let mut decoded_v5 = 0;
        for entry in std::fs::read_dir(&dir).expect("the seed corpus is in the repository") {
            let data = std::fs::read(entry.expect("entry").path()).expect("a seed");
            decoded += decode(&data);
            decoded_v5 += decode_v5(&data);
            // Every prefix, as a fuzzer would also try.
            for end in 0..data.len() {
                decode(&data[..end]);
            }
        }
        assert!(decoded >= 10, "the seeds decode: {decoded} packets");
        // The *5 seeds hold eight packets at level 5 (and a few 3.1.1 ones happen to be valid 5.0).
        assert!(
            decoded_v5 >= 8,
            "the 5.0 seeds decode: {decoded_v5} packets"
        );
    }
}

//! The codec's fuzzing body: decode a datagram, and check that a message that decodes encodes again
//! to the same bytes' meaning.
//!
//! It is the body of the `mqttsn_decode` fuzz target (`fuzz/` at the workspace root), public only for
//! that crate (`#[doc(hidden)]`, not part of the API), and a unit test runs it over the target's seed
//! corpus so that CI keeps it compiling and meaningful without a fuzzer.

use alloc::vec::Vec;

use crate::Message;

/// Decodes `data` as one datagram and panics if an invariant breaks: a message that decodes but
/// does not encode, whose encoded length is not what `encoded_len` promised, or whose encoding
/// decodes to another message. Answers whether it decoded.
pub fn decode(data: &[u8]) -> bool {
    let Ok(message) = Message::decode(data) else {
        return false;
    };
    let mut encoded = Vec::new();
    let written = message.encode(&mut encoded);
    assert!(
        written.is_ok(),
        "{message:?} decoded but does not encode: {written:?}"
    );
    assert_eq!(encoded.len(), message.encoded_len(), "{message:?}");
    match Message::decode(&encoded) {
        Ok(again) => assert_eq!(again, message, "the re-encoded message differs"),
        Err(error) => panic!("{message:?} re-encoded as {encoded:02x?}, which gives {error:?}"),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed corpus of the fuzz target, run as a plain test.
    #[test]
    fn the_seed_corpus_decodes_and_round_trips() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/mqttsn_decode");
        let mut decoded = 0;
        for entry in std::fs::read_dir(&dir).expect("the seed corpus is in the repository") {
            let data = std::fs::read(entry.expect("entry").path()).expect("a seed");
            decoded += usize::from(decode(&data));
            for end in 0..data.len() {
                decode(&data[..end]);
            }
        }
        assert!(decoded >= 6, "the seeds decode: {decoded} messages");
    }
}

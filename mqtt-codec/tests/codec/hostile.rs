//! Whatever bytes arrive, the decoder answers without panicking, without looping, and without
//! claiming bytes it was not given.

use mqtt_codec::{Decoder, ProtocolLevel, Status};
use proptest::prelude::*;

use crate::arbitrary::{level, level_and_packet};

/// Decodes `bytes` as a reader would, packet after packet, checking the decoder's promises.
fn drain(decoder: &Decoder, bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut rest = bytes;
    // Each complete packet takes at least two bytes, so this bounds the loop.
    for _ in 0..=bytes.len() {
        match decoder.decode(rest) {
            Ok(Status::Complete((_, consumed))) => {
                prop_assert!(consumed >= 2, "a packet is at least two bytes");
                prop_assert!(consumed <= rest.len(), "claimed more than given");
                rest = &rest[consumed..];
            }
            Ok(Status::Partial) | Err(_) => return Ok(()),
        }
    }
    Err(TestCaseError::fail("the decoder made no progress"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn arbitrary_bytes(level in level(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        drain(&Decoder::new(level), &bytes)?;
    }

    #[test]
    fn arbitrary_bytes_after_a_plausible_header(
        level in level(),
        first in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..127),
    ) {
        // Random bodies behind a correct Remaining Length reach deep into every packet decoder.
        let mut bytes = vec![first, body.len() as u8];
        bytes.extend_from_slice(&body);
        drain(&Decoder::new(level), &bytes)?;
    }

    #[test]
    fn valid_packets_with_one_byte_changed(
        (level, spec) in level_and_packet(),
        index in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let entries = spec.entries();
        let mut bytes = Vec::new();
        spec.packet(level, &entries).encode(level, &mut bytes).expect("valid packets encode");
        let index = index.index(bytes.len());
        bytes[index] = value;
        drain(&Decoder::new(level), &bytes)?;
    }

    #[test]
    fn small_maximum_sizes_are_respected(
        max in 0usize..64,
        bytes in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let decoder = Decoder::new(ProtocolLevel::Mqtt311).with_max_packet_size(max);
        if let Ok(Status::Complete((_, consumed))) = decoder.decode(&bytes) {
            prop_assert!(consumed <= max);
        }
    }
}

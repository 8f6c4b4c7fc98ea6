//! A packet cut anywhere is "need more bytes" until its last byte arrives, and a stream of packets
//! splits exactly at packet boundaries.

use mqtt_codec::{Decoder, Status};
use proptest::prelude::*;

use crate::arbitrary::{level, level_and_packet, packet_spec};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_proper_prefix_is_partial((level, spec) in level_and_packet()) {
        let entries = spec.entries();
        let packet = spec.packet(level, &entries);
        let mut bytes = Vec::new();
        packet.encode(level, &mut bytes).expect("valid packets encode");
        let decoder = Decoder::new(level);
        for cut in 0..bytes.len() {
            prop_assert_eq!(decoder.decode(&bytes[..cut]), Ok(Status::Partial), "cut at {}", cut);
        }
        prop_assert_eq!(decoder.decode(&bytes), Ok(Status::Complete((packet, bytes.len()))));
    }

    #[test]
    fn a_stream_splits_at_packet_boundaries(
        (level, specs) in level().prop_flat_map(|level| {
            (Just(level), prop::collection::vec(packet_spec(level), 1..8))
        }),
        split in any::<prop::sample::Index>(),
    ) {
        let entries: Vec<_> = specs.iter().map(|spec| spec.entries()).collect();
        let packets: Vec<_> = specs
            .iter()
            .zip(&entries)
            .map(|(spec, entries)| spec.packet(level, entries))
            .collect();
        let mut stream = Vec::new();
        for packet in &packets {
            packet.encode(level, &mut stream).expect("valid packets encode");
        }
        // Deliver the stream in two reads, split at an arbitrary byte, as a socket might.
        let split = split.index(stream.len() + 1);
        let decoder = Decoder::new(level);
        let mut buffer = stream[..split].to_vec();
        let mut fed = split;
        let mut decoded = Vec::new();
        loop {
            match decoder.decode(&buffer).expect("valid stream") {
                Status::Complete((packet, consumed)) => {
                    prop_assert!(consumed > 0 && consumed <= buffer.len());
                    decoded.push(format!("{packet:?}"));
                    buffer.drain(..consumed);
                }
                Status::Partial if fed < stream.len() => {
                    buffer.extend_from_slice(&stream[fed..]);
                    fed = stream.len();
                }
                Status::Partial => break,
            }
        }
        prop_assert!(buffer.is_empty());
        let expected: Vec<_> = packets.iter().map(|packet| format!("{packet:?}")).collect();
        prop_assert_eq!(decoded, expected);
    }
}

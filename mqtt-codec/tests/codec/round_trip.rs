//! Every valid packet, at both levels, encodes to bytes that decode back to the same packet.

use mqtt_codec::{Decoder, Packet, Status};
use proptest::prelude::*;

use crate::arbitrary::{connect_spec, level, level_and_packet};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn encode_then_decode_is_identity((level, spec) in level_and_packet()) {
        let entries = spec.entries();
        let packet = spec.packet(level, &entries);
        let mut bytes = Vec::new();
        let written = packet.encode(level, &mut bytes).expect("valid packets encode");
        prop_assert_eq!(written, bytes.len());
        prop_assert_eq!(packet.encoded_len(), bytes.len());

        let decoded = Decoder::new(level).decode(&bytes).expect("own output decodes");
        prop_assert_eq!(decoded, Status::Complete((packet, bytes.len())));

        // The slice encoder writes the same bytes, and needs no more room than announced.
        let mut slice = vec![0u8; packet.encoded_len()];
        prop_assert_eq!(packet.encode_to_slice(level, &mut slice), Ok(bytes.len()));
        prop_assert_eq!(slice, bytes);
    }

    #[test]
    fn connect_decodes_the_same_whatever_the_decoder_level(level in level(), spec in connect_spec()) {
        let entries = spec.entries();
        let packet = spec.packet(level, &entries);
        prop_assert!(matches!(packet, Packet::Connect(_)));
        let mut bytes = Vec::new();
        packet.encode(level, &mut bytes).expect("valid packets encode");
        // A server decodes CONNECT before it knows the level: the packet names its own.
        for decoder_level in [mqtt_codec::ProtocolLevel::Mqtt31, mqtt_codec::ProtocolLevel::Mqtt311] {
            let decoded = Decoder::new(decoder_level).decode(&bytes).expect("decodes");
            prop_assert_eq!(decoded, Status::Complete((packet, bytes.len())));
        }
    }
}

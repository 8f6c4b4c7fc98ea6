//! Fuzz target: arbitrary bytes as one MQTT-SN datagram; a message that decodes must round-trip
//! (the body is `mqttsn_codec::fuzzing::decode`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mqttsn_codec::fuzzing::decode(data);
});

//! Fuzz target: arbitrary bytes as an MQTT byte stream at all three levels (3.1, 3.1.1, 5.0); every packet that decodes
//! must round-trip (the body is `mqtt_codec::fuzzing::decode`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mqtt_codec::fuzzing::decode(data);
});

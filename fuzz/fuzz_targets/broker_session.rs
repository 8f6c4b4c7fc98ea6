//! Fuzz target: arbitrary bytes as a script of four clients talking to one broker state (sessions,
//! router, queues) on a fake clock (the body, and the script's format, are in
//! `mqtt_broker::fuzzing::session`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mqtt_broker::fuzzing::session(data);
});

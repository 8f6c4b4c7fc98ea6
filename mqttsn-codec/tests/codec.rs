//! The integration tests of `mqttsn-codec`: one binary, through the public API only.
//!
//! * `strategies`: proptest generators of every message type (test support, no tests).
//! * `round_trip`: every message type encodes, decodes back to itself, and has the announced length;
//!   both Length forms, at the 255/256 boundary and at the largest length.
//! * `arbitrary`: arbitrary datagrams never panic, and whatever decodes re-encodes to itself.
//! * `cross_check`: octets captured from an independent implementation (Paho-derived Python
//!   `mqttsn` 0.0.4) decode to the expected messages and are reproduced by the encoder.
//!
//! The modules live in `tests/codec/`; as this file is the crate root, they are named by `#[path]`.

#[path = "codec/strategies.rs"]
mod strategies;

#[path = "codec/round_trip.rs"]
mod round_trip;

#[path = "codec/arbitrary.rs"]
mod arbitrary;

#[path = "codec/cross_check.rs"]
mod cross_check;

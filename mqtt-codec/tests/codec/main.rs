//! The integration tests of `mqtt-codec`, through its public API only.
//!
//! Hand-written hex vectors for every packet type and every malformed case live beside the code, at the
//! bottom of each file in `src/packet/`. These are the properties that hold for all inputs:
//!
//! - `arbitrary`: proptest strategies for valid packets of every type, at both protocol levels.
//! - `round_trip`: every valid packet encodes and decodes back to itself, at the length it announced.
//! - `streaming`: every proper prefix of a packet is "need more bytes"; a stream splits exactly.
//! - `hostile`: arbitrary bytes never panic, never stall, and never claim bytes they were not given.
//! - `remaining_length`: whole packets at every boundary of Table 2.4, and one byte past the largest.
//! - `v5`: the same promises at MQTT 5.0: hostile bytes and property sets, and round trips of
//!   arbitrary valid packets with arbitrary valid properties.

mod arbitrary;
mod hostile;
mod remaining_length;
mod round_trip;
mod streaming;
mod v5;

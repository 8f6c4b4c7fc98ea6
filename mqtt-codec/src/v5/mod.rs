//! MQTT 5.0: the third protocol level, with its own packet types beside the 3.1 and 3.1.1 ones.
//!
//! 5.0 keeps the fixed header and most field layouts of 3.1.1 but adds a property set to nearly every
//! packet ([`Properties`]), a Reason Code to every acknowledgement ([`ReasonCode`]), a body to
//! DISCONNECT, subscription options to SUBSCRIBE, and a fifteenth packet, AUTH. Its packets are
//! therefore separate types, in this module, named as the 3.1.1 ones are (`v5::Publish` beside
//! `Publish`), so that code written for 3.1.1 is untouched and code for 5.0 cannot forget a
//! property. They reuse what did not change: [`TopicName`](crate::TopicName),
//! [`TopicFilter`](crate::TopicFilter), [`PacketId`](crate::PacketId), [`Delivery`](crate::Delivery),
//! [`List`](crate::List), the fixed header and the primitive fields of `wire.rs`.
//!
//! The contract is the crate's: no I/O, incremental ([`Decoder::decode`] answers
//! [`Status::Partial`](crate::Status::Partial)), zero-copy (properties borrow the input and are
//! validated once), bounded, no panic on any input. Each rule is cited as `[MQTT5-x.y.z-n]`, and each
//! place where 5.0 differs from 3.1.1 as `V5-DIFF-n` (rows of `mqtt-v5-differences.md`). A decoding
//! error says which 5.0 Reason Code to answer with: [`DecodeError::reason_code`](crate::DecodeError::reason_code).
//!
//! A server does not know a connection's level until its CONNECT has arrived: [`connect_level`]
//! reads the level byte of a buffered CONNECT, so that the server can pick this decoder or the 3.1.1
//! one.
//!

// Decoding and encoding are used by the packet types, which the next commit adds.
#[allow(dead_code)]
mod properties;
mod reason;

pub use properties::{Properties, Property, PropertyContext, PropertyIter};
pub use reason::ReasonCode;

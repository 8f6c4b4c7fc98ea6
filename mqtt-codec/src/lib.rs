//! A codec for MQTT 3.1, 3.1.1 and 5.0 packets: bytes in, packets out, and back.
//!
//! MQTT is a publish/subscribe protocol over a byte stream. Each message on the stream is a *control
//! packet*: a fixed header (the packet type, four flag bits and the Remaining Length), then a body
//! whose layout depends on the type. This crate turns bytes into [`Packet`] values and values into
//! bytes, for both protocol versions in use:
//!
//! - MQTT 3.1 (protocol name `MQIsdp`, level 3), IBM's 2010 specification;
//! - MQTT 3.1.1 (protocol name `MQTT`, level 4), the OASIS standard;
//! - MQTT 5.0 (protocol name `MQTT`, level 5), the OASIS standard of 2019, in the [`v5`] module: its
//!   packets have properties and reason codes, so they are types of their own ([`v5::Packet`],
//!   decoded by [`v5::Decoder`]), and the 3.1/3.1.1 API below is unchanged by them.
//!
//! # The contract
//!
//! - **No I/O.** The codec knows nothing of sockets, threads or time. It decodes from a `&[u8]` and
//!   encodes into a `Vec<u8>` or a `&mut [u8]`; whoever owns the connection moves the bytes.
//! - **Incremental.** [`Decoder::decode`] answers [`Status::Partial`] ("read more bytes") when given
//!   part of a packet, so a reader can call it after every read. That is not an error.
//! - **Zero-copy.** A decoded packet borrows its strings and payload from the input slice.
//! - **Bounded.** The fixed header is decoded first, and a packet over the configured maximum size is
//!   refused before its body is buffered ([`Decoder::with_max_packet_size`]).
//! - **Strict to the letter.** Every rule the specifications state about packet contents is checked,
//!   and each is cited where it is enforced, as `[MQTT-3.1.2-3]` for 3.1.1 statements and
//!   `[V31-DIFF-4]` for the catalogued differences of 3.1. Where 3.1 says a field is "not used", the
//!   codec disregards it at level 3.1 and refuses it at 3.1.1. Errors say which rule was broken:
//!   [`DecodeError::rule`].
//! - **Portable.** `#![no_std]`, no dependencies, no `unsafe`. Without the default `std` feature it
//!   still decodes everything and encodes into slices; the `alloc` feature adds encoding into `Vec`.
//!
//! # Decoding a stream
//!
//! ```
//! use mqtt_codec::{Decoder, Packet, ProtocolLevel, Status};
//!
//! // Two packets as they might arrive from a socket: a PUBLISH to "a/b" and a PINGREQ.
//! let stream = [0x30, 0x06, 0x00, 0x03, b'a', b'/', b'b', b'!', 0xC0, 0x00];
//! let decoder = Decoder::new(ProtocolLevel::Mqtt311).with_max_packet_size(64 * 1024);
//!
//! let mut buffer = &stream[..];
//! let mut seen = Vec::new();
//! loop {
//!     match decoder.decode(buffer)? {
//!         Status::Complete((packet, consumed)) => {
//!             if let Packet::Publish(publish) = &packet {
//!                 assert_eq!(publish.topic.as_str(), "a/b");
//!                 assert_eq!(publish.payload, b"!");
//!             }
//!             seen.push(packet.packet_type());
//!             buffer = &buffer[consumed..];
//!         }
//!         // A real reader would read more bytes from its socket here.
//!         Status::Partial => break,
//!     }
//! }
//! assert_eq!(seen.len(), 2);
//! assert!(buffer.is_empty());
//! # Ok::<(), mqtt_codec::DecodeError>(())
//! ```
//!
//! # Encoding
//!
//! ```
//! use mqtt_codec::{Delivery, Packet, PacketId, ProtocolLevel, Publish, TopicName};
//!
//! let publish = Publish {
//!     topic: TopicName::new("sensors/1/temperature")?,
//!     payload: b"21.5",
//!     delivery: Delivery::AtLeastOnce { packet_id: PacketId::new(7).unwrap(), dup: false },
//!     retain: false,
//! };
//! let packet = Packet::from(publish);
//! let mut out = Vec::with_capacity(packet.encoded_len());
//! let written = packet.encode(ProtocolLevel::Mqtt311, &mut out)?;
//! assert_eq!(written, out.len());
//! assert_eq!(out[0], 0x32); // PUBLISH, QoS 1
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where things are
//!
//! [`Decoder`] and [`Status`] (in `decoder.rs`) are the entry point; [`Packet`] (in `packet.rs`)
//! dispatches to one file per packet type under `packet/`; [`FixedHeader`] holds the first decoding
//! phase; [`TopicName`], [`TopicFilter`] and matching are in `topic.rs`, shared by the broker, client
//! and gateway; `wire.rs` reads and writes the primitive fields (and 5.0's Variable Byte Integers).
//! MQTT 5.0 is under `v5/`: `properties.rs` (the property set, Table 2-4), `reason.rs` (Table 2-6),
//! one file per packet as for 3.1.1, and `mod.rs` with [`v5::Packet`] and [`v5::Decoder`]. A decoding
//! error maps to the 5.0 Reason Code to answer with through [`DecodeError::reason_code`].
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod decoder;
mod error;
// The fuzz target's body (see `fuzz/` at the workspace root); not part of the API.
mod fixed_header;
#[cfg(feature = "alloc")]
#[doc(hidden)]
pub mod fuzzing;
mod level;
mod list;
mod packet;
mod qos;
#[cfg(test)]
mod testing;
mod topic;
pub mod v5;
mod wire;

pub use decoder::{Decoder, Status};
pub use error::{DecodeError, EncodeError};
pub use fixed_header::{FixedHeader, MAX_PACKET_SIZE, MAX_REMAINING_LENGTH, PacketType};
pub use level::ProtocolLevel;
pub use list::{Iter, List};
pub use packet::Packet;
pub use packet::acks::{PubAck, PubComp, PubRec, PubRel, UnsubAck};
pub use packet::connack::{ConnAck, ConnectReturnCode};
pub use packet::connect::{ClientIdRule, Connect, Will};
pub use packet::publish::{Delivery, Publish};
pub use packet::suback::{SubAck, SubAckReturnCode};
pub use packet::subscribe::{Subscribe, Subscription};
pub use packet::unsubscribe::Unsubscribe;
pub use qos::{PacketId, QoS};
pub use topic::{FilterLevel, TopicError, TopicFilter, TopicName};

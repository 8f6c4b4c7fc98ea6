//! A pure codec for MQTT-SN 1.2, MQTT For Sensor Networks: every message of the specification's
//! section 5, decoded from one datagram without copying and encoded with or without an allocator.
//!
//! # MQTT-SN in a page
//!
//! MQTT-SN is MQTT reshaped for battery-powered sensor nodes on radio networks such as ZigBee, where
//! a packet may hold 60 octets, links drop messages, and there is no TCP. Its messages are datagrams;
//! a *gateway* translates between MQTT-SN clients and an ordinary MQTT server (one MQTT connection per
//! client for a transparent gateway, one shared connection for an aggregating one). What changes from
//! MQTT, and why:
//!
//! * **Short headers.** A message is `Length MsgType` then its fields, two octets of header for
//!   anything up to 255 octets; longer messages use a 3-octet Length (`0x01`, then two octets), up to
//!   65 535 (§5.2). There are no variable-length integers and no fragmentation: one
//!   message is one datagram.
//! * **Topic ids instead of topic names.** Sending `sensors/kitchen/temperature` with every reading
//!   would cost more than the reading, so a client REGISTERs the name once and publishes with a
//!   two-octet [`TopicId`]. Two kinds need no registration: *pre-defined* ids agreed in advance, and
//!   two-character *short topic names* carried in the id's place ([`PublishTopic`], §6.7). SUBSCRIBE
//!   still carries full names and filters, wildcards included ([`SubscribeTopic`]).
//! * **QoS -1.** A node that only reports can publish without connecting at all: a PUBLISH with
//!   [`QoS::MinusOne`] to a gateway whose address it knows, naming a pre-defined id or short name,
//!   fire and forget (§6.8).
//! * **Sleeping clients.** A client says how long it will sleep in DISCONNECT; the gateway buffers its
//!   messages, and the client collects them with a PINGREQ carrying its ClientId (§6.14).
//! * **Gateways are discovered.** Gateways broadcast ADVERTISE; clients broadcast SEARCHGW and get
//!   GWINFO back (§6.1). A *forwarder* can relay frames between the radio network and the gateway,
//!   wrapping each in an [`Encapsulated`] frame (§5.5).
//! * **The will is negotiated.** CONNECT only says *whether* there is a will; the gateway then asks for
//!   the topic (WILLTOPICREQ) and the message (WILLMSGREQ) separately, and both can be changed later
//!   (WILLTOPICUPD, WILLMSGUPD) (§6.2, §6.4).
//!
//! # The contract
//!
//! * No I/O, no clock, no state: the codec turns one datagram into one [`Message`] and back. The
//!   exchanges of section 6 (who answers what, timers, retries) belong to the client and the gateway.
//! * `#![no_std]`, no dependencies, no `unsafe`. Without the `alloc` feature it decodes and encodes
//!   into a caller's `&mut [u8]`, which is all a microcontroller needs; with `alloc` (on by default,
//!   through `std`) it can also append to a `Vec<u8>`.
//! * Decoding borrows: names and payloads in a [`Message`] point into the datagram.
//! * [`Message::encoded_len`] is exact and known before writing; encoding checks the message, then
//!   writes, and never fails halfway.
//! * A malformed datagram is a [`DecodeError`] naming the rule it breaks (`rule()`), in the
//!   project's citation format: rule ids like `SN-5.2.1-1` are those of
//!   `shared/specs/mqtt-sn-v1.2-rules.tsv`, and the same ids appear on the code that enforces each
//!   rule and on the tests that prove it. Where the specification is unclear, the choice made is in
//!   `docs/mqtt-sn-ambiguities.md`.
//!
//! # Example
//!
//! ```
//! use mqttsn_codec::{Message, MsgId, PublishTopic, QoS, TopicId};
//!
//! // A PUBLISH at QoS 1 on the registered topic id 1, as it arrives in a UDP datagram.
//! let datagram = [0x0b, 0x0c, 0x20, 0x00, 0x01, 0x00, 0x02, b'2', b'1', b'.', b'5'];
//! let Message::Publish(publish) = Message::decode(&datagram)? else {
//!     panic!("not a PUBLISH");
//! };
//! assert_eq!(publish.qos, QoS::AtLeastOnce);
//! assert_eq!(publish.topic, PublishTopic::Normal(TopicId(1)));
//! assert_eq!(publish.msg_id, MsgId(2));
//! assert_eq!(publish.data, b"21.5"); // borrowed from `datagram`
//!
//! // Encoding needs no allocator: the exact length is known first.
//! let message = Message::Publish(publish);
//! let mut out = [0u8; 64];
//! let len = message.encode_to_slice(&mut out)?;
//! assert_eq!(len, message.encoded_len());
//! assert_eq!(&out[..len], &datagram);
//!
//! // A malformed datagram says which rule it breaks.
//! let error = Message::decode(&[0x0b, 0x0c, 0x20]).unwrap_err();
//! assert_eq!(error.rule(), "SN-5.2.1-1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

// The framework: errors, the header, the field types, the primitive reader and writer.
mod error;
// The fuzz target's body (see `fuzz/` at the workspace root); not part of the API.
mod fields;
mod flags;
#[cfg(feature = "alloc")]
#[doc(hidden)]
pub mod fuzzing;
mod header;
mod message;
mod topic;
mod wire;

// One file per message, or per family of messages with the same layout, in the order of §5.4 and §5.5.
mod advertise;
mod connack;
mod connect;
mod disconnect;
mod encapsulated;
mod gwinfo;
mod header_only; // WILLTOPICREQ, WILLMSGREQ, PINGRESP
mod pingreq;
mod puback;
mod publish;
mod pubrec_pubrel_pubcomp;
mod regack;
mod register;
mod searchgw;
mod suback;
mod subscribe;
mod unsuback;
mod unsubscribe;
mod willmsg; // WILLMSG, WILLMSGUPD
mod willresp; // WILLTOPICRESP, WILLMSGRESP
mod willtopic; // WILLTOPIC, WILLTOPICUPD

#[cfg(test)]
mod testing;

pub use advertise::Advertise;
pub use connack::ConnAck;
pub use connect::{Connect, PROTOCOL_ID};
pub use disconnect::Disconnect;
pub use encapsulated::{Encapsulated, MAX_WIRELESS_NODE_ID_LEN};
pub use error::{DecodeError, EncodeError, FieldError};
pub use fields::{ClientId, GwAddress, MsgId, ReturnCode};
pub use flags::{Flags, QoS, TopicIdType};
pub use gwinfo::GwInfo;
pub use header::{MAX_MESSAGE_LEN, MAX_SHORT_MESSAGE_LEN, MsgType};
pub use message::Message;
pub use pingreq::PingReq;
pub use puback::PubAck;
pub use publish::Publish;
pub use pubrec_pubrel_pubcomp::{PubComp, PubRec, PubRel};
pub use regack::RegAck;
pub use register::Register;
pub use searchgw::SearchGw;
pub use suback::SubAck;
pub use subscribe::Subscribe;
pub use topic::{PublishTopic, ShortTopicName, SubscribeTopic, TopicFilter, TopicId, TopicName};
pub use unsuback::UnsubAck;
pub use unsubscribe::Unsubscribe;
pub use willmsg::WillMsg;
pub use willresp::WillResp;
pub use willtopic::WillTopic;

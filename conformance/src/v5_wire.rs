//! The MQTT 5.0 bytes of the `v5-*` checks: well-formed packets written, and every answer read,
//! through `mqtt-codec`'s `v5` module; hostile bytes are written out by hand in the checks themselves.
//!
//! This is where the 5.0 suite differs from the 3.x one, which writes and reads every byte itself
//! ([`crate::wire`]) so that a bug in our codec cannot make the suite agree with a broker built on it.
//! 5.0 has 27 typed properties, and a second hand-written reader of them would be a second codec to
//! keep right. The independence comes instead from running the 5.0 suite against mosquitto in the
//! tests (`tests/conformance/main.rs`): a codec bug the suite shared with our broker would show as a
//! failure against mosquitto, whose deviations are listed with their evidence. Reading with the codec
//! is also strict in the right direction: an answer the codec refuses is malformed, and the check
//! fails with the codec's reason.

use mqtt_codec::v5::{
    self, Packet, Properties, Property, ReasonCode, RetainHandling, Subscription,
    SubscriptionOptions,
};
use mqtt_codec::{Delivery, List, PacketId, QoS, Status, TopicFilter, TopicName};

use crate::check::Context;
use crate::wire::Frame;

/// The Will of a 5.0 CONNECT.
#[derive(Debug, Clone, Copy)]
pub struct WillSpec<'a> {
    /// Where it is published.
    pub topic: &'a str,
    /// What it says.
    pub payload: &'a [u8],
    /// Its QoS, 0 to 2.
    pub qos: u8,
    /// Whether it is published retained.
    pub retain: bool,
    /// Will Delay Interval, Message Expiry, User Property, ...
    pub properties: &'a [Property<'a>],
}

/// A 5.0 CONNECT with the run's credentials.
pub fn connect(
    context: &Context,
    client_id: &str,
    clean_start: bool,
    properties: &[Property<'_>],
    will: Option<WillSpec<'_>>,
) -> Result<Vec<u8>, String> {
    let will = match will {
        None => None,
        Some(will) => Some(v5::Will {
            properties: Properties::from_slice(will.properties),
            topic: TopicName::new(will.topic).map_err(|error| format!("will topic: {error:?}"))?,
            payload: will.payload,
            qos: qos(will.qos)?,
            retain: will.retain,
        }),
    };
    encode(Packet::Connect(v5::Connect {
        clean_start,
        keep_alive: 60,
        properties: Properties::from_slice(properties),
        client_id,
        will,
        user_name: context.user_name.as_deref(),
        password: context.password.as_deref().map(str::as_bytes),
        bridge: false,
    }))
}

/// A 5.0 PUBLISH. An empty `topic` is written as a zero-length Topic Name, which only a Topic Alias
/// in `properties` makes valid [MQTT5-3.3.2-12].
pub fn publish(
    topic: &str,
    qos_bits: u8,
    retain: bool,
    id: u16,
    payload: &[u8],
    properties: &[Property<'_>],
) -> Result<Vec<u8>, String> {
    let topic = if topic.is_empty() {
        None
    } else {
        Some(TopicName::new(topic).map_err(|error| format!("topic {topic}: {error:?}"))?)
    };
    let delivery = match qos_bits {
        0 => Delivery::AtMostOnce,
        _ => Delivery::new(qos(qos_bits)?, packet_id(id)?, false),
    };
    encode(Packet::Publish(v5::Publish {
        topic,
        payload,
        delivery,
        retain,
        properties: Properties::from_slice(properties),
    }))
}

/// Subscription options: QoS, No Local, Retain As Published, Retain Handling (5.0 §3.8.3.1).
pub fn options(qos_bits: u8, no_local: bool, retain_as_published: bool, handling: u8) -> u8 {
    qos_bits & 0b11 | u8::from(no_local) << 2 | u8::from(retain_as_published) << 3 | handling << 4
}

/// A 5.0 SUBSCRIBE of `(filter, options byte)` pairs (see [`options`]).
pub fn subscribe(
    id: u16,
    filters: &[(&str, u8)],
    properties: &[Property<'_>],
) -> Result<Vec<u8>, String> {
    let mut subscriptions = Vec::new();
    for (filter, byte) in filters {
        subscriptions.push(Subscription {
            filter: TopicFilter::new(filter)
                .map_err(|error| format!("filter {filter}: {error:?}"))?,
            options: SubscriptionOptions::from_byte(*byte)
                .map_err(|error| format!("options {byte:#04x}: {error:?}"))?,
        });
    }
    encode(Packet::Subscribe(v5::Subscribe {
        packet_id: packet_id(id)?,
        properties: Properties::from_slice(properties),
        filters: List::from_slice(&subscriptions),
    }))
}

/// A 5.0 UNSUBSCRIBE.
pub fn unsubscribe(id: u16, filters: &[&str]) -> Result<Vec<u8>, String> {
    let mut parsed = Vec::new();
    for filter in filters {
        parsed.push(TopicFilter::new(filter).map_err(|error| format!("{filter}: {error:?}"))?);
    }
    encode(Packet::Unsubscribe(v5::Unsubscribe {
        packet_id: packet_id(id)?,
        properties: Properties::EMPTY,
        filters: List::from_slice(&parsed),
    }))
}

/// A 5.0 DISCONNECT with a reason code and properties.
pub fn disconnect(reason: u8, properties: &[Property<'_>]) -> Result<Vec<u8>, String> {
    encode(Packet::Disconnect(v5::Disconnect {
        reason: ReasonCode::from_byte(reason),
        properties: Properties::from_slice(properties),
    }))
}

/// Encodes a packet of the suite's own making; an error here is a bug in the check.
pub fn encode(packet: Packet<'_>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    packet
        .encode(&mut out)
        .map_err(|error| format!("the suite cannot encode its own packet: {error:?}"))?;
    Ok(out)
}

/// The whole packet a frame was cut from: first byte, Remaining Length, body.
pub fn bytes_of(frame: &Frame) -> Vec<u8> {
    crate::wire::packet(frame.first, &frame.body)
}

/// Decodes one whole 5.0 packet; anything the codec refuses is a malformed answer from the server.
pub fn decode(bytes: &[u8]) -> Result<Packet<'_>, String> {
    match v5::Decoder::new().decode(bytes) {
        Ok(Status::Complete((packet, used))) if used == bytes.len() => Ok(packet),
        Ok(_) => Err(format!("a truncated 5.0 packet: {}", hex(bytes))),
        Err(error) => Err(format!(
            "the server sent a malformed 5.0 packet ({error:?}): {}",
            hex(bytes)
        )),
    }
}

/// The first bytes of a packet in hex, for failure messages.
pub fn hex(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(24).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > 24 { " ..." } else { "" };
    format!("{}{more}", shown.join(" "))
}

fn qos(bits: u8) -> Result<QoS, String> {
    QoS::from_bits(bits).map_err(|_| format!("QoS {bits}"))
}

fn packet_id(id: u16) -> Result<PacketId, String> {
    PacketId::new(id).ok_or_else(|| "packet identifier 0".to_owned())
}

/// Retain Handling values (5.0 §3.8.3.1), for [`options`].
pub mod handling {
    #![allow(missing_docs)]
    use super::RetainHandling;
    pub const SEND: u8 = RetainHandling::SendOnSubscribe as u8;
    pub const SEND_IF_NEW: u8 = RetainHandling::SendIfNew as u8;
    pub const DO_NOT_SEND: u8 = RetainHandling::DoNotSend as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publish_reads_back_with_its_properties() {
        let bytes = publish(
            "a/b",
            1,
            true,
            9,
            b"x",
            &[
                Property::UserProperty("k", "v"),
                Property::MessageExpiryInterval(5),
            ],
        )
        .expect("encodes");
        let Packet::Publish(publish) = decode(&bytes).expect("decodes") else {
            panic!("a PUBLISH");
        };
        assert_eq!(publish.properties.message_expiry_interval(), Some(5));
        assert!(publish.retain);
    }

    #[test]
    fn options_put_each_bit_in_its_place() {
        assert_eq!(options(2, true, true, handling::DO_NOT_SEND), 0b0010_1110);
        assert_eq!(options(1, false, false, handling::SEND_IF_NEW), 0b0001_0001);
    }

    #[test]
    fn a_frame_the_codec_refuses_is_reported_as_malformed() {
        // CONNACK in the 3.1.1 shape: no Property Length.
        let error = decode(&[0x20, 0x02, 0x00, 0x00]).expect_err("malformed at 5.0");
        assert!(error.contains("malformed"), "{error}");
    }
}

//! MQTT 5.0: arbitrary bytes never panic, stall or over-claim at level 5, and arbitrary valid
//! packets, properties included, encode and decode back to themselves.
//!
//! Valid property sets are built by offering the encoder random properties one at a time and
//! keeping those it accepts for the packet at hand, so that the generator does not restate Table
//! 2-4: the codec's own rules decide, and the round trip checks that the decoder agrees with them.

use mqtt_codec::v5::{
    self, Auth, ConnAck, Connect, Disconnect, Properties, Property, PubAck, PubRec, Publish,
    ReasonCode, RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions, UnsubAck,
    Unsubscribe, Will,
};
use mqtt_codec::{Delivery, List, QoS, Status, TopicFilter, TopicName};
use proptest::prelude::*;

use crate::arbitrary::{packet_id, qos, topic_filter, topic_name};

/// A property with owned values, for the strategies.
#[derive(Debug, Clone)]
enum Owned {
    Byte(u8, u8),
    Two(u8, u16),
    Four(u8, u32),
    SubscriptionIdentifier(u32),
    Text(u8, String),
    Binary(u8, Vec<u8>),
    User(String, String),
}

impl Owned {
    fn property(&self) -> Property<'_> {
        match self {
            Self::Byte(0x01, v) => Property::PayloadFormatIndicator(*v),
            Self::Byte(0x17, v) => Property::RequestProblemInformation(*v),
            Self::Byte(0x19, v) => Property::RequestResponseInformation(*v),
            Self::Byte(0x24, v) => Property::MaximumQoS(*v),
            Self::Byte(0x25, v) => Property::RetainAvailable(*v),
            Self::Byte(0x28, v) => Property::WildcardSubscriptionAvailable(*v),
            Self::Byte(0x29, v) => Property::SubscriptionIdentifierAvailable(*v),
            Self::Byte(_, v) => Property::SharedSubscriptionAvailable(*v),
            Self::Two(0x13, v) => Property::ServerKeepAlive(*v),
            Self::Two(0x21, v) => Property::ReceiveMaximum(*v),
            Self::Two(0x22, v) => Property::TopicAliasMaximum(*v),
            Self::Two(_, v) => Property::TopicAlias(*v),
            Self::Four(0x02, v) => Property::MessageExpiryInterval(*v),
            Self::Four(0x11, v) => Property::SessionExpiryInterval(*v),
            Self::Four(0x18, v) => Property::WillDelayInterval(*v),
            Self::Four(_, v) => Property::MaximumPacketSize(*v),
            Self::SubscriptionIdentifier(v) => Property::SubscriptionIdentifier(*v),
            Self::Text(0x03, v) => Property::ContentType(v),
            Self::Text(0x08, v) => Property::ResponseTopic(v),
            Self::Text(0x12, v) => Property::AssignedClientIdentifier(v),
            Self::Text(0x15, v) => Property::AuthenticationMethod(v),
            Self::Text(0x1A, v) => Property::ResponseInformation(v),
            Self::Text(0x1C, v) => Property::ServerReference(v),
            Self::Text(_, v) => Property::ReasonString(v),
            Self::Binary(0x09, v) => Property::CorrelationData(v),
            Self::Binary(_, v) => Property::AuthenticationData(v),
            Self::User(name, value) => Property::UserProperty(name, value),
        }
    }
}

fn owned() -> impl Strategy<Value = Owned> {
    let text = "[^\u{0}]{0,12}";
    prop_oneof![
        (
            prop::sample::select(vec![0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A]),
            0..3u8
        )
            .prop_map(|(id, v)| Owned::Byte(id, v)),
        (
            prop::sample::select(vec![0x13, 0x21, 0x22, 0x23]),
            prop_oneof![Just(0u16), any::<u16>()]
        )
            .prop_map(|(id, v)| Owned::Two(id, v)),
        (
            prop::sample::select(vec![0x02, 0x11, 0x18, 0x27]),
            prop_oneof![Just(0u32), any::<u32>()]
        )
            .prop_map(|(id, v)| Owned::Four(id, v)),
        prop_oneof![Just(0u32), 1..=268_435_455u32].prop_map(Owned::SubscriptionIdentifier),
        (
            prop::sample::select(vec![0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F]),
            text
        )
            .prop_map(|(id, v)| Owned::Text(id, v)),
        (
            prop::sample::select(vec![0x09, 0x16]),
            prop::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(id, v)| Owned::Binary(id, v)),
        (text, text).prop_map(|(name, value)| Owned::User(name, value)),
    ]
}

fn candidates() -> impl Strategy<Value = Vec<Owned>> {
    prop::collection::vec(owned(), 0..10)
}

/// The candidates the encoder accepts for a packet (`encodes` builds it around a set and tries),
/// offered one by one.
fn accepted<'a>(
    candidates: &'a [Owned],
    encodes: impl Fn(Properties<'_>) -> bool,
) -> Vec<Property<'a>> {
    let mut kept: Vec<Property<'a>> = Vec::new();
    for candidate in candidates {
        let mut trial = kept.clone();
        trial.push(candidate.property());
        if encodes(Properties::from_slice(&trial)) {
            kept = trial;
        }
    }
    kept
}

fn encodes(packet: v5::Packet<'_>) -> bool {
    packet.encode(&mut Vec::new()).is_ok()
}

/// Builds the packet with properties from the candidates the encoder accepts, and round-trips it.
macro_rules! check {
    ($candidates:expr, |$properties:ident| $packet:expr) => {{
        let kept = accepted(&$candidates, |$properties: Properties<'_>| encodes($packet));
        let $properties = Properties::from_slice(&kept);
        round_trip($packet)?;
    }};
}

/// Encodes, decodes, and checks the packet came back whole, at the length announced.
fn round_trip(packet: v5::Packet<'_>) -> Result<(), TestCaseError> {
    let mut bytes = Vec::new();
    let len = packet
        .encode(&mut bytes)
        .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert_eq!(len, bytes.len());
    prop_assert_eq!(packet.encoded_len(), bytes.len());
    match v5::Decoder::new().decode(&bytes) {
        Ok(Status::Complete((decoded, used))) => {
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(decoded, packet);
        }
        other => return Err(TestCaseError::fail(format!("{bytes:02x?} gave {other:?}"))),
    }
    for cut in 0..bytes.len() {
        prop_assert_eq!(
            v5::Decoder::new().decode(&bytes[..cut]),
            Ok(Status::Partial)
        );
    }
    Ok(())
}

fn drain(bytes: &[u8]) -> Result<(), TestCaseError> {
    let decoder = v5::Decoder::new();
    let mut rest = bytes;
    for _ in 0..=bytes.len() {
        match decoder.decode(rest) {
            Ok(Status::Complete((_, consumed))) => {
                prop_assert!(consumed >= 2 && consumed <= rest.len());
                rest = &rest[consumed..];
            }
            Ok(Status::Partial) | Err(_) => return Ok(()),
        }
    }
    Err(TestCaseError::fail("the decoder made no progress"))
}

fn reason() -> impl Strategy<Value = ReasonCode> {
    any::<u8>().prop_map(ReasonCode::from_byte)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        drain(&bytes)?;
    }

    #[test]
    fn arbitrary_bodies_after_a_plausible_header(
        first in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..127),
    ) {
        let mut bytes = vec![first, body.len() as u8];
        bytes.extend_from_slice(&body);
        drain(&bytes)?;
    }

    #[test]
    fn arbitrary_property_sets_behind_every_header(
        first in prop::sample::select(vec![0x10u8, 0x20, 0x30, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xA2, 0xB0, 0xE0, 0xF0]),
        prefix in prop::collection::vec(any::<u8>(), 0..4),
        properties in prop::collection::vec(any::<u8>(), 0..60),
    ) {
        // A few bytes of fields, then a plausible Property Length and random properties: this
        // reaches the property decoder of every packet type far more often than random bodies.
        let mut body = prefix;
        body.push(properties.len() as u8);
        body.extend_from_slice(&properties);
        let mut bytes = vec![first, body.len() as u8];
        bytes.extend_from_slice(&body);
        drain(&bytes)?;
    }

    #[test]
    fn publish(
        topic in proptest::option::of(topic_name()),
        payload in prop::collection::vec(any::<u8>(), 0..32),
        qos in qos(), id in packet_id(), dup in any::<bool>(), retain in any::<bool>(),
        candidates in candidates(),
    ) {
        let delivery = Delivery::new(qos, id, dup && qos != QoS::AtMostOnce);
        let topic = topic.as_deref().map(|t| TopicName::new(t).expect("valid"));
        // An empty topic needs an alias: offer one first.
        let mut candidates = candidates;
        if topic.is_none() {
            candidates.insert(0, Owned::Two(0x23, 1));
        }
        let kept = accepted(&candidates, |properties: Properties<'_>| encodes(v5::Packet::Publish(Publish {
            topic, payload: &payload, delivery, retain, properties,
        })));
        let properties = Properties::from_slice(&kept);
        round_trip(v5::Packet::Publish(Publish { topic, payload: &payload, delivery, retain, properties }))?;
    }

    #[test]
    fn connect_and_connack(
        clean_start in any::<bool>(), keep_alive in any::<u16>(),
        client_id in "[^\u{0}]{0,23}", will in proptest::option::of((topic_name(), qos(), any::<bool>())),
        user_name in proptest::option::of("[a-z]{0,8}"), password in proptest::option::of(prop::collection::vec(any::<u8>(), 0..8)),
        candidates in candidates(), will_candidates in candidates(),
        session_present in any::<bool>(), code in reason(),
    ) {
        let will_kept = accepted(&will_candidates, |properties: Properties<'_>| encodes(v5::Packet::Connect(Connect {
            will: Some(Will { properties, topic: TopicName::new("w").expect("valid"), payload: b"", qos: QoS::AtMostOnce, retain: false }),
            ..Connect::default()
        })));
        let will = will.as_ref().map(|(topic, qos, retain)| Will {
            properties: Properties::from_slice(&will_kept),
            topic: TopicName::new(topic).expect("valid"), payload: b"bye", qos: *qos, retain: *retain,
        });
        check!(candidates, |properties| v5::Packet::Connect(Connect {
            clean_start, keep_alive, properties, client_id: &client_id, will,
            user_name: user_name.as_deref(), password: password.as_deref(), bridge: false,
        }));
        if code.allowed_in(mqtt_codec::PacketType::ConnAck) {
            let session_present = session_present && code == ReasonCode::SUCCESS;
            check!(candidates, |properties| v5::Packet::ConnAck(ConnAck { session_present, reason: code, properties }));
        }
    }

    #[test]
    fn acknowledgements_disconnect_and_auth(id in packet_id(), code in reason(), candidates in candidates()) {
        use mqtt_codec::PacketType;
        if code.allowed_in(PacketType::PubAck) {
            check!(candidates, |properties| v5::Packet::PubAck(PubAck { packet_id: id, reason: code, properties }));
            check!(candidates, |properties| v5::Packet::PubRec(PubRec { packet_id: id, reason: code, properties }));
        }
        if code.allowed_in(PacketType::Disconnect) {
            check!(candidates, |properties| v5::Packet::Disconnect(Disconnect { reason: code, properties }));
        }
        if code.allowed_in(PacketType::Auth) {
            check!(candidates, |properties| v5::Packet::Auth(Auth { reason: code, properties }));
        }
    }

    #[test]
    fn subscribe_family(
        id in packet_id(),
        filters in prop::collection::vec((topic_filter(), qos(), any::<bool>(), any::<bool>(), 0..3u8), 1..5),
        codes in prop::collection::vec(reason(), 1..5),
        candidates in candidates(),
    ) {
        let entries: Vec<Subscription<'_>> = filters.iter().map(|(filter, qos, no_local, rap, rh)| Subscription {
            filter: TopicFilter::new(filter).expect("valid"),
            options: SubscriptionOptions {
                qos: *qos, no_local: *no_local, retain_as_published: *rap,
                retain_handling: match rh { 0 => RetainHandling::SendOnSubscribe, 1 => RetainHandling::SendIfNew, _ => RetainHandling::DoNotSend },
            },
        }).collect();
        check!(candidates, |properties| v5::Packet::Subscribe(Subscribe { packet_id: id, properties, filters: List::from_slice(&entries) }));
        let plain: Vec<TopicFilter<'_>> = entries.iter().map(|entry| entry.filter).collect();
        check!(candidates, |properties| v5::Packet::Unsubscribe(Unsubscribe { packet_id: id, properties, filters: List::from_slice(&plain) }));
        let sub_codes: Vec<_> = codes.iter().copied().filter(|c| c.allowed_in(mqtt_codec::PacketType::SubAck)).collect();
        if !sub_codes.is_empty() {
            check!(candidates, |properties| v5::Packet::SubAck(SubAck { packet_id: id, properties, reason_codes: List::from_slice(&sub_codes) }));
        }
        let unsub_codes: Vec<_> = codes.iter().copied().filter(|c| c.allowed_in(mqtt_codec::PacketType::UnsubAck)).collect();
        if !unsub_codes.is_empty() {
            check!(candidates, |properties| v5::Packet::UnsubAck(UnsubAck { packet_id: id, properties, reason_codes: List::from_slice(&unsub_codes) }));
        }
    }
}

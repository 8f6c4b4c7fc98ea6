//! Strategies for valid packets. Packets borrow their strings, so proptest generates an owned
//! [`PacketSpec`] and each test borrows a [`Packet`] from it.

use mqtt_codec::{
    ConnAck, Connect, ConnectReturnCode, Delivery, List, Packet, PacketId, ProtocolLevel, PubAck,
    PubComp, PubRec, PubRel, Publish, QoS, SubAck, SubAckReturnCode, Subscribe, Subscription,
    TopicFilter, TopicName, UnsubAck, Unsubscribe, Will,
};
use proptest::prelude::*;

/// An owned description of a packet, from which a borrowed [`Packet`] is built.
#[derive(Debug, Clone)]
pub(crate) enum PacketSpec {
    Connect {
        clean_session: bool,
        keep_alive: u16,
        client_id: String,
        will: Option<(String, Vec<u8>, QoS, bool)>,
        user_name: Option<String>,
        password: Option<Vec<u8>>,
    },
    ConnAck(bool, ConnectReturnCode),
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        packet_id: PacketId,
        dup: bool,
        retain: bool,
    },
    PubAck(PacketId),
    PubRec(PacketId),
    PubRel(PacketId),
    PubComp(PacketId),
    Subscribe(PacketId, Vec<(String, QoS)>),
    SubAck(PacketId, Vec<SubAckReturnCode>),
    Unsubscribe(PacketId, Vec<String>),
    UnsubAck(PacketId),
    PingReq,
    PingResp,
    Disconnect,
}

/// Borrowed entries of the list-carrying packets, which must outlive the [`Packet`].
#[derive(Default)]
pub(crate) struct Entries<'a> {
    subscriptions: Vec<Subscription<'a>>,
    filters: Vec<TopicFilter<'a>>,
}

fn filter(text: &str) -> TopicFilter<'_> {
    TopicFilter::new(text).expect("strategy makes valid filters")
}

impl PacketSpec {
    /// The entries the packet's list borrows, built first so that the packet can borrow them.
    pub(crate) fn entries(&self) -> Entries<'_> {
        match self {
            Self::Subscribe(_, entries) => Entries {
                subscriptions: entries
                    .iter()
                    .map(|(text, qos)| Subscription {
                        filter: filter(text),
                        qos: *qos,
                    })
                    .collect(),
                filters: Vec::new(),
            },
            Self::Unsubscribe(_, texts) => Entries {
                subscriptions: Vec::new(),
                filters: texts.iter().map(|text| filter(text)).collect(),
            },
            _ => Entries::default(),
        }
    }

    pub(crate) fn packet<'a>(
        &'a self,
        level: ProtocolLevel,
        entries: &'a Entries<'a>,
    ) -> Packet<'a> {
        let name = |text: &'a str| TopicName::new(text).expect("strategy makes valid names");
        match self {
            Self::Connect {
                clean_session,
                keep_alive,
                client_id,
                will,
                user_name,
                password,
            } => Packet::Connect(Connect {
                level,
                clean_session: *clean_session,
                keep_alive: *keep_alive,
                client_id,
                will: will.as_ref().map(|(topic, payload, qos, retain)| Will {
                    topic: name(topic),
                    payload,
                    qos: *qos,
                    retain: *retain,
                }),
                user_name: user_name.as_deref(),
                // A password only goes with a user name [MQTT-3.1.2-22].
                password: user_name.as_ref().and(password.as_deref()),
                bridge: false,
            }),
            Self::ConnAck(session_present, code) => Packet::ConnAck(ConnAck {
                // Session Present exists only at 3.1.1 [V31-DIFF-7], and only on acceptance
                // [MQTT-3.2.2-4].
                session_present: *session_present
                    && level == ProtocolLevel::Mqtt311
                    && *code == ConnectReturnCode::Accepted,
                code: *code,
            }),
            Self::Publish {
                topic,
                payload,
                qos,
                packet_id,
                dup,
                retain,
            } => Packet::Publish(Publish {
                topic: name(topic),
                payload,
                delivery: Delivery::new(*qos, *packet_id, *dup),
                retain: *retain,
            }),
            Self::PubAck(packet_id) => Packet::PubAck(PubAck {
                packet_id: *packet_id,
            }),
            Self::PubRec(packet_id) => Packet::PubRec(PubRec {
                packet_id: *packet_id,
            }),
            Self::PubRel(packet_id) => Packet::PubRel(PubRel {
                packet_id: *packet_id,
            }),
            Self::PubComp(packet_id) => Packet::PubComp(PubComp {
                packet_id: *packet_id,
            }),
            Self::Subscribe(packet_id, _) => Packet::Subscribe(Subscribe {
                packet_id: *packet_id,
                filters: List::from_slice(&entries.subscriptions),
            }),
            Self::SubAck(packet_id, codes) => Packet::SubAck(SubAck {
                packet_id: *packet_id,
                return_codes: List::from_slice(codes),
            }),
            Self::Unsubscribe(packet_id, _) => Packet::Unsubscribe(Unsubscribe {
                packet_id: *packet_id,
                filters: List::from_slice(&entries.filters),
            }),
            Self::UnsubAck(packet_id) => Packet::UnsubAck(UnsubAck {
                packet_id: *packet_id,
            }),
            Self::PingReq => Packet::PingReq,
            Self::PingResp => Packet::PingResp,
            Self::Disconnect => Packet::Disconnect,
        }
    }
}

pub(crate) fn level() -> impl Strategy<Value = ProtocolLevel> {
    prop_oneof![Just(ProtocolLevel::Mqtt31), Just(ProtocolLevel::Mqtt311)]
}

pub(crate) fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

pub(crate) fn packet_id() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(|value| PacketId::new(value).expect("range starts at 1"))
}

/// Any string without U+0000 [MQTT-1.5.3-2], including non-ASCII and U+FEFF [MQTT-1.5.3-3].
fn string() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,24}"
}

/// A valid topic name: at least one character, no wildcard, no U+0000.
pub(crate) fn topic_name() -> impl Strategy<Value = String> {
    "[^\u{0}+#]{1,24}"
}

/// A valid topic filter, built level by level with wildcards where they are allowed.
pub(crate) fn topic_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![
        3 => "[^\u{0}+#/]{0,6}",
        1 => Just("+".to_owned()),
    ];
    (prop::collection::vec(level, 1..5), any::<bool>()).prop_map(|(mut levels, multi)| {
        if multi {
            levels.push("#".to_owned());
        }
        let filter = levels.join("/");
        // A lone empty level would be an empty filter [MQTT-4.7.3-1].
        if filter.is_empty() {
            "#".to_owned()
        } else {
            filter
        }
    })
}

fn connect_return_code() -> impl Strategy<Value = ConnectReturnCode> {
    (0u8..=5).prop_map(|byte| ConnectReturnCode::from_byte(byte).expect("0 to 5 are codes"))
}

fn suback_codes(level: ProtocolLevel) -> impl Strategy<Value = Vec<SubAckReturnCode>> {
    let granted = qos().prop_map(SubAckReturnCode::Granted);
    let code = if level == ProtocolLevel::Mqtt311 {
        prop_oneof![3 => granted, 1 => Just(SubAckReturnCode::Failure)].boxed()
    } else {
        // 3.1 has no failure code [V31-DIFF-34].
        granted.boxed()
    };
    prop::collection::vec(code, 1..6)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Any valid CONNECT.
pub(crate) fn connect_spec() -> impl Strategy<Value = PacketSpec> {
    (
        any::<bool>(),
        any::<u16>(),
        string(),
        prop::option::of((topic_name(), bytes(16), qos(), any::<bool>())),
        prop::option::of(string()),
        prop::option::of(bytes(16)),
    )
        .prop_map(
            |(clean_session, keep_alive, client_id, will, user_name, password)| {
                PacketSpec::Connect {
                    clean_session,
                    keep_alive,
                    client_id,
                    will,
                    user_name,
                    password,
                }
            },
        )
}

/// Any valid packet that can be sent at `level`.
pub(crate) fn packet_spec(level: ProtocolLevel) -> impl Strategy<Value = PacketSpec> {
    let connect = connect_spec();
    let publish = (
        topic_name(),
        bytes(300),
        qos(),
        packet_id(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(topic, payload, qos, packet_id, dup, retain)| PacketSpec::Publish {
                topic,
                payload,
                qos,
                packet_id,
                dup,
                retain,
            },
        );
    prop_oneof![
        connect,
        (any::<bool>(), connect_return_code()).prop_map(|(sp, code)| PacketSpec::ConnAck(sp, code)),
        publish,
        packet_id().prop_map(PacketSpec::PubAck),
        packet_id().prop_map(PacketSpec::PubRec),
        packet_id().prop_map(PacketSpec::PubRel),
        packet_id().prop_map(PacketSpec::PubComp),
        (
            packet_id(),
            prop::collection::vec((topic_filter(), qos()), 1..6)
        )
            .prop_map(|(id, entries)| PacketSpec::Subscribe(id, entries)),
        (packet_id(), suback_codes(level)).prop_map(|(id, codes)| PacketSpec::SubAck(id, codes)),
        (packet_id(), prop::collection::vec(topic_filter(), 1..6))
            .prop_map(|(id, filters)| PacketSpec::Unsubscribe(id, filters)),
        packet_id().prop_map(PacketSpec::UnsubAck),
        Just(PacketSpec::PingReq),
        Just(PacketSpec::PingResp),
        Just(PacketSpec::Disconnect),
    ]
}

/// A protocol level and a valid packet for it.
pub(crate) fn level_and_packet() -> impl Strategy<Value = (ProtocolLevel, PacketSpec)> {
    level().prop_flat_map(|level| (Just(level), packet_spec(level)))
}

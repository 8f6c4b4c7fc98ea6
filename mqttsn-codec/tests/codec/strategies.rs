//! Proptest generators for every message type, valid by construction.
//!
//! Messages borrow their strings and payloads, and a strategy must return an owned value: the
//! generated strings are leaked to make them `'static`. That is a few megabytes at most over a test
//! run, freed when the process exits.

use mqttsn_codec::{
    Advertise, ClientId, ConnAck, Connect, Disconnect, Encapsulated, GwAddress, GwInfo, Message,
    MsgId, PingReq, PubAck, PubComp, PubRec, PubRel, Publish, PublishTopic, QoS, RegAck, Register,
    ReturnCode, SearchGw, ShortTopicName, SubAck, Subscribe, SubscribeTopic, TopicFilter, TopicId,
    TopicName, UnsubAck, Unsubscribe, WillMsg, WillResp, WillTopic,
};
use proptest::prelude::*;

fn leak_str(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn leak_bytes(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

pub(crate) fn bytes(max_len: usize) -> impl Strategy<Value = &'static [u8]> {
    prop::collection::vec(any::<u8>(), 0..=max_len).prop_map(leak_bytes)
}

pub(crate) fn qos_0_1_2() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn return_code() -> impl Strategy<Value = ReturnCode> {
    prop_oneof![
        Just(ReturnCode::Accepted),
        Just(ReturnCode::Congestion),
        Just(ReturnCode::InvalidTopicId),
        Just(ReturnCode::NotSupported)
    ]
}

fn msg_id() -> impl Strategy<Value = MsgId> {
    any::<u16>().prop_map(MsgId)
}

fn topic_id() -> impl Strategy<Value = TopicId> {
    any::<u16>().prop_map(TopicId)
}

fn client_id() -> impl Strategy<Value = ClientId<'static>> {
    "[a-zA-Z0-9_é-]{1,23}".prop_map(|id| ClientId::new(leak_str(id)).expect("1 to 23 characters"))
}

pub(crate) fn topic_name() -> impl Strategy<Value = TopicName<'static>> {
    "[a-z0-9/ é$]{1,40}".prop_map(|name| TopicName::new(leak_str(name)).expect("no wildcard"))
}

fn topic_filter() -> impl Strategy<Value = TopicFilter<'static>> {
    let level = prop_oneof![Just("+".to_owned()), "[a-z0-9é]{0,8}"];
    // One empty level alone would be the empty filter, which is no filter at all: left out (a
    // seed that drew it made this strategy panic now and then).
    (prop::collection::vec(level, 1..5), any::<bool>())
        .prop_filter("the empty filter", |(levels, multi)| {
            *multi || levels.iter().any(|level| !level.is_empty()) || levels.len() > 1
        })
        .prop_map(|(mut levels, multi)| {
            if multi {
                levels.push("#".to_owned());
            }
            TopicFilter::new(leak_str(levels.join("/"))).expect("well-placed wildcards")
        })
}

pub(crate) fn short_name() -> impl Strategy<Value = ShortTopicName> {
    prop_oneof!["[a-zA-Z0-9/]{2}", Just("é".to_owned())]
        .prop_map(|name| ShortTopicName::new(&name).expect("two octets"))
}

fn subscribe_topic() -> impl Strategy<Value = SubscribeTopic<'static>> {
    prop_oneof![
        topic_filter().prop_map(SubscribeTopic::Name),
        topic_id().prop_map(SubscribeTopic::Predefined),
        short_name().prop_map(SubscribeTopic::Short),
    ]
}

pub(crate) fn publish_with(
    data: impl Strategy<Value = &'static [u8]>,
) -> impl Strategy<Value = Message<'static>> {
    let acked = (qos_0_1_2(), msg_id())
        .prop_map(|(qos, id)| (qos, if qos.needs_msg_id() { id } else { MsgId::NONE }));
    let topic = prop_oneof![
        topic_id().prop_map(PublishTopic::Normal),
        topic_id().prop_map(PublishTopic::Predefined),
        short_name().prop_map(PublishTopic::Short),
    ];
    // [SN-6.8-2] QoS -1 only with a pre-defined id or a short name, and [SN-5.4.12-3] MsgId 0.
    let minus_one_topic = prop_oneof![
        topic_id().prop_map(PublishTopic::Predefined),
        short_name().prop_map(PublishTopic::Short),
    ];
    let qos_and_topic = prop_oneof![
        3 => (acked, topic).prop_map(|((qos, id), topic)| (qos, id, topic)),
        1 => minus_one_topic.prop_map(|topic| (QoS::MinusOne, MsgId::NONE, topic)),
    ];
    (qos_and_topic, any::<bool>(), any::<bool>(), data).prop_map(
        |((qos, msg_id, topic), dup, retain, data)| {
            Message::Publish(Publish {
                dup,
                qos,
                retain,
                topic,
                msg_id,
                data,
            })
        },
    )
}

fn will_topic() -> impl Strategy<Value = WillTopic<'static>> {
    prop_oneof![
        1 => Just(WillTopic::Delete),
        3 => (qos_0_1_2(), any::<bool>(), topic_name())
            .prop_map(|(qos, retain, topic)| WillTopic::Set { qos, retain, topic }),
    ]
}

/// One strategy per message type, named as in the specification, encapsulation excepted.
pub(crate) fn plain_messages() -> Vec<(&'static str, BoxedStrategy<Message<'static>>)> {
    vec![
        (
            "ADVERTISE",
            (any::<u8>(), any::<u16>())
                .prop_map(|(gw_id, duration)| Message::Advertise(Advertise { gw_id, duration }))
                .boxed(),
        ),
        (
            "SEARCHGW",
            any::<u8>()
                .prop_map(|radius| Message::SearchGw(SearchGw { radius }))
                .boxed(),
        ),
        (
            "GWINFO",
            (any::<u8>(), prop::option::of(bytes(16)))
                .prop_map(|(gw_id, address)| {
                    Message::GwInfo(GwInfo {
                        gw_id,
                        gw_add: address.and_then(|a| GwAddress::new(a).ok()),
                    })
                })
                .boxed(),
        ),
        (
            "CONNECT",
            (any::<bool>(), any::<bool>(), any::<u16>(), client_id())
                .prop_map(|(will, clean_session, duration, client_id)| {
                    Message::Connect(Connect {
                        will,
                        clean_session,
                        duration,
                        client_id,
                    })
                })
                .boxed(),
        ),
        (
            "CONNACK",
            return_code()
                .prop_map(|return_code| Message::ConnAck(ConnAck { return_code }))
                .boxed(),
        ),
        ("WILLTOPICREQ", Just(Message::WillTopicReq).boxed()),
        (
            "WILLTOPIC",
            will_topic().prop_map(Message::WillTopic).boxed(),
        ),
        ("WILLMSGREQ", Just(Message::WillMsgReq).boxed()),
        (
            "WILLMSG",
            bytes(64)
                .prop_map(|message| Message::WillMsg(WillMsg { message }))
                .boxed(),
        ),
        (
            "REGISTER",
            (topic_id(), msg_id(), topic_name())
                .prop_map(|(topic_id, msg_id, topic_name)| {
                    Message::Register(Register {
                        topic_id,
                        msg_id,
                        topic_name,
                    })
                })
                .boxed(),
        ),
        (
            "REGACK",
            (topic_id(), msg_id(), return_code())
                .prop_map(|(topic_id, msg_id, return_code)| {
                    Message::RegAck(RegAck {
                        topic_id,
                        msg_id,
                        return_code,
                    })
                })
                .boxed(),
        ),
        ("PUBLISH", publish_with(bytes(64)).boxed()),
        (
            "PUBACK",
            (topic_id(), msg_id(), return_code())
                .prop_map(|(topic_id, msg_id, return_code)| {
                    Message::PubAck(PubAck {
                        topic_id,
                        msg_id,
                        return_code,
                    })
                })
                .boxed(),
        ),
        (
            "PUBCOMP",
            msg_id()
                .prop_map(|msg_id| Message::PubComp(PubComp { msg_id }))
                .boxed(),
        ),
        (
            "PUBREC",
            msg_id()
                .prop_map(|msg_id| Message::PubRec(PubRec { msg_id }))
                .boxed(),
        ),
        (
            "PUBREL",
            msg_id()
                .prop_map(|msg_id| Message::PubRel(PubRel { msg_id }))
                .boxed(),
        ),
        (
            "SUBSCRIBE",
            (any::<bool>(), qos_0_1_2(), msg_id(), subscribe_topic())
                .prop_map(|(dup, qos, msg_id, topic)| {
                    Message::Subscribe(Subscribe {
                        dup,
                        qos,
                        msg_id,
                        topic,
                    })
                })
                .boxed(),
        ),
        (
            "SUBACK",
            (qos_0_1_2(), topic_id(), msg_id(), return_code())
                .prop_map(|(qos, topic_id, msg_id, return_code)| {
                    Message::SubAck(SubAck {
                        qos,
                        topic_id,
                        msg_id,
                        return_code,
                    })
                })
                .boxed(),
        ),
        (
            "UNSUBSCRIBE",
            (msg_id(), subscribe_topic())
                .prop_map(|(msg_id, topic)| Message::Unsubscribe(Unsubscribe { msg_id, topic }))
                .boxed(),
        ),
        (
            "UNSUBACK",
            msg_id()
                .prop_map(|msg_id| Message::UnsubAck(UnsubAck { msg_id }))
                .boxed(),
        ),
        (
            "PINGREQ",
            prop::option::of(client_id())
                .prop_map(|client_id| Message::PingReq(PingReq { client_id }))
                .boxed(),
        ),
        ("PINGRESP", Just(Message::PingResp).boxed()),
        (
            "DISCONNECT",
            prop::option::of(any::<u16>())
                .prop_map(|duration| Message::Disconnect(Disconnect { duration }))
                .boxed(),
        ),
        (
            "WILLTOPICUPD",
            will_topic().prop_map(Message::WillTopicUpd).boxed(),
        ),
        (
            "WILLTOPICRESP",
            return_code()
                .prop_map(|return_code| Message::WillTopicResp(WillResp { return_code }))
                .boxed(),
        ),
        (
            "WILLMSGUPD",
            bytes(64)
                .prop_map(|message| Message::WillMsgUpd(WillMsg { message }))
                .boxed(),
        ),
        (
            "WILLMSGRESP",
            return_code()
                .prop_map(|return_code| Message::WillMsgResp(WillResp { return_code }))
                .boxed(),
        ),
    ]
}

/// Any message but an encapsulation.
pub(crate) fn plain_message() -> impl Strategy<Value = Message<'static>> {
    let strategies: Vec<_> = plain_messages()
        .into_iter()
        .map(|(_, strategy)| strategy)
        .collect();
    proptest::strategy::Union::new(strategies)
}

/// An encapsulation of any other message.
pub(crate) fn encapsulated() -> impl Strategy<Value = Message<'static>> {
    (
        0..=3u8,
        bytes(mqttsn_codec::MAX_WIRELESS_NODE_ID_LEN),
        plain_message(),
    )
        .prop_map(|(radius, node_id, inner)| {
            let mut octets = Vec::new();
            inner
                .encode(&mut octets)
                .expect("generated messages are valid");
            let frame = Encapsulated::new(radius, node_id, leak_bytes(octets))
                .expect("a valid message in a valid frame");
            Message::Encapsulated(frame)
        })
}

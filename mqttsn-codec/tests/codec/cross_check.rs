//! Cross-check against an independent implementation: octets encoded by the PyPI package `mqttsn`
//! 0.0.4 (a Python port of the Paho/RSMB MQTT-SN client), captured by `tests/data/capture.py` into
//! `tests/data/paho-python-mqttsn-0.0.4.txt`. See `tests/data/README.md`.
//!
//! Each vector must decode to the message written here, and our encoder must write the same octets,
//! with one documented difference: that package sets CleanSession in the Flags of every message, and
//! PUBLISH, SUBSCRIBE and UNSUBSCRIBE do not use that flag, so we read past it and write it as 0
//! (`docs/mqtt-sn-ambiguities.md`, "Flags a message does not use").

use mqttsn_codec::{
    ClientId, Connect, Disconnect, Flags, Message, MsgId, PubAck, PubComp, PubRec, PubRel, Publish,
    PublishTopic, QoS, Register, ReturnCode, ShortTopicName, Subscribe, SubscribeTopic,
    TopicFilter, TopicId, TopicName, Unsubscribe,
};

const CAPTURED: &str = include_str!("../data/paho-python-mqttsn-0.0.4.txt");

/// The captured vectors by name.
fn captured() -> Vec<(&'static str, Vec<u8>)> {
    CAPTURED
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (name, hex) = line.split_once(' ').expect("`name hex`");
            let octets = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (name, octets)
        })
        .collect()
}

fn publish(
    qos: QoS,
    dup: bool,
    retain: bool,
    topic: PublishTopic,
    msg_id: u16,
    data: &'static [u8],
) -> Message<'static> {
    Message::Publish(Publish {
        dup,
        qos,
        retain,
        topic,
        msg_id: MsgId(msg_id),
        data,
    })
}

/// What each captured vector must decode to, and whether its Flags carry the unused CleanSession.
fn expected(name: &str) -> (Message<'static>, bool) {
    let long_payload: &'static [u8] = Vec::leak((0..=255u8).chain([0; 44]).collect());
    let short_tt = PublishTopic::Short(ShortTopicName::new("tt").expect("valid"));
    match name {
        "connect" => (
            Message::Connect(Connect {
                will: false,
                clean_session: true,
                duration: 60,
                client_id: ClientId::new("sensor-1").expect("valid"),
            }),
            false,
        ),
        "connect_will" => (
            Message::Connect(Connect {
                will: true,
                clean_session: false,
                duration: 300,
                client_id: ClientId::new("n7").expect("valid"),
            }),
            false,
        ),
        "register" => (
            Message::Register(Register {
                topic_id: TopicId::UNASSIGNED,
                msg_id: MsgId(1),
                topic_name: TopicName::new("sensors/kitchen/t").expect("valid"),
            }),
            false,
        ),
        "publish_normal_qos1" => (
            publish(
                QoS::AtLeastOnce,
                false,
                false,
                PublishTopic::Normal(TopicId(1)),
                2,
                b"21.5",
            ),
            true,
        ),
        "publish_short_qos0" => (
            publish(QoS::AtMostOnce, false, false, short_tt, 0, b"on"),
            true,
        ),
        "publish_predefined_qos_minus_one" => (
            publish(
                QoS::MinusOne,
                false,
                false,
                PublishTopic::Predefined(TopicId(5)),
                0,
                b"x",
            ),
            true,
        ),
        "publish_qos2_dup_retain" => (
            publish(
                QoS::ExactlyOnce,
                true,
                true,
                PublishTopic::Normal(TopicId(0x0102)),
                0xBEEF,
                &[0x00, 0xFF],
            ),
            true,
        ),
        "publish_long_300" => (
            publish(
                QoS::AtLeastOnce,
                false,
                false,
                PublishTopic::Normal(TopicId(1)),
                3,
                long_payload,
            ),
            true,
        ),
        "puback" => (
            Message::PubAck(PubAck {
                topic_id: TopicId(1),
                msg_id: MsgId(2),
                return_code: ReturnCode::InvalidTopicId,
            }),
            false,
        ),
        "pubrec" => (
            Message::PubRec(PubRec {
                msg_id: MsgId(0x1234),
            }),
            false,
        ),
        "pubrel" => (
            Message::PubRel(PubRel {
                msg_id: MsgId(0x1234),
            }),
            false,
        ),
        "pubcomp" => (
            Message::PubComp(PubComp {
                msg_id: MsgId(0x1234),
            }),
            false,
        ),
        "subscribe_name" => (
            Message::Subscribe(Subscribe {
                dup: false,
                qos: QoS::AtLeastOnce,
                msg_id: MsgId(3),
                topic: SubscribeTopic::Name(TopicFilter::new("sensors/#").expect("valid")),
            }),
            true,
        ),
        "subscribe_predefined" => (
            Message::Subscribe(Subscribe {
                dup: false,
                qos: QoS::ExactlyOnce,
                msg_id: MsgId(4),
                topic: SubscribeTopic::Predefined(TopicId(9)),
            }),
            true,
        ),
        "unsubscribe_name" => (
            Message::Unsubscribe(Unsubscribe {
                msg_id: MsgId(6),
                topic: SubscribeTopic::Name(TopicFilter::new("a/+").expect("valid")),
            }),
            true,
        ),
        "disconnect_sleep" => (
            Message::Disconnect(Disconnect {
                duration: Some(3600),
            }),
            false,
        ),
        other => panic!("captured vector {other} has no expected message"),
    }
}

#[test]
fn captured_vectors_decode_to_the_expected_messages_and_re_encode() {
    let vectors = captured();
    assert_eq!(
        vectors.len(),
        16,
        "a vector went missing from the data file"
    );
    for (name, octets) in vectors {
        let (message, unused_clean_session) = expected(name);
        assert_eq!(Message::decode(&octets), Ok(message), "decoding {name}");
        let mut ours = Vec::new();
        message.encode(&mut ours).expect("valid message");
        let mut theirs = octets.clone();
        if unused_clean_session {
            // The Flags octet follows the header, which is 2 or 4 octets.
            let flags_at = if theirs[0] == 0x01 { 4 } else { 2 };
            assert_ne!(theirs[flags_at] & Flags::CLEAN_SESSION, 0, "{name}");
            theirs[flags_at] &= !Flags::CLEAN_SESSION;
        }
        assert_eq!(ours, theirs, "encoding {name}");
    }
}

#[test]
fn the_captured_long_publish_uses_the_three_octet_length() {
    // [SN-5.2.1-2] Both implementations switch to the 3-octet form above 255 octets.
    let (_, octets) = captured()
        .into_iter()
        .find(|(name, _)| *name == "publish_long_300")
        .expect("captured");
    assert_eq!(octets[..4], [0x01, 0x01, 0x35, 0x0C]);
    assert_eq!(octets.len(), 0x0135);
}

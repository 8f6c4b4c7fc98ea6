//! Every message type survives encode then decode unchanged, and `encoded_len` is exact; both Length
//! forms are exercised at their boundaries [SN-5.2.1-2] [SN-5.2.1-3] [SN-5.2.1-4].

use mqttsn_codec::{
    EncodeError, Message, MsgId, MsgType, Publish, PublishTopic, QoS, TopicId, WillMsg,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::strategies::{bytes, encapsulated, plain_messages, publish_with};

/// Encodes `message` both ways, checks the length and the header form, and decodes it back.
pub(crate) fn assert_round_trip(message: &Message<'_>) -> Vec<u8> {
    let len = message.encoded_len();
    let mut appended = vec![0xEE];
    assert_eq!(message.encode(&mut appended), Ok(len), "{message:?}");
    let octets = appended.split_off(1);
    let mut slice = vec![0u8; len];
    assert_eq!(message.encode_to_slice(&mut slice), Ok(len));
    assert_eq!(slice, octets);
    assert_eq!(Message::decode(&octets).as_ref(), Ok(message));
    if !matches!(message, Message::Encapsulated(_)) {
        // [SN-5.2.1-4] A sender uses the 1-octet Length whenever it can.
        if len <= 255 {
            assert_eq!(usize::from(octets[0]), len);
        } else {
            assert_eq!(octets[..3], [0x01, (len >> 8) as u8, len as u8]);
        }
    }
    octets
}

#[test]
fn every_message_type_round_trips() {
    let mut runner = TestRunner::new(Config::with_cases(64));
    for (name, strategy) in plain_messages() {
        runner
            .run(&strategy, |message| {
                assert_eq!(message.msg_type().name(), name);
                assert_round_trip(&message);
                Ok(())
            })
            .unwrap_or_else(|failure| panic!("{name}: {failure}"));
    }
}

#[test]
fn every_message_type_but_the_encapsulation_has_a_strategy() {
    // Guards the test above against a message type left out; the encapsulation has its own property.
    let generated: Vec<&str> = plain_messages().iter().map(|(name, _)| *name).collect();
    let expected: Vec<&str> = (0..=u8::MAX)
        .filter_map(|code| MsgType::from_u8(code).ok())
        .filter(|&msg_type| msg_type != MsgType::Encapsulated)
        .map(MsgType::name)
        .collect();
    assert_eq!(generated, expected);
}

proptest! {
    #![proptest_config(Config::with_cases(128))]

    #[test]
    fn encapsulated_messages_round_trip(frame in encapsulated()) {
        assert_round_trip(&frame);
        let Message::Encapsulated(frame) = frame else { unreachable!() };
        let inner = frame.message().expect("checked when built");
        prop_assert_eq!(inner.encoded_len(), frame.message_bytes().len());
    }

    #[test]
    fn publish_round_trips_across_the_length_forms(message in publish_with(bytes(600))) {
        assert_round_trip(&message);
    }
}

proptest! {
    #![proptest_config(Config::with_cases(8))]

    #[test]
    fn publish_round_trips_near_the_largest_length(
        message in publish_with((65_000usize..=65_526).prop_map(|n| &*vec![0x5A; n].leak()))
    ) {
        assert_round_trip(&message);
    }
}

fn publish(data: &[u8]) -> Message<'_> {
    Message::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: PublishTopic::Normal(TopicId(1)),
        msg_id: MsgId(7),
        data,
    })
}

#[test]
fn the_length_form_switches_between_255_and_256_octets() {
    // [SN-5.2.1-3] [SN-5.2.1-4] A PUBLISH body is 5 octets plus data: 248 octets of data make 255.
    let data = [0xA5; 300];
    let longest_short = assert_round_trip(&publish(&data[..248]));
    assert_eq!((longest_short.len(), longest_short[0]), (255, 0xFF));
    // [SN-5.2.1-2] One more octet of data needs the 3-octet form: 256 octets of message would be
    // 258 with the longer header.
    let shortest_long = assert_round_trip(&publish(&data[..249]));
    assert_eq!(shortest_long.len(), 258);
    assert_eq!(shortest_long[..4], [0x01, 0x01, 0x02, 0x0C]);
}

#[test]
fn the_three_octet_form_is_accepted_for_any_length_it_can_say() {
    // [SN-5.2.1-4] Receivers accept the 3-octet form even below 256, exactly at 256, and at 65 535.
    for total in [4usize, 255, 256, 257, 65_535] {
        let mut datagram = vec![0x01, (total >> 8) as u8, total as u8, 0x09];
        datagram.resize(total, 0x33);
        let Ok(Message::WillMsg(will)) = Message::decode(&datagram) else {
            panic!("3-octet WILLMSG of {total} octets refused");
        };
        assert_eq!(will.message.len(), total - 4);
    }
}

#[test]
fn the_largest_message_is_65535_octets() {
    // [SN-5.2.1-4] WILLMSG has no fixed field: 65 531 octets of will make exactly 65 535.
    let will = vec![0x77; 65_532];
    let largest = assert_round_trip(&Message::WillMsg(WillMsg {
        message: &will[1..],
    }));
    assert_eq!(largest[..4], [0x01, 0xFF, 0xFF, 0x09]);
    let too_long = Message::WillMsg(WillMsg { message: &will });
    assert_eq!(
        too_long.encode(&mut Vec::new()),
        Err(EncodeError::MessageTooLong)
    );
    let largest_publish = vec![0; 65_535 - 9];
    assert_eq!(assert_round_trip(&publish(&largest_publish)).len(), 65_535);
}

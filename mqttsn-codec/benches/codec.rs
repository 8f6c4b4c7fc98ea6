//! Decode and encode of the messages a sensor node sends most, each beside a plain copy of the same
//! octets as the floor: the goal is that no message costs more than 3x the copy.
//!
//! Run with `cargo bench -p mqttsn-codec`; results and the machine are in `BENCHMARKS.md`.

// `criterion_group!` defines a public function without a doc comment.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mqttsn_codec::{
    ClientId, Connect, Message, MsgId, Publish, PublishTopic, QoS, Register, ShortTopicName,
    Subscribe, SubscribeTopic, TopicFilter, TopicId, TopicName,
};

const PAYLOAD: [u8; 32] = *b"temperature=21.5;humidity=40.2;x";

fn cases() -> Vec<(&'static str, Message<'static>)> {
    vec![
        (
            "publish_short_topic",
            Message::Publish(Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: PublishTopic::Short(ShortTopicName::new("tt").expect("valid")),
                msg_id: MsgId(7),
                data: &PAYLOAD,
            }),
        ),
        (
            "publish_topic_id",
            Message::Publish(Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: PublishTopic::Normal(TopicId(0x0102)),
                msg_id: MsgId(7),
                data: &PAYLOAD,
            }),
        ),
        (
            "connect",
            Message::Connect(Connect {
                will: false,
                clean_session: true,
                duration: 60,
                client_id: ClientId::new("sensor-kitchen-01").expect("valid"),
            }),
        ),
        (
            "register",
            Message::Register(Register {
                topic_id: TopicId::UNASSIGNED,
                msg_id: MsgId(1),
                topic_name: TopicName::new("home/kitchen/temperature").expect("valid"),
            }),
        ),
        (
            "subscribe",
            Message::Subscribe(Subscribe {
                dup: false,
                qos: QoS::AtLeastOnce,
                msg_id: MsgId(2),
                topic: SubscribeTopic::Name(TopicFilter::new("home/+/temperature").expect("valid")),
            }),
        ),
    ]
}

fn codec(c: &mut Criterion) {
    for (name, message) in cases() {
        let mut datagram = Vec::new();
        message.encode(&mut datagram).expect("valid message");
        let mut out = [0u8; 128];
        let mut group = c.benchmark_group(name);
        group.bench_function("copy", |b| {
            b.iter(|| {
                let bytes: &[u8] = black_box(&datagram);
                out[..bytes.len()].copy_from_slice(bytes);
                black_box(&out);
            });
        });
        // The decoded message goes to `black_box` by reference: moving the whole result by value
        // costs more than decoding a small message (see BENCHMARKS.md).
        group.bench_function("decode", |b| {
            b.iter(|| {
                let decoded = Message::decode(black_box(&datagram));
                black_box(&decoded);
            });
        });
        group.bench_function("encode_to_slice", |b| {
            b.iter(|| {
                let len = black_box(&message).encode_to_slice(&mut out);
                black_box(&out);
                len
            });
        });
        let mut appended = Vec::with_capacity(128);
        group.bench_function("encode_vec", |b| {
            b.iter(|| {
                appended.clear();
                black_box(&message).encode(&mut appended)
            });
        });
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);

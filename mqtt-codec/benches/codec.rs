//! Criterion benchmarks of `mqtt-codec`, each read as a ratio.
//!
//! For every case the same bytes are also copied (the floor: no decoder can beat a `memcpy` of its
//! input) and decoded and encoded by `mqttbytes` 0.6, the most used Rust MQTT codec, in the same run.
//! Run with `cargo bench -p mqtt-wire-codec`; `BENCHMARKS.md` records the results and how to read them.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mqtt_codec::{
    Connect, Decoder, Delivery, List, Packet, PacketId, ProtocolLevel, PubAck, Publish, QoS,
    Status, Subscribe, Subscription, TopicFilter, TopicName,
};
use mqttbytes::v4 as theirs;

const LEVEL: ProtocolLevel = ProtocolLevel::Mqtt311;
const MAX: usize = 1 << 20;
const TOPIC: &str = "sensors/0001/tmp"; // 16 bytes

fn id(value: u16) -> PacketId {
    PacketId::new(value).expect("non-zero")
}

fn encode(packet: Packet<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    packet.encode(LEVEL, &mut out).expect("valid packet");
    out
}

/// Benchmarks one packet: copy, decode and encode with both codecs.
///
/// Decoded results are passed to `black_box` by reference, for both codecs alike: moving a ~100-byte
/// result into `black_box` by value costs more than decoding a small packet (see BENCHMARKS.md).
fn bench_packet<T: Clone>(
    c: &mut Criterion,
    name: &str,
    ours: Packet<'_>,
    theirs_packet: T,
    theirs_write: fn(&T, &mut BytesMut) -> usize,
) {
    let bytes = encode(ours);
    assert!(matches!(
        Decoder::new(LEVEL).decode(&bytes),
        Ok(Status::Complete(_))
    ));
    // Both codecs must agree on the bytes, or the comparison means nothing.
    let mut check = BytesMut::new();
    theirs_write(&theirs_packet, &mut check);
    assert_eq!(
        &check[..],
        &bytes[..],
        "{name}: mqttbytes encodes other bytes"
    );

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    let mut out = Vec::with_capacity(bytes.len());
    group.bench_function("copy", |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&bytes));
            black_box(&out);
        })
    });
    let decoder = Decoder::new(LEVEL);
    group.bench_function("decode/mqtt-codec", |b| {
        b.iter(|| {
            let decoded = decoder.decode(black_box(&bytes));
            black_box(&decoded);
        })
    });
    group.bench_function("decode/mqttbytes", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&bytes[..]),
            |buffer| {
                let decoded = theirs::read(buffer, MAX);
                black_box(&decoded);
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("encode/mqtt-codec", |b| {
        b.iter(|| {
            out.clear();
            black_box(black_box(&ours).encode(LEVEL, &mut out).expect("encodes"));
        })
    });
    let mut buffer = BytesMut::with_capacity(bytes.len());
    group.bench_function("encode/mqttbytes", |b| {
        b.iter(|| {
            buffer.clear();
            black_box(theirs_write(black_box(&theirs_packet), &mut buffer));
        })
    });
    group.finish();
}

fn publish(c: &mut Criterion) {
    for (name, size) in [("publish_qos1_64B", 64), ("publish_qos1_1KiB", 1024)] {
        let payload = vec![0xA5u8; size];
        let ours = Packet::Publish(Publish {
            topic: TopicName::new(TOPIC).expect("valid"),
            payload: &payload,
            delivery: Delivery::AtLeastOnce {
                packet_id: id(42),
                dup: false,
            },
            retain: false,
        });
        let mut theirs_publish =
            theirs::Publish::new(TOPIC, mqttbytes::QoS::AtLeastOnce, payload.clone());
        theirs_publish.pkid = 42;
        bench_packet(c, name, ours, theirs_publish, |p, b| {
            p.write(b).expect("encodes")
        });
    }
}

/// A 5.0 PUBLISH with a Topic Alias and a User Property, beside `publish_qos1_64B` (the same topic,
/// QoS and payload at 3.1.1): the cost of properties is the difference between the two groups.
fn publish_v5(c: &mut Criterion) {
    use mqtt_codec::v5;
    use mqttbytes::v5 as theirs5;

    let payload = vec![0xA5u8; 64];
    let properties = [
        v5::Property::TopicAlias(7),
        v5::Property::UserProperty("unit", "celsius"),
    ];
    let ours = v5::Packet::Publish(v5::Publish {
        topic: Some(TopicName::new(TOPIC).expect("valid")),
        payload: &payload,
        delivery: Delivery::AtLeastOnce {
            packet_id: id(42),
            dup: false,
        },
        retain: false,
        properties: v5::Properties::from_slice(&properties),
    });
    let mut bytes = Vec::new();
    ours.encode(&mut bytes).expect("valid packet");
    let decoder = v5::Decoder::new().with_max_packet_size(MAX);
    assert!(matches!(decoder.decode(&bytes), Ok(Status::Complete(_))));

    let mut theirs_publish =
        theirs5::Publish::new(TOPIC, mqttbytes::QoS::AtLeastOnce, payload.clone());
    theirs_publish.pkid = 42;
    theirs_publish.properties = Some(theirs5::PublishProperties {
        payload_format_indicator: None,
        message_expiry_interval: None,
        topic_alias: Some(7),
        response_topic: None,
        correlation_data: None,
        user_properties: vec![("unit".into(), "celsius".into())],
        subscription_identifiers: Vec::new(),
        content_type: None,
    });
    let mut check = BytesMut::new();
    theirs_publish.write(&mut check).expect("encodes");
    assert_eq!(&check[..], &bytes[..], "mqttbytes v5 encodes other bytes");

    let mut group = c.benchmark_group("publish5_qos1_64B_alias_user_property");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode/mqtt-codec", |b| {
        b.iter(|| {
            let decoded = decoder.decode(black_box(&bytes));
            black_box(&decoded);
        })
    });
    group.bench_function("decode/mqttbytes", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&bytes[..]),
            |buffer| {
                let decoded = theirs5::read(buffer, MAX);
                black_box(&decoded);
            },
            BatchSize::SmallInput,
        )
    });
    // Decoding and then reading both properties, which is what a broker does with them.
    group.bench_function("decode+read properties/mqtt-codec", |b| {
        b.iter(|| {
            if let Ok(Status::Complete((v5::Packet::Publish(publish), _))) =
                decoder.decode(black_box(&bytes))
            {
                black_box(publish.properties.topic_alias());
                black_box(publish.properties.user_properties().next());
            }
        })
    });
    let mut out = Vec::with_capacity(bytes.len());
    group.bench_function("encode/mqtt-codec", |b| {
        b.iter(|| {
            out.clear();
            black_box(black_box(&ours).encode(&mut out).expect("encodes"));
        })
    });
    let mut buffer = BytesMut::with_capacity(bytes.len());
    group.bench_function("encode/mqttbytes", |b| {
        b.iter(|| {
            buffer.clear();
            black_box(
                black_box(&theirs_publish)
                    .write(&mut buffer)
                    .expect("encodes"),
            );
        })
    });
    group.finish();
}

fn connect(c: &mut Criterion) {
    let ours = Packet::Connect(Connect {
        level: LEVEL,
        clean_session: true,
        keep_alive: 60,
        client_id: "bench-client-0001",
        will: None,
        user_name: Some("user"),
        password: Some(b"secret"),
        bridge: false,
    });
    let mut theirs_connect = theirs::Connect::new("bench-client-0001");
    theirs_connect.keep_alive = 60;
    theirs_connect.clean_session = true;
    theirs_connect.login = Some(theirs::Login::new("user", "secret"));
    bench_packet(c, "connect", ours, theirs_connect, |p, b| {
        p.write(b).expect("encodes")
    });
}

const FILTERS: [&str; 4] = [
    "sensors/+/tmp",
    "sensors/0001/#",
    "alerts/#",
    "$SYS/broker/load/+",
];

fn subscribe(c: &mut Criterion) {
    let entries: Vec<_> = FILTERS
        .iter()
        .map(|filter| Subscription {
            filter: TopicFilter::new(filter).expect("valid"),
            qos: QoS::AtLeastOnce,
        })
        .collect();
    let ours = Packet::Subscribe(Subscribe {
        packet_id: id(7),
        filters: List::from_slice(&entries),
    });
    let mut theirs_subscribe = theirs::Subscribe::new_many(FILTERS.iter().map(|filter| {
        theirs::SubscribeFilter::new((*filter).to_owned(), mqttbytes::QoS::AtLeastOnce)
    }));
    theirs_subscribe.pkid = 7;
    bench_packet(c, "subscribe_4_filters", ours, theirs_subscribe, |p, b| {
        p.write(b).expect("encodes")
    });
}

fn puback(c: &mut Criterion) {
    let ours = Packet::PubAck(PubAck { packet_id: id(42) });
    bench_packet(c, "puback", ours, theirs::PubAck::new(42), |p, b| {
        p.write(b).expect("encodes")
    });
}

/// 10 000 packets as a broker might read them from one busy client: mostly QoS 1 publishes and
/// their acknowledgements, some pings and subscriptions.
fn mixed_stream(c: &mut Criterion) {
    let payload = [0x5Au8; 64];
    let entries = [Subscription {
        filter: TopicFilter::new("alerts/#").expect("valid"),
        qos: QoS::AtLeastOnce,
    }];
    let mut stream = Vec::new();
    for n in 0..10_000u16 {
        let packet = match n % 20 {
            0 => Packet::PingReq,
            1 => Packet::Subscribe(Subscribe {
                packet_id: id(n + 1),
                filters: List::from_slice(&entries),
            }),
            2..=8 => Packet::PubAck(PubAck {
                packet_id: id(n + 1),
            }),
            _ => Packet::Publish(Publish {
                topic: TopicName::new(TOPIC).expect("valid"),
                payload: &payload,
                delivery: Delivery::AtLeastOnce {
                    packet_id: id(n + 1),
                    dup: false,
                },
                retain: false,
            }),
        };
        packet.encode(LEVEL, &mut stream).expect("valid");
    }

    let mut group = c.benchmark_group("stream_10000_mixed");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    let mut out = Vec::with_capacity(stream.len());
    group.bench_function("copy", |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&stream));
            black_box(&out);
        })
    });
    let decoder = Decoder::new(LEVEL);
    group.bench_function("decode/mqtt-codec", |b| {
        b.iter(|| {
            let mut rest = black_box(&stream[..]);
            let mut count = 0;
            while let Ok(Status::Complete((packet, consumed))) = decoder.decode(rest) {
                black_box(&packet);
                rest = &rest[consumed..];
                count += 1;
            }
            assert_eq!(count, 10_000);
        })
    });
    group.bench_function("decode/mqttbytes", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&stream[..]),
            |buffer| {
                let mut count = 0;
                while !buffer.is_empty() {
                    let packet = theirs::read(buffer, MAX).expect("decodes");
                    black_box(&packet);
                    count += 1;
                }
                assert_eq!(count, 10_000);
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    publish,
    publish_v5,
    connect,
    subscribe,
    puback,
    mixed_stream
);
criterion_main!(benches);

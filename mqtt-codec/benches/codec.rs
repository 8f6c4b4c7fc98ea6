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

criterion_group!(benches, publish, connect, subscribe, puback, mixed_stream);
criterion_main!(benches);

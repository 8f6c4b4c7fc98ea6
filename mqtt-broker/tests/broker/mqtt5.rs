//! MQTT 5.0 against the broker: CONNACK properties, Reason Codes, properties forwarded, subscription
//! options and identifiers, DISCONNECT both ways, session expiry, and interworking with 3.1.1
//! clients. Packets are built and read with the codec's `v5` module; `Client5` is `Client` at 5.0.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};

use mqtt_codec::v5::{
    self, Properties, Property, ReasonCode, RetainHandling, Subscription, SubscriptionOptions,
};
use mqtt_codec::{Delivery, List, QoS, Status, TopicFilter, TopicName};

use crate::client::{Client, Got, WAIT, broker, id};

/// A packet the broker sent to a 5.0 client, owned; properties as their `Debug` forms, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Got5 {
    ConnAck {
        session_present: bool,
        reason: u8,
        properties: Vec<String>,
    },
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
        packet_id: Option<u16>,
        properties: Vec<String>,
    },
    PubAck(u16, u8),
    PubRec(u16, u8),
    PubRel(u16, u8),
    PubComp(u16, u8),
    SubAck(u16, Vec<u8>),
    UnsubAck(u16, Vec<u8>),
    PingResp,
    Disconnect(u8),
    /// AUTH: its Reason Code, Authentication Method and Authentication Data.
    Auth {
        reason: u8,
        method: Option<String>,
        data: Option<Vec<u8>>,
    },
    Other(String),
}

fn shown(properties: &Properties<'_>) -> Vec<String> {
    properties.iter().map(|p| format!("{p:?}")).collect()
}

/// One property's `Debug` form, as `Got5` holds it.
pub(crate) fn p(property: Property<'_>) -> String {
    format!("{property:?}")
}

fn owned(packet: &v5::Packet<'_>) -> Got5 {
    match packet {
        v5::Packet::ConnAck(connack) => Got5::ConnAck {
            session_present: connack.session_present,
            reason: connack.reason.get(),
            properties: shown(&connack.properties),
        },
        v5::Packet::Publish(publish) => Got5::Publish {
            topic: publish
                .topic
                .map(|topic| topic.as_str().to_owned())
                .unwrap_or_default(),
            payload: publish.payload.to_vec(),
            qos: publish.qos() as u8,
            retain: publish.retain,
            packet_id: publish.delivery.packet_id().map(|id| id.get()),
            properties: shown(&publish.properties),
        },
        v5::Packet::PubAck(ack) => Got5::PubAck(ack.packet_id.get(), ack.reason.get()),
        v5::Packet::PubRec(ack) => Got5::PubRec(ack.packet_id.get(), ack.reason.get()),
        v5::Packet::PubRel(ack) => Got5::PubRel(ack.packet_id.get(), ack.reason.get()),
        v5::Packet::PubComp(ack) => Got5::PubComp(ack.packet_id.get(), ack.reason.get()),
        v5::Packet::SubAck(ack) => Got5::SubAck(
            ack.packet_id.get(),
            ack.reason_codes.iter().map(|code| code.get()).collect(),
        ),
        v5::Packet::UnsubAck(ack) => Got5::UnsubAck(
            ack.packet_id.get(),
            ack.reason_codes.iter().map(|code| code.get()).collect(),
        ),
        v5::Packet::PingResp => Got5::PingResp,
        v5::Packet::Disconnect(disconnect) => Got5::Disconnect(disconnect.reason.get()),
        v5::Packet::Auth(auth) => Got5::Auth {
            reason: auth.reason.get(),
            method: auth.properties.authentication_method().map(str::to_owned),
            data: auth.properties.authentication_data().map(<[u8]>::to_vec),
        },
        other => Got5::Other(format!("{other:?}")),
    }
}

/// A raw 5.0 connection.
pub(crate) struct Client5 {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client5 {
    pub(crate) fn open(address: SocketAddr) -> Self {
        let stream = TcpStream::connect(address).expect("connects");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    /// Connects with `connect`, expects CONNACK 0x00 and returns it.
    pub(crate) fn connect_with(address: SocketAddr, connect: v5::Connect<'_>) -> (Self, Got5) {
        let mut client = Self::open(address);
        client.send(v5::Packet::Connect(connect));
        let connack = client.recv();
        assert!(
            matches!(connack, Got5::ConnAck { reason: 0, .. }),
            "expected CONNACK 0x00, got {connack:?}"
        );
        (client, connack)
    }

    /// Connects as `client_id` with Clean Start and no properties.
    fn connect(address: SocketAddr, client_id: &str) -> Self {
        Self::connect_with(address, connect(client_id)).0
    }

    pub(crate) fn send(&mut self, packet: v5::Packet<'_>) {
        let mut bytes = Vec::new();
        packet.encode(&mut bytes).expect("test packet encodes");
        self.stream.write_all(&bytes).expect("write");
    }

    pub(crate) fn recv(&mut self) -> Got5 {
        self.try_recv()
            .unwrap_or_else(|| panic!("connection closed while a packet was expected"))
    }

    pub(crate) fn try_recv(&mut self) -> Option<Got5> {
        self.try_recv_with(owned)
    }

    /// The next packet, as `read` makes of it (for what `Got5` leaves out).
    pub(crate) fn try_recv_with<T>(
        &mut self,
        read: impl FnOnce(&v5::Packet<'_>) -> T,
    ) -> Option<T> {
        let decoder = v5::Decoder::new();
        loop {
            match decoder.decode(&self.buffer) {
                Ok(Status::Complete((packet, used))) => {
                    let got = read(&packet);
                    self.buffer.drain(..used);
                    return Some(got);
                }
                Ok(Status::Partial) => {}
                Err(error) => panic!("broker sent a malformed 5.0 packet: {error}"),
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(count) => self.buffer.extend_from_slice(&chunk[..count]),
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return None,
                Err(error) => panic!("no packet within {WAIT:?}: {error}"),
            }
        }
    }

    pub(crate) fn expect_closed(&mut self) {
        if let Some(got) = self.try_recv() {
            panic!("expected the connection to close, got {got:?}");
        }
    }

    /// PINGREQ, then PINGRESP as the very next packet: everything sent before was processed.
    pub(crate) fn barrier(&mut self) {
        self.send(v5::Packet::PingReq);
        assert_eq!(self.recv(), Got5::PingResp);
    }

    pub(crate) fn subscribe(
        &mut self,
        packet_id: u16,
        filters: &[(&str, SubscriptionOptions)],
        props: &[Property<'_>],
    ) -> Got5 {
        let entries: Vec<Subscription<'_>> = filters
            .iter()
            .map(|(filter, options)| Subscription {
                filter: TopicFilter::new(filter).expect("test filter"),
                options: *options,
            })
            .collect();
        self.send(v5::Packet::Subscribe(v5::Subscribe {
            packet_id: id(packet_id),
            properties: Properties::from_slice(props),
            filters: List::from_slice(&entries),
        }));
        self.recv()
    }

    fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        packet_id: u16,
        retain: bool,
        props: &[Property<'_>],
    ) {
        self.send(v5::Packet::Publish(v5::Publish {
            topic: Some(TopicName::new(topic).expect("test topic")),
            payload,
            delivery: Delivery::new(qos, id(packet_id), false),
            retain,
            properties: Properties::from_slice(props),
        }));
    }

    fn disconnect(mut self, reason: ReasonCode, props: &[Property<'_>]) {
        self.send(v5::Packet::Disconnect(v5::Disconnect {
            reason,
            properties: Properties::from_slice(props),
        }));
        self.expect_closed();
    }
}

/// A 5.0 CONNECT with Clean Start, keep-alive 0, no properties.
pub(crate) fn connect(client_id: &str) -> v5::Connect<'_> {
    v5::Connect {
        clean_start: true,
        client_id,
        ..v5::Connect::default()
    }
}

pub(crate) fn options(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        ..SubscriptionOptions::default()
    }
}

/// A level 5 CONNECT is accepted on a plain listener, answered CONNACK 0x00 at 5.0, with the Topic
/// Alias Maximum the broker accepts and, for an empty client identifier, the one it assigned
/// [MQTT5-3.1.3-6] [MQTT5-3.1.3-7] [MQTT5-3.1.4-5] [MQTT5-3.2.2-2].
#[test]
fn an_empty_client_id_is_assigned_and_told_in_connack_mqtt5_3_1_3_7() {
    let (_broker, address) = broker();
    let (mut client, connack) = Client5::connect_with(address, connect(""));
    let Got5::ConnAck {
        session_present,
        properties,
        ..
    } = connack
    else {
        unreachable!("checked by connect_with");
    };
    assert!(!session_present, "Clean Start 1 [MQTT5-3.2.2-2]");
    assert!(
        properties.contains(&p(Property::TopicAliasMaximum(10))),
        "{properties:?}"
    );
    let assigned: Vec<&String> = properties
        .iter()
        .filter(|shown| shown.starts_with("AssignedClientIdentifier"))
        .collect();
    assert_eq!(assigned.len(), 1, "{properties:?}");
    // The availability flags are left out: wildcards, identifiers and shared subscriptions are all
    // available, and absent means available (5.0 §3.2.2.3).
    assert!(
        !properties.iter().any(|shown| shown.contains("Available")),
        "{properties:?}"
    );
    client.barrier();
}

/// Payload Format Indicator, Message Expiry, Content Type, Response Topic, Correlation Data and User
/// Properties reach a 5.0 subscriber unchanged, user properties in order, with the Subscription
/// Identifier of the subscription [MQTT5-3.3.2-4] [MQTT5-3.3.2-15] [MQTT5-3.3.2-16]
/// [MQTT5-3.3.2-17] [MQTT5-3.3.2-18] [MQTT5-3.3.2-20] [MQTT5-3.3.4-3].
#[test]
fn publish_properties_are_forwarded_unchanged_mqtt5_3_3_2_17() {
    let (_broker, address) = broker();
    let mut subscriber = Client5::connect(address, "sub");
    assert_eq!(
        subscriber.subscribe(
            1,
            &[("a/#", options(QoS::AtLeastOnce))],
            &[Property::SubscriptionIdentifier(42)]
        ),
        Got5::SubAck(1, vec![1])
    );
    let mut publisher = Client5::connect(address, "pub");
    let sent = [
        Property::PayloadFormatIndicator(1),
        Property::MessageExpiryInterval(3600),
        Property::ContentType("text/plain"),
        Property::ResponseTopic("replies/1"),
        Property::CorrelationData(b"\x00\x01"),
        Property::UserProperty("z", "1"),
        Property::UserProperty("a", "2"),
        Property::UserProperty("z", "3"),
    ];
    publisher.publish("a/b", b"hi", QoS::AtLeastOnce, 7, false, &sent);
    assert_eq!(publisher.recv(), Got5::PubAck(7, 0));
    let Got5::Publish {
        topic,
        payload,
        qos,
        properties,
        ..
    } = subscriber.recv()
    else {
        panic!("expected PUBLISH");
    };
    assert_eq!((topic.as_str(), &payload[..], qos), ("a/b", &b"hi"[..], 1));
    let mut expected: Vec<String> = sent.iter().map(|property| p(*property)).collect();
    expected.push(p(Property::SubscriptionIdentifier(42)));
    // The expiry left may have dropped by a second while the message was here [MQTT5-3.3.2-6].
    let expiry = properties
        .iter()
        .position(|shown| shown.starts_with("MessageExpiryInterval"))
        .expect("Message Expiry Interval forwarded");
    assert!(
        properties[expiry] == p(Property::MessageExpiryInterval(3600))
            || properties[expiry] == p(Property::MessageExpiryInterval(3599)),
        "{properties:?}"
    );
    let mut got = properties.clone();
    got[expiry] = p(Property::MessageExpiryInterval(3600));
    assert_eq!(got, expected);
}

/// A 3.1.1 subscriber gets a 5.0 publisher's message without its properties, and a 5.0
/// subscriber a 3.1.1 publisher's, each at its own level (V5-DIFF-1).
#[test]
fn levels_interwork_both_ways_v5_diff_1() {
    let (_broker, address) = broker();
    let (mut old, _) = Client::connect(address, "old", true);
    old.subscribe("t", 1);
    let mut new = Client5::connect(address, "new");
    assert_eq!(
        new.subscribe(1, &[("t", options(QoS::AtLeastOnce))], &[]),
        Got5::SubAck(1, vec![1])
    );

    new.publish(
        "t",
        b"from5",
        QoS::AtLeastOnce,
        3,
        false,
        &[Property::UserProperty("k", "v")],
    );
    // Its PUBACK and its own copy (No Local is off) come in either order.
    let (mut acked, mut own) = (None, None);
    for _ in 0..2 {
        match new.recv() {
            Got5::PubAck(3, reason) => acked = Some(reason),
            publish @ Got5::Publish { .. } => own = Some(publish),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(acked, Some(0));
    let Some(Got5::Publish {
        payload,
        properties,
        packet_id,
        ..
    }) = own
    else {
        panic!("the 5.0 client gets its own message");
    };
    assert_eq!(
        (&payload[..], properties),
        (&b"from5"[..], vec![p(Property::UserProperty("k", "v"))])
    );
    new.send(v5::Packet::PubAck(v5::PubAck::new(id(
        packet_id.expect("QoS 1")
    ))));
    match old.recv() {
        Got::Publish {
            topic,
            payload,
            qos: 1,
            ..
        } => assert_eq!((topic.as_str(), &payload[..]), ("t", &b"from5"[..])),
        other => panic!("expected the PUBLISH at 3.1.1, got {other:?}"),
    }

    old.publish("t", b"from311", 0, 0, false);
    match new.recv() {
        Got5::Publish {
            payload,
            properties,
            qos: 0,
            ..
        } => {
            assert_eq!(payload, b"from311");
            assert!(properties.is_empty());
        }
        other => panic!("expected the PUBLISH at 5.0, got {other:?}"),
    }
}

/// A QoS 1 or 2 PUBLISH nobody is subscribed to is answered 0x10, no matching subscribers
/// [MQTT5-3.4.2-1] [MQTT5-3.5.2-1].
#[test]
fn no_subscribers_is_answered_0x10_mqtt5_3_4_2_1() {
    let (_broker, address) = broker();
    let mut client = Client5::connect(address, "lonely");
    client.publish("nobody/here", b"x", QoS::AtLeastOnce, 1, false, &[]);
    assert_eq!(client.recv(), Got5::PubAck(1, 0x10));
    client.publish("nobody/here", b"x", QoS::ExactlyOnce, 2, false, &[]);
    assert_eq!(client.recv(), Got5::PubRec(2, 0x10));
}

/// No Local: a client is not sent its own messages through that subscription, while another
/// client's subscription still gets them [MQTT5-3.8.3-3].
#[test]
fn no_local_keeps_a_clients_own_messages_from_it_mqtt5_3_8_3_3() {
    let (_broker, address) = broker();
    let mut me = Client5::connect(address, "me");
    let no_local = SubscriptionOptions {
        no_local: true,
        ..options(QoS::AtMostOnce)
    };
    assert_eq!(
        me.subscribe(1, &[("chat", no_local)], &[]),
        Got5::SubAck(1, vec![0])
    );
    let mut other = Client5::connect(address, "other");
    assert_eq!(
        other.subscribe(1, &[("chat", no_local)], &[]),
        Got5::SubAck(1, vec![0])
    );
    me.publish("chat", b"mine", QoS::AtMostOnce, 1, false, &[]);
    assert!(matches!(other.recv(), Got5::Publish { payload, .. } if payload == b"mine"));
    // Had "mine" been sent back, it would come before the PINGRESP.
    me.barrier();
}

/// Retain As Published keeps the RETAIN flag of a forwarded message; without it the flag is 0
/// [MQTT5-3.3.1-12] [MQTT5-3.3.1-13].
#[test]
fn retain_as_published_keeps_the_flag_mqtt5_3_3_1_13() {
    let (_broker, address) = broker();
    let mut kept = Client5::connect(address, "kept");
    let rap = SubscriptionOptions {
        retain_as_published: true,
        ..options(QoS::AtMostOnce)
    };
    assert_eq!(
        kept.subscribe(1, &[("r", rap)], &[]),
        Got5::SubAck(1, vec![0])
    );
    let mut plain = Client5::connect(address, "plain");
    assert_eq!(
        plain.subscribe(1, &[("r", options(QoS::AtMostOnce))], &[]),
        Got5::SubAck(1, vec![0])
    );
    let mut publisher = Client5::connect(address, "publisher");
    publisher.publish("r", b"v", QoS::AtMostOnce, 1, true, &[]);
    assert!(matches!(kept.recv(), Got5::Publish { retain: true, .. }));
    assert!(matches!(plain.recv(), Got5::Publish { retain: false, .. }));
}

/// Retain Handling 1 sends retained messages only for a new subscription, 2 never
/// [MQTT5-3.3.1-10] [MQTT5-3.3.1-11]; 0 on every SUBSCRIBE [MQTT5-3.3.1-9].
#[test]
fn retain_handling_decides_when_retained_messages_come_mqtt5_3_3_1_10() {
    let (_broker, address) = broker();
    let mut publisher = Client5::connect(address, "publisher");
    publisher.publish("keep", b"stored", QoS::AtLeastOnce, 1, true, &[]);
    assert_eq!(publisher.recv(), Got5::PubAck(1, 0x10));
    let handling = |retain_handling| SubscriptionOptions {
        retain_handling,
        ..options(QoS::AtMostOnce)
    };
    let mut client = Client5::connect(address, "client");
    assert_eq!(
        client.subscribe(1, &[("keep", handling(RetainHandling::SendIfNew))], &[]),
        Got5::SubAck(1, vec![0])
    );
    assert!(
        matches!(client.recv(), Got5::Publish { retain: true, payload, .. } if payload == b"stored")
    );
    // The same subscription again: not new, so nothing.
    assert_eq!(
        client.subscribe(2, &[("keep", handling(RetainHandling::SendIfNew))], &[]),
        Got5::SubAck(2, vec![0])
    );
    client.barrier();
    let mut never = Client5::connect(address, "never");
    assert_eq!(
        never.subscribe(1, &[("keep", handling(RetainHandling::DoNotSend))], &[]),
        Got5::SubAck(1, vec![0])
    );
    never.barrier();
    // 0: every time, new or not.
    assert_eq!(
        client.subscribe(
            3,
            &[("keep", handling(RetainHandling::SendOnSubscribe))],
            &[]
        ),
        Got5::SubAck(3, vec![0])
    );
    assert!(matches!(client.recv(), Got5::Publish { retain: true, .. }));
}

/// UNSUBACK has one Reason Code per filter, in order: 0x00 for a subscription removed, 0x11 for
/// none [MQTT5-3.11.3-1] [MQTT5-3.11.3-2].
#[test]
fn unsuback_says_which_subscriptions_existed_mqtt5_3_11_3_1() {
    let (_broker, address) = broker();
    let mut client = Client5::connect(address, "u");
    assert_eq!(
        client.subscribe(1, &[("x", options(QoS::AtMostOnce))], &[]),
        Got5::SubAck(1, vec![0])
    );
    let filters = [
        TopicFilter::new("y").expect("filter"),
        TopicFilter::new("x").expect("filter"),
    ];
    client.send(v5::Packet::Unsubscribe(v5::Unsubscribe {
        packet_id: id(2),
        properties: Properties::from_slice(&[]),
        filters: List::from_slice(&filters),
    }));
    assert_eq!(client.recv(), Got5::UnsubAck(2, vec![0x11, 0x00]));
}

/// Subscription Identifiers of overlapping subscriptions all come in the one copy delivered
/// [MQTT5-3.3.4-4], and a retained message carries its subscription's [MQTT5-3.3.4-3].
#[test]
fn overlapping_subscriptions_send_every_identifier_mqtt5_3_3_4_4() {
    let (_broker, address) = broker();
    let mut publisher = Client5::connect(address, "p");
    publisher.publish("s/t", b"old", QoS::AtMostOnce, 1, true, &[]);
    publisher.barrier();
    let mut client = Client5::connect(address, "c");
    assert_eq!(
        client.subscribe(
            1,
            &[("s/#", options(QoS::AtMostOnce))],
            &[Property::SubscriptionIdentifier(1)]
        ),
        Got5::SubAck(1, vec![0])
    );
    match client.recv() {
        Got5::Publish {
            retain: true,
            properties,
            ..
        } => assert_eq!(properties, vec![p(Property::SubscriptionIdentifier(1))]),
        other => panic!("expected the retained message, got {other:?}"),
    }
    assert_eq!(
        client.subscribe(
            2,
            &[(
                "s/t",
                SubscriptionOptions {
                    retain_handling: RetainHandling::DoNotSend,
                    ..options(QoS::AtMostOnce)
                }
            )],
            &[Property::SubscriptionIdentifier(2)]
        ),
        Got5::SubAck(2, vec![0])
    );
    publisher.publish("s/t", b"new", QoS::AtMostOnce, 1, false, &[]);
    let Got5::Publish { properties, .. } = client.recv() else {
        panic!("expected PUBLISH");
    };
    let mut properties = properties;
    properties.sort();
    assert_eq!(
        properties,
        vec![
            p(Property::SubscriptionIdentifier(1)),
            p(Property::SubscriptionIdentifier(2))
        ]
    );
}

/// A second connection with the same client identifier takes the session over: the first is
/// sent DISCONNECT 0x8E, then closed [MQTT5-3.1.4-3].
#[test]
fn a_take_over_is_disconnected_with_0x8e_mqtt5_3_1_4_3() {
    let (_broker, address) = broker();
    let mut first = Client5::connect(address, "twin");
    let mut second = Client5::connect(address, "twin");
    assert_eq!(first.recv(), Got5::Disconnect(0x8E));
    first.expect_closed();
    second.barrier();
}

/// DISCONNECT 0x04 asks for the Will to be published; 0x00 discards it [MQTT5-3.1.2-10]
/// [MQTT5-3.14.4-3].
#[test]
fn disconnect_0x04_publishes_the_will_mqtt5_3_1_2_10() {
    let (_broker, address) = broker();
    let mut watcher = Client5::connect(address, "watcher");
    assert_eq!(
        watcher.subscribe(1, &[("wills/#", options(QoS::AtMostOnce))], &[]),
        Got5::SubAck(1, vec![0])
    );
    for (client_id, reason, published) in [
        ("normal", ReasonCode::NORMAL_DISCONNECTION, false),
        ("with-will", ReasonCode::DISCONNECT_WITH_WILL_MESSAGE, true),
    ] {
        let topic = format!("wills/{client_id}");
        let will = v5::Will {
            properties: Properties::from_slice(&[Property::UserProperty("why", "test")]),
            topic: TopicName::new(&topic).expect("topic"),
            payload: b"gone",
            qos: QoS::AtMostOnce,
            retain: false,
        };
        let (client, _) = Client5::connect_with(
            address,
            v5::Connect {
                will: Some(will),
                ..connect(client_id)
            },
        );
        client.disconnect(reason, &[]);
        if published {
            match watcher.recv() {
                Got5::Publish {
                    topic: got,
                    properties,
                    ..
                } => {
                    assert_eq!(got, topic);
                    assert_eq!(
                        properties,
                        vec![p(Property::UserProperty("why", "test"))],
                        "Will Properties kept [MQTT5-3.1.3-10]"
                    );
                }
                other => panic!("expected the Will, got {other:?}"),
            }
        }
        watcher.barrier();
    }
}

/// A Session Expiry Interval over 0 keeps the session after the connection (Session Present on
/// return) [MQTT5-3.1.2-23]; 0 at DISCONNECT ends it; and setting one at DISCONNECT after 0 at
/// CONNECT is a Protocol Error (5.0 §3.14.2.2.2), answered DISCONNECT 0x82.
#[test]
fn session_expiry_keeps_or_ends_the_session_mqtt5_3_1_2_23() {
    let (_broker, address) = broker();
    let persistent = |client_id| v5::Connect {
        clean_start: false,
        properties: Properties::from_slice(&[Property::SessionExpiryInterval(600)]),
        ..connect(client_id)
    };
    let (mut client, _) = Client5::connect_with(address, persistent("keeper"));
    assert_eq!(
        client.subscribe(1, &[("k", options(QoS::AtLeastOnce))], &[]),
        Got5::SubAck(1, vec![1])
    );
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION, &[]);
    let (client, connack) = Client5::connect_with(address, persistent("keeper"));
    assert!(
        matches!(
            connack,
            Got5::ConnAck {
                session_present: true,
                ..
            }
        ),
        "{connack:?}"
    );
    // Ended at DISCONNECT with 0: not there next time.
    client.disconnect(
        ReasonCode::NORMAL_DISCONNECTION,
        &[Property::SessionExpiryInterval(0)],
    );
    let (client, connack) = Client5::connect_with(address, persistent("keeper"));
    assert!(
        matches!(
            connack,
            Got5::ConnAck {
                session_present: false,
                ..
            }
        ),
        "{connack:?}"
    );
    drop(client);

    let (mut clean, _) = Client5::connect_with(address, connect("clean"));
    clean.send(v5::Packet::Disconnect(v5::Disconnect {
        reason: ReasonCode::NORMAL_DISCONNECTION,
        properties: Properties::from_slice(&[Property::SessionExpiryInterval(60)]),
    }));
    assert_eq!(clean.recv(), Got5::Disconnect(0x82));
    clean.expect_closed();
}

/// Protocol errors are answered DISCONNECT with the matching Reason Code, then the close
/// [MQTT5-4.13.1-1]: a second CONNECT (0x82) [MQTT5-3.1.0-2], a Subscription Identifier from a
/// client (0x82) [MQTT5-3.3.4-6], a Topic Alias over the maximum (0x94) [MQTT5-3.2.2-17].
#[test]
fn protocol_errors_get_disconnect_with_their_reason_mqtt5_4_13_1_1() {
    let (_broker, address) = broker();
    let mut client = Client5::connect(address, "a");
    client.send(v5::Packet::Connect(connect("a")));
    assert_eq!(client.recv(), Got5::Disconnect(0x82));
    client.expect_closed();

    let mut client = Client5::connect(address, "b");
    client.publish(
        "t",
        b"x",
        QoS::AtMostOnce,
        1,
        false,
        &[Property::SubscriptionIdentifier(3)],
    );
    assert_eq!(client.recv(), Got5::Disconnect(0x82));
    client.expect_closed();

    let mut client = Client5::connect(address, "c");
    client.publish(
        "t",
        b"x",
        QoS::AtMostOnce,
        1,
        false,
        &[Property::TopicAlias(11)],
    );
    assert_eq!(client.recv(), Got5::Disconnect(0x94));
    client.expect_closed();

    // Malformed: a PUBLISH whose property length runs past the packet (0x81).
    let mut client = Client5::connect(address, "d");
    client
        .stream
        .write_all(&[0x30, 0x05, 0x00, 0x01, b't', 0x09, 0x01])
        .expect("write");
    assert_eq!(client.recv(), Got5::Disconnect(0x81));
    client.expect_closed();
}

/// A Topic Alias set with a topic stands for it in later PUBLISHes of the connection
/// [MQTT5-3.3.2-12]; an alias never set is a Protocol Error.
#[test]
fn an_inbound_topic_alias_stands_for_its_topic_mqtt5_3_3_2_12() {
    let (_broker, address) = broker();
    let mut subscriber = Client5::connect(address, "s");
    assert_eq!(
        subscriber.subscribe(1, &[("long/topic/name", options(QoS::AtMostOnce))], &[]),
        Got5::SubAck(1, vec![0])
    );
    let mut client = Client5::connect(address, "aliaser");
    client.publish(
        "long/topic/name",
        b"1",
        QoS::AtMostOnce,
        1,
        false,
        &[Property::TopicAlias(3)],
    );
    client.send(v5::Packet::Publish(v5::Publish {
        topic: None,
        payload: b"2",
        delivery: Delivery::AtMostOnce,
        retain: false,
        properties: Properties::from_slice(&[Property::TopicAlias(3)]),
    }));
    for payload in [b"1", b"2"] {
        match subscriber.recv() {
            Got5::Publish {
                topic,
                payload: got,
                properties,
                ..
            } => {
                assert_eq!(
                    (topic.as_str(), &got[..]),
                    ("long/topic/name", &payload[..])
                );
                assert!(
                    properties.is_empty(),
                    "the alias is not forwarded: {properties:?}"
                );
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    client.send(v5::Packet::Publish(v5::Publish {
        topic: None,
        payload: b"3",
        delivery: Delivery::AtMostOnce,
        retain: false,
        properties: Properties::from_slice(&[Property::TopicAlias(4)]),
    }));
    assert_eq!(client.recv(), Got5::Disconnect(0x82));
}

/// A client silent for 1.5 times its keep-alive is sent DISCONNECT 0x8D before the close
/// [MQTT5-3.1.2-22].
#[test]
fn keep_alive_timeout_is_disconnect_0x8d_mqtt5_3_1_2_22() {
    let (_broker, address) = broker();
    let (mut client, _) = Client5::connect_with(
        address,
        v5::Connect {
            keep_alive: 1,
            ..connect("sleepy")
        },
    );
    assert_eq!(client.recv(), Got5::Disconnect(0x8D));
    client.expect_closed();
}

/// A CONNECT with an Authentication Method the broker does not offer (SCRAM-SHA-256 is the one it
/// does, `enhanced_auth.rs`) is refused 0x8C [MQTT5-4.12.0-1]; Session Present 0 and the close
/// follow [MQTT5-3.2.2-6] [MQTT5-3.2.2-7].
#[test]
fn an_authentication_method_is_refused_0x8c_mqtt5_4_12_0_1() {
    let (_broker, address) = broker();
    let mut client = Client5::open(address);
    client.send(v5::Packet::Connect(v5::Connect {
        properties: Properties::from_slice(&[Property::AuthenticationMethod("GS2-KRB5")]),
        ..connect("auth")
    }));
    assert!(matches!(
        client.recv(),
        Got5::ConnAck {
            session_present: false,
            reason: 0x8C,
            ..
        }
    ));
    client.expect_closed();
}

/// A 5.0 client connected when the broker stops is told 0x8B, server shutting down.
#[test]
fn shutdown_is_disconnect_0x8b() {
    let (broker, address) = broker();
    let mut client = Client5::connect(address, "stay");
    client.barrier();
    broker.shutdown();
    assert_eq!(client.recv(), Got5::Disconnect(0x8B));
    client.expect_closed();
}

/// A 5.0 client's Receive Maximum bounds the QoS 1 and 2 PUBLISHes it has unacknowledged
/// [MQTT5-3.3.4-9], and nothing else waits for it [MQTT5-3.3.4-10].
#[test]
fn the_clients_receive_maximum_bounds_its_window_mqtt5_3_3_4_9() {
    let (_broker, address) = broker();
    let (mut slow, _) = Client5::connect_with(
        address,
        v5::Connect {
            properties: Properties::from_slice(&[Property::ReceiveMaximum(1)]),
            ..connect("slow")
        },
    );
    assert_eq!(
        slow.subscribe(1, &[("q", options(QoS::AtLeastOnce))], &[]),
        Got5::SubAck(1, vec![1])
    );
    let mut publisher = Client5::connect(address, "fast");
    for packet_id in [1, 2] {
        publisher.publish("q", b"m", QoS::AtLeastOnce, packet_id, false, &[]);
        assert_eq!(publisher.recv(), Got5::PubAck(packet_id, 0));
    }
    let Got5::Publish {
        packet_id: Some(first),
        ..
    } = slow.recv()
    else {
        panic!("expected the first PUBLISH");
    };
    // The second waits for the first's PUBACK; the PINGRESP does not.
    slow.barrier();
    slow.send(v5::Packet::PubAck(v5::PubAck::new(id(first))));
    assert!(
        matches!(slow.recv(), Got5::Publish { packet_id: Some(second), .. } if second != first)
    );
}

/// A PUBLISH over a 5.0 client's Maximum Packet Size is not sent to it, and the ones that fit
/// still are [MQTT5-3.1.2-24] [MQTT5-3.1.2-25].
#[test]
fn nothing_over_the_clients_maximum_packet_size_is_sent_mqtt5_3_1_2_24() {
    let (_broker, address) = broker();
    let (mut small, _) = Client5::connect_with(
        address,
        v5::Connect {
            properties: Properties::from_slice(&[Property::MaximumPacketSize(64)]),
            ..connect("small")
        },
    );
    assert_eq!(
        small.subscribe(1, &[("big/#", options(QoS::AtLeastOnce))], &[]),
        Got5::SubAck(1, vec![1])
    );
    let mut publisher = Client5::connect(address, "p");
    publisher.publish("big/1", &[b'x'; 100], QoS::AtLeastOnce, 1, false, &[]);
    assert_eq!(publisher.recv(), Got5::PubAck(1, 0));
    publisher.publish("big/2", b"fits", QoS::AtLeastOnce, 2, false, &[]);
    assert_eq!(publisher.recv(), Got5::PubAck(2, 0));
    match small.recv() {
        Got5::Publish { topic, .. } => assert_eq!(topic, "big/2"),
        other => panic!("expected only the PUBLISH that fits, got {other:?}"),
    }
    small.barrier();
}

/// A session is discarded once its Session Expiry Interval has passed without a connection
/// [MQTT5-4.1.0-2], here the interval a DISCONNECT set (5.0 §3.14.2.2.2). The wait is the point of
/// the test: it is the second the client asked for, plus a margin.
#[test]
fn a_session_expires_after_its_interval_mqtt5_4_1_0_2() {
    let (_broker, address) = broker();
    let persistent = v5::Connect {
        clean_start: false,
        properties: Properties::from_slice(&[Property::SessionExpiryInterval(600)]),
        ..connect("brief")
    };
    let (client, _) = Client5::connect_with(address, persistent);
    client.disconnect(
        ReasonCode::NORMAL_DISCONNECTION,
        &[Property::SessionExpiryInterval(1)],
    );
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let (_client, connack) = Client5::connect_with(address, persistent);
    assert!(
        matches!(
            connack,
            Got5::ConnAck {
                session_present: false,
                ..
            }
        ),
        "{connack:?}"
    );
}

/// Reads `$SYS` updates on `client` (subscribed to them) until each topic of `wanted` last said
/// its value, within `within`; panics with what it saw otherwise.
fn await_sys(client: &mut Client5, wanted: &[(&str, &str)], within: std::time::Duration) {
    let deadline = std::time::Instant::now() + within;
    let mut latest = std::collections::HashMap::new();
    while !wanted
        .iter()
        .all(|(topic, value)| latest.get(*topic).map(String::as_str) == Some(*value))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "within {within:?}, wanted {wanted:?}, saw {latest:?}"
        );
        if let Got5::Publish { topic, payload, .. } = client.recv() {
            latest.insert(topic, String::from_utf8_lossy(&payload).into_owned());
        }
    }
}

/// An offline session is ended when its Session Expiry Interval passes, whether or not its client
/// comes back [MQTT5-4.1.0-2]: it leaves the registry with the message queued for it
/// (`$SYS/broker/clients/total` is down to the two connected clients), its subscription stops
/// matching (a publisher is told 0x10) and `$SYS/broker/clients/expired` counts it. `$SYS` is
/// polled with a bounded deadline.
#[test]
fn an_offline_session_is_ended_when_its_interval_passes_mqtt5_4_1_0_2() {
    let (_broker, address) = crate::client::broker_with(mqtt_broker::Config {
        sys_interval: std::time::Duration::from_secs(1),
        ..mqtt_broker::Config::default()
    });
    let mut watcher = Client5::connect(address, "watcher");
    assert_eq!(
        watcher.subscribe(
            1,
            &[
                ("$SYS/broker/clients/expired", options(QoS::AtMostOnce)),
                ("$SYS/broker/clients/total", options(QoS::AtMostOnce)),
            ],
            &[]
        ),
        Got5::SubAck(1, vec![0, 0])
    );
    let (mut client, _) = Client5::connect_with(
        address,
        v5::Connect {
            clean_start: false,
            properties: Properties::from_slice(&[Property::SessionExpiryInterval(1)]),
            ..connect("brief")
        },
    );
    assert_eq!(
        client.subscribe(1, &[("e/#", options(QoS::AtLeastOnce))], &[]),
        Got5::SubAck(1, vec![1])
    );
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION, &[]);
    let mut publisher = Client5::connect(address, "publisher");
    publisher.publish("e/1", b"queued", QoS::AtLeastOnce, 1, false, &[]);
    assert_eq!(
        publisher.recv(),
        Got5::PubAck(1, 0x00),
        "queued for the session"
    );
    await_sys(
        &mut watcher,
        &[
            ("$SYS/broker/clients/expired", "1"),
            ("$SYS/broker/clients/total", "2"),
        ],
        std::time::Duration::from_secs(10),
    );
    publisher.publish("e/2", b"late", QoS::AtLeastOnce, 2, false, &[]);
    assert_eq!(
        publisher.recv(),
        Got5::PubAck(2, 0x10),
        "no subscriber any more"
    );
}

/// A session resumed before its deadline is not ended by that deadline [MQTT5-4.1.0-1]: the
/// reconnection cancels it, so past the old deadline the connection still gets what its
/// subscription matches and nothing was counted as expired. The wait is the one-second interval.
#[test]
fn a_session_resumed_before_its_deadline_is_not_ended_mqtt5_4_1_0_1() {
    let (_broker, address) = crate::client::broker_with(mqtt_broker::Config {
        sys_interval: std::time::Duration::from_secs(1),
        ..mqtt_broker::Config::default()
    });
    let brief = v5::Connect {
        clean_start: false,
        properties: Properties::from_slice(&[Property::SessionExpiryInterval(1)]),
        ..connect("back")
    };
    let (mut client, _) = Client5::connect_with(address, brief);
    assert_eq!(
        client.subscribe(1, &[("b/#", options(QoS::AtLeastOnce))], &[]),
        Got5::SubAck(1, vec![1])
    );
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION, &[]);
    let left = std::time::Instant::now();
    let (mut client, connack) = Client5::connect_with(address, brief);
    assert!(
        matches!(
            connack,
            Got5::ConnAck {
                session_present: true,
                ..
            }
        ),
        "{connack:?}"
    );
    let past = left + std::time::Duration::from_millis(1_500);
    std::thread::sleep(past.saturating_duration_since(std::time::Instant::now()));
    let mut publisher = Client5::connect(address, "publisher");
    publisher.publish("b/1", b"still", QoS::AtLeastOnce, 1, false, &[]);
    assert_eq!(publisher.recv(), Got5::PubAck(1, 0x00));
    assert!(matches!(client.recv(), Got5::Publish { payload, .. } if payload == b"still"));
    assert_eq!(
        publisher.subscribe(
            1,
            &[("$SYS/broker/clients/expired", options(QoS::AtMostOnce))],
            &[]
        ),
        Got5::SubAck(1, vec![0])
    );
    assert!(matches!(publisher.recv(), Got5::Publish { payload, .. } if payload == b"0"));
}

/// A shared subscription's member gets the Subscription Identifier of its subscription too
/// [MQTT5-3.3.4-3], and its SUBACK grants the QoS as for any filter [MQTT5-4.8.2-3].
#[test]
fn a_shared_subscription_carries_its_identifier_mqtt5_3_3_4_3() {
    let (_broker, address) = broker();
    let mut member = Client5::connect(address, "member");
    assert_eq!(
        member.subscribe(
            1,
            &[("$share/g/s", options(QoS::AtMostOnce))],
            &[Property::SubscriptionIdentifier(9)]
        ),
        Got5::SubAck(1, vec![0])
    );
    let mut publisher = Client5::connect(address, "p");
    publisher.publish("s", b"x", QoS::AtLeastOnce, 1, false, &[]);
    assert_eq!(publisher.recv(), Got5::PubAck(1, 0));
    match member.recv() {
        Got5::Publish { properties, .. } => {
            assert_eq!(properties, vec![p(Property::SubscriptionIdentifier(9))])
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

fn delayed_will<'a>(
    client_id: &'a str,
    topic: &'a str,
    delay: &'a [Property<'a>; 1],
) -> v5::Connect<'a> {
    v5::Connect {
        clean_start: false,
        properties: Properties::from_slice(&[Property::SessionExpiryInterval(600)]),
        will: Some(v5::Will {
            properties: Properties::from_slice(delay),
            topic: TopicName::new(topic).expect("topic"),
            payload: b"late",
            qos: QoS::AtMostOnce,
            retain: false,
        }),
        ..connect(client_id)
    }
}

/// A Will with a Will Delay Interval is published that long after the connection is lost, not
/// at once [MQTT5-3.1.2-8]; a new connection to the session before then cancels it
/// [MQTT5-3.1.3-9]. The waits are the delays under test.
#[test]
fn a_delayed_will_waits_and_a_reconnection_cancels_it_mqtt5_3_1_3_9() {
    let (_broker, address) = broker();
    let mut watcher = Client5::connect(address, "watcher");
    assert_eq!(
        watcher.subscribe(1, &[("late/#", options(QoS::AtMostOnce))], &[]),
        Got5::SubAck(1, vec![0])
    );
    let delay = [Property::WillDelayInterval(1)];

    let (lost, _) = Client5::connect_with(address, delayed_will("lost", "late/lost", &delay));
    let dropped = std::time::Instant::now();
    drop(lost);
    match watcher.recv() {
        Got5::Publish { topic, .. } => assert_eq!(topic, "late/lost"),
        other => panic!("expected the Will, got {other:?}"),
    }
    assert!(
        dropped.elapsed() >= std::time::Duration::from_millis(900),
        "published after its delay"
    );

    let (back, _) = Client5::connect_with(address, delayed_will("back", "late/back", &delay));
    drop(back);
    let (_again, connack) =
        Client5::connect_with(address, delayed_will("back", "late/back", &delay));
    assert!(matches!(
        connack,
        Got5::ConnAck {
            session_present: true,
            ..
        }
    ));
    // Past the delay, and then some: nothing came.
    watcher
        .stream
        .set_read_timeout(Some(std::time::Duration::from_millis(2_000)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    assert!(
        watcher.stream.read(&mut byte).is_err(),
        "the cancelled Will was published"
    );
}

/// A 5.0 session survives a restart with what 5.0 added: its subscription's options and
/// identifier, the properties of a message queued for it, and its Session Expiry Interval.
#[test]
fn a_5_0_session_survives_a_restart_with_its_options_and_properties() {
    let dir = crate::client::TempDir::new("persist5");
    let config = || mqtt_broker::Config {
        persistence: true,
        persistence_location: dir.0.clone(),
        sys_interval: std::time::Duration::ZERO,
        ..mqtt_broker::Config::default()
    };
    let persistent = v5::Connect {
        clean_start: false,
        properties: Properties::from_slice(&[Property::SessionExpiryInterval(600)]),
        ..connect("durable")
    };
    let (broker, address) = crate::client::broker_with(config());
    let (mut client, _) = Client5::connect_with(address, persistent);
    let no_local = SubscriptionOptions {
        no_local: true,
        ..options(QoS::AtLeastOnce)
    };
    assert_eq!(
        client.subscribe(
            1,
            &[("d/#", no_local)],
            &[Property::SubscriptionIdentifier(5)]
        ),
        Got5::SubAck(1, vec![1])
    );
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION, &[]);
    let mut publisher = Client5::connect(address, "p");
    publisher.publish(
        "d/1",
        b"kept",
        QoS::AtLeastOnce,
        1,
        false,
        &[Property::UserProperty("k", "v")],
    );
    assert_eq!(publisher.recv(), Got5::PubAck(1, 0));
    broker.shutdown();

    let (_broker, address) = crate::client::broker_with(config());
    let (mut client, connack) = Client5::connect_with(address, persistent);
    assert!(
        matches!(
            connack,
            Got5::ConnAck {
                session_present: true,
                ..
            }
        ),
        "{connack:?}"
    );
    match client.recv() {
        Got5::Publish {
            payload,
            properties,
            ..
        } => {
            assert_eq!(payload, b"kept");
            assert_eq!(
                properties,
                vec![
                    p(Property::UserProperty("k", "v")),
                    p(Property::SubscriptionIdentifier(5))
                ]
            );
        }
        other => panic!("expected the queued message, got {other:?}"),
    }
    // No Local came back too: its own message is not delivered to it.
    client.publish("d/2", b"own", QoS::AtMostOnce, 1, false, &[]);
    client.barrier();
}

/// A session whose Session Expiry Interval passes while the broker is down is over when it starts
/// again [MQTT5-4.1.0-2]: the log says when the session lost its connection, so the downtime
/// counts. Its subscription takes nothing (0x10) and its client starts afresh, while a session
/// with time left is resumed. The wait is the one-second interval under test.
#[test]
fn a_session_that_expired_while_the_broker_was_down_is_gone_mqtt5_4_1_0_2() {
    let dir = crate::client::TempDir::new("expired-down");
    let config = || mqtt_broker::Config {
        persistence: true,
        persistence_location: dir.0.clone(),
        sys_interval: std::time::Duration::ZERO,
        ..mqtt_broker::Config::default()
    };
    let session = |client_id, seconds| v5::Connect {
        clean_start: false,
        properties: Properties::from_slice(match seconds {
            1 => &[Property::SessionExpiryInterval(1)],
            _ => &[Property::SessionExpiryInterval(600)],
        }),
        ..connect(client_id)
    };
    let (broker, address) = crate::client::broker_with(config());
    for (client_id, seconds, filter) in [("brief", 1, "brief/#"), ("kept", 600, "kept/#")] {
        let (mut client, _) = Client5::connect_with(address, session(client_id, seconds));
        assert_eq!(
            client.subscribe(1, &[(filter, options(QoS::AtLeastOnce))], &[]),
            Got5::SubAck(1, vec![1])
        );
        client.disconnect(ReasonCode::NORMAL_DISCONNECTION, &[]);
    }
    let disconnected = std::time::Instant::now();
    broker.shutdown();
    let past = disconnected + std::time::Duration::from_millis(1_200);
    std::thread::sleep(past.saturating_duration_since(std::time::Instant::now()));

    let (_broker, address) = crate::client::broker_with(config());
    let mut publisher = Client5::connect(address, "p");
    publisher.publish("brief/1", b"x", QoS::AtLeastOnce, 1, false, &[]);
    assert_eq!(publisher.recv(), Got5::PubAck(1, 0x10), "nobody subscribed");
    publisher.publish("kept/1", b"x", QoS::AtLeastOnce, 2, false, &[]);
    assert_eq!(
        publisher.recv(),
        Got5::PubAck(2, 0x00),
        "queued for the live one"
    );
    for (client_id, seconds, present) in [("brief", 1, false), ("kept", 600, true)] {
        let (_client, connack) = Client5::connect_with(address, session(client_id, seconds));
        assert!(
            matches!(connack, Got5::ConnAck { session_present, .. } if session_present == present),
            "{client_id}: {connack:?}"
        );
    }
}

/// With persistence, a message's expiry survives a restart as a deadline, the downtime included:
/// a queued message and a retained one whose Message Expiry Interval passed while the broker was
/// down are not delivered [MQTT5-3.3.2-5], and a queued one still in time is forwarded with what
/// is left of its interval [MQTT5-3.3.2-6]. The wait is the two-second interval under test.
#[test]
fn message_expiry_counts_across_a_restart_mqtt5_3_3_2_5() {
    let dir = crate::client::TempDir::new("expiry-restart");
    let config = || mqtt_broker::Config {
        persistence: true,
        persistence_location: dir.0.clone(),
        sys_interval: std::time::Duration::ZERO,
        ..mqtt_broker::Config::default()
    };
    let persistent = v5::Connect {
        clean_start: false,
        properties: Properties::from_slice(&[Property::SessionExpiryInterval(600)]),
        ..connect("waiting")
    };
    let (broker, address) = crate::client::broker_with(config());
    let (mut client, _) = Client5::connect_with(address, persistent);
    assert_eq!(
        client.subscribe(1, &[("m/#", options(QoS::AtLeastOnce))], &[]),
        Got5::SubAck(1, vec![1])
    );
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION, &[]);
    let mut publisher = Client5::connect(address, "p");
    let published = std::time::Instant::now();
    for (packet_id, topic, seconds) in [(1, "m/short", 2), (2, "m/long", 4)] {
        let expiry = [Property::MessageExpiryInterval(seconds)];
        publisher.publish(topic, b"x", QoS::AtLeastOnce, packet_id, false, &expiry);
        assert_eq!(publisher.recv(), Got5::PubAck(packet_id, 0x00));
    }
    let expiry = [Property::MessageExpiryInterval(2)];
    publisher.publish("r/short", b"x", QoS::AtLeastOnce, 3, true, &expiry);
    assert_eq!(publisher.recv(), Got5::PubAck(3, 0x10));
    broker.shutdown();
    let past = published + std::time::Duration::from_millis(2_200);
    std::thread::sleep(past.saturating_duration_since(std::time::Instant::now()));

    let (_broker, address) = crate::client::broker_with(config());
    let (mut client, connack) = Client5::connect_with(address, persistent);
    assert!(
        matches!(
            connack,
            Got5::ConnAck {
                session_present: true,
                ..
            }
        ),
        "{connack:?}"
    );
    match client.recv() {
        Got5::Publish {
            topic, properties, ..
        } => {
            assert_eq!(topic, "m/long", "the expired one is not delivered");
            assert!(
                properties == vec![p(Property::MessageExpiryInterval(2))]
                    || properties == vec![p(Property::MessageExpiryInterval(1))],
                "what is left of 4 s after more than 2: {properties:?}"
            );
        }
        other => panic!("expected the message still in time, got {other:?}"),
    }
    client.barrier();
    let mut late = Client5::connect(address, "late");
    assert_eq!(
        late.subscribe(1, &[("r/#", options(QoS::AtMostOnce))], &[]),
        Got5::SubAck(1, vec![0])
    );
    late.barrier();
}

/// An offline session's queue full of expired messages refuses no publisher: they leave it for a
/// live one [MQTT5-3.3.2-5], where they used to stay until the client came back (and the
/// publisher was disconnected with 0x97). With persistence, what left is logged, so after a
/// restart the client gets the live message only. The wait is the one-second interval.
#[test]
fn expired_messages_make_room_in_an_offline_queue_mqtt5_3_3_2_5() {
    let dir = crate::client::TempDir::new("expiry-room");
    let config = || mqtt_broker::Config {
        persistence: true,
        persistence_location: dir.0.clone(),
        max_queued_messages: 2,
        sys_interval: std::time::Duration::ZERO,
        ..mqtt_broker::Config::default()
    };
    let persistent = v5::Connect {
        clean_start: false,
        properties: Properties::from_slice(&[Property::SessionExpiryInterval(600)]),
        ..connect("away")
    };
    let (broker, address) = crate::client::broker_with(config());
    let (mut client, _) = Client5::connect_with(address, persistent);
    assert_eq!(
        client.subscribe(1, &[("q/#", options(QoS::AtLeastOnce))], &[]),
        Got5::SubAck(1, vec![1])
    );
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION, &[]);
    let mut publisher = Client5::connect(address, "p");
    let published = std::time::Instant::now();
    let brief = [Property::MessageExpiryInterval(1)];
    for packet_id in 1..=2 {
        publisher.publish("q/old", b"old", QoS::AtLeastOnce, packet_id, false, &brief);
        assert_eq!(publisher.recv(), Got5::PubAck(packet_id, 0x00));
    }
    let past = published + std::time::Duration::from_millis(1_200);
    std::thread::sleep(past.saturating_duration_since(std::time::Instant::now()));
    publisher.publish("q/new", b"new", QoS::AtLeastOnce, 3, false, &[]);
    assert_eq!(
        publisher.recv(),
        Got5::PubAck(3, 0x00),
        "room made, not refused"
    );
    broker.shutdown();

    let (_broker, address) = crate::client::broker_with(config());
    let (mut client, _) = Client5::connect_with(address, persistent);
    match client.recv() {
        Got5::Publish { topic, .. } => assert_eq!(topic, "q/new"),
        other => panic!("expected the live message, got {other:?}"),
    }
    client.barrier();
}

/// A retained message whose Message Expiry Interval has passed is not sent to a new subscriber;
/// one still in time is, with what is left of its interval [MQTT5-3.3.2-5] [MQTT5-3.3.2-6]. The
/// wait is the one-second interval under test.
#[test]
fn an_expired_retained_message_is_not_sent_mqtt5_3_3_2_5() {
    let (_broker, address) = broker();
    let mut publisher = Client5::connect(address, "p");
    publisher.publish(
        "exp/short",
        b"gone",
        QoS::AtMostOnce,
        1,
        true,
        &[Property::MessageExpiryInterval(1)],
    );
    publisher.publish(
        "exp/long",
        b"kept",
        QoS::AtMostOnce,
        1,
        true,
        &[Property::MessageExpiryInterval(60)],
    );
    publisher.barrier();
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let mut late = Client5::connect(address, "late");
    assert_eq!(
        late.subscribe(1, &[("exp/#", options(QoS::AtMostOnce))], &[]),
        Got5::SubAck(1, vec![0])
    );
    match late.recv() {
        Got5::Publish {
            topic, properties, ..
        } => {
            assert_eq!(topic, "exp/long");
            assert!(
                properties == vec![p(Property::MessageExpiryInterval(59))]
                    || properties == vec![p(Property::MessageExpiryInterval(58))],
                "{properties:?}"
            );
        }
        other => panic!("expected the retained message still in time, got {other:?}"),
    }
    late.barrier();
}

/// Hostile 5.0 packets, each on its own connection: a duplicate property, Topic Alias 0, a
/// Subscription Identifier of 0, Retain Handling 3, No Local on a shared subscription, an unknown
/// property, an AUTH without an Authentication Method, a property length past the end. Each is
/// answered DISCONNECT with a failure Reason Code and closed [MQTT5-4.13.1-1] [MQTT5-4.13.2-1],
/// and a bystander is not disturbed.
#[test]
fn hostile_5_0_packets_get_a_failure_disconnect_and_harm_nobody_mqtt5_4_13_1_1() {
    let (_broker, address) = broker();
    let mut bystander = Client5::connect(address, "bystander");
    assert_eq!(
        bystander.subscribe(1, &[("t", options(QoS::AtMostOnce))], &[]),
        Got5::SubAck(1, vec![0])
    );
    let mut share_no_local = vec![0x82, 16, 0x00, 0x01, 0x00, 0x00, 10];
    share_no_local.extend_from_slice(b"$share/g/t");
    share_no_local.push(0x04);
    let hostile: [&[u8]; 8] = [
        &[0x30, 0x08, 0x00, 0x01, b't', 0x04, 0x01, 0x01, 0x01, 0x01],
        &[0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x00],
        &[
            0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, b't', 0x00,
        ],
        &[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b't', 0x30],
        &share_no_local,
        &[0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x7F, 0x00],
        &[0xF0, 0x00],
        &[0x30, 0x05, 0x00, 0x01, b't', 0x09, 0x01],
    ];
    for (index, bytes) in hostile.iter().enumerate() {
        let mut client = Client5::connect(address, &format!("hostile{index}"));
        client.stream.write_all(bytes).expect("write");
        match client.recv() {
            Got5::Disconnect(code) => assert!(code >= 0x80, "packet {index}: 0x{code:02X}"),
            other => panic!("packet {index}: expected DISCONNECT, got {other:?}"),
        }
        client.expect_closed();
    }
    let mut publisher = Client5::connect(address, "p");
    publisher.publish("t", b"still here", QoS::AtMostOnce, 1, false, &[]);
    assert!(matches!(bystander.recv(), Got5::Publish { payload, .. } if payload == b"still here"));
}

/// A session whose Session Expiry Interval has passed is over [MQTT5-4.1.0-2]: nothing more is
/// queued for it, so its full queue refuses no publisher (where a live offline session's would),
/// and a message nobody else wants is answered 0x10. The wait is the one-second interval.
#[test]
fn an_expired_session_takes_and_refuses_nothing_mqtt5_4_1_0_2() {
    let (_broker, address) = crate::client::broker_with(mqtt_broker::Config {
        max_queued_messages: 1,
        sys_interval: std::time::Duration::ZERO,
        ..mqtt_broker::Config::default()
    });
    let (mut client, _) = Client5::connect_with(
        address,
        v5::Connect {
            clean_start: false,
            properties: Properties::from_slice(&[Property::SessionExpiryInterval(1)]),
            ..connect("short-lived")
        },
    );
    assert_eq!(
        client.subscribe(1, &[("full", options(QoS::AtLeastOnce))], &[]),
        Got5::SubAck(1, vec![1])
    );
    client.disconnect(ReasonCode::NORMAL_DISCONNECTION, &[]);
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let mut publisher = Client5::connect(address, "publisher");
    for packet_id in 1..=3 {
        publisher.publish("full", b"x", QoS::AtLeastOnce, packet_id, false, &[]);
        assert_eq!(publisher.recv(), Got5::PubAck(packet_id, 0x10));
    }
}

/// The QoS 2 flow with 5.0 clients: PUBREC, then PUBCOMP 0x00 for the PUBREL; a PUBREL for an
/// identifier nothing waits on gets PUBCOMP 0x92, Packet Identifier not found [MQTT5-3.7.2-1].
#[test]
fn unknown_identifiers_in_the_qos_2_flow_get_0x92_mqtt5_3_7_2_1() {
    let (_broker, address) = broker();
    let mut subscriber = Client5::connect(address, "s");
    assert_eq!(
        subscriber.subscribe(1, &[("q2", options(QoS::ExactlyOnce))], &[]),
        Got5::SubAck(1, vec![2])
    );
    let mut client = Client5::connect(address, "q2");
    client.publish("q2", b"x", QoS::ExactlyOnce, 5, false, &[]);
    assert_eq!(client.recv(), Got5::PubRec(5, 0));
    client.send(v5::Packet::PubRel(v5::PubRel::new(id(5))));
    assert_eq!(client.recv(), Got5::PubComp(5, 0));
    client.send(v5::Packet::PubRel(v5::PubRel::new(id(6))));
    assert_eq!(client.recv(), Got5::PubComp(6, 0x92));

    // The other way: the subscriber's PUBREC is answered PUBREL 0x00; one for an identifier not
    // in flight, PUBREL 0x92 [MQTT5-3.6.2-1].
    let Got5::Publish {
        packet_id: Some(delivered),
        ..
    } = subscriber.recv()
    else {
        panic!("expected the QoS 2 delivery");
    };
    subscriber.send(v5::Packet::PubRec(v5::PubRec::new(id(delivered))));
    assert_eq!(subscriber.recv(), Got5::PubRel(delivered, 0));
    let unknown = if delivered == 9 { 10 } else { 9 };
    subscriber.send(v5::Packet::PubRec(v5::PubRec::new(id(unknown))));
    assert_eq!(subscriber.recv(), Got5::PubRel(unknown, 0x92));
}

/// Toward a client that accepts Topic Aliases, a topic's first PUBLISH sets an alias and later
/// ones use it with an empty topic; no alias goes past the client's maximum [MQTT5-3.3.2-11]
/// [MQTT5-3.1.2-26], and a client that accepts none gets none [MQTT5-3.1.2-27].
#[test]
fn outbound_topic_aliases_stay_within_the_clients_maximum_mqtt5_3_3_2_11() {
    let (_broker, address) = broker();
    let (mut aliased, _) = Client5::connect_with(
        address,
        v5::Connect {
            properties: Properties::from_slice(&[Property::TopicAliasMaximum(1)]),
            ..connect("aliased")
        },
    );
    let mut plain = Client5::connect(address, "plain");
    for client in [&mut aliased, &mut plain] {
        assert_eq!(
            client.subscribe(1, &[("sensors/#", options(QoS::AtMostOnce))], &[]),
            Got5::SubAck(1, vec![0])
        );
    }
    let mut publisher = Client5::connect(address, "p");
    for topic in ["sensors/one", "sensors/one", "sensors/two", "sensors/one"] {
        publisher.publish(topic, b"m", QoS::AtMostOnce, 1, false, &[]);
    }
    publisher.barrier();
    let named = |topic: &str, alias: Option<u16>| Got5::Publish {
        topic: topic.to_owned(),
        payload: b"m".to_vec(),
        qos: 0,
        retain: false,
        packet_id: None,
        properties: alias
            .map(|alias| p(Property::TopicAlias(alias)))
            .into_iter()
            .collect(),
    };
    for expected in [
        named("sensors/one", Some(1)),
        named("", Some(1)),
        named("sensors/two", None),
        named("", Some(1)),
    ] {
        assert_eq!(aliased.recv(), expected);
    }
    for topic in ["sensors/one", "sensors/one", "sensors/two", "sensors/one"] {
        assert_eq!(plain.recv(), named(topic, None));
    }
}

/// The broker announces `max_inflight_messages` as its Receive Maximum, and one QoS 2 PUBLISH more
/// than that awaiting PUBREL is DISCONNECT 0x93, with the reason in words [MQTT5-3.3.4-7].
#[test]
fn more_qos_2_than_the_brokers_receive_maximum_is_0x93_mqtt5_3_3_4_7() {
    let (_broker, address) = broker();
    let (mut client, connack) = Client5::connect_with(address, connect("eager"));
    let Got5::ConnAck { properties, .. } = connack else {
        panic!("expected CONNACK");
    };
    assert!(
        properties.contains(&p(Property::ReceiveMaximum(20))),
        "{properties:?}"
    );
    for packet_id in 1..=20 {
        client.publish("q2", b"m", QoS::ExactlyOnce, packet_id, false, &[]);
        assert_eq!(client.recv(), Got5::PubRec(packet_id, 0x10));
    }
    client.publish("q2", b"m", QoS::ExactlyOnce, 21, false, &[]);
    assert_eq!(client.recv(), Got5::Disconnect(0x93));
    client.expect_closed();
}

/// A QoS 2 PUBLISH refused with a PUBREC of 0x80 or above ends its exchange: a later PUBLISH with
/// the same identifier is a new message, delivered, not a duplicate of the refused one
/// [MQTT5-4.3.3-9]. The broker kept the refused identifier as received and swallowed the new one.
#[test]
fn a_refused_qos_2_identifier_starts_a_new_message_mqtt5_4_3_3_9() {
    let (_broker, address) = crate::client::broker_with(mqtt_broker::Config {
        message_size_limit: 10,
        ..mqtt_broker::Config::default()
    });
    let mut subscriber = Client5::connect(address, "reader");
    assert_eq!(
        subscriber.subscribe(1, &[("q2", options(QoS::ExactlyOnce))], &[]),
        Got5::SubAck(1, vec![2])
    );
    let mut client = Client5::connect(address, "refused");
    client.publish("q2", b"far too large", QoS::ExactlyOnce, 7, false, &[]);
    assert_eq!(client.recv(), Got5::PubRec(7, 0x83));
    client.publish("q2", b"small", QoS::ExactlyOnce, 7, false, &[]);
    assert_eq!(client.recv(), Got5::PubRec(7, 0));
    assert!(matches!(
        subscriber.recv(),
        Got5::Publish { payload, .. } if payload == b"small"
    ));
}

/// A failing PUBACK says why in a Reason String (here, over `message_size_limit`), unless the
/// client set Request Problem Information 0, which leaves Reason Strings to PUBLISH, CONNACK and
/// DISCONNECT [MQTT5-3.1.2-29].
#[test]
fn a_failing_puback_says_why_unless_problem_information_is_0_mqtt5_3_1_2_29() {
    let (_broker, address) = crate::client::broker_with(mqtt_broker::Config {
        message_size_limit: 10,
        ..mqtt_broker::Config::default()
    });
    for (asked, explained) in [(None, true), (Some(1), true), (Some(0), false)] {
        let properties: Vec<Property<'_>> = asked
            .into_iter()
            .map(Property::RequestProblemInformation)
            .collect();
        let (mut client, _) = Client5::connect_with(
            address,
            v5::Connect {
                properties: Properties::from_slice(&properties),
                ..connect("explained")
            },
        );
        client.publish("big", b"far too large", QoS::AtLeastOnce, 3, false, &[]);
        let reason_string = client
            .try_recv_with(|packet| match packet {
                v5::Packet::PubAck(ack) if ack.reason.get() == 0x83 => {
                    Some(ack.properties.reason_string().map(str::to_owned))
                }
                _ => None,
            })
            .flatten()
            .unwrap_or_else(|| panic!("PUBACK 0x83 expected"));
        assert_eq!(
            reason_string.is_some_and(|text| text.contains("message_size_limit")),
            explained,
            "Request Problem Information {asked:?}"
        );
        client.disconnect(ReasonCode::NORMAL_DISCONNECTION, &[]);
    }
}

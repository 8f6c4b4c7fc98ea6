//! The session at MQTT 5.0, driven by hand as in `tests.rs`: the server's packets are built with
//! the codec's `v5` types, and what the session sends is decoded with the 5.0 decoder and
//! described one packet per line, properties included, so that each test reads as a transcript.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqtt_codec::v5::{self, Properties, Property, ReasonCode, RetainHandling};
use mqtt_codec::{Delivery, List, PacketId, Status, SubAckReturnCode, TopicName};

use super::*;
use crate::ConnectOptionsBuilder;
use crate::v5::{Authenticator, ConnectProperties};

fn options(
    properties: ConnectProperties,
    configure: impl FnOnce(ConnectOptionsBuilder) -> ConnectOptionsBuilder,
) -> ConnectOptions {
    configure(
        ConnectOptions::builder("localhost", 1883)
            .client_id("test")
            .mqtt5(properties),
    )
    .build()
    .expect("test options are valid")
}

fn id(value: u16) -> PacketId {
    PacketId::new(value).expect("test ids are non-zero")
}

/// A session connected to a server whose CONNACK carried `server`.
fn connected(options: ConnectOptions, server: &[Property<'_>], now: Instant) -> Session {
    let mut session = Session::new(options, now);
    session.connect(now).expect("connects");
    sent(&mut session);
    accept(&mut session, server, now);
    session
}

fn accept(session: &mut Session, server: &[Property<'_>], now: Instant) {
    let connack = v5::ConnAck {
        session_present: false,
        reason: ReasonCode::SUCCESS,
        properties: Properties::from_slice(server),
    };
    session
        .handle_v5(connack.into(), now)
        .expect("CONNACK accepted");
    // Events from before this connection are skipped; `Connected` is the first of this one.
    while !matches!(
        session.poll_event().expect("a Connected event"),
        Event::Connected { .. }
    ) {}
}

/// What the session has sent since the last call, one line per packet.
fn sent(session: &mut Session) -> Vec<String> {
    let bytes = session.take_outgoing();
    let decoder = v5::Decoder::new();
    let mut rest = &bytes[..];
    let mut lines = Vec::new();
    while !rest.is_empty() {
        let Ok(Status::Complete((packet, used))) = decoder.decode(rest) else {
            panic!("the session sent an undecodable packet: {rest:02x?}");
        };
        lines.push(describe(&packet));
        rest = &rest[used..];
    }
    lines
}

fn props(properties: &Properties<'_>) -> String {
    let list: Vec<String> = properties.iter().map(|p| format!("{p:?}")).collect();
    list.join(",")
}

fn describe(packet: &v5::Packet<'_>) -> String {
    match packet {
        v5::Packet::Connect(c) => format!(
            "CONNECT {} clean={} [{}]",
            c.client_id,
            c.clean_start,
            props(&c.properties)
        ),
        v5::Packet::Publish(p) => format!(
            "PUBLISH {} {} q{} [{}]",
            p.topic.map_or("-", |topic| topic.as_str()),
            String::from_utf8_lossy(p.payload),
            p.qos().bits(),
            props(&p.properties)
        ),
        v5::Packet::PubAck(a) => format!("PUBACK {}", a.packet_id),
        v5::Packet::PubRec(a) => format!("PUBREC {}", a.packet_id),
        v5::Packet::PubRel(a) => format!("PUBREL {}", a.packet_id),
        v5::Packet::PubComp(a) => format!("PUBCOMP {}", a.packet_id),
        v5::Packet::Subscribe(s) => {
            let filters: Vec<String> = s
                .filters
                .iter()
                .map(|entry| {
                    let o = entry.options;
                    format!(
                        "{}:q{}nl{}rap{}rh{}",
                        entry.filter,
                        o.qos.bits(),
                        u8::from(o.no_local),
                        u8::from(o.retain_as_published),
                        o.retain_handling as u8
                    )
                })
                .collect();
            format!(
                "SUBSCRIBE {} {} [{}]",
                s.packet_id,
                filters.join(","),
                props(&s.properties)
            )
        }
        v5::Packet::Disconnect(d) => format!("DISCONNECT 0x{:02X}", d.reason.get()),
        v5::Packet::Auth(a) => format!("AUTH 0x{:02X} [{}]", a.reason.get(), props(&a.properties)),
        other => format!("{:?}", other.packet_type()).to_uppercase(),
    }
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn incoming(
    topic: Option<&'static str>,
    packet_id: u16,
    properties: &'static [Property<'static>],
) -> v5::Packet<'static> {
    v5::Packet::Publish(v5::Publish {
        topic: topic.map(|topic| TopicName::new(topic).expect("valid")),
        payload: b"m",
        delivery: if packet_id == 0 {
            Delivery::AtMostOnce
        } else {
            Delivery::new(QoS::ExactlyOnce, id(packet_id), false)
        },
        retain: false,
        properties: Properties::from_slice(properties),
    })
}

#[test]
fn connect_carries_the_connect_properties_mqtt5_3_1_2_11() {
    let now = Instant::now();
    let properties = ConnectProperties {
        session_expiry_interval: Some(3600),
        receive_maximum: Some(10),
        maximum_packet_size: Some(4096),
        topic_alias_maximum: Some(5),
        user_properties: vec![("app".into(), "test".into())],
        ..ConnectProperties::default()
    };
    let mut session = Session::new(options(properties, |o| o.clean_session(false)), now);
    session.connect(now).expect("connects");
    assert_eq!(
        sent(&mut session),
        [
            "CONNECT test clean=false [SessionExpiryInterval(3600),ReceiveMaximum(10),MaximumPacketSize(4096),TopicAliasMaximum(5),UserProperty(\"app\", \"test\")]"
        ]
    );
}

#[test]
fn a_will_carries_its_properties() {
    let now = Instant::now();
    let will = crate::LastWill {
        topic: "status/test".into(),
        payload: b"gone".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: true,
    };
    let will_properties = PublishProperties {
        will_delay_interval: Some(30),
        content_type: Some("text/plain".into()),
        ..PublishProperties::default()
    };
    let options = options(ConnectProperties::default(), |o| {
        o.will(will).will_properties(will_properties)
    });
    let mut session = Session::new(options, now);
    session.connect(now).expect("connects");
    let bytes = session.take_outgoing();
    let Ok(Status::Complete((v5::Packet::Connect(connect), _))) = v5::Decoder::new().decode(&bytes)
    else {
        panic!("not a CONNECT");
    };
    let will = connect.will.expect("a will");
    assert_eq!(will.properties.will_delay_interval(), Some(30));
    assert_eq!(will.properties.content_type(), Some("text/plain"));
}

#[test]
fn connack_refusal_is_a_typed_error_with_the_reason_string() {
    let now = Instant::now();
    let mut session = Session::new(options(ConnectProperties::default(), |o| o), now);
    session.connect(now).expect("connects");
    let properties = [Property::ReasonString("banned until Monday")];
    let connack = v5::ConnAck {
        session_present: false,
        reason: ReasonCode::BANNED,
        properties: Properties::from_slice(&properties),
    };
    let error = session.handle_v5(connack.into(), now).expect_err("refused");
    assert!(
        matches!(&error, Error::RefusedWithReason { reason, reason_string: Some(why), .. }
            if *reason == ReasonCode::BANNED && why == "banned until Monday"),
        "{error}"
    );
    assert!(!error.is_transient());
}

#[test]
fn the_servers_receive_maximum_caps_the_window_mqtt5_3_3_4_7() {
    let now = Instant::now();
    let mut session = connected(
        options(ConnectProperties::default(), |o| o.max_inflight(20)),
        &[Property::ReceiveMaximum(2)],
        now,
    );
    for payload in [b"1", b"2", b"3"] {
        session
            .publish("t", payload, QoS::AtLeastOnce, false, now)
            .expect("accepted");
    }
    assert_eq!(
        sent(&mut session),
        ["PUBLISH t 1 q1 []", "PUBLISH t 2 q1 []"]
    );
    assert_eq!(session.queued_len(), 1);
    // A QoS 0 message keeps its place behind the queued one.
    session
        .publish("t", b"0", QoS::AtMostOnce, false, now)
        .expect("queued");
    session
        .handle_v5(v5::PubAck::new(id(1)).into(), now)
        .expect("valid");
    assert_eq!(
        sent(&mut session),
        ["PUBLISH t 3 q1 []", "PUBLISH t 0 q0 []"]
    );
}

#[test]
fn topic_aliases_are_set_once_then_used_mqtt5_3_3_2_9() {
    let now = Instant::now();
    let mut session = connected(
        options(ConnectProperties::default(), |o| o),
        &[Property::TopicAliasMaximum(2)],
        now,
    );
    for topic in ["a", "a", "b", "c", "a"] {
        session
            .publish(topic, b"x", QoS::AtMostOnce, false, now)
            .expect("sent");
    }
    assert_eq!(
        sent(&mut session),
        [
            "PUBLISH a x q0 [TopicAlias(1)]",
            "PUBLISH - x q0 [TopicAlias(1)]",
            "PUBLISH b x q0 [TopicAlias(2)]",
            // Past the server's maximum: the topic in full, no alias.
            "PUBLISH c x q0 []",
            "PUBLISH - x q0 [TopicAlias(1)]",
        ]
    );
}

#[test]
fn topic_aliases_do_not_outlive_the_connection_mqtt5_3_3_2_7() {
    let now = Instant::now();
    let reconnecting = options(ConnectProperties::default(), |o| {
        o.reconnect(Duration::from_secs(1), Duration::from_secs(8))
    });
    let mut session = connected(reconnecting, &[Property::TopicAliasMaximum(2)], now);
    session
        .publish("a", b"x", QoS::AtMostOnce, false, now)
        .expect("sent");
    sent(&mut session);
    session.connection_lost(&Error::ConnectionLost("test".into()), true);
    session.connect(now).expect("connects");
    sent(&mut session);
    accept(&mut session, &[Property::TopicAliasMaximum(2)], now);
    session
        .publish("a", b"y", QoS::AtMostOnce, false, now)
        .expect("sent");
    assert_eq!(sent(&mut session), ["PUBLISH a y q0 [TopicAlias(1)]"]);
}

#[test]
fn no_aliases_without_the_servers_consent() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    session
        .publish("a", b"x", QoS::AtMostOnce, false, now)
        .expect("sent");
    session
        .publish("a", b"x", QoS::AtMostOnce, false, now)
        .expect("sent");
    assert_eq!(
        sent(&mut session),
        ["PUBLISH a x q0 []", "PUBLISH a x q0 []"]
    );
}

#[test]
fn incoming_topic_aliases_are_resolved() {
    let now = Instant::now();
    let ours = ConnectProperties {
        topic_alias_maximum: Some(5),
        ..ConnectProperties::default()
    };
    let mut session = connected(options(ours, |o| o), &[], now);
    session
        .handle_v5(
            incoming(Some("sensors/1"), 0, &[Property::TopicAlias(3)]),
            now,
        )
        .expect("sets alias 3");
    session
        .handle_v5(incoming(None, 0, &[Property::TopicAlias(3)]), now)
        .expect("uses alias 3");
    let topics: Vec<String> = events(&mut session)
        .into_iter()
        .filter_map(|event| match event {
            Event::Message(message) => Some(message.topic),
            _ => None,
        })
        .collect();
    assert_eq!(topics, ["sensors/1", "sensors/1"]);
}

#[test]
fn an_alias_above_our_maximum_is_refused_with_0x94_mqtt5_3_1_2_26() {
    let now = Instant::now();
    let ours = ConnectProperties {
        topic_alias_maximum: Some(5),
        ..ConnectProperties::default()
    };
    let mut session = connected(options(ours, |o| o), &[], now);
    let error = session
        .handle_v5(incoming(Some("t"), 0, &[Property::TopicAlias(6)]), now)
        .expect_err("violation");
    assert!(
        matches!(
            error,
            Error::ProtocolViolation {
                rule: "MQTT5-3.1.2-26",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(sent(&mut session), ["DISCONNECT 0x94"]);
}

#[test]
fn an_alias_never_set_is_a_protocol_error() {
    let now = Instant::now();
    let ours = ConnectProperties {
        topic_alias_maximum: Some(5),
        ..ConnectProperties::default()
    };
    let mut session = connected(options(ours, |o| o), &[], now);
    session
        .handle_v5(incoming(None, 0, &[Property::TopicAlias(2)]), now)
        .expect_err("unknown alias");
    assert_eq!(sent(&mut session), ["DISCONNECT 0x82"]);
}

#[test]
fn a_packet_over_the_servers_maximum_size_is_not_sent_mqtt5_3_2_2_15() {
    let now = Instant::now();
    let mut session = connected(
        options(ConnectProperties::default(), |o| o),
        &[Property::MaximumPacketSize(64)],
        now,
    );
    let error = session
        .publish("t", &[0; 100], QoS::AtLeastOnce, false, now)
        .expect_err("too large");
    assert!(
        matches!(
            error,
            Error::ExceedsServerLimit {
                rule: "MQTT5-3.2.2-15",
                ..
            }
        ),
        "{error}"
    );
    assert!(sent(&mut session).is_empty());
    assert_eq!(session.inflight_len(), 0);
    session
        .publish("t", &[0; 10], QoS::AtLeastOnce, false, now)
        .expect("fits");
    assert_eq!(sent(&mut session).len(), 1);
}

#[test]
fn maximum_qos_and_retain_available_are_honoured() {
    let now = Instant::now();
    let mut session = connected(
        options(ConnectProperties::default(), |o| o),
        &[Property::MaximumQoS(1), Property::RetainAvailable(0)],
        now,
    );
    let error = session
        .publish("t", b"", QoS::ExactlyOnce, false, now)
        .expect_err("QoS 2 refused");
    assert!(matches!(
        error,
        Error::ExceedsServerLimit {
            rule: "MQTT5-3.2.2-11",
            ..
        }
    ));
    let error = session
        .publish("t", b"", QoS::AtLeastOnce, true, now)
        .expect_err("retain refused");
    assert!(matches!(
        error,
        Error::ExceedsServerLimit {
            rule: "MQTT5-3.2.2-14",
            ..
        }
    ));
    assert!(sent(&mut session).is_empty());
}

#[test]
fn a_failed_puback_fails_the_token_with_its_reason() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    let token = session
        .publish("t", b"", QoS::AtLeastOnce, false, now)
        .expect("sent");
    let properties = [Property::ReasonString("quota")];
    let puback = v5::PubAck {
        packet_id: id(1),
        reason: ReasonCode::QUOTA_EXCEEDED,
        properties: Properties::from_slice(&properties),
    };
    session.handle_v5(puback.into(), now).expect("valid");
    assert!(matches!(
        &events(&mut session)[..],
        [Event::Failed { token: t, error: Error::PublishRefused { reason, reason_string: Some(why) } }]
            if *t == token && *reason == ReasonCode::QUOTA_EXCEEDED && why == "quota"
    ));
    assert_eq!(session.inflight_len(), 0);
}

#[test]
fn no_matching_subscribers_is_a_success() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    let token = session
        .publish("t", b"", QoS::AtLeastOnce, false, now)
        .expect("sent");
    let puback = v5::PubAck {
        reason: ReasonCode::NO_MATCHING_SUBSCRIBERS,
        ..v5::PubAck::new(id(1))
    };
    session.handle_v5(puback.into(), now).expect("valid");
    assert!(matches!(&events(&mut session)[..], [Event::Published(t)] if *t == token));
}

#[test]
fn a_failed_pubrec_ends_the_flow_without_pubrel_mqtt5_4_3_3_4() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    let token = session
        .publish("t", b"", QoS::ExactlyOnce, false, now)
        .expect("sent");
    sent(&mut session);
    let pubrec = v5::PubRec {
        reason: ReasonCode::NOT_AUTHORIZED,
        ..v5::PubRec::new(id(1))
    };
    session.handle_v5(pubrec.into(), now).expect("valid");
    assert!(
        sent(&mut session).is_empty(),
        "no PUBREL after a failed PUBREC"
    );
    assert!(matches!(
        &events(&mut session)[..],
        [Event::Failed { token: t, error: Error::PublishRefused { .. } }] if *t == token
    ));
}

#[test]
fn subscription_options_and_identifier_are_sent_and_codes_reported_per_filter() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    let options = SubscribeOptions {
        qos: QoS::AtLeastOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::DoNotSend,
    };
    let properties = SubscribeProperties {
        subscription_identifier: Some(7),
        user_properties: Vec::new(),
    };
    let token = session
        .subscribe_with(
            &[
                ("a/#", options),
                ("secret", SubscribeOptions::qos(QoS::AtMostOnce)),
            ],
            properties,
            now,
        )
        .expect("sent");
    assert_eq!(
        sent(&mut session),
        ["SUBSCRIBE 1 a/#:q1nl1rap1rh2,secret:q0nl0rap0rh0 [SubscriptionIdentifier(7)]"]
    );
    let codes = [ReasonCode::GRANTED_QOS_1, ReasonCode::NOT_AUTHORIZED];
    let suback = v5::SubAck {
        packet_id: id(1),
        properties: Properties::EMPTY,
        reason_codes: List::from_slice(&codes),
    };
    session.handle_v5(suback.into(), now).expect("valid");
    assert!(matches!(
        &events(&mut session)[..],
        [Event::Subscribed { token: t, return_codes, reason_codes }]
            if *t == token && reason_codes[..] == codes
            && return_codes[..] == [SubAckReturnCode::Granted(QoS::AtLeastOnce), SubAckReturnCode::Failure]
    ));
    assert_eq!(
        session.subscriptions().collect::<Vec<_>>(),
        [("a/#", QoS::AtLeastOnce)]
    );
}

/// A refused UNSUBSCRIBE leaves the subscription on the server, so the session keeps it (and
/// renews it after a reconnection); the codes reach the caller in filter order [MQTT5-3.11.3-2].
#[test]
fn unsuback_codes_are_reported_and_a_refused_filter_stays_subscribed() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    session
        .subscribe_with(
            &[
                ("a", SubscribeOptions::qos(QoS::AtMostOnce)),
                ("b", SubscribeOptions::qos(QoS::AtMostOnce)),
            ],
            SubscribeProperties::default(),
            now,
        )
        .expect("sent");
    let granted = [ReasonCode::SUCCESS, ReasonCode::SUCCESS];
    let suback = v5::SubAck {
        packet_id: id(1),
        properties: Properties::EMPTY,
        reason_codes: List::from_slice(&granted),
    };
    session.handle_v5(suback.into(), now).expect("valid");
    let _ = events(&mut session);
    let _ = sent(&mut session);
    let token = session
        .unsubscribe_with(&["a", "b", "c"], Vec::new(), now)
        .expect("sent");
    let codes = [
        ReasonCode::SUCCESS,
        ReasonCode::NOT_AUTHORIZED,
        ReasonCode::NO_SUBSCRIPTION_EXISTED,
    ];
    let unsuback = v5::UnsubAck {
        packet_id: id(2),
        properties: Properties::EMPTY,
        reason_codes: List::from_slice(&codes),
    };
    session.handle_v5(unsuback.into(), now).expect("valid");
    assert!(matches!(
        &events(&mut session)[..],
        [Event::Unsubscribed { token: t, reason_codes }] if *t == token && reason_codes[..] == codes
    ));
    assert_eq!(
        session.subscriptions().collect::<Vec<_>>(),
        [("b", QoS::AtMostOnce)]
    );
}

#[test]
fn a_lost_session_resubscribes_with_the_same_options_and_identifier() {
    let now = Instant::now();
    let reconnecting = options(ConnectProperties::default(), |o| {
        o.reconnect(Duration::from_secs(1), Duration::from_secs(8))
    });
    let mut session = connected(reconnecting, &[], now);
    let options = SubscribeOptions {
        no_local: true,
        ..SubscribeOptions::qos(QoS::AtLeastOnce)
    };
    let with_id = SubscribeProperties {
        subscription_identifier: Some(9),
        user_properties: Vec::new(),
    };
    session
        .subscribe_with(&[("a", options)], with_id, now)
        .expect("sent");
    session
        .subscribe(&[("b", QoS::AtMostOnce)], now)
        .expect("sent");
    for packet_id in [1, 2] {
        let codes = [ReasonCode::GRANTED_QOS_1];
        let suback = v5::SubAck {
            packet_id: id(packet_id),
            properties: Properties::EMPTY,
            reason_codes: List::from_slice(&codes),
        };
        session.handle_v5(suback.into(), now).expect("valid");
    }
    sent(&mut session);
    session.connection_lost(&Error::ConnectionLost("test".into()), true);
    session.connect(now).expect("connects");
    sent(&mut session);
    accept(&mut session, &[], now);
    let mut lines = sent(&mut session);
    lines.sort();
    assert_eq!(
        lines,
        [
            "SUBSCRIBE 3 a:q1nl1rap0rh0 [SubscriptionIdentifier(9)]",
            "SUBSCRIBE 4 b:q0nl0rap0rh0 []"
        ]
    );
}

#[test]
fn publish_properties_go_out_and_come_back() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    let properties = PublishProperties {
        content_type: Some("application/json".into()),
        response_topic: Some("replies/1".into()),
        correlation_data: Some(vec![1, 2]),
        message_expiry_interval: Some(60),
        user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
        ..PublishProperties::default()
    };
    session
        .publish_with("t", b"{}", QoS::AtMostOnce, false, properties, now)
        .expect("sent");
    assert_eq!(
        sent(&mut session),
        [
            "PUBLISH t {} q0 [MessageExpiryInterval(60),ContentType(\"application/json\"),ResponseTopic(\"replies/1\"),CorrelationData([1, 2]),UserProperty(\"k\", \"v\"),UserProperty(\"k\", \"w\")]"
        ]
    );
    static RECEIVED: [Property<'static>; 4] = [
        Property::PayloadFormatIndicator(1),
        Property::SubscriptionIdentifier(4),
        Property::SubscriptionIdentifier(9),
        Property::UserProperty("origin", "sensor"),
    ];
    events(&mut session);
    session
        .handle_v5(incoming(Some("t"), 0, &RECEIVED), now)
        .expect("valid");
    let [Event::Message(message)] = &events(&mut session)[..] else {
        panic!("one message");
    };
    assert_eq!(message.properties.payload_format_indicator, Some(1));
    assert_eq!(message.properties.subscription_identifiers, [4, 9]);
    assert_eq!(
        message.properties.user_properties,
        [("origin".to_owned(), "sensor".to_owned())]
    );
}

#[test]
fn more_unreleased_qos_2_than_our_receive_maximum_is_refused_with_0x93_mqtt5_3_3_4_9() {
    let now = Instant::now();
    let ours = ConnectProperties {
        receive_maximum: Some(1),
        ..ConnectProperties::default()
    };
    let mut session = connected(options(ours, |o| o), &[], now);
    session
        .handle_v5(incoming(Some("t"), 1, &[]), now)
        .expect("first");
    // A repeat of the same one is not a new message.
    session
        .handle_v5(incoming(Some("t"), 1, &[]), now)
        .expect("repeat");
    let error = session
        .handle_v5(incoming(Some("t"), 2, &[]), now)
        .expect_err("second unreleased");
    assert!(matches!(
        error,
        Error::ProtocolViolation {
            rule: "MQTT5-3.3.4-9",
            ..
        }
    ));
    assert_eq!(
        sent(&mut session),
        ["PUBREC 1", "PUBREC 1", "DISCONNECT 0x93"]
    );
}

#[test]
fn a_server_disconnect_is_reported_with_its_reason() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    let properties = [Property::ReasonString("maintenance")];
    let disconnect = v5::Disconnect {
        reason: ReasonCode::SERVER_SHUTTING_DOWN,
        properties: Properties::from_slice(&properties),
    };
    let error = session
        .handle_v5(disconnect.into(), now)
        .expect_err("closed");
    assert!(
        matches!(&error, Error::ServerDisconnected { reason, reason_string: Some(why), .. }
            if *reason == ReasonCode::SERVER_SHUTTING_DOWN && why == "maintenance")
    );
    assert!(
        error.is_transient(),
        "a shutdown is worth reconnecting after"
    );
    let taken_over = Error::ServerDisconnected {
        reason: ReasonCode::SESSION_TAKEN_OVER,
        reason_string: None,
        server_reference: None,
    };
    assert!(!taken_over.is_transient());
    // Nothing is answered to a DISCONNECT.
    assert!(sent(&mut session).is_empty());
}

#[test]
fn a_server_disconnect_with_a_session_expiry_is_a_violation_mqtt5_3_14_2_2() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    let properties = [Property::SessionExpiryInterval(10)];
    let disconnect = v5::Disconnect {
        reason: ReasonCode::SERVER_SHUTTING_DOWN,
        properties: Properties::from_slice(&properties),
    };
    let error = session
        .handle_v5(disconnect.into(), now)
        .expect_err("closed");
    assert!(
        matches!(
            error,
            Error::ProtocolViolation {
                rule: "MQTT5-3.14.2-2",
                ..
            }
        ),
        "{error}"
    );
    assert!(
        sent(&mut session).is_empty(),
        "nothing is answered to a DISCONNECT"
    );
}

#[test]
fn session_present_on_a_clean_start_is_a_violation_mqtt5_3_2_2_2() {
    let now = Instant::now();
    let mut session = Session::new(options(ConnectProperties::default(), |o| o), now);
    session.connect(now).expect("connects");
    sent(&mut session);
    let connack = v5::ConnAck {
        session_present: true,
        reason: ReasonCode::SUCCESS,
        properties: Properties::EMPTY,
    };
    let error = session
        .handle_v5(connack.into(), now)
        .expect_err("violation");
    assert!(matches!(
        error,
        Error::ProtocolViolation {
            rule: "MQTT5-3.2.2-2",
            ..
        }
    ));
    assert_eq!(sent(&mut session), ["DISCONNECT 0x82"]);
}

#[test]
fn the_server_keep_alive_replaces_ours_mqtt5_3_1_2_21() {
    let start = Instant::now();
    let mut session = connected(
        options(ConnectProperties::default(), |o| {
            o.keep_alive(Duration::from_secs(60))
        }),
        &[Property::ServerKeepAlive(10)],
        start,
    );
    assert_eq!(session.keep_alive(), Duration::from_secs(10));
    session
        .tick(start + Duration::from_secs(10))
        .expect("alive");
    assert_eq!(sent(&mut session), ["PINGREQ"]);
}

#[test]
fn disconnect_at_5_0_says_normal_disconnection() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    session.disconnect(now);
    assert_eq!(sent(&mut session), ["DISCONNECT 0x00"]);
}

/// An authenticator that records what the session asked of it.
#[derive(Default)]
struct Recording {
    calls: Mutex<Vec<String>>,
    refuse_server: bool,
}

impl Authenticator for Recording {
    fn method(&self) -> &str {
        "TEST-CHALLENGE"
    }

    fn initial_data(&self) -> Result<Option<Vec<u8>>, String> {
        self.calls.lock().expect("lock").push("initial".into());
        Ok(Some(b"client-first".to_vec()))
    }

    fn challenge(&self, data: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let data = String::from_utf8_lossy(data.unwrap_or_default()).into_owned();
        self.calls
            .lock()
            .expect("lock")
            .push(format!("challenge {data}"));
        Ok(format!("answer to {data}").into_bytes())
    }

    fn finish(&self, data: Option<&[u8]>) -> Result<(), String> {
        let data = String::from_utf8_lossy(data.unwrap_or_default()).into_owned();
        self.calls
            .lock()
            .expect("lock")
            .push(format!("finish {data}"));
        if self.refuse_server {
            Err("the server's proof is wrong".into())
        } else {
            Ok(())
        }
    }
}

fn auth_exchange(authenticator: Arc<Recording>) -> (Session, Result<(), Error>) {
    let now = Instant::now();
    let shared: Arc<dyn Authenticator> = authenticator;
    let mut session = Session::new(
        options(ConnectProperties::default(), |o| o.authenticator(shared)),
        now,
    );
    session.connect(now).expect("connects");
    assert_eq!(
        sent(&mut session),
        [
            "CONNECT test clean=true [AuthenticationMethod(\"TEST-CHALLENGE\"),AuthenticationData([99, 108, 105, 101, 110, 116, 45, 102, 105, 114, 115, 116])]"
        ]
    );
    let challenge = [
        Property::AuthenticationMethod("TEST-CHALLENGE"),
        Property::AuthenticationData(b"nonce"),
    ];
    let auth = v5::Auth {
        reason: ReasonCode::CONTINUE_AUTHENTICATION,
        properties: Properties::from_slice(&challenge),
    };
    session.handle_v5(auth.into(), now).expect("a challenge");
    let lines = sent(&mut session);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("AUTH 0x18 [AuthenticationMethod(\"TEST-CHALLENGE\")"),
        "{lines:?}"
    );
    let done = [
        Property::AuthenticationMethod("TEST-CHALLENGE"),
        Property::AuthenticationData(b"proof"),
    ];
    let connack = v5::ConnAck {
        session_present: false,
        reason: ReasonCode::SUCCESS,
        properties: Properties::from_slice(&done),
    };
    let result = session.handle_v5(connack.into(), now);
    (session, result)
}

#[test]
fn enhanced_authentication_runs_the_auth_exchange_through_the_callback_mqtt5_4_12_0_2() {
    let authenticator = Arc::new(Recording::default());
    let (session, result) = auth_exchange(Arc::clone(&authenticator));
    result.expect("authenticated");
    assert_eq!(session.state(), State::Connected);
    assert_eq!(
        *authenticator.calls.lock().expect("lock"),
        ["initial", "challenge nonce", "finish proof"]
    );
}

#[test]
fn an_authenticator_refusing_the_server_ends_the_connection_with_0x87() {
    let authenticator = Arc::new(Recording {
        refuse_server: true,
        ..Recording::default()
    });
    let (mut session, result) = auth_exchange(authenticator);
    assert!(matches!(result, Err(Error::Authentication(_))));
    assert_eq!(sent(&mut session), ["DISCONNECT 0x87"]);
    assert_ne!(session.state(), State::Connected);
}

#[test]
fn re_authentication_runs_through_the_same_callback_mqtt5_4_12_1_1() {
    let authenticator = Arc::new(Recording::default());
    let (mut session, result) = auth_exchange(Arc::clone(&authenticator));
    result.expect("authenticated");
    sent(&mut session);
    events(&mut session);
    let now = Instant::now();
    session.reauthenticate(now).expect("started");
    let lines = sent(&mut session);
    assert!(
        lines[..]
            == [
                "AUTH 0x19 [AuthenticationMethod(\"TEST-CHALLENGE\"),AuthenticationData([99, 108, 105, 101, 110, 116, 45, 102, 105, 114, 115, 116])]"
            ],
        "{lines:?}"
    );
    // Packets keep flowing during the exchange.
    session
        .publish("t", b"x", QoS::AtMostOnce, false, now)
        .expect("sent");
    assert_eq!(sent(&mut session), ["PUBLISH t x q0 []"]);
    let challenge = [
        Property::AuthenticationMethod("TEST-CHALLENGE"),
        Property::AuthenticationData(b"again"),
    ];
    let auth = v5::Auth {
        reason: ReasonCode::CONTINUE_AUTHENTICATION,
        properties: Properties::from_slice(&challenge),
    };
    session.handle_v5(auth.into(), now).expect("a challenge");
    assert!(sent(&mut session)[0].starts_with("AUTH 0x18"));
    let done = [
        Property::AuthenticationMethod("TEST-CHALLENGE"),
        Property::AuthenticationData(b"proof-2"),
    ];
    let auth = v5::Auth {
        reason: ReasonCode::SUCCESS,
        properties: Properties::from_slice(&done),
    };
    session.handle_v5(auth.into(), now).expect("done");
    assert_eq!(
        authenticator.calls.lock().expect("lock")[3..],
        ["initial", "challenge again", "finish proof-2"]
    );
    // Finished: another AUTH from the server is unasked for.
    let stray = v5::Auth {
        reason: ReasonCode::SUCCESS,
        properties: Properties::from_slice(&done),
    };
    assert!(session.handle_v5(stray.into(), now).is_err());
}

#[test]
fn re_authentication_needs_an_authenticator() {
    let now = Instant::now();
    let mut session = connected(options(ConnectProperties::default(), |o| o), &[], now);
    assert!(matches!(
        session.reauthenticate(now),
        Err(Error::InvalidOptions(_))
    ));
}

#[test]
fn auth_without_an_authenticator_is_a_protocol_error() {
    let now = Instant::now();
    let mut session = Session::new(options(ConnectProperties::default(), |o| o), now);
    session.connect(now).expect("connects");
    sent(&mut session);
    let auth = v5::Auth {
        reason: ReasonCode::CONTINUE_AUTHENTICATION,
        properties: Properties::EMPTY,
    };
    assert!(session.handle_v5(auth.into(), now).is_err());
    assert_eq!(sent(&mut session), ["DISCONNECT 0x82"]);
}

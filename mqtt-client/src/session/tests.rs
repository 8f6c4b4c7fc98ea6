//! Every test drives the session by hand: packets are built with the codec, time is an `Instant`
//! the test moves forward, and what the session sends is decoded back and described in one line
//! per packet, so that each test reads as a transcript.

use std::time::Duration;

use mqtt_codec::{
    ConnAck, ConnectReturnCode, Decoder, Delivery, List, ProtocolLevel, Publish, Status, SubAck,
    SubAckReturnCode,
};

use super::*;
use crate::ConnectOptionsBuilder;

fn options(
    configure: impl FnOnce(ConnectOptionsBuilder) -> ConnectOptionsBuilder,
) -> ConnectOptions {
    configure(ConnectOptions::builder("localhost", 1883).client_id("test"))
        .build()
        .expect("test options are valid")
}

fn id(value: u16) -> PacketId {
    PacketId::new(value).expect("test ids are non-zero")
}

/// A session that has sent CONNECT and received CONNACK at `now`.
fn connected(options: ConnectOptions, now: Instant) -> Session {
    let mut session = Session::new(options, now);
    session.connect(now).expect("connects");
    accept(&mut session, false, now);
    session
}

fn accept(session: &mut Session, session_present: bool, now: Instant) {
    let connack = ConnAck {
        session_present,
        code: ConnectReturnCode::Accepted,
    };
    session
        .handle(connack.into(), now)
        .expect("CONNACK accepted");
    // Events from before this connection are skipped; `Connected` is the first of this one.
    loop {
        match session.poll_event() {
            Some(Event::Connected {
                session_present: present,
            }) => {
                assert_eq!(present, session_present);
                break;
            }
            Some(_) => {}
            None => panic!("no Connected event"),
        }
    }
}

/// What the session has sent since the last call, one line per packet.
fn sent(session: &mut Session) -> Vec<String> {
    let bytes = session.take_outgoing();
    let decoder = Decoder::new(session.options().level);
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

fn describe(packet: &Packet<'_>) -> String {
    match packet {
        Packet::Connect(c) => format!(
            "CONNECT {} clean={} ka={}",
            c.client_id, c.clean_session, c.keep_alive
        ),
        Packet::Publish(p) => format!(
            "PUBLISH {} {} q{} id={} dup={}",
            p.topic,
            String::from_utf8_lossy(p.payload),
            p.qos().bits(),
            p.delivery.packet_id().map_or(0, PacketId::get),
            u8::from(p.delivery.dup()),
        ),
        Packet::PubAck(a) => format!("PUBACK {}", a.packet_id),
        Packet::PubRec(a) => format!("PUBREC {}", a.packet_id),
        Packet::PubRel(a) => format!("PUBREL {}", a.packet_id),
        Packet::PubComp(a) => format!("PUBCOMP {}", a.packet_id),
        Packet::Subscribe(s) => {
            let filters: Vec<String> = s
                .filters
                .iter()
                .map(|entry| format!("{}:{}", entry.filter, entry.qos.bits()))
                .collect();
            format!("SUBSCRIBE {} {}", s.packet_id, filters.join(","))
        }
        Packet::Unsubscribe(u) => {
            let filters: Vec<&str> = u.filters.iter().map(TopicFilter::as_str).collect();
            format!("UNSUBSCRIBE {} {}", u.packet_id, filters.join(","))
        }
        other => format!("{:?}", other.packet_type()).to_uppercase(),
    }
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn published(events: &[Event]) -> Vec<Token> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Published(token) => Some(*token),
            _ => None,
        })
        .collect()
}

fn publish(qos: QoS, packet_id: u16, dup: bool, payload: &'static [u8]) -> Packet<'static> {
    Packet::Publish(Publish {
        topic: TopicName::new("t").expect("valid"),
        payload,
        delivery: Delivery::new(qos, id(packet_id), dup),
        retain: false,
    })
}

#[test]
fn connect_sends_connect_then_waits_for_connack() {
    let now = Instant::now();
    let mut session = Session::new(options(|o| o.keep_alive(Duration::from_secs(30))), now);
    session.connect(now).expect("connects");
    assert_eq!(sent(&mut session), ["CONNECT test clean=true ka=30"]);
    assert!(matches!(session.state(), State::AwaitingConnAck { .. }));
    accept(&mut session, false, now);
    assert_eq!(session.state(), State::Connected);
}

#[test]
fn mqtt_3_1_connect_uses_the_3_1_protocol_name() {
    let now = Instant::now();
    let mut session = Session::new(options(|o| o.level(ProtocolLevel::Mqtt31)), now);
    session.connect(now).expect("connects");
    let bytes = session.take_outgoing();
    assert_eq!(&bytes[2..10], b"\x00\x06MQIsdp"); // [V31-DIFF-1]
}

#[test]
fn a_bridge_sets_the_top_bit_of_the_protocol_level() {
    let now = Instant::now();
    let mut session = Session::new(options(|o| o.bridge(true)), now);
    session.connect(now).expect("connects");
    let bytes = session.take_outgoing();
    assert_eq!(&bytes[2..9], b"\x00\x04MQTT\x84");
}

#[test]
fn any_packet_before_connack_is_a_violation_mqtt_3_2_0_1() {
    let now = Instant::now();
    let mut session = Session::new(options(|o| o), now);
    session.connect(now).expect("connects");
    let error = session.handle(Packet::PingResp, now).expect_err("refused");
    assert!(
        matches!(
            error,
            Error::ProtocolViolation {
                rule: "MQTT-3.2.0-1",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn refusal_reports_the_connack_code() {
    let now = Instant::now();
    let mut session = Session::new(options(|o| o), now);
    session.connect(now).expect("connects");
    let connack = ConnAck {
        session_present: false,
        code: ConnectReturnCode::BadUserNameOrPassword,
    };
    let error = session.handle(connack.into(), now).expect_err("refused");
    assert!(matches!(
        error,
        Error::Refused(ConnectReturnCode::BadUserNameOrPassword)
    ));
}

#[test]
fn session_present_on_a_clean_session_is_a_violation_mqtt_3_2_2_1() {
    let now = Instant::now();
    let mut session = Session::new(options(|o| o), now);
    session.connect(now).expect("connects");
    let connack = ConnAck {
        session_present: true,
        code: ConnectReturnCode::Accepted,
    };
    let error = session.handle(connack.into(), now).expect_err("violation");
    assert!(matches!(
        error,
        Error::ProtocolViolation {
            rule: "MQTT-3.2.2-1",
            ..
        }
    ));
}

#[test]
fn no_connack_within_the_connect_timeout_times_out() {
    let start = Instant::now();
    let mut session = Session::new(
        options(|o| o.connect_timeout(Duration::from_secs(5))),
        start,
    );
    session.connect(start).expect("connects");
    assert_eq!(
        session.next_deadline(),
        Some(start + Duration::from_secs(5))
    );
    assert!(session.tick(start + Duration::from_millis(4999)).is_ok());
    let error = session
        .tick(start + Duration::from_secs(5))
        .expect_err("late");
    assert!(matches!(error, Error::TimedOut(Timeout::ConnAck)));
}

#[test]
fn pingreq_after_a_quiet_keep_alive_mqtt_3_1_2_23() {
    let start = Instant::now();
    let mut session = connected(options(|o| o.keep_alive(Duration::from_secs(10))), start);
    sent(&mut session);
    assert_eq!(
        session.next_deadline(),
        Some(start + Duration::from_secs(10))
    );
    session.tick(start + Duration::from_secs(9)).expect("alive");
    assert!(sent(&mut session).is_empty());
    session
        .tick(start + Duration::from_secs(10))
        .expect("alive");
    assert_eq!(sent(&mut session), ["PINGREQ"]);
    // PINGRESP in time: no error, and the next ping is a full interval later.
    session
        .handle(Packet::PingResp, start + Duration::from_secs(11))
        .expect("valid");
    session
        .tick(start + Duration::from_secs(15))
        .expect("alive");
    assert_eq!(
        session.next_deadline(),
        Some(start + Duration::from_secs(20))
    );
}

#[test]
fn dead_server_detected_within_one_and_a_half_keep_alives() {
    let start = Instant::now();
    let keep_alive = Duration::from_secs(10);
    let mut session = connected(options(|o| o.keep_alive(keep_alive)), start);
    // The application keeps sending, so the client is never quiet; the server is.
    let mut now = start;
    loop {
        now += Duration::from_secs(1);
        let _ = session.publish("t", b"x", QoS::AtMostOnce, false, now);
        if let Err(error) = session.tick(now) {
            assert!(matches!(error, Error::TimedOut(Timeout::KeepAlive)));
            break;
        }
        assert!(now < start + keep_alive * 3, "never detected");
    }
    assert!(
        now - start <= keep_alive * 3 / 2,
        "detected after {:?}",
        now - start
    );
}

#[test]
fn keep_alive_zero_turns_pings_off() {
    let start = Instant::now();
    let mut session = connected(options(|o| o.keep_alive(Duration::ZERO)), start);
    sent(&mut session);
    assert_eq!(session.next_deadline(), None);
    session
        .tick(start + Duration::from_secs(100_000))
        .expect("no keep-alive");
    assert!(sent(&mut session).is_empty());
}

#[test]
fn qos_0_is_sent_and_complete_at_once_mqtt_4_3_1_1() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    sent(&mut session);
    let token = session
        .publish("a/b", b"hi", QoS::AtMostOnce, false, now)
        .expect("sent");
    assert_eq!(sent(&mut session), ["PUBLISH a/b hi q0 id=0 dup=0"]);
    assert_eq!(published(&events(&mut session)), [token]);
}

#[test]
fn qos_1_completes_on_puback_mqtt_4_3_2_1() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    sent(&mut session);
    let token = session
        .publish("a/b", b"hi", QoS::AtLeastOnce, false, now)
        .expect("sent");
    assert_eq!(sent(&mut session), ["PUBLISH a/b hi q1 id=1 dup=0"]);
    assert!(events(&mut session).is_empty());
    session
        .handle(PubAck { packet_id: id(1) }.into(), now)
        .expect("valid");
    assert_eq!(published(&events(&mut session)), [token]);
    assert_eq!(session.inflight_len(), 0);
}

#[test]
fn qos_2_sends_pubrel_on_pubrec_and_completes_on_pubcomp_mqtt_4_3_3_1() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    sent(&mut session);
    let token = session
        .publish("a/b", b"hi", QoS::ExactlyOnce, true, now)
        .expect("sent");
    assert_eq!(sent(&mut session), ["PUBLISH a/b hi q2 id=1 dup=0"]);
    session
        .handle(PubRec { packet_id: id(1) }.into(), now)
        .expect("valid");
    assert_eq!(sent(&mut session), ["PUBREL 1"]);
    assert!(events(&mut session).is_empty());
    session
        .handle(PubComp { packet_id: id(1) }.into(), now)
        .expect("valid");
    assert_eq!(published(&events(&mut session)), [token]);
}

#[test]
fn packet_ids_in_use_are_not_reused_mqtt_2_3_1_2() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    sent(&mut session);
    for _ in 0..3 {
        session
            .publish("t", b"", QoS::AtLeastOnce, false, now)
            .expect("sent");
    }
    session
        .subscribe(&[("s", QoS::AtMostOnce)], now)
        .expect("sent");
    assert_eq!(
        sent(&mut session),
        [
            "PUBLISH t  q1 id=1 dup=0",
            "PUBLISH t  q1 id=2 dup=0",
            "PUBLISH t  q1 id=3 dup=0",
            "SUBSCRIBE 4 s:0"
        ]
    );
}

#[test]
fn full_window_queues_and_full_queue_is_an_error() {
    let now = Instant::now();
    let mut session = connected(options(|o| o.max_inflight(2).max_queued(1)), now);
    sent(&mut session);
    session
        .publish("t", b"1", QoS::AtLeastOnce, false, now)
        .expect("sent");
    session
        .publish("t", b"2", QoS::AtLeastOnce, false, now)
        .expect("sent");
    session
        .publish("t", b"3", QoS::AtLeastOnce, false, now)
        .expect("queued");
    assert_eq!(sent(&mut session).len(), 2);
    assert_eq!(session.queued_len(), 1);
    let error = session
        .publish("t", b"4", QoS::AtLeastOnce, false, now)
        .expect_err("full");
    assert!(matches!(error, Error::QueueFull { capacity: 1 }));
    // An acknowledgement opens the window, and the queued message goes out.
    session
        .handle(PubAck { packet_id: id(1) }.into(), now)
        .expect("valid");
    assert_eq!(sent(&mut session), ["PUBLISH t 3 q1 id=3 dup=0"]);
}

#[test]
fn qos_1_message_is_acknowledged_and_delivered_mqtt_4_3_2_2() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    sent(&mut session);
    session
        .handle(publish(QoS::AtLeastOnce, 7, false, b"m"), now)
        .expect("valid");
    assert_eq!(sent(&mut session), ["PUBACK 7"]);
    let events = events(&mut session);
    assert!(
        matches!(&events[..], [Event::Message(m)] if m.payload == b"m" && m.qos == QoS::AtLeastOnce)
    );
}

#[test]
fn qos_2_message_is_delivered_once_mqtt_4_3_3_2() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    sent(&mut session);
    session
        .handle(publish(QoS::ExactlyOnce, 9, false, b"m"), now)
        .expect("valid");
    // The server did not see our PUBREC and sends the message again.
    session
        .handle(publish(QoS::ExactlyOnce, 9, true, b"m"), now)
        .expect("valid");
    assert_eq!(sent(&mut session), ["PUBREC 9", "PUBREC 9"]);
    assert_eq!(events(&mut session).len(), 1);
    session
        .handle(PubRel { packet_id: id(9) }.into(), now)
        .expect("valid");
    assert_eq!(sent(&mut session), ["PUBCOMP 9"]);
    // The identifier is free again: a new message with it is a new message.
    session
        .handle(publish(QoS::ExactlyOnce, 9, false, b"n"), now)
        .expect("valid");
    assert_eq!(events(&mut session).len(), 1);
}

#[test]
fn suback_gives_one_code_per_filter_mqtt_3_8_4_5() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    sent(&mut session);
    let token = session
        .subscribe(&[("a/#", QoS::ExactlyOnce), ("b", QoS::AtMostOnce)], now)
        .expect("sent");
    assert_eq!(sent(&mut session), ["SUBSCRIBE 1 a/#:2,b:0"]);
    let codes = [
        SubAckReturnCode::Granted(QoS::AtLeastOnce),
        SubAckReturnCode::Failure,
    ];
    let suback = SubAck {
        packet_id: id(1),
        return_codes: List::from_slice(&codes),
    };
    session.handle(suback.into(), now).expect("valid");
    let events = events(&mut session);
    assert!(
        matches!(&events[..], [Event::Subscribed { token: t, return_codes, .. }]
        if *t == token && return_codes[..] == codes)
    );
    assert_eq!(
        session.subscriptions().collect::<Vec<_>>(),
        [("a/#", QoS::ExactlyOnce)]
    );
}

#[test]
fn suback_with_the_wrong_number_of_codes_is_a_violation() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    session
        .subscribe(&[("a", QoS::AtMostOnce), ("b", QoS::AtMostOnce)], now)
        .expect("sent");
    let codes = [SubAckReturnCode::Granted(QoS::AtMostOnce)];
    let suback = SubAck {
        packet_id: id(1),
        return_codes: List::from_slice(&codes),
    };
    let error = session.handle(suback.into(), now).expect_err("violation");
    assert!(matches!(
        error,
        Error::ProtocolViolation {
            rule: "MQTT-3.8.4-5",
            ..
        }
    ));
}

#[test]
fn unsubscribe_forgets_the_filter() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    session
        .subscribe(&[("a", QoS::AtMostOnce)], now)
        .expect("sent");
    let codes = [SubAckReturnCode::Granted(QoS::AtMostOnce)];
    let suback = SubAck {
        packet_id: id(1),
        return_codes: List::from_slice(&codes),
    };
    session.handle(suback.into(), now).expect("valid");
    sent(&mut session);
    let token = session.unsubscribe(&["a"], now).expect("sent");
    assert_eq!(sent(&mut session), ["UNSUBSCRIBE 2 a"]);
    session
        .handle(UnsubAck { packet_id: id(2) }.into(), now)
        .expect("valid");
    assert!(matches!(
        &events(&mut session)[..],
        [_, Event::Unsubscribed { token: t, reason_codes }]
            if *t == token && reason_codes[..] == [ReasonCode::SUCCESS]
    ));
    assert_eq!(session.subscriptions().count(), 0);
}

#[test]
fn server_only_packets_from_the_server_are_violations() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    let error = session.handle(Packet::PingReq, now).expect_err("violation");
    assert!(matches!(error, Error::ProtocolViolation { .. }));
}

#[test]
fn without_reconnection_a_lost_connection_fails_every_request() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    let token = session
        .publish("t", b"", QoS::AtLeastOnce, false, now)
        .expect("sent");
    session.connection_lost(&Error::ConnectionLost("test".into()), false);
    assert!(
        matches!(&events(&mut session)[..], [Event::Failed { token: t, error: Error::ConnectionLost(_) }] if *t == token)
    );
    assert!(matches!(
        session.publish("t", b"", QoS::AtMostOnce, false, now),
        Err(Error::Closed)
    ));
}

#[test]
fn disconnected_without_reconnection_refuses_requests() {
    let now = Instant::now();
    let mut session = Session::new(options(|o| o), now);
    let error = session
        .publish("t", b"", QoS::AtMostOnce, false, now)
        .expect_err("refused");
    assert!(matches!(error, Error::NotConnected));
}

#[test]
fn offline_messages_wait_for_the_connection() {
    let now = Instant::now();
    let reconnecting = options(|o| o.reconnect(Duration::from_secs(1), Duration::from_secs(8)));
    let mut session = Session::new(reconnecting, now);
    session
        .publish("t", b"early", QoS::AtLeastOnce, false, now)
        .expect("queued");
    session
        .subscribe(&[("s", QoS::AtLeastOnce)], now)
        .expect("queued");
    assert!(!session.has_outgoing());
    session.connect(now).expect("connects");
    accept(&mut session, false, now);
    assert_eq!(
        sent(&mut session),
        [
            "CONNECT test clean=true ka=60",
            "SUBSCRIBE 1 s:1",
            "PUBLISH t early q1 id=2 dup=0"
        ]
    );
}

#[test]
fn resumed_session_resends_with_dup_and_pubrel_mqtt_4_4_0_1() {
    let now = Instant::now();
    let persistent = options(|o| {
        o.clean_session(false)
            .reconnect(Duration::from_secs(1), Duration::from_secs(8))
    });
    let mut session = connected(persistent, now);
    let first = session
        .publish("t", b"1", QoS::AtLeastOnce, false, now)
        .expect("sent");
    session
        .publish("t", b"2", QoS::ExactlyOnce, false, now)
        .expect("sent");
    session
        .publish("t", b"3", QoS::ExactlyOnce, false, now)
        .expect("sent");
    session
        .handle(PubRec { packet_id: id(2) }.into(), now)
        .expect("valid");
    sent(&mut session);
    session.connection_lost(&Error::ConnectionLost("test".into()), true);
    assert_eq!(session.state(), State::Disconnected);

    session.connect(now).expect("connects");
    accept(&mut session, true, now);
    // Original order and identifiers [MQTT-4.6.0-1]; DUP on re-sent PUBLISH [MQTT-3.3.1-1];
    // PUBREL, never PUBLISH, after PUBREC [MQTT-4.3.3-1].
    assert_eq!(
        sent(&mut session),
        [
            "CONNECT test clean=false ka=60",
            "PUBLISH t 1 q1 id=1 dup=1",
            "PUBREL 2",
            "PUBLISH t 3 q2 id=3 dup=1"
        ]
    );
    session
        .handle(PubAck { packet_id: id(1) }.into(), now)
        .expect("valid");
    assert_eq!(published(&events(&mut session)), [first]);
}

#[test]
fn lost_session_means_subscribing_again() {
    let now = Instant::now();
    let persistent = options(|o| {
        o.clean_session(false)
            .reconnect(Duration::from_secs(1), Duration::from_secs(8))
    });
    let mut session = connected(persistent, now);
    session
        .subscribe(&[("a/+", QoS::AtLeastOnce), ("b", QoS::ExactlyOnce)], now)
        .expect("sent");
    let codes = [
        SubAckReturnCode::Granted(QoS::AtLeastOnce),
        SubAckReturnCode::Granted(QoS::ExactlyOnce),
    ];
    let suback = SubAck {
        packet_id: id(1),
        return_codes: List::from_slice(&codes),
    };
    session.handle(suback.into(), now).expect("valid");
    let delivered = session
        .publish("t", b"x", QoS::ExactlyOnce, false, now)
        .expect("sent");
    let again = session
        .publish("t", b"y", QoS::AtLeastOnce, false, now)
        .expect("sent");
    session
        .handle(PubRec { packet_id: id(2) }.into(), now)
        .expect("valid");
    sent(&mut session);
    events(&mut session);
    session.connection_lost(&Error::ConnectionLost("test".into()), true);

    // The server restarted and lost everything.
    session.connect(now).expect("connects");
    accept(&mut session, false, now);
    assert_eq!(
        sent(&mut session),
        [
            "CONNECT test clean=false ka=60",
            "SUBSCRIBE 4 a/+:1,b:2",
            "PUBLISH t y q1 id=5 dup=0"
        ]
    );
    // The message past PUBREC belongs to the server now: complete.
    assert_eq!(published(&events(&mut session)), [delivered]);
    session
        .handle(PubAck { packet_id: id(5) }.into(), now)
        .expect("valid");
    assert_eq!(published(&events(&mut session)), [again]);
}

#[test]
fn clean_session_reconnect_subscribes_again() {
    let now = Instant::now();
    let reconnecting = options(|o| o.reconnect(Duration::from_secs(1), Duration::from_secs(8)));
    let mut session = connected(reconnecting, now);
    session
        .subscribe(&[("x", QoS::AtMostOnce)], now)
        .expect("sent");
    let codes = [SubAckReturnCode::Granted(QoS::AtMostOnce)];
    let suback = SubAck {
        packet_id: id(1),
        return_codes: List::from_slice(&codes),
    };
    session.handle(suback.into(), now).expect("valid");
    session.connection_lost(&Error::ConnectionLost("test".into()), true);
    session.connect(now).expect("connects");
    accept(&mut session, false, now);
    assert_eq!(
        sent(&mut session),
        ["CONNECT test clean=true ka=60", "SUBSCRIBE 2 x:0"]
    );
    // The re-subscription has no token: its SUBACK completes nothing the application holds.
    let suback = SubAck {
        packet_id: id(2),
        return_codes: List::from_slice(&codes),
    };
    session.handle(suback.into(), now).expect("valid");
    assert!(events(&mut session).is_empty());
}

#[test]
fn request_interrupted_by_a_drop_is_sent_again() {
    let now = Instant::now();
    let reconnecting = options(|o| o.reconnect(Duration::from_secs(1), Duration::from_secs(8)));
    let mut session = connected(reconnecting, now);
    let token = session
        .subscribe(&[("x", QoS::AtMostOnce)], now)
        .expect("sent");
    session.connection_lost(&Error::ConnectionLost("test".into()), true);
    session.connect(now).expect("connects");
    accept(&mut session, false, now);
    assert_eq!(
        sent(&mut session),
        ["CONNECT test clean=true ka=60", "SUBSCRIBE 1 x:0"]
    );
    let codes = [SubAckReturnCode::Granted(QoS::AtMostOnce)];
    let suback = SubAck {
        packet_id: id(1),
        return_codes: List::from_slice(&codes),
    };
    session.handle(suback.into(), now).expect("valid");
    assert!(
        matches!(&events(&mut session)[..], [Event::Subscribed { token: t, .. }] if *t == token)
    );
}

#[test]
fn disconnect_sends_disconnect_and_fails_what_is_pending_mqtt_3_14_4_2() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    sent(&mut session);
    let token = session
        .publish("t", b"", QoS::AtLeastOnce, false, now)
        .expect("sent");
    session.disconnect(now);
    assert_eq!(
        sent(&mut session),
        ["PUBLISH t  q1 id=1 dup=0", "DISCONNECT"]
    );
    assert!(
        matches!(&events(&mut session)[..], [Event::Failed { token: t, error: Error::Closed }] if *t == token)
    );
    // Nothing more is sent after DISCONNECT.
    session
        .handle(publish(QoS::AtLeastOnce, 1, false, b""), now)
        .expect("ignored");
    assert!(!session.has_outgoing());
}

#[test]
fn invalid_topics_are_the_applications_fault() {
    let now = Instant::now();
    let mut session = connected(options(|o| o), now);
    assert!(matches!(
        session.publish("a/+", b"", QoS::AtMostOnce, false, now),
        Err(Error::InvalidTopic(_))
    ));
    assert!(matches!(
        session.subscribe(&[("a/#/b", QoS::AtMostOnce)], now),
        Err(Error::InvalidTopic(_))
    ));
}

//! The client at MQTT 5.0 against a real 5.0 broker: always mosquitto (`Broker::with_config`),
//! whatever `MQTT_CLIENT_TEST_BROKER` says, until our broker speaks 5.0 on main.

use std::time::Duration;

use mqtt_client::v5::{
    ConnectProperties, PublishProperties, ReasonCode, RetainHandling, SubscribeOptions,
    SubscribeProperties,
};
use mqtt_client::{Client, ConnectOptionsBuilder, Error, Message, Notification, QoS};

use crate::support::{Broker, PATIENCE, recording_server, silent_server};

fn anonymous(extra: &str) -> Broker {
    Broker::with_config(&format!("allow_anonymous true\n{extra}"))
}

fn connect_v5(
    broker: &Broker,
    properties: ConnectProperties,
    configure: impl FnOnce(ConnectOptionsBuilder) -> ConnectOptionsBuilder,
) -> Client {
    let options = configure(broker.options().mqtt5(properties))
        .build()
        .expect("options");
    Client::connect(options).expect("connected")
}

fn next_message(client: &Client) -> Message {
    client
        .messages()
        .recv_timeout(PATIENCE)
        .expect("a message within the test's patience")
}

#[test]
fn properties_travel_both_ways_through_mosquitto() {
    let broker = anonymous("");
    let subscriber = connect_v5(&broker, ConnectProperties::default(), |o| o);
    let publisher = connect_v5(&broker, ConnectProperties::default(), |o| o);
    let with_id = SubscribeProperties {
        subscription_identifier: Some(42),
        user_properties: Vec::new(),
    };
    let codes = subscriber
        .subscribe_with(
            &[("req/#", SubscribeOptions::qos(QoS::AtLeastOnce))],
            with_id,
        )
        .expect("sent")
        .wait()
        .expect("subscribed");
    assert_eq!(codes, [ReasonCode::GRANTED_QOS_1]);
    let properties = PublishProperties {
        content_type: Some("application/json".into()),
        response_topic: Some("reply/1".into()),
        correlation_data: Some(b"c-1".to_vec()),
        payload_format_indicator: Some(1),
        user_properties: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
        ..PublishProperties::default()
    };
    publisher
        .publish_with("req/x", "{}", QoS::AtLeastOnce, false, properties.clone())
        .expect("sent")
        .wait()
        .expect("acknowledged");
    let message = next_message(&subscriber);
    assert_eq!(message.topic, "req/x");
    assert_eq!(message.properties.content_type, properties.content_type);
    assert_eq!(message.properties.response_topic, properties.response_topic);
    assert_eq!(
        message.properties.correlation_data,
        properties.correlation_data
    );
    assert_eq!(message.properties.payload_format_indicator, Some(1));
    // In order, duplicates kept [MQTT5-3.3.2-18].
    assert_eq!(
        message.properties.user_properties,
        properties.user_properties
    );
    // The subscription's identifier comes back with the delivery [MQTT5-3.3.4-4].
    assert_eq!(message.properties.subscription_identifiers, [42]);
}

#[test]
fn topic_aliases_toward_mosquitto_keep_every_topic_right() {
    let broker = anonymous("max_topic_alias 2\n");
    let subscriber = connect_v5(&broker, ConnectProperties::default(), |o| o);
    subscriber
        .subscribe(&[("alias/#", QoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let publisher = connect_v5(&broker, ConnectProperties::default(), |o| o);
    assert_eq!(publisher.server_settings().topic_alias_maximum, 2);
    // a and b get aliases 1 and 2, c is past the maximum; the repeats use the aliases.
    let topics = [
        "alias/a", "alias/b", "alias/c", "alias/a", "alias/b", "alias/c",
    ];
    for (index, topic) in topics.iter().enumerate() {
        publisher
            .publish(topic, index.to_string(), QoS::AtLeastOnce, false)
            .expect("sent")
            .wait()
            .expect("acknowledged");
    }
    let received: Vec<(String, String)> = (0..topics.len())
        .map(|_| {
            let message = next_message(&subscriber);
            (
                message.topic,
                String::from_utf8_lossy(&message.payload).into_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = topics
        .iter()
        .enumerate()
        .map(|(index, topic)| ((*topic).to_owned(), index.to_string()))
        .collect();
    assert_eq!(received, expected);
}

#[test]
fn the_servers_maximum_packet_size_is_honoured_mqtt5_3_2_2_15() {
    let broker = anonymous("max_packet_size 200\n");
    let client = connect_v5(&broker, ConnectProperties::default(), |o| o);
    assert_eq!(client.server_settings().maximum_packet_size, Some(200));
    let error = client
        .publish("big", vec![0; 500], QoS::AtLeastOnce, false)
        .expect_err("too large to send");
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
    // Nothing was sent, so the connection is still good.
    client
        .publish("small", vec![0; 50], QoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    assert!(client.is_connected());
}

#[test]
fn the_servers_receive_maximum_is_read_from_connack() {
    let broker = anonymous("max_inflight_messages 3\n");
    let client = connect_v5(&broker, ConnectProperties::default(), |o| o);
    assert_eq!(client.server_settings().receive_maximum, 3);
    // More messages than the quota all complete: the window waits for acknowledgements.
    let pending: Vec<_> = (0..20)
        .map(|n| {
            client
                .publish("quota", n.to_string(), QoS::ExactlyOnce, false)
                .expect("queued")
        })
        .collect();
    for pending in pending {
        pending.wait_timeout(PATIENCE).expect("acknowledged");
    }
}

#[test]
fn a_refusal_carries_the_5_0_reason_code() {
    let broker = Broker::with_config("allow_anonymous false\n");
    let options = broker
        .options()
        .mqtt5(ConnectProperties::default())
        .build()
        .expect("options");
    let Err(error) = Client::connect(options) else {
        panic!("connected without credentials");
    };
    assert!(
        matches!(&error, Error::RefusedWithReason { reason, .. } if *reason == ReasonCode::NOT_AUTHORIZED),
        "{error}"
    );
}

#[test]
fn no_local_and_retain_handling_are_obeyed() {
    let broker = anonymous("");
    let client = connect_v5(&broker, ConnectProperties::default(), |o| o);
    client
        .publish("kept", "old", QoS::AtLeastOnce, true)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    let no_local = SubscribeOptions {
        no_local: true,
        ..SubscribeOptions::qos(QoS::AtLeastOnce)
    };
    let skip_retained = SubscribeOptions {
        retain_handling: RetainHandling::DoNotSend,
        ..SubscribeOptions::qos(QoS::AtLeastOnce)
    };
    client
        .subscribe_with(
            &[
                ("mine", no_local),
                ("kept", skip_retained),
                ("others", SubscribeOptions::qos(QoS::AtLeastOnce)),
            ],
            SubscribeProperties::default(),
        )
        .expect("sent")
        .wait()
        .expect("subscribed");
    for topic in ["mine", "others"] {
        client
            .publish(topic, topic, QoS::AtLeastOnce, false)
            .expect("sent")
            .wait()
            .expect("acknowledged");
    }
    // Only "others" arrives: not our own "mine" [MQTT5-3.8.3-3], and not the retained "kept".
    let message = next_message(&client);
    assert_eq!(message.topic, "others");
    assert!(
        client
            .messages()
            .recv_timeout(Duration::from_millis(300))
            .is_none()
    );
}

#[test]
fn a_session_expiry_keeps_the_session_across_connections() {
    let broker = anonymous("");
    let keep = ConnectProperties {
        session_expiry_interval: Some(300),
        ..ConnectProperties::default()
    };
    let first = connect_v5(&broker, keep.clone(), |o| {
        o.client_id("expiring").clean_session(false)
    });
    first
        .subscribe(&[("stored", QoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    first.disconnect();
    let publisher = connect_v5(&broker, ConnectProperties::default(), |o| o);
    publisher
        .publish("stored", "while away", QoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    let second = connect_v5(&broker, keep, |o| {
        o.client_id("expiring").clean_session(false)
    });
    let message = next_message(&second);
    assert_eq!(message.payload, b"while away");
}

/// The hostile case: a 5.0 server sends bytes that are no packet. The client reports the
/// violation and, before closing, tells the server why with DISCONNECT 0x81 [MQTT5-4.13.1-1].
#[test]
fn a_malformed_packet_from_the_server_is_answered_with_disconnect_0x81() {
    // CONNACK (success, no properties), then a PUBLISH whose topic is longer than its body: in
    // one write (read while connecting), and in a later one (read by the reader thread, the
    // DISCONNECT then written by the driver).
    const AT_ONCE: &[&[u8]] = &[&[0x20, 0x03, 0x00, 0x00, 0x00, 0x30, 0x03, 0x00, 0x05, b'x']];
    const LATER: &[&[u8]] = &[
        &[0x20, 0x03, 0x00, 0x00, 0x00],
        &[0x30, 0x03, 0x00, 0x05, b'x'],
    ];
    check_malformed_is_answered(AT_ONCE);
    check_malformed_is_answered(LATER);
}

fn check_malformed_is_answered(replies: &'static [&'static [u8]]) {
    let (port, received) = recording_server(replies);
    let options = mqtt_client::ConnectOptions::builder("127.0.0.1", port)
        .connect_timeout(PATIENCE)
        .mqtt5(ConnectProperties::default())
        .build()
        .expect("options");
    let error = match Client::connect(options) {
        Err(error) => error,
        Ok(client) => {
            // Something for the server to read before it misbehaves.
            let _ = client.publish("t", "x", QoS::AtMostOnce, false);
            loop {
                let notification = client
                    .notifications()
                    .recv_timeout(PATIENCE)
                    .expect("a notification");
                if let Notification::ConnectionLost(error) = notification {
                    break error;
                }
            }
        }
    };
    assert!(matches!(error, Error::ProtocolViolation { .. }), "{error}");
    let sent = received
        .recv_timeout(PATIENCE)
        .expect("the connection closed");
    assert!(
        sent.ends_with(&[0xE0, 0x01, 0x81]),
        "DISCONNECT, malformed packet, last: {sent:02x?}"
    );
}

/// A will carries its 5.0 properties: the session's CONNECT is written on a raw socket, which is
/// then dropped without DISCONNECT so that mosquitto publishes the will.
#[test]
fn a_will_is_published_with_its_properties() {
    use std::io::{Read, Write};
    use std::time::Instant;

    let broker = anonymous("");
    let watcher = connect_v5(&broker, ConnectProperties::default(), |o| o);
    watcher
        .subscribe(&[("wills/#", QoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let will = mqtt_client::LastWill {
        topic: "wills/dying".into(),
        payload: b"gone".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
    };
    let properties = PublishProperties {
        content_type: Some("text/plain".into()),
        user_properties: vec![("reason".into(), "test".into())],
        ..PublishProperties::default()
    };
    let options = broker
        .options()
        .client_id("dying")
        .mqtt5(ConnectProperties::default())
        .will(will)
        .will_properties(properties.clone())
        .build()
        .expect("options");
    let mut session = mqtt_client::Session::new(options, Instant::now());
    session.connect(Instant::now()).expect("CONNECT");
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", broker.port())).expect("connected");
    socket
        .write_all(&session.take_outgoing())
        .expect("CONNECT written");
    socket.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut connack = [0; 64];
    let read = socket.read(&mut connack).expect("CONNACK");
    assert!(
        read >= 4 && connack[0] == 0x20 && connack[3] == 0x00,
        "{:02x?}",
        &connack[..read]
    );
    drop(socket);
    let message = next_message(&watcher);
    assert_eq!(
        (message.topic.as_str(), &message.payload[..]),
        ("wills/dying", &b"gone"[..])
    );
    assert_eq!(message.properties.content_type, properties.content_type);
    assert_eq!(
        message.properties.user_properties,
        properties.user_properties
    );
}

// mosquitto 2.0.11 closes a taken-over 5.0 connection without the DISCONNECT 0x8E that 5.0 §3.1.4
// describes, so a fake server stands in for a server that says why it closes.
#[test]
fn a_server_disconnect_is_reported_with_its_reason_and_reason_string() {
    const REPLY: &[u8] = &[
        0x20, 0x03, 0x00, 0x00, 0x00, // CONNACK: success, no properties
        0xE0, 0x08, 0x8B, 0x06, 0x1F, 0x00, 0x03, b'b', b'y', b'e', // DISCONNECT 0x8B "bye"
    ];
    let port = silent_server(REPLY);
    let options = mqtt_client::ConnectOptions::builder("127.0.0.1", port)
        .connect_timeout(PATIENCE)
        .mqtt5(ConnectProperties::default())
        .build()
        .expect("options");
    // The DISCONNECT may arrive with the CONNACK (the attempt fails) or just after it.
    let error = match Client::connect(options) {
        Err(error) => error,
        Ok(client) => loop {
            let notification = client
                .notifications()
                .recv_timeout(PATIENCE)
                .expect("a notification");
            if let Notification::ConnectionLost(error) = notification {
                break error;
            }
        },
    };
    assert!(
        matches!(&error, Error::ServerDisconnected { reason, reason_string: Some(why), .. }
            if *reason == ReasonCode::SERVER_SHUTTING_DOWN && why == "bye"),
        "{error}"
    );
}

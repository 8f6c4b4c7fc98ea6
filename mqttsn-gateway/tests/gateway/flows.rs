//! Each flow of the issue as one function over (broker kind, gateway kind); the macro at the end
//! makes one test per combination, so a failure names the flow and the setup.

use std::net::UdpSocket;
use std::time::Duration;

use mqtt_client::QoS as MqttQoS;
use mqttsn_codec::{QoS, TopicId};
use mqttsn_gateway::GatewayKind;
use mqttsn_gateway::client::{Client, Filter, Topic, Will};

use crate::support::*;

/// Connect, register, publish at QoS 0, 1 and 2; an MQTT subscriber receives each [SN-6.5-2]
/// [SN-6.6-2].
fn publish_to_mqtt(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let gateway = gateway(&broker, kind);
    let subscriber = broker.mqtt_client("mqtt-sub");
    subscriber
        .subscribe(&[("sn/up/#", MqttQoS::ExactlyOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let mut client = sn_client(&gateway, "up-client");
    let topic = client.register("sn/up/x").expect("registered");
    assert!(!topic.is_reserved());
    for (qos, mqtt) in [
        (QoS::AtMostOnce, MqttQoS::AtMostOnce),
        (QoS::AtLeastOnce, MqttQoS::AtLeastOnce),
        (QoS::ExactlyOnce, MqttQoS::ExactlyOnce),
    ] {
        let payload = format!("at {qos}");
        client
            .publish(Topic::Id(topic), payload.as_bytes(), qos, false)
            .expect("published");
        let message = next_mqtt(&subscriber);
        assert_eq!(message.topic, "sn/up/x");
        assert_eq!(message.payload, payload.as_bytes());
        assert_eq!(message.qos, mqtt);
    }
    // Short names and predefined ids need no registration [SN-6.7-2] [SN-6.7-6].
    client
        .publish(Topic::Short("up".into()), b"short", QoS::AtLeastOnce, false)
        .expect("published");
    subscriber
        .subscribe(&[("up", MqttQoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    client
        .publish(Topic::Short("up".into()), b"short", QoS::AtLeastOnce, false)
        .expect("published");
    assert_eq!(next_mqtt(&subscriber).topic, "up");
    // [SN-6.6-3] An unknown id is refused.
    let refused = client.publish(Topic::Id(TopicId(999)), b"x", QoS::AtLeastOnce, false);
    assert!(
        matches!(refused, Err(mqttsn_gateway::client::Error::Rejected(_))),
        "{refused:?}"
    );
    client.ping().expect("PINGRESP");
    client.disconnect().expect("DISCONNECT acknowledged");
    subscriber.disconnect();
}

/// Subscribe by name, wildcard, short name and predefined id; MQTT publications reach the client
/// with the right topic [SN-6.9-1] [SN-6.9-3] [SN-6.10-1].
fn subscribe_from_mqtt(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let gateway = gateway(&broker, kind);
    let mut client = sn_client(&gateway, "down-client");
    let (id, granted) = client
        .subscribe(Filter::Name("sn/down/a".into()), QoS::AtLeastOnce)
        .expect("subscribed");
    assert!(!id.is_reserved());
    assert_eq!(granted, QoS::AtLeastOnce);
    let (id, _) = client
        .subscribe(Filter::Name("sn/wild/+".into()), QoS::ExactlyOnce)
        .expect("subscribed");
    assert_eq!(id, TopicId::UNASSIGNED);
    client
        .subscribe(Filter::Short("sd".into()), QoS::AtMostOnce)
        .expect("subscribed");
    client
        .subscribe(Filter::Predefined(7), QoS::AtLeastOnce)
        .expect("subscribed");
    let refused = client.subscribe(Filter::Predefined(4242), QoS::AtLeastOnce);
    assert!(
        matches!(refused, Err(mqttsn_gateway::client::Error::Rejected(_))),
        "{refused:?}"
    );

    let publisher = broker.mqtt_client("mqtt-pub");
    for (topic, qos) in [
        ("sn/down/a", MqttQoS::AtLeastOnce),
        ("sn/wild/b", MqttQoS::ExactlyOnce),
        ("sd", MqttQoS::AtMostOnce),
        ("sn/pre/seven", MqttQoS::AtLeastOnce),
    ] {
        publisher
            .publish(topic, topic, qos, false)
            .expect("sent")
            .wait()
            .expect("acknowledged");
        let received = next_sn(&mut client);
        assert_eq!(received.payload, topic.as_bytes());
        match topic {
            "sn/pre/seven" => assert_eq!(
                received.topic,
                mqttsn_codec::PublishTopic::Predefined(TopicId(7))
            ),
            _ => assert_eq!(received.topic_name.as_deref(), Some(topic)),
        }
    }
    client
        .unsubscribe(Filter::Name("sn/down/a".into()))
        .expect("unsubscribed");
    publisher
        .publish("sn/down/a", "gone", MqttQoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    publisher
        .publish("sd", "still", MqttQoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    assert_eq!(
        next_sn(&mut client).payload,
        b"still",
        "nothing from the unsubscribed topic"
    );
    client.disconnect().expect("disconnected");
    publisher.disconnect();
}

/// A client that goes silent past its keep-alive is lost and its will published [SN-6.14-4].
fn will_of_a_lost_client(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let gateway = gateway(&broker, kind);
    let watcher = broker.mqtt_client("will-watcher");
    watcher
        .subscribe(&[("sn/will/#", MqttQoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let mut options = sn_options(&gateway, "will-client");
    options.keep_alive = 1;
    options.will = Some(Will {
        topic: "sn/will/first".into(),
        message: b"first".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
    });
    let mut client = Client::connect(options).expect("connected through the will dialogue");
    // [SN-6.4-1] Both parts can be changed while connected.
    client
        .update_will_topic(Some(("sn/will/updated", QoS::AtLeastOnce, false)))
        .expect("WILLTOPICRESP");
    client.update_will_message(b"updated").expect("WILLMSGRESP");
    let will = next_mqtt(&watcher);
    assert_eq!(will.topic, "sn/will/updated");
    assert_eq!(will.payload, b"updated");
    watcher.disconnect();
}

/// Asleep, messages buffered; PINGREQ with the client id delivers them, then PINGRESP
/// [SN-6.14-8] [SN-6.14-10]; CONNECT makes it active again [SN-6.14-14].
fn sleeping_client(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let gateway = gateway(&broker, kind);
    let mut options = sn_options(&gateway, "sleepy");
    options.clean_session = false;
    let mut client = Client::connect(options).expect("connected");
    client
        .subscribe(Filter::Name("sn/sleep/#".into()), QoS::AtLeastOnce)
        .expect("subscribed");
    client.sleep(30).expect("asleep");
    let publisher = broker.mqtt_client("sleep-pub");
    for n in 0..3 {
        publisher
            .publish(
                &format!("sn/sleep/{n}"),
                format!("m{n}"),
                MqttQoS::AtLeastOnce,
                false,
            )
            .expect("sent")
            .wait()
            .expect("acknowledged");
    }
    // The broker forwards to the gateway on its own time: wake until all three have come.
    let mut received = Vec::new();
    wait_until("three buffered messages", || {
        received.extend(client.wake().expect("PINGRESP ends the awake period"));
        received.len() >= 3
    });
    let payloads: Vec<_> = received.iter().map(|m| m.payload.clone()).collect();
    assert_eq!(payloads, [b"m0".to_vec(), b"m1".to_vec(), b"m2".to_vec()]);
    // Nothing is delivered twice.
    assert!(client.wake().expect("PINGRESP").is_empty());
    // A message buffered during sleep reaches the client when it connects again.
    publisher
        .publish("sn/sleep/late", "late", MqttQoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    // Buffered or arriving just after: either way it comes once the client is active again.
    client.reconnect().expect("active again");
    assert_eq!(next_sn(&mut client).payload, b"late");
    client.disconnect().expect("disconnected");
    publisher.disconnect();
}

/// A client that keeps its session (clean session 0) and disconnects gets the QoS 1 and 2 messages
/// published while it was away when it connects again [MQTT-3.1.2-5] [SN-6.12-2]: the broker's
/// session keeps them behind a transparent gateway, the gateway itself in an aggregating one.
fn kept_session(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let gateway = gateway(&broker, kind);
    let mut options = sn_options(&gateway, "keeper");
    options.clean_session = false;
    let mut client = Client::connect(options).expect("connected");
    client
        .subscribe(Filter::Name("sn/kept/#".into()), QoS::ExactlyOnce)
        .expect("subscribed");
    client.disconnect().expect("disconnected");
    let publisher = broker.mqtt_client("kept-pub");
    for (n, qos) in [(1, MqttQoS::AtLeastOnce), (2, MqttQoS::ExactlyOnce)] {
        publisher
            .publish(&format!("sn/kept/{n}"), format!("m{n}"), qos, false)
            .expect("sent")
            .wait()
            .expect("acknowledged");
    }
    if kind == GatewayKind::Aggregating {
        // Proven to be in the gateway's keeping before the client comes back, not delivered live.
        wait_until("both messages kept by the gateway", || {
            gateway.stats().is_some_and(|s| s.buffered == 2)
        });
    }
    client.reconnect().expect("connected again");
    let first = next_sn(&mut client);
    let second = next_sn(&mut client);
    assert_eq!(
        (first.payload.as_slice(), second.payload.as_slice()),
        (&b"m1"[..], &b"m2"[..])
    );
    assert_eq!(first.topic_name.as_deref(), Some("sn/kept/1"));
    assert_eq!(
        (first.qos, second.qos),
        (QoS::AtLeastOnce, QoS::ExactlyOnce)
    );
    client.disconnect().expect("disconnected");
    publisher.disconnect();
}

/// A second node connects with a client id already in use from another address: it takes the
/// session over [MQTT-3.1.4-2], and the first node is told it is disconnected [SN-5.4.21-2].
fn client_id_clash(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let gateway = gateway(&broker, kind);
    let mut first = sn_client(&gateway, "twin");
    first.ping().expect("connected");
    let mut second = sn_client(&gateway, "twin");
    assert!(
        result_is_disconnected(first.recv(PATIENCE)),
        "the first node is told"
    );
    assert!(result_is_disconnected(first.ping()), "and stays told");
    // The second node is served.
    let watcher = broker.mqtt_client("twin-watcher");
    watcher
        .subscribe(&[("sn/twin", MqttQoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let topic = second.register("sn/twin").expect("registered");
    second
        .publish(Topic::Id(topic), b"second", QoS::AtLeastOnce, false)
        .expect("published");
    assert_eq!(next_mqtt(&watcher).payload, b"second");
    second.disconnect().expect("disconnected");
    watcher.disconnect();
}

/// QoS -1 from a socket that never connected, on a predefined id and a short name [SN-6.8-1].
fn qos_minus_one(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let gateway = gateway(&broker, kind);
    let watcher = broker.mqtt_client("m1-watcher");
    watcher
        .subscribe(&[
            ("sn/pre/seven", MqttQoS::AtMostOnce),
            ("m1", MqttQoS::AtMostOnce),
        ])
        .expect("sent")
        .wait()
        .expect("subscribed");
    Client::publish_minus_one(gateway.local_addr(), &Topic::Predefined(7), b"fire", false)
        .expect("sent");
    let message = next_mqtt(&watcher);
    assert_eq!(
        (message.topic.as_str(), message.payload.as_slice()),
        ("sn/pre/seven", &b"fire"[..])
    );
    Client::publish_minus_one(
        gateway.local_addr(),
        &Topic::Short("m1".into()),
        b"forget",
        false,
    )
    .expect("sent");
    assert_eq!(next_mqtt(&watcher).payload, b"forget");
    watcher.disconnect();
}

/// Through a forwarder: every answer comes back encapsulated for the same node [SN-5.5-1].
fn forwarder(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let gateway = gateway(&broker, kind);
    let watcher = broker.mqtt_client("fw-watcher");
    watcher
        .subscribe(&[("sn/fw", MqttQoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let mut options = sn_options(&gateway, "fw-client");
    options.wireless_node_id = Some(vec![0xAB, 0xCD]);
    let mut client = Client::connect(options).expect("connected through the forwarder");
    let topic = client.register("sn/fw").expect("registered");
    client
        .publish(Topic::Id(topic), b"relayed", QoS::AtLeastOnce, false)
        .expect("published");
    assert_eq!(next_mqtt(&watcher).payload, b"relayed");
    client.disconnect().expect("disconnected");
    watcher.disconnect();
}

/// Garbage from one node changes nothing for another.
fn malformed_datagrams(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let gateway = gateway(&broker, kind);
    let mut client = sn_client(&gateway, "steady");
    let vandal = UdpSocket::bind("127.0.0.1:0").expect("socket");
    for garbage in [
        &b""[..],
        b"\x01",
        b"\x05\x0c\x00",
        b"\xff\xff\xff\xff",
        b"\x03\xfe\x00",
    ] {
        vandal.send_to(garbage, gateway.local_addr()).expect("sent");
    }
    client.ping().expect("still served");
    wait_until("the malformed datagrams counted", || {
        gateway.stats().is_some_and(|s| s.malformed >= 4)
    });
    client.disconnect().expect("disconnected");
}

/// Generates one test per flow and setup.
macro_rules! matrix {
    ($($flow:ident),* $(,)?) => {
        mod ours_transparent { $( #[test] fn $flow() { super::$flow(super::BrokerKind::Ours, super::GatewayKind::Transparent) } )* }
        mod ours_aggregating { $( #[test] fn $flow() { super::$flow(super::BrokerKind::Ours, super::GatewayKind::Aggregating) } )* }
        mod mosquitto_transparent { $( #[test] fn $flow() { super::$flow(super::BrokerKind::Mosquitto, super::GatewayKind::Transparent) } )* }
        mod mosquitto_aggregating { $( #[test] fn $flow() { super::$flow(super::BrokerKind::Mosquitto, super::GatewayKind::Aggregating) } )* }
    };
}

matrix!(
    publish_to_mqtt,
    subscribe_from_mqtt,
    will_of_a_lost_client,
    sleeping_client,
    kept_session,
    client_id_clash,
    qos_minus_one,
    forwarder,
    malformed_datagrams,
);

/// The broker goes away: clients are told with DISCONNECT, and can connect again once it is back.
fn broker_loss(kind: GatewayKind) {
    let mut broker = TestBroker::ours_on(0);
    let port = broker.port();
    let gateway = gateway(&broker, kind);
    let mut client = sn_client(&gateway, "abandoned");
    client.ping().expect("connected");
    broker.stop();
    let outcome = client.recv(PATIENCE);
    assert!(
        result_is_disconnected(outcome),
        "the client is told it is disconnected"
    );
    let _back = TestBroker::ours_on(port);
    wait_until("reconnection", || client.reconnect().is_ok());
    client.ping().expect("connected again");
}

#[test]
fn broker_loss_transparent() {
    broker_loss(GatewayKind::Transparent);
}

#[test]
fn broker_loss_aggregating() {
    broker_loss(GatewayKind::Aggregating);
}

/// A client that waits in `recv` longer than its keep-alive pings by itself [SN-6.11-1], so the
/// gateway keeps it (without the pings it would be lost after 1.5 s [SN-6.14-4]).
#[test]
fn an_idle_client_keeps_itself_alive() {
    let broker = TestBroker::start(BrokerKind::Ours);
    let gateway = gateway(&broker, GatewayKind::Aggregating);
    let mut options = sn_options(&gateway, "idle");
    options.keep_alive = 1;
    let mut client = Client::connect(options).expect("connected");
    client
        .subscribe(Filter::Name("sn/idle".into()), QoS::AtLeastOnce)
        .expect("subscribed");
    assert!(
        client
            .recv(Duration::from_secs(3))
            .expect("still connected")
            .is_none()
    );
    assert_eq!(gateway.stats().map(|s| s.lost), Some(0));
    let publisher = broker.mqtt_client("idle-pub");
    publisher
        .publish("sn/idle", "awake", MqttQoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    assert_eq!(next_sn(&mut client).payload, b"awake");
    client.disconnect().expect("disconnected");
    publisher.disconnect();
}

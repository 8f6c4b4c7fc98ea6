//! What a node must not lose at the edges of a subscription (issue 19): the retained message a
//! SUBSCRIBE brings, which the broker sends right behind its SUBACK, and the messages kept for a
//! session while its client was away. Each flow runs against both brokers and both gateway kinds.

use mqtt_client::QoS as MqttQoS;
use mqttsn_codec::QoS;
use mqttsn_gateway::GatewayKind;
use mqttsn_gateway::client::{Client, Filter};

use crate::support::*;

/// How many topics the retained-message flows use: the loss they guard against depended on
/// which of two threads ran first, so one topic would prove little.
const TOPICS: usize = 8;

/// Publishes one retained message on each of `topics`, acknowledged (so stored) before it returns.
fn retain_on(broker: &TestBroker, topics: &[String]) {
    let publisher = broker.mqtt_client("retainer");
    for topic in topics {
        publisher
            .publish(topic, topic.as_bytes(), MqttQoS::AtLeastOnce, true)
            .expect("sent")
            .wait()
            .expect("acknowledged");
    }
    publisher.disconnect();
}

/// A node subscribes by name to topics that hold a retained message: each arrives, under the
/// topic id the SUBACK named (or one a REGISTER named first), never under an id the node cannot
/// map [SN-6.10-1] [SN-6.10-2]. Before issue 19 the broker's SUBACK and the retained PUBLISH
/// behind it reached the translator through two threads, so the PUBLISH often came first.
fn retained_after_the_suback(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let topics: Vec<String> = (0..TOPICS).map(|n| format!("sn/ret/{n}")).collect();
    retain_on(&broker, &topics);
    let gateway = gateway(&broker, kind);
    let mut client = sn_client(&gateway, "ret-sub");
    for (n, topic) in topics.iter().enumerate() {
        let qos = if n % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        };
        client
            .subscribe(Filter::Name(topic.clone()), qos)
            .expect("subscribed");
        let received = client
            .recv(PATIENCE)
            .expect("no error")
            .unwrap_or_else(|| panic!("the retained message of {topic} ({qos:?}) was lost"));
        assert_eq!(received.topic_name.as_deref(), Some(topic.as_str()));
        assert_eq!(received.payload, topic.as_bytes());
        assert!(received.retain, "{topic}: delivered as retained");
    }
    client.disconnect().expect("disconnected");
}

/// A node keeps its session (clean session 0), learns a topic id, disconnects, and comes back as
/// a fresh process that remembers no topic id. The QoS 1 message published while it was away
/// arrives under a topic it can name: the gateway registers the topic again before publishing
/// [SN-6.10-2], and a node that still answers "invalid topic id" is registered and sent the
/// message again rather than losing it [SN-6.10-7]. Before issue 19 the message went out under
/// the old id; our client refused it, and the gateway dropped it for good.
fn kept_session_registers_again(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let gateway = gateway(&broker, kind);
    let mut options = sn_options(&gateway, "rejoiner");
    options.clean_session = false;
    let mut client = Client::connect(options.clone()).expect("connected");
    client
        .subscribe(Filter::Name("sn/rejoin/t".into()), QoS::AtLeastOnce)
        .expect("subscribed");
    let publisher = broker.mqtt_client("rejoin-pub");
    let publish = |payload: &str| {
        publisher
            .publish("sn/rejoin/t", payload, MqttQoS::AtLeastOnce, false)
            .expect("sent")
            .wait()
            .expect("acknowledged");
    };
    publish("live");
    assert_eq!(next_sn(&mut client).payload, b"live");
    client.disconnect().expect("disconnected");
    drop(client);
    publish("while away");
    if kind == GatewayKind::Aggregating {
        wait_until("the message kept by the gateway", || {
            gateway.stats().is_some_and(|s| s.buffered == 1)
        });
    }
    // A new process: a new socket and an empty table of topic ids.
    let mut client = Client::connect(options).expect("connected again");
    let received = client
        .recv(PATIENCE)
        .expect("no error")
        .expect("the message kept while away was lost");
    assert_eq!(received.payload, b"while away");
    assert_eq!(received.topic_name.as_deref(), Some("sn/rejoin/t"));
    client.disconnect().expect("disconnected");
    publisher.disconnect();
}

/// A second node subscribes to a filter a first node already holds: it gets the retained
/// message too [MQTT-3.3.1-6], as it would through its own MQTT connection, and the first node
/// does not get it twice. Before issue 19 an aggregating gateway did not subscribe upstream again,
/// so the second node got nothing.
fn a_later_subscriber_gets_the_retained(broker: BrokerKind, kind: GatewayKind) {
    let broker = TestBroker::start(broker);
    let topic = "sn/late/t".to_string();
    retain_on(&broker, std::slice::from_ref(&topic));
    let gateway = gateway(&broker, kind);
    let mut first = sn_client(&gateway, "early-sub");
    first
        .subscribe(Filter::Name("sn/late/+".into()), QoS::AtLeastOnce)
        .expect("subscribed");
    assert_eq!(next_sn(&mut first).payload, topic.as_bytes());
    let mut second = sn_client(&gateway, "late-sub");
    second
        .subscribe(Filter::Name("sn/late/+".into()), QoS::AtLeastOnce)
        .expect("subscribed");
    let received = second
        .recv(PATIENCE)
        .expect("no error")
        .expect("the later subscriber got no retained message");
    assert_eq!(received.payload, topic.as_bytes());
    assert!(received.retain);
    // Then a live message reaches both, and it is the first's next message: no second copy of
    // the retained one came before it.
    let publisher = broker.mqtt_client("late-pub");
    publisher
        .publish(&topic, "live", MqttQoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    for client in [&mut first, &mut second] {
        let next = next_sn(client);
        assert_eq!(
            (next.payload.as_slice(), next.retain),
            (&b"live"[..], false)
        );
    }
    first.disconnect().expect("disconnected");
    second.disconnect().expect("disconnected");
    publisher.disconnect();
}

macro_rules! matrix {
    ($($flow:ident),* $(,)?) => {
        mod ours_transparent { $( #[test] fn $flow() { super::$flow(super::BrokerKind::Ours, super::GatewayKind::Transparent) } )* }
        mod ours_aggregating { $( #[test] fn $flow() { super::$flow(super::BrokerKind::Ours, super::GatewayKind::Aggregating) } )* }
        mod mosquitto_transparent { $( #[test] fn $flow() { super::$flow(super::BrokerKind::Mosquitto, super::GatewayKind::Transparent) } )* }
        mod mosquitto_aggregating { $( #[test] fn $flow() { super::$flow(super::BrokerKind::Mosquitto, super::GatewayKind::Aggregating) } )* }
    };
}

matrix!(
    retained_after_the_suback,
    kept_session_registers_again,
    a_later_subscriber_gets_the_retained,
);

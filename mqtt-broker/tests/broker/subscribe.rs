//! SUBSCRIBE and UNSUBSCRIBE: wildcards, `$` topics, acknowledgements.

use mqtt_codec::{List, Packet, TopicFilter, Unsubscribe};

use crate::client::{Client, Got, broker, id, publish};

/// `+` matches one level and `#` any number, including the parent (3.1.1 §4.7.1).
#[test]
fn wildcards_match_levels_mqtt_4_7_1_2() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("sport/+/score", 0);
    subscriber.subscribe("news/#", 0);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    for topic in [
        "sport/tennis/score",
        "sport/tennis/x/score",
        "news",
        "news/a/b",
        "other",
    ] {
        publisher.publish(topic, b"x", 0, 0, false);
    }
    publisher.barrier();
    assert_eq!(
        subscriber.recv(),
        publish("sport/tennis/score", b"x", 0, None, false, false)
    );
    assert_eq!(
        subscriber.recv(),
        publish("news", b"x", 0, None, false, false)
    );
    assert_eq!(
        subscriber.recv(),
        publish("news/a/b", b"x", 0, None, false, false)
    );
    subscriber.barrier();
}

/// `#` does not match topics starting with `$`; `$SYS/#` does [MQTT-4.7.2-1].
#[test]
fn wildcards_skip_dollar_topics_mqtt_4_7_2_1() {
    let (_broker, address) = broker();
    let (mut all, _) = Client::connect(address, "all", true);
    all.subscribe("#", 0);
    all.subscribe("+/x", 0);
    let (mut dollar, _) = Client::connect(address, "dollar", true);
    dollar.subscribe("$app/#", 0);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("$app/x", b"d", 0, 0, false);
    publisher.barrier();
    assert_eq!(
        dollar.recv(),
        publish("$app/x", b"d", 0, None, false, false)
    );
    all.barrier();
}

/// UNSUBSCRIBE is always answered UNSUBACK [MQTT-3.10.4-4] [MQTT-3.10.4-5] and stops deliveries
/// [MQTT-3.10.4-2].
#[test]
fn unsubscribe_stops_deliveries_mqtt_3_10_4_2() {
    let (_broker, address) = broker();
    let (mut subscriber, _) = Client::connect(address, "sub", true);
    subscriber.subscribe("t", 0);
    let filters = [
        TopicFilter::new("t").expect("filter"),
        TopicFilter::new("never").expect("filter"),
    ];
    subscriber.send(Packet::Unsubscribe(Unsubscribe {
        packet_id: id(5),
        filters: List::from_slice(&filters),
    }));
    assert_eq!(subscriber.recv(), Got::UnsubAck(5));
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"x", 0, 0, false);
    publisher.barrier();
    subscriber.barrier();
}

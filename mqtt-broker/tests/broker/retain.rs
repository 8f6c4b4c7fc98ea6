//! Retained messages: stored, replaced, deleted, and sent to new subscribers.

use crate::client::{Client, Got, broker, publish};

/// A retained message is sent to a new subscriber with RETAIN set [MQTT-3.3.1-6] [MQTT-3.3.1-8]; to
/// an existing subscriber it goes without the flag [MQTT-3.3.1-9].
#[test]
fn retained_message_goes_to_new_subscribers_with_the_flag_mqtt_3_3_1_8() {
    let (_broker, address) = broker();
    let (mut existing, _) = Client::connect(address, "existing", true);
    existing.subscribe("r", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("r", b"kept", 0, 0, true);
    publisher.barrier();
    assert_eq!(
        existing.recv(),
        publish("r", b"kept", 0, None, false, false)
    );
    let (mut late, _) = Client::connect(address, "late", true);
    late.subscribe("r", 1);
    assert_eq!(late.recv(), publish("r", b"kept", 0, None, false, true));
}

/// A new retained message replaces the old [MQTT-3.3.1-5]; an empty one deletes it [MQTT-3.3.1-10].
#[test]
fn retained_message_is_replaced_then_deleted_mqtt_3_3_1_10() {
    let (_broker, address) = broker();
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("r", b"first", 0, 0, true);
    publisher.publish("r", b"second", 1, 1, true);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    publisher.barrier();
    let (mut first, _) = Client::connect(address, "first", true);
    first.subscribe("r", 2);
    assert_eq!(
        first.recv(),
        publish("r", b"second", 1, Some(1), false, true)
    );
    publisher.publish("r", b"", 0, 0, true);
    publisher.barrier();
    let (mut second, _) = Client::connect(address, "second", true);
    second.subscribe("r", 2);
    second.barrier();
}

//! Malformed input closes the offending connection and nothing else.

use crate::client::{Client, broker};

/// Bytes that are not a valid packet close that connection [MQTT-4.8.0-1]; other clients carry on.
#[test]
fn malformed_packets_close_only_their_connection_mqtt_4_8_0_1() {
    let (_broker, address) = broker();
    let (mut bystander, _) = Client::connect(address, "bystander", true);
    for (name, bytes) in [
        ("reserved type 0 [MQTT-3.1.1 §2.2.1]", &[0x00u8, 0x00][..]),
        (
            "PUBLISH with QoS 3 [MQTT-3.3.1-4]",
            &[0x36, 0x03, 0x00, 0x01, b't'][..],
        ),
        (
            "SUBSCRIBE with flags 0000 [MQTT-3.8.1-1]",
            &[0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x00][..],
        ),
        (
            "topic with invalid UTF-8 [MQTT-1.5.3-1]",
            &[0x30, 0x04, 0x00, 0x02, 0xC3, 0x28][..],
        ),
        (
            "remaining length over four bytes",
            &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01][..],
        ),
        ("DISCONNECT with flags [MQTT-3.14.1-1]", &[0xE1, 0x00][..]),
    ] {
        let (mut client, _) = Client::connect(address, "bad", true);
        client.send_raw(bytes);
        if let Some(got) = client.try_recv() {
            panic!("{name}: expected close, got {got:?}");
        }
        bystander.barrier();
    }
}

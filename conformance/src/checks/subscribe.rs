//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (3.1.1 §3.8 to §3.11).

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::{publish, publisher, subscriber};
use crate::client::TestClient;
use crate::wire::{self, kind};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "suback-order-and-id",
        section: "3.9 SUBACK",
        ids: &[
            "MQTT-3.8.4-1",
            "MQTT-3.8.4-2",
            "MQTT-3.8.4-4",
            "MQTT-3.8.4-5",
            "MQTT-3.9.3-1",
            "MQTT-2.3.1-7",
        ],
        summary: "one SUBACK answers a three-filter SUBSCRIBE, with its identifier and one code per filter in order",
        applies: Applies::Both,
        run: suback_order_and_id,
    },
    Check {
        name: "subscribe-reserved-flags",
        section: "3.8 SUBSCRIBE",
        ids: &["MQTT-3.8.1-1"],
        summary: "a SUBSCRIBE whose flags are not 0010 closes the connection",
        applies: Applies::V311,
        run: subscribe_reserved_flags,
    },
    Check {
        name: "subscribe-empty",
        section: "3.8 SUBSCRIBE",
        ids: &["MQTT-3.8.3-3"],
        summary: "a SUBSCRIBE without any filter closes the connection",
        applies: Applies::V311,
        run: subscribe_empty,
    },
    Check {
        name: "subscribe-qos3",
        section: "3.8 SUBSCRIBE",
        ids: &["MQTT-3.8.3-4"],
        summary: "a requested QoS of 3 closes the connection",
        applies: Applies::Both,
        run: subscribe_qos3,
    },
    Check {
        name: "subscribe-invalid-filter",
        section: "4.7 Topic Names and Filters",
        ids: &["MQTT-4.7.1-2"],
        summary: "a filter with '#' not last is refused: 0x80 in SUBACK or the connection closed",
        applies: Applies::V311,
        run: subscribe_invalid_filter,
    },
    Check {
        name: "unsuback-always",
        section: "3.11 UNSUBACK",
        ids: &["MQTT-3.10.4-4", "MQTT-3.10.4-5", "MQTT-2.3.1-7"],
        summary: "UNSUBSCRIBE of a filter never subscribed is answered by UNSUBACK with the same identifier",
        applies: Applies::Both,
        run: unsuback_always,
    },
    Check {
        name: "unsubscribe-stops-delivery",
        section: "3.10 UNSUBSCRIBE",
        ids: &["MQTT-3.10.4-1", "MQTT-3.10.4-2"],
        summary: "after UNSUBSCRIBE of the exact filter, messages no longer arrive through it",
        applies: Applies::Both,
        run: unsubscribe_stops_delivery,
    },
    Check {
        name: "unsubscribe-reserved-flags",
        section: "3.10 UNSUBSCRIBE",
        ids: &["MQTT-3.10.1-1"],
        summary: "an UNSUBSCRIBE whose flags are not 0010 closes the connection",
        applies: Applies::V311,
        run: unsubscribe_reserved_flags,
    },
    Check {
        name: "unsubscribe-empty",
        section: "3.10 UNSUBSCRIBE",
        ids: &["MQTT-3.10.3-2"],
        summary: "an UNSUBSCRIBE without any filter closes the connection",
        applies: Applies::V311,
        run: unsubscribe_empty,
    },
];

fn suback_order_and_id(context: &Context) -> Result<Verdict, String> {
    let (a, b, c) = (context.topic("a"), context.topic("b"), context.topic("c"));
    let id = context.client_id();
    let mut client = TestClient::clean(context, &id)?;
    client.send(&wire::subscribe(0x0a0b, &[(&a, 2), (&b, 0), (&c, 1)]))?;
    let suback = client.expect(kind::SUBACK)?;
    if suback.first != 0x90 || suback.body.get(..2) != Some(&[0x0a, 0x0b][..]) {
        return Err(format!(
            "expected SUBACK for 0x0a0b, got {}",
            suback.describe()
        ));
    }
    let codes = &suback.body[2..];
    // Each code is the granted QoS, at most the requested one [MQTT-3.8.4-6], or 0x80.
    let fits = |code: u8, requested: u8| code <= requested || code == 0x80;
    match codes {
        [x, y, z] if fits(*x, 2) && fits(*y, 0) && fits(*z, 1) => Ok(Verdict::Pass),
        _ => Err(format!(
            "expected three codes for QoS 2, 0, 1, got {codes:02x?}"
        )),
    }
}

fn closes_after(context: &Context, bytes: &[u8]) -> Result<Verdict, String> {
    let mut client = publisher(context)?;
    client.send(bytes)?;
    client.expect_closed(&[])?;
    Ok(Verdict::Pass)
}

fn subscribe_reserved_flags(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("f");
    let mut bytes = wire::subscribe(1, &[(&topic, 0)]);
    bytes[0] = 0x80;
    closes_after(context, &bytes)
}

fn subscribe_empty(context: &Context) -> Result<Verdict, String> {
    closes_after(context, &wire::packet(0x82, &[0x00, 0x01]))
}

fn subscribe_qos3(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("q3");
    closes_after(context, &wire::subscribe(1, &[(&topic, 3)]))
}

fn subscribe_invalid_filter(context: &Context) -> Result<Verdict, String> {
    let filter = format!("{}/#/x", context.topic("bad"));
    let mut client = publisher(context)?;
    client.send(&wire::subscribe(1, &[(&filter, 0)]))?;
    match client.next_within(context.timeout) {
        Err(_) => Ok(Verdict::Pass),
        Ok(Some(frame)) if frame.kind() == kind::SUBACK && frame.body.get(2) == Some(&0x80) => {
            Ok(Verdict::Pass)
        }
        Ok(Some(frame)) => Err(format!("the filter was accepted: {}", frame.describe())),
        Ok(None) => Err(format!("no answer within {:?}", context.timeout)),
    }
}

fn unsuback_always(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("never");
    let mut client = publisher(context)?;
    client.send(&wire::unsubscribe(0x0c0d, &[&topic]))?;
    let unsuback = client.expect(kind::UNSUBACK)?;
    if unsuback.first != 0xB0 || unsuback.body != [0x0c, 0x0d] {
        return Err(format!("expected B0 02 0c 0d, got {}", unsuback.describe()));
    }
    Ok(Verdict::Pass)
}

fn unsubscribe_stops_delivery(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("unsub");
    let sentinel = context.topic("sentinel");
    let id = context.client_id();
    let mut sub = TestClient::clean(context, &id)?;
    sub.send(&wire::subscribe(1, &[(&topic, 1), (&sentinel, 1)]))?;
    sub.expect(kind::SUBACK)?;
    sub.send(&wire::unsubscribe(2, &[&topic]))?;
    sub.expect(kind::UNSUBACK)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, false, b"gone")?;
    publish(&mut client, &sentinel, 1, false, b"sentinel")?;
    let frame = sub.expect_publish()?;
    match frame.publish_parts() {
        Some((name, _, _)) if name == sentinel => Ok(Verdict::Pass),
        _ => Err(format!(
            "a message arrived after UNSUBSCRIBE: {}",
            frame.describe()
        )),
    }
}

fn unsubscribe_reserved_flags(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("f");
    let mut bytes = wire::unsubscribe(1, &[&topic]);
    bytes[0] = 0xA0;
    closes_after(context, &bytes)
}

fn unsubscribe_empty(context: &Context) -> Result<Verdict, String> {
    closes_after(context, &wire::packet(0xA2, &[0x00, 0x01]))
}

/// Used by the retain checks too: a subscriber that subscribes now (so retained messages arrive).
pub(crate) fn fresh_subscriber(context: &Context, filter: &str) -> Result<TestClient, String> {
    subscriber(context, filter, 1)
}

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
            "MQTT-3.9.3-2",
            "MQTT-2.3.1-7",
            "MQTT-2.2.2-1",
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
        name: "subscribe-invalid-utf8",
        section: "1.5 Data representations",
        ids: &["MQTT-3.8.3-1", "MQTT-1.5.3-1"],
        summary: "a SUBSCRIBE whose filter holds an encoded surrogate closes the connection",
        applies: Applies::V311,
        run: subscribe_invalid_utf8,
    },
    Check {
        name: "subscribe-empty-filter",
        section: "4.7 Topic Names and Filters",
        ids: &["MQTT-4.7.3-1"],
        summary: "a zero-length filter is refused: the connection closed, or 0x80 in SUBACK",
        applies: Applies::V311,
        run: subscribe_empty_filter,
    },
    Check {
        name: "resubscribe-replaces",
        section: "3.8 SUBSCRIBE",
        ids: &["MQTT-3.8.4-3"],
        summary: "subscribing again to the same filter replaces the subscription (its QoS) and re-sends the retained message",
        applies: Applies::V311,
        run: resubscribe_replaces,
    },
    Check {
        name: "mqtt31-resent-subscribe-accepted",
        section: "3.8 SUBSCRIBE",
        ids: &["V31-DIFF-27", "V31-DIFF-26"],
        summary: "at MQTT 3.1 a re-sent SUBSCRIBE (first byte 8A, DUP set) and UNSUBSCRIBE (AA) are answered",
        applies: Applies::V31,
        run: mqtt31_resent_subscribe_accepted,
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
        name: "unsubscribe-compares-literally",
        section: "3.10 UNSUBSCRIBE",
        ids: &["MQTT-3.10.4-1"],
        summary: "unsubscribing 'x/+' leaves a subscription to 'x/y' in place",
        applies: Applies::Both,
        run: unsubscribe_compares_literally,
    },
    Check {
        name: "unsubscribe-several",
        section: "3.10 UNSUBSCRIBE",
        ids: &["MQTT-3.10.4-6"],
        summary: "one UNSUBSCRIBE with two filters removes both and is answered by one UNSUBACK",
        applies: Applies::Both,
        run: unsubscribe_several,
    },
    Check {
        name: "inflight-completed-after-unsubscribe",
        section: "3.10 UNSUBSCRIBE",
        ids: &["MQTT-3.10.4-3"],
        summary: "a QoS 2 delivery started before UNSUBSCRIBE is completed: PUBREC is still answered by PUBREL",
        applies: Applies::Both,
        run: inflight_completed_after_unsubscribe,
    },
    Check {
        name: "unsubscribe-invalid-utf8",
        section: "1.5 Data representations",
        ids: &["MQTT-3.10.3-1", "MQTT-1.5.3-1"],
        summary: "an UNSUBSCRIBE whose filter holds an encoded surrogate closes the connection",
        applies: Applies::V311,
        run: unsubscribe_invalid_utf8,
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

fn subscribe_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let mut filter = context.topic("bad").into_bytes();
    filter.extend_from_slice(&wire::SURROGATE);
    closes_after(context, &wire::subscribe_raw(1, &[(&filter, 0)]))
}

fn unsubscribe_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let mut filter = context.topic("bad").into_bytes();
    filter.extend_from_slice(&wire::SURROGATE);
    closes_after(context, &wire::unsubscribe_raw(1, &[&filter]))
}

fn subscribe_empty_filter(context: &Context) -> Result<Verdict, String> {
    let mut client = publisher(context)?;
    client.send(&wire::subscribe(1, &[("", 0)]))?;
    match client.next_within(context.timeout) {
        Err(_) => Ok(Verdict::Pass),
        Ok(Some(frame)) if frame.kind() == kind::SUBACK && frame.body.get(2) == Some(&0x80) => {
            Ok(Verdict::Pass)
        }
        Ok(Some(frame)) => Err(format!("the filter was accepted: {}", frame.describe())),
        Ok(None) => Err(format!("no answer within {:?}", context.timeout)),
    }
}

fn resubscribe_replaces(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("again");
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, true, b"kept")?;
    let result = resubscribe(context, &mut client, &topic);
    publish(&mut client, &topic, 1, true, b"")?;
    result
}

fn resubscribe(context: &Context, client: &mut TestClient, topic: &str) -> Result<Verdict, String> {
    let mut sub = subscriber(context, topic, 1)?;
    let retained = sub.expect_publish()?;
    if !retained.retain() {
        return Err(format!(
            "expected the retained message, got {}",
            retained.describe()
        ));
    }
    // The same filter at QoS 0: the retained message comes again, now at QoS 0.
    sub.send(&wire::subscribe(2, &[(topic, 0)]))?;
    let suback = sub.wait_for(kind::SUBACK)?;
    if suback.body != [0x00, 0x02, 0x00] {
        return Err(format!(
            "expected SUBACK 00 02 00, got {}",
            suback.describe()
        ));
    }
    let again = sub.expect_publish()?;
    if !again.retain() || again.qos() != 0 {
        return Err(format!(
            "expected the retained message again at QoS 0, got {}",
            again.describe()
        ));
    }
    // One subscription, at the new QoS: a QoS 1 message arrives once, at QoS 0.
    publish(client, topic, 1, false, b"live")?;
    let live = sub.expect_publish()?;
    if live.qos() != 0 {
        return Err(format!(
            "the subscription kept its old QoS: {}",
            live.describe()
        ));
    }
    let extra = sub.ping()?;
    if let Some(frame) = extra.first() {
        return Err(format!(
            "the message arrived twice (the old subscription survived): {}",
            frame.describe()
        ));
    }
    Ok(Verdict::Pass)
}

fn unsubscribe_compares_literally(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("literal/y");
    let parent = topic.trim_end_matches("/y").to_owned();
    let mut sub = subscriber(context, &topic, 1)?;
    sub.send(&wire::unsubscribe(2, &[&format!("{parent}/+")]))?;
    sub.expect(kind::UNSUBACK)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, false, b"still")?;
    let frame = sub.expect_publish()?;
    match frame.publish_parts() {
        Some((_, _, payload)) if payload == b"still" => Ok(Verdict::Pass),
        _ => Err(format!("expected 'still', got {}", frame.describe())),
    }
}

fn unsubscribe_several(context: &Context) -> Result<Verdict, String> {
    let (a, b, sentinel) = (context.topic("a"), context.topic("b"), context.topic("s"));
    let id = context.client_id();
    let mut sub = TestClient::clean(context, &id)?;
    sub.send(&wire::subscribe(1, &[(&a, 1), (&b, 1), (&sentinel, 1)]))?;
    sub.expect(kind::SUBACK)?;
    sub.send(&wire::unsubscribe(0x0707, &[&a, &b]))?;
    let unsuback = sub.expect(kind::UNSUBACK)?;
    if unsuback.body != [0x07, 0x07] {
        return Err(format!(
            "expected UNSUBACK for 0x0707, got {}",
            unsuback.describe()
        ));
    }
    let extra = sub.ping()?;
    if let Some(frame) = extra.first() {
        return Err(format!(
            "more than one answer to UNSUBSCRIBE: {}",
            frame.describe()
        ));
    }
    let mut client = publisher(context)?;
    publish(&mut client, &a, 1, false, b"a")?;
    publish(&mut client, &b, 1, false, b"b")?;
    publish(&mut client, &sentinel, 1, false, b"sentinel")?;
    let frame = sub.expect_publish()?;
    match frame.publish_parts() {
        Some((name, _, _)) if name == sentinel => Ok(Verdict::Pass),
        _ => Err(format!(
            "a message arrived through a removed subscription: {}",
            frame.describe()
        )),
    }
}

fn inflight_completed_after_unsubscribe(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("inflight");
    let mut sub = subscriber(context, &topic, 2)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 2, false, b"x")?;
    let frame = sub.expect(kind::PUBLISH)?;
    let id = frame
        .packet_id_of_publish()
        .ok_or_else(|| format!("expected QoS 2, got {}", frame.describe()))?;
    sub.send(&wire::unsubscribe(9, &[&topic]))?;
    sub.expect(kind::UNSUBACK)?;
    sub.send(&wire::with_id(0x50, id))?;
    let pubrel = sub.expect(kind::PUBREL)?;
    sub.send(&wire::with_id(0x70, id))?;
    if pubrel.packet_id() == Some(id) {
        Ok(Verdict::Pass)
    } else {
        Err(format!(
            "expected PUBREL for {id:#06x}, got {}",
            pubrel.describe()
        ))
    }
}

fn mqtt31_resent_subscribe_accepted(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("resent");
    let mut client = publisher(context)?;
    let mut bytes = wire::subscribe(3, &[(&topic, 1)]);
    bytes[0] = 0x8A;
    client.send(&bytes)?;
    let suback = client.wait_for(kind::SUBACK)?;
    if suback.packet_id() != Some(3) {
        return Err(format!("expected SUBACK for 3, got {}", suback.describe()));
    }
    let mut bytes = wire::unsubscribe(4, &[&topic]);
    bytes[0] = 0xAA;
    client.send(&bytes)?;
    let unsuback = client.expect(kind::UNSUBACK)?;
    if unsuback.packet_id() != Some(4) {
        return Err(format!(
            "expected UNSUBACK for 4, got {}",
            unsuback.describe()
        ));
    }
    Ok(Verdict::Pass)
}

//! PUBLISH and its acknowledgements at each QoS (3.1.1 §3.3 to §3.7, §4.3).

use crate::check::{Applies, Check, Context, Verdict};
use crate::client::TestClient;
use crate::wire::{self, kind};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "qos0-delivered",
        section: "3.3 PUBLISH",
        ids: &["MQTT-4.3.1-1", "MQTT-3.3.2-3"],
        summary: "a QoS 0 message reaches a subscriber with QoS 0, DUP 0 and no packet identifier",
        applies: Applies::Both,
        run: qos0_delivered,
    },
    Check {
        name: "qos1-puback",
        section: "3.4 PUBACK",
        ids: &["MQTT-3.3.4-1", "MQTT-2.3.1-6", "MQTT-4.3.2-2"],
        summary: "a QoS 1 PUBLISH is answered by PUBACK with the same packet identifier",
        applies: Applies::Both,
        run: qos1_puback,
    },
    Check {
        name: "qos2-flow",
        section: "3.5 PUBREC",
        ids: &["MQTT-3.3.4-1", "MQTT-4.3.3-2", "MQTT-2.3.1-6"],
        summary: "a QoS 2 PUBLISH is answered by PUBREC, and PUBREL by PUBCOMP, with the same identifier",
        applies: Applies::Both,
        run: qos2_flow,
    },
    Check {
        name: "qos2-duplicate-not-delivered-twice",
        section: "4.3 Quality of Service",
        ids: &["MQTT-4.3.3-2"],
        summary: "a QoS 2 PUBLISH re-sent with DUP before PUBREL gets PUBREC again and is delivered once",
        applies: Applies::Both,
        run: qos2_duplicate_not_delivered_twice,
    },
    Check {
        name: "qos-downgraded-to-subscription",
        section: "3.8 SUBSCRIBE",
        ids: &["MQTT-3.8.4-6"],
        summary: "a QoS 2 message to a QoS 1 subscription is delivered at QoS 1",
        applies: Applies::Both,
        run: qos_downgraded_to_subscription,
    },
    Check {
        name: "dup-not-propagated",
        section: "3.3 PUBLISH",
        ids: &["MQTT-3.3.1-3"],
        summary: "a PUBLISH received with DUP set is forwarded to subscribers with DUP 0",
        applies: Applies::Both,
        run: dup_not_propagated,
    },
    Check {
        name: "publish-qos3",
        section: "3.3 PUBLISH",
        ids: &["MQTT-3.3.1-4"],
        summary: "a PUBLISH with both QoS bits set closes the connection",
        applies: Applies::Both,
        run: publish_qos3,
    },
    Check {
        name: "publish-wildcard-topic",
        section: "3.3 PUBLISH",
        ids: &["MQTT-3.3.2-2", "MQTT-4.7.1-1"],
        summary: "a PUBLISH to a topic name containing '+' closes the connection",
        applies: Applies::Both,
        run: publish_wildcard_topic,
    },
    Check {
        name: "publish-packet-id-zero",
        section: "2.3 Packet Identifier",
        ids: &["MQTT-2.3.1-1"],
        summary: "a QoS 1 PUBLISH with packet identifier 0 closes the connection",
        applies: Applies::V311,
        run: publish_packet_id_zero,
    },
    Check {
        name: "pubrel-reserved-flags",
        section: "3.6 PUBREL",
        ids: &["MQTT-3.6.1-1"],
        summary: "a PUBREL whose flags are not 0010 closes the connection",
        applies: Applies::V311,
        run: pubrel_reserved_flags,
    },
    Check {
        name: "pubrel-unknown-id",
        section: "3.6 PUBREL",
        ids: &["MQTT-4.3.3-2"],
        summary: "a PUBREL for an identifier the server does not hold is still answered by PUBCOMP",
        applies: Applies::Both,
        run: pubrel_unknown_id,
    },
    Check {
        name: "overlapping-subscriptions",
        section: "3.3 PUBLISH",
        ids: &["MQTT-3.3.5-1"],
        summary: "with two matching subscriptions the message arrives at least at the higher QoS",
        applies: Applies::Both,
        run: overlapping_subscriptions,
    },
    Check {
        name: "ping",
        section: "3.12 PINGREQ",
        ids: &["MQTT-3.12.4-1"],
        summary: "PINGREQ is answered by PINGRESP",
        applies: Applies::Both,
        run: ping,
    },
];

/// A subscriber on a fresh topic at `qos`, ready (SUBACK received).
pub(crate) fn subscriber(context: &Context, topic: &str, qos: u8) -> Result<TestClient, String> {
    let id = context.client_id();
    let mut client = TestClient::clean(context, &id)?;
    client.send(&wire::subscribe(1, &[(topic, qos)]))?;
    let suback = client.expect(kind::SUBACK)?;
    if suback.body.get(2) == Some(&0x80) {
        return Err(format!("subscription to {topic} refused"));
    }
    Ok(client)
}

/// A connected publisher.
pub(crate) fn publisher(context: &Context) -> Result<TestClient, String> {
    let id = context.client_id();
    TestClient::clean(context, &id)
}

/// Publishes at `qos` and completes the publisher's side of the flow.
pub(crate) fn publish(
    client: &mut TestClient,
    topic: &str,
    qos: u8,
    retain: bool,
    payload: &[u8],
) -> Result<(), String> {
    client.send(&wire::publish(topic, qos, retain, false, 1, payload))?;
    match qos {
        0 => Ok(()),
        1 => client.expect(kind::PUBACK).map(drop),
        _ => {
            client.expect(kind::PUBREC)?;
            client.send(&wire::with_id(0x62, 1))?;
            client.expect(kind::PUBCOMP).map(drop)
        }
    }
}

fn qos0_delivered(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("q0");
    let mut sub = subscriber(context, &topic, 0)?;
    let mut publisher = publisher(context)?;
    publish(&mut publisher, &topic, 0, false, b"hello")?;
    let frame = sub.expect_publish()?;
    if frame.first != 0x30 || frame.publish_parts() != Some((topic, None, b"hello".to_vec())) {
        return Err(format!(
            "expected 30 with topic and 'hello', got {}",
            frame.describe()
        ));
    }
    Ok(Verdict::Pass)
}

fn qos1_puback(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("q1");
    let mut client = publisher(context)?;
    client.send(&wire::publish(&topic, 1, false, false, 0x1234, b"x"))?;
    let puback = client.expect(kind::PUBACK)?;
    if puback.first != 0x40 || puback.body != [0x12, 0x34] {
        return Err(format!("expected 40 02 12 34, got {}", puback.describe()));
    }
    Ok(Verdict::Pass)
}

fn qos2_flow(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("q2");
    let mut client = publisher(context)?;
    client.send(&wire::publish(&topic, 2, false, false, 0x0102, b"x"))?;
    let pubrec = client.expect(kind::PUBREC)?;
    if pubrec.first != 0x50 || pubrec.body != [0x01, 0x02] {
        return Err(format!("expected 50 02 01 02, got {}", pubrec.describe()));
    }
    client.send(&wire::with_id(0x62, 0x0102))?;
    let pubcomp = client.expect(kind::PUBCOMP)?;
    if pubcomp.first != 0x70 || pubcomp.body != [0x01, 0x02] {
        return Err(format!("expected 70 02 01 02, got {}", pubcomp.describe()));
    }
    Ok(Verdict::Pass)
}

fn qos2_duplicate_not_delivered_twice(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("q2dup");
    let mut sub = subscriber(context, &topic, 2)?;
    let mut client = publisher(context)?;
    client.send(&wire::publish(&topic, 2, false, false, 9, b"once"))?;
    client.expect(kind::PUBREC)?;
    client.send(&wire::publish(&topic, 2, false, true, 9, b"once"))?;
    client.expect(kind::PUBREC)?;
    client.send(&wire::with_id(0x62, 9))?;
    client.expect(kind::PUBCOMP)?;
    // A sentinel on the same topic from the same client: ordered after the message [MQTT-4.6.0-6].
    publish(&mut client, &topic, 2, false, b"sentinel")?;
    let first = sub.expect_publish()?;
    let second = sub.expect_publish()?;
    match (first.publish_parts(), second.publish_parts()) {
        (Some((_, _, a)), Some((_, _, b))) if a == b"once" && b == b"sentinel" => Ok(Verdict::Pass),
        _ => Err(format!(
            "expected 'once' then 'sentinel', got {} then {}",
            first.describe(),
            second.describe()
        )),
    }
}

fn qos_downgraded_to_subscription(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("down");
    let mut sub = subscriber(context, &topic, 1)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 2, false, b"x")?;
    let frame = sub.expect_publish()?;
    if frame.qos() != 1 {
        return Err(format!("expected QoS 1, got {}", frame.describe()));
    }
    Ok(Verdict::Pass)
}

fn dup_not_propagated(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("dup");
    let mut sub = subscriber(context, &topic, 1)?;
    let mut client = publisher(context)?;
    client.send(&wire::publish(&topic, 1, false, true, 3, b"x"))?;
    client.expect(kind::PUBACK)?;
    let frame = sub.expect_publish()?;
    if frame.dup() {
        return Err(format!("DUP was forwarded: {}", frame.describe()));
    }
    Ok(Verdict::Pass)
}

fn closes_after(context: &Context, bytes: &[u8]) -> Result<Verdict, String> {
    let mut client = publisher(context)?;
    client.send(bytes)?;
    client.expect_closed(&[])?;
    Ok(Verdict::Pass)
}

fn publish_qos3(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("q3");
    let mut bytes = wire::publish(&topic, 1, false, false, 1, b"x");
    bytes[0] = 0x36;
    closes_after(context, &bytes)
}

fn publish_wildcard_topic(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("+");
    closes_after(context, &wire::publish(&topic, 0, false, false, 0, b"x"))
}

fn publish_packet_id_zero(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("id0");
    closes_after(context, &wire::publish(&topic, 1, false, false, 0, b"x"))
}

fn pubrel_reserved_flags(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("pubrel");
    let mut client = publisher(context)?;
    client.send(&wire::publish(&topic, 2, false, false, 5, b"x"))?;
    client.expect(kind::PUBREC)?;
    client.send(&wire::with_id(0x60, 5))?;
    client.expect_closed(&[])?;
    Ok(Verdict::Pass)
}

fn pubrel_unknown_id(context: &Context) -> Result<Verdict, String> {
    let mut client = publisher(context)?;
    client.send(&wire::with_id(0x62, 0x4242))?;
    let pubcomp = client.expect(kind::PUBCOMP)?;
    if pubcomp.body != [0x42, 0x42] {
        return Err(format!(
            "expected PUBCOMP for 0x4242, got {}",
            pubcomp.describe()
        ));
    }
    Ok(Verdict::Pass)
}

fn overlapping_subscriptions(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("overlap/x");
    let parent = topic.trim_end_matches("/x").to_owned();
    let id = context.client_id();
    let mut sub = TestClient::clean(context, &id)?;
    sub.send(&wire::subscribe(
        1,
        &[(&topic, 0), (&format!("{parent}/+"), 2)],
    ))?;
    sub.expect(kind::SUBACK)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 2, false, b"x")?;
    let frame = sub.expect_publish()?;
    // One delivery at QoS 2 is the expected form; a server may also deliver once per subscription,
    // but then one of them must carry QoS 2.
    if frame.qos() == 2 {
        return Ok(Verdict::Pass);
    }
    let second = sub.expect_publish()?;
    if second.qos() == 2 {
        Ok(Verdict::Pass)
    } else {
        Err(format!(
            "no delivery at QoS 2: {} and {}",
            frame.describe(),
            second.describe()
        ))
    }
}

fn ping(context: &Context) -> Result<Verdict, String> {
    let mut client = publisher(context)?;
    client.send(&wire::PINGREQ)?;
    let pingresp = client.expect(kind::PINGRESP)?;
    if pingresp.first != 0xD0 || !pingresp.body.is_empty() {
        return Err(format!("expected D0 00, got {}", pingresp.describe()));
    }
    Ok(Verdict::Pass)
}

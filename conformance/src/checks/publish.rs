//! PUBLISH and its acknowledgements at each QoS (3.1.1 §3.3 to §3.7, §4.3).

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::will::Watched;
use crate::client::TestClient;
use crate::wire::{self, Frame, kind};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "overload-without-loss",
        section: "3.3 PUBLISH",
        ids: &["MQTT-4.3.2-1", "MQTT-3.3.4-1"],
        summary: "3 000 QoS 1 messages sent open loop, faster than the subscriber reads: every one acknowledged arrives",
        applies: Applies::Both,
        run: overload_without_loss,
    },
    Check {
        name: "qos0-delivered",
        section: "3.3 PUBLISH",
        ids: &[
            "MQTT-4.3.1-1",
            "MQTT-3.3.2-3",
            "MQTT-2.3.1-5",
            "MQTT-3.3.1-2",
        ],
        summary: "a QoS 0 message reaches a subscriber with QoS 0, DUP 0 and no packet identifier",
        applies: Applies::Both,
        run: qos0_delivered,
    },
    Check {
        name: "qos1-puback",
        section: "3.4 PUBACK",
        ids: &[
            "MQTT-3.3.4-1",
            "MQTT-2.3.1-6",
            "MQTT-4.3.2-2",
            "MQTT-2.2.2-1",
        ],
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
        ids: &["MQTT-3.3.1-4", "V31-DIFF-28"],
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
        name: "publish-invalid-utf8-topic",
        section: "1.5 Data representations",
        ids: &["MQTT-1.5.3-1", "MQTT-3.3.2-1"],
        summary: "a PUBLISH whose topic holds an encoded surrogate closes the connection",
        applies: Applies::V311,
        run: publish_invalid_utf8_topic,
    },
    Check {
        name: "publish-null-in-topic",
        section: "4.7 Topic Names and Filters",
        ids: &["MQTT-1.5.3-2", "MQTT-4.7.3-2"],
        summary: "a PUBLISH whose topic holds U+0000 closes the connection",
        applies: Applies::V311,
        run: publish_null_in_topic,
    },
    Check {
        name: "publish-empty-topic",
        section: "4.7 Topic Names and Filters",
        ids: &["MQTT-4.7.3-1"],
        summary: "a PUBLISH with a zero-length topic closes the connection",
        applies: Applies::V311,
        run: publish_empty_topic,
    },
    Check {
        name: "qos1-delivery",
        section: "4.3 Quality of Service",
        ids: &["MQTT-4.3.2-1", "MQTT-2.3.1-1", "MQTT-4.1.0-2"],
        summary: "a QoS 1 message reaches a QoS 1 subscriber as PUBLISH QoS 1, DUP 0, non-zero identifier",
        applies: Applies::Both,
        run: qos1_delivery,
    },
    Check {
        name: "qos2-delivery",
        section: "4.3 Quality of Service",
        ids: &["MQTT-4.3.3-1", "MQTT-2.3.1-1", "MQTT-2.2.2-1"],
        summary: "a QoS 2 delivery: PUBLISH QoS 2 DUP 0, then PUBREL (62) with its identifier after PUBREC, nothing after PUBCOMP",
        applies: Applies::Both,
        run: qos2_delivery,
    },
    Check {
        name: "every-subscriber-receives",
        section: "4.5 Message receipt",
        ids: &["MQTT-4.5.0-1"],
        summary: "a message is delivered to every client with a matching subscription",
        applies: Applies::Both,
        run: every_subscriber_receives,
    },
    Check {
        name: "ordered-delivery",
        section: "4.6 Message ordering",
        ids: &["MQTT-4.6.0-6", "MQTT-4.6.0-5"],
        summary: "QoS 1 messages from one client on one topic reach a subscriber in the order sent",
        applies: Applies::Both,
        run: ordered_delivery,
    },
    Check {
        name: "pubacks-in-order",
        section: "4.6 Message ordering",
        ids: &["MQTT-4.6.0-2"],
        summary: "three QoS 1 PUBLISHes sent back to back are acknowledged in the order received",
        applies: Applies::Both,
        run: pubacks_in_order,
    },
    Check {
        name: "pubrecs-in-order",
        section: "4.6 Message ordering",
        ids: &["MQTT-4.6.0-3"],
        summary: "three QoS 2 PUBLISHes sent back to back get their PUBRECs in the order received",
        applies: Applies::Both,
        run: pubrecs_in_order,
    },
    Check {
        name: "pubrels-in-order",
        section: "4.6 Message ordering",
        ids: &["MQTT-4.6.0-4"],
        summary: "a subscriber's two PUBRECs are answered by PUBRELs in the same order",
        applies: Applies::Both,
        run: pubrels_in_order,
    },
    Check {
        name: "redelivery-on-reconnect",
        section: "4.4 Message delivery retry",
        ids: &[
            "MQTT-4.4.0-1",
            "MQTT-3.3.1-1",
            "MQTT-2.3.1-4",
            "MQTT-4.6.0-1",
        ],
        summary: "an unacknowledged QoS 1 delivery is re-sent on reconnect with DUP 1 and its identifier, before later ones",
        applies: Applies::V311,
        run: redelivery_on_reconnect,
    },
    Check {
        name: "pubrel-resent-on-reconnect",
        section: "4.4 Message delivery retry",
        ids: &["MQTT-4.4.0-1", "MQTT-4.3.3-1"],
        summary: "after PUBREC, a reconnecting subscriber gets the PUBREL again, not the PUBLISH",
        applies: Applies::V311,
        run: pubrel_resent_on_reconnect,
    },
    Check {
        name: "pingreq-reserved-flags",
        section: "2.2 Fixed header",
        ids: &["MQTT-2.2.2-2"],
        summary: "a PINGREQ with a reserved flag set closes the connection",
        applies: Applies::V311,
        run: pingreq_reserved_flags,
    },
    Check {
        name: "wrong-acknowledgement-closes",
        section: "4.8 Handling errors",
        ids: &["MQTT-4.8.0-1", "MQTT-4.3.2-1"],
        summary: "a PUBREC answering a QoS 1 delivery (which waits for PUBACK) closes the connection",
        applies: Applies::Both,
        run: wrong_acknowledgement_closes,
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
    let suback = client.wait_for(kind::SUBACK)?;
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

fn publish_invalid_utf8_topic(context: &Context) -> Result<Verdict, String> {
    let mut topic = context.topic("bad").into_bytes();
    topic.extend_from_slice(&wire::SURROGATE);
    closes_after(
        context,
        &wire::publish_raw(&topic, 0, false, false, 0, b"x"),
    )
}

fn publish_null_in_topic(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("nul\0x");
    closes_after(context, &wire::publish(&topic, 0, false, false, 0, b"x"))
}

fn publish_empty_topic(context: &Context) -> Result<Verdict, String> {
    closes_after(context, &wire::publish("", 0, false, false, 0, b"x"))
}

fn pingreq_reserved_flags(context: &Context) -> Result<Verdict, String> {
    closes_after(context, &[0xC1, 0x00])
}

fn qos1_delivery(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("q1d");
    let mut sub = subscriber(context, &topic, 1)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, false, b"one")?;
    let frame = sub.expect(kind::PUBLISH)?;
    sub.acknowledge(&frame)?;
    match frame.publish_parts() {
        Some((name, Some(id), payload))
            if frame.first == 0x32 && id != 0 && name == topic && payload == b"one" =>
        {
            Ok(Verdict::Pass)
        }
        _ => Err(format!(
            "expected 32 with a non-zero identifier and 'one', got {}",
            frame.describe()
        )),
    }
}

fn qos2_delivery(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("q2d");
    let mut sub = subscriber(context, &topic, 2)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 2, false, b"two")?;
    let frame = sub.expect(kind::PUBLISH)?;
    let id = match frame.publish_parts() {
        Some((_, Some(id), payload)) if frame.first == 0x34 && id != 0 && payload == b"two" => id,
        _ => {
            return Err(format!(
                "expected 34 with a non-zero identifier and 'two', got {}",
                frame.describe()
            ));
        }
    };
    sub.send(&wire::with_id(0x50, id))?;
    let pubrel = sub.expect(kind::PUBREL)?;
    if pubrel.first != 0x62 || pubrel.packet_id() != Some(id) || pubrel.body.len() != 2 {
        return Err(format!(
            "expected PUBREL 62 02 for {id:#06x}, got {}",
            pubrel.describe()
        ));
    }
    sub.send(&wire::with_id(0x70, id))?;
    // Once PUBREL is sent the PUBLISH must never be sent again.
    let after = sub.ping()?;
    if let Some(frame) = after.first() {
        return Err(format!(
            "after PUBCOMP the server sent {}",
            frame.describe()
        ));
    }
    Ok(Verdict::Pass)
}

fn every_subscriber_receives(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("all");
    let mut first = subscriber(context, &topic, 1)?;
    // The second subscriber matches through a wildcard, so that the check covers both paths.
    let parent = topic.rsplit_once('/').map_or("", |(parent, _)| parent);
    let mut second = subscriber(context, &format!("{parent}/+"), 1)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, false, b"all")?;
    for sub in [&mut first, &mut second] {
        let frame = sub.expect_publish()?;
        if frame.publish_parts().map(|(_, _, payload)| payload) != Some(b"all".to_vec()) {
            return Err(format!("expected 'all', got {}", frame.describe()));
        }
    }
    Ok(Verdict::Pass)
}

fn ordered_delivery(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("order");
    let mut sub = subscriber(context, &topic, 1)?;
    let mut client = publisher(context)?;
    let sent: Vec<Vec<u8>> = (1..=5u8).map(|n| vec![b'0' + n]).collect();
    for (n, payload) in sent.iter().enumerate() {
        let id = u16::try_from(n + 1).unwrap_or(1);
        client.send(&wire::publish(&topic, 1, false, false, id, payload))?;
    }
    for _ in &sent {
        client.expect(kind::PUBACK)?;
    }
    let mut arrived = Vec::new();
    for _ in &sent {
        let frame = sub.expect_publish()?;
        arrived.push(frame.publish_parts().map(|(_, _, payload)| payload));
    }
    let expected: Vec<Option<Vec<u8>>> = sent.into_iter().map(Some).collect();
    if arrived == expected {
        Ok(Verdict::Pass)
    } else {
        Err(format!("sent {expected:?}, received {arrived:?}"))
    }
}

/// Sends three PUBLISHes at `qos` back to back and returns the identifiers of the three answers of
/// type `answer`, in the order they came.
fn answers_in_order(context: &Context, qos: u8, answer: u8) -> Result<Vec<Option<u16>>, String> {
    let topic = context.topic("acks");
    let mut client = publisher(context)?;
    let mut bytes = Vec::new();
    for id in [0x0101, 0x0202, 0x0303] {
        bytes.extend(wire::publish(&topic, qos, false, false, id, b"x"));
    }
    client.send(&bytes)?;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(client.expect(answer)?.packet_id());
    }
    if qos == 2 {
        for id in [0x0101, 0x0202, 0x0303] {
            client.send(&wire::with_id(0x62, id))?;
            client.expect(kind::PUBCOMP)?;
        }
    }
    Ok(ids)
}

fn in_order(ids: &[Option<u16>]) -> Result<Verdict, String> {
    if ids == [Some(0x0101), Some(0x0202), Some(0x0303)] {
        Ok(Verdict::Pass)
    } else {
        Err(format!(
            "sent 0x0101, 0x0202, 0x0303; acknowledged {ids:04x?}"
        ))
    }
}

fn pubacks_in_order(context: &Context) -> Result<Verdict, String> {
    in_order(&answers_in_order(context, 1, kind::PUBACK)?)
}

fn pubrecs_in_order(context: &Context) -> Result<Verdict, String> {
    in_order(&answers_in_order(context, 2, kind::PUBREC)?)
}

fn pubrels_in_order(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("rels");
    let mut sub = subscriber(context, &topic, 2)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 2, false, b"a")?;
    publish(&mut client, &topic, 2, false, b"b")?;
    let first = sub.expect(kind::PUBLISH)?;
    // A server may keep one QoS 2 message in flight at a time; then the order of PUBRELs cannot be
    // observed, which is not a failure. Both messages were accepted (PUBCOMP) before the PINGREQ
    // below was sent, so a server that sends the second at once has sent it before the PINGRESP:
    // the barrier tells the two cases apart where a quiet period would only guess.
    let mut before_pong = sub.ping()?.into_iter();
    let Some(second) = before_pong.next() else {
        return Ok(Verdict::Skip(
            "the server sends one QoS 2 message at a time".to_owned(),
        ));
    };
    let (Some(a), Some(b)) = (first.packet_id_of_publish(), second.packet_id_of_publish()) else {
        return Err(format!(
            "expected two QoS 2 PUBLISHes, got {} and {}",
            first.describe(),
            second.describe()
        ));
    };
    sub.send(&wire::with_id(0x50, a))?;
    sub.send(&wire::with_id(0x50, b))?;
    let rels = [sub.expect(kind::PUBREL)?, sub.expect(kind::PUBREL)?];
    sub.send(&wire::with_id(0x70, a))?;
    sub.send(&wire::with_id(0x70, b))?;
    let ids: Vec<_> = rels.iter().map(Frame::packet_id).collect();
    if ids == [Some(a), Some(b)] {
        Ok(Verdict::Pass)
    } else {
        Err(format!(
            "PUBREC sent for {a:#06x} then {b:#06x}; PUBREL came for {ids:04x?}"
        ))
    }
}

/// Ends a persistent session: reconnects with CleanSession 1 and disconnects.
pub(crate) fn end_session(context: &Context, id: &str) -> Result<(), String> {
    TestClient::connect(context, id, crate::wire::flags::CLEAN_SESSION)?
        .0
        .disconnect()
}

fn redelivery_on_reconnect(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("redeliver");
    let mut sub = Watched::connect(context, &id, 0)?;
    sub.client.send(&wire::subscribe(1, &[(&topic, 1)]))?;
    sub.client.expect(kind::SUBACK)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, false, b"first")?;
    publish(&mut client, &topic, 1, false, b"second")?;
    // Receive the first without acknowledging it, and leave; reconnect only once the server has
    // seen the connection end, so that this is a return to a stored session, not a take-over.
    let original = sub.client.expect(kind::PUBLISH)?;
    sub.drop_and_await_end()?;
    let (mut sub, _) = TestClient::connect(context, &id, 0)?;
    let again = sub.expect_publish();
    let next = sub.expect_publish();
    sub.disconnect()?;
    end_session(context, &id)?;
    let (again, next) = (again?, next?);
    let (Some((_, Some(was), first)), Some((_, Some(now), resent))) =
        (original.publish_parts(), again.publish_parts())
    else {
        return Err(format!(
            "expected QoS 1 PUBLISHes, got {} and {}",
            original.describe(),
            again.describe()
        ));
    };
    if first != b"first" || resent != b"first" || now != was || !again.dup() {
        return Err(format!(
            "expected 'first' again with DUP 1 and identifier {was:#06x}, got {}",
            again.describe()
        ));
    }
    match next.publish_parts() {
        Some((_, _, payload)) if payload == b"second" => Ok(Verdict::Pass),
        _ => Err(format!(
            "expected 'second' after the re-sent message, got {}",
            next.describe()
        )),
    }
}

fn pubrel_resent_on_reconnect(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("rel");
    let mut sub = Watched::connect(context, &id, 0)?;
    sub.client.send(&wire::subscribe(1, &[(&topic, 2)]))?;
    sub.client.expect(kind::SUBACK)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 2, false, b"x")?;
    let frame = sub.client.expect(kind::PUBLISH)?;
    let packet_id = frame
        .packet_id_of_publish()
        .ok_or_else(|| format!("expected QoS 2, got {}", frame.describe()))?;
    sub.client.send(&wire::with_id(0x50, packet_id))?;
    sub.client.expect(kind::PUBREL)?;
    // As above: reconnect once the server has seen the connection end.
    sub.drop_and_await_end()?;
    let (mut sub, _) = TestClient::connect(context, &id, 0)?;
    let again = sub.recv();
    if let Ok(frame) = &again
        && frame.kind() == kind::PUBREL
    {
        sub.send(&wire::with_id(0x70, packet_id))?;
    }
    sub.disconnect()?;
    end_session(context, &id)?;
    let again = again?;
    if again.first == 0x62 && again.packet_id() == Some(packet_id) {
        Ok(Verdict::Pass)
    } else {
        Err(format!(
            "expected PUBREL for {packet_id:#06x}, got {}",
            again.describe()
        ))
    }
}

/// A subscriber answers a QoS 1 delivery with PUBREC, the first answer of the QoS 2 flow, instead of
/// PUBACK [MQTT-4.3.2-1]: a protocol violation, so the server closes the connection [MQTT-4.8.0-1].
/// A PINGREQ follows: a server that ignored the PUBREC answers it, which fails the check at once.
fn wrong_acknowledgement_closes(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("wrong-ack");
    let mut sub = subscriber(context, &topic, 1)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, false, b"x")?;
    // Not `expect_publish`, which would answer it correctly.
    let frame = sub.expect(kind::PUBLISH)?;
    let id = frame
        .publish_parts()
        .and_then(|(_, id, _)| id)
        .ok_or_else(|| format!("expected a QoS 1 delivery, got {}", frame.describe()))?;
    sub.send(&wire::with_id(0x50, id))?;
    sub.send(&[0xC0, 0x00])?;
    sub.expect_closed(&[])?;
    Ok(Verdict::Pass)
}

/// How many messages the overload check sends at once: three times a default queue of 1 000.
const OVERLOAD: u16 = 3_000;

/// A publisher writes [`OVERLOAD`] QoS 1 PUBLISH packets in one go, without waiting for any
/// acknowledgement (open loop), while its subscriber has not read yet; then the subscriber reads
/// and acknowledges everything, and the publisher collects its PUBACKs. Each message the server
/// acknowledged must have arrived: a server may slow a publisher down, not drop what it accepted.
/// Bounded: one batch, and 2 s of silence ends each count.
fn overload_without_loss(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("overload");
    let mut sub = subscriber(context, &topic, 1)?;
    let mut client = publisher(context)?;
    let mut batch = Vec::new();
    for n in 1..=OVERLOAD {
        batch.extend(wire::publish(
            &topic,
            1,
            false,
            false,
            n,
            n.to_string().as_bytes(),
        ));
    }
    client.send(&batch)?;
    // The subscriber pauses first: until the server has acknowledged everything, or has been
    // silent towards the publisher for 2 s (a server that slows its publisher down stops
    // acknowledging once the subscriber's queue is full). Only then does it start to read.
    let mut acknowledged = std::collections::HashSet::new();
    collect_pubacks(&mut client, &mut acknowledged)?;
    let mut received = std::collections::HashSet::new();
    while received.len() < usize::from(OVERLOAD) {
        let Some(frame) = sub.next_within(std::time::Duration::from_secs(2))? else {
            break;
        };
        if frame.kind() != kind::PUBLISH {
            continue;
        }
        sub.acknowledge(&frame)?;
        if let Some((_, _, payload)) = frame.publish_parts() {
            received.insert(payload);
        }
    }
    collect_pubacks(&mut client, &mut acknowledged)?;
    let lost = acknowledged.difference(&received).count();
    if lost == 0 {
        Ok(Verdict::Pass)
    } else {
        Err(format!(
            "{lost} of {} acknowledged messages never reached the subscriber",
            acknowledged.len()
        ))
    }
}

/// Adds the payloads (packet identifiers) of the PUBACKs `client` receives to `acknowledged`, until
/// all [`OVERLOAD`] came or the server is silent for 2 s.
fn collect_pubacks(
    client: &mut TestClient,
    acknowledged: &mut std::collections::HashSet<Vec<u8>>,
) -> Result<(), String> {
    while acknowledged.len() < usize::from(OVERLOAD) {
        let Some(frame) = client.next_within(std::time::Duration::from_secs(2))? else {
            break;
        };
        if frame.kind() == kind::PUBACK
            && let Some(id) = frame.body.get(..2)
        {
            acknowledged.insert(u16::from_be_bytes([id[0], id[1]]).to_string().into_bytes());
        }
    }
    Ok(())
}

//! Hostile clients (issue 14): a PUBLISH as deep as a packet can carry, and QoS 2 acknowledgements
//! sent at the wrong step of the flow (3.1.1 §4.3.3, §4.8). Each is something a careless or
//! malicious client sends and a server must answer with a delivery or a close, never with an
//! acknowledgement it does not honour or by carrying on as if nothing happened.

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::{publish, publisher, subscriber};
use crate::client::TestClient;
use crate::wire::{self, kind};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "deep-publish-delivered-or-refused",
        section: "4.7 Topic Names and Topic Filters",
        ids: &["MQTT-4.3.2-2", "MQTT-4.7.3-3"],
        summary: "a QoS 1 PUBLISH to a topic of 30 000 levels is either acknowledged and delivered, or closed unacknowledged; the server goes on",
        applies: Applies::Both,
        run: deep_publish_delivered_or_refused,
    },
    Check {
        name: "qos2-answered-with-puback-closes",
        section: "4.3 Quality of Service",
        ids: &["MQTT-4.3.3-2", "MQTT-4.8.0-1"],
        summary: "a subscriber answering a QoS 2 delivery with PUBACK (a QoS 1 answer) is disconnected",
        applies: Applies::Both,
        run: qos2_answered_with_puback_closes,
    },
    Check {
        name: "qos2-pubcomp-before-pubrec-closes",
        section: "4.3 Quality of Service",
        ids: &["MQTT-4.3.3-2", "MQTT-4.8.0-1"],
        summary: "a subscriber answering a QoS 2 delivery with PUBCOMP, before any PUBREC and PUBREL, is disconnected",
        applies: Applies::Both,
        run: qos2_pubcomp_before_pubrec_closes,
    },
    Check {
        name: "qos2-puback-after-pubrel-closes",
        section: "4.3 Quality of Service",
        ids: &["MQTT-4.3.3-2", "MQTT-4.8.0-1"],
        summary: "a subscriber answering the server's PUBREL with PUBACK instead of PUBCOMP is disconnected",
        applies: Applies::Both,
        run: qos2_puback_after_pubrel_closes,
    },
];

/// How many levels the deep PUBLISH has: `/x` 30 000 times, 60 000 bytes, within the 65 535 a topic
/// may take [MQTT-4.7.3-3].
const DEEP_LEVELS: usize = 30_000;

/// A topic that deep is a valid Topic Name [MQTT-4.7.3-3]. A server may refuse it (a limit of its
/// own) by closing the connection without acknowledging it; a server that acknowledges it has taken
/// the message over [MQTT-4.3.2-2] and must deliver it to the matching `#` subscription, before a
/// sentinel the same publisher sends next to the same subscription. Either way a fresh pair is then
/// served: a server that died of the depth fails there.
fn deep_publish_delivered_or_refused(context: &Context) -> Result<Verdict, String> {
    let base = context.topic("deep-publish");
    let deep = format!("{base}{}", "/x".repeat(DEEP_LEVELS));
    let mut sub = subscriber(context, &format!("{base}/#"), 1)?;
    let mut client = publisher(context)?;
    client.send(&wire::publish(&deep, 1, false, false, 1, b"deep"))?;
    match client.next_within(context.timeout) {
        Ok(Some(frame)) if frame.kind() == kind::PUBACK => {
            let sentinel = format!("{base}/after");
            publish(&mut client, &sentinel, 1, false, b"after")?;
            let first = sub.expect_publish()?;
            match first.publish_parts() {
                Some((topic, _, payload)) if topic == deep && payload == b"deep" => {}
                Some((topic, _, _)) if topic == sentinel => {
                    return Err(
                        "the deep PUBLISH was acknowledged but never delivered (the sentinel sent after it came first)"
                            .to_owned(),
                    );
                }
                _ => {
                    return Err(format!(
                        "expected the deep message, got {}",
                        first.describe()
                    ));
                }
            }
        }
        Ok(Some(frame)) => {
            return Err(format!(
                "expected PUBACK or a close, got {}",
                frame.describe()
            ));
        }
        Ok(None) => {
            return Err(format!(
                "the deep PUBLISH was neither acknowledged nor refused within {:?}",
                context.timeout
            ));
        }
        Err(_closed) => {}
    }
    served_after(context, &base)
}

/// A fresh publisher and subscriber still exchange a message.
fn served_after(context: &Context, base: &str) -> Result<Verdict, String> {
    let topic = format!("{base}-served");
    let mut sub = subscriber(context, &topic, 1)?;
    let mut other = publisher(context)?;
    publish(&mut other, &topic, 1, false, b"still here")?;
    let frame = sub.expect_publish()?;
    match frame.publish_parts() {
        Some((name, _, payload)) if name == topic && payload == b"still here" => Ok(Verdict::Pass),
        _ => Err(format!(
            "expected the message on {topic}, got {}",
            frame.describe()
        )),
    }
}

/// A QoS 2 delivery to a fresh subscriber, not yet answered: the subscriber and the PUBLISH's
/// packet identifier.
fn qos2_delivery(context: &Context, name: &str) -> Result<(TestClient, u16), String> {
    let topic = context.topic(name);
    let mut sub = subscriber(context, &topic, 2)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 2, false, b"x")?;
    // Not `expect_publish`, which would answer it correctly.
    let frame = sub.expect(kind::PUBLISH)?;
    let id = frame
        .publish_parts()
        .and_then(|(_, id, _)| id)
        .filter(|_| frame.qos() == 2)
        .ok_or_else(|| format!("expected a QoS 2 delivery, got {}", frame.describe()))?;
    Ok((sub, id))
}

/// The wrong answer has been sent; a PINGREQ follows, which a server that ignored the answer
/// replies to, failing the check at once. A server that resends the PUBLISH or PUBREL before
/// closing is not faulted for it.
fn closes_after_wrong_answer(mut sub: TestClient) -> Result<Verdict, String> {
    sub.send(&wire::PINGREQ)?;
    sub.expect_closed(&[kind::PUBLISH, kind::PUBREL])?;
    Ok(Verdict::Pass)
}

/// PUBACK answers QoS 1 [MQTT-4.3.2-2]; a QoS 2 receiver must answer PUBREC [MQTT-4.3.3-2]. The
/// subscriber broke the flow: a protocol violation, so the server closes [MQTT-4.8.0-1].
fn qos2_answered_with_puback_closes(context: &Context) -> Result<Verdict, String> {
    let (mut sub, id) = qos2_delivery(context, "q2-puback")?;
    sub.send(&wire::with_id(0x40, id))?;
    closes_after_wrong_answer(sub)
}

/// PUBCOMP answers PUBREL, which the server sends only after PUBREC [MQTT-4.3.3-2]; sent first, it
/// skips the flow's first two steps.
fn qos2_pubcomp_before_pubrec_closes(context: &Context) -> Result<Verdict, String> {
    let (mut sub, id) = qos2_delivery(context, "q2-pubcomp")?;
    sub.send(&wire::with_id(0x70, id))?;
    closes_after_wrong_answer(sub)
}

/// The subscriber answers PUBREC, the server sends PUBREL, and the subscriber answers that with
/// PUBACK, not the PUBCOMP the flow requires [MQTT-4.3.3-2].
fn qos2_puback_after_pubrel_closes(context: &Context) -> Result<Verdict, String> {
    let (mut sub, id) = qos2_delivery(context, "q2-late-puback")?;
    sub.send(&wire::with_id(0x50, id))?;
    let pubrel = sub.expect(kind::PUBREL)?;
    if pubrel.packet_id() != Some(id) {
        return Err(format!(
            "expected PUBREL for {id:#06x}, got {}",
            pubrel.describe()
        ));
    }
    sub.send(&wire::with_id(0x40, id))?;
    closes_after_wrong_answer(sub)
}

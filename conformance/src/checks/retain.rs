//! Retained messages (3.1.1 §3.3.1.3). Every check deletes the retained messages it creates.

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::{publish, publisher, subscriber};
use crate::checks::subscribe::fresh_subscriber;
use crate::checks::will::Watched;
use crate::wire::{self, Version, flags};

/// MQTT 3.1 only recommends the RETAIN flag rules and only permits deleting a retained message with an
/// empty one [V31-DIFF-36] [V31-DIFF-37]: at that level a difference is an observation.
fn at_31_observe(context: &Context, failure: String) -> Result<Verdict, String> {
    if context.version == Version::V31 {
        Ok(Verdict::Observation(format!(
            "{failure} (MQTT 3.1 recommends but does not require this)"
        )))
    } else {
        Err(failure)
    }
}

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "retained-flood",
        section: "3.3 PUBLISH",
        ids: &["MQTT-3.3.1-6"],
        summary: "a new subscription gets every one of 2 000 matching retained messages, none dropped",
        applies: Applies::Both,
        run: retained_flood,
    },
    Check {
        name: "retained-to-new-subscriber",
        section: "3.3 PUBLISH",
        ids: &[
            "MQTT-3.3.1-5",
            "MQTT-3.3.1-6",
            "MQTT-3.3.1-8",
            "V31-DIFF-37",
        ],
        summary: "a retained message is sent to a later subscriber with RETAIN set",
        applies: Applies::Both,
        run: retained_to_new_subscriber,
    },
    Check {
        name: "retain-cleared-for-live-delivery",
        section: "3.3 PUBLISH",
        ids: &["MQTT-3.3.1-9", "V31-DIFF-37"],
        summary: "a retained message forwarded to an existing subscription has RETAIN 0",
        applies: Applies::Both,
        run: retain_cleared_for_live_delivery,
    },
    Check {
        name: "empty-retained-deletes",
        section: "3.3 PUBLISH",
        ids: &["MQTT-3.3.1-10", "MQTT-3.3.1-11", "V31-DIFF-36"],
        summary: "a retained PUBLISH with an empty payload removes the retained message",
        applies: Applies::Both,
        run: empty_retained_deletes,
    },
    Check {
        name: "retained-survives-session-end",
        section: "3.3 PUBLISH",
        ids: &["MQTT-3.1.2-7"],
        summary: "a retained message outlives the session of the client that published it",
        applies: Applies::Both,
        run: retained_survives_session_end,
    },
    Check {
        name: "retained-qos0-replaces",
        section: "3.3 PUBLISH",
        ids: &["MQTT-3.3.1-7"],
        summary: "a retained QoS 0 message replaces the retained message (a server may also discard it)",
        applies: Applies::Both,
        run: retained_qos0_replaces,
    },
    Check {
        name: "non-retained-keeps-retained",
        section: "3.3 PUBLISH",
        ids: &["MQTT-3.3.1-12"],
        summary: "a PUBLISH with RETAIN 0 neither replaces nor removes the retained message",
        applies: Applies::Both,
        run: non_retained_keeps_retained,
    },
];

/// How many retained messages the flood check stores: more than mosquitto's default queue (1 000
/// messages), few enough to run in well under a second.
const FLOOD: usize = 2_000;

/// Stores [`FLOOD`] retained messages under one prefix, subscribes afresh to `prefix/#` at QoS 1,
/// and counts what arrives (acknowledging each), until all came or the server is silent for a
/// while. Clears them all afterwards, whatever the outcome.
fn retained_flood(context: &Context) -> Result<Verdict, String> {
    let prefix = context.topic("flood");
    let mut client = publisher(context)?;
    let mut batch = Vec::new();
    for n in 0..FLOOD {
        batch.extend(wire::publish(
            &format!("{prefix}/{n}"),
            0,
            true,
            false,
            1,
            b"r",
        ));
    }
    client.send(&batch)?;
    client.ping()?;
    let result = count_retained(context, &prefix);
    let mut clearing = Vec::new();
    for n in 0..FLOOD {
        clearing.extend(wire::publish(
            &format!("{prefix}/{n}"),
            0,
            true,
            false,
            1,
            b"",
        ));
    }
    client.send(&clearing)?;
    client.ping()?;
    let got = result?;
    if got == FLOOD {
        Ok(Verdict::Pass)
    } else {
        Err(format!(
            "{got} of {FLOOD} retained messages reached a new subscription to {prefix}/#"
        ))
    }
}

/// How many distinct retained messages a new QoS 1 subscriber to `prefix/#` receives.
fn count_retained(context: &Context, prefix: &str) -> Result<usize, String> {
    let mut sub = subscriber(context, &format!("{prefix}/#"), 1)?;
    let mut seen = std::collections::HashSet::new();
    while seen.len() < FLOOD {
        let Some(frame) = sub.next_within(std::time::Duration::from_secs(2))? else {
            break;
        };
        if frame.kind() != crate::wire::kind::PUBLISH {
            continue;
        }
        sub.acknowledge(&frame)?;
        if frame.retain()
            && let Some((topic, _, _)) = frame.publish_parts()
        {
            seen.insert(topic.to_owned());
        }
    }
    Ok(seen.len())
}

fn clear(context: &Context, topic: &str) -> Result<(), String> {
    let mut client = publisher(context)?;
    publish(&mut client, topic, 1, true, b"")
}

/// The payload of the first message a new subscriber to `topic` receives, or `None` when the
/// sentinel (published after subscribing) comes first, meaning nothing retained was sent.
pub(crate) fn retained_payload(
    context: &Context,
    topic: &str,
) -> Result<Option<(bool, Vec<u8>)>, String> {
    let mut sub = fresh_subscriber(context, topic)?;
    let mut client = publisher(context)?;
    publish(&mut client, topic, 1, false, b"sentinel")?;
    let frame = sub.expect_publish()?;
    let (_, _, payload) = frame.publish_parts().ok_or("malformed PUBLISH")?;
    if payload == b"sentinel" && !frame.retain() {
        return Ok(None);
    }
    Ok(Some((frame.retain(), payload)))
}

fn retained_to_new_subscriber(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("kept");
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, true, b"kept")?;
    let result = retained_payload(context, &topic);
    clear(context, &topic)?;
    match result? {
        Some((true, payload)) if payload == b"kept" => Ok(Verdict::Pass),
        Some((false, payload)) if payload == b"kept" => at_31_observe(
            context,
            "the retained message arrived with RETAIN 0".to_owned(),
        ),
        other => Err(format!("expected 'kept' with RETAIN 1, got {other:?}")),
    }
}

fn retain_cleared_for_live_delivery(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("live");
    let mut sub = fresh_subscriber(context, &topic)?;
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, true, b"live")?;
    let frame = sub.expect_publish()?;
    clear(context, &topic)?;
    if frame.retain() {
        return at_31_observe(
            context,
            format!("RETAIN set on a live delivery: {}", frame.describe()),
        );
    }
    Ok(Verdict::Pass)
}

fn empty_retained_deletes(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("deleted");
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, true, b"soon gone")?;
    publish(&mut client, &topic, 1, true, b"")?;
    match retained_payload(context, &topic)? {
        None => Ok(Verdict::Pass),
        Some(other) => at_31_observe(
            context,
            format!("a retained message survived deletion: {other:?}"),
        ),
    }
}

fn non_retained_keeps_retained(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("keep");
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, true, b"first")?;
    publish(&mut client, &topic, 1, false, b"second")?;
    let result = retained_payload(context, &topic);
    clear(context, &topic)?;
    match result? {
        Some((true, payload)) if payload == b"first" => Ok(Verdict::Pass),
        other => Err(format!("expected the retained 'first', got {other:?}")),
    }
}

fn retained_survives_session_end(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("outlives");
    // The publisher's session must have ended before the new subscriber looks: the Will of the
    // publisher's connection, awaited on its own topic, says so.
    let mut client = Watched::connect(context, &context.client_id(), flags::CLEAN_SESSION)?;
    publish(&mut client.client, &topic, 1, true, b"outlives")?;
    client.drop_and_await_end()?;
    let result = retained_payload(context, &topic);
    clear(context, &topic)?;
    match result? {
        Some((_, payload)) if payload == b"outlives" => Ok(Verdict::Pass),
        other => Err(format!(
            "expected 'outlives' after its publisher's session ended, got {other:?}"
        )),
    }
}

fn retained_qos0_replaces(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("replaced");
    let mut client = publisher(context)?;
    publish(&mut client, &topic, 1, true, b"old")?;
    publish(&mut client, &topic, 0, true, b"new")?;
    // PINGRESP comes after the server has read the QoS 0 PUBLISH before it.
    client.ping()?;
    let result = retained_payload(context, &topic);
    clear(context, &topic)?;
    match result? {
        Some((_, payload)) if payload == b"new" => Ok(Verdict::Pass),
        None => Ok(Verdict::Observation(
            "the retained QoS 0 message was discarded (allowed)".to_owned(),
        )),
        other => Err(format!(
            "expected the retained QoS 0 message 'new' to replace 'old', got {other:?}"
        )),
    }
}

//! The MQTT 5.0 Will (5.0 §3.1.2.5, §3.1.3.2, §3.14): DISCONNECT reason codes that keep or discard
//! it, the Will Delay Interval, and the Will Properties a server forwards.

use std::time::{Duration, Instant};

use mqtt_codec::v5::Property;

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::v5_common::{
    connect, delivery, end_session, expect_payload, next_delivery, subscriber, topic_and_payload,
};
use crate::client::TestClient;
use crate::v5_wire::{self, WillSpec, options};

const SECTION: &str = "MQTT5 3.14 DISCONNECT and the Will";

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "v5-disconnect-normal-discards-will",
        section: SECTION,
        ids: &["MQTT5-3.14.4-3", "MQTT5-3.1.2-10"],
        summary: "DISCONNECT 0x00 discards the Will: the next connection's Will is the first the watcher sees",
        applies: Applies::V5,
        run: disconnect_normal_discards_will,
    },
    Check {
        name: "v5-disconnect-with-will",
        section: SECTION,
        ids: &["MQTT5-3.1.2-8", "MQTT5-3.1.2-14"],
        summary: "DISCONNECT 0x04 (Disconnect with Will Message) publishes the Will, not retained",
        applies: Applies::V5,
        run: disconnect_with_will,
    },
    Check {
        name: "v5-will-retained",
        section: SECTION,
        ids: &["MQTT5-3.1.2-15"],
        summary: "a Will with Will Retain is published retained: a later subscriber gets it",
        applies: Applies::V5,
        run: will_retained,
    },
    Check {
        name: "v5-will-delay-elapsed",
        section: SECTION,
        ids: &["MQTT5-3.1.2-8"],
        summary: "a Will with Will Delay 1 s is published no sooner than 1 s after the connection drops",
        applies: Applies::V5,
        run: will_delay_elapsed,
    },
    Check {
        name: "v5-will-delay-reconnect",
        section: SECTION,
        ids: &["MQTT5-3.1.3-9", "MQTT5-3.1.2-5"],
        summary: "a client back within its Will Delay Interval stops its Will from being published",
        applies: Applies::V5,
        run: will_delay_reconnect,
    },
    Check {
        name: "v5-will-properties-forwarded",
        section: SECTION,
        ids: &["MQTT5-3.1.3-10", "MQTT5-3.3.2-17", "MQTT5-3.3.2-20"],
        summary: "the Will's User Properties (in order) and Content Type reach its subscriber",
        applies: Applies::V5,
        run: will_properties_forwarded,
    },
];

/// A 5.0 connection for `id` with a Will saying `payload` on `topic`.
fn with_will(
    context: &Context,
    id: &str,
    clean_start: bool,
    topic: &str,
    payload: &[u8],
    connect_properties: &[Property<'_>],
    will_properties: &[Property<'_>],
) -> Result<TestClient, String> {
    let will = WillSpec {
        topic,
        payload,
        qos: 1,
        retain: false,
        properties: will_properties,
    };
    Ok(connect(context, id, clean_start, connect_properties, Some(will))?.client)
}

/// A second connection for `id`, whose Will says "second", ends with DISCONNECT 0x04: the server
/// has processed the first connection's end before it takes this one for the same identifier, so
/// a Will of the first would reach the watcher before this one. Returns the first payload seen.
fn first_will_after(
    context: &Context,
    watcher: &mut TestClient,
    id: &str,
    topic: &str,
) -> Result<Vec<u8>, String> {
    let mut second = with_will(context, id, true, topic, b"second", &[], &[])?;
    second.send(&v5_wire::disconnect(0x04, &[])?)?;
    second.drop_connection();
    let bytes = next_delivery(watcher)?;
    Ok(topic_and_payload(&bytes)?.1)
}

fn disconnect_normal_discards_will(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("will");
    let id = context.client_id();
    let mut watcher = subscriber(context, &topic, options(1, false, false, 0))?;
    let mut client = with_will(context, &id, true, &topic, b"first", &[], &[])?;
    client.send(&v5_wire::disconnect(0x00, &[])?)?;
    client.drop_connection();
    let first = first_will_after(context, &mut watcher, &id, &topic)?;
    watcher.disconnect()?;
    match first.as_slice() {
        b"second" => Ok(Verdict::Pass),
        b"first" => Err("the Will was published after DISCONNECT 0x00".to_owned()),
        other => Err(format!("unexpected '{}'", String::from_utf8_lossy(other))),
    }
}

fn disconnect_with_will(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("will");
    let mut watcher = subscriber(context, &topic, options(1, false, true, 0))?;
    let mut client = with_will(
        context,
        &context.client_id(),
        true,
        &topic,
        b"asked",
        &[],
        &[],
    )?;
    client.send(&v5_wire::disconnect(0x04, &[])?)?;
    client.drop_connection();
    let bytes = expect_payload(&mut watcher, b"asked")
        .map_err(|error| format!("after DISCONNECT 0x04: {error}"))?;
    // Retain As Published on the watcher's subscription shows the Will's own RETAIN flag.
    if delivery(&bytes)?.retain {
        return Err("a Will without Will Retain was published retained".to_owned());
    }
    watcher.disconnect()?;
    Ok(Verdict::Pass)
}

fn will_delay_elapsed(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("delayed");
    let id = context.client_id();
    let mut watcher = subscriber(context, &topic, options(1, false, false, 0))?;
    let client = with_will(
        context,
        &id,
        true,
        &topic,
        b"late",
        &[Property::SessionExpiryInterval(30)],
        &[Property::WillDelayInterval(1)],
    )?;
    let dropped = Instant::now();
    client.drop_connection();
    expect_payload_within(&mut watcher, b"late", Duration::from_secs(1))?;
    let elapsed = dropped.elapsed();
    watcher.disconnect()?;
    end_session(context, &id)?;
    // The Will is about time: it must not come before its delay (a little slack for the clocks).
    if elapsed < Duration::from_millis(900) {
        return Err(format!(
            "Will Delay 1 s, and the Will came after {elapsed:?}"
        ));
    }
    Ok(Verdict::Pass)
}

/// As [`expect_payload`], allowing `extra` beyond the run's timeout.
fn expect_payload_within(
    client: &mut TestClient,
    payload: &[u8],
    extra: Duration,
) -> Result<Vec<u8>, String> {
    let frame = client
        .next_within(client.timeout() + extra)?
        .ok_or_else(|| "no Will within the delay and the timeout".to_owned())?;
    client.acknowledge(&frame)?;
    let bytes = v5_wire::bytes_of(&frame);
    let (_, got) = topic_and_payload(&bytes)?;
    if got != payload {
        return Err(format!("unexpected '{}'", String::from_utf8_lossy(&got)));
    }
    Ok(bytes)
}

fn will_delay_reconnect(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("delayed");
    let id = context.client_id();
    let mut watcher = subscriber(context, &topic, options(1, false, false, 0))?;
    let mut client = with_will(
        context,
        &id,
        true,
        &topic,
        b"first",
        &[Property::SessionExpiryInterval(30)],
        &[Property::WillDelayInterval(5)],
    )?;
    // DISCONNECT 0x04 keeps the Will, to be sent after its delay, and ends the connection in order:
    // the server has finished with it before it reads the next CONNECT for the same identifier
    // (a dropped socket it might notice only after, making the return a take-over).
    client.send(&v5_wire::disconnect(0x04, &[])?)?;
    client.drop_connection();
    // Back soon, well within the 5 s delay; Clean Start 0 returns to the session. Not at once: a
    // server that ignored the delay would publish the Will on the close, and a return that
    // arrives in the same instant can race that publication (seen with mosquitto behind the
    // fault relay on a loaded machine), hiding the fault. Nothing can be awaited instead: a
    // correct server shows nothing until the delay ends.
    std::thread::sleep(Duration::from_millis(300));
    let back = connect(
        context,
        &id,
        false,
        &[Property::SessionExpiryInterval(30)],
        None,
    )?;
    back.client.disconnect()?;
    let first = first_will_after(context, &mut watcher, &id, &topic)?;
    watcher.disconnect()?;
    end_session(context, &id)?;
    match first.as_slice() {
        b"second" => Ok(Verdict::Pass),
        b"first" => Err(
            "the Will was published though the client came back within its Will Delay".to_owned(),
        ),
        other => Err(format!("unexpected '{}'", String::from_utf8_lossy(other))),
    }
}

fn will_properties_forwarded(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("will");
    let sent = [
        ("reason", "power"),
        ("site", "north"),
        ("reason", "battery"),
    ];
    let mut properties: Vec<Property<'_>> = sent
        .iter()
        .map(|(name, value)| Property::UserProperty(name, value))
        .collect();
    properties.push(Property::ContentType("text/plain"));
    let mut watcher = subscriber(context, &topic, options(1, false, false, 0))?;
    let client = with_will(
        context,
        &context.client_id(),
        true,
        &topic,
        b"gone",
        &[],
        &properties,
    )?;
    client.drop_connection();
    let bytes = expect_payload(&mut watcher, b"gone")?;
    let will = delivery(&bytes)?;
    let got: Vec<(&str, &str)> = will.properties.user_properties().collect();
    let content_type = will.properties.content_type();
    watcher.disconnect()?;
    if got != sent || content_type != Some("text/plain") {
        return Err(format!(
            "Will sent with {sent:?} and text/plain, delivered with {got:?} and {content_type:?}"
        ));
    }
    Ok(Verdict::Pass)
}

fn will_retained(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("will");
    let will = WillSpec {
        topic: &topic,
        payload: b"kept",
        qos: 1,
        retain: true,
        properties: &[],
    };
    let mut watcher = subscriber(context, &topic, options(1, false, false, 0))?;
    let client = connect(context, &context.client_id(), true, &[], Some(will))?.client;
    client.drop_connection();
    expect_payload(&mut watcher, b"kept")?;
    watcher.disconnect()?;
    // A later subscriber: the retained Will, or (if it was not retained) a sentinel sent after.
    let mut later = subscriber(context, &topic, options(1, false, false, 0))?;
    let mut sender = crate::checks::v5_common::clean(context, &context.client_id())?;
    crate::checks::v5_common::publish(&mut sender, &topic, 1, false, b"sentinel", &[])?;
    let bytes = next_delivery(&mut later)?;
    let (_, payload) = topic_and_payload(&bytes)?;
    let retained = delivery(&bytes)?.retain;
    crate::checks::v5_common::publish(&mut sender, &topic, 1, true, b"", &[])?;
    later.disconnect()?;
    sender.disconnect()?;
    if payload != b"kept" || !retained {
        return Err(format!(
            "a later subscriber first got '{}' (RETAIN {}), not the retained Will",
            String::from_utf8_lossy(&payload),
            u8::from(retained)
        ));
    }
    Ok(Verdict::Pass)
}

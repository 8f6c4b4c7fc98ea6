//! MQTT 5.0 SUBSCRIBE and UNSUBSCRIBE (5.0 §3.8 to §3.11): reason codes, the subscription options
//! No Local, Retain As Published and Retain Handling, and Subscription Identifiers.

use mqtt_codec::v5::{Packet, Property, ReasonCode};

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::v5_common::{
    clean, connect, deliveries_before_ping, delivery, expect_error_close, expect_payload, granted,
    next_delivery, publish, subscribe, subscriber, topic_and_payload,
};
use crate::client::TestClient;
use crate::v5_wire::{self, handling, options};
use crate::wire::{self, kind};

const SECTION: &str = "MQTT5 3.8 SUBSCRIBE";
const SECTION_UNSUBSCRIBE: &str = "MQTT5 3.10 UNSUBSCRIBE";

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "v5-suback-reason-codes",
        section: SECTION,
        ids: &[
            "MQTT5-3.8.4-1",
            "MQTT5-3.8.4-2",
            "MQTT5-3.8.4-5",
            "MQTT5-3.8.4-6",
            "MQTT5-3.8.4-7",
            "MQTT5-3.9.3-1",
            "MQTT5-3.9.3-2",
            "MQTT5-2.2.1-6",
        ],
        summary: "one SUBSCRIBE of three filters at QoS 0, 1, 2 is answered by one SUBACK granting each at most its QoS, in order",
        applies: Applies::V5,
        run: suback_reason_codes,
    },
    Check {
        name: "v5-unsuback-reason-codes",
        section: SECTION_UNSUBSCRIBE,
        ids: &[
            "MQTT5-3.10.4-4",
            "MQTT5-3.10.4-5",
            "MQTT5-3.10.4-6",
            "MQTT5-3.11.3-1",
            "MQTT5-3.11.3-2",
        ],
        summary: "UNSUBSCRIBE of a held and an unknown filter is answered 0x00 then 0x11 (No subscription existed)",
        applies: Applies::V5,
        run: unsuback_reason_codes,
    },
    Check {
        name: "v5-unsubscribe-stops-delivery",
        section: SECTION_UNSUBSCRIBE,
        ids: &["MQTT5-3.10.4-1", "MQTT5-3.10.4-2"],
        summary: "after UNSUBACK, messages to the filter are no longer delivered",
        applies: Applies::V5,
        run: unsubscribe_stops_delivery,
    },
    Check {
        name: "v5-wildcards",
        section: SECTION,
        ids: &[
            "MQTT5-4.7.1-1",
            "MQTT5-4.7.1-2",
            "MQTT5-3.3.2-3",
            "MQTT5-4.7.3-4",
        ],
        summary: "'+' matches one level and '#' the rest, and deliveries carry the topic as published",
        applies: Applies::V5,
        run: wildcards,
    },
    Check {
        name: "v5-invalid-filters-refused",
        section: SECTION,
        ids: &["MQTT5-4.7.1-1", "MQTT5-4.7.1-2", "MQTT5-4.8.2-2"],
        summary: "filters a/#/b, a+/b and $share/a+b/c get SUBACK 0x8F (or another failure), or the connection is closed",
        applies: Applies::V5,
        run: invalid_filters_refused,
    },
    Check {
        name: "v5-shared-subscription",
        section: SECTION,
        ids: &["MQTT5-4.8.2-1", "MQTT5-4.8.2-3"],
        summary: "two members of one $share group receive each message once between them, at their granted QoS",
        applies: Applies::V5,
        run: shared_subscription,
    },
    Check {
        name: "v5-no-local",
        section: SECTION,
        ids: &["MQTT5-3.8.3-3"],
        summary: "with No Local, a client's own message is not sent back to it, while another client's is",
        applies: Applies::V5,
        run: no_local,
    },
    Check {
        name: "v5-shared-no-local-refused",
        section: SECTION,
        ids: &["MQTT5-3.8.3-4", "MQTT5-4.13.1-1"],
        summary: "No Local on a Shared Subscription is a Protocol Error: the connection is closed",
        applies: Applies::V5,
        run: shared_no_local_refused,
    },
    Check {
        name: "v5-retain-as-published",
        section: SECTION,
        ids: &["MQTT5-3.3.1-12", "MQTT5-3.3.1-13"],
        summary: "a live retained message is forwarded with RETAIN 1 under Retain As Published, with RETAIN 0 without it",
        applies: Applies::V5,
        run: retain_as_published,
    },
    Check {
        name: "v5-retain-handling-send",
        section: SECTION,
        ids: &["MQTT5-3.3.1-9", "MQTT5-3.8.4-3", "MQTT5-3.8.4-4"],
        summary: "Retain Handling 0 sends the retained message on every SUBSCRIBE, a repeated one included",
        applies: Applies::V5,
        run: retain_handling_send,
    },
    Check {
        name: "v5-retain-handling-if-new",
        section: SECTION,
        ids: &["MQTT5-3.3.1-10"],
        summary: "Retain Handling 1 sends the retained message for a new subscription only, not on a repeated SUBSCRIBE",
        applies: Applies::V5,
        run: retain_handling_if_new,
    },
    Check {
        name: "v5-retain-handling-none",
        section: SECTION,
        ids: &["MQTT5-3.3.1-11"],
        summary: "Retain Handling 2 sends no retained message",
        applies: Applies::V5,
        run: retain_handling_none,
    },
    Check {
        name: "v5-subscription-identifier",
        section: SECTION,
        ids: &["MQTT5-3.3.4-3"],
        summary: "a subscription made with Subscription Identifier 7 delivers with Subscription Identifier 7",
        applies: Applies::V5,
        run: subscription_identifier,
    },
    Check {
        name: "v5-subscription-identifiers-overlapping",
        section: SECTION,
        ids: &["MQTT5-3.3.4-3", "MQTT5-3.3.4-4", "MQTT5-3.3.4-5"],
        summary: "a message matching two subscriptions (identifiers 7 and 9) carries both in one copy, or each in its own copy",
        applies: Applies::V5,
        run: subscription_identifiers_overlapping,
    },
    Check {
        name: "v5-overlapping-highest-qos",
        section: SECTION,
        ids: &["MQTT5-3.3.4-2"],
        summary: "a QoS 2 message matching a client's QoS 0 and QoS 2 subscriptions reaches it at QoS 2 (any further copy at most at QoS 2)",
        applies: Applies::V5,
        run: overlapping_highest_qos,
    },
    Check {
        name: "v5-unsubscribe-completes-inflight",
        section: SECTION_UNSUBSCRIBE,
        ids: &["MQTT5-3.10.4-3"],
        summary: "a QoS 2 delivery received before UNSUBSCRIBE is still completed after UNSUBACK: its PUBREC gets PUBREL",
        applies: Applies::V5,
        run: unsubscribe_completes_inflight,
    },
];

fn suback_reason_codes(context: &Context) -> Result<Verdict, String> {
    let mut client = clean(context, &context.client_id())?;
    let (a, b, c) = (context.topic("a"), context.topic("b"), context.topic("c"));
    let codes = subscribe(
        &mut client,
        0x0A0B,
        &[
            (&a, options(0, false, false, 0)),
            (&b, options(1, false, false, 0)),
            (&c, options(2, false, false, 0)),
        ],
        &[],
    )?;
    if codes.len() != 3 {
        return Err(format!("{} reason codes for 3 filters", codes.len()));
    }
    for (requested, code) in codes.iter().enumerate() {
        let allowed = ReasonCode::from_byte(*code).allowed_in(mqtt_codec::PacketType::SubAck);
        if !allowed || (*code < 0x80 && usize::from(*code) > requested) {
            return Err(format!(
                "SUBACK codes {codes:02x?} for QoS 0, 1, 2: a code grants more than was asked, or is not a SUBACK code"
            ));
        }
    }
    client.disconnect()?;
    Ok(Verdict::Pass)
}

fn unsuback_reason_codes(context: &Context) -> Result<Verdict, String> {
    let mut client = clean(context, &context.client_id())?;
    let (held, unknown) = (context.topic("held"), context.topic("unknown"));
    granted(&subscribe(
        &mut client,
        1,
        &[(&held, options(1, false, false, 0))],
        &[],
    )?)?;
    client.send(&v5_wire::unsubscribe(0x0C0D, &[&held, &unknown])?)?;
    let frame = client.expect(kind::UNSUBACK)?;
    let bytes = v5_wire::bytes_of(&frame);
    let Packet::UnsubAck(unsuback) = v5_wire::decode(&bytes)? else {
        return Err("expected UNSUBACK".to_owned());
    };
    if unsuback.packet_id.get() != 0x0C0D {
        return Err(format!("UNSUBACK for {}", unsuback.packet_id.get()));
    }
    let codes: Vec<u8> = unsuback.reason_codes.iter().map(ReasonCode::get).collect();
    if codes != [0x00, 0x11] {
        return Err(format!(
            "UNSUBACK codes {codes:02x?} for a held and an unknown filter, expected [00, 11]"
        ));
    }
    client.disconnect()?;
    Ok(Verdict::Pass)
}

fn no_local(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("local");
    let mut own = clean(context, &context.client_id())?;
    granted(&subscribe(
        &mut own,
        1,
        &[(&topic, options(1, true, false, 0))],
        &[],
    )?)?;
    // Acknowledged, the message has been added to every matching session [MQTT5-4.5.0-1]; the
    // other client's sentinel is published only then, so it comes second to any copy of it.
    publish(&mut own, &topic, 1, false, b"mine", &[])?;
    let mut other = clean(context, &context.client_id())?;
    publish(&mut other, &topic, 1, false, b"theirs", &[])?;
    let bytes = next_delivery(&mut own)?;
    let (_, payload) = topic_and_payload(&bytes)?;
    own.disconnect()?;
    other.disconnect()?;
    match payload.as_slice() {
        b"theirs" => Ok(Verdict::Pass),
        b"mine" => Err("with No Local, the client's own message came back to it".to_owned()),
        other => Err(format!("unexpected '{}'", String::from_utf8_lossy(other))),
    }
}

fn shared_no_local_refused(context: &Context) -> Result<Verdict, String> {
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    if connected.property(|properties| properties.shared_subscription_available())? == Some(0) {
        connected.client.disconnect()?;
        return Ok(Verdict::Skip(
            "the server has no shared subscriptions".to_owned(),
        ));
    }
    let mut client = connected.client;
    let filter = format!("$share/g{}/{}", context.prefix, context.topic("shared"));
    // The codec refuses to write this SUBSCRIBE [MQTT5-3.8.3-4]: packet identifier 1, no
    // properties, the filter, options QoS 1 with No Local.
    let mut body = vec![0x00, 0x01, 0x00];
    body.extend(wire::field(filter.as_bytes()));
    body.push(options(1, true, false, 0));
    client.send(&wire::packet(0x82, &body))?;
    expect_error_close(&mut client).map_err(|error| format!("No Local on {filter}: {error}"))?;
    Ok(Verdict::Pass)
}

fn retain_as_published(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("rap");
    let mut keeps = subscriber(context, &topic, options(1, false, true, handling::SEND))?;
    let mut clears = subscriber(context, &topic, options(1, false, false, handling::SEND))?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, true, b"live", &[])?;
    let kept = expect_payload(&mut keeps, b"live");
    let cleared = expect_payload(&mut clears, b"live");
    publish(&mut sender, &topic, 1, true, b"", &[])?;
    let (kept, cleared) = (delivery(&kept?)?.retain, delivery(&cleared?)?.retain);
    keeps.disconnect()?;
    clears.disconnect()?;
    sender.disconnect()?;
    match (kept, cleared) {
        (true, false) => Ok(Verdict::Pass),
        _ => Err(format!(
            "RETAIN {} with Retain As Published, {} without (expected 1 and 0)",
            u8::from(kept),
            u8::from(cleared)
        )),
    }
}

/// A retained message on a fresh topic, and its publisher (which removes it with [`unretain`]).
fn with_retained(context: &Context, name: &str) -> Result<(String, TestClient), String> {
    let topic = context.topic(name);
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, true, b"retained", &[])?;
    Ok((topic, sender))
}

fn unretain(mut sender: TestClient, topic: &str) -> Result<(), String> {
    publish(&mut sender, topic, 1, true, b"", &[])?;
    sender.disconnect()
}

/// Subscribes with `options`, then has the publisher send a live sentinel: the first delivery is
/// the retained message if the server sent it, the sentinel if it did not. A PINGREQ between the
/// SUBACK and the sentinel lets a server that sends retained messages just after its SUBACK do so
/// before the sentinel is even published: the order of a retained copy and a live message from
/// another connection is not what is checked.
fn retained_sent_on_subscribe(
    client: &mut TestClient,
    sender: &mut TestClient,
    topic: &str,
    id: u16,
    options_byte: u8,
) -> Result<bool, String> {
    granted(&subscribe(client, id, &[(topic, options_byte)], &[])?)?;
    let early = deliveries_before_ping(client)?;
    publish(sender, topic, 1, false, b"sentinel", &[])?;
    let bytes = match early.into_iter().next() {
        Some(bytes) => bytes,
        None => next_delivery(client)?,
    };
    let (_, payload) = topic_and_payload(&bytes)?;
    match payload.as_slice() {
        b"retained" => {
            // The sentinel follows; take it so the next subscription starts afresh.
            expect_payload(client, b"sentinel")?;
            Ok(true)
        }
        b"sentinel" => Ok(false),
        other => Err(format!("unexpected '{}'", String::from_utf8_lossy(other))),
    }
}

fn retain_handling_send(context: &Context) -> Result<Verdict, String> {
    let (topic, mut sender) = with_retained(context, "rh0")?;
    let mut client = clean(context, &context.client_id())?;
    let first = retained_sent_on_subscribe(
        &mut client,
        &mut sender,
        &topic,
        1,
        options(1, false, false, handling::SEND),
    );
    let again = retained_sent_on_subscribe(
        &mut client,
        &mut sender,
        &topic,
        2,
        options(1, false, false, handling::SEND),
    );
    client.disconnect()?;
    unretain(sender, &topic)?;
    match (first?, again?) {
        (true, true) => Ok(Verdict::Pass),
        (first, again) => Err(format!(
            "Retain Handling 0: retained message sent on the first SUBSCRIBE: {first}, on the repeated one: {again}"
        )),
    }
}

fn retain_handling_if_new(context: &Context) -> Result<Verdict, String> {
    let (topic, mut sender) = with_retained(context, "rh1")?;
    let mut client = clean(context, &context.client_id())?;
    let option = options(1, false, false, handling::SEND_IF_NEW);
    let first = retained_sent_on_subscribe(&mut client, &mut sender, &topic, 1, option);
    let again = retained_sent_on_subscribe(&mut client, &mut sender, &topic, 2, option);
    client.disconnect()?;
    unretain(sender, &topic)?;
    match (first?, again?) {
        (true, false) => Ok(Verdict::Pass),
        (first, again) => Err(format!(
            "Retain Handling 1: retained message sent for the new subscription: {first}, for the existing one: {again}"
        )),
    }
}

fn retain_handling_none(context: &Context) -> Result<Verdict, String> {
    let (topic, mut sender) = with_retained(context, "rh2")?;
    let mut client = clean(context, &context.client_id())?;
    let sent = retained_sent_on_subscribe(
        &mut client,
        &mut sender,
        &topic,
        1,
        options(1, false, false, handling::DO_NOT_SEND),
    );
    client.disconnect()?;
    unretain(sender, &topic)?;
    if sent? {
        return Err("Retain Handling 2, and the retained message was sent".to_owned());
    }
    Ok(Verdict::Pass)
}

/// A clean connection, or a skip when its CONNACK says Subscription Identifiers are not available.
fn identifying(context: &Context) -> Result<Result<TestClient, Verdict>, String> {
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    if connected.property(|properties| properties.subscription_identifier_available())? == Some(0) {
        connected.client.disconnect()?;
        return Ok(Err(Verdict::Skip(
            "the server has no Subscription Identifiers".to_owned(),
        )));
    }
    Ok(Ok(connected.client))
}

fn subscription_identifier(context: &Context) -> Result<Verdict, String> {
    let mut client = match identifying(context)? {
        Ok(client) => client,
        Err(skip) => return Ok(skip),
    };
    let topic = context.topic("identified");
    granted(&subscribe(
        &mut client,
        1,
        &[(&topic, options(1, false, false, 0))],
        &[Property::SubscriptionIdentifier(7)],
    )?)?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, b"x", &[])?;
    let bytes = expect_payload(&mut client, b"x")?;
    let ids: Vec<u32> = delivery(&bytes)?
        .properties
        .subscription_identifiers()
        .collect();
    client.disconnect()?;
    sender.disconnect()?;
    if ids != [7] {
        return Err(format!(
            "delivered with Subscription Identifiers {ids:?}, expected [7]"
        ));
    }
    Ok(Verdict::Pass)
}

fn subscription_identifiers_overlapping(context: &Context) -> Result<Verdict, String> {
    let mut client = match identifying(context)? {
        Ok(client) => client,
        Err(skip) => return Ok(skip),
    };
    let topic = context.topic("both");
    let wildcard = format!("{}/+", topic.rsplit_once('/').map_or("", |(head, _)| head));
    granted(&subscribe(
        &mut client,
        1,
        &[(&wildcard, options(1, false, false, 0))],
        &[Property::SubscriptionIdentifier(7)],
    )?)?;
    granted(&subscribe(
        &mut client,
        2,
        &[(&topic, options(1, false, false, 0))],
        &[Property::SubscriptionIdentifier(9)],
    )?)?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, b"x", &[])?;
    let mut copies = vec![next_delivery(&mut client)?];
    copies.extend(deliveries_before_ping(&mut client)?);
    let mut seen: Vec<Vec<u32>> = Vec::new();
    for bytes in &copies {
        let mut ids: Vec<u32> = delivery(bytes)?
            .properties
            .subscription_identifiers()
            .collect();
        ids.sort_unstable();
        seen.push(ids);
    }
    seen.sort();
    client.disconnect()?;
    sender.disconnect()?;
    if seen == [vec![7, 9]] || seen == [vec![7], vec![9]] {
        Ok(Verdict::Pass)
    } else {
        Err(format!(
            "copies carried Subscription Identifiers {seen:?}: expected one copy with 7 and 9, or one with each"
        ))
    }
}

fn unsubscribe_stops_delivery(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("stopped");
    let mut client = subscriber(context, &topic, options(1, false, false, 0))?;
    client.send(&v5_wire::unsubscribe(2, &[&topic])?)?;
    client.expect(kind::UNSUBACK)?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, b"after", &[])?;
    let arrived = deliveries_before_ping(&mut client)?;
    client.disconnect()?;
    sender.disconnect()?;
    if !arrived.is_empty() {
        return Err("a message was delivered after UNSUBACK".to_owned());
    }
    Ok(Verdict::Pass)
}

fn wildcards(context: &Context) -> Result<Verdict, String> {
    let base = context.topic("w");
    let mut client = clean(context, &context.client_id())?;
    let (plus, hash) = (format!("{base}/+/c"), format!("{base}/x/#"));
    granted(&subscribe(
        &mut client,
        1,
        &[
            (&plus, options(1, false, false, 0)),
            (&hash, options(1, false, false, 0)),
        ],
        &[],
    )?)?;
    let mut sender = clean(context, &context.client_id())?;
    // Matching: plus only, hash only, hash at its parent level; then no match, then a sentinel.
    let sent = [
        format!("{base}/b/c"),
        format!("{base}/x/y/z"),
        format!("{base}/x"),
        format!("{base}/b/b/c"),
        format!("{base}/b/c"),
    ];
    for (n, topic) in sent.iter().enumerate() {
        publish(&mut sender, topic, 1, false, &[b'0' + n as u8], &[])?;
    }
    let mut got = Vec::new();
    loop {
        let bytes = next_delivery(&mut client)?;
        let (topic, payload) = topic_and_payload(&bytes)?;
        got.push((topic, payload.clone()));
        if payload == b"4" {
            break;
        }
    }
    client.disconnect()?;
    sender.disconnect()?;
    let wanted: Vec<(String, Vec<u8>)> = [0usize, 1, 2, 4]
        .iter()
        .map(|n| (sent[*n].clone(), vec![b'0' + *n as u8]))
        .collect();
    if got != wanted {
        return Err(format!(
            "with {plus} and {hash}, got {got:?}, expected {wanted:?}"
        ));
    }
    Ok(Verdict::Pass)
}

fn invalid_filters_refused(context: &Context) -> Result<Verdict, String> {
    let base = context.topic("bad");
    for filter in [
        format!("{base}/#/b"),
        format!("{base}/a+/b"),
        format!("$share/a+b/{base}"),
    ] {
        let mut client = clean(context, &context.client_id())?;
        // Written out: the codec refuses to write these filters.
        let mut body = vec![0x00, 0x01, 0x00];
        body.extend(wire::field(filter.as_bytes()));
        body.push(0x01);
        client.send(&wire::packet(0x82, &body))?;
        match client.next_within(client.timeout()) {
            // Closed: a Malformed Packet, with or without DISCONNECT first.
            Err(_) => continue,
            Ok(Some(frame)) if frame.kind() == kind::DISCONNECT => {
                client.expect_closed(&[])?;
            }
            Ok(Some(frame)) if frame.kind() == kind::SUBACK => {
                let bytes = v5_wire::bytes_of(&frame);
                let Packet::SubAck(suback) = v5_wire::decode(&bytes)? else {
                    return Err("expected SUBACK".to_owned());
                };
                let codes: Vec<ReasonCode> = suback.reason_codes.iter().collect();
                if !matches!(codes.as_slice(), [code] if code.is_failure()) {
                    return Err(format!("{filter} was granted: SUBACK {codes:?}"));
                }
                client.disconnect()?;
            }
            Ok(Some(frame)) => return Err(format!("{filter}: unexpected {}", frame.describe())),
            Ok(None) => return Err(format!("{filter}: no SUBACK and the connection open")),
        }
    }
    Ok(Verdict::Pass)
}

fn shared_subscription(context: &Context) -> Result<Verdict, String> {
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    if connected.property(|properties| properties.shared_subscription_available())? == Some(0) {
        connected.client.disconnect()?;
        return Ok(Verdict::Skip(
            "the server has no shared subscriptions".to_owned(),
        ));
    }
    connected.client.disconnect()?;
    let topic = context.topic("shared");
    let filter = format!("$share/g{}/{topic}", context.prefix);
    let mut members = [
        subscriber(context, &filter, options(1, false, false, 0))?,
        subscriber(context, &filter, options(0, false, false, 0))?,
    ];
    let mut sender = clean(context, &context.client_id())?;
    for n in 0..6u8 {
        publish(&mut sender, &topic, 1, false, &[b'0' + n], &[])?;
    }
    let mut got = Vec::new();
    for (index, member) in members.iter_mut().enumerate() {
        for frame in member.ping()? {
            if frame.kind() != kind::PUBLISH {
                return Err(format!("unexpected {}", frame.describe()));
            }
            member.acknowledge(&frame)?;
            // The second member was granted QoS 0 at most [MQTT5-4.8.2-3].
            if index == 1 && frame.qos() != 0 {
                return Err(format!("a QoS 0 member got {}", frame.describe()));
            }
            let bytes = v5_wire::bytes_of(&frame);
            got.extend(delivery(&bytes)?.payload.iter().copied());
        }
    }
    let [first, second] = members;
    first.disconnect()?;
    second.disconnect()?;
    sender.disconnect()?;
    got.sort_unstable();
    if got != b"012345" {
        return Err(format!(
            "six messages reached the group as {}: each should arrive once",
            String::from_utf8_lossy(&got)
        ));
    }
    Ok(Verdict::Pass)
}

fn overlapping_highest_qos(context: &Context) -> Result<Verdict, String> {
    let base = context.topic("overlap");
    let topic = format!("{base}/x");
    let mut client = clean(context, &context.client_id())?;
    // The QoS 0 subscription first, so that a server keeping only the first one fails.
    granted(&subscribe(
        &mut client,
        1,
        &[
            (&format!("{base}/#"), options(0, false, false, 0)),
            (&topic, options(2, false, false, 0)),
        ],
        &[],
    )?)?;
    let mut sender = clean(context, &context.client_id())?;
    crate::checks::v5_qos::publish_qos2(&mut sender, &topic, 1, b"both", &[])?;
    let frames = client.ping()?;
    for frame in &frames {
        client.acknowledge(frame)?;
    }
    client.disconnect()?;
    sender.disconnect()?;
    let qos: Vec<u8> = frames
        .iter()
        .filter(|frame| frame.kind() == kind::PUBLISH)
        .map(wire::Frame::qos)
        .collect();
    if qos.iter().max() != Some(&2) {
        return Err(format!(
            "subscribed at QoS 0 and 2, the QoS 2 message arrived at QoS {qos:?}"
        ));
    }
    Ok(Verdict::Pass)
}

fn unsubscribe_completes_inflight(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("leaving");
    let mut client = subscriber(context, &topic, options(2, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    crate::checks::v5_qos::publish_qos2(&mut sender, &topic, 1, b"started", &[])?;
    sender.disconnect()?;
    let frame = client.expect(kind::PUBLISH)?;
    let Some(id) = frame.packet_id_of_publish() else {
        return Err(format!("a QoS 2 delivery as {}", frame.describe()));
    };
    client.send(&v5_wire::unsubscribe(2, &[&topic])?)?;
    client.wait_for(kind::UNSUBACK)?;
    client.send(&wire::with_id(0x50, id))?;
    let rel = client
        .wait_for(kind::PUBREL)
        .map_err(|error| format!("the PUBREC after UNSUBACK: {error}"))?;
    if rel.packet_id() != Some(id) {
        return Err(format!("{} answering PUBREC {id}", rel.describe()));
    }
    client.send(&wire::with_id(0x70, id))?;
    client.disconnect()?;
    Ok(Verdict::Pass)
}

//! MQTT 5.0 PUBLISH and its acknowledgements (5.0 §3.3 to §3.7): reason codes, the properties a
//! server forwards unaltered (user properties, request/response, content type), Message Expiry,
//! and Topic Aliases in both directions.

use std::time::Duration;

use mqtt_codec::v5::{Packet, Property, ReasonCode};

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::v5_common::{
    self, Watched5, clean, connect, delivery, end_session, expect_error_close, expect_payload,
    granted, next_delivery, publish, subscribe, subscriber,
};
use crate::client::TestClient;
use crate::v5_wire::{self, options};
use crate::wire::{self, kind};

const SECTION: &str = "MQTT5 3.3 PUBLISH";
const SECTION_ACKS: &str = "MQTT5 3.4 PUBACK to 3.7 PUBCOMP";

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "v5-puback-success",
        section: SECTION_ACKS,
        ids: &["MQTT5-3.4.2-1", "MQTT5-4.3.2-4", "MQTT5-2.2.1-5"],
        summary: "a QoS 1 PUBLISH with a subscriber is answered by PUBACK 0x00 with its Packet Identifier",
        applies: Applies::V5,
        run: puback_success,
    },
    Check {
        name: "v5-qos2-flow",
        section: SECTION_ACKS,
        ids: &[
            "MQTT5-3.5.2-1",
            "MQTT5-3.7.2-1",
            "MQTT5-4.3.3-8",
            "MQTT5-4.3.3-11",
            "MQTT5-2.2.1-5",
            "MQTT5-3.6.2-1",
            "MQTT5-4.3.3-4",
        ],
        summary: "QoS 2: PUBREC with a success code, then PUBCOMP 0x00, each with the PUBLISH's identifier; the server's PUBREL to the subscriber is well-formed",
        applies: Applies::V5,
        run: qos2_flow,
    },
    Check {
        name: "v5-delivery-qos-and-dup",
        section: SECTION,
        ids: &[
            "MQTT5-4.3.1-1",
            "MQTT5-4.3.2-2",
            "MQTT5-4.3.3-2",
            "MQTT5-3.3.1-2",
            "MQTT5-3.3.4-1",
            "MQTT5-3.8.4-8",
            "MQTT5-2.2.1-2",
        ],
        summary: "messages at QoS 0, 1, 2 reach a QoS 2 subscription at their QoS with DUP 0, and a QoS 0 one at QoS 0",
        applies: Applies::V5,
        run: delivery_qos_and_dup,
    },
    Check {
        name: "v5-ordered-delivery",
        section: SECTION,
        ids: &["MQTT5-4.6.0-5", "MQTT5-4.6.0-6"],
        summary: "ten QoS 1 messages of one publisher on one topic arrive in the order published",
        applies: Applies::V5,
        run: ordered_delivery,
    },
    Check {
        name: "v5-packet-id-reuse",
        section: SECTION_ACKS,
        ids: &["MQTT5-4.3.2-5", "MQTT5-4.3.3-12"],
        summary: "a Packet Identifier used again after its PUBACK or PUBCOMP starts a new message",
        applies: Applies::V5,
        run: packet_id_reuse,
    },
    Check {
        name: "v5-qos2-duplicate-delivered-once",
        section: SECTION_ACKS,
        ids: &["MQTT5-4.3.3-10"],
        summary: "a QoS 2 PUBLISH sent again (DUP) before PUBREL gets PUBREC again and is delivered once",
        applies: Applies::V5,
        run: qos2_duplicate_delivered_once,
    },
    Check {
        name: "v5-redelivery-on-reconnect",
        section: SECTION,
        ids: &["MQTT5-4.4.0-1", "MQTT5-3.3.1-1", "MQTT5-4.3.2-3"],
        summary: "an unacknowledged QoS 1 delivery is sent again, with DUP 1 and its identifier, when the session returns",
        applies: Applies::V5,
        run: redelivery_on_reconnect,
    },
    Check {
        name: "v5-retained-lifecycle",
        section: SECTION,
        ids: &[
            "MQTT5-3.3.1-5",
            "MQTT5-3.3.1-6",
            "MQTT5-3.3.1-7",
            "MQTT5-3.3.1-8",
        ],
        summary: "a retained message replaces the last, a non-retained one leaves it, an empty one removes it",
        applies: Applies::V5,
        run: retained_lifecycle,
    },
    Check {
        name: "v5-publish-subscription-identifier",
        section: SECTION,
        ids: &["MQTT5-3.3.4-6", "MQTT5-4.13.1-1"],
        summary: "a client PUBLISH carrying a Subscription Identifier is a Protocol Error: closed",
        applies: Applies::V5,
        run: publish_subscription_identifier,
    },
    Check {
        name: "v5-user-properties-forwarded",
        section: SECTION,
        ids: &["MQTT5-3.3.2-17", "MQTT5-3.3.2-18"],
        summary: "User Properties reach the subscriber unaltered and in their order, a repeated name included",
        applies: Applies::V5,
        run: user_properties_forwarded,
    },
    Check {
        name: "v5-message-properties-forwarded",
        section: SECTION,
        ids: &[
            "MQTT5-3.3.2-4",
            "MQTT5-3.3.2-15",
            "MQTT5-3.3.2-16",
            "MQTT5-3.3.2-20",
        ],
        summary: "Payload Format Indicator, Content Type, Response Topic and Correlation Data (a request) reach the responder unaltered",
        applies: Applies::V5,
        run: message_properties_forwarded,
    },
    Check {
        name: "v5-message-expiry-forwarded",
        section: SECTION,
        ids: &["MQTT5-3.3.2-6"],
        summary: "a retained message with Message Expiry 60 reaches a later subscriber with an interval from 1 to 60",
        applies: Applies::V5,
        run: message_expiry_forwarded,
    },
    Check {
        name: "v5-message-expired-not-delivered",
        section: SECTION,
        ids: &["MQTT5-3.3.2-5"],
        summary: "a message queued for an offline session and expired before it returns is not delivered; the one after it is",
        applies: Applies::V5,
        run: message_expired_not_delivered,
    },
    Check {
        name: "v5-topic-alias-inbound",
        section: SECTION,
        ids: &["MQTT5-3.3.2-12", "MQTT5-3.3.2-3"],
        summary: "a Topic Alias set by a PUBLISH with a topic is honoured by a later PUBLISH with an empty topic",
        applies: Applies::V5,
        run: topic_alias_inbound,
    },
    Check {
        name: "v5-topic-alias-not-carried",
        section: SECTION,
        ids: &["MQTT5-3.3.2-7", "MQTT5-4.13.1-1"],
        summary: "an alias set on one connection means nothing on the next: using it is a Protocol Error",
        applies: Applies::V5,
        run: topic_alias_not_carried,
    },
    Check {
        name: "v5-topic-alias-over-maximum",
        section: SECTION,
        ids: &[
            "MQTT5-3.2.2-17",
            "MQTT5-3.2.2-18",
            "MQTT5-3.3.2-9",
            "MQTT5-4.13.1-1",
        ],
        summary: "a Topic Alias above the server's Topic Alias Maximum (any alias, when CONNACK has none) closes the connection",
        applies: Applies::V5,
        run: topic_alias_over_maximum,
    },
    Check {
        name: "v5-topic-alias-zero",
        section: SECTION,
        ids: &["MQTT5-3.3.2-8", "MQTT5-4.13.1-1"],
        summary: "a Topic Alias of 0 closes the connection",
        applies: Applies::V5,
        run: topic_alias_zero,
    },
    Check {
        name: "v5-no-topic-alias-unasked",
        section: SECTION,
        ids: &["MQTT5-3.1.2-27", "MQTT5-3.3.2-11"],
        summary: "a subscriber that sent no Topic Alias Maximum gets every delivery with its topic and no alias",
        applies: Applies::V5,
        run: no_topic_alias_unasked,
    },
    Check {
        name: "v5-topic-alias-outbound-within-maximum",
        section: SECTION,
        ids: &["MQTT5-3.1.2-26", "MQTT5-3.3.2-11", "MQTT5-3.3.2-8"],
        summary: "a subscriber with Topic Alias Maximum 1 gets no alias but 1, and every delivery resolves to the topic it was published to",
        applies: Applies::V5,
        run: topic_alias_outbound_within_maximum,
    },
];

fn puback_success(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("acked");
    let mut sub = subscriber(context, &topic, options(1, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    sender.send(&v5_wire::publish(&topic, 1, false, 0x1234, b"x", &[])?)?;
    let frame = sender.expect(kind::PUBACK)?;
    let bytes = v5_wire::bytes_of(&frame);
    let Packet::PubAck(ack) = v5_wire::decode(&bytes)? else {
        return Err("expected PUBACK".to_owned());
    };
    if ack.packet_id.get() != 0x1234 {
        return Err(format!("PUBACK for {}, not 0x1234", ack.packet_id.get()));
    }
    if ack.reason != ReasonCode::SUCCESS {
        return Err(format!(
            "PUBACK reason {}, with a subscriber present",
            ack.reason
        ));
    }
    expect_payload(&mut sub, b"x")?;
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn qos2_flow(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("exactly");
    let mut sub = subscriber(context, &topic, options(2, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    sender.send(&v5_wire::publish(&topic, 2, false, 0x0202, b"once", &[])?)?;
    let frame = sender.expect(kind::PUBREC)?;
    let bytes = v5_wire::bytes_of(&frame);
    match v5_wire::decode(&bytes)? {
        Packet::PubRec(rec)
            if rec.packet_id.get() == 0x0202 && rec.reason == ReasonCode::SUCCESS => {}
        Packet::PubRec(rec) => {
            return Err(format!(
                "PUBREC for {} with reason {}",
                rec.packet_id.get(),
                rec.reason
            ));
        }
        other => return Err(format!("expected PUBREC, got {:?}", other.packet_type())),
    }
    sender.send(&wire::with_id(0x62, 0x0202))?;
    let frame = sender.expect(kind::PUBCOMP)?;
    let bytes = v5_wire::bytes_of(&frame);
    match v5_wire::decode(&bytes)? {
        Packet::PubComp(comp)
            if comp.packet_id.get() == 0x0202 && comp.reason == ReasonCode::SUCCESS => {}
        Packet::PubComp(comp) => {
            return Err(format!(
                "PUBCOMP for {} with reason {}",
                comp.packet_id.get(),
                comp.reason
            ));
        }
        other => return Err(format!("expected PUBCOMP, got {:?}", other.packet_type())),
    }
    // The subscriber's side, by hand: PUBREC, then the server's PUBREL must answer it.
    let frame = sub.expect(kind::PUBLISH)?;
    let Some(id) = frame.packet_id_of_publish() else {
        return Err(format!(
            "a QoS 2 delivery without identifier: {}",
            frame.describe()
        ));
    };
    sub.send(&wire::with_id(0x50, id))?;
    let rel = sub.expect(kind::PUBREL)?;
    let bytes = v5_wire::bytes_of(&rel);
    match v5_wire::decode(&bytes)? {
        Packet::PubRel(rel) if rel.packet_id.get() == id && rel.reason == ReasonCode::SUCCESS => {}
        Packet::PubRel(rel) => {
            return Err(format!(
                "PUBREL for {} with reason {}, answering PUBREC {id}",
                rel.packet_id.get(),
                rel.reason
            ));
        }
        other => return Err(format!("expected PUBREL, got {:?}", other.packet_type())),
    }
    sub.send(&wire::with_id(0x70, id))?;
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn user_properties_forwarded(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("user");
    let sent = [("unit", "C"), ("site", "north"), ("unit", "K")];
    let properties: Vec<Property<'_>> = sent
        .iter()
        .map(|(name, value)| Property::UserProperty(name, value))
        .collect();
    let mut sub = subscriber(context, &topic, options(1, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, b"21.5", &properties)?;
    let bytes = expect_payload(&mut sub, b"21.5")?;
    let got: Vec<(&str, &str)> = delivery(&bytes)?.properties.user_properties().collect();
    if got != sent {
        return Err(format!(
            "sent User Properties {sent:?}, the subscriber got {got:?}"
        ));
    }
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn message_properties_forwarded(context: &Context) -> Result<Verdict, String> {
    let requests = context.topic("requests");
    let responses = context.topic("responses");
    let mut responder = subscriber(context, &requests, options(1, false, false, 0))?;
    let mut requester = subscriber(context, &responses, options(1, false, false, 0))?;
    let correlation: &[u8] = &[0x00, 0xFF, 0x10, 0x7F];
    publish(
        &mut requester,
        &requests,
        1,
        false,
        b"{\"get\":\"temp\"}",
        &[
            Property::PayloadFormatIndicator(1),
            Property::ContentType("application/json"),
            Property::ResponseTopic(&responses),
            Property::CorrelationData(correlation),
        ],
    )?;
    let bytes = expect_payload(&mut responder, b"{\"get\":\"temp\"}")?;
    let request = delivery(&bytes)?;
    let properties = request.properties;
    let wanted = (
        Some(1),
        Some("application/json"),
        Some(responses.as_str()),
        Some(correlation),
    );
    let got = (
        properties.payload_format_indicator(),
        properties.content_type(),
        properties.response_topic(),
        properties.correlation_data(),
    );
    if got != wanted {
        return Err(format!("sent {wanted:?}, the subscriber got {got:?}"));
    }
    // The responder answers on the Response Topic with the Correlation Data, as a client would.
    let response_topic = properties.response_topic().unwrap_or_default().to_owned();
    publish(
        &mut responder,
        &response_topic,
        1,
        false,
        b"21.5",
        &[Property::CorrelationData(correlation)],
    )?;
    let bytes = expect_payload(&mut requester, b"21.5")?;
    if delivery(&bytes)?.properties.correlation_data() != Some(correlation) {
        return Err("the response lost its Correlation Data".to_owned());
    }
    responder.disconnect()?;
    requester.disconnect()?;
    Ok(Verdict::Pass)
}

fn message_expiry_forwarded(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("expiring");
    let mut sender = clean(context, &context.client_id())?;
    publish(
        &mut sender,
        &topic,
        1,
        true,
        b"fresh",
        &[Property::MessageExpiryInterval(60)],
    )?;
    let mut sub = subscriber(context, &topic, options(1, false, false, 0))?;
    let bytes = expect_payload(&mut sub, b"fresh");
    // Remove the retained message whatever the outcome.
    publish(&mut sender, &topic, 1, true, b"", &[])?;
    let bytes = bytes?;
    let interval = delivery(&bytes)?.properties.message_expiry_interval();
    sub.disconnect()?;
    sender.disconnect()?;
    match interval {
        Some(1..=60) => Ok(Verdict::Pass),
        Some(other) => Err(format!("forwarded with Message Expiry {other}, sent 60")),
        None => Err("forwarded without its Message Expiry Interval".to_owned()),
    }
}

fn message_expired_not_delivered(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("stale");
    let mut watched =
        Watched5::connect(context, &id, true, &[Property::SessionExpiryInterval(60)])?;
    subscribe(
        watched.client(),
        1,
        &[(&topic, options(1, false, false, 0))],
        &[],
    )?;
    watched.end(&[])?;
    let mut sender = clean(context, &context.client_id())?;
    publish(
        &mut sender,
        &topic,
        1,
        false,
        b"stale",
        &[Property::MessageExpiryInterval(1)],
    )?;
    // Message expiry is about time: the only wait is for the interval to pass.
    std::thread::sleep(Duration::from_millis(2100));
    // Same publisher, same topic: the sentinel is ordered after the expired message.
    publish(&mut sender, &topic, 1, false, b"sentinel", &[])?;
    let mut back = connect(context, &id, false, &[], None)?;
    let first = next_delivery(&mut back.client)?;
    let (_, payload) = v5_common::topic_and_payload(&first)?;
    back.client.disconnect()?;
    sender.disconnect()?;
    end_session(context, &id)?;
    if payload == b"stale" {
        return Err("a message delivered after its Message Expiry Interval had passed".to_owned());
    }
    if payload != b"sentinel" {
        return Err(format!(
            "unexpected '{}'",
            String::from_utf8_lossy(&payload)
        ));
    }
    Ok(Verdict::Pass)
}

/// A connection and the server's Topic Alias Maximum, or a skip when the server takes no aliases.
fn aliasing(context: &Context, id: &str) -> Result<Result<(TestClient, u16), Verdict>, String> {
    let connected = connect(context, id, true, &[], None)?;
    match connected.property(|properties| properties.topic_alias_maximum())? {
        Some(maximum) if maximum > 0 => Ok(Ok((connected.client, maximum))),
        _ => {
            connected.client.disconnect()?;
            Ok(Err(Verdict::Skip(
                "the server's CONNACK has no Topic Alias Maximum: it takes no aliases".to_owned(),
            )))
        }
    }
}

fn topic_alias_inbound(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("aliased");
    let (mut sender, _) = match aliasing(context, &context.client_id())? {
        Ok(found) => found,
        Err(skip) => return Ok(skip),
    };
    let mut sub = subscriber(context, &topic, options(1, false, false, 0))?;
    publish(
        &mut sender,
        &topic,
        1,
        false,
        b"one",
        &[Property::TopicAlias(1)],
    )?;
    publish(
        &mut sender,
        "",
        1,
        false,
        b"two",
        &[Property::TopicAlias(1)],
    )?;
    for payload in [&b"one"[..], b"two"] {
        let bytes = expect_payload(&mut sub, payload)?;
        let (got, _) = v5_common::topic_and_payload(&bytes)?;
        if got != topic {
            return Err(format!(
                "'{}' arrived on '{got}'",
                String::from_utf8_lossy(payload)
            ));
        }
    }
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn topic_alias_not_carried(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("forgotten");
    let (mut first, _) = match aliasing(context, &id)? {
        Ok(found) => found,
        Err(skip) => return Ok(skip),
    };
    publish(
        &mut first,
        &topic,
        1,
        false,
        b"sets",
        &[Property::TopicAlias(1)],
    )?;
    first.disconnect()?;
    let mut second = clean(context, &id)?;
    second.send(&v5_wire::publish(
        "",
        1,
        false,
        1,
        b"uses",
        &[Property::TopicAlias(1)],
    )?)?;
    expect_error_close(&mut second)
        .map_err(|error| format!("an alias of an earlier connection: {error}"))?;
    Ok(Verdict::Pass)
}

fn topic_alias_over_maximum(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("too-far");
    // A client must stay within the server's maximum [MQTT5-3.3.2-9], and send no alias at all when
    // CONNACK has none [MQTT5-3.2.2-18]: the server's side of both is to refuse what is over it.
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    let maximum = connected
        .property(|properties| properties.topic_alias_maximum())?
        .unwrap_or(0);
    let mut client = connected.client;
    let Some(over) = maximum.checked_add(1) else {
        client.disconnect()?;
        return Ok(Verdict::Skip("Topic Alias Maximum is 65 535".to_owned()));
    };
    client.send(&v5_wire::publish(
        &topic,
        1,
        false,
        1,
        b"x",
        &[Property::TopicAlias(over)],
    )?)?;
    expect_error_close(&mut client)
        .map_err(|error| format!("Topic Alias {over} over the maximum {maximum}: {error}"))?;
    Ok(Verdict::Pass)
}

fn topic_alias_zero(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("zero");
    let mut client = clean(context, &context.client_id())?;
    // The codec refuses to write alias 0 [MQTT5-3.3.2-8]; the bytes are written out: topic, packet
    // identifier 1, then properties `03 23 00 00` (Topic Alias 0), then the payload.
    let mut body = wire::field(topic.as_bytes());
    body.extend_from_slice(&[0x00, 0x01, 0x03, 0x23, 0x00, 0x00]);
    body.extend_from_slice(b"x");
    client.send(&wire::packet(0x32, &body))?;
    expect_error_close(&mut client)?;
    Ok(Verdict::Pass)
}

fn no_topic_alias_unasked(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("plain");
    let mut sub = subscriber(context, &topic, options(0, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    for payload in [&b"a"[..], b"b", b"c"] {
        publish(&mut sender, &topic, 1, false, payload, &[])?;
    }
    for payload in [&b"a"[..], b"b", b"c"] {
        let bytes = expect_payload(&mut sub, payload)?;
        let publish = delivery(&bytes)?;
        if let Some(alias) = publish.properties.topic_alias() {
            return Err(format!(
                "a delivery carries Topic Alias {alias}, none was allowed"
            ));
        }
        if publish.topic.map(|topic| topic.as_str()) != Some(topic.as_str()) {
            return Err("a delivery without its topic".to_owned());
        }
    }
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn topic_alias_outbound_within_maximum(context: &Context) -> Result<Verdict, String> {
    let prefix = context.topic("aliased");
    let mut sub = connect(
        context,
        &context.client_id(),
        true,
        &[Property::TopicAliasMaximum(1)],
        None,
    )?
    .client;
    granted(&subscribe(
        &mut sub,
        1,
        &[(&format!("{prefix}/#"), options(0, false, false, 0))],
        &[],
    )?)?;
    let mut sender = clean(context, &context.client_id())?;
    // The payload says which topic each message went to; whether and how the server aliases
    // them is its choice, but an alias may only be 1, and must resolve to the right topic.
    let sent = [
        (&b"1"[..], "one"),
        (b"2", "one"),
        (b"3", "two"),
        (b"4", "one"),
        (b"5", "two"),
    ];
    for (payload, level) in sent {
        publish(
            &mut sender,
            &format!("{prefix}/{level}"),
            1,
            false,
            payload,
            &[],
        )?;
    }
    let mut alias_one: Option<String> = None;
    for (payload, level) in sent {
        let bytes = expect_payload(&mut sub, payload)?;
        let publish = delivery(&bytes)?;
        let topic = publish.topic.map(|topic| topic.as_str().to_owned());
        let resolved = match (topic, publish.properties.topic_alias()) {
            (Some(topic), None) => topic,
            (topic, Some(1)) => match topic {
                Some(topic) => alias_one.insert(topic).clone(),
                None => alias_one
                    .clone()
                    .ok_or("an empty topic with Topic Alias 1, which no delivery had set")?,
            },
            (_, Some(alias)) => {
                return Err(format!(
                    "a delivery carries Topic Alias {alias}, above the Topic Alias Maximum 1"
                ));
            }
            (None, None) => return Err("a delivery with neither topic nor alias".to_owned()),
        };
        let expected = format!("{prefix}/{level}");
        if resolved != expected {
            return Err(format!(
                "message {} resolves to {resolved}, published to {expected}",
                String::from_utf8_lossy(payload)
            ));
        }
    }
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn delivery_qos_and_dup(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("levels");
    let mut full = subscriber(context, &topic, options(2, false, false, 0))?;
    let mut low = subscriber(context, &topic, options(0, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    for qos in 0..=2u8 {
        sender.send(&v5_wire::publish(
            &topic,
            qos,
            false,
            10 + u16::from(qos),
            &[b'0' + qos],
            &[],
        )?)?;
        match qos {
            1 => drop(sender.wait_for(kind::PUBACK)?),
            2 => {
                sender.wait_for(kind::PUBREC)?;
                sender.send(&wire::with_id(0x62, 12))?;
                sender.wait_for(kind::PUBCOMP)?;
            }
            _ => {}
        }
    }
    for qos in 0..=2u8 {
        let frame = full.expect_publish()?;
        let bytes = v5_wire::bytes_of(&frame);
        let publish = delivery(&bytes)?;
        if publish.payload != [b'0' + qos] || frame.qos() != qos || frame.dup() {
            return Err(format!(
                "message {qos} reached the QoS 2 subscription as {}",
                frame.describe()
            ));
        }
    }
    for qos in 0..=2u8 {
        let frame = low.expect_publish()?;
        if frame.qos() != 0 || frame.dup() {
            return Err(format!(
                "message {qos} reached the QoS 0 subscription as {}",
                frame.describe()
            ));
        }
    }
    full.disconnect()?;
    low.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn ordered_delivery(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("ordered");
    let mut sub = subscriber(context, &topic, options(1, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    for n in 0..10u8 {
        publish(&mut sender, &topic, 1, false, &[b'0' + n], &[])?;
    }
    let mut got = Vec::new();
    for _ in 0..10 {
        let bytes = next_delivery(&mut sub)?;
        got.extend(delivery(&bytes)?.payload.iter().copied());
    }
    sub.disconnect()?;
    sender.disconnect()?;
    if got != b"0123456789" {
        return Err(format!(
            "delivered in the order {}",
            String::from_utf8_lossy(&got)
        ));
    }
    Ok(Verdict::Pass)
}

fn packet_id_reuse(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("reused");
    let mut sub = subscriber(context, &topic, options(2, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    for payload in [&b"first"[..], b"second"] {
        sender.send(&v5_wire::publish(&topic, 1, false, 5, payload, &[])?)?;
        sender.wait_for(kind::PUBACK)?;
    }
    for payload in [&b"third"[..], b"fourth"] {
        sender.send(&v5_wire::publish(&topic, 2, false, 6, payload, &[])?)?;
        sender.wait_for(kind::PUBREC)?;
        sender.send(&wire::with_id(0x62, 6))?;
        sender.wait_for(kind::PUBCOMP)?;
    }
    for payload in [&b"first"[..], b"second", b"third", b"fourth"] {
        expect_payload(&mut sub, payload)?;
    }
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn qos2_duplicate_delivered_once(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("dup");
    let mut sub = subscriber(context, &topic, options(2, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    let mut bytes = v5_wire::publish(&topic, 2, false, 9, b"once", &[])?;
    sender.send(&bytes)?;
    expect_answer(&mut sender, kind::PUBREC, 9)?;
    // The same PUBLISH again, now with DUP: the server has not had PUBREL yet.
    bytes[0] |= 0x08;
    sender.send(&bytes)?;
    expect_answer(&mut sender, kind::PUBREC, 9)
        .map_err(|error| format!("the re-sent PUBLISH: {error}"))?;
    sender.send(&wire::with_id(0x62, 9))?;
    expect_answer(&mut sender, kind::PUBCOMP, 9)?;
    // Same publisher, same topic: a second copy would come before the sentinel.
    publish(&mut sender, &topic, 1, false, b"sentinel", &[])?;
    expect_payload(&mut sub, b"once")?;
    expect_payload(&mut sub, b"sentinel").map_err(|error| format!("after the message: {error}"))?;
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn redelivery_on_reconnect(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("again");
    let mut watched =
        Watched5::connect(context, &id, true, &[Property::SessionExpiryInterval(60)])?;
    subscribe(
        watched.client(),
        1,
        &[(&topic, options(1, false, false, 0))],
        &[],
    )?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, b"unacknowledged", &[])?;
    // Received, never acknowledged.
    let first = watched.client().expect(kind::PUBLISH)?;
    let Some(packet_id) = first.packet_id_of_publish() else {
        return Err(format!(
            "a QoS 1 delivery without identifier: {}",
            first.describe()
        ));
    };
    watched.end(&[])?;
    let mut back = connect(context, &id, false, &[], None)?;
    let again = back.client.expect(kind::PUBLISH)?;
    back.client.acknowledge(&again)?;
    back.client.disconnect()?;
    sender.disconnect()?;
    end_session(context, &id)?;
    if again.packet_id_of_publish() != Some(packet_id) || !again.dup() {
        return Err(format!(
            "first sent with identifier {packet_id}, sent again as {}: expected the same identifier and DUP 1",
            again.describe()
        ));
    }
    Ok(Verdict::Pass)
}

fn retained_lifecycle(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("kept");
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, true, b"old", &[])?;
    publish(&mut sender, &topic, 1, true, b"new", &[])?;
    publish(&mut sender, &topic, 1, false, b"live", &[])?;
    let seen = first_after_subscribing(context, &mut sender, &topic);
    publish(&mut sender, &topic, 1, true, b"", &[])?;
    let after_removal = first_after_subscribing(context, &mut sender, &topic);
    sender.disconnect()?;
    match (seen?, after_removal?) {
        ((payload, true), (sentinel, _)) if payload == b"new" && sentinel == b"sentinel" => {
            Ok(Verdict::Pass)
        }
        (seen, removed) => Err(format!(
            "a new subscriber got {seen:?} (expected \"new\" retained), and after the empty retained message {removed:?} (expected the sentinel)"
        )),
    }
}

/// Subscribes a fresh client to `topic`, has `sender` publish a sentinel after the SUBACK, and
/// returns the first delivery's payload and RETAIN flag.
fn first_after_subscribing(
    context: &Context,
    sender: &mut TestClient,
    topic: &str,
) -> Result<(Vec<u8>, bool), String> {
    let mut sub = subscriber(context, topic, options(1, false, false, 0))?;
    publish(sender, topic, 1, false, b"sentinel", &[])?;
    let bytes = next_delivery(&mut sub)?;
    let publish = delivery(&bytes)?;
    let seen = (publish.payload.to_vec(), publish.retain);
    sub.disconnect()?;
    Ok(seen)
}

fn publish_subscription_identifier(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("sid");
    let mut client = clean(context, &context.client_id())?;
    client.send(&v5_wire::publish(
        &topic,
        1,
        false,
        1,
        b"x",
        &[Property::SubscriptionIdentifier(3)],
    )?)?;
    expect_error_close(&mut client)?;
    Ok(Verdict::Pass)
}

/// The next packet must be of type `wanted` and answer Packet Identifier `id` [MQTT5-2.2.1-5].
fn expect_answer(client: &mut TestClient, wanted: u8, id: u16) -> Result<(), String> {
    let frame = client.wait_for(wanted)?;
    match frame.packet_id() {
        Some(got) if got == id => Ok(()),
        _ => Err(format!("{} answering {id}", frame.describe())),
    }
}

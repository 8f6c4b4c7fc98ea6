//! What a 5.0 server says in CONNACK about what it supports, held against what it does (5.0
//! §3.2.2.3): Maximum QoS and Retain Available bound the Wills it accepts and the subscriptions it
//! grants, and a client's Request Problem Information of 0 keeps Reason Strings and User
//! Properties off the acknowledgements.
//!
//! A server that supports everything (as most do) states neither capability, and then must accept
//! a QoS 2 or retained Will; one that states a lower capability must refuse one beyond it. The checks
//! read CONNACK first and expect whichever of the two applies.

use mqtt_codec::v5::{Packet, Properties, Property};

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::v5_common::{connect, subscribe};
use crate::client::TestClient;
use crate::v5_wire::{self, WillSpec, options};
use crate::wire::{self, kind};

const SECTION: &str = "MQTT5 3.2 CONNACK";

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "v5-maximum-qos-subscriptions",
        section: SECTION,
        ids: &["MQTT5-3.2.2-9", "MQTT5-3.2.2-10"],
        summary: "subscriptions at QoS 0, 1 and 2 are all granted, none above the CONNACK's Maximum QoS, and a PUBLISH at that QoS is accepted",
        applies: Applies::V5,
        run: maximum_qos_subscriptions,
    },
    Check {
        name: "v5-will-qos-within-maximum",
        section: SECTION,
        ids: &["MQTT5-3.2.2-12"],
        summary: "a QoS 2 Will is accepted by a server stating no Maximum QoS, and refused (then closed) by one stating less",
        applies: Applies::V5,
        run: will_qos_within_maximum,
    },
    Check {
        name: "v5-will-retain-within-retain-available",
        section: SECTION,
        ids: &["MQTT5-3.2.2-13"],
        summary: "a retained Will is accepted by a server stating no Retain Available 0, and refused (then closed) by one stating it",
        applies: Applies::V5,
        run: will_retain_within_retain_available,
    },
    Check {
        name: "v5-no-problem-information-unasked",
        section: SECTION,
        ids: &["MQTT5-3.1.2-29"],
        summary: "with Request Problem Information 0, PUBACK, PUBREC, PUBCOMP, SUBACK and UNSUBACK (failures among them) carry no Reason String or User Property",
        applies: Applies::V5,
        run: no_problem_information_unasked,
    },
];

/// The Maximum QoS and Retain Available of a plain CONNACK (2 and true when absent).
fn capabilities(context: &Context) -> Result<(u8, bool), String> {
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    let maximum = connected.property(|properties| properties.maximum_qos())?;
    let retain = connected.property(|properties| properties.retain_available())?;
    connected.client.disconnect()?;
    Ok((maximum.unwrap_or(2), retain != Some(0)))
}

fn maximum_qos_subscriptions(context: &Context) -> Result<Verdict, String> {
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    let maximum = connected
        .property(|properties| properties.maximum_qos())?
        .unwrap_or(2);
    let mut client = connected.client;
    let base = context.topic("qos");
    let filters: Vec<String> = (0..3).map(|qos| format!("{base}/{qos}")).collect();
    let codes = subscribe(
        &mut client,
        1,
        &[
            (&filters[0], options(0, false, false, 0)),
            (&filters[1], options(1, false, false, 0)),
            (&filters[2], options(2, false, false, 0)),
        ],
        &[],
    )?;
    // Each request is accepted whatever the server supports [MQTT5-3.2.2-10], granted at most at
    // the Maximum QoS it stated [MQTT5-3.2.2-9].
    for (requested, code) in codes.iter().enumerate() {
        if *code > maximum.min(requested as u8) {
            return Err(format!(
                "SUBSCRIBE at QoS {requested} answered {code:#04x}, with Maximum QoS {maximum}: expected a grant of QoS {} at most",
                maximum.min(requested as u8)
            ));
        }
    }
    // And a PUBLISH at the Maximum QoS is taken.
    let topic = &filters[2];
    client.send(&v5_wire::publish(topic, maximum, false, 5, b"top", &[])?)?;
    let answer = match maximum {
        0 => None,
        1 => Some(client.wait_for(kind::PUBACK)?),
        _ => Some(client.wait_for(kind::PUBREC)?),
    };
    if let Some(frame) = answer {
        let bytes = v5_wire::bytes_of(&frame);
        let reason = match v5_wire::decode(&bytes)? {
            Packet::PubAck(ack) => ack.reason,
            Packet::PubRec(rec) => rec.reason,
            other => return Err(format!("unexpected {:?}", other.packet_type())),
        };
        if reason.is_failure() {
            return Err(format!(
                "a PUBLISH at the Maximum QoS {maximum} answered with reason {reason}"
            ));
        }
        if maximum == 2 {
            client.send(&wire::with_id(0x62, 5))?;
            client.wait_for(kind::PUBCOMP)?;
        }
    }
    let frames = client.ping()?;
    for frame in &frames {
        client.acknowledge(frame)?;
    }
    client.disconnect()?;
    Ok(Verdict::Pass)
}

/// Sends a CONNECT with `will` and returns the CONNACK's Reason Code and the client; `None` for
/// a server that closed without one.
fn connect_with_will(
    context: &Context,
    will: WillSpec<'_>,
) -> Result<(Option<u8>, TestClient), String> {
    let mut client = TestClient::open(context)?;
    client.send(&v5_wire::connect(
        context,
        &context.client_id(),
        true,
        &[],
        Some(will),
    )?)?;
    match client.next_within(client.timeout()) {
        Err(_) => Ok((None, client)),
        Ok(None) => Err("no answer to the CONNECT".to_owned()),
        Ok(Some(frame)) if frame.kind() == kind::CONNACK => {
            let bytes = v5_wire::bytes_of(&frame);
            match v5_wire::decode(&bytes)? {
                Packet::ConnAck(connack) => Ok((Some(connack.reason.get()), client)),
                other => Err(format!("unexpected {:?}", other.packet_type())),
            }
        }
        Ok(Some(frame)) => Err(format!("expected CONNACK, got {}", frame.describe())),
    }
}

/// The end of a Will check: a CONNECT that had to be accepted was, and one that had to be refused
/// was refused with a CONNACK failure (preferably `preferred`) or a close, and then closed.
fn accepted_or_refused(
    context: &Context,
    will: WillSpec<'_>,
    must_accept: bool,
    preferred: u8,
    what: &str,
) -> Result<Verdict, String> {
    let (reason, mut client) = connect_with_will(context, will)?;
    match (must_accept, reason) {
        (true, Some(0)) => {
            // DISCONNECT 0x00: the Will is discarded, nobody hears of it.
            client.disconnect()?;
            Ok(Verdict::Pass)
        }
        (true, other) => Err(format!(
            "{what}: refused ({other:?}), though CONNACK states no lower capability"
        )),
        (false, Some(0)) => Err(format!(
            "{what}: accepted, though CONNACK states the server cannot honour it"
        )),
        (false, None) => Ok(Verdict::Pass),
        (false, Some(code)) if code >= 0x80 => {
            client
                .expect_closed(&[])
                .map_err(|error| format!("{what}, after CONNACK {code:#04x}: {error}"))?;
            if code == preferred {
                Ok(Verdict::Pass)
            } else {
                Ok(Verdict::Observation(format!(
                    "{what}: refused with {code:#04x}, where {preferred:#04x} is the code for it"
                )))
            }
        }
        (false, Some(code)) => Err(format!("{what}: CONNACK {code:#04x}, not a refusal")),
    }
}

fn will_qos_within_maximum(context: &Context) -> Result<Verdict, String> {
    let (maximum, _) = capabilities(context)?;
    let topic = context.topic("will-qos");
    let will = WillSpec {
        topic: &topic,
        payload: b"w",
        qos: 2,
        retain: false,
        properties: &[],
    };
    accepted_or_refused(
        context,
        will,
        maximum == 2,
        0x9B,
        &format!("a QoS 2 Will with Maximum QoS {maximum}"),
    )
}

fn will_retain_within_retain_available(context: &Context) -> Result<Verdict, String> {
    let (_, retain) = capabilities(context)?;
    let topic = context.topic("will-retain");
    let will = WillSpec {
        topic: &topic,
        payload: b"w",
        qos: 0,
        retain: true,
        properties: &[],
    };
    accepted_or_refused(
        context,
        will,
        retain,
        0x9A,
        &format!("a retained Will with Retain Available {}", u8::from(retain)),
    )
}

fn no_problem_information_unasked(context: &Context) -> Result<Verdict, String> {
    let mut client = connect(
        context,
        &context.client_id(),
        true,
        &[Property::RequestProblemInformation(0)],
        None,
    )?
    .client;
    let nobody = context.topic("nobody");
    let mut answers = Vec::new();
    // PUBACK, and PUBREC and PUBCOMP, for messages nobody subscribed to (0x10 is allowed there).
    client.send(&v5_wire::publish(&nobody, 1, false, 1, b"x", &[])?)?;
    answers.push(client.wait_for(kind::PUBACK)?);
    client.send(&v5_wire::publish(&nobody, 2, false, 2, b"x", &[])?)?;
    answers.push(client.wait_for(kind::PUBREC)?);
    client.send(&wire::with_id(0x62, 2))?;
    answers.push(client.wait_for(kind::PUBCOMP)?);
    // A failure: PUBREL for an identifier the server does not hold (PUBCOMP 0x92).
    client.send(&wire::with_id(0x62, 3))?;
    answers.push(client.wait_for(kind::PUBCOMP)?);
    // SUBACK, and UNSUBACK for a filter never subscribed to (0x11).
    client.send(&v5_wire::subscribe(
        4,
        &[(&nobody, options(1, false, false, 0))],
        &[],
    )?)?;
    answers.push(client.wait_for(kind::SUBACK)?);
    let never = context.topic("never");
    client.send(&v5_wire::unsubscribe(5, &[&nobody, &never])?)?;
    answers.push(client.wait_for(kind::UNSUBACK)?);
    client.disconnect()?;
    for frame in &answers {
        let bytes = v5_wire::bytes_of(frame);
        let properties: Properties<'_> = match v5_wire::decode(&bytes)? {
            Packet::PubAck(ack) => ack.properties,
            Packet::PubRec(ack) => ack.properties,
            Packet::PubComp(ack) => ack.properties,
            Packet::SubAck(ack) => ack.properties,
            Packet::UnsubAck(ack) => ack.properties,
            other => return Err(format!("unexpected {:?}", other.packet_type())),
        };
        if properties.reason_string().is_some() || properties.user_properties().next().is_some() {
            return Err(format!(
                "with Request Problem Information 0, {} carries a Reason String or User Property",
                frame.describe()
            ));
        }
    }
    Ok(Verdict::Pass)
}

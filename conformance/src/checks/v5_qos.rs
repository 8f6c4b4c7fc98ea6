//! MQTT 5.0 QoS 1 and 2 as the server runs them (5.0 §4.3, §4.4, §2.2.1): the Packet Identifiers it
//! chooses for deliveries, what it holds as unacknowledged across a reconnection, what a failed
//! acknowledgement ends (the client's, and its own PUBREC refusing a PUBLISH), Message Expiry
//! inside a QoS 2 exchange, and the DUP flag it sets.
//!
//! The server is the sender towards a subscriber and the receiver of a publisher; each check says
//! which side it watches. Two checks wait for a Message Expiry Interval of one second to pass: that
//! time is what they are about, so they sleep for it, once.

use std::time::Duration;

use mqtt_codec::v5::{Packet, Property, ReasonCode};

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::v5_common::{
    Watched5, clean, connect, delivery, end_session, expect_payload, publish, subscribe, subscriber,
};
use crate::client::TestClient;
use crate::v5_wire::{self, options};
use crate::wire::{self, Frame, kind};

const SECTION: &str = "MQTT5 4.3 Quality of Service levels and protocol flows";

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "v5-delivery-packet-ids-unused",
        section: SECTION,
        ids: &["MQTT5-2.2.1-4", "MQTT5-4.3.2-1", "MQTT5-4.3.3-1"],
        summary: "six QoS 1 and QoS 2 deliveries held unacknowledged by a subscriber each carry a Packet Identifier none of the others uses",
        applies: Applies::V5,
        run: delivery_packet_ids_unused,
    },
    Check {
        name: "v5-dup-not-propagated",
        section: SECTION,
        ids: &["MQTT5-3.3.1-3"],
        summary: "a QoS 1 and a QoS 2 PUBLISH sent with DUP 1 reach the subscriber with DUP 0: it is their first delivery",
        applies: Applies::V5,
        run: dup_not_propagated,
    },
    Check {
        name: "v5-qos2-redelivery-on-reconnect",
        section: SECTION,
        ids: &["MQTT5-4.3.3-3", "MQTT5-4.3.3-5", "MQTT5-4.3.3-6"],
        summary: "a QoS 2 delivery without PUBREC is sent again on return; after PUBREC and no PUBCOMP only the PUBREL is sent again, never the PUBLISH",
        applies: Applies::V5,
        run: qos2_redelivery_on_reconnect,
    },
    Check {
        name: "v5-failed-ack-not-resent",
        section: SECTION,
        ids: &["MQTT5-4.4.0-2"],
        summary: "a QoS 1 delivery answered PUBACK 0x80 and a QoS 2 one answered PUBREC 0x80 are over: no PUBREL, and nothing sent again on return",
        applies: Applies::V5,
        run: failed_ack_not_resent,
    },
    Check {
        name: "v5-qos2-sent-not-expired",
        section: SECTION,
        ids: &["MQTT5-4.3.3-7"],
        summary: "a QoS 2 delivery sent before its 1-second Message Expiry passed is still sent again on return after it",
        applies: Applies::V5,
        run: qos2_sent_not_expired,
    },
    Check {
        name: "v5-qos2-released-after-expiry",
        section: SECTION,
        ids: &["MQTT5-4.3.3-13"],
        summary: "a QoS 2 PUBLISH whose 1-second Message Expiry passed before its PUBREL still gets PUBCOMP 0x00",
        applies: Applies::V5,
        run: qos2_released_after_expiry,
    },
    Check {
        name: "v5-pubrec-failure-then-new-message",
        section: SECTION,
        ids: &["MQTT5-4.3.3-9"],
        summary: "after the server answers a QoS 2 PUBLISH with a PUBREC of 0x80 or above, a PUBLISH with the same identifier is a new message: accepted and delivered",
        applies: Applies::V5,
        run: pubrec_failure_then_new_message,
    },
];

/// The Session Expiry a check's subscriber keeps its session with while it is away.
const KEEP: Property<'static> = Property::SessionExpiryInterval(60);

fn delivery_packet_ids_unused(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("ids");
    let mut sub = subscriber(context, &topic, options(2, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    for n in 0..3u8 {
        publish(&mut sender, &topic, 1, false, &[b'a' + n], &[])?;
        publish_qos2(&mut sender, &topic, 20 + u16::from(n), &[b'x' + n], &[])?;
    }
    // Every one is in the subscriber's session once acknowledged to the sender: all six have been
    // sent before the subscriber's PINGRESP, and none is acknowledged yet, so every identifier is
    // in use by the time the next is chosen.
    let frames = sub.ping()?;
    let mut ids = Vec::new();
    for frame in &frames {
        if frame.kind() != kind::PUBLISH {
            return Err(format!("unexpected {}", frame.describe()));
        }
        match frame.packet_id_of_publish() {
            Some(id) if id != 0 => ids.push(id),
            _ => return Err(format!("a QoS 1/2 delivery as {}", frame.describe())),
        }
    }
    if ids.len() != 6 {
        return Err(format!(
            "{} of 6 deliveries arrived before PINGRESP",
            ids.len()
        ));
    }
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != ids.len() {
        return Err(format!(
            "six unacknowledged deliveries with the Packet Identifiers {ids:?}: one was reused while in use"
        ));
    }
    for frame in &frames {
        sub.acknowledge(frame)?;
    }
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn dup_not_propagated(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("dup-in");
    let mut sub = subscriber(context, &topic, options(2, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    // Both sent for the first time with DUP 1, as a client resending after a lost connection would.
    let mut once = v5_wire::publish(&topic, 1, false, 3, b"one", &[])?;
    once[0] |= 0x08;
    sender.send(&once)?;
    sender.wait_for(kind::PUBACK)?;
    let mut twice = v5_wire::publish(&topic, 2, false, 4, b"two", &[])?;
    twice[0] |= 0x08;
    sender.send(&twice)?;
    sender.wait_for(kind::PUBREC)?;
    sender.send(&wire::with_id(0x62, 4))?;
    sender.wait_for(kind::PUBCOMP)?;
    for payload in [&b"one"[..], b"two"] {
        let frame = sub.expect_publish()?;
        let bytes = v5_wire::bytes_of(&frame);
        if delivery(&bytes)?.payload != payload || frame.dup() {
            return Err(format!(
                "'{}' published with DUP 1 reached the subscriber for the first time as {}",
                String::from_utf8_lossy(payload),
                frame.describe()
            ));
        }
    }
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn qos2_redelivery_on_reconnect(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("qos2-again");
    let mut watched = Watched5::connect(context, &id, true, &[KEEP])?;
    subscribe(
        watched.client(),
        1,
        &[(&topic, options(2, false, false, 0))],
        &[],
    )?;
    let mut sender = clean(context, &context.client_id())?;
    publish_qos2(&mut sender, &topic, 1, b"exactly", &[])?;
    sender.disconnect()?;
    let first = watched.client().expect(kind::PUBLISH)?;
    let packet_id = first
        .packet_id_of_publish()
        .ok_or_else(|| format!("a QoS 2 delivery as {}", first.describe()))?;
    // No PUBREC: the PUBLISH is unacknowledged [MQTT5-4.3.3-3].
    watched.end(&[])?;
    let mut watched = Watched5::connect(context, &id, false, &[KEEP])?;
    let again = watched
        .client()
        .expect(kind::PUBLISH)
        .map_err(|error| format!("the PUBLISH left without PUBREC: {error}"))?;
    if again.packet_id_of_publish() != Some(packet_id) || !again.dup() {
        end_session(context, &id)?;
        return Err(format!(
            "first sent with identifier {packet_id}, sent again as {}",
            again.describe()
        ));
    }
    watched.client().send(&wire::with_id(0x50, packet_id))?;
    expect_pubrel(watched.client(), packet_id)?;
    // No PUBCOMP: the PUBREL is unacknowledged [MQTT5-4.3.3-5], and the PUBLISH is done with
    // [MQTT5-4.3.3-6].
    watched.end(&[])?;
    let mut back = connect(context, &id, false, &[], None)?.client;
    let frame = back.recv();
    let outcome = match frame {
        Ok(frame) if frame.kind() == kind::PUBREL && frame.packet_id() == Some(packet_id) => {
            back.send(&wire::with_id(0x70, packet_id))?;
            match back.ping()?.first() {
                None => Ok(Verdict::Pass),
                Some(extra) => Err(format!(
                    "after the PUBREL was completed, {}",
                    extra.describe()
                )),
            }
        }
        Ok(frame) => Err(format!(
            "a PUBREL left without PUBCOMP should be sent again, and only it; got {}",
            frame.describe()
        )),
        Err(error) => Err(format!(
            "the PUBREL left without PUBCOMP was not sent again: {error}"
        )),
    };
    back.disconnect()?;
    end_session(context, &id)?;
    outcome
}

fn failed_ack_not_resent(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("refused-ack");
    let mut watched = Watched5::connect(context, &id, true, &[KEEP])?;
    subscribe(
        watched.client(),
        1,
        &[(&topic, options(2, false, false, 0))],
        &[],
    )?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, b"one", &[])?;
    publish_qos2(&mut sender, &topic, 2, b"two", &[])?;
    sender.disconnect()?;
    for _ in 0..2 {
        let frame = watched.client().expect(kind::PUBLISH)?;
        let Some(packet_id) = frame.packet_id_of_publish() else {
            return Err(format!("a QoS 1/2 delivery as {}", frame.describe()));
        };
        // PUBACK or PUBREC with Reason Code 0x80 (Unspecified error).
        let first = if frame.qos() == 1 { 0x40 } else { 0x50 };
        let [high, low] = packet_id.to_be_bytes();
        watched.client().send(&[first, 0x03, high, low, 0x80])?;
    }
    // A PUBREC of 0x80 ends the QoS 2 exchange: no PUBREL answers it.
    let early = deliveries_or_packets(watched.client())?;
    watched.end(&[])?;
    let mut back = connect(context, &id, false, &[], None)?.client;
    let late = deliveries_or_packets(&mut back)?;
    back.disconnect()?;
    end_session(context, &id)?;
    if let Some(frame) = early.first() {
        return Err(format!(
            "after PUBACK 0x80 and PUBREC 0x80 the server sent {}",
            frame.describe()
        ));
    }
    if let Some(frame) = late.first() {
        return Err(format!(
            "a delivery answered with a Reason Code of 0x80 was sent again on return: {}",
            frame.describe()
        ));
    }
    Ok(Verdict::Pass)
}

fn qos2_sent_not_expired(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("sent-then-expired");
    let mut watched = Watched5::connect(context, &id, true, &[KEEP])?;
    subscribe(
        watched.client(),
        1,
        &[(&topic, options(2, false, false, 0))],
        &[],
    )?;
    let mut sender = clean(context, &context.client_id())?;
    publish_qos2(
        &mut sender,
        &topic,
        1,
        b"sent",
        &[Property::MessageExpiryInterval(1)],
    )?;
    sender.disconnect()?;
    let first = watched.client().expect(kind::PUBLISH)?;
    let packet_id = first
        .packet_id_of_publish()
        .ok_or_else(|| format!("a QoS 2 delivery as {}", first.describe()))?;
    // No PUBREC; the session waits while the one second of Message Expiry passes, which is what
    // is checked.
    watched.end(&[])?;
    std::thread::sleep(EXPIRED);
    let mut back = connect(context, &id, false, &[], None)?.client;
    let resent = match back.recv() {
        Ok(frame) if frame.packet_id_of_publish() == Some(packet_id) && frame.dup() => {
            back.acknowledge(&frame)?;
            Ok(Verdict::Pass)
        }
        Ok(frame) => Err(format!(
            "expected the QoS 2 PUBLISH {packet_id} sent again, got {}",
            frame.describe()
        )),
        Err(error) => Err(format!(
            "a QoS 2 PUBLISH sent before its Message Expiry passed was not sent again after it: {error}"
        )),
    };
    back.disconnect()?;
    end_session(context, &id)?;
    resent
}

fn qos2_released_after_expiry(context: &Context) -> Result<Verdict, String> {
    let mut sender = clean(context, &context.client_id())?;
    sender.send(&v5_wire::publish(
        &context.topic("released-late"),
        2,
        false,
        2,
        b"late",
        &[Property::MessageExpiryInterval(1)],
    )?)?;
    sender.wait_for(kind::PUBREC)?;
    // The one second of Message Expiry passes before the PUBREL: that is what is checked.
    std::thread::sleep(EXPIRED);
    sender.send(&wire::with_id(0x62, 2))?;
    let frame = sender.wait_for(kind::PUBCOMP)?;
    let bytes = v5_wire::bytes_of(&frame);
    let outcome = match v5_wire::decode(&bytes)? {
        Packet::PubComp(comp)
            if comp.packet_id.get() == 2 && comp.reason == ReasonCode::SUCCESS =>
        {
            Ok(Verdict::Pass)
        }
        Packet::PubComp(comp) => Err(format!(
            "a PUBREL sent after the message expired got PUBCOMP {} with reason {}",
            comp.packet_id.get(),
            comp.reason
        )),
        other => Err(format!("expected PUBCOMP, got {:?}", other.packet_type())),
    };
    sender.disconnect()?;
    outcome
}

/// Long enough for a Message Expiry Interval of one second to have passed, with margin for a
/// server that counts whole seconds.
const EXPIRED: Duration = Duration::from_millis(2100);

fn pubrec_failure_then_new_message(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("renewed");
    let nobody = context.topic("refused");
    let mut sub = subscriber(context, &topic, options(2, false, false, 0))?;
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    let maximum_packet_size = connected.property(|properties| properties.maximum_packet_size())?;
    let receive_maximum = connected
        .property(|properties| properties.receive_maximum())?
        .unwrap_or(u16::MAX);
    let mut client = connected.client;
    let Some(failed) =
        provoke_pubrec_failure(&mut client, &nobody, maximum_packet_size, receive_maximum)?
    else {
        sub.disconnect()?;
        client.disconnect()?;
        return Ok(Verdict::Skip(
            "no QoS 2 PUBLISH this check can send got a PUBREC of 0x80 or above".to_owned(),
        ));
    };
    // The same identifier again, a message of its own: not a duplicate of the refused one.
    client.send(&v5_wire::publish(&topic, 2, false, failed, b"new", &[])?)?;
    let frame = client.wait_for(kind::PUBREC)?;
    let bytes = v5_wire::bytes_of(&frame);
    match v5_wire::decode(&bytes)? {
        Packet::PubRec(rec) if rec.packet_id.get() == failed && !rec.reason.is_failure() => {}
        Packet::PubRec(rec) => {
            return Err(format!(
                "a new PUBLISH {failed} after PUBREC {failed} with a failure got PUBREC {} with reason {}",
                rec.packet_id.get(),
                rec.reason
            ));
        }
        other => return Err(format!("expected PUBREC, got {:?}", other.packet_type())),
    }
    client.send(&wire::with_id(0x62, failed))?;
    client.wait_for(kind::PUBCOMP)?;
    let outcome = expect_payload(&mut sub, b"new")
        .map(drop)
        .map_err(|error| format!("the new message with identifier {failed}: {error}"));
    sub.disconnect()?;
    client.disconnect()?;
    outcome.map(|()| Verdict::Pass)
}

/// Sends QoS 2 PUBLISHes to `topic` that a server may refuse with a PUBREC of 0x80 or above, and
/// returns the identifier of the first refused one, with the client free to send another: first
/// the largest PUBLISH the Maximum Packet Size allows (a server may take fewer payload bytes than
/// packet bytes), then one over the Receive Maximum (a server may refuse it rather than close),
/// whose place is then freed. `None` when neither was refused.
fn provoke_pubrec_failure(
    client: &mut TestClient,
    topic: &str,
    maximum_packet_size: Option<u32>,
    receive_maximum: u16,
) -> Result<Option<u16>, String> {
    if let Some(size) = maximum_packet_size
        .and_then(|size| usize::try_from(size).ok())
        .filter(|size| *size <= 1 << 20)
    {
        // Fixed header (at most 4 bytes), topic, identifier, an empty Property Length.
        let overhead = 5 + 2 + topic.len() + 2 + 1;
        let payload = vec![b'L'; size.saturating_sub(overhead)];
        client.send(&v5_wire::publish(topic, 2, false, 1, &payload, &[])?)?;
        if pubrec_failed(client, 1)? {
            return Ok(Some(1));
        }
        client.send(&wire::with_id(0x62, 1))?;
        client.wait_for(kind::PUBCOMP)?;
    }
    if receive_maximum > 100 {
        return Ok(None);
    }
    for id in 1..=receive_maximum {
        client.send(&v5_wire::publish(topic, 2, false, id, b"q", &[])?)?;
        if pubrec_failed(client, id)? {
            return Ok(Some(id));
        }
    }
    let over = receive_maximum + 1;
    client.send(&v5_wire::publish(topic, 2, false, over, b"q", &[])?)?;
    // A server that closes instead (as 5.0 §3.3.4 has it) has refused nothing with a PUBREC.
    let refused = match client.next_within(client.timeout()) {
        Ok(Some(frame)) if frame.kind() == kind::PUBREC => {
            let bytes = v5_wire::bytes_of(&frame);
            matches!(v5_wire::decode(&bytes)?, Packet::PubRec(rec) if rec.packet_id.get() == over && rec.reason.is_failure())
        }
        _ => return Ok(None),
    };
    for id in 1..=receive_maximum {
        client.send(&wire::with_id(0x62, id))?;
        client.wait_for(kind::PUBCOMP)?;
    }
    Ok(refused.then_some(over))
}

/// Reads the PUBREC for `id`: whether its Reason Code is 0x80 or above.
fn pubrec_failed(client: &mut TestClient, id: u16) -> Result<bool, String> {
    let frame = client.wait_for(kind::PUBREC)?;
    let bytes = v5_wire::bytes_of(&frame);
    match v5_wire::decode(&bytes)? {
        Packet::PubRec(rec) if rec.packet_id.get() == id => Ok(rec.reason.is_failure()),
        Packet::PubRec(rec) => Err(format!(
            "PUBREC {} answering PUBLISH {id}",
            rec.packet_id.get()
        )),
        other => Err(format!("expected PUBREC, got {:?}", other.packet_type())),
    }
}

/// Publishes at QoS 2 with identifier `id` and completes the exchange; fails unless PUBREC and
/// PUBCOMP say success.
pub(crate) fn publish_qos2(
    client: &mut TestClient,
    topic: &str,
    id: u16,
    payload: &[u8],
    properties: &[Property<'_>],
) -> Result<(), String> {
    client.send(&v5_wire::publish(topic, 2, false, id, payload, properties)?)?;
    let frame = client.wait_for(kind::PUBREC)?;
    let bytes = v5_wire::bytes_of(&frame);
    match v5_wire::decode(&bytes)? {
        Packet::PubRec(rec) if !rec.reason.is_failure() => {}
        Packet::PubRec(rec) => return Err(format!("PUBREC with reason {}", rec.reason)),
        other => return Err(format!("expected PUBREC, got {:?}", other.packet_type())),
    }
    client.send(&wire::with_id(0x62, id))?;
    let frame = client.wait_for(kind::PUBCOMP)?;
    match frame.packet_id() {
        Some(got) if got == id => Ok(()),
        _ => Err(format!("{} answering PUBREL {id}", frame.describe())),
    }
}

/// The next packet must be the PUBREL for `id`.
fn expect_pubrel(client: &mut TestClient, id: u16) -> Result<(), String> {
    let frame = client.wait_for(kind::PUBREL)?;
    match frame.packet_id() {
        Some(got) if got == id => Ok(()),
        _ => Err(format!("{} answering PUBREC {id}", frame.describe())),
    }
}

/// Whatever the server sends before answering a PINGREQ, deliveries acknowledged.
fn deliveries_or_packets(client: &mut TestClient) -> Result<Vec<Frame>, String> {
    let frames = client.ping()?;
    for frame in &frames {
        if frame.kind() == kind::PUBLISH {
            client.acknowledge(frame)?;
        }
    }
    Ok(frames)
}

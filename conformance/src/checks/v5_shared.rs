//! MQTT 5.0 shared subscriptions when a delivery does not complete (5.0 §4.8.2): the member that
//! was chosen for a message keeps it across a lost connection, it is not handed to another member
//! when that member's session ends, and a member's refusal discards it.
//!
//! Each check makes its chosen member the group's only one when the message is published, and only
//! then adds a second member: which member a server picks is its choice, and this way the check
//! knows. The second member's PINGRESP, after the server has seen the first member leave or refuse,
//! is the barrier before which a message handed over would have arrived; a sentinel from the same
//! publisher on the same topic, which must come after the message if that came at all, closes the
//! checks whose first member is gone.

use mqtt_codec::v5::Property;

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::v5_common::{
    Watched5, clean, connect, deliveries_before_ping, delivery, end_session, expect_payload,
    granted, publish, subscribe, subscriber,
};
use crate::checks::v5_qos::publish_qos2;
use crate::client::TestClient;
use crate::v5_wire::{self, options};
use crate::wire::kind;

const SECTION: &str = "MQTT5 4.8 Subscriptions";

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "v5-shared-delivery-completed-on-return",
        section: SECTION,
        ids: &["MQTT5-4.8.2-4"],
        summary: "a shared QoS 2 delivery cut off by the member's lost connection is sent again to that member when it returns, and to no other member",
        applies: Applies::V5,
        run: completed_on_return,
    },
    Check {
        name: "v5-shared-not-handed-over-after-session-end",
        section: SECTION,
        ids: &["MQTT5-4.8.2-5"],
        summary: "a shared QoS 2 delivery left incomplete by a member whose session then ends is not sent to the other member",
        applies: Applies::V5,
        run: not_handed_over_after_session_end,
    },
    Check {
        name: "v5-shared-refusal-discards",
        section: SECTION,
        ids: &["MQTT5-4.8.2-6"],
        summary: "shared deliveries answered PUBACK 0x80 and PUBREC 0x80 are discarded: the other member gets only the sentinels published after them",
        applies: Applies::V5,
        run: refusal_discards,
    },
];

/// Whether the server offers shared subscriptions; a skip verdict when it does not.
fn shared_available(context: &Context) -> Result<Option<Verdict>, String> {
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    let available = connected.property(|properties| properties.shared_subscription_available())?;
    connected.client.disconnect()?;
    Ok((available == Some(0))
        .then(|| Verdict::Skip("the server has no shared subscriptions".to_owned())))
}

/// A group filter for `topic` of this run.
fn group_filter(context: &Context, topic: &str) -> String {
    format!("$share/g{}/{topic}", context.prefix)
}

/// The member chosen for a message holds a QoS 2 delivery of `payload` without PUBREC: returns its
/// Packet Identifier.
fn held_delivery(member: &mut TestClient, payload: &[u8]) -> Result<u16, String> {
    let frame = member.expect(kind::PUBLISH)?;
    let bytes = v5_wire::bytes_of(&frame);
    if delivery(&bytes)?.payload != payload {
        return Err(format!(
            "expected '{}', got {}",
            String::from_utf8_lossy(payload),
            frame.describe()
        ));
    }
    frame
        .packet_id_of_publish()
        .ok_or_else(|| format!("a QoS 2 delivery as {}", frame.describe()))
}

/// Fails when `member` got anything before its PINGRESP.
fn nothing_for(member: &mut TestClient, what: &str) -> Result<(), String> {
    match deliveries_before_ping(member)?.first() {
        None => Ok(()),
        Some(bytes) => Err(format!(
            "{what}, the other member got '{}'",
            String::from_utf8_lossy(delivery(bytes)?.payload)
        )),
    }
}

fn completed_on_return(context: &Context) -> Result<Verdict, String> {
    if let Some(skip) = shared_available(context)? {
        return Ok(skip);
    }
    let id = context.client_id();
    let topic = context.topic("shared-return");
    let filter = group_filter(context, &topic);
    let mut chosen = Watched5::connect(context, &id, true, &[Property::SessionExpiryInterval(60)])?;
    granted(&subscribe(
        chosen.client(),
        1,
        &[(&filter, options(2, false, false, 0))],
        &[],
    )?)?;
    let mut sender = clean(context, &context.client_id())?;
    publish_qos2(&mut sender, &topic, 1, b"held", &[])?;
    let packet_id = held_delivery(chosen.client(), b"held")?;
    let mut other = subscriber(context, &filter, options(2, false, false, 0))?;
    chosen.end(&[])?;
    let outcome = (|| {
        nothing_for(&mut other, "while the chosen member was away")?;
        let mut back = connect(context, &id, false, &[], None)?.client;
        let again = back
            .expect(kind::PUBLISH)
            .map_err(|error| format!("the chosen member's return: {error}"))?;
        back.acknowledge(&again)?;
        if again.packet_id_of_publish() != Some(packet_id) || !again.dup() {
            return Err(format!(
                "first sent with identifier {packet_id}, sent again as {}",
                again.describe()
            ));
        }
        nothing_for(&mut other, "after the chosen member completed the delivery")?;
        back.disconnect()
    })();
    other.disconnect()?;
    sender.disconnect()?;
    end_session(context, &id)?;
    outcome.map(|()| Verdict::Pass)
}

fn not_handed_over_after_session_end(context: &Context) -> Result<Verdict, String> {
    if let Some(skip) = shared_available(context)? {
        return Ok(skip);
    }
    let topic = context.topic("shared-ended");
    let filter = group_filter(context, &topic);
    // No Session Expiry Interval: the session ends with the connection.
    let mut chosen = Watched5::connect(context, &context.client_id(), true, &[])?;
    granted(&subscribe(
        chosen.client(),
        1,
        &[(&filter, options(2, false, false, 0))],
        &[],
    )?)?;
    let mut sender = clean(context, &context.client_id())?;
    publish_qos2(&mut sender, &topic, 1, b"orphan", &[])?;
    held_delivery(chosen.client(), b"orphan")?;
    let mut other = subscriber(context, &filter, options(2, false, false, 0))?;
    chosen.end(&[])?;
    let outcome =
        nothing_for(&mut other, "after the chosen member's session ended").and_then(|()| {
            // The only member now: the sentinel is its, and the orphan would have come first.
            publish(&mut sender, &topic, 1, false, b"sentinel", &[])?;
            expect_payload(&mut other, b"sentinel").map(drop)
        });
    other.disconnect()?;
    sender.disconnect()?;
    outcome.map(|()| Verdict::Pass)
}

fn refusal_discards(context: &Context) -> Result<Verdict, String> {
    if let Some(skip) = shared_available(context)? {
        return Ok(skip);
    }
    let topic = context.topic("shared-refused");
    let filter = group_filter(context, &topic);
    let mut chosen = subscriber(context, &filter, options(2, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, b"refused1", &[])?;
    publish_qos2(&mut sender, &topic, 2, b"refused2", &[])?;
    let mut refused = Vec::new();
    for _ in 0..2 {
        let frame = chosen.expect(kind::PUBLISH)?;
        let Some(packet_id) = frame.packet_id_of_publish() else {
            return Err(format!("a QoS 1/2 delivery as {}", frame.describe()));
        };
        refused.push((frame.qos(), packet_id));
    }
    let mut other = subscriber(context, &filter, options(2, false, false, 0))?;
    for (qos, packet_id) in refused {
        // PUBACK or PUBREC with Reason Code 0x80 (Unspecified error).
        let first = if qos == 1 { 0x40 } else { 0x50 };
        let [high, low] = packet_id.to_be_bytes();
        chosen.send(&[first, 0x03, high, low, 0x80])?;
    }
    let outcome = (|| {
        if let Some(bytes) = deliveries_before_ping(&mut chosen)?.first() {
            return Err(format!(
                "after refusing both, the chosen member got '{}'",
                String::from_utf8_lossy(delivery(bytes)?.payload)
            ));
        }
        nothing_for(&mut other, "after the chosen member refused the messages")?;
        // Four sentinels, shared as the server likes: each member gets only sentinels, the
        // refused messages (earlier, same publisher and topic) would have come before them.
        for n in 0..4u8 {
            publish(&mut sender, &topic, 1, false, &[b's', b'0' + n], &[])?;
        }
        let mut got = Vec::new();
        for member in [&mut chosen, &mut other] {
            for bytes in deliveries_before_ping(member)? {
                got.push(delivery(&bytes)?.payload.to_vec());
            }
        }
        got.sort();
        if got != [b"s0", b"s1", b"s2", b"s3"] {
            let got: Vec<_> = got
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            return Err(format!(
                "after the refusals the group got {got:?}, only the four sentinels expected"
            ));
        }
        Ok(())
    })();
    chosen.disconnect()?;
    other.disconnect()?;
    sender.disconnect()?;
    outcome.map(|()| Verdict::Pass)
}

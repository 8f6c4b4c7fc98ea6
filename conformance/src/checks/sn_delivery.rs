//! What a node must not lose at the edges of a subscription and of a kept session (MQTT-SN 1.2
//! §6.9, §6.10, with the retained messages of MQTT 3.1.1 §3.3.1.3): the retained message a
//! SUBSCRIBE brings, under a topic id the node has been given, also for a second subscriber of
//! the same filter, and the messages kept for a session whose node comes back without its topic
//! ids. Every check needs the broker behind the gateway (`--port`), to publish from its side.

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::{publish, publisher};
use crate::checks::sn_publish::{broker_publisher, no_broker};
use crate::sn_client::SnClient;
use crate::sn_wire::{self, SnFrame, Topic, code, flag, msg};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "sn-retained-after-suback",
        section: "MQTT-SN 6.10 Gateway's publish",
        ids: &["SN-6.10-1", "SN-6.10-2", "SN-6.10-4", "SN-6.9-1"],
        summary: "the retained message a SUBSCRIBE brings comes after the SUBACK (or a REGISTER) that names its topic id",
        applies: Applies::Gateway,
        run: retained_after_suback,
    },
    Check {
        name: "sn-retained-later-subscriber",
        section: "MQTT-SN 6.9 Subscribe",
        ids: &["SN-6.9-1", "MQTT-3.3.1-6", "MQTT-3.3.1-8"],
        summary: "a second node subscribing to a filter another node holds gets the retained message, and the first does not get it twice",
        applies: Applies::Gateway,
        run: retained_later_subscriber,
    },
    Check {
        name: "sn-kept-session-registers-again",
        section: "MQTT-SN 6.10 Gateway's publish",
        ids: &["SN-6.10-2", "SN-6.10-4", "SN-6.3-5"],
        summary: "a node back on its kept session from a new address gets the message kept for it under a topic id registered with it first",
        applies: Applies::Gateway,
        run: kept_session_registers_again,
    },
    Check {
        name: "sn-invalid-topic-id-resent",
        section: "MQTT-SN 6.10 Gateway's publish",
        ids: &["SN-6.10-7", "SN-6.10-4"],
        summary: "a QoS 1 message the node refuses with PUBACK invalid topic id is registered and sent again, not dropped",
        applies: Applies::Gateway,
        run: invalid_topic_id_resent,
    },
];

/// Publishes `payload` retained on `topic` from the broker's side, and a way to clear it after.
fn retain(context: &Context, topic: &str, payload: &[u8]) -> Result<(), String> {
    let mut sender =
        publisher(context).map_err(|error| format!("publisher at the broker: {error}"))?;
    publish(&mut sender, topic, 1, true, payload)
}

/// Clears the retained message of `topic` (an empty retained PUBLISH [MQTT-3.3.1-10]).
fn clear_retained(context: &Context, topic: &str) -> Result<(), String> {
    retain(context, topic, b"")
}

/// Sends SUBSCRIBE by name and reads what comes, in order, until the first PUBLISH, which it
/// returns with the topic ids the node had been given by then (SUBACK and REGISTER). A PUBLISH
/// under any other id is the failure this module is about; REGISTERs are accepted as they come.
fn subscribe_and_first_publish(
    client: &mut SnClient,
    qos: i8,
    topic: &str,
) -> Result<(SnFrame, Vec<u16>), String> {
    let msg_id = client.msg_id();
    client.send(&sn_wire::subscribe(qos, msg_id, Topic::Name(topic)))?;
    let mut given = Vec::new();
    let mut subacked = false;
    loop {
        let frame = client
            .recv()
            .map_err(|error| format!("after SUBSCRIBE to {topic}: {error}"))?;
        match frame.kind {
            msg::SUBACK if frame.u16_at(3) == Some(msg_id) => {
                if frame.return_code() != Some(code::ACCEPTED) {
                    return Err(format!("SUBSCRIBE refused: {}", frame.describe()));
                }
                subacked = true;
                given.extend(frame.u16_at(1).filter(|id| *id != 0));
            }
            msg::REGISTER => {
                client.accept_register(&frame)?;
                given.extend(frame.register_parts().map(|(id, _, _)| id));
            }
            msg::PUBLISH => {
                client.acknowledge(&frame)?;
                if !subacked {
                    // Not wrong by itself if the id is known (a REGISTER came first), but the
                    // SUBACK must still come.
                    client.wait_for(msg::SUBACK)?;
                }
                return Ok((frame, given));
            }
            _ => return Err(format!("after SUBSCRIBE: unexpected {}", frame.describe())),
        }
    }
}

fn retained_after_suback(context: &Context) -> Result<Verdict, String> {
    if broker_publisher(context)?.is_none() {
        return Ok(no_broker());
    }
    let topic = context.topic("snretfirst");
    retain(context, &topic, b"retained")?;
    let id = context.client_id();
    let result = (|| {
        let mut client = SnClient::clean(context, &id)?;
        let outcome = subscribe_and_first_publish(&mut client, 1, &topic);
        client.disconnect()?;
        let (frame, given) = outcome?;
        let Some((topic_id, _, data)) = frame.publish_parts() else {
            return Err(format!("a PUBLISH too short: {}", frame.describe()));
        };
        if data != b"retained" || frame.flags() & flag::RETAIN == 0 {
            return Err(format!(
                "expected the retained message, got {}",
                frame.describe()
            ));
        }
        if !given.contains(&topic_id) {
            return Err(format!(
                "the retained PUBLISH came under topic id {topic_id:04x}, which no SUBACK or REGISTER had named yet (given: {given:04x?})"
            ));
        }
        Ok(Verdict::Pass)
    })();
    clear_retained(context, &topic)?;
    result
}

fn retained_later_subscriber(context: &Context) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let topic = context.topic("snretlate");
    retain(context, &topic, b"retained")?;
    let (first_id, second_id) = (context.client_id(), context.client_id());
    let result = (|| {
        let mut first = SnClient::clean(context, &first_id)?;
        let mut second = SnClient::clean(context, &second_id)?;
        let outcome = (|| {
            let (early, _) = subscribe_and_first_publish(&mut first, 1, &topic)?;
            if early.publish_parts().map(|(_, _, data)| data) != Some(&b"retained"[..]) {
                return Err(format!(
                    "the first subscriber: expected the retained message, got {}",
                    early.describe()
                ));
            }
            let (late, _) = subscribe_and_first_publish(&mut second, 1, &topic)
                .map_err(|error| format!("the second subscriber: {error}"))?;
            if late.publish_parts().map(|(_, _, data)| data) != Some(&b"retained"[..])
                || late.flags() & flag::RETAIN == 0
            {
                return Err(format!(
                    "the second subscriber: expected the retained message, got {}",
                    late.describe()
                ));
            }
            // A live message: the first subscriber's next message, with no second copy of the
            // retained one before it.
            publish(&mut sender, &topic, 1, false, b"live")?;
            let next = first.next_publish()?;
            match next.frame.publish_parts() {
                Some((_, _, b"live")) => Ok(Verdict::Pass),
                _ => Err(format!(
                    "the first subscriber got, after the second subscribed: {} (expected the live message only)",
                    next.frame.describe()
                )),
            }
        })();
        first.disconnect()?;
        second.disconnect()?;
        outcome
    })();
    clear_retained(context, &topic)?;
    result
}

fn kept_session_registers_again(context: &Context) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let topic = context.topic("snreturn");
    let mut client = SnClient::connect(context, &id, 0, 60)?;
    client.subscribe(1, Topic::Name(&topic))?;
    publish(&mut sender, &topic, 1, false, b"live")?;
    client.next_publish()?;
    client.disconnect()?;
    publish(&mut sender, &topic, 1, false, b"away")?;
    // The node comes back from a new port, as a restarted node does: it knows no topic id.
    let mut client = SnClient::open(context)?;
    client.send(&sn_wire::connect(0, 60, &id))?;
    let result = (|| {
        client.expect_accepted(msg::CONNACK)?;
        let delivery = client.next_publish()?;
        match (delivery.frame.publish_parts(), delivery.name.as_deref()) {
            (Some((_, _, b"away")), Some(name)) if name == topic => Ok(Verdict::Pass),
            (Some((_, _, b"away")), _) => Err(format!(
                "the kept message came under a topic id never registered with the returning node: {}",
                delivery.frame.describe()
            )),
            _ => Err(format!(
                "expected the kept message, got {}",
                delivery.frame.describe()
            )),
        }
    })();
    client.disconnect()?;
    SnClient::clean(context, &id)?.disconnect()?;
    result
}

fn invalid_topic_id_resent(context: &Context) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let topic = context.topic("snresend");
    let mut client = SnClient::clean(context, &id)?;
    client.subscribe(1, Topic::Name(&topic))?;
    let result = (|| {
        publish(&mut sender, &topic, 1, false, b"refused once")?;
        let first = client.wait_for(msg::PUBLISH)?;
        let (topic_id, msg_id, _) = first
            .publish_parts()
            .ok_or_else(|| format!("a PUBLISH too short: {}", first.describe()))?;
        // The node says it does not know the id, as a node that lost its table does [SN-6.10-7].
        client.send(&sn_wire::topic_ack(
            msg::PUBACK,
            topic_id,
            msg_id,
            code::INVALID_TOPIC_ID,
        ))?;
        let register = client.expect(msg::REGISTER)?;
        client.accept_register(&register)?;
        let again = client.next_publish()?;
        match (again.frame.publish_parts(), again.name.as_deref()) {
            (Some((_, _, b"refused once")), Some(name)) if name == topic => Ok(Verdict::Pass),
            _ => Err(format!(
                "expected the refused message again under the new registration, got {}",
                again.frame.describe()
            )),
        }
    })();
    client.disconnect()?;
    result
}

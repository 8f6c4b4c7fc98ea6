//! MQTT-SN connections: CONNECT and the Will dialogue, clean session, PINGREQ, DISCONNECT, the
//! Will updates and keep-alive loss (MQTT-SN 1.2 §5.2, §6.2 to §6.4, §6.11, §6.12, §6.14).

use std::time::{Duration, Instant};

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::publish;
use crate::checks::sn_publish::{broker_publisher, no_broker, observer};
use crate::client::TestClient;
use crate::sn_client::SnClient;
use crate::sn_wire::{self, Topic, code, flag, msg};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "sn-connect-accepted",
        section: "MQTT-SN 6.2 Connection setup",
        ids: &[
            "SN-5.4.4-1",
            "SN-5.4.5-1",
            "SN-6.2-3",
            "SN-6.14-3",
            "SN-5.3.1-1",
            "SN-5.2.1-1",
            "SN-5.2.1-3",
        ],
        summary: "CONNECT without the Will flag is answered directly with CONNACK accepted",
        applies: Applies::Gateway,
        run: connect_accepted,
    },
    Check {
        name: "sn-long-length-form",
        section: "MQTT-SN 5.2 Message header",
        ids: &["SN-5.2.1-2", "SN-5.2.1-4", "SN-5.4-1"],
        summary: "a CONNECT and a PINGREQ written with the three-octet Length are understood",
        applies: Applies::Gateway,
        run: long_length_form,
    },
    Check {
        name: "sn-will-dialogue",
        section: "MQTT-SN 6.2 Connection setup",
        ids: &[
            "SN-6.2-2",
            "SN-5.3.4-4",
            "SN-5.4.6-1",
            "SN-5.4.7-1",
            "SN-5.4.8-1",
            "SN-5.4.9-1",
        ],
        summary: "CONNECT with the Will flag is answered WILLTOPICREQ, WILLTOPIC with WILLMSGREQ, WILLMSG with CONNACK",
        applies: Applies::Gateway,
        run: will_dialogue,
    },
    Check {
        name: "sn-pingreq",
        section: "MQTT-SN 6.11 Keep-alive",
        ids: &["SN-5.4.19-1", "SN-5.4.20-1", "SN-6.11-1"],
        summary: "PINGREQ from a connected client is answered with PINGRESP",
        applies: Applies::Gateway,
        run: pingreq,
    },
    Check {
        name: "sn-disconnect",
        section: "MQTT-SN 6.12 Client disconnect",
        ids: &["SN-5.4.21-1", "SN-5.4.21-4", "SN-6.12-3", "SN-6.14-5"],
        summary: "DISCONNECT is acknowledged with a DISCONNECT that carries no Duration",
        applies: Applies::Gateway,
        run: disconnect,
    },
    Check {
        name: "sn-persistent-session-kept",
        section: "MQTT-SN 6.3 Clean session",
        ids: &["SN-6.3-1", "SN-6.3-5", "SN-6.12-2", "SN-6.10-2"],
        summary: "without CleanSession a subscription outlives DISCONNECT and delivers on a topic id the client knows",
        applies: Applies::Gateway,
        run: persistent_session_kept,
    },
    Check {
        name: "sn-persistent-will-prompted",
        section: "MQTT-SN 6.3 Clean session",
        ids: &["SN-6.3-4"],
        summary: "CONNECT without CleanSession but with the Will flag still prompts for the Will, and keeps the subscriptions",
        applies: Applies::Gateway,
        run: persistent_will_prompted,
    },
    Check {
        name: "sn-clean-session-discards",
        section: "MQTT-SN 6.3 Clean session",
        ids: &["SN-6.3-3", "SN-5.3.4-5"],
        summary: "connecting with CleanSession deletes the subscriptions of the earlier session",
        applies: Applies::Gateway,
        run: clean_session_discards,
    },
    Check {
        name: "sn-clean-session-will-discards",
        section: "MQTT-SN 6.3 Clean session",
        ids: &["SN-6.3-2"],
        summary: "CleanSession with the Will flag deletes the earlier subscriptions and prompts for a new Will",
        applies: Applies::Gateway,
        run: clean_session_will_discards,
    },
    Check {
        name: "sn-keep-alive-will",
        section: "MQTT-SN 6.14 Keep-alive and lost clients",
        ids: &["SN-6.14-4", "SN-7.2-2", "SN-5.4.4-2", "SN-5.3.3-1"],
        summary: "a client silent for 1.5 times its 1-second keep-alive is lost and its Will is published",
        applies: Applies::Gateway,
        run: keep_alive_will,
    },
    Check {
        name: "sn-will-update",
        section: "MQTT-SN 6.4 Will update",
        ids: &[
            "SN-6.4-1",
            "SN-6.4-2",
            "SN-6.4-3",
            "SN-5.4.22-1",
            "SN-5.4.23-1",
            "SN-5.4.24-1",
            "SN-5.4.25-1",
            "SN-6.14-7",
        ],
        summary: "WILLTOPICUPD and WILLMSGUPD are acknowledged and replace the Will that is published",
        applies: Applies::Gateway,
        run: will_update,
    },
];

fn connect_accepted(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut client = SnClient::open(context)?;
    client.send(&sn_wire::connect(flag::CLEAN_SESSION, 60, &id))?;
    // The answer must be CONNACK itself, not a Will prompt.
    let connack = client.expect(msg::CONNACK)?;
    if connack.body != [code::ACCEPTED] {
        return Err(format!("expected CONNACK 00, got {}", connack.describe()));
    }
    client.disconnect()?;
    Ok(Verdict::Pass)
}

fn long_length_form(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut client = SnClient::open(context)?;
    let mut body = vec![flag::CLEAN_SESSION, 0x01, 0, 60];
    body.extend_from_slice(id.as_bytes());
    client.send(&sn_wire::long_message(msg::CONNECT, &body))?;
    client.expect_accepted(msg::CONNACK)?;
    client.send(&sn_wire::long_message(msg::PINGREQ, &[]))?;
    client.expect(msg::PINGRESP)?;
    client.disconnect()?;
    Ok(Verdict::Pass)
}

/// Completes the Will dialogue after a CONNECT with the Will flag, checking each step.
pub(crate) fn will_dialogue_with(
    client: &mut SnClient,
    will_flags: u8,
    topic: &str,
    message: &[u8],
) -> Result<(), String> {
    let request = client.expect(msg::WILLTOPICREQ)?;
    if !request.body.is_empty() {
        return Err(format!("WILLTOPICREQ has a body: {}", request.describe()));
    }
    client.send(&sn_wire::will_topic(will_flags, topic))?;
    let request = client.expect(msg::WILLMSGREQ)?;
    if !request.body.is_empty() {
        return Err(format!("WILLMSGREQ has a body: {}", request.describe()));
    }
    client.send(&sn_wire::will_msg(message))?;
    client.expect_accepted(msg::CONNACK).map(drop)
}

/// A node connected with a Will on `topic` and keep-alive `duration`.
pub(crate) fn with_will(
    context: &Context,
    topic: &str,
    message: &[u8],
    duration: u16,
) -> Result<SnClient, String> {
    let id = context.client_id();
    let mut client = SnClient::open(context)?;
    client.send(&sn_wire::connect(
        flag::CLEAN_SESSION | flag::WILL,
        duration,
        &id,
    ))?;
    will_dialogue_with(&mut client, flag::QOS_1, topic, message)?;
    Ok(client)
}

fn will_dialogue(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("snwill");
    let client = with_will(context, &topic, b"gone", 60)?;
    client.disconnect()?;
    Ok(Verdict::Pass)
}

fn pingreq(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    client.send(&sn_wire::pingreq(None))?;
    let pingresp = client.expect(msg::PINGRESP)?;
    if !pingresp.body.is_empty() {
        return Err(format!("PINGRESP has a body: {}", pingresp.describe()));
    }
    client.disconnect()?;
    Ok(Verdict::Pass)
}

fn disconnect(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    client.send(&sn_wire::disconnect(None))?;
    let answer = client.expect(msg::DISCONNECT)?;
    if !answer.body.is_empty() {
        return Err(format!(
            "the acknowledging DISCONNECT carries a Duration: {}",
            answer.describe()
        ));
    }
    Ok(Verdict::Pass)
}

fn persistent_session_kept(context: &Context) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let topic = context.topic("snkept");
    let mut client = SnClient::connect(context, &id, 0, 60)?;
    let suback = client.subscribe(1, Topic::Name(&topic))?;
    let earlier_id = suback.u16_at(1).unwrap_or_default();
    client.disconnect()?;
    // Same client id, no CleanSession, no Will: CONNACK at once, and the subscription still holds.
    let mut client = SnClient::open(context)?;
    client.send(&sn_wire::connect(0, 60, &id))?;
    let connack = client.expect(msg::CONNACK)?;
    if connack.return_code() != Some(code::ACCEPTED) {
        return Err(format!("reconnect refused: {}", connack.describe()));
    }
    publish(&mut sender, &topic, 1, false, b"kept")?;
    let delivery = client.next_publish();
    client.disconnect()?;
    SnClient::clean(context, &id)?.disconnect()?;
    let delivery = delivery?;
    let Some((topic_id, _, b"kept")) = delivery.frame.publish_parts() else {
        return Err(format!(
            "expected the message on the kept subscription, got {}",
            delivery.frame.describe()
        ));
    };
    // The gateway may register the topic again in the new connection [SN-6.10-2], or keep the
    // id of the earlier SUBACK as part of the session; either is a known mapping.
    if delivery.name.as_deref() == Some(topic.as_str()) {
        Ok(Verdict::Pass)
    } else if topic_id == earlier_id {
        Ok(Verdict::Observation(format!(
            "delivered without a new REGISTER, on the id {topic_id:04x} of the earlier SUBACK"
        )))
    } else {
        Err(format!(
            "delivered on a topic id the client never learnt: {}",
            delivery.frame.describe()
        ))
    }
}

fn persistent_will_prompted(context: &Context) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let topic = context.topic("snwillkept");
    let mut client = SnClient::connect(context, &id, 0, 60)?;
    client.subscribe(1, Topic::Name(&topic))?;
    client.disconnect()?;
    let mut client = SnClient::open(context)?;
    client.send(&sn_wire::connect(flag::WILL, 60, &id))?;
    let result = (|| {
        will_dialogue_with(&mut client, flag::QOS_1, &context.topic("snw"), b"w")?;
        publish(&mut sender, &topic, 1, false, b"kept")?;
        let delivery = client.next_publish()?;
        match delivery.frame.publish_parts() {
            Some((_, _, b"kept")) => Ok(()),
            _ => Err(format!(
                "expected the message on the kept subscription, got {}",
                delivery.frame.describe()
            )),
        }
    })();
    client.disconnect()?;
    SnClient::clean(context, &id)?.disconnect()?;
    result.map(|()| Verdict::Pass)
}

fn clean_session_discards(context: &Context) -> Result<Verdict, String> {
    clean_session_with(context, false)
}

fn clean_session_will_discards(context: &Context) -> Result<Verdict, String> {
    clean_session_with(context, true)
}

/// A persistent session with a subscription, then a clean connect (with or without the Will
/// flag): the old subscription must be gone.
fn clean_session_with(context: &Context, will: bool) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let old = context.topic("sncleanold");
    let sentinel = context.topic("sncleannew");
    let mut client = SnClient::connect(context, &id, 0, 60)?;
    client.subscribe(1, Topic::Name(&old))?;
    client.disconnect()?;
    let mut client = if will {
        let mut client = SnClient::open(context)?;
        client.send(&sn_wire::connect(flag::CLEAN_SESSION | flag::WILL, 60, &id))?;
        will_dialogue_with(&mut client, 0, &context.topic("snw"), b"w")?;
        client
    } else {
        SnClient::connect(context, &id, flag::CLEAN_SESSION, 60)?
    };
    client.subscribe(1, Topic::Name(&sentinel))?;
    // The broker forwards one publisher's messages in order; the first to arrive must be the
    // sentinel, published second.
    publish(&mut sender, &old, 1, false, b"old")?;
    publish(&mut sender, &sentinel, 1, false, b"sentinel")?;
    let delivery = client.next_publish();
    client.disconnect()?;
    let delivery = delivery?;
    match delivery.frame.publish_parts() {
        Some((_, _, data)) if data == b"sentinel" => Ok(Verdict::Pass),
        _ => Err(format!(
            "the old subscription survived a clean connect: {}",
            delivery.frame.describe()
        )),
    }
}

/// Waits on `sub` for the Will, checking it arrived after at least one keep-alive period and no
/// later than the tolerance allows (1.5 times a period under a minute [SN-7.2-2]), plus the run's
/// timeout for timer granularity.
fn await_will(
    sub: &mut TestClient,
    started: Instant,
    keep_alive: Duration,
    context: &Context,
    expected: &[u8],
) -> Result<Verdict, String> {
    let allowed = keep_alive.mul_f32(1.5) + context.timeout;
    let deadline = started + allowed + context.timeout;
    let left = deadline.saturating_duration_since(Instant::now());
    let Some(frame) = sub.next_within(left)? else {
        return Err(format!(
            "no Will within {:?} of a keep-alive of {keep_alive:?}",
            started.elapsed()
        ));
    };
    sub.acknowledge(&frame)?;
    let waited = started.elapsed();
    let Some((_, _, payload)) = frame.publish_parts() else {
        return Err(format!("expected the Will, got {}", frame.describe()));
    };
    if payload != expected {
        return Err(format!(
            "expected the Will {:?}, got {}",
            String::from_utf8_lossy(expected),
            frame.describe()
        ));
    }
    if waited < keep_alive {
        return Err(format!(
            "the Will came after only {waited:?}, before the keep-alive of {keep_alive:?} elapsed"
        ));
    }
    if waited > allowed {
        return Err(format!(
            "the Will came only after {waited:?}, keep-alive {keep_alive:?}"
        ));
    }
    Ok(Verdict::Pass)
}

fn keep_alive_will(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("snka");
    let Some(mut sub) = observer(context, &topic, 1)? else {
        return Ok(no_broker());
    };
    let started = Instant::now();
    // Silent from the CONNACK on.
    let _client = with_will(context, &topic, b"lost", 1)?;
    await_will(&mut sub, started, Duration::from_secs(1), context, b"lost")
}

fn will_update(context: &Context) -> Result<Verdict, String> {
    let old = context.topic("snwillold");
    let new = context.topic("snwillnew");
    let Some(mut sub) = observer(context, &new, 1)? else {
        return Ok(no_broker());
    };
    let mut client = with_will(context, &old, b"old", 60)?;
    // Topic first, message second, each acknowledged on its own [SN-6.4-3].
    client.send(&sn_wire::will_topic_update(flag::QOS_1, Some(&new)))?;
    let response = client.expect(msg::WILLTOPICRESP)?;
    if response.body != [code::ACCEPTED] {
        return Err(format!(
            "expected WILLTOPICRESP 00, got {}",
            response.describe()
        ));
    }
    client.send(&sn_wire::will_msg_update(b"new"))?;
    let response = client.expect(msg::WILLMSGRESP)?;
    if response.body != [code::ACCEPTED] {
        return Err(format!(
            "expected WILLMSGRESP 00, got {}",
            response.describe()
        ));
    }
    // The updated Will is what must be published. Rather than wait out a minute of keep-alive,
    // the node goes to sleep for one second and never wakes, which makes it lost [SN-6.14-7].
    // The clock starts before the DISCONNECT leaves: the gateway's sleep timer cannot start
    // earlier, however late its acknowledgement comes.
    let started = Instant::now();
    client.send(&sn_wire::disconnect(Some(1)))?;
    client.expect(msg::DISCONNECT)?;
    await_will(&mut sub, started, Duration::from_secs(1), context, b"new")
}

//! MQTT-SN topics and messages: REGISTER, PUBLISH at every QoS both ways (seen from the broker's
//! side), QoS -1, short and predefined topic ids, invalid ids, SUBSCRIBE with wildcards and
//! UNSUBSCRIBE (MQTT-SN 1.2 §6.5 to §6.10, §7.3).
//!
//! A message published by a node is observed by an MQTT client of the broker behind the gateway;
//! a message for a node is published by one. Those checks need `--port` in a gateway run and are
//! skipped without it.

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::{publish, publisher, subscriber};
use crate::client::TestClient;
use crate::sn_client::SnClient;
use crate::sn_wire::{self, SnFrame, Topic, code, flag, msg};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "sn-register",
        section: "MQTT-SN 6.5 Topic registration",
        ids: &["SN-5.4.10-1", "SN-5.4.11-1", "SN-6.5-2", "SN-5.3.11-1"],
        summary: "REGISTER is answered by REGACK accepted, echoing the MsgId, with a usable topic id",
        applies: Applies::Gateway,
        run: register,
    },
    Check {
        name: "sn-publish-before-connect",
        section: "MQTT-SN 6.2 Connection setup",
        ids: &["SN-6.2-1", "SN-5.4.21-2"],
        summary: "a QoS 1 PUBLISH from a node that never connected is not accepted (DISCONNECT or silence is the gateway's choice)",
        applies: Applies::Gateway,
        run: publish_before_connect,
    },
    Check {
        name: "sn-publish-qos0",
        section: "MQTT-SN 6.6 Client's publish",
        ids: &[
            "SN-6.6-1",
            "SN-6.6-2",
            "SN-5.4.12-1",
            "SN-5.4.12-3",
            "SN-6.5-1",
        ],
        summary: "a QoS 0 PUBLISH on a registered id reaches the broker on its topic name",
        applies: Applies::Gateway,
        run: publish_qos0,
    },
    Check {
        name: "sn-publish-qos1",
        section: "MQTT-SN 6.6 Client's publish",
        ids: &["SN-6.6-2", "SN-5.4.13-1", "SN-5.3.7-1"],
        summary: "a QoS 1 PUBLISH is acknowledged by PUBACK echoing TopicId and MsgId and reaches the broker at QoS 1",
        applies: Applies::Gateway,
        run: publish_qos1,
    },
    Check {
        name: "sn-publish-qos2",
        section: "MQTT-SN 6.6 Client's publish",
        ids: &["SN-6.6-2", "SN-5.4.14-1"],
        summary: "a QoS 2 PUBLISH completes PUBREC, PUBREL, PUBCOMP and reaches the broker at QoS 2",
        applies: Applies::Gateway,
        run: publish_qos2,
    },
    Check {
        name: "sn-publish-retained",
        section: "MQTT-SN 6.6 Client's publish",
        ids: &["SN-5.3.4-3", "SN-6.6-2"],
        summary: "a PUBLISH with Retain is retained at the broker: a later subscriber gets it with RETAIN",
        applies: Applies::Gateway,
        run: publish_retained,
    },
    Check {
        name: "sn-deliver-qos0",
        section: "MQTT-SN 6.10 Gateway's publish",
        ids: &[
            "SN-6.9-1",
            "SN-5.4.16-1",
            "SN-5.4.16-2",
            "SN-6.10-1",
            "SN-5.4.12-3",
        ],
        summary: "after SUBSCRIBE by name at QoS 0, messages arrive at QoS 0 on the id SUBACK gave",
        applies: Applies::Gateway,
        run: deliver_qos0,
    },
    Check {
        name: "sn-deliver-qos1",
        section: "MQTT-SN 6.10 Gateway's publish",
        ids: &[
            "SN-6.9-1",
            "SN-6.10-1",
            "SN-6.6-2",
            "SN-6.7-1",
            "SN-5.3.4-1",
        ],
        summary: "after SUBSCRIBE at QoS 1, messages arrive at QoS 1 with a MsgId, on the id SUBACK gave",
        applies: Applies::Gateway,
        run: deliver_qos1,
    },
    Check {
        name: "sn-deliver-qos2",
        section: "MQTT-SN 6.10 Gateway's publish",
        ids: &["SN-6.9-1", "SN-6.10-1", "SN-6.6-2", "SN-5.4.14-1"],
        summary: "after SUBSCRIBE at QoS 2, messages arrive at QoS 2 and complete PUBREC, PUBREL, PUBCOMP",
        applies: Applies::Gateway,
        run: deliver_qos2,
    },
    Check {
        name: "sn-qos-minus-one",
        section: "MQTT-SN 6.8 QoS -1",
        ids: &["SN-6.8-1", "SN-6.8-2", "SN-5.3.4-2"],
        summary: "a QoS -1 PUBLISH on a short topic name from a node that never connected reaches the broker",
        applies: Applies::Gateway,
        run: qos_minus_one,
    },
    Check {
        name: "sn-short-topic-publish",
        section: "MQTT-SN 6.7 Short and predefined topic ids",
        ids: &["SN-6.7-6", "SN-5.3.4-6", "SN-5.4.12-2"],
        summary: "a PUBLISH on a two-character short topic name needs no REGISTER and reaches the broker",
        applies: Applies::Gateway,
        run: short_topic_publish,
    },
    Check {
        name: "sn-short-topic-subscribe",
        section: "MQTT-SN 6.7 Short and predefined topic ids",
        ids: &["SN-6.9-4", "SN-6.7-6", "SN-5.4.15-2"],
        summary: "a subscription to a short topic name delivers with TopicIdType short and the name as TopicId",
        applies: Applies::Gateway,
        run: short_topic_subscribe,
    },
    Check {
        name: "sn-predefined-publish",
        section: "MQTT-SN 6.7 Short and predefined topic ids",
        ids: &["SN-6.7-2"],
        summary: "a PUBLISH on a predefined topic id (--sn-predefined) reaches the broker on its name",
        applies: Applies::Gateway,
        run: predefined_publish,
    },
    Check {
        name: "sn-predefined-subscribe",
        section: "MQTT-SN 6.7 Short and predefined topic ids",
        ids: &["SN-6.7-4", "SN-6.9-4", "SN-6.7-5"],
        summary: "a subscription to a predefined topic id delivers with TopicIdType predefined and that id",
        applies: Applies::Gateway,
        run: predefined_subscribe,
    },
    Check {
        name: "sn-predefined-unknown",
        section: "MQTT-SN 6.7 Short and predefined topic ids",
        ids: &["SN-6.7-3"],
        summary: "a QoS 1 PUBLISH on a predefined id the gateway does not know gets PUBACK invalid topic id",
        applies: Applies::Gateway,
        run: predefined_unknown,
    },
    Check {
        name: "sn-invalid-topic-id",
        section: "MQTT-SN 6.6 Client's publish",
        ids: &["SN-5.4.13-2", "SN-6.6-3", "SN-5.3.10-1"],
        summary: "a QoS 1 PUBLISH on a topic id never registered gets PUBACK invalid topic id (0x02)",
        applies: Applies::Gateway,
        run: invalid_topic_id,
    },
    Check {
        name: "sn-topic-ids-per-client",
        section: "MQTT-SN 7.3 Topic id mapping",
        ids: &["SN-7.3-1"],
        summary: "a topic id registered by one client is invalid for another",
        applies: Applies::Gateway,
        run: topic_ids_per_client,
    },
    Check {
        name: "sn-wildcard-plus",
        section: "MQTT-SN 6.9 Subscribe",
        ids: &[
            "SN-6.9-3",
            "SN-5.4.10-2",
            "SN-6.10-2",
            "SN-6.10-4",
            "SN-6.5-6",
            "SN-5.3.12-1",
        ],
        summary: "SUBSCRIBE to a + filter gets TopicId 0; each matching topic is registered, and REGACK awaited, before its PUBLISH",
        applies: Applies::Gateway,
        run: wildcard_plus,
    },
    Check {
        name: "sn-wildcard-hash",
        section: "MQTT-SN 6.9 Subscribe",
        ids: &["SN-6.9-3", "SN-5.4.10-2", "SN-6.10-4"],
        summary: "SUBSCRIBE to a # filter gets TopicId 0; each matching topic is registered before its PUBLISH",
        applies: Applies::Gateway,
        run: wildcard_hash,
    },
    Check {
        name: "sn-rejected-id-registered-again",
        section: "MQTT-SN 6.10 Gateway's publish",
        ids: &["SN-6.10-7", "SN-6.10-4"],
        summary: "after the node answers a PUBLISH with PUBACK invalid topic id, the gateway registers the topic again before using it",
        applies: Applies::Gateway,
        run: rejected_id_registered_again,
    },
    Check {
        name: "sn-oversized-not-delivered",
        section: "MQTT-SN 6.10 Gateway's publish",
        ids: &["SN-6.10-8"],
        summary: "a message too large for one datagram is not delivered, not even cut short; the next one is",
        applies: Applies::Gateway,
        run: oversized_not_delivered,
    },
    Check {
        name: "sn-unsubscribe",
        section: "MQTT-SN 6.9 Subscribe",
        ids: &["SN-6.9-5", "SN-5.4.17-1", "SN-5.4.18-1"],
        summary: "UNSUBSCRIBE is answered by UNSUBACK echoing the MsgId, and delivery on the topic stops",
        applies: Applies::Gateway,
        run: unsubscribe,
    },
];

/// The verdict of a check that needs the broker behind the gateway when none was given.
pub(crate) fn no_broker() -> Verdict {
    Verdict::Skip("needs the broker behind the gateway (--host/--port with --sn-port)".to_owned())
}

fn has_broker(context: &Context) -> bool {
    context
        .gateway
        .as_ref()
        .is_some_and(|gateway| gateway.broker)
}

/// An MQTT client of the broker behind the gateway, subscribed to `topic`; `None` without one.
pub(crate) fn observer(
    context: &Context,
    topic: &str,
    qos: u8,
) -> Result<Option<TestClient>, String> {
    if !has_broker(context) {
        return Ok(None);
    }
    subscriber(context, topic, qos)
        .map(Some)
        .map_err(|error| format!("observer at the broker: {error}"))
}

/// An MQTT client of the broker behind the gateway, to publish; `None` without one.
pub(crate) fn broker_publisher(context: &Context) -> Result<Option<TestClient>, String> {
    if !has_broker(context) {
        return Ok(None);
    }
    publisher(context)
        .map(Some)
        .map_err(|error| format!("publisher at the broker: {error}"))
}

/// The next PUBLISH the observer sees, which must carry `topic` and `payload` at `qos`.
fn observed(sub: &mut TestClient, topic: &str, qos: u8, payload: &[u8]) -> Result<(), String> {
    let frame = sub
        .expect_publish()
        .map_err(|error| format!("at the broker: {error}"))?;
    match frame.publish_parts() {
        Some((name, _, data)) if name == topic && data == payload && frame.qos() == qos => Ok(()),
        _ => Err(format!(
            "expected at the broker {topic} {:?} at QoS {qos}, got {}",
            String::from_utf8_lossy(payload),
            frame.describe()
        )),
    }
}

fn register(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("snreg");
    let mut client = SnClient::clean(context, &id)?;
    let topic_id = client.register(&topic)?;
    client.disconnect()?;
    if topic_id == 0x0000 || topic_id == 0xFFFF {
        return Err(format!(
            "REGACK assigned the reserved topic id {topic_id:04x}"
        ));
    }
    Ok(Verdict::Pass)
}

fn publish_to_broker(context: &Context, qos: i8) -> Result<Verdict, String> {
    let topic = context.topic("snpub");
    let Some(mut sub) = observer(context, &topic, 2)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    let topic_id = client.register(&topic)?;
    client.publish(qos, flag::NORMAL, topic_id, b"from a node")?;
    let seen = observed(&mut sub, &topic, qos.unsigned_abs(), b"from a node");
    client.disconnect()?;
    seen.map(|()| Verdict::Pass)
}

fn publish_qos0(context: &Context) -> Result<Verdict, String> {
    publish_to_broker(context, 0)
}

fn publish_qos1(context: &Context) -> Result<Verdict, String> {
    publish_to_broker(context, 1)
}

fn publish_qos2(context: &Context) -> Result<Verdict, String> {
    publish_to_broker(context, 2)
}

/// Checks a delivered PUBLISH: the data, the QoS, the TopicIdType and TopicId, and the MsgId rule
/// (0x0000 at QoS 0, anything but 0x0000 above).
fn check_delivery(
    frame: &SnFrame,
    data: &[u8],
    qos: i8,
    type_bits: u8,
    topic_ids: &[u16],
) -> Result<(), String> {
    let Some((topic_id, msg_id, payload)) = frame.publish_parts() else {
        return Err(format!("a PUBLISH too short: {}", frame.describe()));
    };
    if payload != data {
        return Err(format!(
            "expected the data {:?}, got {}",
            String::from_utf8_lossy(data),
            frame.describe()
        ));
    }
    // A first sending has DUP 0 [SN-5.3.4-1].
    if frame.flags() & flag::DUP != 0 {
        return Err(format!("DUP set on a first delivery: {}", frame.describe()));
    }
    if frame.qos() != qos {
        return Err(format!("expected QoS {qos}, got {}", frame.describe()));
    }
    if frame.flags() & 0x03 != type_bits {
        return Err(format!(
            "expected TopicIdType {type_bits:02b}, got {}",
            frame.describe()
        ));
    }
    if !topic_ids.contains(&topic_id) {
        return Err(format!(
            "delivered on TopicId {topic_id:04x}, expected one of {topic_ids:04x?}: {}",
            frame.describe()
        ));
    }
    match (qos, msg_id) {
        (0, 0) => Ok(()),
        (0, _) => Err(format!(
            "a QoS 0 PUBLISH with MsgId {msg_id}: {}",
            frame.describe()
        )),
        (_, 0) => Err(format!(
            "a QoS {qos} PUBLISH with MsgId 0: {}",
            frame.describe()
        )),
        _ => Ok(()),
    }
}

fn deliver_from_broker(context: &Context, qos: i8) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let topic = context.topic("sndeliver");
    let mut client = SnClient::clean(context, &id)?;
    let suback = client.subscribe(qos, Topic::Name(&topic))?;
    let granted = suback.qos();
    let suback_id = suback.u16_at(1).unwrap_or_default();
    publish(&mut sender, &topic, 2, false, b"for a node")?;
    let delivery = client.next_publish();
    client.disconnect()?;
    let delivery = delivery?;
    if granted != qos {
        return Err(format!(
            "SUBACK granted QoS {granted} for {qos}: {}",
            suback.describe()
        ));
    }
    if suback_id == 0x0000 || suback_id == 0xFFFF {
        return Err(format!(
            "SUBACK for a topic name carries the reserved TopicId {suback_id:04x}"
        ));
    }
    check_delivery(
        &delivery.frame,
        b"for a node",
        qos,
        flag::NORMAL,
        &[suback_id],
    )?;
    Ok(Verdict::Pass)
}

fn deliver_qos0(context: &Context) -> Result<Verdict, String> {
    deliver_from_broker(context, 0)
}

fn deliver_qos1(context: &Context) -> Result<Verdict, String> {
    deliver_from_broker(context, 1)
}

fn deliver_qos2(context: &Context) -> Result<Verdict, String> {
    deliver_from_broker(context, 2)
}

fn qos_minus_one(context: &Context) -> Result<Verdict, String> {
    let short = context.short_topic();
    let name = String::from_utf8_lossy(&short).into_owned();
    let Some(mut sub) = observer(context, &name, 1)? else {
        return Ok(no_broker());
    };
    // A node that never sent CONNECT: the PUBLISH is all it says.
    let node = SnClient::open(context)?;
    node.send(&sn_wire::publish(
        flag::QOS_MINUS_1 | flag::SHORT,
        sn_wire::short_name(short),
        0,
        b"fire and forget",
    ))?;
    observed(&mut sub, &name, 0, b"fire and forget").map(|()| Verdict::Pass)
}

fn short_topic_publish(context: &Context) -> Result<Verdict, String> {
    let short = context.short_topic();
    let name = String::from_utf8_lossy(&short).into_owned();
    let Some(mut sub) = observer(context, &name, 1)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    client.publish(1, flag::SHORT, sn_wire::short_name(short), b"short")?;
    let seen = observed(&mut sub, &name, 1, b"short");
    client.disconnect()?;
    seen.map(|()| Verdict::Pass)
}

fn short_topic_subscribe(context: &Context) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let short = context.short_topic();
    let name = String::from_utf8_lossy(&short).into_owned();
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    client.subscribe(1, Topic::Short(short))?;
    publish(&mut sender, &name, 1, false, b"short")?;
    let delivery = client.next_publish();
    client.disconnect()?;
    check_delivery(
        &delivery?.frame,
        b"short",
        1,
        flag::SHORT,
        &[sn_wire::short_name(short)],
    )?;
    Ok(Verdict::Pass)
}

/// The first predefined topic given on the command line, or why the check cannot run.
fn predefined(context: &Context) -> Result<(u16, String), Verdict> {
    context
        .gateway
        .as_ref()
        .and_then(|gateway| gateway.predefined.first().cloned())
        .ok_or_else(|| {
            Verdict::Skip(
                "needs a predefined topic of the gateway (--sn-predefined ID=NAME)".to_owned(),
            )
        })
}

fn predefined_publish(context: &Context) -> Result<Verdict, String> {
    let (topic_id, name) = match predefined(context) {
        Ok(found) => found,
        Err(skip) => return Ok(skip),
    };
    let Some(mut sub) = observer(context, &name, 1)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    client.publish(1, flag::PREDEFINED, topic_id, b"predefined")?;
    let seen = observed(&mut sub, &name, 1, b"predefined");
    client.disconnect()?;
    seen.map(|()| Verdict::Pass)
}

fn predefined_subscribe(context: &Context) -> Result<Verdict, String> {
    let (topic_id, name) = match predefined(context) {
        Ok(found) => found,
        Err(skip) => return Ok(skip),
    };
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    client.subscribe(1, Topic::Predefined(topic_id))?;
    publish(&mut sender, &name, 1, false, b"predefined")?;
    let delivery = client.next_publish();
    client.disconnect()?;
    check_delivery(
        &delivery?.frame,
        b"predefined",
        1,
        flag::PREDEFINED,
        &[topic_id],
    )?;
    Ok(Verdict::Pass)
}

/// A QoS 1 PUBLISH that must be refused with PUBACK "invalid topic id", echoing TopicId and MsgId.
fn expect_invalid(client: &mut SnClient, type_bits: u8, topic_id: u16) -> Result<(), String> {
    let msg_id = client.msg_id();
    client.send(&sn_wire::publish(
        flag::QOS_1 | type_bits,
        topic_id,
        msg_id,
        b"nowhere",
    ))?;
    let puback = client.wait_for(msg::PUBACK)?;
    if puback.u16_at(0) != Some(topic_id)
        || puback.u16_at(2) != Some(msg_id)
        || puback.return_code() != Some(code::INVALID_TOPIC_ID)
    {
        return Err(format!(
            "expected PUBACK {topic_id:04x} {msg_id:04x} 02 (invalid topic id), got {}",
            puback.describe()
        ));
    }
    Ok(())
}

fn predefined_unknown(context: &Context) -> Result<Verdict, String> {
    // The highest id not given as predefined: the gateway is assumed to know no others there.
    let given: Vec<u16> = context
        .gateway
        .as_ref()
        .map(|gateway| gateway.predefined.iter().map(|(id, _)| *id).collect())
        .unwrap_or_default();
    let unknown = (1..0xFFFF)
        .rev()
        .find(|id| !given.contains(id))
        .unwrap_or(0xFFFE);
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    let result = expect_invalid(&mut client, flag::PREDEFINED, unknown);
    client.disconnect()?;
    result.map(|()| Verdict::Pass)
}

fn invalid_topic_id(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    // One id is registered, so the gateway has a table; the next id up is not in it.
    let registered = client.register(&context.topic("sninvalid"))?;
    let unknown = if registered == 0xFFFE {
        1
    } else {
        registered + 1
    };
    let result = expect_invalid(&mut client, flag::NORMAL, unknown);
    client.disconnect()?;
    result.map(|()| Verdict::Pass)
}

fn topic_ids_per_client(context: &Context) -> Result<Verdict, String> {
    let first_id = context.client_id();
    let second_id = context.client_id();
    let mut first = SnClient::clean(context, &first_id)?;
    let mut second = SnClient::clean(context, &second_id)?;
    let topic_id = first.register(&context.topic("snpool"))?;
    let result = expect_invalid(&mut second, flag::NORMAL, topic_id);
    first.disconnect()?;
    second.disconnect()?;
    result.map(|()| Verdict::Pass)
}

fn wildcard(context: &Context, filter_end: &str, topic_end: &str) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let base = context.topic("snwild");
    let filter = format!("{base}/{filter_end}");
    let topic = format!("{base}/{topic_end}");
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    let suback = client.subscribe(1, Topic::Name(&filter))?;
    let result = (|| {
        if suback.u16_at(1) != Some(0x0000) {
            return Err(format!(
                "SUBACK for a wildcard filter must carry TopicId 0000: {}",
                suback.describe()
            ));
        }
        publish(&mut sender, &topic, 1, false, b"matched")?;
        // The gateway must register the topic first, and then wait for the REGACK: a barrier
        // (PINGREQ) sent before the REGACK shows whether a PUBLISH was already on its way.
        let register = client.wait_for(msg::REGISTER)?;
        let (topic_id, _, name) = register
            .register_parts()
            .ok_or_else(|| format!("a REGISTER too short: {}", register.describe()))?;
        if name != topic.as_bytes() {
            return Err(format!(
                "REGISTER names {:?}, expected {topic}",
                String::from_utf8_lossy(name)
            ));
        }
        if let Some(early) = client.ping()?.into_iter().find(|f| f.kind == msg::PUBLISH) {
            return Err(format!(
                "PUBLISH sent before the REGISTER was acknowledged: {}",
                early.describe()
            ));
        }
        client.accept_register(&register)?;
        let delivery = client.next_publish()?;
        check_delivery(&delivery.frame, b"matched", 1, flag::NORMAL, &[topic_id])
    })();
    client.disconnect()?;
    result.map(|()| Verdict::Pass)
}

fn wildcard_plus(context: &Context) -> Result<Verdict, String> {
    wildcard(context, "+/end", "middle/end")
}

fn wildcard_hash(context: &Context) -> Result<Verdict, String> {
    wildcard(context, "#", "deep/down/here")
}

fn unsubscribe(context: &Context) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let gone = context.topic("snunsub");
    let sentinel = context.topic("snunsubsentinel");
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    client.subscribe(1, Topic::Name(&gone))?;
    client.subscribe(1, Topic::Name(&sentinel))?;
    let msg_id = client.msg_id();
    client.send(&sn_wire::unsubscribe(msg_id, Topic::Name(&gone)))?;
    let unsuback = client.wait_for(msg::UNSUBACK)?;
    let result = (|| {
        if unsuback.body != msg_id.to_be_bytes() {
            return Err(format!(
                "expected UNSUBACK {msg_id:04x}, got {}",
                unsuback.describe()
            ));
        }
        // One publisher, in order: the first message the node sees must be the sentinel.
        publish(&mut sender, &gone, 1, false, b"unsubscribed")?;
        publish(&mut sender, &sentinel, 1, false, b"sentinel")?;
        let delivery = client.next_publish()?;
        match delivery.frame.publish_parts() {
            Some((_, _, data)) if data == b"sentinel" => Ok(()),
            _ => Err(format!(
                "delivered after UNSUBSCRIBE: {}",
                delivery.frame.describe()
            )),
        }
    })();
    client.disconnect()?;
    result.map(|()| Verdict::Pass)
}

fn publish_before_connect(context: &Context) -> Result<Verdict, String> {
    let mut node = SnClient::open(context)?;
    let msg_id = node.msg_id();
    node.send(&sn_wire::publish(flag::QOS_1, 0x0001, msg_id, b"stranger"))?;
    // SEARCHGW is answered whatever the node's state, so GWINFO marks the point by which the
    // gateway has handled the PUBLISH.
    node.send(&sn_wire::searchgw(1))?;
    let mut answers = Vec::new();
    loop {
        let frame = node
            .recv()
            .map_err(|error| format!("waiting for GWINFO after the PUBLISH: {error}"))?;
        match frame.kind {
            msg::GWINFO => break,
            msg::ADVERTISE => {}
            msg::PUBACK if frame.return_code() == Some(code::ACCEPTED) => {
                return Err(format!(
                    "a PUBLISH without CONNECT was accepted: {}",
                    frame.describe()
                ));
            }
            _ => answers.push(frame.describe()),
        }
    }
    Ok(match answers.as_slice() {
        [] => Verdict::Pass,
        _ => Verdict::Observation(format!("answered {}", answers.join(", "))),
    })
}

fn publish_retained(context: &Context) -> Result<Verdict, String> {
    let Some(mut cleaner) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let topic = context.topic("snretain");
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    let topic_id = client.register(&topic)?;
    client.publish(1, flag::RETAIN, topic_id, b"kept")?;
    client.disconnect()?;
    // The PUBACK came after the broker's, so the message is retained by now.
    let result = (|| {
        let mut late = subscriber(context, &topic, 1)?;
        let frame = late
            .expect_publish()
            .map_err(|error| format!("at the broker: {error}"))?;
        match frame.publish_parts() {
            Some((_, _, data)) if data == b"kept" && frame.retain() => Ok(Verdict::Pass),
            _ => Err(format!(
                "expected the retained message at a new subscriber, got {}",
                frame.describe()
            )),
        }
    })();
    publish(&mut cleaner, &topic, 1, true, b"")?;
    result
}

fn rejected_id_registered_again(context: &Context) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let base = context.topic("snreject");
    let topic = format!("{base}/x");
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    client.subscribe(1, Topic::Name(&format!("{base}/+")))?;
    let result = (|| {
        publish(&mut sender, &topic, 1, false, b"first")?;
        let register = client.wait_for(msg::REGISTER)?;
        client.accept_register(&register)?;
        let first = client.wait_for(msg::PUBLISH)?;
        let (topic_id, msg_id, _) = first
            .publish_parts()
            .ok_or_else(|| format!("a PUBLISH too short: {}", first.describe()))?;
        // The node claims not to know the id [SN-6.10-7].
        client.send(&sn_wire::topic_ack(
            msg::PUBACK,
            topic_id,
            msg_id,
            code::INVALID_TOPIC_ID,
        ))?;
        publish(&mut sender, &topic, 1, false, b"second")?;
        let next = client.recv()?;
        match next.kind {
            msg::REGISTER => {
                client.accept_register(&next)?;
                let mut delivery = client.next_publish()?;
                // A gateway may send the refused message again under the new registration
                // (`sn-invalid-topic-id-resent` checks that it does); "second" follows it.
                if delivery
                    .frame
                    .publish_parts()
                    .is_some_and(|(_, _, data)| data == b"first")
                {
                    delivery = client.next_publish()?;
                }
                check_delivery(
                    &delivery.frame,
                    b"second",
                    1,
                    flag::NORMAL,
                    &[next.register_parts().map_or(0, |(id, _, _)| id)],
                )
            }
            _ => Err(format!(
                "expected a new REGISTER after the rejection, got {}",
                next.describe()
            )),
        }
    })();
    client.disconnect()?;
    result.map(|()| Verdict::Pass)
}

fn oversized_not_delivered(context: &Context) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let topic = context.topic("snbig");
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    let suback = client.subscribe(0, Topic::Name(&topic))?;
    let topic_id = suback.u16_at(1).unwrap_or_default();
    let result = (|| {
        // More than the 65535 octets a datagram's Length can state, so no PUBLISH can carry it.
        publish(&mut sender, &topic, 0, false, &vec![b'x'; 65_600])?;
        // Same publisher, same topic: the sentinel is forwarded after it, and must come first.
        publish(&mut sender, &topic, 0, false, b"sentinel")?;
        let delivery = client.next_publish()?;
        check_delivery(&delivery.frame, b"sentinel", 0, flag::NORMAL, &[topic_id])
    })();
    client.disconnect()?;
    result.map(|()| Verdict::Pass)
}

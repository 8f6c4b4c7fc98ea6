//! MQTT 5.0 topic names and filters as strings (5.0 §1.5.4, §4.7): a byte-order mark is a character
//! like any other, wildcards at the start of a filter leave `$` topics alone, and a topic as long as
//! a string can be is routed whole.

use mqtt_codec::v5::Property;

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::v5_common::{
    clean, deliveries_before_ping, delivery, granted, publish, subscribe, subscriber,
    topic_and_payload,
};
use crate::v5_wire::options;

const SECTION: &str = "MQTT5 4.7 Topic Names and Topic Filters";

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "v5-byte-order-mark-kept",
        section: SECTION,
        ids: &["MQTT5-1.5.4-3"],
        summary: "U+FEFF inside a topic and a User Property is kept: it matches only the filter that has it and is delivered with it",
        applies: Applies::V5,
        run: byte_order_mark_kept,
    },
    Check {
        name: "v5-dollar-topics-not-matched-by-wildcards",
        section: SECTION,
        ids: &["MQTT5-4.7.2-1"],
        summary: "'#' and '+/...' do not match a topic starting with '$', which its exact filter does match",
        applies: Applies::V5,
        run: dollar_topics,
    },
    Check {
        name: "v5-longest-topic",
        section: SECTION,
        ids: &["MQTT5-4.7.3-3"],
        summary: "a filter and a topic of 65 535 bytes, the longest a string can be, are subscribed, published and delivered whole",
        applies: Applies::V5,
        run: longest_topic,
    },
];

/// U+FEFF, ZERO WIDTH NO-BREAK SPACE: the bytes EF BB BF.
const BOM: char = '\u{feff}';

fn byte_order_mark_kept(context: &Context) -> Result<Verdict, String> {
    let base = context.topic("bom");
    let with_bom = format!("{base}/{BOM}x");
    let value = format!("{BOM}v");
    let mut exact = subscriber(context, &with_bom, options(1, false, false, 0))?;
    let mut all = subscriber(context, &format!("{base}/#"), options(1, false, false, 0))?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &format!("{base}/x"), 1, false, b"plain", &[])?;
    publish(
        &mut sender,
        &with_bom,
        1,
        false,
        b"marked",
        &[Property::UserProperty("k", &value)],
    )?;
    let outcome = (|| {
        let mut seen = Vec::new();
        for bytes in deliveries_before_ping(&mut all)? {
            let publish = delivery(&bytes)?;
            let user: Vec<(String, String)> = publish
                .properties
                .user_properties()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            let (topic, payload) = topic_and_payload(&bytes)?;
            seen.push((topic, payload, user));
        }
        let wanted = vec![
            (format!("{base}/x"), b"plain".to_vec(), vec![]),
            (
                with_bom.clone(),
                b"marked".to_vec(),
                vec![("k".to_owned(), value.clone())],
            ),
        ];
        if seen != wanted {
            return Err(format!(
                "'{base}/#' got {seen:?}, expected {wanted:?} (U+FEFF kept in the topic and the value)"
            ));
        }
        let matched: Vec<String> = deliveries_before_ping(&mut exact)?
            .iter()
            .map(|bytes| topic_and_payload(bytes).map(|(topic, _)| topic))
            .collect::<Result<_, _>>()?;
        if matched != [with_bom.clone()] {
            return Err(format!(
                "the filter {with_bom:?} matched {matched:?}: only the topic with U+FEFF should"
            ));
        }
        Ok(())
    })();
    exact.disconnect()?;
    all.disconnect()?;
    sender.disconnect()?;
    outcome.map(|()| Verdict::Pass)
}

fn dollar_topics(context: &Context) -> Result<Verdict, String> {
    let name = format!("${}/x", context.prefix);
    let mut exact = subscriber(context, &name, options(1, false, false, 0))?;
    let mut wild = clean(context, &context.client_id())?;
    granted(&subscribe(
        &mut wild,
        1,
        &[
            ("#", options(1, false, false, 0)),
            ("+/x", options(1, false, false, 0)),
        ],
        &[],
    )?)?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &name, 1, false, b"dollar", &[])?;
    let outcome = (|| {
        // A positive control: does this server deliver client PUBLISHes to '$' topics at all?
        let control = deliveries_before_ping(&mut exact)?;
        if control.is_empty() {
            return Ok(Verdict::Skip(
                "the server does not deliver client PUBLISHes to '$' topics".to_owned(),
            ));
        }
        // '#' also matches whatever other clients of the server publish; only this message counts.
        for bytes in deliveries_before_ping(&mut wild)? {
            let (topic, payload) = topic_and_payload(&bytes)?;
            if payload == b"dollar" {
                return Err(format!(
                    "a filter starting with a wildcard got the message published to {name}, on {topic}"
                ));
            }
        }
        Ok(Verdict::Pass)
    })();
    exact.disconnect()?;
    wild.disconnect()?;
    sender.disconnect()?;
    outcome
}

fn longest_topic(context: &Context) -> Result<Verdict, String> {
    let mut topic = context.topic("long/");
    let fill = 65_535 - topic.len();
    topic.extend(std::iter::repeat_n('L', fill));
    let mut sub = subscriber(context, &topic, options(1, false, false, 0))
        .map_err(|error| format!("subscribing to a filter of 65 535 bytes: {error}"))?;
    let mut sender = clean(context, &context.client_id())?;
    let outcome = publish(&mut sender, &topic, 1, false, b"long", &[])
        .map_err(|error| format!("publishing to a topic of 65 535 bytes: {error}"))
        .and_then(|()| {
            let arrived = deliveries_before_ping(&mut sub)?;
            match arrived.as_slice() {
                [bytes] => {
                    let (got, payload) = topic_and_payload(bytes)?;
                    if got == topic && payload == b"long" {
                        Ok(Verdict::Pass)
                    } else {
                        Err(format!(
                            "delivered on a topic of {} bytes, with '{}'",
                            got.len(),
                            String::from_utf8_lossy(&payload)
                        ))
                    }
                }
                other => Err(format!(
                    "{} deliveries on the topic of 65 535 bytes, expected one",
                    other.len()
                )),
            }
        });
    sub.disconnect()?;
    sender.disconnect()?;
    outcome
}

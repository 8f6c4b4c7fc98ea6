//! Topic matching (3.1.1 §4.7).

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::{publish, publisher};
use crate::client::TestClient;
use crate::wire::{self, kind};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "wildcards-match",
        section: "4.7 Topic Names and Filters",
        ids: &["MQTT-4.7.1-2", "MQTT-4.7.1-3", "MQTT-3.3.2-3"],
        summary: "'+' matches one level, '#' the parent and every level below; other names do not match",
        applies: Applies::Both,
        run: wildcards_match,
    },
    Check {
        name: "dollar-topics-not-matched-by-wildcards",
        section: "4.7 Topic Names and Filters",
        ids: &["MQTT-4.7.2-1"],
        summary: "'#' and '+/...' do not match a topic starting with '$'",
        applies: Applies::Both,
        run: dollar_topics,
    },
    Check {
        name: "topics-case-sensitive",
        section: "4.7 Topic Names and Filters",
        ids: &["MQTT-4.7.3-4"],
        summary: "matching is exact: 'A' does not match 'a', 'x/' does not match 'x'",
        applies: Applies::Both,
        run: topics_case_sensitive,
    },
    Check {
        name: "deep-filter-survived",
        section: "4.7 Topic Names and Filters",
        ids: &["MQTT-4.7.3-3"],
        summary: "a filter of 65 535 bytes of '/' (65 536 levels) gets a SUBACK, the connection lives on, and others are served",
        applies: Applies::Both,
        run: deep_filter_survived,
    },
    Check {
        name: "bom-not-stripped",
        section: "1.5 Data representations",
        ids: &["MQTT-1.5.3-3"],
        summary: "U+FEFF in a topic is kept: a filter holding it matches only names holding it, unchanged",
        applies: Applies::Both,
        run: bom_not_stripped,
    },
];

/// Subscribes to `filters`, publishes to each of `names` in order then to a sentinel, and returns the
/// names that arrived before the sentinel.
fn delivered(context: &Context, filters: &[&str], names: &[String]) -> Result<Vec<String>, String> {
    let sentinel = context.topic("sentinel");
    let id = context.client_id();
    let mut sub = TestClient::clean(context, &id)?;
    let mut wanted: Vec<(&str, u8)> = filters.iter().map(|filter| (*filter, 1)).collect();
    wanted.push((&sentinel, 1));
    sub.send(&wire::subscribe(1, &wanted))?;
    sub.expect(kind::SUBACK)?;
    let mut client = publisher(context)?;
    for name in names {
        publish(&mut client, name, 1, false, b"x")?;
    }
    publish(&mut client, &sentinel, 1, false, b"x")?;
    let mut arrived = Vec::new();
    loop {
        let frame = sub.expect_publish()?;
        let (topic, _, _) = frame.publish_parts().ok_or("malformed PUBLISH")?;
        if topic == sentinel {
            return Ok(arrived);
        }
        arrived.push(topic);
    }
}

fn wildcards_match(context: &Context) -> Result<Verdict, String> {
    let base = context.topic("w");
    let plus = format!("{base}/+/leaf");
    let hash = format!("{base}/deep/#");
    let names = [
        format!("{base}/one/leaf"),     // '+' matches
        format!("{base}/one/two/leaf"), // '+' does not span levels
        format!("{base}/deep"),         // '#' matches its parent
        format!("{base}/deep/a/b/c"),   // '#' matches every level below
        format!("{base}/deeper"),       // not a level of 'deep'
    ];
    let arrived = delivered(context, &[&plus, &hash], &names)?;
    let expected = [names[0].clone(), names[2].clone(), names[3].clone()];
    if arrived.len() == 3 && expected.iter().all(|name| arrived.contains(name)) {
        Ok(Verdict::Pass)
    } else {
        Err(format!("expected {expected:?}, got {arrived:?}"))
    }
}

fn dollar_topics(context: &Context) -> Result<Verdict, String> {
    let name = format!("${}/x", context.prefix);
    // A positive control: can clients publish to '$' topics on this server at all?
    let control = delivered(context, &[&name], std::slice::from_ref(&name))?;
    if control.is_empty() {
        return Ok(Verdict::Skip(
            "the server does not deliver client PUBLISHes to '$' topics".to_owned(),
        ));
    }
    let arrived = delivered(context, &["#", "+/x"], std::slice::from_ref(&name))?;
    if arrived.contains(&name) {
        Err(format!("a wildcard matched {name}"))
    } else {
        Ok(Verdict::Pass)
    }
}

fn topics_case_sensitive(context: &Context) -> Result<Verdict, String> {
    let base = context.topic("case");
    let names = [format!("{base}/A"), format!("{base}/a/")];
    let lower = format!("{base}/a");
    let arrived = delivered(context, &[&lower], &names)?;
    if arrived.is_empty() {
        Ok(Verdict::Pass)
    } else {
        Err(format!("{lower} matched {arrived:?}"))
    }
}

fn bom_not_stripped(context: &Context) -> Result<Verdict, String> {
    let base = context.topic("bom");
    let with_bom = format!("{base}/\u{feff}x");
    let names = [format!("{base}/x"), with_bom.clone()];
    let arrived = delivered(context, &[&with_bom], &names)?;
    if arrived == [with_bom.clone()] {
        Ok(Verdict::Pass)
    } else {
        Err(format!("expected only {with_bom:?}, got {arrived:?}"))
    }
}

/// The deepest filter a SUBSCRIBE can carry, 65 535 bytes of `/` [MQTT-4.7.3-3], is answered with a
/// SUBACK (granted, or 0x80 from a server that limits depth), the same connection then answers
/// PINGREQ, and a fresh pair exchanges a message: a server that recursed on depth and died (as ours
/// did before issue 14) fails at the first step.
fn deep_filter_survived(context: &Context) -> Result<Verdict, String> {
    let deep = "/".repeat(65_535);
    let id = context.client_id();
    let mut client = TestClient::clean(context, &id)?;
    client.send(&wire::subscribe(1, &[(&deep, 0)]))?;
    client.expect(kind::SUBACK)?;
    client.send(&[0xC0, 0x00])?;
    client.expect(kind::PINGRESP)?;
    let topic = context.topic("after-deep");
    let mut sub = crate::checks::publish::subscriber(context, &topic, 1)?;
    let mut other = publisher(context)?;
    publish(&mut other, &topic, 1, false, b"still here")?;
    let frame = sub.expect_publish()?;
    match frame.publish_parts() {
        Some((name, _, payload)) if name == topic && payload == b"still here" => Ok(Verdict::Pass),
        _ => Err(format!(
            "expected the message on {topic}, got {}",
            frame.describe()
        )),
    }
}

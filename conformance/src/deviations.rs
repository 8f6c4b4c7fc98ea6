//! Known-deviations files: the failures a broker is known to have, each with its reason.
//!
//! One entry per line: a check name or a statement id, optionally followed by `@3.1`, `@3.1.1` or `@5.0`
//! to limit it to one version, then the reason. `#` starts a comment.
//!
//! ```text
//! # mosquitto 2.0.11
//! qos2-duplicate-not-delivered-twice@3.1.1  mosquitto ... (evidence)
//! MQTT-3.1.2-24                             ...
//! ```
//!
//! A failing check is a deviation when an entry names the check or one of its statement ids.

use crate::check::Check;
use crate::wire::Version;

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDeviation {
    /// A check name or a statement id.
    pub key: String,
    /// Limited to one version, or `None` for both.
    pub version: Option<Version>,
    /// Why the broker differs, with evidence.
    pub reason: String,
}

/// Parses a known-deviations file; errors name the line.
pub fn parse(text: &str) -> Result<Vec<KnownDeviation>, String> {
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let (head, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(format!("line {}: `{head}` has no reason", number + 1));
        }
        let (key, version) = match head.split_once('@') {
            None => (head, None),
            Some((key, "3.1")) => (key, Some(Version::V31)),
            Some((key, "3.1.1")) => (key, Some(Version::V311)),
            Some((key, "5" | "5.0")) => (key, Some(Version::V5)),
            Some((_, other)) => {
                return Err(format!(
                    "line {}: unknown version `{other}` (3.1, 3.1.1 or 5.0)",
                    number + 1
                ));
            }
        };
        entries.push(KnownDeviation {
            key: key.to_owned(),
            version,
            reason: reason.to_owned(),
        });
    }
    Ok(entries)
}

/// The reason a failure of `check` at `version` is expected, if an entry lists it.
pub fn reason_for(known: &[KnownDeviation], check: &Check, version: Version) -> Option<String> {
    known
        .iter()
        .find(|entry| {
            entry.version.is_none_or(|only| only == version)
                && (entry.key == check.name || check.ids.contains(&entry.key.as_str()))
        })
        .map(|entry| entry.reason.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_with_versions_and_comments() {
        let text =
            "# broker X\nsecond-connect@3.1 closes late\n\nMQTT-3.1.2-24  never expires # really\n";
        let entries = parse(text).expect("valid");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].version, Some(Version::V31));
        assert_eq!(entries[1].key, "MQTT-3.1.2-24");
        assert_eq!(entries[1].reason, "never expires");
    }

    #[test]
    fn refuses_entries_without_reason_or_with_unknown_version() {
        assert!(parse("second-connect\n").is_err());
        assert!(parse("second-connect@6 nope\n").is_err());
        assert_eq!(
            parse("v5-no-local@5.0 why\n").expect("valid")[0].version,
            Some(Version::V5)
        );
    }
}

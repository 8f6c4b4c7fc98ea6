//! The three report formats: a human table grouped by section, JSON, and JUnit XML for CI systems.

use std::fmt::Write as _;

use crate::CheckResult;
use crate::check::{Check, Verdict};
use crate::wire::Version;

/// Counts for the closing line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Passed, including observations and known deviations.
    pub passed: usize,
    /// Failures not listed as known deviations.
    pub failed: usize,
    /// Skipped.
    pub skipped: usize,
    /// Of the passed: known deviations.
    pub deviations: usize,
    /// Of the passed: observations.
    pub observations: usize,
}

/// Counts the results.
pub fn summary(results: &[CheckResult]) -> Summary {
    let mut summary = Summary::default();
    for result in results {
        match (&result.verdict, &result.deviation) {
            (Verdict::Pass, _) => summary.passed += 1,
            (Verdict::Observation(_), _) => {
                summary.passed += 1;
                summary.observations += 1;
            }
            (Verdict::Fail(_), Some(_)) => {
                summary.passed += 1;
                summary.deviations += 1;
            }
            (Verdict::Fail(_), None) => summary.failed += 1,
            (Verdict::Skip(_), _) => summary.skipped += 1,
        }
    }
    summary
}

fn label(result: &CheckResult) -> (&'static str, String) {
    match (&result.verdict, &result.deviation) {
        (Verdict::Pass, _) => ("pass", String::new()),
        (Verdict::Observation(note), _) => ("note", note.clone()),
        (Verdict::Fail(why), Some(reason)) => ("dev", format!("{why} (known: {reason})")),
        (Verdict::Fail(why), None) => ("FAIL", why.clone()),
        (Verdict::Skip(why), _) => ("skip", why.clone()),
    }
}

/// A table grouped by section, then the line `N passed, M failed, K skipped`.
pub fn human(results: &[CheckResult]) -> String {
    let mut out = String::new();
    // Each section once, in order of first appearance, then by number (a 3.x and a 5.0 section
    // may share a number, and the 5.0 files share sections).
    let mut sections: Vec<&str> = Vec::new();
    for result in results {
        if !sections.contains(&result.section) {
            sections.push(result.section);
        }
    }
    sections.sort_by_key(|section| section_key(section));
    for section in sections {
        let _ = writeln!(out, "{section}");
        for result in results.iter().filter(|result| result.section == section) {
            let (label, detail) = label(result);
            let _ = write!(
                out,
                "  {label:<4}  {:<5}  {:<40}  {}",
                result.level,
                result.name,
                result.ids.join(" ")
            );
            if !detail.is_empty() {
                let _ = write!(out, "\n        {detail}");
            }
            out.push('\n');
        }
    }
    let summary = summary(results);
    if summary.deviations + summary.observations > 0 {
        let _ = writeln!(
            out,
            "({} known deviations and {} observations counted as passed)",
            summary.deviations, summary.observations
        );
    }
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped",
        summary.passed, summary.failed, summary.skipped
    );
    out
}

/// "3.10 UNSUBSCRIBE" sorts after "3.9 SUBACK"; a leading word ("MQTT-SN 6.2 ...") is passed
/// over to reach the number.
fn section_key(section: &str) -> Vec<u32> {
    section
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_default()
        .split('.')
        .filter_map(|part| part.parse().ok())
        .collect()
}

/// One JSON object: a summary and every result.
pub fn json(results: &[CheckResult]) -> String {
    let summary = summary(results);
    let mut out = format!(
        "{{\"summary\":{{\"passed\":{},\"failed\":{},\"skipped\":{},\"deviations\":{},\"observations\":{}}},\"checks\":[",
        summary.passed, summary.failed, summary.skipped, summary.deviations, summary.observations
    );
    for (index, result) in results.iter().enumerate() {
        let (label, detail) = label(result);
        let ids: Vec<String> = result.ids.iter().map(|id| json_string(id)).collect();
        let _ = write!(
            out,
            "{}{{\"name\":{},\"section\":{},\"version\":{},\"ids\":[{}],\"status\":{},\"detail\":{},\"seconds\":{:.3}}}",
            if index == 0 { "" } else { "," },
            json_string(result.name),
            json_string(result.section),
            json_string(result.level),
            ids.join(","),
            json_string(match label {
                "pass" => "passed",
                "note" => "observation",
                "dev" => "deviation",
                "FAIL" => "failed",
                _ => "skipped",
            }),
            json_string(&detail),
            result.elapsed.as_secs_f64()
        );
    }
    out.push_str("]}\n");
    out
}

/// The checks themselves, for `--list --format json`: one object per check with its name, section,
/// statement ids, summary and the versions it runs at. `cargo xtask spec` reads this.
pub fn list_json(checks: &[&Check]) -> String {
    let mut out = String::from("[");
    for (index, check) in checks.iter().enumerate() {
        let ids: Vec<String> = check.ids.iter().map(|id| json_string(id)).collect();
        let versions: Vec<String> = if check.applies == crate::Applies::Gateway {
            vec![json_string("SN")]
        } else {
            [Version::V31, Version::V311, Version::V5]
                .into_iter()
                .filter(|version| check.applies.includes(*version))
                .map(|version| json_string(version.label()))
                .collect()
        };
        let _ = write!(
            out,
            "{}\n{{\"name\":{},\"section\":{},\"ids\":[{}],\"versions\":[{}],\"summary\":{}}}",
            if index == 0 { "" } else { "," },
            json_string(check.name),
            json_string(check.section),
            ids.join(","),
            versions.join(","),
            json_string(check.summary)
        );
    }
    out.push_str("\n]\n");
    out
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// JUnit XML: one test case per result, classed by section.
pub fn junit(results: &[CheckResult]) -> String {
    let summary = summary(results);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"mqtt-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
        results.len(),
        summary.failed,
        summary.skipped
    );
    for result in results {
        let (label, detail) = label(result);
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{} ({}) [{}]\" time=\"{:.3}\"",
            xml(result.section),
            xml(result.name),
            result.level,
            xml(&result.ids.join(" ")),
            result.elapsed.as_secs_f64()
        );
        match label {
            "FAIL" => {
                let _ = writeln!(out, "><failure message=\"{}\"/></testcase>", xml(&detail));
            }
            "skip" => {
                let _ = writeln!(out, "><skipped message=\"{}\"/></testcase>", xml(&detail));
            }
            _ if !detail.is_empty() => {
                let _ = writeln!(out, "><system-out>{}</system-out></testcase>", xml(&detail));
            }
            _ => out.push_str("/>\n"),
        }
    }
    out.push_str("</testsuite>\n");
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result(name: &'static str, verdict: Verdict) -> CheckResult {
        CheckResult {
            name,
            section: "3.1 CONNECT",
            ids: &["MQTT-3.1.0-2"],
            version: Version::V311,
            level: "3.1.1",
            verdict,
            deviation: None,
            elapsed: Duration::from_millis(5),
        }
    }

    #[test]
    fn closing_line_counts_each_verdict() {
        let results = [
            result("a", Verdict::Pass),
            result("b", Verdict::Fail("\"quoted\" <bad>".to_owned())),
            result("c", Verdict::Skip("n/a".to_owned())),
            result("d", Verdict::Observation("may".to_owned())),
        ];
        assert!(human(&results).ends_with("2 passed, 1 failed, 1 skipped\n"));
        assert!(json(&results).contains("\\\"quoted\\\""));
        assert!(junit(&results).contains("&quot;quoted&quot; &lt;bad&gt;"));
    }

    #[test]
    fn check_list_is_json_with_every_check() {
        let checks = crate::checks();
        let list = list_json(&checks);
        assert!(list.starts_with("[\n{\"name\":"));
        assert_eq!(list.matches("\"name\":").count(), checks.len());
        assert!(list.contains("\"versions\":[\"3.1\",\"3.1.1\"]"));
    }

    #[test]
    fn sections_sort_numerically() {
        let mut sections = ["3.10 UNSUBSCRIBE", "3.9 SUBACK", "2.3 Packet Identifier"];
        sections.sort_by_key(|section| section_key(section));
        assert_eq!(
            sections,
            ["2.3 Packet Identifier", "3.9 SUBACK", "3.10 UNSUBSCRIBE"]
        );
    }
}

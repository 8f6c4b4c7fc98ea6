//! `cargo xtask trace`: the specification traceability matrix, generated rather than kept by hand.
//!
//! Every statement of the catalogues in `../shared/specs/` (MQTT 3.1.1 statement ids, the numbered
//! 3.1 differences, the MQTT-SN rules) is listed with the source files that cite it, split into code
//! and tests. A citation of an id that no catalogue holds is an error: it is a typo or an invented rule,
//! and either way a reader following it would find nothing. `--check` also fails when the committed
//! `docs/traceability.md` is not what this task would write now.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The three catalogues and the form their ids take.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Catalogue {
    Mqtt311,
    Mqtt31Differences,
    MqttSn,
}

impl Catalogue {
    const ALL: [Self; 3] = [Self::Mqtt311, Self::Mqtt31Differences, Self::MqttSn];

    fn title(self) -> &'static str {
        match self {
            Self::Mqtt311 => "MQTT 3.1.1 statements (`mqtt-v3.1.1-statements.tsv`)",
            Self::Mqtt31Differences => "MQTT 3.1 differences (`mqtt-v3.1-differences.md`)",
            Self::MqttSn => "MQTT-SN 1.2 rules (`mqtt-sn-v1.2-rules.tsv`)",
        }
    }
}

/// Where one id is cited.
#[derive(Default)]
struct Citations {
    code: BTreeSet<String>,
    tests: BTreeSet<String>,
}

pub(crate) fn run(root: &Path, check: bool) -> Result<(), String> {
    let specs = root.join("../shared/specs");
    let known = load_catalogues(&specs)?;
    let mut cited: BTreeMap<String, Citations> = BTreeMap::new();
    let mut unknown = Vec::new();
    for file in source_files(root)? {
        let text = std::fs::read_to_string(&file)
            .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
        let relative = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let mut in_tests = is_test_file(&relative);
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                in_tests = true;
            }
            for id in citations_in(line) {
                if !known.contains_key(&id) {
                    unknown.push(format!("{relative}:{}: unknown rule id {id}", number + 1));
                    continue;
                }
                let entry = cited.entry(id).or_default();
                if in_tests {
                    entry.tests.insert(relative.clone());
                } else {
                    entry.code.insert(relative.clone());
                }
            }
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "citations of ids no catalogue holds:\n{}",
            unknown.join("\n")
        ));
    }

    let matrix = render(&known, &cited);
    let path = root.join("docs/traceability.md");
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != matrix {
            return Err(format!(
                "{} is out of date: run `cargo xtask trace` and commit the result",
                path.display()
            ));
        }
        eprintln!(
            "trace: every cited id exists and {} is current",
            path.display()
        );
    } else {
        std::fs::write(&path, matrix)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        eprintln!("trace: wrote {}", path.display());
    }
    Ok(())
}

/// Every id of every catalogue, with the catalogue it belongs to.
pub(crate) fn load_catalogues(specs: &Path) -> Result<BTreeMap<String, Catalogue>, String> {
    let read = |name: &str| {
        std::fs::read_to_string(specs.join(name)).map_err(|error| {
            format!(
                "cannot read {}: {error} (the specifications are expected in ../shared/specs)",
                specs.join(name).display()
            )
        })
    };
    let mut known = BTreeMap::new();
    for (name, catalogue) in [
        ("mqtt-v3.1.1-statements.tsv", Catalogue::Mqtt311),
        ("mqtt-sn-v1.2-rules.tsv", Catalogue::MqttSn),
    ] {
        for line in read(name)?.lines().skip(1) {
            if let Some(id) = line.split('\t').next().filter(|id| !id.is_empty()) {
                known.insert(id.to_owned(), catalogue);
            }
        }
    }
    // The differences are the numbered rows of the tables: `| 5 | Client identifier ... |`.
    for line in read("mqtt-v3.1-differences.md")?.lines() {
        let mut cells = line.split('|').map(str::trim);
        if let (Some(""), Some(number)) = (cells.next(), cells.next())
            && !number.is_empty()
            && number.bytes().all(|byte| byte.is_ascii_digit())
        {
            known.insert(format!("V31-DIFF-{number}"), Catalogue::Mqtt31Differences);
        }
    }
    Ok(known)
}

/// The Rust sources and Markdown documents of the workspace, outside `target/`.
pub(crate) fn source_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    pending.push(path);
                }
            } else if (name.ends_with(".rs") || name.ends_with(".md"))
                // The generated matrices cite every id; they are outputs, not citations.
                && name != "traceability.md"
                && name != "CONFORMANCE.md"
                // This file's own tests quote ids as examples.
                && !path.ends_with("xtask/src/trace.rs")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

pub(crate) fn is_test_file(relative: &str) -> bool {
    relative.contains("/tests/")
        || relative.contains("/benches/")
        || relative.ends_with("testing.rs")
}

/// The rule ids cited on a line: `MQTT-3.1.2-3`, `V31-DIFF-5` and `SN-5.4.9-1`, with or without
/// brackets. Section references such as `MQTT-3.1 §3.1` are not ids and are not matched. A test
/// function may also cite 3.1.1 statements in its name, `fn ..._mqtt_3_1_2_11_13_15()` standing for
/// MQTT-3.1.2-11, -13 and -15.
pub(crate) fn citations_in(line: &str) -> Vec<String> {
    let mut ids = test_name_citations(line);
    for prefix in ["MQTT-", "V31-DIFF-", "SN-"] {
        let mut from = 0;
        while let Some(found) = line[from..].find(prefix) {
            let start = from + found;
            from = start + prefix.len();
            let preceded_by_word = line[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if preceded_by_word {
                continue;
            }
            let rest = &line[from..];
            let body_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .unwrap_or(rest.len());
            let body = rest[..body_len].trim_end_matches(['.', '-']);
            let is_id = if prefix == "V31-DIFF-" {
                !body.is_empty() && body.bytes().all(|byte| byte.is_ascii_digit())
            } else {
                // `<section>-<n>`: the section may be dotted, the number is plain.
                body.rsplit_once('-').is_some_and(|(section, number)| {
                    !section.is_empty()
                        && !section.starts_with('.')
                        && !number.is_empty()
                        && number.bytes().all(|byte| byte.is_ascii_digit())
                })
            };
            if is_id {
                ids.push(format!("{prefix}{body}"));
            }
        }
    }
    ids
}

/// The 3.1.1 statements named by a test function: `mqtt_<a>_<b>_<c>_<n>[_<n>...]`.
fn test_name_citations(line: &str) -> Vec<String> {
    let Some(name) = line.trim_start().strip_prefix("fn ") else {
        return Vec::new();
    };
    let name = name.split('(').next().unwrap_or_default();
    let Some(at) = name.find("mqtt_") else {
        return Vec::new();
    };
    let numbers: Vec<&str> = name[at + "mqtt_".len()..]
        .split('_')
        .take_while(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
        .collect();
    if numbers.len() < 4 {
        return Vec::new();
    }
    let section = numbers[..3].join(".");
    numbers[3..]
        .iter()
        .map(|n| format!("MQTT-{section}-{n}"))
        .collect()
}

fn render(known: &BTreeMap<String, Catalogue>, cited: &BTreeMap<String, Citations>) -> String {
    let mut out = String::new();
    out.push_str(
        "# Specification traceability\n\n\
         Generated by `cargo xtask trace` from the citations in the sources; do not edit by hand.\n\
         Each row is a rule of the catalogues in `../shared/specs/`, with the files whose code and whose\n\
         tests cite it. An empty row is a rule no file cites yet.\n",
    );
    for catalogue in Catalogue::ALL {
        let ids: Vec<&String> = known
            .iter()
            .filter(|(_, owner)| **owner == catalogue)
            .map(|(id, _)| id)
            .collect();
        let mut ordered = ids.clone();
        ordered.sort_by_key(|id| sort_key(id));
        let covered = ids
            .iter()
            .filter(|id| cited.contains_key(id.as_str()))
            .count();
        let _ = write!(
            out,
            "\n## {}\n\n{covered} of {} cited.\n\n| id | code | tests |\n|---|---|---|\n",
            catalogue.title(),
            ids.len()
        );
        for id in ordered {
            let (code, tests) = cited
                .get(id.as_str())
                .map_or((String::new(), String::new()), |c| {
                    (join(&c.code), join(&c.tests))
                });
            let _ = writeln!(out, "| {id} | {code} | {tests} |");
        }
    }
    out
}

fn join(files: &BTreeSet<String>) -> String {
    files
        .iter()
        .map(|file| format!("`{file}`"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Orders `MQTT-3.1.2-10` after `MQTT-3.1.2-9`: numerically, part by part.
pub(crate) fn sort_key(id: &str) -> Vec<u32> {
    id.split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .filter_map(|part| part.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ids_in_brackets_and_strings() {
        assert_eq!(
            citations_in("// [MQTT-3.1.2-11] [MQTT-3.1.2-13], see [V31-DIFF-4] and [SN-5.4.9-1]."),
            ["MQTT-3.1.2-11", "MQTT-3.1.2-13", "V31-DIFF-4", "SN-5.4.9-1"]
        );
        assert_eq!(
            citations_in(r#"Self::InvalidUtf8 => "MQTT-1.5.3-1","#),
            ["MQTT-1.5.3-1"]
        );
    }

    #[test]
    fn test_names_cite_statements() {
        assert_eq!(
            citations_in("    fn will_flags_mqtt_3_1_2_11_13_15() {"),
            ["MQTT-3.1.2-11", "MQTT-3.1.2-13", "MQTT-3.1.2-15"]
        );
        assert!(citations_in("    fn minimal_3_1_1() {").is_empty());
        assert!(citations_in("let mqtt_3_1_2_3 = 1;").is_empty());
    }

    #[test]
    fn section_references_are_not_ids() {
        assert!(citations_in("(3.1.1 §2.2.3) [MQTT-3.1 §3.1] MQTT-3.1.1 §3.2.2.1").is_empty());
        assert!(citations_in("mqttsn-codec MQTTSN-1").is_empty());
    }

    #[test]
    fn ids_sort_numerically() {
        let mut ids = ["MQTT-3.1.2-10", "MQTT-3.1.2-9", "MQTT-1.5.3-1"];
        ids.sort_by_key(|id| sort_key(id));
        assert_eq!(ids, ["MQTT-1.5.3-1", "MQTT-3.1.2-9", "MQTT-3.1.2-10"]);
    }
}

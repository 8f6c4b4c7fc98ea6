//! `cargo xtask trace`: the specification traceability matrix, generated rather than kept by hand.
//!
//! Every statement of the catalogues in `../shared/specs/` (MQTT 3.1.1 statement ids, the numbered
//! 3.1 differences, the MQTT-SN rules) is listed with the places that cite it, as `file:line`, in four
//! columns: the code that enforces it, the conformance suite's checks, the tests, and the documents
//! that discuss it. A citation of an id that no catalogue holds is an error: it is a typo or an
//! invented rule, and either way a reader following it would find nothing. `--check` also fails when
//! the committed `docs/traceability.md` is not what this task would write now.

use std::collections::BTreeMap;
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

/// Which column of the matrix a citation goes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    /// Code outside tests and outside the conformance suite: where the rule is enforced.
    Enforced,
    /// The conformance suite's own code (`conformance/src/`, tests excepted): its checks.
    Checked,
    /// Test code: `tests/`, `benches/`, `testing.rs` files and anything after `#[cfg(test)]`.
    Tested,
    /// Markdown documents.
    Discussed,
}

impl Column {
    /// The column for a citation in `relative` (a path from the workspace root, with `/`), when it
    /// stands in test code or not.
    fn of(relative: &str, in_tests: bool) -> Self {
        if relative.ends_with(".md") {
            Self::Discussed
        } else if in_tests {
            Self::Tested
        } else if relative.starts_with("conformance/src/") {
            Self::Checked
        } else {
            Self::Enforced
        }
    }
}

/// The lines of each file that cite one id, for one column.
type Places = BTreeMap<String, Vec<usize>>;

/// Where one id is cited, column by column.
#[derive(Default)]
struct Citations {
    enforced: Places,
    checked: Places,
    tested: Places,
    discussed: Places,
}

impl Citations {
    fn add(&mut self, column: Column, file: &str, line: usize) {
        let places = match column {
            Column::Enforced => &mut self.enforced,
            Column::Checked => &mut self.checked,
            Column::Tested => &mut self.tested,
            Column::Discussed => &mut self.discussed,
        };
        let lines = places.entry(file.to_owned()).or_default();
        if lines.last() != Some(&line) {
            lines.push(line);
        }
    }
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
                let column = Column::of(&relative.replace('\\', "/"), in_tests);
                cited
                    .entry(id)
                    .or_default()
                    .add(column, &relative, number + 1);
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
         Each row is a rule of the catalogues in `../shared/specs/`, with the places that cite it as\n\
         `file:line` (several lines of one file after one comma each): the code that enforces it, the\n\
         conformance suite's checks (`conformance/src/`), the tests (`tests/`, `benches/` and what\n\
         follows `#[cfg(test)]`), and the documents that discuss it. An empty row is a rule no file\n\
         cites yet.\n",
    );
    for catalogue in Catalogue::ALL {
        let ids: Vec<&String> = known
            .iter()
            .filter(|(_, owner)| **owner == catalogue)
            .map(|(id, _)| id)
            .collect();
        let mut ordered = ids.clone();
        ordered.sort_by_key(|id| sort_key(id));
        let count = |has: fn(&Citations) -> bool| {
            ids.iter()
                .filter(|id| cited.get(id.as_str()).is_some_and(has))
                .count()
        };
        let covered = count(|_| true);
        let enforced = count(|c| !c.enforced.is_empty());
        let checked = count(|c| !c.checked.is_empty());
        let tested = count(|c| !c.tested.is_empty());
        let _ = write!(
            out,
            "\n## {}\n\n{covered} of {} cited: {enforced} enforced in code, {checked} checked by the \
             conformance suite, {tested} tested.\n\n\
             | id | enforced in | checked by (conformance) | tested by | discussed in (docs) |\n\
             |---|---|---|---|---|\n",
            catalogue.title(),
            ids.len()
        );
        for id in ordered {
            let none = Citations::default();
            let c = cited.get(id.as_str()).unwrap_or(&none);
            let row = [&c.enforced, &c.checked, &c.tested, &c.discussed]
                .map(join)
                .join(" | ");
            let _ = writeln!(out, "| {id} | {row} |");
        }
    }
    out
}

/// `` `a.rs:3,17` `b.md:40` ``: each file once, with the lines that cite the id.
fn join(places: &Places) -> String {
    places
        .iter()
        .map(|(file, lines)| {
            let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
            format!("`{file}:{}`", lines.join(","))
        })
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

    #[test]
    fn citations_go_in_their_column() {
        assert_eq!(
            Column::of("mqtt-broker/src/connection/protocol.rs", false),
            Column::Enforced
        );
        assert_eq!(
            Column::of("mqtt-broker/src/connection/protocol.rs", true),
            Column::Tested
        );
        assert_eq!(
            Column::of("conformance/src/checks/connect.rs", false),
            Column::Checked
        );
        assert_eq!(
            Column::of("conformance/tests/conformance/double.rs", true),
            Column::Tested
        );
        assert_eq!(
            Column::of("conformance/UNCHECKABLE.md", false),
            Column::Discussed
        );
        assert_eq!(
            Column::of("docs/mqtt-ambiguities.md", false),
            Column::Discussed
        );
    }

    #[test]
    fn rows_give_places_as_file_and_line() {
        let known = BTreeMap::from([
            ("MQTT-1.5.3-1".to_owned(), Catalogue::Mqtt311),
            ("MQTT-1.5.3-2".to_owned(), Catalogue::Mqtt311),
        ]);
        let mut citations = Citations::default();
        citations.add(Column::Enforced, "a/src/x.rs", 3);
        citations.add(Column::Enforced, "a/src/x.rs", 3);
        citations.add(Column::Enforced, "a/src/x.rs", 17);
        citations.add(Column::Checked, "conformance/src/checks/y.rs", 5);
        citations.add(Column::Discussed, "README.md", 40);
        let cited = BTreeMap::from([("MQTT-1.5.3-1".to_owned(), citations)]);
        let matrix = render(&known, &cited);
        assert!(matrix.contains(
            "| MQTT-1.5.3-1 | `a/src/x.rs:3,17` | `conformance/src/checks/y.rs:5` |  | `README.md:40` |\n"
        ));
        assert!(matrix.contains("| MQTT-1.5.3-2 |  |  |  |  |\n"));
        assert!(matrix.contains(
            "1 of 2 cited: 1 enforced in code, 1 checked by the conformance suite, 0 tested."
        ));
    }

    #[test]
    fn check_fails_on_an_unknown_id() -> std::io::Result<()> {
        let scratch = std::env::temp_dir().join(format!("xtask-trace-{}", std::process::id()));
        let root = scratch.join("workspace");
        let specs = scratch.join("shared/specs");
        std::fs::create_dir_all(root.join("src"))?;
        std::fs::create_dir_all(&specs)?;
        std::fs::write(
            specs.join("mqtt-v3.1.1-statements.tsv"),
            "id\tlevel\nMQTT-1.5.3-1\tMUST\n",
        )?;
        std::fs::write(specs.join("mqtt-sn-v1.2-rules.tsv"), "id\n")?;
        std::fs::write(
            specs.join("mqtt-v3.1-differences.md"),
            "| 1 | a difference |\n",
        )?;
        std::fs::write(
            root.join("src/lib.rs"),
            "// [MQTT-1.5.3-1] [MQTT-9.9.9-9]\n",
        )?;
        let result = run(&root, true);
        std::fs::remove_dir_all(&scratch)?;
        let error = result.expect_err("an unknown id fails the check");
        assert!(
            error.contains("src/lib.rs:1: unknown rule id MQTT-9.9.9-9"),
            "{error}"
        );
        Ok(())
    }
}

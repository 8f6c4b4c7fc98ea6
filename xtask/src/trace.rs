//! `cargo xtask trace`: the specification traceability matrix, generated rather than kept by hand.
//!
//! Every statement of the catalogues in `../shared/specs/` (MQTT 3.1.1 statement ids, the numbered
//! 3.1 differences, MQTT 5.0 statement ids, the numbered 5.0 differences, the MQTT-SN rules) is listed with the places that cite it, as `file:line`, in four
//! columns: the code that enforces it, the conformance suite's checks, the tests, and the documents
//! that discuss it. A citation of an id that no catalogue holds is an error: it is a typo or an
//! invented rule, and either way a reader following it would find nothing. `--check` also fails when
//! the committed `docs/traceability.md` is not what this task would write now.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The catalogues, in the order the matrix lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Catalogue {
    /// `MQTT-x.y.z-n`, as the 3.1.1 catalogue spells them.
    Mqtt311,
    /// `V31-DIFF-n`, the numbered rows of the 3.1 differences.
    Mqtt31Differences,
    /// `MQTT5-x.y.z-n`: 5.0 reuses the 3.1.1 numbering for other statements, so its ids are cited
    /// with the version in the prefix; the 5.0 catalogue itself spells them `MQTT-x.y.z-n`.
    Mqtt50,
    /// `V5-DIFF-n`, the numbered rows of the 3.1.1 to 5.0 differences.
    Mqtt5Differences,
    /// `SN-<section>-n`.
    MqttSn,
}

impl Catalogue {
    const ALL: [Self; 5] = [
        Self::Mqtt311,
        Self::Mqtt31Differences,
        Self::Mqtt50,
        Self::Mqtt5Differences,
        Self::MqttSn,
    ];

    fn title(self) -> &'static str {
        match self {
            Self::Mqtt311 => "MQTT 3.1.1 statements (`mqtt-v3.1.1-statements.tsv`)",
            Self::Mqtt31Differences => "MQTT 3.1 differences (`mqtt-v3.1-differences.md`)",
            Self::Mqtt50 => {
                "MQTT 5.0 statements (`mqtt-v5.0-statements.tsv`, cited as `MQTT5-x.y.z-n`)"
            }
            Self::Mqtt5Differences => "MQTT 5.0 differences (`mqtt-v5-differences.md`)",
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
        ("mqtt-v5.0-statements.tsv", Catalogue::Mqtt50),
        ("mqtt-sn-v1.2-rules.tsv", Catalogue::MqttSn),
    ] {
        for line in read(name)?.lines().skip(1) {
            if let Some(id) = line.split('\t').next().filter(|id| !id.is_empty()) {
                let id = match catalogue {
                    // The 5.0 catalogue spells its ids as 3.1.1 does; cited, they carry the version.
                    Catalogue::Mqtt50 => match id.strip_prefix("MQTT-") {
                        Some(rest) => format!("MQTT5-{rest}"),
                        None => return Err(format!("{name}: id {id} does not start MQTT-")),
                    },
                    _ => id.to_owned(),
                };
                known.insert(id, catalogue);
            }
        }
    }
    for (name, prefix, catalogue) in [
        (
            "mqtt-v3.1-differences.md",
            "V31-DIFF-",
            Catalogue::Mqtt31Differences,
        ),
        (
            "mqtt-v5-differences.md",
            "V5-DIFF-",
            Catalogue::Mqtt5Differences,
        ),
    ] {
        for number in difference_rows(&read(name)?) {
            known.insert(format!("{prefix}{number}"), catalogue);
        }
    }
    Ok(known)
}

/// The numbers of the rows of a differences table: `| 5 | Client identifier ... |`.
fn difference_rows(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|line| {
        let mut cells = line.split('|').map(str::trim);
        match (cells.next(), cells.next()) {
            (Some(""), Some(number))
                if !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit()) =>
            {
                Some(number)
            }
            _ => None,
        }
    })
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
                // These files' own tests quote ids, unknown ones too, as examples.
                && !path.ends_with("xtask/src/trace.rs")
                && !path.ends_with("xtask/src/spec.rs")
                && !path.ends_with("xtask/src/spec_v5.rs")
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

/// The rule ids cited on a line: `MQTT-3.1.2-3`, `V31-DIFF-5`, `MQTT5-3.1.2-3`, `V5-DIFF-4` and
/// `SN-5.4.9-1`, with or without brackets. Section references such as `MQTT-3.1 §3.1` are not ids
/// and are not matched. A test function may also cite statements in its name: `fn
/// ..._mqtt_3_1_2_11_13_15()` stands for MQTT-3.1.2-11, -13 and -15, `fn ..._mqtt5_3_1_2_3_and_11()`
/// for MQTT5-3.1.2-3 and -11.
pub(crate) fn citations_in(line: &str) -> Vec<String> {
    let mut ids = test_name_citations(line);
    for prefix in ["MQTT-", "V31-DIFF-", "MQTT5-", "V5-DIFF-", "SN-"] {
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
            let is_id = if prefix.ends_with("DIFF-") {
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

/// The statements named by a test function: `mqtt_<a>_<b>_<c>_<n>[_<n>...]` for 3.1.1 and
/// `mqtt5_...` for 5.0, each of which may go on with `_and_<n>...` (more statements of the same
/// section) or `_and_<a>_<b>_<c>_<n>...` (another section). A name may hold several of them.
fn test_name_citations(line: &str) -> Vec<String> {
    let Some(name) = line.trim_start().strip_prefix("fn ") else {
        return Vec::new();
    };
    let name = name.split('(').next().unwrap_or_default();
    let mut ids = Vec::new();
    let parts: Vec<&str> = name.split('_').collect();
    for (at, part) in parts.iter().enumerate() {
        let prefix = match *part {
            "mqtt" => "MQTT-",
            "mqtt5" => "MQTT5-",
            _ => continue,
        };
        let mut section: Option<String> = None;
        let mut numbers: Vec<&str> = Vec::new();
        let mut rest = parts[at + 1..].iter().peekable();
        loop {
            // One run of numbers, then either `and` followed by another run, or the end.
            numbers.clear();
            while let Some(number) = rest.next_if(|part| is_number(part)) {
                numbers.push(number);
            }
            if numbers.len() >= 4 {
                section = Some(numbers[..3].join("."));
                numbers.drain(..3);
            } else if section.is_none() {
                break;
            }
            if let Some(section) = &section {
                ids.extend(numbers.iter().map(|n| format!("{prefix}{section}-{n}")));
            }
            if numbers.is_empty() || rest.next_if(|part| **part == "and").is_none() {
                break;
            }
        }
    }
    ids
}

fn is_number(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit())
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
    fn finds_5_0_ids_in_brackets_and_strings() {
        assert_eq!(
            citations_in("// [MQTT5-3.3.2-8] and [MQTT-3.3.2-8] differ; V5-DIFF-3, [V5-DIFF-12]."),
            ["MQTT-3.3.2-8", "MQTT5-3.3.2-8", "V5-DIFF-3", "V5-DIFF-12"]
        );
        assert_eq!(
            citations_in(r#"Self::ZeroTopicAlias => "MQTT5-3.3.2-8","#),
            ["MQTT5-3.3.2-8"]
        );
        assert!(citations_in("XMQTT5-3.3.2-8 V5-DIFF- V5-DIFF-x").is_empty());
    }

    #[test]
    fn test_names_cite_statements() {
        assert_eq!(
            citations_in("    fn will_flags_mqtt_3_1_2_11_13_15() {"),
            ["MQTT-3.1.2-11", "MQTT-3.1.2-13", "MQTT-3.1.2-15"]
        );
        assert_eq!(
            citations_in("    fn flags_mqtt5_3_1_2_3_and_11_and_13() {"),
            ["MQTT5-3.1.2-3", "MQTT5-3.1.2-11", "MQTT5-3.1.2-13"]
        );
        assert_eq!(
            citations_in("    fn refused_mqtt5_3_9_3_2_and_3_11_3_2() {"),
            ["MQTT5-3.9.3-2", "MQTT5-3.11.3-2"]
        );
        assert_eq!(
            citations_in("    fn mqtt_is_preferred_and_mqttv3_1_accepted_mqtt_6_0_0_4() {"),
            ["MQTT-6.0.0-4"]
        );
        assert_eq!(
            citations_in("    fn denied_mqtt_3_3_5_2_mqtt_3_9_3_2() {"),
            ["MQTT-3.3.5-2", "MQTT-3.9.3-2"]
        );
        assert!(citations_in("    fn hash_and_mqtt5_3_1_and_more() {").is_empty());
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

    /// A workspace at `<tmp>/xtask-trace-<pid>-<name>/workspace` with small catalogues beside it in
    /// `shared/specs`, and `src/lib.rs` holding `source`. Returns the scratch folder and the root.
    fn scratch_workspace(name: &str, source: &str) -> std::io::Result<(PathBuf, PathBuf)> {
        let scratch =
            std::env::temp_dir().join(format!("xtask-trace-{}-{name}", std::process::id()));
        let root = scratch.join("workspace");
        let specs = scratch.join("shared/specs");
        std::fs::create_dir_all(root.join("src"))?;
        std::fs::create_dir_all(root.join("docs"))?;
        std::fs::create_dir_all(&specs)?;
        std::fs::write(
            specs.join("mqtt-v3.1.1-statements.tsv"),
            "id\tlevel\nMQTT-1.5.3-1\tMUST\n",
        )?;
        std::fs::write(
            specs.join("mqtt-v5.0-statements.tsv"),
            "id\tsection\nMQTT-1.5.5-1\t1.5.5\nMQTT-3.3.2-8\t3.3.2\n",
        )?;
        std::fs::write(specs.join("mqtt-sn-v1.2-rules.tsv"), "id\n")?;
        std::fs::write(
            specs.join("mqtt-v3.1-differences.md"),
            "| # | Feature |\n|---|---|\n| 1 | a difference |\n",
        )?;
        std::fs::write(
            specs.join("mqtt-v5-differences.md"),
            "| # | Feature |\n|---|---|\n| 1 | Properties |\n| 2 | Reason Codes |\n",
        )?;
        std::fs::write(root.join("src/lib.rs"), source)?;
        Ok((scratch, root))
    }

    #[test]
    fn check_fails_on_an_unknown_id() -> std::io::Result<()> {
        let (scratch, root) =
            scratch_workspace("unknown-311", "// [MQTT-1.5.3-1] [MQTT-9.9.9-9]\n")?;
        let result = run(&root, true);
        std::fs::remove_dir_all(&scratch)?;
        let error = result.expect_err("an unknown id fails the check");
        assert!(
            error.contains("src/lib.rs:1: unknown rule id MQTT-9.9.9-9"),
            "{error}"
        );
        Ok(())
    }

    #[test]
    fn check_fails_on_an_unknown_5_0_id() -> std::io::Result<()> {
        // MQTT5-1.5.3-1 is a 3.1.1 id only: the prefix says which catalogue must hold it.
        let (scratch, root) = scratch_workspace(
            "unknown-50",
            "// [MQTT5-1.5.5-1] [MQTT5-9.9.9-9]\n// [MQTT5-1.5.3-1] [V5-DIFF-2] [V5-DIFF-3]\n",
        )?;
        let result = run(&root, true);
        std::fs::remove_dir_all(&scratch)?;
        let error = result.expect_err("an unknown 5.0 id fails the check");
        for unknown in [
            "src/lib.rs:1: unknown rule id MQTT5-9.9.9-9",
            "src/lib.rs:2: unknown rule id MQTT5-1.5.3-1",
            "src/lib.rs:2: unknown rule id V5-DIFF-3",
        ] {
            assert!(error.contains(unknown), "{error}");
        }
        assert!(!error.contains("MQTT5-1.5.5-1"), "{error}");
        assert!(!error.contains("V5-DIFF-2"), "{error}");
        Ok(())
    }

    #[test]
    fn known_5_0_ids_are_listed_in_their_columns() -> std::io::Result<()> {
        let (scratch, root) = scratch_workspace(
            "known-50",
            "// [MQTT5-1.5.5-1] (V5-DIFF-2)\n#[cfg(test)]\nfn zero_alias_mqtt5_3_3_2_8() {}\n",
        )?;
        let result = run(&root, false);
        let matrix = std::fs::read_to_string(root.join("docs/traceability.md"));
        std::fs::remove_dir_all(&scratch)?;
        result.expect("known 5.0 ids pass");
        let matrix = matrix?;
        for expected in [
            "\n## MQTT 5.0 statements (`mqtt-v5.0-statements.tsv`, cited as `MQTT5-x.y.z-n`)\n\n\
             2 of 2 cited: 1 enforced in code, 0 checked by the conformance suite, 1 tested.\n",
            "| MQTT5-1.5.5-1 | `src/lib.rs:1` |  |  |  |\n",
            "| MQTT5-3.3.2-8 |  |  | `src/lib.rs:3` |  |\n",
            "\n## MQTT 5.0 differences (`mqtt-v5-differences.md`)\n\n\
             1 of 2 cited: 1 enforced in code, 0 checked by the conformance suite, 0 tested.\n",
            "| V5-DIFF-1 |  |  |  |  |\n",
            "| V5-DIFF-2 | `src/lib.rs:1` |  |  |  |\n",
            "| MQTT-1.5.3-1 |  |  |  |  |\n",
        ] {
            assert!(matrix.contains(expected), "{expected}\nnot in\n{matrix}");
        }
        // The 5.0 ids are not mistaken for 3.1.1 ones, nor the other way round.
        assert!(!matrix.contains("| MQTT-1.5.5-1 |"), "{matrix}");
        assert!(!matrix.contains("| MQTT5-1.5.3-1 |"), "{matrix}");
        Ok(())
    }
}

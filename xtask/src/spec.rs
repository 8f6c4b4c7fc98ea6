//! `cargo xtask spec`: the conformance matrix, `docs/CONFORMANCE.md`, generated rather than kept by
//! hand.
//!
//! For every MQTT 3.1.1 statement it gives the conformance checks that verify it, the code and the
//! tests that cite it, and a status:
//!
//! - **checked**: a check verifies it (the catalogue marks it checkable from outside);
//! - **partly checked**: a check verifies the part the catalogue says can be observed;
//! - **not checkable**: listed in `conformance/UNCHECKABLE.md`, with the reason;
//! - **not covered**: none of these, which is work still to do.
//!
//! The MQTT 5.0 statements follow, all of them, with their coverage by the `v5-*` checks
//! (`spec_v5.rs`: our applies-to, checkability and paraphrase columns in
//! `conformance/statements-v5.0.tsv`, reasons in `conformance/UNCHECKABLE-V5.md`). Then the 3.1
//! differences, 5.0 differences and MQTT-SN rules that anything cites. The MQTT-SN rules also get
//! a coverage count by the side they apply to, with the same three statuses (the gateway suite's
//! checks, `conformance/UNCHECKABLE-SN.md`, the rest). The checks come from the suite
//! itself (`mqtt-conformance --list --format json`), so the matrix cannot disagree with what runs;
//! citations in sources are found as `cargo xtask trace` finds them. It fails on an id no catalogue
//! holds, and on an `UNCHECKABLE.md` entry that a check cites or that does not exist. `--check`
//! also fails when the committed file is not what this task would write now.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::spec_v5;
use crate::trace::{self, Catalogue};

/// One conformance check, as the suite lists it.
struct CheckEntry {
    name: String,
    ids: Vec<String>,
}

/// What the catalogue says about one 3.1.1 statement.
struct Statement {
    level: String,
    checkable: String,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => return Err("usage: cargo xtask spec [--check]".to_owned()),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."));
    let specs = root.join("../shared/specs");
    let known = trace::load_catalogues(&specs)?;
    let statements = load_statements(&specs)?;
    let checks = list_checks(root)?;
    let uncheckable = load_uncheckable(root, "UNCHECKABLE.md", "MQTT-")?;
    let sn_rules = load_sn_rules(&specs)?;
    let sn_uncheckable = load_uncheckable(root, "UNCHECKABLE-SN.md", "SN-")?;
    let v5_statements = spec_v5::load(root, &specs)?;
    let v5_uncheckable = load_uncheckable(root, "UNCHECKABLE-V5.md", "MQTT5-")?;
    let (code, tests) = citations(root, &known)?;

    let (by_id, mut errors) = checks_by_id(&checks, &known);
    for id in uncheckable.keys() {
        if !statements.contains_key(id) {
            errors.push(format!(
                "conformance/UNCHECKABLE.md lists {id}, which is not a 3.1.1 statement"
            ));
        } else if let Some(names) = by_id.get(id.as_str()) {
            errors.push(format!(
                "conformance/UNCHECKABLE.md lists {id}, which {} checks",
                names.join(", ")
            ));
        }
    }
    for id in sn_uncheckable.keys() {
        if !sn_rules.contains_key(id) {
            errors.push(format!(
                "conformance/UNCHECKABLE-SN.md lists {id}, which is not an MQTT-SN rule"
            ));
        } else if let Some(names) = by_id.get(id.as_str()) {
            errors.push(format!(
                "conformance/UNCHECKABLE-SN.md lists {id}, which {} checks",
                names.join(", ")
            ));
        }
    }
    errors.extend(spec_v5::uncheckable_errors(
        &v5_statements,
        &v5_uncheckable,
        &by_id,
    ));
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }

    let mut matrix = render(&Inputs {
        known: &known,
        statements: &statements,
        by_id: &by_id,
        uncheckable: &uncheckable,
        sn_rules: &sn_rules,
        sn_uncheckable: &sn_uncheckable,
        code: &code,
        tests: &tests,
    });
    spec_v5::render(
        &spec_v5::Inputs {
            statements: &v5_statements,
            uncheckable: &v5_uncheckable,
            by_id: &by_id,
            code: &code,
            tests: &tests,
        },
        &mut matrix,
    );
    let path = root.join("docs/CONFORMANCE.md");
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != matrix {
            return Err(format!(
                "{} is out of date: run `cargo xtask spec` and commit the result",
                path.display()
            ));
        }
        eprintln!("spec: {} is current", path.display());
    } else {
        std::fs::write(&path, matrix)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        eprintln!("spec: wrote {}", path.display());
    }
    Ok(())
}

/// The checks citing each id, and an error for each id no catalogue holds.
fn checks_by_id<'a>(
    checks: &'a [CheckEntry],
    known: &BTreeMap<String, Catalogue>,
) -> (BTreeMap<&'a str, Vec<&'a str>>, Vec<String>) {
    let mut errors = Vec::new();
    let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for entry in checks {
        for id in &entry.ids {
            if !known.contains_key(id) {
                errors.push(format!("check {} cites unknown id {id}", entry.name));
            }
            by_id.entry(id).or_default().push(&entry.name);
        }
    }
    (by_id, errors)
}

/// The level and checkability columns of the 3.1.1 catalogue.
fn load_statements(specs: &Path) -> Result<BTreeMap<String, Statement>, String> {
    let path = specs.join("mqtt-v3.1.1-statements.tsv");
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let mut statements = BTreeMap::new();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split('\t').collect();
        if let (Some(id), Some(level), Some(checkable)) =
            (cells.first(), cells.get(2), cells.get(5))
        {
            statements.insert(
                (*id).to_owned(),
                Statement {
                    level: (*level).to_owned(),
                    checkable: (*checkable).to_owned(),
                },
            );
        }
    }
    Ok(statements)
}

/// The suite's checks, from `mqtt-conformance --list --format json`.
fn list_checks(root: &Path) -> Result<Vec<CheckEntry>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "--package",
            "conformance",
            "--bin",
            "mqtt-conformance",
            "--",
            "--list",
            "--format",
            "json",
        ])
        .output()
        .map_err(|error| format!("cannot run mqtt-conformance: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "mqtt-conformance --list failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8(output.stdout).map_err(|error| error.to_string())?;
    parse_check_list(&text)
}

/// Reads the list: an array of objects whose `name` is a string and `ids` an array of strings. Other
/// members are skipped. A small reader for this one shape, so that xtask needs no JSON crate.
fn parse_check_list(text: &str) -> Result<Vec<CheckEntry>, String> {
    let mut json = Json {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut checks = Vec::new();
    json.expect(b'[')?;
    if json.peek() == Some(b']') {
        return Ok(checks);
    }
    loop {
        json.expect(b'{')?;
        let (mut name, mut ids) = (None, Vec::new());
        loop {
            let key = json.string()?;
            json.expect(b':')?;
            match key.as_str() {
                "name" => name = Some(json.string()?),
                "ids" => ids = json.strings()?,
                _ if json.peek() == Some(b'[') => drop(json.strings()?),
                _ => drop(json.string()?),
            }
            if json.next_of(b",}")? == b'}' {
                break;
            }
        }
        checks.push(CheckEntry {
            name: name.ok_or("a check without a name in the list")?,
            ids,
        });
        if json.next_of(b",]")? == b']' {
            return Ok(checks);
        }
    }
}

struct Json<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Json<'_> {
    fn peek(&mut self) -> Option<u8> {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
        self.bytes.get(self.at).copied()
    }

    fn next_of(&mut self, allowed: &[u8]) -> Result<u8, String> {
        match self.peek() {
            Some(byte) if allowed.contains(&byte) => {
                self.at += 1;
                Ok(byte)
            }
            other => Err(format!(
                "check list: expected one of {:?} at byte {}, found {:?}",
                String::from_utf8_lossy(allowed),
                self.at,
                other.map(char::from)
            )),
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.next_of(&[byte]).map(drop)
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or("check list: unterminated string")?;
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = *self.bytes.get(self.at).ok_or("check list: bad escape")?;
                    self.at += 1;
                    match escaped {
                        b'n' => out.push(b'\n'),
                        b'u' => {
                            // Only control characters are escaped this way; keep a placeholder.
                            self.at += 4;
                            out.push(b'?');
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
        String::from_utf8(out).map_err(|error| error.to_string())
    }

    fn strings(&mut self) -> Result<Vec<String>, String> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(out);
        }
        loop {
            out.push(self.string()?);
            if self.next_of(b",]")? == b']' {
                return Ok(out);
            }
        }
    }
}

/// Which side each MQTT-SN rule applies to (`Gateway`, `Client`, `Both`, `Forwarder`).
fn load_sn_rules(specs: &Path) -> Result<BTreeMap<String, String>, String> {
    let path = specs.join("mqtt-sn-v1.2-rules.tsv");
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            Some(((*cells.first()?).to_owned(), (*cells.get(2)?).to_owned()))
        })
        .collect())
}

/// `conformance/<file>`: the rows `| id | reason |` of its table whose id starts with `prefix`.
fn load_uncheckable(
    root: &Path,
    file: &str,
    prefix: &str,
) -> Result<BTreeMap<String, String>, String> {
    let path = root.join("conformance").join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let mut entries = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let ["", id, reason, ""] = cells.as_slice()
            && id.starts_with(prefix)
        {
            entries.insert((*id).to_owned(), (*reason).to_owned());
        }
    }
    Ok(entries)
}

pub(crate) type Cited = BTreeMap<String, BTreeSet<String>>;

/// The files outside the suite whose code, and whose tests, cite each id. The suite's own files are
/// left out: its citations are the checks, listed separately.
fn citations(root: &Path, known: &BTreeMap<String, Catalogue>) -> Result<(Cited, Cited), String> {
    let (mut code, mut tests) = (Cited::new(), Cited::new());
    let mut unknown = Vec::new();
    for file in trace::source_files(root)? {
        let relative = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        if relative.starts_with("conformance/")
            || relative == "docs/CONFORMANCE.md"
            || relative.ends_with("xtask/src/spec.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
        let mut in_tests = trace::is_test_file(&relative);
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                in_tests = true;
            }
            for id in trace::citations_in(line) {
                if !known.contains_key(&id) {
                    unknown.push(format!("{relative}:{}: unknown rule id {id}", number + 1));
                    continue;
                }
                let into = if in_tests { &mut tests } else { &mut code };
                into.entry(id).or_default().insert(relative.clone());
            }
        }
    }
    if unknown.is_empty() {
        Ok((code, tests))
    } else {
        Err(format!(
            "citations of ids no catalogue holds:\n{}",
            unknown.join("\n")
        ))
    }
}

struct Inputs<'a> {
    known: &'a BTreeMap<String, Catalogue>,
    statements: &'a BTreeMap<String, Statement>,
    by_id: &'a BTreeMap<&'a str, Vec<&'a str>>,
    uncheckable: &'a BTreeMap<String, String>,
    sn_rules: &'a BTreeMap<String, String>,
    sn_uncheckable: &'a BTreeMap<String, String>,
    code: &'a Cited,
    tests: &'a Cited,
}

/// The status of one 3.1.1 statement.
fn status(inputs: &Inputs<'_>, id: &str, statement: &Statement) -> String {
    if inputs.by_id.contains_key(id) {
        if statement.checkable == "partly" {
            "partly checked".to_owned()
        } else {
            "checked".to_owned()
        }
    } else if let Some(reason) = inputs.uncheckable.get(id) {
        format!("not checkable: {reason}")
    } else {
        "**not covered**".to_owned()
    }
}

fn render(inputs: &Inputs<'_>) -> String {
    let mut ids: Vec<&String> = inputs.statements.keys().collect();
    ids.sort_by_key(|id| trace::sort_key(id));
    let mut out = String::from(
        "# Conformance matrix\n\n\
         Generated by `cargo xtask spec`; do not edit by hand. For each MQTT 3.1.1 statement: how the\n\
         catalogue rates checking it from outside (`yes`, `partly`, `no`), its status, the conformance\n\
         checks (`mqtt-conformance --list`) that verify it, and the files whose code and whose tests cite\n\
         it. Statuses: *checked*; *partly checked* (the part the catalogue says can be observed);\n\
         *not checkable*, with the reason from `conformance/UNCHECKABLE.md`; *not covered*.\n\n\
         ## Coverage\n\n\
         | checkable from outside | statements | checked | not checkable | not covered |\n\
         |---|---|---|---|---|\n",
    );
    for rating in ["yes", "partly", "no"] {
        let rated: Vec<&&String> = ids
            .iter()
            .filter(|id| inputs.statements[id.as_str()].checkable == rating)
            .collect();
        let checked = rated
            .iter()
            .filter(|id| inputs.by_id.contains_key(id.as_str()))
            .count();
        let excused = rated
            .iter()
            .filter(|id| inputs.uncheckable.contains_key(id.as_str()))
            .count();
        let _ = writeln!(
            out,
            "| {rating} | {} | {checked} | {excused} | {} |",
            rated.len(),
            rated.len() - checked - excused
        );
    }
    out.push_str(
        "\n## MQTT 3.1.1 statements\n\n\
         | id | level | outside | status | checks | code | tests |\n|---|---|---|---|---|---|---|\n",
    );
    for id in ids {
        let statement = &inputs.statements[id.as_str()];
        let checks = inputs
            .by_id
            .get(id.as_str())
            .map(|names| {
                names
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {id} | {} | {} | {} | {checks} | {} | {} |",
            statement.level,
            statement.checkable,
            status(inputs, id, statement),
            files(inputs.code.get(id.as_str())),
            files(inputs.tests.get(id.as_str())),
        );
    }
    for (catalogue, title) in [
        (
            Catalogue::Mqtt31Differences,
            "MQTT 3.1 differences cited (`mqtt-v3.1-differences.md`)",
        ),
        (
            Catalogue::Mqtt5Differences,
            "MQTT 5.0 differences cited (`mqtt-v5-differences.md`)",
        ),
        (
            Catalogue::MqttSn,
            "MQTT-SN 1.2 rules cited (`mqtt-sn-v1.2-rules.tsv`)",
        ),
    ] {
        let mut used: Vec<&String> = inputs
            .known
            .iter()
            .filter(|(id, owner)| {
                **owner == catalogue
                    && (inputs.by_id.contains_key(id.as_str())
                        || inputs.code.contains_key(id.as_str())
                        || inputs.tests.contains_key(id.as_str()))
            })
            .map(|(id, _)| id)
            .collect();
        used.sort_by_key(|id| trace::sort_key(id));
        let _ = write!(out, "\n## {title}\n\n{} cited.\n\n", used.len());
        if catalogue == Catalogue::MqttSn {
            render_sn_coverage(inputs, &mut out);
        }
        out.push_str("| id | checks | code | tests |\n|---|---|---|---|\n");
        for id in used {
            let checks = inputs
                .by_id
                .get(id.as_str())
                .map(|names| {
                    names
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {id} | {checks} | {} | {} |",
                files(inputs.code.get(id.as_str())),
                files(inputs.tests.get(id.as_str())),
            );
        }
    }
    out
}

/// The gateway suite's coverage of the MQTT-SN rules, by the side each applies to, then the rules
/// not covered and the reasons of those not checkable.
fn render_sn_coverage(inputs: &Inputs<'_>, out: &mut String) {
    out.push_str(
        "Coverage by the gateway suite (a rule is *checked* when a check cites it; *not checkable* \
         with the reason in `conformance/UNCHECKABLE-SN.md`):\n\n\
         | applies to | rules | checked | not checkable | not covered |\n|---|---|---|---|---|\n",
    );
    let mut uncovered = Vec::new();
    for side in ["Gateway", "Both", "Client", "Forwarder"] {
        let rules: Vec<&String> = inputs
            .sn_rules
            .iter()
            .filter(|(_, applies)| applies.as_str() == side)
            .map(|(id, _)| id)
            .collect();
        let checked = rules
            .iter()
            .filter(|id| inputs.by_id.contains_key(id.as_str()))
            .count();
        let excused = rules
            .iter()
            .filter(|id| inputs.sn_uncheckable.contains_key(id.as_str()))
            .count();
        uncovered.extend(rules.into_iter().filter(|id| {
            !inputs.by_id.contains_key(id.as_str())
                && !inputs.sn_uncheckable.contains_key(id.as_str())
        }));
        let total = inputs
            .sn_rules
            .values()
            .filter(|applies| *applies == side)
            .count();
        let _ = writeln!(
            out,
            "| {side} | {total} | {checked} | {excused} | {} |",
            total - checked - excused
        );
    }
    uncovered.sort_by_key(|id| trace::sort_key(id));
    let uncovered: Vec<&str> = uncovered.iter().map(|id| id.as_str()).collect();
    let _ = writeln!(
        out,
        "\nNot covered: {}.\n",
        if uncovered.is_empty() {
            "none".to_owned()
        } else {
            uncovered.join(", ")
        }
    );
}

pub(crate) fn files(set: Option<&BTreeSet<String>>) -> String {
    set.map(|files| {
        files
            .iter()
            .map(|file| format!("`{file}`"))
            .collect::<Vec<_>>()
            .join(" ")
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_check_list() {
        let text = "[\n{\"name\":\"a\",\"section\":\"3.1 CONNECT\",\"ids\":[\"X-1\",\"X-2\"],\
                    \"versions\":[\"3.1.1\"],\"summary\":\"say \\\"hi\\\"\"},\n\
                    {\"name\":\"b\",\"ids\":[]}\n]\n";
        let checks = parse_check_list(text).expect("valid");
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0].name, "a");
        assert_eq!(checks[0].ids, ["X-1", "X-2"]);
        assert!(checks[1].ids.is_empty());
        assert!(parse_check_list("[{\"name\":\"a\"").is_err());
    }

    #[test]
    fn checks_may_cite_5_0_ids_but_not_unknown_ones() {
        let known = BTreeMap::from([
            ("MQTT-3.3.2-1".to_owned(), Catalogue::Mqtt311),
            ("MQTT5-3.3.2-8".to_owned(), Catalogue::Mqtt50),
            ("V5-DIFF-6".to_owned(), Catalogue::Mqtt5Differences),
        ]);
        let checks = [
            CheckEntry {
                name: "alias".to_owned(),
                ids: vec!["MQTT5-3.3.2-8".to_owned(), "V5-DIFF-6".to_owned()],
            },
            CheckEntry {
                name: "typo".to_owned(),
                ids: vec!["MQTT5-9.9.9-9".to_owned()],
            },
        ];
        let (by_id, errors) = checks_by_id(&checks, &known);
        assert_eq!(by_id["MQTT5-3.3.2-8"], ["alias"]);
        assert_eq!(by_id["V5-DIFF-6"], ["alias"]);
        assert_eq!(errors, ["check typo cites unknown id MQTT5-9.9.9-9"]);
    }
}

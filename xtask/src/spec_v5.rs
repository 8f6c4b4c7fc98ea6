//! The MQTT 5.0 part of `cargo xtask spec`: coverage of the 251 statements of
//! `mqtt-v5.0-statements.tsv` by the suite's `v5-*` checks.
//!
//! The shared catalogue gives each 5.0 statement its id and level only; its paraphrase, applies-to
//! and checkable-from-outside columns are empty or guessed. `conformance/statements-v5.0.tsv` fills
//! them in our words, one row per catalogue id (`id`, `applies_to`, `wire_checkable_vs_broker`,
//! `paraphrase`), and this task refuses an overlay that misses an id, adds one, or uses another
//! value. `conformance/UNCHECKABLE-V5.md` gives the reason for each statement no check can verify
//! from outside, as `UNCHECKABLE.md` does for 3.1.1. Everything else is *checked* when a check
//! cites it and *not covered* otherwise: work still to do, counted in the matrix.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::spec::{Cited, files};
use crate::trace;

/// One 5.0 statement, from the catalogue and the overlay.
pub(crate) struct Statement {
    level: String,
    applies: String,
    checkable: String,
    paraphrase: String,
}

/// The 5.0 statements by cited id (`MQTT5-x.y.z-n`), joined with the overlay.
pub(crate) fn load(root: &Path, specs: &Path) -> Result<BTreeMap<String, Statement>, String> {
    let catalogue = read(&specs.join("mqtt-v5.0-statements.tsv"))?;
    let overlay_path = root.join("conformance/statements-v5.0.tsv");
    let overlay = read(&overlay_path)?;
    let mut levels = BTreeMap::new();
    for line in catalogue.lines().skip(1) {
        let cells: Vec<&str> = line.split('\t').collect();
        if let (Some(id), Some(level)) = (cells.first(), cells.get(2)) {
            levels.insert((*id).to_owned(), (*level).to_owned());
        }
    }
    let mut statements = BTreeMap::new();
    let mut errors = Vec::new();
    for (number, line) in overlay.lines().enumerate().skip(1) {
        let cells: Vec<&str> = line.split('\t').collect();
        let [id, applies, checkable, paraphrase] = cells.as_slice() else {
            errors.push(format!("line {}: expected 4 columns", number + 1));
            continue;
        };
        let Some(level) = levels.get(*id) else {
            errors.push(format!("line {}: {id} is not a 5.0 statement", number + 1));
            continue;
        };
        if !["Server", "Client", "Both"].contains(applies)
            || !["yes", "partly", "no"].contains(checkable)
            || paraphrase.is_empty()
        {
            errors.push(format!(
                "line {}: {id} needs applies_to Server/Client/Both, checkable yes/partly/no and a paraphrase",
                number + 1
            ));
            continue;
        }
        let cited = format!("MQTT5-{}", id.trim_start_matches("MQTT-"));
        let row = Statement {
            level: level.clone(),
            applies: (*applies).to_owned(),
            checkable: (*checkable).to_owned(),
            paraphrase: (*paraphrase).to_owned(),
        };
        if statements.insert(cited, row).is_some() {
            errors.push(format!("line {}: {id} twice", number + 1));
        }
    }
    for id in levels.keys() {
        let cited = format!("MQTT5-{}", id.trim_start_matches("MQTT-"));
        if !statements.contains_key(&cited) {
            errors.push(format!("{id} has no row"));
        }
    }
    if errors.is_empty() {
        Ok(statements)
    } else {
        Err(format!(
            "{}:\n{}",
            overlay_path.display(),
            errors.join("\n")
        ))
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))
}

/// The errors of `UNCHECKABLE-V5.md`: an id that is not a 5.0 statement, or that a check cites.
pub(crate) fn uncheckable_errors(
    statements: &BTreeMap<String, Statement>,
    uncheckable: &BTreeMap<String, String>,
    by_id: &BTreeMap<&str, Vec<&str>>,
) -> Vec<String> {
    let mut errors = Vec::new();
    for id in uncheckable.keys() {
        if !statements.contains_key(id) {
            errors.push(format!(
                "conformance/UNCHECKABLE-V5.md lists {id}, which is not a 5.0 statement"
            ));
        } else if let Some(names) = by_id.get(id.as_str()) {
            errors.push(format!(
                "conformance/UNCHECKABLE-V5.md lists {id}, which {} checks",
                names.join(", ")
            ));
        }
    }
    errors
}

/// What the 5.0 section of the matrix is made from.
pub(crate) struct Inputs<'a> {
    pub(crate) statements: &'a BTreeMap<String, Statement>,
    pub(crate) uncheckable: &'a BTreeMap<String, String>,
    pub(crate) by_id: &'a BTreeMap<&'a str, Vec<&'a str>>,
    pub(crate) code: &'a Cited,
    pub(crate) tests: &'a Cited,
}

/// The 5.0 coverage tables and one row per statement.
pub(crate) fn render(inputs: &Inputs<'_>, out: &mut String) {
    let mut ids: Vec<&String> = inputs.statements.keys().collect();
    ids.sort_by_key(|id| trace::sort_key(id));
    let checked = |id: &str| inputs.by_id.contains_key(id);
    let excused = |id: &str| inputs.uncheckable.contains_key(id);
    out.push_str(
        "\n## MQTT 5.0 statements\n\n\
         The `v5-*` checks (`mqtt-conformance --version 5`). Applies-to, checkability and the\n\
         paraphrase are ours (`conformance/statements-v5.0.tsv`); *not checkable* gives the reason\n\
         from `conformance/UNCHECKABLE-V5.md`.\n\n\
         | checkable from outside | statements | checked | not checkable | not covered |\n\
         |---|---|---|---|---|\n",
    );
    for rating in ["yes", "partly", "no"] {
        let rated: Vec<&&String> = ids
            .iter()
            .filter(|id| inputs.statements[id.as_str()].checkable == rating)
            .collect();
        let done = rated.iter().filter(|id| checked(id)).count();
        let listed = rated.iter().filter(|id| excused(id)).count();
        let _ = writeln!(
            out,
            "| {rating} | {} | {done} | {listed} | {} |",
            rated.len(),
            rated.len() - done - listed
        );
    }
    out.push_str(
        "\n| applies to | statements | checked | not checkable | not covered |\n|---|---|---|---|---|\n",
    );
    for side in ["Server", "Both", "Client"] {
        let sided: Vec<&&String> = ids
            .iter()
            .filter(|id| inputs.statements[id.as_str()].applies == side)
            .collect();
        let done = sided.iter().filter(|id| checked(id)).count();
        let listed = sided.iter().filter(|id| excused(id)).count();
        let _ = writeln!(
            out,
            "| {side} | {} | {done} | {listed} | {} |",
            sided.len(),
            sided.len() - done - listed
        );
    }
    out.push_str(
        "\n| id | level | applies | outside | status | checks | code | tests | paraphrase |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for id in ids {
        let statement = &inputs.statements[id.as_str()];
        let status = if inputs.by_id.contains_key(id.as_str()) {
            if statement.checkable == "partly" {
                "partly checked".to_owned()
            } else {
                "checked".to_owned()
            }
        } else if let Some(reason) = inputs.uncheckable.get(id.as_str()) {
            format!("not checkable: {reason}")
        } else {
            "**not covered**".to_owned()
        };
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
            "| {id} | {} | {} | {} | {status} | {checks} | {} | {} | {} |",
            statement.level,
            statement.applies,
            statement.checkable,
            files(inputs.code.get(id.as_str())),
            files(inputs.tests.get(id.as_str())),
            statement.paraphrase.replace('|', "\\|"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A catalogue and an overlay written to a fresh directory laid out as the task expects.
    fn fixture(name: &str, overlay: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let root = std::env::temp_dir().join(format!("spec-v5-{name}-{}", std::process::id()));
        let specs = root.join("specs");
        std::fs::create_dir_all(root.join("conformance")).expect("dir");
        std::fs::create_dir_all(&specs).expect("dir");
        std::fs::write(
            specs.join("mqtt-v5.0-statements.tsv"),
            "id\tsection\tlevel\n\
             MQTT-3.3.2-8\t3.3.2\tMUST\n\
             MQTT-3.8.3-3\t3.8.3\tMUST\n",
        )
        .expect("catalogue");
        std::fs::write(root.join("conformance/statements-v5.0.tsv"), overlay).expect("overlay");
        (root, specs)
    }

    #[test]
    fn the_overlay_joins_the_catalogue_under_cited_ids() {
        let (root, specs) = fixture(
            "join",
            "id\tapplies_to\twire_checkable_vs_broker\tparaphrase\n\
             MQTT-3.3.2-8\tBoth\tyes\tNo alias 0.\n\
             MQTT-3.8.3-3\tServer\tyes\tNo Local.\n",
        );
        let statements = load(&root, &specs).expect("valid");
        assert_eq!(statements["MQTT5-3.3.2-8"].level, "MUST");
        assert_eq!(statements["MQTT5-3.8.3-3"].applies, "Server");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_missing_row_an_unknown_id_or_a_bad_value_is_refused() {
        let (root, specs) = fixture(
            "refuse",
            "id\tapplies_to\twire_checkable_vs_broker\tparaphrase\n\
             MQTT-3.3.2-8\tEveryone\tyes\tNo alias 0.\n\
             MQTT-9.9.9-9\tServer\tyes\tInvented.\n",
        );
        let error = load(&root, &specs).err().expect("refused");
        assert!(error.contains("MQTT-3.3.2-8 needs applies_to"), "{error}");
        assert!(
            error.contains("MQTT-9.9.9-9 is not a 5.0 statement"),
            "{error}"
        );
        assert!(error.contains("MQTT-3.8.3-3 has no row"), "{error}");
        let _ = std::fs::remove_dir_all(root);
    }
}

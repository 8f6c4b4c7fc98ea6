//! `cargo xtask bench-table`: criterion's last results as a Markdown table, each figure also read as a
//! ratio to the `copy` benchmark of its group.
//!
//! Criterion writes `target/criterion/<group>/<function>/new/estimates.json`; this reads the mean of
//! each, so that `BENCHMARKS.md` is pasted from a real run rather than typed in.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

pub(crate) fn run(root: &Path) -> Result<(), String> {
    let criterion = root.join("target/criterion");
    let mut groups: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut pending = vec![criterion.clone()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.ends_with("new/estimates.json") {
                let Some(bench_dir) = path.parent().and_then(Path::parent) else {
                    continue;
                };
                let Ok(relative) = bench_dir.strip_prefix(&criterion) else {
                    continue;
                };
                let mut parts = relative
                    .iter()
                    .map(|part| part.to_string_lossy().into_owned());
                let (Some(group), rest) = (parts.next(), parts.collect::<Vec<_>>()) else {
                    continue;
                };
                let json = std::fs::read_to_string(&path)
                    .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                let mean = mean_nanoseconds(&json)
                    .ok_or_else(|| format!("no mean in {}", path.display()))?;
                groups
                    .entry(group)
                    .or_default()
                    .insert(rest.join("/"), mean);
            }
        }
    }
    if groups.is_empty() {
        return Err(format!(
            "no results under {}: run `cargo bench` first",
            criterion.display()
        ));
    }
    print!("{}", render(&groups));
    Ok(())
}

/// The `mean.point_estimate` of criterion's `estimates.json`, in nanoseconds.
fn mean_nanoseconds(json: &str) -> Option<f64> {
    let mean = &json[json.find("\"mean\"")?..];
    let estimate = &mean[mean.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = estimate.find([',', '}'])?;
    estimate[..end].trim().parse().ok()
}

fn render(groups: &BTreeMap<String, BTreeMap<String, f64>>) -> String {
    let mut out = String::from("| case | benchmark | mean | vs copy |\n|---|---|---:|---:|\n");
    for (group, functions) in groups {
        let copy = functions.get("copy").copied();
        for (function, mean) in functions {
            let ratio = copy.map_or_else(|| "-".to_owned(), |copy| format!("{:.1}x", mean / copy));
            let _ = writeln!(out, "| {group} | {function} | {} | {ratio} |", human(*mean));
        }
    }
    out
}

fn human(nanoseconds: f64) -> String {
    if nanoseconds >= 1_000_000.0 {
        format!("{:.2} ms", nanoseconds / 1_000_000.0)
    } else if nanoseconds >= 1_000.0 {
        format!("{:.1} µs", nanoseconds / 1_000.0)
    } else {
        format!("{nanoseconds:.1} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_mean_not_the_median() {
        let json = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":2.5,"standard_error":0.1},"median":{"point_estimate":9.0}}"#;
        assert_eq!(mean_nanoseconds(json), Some(2.5));
    }

    #[test]
    fn ratios_are_to_the_copy_of_the_same_group() {
        let mut groups = BTreeMap::new();
        groups.insert(
            "puback".to_owned(),
            BTreeMap::from([("copy".to_owned(), 2.0), ("decode".to_owned(), 5.0)]),
        );
        let table = render(&groups);
        assert!(
            table.contains("| puback | decode | 5.0 ns | 2.5x |"),
            "{table}"
        );
    }
}

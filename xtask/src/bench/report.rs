//! The Markdown report: a header naming the machine, the brokers and the command, then one table per
//! kind of scenario with each broker's figure and the ratio of the first (ours) to the second.
//!
//! Ratios read the same way everywhere: ours divided by the other. Above 1 is better for throughput,
//! below 1 is better for latency, CPU and memory. With `--repeat`, a throughput cell is the median run
//! and the best run follows in parentheses. This file measures nothing.

use std::fmt::Write as _;
use std::process::Command;

use super::idle::Idle;
use super::latency::Latency;
use super::retained::Retained;
use super::target::{Memory, TargetKind};
use super::throughput::{Counts, Throughput};

/// What one run of one scenario against one broker gave.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Throughput(Throughput),
    Latency(Latency),
    Idle(Idle),
    Retained(Retained),
    /// The broker does not offer what the scenario needs.
    Unsupported(String),
    Failed(String),
}

/// One scenario: the outcomes of every round, per broker.
#[derive(Debug)]
pub(crate) struct Row {
    name: String,
    description: String,
    /// Per broker column, per round.
    runs: Vec<Vec<Outcome>>,
}

impl Row {
    pub(crate) fn new(name: String, description: String, columns: usize) -> Self {
        Self {
            name,
            description,
            runs: vec![Vec::new(); columns],
        }
    }

    pub(crate) fn push(&mut self, column: usize, outcome: Outcome) {
        if let Some(runs) = self.runs.get_mut(column) {
            runs.push(outcome);
        }
    }

    /// The outcome a table shows for a broker: the median throughput run, or the only run.
    fn shown(&self, column: usize) -> Option<&Outcome> {
        let runs = self.runs.get(column)?;
        let mut measured: Vec<&Outcome> = runs
            .iter()
            .filter(|outcome| matches!(outcome, Outcome::Throughput(_)))
            .collect();
        if measured.is_empty() {
            return runs.last();
        }
        measured.sort_by(|a, b| per_second(a).total_cmp(&per_second(b)));
        Some(measured[(measured.len() - 1) / 2])
    }

    fn best(&self, column: usize) -> Option<f64> {
        self.runs
            .get(column)?
            .iter()
            .filter(|outcome| matches!(outcome, Outcome::Throughput(_)))
            .map(|outcome| per_second(&outcome))
            .max_by(f64::total_cmp)
    }

    fn rounds(&self) -> usize {
        self.runs.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// A one-line summary for the progress log.
    pub(crate) fn summary_line(&self, kinds: &[TargetKind]) -> String {
        let mut line = format!("bench: {}:", self.name);
        for (column, kind) in kinds.iter().enumerate() {
            let figure = match self.shown(column) {
                Some(Outcome::Throughput(t)) => format!(
                    "{} msg/s, {}, {} CPU s/M",
                    thousands(t.per_second),
                    lost(&t.counts),
                    t.cpu_per_million
                        .map_or("-".to_owned(), |c| format!("{c:.2}"))
                ),
                Some(Outcome::Latency(l)) => format!(
                    "p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, {}",
                    l.p50,
                    l.p99,
                    l.p999,
                    lost(&l.counts)
                ),
                Some(Outcome::Idle(idle)) => format!(
                    "{} connected, {} MiB resident",
                    idle.connected,
                    mib(idle.idle.map(|m| m.resident))
                ),
                Some(Outcome::Retained(r)) => format!(
                    "{} of {} received in {:.0} ms, {} msg/s",
                    r.received,
                    r.wanted,
                    r.last_after.as_secs_f64() * 1e3,
                    thousands(r.per_second())
                ),
                Some(Outcome::Unsupported(why)) => format!("unsupported: {why}"),
                Some(Outcome::Failed(why)) => format!("FAILED: {why}"),
                None => "-".to_owned(),
            };
            let _ = write!(line, " {} {figure};", kind.label());
        }
        line
    }

    /// What went wrong for the broker in `column`: failures, and losses where the QoS forbids them.
    pub(crate) fn problems(&self, column: usize) -> Vec<String> {
        let mut problems = Vec::new();
        let reliable = !self.name.contains("qos0");
        for outcome in self.runs.get(column).into_iter().flatten() {
            let counts = match outcome {
                Outcome::Failed(why) => {
                    problems.push(format!("{}: {why}", self.name));
                    continue;
                }
                Outcome::Throughput(t) => Some(t.counts),
                Outcome::Latency(l) => Some(l.counts),
                Outcome::Idle(idle) => {
                    if idle.connected < idle.wanted {
                        problems.push(format!(
                            "{}: only {} of {} connected ({})",
                            self.name,
                            idle.connected,
                            idle.wanted,
                            idle.shortfall.as_deref().unwrap_or("?")
                        ));
                    }
                    match &idle.service {
                        Ok(service) => Some(service.counts),
                        Err(why) => {
                            problems.push(format!("{}: service check failed: {why}", self.name));
                            None
                        }
                    }
                }
                Outcome::Retained(r) => {
                    // Every retained message must reach a new subscriber, at QoS 0 as at QoS 1.
                    if r.missing() > 0 {
                        problems.push(format!(
                            "{}: {} of {} retained messages never arrived",
                            self.name,
                            r.missing(),
                            r.wanted
                        ));
                    }
                    None
                }
                Outcome::Unsupported(_) => None,
            };
            let checked = reliable || matches!(outcome, Outcome::Idle(_));
            if let Some(counts) = counts.filter(|_| checked) {
                if counts.lost() > 0 {
                    problems.push(format!("{}: {}", self.name, lost(&counts)));
                }
                if counts.duplicates > 0 && self.name.contains("qos2") {
                    problems.push(format!(
                        "{}: {} duplicates at QoS 2",
                        self.name, counts.duplicates
                    ));
                }
            }
        }
        problems
    }
}

/// The header: when, where, what and how.
pub(crate) fn machine_header(kinds: &[TargetKind], command: &str) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "## Run of {}", shell("date -u '+%Y-%m-%d %H:%M UTC'"));
    let _ = writeln!(text);
    let _ = writeln!(text, "- Command: `{command}`");
    let _ = writeln!(
        text,
        "- Machine: {}, {} logical CPUs, {} RAM, Linux {}; load average at start {}",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, usize::from),
        shell("free -h | awk '/^Mem:/ {print $2}'"),
        shell("uname -r"),
        shell("cut -d' ' -f1-3 /proc/loadavg"),
    );
    for kind in kinds {
        let _ = writeln!(text, "- {}", kind.version());
    }
    text
}

/// Every table, one per kind of scenario present.
pub(crate) fn tables(rows: &[Row], kinds: &[TargetKind]) -> String {
    let labels: Vec<String> = kinds.iter().map(TargetKind::label).collect();
    let mut text = String::new();
    let throughput: Vec<&Row> = rows
        .iter()
        .filter(|row| is(row, |o| matches!(o, Outcome::Throughput(_))))
        .collect();
    let latency: Vec<&Row> = rows
        .iter()
        .filter(|row| is(row, |o| matches!(o, Outcome::Latency(_))))
        .collect();
    let idle: Vec<&Row> = rows
        .iter()
        .filter(|row| is(row, |o| matches!(o, Outcome::Idle(_))))
        .collect();
    if !throughput.is_empty() {
        text.push_str(&throughput_table(&throughput, &labels));
    }
    if !latency.is_empty() {
        text.push_str(&latency_table(&latency, &labels));
    }
    if !idle.is_empty() {
        text.push_str(&idle_table(&idle, &labels));
    }
    let retained: Vec<&Row> = rows
        .iter()
        .filter(|row| is(row, |o| matches!(o, Outcome::Retained(_))))
        .collect();
    if !retained.is_empty() {
        text.push_str(&retained_table(&retained, &labels));
    }
    let mut notes: Vec<String> = Vec::new();
    for row in rows {
        for (column, label) in labels.iter().enumerate() {
            for outcome in row.runs.get(column).into_iter().flatten() {
                let note = match outcome {
                    Outcome::Failed(why) => {
                        format!("- {} against {label}: failed: {why}", row.name)
                    }
                    Outcome::Unsupported(why) => {
                        format!("- {} against {label}: not supported: {why}", row.name)
                    }
                    _ => continue,
                };
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
        }
    }
    if !notes.is_empty() {
        text.push('\n');
        text.push_str(&notes.join("\n"));
        text.push('\n');
    }
    text
}

fn is(row: &Row, test: impl Fn(&Outcome) -> bool) -> bool {
    row.runs.iter().flatten().any(test)
}

fn throughput_table(rows: &[&Row], labels: &[String]) -> String {
    let mut text =
        String::from("\n### Throughput (deliveries per second, all subscribers together)\n\n");
    let mut header = vec!["scenario".to_owned()];
    header.extend(columns("msg/s", labels));
    header.extend(labels.iter().map(|label| format!("lost {label}")));
    header.extend(columns("CPU s / M", labels));
    header.extend(columns("peak RSS MiB", labels));
    push_header(&mut text, &header);
    for row in rows {
        let pick = |column: usize| match row.shown(column) {
            Some(Outcome::Throughput(t)) => Some(t.clone()),
            _ => None,
        };
        let shown: Vec<Option<Throughput>> = (0..labels.len()).map(pick).collect();
        let mut cells = vec![row.description.clone()];
        let rates: Vec<Option<f64>> = shown
            .iter()
            .map(|t| t.as_ref().map(|t| t.per_second))
            .collect();
        let mut rate_cells: Vec<String> = rates
            .iter()
            .map(|r| r.map_or("-".to_owned(), thousands))
            .collect();
        if row.rounds() > 1 {
            for (column, cell) in rate_cells.iter_mut().enumerate() {
                if let Some(best) = row.best(column) {
                    let _ = write!(cell, " (best {})", thousands(best));
                }
            }
        }
        cells.extend(with_ratio(rate_cells, &rates));
        cells.extend(
            shown
                .iter()
                .map(|t| t.as_ref().map_or("-".to_owned(), |t| lost(&t.counts))),
        );
        let cpu: Vec<Option<f64>> = shown
            .iter()
            .map(|t| t.as_ref().and_then(|t| t.cpu_per_million))
            .collect();
        cells.extend(with_ratio(
            cpu.iter()
                .map(|c| c.map_or("-".to_owned(), |c| format!("{c:.2}")))
                .collect(),
            &cpu,
        ));
        let peak: Vec<Option<f64>> = shown
            .iter()
            .map(|t| {
                t.as_ref()
                    .and_then(|t| t.memory)
                    .map(|m| m.peak as f64 / 1024.0)
            })
            .collect();
        cells.extend(with_ratio(
            peak.iter()
                .map(|m| m.map_or("-".to_owned(), |m| format!("{m:.1}")))
                .collect(),
            &peak,
        ));
        push_row(&mut text, &cells);
    }
    text
}

fn latency_table(rows: &[&Row], labels: &[String]) -> String {
    let mut text = String::from(
        "\n### Latency at a fixed rate, one publisher to one subscriber, 64 B (microseconds)\n\n",
    );
    let mut header = vec!["scenario".to_owned()];
    header.extend(columns("p50", labels));
    header.extend(columns("p99", labels));
    header.extend(columns("p99.9", labels));
    header.extend(labels.iter().map(|label| format!("lost {label}")));
    push_header(&mut text, &header);
    for row in rows {
        let shown: Vec<Option<Latency>> = (0..labels.len())
            .map(|column| match row.shown(column) {
                Some(Outcome::Latency(l)) => Some(l.clone()),
                _ => None,
            })
            .collect();
        let mut cells = vec![row.description.clone()];
        for figure in [
            |l: &Latency| l.p50,
            |l: &Latency| l.p99,
            |l: &Latency| l.p999,
        ] {
            let values: Vec<Option<f64>> = shown.iter().map(|l| l.as_ref().map(figure)).collect();
            cells.extend(with_ratio(
                values
                    .iter()
                    .map(|v| v.map_or("-".to_owned(), |v| format!("{v:.0}")))
                    .collect(),
                &values,
            ));
        }
        cells.extend(shown.iter().map(|l| {
            l.as_ref().map_or("-".to_owned(), |l| {
                format!("{} ({} samples)", lost(&l.counts), l.samples)
            })
        }));
        push_row(&mut text, &cells);
    }
    text
}

fn idle_table(rows: &[&Row], labels: &[String]) -> String {
    let mut text = String::from(
        "\n### Idle connections (resident memory with all connected, and service meanwhile)\n\n",
    );
    let mut header = vec!["scenario".to_owned()];
    header.extend(labels.iter().map(|label| format!("connected {label}")));
    header.extend(columns("RSS MiB", labels));
    header.extend(labels.iter().map(|label| format!("KiB/conn {label}")));
    header.extend(labels.iter().map(|label| format!("peak MiB {label}")));
    header.extend(labels.iter().map(|label| format!("threads {label}")));
    header.extend(labels.iter().map(|label| format!("service {label}")));
    push_header(&mut text, &header);
    for row in rows {
        let shown: Vec<Option<Idle>> = (0..labels.len())
            .map(|column| match row.shown(column) {
                Some(Outcome::Idle(idle)) => Some(idle.clone()),
                _ => None,
            })
            .collect();
        let mut cells = vec![row.description.clone()];
        cells.extend(shown.iter().map(|idle| {
            idle.as_ref().map_or("-".to_owned(), |idle| {
                format!("{} of {}", idle.connected, idle.wanted)
            })
        }));
        let rss: Vec<Option<f64>> = shown
            .iter()
            .map(|idle| {
                idle.as_ref()
                    .and_then(|idle| idle.idle)
                    .map(|m| m.resident as f64 / 1024.0)
            })
            .collect();
        cells.extend(with_ratio(
            rss.iter()
                .map(|m| m.map_or("-".to_owned(), |m| format!("{m:.1}")))
                .collect(),
            &rss,
        ));
        cells.extend(shown.iter().map(|idle| {
            idle.as_ref()
                .and_then(|idle| per_connection(idle.before, idle.idle, idle.connected))
                .map_or("-".to_owned(), |kib| format!("{kib:.1}"))
        }));
        cells.extend(
            shown
                .iter()
                .map(|idle| mib(idle.as_ref().and_then(|idle| idle.after).map(|m| m.peak))),
        );
        cells.extend(shown.iter().map(|idle| {
            idle.as_ref()
                .and_then(|idle| idle.idle)
                .map_or("-".to_owned(), |m| m.threads.to_string())
        }));
        cells.extend(
            shown
                .iter()
                .map(|idle| match idle.as_ref().map(|idle| &idle.service) {
                    Some(Ok(service)) => {
                        format!("{}, p99 {:.0} us", lost(&service.counts), service.p99)
                    }
                    Some(Err(why)) => format!("failed: {why}"),
                    None => "-".to_owned(),
                }),
        );
        push_row(&mut text, &cells);
    }
    text
}

fn retained_table(rows: &[&Row], labels: &[String]) -> String {
    let mut text = String::from(
        "\n### Retained flood (messages stored, then one new subscriber to all of them)\n\n",
    );
    let mut header = vec!["scenario".to_owned()];
    header.extend(labels.iter().map(|label| format!("received {label}")));
    header.extend(columns("ms to last", labels));
    header.extend(columns("msg/s", labels));
    header.extend(columns("peak RSS MiB", labels));
    push_header(&mut text, &header);
    for row in rows {
        let shown: Vec<Option<Retained>> = (0..labels.len())
            .map(|column| match row.shown(column) {
                Some(Outcome::Retained(r)) => Some(r.clone()),
                _ => None,
            })
            .collect();
        let mut cells = vec![row.description.clone()];
        cells.extend(shown.iter().map(|r| {
            r.as_ref().map_or("-".to_owned(), |r| {
                let mut cell = format!(
                    "{} of {}",
                    thousands(r.received as f64),
                    thousands(r.wanted as f64)
                );
                if r.duplicates > 0 {
                    let _ = write!(cell, ", {} duplicates", thousands(r.duplicates as f64));
                }
                cell
            })
        }));
        let figures: [fn(&Retained) -> Option<f64>; 3] = [
            |r| Some(r.last_after.as_secs_f64() * 1e3),
            |r| Some(r.per_second()),
            |r| r.memory.map(|m| m.peak as f64 / 1024.0),
        ];
        for (index, figure) in figures.into_iter().enumerate() {
            let values: Vec<Option<f64>> =
                shown.iter().map(|r| r.as_ref().and_then(figure)).collect();
            cells.extend(with_ratio(
                values
                    .iter()
                    .map(|v| {
                        v.map_or("-".to_owned(), |v| {
                            if index == 2 {
                                format!("{v:.1}")
                            } else {
                                thousands(v)
                            }
                        })
                    })
                    .collect(),
                &values,
            ));
        }
        push_row(&mut text, &cells);
    }
    text
}

fn per_connection(before: Option<Memory>, idle: Option<Memory>, connected: usize) -> Option<f64> {
    let (before, idle) = (before?, idle?);
    (connected > 0).then(|| idle.resident.saturating_sub(before.resident) as f64 / connected as f64)
}

/// `<figure> <label>` for each broker, then `ratio` when there are two.
fn columns(figure: &str, labels: &[String]) -> Vec<String> {
    let mut names: Vec<String> = labels
        .iter()
        .map(|label| format!("{figure} {label}"))
        .collect();
    if labels.len() == 2 {
        names.push("ratio".to_owned());
    }
    names
}

/// The cells, then the ratio of the first value to the second when there are two.
fn with_ratio(mut cells: Vec<String>, values: &[Option<f64>]) -> Vec<String> {
    if values.len() == 2 {
        cells.push(match (values[0], values[1]) {
            (Some(ours), Some(other)) if other > 0.0 => format!("{:.2}", ours / other),
            _ => "-".to_owned(),
        });
    }
    cells
}

fn push_header(text: &mut String, header: &[String]) {
    push_row(text, header);
    push_row(text, &vec!["---".to_owned(); header.len()]);
}

fn push_row(text: &mut String, cells: &[String]) {
    let _ = writeln!(text, "| {} |", cells.join(" | "));
}

/// "0", or "12 of 1 000 lost (1.2%)", with duplicates if any.
fn lost(counts: &Counts) -> String {
    let mut text = if counts.lost() == 0 {
        "0".to_owned()
    } else {
        format!(
            "{} of {} lost ({:.2}%)",
            thousands(counts.lost() as f64),
            thousands(counts.expected as f64),
            counts.lost() as f64 * 100.0 / counts.expected.max(1) as f64
        )
    };
    if counts.duplicates > 0 {
        let _ = write!(text, ", {} duplicates", thousands(counts.duplicates as f64));
    }
    text
}

fn per_second(outcome: &&Outcome) -> f64 {
    match outcome {
        Outcome::Throughput(t) => t.per_second,
        _ => 0.0,
    }
}

/// 1234567.8 as "1 234 568".
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".to_owned(), |kib| format!("{:.1}", kib as f64 / 1024.0))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn shell(script: &str) -> String {
    Command::new("sh")
        .args(["-c", script])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped_by_three() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000.0), "1 000");
        assert_eq!(thousands(1_234_567.8), "1 234 568");
    }

    #[test]
    fn ratio_is_first_over_second() {
        let cells = with_ratio(vec!["3".into(), "1".into()], &[Some(3.0), Some(1.5)]);
        assert_eq!(cells, ["3", "1", "2.00"]);
        let cells = with_ratio(vec!["3".into(), "-".into()], &[Some(3.0), None]);
        assert_eq!(cells, ["3", "-", "-"]);
    }
}

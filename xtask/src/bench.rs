//! `cargo xtask bench`: our broker against mosquitto (or any broker at an address), side by side, in
//! one run on one machine.
//!
//! The load generator is in this process and speaks MQTT through `mqtt-codec` directly, with batched
//! writes and one thread per socket, so that the client is not what limits a figure. For each
//! scenario it starts a fresh broker process (ours, then mosquitto, alternating, so that a burst of
//! load from elsewhere on the machine falls on both), drives it, checks that nothing was lost and
//! reads the broker's CPU time and resident memory from `/proc`. The result is a Markdown table with
//! the ratio ours/other for each figure; `mqtt-broker/BENCHMARKS.md` holds the latest full run.
//!
//! The parts, in the order a reader would want them:
//!
//! | file                  | job                                                          |
//! |-----------------------|--------------------------------------------------------------|
//! | `bench.rs` (here)     | options, the run loop, the exit status                       |
//! | `bench/scenario.rs`   | the list of scenarios and their sizes (full and smoke)      |
//! | `bench/target.rs`     | starting a broker process, `/proc` figures, free ports       |
//! | `bench/client.rs`     | a minimal MQTT client on raw sockets, batched                |
//! | `bench/throughput.rs` | publishers and subscribers flat out, with loss accounting    |
//! | `bench/latency.rs`    | one publisher at a fixed rate, percentiles of delivery time  |
//! | `bench/idle.rs`       | thousands of idle connections, and service meanwhile         |
//! | `bench/retained.rs`   | many retained messages, then one new subscriber to them all  |
//! | `bench/report.rs`     | the Markdown tables                                          |
//!
//! It does not tune either broker: both run with their default limits (20 messages in flight and
//! 1 000 queued per session), listening on loopback only. It never talks to anything but loopback.

#[path = "bench/client.rs"]
mod client;
#[path = "bench/idle.rs"]
mod idle;
#[path = "bench/latency.rs"]
mod latency;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/retained.rs"]
mod retained;
#[path = "bench/scenario.rs"]
mod scenario;
#[path = "bench/target.rs"]
mod target;
#[path = "bench/throughput.rs"]
mod throughput;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use report::{Outcome, Row};
use scenario::{Scenario, Sizes};
use target::{Target, TargetKind};

const USAGE: &str = "\
usage: cargo xtask bench [options]

Runs every scenario against our broker (release build) and mosquitto, alternating, and prints a
Markdown table with the ratio ours/mosquitto for each figure.

options:
  --smoke               a few seconds in all, for CI: short windows, a few scenarios, debug build
  --seconds N           measuring window of each throughput and latency scenario (default 8)
  --window N            messages allowed between publishers and their slowest subscriber (default 1000)
  --flows N             QoS 1 and 2 flows a publisher keeps open at most (default 20)
  --repeat N            run each throughput scenario N times per broker; report the median (default 1)
  --scenario TEXT       only scenarios whose name contains TEXT (may be repeated); `--list` shows them
  --against HOST:PORT   compare with the broker at this address instead of mosquitto
  --against-pid PID     that broker's process, for its CPU time and memory (otherwise not measured)
  --no-ours             measure only the other broker (mosquitto, or --against)
  --no-other            measure only our broker (for profiling it)
  --ours HOST:PORT      use our broker already running at this address (under a profiler, say)
  --broker-bin PATH     start this mqtt-broker binary instead of building the workspace's
  --list                list the scenarios and exit
";

/// The options of one invocation.
#[derive(Debug, Clone)]
struct Options {
    smoke: bool,
    seconds: Option<f64>,
    window: Option<u64>,
    flows: Option<u64>,
    repeat: usize,
    filters: Vec<String>,
    against: Option<SocketAddr>,
    against_pid: Option<u32>,
    ours: Option<SocketAddr>,
    broker_bin: Option<PathBuf>,
    no_ours: bool,
    no_other: bool,
    list: bool,
}

/// Runs the benchmark; an error names the scenario or step that failed, or the losses of our broker.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let options = parse(args)?;
    let mut sizes = if options.smoke {
        Sizes::smoke()
    } else {
        Sizes::full(options.seconds.unwrap_or(8.0))
    };
    if let Some(window) = options.window {
        sizes.in_flight = window;
    }
    if let Some(flows) = options.flows {
        sizes.flows = flows;
    }
    let scenarios: Vec<Scenario> = scenario::all(&sizes, options.smoke)
        .into_iter()
        .filter(|scenario| {
            options.filters.is_empty()
                || options.filters.iter().any(|f| scenario.name().contains(f))
        })
        .collect();
    if options.list {
        for scenario in &scenarios {
            println!("{}", scenario.name());
        }
        return Ok(());
    }
    if scenarios.is_empty() {
        return Err("no scenario matches the --scenario filters (see --list)".to_owned());
    }
    // The load generator must not be what limits a figure, so a full run happens in a release build
    // of this program; and thousands of sockets need a higher open-files limit than many shells
    // give. Both are had by running again: `cargo build --release`, then `sh -c 'ulimit -n ...;
    // exec ...'` (setrlimit would need `unsafe` here).
    let release = if options.smoke || !cfg!(debug_assertions) {
        None
    } else {
        Some(build_release_self()?)
    };
    if let Some(status) =
        target::relaunch(args, scenario::needed_files(&scenarios), release.as_deref())?
    {
        return status;
    }
    let workdir = target::WorkDir::new()?;
    let kinds = targets(&options)?;
    let header = report::machine_header(&kinds, &options_line(args));
    eprintln!("{header}");
    let mut rows = Vec::new();
    for scenario in &scenarios {
        let repeat = if scenario.is_throughput() {
            options.repeat
        } else {
            1
        };
        let mut row = Row::new(scenario.name(), scenario.describe(), kinds.len());
        for round in 0..repeat {
            for (column, kind) in kinds.iter().enumerate() {
                eprintln!(
                    "bench: {} against {} (round {}/{repeat}, load {})",
                    scenario.name(),
                    kind.label(),
                    round + 1,
                    target::load_average()
                );
                let outcome = run_one(scenario, kind, &workdir);
                if let Outcome::Failed(why) = &outcome {
                    eprintln!("bench:   failed: {why}");
                }
                row.push(column, outcome);
            }
        }
        eprintln!("{}", row.summary_line(&kinds));
        rows.push(row);
    }
    println!("{header}");
    println!("{}", report::tables(&rows, &kinds));
    verdict(&rows, &kinds)
}

/// Starts the broker of `kind` (when it is ours to start), runs one scenario against it, stops it.
fn run_one(scenario: &Scenario, kind: &TargetKind, workdir: &target::WorkDir) -> Outcome {
    let target = match Target::start(kind, workdir, scenario.broker_setup()) {
        Ok(target) => target,
        Err(target::StartFailure::Unsupported(why)) => return Outcome::Unsupported(why),
        Err(target::StartFailure::Error(why)) => return Outcome::Failed(why),
    };
    let outcome = match scenario {
        Scenario::Throughput(shape) => throughput::run(shape, &target).map(Outcome::Throughput),
        Scenario::Latency(shape) => latency::run(shape, &target).map(Outcome::Latency),
        Scenario::Idle(shape) => idle::run(shape, &target).map(Outcome::Idle),
        Scenario::Retained(shape) => retained::run(shape, &target).map(Outcome::Retained),
    };
    let outcome = outcome.unwrap_or_else(Outcome::Failed);
    if let Some(why) = target.exited() {
        return Outcome::Failed(format!("the broker exited during the run: {why}"));
    }
    outcome
}

/// The brokers measured, in the order they alternate.
fn targets(options: &Options) -> Result<Vec<TargetKind>, String> {
    let mut kinds = Vec::new();
    if !options.no_ours {
        kinds.push(match options.ours {
            Some(address) => TargetKind::External {
                label: "ours".to_owned(),
                address,
                pid: None,
            },
            None => TargetKind::Ours {
                binary: match &options.broker_bin {
                    Some(binary) => binary.clone(),
                    None => build_ours(options.smoke)?,
                },
            },
        });
    }
    if options.no_other {
        return if kinds.is_empty() {
            Err("--no-ours and --no-other leave nothing to measure".to_owned())
        } else {
            Ok(kinds)
        };
    }
    kinds.push(match options.against {
        Some(address) => TargetKind::External {
            label: format!("broker at {address}"),
            address,
            pid: options.against_pid,
        },
        None => TargetKind::Mosquitto {
            binary: target::find_mosquitto()?,
        },
    });
    Ok(kinds)
}

/// Builds our broker: release for real figures, the debug build CI already has for the smoke run.
fn build_ours(smoke: bool) -> Result<PathBuf, String> {
    let mut command = Command::new(crate::cargo());
    command.args([
        "build",
        "--quiet",
        "--package",
        "mqtt-broker",
        "--bin",
        "mqtt-broker",
    ]);
    if !smoke {
        command.arg("--release");
    }
    crate::run(&mut command)?;
    Ok(target_dir()
        .join(if smoke { "debug" } else { "release" })
        .join("mqtt-broker"))
}

/// Builds this program in release mode and answers its path.
fn build_release_self() -> Result<PathBuf, String> {
    crate::run(Command::new(crate::cargo()).args([
        "build",
        "--quiet",
        "--release",
        "--package",
        "xtask",
    ]))?;
    Ok(target_dir().join("release").join("xtask"))
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR`, or `target/` in the workspace.
fn target_dir() -> PathBuf {
    let root = crate::workspace_root();
    let dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    if dir.is_relative() {
        root.join(dir)
    } else {
        dir
    }
}

/// Fails the run when our broker failed a scenario or lost a QoS 1 or 2 message. The other broker's
/// losses are reported in the table but do not fail the run: they are not ours to fix.
fn verdict(rows: &[Row], kinds: &[TargetKind]) -> Result<(), String> {
    let Some(ours) = kinds.iter().position(TargetKind::is_ours) else {
        return Ok(());
    };
    let problems: Vec<String> = rows.iter().flat_map(|row| row.problems(ours)).collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("our broker:\n  {}", problems.join("\n  ")))
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        smoke: false,
        seconds: None,
        window: None,
        flows: None,
        repeat: 1,
        filters: Vec::new(),
        against: None,
        against_pid: None,
        ours: None,
        broker_bin: None,
        no_ours: false,
        no_other: false,
        list: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--smoke" => options.smoke = true,
            "--seconds" => {
                let seconds: f64 = number(&value("--seconds")?)?;
                if !(0.1..=600.0).contains(&seconds) {
                    return Err("--seconds must be between 0.1 and 600".to_owned());
                }
                options.seconds = Some(seconds);
            }
            "--window" => {
                options.window = Some(number::<u64>(&value("--window")?)?.clamp(1, 60_000))
            }
            "--flows" => options.flows = Some(number::<u64>(&value("--flows")?)?.clamp(1, 65_535)),
            "--repeat" => options.repeat = number::<usize>(&value("--repeat")?)?.clamp(1, 20),
            "--scenario" => options.filters.push(value("--scenario")?),
            "--against" => options.against = Some(loopback(&value("--against")?)?),
            "--against-pid" => options.against_pid = Some(number(&value("--against-pid")?)?),
            "--ours" => options.ours = Some(loopback(&value("--ours")?)?),
            "--broker-bin" => options.broker_bin = Some(PathBuf::from(value("--broker-bin")?)),
            "--no-ours" => options.no_ours = true,
            "--no-other" => options.no_other = true,
            "--list" => options.list = true,
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    Ok(options)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a valid number"))
}

/// A broker address, which must be on loopback: the benchmark never loads anything else.
fn loopback(text: &str) -> Result<SocketAddr, String> {
    let address: SocketAddr = text
        .parse()
        .map_err(|_| format!("`{text}` is not HOST:PORT with a numeric host"))?;
    if address.ip().is_loopback() {
        Ok(address)
    } else {
        Err(format!("{address} is not a loopback address"))
    }
}

/// The command line as a reader would retype it.
fn options_line(args: &[String]) -> String {
    let mut line = "cargo xtask bench".to_owned();
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    line
}

//! The project's automation, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! Each task is a plain function that runs cargo (or another tool) as a child process and fails loudly
//! on the first step that fails. `cargo xtask ci` is exactly what `.ci/run` runs, so a green run here
//! means a green CI.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod bench_table;
mod browser;
mod crash;
mod fuzz;
mod interop;
mod spec;
mod spec_v5;
mod trace;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci              what CI runs: format check, clippy (warnings denied), no_std builds, docs,
                  the traceability check, all tests, interop, browser
  trace [--check] write docs/traceability.md: every spec rule and the code and tests citing it;
                  fails on an unknown rule id (--check: also when the file is out of date)
  bench [--smoke] throughput, latency and connection scale: our broker against mosquitto (or any
                  broker with --against HOST:PORT); --help lists the options
  crash [--smoke] the broker killed with SIGKILL under QoS 1/2 load and restarted; counts losses
  fuzz [--target T] [--seconds N]
                  the fuzz targets (mqtt_decode, mqttsn_decode, broker_session) under cargo-fuzz,
                  N seconds each (60); installs cargo-fuzz if it is missing
  interop         the broker against mosquitto_pub, mosquitto_sub and paho-mqtt (Debian's packages)
  browser         a web page using MQTT.js (npm) in headless Chromium publishes and subscribes
                  through the broker's WebSocket listener
  bench-table     print the last criterion results as a Markdown table, with ratios to `copy`
  spec [--check]  write docs/CONFORMANCE.md: each statement's status, checks, code and tests
  help            this text
";

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let result = match task.as_deref() {
        Some("ci") => ci(),
        Some("bench-table") => bench_table::run(workspace_root()),
        Some("interop") => interop::run(),
        Some("browser") => browser::run(),
        Some("bench") => bench::run(&rest_args()),
        Some("crash") => crash::run(&rest_args()),
        Some("fuzz") => fuzz::run(&rest_args()),
        Some("spec") => spec::run(&rest_args()),
        Some("trace") => {
            let check = std::env::args().nth(2).as_deref() == Some("--check");
            trace::run(workspace_root(), check)
        }
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The arguments after the task name.
fn rest_args() -> Vec<String> {
    std::env::args().skip(2).collect()
}

/// Everything CI checks, cheapest first so that a formatting slip fails in seconds, not minutes.
fn ci() -> Result<(), String> {
    let cargo = cargo();
    run(Command::new(&cargo).args(["fmt", "--all", "--", "--check"]))?;
    run(Command::new(&cargo).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The codecs promise to link into firmware: prove they build without `std`, and without `alloc`
    // where the crate offers that.
    for codec in ["mqtt-wire-codec", "mqttsn-codec"] {
        run(Command::new(&cargo).args(["build", "--package", codec, "--no-default-features"]))?;
    }
    // Both codecs are ready for crates.io (metadata, README, a package that builds on its own); the
    // dry run packages and verifies each without uploading. `--allow-dirty` so that it also runs on a
    // working tree with changes.
    for codec in ["mqtt-wire-codec", "mqttsn-codec"] {
        run(Command::new(&cargo).args([
            "publish",
            "--dry-run",
            "--allow-dirty",
            "--package",
            codec,
        ]))?;
    }
    run(Command::new(&cargo)
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    trace::run(workspace_root(), true)?;
    spec::run(&["--check".to_owned()])?;
    run(Command::new(&cargo).args(["test", "--workspace"]))?;
    // The examples check their own results: run them, so that they keep working.
    for (package, example) in [
        ("mqtt-broker", "custom_auth"),
        ("mqtt-broker", "embedded"),
        ("mqttsn-codec", "register_and_publish"),
        ("mqttsn-gateway", "in_front_of_a_broker"),
    ] {
        run(Command::new(&cargo).args(["run", "--package", package, "--example", example]))?;
    }
    // The client's integration tests run against mosquitto above; here against our broker.
    run(Command::new(&cargo)
        .args(["test", "--package", "mqtt-client", "--test", "integration"])
        .env("MQTT_CLIENT_TEST_BROKER", "ours"))?;
    interop::run()?;
    // MQTT over WebSocket from a real browser: MQTT.js in headless Chromium.
    browser::run()?;
    // SIGKILL the broker under QoS 1 and 2 load, restart it, count: nothing acknowledged is lost.
    crash::run(&["--smoke".to_owned()])?;
    // A few seconds of every benchmark scenario, so that the tool keeps working.
    bench::run(&["--smoke".to_owned()])?;
    Ok(())
}

/// Runs one step from the workspace root, echoing it first so a CI log reads as a script.
fn run(command: &mut Command) -> Result<(), String> {
    command.current_dir(workspace_root());
    let shown = format!("{command:?}");
    eprintln!("$ {shown}");
    let status = command
        .status()
        .map_err(|error| format!("could not start {shown}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

/// The cargo that launched us, so that `cargo +toolchain xtask` keeps its toolchain.
fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from)
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
}

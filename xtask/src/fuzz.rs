//! `cargo xtask fuzz [--target T] [--seconds N]`: runs the fuzz targets in `fuzz/` with cargo-fuzz
//! (libFuzzer), each for N seconds (60 by default), one after the other.
//!
//! The targets: `mqtt_decode` (an MQTT byte stream at both levels, every packet round-tripped),
//! `mqttsn_decode` (one MQTT-SN datagram, round-tripped) and `broker_session` (a script of clients
//! driving the broker's sessions and router on a fake clock). Their bodies are `fuzzing.rs` in
//! mqtt-codec, mqttsn-codec and mqtt-broker, which plain unit tests also run over the seeds in
//! `fuzz/corpus/<target>/`; that is all CI does, because building libFuzzer costs minutes.
//!
//! cargo-fuzz asks for nightly compiler flags (sanitizers, coverage instrumentation). On a stable
//! toolchain this task sets `RUSTC_BOOTSTRAP=1`, which lets stable rustc accept them. If `cargo fuzz`
//! is not installed, it is installed with `cargo install cargo-fuzz` (saying so first). libFuzzer
//! grows its corpus in `fuzz/work/<target>/` (ignored by git) and reads the committed seeds without
//! writing to them. A crash stops the task; libFuzzer prints the input it saved under
//! `fuzz/artifacts/<target>/`, and `cargo fuzz run <target> <that file>` replays it.

use std::process::{Command, Stdio};

use crate::{cargo, workspace_root};

/// The targets, in the order they run.
const TARGETS: [&str; 3] = ["mqtt_decode", "mqttsn_decode", "broker_session"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut targets: Vec<&str> = TARGETS.to_vec();
    let mut seconds: u64 = 60;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--target" => {
                let wanted = args.next().ok_or("--target needs a target name")?;
                let Some(target) = TARGETS.iter().find(|target| *target == wanted) else {
                    return Err(format!(
                        "no fuzz target `{wanted}`; there are {}",
                        TARGETS.join(", ")
                    ));
                };
                targets = vec![target];
            }
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|value| value.parse().ok())
                    .filter(|&value| value > 0)
                    .ok_or("--seconds needs a whole number of seconds above 0")?;
            }
            other => {
                return Err(format!(
                    "unknown option `{other}`: cargo xtask fuzz [--target T] [--seconds N]"
                ));
            }
        }
    }
    ensure_cargo_fuzz()?;
    let fuzz_dir = workspace_root().join("fuzz");
    for target in targets {
        let work = fuzz_dir.join("work").join(target);
        std::fs::create_dir_all(&work)
            .map_err(|error| format!("cannot create {}: {error}", work.display()))?;
        eprintln!("fuzzing {target} for {seconds} s");
        // From the workspace root, where cargo-fuzz finds `fuzz/` by itself.
        crate::run(
            Command::new(cargo())
                .env("RUSTC_BOOTSTRAP", "1")
                .args(["fuzz", "run", target])
                .arg(&work)
                .arg(fuzz_dir.join("corpus").join(target))
                .arg("--")
                .arg(format!("-max_total_time={seconds}")),
        )
        .map_err(|error| {
            format!(
                "{error}\nthe failing input is under fuzz/artifacts/{target}/; replay it with \
                 `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {target} <file>`"
            )
        })?;
    }
    Ok(())
}

/// Installs cargo-fuzz if `cargo fuzz` is not there.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = Command::new(cargo())
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if present {
        return Ok(());
    }
    eprintln!("cargo-fuzz is not installed: installing it with `cargo install cargo-fuzz`");
    crate::run(Command::new(cargo()).args(["install", "cargo-fuzz"]))
}

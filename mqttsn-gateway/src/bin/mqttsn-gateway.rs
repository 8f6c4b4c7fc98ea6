//! `mqttsn-gateway`: the MQTT-SN gateway as a program.
//!
//! Thin by design: everything is in `cli/`, shared by the three programs.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::main()
}

//! `mqttsn-pub`: publish one message to an MQTT-SN gateway, with options in the spirit of
//! mqtt-sn-tools' `mqtt-sn-pub`.
//!
//! Thin by design: everything is in `cli/`, shared by the three programs.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::main()
}

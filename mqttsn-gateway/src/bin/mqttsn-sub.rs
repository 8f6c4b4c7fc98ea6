//! `mqttsn-sub`: subscribe to topics of an MQTT-SN gateway and print the messages, with options in
//! the spirit of mqtt-sn-tools' `mqtt-sn-sub`.
//!
//! Thin by design: everything is in `cli/`, shared by the three programs.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::main()
}

//! `mqtt-pub`: publish a message to an MQTT broker, with the options of `mosquitto_pub`.
//!
//! Thin by design: everything is in `cli/`, shared with `mqtt-sub`.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::main()
}

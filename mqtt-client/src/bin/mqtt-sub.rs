//! `mqtt-sub`: subscribe to topics on an MQTT broker and print the messages, with the options of
//! `mosquitto_sub`.
//!
//! Thin by design: everything is in `cli/`, shared with `mqtt-pub`.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::main()
}

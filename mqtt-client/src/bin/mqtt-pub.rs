//! `mqtt-pub`: publish a message to an MQTT broker, with the options of `mosquitto_pub`.
//!
//! Thin by design: parse the arguments, set up logging, call the library (`mqtt_client::cli`).

use std::process::ExitCode;

use mqtt_client::cli::{self, PubArgs};

fn main() -> ExitCode {
    if cli::print_version(env!("CARGO_BIN_NAME")) {
        return ExitCode::SUCCESS;
    }
    let args: PubArgs = argh::from_env();
    cli::init_logging(args.debug);
    match cli::run_pub(&args, &mut cli::stdin()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !args.quiet {
                eprintln!("Error: {failure}");
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

//! `mqtt-sub`: subscribe to topics on an MQTT broker and print the messages, with the options of
//! `mosquitto_sub`.
//!
//! Thin by design: parse the arguments, set up logging, call the library (`mqtt_client::cli`).

use std::process::ExitCode;

use mqtt_client::cli::{self, SubArgs};

fn main() -> ExitCode {
    if cli::print_version(env!("CARGO_BIN_NAME")) {
        return ExitCode::SUCCESS;
    }
    let args: SubArgs = argh::from_env();
    cli::init_logging(args.debug);
    match cli::run_sub(&args, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !args.quiet {
                eprintln!("Error: {failure}");
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

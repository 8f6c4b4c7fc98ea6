//! `mqttsn-pub`: publish one message to an MQTT-SN gateway, with options in the spirit of
//! mqtt-sn-tools' `mqtt-sn-pub`.
//!
//! Thin by design: parse the arguments, set up logging, call the library (`mqttsn_gateway::cli`).

use std::process::ExitCode;

use mqttsn_gateway::cli::{self, PubArgs};

fn main() -> ExitCode {
    let args: PubArgs = argh::from_env();
    if args.version {
        println!("{}", cli::version("mqttsn-pub"));
        return ExitCode::SUCCESS;
    }
    cli::init_logging(args.debug);
    match cli::run_pub(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error}");
            ExitCode::FAILURE
        }
    }
}

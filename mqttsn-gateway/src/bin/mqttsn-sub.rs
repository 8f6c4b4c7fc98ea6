//! `mqttsn-sub`: subscribe to topics of an MQTT-SN gateway and print the messages, with options in
//! the spirit of mqtt-sn-tools' `mqtt-sn-sub`.
//!
//! Thin by design: parse the arguments, set up logging, call the library (`mqttsn_gateway::cli`).

use std::process::ExitCode;

use mqttsn_gateway::cli::{self, SubArgs};

fn main() -> ExitCode {
    let args: SubArgs = argh::from_env();
    if args.version {
        println!("{}", cli::version("mqttsn-sub"));
        return ExitCode::SUCCESS;
    }
    cli::init_logging(args.debug);
    match cli::run_sub(&args, &mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error}");
            ExitCode::FAILURE
        }
    }
}

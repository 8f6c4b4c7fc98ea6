//! `mqttsn-gateway`: the MQTT-SN gateway as a program.
//!
//! Thin by design: parse the arguments, load the configuration, set up logging, start the library's
//! gateway and wait.

use std::process::ExitCode;

use mqttsn_gateway::Gateway;
use mqttsn_gateway::cli::{self, GatewayArgs};

fn main() -> ExitCode {
    let args: GatewayArgs = argh::from_env();
    if args.version {
        println!("{}", cli::version("mqttsn-gateway"));
        return ExitCode::SUCCESS;
    }
    cli::init_logging(args.debug);
    let config = match args.config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("Error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match Gateway::start(config) {
        Ok(gateway) => {
            gateway.wait();
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("Error: cannot start the gateway: {error}");
            ExitCode::FAILURE
        }
    }
}

//! `mqtt-broker`: the command-line program. Parses its arguments, loads the configuration, starts the
//! logger and the broker library, then waits for signals: SIGHUP reloads the password and ACL files
//! and the TLS listeners' certificates (connections stay up), SIGINT and SIGTERM stop the broker
//! cleanly (clients disconnected, the persistent state compacted and synced). Everything else is in
//! the library.

use std::path::PathBuf;
use std::process::ExitCode;

use mqtt_broker::{Broker, Config};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// An MQTT 3.1 and 3.1.1 broker. With no arguments it listens on port 1883 on all interfaces, keeps
/// everything in memory, and logs to stderr. SIGHUP reloads the password and ACL files and the TLS
/// certificates; SIGINT or SIGTERM stops it cleanly.
#[derive(argh::FromArgs)]
struct Args {
    /// configuration file in mosquitto's syntax (see mqtt-broker.conf)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// port to listen on, on all interfaces; ignored if the configuration file has listeners
    #[argh(option, short = 'p')]
    port: Option<u16>,
    /// log debug messages too (RUST_LOG overrides)
    #[argh(switch, short = 'v')]
    verbose: bool,
}

fn main() -> ExitCode {
    // argh has no `--version`; a lone `--version` is answered before it parses anything.
    if std::env::args().skip(1).eq(["--version"]) {
        println!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let args: Args = argh::from_env();
    let level = if args.verbose { "debug" } else { "info" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();

    let mut config = match &args.config {
        Some(path) => match Config::from_file(path) {
            Ok(config) => config,
            Err(error) => {
                log::error!("{error}");
                return ExitCode::FAILURE;
            }
        },
        None => Config::default(),
    };
    if let Some(port) = args.port {
        let default = Config::default().listeners;
        if config.listeners == default {
            for listener in &mut config.listeners {
                listener.set_port(port);
            }
        } else {
            log::warn!("-p {port} ignored: the configuration file defines listeners");
        }
    }
    // Registered before the broker starts, so that no signal is missed in between.
    let mut signals = match Signals::new([SIGHUP, SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(error) => {
            log::error!("cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    match Broker::start(config) {
        Ok(broker) => {
            log::info!("mqtt-broker version {} running", env!("CARGO_PKG_VERSION"));
            for signal in signals.forever() {
                if signal == SIGHUP {
                    if let Err(error) = broker.reload() {
                        log::error!("reload: what failed keeps its previous settings: {error}");
                    }
                } else {
                    log::info!(
                        "{} received, stopping",
                        if signal == SIGINT {
                            "SIGINT"
                        } else {
                            "SIGTERM"
                        }
                    );
                    break;
                }
            }
            broker.shutdown();
            ExitCode::SUCCESS
        }
        Err(error) => {
            log::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

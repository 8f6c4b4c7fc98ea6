//! `mqtt-broker`: the command-line program. Parses its arguments, loads the configuration, starts the
//! logger and the broker library, then waits for signals: SIGHUP reloads the password and ACL files
//! and the TLS listeners' certificates (connections stay up), SIGINT and SIGTERM stop the broker
//! cleanly (clients disconnected, the persistent state compacted and synced). Everything else is in
//! the library.

use std::path::PathBuf;
use std::process::ExitCode;

use mqtt_broker::{Broker, Config, LogSettings, LogType, Logger, StartError};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// An MQTT 3.1 and 3.1.1 broker. With no arguments it listens on port 1883 on 127.0.0.1 only and lets
/// anonymous clients in (mosquitto 2's local-only mode), keeps everything in memory, and logs to
/// stderr. A configuration file with a `listener` listens where it says, and then refuses anonymous
/// clients unless it has `allow_anonymous true`. SIGHUP reloads the password and ACL files and the TLS
/// certificates; SIGINT or SIGTERM stops it cleanly.
#[derive(argh::FromArgs)]
struct Args {
    /// configuration file in mosquitto's syntax (see mqtt-broker.conf)
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// port to listen on, on 127.0.0.1 only; ignored if the configuration file has listeners
    #[argh(option, short = 'p')]
    port: Option<u16>,
    /// log every type of message, debug included, whatever log_type says (as mosquitto's -v);
    /// RUST_LOG, if set, replaces the configured logging with env_logger's
    #[argh(switch, short = 'v')]
    verbose: bool,
}

/// The exit status for a configuration that cannot be used (the configuration file, or the password
/// or ACL file it names): 3, mosquitto's (`MOSQ_ERR_INVAL`), so that scripts and service managers
/// written for mosquitto tell a bad configuration from other failures (1).
const BAD_CONFIGURATION: u8 = 3;

fn main() -> ExitCode {
    // argh has no `--version`; a lone `--version` is answered before it parses anything.
    if std::env::args().skip(1).eq(["--version"]) {
        println!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let args: Args = argh::from_env();
    // RUST_LOG is for developers: with it, env_logger takes over (its filter syntax, every crate's
    // lines, stderr only) and the configuration's log settings are ignored. Without it the log is
    // mosquitto's: the configuration's `log_dest`, `log_type` and timestamps, stderr until the file
    // is read.
    let logger = if std::env::var_os("RUST_LOG").is_some() {
        env_logger::Builder::from_env(env_logger::Env::default()).init();
        None
    } else {
        Logger::install(verbose_settings(LogSettings::default(), args.verbose))
    };

    let mut config = match &args.config {
        // Every error of the file at once, one `file:line: message` line each.
        Some(path) => match Config::load(path) {
            Ok(config) => config,
            Err(errors) => {
                for error in errors {
                    log::error!("{error}");
                }
                return ExitCode::from(BAD_CONFIGURATION);
            }
        },
        None => Config::default(),
    };
    if let Some(logger) = logger {
        logger.configure(verbose_settings(config.logging.clone(), args.verbose));
    }
    if let Some(port) = args.port {
        if config.local_only {
            for listener in &mut config.listeners {
                listener.address.set_port(port);
            }
        } else {
            log::warn!("-p {port} ignored: the configuration file defines listeners");
        }
    }
    if let Some(user) = &config.process.user {
        match mqtt_broker::process::decide_user(user, mqtt_broker::process::effective_uid()) {
            Ok(line) => log::info!("{line}"),
            Err(error) => {
                log::error!("{error}");
                return ExitCode::from(BAD_CONFIGURATION);
            }
        }
    }
    // Written before the listeners are bound, as mosquitto does, and removed when `_pid_file`
    // drops: at every return below, a failed start included.
    let _pid_file = match &config.process.pid_file {
        Some(path) => match mqtt_broker::process::PidFile::write(path) {
            Ok(pid_file) => Some(pid_file),
            Err(error) => {
                log::error!("cannot write pid file {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    // Registered before the broker starts, so that no signal is missed in between.
    let mut signals = match Signals::new([SIGHUP, SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(error) => {
            log::error!("cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    if config.local_only {
        // Said before the listener is bound, not after: a client (or a test) that connects as soon
        // as the port answers may read the log before a line written after start-up.
        log::info!(
            "starting in local-only mode: no listener is configured, so only clients on \
             this machine can connect (127.0.0.1), and anonymous clients are allowed; \
             add a `listener` line to a configuration file (-c) to listen elsewhere"
        );
    }
    match Broker::start(config) {
        Ok(broker) => {
            log::info!("mqtt-broker version {} running", env!("CARGO_PKG_VERSION"));
            for signal in signals.forever() {
                if signal == SIGHUP {
                    if let Some(logger) = logger {
                        logger.reopen();
                    }
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
        Err(error @ StartError::Security(_)) => {
            log::error!("{error}");
            ExitCode::from(BAD_CONFIGURATION)
        }
        Err(error) => {
            log::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// `-v` is mosquitto's: every log type, overriding `log_type`.
fn verbose_settings(mut settings: LogSettings, verbose: bool) -> LogSettings {
    if verbose {
        settings.types = vec![
            LogType::Debug,
            LogType::Error,
            LogType::Warning,
            LogType::Notice,
            LogType::Information,
            LogType::Subscribe,
            LogType::Unsubscribe,
            LogType::Websockets,
        ];
    }
    settings
}

//! What `mqtt-pub` and `mqtt-sub` share: the program's life from the command line to the exit code.
//!
//! | File | Its one job |
//! |---|---|
//! | `options.rs` | the mosquitto-compatible options of each tool (argh) |
//! | `connection.rs` | how those options become the library's `ConnectOptions` (`-L` URLs, TLS, the will) |
//! | `mqtt5.rs` | the 5.0 options: `-V mqttv5`, `-D` properties, `-x` |
//! | `publish.rs` | `mqtt-pub`'s run |
//! | `subscribe.rs` | `mqtt-sub`'s run, and `-F` output through `format.rs` |
//! | `tests.rs` | option parsing and exit codes, without a network |
//!
//! The options are those of `mosquitto_pub` and `mosquitto_sub` that users rely on, with the same
//! letters, meanings and defaults, so that scripts written for mosquitto's tools work unchanged. The
//! exit codes are mosquitto's too: 0 on success, the CONNACK return code when the server refuses the
//! connection (3.1.1 §3.2.2.3; the Reason Code at 5.0, 5.0 §3.2.2.2), 27 when `mqtt-sub -W` times
//! out, and 1 for anything else. The 5.0 options (`-V mqttv5`, `-D`, `-x`) are read in `mqtt5.rs`.
//!
//! Parsing uses argh. mosquitto's `-h` means host, which clashes with the usual help flag; argh 0.1.19
//! only treats `--help` and a bare `help` as requests for help, so `-h` is free and the mosquitto flag
//! set can be expressed as it is. (A bare word `help` on the command line prints the help: mosquitto's
//! tools take no bare words, so nothing is lost.)
//!
//! This module does not implement the protocol; it calls the library like any application would.
//! It lives beside the binaries rather than in the library, which it is not part of: each binary
//! compiles it as its own module (`mod cli;`) and calls [`main`] with the tool it is.

use std::io;
use std::process::ExitCode;

use mqtt_client::Error;

use options::{PubArgs, SubArgs};
use publish::run_pub;
use subscribe::run_sub;

/// The exit code of `mqtt-sub` when `-W` expires, as mosquitto's (`MOSQ_ERR_TIMEOUT`).
pub(crate) const EXIT_TIMEOUT: u8 = 27;

mod connection;
mod format;
pub(crate) mod mqtt5;
mod options;
mod publish;
mod subscribe;
#[cfg(test)]
mod tests;

/// A program's whole life: `--version`, the options, logging, the run, and the exit code
/// (mosquitto's: see the module's documentation). Both binaries are this function, which picks the
/// tool by the binary's name, so each one compiles all of this module without dead code.
pub(crate) fn main() -> ExitCode {
    let name = env!("CARGO_BIN_NAME");
    if print_version(name) {
        return ExitCode::SUCCESS;
    }
    let (quiet, outcome) = match name {
        "mqtt-pub" => {
            let args: PubArgs = argh::from_env();
            init_logging(args.debug);
            (args.quiet, run_pub(&args, &mut io::stdin().lock()))
        }
        _ => {
            let args: SubArgs = argh::from_env();
            init_logging(args.debug);
            (args.quiet, run_sub(&args, &mut io::stdout().lock()))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !quiet {
                eprintln!("Error: {failure}");
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

/// Answers a lone `--version` (which argh does not know) with the tool's name, this crate's name
/// and version; returns whether it did, so that `main` can exit.
pub(crate) fn print_version(tool: &str) -> bool {
    if !std::env::args().skip(1).eq(["--version"]) {
        return false;
    }
    println!(
        "{}",
        tool_support::version_line(
            tool,
            Some(env!("CARGO_PKG_NAME")),
            env!("CARGO_PKG_VERSION")
        )
    );
    true
}

/// The exit code for `error`: the CONNACK code of a refusal (the 5.0 Reason Code at 5.0, for
/// example 135 for not authorized), as mosquitto's tools, or 1.
pub(crate) fn exit_code(error: &Error) -> u8 {
    match error {
        Error::Refused(code) => *code as u8,
        Error::RefusedWithReason { reason, .. } => reason.get(),
        _ => 1,
    }
}

/// Turns on logging to stderr: at debug level with `-d`, else as `RUST_LOG` says (warnings by
/// default).
pub(crate) fn init_logging(debug: bool) {
    tool_support::init_logging(debug, false);
}

/// What went wrong in a tool: a usage error (exit 1, with the message) or a client error.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The options do not make sense together.
    Usage(String),
    /// The client failed.
    Client(Error),
    /// Reading input or writing output failed.
    Io(io::Error),
    /// `mqtt-sub -W` expired.
    Timeout,
}

impl Failure {
    /// The process exit code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Io(_) => 1,
            Self::Client(error) => exit_code(error),
            Self::Timeout => EXIT_TIMEOUT,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage(why) => write!(f, "{why} (see --help)"),
            Self::Client(error) => error.fmt(f),
            Self::Io(error) => error.fmt(f),
            Self::Timeout => f.write_str("timed out waiting for messages"),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Client(error)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

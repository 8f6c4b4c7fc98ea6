//! [`LogSettings`]: where the broker's log goes and what it contains, as mosquitto's `log_dest`,
//! `log_type`, `log_timestamp`, `log_timestamp_format` and `connection_messages` say.
//!
//! `config/directives/logging.rs` reads the directives into these types; the logger that honours them
//! (`logging/logger.rs`) is installed by the binary (`main.rs`). A program that embeds the broker keeps its own `log` implementation and
//! may ignore these settings.

use std::path::PathBuf;

/// The logging settings of a configuration file. The default is mosquitto's: stderr, the
/// `error`, `warning`, `notice` and `information` types, timestamps on, connection messages on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Where log lines go (`log_dest`, repeatable; default stderr only).
    pub destinations: Vec<LogDestination>,
    /// Which kinds of line are written (`log_type`, repeatable; default error, warning, notice,
    /// information). Empty once `log_type none` is given.
    pub types: Vec<LogType>,
    /// Whether each line starts with a timestamp (`log_timestamp`, default true).
    pub timestamp: bool,
    /// A `strftime`-style format for the timestamp (`log_timestamp_format`); `None` is mosquitto's
    /// default, seconds since the Unix epoch.
    pub timestamp_format: Option<String>,
    /// Whether a line is logged when a client connects and disconnects (`connection_messages`,
    /// default true).
    pub connection_messages: bool,
}

/// One `log_dest` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDestination {
    /// `log_dest stderr`.
    Stderr,
    /// `log_dest stdout`.
    Stdout,
    /// `log_dest file <path>`: appended to, reopened on SIGHUP.
    File(PathBuf),
    /// `log_dest syslog`: the local syslog socket.
    Syslog,
    /// `log_dest topic`: published under `$SYS/broker/log/<type>`.
    Topic,
    /// `log_dest none`: nothing at all.
    None,
}

/// One `log_type` value (mosquitto's names; `all` is every one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogType {
    /// `debug`: one line per packet in and out, and more.
    Debug,
    /// `error`.
    Error,
    /// `warning`.
    Warning,
    /// `notice`.
    Notice,
    /// `information`: connections and disconnections among others.
    Information,
    /// `subscribe`: each subscription made.
    Subscribe,
    /// `unsubscribe`: each subscription removed.
    Unsubscribe,
    /// `websockets`: WebSocket handshakes.
    Websockets,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            destinations: vec![LogDestination::Stderr],
            types: vec![
                LogType::Error,
                LogType::Warning,
                LogType::Notice,
                LogType::Information,
            ],
            timestamp: true,
            timestamp_format: None,
            connection_messages: true,
        }
    }
}

pub(crate) mod lines;
mod logger;
pub(crate) mod syslog;
pub(crate) mod timestamp;

pub use logger::Logger;

/// The `log` target of mosquitto's `notice` lines (`info!(target: NOTICE, ...)`).
pub(crate) const NOTICE: &str = "notice";
/// The `log` target of `subscribe` lines.
pub(crate) const SUBSCRIBE: &str = "subscribe";
/// The `log` target of `unsubscribe` lines.
pub(crate) const UNSUBSCRIBE: &str = "unsubscribe";
/// The `log` target of `websockets` lines.
pub(crate) const WEBSOCKETS: &str = "websockets";

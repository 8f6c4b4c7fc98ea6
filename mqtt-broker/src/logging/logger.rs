//! [`Logger`]: the broker binary's `log` backend, honouring [`LogSettings`] as mosquitto does:
//! `log_dest` (stderr, stdout, file, syslog, topic, none), `log_type` filtering and the timestamp.
//!
//! Each record is given a mosquitto log type: records logged with one of the targets below
//! (`info!(target: logging::NOTICE, ...)`) get that type, the rest get theirs from the level
//! (error, warning, information, debug; trace is dropped, as are other crates' debug lines). A type
//! not in `log_type` is dropped before it is formatted.
//!
//! `log_dest topic` publishes each line under `$SYS/broker/log/<E|W|N|I|M|U|WS>`, mosquitto's names,
//! at QoS 0, not retained. Two guards stop a line from causing more lines for ever: debug lines are
//! never published (mosquitto's rule too: every publication would log a debug line), and the
//! thread that publishes never feeds its own lines back. Lines reach that thread through a bounded
//! channel, so a thread that logs while holding a router lock never waits on the router; when the
//! channel is full a line is lost to the topic only.
//!
//! File destinations are opened in append mode and reopened by [`Logger::reopen`] (SIGHUP), so
//! that logrotate can move them away. This file does not decide what is logged where in the broker.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use mqtt_codec::QoS;
use parking_lot::Mutex;

use super::syslog::Syslog;
use super::timestamp;
use super::{LogDestination, LogSettings, LogType};
use crate::message::Message;

/// Lines waiting for the topic publisher; beyond this they are dropped (for the topic only).
const TOPIC_BACKLOG: usize = 1024;

/// Where syslog lines go.
const SYSLOG_SOCKET: &str = "/dev/log";

/// The broker's logger. [`Logger::install`] makes one the process's `log` backend; tests build
/// their own with [`Logger::new`].
pub struct Logger {
    /// The settings and the open destinations. Locked for the length of one line's writes, so
    /// that lines from different threads never interleave; nothing else is locked inside it.
    state: Mutex<State>,
    /// The topic publisher's side of the channel; `None` until a broker is attached. A leaf lock.
    topic: Mutex<Option<Sender<(LogType, String)>>>,
}

struct State {
    settings: LogSettings,
    sinks: Vec<Sink>,
}

enum Sink {
    Stderr,
    Stdout,
    File { path: PathBuf, file: Option<File> },
    Syslog(Syslog),
}

thread_local! {
    /// Set on the topic publisher's thread: what it logs is not published again.
    static PUBLISHING: Cell<bool> = const { Cell::new(false) };
}

static GLOBAL: OnceLock<Logger> = OnceLock::new();

impl Logger {
    /// A logger with `settings`, not installed.
    pub fn new(settings: LogSettings) -> Self {
        let logger = Self {
            state: Mutex::new(State {
                settings: LogSettings::default(),
                sinks: Vec::new(),
            }),
            topic: Mutex::new(None),
        };
        logger.configure(settings);
        logger
    }

    /// Installs a logger with `settings` as the `log` backend of the process, once; later calls
    /// return the installed one (reconfigure it with [`Logger::configure`]). `None` if another
    /// backend (env_logger, say) was installed first.
    pub fn install(settings: LogSettings) -> Option<&'static Logger> {
        let mut created = false;
        let logger = GLOBAL.get_or_init(|| {
            created = true;
            Logger::new(settings)
        });
        if created {
            log::set_logger(logger).ok()?;
            logger.update_max_level();
        }
        Some(logger)
    }

    /// The installed logger, if [`Logger::install`] succeeded.
    pub(crate) fn installed() -> Option<&'static Logger> {
        GLOBAL.get()
    }

    /// Replaces the settings (after the configuration file is read), opening the destinations.
    pub fn configure(&self, settings: LogSettings) {
        let sinks = open_sinks(&settings.destinations);
        *self.state.lock() = State { settings, sinks };
        if GLOBAL
            .get()
            .is_some_and(|global| std::ptr::eq(global, self))
        {
            self.update_max_level();
        }
    }

    /// Closes and reopens the log files and the syslog socket (SIGHUP), so that a rotated file
    /// is replaced by a new one.
    pub fn reopen(&self) {
        let mut state = self.state.lock();
        let sinks = open_sinks(&state.settings.destinations);
        state.sinks = sinks;
    }

    /// Whether lines of `kind` are written: the callers of costly lines (one per packet) ask first.
    pub(crate) fn enabled_type(&self, kind: LogType) -> bool {
        self.state.lock().settings.types.contains(&kind)
    }

    /// Whether connection lines are wanted (`connection_messages`).
    pub(crate) fn connection_messages(&self) -> bool {
        self.state.lock().settings.connection_messages
    }

    /// Starts publishing lines with `publish`, if `log_dest topic` is set; replaces a previous
    /// broker's link (whose thread then ends). `publish` routes one message and answers false once
    /// its broker is gone. It is a function rather than the router so that logging, which every
    /// part of the broker uses, depends on none of them.
    pub(crate) fn attach_topic(
        &self,
        publish: impl Fn(&Message) -> bool + Send + 'static,
    ) -> std::io::Result<()> {
        let wanted = self
            .state
            .lock()
            .settings
            .destinations
            .contains(&LogDestination::Topic);
        if !wanted {
            return Ok(());
        }
        let (sender, receiver) = crossbeam_channel::bounded(TOPIC_BACKLOG);
        std::thread::Builder::new()
            .name("log-topic".into())
            .stack_size(128 * 1024)
            .spawn(move || publish_lines(&receiver, &publish))?;
        *self.topic.lock() = Some(sender);
        Ok(())
    }

    /// Writes one line of `kind` to every destination `kind` is enabled for.
    pub(crate) fn write_line(&self, kind: LogType, message: &str) {
        let epoch = timestamp::now_epoch_seconds();
        {
            let mut state = self.state.lock();
            if !state.settings.types.contains(&kind) {
                return;
            }
            let line = if state.settings.timestamp {
                let stamp = timestamp::format(epoch, state.settings.timestamp_format.as_deref());
                format!("{stamp}: {message}\n")
            } else {
                format!("{message}\n")
            };
            for sink in &mut state.sinks {
                match sink {
                    Sink::Stderr => {
                        let _ = std::io::stderr().write_all(line.as_bytes());
                    }
                    Sink::Stdout => {
                        let _ = std::io::stdout().write_all(line.as_bytes());
                    }
                    Sink::File { file, .. } => {
                        if let Some(file) = file {
                            let _ = file.write_all(line.as_bytes());
                        }
                    }
                    Sink::Syslog(syslog) => syslog.send(kind, epoch, message),
                }
            }
        }
        if kind != LogType::Debug && !PUBLISHING.with(Cell::get) {
            let topic = self.topic.lock();
            if let Some(sender) = topic.as_ref()
                && let Err(TrySendError::Full(_)) = sender.try_send((kind, message.to_owned()))
            {
                // Lost for the topic only; the other destinations have it.
            }
        }
    }

    fn update_max_level(&self) {
        let state = self.state.lock();
        let most = state
            .settings
            .types
            .iter()
            .map(|kind| match kind {
                LogType::Debug => log::LevelFilter::Debug,
                LogType::Error => log::LevelFilter::Error,
                LogType::Warning => log::LevelFilter::Warn,
                _ => log::LevelFilter::Info,
            })
            .max()
            .unwrap_or(log::LevelFilter::Off);
        let nowhere = state
            .settings
            .destinations
            .iter()
            .all(|destination| *destination == LogDestination::None);
        log::set_max_level(if nowhere { log::LevelFilter::Off } else { most });
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        record_type(metadata).is_some_and(|kind| self.enabled_type(kind))
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Some(kind) = record_type(record.metadata()) {
            self.write_line(kind, &record.args().to_string());
        }
    }

    fn flush(&self) {
        let mut state = self.state.lock();
        for sink in &mut state.sinks {
            if let Sink::File {
                file: Some(file), ..
            } = sink
            {
                let _ = file.flush();
            }
        }
    }
}

/// The mosquitto log type of a record, or `None` for one that is never written.
fn record_type(metadata: &log::Metadata<'_>) -> Option<LogType> {
    let by_target = match metadata.target() {
        super::NOTICE => Some(LogType::Notice),
        super::SUBSCRIBE => Some(LogType::Subscribe),
        super::UNSUBSCRIBE => Some(LogType::Unsubscribe),
        super::WEBSOCKETS => Some(LogType::Websockets),
        _ => None,
    };
    if by_target.is_some() {
        return by_target;
    }
    let ours = metadata.target().starts_with("mqtt");
    match metadata.level() {
        log::Level::Error => Some(LogType::Error),
        log::Level::Warn => Some(LogType::Warning),
        log::Level::Info => Some(LogType::Information),
        log::Level::Debug if ours => Some(LogType::Debug),
        log::Level::Debug | log::Level::Trace => None,
    }
}

/// The `$SYS/broker/log/...` topic of a log type, as mosquitto names them.
pub(crate) fn topic_of(kind: LogType) -> &'static str {
    match kind {
        LogType::Error => "$SYS/broker/log/E",
        LogType::Warning => "$SYS/broker/log/W",
        LogType::Notice => "$SYS/broker/log/N",
        LogType::Information => "$SYS/broker/log/I",
        LogType::Subscribe => "$SYS/broker/log/M",
        LogType::Unsubscribe => "$SYS/broker/log/U",
        LogType::Websockets => "$SYS/broker/log/WS",
        LogType::Debug => "$SYS/broker/log/D",
    }
}

fn publish_lines(receiver: &Receiver<(LogType, String)>, publish: &dyn Fn(&Message) -> bool) {
    PUBLISHING.with(|publishing| publishing.set(true));
    for (kind, line) in receiver {
        let message = Message::new(topic_of(kind), line.as_bytes(), QoS::AtMostOnce, false);
        if !publish(&message) {
            return;
        }
    }
}

fn open_sinks(destinations: &[LogDestination]) -> Vec<Sink> {
    destinations
        .iter()
        .filter_map(|destination| match destination {
            LogDestination::Stderr => Some(Sink::Stderr),
            LogDestination::Stdout => Some(Sink::Stdout),
            LogDestination::File(path) => Some(Sink::File {
                path: path.clone(),
                file: open_file(path),
            }),
            LogDestination::Syslog => Some(Sink::Syslog(Syslog::open(Path::new(SYSLOG_SOCKET)))),
            LogDestination::Topic | LogDestination::None => None,
        })
        .collect()
}

fn open_file(path: &Path) -> Option<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|error| eprintln!("log_dest file {}: {error}", path.display()))
        .ok()
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::Stderr => f.write_str("stderr"),
            Sink::Stdout => f.write_str("stdout"),
            Sink::File { path, .. } => write!(f, "file {}", path.display()),
            Sink::Syslog(_) => f.write_str("syslog"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Log;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("mqtt-log-{}-{name}", std::process::id()))
    }

    fn file_settings(path: &Path) -> LogSettings {
        LogSettings {
            destinations: vec![LogDestination::File(path.to_owned())],
            ..LogSettings::default()
        }
    }

    fn record(logger: &Logger, level: log::Level, target: &str, text: &str) {
        logger.log(
            &log::Record::builder()
                .level(level)
                .target(target)
                .args(format_args!("{text}"))
                .build(),
        );
    }

    #[test]
    fn a_file_gets_timestamped_lines_of_the_enabled_types_only() {
        let path = temp_path("types");
        let _ = std::fs::remove_file(&path);
        let logger = Logger::new(file_settings(&path));
        record(&logger, log::Level::Info, "mqtt_broker::start", "listening");
        record(&logger, log::Level::Debug, "mqtt_broker::x", "a packet");
        record(
            &logger,
            log::Level::Info,
            crate::logging::SUBSCRIBE,
            "c1 1 a/b",
        );
        record(
            &logger,
            log::Level::Info,
            crate::logging::NOTICE,
            "a notice",
        );
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let (stamp, message) = lines[0].split_once(": ").expect("timestamp");
        assert!(stamp.parse::<u64>().is_ok(), "{stamp}");
        assert_eq!(message, "listening");
        assert!(lines[1].ends_with(": a notice"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn log_type_all_and_a_format_and_no_timestamp_are_honoured() {
        let path = temp_path("format");
        let _ = std::fs::remove_file(&path);
        let mut settings = file_settings(&path);
        settings.types = vec![LogType::Debug, LogType::Subscribe];
        settings.timestamp_format = Some("%Y-%m-%dT%H:%M:%S".into());
        let logger = Logger::new(settings.clone());
        record(&logger, log::Level::Debug, "mqtt_broker::x", "a packet");
        record(&logger, log::Level::Debug, "rustls::conn", "not ours");
        record(
            &logger,
            log::Level::Info,
            crate::logging::SUBSCRIBE,
            "c1 1 a/b",
        );
        record(&logger, log::Level::Error, "mqtt_broker::x", "not enabled");
        settings.timestamp = false;
        logger.configure(settings);
        record(&logger, log::Level::Debug, "mqtt_broker::x", "bare");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        // 2026-12-07T06:12:00: a packet
        assert_eq!(lines[0].as_bytes()[4], b'-');
        assert_eq!(lines[0].as_bytes()[10], b'T');
        assert!(lines[0].ends_with(": a packet"), "{}", lines[0]);
        assert!(lines[1].ends_with(": c1 1 a/b"));
        assert_eq!(lines[2], "bare");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn reopen_starts_a_new_file_after_rotation() {
        let path = temp_path("rotate");
        let rotated = temp_path("rotate.1");
        let _ = std::fs::remove_file(&path);
        let logger = Logger::new(file_settings(&path));
        record(&logger, log::Level::Info, "mqtt_broker", "before");
        std::fs::rename(&path, &rotated).expect("rotate");
        record(&logger, log::Level::Info, "mqtt_broker", "still old");
        logger.reopen();
        record(&logger, log::Level::Info, "mqtt_broker", "after");
        let old = std::fs::read_to_string(&rotated).expect("old");
        let new = std::fs::read_to_string(&path).expect("new");
        assert!(old.contains("before") && old.contains("still old"), "{old}");
        assert!(new.contains("after") && !new.contains("before"), "{new}");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&rotated);
    }

    #[test]
    fn topic_lines_are_queued_but_never_debug_nor_from_the_publisher() {
        let logger = Logger::new(LogSettings {
            destinations: vec![LogDestination::Topic],
            types: vec![LogType::Information, LogType::Debug, LogType::Warning],
            ..LogSettings::default()
        });
        let (sender, receiver) = crossbeam_channel::bounded(8);
        *logger.topic.lock() = Some(sender);
        record(&logger, log::Level::Info, "mqtt_broker", "one");
        record(&logger, log::Level::Debug, "mqtt_broker", "debug");
        PUBLISHING.with(|publishing| publishing.set(true));
        record(
            &logger,
            log::Level::Warn,
            "mqtt_broker",
            "from the publisher",
        );
        PUBLISHING.with(|publishing| publishing.set(false));
        record(&logger, log::Level::Warn, "mqtt_broker", "two");
        let got: Vec<(LogType, String)> = receiver.try_iter().collect();
        assert_eq!(
            got,
            vec![
                (LogType::Information, "one".to_owned()),
                (LogType::Warning, "two".to_owned())
            ]
        );
        assert_eq!(topic_of(LogType::Information), "$SYS/broker/log/I");
    }

    #[test]
    fn log_dest_none_writes_nothing_and_a_bad_file_is_not_fatal() {
        let logger = Logger::new(LogSettings {
            destinations: vec![
                LogDestination::None,
                LogDestination::File(PathBuf::from("/nonexistent-dir/x.log")),
            ],
            ..LogSettings::default()
        });
        // Neither panics nor blocks.
        record(&logger, log::Level::Error, "mqtt_broker", "lost");
        assert!(logger.state.lock().sinks.len() == 1);
    }

    /// End to end: lines reach a subscriber of `$SYS/broker/log/#` under mosquitto's topic names, in
    /// order, and debug lines never do (each publication would log one more).
    #[test]
    fn topic_lines_are_published_under_sys_broker_log() {
        let broker = crate::Broker::start(crate::Config {
            listeners: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()],
            sys_interval: std::time::Duration::ZERO,
            ..crate::Config::default()
        })
        .expect("the broker starts");
        let port = broker.local_addrs()[0].port();
        let logger = Logger::new(LogSettings {
            destinations: vec![LogDestination::Topic],
            types: vec![LogType::Debug, LogType::Warning, LogType::Information],
            ..LogSettings::default()
        });
        logger
            .attach_topic({
                let router = std::sync::Arc::clone(&broker.context.router);
                move |message| {
                    router.publish(message);
                    true
                }
            })
            .expect("the publisher starts");
        let options = mqtt_client::ConnectOptions::builder("127.0.0.1", port)
            .client_id("log-watch")
            .build()
            .expect("options");
        let watcher = mqtt_client::Client::connect(options).expect("connects");
        watcher
            .subscribe(&[("$SYS/broker/log/#", mqtt_client::QoS::AtMostOnce)])
            .expect("subscribes")
            .wait()
            .expect("granted");
        logger.write_line(LogType::Warning, "disk nearly full");
        logger.write_line(LogType::Debug, "never published");
        logger.write_line(LogType::Information, "after");
        let mut got = Vec::new();
        for _ in 0..2 {
            let message = watcher
                .messages()
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("a log line");
            got.push((
                message.topic.to_string(),
                String::from_utf8_lossy(&message.payload).into_owned(),
            ));
        }
        assert_eq!(
            got,
            vec![
                (
                    "$SYS/broker/log/W".to_owned(),
                    "disk nearly full".to_owned()
                ),
                ("$SYS/broker/log/I".to_owned(), "after".to_owned()),
            ]
        );
        watcher.disconnect();
        broker.shutdown();
    }
}

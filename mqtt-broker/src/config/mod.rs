//! [`Config`]: every setting of the broker, with mosquitto's defaults, and the parser for configuration
//! files in mosquitto's syntax (`mosquitto.conf(5)`).
//!
//! The syntax: one directive per line, `name value`; a line whose first character is `#` is a comment;
//! blank lines are ignored. Only the directives listed in `mqtt-broker.conf` (the annotated example
//! beside this crate's README) are understood. Anything else, and any value that does not parse, stops
//! the broker at start-up with the file and line: a typo must never silently fall back to a default.
//! mosquitto directives for features this broker does not have are refused by name, with the reason
//! (`unsupported.rs`), rather than ignored, so that nobody believes they are protected when they are
//! not.
//!
//! The parser is a loop over lines ([`Parser::line`]) that hands each directive to the function of its
//! group (`directives/`: listeners and TLS, security, persistence, limits, logging, the process), then
//! a final check ([`Parser::finish`]). An error does not stop the loop: every error of a file (and of
//! the files `include_dir` brings in, `include.rs`) is collected, so that one start reports them all.
//!
//! Bridge blocks (`connection <name>` and the directives after it) are read by
//! `bridge/config.rs`; this file only hands it their lines.
//!
//! As in mosquitto, `protocol`, `http_dir` and the TLS directives belong to the `listener` line above
//! them (`listener.rs`). With `per_listener_settings true` (which must come before them),
//! `password_file`, `scram_password_file`, `acl_file` and `allow_anonymous` belong to the
//! `listener` line above them too, or
//! to the default listener when there is no `listener` line at all.
//!
//! This module only reads settings; it does not apply them or open the files they name (except the
//! directory of `include_dir`, whose files are part of the configuration).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

// Defined with the security it sets up (so that `security/` needs nothing from here), and part of
// this module's API.
pub use crate::security::SecuritySettings;
use std::time::Duration;

mod directives;
mod include;
mod listener;
mod unsupported;

pub use listener::ListenerSettings;
pub(crate) use listener::PendingListener;

/// The broker's settings. `Config::default()` is what `mqtt-broker` runs with when given no file:
/// mosquitto 2's local-only mode, port 1883 on 127.0.0.1 with anonymous clients allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Every listener, in the order [`BrokerHandle::local_addrs`] reports them: plain MQTT, TLS or
    /// WebSocket, each with its own settings (`listener`, or `port` and `bind_address` for the
    /// single default listener; 127.0.0.1:1883 when none of them is given). Port 0 asks the system
    /// for a free port. A file's listeners are grouped, plain ones first, then TLS, then WebSocket
    /// (each group in the file's order): the order `local_addrs` has always had.
    ///
    /// [`BrokerHandle::local_addrs`]: crate::BrokerHandle::local_addrs
    pub listeners: Vec<ListenerSettings>,
    /// mosquitto 2's local-only mode: no `listener`, `port` or `bind_address` was configured, so
    /// the default listener is on loopback and `allow_anonymous` defaults to true (without a
    /// password file). `Config::default()` is local-only; [`Config::parse`] clears it as soon as a
    /// listener is configured, and then `allow_anonymous` defaults to false. A program that sets
    /// this but listens on an address other than loopback gets the false default too: anonymous
    /// access by default is only ever given to clients on this machine.
    pub local_only: bool,
    /// Outbound QoS 1 and 2 messages in flight per session (`max_inflight_messages`, default 20; 0
    /// means no limit).
    pub max_inflight_messages: usize,
    /// The bytes (topics and payloads) of those messages in flight per session
    /// (`max_inflight_bytes`, default 0: no limit, as in mosquitto). The window is full at either
    /// limit; one message is always let into an empty window, however large.
    pub max_inflight_bytes: usize,
    /// QoS 1 and 2 messages queued per session beyond the in-flight window (`max_queued_messages`,
    /// default 1000; 0 means no limit). While a connected subscriber's queue is full, the
    /// publishers routing to it wait (back-pressure) rather than drop what they acknowledged; while
    /// an offline persistent session's is full, a QoS 1/2 PUBLISH for it is refused upstream (not
    /// acknowledged, its publisher disconnected).
    pub max_queued_messages: usize,
    /// `queue_full_drop` (default false): mosquitto's behaviour instead of back-pressure and
    /// refusal. A message
    /// for a full queue is dropped, counted in `$SYS/broker/publish/messages/dropped` and logged
    /// (at most once every 10 s), even a QoS 1 or 2 message its publisher was acknowledged for.
    pub queue_full_drop: bool,
    /// The bytes (topics and payloads) queued per session beyond the window (`max_queued_bytes`,
    /// default 0: no limit, as in mosquitto). A queue at either this or `max_queued_messages` is
    /// full.
    pub max_queued_bytes: usize,
    /// How long a write to a client may stall in all (`write_timeout`, seconds, default 30), and so
    /// how long a subscriber may leave its publishers waiting for room without making any progress:
    /// past it, the client is disconnected.
    pub write_timeout: Duration,
    /// The largest payload accepted, in bytes (`message_size_limit`, default 0: the protocol's limit).
    pub message_size_limit: usize,
    /// The largest packet accepted from a client, in bytes (`max_packet_size`, default 0: no limit
    /// beyond the protocol's and `message_size_limit`'s). A larger packet closes its connection
    /// before it is buffered; 5.0 clients are told it as Maximum Packet Size.
    pub max_packet_size: usize,
    /// The longest keep-alive a client may ask for, in seconds (`max_keepalive`, default 65535: no
    /// cap). A 5.0 client asking for more, or for none, is given this one in Server Keep Alive
    /// [MQTT5-3.2.2-21]; a 3.1.1 client asking for more is refused, as mosquitto does.
    pub max_keepalive: u16,
    /// Topic aliases per 5.0 connection (`max_topic_alias`, default 10 as in mosquitto, 0: none):
    /// announced as the broker's Topic Alias Maximum, and the most the broker itself uses toward a
    /// client that accepts more, so that one client cannot make it keep a topic table of any size.
    pub max_topic_alias: u16,
    /// What a 5.0 client that sets Request Response Information is told in CONNACK's Response
    /// Information (`response_information`, EMQX's option; default none: nothing is sent, which
    /// 5.0 allows). Typically the root of the topics responses go to, such as `responses/`.
    pub response_information: Option<String>,
    /// The most bytes of messages (retained, queued, in flight) the broker holds before it refuses
    /// PUBLISH (`memory_limit`, default 0: no limit). mosquitto bounds its whole heap
    /// with it; see `memory_limit.rs` for what this broker measures and why.
    pub memory_limit: u64,
    /// Whether retained messages are kept at all (`retain_available`, default true). When false,
    /// 5.0 clients are told so in CONNACK, a retained PUBLISH is refused [MQTT5-3.2.2-14] and so
    /// is a CONNECT with a retained will [MQTT5-3.2.2-13].
    pub retain_available: bool,
    /// Whether clients may subscribe with `+` and `#` (`wildcard_subscriptions`, default true; this
    /// broker's own directive). When false, 5.0 clients are told Wildcard Subscription Available 0
    /// and one that subscribes with a wildcard all the same is disconnected with 0xA2 (5.0
    /// §3.2.2.3.11); a 3.1.1 client is refused the filter with 0x80.
    pub wildcard_subscriptions: bool,
    /// Whether 5.0 clients may give SUBSCRIBE a Subscription Identifier (`subscription_identifiers`,
    /// default true; this broker's own). When false, CONNACK says Subscription Identifiers
    /// Available 0, and a SUBSCRIBE with one is DISCONNECT 0xA1 (5.0 §3.2.2.3.12).
    pub subscription_identifiers: bool,
    /// Whether clients may subscribe to `$share/<group>/<filter>` (`shared_subscriptions`,
    /// default true; this broker's own). When false, CONNACK says Shared Subscription Available 0,
    /// a 5.0 SUBSCRIBE with a share name is DISCONNECT 0x9E (5.0 §3.2.2.3.13), and a 3.1.1 client
    /// is refused the filter with 0x80.
    pub shared_subscriptions: bool,
    /// Whether messages are delivered at the subscription's QoS even when they were published at a
    /// lower one (`upgrade_outgoing_qos`, default false). Non-standard: the protocol delivers at
    /// the lower of the two [MQTT-3.8.4-6]; mosquitto offers it for subscribers that need QoS 1.
    pub upgrade_outgoing_qos: bool,
    /// Whether a retained message goes to a new subscriber only while its publisher may still
    /// publish to its topic (`check_retain_source`, default true as in mosquitto): an ACL changed
    /// on SIGHUP, or a user removed, takes back what that publisher retained.
    pub check_retain_source: bool,
    /// How often `$SYS` topics are refreshed (`sys_interval`, default 10 s; zero disables them).
    pub sys_interval: Duration,
    /// The most clients connected at once (`max_connections`, default `None`, written -1: as many as
    /// the operating system's limits safely allow; see the README, "Limits").
    pub max_connections: Option<usize>,
    /// How long a new connection may take to send CONNECT (`connect_timeout`, default 10 s).
    pub connect_timeout: Duration,
    /// Whether a 3.1.1 client with an empty client identifier and a clean session is given one
    /// (`allow_zero_length_clientid`, default true) [MQTT-3.1.3-6].
    pub allow_zero_length_clientid: bool,
    /// The prefix of assigned client identifiers (`auto_id_prefix`, default `auto-`).
    pub auto_id_prefix: String,
    /// Client identifier prefixes allowed to connect (`clientid_prefixes`, default none: any
    /// identifier). A client whose identifier starts with none of them is refused with CONNACK
    /// "identifier rejected" [MQTT-3.1.3-9].
    pub clientid_prefixes: Vec<String>,
    /// The mosquitto password file checked at CONNECT (`password_file`, default none).
    pub password_file: Option<PathBuf>,
    /// The SCRAM-SHA-256 credentials of 5.0 clients using enhanced authentication
    /// (`scram_password_file`, default none: SCRAM refused with CONNACK 0x8C unless a store is
    /// registered). Written by `mqtt-passwd --scram`.
    pub scram_password_file: Option<PathBuf>,
    /// The mosquitto ACL file (`acl_file`, default none: every client may use every topic).
    pub acl_file: Option<PathBuf>,
    /// Whether clients that are not authenticated may connect (`allow_anonymous`). `None`, the
    /// default, means true in [local-only mode](Self::local_only) without a password file, and
    /// false otherwise (see `security/auth.rs`).
    pub allow_anonymous: Option<bool>,
    /// Whether `password_file`, `acl_file` and `allow_anonymous` are set per listener
    /// (`per_listener_settings`, default false). When true, the three fields above are not used and
    /// each listener's [`ListenerSettings::security`] is.
    pub per_listener_settings: bool,
    /// How long a 3.1.1 persistent session may stay without a connection before it is over
    /// (`persistent_client_expiration`, `<n>h`, `d`, `w`, `m` (30 days) or `y`; default `None`: for
    /// ever). The session is ended when that time has passed (its subscriptions and queue freed),
    /// and its next CONNECT starts afresh, as a 5.0 session past its Session Expiry Interval
    /// [MQTT5-4.1.0-2].
    pub persistent_client_expiration: Option<Duration>,
    /// Whether sessions and retained messages survive a restart (`persistence`, default false).
    pub persistence: bool,
    /// The directory of the persistence files (`persistence_location`, default the current one).
    pub persistence_location: PathBuf,
    /// The most subscriptions one session may hold (`max_subscriptions_per_client`, default 0 = no
    /// limit; not a mosquitto directive). Further filters are refused with 0x80 (3.1.1).
    pub max_subscriptions_per_client: usize,
    /// The most levels a topic name or filter may have (`max_topic_levels`, default 0 = no limit;
    /// not a mosquitto directive). A PUBLISH to a deeper topic closes its connection unacknowledged,
    /// a deeper filter is refused with 0x80.
    pub max_topic_levels: usize,
    /// Bridges to other brokers (`connection` blocks; see `bridge/config.rs`), default none.
    pub bridges: Vec<crate::BridgeConfig>,
    /// Where the log goes and what it holds (`log_dest`, `log_type`, ...; see `logging.rs`).
    pub logging: crate::LogSettings,
    /// The address of the Prometheus metrics HTTP listener (`metrics_listener`, default none).
    pub metrics_listener: Option<SocketAddr>,
    /// The settings of the broker process rather than of the broker (`pid_file`, `user`); read by
    /// the binary, not by [`Broker::start`](crate::Broker::start).
    pub process: ProcessSettings,
}

/// `pid_file` and `user`: what the `mqtt-broker` program does around the broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSettings {
    /// Where to write the process id at start; removed at a clean exit (`pid_file`, default none).
    pub pid_file: Option<PathBuf>,
    /// The user to run as (`user`, default none). See the README: when started as root with another
    /// user named, the broker refuses to start rather than keep root's rights, since dropping them
    /// needs `setuid`, which this workspace's `forbid(unsafe_code)` rules out.
    pub user: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listeners: vec![ListenerSettings::plain(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                1883,
            ))],
            local_only: true,
            max_inflight_messages: 20,
            max_inflight_bytes: 0,
            max_queued_messages: 1000,
            queue_full_drop: false,
            max_queued_bytes: 0,
            write_timeout: Duration::from_secs(30),
            message_size_limit: 0,
            max_packet_size: 0,
            max_keepalive: u16::MAX,
            max_topic_alias: 10,
            response_information: None,
            memory_limit: 0,
            retain_available: true,
            wildcard_subscriptions: true,
            subscription_identifiers: true,
            shared_subscriptions: true,
            upgrade_outgoing_qos: false,
            check_retain_source: true,
            sys_interval: Duration::from_secs(10),
            max_connections: None,
            connect_timeout: Duration::from_secs(10),
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".into(),
            clientid_prefixes: Vec::new(),
            password_file: None,
            scram_password_file: None,
            acl_file: None,
            allow_anonymous: None,
            per_listener_settings: false,
            persistent_client_expiration: None,
            persistence: false,
            persistence_location: PathBuf::from("."),
            max_subscriptions_per_client: 0,
            max_topic_levels: 0,
            bridges: Vec::new(),
            logging: crate::LogSettings::default(),
            metrics_listener: None,
            process: ProcessSettings::default(),
        }
    }
}

/// A configuration file that could not be read or understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as given.
    pub file: String,
    /// The 1-based line, or 0 when the file could not be read at all or the error is about the
    /// whole configuration.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The largest payload MQTT can carry at all (3.1.1 §2.2.3).
const PROTOCOL_MAX: usize = 268_435_455;

impl Config {
    /// Reads and parses the configuration file at `path`; the first error if there are any (see
    /// [`Config::load`] for all of them).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Self::load(path).map_err(first)
    }

    /// Reads and parses the configuration file at `path` and the files it includes, or every error
    /// found in them, in the order of their lines.
    pub fn load(path: &Path) -> Result<Self, Vec<ConfigError>> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse_all(&text, &file),
            Err(error) => Err(vec![ConfigError {
                file,
                line: 0,
                message: format!("cannot read: {error}"),
            }]),
        }
    }

    /// Parses configuration `text`; `file` names it in errors. The first error if there are any.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        Self::parse_all(text, file).map_err(first)
    }

    /// Parses configuration `text`, or returns every error in it; `file` names it in errors.
    pub fn parse_all(text: &str, file: &str) -> Result<Self, Vec<ConfigError>> {
        let mut parser = Parser::default();
        parser.text(text, file, true);
        parser.finish()
    }

    /// Each listener's `use_identity_as_username` or `use_subject_as_username` (either makes the
    /// certificate the identity), in [`local_addrs`](crate::BrokerHandle::local_addrs) order.
    pub(crate) fn identity_listeners(&self) -> Vec<bool> {
        self.listeners
            .iter()
            .map(|listener| {
                listener
                    .tls
                    .as_ref()
                    .is_some_and(|tls| tls.use_identity_as_username || tls.use_subject_as_username)
            })
            .collect()
    }

    /// The global `password_file`, `acl_file` and `allow_anonymous`.
    pub fn security_settings(&self) -> SecuritySettings {
        SecuritySettings {
            password_file: self.password_file.clone(),
            scram_password_file: self.scram_password_file.clone(),
            acl_file: self.acl_file.clone(),
            allow_anonymous: self.allow_anonymous,
        }
    }
}

fn first(mut errors: Vec<ConfigError>) -> ConfigError {
    if errors.is_empty() {
        // Not reached: an error list is never empty. Said plainly rather than panicking.
        return ConfigError {
            file: String::new(),
            line: 0,
            message: "invalid configuration".into(),
        };
    }
    errors.swap_remove(0)
}

/// Where a line is: its file and 1-based number.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Place {
    pub(crate) file: String,
    pub(crate) line: usize,
}

/// The state of one parse: the settings so far, what only the final check can decide, and the
/// errors found.
#[derive(Default)]
pub(crate) struct Parser {
    /// The settings read so far (its `listeners` are filled by [`Parser::finish`]).
    pub(crate) config: Config,
    /// The `listener` lines and what followed each.
    pub(crate) listeners: Vec<PendingListener>,
    /// `port` and `bind_address`: the default listener, on every interface unless `bind_address`
    /// says otherwise; with neither (nor a `listener`), local-only mode.
    pub(crate) default_port: Option<u16>,
    pub(crate) default_address: Option<IpAddr>,
    /// With `per_listener_settings`: the settings given before any `listener` line (for the
    /// default listener), and where the first of them is.
    pub(crate) default_security: SecuritySettings,
    pub(crate) default_security_place: Option<Place>,
    /// The line of the first security directive, which `per_listener_settings` must precede.
    pub(crate) first_security_line: Option<Place>,
    /// Whether a `log_dest` / `log_type` was seen: the first one replaces the defaults, the next
    /// ones add to it, as in mosquitto.
    pub(crate) log_dest_seen: bool,
    pub(crate) log_type_seen: bool,
    bridges: crate::bridge::config::BridgeParser,
    /// The bridge parser knows lines by one number; this maps them back to their file and line.
    bridge_places: Vec<Place>,
    /// The line being read.
    pub(crate) place: Place,
    errors: Vec<ConfigError>,
}

impl Parser {
    /// Reads every line of `text`, from `file`; `main` is false for a file `include_dir` brought in.
    pub(crate) fn text(&mut self, text: &str, file: &str, main: bool) {
        for (index, line) in text.lines().enumerate() {
            self.place = Place {
                file: file.into(),
                line: index + 1,
            };
            self.line(line, main);
        }
    }

    /// One line: a comment, a blank, or a directive for its group.
    fn line(&mut self, line: &str, main: bool) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return;
        }
        let (name, value) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(name, value)| (name, value.trim()));
        if value.is_empty() {
            self.error(format!("`{name}` needs a value"));
            return;
        }
        if name == "include_dir" {
            if main {
                include::include_dir(self, value);
            } else {
                // mosquitto reads include_dir only in the main file, so an included file cannot
                // bring in further ones (nor itself).
                self.error("`include_dir` is only read in the main configuration file".into());
            }
            return;
        }
        let handled = directives::listeners::directive(self, name, value)
            .or_else(|| directives::security::directive(self, name, value))
            .or_else(|| directives::persistence::directive(self, name, value))
            .or_else(|| directives::limits::directive(self, name, value))
            .or_else(|| directives::logging::directive(self, name, value))
            .or_else(|| directives::process::directive(self, name, value));
        let result = match handled {
            Some(result) => result,
            None if crate::bridge::config::BridgeParser::handles(name) => {
                self.bridge_places.push(self.place.clone());
                let number = self.bridge_places.len();
                self.bridges.directive(name, value, number)
            }
            None => match unsupported::reason(name) {
                Some(why) => Err(format!("`{name}` is not supported: {why}")),
                None => Err(format!("unknown directive `{name}`")),
            },
        };
        if let Err(message) = result {
            self.error(message);
        }
    }

    /// Records an error at the current line.
    pub(crate) fn error(&mut self, message: String) {
        let place = self.place.clone();
        self.error_at(place, message);
    }

    fn error_at(&mut self, place: Place, message: String) {
        self.errors.push(ConfigError {
            file: place.file,
            line: place.line,
            message,
        });
    }

    /// The final check, once every line is read: the listeners, the bridges, and whether anybody
    /// could connect at all.
    fn finish(mut self) -> Result<Config, Vec<ConfigError>> {
        let bridges = std::mem::take(&mut self.bridges);
        match bridges.finish() {
            Ok(bridges) => self.config.bridges = bridges,
            Err((number, message)) => {
                let place = number
                    .checked_sub(1)
                    .and_then(|index| self.bridge_places.get(index).cloned())
                    .unwrap_or_default();
                self.error_at(place, message);
            }
        }
        self.config.local_only = self.listeners.is_empty()
            && self.default_port.is_none()
            && self.default_address.is_none();
        if self.listeners.is_empty() {
            if !self.config.local_only {
                let address = SocketAddr::new(
                    self.default_address
                        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    self.default_port.unwrap_or(1883),
                );
                self.config.listeners = vec![ListenerSettings::plain(address)];
            }
            if let Some(listener) = self.config.listeners.first_mut() {
                listener.security = std::mem::take(&mut self.default_security);
            }
        } else {
            if let Some(place) = self.default_security_place.take() {
                self.error_at(
                    place,
                    "with `per_listener_settings true` this belongs to a listener: put it after a \
                     `listener` line"
                        .into(),
                );
            }
            // The order `local_addrs` has always had: plain listeners first, then TLS ones, then
            // WebSocket ones (ws and wss in the order given). The sort is stable.
            let mut listeners = Vec::new();
            for pending in std::mem::take(&mut self.listeners) {
                match pending.finish() {
                    Ok(listener) => listeners.push(listener),
                    Err((place, message)) => self.error_at(place, message),
                }
            }
            listeners.sort_by_key(|listener| (listener.websocket, listener.tls.is_some()));
            self.config.listeners = listeners;
        }
        let config = &self.config;
        let identity = config.identity_listeners();
        let locked_out = if config.per_listener_settings {
            // A listener nobody can pass, other than a `use_identity_as_username` one.
            config
                .listeners
                .iter()
                .zip(&identity)
                .any(|(listener, identity)| listener.security.locks_everyone_out() && !identity)
        } else {
            config.security_settings().locks_everyone_out() && !identity.contains(&true)
        };
        if locked_out {
            let file = self.place.file.clone();
            self.error_at(
                Place { file, line: 0 },
                "`allow_anonymous false` with neither a `password_file`, a \
                 `scram_password_file` nor a `use_identity_as_username` listener: no client \
                 could ever connect"
                    .into(),
            );
        }
        if self.errors.is_empty() {
            Ok(self.config)
        } else {
            Err(self.errors)
        }
    }
}

/// `host` resolved, with `port`.
pub(crate) fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| format!("cannot resolve address `{host}`"))
}

/// A whole number in `range`, or an error naming the directive.
pub(crate) fn number(
    name: &str,
    value: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, String> {
    value
        .parse::<usize>()
        .ok()
        .filter(|number| range.contains(number))
        .ok_or_else(|| {
            format!(
                "`{name}` needs a whole number from {} to {}, not `{value}`",
                range.start(),
                range.end()
            )
        })
}

/// A number of seconds in `range`.
pub(crate) fn seconds(
    name: &str,
    value: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<Duration, String> {
    number(name, value, range).map(|seconds| Duration::from_secs(seconds as u64))
}

pub(crate) use crate::bridge::config::boolean;

#[cfg(test)]
mod tests;

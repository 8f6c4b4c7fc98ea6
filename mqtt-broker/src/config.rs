//! [`Config`]: every setting of the broker, with mosquitto's defaults, and the parser for configuration
//! files in mosquitto's syntax (`mosquitto.conf(5)`).
//!
//! The syntax: one directive per line, `name value`; a line whose first character is `#` is a comment;
//! blank lines are ignored. Only the directives listed in `mqtt-broker.conf` (the annotated example
//! beside this crate's README) are understood. Anything else, and any value that does not parse, stops
//! the broker at start-up with the file and line: a typo must never silently fall back to a default.
//! Directives for features this broker does not have (plugins...) are refused the
//! same way rather than ignored, so that nobody believes they are protected when they are not.
//! (Plugins exist, but as Rust code registered by a program that embeds the broker, `hooks.rs`,
//! not as shared objects named in a file.)
//!
//! Bridge blocks (`connection <name>` and the directives after it) are read by
//! `bridge/config.rs`; this file only hands it their lines.
//!
//! As in mosquitto, `protocol` (`mqtt` or `websockets`) and the TLS directives (`certfile`,
//! `keyfile`, `cafile`, `require_certificate`, `use_identity_as_username`) belong to the `listener`
//! line above them. A listener with some TLS directives but no `certfile` and `keyfile` is an error,
//! never a plain listener; `protocol websockets` with `certfile` and `keyfile` is a wss listener.
//!
//! With `per_listener_settings true` (which must come before them), `password_file`, `acl_file` and
//! `allow_anonymous` belong to the `listener` line above them too, or to the default listener when
//! there is no `listener` line at all; one before the first of several `listener` lines is an error,
//! since it would apply to no listener.
//!
//! This file only reads settings; it does not apply them or open the files they name.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bridge::config::boolean;
use crate::transport::tls::TlsSettings;

/// The broker's settings. `Config::default()` is what `mqtt-broker` runs with when given no file:
/// mosquitto 2's local-only mode, port 1883 on 127.0.0.1 with anonymous clients allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Addresses to listen on (`listener`, or `port` and `bind_address` for the single default
    /// listener; 127.0.0.1:1883 when none of them is given). Port 0 asks the system for a free
    /// port; [`BrokerHandle::local_addrs`] tells which.
    ///
    /// [`BrokerHandle::local_addrs`]: crate::BrokerHandle::local_addrs
    pub listeners: Vec<SocketAddr>,
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
    /// TLS listeners (`listener` followed by `certfile` and `keyfile`), after the plain ones in
    /// [`BrokerHandle::local_addrs`](crate::BrokerHandle::local_addrs).
    pub tls_listeners: Vec<TlsListener>,
    /// MQTT over WebSocket listeners (`listener` followed by `protocol websockets`), ws or wss, after
    /// the TLS ones in [`BrokerHandle::local_addrs`](crate::BrokerHandle::local_addrs).
    pub websocket_listeners: Vec<WebSocketListener>,
    /// The mosquitto password file checked at CONNECT (`password_file`, default none).
    pub password_file: Option<PathBuf>,
    /// The mosquitto ACL file (`acl_file`, default none: every client may use every topic).
    pub acl_file: Option<PathBuf>,
    /// Whether clients that are not authenticated may connect (`allow_anonymous`). `None`, the
    /// default, means true in [local-only mode](Self::local_only) without a password file, and
    /// false otherwise (see `security/auth.rs`).
    pub allow_anonymous: Option<bool>,
    /// Whether `password_file`, `acl_file` and `allow_anonymous` are set per listener
    /// (`per_listener_settings`, default false). When true, the three fields above are not used and
    /// [`listener_security`](Self::listener_security) is.
    pub per_listener_settings: bool,
    /// With `per_listener_settings`: each listener's settings, in the order of
    /// [`BrokerHandle::local_addrs`](crate::BrokerHandle::local_addrs) (the plain listeners, then
    /// the TLS ones). A listener without an entry has none: no password file, no ACL file, and
    /// anonymous clients allowed.
    pub listener_security: Vec<SecuritySettings>,
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
}

/// Who may connect and what they may do: the global settings, or one listener's with
/// `per_listener_settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecuritySettings {
    /// The mosquitto password file checked at CONNECT (`password_file`).
    pub password_file: Option<PathBuf>,
    /// The mosquitto ACL file (`acl_file`; none: every client may use every topic).
    pub acl_file: Option<PathBuf>,
    /// `allow_anonymous`; `None` means true in [local-only mode](Config::local_only) without a
    /// password file, and false otherwise.
    pub allow_anonymous: Option<bool>,
}

impl SecuritySettings {
    /// Whether nobody could ever connect: anonymous clients refused and no password file. (A
    /// `use_identity_as_username` listener or a registered authenticator may still let clients in.)
    fn locks_everyone_out(&self) -> bool {
        self.allow_anonymous == Some(false) && self.password_file.is_none()
    }
}

/// A TLS listener: an address and its certificate settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListener {
    /// Where to listen; port 0 asks the system for a free port.
    pub address: SocketAddr,
    /// Certificate, key and client-certificate settings.
    pub tls: TlsSettings,
}

/// A listener for MQTT over WebSocket (`protocol websockets`): plain (ws) or TLS (wss).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketListener {
    /// Where to listen; port 0 asks the system for a free port.
    pub address: SocketAddr,
    /// Certificate settings for wss; `None` for plain ws.
    pub tls: Option<TlsSettings>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listeners: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883)],
            local_only: true,
            max_inflight_messages: 20,
            max_queued_messages: 1000,
            queue_full_drop: false,
            max_queued_bytes: 0,
            write_timeout: Duration::from_secs(30),
            message_size_limit: 0,
            sys_interval: Duration::from_secs(10),
            max_connections: None,
            connect_timeout: Duration::from_secs(10),
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".into(),
            tls_listeners: Vec::new(),
            websocket_listeners: Vec::new(),
            password_file: None,
            acl_file: None,
            allow_anonymous: None,
            per_listener_settings: false,
            listener_security: Vec::new(),
            persistence: false,
            persistence_location: PathBuf::from("."),
            max_subscriptions_per_client: 0,
            max_topic_levels: 0,
            bridges: Vec::new(),
            logging: crate::LogSettings::default(),
            metrics_listener: None,
        }
    }
}

/// A `listener` line and the TLS directives that followed it.
struct PendingListener {
    line: usize,
    address: SocketAddr,
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
    cafile: Option<PathBuf>,
    require_certificate: bool,
    use_identity_as_username: bool,
    /// Whether any TLS directive was given.
    any_tls: bool,
    /// Its security settings, with `per_listener_settings`.
    security: SecuritySettings,
    /// `protocol websockets`.
    websockets: bool,
}

/// A configuration file that could not be read or understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as given.
    pub file: String,
    /// The 1-based line, or 0 when the file could not be read at all.
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
    /// Reads and parses the configuration file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            file: file.clone(),
            line: 0,
            message: format!("cannot read: {error}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses configuration `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let mut listeners: Vec<PendingListener> = Vec::new();
        // `port` or `bind_address` configure the default listener, on every interface unless
        // `bind_address` says otherwise; with neither (nor a `listener`), local-only mode.
        let mut default_port = None;
        let mut default_address = None;
        // With `per_listener_settings`: the settings given before any `listener` line (for the
        // default listener), and the line of the first of them.
        let mut default_security = SecuritySettings::default();
        let mut default_security_line = None;
        // The line of the first security directive, which `per_listener_settings` must precede.
        let mut first_security_line = None;
        let mut bridges = crate::bridge::config::BridgeParser::default();
        for (index, line) in text.lines().enumerate() {
            let error = |message: String| ConfigError {
                file: file.into(),
                line: index + 1,
                message,
            };
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line
                .split_once(char::is_whitespace)
                .map_or((line, ""), |(name, value)| (name, value.trim()));
            if value.is_empty() {
                return Err(error(format!("`{name}` needs a value")));
            }
            match name {
                "listener" => listeners.push(PendingListener {
                    line: index + 1,
                    address: parse_listener(value).map_err(error)?,
                    certfile: None,
                    keyfile: None,
                    cafile: None,
                    require_certificate: false,
                    use_identity_as_username: false,
                    any_tls: false,
                    security: SecuritySettings::default(),
                    websockets: false,
                }),
                "protocol" => {
                    let Some(listener) = listeners.last_mut() else {
                        return Err(error(
                            "`protocol` belongs to a listener: put it after a `listener` line"
                                .into(),
                        ));
                    };
                    listener.websockets = match value {
                        "mqtt" => false,
                        "websockets" => true,
                        _ => {
                            return Err(error(format!(
                                "`protocol` is `mqtt` or `websockets`, not `{value}`"
                            )));
                        }
                    };
                }
                "certfile"
                | "keyfile"
                | "cafile"
                | "require_certificate"
                | "use_identity_as_username" => {
                    let Some(listener) = listeners.last_mut() else {
                        return Err(error(format!(
                            "`{name}` belongs to a listener: put it after a `listener` line"
                        )));
                    };
                    listener.any_tls = true;
                    match name {
                        "certfile" => listener.certfile = Some(value.into()),
                        "keyfile" => listener.keyfile = Some(value.into()),
                        "cafile" => listener.cafile = Some(value.into()),
                        "require_certificate" => {
                            listener.require_certificate = boolean(name, value).map_err(error)?;
                        }
                        _ => {
                            listener.use_identity_as_username =
                                boolean(name, value).map_err(error)?;
                        }
                    }
                }
                "per_listener_settings" => {
                    if let Some(line) = first_security_line {
                        return Err(error(format!(
                            "`per_listener_settings` must come before `password_file`, \
                             `acl_file` and `allow_anonymous` (line {line})"
                        )));
                    }
                    config.per_listener_settings = boolean(name, value).map_err(error)?;
                }
                "password_file" | "acl_file" | "allow_anonymous" => {
                    first_security_line.get_or_insert(index + 1);
                    if !config.per_listener_settings {
                        let mut global = config.security_settings();
                        global.set(name, value).map_err(error)?;
                        config.password_file = global.password_file;
                        config.acl_file = global.acl_file;
                        config.allow_anonymous = global.allow_anonymous;
                    } else if let Some(listener) = listeners.last_mut() {
                        listener.security.set(name, value).map_err(error)?;
                    } else {
                        default_security_line.get_or_insert(index + 1);
                        default_security.set(name, value).map_err(error)?;
                    }
                }
                "persistence" => config.persistence = boolean(name, value).map_err(error)?,
                "persistence_location" => config.persistence_location = value.into(),
                "max_subscriptions_per_client" => {
                    config.max_subscriptions_per_client =
                        number(name, value, 0..=usize::MAX).map_err(error)?;
                }
                "max_topic_levels" => {
                    config.max_topic_levels = number(name, value, 0..=65_535).map_err(error)?;
                }
                "port" => {
                    default_port = Some(number(name, value, 0..=65_535).map_err(error)? as u16);
                }
                "bind_address" => {
                    default_address = Some(resolve(value, 0).map_err(error)?.ip());
                }
                "max_inflight_messages" => {
                    config.max_inflight_messages =
                        number(name, value, 0..=65_535).map_err(error)?;
                }
                "max_queued_messages" => {
                    config.max_queued_messages =
                        number(name, value, 0..=usize::MAX).map_err(error)?;
                }
                "max_queued_bytes" => {
                    config.max_queued_bytes = number(name, value, 0..=usize::MAX).map_err(error)?;
                }
                "queue_full_drop" => {
                    config.queue_full_drop = boolean(name, value).map_err(error)?;
                }
                "write_timeout" => {
                    config.write_timeout =
                        Duration::from_secs(number(name, value, 1..=3_600).map_err(error)? as u64);
                }
                "message_size_limit" => {
                    config.message_size_limit =
                        number(name, value, 0..=PROTOCOL_MAX).map_err(error)?;
                }
                "sys_interval" => {
                    config.sys_interval =
                        Duration::from_secs(number(name, value, 0..=86_400).map_err(error)? as u64);
                }
                "connect_timeout" => {
                    config.connect_timeout =
                        Duration::from_secs(number(name, value, 1..=3_600).map_err(error)? as u64);
                }
                "max_connections" => {
                    config.max_connections = if value == "-1" {
                        None
                    } else {
                        Some(number(name, value, 1..=usize::MAX).map_err(error)?)
                    };
                }
                "allow_zero_length_clientid" => {
                    config.allow_zero_length_clientid = boolean(name, value).map_err(error)?;
                }
                "auto_id_prefix" => config.auto_id_prefix = value.into(),
                // Accepted only at the value this broker always has.
                "set_tcp_nodelay" | "log_dest" => {
                    let fixed = match name {
                        "set_tcp_nodelay" => "true",
                        _ => "stderr",
                    };
                    if value != fixed {
                        return Err(error(format!(
                            "`{name}` can only be `{fixed}` in this broker (see the README)"
                        )));
                    }
                }
                _ if crate::bridge::config::BridgeParser::handles(name) => {
                    bridges.directive(name, value, index + 1).map_err(error)?;
                }
                _ => return Err(error(format!("unknown directive `{name}`"))),
            }
        }
        config.bridges = bridges.finish().map_err(|(line, message)| ConfigError {
            file: file.into(),
            line,
            message,
        })?;
        config.local_only =
            listeners.is_empty() && default_port.is_none() && default_address.is_none();
        if listeners.is_empty() {
            if !config.local_only {
                config.listeners = vec![SocketAddr::new(
                    default_address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    default_port.unwrap_or(1883),
                )];
            }
            if config.per_listener_settings {
                config.listener_security = vec![default_security];
            }
        } else {
            config.listeners.clear();
            if let Some(line) = default_security_line {
                return Err(ConfigError {
                    file: file.into(),
                    line,
                    message:
                        "with `per_listener_settings true` this belongs to a listener: put it \
                              after a `listener` line"
                            .into(),
                });
            }
        }
        // Plain listeners come first in `local_addrs`, then TLS ones, then WebSocket ones (ws and
        // wss in the order given), so their settings do too.
        let mut tls_security = Vec::new();
        let mut ws_security = Vec::new();
        for listener in listeners {
            if !listener.any_tls {
                if listener.websockets {
                    ws_security.push(listener.security);
                    config.websocket_listeners.push(WebSocketListener {
                        address: listener.address,
                        tls: None,
                    });
                } else {
                    config.listeners.push(listener.address);
                    if config.per_listener_settings {
                        config.listener_security.push(listener.security);
                    }
                }
                continue;
            }
            if listener.websockets {
                ws_security.push(listener.security);
            } else {
                tls_security.push(listener.security);
            }
            let (Some(certfile), Some(keyfile)) = (listener.certfile, listener.keyfile) else {
                return Err(ConfigError {
                    file: file.into(),
                    line: listener.line,
                    message: "this listener has TLS directives but not both `certfile` and \
                              `keyfile`; it would not be encrypted"
                        .into(),
                });
            };
            let tls = TlsSettings {
                certfile,
                keyfile,
                cafile: listener.cafile,
                require_certificate: listener.require_certificate,
                use_identity_as_username: listener.use_identity_as_username,
            };
            if listener.websockets {
                config.websocket_listeners.push(WebSocketListener {
                    address: listener.address,
                    tls: Some(tls),
                });
            } else {
                config.tls_listeners.push(TlsListener {
                    address: listener.address,
                    tls,
                });
            }
        }
        if config.per_listener_settings {
            config.listener_security.extend(tls_security);
            config.listener_security.extend(ws_security);
        }
        let identity = config.identity_listeners();
        let locked_out = if config.per_listener_settings {
            // A listener nobody can pass, other than a `use_identity_as_username` one.
            config
                .listener_security
                .iter()
                .zip(&identity)
                .any(|(security, identity)| security.locks_everyone_out() && !identity)
        } else {
            config.security_settings().locks_everyone_out() && !identity.contains(&true)
        };
        if locked_out {
            return Err(ConfigError {
                file: file.into(),
                line: 0,
                message: "`allow_anonymous false` with neither a `password_file` nor a \
                          `use_identity_as_username` listener: no client could ever connect"
                    .into(),
            });
        }
        Ok(config)
    }

    /// Each listener's `use_identity_as_username`, in [`local_addrs`](crate::BrokerHandle::local_addrs)
    /// order: plain listeners, TLS ones, then WebSocket ones.
    pub(crate) fn identity_listeners(&self) -> Vec<bool> {
        let plain = self.listeners.iter().map(|_| false);
        let tls = self
            .tls_listeners
            .iter()
            .map(|listener| listener.tls.use_identity_as_username);
        let websocket = self.websocket_listeners.iter().map(|listener| {
            listener
                .tls
                .as_ref()
                .is_some_and(|tls| tls.use_identity_as_username)
        });
        plain.chain(tls).chain(websocket).collect()
    }

    /// The global `password_file`, `acl_file` and `allow_anonymous`.
    pub fn security_settings(&self) -> SecuritySettings {
        SecuritySettings {
            password_file: self.password_file.clone(),
            acl_file: self.acl_file.clone(),
            allow_anonymous: self.allow_anonymous,
        }
    }
}

impl SecuritySettings {
    /// Sets one of the three from its directive.
    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "password_file" => self.password_file = Some(value.into()),
            "acl_file" => self.acl_file = Some(value.into()),
            _ => self.allow_anonymous = Some(boolean(name, value)?),
        }
        Ok(())
    }
}

/// `listener <port> [<address>]`.
fn parse_listener(value: &str) -> Result<SocketAddr, String> {
    let mut words = value.split_whitespace();
    let port = number("listener", words.next().unwrap_or(""), 0..=65_535)? as u16;
    let address = words.next();
    if words.next().is_some() {
        return Err("`listener` takes a port and an optional address".into());
    }
    match address {
        None => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
        Some(host) => resolve(host, port),
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| format!("cannot resolve address `{host}`"))
}

fn number(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses_to_the_defaults() {
        let example = include_str!("../mqtt-broker.conf");
        assert_eq!(
            Config::parse(example, "mqtt-broker.conf"),
            Ok(Config::default())
        );
    }

    #[test]
    fn directives_set_their_fields() {
        let text = "# comment\n\nlistener 1883\nlistener 0 127.0.0.1\nmax_inflight_messages 5\n\
                    max_queued_messages 7\nmessage_size_limit 100\nsys_interval 0\n\
                    max_connections 3\nallow_zero_length_clientid false\nauto_id_prefix x-\n";
        let config = Config::parse(text, "t.conf");
        let expected = Config {
            listeners: vec![
                "0.0.0.0:1883"
                    .parse()
                    .unwrap_or(Config::default().listeners[0]),
                "127.0.0.1:0"
                    .parse()
                    .unwrap_or(Config::default().listeners[0]),
            ],
            max_inflight_messages: 5,
            max_queued_messages: 7,
            message_size_limit: 100,
            sys_interval: Duration::ZERO,
            max_connections: Some(3),
            connect_timeout: Duration::from_secs(10),
            allow_zero_length_clientid: false,
            auto_id_prefix: "x-".into(),
            local_only: false,
            ..Config::default()
        };
        assert_eq!(config, Ok(expected));
    }

    /// mosquitto 2: without any listener configured, the one default listener is on loopback and
    /// the broker is in local-only mode (anonymous allowed by default); `port` or `bind_address`
    /// configure the default listener, on every interface unless `bind_address` says otherwise.
    #[test]
    fn local_only_mode_until_a_listener_is_configured() {
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883);
        for text in ["", "persistence true\n", "allow_anonymous true\n"] {
            let config = Config::parse(text, "l.conf").expect("parses");
            assert!(config.local_only, "{text}");
            assert_eq!(config.listeners, [loopback], "{text}");
        }
        assert!(Config::default().local_only);
        assert_eq!(Config::default().listeners, [loopback]);
        for (text, address) in [
            ("port 1884\n", "0.0.0.0:1884"),
            ("bind_address 127.0.0.1\n", "127.0.0.1:1883"),
            ("listener 1883\n", "0.0.0.0:1883"),
        ] {
            let config = Config::parse(text, "l.conf").expect("parses");
            assert!(!config.local_only, "{text}");
            assert_eq!(
                config.listeners,
                [address.parse().unwrap_or(loopback)],
                "{text}"
            );
        }
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let error = Config::parse("sys_interval 10\nmax_inflight_mesages 5\n", "b.conf");
        assert_eq!(
            error.map_err(|error| error.to_string()),
            Err("b.conf:2: unknown directive `max_inflight_mesages`".into())
        );
        for bad in [
            "sys_interval ten",
            "listener",
            "listener 70000",
            "persistence yes",
            "certfile a.pem",
            "listener 8883\ncafile ca.pem",
            "max_connections 0",
            "allow_zero_length_clientid yes",
        ] {
            assert!(
                matches!(
                    Config::parse(bad, "c.conf"),
                    Err(ConfigError { line: 1, .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn allow_anonymous_false_needs_a_way_to_authenticate() {
        assert!(Config::parse("allow_anonymous false\n", "a.conf").is_err());
        assert!(Config::parse("allow_anonymous false\npassword_file p\n", "a.conf").is_ok());
    }

    #[test]
    fn tls_directives_belong_to_the_listener_above_them() {
        let text = "listener 1883\nlistener 8883 127.0.0.1\ncertfile s.pem\nkeyfile s.key\n\
                    cafile ca.pem\nrequire_certificate true\nuse_identity_as_username true\n\
                    password_file pw\nacl_file acl\nallow_anonymous false\npersistence true\n\
                    persistence_location /var/lib/mqtt\n";
        let config = Config::parse(text, "t.conf").expect("parses");
        assert_eq!(config.listeners.len(), 1);
        assert_eq!(
            config.tls_listeners,
            [TlsListener {
                address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8883),
                tls: TlsSettings {
                    certfile: "s.pem".into(),
                    keyfile: "s.key".into(),
                    cafile: Some("ca.pem".into()),
                    require_certificate: true,
                    use_identity_as_username: true,
                },
            }]
        );
        assert_eq!(config.password_file, Some(PathBuf::from("pw")));
        assert_eq!(config.allow_anonymous, Some(false));
        assert!(config.persistence);
        assert_eq!(config.persistence_location, PathBuf::from("/var/lib/mqtt"));
        // A keyfile without a certfile leaves the listener unencrypted: refused, naming its line.
        let error = Config::parse("listener 1\nlistener 2\nkeyfile k\n", "u.conf");
        assert_eq!(error.map_err(|error| error.line), Err(2));
    }

    #[test]
    fn per_listener_settings_follow_their_listener_plain_ones_first() {
        let text = "per_listener_settings true\nlistener 8883\ncertfile s.pem\nkeyfile s.key\n\
                    password_file tls.pw\nlistener 1883\nacl_file plain.acl\n\
                    allow_anonymous true\n";
        let config = Config::parse(text, "p.conf").expect("parses");
        assert!(config.per_listener_settings);
        assert_eq!(config.password_file, None, "nothing global");
        assert_eq!(
            config.listener_security,
            [
                SecuritySettings {
                    acl_file: Some("plain.acl".into()),
                    allow_anonymous: Some(true),
                    ..SecuritySettings::default()
                },
                SecuritySettings {
                    password_file: Some("tls.pw".into()),
                    ..SecuritySettings::default()
                },
            ]
        );
        // Without listener lines, they belong to the default listener.
        let config = Config::parse("per_listener_settings true\npassword_file p\n", "d.conf");
        assert_eq!(
            config.map(|config| config.listener_security),
            Ok(vec![SecuritySettings {
                password_file: Some("p".into()),
                ..SecuritySettings::default()
            }])
        );
    }

    #[test]
    fn protocol_websockets_makes_a_ws_or_wss_listener() {
        let text = "listener 1883\nlistener 9001\nprotocol websockets\nlistener 8883\n\
                    protocol mqtt\ncertfile s.pem\nkeyfile s.key\nlistener 9443 127.0.0.1\n\
                    protocol websockets\ncertfile s.pem\nkeyfile s.key\n";
        let config = Config::parse(text, "w.conf").expect("parses");
        assert_eq!(
            config.listeners,
            [SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 1883)]
        );
        assert_eq!(config.tls_listeners.len(), 1);
        let tls = TlsSettings {
            certfile: "s.pem".into(),
            keyfile: "s.key".into(),
            cafile: None,
            require_certificate: false,
            use_identity_as_username: false,
        };
        assert_eq!(
            config.websocket_listeners,
            [
                WebSocketListener {
                    address: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9001),
                    tls: None,
                },
                WebSocketListener {
                    address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9443),
                    tls: Some(tls),
                },
            ]
        );
        for (bad, line) in [
            ("protocol websockets\n", 1),
            ("listener 9001\nprotocol http\n", 2),
        ] {
            assert_eq!(
                Config::parse(bad, "x.conf").map_err(|error| error.line),
                Err(line),
                "{bad}"
            );
        }
    }

    #[test]
    fn port_and_bind_address_make_the_default_listener() {
        let config = Config::parse("port 1884\nbind_address 127.0.0.1\n", "d.conf");
        assert_eq!(
            config.map(|config| config.listeners),
            Ok(vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1884)])
        );
    }
}

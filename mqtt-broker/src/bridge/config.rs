//! [`BridgeConfig`]: the settings of one bridge, and the parser for mosquitto's bridge block in a
//! configuration file (`mosquitto.conf(5)`, "Configuring Bridges").
//!
//! A block starts at `connection <name>`; every bridge directive after it, up to the next
//! `connection`, belongs to that bridge. A bridge directive before any `connection` line, a value that
//! does not parse, a bridge without `address` or `topic`, and mosquitto bridge options this broker
//! does not implement stop the start with the file and line, as every other configuration error does.
//!
//! Topic mapping follows mosquitto: `topic <pattern> [[[out|in|both] <qos>] <local-prefix>
//! <remote-prefix>]` subscribes to `<local-prefix><pattern>` locally and `<remote-prefix><pattern>`
//! remotely, and a message crossing the bridge has one prefix replaced by the other. `""` is an
//! empty pattern or prefix; with an empty pattern the two prefixes are themselves the topics.
//!
//! This file only reads settings; `bridge/mod.rs` runs them.

use std::time::Duration;

use mqtt_codec::{ProtocolLevel, QoS, TopicFilter, TopicName};

/// One bridge: where to connect, what to carry, and how (a `connection` block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The `connection` name: in log lines, and in the default client identifiers.
    pub name: String,
    /// `address host[:port] ...` (default port 1883): tried in turn when one cannot be reached.
    pub addresses: Vec<(String, u16)>,
    /// The `topic` lines.
    pub topics: Vec<BridgeTopic>,
    /// `bridge_protocol_version`: `mqttv311` (default) or `mqttv31`; ignored when `mqtt5` is set.
    pub level: ProtocolLevel,
    /// `bridge_protocol_version mqttv50`: the remote connection speaks MQTT 5.0.
    pub mqtt5: bool,
    /// `cleansession` (default false): whether the remote session is clean.
    pub clean_session: bool,
    /// `local_cleansession` (default: `cleansession`): whether the bridge's session in this broker
    /// is clean. A persistent one (false) makes this broker queue messages for the remote while it
    /// is away; a clean one drops them.
    pub local_clean_session: bool,
    /// `local_username` / `local_password`: the credentials of the local side's CONNECT. The local
    /// side is trusted as mosquitto trusts its bridges (no password check, no ACL), so they only
    /// name the session's user in this broker's log lines.
    pub local_username: Option<String>,
    /// See `local_username`.
    pub local_password: Option<String>,
    /// `bridge_attempt_unsubscribe` (default true): UNSUBSCRIBE, on the remote broker, the remote
    /// filter of each `out` line, so that a line changed from `in` to `out` stops bringing
    /// messages in from a persistent remote session.
    pub attempt_unsubscribe: bool,
    /// `bridge_outgoing_retain` (default true): false clears the retain flag of every message sent
    /// to the remote broker (for remote brokers without retained messages).
    pub outgoing_retain: bool,
    /// `bridge_max_packet_size` (default 0, no limit): a message for the remote broker whose
    /// PUBLISH would be larger is not sent (acknowledged here, logged). At 5.0 the remote's own
    /// Maximum Packet Size applies too, and the smaller wins.
    pub max_packet_size: u32,
    /// `round_robin` (default false): with false the first `address` is the main one, and the
    /// bridge goes back to it when a connection to another is lost; with true the next address
    /// is tried after each failure or loss.
    pub round_robin: bool,
    /// `start_type` (default automatic).
    pub start_type: StartType,
    /// `keepalive_interval` (default 60 s, at least 5 s) of the remote connection.
    pub keepalive: Duration,
    /// `local_clientid` (default `local.<remote_clientid>`): the bridge's session in this broker.
    pub local_clientid: String,
    /// `remote_clientid` (default `<hostname>.<name>`): the bridge's session in the remote broker.
    pub remote_clientid: String,
    /// `remote_username`, sent in CONNECT to the remote broker.
    pub remote_username: Option<String>,
    /// `remote_password`, sent with `remote_username`.
    pub remote_password: Option<String>,
    /// `notifications` (default true): publish the bridge's state, `1` or `0`, retained.
    pub notifications: bool,
    /// `notification_topic` (default `$SYS/broker/connection/<remote_clientid>/state`).
    pub notification_topic: String,
    /// `notifications_local_only` (default false): publish the state locally only, not also on
    /// the remote broker (where a Will sets `0` when the bridge drops).
    pub notifications_local_only: bool,
    /// `restart_timeout <base> [<cap>]`, seconds: a constant wait between attempts with one number,
    /// a doubling wait with jitter from `base` up to `cap` with two (default `5 30`).
    pub restart_timeout: (Duration, Duration),
    /// `try_private` (default true): announce the bridge to the remote broker (the top bit of the
    /// protocol level), so that it does not send back what the bridge publishes. Dropped for the
    /// rest of the run if the remote refuses it with CONNACK 1.
    pub try_private: bool,
    /// `bridge_cafile` / `bridge_certfile` / `bridge_keyfile` / `bridge_insecure`: TLS to the
    /// remote broker, on as soon as `bridge_cafile` is given.
    pub tls: Option<BridgeTls>,
}

/// TLS settings of a bridge's remote connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeTls {
    /// CA certificates (PEM) the remote broker's certificate must chain to (`bridge_cafile`; with
    /// only `bridge_capath`, none from a file).
    pub cafile: Option<std::path::PathBuf>,
    /// The bridge's own certificate chain and key (PEM), if the remote asks for one.
    pub client_auth: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Accept a remote certificate whose name does not match the address (testing only).
    pub insecure: bool,
    /// `bridge_capath`: a directory of PEM CA certificates, trusted too.
    pub capath: Option<std::path::PathBuf>,
    /// `bridge_tls_version tlsv1.3`: TLS 1.3 only. `tlsv1.2` (the default) offers 1.2 and 1.3.
    pub tls13_only: bool,
    /// `bridge_alpn`: the protocol offered in ALPN.
    pub alpn: Option<String>,
}

/// `start_type`: when the bridge connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartType {
    /// At start, and again after each lost connection (the default).
    Automatic,
    /// Once at start; after a failed attempt or a lost connection the bridge stops for good.
    Once,
    /// When `threshold` messages wait for the remote; stopped again after `idle_timeout` without
    /// traffic.
    Lazy {
        /// `threshold` (default 10).
        threshold: usize,
        /// `idle_timeout` (default 60 s).
        idle_timeout: Duration,
    },
}

/// One `topic` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeTopic {
    /// The pattern: a topic filter, or empty when the prefixes are the topics.
    pub pattern: String,
    /// Which way messages go.
    pub direction: Direction,
    /// The QoS of the subscriptions the bridge makes, on either side (default 0).
    pub qos: QoS,
    /// Prepended locally.
    pub local_prefix: String,
    /// Prepended remotely.
    pub remote_prefix: String,
}

/// Which way a `topic` line carries messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From this broker to the remote one (the default).
    Out,
    /// From the remote broker to this one.
    In,
    /// Both ways.
    Both,
}

impl BridgeTopic {
    /// The filter the bridge subscribes to in this broker.
    pub fn local_filter(&self) -> String {
        format!("{}{}", self.local_prefix, self.pattern)
    }

    /// The filter the bridge subscribes to in the remote broker.
    pub fn remote_filter(&self) -> String {
        format!("{}{}", self.remote_prefix, self.pattern)
    }

    /// Whether messages go from here to the remote broker.
    pub fn outgoing(&self) -> bool {
        matches!(self.direction, Direction::Out | Direction::Both)
    }

    /// Whether messages come from the remote broker to here.
    pub fn incoming(&self) -> bool {
        matches!(self.direction, Direction::In | Direction::Both)
    }

    /// The remote topic for local `topic`, if this line carries it out.
    pub fn to_remote(&self, topic: &str) -> Option<String> {
        map(
            topic,
            &self.local_filter(),
            &self.local_prefix,
            &self.remote_prefix,
        )
        .filter(|_| self.outgoing())
    }

    /// The local topic for remote `topic`, if this line carries it in.
    pub fn to_local(&self, topic: &str) -> Option<String> {
        map(
            topic,
            &self.remote_filter(),
            &self.remote_prefix,
            &self.local_prefix,
        )
        .filter(|_| self.incoming())
    }
}

/// `topic` with prefix `from` replaced by `to`, if it matches `filter`.
fn map(topic: &str, filter: &str, from: &str, to: &str) -> Option<String> {
    let name = TopicName::new(topic).ok()?;
    if !TopicFilter::new(filter).ok()?.matches(name) {
        return None;
    }
    Some(format!("{to}{}", topic.strip_prefix(from)?))
}

/// The bridge options of mosquitto this broker does not implement, each with the reason: refused
/// by name, so that nobody believes they are in force.
const NOT_IMPLEMENTED: [(&str, &str); 4] = [
    (
        "bridge_bind_address",
        "the client library connects from the address the system picks",
    ),
    (
        "bridge_identity",
        "TLS-PSK is not available: rustls implements no pre-shared-key cipher suites",
    ),
    (
        "bridge_psk",
        "TLS-PSK is not available: rustls implements no pre-shared-key cipher suites",
    ),
    (
        "bridge_require_ocsp",
        "the TLS client does not check OCSP responses",
    ),
];

/// Why an option is not implemented, if it is one of those.
fn not_implemented(name: &str) -> Option<&'static str> {
    NOT_IMPLEMENTED
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, why)| *why)
}

/// Reads the bridge directives of a configuration file, one line at a time.
#[derive(Debug, Default)]
pub(crate) struct BridgeParser {
    done: Vec<(usize, Pending)>,
    current: Option<(usize, Pending)>,
}

/// A bridge whose block is still being read: defaults that depend on other settings are filled in
/// at the end.
#[derive(Debug, Default)]
struct Pending {
    name: String,
    addresses: Vec<(String, u16)>,
    topics: Vec<BridgeTopic>,
    level: Option<ProtocolLevel>,
    mqtt5: bool,
    clean_session: bool,
    local_clean_session: Option<bool>,
    local_username: Option<String>,
    local_password: Option<String>,
    attempt_unsubscribe: Option<bool>,
    outgoing_retain: Option<bool>,
    max_packet_size: u32,
    round_robin: bool,
    start_type: Option<StartType>,
    threshold: Option<usize>,
    idle_timeout: Option<Duration>,
    capath: Option<std::path::PathBuf>,
    tls13_only: bool,
    alpn: Option<String>,
    keepalive: Option<Duration>,
    local_clientid: Option<String>,
    remote_clientid: Option<String>,
    remote_username: Option<String>,
    remote_password: Option<String>,
    notifications: Option<bool>,
    notification_topic: Option<String>,
    notifications_local_only: bool,
    restart_timeout: Option<(Duration, Duration)>,
    try_private: Option<bool>,
    cafile: Option<std::path::PathBuf>,
    certfile: Option<std::path::PathBuf>,
    keyfile: Option<std::path::PathBuf>,
    insecure: bool,
}

impl BridgeParser {
    /// Whether `name` is a bridge directive (and so belongs to this parser).
    pub(crate) fn handles(name: &str) -> bool {
        not_implemented(name).is_some()
            || matches!(
                name,
                "connection"
                    | "address"
                    | "addresses"
                    | "topic"
                    | "bridge_protocol_version"
                    | "cleansession"
                    | "keepalive_interval"
                    | "local_clientid"
                    | "remote_clientid"
                    | "clientid"
                    | "remote_username"
                    | "username"
                    | "remote_password"
                    | "password"
                    | "notifications"
                    | "notification_topic"
                    | "notifications_local_only"
                    | "restart_timeout"
                    | "try_private"
                    | "bridge_cafile"
                    | "bridge_certfile"
                    | "bridge_keyfile"
                    | "bridge_insecure"
                    | "local_cleansession"
                    | "local_username"
                    | "local_password"
                    | "bridge_attempt_unsubscribe"
                    | "bridge_outgoing_retain"
                    | "bridge_max_packet_size"
                    | "round_robin"
                    | "start_type"
                    | "threshold"
                    | "idle_timeout"
                    | "bridge_capath"
                    | "bridge_tls_version"
                    | "bridge_alpn"
            )
    }

    /// One directive, on 1-based `line`. The error is the message for that line.
    pub(crate) fn directive(&mut self, name: &str, value: &str, line: usize) -> Result<(), String> {
        if name == "connection" {
            if value.split_whitespace().count() != 1 {
                return Err("`connection` takes one name, without spaces".into());
            }
            let mut known = self.done.iter().chain(self.current.as_ref());
            if known.any(|(_, bridge)| bridge.name == value) {
                return Err(format!("a bridge named `{value}` is already defined"));
            }
            self.done.extend(self.current.take());
            self.current = Some((
                line,
                Pending {
                    name: value.into(),
                    ..Pending::default()
                },
            ));
            return Ok(());
        }
        if let Some(why) = not_implemented(name) {
            return Err(format!(
                "`{name}` is a mosquitto bridge option this broker does not implement: {why} \
                 (see the README)"
            ));
        }
        let Some((_, bridge)) = &mut self.current else {
            return Err(format!(
                "`{name}` belongs to a bridge: put it after a `connection` line"
            ));
        };
        match name {
            "address" | "addresses" => {
                for address in value.split_whitespace() {
                    bridge.addresses.push(parse_address(address)?);
                }
            }
            "topic" => bridge.topics.push(parse_topic(value)?),
            "bridge_protocol_version" => {
                bridge.level = Some(match value {
                    "mqttv311" => ProtocolLevel::Mqtt311,
                    "mqttv31" => ProtocolLevel::Mqtt31,
                    "mqttv50" => ProtocolLevel::Mqtt311,
                    _ => {
                        return Err(format!(
                            "`bridge_protocol_version` is mqttv50, mqttv311 or mqttv31, not \
                             `{value}`"
                        ));
                    }
                });
                bridge.mqtt5 = value == "mqttv50";
            }
            "cleansession" => bridge.clean_session = boolean(name, value)?,
            "keepalive_interval" => {
                bridge.keepalive = Some(Duration::from_secs(number(name, value, 5, 65_535)?));
            }
            "local_clientid" => bridge.local_clientid = Some(value.into()),
            "remote_clientid" | "clientid" => bridge.remote_clientid = Some(value.into()),
            "remote_username" | "username" => bridge.remote_username = Some(value.into()),
            "remote_password" | "password" => bridge.remote_password = Some(value.into()),
            "notifications" => bridge.notifications = Some(boolean(name, value)?),
            "notification_topic" => {
                TopicName::new(value).map_err(|error| format!("`notification_topic`: {error}"))?;
                bridge.notification_topic = Some(value.into());
            }
            "notifications_local_only" => bridge.notifications_local_only = boolean(name, value)?,
            "restart_timeout" => {
                let numbers: Vec<&str> = value.split_whitespace().collect();
                let base = number(name, numbers[0], 1, 86_400)?;
                let cap = match numbers.get(1..) {
                    Some([]) | None => base,
                    Some([cap]) => number(name, cap, base, 86_400)?,
                    Some(_) => return Err("`restart_timeout` takes one or two numbers".into()),
                };
                bridge.restart_timeout =
                    Some((Duration::from_secs(base), Duration::from_secs(cap)));
            }
            "try_private" => bridge.try_private = Some(boolean(name, value)?),
            "bridge_cafile" => bridge.cafile = Some(value.into()),
            "bridge_certfile" => bridge.certfile = Some(value.into()),
            "bridge_keyfile" => bridge.keyfile = Some(value.into()),
            "bridge_capath" => bridge.capath = Some(value.into()),
            "bridge_tls_version" => {
                bridge.tls13_only = match value {
                    "tlsv1.3" => true,
                    "tlsv1.2" => false,
                    "tlsv1.1" | "tlsv1" => {
                        return Err(format!(
                            "`bridge_tls_version {value}` is not available: rustls speaks TLS 1.2 \
                             and 1.3 only"
                        ));
                    }
                    _ => {
                        return Err(format!(
                            "`bridge_tls_version` is tlsv1.3 or tlsv1.2, not `{value}`"
                        ));
                    }
                };
            }
            "bridge_alpn" => {
                if value.is_empty() || value.len() > 255 {
                    return Err("`bridge_alpn` needs a protocol name of 1 to 255 bytes".into());
                }
                bridge.alpn = Some(value.into());
            }
            "local_cleansession" => bridge.local_clean_session = Some(boolean(name, value)?),
            "local_username" => bridge.local_username = Some(value.into()),
            "local_password" => bridge.local_password = Some(value.into()),
            "bridge_attempt_unsubscribe" => {
                bridge.attempt_unsubscribe = Some(boolean(name, value)?);
            }
            "bridge_outgoing_retain" => bridge.outgoing_retain = Some(boolean(name, value)?),
            "bridge_max_packet_size" => {
                bridge.max_packet_size = number(name, value, 0, 268_435_460)? as u32;
            }
            "round_robin" => bridge.round_robin = boolean(name, value)?,
            "start_type" => {
                bridge.start_type = Some(match value {
                    "automatic" => StartType::Automatic,
                    "once" => StartType::Once,
                    "lazy" => StartType::Lazy {
                        threshold: 10,
                        idle_timeout: Duration::from_secs(60),
                    },
                    _ => {
                        return Err(format!(
                            "`start_type` is automatic, lazy or once, not `{value}`"
                        ));
                    }
                });
            }
            "threshold" => bridge.threshold = Some(number(name, value, 1, 1_000_000)? as usize),
            "idle_timeout" => {
                bridge.idle_timeout = Some(Duration::from_secs(number(name, value, 1, 86_400)?));
            }
            _ => bridge.insecure = boolean(name, value)?, // bridge_insecure
        }
        Ok(())
    }

    /// The bridges read, or the first one that is incomplete, as `(line of its connection, message)`.
    pub(crate) fn finish(mut self) -> Result<Vec<BridgeConfig>, (usize, String)> {
        self.done.extend(self.current.take());
        self.done
            .into_iter()
            .map(|(line, pending)| pending.finish().map_err(|message| (line, message)))
            .collect()
    }
}

impl Pending {
    fn finish(self) -> Result<BridgeConfig, String> {
        let name = self.name;
        if self.addresses.is_empty() {
            return Err(format!("bridge `{name}` has no `address`"));
        }
        if self.topics.is_empty() {
            return Err(format!(
                "bridge `{name}` has no `topic`: it would carry nothing"
            ));
        }
        let tls_on = self.cafile.is_some() || self.capath.is_some();
        let tls = |cafile, client_auth| BridgeTls {
            cafile,
            client_auth,
            insecure: self.insecure,
            capath: self.capath.clone(),
            tls13_only: self.tls13_only,
            alpn: self.alpn.clone(),
        };
        let tls = match (tls_on, self.certfile, self.keyfile) {
            (false, None, None) => None,
            (false, _, _) => {
                return Err(format!(
                    "bridge `{name}`: `bridge_certfile`/`bridge_keyfile` need `bridge_cafile` or \
                     `bridge_capath` (TLS)"
                ));
            }
            (true, None, None) => Some(tls(self.cafile, None)),
            (true, Some(cert), Some(key)) => Some(tls(self.cafile, Some((cert, key)))),
            _ => {
                return Err(format!(
                    "bridge `{name}`: `bridge_certfile` and `bridge_keyfile` go together"
                ));
            }
        };
        if (self.insecure || self.tls13_only || self.alpn.is_some()) && tls.is_none() {
            return Err(format!(
                "bridge `{name}`: `bridge_insecure`, `bridge_tls_version` and `bridge_alpn` need \
                 `bridge_cafile` or `bridge_capath` (TLS)"
            ));
        }
        if self.local_password.is_some() && self.local_username.is_none() {
            return Err(format!(
                "bridge `{name}`: `local_password` needs `local_username` [MQTT-3.1.2-22]"
            ));
        }
        let start_type = match self.start_type {
            Some(StartType::Lazy { .. }) => StartType::Lazy {
                threshold: self.threshold.unwrap_or(10),
                idle_timeout: self.idle_timeout.unwrap_or(Duration::from_secs(60)),
            },
            other => {
                if self.threshold.is_some() || self.idle_timeout.is_some() {
                    return Err(format!(
                        "bridge `{name}`: `threshold` and `idle_timeout` belong to `start_type lazy`"
                    ));
                }
                other.unwrap_or(StartType::Automatic)
            }
        };
        let remote_clientid = self
            .remote_clientid
            .unwrap_or_else(|| format!("{}.{name}", hostname()));
        Ok(BridgeConfig {
            local_clientid: self
                .local_clientid
                .unwrap_or_else(|| format!("local.{remote_clientid}")),
            notification_topic: self
                .notification_topic
                .unwrap_or_else(|| format!("$SYS/broker/connection/{remote_clientid}/state")),
            remote_clientid,
            name,
            addresses: self.addresses,
            topics: self.topics,
            level: self.level.unwrap_or(ProtocolLevel::Mqtt311),
            mqtt5: self.mqtt5,
            clean_session: self.clean_session,
            local_clean_session: self.local_clean_session.unwrap_or(self.clean_session),
            local_username: self.local_username,
            local_password: self.local_password,
            attempt_unsubscribe: self.attempt_unsubscribe.unwrap_or(true),
            outgoing_retain: self.outgoing_retain.unwrap_or(true),
            max_packet_size: self.max_packet_size,
            round_robin: self.round_robin,
            start_type,
            keepalive: self.keepalive.unwrap_or(Duration::from_secs(60)),
            remote_username: self.remote_username,
            remote_password: self.remote_password,
            notifications: self.notifications.unwrap_or(true),
            notifications_local_only: self.notifications_local_only,
            restart_timeout: self
                .restart_timeout
                .unwrap_or((Duration::from_secs(5), Duration::from_secs(30))),
            try_private: self.try_private.unwrap_or(true),
            tls,
        })
    }
}

/// `host[:port]`, or `[v6]:port`; the port defaults to 1883.
fn parse_address(address: &str) -> Result<(String, u16), String> {
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (
            host.trim_start_matches('[').trim_end_matches(']'),
            Some(port),
        ),
        _ => (address, None),
    };
    let port = match port {
        None => 1883,
        Some(port) => number("address", port, 1, 65_535)? as u16,
    };
    if host.is_empty() {
        return Err(format!("`address` needs a host, not `{address}`"));
    }
    Ok((host.into(), port))
}

/// `<pattern> [[[out|in|both] <qos>] <local-prefix> <remote-prefix>]`.
fn parse_topic(value: &str) -> Result<BridgeTopic, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    let unquote = |word: &str| {
        if word == "\"\"" {
            String::new()
        } else {
            word.to_owned()
        }
    };
    let direction = match words.get(1).copied() {
        None | Some("out") => Direction::Out,
        Some("in") => Direction::In,
        Some("both") => Direction::Both,
        Some(other) => return Err(format!("topic direction is out, in or both, not `{other}`")),
    };
    let qos = match words.get(2) {
        None => QoS::AtMostOnce,
        Some(word) => QoS::from_bits(number("topic", word, 0, 2)? as u8)
            .map_err(|_| "topic QoS is 0, 1 or 2".to_owned())?,
    };
    let (local_prefix, remote_prefix) = match words.get(3..) {
        None | Some([]) => (String::new(), String::new()),
        Some([local, remote]) => (unquote(local), unquote(remote)),
        Some(_) => {
            return Err(
                "`topic <pattern> [[[out|in|both] <qos>] <local-prefix> <remote-prefix>]`".into(),
            );
        }
    };
    let topic = BridgeTopic {
        pattern: unquote(words[0]),
        direction,
        qos,
        local_prefix,
        remote_prefix,
    };
    for prefix in [&topic.local_prefix, &topic.remote_prefix] {
        if prefix.contains(['+', '#']) {
            return Err(format!("a topic prefix cannot hold a wildcard: `{prefix}`"));
        }
    }
    for filter in [topic.local_filter(), topic.remote_filter()] {
        TopicFilter::new(&filter).map_err(|error| format!("topic `{filter}`: {error}"))?;
    }
    if topic.pattern.is_empty() {
        // The prefixes are the topics: each must be a topic name, as in mosquitto.
        for name in [topic.local_filter(), topic.remote_filter()] {
            TopicName::new(&name).map_err(|error| format!("topic `{name}`: {error}"))?;
        }
    }
    Ok(topic)
}

/// This machine's host name, for the default remote client identifier (as mosquitto does).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|number| (min..=max).contains(number))
        .ok_or_else(|| format!("`{name}` needs a whole number from {min} to {max}, not `{value}`"))
}

/// A `true` / `false` directive value, for the whole configuration file: `config.rs` uses this one
/// too (it already depends on this file for the bridge block, so the dependency runs one way).
pub(crate) fn boolean(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{name}` is `true` or `false`, not `{value}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Result<Vec<BridgeConfig>, (usize, String)> {
        let mut parser = BridgeParser::default();
        for (index, line) in lines.iter().enumerate() {
            let (name, value) = line.split_once(' ').unwrap_or((line, ""));
            parser
                .directive(name, value, index + 1)
                .map_err(|message| (index + 1, message))?;
        }
        parser.finish()
    }

    #[test]
    fn one_boolean_parser_serves_the_bridge_block_and_the_rest_of_the_file() {
        let error = parse(&["connection b", "address 127.0.0.1", "cleansession yes"])
            .expect_err("`yes` is not a boolean");
        assert_eq!(
            error,
            (
                3,
                "`cleansession` is `true` or `false`, not `yes`".to_owned()
            )
        );
        let error = crate::Config::parse("persistence on\n", "test.conf")
            .expect_err("`on` is not a boolean");
        assert_eq!(
            error.to_string(),
            "test.conf:1: `persistence` is `true` or `false`, not `on`"
        );
    }

    #[test]
    fn a_block_with_every_directive() {
        let bridges = parse(&[
            "connection cloud",
            "address a.example:1884 b.example",
            "topic sensors/# both 1 site/ cloud/site/",
            "topic \"\" in 2 local/cmd remote/cmd",
            "remote_clientid edge-1",
            "remote_username u",
            "remote_password p",
            "cleansession true",
            "keepalive_interval 30",
            "restart_timeout 2 20",
            "notifications false",
            "try_private false",
            "bridge_protocol_version mqttv31",
            "bridge_cafile ca.pem",
            "bridge_insecure true",
        ])
        .expect("parses");
        let bridge = &bridges[0];
        assert_eq!(
            bridge.addresses,
            [("a.example".into(), 1884), ("b.example".into(), 1883)]
        );
        assert_eq!(bridge.local_clientid, "local.edge-1");
        assert_eq!(
            bridge.notification_topic,
            "$SYS/broker/connection/edge-1/state"
        );
        assert_eq!(bridge.level, ProtocolLevel::Mqtt31);
        assert_eq!(bridge.keepalive, Duration::from_secs(30));
        assert_eq!(
            bridge.restart_timeout,
            (Duration::from_secs(2), Duration::from_secs(20))
        );
        assert!(bridge.clean_session && !bridge.notifications && !bridge.try_private);
        assert_eq!(bridge.tls.as_ref().map(|tls| tls.insecure), Some(true));
        let topic = &bridge.topics[0];
        assert_eq!(
            topic.to_remote("site/sensors/t"),
            Some("cloud/site/sensors/t".into())
        );
        assert_eq!(
            topic.to_local("cloud/site/sensors/t"),
            Some("site/sensors/t".into())
        );
        assert_eq!(topic.to_remote("other/sensors/t"), None);
        let exact = &bridge.topics[1];
        assert_eq!(exact.to_local("remote/cmd"), Some("local/cmd".into()));
        assert_eq!(
            exact.to_remote("local/cmd"),
            None,
            "an `in` line carries nothing out"
        );
    }

    #[test]
    fn the_directives_added_for_mosquitto_parity() {
        let bridges = parse(&[
            "connection v5",
            "address a:1 b:2",
            "topic t/# both 1",
            "bridge_protocol_version mqttv50",
            "cleansession true",
            "local_cleansession false",
            "local_username bridge-user",
            "local_password secret",
            "bridge_attempt_unsubscribe false",
            "bridge_outgoing_retain false",
            "bridge_max_packet_size 1000",
            "round_robin true",
            "start_type once",
            "bridge_capath /etc/ssl/certs",
            "bridge_tls_version tlsv1.3",
            "bridge_alpn mqtt",
        ])
        .expect("parses");
        let bridge = &bridges[0];
        assert!(bridge.mqtt5 && bridge.clean_session && !bridge.local_clean_session);
        assert_eq!(bridge.local_username.as_deref(), Some("bridge-user"));
        assert_eq!(bridge.local_password.as_deref(), Some("secret"));
        assert!(!bridge.attempt_unsubscribe && !bridge.outgoing_retain && bridge.round_robin);
        assert_eq!(bridge.max_packet_size, 1000);
        assert_eq!(bridge.start_type, StartType::Once);
        let tls = bridge
            .tls
            .as_ref()
            .expect("bridge_capath alone turns TLS on");
        assert_eq!(tls.cafile, None);
        assert_eq!(
            tls.capath.as_deref(),
            Some(std::path::Path::new("/etc/ssl/certs"))
        );
        assert!(tls.tls13_only);
        assert_eq!(tls.alpn.as_deref(), Some("mqtt"));
        // The last `bridge_protocol_version` wins, and `local_cleansession` follows `cleansession`.
        let bridges = parse(&[
            "connection b",
            "address h",
            "topic #",
            "bridge_protocol_version mqttv50",
            "bridge_protocol_version mqttv311",
            "cleansession true",
        ])
        .expect("parses");
        assert!(!bridges[0].mqtt5 && bridges[0].local_clean_session);
        let lazy = |extra: &[&str]| {
            let mut lines = vec!["connection l", "address h", "topic #", "start_type lazy"];
            lines.extend(extra);
            parse(&lines).expect("parses")[0].start_type
        };
        assert_eq!(
            lazy(&[]),
            StartType::Lazy {
                threshold: 10,
                idle_timeout: Duration::from_secs(60)
            }
        );
        assert_eq!(
            lazy(&["threshold 3", "idle_timeout 7"]),
            StartType::Lazy {
                threshold: 3,
                idle_timeout: Duration::from_secs(7)
            }
        );
    }

    #[test]
    fn unsupported_options_say_why() {
        for (name, why) in [
            ("bridge_psk", "rustls"),
            ("bridge_identity", "rustls"),
            ("bridge_bind_address", "address"),
            ("bridge_require_ocsp", "OCSP"),
        ] {
            let (_, message) = parse(&["connection a", &format!("{name} x")]).expect_err(name);
            assert!(message.contains(name) && message.contains(why), "{message}");
        }
    }

    #[test]
    fn defaults_follow_mosquitto() {
        let bridges = parse(&["connection b", "address h", "topic #"]).expect("parses");
        let bridge = &bridges[0];
        assert!(bridge.remote_clientid.ends_with(".b"));
        assert_eq!(bridge.topics[0].direction, Direction::Out);
        assert_eq!(bridge.topics[0].qos, QoS::AtMostOnce);
        assert!(bridge.try_private && bridge.notifications && !bridge.clean_session);
        assert!(!bridge.mqtt5 && !bridge.local_clean_session && !bridge.round_robin);
        assert!(bridge.attempt_unsubscribe && bridge.outgoing_retain);
        assert_eq!(bridge.max_packet_size, 0);
        assert_eq!(bridge.start_type, StartType::Automatic);
        assert_eq!(
            bridge.restart_timeout,
            (Duration::from_secs(5), Duration::from_secs(30))
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        for (lines, line) in [
            (&["address h"][..], 1),
            (&["connection a", "topic x sideways"], 2),
            (&["connection a", "topic x out 3"], 2),
            (&["connection a", "topic a/# out 0 pre/+/ r/"], 2),
            (&["connection a", "address h:99999"], 2),
            (&["connection a", "bridge_psk 00ff"], 2),
            (&["connection a", "threshold 0"], 2),
            (&["connection a", "address h", "topic x", "threshold 5"], 1), // not lazy
            (&["connection a", "bridge_tls_version tlsv1.1"], 2),
            (&["connection a", "bridge_protocol_version mqttv6"], 2),
            (
                &["connection a", "address h", "topic x", "bridge_alpn mqtt"],
                1,
            ), // TLS is off
            (
                &["connection a", "address h", "topic x", "local_password p"],
                1,
            ),
            (&["connection a", "topic x"], 1), // no address: the block's line
            (&["connection a", "address h"], 1), // no topic
            (&["connection a", "address h", "topic x", "connection a"], 4),
        ] {
            assert_eq!(
                parse(lines).map_err(|(line, _)| line),
                Err(line),
                "{lines:?}"
            );
        }
    }
}

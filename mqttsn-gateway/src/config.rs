//! [`Config`]: everything the gateway is told before it starts, read from a `key=value` file in the
//! spirit of the Paho MQTT-SN gateway's `gateway.conf`, and the predefined topics file.
//!
//! The keys keep Paho's names where Paho has one (`GatewayID`, `BrokerName`, `BrokerPortNo`,
//! `LoginID`, `Password`, `AggregatingGateway`, `KeepAlive`, `PredefinedTopicList`, `QoS-1`,
//! `Forwarder`, `GatewayPortNo`, `MulticastIP`, `MulticastPortNo`), so that an existing file mostly
//! works; the timers of §7.2 and the sleeping-client buffer have names of our own. Unknown keys are
//! logged and skipped rather than refused, because Paho files carry many keys (DTLS, XBee, shared
//! memory) that have no meaning here. `gateway.conf` beside this crate's `Cargo.toml` is the
//! annotated example with every key at its default.
//!
//! This file only reads text into values; it opens no file except through [`Config::load`], and it
//! does not decide anything about the protocol.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::topics::{PredefinedTopics, PredefinedTopicsError};

/// Which of the two gateway kinds of §4 to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayKind {
    /// One MQTT connection per MQTT-SN client [SN-4.1-1].
    Transparent,
    /// One MQTT connection for all clients, subscriptions shared [SN-4.2-1].
    Aggregating,
}

/// The gateway's configuration. Every field has a default (see [`Config::default`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// The gateway id carried in ADVERTISE and GWINFO [SN-5.3.6-1] (`GatewayID`, default 1).
    pub gateway_id: u8,
    /// A name for the logs, and the prefix of the default `broker_client_id` (`GatewayName`).
    pub gateway_name: String,
    /// The client id of the gateway's own MQTT connection (`BrokerClientId`). `None` (the
    /// default): `<GatewayName>-<GatewayID>-<8 hex digits>`, the digits drawn once per gateway
    /// instance, so that two gateways configured alike at one broker do not take each other's
    /// connection over [MQTT-3.1.4-2].
    pub broker_client_id: Option<String>,
    /// Where the gateway listens for datagrams, IPv4 or IPv6 (`Listen`, default `0.0.0.0:10000`;
    /// Paho's `GatewayPortNo` sets only the port).
    pub listen: SocketAddr,
    /// The broker's host name or address (`BrokerName`, default `localhost`).
    pub broker_host: String,
    /// The broker's port (`BrokerPortNo`, default 1883).
    pub broker_port: u16,
    /// User name for the broker (`LoginID`).
    pub user_name: Option<String>,
    /// Password for the broker (`Password`); needs a user name.
    pub password: Option<String>,
    /// Connect to the broker over TLS (`TLS`, default no).
    pub tls: bool,
    /// A PEM file of CA certificates to trust instead of the system's (`RootCAfile`).
    pub ca_file: Option<PathBuf>,
    /// Transparent or aggregating (`AggregatingGateway`, default no: transparent).
    pub kind: GatewayKind,
    /// The keep-alive of the gateway's own MQTT connections (`KeepAlive`, default 60 s). A
    /// transparent connection uses the larger of this and its client's keep-alive.
    pub broker_keep_alive: Duration,
    /// Accept QoS -1 publications from clients that never connected (`QoS-1`, default yes).
    pub qos_minus_one: bool,
    /// Accept frames from forwarders (`Forwarder`, default yes).
    pub forwarder: bool,
    /// Where ADVERTISE is sent, a broadcast or multicast address (`AdvertiseAddress`, or Paho's
    /// `MulticastIP` and `MulticastPortNo`); none means the gateway does not advertise.
    pub advertise_address: Option<SocketAddr>,
    /// The IPv4 address of the interface on which the gateway joins the multicast group of
    /// `advertise_address`, when that is a multicast address, to hear SEARCHGW sent to the group
    /// (`MulticastInterface`, default 0.0.0.0: the interface the kernel routes the group to).
    /// An IPv6 group is joined on the kernel's default interface.
    pub multicast_interface: Ipv4Addr,
    /// T_ADV, the time between two ADVERTISEs (`AdvertiseInterval`, default 900 s) [SN-6.1-8].
    pub advertise_interval: Duration,
    /// T_retry, how long the gateway waits for a client's answer before sending again
    /// (`RetryInterval`, default 10 s) [SN-7.2-1].
    pub retry_interval: Duration,
    /// N_retry, how many times it sends again before it gives the client up (`RetryCount`,
    /// default 3) [SN-7.2-1].
    pub retry_count: u32,
    /// How many messages wait for one client that is asleep, or disconnected with its session
    /// kept (aggregating kind); more are dropped and counted (`MaxBufferedMessages`, default 100).
    pub max_buffered: usize,
    /// How long the gateway keeps the session of a client that disconnected or was lost without a
    /// clean session (`SessionExpiry`, in seconds, default 86 400: a day; 0: forever). Its
    /// subscriptions, topic ids, will and kept messages go when it expires.
    pub session_expiry: Option<Duration>,
    /// How many clients the gateway serves at once (`MaxNumberOfClients`, default 1000); a CONNECT
    /// beyond it gets CONNACK "rejected: congestion".
    pub max_clients: usize,
    /// The first wait before the gateway's own connection is tried again (`ReconnectMinDelay`,
    /// default 1 s); each failure doubles it, with jitter.
    pub reconnect_min_delay: Duration,
    /// The longest wait (`ReconnectMaxDelay`, default 30 s).
    pub reconnect_max_delay: Duration,
    /// The predefined topics, global and per client (loaded from `PredefinedTopicList`).
    pub predefined: PredefinedTopics,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            gateway_id: 1,
            gateway_name: "mqttsn-gateway".into(),
            broker_client_id: None,
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 10000),
            broker_host: "localhost".into(),
            broker_port: 1883,
            user_name: None,
            password: None,
            tls: false,
            ca_file: None,
            kind: GatewayKind::Transparent,
            broker_keep_alive: Duration::from_secs(60),
            qos_minus_one: true,
            forwarder: true,
            advertise_address: None,
            advertise_interval: Duration::from_secs(900),
            multicast_interface: Ipv4Addr::UNSPECIFIED,
            retry_interval: Duration::from_secs(10),
            retry_count: 3,
            max_buffered: 100,
            session_expiry: Some(Duration::from_secs(86_400)),
            max_clients: 1000,
            reconnect_min_delay: Duration::from_secs(1),
            reconnect_max_delay: Duration::from_secs(30),
            predefined: PredefinedTopics::default(),
        }
    }
}

/// Why a configuration could not be read.
#[derive(Debug)]
pub enum ConfigError {
    /// A file could not be read.
    Io(PathBuf, std::io::Error),
    /// A line of the gateway configuration is wrong.
    Line {
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The predefined topics file is wrong.
    Predefined(PathBuf, PredefinedTopicsError),
    /// The values do not fit together.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(path, error) => write!(f, "cannot read {}: {error}", path.display()),
            Self::Line { line, reason } => write!(f, "line {line}: {reason}"),
            Self::Predefined(path, error) => write!(f, "{}: {error}", path.display()),
            Self::Invalid(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration file `path`, and the predefined topics file it names (relative to
    /// the configuration file's directory).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Io(path.to_path_buf(), e))?;
        let (mut config, predefined_list) = Self::parse_text(&text)?;
        if let Some(list) = predefined_list {
            let list = match path.parent() {
                Some(dir) if list.is_relative() => dir.join(list),
                _ => list,
            };
            let text = std::fs::read_to_string(&list)
                .map_err(|error| ConfigError::Io(list.clone(), error))?;
            config.predefined = PredefinedTopics::parse(&text)
                .map_err(|error| ConfigError::Predefined(list.clone(), error))?;
        }
        Ok(config)
    }

    /// Parses the text of a configuration file. A `PredefinedTopicList` key is refused here, since
    /// there is no directory to find it in: use [`Config::load`].
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        match Self::parse_text(text)? {
            (config, None) => Ok(config),
            (_, Some(_)) => Err(ConfigError::Invalid(
                "PredefinedTopicList needs Config::load, which knows the file's directory".into(),
            )),
        }
    }

    fn parse_text(text: &str) -> Result<(Self, Option<PathBuf>), ConfigError> {
        let mut config = Self::default();
        let mut predefined_list = None;
        let mut predefined_on = false;
        let mut multicast_ip: Option<IpAddr> = None;
        let mut multicast_port: u16 = 1883;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: String| ConfigError::Line {
                line: index + 1,
                reason,
            };
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| error(format!("expected key=value, found {line:?}")))?;
            let (key, value) = (key.trim(), value.trim());
            let number = |what: &str| {
                value
                    .parse::<u64>()
                    .map_err(|_| error(format!("{key}: {what} expected, found {value:?}")))
            };
            let seconds = |config_value: &mut Duration| -> Result<(), ConfigError> {
                *config_value = Duration::from_secs(number("a number of seconds")?);
                Ok(())
            };
            match key {
                "GatewayID" => {
                    config.gateway_id = u8::try_from(number("a number")?)
                        .map_err(|_| error("GatewayID: 0 to 255 [SN-5.3.6-1]".into()))?;
                }
                "GatewayName" => config.gateway_name = value.into(),
                "Listen" => {
                    config.listen = value.parse().map_err(|_| {
                        error(format!("Listen: address:port expected, found {value:?}"))
                    })?;
                }
                "GatewayPortNo" => config.listen.set_port(port(value).map_err(error)?),
                "BrokerName" => config.broker_host = value.into(),
                "BrokerPortNo" => config.broker_port = port(value).map_err(error)?,
                "LoginID" => config.user_name = non_empty(value),
                "BrokerClientId" => config.broker_client_id = non_empty(value),
                "Password" => config.password = non_empty(value),
                "TLS" => config.tls = yes_no(key, value).map_err(error)?,
                "RootCAfile" => config.ca_file = non_empty(value).map(PathBuf::from),
                "AggregatingGateway" => {
                    config.kind = if yes_no(key, value).map_err(error)? {
                        GatewayKind::Aggregating
                    } else {
                        GatewayKind::Transparent
                    };
                }
                "KeepAlive" => seconds(&mut config.broker_keep_alive)?,
                "QoS-1" => config.qos_minus_one = yes_no(key, value).map_err(error)?,
                "Forwarder" => config.forwarder = yes_no(key, value).map_err(error)?,
                "PredefinedTopic" => predefined_on = yes_no(key, value).map_err(error)?,
                "PredefinedTopicList" => predefined_list = non_empty(value).map(PathBuf::from),
                "AdvertiseAddress" => {
                    config.advertise_address = match non_empty(value) {
                        None => None,
                        Some(text) => Some(text.parse().map_err(|_| {
                            error(format!(
                                "AdvertiseAddress: address:port expected, found {text:?}"
                            ))
                        })?),
                    };
                }
                "MulticastIP" => {
                    multicast_ip = Some(value.parse().map_err(|_| {
                        error(format!("MulticastIP: an address expected, found {value:?}"))
                    })?);
                }
                "MulticastPortNo" => multicast_port = port(value).map_err(error)?,
                "MulticastInterface" => {
                    config.multicast_interface = match non_empty(value) {
                        None => Ipv4Addr::UNSPECIFIED,
                        Some(text) => text.parse().map_err(|_| {
                            error(format!(
                                "MulticastInterface: an interface's IPv4 address expected, found {text:?}"
                            ))
                        })?,
                    };
                }
                "AdvertiseInterval" => seconds(&mut config.advertise_interval)?,
                "ReconnectMinDelay" => seconds(&mut config.reconnect_min_delay)?,
                "ReconnectMaxDelay" => seconds(&mut config.reconnect_max_delay)?,
                "RetryInterval" => seconds(&mut config.retry_interval)?,
                "RetryCount" => {
                    config.retry_count = u32::try_from(number("a count")?)
                        .map_err(|_| error("RetryCount: too large".into()))?;
                }
                "MaxBufferedMessages" => {
                    config.max_buffered = usize::try_from(number("a count")?)
                        .map_err(|_| error("MaxBufferedMessages: too large".into()))?;
                }
                "SessionExpiry" => {
                    let seconds = number("a number of seconds")?;
                    config.session_expiry = (seconds > 0).then(|| Duration::from_secs(seconds));
                }
                "MaxNumberOfClients" => {
                    config.max_clients = usize::try_from(number("a count")?)
                        .map_err(|_| error("MaxNumberOfClients: too large".into()))?;
                }
                _ => log::warn!(
                    "configuration line {}: unknown key {key:?} skipped",
                    index + 1
                ),
            }
        }
        if let (None, Some(ip)) = (config.advertise_address, multicast_ip) {
            config.advertise_address = Some(SocketAddr::new(ip, multicast_port));
        }
        // Paho reads the list only when `PredefinedTopic=YES`; naming a list is enough here, but
        // `PredefinedTopic=NO` with a list still turns it off, as there.
        if !predefined_on && text_has_key(text, "PredefinedTopic") {
            predefined_list = None;
        }
        if config.password.is_some() && config.user_name.is_none() {
            return Err(ConfigError::Invalid(
                "Password needs LoginID: MQTT has no password without a user name".into(),
            ));
        }
        if config.retry_interval.is_zero() {
            return Err(ConfigError::Invalid(
                "RetryInterval must be at least 1 s".into(),
            ));
        }
        Ok((config, predefined_list))
    }
}

fn text_has_key(text: &str, wanted: &str) -> bool {
    text.lines()
        .filter_map(|line| line.trim().split_once('='))
        .any(|(key, _)| key.trim() == wanted)
}

fn port(value: &str) -> Result<u16, String> {
    value
        .parse()
        .map_err(|_| format!("a port number expected, found {value:?}"))
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

fn yes_no(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_uppercase().as_str() {
        "YES" | "TRUE" | "1" => Ok(true),
        "NO" | "FALSE" | "0" => Ok(false),
        _ => Err(format!("{key}: YES or NO expected, found {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_to_the_defaults() {
        // The annotated example lists every key at its default; it must stay true to `Default`.
        let text = include_str!("../gateway.conf");
        let (config, list) = Config::parse_text(text).expect("the example parses");
        let default = Config::default();
        assert_eq!(config.gateway_id, default.gateway_id);
        assert_eq!(config.listen, default.listen);
        assert_eq!(config.broker_host, default.broker_host);
        assert_eq!(config.broker_port, default.broker_port);
        assert_eq!(config.kind, default.kind);
        assert_eq!(config.retry_interval, default.retry_interval);
        assert_eq!(config.retry_count, default.retry_count);
        assert_eq!(config.max_buffered, default.max_buffered);
        assert_eq!(config.advertise_interval, default.advertise_interval);
        assert_eq!(config.advertise_address, default.advertise_address);
        assert_eq!(config.session_expiry, default.session_expiry);
        assert_eq!(list, None);
    }

    #[test]
    fn paho_keys_and_our_own_are_read() {
        let config = Config::parse(
            "# a comment\nGatewayID = 7\nAggregatingGateway=YES\nBrokerName=broker.local\n\
             BrokerPortNo=1884\nLoginID=gw\nPassword=secret\nGatewayPortNo=2000\n\
             MulticastIP=225.1.1.1\nMulticastPortNo=1885\nRetryInterval=2\nRetryCount=5\n\
             MaxBufferedMessages=3\nShearedMemory=NO\n",
        )
        .expect("valid");
        assert_eq!(config.gateway_id, 7);
        assert_eq!(config.kind, GatewayKind::Aggregating);
        assert_eq!(config.broker_host, "broker.local");
        assert_eq!(config.broker_port, 1884);
        assert_eq!(config.user_name.as_deref(), Some("gw"));
        assert_eq!(config.listen.port(), 2000);
        assert_eq!(
            config.advertise_address,
            Some("225.1.1.1:1885".parse().expect("address"))
        );
        assert_eq!(config.retry_interval, Duration::from_secs(2));
        assert_eq!(config.retry_count, 5);
        assert_eq!(config.max_buffered, 3);
    }

    #[test]
    fn the_broker_client_id_is_optional() {
        assert_eq!(Config::default().broker_client_id, None);
        let config = Config::parse("BrokerClientId=gw-east").expect("valid");
        assert_eq!(config.broker_client_id.as_deref(), Some("gw-east"));
        assert_eq!(
            Config::parse("BrokerClientId=")
                .expect("valid")
                .broker_client_id,
            None
        );
    }

    #[test]
    fn the_multicast_interface_is_an_ipv4_address() {
        let config = Config::parse("MulticastInterface=192.0.2.7").expect("valid");
        assert_eq!(config.multicast_interface, Ipv4Addr::new(192, 0, 2, 7));
        let config = Config::parse("MulticastInterface=").expect("valid");
        assert_eq!(config.multicast_interface, Ipv4Addr::UNSPECIFIED);
        assert!(Config::parse("MulticastInterface=eth0").is_err());
    }

    #[test]
    fn session_expiry_is_in_seconds_and_zero_means_forever() {
        let config = Config::parse("SessionExpiry=120").expect("valid");
        assert_eq!(config.session_expiry, Some(Duration::from_secs(120)));
        let config = Config::parse("SessionExpiry=0").expect("valid");
        assert_eq!(config.session_expiry, None);
    }

    #[test]
    fn ipv6_listen_address() {
        let config = Config::parse("Listen=[::1]:10001").expect("valid");
        assert_eq!(config.listen, "[::1]:10001".parse().expect("address"));
    }

    #[test]
    fn mistakes_name_their_line() {
        let error = Config::parse("GatewayID=1\nBrokerPortNo=http\n").expect_err("refused");
        assert!(error.to_string().starts_with("line 2:"), "{error}");
        let error = Config::parse("GatewayID=300").expect_err("refused");
        assert!(error.to_string().contains("SN-5.3.6-1"), "{error}");
        assert!(Config::parse("just words").is_err());
        assert!(Config::parse("Password=x").is_err());
    }
}

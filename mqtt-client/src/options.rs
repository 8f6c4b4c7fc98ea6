//! [`ConnectOptions`] and its builder: everything the client needs to know before it connects.
//!
//! The options map onto the CONNECT packet (3.1.1 §3.1: client id, clean session, keep-alive, will,
//! user name and password, protocol level) and onto the client's own behaviour (connect timeout, TLS,
//! reconnection, in-flight window, offline buffer). [`ConnectOptionsBuilder::build`] checks the rules
//! that can be checked before any byte is sent, so that a mistake is reported as the application's,
//! not discovered as a refusal from the server.
//!
//! This file does not open connections (`transport.rs`) or speak the protocol (`session/`).

use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mqtt_codec::{ProtocolLevel, QoS, TopicName};

use crate::Error;
use crate::v5::{
    Authenticator, ConnectProperties, DisconnectProperties, PublishProperties, SharedAuthenticator,
};

/// How to connect, and how to behave once connected. Made with [`ConnectOptions::builder`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) client_id: String,
    pub(crate) clean_session: bool,
    pub(crate) keep_alive: Duration,
    pub(crate) will: Option<LastWill>,
    pub(crate) user_name: Option<String>,
    pub(crate) password: Option<Vec<u8>>,
    pub(crate) level: ProtocolLevel,
    pub(crate) connect_timeout: Duration,
    pub(crate) tls: Option<TlsOptions>,
    pub(crate) reconnect: Option<ReconnectOptions>,
    pub(crate) max_inflight: usize,
    pub(crate) max_queued: usize,
    pub(crate) bridge: bool,
    /// `Some` to speak MQTT 5.0, with these CONNECT properties; `level` is then unused.
    pub(crate) v5: Option<ConnectProperties>,
    /// The will's 5.0 properties.
    pub(crate) will_properties: PublishProperties,
    /// The enhanced-authentication hook (5.0 §4.12).
    pub(crate) authenticator: Option<SharedAuthenticator>,
    /// The 5.0 properties of the DISCONNECT sent by `disconnect`.
    pub(crate) disconnect_properties: DisconnectProperties,
}

/// The will: a message the server publishes for the client if the connection ends without a
/// DISCONNECT (3.1.1 §3.1.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Where the will is published; a topic name, so no wildcards.
    pub topic: String,
    /// What is published.
    pub payload: Vec<u8>,
    /// Its QoS.
    pub qos: QoS,
    /// Whether the server retains it.
    pub retain: bool,
}

/// TLS settings. The server certificate is always verified against a trust anchor; only the host
/// name check can be turned off ([`TlsOptions::insecure`], mosquitto's `--insecure`).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) client_auth: Option<(PathBuf, PathBuf)>,
    pub(crate) insecure: bool,
    pub(crate) config: Option<Arc<rustls::ClientConfig>>,
    pub(crate) ca_path: Option<PathBuf>,
    pub(crate) tls13_only: bool,
    pub(crate) ciphers: Option<Vec<String>>,
    pub(crate) alpn: Vec<Vec<u8>>,
}

impl TlsOptions {
    /// Trust the certificates of the operating system's CA bundle.
    pub fn system() -> Self {
        Self::default()
    }

    /// Trust the CA certificates in the PEM file `path` instead of the system's (mosquitto's
    /// `--cafile`).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Present the certificate chain in PEM file `cert`, with the private key in PEM file `key`
    /// (mosquitto's `--cert` and `--key`).
    pub fn client_auth(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_auth = Some((cert.into(), key.into()));
        self
    }

    /// Accept a server certificate whose name does not match the host (mosquitto's `--insecure`).
    /// The chain is still verified. For testing only.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Also trust the CA certificates of every PEM file in the directory `path` (mosquitto's
    /// `--capath`). Files that hold no certificate are skipped.
    pub fn ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_path = Some(path.into());
        self
    }

    /// Refuse TLS 1.2, speaking TLS 1.3 only (mosquitto's `--tls-version tlsv1.3`; by default 1.2
    /// and 1.3 are both offered).
    pub fn tls13_only(mut self, only: bool) -> Self {
        self.tls13_only = only;
        self
    }

    /// Offer only these TLS 1.2 cipher suites, by OpenSSL name (`ECDHE-RSA-AES128-GCM-SHA256`) or
    /// IANA name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`), as mosquitto's `--ciphers` does with
    /// OpenSSL's list: the TLS 1.3 suites are kept unless one is named. An unknown name makes the
    /// connection fail with [`crate::Error::Tls`] naming it.
    pub fn ciphers(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.ciphers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Offer this protocol in the ALPN extension (mosquitto's `--tls-alpn`); may be repeated.
    pub fn alpn(mut self, protocol: impl Into<Vec<u8>>) -> Self {
        self.alpn.push(protocol.into());
        self
    }

    /// Use a ready-made rustls configuration; the other settings are then ignored.
    pub fn rustls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.config = Some(config);
        self
    }
}

/// Automatic reconnection: how long to wait between attempts (see `reconnect.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectOptions {
    /// The first delay; each failed attempt doubles it.
    pub min_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl ConnectOptions {
    /// A builder for a connection to `host`:`port`, with every other option at its default.
    pub fn builder(host: impl Into<String>, port: u16) -> ConnectOptionsBuilder {
        ConnectOptionsBuilder {
            options: Self {
                host: host.into(),
                port,
                client_id: String::new(),
                clean_session: true,
                keep_alive: Duration::from_secs(60),
                will: None,
                user_name: None,
                password: None,
                level: ProtocolLevel::Mqtt311,
                connect_timeout: Duration::from_secs(10),
                tls: None,
                reconnect: None,
                max_inflight: 20,
                max_queued: 1000,
                bridge: false,
                v5: None,
                will_properties: PublishProperties::default(),
                authenticator: None,
                disconnect_properties: DisconnectProperties::default(),
            },
            client_id_set: false,
        }
    }

    /// The server's host name or address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The client identifier sent in CONNECT: the one given, or the one generated.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The protocol level.
    pub fn level(&self) -> ProtocolLevel {
        self.level
    }

    /// Whether the connection speaks MQTT 5.0.
    pub fn is_mqtt5(&self) -> bool {
        self.v5.is_some()
    }

    /// The 5.0 CONNECT properties, when speaking 5.0.
    pub fn connect_properties(&self) -> Option<&ConnectProperties> {
        self.v5.as_ref()
    }

    /// The keep-alive interval; zero turns keep-alive off (3.1.1 §3.1.2.10).
    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// How many QoS 1 and 2 messages may await acknowledgement at once.
    pub fn max_inflight(&self) -> usize {
        self.max_inflight
    }

    /// How many messages may wait for room in the in-flight window, or for the connection to come back.
    pub fn max_queued(&self) -> usize {
        self.max_queued
    }
}

/// Builds [`ConnectOptions`]; each method sets one option and returns the builder.
#[derive(Debug, Clone)]
pub struct ConnectOptionsBuilder {
    options: ConnectOptions,
    client_id_set: bool,
}

impl ConnectOptionsBuilder {
    /// The client identifier. Without one, a random identifier of 23 characters is generated, which
    /// every server must accept at both levels ([MQTT-3.1.3-5], 3.1 §3.1).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.options.client_id = id.into();
        self.client_id_set = true;
        self
    }

    /// Whether the server discards any previous session and keeps none afterwards (default true)
    /// [MQTT-3.1.2-6]; false resumes the session [MQTT-3.1.2-4].
    pub fn clean_session(mut self, clean: bool) -> Self {
        self.options.clean_session = clean;
        self
    }

    /// The keep-alive interval, in whole seconds up to 65 535 (default 60 s); zero turns it off.
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.options.keep_alive = interval;
        self
    }

    /// The will message.
    pub fn will(mut self, will: LastWill) -> Self {
        self.options.will = Some(will);
        self
    }

    /// The user name, and optionally a password.
    pub fn credentials(mut self, user_name: impl Into<String>, password: Option<Vec<u8>>) -> Self {
        self.options.user_name = Some(user_name.into());
        self.options.password = password;
        self
    }

    /// The protocol level (default MQTT 3.1.1); for MQTT 5.0 use [`mqtt5`](Self::mqtt5), which
    /// takes precedence.
    pub fn level(mut self, level: ProtocolLevel) -> Self {
        self.options.level = level;
        self
    }

    /// How long to wait for the TCP connection, the TLS handshake and the CONNACK (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }

    /// Connect over TLS.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.options.tls = Some(tls);
        self
    }

    /// Reconnect automatically when an established connection is lost, waiting between `min_delay`
    /// and `max_delay` (doubling, with jitter) between attempts. While disconnected, publications are
    /// kept in the offline buffer.
    pub fn reconnect(mut self, min_delay: Duration, max_delay: Duration) -> Self {
        self.options.reconnect = Some(ReconnectOptions {
            min_delay,
            max_delay: max_delay.max(min_delay),
        });
        self
    }

    /// How many QoS 1 and 2 messages may await acknowledgement at once (default 20, as mosquitto).
    pub fn max_inflight(mut self, window: usize) -> Self {
        self.options.max_inflight = window;
        self
    }

    /// How many messages may wait behind a full window or a lost connection (default 1000).
    pub fn max_queued(mut self, capacity: usize) -> Self {
        self.options.max_queued = capacity;
        self
    }

    /// Announce this connection as a broker bridging to the server (default false): the top bit of
    /// the protocol level is set, as mosquitto's `try_private` does, so that a server which knows
    /// the convention does not send back the messages this connection publishes. A server that does
    /// not know it refuses the connection with CONNACK 1 (unacceptable protocol version).
    pub fn bridge(mut self, bridge: bool) -> Self {
        self.options.bridge = bridge;
        self
    }

    /// Speak MQTT 5.0 instead of the level set by [`level`](Self::level), with these CONNECT
    /// properties (session expiry, receive maximum, maximum packet size, topic alias maximum, user
    /// properties; `ConnectProperties::default()` for none).
    pub fn mqtt5(mut self, properties: ConnectProperties) -> Self {
        self.options.v5 = Some(properties);
        self
    }

    /// The will's MQTT 5.0 properties (will delay, message expiry, content type, ...); needs
    /// [`mqtt5`](Self::mqtt5) and a [`will`](Self::will).
    pub fn will_properties(mut self, properties: PublishProperties) -> Self {
        self.options.will_properties = properties;
        self
    }

    /// Authenticate with an MQTT 5.0 enhanced-authentication method (5.0 §4.12): the session calls
    /// `authenticator` for the data of CONNECT and of each AUTH the server's challenges need.
    pub fn authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.options.authenticator = Some(SharedAuthenticator(authenticator));
        self
    }

    /// The MQTT 5.0 properties of the DISCONNECT that [`Client::disconnect`](crate::Client::disconnect)
    /// sends: a new session expiry interval, user properties. Needs [`mqtt5`](Self::mqtt5).
    pub fn disconnect_properties(mut self, properties: DisconnectProperties) -> Self {
        self.options.disconnect_properties = properties;
        self
    }

    /// Checks the options and returns them.
    pub fn build(mut self) -> Result<ConnectOptions, Error> {
        let options = &mut self.options;
        if !self.client_id_set {
            options.client_id = generated_client_id();
        }
        if options.keep_alive > Duration::from_secs(u64::from(u16::MAX)) {
            return Err(invalid(
                "keep-alive is longer than 65535 seconds (3.1.1 §3.1.2.10)",
            ));
        }
        if options.v5.is_none()
            && (options.authenticator.is_some() || !options.will_properties.is_empty())
        {
            return Err(invalid(
                "will properties and enhanced authentication need MQTT 5.0",
            ));
        }
        if options.v5.is_none() && options.disconnect_properties != DisconnectProperties::default()
        {
            return Err(invalid("DISCONNECT properties need MQTT 5.0"));
        }
        let connect_expiry = options
            .v5
            .as_ref()
            .and_then(|v5| v5.session_expiry_interval)
            .unwrap_or(0);
        if connect_expiry == 0
            && options
                .disconnect_properties
                .session_expiry_interval
                .is_some_and(|expiry| expiry != 0)
        {
            return Err(invalid(
                "a session that expires with the connection cannot be given an expiry on DISCONNECT [MQTT5-3.14.2-2]",
            ));
        }
        if !options.will_properties.is_empty() && options.will.is_none() {
            return Err(invalid("will properties need a will"));
        }
        if let Some(properties) = &options.v5 {
            // A zero would be a protocol error on the wire (5.0 §3.1.2.11.3, §3.1.2.11.4).
            if properties.receive_maximum == Some(0) {
                return Err(invalid("the receive maximum must be at least 1"));
            }
            if properties.maximum_packet_size == Some(0) {
                return Err(invalid("the maximum packet size must be at least 1"));
            }
        }
        if options.v5.is_none() && options.client_id.is_empty() && !options.clean_session {
            return Err(invalid(
                "an empty client id needs a clean session [MQTT-3.1.3-7]",
            ));
        }
        if options.level == ProtocolLevel::Mqtt31
            && options.v5.is_none()
            && !(1..=23).contains(&options.client_id.chars().count())
        {
            return Err(invalid(
                "MQTT 3.1 needs a client id of 1 to 23 characters ([V31-DIFF-5], [V31-DIFF-6])",
            ));
        }
        if let Some(will) = &options.will {
            TopicName::new(&will.topic)?;
        }
        if options.password.is_some() && options.user_name.is_none() {
            return Err(invalid("a password needs a user name [MQTT-3.1.2-22]"));
        }
        if options.max_inflight == 0 {
            return Err(invalid(
                "the in-flight window must hold at least one message",
            ));
        }
        Ok(self.options)
    }
}

fn invalid(why: &str) -> Error {
    Error::InvalidOptions(why.to_owned())
}

/// A random client id of exactly 23 characters, the longest every server must accept.
fn generated_client_id() -> String {
    format!("mqttrs-{:016x}", random_u64())
}

/// A random number from the standard library's per-process random hash keys: enough for client ids
/// and backoff jitter, without a dependency on a random number crate.
pub(crate) fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_client_id_fits_mqtt_3_1() {
        let options = ConnectOptions::builder("localhost", 1883)
            .level(ProtocolLevel::Mqtt31)
            .build();
        let options = options.expect("defaults are valid");
        assert_eq!(options.client_id().len(), 23);
        assert!(options.client_id().starts_with("mqttrs-"));
    }

    #[test]
    fn two_generated_ids_differ() {
        assert_ne!(generated_client_id(), generated_client_id());
    }

    #[test]
    fn empty_client_id_needs_clean_session_mqtt_3_1_3_7() {
        let result = ConnectOptions::builder("h", 1)
            .client_id("")
            .clean_session(false)
            .build();
        assert!(matches!(result, Err(Error::InvalidOptions(why)) if why.contains("MQTT-3.1.3-7")));
    }

    #[test]
    fn mqtt_3_1_client_id_is_at_most_23_characters() {
        let result = ConnectOptions::builder("h", 1)
            .level(ProtocolLevel::Mqtt31)
            .client_id("abcdefghijklmnopqrstuvwx")
            .build();
        assert!(matches!(result, Err(Error::InvalidOptions(_))));
    }

    #[test]
    fn will_topic_must_be_a_topic_name() {
        let result = ConnectOptions::builder("h", 1)
            .will(LastWill {
                topic: "a/#".into(),
                payload: vec![],
                qos: QoS::AtMostOnce,
                retain: false,
            })
            .build();
        assert!(matches!(result, Err(Error::InvalidTopic(_))));
    }

    #[test]
    fn keep_alive_fits_two_bytes() {
        let result = ConnectOptions::builder("h", 1)
            .keep_alive(Duration::from_secs(70_000))
            .build();
        assert!(matches!(result, Err(Error::InvalidOptions(_))));
    }
}

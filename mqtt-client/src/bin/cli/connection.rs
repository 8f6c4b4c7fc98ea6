//! How the parsed options become the library's [`ConnectOptions`]: host and port (or a `-L`
//! URL), credentials, TLS, the will, and the 5.0 connection properties.

use std::time::Duration;

use mqtt_client::{ConnectOptions, LastWill, ProtocolLevel, QoS, TlsOptions};

use super::mqtt5;
use super::options::{PubArgs, SubArgs, VersionArg};

/// What `-V 5`, `-D` and `-x` ask of an MQTT 5.0 connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mqtt5 {
    /// The `-D` properties, by packet.
    pub(crate) properties: mqtt5::Properties,
    /// `-x`, read.
    pub(crate) session_expiry: Option<u32>,
}

/// The connection options both tools share, as parsed.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    /// `-h`
    pub(crate) host: String,
    /// `-p`
    pub(crate) port: Option<u16>,
    /// `-i`
    pub(crate) id: Option<String>,
    /// `-I`
    pub(crate) id_prefix: Option<String>,
    /// `-k`
    pub(crate) keepalive: u16,
    /// `-c`
    pub(crate) disable_clean_session: bool,
    /// `-u`
    pub(crate) username: Option<String>,
    /// `-P`
    pub(crate) pw: Option<String>,
    /// `-V` at 3.1 / 3.1.1 (unused at 5.0)
    pub(crate) protocol_version: ProtocolLevel,
    /// `-V 5`, `-D`, `-x`: `Some` to speak MQTT 5.0
    pub(crate) v5: Option<Mqtt5>,
    /// `--will-topic`
    pub(crate) will_topic: Option<String>,
    /// `--will-payload`
    pub(crate) will_payload: Option<String>,
    /// `--will-qos`
    pub(crate) will_qos: Option<QoS>,
    /// `--will-retain`
    pub(crate) will_retain: bool,
    /// `--cafile`
    pub(crate) cafile: Option<String>,
    /// `--tls-use-os-certs`
    pub(crate) tls_use_os_certs: bool,
    /// `--cert`
    pub(crate) cert: Option<String>,
    /// `--key`
    pub(crate) key: Option<String>,
    /// `--insecure`
    pub(crate) insecure: bool,
    /// `--capath`
    pub(crate) capath: Option<String>,
    /// `--ciphers`
    pub(crate) ciphers: Option<String>,
    /// `--tls-version`
    pub(crate) tls_version: Option<String>,
    /// `--tls-alpn`
    pub(crate) tls_alpn: Option<String>,
    /// `-L`
    pub(crate) url: Option<String>,
    /// Why the options cannot be used (a bad `-D` or `-x`, an unsupported option), if they
    /// cannot.
    pub(crate) refused: Option<String>,
}

/// What `-L mqtt(s)://[user[:password]@]host[:port]/topic` says, parsed as mosquitto does: the
/// topic is everything after the first `/`, the credentials everything before the last `@`, and
/// nothing is percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// `mqtts://`
    pub(crate) tls: bool,
    /// The host.
    pub(crate) host: String,
    /// The port, or the scheme's (1883, 8883).
    pub(crate) port: u16,
    /// The user name and password, if given.
    pub(crate) username: Option<String>,
    /// The password, if given.
    pub(crate) password: Option<String>,
    /// The topic (a filter for `mqtt-sub`).
    pub(crate) topic: String,
}

impl Url {
    /// Parses `-L`'s argument, or says what is wrong with it.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let lower = url.to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("mqtt://") {
            (false, &url[7..])
        } else if lower.starts_with("mqtts://") {
            (true, &url[8..])
        } else {
            return Err("unsupported URL scheme in -L (mqtt:// or mqtts://)".into());
        };
        let Some((authority, topic)) = rest.split_once('/') else {
            return Err("invalid URL for -L: topic missing".into());
        };
        let (credentials, address) = match authority.rsplit_once('@') {
            Some((credentials, address)) => (Some(credentials), address),
            None => (None, authority),
        };
        let (username, password) = match credentials {
            None => (None, None),
            Some(credentials) => match credentials.split_once(':') {
                Some((user, password)) => (Some(user.to_owned()), Some(password.to_owned())),
                None => (Some(credentials.to_owned()), None),
            },
        };
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .map_err(|_| format!("invalid port {port:?} in -L"))?,
            ),
            None => (address, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() {
            return Err("invalid URL for -L: host missing".into());
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            username,
            password,
            topic: topic.to_owned(),
        })
    }
}

impl Connection {
    /// The library's options for these command-line options, or the usage error mosquitto would
    /// print for them.
    pub(crate) fn connect_options(&self) -> Result<mqtt_client::ConnectOptionsBuilder, String> {
        if let Some(why) = &self.refused {
            return Err(why.clone());
        }
        let url = self.url.as_deref().map(Url::parse).transpose()?;
        let tls = self.cafile.is_some()
            || self.capath.is_some()
            || self.tls_use_os_certs
            || url.as_ref().is_some_and(|url| url.tls);
        if !tls
            && (self.cert.is_some()
                || self.key.is_some()
                || self.insecure
                || self.ciphers.is_some()
                || self.tls_version.is_some()
                || self.tls_alpn.is_some())
        {
            return Err("--cert, --key, --insecure, --ciphers, --tls-version and --tls-alpn need --cafile, --capath or --tls-use-os-certs".into());
        }
        if self.cert.is_some() != self.key.is_some() {
            return Err("--cert and --key must be given together".into());
        }
        let tls13_only = match self.tls_version.as_deref() {
            None | Some("tlsv1.2" | "tlsv1.1") => false,
            Some("tlsv1.3") => true,
            Some(other) => {
                return Err(format!(
                    "--tls-version must be tlsv1.3, tlsv1.2 or tlsv1.1, not {other:?}"
                ));
            }
        };
        let (host, port) = match &url {
            Some(url) => (url.host.clone(), url.port),
            None => (
                self.host.clone(),
                self.port.unwrap_or(if tls { 8883 } else { 1883 }),
            ),
        };
        let (username, pw) = match &url {
            Some(url) if url.username.is_some() => (url.username.clone(), url.password.clone()),
            _ => (self.username.clone(), self.pw.clone()),
        };
        let mut builder = ConnectOptions::builder(host, port)
            .keep_alive(Duration::from_secs(self.keepalive.into()))
            .clean_session(!self.disable_clean_session)
            .level(self.protocol_version);
        match (&self.id, &self.id_prefix) {
            (Some(_), Some(_)) => return Err("-i and -I cannot be used together".into()),
            (Some(id), None) => builder = builder.client_id(id.clone()),
            (None, Some(prefix)) => {
                builder = builder.client_id(format!("{prefix}{}", std::process::id()));
            }
            (None, None) if self.disable_clean_session => {
                return Err(
                    "you must provide a client id (-i) if you are using the -c option".into(),
                );
            }
            (None, None) => {}
        }
        // `-D connect authentication-method SCRAM-SHA-256`: -u and -P feed the exchange, and the
        // password stays out of CONNECT, which is the point of SCRAM.
        let scram = self
            .v5
            .as_ref()
            .and_then(|v5| v5.properties.authentication.as_ref())
            .is_some_and(|(method, _)| method == mqtt_scram::METHOD);
        match (&username, &pw) {
            (Some(user), Some(pw)) if scram => {
                let scram = mqtt_client::Scram::new(user.clone(), pw.clone())
                    .map_err(|error| error.to_string())?;
                builder = builder.authenticator(std::sync::Arc::new(scram));
            }
            _ if scram => {
                return Err("authentication-method SCRAM-SHA-256 needs -u and -P".into());
            }
            (Some(user), pw) => {
                builder = builder.credentials(user.clone(), pw.clone().map(String::into_bytes));
            }
            (None, Some(_)) => return Err("a password (-P) needs a user name (-u)".into()),
            (None, None) => {}
        }
        match &self.will_topic {
            Some(topic) => {
                builder = builder.will(LastWill {
                    topic: topic.clone(),
                    payload: self.will_payload.clone().unwrap_or_default().into_bytes(),
                    qos: self.will_qos.unwrap_or(QoS::AtMostOnce),
                    retain: self.will_retain,
                });
            }
            None if self.will_payload.is_some() || self.will_qos.is_some() || self.will_retain => {
                return Err("will options given, but no --will-topic".into());
            }
            None => {}
        }
        if tls {
            let mut options = TlsOptions::system()
                .insecure(self.insecure)
                .tls13_only(tls13_only);
            if let Some(cafile) = &self.cafile {
                options = options.ca_file(cafile);
            }
            if let Some(capath) = &self.capath {
                options = options.ca_path(capath);
            }
            if let Some(ciphers) = &self.ciphers {
                options = options.ciphers(
                    ciphers
                        .split([':', ',', ' '])
                        .filter(|name| !name.is_empty()),
                );
            }
            if let Some(alpn) = &self.tls_alpn {
                options = options.alpn(alpn.as_bytes());
            }
            if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
                options = options.client_auth(cert, key);
            }
            builder = builder.tls(options);
        }
        if let Some(v5) = &self.v5 {
            builder = self.mqtt5_options(builder, v5)?;
        }
        Ok(builder)
    }

    /// The 5.0 part of [`connect_options`](Self::connect_options): the CONNECT, will and
    /// DISCONNECT properties of `-D`, the session expiry of `-x` (or of `-c`: a session that never
    /// expires, as mosquitto's tools ask for), and `-D connect authentication-method` (but for
    /// SCRAM-SHA-256, whose authenticator `connect_options` makes from -u and -P).
    fn mqtt5_options(
        &self,
        mut builder: mqtt_client::ConnectOptionsBuilder,
        v5: &Mqtt5,
    ) -> Result<mqtt_client::ConnectOptionsBuilder, String> {
        let mut connect = v5.properties.connect.clone();
        let expiry = v5.session_expiry.or(connect.session_expiry_interval).or(
            // mosquitto: -c without -x keeps the session for ever.
            self.disable_clean_session.then_some(u32::MAX),
        );
        if expiry == Some(u32::MAX) && self.id.is_none() && self.id_prefix.is_none() {
            return Err(
                "a client id (-i) is needed for a session that never expires (-c or -x -1)".into(),
            );
        }
        connect.session_expiry_interval = expiry;
        builder = builder.mqtt5(connect);
        if !v5.properties.will.is_empty() {
            if self.will_topic.is_none() {
                return Err("-D will given, but no --will-topic".into());
            }
            builder = builder.will_properties(v5.properties.will.clone());
        }
        if v5.properties.disconnect != mqtt_client::v5::DisconnectProperties::default() {
            builder = builder.disconnect_properties(v5.properties.disconnect.clone());
        }
        if let Some((method, data)) = &v5.properties.authentication {
            if method.is_empty() {
                return Err("authentication-data needs an authentication-method".into());
            }
            if method == mqtt_scram::METHOD {
                // The Scram authenticator of `connect_options` computes every message.
                if data.is_some() {
                    return Err("SCRAM-SHA-256 computes its own authentication-data".into());
                }
                return Ok(builder);
            }
            builder = builder.authenticator(mqtt5::FixedAuthentication::shared(
                method.clone(),
                data.clone(),
            ));
        }
        Ok(builder)
    }
}

/// Writes `connection` and `refused` for an argument struct declared with the shared connection
/// options below: the same code for both tools, over the same field names.
macro_rules! impl_connection {
    ($name:ident, $tool:expr) => {
        impl $name {
            /// The options both tools share.
            pub(crate) fn connection(&self) -> Connection {
                let (v5, v5_error) = match self.mqtt5() {
                    Ok(v5) => (v5, None),
                    Err(why) => (None, Some(why)),
                };
                let protocol_version = match self.protocol_version {
                    Some(VersionArg::Mqtt3(level)) => level,
                    _ => ProtocolLevel::Mqtt311,
                };
                Connection {
                    host: self.host.clone(),
                    port: self.port,
                    id: self.id.clone(),
                    id_prefix: self.id_prefix.clone(),
                    keepalive: self.keepalive,
                    disable_clean_session: self.disable_clean_session,
                    username: self.username.clone(),
                    pw: self.pw.clone(),
                    protocol_version,
                    v5,
                    will_topic: self.will_topic.clone(),
                    will_payload: self.will_payload.clone(),
                    will_qos: self.will_qos.map(|qos| qos.0),
                    will_retain: self.will_retain,
                    cafile: self.cafile.clone(),
                    tls_use_os_certs: self.tls_use_os_certs,
                    cert: self.cert.clone(),
                    key: self.key.clone(),
                    insecure: self.insecure,
                    capath: self.capath.clone(),
                    ciphers: self.ciphers.clone(),
                    tls_version: self.tls_version.clone(),
                    tls_alpn: self.tls_alpn.clone(),
                    url: self.url.clone(),
                    refused: v5_error.or_else(|| self.refused()),
                }
            }

            /// The MQTT 5.0 settings, or `None` to speak 3.1 / 3.1.1: `-V 5`, or `-D` unless `-V`
            /// names a 3.x level (mosquitto lets the later of `-V` and `-D` win; argh does not
            /// keep their order, so an explicit 3.x `-V` wins here). `-x` alone does not change
            /// the level, as with mosquitto, and is ignored at 3.x.
            fn mqtt5(&self) -> Result<Option<Mqtt5>, String> {
                // Parsed even when ignored, so that a mistake in -D is always reported.
                let properties = mqtt5::parse($tool, &self.property, &self.rest)?;
                let speak5 = match self.protocol_version {
                    Some(VersionArg::Mqtt5) => true,
                    Some(VersionArg::Mqtt3(_)) => false,
                    None => !self.property.is_empty(),
                };
                if !speak5 {
                    if !self.property.is_empty() || self.session_expiry_interval.is_some() {
                        log::debug!("-D and -x apply to MQTT 5.0 only: ignored");
                    }
                    return Ok(None);
                }
                let session_expiry = self
                    .session_expiry_interval
                    .as_deref()
                    .map(mqtt5::session_expiry)
                    .transpose()?;
                Ok(Some(Mqtt5 {
                    properties,
                    session_expiry,
                }))
            }

            /// Why the options cannot be used, if they cannot: an option this tool does not have.
            /// (Stray words are found with the words of `-D`.)
            fn refused(&self) -> Option<String> {
                let unsupported = [
                    ("-A", self.bind_address.is_some()),
                    ("--unix", self.unix.is_some()),
                    ("--proxy", self.proxy.is_some()),
                    ("--psk", self.psk.is_some() || self.psk_identity.is_some()),
                    (
                        "--tls-engine",
                        self.tls_engine.is_some()
                            || self.keyform.is_some()
                            || self.tls_engine_kpass_sha1.is_some(),
                    ),
                ];
                unsupported
                    .iter()
                    .find(|(_, given)| *given)
                    .map(|(name, _)| format!("{name} is not supported by this tool"))
            }
        }
    };
}

impl_connection!(PubArgs, mqtt5::Tool::Pub);
impl_connection!(SubArgs, mqtt5::Tool::Sub);

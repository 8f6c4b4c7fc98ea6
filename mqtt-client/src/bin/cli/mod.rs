//! What `mqtt-pub` and `mqtt-sub` share: their mosquitto-compatible options, how they become
//! [`ConnectOptions`], the `-F` output format, exit codes, and the two programs' main loops.
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

use std::fs;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argh::{FromArgValue, FromArgs};
use mqtt_codec::{TopicFilter, TopicName};

pub(crate) use format::format_message_with;

use mqtt_client::v5::{SubscribeOptions, SubscribeProperties};
use mqtt_client::{
    Client, ConnectOptions, Error, LastWill, Notification, ProtocolLevel, QoS, SubAckReturnCode,
    TlsOptions,
};

/// The exit code of `mqtt-sub` when `-W` expires, as mosquitto's (`MOSQ_ERR_TIMEOUT`).
pub(crate) const EXIT_TIMEOUT: u8 = 27;

mod format;
pub(crate) mod mqtt5;

/// A QoS given on the command line: `0`, `1` or `2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QosArg(pub QoS);

impl FromArgValue for QosArg {
    fn from_arg_value(value: &str) -> Result<Self, String> {
        match value {
            "0" => Ok(Self(QoS::AtMostOnce)),
            "1" => Ok(Self(QoS::AtLeastOnce)),
            "2" => Ok(Self(QoS::ExactlyOnce)),
            _ => Err("QoS must be 0, 1 or 2".into()),
        }
    }
}

/// A protocol version given with `-V`: `mqttv5` (or `5`), `mqttv311` (or `311`), `mqttv31` (or
/// `31`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionArg {
    /// MQTT 3.1 or 3.1.1.
    Mqtt3(ProtocolLevel),
    /// MQTT 5.0.
    Mqtt5,
}

impl FromArgValue for VersionArg {
    fn from_arg_value(value: &str) -> Result<Self, String> {
        match value {
            "mqttv31" | "31" => Ok(Self::Mqtt3(ProtocolLevel::Mqtt31)),
            "mqttv311" | "311" => Ok(Self::Mqtt3(ProtocolLevel::Mqtt311)),
            "mqttv5" | "5" => Ok(Self::Mqtt5),
            _ => Err("the protocol version must be mqttv5, mqttv311 or mqttv31".into()),
        }
    }
}

// The options of both tools: one block of connection options (mosquitto's, shared by
// `mosquitto_pub` and `mosquitto_sub`), then each tool's own. argh cannot flatten structs, hence
// the macro (from `tool-support`, which the MQTT-SN tools use the same way).
tool_support::with_shared_options! {
    shared {
        /// the host to connect to (default localhost)
        #[argh(option, short = 'h', default = "String::from(\"localhost\")")]
        pub(crate) host: String,
        /// the port to connect to (default 1883, or 8883 with TLS)
        #[argh(option, short = 'p')]
        pub(crate) port: Option<u16>,
        /// the client id (default: a random one)
        #[argh(option, short = 'i')]
        pub(crate) id: Option<String>,
        /// a client id prefix; the process id is appended to it
        #[argh(option, short = 'I')]
        pub(crate) id_prefix: Option<String>,
        /// the keep-alive in seconds (default 60)
        #[argh(option, short = 'k', default = "60")]
        pub(crate) keepalive: u16,
        /// keep the session when disconnected: a persistent session (needs -i)
        #[argh(switch, short = 'c')]
        pub(crate) disable_clean_session: bool,
        /// the quality of service: 0, 1 or 2 (default 0)
        #[argh(option, short = 'q', default = "QosArg(QoS::AtMostOnce)")]
        pub(crate) qos: QosArg,
        /// the user name
        #[argh(option, short = 'u')]
        pub(crate) username: Option<String>,
        /// the password (needs -u)
        #[argh(option, short = 'P')]
        pub(crate) pw: Option<String>,
        /// print debugging messages to stderr
        #[argh(switch, short = 'd')]
        pub(crate) debug: bool,
        /// the protocol version: mqttv5 (or 5), mqttv311 (or 311) or mqttv31 (or 31); default
        /// mqttv311, or mqttv5 when -D is given
        #[argh(option, short = 'V')]
        pub(crate) protocol_version: Option<VersionArg>,
        /// the topic of the will, published if the connection ends without DISCONNECT
        #[argh(option)]
        pub(crate) will_topic: Option<String>,
        /// the payload of the will (default empty)
        #[argh(option)]
        pub(crate) will_payload: Option<String>,
        /// the QoS of the will (default 0)
        #[argh(option)]
        pub(crate) will_qos: Option<QosArg>,
        /// retain the will
        #[argh(switch)]
        pub(crate) will_retain: bool,
        /// connect with TLS, trusting the CA certificates in this PEM file
        #[argh(option)]
        pub(crate) cafile: Option<String>,
        /// connect with TLS, trusting the operating system's CA certificates
        #[argh(switch)]
        pub(crate) tls_use_os_certs: bool,
        /// the client certificate (PEM), for servers that ask for one (needs --key)
        #[argh(option)]
        pub(crate) cert: Option<String>,
        /// the private key of --cert (PEM)
        #[argh(option)]
        pub(crate) key: Option<String>,
        /// do not check that the server certificate names the host (testing only)
        #[argh(switch)]
        pub(crate) insecure: bool,
        /// connect with TLS, trusting the CA certificates in the PEM files of this directory
        #[argh(option)]
        pub(crate) capath: Option<String>,
        /// the TLS 1.2 cipher suites to offer, ':'-separated OpenSSL names
        #[argh(option)]
        pub(crate) ciphers: Option<String>,
        /// the lowest TLS version: tlsv1.3, tlsv1.2 (default) or tlsv1.1 (means tlsv1.2 here)
        #[argh(option)]
        pub(crate) tls_version: Option<String>,
        /// the ALPN protocol to offer in the TLS handshake
        #[argh(option)]
        pub(crate) tls_alpn: Option<String>,
        /// `-L`: host, port, credentials and topic in one URL (see [`Url`]).
        #[argh(
            option,
            short = 'L',
            description = "mqtt://[user[:password]@]host[:port]/topic (mqtts:// for TLS) instead of -h -p -u -P -t"
        )]
        pub(crate) url: Option<String>,
        /// do not print error messages
        #[argh(switch)]
        pub(crate) quiet: bool,
        /// accepted as mosquitto's: TCP_NODELAY is always on
        #[argh(switch)]
        #[allow(dead_code, reason = "parsed so that mosquitto's scripts run; there is nothing to do")]
        pub(crate) nodelay: bool,
        /// not supported: binding to a local address
        #[argh(option, short = 'A', hidden_help)]
        pub(crate) bind_address: Option<String>,
        /// not supported: Unix domain sockets
        #[argh(option, hidden_help)]
        pub(crate) unix: Option<String>,
        /// not supported: SOCKS5 proxies
        #[argh(option, hidden_help)]
        pub(crate) proxy: Option<String>,
        /// not supported: TLS-PSK
        #[argh(option, hidden_help)]
        pub(crate) psk: Option<String>,
        /// not supported: TLS-PSK
        #[argh(option, hidden_help)]
        pub(crate) psk_identity: Option<String>,
        /// not supported: OpenSSL engines
        #[argh(option, hidden_help)]
        pub(crate) tls_engine: Option<String>,
        /// not supported: OpenSSL engines
        #[argh(option, hidden_help)]
        pub(crate) keyform: Option<String>,
        /// not supported: OpenSSL engines
        #[argh(option, hidden_help)]
        pub(crate) tls_engine_kpass_sha1: Option<String>,
        /// an MQTT 5.0 property: -D command identifier value, or -D command user-property name
        /// value (see the notes); may be repeated, and makes the client speak MQTT 5.0
        #[argh(option, short = 'D')]
        pub(crate) property: Vec<String>,
        /// MQTT 5.0: seconds the session outlives the connection: 0 to 4294967294, or -1 for
        /// never (default -1 with -c, else 0); ignored at 3.1.1
        #[argh(option, short = 'x')]
        pub(crate) session_expiry_interval: Option<String>,
        /// the identifier and value of -D
        #[argh(positional, hidden_help)]
        pub(crate) rest: Vec<String>,
    }

    /// Publish one message, or one per line of standard input, to an MQTT broker.
    ///
    /// mqtt-pub connects to the broker, publishes, waits for the acknowledgement the QoS calls for,
    /// and disconnects. Exactly one of -m, -f, -l, -n and -s says what to publish. The options are
    /// those of mosquitto_pub, with the same meanings.
    #[derive(FromArgs, Debug)]
    #[argh(
        example = "Publish a temperature reading, retained, at QoS 1:\n  $ {command_name} -h broker.local -t sensors/kitchen/temp -m 21.5 -q 1 -r",
        example = "Publish each line of a log as its own message:\n  $ tail -f app.log | {command_name} -t logs/app -l",
        example = "Publish over TLS with a client certificate:\n  $ {command_name} -h broker -p 8883 --cafile ca.pem --cert me.pem --key me.key -t a/b -m hi",
        note = "Without -i a random client id is used. TLS is on as soon as --cafile or --tls-use-os-certs is given.",
        note = "MQTT 5.0 properties (-D, which makes the client speak 5.0): connect authentication-data, authentication-method, maximum-packet-size, receive-maximum, request-problem-information, request-response-information, session-expiry-interval, topic-alias-maximum, user-property; publish content-type, correlation-data, message-expiry-interval, payload-format-indicator, response-topic, topic-alias (ignored: aliases are chosen by the client), user-property; disconnect session-expiry-interval, user-property; will content-type, correlation-data, message-expiry-interval, payload-format-indicator, response-topic, user-property, will-delay-interval. user-property takes a name and a value.",
        note = "At MQTT 5.0 a refusal exits with the CONNACK Reason Code instead, 128 to 162 (135: not authorized).",
        error_code(0, "Success: every message was published and acknowledged."),
        error_code(1, "Failure (bad options, network error, protocol violation by the server), or refused: unacceptable protocol version (CONNACK 1)."),
        error_code(2, "Refused: identifier rejected (CONNACK 2)."),
        error_code(3, "Refused: server unavailable (CONNACK 3)."),
        error_code(4, "Refused: bad user name or password (CONNACK 4)."),
        error_code(5, "Refused: not authorised (CONNACK 5).")
    )]
    pub(crate) struct PubArgs {
        /// the topic to publish to
        #[argh(option, short = 't')]
        pub(crate) topic: Option<String>,
        /// the message to publish
        #[argh(option, short = 'm')]
        pub(crate) message: Option<String>,
        /// publish the contents of this file as the message
        #[argh(option, short = 'f')]
        pub(crate) file: Option<String>,
        /// read standard input and publish each line as a message
        #[argh(switch, short = 'l')]
        pub(crate) stdin_line: bool,
        /// publish an empty (zero-length) message
        #[argh(switch, short = 'n')]
        pub(crate) null_message: bool,
        /// read all of standard input and publish it as one message
        #[argh(switch, short = 's')]
        pub(crate) stdin_file: bool,
        /// ask the broker to retain the message
        #[argh(switch, short = 'r')]
        pub(crate) retain: bool,
        /// with -m, -f, -n or -s: publish the message this many times (default 1)
        #[argh(option)]
        pub(crate) repeat: Option<u64>,
        /// with --repeat: wait this many seconds (fractions allowed) between publishes
        #[argh(option)]
        pub(crate) repeat_delay: Option<f64>,
        /// the most QoS 1 and 2 messages awaiting acknowledgement at once (default 20)
        #[argh(option, short = 'M')]
        pub(crate) max_inflight: Option<usize>,
    }

    /// Subscribe to topics on an MQTT broker and print the messages that arrive.
    ///
    /// mqtt-sub connects, subscribes to every -t filter, and prints each message on its own line:
    /// the payload, or with -v the topic and the payload, or as -F formats it. It runs until -C
    /// messages have arrived, until -W seconds have passed, or until interrupted, and
    /// reconnects by itself if the connection is lost. The options are those of mosquitto_sub, with
    /// the same meanings.
    #[derive(FromArgs, Debug)]
    #[argh(
        example = "Print everything under sensors/, with topics:\n  $ {command_name} -h broker.local -t 'sensors/#' -v",
        example = "Wait at most 10 s for three messages:\n  $ {command_name} -t jobs/done -C 3 -W 10",
        example = "Print one JSON object per message:\n  $ {command_name} -t '#' -F %j",
        note = "Format (-F) specifiers: %t topic, %p payload, %x payload in hex, %l payload length, %q QoS, %r retain flag, %m message id, %I ISO-8601 time (UTC), %U Unix time, %j JSON object (with the 5.0 properties), %% a percent sign; flags - (left-align) and 0 (zero-pad), a width and a .maximum as in %-10.5t; at MQTT 5.0 %A topic alias, %C content type, %D correlation data, %E message expiry interval, %F payload format indicator, %P user properties (name:value, space-separated), %R response topic, %S subscription identifier (each empty when absent); escapes \\n \\t \\\\ \\0 \\r \\e \\a \\v.",
        note = "MQTT 5.0 properties (-D, which makes the client speak 5.0): connect authentication-data, authentication-method, maximum-packet-size, receive-maximum, request-problem-information, request-response-information, session-expiry-interval, topic-alias-maximum, user-property; subscribe user-property; unsubscribe user-property; disconnect session-expiry-interval, user-property; will content-type, correlation-data, message-expiry-interval, payload-format-indicator, response-topic, user-property, will-delay-interval. user-property takes a name and a value.",
        note = "At MQTT 5.0 a refusal exits with the CONNACK Reason Code instead, 128 to 162 (135: not authorized).",
        error_code(0, "Success: -C messages received, or interrupted."),
        error_code(1, "Failure (bad options, network error, protocol violation by the server), or refused: unacceptable protocol version (CONNACK 1)."),
        error_code(2, "Refused: identifier rejected (CONNACK 2)."),
        error_code(3, "Refused: server unavailable (CONNACK 3)."),
        error_code(4, "Refused: bad user name or password (CONNACK 4)."),
        error_code(5, "Refused: not authorised (CONNACK 5)."),
        error_code(27, "-W expired before -C messages arrived.")
    )]
    pub(crate) struct SubArgs {
        /// a topic filter to subscribe to; may be repeated
        #[argh(option, short = 't')]
        pub(crate) topic: Vec<String>,
        /// print the topic before each payload
        #[argh(switch, short = 'v')]
        pub(crate) verbose: bool,
        /// exit after this many messages
        #[argh(option, short = 'C')]
        pub(crate) count: Option<u64>,
        /// stop after this many seconds, with exit code 27 unless -C was reached first
        #[argh(option, short = 'W')]
        pub(crate) timeout: Option<u64>,
        /// do not print a newline after each message
        #[argh(switch, short = 'N')]
        pub(crate) no_eol: bool,
        /// do not print stale (retained) messages
        #[argh(switch, short = 'R')]
        pub(crate) skip_retained: bool,
        /// do not print messages on topics matching this filter; may be repeated
        #[argh(option, short = 'T')]
        pub(crate) filter_out: Vec<String>,
        /// print each message as this format says (see the notes)
        #[argh(option, short = 'F')]
        pub(crate) format: Option<String>,
        /// exit once the subscriptions (and -U unsubscriptions) are acknowledged
        #[argh(switch, short = 'E')]
        pub(crate) exit_after_sub: bool,
        /// a topic filter to unsubscribe from after subscribing (with -c, to clean a session); may be repeated
        #[argh(option, short = 'U')]
        pub(crate) unsubscribe: Vec<String>,
        /// print only retained messages, and exit at the first message that is not retained
        #[argh(switch)]
        pub(crate) retained_only: bool,
        /// clear each retained message received (not those -T filters out or -R skips)
        #[argh(switch)]
        pub(crate) remove_retained: bool,
        /// with -F %j: print the JSON indented, over several lines
        #[argh(switch)]
        pub(crate) pretty: bool,
        /// print only this percentage of the messages, chosen at random (default 100)
        #[argh(option)]
        pub(crate) random_filter: Option<f64>,
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
        match (&username, &pw) {
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
    /// expires, as mosquitto's tools ask for), and `-D connect authentication-method`.
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
            builder = builder.authenticator(mqtt5::FixedAuthentication::shared(
                method.clone(),
                data.clone(),
            ));
        }
        Ok(builder)
    }
}

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
            (args.quiet, run_pub(&args, &mut stdin()))
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

/// `mqtt-pub`: connect, publish, wait for the acknowledgements, disconnect.
pub(crate) fn run_pub(args: &PubArgs, stdin: &mut dyn BufRead) -> Result<(), Failure> {
    let url_topic = match &args.url {
        Some(url) => Some(Url::parse(url).map_err(Failure::Usage)?.topic),
        None => None,
    };
    let Some(topic) = args.topic.as_ref().or(url_topic.as_ref()) else {
        return Err(Failure::Usage(
            "both a topic (-t) and a message must be given".into(),
        ));
    };
    TopicName::new(topic)
        .map_err(|error| Failure::Usage(format!("invalid topic {topic:?}: {error}")))?;
    let sources = [
        args.message.is_some(),
        args.file.is_some(),
        args.stdin_line,
        args.null_message,
        args.stdin_file,
    ];
    match sources.iter().filter(|&&given| given).count() {
        0 => {
            return Err(Failure::Usage(
                "both a topic and a message (-m, -f, -l, -n or -s) must be given".into(),
            ));
        }
        1 => {}
        _ => {
            return Err(Failure::Usage(
                "only one of -m, -f, -l, -n and -s can be used".into(),
            ));
        }
    }
    let repeat = args.repeat.unwrap_or(1);
    if repeat == 0 {
        return Err(Failure::Usage("--repeat argument must be >0".into()));
    }
    let delay = match args.repeat_delay {
        None => Duration::ZERO,
        Some(seconds) => Duration::try_from_secs_f64(seconds).map_err(|_| {
            Failure::Usage("--repeat-delay must be a number of seconds, 0 or more".into())
        })?,
    };
    let mut options = args
        .connection()
        .connect_options()
        .map_err(Failure::Usage)?;
    if let Some(window) = args.max_inflight {
        if window == 0 {
            return Err(Failure::Usage("-M needs at least 1".into()));
        }
        options = options.max_inflight(window);
    }
    let connection = args.connection();
    let properties = connection
        .v5
        .as_ref()
        .map(|v5| v5.properties.publish.clone())
        .unwrap_or_default();
    let client = Client::connect(options.build()?)?;
    let qos = args.qos.0;
    let result = (|| {
        if args.stdin_line {
            let mut pending = Vec::new();
            for line in stdin.lines() {
                let line = line?;
                pending.push(client.publish_with(
                    topic,
                    line,
                    qos,
                    args.retain,
                    properties.clone(),
                )?);
            }
            for token in pending {
                token.wait()?;
            }
            return Ok(());
        }
        let payload = if let Some(message) = &args.message {
            message.clone().into_bytes()
        } else if let Some(file) = &args.file {
            fs::read(file)
                .map_err(|error| Failure::Usage(format!("cannot read {file}: {error}")))?
        } else if args.stdin_file {
            let mut payload = Vec::new();
            stdin.read_to_end(&mut payload)?;
            payload
        } else {
            Vec::new()
        };
        // mosquitto_pub --repeat: the same message again, each acknowledged before the delay.
        for round in 0..repeat {
            if round > 0 && !delay.is_zero() {
                std::thread::sleep(delay);
            }
            client
                .publish_with(topic, payload.clone(), qos, args.retain, properties.clone())?
                .wait()?;
        }
        Ok(())
    })();
    client.disconnect();
    result
}

/// `mqtt-sub`: connect, subscribe, print messages until `-C` or `-W` says to stop.
pub(crate) fn run_sub(args: &SubArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let mut topics = args.topic.clone();
    if let Some(url) = &args.url {
        topics.push(Url::parse(url).map_err(Failure::Usage)?.topic);
    }
    if topics.is_empty() {
        return Err(Failure::Usage(
            "at least one topic filter (-t) must be given".into(),
        ));
    }
    if args
        .random_filter
        .is_some_and(|percent| !(0.0..=100.0).contains(&percent))
    {
        return Err(Failure::Usage(
            "--random-filter must be between 0 and 100".into(),
        ));
    }
    for filter in topics
        .iter()
        .chain(&args.filter_out)
        .chain(&args.unsubscribe)
    {
        TopicFilter::new(filter)
            .map_err(|error| Failure::Usage(format!("invalid topic filter {filter:?}: {error}")))?;
    }
    if args.count == Some(0) {
        return Err(Failure::Usage("-C needs a count of at least 1".into()));
    }
    let options = args
        .connection()
        .connect_options()
        .map_err(Failure::Usage)?
        // Like mosquitto_sub, keep going when the connection drops.
        .reconnect(Duration::from_secs(1), Duration::from_secs(30));
    let client = Client::connect(options.build()?)?;
    let result = receive(&client, args, &topics, out);
    client.disconnect();
    result
}

fn receive(
    client: &Client,
    args: &SubArgs,
    topics: &[String],
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let notifications = client.notifications();
    let filters: Vec<(&str, QoS)> = topics
        .iter()
        .map(|filter| (filter.as_str(), args.qos.0))
        .collect();
    let v5 = args.connection().v5.map(|v5| v5.properties);
    if let Some(v5) = &v5 {
        // At 5.0 the SUBACK says why a filter was refused.
        let with_options: Vec<(&str, SubscribeOptions)> = filters
            .iter()
            .map(|(filter, qos)| (*filter, SubscribeOptions::qos(*qos)))
            .collect();
        let properties = SubscribeProperties {
            subscription_identifier: None,
            user_properties: v5.subscribe.clone(),
        };
        let codes = client.subscribe_with(&with_options, properties)?.wait()?;
        for ((filter, _), code) in filters.iter().zip(codes) {
            if code.is_failure() {
                log::warn!("subscription to {filter} refused by the broker: {code}");
            } else {
                log::debug!("subscribed to {filter}: {code}");
            }
        }
    } else {
        let codes = client.subscribe(&filters)?.wait()?;
        for ((filter, _), code) in filters.iter().zip(codes) {
            if code == SubAckReturnCode::Failure {
                log::warn!("subscription to {filter} refused by the broker");
            } else {
                log::debug!("subscribed to {filter}: {code:?}");
            }
        }
    }
    if !args.unsubscribe.is_empty() {
        let filters: Vec<&str> = args.unsubscribe.iter().map(String::as_str).collect();
        let user_properties = v5.map(|v5| v5.unsubscribe).unwrap_or_default();
        let codes = client.unsubscribe_with(&filters, user_properties)?.wait()?;
        for (filter, code) in filters.iter().zip(codes) {
            if code.is_failure() {
                log::warn!("unsubscribe from {filter} refused by the broker: {code}");
            } else {
                log::debug!("unsubscribed from {filter}: {code}");
            }
        }
    }
    if args.exit_after_sub {
        return Ok(());
    }
    let mut random = Random::seeded();
    let deadline = args
        .timeout
        .map(|seconds| Instant::now() + Duration::from_secs(seconds));
    let mut received = 0;
    loop {
        let next = match deadline {
            Some(deadline) => notifications
                .recv_deadline(deadline)
                .map_err(|error| error.is_timeout()),
            None => notifications.recv().map_err(|_| false),
        };
        let message = match next {
            Ok(Notification::Message(message)) => message,
            Ok(Notification::ConnectionLost(error)) => {
                log::warn!("{error}");
                continue;
            }
            Ok(Notification::Connected { .. }) => continue,
            Err(true) => return Err(Failure::Timeout),
            Err(false) => {
                return Err(client
                    .close_reason()
                    .map_or(Failure::Client(Error::Closed), Failure::Client));
            }
        };
        if args.retained_only && !message.retain {
            return Ok(());
        }
        if args.skip_retained && message.retain {
            continue;
        }
        let filtered = TopicName::new(&message.topic).is_ok_and(|name| {
            args.filter_out
                .iter()
                .filter_map(|filter| TopicFilter::new(filter).ok())
                .any(|filter| filter.matches(name))
        });
        if filtered {
            continue;
        }
        if args.remove_retained && message.retain {
            // An empty retained message clears the topic's [MQTT-3.3.1-10]; at QoS 1, as mosquitto.
            client
                .publish(&message.topic, Vec::new(), QoS::AtLeastOnce, true)?
                .wait()?;
        }
        if args
            .random_filter
            .is_some_and(|percent| random.percent() >= percent)
        {
            continue;
        }
        let eol = !args.no_eol;
        let mut line = match &args.format {
            Some(format) => {
                let mut line =
                    format_message_with(format, &message, SystemTime::now(), args.pretty);
                if eol {
                    line.push(b'\n');
                }
                line
            }
            // mosquitto_sub prints nothing at all for an empty payload, and `topic (null)` with -v
            // (both without the newline under -N).
            None if message.payload.is_empty() && !(args.verbose && eol) => Vec::new(),
            None if message.payload.is_empty() => {
                format!("{} (null)\n", message.topic).into_bytes()
            }
            None if args.verbose => {
                let mut line = message.topic.clone().into_bytes();
                line.push(b' ');
                line.extend_from_slice(&message.payload);
                line
            }
            None => message.payload.clone(),
        };
        if args.format.is_none() && eol && !message.payload.is_empty() {
            line.push(b'\n');
        }
        out.write_all(&line)?;
        out.flush()?;
        received += 1;
        if args.count.is_some_and(|count| received >= count) {
            return Ok(());
        }
    }
}

/// A small xorshift generator for `--random-filter`: which messages are dropped needs no
/// cryptographic quality, only a different choice each run.
struct Random(u64);

impl Random {
    fn seeded() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Self((nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)) | 1)
    }

    /// A number in [0, 100).
    fn percent(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 100.0
    }
}

/// Reads standard input for `mqtt-pub`.
pub(crate) fn stdin() -> io::StdinLock<'static> {
    io::stdin().lock()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_pub(args: &[&str]) -> Result<PubArgs, argh::EarlyExit> {
        PubArgs::from_args(&["mqtt-pub"], args)
    }

    fn parse_sub(args: &[&str]) -> Result<SubArgs, argh::EarlyExit> {
        SubArgs::from_args(&["mqtt-sub"], args)
    }

    #[test]
    fn mosquitto_pub_flags_mean_what_they_mean_there() {
        let args = parse_pub(&[
            "-h", "broker", "-p", "1884", "-t", "a/b", "-m", "hello", "-q", "2", "-r", "-i", "me",
            "-k", "30", "-c", "-u", "user", "-P", "secret", "-V", "mqttv31", "-d",
        ])
        .expect("valid");
        assert_eq!(args.topic.as_deref(), Some("a/b"));
        assert_eq!(args.message.as_deref(), Some("hello"));
        assert!(args.retain && args.debug);
        assert_eq!(args.qos, QosArg(QoS::ExactlyOnce));
        let options = args
            .connection()
            .connect_options()
            .expect("valid")
            .build()
            .expect("valid");
        assert_eq!((options.host(), options.port()), ("broker", 1884));
        assert_eq!(options.client_id(), "me");
        assert_eq!(options.keep_alive(), Duration::from_secs(30));
        assert_eq!(options.level(), ProtocolLevel::Mqtt31);
    }

    #[test]
    fn dash_h_is_the_host_not_help() {
        let args = parse_pub(&["-h", "example.org", "-t", "t", "-n"]).expect("valid");
        assert_eq!(args.host, "example.org");
        let help = parse_pub(&["--help"]).expect_err("help");
        assert!(help.status.is_ok());
        assert!(help.output.contains("-h, --host"), "{}", help.output);
        assert!(help.output.contains("Error codes"), "{}", help.output);
    }

    #[test]
    fn defaults_are_mosquittos() {
        let args = parse_sub(&["-t", "#"]).expect("valid");
        let options = args
            .connection()
            .connect_options()
            .expect("valid")
            .build()
            .expect("valid");
        assert_eq!((options.host(), options.port()), ("localhost", 1883));
        assert_eq!(options.keep_alive(), Duration::from_secs(60));
        assert_eq!(options.level(), ProtocolLevel::Mqtt311);
        assert_eq!(args.qos, QosArg(QoS::AtMostOnce));
    }

    #[test]
    fn tls_changes_the_default_port_to_8883() {
        let args = parse_sub(&["-t", "#", "--cafile", "ca.pem"]).expect("valid");
        let options = args
            .connection()
            .connect_options()
            .expect("valid")
            .build()
            .expect("valid");
        assert_eq!(options.port(), 8883);
    }

    #[test]
    fn sub_takes_repeated_topics_and_its_own_flags() {
        let args = parse_sub(&[
            "-t", "a/#", "-t", "b", "-v", "-C", "3", "-W", "5", "-N", "-R", "-T", "a/x", "-F", "%t",
        ])
        .expect("valid");
        assert_eq!(args.topic, ["a/#", "b"]);
        assert!(args.verbose && args.no_eol && args.skip_retained);
        assert_eq!((args.count, args.timeout), (Some(3), Some(5)));
        assert_eq!(args.filter_out, ["a/x"]);
        assert_eq!(args.format.as_deref(), Some("%t"));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse_pub(&["-t", "t", "-q", "3"]).is_err());
        assert!(parse_pub(&["-t", "t", "-V", "mqttv6"]).is_err());
        assert!(parse_pub(&["-t", "t", "-p", "http"]).is_err());
    }

    #[test]
    fn inconsistent_options_are_usage_errors() {
        let usage = |args: &[&str]| {
            parse_pub(args)
                .expect("parses")
                .connection()
                .connect_options()
                .expect_err("usage error")
        };
        assert!(usage(&["-c"]).contains("-i"));
        assert!(usage(&["-P", "pw"]).contains("-u"));
        assert!(usage(&["--will-payload", "x"]).contains("--will-topic"));
        assert!(usage(&["--cert", "c.pem", "--key", "k.pem"]).contains("--cafile"));
        assert!(usage(&["-i", "a", "-I", "b"]).contains("-I"));
    }

    #[test]
    fn id_prefix_appends_the_process_id() {
        let args = parse_pub(&["-I", "job-"]).expect("valid");
        let options = args
            .connection()
            .connect_options()
            .expect("valid")
            .build()
            .expect("valid");
        assert_eq!(options.client_id(), format!("job-{}", std::process::id()));
    }

    #[test]
    fn will_options_make_a_will() {
        let args = parse_pub(&[
            "--will-topic",
            "w",
            "--will-payload",
            "bye",
            "--will-qos",
            "1",
            "--will-retain",
        ])
        .expect("valid");
        let connection = args.connection();
        assert_eq!(connection.will_qos, Some(QoS::AtLeastOnce));
        assert!(connection.connect_options().is_ok());
    }

    #[test]
    fn urls_are_read_as_mosquitto_reads_them() {
        let url = Url::parse("mqtts://bob:s3:cret@broker.example:1885/a/b/#").expect("valid");
        assert_eq!(
            url,
            Url {
                tls: true,
                host: "broker.example".into(),
                port: 1885,
                username: Some("bob".into()),
                password: Some("s3:cret".into()),
                topic: "a/b/#".into(),
            }
        );
        let url = Url::parse("MQTT://host/t").expect("valid");
        assert_eq!((url.tls, url.port, url.username), (false, 1883, None));
        assert_eq!(Url::parse("mqtts://host/t").expect("valid").port, 8883);
        assert!(
            Url::parse("mqtt://host")
                .expect_err("no topic")
                .contains("topic")
        );
        assert!(
            Url::parse("http://host/t")
                .expect_err("scheme")
                .contains("scheme")
        );
        assert!(
            Url::parse("mqtt://host:x/t")
                .expect_err("port")
                .contains("port")
        );
    }

    #[test]
    fn a_url_sets_host_port_and_credentials() {
        let args = parse_pub(&["-L", "mqtt://u:p@example.org:1999/t", "-m", "x"]).expect("valid");
        let options = args
            .connection()
            .connect_options()
            .expect("valid")
            .build()
            .expect("valid");
        assert_eq!((options.host(), options.port()), ("example.org", 1999));
    }

    #[test]
    fn missing_features_and_bad_properties_are_refused_by_name() {
        let refused = |args: &[&str]| {
            parse_pub(args)
                .expect("parses")
                .connection()
                .connect_options()
                .expect_err("refused")
        };
        assert!(
            refused(&["-D", "connect", "content-type", "x"]).contains("not allowed for connect")
        );
        assert!(refused(&["-V", "5", "-x", "soon"]).contains("not a number"));
        assert!(refused(&["-V", "5", "-c"]).contains("client id"));
        assert!(refused(&["-A", "127.0.0.1"]).contains("-A"));
        assert!(refused(&["--unix", "/tmp/s"]).contains("--unix"));
        assert!(refused(&["--psk", "00", "--psk-identity", "me"]).contains("--psk"));
        assert!(refused(&["stray"]).contains("stray"));
        assert!(refused(&["--tls-version", "tlsv1.3"]).contains("--cafile"));
        assert!(refused(&["--cafile", "ca.pem", "--tls-version", "sslv3"]).contains("tlsv1.3"));
    }

    /// What the 5.0 options make of the connection, as mosquitto's tools would.
    fn v5_of(args: &[&str]) -> Option<mqtt_client::ConnectOptions> {
        let options = parse_pub(args)
            .expect("parses")
            .connection()
            .connect_options()
            .expect("valid")
            .build()
            .expect("valid");
        options.is_mqtt5().then_some(options)
    }

    #[test]
    fn dash_v_5_and_dash_d_speak_mqtt5_and_dash_x_alone_does_not() {
        assert!(v5_of(&["-V", "mqttv5"]).is_some());
        assert!(v5_of(&["-V", "5"]).is_some());
        assert!(v5_of(&["-D", "publish", "content-type", "a"]).is_some());
        // An explicit 3.x level wins over -D (mosquitto: the later option wins).
        assert!(v5_of(&["-V", "311", "-D", "publish", "content-type", "a"]).is_none());
        // -x applies to 5.0 clients only, and does not make one.
        assert!(v5_of(&["-x", "30"]).is_none());
        assert!(v5_of(&[]).is_none());
    }

    #[test]
    fn session_expiry_comes_from_dash_x_or_dash_c() {
        let expiry = |args: &[&str]| {
            v5_of(args).and_then(|o| {
                o.connect_properties()
                    .and_then(|p| p.session_expiry_interval)
            })
        };
        assert_eq!(expiry(&["-V", "5", "-x", "30"]), Some(30));
        assert_eq!(expiry(&["-V", "5", "-x", "-1", "-i", "me"]), Some(u32::MAX));
        // -c without -x: a session that never expires, as mosquitto asks.
        assert_eq!(expiry(&["-V", "5", "-c", "-i", "me"]), Some(u32::MAX));
        assert_eq!(expiry(&["-V", "5", "-c", "-i", "me", "-x", "60"]), Some(60));
        assert_eq!(expiry(&["-V", "5"]), None);
    }

    #[test]
    fn connect_properties_of_dash_d_reach_the_options() {
        let options = v5_of(&[
            "-D",
            "connect",
            "receive-maximum",
            "7",
            "-D",
            "connect",
            "user-property",
            "a",
            "b",
        ])
        .expect("5.0");
        let properties = options.connect_properties().expect("5.0");
        assert_eq!(properties.receive_maximum, Some(7));
        assert_eq!(properties.user_properties, [("a".into(), "b".into())]);
    }

    #[test]
    fn a_5_0_refusal_exits_with_its_reason_code() {
        let error = Error::RefusedWithReason {
            reason: mqtt_client::v5::ReasonCode::NOT_AUTHORIZED,
            reason_string: None,
            server_reference: None,
        };
        assert_eq!(exit_code(&error), 135);
    }

    #[test]
    fn capath_turns_tls_on() {
        let args = parse_pub(&[
            "--capath",
            "/nonexistent",
            "--ciphers",
            "ECDHE-RSA-AES128-GCM-SHA256:RC4-MD5",
        ])
        .expect("valid");
        let options = args
            .connection()
            .connect_options()
            .expect("valid")
            .build()
            .expect("valid");
        assert_eq!(options.port(), 8883, "--capath turns TLS on");
    }

    #[test]
    fn random_percentages_stay_in_range_and_spread() {
        let mut random = Random::seeded();
        let draws: Vec<f64> = (0..1000).map(|_| random.percent()).collect();
        assert!(draws.iter().all(|draw| (0.0..100.0).contains(draw)));
        // Not a statistical test: only that both halves are reached, so 50 keeps some and drops some.
        assert!(draws.iter().any(|draw| *draw < 50.0) && draws.iter().any(|draw| *draw >= 50.0));
    }

    #[test]
    fn exit_codes_are_mosquittos() {
        use mqtt_client::ConnectReturnCode;
        assert_eq!(
            exit_code(&Error::Refused(ConnectReturnCode::NotAuthorized)),
            5
        );
        assert_eq!(
            exit_code(&Error::Refused(ConnectReturnCode::IdentifierRejected)),
            2
        );
        assert_eq!(exit_code(&Error::NotConnected), 1);
        assert_eq!(Failure::Timeout.exit_code(), EXIT_TIMEOUT);
    }
}

//! The options of `mqtt-pub` and `mqtt-sub`, as mosquitto's tools spell them: one argh struct per
//! tool, with the block both share declared once (`tool_support::with_shared_options!`).

use argh::{FromArgValue, FromArgs};
use mqtt_client::{ProtocolLevel, QoS};

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
        /// `-L`: host, port, credentials and topic in one URL (see [`super::connection::Url`]).
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
        note = "MQTT 5.0 properties (-D, which makes the client speak 5.0): connect authentication-data, authentication-method, maximum-packet-size, receive-maximum, request-problem-information, request-response-information, session-expiry-interval, topic-alias-maximum, user-property; publish content-type, correlation-data, message-expiry-interval, payload-format-indicator, response-topic, topic-alias (ignored: aliases are chosen by the client), user-property; disconnect session-expiry-interval, user-property; will content-type, correlation-data, message-expiry-interval, payload-format-indicator, response-topic, user-property, will-delay-interval. user-property takes a name and a value. `-D connect authentication-method SCRAM-SHA-256` with -u and -P authenticates with SCRAM-SHA-256: the password is not sent.",
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
        note = "MQTT 5.0 properties (-D, which makes the client speak 5.0): connect authentication-data, authentication-method, maximum-packet-size, receive-maximum, request-problem-information, request-response-information, session-expiry-interval, topic-alias-maximum, user-property; subscribe user-property; unsubscribe user-property; disconnect session-expiry-interval, user-property; will content-type, correlation-data, message-expiry-interval, payload-format-indicator, response-topic, user-property, will-delay-interval. user-property takes a name and a value. `-D connect authentication-method SCRAM-SHA-256` with -u and -P authenticates with SCRAM-SHA-256: the password is not sent.",
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

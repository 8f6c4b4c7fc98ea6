//! The options and main loops of the three programs: `mqttsn-gateway`, and the `mqttsn-pub` /
//! `mqttsn-sub` tools, whose options follow njh's mqtt-sn-tools (`-h -p -i -k -e -q -r -t -T -m -n
//! -s -d`, `--fe` and `--wlnid` for the forwarder encapsulation) so that scripts written for those
//! work with few changes. One difference: the default port is 10000, the gateway's, as in Paho's
//! `gateway.conf`.
//!
//! A topic of exactly two characters given with `-t` is sent as a short topic name (§6.7), as
//! mqtt-sn-tools does; any other is registered (pub) or subscribed by name (sub). This module calls
//! the library like any application would; it does not implement the protocol.
//!
//! It belongs to the binaries, not the library: each of the three compiles it (`mod cli;`) and is
//! [`main`], which picks the program by the binary's name.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;
use mqttsn_codec::QoS;
use mqttsn_gateway::Gateway;

use mqttsn_gateway::client::{Client, ClientOptions, Error, Filter, Topic};
use mqttsn_gateway::config::{Config, GatewayKind};

/// A program's whole life: `--version`, the options, logging, the run, and its exit status (0, or 1
/// with the error on stderr).
pub(crate) fn main() -> ExitCode {
    let name = env!("CARGO_BIN_NAME");
    let outcome = match name {
        "mqttsn-pub" => {
            let args: PubArgs = argh::from_env();
            if args.version {
                println!("{}", version(name));
                return ExitCode::SUCCESS;
            }
            init_logging(args.debug);
            run_pub(&args)
        }
        "mqttsn-sub" => {
            let args: SubArgs = argh::from_env();
            if args.version {
                println!("{}", version(name));
                return ExitCode::SUCCESS;
            }
            init_logging(args.debug);
            run_sub(&args, &mut io::stdout())
        }
        _ => {
            let args: GatewayArgs = argh::from_env();
            if args.version {
                println!("{}", version(name));
                return ExitCode::SUCCESS;
            }
            init_logging(args.debug);
            run_gateway(&args)
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the gateway until it stops.
fn run_gateway(args: &GatewayArgs) -> Result<(), String> {
    let config = args.config()?;
    let gateway =
        Gateway::start(config).map_err(|error| format!("cannot start the gateway: {error}"))?;
    gateway.wait();
    Ok(())
}

/// The MQTT-SN gateway: translates MQTT-SN 1.2 over UDP to MQTT for any broker.
#[derive(FromArgs, Debug)]
pub(crate) struct GatewayArgs {
    /// the configuration file (key=value, see gateway.conf); without one, the defaults
    #[argh(option, short = 'c')]
    pub(crate) config: Option<PathBuf>,
    /// the UDP address to listen on, e.g. `0.0.0.0:10000` or `[::]:10000` (overrides Listen)
    #[argh(option, short = 'l')]
    pub(crate) listen: Option<SocketAddr>,
    /// the broker's host (overrides BrokerName)
    #[argh(option, short = 'b')]
    pub(crate) broker: Option<String>,
    /// the UDP port to listen on, as `-p` is the gateway's port for mqttsn-pub and mqttsn-sub
    /// (overrides GatewayPortNo and the port of Listen)
    #[argh(option, short = 'p')]
    pub(crate) port: Option<u16>,
    /// the broker's port (overrides BrokerPortNo)
    #[argh(option, short = 'P')]
    pub(crate) broker_port: Option<u16>,
    /// run an aggregating gateway: one MQTT connection for all clients
    #[argh(switch, short = 'a')]
    pub(crate) aggregating: bool,
    /// log debug messages (RUST_LOG also works)
    #[argh(switch, short = 'd')]
    pub(crate) debug: bool,
    /// print the version and exit
    #[argh(switch)]
    pub(crate) version: bool,
}

impl GatewayArgs {
    /// The configuration: the file's (if any), then the flags on top.
    pub(crate) fn config(&self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(broker) = &self.broker {
            config.broker_host = broker.clone();
        }
        if let Some(port) = self.port {
            config.listen.set_port(port);
        }
        if let Some(port) = self.broker_port {
            config.broker_port = port;
        }
        if self.aggregating {
            config.kind = GatewayKind::Aggregating;
        }
        Ok(config)
    }
}

tool_support::with_shared_options! {
    shared {
        /// the gateway's host (default 127.0.0.1)
        #[argh(option, short = 'h', default = "String::from(\"127.0.0.1\")")]
        pub(crate) host: String,
        /// the gateway's UDP port (default 10000)
        #[argh(option, short = 'p', default = "10000")]
        pub(crate) port: u16,
        /// the client id (default mqttsn-tools- and the process id)
        #[argh(option, short = 'i')]
        pub(crate) id: Option<String>,
        /// keep-alive in seconds (default 10)
        #[argh(option, short = 'k', default = "10")]
        pub(crate) keep_alive: u16,
        /// send through a forwarder encapsulation (with --wlnid)
        #[argh(switch)]
        pub(crate) fe: bool,
        /// the wireless node id for --fe, in hex (default: the client id's bytes)
        #[argh(option)]
        pub(crate) wlnid: Option<String>,
        /// log debug messages
        #[argh(switch, short = 'd')]
        pub(crate) debug: bool,
        /// print the version and exit
        #[argh(switch)]
        pub(crate) version: bool,
    }

    /// Publish one message to an MQTT-SN gateway.
    #[derive(FromArgs, Debug)]
    pub(crate) struct PubArgs {
        /// sleep for this many seconds after publishing, instead of disconnecting
        #[argh(option, short = 'e')]
        pub(crate) sleep: Option<u16>,
        /// the QoS: -1, 0, 1 or 2 (default 0)
        #[argh(option, short = 'q', default = "0")]
        pub(crate) qos: i8,
        /// retain the message
        #[argh(switch, short = 'r')]
        pub(crate) retain: bool,
        /// the topic name (two characters: a short topic name)
        #[argh(option, short = 't')]
        pub(crate) topic: Option<String>,
        /// a predefined topic id instead of a topic name
        #[argh(option, short = 'T')]
        pub(crate) topic_id: Option<u16>,
        /// the message
        #[argh(option, short = 'm')]
        pub(crate) message: Option<String>,
        /// send an empty message
        #[argh(switch, short = 'n')]
        pub(crate) null_message: bool,
        /// read the message from standard input
        #[argh(switch, short = 's')]
        pub(crate) stdin: bool,
    }

    /// Subscribe to topics of an MQTT-SN gateway and print the messages.
    #[derive(FromArgs, Debug)]
    pub(crate) struct SubArgs {
        /// the QoS: 0, 1 or 2 (default 0)
        #[argh(option, short = 'q', default = "0")]
        pub(crate) qos: i8,
        /// a topic filter to subscribe to (two characters: a short topic name); may be repeated
        #[argh(option, short = 't')]
        pub(crate) topic: Vec<String>,
        /// a predefined topic id to subscribe to; may be repeated
        #[argh(option, short = 'T')]
        pub(crate) topic_id: Vec<u16>,
        /// exit after the first message
        #[argh(switch, short = '1')]
        pub(crate) one: bool,
        /// keep the session: connect without clean session
        #[argh(switch, short = 'c')]
        pub(crate) keep_session: bool,
        /// print the topic name before each message
        #[argh(switch, short = 'v')]
        pub(crate) verbose: bool,
        /// sleep for this many seconds between wake-ups, collecting buffered messages each time
        #[argh(option, short = 'e')]
        pub(crate) sleep: Option<u16>,
    }
}

/// The line `--version` prints for program `name`.
pub(crate) fn version(name: &str) -> String {
    tool_support::version_line(name, None, env!("CARGO_PKG_VERSION"))
}

/// Logging to standard error: warnings, or everything with `-d`; `RUST_LOG` overrides.
pub(crate) fn init_logging(debug: bool) {
    tool_support::init_logging(debug, true);
}

fn qos(value: i8) -> Result<QoS, String> {
    match value {
        -1 => Ok(QoS::MinusOne),
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        2 => Ok(QoS::ExactlyOnce),
        _ => Err(format!("QoS {value}: -1, 0, 1 or 2")),
    }
}

fn gateway(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))
}

fn options(
    host: &str,
    port: u16,
    id: Option<&String>,
    keep_alive: u16,
    fe: bool,
    wlnid: Option<&String>,
) -> Result<ClientOptions, String> {
    let id = id
        .cloned()
        .unwrap_or_else(|| format!("mqttsn-tools-{}", std::process::id()));
    let mut options = ClientOptions::new(gateway(host, port)?, id.clone());
    options.keep_alive = keep_alive;
    // As mqtt-sn-tools: no gateway on the port is an error at once, not after N_retry tries.
    options.fail_fast = true;
    if wlnid.is_some() && !fe {
        return Err("--wlnid needs --fe (forwarder encapsulation)".into());
    }
    if fe {
        options.wireless_node_id = Some(match wlnid {
            None => id.into_bytes(),
            Some(hex) => parse_hex(hex)?,
        });
    }
    Ok(options)
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) {
        return Err(format!("--wlnid {hex}: an even number of hex digits"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("--wlnid {hex}: not hex"))
        })
        .collect()
}

/// `mqttsn-pub`: connect (unless QoS -1), register if needed, publish, then disconnect or sleep.
pub(crate) fn run_pub(args: &PubArgs) -> Result<(), String> {
    let qos = qos(args.qos)?;
    let payload = if args.null_message {
        Vec::new()
    } else if args.stdin {
        let mut buffer = Vec::new();
        io::stdin()
            .read_to_end(&mut buffer)
            .map_err(|e| format!("standard input: {e}"))?;
        buffer
    } else {
        args.message
            .clone()
            .ok_or("a message is needed: -m, -n or -s")?
            .into_bytes()
    };
    let options = options(
        &args.host,
        args.port,
        args.id.as_ref(),
        args.keep_alive,
        args.fe,
        args.wlnid.as_ref(),
    )?;
    let fail = |e: Error| e.to_string();
    let fixed_topic = match (&args.topic, args.topic_id) {
        (_, Some(id)) => Some(Topic::Predefined(id)),
        (Some(topic), None) if topic.len() == 2 => Some(Topic::Short(topic.clone())),
        (Some(_), None) => None,
        (None, None) => return Err("a topic is needed: -t or -T".into()),
    };
    if qos == QoS::MinusOne {
        let topic = fixed_topic.ok_or("QoS -1 needs -T or a two-character -t")?;
        return Client::publish_minus_one(options.gateway, &topic, &payload, args.retain)
            .map_err(fail);
    }
    let mut client = Client::connect(options).map_err(fail)?;
    // A signal while waiting for REGACK, PUBACK or PUBCOMP ends the session with DISCONNECT, as
    // for mqttsn-sub, rather than leaving the gateway to wait out the keep-alive.
    let stopping = stop_on_signals(&client)?;
    let publish = |client: &mut Client| -> Result<(), Error> {
        // Without a fixed topic, `-t` is there (checked before connecting).
        let topic = match fixed_topic {
            Some(topic) => topic,
            None => Topic::Id(client.register(args.topic.as_deref().unwrap_or_default())?),
        };
        client.publish(topic, &payload, qos, args.retain)?;
        match args.sleep {
            Some(seconds) => client.sleep(seconds),
            None => client.disconnect(),
        }
    };
    match publish(&mut client) {
        // The signal thread's DISCONNECT was answered: a clean end.
        Err(Error::Disconnected) if stopping.load(std::sync::atomic::Ordering::SeqCst) => Ok(()),
        result => result.map_err(fail),
    }
}

/// `mqttsn-sub`: subscribe and print each message on its own line (with `-v`, the topic first).
pub(crate) fn run_sub(args: &SubArgs, out: &mut dyn Write) -> Result<(), String> {
    let qos = qos(args.qos)?;
    if qos == QoS::MinusOne {
        return Err("QoS -1 is for publishing only".into());
    }
    if args.topic.is_empty() && args.topic_id.is_empty() {
        return Err("a topic is needed: -t or -T".into());
    }
    let mut options = options(
        &args.host,
        args.port,
        args.id.as_ref(),
        args.keep_alive,
        args.fe,
        args.wlnid.as_ref(),
    )?;
    options.clean_session = !args.keep_session;
    let fail = |e: Error| e.to_string();
    let mut client = Client::connect(options).map_err(fail)?;
    let stopping = stop_on_signals(&client)?;
    match receive(args, qos, &mut client, out) {
        // The signal thread's DISCONNECT was answered: a clean end.
        Err(Error::Disconnected) if stopping.load(std::sync::atomic::Ordering::SeqCst) => Ok(()),
        result => result.map_err(fail),
    }
}

/// On SIGINT or SIGTERM, sends the client's DISCONNECT, as mqtt-sn-tools does, so that the
/// gateway does not wait out the keep-alive (and publish a will); the returned flag says it did.
fn stop_on_signals(
    client: &Client,
) -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>, String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("signals: {e}"))?;
    let disconnector = client.disconnector().map_err(|e| e.to_string())?;
    let flag = std::sync::Arc::clone(&stopping);
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            if let Err(error) = disconnector.send() {
                log::warn!("DISCONNECT on signal: {error}");
            }
            // A second signal, or no answer from the gateway, ends the program anyway.
            std::thread::sleep(Duration::from_secs(5));
            std::process::exit(1);
        }
    });
    Ok(stopping)
}

/// Subscribes and prints until `-1` is satisfied, an error, or DISCONNECT.
fn receive(
    args: &SubArgs,
    qos: QoS,
    client: &mut Client,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let fail = |e: Error| e;
    for topic in &args.topic {
        let filter = if topic.len() == 2 {
            Filter::Short(topic.clone())
        } else {
            Filter::Name(topic.clone())
        };
        client.subscribe(filter, qos).map_err(fail)?;
    }
    for id in &args.topic_id {
        client
            .subscribe(Filter::Predefined(*id), qos)
            .map_err(fail)?;
    }
    loop {
        let messages = match args.sleep {
            Some(seconds) => {
                // Wake every `seconds`, as the help says: within the gateway's tolerance on the
                // sleep duration [SN-7.2-2].
                client.sleep(seconds).map_err(fail)?;
                std::thread::sleep(Duration::from_secs(seconds.into()));
                client.wake().map_err(fail)?
            }
            // `recv` sends the keep-alive PINGREQs while it waits.
            None => client
                .recv(Duration::from_secs(60))
                .map_err(fail)?
                .into_iter()
                .collect(),
        };
        for message in messages {
            writeln!(out, "{}", line(&message, args.verbose))
                .and_then(|()| out.flush())
                .map_err(Error::Io)?;
            if args.one {
                return client.disconnect().map_err(fail);
            }
        }
    }
}

/// How `mqttsn-sub` prints a message, as mqtt-sn-tools' `mqtt-sn-sub` does: the payload, or with
/// `-v` the topic, a colon and a space first. The topic is its name (registered, subscribed, or a
/// short name); a predefined id, which has no name on the node, prints as four hex digits.
pub(crate) fn line(message: &mqttsn_gateway::client::Received, verbose: bool) -> String {
    let text = String::from_utf8_lossy(&message.payload);
    if !verbose {
        return text.into_owned();
    }
    let topic = match (&message.topic_name, message.topic) {
        (Some(name), _) => name.clone(),
        (None, mqttsn_codec::PublishTopic::Predefined(id)) => format!("{:04x}", id.0),
        (None, mqttsn_codec::PublishTopic::Short(short)) => short.as_str().to_string(),
        (None, mqttsn_codec::PublishTopic::Normal(id)) => format!("{:04x}", id.0),
    };
    format!("{topic}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `-p` is the MQTT-SN (UDP) port for all three programs; the broker's is `-P`.
    #[test]
    fn p_is_the_mqtt_sn_port_everywhere() {
        let args = GatewayArgs::from_args(&["mqttsn-gateway"], &["-p", "10001", "-P", "1884"])
            .expect("valid flags");
        let config = args.config().expect("a configuration");
        assert_eq!(config.listen.port(), 10001);
        assert_eq!(config.broker_port, 1884);
        let args =
            GatewayArgs::from_args(&["mqttsn-gateway"], &["-l", "127.0.0.1:5000", "-p", "6000"])
                .expect("valid flags");
        assert_eq!(
            args.config().expect("a configuration").listen,
            "127.0.0.1:6000".parse().expect("address")
        );
    }

    #[test]
    fn lines_follow_mqtt_sn_tools() {
        use mqttsn_codec::{PublishTopic, TopicId};
        use mqttsn_gateway::client::Received;
        let mut message = Received {
            topic_name: Some("a/b".into()),
            topic: PublishTopic::Normal(TopicId(3)),
            payload: b"hi".to_vec(),
            qos: QoS::AtMostOnce,
            retain: false,
        };
        assert_eq!(line(&message, false), "hi");
        assert_eq!(line(&message, true), "a/b: hi");
        message.topic_name = None;
        message.topic = PublishTopic::Predefined(TopicId(17));
        assert_eq!(line(&message, true), "0011: hi");
    }

    #[test]
    fn wlnid_without_fe_is_an_error() {
        let error =
            options("127.0.0.1", 1, None, 10, false, Some(&"0a".to_string())).expect_err("refused");
        assert!(error.contains("--fe"), "{error}");
        assert!(options("127.0.0.1", 1, None, 10, true, Some(&"0a".to_string())).is_ok());
    }

    #[test]
    fn qos_minus_one_and_bad_values() {
        assert_eq!(qos(-1), Ok(QoS::MinusOne));
        assert_eq!(qos(2), Ok(QoS::ExactlyOnce));
        assert!(qos(3).is_err());
    }

    #[test]
    fn wireless_node_ids_are_hex() {
        assert_eq!(parse_hex("0a1B"), Ok(vec![0x0a, 0x1b]));
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
    }

    #[test]
    fn mqtt_sn_tools_flags_parse() {
        let args = PubArgs::from_args(
            &["mqttsn-pub"],
            &[
                "-h", "::1", "-p", "1883", "-q", "-1", "-T", "5", "-m", "hi", "-r",
            ],
        )
        .expect("valid flags");
        assert_eq!(args.qos, -1);
        assert_eq!(args.topic_id, Some(5));
        assert!(args.retain);
        let args = SubArgs::from_args(&["mqttsn-sub"], &["-t", "a/#", "-t", "ab", "-1", "-v"])
            .expect("valid flags");
        assert_eq!(args.topic, ["a/#", "ab"]);
        assert!(args.one && args.verbose);
    }
}

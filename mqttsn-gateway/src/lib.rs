//! An MQTT-SN 1.2 gateway over UDP in front of any MQTT 3.1.1 broker, and a blocking MQTT-SN client.
//!
//! # What a gateway does
//!
//! Sensor nodes speak MQTT-SN: small datagrams, two-octet topic ids instead of topic names, a will
//! negotiated in steps, clients that sleep for hours. Brokers speak MQTT over TCP. The gateway sits
//! between them (§4 of the specification): it listens on a UDP socket, keeps a session per node
//! (state, will, topic ids, subscriptions, a buffer while the node sleeps), and turns each node's
//! requests into MQTT requests and each broker message into MQTT-SN datagrams for the nodes that
//! subscribed.
//!
//! # Transparent or aggregating
//!
//! The specification describes two kinds of gateway, chosen here by `AggregatingGateway` in the
//! configuration ([`GatewayKind`]):
//!
//! * **Transparent** [SN-4.1-1]: one MQTT connection per node, under the node's own client id. The
//!   broker sees every node as a client of its own; it keeps each node's subscriptions and session.
//!   The gateway also keeps one connection of its own for QoS -1 publications [SN-7.1-1] and wills.
//! * **Aggregating** [SN-4.2-1]: one MQTT connection for all nodes. The gateway subscribes once per
//!   topic filter, counts how many nodes hold each, unsubscribes when the last one leaves, and
//!   routes each message to every node whose subscriptions match. Fewer connections, but the broker
//!   no longer knows the nodes.
//!
//! Either way the protocol logic is the sans-IO [`Translator`]: a datagram, a broker event or a tick
//! goes in with the current time, and [`Action`]s come out. It is tested without sockets or sleeps;
//! [`Gateway::start`] wraps it in threads and sockets.
//!
//! # Starting a gateway
//!
//! ```no_run
//! use mqttsn_gateway::{Config, Gateway};
//!
//! let config = Config::load(std::path::Path::new("gateway.conf"))?;
//! let gateway = Gateway::start(config)?;
//! println!("listening on {}", gateway.local_addr());
//! gateway.wait();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The client
//!
//! [`client::Client`] is a blocking MQTT-SN client, used by the `mqttsn-pub` and `mqttsn-sub` tools
//! and by the gateway's tests:
//!
//! ```no_run
//! use mqttsn_gateway::client::{Client, ClientOptions, Topic};
//! use mqttsn_codec::QoS;
//!
//! let mut client = Client::connect(ClientOptions::new("127.0.0.1:10000".parse()?, "node-1"))?;
//! let topic = client.register("sensors/node-1/temp")?;
//! client.publish(Topic::Id(topic), b"21.5", QoS::AtLeastOnce, false)?;
//! client.disconnect()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where things are
//!
//! | File | Its one job |
//! |---|---|
//! | `config.rs` | [`Config`]: the `key=value` file, in the spirit of Paho's `gateway.conf` |
//! | `topics.rs` | predefined topics (Paho's `predefinedTopic.conf`) and each client's topic ids |
//! | `action.rs` | the translator's inputs and outputs: [`Peer`], [`ConnId`], [`BrokerEvent`], [`Action`] |
//! | `session.rs` | one client's session: [`ClientState`], will, subscriptions, buffer, retransmission |
//! | `translator/` | [`Translator`], the protocol: what each message and broker event means, one module per flow, called by its path (`connection::connect`) |
//! | `server.rs` | [`Gateway::start`]: the UDP socket, the broker connections, the threads |
//! | `client.rs` | [`client::Client`], the blocking MQTT-SN client |
//! | `bin/cli/` | the options of `mqttsn-gateway`, `mqttsn-pub` and `mqttsn-sub`; part of the binaries, not of the library |
//!
//! Rule ids such as `[SN-6.14-9]` are those of `shared/specs/mqtt-sn-v1.2-rules.tsv`; they are cited
//! on the code that enforces each rule and on the tests that prove it.

pub mod action;
pub mod client;
pub mod config;
mod server;
pub mod session;
pub mod topics;
pub mod translator;

pub use action::{Action, BrokerEvent, ConnId, Peer};
pub use config::{Config, GatewayKind};
pub use server::{Gateway, GatewayHandle};
pub use session::ClientState;
pub use translator::{Stats, Translator};

//! A blocking MQTT 3.1 / 3.1.1 / 5.0 client library, and the `mqtt-pub` / `mqtt-sub` command-line
//! tools.
//!
//! No async runtime: a [`Client`] is a handle to a connection served by two threads of its own, and
//! every call either returns at once or blocks the calling thread only. The protocol itself lives
//! in a sans-IO state machine, [`Session`], which knows nothing of sockets, threads or clocks and is
//! tested by driving it by hand.
//!
//! # Publishing
//!
//! ```no_run
//! use mqtt_client::{Client, ConnectOptions, QoS};
//!
//! let options = ConnectOptions::builder("localhost", 1883).build()?;
//! let client = Client::connect(options)?;
//! // QoS 1: `wait` returns once the broker's PUBACK is in.
//! client.publish("sensors/kitchen/temp", "21.5", QoS::AtLeastOnce, false)?.wait()?;
//! client.disconnect();
//! # Ok::<(), mqtt_client::Error>(())
//! ```
//!
//! # Subscribing
//!
//! ```no_run
//! use mqtt_client::{Client, ConnectOptions, QoS, SubAckReturnCode};
//!
//! let client = Client::connect(ConnectOptions::builder("localhost", 1883).build()?)?;
//! let granted = client.subscribe(&[("sensors/#", QoS::AtLeastOnce)])?.wait()?;
//! assert_eq!(granted, [SubAckReturnCode::Granted(QoS::AtLeastOnce)]);
//! for message in client.messages() {
//!     println!("{}: {}", message.topic, String::from_utf8_lossy(&message.payload));
//!     // Publishing, and waiting for the acknowledgement, from inside the loop is fine: the
//!     // acknowledgement is read by the client's own thread, not this one.
//!     client.publish("echo", message.payload, QoS::AtLeastOnce, false)?.wait()?;
//! }
//! # Ok::<(), mqtt_client::Error>(())
//! ```
//!
//! # TLS
//!
//! ```no_run
//! use mqtt_client::{Client, ConnectOptions, TlsOptions};
//!
//! let tls = TlsOptions::system()          // or .ca_file("ca.pem")
//!     .client_auth("client.pem", "client.key");
//! let options = ConnectOptions::builder("broker.example.com", 8883).tls(tls).build()?;
//! let client = Client::connect(options)?;
//! # Ok::<(), mqtt_client::Error>(())
//! ```
//!
//! # Reconnecting
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use mqtt_client::{Client, ConnectOptions, Notification, QoS};
//!
//! let options = ConnectOptions::builder("localhost", 1883)
//!     .client_id("inventory-1")
//!     .clean_session(false)                                        // keep the session on the broker
//!     .reconnect(Duration::from_millis(500), Duration::from_secs(30)) // backoff with jitter
//!     .build()?;
//! let client = Client::connect(options)?;
//! client.subscribe(&[("orders/+", QoS::ExactlyOnce)])?.wait()?;
//! for notification in client.notifications() {
//!     match notification {
//!         Notification::Message(message) => println!("{}", message.topic),
//!         // After a reconnection, unacknowledged messages have been sent again; if the broker had
//!         // lost the session, the subscriptions have been made again too.
//!         Notification::Connected { session_present } => println!("connected, session {session_present}"),
//!         Notification::ConnectionLost(error) => eprintln!("{error}; reconnecting"),
//!     }
//! }
//! # Ok::<(), mqtt_client::Error>(())
//! ```
//!
//! # MQTT 5.0
//!
//! [`ConnectOptionsBuilder::mqtt5`] makes the client speak 5.0 with the given CONNECT properties
//! (session expiry, receive maximum, maximum packet size, topic alias maximum, user properties);
//! [`v5`] holds the owned 5.0 types. Messages carry their [`v5::PublishProperties`] both ways, and
//! subscriptions their [`v5::SubscribeOptions`]:
//!
//! ```no_run
//! use mqtt_client::v5::{ConnectProperties, PublishProperties, RetainHandling, SubscribeOptions, SubscribeProperties};
//! use mqtt_client::{Client, ConnectOptions, QoS};
//!
//! let properties = ConnectProperties { session_expiry_interval: Some(3600), ..Default::default() };
//! let options = ConnectOptions::builder("localhost", 1883)
//!     .client_id("worker-1")
//!     .clean_session(false)
//!     .mqtt5(properties)
//!     .build()?;
//! let client = Client::connect(options)?;
//! // What the server allows: the client keeps to it (window, packet size, topic aliases, QoS).
//! println!("receive maximum {}", client.server_settings().receive_maximum);
//!
//! let own = SubscribeOptions { no_local: true, retain_handling: RetainHandling::DoNotSend, ..SubscribeOptions::qos(QoS::AtLeastOnce) };
//! let with_id = SubscribeProperties { subscription_identifier: Some(7), ..Default::default() };
//! let codes = client.subscribe_with(&[("jobs/#", own)], with_id)?.wait()?;
//! assert!(codes.iter().all(|code| !code.is_failure()), "refused: {codes:?}");
//!
//! let request = PublishProperties {
//!     response_topic: Some("replies/worker-1".into()),
//!     correlation_data: Some(b"42".to_vec()),
//!     user_properties: vec![("trace".into(), "abc".into())],
//!     ..Default::default()
//! };
//! // A PUBACK with a failure Reason Code is Error::PublishRefused, saying why.
//! client.publish_with("jobs/new", "{}", QoS::AtLeastOnce, false, request)?.wait()?;
//! # Ok::<(), mqtt_client::Error>(())
//! ```
//!
//! The server's CONNACK is obeyed: its Receive Maximum caps the in-flight window, a packet larger
//! than its Maximum Packet Size is refused before it is written ([`Error::ExceedsServerLimit`]),
//! Maximum QoS and Retain Available are checked, its Server Keep Alive replaces ours, and topic
//! aliases are used up to its Topic Alias Maximum (and resolved from it within ours). Enhanced
//! authentication runs through a [`v5::Authenticator`] callback, which answers each AUTH
//! challenge while the client waits for CONNACK, and again for [`Client::reauthenticate`];
//! [`Scram`] is one, for SCRAM-SHA-256 with a user name and password that never cross the network.
//!
//! # Errors
//!
//! Every [`Error`] says who is at fault: the server refused ([`Error::Refused`] with its CONNACK
//! code, [`Error::RefusedWithReason`] at 5.0 with its Reason Code and Reason String), refused a
//! message ([`Error::PublishRefused`]), closed the connection saying why
//! ([`Error::ServerDisconnected`]) or broke a rule ([`Error::ProtocolViolation`], naming it; at 5.0
//! the client first sends a DISCONNECT with the matching Reason Code); the network failed, timed
//! out or was lost; or the application asked for something impossible (a topic with wildcards, a
//! full offline buffer, a call after `disconnect`, a packet over the server's limits).
//!
//! # Where things are
//!
//! | File | Its one job |
//! |---|---|
//! | `options.rs` | [`ConnectOptions`] and its builder, checked before anything is sent |
//! | `session/` | [`Session`], the sans-IO protocol state machine: CONNECT, keep-alive, QoS flows, resumption, and what 5.0 adds (`wire.rs` encodes at either level, `v5_inbound.rs` reads a 5.0 server's packets; one file per job, see its module doc) |
//! | `v5.rs` | the owned MQTT 5.0 types: properties, subscription options, server settings, [`v5::Authenticator`] |
//! | `scram.rs` | [`Scram`], the SCRAM-SHA-256 authenticator (the mechanism is the `mqtt-scram` crate's) |
//! | `client.rs` | [`Client`], the threads around the session, and its threading pattern |
//! | `transport.rs` | TCP and TLS (rustls), split into a read half and a write half |
//! | `reconnect.rs` | [`reconnect::Backoff`], exponential backoff with jitter |
//! | `error.rs` | [`Error`], by who is at fault |
//! | `bin/cli/` | `mqtt-pub` and `mqtt-sub`: options, their translation to `ConnectOptions`, each tool's run, `-F` output and exit codes (its `mod.rs` maps the files); part of the binaries, not of the library |
//!
//! The protocol rules are cited where they are enforced, as `[MQTT-4.3.3-2]` for MQTT 3.1.1
//! statements, `[V31-DIFF-5]` for the differences of MQTT 3.1 and `[MQTT5-3.3.4-7]` for MQTT 5.0.

mod client;
pub mod error;
pub mod options;
pub mod reconnect;
mod scram;
pub mod session;
mod transport;
pub mod v5;

pub use client::{Client, Messages, Notification, Pending};
pub use error::{Error, Timeout};
pub use mqtt_codec::{ConnectReturnCode, ProtocolLevel, QoS, SubAckReturnCode};
pub use options::{ConnectOptions, ConnectOptionsBuilder, LastWill, ReconnectOptions, TlsOptions};
pub use scram::Scram;
pub use session::{Event, Message, Session, State, Token};

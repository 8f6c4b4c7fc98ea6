//! A blocking MQTT 3.1 / 3.1.1 client library, and the `mqtt-pub` / `mqtt-sub` command-line tools.
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
//! # Errors
//!
//! Every [`Error`] says who is at fault: the server refused ([`Error::Refused`] with its CONNACK
//! code) or broke a rule ([`Error::ProtocolViolation`], naming it); the network failed, timed out or
//! was lost; or the application asked for something impossible (a topic with wildcards, a full
//! offline buffer, a call after `disconnect`).
//!
//! # Where things are
//!
//! | File | Its one job |
//! |---|---|
//! | `options.rs` | [`ConnectOptions`] and its builder, checked before anything is sent |
//! | `session/` | [`Session`], the sans-IO protocol state machine: CONNECT, keep-alive, QoS flows, resumption (one file per job; see its module doc) |
//! | `client.rs` | [`Client`], the threads around the session, and its threading pattern |
//! | `transport.rs` | TCP and TLS (rustls), split into a read half and a write half |
//! | `reconnect.rs` | [`reconnect::Backoff`], exponential backoff with jitter |
//! | `error.rs` | [`Error`], by who is at fault |
//! | `cli.rs` | the options, output format and exit codes of `mqtt-pub` and `mqtt-sub` |
//!
//! The protocol rules are cited where they are enforced, as `[MQTT-4.3.3-2]` for MQTT 3.1.1
//! statements and `[V31-DIFF-5]` for the differences of MQTT 3.1.

/// The options, output formats and main loops of `mqtt-pub` and `mqtt-sub`. Public only because
/// the binaries are separate crates: not part of the library's API, hidden from its documentation,
/// and free to change with the tools.
#[doc(hidden)]
pub mod cli;
mod client;
pub mod error;
pub mod options;
pub mod reconnect;
pub mod session;
mod transport;
pub mod v5;

pub use client::{Client, Messages, Notification, Pending};
pub use error::{Error, Timeout};
pub use mqtt_codec::{ConnectReturnCode, ProtocolLevel, QoS, SubAckReturnCode};
pub use options::{ConnectOptions, ConnectOptionsBuilder, LastWill, ReconnectOptions, TlsOptions};
pub use session::{Event, Message, Session, State, Token};

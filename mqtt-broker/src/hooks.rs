//! Extending an embedded broker: the [`Authenticator`], [`EnhancedAuthenticator`], [`Authoriser`],
//! [`ScramCredentialStore`] and [`Hooks`] traits, and the views of clients and messages they are
//! given.
//!
//! A program that embeds the broker registers its own implementations with
//! [`Broker::builder`](crate::Broker::builder):
//!
//! ```
//! use std::sync::Arc;
//! use mqtt_broker::hooks::{Authentication, Authenticator, ConnectRequest};
//! use mqtt_broker::{Broker, Config};
//!
//! /// Lets in clients whose password is their client identifier reversed (a toy rule).
//! struct Mirror;
//!
//! impl Authenticator for Mirror {
//!     fn authenticate(&self, request: &ConnectRequest<'_>) -> Authentication {
//!         let Some(password) = request.password() else {
//!             return Authentication::Defer; // not ours: the next authenticator decides
//!         };
//!         let reversed: String = request.client_id().chars().rev().collect();
//!         if password == reversed.as_bytes() {
//!             Authentication::Accept
//!         } else {
//!             Authentication::BadCredentials("not the client id reversed".into())
//!         }
//!     }
//! }
//!
//! let broker = Broker::builder(Config {
//!     listeners: vec!["127.0.0.1:0".parse()?],
//!     ..Config::default()
//! })
//! .authenticator(Arc::new(Mirror))
//! .start()?;
//! broker.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/custom_auth.rs` is a complete program.
//!
//! # Enhanced authentication (MQTT 5.0)
//!
//! A 5.0 client may authenticate with an exchange of AUTH packets instead of (or besides) a
//! password in CONNECT (5.0 §4.12): it names an Authentication Method, and data goes back and
//! forth until the broker accepts or refuses. The broker carries the packets and keeps their rules
//! (`connection/protocol/auth.rs`); what the data means is up to an [`EnhancedAuthenticator`],
//! which names the methods it runs and starts one [`AuthenticationExchange`] per client. The
//! exchange is handed each Authentication Data the client sends and answers an [`ExchangeStep`]:
//! `Continue` with a challenge (AUTH 0x18 to the client), `Success` (CONNACK 0x00, or AUTH 0x00
//! after a re-authentication), or `Failure` (a refusing CONNACK, or DISCONNECT 0x87). A
//! re-authentication (AUTH 0x19, 5.0 §4.12.1) starts a new exchange with the same method; it may
//! not change the user the client acts under. This one asks for the client's name and then for
//! its name backwards (a toy: use a real mechanism):
//!
//! ```
//! use std::sync::Arc;
//! use mqtt_broker::hooks::{
//!     AuthFailure, AuthenticationExchange, EnhancedAuthenticator, ExchangeRequest, ExchangeStep,
//! };
//! use mqtt_broker::{Broker, Config};
//!
//! struct Backwards;
//!
//! impl EnhancedAuthenticator for Backwards {
//!     fn methods(&self) -> Vec<String> {
//!         vec!["BACKWARDS".into()]
//!     }
//!
//!     fn start(
//!         &self,
//!         _method: &str,
//!         _request: &ExchangeRequest<'_>,
//!     ) -> Option<Box<dyn AuthenticationExchange>> {
//!         Some(Box::new(Exchange { name: None }))
//!     }
//! }
//!
//! struct Exchange {
//!     /// The name from the first step, once given.
//!     name: Option<Vec<u8>>,
//! }
//!
//! impl AuthenticationExchange for Exchange {
//!     fn step(&mut self, data: Option<&[u8]>) -> ExchangeStep {
//!         let data = data.unwrap_or_default();
//!         match self.name.take() {
//!             // CONNECT's Authentication Data: the name. Ask for it backwards (AUTH 0x18).
//!             None => {
//!                 self.name = Some(data.to_vec());
//!                 ExchangeStep::Continue(b"backwards, please".to_vec())
//!             }
//!             // The client's AUTH 0x18: its name backwards, or it is refused (CONNACK 0x86).
//!             Some(mut name) => {
//!                 name.reverse();
//!                 if name != data {
//!                     return ExchangeStep::Failure(AuthFailure::BadCredentials(
//!                         "not the name backwards".into(),
//!                     ));
//!                 }
//!                 name.reverse();
//!                 ExchangeStep::Success {
//!                     data: None,
//!                     user_name: Some(String::from_utf8_lossy(&name).into_owned()),
//!                 }
//!             }
//!         }
//!     }
//! }
//!
//! let broker = Broker::builder(Config {
//!     listeners: vec!["127.0.0.1:0".parse()?],
//!     ..Config::default()
//! })
//! .enhanced_authenticator(Arc::new(Backwards))
//! .start()?;
//! broker.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The exchange runs on the client's reader thread, between its packets, with no lock held (the
//! protocol machine asks the reader to run it, with `Action::Authenticate`, and is given the
//! answer); it may block on a database, and delays that client only. Authenticators are asked in
//! registration order, then the built-in SCRAM-SHA-256; the first that names the method and
//! whose `start` takes the client runs the exchange. A method none takes is refused with CONNACK
//! 0x8C, Bad authentication method [MQTT5-4.12.0-1]. A client that passes acts under the user name
//! the exchange named (else CONNECT's): the [`Authenticator`] chain, `password_file` and
//! `allow_anonymous` are not asked, since the exchange proved more than they could; the
//! authorisers and the ACL apply as to anyone. The whole exchange must end within
//! `connect_timeout` of the connection's start; during a re-authentication, a client that leaves
//! the broker's AUTH 0x18 unanswered for `connect_timeout` is disconnected with 0x87.
//!
//! ## SCRAM-SHA-256, built in
//!
//! The broker's own SCRAM-SHA-256 (`security/scram.rs`, the mechanism in `mqtt-scram`) is such an
//! authenticator. What it needs from outside is each user's stored credentials (salt, iteration
//! count, `StoredKey`, `ServerKey`: never the password). A [`ScramCredentialStore`] gives them, from
//! a database, say:
//!
//! ```
//! use std::sync::Arc;
//! use mqtt_broker::hooks::{Listener, ScramCredentialStore, StoredCredentials};
//! use mqtt_broker::{Broker, Config};
//!
//! /// One user, derived at start-up (a real store would keep the derived credentials, not the
//! /// password).
//! struct OneUser(StoredCredentials);
//!
//! impl ScramCredentialStore for OneUser {
//!     fn scram_credentials(&self, user: &str, _: Listener) -> Option<StoredCredentials> {
//!         (user == "sensor").then(|| self.0.clone()) // None: ask the next store
//!     }
//! }
//!
//! let credentials = StoredCredentials::generate("pencil", 4096)?;
//! let broker = Broker::builder(Config {
//!     listeners: vec!["127.0.0.1:0".parse()?],
//!     ..Config::default()
//! })
//! .scram_credentials(Arc::new(OneUser(credentials)))
//! .start()?;
//! broker.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Stores are asked in registration order, then the `scram_password_file`; the first that knows
//! the user answers. A user nobody knows still gets a challenge (with stand-in credentials) and
//! fails at the proof, as a wrong password does, so that clients cannot probe for user names. A
//! listener with no store and no `scram_password_file` does not offer SCRAM (CONNACK 0x8C, unless
//! a registered authenticator runs a method of that name). A client that passes acts under its
//! SCRAM user name.
//!
//! # How decisions combine
//!
//! Each listener has a chain of authenticators and a chain of authorisers. A chain asks its members
//! in order; the first answer that is not `Defer` decides.
//!
//! - **Authenticators**, in this order: the certificate identity (only on a
//!   `use_identity_as_username` listener), the registered authenticators in registration order, the
//!   `password_file`, and last the `allow_anonymous` rule, which never defers. So a registered
//!   authenticator sees a CONNECT before the password file does, and defers what it does not know.
//! - **Authorisers**: the registered authorisers in registration order, then the `acl_file`, which
//!   never defers. When every member defers (no ACL file), the answer is *allow*, as in a broker
//!   without an ACL.
//! - **Hooks** are all called, in registration order; a PUBLISH goes through only if every
//!   `on_publish` accepts it.
//!
//! The built-in password file ([`PasswordFile`](crate::PasswordFile)), certificate identity,
//! anonymous rule and ACL file implement these same traits (`security/auth.rs`, `security/acl.rs`); `SIGHUP`
//! (`BrokerHandle::reload`) rebuilds the built-in members from their files and keeps the registered
//! ones. With `per_listener_settings true` each listener's chain has its own built-in members;
//! registered members are in every chain, and can tell listeners apart by
//! [`ClientInfo::listener`].
//!
//! # What each decision does on the wire
//!
//! | Decision | Consequence |
//! |---|---|
//! | [`Authentication::BadCredentials`] | CONNACK 4, then the connection is closed [MQTT-3.2.2-5] |
//! | [`Authentication::NotAuthorised`] | CONNACK 5, then the connection is closed [MQTT-3.2.2-5] |
//! | [`ExchangeStep::Continue`] | AUTH 0x18 with its data [MQTT5-4.12.0-2]; the client answers with AUTH 0x18 [MQTT5-4.12.0-3] |
//! | [`ExchangeStep::Success`] | CONNACK 0x00 naming the method [MQTT5-4.12.0-5]; after AUTH 0x19, AUTH 0x00 |
//! | [`AuthFailure::BadCredentials`] (SCRAM: a wrong proof, an unknown user) | CONNACK 0x86, closed [MQTT5-4.12.0-4]; during a re-authentication, DISCONNECT 0x87 [MQTT5-4.12.1-2] |
//! | [`AuthFailure::NotAuthorised`] (SCRAM: a malformed message, a wrong nonce, channel binding asked for) | CONNACK 0x87, closed [MQTT5-4.12.0-4]; re-authentication as above |
//! | [`AuthFailure::Unavailable`] | CONNACK 0x88, closed; re-authentication as above |
//! | an Authentication Method no [`EnhancedAuthenticator`] takes (SCRAM with no credential store on the listener among them) | CONNACK 0x8C, closed [MQTT5-4.12.0-1] |
//! | the broker's AUTH 0x18 of a re-authentication unanswered for `connect_timeout` | DISCONNECT 0x87, closed [MQTT5-4.12.1-2] |
//! | [`Authoriser::may_publish`] or [`Hooks::on_publish`] refuses | the PUBLISH is acknowledged as usual (PUBACK, PUBREC) and dropped [MQTT-3.3.5-2] [V31-DIFF-35] |
//! | [`Authoriser::may_subscribe`] refuses | 0x80 for that filter in SUBACK [MQTT-3.8.4-5] [MQTT-3.9.3-2]; a 3.1 client, which has no failure code, is answered with the QoS it asked for and never receives anything on it [V31-DIFF-34] |
//! | [`Authoriser::may_receive`] refuses | that subscriber does not get that message; others do |
//!
//! # Threads and locks
//!
//! Every method is called with **no broker lock held**, so a hook may call anything, including
//! another broker's API, without deadlocking. Authentication (enhanced authentication too), `may_publish`, `may_subscribe` and all
//! [`Hooks`] run on the reader thread of the client concerned: a slow hook delays that client only.
//! `may_receive` is the exception to that last point: it runs on the *publisher's* thread, once per
//! matching subscriber, so it is on the broker's hot path and should be a quick, non-blocking
//! decision (the ACL file's is a few string comparisons). When no authoriser is installed at all, it
//! costs nothing.
//!
//! Implementations must be `Send + Sync`: several clients' threads call them at once.
//!
//! # Why plugins are compiled in, not loaded from shared objects
//!
//! mosquitto loads plugins with `dlopen` through a C interface. This crate does not, on purpose:
//! - Rust has no stable ABI. A trait object built by one compiler version (or with other features or
//!   optimisation settings) cannot safely be called by code built with another, so a `.so` made of
//!   Rust would have to match the broker's build exactly, and nothing would check that it does.
//! - The way round that is a C ABI: `extern "C"` functions, raw pointers and hand-managed lifetimes
//!   on both sides. Loading and calling it needs `unsafe` code, which this workspace forbids, and it
//!   gives up what the types here guarantee (a borrowed view cannot outlive the call; a decision is
//!   one of a few named values).
//! - A plugin loaded at run time can be built against another version of this API; the compiler
//!   would no longer catch the mismatch, the operator would, in production.
//!
//! Compiling the plugin into the program that embeds the broker costs a rebuild to change it, and in
//! exchange every plugin is type checked against the broker it runs in, and can be tested with
//! `cargo test` like the rest of the program.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use mqtt_codec::{ProtocolLevel, QoS};

use crate::message::Message;

/// What a [`ScramCredentialStore`] answers: one user's SCRAM-SHA-256 credentials as a server
/// stores them (`mqtt_scram::StoredCredentials`, re-exported so that a store needs no other crate).
pub use mqtt_scram::StoredCredentials;

/// Where the broker finds SCRAM-SHA-256 credentials for MQTT 5.0 enhanced authentication. See the
/// module doc, "Enhanced authentication".
pub trait ScramCredentialStore: Send + Sync {
    /// The stored credentials of `user`, connecting through `listener`; `None` when this store
    /// does not know the user (the next one is asked).
    fn scram_credentials(&self, user: &str, listener: Listener) -> Option<StoredCredentials>;
}

/// Runs MQTT 5.0 enhanced authentication methods (5.0 §4.12): the broker carries the AUTH packets,
/// this decides what they say. See the module doc, "Enhanced authentication".
pub trait EnhancedAuthenticator: Send + Sync {
    /// The Authentication Methods it runs, by the names clients give in CONNECT (such as
    /// `SCRAM-SHA-256`). Asked once each time the broker's security is loaded (at start and on
    /// every reload), not per client.
    fn methods(&self) -> Vec<String>;

    /// Starts an exchange of `method` (one of [`methods`](Self::methods)) for the client that
    /// `request` describes. `None` declines it (another authenticator naming the method is asked,
    /// and if none takes it the client is told 0x8C, Bad authentication method).
    fn start(
        &self,
        method: &str,
        request: &ExchangeRequest<'_>,
    ) -> Option<Box<dyn AuthenticationExchange>>;
}

/// One enhanced authentication exchange with one client, from its first Authentication Data to
/// success or failure. The broker drops it when the exchange ends; a re-authentication starts a
/// new one.
pub trait AuthenticationExchange: Send {
    /// The client's next Authentication Data (`None` when its packet had none): first that of
    /// CONNECT, or of AUTH 0x19 for a re-authentication, then that of each AUTH 0x18 it answers a
    /// [`ExchangeStep::Continue`] with.
    fn step(&mut self, data: Option<&[u8]>) -> ExchangeStep;
}

/// What an [`AuthenticationExchange`] answers to each Authentication Data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeStep {
    /// Not done: send the client AUTH 0x18 (Continue authentication) with this Authentication
    /// Data [MQTT5-4.12.0-2], and wait for its next AUTH.
    Continue(Vec<u8>),
    /// The client is authenticated: CONNACK 0x00, or AUTH 0x00 at the end of a
    /// re-authentication, carrying `data` as its Authentication Data if there is some.
    Success {
        /// Authentication Data for the client (a server's proof, say), if the method has some.
        data: Option<Vec<u8>>,
        /// The user name the client acts under from now on (for the ACL, the logs and every
        /// hook); `None` keeps CONNECT's. A re-authentication cannot change it: naming another
        /// user than the connection's fails it.
        user_name: Option<String>,
    },
    /// The client is refused: CONNACK with the failure's Reason Code and the close
    /// [MQTT5-4.12.0-4], or, during a re-authentication, DISCONNECT 0x87 [MQTT5-4.12.1-2].
    Failure(AuthFailure),
}

/// Why an enhanced authentication failed; the text is logged, and sent to the client as the
/// Reason String unless it asked for no problem information.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// Wrong credentials (a wrong proof, an unknown user): CONNACK 0x86, Bad User Name or Password.
    BadCredentials(String),
    /// Not allowed, or the client broke the method's rules (malformed data): CONNACK 0x87, Not
    /// authorized.
    NotAuthorised(String),
    /// The broker's side failed (a database down): CONNACK 0x88, Server unavailable.
    Unavailable(String),
}

impl AuthFailure {
    /// The text of the failure.
    pub fn why(&self) -> &str {
        match self {
            Self::BadCredentials(why) | Self::NotAuthorised(why) | Self::Unavailable(why) => why,
        }
    }
}

/// A client starting an enhanced authentication exchange, at CONNECT or with AUTH 0x19.
#[derive(Debug, Clone, Copy)]
pub struct ExchangeRequest<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) user_name: Option<&'a str>,
    pub(crate) authenticated_as: Option<&'a str>,
    pub(crate) reauthentication: bool,
    pub(crate) certificate_identity: Option<&'a str>,
    pub(crate) listener: Listener,
    pub(crate) peer: SocketAddr,
}

impl<'a> ExchangeRequest<'a> {
    /// The client identifier (given, or assigned by the broker).
    pub fn client_id(&self) -> &'a str {
        self.client_id
    }

    /// The User Name of CONNECT, if any.
    pub fn user_name(&self) -> Option<&'a str> {
        self.user_name
    }

    /// Whether this is a re-authentication of a connected client (AUTH 0x19, 5.0 §4.12.1).
    pub fn is_reauthentication(&self) -> bool {
        self.reauthentication
    }

    /// During a re-authentication, the user name the client acts under (the one its first
    /// exchange settled on); `None` at CONNECT.
    pub fn authenticated_as(&self) -> Option<&'a str> {
        self.authenticated_as
    }

    /// The subject CN of the client's certificate, on a TLS listener that verified one.
    pub fn certificate_identity(&self) -> Option<&'a str> {
        self.certificate_identity
    }

    /// The listener the client connected through.
    pub fn listener(&self) -> Listener {
        self.listener
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

/// Decides whether a CONNECT may go through. See the module doc for how authenticators combine.
pub trait Authenticator: Send + Sync {
    /// Looks at a CONNECT and accepts it, refuses it, or defers to the next authenticator.
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Authentication;
}

/// An authenticator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// Not this authenticator's decision: ask the next one.
    Defer,
    /// Accepted; the client acts under the user name of its CONNECT (if any).
    Accept,
    /// Accepted; the client acts under this user name whatever CONNECT said (for the ACL, the logs
    /// and every later hook). The certificate identity of `use_identity_as_username` does this.
    AcceptAs(String),
    /// Refused with CONNACK 4, bad user name or password; the text is logged.
    BadCredentials(String),
    /// Refused with CONNACK 5, not authorised; the text is logged.
    NotAuthorised(String),
}

/// Decides what a connected client may do. Every method defers by default, so an authoriser
/// implements only the questions it has an opinion on.
pub trait Authoriser: Send + Sync {
    /// Whether `client` may publish `message`. A refusal drops the message after acknowledging it.
    fn may_publish(&self, client: &ClientInfo, message: &MessageView<'_>) -> Permission {
        let _ = (client, message);
        Permission::Defer
    }

    /// Whether `client` may subscribe to `filter` at `qos`. A refusal answers 0x80 for the filter.
    fn may_subscribe(&self, client: &ClientInfo, filter: &str, qos: QoS) -> Permission {
        let _ = (client, filter, qos);
        Permission::Defer
    }

    /// Whether `client`, a subscriber, may receive `message`, checked at every delivery (and for
    /// retained messages sent on subscribing). Runs on the publisher's thread: keep it quick.
    fn may_receive(&self, client: &ClientInfo, message: &MessageView<'_>) -> Permission {
        let _ = (client, message);
        Permission::Defer
    }
}

/// An authoriser's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Allowed; later authorisers are not asked.
    Allow,
    /// Refused; later authorisers are not asked.
    Deny,
    /// Not this authoriser's decision: ask the next one (allowed if nobody decides).
    Defer,
}

/// Observes what clients do, and may refuse a PUBLISH. Every method has a default that does nothing
/// (and accepts), so a hook implements only the events it cares about.
pub trait Hooks: Send + Sync {
    /// A client was accepted (CONNACK 0 is on its way).
    fn on_connect(&self, client: &ClientInfo) {
        let _ = client;
    }

    /// A client published `message` and the authorisers allowed it; called before it is routed.
    /// Answering [`PublishDecision::Reject`] drops it (it is still acknowledged, see the module doc).
    /// A client's Will passes through here too when the broker publishes it for the client.
    fn on_publish(&self, client: &ClientInfo, message: &MessageView<'_>) -> PublishDecision {
        let _ = (client, message);
        PublishDecision::Accept
    }

    /// A client asked to subscribe to `filter`; `granted` is the QoS granted, or `None` when the
    /// subscription was refused.
    fn on_subscribe(&self, client: &ClientInfo, filter: &str, granted: Option<QoS>) {
        let _ = (client, filter, granted);
    }

    /// An accepted client's connection ended, for `reason`.
    fn on_disconnect(&self, client: &ClientInfo, reason: DisconnectReason) {
        let _ = (client, reason);
    }
}

/// What [`Hooks::on_publish`] wants done with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishDecision {
    /// Route it.
    Accept,
    /// Acknowledge and drop it; the text is logged.
    Reject(String),
}

/// Why an accepted connection ended, as [`Hooks::on_disconnect`] is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client sent DISCONNECT (its Will is discarded).
    Disconnect,
    /// Nothing arrived for one and a half times the keep-alive [MQTT-3.1.2-24].
    KeepAliveExpired,
    /// The network connection closed or failed, or another connection took the client id over.
    ConnectionLost,
    /// The client sent malformed bytes or broke a protocol rule.
    ProtocolError,
    /// The broker is shutting down.
    Shutdown,
    /// A 5.0 re-authentication failed (DISCONNECT 0x87).
    NotAuthorised,
}

/// The listener a client connected through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub(crate) index: usize,
    pub(crate) address: SocketAddr,
    pub(crate) tls: bool,
}

impl Listener {
    /// Its position in [`BrokerHandle::local_addrs`](crate::BrokerHandle::local_addrs), which is
    /// that of [`Config::listeners`](crate::Config::listeners) (a file's plain listeners, then its
    /// TLS ones, then its WebSocket ones). The local side
    /// of one of the broker's own bridges came through no listener: its index is `usize::MAX`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The address it is bound to (with the port the system chose for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Whether it is a TLS listener (wss included).
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

/// The version of MQTT a client speaks, as its CONNECT named it (the Protocol Level byte: 3, 4 or
/// 5). The codec's `ProtocolLevel` has only the 3.x levels, since 5.0 has a decoder of its own;
/// this is the broker's view, which has all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// MQTT 3.1 (Protocol Level 3, protocol name `MQIsdp`).
    Mqtt31,
    /// MQTT 3.1.1 (Protocol Level 4).
    Mqtt311,
    /// MQTT 5.0 (Protocol Version 5).
    Mqtt5,
}

impl ProtocolVersion {
    /// The version of a connection that speaks `level` (what its decoder was set to) and, when
    /// `mqtt5`, 5.0 (whose connections keep the 3.1.1 level where broker code is shared).
    pub(crate) fn of(level: ProtocolLevel, mqtt5: bool) -> Self {
        match (mqtt5, level) {
            (true, _) => Self::Mqtt5,
            (false, ProtocolLevel::Mqtt31) => Self::Mqtt31,
            (false, ProtocolLevel::Mqtt311) => Self::Mqtt311,
        }
    }

    /// The Protocol Level byte of CONNECT: 3, 4 or 5 (mosquitto's plugins are given this number).
    pub fn level_byte(self) -> u8 {
        match self {
            Self::Mqtt31 => 3,
            Self::Mqtt311 => 4,
            Self::Mqtt5 => 5,
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mqtt31 => "MQTT 3.1",
            Self::Mqtt311 => "MQTT 3.1.1",
            Self::Mqtt5 => "MQTT 5.0",
        })
    }
}

/// A CONNECT being authenticated: what the client sent, and where it came from.
#[derive(Clone, Copy)]
pub struct ConnectRequest<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) user_name: Option<&'a str>,
    pub(crate) password: Option<&'a [u8]>,
    pub(crate) certificate_identity: Option<&'a str>,
    pub(crate) listener: Listener,
    pub(crate) peer: SocketAddr,
    pub(crate) version: ProtocolVersion,
}

impl<'a> ConnectRequest<'a> {
    /// The client identifier (given, or assigned by the broker).
    pub fn client_id(&self) -> &'a str {
        self.client_id
    }

    /// The user name of CONNECT, if any.
    pub fn user_name(&self) -> Option<&'a str> {
        self.user_name
    }

    /// The password of CONNECT, if any. Do not log it.
    pub fn password(&self) -> Option<&'a [u8]> {
        self.password
    }

    /// The subject CN of the client's certificate, on a TLS listener that verified one.
    pub fn certificate_identity(&self) -> Option<&'a str> {
        self.certificate_identity
    }

    /// The listener the client connected through.
    pub fn listener(&self) -> Listener {
        self.listener
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The version of MQTT the CONNECT named: 3.1, 3.1.1 or 5.0.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.version
    }

    /// Whether the CONNECT named MQTT 5.0 (the same as asking
    /// [`protocol_version`](Self::protocol_version) for [`ProtocolVersion::Mqtt5`]).
    pub fn is_mqtt5(&self) -> bool {
        self.version == ProtocolVersion::Mqtt5
    }
}

impl fmt::Debug for ConnectRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password stays out of logs and panic messages.
        f.debug_struct("ConnectRequest")
            .field("client_id", &self.client_id)
            .field("user_name", &self.user_name)
            .field("password", &self.password.map(|_| ".."))
            .field("certificate_identity", &self.certificate_identity)
            .field("listener", &self.listener)
            .field("peer", &self.peer)
            .field("version", &self.version)
            .finish()
    }
}

/// An accepted client, as authorisers and hooks see it. The broker keeps one per session, shared by
/// reference; hooks are given `&ClientInfo` and may clone what they keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub(crate) client_id: Arc<str>,
    pub(crate) user_name: Option<Arc<str>>,
    /// `None` for a persistent session restored from disk whose client has not reconnected since
    /// the broker started: all that is known of it then is its identifier and user name.
    pub(crate) connection: Option<ConnectionInfo>,
}

/// What is known of a client's current (or last) connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectionInfo {
    pub(crate) listener: Listener,
    pub(crate) peer: SocketAddr,
    pub(crate) version: ProtocolVersion,
    pub(crate) certificate_identity: Option<Arc<str>>,
}

impl ClientInfo {
    /// A session restored from disk, before its client reconnects.
    pub(crate) fn restored(client_id: Arc<str>, user_name: Option<Arc<str>>) -> Self {
        Self {
            client_id,
            user_name,
            connection: None,
        }
    }

    /// The client identifier.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The user name the client acts under: the one authentication settled on (CONNECT's, or what
    /// an authenticator answered with [`Authentication::AcceptAs`]). An anonymous client that sent a
    /// user name keeps it here, as mosquitto does, for ACL rules.
    pub fn user_name(&self) -> Option<&str> {
        self.user_name.as_deref()
    }

    /// The listener the client connected through; `None` only for a persistent session restored
    /// from disk whose client has not reconnected yet (asked about in [`Authoriser::may_receive`]).
    pub fn listener(&self) -> Option<Listener> {
        self.connection
            .as_ref()
            .map(|connection| connection.listener)
    }

    /// The client's address (`None` as for [`listener`](Self::listener)).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.connection.as_ref().map(|connection| connection.peer)
    }

    /// The version of MQTT the client's connection speaks: 3.1, 3.1.1 or 5.0 (`None` as for
    /// [`listener`](Self::listener)).
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.connection
            .as_ref()
            .map(|connection| connection.version)
    }

    /// Whether the client's connection speaks MQTT 5.0 (false as well for a session restored
    /// from disk whose client has not reconnected).
    pub fn is_mqtt5(&self) -> bool {
        self.protocol_version() == Some(ProtocolVersion::Mqtt5)
    }

    /// The subject CN of the client's certificate, on a TLS listener that verified one.
    pub fn certificate_identity(&self) -> Option<&str> {
        self.connection
            .as_ref()
            .and_then(|connection| connection.certificate_identity.as_deref())
    }
}

/// An application message, borrowed for the length of one call.
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    pub(crate) message: &'a Message,
}

impl<'a> MessageView<'a> {
    pub(crate) fn new(message: &'a Message) -> Self {
        Self { message }
    }

    /// The topic name.
    pub fn topic(&self) -> &'a str {
        &self.message.topic
    }

    /// The payload.
    pub fn payload(&self) -> &'a [u8] {
        &self.message.payload
    }

    /// The QoS it was published with.
    pub fn qos(&self) -> QoS {
        self.message.qos
    }

    /// Whether the publisher asked for it to be retained (in [`Authoriser::may_receive`], also true
    /// for a retained message sent because of a new subscription).
    pub fn retain(&self) -> bool {
        self.message.retain
    }
}

/// The members registered through [`BrokerBuilder`](crate::BrokerBuilder), kept across reloads.
#[derive(Clone, Default)]
pub(crate) struct Plugins {
    pub(crate) authenticators: Vec<Arc<dyn Authenticator>>,
    pub(crate) authorisers: Vec<Arc<dyn Authoriser>>,
    pub(crate) hooks: Vec<Arc<dyn Hooks>>,
    pub(crate) scram: Vec<Arc<dyn ScramCredentialStore>>,
    pub(crate) enhanced: Vec<Arc<dyn EnhancedAuthenticator>>,
}

impl fmt::Debug for Plugins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Plugins({} authenticators, {} authorisers, {} hooks, {} SCRAM stores, {} enhanced \
             authenticators)",
            self.authenticators.len(),
            self.authorisers.len(),
            self.hooks.len(),
            self.scram.len(),
            self.enhanced.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugin that implements nothing defers every question and accepts every PUBLISH, so that
    /// registering it changes nothing.
    #[test]
    fn the_defaults_defer_and_accept() {
        struct Nothing;
        impl Authoriser for Nothing {}
        impl Hooks for Nothing {}
        let client = ClientInfo::restored("c".into(), Some("u".into()));
        let message = Message::new("t", b"p", QoS::AtLeastOnce, true);
        let view = MessageView::new(&message);
        assert_eq!(Nothing.may_publish(&client, &view), Permission::Defer);
        assert_eq!(
            Nothing.may_subscribe(&client, "t/#", QoS::AtMostOnce),
            Permission::Defer
        );
        assert_eq!(Nothing.may_receive(&client, &view), Permission::Defer);
        assert_eq!(Nothing.on_publish(&client, &view), PublishDecision::Accept);
        assert_eq!(
            (view.topic(), view.payload(), view.qos(), view.retain()),
            ("t", &b"p"[..], QoS::AtLeastOnce, true)
        );
        assert_eq!(client.listener(), None, "restored: no connection yet");
        assert_eq!(client.protocol_version(), None);
        assert!(!client.is_mqtt5());
        assert_eq!(client.user_name(), Some("u"));
    }

    /// The password never shows in a `ConnectRequest`'s debug form.
    /// A 5.0 client is told apart from a 3.1.1 one: its connection keeps the 3.1.1 level for the
    /// code the two share, which is not what a hook is to see.
    #[test]
    fn a_5_0_connection_is_version_5_whatever_level_its_decoder_has() {
        assert_eq!(
            ProtocolVersion::of(ProtocolLevel::Mqtt311, true),
            ProtocolVersion::Mqtt5
        );
        assert_eq!(
            ProtocolVersion::of(ProtocolLevel::Mqtt311, false),
            ProtocolVersion::Mqtt311
        );
        assert_eq!(
            ProtocolVersion::of(ProtocolLevel::Mqtt31, false),
            ProtocolVersion::Mqtt31
        );
        let bytes: Vec<u8> = [
            ProtocolVersion::Mqtt31,
            ProtocolVersion::Mqtt311,
            ProtocolVersion::Mqtt5,
        ]
        .map(ProtocolVersion::level_byte)
        .into();
        assert_eq!(bytes, [3, 4, 5]);
        assert_eq!(ProtocolVersion::Mqtt5.to_string(), "MQTT 5.0");
    }

    #[test]
    fn a_connect_request_does_not_print_its_password() {
        let request = ConnectRequest {
            client_id: "c",
            user_name: Some("u"),
            password: Some(b"hunter2"),
            certificate_identity: None,
            listener: Listener {
                index: 0,
                address: SocketAddr::from(([127, 0, 0, 1], 1883)),
                tls: false,
            },
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
            version: ProtocolVersion::Mqtt311,
        };
        assert!(!format!("{request:?}").contains("hunter2"));
        assert!(!request.is_mqtt5());
    }
}

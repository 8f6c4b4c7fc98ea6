//! A blocking MQTT 3.1 / 3.1.1 / 5.0 broker: one thread per connection, which reads its socket and
//! writes what it routes into its subscribers' sockets itself, with a second thread only while a
//! client is behind; shared state behind `parking_lot` locks that are never held across I/O.
//!
//! Start one in-process from a [`Config`], learn where it listens, stop it:
//!
//! ```
//! use mqtt_broker::{Broker, Config};
//!
//! let config = Config {
//!     listeners: vec!["127.0.0.1:0".parse()?], // any free port
//!     ..Config::default()
//! };
//! let broker = Broker::start(config)?;
//! let address = broker.local_addrs()[0];
//! assert_ne!(address.port(), 0);
//! broker.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A guided tour
//!
//! Read the files in this order; each opens with what it does and does not do. Every file of
//! `src/` is here. How a message travels between them, across threads, and what the broker's own
//! words (slot, link, window, queue...) mean, is in [`architecture`].
//!
//! **Start here**
//!
//! | To see how…                                                           | read                        |
//! |-----------------------------------------------------------------------|-----------------------------|
//! | the public API: start, reload, shut down                              | `lib.rs` (here)             |
//! | listeners are bound, connections accepted and refused at the limit    | `start.rs`                  |
//! | the configuration file is read: the line loop and the final check      | `config/mod.rs`             |
//! | one listener's settings (protocol, TLS, `http_dir`, per-listener security) | `config/listener.rs`   |
//! | each group of directives (listeners, security, limits, logging, ...)  | `config/directives/`        |
//! | `include_dir`; mosquitto directives refused by name, with why        | `config/include.rs`, `config/unsupported.rs` |
//! | `pid_file` and `user` around the broker process                       | `process.rs`                |
//! | plain HTTP GETs served from `http_dir` on WebSocket listeners         | `transport/http_dir.rs`     |
//! | where the log goes and what it holds (mosquitto's `log_*` directives)  | `logging.rs`                |
//! | the `log` backend honouring them: files, syslog, `$SYS/broker/log`    | `logging/logger.rs`         |
//! | mosquitto's connection and per-packet debug lines                     | `logging/lines.rs`          |
//! | RFC 3164 syslog datagrams                                             | `logging/syslog.rs`         |
//! | mosquitto-style timestamps (`log_timestamp_format`)                   | `logging/timestamp.rs`      |
//! | the connection limit is derived from the system's                     | `limits.rs`                 |
//! | reload on SIGHUP (files, certificates), clean stop                    | `main.rs`                   |
//! | the `mqtt-passwd` tool edits password files (and SCRAM ones)          | `bin/mqtt_passwd.rs`        |
//!
//! **One connection (`connection/`)**
//!
//! | To see how…                                                           | read                        |
//! |-----------------------------------------------------------------------|-----------------------------|
//! | the folder's parts fit together                                       | `connection/mod.rs`         |
//! | a socket becomes packets, and packets become actions                  | `connection/reader.rs`      |
//! | the protocol rules of one connection are decided, sans I/O            | `connection/protocol.rs`    |
//! | ... and their MQTT 5.0 form (properties, Reason Codes, topic aliases) | `connection/protocol/v5.rs` |
//! | ... and 5.0 enhanced authentication (AUTH packets, any method)        | `connection/protocol/auth.rs` |
//! | packets reach the socket, written by the thread that sent them        | `connection/writer.rs`      |
//! | ... naming a 5.0 client's topics by the aliases it accepts, sans I/O  | `connection/topic_aliases.rs` |
//! | those rules are driven by hand, bytes and time in (a runnable example) | [`sans_io`] (`sans_io.rs`)  |
//!
//! **Where a message goes (`routing/`)**
//!
//! | To see how…                                                           | read                        |
//! |-----------------------------------------------------------------------|-----------------------------|
//! | the folder's parts fit together                                       | `routing/mod.rs`            |
//! | a message finds its subscribers; the locks and their order            | `routing/router.rs`         |
//! | a session's queue, in-flight window and QoS 2 state work              | `routing/session_state.rs`  |
//! | an offline session ends when its expiry interval passes               | `routing/session_expiry.rs` |
//! | deliveries are packed and queued for a writer                         | `routing/outbound.rs`       |
//! | a connection asks the router for a session, or reports an ack         | `routing/requests.rs`       |
//! | topic filters are indexed                                             | `routing/subscriptions.rs`  |
//! | `$share` groups pick a member                                         | `routing/shared.rs`         |
//! | retained messages are kept                                            | `routing/retained.rs`       |
//! | a message is held once, whoever receives it                           | `message.rs`                |
//! | a 5.0 subscription's options travel from SUBSCRIBE to disk            | `subscription_options.rs`   |
//! | `$SYS` figures are published; the counters behind them                | `sys.rs`, `metrics.rs`      |
//! | the same figures are served to Prometheus over HTTP                   | `prometheus.rs`             |
//!
//! **What carries the bytes (`transport/`)**
//!
//! | To see how…                                                           | read                        |
//! |-----------------------------------------------------------------------|-----------------------------|
//! | the folder's parts fit together                                       | `transport/mod.rs`          |
//! | one stream (plain, TLS, WebSocket) is shared by a reader and a writer | `transport/stream.rs`       |
//! | TLS listeners are configured; a certificate's CN is read              | `transport/tls.rs`          |
//! | MQTT travels over WebSocket: the upgrade and the frames               | `transport/websocket.rs`    |
//! | the WebSocket handshake's (and password file's) base64: `mqtt-scram`'s | `transport/mod.rs`          |
//!
//! **Who may do what (`security/`, `hooks.rs`)**
//!
//! | To see how…                                                           | read                        |
//! |-----------------------------------------------------------------------|-----------------------------|
//! | the folder's parts fit together                                       | `security/mod.rs`           |
//! | a CONNECT is authenticated; the ACL is consulted                      | `security/auth.rs`          |
//! | mosquitto password files are read and written                         | `security/password_file.rs` |
//! | SCRAM-SHA-256, the built-in enhanced authentication method, runs      | `security/scram.rs`         |
//! | SCRAM-SHA-256 credentials (`scram_password_file`) are read            | `security/scram_file.rs`    |
//! | mosquitto ACL files are read and matched                              | `security/acl.rs`           |
//! | a program embedding the broker extends it (plugin traits)             | `hooks.rs`                  |
//!
//! **What survives a crash (`persistence/`)**
//!
//! | To see how…                                                           | read                        |
//! |-----------------------------------------------------------------------|-----------------------------|
//! | a change of durable state is encoded                                  | `record.rs`                 |
//! | state is loaded, logged and compacted; fsync before acking            | `persistence/mod.rs`        |
//! | the log's files are framed, checked and synced                        | `persistence/wal.rs`        |
//!
//! **Other brokers (`bridge/`)**
//!
//! | To see how…                                                           | read                        |
//! |-----------------------------------------------------------------------|-----------------------------|
//! | a bridge carries topics to and from another broker                    | `bridge/mod.rs`             |
//! | a bridge's `connection` block is read                                 | `bridge/config.rs`          |
//! | a bridge's local side is an ordinary connection                       | `bridge/local.rs`           |
//! | two threads talk as over a socket, in memory                          | `transport/duplex.rs`       |
//!
//! **Testing without sockets**
//!
//! | To see how…                                                           | read                        |
//! |-----------------------------------------------------------------------|-----------------------------|
//! | the sessions and router are fuzzed                                    | `fuzzing.rs`                |
//!
//! To add your own authentication, authorisation or message hooks, see [`hooks`] and
//! [`Broker::builder`].
//!
//! `ARCHITECTURE.md` beside this crate explains the threads, the locks and the memory per connection;
//! `README.md` is for operators.

mod bridge;
mod config;
mod connection;
// The fuzz targets' way in (see `fuzz/` at the workspace root); not part of the API.
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;

/// The broker's architecture (`ARCHITECTURE.md` beside this crate): the code map, a message's life
/// across threads at each QoS, the threads, the locks, memory, security, persistence, and a glossary
/// of the words the code uses. Documentation only: this module has no items.
#[doc = include_str!("../ARCHITECTURE.md")]
pub mod architecture {}
#[cfg(test)]
mod layering;
mod limits;
mod logging;
mod memory_limit;
mod message;
mod metrics;
mod persistence;
pub mod process;
mod prometheus;
mod record;
mod routing;
pub mod sans_io;
mod security;
mod start;
mod subscription_options;
mod sys;
mod transport;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use log::{info, warn};
use parking_lot::{Condvar, Mutex, RwLock};

pub use bridge::config::{BridgeConfig, BridgeTls, BridgeTopic, Direction};
pub use config::{Config, ConfigError, ListenerSettings, ProcessSettings, SecuritySettings};
pub use logging::{LogDestination, LogSettings, LogType, Logger};
pub use security::password_file::{
    DEFAULT_ITERATIONS, PasswordFile, PasswordFileError, hash_line, is_hashed_or_blank, line_user,
};
pub use security::scram_file::{ScramPasswordFile, scram_line};
pub use transport::tls::{TlsSettings, TlsVersion};

use connection::Context;
use hooks::{Authenticator, Authoriser, Hooks, Plugins};
use persistence::Persistence;
use security::auth::{Security, SecuritySources};
use transport::tls;

/// Stack size of reader threads: the decoder and the session need little (the read buffer is on the
/// heap), and 128 KiB leaves a wide margin for logging and debug builds (see ARCHITECTURE.md, "Memory").
pub const READER_STACK_SIZE: usize = 128 * 1024;
/// Stack size of the helper threads that write to clients that are behind, which only encode into a
/// heap buffer.
pub const WRITER_STACK_SIZE: usize = 64 * 1024;

/// The entry point: [`Broker::start`].
#[derive(Debug)]
pub struct Broker;

/// Why a broker could not start.
#[derive(Debug)]
pub enum StartError {
    /// A listener could not be bound (address in use, permission denied...).
    Bind(SocketAddr, io::Error),
    /// A thread could not be started.
    Thread(io::Error),
    /// The configuration has no listener.
    NoListener,
    /// The password file or the ACL file is unreadable or has a bad line (the message names both).
    Security(String),
    /// A TLS listener's certificate, key or CA file is missing, unreadable or inconsistent.
    Tls(String),
    /// The persistence directory cannot be used, or a file in it is damaged (the message names the
    /// file and the byte offset).
    Persistence(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind(address, error) => write!(f, "cannot listen on {address}: {error}"),
            Self::Thread(error) => write!(f, "cannot start a thread: {error}"),
            Self::NoListener => f.write_str("no listener configured"),
            Self::Security(message) | Self::Tls(message) | Self::Persistence(message) => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for StartError {}

/// A running broker. Dropping it shuts it down, as [`shutdown`](Self::shutdown) does.
#[derive(Debug)]
pub struct BrokerHandle {
    context: Arc<Context>,
    local_addrs: Vec<SocketAddr>,
    acceptors: Vec<JoinHandle<()>>,
    sys: Option<(crossbeam_channel::Sender<()>, JoinHandle<()>)>,
    /// The thread that ends offline sessions whose expiry passed (stopped through the router's
    /// schedule).
    expiry: Option<JoinHandle<()>>,
    /// Reader threads still running, and a condition signalled when one ends.
    live: Arc<(Mutex<usize>, Condvar)>,
    /// What [`reload`](Self::reload) reads again (boxed: only reload looks at it, and it keeps the
    /// handle small for those who hold it in an enum).
    reloadable: Box<Reloadable>,
    /// With persistence: the store, its flusher thread and the compaction thread (with its stop).
    persistence: Option<PersistenceThreads>,
    /// The bridges' threads, stopped first at shutdown. (A boxed slice rather than a `Vec`: the
    /// handle is kept small, since callers hold it in enums.)
    bridges: Box<[bridge::BridgeHandle]>,
    /// The Prometheus endpoint, with `metrics_listener` (boxed, like `bridges`, to keep the
    /// handle small).
    metrics: Option<Box<prometheus::MetricsServer>>,
}

/// The files behind the settings that `SIGHUP` reloads, and where each one is in force.
#[derive(Debug)]
struct Reloadable {
    /// Where the security settings were read from (and the registered plugins), to build them
    /// again.
    security_sources: SecuritySources,
    /// Each TLS listener's settings and the rustls configuration its acceptor hands to new
    /// connections.
    tls_listeners: Vec<(TlsSettings, Arc<RwLock<Arc<rustls::ServerConfig>>>)>,
}

#[derive(Debug)]
struct PersistenceThreads {
    store: Arc<Persistence>,
    flusher: JoinHandle<()>,
    compactor: (crossbeam_channel::Sender<()>, JoinHandle<()>),
}

/// A broker about to start, with the plugins to install: see [`hooks`] for what they can do.
///
/// ```
/// use std::sync::Arc;
/// use mqtt_broker::hooks::{ClientInfo, Hooks};
/// use mqtt_broker::{Broker, Config};
///
/// struct LogConnects;
/// impl Hooks for LogConnects {
///     fn on_connect(&self, client: &ClientInfo) {
///         println!("{} connected", client.client_id());
///     }
/// }
///
/// let broker = Broker::builder(Config {
///     listeners: vec!["127.0.0.1:0".parse()?],
///     ..Config::default()
/// })
/// .hooks(Arc::new(LogConnects))
/// .start()?;
/// broker.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BrokerBuilder {
    config: Config,
    plugins: Plugins,
}

impl BrokerBuilder {
    /// Adds an authenticator, asked after those added before it (and after the certificate
    /// identity, before the password file).
    pub fn authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.plugins.authenticators.push(authenticator);
        self
    }

    /// Adds an authoriser, asked after those added before it and before the ACL file.
    pub fn authoriser(mut self, authoriser: Arc<dyn Authoriser>) -> Self {
        self.plugins.authorisers.push(authoriser);
        self
    }

    /// Adds a source of SCRAM-SHA-256 credentials for MQTT 5.0 enhanced authentication, asked
    /// after those added before it and before the `scram_password_file` (see
    /// [`hooks`], "Enhanced authentication").
    pub fn scram_credentials(mut self, store: Arc<dyn hooks::ScramCredentialStore>) -> Self {
        self.plugins.scram.push(store);
        self
    }

    /// Adds an MQTT 5.0 enhanced authentication method (or several), asked after those added
    /// before it and before the built-in SCRAM-SHA-256 (see [`hooks`], "Enhanced
    /// authentication").
    pub fn enhanced_authenticator(
        mut self,
        authenticator: Arc<dyn hooks::EnhancedAuthenticator>,
    ) -> Self {
        self.plugins.enhanced.push(authenticator);
        self
    }

    /// Adds message hooks, called after those added before them.
    pub fn hooks(mut self, hooks: Arc<dyn Hooks>) -> Self {
        self.plugins.hooks.push(hooks);
        self
    }

    /// Binds every listener and starts serving, as [`Broker::start`] does.
    pub fn start(self) -> Result<BrokerHandle, StartError> {
        Broker::start_with(self.config, self.plugins)
    }
}

impl Broker {
    /// Binds every listener of `config` and starts serving, with no plugins.
    pub fn start(config: Config) -> Result<BrokerHandle, StartError> {
        Self::start_with(config, Plugins::default())
    }

    /// A broker to start with plugins ([`hooks`]) installed.
    pub fn builder(config: Config) -> BrokerBuilder {
        BrokerBuilder {
            config,
            plugins: Plugins::default(),
        }
    }
}

impl BrokerHandle {
    /// The addresses the listeners are bound to, in configuration order, with the ports the system
    /// chose for port 0.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Where the Prometheus metrics endpoint (`metrics_listener`) listens, if it is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|server| server.address)
    }

    /// Reads the password file, the ACL file (registered plugins stay as they are) and each TLS listener's `certfile`, `keyfile` and
    /// `cafile` again and puts them in force (what `SIGHUP` does). Connected clients stay connected:
    /// the new rules apply from their next packet, the new certificates from the next handshake.
    ///
    /// Each part is reloaded on its own: if the security files have an error, or a listener's TLS
    /// files are missing, unreadable or inconsistent (a key that does not match its certificate),
    /// that part keeps its previous settings, the others are still reloaded, and the errors (naming
    /// the files) are returned together.
    pub fn reload(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        match Security::load(&self.reloadable.security_sources) {
            Ok(security) => {
                info!("security reloaded: {}", security.describe());
                self.context.router.set_security(security);
            }
            Err(error) => errors.push(error),
        }
        for (settings, current) in &self.reloadable.tls_listeners {
            match tls::server_config(settings) {
                Ok(config) => {
                    *current.write() = config;
                    info!(
                        "TLS listener with certfile {}: certificates reloaded",
                        settings.certfile.display()
                    );
                }
                Err(error) => errors.push(format!("{error}; the listener keeps its certificates")),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    /// Stops accepting, disconnects every client without publishing Wills (see README, "Stopping"),
    /// and waits up to five seconds for connection threads to end.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.context.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        // Bridges first, while the router still serves their local side: each sends DISCONNECT to
        // its remote broker and leaves its local session to be resumed by the next run.
        for bridge in std::mem::take(&mut self.bridges) {
            bridge.stop();
        }
        // Wake each acceptor with a connection of our own; it sees the flag and returns.
        for address in &self.local_addrs {
            let target = match address.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => {
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), address.port())
                }
                IpAddr::V6(ip) if ip.is_unspecified() => {
                    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), address.port())
                }
                _ => *address,
            };
            let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
        }
        for acceptor in self.acceptors.drain(..) {
            let _ = acceptor.join();
        }
        if let Some(metrics) = self.metrics.take() {
            metrics.stop();
        }
        if let Some((stop, thread)) = self.sys.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
        if let Some(thread) = self.expiry.take() {
            self.context.router.expiries().stop();
            let _ = thread.join();
        }
        for link in self.context.router.detach_all() {
            link.disconnect_with(mqtt_codec::v5::ReasonCode::SERVER_SHUTTING_DOWN); // 5.0: 0x8B
        }
        let (count, ended) = &*self.live;
        let mut count = count.lock();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while *count > 0 {
            if ended.wait_until(&mut count, deadline).timed_out() {
                warn!("{} connections still closing at shutdown", *count);
                break;
            }
        }
        drop(count);
        if let Some(persistence) = self.persistence.take() {
            let _ = persistence.compactor.0.send(());
            let _ = persistence.compactor.1.join();
            let router = &self.context.router;
            if let Err(error) = persistence.store.compact(|| router.snapshot()) {
                warn!("persistence: final compaction failed: {error}");
            }
            persistence.store.stop();
            let _ = persistence.flusher.join();
        }
        info!("broker stopped");
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        if !self.acceptors.is_empty() {
            self.stop();
        }
    }
}

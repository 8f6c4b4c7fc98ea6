//! A blocking MQTT 3.1 / 3.1.1 broker: one reader and one writer thread per connection, joined by a
//! bounded channel; shared state behind `parking_lot` locks that are never held across I/O.
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
//! Read the files in this order; each opens with what it does and does not do.
//!
//! | To see how…                                               | read               |
//! |-----------------------------------------------------------|--------------------|
//! | listeners accept connections and refuse them at the limit | `lib.rs` (here)    |
//! | a socket becomes packets, and packets become actions      | `connection.rs`    |
//! | the protocol rules of one connection are decided, sans I/O| `session.rs`       |
//! | a message finds its subscribers; the locks and their order| `router.rs`        |
//! | a session's queue, in-flight window and QoS 2 state work  | `store.rs`         |
//! | topic filters are indexed                                 | `subscriptions.rs` |
//! | retained messages are kept                                | `retained.rs`      |
//! | packets reach the socket, batched                         | `writer.rs`        |
//! | `$SYS` figures are published                              | `sys.rs`           |
//! | the connection limit is derived from the system's         | `limits.rs`        |
//! | the configuration file is read                            | `config.rs`        |
//! | a program embedding the broker extends it (plugin traits) | `hooks.rs`         |
//! | a CONNECT is authenticated; the ACL is consulted          | `auth.rs`          |
//! | mosquitto password files are read and written             | `password_file.rs` |
//! | mosquitto ACL files are read and matched                  | `acl.rs`           |
//! | TLS listeners are configured; a certificate's CN is read  | `tls.rs`           |
//! | one TLS connection is shared by a reader and a writer     | `transport.rs`     |
//! | MQTT travels over WebSocket: the upgrade and the frames   | `websocket.rs`     |
//! | state survives a crash: the log, fsync before acking      | `persistence/`     |
//! | a bridge carries topics to and from another broker        | `bridge/`          |
//! | reload on SIGHUP (files, certificates), clean stop        | `main.rs`, here    |
//! | the sessions and router are fuzzed, without sockets       | `fuzzing.rs`       |
//!
//! To add your own authentication, authorisation or message hooks, see [`hooks`] and
//! [`Broker::builder`].
//!
//! `ARCHITECTURE.md` beside this crate explains the threads, the locks and the memory per connection;
//! `README.md` is for operators.

mod acl;
mod auth;
mod base64;
mod bridge;
mod config;
mod connection;
// The fuzz targets' way in (see `fuzz/` at the workspace root); not part of the API.
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;
mod limits;
mod message;
mod metrics;
mod outbound;
mod password_file;
mod persistence;
mod retained;
mod router;
mod session;
mod shared;
mod store;
mod subscriptions;
mod sys;
mod tls;
mod transport;
mod websocket;
mod writer;

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use log::{info, warn};
use parking_lot::{Condvar, Mutex, RwLock};

pub use bridge::config::{BridgeConfig, BridgeTls, BridgeTopic, Direction};
pub use config::{Config, ConfigError, SecuritySettings, TlsListener, WebSocketListener};
pub use password_file::{
    DEFAULT_ITERATIONS, PasswordFile, PasswordFileError, hash_line, is_hashed_or_blank, line_user,
};
pub use tls::TlsSettings;

use auth::{Security, SecuritySources};
use hooks::{Authenticator, Authoriser, Hooks, Listener, Plugins};
use persistence::{Persistence, Restored};
use transport::Stream;

use connection::{CONNACK_SERVER_UNAVAILABLE, Connection, Context};
use limits::SystemLimits;
use router::Router;
use session::Settings;
use store::Limits;

/// Stack size of reader threads: the decoder and the session need little (the read buffer is on the
/// heap), and 128 KiB leaves a wide margin for logging and debug builds (see ARCHITECTURE.md, "Memory").
pub const READER_STACK_SIZE: usize = 128 * 1024;
/// Stack size of writer threads, which only encode into a heap buffer.
pub const WRITER_STACK_SIZE: usize = 64 * 1024;
/// Packets a writer's channel holds beyond the in-flight window: room for acknowledgements and QoS 0
/// messages. When it is full, QoS 0 messages for that client wait in its session queue.
const CHANNEL_HEADROOM: usize = 256;
/// The largest a writer's channel gets, whatever `max_inflight_messages` says.
const CHANNEL_MAX: usize = 4096;

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

    fn start_with(config: Config, plugins: Plugins) -> Result<BrokerHandle, StartError> {
        if config.listeners.is_empty()
            && config.tls_listeners.is_empty()
            && config.websocket_listeners.is_empty()
        {
            return Err(StartError::NoListener);
        }
        // Listeners are numbered in `local_addrs` order: the plain ones, then the TLS ones, then
        // the WebSocket ones.
        let use_identity = config.identity_listeners();
        // Anonymous access by default only in local-only mode, and only if every listener really
        // is on loopback (a program may have set other addresses and left `local_only` on).
        let anonymous_by_default = config.local_only
            && config
                .listeners
                .iter()
                .chain(
                    config
                        .tls_listeners
                        .iter()
                        .map(|listener| &listener.address),
                )
                .chain(
                    config
                        .websocket_listeners
                        .iter()
                        .map(|listener| &listener.address),
                )
                .all(|address| address.ip().is_loopback());
        let security_sources = SecuritySources {
            anonymous_by_default,
            global: config.security_settings(),
            per_listener: config
                .per_listener_settings
                .then(|| config.listener_security.clone()),
            use_identity,
            plugins,
        };
        let security = Security::load(&security_sources).map_err(StartError::Security)?;
        info!("security: {}", security.describe());
        let mut tls_configs = Vec::new();
        for listener in &config.tls_listeners {
            tls_configs.push(tls::server_config(&listener.tls).map_err(StartError::Tls)?);
        }
        let mut websocket_configs = Vec::new();
        for listener in &config.websocket_listeners {
            let tls = match &listener.tls {
                Some(settings) => Some(tls::server_config(settings).map_err(StartError::Tls)?),
                None => None,
            };
            websocket_configs.push(tls);
        }
        let (store, restored) = if config.persistence {
            let (store, restored) =
                Persistence::open(&config.persistence_location).map_err(StartError::Persistence)?;
            (Some(Arc::new(store)), restored)
        } else {
            (None, Restored::default())
        };
        let (system_max, deciding) = SystemLimits::read().max_connections();
        let max_connections = match config.max_connections {
            Some(configured) if configured <= system_max => configured,
            Some(configured) => {
                warn!(
                    "max_connections {configured} is over what this system allows ({system_max}, \
                     limited by {deciding}); using {system_max}"
                );
                system_max
            }
            None => system_max,
        };
        info!(
            "accepting at most {max_connections} clients (limited by {})",
            match config.max_connections {
                Some(configured) if configured <= system_max => "max_connections",
                _ => deciding,
            }
        );
        let limits = Limits {
            max_inflight: config.max_inflight_messages,
            max_queued: config.max_queued_messages,
        };
        let window = if limits.max_inflight == 0 {
            CHANNEL_MAX
        } else {
            limits.max_inflight
        };
        let max_packet_size = if config.message_size_limit == 0 {
            mqtt_codec::MAX_PACKET_SIZE
        } else {
            // Room for the fixed header, topic and packet identifier around the payload; a payload over
            // the limit but within this is acknowledged and dropped, a larger packet closes the
            // connection before it is buffered.
            config.message_size_limit.saturating_add(5 + 2 + 65_535 + 2)
        };
        let context = Arc::new(Context {
            router: Arc::new(Router::new(limits, security, store.clone(), restored)),
            settings: Settings {
                connect_timeout: config.connect_timeout,
                allow_zero_length_clientid: config.allow_zero_length_clientid,
                auto_id_prefix: config.auto_id_prefix.clone(),
                message_size_limit: config.message_size_limit,
            },
            max_connections,
            admitted: AtomicUsize::new(0),
            channel_capacity: window.min(CHANNEL_MAX) + CHANNEL_HEADROOM,
            max_packet_size,
            shutting_down: AtomicBool::new(false),
            writer_stack: WRITER_STACK_SIZE,
            max_subscriptions: config.max_subscriptions_per_client,
            max_topic_levels: config.max_topic_levels,
        });
        let persistence = match store {
            Some(store) => Some(start_persistence(store, &context.router)?),
            None => None,
        };

        // What each listener wraps around TCP, in `local_addrs` order. The TLS configurations are
        // kept for reload too (new certificates on SIGHUP).
        let mut kinds = Vec::new();
        let mut tls_listeners = Vec::new();
        for address in &config.listeners {
            kinds.push((*address, Kind::default()));
        }
        for (listener, tls) in config.tls_listeners.iter().zip(tls_configs) {
            let tls = Arc::new(RwLock::new(tls));
            tls_listeners.push((listener.tls.clone(), Arc::clone(&tls)));
            let kind = Kind {
                tls: Some(tls),
                websocket: false,
            };
            kinds.push((listener.address, kind));
        }
        for (listener, tls) in config.websocket_listeners.iter().zip(websocket_configs) {
            let tls = match (&listener.tls, tls) {
                (Some(settings), Some(tls)) => {
                    let tls = Arc::new(RwLock::new(tls));
                    tls_listeners.push((settings.clone(), Arc::clone(&tls)));
                    Some(tls)
                }
                _ => None,
            };
            let kind = Kind {
                tls,
                websocket: true,
            };
            kinds.push((listener.address, kind));
        }
        let mut listeners = Vec::new();
        for (index, (address, kind)) in kinds.into_iter().enumerate() {
            let listener =
                TcpListener::bind(address).map_err(|error| StartError::Bind(address, error))?;
            let local = listener
                .local_addr()
                .map_err(|error| StartError::Bind(address, error))?;
            let what = match (kind.websocket, kind.tls.is_some()) {
                (false, false) => "",
                (false, true) => " (TLS)",
                (true, false) => " (WebSocket)",
                (true, true) => " (WebSocket over TLS)",
            };
            info!("listening on {local}{what}");
            let info = Listener {
                index,
                address: local,
                tls: kind.tls.is_some(),
            };
            listeners.push((listener, info, kind));
        }
        let local_addrs: Vec<SocketAddr> =
            listeners.iter().map(|(_, info, _)| info.address).collect();
        let live = Arc::new((Mutex::new(0usize), Condvar::new()));
        let next_id = Arc::new(AtomicU64::new(1));
        let mut acceptors = Vec::new();
        for (listener, info, kind) in listeners {
            let context = Arc::clone(&context);
            let live = Arc::clone(&live);
            let next_id = Arc::clone(&next_id);
            let acceptor = thread::Builder::new()
                .name(format!("accept-{}", info.address))
                .spawn(move || accept_loop(&listener, info, &kind, &context, &live, &next_id))
                .map_err(StartError::Thread)?;
            acceptors.push(acceptor);
        }
        let sys = if config.sys_interval.is_zero() {
            None
        } else {
            let (stop, stopped) = crossbeam_channel::bounded(1);
            let thread = sys::spawn(Arc::clone(&context.router), config.sys_interval, stopped)
                .map_err(StartError::Thread)?;
            Some((stop, thread))
        };
        let mut bridges = Vec::new();
        for bridge in &config.bridges {
            let handle =
                bridge::spawn(bridge.clone(), Arc::clone(&context)).map_err(StartError::Thread)?;
            bridges.push(handle);
        }
        Ok(BrokerHandle {
            context,
            local_addrs,
            acceptors,
            sys,
            live,
            reloadable: Box::new(Reloadable {
                security_sources,
                tls_listeners,
            }),
            persistence,
            bridges: bridges.into_boxed_slice(),
        })
    }
}

/// What a listener wraps around TCP: TLS, WebSocket, both or (the default) neither. (A TLS
/// listener's `use_identity_as_username` is in its security chain, `auth.rs`.)
#[derive(Default)]
struct Kind {
    /// With TLS, the configuration new connections get. Replaced whole on reload (a new
    /// certificate); each connection keeps the `Arc` it started with, so established ones are
    /// untouched. A leaf lock, held only to clone the `Arc`.
    tls: Option<Arc<RwLock<Arc<rustls::ServerConfig>>>>,
    /// `protocol websockets`.
    websocket: bool,
}

impl Kind {
    /// Whether MQTT bytes go straight onto the TCP socket.
    fn is_plain(&self) -> bool {
        self.tls.is_none() && !self.websocket
    }
}

/// Starts the log's flusher and the compaction thread, after a first compaction that folds what was
/// loaded into a fresh snapshot.
fn start_persistence(
    store: Arc<Persistence>,
    router: &Arc<Router>,
) -> Result<PersistenceThreads, StartError> {
    let flusher = {
        let store = Arc::clone(&store);
        thread::Builder::new()
            .name("persistence-flush".into())
            .spawn(move || store.run_flusher())
            .map_err(StartError::Thread)?
    };
    store
        .compact(|| router.snapshot())
        .map_err(StartError::Persistence)?;
    let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
    let compactor = {
        let store = Arc::clone(&store);
        let router = Arc::clone(router);
        thread::Builder::new()
            .name("persistence-compact".into())
            .spawn(move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Duration::from_secs(1))
                {
                    if store.wants_compaction()
                        && let Err(error) = store.compact(|| router.snapshot())
                    {
                        log::error!("persistence: compaction failed: {error}");
                    }
                }
            })
            .map_err(StartError::Thread)?
    };
    Ok(PersistenceThreads {
        store,
        flusher,
        compactor: (stop, compactor),
    })
}

impl BrokerHandle {
    /// The addresses the listeners are bound to, in configuration order, with the ports the system
    /// chose for port 0.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
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
        if let Some((stop, thread)) = self.sys.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
        for link in self.context.router.detach_all() {
            link.disconnect();
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

/// Accepts connections on one listener until shutdown.
fn accept_loop(
    listener: &TcpListener,
    info: Listener,
    kind: &Kind,
    context: &Arc<Context>,
    live: &Arc<(Mutex<usize>, Condvar)>,
    next_id: &AtomicU64,
) {
    for stream in listener.incoming() {
        if context.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                // Out of file descriptors, typically: back off rather than spin.
                warn!("accept failed: {error}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        let _ = stream.set_nodelay(true);
        // Threads for connections that have not sent CONNECT yet are capped too, so that a flood of
        // idle sockets cannot exhaust threads.
        let readers = *live.0.lock();
        if readers >= context.max_connections.saturating_add(64) {
            refuse(
                stream,
                kind.is_plain(),
                peer,
                "too many connections waiting for CONNECT or closing",
            );
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        // Cloned so that, if the thread cannot start, the socket is still here to answer on.
        let spare = stream.try_clone();
        let stream = match &kind.tls {
            None => Stream::Plain(stream),
            Some(tls) => match Stream::tls(stream, Arc::clone(&tls.read())) {
                Ok(stream) => stream,
                Err(error) => {
                    warn!("{peer}: cannot start TLS: {error}");
                    continue;
                }
            },
        };
        let stream = if kind.websocket {
            Stream::websocket(stream)
        } else {
            stream
        };
        *live.0.lock() += 1;
        let thread_context = Arc::clone(context);
        let thread_live = Arc::clone(live);
        let spawned = thread::Builder::new()
            .name(format!("reader-{id}"))
            .stack_size(READER_STACK_SIZE)
            .spawn(move || {
                Connection::new(thread_context, stream, peer, id, info).run();
                let (count, ended) = &*thread_live;
                *count.lock() -= 1;
                ended.notify_all();
            });
        if let Err(error) = spawned {
            *live.0.lock() -= 1;
            if let Ok(spare) = spare {
                let why = format!("cannot start a thread: {error}");
                refuse(spare, kind.is_plain(), peer, &why);
            }
        }
    }
}

/// Answers CONNACK 3 on a connection no thread could be given (on a plain listener; a TLS or
/// WebSocket one cannot speak MQTT before its handshake, so it only closes), and closes it.
fn refuse(mut stream: TcpStream, plain: bool, peer: SocketAddr, why: &str) {
    if plain {
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = stream.write_all(&CONNACK_SERVER_UNAVAILABLE);
    }
    warn!("{peer}: connection refused with CONNACK 3 (server unavailable): {why}");
}

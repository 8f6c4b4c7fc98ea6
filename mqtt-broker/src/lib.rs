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
//! | a CONNECT is authenticated; the ACL is consulted          | `auth.rs`          |
//! | mosquitto password files are read and written             | `password_file.rs` |
//! | mosquitto ACL files are read and matched                  | `acl.rs`           |
//! | TLS listeners are configured; a certificate's CN is read  | `tls.rs`           |
//! | one TLS connection is shared by a reader and a writer     | `transport.rs`     |
//! | state survives a crash: the log, fsync before acking      | `persistence/`     |
//! | reload on SIGHUP, clean stop on SIGINT/SIGTERM            | `main.rs`          |
//!
//! `ARCHITECTURE.md` beside this crate explains the threads, the locks and the memory per connection;
//! `README.md` is for operators.

mod acl;
mod auth;
mod base64;
mod config;
mod connection;
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
mod writer;

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use log::{info, warn};
use parking_lot::{Condvar, Mutex};

pub use config::{Config, ConfigError, TlsListener};
pub use password_file::{
    DEFAULT_ITERATIONS, PasswordFile, PasswordFileError, hash_line, is_hashed_or_blank, line_user,
};
pub use tls::TlsSettings;

use auth::{Security, SecurityFiles};
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
    /// Where the security settings were read from, to read them again on reload.
    security_files: SecurityFiles,
    /// With persistence: the store, its flusher thread and the compaction thread (with its stop).
    persistence: Option<PersistenceThreads>,
}

#[derive(Debug)]
struct PersistenceThreads {
    store: Arc<Persistence>,
    flusher: JoinHandle<()>,
    compactor: (crossbeam_channel::Sender<()>, JoinHandle<()>),
}

impl Broker {
    /// Binds every listener of `config` and starts serving.
    pub fn start(config: Config) -> Result<BrokerHandle, StartError> {
        if config.listeners.is_empty() && config.tls_listeners.is_empty() {
            return Err(StartError::NoListener);
        }
        let security_files = SecurityFiles {
            password_file: config.password_file.clone(),
            acl_file: config.acl_file.clone(),
            allow_anonymous: config.allow_anonymous,
        };
        let security = Security::load(&security_files).map_err(StartError::Security)?;
        info!("security: {}", security.describe());
        let mut tls_configs = Vec::new();
        for listener in &config.tls_listeners {
            tls_configs.push(tls::server_config(&listener.tls).map_err(StartError::Tls)?);
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

        let mut listeners = Vec::new();
        let plain = config.listeners.iter().map(|address| (*address, None));
        let secure = config
            .tls_listeners
            .iter()
            .zip(tls_configs)
            .map(|(listener, tls)| {
                let kind = Kind {
                    tls,
                    use_identity: listener.tls.use_identity_as_username,
                };
                (listener.address, Some(kind))
            });
        for (address, kind) in plain.chain(secure) {
            let listener =
                TcpListener::bind(address).map_err(|error| StartError::Bind(address, error))?;
            let local = listener
                .local_addr()
                .map_err(|error| StartError::Bind(address, error))?;
            info!(
                "listening on {local}{}",
                if kind.is_some() { " (TLS)" } else { "" }
            );
            listeners.push((listener, local, kind));
        }
        let local_addrs: Vec<SocketAddr> = listeners.iter().map(|(_, local, _)| *local).collect();
        let live = Arc::new((Mutex::new(0usize), Condvar::new()));
        let next_id = Arc::new(AtomicU64::new(1));
        let mut acceptors = Vec::new();
        for (listener, local, kind) in listeners {
            let context = Arc::clone(&context);
            let live = Arc::clone(&live);
            let next_id = Arc::clone(&next_id);
            let acceptor = thread::Builder::new()
                .name(format!("accept-{local}"))
                .spawn(move || accept_loop(&listener, kind.as_ref(), &context, &live, &next_id))
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
        Ok(BrokerHandle {
            context,
            local_addrs,
            acceptors,
            sys,
            live,
            security_files,
            persistence,
        })
    }
}

/// What a TLS listener adds to a plain one.
struct Kind {
    tls: Arc<rustls::ServerConfig>,
    use_identity: bool,
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

    /// Reads the password file and the ACL file again and puts them in force (what `SIGHUP` does).
    /// Connected clients stay connected; the new rules apply from their next packet. On an error the
    /// old settings stay and the error (file and line) is returned.
    pub fn reload(&self) -> Result<(), String> {
        let security = Security::load(&self.security_files)?;
        info!("security reloaded: {}", security.describe());
        self.context.router.set_security(security);
        Ok(())
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
    kind: Option<&Kind>,
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
                kind.is_none(),
                peer,
                "too many connections waiting for CONNECT or closing",
            );
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        // Cloned so that, if the thread cannot start, the socket is still here to answer on.
        let spare = stream.try_clone();
        let use_identity = kind.is_some_and(|kind| kind.use_identity);
        let stream = match kind {
            None => Stream::Plain(stream),
            Some(kind) => match Stream::tls(stream, Arc::clone(&kind.tls)) {
                Ok(stream) => stream,
                Err(error) => {
                    warn!("{peer}: cannot start TLS: {error}");
                    continue;
                }
            },
        };
        *live.0.lock() += 1;
        let thread_context = Arc::clone(context);
        let thread_live = Arc::clone(live);
        let spawned = thread::Builder::new()
            .name(format!("reader-{id}"))
            .stack_size(READER_STACK_SIZE)
            .spawn(move || {
                Connection::new(thread_context, stream, peer, id, use_identity).run();
                let (count, ended) = &*thread_live;
                *count.lock() -= 1;
                ended.notify_all();
            });
        if let Err(error) = spawned {
            *live.0.lock() -= 1;
            if let Ok(spare) = spare {
                let why = format!("cannot start a thread: {error}");
                refuse(spare, kind.is_none(), peer, &why);
            }
        }
    }
}

/// Answers CONNACK 3 on a connection no thread could be given (on a plain listener; a TLS one
/// cannot speak before its handshake, so it only closes), and closes it.
fn refuse(mut stream: TcpStream, plain: bool, peer: SocketAddr, why: &str) {
    if plain {
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = stream.write_all(&CONNACK_SERVER_UNAVAILABLE);
    }
    warn!("{peer}: connection refused with CONNACK 3 (server unavailable): {why}");
}

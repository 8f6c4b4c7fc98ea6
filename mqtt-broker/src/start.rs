//! Start-up: [`Broker::start_with`] turns a [`Config`] into a running broker, then one acceptor
//! thread per listener hands each accepted socket to a reader thread of its own.
//!
//! In order: the security chain and TLS configurations are loaded, persistence is opened and replayed,
//! the connection limit is derived from the system's (`limits.rs`), the shared [`Context`] is built,
//! every listener is bound, and the acceptors, the session-expiry thread, the `$SYS` thread (`sys.rs`)
//! and the bridges (`bridge/`) are started. A listener at its limit, or one where no thread can be
//! started, refuses with CONNACK 3.
//!
//! What the running broker is, and how it stops, is in `lib.rs` ([`BrokerHandle`]).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use log::{info, warn};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::connection::protocol::Settings;
use crate::connection::{CONNACK_SERVER_UNAVAILABLE, Connection, Context};
use crate::hooks::{Listener, Plugins};
use crate::limits::SystemLimits;
use crate::memory_limit::MemoryLimit;
use crate::message::Message;
use crate::metrics::Metrics;
use crate::persistence::{Persistence, Restored};
use crate::routing::router::Router;
use crate::routing::session_state::Limits;
use crate::security::auth::{Security, SecuritySources};
use crate::transport::{Stream, tls};
use crate::{
    Broker, BrokerHandle, Config, PersistenceThreads, READER_STACK_SIZE, Reloadable, StartError,
    WRITER_STACK_SIZE, bridge, prometheus, sys,
};

/// Packets a writer's channel holds beyond the in-flight window: room for acknowledgements and QoS 0
/// messages. When it is full, QoS 0 messages for that client wait in its session queue.
const CHANNEL_HEADROOM: usize = 256;
/// The largest a writer's channel gets, whatever `max_inflight_messages` says.
const CHANNEL_MAX: usize = 4096;

impl Broker {
    /// Binds every listener of `config`, with `plugins` installed, and starts serving: what
    /// [`Broker::start`] and [`BrokerBuilder::start`](crate::BrokerBuilder::start) do.
    pub(crate) fn start_with(config: Config, plugins: Plugins) -> Result<BrokerHandle, StartError> {
        if config.listeners.is_empty() {
            return Err(StartError::NoListener);
        }
        // Listeners are numbered in `local_addrs` order, the order of `config.listeners`.
        let use_identity = config.identity_listeners();
        // Anonymous access by default only in local-only mode, and only if every listener really
        // is on loopback (a program may have set other addresses and left `local_only` on).
        let anonymous_by_default = config.local_only
            && config
                .listeners
                .iter()
                .all(|listener| listener.address.ip().is_loopback());
        let security_sources = SecuritySources {
            anonymous_by_default,
            global: config.security_settings(),
            per_listener: config.per_listener_settings.then(|| {
                config
                    .listeners
                    .iter()
                    .map(|listener| listener.security.clone())
                    .collect()
            }),
            use_identity,
            plugins,
        };
        let security = Security::load(&security_sources).map_err(StartError::Security)?;
        info!("security: {}", security.describe());
        let mut tls_configs = Vec::new();
        for listener in &config.listeners {
            let tls = match &listener.tls {
                Some(settings) => Some(tls::server_config(settings).map_err(StartError::Tls)?),
                None => None,
            };
            tls_configs.push(tls);
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
            max_inflight_bytes: config.max_inflight_bytes,
            max_queued: config.max_queued_messages,
            drop_when_full: config.queue_full_drop,
            max_queued_bytes: config.max_queued_bytes,
            stall: config.write_timeout,
        };
        let window = if limits.max_inflight == 0 {
            CHANNEL_MAX
        } else {
            limits.max_inflight
        };
        let settings = Settings::from_config(&config);
        let max_packet_size = settings.max_packet_size;
        let context = Arc::new(Context {
            router: {
                let mut router = Router::new(limits, security, store.clone(), restored);
                router.expire_persistent_sessions_after(config.persistent_client_expiration);
                router.upgrade_outgoing_qos(config.upgrade_outgoing_qos);
                router.check_retain_source(config.check_retain_source);
                Arc::new(router)
            },
            settings,
            max_connections,
            admitted: AtomicUsize::new(0),
            channel_capacity: window.min(CHANNEL_MAX) + CHANNEL_HEADROOM,
            max_packet_size,
            shutting_down: AtomicBool::new(false),
            writer_stack: WRITER_STACK_SIZE,
            max_subscriptions: config.max_subscriptions_per_client,
            max_topic_levels: config.max_topic_levels,
            write_timeout: config.write_timeout,
            memory_limit: MemoryLimit::new(config.memory_limit),
        });
        if let Some(logger) = crate::Logger::installed() {
            logger
                .attach_topic(log_publisher(&context.router))
                .map_err(StartError::Thread)?;
        }
        let persistence = match store {
            Some(store) => Some(start_persistence(store, &context.router)?),
            None => None,
        };

        // What each listener wraps around TCP, in `local_addrs` order. The TLS configurations are
        // kept for reload too (new certificates on SIGHUP).
        let mut kinds = Vec::new();
        let mut tls_listeners = Vec::new();
        for (listener, tls) in config.listeners.iter().zip(tls_configs) {
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
                websocket: listener.websocket,
                http_dir: listener.http_dir.as_deref().map(Arc::from),
                subject_identity: listener
                    .tls
                    .as_ref()
                    .is_some_and(|tls| tls.use_subject_as_username),
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
        // Before the acceptors start, so that a metrics address that cannot be bound leaves no
        // thread behind.
        let metrics = match config.metrics_listener {
            Some(address) => Some(Box::new(
                prometheus::MetricsServer::start(address, Arc::clone(&context.router))
                    .map_err(|error| StartError::Bind(address, error))?,
            )),
            None => None,
        };
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
        let expiry = spawn_expiry(&context.router).map_err(StartError::Thread)?;
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
            expiry: Some(expiry),
            live,
            reloadable: Box::new(Reloadable {
                security_sources,
                tls_listeners,
            }),
            persistence,
            bridges: bridges.into_boxed_slice(),
            metrics,
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
    /// `use_subject_as_username`: a certificate's whole subject is the identity, not its CN.
    subject_identity: bool,
    /// A WebSocket listener's `http_dir`.
    http_dir: Option<Arc<std::path::Path>>,
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

/// Starts the thread that ends offline sessions when their expiry passes (see
/// `routing/session_expiry.rs`): it sleeps until the first deadline, never polls. Sessions restored
/// already past their deadline (the broker was down meanwhile) are ended at once.
fn spawn_expiry(router: &Arc<Router>) -> std::io::Result<thread::JoinHandle<()>> {
    let router = Arc::clone(router);
    thread::Builder::new()
        .name("session-expiry".into())
        .spawn(move || {
            while router.expiries().wait_due() {
                router.expire_sessions(std::time::Instant::now());
            }
        })
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
        Metrics::add(&context.router.metrics.sockets, 1);
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
            Some(tls) => {
                match Stream::tls(stream, Arc::clone(&tls.read()), kind.subject_identity) {
                    Ok(stream) => stream,
                    Err(error) => {
                        warn!("{peer}: cannot start TLS: {error}");
                        continue;
                    }
                }
            }
        };
        let stream = if kind.websocket {
            Stream::websocket(stream, kind.http_dir.clone())
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
                Connection::boxed(thread_context, stream, peer, id, info).run();
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

/// How `log_dest topic` lines reach `router`: published at QoS 0 while the broker lives. The logger
/// holds only a weak link, so a stopped broker is not kept alive by its log lines.
pub(crate) fn log_publisher(router: &Arc<Router>) -> impl Fn(&Message) -> bool + Send + 'static {
    let router = Arc::downgrade(router);
    move |message| {
        router.upgrade().is_some_and(|router| {
            router.publish(message);
            true
        })
    }
}

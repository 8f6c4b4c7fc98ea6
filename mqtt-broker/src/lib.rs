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
//!
//! `ARCHITECTURE.md` beside this crate explains the threads, the locks and the memory per connection;
//! `README.md` is for operators.

mod config;
mod connection;
mod limits;
mod message;
mod metrics;
mod outbound;
mod retained;
mod router;
mod session;
mod store;
mod subscriptions;
mod sys;
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

pub use config::{Config, ConfigError};

use connection::{CONNACK_SERVER_UNAVAILABLE, Connection, Context};
use limits::SystemLimits;
use router::Router;
use session::Settings;
use store::Limits;

/// Stack size of reader threads: the decoder, the session and a 4 KiB read chunk need little, and
/// 128 KiB leaves a wide margin for logging and debug builds (see ARCHITECTURE.md, "Memory").
pub const READER_STACK_SIZE: usize = 128 * 1024;
/// Stack size of writer threads, which only encode into a heap buffer.
pub const WRITER_STACK_SIZE: usize = 64 * 1024;
/// Packets a writer's channel holds beyond the in-flight window: room for acknowledgements and QoS 0
/// messages. When it is full, QoS 0 messages for that client are dropped and counted.
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
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind(address, error) => write!(f, "cannot listen on {address}: {error}"),
            Self::Thread(error) => write!(f, "cannot start a thread: {error}"),
            Self::NoListener => f.write_str("no listener configured"),
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
}

impl Broker {
    /// Binds every listener of `config` and starts serving.
    pub fn start(config: Config) -> Result<BrokerHandle, StartError> {
        if config.listeners.is_empty() {
            return Err(StartError::NoListener);
        }
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
            router: Arc::new(Router::new(limits)),
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
        });

        let mut listeners = Vec::new();
        for address in &config.listeners {
            let listener =
                TcpListener::bind(address).map_err(|error| StartError::Bind(*address, error))?;
            let local = listener
                .local_addr()
                .map_err(|error| StartError::Bind(*address, error))?;
            info!("listening on {local}");
            listeners.push((listener, local));
        }
        let local_addrs: Vec<SocketAddr> = listeners.iter().map(|(_, local)| *local).collect();
        let live = Arc::new((Mutex::new(0usize), Condvar::new()));
        let next_id = Arc::new(AtomicU64::new(1));
        let mut acceptors = Vec::new();
        for (listener, local) in listeners {
            let context = Arc::clone(&context);
            let live = Arc::clone(&live);
            let next_id = Arc::clone(&next_id);
            let acceptor = thread::Builder::new()
                .name(format!("accept-{local}"))
                .spawn(move || accept_loop(&listener, &context, &live, &next_id))
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
        })
    }
}

impl BrokerHandle {
    /// The addresses the listeners are bound to, in configuration order, with the ports the system
    /// chose for port 0.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Blocks until the broker stops, which only [`shutdown`](Self::shutdown) from another handle
    /// holder could cause; the binary calls this and lets signals end the process.
    pub fn wait(mut self) {
        for acceptor in self.acceptors.drain(..) {
            let _ = acceptor.join();
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
                peer,
                "too many connections waiting for CONNECT or closing",
            );
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        // Cloned so that, if the thread cannot start, the socket is still here to answer on.
        let spare = stream.try_clone();
        *live.0.lock() += 1;
        let thread_context = Arc::clone(context);
        let thread_live = Arc::clone(live);
        let spawned = thread::Builder::new()
            .name(format!("reader-{id}"))
            .stack_size(READER_STACK_SIZE)
            .spawn(move || {
                Connection::new(thread_context, stream, peer, id).run();
                let (count, ended) = &*thread_live;
                *count.lock() -= 1;
                ended.notify_all();
            });
        if let Err(error) = spawned {
            *live.0.lock() -= 1;
            if let Ok(spare) = spare {
                refuse(spare, peer, &format!("cannot start a thread: {error}"));
            }
        }
    }
}

/// Answers CONNACK 3 on a connection no thread could be given, and closes it.
fn refuse(mut stream: TcpStream, peer: SocketAddr, why: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&CONNACK_SERVER_UNAVAILABLE);
    warn!("{peer}: connection refused with CONNACK 3 (server unavailable): {why}");
}

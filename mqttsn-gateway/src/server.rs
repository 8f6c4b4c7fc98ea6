//! [`Gateway::start`]: the threads and sockets around the sans-IO [`Translator`].
//!
//! # The threading pattern
//!
//! ```text
//!  group socket ─▶ receive thread ─┐   (only when AdvertiseAddress is a multicast group)
//!  UDP socket ──▶ receive thread ──┤
//!  broker connections (mqtt-client)│ Input channel          ┌──▶ UDP socket (send_to)
//!    ├─ notification forwarders ───┼──────────▶ translator ─┤
//!    └─ connector threads ─────────┘            thread      └──▶ mqtt-client calls (never block)
//!  pending results (SUBACK, PUBACK, …) ───────▶ (owns the Translator and the pending results,
//!                                               sleeps until an input, a result or its deadline)
//! ```
//!
//! - **One thread owns the [`Translator`]**; every other thread only sends it inputs over one
//!   unbounded channel. There is no lock around protocol state.
//! - **Nothing the translator thread does blocks on the network**: `send_to` on a UDP socket does not
//!   wait for a peer, and `mqtt-client`'s `publish`, `subscribe` and `unsubscribe` return a pending
//!   result at once. Opening an MQTT connection does block (TCP, TLS, CONNACK), so each one is opened
//!   by a short-lived connector thread that reports back.
//! - **Acknowledgements** from the broker are awaited by the translator thread itself, which
//!   selects over its input channel and every pending result (`Pending::into_receiver`) at once,
//!   and hands each result to the translator with the [`Ack`](crate::action::Ack) it was given.
//! - **The broker's order is kept.** `mqtt-client` completes a request before it announces any
//!   message the broker sent after the answer, but on another channel, so a SUBACK and the
//!   retained PUBLISH right behind it could reach the translator in either order (and the client
//!   then got a PUBLISH under a topic id its SUBACK had not named yet). So before a connection's
//!   notification is handed on, every result of that connection already completed is handed on
//!   first: whatever the broker answered before that message reaches the translator before it.
//!   The translator does not rely on it alone: it never publishes with an id the client has not
//!   been told (see `topics.rs`).
//! - **The gateway's own connection** is opened by a thread that retries with backoff until it
//!   succeeds; `mqtt-client` then reconnects it with backoff by itself. Transparent client
//!   connections are never reconnected behind the client's back: the client is told instead.
//!
//! This file does not interpret MQTT-SN: every decision is the translator's.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender};
use mqtt_client::{
    Client, ConnectOptions, Error as ClientError, Notification, ProtocolLevel, ReconnectOptions,
    SubAckReturnCode, TlsOptions, reconnect::Backoff,
};

use crate::action::{Ack, Action, BrokerEvent, ConnId, ConnectRequest, Outcome};
use crate::config::Config;
use crate::translator::{Stats, Translator};

/// The largest datagram the gateway reads: the 3-octet Length allows 65 535 octets.
const MAX_DATAGRAM: usize = 65_535;
/// How often the receive thread looks up from its socket to see whether it should stop.
const RECEIVE_POLL: Duration = Duration::from_millis(100);

/// The entry point: [`Gateway::start`].
#[derive(Debug)]
pub struct Gateway;

/// A running gateway. Dropping it stops it, as [`shutdown`](Self::shutdown) does.
#[derive(Debug)]
pub struct GatewayHandle {
    local_addr: SocketAddr,
    inputs: Sender<Input>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    stats: Receiver<Stats>,
}

/// What the translator thread is told.
enum Input {
    Datagram(SocketAddr, Vec<u8>),
    /// A datagram sent to the multicast group.
    Group(SocketAddr, Vec<u8>),
    Broker(BrokerEvent),
    /// A connector thread's result.
    Opened(ConnId, Result<Client, ClientError>),
    /// The handle asks for the counters.
    Stats,
    Stop,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Datagram(from, bytes) => write!(f, "Datagram({from}, {} octets)", bytes.len()),
            Self::Group(from, bytes) => write!(f, "Group({from}, {} octets)", bytes.len()),
            Self::Broker(event) => write!(f, "Broker({event:?})"),
            Self::Opened(conn, result) => write!(f, "Opened({conn:?}, {})", result.is_ok()),
            Self::Stats => f.write_str("Stats"),
            Self::Stop => f.write_str("Stop"),
        }
    }
}

/// A pending broker result, awaited by the translator thread.
enum Pending {
    Publish(Receiver<Result<(), ClientError>>),
    Subscribe(Receiver<Result<Vec<SubAckReturnCode>, ClientError>>),
    Unsubscribe(Receiver<Result<(), ClientError>>),
}

/// A broker request whose result is awaited: on which connection, and what to tell the
/// translator when it comes.
struct Waiting {
    conn: ConnId,
    pending: Pending,
    ack: Ack,
}

impl Pending {
    /// The result if it has come (a closed channel is a failure), without waiting.
    fn try_outcome(&self) -> Option<Outcome> {
        use crossbeam_channel::TryRecvError;
        match self {
            Self::Publish(rx) | Self::Unsubscribe(rx) => match rx.try_recv() {
                Err(TryRecvError::Empty) => None,
                result => Some(unit_outcome(result.ok())),
            },
            Self::Subscribe(rx) => match rx.try_recv() {
                Err(TryRecvError::Empty) => None,
                result => Some(suback_outcome(result.ok())),
            },
        }
    }
}

fn unit_outcome(result: Option<Result<(), ClientError>>) -> Outcome {
    match result {
        Some(Ok(())) => Outcome::Done(None),
        _ => Outcome::Failed,
    }
}

fn suback_outcome(result: Option<Result<Vec<SubAckReturnCode>, ClientError>>) -> Outcome {
    match result {
        Some(Ok(codes)) => match codes.first() {
            Some(SubAckReturnCode::Granted(qos)) => Outcome::Done(Some(*qos)),
            _ => Outcome::Failed,
        },
        _ => Outcome::Failed,
    }
}

/// What the translator thread waits for next.
enum Next {
    Input(Input),
    /// The result of `waiting[index]`.
    Result(usize, Outcome),
    Timeout,
    Closed,
}

impl Gateway {
    /// Binds the UDP socket of `config.listen` and starts serving; the gateway's broker connection
    /// is opened in the background.
    pub fn start(mut config: Config) -> io::Result<GatewayHandle> {
        if config.broker_client_id.is_none() {
            config.broker_client_id = Some(format!(
                "{}-{}-{:08x}",
                config.gateway_name,
                config.gateway_id,
                instance_suffix()
            ));
        }
        let socket = UdpSocket::bind(config.listen)?;
        let local_addr = socket.local_addr()?;
        socket.set_read_timeout(Some(RECEIVE_POLL))?;
        if config.advertise_address.is_some_and(|a| a.ip().is_ipv4()) {
            // ADVERTISE may go to a broadcast address, which needs permission.
            socket.set_broadcast(true)?;
        }
        log::info!(
            "{} listening on {local_addr} ({:?} gateway, broker {}:{} as {:?})",
            config.gateway_name,
            config.kind,
            config.broker_host,
            config.broker_port,
            config.broker_client_id.as_deref().unwrap_or_default()
        );
        let (inputs, input_rx) = crossbeam_channel::unbounded();
        let (stats_tx, stats) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();

        let receive_socket = socket.try_clone()?;
        let receive_inputs = inputs.clone();
        let receive_stop = Arc::clone(&stop);
        threads.push(spawn("mqttsn-receive", move || {
            receive(
                &receive_socket,
                &receive_inputs,
                &receive_stop,
                Input::Datagram,
            );
        })?);
        if let Some(group) = join_group(&config, &socket)? {
            let group_inputs = inputs.clone();
            let group_stop = Arc::clone(&stop);
            threads.push(spawn("mqttsn-group", move || {
                receive(&group, &group_inputs, &group_stop, Input::Group);
            })?);
        }

        let gateway_config = config.clone();
        let gateway_inputs = inputs.clone();
        let gateway_stop = Arc::clone(&stop);
        threads.push(spawn("mqttsn-gateway-conn", move || {
            open_gateway_connection(&gateway_config, &gateway_inputs, &gateway_stop);
        })?);

        let core = Core {
            translator: Translator::new(config),
            socket,
            clients: HashMap::new(),
            inputs: inputs.clone(),
            waiting: Vec::new(),
            stats: stats_tx,
        };
        threads.push(spawn("mqttsn-translator", move || core.run(&input_rx))?);
        Ok(GatewayHandle {
            local_addr,
            inputs,
            stop,
            threads,
            stats,
        })
    }
}

impl GatewayHandle {
    /// The UDP address the gateway listens on (with the port chosen, if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The counters of the translator, asked for and waited on (at most a second).
    pub fn stats(&self) -> Option<Stats> {
        let _ = self.inputs.send(Input::Stats);
        self.stats.recv_timeout(Duration::from_secs(1)).ok()
    }

    /// Runs until the process ends.
    pub fn wait(mut self) {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }

    /// Stops every thread and closes every broker connection, cleanly.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.inputs.send(Input::Stop);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// 32 bits that differ between gateway instances, in one process or in several: the standard
/// library seeds each `RandomState` at random, and the time and a counter are mixed in.
fn instance_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(INSTANCES.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    let hash = hasher.finish();
    (hash ^ (hash >> 32)) as u32
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name(name.into()).spawn(body)
}

/// Joins the multicast group of `AdvertiseAddress`, if it is one, so that SEARCHGW sent to the
/// group is heard [SN-6.1-12]; `Some` with the socket to read when that is not the gateway's own
/// socket. Sending ADVERTISE to a group does not need membership; hearing the group does.
///
/// The group's port is usually not the gateway's (Paho's `MulticastPortNo` against
/// `GatewayPortNo`), so a second socket is bound to the group's address and port, and only the
/// group's datagrams reach it. When the gateway's socket already listens on every address at that
/// port, it joins the group itself. Failing to join is an error at start: a gateway configured to
/// be found on a group that cannot hear it would otherwise look healthy and never answer.
fn join_group(config: &Config, socket: &UdpSocket) -> io::Result<Option<UdpSocket>> {
    let Some(group) = config.advertise_address.filter(|a| a.ip().is_multicast()) else {
        return Ok(None);
    };
    let local = socket.local_addr()?;
    let shared = local.port() == group.port() && local.ip().is_unspecified();
    let group_socket = if shared {
        None
    } else {
        let socket = UdpSocket::bind(group).or_else(|_| {
            let any: std::net::IpAddr = if group.is_ipv4() {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            };
            UdpSocket::bind(SocketAddr::new(any, group.port()))
        })?;
        socket.set_read_timeout(Some(RECEIVE_POLL))?;
        Some(socket)
    };
    let member = group_socket.as_ref().unwrap_or(socket);
    let joined = match group.ip() {
        std::net::IpAddr::V4(ip) => member.join_multicast_v4(&ip, &config.multicast_interface),
        std::net::IpAddr::V6(ip) => member.join_multicast_v6(&ip, 0),
    };
    joined.map_err(|error| {
        io::Error::new(
            error.kind(),
            format!(
                "cannot join the multicast group {} on interface {}: {error}",
                group.ip(),
                config.multicast_interface
            ),
        )
    })?;
    log::info!(
        "joined the multicast group {group} on interface {} for SEARCHGW",
        config.multicast_interface
    );
    Ok(group_socket)
}

/// A receive thread: one datagram, one input.
fn receive(
    socket: &UdpSocket,
    inputs: &Sender<Input>,
    stop: &AtomicBool,
    input: fn(SocketAddr, Vec<u8>) -> Input,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::SeqCst) {
        match socket.recv_from(&mut buffer) {
            Ok((len, from)) => {
                let datagram = buffer.get(..len).unwrap_or_default().to_vec();
                if inputs.send(input(from, datagram)).is_err() {
                    return;
                }
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // An ICMP "port unreachable" from an earlier send surfaces here on some systems; it
            // concerns one peer, never the socket.
            Err(error) => log::debug!("receive: {error}"),
        }
    }
}

/// Options for an MQTT connection of this gateway.
fn options(
    config: &Config,
    request: &ConnectRequest,
    reconnect: bool,
) -> Result<ConnectOptions, ClientError> {
    let mut builder = ConnectOptions::builder(config.broker_host.clone(), config.broker_port)
        // MQTT 3.1.1 upstream, on purpose and whatever the client's default: MQTT-SN 1.2 is
        // specified against 3.1.x semantics and needs nothing of 5.0, every broker accepts 3.1.1
        // (5.0 brokers included), and a 5.0 connection would bring reason codes, session expiry
        // and topic aliases the translator would have to map without an MQTT-SN counterpart.
        // README, "Decisions"; pinned by tests/gateway/upstream.rs.
        .level(ProtocolLevel::Mqtt311)
        .client_id(request.client_id.clone())
        .clean_session(request.clean_session)
        .keep_alive(
            request
                .keep_alive
                .min(Duration::from_secs(u64::from(u16::MAX))),
        )
        .connect_timeout(Duration::from_secs(10));
    if let Some(user) = &config.user_name {
        builder = builder.credentials(
            user.clone(),
            config.password.clone().map(String::into_bytes),
        );
    }
    if config.tls {
        let mut tls = TlsOptions::system();
        if let Some(ca) = &config.ca_file {
            tls = tls.ca_file(ca.clone());
        }
        builder = builder.tls(tls);
    }
    if reconnect {
        let ReconnectOptions {
            min_delay,
            max_delay,
        } = reconnect_options(config);
        builder = builder.reconnect(min_delay, max_delay);
    }
    builder.build()
}

fn reconnect_options(config: &Config) -> ReconnectOptions {
    ReconnectOptions {
        min_delay: config.reconnect_min_delay,
        max_delay: config.reconnect_max_delay.max(config.reconnect_min_delay),
    }
}

/// The thread that opens the gateway's own connection, retrying with backoff: `mqtt-client` never
/// retries a first connection, only lost ones.
fn open_gateway_connection(config: &Config, inputs: &Sender<Input>, stop: &AtomicBool) {
    let request = ConnectRequest {
        client_id: config
            .broker_client_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", config.gateway_name, config.gateway_id)),
        clean_session: true,
        keep_alive: config.broker_keep_alive,
    };
    let mut backoff = Backoff::new(reconnect_options(config));
    while !stop.load(Ordering::SeqCst) {
        let result = options(config, &request, true).and_then(Client::connect);
        match result {
            Ok(client) => {
                let _ = inputs.send(Input::Opened(ConnId::GATEWAY, Ok(client)));
                return;
            }
            Err(error) => {
                let delay = backoff.next_delay();
                log::warn!("gateway connection to the broker failed: {error}; again in {delay:?}");
                let until = Instant::now() + delay;
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    thread::sleep(
                        RECEIVE_POLL.min(until.saturating_duration_since(Instant::now())),
                    );
                }
            }
        }
    }
}

/// The translator thread's state.
struct Core {
    translator: Translator,
    socket: UdpSocket,
    /// The open broker connections.
    clients: HashMap<ConnId, Client>,
    /// For threads started from here, and for results known at once.
    inputs: Sender<Input>,
    /// The broker requests whose results are awaited, in the order they were made.
    waiting: Vec<Waiting>,
    stats: Sender<Stats>,
}

impl Core {
    fn run(mut self, inputs: &Receiver<Input>) {
        loop {
            let next = self.next(inputs);
            let now = Instant::now();
            let actions = match next {
                Next::Input(Input::Datagram(from, bytes)) => {
                    self.translator.datagram(now, from, &bytes)
                }
                Next::Input(Input::Group(from, bytes)) => {
                    self.translator.group_datagram(now, from, &bytes)
                }
                Next::Input(Input::Broker(event)) => {
                    // What the broker answered before this event goes first.
                    if let Some(conn) = event.conn() {
                        self.settle(now, conn);
                    }
                    self.translator.broker(now, event)
                }
                Next::Input(Input::Opened(conn, Ok(client))) => {
                    self.opened(conn, client);
                    Vec::new()
                }
                Next::Input(Input::Opened(conn, Err(error))) => {
                    log::warn!("broker connection {conn:?} failed: {error}");
                    self.translator.broker(now, BrokerEvent::Lost(conn))
                }
                Next::Input(Input::Stats) => {
                    let _ = self.stats.send(self.translator.stats());
                    Vec::new()
                }
                Next::Result(index, outcome) => {
                    let waiting = self.waiting.remove(index);
                    self.translator
                        .broker(now, BrokerEvent::Done(waiting.ack, outcome))
                }
                Next::Timeout => self.translator.tick(now),
                Next::Input(Input::Stop) | Next::Closed => break,
            };
            self.execute(actions);
            // Timers are checked after every input, not only on a timeout, so that a busy gateway
            // still supervises its clients.
            if self.translator.next_deadline().is_some_and(|d| d <= now) {
                let actions = self.translator.tick(now);
                self.execute(actions);
            }
        }
        for (_, client) in self.clients.drain() {
            client.disconnect();
        }
    }

    /// Waits for an input, a pending result or the translator's deadline, whichever comes first.
    fn next(&self, inputs: &Receiver<Input>) -> Next {
        let mut select = Select::new();
        select.recv(inputs);
        for waiting in &self.waiting {
            match &waiting.pending {
                Pending::Publish(rx) | Pending::Unsubscribe(rx) => select.recv(rx),
                Pending::Subscribe(rx) => select.recv(rx),
            };
        }
        let operation = match self.translator.next_deadline() {
            Some(deadline) => match select.select_deadline(deadline) {
                Ok(operation) => operation,
                Err(_) => return Next::Timeout,
            },
            None => select.select(),
        };
        let index = operation.index();
        let Some(waiting) = index.checked_sub(1).and_then(|i| self.waiting.get(i)) else {
            return match operation.recv(inputs) {
                Ok(input) => Next::Input(input),
                Err(_) => Next::Closed,
            };
        };
        let outcome = match &waiting.pending {
            Pending::Publish(rx) | Pending::Unsubscribe(rx) => {
                unit_outcome(operation.recv(rx).ok())
            }
            Pending::Subscribe(rx) => suback_outcome(operation.recv(rx).ok()),
        };
        Next::Result(index - 1, outcome)
    }

    /// Hands the translator every result of connection `conn` that has already come, in the
    /// order the requests were made (see the module documentation: the broker's order).
    fn settle(&mut self, now: Instant, conn: ConnId) {
        let mut index = 0;
        while index < self.waiting.len() {
            let Some(waiting) = self.waiting.get(index) else {
                break;
            };
            let outcome = if waiting.conn == conn {
                waiting.pending.try_outcome()
            } else {
                None
            };
            match outcome {
                Some(outcome) => {
                    let waiting = self.waiting.remove(index);
                    let actions = self
                        .translator
                        .broker(now, BrokerEvent::Done(waiting.ack, outcome));
                    self.execute(actions);
                }
                None => index += 1,
            }
        }
    }

    /// A connection is open: keep it, and forward its notifications as broker events.
    fn opened(&mut self, conn: ConnId, client: Client) {
        if !self.translator.wants(conn) {
            // The client gave up, or connected again, while this connection was being opened; or
            // it is the clean-session connection that ends an expired client's broker session,
            // whose whole job was done by opening it.
            client.disconnect();
            return;
        }
        let notifications = client.notifications();
        let inputs = self.inputs.clone();
        let forwarder = thread::Builder::new()
            .name(format!("mqtt-notify-{}", conn.0))
            .spawn(move || {
                for notification in notifications {
                    let event = match notification {
                        Notification::Message(message) => BrokerEvent::Message {
                            conn,
                            topic: message.topic,
                            payload: message.payload,
                            qos: message.qos,
                            retain: message.retain,
                        },
                        Notification::Connected { .. } => BrokerEvent::Connected(conn),
                        Notification::ConnectionLost(_) => BrokerEvent::Lost(conn),
                    };
                    if inputs.send(Input::Broker(event)).is_err() {
                        return;
                    }
                }
            });
        match forwarder {
            Ok(_) => {
                self.clients.insert(conn, client);
            }
            Err(error) => {
                log::error!("cannot start a thread: {error}");
                let _ = self.inputs.send(Input::Broker(BrokerEvent::Lost(conn)));
            }
        }
    }

    fn execute(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send { to, datagram } => {
                    if let Err(error) = self.socket.send_to(&datagram, to) {
                        log::debug!("send to {to}: {error}");
                    }
                }
                Action::Connect(conn, request) => self.connect(conn, &request),
                Action::Disconnect(conn) => {
                    // Dropping the last handle disconnects in the background, with DISCONNECT.
                    self.clients.remove(&conn);
                }
                Action::Publish {
                    conn,
                    topic,
                    payload,
                    qos,
                    retain,
                    ack,
                } => {
                    let result = self
                        .client(conn)
                        .and_then(|client| client.publish(&topic, payload, qos, retain));
                    self.await_result(
                        conn,
                        result.map(|p| Pending::Publish(p.into_receiver())),
                        ack,
                    );
                }
                Action::Subscribe {
                    conn,
                    filter,
                    qos,
                    ack,
                } => {
                    let result = self
                        .client(conn)
                        .and_then(|client| client.subscribe(&[(&filter, qos)]));
                    self.await_result(
                        conn,
                        result.map(|p| Pending::Subscribe(p.into_receiver())),
                        ack,
                    );
                }
                Action::Unsubscribe { conn, filter, ack } => {
                    let result = self
                        .client(conn)
                        .and_then(|client| client.unsubscribe(&[&filter]));
                    self.await_result(
                        conn,
                        result.map(|p| Pending::Unsubscribe(p.into_receiver())),
                        ack,
                    );
                }
            }
        }
    }

    fn client(&self, conn: ConnId) -> Result<&Client, ClientError> {
        self.clients.get(&conn).ok_or(ClientError::NotConnected)
    }

    fn await_result(
        &mut self,
        conn: ConnId,
        result: Result<Pending, ClientError>,
        ack: Option<Ack>,
    ) {
        match (result, ack) {
            (Ok(pending), Some(ack)) => self.waiting.push(Waiting { conn, pending, ack }),
            (Ok(_), None) => {}
            (Err(error), ack) => {
                log::warn!("broker request failed: {error}");
                if let Some(ack) = ack {
                    let _ = self
                        .inputs
                        .send(Input::Broker(BrokerEvent::Done(ack, Outcome::Failed)));
                }
            }
        }
    }

    fn connect(&mut self, conn: ConnId, request: &ConnectRequest) {
        let options = match options(self.translator.config(), request, false) {
            Ok(options) => options,
            Err(error) => {
                log::warn!("{}: {error}", request.client_id);
                let _ = self.inputs.send(Input::Opened(conn, Err(error)));
                return;
            }
        };
        let inputs = self.inputs.clone();
        let started = thread::Builder::new()
            .name(format!("mqtt-connect-{}", conn.0))
            .spawn(move || {
                let _ = inputs.send(Input::Opened(conn, Client::connect(options)));
            });
        if let Err(error) = started {
            log::error!("cannot start a thread: {error}");
            let _ = self
                .inputs
                .send(Input::Opened(conn, Err(ClientError::NotConnected)));
        }
    }
}

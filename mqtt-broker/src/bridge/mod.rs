//! Bridges: this broker as a client of another broker, carrying chosen topics one way or both, with
//! mosquitto's configuration (`connection`, `address`, `topic`, ...: see `config.rs`).
//!
//! # The design, and why
//!
//! Each bridge is one thread (`run`) holding two connections:
//!
//! - **remote**: an `mqtt-client` [`Client`](mqtt_client::Client) to the other broker, over TCP or
//!   TLS, announced as a bridge when `try_private` is on (the top bit of the protocol level; the other
//!   broker then does not send back what the bridge publishes), or at MQTT 5.0 with
//!   `bridge_protocol_version mqttv50` (No Local and Retain As Published on its subscriptions
//!   instead of the bridge bit);
//! - **local**: an ordinary MQTT connection to this broker, but over an in-process duplex instead of
//!   TCP (`local.rs`, `transport/duplex.rs`). It is served by the same reader and writer as any client,
//!   so the router, the session rules, queueing, `$SYS` counters and persistence apply unchanged: the
//!   bridge needs no special path through the router, only two marks on its session (it is a bridge,
//!   so the router does not send back what it publishes here; it is trusted, so no password or ACL
//!   applies, as in mosquitto). TCP to ourselves would have needed a plain listener reachable from
//!   this host and credentials, and would cost a system call per packet. At 5.0 it speaks 5.0
//!   too, so that messages keep their properties across the bridge.
//!
//! **Nothing acknowledged is lost across an outage.** The local session is persistent (clean session
//! 0). A message from this broker is acknowledged to it (PUBACK, or PUBREC at QoS 2) only after the
//! remote broker acknowledged it. When the remote connection is lost, the bridge also closes its local
//! connection: unacknowledged messages stay in flight in its local session, and new QoS 1/2 messages
//! are queued there by the router, bounded by `max_queued_messages` and `max_queued_bytes`; beyond
//! that a client's PUBLISH for it is refused upstream (its publisher disconnected unacknowledged,
//! counted in `$SYS/broker/publish/messages/refused`), or with `queue_full_drop` dropped and
//! counted in `$SYS/broker/publish/messages/dropped`, as for any offline client. When the
//! remote is back, the bridge reconnects locally and this broker re-sends the in-flight messages (DUP
//! set) and then the queue [MQTT-4.4.0-1]. QoS 0 messages are not queued for an absent remote, as for
//! any offline client. In the other direction, messages from the remote broker are queued by *it*
//! while the bridge is away (with `cleansession false`, the default).
//!
//! What is not guaranteed: a message may cross twice if the connection drops after the remote
//! acknowledged it and before this broker received our acknowledgement (QoS 2 included, because the
//! two hops are separate QoS 2 flows); and a message received from the remote is acknowledged to it
//! by `mqtt-client` as soon as it arrives, before this broker has queued it, so a crash of this
//! process in between loses it.
//!
//! **Loops.** With `topic ... both`, a message published here goes out, and the remote broker would
//! send it back on the bridge's own remote subscription; then this broker would send it out again.
//! Both brokers break the loop in the same way: what a bridge connection publishes is not delivered
//! back to that connection (`Router::publish_from`). This broker does it for every connection that
//! announced itself with the bridge bit, its own local side included; the remote does it if it knows
//! the convention (mosquitto and this broker do). Against a broker that does not, use prefixes so
//! that the two directions do not overlap.
//!
//! **Notifications.** With `notifications true` (the default), the state of the bridge is published
//! retained to `notification_topic` (default `$SYS/broker/connection/<remote_clientid>/state`): `1`
//! when both connections are up, `0` at start and whenever the remote is lost; on the remote broker
//! too (unless `notifications_local_only`), where a Will sets `0` if the bridge vanishes.
//!
//! **Reconnection.** After a failed attempt the next `address` is tried; after a lost connection the
//! first one again (`round_robin false`) or the next (`round_robin true`). Between attempts the
//! bridge waits `restart_timeout` (constant, or doubling with jitter between two bounds); with
//! `start_type once` it does not try again at all. With `start_type lazy` only the local side is
//! open until `threshold` messages wait (held unacknowledged), and an `idle_timeout` without traffic
//! closes the remote side again. A broker shutting down stops each bridge
//! first, with DISCONNECT.

pub(crate) mod config;
mod local;

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError};
use log::{debug, info, warn};
use mqtt_client::v5::{ConnectProperties, SubscribeOptions, SubscribeProperties};
use mqtt_client::{
    Client, ConnectOptions, ConnectReturnCode, Error, LastWill, Notification, QoS,
    ReconnectOptions, TlsOptions,
};
use mqtt_codec::PacketId;

use crate::connection::Context;
use crate::message::Message;
use config::{BridgeConfig, StartType};
use local::{Local, LocalEvent};

/// A running bridge: its thread, and the channel that stops it.
#[derive(Debug)]
pub(crate) struct BridgeHandle {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl BridgeHandle {
    /// Stops the bridge (DISCONNECT to the remote broker) and waits for its thread.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Starts the thread of one bridge.
pub(crate) fn spawn(config: BridgeConfig, context: Arc<Context>) -> std::io::Result<BridgeHandle> {
    let (stop, stopped) = crossbeam_channel::bounded(1);
    let thread = thread::Builder::new()
        .name(format!("bridge-{}", config.name))
        .spawn(move || Bridge::new(config, context, stopped).run())?;
    Ok(BridgeHandle { stop, thread })
}

/// Why serving a pair of connections ended.
enum Ending {
    /// The broker is stopping.
    Stop,
    /// A connection was lost; reconnect.
    Lost(String),
    /// A lazy bridge saw no traffic for `idle_timeout`: disconnect, and wait for `threshold` again.
    Idle,
}

/// A message of this broker's sent to the remote, waiting for the remote's acknowledgement before
/// it is acknowledged here.
struct Unacknowledged {
    packet_id: PacketId,
    qos: QoS,
    result: Receiver<Result<(), Error>>,
}

struct Bridge {
    config: BridgeConfig,
    context: Arc<Context>,
    stopped: Receiver<()>,
    try_private: bool,
    backoff: mqtt_client::reconnect::Backoff,
    /// A lazy bridge's local side, opened while it waits for `threshold` messages, with the
    /// messages that arrived meanwhile (unacknowledged), for `serve` to carry first.
    waiting: Option<(Local, Vec<LocalEvent>)>,
}

impl Bridge {
    fn new(config: BridgeConfig, context: Arc<Context>, stopped: Receiver<()>) -> Self {
        let (min_delay, max_delay) = config.restart_timeout;
        Self {
            try_private: config.try_private,
            backoff: mqtt_client::reconnect::Backoff::new(ReconnectOptions {
                min_delay,
                max_delay,
            }),
            config,
            context,
            stopped,
            waiting: None,
        }
    }

    /// `start_type lazy`: opens the local side and waits until `threshold` messages wait for the
    /// remote (or the in-flight window, `max_inflight_messages`, is full: the rest then queue in
    /// the session, beyond the bridge's sight). False if the broker stops meanwhile.
    fn wait_for_threshold(&mut self, threshold: usize) -> bool {
        let filters = self.outgoing_filters();
        let mut local = loop {
            match Local::connect(&self.context, &self.config, &filters) {
                Ok(local) => break local,
                Err(why) => {
                    warn!("bridge {}: {why}", self.config.name);
                    if self.stopped.recv_timeout(self.backoff.next_delay()).is_ok() {
                        return false;
                    }
                }
            }
        };
        // Down, and now listening: for a lazy bridge this `0` comes once its local subscriptions are
        // in place, so that whoever waits for it knows messages are counted from then on.
        self.notify_local(false);
        let window = self.context.router.max_inflight();
        let threshold = if window == 0 {
            threshold
        } else {
            threshold.min(window)
        };
        let mut held: Vec<LocalEvent> = Vec::new();
        let mut pending = std::mem::take(&mut local.early);
        let mut count = pending
            .iter()
            .filter(|event| matches!(event, LocalEvent::Publish { .. }))
            .count();
        held.append(&mut pending);
        while count < threshold {
            crossbeam_channel::select! {
                recv(self.stopped) -> _ => {
                    local.close();
                    return false;
                }
                recv(local.events) -> event => match event {
                    Ok(LocalEvent::Closed) | Err(_) => {
                        local.close();
                        return self.wait_for_threshold(threshold);
                    }
                    Ok(event) => {
                        count += usize::from(matches!(event, LocalEvent::Publish { .. }));
                        held.push(event);
                    }
                },
            }
        }
        info!(
            "bridge {}: {count} messages wait for the remote (threshold); starting",
            self.config.name
        );
        self.waiting = Some((local, held));
        true
    }

    /// The local filters of the lines that carry messages out.
    fn outgoing_filters(&self) -> Vec<(String, QoS)> {
        self.config
            .topics
            .iter()
            .filter(|topic| topic.outgoing())
            .map(|topic| (topic.local_filter(), topic.qos))
            .collect()
    }

    fn run(mut self) {
        if !matches!(self.config.start_type, StartType::Lazy { .. }) {
            self.notify_local(false);
        }
        let mut index = 0;
        loop {
            if let StartType::Lazy { threshold, .. } = self.config.start_type
                && self.waiting.is_none()
                && !self.wait_for_threshold(threshold)
            {
                return;
            }
            let (host, port) = self.config.addresses[index % self.config.addresses.len()].clone();
            let ending = match self.connect_remote(&host, port) {
                Ok(remote) => {
                    info!("bridge {}: connected to {host}:{port}", self.config.name);
                    self.backoff.reset();
                    // After a lost connection, `round_robin false` goes back to the main (first)
                    // address; `round_robin true` goes on to the next one, as mosquitto does.
                    let on_secondary = index % self.config.addresses.len() != 0;
                    index = if self.config.round_robin {
                        index + 1
                    } else {
                        0
                    };
                    // Without round_robin, a bridge on a secondary address keeps looking for the
                    // main one, and moves back to it as soon as it answers.
                    let probe = (on_secondary && !self.config.round_robin)
                        .then(|| self.config.addresses[0].clone());
                    let ending = self.serve(&remote, probe);
                    self.notify_local(false);
                    let say_goodbye = self.config.notifications
                        && !self.config.notifications_local_only
                        && matches!(ending, Ending::Stop | Ending::Idle);
                    // A clean stop discards the Will, so the remote state is set to 0 by hand.
                    if say_goodbye
                        && let Ok(pending) = remote.publish(
                            &self.config.notification_topic,
                            "0",
                            QoS::AtLeastOnce,
                            true,
                        )
                    {
                        let _ = pending.wait_timeout(Duration::from_secs(1));
                    }
                    remote.disconnect();
                    ending
                }
                Err(Error::Refused(ConnectReturnCode::UnacceptableProtocolVersion))
                    if self.try_private && !self.config.mqtt5 =>
                {
                    warn!(
                        "bridge {}: {host}:{port} refused the bridge bit (try_private); connecting \
                         as an ordinary client from now on",
                        self.config.name
                    );
                    self.try_private = false;
                    continue;
                }
                Err(error) => {
                    index += 1;
                    // A lazy bridge's held messages go back to its session, to be sent again.
                    if let Some((local, _)) = self.waiting.take() {
                        local.close();
                    }
                    Ending::Lost(format!("cannot connect to {host}:{port}: {error}"))
                }
            };
            match ending {
                Ending::Stop => return,
                Ending::Idle => info!(
                    "bridge {}: idle for idle_timeout; disconnected until threshold is reached",
                    self.config.name
                ),
                Ending::Lost(why) if self.config.start_type == StartType::Once => {
                    warn!(
                        "bridge {}: {why}; not restarted (start_type once)",
                        self.config.name
                    );
                    // Wait for the broker to stop, so that the stop handshake stays the same.
                    let _ = self.stopped.recv();
                    return;
                }
                Ending::Lost(why) => {
                    let delay = self.backoff.next_delay();
                    warn!(
                        "bridge {}: {why}; next attempt in {delay:?}",
                        self.config.name
                    );
                    if self.stopped.recv_timeout(delay).is_ok() {
                        return;
                    }
                }
            }
        }
    }

    /// Connects to the remote broker, unsubscribes what no longer comes in
    /// (`bridge_attempt_unsubscribe`) and subscribes to what comes in.
    ///
    /// At 5.0 the bridge bit of `try_private` does not exist (it is a 3.1 / 3.1.1 convention):
    /// the remote subscriptions carry No Local instead, so that the remote broker does not send
    /// back what the bridge publishes [MQTT5-3.8.3-3], and Retain As Published, so that retained
    /// messages arrive retained as they do over a 3.1.1 bridge (5.0 §3.8.3.1).
    fn connect_remote(&self, host: &str, port: u16) -> Result<Client, Error> {
        let config = &self.config;
        let mut options = ConnectOptions::builder(host, port)
            .client_id(&config.remote_clientid)
            .clean_session(config.clean_session)
            .keep_alive(config.keepalive)
            .level(config.level)
            .bridge(self.try_private && !config.mqtt5)
            .max_queued(100_000);
        if config.mqtt5 {
            // A persistent remote session never expires, as a 3.1.1 one does not [MQTT5-3.1.2-23].
            let expiry = if config.clean_session { 0 } else { u32::MAX };
            options = options.mqtt5(ConnectProperties {
                session_expiry_interval: Some(expiry),
                ..ConnectProperties::default()
            });
        }
        if let Some(user) = &config.remote_username {
            let password = config.remote_password.clone().map(String::into_bytes);
            options = options.credentials(user, password);
        }
        if config.notifications && !config.notifications_local_only {
            options = options.will(LastWill {
                topic: config.notification_topic.clone(),
                payload: b"0".to_vec(),
                qos: QoS::AtLeastOnce,
                retain: true,
            });
        }
        if let Some(tls) = &config.tls {
            let mut settings = TlsOptions::system()
                .insecure(tls.insecure)
                .tls13_only(tls.tls13_only);
            if let Some(cafile) = &tls.cafile {
                settings = settings.ca_file(cafile);
            }
            if let Some(capath) = &tls.capath {
                settings = settings.ca_path(capath);
            }
            if let Some(alpn) = &tls.alpn {
                settings = settings.alpn(alpn.as_bytes());
            }
            if let Some((cert, key)) = &tls.client_auth {
                settings = settings.client_auth(cert, key);
            }
            options = options.tls(settings);
        }
        let client = Client::connect(options.build()?)?;
        let gone = unsubscribed_filters(config);
        if !gone.is_empty() {
            let borrowed: Vec<&str> = gone.iter().map(String::as_str).collect();
            if config.mqtt5 {
                client
                    .unsubscribe_with(&borrowed, Vec::new())?
                    .wait_timeout(Duration::from_secs(10))?;
            } else {
                client
                    .unsubscribe(&borrowed)?
                    .wait_timeout(Duration::from_secs(10))?;
            }
        }
        let filters: Vec<(String, QoS)> = config
            .topics
            .iter()
            .filter(|topic| topic.incoming())
            .map(|topic| (topic.remote_filter(), topic.qos))
            .collect();
        if filters.is_empty() {
            return Ok(client);
        }
        let refused: Vec<bool> = if config.mqtt5 {
            let borrowed: Vec<(&str, SubscribeOptions)> = filters
                .iter()
                .map(|(filter, qos)| {
                    let options = SubscribeOptions {
                        no_local: true,
                        retain_as_published: true,
                        ..SubscribeOptions::qos(*qos)
                    };
                    (filter.as_str(), options)
                })
                .collect();
            client
                .subscribe_with(&borrowed, SubscribeProperties::default())?
                .wait_timeout(Duration::from_secs(10))?
                .iter()
                .map(|code| code.is_failure())
                .collect()
        } else {
            let borrowed: Vec<(&str, QoS)> = filters
                .iter()
                .map(|(filter, qos)| (filter.as_str(), *qos))
                .collect();
            client
                .subscribe(&borrowed)?
                .wait_timeout(Duration::from_secs(10))?
                .iter()
                .map(|code| *code == mqtt_client::SubAckReturnCode::Failure)
                .collect()
        };
        for ((filter, _), refused) in filters.iter().zip(refused) {
            if refused {
                warn!(
                    "bridge {}: {host}:{port} refused the subscription to {filter:?}; nothing \
                     will come in on it",
                    config.name
                );
            }
        }
        Ok(client)
    }

    /// Carries messages both ways until a connection is lost or the broker stops.
    ///
    /// With `main`, the connection is to a secondary address: every `restart_timeout` (its first
    /// number) the bridge tries a TCP connection to the main address, and once one succeeds it
    /// leaves the secondary, to connect to the main address again (mosquitto's `round_robin false`).
    fn serve(&mut self, remote: &Client, main: Option<(String, u16)>) -> Ending {
        let mut local = match self.waiting.take() {
            Some((mut local, mut held)) => {
                held.append(&mut local.early);
                local.early = held;
                local
            }
            None => match Local::connect(&self.context, &self.config, &self.outgoing_filters()) {
                Ok(local) => local,
                Err(why) => return Ending::Lost(why),
            },
        };
        let idle_timeout = match self.config.start_type {
            StartType::Lazy { idle_timeout, .. } => Some(idle_timeout),
            _ => None,
        };
        let mut last_traffic = std::time::Instant::now();
        // Up only now that both sides carry messages, so that whoever waits for `1` can rely on it.
        self.notify_local(true);
        if self.config.notifications && !self.config.notifications_local_only {
            // The outcome shows up as a lost connection if it fails; nothing waits for it here.
            let _ = remote.publish(&self.config.notification_topic, "1", QoS::AtLeastOnce, true);
        }
        let notifications = remote.notifications();
        let mut unacknowledged: VecDeque<Unacknowledged> = VecDeque::new();
        for event in std::mem::take(&mut local.early) {
            if let Err(why) = self.outgoing(event, remote, &mut local, &mut unacknowledged) {
                local.close();
                return Ending::Lost(why);
            }
        }
        let probe = match &main {
            Some(_) => crossbeam_channel::tick(self.config.restart_timeout.0),
            None => crossbeam_channel::never(),
        };
        let ending = loop {
            let idle = match idle_timeout {
                Some(timeout) => crossbeam_channel::at(last_traffic + timeout),
                None => crossbeam_channel::never(),
            };
            let ready = {
                let mut select = Select::new();
                select.recv(&self.stopped);
                select.recv(&local.events);
                select.recv(&notifications);
                select.recv(&probe);
                select.recv(&idle);
                if let Some(front) = unacknowledged.front() {
                    select.recv(&front.result);
                }
                select.ready()
            };
            let step = match ready {
                0 => match self.stopped.try_recv() {
                    Err(TryRecvError::Empty) => Ok(()),
                    _ => break Ending::Stop,
                },
                1 => match local.events.try_recv() {
                    Ok(event) => {
                        last_traffic = std::time::Instant::now();
                        self.outgoing(event, remote, &mut local, &mut unacknowledged)
                    }
                    Err(TryRecvError::Empty) => Ok(()),
                    Err(TryRecvError::Disconnected) => Err("local connection closed".into()),
                },
                2 => match notifications.try_recv() {
                    Ok(Notification::Message(message)) => {
                        last_traffic = std::time::Instant::now();
                        self.incoming(&message, &mut local)
                    }
                    Ok(Notification::Connected { .. }) => Ok(()),
                    Ok(Notification::ConnectionLost(error)) => {
                        Err(format!("connection lost: {error}"))
                    }
                    Err(TryRecvError::Empty) => Ok(()),
                    Err(TryRecvError::Disconnected) => Err("remote connection closed".into()),
                },
                3 => match (probe.try_recv(), &main) {
                    (Ok(_), Some((host, port))) if reachable(host, *port) => Err(format!(
                        "the main address {host}:{port} answers again; moving back to it"
                    )),
                    _ => Ok(()),
                },
                4 => match idle.try_recv() {
                    Ok(_) if unacknowledged.is_empty() => break Ending::Idle,
                    _ => Ok(()),
                },
                _ => match unacknowledged.front().map(|front| front.result.try_recv()) {
                    Some(Ok(Ok(()))) => match unacknowledged.pop_front() {
                        Some(done) => local.acknowledge(done.packet_id, done.qos),
                        None => Ok(()),
                    },
                    Some(Ok(Err(error))) => Err(error.to_string()),
                    Some(Err(TryRecvError::Disconnected)) => Err("remote connection closed".into()),
                    Some(Err(TryRecvError::Empty)) | None => Ok(()),
                },
            };
            if let Err(why) = step {
                break Ending::Lost(why);
            }
        };
        // Messages still unacknowledged stay in flight in the local session, to be sent again.
        local.close();
        ending
    }

    /// One packet from this broker.
    fn outgoing(
        &self,
        event: LocalEvent,
        remote: &Client,
        local: &mut Local,
        unacknowledged: &mut VecDeque<Unacknowledged>,
    ) -> Result<(), String> {
        match event {
            LocalEvent::Publish {
                packet_id,
                qos,
                topic,
                payload,
                retain,
                properties,
            } => {
                let Some(remote_topic) = self
                    .config
                    .topics
                    .iter()
                    .find_map(|rule| rule.to_remote(&topic))
                else {
                    debug!(
                        "bridge {}: no topic line carries {topic:?} out",
                        self.config.name
                    );
                    return packet_id.map_or(Ok(()), |id| local.acknowledge(id, qos));
                };
                // `bridge_outgoing_retain false`: for remote brokers that refuse retained messages.
                let retain = retain && self.config.outgoing_retain;
                let limit = self.config.max_packet_size;
                let properties_len = self.config.mqtt5.then(|| {
                    local::forwarded(&properties)
                        .iter()
                        .map(mqtt_codec::v5::Property::encoded_len)
                        .sum()
                });
                let size = publish_size(&remote_topic, payload.len(), qos, properties_len);
                if limit != 0 && size > limit as usize {
                    warn!(
                        "bridge {}: message on {topic:?} not sent: its PUBLISH of {size} bytes is \
                         over bridge_max_packet_size {limit}",
                        self.config.name
                    );
                    return packet_id.map_or(Ok(()), |id| local.acknowledge(id, qos));
                }
                // At 5.0 both sides are 5.0 and the properties go on as they came (dropped by the
                // client at 3.1.1, where there are none).
                let sent = remote.publish_with(&remote_topic, &payload, qos, retain, properties);
                let pending = match sent {
                    Ok(pending) => pending,
                    Err(error) if qos == QoS::AtMostOnce => {
                        debug!(
                            "bridge {}: QoS 0 message dropped: {error}",
                            self.config.name
                        );
                        return Ok(());
                    }
                    Err(error) => return Err(error.to_string()),
                };
                if let Some(packet_id) = packet_id {
                    unacknowledged.push_back(Unacknowledged {
                        packet_id,
                        qos,
                        result: pending.into_receiver(),
                    });
                }
                Ok(())
            }
            LocalEvent::PubRel(packet_id) => local.complete(packet_id),
            LocalEvent::PubRec(packet_id) => local.release(packet_id),
            LocalEvent::SubAck | LocalEvent::Other => Ok(()),
            LocalEvent::Closed => Err("local connection closed".into()),
        }
    }

    /// One message from the remote broker.
    fn incoming(&self, message: &mqtt_client::Message, local: &mut Local) -> Result<(), String> {
        let Some(topic) = self
            .config
            .topics
            .iter()
            .find_map(|rule| rule.to_local(&message.topic))
        else {
            debug!(
                "bridge {}: no topic line carries {:?} in",
                self.config.name, message.topic
            );
            return Ok(());
        };
        local.publish(
            &topic,
            &message.payload,
            message.qos,
            message.retain,
            &message.properties,
        )
    }

    /// Publishes the bridge's state here, retained, if notifications are on.
    fn notify_local(&self, up: bool) {
        if self.config.notifications {
            let payload: &[u8] = if up { b"1" } else { b"0" };
            self.context.router.publish(&Message::new(
                &self.config.notification_topic,
                payload,
                QoS::AtLeastOnce,
                true,
            ));
        }
    }
}

/// Whether a TCP connection to `host:port` can be opened (closed at once): the probe of the main
/// address. It blocks the bridge's thread for up to a second per address, which delays its
/// messages by as much, once per `restart_timeout`.
fn reachable(host: &str, port: u16) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    let Ok(addresses) = (host, port).to_socket_addrs() else {
        return false;
    };
    addresses
        .into_iter()
        .any(|address| TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok())
}

/// The remote filters of the `out`-only lines, which the bridge unsubscribes on connecting when
/// `bridge_attempt_unsubscribe` is on: a persistent remote session may still hold them from a
/// time when the line was `in` or `both` (mosquitto.conf(5), `bridge_attempt_unsubscribe`).
fn unsubscribed_filters(config: &BridgeConfig) -> Vec<String> {
    if !config.attempt_unsubscribe {
        return Vec::new();
    }
    let mut filters: Vec<String> = config
        .topics
        .iter()
        .filter(|topic| !topic.incoming())
        .map(|topic| topic.remote_filter())
        .filter(|filter| {
            // Not one an `in` line subscribes to again right after.
            !config
                .topics
                .iter()
                .any(|other| other.incoming() && other.remote_filter() == *filter)
        })
        .collect();
    filters.sort();
    filters.dedup();
    filters
}

/// The size in bytes of the PUBLISH that carries a `payload_len`-byte message on `topic`: fixed
/// header, topic, packet identifier above QoS 0 (3.1.1 §3.3), and at 5.0 the Property Length and
/// the `properties` bytes (5.0 §3.3.2.3; `None` at 3.1.1).
fn publish_size(topic: &str, payload_len: usize, qos: QoS, properties: Option<usize>) -> usize {
    let packet_id = if qos == QoS::AtMostOnce { 0 } else { 2 };
    let properties = properties.map_or(0, |len| variable_length(len) + len);
    let body = 2 + topic.len() + packet_id + properties + payload_len;
    1 + variable_length(body) + body
}

/// The bytes of a Variable Byte Integer holding `value` (3.1.1 §2.2.3, 5.0 §1.5.5).
fn variable_length(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bridge(lines: &str) -> BridgeConfig {
        let text = format!("connection t\naddress 127.0.0.1\n{lines}");
        crate::Config::parse(&text, "t.conf")
            .expect("parses")
            .bridges
            .remove(0)
    }

    #[test]
    fn out_lines_are_unsubscribed_unless_an_in_line_wants_the_filter() {
        let config = bridge(
            "topic a/# out 1\ntopic b/# both 1\ntopic c/# out 0 l/ r/\ntopic c/# in 0 x/ r/\n",
        );
        assert_eq!(unsubscribed_filters(&config), ["a/#"]);
        let off = bridge("topic a/# out 1\nbridge_attempt_unsubscribe false\n");
        assert!(unsubscribed_filters(&off).is_empty());
    }

    #[test]
    fn publish_size_counts_every_byte() {
        // 0x30, length, 0x00 0x01 't', then 2 payload bytes: 7 bytes at QoS 0.
        assert_eq!(publish_size("t", 2, QoS::AtMostOnce, None), 7);
        assert_eq!(publish_size("t", 2, QoS::AtLeastOnce, None), 9);
        assert_eq!(publish_size("t", 2, QoS::AtLeastOnce, Some(0)), 10);
        // A body of 128 bytes needs two bytes of remaining length.
        assert_eq!(publish_size("t", 125, QoS::AtMostOnce, None), 131);
        // At 5.0 the size is what the codec encodes, properties included.
        let properties = [
            mqtt_codec::v5::Property::UserProperty("unit", "C"),
            mqtt_codec::v5::Property::ContentType("text/plain"),
        ];
        let publish = mqtt_codec::v5::Publish {
            topic: Some(mqtt_codec::TopicName::new("a/b").expect("topic")),
            payload: &[0; 200],
            delivery: mqtt_codec::Delivery::new(QoS::AtLeastOnce, mqtt_codec::PacketId::MIN, false),
            retain: false,
            properties: mqtt_codec::v5::Properties::from_slice(&properties),
        };
        let mut bytes = Vec::new();
        mqtt_codec::v5::Packet::from(publish)
            .encode(&mut bytes)
            .expect("encodes");
        let properties_len = properties.iter().map(|p| p.encoded_len()).sum();
        assert_eq!(
            publish_size("a/b", 200, QoS::AtLeastOnce, Some(properties_len)),
            bytes.len()
        );
    }
}

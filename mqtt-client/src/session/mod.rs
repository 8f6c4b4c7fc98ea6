//! [`Session`]: the client side of the protocol as a sans-IO state machine.
//!
//! The session never touches a socket, a thread or a clock. It is driven by four kinds of input, each
//! a method call that takes the current time as `now`:
//!
//! - the connection's life: [`connect`](Session::connect) when a transport is up,
//!   [`connection_lost`](Session::connection_lost) when it went down;
//! - packets from the server: [`handle`](Session::handle);
//! - the application's requests: [`publish`](Session::publish), [`subscribe`](Session::subscribe),
//!   [`unsubscribe`](Session::unsubscribe), [`disconnect`](Session::disconnect);
//! - the passing of time: [`tick`](Session::tick), due at [`next_deadline`](Session::next_deadline).
//!
//! It answers with two kinds of output: bytes to write ([`take_outgoing`](Session::take_outgoing)) and
//! [`Event`]s to deliver ([`poll_event`](Session::poll_event)): messages, and the completion of the
//! [`Token`] each request returned. Whoever owns the socket (`client.rs`, or a test) moves the bytes.
//!
//! What it implements, with the rules it follows:
//!
//! - CONNECT / CONNACK (3.1.1 §3.1, §3.2): the first packet from the server must be CONNACK
//!   [MQTT-3.2.0-1]; a refusal ends the attempt with its code; no CONNACK within the connect timeout
//!   ends it too.
//! - Keep-alive (3.1.1 §3.1.2.10): a PINGREQ whenever nothing was sent for a keep-alive interval
//!   [MQTT-3.1.2-23] *or* nothing was received for one; the connection is declared dead when the
//!   PINGRESP is half an interval late. A dead server is therefore noticed at most 1.5 intervals
//!   after it last spoke.
//! - QoS 1 and 2 sending (3.1.1 §4.3.2, §4.3.3) with a bounded in-flight window: fresh packet
//!   identifiers [MQTT-2.3.1-2], kept until acknowledged [MQTT-2.3.1-3], PUBREL after PUBREC and
//!   never the PUBLISH again after that [MQTT-4.3.3-1]. Messages beyond the window wait in a bounded
//!   queue, which also holds them while the connection is down.
//! - QoS 1 and 2 receiving: PUBACK [MQTT-4.3.2-2]; PUBREC, delivery once, PUBCOMP on PUBREL
//!   [MQTT-4.3.3-2], acknowledgements in arrival order [MQTT-4.6.0-2] [MQTT-4.6.0-3].
//! - Resuming after reconnection: with a session present, unacknowledged PUBLISH packets again with
//!   DUP set and PUBRELs again, same identifiers, original order [MQTT-4.4.0-1] [MQTT-3.3.1-1]
//!   [MQTT-4.6.0-1]. With no session present (a clean session, or a server that lost it), every
//!   subscription is made again, and unacknowledged messages are published again as new messages.
//!
//! The folder, one job per file:
//!
//! | File | Its one job |
//! |---|---|
//! | `mod.rs` | the [`Session`] type and its public inputs and outputs; keep-alive |
//! | `events.rs` | what it hands back: [`Message`], [`Token`], [`Event`], [`State`] |
//! | `connack.rs` | CONNACK, and resuming or restarting the session on a new connection |
//! | `publishing.rs` | outgoing QoS 0/1/2 flows: the in-flight window and the queue behind it |
//! | `receiving.rs` | incoming PUBLISH and its acknowledgements |
//! | `requests.rs` | SUBSCRIBE / UNSUBSCRIBE and the filters granted |
//! | `tests.rs` | the session driven by hand, each test a transcript |
//!
//! What it does not do: decode or open anything (it receives decoded packets), retry on a timer
//! while connected (3.1.1 re-sends only on reconnection, §4.4), or persist the session to disk.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use mqtt_codec::v5::ReasonCode;
use mqtt_codec::{
    Packet, PacketId, PubAck, PubComp, PubRec, PubRel, QoS, TopicFilter, TopicName, UnsubAck,
};

use crate::error::Timeout;
use crate::v5::{PublishProperties, ServerSettings, SubscribeOptions, SubscribeProperties};
use crate::{ConnectOptions, Error};

mod connack;
mod events;
mod publishing;
mod receiving;
mod requests;
#[cfg(test)]
mod tests;
mod v5_inbound;
#[cfg(test)]
mod v5_tests;
mod wire;

pub use events::{Event, Message, State, Token};
use publishing::{InFlight, Stage};
use requests::{Request, RequestKind};
use wire::Ack;

/// The client's side of an MQTT session. See the module documentation.
///
/// Driven by hand, with no network: the bytes it asks to send are decoded to see what they are, and
/// the server's answers are handed in as packets.
///
/// ```
/// use std::time::Instant;
/// use mqtt_client::{ConnectOptions, Event, QoS, Session};
/// use mqtt_codec::{ConnAck, ConnectReturnCode, Decoder, Packet, ProtocolLevel, PubAck, Status};
///
/// // The first packet of the bytes the session wants written.
/// fn first_packet(bytes: &[u8]) -> Packet<'_> {
///     match Decoder::new(ProtocolLevel::Mqtt311).decode(bytes) {
///         Ok(Status::Complete((packet, _))) => packet,
///         other => panic!("not one whole packet: {other:?}"),
///     }
/// }
///
/// let now = Instant::now();
/// let options = ConnectOptions::builder("broker.invalid", 1883).client_id("sensor-1").build()?;
/// let mut session = Session::new(options, now);
///
/// // A transport is up: the session writes CONNECT and waits for CONNACK.
/// session.connect(now)?;
/// assert!(matches!(first_packet(&session.take_outgoing()), Packet::Connect(_)));
/// let connack = ConnAck { session_present: false, code: ConnectReturnCode::Accepted };
/// session.handle(Packet::ConnAck(connack), now)?;
/// assert!(matches!(session.poll_event(), Some(Event::Connected { session_present: false })));
///
/// // A QoS 1 publication is done when PUBACK names its packet identifier.
/// let token = session.publish("sensors/1/temp", b"21.5", QoS::AtLeastOnce, false, now)?;
/// let bytes = session.take_outgoing();
/// let Packet::Publish(publish) = first_packet(&bytes) else { panic!("not a PUBLISH") };
/// let packet_id = publish.delivery.packet_id().expect("QoS 1 has an identifier");
/// assert!(session.poll_event().is_none(), "not done before PUBACK");
/// session.handle(Packet::PubAck(PubAck { packet_id }), now)?;
/// assert!(matches!(session.poll_event(), Some(Event::Published(done)) if done == token));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Session {
    options: ConnectOptions,
    state: State,
    /// Encoded packets not yet taken by the writer.
    out: Vec<u8>,
    events: VecDeque<Event>,
    next_packet_id: PacketId,
    next_token: u64,
    /// QoS 1 and 2 messages sent and not yet fully acknowledged, in the order sent.
    inflight: VecDeque<InFlight>,
    /// Messages waiting for room in the window or for a connection, in the order published.
    queued: VecDeque<(Token, Message)>,
    /// SUBSCRIBE and UNSUBSCRIBE requests not yet acknowledged, in the order made.
    requests: VecDeque<Request>,
    /// The filters the server has granted, with their requested options and subscription
    /// identifier: made again when a new connection has no session.
    subscriptions: BTreeMap<String, (SubscribeOptions, Option<u32>)>,
    /// Identifiers of QoS 2 messages received, delivered, and not yet released by PUBREL
    /// [MQTT-4.3.3-2].
    incoming_qos2: BTreeSet<PacketId>,
    last_sent: Instant,
    last_received: Instant,
    ping_sent: Option<Instant>,
    /// What the server's 5.0 CONNACK announced (defaults at 3.1.1 and before CONNACK).
    server: ServerSettings,
    /// 5.0: the topic aliases we set on this connection, topic to alias [MQTT5-3.3.2-7].
    aliases_out: HashMap<String, u16>,
    /// 5.0: the topic aliases the server set on this connection, alias to topic.
    aliases_in: HashMap<u16, String>,
    /// 5.0: a re-authentication we started (AUTH 0x19) is not finished yet (5.0 §4.12.1).
    reauthenticating: bool,
}

impl Session {
    /// A session with `options`, not connected.
    pub fn new(options: ConnectOptions, now: Instant) -> Self {
        Self {
            options,
            state: State::Disconnected,
            out: Vec::new(),
            events: VecDeque::new(),
            next_packet_id: FIRST_PACKET_ID,
            next_token: 0,
            inflight: VecDeque::new(),
            queued: VecDeque::new(),
            requests: VecDeque::new(),
            subscriptions: BTreeMap::new(),
            incoming_qos2: BTreeSet::new(),
            last_sent: now,
            last_received: now,
            ping_sent: None,
            server: ServerSettings::default(),
            aliases_out: HashMap::new(),
            aliases_in: HashMap::new(),
            reauthenticating: false,
        }
    }

    /// What the session waits for.
    pub fn state(&self) -> State {
        self.state
    }

    /// The options it was made with.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// How many QoS 1 and 2 messages await acknowledgement.
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// How many messages wait behind the window or for a connection.
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    /// The filters the server has granted.
    pub fn subscriptions(&self) -> impl Iterator<Item = (&str, QoS)> {
        self.subscriptions
            .iter()
            .map(|(filter, (options, _))| (filter.as_str(), options.qos))
    }

    /// What the server announced in its 5.0 CONNACK on the current (or last) connection: receive
    /// maximum, maximum packet size, topic alias maximum, ... The defaults at 3.1.1.
    pub fn server_settings(&self) -> &ServerSettings {
        &self.server
    }

    /// The keep-alive in force: the server's Server Keep Alive if it sent one [MQTT5-3.1.2-21],
    /// else ours.
    pub fn keep_alive(&self) -> Duration {
        match self.server.server_keep_alive {
            Some(seconds) => Duration::from_secs(seconds.into()),
            None => self.options.keep_alive,
        }
    }

    /// A transport is up: queues CONNECT and waits for CONNACK. Does nothing unless disconnected.
    ///
    /// Fails only at 5.0 with enhanced authentication, when the authenticator cannot give its
    /// first data ([`Error::Authentication`]).
    pub fn connect(&mut self, now: Instant) -> Result<(), Error> {
        if self.state != State::Disconnected {
            return Ok(());
        }
        // What a server announced, and the aliases of a connection, last as long as it does
        // [MQTT5-3.3.2-7].
        self.server = ServerSettings::default();
        self.aliases_out.clear();
        self.aliases_in.clear();
        self.reauthenticating = false;
        self.last_received = now;
        self.ping_sent = None;
        // The options were checked by their builder, so only an authenticator can fail here.
        self.send_connect(now)?;
        self.state = State::AwaitingConnAck { since: now };
        Ok(())
    }

    /// The transport went down. With `will_reconnect` the session keeps its state for the next
    /// connection; without, it closes and fails every pending request with `error`.
    pub fn connection_lost(&mut self, error: &Error, will_reconnect: bool) {
        if self.state == State::Closed {
            return;
        }
        self.out.clear();
        self.ping_sent = None;
        for request in &mut self.requests {
            request.sent = false;
        }
        if will_reconnect {
            self.state = State::Disconnected;
        } else {
            self.close(error);
        }
    }

    /// Handles one packet from the server.
    ///
    /// An error means the connection must be closed [MQTT-4.8.0-1]: the server refused us or broke
    /// a rule. The caller then reports it and calls [`connection_lost`](Self::connection_lost).
    pub fn handle(&mut self, packet: Packet<'_>, now: Instant) -> Result<(), Error> {
        self.last_received = now;
        match (self.state, packet) {
            (State::AwaitingConnAck { .. }, Packet::ConnAck(connack)) => {
                self.on_connack(connack, now)
            }
            (State::AwaitingConnAck { .. }, other) => Err(Error::violation(
                format!("sent {:?} before CONNACK", other.packet_type()),
                "MQTT-3.2.0-1",
            )),
            (State::Connected, Packet::ConnAck(_)) => {
                Err(Error::violation("sent a second CONNACK", "MQTT-3.1.1 §3.2"))
            }
            (State::Connected, Packet::Publish(publish)) => self.on_publish(
                publish.topic.as_str().to_owned(),
                publish.payload,
                publish.delivery,
                publish.retain,
                PublishProperties::default(),
                now,
            ),
            (State::Connected, Packet::PubAck(PubAck { packet_id })) => {
                self.on_ack(packet_id, Stage::PubAck);
                Ok(())
            }
            (State::Connected, Packet::PubRec(PubRec { packet_id })) => {
                self.on_pubrec(packet_id, now)
            }
            (State::Connected, Packet::PubComp(PubComp { packet_id })) => {
                self.on_ack(packet_id, Stage::PubComp);
                Ok(())
            }
            (State::Connected, Packet::PubRel(PubRel { packet_id })) => {
                // Release the identifier and complete the flow [MQTT-4.3.3-2]. An unknown identifier
                // is answered too: the server may be re-sending a PUBREL we answered before a drop.
                self.incoming_qos2.remove(&packet_id);
                self.send_ack(Ack::PubComp, packet_id, now)
            }
            (State::Connected, Packet::SubAck(suback)) => {
                let codes: Vec<ReasonCode> = suback
                    .return_codes
                    .iter()
                    .map(|code| match code {
                        mqtt_codec::SubAckReturnCode::Granted(qos) => ReasonCode::granted(qos),
                        mqtt_codec::SubAckReturnCode::Failure => ReasonCode::UNSPECIFIED_ERROR,
                    })
                    .collect();
                self.on_suback(suback.packet_id, codes)
            }
            (State::Connected, Packet::UnsubAck(UnsubAck { packet_id })) => {
                self.on_unsuback(packet_id, None);
                Ok(())
            }
            (State::Connected, Packet::PingResp) => {
                self.ping_sent = None;
                Ok(())
            }
            (State::Connected, other) => Err(Error::violation(
                format!("sent {:?}, which only a client sends", other.packet_type()),
                "MQTT-3.1.1 §2.2.1",
            )),
            // Bytes that arrive after we stopped listening are dropped.
            (State::Disconnected | State::Closed, _) => Ok(()),
        }
    }

    /// Publishes `payload` to `topic`. The returned token completes with [`Event::Published`].
    ///
    /// QoS 0 messages go out at once when connected. QoS 1 and 2 messages go out while the in-flight
    /// window has room, and otherwise wait in the queue; while disconnected with reconnection on,
    /// every message waits in the queue. A full queue is [`Error::QueueFull`].
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        now: Instant,
    ) -> Result<Token, Error> {
        self.publish_with(
            topic,
            payload,
            qos,
            retain,
            PublishProperties::default(),
            now,
        )
    }

    /// [`publish`](Self::publish) with MQTT 5.0 properties (content type, response topic,
    /// correlation data, message expiry, user properties, ...). At 3.1.1 the properties are
    /// dropped, as that level cannot carry them.
    pub fn publish_with(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: PublishProperties,
        now: Instant,
    ) -> Result<Token, Error> {
        TopicName::new(topic)?; // [MQTT-3.3.2-2]
        self.check_open()?;
        let message = Message {
            topic: topic.to_owned(),
            payload: payload.to_vec(),
            qos,
            retain,
            dup: false,
            packet_id: None,
            properties: if self.is_v5() {
                properties
            } else {
                PublishProperties::default()
            },
        };
        if self.state == State::Connected {
            self.check_server_limits(&message)?;
        }
        let token = self.token();
        let window_open = qos == QoS::AtMostOnce || self.inflight.len() < self.send_window();
        if self.state == State::Connected && window_open && self.queued.is_empty() {
            self.send_new(token, message, now)?;
        } else if self.queued.len() < self.options.max_queued {
            self.queued.push_back((token, message));
        } else {
            return Err(Error::QueueFull {
                capacity: self.options.max_queued,
            });
        }
        Ok(token)
    }

    /// Subscribes to `filters`, each with its maximum QoS. The returned token completes with
    /// [`Event::Subscribed`].
    pub fn subscribe(&mut self, filters: &[(&str, QoS)], now: Instant) -> Result<Token, Error> {
        let filters: Vec<(&str, SubscribeOptions)> = filters
            .iter()
            .map(|(filter, qos)| (*filter, SubscribeOptions::qos(*qos)))
            .collect();
        self.subscribe_with(&filters, SubscribeProperties::default(), now)
    }

    /// [`subscribe`](Self::subscribe) with MQTT 5.0 subscription options (No Local, Retain As
    /// Published, Retain Handling) and properties (a subscription identifier, user properties).
    /// At 3.1.1 only the QoS of each filter is sent.
    pub fn subscribe_with(
        &mut self,
        filters: &[(&str, SubscribeOptions)],
        properties: SubscribeProperties,
        now: Instant,
    ) -> Result<Token, Error> {
        if filters.is_empty() {
            return Err(Error::Encode(mqtt_codec::EncodeError::EmptyList)); // [MQTT-3.8.3-3]
        }
        for (filter, _) in filters {
            TopicFilter::new(filter)?;
        }
        self.check_open()?;
        if properties.subscription_identifier == Some(0) {
            // A zero identifier is a protocol error (5.0 §3.8.2.1.2).
            return Err(Error::InvalidOptions(
                "a subscription identifier is 1 to 268435455".into(),
            ));
        }
        let owned = filters
            .iter()
            .map(|(filter, options)| ((*filter).to_owned(), *options))
            .collect();
        let token = self.token();
        self.request(Some(token), RequestKind::Subscribe(owned, properties), now)?;
        Ok(token)
    }

    /// Unsubscribes from `filters`. The returned token completes with [`Event::Unsubscribed`].
    pub fn unsubscribe(&mut self, filters: &[&str], now: Instant) -> Result<Token, Error> {
        self.unsubscribe_with(filters, Vec::new(), now)
    }

    /// [`unsubscribe`](Self::unsubscribe) with MQTT 5.0 user properties (dropped at 3.1.1).
    pub fn unsubscribe_with(
        &mut self,
        filters: &[&str],
        user_properties: Vec<(String, String)>,
        now: Instant,
    ) -> Result<Token, Error> {
        if filters.is_empty() {
            return Err(Error::Encode(mqtt_codec::EncodeError::EmptyList)); // [MQTT-3.10.3-2]
        }
        for filter in filters {
            TopicFilter::new(filter)?;
        }
        self.check_open()?;
        let owned = filters.iter().map(|filter| (*filter).to_owned()).collect();
        let token = self.token();
        self.request(
            Some(token),
            RequestKind::Unsubscribe(owned, user_properties),
            now,
        )?;
        Ok(token)
    }

    /// Ends the session: queues DISCONNECT if connected (after which nothing more is sent
    /// [MQTT-3.14.4-2]), and fails every pending request with [`Error::Closed`]. The caller then
    /// closes the transport [MQTT-3.14.4-1].
    pub fn disconnect(&mut self, now: Instant) {
        if self.state == State::Connected {
            self.send_disconnect(ReasonCode::NORMAL_DISCONNECTION, now);
        }
        self.close(&Error::Closed);
    }

    /// Lets time pass: sends PINGREQ when due, and fails when the server is late with CONNACK or
    /// PINGRESP. An error means the connection must be dropped.
    pub fn tick(&mut self, now: Instant) -> Result<(), Error> {
        match self.state {
            State::AwaitingConnAck { since } => {
                if now.saturating_duration_since(since) >= self.options.connect_timeout {
                    return Err(Error::TimedOut(Timeout::ConnAck));
                }
            }
            State::Connected => {
                let keep_alive = self.keep_alive();
                if keep_alive.is_zero() {
                    return Ok(());
                }
                match self.ping_sent {
                    Some(sent) if now.saturating_duration_since(sent) >= keep_alive / 2 => {
                        return Err(Error::TimedOut(Timeout::KeepAlive));
                    }
                    Some(_) => {}
                    None => {
                        let quiet = now.saturating_duration_since(self.last_sent) >= keep_alive
                            || now.saturating_duration_since(self.last_received) >= keep_alive;
                        if quiet {
                            self.send_ping(now)?; // [MQTT-3.1.2-23]
                            self.ping_sent = Some(now);
                        }
                    }
                }
            }
            State::Disconnected | State::Closed => {}
        }
        Ok(())
    }

    /// When [`tick`](Self::tick) next has something to do, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::AwaitingConnAck { since } => Some(since + self.options.connect_timeout),
            State::Connected if !self.keep_alive().is_zero() => {
                let keep_alive = self.keep_alive();
                Some(match self.ping_sent {
                    Some(sent) => sent + keep_alive / 2,
                    None => self.last_sent.min(self.last_received) + keep_alive,
                })
            }
            _ => None,
        }
    }

    /// The bytes to write to the transport, in order; the session forgets them.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether there are bytes to write.
    pub fn has_outgoing(&self) -> bool {
        !self.out.is_empty()
    }

    /// The next event to deliver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// An identifier not used by any message in flight or request pending [MQTT-2.3.1-2].
    fn packet_id(&mut self) -> PacketId {
        loop {
            let candidate = self.next_packet_id;
            self.next_packet_id = candidate.next();
            let in_use = self
                .inflight
                .iter()
                .any(|entry| entry.packet_id == candidate)
                || self
                    .requests
                    .iter()
                    .any(|request| request.packet_id == candidate);
            if !in_use {
                return candidate;
            }
        }
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    /// How many QoS 1 and 2 messages may be in flight: our window, and at 5.0 no more than the
    /// server's Receive Maximum [MQTT5-3.3.4-7] [MQTT5-4.9.0-2].
    fn send_window(&self) -> usize {
        self.options
            .max_inflight
            .min(usize::from(self.server.receive_maximum))
    }

    /// Refuses a message the server said in CONNACK it will not take: above its Maximum QoS
    /// [MQTT5-3.2.2-11], or retained when it has no retained messages [MQTT5-3.2.2-14].
    fn check_server_limits(&self, message: &Message) -> Result<(), Error> {
        if message.qos > self.server.maximum_qos {
            return Err(Error::ExceedsServerLimit {
                what: format!(
                    "QoS {} is above the server's Maximum QoS {}",
                    message.qos.bits(),
                    self.server.maximum_qos.bits()
                ),
                rule: "MQTT5-3.2.2-11",
            });
        }
        if message.retain && !self.server.retain_available {
            return Err(Error::ExceedsServerLimit {
                what: "the server has no retained messages".into(),
                rule: "MQTT5-3.2.2-14",
            });
        }
        Ok(())
    }

    fn check_open(&self) -> Result<(), Error> {
        match self.state {
            State::Closed => Err(Error::Closed),
            State::Disconnected if self.options.reconnect.is_none() => Err(Error::NotConnected),
            _ => Ok(()),
        }
    }

    fn close(&mut self, error: &Error) {
        self.state = State::Closed;
        let inflight = self.inflight.drain(..).map(|entry| entry.token);
        let queued = self.queued.drain(..).map(|(token, _)| token);
        let requests = self.requests.drain(..).filter_map(|request| request.token);
        let tokens: Vec<Token> = inflight.chain(queued).chain(requests).collect();
        for token in tokens {
            self.events.push_back(Event::Failed {
                token,
                error: error.clone(),
            });
        }
    }
}

/// The first packet identifier used, and the filler of a QoS 0 [`Delivery`], which discards it
/// [MQTT-2.3.1-5].
const FIRST_PACKET_ID: PacketId = match PacketId::new(1) {
    Some(id) => id,
    // One is not zero; this arm is never taken, and would fail the build rather than run.
    None => unreachable!(),
};

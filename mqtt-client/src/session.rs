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
//! What it does not do: decode or open anything (it receives decoded packets), retry on a timer
//! while connected (3.1.1 re-sends only on reconnection, §4.4), or persist the session to disk.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use mqtt_codec::{
    ConnAck, Connect, ConnectReturnCode, Delivery, List, Packet, PacketId, PubAck, PubComp, PubRec,
    PubRel, Publish, QoS, SubAck, SubAckReturnCode, Subscribe, Subscription, TopicFilter,
    TopicName, UnsubAck, Unsubscribe, Will,
};

use crate::error::Timeout;
use crate::{ConnectOptions, Error};

/// An application message, received or to be sent, owning its topic and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published to.
    pub topic: String,
    /// The payload, opaque to MQTT.
    pub payload: Vec<u8>,
    /// The QoS it was delivered with (the lower of the publisher's and the subscription's).
    pub qos: QoS,
    /// Whether it was sent because it is the topic's retained message (3.1.1 §3.3.1.3).
    pub retain: bool,
    /// Whether the server marked it as a possible re-delivery [MQTT-3.3.1-1].
    pub dup: bool,
    /// The packet identifier it arrived with, for QoS 1 and 2; `None` for QoS 0 and for messages
    /// the application publishes (the session picks their identifiers).
    pub packet_id: Option<u16>,
}

/// Names one request (publish, subscribe, unsubscribe) so that its completion can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(u64);

/// Something the session has to tell its owner.
#[derive(Debug, Clone)]
pub enum Event {
    /// CONNACK accepted the connection.
    Connected {
        /// Whether the server resumed a stored session (3.1.1 §3.2.2.2); always false at 3.1.
        session_present: bool,
    },
    /// A message arrived on a subscription.
    Message(Message),
    /// A publication is complete: handed to the network (QoS 0), acknowledged by PUBACK (QoS 1) or
    /// by PUBCOMP (QoS 2).
    Published(Token),
    /// A SUBSCRIBE was answered, one return code per filter in request order [MQTT-3.9.3-1].
    Subscribed {
        /// The request.
        token: Token,
        /// The granted QoS, or failure, of each filter.
        return_codes: Vec<SubAckReturnCode>,
    },
    /// An UNSUBSCRIBE was answered.
    Unsubscribed(Token),
    /// A request was abandoned: the client closed, or the connection was lost for good.
    Failed {
        /// The request.
        token: Token,
        /// Why.
        error: Error,
    },
}

/// What the session is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No transport. Requests are queued if reconnection is on, refused otherwise.
    Disconnected,
    /// CONNECT is sent; only a CONNACK may come next.
    AwaitingConnAck {
        /// When CONNECT was queued, for the connect timeout.
        since: Instant,
    },
    /// Connected: packets flow both ways.
    Connected,
    /// Disconnected for good, by the application or by a fatal error. Everything is refused.
    Closed,
}

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
/// session.connect(now);
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
    /// The filters the server has granted, with their requested QoS: made again when a new
    /// connection has no session.
    subscriptions: BTreeMap<String, QoS>,
    /// Identifiers of QoS 2 messages received, delivered, and not yet released by PUBREL
    /// [MQTT-4.3.3-2].
    incoming_qos2: BTreeSet<PacketId>,
    last_sent: Instant,
    last_received: Instant,
    ping_sent: Option<Instant>,
}

#[derive(Debug)]
struct InFlight {
    token: Token,
    packet_id: PacketId,
    message: Message,
    stage: Stage,
}

/// Where an outgoing QoS 1 or 2 message is in its flow, named after the packet it awaits. The
/// shared prefix is the point: these are the packet names of the specification.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    PubAck,
    PubRec,
    PubComp,
}

#[derive(Debug)]
struct Request {
    /// `None` for the session's own re-subscription after a reconnect.
    token: Option<Token>,
    packet_id: PacketId,
    kind: RequestKind,
    /// Whether it was sent on the current connection.
    sent: bool,
}

#[derive(Debug)]
enum RequestKind {
    Subscribe(Vec<(String, QoS)>),
    Unsubscribe(Vec<String>),
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
            .map(|(filter, qos)| (filter.as_str(), *qos))
    }

    /// A transport is up: queues CONNECT and waits for CONNACK. Does nothing unless disconnected.
    pub fn connect(&mut self, now: Instant) {
        if self.state != State::Disconnected {
            return;
        }
        let options = &self.options;
        let will = options.will.as_ref().and_then(|will| {
            Some(Will {
                topic: TopicName::new(&will.topic).ok()?,
                payload: &will.payload,
                qos: will.qos,
                retain: will.retain,
            })
        });
        let connect = Connect {
            level: options.level,
            clean_session: options.clean_session,
            keep_alive: u16::try_from(options.keep_alive.as_secs()).unwrap_or(u16::MAX),
            client_id: &options.client_id,
            will,
            user_name: options.user_name.as_deref(),
            password: options.password.as_deref(),
            bridge: options.bridge,
        };
        // The options were checked by their builder, so this cannot fail in practice; if it did,
        // the server would see nothing and the connect timeout would report it.
        if let Err(error) = Packet::from(connect).encode(options.level, &mut self.out) {
            log::error!("cannot encode CONNECT: {error}");
        }
        self.last_sent = now;
        self.last_received = now;
        self.ping_sent = None;
        self.state = State::AwaitingConnAck { since: now };
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
            (State::Connected, Packet::Publish(publish)) => self.on_publish(publish, now),
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
                self.send(PubComp { packet_id }.into(), now)
            }
            (State::Connected, Packet::SubAck(suback)) => self.on_suback(suback),
            (State::Connected, Packet::UnsubAck(UnsubAck { packet_id })) => {
                self.on_unsuback(packet_id);
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
        TopicName::new(topic)?; // [MQTT-3.3.2-2]
        self.check_open()?;
        let message = Message {
            topic: topic.to_owned(),
            payload: payload.to_vec(),
            qos,
            retain,
            dup: false,
            packet_id: None,
        };
        let token = self.token();
        let window_open = qos == QoS::AtMostOnce || self.inflight.len() < self.options.max_inflight;
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
        if filters.is_empty() {
            return Err(Error::Encode(mqtt_codec::EncodeError::EmptyList)); // [MQTT-3.8.3-3]
        }
        for (filter, _) in filters {
            TopicFilter::new(filter)?;
        }
        self.check_open()?;
        let owned = filters
            .iter()
            .map(|(filter, qos)| ((*filter).to_owned(), *qos))
            .collect();
        let token = self.token();
        self.request(Some(token), RequestKind::Subscribe(owned), now)?;
        Ok(token)
    }

    /// Unsubscribes from `filters`. The returned token completes with [`Event::Unsubscribed`].
    pub fn unsubscribe(&mut self, filters: &[&str], now: Instant) -> Result<Token, Error> {
        if filters.is_empty() {
            return Err(Error::Encode(mqtt_codec::EncodeError::EmptyList)); // [MQTT-3.10.3-2]
        }
        for filter in filters {
            TopicFilter::new(filter)?;
        }
        self.check_open()?;
        let owned = filters.iter().map(|filter| (*filter).to_owned()).collect();
        let token = self.token();
        self.request(Some(token), RequestKind::Unsubscribe(owned), now)?;
        Ok(token)
    }

    /// Ends the session: queues DISCONNECT if connected (after which nothing more is sent
    /// [MQTT-3.14.4-2]), and fails every pending request with [`Error::Closed`]. The caller then
    /// closes the transport [MQTT-3.14.4-1].
    pub fn disconnect(&mut self, now: Instant) {
        if self.state == State::Connected {
            // DISCONNECT has no fields that could fail to encode.
            let _ = self.send(Packet::Disconnect, now);
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
                let keep_alive = self.options.keep_alive;
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
                            self.send(Packet::PingReq, now)?; // [MQTT-3.1.2-23]
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
            State::Connected if !self.options.keep_alive.is_zero() => {
                let keep_alive = self.options.keep_alive;
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

    fn on_connack(&mut self, connack: ConnAck, now: Instant) -> Result<(), Error> {
        if connack.code != ConnectReturnCode::Accepted {
            // The server closes the connection after a refusal [MQTT-3.2.2-5].
            self.state = State::Disconnected;
            return Err(Error::Refused(connack.code));
        }
        let session_present = connack.session_present;
        if session_present && self.options.clean_session {
            return Err(Error::violation(
                "reported a stored session for a clean-session connection",
                "MQTT-3.2.2-1",
            ));
        }
        self.state = State::Connected;
        self.events.push_back(Event::Connected { session_present });
        if session_present {
            self.resume(now)?;
        } else {
            self.start_afresh();
        }
        // Requests made or interrupted while disconnected, in the order they were made.
        let unsent: Vec<usize> = (0..self.requests.len())
            .filter(|&index| {
                self.requests
                    .get(index)
                    .is_some_and(|request| !request.sent)
            })
            .collect();
        for index in unsent {
            self.send_request(index, now)?;
        }
        self.fill_window(now)
    }

    /// The server kept our session: finish every interrupted flow where it stopped [MQTT-4.4.0-1],
    /// in the original order [MQTT-4.6.0-1].
    fn resume(&mut self, now: Instant) -> Result<(), Error> {
        for index in 0..self.inflight.len() {
            let Some(entry) = self.inflight.get(index) else {
                break;
            };
            let packet_id = entry.packet_id;
            if entry.stage == Stage::PubComp {
                self.send(PubRel { packet_id }.into(), now)?;
            } else {
                let message = entry.message.clone();
                self.send_publish(&message, packet_id, true, now)?; // [MQTT-3.3.1-1]
            }
        }
        Ok(())
    }

    /// The server has no session for us, either because we asked for a clean one or because it lost
    /// it. Nothing it knew survives, so: messages past PUBREC are complete (the server took them
    /// over when it sent PUBREC); the others are published again, as new messages with DUP 0 since
    /// this is a new session; the QoS 2 identifiers we held are forgotten; and every subscription is
    /// made again, so that a reconnect never silently loses them.
    fn start_afresh(&mut self) {
        self.incoming_qos2.clear();
        let inflight = std::mem::take(&mut self.inflight);
        let mut resend = Vec::new();
        for entry in inflight {
            if entry.stage == Stage::PubComp {
                self.events.push_back(Event::Published(entry.token));
            } else {
                resend.push((entry.token, entry.message));
            }
        }
        for (token, message) in resend.into_iter().rev() {
            self.queued.push_front((token, message));
        }
        // Filters that a pending request will set anyway need no re-subscription.
        let pending: BTreeSet<&str> = self
            .requests
            .iter()
            .flat_map(|request| match &request.kind {
                RequestKind::Subscribe(filters) => {
                    filters.iter().map(|(filter, _)| filter.as_str()).collect()
                }
                RequestKind::Unsubscribe(filters) => {
                    filters.iter().map(String::as_str).collect::<Vec<_>>()
                }
            })
            .collect();
        let again: Vec<(String, QoS)> = self
            .subscriptions
            .iter()
            .filter(|(filter, _)| !pending.contains(filter.as_str()))
            .map(|(filter, qos)| (filter.clone(), *qos))
            .collect();
        if !again.is_empty() {
            log::info!(
                "no session on the server: subscribing again to {} filters",
                again.len()
            );
            let packet_id = self.packet_id();
            self.requests.push_front(Request {
                token: None,
                packet_id,
                kind: RequestKind::Subscribe(again),
                sent: false,
            });
        }
    }

    fn on_publish(&mut self, publish: Publish<'_>, now: Instant) -> Result<(), Error> {
        let deliver = match publish.delivery {
            Delivery::AtMostOnce => true,
            Delivery::AtLeastOnce { packet_id, .. } => {
                self.send(PubAck { packet_id }.into(), now)?; // [MQTT-4.3.2-2]
                true
            }
            Delivery::ExactlyOnce { packet_id, .. } => {
                // Delivered on first arrival only; a repeat before PUBREL gets PUBREC again and is
                // not delivered twice [MQTT-4.3.3-2].
                let first = self.incoming_qos2.insert(packet_id);
                self.send(PubRec { packet_id }.into(), now)?;
                first
            }
        };
        if deliver {
            self.events.push_back(Event::Message(Message {
                topic: publish.topic.as_str().to_owned(),
                payload: publish.payload.to_vec(),
                qos: publish.qos(),
                retain: publish.retain,
                dup: publish.delivery.dup(),
                packet_id: publish.delivery.packet_id().map(PacketId::get),
            }));
        }
        Ok(())
    }

    /// PUBACK or PUBCOMP: the message at `stage` with `packet_id` is done.
    fn on_ack(&mut self, packet_id: PacketId, stage: Stage) {
        let position = self
            .inflight
            .iter()
            .position(|entry| entry.packet_id == packet_id && entry.stage == stage);
        match position.and_then(|index| self.inflight.remove(index)) {
            Some(entry) => self.events.push_back(Event::Published(entry.token)),
            // A late acknowledgement of a message already completed, for example after a resend.
            None => log::debug!("ignoring an acknowledgement for unknown packet {packet_id}"),
        }
        // The window has room again; a failure to send would surface on the next call.
        if let Err(error) = self.fill_window(self.last_received) {
            log::warn!("cannot send a queued message: {error}");
        }
    }

    fn on_pubrec(&mut self, packet_id: PacketId, now: Instant) -> Result<(), Error> {
        if let Some(entry) = self
            .inflight
            .iter_mut()
            .find(|entry| entry.packet_id == packet_id && entry.stage != Stage::PubAck)
        {
            // From here on only PUBREL is sent for this message [MQTT-4.3.3-1].
            entry.stage = Stage::PubComp;
        }
        // Answered even when unknown, so that the server can finish its side of the flow.
        self.send(PubRel { packet_id }.into(), now) // [MQTT-2.3.1-6] [MQTT-4.6.0-4]
    }

    fn on_suback(&mut self, suback: SubAck<'_>) -> Result<(), Error> {
        let Some(index) = self.request_index(suback.packet_id) else {
            log::debug!("ignoring a SUBACK for unknown packet {}", suback.packet_id);
            return Ok(());
        };
        let codes: Vec<SubAckReturnCode> = suback.return_codes.iter().collect();
        let Some(request) = self.requests.get(index) else {
            return Ok(());
        };
        let RequestKind::Subscribe(filters) = &request.kind else {
            return Err(Error::violation(
                "answered an UNSUBSCRIBE with a SUBACK",
                "MQTT-3.1.1 §3.10.4",
            ));
        };
        if codes.len() != filters.len() {
            return Err(Error::violation(
                format!(
                    "answered {} filters with {} return codes",
                    filters.len(),
                    codes.len()
                ),
                "MQTT-3.8.4-5",
            ));
        }
        for ((filter, qos), code) in filters.iter().zip(&codes) {
            match code {
                SubAckReturnCode::Granted(_) => {
                    self.subscriptions.insert(filter.clone(), *qos);
                }
                SubAckReturnCode::Failure => {
                    self.subscriptions.remove(filter);
                }
            }
        }
        if let Some(Request {
            token: Some(token), ..
        }) = self.requests.remove(index)
        {
            self.events.push_back(Event::Subscribed {
                token,
                return_codes: codes,
            });
        }
        Ok(())
    }

    fn on_unsuback(&mut self, packet_id: PacketId) {
        let Some(request) = self
            .request_index(packet_id)
            .and_then(|index| self.requests.remove(index))
        else {
            log::debug!("ignoring an UNSUBACK for unknown packet {packet_id}");
            return;
        };
        if let RequestKind::Unsubscribe(filters) = &request.kind {
            for filter in filters {
                self.subscriptions.remove(filter);
            }
        }
        if let Some(token) = request.token {
            self.events.push_back(Event::Unsubscribed(token));
        }
    }

    fn request(
        &mut self,
        token: Option<Token>,
        kind: RequestKind,
        now: Instant,
    ) -> Result<(), Error> {
        let packet_id = self.packet_id();
        self.requests.push_back(Request {
            token,
            packet_id,
            kind,
            sent: false,
        });
        if self.state == State::Connected {
            self.send_request(self.requests.len() - 1, now)?;
        }
        Ok(())
    }

    fn send_request(&mut self, index: usize, now: Instant) -> Result<(), Error> {
        let Some(request) = self.requests.get(index) else {
            return Ok(());
        };
        let packet_id = request.packet_id;
        let level = self.options.level;
        let result = match &request.kind {
            RequestKind::Subscribe(filters) => {
                let entries: Vec<Subscription<'_>> = filters
                    .iter()
                    .filter_map(|(filter, qos)| {
                        Some(Subscription {
                            filter: TopicFilter::new(filter).ok()?,
                            qos: *qos,
                        })
                    })
                    .collect();
                let packet = Packet::from(Subscribe {
                    packet_id,
                    filters: List::from_slice(&entries),
                });
                packet.encode(level, &mut self.out)
            }
            RequestKind::Unsubscribe(filters) => {
                let entries: Vec<TopicFilter<'_>> = filters
                    .iter()
                    .filter_map(|filter| TopicFilter::new(filter).ok())
                    .collect();
                let packet = Packet::from(Unsubscribe {
                    packet_id,
                    filters: List::from_slice(&entries),
                });
                packet.encode(level, &mut self.out)
            }
        };
        match result {
            Ok(_) => {
                self.last_sent = now;
                if let Some(request) = self.requests.get_mut(index) {
                    request.sent = true;
                }
                Ok(())
            }
            Err(error) => {
                // Too large to encode: the request can never succeed, so fail it alone.
                if let Some(Request {
                    token: Some(token), ..
                }) = self.requests.remove(index)
                {
                    self.events.push_back(Event::Failed {
                        token,
                        error: error.into(),
                    });
                }
                Ok(())
            }
        }
    }

    /// Moves queued messages into the window while it has room.
    fn fill_window(&mut self, now: Instant) -> Result<(), Error> {
        while self.state == State::Connected {
            let Some((_, front)) = self.queued.front() else {
                break;
            };
            if front.qos != QoS::AtMostOnce && self.inflight.len() >= self.options.max_inflight {
                break;
            }
            let Some((token, message)) = self.queued.pop_front() else {
                break;
            };
            if let Err(error) = self.send_new(token, message, now) {
                self.events.push_back(Event::Failed { token, error });
            }
        }
        Ok(())
    }

    /// Sends a message for the first time on this session.
    fn send_new(&mut self, token: Token, message: Message, now: Instant) -> Result<(), Error> {
        if message.qos == QoS::AtMostOnce {
            self.send_publish(&message, FIRST_PACKET_ID, false, now)?;
            self.events.push_back(Event::Published(token));
            return Ok(());
        }
        let packet_id = self.packet_id(); // [MQTT-4.3.2-1] [MQTT-4.3.3-1]
        self.send_publish(&message, packet_id, false, now)?;
        let stage = match message.qos {
            QoS::ExactlyOnce => Stage::PubRec,
            _ => Stage::PubAck,
        };
        self.inflight.push_back(InFlight {
            token,
            packet_id,
            message,
            stage,
        });
        Ok(())
    }

    fn send_publish(
        &mut self,
        message: &Message,
        packet_id: PacketId,
        dup: bool,
        now: Instant,
    ) -> Result<(), Error> {
        let publish = Publish {
            topic: TopicName::new(&message.topic)?,
            payload: &message.payload,
            delivery: Delivery::new(message.qos, packet_id, dup),
            retain: message.retain,
        };
        self.send(publish.into(), now)
    }

    fn send(&mut self, packet: Packet<'_>, now: Instant) -> Result<(), Error> {
        packet.encode(self.options.level, &mut self.out)?;
        log::debug!(
            "{} sending {:?}",
            self.options.client_id,
            packet.packet_type()
        );
        self.last_sent = now;
        Ok(())
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

    fn request_index(&self, packet_id: PacketId) -> Option<usize> {
        self.requests
            .iter()
            .position(|request| request.packet_id == packet_id && request.sent)
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

#[cfg(test)]
mod tests {
    //! Every test drives the session by hand: packets are built with the codec, time is an `Instant`
    //! the test moves forward, and what the session sends is decoded back and described in one line
    //! per packet, so that each test reads as a transcript.

    use std::time::Duration;

    use mqtt_codec::{Decoder, ProtocolLevel, Status};

    use super::*;
    use crate::ConnectOptionsBuilder;

    fn options(
        configure: impl FnOnce(ConnectOptionsBuilder) -> ConnectOptionsBuilder,
    ) -> ConnectOptions {
        configure(ConnectOptions::builder("localhost", 1883).client_id("test"))
            .build()
            .expect("test options are valid")
    }

    fn id(value: u16) -> PacketId {
        PacketId::new(value).expect("test ids are non-zero")
    }

    /// A session that has sent CONNECT and received CONNACK at `now`.
    fn connected(options: ConnectOptions, now: Instant) -> Session {
        let mut session = Session::new(options, now);
        session.connect(now);
        accept(&mut session, false, now);
        session
    }

    fn accept(session: &mut Session, session_present: bool, now: Instant) {
        let connack = ConnAck {
            session_present,
            code: ConnectReturnCode::Accepted,
        };
        session
            .handle(connack.into(), now)
            .expect("CONNACK accepted");
        // Events from before this connection are skipped; `Connected` is the first of this one.
        loop {
            match session.poll_event() {
                Some(Event::Connected {
                    session_present: present,
                }) => {
                    assert_eq!(present, session_present);
                    break;
                }
                Some(_) => {}
                None => panic!("no Connected event"),
            }
        }
    }

    /// What the session has sent since the last call, one line per packet.
    fn sent(session: &mut Session) -> Vec<String> {
        let bytes = session.take_outgoing();
        let decoder = Decoder::new(session.options().level);
        let mut rest = &bytes[..];
        let mut lines = Vec::new();
        while !rest.is_empty() {
            let Ok(Status::Complete((packet, used))) = decoder.decode(rest) else {
                panic!("the session sent an undecodable packet: {rest:02x?}");
            };
            lines.push(describe(&packet));
            rest = &rest[used..];
        }
        lines
    }

    fn describe(packet: &Packet<'_>) -> String {
        match packet {
            Packet::Connect(c) => format!(
                "CONNECT {} clean={} ka={}",
                c.client_id, c.clean_session, c.keep_alive
            ),
            Packet::Publish(p) => format!(
                "PUBLISH {} {} q{} id={} dup={}",
                p.topic,
                String::from_utf8_lossy(p.payload),
                p.qos().bits(),
                p.delivery.packet_id().map_or(0, PacketId::get),
                u8::from(p.delivery.dup()),
            ),
            Packet::PubAck(a) => format!("PUBACK {}", a.packet_id),
            Packet::PubRec(a) => format!("PUBREC {}", a.packet_id),
            Packet::PubRel(a) => format!("PUBREL {}", a.packet_id),
            Packet::PubComp(a) => format!("PUBCOMP {}", a.packet_id),
            Packet::Subscribe(s) => {
                let filters: Vec<String> = s
                    .filters
                    .iter()
                    .map(|entry| format!("{}:{}", entry.filter, entry.qos.bits()))
                    .collect();
                format!("SUBSCRIBE {} {}", s.packet_id, filters.join(","))
            }
            Packet::Unsubscribe(u) => {
                let filters: Vec<&str> = u.filters.iter().map(TopicFilter::as_str).collect();
                format!("UNSUBSCRIBE {} {}", u.packet_id, filters.join(","))
            }
            other => format!("{:?}", other.packet_type()).to_uppercase(),
        }
    }

    fn events(session: &mut Session) -> Vec<Event> {
        std::iter::from_fn(|| session.poll_event()).collect()
    }

    fn published(events: &[Event]) -> Vec<Token> {
        events
            .iter()
            .filter_map(|event| match event {
                Event::Published(token) => Some(*token),
                _ => None,
            })
            .collect()
    }

    fn publish(qos: QoS, packet_id: u16, dup: bool, payload: &'static [u8]) -> Packet<'static> {
        Packet::Publish(Publish {
            topic: TopicName::new("t").expect("valid"),
            payload,
            delivery: Delivery::new(qos, id(packet_id), dup),
            retain: false,
        })
    }

    #[test]
    fn connect_sends_connect_then_waits_for_connack() {
        let now = Instant::now();
        let mut session = Session::new(options(|o| o.keep_alive(Duration::from_secs(30))), now);
        session.connect(now);
        assert_eq!(sent(&mut session), ["CONNECT test clean=true ka=30"]);
        assert!(matches!(session.state(), State::AwaitingConnAck { .. }));
        accept(&mut session, false, now);
        assert_eq!(session.state(), State::Connected);
    }

    #[test]
    fn mqtt_3_1_connect_uses_the_3_1_protocol_name() {
        let now = Instant::now();
        let mut session = Session::new(options(|o| o.level(ProtocolLevel::Mqtt31)), now);
        session.connect(now);
        let bytes = session.take_outgoing();
        assert_eq!(&bytes[2..10], b"\x00\x06MQIsdp"); // [V31-DIFF-1]
    }

    #[test]
    fn a_bridge_sets_the_top_bit_of_the_protocol_level() {
        let now = Instant::now();
        let mut session = Session::new(options(|o| o.bridge(true)), now);
        session.connect(now);
        let bytes = session.take_outgoing();
        assert_eq!(&bytes[2..9], b"\x00\x04MQTT\x84");
    }

    #[test]
    fn any_packet_before_connack_is_a_violation_mqtt_3_2_0_1() {
        let now = Instant::now();
        let mut session = Session::new(options(|o| o), now);
        session.connect(now);
        let error = session.handle(Packet::PingResp, now).expect_err("refused");
        assert!(
            matches!(
                error,
                Error::ProtocolViolation {
                    rule: "MQTT-3.2.0-1",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn refusal_reports_the_connack_code() {
        let now = Instant::now();
        let mut session = Session::new(options(|o| o), now);
        session.connect(now);
        let connack = ConnAck {
            session_present: false,
            code: ConnectReturnCode::BadUserNameOrPassword,
        };
        let error = session.handle(connack.into(), now).expect_err("refused");
        assert!(matches!(
            error,
            Error::Refused(ConnectReturnCode::BadUserNameOrPassword)
        ));
    }

    #[test]
    fn session_present_on_a_clean_session_is_a_violation_mqtt_3_2_2_1() {
        let now = Instant::now();
        let mut session = Session::new(options(|o| o), now);
        session.connect(now);
        let connack = ConnAck {
            session_present: true,
            code: ConnectReturnCode::Accepted,
        };
        let error = session.handle(connack.into(), now).expect_err("violation");
        assert!(matches!(
            error,
            Error::ProtocolViolation {
                rule: "MQTT-3.2.2-1",
                ..
            }
        ));
    }

    #[test]
    fn no_connack_within_the_connect_timeout_times_out() {
        let start = Instant::now();
        let mut session = Session::new(
            options(|o| o.connect_timeout(Duration::from_secs(5))),
            start,
        );
        session.connect(start);
        assert_eq!(
            session.next_deadline(),
            Some(start + Duration::from_secs(5))
        );
        assert!(session.tick(start + Duration::from_millis(4999)).is_ok());
        let error = session
            .tick(start + Duration::from_secs(5))
            .expect_err("late");
        assert!(matches!(error, Error::TimedOut(Timeout::ConnAck)));
    }

    #[test]
    fn pingreq_after_a_quiet_keep_alive_mqtt_3_1_2_23() {
        let start = Instant::now();
        let mut session = connected(options(|o| o.keep_alive(Duration::from_secs(10))), start);
        sent(&mut session);
        assert_eq!(
            session.next_deadline(),
            Some(start + Duration::from_secs(10))
        );
        session.tick(start + Duration::from_secs(9)).expect("alive");
        assert!(sent(&mut session).is_empty());
        session
            .tick(start + Duration::from_secs(10))
            .expect("alive");
        assert_eq!(sent(&mut session), ["PINGREQ"]);
        // PINGRESP in time: no error, and the next ping is a full interval later.
        session
            .handle(Packet::PingResp, start + Duration::from_secs(11))
            .expect("valid");
        session
            .tick(start + Duration::from_secs(15))
            .expect("alive");
        assert_eq!(
            session.next_deadline(),
            Some(start + Duration::from_secs(20))
        );
    }

    #[test]
    fn dead_server_detected_within_one_and_a_half_keep_alives() {
        let start = Instant::now();
        let keep_alive = Duration::from_secs(10);
        let mut session = connected(options(|o| o.keep_alive(keep_alive)), start);
        // The application keeps sending, so the client is never quiet; the server is.
        let mut now = start;
        loop {
            now += Duration::from_secs(1);
            let _ = session.publish("t", b"x", QoS::AtMostOnce, false, now);
            if let Err(error) = session.tick(now) {
                assert!(matches!(error, Error::TimedOut(Timeout::KeepAlive)));
                break;
            }
            assert!(now < start + keep_alive * 3, "never detected");
        }
        assert!(
            now - start <= keep_alive * 3 / 2,
            "detected after {:?}",
            now - start
        );
    }

    #[test]
    fn keep_alive_zero_turns_pings_off() {
        let start = Instant::now();
        let mut session = connected(options(|o| o.keep_alive(Duration::ZERO)), start);
        sent(&mut session);
        assert_eq!(session.next_deadline(), None);
        session
            .tick(start + Duration::from_secs(100_000))
            .expect("no keep-alive");
        assert!(sent(&mut session).is_empty());
    }

    #[test]
    fn qos_0_is_sent_and_complete_at_once_mqtt_4_3_1_1() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        sent(&mut session);
        let token = session
            .publish("a/b", b"hi", QoS::AtMostOnce, false, now)
            .expect("sent");
        assert_eq!(sent(&mut session), ["PUBLISH a/b hi q0 id=0 dup=0"]);
        assert_eq!(published(&events(&mut session)), [token]);
    }

    #[test]
    fn qos_1_completes_on_puback_mqtt_4_3_2_1() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        sent(&mut session);
        let token = session
            .publish("a/b", b"hi", QoS::AtLeastOnce, false, now)
            .expect("sent");
        assert_eq!(sent(&mut session), ["PUBLISH a/b hi q1 id=1 dup=0"]);
        assert!(events(&mut session).is_empty());
        session
            .handle(PubAck { packet_id: id(1) }.into(), now)
            .expect("valid");
        assert_eq!(published(&events(&mut session)), [token]);
        assert_eq!(session.inflight_len(), 0);
    }

    #[test]
    fn qos_2_sends_pubrel_on_pubrec_and_completes_on_pubcomp_mqtt_4_3_3_1() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        sent(&mut session);
        let token = session
            .publish("a/b", b"hi", QoS::ExactlyOnce, true, now)
            .expect("sent");
        assert_eq!(sent(&mut session), ["PUBLISH a/b hi q2 id=1 dup=0"]);
        session
            .handle(PubRec { packet_id: id(1) }.into(), now)
            .expect("valid");
        assert_eq!(sent(&mut session), ["PUBREL 1"]);
        assert!(events(&mut session).is_empty());
        session
            .handle(PubComp { packet_id: id(1) }.into(), now)
            .expect("valid");
        assert_eq!(published(&events(&mut session)), [token]);
    }

    #[test]
    fn packet_ids_in_use_are_not_reused_mqtt_2_3_1_2() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        sent(&mut session);
        for _ in 0..3 {
            session
                .publish("t", b"", QoS::AtLeastOnce, false, now)
                .expect("sent");
        }
        session
            .subscribe(&[("s", QoS::AtMostOnce)], now)
            .expect("sent");
        assert_eq!(
            sent(&mut session),
            [
                "PUBLISH t  q1 id=1 dup=0",
                "PUBLISH t  q1 id=2 dup=0",
                "PUBLISH t  q1 id=3 dup=0",
                "SUBSCRIBE 4 s:0"
            ]
        );
    }

    #[test]
    fn full_window_queues_and_full_queue_is_an_error() {
        let now = Instant::now();
        let mut session = connected(options(|o| o.max_inflight(2).max_queued(1)), now);
        sent(&mut session);
        session
            .publish("t", b"1", QoS::AtLeastOnce, false, now)
            .expect("sent");
        session
            .publish("t", b"2", QoS::AtLeastOnce, false, now)
            .expect("sent");
        session
            .publish("t", b"3", QoS::AtLeastOnce, false, now)
            .expect("queued");
        assert_eq!(sent(&mut session).len(), 2);
        assert_eq!(session.queued_len(), 1);
        let error = session
            .publish("t", b"4", QoS::AtLeastOnce, false, now)
            .expect_err("full");
        assert!(matches!(error, Error::QueueFull { capacity: 1 }));
        // An acknowledgement opens the window, and the queued message goes out.
        session
            .handle(PubAck { packet_id: id(1) }.into(), now)
            .expect("valid");
        assert_eq!(sent(&mut session), ["PUBLISH t 3 q1 id=3 dup=0"]);
    }

    #[test]
    fn qos_1_message_is_acknowledged_and_delivered_mqtt_4_3_2_2() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        sent(&mut session);
        session
            .handle(publish(QoS::AtLeastOnce, 7, false, b"m"), now)
            .expect("valid");
        assert_eq!(sent(&mut session), ["PUBACK 7"]);
        let events = events(&mut session);
        assert!(
            matches!(&events[..], [Event::Message(m)] if m.payload == b"m" && m.qos == QoS::AtLeastOnce)
        );
    }

    #[test]
    fn qos_2_message_is_delivered_once_mqtt_4_3_3_2() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        sent(&mut session);
        session
            .handle(publish(QoS::ExactlyOnce, 9, false, b"m"), now)
            .expect("valid");
        // The server did not see our PUBREC and sends the message again.
        session
            .handle(publish(QoS::ExactlyOnce, 9, true, b"m"), now)
            .expect("valid");
        assert_eq!(sent(&mut session), ["PUBREC 9", "PUBREC 9"]);
        assert_eq!(events(&mut session).len(), 1);
        session
            .handle(PubRel { packet_id: id(9) }.into(), now)
            .expect("valid");
        assert_eq!(sent(&mut session), ["PUBCOMP 9"]);
        // The identifier is free again: a new message with it is a new message.
        session
            .handle(publish(QoS::ExactlyOnce, 9, false, b"n"), now)
            .expect("valid");
        assert_eq!(events(&mut session).len(), 1);
    }

    #[test]
    fn suback_gives_one_code_per_filter_mqtt_3_8_4_5() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        sent(&mut session);
        let token = session
            .subscribe(&[("a/#", QoS::ExactlyOnce), ("b", QoS::AtMostOnce)], now)
            .expect("sent");
        assert_eq!(sent(&mut session), ["SUBSCRIBE 1 a/#:2,b:0"]);
        let codes = [
            SubAckReturnCode::Granted(QoS::AtLeastOnce),
            SubAckReturnCode::Failure,
        ];
        let suback = SubAck {
            packet_id: id(1),
            return_codes: List::from_slice(&codes),
        };
        session.handle(suback.into(), now).expect("valid");
        let events = events(&mut session);
        assert!(
            matches!(&events[..], [Event::Subscribed { token: t, return_codes }]
            if *t == token && return_codes[..] == codes)
        );
        assert_eq!(
            session.subscriptions().collect::<Vec<_>>(),
            [("a/#", QoS::ExactlyOnce)]
        );
    }

    #[test]
    fn suback_with_the_wrong_number_of_codes_is_a_violation() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        session
            .subscribe(&[("a", QoS::AtMostOnce), ("b", QoS::AtMostOnce)], now)
            .expect("sent");
        let codes = [SubAckReturnCode::Granted(QoS::AtMostOnce)];
        let suback = SubAck {
            packet_id: id(1),
            return_codes: List::from_slice(&codes),
        };
        let error = session.handle(suback.into(), now).expect_err("violation");
        assert!(matches!(
            error,
            Error::ProtocolViolation {
                rule: "MQTT-3.8.4-5",
                ..
            }
        ));
    }

    #[test]
    fn unsubscribe_forgets_the_filter() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        session
            .subscribe(&[("a", QoS::AtMostOnce)], now)
            .expect("sent");
        let codes = [SubAckReturnCode::Granted(QoS::AtMostOnce)];
        let suback = SubAck {
            packet_id: id(1),
            return_codes: List::from_slice(&codes),
        };
        session.handle(suback.into(), now).expect("valid");
        sent(&mut session);
        let token = session.unsubscribe(&["a"], now).expect("sent");
        assert_eq!(sent(&mut session), ["UNSUBSCRIBE 2 a"]);
        session
            .handle(UnsubAck { packet_id: id(2) }.into(), now)
            .expect("valid");
        assert!(matches!(&events(&mut session)[..], [_, Event::Unsubscribed(t)] if *t == token));
        assert_eq!(session.subscriptions().count(), 0);
    }

    #[test]
    fn server_only_packets_from_the_server_are_violations() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        let error = session.handle(Packet::PingReq, now).expect_err("violation");
        assert!(matches!(error, Error::ProtocolViolation { .. }));
    }

    #[test]
    fn without_reconnection_a_lost_connection_fails_every_request() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        let token = session
            .publish("t", b"", QoS::AtLeastOnce, false, now)
            .expect("sent");
        session.connection_lost(&Error::ConnectionLost("test".into()), false);
        assert!(
            matches!(&events(&mut session)[..], [Event::Failed { token: t, error: Error::ConnectionLost(_) }] if *t == token)
        );
        assert!(matches!(
            session.publish("t", b"", QoS::AtMostOnce, false, now),
            Err(Error::Closed)
        ));
    }

    #[test]
    fn disconnected_without_reconnection_refuses_requests() {
        let now = Instant::now();
        let mut session = Session::new(options(|o| o), now);
        let error = session
            .publish("t", b"", QoS::AtMostOnce, false, now)
            .expect_err("refused");
        assert!(matches!(error, Error::NotConnected));
    }

    #[test]
    fn offline_messages_wait_for_the_connection() {
        let now = Instant::now();
        let reconnecting = options(|o| o.reconnect(Duration::from_secs(1), Duration::from_secs(8)));
        let mut session = Session::new(reconnecting, now);
        session
            .publish("t", b"early", QoS::AtLeastOnce, false, now)
            .expect("queued");
        session
            .subscribe(&[("s", QoS::AtLeastOnce)], now)
            .expect("queued");
        assert!(!session.has_outgoing());
        session.connect(now);
        accept(&mut session, false, now);
        assert_eq!(
            sent(&mut session),
            [
                "CONNECT test clean=true ka=60",
                "SUBSCRIBE 1 s:1",
                "PUBLISH t early q1 id=2 dup=0"
            ]
        );
    }

    #[test]
    fn resumed_session_resends_with_dup_and_pubrel_mqtt_4_4_0_1() {
        let now = Instant::now();
        let persistent = options(|o| {
            o.clean_session(false)
                .reconnect(Duration::from_secs(1), Duration::from_secs(8))
        });
        let mut session = connected(persistent, now);
        let first = session
            .publish("t", b"1", QoS::AtLeastOnce, false, now)
            .expect("sent");
        session
            .publish("t", b"2", QoS::ExactlyOnce, false, now)
            .expect("sent");
        session
            .publish("t", b"3", QoS::ExactlyOnce, false, now)
            .expect("sent");
        session
            .handle(PubRec { packet_id: id(2) }.into(), now)
            .expect("valid");
        sent(&mut session);
        session.connection_lost(&Error::ConnectionLost("test".into()), true);
        assert_eq!(session.state(), State::Disconnected);

        session.connect(now);
        accept(&mut session, true, now);
        // Original order and identifiers [MQTT-4.6.0-1]; DUP on re-sent PUBLISH [MQTT-3.3.1-1];
        // PUBREL, never PUBLISH, after PUBREC [MQTT-4.3.3-1].
        assert_eq!(
            sent(&mut session),
            [
                "CONNECT test clean=false ka=60",
                "PUBLISH t 1 q1 id=1 dup=1",
                "PUBREL 2",
                "PUBLISH t 3 q2 id=3 dup=1"
            ]
        );
        session
            .handle(PubAck { packet_id: id(1) }.into(), now)
            .expect("valid");
        assert_eq!(published(&events(&mut session)), [first]);
    }

    #[test]
    fn lost_session_means_subscribing_again() {
        let now = Instant::now();
        let persistent = options(|o| {
            o.clean_session(false)
                .reconnect(Duration::from_secs(1), Duration::from_secs(8))
        });
        let mut session = connected(persistent, now);
        session
            .subscribe(&[("a/+", QoS::AtLeastOnce), ("b", QoS::ExactlyOnce)], now)
            .expect("sent");
        let codes = [
            SubAckReturnCode::Granted(QoS::AtLeastOnce),
            SubAckReturnCode::Granted(QoS::ExactlyOnce),
        ];
        let suback = SubAck {
            packet_id: id(1),
            return_codes: List::from_slice(&codes),
        };
        session.handle(suback.into(), now).expect("valid");
        let delivered = session
            .publish("t", b"x", QoS::ExactlyOnce, false, now)
            .expect("sent");
        let again = session
            .publish("t", b"y", QoS::AtLeastOnce, false, now)
            .expect("sent");
        session
            .handle(PubRec { packet_id: id(2) }.into(), now)
            .expect("valid");
        sent(&mut session);
        events(&mut session);
        session.connection_lost(&Error::ConnectionLost("test".into()), true);

        // The server restarted and lost everything.
        session.connect(now);
        accept(&mut session, false, now);
        assert_eq!(
            sent(&mut session),
            [
                "CONNECT test clean=false ka=60",
                "SUBSCRIBE 4 a/+:1,b:2",
                "PUBLISH t y q1 id=5 dup=0"
            ]
        );
        // The message past PUBREC belongs to the server now: complete.
        assert_eq!(published(&events(&mut session)), [delivered]);
        session
            .handle(PubAck { packet_id: id(5) }.into(), now)
            .expect("valid");
        assert_eq!(published(&events(&mut session)), [again]);
    }

    #[test]
    fn clean_session_reconnect_subscribes_again() {
        let now = Instant::now();
        let reconnecting = options(|o| o.reconnect(Duration::from_secs(1), Duration::from_secs(8)));
        let mut session = connected(reconnecting, now);
        session
            .subscribe(&[("x", QoS::AtMostOnce)], now)
            .expect("sent");
        let codes = [SubAckReturnCode::Granted(QoS::AtMostOnce)];
        let suback = SubAck {
            packet_id: id(1),
            return_codes: List::from_slice(&codes),
        };
        session.handle(suback.into(), now).expect("valid");
        session.connection_lost(&Error::ConnectionLost("test".into()), true);
        session.connect(now);
        accept(&mut session, false, now);
        assert_eq!(
            sent(&mut session),
            ["CONNECT test clean=true ka=60", "SUBSCRIBE 2 x:0"]
        );
        // The re-subscription has no token: its SUBACK completes nothing the application holds.
        let suback = SubAck {
            packet_id: id(2),
            return_codes: List::from_slice(&codes),
        };
        session.handle(suback.into(), now).expect("valid");
        assert!(events(&mut session).is_empty());
    }

    #[test]
    fn request_interrupted_by_a_drop_is_sent_again() {
        let now = Instant::now();
        let reconnecting = options(|o| o.reconnect(Duration::from_secs(1), Duration::from_secs(8)));
        let mut session = connected(reconnecting, now);
        let token = session
            .subscribe(&[("x", QoS::AtMostOnce)], now)
            .expect("sent");
        session.connection_lost(&Error::ConnectionLost("test".into()), true);
        session.connect(now);
        accept(&mut session, false, now);
        assert_eq!(
            sent(&mut session),
            ["CONNECT test clean=true ka=60", "SUBSCRIBE 1 x:0"]
        );
        let codes = [SubAckReturnCode::Granted(QoS::AtMostOnce)];
        let suback = SubAck {
            packet_id: id(1),
            return_codes: List::from_slice(&codes),
        };
        session.handle(suback.into(), now).expect("valid");
        assert!(
            matches!(&events(&mut session)[..], [Event::Subscribed { token: t, .. }] if *t == token)
        );
    }

    #[test]
    fn disconnect_sends_disconnect_and_fails_what_is_pending_mqtt_3_14_4_2() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        sent(&mut session);
        let token = session
            .publish("t", b"", QoS::AtLeastOnce, false, now)
            .expect("sent");
        session.disconnect(now);
        assert_eq!(
            sent(&mut session),
            ["PUBLISH t  q1 id=1 dup=0", "DISCONNECT"]
        );
        assert!(
            matches!(&events(&mut session)[..], [Event::Failed { token: t, error: Error::Closed }] if *t == token)
        );
        // Nothing more is sent after DISCONNECT.
        session
            .handle(publish(QoS::AtLeastOnce, 1, false, b""), now)
            .expect("ignored");
        assert!(!session.has_outgoing());
    }

    #[test]
    fn invalid_topics_are_the_applications_fault() {
        let now = Instant::now();
        let mut session = connected(options(|o| o), now);
        assert!(matches!(
            session.publish("a/+", b"", QoS::AtMostOnce, false, now),
            Err(Error::InvalidTopic(_))
        ));
        assert!(matches!(
            session.subscribe(&[("a/#/b", QoS::AtMostOnce)], now),
            Err(Error::InvalidTopic(_))
        ));
    }
}

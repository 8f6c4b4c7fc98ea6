//! [`Translator`]: the gateway's protocol logic, sans-IO. It takes a datagram from a node, an event
//! from the broker side, or the passing of time, always with `now` passed in, and returns the
//! [`Action`]s to carry out: datagrams to send and MQTT requests to make.
//!
//! It implements the gateway's side of §6 and forwarder encapsulation (§5.5). The two gateway kinds
//! of §4 differ only in which broker connection a request goes to and in the reference counting of
//! subscriptions. This file holds the translator's state, its public entry points, the dispatch of
//! each incoming message to the module that owns its flow, and the sending helpers (`send`,
//! `send_to`, `send_out`, `send_all`, `pump`), which are the only methods besides the public ones.
//! Each flow lives in one child module as free functions over `&mut Translator`, and every call
//! names its module (`disconnection::lose(self, ...)`, `publish::client_puback(self, ...)`), so a reader
//! goes from a call to its code by the name alone, without this map:
//!
//! | Module | Its one job |
//! |---|---|
//! | `discovery` | GWINFO in answer to SEARCHGW, ADVERTISE every T_ADV (§6.1) |
//! | `connection` | CONNECT and the will dialogue (§6.2, §6.3), a client id taken over from another address, the broker side opened before CONNACK |
//! | `disconnection` | the state changes to disconnected and lost (§6.12, §6.14), the will published, and the expiry of kept sessions |
//! | `will` | will updates while connected (§6.4) |
//! | `publish` | registration both ways (§6.5, §6.10), PUBLISH at QoS -1 to 2 both ways (§6.6 to §6.8) |
//! | `subscriptions` | SUBSCRIBE and UNSUBSCRIBE (§6.9), and the aggregating kind's shared, counted subscriptions (§4.2) |
//! | `sleep` | keep-alive pings (§6.11) and sleeping clients (§6.14) |
//! | `broker` | what the broker side reports: connections up and lost, acknowledgements |
//!
//! Every change of a client's state is logged at `info` level. The per-client bookkeeping and the
//! delivery path towards the client live in `session.rs`; no file here does I/O or reads a clock.

mod broker;
mod connection;
mod disconnection;
mod discovery;
#[cfg(test)]
mod harness;
mod publish;
mod sleep;
mod subscriptions;
mod will;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use mqttsn_codec::{ConnAck, Disconnect, Encapsulated, Message, QoS as SnQoS, ReturnCode};

use crate::action::{Action, BrokerEvent, ConnId, Peer};
use crate::config::Config;
use crate::session::{ClientState, Delivery, Expiry, Limits, Session, encode};

/// Counters of what the gateway refused or dropped, for the logs and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that did not decode, or came encapsulated with forwarders turned off.
    pub malformed: u64,
    /// Messages for a client dropped because its buffer was full.
    pub dropped: u64,
    /// Clients lost (keep-alive, sleep duration, or retransmissions exhausted).
    pub lost: u64,
    /// How many times the gateway's own broker connection was lost.
    pub broker_losses: u64,
    /// Whether the gateway's own broker connection is up.
    pub broker_connected: bool,
    /// Messages waiting in the clients' queues: sleeping clients', and those kept for disconnected
    /// clients whose session is kept.
    pub buffered: usize,
}

/// The gateway's protocol state: every client's session and the broker side as far as it matters.
#[derive(Debug)]
pub struct Translator {
    config: Config,
    /// Sessions by client id.
    sessions: HashMap<String, Session>,
    /// Which client id each peer last connected with.
    peers: HashMap<Peer, String>,
    /// Transparent connections, by owner.
    owners: HashMap<ConnId, String>,
    /// Transparent connections the gateway has closed for a client whose session is kept, by
    /// owner: a message the broker sent on one before it saw the DISCONNECT is still that
    /// client's, and is kept for it rather than lost. One per client at most; forgotten with
    /// the session.
    retired: HashMap<ConnId, String>,
    next_conn: u64,
    /// Whether the gateway's own connection is up: ADVERTISE is sent only then [SN-6.1-2], and an
    /// aggregating gateway accepts clients only then.
    gateway_up: bool,
    /// Aggregating only: how many clients hold each filter; the broker subscription exists while
    /// the count is above zero.
    shared: HashMap<String, usize>,
    next_advertise: Option<Instant>,
    /// When the gateway's own connection last came up.
    gateway_up_since: Option<Instant>,
    stats: Stats,
}

impl Translator {
    /// A gateway with no clients, its own broker connection not yet up.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            sessions: HashMap::new(),
            peers: HashMap::new(),
            owners: HashMap::new(),
            retired: HashMap::new(),
            next_conn: 1,
            gateway_up: false,
            shared: HashMap::new(),
            next_advertise: None,
            gateway_up_since: None,
            stats: Stats::default(),
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state of client `client_id`, if the gateway has a session for it. Sessions with a clean
    /// session are forgotten once disconnected or lost.
    pub fn client_state(&self, client_id: &str) -> Option<ClientState> {
        self.sessions.get(client_id).map(|s| s.state)
    }

    /// How many messages wait for client `client_id`.
    pub fn buffered(&self, client_id: &str) -> usize {
        self.sessions.get(client_id).map_or(0, |s| s.queue.len())
    }

    /// Whether broker connection `conn` is still wanted: the gateway's own, or one whose client
    /// still waits for it or uses it.
    pub fn wants(&self, conn: ConnId) -> bool {
        conn == ConnId::GATEWAY || self.owners.contains_key(&conn)
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        Stats {
            broker_connected: self.gateway_up,
            buffered: self.sessions.values().map(|s| s.queue.len()).sum(),
            ..self.stats
        }
    }

    /// The earliest time at which [`tick`](Self::tick) has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let limits = self.limits();
        self.sessions
            .values()
            .filter_map(|s| s.deadline(&limits))
            .chain(self.next_advertise.filter(|_| self.gateway_up))
            .min()
    }

    /// One datagram from `from`. Malformed datagrams are counted, logged and otherwise ignored:
    /// nothing a node sends can disturb another client.
    pub fn datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Vec<Action> {
        let mut actions = Vec::new();
        let message = match Message::decode(bytes) {
            Ok(message) => message,
            Err(error) => {
                self.stats.malformed += 1;
                log::warn!(
                    "{from}: malformed datagram dropped: {error} [{}]",
                    error.rule()
                );
                return actions;
            }
        };
        let (peer, message) = match message {
            Message::Encapsulated(frame) => {
                if !self.config.forwarder {
                    self.stats.malformed += 1;
                    log::warn!("{from}: encapsulated frame dropped: forwarders are turned off");
                    return actions;
                }
                let Ok(inner) = frame.message() else {
                    self.stats.malformed += 1;
                    return actions;
                };
                // [SN-4-1] The forwarder passes the message on unchanged; answers go back
                // encapsulated for the same wireless node [SN-5.5-3].
                let peer = Peer {
                    addr: from,
                    node: Some(frame.wireless_node_id().to_vec()),
                };
                (peer, inner)
            }
            message => (Peer::direct(from), message),
        };
        self.message(now, &peer, message, &mut actions);
        actions
    }

    /// One datagram that came to the multicast group the gateway joined (see
    /// [`Config::advertise_address`]). Only SEARCHGW is answered there [SN-6.1-12]; anything else
    /// sent to the group (the gateway's own ADVERTISE looped back, another gateway's) is not for
    /// this gateway's clients and is ignored.
    pub fn group_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Vec<Action> {
        let mut actions = Vec::new();
        let _ = now;
        match Message::decode(bytes) {
            Ok(Message::SearchGw(_)) => discovery::search_gw_on_group(self, from, &mut actions),
            Ok(message) => log::debug!("{from}: {:?} on the group ignored", message.msg_type()),
            Err(error) => log::debug!("{from}: malformed datagram on the group: {error}"),
        }
        actions
    }

    /// One event from the broker side.
    pub fn broker(&mut self, now: Instant, event: BrokerEvent) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            BrokerEvent::Connected(conn) => broker::connected(self, now, conn, &mut actions),
            BrokerEvent::Lost(conn) => broker::lost(self, now, conn, &mut actions),
            BrokerEvent::Message {
                conn,
                topic,
                payload,
                qos,
                retain,
            } => {
                let delivery = Delivery {
                    topic,
                    payload,
                    qos,
                    retain,
                };
                publish::broker_message(self, now, conn, delivery, &mut actions);
            }
            BrokerEvent::Done(ack, outcome) => broker::done(self, now, ack, outcome, &mut actions),
        }
        actions
    }

    /// The passing of time: keep-alive and sleep timers, retransmissions, ADVERTISE.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.gateway_up
            && let Some(due) = self.next_advertise
            && now >= due
        {
            discovery::advertise(self, now, &mut actions);
        }
        let ids: Vec<String> = self.sessions.keys().cloned().collect();
        for id in ids {
            let limits = Limits {
                retry_interval: self.config.retry_interval,
                retry_count: self.config.retry_count,
                predefined: &self.config.predefined,
                session_expiry: self.config.session_expiry,
            };
            let Some(session) = self.sessions.get_mut(&id) else {
                continue;
            };
            let mut out = Vec::new();
            let expiry = session.expire(now, &limits, &mut out);
            let peer = session.peer.clone();
            self.send_all(&peer, out, &mut actions);
            match expiry {
                Expiry::None => {}
                Expiry::Lost => disconnection::lose(self, now, &id, &mut actions),
                Expiry::GaveUp => {
                    log::info!("{id}: will dialogue unanswered");
                    disconnection::disconnect(self, now, &id, false, &mut actions);
                }
                Expiry::Expired => disconnection::expire_session(self, &id, &mut actions),
            }
        }
        actions
    }

    fn limits(&self) -> Limits<'_> {
        Limits {
            retry_interval: self.config.retry_interval,
            retry_count: self.config.retry_count,
            predefined: &self.config.predefined,
            session_expiry: self.config.session_expiry,
        }
    }

    // ---------------------------------------------------------------------------------------------
    // From the nodes.

    fn message(
        &mut self,
        now: Instant,
        peer: &Peer,
        message: Message<'_>,
        actions: &mut Vec<Action>,
    ) {
        match message {
            Message::SearchGw(_) => discovery::search_gw(self, peer, actions),
            // Other gateways' and clients' discovery traffic is not for us.
            Message::Advertise(_) | Message::GwInfo(_) => {}
            Message::Connect(connect) => connection::connect(self, now, peer, &connect, actions),
            // [SN-6.8-1] QoS -1 needs no connection.
            Message::Publish(publish) if publish.qos == SnQoS::MinusOne => {
                publish::publish_minus_one(self, peer, &publish, actions);
            }
            Message::PingReq(ping) if !self.peers.contains_key(peer) => {
                // A sleeping client may wake on another address: it names itself [SN-5.4.19-2].
                match ping.client_id.map(|id| id.as_str().to_string()) {
                    Some(id)
                        if self
                            .sessions
                            .get(&id)
                            .is_some_and(|s| s.state.is_connected()) =>
                    {
                        connection::rebind(self, &id, peer);
                        connection::connected_message(self, now, &id, message, actions);
                    }
                    _ => self.unknown(peer, &message, actions),
                }
            }
            message => match self.peers.get(peer).cloned() {
                Some(id) => connection::connected_message(self, now, &id, message, actions),
                None => self.unknown(peer, &message, actions),
            },
        }
    }

    /// A message from a peer the gateway cannot map to a connected client.
    fn unknown(&mut self, peer: &Peer, message: &Message<'_>, actions: &mut Vec<Action>) {
        // [SN-5.4.21-2] Such a client is told it is disconnected, so that it connects again
        // [SN-5.4.21-3], rather than believing it is connected. Messages that are themselves
        // answers or disconnections are not answered, so that two confused peers cannot loop.
        let answer = !matches!(
            message,
            Message::Disconnect(_)
                | Message::PingResp
                | Message::ConnAck(_)
                | Message::WillTopicReq
                | Message::WillMsgReq
                | Message::WillTopicResp(_)
                | Message::WillMsgResp(_)
                | Message::SubAck(_)
                | Message::UnsubAck(_)
        );
        log::debug!("{peer}: {:?} from an unknown client", message.msg_type());
        if answer {
            self.send(
                peer,
                &Message::Disconnect(Disconnect { duration: None }),
                actions,
            );
        }
    }

    /// A message from a connected client (active, asleep or awake), handed to the module that owns
    /// its flow.
    fn session_message(
        &mut self,
        now: Instant,
        id: &str,
        message: Message<'_>,
        actions: &mut Vec<Action>,
    ) {
        match message {
            Message::Register(register) => publish::client_register(self, id, &register, actions),
            Message::RegAck(regack) => publish::client_regack(self, now, id, &regack, actions),
            Message::Publish(publish) => publish::client_publish(self, id, &publish, actions),
            Message::PubAck(puback) => publish::client_puback(self, now, id, &puback, actions),
            Message::PubRec(pubrec) => publish::client_pubrec(self, now, id, &pubrec, actions),
            Message::PubComp(pubcomp) => publish::client_pubcomp(self, now, id, &pubcomp, actions),
            Message::PubRel(pubrel) => publish::client_pubrel(self, id, &pubrel, actions),
            Message::Subscribe(subscribe) => {
                subscriptions::subscribe(self, id, &subscribe, actions)
            }
            Message::Unsubscribe(unsubscribe) => {
                subscriptions::unsubscribe(self, id, &unsubscribe, actions)
            }
            Message::PingReq(ping) => sleep::ping(self, now, id, &ping, actions),
            Message::PingResp => {}
            Message::Disconnect(disconnect) => {
                sleep::client_disconnect(self, now, id, disconnect, actions);
            }
            Message::WillTopicUpd(will) => will::will_topic_update(self, id, will, actions),
            Message::WillMsgUpd(will) => will::will_message_update(self, id, &will, actions),
            // A will message outside the dialogue, or messages only a gateway sends.
            other => log::debug!("{id}: unexpected {:?} ignored", other.msg_type()),
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Sending.

    fn pump(&mut self, now: Instant, id: &str, actions: &mut Vec<Action>) {
        let limits = Limits {
            retry_interval: self.config.retry_interval,
            retry_count: self.config.retry_count,
            predefined: &self.config.predefined,
            session_expiry: self.config.session_expiry,
        };
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let mut out = Vec::new();
        let asleep_again = session.pump(now, &limits, &mut out);
        self.send_out(id, out, actions);
        if asleep_again {
            log::info!("{id}: awake -> asleep");
        }
    }

    fn send_to(&self, id: &str, message: &Message<'_>, actions: &mut Vec<Action>) {
        if let Some(session) = self.sessions.get(id) {
            self.send(&session.peer, message, actions);
        }
    }

    fn send(&self, peer: &Peer, message: &Message<'_>, actions: &mut Vec<Action>) {
        if let Some(bytes) = encode(message) {
            self.send_all(peer, vec![bytes], actions);
        }
    }

    fn send_out(&self, id: &str, out: Vec<Vec<u8>>, actions: &mut Vec<Action>) {
        if let Some(session) = self.sessions.get(id) {
            self.send_all(&session.peer, out, actions);
        }
    }

    fn send_all(&self, peer: &Peer, out: Vec<Vec<u8>>, actions: &mut Vec<Action>) {
        for bytes in out {
            let datagram = match &peer.node {
                None => bytes,
                // [SN-5.5-1] Back to the forwarder, for the node the request came from.
                Some(node) => match Encapsulated::new(0, node, &bytes)
                    .ok()
                    .and_then(|frame| encode(&Message::Encapsulated(frame)))
                {
                    Some(datagram) => datagram,
                    None => continue,
                },
            };
            actions.push(Action::Send {
                to: peer.addr,
                datagram,
            });
        }
    }
}

fn connack(return_code: ReturnCode) -> Message<'static> {
    Message::ConnAck(ConnAck { return_code })
}

#[cfg(test)]
mod tests {
    //! What holds for every message: malformed datagrams, strangers, forwarders.

    use mqttsn_codec::{ClientId, Connect, PingReq};

    use super::harness::*;
    use super::*;
    use crate::config::GatewayKind;

    #[test]
    fn strangers_are_told_they_are_disconnected_sn_5_4_21_2() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let actions = h.from(3, Message::PingReq(PingReq { client_id: None }));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::Disconnect]);
        // Not in answer to a DISCONNECT, which could loop.
        assert!(
            h.from(3, Message::Disconnect(Disconnect { duration: None }))
                .is_empty()
        );
    }

    #[test]
    fn malformed_datagrams_are_counted_and_ignored() {
        let mut h = Harness::new(GatewayKind::Transparent);
        h.connect(1, "c1", false, 30);
        for garbage in [&[][..], &[0x05, 0x0c, 0x00], &[0x02, 0x03], &[0xff; 40]] {
            assert!(h.translator.datagram(h.now, node(1), garbage).is_empty());
        }
        assert_eq!(h.translator.stats().malformed, 4);
        assert_eq!(h.state("c1"), Some(ClientState::Active));
    }

    #[test]
    fn encapsulated_requests_are_answered_encapsulated_sn_5_5_1() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        let inner = bytes(Message::Connect(Connect {
            will: false,
            clean_session: true,
            duration: 30,
            client_id: ClientId::new("fw-node").expect("valid"),
        }));
        let frame = Encapsulated::new(0, b"\x01\x02", &inner).expect("valid");
        let actions = h
            .translator
            .datagram(h.now, node(4), &bytes(Message::Encapsulated(frame)));
        let (to, datagram) = &sent(&actions)[0];
        assert_eq!(*to, node(4));
        let Ok(Message::Encapsulated(answer)) = Message::decode(datagram) else {
            panic!("encapsulated answer");
        };
        assert_eq!(answer.wireless_node_id(), b"\x01\x02");
        assert_eq!(answer.message(), Ok(connack_msg(ReturnCode::Accepted)));
        // The same node id through the forwarder is the same client; another is not.
        let ping = bytes(Message::PingReq(PingReq { client_id: None }));
        let frame = Encapsulated::new(0, b"\x01\x02", &ping).expect("valid");
        let actions = h
            .translator
            .datagram(h.now, node(4), &bytes(Message::Encapsulated(frame)));
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Encapsulated(answer)) = Message::decode(&datagram) else {
            panic!("encapsulated answer");
        };
        assert_eq!(answer.message(), Ok(Message::PingResp));
    }
}

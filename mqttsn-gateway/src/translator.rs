//! [`Translator`]: the gateway's protocol logic, sans-IO. It takes a datagram from a node, an event
//! from the broker side, or the passing of time, always with `now` passed in, and returns the
//! [`Action`]s to carry out: datagrams to send and MQTT requests to make.
//!
//! It implements the gateway's side of §6: discovery (§6.1: GWINFO, ADVERTISE), connection set-up
//! with the will dialogue (§6.2, §6.3), will updates (§6.4), registration both ways (§6.5, §6.10),
//! publishing at QoS -1 to 2 both ways (§6.6, §6.8), predefined ids and short names (§6.7),
//! subscriptions (§6.9), keep-alive (§6.11), disconnection (§6.12), retransmission (§6.13), sleeping
//! clients (§6.14) and forwarder encapsulation (§5.5). The two gateway kinds of §4 differ only in
//! which broker connection a request goes to and in the reference counting of subscriptions.
//!
//! Every change of a client's state is logged at `info` level. The per-client bookkeeping and the
//! delivery path towards the client live in `session.rs`; this file does no I/O and reads no clock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use mqtt_client::QoS;
use mqttsn_codec::{
    Advertise, ConnAck, Connect, Disconnect, Encapsulated, GwInfo, Message, MsgId, PubAck, PubComp,
    PubRec, Publish, PublishTopic, QoS as SnQoS, RegAck, ReturnCode, SubAck, Subscribe,
    SubscribeTopic, TopicId, UnsubAck, Unsubscribe, WillResp, WillTopic,
};

use crate::action::{Ack, AckKind, Action, BrokerEvent, ConnId, ConnectRequest, Outcome, Peer};
use crate::config::{Config, GatewayKind};
use crate::session::{
    ClientState, Delivery, Expiry, Limits, Session, Subscription, SubscriptionKind, encode,
    mqtt_qos, sn_qos,
};

/// Counters of what the gateway refused or dropped, for the logs and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that did not decode, or came encapsulated with forwarders turned off.
    pub malformed: u64,
    /// Messages for a client dropped because its buffer was full.
    pub dropped: u64,
    /// Clients lost (keep-alive, sleep duration, or retransmissions exhausted).
    pub lost: u64,
    /// Whether the gateway's own broker connection is up.
    pub broker_connected: bool,
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
    next_conn: u64,
    /// Whether the gateway's own connection is up: ADVERTISE is sent only then [SN-6.1-2], and an
    /// aggregating gateway accepts clients only then.
    gateway_up: bool,
    /// Aggregating only: how many clients hold each filter; the broker subscription exists while
    /// the count is above zero.
    shared: HashMap<String, usize>,
    next_advertise: Option<Instant>,
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
            next_conn: 1,
            gateway_up: false,
            shared: HashMap::new(),
            next_advertise: None,
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

    /// One event from the broker side.
    pub fn broker(&mut self, now: Instant, event: BrokerEvent) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            BrokerEvent::Connected(conn) => self.broker_connected(now, conn, &mut actions),
            BrokerEvent::Lost(conn) => self.broker_lost(now, conn, &mut actions),
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
                self.broker_message(now, conn, delivery, &mut actions);
            }
            BrokerEvent::Done(ack, outcome) => self.broker_done(now, ack, outcome, &mut actions),
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
            self.advertise(now, &mut actions);
        }
        let ids: Vec<String> = self.sessions.keys().cloned().collect();
        for id in ids {
            let limits = Limits {
                retry_interval: self.config.retry_interval,
                retry_count: self.config.retry_count,
                predefined: &self.config.predefined,
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
                Expiry::Lost => self.lose(&id, &mut actions),
                Expiry::GaveUp => {
                    log::info!("{id}: will dialogue unanswered");
                    self.disconnect(&id, false, &mut actions);
                }
            }
        }
        actions
    }

    fn limits(&self) -> Limits<'_> {
        Limits {
            retry_interval: self.config.retry_interval,
            retry_count: self.config.retry_count,
            predefined: &self.config.predefined,
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
            // [SN-6.1-12] A gateway answers SEARCHGW with GWINFO carrying its id. It answers the
            // searcher directly: a UDP client waits on its own port, not on a broadcast address.
            Message::SearchGw(_) => {
                let gwinfo = Message::GwInfo(GwInfo {
                    gw_id: self.config.gateway_id,
                    gw_add: None,
                });
                self.send(peer, &gwinfo, actions);
            }
            // Other gateways' and clients' discovery traffic is not for us.
            Message::Advertise(_) | Message::GwInfo(_) => {}
            Message::Connect(connect) => self.connect(now, peer, &connect, actions),
            // [SN-6.8-1] QoS -1 needs no connection.
            Message::Publish(publish) if publish.qos == SnQoS::MinusOne => {
                self.publish_minus_one(peer, &publish, actions);
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
                        self.rebind(&id, peer);
                        self.connected_message(now, &id, message, actions);
                    }
                    _ => self.unknown(peer, &message, actions),
                }
            }
            message => match self.peers.get(peer).cloned() {
                Some(id) => self.connected_message(now, &id, message, actions),
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

    fn rebind(&mut self, id: &str, peer: &Peer) {
        if let Some(session) = self.sessions.get_mut(id)
            && session.peer != *peer
        {
            log::info!("{id}: moved from {} to {peer}", session.peer);
            self.peers.remove(&session.peer);
            session.peer = peer.clone();
        }
        self.peers.insert(peer.clone(), id.to_string());
    }

    fn connect(
        &mut self,
        now: Instant,
        peer: &Peer,
        connect: &Connect<'_>,
        actions: &mut Vec<Action>,
    ) {
        let id = connect.client_id.as_str().to_string();
        let live = self
            .sessions
            .values()
            .filter(|s| s.state != ClientState::Lost)
            .count();
        if !self.sessions.contains_key(&id) && live >= self.config.max_clients {
            // [SN-6.2-4] A refusal carries its reason.
            log::warn!("{peer}: {id} refused, {live} clients already");
            let connack = Message::ConnAck(ConnAck {
                return_code: ReturnCode::Congestion,
            });
            self.send(peer, &connack, actions);
            return;
        }
        // A peer that connects under a new client id leaves its old session behind.
        if let Some(old) = self.peers.get(peer).cloned()
            && old != id
        {
            self.disconnect(&old, false, actions);
        }
        let session = self
            .sessions
            .entry(id.clone())
            .or_insert_with(|| Session::new(&id, peer.clone(), now));
        let was = session.state;
        if was == ClientState::AwaitingBroker {
            // A retransmitted CONNECT while the broker is being asked: the answer is on its way.
            return;
        }
        self.rebind(&id, peer);
        if connect.clean_session {
            // [SN-6.3-2] [SN-6.3-3] A clean session starts from nothing, will included.
            self.clean(&id, actions);
        }
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        session.clean_session = connect.clean_session;
        session.keep_alive = std::time::Duration::from_secs(connect.duration.into());
        session.last_heard = now;
        session.prompt_retries = 0;
        if connect.will {
            // [SN-6.2-2] [SN-6.3-4] Ask for the will; the new one replaces the stored one.
            self.set_state(&id, ClientState::AwaitingWillTopic);
            self.send_to(&id, &Message::WillTopicReq, actions);
        } else {
            // [SN-6.2-3] [SN-6.3-5]
            self.open(now, &id, actions);
        }
    }

    /// Removes what a clean session discards, including the broker side of its subscriptions.
    fn clean(&mut self, id: &str, actions: &mut Vec<Action>) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let filters: Vec<String> = session
            .subscriptions
            .iter()
            .map(|s| s.filter.clone())
            .collect();
        session.clear();
        let old_conn = session.conn.take();
        if let Some(conn) = old_conn {
            self.owners.remove(&conn);
            actions.push(Action::Disconnect(conn));
        }
        if self.config.kind == GatewayKind::Aggregating {
            for filter in filters {
                self.release(&filter, actions);
            }
        }
    }

    /// The last step of the connection set-up: the broker side, then CONNACK.
    fn open(&mut self, now: Instant, id: &str, actions: &mut Vec<Action>) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        match self.config.kind {
            GatewayKind::Transparent if session.conn.is_none() => {
                // [SN-4.1-1] One MQTT connection per client, under the client's own id.
                let conn = ConnId(self.next_conn);
                self.next_conn += 1;
                session.conn = Some(conn);
                self.owners.insert(conn, id.to_string());
                let request = ConnectRequest {
                    client_id: id.to_string(),
                    clean_session: session.clean_session,
                    keep_alive: session.keep_alive.max(self.config.broker_keep_alive),
                };
                actions.push(Action::Connect(conn, request));
                self.set_state(id, ClientState::AwaitingBroker);
            }
            GatewayKind::Aggregating if !self.gateway_up => {
                // [SN-6.2-4] No broker, no connection: the client is told to wait.
                self.send_to(id, &connack(ReturnCode::Congestion), actions);
                self.disconnect(id, false, actions);
            }
            // Aggregating with the broker up, or transparent with the client's connection still
            // open (a sleeping client connecting again without a clean session).
            _ => self.accept(now, id, actions),
        }
    }

    fn accept(&mut self, now: Instant, id: &str, actions: &mut Vec<Action>) {
        self.send_to(id, &connack(ReturnCode::Accepted), actions);
        self.set_state(id, ClientState::Active);
        if let Some(session) = self.sessions.get_mut(id) {
            session.last_heard = now;
            // A client that reconnects with messages kept from its sleep gets them now.
            let mut out = Vec::new();
            session.resend_inflight(now, &mut out);
            self.send_out(id, out, actions);
        }
        self.pump(now, id, actions);
    }

    fn connected_message(
        &mut self,
        now: Instant,
        id: &str,
        message: Message<'_>,
        actions: &mut Vec<Action>,
    ) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let state = session.state;
        // [SN-6.14-4] Any message shows the client is alive.
        if state != ClientState::Asleep {
            session.last_heard = now;
        }
        match (state, message) {
            (ClientState::AwaitingWillTopic, Message::WillTopic(will)) => {
                match will {
                    // [SN-6.3-6] An empty WILLTOPIC deletes the will; there is no message to ask.
                    WillTopic::Delete => {
                        session.will = None;
                        session.will_message.clear();
                        self.open(now, id, actions);
                    }
                    WillTopic::Set { qos, retain, topic } => {
                        session.will = Some((topic.as_str().to_string(), mqtt_qos(qos), retain));
                        session.prompt_retries = 0;
                        self.set_state(id, ClientState::AwaitingWillMsg);
                        self.send_to(id, &Message::WillMsgReq, actions);
                    }
                }
            }
            (ClientState::AwaitingWillMsg, Message::WillMsg(will)) => {
                session.will_message = will.message.to_vec();
                self.open(now, id, actions);
            }
            (ClientState::AwaitingWillTopic | ClientState::AwaitingWillMsg, _) => {
                log::debug!("{id}: unexpected message during the will dialogue, ignored");
            }
            (ClientState::AwaitingBroker, _) => {
                log::debug!("{id}: message before CONNACK, ignored");
            }
            (ClientState::Disconnected | ClientState::Lost, message) => {
                let peer = session.peer.clone();
                self.unknown(&peer, &message, actions);
            }
            (_, message) => self.session_message(now, id, message, actions),
        }
    }

    /// A message from a connected client (active, asleep or awake).
    fn session_message(
        &mut self,
        now: Instant,
        id: &str,
        message: Message<'_>,
        actions: &mut Vec<Action>,
    ) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        match message {
            Message::Register(register) => {
                // [SN-6.5-2] A fresh id (or the one already given) in REGACK.
                let (topic_id, return_code) =
                    match session.registry.assign(register.topic_name.as_str()) {
                        Some(topic_id) => (topic_id, ReturnCode::Accepted),
                        None => (TopicId::UNASSIGNED, ReturnCode::Congestion),
                    };
                let regack = Message::RegAck(RegAck {
                    topic_id,
                    msg_id: register.msg_id,
                    return_code,
                });
                self.send_to(id, &regack, actions);
            }
            Message::RegAck(regack) => {
                let mut out = Vec::new();
                session.on_regack(
                    regack.msg_id,
                    regack.return_code == ReturnCode::Accepted,
                    now,
                    &mut out,
                );
                self.send_out(id, out, actions);
                self.pump(now, id, actions);
            }
            Message::Publish(publish) => self.publish(id, &publish, actions),
            Message::PubAck(puback) => {
                session.on_puback(
                    puback.msg_id,
                    puback.topic_id,
                    puback.return_code == ReturnCode::InvalidTopicId,
                );
                self.pump(now, id, actions);
            }
            Message::PubRec(pubrec) => {
                let mut out = Vec::new();
                session.on_pubrec(pubrec.msg_id, now, &mut out);
                self.send_out(id, out, actions);
            }
            Message::PubComp(pubcomp) => {
                session.on_pubcomp(pubcomp.msg_id);
                self.pump(now, id, actions);
            }
            Message::PubRel(pubrel) => {
                // [SN-5.4.14-1] The end of the client's QoS 2 flow; PUBCOMP even for an unknown
                // id, as MQTT does, so that a client that lost our first PUBCOMP can finish.
                session.qos2_received.remove(&pubrel.msg_id.0);
                let pubcomp = Message::PubComp(PubComp {
                    msg_id: pubrel.msg_id,
                });
                self.send_to(id, &pubcomp, actions);
            }
            Message::Subscribe(subscribe) => self.subscribe(id, &subscribe, actions),
            Message::Unsubscribe(unsubscribe) => self.unsubscribe(id, &unsubscribe, actions),
            Message::PingReq(ping) => {
                if ping.client_id.is_some()
                    && matches!(session.state, ClientState::Asleep | ClientState::Awake)
                {
                    // [SN-6.14-9] Awake: the sleep timer stops, the buffer drains, then PINGRESP
                    // [SN-6.14-10], or PINGRESP at once if there is nothing [SN-6.14-11].
                    session.last_heard = now;
                    let mut out = Vec::new();
                    session.resend_inflight(now, &mut out);
                    self.set_state(id, ClientState::Awake);
                    self.send_out(id, out, actions);
                    self.pump(now, id, actions);
                } else {
                    // [SN-6.11-1]
                    self.send_to(id, &Message::PingResp, actions);
                }
            }
            Message::PingResp => {}
            Message::Disconnect(Disconnect { duration }) => match duration {
                // [SN-6.14-6] [SN-6.14-15] DISCONNECT with a duration: asleep, acknowledged with
                // a DISCONNECT without one [SN-5.4.21-5]. The broker connection stays open so that
                // messages keep arriving for the buffer.
                Some(seconds) if seconds > 0 => {
                    session.sleep = std::time::Duration::from_secs(seconds.into());
                    session.last_heard = now;
                    self.send_to(
                        id,
                        &Message::Disconnect(Disconnect { duration: None }),
                        actions,
                    );
                    self.set_state(id, ClientState::Asleep);
                }
                // [SN-6.12-3] [SN-6.14-5]
                _ => {
                    self.send_to(
                        id,
                        &Message::Disconnect(Disconnect { duration: None }),
                        actions,
                    );
                    self.disconnect(id, true, actions);
                }
            },
            Message::WillTopicUpd(will) => {
                match will {
                    // [SN-6.4-4] An empty WILLTOPICUPD deletes topic and message.
                    WillTopic::Delete => {
                        session.will = None;
                        session.will_message.clear();
                    }
                    // [SN-6.4-1] [SN-6.4-3] The topic alone is replaced.
                    WillTopic::Set { qos, retain, topic } => {
                        session.will = Some((topic.as_str().to_string(), mqtt_qos(qos), retain));
                    }
                }
                // [SN-6.4-2] [SN-5.4.24-1]
                let resp = Message::WillTopicResp(WillResp {
                    return_code: ReturnCode::Accepted,
                });
                self.send_to(id, &resp, actions);
            }
            Message::WillMsgUpd(will) => {
                session.will_message = will.message.to_vec();
                // [SN-6.4-2] [SN-5.4.25-1]
                let resp = Message::WillMsgResp(WillResp {
                    return_code: ReturnCode::Accepted,
                });
                self.send_to(id, &resp, actions);
            }
            // A will message outside the dialogue, or messages only a gateway sends.
            other => log::debug!("{id}: unexpected {:?} ignored", other.msg_type()),
        }
    }

    /// The topic name a client's PUBLISH names, if it names one the gateway knows.
    fn topic_name(&self, client: Option<&str>, topic: PublishTopic) -> Option<String> {
        match topic {
            PublishTopic::Normal(id) => client
                .and_then(|c| self.sessions.get(c))
                .and_then(|s| s.registry.name(id))
                .map(str::to_string),
            PublishTopic::Predefined(id) => self
                .config
                .predefined
                .name(client, id.0)
                .map(str::to_string),
            PublishTopic::Short(short) => Some(short.as_str().to_string()),
        }
    }

    fn publish_minus_one(&mut self, peer: &Peer, publish: &Publish<'_>, actions: &mut Vec<Action>) {
        if !self.config.qos_minus_one {
            log::debug!("{peer}: QoS -1 PUBLISH dropped: QoS-1 is turned off");
            return;
        }
        let client = self.peers.get(peer).cloned();
        let Some(topic) = self.topic_name(client.as_deref(), publish.topic) else {
            // [SN-6.7-3] An unknown predefined id.
            log::info!("{peer}: QoS -1 PUBLISH on an unknown topic id dropped");
            let puback = Message::PubAck(PubAck {
                topic_id: TopicId(u16::from_be_bytes(publish.topic.to_array())),
                msg_id: publish.msg_id,
                return_code: ReturnCode::InvalidTopicId,
            });
            self.send(peer, &puback, actions);
            return;
        };
        // [SN-7.1-1] QoS -1 goes out on the gateway's own connection, at QoS 0.
        actions.push(Action::Publish {
            conn: ConnId::GATEWAY,
            topic,
            payload: publish.data.to_vec(),
            qos: QoS::AtMostOnce,
            retain: publish.retain,
            ack: None,
        });
    }

    fn publish(&mut self, id: &str, publish: &Publish<'_>, actions: &mut Vec<Action>) {
        let topic_id = TopicId(u16::from_be_bytes(publish.topic.to_array()));
        let Some(topic) = self.topic_name(Some(id), publish.topic) else {
            // [SN-6.6-3] [SN-6.7-3] Whatever the QoS, an unknown id is refused with PUBACK.
            let puback = Message::PubAck(PubAck {
                topic_id,
                msg_id: publish.msg_id,
                return_code: ReturnCode::InvalidTopicId,
            });
            self.send_to(id, &puback, actions);
            return;
        };
        let conn = self.conn_for(id);
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let ack = match publish.qos {
            SnQoS::AtMostOnce | SnQoS::MinusOne => None,
            SnQoS::AtLeastOnce => Some(AckKind::PubAck {
                msg_id: publish.msg_id,
                topic_id,
            }),
            SnQoS::ExactlyOnce => {
                if !session.qos2_received.insert(publish.msg_id.0) {
                    // A retransmission of a QoS 2 PUBLISH already forwarded: answer, do not
                    // forward again [SN-6.6-2].
                    let pubrec = Message::PubRec(PubRec {
                        msg_id: publish.msg_id,
                    });
                    self.send_to(id, &pubrec, actions);
                    return;
                }
                Some(AckKind::PubRec {
                    msg_id: publish.msg_id,
                })
            }
        };
        actions.push(Action::Publish {
            conn,
            topic,
            payload: publish.data.to_vec(),
            qos: mqtt_qos(publish.qos),
            retain: publish.retain,
            ack: ack.map(|kind| Ack {
                client: id.to_string(),
                conn,
                kind,
            }),
        });
    }

    /// The broker connection a client's requests go to.
    fn conn_for(&self, id: &str) -> ConnId {
        match self.config.kind {
            GatewayKind::Aggregating => ConnId::GATEWAY,
            GatewayKind::Transparent => self
                .sessions
                .get(id)
                .and_then(|s| s.conn)
                .unwrap_or(ConnId::GATEWAY),
        }
    }

    /// The filter, TopicId and kind a SUBSCRIBE or UNSUBSCRIBE names; `None` for an unknown
    /// predefined id.
    fn subscription_topic(
        &mut self,
        id: &str,
        topic: SubscribeTopic<'_>,
    ) -> Option<(String, TopicId, SubscriptionKind)> {
        match topic {
            SubscribeTopic::Name(filter) => {
                let name = filter.as_str().to_string();
                // [SN-6.9-3] A wildcard filter gets TopicId 0x0000; a plain name gets its id now,
                // which the gateway then publishes with [SN-5.4.16-2] [SN-6.10-1].
                let topic_id = if filter.has_wildcards() {
                    TopicId::UNASSIGNED
                } else {
                    self.sessions
                        .get_mut(id)
                        .and_then(|s| s.registry.assign(&name))
                        .unwrap_or(TopicId::UNASSIGNED)
                };
                Some((name, topic_id, SubscriptionKind::Name))
            }
            SubscribeTopic::Predefined(topic_id) => {
                let name = self.config.predefined.name(Some(id), topic_id.0)?;
                Some((
                    name.to_string(),
                    topic_id,
                    SubscriptionKind::Predefined(topic_id),
                ))
            }
            // [SN-6.7-6] No registration; the TopicId of the SUBACK is not relevant [SN-5.4.16-2].
            SubscribeTopic::Short(short) => Some((
                short.as_str().to_string(),
                TopicId::UNASSIGNED,
                SubscriptionKind::Short(short),
            )),
        }
    }

    fn subscribe(&mut self, id: &str, subscribe: &Subscribe<'_>, actions: &mut Vec<Action>) {
        let requested = mqtt_qos(subscribe.qos);
        let Some((filter, topic_id, kind)) = self.subscription_topic(id, subscribe.topic) else {
            // [SN-6.7-3] An unknown predefined id.
            let suback = Message::SubAck(SubAck {
                qos: subscribe.qos,
                topic_id: TopicId::UNASSIGNED,
                msg_id: subscribe.msg_id,
                return_code: ReturnCode::InvalidTopicId,
            });
            self.send_to(id, &suback, actions);
            return;
        };
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let known = session.subscriptions.iter().any(|s| s.filter == filter);
        session.subscriptions.retain(|s| s.filter != filter);
        session.subscriptions.push(Subscription {
            filter: filter.clone(),
            qos: requested,
            kind,
        });
        let kind = AckKind::SubAck {
            msg_id: subscribe.msg_id,
            topic_id,
            requested,
        };
        match self.config.kind {
            GatewayKind::Transparent => {
                let conn = self.conn_for(id);
                actions.push(Action::Subscribe {
                    conn,
                    filter,
                    qos: requested,
                    ack: Some(Ack {
                        client: id.to_string(),
                        conn,
                        kind,
                    }),
                });
            }
            GatewayKind::Aggregating => {
                // [SN-4.2-1] One broker subscription per filter, shared and counted. It asks for
                // QoS 2 so that each client can be served at the QoS it asked for.
                let count = self.shared.entry(filter.clone()).or_insert(0);
                if !known {
                    *count += 1;
                }
                if *count == 1 && !known {
                    actions.push(Action::Subscribe {
                        conn: ConnId::GATEWAY,
                        filter,
                        qos: QoS::ExactlyOnce,
                        ack: Some(Ack {
                            client: id.to_string(),
                            conn: ConnId::GATEWAY,
                            kind,
                        }),
                    });
                } else {
                    self.suback(id, subscribe.msg_id, topic_id, Some(requested), actions);
                }
            }
        }
    }

    fn suback(
        &mut self,
        id: &str,
        msg_id: MsgId,
        topic_id: TopicId,
        granted: Option<QoS>,
        actions: &mut Vec<Action>,
    ) {
        // [SN-5.4.16-1] [SN-6.9-1]
        let suback = Message::SubAck(match granted {
            Some(qos) => SubAck {
                qos: sn_qos(qos),
                topic_id,
                msg_id,
                return_code: ReturnCode::Accepted,
            },
            None => SubAck {
                qos: SnQoS::AtMostOnce,
                topic_id,
                msg_id,
                return_code: ReturnCode::NotSupported,
            },
        });
        self.send_to(id, &suback, actions);
    }

    fn unsubscribe(&mut self, id: &str, unsubscribe: &Unsubscribe<'_>, actions: &mut Vec<Action>) {
        let unsuback = Message::UnsubAck(UnsubAck {
            msg_id: unsubscribe.msg_id,
        });
        let filter = match unsubscribe.topic {
            SubscribeTopic::Name(filter) => filter.as_str().to_string(),
            SubscribeTopic::Predefined(topic_id) => {
                match self.config.predefined.name(Some(id), topic_id.0) {
                    Some(name) => name.to_string(),
                    None => {
                        // Nothing to remove; UNSUBACK has no return code [SN-5.4.18-1].
                        self.send_to(id, &unsuback, actions);
                        return;
                    }
                }
            }
            SubscribeTopic::Short(short) => short.as_str().to_string(),
        };
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let had = session.subscriptions.iter().any(|s| s.filter == filter);
        session.subscriptions.retain(|s| s.filter != filter);
        match self.config.kind {
            GatewayKind::Transparent => {
                let conn = self.conn_for(id);
                actions.push(Action::Unsubscribe {
                    conn,
                    filter,
                    ack: Some(Ack {
                        client: id.to_string(),
                        conn,
                        kind: AckKind::UnsubAck {
                            msg_id: unsubscribe.msg_id,
                        },
                    }),
                });
            }
            GatewayKind::Aggregating => {
                if had {
                    self.release(&filter, actions);
                }
                // [SN-6.9-5]
                self.send_to(id, &unsuback, actions);
            }
        }
    }

    /// Aggregating: one client fewer holds `filter`; the last one out unsubscribes the gateway.
    fn release(&mut self, filter: &str, actions: &mut Vec<Action>) {
        if let Some(count) = self.shared.get_mut(filter) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.shared.remove(filter);
                actions.push(Action::Unsubscribe {
                    conn: ConnId::GATEWAY,
                    filter: filter.to_string(),
                    ack: None,
                });
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // From the broker side.

    fn broker_connected(&mut self, now: Instant, conn: ConnId, actions: &mut Vec<Action>) {
        if conn == ConnId::GATEWAY {
            log::info!("gateway connection to the broker is up");
            self.gateway_up = true;
            // [SN-6.1-1] Advertise at once, then every T_ADV.
            self.advertise(now, actions);
            return;
        }
        let Some(id) = self.owners.get(&conn).cloned() else {
            return;
        };
        if self.client_state(&id) == Some(ClientState::AwaitingBroker) {
            self.accept(now, &id, actions);
        }
    }

    fn broker_lost(&mut self, now: Instant, conn: ConnId, actions: &mut Vec<Action>) {
        if conn == ConnId::GATEWAY {
            log::warn!("gateway connection to the broker lost");
            self.gateway_up = false;
            if self.config.kind == GatewayKind::Aggregating {
                // Every client depends on this connection: each is told, rather than left
                // believing it is connected [SN-5.4.21-2].
                let ids: Vec<String> = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| {
                        s.state != ClientState::Disconnected && s.state != ClientState::Lost
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in ids {
                    self.tell_disconnected(&id, actions);
                }
            }
            return;
        }
        let Some(id) = self.owners.remove(&conn) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        session.conn = None;
        if session.state == ClientState::AwaitingBroker {
            // [SN-6.2-4] The broker could not be reached: congestion, try later.
            log::warn!("{id}: broker connection failed");
            self.send_to(&id, &connack(ReturnCode::Congestion), actions);
            self.disconnect(&id, false, actions);
        } else {
            log::warn!("{id}: broker connection lost");
            self.tell_disconnected(&id, actions);
        }
        let _ = now;
    }

    /// Sends an unsolicited DISCONNECT and marks the client disconnected.
    fn tell_disconnected(&mut self, id: &str, actions: &mut Vec<Action>) {
        self.send_to(
            id,
            &Message::Disconnect(Disconnect { duration: None }),
            actions,
        );
        self.disconnect(id, true, actions);
    }

    fn broker_message(
        &mut self,
        now: Instant,
        conn: ConnId,
        delivery: Delivery,
        actions: &mut Vec<Action>,
    ) {
        let targets: Vec<String> = match (self.config.kind, self.owners.get(&conn)) {
            (GatewayKind::Transparent, Some(owner)) => vec![owner.clone()],
            (GatewayKind::Transparent, None) => return,
            (GatewayKind::Aggregating, _) => self.sessions.keys().cloned().collect(),
        };
        for id in targets {
            let Some(session) = self.sessions.get_mut(&id) else {
                continue;
            };
            if !session.state.is_connected() && session.state != ClientState::AwaitingBroker {
                continue;
            }
            let Some(qos) = session.matching_qos(&delivery.topic, delivery.qos) else {
                continue;
            };
            let copy = Delivery {
                qos,
                ..delivery.clone()
            };
            if !session.enqueue(copy, self.config.max_buffered) {
                self.stats.dropped += 1;
                log::warn!(
                    "{id}: buffer full ({} messages), message on {} dropped ({} so far)",
                    self.config.max_buffered,
                    delivery.topic,
                    session.dropped
                );
            }
            self.pump(now, &id, actions);
        }
    }

    fn broker_done(&mut self, now: Instant, ack: Ack, outcome: Outcome, actions: &mut Vec<Action>) {
        let Some(session) = self.sessions.get_mut(&ack.client) else {
            return;
        };
        if ack.conn != ConnId::GATEWAY && session.conn != Some(ack.conn) {
            // The answer of a connection the client no longer has.
            return;
        }
        let id = ack.client;
        match (ack.kind, outcome) {
            (AckKind::PubAck { msg_id, topic_id }, outcome) => {
                let return_code = match outcome {
                    Outcome::Done(_) => ReturnCode::Accepted,
                    _ => ReturnCode::Congestion,
                };
                let puback = Message::PubAck(PubAck {
                    topic_id,
                    msg_id,
                    return_code,
                });
                self.send_to(&id, &puback, actions);
            }
            (AckKind::PubRec { msg_id }, Outcome::Done(_)) => {
                self.send_to(&id, &Message::PubRec(PubRec { msg_id }), actions);
            }
            (AckKind::PubRec { msg_id }, _) => {
                // Not forwarded: forget the id, so that the client's retransmission is tried again.
                session.qos2_received.remove(&msg_id.0);
            }
            (
                AckKind::SubAck {
                    msg_id,
                    topic_id,
                    requested,
                },
                outcome,
            ) => {
                let granted = match outcome {
                    Outcome::Done(granted) => Some(granted.unwrap_or(requested).min(requested)),
                    _ => None,
                };
                self.suback(&id, msg_id, topic_id, granted, actions);
            }
            (AckKind::UnsubAck { msg_id }, _) => {
                self.send_to(&id, &Message::UnsubAck(UnsubAck { msg_id }), actions);
            }
        }
        let _ = now;
    }

    // ---------------------------------------------------------------------------------------------
    // State changes.

    fn set_state(&mut self, id: &str, state: ClientState) {
        if let Some(session) = self.sessions.get_mut(id)
            && session.state != state
        {
            log::info!("{id} ({}): {} -> {state}", session.peer, session.state);
            session.state = state;
        }
    }

    /// Disconnected [SN-6.14-5]: the client's own DISCONNECT, a failed set-up, or a broker loss.
    /// `close` also closes a transparent client's broker connection. A clean session is then
    /// forgotten: nothing of it would survive the next CONNECT.
    fn disconnect(&mut self, id: &str, close: bool, actions: &mut Vec<Action>) {
        self.set_state(id, ClientState::Disconnected);
        if let Some(session) = self.sessions.get_mut(id) {
            session.drop_deliveries();
            if close && let Some(conn) = session.conn.take() {
                self.owners.remove(&conn);
                actions.push(Action::Disconnect(conn));
            }
        }
        self.forget_if_clean(id, actions);
    }

    /// Lost [SN-6.14-4] [SN-6.14-7]: the will is published, the broker connection closed.
    fn lose(&mut self, id: &str, actions: &mut Vec<Action>) {
        self.stats.lost += 1;
        self.set_state(id, ClientState::Lost);
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        session.drop_deliveries();
        // The gateway publishes the will itself, on its own connection: MQTT 3.1.1 cannot change a
        // connection's will after CONNECT, which WILLTOPICUPD and WILLMSGUPD need, and an
        // aggregating gateway has no connection per client to carry one.
        if let Some((topic, qos, retain)) = session.will.clone() {
            log::info!("{id}: will published on {topic}");
            actions.push(Action::Publish {
                conn: ConnId::GATEWAY,
                topic,
                payload: session.will_message.clone(),
                qos,
                retain,
                ack: None,
            });
        }
        if let Some(conn) = session.conn.take() {
            self.owners.remove(&conn);
            actions.push(Action::Disconnect(conn));
        }
        self.forget_if_clean(id, actions);
    }

    fn forget_if_clean(&mut self, id: &str, actions: &mut Vec<Action>) {
        if self.sessions.get(id).is_some_and(|s| s.clean_session) {
            self.clean(id, actions);
            if let Some(session) = self.sessions.remove(id) {
                self.peers.remove(&session.peer);
            }
        }
    }

    fn pump(&mut self, now: Instant, id: &str, actions: &mut Vec<Action>) {
        let limits = Limits {
            retry_interval: self.config.retry_interval,
            retry_count: self.config.retry_count,
            predefined: &self.config.predefined,
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

    fn advertise(&mut self, now: Instant, actions: &mut Vec<Action>) {
        self.next_advertise = Some(now + self.config.advertise_interval);
        let Some(to) = self.config.advertise_address else {
            return;
        };
        // [SN-5.4.1-1] Duration: the seconds until the next ADVERTISE.
        let advertise = Message::Advertise(Advertise {
            gw_id: self.config.gateway_id,
            duration: u16::try_from(self.config.advertise_interval.as_secs()).unwrap_or(u16::MAX),
        });
        if let Some(datagram) = encode(&advertise) {
            actions.push(Action::Send { to, datagram });
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Sending.

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
    //! The translator driven by hand: datagrams in, actions out, time passed in. Every timer test
    //! moves a fake clock; nothing sleeps.

    use std::time::Duration;

    use mqttsn_codec::{ClientId, PingReq, ShortTopicName, TopicFilter, TopicName, WillMsg};

    use super::*;
    use crate::session::tolerance;
    use mqttsn_codec::Register;

    const SECOND: Duration = Duration::from_secs(1);

    struct Harness {
        translator: Translator,
        now: Instant,
    }

    fn node(n: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 5000 + n))
    }

    fn bytes(message: Message<'_>) -> Vec<u8> {
        encode(&message).expect("encodable")
    }

    /// The datagrams sent, in order, with their destinations.
    fn sent(actions: &[Action]) -> Vec<(SocketAddr, Vec<u8>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { to, datagram } => Some((*to, datagram.clone())),
                _ => None,
            })
            .collect()
    }

    /// The message types sent, in order.
    fn types(actions: &[Action]) -> Vec<mqttsn_codec::MsgType> {
        sent(actions)
            .iter()
            .map(|(_, d)| Message::decode(d).expect("valid").msg_type())
            .collect()
    }

    impl Harness {
        fn new(kind: GatewayKind) -> Self {
            let mut config = Config {
                kind,
                advertise_address: Some(node(999)),
                ..Config::default()
            };
            config.predefined.insert("*", 7, "pre/seven");
            config.predefined.insert("c1", 8, "pre/c1/eight");
            let mut harness = Self {
                translator: Translator::new(config),
                now: Instant::now(),
            };
            harness.broker(BrokerEvent::Connected(ConnId::GATEWAY));
            harness
        }

        fn from(&mut self, n: u16, message: Message<'_>) -> Vec<Action> {
            self.translator.datagram(self.now, node(n), &bytes(message))
        }

        fn broker(&mut self, event: BrokerEvent) -> Vec<Action> {
            self.translator.broker(self.now, event)
        }

        fn advance(&mut self, by: Duration) -> Vec<Action> {
            self.now += by;
            self.translator.tick(self.now)
        }

        fn state(&self, id: &str) -> Option<ClientState> {
            self.translator.client_state(id)
        }

        /// Connects `id` from node `n`, without a will, and completes the broker side.
        fn connect(&mut self, n: u16, id: &str, clean: bool, keep_alive: u16) {
            let actions = self.from(
                n,
                Message::Connect(Connect {
                    will: false,
                    clean_session: clean,
                    duration: keep_alive,
                    client_id: ClientId::new(id).expect("valid"),
                }),
            );
            if let Some(conn) = actions.iter().find_map(|a| match a {
                Action::Connect(conn, _) => Some(*conn),
                _ => None,
            }) {
                let actions = self.broker(BrokerEvent::Connected(conn));
                assert_eq!(types(&actions), [mqttsn_codec::MsgType::ConnAck]);
            } else {
                assert_eq!(types(&actions), [mqttsn_codec::MsgType::ConnAck]);
            }
            assert_eq!(self.state(id), Some(ClientState::Active));
        }

        fn subscribe(&mut self, n: u16, topic: SubscribeTopic<'_>, qos: SnQoS) -> Vec<Action> {
            let actions = self.from(
                n,
                Message::Subscribe(Subscribe {
                    dup: false,
                    qos,
                    msg_id: MsgId(1),
                    topic,
                }),
            );
            // Complete the broker's SUBACK if one was asked for.
            let mut all = actions.clone();
            for action in actions {
                if let Action::Subscribe {
                    ack: Some(ack),
                    qos,
                    ..
                } = action
                {
                    all.extend(self.broker(BrokerEvent::Done(ack, Outcome::Done(Some(qos)))));
                }
            }
            all
        }

        fn message(&mut self, conn: ConnId, topic: &str, qos: QoS) -> Vec<Action> {
            self.broker(BrokerEvent::Message {
                conn,
                topic: topic.into(),
                payload: b"data".to_vec(),
                qos,
                retain: false,
            })
        }
    }

    fn name(filter: &str) -> SubscribeTopic<'_> {
        SubscribeTopic::Name(TopicFilter::new(filter).expect("valid"))
    }

    fn wake(id: &str) -> Message<'_> {
        Message::PingReq(PingReq {
            client_id: Some(ClientId::new(id).expect("valid")),
        })
    }

    #[test]
    fn will_dialogue_then_broker_then_connack_sn_6_2_2() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let actions = h.from(
            1,
            Message::Connect(Connect {
                will: true,
                clean_session: true,
                duration: 30,
                client_id: ClientId::new("c1").expect("valid"),
            }),
        );
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::WillTopicReq]);
        assert_eq!(h.state("c1"), Some(ClientState::AwaitingWillTopic));
        let actions = h.from(
            1,
            Message::WillTopic(WillTopic::Set {
                qos: SnQoS::AtLeastOnce,
                retain: true,
                topic: TopicName::new("wills/c1").expect("valid"),
            }),
        );
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::WillMsgReq]);
        let actions = h.from(1, Message::WillMsg(WillMsg { message: b"gone" }));
        let [Action::Connect(conn, request)] = &actions[..] else {
            panic!("expected a broker connection, got {actions:?}");
        };
        assert_eq!(request.client_id, "c1");
        assert_eq!(h.state("c1"), Some(ClientState::AwaitingBroker));
        let actions = h.broker(BrokerEvent::Connected(*conn));
        let (to, connack) = &sent(&actions)[0];
        assert_eq!(*to, node(1));
        assert_eq!(
            Message::decode(connack),
            Ok(connack_msg(ReturnCode::Accepted))
        );
        assert_eq!(h.state("c1"), Some(ClientState::Active));

        // [SN-6.14-4] Silent past the keep-alive (with [SN-7.2-2]'s tolerance): lost, will out.
        let limit = tolerance(Duration::from_secs(30));
        assert!(h.advance(limit - SECOND).is_empty());
        let actions = h.advance(SECOND);
        assert!(actions.contains(&Action::Publish {
            conn: ConnId::GATEWAY,
            topic: "wills/c1".into(),
            payload: b"gone".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            ack: None,
        }));
        assert!(actions.contains(&Action::Disconnect(*conn)));
        assert_eq!(h.translator.stats().lost, 1);
    }

    fn connack_msg(return_code: ReturnCode) -> Message<'static> {
        Message::ConnAck(ConnAck { return_code })
    }

    #[test]
    fn will_prompts_are_retransmitted_then_given_up_sn_6_13_1() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.from(
            1,
            Message::Connect(Connect {
                will: true,
                clean_session: false,
                duration: 30,
                client_id: ClientId::new("c1").expect("valid"),
            }),
        );
        for _ in 0..3 {
            let actions = h.advance(h.translator.config().retry_interval);
            assert_eq!(types(&actions), [mqttsn_codec::MsgType::WillTopicReq]);
        }
        assert!(types(&h.advance(h.translator.config().retry_interval)).is_empty());
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
    }

    #[test]
    fn a_transparent_connection_the_broker_refuses_is_congestion_sn_6_2_4() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let actions = h.from(
            1,
            Message::Connect(Connect {
                will: false,
                clean_session: true,
                duration: 30,
                client_id: ClientId::new("c1").expect("valid"),
            }),
        );
        let [Action::Connect(conn, _)] = &actions[..] else {
            panic!("{actions:?}");
        };
        let actions = h.broker(BrokerEvent::Lost(*conn));
        let (_, datagram) = &sent(&actions)[0];
        assert_eq!(
            Message::decode(datagram),
            Ok(connack_msg(ReturnCode::Congestion))
        );
        assert_eq!(h.state("c1"), None, "a clean session is forgotten");
    }

    #[test]
    fn an_aggregating_gateway_without_broker_answers_congestion_sn_6_2_4() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.broker(BrokerEvent::Lost(ConnId::GATEWAY));
        let actions = h.from(
            1,
            Message::Connect(Connect {
                will: false,
                clean_session: true,
                duration: 30,
                client_id: ClientId::new("c1").expect("valid"),
            }),
        );
        let (_, datagram) = &sent(&actions)[0];
        assert_eq!(
            Message::decode(datagram),
            Ok(connack_msg(ReturnCode::Congestion))
        );
    }

    #[test]
    fn sleeping_client_buffers_then_wakes_and_sleeps_again_sn_6_14_8_to_11() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 30);
        h.subscribe(1, name("a/b"), SnQoS::AtLeastOnce);
        // [SN-6.14-6] DISCONNECT with a duration: acknowledged without one, asleep.
        let actions = h.from(1, Message::Disconnect(Disconnect { duration: Some(60) }));
        assert_eq!(
            Message::decode(&sent(&actions)[0].1),
            Ok(Message::Disconnect(Disconnect { duration: None }))
        );
        assert_eq!(h.state("c1"), Some(ClientState::Asleep));
        // [SN-6.14-8] Messages are buffered, not sent.
        assert!(sent(&h.message(ConnId::GATEWAY, "a/b", QoS::AtLeastOnce)).is_empty());
        assert!(sent(&h.message(ConnId::GATEWAY, "a/b", QoS::AtMostOnce)).is_empty());
        assert_eq!(h.translator.buffered("c1"), 2);
        // Not lost before the sleep duration (with tolerance) is over.
        assert!(h.advance(Duration::from_secs(80)).is_empty());
        // [SN-6.14-9] PINGREQ with the client id: awake, the QoS 1 message goes first.
        let actions = h.from(1, wake("c1"));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::Publish]);
        assert_eq!(h.state("c1"), Some(ClientState::Awake));
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
            panic!("a PUBLISH");
        };
        // [SN-6.14-10] Then the QoS 0 one, then PINGRESP: asleep again, the timer restarted.
        let actions = h.from(
            1,
            Message::PubAck(PubAck {
                topic_id: TopicId(1),
                msg_id: publish.msg_id,
                return_code: ReturnCode::Accepted,
            }),
        );
        assert_eq!(
            types(&actions),
            [
                mqttsn_codec::MsgType::Publish,
                mqttsn_codec::MsgType::PingResp
            ]
        );
        assert_eq!(h.state("c1"), Some(ClientState::Asleep));
        assert_eq!(h.translator.buffered("c1"), 0);
        // The buffer is not replayed on the next wake-up [SN-6.14-11].
        let actions = h.from(1, wake("c1"));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::PingResp]);
        assert_eq!(h.state("c1"), Some(ClientState::Asleep));
        // [SN-6.14-7] Silent past its sleep duration (60 s, and [SN-7.2-2]'s 50 %): lost.
        assert!(h.advance(Duration::from_secs(89)).is_empty());
        h.advance(Duration::from_secs(1));
        assert_eq!(h.state("c1"), Some(ClientState::Lost));
    }

    #[test]
    fn asleep_to_active_delivers_the_buffer_sn_6_14_14() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 30);
        h.subscribe(1, name("a/b"), SnQoS::AtMostOnce);
        h.from(1, Message::Disconnect(Disconnect { duration: Some(60) }));
        h.message(ConnId::GATEWAY, "a/b", QoS::AtMostOnce);
        let actions = h.from(
            1,
            Message::Connect(Connect {
                will: false,
                clean_session: false,
                duration: 30,
                client_id: ClientId::new("c1").expect("valid"),
            }),
        );
        assert_eq!(
            types(&actions),
            [
                mqttsn_codec::MsgType::ConnAck,
                mqttsn_codec::MsgType::Publish
            ]
        );
        assert_eq!(h.state("c1"), Some(ClientState::Active));
    }

    #[test]
    fn asleep_to_disconnected_and_new_sleep_durations_sn_6_14_14_15() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 30);
        h.from(1, Message::Disconnect(Disconnect { duration: Some(10) }));
        // [SN-6.14-15] A new duration while asleep replaces the old one.
        h.from(
            1,
            Message::Disconnect(Disconnect {
                duration: Some(600),
            }),
        );
        assert!(h.advance(Duration::from_secs(600)).is_empty());
        assert_eq!(h.state("c1"), Some(ClientState::Asleep));
        // [SN-6.14-14] DISCONNECT without a duration: disconnected, no timer.
        h.from(1, Message::Disconnect(Disconnect { duration: None }));
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
        h.advance(Duration::from_secs(100_000));
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
    }

    #[test]
    fn a_full_sleep_buffer_drops_and_counts() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.translator.config.max_buffered = 2;
        h.connect(1, "c1", false, 30);
        h.subscribe(1, name("a/#"), SnQoS::AtMostOnce);
        h.from(1, Message::Disconnect(Disconnect { duration: Some(60) }));
        for _ in 0..5 {
            h.message(ConnId::GATEWAY, "a/b", QoS::AtMostOnce);
        }
        assert_eq!(h.translator.buffered("c1"), 2);
        assert_eq!(h.translator.stats().dropped, 3);
    }

    #[test]
    fn wildcard_subscription_registers_before_publishing_sn_6_9_3_sn_6_10_4() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        let actions = h.subscribe(1, name("a/+"), SnQoS::AtMostOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::SubAck(suback)) = Message::decode(&datagram) else {
            panic!("SUBACK");
        };
        assert_eq!(suback.topic_id, TopicId::UNASSIGNED);
        let actions = h.message(ConnId::GATEWAY, "a/b", QoS::AtMostOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Register(register)) = Message::decode(&datagram) else {
            panic!("REGISTER first");
        };
        assert_eq!(register.topic_name.as_str(), "a/b");
        // A second message waits behind the REGACK.
        assert!(sent(&h.message(ConnId::GATEWAY, "a/b", QoS::AtMostOnce)).is_empty());
        let actions = h.from(
            1,
            Message::RegAck(RegAck {
                topic_id: register.topic_id,
                msg_id: register.msg_id,
                return_code: ReturnCode::Accepted,
            }),
        );
        assert_eq!(
            types(&actions),
            [
                mqttsn_codec::MsgType::Publish,
                mqttsn_codec::MsgType::Publish
            ]
        );
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert_eq!(publish.topic, PublishTopic::Normal(register.topic_id));
    }

    #[test]
    fn unacknowledged_publish_is_retransmitted_with_dup_then_the_client_is_lost_sn_6_13_1() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 0);
        h.subscribe(1, name("t/1"), SnQoS::ExactlyOnce);
        let actions = h.message(ConnId::GATEWAY, "t/1", QoS::ExactlyOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(first)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert!(!first.dup);
        let retry = h.translator.config().retry_interval;
        for _ in 0..3 {
            let actions = h.advance(retry);
            let datagram = sent(&actions).swap_remove(0).1;
            let Ok(Message::Publish(again)) = Message::decode(&datagram) else {
                panic!("PUBLISH again");
            };
            // [SN-5.3.4-1]
            assert!(again.dup);
            assert_eq!(again.msg_id, first.msg_id);
        }
        h.advance(retry);
        assert_eq!(h.state("c1"), Some(ClientState::Lost));
    }

    #[test]
    fn qos_2_towards_the_client_goes_through_pubrel() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        h.subscribe(1, name("t/1"), SnQoS::ExactlyOnce);
        let actions = h.message(ConnId::GATEWAY, "t/1", QoS::ExactlyOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        let actions = h.from(
            1,
            Message::PubRec(PubRec {
                msg_id: publish.msg_id,
            }),
        );
        assert_eq!(
            Message::decode(&sent(&actions)[0].1),
            Ok(Message::PubRel(mqttsn_codec::PubRel {
                msg_id: publish.msg_id
            }))
        );
        h.from(
            1,
            Message::PubComp(PubComp {
                msg_id: publish.msg_id,
            }),
        );
        // The window is free: the next message goes at once.
        assert_eq!(
            sent(&h.message(ConnId::GATEWAY, "t/1", QoS::ExactlyOnce)).len(),
            1
        );
    }

    #[test]
    fn client_qos_2_is_forwarded_once_and_answered_after_the_broker() {
        let mut h = Harness::new(GatewayKind::Transparent);
        h.connect(1, "c1", true, 30);
        let register = |h: &mut Harness| {
            h.from(
                1,
                Message::Register(Register {
                    topic_id: TopicId::UNASSIGNED,
                    msg_id: MsgId(1),
                    topic_name: TopicName::new("q/2").expect("valid"),
                }),
            )
        };
        let Ok(Message::RegAck(regack)) = Message::decode(&sent(&register(&mut h))[0].1) else {
            panic!("REGACK");
        };
        // [SN-6.5-2] Registering the same name again gives the same id.
        let Ok(Message::RegAck(again)) = Message::decode(&sent(&register(&mut h))[0].1) else {
            panic!("REGACK");
        };
        assert_eq!(again.topic_id, regack.topic_id);
        let publish = Message::Publish(Publish {
            dup: false,
            qos: SnQoS::ExactlyOnce,
            retain: false,
            topic: PublishTopic::Normal(regack.topic_id),
            msg_id: MsgId(9),
            data: b"x",
        });
        let actions = h.from(1, publish);
        let [
            Action::Publish {
                ack: Some(ack),
                topic,
                ..
            },
        ] = &actions[..]
        else {
            panic!("{actions:?}");
        };
        assert_eq!(topic, "q/2");
        // A retransmission before the broker answered is not forwarded again.
        let actions = h.from(1, publish);
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::PubRec]);
        let actions = h.broker(BrokerEvent::Done(ack.clone(), Outcome::Done(None)));
        assert_eq!(
            Message::decode(&sent(&actions)[0].1),
            Ok(Message::PubRec(PubRec { msg_id: MsgId(9) }))
        );
        let actions = h.from(
            1,
            Message::PubRel(mqttsn_codec::PubRel { msg_id: MsgId(9) }),
        );
        assert_eq!(
            Message::decode(&sent(&actions)[0].1),
            Ok(Message::PubComp(PubComp { msg_id: MsgId(9) }))
        );
    }

    #[test]
    fn unknown_topic_ids_are_refused_whatever_the_qos_sn_6_6_3_sn_6_7_3() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        for topic in [
            PublishTopic::Normal(TopicId(42)),
            PublishTopic::Predefined(TopicId(42)),
        ] {
            let actions = h.from(
                1,
                Message::Publish(Publish {
                    dup: false,
                    qos: SnQoS::AtMostOnce,
                    retain: false,
                    topic,
                    msg_id: MsgId::NONE,
                    data: b"x",
                }),
            );
            let datagram = sent(&actions).swap_remove(0).1;
            let Ok(Message::PubAck(puback)) = Message::decode(&datagram) else {
                panic!("PUBACK");
            };
            assert_eq!(puback.return_code, ReturnCode::InvalidTopicId);
            assert_eq!(puback.topic_id, TopicId(42));
        }
        let actions = h.subscribe(
            1,
            SubscribeTopic::Predefined(TopicId(42)),
            SnQoS::AtMostOnce,
        );
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::SubAck(suback)) = Message::decode(&datagram) else {
            panic!("SUBACK");
        };
        assert_eq!(suback.return_code, ReturnCode::InvalidTopicId);
    }

    #[test]
    fn predefined_and_short_topics_both_ways_sn_6_7_2_sn_6_7_6() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        // A per-client predefined id.
        let actions = h.subscribe(1, SubscribeTopic::Predefined(TopicId(8)), SnQoS::AtMostOnce);
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Subscribe { filter, .. } if filter == "pre/c1/eight"))
        );
        let short = ShortTopicName::new("ab").expect("valid");
        h.subscribe(1, SubscribeTopic::Short(short), SnQoS::AtMostOnce);
        let actions = h.message(ConnId::GATEWAY, "pre/c1/eight", QoS::AtMostOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert_eq!(publish.topic, PublishTopic::Predefined(TopicId(8)));
        let actions = h.message(ConnId::GATEWAY, "ab", QoS::AtMostOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert_eq!(publish.topic, PublishTopic::Short(short));
    }

    #[test]
    fn qos_minus_one_from_a_stranger_sn_6_8_1() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let publish = |topic| {
            Message::Publish(Publish {
                dup: false,
                qos: SnQoS::MinusOne,
                retain: false,
                topic,
                msg_id: MsgId::NONE,
                data: b"m1",
            })
        };
        let actions = h.from(9, publish(PublishTopic::Predefined(TopicId(7))));
        assert_eq!(
            actions,
            [Action::Publish {
                conn: ConnId::GATEWAY,
                topic: "pre/seven".into(),
                payload: b"m1".to_vec(),
                qos: QoS::AtMostOnce,
                retain: false,
                ack: None
            }]
        );
        // A per-client id is not known to a client that never connected.
        let actions = h.from(9, publish(PublishTopic::Predefined(TopicId(8))));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::PubAck]);
        let short = ShortTopicName::new("zz").expect("valid");
        let actions = h.from(9, publish(PublishTopic::Short(short)));
        assert!(matches!(&actions[..], [Action::Publish { topic, .. }] if topic == "zz"));
    }

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

    #[test]
    fn aggregating_subscriptions_are_shared_and_counted_sn_4_2_1() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        h.connect(2, "c2", true, 30);
        let broker_subscribes = |actions: &[Action]| {
            actions
                .iter()
                .filter(|a| matches!(a, Action::Subscribe { .. }))
                .count()
        };
        assert_eq!(
            broker_subscribes(&h.subscribe(1, name("s/#"), SnQoS::AtLeastOnce)),
            1
        );
        assert_eq!(
            broker_subscribes(&h.subscribe(2, name("s/#"), SnQoS::AtMostOnce)),
            0
        );
        // One message reaches both, each at its own QoS.
        let actions = h.message(ConnId::GATEWAY, "s/x", QoS::ExactlyOnce);
        assert_eq!(sent(&actions).len(), 2, "a REGISTER to each");
        let unsubscribe = |h: &mut Harness, n| {
            h.from(
                n,
                Message::Unsubscribe(Unsubscribe {
                    msg_id: MsgId(5),
                    topic: name("s/#"),
                }),
            )
        };
        let actions = unsubscribe(&mut h, 1);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::Unsubscribe { .. }))
        );
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::UnsubAck]);
        let actions = unsubscribe(&mut h, 2);
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Unsubscribe { filter, .. } if filter == "s/#"))
        );
    }

    #[test]
    fn broker_loss_tells_the_clients_aggregating() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 30);
        h.connect(2, "c2", false, 30);
        let actions = h.broker(BrokerEvent::Lost(ConnId::GATEWAY));
        assert_eq!(
            types(&actions),
            [
                mqttsn_codec::MsgType::Disconnect,
                mqttsn_codec::MsgType::Disconnect
            ]
        );
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
        assert_eq!(h.state("c2"), Some(ClientState::Disconnected));
    }

    #[test]
    fn broker_loss_tells_the_client_transparent() {
        let mut h = Harness::new(GatewayKind::Transparent);
        h.connect(1, "c1", false, 30);
        let conn = h
            .translator
            .sessions
            .get("c1")
            .and_then(|s| s.conn)
            .expect("a connection");
        let actions = h.broker(BrokerEvent::Lost(conn));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::Disconnect]);
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
        // Late events from that connection are ignored.
        assert!(h.message(conn, "t", QoS::AtMostOnce).is_empty());
    }

    #[test]
    fn will_updates_sn_6_4_1_to_4() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 10);
        let actions = h.from(
            1,
            Message::WillTopicUpd(WillTopic::Set {
                qos: SnQoS::AtMostOnce,
                retain: false,
                topic: TopicName::new("w/t").expect("valid"),
            }),
        );
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::WillTopicResp]);
        let actions = h.from(1, Message::WillMsgUpd(WillMsg { message: b"bye" }));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::WillMsgResp]);
        let actions = h.advance(Duration::from_secs(15));
        assert!(actions.iter().any(|a| matches!(a, Action::Publish { topic, payload, .. } if topic == "w/t" && payload == b"bye")));

        // An empty WILLTOPICUPD deletes the will: nothing is published when lost.
        h.connect(1, "c1", false, 10);
        h.from(1, Message::WillTopicUpd(WillTopic::Delete));
        let actions = h.advance(Duration::from_secs(15));
        assert_eq!(h.state("c1"), Some(ClientState::Lost));
        assert!(!actions.iter().any(|a| matches!(a, Action::Publish { .. })));
    }

    #[test]
    fn discovery_gwinfo_and_advertise_sn_6_1_1_sn_6_1_12() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let actions = h.from(1, Message::SearchGw(mqttsn_codec::SearchGw { radius: 0 }));
        assert_eq!(
            Message::decode(&sent(&actions)[0].1),
            Ok(Message::GwInfo(GwInfo {
                gw_id: 1,
                gw_add: None
            }))
        );
        let interval = h.translator.config().advertise_interval;
        assert_eq!(h.translator.next_deadline(), Some(h.now + interval));
        let actions = h.advance(interval);
        let (to, datagram) = &sent(&actions)[0];
        assert_eq!(*to, node(999));
        assert_eq!(
            Message::decode(datagram),
            Ok(Message::Advertise(Advertise {
                gw_id: 1,
                duration: 900
            }))
        );
        // [SN-6.1-2] Not while the broker is away.
        h.broker(BrokerEvent::Lost(ConnId::GATEWAY));
        assert!(h.advance(interval).is_empty());
    }

    #[test]
    fn keep_alive_pings_keep_the_client_sn_6_11_1() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 10);
        for _ in 0..5 {
            assert!(h.advance(Duration::from_secs(10)).is_empty());
            let actions = h.from(1, Message::PingReq(PingReq { client_id: None }));
            assert_eq!(types(&actions), [mqttsn_codec::MsgType::PingResp]);
        }
        assert_eq!(h.state("c1"), Some(ClientState::Active));
    }
}

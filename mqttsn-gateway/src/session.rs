//! `Session`: what the gateway keeps for one MQTT-SN client, and the path of messages from the
//! broker to that client.
//!
//! A session holds the client's state of Figure 4 ([`ClientState`], §6.14), its will (§6.3, §6.4),
//! its registered topic ids (§6.5), its subscriptions (§6.9), and the messages waiting for it. The
//! gateway sends a client one message that needs an answer at a time (a REGISTER, a QoS 1 or 2
//! PUBLISH, a PUBREL), guards it with T_retry and N_retry (§6.13), and sends the next when the answer
//! comes. The same queue is the sleeping client's buffer (§6.14): while the client is asleep nothing
//! is sent, and when it wakes the queue drains, then PINGRESP closes the delivery.
//!
//! This file does not decide what a received message means (`translator/` does), and has no
//! socket and no clock: the time is passed in.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use mqtt_client::QoS;
use mqttsn_codec::{
    Message, MsgId, PubRel, Publish, PublishTopic, QoS as SnQoS, Register, ShortTopicName, TopicId,
    TopicName,
};

use crate::action::{ConnId, Peer};
use crate::topics::{PredefinedTopics, Registry};

/// The state of a client as the gateway sees it (§6.14, Figure 4), named after what the gateway
/// waits for next. The first three are the steps of the connection set-up (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// CONNECT asked for a will: waiting for WILLTOPIC [SN-6.2-2].
    AwaitingWillTopic,
    /// Waiting for WILLMSG [SN-6.2-2].
    AwaitingWillMsg,
    /// Waiting for the broker to accept the client's MQTT connection (transparent gateway).
    AwaitingBroker,
    /// Connected; supervised by the keep-alive timer [SN-6.14-3].
    Active,
    /// Sleeping; messages for it are buffered, supervised by the sleep timer [SN-6.14-6].
    Asleep,
    /// Woken by PINGREQ with its ClientId: receiving its buffered messages [SN-6.14-9].
    Awake,
    /// Disconnected by its own DISCONNECT, or told it is; no timer [SN-6.14-5].
    Disconnected,
    /// Silent past its keep-alive or sleep duration, or deaf to retransmissions; its will was
    /// published [SN-6.14-4].
    Lost,
}

impl ClientState {
    /// Whether the client has completed CONNECT and not disconnected or been lost since.
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Active | Self::Asleep | Self::Awake)
    }
}

impl fmt::Display for ClientState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AwaitingWillTopic => "awaiting WILLTOPIC",
            Self::AwaitingWillMsg => "awaiting WILLMSG",
            Self::AwaitingBroker => "awaiting the broker",
            Self::Active => "active",
            Self::Asleep => "asleep",
            Self::Awake => "awake",
            Self::Disconnected => "disconnected",
            Self::Lost => "lost",
        })
    }
}

/// How a subscription was made: it decides the kind of topic id the gateway publishes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscriptionKind {
    /// By topic name or filter (TopicIdType 0b00).
    Name,
    /// By predefined id [SN-6.9-4].
    Predefined(TopicId),
    /// By short topic name [SN-6.9-4].
    Short(ShortTopicName),
}

/// One subscription of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) filter: String,
    pub(crate) qos: QoS,
    pub(crate) kind: SubscriptionKind,
    /// Where it stands with the retained messages its SUBSCRIBE brings (aggregating only).
    pub(crate) retained: Retained,
}

/// An aggregating gateway's subscription and the retained messages of its filter.
///
/// The broker sends a subscription's retained messages right behind its SUBACK, with the retain
/// flag set, and sets that flag on nothing else [MQTT-3.3.1-8] [MQTT-3.3.1-9]. The gateway
/// subscribes upstream for every node's SUBSCRIBE, even to a filter it already holds, so that
/// each new subscriber gets them; a message with the retain flag is then the answer to one such
/// SUBSCRIBE, and goes only to the subscriptions that asked for it (`Fresh`), not to every node
/// whose older subscription matches (see `docs/mqtt-sn-ambiguities.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retained {
    /// The upstream SUBSCRIBE is not answered yet.
    Pending,
    /// Answered: the retained messages that follow the SUBACK are this subscription's.
    Fresh,
    /// A later SUBACK came, so every retained message of this one has arrived.
    Settled,
}

/// A message from the broker on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub(crate) topic: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
}

/// The one gateway-originated message awaiting the client's answer.
#[derive(Debug, Clone)]
struct InFlight {
    stage: Stage,
    /// When it was last sent, for T_retry.
    sent_at: Instant,
    /// How many times it has been sent again, against N_retry.
    retries: u32,
}

#[derive(Debug, Clone)]
enum Stage {
    /// REGISTER sent before the first PUBLISH on a topic [SN-6.10-2]; the PUBLISH waits for the
    /// REGACK [SN-6.10-4].
    Register {
        msg_id: MsgId,
        topic_id: TopicId,
        delivery: Delivery,
        /// The MsgId of a PUBLISH already sent with this id that the client could not map: once
        /// the REGACK comes it is sent again under the same MsgId, with DUP set, rather than as a
        /// new message.
        resend: Option<MsgId>,
    },
    /// A QoS 1 or 2 PUBLISH awaiting PUBACK or PUBREC.
    Publish {
        msg_id: MsgId,
        topic: PublishTopic,
        delivery: Delivery,
        /// Whether its topic was registered again after the client said it did not know the id;
        /// a second such answer drops the message rather than loop.
        registered_again: bool,
    },
    /// PUBREL awaiting PUBCOMP.
    PubRel { msg_id: MsgId },
}

/// What the gateway keeps for one client.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) client_id: String,
    /// Where the client is now; it may move (a sleeping node waking on another address).
    pub(crate) peer: Peer,
    pub(crate) state: ClientState,
    /// The client's own MQTT connection, in a transparent gateway, while it is open.
    pub(crate) conn: Option<ConnId>,
    pub(crate) clean_session: bool,
    /// The keep-alive of its CONNECT; zero means none.
    pub(crate) keep_alive: Duration,
    /// The sleep duration of its last DISCONNECT.
    pub(crate) sleep: Duration,
    /// When the client was last heard from; when the state's timer started.
    pub(crate) last_heard: Instant,
    /// When the client was disconnected or lost, for the expiry of a kept session; `None` while it
    /// is connected or connecting.
    pub(crate) away_since: Option<Instant>,
    /// Retransmissions of WILLTOPICREQ or WILLMSGREQ during the connection set-up.
    pub(crate) prompt_retries: u32,
    /// The will topic, its QoS and retain flag, and the will message [SN-6.3-1].
    pub(crate) will: Option<(String, QoS, bool)>,
    pub(crate) will_message: Vec<u8>,
    pub(crate) registry: Registry,
    pub(crate) subscriptions: Vec<Subscription>,
    /// Messages waiting to be sent: the sleeping client's buffer [SN-6.14-8].
    pub(crate) queue: VecDeque<Delivery>,
    /// Messages dropped because the queue was full.
    pub(crate) dropped: u64,
    inflight: Option<InFlight>,
    next_msg_id: u16,
    /// MsgIds of the client's QoS 2 PUBLISHes already forwarded, until their PUBREL: a
    /// retransmitted PUBLISH is answered again but not forwarded twice.
    pub(crate) qos2_received: HashSet<u16>,
}

/// What the delivery path needs from the gateway's configuration.
pub(crate) struct Limits<'a> {
    pub(crate) retry_interval: Duration,
    pub(crate) retry_count: u32,
    pub(crate) predefined: &'a PredefinedTopics,
    /// How long a kept session outlives its client's disconnection or loss; `None`: forever.
    pub(crate) session_expiry: Option<Duration>,
}

/// What a tick found for one session.
pub(crate) enum Expiry {
    /// Nothing due.
    None,
    /// Its keep-alive or sleep timer ran out, or it ignored N_retry retransmissions.
    Lost,
    /// The will dialogue went unanswered.
    GaveUp,
    /// A kept session whose client has been away longer than the session expiry.
    Expired,
}

impl Session {
    pub(crate) fn new(client_id: &str, peer: Peer, now: Instant) -> Self {
        Self {
            client_id: client_id.to_string(),
            peer,
            state: ClientState::Disconnected,
            conn: None,
            clean_session: true,
            keep_alive: Duration::ZERO,
            sleep: Duration::ZERO,
            last_heard: now,
            away_since: None,
            prompt_retries: 0,
            will: None,
            will_message: Vec::new(),
            registry: Registry::default(),
            subscriptions: Vec::new(),
            queue: VecDeque::new(),
            dropped: 0,
            inflight: None,
            next_msg_id: 0,
            qos2_received: HashSet::new(),
        }
    }

    /// Forgets everything a clean session discards: subscriptions, topic ids, will, messages
    /// [SN-6.3-2] [SN-6.3-3].
    pub(crate) fn clear(&mut self) {
        self.will = None;
        self.will_message.clear();
        self.registry.clear();
        self.subscriptions.clear();
        self.queue.clear();
        self.inflight = None;
        self.qos2_received.clear();
    }

    /// Whether a broker message delivered at `qos` is kept for this client. While it is connected
    /// or connecting, every message is (a sleeping client's buffer [SN-6.14-8], or the queue that
    /// drains once CONNACK is sent). While it is disconnected or lost, only a kept session
    /// (clean session 0) takes messages, and only QoS 1 and 2 ones, as an MQTT server does for a
    /// persistent session [MQTT-3.1.2-5] [SN-6.12-2]; they are delivered when it connects again.
    pub(crate) fn takes(&self, qos: QoS) -> bool {
        match self.state {
            ClientState::Disconnected | ClientState::Lost => {
                !self.clean_session && qos != QoS::AtMostOnce
            }
            _ => true,
        }
    }

    /// The QoS at which a message on `topic` published at `qos` reaches this client, if any of its
    /// subscriptions match: the lower of the message's and the highest matching subscription's.
    pub(crate) fn matching_qos(&self, topic: &str, qos: QoS) -> Option<QoS> {
        self.matching(topic)
            .map(|s| s.qos)
            .max()
            .map(|granted| granted.min(qos))
    }

    /// Whether one of the subscriptions matching `topic` is owed the retained messages that
    /// follow its SUBACK (aggregating, see [`Retained`]).
    pub(crate) fn wants_retained(&self, topic: &str) -> bool {
        self.matching(topic).any(|s| s.retained == Retained::Fresh)
    }

    /// The subscriptions that match `topic` (none if it is not a valid topic name).
    fn matching<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a Subscription> + 'a {
        let name = mqtt_codec::TopicName::new(topic).ok();
        self.subscriptions.iter().filter(move |s| {
            name.is_some_and(|name| {
                mqtt_codec::TopicFilter::new(&s.filter).is_ok_and(|filter| filter.matches(name))
            })
        })
    }

    /// Adds a delivery to the queue; `false` (and counted) when the queue already holds `max`.
    pub(crate) fn enqueue(&mut self, delivery: Delivery, max: usize) -> bool {
        if self.queue.len() >= max {
            self.dropped += 1;
            return false;
        }
        self.queue.push_back(delivery);
        true
    }

    /// When this session next needs a tick.
    pub(crate) fn deadline(&self, limits: &Limits<'_>) -> Option<Instant> {
        let timer = match self.state {
            ClientState::AwaitingWillTopic | ClientState::AwaitingWillMsg => {
                Some(self.last_heard + limits.retry_interval)
            }
            ClientState::Active if !self.keep_alive.is_zero() => {
                Some(self.last_heard + tolerance(self.keep_alive))
            }
            ClientState::Asleep => Some(self.last_heard + tolerance(self.sleep)),
            ClientState::Disconnected | ClientState::Lost => self.expires_at(limits),
            _ => None,
        };
        let retry = match (&self.inflight, self.state) {
            (Some(inflight), ClientState::Active | ClientState::Awake) => {
                Some(inflight.sent_at + limits.retry_interval)
            }
            _ => None,
        };
        [timer, retry].into_iter().flatten().min()
    }

    /// When a kept session of a client that is away ends. The specification keeps a session until
    /// a clean CONNECT [SN-6.3-1]; a gateway that did so would keep the sessions, subscriptions
    /// and buffers of nodes that are never coming back, so the expiry is configurable
    /// (`SessionExpiry`, see `docs/mqtt-sn-ambiguities.md`).
    fn expires_at(&self, limits: &Limits<'_>) -> Option<Instant> {
        Some(self.away_since? + limits.session_expiry?)
    }

    /// Checks the timers at `now`, re-sending what is due into `out`.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        limits: &Limits<'_>,
        out: &mut Vec<Vec<u8>>,
    ) -> Expiry {
        match self.state {
            ClientState::AwaitingWillTopic | ClientState::AwaitingWillMsg => {
                if now < self.last_heard + limits.retry_interval {
                    return Expiry::None;
                }
                // [SN-6.13-1] WILLTOPICREQ and WILLMSGREQ expect an answer: they are sent again.
                if self.prompt_retries >= limits.retry_count {
                    return Expiry::GaveUp;
                }
                self.prompt_retries += 1;
                self.last_heard = now;
                let prompt = if self.state == ClientState::AwaitingWillTopic {
                    Message::WillTopicReq
                } else {
                    Message::WillMsgReq
                };
                out.extend(encode(&prompt));
                return Expiry::None;
            }
            // [SN-6.14-4] Silent past the keep-alive, with the tolerance of [SN-7.2-2].
            ClientState::Active
                if !self.keep_alive.is_zero()
                    && now >= self.last_heard + tolerance(self.keep_alive) =>
            {
                return Expiry::Lost;
            }
            // [SN-6.14-7] Silent past the sleep duration.
            ClientState::Asleep if now >= self.last_heard + tolerance(self.sleep) => {
                return Expiry::Lost;
            }
            ClientState::Disconnected | ClientState::Lost => {
                return match self.expires_at(limits) {
                    Some(at) if now >= at => Expiry::Expired,
                    _ => Expiry::None,
                };
            }
            _ => {}
        }
        if !matches!(self.state, ClientState::Active | ClientState::Awake) {
            return Expiry::None;
        }
        let Some(inflight) = &mut self.inflight else {
            return Expiry::None;
        };
        if now < inflight.sent_at + limits.retry_interval {
            return Expiry::None;
        }
        // [SN-6.13-1] After N_retry retransmissions the client is given up.
        if inflight.retries >= limits.retry_count {
            return Expiry::Lost;
        }
        inflight.retries += 1;
        inflight.sent_at = now;
        out.extend(encode_stage(&inflight.stage, true));
        Expiry::None
    }

    /// Sends what can be sent now: every QoS 0 message, up to the first one that needs an answer.
    /// An awake client whose queue is empty gets PINGRESP and is asleep again [SN-6.14-10]
    /// [SN-6.14-11]; the returned flag says so.
    pub(crate) fn pump(
        &mut self,
        now: Instant,
        limits: &Limits<'_>,
        out: &mut Vec<Vec<u8>>,
    ) -> bool {
        if !matches!(self.state, ClientState::Active | ClientState::Awake) {
            return false;
        }
        while self.inflight.is_none() {
            let Some(delivery) = self.queue.pop_front() else {
                break;
            };
            match self.topic_for(&delivery.topic, limits.predefined) {
                Some(topic) => self.send_publish(topic, delivery, now, out),
                None => {
                    // [SN-6.10-2] A topic the client has no id for (from a wildcard subscription):
                    // REGISTER first, and the PUBLISH waits for the REGACK [SN-6.10-4].
                    let Some(topic_id) = self.registry.assign(&delivery.topic) else {
                        log::warn!(
                            "{}: no topic id left for {}",
                            self.client_id,
                            delivery.topic
                        );
                        continue;
                    };
                    let stage = Stage::Register {
                        msg_id: self.next_msg_id(),
                        topic_id,
                        delivery,
                        resend: None,
                    };
                    out.extend(encode_stage(&stage, false));
                    self.inflight = Some(InFlight {
                        stage,
                        sent_at: now,
                        retries: 0,
                    });
                }
            }
        }
        if self.state == ClientState::Awake && self.inflight.is_none() && self.queue.is_empty() {
            out.extend(encode(&Message::PingResp));
            self.state = ClientState::Asleep;
            self.last_heard = now;
            return true;
        }
        false
    }

    /// The client connected again to its kept session. It may have restarted and lost the topic
    /// ids it was given, so none is assumed known: each is registered again before it is
    /// published with [SN-6.10-2], the PUBLISH in flight included (its REGISTER goes first, and
    /// the PUBLISH follows under its MsgId with DUP set). Predefined ids and short names need no
    /// registration.
    pub(crate) fn rejoin(&mut self) {
        self.registry.untell_all();
        self.register_inflight_again();
    }

    /// Turns a PUBLISH in flight under a normal topic id back into a REGISTER of that id, to be
    /// followed by the same PUBLISH; `false` if nothing in flight is such a PUBLISH.
    fn register_inflight_again(&mut self) -> bool {
        let Some(InFlight {
            stage:
                Stage::Publish {
                    topic: PublishTopic::Normal(topic_id),
                    msg_id,
                    ..
                },
            ..
        }) = &self.inflight
        else {
            return false;
        };
        let (topic_id, resend) = (*topic_id, *msg_id);
        let Some(InFlight {
            stage: Stage::Publish { delivery, .. },
            sent_at,
            ..
        }) = self.inflight.take()
        else {
            return false;
        };
        self.registry.untell(topic_id);
        self.inflight = Some(InFlight {
            stage: Stage::Register {
                msg_id: self.next_msg_id(),
                topic_id,
                delivery,
                resend: Some(resend),
            },
            sent_at,
            retries: 0,
        });
        true
    }

    /// Sends the message in flight again at once: for a client that wakes with one outstanding.
    pub(crate) fn resend_inflight(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        if let Some(inflight) = &mut self.inflight {
            inflight.sent_at = now;
            out.extend(encode_stage(&inflight.stage, true));
        }
    }

    /// The client's REGACK for the gateway's REGISTER.
    pub(crate) fn on_regack(
        &mut self,
        msg_id: MsgId,
        accepted: bool,
        now: Instant,
        out: &mut Vec<Vec<u8>>,
    ) {
        let Some(InFlight {
            stage:
                Stage::Register {
                    msg_id: expected,
                    topic_id,
                    ..
                },
            ..
        }) = &self.inflight
        else {
            return;
        };
        if *expected != msg_id {
            return;
        }
        let topic_id = *topic_id;
        let Some(InFlight {
            stage: Stage::Register {
                delivery, resend, ..
            },
            ..
        }) = self.inflight.take()
        else {
            return;
        };
        if accepted {
            // [SN-6.10-4] The client knows the id now; the PUBLISH follows.
            self.registry.tell(topic_id);
            match resend {
                Some(msg_id) => {
                    let stage = Stage::Publish {
                        msg_id,
                        topic: PublishTopic::Normal(topic_id),
                        delivery,
                        registered_again: true,
                    };
                    out.extend(encode_stage(&stage, true));
                    self.inflight = Some(InFlight {
                        stage,
                        sent_at: now,
                        retries: 0,
                    });
                }
                None => self.send_publish(PublishTopic::Normal(topic_id), delivery, now, out),
            }
        } else {
            // [SN-6.10-5] A rejected REGISTER means the client does not want the topic: the id is
            // forgotten, the message dropped, and a subscription to exactly that name removed.
            self.registry.remove(topic_id);
            self.subscriptions
                .retain(|s| !(s.kind == SubscriptionKind::Name && s.filter == delivery.topic));
            log::info!(
                "{}: REGISTER of {} rejected, message dropped",
                self.client_id,
                delivery.topic
            );
        }
    }

    /// The client's PUBACK; `invalid_topic` when it says it does not know the topic id.
    ///
    /// [SN-6.10-7] The gateway corrects the id: the client is told it again with REGISTER before
    /// the next PUBLISH with it, and the message it refused is not lost but sent again after the
    /// REGACK [SN-6.10-2]. A client that refuses the same message a second time after accepting
    /// the REGISTER is not going to take it: it is dropped then, and logged.
    pub(crate) fn on_puback(
        &mut self,
        msg_id: MsgId,
        topic_id: TopicId,
        invalid_topic: bool,
        now: Instant,
        out: &mut Vec<Vec<u8>>,
    ) {
        if invalid_topic {
            self.registry.untell(topic_id);
        }
        let (matches, again) = match &self.inflight {
            Some(InFlight {
                stage:
                    Stage::Publish {
                        msg_id: expected,
                        registered_again,
                        ..
                    },
                ..
            }) => (*expected == msg_id, *registered_again),
            _ => (false, false),
        };
        if !matches {
            return;
        }
        if invalid_topic && !again && self.register_inflight_again() {
            if let Some(inflight) = &mut self.inflight {
                inflight.sent_at = now;
                out.extend(encode_stage(&inflight.stage, false));
            }
            return;
        }
        if invalid_topic {
            log::warn!(
                "{}: topic id {} refused again after REGISTER, message dropped",
                self.client_id,
                topic_id.0
            );
        }
        self.inflight = None;
    }

    /// The client's PUBREC: the PUBLISH becomes a PUBREL, sent at once.
    pub(crate) fn on_pubrec(&mut self, msg_id: MsgId, now: Instant, out: &mut Vec<Vec<u8>>) {
        let matches = match &self.inflight {
            Some(InFlight {
                stage: Stage::Publish {
                    msg_id: expected, ..
                },
                ..
            })
            | Some(InFlight {
                stage: Stage::PubRel { msg_id: expected },
                ..
            }) => *expected == msg_id,
            _ => false,
        };
        if matches {
            let stage = Stage::PubRel { msg_id };
            out.extend(encode_stage(&stage, false));
            self.inflight = Some(InFlight {
                stage,
                sent_at: now,
                retries: 0,
            });
        }
    }

    /// The client's PUBCOMP.
    pub(crate) fn on_pubcomp(&mut self, msg_id: MsgId) {
        if let Some(InFlight {
            stage: Stage::PubRel { msg_id: expected },
            ..
        }) = &self.inflight
            && *expected == msg_id
        {
            self.inflight = None;
        }
    }

    /// The topic id to publish `topic` with, if the client already knows one (§6.7, §6.10).
    fn topic_for(&self, topic: &str, predefined: &PredefinedTopics) -> Option<PublishTopic> {
        // A subscription to exactly this topic by short name or predefined id says which form the
        // client expects.
        for subscription in &self.subscriptions {
            if subscription.filter == topic {
                match subscription.kind {
                    SubscriptionKind::Short(short) => return Some(PublishTopic::Short(short)),
                    SubscriptionKind::Predefined(id) => return Some(PublishTopic::Predefined(id)),
                    SubscriptionKind::Name => {}
                }
            }
        }
        if let Some(id) = self.registry.told_id(topic) {
            return Some(PublishTopic::Normal(id));
        }
        predefined
            .id(&self.client_id, topic)
            .map(|id| PublishTopic::Predefined(TopicId(id)))
    }

    fn send_publish(
        &mut self,
        topic: PublishTopic,
        delivery: Delivery,
        now: Instant,
        out: &mut Vec<Vec<u8>>,
    ) {
        let msg_id = match delivery.qos {
            QoS::AtMostOnce => MsgId::NONE,
            _ => self.next_msg_id(),
        };
        let stage = Stage::Publish {
            msg_id,
            topic,
            delivery,
            registered_again: false,
        };
        let encoded = encode_stage(&stage, false);
        if encoded.is_none() {
            // [SN-6.10-8] Too long for a PUBLISH: the delivery is silently abandoned.
            log::warn!("{}: message too long for MQTT-SN, dropped", self.client_id);
            return;
        }
        out.extend(encoded);
        if let Stage::Publish { delivery, .. } = &stage
            && delivery.qos != QoS::AtMostOnce
        {
            self.inflight = Some(InFlight {
                stage,
                sent_at: now,
                retries: 0,
            });
        }
    }

    fn next_msg_id(&mut self) -> MsgId {
        // [SN-5.3.7-1] Never 0x0000, which means "no id".
        self.next_msg_id = self.next_msg_id.checked_add(1).unwrap_or(1);
        MsgId(self.next_msg_id)
    }
}

/// The gateway's tolerance on keep-alive and sleep timers [SN-7.2-2]: +50 % up to a minute, +10 %
/// above.
pub(crate) fn tolerance(duration: Duration) -> Duration {
    if duration > Duration::from_secs(60) {
        duration + duration / 10
    } else {
        duration + duration / 2
    }
}

/// The MQTT-SN QoS for an MQTT QoS.
pub(crate) fn sn_qos(qos: QoS) -> SnQoS {
    match qos {
        QoS::AtMostOnce => SnQoS::AtMostOnce,
        QoS::AtLeastOnce => SnQoS::AtLeastOnce,
        QoS::ExactlyOnce => SnQoS::ExactlyOnce,
    }
}

/// The MQTT QoS for an MQTT-SN QoS; -1 travels as 0 [SN-7.1-1].
pub(crate) fn mqtt_qos(qos: SnQoS) -> QoS {
    match qos {
        SnQoS::AtMostOnce | SnQoS::MinusOne => QoS::AtMostOnce,
        SnQoS::AtLeastOnce => QoS::AtLeastOnce,
        SnQoS::ExactlyOnce => QoS::ExactlyOnce,
    }
}

/// Encodes one message; `None` (and logged) when it cannot be, which only a topic or payload too
/// long for MQTT-SN causes [SN-6.10-8].
pub(crate) fn encode(message: &Message<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(message.encoded_len());
    match message.encode(&mut out) {
        Ok(_) => Some(out),
        Err(error) => {
            log::warn!("cannot encode {:?}: {error}", message.msg_type());
            None
        }
    }
}

fn encode_stage(stage: &Stage, dup: bool) -> Option<Vec<u8>> {
    match stage {
        Stage::Register {
            msg_id,
            topic_id,
            delivery,
            ..
        } => {
            let topic_name = TopicName::new(&delivery.topic).ok()?;
            encode(&Message::Register(Register {
                topic_id: *topic_id,
                msg_id: *msg_id,
                topic_name,
            }))
        }
        Stage::Publish {
            msg_id,
            topic,
            delivery,
            ..
        } => encode(&Message::Publish(Publish {
            // [SN-5.3.4-1] DUP marks a retransmission.
            dup: dup && delivery.qos != QoS::AtMostOnce,
            qos: sn_qos(delivery.qos),
            retain: delivery.retain,
            topic: *topic,
            msg_id: *msg_id,
            data: &delivery.payload,
        })),
        Stage::PubRel { msg_id } => encode(&Message::PubRel(PubRel { msg_id: *msg_id })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_is_half_up_to_a_minute_and_a_tenth_above_sn_7_2_2() {
        assert_eq!(tolerance(Duration::from_secs(10)), Duration::from_secs(15));
        assert_eq!(tolerance(Duration::from_secs(60)), Duration::from_secs(90));
        assert_eq!(
            tolerance(Duration::from_secs(600)),
            Duration::from_secs(660)
        );
    }

    #[test]
    fn msg_ids_skip_zero_sn_5_3_7_1() {
        let mut session = Session::new(
            "c",
            Peer::direct(([127, 0, 0, 1], 1).into()),
            Instant::now(),
        );
        session.next_msg_id = u16::MAX - 1;
        assert_eq!(session.next_msg_id(), MsgId(u16::MAX));
        assert_eq!(session.next_msg_id(), MsgId(1));
    }

    #[test]
    fn the_highest_matching_subscription_caps_the_qos() {
        let mut session = Session::new(
            "c",
            Peer::direct(([127, 0, 0, 1], 1).into()),
            Instant::now(),
        );
        session.subscriptions.push(Subscription {
            filter: "a/+".into(),
            qos: QoS::AtLeastOnce,
            kind: SubscriptionKind::Name,
            retained: Retained::Settled,
        });
        session.subscriptions.push(Subscription {
            filter: "a/#".into(),
            qos: QoS::AtMostOnce,
            kind: SubscriptionKind::Name,
            retained: Retained::Settled,
        });
        assert_eq!(
            session.matching_qos("a/b", QoS::ExactlyOnce),
            Some(QoS::AtLeastOnce)
        );
        assert_eq!(
            session.matching_qos("a", QoS::ExactlyOnce),
            Some(QoS::AtMostOnce)
        );
        assert_eq!(session.matching_qos("b", QoS::ExactlyOnce), None);
    }

    #[test]
    fn a_full_buffer_drops_and_counts() {
        let mut session = Session::new(
            "c",
            Peer::direct(([127, 0, 0, 1], 1).into()),
            Instant::now(),
        );
        let delivery = Delivery {
            topic: "t".into(),
            payload: vec![],
            qos: QoS::AtMostOnce,
            retain: false,
        };
        assert!(session.enqueue(delivery.clone(), 1));
        assert!(!session.enqueue(delivery, 1));
        assert_eq!(session.dropped, 1);
    }
}

//! The test harness of the translator's unit tests: a translator driven by hand, datagrams in,
//! actions out, time passed in. Every timer test moves its fake clock; nothing sleeps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mqtt_client::QoS;
use mqttsn_codec::{
    ClientId, ConnAck, Connect, Message, MsgId, PingReq, QoS as SnQoS, ReturnCode, Subscribe,
    SubscribeTopic, TopicFilter,
};

use super::Translator;
use crate::action::{Action, BrokerEvent, ConnId, Outcome};
use crate::config::{Config, GatewayKind};
use crate::session::{ClientState, encode};

pub(crate) const SECOND: Duration = Duration::from_secs(1);

pub(crate) struct Harness {
    pub(crate) translator: Translator,
    pub(crate) now: Instant,
}

pub(crate) fn node(n: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5000 + n))
}

pub(crate) fn bytes(message: Message<'_>) -> Vec<u8> {
    encode(&message).expect("encodable")
}

/// The datagrams sent, in order, with their destinations.
pub(crate) fn sent(actions: &[Action]) -> Vec<(SocketAddr, Vec<u8>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, datagram } => Some((*to, datagram.clone())),
            _ => None,
        })
        .collect()
}

/// The message types sent, in order.
pub(crate) fn types(actions: &[Action]) -> Vec<mqttsn_codec::MsgType> {
    sent(actions)
        .iter()
        .map(|(_, d)| Message::decode(d).expect("valid").msg_type())
        .collect()
}

impl Harness {
    pub(crate) fn new(kind: GatewayKind) -> Self {
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

    pub(crate) fn from(&mut self, n: u16, message: Message<'_>) -> Vec<Action> {
        self.translator.datagram(self.now, node(n), &bytes(message))
    }

    pub(crate) fn broker(&mut self, event: BrokerEvent) -> Vec<Action> {
        self.translator.broker(self.now, event)
    }

    pub(crate) fn advance(&mut self, by: Duration) -> Vec<Action> {
        self.now += by;
        self.translator.tick(self.now)
    }

    pub(crate) fn state(&self, id: &str) -> Option<ClientState> {
        self.translator.client_state(id)
    }

    /// Connects `id` from node `n`, without a will, and completes the broker side.
    pub(crate) fn connect(&mut self, n: u16, id: &str, clean: bool, keep_alive: u16) {
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

    pub(crate) fn subscribe(
        &mut self,
        n: u16,
        topic: SubscribeTopic<'_>,
        qos: SnQoS,
    ) -> Vec<Action> {
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

    /// Answers the REGISTER among `actions` with an accepted REGACK from node `n`, returning what
    /// the gateway does next; panics if there is none.
    pub(crate) fn regack(&mut self, n: u16, actions: &[Action]) -> Vec<Action> {
        let register = sent(actions)
            .into_iter()
            .find_map(|(_, d)| match Message::decode(&d) {
                Ok(Message::Register(r)) => Some((r.topic_id, r.msg_id)),
                _ => None,
            })
            .expect("a REGISTER");
        self.from(
            n,
            Message::RegAck(mqttsn_codec::RegAck {
                topic_id: register.0,
                msg_id: register.1,
                return_code: ReturnCode::Accepted,
            }),
        )
    }

    pub(crate) fn message(&mut self, conn: ConnId, topic: &str, qos: QoS) -> Vec<Action> {
        self.broker(BrokerEvent::Message {
            conn,
            topic: topic.into(),
            payload: b"data".to_vec(),
            qos,
            retain: false,
        })
    }
}

pub(crate) fn name(filter: &str) -> SubscribeTopic<'_> {
    SubscribeTopic::Name(TopicFilter::new(filter).expect("valid"))
}

pub(crate) fn wake(id: &str) -> Message<'_> {
    Message::PingReq(PingReq {
        client_id: Some(ClientId::new(id).expect("valid")),
    })
}

pub(crate) fn connack_msg(return_code: ReturnCode) -> Message<'static> {
    Message::ConnAck(ConnAck { return_code })
}

//! The translator's vocabulary: who a client is on the network ([`Peer`]), which broker connection is
//! meant ([`ConnId`]), what the broker side reports ([`BrokerEvent`]) and what the translator asks
//! its owner to do ([`Action`]).
//!
//! These are plain values: the translator (`translator/`) takes them and returns them, and
//! `server.rs` turns them into socket writes and `mqtt-client` calls. Nothing here does anything.

use std::net::SocketAddr;
use std::time::Duration;

use mqtt_client::QoS;
use mqttsn_codec::{MsgId, TopicId};

/// Where an MQTT-SN client is: a UDP address and, for a client behind a forwarder, its wireless
/// node id [SN-5.5-3]. Answers go back the way the request came: encapsulated for the same node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    /// The UDP address datagrams come from and go to (the forwarder's, for an encapsulated client).
    pub addr: SocketAddr,
    /// The wireless node id, for a client behind a forwarder.
    pub node: Option<Vec<u8>>,
}

impl Peer {
    /// A client that talks to the gateway directly.
    pub fn direct(addr: SocketAddr) -> Self {
        Self { addr, node: None }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            None => write!(f, "{}", self.addr),
            Some(node) => {
                write!(f, "{} node ", self.addr)?;
                node.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
    }
}

/// A broker connection. [`ConnId::GATEWAY`] is the gateway's own, always open: the shared connection
/// of an aggregating gateway, and in a transparent one the connection for QoS -1 publications
/// [SN-7.1-1] and for wills. Every other id is one transparent client's connection; a reconnecting
/// client gets a new id, so that late events from its old connection are recognised and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl ConnId {
    /// The gateway's own connection.
    pub const GATEWAY: Self = Self(0);
}

/// What the translator must be told when a broker request completes, so it can answer the client.
/// The translator made it; the owner hands it back unchanged in [`BrokerEvent::Done`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The client's id.
    pub client: String,
    /// The connection the request went on; a completion for an older connection is stale.
    pub conn: ConnId,
    /// What to answer.
    pub kind: AckKind,
}

/// The MQTT-SN answer waiting on a broker acknowledgement: this is the message-id mapping, the
/// client's MsgId kept until the broker's packet identifier (chosen by `mqtt-client`) is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckKind {
    /// PUBACK for a QoS 1 PUBLISH.
    PubAck {
        /// The client's MsgId.
        msg_id: MsgId,
        /// The TopicId it published on, echoed [SN-5.4.13-1].
        topic_id: TopicId,
    },
    /// PUBREC for a QoS 2 PUBLISH.
    PubRec {
        /// The client's MsgId.
        msg_id: MsgId,
    },
    /// SUBACK.
    SubAck {
        /// The client's MsgId.
        msg_id: MsgId,
        /// The TopicId to return [SN-5.4.16-2].
        topic_id: TopicId,
        /// The QoS the client asked for.
        requested: QoS,
        /// The filter subscribed to: an aggregating gateway sends this client the retained
        /// messages the broker sends for it.
        filter: String,
    },
    /// UNSUBACK.
    UnsubAck {
        /// The client's MsgId.
        msg_id: MsgId,
    },
}

/// The outcome of a broker request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged; for a subscription, with the QoS granted.
    Done(Option<QoS>),
    /// Refused or lost.
    Failed,
}

/// What an MQTT connection is asked for when it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    /// The MQTT client id: the MQTT-SN client's own, in a transparent gateway.
    pub client_id: String,
    /// MQTT's clean session, from the MQTT-SN CONNECT [SN-5.3.4-5].
    pub clean_session: bool,
    /// The MQTT keep-alive.
    pub keep_alive: Duration,
}

/// Something that happened on the broker side, as the owner reports it to the translator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerEvent {
    /// A connection asked for with [`Action::Connect`] is up (or the gateway's came back).
    Connected(ConnId),
    /// A connection could not be made, or was lost.
    Lost(ConnId),
    /// A message arrived on a connection.
    Message {
        /// The connection it arrived on.
        conn: ConnId,
        /// Its topic name.
        topic: String,
        /// Its payload.
        payload: Vec<u8>,
        /// The QoS it was delivered with.
        qos: QoS,
        /// Its retain flag.
        retain: bool,
    },
    /// A request made with an [`Ack`] completed.
    Done(Ack, Outcome),
}

impl BrokerEvent {
    /// The connection a notification came on; `None` for a completion.
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Self::Connected(conn) | Self::Lost(conn) | Self::Message { conn, .. } => Some(*conn),
            Self::Done(..) => None,
        }
    }
}

/// What the translator asks its owner to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send one datagram (already encapsulated when the client is behind a forwarder).
    Send {
        /// Where to.
        to: SocketAddr,
        /// The encoded datagram.
        datagram: Vec<u8>,
    },
    /// Open MQTT connection `conn` and report [`BrokerEvent::Connected`] or [`BrokerEvent::Lost`].
    Connect(ConnId, ConnectRequest),
    /// Close connection `conn` cleanly, with DISCONNECT.
    Disconnect(ConnId),
    /// Publish on connection `conn`, reporting completion if `ack` is given.
    Publish {
        /// The connection.
        conn: ConnId,
        /// The topic name.
        topic: String,
        /// The payload.
        payload: Vec<u8>,
        /// The QoS.
        qos: QoS,
        /// The retain flag.
        retain: bool,
        /// What to report when the broker has it.
        ack: Option<Ack>,
    },
    /// Subscribe on connection `conn`, reporting the QoS granted if `ack` is given.
    Subscribe {
        /// The connection.
        conn: ConnId,
        /// The topic filter.
        filter: String,
        /// The maximum QoS.
        qos: QoS,
        /// What to report when the broker answers.
        ack: Option<Ack>,
    },
    /// Unsubscribe on connection `conn`, reporting completion if `ack` is given.
    Unsubscribe {
        /// The connection.
        conn: ConnId,
        /// The topic filter.
        filter: String,
        /// What to report when the broker answers.
        ack: Option<Ack>,
    },
}

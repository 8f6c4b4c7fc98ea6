//! What the session hands its owner: [`Message`]s, the [`Token`] naming each request, the
//! [`Event`]s that complete them, and the [`State`] it is in. Plain data; no protocol logic.

use std::time::Instant;

use mqtt_codec::v5::ReasonCode;
use mqtt_codec::{QoS, SubAckReturnCode};

use crate::Error;
use crate::v5::PublishProperties;

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
    /// Its MQTT 5.0 properties: those it arrived with, or those to send it with. Empty at 3.1.1.
    pub properties: PublishProperties,
}

/// Names one request (publish, subscribe, unsubscribe) so that its completion can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub(super) u64);

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
        /// The same answer as Reason Codes: at 5.0 as the server sent them (0x00 to 0x02 granted,
        /// 0x80 and above a refusal saying why, 5.0 §3.9.3); at 3.1.1 the granted QoS or 0x80.
        reason_codes: Vec<ReasonCode>,
    },
    /// An UNSUBSCRIBE was answered, one Reason Code per filter in request order.
    Unsubscribed {
        /// The request.
        token: Token,
        /// At 5.0 as the server sent them: 0x00 removed, 0x11 there was no such subscription, 0x80
        /// and above a refusal saying why [MQTT5-3.11.3-2]. A 3.1.1 UNSUBACK carries no codes
        /// (3.1.1 §3.11.3), so each filter reads 0x00 there.
        reason_codes: Vec<ReasonCode>,
    },
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

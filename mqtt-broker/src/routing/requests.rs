//! What a connection asks of the router, in the router's terms: a session opened for a valid
//! CONNECT ([`OpenRequest`], with what 5.0 adds in [`Open5`]), and an outbound message acknowledged
//! ([`Ack`]). The connection's protocol machine (`connection/protocol.rs`) builds these and the
//! router acts on them; they live here, beside the router, so that routing depends on nothing in
//! `connection/`.

use std::sync::Arc;

use mqtt_codec::{PacketId, ProtocolLevel};

use super::outbound::ConnAckProperties;

/// An acknowledgement of an outbound message.
// Named after the packets they come from, so the shared prefix is the point.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    /// QoS 1 delivery complete.
    PubAck(PacketId),
    /// QoS 2 delivery received; answer PUBREL.
    PubRec(PacketId),
    /// QoS 2 delivery complete.
    PubComp(PacketId),
    /// 5.0: PUBREC with a failure Reason Code, which ends the QoS 2 delivery [MQTT5-4.4.0-2].
    PubRecRefused(PacketId),
}

impl std::fmt::Display for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PubAck(id) => write!(f, "PUBACK for packet id {id}"),
            Self::PubRec(id) => write!(f, "PUBREC for packet id {id}"),
            Self::PubComp(id) => write!(f, "PUBCOMP for packet id {id}"),
            Self::PubRecRefused(id) => write!(f, "PUBREC with a failure code for packet id {id}"),
        }
    }
}

/// What a valid CONNECT asks of the session store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenRequest {
    /// The client identifier, given or assigned.
    pub(crate) client_id: Arc<str>,
    /// Whether the identifier was assigned by the broker [MQTT-3.1.3-6].
    pub(crate) assigned: bool,
    /// CleanSession [MQTT-3.1.2-4] [MQTT-3.1.2-6]: the session ends with the connection. At 5.0,
    /// a Session Expiry Interval of 0 [MQTT5-3.1.2-23].
    pub(crate) clean_session: bool,
    /// Whether a stored session is discarded first: CleanSession again at 3.1.1, Clean Start at
    /// 5.0 [MQTT5-3.1.2-4] [MQTT5-3.1.2-5] [MQTT5-3.1.2-6].
    pub(crate) clean_start: bool,
    /// 5.0: what the CONNACK announces and what the client said it accepts; `None` at 3.1.1.
    pub(crate) mqtt5: Option<Open5>,
    /// The level the connection speaks from now on.
    pub(crate) level: ProtocolLevel,
    /// The keep-alive, in seconds, for the log line.
    pub(crate) keep_alive: u16,
    /// The user name of CONNECT, if any.
    pub(crate) user_name: Option<Arc<str>>,
    /// The password of CONNECT, if any: only for `security/auth.rs`, never logged.
    pub(crate) password: Option<Password>,
    /// Whether CONNECT announced a broker bridging to this one (the top bit of the protocol level,
    /// mosquitto's `try_private`): it is not sent back what it publishes, and retained messages
    /// reach it with their retain flag, so that the other broker can retain them too.
    pub(crate) bridge: bool,
    /// Whether the connection comes from inside this process (the local side of one of our own
    /// bridges), which is neither authenticated nor subject to the ACL, as in mosquitto. The session
    /// always says false; the connection thread knows better.
    pub(crate) trusted: bool,
    /// Set by the session when a 5.0 enhanced authentication succeeded: the password chain is
    /// not asked again.
    pub(crate) authenticated: Option<Authenticated>,
}

/// Who a 5.0 enhanced authentication proved the client to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authenticated {
    /// The user name it acts under: the one the authenticator named (SCRAM's user), else
    /// CONNECT's, else none.
    pub(crate) user_name: Option<Arc<str>>,
}

/// What a 5.0 CONNECT adds to [`OpenRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Open5 {
    /// The CONNACK's properties (Assigned Client Identifier, Server Keep Alive, limits...).
    pub(crate) connack: ConnAckProperties,
    /// The client's Maximum Packet Size: nothing larger is sent to it [MQTT5-3.1.2-24].
    pub(crate) maximum_packet_size: Option<u32>,
    /// The client's Receive Maximum: no more QoS 1/2 PUBLISHes than this unacknowledged at
    /// once [MQTT5-3.3.4-9].
    pub(crate) receive_maximum: Option<u16>,
    /// The client's Topic Alias Maximum: the aliases the broker may use toward it
    /// [MQTT5-3.1.2-26].
    pub(crate) topic_alias_maximum: Option<u16>,
    /// The client's Request Problem Information: false when it set 0, and then nothing but
    /// PUBLISH, CONNACK and DISCONNECT carries a Reason String to it [MQTT5-3.1.2-29].
    pub(crate) problem_information: bool,
    /// The Session Expiry Interval, in seconds (0xFFFFFFFF: never).
    pub(crate) session_expiry: u32,
}

/// A password from CONNECT. Its `Debug` form hides it, so no log line or panic message shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Password(pub(crate) Vec<u8>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

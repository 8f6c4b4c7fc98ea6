//! What MQTT 5.0 adds to the client's API, as owned types: the CONNECT properties
//! ([`ConnectProperties`]), the properties of a message ([`PublishProperties`], used both ways and
//! for the will), subscription options ([`SubscribeOptions`]), what the server said about itself
//! in CONNACK ([`ServerSettings`]), and the enhanced-authentication hook ([`Authenticator`]).
//!
//! The session turns these into the codec's borrowed `mqtt_codec::v5` packets when it sends, and
//! the codec's decoded properties into these when it receives (5.0 §2.2.2, §3.1.2.11, §3.3.2.3).
//! The reason codes the server answers with are the codec's [`ReasonCode`], carried by the errors
//! of `error.rs`.
//!
//! This file holds data and one trait; it does not speak the protocol (`session/` does).

use std::fmt;
use std::sync::Arc;

use mqtt_codec::QoS;
pub use mqtt_codec::v5::{ReasonCode, RetainHandling};

/// The MQTT 5.0 properties of CONNECT (5.0 §3.1.2.11) the application may set. The session sets
/// the authentication ones itself from the [`Authenticator`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectProperties {
    /// Session Expiry Interval in seconds; `None` is 0, the session ends with the connection.
    /// `u32::MAX` means it never expires (5.0 §3.1.2.11.2).
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum: how many QoS 1 and 2 messages the server may send us unacknowledged
    /// (default 65 535) [MQTT5-3.3.4-9].
    pub receive_maximum: Option<u16>,
    /// Maximum Packet Size we accept; the server must not send larger [MQTT5-3.1.2-24].
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum: how many topic aliases the server may use toward us (default 0, none)
    /// [MQTT5-3.1.2-26].
    pub topic_alias_maximum: Option<u16>,
    /// Request Response Information (5.0 §3.1.2.11.6).
    pub request_response_information: Option<bool>,
    /// Request Problem Information (5.0 §3.1.2.11.7): `Some(false)` asks the server not to send
    /// reason strings and user properties except in PUBLISH, CONNACK and DISCONNECT.
    pub request_problem_information: Option<bool>,
    /// User Properties, in order.
    pub user_properties: Vec<(String, String)>,
}

/// The MQTT 5.0 properties of an application message (5.0 §3.3.2.3), as sent by the application
/// or received from the server, and of a will (5.0 §3.1.3.2, with the will delay).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishProperties {
    /// Payload Format Indicator: `Some(1)` says the payload is UTF-8 (5.0 §3.3.2.3.2).
    pub payload_format_indicator: Option<u8>,
    /// Message Expiry Interval in seconds (5.0 §3.3.2.3.3).
    pub message_expiry_interval: Option<u32>,
    /// Content Type, a MIME type by convention.
    pub content_type: Option<String>,
    /// Response Topic, for request/response (5.0 §4.10).
    pub response_topic: Option<String>,
    /// Correlation Data, binary.
    pub correlation_data: Option<Vec<u8>>,
    /// User Properties, in order and with duplicates as sent [MQTT5-3.3.2-18].
    pub user_properties: Vec<(String, String)>,
    /// Received only: the Subscription Identifiers of the subscriptions that matched
    /// [MQTT5-3.3.4-4]. Ignored when publishing (a client must not send them [MQTT5-3.3.4-6]).
    pub subscription_identifiers: Vec<u32>,
    /// Received only: the Topic Alias the server used, if any; the session has already resolved
    /// it to the topic. Ignored when publishing: the session picks aliases itself.
    pub topic_alias: Option<u16>,
    /// Wills only: Will Delay Interval in seconds (5.0 §3.1.3.2.2).
    pub will_delay_interval: Option<u32>,
}

impl PublishProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The options of one topic filter in a 5.0 SUBSCRIBE (5.0 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// The maximum QoS the server may deliver with.
    pub qos: QoS,
    /// No Local: do not send back what this connection publishes [MQTT5-3.8.3-3].
    pub no_local: bool,
    /// Retain As Published: keep the RETAIN flag of forwarded messages (5.0 §3.8.3.1).
    pub retain_as_published: bool,
    /// Retain Handling: whether retained messages are sent on subscribing (5.0 §3.8.3.1).
    pub retain_handling: RetainHandling,
}

impl SubscribeOptions {
    /// The options of a 3.1.1 subscription: just a QoS, retained messages sent on subscribing.
    pub const fn qos(qos: QoS) -> Self {
        Self {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendOnSubscribe,
        }
    }
}

/// The properties of a 5.0 SUBSCRIBE (5.0 §3.8.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeProperties {
    /// Subscription Identifier, 1 to 268 435 455: messages matching these filters carry it back.
    pub subscription_identifier: Option<u32>,
    /// User Properties.
    pub user_properties: Vec<(String, String)>,
}

/// The properties of the DISCONNECT a 5.0 client sends when it disconnects (5.0 §3.14.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisconnectProperties {
    /// A new Session Expiry Interval, replacing the one of CONNECT. Not allowed to be non-zero
    /// when CONNECT's was zero [MQTT5-3.14.2-2].
    pub session_expiry_interval: Option<u32>,
    /// User Properties.
    pub user_properties: Vec<(String, String)>,
}

/// What the server said about itself in its 5.0 CONNACK (5.0 §3.2.2.3), with the defaults the
/// specification gives for an absent property. At 3.1.1 every field keeps its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Receive Maximum: our send quota for QoS 1 and 2 [MQTT5-4.9.0-1] (default 65 535).
    pub receive_maximum: u16,
    /// Maximum Packet Size the server accepts [MQTT5-3.2.2-15]; `None` is no limit beyond the
    /// protocol's.
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum: how many aliases we may use toward the server [MQTT5-3.2.2-17]
    /// (default 0).
    pub topic_alias_maximum: u16,
    /// Maximum QoS the server supports [MQTT5-3.2.2-11] (default 2).
    pub maximum_qos: QoS,
    /// Whether the server supports retained messages [MQTT5-3.2.2-14] (default true).
    pub retain_available: bool,
    /// The client identifier the server assigned, when we sent an empty one.
    pub assigned_client_identifier: Option<String>,
    /// Server Keep Alive, which replaces ours [MQTT5-3.1.2-21].
    pub server_keep_alive: Option<u16>,
    /// Session Expiry Interval, when the server chose another than ours.
    pub session_expiry_interval: Option<u32>,
    /// Response Information, for request/response.
    pub response_information: Option<String>,
    /// Server Reference: another server to use.
    pub server_reference: Option<String>,
    /// Whether wildcard subscriptions, subscription identifiers and shared subscriptions are
    /// available (each default true).
    pub wildcard_subscription_available: bool,
    /// See `wildcard_subscription_available`.
    pub subscription_identifier_available: bool,
    /// See `wildcard_subscription_available`.
    pub shared_subscription_available: bool,
    /// The reason string of the CONNACK, if any.
    pub reason_string: Option<String>,
    /// The user properties of the CONNACK.
    pub user_properties: Vec<(String, String)>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            receive_maximum: u16::MAX,
            maximum_packet_size: None,
            topic_alias_maximum: 0,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            assigned_client_identifier: None,
            server_keep_alive: None,
            session_expiry_interval: None,
            response_information: None,
            server_reference: None,
            wildcard_subscription_available: true,
            subscription_identifier_available: true,
            shared_subscription_available: true,
            reason_string: None,
            user_properties: Vec::new(),
        }
    }
}

/// Enhanced authentication (5.0 §4.12): the application's side of an AUTH exchange, called by the
/// session while it waits for CONNACK. SCRAM, Kerberos or a challenge of the application's own
/// all fit: the session only carries the bytes. [`Scram`](crate::Scram) is the SCRAM-SHA-256 one.
///
/// Each method returns `Err` with a reason to abandon the connection; the session then fails the
/// connection attempt with [`Error::Authentication`](crate::Error::Authentication).
pub trait Authenticator: Send + Sync {
    /// The Authentication Method sent in CONNECT and in every AUTH [MQTT5-4.12.0-1].
    fn method(&self) -> &str;

    /// The Authentication Data of CONNECT (the client's first message), if the method has one.
    fn initial_data(&self) -> Result<Option<Vec<u8>>, String>;

    /// The server sent AUTH with Continue authentication (0x18) [MQTT5-4.12.0-2] and `data`:
    /// return the data of our answering AUTH.
    fn challenge(&self, data: Option<&[u8]>) -> Result<Vec<u8>, String>;

    /// The server accepted the connection with CONNACK 0x00 carrying `data` (a server's final
    /// message, for methods that prove the server to the client): `Err` refuses the server.
    fn finish(&self, data: Option<&[u8]>) -> Result<(), String>;
}

/// The authenticator of a [`ConnectOptions`](crate::ConnectOptions): shared, so options stay
/// `Clone`, and shown by its method only.
#[derive(Clone)]
pub struct SharedAuthenticator(pub Arc<dyn Authenticator>);

impl fmt::Debug for SharedAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Authenticator({:?})", self.0.method())
    }
}

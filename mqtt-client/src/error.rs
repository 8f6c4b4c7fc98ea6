//! [`Error`]: everything that can go wrong in the client, sorted by who is at fault.
//!
//! Three parties can be at fault, and each variant says which one it is, because each calls for a
//! different response:
//!
//! - **the server** refused us ([`Error::Refused`], with its CONNACK code, 3.1.1 §3.2.2.3; at 5.0
//!   [`Error::RefusedWithReason`]), refused a message ([`Error::PublishRefused`], 5.0), closed the
//!   connection saying why ([`Error::ServerDisconnected`], 5.0) or broke a rule of the protocol
//!   ([`Error::ProtocolViolation`], naming the rule);
//! - **the network**: unreachable, timed out, or lost ([`Error::Io`], [`Error::TimedOut`],
//!   [`Error::ConnectionLost`], [`Error::Tls`]);
//! - **the application**: a bad topic, a full buffer, a call after `disconnect` ([`Error::InvalidTopic`],
//!   [`Error::QueueFull`], [`Error::NotConnected`], [`Error::Closed`], [`Error::InvalidOptions`],
//!   [`Error::ExceedsServerLimit`] at 5.0), or its authenticator gave up ([`Error::Authentication`]).
//!
//! The enum is `Clone` because one connection failure completes many waiting publish tokens at once.
//! This file does not decide what to do about an error: the driver in `client.rs` does.

use std::fmt;
use std::io;
use std::sync::Arc;

use mqtt_codec::v5::ReasonCode;
use mqtt_codec::{ConnectReturnCode, DecodeError, EncodeError, TopicError};

/// What went wrong, and who is at fault.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The server answered CONNECT with a non-zero return code (3.1.1 §3.2.2.3). The tools exit with
    /// this code, as mosquitto's do.
    Refused(ConnectReturnCode),
    /// The server sent something the protocol forbids. `rule` is the statement it broke, in the
    /// project's citation format (for example `MQTT-3.2.0-1`), and `what` says what it did.
    ProtocolViolation {
        /// What the server did.
        what: String,
        /// The rule it broke.
        rule: &'static str,
    },
    /// A network operation failed: `context` says which one (resolving, connecting, reading, writing).
    Io {
        /// What the client was doing.
        context: &'static str,
        /// The operating system's error.
        source: Arc<io::Error>,
    },
    /// TLS failed: a certificate did not verify, a file could not be read, the handshake failed.
    Tls(String),
    /// Something the client waited for did not come in time.
    TimedOut(Timeout),
    /// The connection was lost after it was established, and is not being re-established (or a
    /// request waiting on it was abandoned). The string says why.
    ConnectionLost(String),
    /// A topic name or filter is not valid (3.1.1 §4.7).
    InvalidTopic(TopicError),
    /// A packet could not be encoded; for example a field longer than 65 535 bytes.
    Encode(EncodeError),
    /// The in-flight window and the offline buffer are both full: the application publishes faster
    /// than the server acknowledges, or while the connection is down. `capacity` is the buffer size
    /// ([`ConnectOptions::max_queued`](crate::ConnectOptions::max_queued)).
    QueueFull {
        /// The size of the offline buffer.
        capacity: usize,
    },
    /// A request was made while there is no connection and automatic reconnection is off.
    NotConnected,
    /// The client was closed by [`Client::disconnect`](crate::Client::disconnect).
    Closed,
    /// The options cannot work together; the string says why.
    InvalidOptions(String),
    /// MQTT 5.0: the server refused the connection with a CONNACK Reason Code of 0x80 or more
    /// (5.0 §3.2.2.2). The tools exit with the code, as mosquitto's do.
    RefusedWithReason {
        /// The CONNACK Reason Code.
        reason: ReasonCode,
        /// The server's Reason String, if it sent one.
        reason_string: Option<String>,
        /// The Server Reference, for 0x9C (use another server) and 0x9D (server moved).
        server_reference: Option<String>,
    },
    /// MQTT 5.0: the server answered a QoS 1 or 2 PUBLISH with a PUBACK or PUBREC Reason Code of
    /// 0x80 or more (5.0 §3.4.2.1, §3.5.2.1): it did not take the message.
    PublishRefused {
        /// The PUBACK or PUBREC Reason Code.
        reason: ReasonCode,
        /// The server's Reason String, if any.
        reason_string: Option<String>,
    },
    /// MQTT 5.0: the server closed the connection with a DISCONNECT (5.0 §3.14), saying why.
    ServerDisconnected {
        /// The DISCONNECT Reason Code (for example 0x8B server shutting down, 0x8E session taken
        /// over).
        reason: ReasonCode,
        /// The server's Reason String, if any.
        reason_string: Option<String>,
        /// The Server Reference, if any.
        server_reference: Option<String>,
    },
    /// MQTT 5.0 enhanced authentication failed on our side: the authenticator gave up, or the
    /// server's AUTH did not fit the exchange (5.0 §4.12).
    Authentication(String),
    /// MQTT 5.0: a request does not fit what the server announced in CONNACK (Maximum Packet Size
    /// [MQTT5-3.2.2-15], Maximum QoS [MQTT5-3.2.2-11], Retain Available [MQTT5-3.2.2-14]); it was
    /// not sent.
    ExceedsServerLimit {
        /// What does not fit.
        what: String,
        /// The rule that forbids sending it.
        rule: &'static str,
    },
}

/// What did not arrive in time, for [`Error::TimedOut`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// The TCP connection or TLS handshake did not complete within the connect timeout.
    Connect,
    /// No CONNACK within the connect timeout after CONNECT was sent (3.1.1 §3.1.4).
    ConnAck,
    /// The server did not answer a PINGREQ, so the connection is presumed dead (3.1.1 §3.1.2.10).
    KeepAlive,
    /// A wait on a token ended before its acknowledgement arrived.
    Acknowledgement,
}

impl Error {
    /// The server broke `rule` by doing `what`.
    pub(crate) fn violation(what: impl Into<String>, rule: &'static str) -> Self {
        Self::ProtocolViolation {
            what: what.into(),
            rule,
        }
    }

    /// The server sent bytes that do not decode: that too is a protocol violation, of the rule the
    /// codec names.
    pub(crate) fn malformed(error: DecodeError) -> Self {
        Self::violation(
            format!("malformed packet from the server: {error}"),
            error.rule(),
        )
    }

    pub(crate) fn io(context: &'static str, source: io::Error) -> Self {
        Self::Io {
            context,
            source: Arc::new(source),
        }
    }

    /// Whether a later attempt may succeed without changing anything: true for network trouble,
    /// false for a refusal, a protocol violation or a mistake of the application. A 5.0 refusal or
    /// DISCONNECT is transient when its code says the server is busy, unavailable or shutting
    /// down; a session taken over (0x8E) is not, so that two clients with one identifier do not
    /// take it from each other for ever.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Io { .. } | Self::TimedOut(_) | Self::ConnectionLost(_) => true,
            Self::Refused(code) => *code == ConnectReturnCode::ServerUnavailable,
            Self::RefusedWithReason { reason, .. } | Self::ServerDisconnected { reason, .. } => {
                matches!(
                    *reason,
                    ReasonCode::SERVER_UNAVAILABLE
                        | ReasonCode::SERVER_BUSY
                        | ReasonCode::SERVER_SHUTTING_DOWN
                        | ReasonCode::KEEP_ALIVE_TIMEOUT
                        | ReasonCode::CONNECTION_RATE_EXCEEDED
                        | ReasonCode::MESSAGE_RATE_TOO_HIGH
                        | ReasonCode::QUOTA_EXCEEDED
                        | ReasonCode::MAXIMUM_CONNECT_TIME
                        | ReasonCode::ADMINISTRATIVE_ACTION
                )
            }
            _ => false,
        }
    }

    /// Whether this ends the connection because the server refused it in CONNACK (at any level).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused(_) | Self::RefusedWithReason { .. })
    }

    /// The 5.0 DISCONNECT Reason Code a client sends before closing the connection over this
    /// error [MQTT5-4.13.1-1]: a bad packet is a protocol error, except for the more precise codes
    /// the specification names. `None` when the error does not come from the server's packets.
    pub(crate) fn disconnect_reason(&self) -> Option<ReasonCode> {
        match self {
            Self::ProtocolViolation { rule, .. } => Some(match *rule {
                "MQTT5-3.3.2-8" | "MQTT5-3.1.2-26" | "MQTT5-3.3.2-10" => {
                    ReasonCode::TOPIC_ALIAS_INVALID
                }
                "MQTT5-3.3.4-9" => ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
                "MQTT5-3.1.2-24" => ReasonCode::PACKET_TOO_LARGE,
                rule if rule.starts_with("MQTT5-1.5") || rule.starts_with("MQTT5-2.") => {
                    ReasonCode::MALFORMED_PACKET
                }
                _ => ReasonCode::PROTOCOL_ERROR,
            }),
            Self::Authentication(_) => Some(ReasonCode::NOT_AUTHORIZED),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(code) => write!(
                f,
                "connection refused by the server: {code} (CONNACK return code {})",
                *code as u8
            ),
            Self::ProtocolViolation { what, rule } => {
                write!(f, "protocol violation by the server: {what} [{rule}]")
            }
            Self::Io { context, source } => write!(f, "{context}: {source}"),
            Self::Tls(message) => write!(f, "TLS: {message}"),
            Self::TimedOut(what) => f.write_str(match what {
                Timeout::Connect => "timed out connecting to the server",
                Timeout::ConnAck => "timed out waiting for CONNACK from the server",
                Timeout::KeepAlive => {
                    "connection lost: the server did not answer PINGREQ within the keep-alive"
                }
                Timeout::Acknowledgement => "timed out waiting for an acknowledgement",
            }),
            Self::ConnectionLost(why) => write!(f, "connection lost: {why}"),
            Self::InvalidTopic(error) => write!(f, "invalid topic: {error}"),
            Self::Encode(error) => write!(f, "cannot encode the packet: {error}"),
            Self::QueueFull { capacity } => write!(
                f,
                "the in-flight window and the offline buffer ({capacity} messages) are full"
            ),
            Self::NotConnected => f.write_str("not connected, and automatic reconnection is off"),
            Self::Closed => f.write_str("the client was disconnected"),
            Self::InvalidOptions(why) => write!(f, "invalid options: {why}"),
            Self::RefusedWithReason {
                reason,
                reason_string,
                server_reference,
            } => {
                write!(f, "connection refused by the server: {reason}")?;
                if let Some(why) = reason_string {
                    write!(f, ": {why}")?;
                }
                if let Some(server) = server_reference {
                    write!(f, " (try {server})")?;
                }
                Ok(())
            }
            Self::PublishRefused {
                reason,
                reason_string,
            } => {
                write!(f, "the server did not accept the message: {reason}")?;
                if let Some(why) = reason_string {
                    write!(f, ": {why}")?;
                }
                Ok(())
            }
            Self::ServerDisconnected {
                reason,
                reason_string,
                server_reference,
            } => {
                write!(f, "the server closed the connection: {reason}")?;
                if let Some(why) = reason_string {
                    write!(f, ": {why}")?;
                }
                if let Some(server) = server_reference {
                    write!(f, " (try {server})")?;
                }
                Ok(())
            }
            Self::Authentication(why) => write!(f, "enhanced authentication failed: {why}"),
            Self::ExceedsServerLimit { what, rule } => {
                write!(f, "not sent, the server does not allow it: {what} [{rule}]")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source.as_ref()),
            Self::InvalidTopic(error) => Some(error),
            Self::Encode(error) => Some(error),
            _ => None,
        }
    }
}

impl From<TopicError> for Error {
    fn from(error: TopicError) -> Self {
        Self::InvalidTopic(error)
    }
}

impl From<EncodeError> for Error {
    fn from(error: EncodeError) -> Self {
        Self::Encode(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_names_the_connack_code() {
        let text = Error::Refused(ConnectReturnCode::NotAuthorized).to_string();
        assert!(text.contains("not authorized"), "{text}");
        assert!(text.contains("return code 5"), "{text}");
    }

    #[test]
    fn violation_names_the_rule() {
        let text = Error::malformed(DecodeError::ZeroPacketId).to_string();
        assert!(text.contains("[MQTT-2.3.1-1]"), "{text}");
        assert!(
            text.starts_with("protocol violation by the server"),
            "{text}"
        );
    }

    #[test]
    fn only_network_trouble_is_transient() {
        assert!(Error::TimedOut(Timeout::KeepAlive).is_transient());
        assert!(Error::Refused(ConnectReturnCode::ServerUnavailable).is_transient());
        assert!(!Error::Refused(ConnectReturnCode::BadUserNameOrPassword).is_transient());
        assert!(!Error::violation("x", "MQTT-3.2.0-1").is_transient());
    }
}

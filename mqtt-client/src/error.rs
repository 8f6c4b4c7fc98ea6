//! [`Error`]: everything that can go wrong in the client, sorted by who is at fault.
//!
//! Three parties can be at fault, and each variant says which one it is, because each calls for a
//! different response:
//!
//! - **the server** refused us ([`Error::Refused`], with its CONNACK code, 3.1.1 §3.2.2.3) or broke a
//!   rule of the protocol ([`Error::ProtocolViolation`], naming the rule);
//! - **the network**: unreachable, timed out, or lost ([`Error::Io`], [`Error::TimedOut`],
//!   [`Error::ConnectionLost`], [`Error::Tls`]);
//! - **the application**: a bad topic, a full buffer, a call after `disconnect` ([`Error::InvalidTopic`],
//!   [`Error::QueueFull`], [`Error::NotConnected`], [`Error::Closed`], [`Error::InvalidOptions`]).
//!
//! The enum is `Clone` because one connection failure completes many waiting publish tokens at once.
//! This file does not decide what to do about an error: the driver in `client.rs` does.

use std::fmt;
use std::io;
use std::sync::Arc;

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
    /// false for a refusal, a protocol violation or a mistake of the application.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Io { .. } | Self::TimedOut(_) | Self::ConnectionLost(_) => true,
            Self::Refused(code) => *code == ConnectReturnCode::ServerUnavailable,
            _ => false,
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

//! SCRAM-SHA-256 (RFC 5802 with the SHA-256 of RFC 7677), as two sans-I/O state machines: the
//! client's and the server's. They turn the bytes of one message into the bytes of the next and never
//! touch a socket, a clock or (except in [`nonce`]) a random number generator: the caller passes the
//! nonce in, so the RFC's own test vector runs as a unit test on both sides.
//!
//! # The exchange
//!
//! ```text
//! client                                               server
//! client-first   n,,n=<user>,r=<client nonce>     ->
//!                                                 <-   server-first   r=<client nonce><server nonce>,
//!                                                                     s=<salt>,i=<iterations>
//! client-final   c=biws,r=<both nonces>,p=<proof> ->
//!                                                 <-   server-final   v=<server signature>
//! ```
//!
//! The client proves it knows the password without sending it: from the password, the salt and the
//! iteration count it derives `SaltedPassword` (PBKDF2-HMAC-SHA-256), then `ClientKey` and from that
//! `StoredKey = SHA-256(ClientKey)`, and sends `ClientKey` masked (XOR) with an HMAC, keyed by
//! `StoredKey`, of the whole conversation so far (the `AuthMessage`). The server keeps only
//! `StoredKey` and `ServerKey` ([`StoredCredentials`]), never the password: it recomputes the mask,
//! unmasks `ClientKey`, and checks that its hash is `StoredKey`. It then proves that it knew the
//! credentials too, with an HMAC of the same conversation keyed by `ServerKey`, which the client
//! checks. The two nonces make every conversation, and so every proof, different.
//!
//! # Mapping onto MQTT 5.0 (5.0 §4.12)
//!
//! | SCRAM message | MQTT packet (Authentication Method `SCRAM-SHA-256` in each) |
//! |---|---|
//! | client-first | CONNECT, as Authentication Data |
//! | server-first | AUTH, Reason Code 0x18 Continue authentication |
//! | client-final | AUTH, Reason Code 0x18 Continue authentication |
//! | server-final | CONNACK 0x00 Success, as Authentication Data |
//!
//! A failed proof is CONNACK 0x86 (Bad User Name or Password) and any other failure 0x87 (Not
//! authorized), in the broker. Re-authentication on a connected client (5.0 §4.12.1) is the same four
//! messages, opened by AUTH 0x19 Re-authenticate instead of CONNECT and closed by AUTH 0x00 instead of
//! CONNACK. The MQTT side lives in `mqtt-broker` (`connection/protocol/auth.rs`) and `mqtt-client`
//! (`scram.rs`); this crate knows nothing of MQTT.
//!
//! # Example
//!
//! ```
//! use mqtt_scram::{ClientFirst, StoredCredentials, client_first};
//!
//! // What the server stores for a user (never the password).
//! let stored = StoredCredentials::generate("pencil", mqtt_scram::DEFAULT_ITERATIONS)?;
//!
//! let (client, first) = client_first("user", "pencil", &mqtt_scram::nonce()?)?;     // CONNECT
//! let request = ClientFirst::parse(&first)?;                                         // broker
//! let (server, challenge) = request.challenge(&stored, &mqtt_scram::nonce()?)?;      // AUTH 0x18
//! let (client, last) = client.server_first(&challenge)?;                             // AUTH 0x18
//! let verified = server.client_final(&last)?;                                        // CONNACK 0x00
//! client.server_final(verified.server_final())?;
//! assert_eq!(verified.user(), "user");
//! # Ok::<(), mqtt_scram::Error>(())
//! ```
//!
//! # What it does not do
//!
//! - Channel binding: only the `n,,` (and `y,,`) headers; a client asking for `p=` is refused with
//!   [`Error::ChannelBindingUnsupported`]. Neither is an authorisation identity (`a=`) taken.
//! - Full SASLprep (RFC 4013): user names and passwords must be printable ASCII, for which SASLprep
//!   changes nothing; anything else is [`Error::NotAscii`], not silently mangled.
//! - Keep credentials: [`StoredCredentials`] are what a server stores; where is the caller's choice.

#![forbid(unsafe_code)]

pub mod base64;
mod client;
mod credentials;
mod crypto;
mod message;
mod server;
#[cfg(test)]
mod tests;

pub use client::{ClientExpectServerFinal, ClientExpectServerFirst, client_first};
pub use credentials::{DEFAULT_ITERATIONS, MIN_ITERATIONS, StoredCredentials};
pub use server::{ClientFirst, ServerExpectClientFinal, Verified};

use std::fmt;

/// The name of the mechanism, and the MQTT 5.0 Authentication Method that carries it.
pub const METHOD: &str = "SCRAM-SHA-256";

/// The most iterations a client agrees to compute: a server asking for more could make each
/// connection cost the client seconds of CPU, so it is refused ([`Error::IterationCount`]).
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Why an exchange failed. Each variant says who is at fault: the peer's bytes, the peer's
/// credentials, or the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The peer sent a message outside the grammar of RFC 5802 §7 (missing or misplaced attribute,
    /// bad base64, not UTF-8, a nonce with a comma...).
    Malformed(&'static str),
    /// A user name or password that is not printable ASCII: SASLprep is limited to ASCII here
    /// (see the crate doc). The caller's input or the peer's.
    NotAscii,
    /// The client asked for channel binding (`p=`), which is not offered.
    ChannelBindingUnsupported,
    /// The client sent an authorisation identity (`a=`), which is not supported.
    AuthzidUnsupported,
    /// A mandatory extension (`m=`) the other side does not know (RFC 5802 §5.1).
    UnsupportedExtension,
    /// The nonce in a reply does not continue the conversation's: the server's does not start with
    /// the client's, or the client-final's is not the one of server-first.
    NonceMismatch,
    /// The server asked for an iteration count outside what the client accepts (at least
    /// [`MIN_ITERATIONS`], RFC 7677 §4, at most [`MAX_ITERATIONS`]).
    IterationCount,
    /// The client's proof is wrong: a wrong password, or a user the server does not know. The two
    /// are not told apart, on purpose.
    InvalidProof,
    /// The server's signature is wrong: it does not know the password's credentials (an impostor,
    /// or a tampered message).
    InvalidServerSignature,
    /// The server ended the exchange with an `e=` error of its own.
    ServerRejected,
    /// The channel binding data of client-final does not repeat the header of client-first.
    ChannelBindingMismatch,
    /// Misuse: a nonce given by the caller that is empty or not printable ASCII without commas, or
    /// credentials asked for with an iteration count below [`MIN_ITERATIONS`].
    InvalidArgument(&'static str),
    /// The system's random number generator failed ([`nonce`], [`StoredCredentials::generate`]).
    Random,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed SCRAM message: {what}"),
            Self::NotAscii => f.write_str(
                "user name or password is not printable ASCII (SASLprep is limited to ASCII)",
            ),
            Self::ChannelBindingUnsupported => f.write_str("channel binding is not supported"),
            Self::AuthzidUnsupported => f.write_str("an authorisation identity is not supported"),
            Self::UnsupportedExtension => f.write_str("unsupported mandatory SCRAM extension"),
            Self::NonceMismatch => f.write_str("the nonce does not continue the exchange"),
            Self::IterationCount => write!(
                f,
                "iteration count outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            ),
            Self::InvalidProof => f.write_str("invalid client proof (wrong password or user)"),
            Self::InvalidServerSignature => f.write_str("invalid server signature"),
            Self::ServerRejected => f.write_str("the server rejected the authentication"),
            Self::ChannelBindingMismatch => {
                f.write_str("channel binding data does not match the client-first header")
            }
            Self::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Self::Random => f.write_str("the system random number generator failed"),
        }
    }
}

impl std::error::Error for Error {}

/// A fresh nonce from the system's random number generator: 18 random bytes in base64, 24
/// printable characters and never a comma, as RFC 5802 §5.1 wants. The one function here that is
/// not pure; the state machines take the nonce as an argument.
pub fn nonce() -> Result<String, Error> {
    let bytes = crypto::random::<18>()?;
    Ok(base64::encode(&bytes))
}

//! The server's side: [`ClientFirst`] (client-first read, the user known, credentials not yet looked
//! up), then [`ServerExpectClientFinal`] (server-first sent), then [`Verified`] (the proof checked,
//! server-final ready). Each state is consumed by the step that leaves it, so a step cannot be
//! repeated or skipped. Where the credentials come from, and what is done with a failure, is the
//! caller's business.

use crate::Error;
use crate::credentials::StoredCredentials;
use crate::crypto::{self, Block};
use crate::message::{self, valid_nonce};

/// A client-first message, read. The caller looks up [`user`](Self::user)'s credentials (or takes
/// [`StoredCredentials::unknown_user`]) and [`challenge`](Self::challenge)s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    gs2_header: String,
    user: String,
    client_nonce: String,
    bare: String,
}

impl ClientFirst {
    /// Reads the client's first message (RFC 5802 §7, `client-first-message`).
    pub fn parse(data: &[u8]) -> Result<Self, Error> {
        let parsed = message::parse_client_first(message::text(data)?)?;
        Ok(Self {
            gs2_header: parsed.gs2_header.to_owned(),
            user: parsed.user,
            client_nonce: parsed.nonce.to_owned(),
            bare: parsed.bare.to_owned(),
        })
    }

    /// The user name the client authenticates as (unescaped, printable ASCII).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Answers with server-first, from the user's `credentials` and the server's part of the nonce
    /// (fresh for every exchange, printable ASCII without commas: [`crate::nonce`] makes one).
    pub fn challenge(
        self,
        credentials: &StoredCredentials,
        server_nonce: &str,
    ) -> Result<(ServerExpectClientFinal, Vec<u8>), Error> {
        if !valid_nonce(server_nonce) {
            return Err(Error::InvalidArgument("server nonce"));
        }
        let nonce = format!("{}{server_nonce}", self.client_nonce);
        let server_first = message::server_first(&nonce, &credentials.salt, credentials.iterations);
        let auth_message = format!("{},{server_first}", self.bare);
        let state = ServerExpectClientFinal {
            user: self.user,
            gs2_header: self.gs2_header,
            nonce,
            auth_message,
            stored_key: credentials.stored_key,
            server_key: credentials.server_key,
        };
        Ok((state, server_first.into_bytes()))
    }
}

/// Server-first sent; waiting for client-final.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerExpectClientFinal {
    user: String,
    gs2_header: String,
    /// Both nonces, which client-final must repeat.
    nonce: String,
    /// `client-first-message-bare "," server-first-message`: the `AuthMessage` so far.
    auth_message: String,
    stored_key: Block,
    server_key: Block,
}

impl std::fmt::Debug for ServerExpectClientFinal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerExpectClientFinal({:?}, ..)", self.user)
    }
}

impl ServerExpectClientFinal {
    /// The user name of client-first.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Checks client-final. [`Error::InvalidProof`] is a wrong password (or an unknown user);
    /// anything else is a client that broke the protocol.
    pub fn client_final(self, data: &[u8]) -> Result<Verified, Error> {
        let parsed = message::parse_client_final(message::text(data)?)?;
        if parsed.channel_binding != self.gs2_header.as_bytes() {
            return Err(Error::ChannelBindingMismatch);
        }
        if parsed.nonce != self.nonce {
            return Err(Error::NonceMismatch);
        }
        let auth_message = format!("{},{}", self.auth_message, parsed.without_proof);
        let client_signature = crypto::hmac(&self.stored_key, auth_message.as_bytes());
        let client_key = crypto::xor(&parsed.proof, &client_signature);
        if !crypto::constant_time_eq(&crypto::hash(&client_key), &self.stored_key) {
            return Err(Error::InvalidProof);
        }
        let server_signature = crypto::hmac(&self.server_key, auth_message.as_bytes());
        Ok(Verified {
            user: self.user,
            server_final: message::server_final(&server_signature).into_bytes(),
        })
    }
}

/// A client that proved it knows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    user: String,
    server_final: Vec<u8>,
}

impl Verified {
    /// The user it authenticated as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// server-final, for the client to check the server in turn.
    pub fn server_final(&self) -> &[u8] {
        &self.server_final
    }

    /// The user name and server-final.
    pub fn into_parts(self) -> (String, Vec<u8>) {
        (self.user, self.server_final)
    }
}

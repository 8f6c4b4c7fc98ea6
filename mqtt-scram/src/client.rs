//! The client's side: [`client_first`] starts, [`ClientExpectServerFirst`] answers server-first with
//! the proof, [`ClientExpectServerFinal`] checks the server's signature. Each state is consumed by
//! its step. The password is kept only until server-first gives the salt; after that, only the
//! signature the server must show.

use std::num::NonZeroU32;

use crate::crypto::{self, Block};
use crate::message::{self, ServerFinalMessage, printable_ascii, valid_nonce};
use crate::{Error, MAX_ITERATIONS, MIN_ITERATIONS};

/// Starts an exchange as `user` with `password` and the client's `nonce` (fresh for every
/// exchange: [`crate::nonce`] makes one). Answers the state and client-first, `n,,n=<user>,r=<nonce>`.
/// User name and password must be printable ASCII (see the crate doc on SASLprep).
pub fn client_first(
    user: &str,
    password: &str,
    nonce: &str,
) -> Result<(ClientExpectServerFirst, Vec<u8>), Error> {
    if user.is_empty() {
        return Err(Error::InvalidArgument("empty user name"));
    }
    if !printable_ascii(user) || !printable_ascii(password) {
        return Err(Error::NotAscii);
    }
    if !valid_nonce(nonce) {
        return Err(Error::InvalidArgument("client nonce"));
    }
    let bare = message::client_first_bare(user, nonce);
    let first = format!("{}{bare}", message::GS2_HEADER);
    let state = ClientExpectServerFirst {
        password: password.to_owned(),
        nonce: nonce.to_owned(),
        bare,
    };
    Ok((state, first.into_bytes()))
}

/// client-first sent; waiting for server-first.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientExpectServerFirst {
    password: String,
    nonce: String,
    /// client-first-message-bare, the start of the `AuthMessage`.
    bare: String,
}

impl std::fmt::Debug for ClientExpectServerFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "ClientExpectServerFirst({:?}, ..)", self.bare)
    }
}

impl ClientExpectServerFirst {
    /// Reads server-first and answers client-final, with the proof. Refuses a nonce that does not
    /// extend ours ([`Error::NonceMismatch`]) and an iteration count outside
    /// [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`].
    pub fn server_first(self, data: &[u8]) -> Result<(ClientExpectServerFinal, Vec<u8>), Error> {
        let server_first = message::text(data)?;
        let parsed = message::parse_server_first(server_first)?;
        // The server's nonce must add something to ours, or it could be replaying our own.
        if parsed.nonce.len() <= self.nonce.len() || !parsed.nonce.starts_with(&self.nonce) {
            return Err(Error::NonceMismatch);
        }
        let iterations = NonZeroU32::new(parsed.iterations)
            .filter(|i| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&i.get()))
            .ok_or(Error::IterationCount)?;
        let salted = crypto::salted_password(self.password.as_bytes(), &parsed.salt, iterations);
        let client_key = crypto::client_key(&salted);
        let stored_key = crypto::hash(&client_key);
        let without_proof = message::client_final_without_proof(parsed.nonce);
        let auth_message = format!("{},{server_first},{without_proof}", self.bare);
        let client_signature = crypto::hmac(&stored_key, auth_message.as_bytes());
        let proof = crypto::xor(&client_key, &client_signature);
        let server_signature = crypto::hmac(&crypto::server_key(&salted), auth_message.as_bytes());
        let client_final = message::with_proof(&without_proof, &proof);
        Ok((
            ClientExpectServerFinal { server_signature },
            client_final.into_bytes(),
        ))
    }
}

/// client-final sent; waiting for server-final.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientExpectServerFinal {
    /// What the server must send if it knows the credentials.
    server_signature: Block,
}

impl std::fmt::Debug for ClientExpectServerFinal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientExpectServerFinal(..)")
    }
}

impl ClientExpectServerFinal {
    /// Checks server-final: `Ok` once the server has proved it knows the user's credentials.
    pub fn server_final(self, data: &[u8]) -> Result<(), Error> {
        match message::parse_server_final(message::text(data)?)? {
            ServerFinalMessage::Error => Err(Error::ServerRejected),
            ServerFinalMessage::Verifier(signature) => {
                if crypto::constant_time_eq(&signature, &self.server_signature) {
                    Ok(())
                } else {
                    Err(Error::InvalidServerSignature)
                }
            }
        }
    }
}

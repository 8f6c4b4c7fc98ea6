//! [`StoredCredentials`]: what a server keeps of a user's password (RFC 5802 §3): the salt, the
//! iteration count, `StoredKey` and `ServerKey`. Enough to verify a client and to prove itself to
//! one, not enough to log in as the user: `StoredKey` is a hash of the key the client must show.
//!
//! Written as text in PostgreSQL's layout, which operators of SCRAM deployments will recognise:
//!
//! ```text
//! SCRAM-SHA-256$<iterations>:<salt, base64>$<StoredKey, base64>:<ServerKey, base64>
//! ```

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use crate::crypto::{self, Block};
use crate::message::printable_ascii;
use crate::{Error, METHOD, base64};

/// The iteration count used unless told otherwise: RFC 7677 §4's minimum, and PostgreSQL's default.
/// The *client* pays it on every connection (the server only computes HMACs), which is why it is
/// not the hundreds of thousands of a password file's PBKDF2: a small device connecting often
/// cannot afford that.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// The fewest iterations accepted, by [`StoredCredentials::derive`] and by a client reading
/// server-first: RFC 7677 §4 says at least 4096.
pub const MIN_ITERATIONS: u32 = 4096;

/// Bytes of salt [`StoredCredentials::generate`] draws.
const SALT_LEN: usize = 16;

/// One user's SCRAM-SHA-256 credentials, as a server stores them.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    pub(crate) iterations: NonZeroU32,
    pub(crate) salt: Vec<u8>,
    pub(crate) stored_key: Block,
    pub(crate) server_key: Block,
}

impl fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys stay out of logs: with them an impostor server could pass for this one.
        write!(f, "StoredCredentials(i={}, ..)", self.iterations)
    }
}

impl StoredCredentials {
    /// Derives the credentials of `password` with `salt` and `iterations` (at least
    /// [`MIN_ITERATIONS`]). The password must be printable ASCII (see the crate doc on SASLprep).
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Result<Self, Error> {
        if !printable_ascii(password) {
            return Err(Error::NotAscii);
        }
        if salt.is_empty() {
            return Err(Error::InvalidArgument("empty salt"));
        }
        let iterations = NonZeroU32::new(iterations)
            .filter(|i| i.get() >= MIN_ITERATIONS)
            .ok_or(Error::InvalidArgument("iteration count below 4096"))?;
        let salted = crypto::salted_password(password.as_bytes(), salt, iterations);
        Ok(Self {
            iterations,
            salt: salt.to_vec(),
            stored_key: crypto::hash(&crypto::client_key(&salted)),
            server_key: crypto::server_key(&salted),
        })
    }

    /// Derives credentials for `password` with a fresh random salt.
    pub fn generate(password: &str, iterations: u32) -> Result<Self, Error> {
        Self::derive(password, &crypto::random::<SALT_LEN>()?, iterations)
    }

    /// Stand-in credentials for a user the server does not know, the same every time for the same
    /// user and `secret`: the exchange then runs to the end and fails at the proof, as a wrong
    /// password does, so that a client cannot learn which users exist (RFC 5802 §9). Its salt is
    /// derived from `secret` and the user name (a salt that changed on every attempt would give
    /// the game away) and its iteration count is [`DEFAULT_ITERATIONS`]. No proof can match its
    /// keys except by breaking HMAC.
    pub fn unknown_user(user: &str, secret: &[u8]) -> Self {
        let derived = crypto::hmac(secret, user.as_bytes());
        Self {
            iterations: NonZeroU32::new(DEFAULT_ITERATIONS).unwrap_or(NonZeroU32::MIN),
            salt: derived[..SALT_LEN].to_vec(),
            stored_key: crypto::hmac(secret, &derived),
            server_key: crypto::hmac(&derived, secret),
        }
    }

    /// The iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations.get()
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }
}

/// The PostgreSQL layout of the module doc.
impl fmt::Display for StoredCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{METHOD}${}:{}${}:{}",
            self.iterations,
            base64::encode(&self.salt),
            base64::encode(&self.stored_key),
            base64::encode(&self.server_key)
        )
    }
}

/// Reads the PostgreSQL layout of the module doc; every field must be there and well formed.
impl FromStr for StoredCredentials {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let malformed = Error::Malformed;
        let rest = text
            .strip_prefix(METHOD)
            .and_then(|rest| rest.strip_prefix('$'))
            .ok_or(malformed("does not start with SCRAM-SHA-256$"))?;
        let (parameters, keys) = rest
            .split_once('$')
            .ok_or(malformed("no $ before the keys"))?;
        let (iterations, salt) = parameters
            .split_once(':')
            .ok_or(malformed("no : between iterations and salt"))?;
        let (stored_key, server_key) = keys
            .split_once(':')
            .ok_or(malformed("no : between StoredKey and ServerKey"))?;
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or(malformed("iteration count is not a positive number"))?;
        let salt = base64::decode(salt)
            .filter(|salt| !salt.is_empty())
            .ok_or(malformed("salt is not base64"))?;
        let key = |text: &str| {
            base64::decode(text)
                .and_then(|bytes| Block::try_from(bytes.as_slice()).ok())
                .ok_or(malformed("a key is not 32 bytes of base64"))
        };
        Ok(Self {
            iterations,
            salt,
            stored_key: key(stored_key)?,
            server_key: key(server_key)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_round_trips_and_refuses_damage() {
        let credentials = StoredCredentials::derive("pencil", b"salt", 4096).expect("derive");
        let text = credentials.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:c2FsdA==$"), "{text}");
        assert_eq!(text.parse::<StoredCredentials>(), Ok(credentials));
        for bad in [
            "",
            "SCRAM-SHA-1$4096:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$4096c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$4096:$AAAA:AAAA",
        ] {
            assert!(bad.parse::<StoredCredentials>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn derive_refuses_what_it_cannot_do_right() {
        assert_eq!(
            StoredCredentials::derive("pässword", b"salt", 4096),
            Err(Error::NotAscii)
        );
        assert!(matches!(
            StoredCredentials::derive("pencil", b"salt", 4095),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            StoredCredentials::derive("pencil", b"", 4096),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn unknown_users_get_the_same_stand_in_every_time_and_not_each_others() {
        let a = StoredCredentials::unknown_user("mallory", b"secret");
        assert_eq!(a, StoredCredentials::unknown_user("mallory", b"secret"));
        assert_ne!(
            a.salt,
            StoredCredentials::unknown_user("eve", b"secret").salt
        );
        assert_ne!(
            a.salt,
            StoredCredentials::unknown_user("mallory", b"other").salt
        );
        assert_eq!(a.iterations(), DEFAULT_ITERATIONS);
        assert!(!format!("{a:?}").contains(&base64::encode(&a.stored_key)));
    }
}

//! [`Scram`]: a [`v5::Authenticator`](crate::v5::Authenticator) for SCRAM-SHA-256 (RFC 5802,
//! RFC 7677), MQTT 5.0 enhanced authentication with a user name and password that never cross the
//! network, and a server that proves it knows them too.
//!
//! The mechanism is the `mqtt-scram` crate's client machine; this file only keeps its state between
//! the session's calls:
//!
//! | session call | SCRAM step | MQTT packet |
//! |---|---|---|
//! | `initial_data` | client-first (fresh nonce) | CONNECT, or AUTH 0x19 to re-authenticate |
//! | `challenge(server-first)` | client-final, with the proof | AUTH 0x18 |
//! | `finish(server-final)` | check the server's signature | after CONNACK 0x00 or AUTH 0x00 |
//!
//! Every connection attempt and re-authentication calls `initial_data` again, which starts a new
//! exchange with a new nonce, so one `Scram` serves reconnections too. A server whose signature is
//! wrong fails the connection with [`Error::Authentication`](crate::Error::Authentication): it did
//! not know the user's credentials. User name and password must be printable ASCII (the SASLprep
//! of `mqtt-scram` is limited to that), checked by [`Scram::new`].

use std::fmt;

use mqtt_scram::{ClientExpectServerFinal, ClientExpectServerFirst};
use parking_lot::Mutex;

use crate::Error;
use crate::v5::Authenticator;

/// SCRAM-SHA-256 with a user name and password. Give it to
/// [`ConnectOptionsBuilder::authenticator`](crate::ConnectOptionsBuilder::authenticator) with a 5.0
/// connection:
///
/// ```no_run
/// use std::sync::Arc;
/// use mqtt_client::{Client, ConnectOptions, Scram};
/// use mqtt_client::v5::ConnectProperties;
///
/// let options = ConnectOptions::builder("localhost", 1883)
///     .mqtt5(ConnectProperties::default())
///     .authenticator(Arc::new(Scram::new("sensor", "pencil")?))
///     .build()?;
/// let client = Client::connect(options)?; // CONNECT, AUTH, AUTH, CONNACK
/// # Ok::<(), mqtt_client::Error>(())
/// ```
pub struct Scram {
    user: String,
    password: String,
    /// Where the current exchange is; the session calls from one thread at a time, the lock only
    /// makes `&self` methods able to move it on.
    state: Mutex<State>,
}

/// Named after what the exchange waits for.
enum State {
    /// No exchange started, or the last one ended.
    Idle,
    ServerFirst(ClientExpectServerFirst),
    ServerFinal(ClientExpectServerFinal),
}

impl Scram {
    /// An authenticator for `user` with `password`; [`Error::InvalidOptions`] unless both are
    /// printable ASCII and the user name is not empty.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Result<Self, Error> {
        let (user, password) = (user.into(), password.into());
        // A trial start with a fixed nonce: the same checks as every real one.
        mqtt_scram::client_first(&user, &password, "check")
            .map_err(|error| Error::InvalidOptions(format!("SCRAM-SHA-256: {error}")))?;
        Ok(Self {
            user,
            password,
            state: Mutex::new(State::Idle),
        })
    }
}

impl fmt::Debug for Scram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        write!(f, "Scram({:?})", self.user)
    }
}

impl Authenticator for Scram {
    fn method(&self) -> &str {
        mqtt_scram::METHOD
    }

    fn initial_data(&self) -> Result<Option<Vec<u8>>, String> {
        let nonce = mqtt_scram::nonce().map_err(|error| error.to_string())?;
        let (state, first) = mqtt_scram::client_first(&self.user, &self.password, &nonce)
            .map_err(|error| error.to_string())?;
        *self.state.lock() = State::ServerFirst(state);
        Ok(Some(first))
    }

    fn challenge(&self, data: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let mut state = self.state.lock();
        let State::ServerFirst(expecting) = std::mem::replace(&mut *state, State::Idle) else {
            return Err("SCRAM: an AUTH challenge out of turn".into());
        };
        let (next, last) = expecting
            .server_first(data.unwrap_or_default())
            .map_err(|error| format!("SCRAM server-first: {error}"))?;
        *state = State::ServerFinal(next);
        Ok(last)
    }

    fn finish(&self, data: Option<&[u8]>) -> Result<(), String> {
        let State::ServerFinal(expecting) = std::mem::replace(&mut *self.state.lock(), State::Idle)
        else {
            // Accepted before the exchange ran its course: the server proved nothing.
            return Err("SCRAM: the server accepted without proving itself".into());
        };
        expecting
            .server_final(data.unwrap_or_default())
            .map_err(|error| format!("SCRAM server-final: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt_scram::{ClientFirst, StoredCredentials};

    /// The authenticator against the `mqtt-scram` server machine, as a broker would drive it.
    fn exchange(scram: &Scram, stored_password: &str) -> Result<(), String> {
        let stored =
            StoredCredentials::generate(stored_password, 4096).map_err(|e| e.to_string())?;
        let first = scram.initial_data()?.unwrap_or_default();
        let (server, challenge) = ClientFirst::parse(&first)
            .and_then(|first| first.challenge(&stored, "server-nonce"))
            .map_err(|error| error.to_string())?;
        let last = scram.challenge(Some(&challenge))?;
        let verified = server
            .client_final(&last)
            .map_err(|error| error.to_string())?;
        scram.finish(Some(verified.server_final()))
    }

    #[test]
    fn a_whole_exchange_passes_and_can_be_repeated() {
        let scram = Scram::new("user", "pencil").expect("ascii");
        assert_eq!(scram.method(), "SCRAM-SHA-256");
        assert_eq!(exchange(&scram, "pencil"), Ok(()));
        // A reconnection or a re-authentication starts afresh.
        assert_eq!(exchange(&scram, "pencil"), Ok(()));
        assert!(
            exchange(&scram, "other").is_err(),
            "the server refuses the proof"
        );
    }

    #[test]
    fn steps_out_of_turn_and_forged_servers_are_refused() {
        let scram = Scram::new("user", "pencil").expect("ascii");
        assert!(scram.challenge(Some(b"r=x,s=c2FsdA==,i=4096")).is_err());
        assert!(scram.finish(None).is_err(), "CONNACK before any challenge");
        let _ = scram.initial_data();
        assert!(
            scram.finish(None).is_err(),
            "CONNACK straight after CONNECT"
        );
        let _ = scram.initial_data();
        assert!(scram.challenge(Some(b"garbage")).is_err());
    }

    #[test]
    fn non_ascii_credentials_are_refused_up_front() {
        assert!(matches!(
            Scram::new("us\u{e9}r", "pencil"),
            Err(Error::InvalidOptions(_))
        ));
        assert!(Scram::new("", "pencil").is_err());
        assert!(!format!("{:?}", Scram::new("u", "secret").expect("ascii")).contains("secret"));
    }
}

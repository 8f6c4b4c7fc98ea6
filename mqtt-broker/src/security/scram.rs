//! [`ScramSha256`]: the built-in SCRAM-SHA-256 method of MQTT 5.0 enhanced authentication, an
//! [`EnhancedAuthenticator`] like any a plugin registers (the mechanism itself is the
//! `mqtt-scram` crate; RFC 5802 and RFC 7677).
//!
//! ```text
//! Authentication Data from the client         answer
//! client-first (CONNECT or AUTH 0x19)   ->    Continue(server-first)   the broker sends AUTH 0x18
//! client-final (AUTH 0x18)              ->    Success(server-final, the SCRAM user), or
//!                                             Failure: BadCredentials for a wrong proof (0x86),
//!                                             NotAuthorised for anything else (0x87)
//! ```
//!
//! The credentials come from the listener's [`ScramCredentialStore`]s (the registered ones, then
//! the `scram_password_file`, in that order); a user none of them knows is challenged with
//! stand-in credentials and fails at the proof, exactly as a wrong password does, so that user
//! names cannot be probed. A listener without any store does not offer the method at all (the
//! chain leaves this authenticator out, and the client is told 0x8C).
//!
//! What it does not do: know AUTH packets, Reason Codes or deadlines (`connection/protocol/auth.rs`
//! does, for every method alike).

use std::sync::Arc;

use mqtt_scram::{ClientFirst, ServerExpectClientFinal, StoredCredentials};

use crate::hooks::{
    AuthFailure, AuthenticationExchange, EnhancedAuthenticator, ExchangeRequest, ExchangeStep,
    Listener, ScramCredentialStore,
};

/// SCRAM-SHA-256 over one listener's credential stores.
pub(crate) struct ScramSha256 {
    /// Asked in order; the first that knows the user answers.
    pub(crate) stores: Vec<Arc<dyn ScramCredentialStore>>,
    /// The key of the stand-in credentials of unknown users (see `security/auth.rs`).
    pub(crate) secret: [u8; 32],
}

impl EnhancedAuthenticator for ScramSha256 {
    fn methods(&self) -> Vec<String> {
        vec![mqtt_scram::METHOD.to_owned()]
    }

    fn start(
        &self,
        _method: &str,
        request: &ExchangeRequest<'_>,
    ) -> Option<Box<dyn AuthenticationExchange>> {
        // Without a nonce the exchange fails at its first step, on the broker's side.
        let nonce = mqtt_scram::nonce().ok();
        Some(Box::new(ScramExchange::new(self, request, nonce)))
    }
}

/// One SCRAM-SHA-256 exchange.
struct ScramExchange {
    stores: Vec<Arc<dyn ScramCredentialStore>>,
    secret: [u8; 32],
    listener: Listener,
    /// The User Name of CONNECT: a SCRAM user name must be the same one.
    connect_user: Option<String>,
    /// During a re-authentication, the user the connection acts under: it must prove the same one.
    authenticated_as: Option<String>,
    /// A fresh server nonce, drawn when the exchange started (`None`: the system could not).
    nonce: Option<String>,
    step: Step,
}

/// Where the exchange is, named after what it expects next.
enum Step {
    ClientFirst,
    ClientFinal(ServerExpectClientFinal),
    Over,
}

impl ScramExchange {
    fn new(method: &ScramSha256, request: &ExchangeRequest<'_>, nonce: Option<String>) -> Self {
        Self {
            stores: method.stores.clone(),
            secret: method.secret,
            listener: request.listener(),
            connect_user: request.user_name().map(str::to_owned),
            authenticated_as: request.authenticated_as().map(str::to_owned),
            nonce,
            step: Step::ClientFirst,
        }
    }

    fn client_first(&mut self, data: &[u8]) -> ExchangeStep {
        let first = match ClientFirst::parse(data) {
            Ok(first) => first,
            Err(error) => return failure(error),
        };
        if self.authenticated_as.is_some() {
            if self.authenticated_as.as_deref() != Some(first.user()) {
                return ExchangeStep::Failure(AuthFailure::NotAuthorised(
                    "re-authentication as another SCRAM user".into(),
                ));
            }
        } else if let Some(name) = &self.connect_user
            && **name != *first.user()
        {
            // Two identities in one CONNECT: the ACL and the logs could not say which one acts.
            return ExchangeStep::Failure(AuthFailure::BadCredentials(
                "CONNECT's User Name is not the SCRAM user name".into(),
            ));
        }
        let Some(nonce) = self.nonce.take() else {
            return ExchangeStep::Failure(AuthFailure::Unavailable(
                "the system's random number generator failed".into(),
            ));
        };
        let credentials = self
            .stores
            .iter()
            .find_map(|store| store.scram_credentials(first.user(), self.listener))
            .unwrap_or_else(|| StoredCredentials::unknown_user(first.user(), &self.secret));
        match first.challenge(&credentials, &nonce) {
            Ok((state, server_first)) => {
                self.step = Step::ClientFinal(state);
                ExchangeStep::Continue(server_first)
            }
            Err(error) => failure(error),
        }
    }
}

impl AuthenticationExchange for ScramExchange {
    fn step(&mut self, data: Option<&[u8]>) -> ExchangeStep {
        let data = data.unwrap_or_default();
        match std::mem::replace(&mut self.step, Step::Over) {
            Step::ClientFirst => self.client_first(data),
            Step::ClientFinal(state) => match state.client_final(data) {
                Ok(verified) => {
                    let (user, server_final) = verified.into_parts();
                    ExchangeStep::Success {
                        data: Some(server_final),
                        user_name: Some(user),
                    }
                }
                Err(error) => failure(error),
            },
            Step::Over => ExchangeStep::Failure(AuthFailure::NotAuthorised(
                "the SCRAM exchange is over".into(),
            )),
        }
    }
}

/// A SCRAM error as the failure it is: a wrong proof is bad credentials, a broken exchange not
/// authorised, our own side's trouble unavailable.
fn failure(error: mqtt_scram::Error) -> ExchangeStep {
    use mqtt_scram::Error;
    let why = |text: &str| text.to_owned();
    ExchangeStep::Failure(match error {
        Error::InvalidProof => {
            AuthFailure::BadCredentials(why("SCRAM proof invalid: wrong password or unknown user"))
        }
        Error::Malformed(_) => {
            AuthFailure::NotAuthorised(why("SCRAM message malformed or missing"))
        }
        Error::NotAscii => AuthFailure::NotAuthorised(why("SCRAM user name not printable ASCII")),
        Error::ChannelBindingUnsupported => {
            AuthFailure::NotAuthorised(why("SCRAM channel binding asked for; only n,, is offered"))
        }
        Error::AuthzidUnsupported => {
            AuthFailure::NotAuthorised(why("SCRAM authorisation identity (a=) not supported"))
        }
        Error::UnsupportedExtension => {
            AuthFailure::NotAuthorised(why("SCRAM mandatory extension (m=) not supported"))
        }
        Error::NonceMismatch => {
            AuthFailure::NotAuthorised(why("SCRAM client-final nonce is not the exchange's"))
        }
        Error::ChannelBindingMismatch => {
            AuthFailure::NotAuthorised(why("SCRAM client-final channel binding changed"))
        }
        // Client-side errors, or ours (a nonce); not the client's fault.
        Error::IterationCount
        | Error::InvalidServerSignature
        | Error::ServerRejected
        | Error::InvalidArgument(_)
        | Error::Random => {
            AuthFailure::Unavailable(why("SCRAM exchange failed on the broker's side"))
        }
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    // RFC 7677 §3: user "user", password "pencil"; the exchange is given the RFC's server nonce.
    const CLIENT_FIRST: &[u8] = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SERVER_FIRST: &[u8] =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    // The RFC's salt, W22ZaJ0SNY7soEsUEjb6gQ== decoded.
    const SALT: [u8; 16] = [
        0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa,
        0x81,
    ];

    struct One(StoredCredentials);
    impl ScramCredentialStore for One {
        fn scram_credentials(&self, user: &str, _: Listener) -> Option<StoredCredentials> {
            (user == "user").then(|| self.0.clone())
        }
    }

    fn method(password: &str) -> ScramSha256 {
        let stored = StoredCredentials::derive(password, &SALT, 4096).expect("derive");
        ScramSha256 {
            stores: vec![Arc::new(One(stored))],
            secret: [7; 32],
        }
    }

    fn exchange(
        password: &str,
        user_name: Option<&str>,
        authenticated_as: Option<&str>,
    ) -> ScramExchange {
        let request = ExchangeRequest {
            client_id: "c",
            user_name,
            authenticated_as,
            reauthentication: authenticated_as.is_some(),
            certificate_identity: None,
            listener: Listener {
                index: 0,
                address: SocketAddr::from(([127, 0, 0, 1], 1883)),
                tls: false,
            },
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        };
        ScramExchange::new(&method(password), &request, Some(SERVER_NONCE.into()))
    }

    #[test]
    fn the_rfc_7677_exchange_succeeds_with_server_final_and_the_user() {
        let mut exchange = exchange("pencil", None, None);
        assert_eq!(
            exchange.step(Some(CLIENT_FIRST)),
            ExchangeStep::Continue(SERVER_FIRST.to_vec())
        );
        assert_eq!(
            exchange.step(Some(CLIENT_FINAL)),
            ExchangeStep::Success {
                data: Some(SERVER_FINAL.to_vec()),
                user_name: Some("user".into())
            }
        );
        assert!(matches!(
            exchange.step(Some(CLIENT_FINAL)),
            ExchangeStep::Failure(AuthFailure::NotAuthorised(_))
        ));
    }

    #[test]
    fn a_wrong_password_is_bad_credentials() {
        let mut exchange = exchange("not pencil", None, None);
        let _ = exchange.step(Some(CLIENT_FIRST));
        assert!(matches!(
            exchange.step(Some(CLIENT_FINAL)),
            ExchangeStep::Failure(AuthFailure::BadCredentials(_))
        ));
    }

    /// An unknown user is challenged all the same (with stand-in credentials) and fails at the
    /// proof, as a wrong password does.
    #[test]
    fn an_unknown_user_is_challenged_and_fails_at_the_proof() {
        let mut exchange = exchange("pencil", None, None);
        let first = exchange.step(Some(b"n,,n=mallory,r=abc"));
        assert!(matches!(first, ExchangeStep::Continue(_)), "{first:?}");
        let final_ = b"c=biws,r=abc%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert!(matches!(
            exchange.step(Some(final_)),
            ExchangeStep::Failure(AuthFailure::BadCredentials(_))
        ));
    }

    #[test]
    fn a_malformed_client_first_or_two_user_names_are_refused() {
        let mut malformed = exchange("pencil", None, None);
        assert!(matches!(
            malformed.step(Some(b"n,,r=nonce")),
            ExchangeStep::Failure(AuthFailure::NotAuthorised(_))
        ));
        let mut two_names = exchange("pencil", Some("admin"), None);
        assert!(matches!(
            two_names.step(Some(CLIENT_FIRST)),
            ExchangeStep::Failure(AuthFailure::BadCredentials(_))
        ));
        let mut same_name = exchange("pencil", Some("user"), None);
        assert!(matches!(
            same_name.step(Some(CLIENT_FIRST)),
            ExchangeStep::Continue(_)
        ));
    }

    #[test]
    fn a_re_authentication_must_prove_the_same_user() {
        let mut other = exchange("pencil", None, Some("admin"));
        assert!(matches!(
            other.step(Some(CLIENT_FIRST)),
            ExchangeStep::Failure(AuthFailure::NotAuthorised(_))
        ));
        let mut same = exchange("pencil", None, Some("user"));
        assert!(matches!(
            same.step(Some(CLIENT_FIRST)),
            ExchangeStep::Continue(_)
        ));
    }
}

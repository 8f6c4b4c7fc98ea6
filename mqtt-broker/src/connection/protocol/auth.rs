//! MQTT 5.0 enhanced authentication (5.0 §4.12, AUTH §3.15) in [`ProtocolMachine`], with the one
//! method the broker offers, SCRAM-SHA-256 (the `mqtt-scram` crate holds the mechanism):
//!
//! ```text
//! client                                            broker
//! CONNECT  Authentication Method SCRAM-SHA-256,
//!          Authentication Data client-first   ->    Action::FetchCredentials (the reader looks
//!                                                   the user up, draws a nonce, calls credentials)
//!                                             <-    AUTH 0x18, server-first  [MQTT5-4.12.0-2]
//! AUTH 0x18, client-final  [MQTT5-4.12.0-3]   ->
//!                                             <-    CONNACK 0x00, server-final, or
//!                                                   CONNACK 0x86 (wrong proof) / 0x87 (anything
//!                                                   else), then close  [MQTT5-4.12.0-4]
//! ```
//!
//! Another method is refused with CONNACK 0x8C, and so is SCRAM on a listener with no source of
//! SCRAM credentials [MQTT5-4.12.0-1]. Every AUTH must name the method of CONNECT, and so does the
//! broker's [MQTT5-4.12.0-5]; AUTH on a connection whose CONNECT named none is a Protocol Error
//! [MQTT5-4.12.0-7]. The whole exchange must end within `connect_timeout` of the connection's
//! start, as CONNECT must arrive within it: a client that stops half-way is closed.
//!
//! Re-authentication (5.0 §4.12.1): once connected, the client may send AUTH 0x19 with a new
//! client-first, for the same user; the same exchange follows, ended by AUTH 0x00 with
//! server-final. A failure is DISCONNECT 0x87 [MQTT5-4.12.1-2]. Packets keep flowing meanwhile,
//! and no deadline applies beyond the keep-alive.
//!
//! The machine never looks credentials up nor draws random numbers: it asks with
//! [`Action::FetchCredentials`] and is answered through [`ProtocolMachine::credentials`], so that
//! every step here is tested with fixed nonces and no I/O.

use std::sync::Arc;

use mqtt_codec::v5::{self, ReasonCode};
use mqtt_scram::{ClientFirst, ServerExpectClientFinal, StoredCredentials};

use super::v5::Accepted;
use super::{Action, CloseReason, Phase, ProtocolMachine};
use crate::routing::outbound::{Auth5, OutPacket};

/// The state of enhanced authentication on one connection.
#[derive(Debug)]
pub(super) struct Enhanced {
    /// The Authentication Method of CONNECT, which every AUTH must repeat [MQTT5-4.12.0-5].
    method: Box<str>,
    /// Where the exchange is.
    step: Step,
    /// The CONNECT, until its exchange succeeds; `None` once connected.
    held: Option<Accepted>,
    /// The user the first exchange proved; a re-authentication must prove the same one.
    user: Option<Arc<str>>,
}

/// Where an exchange is, named after what it waits for.
#[derive(Debug)]
enum Step {
    /// No exchange under way (connected, between re-authentications).
    Idle,
    /// client-first read; the reader is fetching the user's credentials.
    Credentials(ClientFirst),
    /// server-first sent; waiting for the client's AUTH 0x18 with client-final.
    ClientFinal(ServerExpectClientFinal),
}

impl ProtocolMachine {
    /// CONNECT named SCRAM-SHA-256 (the only method let through to here): read client-first and
    /// ask for the user's credentials, holding the CONNECT until the exchange ends.
    pub(super) fn begin_authentication(
        &mut self,
        method: &str,
        data: Option<&[u8]>,
        accepted: Accepted,
    ) -> Vec<Action> {
        let Phase::AwaitingConnect { deadline } = self.phase else {
            return Vec::new();
        };
        let first = match ClientFirst::parse(data.unwrap_or_default()) {
            Ok(first) => first,
            Err(error) => return self.refuse5(ReasonCode::NOT_AUTHORIZED, why(error)),
        };
        if let Some(name) = &accepted.request.user_name
            && **name != *first.user()
        {
            // Two identities in one CONNECT: the ACL and the logs could not say which one acts.
            return self.refuse5(
                ReasonCode::BAD_USER_NAME_OR_PASSWORD,
                "CONNECT's User Name is not the SCRAM user name",
            );
        }
        let user = first.user().to_owned();
        self.phase = Phase::Authenticating { deadline };
        self.auth = Some(Box::new(Enhanced {
            method: method.into(),
            step: Step::Credentials(first),
            held: Some(accepted),
            user: None,
        }));
        vec![Action::FetchCredentials { user }]
    }

    /// The answer to [`Action::FetchCredentials`]: the user's credentials (a stand-in for an
    /// unknown user, so that the exchange fails only at the proof, as a wrong password does), or
    /// `None` when the connection's listener has no source of SCRAM credentials at all; and a
    /// fresh `server_nonce`. Sends server-first.
    pub(crate) fn credentials(
        &mut self,
        credentials: Option<&StoredCredentials>,
        server_nonce: &str,
    ) -> Vec<Action> {
        let Some(enhanced) = self.auth.as_deref_mut() else {
            return Vec::new();
        };
        let Step::Credentials(first) = std::mem::replace(&mut enhanced.step, Step::Idle) else {
            return Vec::new();
        };
        let Some(credentials) = credentials else {
            return self.auth_failed(
                ReasonCode::BAD_AUTHENTICATION_METHOD,
                "no SCRAM credentials are configured for this listener [MQTT5-4.12.0-1]",
            );
        };
        match first.challenge(credentials, server_nonce) {
            Ok((state, server_first)) => {
                enhanced.step = Step::ClientFinal(state);
                let method = enhanced.method.clone();
                vec![auth(
                    ReasonCode::CONTINUE_AUTHENTICATION,
                    method,
                    server_first,
                )]
            }
            // Only a nonce of ours could be refused here (the reader could not draw one).
            Err(error) => self.auth_failed(ReasonCode::UNSPECIFIED_ERROR, why(error)),
        }
    }

    /// AUTH before CONNACK: client-final, in AUTH 0x18 with the method of CONNECT.
    pub(super) fn auth_before_connack(&mut self, packet: &v5::Auth<'_>) -> Vec<Action> {
        if let Some(violation) = self.check_auth(packet, ReasonCode::CONTINUE_AUTHENTICATION) {
            return self.refuse5(ReasonCode::PROTOCOL_ERROR, violation);
        }
        self.client_final(packet.properties.authentication_data())
    }

    /// AUTH after CONNACK: a re-authentication starting (0x19) or continuing (0x18).
    pub(super) fn auth_after_connack(&mut self, packet: &v5::Auth<'_>) -> Vec<Action> {
        let Some(enhanced) = self.auth.as_deref() else {
            // No Authentication Method at CONNECT, so no AUTH may follow [MQTT5-4.12.0-7].
            return self.close(CloseReason::ProtocolViolation(
                "AUTH without an Authentication Method at CONNECT [MQTT5-4.12.0-7]",
            ));
        };
        let expected = match enhanced.step {
            Step::Idle => ReasonCode::RE_AUTHENTICATE,
            Step::Credentials(_) | Step::ClientFinal(_) => ReasonCode::CONTINUE_AUTHENTICATION,
        };
        if let Some(violation) = self.check_auth(packet, expected) {
            return self.close(CloseReason::ProtocolViolation(violation));
        }
        let data = packet.properties.authentication_data();
        if packet.reason == ReasonCode::CONTINUE_AUTHENTICATION {
            return self.client_final(data);
        }
        // AUTH 0x19: a new client-first, for the user already proved.
        let first = match ClientFirst::parse(data.unwrap_or_default()) {
            Ok(first) => first,
            Err(error) => return self.auth_failed(ReasonCode::NOT_AUTHORIZED, why(error)),
        };
        if enhanced.user.as_deref() != Some(first.user()) {
            return self.auth_failed(
                ReasonCode::NOT_AUTHORIZED,
                "re-authentication as another user",
            );
        }
        let user = first.user().to_owned();
        if let Some(enhanced) = self.auth.as_deref_mut() {
            enhanced.step = Step::Credentials(first);
        }
        vec![Action::FetchCredentials { user }]
    }

    /// Whether an AUTH from the client breaks a rule: its Reason Code must be `expected` (0x18
    /// within an exchange [MQTT5-4.12.0-3], 0x19 to start a re-authentication [MQTT5-4.12.1-1]),
    /// and its method that of CONNECT [MQTT5-4.12.0-5].
    fn check_auth(&self, packet: &v5::Auth<'_>, expected: ReasonCode) -> Option<&'static str> {
        let enhanced = self.auth.as_deref()?;
        if packet.properties.authentication_method() != Some(&*enhanced.method) {
            return Some("AUTH with another Authentication Method than CONNECT's [MQTT5-4.12.0-5]");
        }
        if packet.reason != expected {
            return Some(if expected == ReasonCode::RE_AUTHENTICATE {
                "AUTH other than 0x19 to start a re-authentication [MQTT5-4.12.1-1]"
            } else {
                "AUTH other than 0x18 Continue authentication within an exchange [MQTT5-4.12.0-3]"
            });
        }
        None
    }

    /// client-final arrived: check the proof, then accept (CONNACK 0x00 or AUTH 0x00 with
    /// server-final) or refuse.
    fn client_final(&mut self, data: Option<&[u8]>) -> Vec<Action> {
        let Some(enhanced) = self.auth.as_deref_mut() else {
            return Vec::new();
        };
        let Step::ClientFinal(state) = std::mem::replace(&mut enhanced.step, Step::Idle) else {
            // AUTH 0x18 before the broker sent server-first: not the client's turn.
            return self.auth_failed(
                ReasonCode::PROTOCOL_ERROR,
                "AUTH 0x18 before the broker's challenge [MQTT5-4.12.0-3]",
            );
        };
        let verified = match state.client_final(data.unwrap_or_default()) {
            Ok(verified) => verified,
            Err(error @ mqtt_scram::Error::InvalidProof) => {
                return self.auth_failed(ReasonCode::BAD_USER_NAME_OR_PASSWORD, why(error));
            }
            Err(error) => return self.auth_failed(ReasonCode::NOT_AUTHORIZED, why(error)),
        };
        let (user, server_final) = verified.into_parts();
        let method = enhanced.method.clone();
        let user: Arc<str> = user.into();
        enhanced.user = Some(Arc::clone(&user));
        let Some(mut accepted) = enhanced.held.take() else {
            // A re-authentication succeeded (5.0 §4.12.1).
            return vec![auth(ReasonCode::SUCCESS, method, server_final)];
        };
        accepted.request.authenticated = Some(user);
        if let Some(open) = &mut accepted.request.mqtt5 {
            // The CONNACK names the method [MQTT5-4.12.0-5] and carries server-final.
            open.connack.authentication_method = Some(method);
            open.connack.authentication_data = Some(server_final.into());
        }
        self.accept5(accepted)
    }

    /// An exchange failed: before CONNACK, CONNACK with `code` and close [MQTT5-4.12.0-4]; during
    /// a re-authentication, DISCONNECT 0x87 and close [MQTT5-4.12.1-2].
    fn auth_failed(&mut self, code: ReasonCode, why: &'static str) -> Vec<Action> {
        let connecting = self
            .auth
            .as_deref()
            .is_some_and(|enhanced| enhanced.held.is_some());
        if connecting {
            self.refuse5(code, why)
        } else {
            self.close(CloseReason::ReauthenticationFailed(why))
        }
    }
}

/// Why a SCRAM step failed, for the log line of the close (the machine logs nothing itself).
fn why(error: mqtt_scram::Error) -> &'static str {
    use mqtt_scram::Error;
    match error {
        Error::InvalidProof => "SCRAM proof invalid: wrong password or unknown user",
        Error::Malformed(_) => "SCRAM message malformed or missing",
        Error::NotAscii => "SCRAM user name not printable ASCII",
        Error::ChannelBindingUnsupported => "SCRAM channel binding asked for; only n,, is offered",
        Error::AuthzidUnsupported => "SCRAM authorisation identity (a=) not supported",
        Error::UnsupportedExtension => "SCRAM mandatory extension (m=) not supported",
        Error::NonceMismatch => "SCRAM client-final nonce is not the exchange's",
        Error::ChannelBindingMismatch => "SCRAM client-final channel binding changed",
        // Client-side errors, or ours (a nonce); not the client's fault.
        Error::IterationCount
        | Error::InvalidServerSignature
        | Error::ServerRejected
        | Error::InvalidArgument(_)
        | Error::Random => "SCRAM exchange failed on the broker's side",
    }
}

fn auth(reason: ReasonCode, method: Box<str>, data: Vec<u8>) -> Action {
    Action::Send(OutPacket::Auth(Box::new(Auth5 {
        reason,
        method,
        data: data.into(),
    })))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use mqtt_codec::v5::{Properties, Property};
    use mqtt_codec::{Delivery, TopicName};

    use super::*;
    use crate::connection::protocol::tests::settings;

    // RFC 7677 §3: user "user", password "pencil"; the machine is given the RFC's server nonce.
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

    fn pencil() -> StoredCredentials {
        StoredCredentials::derive("pencil", &SALT, 4096).expect("derive")
    }

    /// A machine that has read a CONNECT with `method` and `data` at `start`.
    fn connecting(
        method: &str,
        data: &[u8],
        user_name: Option<&str>,
    ) -> (ProtocolMachine, Vec<Action>, Instant) {
        let start = Instant::now();
        let mut machine = ProtocolMachine::new(settings(), 1, start);
        machine.expect_v5();
        let properties = [
            Property::AuthenticationMethod(method),
            Property::AuthenticationData(data),
        ];
        let will = TopicName::new("will").ok().map(|topic| v5::Will {
            topic,
            payload: b"gone",
            qos: mqtt_codec::QoS::AtMostOnce,
            retain: false,
            properties: Properties::default(),
        });
        let connect = v5::Connect {
            client_id: "c",
            user_name,
            will,
            properties: Properties::from_slice(&properties),
            ..v5::Connect::default()
        };
        let mut actions = Vec::new();
        machine.packet5_into(v5::Packet::Connect(connect), start, &mut actions);
        (machine, actions, start)
    }

    fn auth_packet(
        machine: &mut ProtocolMachine,
        reason: ReasonCode,
        method: &str,
        data: &[u8],
    ) -> Vec<Action> {
        let properties = [
            Property::AuthenticationMethod(method),
            Property::AuthenticationData(data),
        ];
        let mut actions = Vec::new();
        machine.packet5_into(
            v5::Packet::Auth(v5::Auth {
                reason,
                properties: Properties::from_slice(&properties),
            }),
            Instant::now(),
            &mut actions,
        );
        actions
    }

    /// A machine that has sent server-first.
    fn challenged() -> ProtocolMachine {
        let (mut machine, actions, _) = connecting("SCRAM-SHA-256", CLIENT_FIRST, None);
        assert_eq!(
            actions,
            [Action::FetchCredentials {
                user: "user".into()
            }]
        );
        let actions = machine.credentials(Some(&pencil()), SERVER_NONCE);
        assert_eq!(
            actions,
            [auth(
                ReasonCode::CONTINUE_AUTHENTICATION,
                "SCRAM-SHA-256".into(),
                SERVER_FIRST.to_vec()
            )],
            "AUTH 0x18 with server-first [MQTT5-4.12.0-2] [MQTT5-4.12.0-5]"
        );
        machine
    }

    fn refused_with(actions: &[Action]) -> Option<ReasonCode> {
        match actions {
            [
                Action::Send(OutPacket::ConnAck5(connack)),
                Action::Close(close),
            ] if close.will.is_none() => Some(connack.reason),
            _ => None,
        }
    }

    #[test]
    fn the_rfc_7677_exchange_ends_in_connack_0_with_server_final_mqtt5_4_12_0_5() {
        let mut machine = challenged();
        let actions = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            "SCRAM-SHA-256",
            CLIENT_FINAL,
        );
        let [Action::Open(request)] = actions.as_slice() else {
            panic!("expected Open, got {actions:?}");
        };
        assert_eq!(request.authenticated.as_deref(), Some("user"));
        let connack = &request.mqtt5.as_ref().expect("5.0").connack;
        assert_eq!(
            connack.authentication_method.as_deref(),
            Some("SCRAM-SHA-256")
        );
        assert_eq!(connack.authentication_data.as_deref(), Some(SERVER_FINAL));
        // Connected now: the Will is armed, the keep-alive rules apply.
        assert!(
            machine
                .connection_lost()
                .iter()
                .any(|action| matches!(action, Action::Close(close) if close.will.is_some()))
        );
    }

    #[test]
    fn a_wrong_password_is_connack_0x86_and_no_will() {
        let (mut machine, _, _) = connecting("SCRAM-SHA-256", CLIENT_FIRST, None);
        let other = StoredCredentials::derive("not pencil", &SALT, 4096).expect("derive");
        let _ = machine.credentials(Some(&other), SERVER_NONCE);
        let actions = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            "SCRAM-SHA-256",
            CLIENT_FINAL,
        );
        assert_eq!(
            refused_with(&actions),
            Some(ReasonCode::BAD_USER_NAME_OR_PASSWORD),
            "{actions:?} [MQTT5-4.12.0-4]"
        );
    }

    #[test]
    fn auth_with_another_method_is_a_protocol_error_mqtt5_4_12_0_5() {
        let mut machine = challenged();
        let actions = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            "SCRAM-SHA-1",
            CLIENT_FINAL,
        );
        assert_eq!(refused_with(&actions), Some(ReasonCode::PROTOCOL_ERROR));
    }

    #[test]
    fn auth_other_than_0x18_during_the_exchange_is_a_protocol_error_mqtt5_4_12_0_3() {
        let mut machine = challenged();
        let actions = auth_packet(
            &mut machine,
            ReasonCode::RE_AUTHENTICATE,
            "SCRAM-SHA-256",
            CLIENT_FINAL,
        );
        assert_eq!(refused_with(&actions), Some(ReasonCode::PROTOCOL_ERROR));
    }

    #[test]
    fn other_packets_during_the_exchange_are_protocol_errors() {
        let mut machine = challenged();
        let mut actions = Vec::new();
        machine.packet5_into(
            v5::Packet::Publish(v5::Publish {
                topic: TopicName::new("t").ok(),
                payload: b"x",
                delivery: Delivery::AtMostOnce,
                retain: false,
                properties: Properties::default(),
            }),
            Instant::now(),
            &mut actions,
        );
        assert_eq!(refused_with(&actions), Some(ReasonCode::PROTOCOL_ERROR));
    }

    #[test]
    fn another_method_or_no_credential_store_is_0x8c_mqtt5_4_12_0_1() {
        let (_, actions, _) = connecting("KERBEROS", b"", None);
        assert_eq!(
            refused_with(&actions),
            Some(ReasonCode::BAD_AUTHENTICATION_METHOD)
        );
        let (mut machine, _, _) = connecting("SCRAM-SHA-256", CLIENT_FIRST, None);
        let actions = machine.credentials(None, SERVER_NONCE);
        assert_eq!(
            refused_with(&actions),
            Some(ReasonCode::BAD_AUTHENTICATION_METHOD)
        );
    }

    #[test]
    fn a_malformed_client_first_or_two_user_names_are_refused() {
        let (_, actions, _) = connecting("SCRAM-SHA-256", b"n,,r=nonce", None);
        assert_eq!(refused_with(&actions), Some(ReasonCode::NOT_AUTHORIZED));
        let (_, actions, _) = connecting("SCRAM-SHA-256", CLIENT_FIRST, Some("admin"));
        assert_eq!(
            refused_with(&actions),
            Some(ReasonCode::BAD_USER_NAME_OR_PASSWORD)
        );
        let (_, actions, _) = connecting("SCRAM-SHA-256", CLIENT_FIRST, Some("user"));
        assert!(matches!(
            actions.as_slice(),
            [Action::FetchCredentials { .. }]
        ));
    }

    #[test]
    fn a_client_that_stalls_mid_exchange_is_closed_at_connect_timeout() {
        let (mut machine, _, start) = connecting("SCRAM-SHA-256", CLIENT_FIRST, None);
        let _ = machine.credentials(Some(&pencil()), SERVER_NONCE);
        let timeout = settings().connect_timeout;
        assert_eq!(machine.deadline(), Some(start + timeout));
        assert!(
            machine
                .tick(start + timeout - Duration::from_millis(1))
                .is_empty()
        );
        let actions = machine.tick(start + timeout);
        assert!(
            matches!(
                actions.as_slice(),
                [Action::Close(close)]
                    if close.reason == CloseReason::AuthenticationTimeout && close.will.is_none()
            ),
            "{actions:?}"
        );
    }

    fn connected() -> ProtocolMachine {
        let mut machine = challenged();
        let actions = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            "SCRAM-SHA-256",
            CLIENT_FINAL,
        );
        assert!(matches!(actions.as_slice(), [Action::Open(_)]));
        machine
    }

    #[test]
    fn re_authentication_repeats_the_exchange_and_ends_in_auth_0() {
        let mut machine = connected();
        let actions = auth_packet(
            &mut machine,
            ReasonCode::RE_AUTHENTICATE,
            "SCRAM-SHA-256",
            CLIENT_FIRST,
        );
        assert_eq!(
            actions,
            [Action::FetchCredentials {
                user: "user".into()
            }]
        );
        let actions = machine.credentials(Some(&pencil()), SERVER_NONCE);
        assert!(matches!(
            actions.as_slice(),
            [Action::Send(OutPacket::Auth(auth))] if auth.reason == ReasonCode::CONTINUE_AUTHENTICATION
        ));
        let actions = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            "SCRAM-SHA-256",
            CLIENT_FINAL,
        );
        assert_eq!(
            actions,
            [auth(
                ReasonCode::SUCCESS,
                "SCRAM-SHA-256".into(),
                SERVER_FINAL.to_vec()
            )]
        );
    }

    #[test]
    fn re_authentication_as_another_user_is_disconnect_0x87_mqtt5_4_12_1_2() {
        let mut machine = connected();
        let actions = auth_packet(
            &mut machine,
            ReasonCode::RE_AUTHENTICATE,
            "SCRAM-SHA-256",
            b"n,,n=admin,r=abc",
        );
        assert!(
            matches!(
                actions.as_slice(),
                [
                    Action::Send(OutPacket::Disconnect(ReasonCode::NOT_AUTHORIZED, _)),
                    Action::Close(_)
                ]
            ),
            "{actions:?}"
        );
    }

    #[test]
    fn a_failed_re_authentication_proof_is_disconnect_0x87() {
        let mut machine = connected();
        let _ = auth_packet(
            &mut machine,
            ReasonCode::RE_AUTHENTICATE,
            "SCRAM-SHA-256",
            CLIENT_FIRST,
        );
        let other = StoredCredentials::derive("changed", &SALT, 4096).expect("derive");
        let _ = machine.credentials(Some(&other), SERVER_NONCE);
        let actions = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            "SCRAM-SHA-256",
            CLIENT_FINAL,
        );
        assert!(matches!(
            actions.as_slice(),
            [
                Action::Send(OutPacket::Disconnect(ReasonCode::NOT_AUTHORIZED, _)),
                Action::Close(_)
            ]
        ));
    }

    #[test]
    fn auth_without_a_method_at_connect_is_a_protocol_error_mqtt5_4_12_0_7() {
        let now = Instant::now();
        let mut machine = ProtocolMachine::new(settings(), 1, now);
        machine.expect_v5();
        let mut actions = Vec::new();
        machine.packet5_into(
            v5::Packet::Connect(v5::Connect {
                client_id: "c",
                ..v5::Connect::default()
            }),
            now,
            &mut actions,
        );
        let actions = auth_packet(
            &mut machine,
            ReasonCode::RE_AUTHENTICATE,
            "SCRAM-SHA-256",
            CLIENT_FIRST,
        );
        assert!(matches!(
            actions.as_slice(),
            [
                Action::Send(OutPacket::Disconnect(ReasonCode::PROTOCOL_ERROR, _)),
                Action::Close(_)
            ]
        ));
    }
}

//! MQTT 5.0 enhanced authentication (5.0 §4.12, AUTH §3.15) in [`ProtocolMachine`], for any
//! method: the machine carries the AUTH packets and keeps their rules; what each Authentication
//! Data means is up to an [`EnhancedAuthenticator`](crate::hooks::EnhancedAuthenticator) (the
//! built-in SCRAM-SHA-256 is one, `security/scram.rs`), which the reader runs when asked:
//!
//! ```text
//! client                                            broker
//! CONNECT  Authentication Method M,
//!          Authentication Data d0             ->    Action::Authenticate (start M, d0): the
//!                                                   reader starts the exchange and steps it
//!                                             <-    Continue(d1): AUTH 0x18, d1  [MQTT5-4.12.0-2]
//! AUTH 0x18, d2  [MQTT5-4.12.0-3]             ->    Action::Authenticate (d2)
//!                                             <-    Success(d3): CONNACK 0x00 naming M, d3; or
//!                                                   Failure: CONNACK 0x86 / 0x87 / 0x88, close
//!                                                   [MQTT5-4.12.0-4]
//! ```
//!
//! A method no authenticator runs (on the client's listener) is refused with CONNACK 0x8C
//! [MQTT5-4.12.0-1]. Every AUTH must name the method of CONNECT, and so does the broker
//! [MQTT5-4.12.0-5]; AUTH on a connection whose CONNECT named none is a Protocol Error
//! [MQTT5-4.12.0-7]. The whole exchange must end within `connect_timeout` of the connection's
//! start, as CONNECT must arrive within it: a client that stops half-way is closed.
//!
//! Re-authentication (5.0 §4.12.1): once connected, the client may send AUTH 0x19 with new
//! Authentication Data; a new exchange of the same method runs, ended by AUTH 0x00. A failure is
//! DISCONNECT 0x87 [MQTT5-4.12.1-2], and so is an exchange that names another user than the
//! connection's (the client's identity is fixed for the connection's life). Packets keep flowing
//! meanwhile; but a client that leaves the broker's AUTH 0x18 unanswered for `connect_timeout`
//! is disconnected with 0x87 as well, so that a stalled re-authentication cannot last as long as
//! the keep-alive lets a connection live.
//!
//! The machine never runs an authenticator: it asks with [`Action::Authenticate`] and is answered
//! through [`ProtocolMachine::exchange_step`], so that every rule here is tested with made-up
//! answers, made-up instants and no I/O.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use mqtt_codec::v5::{self, ReasonCode};

use super::v5::Accepted;
use super::{Action, Authenticated, CloseReason, Phase, ProtocolMachine};
use crate::hooks::{AuthFailure, ExchangeStep};
use crate::routing::outbound::{Auth5, OutPacket};

/// What the reader needs to start an exchange ([`Action::Authenticate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExchangeStart {
    /// The Authentication Method of CONNECT.
    pub(crate) method: Box<str>,
    /// The client identifier (given or assigned).
    pub(crate) client_id: Arc<str>,
    /// The User Name of CONNECT.
    pub(crate) user_name: Option<Arc<str>>,
    /// Whether the client is connected already (AUTH 0x19).
    pub(crate) reauthentication: bool,
    /// During a re-authentication, the user the client acts under.
    pub(crate) authenticated_as: Option<Arc<str>>,
}

/// The state of enhanced authentication on one connection.
#[derive(Debug)]
pub(super) struct Enhanced {
    /// The Authentication Method of CONNECT, which every AUTH must repeat [MQTT5-4.12.0-5].
    method: Box<str>,
    /// Where the exchange is.
    step: Step,
    /// The CONNECT, until its exchange succeeds; `None` once connected.
    held: Option<Accepted>,
    /// The client identifier and CONNECT's User Name, for a re-authentication's exchange.
    client_id: Arc<str>,
    user_name: Option<Arc<str>>,
    /// The user the first exchange settled on; a re-authentication may not change it.
    user: Option<Arc<str>>,
}

/// Where an exchange is, named after what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// No exchange under way (connected, between re-authentications).
    Idle,
    /// The reader is running the authenticator ([`Action::Authenticate`]).
    Authenticator,
    /// The broker sent AUTH 0x18; waiting for the client's AUTH 0x18, during a
    /// re-authentication until `deadline` (before CONNACK the phase's deadline applies).
    Client { deadline: Option<Instant> },
}

impl Enhanced {
    /// When a re-authentication the client stalls must end, if one is under way.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self.step {
            Step::Client { deadline } => deadline,
            Step::Idle | Step::Authenticator => None,
        }
    }
}

impl ProtocolMachine {
    /// CONNECT named an Authentication Method: hold the CONNECT until the exchange ends, and ask
    /// the reader to start it.
    pub(super) fn begin_authentication(
        &mut self,
        method: &str,
        data: Option<&[u8]>,
        accepted: Accepted,
    ) -> Vec<Action> {
        let Phase::AwaitingConnect { deadline } = self.phase else {
            return Vec::new();
        };
        let start = ExchangeStart {
            method: method.into(),
            client_id: Arc::clone(&accepted.request.client_id),
            user_name: accepted.request.user_name.clone(),
            reauthentication: false,
            authenticated_as: None,
        };
        self.phase = Phase::Authenticating { deadline };
        self.auth = Some(Box::new(Enhanced {
            method: method.into(),
            step: Step::Authenticator,
            client_id: Arc::clone(&accepted.request.client_id),
            user_name: accepted.request.user_name.clone(),
            held: Some(accepted),
            user: None,
        }));
        vec![Action::Authenticate {
            start: Some(start),
            data: data.map(Box::from),
        }]
    }

    /// The answer to [`Action::Authenticate`]: the authenticator's step, or `None` when no
    /// authenticator runs the method on this connection's listener. `now` starts the deadline of
    /// a re-authentication the broker now waits on the client for.
    pub(crate) fn exchange_step(
        &mut self,
        step: Option<ExchangeStep>,
        now: Instant,
    ) -> Vec<Action> {
        let timeout = self.settings.connect_timeout;
        let Some(enhanced) = self.auth.as_deref_mut() else {
            return Vec::new();
        };
        if enhanced.step != Step::Authenticator {
            return Vec::new();
        }
        let connecting = enhanced.held.is_some();
        let step = match step {
            Some(step) => step,
            None if connecting => {
                return self.refuse5(
                    ReasonCode::BAD_AUTHENTICATION_METHOD,
                    "no enhanced authenticator runs this Authentication Method here \
                     [MQTT5-4.12.0-1]",
                );
            }
            None => {
                return self.auth_failed(AuthFailure::NotAuthorised(
                    "the Authentication Method is no longer offered".into(),
                ));
            }
        };
        match step {
            ExchangeStep::Continue(data) => {
                enhanced.step = Step::Client {
                    deadline: (!connecting).then(|| now + timeout),
                };
                let method = enhanced.method.clone();
                vec![auth(
                    ReasonCode::CONTINUE_AUTHENTICATION,
                    method,
                    Some(data),
                )]
            }
            ExchangeStep::Success { data, user_name } => {
                let user = user_name.map(Arc::<str>::from);
                enhanced.step = Step::Idle;
                let method = enhanced.method.clone();
                let Some(mut accepted) = enhanced.held.take() else {
                    // A re-authentication: the same user or none named [MQTT5-4.12.1-2].
                    if user.is_some() && user != enhanced.user {
                        return self.auth_failed(AuthFailure::NotAuthorised(
                            "re-authentication as another user".into(),
                        ));
                    }
                    return vec![auth(ReasonCode::SUCCESS, method, data)];
                };
                let user = user.or_else(|| enhanced.user_name.clone());
                enhanced.user = user.clone();
                accepted.request.authenticated = Some(Authenticated { user_name: user });
                if let Some(open) = &mut accepted.request.mqtt5 {
                    // The CONNACK names the method [MQTT5-4.12.0-5] and carries the last data.
                    open.connack.authentication_method = Some(method);
                    open.connack.authentication_data = data.map(Box::from);
                }
                self.accept5(accepted)
            }
            ExchangeStep::Failure(failure) => self.auth_failed(failure),
        }
    }

    /// AUTH before CONNACK: the client's answer, in AUTH 0x18 with the method of CONNECT.
    pub(super) fn auth_before_connack(&mut self, packet: &v5::Auth<'_>) -> Vec<Action> {
        if let Some(violation) = self.check_auth(packet, ReasonCode::CONTINUE_AUTHENTICATION) {
            return self.refuse5(ReasonCode::PROTOCOL_ERROR, violation);
        }
        self.continue_exchange(packet.properties.authentication_data())
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
            Step::Authenticator | Step::Client { .. } => ReasonCode::CONTINUE_AUTHENTICATION,
        };
        if let Some(violation) = self.check_auth(packet, expected) {
            return self.close(CloseReason::ProtocolViolation(violation));
        }
        let data = packet.properties.authentication_data();
        if packet.reason == ReasonCode::CONTINUE_AUTHENTICATION {
            return self.continue_exchange(data);
        }
        // AUTH 0x19: a new exchange, for the user already settled on.
        let start = ExchangeStart {
            method: enhanced.method.clone(),
            client_id: Arc::clone(&enhanced.client_id),
            user_name: enhanced.user_name.clone(),
            reauthentication: true,
            authenticated_as: enhanced.user.clone(),
        };
        if let Some(enhanced) = self.auth.as_deref_mut() {
            enhanced.step = Step::Authenticator;
        }
        vec![Action::Authenticate {
            start: Some(start),
            data: data.map(Box::from),
        }]
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

    /// The client answered the broker's AUTH 0x18: hand its data to the exchange.
    fn continue_exchange(&mut self, data: Option<&[u8]>) -> Vec<Action> {
        let Some(enhanced) = self.auth.as_deref_mut() else {
            return Vec::new();
        };
        let Step::Client { .. } = enhanced.step else {
            // AUTH 0x18 the broker did not ask for: not the client's turn.
            let violation = "AUTH 0x18 the broker did not ask for [MQTT5-4.12.0-3]";
            return if enhanced.held.is_some() {
                self.refuse5(ReasonCode::PROTOCOL_ERROR, violation)
            } else {
                self.close(CloseReason::ProtocolViolation(violation))
            };
        };
        enhanced.step = Step::Authenticator;
        vec![Action::Authenticate {
            start: None,
            data: data.map(Box::from),
        }]
    }

    /// A client that leaves the broker's AUTH 0x18 of a re-authentication unanswered until its
    /// deadline is disconnected with 0x87, as a failed re-authentication is [MQTT5-4.12.1-2].
    pub(super) fn reauthentication_expired(&mut self, now: Instant) -> Option<Vec<Action>> {
        let deadline = self.auth.as_deref()?.deadline()?;
        (now >= deadline).then(|| self.close(CloseReason::ReauthenticationTimeout))
    }

    /// An exchange failed: before CONNACK, CONNACK with the failure's code and close
    /// [MQTT5-4.12.0-4]; during a re-authentication, DISCONNECT 0x87 and close [MQTT5-4.12.1-2].
    fn auth_failed(&mut self, failure: AuthFailure) -> Vec<Action> {
        let connecting = self
            .auth
            .as_deref()
            .is_some_and(|enhanced| enhanced.held.is_some());
        let code = match failure {
            AuthFailure::BadCredentials(_) => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            AuthFailure::Unavailable(_) => ReasonCode::SERVER_UNAVAILABLE,
            AuthFailure::NotAuthorised(_) => ReasonCode::NOT_AUTHORIZED,
        };
        let why: Cow<'static, str> = match failure {
            AuthFailure::BadCredentials(why)
            | AuthFailure::NotAuthorised(why)
            | AuthFailure::Unavailable(why) => why.into(),
        };
        if connecting {
            self.refuse5(code, why)
        } else {
            self.close(CloseReason::ReauthenticationFailed(why))
        }
    }
}

fn auth(reason: ReasonCode, method: Box<str>, data: Option<Vec<u8>>) -> Action {
    Action::Send(OutPacket::Auth(Box::new(Auth5 {
        reason,
        method,
        data: data.unwrap_or_default().into(),
    })))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mqtt_codec::v5::{Properties, Property};
    use mqtt_codec::{Delivery, TopicName};

    use super::*;
    use crate::connection::protocol::tests::settings;

    const METHOD: &str = "TOY";

    /// A machine that has read, at `start`, a CONNECT with keep-alive `keep_alive`, a Will,
    /// `method` and `data`.
    fn connecting_with(
        method: &str,
        data: &[u8],
        user_name: Option<&str>,
        keep_alive: u16,
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
            keep_alive,
            properties: Properties::from_slice(&properties),
            ..v5::Connect::default()
        };
        let mut actions = Vec::new();
        machine.packet5_into(v5::Packet::Connect(connect), start, &mut actions);
        (machine, actions, start)
    }

    fn connecting(user_name: Option<&str>) -> (ProtocolMachine, Vec<Action>, Instant) {
        connecting_with(METHOD, b"hello", user_name, 0)
    }

    fn auth_packet(
        machine: &mut ProtocolMachine,
        reason: ReasonCode,
        method: &str,
        data: &[u8],
        now: Instant,
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
            now,
            &mut actions,
        );
        actions
    }

    fn ask(start: Option<ExchangeStart>, data: &[u8]) -> Action {
        Action::Authenticate {
            start,
            data: Some(data.into()),
        }
    }

    fn challenge(data: &[u8]) -> Action {
        auth(
            ReasonCode::CONTINUE_AUTHENTICATION,
            METHOD.into(),
            Some(data.to_vec()),
        )
    }

    fn success(data: Option<&[u8]>, user_name: Option<&str>) -> Option<ExchangeStep> {
        Some(ExchangeStep::Success {
            data: data.map(<[u8]>::to_vec),
            user_name: user_name.map(str::to_owned),
        })
    }

    /// A machine whose authenticator answered CONNECT's data with a challenge.
    fn challenged() -> (ProtocolMachine, Instant) {
        let (mut machine, actions, start) = connecting(None);
        let expected = ExchangeStart {
            method: METHOD.into(),
            client_id: "c".into(),
            user_name: None,
            reauthentication: false,
            authenticated_as: None,
        };
        assert_eq!(actions, [ask(Some(expected), b"hello")]);
        let actions =
            machine.exchange_step(Some(ExchangeStep::Continue(b"prove it".to_vec())), start);
        assert_eq!(
            actions,
            [challenge(b"prove it")],
            "AUTH 0x18 naming the method [MQTT5-4.12.0-2] [MQTT5-4.12.0-5]"
        );
        (machine, start)
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

    fn disconnected_with(actions: &[Action]) -> Option<ReasonCode> {
        match actions {
            [
                Action::Send(OutPacket::Disconnect(code, _)),
                Action::Close(_),
            ] => Some(*code),
            _ => None,
        }
    }

    #[test]
    fn a_successful_exchange_ends_in_connack_0_naming_the_method_mqtt5_4_12_0_5() {
        let (mut machine, start) = challenged();
        let actions = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            METHOD,
            b"proof",
            start,
        );
        assert_eq!(
            actions,
            [Action::Authenticate {
                start: None,
                data: Some(b"proof".as_slice().into())
            }]
        );
        let actions = machine.exchange_step(success(Some(b"welcome"), Some("alice")), start);
        let [Action::Open(request)] = actions.as_slice() else {
            panic!("expected Open, got {actions:?}");
        };
        assert_eq!(
            request.authenticated,
            Some(Authenticated {
                user_name: Some("alice".into())
            })
        );
        let connack = &request.mqtt5.as_ref().expect("5.0").connack;
        assert_eq!(connack.authentication_method.as_deref(), Some(METHOD));
        assert_eq!(
            connack.authentication_data.as_deref(),
            Some(&b"welcome"[..])
        );
        // Connected now: the Will is armed, the keep-alive rules apply.
        assert!(
            machine
                .connection_lost()
                .iter()
                .any(|action| matches!(action, Action::Close(close) if close.will.is_some()))
        );
    }

    /// An authenticator that names no user leaves the client CONNECT's User Name, or none; the
    /// client is authenticated all the same (the password chain is not asked).
    #[test]
    fn success_without_a_user_name_keeps_connects() {
        for user_name in [Some("bob"), None] {
            let (mut machine, _, start) = connecting(user_name);
            let actions = machine.exchange_step(success(None, None), start);
            let [Action::Open(request)] = actions.as_slice() else {
                panic!("expected Open, got {actions:?}");
            };
            assert_eq!(
                request.authenticated,
                Some(Authenticated {
                    user_name: user_name.map(Arc::from)
                })
            );
            let connack = &request.mqtt5.as_ref().expect("5.0").connack;
            assert_eq!(connack.authentication_data, None);
        }
    }

    #[test]
    fn each_failure_is_its_connack_code_and_no_will_mqtt5_4_12_0_4() {
        for (failure, code) in [
            (
                AuthFailure::BadCredentials("wrong".into()),
                ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            ),
            (
                AuthFailure::NotAuthorised("no".into()),
                ReasonCode::NOT_AUTHORIZED,
            ),
            (
                AuthFailure::Unavailable("down".into()),
                ReasonCode::SERVER_UNAVAILABLE,
            ),
        ] {
            let (mut machine, start) = challenged();
            let _ = auth_packet(
                &mut machine,
                ReasonCode::CONTINUE_AUTHENTICATION,
                METHOD,
                b"proof",
                start,
            );
            let actions = machine.exchange_step(Some(ExchangeStep::Failure(failure)), start);
            assert_eq!(refused_with(&actions), Some(code), "{actions:?}");
        }
    }

    #[test]
    fn a_method_no_authenticator_runs_is_0x8c_mqtt5_4_12_0_1() {
        let (mut machine, _, start) = connecting(None);
        let actions = machine.exchange_step(None, start);
        assert_eq!(
            refused_with(&actions),
            Some(ReasonCode::BAD_AUTHENTICATION_METHOD)
        );
    }

    #[test]
    fn auth_with_another_method_is_a_protocol_error_mqtt5_4_12_0_5() {
        let (mut machine, start) = challenged();
        let actions = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            "OTHER",
            b"proof",
            start,
        );
        assert_eq!(refused_with(&actions), Some(ReasonCode::PROTOCOL_ERROR));
    }

    #[test]
    fn auth_other_than_0x18_during_the_exchange_is_a_protocol_error_mqtt5_4_12_0_3() {
        let (mut machine, start) = challenged();
        let actions = auth_packet(
            &mut machine,
            ReasonCode::RE_AUTHENTICATE,
            METHOD,
            b"x",
            start,
        );
        assert_eq!(refused_with(&actions), Some(ReasonCode::PROTOCOL_ERROR));
        // Nor may the client speak before the broker asked it to.
        let (mut machine, _, start) = connecting(None);
        let actions = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            METHOD,
            b"x",
            start,
        );
        assert_eq!(refused_with(&actions), Some(ReasonCode::PROTOCOL_ERROR));
    }

    #[test]
    fn other_packets_during_the_exchange_are_protocol_errors() {
        let (mut machine, start) = challenged();
        let mut actions = Vec::new();
        machine.packet5_into(
            v5::Packet::Publish(v5::Publish {
                topic: TopicName::new("t").ok(),
                payload: b"x",
                delivery: Delivery::AtMostOnce,
                retain: false,
                properties: Properties::default(),
            }),
            start,
            &mut actions,
        );
        assert_eq!(refused_with(&actions), Some(ReasonCode::PROTOCOL_ERROR));
    }

    #[test]
    fn a_client_that_stalls_mid_exchange_is_closed_at_connect_timeout() {
        let (mut machine, start) = challenged();
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

    /// Connected through an exchange that settled on user "alice", with this keep-alive.
    fn connected(keep_alive: u16) -> (ProtocolMachine, Instant) {
        let (mut machine, _, start) = connecting_with(METHOD, b"hello", None, keep_alive);
        let actions = machine.exchange_step(success(None, Some("alice")), start);
        assert!(matches!(actions.as_slice(), [Action::Open(_)]));
        (machine, start)
    }

    /// Re-authenticating `machine` at `now`: AUTH 0x19, then the authenticator's challenge.
    fn reauthenticating(machine: &mut ProtocolMachine, now: Instant) {
        let actions = auth_packet(machine, ReasonCode::RE_AUTHENTICATE, METHOD, b"again", now);
        let expected = ExchangeStart {
            method: METHOD.into(),
            client_id: "c".into(),
            user_name: None,
            reauthentication: true,
            authenticated_as: Some("alice".into()),
        };
        assert_eq!(actions, [ask(Some(expected), b"again")]);
        let actions =
            machine.exchange_step(Some(ExchangeStep::Continue(b"prove it".to_vec())), now);
        assert_eq!(actions, [challenge(b"prove it")]);
    }

    #[test]
    fn re_authentication_runs_a_new_exchange_and_ends_in_auth_0_mqtt5_4_12_1_1() {
        let (mut machine, start) = connected(0);
        reauthenticating(&mut machine, start);
        let actions = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            METHOD,
            b"proof",
            start,
        );
        assert_eq!(actions, [ask(None, b"proof")]);
        for user_name in [Some("alice"), None] {
            if user_name.is_none() {
                reauthenticating(&mut machine, start);
                let _ = auth_packet(
                    &mut machine,
                    ReasonCode::CONTINUE_AUTHENTICATION,
                    METHOD,
                    b"proof",
                    start,
                );
            }
            let actions = machine.exchange_step(success(Some(b"ok"), user_name), start);
            assert_eq!(
                actions,
                [auth(
                    ReasonCode::SUCCESS,
                    METHOD.into(),
                    Some(b"ok".to_vec())
                )]
            );
            assert_eq!(machine.deadline(), None, "no exchange waits on the client");
        }
    }

    #[test]
    fn a_failed_re_authentication_or_another_user_is_disconnect_0x87_mqtt5_4_12_1_2() {
        let answers = [
            Some(ExchangeStep::Failure(AuthFailure::BadCredentials(
                "wrong".into(),
            ))),
            success(None, Some("mallory")),
            None,
        ];
        for answer in answers {
            let (mut machine, start) = connected(0);
            reauthenticating(&mut machine, start);
            let _ = auth_packet(
                &mut machine,
                ReasonCode::CONTINUE_AUTHENTICATION,
                METHOD,
                b"proof",
                start,
            );
            let actions = machine.exchange_step(answer.clone(), start);
            assert_eq!(
                disconnected_with(&actions),
                Some(ReasonCode::NOT_AUTHORIZED),
                "{answer:?}: {actions:?}"
            );
        }
    }

    /// The broker's AUTH 0x18 of a re-authentication left unanswered for `connect_timeout` is
    /// DISCONNECT 0x87 [MQTT5-4.12.1-2], however long the keep-alive would let the connection
    /// live; other packets meanwhile do not put it off, the client's answer does.
    #[test]
    fn a_stalled_re_authentication_is_disconnected_at_connect_timeout_mqtt5_4_12_1_2() {
        let timeout = settings().connect_timeout;
        let (mut machine, start) = connected(600);
        let asked = start + Duration::from_secs(60);
        reauthenticating(&mut machine, asked);
        assert_eq!(machine.deadline(), Some(asked + timeout));
        let mut actions = Vec::new();
        machine.packet5_into(v5::Packet::PingReq, asked + timeout / 2, &mut actions);
        assert_eq!(actions, [Action::Send(OutPacket::PingResp)]);
        assert_eq!(
            machine.deadline(),
            Some(asked + timeout),
            "PINGREQ is no answer"
        );
        assert!(
            machine
                .tick(asked + timeout - Duration::from_millis(1))
                .is_empty()
        );
        let actions = machine.tick(asked + timeout);
        assert_eq!(
            disconnected_with(&actions),
            Some(ReasonCode::NOT_AUTHORIZED),
            "{actions:?}"
        );
        assert!(matches!(
            actions.last(),
            Some(Action::Close(close)) if close.reason == CloseReason::ReauthenticationTimeout
        ));

        // Answered in time: back to the keep-alive's deadline alone.
        let (mut machine, start) = connected(600);
        reauthenticating(&mut machine, start);
        let answered = start + timeout / 2;
        let _ = auth_packet(
            &mut machine,
            ReasonCode::CONTINUE_AUTHENTICATION,
            METHOD,
            b"proof",
            answered,
        );
        let _ = machine.exchange_step(success(None, None), answered);
        assert_eq!(
            machine.deadline(),
            Some(answered + Duration::from_secs(900))
        );
        assert!(machine.tick(start + timeout).is_empty());
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
        let actions = auth_packet(&mut machine, ReasonCode::RE_AUTHENTICATE, METHOD, b"x", now);
        assert_eq!(
            disconnected_with(&actions),
            Some(ReasonCode::PROTOCOL_ERROR)
        );
    }
}

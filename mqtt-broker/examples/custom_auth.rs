//! A broker embedded in a program that brings its own security: devices log in with a token from
//! an in-memory table instead of a password file (or, at MQTT 5.0, by answering a challenge with
//! it, so that the token never crosses the wire), each may publish only under its own topic, and
//! every connection is logged by a hook. Then a few clients try it out, and the program checks
//! that each got the answer it should (CI runs it: `cargo run -p mqtt-broker --example custom_auth`).
//!
//! The four traits are in `mqtt_broker::hooks`; its documentation says how decisions combine with
//! the built-in password file and ACL, and what each decision does on the wire.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mqtt_broker::hooks::{
    AuthFailure, Authentication, AuthenticationExchange, Authenticator, Authoriser, ClientInfo,
    ConnectRequest, DisconnectReason, EnhancedAuthenticator, ExchangeRequest, ExchangeStep, Hooks,
    MessageView, Permission,
};
use mqtt_broker::{Broker, Config};
use mqtt_client::v5::ConnectProperties;
use mqtt_client::{Client, ConnectOptions, ConnectReturnCode, Error, QoS};

/// Device name → token. A real program would ask a database or an identity service here; an
/// authenticator may block, since it only delays the client being authenticated.
struct DeviceTokens(HashMap<String, String>);

impl Authenticator for DeviceTokens {
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Authentication {
        let Some(device) = request.user_name() else {
            // No user name: not a device. Defer, and `allow_anonymous` decides.
            return Authentication::Defer;
        };
        let token = request.password().unwrap_or_default();
        match self.0.get(device) {
            Some(expected) if expected.as_bytes() == token => Authentication::Accept,
            _ => Authentication::BadCredentials(format!("no such device or wrong token: {device}")),
        }
    }
}

/// MQTT 5.0 enhanced authentication with the same tokens: the device names itself in CONNECT, the
/// broker answers with a fresh challenge (AUTH 0x18), and the device proves it holds its token by
/// answering `<token>:<challenge>`. A toy, to show the hook: a real method sends a keyed hash of
/// the challenge, never the token (SCRAM-SHA-256 is built in for that).
struct TokenChallenge {
    tokens: Arc<HashMap<String, String>>,
    challenges: AtomicUsize,
}

impl EnhancedAuthenticator for TokenChallenge {
    fn methods(&self) -> Vec<String> {
        vec!["EXAMPLE-CHALLENGE".into()]
    }

    fn start(
        &self,
        _method: &str,
        _request: &ExchangeRequest<'_>,
    ) -> Option<Box<dyn AuthenticationExchange>> {
        let challenge = self.challenges.fetch_add(1, Ordering::Relaxed);
        Some(Box::new(Challenged {
            tokens: Arc::clone(&self.tokens),
            challenge: format!("challenge-{challenge}"),
            device: None,
        }))
    }
}

/// One device's exchange: its name first, then its answer.
struct Challenged {
    tokens: Arc<HashMap<String, String>>,
    challenge: String,
    device: Option<String>,
}

impl AuthenticationExchange for Challenged {
    fn step(&mut self, data: Option<&[u8]>) -> ExchangeStep {
        let data = String::from_utf8_lossy(data.unwrap_or_default()).into_owned();
        match self.device.take() {
            None => {
                self.device = Some(data);
                ExchangeStep::Continue(self.challenge.clone().into_bytes())
            }
            Some(device) => {
                let expected = self
                    .tokens
                    .get(&device)
                    .map(|token| format!("{token}:{}", self.challenge));
                if expected.as_deref() == Some(data.as_str()) {
                    ExchangeStep::Success {
                        data: None,
                        user_name: Some(device),
                    }
                } else {
                    ExchangeStep::Failure(AuthFailure::BadCredentials(format!(
                        "wrong answer to the challenge from {device:?}"
                    )))
                }
            }
        }
    }
}

/// The device's side of `EXAMPLE-CHALLENGE`, for `mqtt_client`.
struct DeviceAnswer {
    device: &'static str,
    token: &'static str,
}

impl mqtt_client::v5::Authenticator for DeviceAnswer {
    fn method(&self) -> &str {
        "EXAMPLE-CHALLENGE"
    }

    fn initial_data(&self) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(self.device.as_bytes().to_vec()))
    }

    fn challenge(&self, data: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let challenge = String::from_utf8_lossy(data.unwrap_or_default());
        Ok(format!("{}:{challenge}", self.token).into_bytes())
    }

    fn finish(&self, _data: Option<&[u8]>) -> Result<(), String> {
        Ok(())
    }
}

/// A device publishes under `devices/<its name>/` only; reading is open. Anonymous clients may
/// read but not publish.
struct OwnTopicsOnly;

impl Authoriser for OwnTopicsOnly {
    fn may_publish(&self, client: &ClientInfo, message: &MessageView<'_>) -> Permission {
        let own = client.user_name().is_some_and(|device| {
            message
                .topic()
                .strip_prefix("devices/")
                .and_then(|rest| rest.strip_prefix(device))
                .is_some_and(|rest| rest.starts_with('/'))
        });
        if own {
            Permission::Allow
        } else {
            Permission::Deny
        }
    }
}

/// Counts and logs connections.
#[derive(Default)]
struct ConnectionLog {
    connected: AtomicUsize,
}

impl Hooks for ConnectionLog {
    fn on_connect(&self, client: &ClientInfo) {
        let now = self.connected.fetch_add(1, Ordering::Relaxed) + 1;
        println!(
            "hook: {} connected as {:?} ({now} connected)",
            client.client_id(),
            client.user_name()
        );
    }

    fn on_disconnect(&self, client: &ClientInfo, reason: DisconnectReason) {
        self.connected.fetch_sub(1, Ordering::Relaxed);
        println!("hook: {} disconnected: {reason:?}", client.client_id());
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tokens = Arc::new(HashMap::from([
        ("thermostat".to_owned(), "t0k3n".to_owned()),
        ("doorbell".to_owned(), "d1ng".to_owned()),
    ]));
    let broker = Broker::builder(Config {
        listeners: vec!["127.0.0.1:0".parse()?],
        sys_interval: Duration::ZERO,
        ..Config::default()
    })
    .authenticator(Arc::new(DeviceTokens((*tokens).clone())))
    .enhanced_authenticator(Arc::new(TokenChallenge {
        tokens: Arc::clone(&tokens),
        challenges: AtomicUsize::new(0),
    }))
    .authoriser(Arc::new(OwnTopicsOnly))
    .hooks(Arc::new(ConnectionLog::default()))
    .start()?;
    let port = broker.local_addrs()[0].port();
    let options = |client_id: &str, login: Option<(&str, &str)>| {
        let mut builder = ConnectOptions::builder("127.0.0.1", port).client_id(client_id);
        if let Some((device, token)) = login {
            builder = builder.credentials(device, Some(token.as_bytes().to_vec()));
        }
        builder.build()
    };

    // A wrong token is CONNACK 4, bad user name or password.
    match Client::connect(options("intruder", Some(("thermostat", "guess")))?) {
        Err(Error::Refused(ConnectReturnCode::BadUserNameOrPassword)) => {
            println!("intruder refused with CONNACK 4, as it should be");
        }
        Ok(_) => return Err("the intruder was let in".into()),
        Err(error) => return Err(format!("the intruder was refused oddly: {error}").into()),
    }

    // An anonymous dashboard reads everything under devices/.
    let dashboard = Client::connect(options("dashboard", None)?)?;
    dashboard
        .subscribe(&[("devices/#", QoS::AtLeastOnce)])?
        .wait()?;
    let thermostat = Client::connect(options("thermostat-1", Some(("thermostat", "t0k3n")))?)?;
    // Its own topic: delivered. The doorbell's: acknowledged (so it does not retry) and dropped.
    thermostat
        .publish("devices/doorbell/ring", "fake", QoS::AtLeastOnce, false)?
        .wait()?;
    thermostat
        .publish("devices/thermostat/temp", "21.5", QoS::AtLeastOnce, false)?
        .wait()?;
    let received = dashboard
        .messages()
        .recv_timeout(Duration::from_secs(5))
        .ok_or("the dashboard received nothing")?;
    println!(
        "dashboard received {}: {}",
        received.topic,
        String::from_utf8_lossy(&received.payload)
    );
    if received.topic != "devices/thermostat/temp" {
        return Err("the forged doorbell message got through".into());
    }

    // At 5.0 the doorbell answers a challenge instead of sending its token, and then acts as
    // "doorbell": its own topic is delivered.
    let challenged = |client_id: &str, device: &'static str, token: &'static str| {
        ConnectOptions::builder("127.0.0.1", port)
            .client_id(client_id)
            .mqtt5(ConnectProperties::default())
            .authenticator(Arc::new(DeviceAnswer { device, token }))
            .build()
    };
    // A wrong answer is CONNACK 0x86, bad user name or password.
    match Client::connect(challenged("doorbell-intruder", "doorbell", "guess")?) {
        Err(error @ Error::RefusedWithReason { reason, .. })
            if reason == mqtt_client::v5::ReasonCode::BAD_USER_NAME_OR_PASSWORD =>
        {
            println!("a wrong answer to the challenge is refused: {error}");
        }
        Ok(_) => return Err("a wrong answer to the challenge was let in".into()),
        Err(error) => return Err(format!("a wrong answer was refused oddly: {error}").into()),
    }
    let doorbell = Client::connect(challenged("doorbell-1", "doorbell", "d1ng")?)?;
    doorbell
        .publish("devices/doorbell/ring", "ding", QoS::AtLeastOnce, false)?
        .wait()?;
    let rang = dashboard
        .messages()
        .recv_timeout(Duration::from_secs(5))
        .ok_or("the dashboard did not hear the doorbell")?;
    println!(
        "dashboard received {}: {}",
        rang.topic,
        String::from_utf8_lossy(&rang.payload)
    );
    if rang.topic != "devices/doorbell/ring" {
        return Err("the doorbell's message did not arrive".into());
    }
    doorbell.disconnect();
    thermostat.disconnect();
    dashboard.disconnect();
    broker.shutdown();
    Ok(())
}

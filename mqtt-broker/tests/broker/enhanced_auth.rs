//! MQTT 5.0 enhanced authentication (5.0 §4.12). First SCRAM-SHA-256, the built-in method: our
//! own client's `Scram` authenticator against the broker, then the exchange byte by byte over a
//! raw socket (driven by the `mqtt-scram` client machine), and what a broken or stalled client
//! gets. The users come from a `scram_password_file` written with `mqtt_broker::scram_line`, as
//! `mqtt-passwd --scram` writes it, or from a registered `ScramCredentialStore`. Then a method of a
//! test plugin, `TOY-CHALLENGE`, through the `EnhancedAuthenticator` hook: connecting,
//! re-authenticating, failing, and stalling a re-authentication.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mqtt_broker::hooks::{
    AuthFailure, AuthenticationExchange, ClientInfo, EnhancedAuthenticator, ExchangeRequest,
    ExchangeStep, Hooks, Listener, ScramCredentialStore, StoredCredentials,
};
use mqtt_broker::{Broker, BrokerHandle, Config};
use mqtt_client::v5::{ConnectProperties, ReasonCode};
use mqtt_client::{Client, ConnectOptions, Error, QoS, Scram};
use mqtt_codec::v5::{self, Properties, Property};

use crate::client::{TempDir, broker_with};
use crate::mqtt5::{Client5, Got5, connect};

const METHOD: &str = "SCRAM-SHA-256";

/// A broker whose `scram_password_file` knows "sensor" with password "pencil"; anonymous clients
/// refused, so that only SCRAM lets anyone in.
fn scram_broker(connect_timeout: Duration) -> (BrokerHandle, SocketAddr, TempDir) {
    let dir = TempDir::new("scram");
    let line = mqtt_broker::scram_line("sensor", "pencil", 4096).expect("random works");
    let file = dir.file("scram", &format!("# SCRAM users\n{line}\n"));
    let (broker, address) = broker_with(Config {
        scram_password_file: Some(file),
        allow_anonymous: Some(false),
        connect_timeout,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    (broker, address, dir)
}

fn client_options(address: SocketAddr, id: &str, scram: Scram) -> ConnectOptions {
    ConnectOptions::builder("127.0.0.1", address.port())
        .client_id(id)
        .mqtt5(ConnectProperties::default())
        .authenticator(Arc::new(scram))
        .build()
        .expect("options")
}

/// CONNECT with SCRAM-SHA-256 and `client_first` as its Authentication Data.
fn scram_connect<'a>(properties: &'a [Property<'a>], client_id: &'a str) -> v5::Packet<'a> {
    v5::Packet::Connect(v5::Connect {
        properties: Properties::from_slice(properties),
        ..connect(client_id)
    })
}

fn auth(client: &mut Client5, reason: ReasonCode, method: &str, data: &[u8]) {
    let properties = [
        Property::AuthenticationMethod(method),
        Property::AuthenticationData(data),
    ];
    client.send(v5::Packet::Auth(v5::Auth {
        reason,
        properties: Properties::from_slice(&properties),
    }));
}

/// Expects AUTH 0x18 naming SCRAM-SHA-256 [MQTT5-4.12.0-2] [MQTT5-4.12.0-5] and returns its data.
fn challenge(client: &mut Client5) -> Vec<u8> {
    match client.recv() {
        Got5::Auth {
            reason: 0x18,
            method: Some(method),
            data: Some(data),
        } if method == METHOD => data,
        other => panic!("expected AUTH 0x18 with server-first, got {other:?}"),
    }
}

/// What a client sees at the end of the raw exchange with this password.
fn raw_exchange(address: SocketAddr, password: &str) -> (Client5, Got5) {
    let mut client = Client5::open(address);
    let nonce = mqtt_scram::nonce().expect("random");
    let (state, first) = mqtt_scram::client_first("sensor", password, &nonce).expect("start");
    let properties = [
        Property::AuthenticationMethod(METHOD),
        Property::AuthenticationData(&first),
    ];
    client.send(scram_connect(&properties, "raw"));
    let server_first = challenge(&mut client);
    let (_, last) = state.server_first(&server_first).expect("server-first");
    auth(
        &mut client,
        ReasonCode::CONTINUE_AUTHENTICATION,
        METHOD,
        &last,
    );
    let answer = client.recv();
    (client, answer)
}

/// Our client's `Scram` authenticator connects, and the broker proved itself to it (the client
/// checks server-final before `connect` returns); the connection then works like any other.
#[test]
fn our_client_authenticates_with_scram_mqtt5_4_12_0_2() {
    let (_broker, address, _dir) = scram_broker(Duration::from_secs(10));
    let scram = Scram::new("sensor", "pencil").expect("ascii");
    let client = Client::connect(client_options(address, "scram-ok", scram)).expect("connects");
    client
        .subscribe(&[("scram/t", QoS::AtLeastOnce)])
        .expect("queued")
        .wait()
        .expect("SUBACK");
    client
        .publish("scram/t", "hi", QoS::AtLeastOnce, false)
        .expect("queued")
        .wait()
        .expect("PUBACK");
    let message = client.messages().next().expect("its own message back");
    assert_eq!(message.payload, b"hi");
    client.disconnect();
}

/// A wrong password fails at the proof: CONNACK 0x86 (Bad User Name or Password), and the
/// connection is closed [MQTT5-4.12.0-4]. An unknown user is told the same, after the same
/// exchange, so that user names cannot be probed.
#[test]
fn a_wrong_password_or_an_unknown_user_is_refused_0x86_mqtt5_4_12_0_4() {
    let (_broker, address, _dir) = scram_broker(Duration::from_secs(10));
    for (user, password) in [("sensor", "crayon"), ("nobody", "pencil")] {
        let scram = Scram::new(user, password).expect("ascii");
        match Client::connect(client_options(address, "scram-bad", scram)) {
            Err(Error::RefusedWithReason { reason, .. }) => {
                assert_eq!(reason, ReasonCode::BAD_USER_NAME_OR_PASSWORD, "{user}");
            }
            other => panic!(
                "expected CONNACK 0x86 for {user}, got {:?}",
                other.map(|_| "a connection")
            ),
        }
    }
    let (mut client, answer) = raw_exchange(address, "crayon");
    assert!(
        matches!(
            answer,
            Got5::ConnAck {
                reason: 0x86,
                session_present: false,
                ..
            }
        ),
        "{answer:?}"
    );
    client.expect_closed();
}

/// The exchange on the wire: CONNECT with client-first, AUTH 0x18 with server-first, AUTH 0x18 with
/// client-final, CONNACK 0x00 naming the method with server-final, which proves the broker knows
/// the credentials [MQTT5-4.12.0-5]. Then a re-authentication (5.0 §4.12.1): AUTH 0x19 with a new
/// client-first, the same challenge and answer, and AUTH 0x00 with server-final.
#[test]
fn the_exchange_is_connect_auth_auth_connack_and_can_be_repeated_mqtt5_4_12_1_1() {
    let (_broker, address, _dir) = scram_broker(Duration::from_secs(10));
    let mut client = Client5::open(address);
    let nonce = mqtt_scram::nonce().expect("random");
    let (state, first) = mqtt_scram::client_first("sensor", "pencil", &nonce).expect("start");
    let properties = [
        Property::AuthenticationMethod(METHOD),
        Property::AuthenticationData(&first),
    ];
    client.send(scram_connect(&properties, "raw-ok"));
    let server_first = challenge(&mut client);
    let (state, last) = state.server_first(&server_first).expect("server-first");
    auth(
        &mut client,
        ReasonCode::CONTINUE_AUTHENTICATION,
        METHOD,
        &last,
    );
    // CONNACK 0x00 names the method and carries server-final, which proves the broker knew the
    // credentials.
    let connack = client.try_recv_with(|packet| match packet {
        v5::Packet::ConnAck(connack) => Some((
            connack.reason.get(),
            connack
                .properties
                .authentication_method()
                .map(str::to_owned),
            connack.properties.authentication_data().map(<[u8]>::to_vec),
        )),
        _ => None,
    });
    let Some(Some((0, Some(method), Some(server_final)))) = connack else {
        panic!("expected CONNACK 0x00 with method and server-final, got {connack:?}");
    };
    assert_eq!(method, METHOD);
    assert_eq!(state.server_final(&server_final), Ok(()));
    client.barrier();

    // Re-authentication, on the live connection.
    let nonce = mqtt_scram::nonce().expect("random");
    let (again, first) = mqtt_scram::client_first("sensor", "pencil", &nonce).expect("start");
    auth(&mut client, ReasonCode::RE_AUTHENTICATE, METHOD, &first);
    let server_first = challenge(&mut client);
    let (again, last) = again.server_first(&server_first).expect("server-first");
    auth(
        &mut client,
        ReasonCode::CONTINUE_AUTHENTICATION,
        METHOD,
        &last,
    );
    match client.recv() {
        Got5::Auth {
            reason: 0,
            method: Some(method),
            data: Some(data),
        } if method == METHOD => {
            assert_eq!(
                again.server_final(&data),
                Ok(()),
                "the broker proved itself"
            );
        }
        other => panic!("expected AUTH 0x00 with server-final, got {other:?}"),
    }
    client.barrier();
}

/// AUTH naming another method than CONNECT's is a Protocol Error [MQTT5-4.12.0-5]: CONNACK 0x82,
/// then the close.
#[test]
fn auth_with_another_method_is_a_protocol_error_mqtt5_4_12_0_5() {
    let (_broker, address, _dir) = scram_broker(Duration::from_secs(10));
    let mut client = Client5::open(address);
    let (_, first) = mqtt_scram::client_first("sensor", "pencil", "abc").expect("start");
    let properties = [
        Property::AuthenticationMethod(METHOD),
        Property::AuthenticationData(&first),
    ];
    client.send(scram_connect(&properties, "other-method"));
    let _ = challenge(&mut client);
    auth(
        &mut client,
        ReasonCode::CONTINUE_AUTHENTICATION,
        "SCRAM-SHA-1",
        b"c=biws",
    );
    assert!(matches!(
        client.recv(),
        Got5::ConnAck {
            reason: 0x82,
            session_present: false,
            ..
        }
    ));
    client.expect_closed();
}

/// A client that stops after the broker's challenge is closed once `connect_timeout` (counted from
/// the connection's start) runs out: no half-authenticated connection lingers.
#[test]
fn a_client_that_stops_mid_exchange_is_closed_at_connect_timeout() {
    let (_broker, address, _dir) = scram_broker(Duration::from_millis(500));
    let mut client = Client5::open(address);
    let (_, first) = mqtt_scram::client_first("sensor", "pencil", "abc").expect("start");
    let properties = [
        Property::AuthenticationMethod(METHOD),
        Property::AuthenticationData(&first),
    ];
    client.send(scram_connect(&properties, "stalled"));
    let _ = challenge(&mut client);
    // Nothing more from us: the read returns the close well within the test's own limit.
    client.expect_closed();
}

/// SCRAM on a broker with no source of SCRAM credentials is a method it does not offer: 0x8C
/// [MQTT5-4.12.0-1]. A registered `ScramCredentialStore` is such a source.
#[test]
fn scram_needs_a_credential_source_else_0x8c_mqtt5_4_12_0_1() {
    let (_broker, address) = broker_with(Config {
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let scram = Scram::new("sensor", "pencil").expect("ascii");
    match Client::connect(client_options(address, "no-source", scram)) {
        Err(Error::RefusedWithReason { reason, .. }) => {
            assert_eq!(reason, ReasonCode::BAD_AUTHENTICATION_METHOD);
        }
        other => panic!(
            "expected CONNACK 0x8C, got {:?}",
            other.map(|_| "a connection")
        ),
    }

    struct Store(StoredCredentials);
    impl ScramCredentialStore for Store {
        fn scram_credentials(&self, user: &str, _: Listener) -> Option<StoredCredentials> {
            (user == "app").then(|| self.0.clone())
        }
    }
    let stored = StoredCredentials::generate("s3cret", 4096).expect("random");
    let broker = Broker::builder(Config {
        listeners: vec![SocketAddr::from(([127, 0, 0, 1], 0)).into()],
        allow_anonymous: Some(false),
        sys_interval: Duration::ZERO,
        ..Config::default()
    })
    .scram_credentials(Arc::new(Store(stored)))
    .start()
    .expect("starts");
    let address = broker.local_addrs()[0];
    let scram = Scram::new("app", "s3cret").expect("ascii");
    let client = Client::connect(client_options(address, "stored", scram)).expect("connects");
    client.disconnect();
    broker.shutdown();
}

/// `mqtt-passwd --scram` writes a `scram_password_file` the broker reads: a user it adds can
/// connect with SCRAM, one it deletes cannot; `-U` is refused with it.
#[test]
fn mqtt_passwd_scram_writes_what_the_broker_reads() {
    let passwd = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mqtt-passwd"))
            .args(args)
            .output()
            .expect("mqtt-passwd runs")
            .status
            .success()
    };
    let dir = TempDir::new("passwd-scram");
    let file = dir.0.join("scram");
    let path = file.to_str().expect("utf-8 path");
    assert!(passwd(&["--scram", "-c", "-b", path, "sensor", "pencil"]));
    assert!(passwd(&["--scram", "-b", path, "gone", "pencil"]));
    assert!(passwd(&["-D", path, "gone"]));
    assert!(!passwd(&["--scram", "-U", path]));
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.starts_with("sensor:SCRAM-SHA-256$4096:"), "{text}");
    let (_broker, address) = broker_with(Config {
        scram_password_file: Some(file),
        allow_anonymous: Some(false),
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let scram = Scram::new("sensor", "pencil").expect("ascii");
    let client = Client::connect(client_options(address, "from-file", scram)).expect("connects");
    client.disconnect();
    let scram = Scram::new("gone", "pencil").expect("ascii");
    assert!(Client::connect(client_options(address, "deleted", scram)).is_err());
}

/// Our client's `reauthenticate()` (AUTH 0x19) passes while the credentials hold: the exchange runs
/// behind the application's packets and the connection stays up. Once the user's credentials
/// change (the file rewritten and reloaded, as on SIGHUP), the next re-authentication fails and
/// the broker ends the connection with DISCONNECT 0x87 [MQTT5-4.12.1-2].
#[test]
fn re_authentication_holds_until_the_credentials_change_mqtt5_4_12_1_2() {
    let (broker, address, dir) = scram_broker(Duration::from_secs(10));
    let scram = Scram::new("sensor", "pencil").expect("ascii");
    let client = Client::connect(client_options(address, "reauth", scram)).expect("connects");
    let notifications = client.notifications();
    client.reauthenticate().expect("AUTH 0x19 queued");
    // Packets queued after AUTH 0x19 are answered after the broker's AUTH 0x18, and those queued
    // after the SUBACK after its AUTH 0x00: by this PUBACK the exchange is over, and passed.
    client
        .subscribe(&[("reauth/t", QoS::AtLeastOnce)])
        .expect("queued")
        .wait()
        .expect("SUBACK");
    client
        .publish("reauth/t", "still here", QoS::AtLeastOnce, false)
        .expect("queued")
        .wait()
        .expect("PUBACK: still connected");
    assert!(client.is_connected());

    let line = mqtt_broker::scram_line("sensor", "changed", 4096).expect("random works");
    dir.file("scram", &format!("{line}\n"));
    broker.reload().expect("reloads");
    client.reauthenticate().expect("AUTH 0x19 queued");
    // Bounded: a broker that let the connection live would fail the test, not hang it.
    let ended = loop {
        match notifications.recv_timeout(crate::client::WAIT) {
            Ok(mqtt_client::Notification::ConnectionLost(error)) => break error,
            Ok(_) => {}
            Err(_) => panic!("the connection outlived a failed re-authentication"),
        }
    };
    assert!(
        matches!(
            ended,
            Error::ServerDisconnected {
                reason: ReasonCode::NOT_AUTHORIZED,
                ..
            }
        ),
        "{ended:?}"
    );
}

const TOY: &str = "TOY-CHALLENGE";

/// A two-step challenge-response method, for the tests only: the client names a user in its
/// first Authentication Data; the broker answers a challenge; the client must send back the
/// challenge, a colon and the user's secret. alice's secret is "opensesame"; nobody else exists.
struct Toy;

impl EnhancedAuthenticator for Toy {
    fn methods(&self) -> Vec<String> {
        vec![TOY.into()]
    }

    fn start(
        &self,
        _: &str,
        request: &ExchangeRequest<'_>,
    ) -> Option<Box<dyn AuthenticationExchange>> {
        Some(Box::new(ToyExchange {
            client_id: request.client_id().to_owned(),
            user: None,
            authenticated_as: request.authenticated_as().map(str::to_owned),
        }))
    }
}

struct ToyExchange {
    client_id: String,
    user: Option<String>,
    authenticated_as: Option<String>,
}

impl ToyExchange {
    fn challenge(&self, user: &str) -> Vec<u8> {
        format!("challenge for {user} on {}", self.client_id).into_bytes()
    }
}

impl AuthenticationExchange for ToyExchange {
    fn step(&mut self, data: Option<&[u8]>) -> ExchangeStep {
        let data = String::from_utf8_lossy(data.unwrap_or_default()).into_owned();
        match self.user.take() {
            None if data == "alice" => {
                let challenge = self.challenge(&data);
                self.user = Some(data);
                ExchangeStep::Continue(challenge)
            }
            None => ExchangeStep::Failure(AuthFailure::NotAuthorised(format!("who is {data:?}?"))),
            Some(user) => {
                let expected = format!(
                    "{}:opensesame",
                    String::from_utf8_lossy(&self.challenge(&user))
                );
                if data != expected {
                    return ExchangeStep::Failure(AuthFailure::BadCredentials(
                        "wrong answer to the challenge".into(),
                    ));
                }
                let user_name = format!("toy:{user}");
                if let Some(previous) = &self.authenticated_as
                    && *previous != user_name
                {
                    return ExchangeStep::Failure(AuthFailure::NotAuthorised(
                        "re-authentication as another user".into(),
                    ));
                }
                ExchangeStep::Success {
                    data: Some(b"welcome".to_vec()),
                    user_name: Some(user_name),
                }
            }
        }
    }
}

/// Records the user name each client acts under once connected.
#[derive(Default)]
struct Users(parking_lot::Mutex<Vec<String>>);

impl Hooks for Users {
    fn on_connect(&self, client: &ClientInfo) {
        self.0.lock().push(format!(
            "{} as {:?}",
            client.client_id(),
            client.user_name()
        ));
    }
}

/// A broker with the `Toy` method registered (and no other way in: anonymous clients refused).
fn toy_broker(connect_timeout: Duration, users: Arc<Users>) -> BrokerHandle {
    Broker::builder(Config {
        listeners: vec![SocketAddr::from(([127, 0, 0, 1], 0)).into()],
        allow_anonymous: Some(false),
        connect_timeout,
        sys_interval: Duration::ZERO,
        ..Config::default()
    })
    .enhanced_authenticator(Arc::new(Toy))
    .hooks(users)
    .start()
    .expect("starts")
}

/// CONNECT naming `method` with `data`, by client "toy-1".
fn toy_connect(client: &mut Client5, method: &str, data: &[u8]) {
    let properties = [
        Property::AuthenticationMethod(method),
        Property::AuthenticationData(data),
    ];
    client.send(scram_connect(&properties, "toy-1"));
}

/// Expects AUTH `reason` naming the toy method and returns its data.
fn toy_auth(client: &mut Client5, reason: u8) -> Vec<u8> {
    match client.recv() {
        Got5::Auth {
            reason: got,
            method: Some(method),
            data: Some(data),
        } if got == reason && method == TOY => data,
        other => panic!("expected AUTH {reason:#04x} naming {TOY}, got {other:?}"),
    }
}

/// The answer to a toy challenge, with this secret.
fn answer(challenge: &[u8], secret: &str) -> Vec<u8> {
    let mut answer = challenge.to_vec();
    answer.extend_from_slice(format!(":{secret}").as_bytes());
    answer
}

/// A client connected through the toy method's two steps.
fn toy_connected(address: SocketAddr) -> Client5 {
    let mut client = Client5::open(address);
    toy_connect(&mut client, TOY, b"alice");
    let challenge = toy_auth(&mut client, 0x18); // [MQTT5-4.12.0-2]
    assert_eq!(challenge, b"challenge for alice on toy-1");
    auth(
        &mut client,
        ReasonCode::CONTINUE_AUTHENTICATION,
        TOY,
        &answer(&challenge, "opensesame"),
    );
    let connack = client.try_recv_with(|packet| match packet {
        v5::Packet::ConnAck(connack) => Some((
            connack.reason.get(),
            connack
                .properties
                .authentication_method()
                .map(str::to_owned),
            connack.properties.authentication_data().map(<[u8]>::to_vec),
        )),
        _ => None,
    });
    assert_eq!(
        connack,
        Some(Some((0, Some(TOY.to_owned()), Some(b"welcome".to_vec())))),
        "CONNACK 0x00 naming the method, with the plugin's last data [MQTT5-4.12.0-5]"
    );
    client
}

/// A plugin's method runs the exchange the built-in SCRAM runs: CONNECT, AUTH 0x18 both ways,
/// CONNACK 0x00 with the method and the plugin's data; the client then acts under the user name
/// the plugin named.
#[test]
fn a_plugins_method_authenticates_in_two_steps_mqtt5_4_12_0_2() {
    let users = Arc::new(Users::default());
    let broker = toy_broker(Duration::from_secs(10), Arc::clone(&users));
    let mut client = toy_connected(broker.local_addrs()[0]);
    client.barrier();
    assert_eq!(*users.0.lock(), ["toy-1 as Some(\"toy:alice\")"]);
    broker.shutdown();
}

/// The plugin's refusals are the CONNACK codes they name, then the close [MQTT5-4.12.0-4]: a wrong
/// answer 0x86, an unknown user 0x87.
#[test]
fn a_plugins_refusal_is_its_connack_code_mqtt5_4_12_0_4() {
    let broker = toy_broker(Duration::from_secs(10), Arc::default());
    let address = broker.local_addrs()[0];
    let mut client = Client5::open(address);
    toy_connect(&mut client, TOY, b"alice");
    let challenge = toy_auth(&mut client, 0x18);
    auth(
        &mut client,
        ReasonCode::CONTINUE_AUTHENTICATION,
        TOY,
        &answer(&challenge, "guess"),
    );
    assert!(matches!(
        client.recv(),
        Got5::ConnAck {
            reason: 0x86,
            session_present: false,
            ..
        }
    ));
    client.expect_closed();

    let mut client = Client5::open(address);
    toy_connect(&mut client, TOY, b"mallory");
    assert!(matches!(client.recv(), Got5::ConnAck { reason: 0x87, .. }));
    client.expect_closed();
    broker.shutdown();
}

/// A method that no registered plugin names (and no built-in, there being no SCRAM credentials)
/// is refused with CONNACK 0x8C, Bad authentication method, and the close [MQTT5-4.12.0-1].
#[test]
fn a_method_no_plugin_names_is_refused_0x8c_mqtt5_4_12_0_1() {
    let broker = toy_broker(Duration::from_secs(10), Arc::default());
    let address = broker.local_addrs()[0];
    for method in ["NOPE", METHOD] {
        let mut client = Client5::open(address);
        toy_connect(&mut client, method, b"alice");
        match client.recv() {
            Got5::ConnAck {
                reason: 0x8C,
                session_present: false,
                ..
            } => {}
            other => panic!("{method}: expected CONNACK 0x8C, got {other:?}"),
        }
        client.expect_closed();
    }
    broker.shutdown();
}

/// Re-authentication through the plugin (5.0 §4.12.1): AUTH 0x19 starts a new exchange, AUTH
/// 0x18 both ways, AUTH 0x00 ends it and the connection carries on. A wrong answer in the next
/// one is DISCONNECT 0x87 and the close [MQTT5-4.12.1-2].
#[test]
fn re_authentication_goes_through_the_plugin_mqtt5_4_12_1_2() {
    let broker = toy_broker(Duration::from_secs(10), Arc::default());
    let mut client = toy_connected(broker.local_addrs()[0]);
    auth(&mut client, ReasonCode::RE_AUTHENTICATE, TOY, b"alice"); // [MQTT5-4.12.1-1]
    let challenge = toy_auth(&mut client, 0x18);
    auth(
        &mut client,
        ReasonCode::CONTINUE_AUTHENTICATION,
        TOY,
        &answer(&challenge, "opensesame"),
    );
    assert_eq!(toy_auth(&mut client, 0x00), b"welcome");
    client.barrier();

    auth(&mut client, ReasonCode::RE_AUTHENTICATE, TOY, b"alice");
    let challenge = toy_auth(&mut client, 0x18);
    auth(
        &mut client,
        ReasonCode::CONTINUE_AUTHENTICATION,
        TOY,
        &answer(&challenge, "forgotten"),
    );
    assert_eq!(client.recv(), Got5::Disconnect(0x87));
    client.expect_closed();
    broker.shutdown();
}

/// A client that starts a re-authentication and leaves the broker's AUTH 0x18 unanswered is
/// disconnected with 0x87 once `connect_timeout` has passed [MQTT5-4.12.1-2], long before its
/// keep-alive (none here) would end the connection.
#[test]
fn a_stalled_re_authentication_is_disconnected_0x87_mqtt5_4_12_1_2() {
    let broker = toy_broker(Duration::from_millis(500), Arc::default());
    let mut client = toy_connected(broker.local_addrs()[0]);
    auth(&mut client, ReasonCode::RE_AUTHENTICATE, TOY, b"alice");
    let _ = toy_auth(&mut client, 0x18);
    // Nothing more from us: the DISCONNECT comes well within the test's own read limit.
    assert_eq!(client.recv(), Got5::Disconnect(0x87));
    client.expect_closed();
    broker.shutdown();
}

/// Lets the test hold an exchange inside the plugin: `entered` says a step began, `release` lets
/// it finish.
struct Gate {
    entered: std::sync::mpsc::SyncSender<()>,
    release: parking_lot::Mutex<std::sync::mpsc::Receiver<()>>,
}

/// A method whose only step waits at the gate, then accepts.
struct Slow(Arc<Gate>);

impl EnhancedAuthenticator for Slow {
    fn methods(&self) -> Vec<String> {
        vec!["SLOW".into()]
    }

    fn start(&self, _: &str, _: &ExchangeRequest<'_>) -> Option<Box<dyn AuthenticationExchange>> {
        Some(Box::new(SlowExchange(Arc::clone(&self.0))))
    }
}

struct SlowExchange(Arc<Gate>);

impl AuthenticationExchange for SlowExchange {
    fn step(&mut self, _: Option<&[u8]>) -> ExchangeStep {
        let _ = self.0.entered.send(());
        // Bounded, so that a broken test fails instead of hanging.
        let _ = self.0.release.lock().recv_timeout(crate::client::WAIT);
        ExchangeStep::Success {
            data: None,
            user_name: None,
        }
    }
}

/// An authenticator that blocks (on a database, say) holds up its own client only: it runs on
/// that client's thread with no broker lock held, so meanwhile other clients connect, subscribe
/// and exchange messages; once it answers, its client is accepted.
#[test]
fn a_blocked_authenticator_holds_up_its_own_client_only() {
    let (entered, entered_rx) = std::sync::mpsc::sync_channel(1);
    let (release, release_rx) = std::sync::mpsc::channel();
    let gate = Arc::new(Gate {
        entered,
        release: parking_lot::Mutex::new(release_rx),
    });
    let broker = Broker::builder(Config {
        listeners: vec![SocketAddr::from(([127, 0, 0, 1], 0)).into()],
        allow_anonymous: Some(true),
        sys_interval: Duration::ZERO,
        ..Config::default()
    })
    .enhanced_authenticator(Arc::new(Slow(gate)))
    .start()
    .expect("starts");
    let address = broker.local_addrs()[0];
    let mut slow = Client5::open(address);
    toy_connect(&mut slow, "SLOW", b"");
    entered_rx
        .recv_timeout(crate::client::WAIT)
        .expect("the exchange reached the plugin");

    // The plugin is blocked: everybody else carries on.
    let (mut other, _) = crate::client::Client::connect(address, "other", true);
    other.subscribe("busy/t", 1);
    other.publish("busy/t", b"meanwhile", 1, 1, false);
    assert!(matches!(
        other.recv(),
        crate::client::Got::Publish { ref payload, .. } if payload == b"meanwhile"
    ));
    assert_eq!(other.recv(), crate::client::Got::PubAck(1));

    release.send(()).expect("the plugin waits");
    assert!(
        matches!(slow.recv(), Got5::ConnAck { reason: 0, .. }),
        "accepted once the plugin answered"
    );
    slow.barrier();
    broker.shutdown();
}

/// The client side of `TOY-CHALLENGE`, for our own client's generic `Authenticator`.
struct ToyClient(&'static str);

impl mqtt_client::v5::Authenticator for ToyClient {
    fn method(&self) -> &str {
        TOY
    }

    fn initial_data(&self) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(b"alice".to_vec()))
    }

    fn challenge(&self, data: Option<&[u8]>) -> Result<Vec<u8>, String> {
        Ok(answer(data.unwrap_or_default(), self.0))
    }

    fn finish(&self, data: Option<&[u8]>) -> Result<(), String> {
        (data == Some(b"welcome"))
            .then_some(())
            .ok_or("no welcome".into())
    }
}

/// Our client's generic `Authenticator` speaks a plugin's method as it speaks SCRAM: it
/// connects, re-authenticates behind its application packets, and a wrong secret is refused 0x86.
#[test]
fn our_client_speaks_a_plugins_method_mqtt5_4_12_1_1() {
    let broker = toy_broker(Duration::from_secs(10), Arc::default());
    let address = broker.local_addrs()[0];
    let options = |id: &str, secret| {
        ConnectOptions::builder("127.0.0.1", address.port())
            .client_id(id)
            .mqtt5(ConnectProperties::default())
            .authenticator(Arc::new(ToyClient(secret)))
            .build()
            .expect("options")
    };
    // The toy challenge names the client id "toy-1".
    let client = Client::connect(options("toy-1", "opensesame")).expect("connects");
    client.reauthenticate().expect("AUTH 0x19 queued");
    // As with SCRAM above: the SUBACK comes after the broker's AUTH 0x18, the PUBACK after its
    // AUTH 0x00, so by the PUBACK the re-authentication has passed.
    client
        .subscribe(&[("toy/t", QoS::AtLeastOnce)])
        .expect("queued")
        .wait()
        .expect("SUBACK");
    client
        .publish("toy/t", "after", QoS::AtLeastOnce, false)
        .expect("queued")
        .wait()
        .expect("PUBACK: still connected after the re-authentication");
    assert!(client.is_connected());
    client.disconnect();
    match Client::connect(options("toy-1", "guess")) {
        Err(Error::RefusedWithReason { reason, .. }) => {
            assert_eq!(reason, ReasonCode::BAD_USER_NAME_OR_PASSWORD);
        }
        other => panic!(
            "expected CONNACK 0x86, got {:?}",
            other.map(|_| "a connection")
        ),
    }
    broker.shutdown();
}

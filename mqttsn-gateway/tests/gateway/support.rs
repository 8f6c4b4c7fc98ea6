//! Test support: a broker (ours in-process, or mosquitto as a child on a free port), a gateway in
//! front of it on `127.0.0.1:0`, and clients of both protocols. Every wait has a deadline.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqtt_broker::{Broker, BrokerHandle};
use mqttsn_gateway::client::{Client, ClientOptions, Error};
use mqttsn_gateway::{Config, GatewayHandle, GatewayKind};

/// How long any single wait may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// Which broker stands behind the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrokerKind {
    Ours,
    Mosquitto,
}

/// A running broker.
pub(crate) enum TestBroker {
    Ours(Option<BrokerHandle>, u16),
    Mosquitto(Child, u16, PathBuf),
}

impl TestBroker {
    pub(crate) fn start(kind: BrokerKind) -> Self {
        match kind {
            BrokerKind::Ours => Self::ours_on(0),
            BrokerKind::Mosquitto => Self::mosquitto(),
        }
    }

    /// Our broker on `port` (0: any free port).
    pub(crate) fn ours_on(port: u16) -> Self {
        let config = mqtt_broker::Config {
            listeners: vec![SocketAddr::from(([127, 0, 0, 1], port)).into()],
            ..Default::default()
        };
        let handle = Broker::start(config).expect("our broker starts");
        let port = handle.local_addrs()[0].port();
        Self::Ours(Some(handle), port)
    }

    fn mosquitto() -> Self {
        let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .or_else(|| which("mosquitto"))
            .expect("mosquitto is not installed: apt-get install mosquitto");
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("mqttsn-gw-test-{}-{port}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("mosquitto.conf");
        fs::write(
            &config,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
        .expect("writing mosquitto.conf");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts (apt-get install mosquitto)");
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self::Mosquitto(child, port, dir)
    }

    pub(crate) fn port(&self) -> u16 {
        match self {
            Self::Ours(_, port) | Self::Mosquitto(_, port, _) => *port,
        }
    }

    /// Stops the broker (ours only), keeping its port number for a restart.
    pub(crate) fn stop(&mut self) {
        if let Self::Ours(handle, _) = self
            && let Some(handle) = handle.take()
        {
            handle.shutdown();
        }
    }

    /// An MQTT client of this broker.
    pub(crate) fn mqtt_client(&self, id: &str) -> mqtt_client::Client {
        let options = mqtt_client::ConnectOptions::builder("127.0.0.1", self.port())
            .client_id(id)
            .connect_timeout(PATIENCE)
            .build()
            .expect("options");
        mqtt_client::Client::connect(options).expect("MQTT client connects")
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Self::Mosquitto(child, _, dir) = self {
            let _ = child.kill();
            let _ = child.wait();
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(name))
        .find(|p| p.exists())
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The configuration every test gateway starts from: quick timers, two predefined topics.
pub(crate) fn config(broker_port: u16, kind: GatewayKind) -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        broker_host: "127.0.0.1".into(),
        broker_port,
        kind,
        gateway_name: format!("gw-test-{}", free_port()),
        retry_interval: Duration::from_secs(1),
        reconnect_min_delay: Duration::from_millis(50),
        reconnect_max_delay: Duration::from_millis(200),
        ..Config::default()
    };
    config.predefined.insert("*", 7, "sn/pre/seven");
    config.predefined.insert("predef-client", 8, "sn/pre/eight");
    config
}

/// A gateway in front of `broker`, once its own broker connection is up.
pub(crate) fn gateway(broker: &TestBroker, kind: GatewayKind) -> GatewayHandle {
    gateway_with(config(broker.port(), kind))
}

pub(crate) fn gateway_with(config: Config) -> GatewayHandle {
    let gateway = mqttsn_gateway::Gateway::start(config).expect("the gateway starts");
    wait_until("the gateway's broker connection", || {
        gateway.stats().is_some_and(|s| s.broker_connected)
    });
    gateway
}

/// Polls `condition` until it holds, failing the test after [`PATIENCE`].
pub(crate) fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Options for an MQTT-SN client of `gateway`.
pub(crate) fn sn_options(gateway: &GatewayHandle, id: &str) -> ClientOptions {
    let mut options = ClientOptions::new(gateway.local_addr(), id);
    options.retry_interval = Duration::from_millis(500);
    options.retry_count = 10;
    options
}

pub(crate) fn sn_client(gateway: &GatewayHandle, id: &str) -> Client {
    Client::connect(sn_options(gateway, id)).expect("MQTT-SN client connects")
}

/// The next message an MQTT client receives.
pub(crate) fn next_mqtt(client: &mqtt_client::Client) -> mqtt_client::Message {
    client
        .messages()
        .recv_timeout(PATIENCE)
        .expect("an MQTT message within the test's patience")
}

/// The next message an MQTT-SN client receives.
pub(crate) fn next_sn(client: &mut Client) -> mqttsn_gateway::client::Received {
    client
        .recv(PATIENCE)
        .expect("no error")
        .expect("an MQTT-SN message within the test's patience")
}

/// Whether an MQTT-SN call failed because the gateway sent DISCONNECT.
pub(crate) fn result_is_disconnected<T: std::fmt::Debug>(result: Result<T, Error>) -> bool {
    matches!(result, Err(Error::Disconnected))
}

/// A program started by a test, killed when dropped: a test that fails (panics) before its program
/// exits leaves no process behind. Waiting for it through `Deref` is as for a `Child`; killing one
/// that already exited does nothing.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

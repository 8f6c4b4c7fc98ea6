//! The suite run against real brokers, to prove it right about them.
//!
//! `our_broker`: this project's broker, started in-process; every check must pass.
//!
//! `broken`: deliberately broken test doubles (`double`), one rule broken each, that the checks aimed
//! at the rule must fail; and the correct double, which must pass everything.
//!
//! `tls`: the suite over TLS (`--cafile`, `--cert`, `--key`, `--insecure`) against mosquitto's TLS
//! listener, with certificates made for the test by the `openssl` command.
//!
//! `sn`: the MQTT-SN gateway suite against our gateway, in front of our broker and of mosquitto.
//!
//! `sn_broken`: broken gateways (`sn_double`, a relay in front of ours that breaks one rule each)
//! that the gateway checks aimed at the rule must fail.
//!
//! `v5`: the MQTT 5.0 suite against mosquitto, against our broker, and against `v5_double`, a
//! relay in front of mosquitto that breaks one 5.0 rule per switch.
//!
//! `mosquitto`: a real mosquitto (Debian's package, which `.ci/run` installs) started on a free
//! loopback port; every check must pass, be skipped, or be a deviation listed with its evidence in
//! `deviations/mosquitto-2.0.txt`.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conformance::{CheckResult, Context, Version, report};

mod broken;
mod double;

/// Taken by the two tests that start many servers at once (`broken` and `sn_broken`), so that they
/// do not run side by side: together they load a small machine enough to upset the timing of the
/// checks they run.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds [`HEAVY`] for the rest of the calling test.
fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
mod sn;
mod sn_broken;
mod sn_double;
mod tls;
mod v5;
mod v5_double;

/// A mosquitto process on a free loopback port, killed when dropped.
struct Mosquitto {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Mosquitto {
    fn start() -> Self {
        Self::with_config("")
    }

    /// A mosquitto with `extra` lines after its `listener` line (for TLS).
    fn with_config(extra: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!(
            "conformance-mosquitto-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}"),
        )
        .expect("config written");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start mosquitto ({error}): install it with `apt-get install mosquitto`"
                )
            });
        let broker = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start listening on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_all(port: u16, deviations: &str) -> Vec<CheckResult> {
    let known = conformance::deviations::parse(deviations).expect("deviations file parses");
    let checks = conformance::checks();
    let mut results = Vec::new();
    // The 5.0 suite has its own tests (`v5.rs`).
    for version in [Version::V31, Version::V311] {
        let context = Context::new("127.0.0.1", port, version, Duration::from_secs(2));
        results.extend(conformance::run(&context, &checks, &known));
    }
    results
}

#[test]
fn mosquitto_passes_everything_but_its_listed_deviations() {
    let broker = Mosquitto::start();
    let results = run_all(
        broker.port,
        include_str!("../../deviations/mosquitto-2.0.txt"),
    );
    let report = report::human(&results);
    assert!(
        results.iter().all(CheckResult::is_acceptable),
        "unexpected failures against mosquitto:\n{report}"
    );
    // The suite really ran: every check at each level it applies to.
    assert!(results.len() > 60, "{report}");
}

#[test]
fn our_broker_passes_everything() {
    let config = mqtt_broker::Config {
        listeners: vec!["127.0.0.1:0".parse().expect("an address")],
        ..mqtt_broker::Config::default()
    };
    let broker = mqtt_broker::Broker::start(config).expect("the broker starts");
    let port = broker.local_addrs()[0].port();
    let results = run_all(port, "");
    let report = report::human(&results);
    assert!(
        results.iter().all(CheckResult::is_acceptable),
        "failures against our broker:\n{report}"
    );
    assert!(results.len() > 60, "{report}");
    broker.shutdown();
}

//! The binaries: `mqtt-passwd` writes files the broker (and mosquitto) read, and `mqtt-broker` stops
//! cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mqtt_broker::PasswordFile;

use crate::client::TempDir;

fn passwd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mqtt-passwd"))
        .args(args)
        .output()
        .expect("mqtt-passwd runs")
}

/// `-c -b` creates, `-b` adds and updates, `-D` deletes, `-U` hashes plain lines and leaves hashed
/// ones untouched.
#[test]
fn mqtt_passwd_creates_updates_deletes_and_converts() {
    let dir = TempDir::new("passwd");
    let file = dir.0.join("pw");
    let path = file.to_str().expect("utf-8 path");
    assert!(
        passwd(&["-I", "1000", "-c", "-b", path, "alice", "one"])
            .status
            .success()
    );
    assert!(
        passwd(&["-I", "1000", "-b", path, "bob", "two"])
            .status
            .success()
    );
    assert!(
        passwd(&["-I", "1000", "-b", path, "alice", "three"])
            .status
            .success()
    );
    let users = PasswordFile::load(&file).expect("the broker reads it");
    assert!(users.verify("alice", b"three") && users.verify("bob", b"two"));
    assert!(passwd(&["-D", path, "bob"]).status.success());
    assert!(
        !PasswordFile::load(&file)
            .expect("reads")
            .verify("bob", b"two")
    );
    assert!(
        !passwd(&["-D", path, "bob"]).status.success(),
        "no such user"
    );

    let hashed = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, format!("{hashed}carol:plain text\n")).expect("write");
    assert!(passwd(&["-I", "1000", "-U", path]).status.success());
    let converted = std::fs::read_to_string(&file).expect("read");
    assert!(
        converted.starts_with(&hashed),
        "hashed lines are kept as they were"
    );
    let users = PasswordFile::load(&file).expect("reads");
    assert!(users.verify("carol", b"plain text") && users.verify("alice", b"three"));
}

/// SIGTERM stops the broker: it exits with status 0 instead of being killed by the signal.
#[test]
fn sigterm_stops_the_broker_cleanly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut broker = Command::new(env!("CARGO_BIN_EXE_mqtt-broker"))
        .args(["-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mqtt-broker starts");
    // Listening means the signal handlers are installed (they are registered first).
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the broker never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &broker.id().to_string()])
        .status();
    let (done, exited) = std::sync::mpsc::channel();
    let pid = broker.id();
    std::thread::spawn(move || {
        let _ = done.send(broker.wait());
    });
    let status = exited
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("broker {pid} did not stop on SIGTERM"))
        .expect("wait");
    assert!(status.success(), "{status}");
}

/// `--version` on both binaries prints the crate's name and version and exits 0; the broker does not
/// start listening on the way.
#[test]
fn version_is_printed_by_every_binary() {
    for binary in [
        env!("CARGO_BIN_EXE_mqtt-broker"),
        env!("CARGO_BIN_EXE_mqtt-passwd"),
    ] {
        let output = Command::new(binary)
            .arg("--version")
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{binary}: {}", output.status);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains("mqtt-broker") && text.contains(env!("CARGO_PKG_VERSION")),
            "{binary} printed {text:?}"
        );
    }
}

/// `systemd-analyze verify` on `unit`: whether it passed, and what it said. It exits 0 even for
/// unknown keys and bad values (it only warns), so anything printed counts as a failure.
fn systemd_verify(dir: &std::path::Path, unit: &str) -> Option<(bool, String)> {
    let path = dir.join("mqtt-broker.service");
    std::fs::write(&path, unit).expect("writing the unit");
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .ok()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success() && said.trim().is_empty(), said))
}

/// The systemd unit in contrib/ is valid for systemd: every key known, every value parsed, the
/// binary found (pointed at the one just built). Skipped, saying so, where systemd-analyze is
/// missing (`apt-get install systemd`).
#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let unit = include_str!("../../contrib/mqtt-broker.service").replace(
        "/usr/local/bin/mqtt-broker",
        env!("CARGO_BIN_EXE_mqtt-broker"),
    );
    let dir = TempDir::new("systemd");
    let Some((ok, said)) = systemd_verify(&dir.0, &unit) else {
        eprintln!(
            "SKIPPED systemd_unit_passes_systemd_analyze_verify: no systemd-analyze (apt-get install systemd)"
        );
        return;
    };
    assert!(ok, "systemd-analyze verify: {said}");
    // The check can fail: a misspelt key is reported.
    let broken = unit.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes");
    let (ok, said) = systemd_verify(&dir.0, &broken).expect("ran before");
    assert!(!ok && said.contains("NoNewPrivilege"), "{said}");
}

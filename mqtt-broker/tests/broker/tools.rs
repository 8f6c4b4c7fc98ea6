//! The binaries: `mqtt-passwd` writes files the broker (and mosquitto) read, and `mqtt-broker` stops
//! cleanly on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqtt_broker::PasswordFile;

use crate::client::TempDir;

/// A broker process started by a test, killed when the guard is dropped: a test that fails while
/// the broker runs leaves no process behind, holding its port.
struct Running(Option<Child>);

impl Running {
    fn start(command: &mut Command) -> Self {
        Self(Some(command.spawn().expect("mqtt-broker starts")))
    }

    /// The broker binary at its defaults, on a free port of 127.0.0.1 (`-p`), its output discarded;
    /// answers the port too. Not yet listening: see [`listening`].
    fn on_a_free_port() -> (Self, u16) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let broker = Self::start(
            Command::new(env!("CARGO_BIN_EXE_mqtt-broker"))
                .args(["-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        (broker, port)
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("still running")
    }

    /// Waits up to `limit` for the process to exit on its own.
    fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child().try_wait().expect("wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process and answers what it wrote.
    fn kill_for_output(mut self) -> std::process::Output {
        let mut child = self.0.take().expect("still running");
        let _ = child.kill();
        child.wait_with_output().expect("the broker's output")
    }

    /// The output of a process that has exited.
    fn output(mut self) -> std::process::Output {
        let child = self.0.take().expect("still running");
        child.wait_with_output().expect("the broker's output")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until something listens on `port` of 127.0.0.1.
fn listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the broker never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

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
    let (mut broker, port) = Running::on_a_free_port();
    // Listening means the signal handlers are installed (they are registered first).
    listening(port);
    let pid = broker.child().id();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = broker
        .exit_within(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("broker {pid} did not stop on SIGTERM"));
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

/// With no configuration file the broker is in mosquitto 2's local-only mode: it listens on
/// 127.0.0.1 only (on Linux every 127.x.y.z address reaches the loopback interface, so a listener on
/// every interface would also answer 127.0.0.2; one on 127.0.0.1 does not), lets anonymous clients
/// in, and says so in its log.
#[test]
fn without_a_configuration_file_only_loopback_and_anonymous() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let broker = Running::start(
        Command::new(env!("CARGO_BIN_EXE_mqtt-broker"))
            .args(["-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    listening(port);
    let elsewhere = std::net::TcpStream::connect(("127.0.0.2", port));
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (_client, code) =
        crate::client::connack_code(address, crate::client::connect("anon", true));
    let output = broker.kill_for_output();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        elsewhere.is_err(),
        "listening beyond 127.0.0.1; log:\n{log}"
    );
    assert_eq!(code, 0, "anonymous refused; log:\n{log}");
    assert!(log.contains("local-only mode"), "{log}");
}

/// A configuration the broker cannot use stops it with exit status 3, mosquitto's, and the log
/// names the file and line: an unknown directive, and an ACL file with a typo in an access word.
#[test]
fn a_bad_configuration_or_acl_line_exits_with_3_naming_file_and_line() {
    let dir = TempDir::new("exit-3");
    let acl = dir.file(
        "typo.acl",
        "topic read public/#\ntopic dney sensors/secret\n",
    );
    let with_acl = dir.file(
        "acl.conf",
        &format!(
            "listener 0 127.0.0.1\nallow_anonymous true\nacl_file {}\n",
            acl.display()
        ),
    );
    let unknown = dir.file(
        "unknown.conf",
        "listener 0 127.0.0.1\nalow_anonymous true\n",
    );
    for (config, wanted) in [(&with_acl, "typo.acl:2:"), (&unknown, "unknown.conf:2:")] {
        let mut broker = Running::start(
            Command::new(env!("CARGO_BIN_EXE_mqtt-broker"))
                .arg("-c")
                .arg(config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        // A broker that accepted the configuration would run forever: give it a generous while
        // to exit; the guard kills it if the test fails.
        assert!(
            broker.exit_within(Duration::from_secs(30)).is_some(),
            "{} was accepted: the broker kept running",
            config.display()
        );
        let output = broker.output();
        let log = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{log}");
        assert!(log.contains(wanted), "{log}");
    }
}

/// The number of threads of process `pid`, from `/proc`; once it has held still for a moment,
/// since connections that just ended may still be finishing their threads.
fn settled_thread_count(pid: u32) -> usize {
    let read = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .expect("the broker's /proc status")
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|count| count.trim().parse::<usize>().ok())
            .expect("a thread count")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = read();
    let mut same = 0;
    while same < 10 {
        assert!(Instant::now() < deadline, "the thread count never settled");
        std::thread::sleep(Duration::from_millis(20));
        let now = read();
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
    last
}

/// One thread per connection (issue #16): forty idle clients add forty threads, where the broker
/// used to start a reader and a writer for each. The CONNACK is written by the reader itself; a
/// helper thread starts only for a client that falls behind (`connection/writer.rs`).
#[test]
fn an_idle_connection_costs_one_thread() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc to count threads with");
        return;
    }
    let (mut broker, port) = Running::on_a_free_port();
    listening(port);
    let pid = broker.child().id();
    let before = settled_thread_count(pid);
    let clients: Vec<std::net::TcpStream> = (0..40)
        .map(|n| {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            std::io::Write::write_all(&mut stream, &connect_bytes(&format!("idle-{n:02}")))
                .expect("CONNECT");
            let mut connack = [0u8; 4];
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            std::io::Read::read_exact(&mut stream, &mut connack).expect("CONNACK");
            assert_eq!(connack, [0x20, 2, 0, 0]);
            stream
        })
        .collect();
    let after = settled_thread_count(pid);
    assert_eq!(
        after - before,
        clients.len(),
        "{before} threads before, {after} with {} idle clients",
        clients.len()
    );
}

/// Waits up to ten seconds for process `pid` to have `wanted` threads; answers the last count.
fn thread_count_reaches(pid: u32, wanted: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = settled_thread_count(pid);
        if now == wanted || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A CONNECT at 3.1.1 with a clean session and keep-alive 60.
fn connect_bytes(client_id: &str) -> Vec<u8> {
    let mut connect = vec![0x10, 12 + client_id.len() as u8, 0, 4];
    connect.extend_from_slice(b"MQTT");
    connect.extend_from_slice(&[4, 2, 0, 60, 0, client_id.len() as u8]);
    connect.extend_from_slice(client_id.as_bytes());
    connect
}

/// A client's second thread lives only while it is behind (issue #16): a subscriber that reads
/// nothing while 20 MiB are published to it gets a helper thread, which writes what its socket
/// did not take; once it has read everything, the helper ends and the connection is back to one
/// thread.
#[test]
fn a_client_that_falls_behind_has_a_second_thread_only_until_it_catches_up() {
    use std::io::{Read, Write};
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc to count threads with");
        return;
    }
    let (mut broker, port) = Running::on_a_free_port();
    listening(port);
    let pid = broker.child().id();
    let before = settled_thread_count(pid);
    let open = |client_id: &str| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
            .write_all(&connect_bytes(client_id))
            .expect("CONNECT");
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).expect("CONNACK");
        assert_eq!(connack, [0x20, 2, 0, 0]);
        stream
    };
    let mut subscriber = open("behind");
    // SUBSCRIBE id 1 to "burst" at QoS 0, and its SUBACK.
    subscriber
        .write_all(&[0x82, 10, 0, 1, 0, 5, b'b', b'u', b'r', b's', b't', 0])
        .expect("SUBSCRIBE");
    let mut suback = [0u8; 5];
    subscriber.read_exact(&mut suback).expect("SUBACK");
    assert_eq!(suback, [0x90, 3, 0, 1, 0]);
    let mut publisher = open("burster");
    const MESSAGES: usize = 320;
    const PAYLOAD: usize = 64 * 1024;
    // PUBLISH at QoS 0 on "burst": remaining length 2 + 5 + PAYLOAD, four bytes of it.
    let remaining = 7 + PAYLOAD;
    let mut message = vec![
        0x30,
        (remaining & 0x7F) as u8 | 0x80,
        ((remaining >> 7) & 0x7F) as u8 | 0x80,
        (remaining >> 14) as u8,
        0,
        5,
    ];
    message.extend_from_slice(b"burst");
    message.resize(message.len() + PAYLOAD, 0x5A);
    for _ in 0..MESSAGES {
        publisher.write_all(&message).expect("PUBLISH");
    }
    // A PINGRESP to the publisher: everything before it was routed.
    publisher.write_all(&[0xC0, 0]).expect("PINGREQ");
    let mut pingresp = [0u8; 2];
    publisher.read_exact(&mut pingresp).expect("PINGRESP");
    assert_eq!(pingresp, [0xD0, 0]);
    let behind = settled_thread_count(pid);
    assert_eq!(
        behind,
        before + 3,
        "two readers and the subscriber's helper expected: {before} threads before, {behind} now"
    );
    // The subscriber catches up: every message arrives.
    let mut left = MESSAGES * message.len();
    let mut chunk = vec![0u8; 256 * 1024];
    while left > 0 {
        let count = subscriber.read(&mut chunk).expect("the messages");
        assert!(
            count > 0,
            "the broker closed the subscriber with {left} bytes unsent"
        );
        left = left.saturating_sub(count);
    }
    let after = thread_count_reaches(pid, before + 2);
    assert_eq!(
        after,
        before + 2,
        "the helper should have ended once the client caught up: {before} threads before, {after} now"
    );
}

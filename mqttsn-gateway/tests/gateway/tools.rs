//! `mqttsn-pub` and `mqttsn-sub` as programs, against a gateway in front of our broker.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use mqtt_client::QoS as MqttQoS;
use mqttsn_gateway::GatewayKind;

use crate::support::*;

#[test]
fn mqttsn_pub_publishes_at_each_qos() {
    let broker = TestBroker::start(BrokerKind::Ours);
    let gateway = gateway(&broker, GatewayKind::Transparent);
    let watcher = broker.mqtt_client("tool-watcher");
    watcher
        .subscribe(&[
            ("sn/tool/#", MqttQoS::AtLeastOnce),
            ("sn/pre/seven", MqttQoS::AtLeastOnce),
        ])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let port = gateway.local_addr().port().to_string();
    for (qos, topic) in [
        ("0", "-t sn/tool/a"),
        ("1", "-t sn/tool/b"),
        ("2", "-t sn/tool/c"),
        ("-1", "-T 7"),
    ] {
        let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-q", qos, "-m", "hello"];
        args.extend(topic.split(' '));
        let status = Command::new(env!("CARGO_BIN_EXE_mqttsn-pub"))
            .args(&args)
            .status()
            .expect("runs");
        assert!(status.success(), "mqttsn-pub {args:?}");
        let message = next_mqtt(&watcher);
        assert_eq!(message.payload, b"hello");
    }
    watcher.disconnect();
}

#[test]
fn mqttsn_sub_prints_one_message() {
    let broker = TestBroker::start(BrokerKind::Ours);
    let gateway = gateway(&broker, GatewayKind::Aggregating);
    let port = gateway.local_addr().port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqttsn-sub"))
        .args([
            "-p",
            &port,
            "-t",
            "sn/tool/sub",
            "-1",
            "-v",
            "-q",
            "1",
            "-i",
            "tool-sub",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .map(KillOnDrop)
        .expect("runs");
    let publisher = broker.mqtt_client("tool-pub");
    let stdout = child.stdout.take().expect("piped");
    let (lines, received) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // The subscription is made when the program has started: publish until the line comes.
    let mut line = None;
    wait_until("mqttsn-sub's output", || {
        publisher
            .publish("sn/tool/sub", "hi", MqttQoS::AtLeastOnce, false)
            .expect("sent")
            .wait()
            .expect("acknowledged");
        line = received
            .recv_timeout(std::time::Duration::from_millis(200))
            .ok();
        line.is_some()
    });
    // As mqtt-sn-tools prints it: `topic: payload`.
    assert_eq!(line.as_deref(), Some("sn/tool/sub: hi"));
    assert!(child.wait().expect("exits").success());
    publisher.disconnect();
}

/// `mqttsn-sub -v -T 7` prints a predefined topic's id as mqtt-sn-tools does, four hex digits
/// (`0007: hi`), not the Rust name of the type.
#[test]
fn mqttsn_sub_prints_a_predefined_id_in_hex() {
    let broker = TestBroker::start(BrokerKind::Ours);
    let gateway = gateway(&broker, GatewayKind::Transparent);
    let port = gateway.local_addr().port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqttsn-sub"))
        .args(["-p", &port, "-T", "7", "-1", "-v", "-i", "tool-sub-pre"])
        .stdout(Stdio::piped())
        .spawn()
        .map(KillOnDrop)
        .expect("runs");
    let publisher = broker.mqtt_client("tool-pub-pre");
    let stdout = child.stdout.take().expect("piped");
    let (lines, received) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut line = None;
    wait_until("mqttsn-sub's output", || {
        publisher
            .publish("sn/pre/seven", "hi", MqttQoS::AtLeastOnce, false)
            .expect("sent")
            .wait()
            .expect("acknowledged");
        line = received
            .recv_timeout(std::time::Duration::from_millis(200))
            .ok();
        line.is_some()
    });
    assert_eq!(line.as_deref(), Some("0007: hi"));
    assert!(child.wait().expect("exits").success());
    publisher.disconnect();
}

/// With nothing on the gateway's port the tools fail on the ICMP "port unreachable" at once, as
/// mqtt-sn-tools do, instead of retransmitting CONNECT for N_retry times T_retry (15 s and more).
#[test]
fn the_tools_fail_fast_without_a_gateway() {
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    let port = closed.local_addr().expect("address").port().to_string();
    drop(closed);
    for (program, extra) in [
        (env!("CARGO_BIN_EXE_mqttsn-pub"), &["-m", "x"][..]),
        (env!("CARGO_BIN_EXE_mqttsn-sub"), &[][..]),
    ] {
        let started = std::time::Instant::now();
        let output = Command::new(program)
            .args(["-p", &port, "-q", "1", "-t", "sn/none"])
            .args(extra)
            .output()
            .expect("runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("port unreachable"), "{program}: {stderr}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{program} took {:?}",
            started.elapsed()
        );
    }
}

/// `--version` on every program, and `--wlnid` without `--fe` refused rather than ignored.
#[test]
fn version_and_wlnid_without_fe() {
    for (program, name) in [
        (env!("CARGO_BIN_EXE_mqttsn-pub"), "mqttsn-pub"),
        (env!("CARGO_BIN_EXE_mqttsn-sub"), "mqttsn-sub"),
        (env!("CARGO_BIN_EXE_mqttsn-gateway"), "mqttsn-gateway"),
    ] {
        let output = Command::new(program)
            .arg("--version")
            .output()
            .expect("runs");
        assert!(output.status.success(), "{name} --version");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with(&format!("{name} ")), "{stdout}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_mqttsn-pub"))
        .args(["-p", "1", "-t", "ab", "-m", "x", "--wlnid", "0a"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--fe"));
}

/// SIGINT and SIGTERM make `mqttsn-sub` send DISCONNECT and exit cleanly once the gateway has
/// answered it, as mqtt-sn-tools does, instead of dying and leaving the gateway to wait out the
/// keep-alive. (Before, the signal killed it: no DISCONNECT, and no successful exit.)
#[test]
fn mqttsn_sub_disconnects_on_sigint_and_sigterm() {
    let broker = TestBroker::start(BrokerKind::Ours);
    let gateway = gateway(&broker, GatewayKind::Transparent);
    let port = gateway.local_addr().port().to_string();
    let publisher = broker.mqtt_client("tool-pub-signal");
    for signal in ["-INT", "-TERM"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mqttsn-sub"))
            .args(["-p", &port, "-t", "sn/tool/signal", "-v"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map(KillOnDrop)
            .expect("runs");
        let stdout = child.stdout.take().expect("piped");
        let (lines, received) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        // Subscribed (and so connected, with its signal handler in place) once a line comes.
        wait_until("mqttsn-sub's output", || {
            publisher
                .publish("sn/tool/signal", "hi", MqttQoS::AtLeastOnce, false)
                .expect("sent")
                .wait()
                .expect("acknowledged");
            received
                .recv_timeout(std::time::Duration::from_millis(200))
                .is_ok()
        });
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let mut exited = None;
        wait_until("mqttsn-sub to exit", || {
            exited = child.try_wait().expect("waits");
            exited.is_some()
        });
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        assert!(
            exited.is_some_and(|status| status.success()),
            "{signal}: {exited:?} {stderr}"
        );
    }
    publisher.disconnect();
}

/// `mqttsn-pub` waiting for a PUBACK that never comes (a stand-in gateway that answers CONNECT and
/// then nothing) sends DISCONNECT on SIGINT and exits cleanly once it is answered, so the gateway
/// does not wait out the keep-alive; the stand-in answers it as a gateway does [SN-5.4.21-1].
#[test]
fn mqttsn_pub_disconnects_on_sigint_while_waiting() {
    use std::net::UdpSocket;
    use std::time::Duration;
    let fake = UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
    fake.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let port = fake.local_addr().expect("bound").port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqttsn-pub"))
        .args(["-p", &port, "-t", "ab", "-q", "1", "-m", "x"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(KillOnDrop)
        .expect("runs");
    // Message type is the second byte of a one-byte-length header: CONNECT 0x04, PUBLISH 0x0C,
    // DISCONNECT 0x18.
    let mut buffer = [0u8; 256];
    let mut next = |wanted: u8| loop {
        let (n, from) = fake
            .recv_from(&mut buffer)
            .expect("a datagram from mqttsn-pub");
        if n >= 2 && buffer[1] == wanted {
            return from;
        }
    };
    let client = next(0x04);
    fake.send_to(&[0x03, 0x05, 0x00], client).expect("CONNACK");
    next(0x0C);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let client = next(0x18);
    fake.send_to(&[0x02, 0x18], client).expect("DISCONNECT");
    let mut exited = None;
    wait_until("mqttsn-pub to exit", || {
        exited = child.try_wait().expect("waits");
        exited.is_some()
    });
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    assert!(
        exited.is_some_and(|status| status.success()),
        "{exited:?} {stderr}"
    );
}

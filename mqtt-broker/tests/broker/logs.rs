//! The binary's log, as a mosquitto user reads it: with `-v`, mosquitto's connection lines and one
//! line per packet in and out, each after an epoch-seconds timestamp (`src/logging/`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Client, Got, connect};

/// A client connects, publishes at QoS 1 and disconnects; the log has mosquitto's lines for each
/// step, worded as mosquitto 2.0.11's `-v` output.
#[test]
fn verbose_logs_mosquitto_connection_and_packet_lines() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut broker = Command::new(env!("CARGO_BIN_EXE_mqtt-broker"))
        .args(["-v", "-p", &port.to_string()])
        // RUST_LOG would hand the log to env_logger.
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mqtt-broker starts");
    let stderr = broker.stderr.take().expect("stderr piped");
    let (lines_tx, lines) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the broker never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (mut client, _) = Client::connect_with(
        address,
        mqtt_codec::Connect {
            keep_alive: 60,
            ..connect("logs-1", true)
        },
    );
    client.publish("t", b"hello", 1, 1, false);
    assert_eq!(client.recv(), Got::PubAck(1));
    client.disconnect();
    let wanted = [
        format!(" on port {port}."),
        " as logs-1 (p2, c1, k60).".to_owned(),
        "Sending CONNACK to logs-1 (0, 0)".to_owned(),
        "Received PUBLISH from logs-1 (d0, q1, r0, m1, 't', ... (5 bytes))".to_owned(),
        "Sending PUBACK to logs-1 (m1, rc0)".to_owned(),
        "Received DISCONNECT from logs-1".to_owned(),
        "Client logs-1 disconnected.".to_owned(),
    ];
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !wanted.iter().all(|want| {
        seen.iter()
            .any(|line: &String| line.ends_with(want.as_str()))
    }) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = broker.kill();
                let _ = broker.wait();
                panic!("missing some of {wanted:#?} in:\n{}", seen.join("\n"));
            }
        }
    }
    let _ = broker.kill();
    let _ = broker.wait();
    for line in &seen {
        let (stamp, _) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("no timestamp: {line}"));
        assert!(stamp.parse::<u64>().is_ok(), "not epoch seconds: {line}");
    }
    let connected = seen
        .iter()
        .find(|line| line.contains("New client connected from 127.0.0.1:"))
        .expect("the connection line");
    assert!(
        connected.ends_with(" as logs-1 (p2, c1, k60)."),
        "{connected}"
    );
}

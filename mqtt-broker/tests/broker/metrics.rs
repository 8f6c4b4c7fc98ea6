//! The Prometheus endpoint (`metrics_listener`): real HTTP requests over a `TcpStream`, and every
//! line of the answer checked by a small parser of the text exposition format (0.0.4).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use mqtt_broker::Config;

use crate::client::{Client, broker_with};

/// Sends `request` and returns (status code, headers, body).
fn http(address: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).expect("connect to metrics");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let answer = String::from_utf8(answer).expect("utf8 answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    (code, head.to_owned(), body.to_owned())
}

/// A sample's value and the TYPE declared for its name.
#[derive(Debug)]
struct Sample {
    kind: String,
    value: f64,
}

/// Parses the text exposition format strictly: every line is a `# HELP name text`, a
/// `# TYPE name counter|gauge|...` (before the name's samples, once), or a sample `name value`
/// (labels allowed) of a declared name; names match `[a-zA-Z_:][a-zA-Z0-9_:]*`; values are
/// floats. Panics naming the bad line.
fn parse_exposition(body: &str) -> HashMap<String, Sample> {
    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    assert!(body.ends_with('\n'), "the exposition ends with a newline");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(valid_name(name), "bad name in {line:?}");
            assert!(!text.is_empty(), "empty HELP in {line:?}");
            assert!(
                helps.insert(name.into(), text.into()).is_none(),
                "HELP twice: {line:?}"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a type");
            assert!(valid_name(name), "bad name in {line:?}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad type in {line:?}"
            );
            assert!(!samples.contains_key(name), "TYPE after samples: {line:?}");
            assert!(
                types.insert(name.into(), kind.into()).is_none(),
                "TYPE twice: {line:?}"
            );
        } else if line.starts_with('#') || line.is_empty() {
            panic!("unexpected comment or blank line {line:?}");
        } else {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let name = series.split('{').next().unwrap_or(series);
            assert!(valid_name(name), "bad sample name in {line:?}");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let kind = types
                .get(name)
                .unwrap_or_else(|| panic!("sample without TYPE: {line:?}"))
                .clone();
            if kind == "counter" {
                assert!(
                    name.ends_with("_total"),
                    "a counter is named _total: {line:?}"
                );
                assert!(value >= 0.0, "a negative counter: {line:?}");
            }
            samples.insert(name.to_owned(), Sample { kind, value });
        }
    }
    for name in types.keys() {
        assert!(helps.contains_key(name), "{name} has no HELP");
    }
    samples
}

fn broker_with_metrics() -> (mqtt_broker::BrokerHandle, SocketAddr, SocketAddr) {
    let (broker, address) = broker_with(Config {
        metrics_listener: Some("127.0.0.1:0".parse().expect("address")),
        ..Config::default()
    });
    let metrics = broker.metrics_addr().expect("metrics configured");
    (broker, address, metrics)
}

/// A scrape reports what happened: two clients connected, one message published and delivered.
#[test]
fn get_metrics_reports_connections_messages_and_bytes_in_the_text_format() {
    let (_broker, address, metrics) = broker_with_metrics();
    let (mut subscriber, _) = Client::connect(address, "metrics-sub", true);
    subscriber.subscribe("m/#", 0);
    let (mut publisher, _) = Client::connect(address, "metrics-pub", true);
    publisher.publish("m/1", b"hello", 0, 0, false);
    // The delivery is the barrier: the publication and its fan-out are counted.
    let _ = subscriber.recv();
    publisher.barrier();
    let (code, head, body) = http(metrics, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let samples = parse_exposition(&body);
    let value = |name: &str| {
        samples
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from {body}"))
            .value
    };
    assert_eq!(value("mqtt_broker_clients_connected"), 2.0);
    assert_eq!(samples["mqtt_broker_clients_connected"].kind, "gauge");
    assert_eq!(value("mqtt_broker_connections_total"), 2.0);
    assert_eq!(samples["mqtt_broker_connections_total"].kind, "counter");
    assert_eq!(value("mqtt_broker_publish_received_total"), 1.0);
    assert_eq!(value("mqtt_broker_publish_sent_total"), 1.0);
    assert_eq!(value("mqtt_broker_subscriptions"), 1.0);
    assert!(value("mqtt_broker_bytes_received_total") > 0.0);
    assert!(value("mqtt_broker_bytes_sent_total") > 0.0);
    for name in [
        "mqtt_broker_publish_dropped_total",
        "mqtt_broker_retained_messages",
        "mqtt_broker_messages_received_total",
        "mqtt_broker_uptime_seconds",
        "mqtt_broker_clients_disconnected",
        "mqtt_broker_messages_inflight",
        "mqtt_broker_stored_messages",
        "mqtt_broker_stored_bytes",
    ] {
        let _ = value(name);
    }
    if cfg!(target_os = "linux") {
        assert!(value("mqtt_broker_resident_memory_bytes") > 0.0);
        assert!(
            value("mqtt_broker_resident_memory_peak_bytes")
                >= value("mqtt_broker_resident_memory_bytes")
        );
    }
}

/// Other paths are 404, other methods 405, garbage 400, an endless head 431; the endpoint still
/// serves afterwards (it is one thread: none of these may wedge it).
#[test]
fn other_paths_methods_and_hostile_requests_are_refused() {
    let (_broker, _address, metrics) = broker_with_metrics();
    assert_eq!(http(metrics, b"GET / HTTP/1.1\r\n\r\n").0, 404);
    assert_eq!(http(metrics, b"GET /metricsx HTTP/1.1\r\n\r\n").0, 404);
    let (code, head, _) = http(
        metrics,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(code, 405);
    assert!(head.contains("Allow: GET"), "{head}");
    assert_eq!(http(metrics, b"\x00\x01\x02 nonsense\r\n\r\n").0, 400);
    let mut endless = b"GET /metrics HTTP/1.1\r\n".to_vec();
    endless.extend(std::iter::repeat_n(b'a', 20_000));
    let mut stream = TcpStream::connect(metrics).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The server may close before reading it all; only the answer matters.
    let _ = stream.write_all(&endless);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 431 "),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    // A client that connects and says nothing delays, but does not stop, the next scrape.
    let _silent = TcpStream::connect(metrics).expect("connect");
    assert_eq!(http(metrics, b"GET /metrics HTTP/1.0\r\n\r\n").0, 200);
}

/// A real HTTP client, curl, scrapes the endpoint as Prometheus would, and its body passes the same
/// strict parser. Without curl on the machine the test says so and passes (CI images have it).
#[test]
fn curl_scrapes_the_endpoint() {
    let (_broker, _address, metrics) = broker_with_metrics();
    let output = match std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "10"])
        .arg(format!("http://{metrics}/metrics"))
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("curl not installed: skipped");
            return;
        }
        Err(error) => panic!("running curl: {error}"),
    };
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let body = String::from_utf8(output.stdout).expect("utf8 body");
    let samples = parse_exposition(&body);
    assert_eq!(samples["mqtt_broker_clients_connected"].value, 0.0);
}

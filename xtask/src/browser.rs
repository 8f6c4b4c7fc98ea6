//! `cargo xtask browser`: MQTT over WebSocket from a real web page, in headless Chromium.
//!
//! Installs MQTT.js (a pinned version, from the npm registry) into a scratch directory under
//! `target/`, makes a throw-away certificate with `openssl`, starts `mqtt-broker` with a TCP
//! listener and two `protocol websockets` listeners (plain and TLS) on free ports, and serves, from
//! a small HTTP server in this process on 127.0.0.1, a page that loads MQTT.js's browser bundle.
//! The page connects over `ws://`, then over `wss://`, then over `ws://` again at MQTT 5.0
//! (`protocolVersion: 5`, publishing with a User Property that must come back with its message);
//! each time it subscribes, publishes QoS 1 and waits for its own message and for one this task
//! publishes from a plain TCP connection once the page says it is subscribed, so the round trip
//! crosses transports (and, at 5.0, protocol levels) both ways. The page reports each
//! step by requesting `/step`, `/subscribed`, `/done` or `/failed` from the same server. Debian's
//! `chromium` runs it headless with a fresh profile, told to accept the throw-away certificate.
//! Everything is bounded in time, and each failure says which step failed and why.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mqtt_codec::{
    Connect, Decoder, Delivery, Packet, ProtocolLevel, Publish, QoS, Status, TopicName,
};

/// The MQTT.js release the page uses: pinned, so that a new release cannot change the result.
const MQTT_JS_VERSION: &str = "5.16.0";
/// How long the page has, from Chromium's start, to report its result.
const PAGE_DEADLINE: Duration = Duration::from_secs(60);
/// Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs the browser check; the first failure ends it with its description.
pub(crate) fn run() -> Result<(), String> {
    let root = crate::workspace_root();
    if !Path::new(CHROMIUM).exists() {
        return Err(format!(
            "{CHROMIUM} is missing: apt-get install chromium (CI's .ci/run installs it)"
        ));
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bundle = install_mqtt_js(&target.join("xtask-browser"))?;
    crate::run(Command::new(crate::cargo()).args([
        "build",
        "--quiet",
        "--package",
        "mqtt-broker",
        "--bin",
        "mqtt-broker",
    ]))?;

    let scratch = target
        .join("xtask-browser")
        .join(format!("run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(|error| format!("cannot create {}: {error}", scratch.display()))?;
    let (cert, key) = certificate(&scratch)?;
    let (tcp_port, ws_port, wss_port) = (free_port()?, free_port()?, free_port()?);
    let config = scratch.join("mqtt-broker.conf");
    std::fs::write(
        &config,
        format!(
            "listener {tcp_port} 127.0.0.1\nlistener {ws_port} 127.0.0.1\nprotocol websockets\n\
             listener {wss_port} 127.0.0.1\nprotocol websockets\ncertfile {}\nkeyfile {}\n\
             sys_interval 0\nallow_anonymous true\n",
            cert.display(),
            key.display()
        ),
    )
    .map_err(|error| format!("cannot write {}: {error}", config.display()))?;
    let _broker = Process::start(
        "mqtt-broker",
        Command::new(target.join("debug").join("mqtt-broker"))
            .arg("-c")
            .arg(&config),
    )?;
    // The broker binds every listener before it accepts on any, so this covers the WebSocket one
    // too (a probe there would only log a failed handshake).
    wait_listening(tcp_port)?;

    let (results, result) = mpsc::channel();
    let server = TcpListener::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
    let page_port = server
        .local_addr()
        .map_err(|error| error.to_string())?
        .port();
    let page = PAGE
        .replace("WSS_PORT", &wss_port.to_string())
        .replace("WS_PORT", &ws_port.to_string());
    let script = std::fs::read(&bundle)
        .map_err(|error| format!("cannot read {}: {error}", bundle.display()))?;
    thread::spawn(move || serve(&server, &page, &script, &results));

    let profile = scratch.join("chromium-profile");
    let url = format!("http://127.0.0.1:{page_port}/");
    eprintln!(
        "browser: Chromium opens {url} (MQTT.js {MQTT_JS_VERSION}; broker \
         ws://127.0.0.1:{ws_port}/mqtt and wss://127.0.0.1:{wss_port}/mqtt)"
    );
    let chromium = Process::start(
        "chromium",
        Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // For the throw-away certificate of the wss listener; the profile is fresh too.
                "--ignore-certificate-errors",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;

    let deadline = Instant::now() + PAGE_DEADLINE;
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match result.recv_timeout(left) {
            // The page is subscribed: send it a message from a plain TCP client.
            Ok(Report::Subscribed(transport)) => {
                eprintln!("browser: page: {transport}: subscribed");
                let topic = format!("browser/{transport}/from-tcp");
                if transport.is_empty() || TopicName::new(&topic).is_err() {
                    break Err(format!("the page reported a bad transport {transport:?}"));
                }
                publish_over_tcp(tcp_port, &topic, b"from tcp")?;
            }
            Ok(Report::Step(step)) => eprintln!("browser: page: {step}"),
            Ok(Report::Done(query)) => break Ok(query),
            Ok(Report::Failed(why)) => break Err(format!("the page reported a failure: {why}")),
            Err(_) => {
                break Err(format!(
                    "the page reported nothing within {PAGE_DEADLINE:?} (is {CHROMIUM} working? \
                     try it by hand on {url})"
                ));
            }
        }
    };
    drop(chromium);
    let _ = std::fs::remove_dir_all(&scratch);
    let query = outcome?;
    eprintln!("browser: page: {query}");
    eprintln!(
        "browser: the page published and received over ws:// and wss://, and at MQTT 5.0, through mqtt-broker: passed"
    );
    Ok(())
}

/// What the page told the server.
enum Report {
    Step(String),
    Subscribed(String),
    Done(String),
    Failed(String),
}

/// Installs MQTT.js into `dir` unless that version is there already; answers its browser bundle.
fn install_mqtt_js(dir: &Path) -> Result<PathBuf, String> {
    let package = dir.join("node_modules").join("mqtt");
    let bundle = package.join("dist").join("mqtt.min.js");
    let installed = std::fs::read_to_string(package.join("package.json"))
        .is_ok_and(|json| json.contains(&format!("\"version\": \"{MQTT_JS_VERSION}\"")));
    if installed && bundle.exists() {
        return Ok(bundle);
    }
    std::fs::create_dir_all(dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    eprintln!("browser: installing MQTT.js {MQTT_JS_VERSION} from the npm registry");
    // No lock file and no install scripts: only the published files of one pinned version.
    crate::run(
        Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-package-lock",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--omit=dev",
                "--prefix",
            ])
            .arg(dir)
            .arg(format!("mqtt@{MQTT_JS_VERSION}")),
    )
    .map_err(|error| format!("{error} (is npm installed? apt-get install npm)"))?;
    if !bundle.exists() {
        return Err(format!(
            "MQTT.js {MQTT_JS_VERSION} installed but {} is missing",
            bundle.display()
        ));
    }
    Ok(bundle)
}

/// Serves the page, the bundle and the reports, one request per connection, until the process ends.
fn serve(server: &TcpListener, page: &str, script: &[u8], results: &mpsc::Sender<Report>) {
    for stream in server.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut line = String::new();
        if BufReader::new(&mut stream).read_line(&mut line).is_err() {
            continue;
        }
        // "GET /path?query HTTP/1.1": the headers are not needed.
        let target = line.split(' ').nth(1).unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = decode_query(query);
        let (status, kind, body): (&str, &str, &[u8]) = match path {
            "/" => ("200 OK", "text/html; charset=utf-8", page.as_bytes()),
            "/mqtt.min.js" => ("200 OK", "text/javascript", script),
            "/step" | "/subscribed" | "/done" | "/failed" => {
                let report = match path {
                    "/step" => Report::Step(query),
                    "/subscribed" => Report::Subscribed(query),
                    "/done" => Report::Done(query),
                    _ => Report::Failed(query),
                };
                let _ = results.send(report);
                ("204 No Content", "text/plain", b"")
            }
            _ => ("404 Not Found", "text/plain", b"not found"),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    }
}

/// Percent-decodes the page's report (it sends `encodeURIComponent` text).
fn decode_query(query: &str) -> String {
    let bytes = query.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                index += 1;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A self-signed certificate for 127.0.0.1 (the page's wss URL), made with `openssl` in `dir`.
fn certificate(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    let output = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .map_err(|error| format!("cannot run openssl (apt-get install openssl): {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "openssl could not make a certificate: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok((cert, key))
}

/// Publishes one QoS 1 message from a plain TCP client and waits for its PUBACK.
fn publish_over_tcp(port: u16, topic: &str, payload: &[u8]) -> Result<(), String> {
    let fail = |error: String| format!("TCP publisher: {error}");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    let connect = Packet::Connect(Connect {
        level: ProtocolLevel::Mqtt311,
        bridge: false,
        clean_session: true,
        keep_alive: 0,
        client_id: "xtask-browser-tcp",
        will: None,
        user_name: None,
        password: None,
    });
    let publish = Packet::Publish(Publish {
        topic: TopicName::new(topic).map_err(|e| fail(format!("{e:?}")))?,
        payload,
        delivery: Delivery::new(
            QoS::AtLeastOnce,
            mqtt_codec::PacketId::new(1).ok_or_else(|| fail("packet id".into()))?,
            false,
        ),
        retain: false,
    });
    for packet in [connect, publish] {
        packet
            .encode(ProtocolLevel::Mqtt311, &mut bytes)
            .map_err(|e| fail(format!("{e:?}")))?;
    }
    stream.write_all(&bytes).map_err(|e| fail(e.to_string()))?;
    // Expect CONNACK 0, then PUBACK.
    let decoder = Decoder::new(ProtocolLevel::Mqtt311);
    let mut buffer = Vec::new();
    let mut seen = 0;
    while seen < 2 {
        match decoder.decode(&buffer) {
            Ok(Status::Complete((packet, used))) => {
                match (seen, &packet) {
                    (0, Packet::ConnAck(connack)) if connack.code as u8 == 0 => {}
                    (1, Packet::PubAck(_)) => {}
                    _ => return Err(fail(format!("unexpected {packet:?}"))),
                }
                seen += 1;
                buffer.drain(..used);
                continue;
            }
            Ok(Status::Partial) => {}
            Err(error) => return Err(fail(format!("malformed answer: {error}"))),
        }
        let mut chunk = [0u8; 512];
        match stream.read(&mut chunk) {
            Ok(0) => return Err(fail("the broker closed the connection".into())),
            Ok(count) => buffer.extend_from_slice(&chunk[..count]),
            Err(error) => return Err(fail(format!("no CONNACK/PUBACK: {error}"))),
        }
    }
    Ok(())
}

/// A child process, stopped when dropped: SIGTERM first (Chromium then takes its helper processes
/// down with it), SIGKILL if it has not ended a few seconds later.
struct Process(Child);

impl Process {
    fn start(name: &str, command: &mut Command) -> Result<Self, String> {
        command
            .spawn()
            .map(Self)
            .map_err(|error| format!("cannot start {name}: {error}"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16) -> Result<(), String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(address).is_err() {
        if Instant::now() > deadline {
            return Err(format!("the broker is not listening on {address}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("no free port: {error}"))
}

/// The page: MQTT.js over ws://, then wss://, then ws:// at MQTT 5.0, to the broker. Each time it subscribes to
/// `browser/<transport>/#`, reports that, and publishes QoS 1 to `browser/<transport>/echo`; it
/// goes on once it has received its own message and the one this task publishes over TCP. Every
/// step and any error is reported to the server.
const PAGE: &str = r##"<!doctype html>
<html><head><meta charset="utf-8"><title>mqtt-broker over WebSocket</title></head>
<body><pre id="log"></pre>
<script src="/mqtt.min.js"></script>
<script>
  const report = (path, text) => {
    document.getElementById("log").textContent += path + " " + text + "\n";
    fetch(path + "?" + encodeURIComponent(text)).catch(() => {});
  };
  window.onerror = (message) => report("/failed", "script error: " + message);

  // One round trip over `url`; resolves once both messages have arrived and the client is closed.
  // `extra`: more options for connect and publish, and a check of the echoed message's packet.
  const roundTrip = (transport, url, extra = {}) => new Promise((resolve, reject) => {
    const prefix = "browser/" + transport + "/";
    const expected = new Map([[prefix + "echo", "hello from chromium"], [prefix + "from-tcp", "from tcp"]]);
    const client = mqtt.connect(url, {
      clientId: "chromium-" + transport + "-" + Math.random().toString(16).slice(2),
      reconnectPeriod: 0,
      connectTimeout: 10000,
      ...(extra.connect || {}),
    });
    client.on("connect", () => {
      report("/step", transport + ": connected to " + url);
      client.subscribe(prefix + "#", { qos: 1 }, (error) => {
        if (error) return reject(transport + ": subscribe: " + error.message);
        report("/subscribed", transport);
        client.publish(prefix + "echo", "hello from chromium", { qos: 1, ...(extra.publish || {}) }, (error) => {
          if (error) reject(transport + ": publish: " + error.message);
          else report("/step", transport + ": PUBACK received");
        });
      });
    });
    client.on("message", (topic, payload, packet) => {
      const text = payload.toString();
      if (expected.get(topic) !== text) return reject(transport + ": unexpected " + topic + ": " + text);
      const wrong = topic === prefix + "echo" && extra.check && extra.check(packet);
      if (wrong) return reject(transport + ": " + wrong);
      expected.delete(topic);
      report("/step", transport + ": received " + topic + ": " + text);
      if (expected.size === 0) client.end(false, {}, () => resolve());
    });
    client.on("error", (error) => reject(transport + ": MQTT.js error: " + error.message));
    client.on("close", () => {
      if (expected.size > 0) reject(transport + ": the connection closed before both messages arrived");
    });
  });

  (async () => {
    await roundTrip("ws", "ws://127.0.0.1:WS_PORT/mqtt");
    await roundTrip("wss", "wss://127.0.0.1:WSS_PORT/mqtt");
    await roundTrip("ws5", "ws://127.0.0.1:WS_PORT/mqtt", {
      connect: { protocolVersion: 5 },
      publish: { properties: { userProperties: { from: "chromium" } } },
      check: (packet) => {
        const user = packet.properties && packet.properties.userProperties;
        return user && user.from === "chromium"
          ? null
          : "the User Property did not come back: " + JSON.stringify(packet.properties);
      },
    });
    report("/done", "all three round trips complete (the last at MQTT 5.0); disconnected cleanly");
  })().catch((why) => report("/failed", String(why)));
</script></body></html>
"##;

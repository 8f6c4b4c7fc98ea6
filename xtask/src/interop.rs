//! `cargo xtask interop`: the broker against real third-party clients.
//!
//! Builds `mqtt-broker`, starts it on a free loopback port, and drives it with Debian's
//! `mosquitto_pub` / `mosquitto_sub` (package `mosquitto-clients`) at the three protocol levels and all
//! three QoS levels, with retained messages, a Will and a shared subscription, then with the Python
//! `paho-mqtt` client (package `python3-paho-mqtt`), at 3.1.1 and at 5.0 (properties, subscription
//! options and identifiers). Each check names what it proves. A missing tool
//! is an error, not a skip: CI installs them.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one client may take.
const TIMEOUT_SECONDS: &str = "10";

/// Runs every interoperability check; the first failure ends the run with its description.
pub(crate) fn run() -> Result<(), String> {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from);
    step(
        Command::new(&cargo)
            .args([
                "build",
                "--quiet",
                "--package",
                "mqtt-broker",
                "--bin",
                "mqtt-broker",
            ])
            .current_dir(&root),
    )?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let binary = target.join("debug").join("mqtt-broker");
    let port = free_port()?;
    let broker = Broker::start(&binary, port)?;

    for version in ["mqttv31", "mqttv311", "mqttv5"] {
        for qos in ["0", "1", "2"] {
            live_message(port, version, qos)?;
            retained_message(port, version, qos)?;
        }
        will(port, version)?;
        shared_subscription(port, version)?;
    }
    paho(port)?;
    paho5(port)?;
    drop(broker);
    eprintln!("interop: all checks passed");
    Ok(())
}

/// The broker process, killed when dropped.
struct Broker(Child);

impl Broker {
    fn start(binary: &Path, port: u16) -> Result<Self, String> {
        let child = Command::new(binary)
            .args(["-p", &port.to_string()])
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
        let broker = Self(child);
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(address).is_err() {
            if Instant::now() > deadline {
                return Err(format!("the broker is not listening on {address}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(broker)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A subscriber receives a message published after it subscribed, at the given level and QoS.
fn live_message(port: u16, version: &str, qos: &str) -> Result<(), String> {
    let topic = format!("interop/live/{version}/{qos}");
    let payload = format!("live {version} qos {qos}");
    let subscriber = mosquitto_sub(port, version, qos, &topic, &[])?;
    // The subscriber may not have subscribed yet: publish until it has received one message.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut subscriber = subscriber;
    loop {
        step(&mut mosquitto_pub(
            port,
            version,
            qos,
            &topic,
            &payload,
            &[],
        ))?;
        if subscriber
            .try_wait()
            .map_err(|error| error.to_string())?
            .is_some()
        {
            break;
        }
        if Instant::now() > deadline {
            let _ = subscriber.kill();
            return Err(format!("{topic}: mosquitto_sub received nothing"));
        }
        thread::sleep(Duration::from_millis(100));
    }
    expect_output(subscriber.wait_with_output(), &topic, &payload)
}

/// A retained message reaches a subscriber that arrives after it was published.
fn retained_message(port: u16, version: &str, qos: &str) -> Result<(), String> {
    let topic = format!("interop/retained/{version}/{qos}");
    let payload = format!("retained {version} qos {qos}");
    step(&mut mosquitto_pub(
        port,
        version,
        qos,
        &topic,
        &payload,
        &["-r"],
    ))?;
    let subscriber = mosquitto_sub(port, version, qos, &topic, &["--retained-only"])?;
    expect_output(subscriber.wait_with_output(), &topic, &payload)
}

/// A client killed without DISCONNECT has its (retained) Will published.
fn will(port: u16, version: &str) -> Result<(), String> {
    let topic = format!("interop/will/{version}");
    let payload = format!("will {version}");
    // stdbuf: with its output on a pipe, mosquitto_sub would otherwise buffer the lines read below.
    let mut dying = Command::new("stdbuf")
        .args(["-oL", "mosquitto_sub"])
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-V",
            version,
            "-t",
            "interop/nothing",
        ])
        .args([
            "--will-topic",
            &topic,
            "--will-payload",
            &payload,
            "--will-qos",
            "1",
            "--will-retain",
        ])
        .arg("-d")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run mosquitto_sub: {error}"))?;
    // With -d it reports each packet it receives: once its SUBACK arrives it is connected, and the
    // broker holds its Will. The reading happens on a thread so that the wait has a deadline.
    let output = dying.stdout.take().ok_or("no output from mosquitto_sub")?;
    let (subscribed, wait) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let seen = BufReader::new(output)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("received SUBACK"));
        let _ = subscribed.send(seen);
    });
    if wait.recv_timeout(Duration::from_secs(10)) != Ok(true) {
        let _ = dying.kill();
        return Err(format!("{topic}: the dying client never subscribed"));
    }
    let _ = dying.kill(); // SIGKILL: the socket closes without DISCONNECT
    let _ = dying.wait();
    let watcher = mosquitto_sub(port, version, "1", &topic, &[])?;
    expect_output(watcher.wait_with_output(), &topic, &payload)
}

/// Two `mosquitto_sub` at `version` in one shared-subscription group (`$share/<group>/<filter>`,
/// see `docs/mqtt-broker-choices.md`) take turns: of four messages each receives two, and every
/// message reaches one of them.
fn shared_subscription(port: u16, version: &str) -> Result<(), String> {
    const READY: &str = "interop/shared/ready";
    let topic = format!("interop/shared/{version}");
    let share = format!("$share/interop/{topic}");
    // A retained message on an ordinary topic subscribed in the same SUBSCRIBE tells that the
    // share is in place: the broker sends retained messages only after the whole SUBSCRIBE.
    step(&mut mosquitto_pub(
        port,
        version,
        "1",
        READY,
        "ready",
        &["-r"],
    ))?;
    let mut members = Vec::new();
    for _ in 0..2 {
        // stdbuf: with its output on a pipe, mosquitto_sub would otherwise buffer the ready line.
        let mut member = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["-V", version, "-q", "1", "-v", "-C", "3", "-W"])
            .args([TIMEOUT_SECONDS, "-t", READY, "-t", &share])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run mosquitto_sub: {error}"))?;
        let output = member.stdout.take().ok_or("no output from mosquitto_sub")?;
        let mut lines = BufReader::new(output).lines();
        match lines.next() {
            Some(Ok(line)) if line == format!("{READY} ready") => {}
            other => {
                let _ = member.kill();
                return Err(format!("{share}: expected the ready line, got {other:?}"));
            }
        }
        members.push((member, lines));
    }
    for n in 0..4 {
        step(&mut mosquitto_pub(
            port,
            version,
            "1",
            &topic,
            &format!("m{n}"),
            &[],
        ))?;
    }
    let mut all = Vec::new();
    for (mut member, lines) in members {
        let got: Vec<String> = lines.map_while(Result::ok).collect();
        let status = member.wait().map_err(|error| error.to_string())?;
        if !status.success() || got.len() != 2 {
            return Err(format!(
                "{share}: a member expected 2 messages, got {got:?} ({status})"
            ));
        }
        all.extend(got);
    }
    all.sort();
    let expected: Vec<String> = (0..4).map(|n| format!("{topic} m{n}")).collect();
    if all != expected {
        return Err(format!(
            "{share}: expected {expected:?} in all, got {all:?}"
        ));
    }
    eprintln!("interop: {share}: ok");
    Ok(())
}

/// The Python paho-mqtt client publishes a retained QoS 1 message and receives it back.
fn paho(port: u16) -> Result<(), String> {
    let script = format!(
        "import paho.mqtt.publish as publish, paho.mqtt.subscribe as subscribe\n\
         publish.single('interop/paho', b'from paho', qos=1, retain=True, hostname='127.0.0.1', port={port})\n\
         message = subscribe.simple('interop/paho', qos=1, hostname='127.0.0.1', port={port})\n\
         assert message.payload == b'from paho', message.payload\n\
         assert message.retain\n\
         print('paho ok')\n"
    );
    python(&script, "paho-mqtt", "paho ok")
}

/// paho-mqtt at MQTTv5: a subscription with No Local and a Subscription Identifier; a PUBLISH with
/// User Property, Response Topic, Correlation Data and Content Type reaches it with all of them
/// unchanged and the identifier [MQTT5-3.3.2-17] [MQTT5-3.3.4-3]; the subscriber's own message on
/// the topic does not come back [MQTT5-3.8.3-3]; CONNACK assigned the empty client id one
/// [MQTT5-3.1.3-7].
fn paho5(port: u16) -> Result<(), String> {
    let script = format!(
        "import threading, paho.mqtt.client as mqtt\n\
         from paho.mqtt.properties import Properties\n\
         from paho.mqtt.packettypes import PacketTypes\n\
         from paho.mqtt.subscribeoptions import SubscribeOptions\n\
         got, connack = [], {{}}\n\
         subscribed, second = threading.Event(), threading.Event()\n\
         def on_connect(client, userdata, flags, rc, properties=None):\n\
         \x20   connack['properties'] = properties\n\
         \x20   wanted = Properties(PacketTypes.SUBSCRIBE)\n\
         \x20   wanted.SubscriptionIdentifier = 7\n\
         \x20   client.subscribe('interop/paho5', options=SubscribeOptions(qos=1, noLocal=True), properties=wanted)\n\
         def on_message(client, userdata, message):\n\
         \x20   got.append(message)\n\
         \x20   if message.payload == b'second': second.set()\n\
         sub = mqtt.Client(client_id='', protocol=mqtt.MQTTv5)\n\
         sub.on_connect = on_connect\n\
         sub.on_subscribe = lambda *args: subscribed.set()\n\
         sub.on_message = on_message\n\
         sub.connect('127.0.0.1', {port})\n\
         sub.loop_start()\n\
         assert subscribed.wait(10), 'no SUBACK'\n\
         assert connack['properties'].AssignedClientIdentifier, 'no Assigned Client Identifier'\n\
         pub = mqtt.Client(client_id='paho5-pub', protocol=mqtt.MQTTv5)\n\
         pub.connect('127.0.0.1', {port})\n\
         pub.loop_start()\n\
         sent = Properties(PacketTypes.PUBLISH)\n\
         sent.UserProperty = [('k', 'v'), ('k', 'w')]\n\
         sent.ResponseTopic = 'interop/reply'\n\
         sent.CorrelationData = b'42'\n\
         sent.ContentType = 'text/plain'\n\
         pub.publish('interop/paho5', b'first', qos=1, properties=sent).wait_for_publish(10)\n\
         sub.publish('interop/paho5', b'own', qos=1).wait_for_publish(10)\n\
         pub.publish('interop/paho5', b'second', qos=1).wait_for_publish(10)\n\
         assert second.wait(10), 'the second message did not come'\n\
         payloads = [message.payload for message in got]\n\
         assert payloads == [b'first', b'second'], payloads\n\
         p = got[0].properties\n\
         assert p.UserProperty == [('k', 'v'), ('k', 'w')], p.UserProperty\n\
         assert (p.ResponseTopic, p.CorrelationData, p.ContentType) == ('interop/reply', b'42', 'text/plain'), p\n\
         assert p.SubscriptionIdentifier == [7], p.SubscriptionIdentifier\n\
         sub.loop_stop(); pub.loop_stop()\n\
         print('paho5 ok')\n"
    );
    python(&script, "paho-mqtt at MQTTv5", "paho5 ok")
}

/// Runs `script` with Debian's Python (the one `python3-paho-mqtt` is installed for) and expects
/// `expected` on its output.
fn python(script: &str, what: &str, expected: &str) -> Result<(), String> {
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let mut child = Command::new(python)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run {python}: {error}"))?;
    if let Some(stdin) = child.stdin.as_mut() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|error| format!("cannot feed the paho script: {error}"))?;
    }
    drop(child.stdin.take());
    expect_output(child.wait_with_output(), what, expected)
}

fn mosquitto_sub(
    port: u16,
    version: &str,
    qos: &str,
    topic: &str,
    extra: &[&str],
) -> Result<Child, String> {
    Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-V",
            version,
            "-q",
            qos,
            "-t",
            topic,
        ])
        .args(["-C", "1", "-W", TIMEOUT_SECONDS])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| {
            format!("cannot run mosquitto_sub (apt-get install mosquitto-clients): {error}")
        })
}

fn mosquitto_pub(
    port: u16,
    version: &str,
    qos: &str,
    topic: &str,
    payload: &str,
    extra: &[&str],
) -> Command {
    let mut command = Command::new("mosquitto_pub");
    command
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-V",
            version,
            "-q",
            qos,
        ])
        .args(["-t", topic, "-m", payload])
        .args(extra);
    command
}

fn expect_output(
    output: std::io::Result<Output>,
    what: &str,
    expected: &str,
) -> Result<(), String> {
    let output = output.map_err(|error| format!("{what}: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && stdout.trim_end() == expected {
        eprintln!("interop: {what}: ok");
        Ok(())
    } else {
        Err(format!(
            "{what}: expected {expected:?}, got {:?} ({}; stderr {:?})",
            stdout.trim_end(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn step(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .map_err(|error| format!("cannot run {shown}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|error| error.to_string())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

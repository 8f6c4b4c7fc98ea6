//! `mqtt-pub` and `mqtt-sub` run as a user runs them: as processes, with mosquitto's flags, judged
//! by their output and exit codes.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;

use crate::support::{Broker, PATIENCE, free_port};

fn tool(name: &str) -> Command {
    let binary = match name {
        "mqtt-pub" => env!("CARGO_BIN_EXE_mqtt-pub"),
        _ => env!("CARGO_BIN_EXE_mqtt-sub"),
    };
    let mut command = Command::new(binary);
    command.env_remove("RUST_LOG");
    command
}

/// A tool's process, killed when dropped unless it was waited for: a test that fails (panics)
/// between starting a tool and waiting for it leaves no process behind.
struct Running(Option<Child>);

impl From<Child> for Running {
    fn from(child: Child) -> Self {
        Self(Some(child))
    }
}

impl std::ops::Deref for Running {
    type Target = Child;

    fn deref(&self) -> &Child {
        self.0.as_ref().expect("not yet waited for")
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("not yet waited for")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for `running` within the test's patience, killing it if it hangs.
fn wait(mut running: Running) -> (ExitStatus, String) {
    let mut child = running.0.take().expect("waited for once");
    let (done, finished) = mpsc::channel();
    let mut stdout = child.stdout.take();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        if let Some(stdout) = &mut stdout {
            let _ = stdout.read_to_string(&mut text);
        }
        text
    });
    let id = child.id();
    thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = match finished.recv_timeout(PATIENCE) {
        Ok(status) => status.expect("waiting for the tool"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("the tool did not finish in time");
        }
    };
    (status, reader.join().expect("the output reader"))
}

/// Starts `mqtt-sub` with `args` (plus `-d`) and returns once it has subscribed.
fn subscriber(broker: &Broker, args: &[&str]) -> Running {
    let port = broker.port().to_string();
    let mut child = tool("mqtt-sub")
        .args(["-p", &port, "-d"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(Running::from)
        .expect("starting mqtt-sub");
    let stderr = child.stderr.take().expect("stderr");
    let (subscribed, ready) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("subscribed to") {
                let _ = subscribed.send(());
            }
        }
    });
    ready
        .recv_timeout(PATIENCE)
        .expect("mqtt-sub subscribed in time");
    child
}

fn publish(broker: &Broker, args: &[&str]) -> ExitStatus {
    let port = broker.port().to_string();
    let child = tool("mqtt-pub")
        .args(["-p", &port])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .map(Running::from)
        .expect("starting mqtt-pub");
    wait(child).0
}

#[test]
fn sub_prints_what_pub_sends_with_verbose_and_count() {
    let broker = Broker::start();
    let sub = subscriber(&broker, &["-t", "tools/#", "-C", "3", "-v", "-q", "1"]);
    for (topic, message, qos) in [
        ("tools/a", "one", "0"),
        ("tools/b", "two", "1"),
        ("tools/c", "three", "2"),
    ] {
        let status = publish(&broker, &["-t", topic, "-m", message, "-q", qos]);
        assert!(status.success(), "mqtt-pub failed: {status}");
    }
    let (status, output) = wait(sub);
    assert!(status.success(), "mqtt-sub failed: {status}");
    assert_eq!(output, "tools/a one\ntools/b two\ntools/c three\n");
}

#[test]
fn pub_sends_each_line_of_stdin_and_sub_formats_them() {
    let broker = Broker::start();
    let sub = subscriber(
        &broker,
        &["-t", "lines", "-C", "2", "-F", "%t:%p:%q", "-q", "1"],
    );
    let port = broker.port().to_string();
    let mut publisher = tool("mqtt-pub")
        .args(["-p", &port, "-t", "lines", "-l", "-q", "1", "-V", "mqttv31"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map(Running::from)
        .expect("starting mqtt-pub");
    publisher
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"first\nsecond\n")
        .expect("writing to mqtt-pub");
    assert!(wait(publisher).0.success());
    let (status, output) = wait(sub);
    assert!(status.success());
    assert_eq!(output, "lines:first:1\nlines:second:1\n");
}

#[test]
fn retained_message_and_skip_retained() {
    let broker = Broker::start();
    assert!(publish(&broker, &["-t", "kept", "-m", "old", "-r"]).success());
    // -R skips the stale retained message; the fresh one is printed.
    let sub = subscriber(&broker, &["-t", "kept", "-C", "1", "-R"]);
    assert!(publish(&broker, &["-t", "kept", "-m", "new"]).success());
    let (status, output) = wait(sub);
    assert!(status.success());
    assert_eq!(output, "new\n");
}

#[test]
fn refusal_exits_with_the_connack_code() {
    let broker = Broker::with_config("allow_anonymous false\n");
    let status = publish(&broker, &["-t", "t", "-m", "x"]);
    assert_eq!(status.code(), Some(5), "CONNACK 5, not authorised");
}

#[test]
fn sub_timeout_exits_with_27() {
    let broker = Broker::start();
    let port = broker.port().to_string();
    let child = tool("mqtt-sub")
        .args(["-p", &port, "-t", "quiet", "-W", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map(Running::from)
        .expect("starting mqtt-sub");
    assert_eq!(wait(child).0.code(), Some(27));
}

#[test]
fn unreachable_broker_and_usage_errors_exit_with_1() {
    let port = free_port().to_string();
    let child = tool("mqtt-pub")
        .args(["-p", &port, "-t", "t", "-m", "x"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map(Running::from)
        .expect("starting mqtt-pub");
    assert_eq!(wait(child).0.code(), Some(1));
    let child = tool("mqtt-pub")
        .args(["-t", "t"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map(Running::from)
        .expect("starting mqtt-pub");
    assert_eq!(wait(child).0.code(), Some(1), "no message given");
}

#[test]
fn help_reads_like_a_manual() {
    let child = tool("mqtt-pub")
        .arg("--help")
        .stdout(Stdio::piped())
        .spawn()
        .map(Running::from)
        .expect("starting mqtt-pub");
    let (status, output) = wait(child);
    assert!(status.success());
    for section in [
        "Usage:",
        "Options:",
        "Examples:",
        "Error codes:",
        "-h, --host",
    ] {
        assert!(output.contains(section), "no {section:?} in:\n{output}");
    }
}

#[test]
fn version_names_the_tool_and_the_crate() {
    for name in ["mqtt-pub", "mqtt-sub"] {
        let child = tool(name)
            .arg("--version")
            .stdout(Stdio::piped())
            .spawn()
            .map(Running::from)
            .expect("starting the tool");
        let (status, output) = wait(child);
        assert!(status.success());
        assert_eq!(
            output,
            format!("{name} (mqtt-client) {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

/// mosquitto_sub with `args` (plus `-d`), once subscribed, and what it prints with its debug lines
/// (which it writes to standard output: `Client ...` and `Subscribed (mid...` lines) taken out.
fn mosquitto_sub(broker: &Broker, args: &[&str]) -> (Running, thread::JoinHandle<String>) {
    let port = broker.port().to_string();
    // Its debug lines go through stdio's buffer: stdbuf (coreutils) makes them arrive as written.
    let mut child = Command::new("stdbuf")
        .args(["-o0", "mosquitto_sub", "-p", &port, "-d"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map(Running::from)
        .unwrap_or_else(|error| {
            panic!("starting mosquitto_sub (apt-get install mosquitto-clients): {error}")
        });
    let mut stdout = child.stdout.take().expect("stdout");
    let (subscribed, ready) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut text = Vec::new();
        let mut buffer = [0; 4096];
        while let Ok(read @ 1..) = stdout.read(&mut buffer) {
            text.extend_from_slice(&buffer[..read]);
            if String::from_utf8_lossy(&text).contains("received SUBACK") {
                let _ = subscribed.send(());
            }
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        let mut printed = String::new();
        let mut rest = text.as_str();
        while let Some(at) = ["Client ", "Subscribed (mid"]
            .iter()
            .filter_map(|prefix| rest.find(prefix))
            .min()
        {
            printed.push_str(&rest[..at]);
            rest = rest[at..].split_once('\n').map_or("", |(_, after)| after);
        }
        printed.push_str(rest);
        printed
    });
    ready
        .recv_timeout(PATIENCE)
        .expect("mosquitto_sub subscribed in time");
    (child, reader)
}

/// Empty payloads print as mosquitto_sub prints them: nothing at all without -v, `topic (null)`
/// with it. Both tools run side by side on the same messages and must print the same bytes.
#[test]
fn empty_payloads_print_as_mosquitto_sub_prints_them() {
    let broker = Broker::start();
    for args in [&["-v"][..], &[], &["-v", "-N"], &["-F", "[%p]%l"]] {
        let mut line = vec!["-t", "empty", "-C", "2"];
        line.extend_from_slice(args);
        let ours = subscriber(&broker, &line);
        let (theirs, printed) = mosquitto_sub(&broker, &line);
        assert!(publish(&broker, &["-t", "empty", "-n"]).success());
        assert!(publish(&broker, &["-t", "empty", "-m", "x"]).success());
        let (status, ours) = wait(ours);
        assert!(status.success());
        wait(theirs);
        let theirs = printed.join().expect("the output reader");
        assert_eq!(ours, theirs, "with {args:?}");
    }
}

#[test]
fn url_and_repeat_publish_the_same_message_again() {
    let broker = Broker::start();
    let url = format!("mqtt://127.0.0.1:{}/repeated", broker.port());
    let sub = subscriber(&broker, &["-L", &url, "-C", "3", "-q", "1"]);
    let status = publish(
        &broker,
        &[
            "-L",
            &url,
            "-m",
            "again",
            "-q",
            "1",
            "--repeat",
            "3",
            "--repeat-delay",
            "0.01",
        ],
    );
    assert!(status.success(), "{status}");
    let (status, output) = wait(sub);
    assert!(status.success());
    assert_eq!(output, "again\nagain\nagain\n");
    assert_eq!(
        publish(&broker, &["-t", "t", "-m", "x", "--repeat", "0"]).code(),
        Some(1),
        "--repeat 0 is refused, as by mosquitto_pub"
    );
}

/// -E exits once subscribed; -U then removes a subscription from the kept session, so only the
/// other topic's message waits for the client.
#[test]
fn exit_after_subscribe_and_unsubscribe_clean_a_session() {
    let broker = Broker::start();
    let port = broker.port().to_string();
    let run = |args: &[&str]| {
        let child = tool("mqtt-sub")
            .args(["-p", &port, "-c", "-i", "tools-keep", "-q", "1"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map(Running::from)
            .expect("starting mqtt-sub");
        wait(child)
    };
    let (status, output) = run(&["-t", "gone", "-t", "kept", "-E"]);
    assert!(status.success() && output.is_empty(), "{status} {output:?}");
    let (status, _) = run(&["-t", "kept", "-U", "gone", "-E"]);
    assert!(status.success(), "{status}");
    assert!(publish(&broker, &["-t", "gone", "-m", "1", "-q", "1"]).success());
    assert!(publish(&broker, &["-t", "kept", "-m", "2", "-q", "1"]).success());
    let (status, output) = run(&["-t", "kept", "-C", "1", "-v"]);
    assert!(status.success(), "{status}");
    assert_eq!(
        output, "kept 2\n",
        "the unsubscribed topic's message was not queued"
    );
}

#[test]
fn retained_only_exits_at_the_first_fresh_message() {
    let broker = Broker::start();
    assert!(publish(&broker, &["-t", "ro/old", "-m", "stale", "-r"]).success());
    let sub = subscriber(&broker, &["-t", "ro/#", "--retained-only", "-v"]);
    assert!(publish(&broker, &["-t", "ro/new", "-m", "fresh"]).success());
    let (status, output) = wait(sub);
    assert!(status.success(), "{status}");
    assert_eq!(output, "ro/old stale\n");
}

#[test]
fn remove_retained_clears_what_it_receives_but_not_what_t_filters_out() {
    let broker = Broker::start();
    assert!(publish(&broker, &["-t", "rr/clear", "-m", "a", "-r"]).success());
    assert!(publish(&broker, &["-t", "rr/keep", "-m", "b", "-r"]).success());
    let sub = subscriber(
        &broker,
        &[
            "-t",
            "rr/#",
            "--remove-retained",
            "-T",
            "rr/keep",
            "-C",
            "1",
            "-v",
        ],
    );
    let (status, output) = wait(sub);
    assert!(status.success(), "{status}");
    assert_eq!(output, "rr/clear a\n");
    let sub = subscriber(&broker, &["-t", "rr/#", "-C", "1", "-v", "-R"]);
    let check = subscriber(&broker, &["-t", "rr/#", "-C", "1", "-v"]);
    assert!(publish(&broker, &["-t", "rr/end", "-m", "end"]).success());
    assert_eq!(wait(sub).1, "rr/end end\n");
    assert_eq!(
        wait(check).1,
        "rr/keep b\n",
        "rr/clear is gone, rr/keep stays"
    );
}

#[test]
fn pretty_json_is_mosquittos_layout() {
    let broker = Broker::start();
    let sub = subscriber(&broker, &["-t", "js", "-C", "1", "-F", "%j", "--pretty"]);
    assert!(publish(&broker, &["-t", "js", "-m", "v"]).success());
    let (status, output) = wait(sub);
    assert!(status.success());
    assert!(output.starts_with("{\n\t\"tst\":\t\""), "{output}");
    assert!(
        output.ends_with(",\n\t\"topic\":\t\"js\",\n\t\"qos\":\t0,\n\t\"retain\":\t0,\n\t\"payloadlen\":\t1,\n\t\"payload\":\t\"v\"\n}\n"),
        "{output}"
    );
}

/// At MQTT 5.0 our `mqtt-sub` and mosquitto's print the same properties for the same message,
/// published by our `mqtt-pub` with `-D`; the broker is always mosquitto (ours is 3.1.1 on main).
#[test]
fn mqtt5_properties_print_as_mosquitto_sub_prints_them() {
    let broker = Broker::with_config("allow_anonymous true\n");
    let format = "[%C|%D|%E|%F|%P|%R|%t|%p]";
    let ours = subscriber(
        &broker,
        &["-V", "mqttv5", "-t", "p5/#", "-C", "1", "-F", format],
    );
    let (theirs, printed) = mosquitto_sub(
        &broker,
        &["-V", "mqttv5", "-t", "p5/#", "-C", "1", "-F", format],
    );
    let status = publish(
        &broker,
        &[
            "-t",
            "p5/x",
            "-m",
            "hello",
            "-q",
            "1",
            "-D",
            "publish",
            "content-type",
            "text/plain",
            "-D",
            "publish",
            "correlation-data",
            "c-1",
            "-D",
            "publish",
            "message-expiry-interval",
            "300",
            "-D",
            "publish",
            "payload-format-indicator",
            "1",
            "-D",
            "publish",
            "response-topic",
            "reply/1",
            "-D",
            "publish",
            "user-property",
            "k1",
            "v1",
            "-D",
            "publish",
            "user-property",
            "k2",
            "v2",
        ],
    );
    assert!(status.success());
    let (status, output) = wait(ours);
    assert!(status.success());
    let mut theirs = theirs;
    let _ = theirs.wait();
    let expected = printed.join().expect("mosquitto_sub's output");
    // The expiry counts down in the broker, so it may print one second less.
    assert!(
        output.starts_with("[text/plain|c-1|")
            && output.ends_with("|1|k1:v1 k2:v2|reply/1|p5/x|hello]\n"),
        "{output}"
    );
    // %E is the third field: blanked on both sides before comparing the rest.
    let without_expiry = |line: &str| {
        let mut fields: Vec<&str> = line.split('|').collect();
        if let Some(expiry) = fields.get_mut(2) {
            assert!(matches!(*expiry, "299" | "300"), "{line}");
            *expiry = "E";
        }
        fields.join("|")
    };
    assert_eq!(
        without_expiry(&output),
        without_expiry(&expected),
        "ours:   {output}theirs: {expected}"
    );
}

#[test]
fn a_5_0_refusal_exits_with_its_reason_code_as_mosquitto_pub_does() {
    let broker = Broker::with_config("allow_anonymous false\n");
    let status = publish(&broker, &["-V", "5", "-t", "t", "-m", "x"]);
    assert_eq!(status.code(), Some(135), "CONNACK 0x87, not authorized");
}

/// mosquitto has no enhanced-authentication method without a plugin: both tools exit with 0x8C.
#[test]
fn an_unknown_authentication_method_exits_with_0x8c_as_mosquitto_pub_does() {
    let broker = Broker::with_config("allow_anonymous true\n");
    let args = [
        "-t",
        "t",
        "-m",
        "x",
        "-D",
        "connect",
        "authentication-method",
        "FOO",
    ];
    let ours = publish(&broker, &args);
    let theirs = Command::new("mosquitto_pub")
        .args(["-p", &broker.port().to_string()])
        .args(args)
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub runs");
    assert_eq!(ours.code(), Some(140), "bad authentication method");
    assert_eq!(ours.code(), theirs.code());
}

#[test]
fn a_session_expiry_from_dash_x_keeps_subscriptions_between_runs() {
    let broker = Broker::with_config("allow_anonymous true\n");
    let port = broker.port().to_string();
    let subscribe = tool("mqtt-sub")
        .args([
            "-p", &port, "-V", "5", "-i", "keeper", "-c", "-x", "300", "-q", "1", "-t", "kept",
            "-E",
        ])
        .output()
        .expect("mqtt-sub runs");
    assert!(
        subscribe.status.success(),
        "{}",
        String::from_utf8_lossy(&subscribe.stderr)
    );
    assert!(
        publish(
            &broker,
            &["-V", "5", "-t", "kept", "-m", "stored", "-q", "1"]
        )
        .success()
    );
    let child = tool("mqtt-sub")
        .args([
            "-p", &port, "-V", "5", "-i", "keeper", "-c", "-x", "300", "-q", "1", "-t", "kept",
            "-C", "1", "-W", "10",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .map(Running::from)
        .expect("starting mqtt-sub");
    let (status, output) = wait(child);
    assert!(status.success());
    assert_eq!(output, "stored\n");
}

#[test]
fn bad_properties_fail_clearly_and_quiet_silences_errors() {
    for (args, says) in [
        (
            &["-t", "t", "-m", "x", "-D", "connect", "content-type", "x"][..],
            "not allowed for connect",
        ),
        (
            &["-t", "t", "-m", "x", "-D", "publish", "user-property", "k"],
            "not enough arguments",
        ),
        (
            &["-t", "t", "-m", "x", "-V", "5", "-x", "soon"],
            "not a number",
        ),
        (
            &[
                "-t",
                "t",
                "-m",
                "x",
                "-D",
                "subscribe",
                "user-property",
                "k",
                "v",
            ],
            "Invalid command",
        ),
    ] {
        let output = tool("mqtt-pub").args(args).output().expect("mqtt-pub runs");
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let output = tool("mqtt-sub")
        .args(["-t", "t", "-V", "5", "-x", "soon", "--quiet"])
        .output()
        .expect("mqtt-sub runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `--random-filter 0` prints nothing (so `-C 1` is never reached and `-W` expires), 100 prints
/// everything.
#[test]
fn random_filter_at_its_extremes() {
    let broker = Broker::start();
    let none = subscriber(
        &broker,
        &["-t", "rf", "-C", "1", "-W", "3", "--random-filter", "0"],
    );
    let all = subscriber(&broker, &["-t", "rf", "-C", "1", "--random-filter", "100"]);
    assert!(publish(&broker, &["-t", "rf", "-m", "x"]).success());
    let (status, output) = wait(all);
    assert!(status.success(), "{status}");
    assert_eq!(output, "x\n");
    let (status, output) = wait(none);
    assert_eq!((status.code(), output.as_str()), (Some(27), ""));
}

/// `mqtt-pub -D connect authentication-method SCRAM-SHA-256 -u -P` authenticates with SCRAM against
/// our broker (mosquitto has no SCRAM): accepted with the right password, refused (exit status
/// not 0) with a wrong one. Always our broker, whatever `MQTT_CLIENT_TEST_BROKER` says.
#[test]
fn pub_authenticates_with_scram_sha_256() {
    let dir = crate::support::TempDir::new("scram");
    let file = dir.path().join("scram");
    let line = mqtt_broker::scram_line("sensor", "pencil", 4096).expect("random works");
    std::fs::write(&file, format!("{line}\n")).expect("writing the SCRAM file");
    let port = free_port();
    let broker = mqtt_broker::Broker::start(mqtt_broker::Config {
        listeners: vec![std::net::SocketAddr::from(([127, 0, 0, 1], port)).into()],
        scram_password_file: Some(file),
        allow_anonymous: Some(false),
        ..mqtt_broker::Config::default()
    })
    .expect("starting our broker");
    let run = |password: &str| {
        let child = tool("mqtt-pub")
            .args(["-p", &port.to_string(), "-t", "scram/t", "-m", "hi"])
            .args(["-u", "sensor", "-P", password])
            .args(["-D", "connect", "authentication-method", "SCRAM-SHA-256"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map(Running::from)
            .expect("starting mqtt-pub");
        wait(child).0
    };
    assert!(run("pencil").success());
    assert!(!run("crayon").success());
    broker.shutdown();
}

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

/// Waits for `child` within the test's patience, killing it if it hangs.
fn wait(mut child: Child) -> (ExitStatus, String) {
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
fn subscriber(broker: &Broker, args: &[&str]) -> Child {
    let port = broker.port().to_string();
    let mut child = tool("mqtt-sub")
        .args(["-p", &port, "-d"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
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
        .expect("starting mqtt-pub");
    assert_eq!(wait(child).0.code(), Some(1));
    let child = tool("mqtt-pub")
        .args(["-t", "t"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting mqtt-pub");
    assert_eq!(wait(child).0.code(), Some(1), "no message given");
}

#[test]
fn help_reads_like_a_manual() {
    let child = tool("mqtt-pub")
        .arg("--help")
        .stdout(Stdio::piped())
        .spawn()
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
            .expect("starting the tool");
        let (status, output) = wait(child);
        assert!(status.success());
        assert_eq!(
            output,
            format!("{name} (mqtt-client) {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

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
    assert_eq!(line.as_deref(), Some("sn/tool/sub hi"));
    assert!(child.wait().expect("exits").success());
    publisher.disconnect();
}

//! The library against a real broker, and against fake servers for what a real one never does.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mqtt_client::{
    Client, ConnectReturnCode, Error, LastWill, Message, Notification, ProtocolLevel, QoS,
    SubAckReturnCode, Timeout,
};

use crate::support::{Broker, PATIENCE, free_port, silent_server};

fn connect(broker: &Broker, level: ProtocolLevel) -> Client {
    Client::connect(broker.options().level(level).build().expect("options")).expect("connected")
}

fn next_message(client: &Client) -> Message {
    client
        .messages()
        .recv_timeout(PATIENCE)
        .expect("a message within the test's patience")
}

#[test]
fn publish_and_subscribe_at_each_qos_and_both_levels() {
    let broker = Broker::start();
    for level in [ProtocolLevel::Mqtt31, ProtocolLevel::Mqtt311] {
        let subscriber = connect(&broker, level);
        let publisher = connect(&broker, level);
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let topic = format!("test/{level:?}/{}", qos.bits());
            let granted = subscriber.subscribe(&[(&topic, qos)]).expect("sent").wait();
            assert_eq!(
                granted.expect("subscribed"),
                [SubAckReturnCode::Granted(qos)]
            );
            publisher
                .publish(&topic, format!("hello {qos}"), qos, false)
                .expect("sent")
                .wait()
                .expect("acknowledged");
            let message = next_message(&subscriber);
            assert_eq!(message.topic, topic);
            assert_eq!(message.payload, format!("hello {qos}").as_bytes());
            assert_eq!(message.qos, qos);
            assert!(!message.retain);
        }
        publisher.disconnect();
        subscriber.disconnect();
    }
}

#[test]
fn retained_message_reaches_a_later_subscriber() {
    let broker = Broker::start();
    let publisher = connect(&broker, ProtocolLevel::Mqtt311);
    publisher
        .publish("retained/t", "kept", QoS::AtLeastOnce, true)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    let subscriber = connect(&broker, ProtocolLevel::Mqtt311);
    subscriber
        .subscribe(&[("retained/#", QoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let message = next_message(&subscriber);
    assert_eq!(message.payload, b"kept");
    assert!(
        message.retain,
        "sent because of the new subscription [MQTT-3.3.1-8]"
    );
}

#[test]
fn will_is_published_when_the_connection_ends_without_disconnect() {
    let broker = Broker::start();
    let watcher = connect(&broker, ProtocolLevel::Mqtt311);
    watcher
        .subscribe(&[("will/t", QoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let will = LastWill {
        topic: "will/t".into(),
        payload: b"gone".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
    };
    let options = broker.options().client_id("will-client").will(will);
    let doomed = Client::connect(options.build().expect("options")).expect("connected");
    // A second client with the same id takes the session over: the server drops the first one
    // without a DISCONNECT from it, which publishes its will [MQTT-3.1.2-8] [MQTT-3.1.4-2].
    let usurper = broker.options().client_id("will-client");
    let _usurper = Client::connect(usurper.build().expect("options")).expect("connected");
    let message = next_message(&watcher);
    assert_eq!(message.payload, b"gone");
    drop(doomed);
}

#[test]
fn unsubscribed_topics_are_no_longer_delivered() {
    let broker = Broker::start();
    let client = connect(&broker, ProtocolLevel::Mqtt311);
    client
        .subscribe(&[("a", QoS::AtLeastOnce), ("b", QoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    client
        .unsubscribe(&["a"])
        .expect("sent")
        .wait()
        .expect("unsubscribed");
    client
        .publish("a", "dropped", QoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acked");
    client
        .publish("b", "kept", QoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acked");
    // Messages from one publisher arrive in order, so "kept" arriving first proves "dropped" was not
    // delivered.
    assert_eq!(next_message(&client).payload, b"kept");
}

#[test]
fn refusal_reports_the_connack_code() {
    let broker = Broker::with_config("allow_anonymous false\n");
    let result = Client::connect(broker.options().build().expect("options"));
    match result {
        Err(Error::Refused(ConnectReturnCode::NotAuthorized)) => {}
        other => panic!("expected a refusal with code 5, got {:?}", other.err()),
    }
}

#[test]
fn nobody_listening_is_a_network_error() {
    let port = free_port();
    let options = mqtt_client::ConnectOptions::builder("127.0.0.1", port)
        .build()
        .expect("options");
    match Client::connect(options) {
        Err(error @ Error::Io { .. }) => {
            assert!(error.to_string().contains("connecting"), "{error}")
        }
        other => panic!("expected a connection error, got {:?}", other.err()),
    }
}

#[test]
fn silent_server_is_detected_within_one_and_a_half_keep_alives() {
    // CONNACK accepted, then silence: PINGREQs go unanswered.
    let port = silent_server(&[0x20, 0x02, 0x00, 0x00]);
    let options = mqtt_client::ConnectOptions::builder("127.0.0.1", port)
        .keep_alive(Duration::from_secs(1))
        .build()
        .expect("options");
    let start = Instant::now();
    let client = Client::connect(options).expect("connected");
    let notifications = client.notifications();
    loop {
        match notifications.recv_timeout(PATIENCE) {
            Ok(Notification::ConnectionLost(Error::TimedOut(Timeout::KeepAlive))) => break,
            Ok(Notification::Connected { .. }) => {}
            other => panic!("expected a keep-alive timeout, got {other:?}"),
        }
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1400),
        "too early: {elapsed:?}"
    );
    assert!(
        elapsed <= Duration::from_millis(2500),
        "too late: {elapsed:?}"
    );
    assert!(matches!(
        client.close_reason(),
        Some(Error::TimedOut(Timeout::KeepAlive))
    ));
    assert!(matches!(
        client.publish("t", "x", QoS::AtMostOnce, false),
        Err(Error::Closed)
    ));
}

#[test]
fn packet_before_connack_is_a_protocol_violation_mqtt_3_2_0_1() {
    // A PINGRESP where the CONNACK should be.
    let port = silent_server(&[0xD0, 0x00]);
    let options = mqtt_client::ConnectOptions::builder("127.0.0.1", port)
        .build()
        .expect("options");
    match Client::connect(options) {
        Err(
            error @ Error::ProtocolViolation {
                rule: "MQTT-3.2.0-1",
                ..
            },
        ) => {
            assert!(
                error
                    .to_string()
                    .contains("protocol violation by the server")
            );
        }
        other => panic!("expected a protocol violation, got {:?}", other.err()),
    }
}

#[test]
fn no_connack_times_out() {
    // A server that accepts the connection and never answers.
    let port = silent_server(&[]);
    let options = mqtt_client::ConnectOptions::builder("127.0.0.1", port)
        .connect_timeout(Duration::from_millis(300))
        .build()
        .expect("options");
    assert!(matches!(
        Client::connect(options),
        Err(Error::TimedOut(Timeout::ConnAck))
    ));
}

#[test]
fn publishing_from_inside_the_message_loop_does_not_deadlock() {
    const COUNT: usize = 50;
    let broker = Broker::start();
    let client = connect(&broker, ProtocolLevel::Mqtt311);
    client
        .subscribe(&[
            ("loop/in", QoS::AtLeastOnce),
            ("loop/out", QoS::AtLeastOnce),
        ])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let (done, finished) = mpsc::channel();
    let looping = client.clone();
    thread::spawn(move || {
        let mut answered = 0;
        for message in looping.messages() {
            if message.topic == "loop/in" {
                // Publish and wait for the PUBACK from inside the loop, which is what deadlocks
                // clients whose network loop is the application's loop.
                looping
                    .publish("loop/out", message.payload, QoS::AtLeastOnce, false)
                    .expect("sent")
                    .wait()
                    .expect("acknowledged");
                answered += 1;
            }
            if answered == COUNT {
                break;
            }
        }
        let _ = done.send(answered);
    });
    for n in 0..COUNT {
        // Not waited on here: the loop's own publications prove these were delivered.
        let _pending = client
            .publish("loop/in", n.to_string(), QoS::AtLeastOnce, false)
            .expect("sent");
    }
    let answered = finished
        .recv_timeout(PATIENCE)
        .expect("the message loop finished: no deadlock");
    assert_eq!(answered, COUNT);
}

#[test]
fn many_qos_2_messages_through_a_small_window() {
    let broker = Broker::start();
    let subscriber = connect(&broker, ProtocolLevel::Mqtt311);
    subscriber
        .subscribe(&[("window", QoS::ExactlyOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let options = broker
        .options()
        .max_inflight(2)
        .max_queued(1000)
        .build()
        .expect("options");
    let publisher = Client::connect(options).expect("connected");
    let pending: Vec<_> = (0..200)
        .map(|n| {
            publisher
                .publish("window", n.to_string(), QoS::ExactlyOnce, false)
                .expect("queued")
        })
        .collect();
    for token in pending {
        token.wait_timeout(PATIENCE).expect("acknowledged");
    }
    let messages = subscriber.messages();
    for n in 0..200 {
        let message = messages.recv_timeout(PATIENCE).expect("delivered");
        assert_eq!(
            message.payload,
            n.to_string().as_bytes(),
            "in order [MQTT-4.6.0-6]"
        );
    }
}

#[test]
fn full_offline_buffer_is_reported() {
    // A server that accepts the connection and never acknowledges anything.
    let port = silent_server(&[0x20, 0x02, 0x00, 0x00]);
    let options = mqtt_client::ConnectOptions::builder("127.0.0.1", port)
        .max_inflight(1)
        .max_queued(2)
        .build()
        .expect("options");
    let client = Client::connect(options).expect("connected");
    for _ in 0..3 {
        // One in flight, two queued.
        let _pending = client
            .publish("t", "x", QoS::AtLeastOnce, false)
            .expect("room");
    }
    match client.publish("t", "x", QoS::AtLeastOnce, false) {
        Err(error @ Error::QueueFull { capacity: 2 }) => {
            assert!(error.to_string().contains("full"), "{error}");
        }
        other => panic!("expected a full buffer, got {other:?}"),
    }
}

#[test]
fn a_pending_result_can_be_awaited_through_its_receiver() {
    // `Pending::into_receiver` lets a program select over many requests; the MQTT-SN gateway does.
    let broker = Broker::start();
    let client = connect(&broker, ProtocolLevel::Mqtt311);
    let published = client
        .publish("receiver/t", "x", QoS::ExactlyOnce, false)
        .expect("sent")
        .into_receiver();
    let subscribed = client
        .subscribe(&[("receiver/#", QoS::AtLeastOnce)])
        .expect("sent")
        .into_receiver();
    let mut select = crossbeam_channel::Select::new();
    select.recv(&published);
    select.recv(&subscribed);
    let deadline = Instant::now() + PATIENCE;
    let (mut publish_done, mut subscribe_done) = (false, false);
    while !(publish_done && subscribe_done) {
        let operation = select
            .select_deadline(deadline)
            .expect("both complete in time");
        let index = operation.index();
        match index {
            0 => {
                operation
                    .recv(&published)
                    .expect("one result")
                    .expect("acknowledged");
                publish_done = true;
            }
            _ => {
                let granted = operation.recv(&subscribed).expect("one result");
                assert_eq!(
                    granted.expect("subscribed"),
                    [SubAckReturnCode::Granted(QoS::AtLeastOnce)]
                );
                subscribe_done = true;
            }
        }
        // A completed request's channel is then disconnected, which would be ready forever.
        select.remove(index);
    }
    // A completed request's channel then reports disconnection: nothing more will come.
    client.disconnect();
    assert!(published.try_recv().is_err());
}

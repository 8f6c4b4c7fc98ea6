//! Automatic reconnection with the broker restarted under the client. Lost subscriptions after a
//! reconnect are the defect users report most often in other Rust clients, hence these tests.

use std::time::Duration;

use crossbeam_channel::Receiver;
use mqtt_client::{Client, Notification, QoS};

use crate::support::{Broker, PATIENCE};

/// Waits for a loss of the connection and the `Connected` that follows it, and returns its Session
/// Present. The first connection's `Connected` is skipped.
fn reconnected(notifications: &Receiver<Notification>) -> bool {
    let mut lost = false;
    loop {
        match notifications.recv_timeout(PATIENCE) {
            Ok(Notification::Connected { session_present }) if lost => return session_present,
            Ok(Notification::Connected { .. }) => {}
            Ok(Notification::ConnectionLost(_)) => lost = true,
            other => panic!("expected a reconnection, got {other:?}"),
        }
    }
}

fn next_payload(notifications: &Receiver<Notification>) -> Vec<u8> {
    loop {
        match notifications.recv_timeout(PATIENCE) {
            Ok(Notification::Message(message)) => return message.payload,
            Ok(_) => {}
            Err(error) => panic!("no message: {error}"),
        }
    }
}

fn quick_reconnect(broker: &Broker) -> mqtt_client::ConnectOptionsBuilder {
    broker
        .options()
        .reconnect(Duration::from_millis(20), Duration::from_millis(200))
}

#[test]
fn subscriptions_are_made_again_when_the_session_is_gone() {
    // No persistence: a restarted broker has forgotten every session.
    let mut broker = Broker::start();
    let client =
        Client::connect(quick_reconnect(&broker).build().expect("options")).expect("connected");
    client
        .subscribe(&[
            ("resub/a", QoS::AtLeastOnce),
            ("resub/+/b", QoS::ExactlyOnce),
        ])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let notifications = client.notifications();

    broker.restart();
    assert!(!reconnected(&notifications), "the broker lost the session");

    // The re-subscription is the first packet after CONNECT on the new connection, and the broker
    // handles one connection's packets in order: once a later publication of ours is acknowledged,
    // the re-subscription is in place.
    let publisher = Client::connect(broker.options().build().expect("options")).expect("connected");
    client
        .publish("resub/sync", "", QoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    publisher
        .publish("resub/a", "one", QoS::AtLeastOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    publisher
        .publish("resub/x/b", "two", QoS::ExactlyOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    assert_eq!(next_payload(&notifications), b"one");
    assert_eq!(next_payload(&notifications), b"two");
}

#[test]
fn persistent_session_is_resumed_and_offline_messages_are_sent() {
    let mut broker = Broker::with_config("allow_anonymous true\npersistence true\n");
    let options = quick_reconnect(&broker)
        .client_id("resume-me")
        .clean_session(false)
        .build()
        .expect("options");
    let client = Client::connect(options).expect("connected");
    client
        .subscribe(&[("resume/t", QoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let notifications = client.notifications();

    broker.stop();
    // Published while the broker is down: kept in the offline buffer.
    let offline = client
        .publish("resume/t", "while down", QoS::AtLeastOnce, false)
        .expect("queued while disconnected");
    broker.restart();

    assert!(
        reconnected(&notifications),
        "the persistent broker kept the session"
    );
    offline
        .wait_timeout(PATIENCE)
        .expect("sent and acknowledged after the reconnection");
    // The broker kept the subscription: our own message comes back to us.
    assert_eq!(next_payload(&notifications), b"while down");
}

#[test]
fn disconnect_stops_reconnecting() {
    let mut broker = Broker::start();
    let client =
        Client::connect(quick_reconnect(&broker).build().expect("options")).expect("connected");
    let notifications = client.notifications();
    broker.stop();
    loop {
        match notifications.recv_timeout(PATIENCE) {
            Ok(Notification::ConnectionLost(_)) => break,
            Ok(Notification::Connected { .. }) => {}
            other => panic!("expected the loss, got {other:?}"),
        }
    }
    client.disconnect();
    // The notifications end: no more attempts.
    loop {
        match notifications.recv_timeout(PATIENCE) {
            Ok(Notification::ConnectionLost(_)) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => panic!("still running"),
        }
    }
}

/// Reads from `socket` until a packet other than PINGREQ arrives, and describes it in one line:
/// `PUBLISH id=1 dup=0`, `PUBREL id=1`, or the packet type.
fn read_packet(socket: &mut std::net::TcpStream, buffer: &mut Vec<u8>) -> String {
    use std::io::Read;

    use mqtt_codec::{Decoder, Packet, ProtocolLevel, Status};

    let decoder = Decoder::new(ProtocolLevel::Mqtt311);
    let mut chunk = [0u8; 1024];
    loop {
        if let Ok(Status::Complete((packet, used))) = decoder.decode(buffer) {
            let line = match packet {
                Packet::PingReq => None,
                Packet::Publish(publish) => Some(format!(
                    "PUBLISH id={} dup={}",
                    publish.delivery.packet_id().map_or(0, |id| id.get()),
                    u8::from(publish.delivery.dup())
                )),
                Packet::PubRel(pubrel) => Some(format!("PUBREL id={}", pubrel.packet_id)),
                other => Some(format!("{:?}", other.packet_type())),
            };
            buffer.drain(..used);
            match line {
                Some(line) => return line,
                None => continue,
            }
        }
        let read = socket.read(&mut chunk).expect("reading from the client");
        assert!(read > 0, "the client closed the connection");
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// A scripted server for the two connections of a resumption test. Each connection gets a CONNACK
/// (Session Present on the second), then `script` runs with the connection number, the socket and
/// a transcript to append to. Returns the transcript.
fn scripted_server(
    script: impl Fn(usize, &mut std::net::TcpStream, &mut Vec<u8>, &mut Vec<String>) + Send + 'static,
) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        let mut transcript = Vec::new();
        for connection in 0..2 {
            let (mut socket, _) = listener.accept().expect("a connection");
            socket
                .set_read_timeout(Some(PATIENCE))
                .expect("read timeout");
            let mut buffer = Vec::new();
            assert_eq!(read_packet(&mut socket, &mut buffer), "Connect");
            let session_present = u8::from(connection == 1);
            socket
                .write_all(&[0x20, 0x02, session_present, 0x00])
                .expect("CONNACK");
            script(connection, &mut socket, &mut buffer, &mut transcript);
            if connection == 1 {
                // Serve until the client disconnects.
                while matches!(socket.read(&mut [0u8; 256]), Ok(n) if n > 0) {}
            }
        }
        transcript
    });
    (port, server)
}

fn persistent_client(port: u16) -> Client {
    let options = mqtt_client::ConnectOptions::builder("127.0.0.1", port)
        .client_id("resume-test")
        .clean_session(false)
        .reconnect(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .expect("options");
    Client::connect(options).expect("connected")
}

#[test]
fn unacknowledged_qos_1_message_is_sent_again_with_dup_mqtt_4_4_0_1() {
    use std::io::Write;

    // The first connection takes the PUBLISH and drops without acknowledging; the second reports
    // the session as present, gets the same PUBLISH again with DUP set, and acknowledges it.
    let (port, server) = scripted_server(|connection, socket, buffer, transcript| {
        transcript.push(read_packet(socket, buffer));
        if connection == 1 {
            socket.write_all(&[0x40, 0x02, 0x00, 0x01]).expect("PUBACK");
        }
    });
    let client = persistent_client(port);
    client
        .publish("t", "once", QoS::AtLeastOnce, false)
        .expect("sent")
        .wait_timeout(PATIENCE)
        .expect("acknowledged on the second connection");
    client.disconnect();
    let transcript = server.join().expect("the server thread");
    assert_eq!(
        transcript,
        ["PUBLISH id=1 dup=0", "PUBLISH id=1 dup=1"],
        "same identifier, DUP set [MQTT-3.3.1-1]"
    );
}

#[test]
fn interrupted_qos_2_flow_resumes_with_pubrel_mqtt_4_3_3_1() {
    use std::io::Write;

    // The first connection answers the PUBLISH with PUBREC, reads the PUBREL, and drops before
    // PUBCOMP. The second must get the PUBREL again, never the PUBLISH, and completes the flow.
    let (port, server) = scripted_server(|connection, socket, buffer, transcript| {
        if connection == 0 {
            transcript.push(read_packet(socket, buffer));
            socket.write_all(&[0x50, 0x02, 0x00, 0x01]).expect("PUBREC");
        }
        transcript.push(read_packet(socket, buffer));
        if connection == 1 {
            socket
                .write_all(&[0x70, 0x02, 0x00, 0x01])
                .expect("PUBCOMP");
        }
    });
    let client = persistent_client(port);
    client
        .publish("t", "exactly once", QoS::ExactlyOnce, false)
        .expect("sent")
        .wait_timeout(PATIENCE)
        .expect("completed on the second connection");
    client.disconnect();
    let transcript = server.join().expect("the server thread");
    assert_eq!(
        transcript,
        ["PUBLISH id=1 dup=0", "PUBREL id=1", "PUBREL id=1"]
    );
}

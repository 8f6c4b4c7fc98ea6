//! A sensor node's first exchange with a gateway, over UDP on the loopback: CONNECT, REGISTER a topic
//! name for an id, PUBLISH a reading at QoS 1 with that id. The codec does no I/O, so both sides are
//! here: the node, and a toy gateway that only answers (the real one is `mqttsn-gateway`).
//! `cargo run -p mqttsn-codec --example register_and_publish`.
//!
//! Each datagram is one [`Message`]: `Message::decode` borrows from the datagram, and
//! `encode_to_slice` writes into a fixed buffer with no allocator, as a microcontroller would.

use std::net::UdpSocket;
use std::time::Duration;

use mqttsn_codec::{
    ClientId, ConnAck, Connect, Message, MsgId, PubAck, Publish, PublishTopic, QoS, RegAck,
    Register, ReturnCode, TopicId, TopicName,
};

/// Encodes `message` into `buffer` and sends it as one datagram.
fn send(
    socket: &UdpSocket,
    message: &Message<'_>,
    to: std::net::SocketAddr,
) -> std::io::Result<()> {
    let mut buffer = [0u8; 128];
    let len = message
        .encode_to_slice(&mut buffer)
        .map_err(|error| std::io::Error::other(format!("{error:?}")))?;
    socket.send_to(&buffer[..len], to)?;
    Ok(())
}

/// The toy gateway: answers one CONNECT, one REGISTER and one PUBLISH, then returns what it got.
fn gateway(socket: &UdpSocket) -> Result<String, Box<dyn std::error::Error>> {
    let mut datagram = [0u8; 128];
    let mut published = String::new();
    for _ in 0..3 {
        let (len, node) = socket.recv_from(&mut datagram)?;
        let answer = match Message::decode(&datagram[..len])? {
            Message::Connect(connect) => {
                println!("gateway: CONNECT from {}", connect.client_id.as_str());
                Message::ConnAck(ConnAck {
                    return_code: ReturnCode::Accepted,
                })
            }
            Message::Register(register) => {
                println!("gateway: REGISTER {} -> id 1", register.topic_name.as_str());
                Message::RegAck(RegAck {
                    topic_id: TopicId(1),
                    msg_id: register.msg_id,
                    return_code: ReturnCode::Accepted,
                })
            }
            Message::Publish(publish) => {
                published = String::from_utf8_lossy(publish.data).into_owned();
                let PublishTopic::Normal(topic_id) = publish.topic else {
                    return Err("expected a registered topic id".into());
                };
                Message::PubAck(PubAck {
                    topic_id,
                    msg_id: publish.msg_id,
                    return_code: ReturnCode::Accepted,
                })
            }
            other => return Err(format!("unexpected {:?}", other.msg_type()).into()),
        };
        send(socket, &answer, node)?;
    }
    Ok(published)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gateway_socket = UdpSocket::bind("127.0.0.1:0")?;
    let gateway_address = gateway_socket.local_addr()?;
    let gateway_thread =
        std::thread::spawn(move || gateway(&gateway_socket).map_err(|e| e.to_string()));

    let node = UdpSocket::bind("127.0.0.1:0")?;
    // Datagrams can be lost on a real network; a node would retry after T_RETRY. Not here.
    node.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut datagram = [0u8; 128];
    let mut exchange = |message: Message<'_>| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        send(&node, &message, gateway_address)?;
        let (len, _) = node.recv_from(&mut datagram)?;
        Ok(datagram[..len].to_vec())
    };

    let answer = exchange(Message::Connect(Connect {
        will: false,
        clean_session: true,
        duration: 60,
        client_id: ClientId::new("kitchen-node")?,
    }))?;
    let Message::ConnAck(connack) = Message::decode(&answer)? else {
        return Err("no CONNACK".into());
    };
    println!("node: CONNACK {:?}", connack.return_code);

    let answer = exchange(Message::Register(Register {
        topic_id: TopicId::UNASSIGNED,
        msg_id: MsgId(1),
        topic_name: TopicName::new("sensors/kitchen/temperature")?,
    }))?;
    let Message::RegAck(regack) = Message::decode(&answer)? else {
        return Err("no REGACK".into());
    };
    println!("node: REGACK, topic id {}", regack.topic_id.get());

    // Two octets of topic id instead of 27 of topic name, with every reading.
    let answer = exchange(Message::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: PublishTopic::Normal(regack.topic_id),
        msg_id: MsgId(2),
        data: b"21.5",
    }))?;
    let Message::PubAck(puback) = Message::decode(&answer)? else {
        return Err("no PUBACK".into());
    };
    println!("node: PUBACK for message {}", puback.msg_id.get());

    let published = gateway_thread
        .join()
        .map_err(|_| "the gateway panicked")??;
    if published != "21.5" || puback.return_code != ReturnCode::Accepted {
        return Err("the gateway did not get the reading".into());
    }
    Ok(())
}

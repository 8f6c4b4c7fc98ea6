//! An MQTT-SN gateway in front of a broker, all in one process: our broker on a free port, a
//! transparent gateway on a free UDP port, a sensor node (MQTT-SN) that registers a topic and
//! publishes a reading, and an ordinary MQTT client that receives it.
//! `cargo run -p mqttsn-gateway --example in_front_of_a_broker`.
//!
//! A deployed gateway reads the same [`Config`] from a file (`Config::load`, or the
//! `mqttsn-gateway` program); here only the addresses are set.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mqttsn_codec::QoS as SnQoS;
use mqttsn_gateway::client::{Client as SnClient, ClientOptions, Topic};
use mqttsn_gateway::{Config, Gateway, GatewayKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = mqtt_broker::Broker::start(mqtt_broker::Config {
        listeners: vec!["127.0.0.1:0".parse()?],
        ..mqtt_broker::Config::default()
    })?;
    let broker_port = broker.local_addrs()[0].port();

    let gateway = Gateway::start(Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        broker_host: "127.0.0.1".into(),
        broker_port,
        kind: GatewayKind::Transparent,
        ..Config::default()
    })?;
    // The gateway connects to the broker on its own thread; nodes are only served once it has.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !gateway.stats().is_some_and(|stats| stats.broker_connected) {
        if Instant::now() > deadline {
            return Err("the gateway did not reach the broker".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "gateway on udp {} in front of tcp port {broker_port}",
        gateway.local_addr()
    );

    // An ordinary MQTT client, subscribed before the node publishes.
    let listener = mqtt_client::Client::connect(
        mqtt_client::ConnectOptions::builder("127.0.0.1", broker_port)
            .client_id("dashboard")
            .build()?,
    )?;
    listener
        .subscribe(&[("sensors/#", mqtt_client::QoS::AtLeastOnce)])?
        .wait()?;

    // The node: CONNECT, REGISTER the name once, then PUBLISH with the two-octet id.
    let mut node = SnClient::connect(ClientOptions::new(gateway.local_addr(), "kitchen-node"))?;
    let topic = node.register("sensors/kitchen/temperature")?;
    println!(
        "node registered sensors/kitchen/temperature as id {}",
        topic.get()
    );
    node.publish(Topic::Id(topic), b"21.5", SnQoS::AtLeastOnce, false)?;

    let message = listener
        .messages()
        .recv_timeout(Duration::from_secs(10))
        .ok_or("the MQTT client received nothing")?;
    println!(
        "MQTT client received {}: {}",
        message.topic,
        String::from_utf8_lossy(&message.payload)
    );
    if message.topic != "sensors/kitchen/temperature" || &message.payload[..] != b"21.5" {
        return Err("the MQTT client received something else".into());
    }

    node.disconnect()?;
    listener.disconnect();
    gateway.shutdown();
    broker.shutdown();
    Ok(())
}

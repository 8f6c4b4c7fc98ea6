//! The smallest program that embeds the broker: start it on a free port, let two clients of our
//! own talk through it at QoS 1, stop it. `cargo run -p mqtt-broker --example embedded`.
//!
//! Everything a `mqtt-broker.conf` file can say is a field of [`Config`]; `Config::default()` is
//! what an empty file means. For plugins (authentication, authorisation, message hooks) see the
//! `custom_auth` example beside this one.

use std::time::Duration;

use mqtt_broker::{Broker, Config};
use mqtt_client::{Client, ConnectOptions, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::start(Config {
        listeners: vec!["127.0.0.1:0".parse()?], // port 0: the system picks a free one
        ..Config::default()
    })?;
    let port = broker.local_addrs()[0].port();
    println!("broker listening on 127.0.0.1:{port}");

    let options = |client_id: &str| {
        ConnectOptions::builder("127.0.0.1", port)
            .client_id(client_id)
            .build()
    };
    let subscriber = Client::connect(options("subscriber")?)?;
    // `wait` returns once SUBACK arrived, so the subscription is in place before anyone publishes.
    subscriber
        .subscribe(&[("sensors/+/temperature", QoS::AtLeastOnce)])?
        .wait()?;
    let publisher = Client::connect(options("publisher")?)?;
    // At QoS 1, `wait` returns once the broker acknowledged with PUBACK.
    publisher
        .publish(
            "sensors/kitchen/temperature",
            "21.5",
            QoS::AtLeastOnce,
            false,
        )?
        .wait()?;

    let message = subscriber
        .messages()
        .recv_timeout(Duration::from_secs(10))
        .ok_or("the subscriber received nothing")?;
    println!(
        "subscriber received {}: {}",
        message.topic,
        String::from_utf8_lossy(&message.payload)
    );
    if message.topic != "sensors/kitchen/temperature" || &message.payload[..] != b"21.5" {
        return Err("the subscriber received something else".into());
    }

    publisher.disconnect();
    subscriber.disconnect();
    // Disconnects whoever is left (without their Wills) and waits for the connection threads.
    broker.shutdown();
    Ok(())
}

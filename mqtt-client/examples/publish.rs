//! Publishes one message at each QoS and waits for each acknowledgement.
//!
//! Run a broker on localhost:1883 (for example `mosquitto`), then `cargo run --example publish`.

use mqtt_client::{Client, ConnectOptions, Error, QoS};

fn main() -> Result<(), Error> {
    let client = Client::connect(ConnectOptions::builder("localhost", 1883).build()?)?;
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        client
            .publish("examples/publish", format!("hello at {qos}"), qos, false)?
            .wait()?;
        println!("published at {qos}");
    }
    client.disconnect();
    Ok(())
}

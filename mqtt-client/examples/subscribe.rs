//! Subscribes to `examples/#` and prints ten messages, answering each on `examples/echo`.
//!
//! Run a broker on localhost:1883, then `cargo run --example subscribe`, and publish to it with
//! `mqtt-pub -t examples/hello -m hi`.

use mqtt_client::{Client, ConnectOptions, Error, QoS};

fn main() -> Result<(), Error> {
    let client = Client::connect(ConnectOptions::builder("localhost", 1883).build()?)?;
    let granted = client
        .subscribe(&[("examples/#", QoS::AtLeastOnce)])?
        .wait()?;
    println!("granted: {granted:?}");
    for message in client.messages().take(10) {
        println!(
            "{} {}",
            message.topic,
            String::from_utf8_lossy(&message.payload)
        );
        if message.topic != "examples/echo" {
            // Publishing from inside the loop, and waiting, cannot deadlock the client.
            client
                .publish("examples/echo", message.payload, QoS::AtLeastOnce, false)?
                .wait()?;
        }
    }
    client.disconnect();
    Ok(())
}

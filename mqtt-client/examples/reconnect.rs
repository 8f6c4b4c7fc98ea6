//! Stays subscribed across broker restarts: try stopping and starting mosquitto while it runs.
//!
//! `cargo run --example reconnect`, then `mqtt-pub -t examples/reconnect -m hi` now and then.

use std::time::Duration;

use mqtt_client::{Client, ConnectOptions, Error, Notification, QoS};

fn main() -> Result<(), Error> {
    let options = ConnectOptions::builder("localhost", 1883)
        .client_id("example-reconnect")
        .clean_session(false)
        .keep_alive(Duration::from_secs(10))
        .reconnect(Duration::from_millis(500), Duration::from_secs(10))
        .build()?;
    let client = Client::connect(options)?;
    client
        .subscribe(&[("examples/reconnect", QoS::AtLeastOnce)])?
        .wait()?;
    for notification in client.notifications() {
        match notification {
            Notification::Message(message) => {
                println!("message: {}", String::from_utf8_lossy(&message.payload));
            }
            Notification::Connected { session_present } => {
                println!("connected; the broker kept our session: {session_present}");
            }
            Notification::ConnectionLost(error) => println!("lost: {error}; reconnecting"),
        }
    }
    Ok(())
}

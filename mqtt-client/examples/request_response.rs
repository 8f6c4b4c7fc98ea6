//! MQTT 5.0 request/response: a responder answers each request on the request's Response Topic,
//! with its Correlation Data, and the requester matches the answer to its question.
//!
//! Run a 5.0 broker on localhost:1883 (for example `mosquitto`), then
//! `cargo run --example request_response`.

use std::time::Duration;

use mqtt_client::v5::{ConnectProperties, PublishProperties};
use mqtt_client::{Client, ConnectOptions, Error, QoS};

fn connect(id: &str) -> Result<Client, Error> {
    let options = ConnectOptions::builder("localhost", 1883)
        .client_id(id)
        .mqtt5(ConnectProperties::default())
        .build()?;
    Client::connect(options)
}

fn main() -> Result<(), Error> {
    let responder = connect("example-responder")?;
    responder
        .subscribe(&[("example/requests", QoS::AtLeastOnce)])?
        .wait()?;
    let requester = connect("example-requester")?;
    requester
        .subscribe(&[("example/replies/requester", QoS::AtLeastOnce)])?
        .wait()?;

    let request = PublishProperties {
        response_topic: Some("example/replies/requester".into()),
        correlation_data: Some(b"question-1".to_vec()),
        ..PublishProperties::default()
    };
    requester
        .publish_with(
            "example/requests",
            "what time is it?",
            QoS::AtLeastOnce,
            false,
            request,
        )?
        .wait()?;

    // The responder answers where it was asked to, with the same correlation data.
    if let Some(question) = responder.messages().recv_timeout(Duration::from_secs(5))
        && let Some(reply_to) = &question.properties.response_topic
    {
        let answer = PublishProperties {
            correlation_data: question.properties.correlation_data.clone(),
            ..PublishProperties::default()
        };
        responder
            .publish_with(reply_to, "time to go", QoS::AtLeastOnce, false, answer)?
            .wait()?;
    }
    match requester.messages().recv_timeout(Duration::from_secs(5)) {
        Some(reply) => println!(
            "reply to {:?}: {}",
            reply.properties.correlation_data.map(String::from_utf8),
            String::from_utf8_lossy(&reply.payload)
        ),
        None => println!("no reply"),
    }
    requester.disconnect();
    responder.disconnect();
    Ok(())
}

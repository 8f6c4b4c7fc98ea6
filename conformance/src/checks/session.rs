//! Sessions: clean and persistent, Session Present, queued messages (3.1.1 §3.1.2.4, §3.2.2.2, §4.1).

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::{publish, publisher};
use crate::checks::will::Watched;
use crate::client::TestClient;
use crate::wire::{self, flags, kind};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "session-present",
        section: "3.2 CONNACK",
        ids: &[
            "MQTT-3.1.2-4",
            "MQTT-3.2.2-2",
            "MQTT-3.2.2-3",
            "MQTT-3.1.3-2",
        ],
        summary: "a new persistent session has Session Present 0; resuming it has Session Present 1",
        applies: Applies::V311,
        run: session_present,
    },
    Check {
        name: "clean-session-discards",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-6", "MQTT-3.1.4-3"],
        summary: "connecting with CleanSession 1 discards a stored session",
        applies: Applies::V311,
        run: clean_session_discards,
    },
    Check {
        name: "offline-messages-queued",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-5", "MQTT-4.1.0-1"],
        summary: "QoS 1 messages published while a persistent session is offline arrive on reconnect",
        applies: Applies::Both,
        run: offline_messages_queued,
    },
];

fn session_present(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let (client, first) = TestClient::connect(context, &id, 0)?;
    client.disconnect()?;
    let (client, second) = TestClient::connect(context, &id, 0)?;
    // Leave nothing behind: end the session.
    client.disconnect()?;
    TestClient::connect(context, &id, flags::CLEAN_SESSION)?
        .0
        .disconnect()?;
    match (first.body.first(), second.body.first()) {
        (Some(0), Some(1)) => Ok(Verdict::Pass),
        _ => Err(format!(
            "expected Session Present 0 then 1, got {} then {}",
            first.describe(),
            second.describe()
        )),
    }
}

fn clean_session_discards(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    TestClient::connect(context, &id, 0)?.0.disconnect()?;
    TestClient::connect(context, &id, flags::CLEAN_SESSION)?
        .0
        .disconnect()?;
    let (client, connack) = TestClient::connect(context, &id, 0)?;
    client.disconnect()?;
    TestClient::connect(context, &id, flags::CLEAN_SESSION)?
        .0
        .disconnect()?;
    if connack.body.first() != Some(&0) {
        return Err(format!(
            "the session survived a clean connect: {}",
            connack.describe()
        ));
    }
    Ok(Verdict::Pass)
}

fn offline_messages_queued(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("offline");
    let mut client = Watched::connect(context, &id, 0)?;
    client.client.send(&wire::subscribe(1, &[(&topic, 1)]))?;
    client.client.expect(kind::SUBACK)?;
    // Publish only once the server has seen the connection end: before that, the message would go
    // to the connection as it closes, and come back as a redelivery rather than from the queue.
    client.drop_and_await_end()?;
    let mut sender = publisher(context)?;
    publish(&mut sender, &topic, 1, false, b"while away")?;
    let (mut client, _) = TestClient::connect(context, &id, 0)?;
    let frame = client.expect_publish();
    client.disconnect()?;
    TestClient::connect(context, &id, flags::CLEAN_SESSION)?
        .0
        .disconnect()?;
    let frame = frame?;
    match frame.publish_parts() {
        Some((_, _, payload)) if payload == b"while away" => Ok(Verdict::Pass),
        _ => Err(format!(
            "expected the queued message, got {}",
            frame.describe()
        )),
    }
}

//! The Will, and Keep Alive (3.1.1 §3.1.2.5 to §3.1.2.10, §3.14).

use std::time::{Duration, Instant};

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::{publish, publisher, subscriber};
use crate::checks::retain::retained_payload;
use crate::client::TestClient;
use crate::wire::{self, ConnectSpec, flags, kind};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "will-on-abnormal-close",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-8", "MQTT-3.1.2-16"],
        summary: "the Will is published, not retained, when the connection ends without DISCONNECT",
        applies: Applies::Both,
        run: will_on_abnormal_close,
    },
    Check {
        name: "will-retained",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-17"],
        summary: "a Will with Will Retain set is published as a retained message",
        applies: Applies::Both,
        run: will_retained,
    },
    Check {
        name: "no-will-after-disconnect",
        section: "3.14 DISCONNECT",
        ids: &["MQTT-3.14.4-3", "MQTT-3.1.2-10"],
        summary: "the Will is not published after DISCONNECT",
        applies: Applies::Both,
        run: no_will_after_disconnect,
    },
    Check {
        name: "no-will-without-will-flag",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-12", "MQTT-3.1.2-10"],
        summary: "a client that had a Will on an earlier connection, and none now, leaves no Will when it drops",
        applies: Applies::Both,
        run: no_will_without_will_flag,
    },
    Check {
        name: "keep-alive-expiry",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-24"],
        summary: "a client silent for 1.5 times its 1-second Keep Alive is disconnected, and its Will published",
        applies: Applies::Both,
        run: keep_alive_expiry,
    },
];

/// A connection whose end a check can see: it carries a Will on a topic of its own, to which a
/// watcher subscribes. When the check drops the connection, the Will reaching the watcher is a
/// positive event saying that the server has finished with the connection [MQTT-3.1.2-8], and so with
/// whatever its end does to the session. Waiting a while instead would only make that likely: on a
/// loaded machine the server may notice the close after the check has moved on, and a check that
/// reconnects too early tests a take-over instead of a return.
pub(crate) struct Watched {
    /// The connection under test.
    pub(crate) client: TestClient,
    /// Subscribed to the Will topic of `client`, and to nothing else.
    watcher: TestClient,
}

impl Watched {
    /// Connects `id` with `extra` connect flags (CleanSession or not) and a Will the watcher awaits.
    pub(crate) fn connect(context: &Context, id: &str, extra: u8) -> Result<Self, String> {
        let topic = context.topic("ended");
        let watcher = subscriber(context, &topic, 1)?;
        let mut client = TestClient::open(context)?;
        let mut spec = context.connect_spec(id, extra | flags::WILL | flags::WILL_QOS_1);
        spec.will = Some((&topic, b"ended"));
        client.send_connect(context, &spec)?;
        let connack = client.expect(kind::CONNACK)?;
        if connack.body.get(1) != Some(&0) {
            return Err(format!("connection refused: {}", connack.describe()));
        }
        Ok(Self { client, watcher })
    }

    /// Drops the connection without DISCONNECT and returns once its Will has been delivered.
    pub(crate) fn drop_and_await_end(self) -> Result<(), String> {
        let Self {
            client,
            mut watcher,
        } = self;
        client.drop_connection();
        let will = watcher
            .expect_publish()
            .map_err(|error| format!("the end of the connection was not seen: {error}"))?;
        match will.publish_parts() {
            Some((_, _, payload)) if payload == b"ended" => watcher.disconnect(),
            _ => Err(format!(
                "expected the Will 'ended', got {}",
                will.describe()
            )),
        }
    }
}

fn with_will(
    context: &Context,
    topic: &str,
    extra: u8,
    keep_alive: u16,
) -> Result<TestClient, String> {
    let id = context.client_id();
    let mut client = TestClient::open(context)?;
    let mut spec: ConnectSpec<'_> = context.connect_spec(
        &id,
        flags::CLEAN_SESSION | flags::WILL | flags::WILL_QOS_1 | extra,
    );
    spec.will = Some((topic, b"gone"));
    spec.keep_alive = keep_alive;
    client.send_connect(context, &spec)?;
    let connack = client.expect(kind::CONNACK)?;
    if connack.body.get(1) != Some(&0) {
        return Err(format!("refused: {}", connack.describe()));
    }
    Ok(client)
}

fn will_on_abnormal_close(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("will");
    let mut sub = subscriber(context, &topic, 1)?;
    let client = with_will(context, &topic, 0, 60)?;
    client.drop_connection();
    let frame = sub.expect_publish()?;
    if frame.publish_parts().map(|(_, _, payload)| payload) != Some(b"gone".to_vec()) {
        return Err(format!(
            "expected the will 'gone', got {}",
            frame.describe()
        ));
    }
    // Not retained: a new subscriber gets the sentinel published after it subscribed, not the
    // Will. (A live subscriber sees RETAIN 0 either way [MQTT-3.3.1-9], so it cannot tell.)
    let mut later = subscriber(context, &topic, 1)?;
    let mut sender = publisher(context)?;
    publish(&mut sender, &topic, 1, false, b"sentinel")?;
    let first = later.expect_publish()?;
    match first.publish_parts() {
        Some((_, _, payload)) if payload == b"sentinel" => Ok(Verdict::Pass),
        _ => {
            publish(&mut sender, &topic, 1, true, b"")?;
            Err(format!(
                "the Will was retained without Will Retain: {}",
                first.describe()
            ))
        }
    }
}

fn will_retained(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("willr");
    // The watcher, subscribed first, gets the Will live when it is published; from then on a new
    // subscriber must get it as retained. Awaiting that delivery replaces polling with new
    // subscribers until a deadline, which tied the verdict to how fast the server noticed the drop.
    let mut watcher = subscriber(context, &topic, 1)?;
    let client = with_will(context, &topic, flags::WILL_RETAIN, 60)?;
    client.drop_connection();
    let live = watcher.expect_publish()?;
    if live.publish_parts().map(|(_, _, payload)| payload) != Some(b"gone".to_vec()) {
        return Err(format!("expected the will 'gone', got {}", live.describe()));
    }
    let result = retained_payload(context, &topic);
    let mut cleaner = publisher(context)?;
    publish(&mut cleaner, &topic, 1, true, b"")?;
    match result? {
        Some((true, payload)) if payload == b"gone" => Ok(Verdict::Pass),
        None => Err("the will was not retained".to_owned()),
        Some(other) => Err(format!(
            "expected the will 'gone' retained with RETAIN 1, got {other:?}"
        )),
    }
}

fn no_will_after_disconnect(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("nowill");
    let mut sub = subscriber(context, &topic, 1)?;
    let mut client = with_will(context, &topic, 0, 60)?;
    client.send(&wire::DISCONNECT)?;
    client.expect_closed(&[])?;
    let mut sender = publisher(context)?;
    publish(&mut sender, &topic, 1, false, b"sentinel")?;
    let frame = sub.expect_publish()?;
    match frame.publish_parts() {
        Some((_, _, payload)) if payload == b"sentinel" => Ok(Verdict::Pass),
        _ => Err(format!(
            "the will was published after DISCONNECT: {}",
            frame.describe()
        )),
    }
}

fn keep_alive_expiry(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("ka");
    let mut sub = subscriber(context, &topic, 1)?;
    let started = Instant::now();
    let mut client = with_will(context, &topic, 0, 1)?;
    // Silent from here. The server may act only after 1.5 s, and its timer has some granularity, so
    // the run's timeout is allowed on top. Later than that is reported with the time measured; a
    // connection still open long after is reported as never expired.
    let allowed = Duration::from_millis(1500) + context.timeout;
    client.expect_closed_within(allowed + context.timeout * 2, &[])?;
    let waited = started.elapsed();
    if waited < Duration::from_millis(1000) {
        return Err(format!(
            "disconnected after only {waited:?}, before the Keep Alive elapsed"
        ));
    }
    if waited > allowed {
        return Err(format!(
            "disconnected only after {waited:?}, Keep Alive 1 s"
        ));
    }
    let frame = sub.expect_publish()?;
    match frame.publish_parts() {
        Some((_, _, payload)) if payload == b"gone" => Ok(Verdict::Pass),
        _ => Err(format!(
            "expected the will after expiry, got {}",
            frame.describe()
        )),
    }
}

fn no_will_without_will_flag(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("nowillflag");
    let mut sub = subscriber(context, &topic, 1)?;
    let id = context.client_id();
    // First connection: a Will, then DISCONNECT, which discards it.
    let mut client = TestClient::open(context)?;
    let mut spec =
        context.connect_spec(&id, flags::CLEAN_SESSION | flags::WILL | flags::WILL_QOS_1);
    spec.will = Some((&topic, b"gone"));
    client.send_connect(context, &spec)?;
    client.expect(kind::CONNACK)?;
    client.send(&wire::DISCONNECT)?;
    // Wait for the server to close, so that it has processed the DISCONNECT before the next CONNECT
    // (which would otherwise take over a connection that still has its Will).
    client.expect_closed(&[])?;
    // Second connection, same identifier, no Will: dropping it must publish nothing.
    let (client, _) = TestClient::connect(context, &id, flags::CLEAN_SESSION)?;
    client.drop_connection();
    // The abrupt close is noticed by the server at some point; the sentinel goes through a new
    // connection with the same identifier, which takes over any connection the server still holds.
    let (mut sender, _) = TestClient::connect(context, &id, flags::CLEAN_SESSION)?;
    publish(&mut sender, &topic, 1, false, b"sentinel")?;
    let frame = sub.expect_publish()?;
    match frame.publish_parts() {
        Some((_, _, payload)) if payload == b"sentinel" => Ok(Verdict::Pass),
        _ => Err(format!("a Will was published: {}", frame.describe())),
    }
}

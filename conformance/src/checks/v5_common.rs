//! What the `v5-*` checks share: opening 5.0 connections, subscribing, publishing and reading the
//! answers through [`crate::v5_wire`]. No checks here.

use mqtt_codec::PacketType;
use mqtt_codec::v5::{Packet, Property, ReasonCode};

use crate::check::Context;
use crate::client::TestClient;
use crate::v5_wire::{self, WillSpec};
use crate::wire::kind;

/// An open 5.0 connection and the bytes of its CONNACK.
pub(crate) struct Connected {
    pub(crate) client: TestClient,
    pub(crate) connack: Vec<u8>,
}

impl Connected {
    /// The CONNACK's Session Present flag.
    pub(crate) fn session_present(&self) -> bool {
        self.connack.get(2).is_some_and(|flags| flags & 1 == 1)
    }

    /// A CONNACK property, read with `read`.
    pub(crate) fn property<T>(
        &self,
        read: impl Fn(&mqtt_codec::v5::Properties<'_>) -> Option<T>,
    ) -> Result<Option<T>, String> {
        match v5_wire::decode(&self.connack)? {
            Packet::ConnAck(connack) => Ok(read(&connack.properties)),
            other => Err(format!("expected CONNACK, got {:?}", other.packet_type())),
        }
    }
}

/// Connects at 5.0 with `properties` and an optional Will. Fails unless the server answers a
/// well-formed 5.0 CONNACK with Reason Code 0x00 [MQTT5-3.2.0-1].
pub(crate) fn connect(
    context: &Context,
    id: &str,
    clean_start: bool,
    properties: &[Property<'_>],
    will: Option<WillSpec<'_>>,
) -> Result<Connected, String> {
    let mut client = TestClient::open(context)?;
    client.send(&v5_wire::connect(
        context,
        id,
        clean_start,
        properties,
        will,
    )?)?;
    let frame = client.expect(kind::CONNACK)?;
    let connack = v5_wire::bytes_of(&frame);
    match v5_wire::decode(&connack)? {
        Packet::ConnAck(answer) if answer.reason == ReasonCode::SUCCESS => {}
        Packet::ConnAck(answer) => {
            return Err(format!("connection refused with reason {}", answer.reason));
        }
        other => return Err(format!("expected CONNACK, got {:?}", other.packet_type())),
    }
    Ok(Connected { client, connack })
}

/// A clean 5.0 connection with no properties: its session ends with it.
pub(crate) fn clean(context: &Context, id: &str) -> Result<TestClient, String> {
    connect(context, id, true, &[], None).map(|connected| connected.client)
}

/// Subscribes `client` to `(filter, options)` pairs, with `properties`, and returns the SUBACK's
/// Reason Codes. Deliveries that arrive first are set aside for the next read.
pub(crate) fn subscribe(
    client: &mut TestClient,
    id: u16,
    filters: &[(&str, u8)],
    properties: &[Property<'_>],
) -> Result<Vec<u8>, String> {
    client.send(&v5_wire::subscribe(id, filters, properties)?)?;
    let frame = client.wait_for(kind::SUBACK)?;
    let bytes = v5_wire::bytes_of(&frame);
    match v5_wire::decode(&bytes)? {
        Packet::SubAck(suback) if suback.packet_id.get() == id => {
            Ok(suback.reason_codes.iter().map(ReasonCode::get).collect())
        }
        Packet::SubAck(suback) => Err(format!(
            "SUBACK for {} answered SUBSCRIBE {id}",
            suback.packet_id.get()
        )),
        other => Err(format!("expected SUBACK, got {:?}", other.packet_type())),
    }
}

/// A fresh clean connection subscribed to `filter` with `options`; fails on a refused subscription.
pub(crate) fn subscriber(
    context: &Context,
    filter: &str,
    options: u8,
) -> Result<TestClient, String> {
    let mut client = clean(context, &context.client_id())?;
    let codes = subscribe(&mut client, 1, &[(filter, options)], &[])?;
    granted(&codes)?;
    Ok(client)
}

/// Fails when a SUBACK refused any subscription.
pub(crate) fn granted(codes: &[u8]) -> Result<(), String> {
    match codes.iter().find(|code| **code >= 0x80) {
        Some(code) => Err(format!("the subscription was refused with {code:#04x}")),
        None => Ok(()),
    }
}

/// Publishes at QoS 0 or 1 (waiting for a successful PUBACK at 1).
pub(crate) fn publish(
    client: &mut TestClient,
    topic: &str,
    qos: u8,
    retain: bool,
    payload: &[u8],
    properties: &[Property<'_>],
) -> Result<(), String> {
    client.send(&v5_wire::publish(
        topic, qos, retain, 7, payload, properties,
    )?)?;
    if qos == 1 {
        let frame = client.wait_for(kind::PUBACK)?;
        let bytes = v5_wire::bytes_of(&frame);
        match v5_wire::decode(&bytes)? {
            Packet::PubAck(ack) if !ack.reason.is_failure() => {}
            Packet::PubAck(ack) => return Err(format!("PUBACK with reason {}", ack.reason)),
            other => return Err(format!("expected PUBACK, got {:?}", other.packet_type())),
        }
    }
    Ok(())
}

/// The next delivery, acknowledged, as the bytes of its PUBLISH (decode with [`delivery`]).
pub(crate) fn next_delivery(client: &mut TestClient) -> Result<Vec<u8>, String> {
    let frame = client.expect_publish()?;
    Ok(v5_wire::bytes_of(&frame))
}

/// Reads the PUBLISH in `bytes`.
pub(crate) fn delivery(bytes: &[u8]) -> Result<mqtt_codec::v5::Publish<'_>, String> {
    match v5_wire::decode(bytes)? {
        Packet::Publish(publish) => Ok(publish),
        other => Err(format!("expected PUBLISH, got {:?}", other.packet_type())),
    }
}

/// The topic and payload of a delivery (an aliased delivery with no topic reads as "").
pub(crate) fn topic_and_payload(bytes: &[u8]) -> Result<(String, Vec<u8>), String> {
    let publish = delivery(bytes)?;
    Ok((
        publish
            .topic
            .map(|topic| topic.as_str().to_owned())
            .unwrap_or_default(),
        publish.payload.to_vec(),
    ))
}

/// The next delivery must carry `payload`; returns its bytes.
pub(crate) fn expect_payload(client: &mut TestClient, payload: &[u8]) -> Result<Vec<u8>, String> {
    let bytes = next_delivery(client)?;
    let (topic, got) = topic_and_payload(&bytes)?;
    if got != payload {
        return Err(format!(
            "expected '{}', got '{}' on {topic}",
            String::from_utf8_lossy(payload),
            String::from_utf8_lossy(&got)
        ));
    }
    Ok(bytes)
}

/// After a Malformed Packet or Protocol Error the server must close the connection
/// [MQTT5-4.13.1-1]; it may first send a DISCONNECT, whose Reason Code must then be one of
/// DISCONNECT's and 0x80 or above [MQTT5-3.14.2-1] [MQTT5-4.13.2-1]. Returns that code, if any.
pub(crate) fn expect_error_close(client: &mut TestClient) -> Result<Option<u8>, String> {
    expect_close_after(client, kind::DISCONNECT)
}

/// As [`expect_error_close`] for a refused CONNECT: the server may answer CONNACK with a Reason
/// Code of 0x80 or above and must then close [MQTT5-3.2.2-7].
pub(crate) fn expect_refused_connect(client: &mut TestClient) -> Result<Option<u8>, String> {
    expect_close_after(client, kind::CONNACK)
}

fn expect_close_after(client: &mut TestClient, allowed: u8) -> Result<Option<u8>, String> {
    match client.next_within(client.timeout()) {
        Err(_) => Ok(None),
        Ok(None) => Err("the connection stayed open, with no answer".to_owned()),
        Ok(Some(frame)) if frame.kind() == allowed => {
            let bytes = v5_wire::bytes_of(&frame);
            let reason = match v5_wire::decode(&bytes)? {
                Packet::Disconnect(disconnect) => disconnect.reason,
                Packet::ConnAck(connack) => connack.reason,
                other => return Err(format!("unexpected {:?}", other.packet_type())),
            };
            let packet_type = if allowed == kind::CONNACK {
                PacketType::ConnAck
            } else {
                PacketType::Disconnect
            };
            if !reason.is_failure() || !reason.allowed_in(packet_type) {
                return Err(format!(
                    "{} with reason {reason}, which does not announce an error",
                    kind::name(allowed)
                ));
            }
            client
                .expect_closed(&[])
                .map_err(|error| format!("after {} {reason}: {error}", kind::name(allowed)))?;
            Ok(Some(reason.get()))
        }
        Ok(Some(frame)) => Err(format!(
            "expected the connection closed, got {}",
            frame.describe()
        )),
    }
}

/// Whether the next delivery on `client` (before a PINGRESP barrier) is absent: returns the
/// deliveries that did arrive before it.
pub(crate) fn deliveries_before_ping(client: &mut TestClient) -> Result<Vec<Vec<u8>>, String> {
    let frames = client.ping()?;
    let mut out = Vec::new();
    for frame in frames {
        if frame.kind() != kind::PUBLISH {
            return Err(format!(
                "expected PUBLISH or PINGRESP, got {}",
                frame.describe()
            ));
        }
        client.acknowledge(&frame)?;
        out.push(v5_wire::bytes_of(&frame));
    }
    Ok(out)
}

/// A 5.0 connection whose end a check can see (as `Watched` in `will.rs` for 3.x): it carries a
/// Will on a topic of its own, to which a watcher subscribes, and ends with DISCONNECT 0x04
/// (Disconnect with Will Message), so the Will reaching the watcher says that the server has
/// finished with the connection [MQTT5-3.1.2-8], and with whatever its end does to the session.
pub(crate) struct Watched5 {
    /// The connection under test.
    pub(crate) connected: Connected,
    watcher: TestClient,
}

impl Watched5 {
    /// Connects `id` with `properties` and a Will on a fresh topic the watcher has subscribed to.
    pub(crate) fn connect(
        context: &Context,
        id: &str,
        clean_start: bool,
        properties: &[Property<'_>],
    ) -> Result<Self, String> {
        let topic = context.topic("ended");
        let watcher = subscriber(context, &topic, v5_wire::options(1, false, false, 0))?;
        let will = WillSpec {
            topic: &topic,
            payload: b"ended",
            qos: 1,
            retain: false,
            properties: &[],
        };
        let connected = connect(context, id, clean_start, properties, Some(will))?;
        Ok(Self { connected, watcher })
    }

    /// The connection under test.
    pub(crate) fn client(&mut self) -> &mut TestClient {
        &mut self.connected.client
    }

    /// Ends the connection with DISCONNECT 0x04 (and `properties`) and returns once the Will has
    /// been delivered.
    pub(crate) fn end(self, properties: &[Property<'_>]) -> Result<(), String> {
        let Self {
            connected,
            mut watcher,
        } = self;
        let mut client = connected.client;
        client.send(&v5_wire::disconnect(0x04, properties)?)?;
        client.drop_connection();
        expect_payload(&mut watcher, b"ended")
            .map_err(|error| format!("the end of the connection was not seen: {error}"))?;
        watcher.disconnect()
    }
}

/// Ends any session `id` has: a clean connection whose session ends with it.
pub(crate) fn end_session(context: &Context, id: &str) -> Result<(), String> {
    clean(context, id)?.disconnect()
}

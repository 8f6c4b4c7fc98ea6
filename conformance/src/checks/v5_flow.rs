//! MQTT 5.0 flow control and size limits (5.0 §4.9, §3.1.2.11.3 to .5, §3.2.2.3.6): Receive
//! Maximum and Maximum Packet Size, both as the client states them and as the server does.

use std::collections::VecDeque;

use mqtt_codec::v5::Property;

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::v5_common::{
    clean, connect, deliveries_before_ping, delivery, expect_error_close, expect_payload, granted,
    publish, subscribe,
};
use crate::v5_wire::{self, options};
use crate::wire::{self, Frame, kind};

const SECTION: &str = "MQTT5 4.9 Flow control";
const SECTION_SIZE: &str = "MQTT5 3.1 CONNECT";

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "v5-receive-maximum",
        section: SECTION,
        ids: &[
            "MQTT5-3.3.4-9",
            "MQTT5-4.9.0-2",
            "MQTT5-3.3.4-10",
            "MQTT5-4.9.0-3",
            "MQTT5-4.9.0-1",
        ],
        summary: "a subscriber with Receive Maximum 2 gets deliveries before acknowledging any, holds at most 2 unacknowledged QoS 1 ones, still answers PINGREQ, and gets the rest as it acknowledges",
        applies: Applies::V5,
        run: receive_maximum,
    },
    Check {
        name: "v5-server-receive-maximum-enforced",
        section: SECTION,
        ids: &["MQTT5-3.3.4-7"],
        summary: "a client with as many QoS 2 PUBLISHes awaiting PUBREL as the server's Receive Maximum that sends one more is disconnected (0x93 if the server says why)",
        applies: Applies::V5,
        run: server_receive_maximum,
    },
    Check {
        name: "v5-maximum-packet-size-to-client",
        section: SECTION_SIZE,
        ids: &["MQTT5-3.1.2-24", "MQTT5-3.1.2-25"],
        summary: "a message larger than the subscriber's Maximum Packet Size is not sent to it; the next one is",
        applies: Applies::V5,
        run: maximum_packet_size_to_client,
    },
    Check {
        name: "v5-packet-too-large-refused",
        section: SECTION_SIZE,
        ids: &["MQTT5-3.2.2-15", "MQTT5-4.13.1-1"],
        summary: "a PUBLISH larger than the Maximum Packet Size in CONNACK closes the connection",
        applies: Applies::V5,
        run: packet_too_large_refused,
    },
];

fn receive_maximum(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("quota");
    let mut sub = connect(
        context,
        &context.client_id(),
        true,
        &[Property::ReceiveMaximum(2)],
        None,
    )?
    .client;
    granted(&subscribe(
        &mut sub,
        1,
        &[(&topic, options(1, false, false, 0))],
        &[],
    )?)?;
    let mut sender = clean(context, &context.client_id())?;
    for n in 0..5u8 {
        publish(&mut sender, &topic, 1, false, &[b'0' + n], &[])?;
    }
    // Every message is now in the subscriber's session [MQTT5-4.5.0-1]: what the server may send it
    // has been sent before it answers the PINGREQ, which it must answer with its quota used up
    // [MQTT5-4.9.0-3].
    let mut unacknowledged: VecDeque<Frame> = publishes(sub.ping()?)?.into();
    let mut payloads = Vec::new();
    let mut acknowledged = 0;
    loop {
        if unacknowledged.len() > 2 {
            let held: Vec<String> = unacknowledged
                .iter()
                .map(|frame| String::from_utf8_lossy(&delivery_payload(frame)).into_owned())
                .collect();
            return Err(format!(
                "{} unacknowledged QoS 1 deliveries ({held:?}) with Receive Maximum 2, after {} acknowledged",
                unacknowledged.len(),
                acknowledged
            ));
        }
        for frame in &unacknowledged {
            let bytes = v5_wire::bytes_of(frame);
            let payload = delivery(&bytes)?.payload.to_vec();
            if !payloads.contains(&payload) {
                payloads.push(payload);
            }
        }
        if payloads.len() == 5 {
            break;
        }
        // Acknowledging one frees one place: the next delivery follows.
        match unacknowledged.pop_front() {
            Some(frame) => {
                sub.acknowledge(&frame)?;
                acknowledged += 1;
            }
            None => unacknowledged.push_back(sub.expect(kind::PUBLISH)?),
        }
        unacknowledged.extend(publishes(sub.ping()?)?);
    }
    for frame in &unacknowledged {
        sub.acknowledge(frame)?;
    }
    if payloads != [b"0", b"1", b"2", b"3", b"4"] {
        return Err(format!("delivered {payloads:?}"));
    }
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn server_receive_maximum(context: &Context) -> Result<Verdict, String> {
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    let maximum = connected.property(|properties| properties.receive_maximum())?;
    let Some(maximum) = maximum.filter(|maximum| *maximum <= 1_000) else {
        connected.client.disconnect()?;
        return Ok(Verdict::Skip(format!(
            "the server's Receive Maximum ({}) is more than this check sends",
            maximum.map_or("65 535 by default".to_owned(), |maximum| maximum
                .to_string())
        )));
    };
    let mut client = connected.client;
    let topic = context.topic("receive-maximum");
    // Up to the quota, each QoS 2 PUBLISH is answered with PUBREC and left unreleased.
    for id in 1..=maximum {
        client.send(&v5_wire::publish(&topic, 2, false, id, b"q", &[])?)?;
        client
            .wait_for(kind::PUBREC)
            .map_err(|error| format!("QoS 2 PUBLISH {id} of {maximum} allowed: {error}"))?;
    }
    client.send(&v5_wire::publish(&topic, 2, false, maximum + 1, b"q", &[])?)?;
    match expect_error_close(&mut client).map_err(|error| {
        format!(
            "QoS 2 PUBLISH {} over Receive Maximum {maximum}: {error}",
            maximum + 1
        )
    })? {
        None | Some(0x93) => Ok(Verdict::Pass),
        Some(other) => Err(format!(
            "over Receive Maximum {maximum}: DISCONNECT {other:#04x}, where 0x93 is the code for it"
        )),
    }
}

/// A delivery's payload (empty if it does not decode: the loop reports that elsewhere).
fn delivery_payload(frame: &Frame) -> Vec<u8> {
    let bytes = v5_wire::bytes_of(frame);
    delivery(&bytes)
        .map(|publish| publish.payload.to_vec())
        .unwrap_or_default()
}

/// The frames before a PINGRESP, which must all be deliveries.
fn publishes(frames: Vec<Frame>) -> Result<Vec<Frame>, String> {
    match frames.iter().find(|frame| frame.kind() != kind::PUBLISH) {
        Some(frame) => Err(format!("unexpected {}", frame.describe())),
        None => Ok(frames),
    }
}

fn maximum_packet_size_to_client(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("small");
    let mut sub = connect(
        context,
        &context.client_id(),
        true,
        &[Property::MaximumPacketSize(128)],
        None,
    )?
    .client;
    granted(&subscribe(
        &mut sub,
        1,
        &[(&topic, options(1, false, false, 0))],
        &[],
    )?)?;
    let mut sender = clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, &[b'L'; 200], &[])?;
    publish(&mut sender, &topic, 1, false, b"small", &[])?;
    // Same publisher, same topic: the large one would come first.
    expect_payload(&mut sub, b"small")
        .map_err(|error| format!("with Maximum Packet Size 128: {error}"))?;
    if !deliveries_before_ping(&mut sub)?.is_empty() {
        return Err("more deliveries than the one that fits".to_owned());
    }
    sub.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn packet_too_large_refused(context: &Context) -> Result<Verdict, String> {
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    let Some(maximum) = connected.property(|properties| properties.maximum_packet_size())? else {
        connected.client.disconnect()?;
        return Ok(Verdict::Skip(
            "the server's CONNACK states no Maximum Packet Size".to_owned(),
        ));
    };
    let Some(size) = usize::try_from(maximum).ok().filter(|size| *size < 1 << 20) else {
        connected.client.disconnect()?;
        return Ok(Verdict::Skip(format!(
            "the server's Maximum Packet Size {maximum} is more than this check sends"
        )));
    };
    let mut client = connected.client;
    let topic = context.topic("large");
    // Over the limit by the header and topic: a QoS 0 PUBLISH whose payload is a zero Property
    // Length and then `size` bytes.
    client.send(&wire::publish(&topic, 0, false, false, 0, &{
        let mut payload = vec![0u8];
        payload.extend(std::iter::repeat_n(b'L', size));
        payload
    }))?;
    expect_error_close(&mut client)
        .map_err(|error| format!("a PUBLISH over Maximum Packet Size {maximum}: {error}"))?;
    Ok(Verdict::Pass)
}

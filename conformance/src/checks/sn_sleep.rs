//! MQTT-SN sleeping clients, gateway discovery and forwarder encapsulation (MQTT-SN 1.2 §6.14,
//! §6.1, §5.5).
//!
//! Sleep durations are a few seconds, so that every check is bounded; where the suite must know
//! that the gateway has something buffered, it polls with PINGREQ up to a deadline rather than
//! sleeping a fixed time.

use std::time::{Duration, Instant};

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::publish;
use crate::checks::sn_publish::{broker_publisher, no_broker};
use crate::sn_client::SnClient;
use crate::sn_wire::{self, SnFrame, Topic, flag, msg};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "sn-sleep-buffers",
        section: "MQTT-SN 6.14 Sleeping clients",
        ids: &[
            "SN-6.14-1",
            "SN-6.14-6",
            "SN-6.14-8",
            "SN-6.14-9",
            "SN-6.14-10",
            "SN-5.4.19-2",
            "SN-5.4.20-2",
            "SN-5.4.21-5",
        ],
        summary: "messages for an asleep client are held until PINGREQ with its ClientId, then sent and closed by PINGRESP",
        applies: Applies::Gateway,
        run: sleep_buffers,
    },
    Check {
        name: "sn-sleep-nothing-buffered",
        section: "MQTT-SN 6.14 Sleeping clients",
        ids: &["SN-6.14-11", "SN-6.14-14", "SN-6.14-15"],
        summary: "an asleep client with nothing buffered gets PINGRESP at once; it may sleep again and disconnect",
        applies: Applies::Gateway,
        run: sleep_nothing_buffered,
    },
    Check {
        name: "sn-searchgw",
        section: "MQTT-SN 6.1 Gateway discovery",
        ids: &["SN-6.1-12", "SN-5.4.3-1", "SN-5.4.2-1", "SN-5.3.6-1"],
        summary: "SEARCHGW is answered with GWINFO carrying the gateway's GwId (and no GwAdd)",
        applies: Applies::Gateway,
        run: searchgw,
    },
    Check {
        name: "sn-searchgw-group",
        section: "MQTT-SN 6.1 Gateway discovery",
        ids: &["SN-6.1-12"],
        summary: "SEARCHGW sent to the gateway's multicast group (--sn-group) is answered with GWINFO",
        applies: Applies::Gateway,
        run: searchgw_group,
    },
    Check {
        name: "sn-encapsulated",
        section: "MQTT-SN 5.5 Forwarder encapsulation",
        ids: &["SN-4-1", "SN-5.5-1", "SN-5.5-2", "SN-5.5-3"],
        summary: "messages of a node behind a forwarder are answered encapsulated, for the same Wireless Node Id",
        applies: Applies::Gateway,
        run: encapsulated,
    },
];

/// How long a check's client sleeps: long enough to outlast the exchange, short enough to keep the
/// check bounded if the gateway loses it.
const SLEEP: u16 = 10;

fn go_to_sleep(client: &mut SnClient, duration: u16) -> Result<(), String> {
    client.send(&sn_wire::disconnect(Some(duration)))?;
    let answer = client.wait_for(msg::DISCONNECT)?;
    if !answer.body.is_empty() {
        return Err(format!(
            "the DISCONNECT acknowledging sleep carries a Duration: {}",
            answer.describe()
        ));
    }
    Ok(())
}

/// One wake-up: PINGREQ with the client id; returns what came before the PINGRESP.
fn wake(client: &mut SnClient, id: &str) -> Result<Vec<SnFrame>, String> {
    client.send(&sn_wire::pingreq(Some(id)))?;
    let mut before = Vec::new();
    loop {
        let frame = client.recv()?;
        match frame.kind {
            msg::PINGRESP => return Ok(before),
            msg::REGISTER => client.accept_register(&frame)?,
            msg::PUBLISH => {
                client.acknowledge(&frame)?;
                before.push(frame);
            }
            _ => return Err(format!("while awake: {}", frame.describe())),
        }
    }
}

fn sleep_buffers(context: &Context) -> Result<Verdict, String> {
    let Some(mut sender) = broker_publisher(context)? else {
        return Ok(no_broker());
    };
    let id = context.client_id();
    let topic = context.topic("snsleep");
    let mut client = SnClient::connect(context, &id, flag::CLEAN_SESSION, 60)?;
    client.subscribe(1, Topic::Name(&topic))?;
    go_to_sleep(&mut client, SLEEP)?;
    publish(&mut sender, &topic, 1, false, b"one")?;
    publish(&mut sender, &topic, 1, false, b"two")?;
    let result = (|| {
        // Until the gateway has both messages, a wake-up may find fewer. Between wake-ups the node
        // listens for a moment: anything arriving unasked was sent to a sleeping client.
        let deadline = Instant::now() + context.timeout * 2;
        let mut got = Vec::new();
        loop {
            if let Some(frame) = client.next_within(Duration::from_millis(100))? {
                return Err(format!(
                    "sent to a client that is asleep: {}",
                    frame.describe()
                ));
            }
            for frame in wake(&mut client, &id)? {
                if let Some((_, _, data)) = frame.publish_parts() {
                    got.push(data.to_vec());
                }
            }
            if got.len() >= 2 {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "after {:?} of wake-ups, received {} of the 2 buffered messages",
                    context.timeout * 2,
                    got.len()
                ));
            }
        }
        if got != [b"one".to_vec(), b"two".to_vec()] {
            return Err(format!("buffered messages came back as {got:?}"));
        }
        Ok(())
    })();
    // Back from asleep to disconnected [SN-6.14-14], ending the session.
    client.disconnect()?;
    result.map(|()| Verdict::Pass)
}

fn sleep_nothing_buffered(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut client = SnClient::clean(context, &id)?;
    go_to_sleep(&mut client, SLEEP)?;
    let before = wake(&mut client, &id)?;
    if !before.is_empty() {
        return Err(format!(
            "nothing was buffered, yet got {}",
            before[0].describe()
        ));
    }
    // A new Duration while asleep is acknowledged like the first [SN-6.14-15].
    go_to_sleep(&mut client, SLEEP + 1)?;
    let before = wake(&mut client, &id)?;
    if !before.is_empty() {
        return Err(format!(
            "nothing was buffered, yet got {}",
            before[0].describe()
        ));
    }
    client.disconnect()?;
    Ok(Verdict::Pass)
}

fn searchgw_group(context: &Context) -> Result<Verdict, String> {
    let Some(group) = context.gateway.as_ref().and_then(|gateway| gateway.group) else {
        return Ok(Verdict::Skip(
            "needs the gateway's multicast group (--sn-group)".to_owned(),
        ));
    };
    let any: std::net::SocketAddr = if group.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket =
        std::net::UdpSocket::bind(any).map_err(|error| format!("cannot bind UDP: {error}"))?;
    socket
        .send_to(&sn_wire::searchgw(1), group)
        .map_err(|error| format!("cannot send to the group {group}: {error}"))?;
    // The answer may come from the gateway's own address, or on the group; ADVERTISE is not it.
    let deadline = Instant::now() + context.timeout;
    let mut buffer = vec![0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no GWINFO within {:?} for SEARCHGW sent to {group}",
                context.timeout
            ));
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|error| error.to_string())?;
        let Ok((n, _)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let frame = SnFrame::parse(buffer.get(..n).unwrap_or_default())?;
        if frame.kind == msg::GWINFO {
            return Ok(Verdict::Pass);
        }
    }
}

fn searchgw(context: &Context) -> Result<Verdict, String> {
    let mut node = SnClient::open(context)?;
    node.send(&sn_wire::searchgw(1))?;
    // A gateway may also be advertising: ADVERTISE is not the answer, GWINFO is.
    let deadline = Instant::now() + context.timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(frame) = node.next_within(left)? else {
            return Err(format!(
                "no GWINFO within {:?} (a gateway that answers only by broadcast to another port cannot be seen)",
                context.timeout
            ));
        };
        match frame.kind {
            msg::ADVERTISE => {}
            msg::GWINFO if frame.body.len() == 1 => return Ok(Verdict::Pass),
            _ => {
                return Err(format!(
                    "expected GWINFO with a GwId only, got {}",
                    frame.describe()
                ));
            }
        }
    }
}

fn encapsulated(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let node_id = [0x5A, 0x01, 0xC3];
    let forwarder = SnClient::open(context)?;
    let exchange = |inner: &[u8], expected: u8| -> Result<SnFrame, String> {
        forwarder.send(&sn_wire::encapsulate(0, &node_id, inner))?;
        let datagram = forwarder
            .receive(context.timeout)?
            .ok_or_else(|| format!("no encapsulated {} came back", msg::name(expected)))?;
        let frame = SnFrame::parse_encapsulated(&datagram)?;
        if frame.node != node_id {
            return Err(format!(
                "answered for node {}, not {}",
                sn_wire::hex(&frame.node),
                sn_wire::hex(&node_id)
            ));
        }
        if frame.ctrl & 0xFC != 0 {
            return Err(format!("reserved Ctrl bits set: {:02x}", frame.ctrl));
        }
        if frame.inner.kind != expected {
            return Err(format!(
                "expected an encapsulated {}, got {}",
                msg::name(expected),
                frame.inner.describe()
            ));
        }
        Ok(frame.inner)
    };
    let connack = exchange(
        &sn_wire::connect(flag::CLEAN_SESSION, 60, &id),
        msg::CONNACK,
    )?;
    if connack.body != [0] {
        return Err(format!("CONNACK refused: {}", connack.describe()));
    }
    exchange(&sn_wire::pingreq(None), msg::PINGRESP)?;
    exchange(&sn_wire::disconnect(None), msg::DISCONNECT)?;
    Ok(Verdict::Pass)
}

//! Retained flood: N retained messages stored first, then a new subscriber to all of them at once,
//! counting how many arrive, how long the last one takes and deliveries per second.
//!
//! A publisher stores `count` retained messages of `payload` bytes at QoS 1, one per topic
//! `ret/<run>/<n>` (`<run>` is new each run, so a broker given with `--against` that keeps retained
//! messages between scenarios cannot inflate the count), with at most `FLOWS` unacknowledged, and
//! waits for every PUBACK: the broker has taken responsibility for all of them before the
//! subscriber arrives. Then a new clean-session subscriber subscribes to `ret/<run>/#` at the
//! scenario's QoS and reads. Every retained message must reach it, at QoS 0 as at QoS 1: a broker
//! that sends a burst of retained messages faster than its session queue holds, and drops the rest,
//! is what this scenario is for. It ends when all `count` have arrived, or after `QUIET` with
//! nothing new, or after `LIMIT` in all.
//!
//! This file does not format the table (`report.rs`).

use std::io::Write;
use std::time::{Duration, Instant};

use mqtt_codec::{
    Delivery, List, Packet, PubAck, Publish, QoS, Subscribe, Subscription, TopicFilter, TopicName,
};

use super::client;
use super::scenario::RetainedShape;
use super::target::{Memory, Target};

/// Unacknowledged retained PUBLISHes the storing client keeps open, both brokers' default
/// `max_inflight_messages`.
const FLOWS: usize = 20;
/// Nothing new for this long means nothing more is coming.
const QUIET: Duration = Duration::from_secs(2);
/// The most the subscriber waits in all, whatever arrives.
const LIMIT: Duration = Duration::from_secs(120);

/// The figures of one retained-flood run.
#[derive(Debug, Clone)]
pub(crate) struct Retained {
    /// Retained messages stored (and acknowledged) before the subscriber arrived.
    pub(crate) wanted: u64,
    /// Distinct ones the subscriber received.
    pub(crate) received: u64,
    pub(crate) duplicates: u64,
    /// From the SUBSCRIBE's `write` to the `read` that brought the last message received.
    pub(crate) last_after: Duration,
    pub(crate) memory: Option<Memory>,
}

impl Retained {
    /// Distinct messages received per second, up to the last one.
    pub(crate) fn per_second(&self) -> f64 {
        let seconds = self.last_after.as_secs_f64();
        if seconds > 0.0 {
            self.received as f64 / seconds
        } else {
            0.0
        }
    }

    pub(crate) fn missing(&self) -> u64 {
        self.wanted.saturating_sub(self.received)
    }
}

/// Runs one retained-flood scenario against `target`.
pub(crate) fn run(shape: &RetainedShape, target: &Target) -> Result<Retained, String> {
    let run = format!(
        "{}-{}",
        std::process::id(),
        client::now_nanos() % 1_000_000_000
    );
    store(target, &run, shape.count, shape.payload)?;
    let mut retained = receive(target, &run, shape.count, shape.qos)?;
    retained.memory = target.memory_kib();
    Ok(retained)
}

/// Publishes `count` retained messages at QoS 1 and waits for all their PUBACKs.
fn store(target: &Target, run: &str, count: usize, payload: usize) -> Result<(), String> {
    let id = format!("bench-{run}-store");
    let (mut stream, mut reader) = client::connect(target.address, &id, 60, false)?;
    stream
        .set_read_timeout(Some(client::SETUP_TIMEOUT))
        .map_err(|error| error.to_string())?;
    let body = vec![b'r'; payload];
    let mut out = Vec::with_capacity(64 * 1024);
    let (mut sent, mut acked, mut open) = (0usize, 0usize, 0usize);
    while acked < count {
        out.clear();
        while open < FLOWS && sent < count {
            let topic = format!("ret/{run}/{sent}");
            let topic = TopicName::new(&topic).map_err(|error| format!("{topic}: {error:?}"))?;
            // Identifiers cycle through 1..=FLOWS*2: never more than FLOWS open at once.
            let packet_id = client::packet_id((sent % (FLOWS * 2)) as u16 + 1);
            client::encode(
                Packet::Publish(Publish {
                    topic,
                    payload: &body,
                    delivery: Delivery::new(QoS::AtLeastOnce, packet_id, false),
                    retain: true,
                }),
                &mut out,
            )?;
            sent += 1;
            open += 1;
        }
        if !out.is_empty() {
            stream
                .write_all(&out)
                .map_err(|error| format!("{id}: cannot send PUBLISH: {error}"))?;
        }
        // Every PUBACK of a read counts (`Reader::expect` would stop at the first).
        let mut pubacks = 0;
        match reader.fill(&stream) {
            Ok(0) => return Err(format!("{id}: the broker closed the connection")),
            Ok(_) => {}
            Err(error) if client::timed_out(&error) => {
                return Err(format!(
                    "{id}: no PUBACK within {:?}",
                    client::SETUP_TIMEOUT
                ));
            }
            Err(error) => return Err(format!("{id}: {error}")),
        }
        reader.drain(|packet| {
            if matches!(packet, Packet::PubAck(_)) {
                pubacks += 1;
            }
        })?;
        acked += pubacks;
        open = open.saturating_sub(pubacks);
    }
    let mut out = Vec::new();
    client::encode(Packet::Disconnect, &mut out)?;
    let _ = stream.write_all(&out);
    Ok(())
}

/// Subscribes a new client to `ret/<run>/#` at `qos` and counts the retained messages that arrive.
fn receive(target: &Target, run: &str, count: usize, qos: QoS) -> Result<Retained, String> {
    let id = format!("bench-{run}-flood");
    let (mut stream, mut reader) = client::connect(target.address, &id, 60, false)?;
    let filter = format!("ret/{run}/#");
    let prefix = format!("ret/{run}/");
    let entries = [Subscription {
        filter: TopicFilter::new(&filter).map_err(|error| format!("{filter}: {error:?}"))?,
        qos,
    }];
    let mut out = Vec::with_capacity(64 * 1024);
    client::encode(
        Packet::Subscribe(Subscribe {
            packet_id: client::packet_id(1),
            filters: List::from_slice(&entries),
        }),
        &mut out,
    )?;
    let started = Instant::now();
    stream
        .write_all(&out)
        .map_err(|error| format!("cannot send SUBSCRIBE: {error}"))?;
    stream
        .set_read_timeout(Some(QUIET))
        .map_err(|error| error.to_string())?;
    let mut seen = vec![false; count];
    let (mut received, mut duplicates) = (0u64, 0u64);
    let mut last_after = Duration::ZERO;
    let mut suback = false;
    while (received as usize) < count && started.elapsed() < LIMIT {
        match reader.fill(&stream) {
            Ok(0) => return Err("the broker closed the subscriber's connection".to_owned()),
            Ok(_) => {}
            Err(error) if client::timed_out(&error) => break,
            Err(error) => return Err(format!("subscriber: {error}")),
        }
        let now = started.elapsed();
        let before = received;
        out.clear();
        let mut bad = None;
        reader.drain(|packet| match packet {
            Packet::SubAck(_) => suback = true,
            Packet::Publish(publish) => {
                if let Some(packet_id) = publish.delivery.packet_id()
                    && let Err(why) = client::encode(Packet::PubAck(PubAck { packet_id }), &mut out)
                {
                    bad = Some(why);
                }
                let index = publish
                    .topic
                    .as_str()
                    .strip_prefix(&prefix)
                    .and_then(|n| n.parse::<usize>().ok());
                match index.and_then(|n| seen.get_mut(n)) {
                    Some(slot) if *slot => duplicates += 1,
                    Some(slot) => {
                        *slot = true;
                        received += 1;
                    }
                    None => bad = Some(format!("unexpected topic {}", publish.topic.as_str())),
                }
            }
            _ => {}
        })?;
        if let Some(why) = bad {
            return Err(why);
        }
        if received > before {
            last_after = now;
        }
        if !out.is_empty() {
            stream
                .write_all(&out)
                .map_err(|error| format!("cannot send PUBACK: {error}"))?;
        }
    }
    if !suback {
        return Err("no SUBACK".to_owned());
    }
    Ok(Retained {
        wanted: count as u64,
        received,
        duplicates,
        last_after,
        memory: None,
    })
}

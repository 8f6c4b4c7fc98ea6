//! The scenarios, named so that `--scenario` can pick them, and their sizes for a full and a smoke run.
//!
//! Throughput: QoS 0, 1 and 2, each with one publisher and one subscriber (`1to1`), sixteen publishers
//! and one subscriber (`16to1`, fan-in) and one publisher and sixteen subscribers (`1to16`, fan-out),
//! with 64-byte and 1 KiB payloads. Latency: QoS 0 and 1 at 1 000 and 10 000 messages a second. Idle
//! connections: 1 000 and 5 000 held open while a publisher and a subscriber keep working. Persistence:
//! QoS 1, one to one and sixteen to one, with the broker's `persistence true` and persistent sessions (CleanSession 0),
//! so that every message goes through the broker's durable store (unsupported brokers say so).
//!
//! This file holds no measuring code; each kind of scenario has its own file.

use std::time::Duration;

use mqtt_codec::QoS;

/// How a scenario wants the broker configured, beyond listening on loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrokerSetup {
    /// Defaults.
    Plain,
    /// `persistence true`, with the store in a fresh directory.
    Persistent,
}

/// Publishers and subscribers flat out on one topic.
#[derive(Debug, Clone)]
pub(crate) struct ThroughputShape {
    pub(crate) qos: QoS,
    pub(crate) publishers: usize,
    pub(crate) subscribers: usize,
    pub(crate) payload: usize,
    /// Excluded from the figures: connections settle and buffers grow.
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    /// Messages allowed between the publishers and their slowest subscriber (see `throughput.rs`).
    pub(crate) in_flight: u64,
    /// QoS 1 and 2 flows a publisher keeps open at most (see `throughput.rs`).
    pub(crate) flows: u64,
    pub(crate) setup: BrokerSetup,
}

/// `in_flight` of an open-loop scenario: no end-to-end window at all, publishers faster than the
/// subscriber (only the `--flows` limit on unacknowledged QoS 1/2 flows remains, as a client's own).
/// What it measures is what a broker does under overload: how many acknowledged messages it drops
/// (the `lost` columns; 0 for a broker that keeps its promise) and how fast it still delivers.
pub(crate) const OPEN_LOOP: u64 = u64::MAX / 4;

/// One publisher at a fixed rate, one subscriber, delivery time of every message.
#[derive(Debug, Clone)]
pub(crate) struct LatencyShape {
    pub(crate) qos: QoS,
    pub(crate) rate: u32,
    pub(crate) payload: usize,
    pub(crate) window: Duration,
}

/// Many idle connections, then a fixed-rate publisher and subscriber meanwhile.
#[derive(Debug, Clone)]
pub(crate) struct IdleShape {
    pub(crate) connections: usize,
    pub(crate) keep_alive: u16,
    /// How long the fixed-rate service check lasts.
    pub(crate) service: Duration,
}

/// Retained messages stored first, then one new subscriber to all of them (see `retained.rs`).
#[derive(Debug, Clone)]
pub(crate) struct RetainedShape {
    /// The subscription's QoS; the messages are stored at QoS 1.
    pub(crate) qos: QoS,
    /// Retained messages, one per topic.
    pub(crate) count: usize,
    pub(crate) payload: usize,
}

/// One scenario.
#[derive(Debug, Clone)]
pub(crate) enum Scenario {
    Throughput(ThroughputShape),
    Latency(LatencyShape),
    Idle(IdleShape),
    Retained(RetainedShape),
}

/// The sizes of a run.
#[derive(Debug, Clone)]
pub(crate) struct Sizes {
    /// Messages between publishers and subscribers (`--window`).
    pub(crate) in_flight: u64,
    /// Open QoS 1 and 2 flows per publisher (`--flows`).
    pub(crate) flows: u64,
    warmup: Duration,
    window: Duration,
    latency_window: Duration,
    idle_counts: Vec<usize>,
    service: Duration,
    retained_count: usize,
}

impl Sizes {
    /// A full run: `seconds` per measuring window.
    pub(crate) fn full(seconds: f64) -> Self {
        let window = Duration::from_secs_f64(seconds);
        Self {
            in_flight: 1_000,
            flows: 20,
            warmup: Duration::from_millis(500),
            window,
            latency_window: window,
            idle_counts: vec![1_000, 5_000],
            service: Duration::from_secs(3),
            retained_count: 10_000,
        }
    }

    /// A smoke run for CI: every kind of scenario once, in a few seconds.
    pub(crate) fn smoke() -> Self {
        Self {
            in_flight: 1_000,
            flows: 20,
            warmup: Duration::from_millis(100),
            window: Duration::from_millis(300),
            latency_window: Duration::from_millis(500),
            idle_counts: vec![200],
            service: Duration::from_millis(300),
            retained_count: 1_000,
        }
    }
}

/// Every scenario of a run, in the order they run. The smoke run keeps a few that between them use
/// every code path of the tool.
pub(crate) fn all(sizes: &Sizes, smoke: bool) -> Vec<Scenario> {
    let mut scenarios = Vec::new();
    let shapes = [(1, 1), (16, 1), (1, 16)];
    for payload in [64, 1024] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for (publishers, subscribers) in shapes {
                scenarios.push(Scenario::Throughput(ThroughputShape {
                    qos,
                    publishers,
                    subscribers,
                    payload,
                    warmup: sizes.warmup,
                    window: sizes.window,
                    in_flight: sizes.in_flight,
                    flows: sizes.flows,
                    setup: BrokerSetup::Plain,
                }));
            }
        }
    }
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        for publishers in [1, 16] {
            scenarios.push(Scenario::Throughput(ThroughputShape {
                qos,
                publishers,
                subscribers: 1,
                payload: 64,
                warmup: sizes.warmup,
                window: sizes.window,
                in_flight: OPEN_LOOP,
                flows: sizes.flows,
                setup: BrokerSetup::Plain,
            }));
        }
    }
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        for rate in [1_000, 10_000] {
            scenarios.push(Scenario::Latency(LatencyShape {
                qos,
                rate,
                payload: 64,
                window: sizes.latency_window,
            }));
        }
    }
    for &connections in &sizes.idle_counts {
        scenarios.push(Scenario::Idle(IdleShape {
            connections,
            keep_alive: 60,
            service: sizes.service,
        }));
    }
    // One publisher, and sixteen: with sixteen, one `fdatasync` can cover records of many
    // connections (the write-ahead log's group commit), which one publisher cannot show.
    for publishers in [1, 16] {
        scenarios.push(Scenario::Throughput(ThroughputShape {
            qos: QoS::AtLeastOnce,
            publishers,
            subscribers: 1,
            payload: 64,
            warmup: sizes.warmup,
            window: sizes.window,
            in_flight: sizes.in_flight,
            flows: sizes.flows,
            setup: BrokerSetup::Persistent,
        }));
    }
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        scenarios.push(Scenario::Retained(RetainedShape {
            qos,
            count: sizes.retained_count,
            payload: 64,
        }));
    }
    if smoke {
        scenarios.retain(|scenario| SMOKE.contains(&scenario.name().as_str()));
    }
    scenarios
}

/// The scenarios of a smoke run: between them, every code path of the tool.
const SMOKE: [&str; 8] = [
    "qos0-1to1-64b",
    "qos1-16to1-64b",
    "qos2-1to16-1k",
    "latency-qos1-1000",
    "idle-200",
    "persist-qos1-1to1-64b",
    "overload-qos1-1to1-64b",
    "retained-qos1-1000",
];

/// The open files the load generator needs: its idle connections, plus room for the rest.
pub(crate) fn needed_files(scenarios: &[Scenario]) -> u64 {
    let most = scenarios
        .iter()
        .filter_map(|scenario| match scenario {
            Scenario::Idle(shape) => Some(shape.connections),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    most as u64 + 1_024
}

impl Scenario {
    /// The name `--scenario` matches, e.g. `qos1-16to1-64b` or `latency-qos0-10000`.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Throughput(shape) => format!(
                "{}qos{}-{}to{}-{}",
                if shape.setup == BrokerSetup::Persistent {
                    "persist-"
                } else if shape.in_flight == OPEN_LOOP {
                    "overload-"
                } else {
                    ""
                },
                shape.qos.bits(),
                shape.publishers,
                shape.subscribers,
                size_name(shape.payload)
            ),
            Self::Latency(shape) => format!("latency-qos{}-{}", shape.qos.bits(), shape.rate),
            Self::Idle(shape) => format!("idle-{}", shape.connections),
            Self::Retained(shape) => format!("retained-qos{}-{}", shape.qos.bits(), shape.count),
        }
    }

    /// A line for the table: what the scenario does.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Throughput(shape) => format!(
                "QoS {} {}->{} {}{}",
                shape.qos.bits(),
                shape.publishers,
                shape.subscribers,
                size_name(shape.payload)
                    .replace('b', " B")
                    .replace('k', " KiB"),
                if shape.setup == BrokerSetup::Persistent {
                    ", persistence on, persistent sessions"
                } else if shape.in_flight == OPEN_LOOP {
                    ", open loop (overload)"
                } else {
                    ""
                }
            ),
            Self::Latency(shape) => format!("QoS {} at {} msg/s", shape.qos.bits(), shape.rate),
            Self::Idle(shape) => format!("{} idle connections", shape.connections),
            Self::Retained(shape) => format!(
                "{} retained {}, new subscriber at QoS {}",
                shape.count,
                size_name(shape.payload).replace('b', " B"),
                shape.qos.bits()
            ),
        }
    }

    /// Whether `--repeat` applies.
    pub(crate) fn is_throughput(&self) -> bool {
        matches!(self, Self::Throughput(_))
    }

    /// The broker configuration the scenario needs.
    pub(crate) fn broker_setup(&self) -> BrokerSetup {
        match self {
            Self::Throughput(shape) => shape.setup,
            _ => BrokerSetup::Plain,
        }
    }
}

fn size_name(bytes: usize) -> String {
    if bytes.is_multiple_of(1024) {
        format!("{}k", bytes / 1024)
    } else {
        format!("{bytes}b")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_smoke_name_is_a_scenario_and_retained_flood_is_in_both_runs() {
        let smoke: Vec<String> = all(&Sizes::smoke(), true)
            .iter()
            .map(Scenario::name)
            .collect();
        assert_eq!(smoke.len(), SMOKE.len(), "smoke run: {smoke:?}");
        assert!(smoke.contains(&"retained-qos1-1000".to_owned()));
        let full: Vec<String> = all(&Sizes::full(8.0), false)
            .iter()
            .map(Scenario::name)
            .collect();
        for name in [
            "retained-qos0-10000",
            "retained-qos1-10000",
            "overload-qos2-16to1-64b",
        ] {
            assert!(full.contains(&name.to_owned()), "{name} missing: {full:?}");
        }
    }
}

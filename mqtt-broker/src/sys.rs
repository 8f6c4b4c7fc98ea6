//! The `$SYS` publisher: a thread that publishes the broker's figures under mosquitto's topic names
//! every `sys_interval` seconds, retained, and only the ones whose value changed.
//!
//! `$SYS` is a server-specific convention, not part of the MQTT specifications; 3.1.1 only says that
//! wildcards at the first level do not match topics starting with `$` [MQTT-4.7.2-1], which is why a
//! client subscribes `$SYS/#` to see them. Messages are published at QoS 0 with the retain flag, so a
//! new subscriber gets the current figures at once. (mosquitto publishes them at QoS 2.)
//!
//! The load figures (`$SYS/broker/load/...`) are exponentially weighted moving averages of the rate
//! per minute, over 1, 5 and 15 minutes, computed by the pure [`Load`] below.
//!
//! This file reads counters; it does not count anything itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use mqtt_codec::QoS;

use crate::message::Message;
use crate::metrics::Metrics;
use crate::routing::router::Router;

/// Starts the publisher; it stops when `stop` is dropped or sent to.
pub(crate) fn spawn(
    router: Arc<Router>,
    interval: Duration,
    stop: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("sys".into())
        .stack_size(256 * 1024)
        .spawn(move || run(&router, interval, &stop))
}

fn run(router: &Router, interval: Duration, stop: &Receiver<()>) {
    let started = Instant::now();
    let mut last_published: HashMap<String, String> = HashMap::new();
    let mut loads: Vec<Load> = LOAD_TOPICS.iter().map(|_| Load::default()).collect();
    let mut last_tick = started;
    loop {
        let now = Instant::now();
        let elapsed = now.duration_since(last_tick);
        last_tick = now;
        let mut values = figures(router, now.duration_since(started));
        let counters = load_counters(router);
        for ((topic, load), value) in LOAD_TOPICS.iter().zip(&mut loads).zip(counters) {
            load.update(value, elapsed);
            for (window, figure) in ["1min", "5min", "15min"].iter().zip(load.averages) {
                values.push((
                    format!("$SYS/broker/load/{topic}/{window}"),
                    format!("{figure:.2}"),
                ));
            }
        }
        for (topic, value) in values {
            if last_published.get(&topic) != Some(&value) {
                router.publish(&Message::new(
                    &topic,
                    value.as_bytes(),
                    QoS::AtMostOnce,
                    true,
                ));
                last_published.insert(topic, value);
            }
        }
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

/// The figures other than loads: (topic, payload).
fn figures(router: &Router, uptime: Duration) -> Vec<(String, String)> {
    let metrics = &router.metrics;
    let (connected, total, subscriptions, retained) = router.counts();
    let (stored, stored_bytes, inflight) = router.stored();
    let disconnected = total.saturating_sub(connected);
    let counter = |value: &std::sync::atomic::AtomicU64| Metrics::read(value).to_string();
    let mut values: Vec<(&str, String)> = vec![
        (
            "version",
            format!("mqtt-broker version {}", env!("CARGO_PKG_VERSION")),
        ),
        ("uptime", format!("{} seconds", uptime.as_secs())),
        ("clients/connected", connected.to_string()),
        ("clients/disconnected", disconnected.to_string()),
        // mosquitto's deprecated names for the two above, still published by mosquitto 2.
        ("clients/active", connected.to_string()),
        ("clients/inactive", disconnected.to_string()),
        ("clients/expired", counter(&metrics.clients_expired)),
        ("clients/total", total.to_string()),
        ("clients/maximum", counter(&metrics.clients_maximum)),
        ("messages/received", counter(&metrics.messages_received)),
        ("messages/sent", counter(&metrics.messages_sent)),
        (
            "publish/messages/received",
            counter(&metrics.publish_received),
        ),
        ("publish/messages/sent", counter(&metrics.publish_sent)),
        (
            "publish/messages/dropped",
            counter(&metrics.publish_dropped),
        ),
        (
            "publish/messages/refused",
            counter(&metrics.publish_refused),
        ),
        (
            "publish/bytes/received",
            counter(&metrics.publish_bytes_received),
        ),
        ("publish/bytes/sent", counter(&metrics.publish_bytes_sent)),
        // Every message held: retained, queued or in flight. `messages/stored` is mosquitto's
        // deprecated name for the count.
        ("messages/stored", stored.to_string()),
        ("store/messages/count", stored.to_string()),
        ("store/messages/bytes", stored_bytes.to_string()),
        ("bytes/received", counter(&metrics.bytes_received)),
        ("bytes/sent", counter(&metrics.bytes_sent)),
        ("subscriptions/count", subscriptions.to_string()),
        (
            "shared_subscriptions/count",
            router.shared_count().to_string(),
        ),
        ("retained messages/count", retained.to_string()),
        ("messages/inflight", inflight.to_string()),
    ];
    if let Some(memory) = Memory::of_this_process() {
        values.push(("heap/current", memory.resident.to_string()));
        values.push(("heap/maximum", memory.peak.to_string()));
    }
    values
        .into_iter()
        .map(|(topic, value)| (format!("$SYS/broker/{topic}"), value))
        .collect()
}

/// The process's memory in bytes, for `$SYS/broker/heap/current` and `.../maximum`.
///
/// mosquitto counts the bytes its own allocator wrapper hands out; Rust's allocator keeps no such
/// figure, and wrapping it would put a shared atomic on every allocation of every thread. The
/// resident set (`VmRSS`) and its high-water mark (`VmHWM`) from `/proc/self/status` measure what an
/// operator watching memory cares about at no cost to the data path; they include code and stacks,
/// so they read higher than mosquitto's figures. Elsewhere than Linux the two topics are absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Memory {
    pub(crate) resident: u64,
    pub(crate) peak: u64,
}

impl Memory {
    pub(crate) fn of_this_process() -> Option<Memory> {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| Memory::parse(&status))
    }

    /// Reads the `VmRSS:` and `VmHWM:` lines (`<n> kB`) of a `/proc/<pid>/status` text.
    fn parse(status: &str) -> Option<Memory> {
        let field = |name: &str| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(name)?;
                let kib: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
                kib.checked_mul(1024)
            })
        };
        Some(Memory {
            resident: field("VmRSS:")?,
            peak: field("VmHWM:")?,
        })
    }
}

/// The counters behind `$SYS/broker/load/<name>/...`, in the order of [`LOAD_TOPICS`].
const LOAD_TOPICS: [&str; 9] = [
    "messages/received",
    "messages/sent",
    "publish/received",
    "publish/sent",
    "publish/dropped",
    "bytes/received",
    "bytes/sent",
    "connections",
    "sockets",
];

fn load_counters(router: &Router) -> [u64; 9] {
    let metrics = &router.metrics;
    [
        &metrics.messages_received,
        &metrics.messages_sent,
        &metrics.publish_received,
        &metrics.publish_sent,
        &metrics.publish_dropped,
        &metrics.bytes_received,
        &metrics.bytes_sent,
        &metrics.connections,
        &metrics.sockets,
    ]
    .map(Metrics::read)
}

/// Moving averages of a counter's rate per minute over 1, 5 and 15 minutes.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Load {
    last: Option<u64>,
    averages: [f64; 3],
}

impl Load {
    /// Takes the counter's new `value`, read `elapsed` after the previous one. The first call only
    /// records the value.
    pub(crate) fn update(&mut self, value: u64, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let (Some(last), true) = (self.last, seconds > 0.0) {
            let rate = value.saturating_sub(last) as f64 * 60.0 / seconds;
            for (average, window) in self.averages.iter_mut().zip([60.0, 300.0, 900.0]) {
                let keep = (-seconds / window).exp();
                *average = *average * keep + rate * (1.0 - keep);
            }
        }
        self.last = Some(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_rate_is_approached_fastest_by_the_shortest_window() {
        let mut load = Load::default();
        load.update(0, Duration::ZERO);
        // 10 per 10 s is 60 per minute.
        for step in 1..=90 {
            load.update(step * 10, Duration::from_secs(10));
        }
        let [one, five, fifteen] = load.averages;
        assert!((one - 60.0).abs() < 0.01, "{one}");
        assert!(five < one && fifteen < five, "{five} {fifteen}");
        assert!(fifteen > 30.0, "{fifteen}");
    }

    #[test]
    fn memory_figures_are_read_from_proc_status_in_bytes() {
        let status = "Name:\tmqtt-broker\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(
            Memory::parse(status),
            Some(Memory {
                resident: 1024 * 1024,
                peak: 2048 * 1024
            })
        );
        assert_eq!(Memory::parse("VmRSS: 12 kB\n"), None, "no VmHWM line");
        assert_eq!(Memory::parse("VmRSS: x kB\nVmHWM: 1 kB\n"), None);
    }

    #[test]
    fn no_traffic_decays_towards_zero() {
        let mut load = Load {
            last: Some(100),
            averages: [60.0; 3],
        };
        load.update(100, Duration::from_secs(600));
        assert!(load.averages[0] < 0.01);
        assert!(load.averages[2] > load.averages[1]);
    }
}

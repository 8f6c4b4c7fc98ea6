//! Delivery time at a fixed rate: one publisher, one subscriber, percentiles of the time from the
//! publisher's `write` to the subscriber's `read` of each message.
//!
//! The publisher follows a schedule (message n is due n / rate seconds after the start) and stamps
//! each message with the time it is handed to the socket; the subscriber takes the time once per read.
//! Both clocks are the same `Instant` in this one process. The first fifth of a second is left out,
//! as connections warm up. The same client machinery as the throughput scenarios is used, paced.
//!
//! This file does not start brokers (`target.rs`) or format the tables (`report.rs`).

use std::thread;
use std::time::Duration;

use super::scenario::LatencyShape;
use super::target::Target;
use super::throughput::{Counts, Plan, Running};

/// Percentiles of one run, in microseconds, and the message accounting.
#[derive(Debug, Clone)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) samples: usize,
    pub(crate) counts: Counts,
}

/// Runs one latency scenario against `target`.
pub(crate) fn run(shape: &LatencyShape, target: &Target) -> Result<Latency, String> {
    measure(shape.qos, shape.rate, shape.payload, shape.window, target)
}

/// Publishes `rate` messages a second for `window` at `qos` and times their delivery.
pub(crate) fn measure(
    qos: mqtt_codec::QoS,
    rate: u32,
    payload: usize,
    window: Duration,
    target: &Target,
) -> Result<Latency, String> {
    let plan = Plan {
        qos,
        publishers: 1,
        subscribers: 1,
        payload,
        pace: Some(rate),
        record_latency: true,
        window: 1_000,
        flows: 20,
        persistent: false,
    };
    let running = Running::start(&plan, target)?;
    thread::sleep(window);
    let finished = running.finish()?;
    let warmup = (rate / 5) as usize;
    let mut times: Vec<u64> = finished.latencies.into_iter().skip(warmup).collect();
    if times.is_empty() {
        return Err("no message was delivered".to_owned());
    }
    times.sort_unstable();
    Ok(Latency {
        p50: percentile(&times, 0.50),
        p99: percentile(&times, 0.99),
        p999: percentile(&times, 0.999),
        samples: times.len(),
        counts: finished.counts,
    })
}

/// The value below which `fraction` of the sorted `times` (nanoseconds) lie, in microseconds.
fn percentile(times: &[u64], fraction: f64) -> f64 {
    let rank = ((times.len() as f64 * fraction).ceil() as usize).clamp(1, times.len());
    times[rank - 1] as f64 / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        let times: Vec<u64> = (1..=1_000).map(|n| n * 1_000).collect();
        assert_eq!(percentile(&times, 0.50), 500.0);
        assert_eq!(percentile(&times, 0.99), 990.0);
        assert_eq!(percentile(&times, 0.999), 999.0);
        assert_eq!(percentile(&[7_000], 0.999), 7.0);
    }
}

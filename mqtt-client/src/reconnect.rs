//! [`Backoff`]: how long to wait before the next reconnection attempt.
//!
//! Exponential backoff with jitter: the ceiling starts at the minimum delay and doubles after each
//! failed attempt up to the maximum, and each delay is drawn between half the ceiling and the
//! ceiling. The doubling spares a server that is down; the randomness spreads out the clients that a
//! restarting server dropped all at once, so that they do not all come back in the same instant.
//!
//! This file only computes delays. The sleeping (interruptible by `disconnect`) is in `client.rs`, and
//! MQTT itself says nothing about reconnection.

use std::time::Duration;

use crate::ReconnectOptions;

/// The delays between reconnection attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    options: ReconnectOptions,
    ceiling: Duration,
    rng: u64,
}

impl Backoff {
    /// A backoff that starts at `options.min_delay`, with a random seed.
    pub fn new(options: ReconnectOptions) -> Self {
        Self::with_seed(options, crate::options::random_u64())
    }

    /// A backoff with a given seed, so that tests see the same delays every time.
    pub fn with_seed(options: ReconnectOptions, seed: u64) -> Self {
        Self {
            options,
            ceiling: options.min_delay,
            // xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// The delay before the next attempt; each call doubles the ceiling for the one after.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (ceiling * 2).min(self.options.max_delay);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_millis()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            self.random() % (spread + 1)
        };
        half + Duration::from_millis(jitter)
    }

    /// Starts again from the minimum delay: called once a connection succeeds.
    pub fn reset(&mut self) {
        self.ceiling = self.options.min_delay;
    }

    /// xorshift64: small, fast, and plenty for spreading out delays.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(min_ms: u64, max_ms: u64) -> ReconnectOptions {
        ReconnectOptions {
            min_delay: Duration::from_millis(min_ms),
            max_delay: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn delays_double_up_to_the_maximum_with_jitter_below_the_ceiling() {
        let mut backoff = Backoff::with_seed(options(100, 1000), 42);
        for ceiling in [100, 200, 400, 800, 1000, 1000] {
            let delay = backoff.next_delay();
            let range = Duration::from_millis(ceiling / 2)..=Duration::from_millis(ceiling);
            assert!(range.contains(&delay), "{delay:?} outside {range:?}");
        }
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        let delays: Vec<Duration> = (0..8)
            .map(|seed| Backoff::with_seed(options(1000, 1000), seed).next_delay())
            .collect();
        let first = delays[0];
        assert!(delays.iter().any(|&delay| delay != first), "{delays:?}");
    }

    #[test]
    fn reset_starts_from_the_minimum() {
        let mut backoff = Backoff::with_seed(options(100, 10_000), 7);
        for _ in 0..10 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}

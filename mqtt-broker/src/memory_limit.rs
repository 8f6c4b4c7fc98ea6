//! [`MemoryLimit`]: mosquitto's `memory_limit`, measured on the messages the broker holds.
//!
//! mosquitto counts every byte its allocator wrapper hands out and refuses what would pass the
//! limit: a publisher whose message cannot be stored is disconnected, and so is a client that
//! cannot be given one. Rust's allocator keeps no such count (one would cost a shared atomic on
//! every allocation of every thread), and the process's resident set does not fall when memory is
//! freed back to the allocator, so a limit on it would stay tripped. What this broker bounds instead
//! is the memory clients decide: the payloads of the retained, queued and in-flight messages, the
//! figure `$SYS/broker/store/messages/bytes` reports ([`Router::stored`]). Connections' own buffers
//! are bounded by `max_connections` and the packet limits.
//!
//! While that figure is over the limit, a PUBLISH with a payload is not taken: the connection
//! closes without acknowledging it (DISCONNECT 0x97, Quota exceeded, at 5.0), so a QoS 1 or 2
//! message is sent again later and nothing acknowledged is lost. What brings the figure down is
//! let through: subscribers connect and receive what is held (CONNECT is not refused, as it would
//! be in mosquitto once its heap is exhausted, because a connection holds no message), and a
//! PUBLISH with an empty payload, which is how a retained message is deleted, passes.
//!
//! The figure is a scan of every session, so it is not taken for every PUBLISH: a reader that
//! finds it older than [`REFRESH`] takes it again, and the others use the last one. A burst may
//! pass the limit by what arrives within that time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::routing::router::Router;

/// How old the last measure may be before a reader takes a new one.
pub(crate) const REFRESH: std::time::Duration = std::time::Duration::from_millis(100);

/// The limit and the last measure against it.
#[derive(Debug)]
pub(crate) struct MemoryLimit {
    /// `memory_limit`, in bytes.
    limit: u64,
    /// Whether the last measure was over the limit.
    over: AtomicBool,
    /// The bytes the last measure found, for the log line.
    held: AtomicU64,
    /// When the last measure was taken; locked by the one reader taking the next.
    measured: Mutex<Option<Instant>>,
}

impl MemoryLimit {
    /// A limit of `limit` bytes; `None` for 0, mosquitto's "no limit".
    pub(crate) fn new(limit: u64) -> Option<Self> {
        (limit > 0).then(|| Self {
            limit,
            over: AtomicBool::new(false),
            held: AtomicU64::new(0),
            measured: Mutex::new(None),
        })
    }

    /// Whether the broker holds more message bytes than the limit, measuring again if the last
    /// measure is older than [`REFRESH`] and no other thread is taking one.
    pub(crate) fn exceeded(&self, router: &Router, now: Instant) -> bool {
        if let Some(mut measured) = self.measured.try_lock()
            && measured.is_none_or(|last| now.saturating_duration_since(last) >= REFRESH)
        {
            let (_, held, _) = router.stored();
            self.record(held);
            *measured = Some(now);
        }
        self.over.load(Ordering::Relaxed)
    }

    /// Takes `held` bytes as the current measure, logging when it crosses the limit either way.
    fn record(&self, held: u64) {
        self.held.store(held, Ordering::Relaxed);
        let over = held > self.limit;
        if self.over.swap(over, Ordering::Relaxed) != over {
            if over {
                log::warn!(
                    "memory_limit: messages held take {held} bytes, over the limit of {}: \
                     PUBLISH is refused until subscribers take them",
                    self.limit
                );
            } else {
                log::info!(
                    "memory_limit: messages held take {held} bytes, within the limit of {} again",
                    self.limit
                );
            }
        }
    }

    /// The reason a refusal gives, for the log and a 5.0 client's Reason String.
    pub(crate) fn describe(&self) -> String {
        format!(
            "memory_limit: the broker holds {} bytes of messages, over its limit of {}",
            self.held.load(Ordering::Relaxed),
            self.limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_at_0_as_in_mosquitto() {
        assert!(MemoryLimit::new(0).is_none());
    }

    #[test]
    fn the_limit_trips_above_it_and_clears_at_or_below() {
        let Some(limit) = MemoryLimit::new(100) else {
            panic!("a limit of 100");
        };
        for (held, over) in [
            (10, false),
            (100, false),
            (101, true),
            (5_000, true),
            (99, false),
        ] {
            limit.record(held);
            assert_eq!(
                limit.over.load(Ordering::Relaxed),
                over,
                "{held} bytes held"
            );
        }
        limit.record(101);
        assert!(limit.describe().contains("101 bytes"));
    }
}

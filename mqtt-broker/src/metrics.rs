//! [`Metrics`]: the broker's counters, read by the `$SYS` publisher (`sys.rs`).
//!
//! Plain atomics, incremented with relaxed ordering wherever the event happens: no lock, and no counter
//! is ever used to make a decision, so no ordering between them is needed. This file does not publish
//! anything.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters since start-up, named after the `$SYS` topics that report them.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Every packet received (`$SYS/broker/messages/received`).
    pub(crate) messages_received: AtomicU64,
    /// Every packet sent (`$SYS/broker/messages/sent`).
    pub(crate) messages_sent: AtomicU64,
    /// PUBLISH packets received (`$SYS/broker/publish/messages/received`).
    pub(crate) publish_received: AtomicU64,
    /// PUBLISH packets sent (`$SYS/broker/publish/messages/sent`).
    pub(crate) publish_sent: AtomicU64,
    /// Deliveries dropped because a queue or a writer channel was full, or a message was over
    /// `message_size_limit` (`$SYS/broker/publish/messages/dropped`).
    pub(crate) publish_dropped: AtomicU64,
    /// QoS 1/2 PUBLISH packets refused unacknowledged (their publisher disconnected) because an
    /// offline persistent session's queue was full (`$SYS/broker/publish/messages/refused`).
    pub(crate) publish_refused: AtomicU64,
    /// PUBLISH packets acknowledged but dropped because the ACL or `max_topic_levels` refused them.
    pub(crate) publish_denied: AtomicU64,
    /// Bytes read from sockets (`$SYS/broker/bytes/received`).
    pub(crate) bytes_received: AtomicU64,
    /// Bytes written to sockets (`$SYS/broker/bytes/sent`).
    pub(crate) bytes_sent: AtomicU64,
    /// Connections accepted with CONNACK 0 (`$SYS/broker/load/connections/*`).
    pub(crate) connections: AtomicU64,
    /// The most clients connected at once (`$SYS/broker/clients/maximum`).
    pub(crate) clients_maximum: AtomicU64,
    /// Sockets accepted by any listener, before CONNECT (`$SYS/broker/load/sockets/*`).
    pub(crate) sockets: AtomicU64,
    /// Payload bytes of the PUBLISH packets received (`$SYS/broker/publish/bytes/received`).
    pub(crate) publish_bytes_received: AtomicU64,
    /// Payload bytes of the PUBLISH packets sent (`$SYS/broker/publish/bytes/sent`).
    pub(crate) publish_bytes_sent: AtomicU64,
    /// Persistent sessions ended for being disconnected longer than their Session Expiry Interval
    /// or `persistent_client_expiration` (`$SYS/broker/clients/expired`): by the expiry thread on
    /// time, or at the CONNECT that found one it had not reached yet.
    pub(crate) clients_expired: AtomicU64,
}

impl Metrics {
    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub(crate) fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

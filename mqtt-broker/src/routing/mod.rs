//! Where a message goes: the router and the shared state it guards.
//!
//! `router.rs` finds a message's subscribers and owns the locks (and their order);
//! `subscriptions.rs` indexes topic filters, `shared.rs` the `$share` groups, `retained.rs` keeps
//! retained messages, `session_expiry.rs` says when offline sessions run out of time;
//! `session_state.rs` is MQTT's session state (queue, in-flight window, QoS 2 identifiers),
//! `outbound.rs` the channel and packets that carry deliveries to a connection's writer, and
//! `requests.rs` what a connection asks of the router (open a session, an acknowledgement).

pub(crate) mod outbound;
pub(crate) mod requests;
pub(crate) mod retained;
pub(crate) mod router;
pub(crate) mod session_expiry;
pub(crate) mod session_state;
pub(crate) mod shared;
pub(crate) mod subscriptions;

//! The integration tests of `mqtt-client`: one binary, one module per area.
//!
//! Every test talks to a real broker over loopback (mosquitto today, see `support.rs`), or to a small
//! fake server where a real broker cannot be made to misbehave. Waits are bounded by
//! `support::PATIENCE`; nothing sleeps for a fixed time.

/// Connecting, publishing and subscribing at each QoS and both protocol levels; retained messages;
/// wills; refusals; keep-alive; protocol violations by the server; no deadlock in the message loop.
mod client;
/// MQTT 5.0 against mosquitto: properties both ways, will properties, topic aliases, the server's
/// limits, reason codes, subscription options, session expiry; and fake servers for a server's
/// DISCONNECT and for malformed bytes.
mod mqtt5;
/// Automatic reconnection: re-subscribing when the session is gone, resuming when it is kept.
mod reconnect;
/// Starting a broker, free ports, temporary directories, fake servers.
mod support;
/// TLS: server verification, client certificates, `--insecure`, the tools over TLS.
mod tls;
/// `mqtt-pub` and `mqtt-sub` end to end: output, formats, exit codes, help.
mod tools;

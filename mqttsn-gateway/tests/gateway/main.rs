//! The gateway end to end, through real sockets: an MQTT-SN client (UDP) -> our gateway -> a broker
//! (TCP) -> an MQTT client, and back. Every flow runs against both gateway kinds, with our broker
//! in-process and with a real mosquitto started as a child process.
//!
//! The timer transitions (keep-alive, sleep, retransmission) are proven with a fake clock in the
//! translator's unit tests; here each flow is shown to work over the network, with bounded waits.

/// Starting brokers and gateways, and waiting with a deadline.
mod support;

/// The flows of the issue, one function each, run for every broker and gateway kind.
mod flows;

/// `mqttsn-pub` and `mqttsn-sub` as programs.
mod tools;

/// Discovery over UDP, IPv6, and the broker reached with a password and over TLS.
mod network;

/// Nothing lost at a subscription's start or a kept session's return (issue 19).
mod delivery;

/// The MQTT level of every connection to the broker, read off the wire (issue 15).
mod upstream;

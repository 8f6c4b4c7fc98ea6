//! Integration tests of the broker: real sockets on 127.0.0.1, raw packets in and out.
//!
//! One module per area, one test per behaviour, each named after and citing the rule it checks.
//! Packets are built and parsed with `mqtt-codec` (with some hand-written bytes where the exact bytes
//! are the point). No test sleeps to wait for something to happen: a PINGREQ/PINGRESP round trip is
//! the barrier that proves everything sent earlier on a connection was processed, and read timeouts
//! are only upper bounds.

#![allow(missing_docs)]

mod bridge;
mod client;
mod config;
mod connect;
mod deep;
mod enhanced_auth;
mod hooks;
mod keepalive;
mod limits;
mod logs;
mod malformed;
mod metrics;
mod mqtt5;
mod offline;
mod overload;
mod persistence;
mod publish;
mod relay;
mod retain;
mod security;
mod session;
mod shared;
mod subscribe;
mod sys;
mod tls;
mod tools;
mod websocket;
mod will;

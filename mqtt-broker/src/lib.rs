//! A blocking MQTT 3.1 / 3.1.1 broker: one OS thread per connection, crossbeam channels between them.
//!
//! Not written yet (issue "The broker"). It will hold the sans-IO session state machine, the router
//! with its subscription tree and retained store, and the listener and connection threads around them,
//! usable both as the `mqtt-broker` binary and as a library embedded in other programs. It decodes and
//! encodes packets with `mqtt-codec` and never parses bytes itself.

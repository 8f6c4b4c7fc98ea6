//! A blocking MQTT 3.1 / 3.1.1 client library, and the `mqtt-pub` / `mqtt-sub` command-line tools.
//!
//! Not written yet (issue "The client library"). It will hold a sans-IO client session state machine
//! (keep-alive, in-flight window, QoS 1/2 flows, reconnection) with a small number of threads around it,
//! built on `mqtt-codec`.

//! A black-box conformance suite for MQTT 3.1 / 3.1.1 brokers and MQTT-SN 1.2 gateways.
//!
//! Not written yet (issue "The conformance suite"). Each check will name the specification statements it
//! verifies and talk to the server under test by address only, with bytes written out independently of
//! this project's own encoder, so that a codec bug cannot make the suite agree with a broken server.

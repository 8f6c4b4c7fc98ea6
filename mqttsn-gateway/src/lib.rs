//! An MQTT-SN 1.2 gateway over UDP, translating for any MQTT 3.1.1 broker, and an MQTT-SN client.
//!
//! Not written yet (issue "The MQTT-SN gateway"). It will hold the transparent and aggregating gateway
//! kinds as sans-IO translators between `mqttsn-codec` messages and `mqtt-codec` packets, with the UDP
//! socket and the broker connections around them.

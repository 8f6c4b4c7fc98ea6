//! A pure codec for MQTT-SN 1.2 messages (being written; see issue "The MQTT-SN 1.2 codec").
#![no_std]
#![forbid(unsafe_code)]

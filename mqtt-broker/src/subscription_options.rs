//! [`SubscriptionOptions5`]: what a 5.0 SUBSCRIBE asks of one subscription besides its QoS. The
//! connection reads it from the packet, the router's session state keeps it with the subscription,
//! and the durable records (`record.rs`) store it; a leaf, so that none of them depends on another
//! for it.

use mqtt_codec::v5::RetainHandling;

/// A 5.0 subscription's options besides its QoS (5.0 §3.8.3.1), and its Subscription Identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubscriptionOptions5 {
    /// Not sent what its own client publishes [MQTT5-3.8.3-3].
    pub(crate) no_local: bool,
    /// Forwarded with the RETAIN flag as published [MQTT5-3.3.1-12] [MQTT5-3.3.1-13].
    pub(crate) retain_as_published: bool,
    /// Whether retained messages are sent at subscribe time [MQTT5-3.3.1-9] [MQTT5-3.3.1-10]
    /// [MQTT5-3.3.1-11].
    pub(crate) retain_handling: RetainHandling,
    /// The Subscription Identifier of the SUBSCRIBE, given back on deliveries [MQTT5-3.3.4-3].
    pub(crate) id: Option<u32>,
}

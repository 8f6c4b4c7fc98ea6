//! [`Message`]: an application message as the broker keeps it: owned, and cheap to share between the
//! many sessions it is delivered to.
//!
//! The codec hands the broker borrowed packets whose strings point into a connection's read buffer. A
//! message outlives that buffer (it waits in queues, in the retained store, in in-flight windows), so it
//! is converted once, here, into reference-counted parts. Delivering one message to a thousand
//! subscribers then copies two pointers per subscriber, not the payload.
//!
//! This file does not decide where a message goes (`routing/router.rs`) or how it is acknowledged (`routing/session_state.rs`).

use std::sync::Arc;

use mqtt_codec::{Publish, QoS, Will};

/// Where a message delivered through a shared group came from: the group, and the QoS it was
/// published with, so that it can be given to another member at the QoS that member was granted
/// (`routing/shared.rs`). It is here, with the message that carries it, so that this file (and
/// `persistence/`, which stores messages) depends on nothing in `routing/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SharedOrigin {
    /// The group's name and filter.
    pub(crate) group: Arc<GroupId>,
    /// The QoS the message was published with.
    pub(crate) qos: QoS,
}

/// What names a shared group: its name and its filter.
pub(crate) type GroupId = (Box<str>, Box<str>);

/// An application message: topic, payload, QoS and retain flag (3.1.1 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// The topic name it was published to; already validated by the codec [MQTT-3.3.2-2].
    pub(crate) topic: Arc<str>,
    /// The payload, opaque to the broker (3.1.1 §3.3.3).
    pub(crate) payload: Arc<[u8]>,
    /// On the way in, the publisher's QoS; on the way out, the QoS of this one delivery.
    pub(crate) qos: QoS,
    /// On the way in, whether to retain it; on the way out, whether it is a retained message sent
    /// because of a new subscription [MQTT-3.3.1-8] [MQTT-3.3.1-9].
    pub(crate) retain: bool,
    /// For a delivery through a shared subscription, the group it came from, so that a member that
    /// leaves can give it back to the group (see `routing/shared.rs`). `None` for every other message.
    pub(crate) shared: Option<SharedOrigin>,
}

impl Message {
    /// A message built by the broker itself ($SYS topics).
    pub(crate) fn new(topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Self {
        Self {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain,
            shared: None,
        }
    }

    /// The one conversion from a borrowed wire PUBLISH to an owned message. The DUP flag and packet
    /// identifier belong to the hop from the publisher and are not carried on [MQTT-3.3.1-3].
    pub(crate) fn from_publish(publish: &Publish<'_>) -> Self {
        Self::new(
            publish.topic.as_str(),
            publish.payload,
            publish.qos(),
            publish.retain,
        )
    }

    /// The will of a CONNECT, ready to publish with its QoS and retain flag [MQTT-3.1.2-16]
    /// [MQTT-3.1.2-17].
    pub(crate) fn from_will(will: &Will<'_>) -> Self {
        Self::new(will.topic.as_str(), will.payload, will.qos, will.retain)
    }

    /// A copy for one delivery, with the QoS and retain flag that delivery uses.
    pub(crate) fn for_delivery(&self, qos: QoS, retain: bool) -> Self {
        Self {
            topic: Arc::clone(&self.topic),
            payload: Arc::clone(&self.payload),
            qos,
            retain,
            shared: None,
        }
    }
}

//! [`Message`]: an application message as the broker keeps it: owned, and cheap to share between the
//! many sessions it is delivered to.
//!
//! The codec hands the broker borrowed packets whose strings point into a connection's read buffer. A
//! message outlives that buffer (it waits in queues, in the retained store, in in-flight windows), so it
//! is converted once, here, into reference-counted parts. Delivering one message to a thousand
//! subscribers then copies two pointers per subscriber, not the payload.
//!
//! An MQTT 5.0 message also carries the properties the broker forwards unchanged
//! ([`MessageProperties`], 5.0 §3.3.2.3): they are converted here too, once, and shared behind one
//! `Arc`, so that a 3.1.1 message pays one null pointer for them. A 3.1.1 subscriber is sent the
//! message without them, since its level cannot carry them [V5-DIFF-1].
//!
//! This file does not decide where a message goes (`routing/router.rs`) or how it is acknowledged (`routing/session_state.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt_codec::{Publish, QoS, TopicName, Will, v5};

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
    /// The MQTT 5.0 properties forwarded with it, if its publisher spoke 5.0 and sent any.
    pub(crate) properties: Option<Arc<MessageProperties>>,
    /// For one delivery to a 5.0 subscriber: the Subscription Identifiers of its matching
    /// subscriptions [MQTT5-3.3.4-3] [MQTT5-3.3.4-4]. `None` for every other message.
    pub(crate) subscription_ids: Option<Arc<[u32]>>,
    /// For a retained message, the client that published it, so that `check_retain_source` can
    /// ask whether it may still publish there before the message goes to a new subscriber.
    /// `None` for deliveries, and for what the broker itself (or a bridge) retained.
    pub(crate) source: Option<Arc<Source>>,
}

/// Who published a retained message: what the ACL needs to ask about its publisher later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) client_id: Arc<str>,
    pub(crate) user_name: Option<Arc<str>>,
}

/// The properties of a 5.0 PUBLISH (or Will) that the broker forwards to subscribers as it received
/// them [MQTT5-3.3.2-4] [MQTT5-3.3.2-15] [MQTT5-3.3.2-16] [MQTT5-3.3.2-17] [MQTT5-3.3.2-18] [MQTT5-3.3.2-20]. Topic
/// Alias belongs to one hop and Subscription Identifier to one delivery, so neither is kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MessageProperties {
    /// Payload Format Indicator (0x01).
    pub(crate) payload_format: Option<u8>,
    /// Message Expiry Interval (0x02) as published, in seconds.
    pub(crate) message_expiry: Option<u32>,
    /// When the message expires: its arrival plus `message_expiry` (5.0 §3.3.2.3.3).
    pub(crate) expires_at: Option<Instant>,
    /// Content Type (0x03).
    pub(crate) content_type: Option<Box<str>>,
    /// Response Topic (0x08).
    pub(crate) response_topic: Option<Box<str>>,
    /// Correlation Data (0x09).
    pub(crate) correlation_data: Option<Box<[u8]>>,
    /// User Properties (0x26), in the order received [MQTT5-3.3.2-18].
    pub(crate) user_properties: Vec<(Box<str>, Box<str>)>,
}

impl MessageProperties {
    /// The forwarded properties of `properties`, received at `now`, or `None` if there are none
    /// (the common case, which then costs no allocation).
    pub(crate) fn from_wire(properties: &v5::Properties<'_>, now: Instant) -> Option<Arc<Self>> {
        let mut kept = Self::default();
        let mut any = false;
        for property in properties.iter() {
            any = true;
            match property {
                v5::Property::PayloadFormatIndicator(value) => kept.payload_format = Some(value),
                v5::Property::MessageExpiryInterval(value) => {
                    kept.message_expiry = Some(value);
                    kept.expires_at = now.checked_add(Duration::from_secs(u64::from(value)));
                }
                v5::Property::ContentType(value) => kept.content_type = Some(value.into()),
                v5::Property::ResponseTopic(value) => kept.response_topic = Some(value.into()),
                v5::Property::CorrelationData(value) => kept.correlation_data = Some(value.into()),
                v5::Property::UserProperty(name, value) => {
                    kept.user_properties.push((name.into(), value.into()));
                }
                _ => {}
            }
        }
        (any && kept != Self::default()).then(|| Arc::new(kept))
    }

    /// Whether the message expired before `now` [MQTT5-3.3.2-5].
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The properties as the codec encodes them at `now`, in a fixed order, user properties last
    /// and in their order. The Message Expiry Interval is what is left of it: the interval
    /// received minus the time the message waited here, rounded up so that it never reads 0
    /// before it has expired [MQTT5-3.3.2-6].
    pub(crate) fn to_wire<'a>(&'a self, now: Instant, out: &mut Vec<v5::Property<'a>>) {
        let expiry = self.expires_at.map(|at| {
            let left = at.saturating_duration_since(now);
            let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(seconds).unwrap_or(u32::MAX)
        });
        if let Some(value) = self.payload_format {
            out.push(v5::Property::PayloadFormatIndicator(value));
        }
        if let Some(value) = expiry {
            out.push(v5::Property::MessageExpiryInterval(value));
        }
        if let Some(value) = &self.content_type {
            out.push(v5::Property::ContentType(value));
        }
        if let Some(value) = &self.response_topic {
            out.push(v5::Property::ResponseTopic(value));
        }
        if let Some(value) = &self.correlation_data {
            out.push(v5::Property::CorrelationData(value));
        }
        for (name, value) in &self.user_properties {
            out.push(v5::Property::UserProperty(name, value));
        }
    }
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
            properties: None,
            subscription_ids: None,
            source: None,
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

    /// The conversion from a 5.0 PUBLISH whose topic is `topic` (its own, or the one its Topic
    /// Alias stands for [MQTT5-3.3.2-12]), its properties kept for forwarding.
    pub(crate) fn from_publish5(
        topic: TopicName<'_>,
        publish: &v5::Publish<'_>,
        now: Instant,
    ) -> Self {
        Self {
            properties: MessageProperties::from_wire(&publish.properties, now),
            ..Self::new(
                topic.as_str(),
                publish.payload,
                publish.qos(),
                publish.retain,
            )
        }
    }

    /// The Will of a 5.0 CONNECT, its Will Properties kept for forwarding, user
    /// properties in their order [MQTT5-3.1.3-10].
    pub(crate) fn from_will5(will: &v5::Will<'_>, now: Instant) -> Self {
        Self {
            properties: MessageProperties::from_wire(&will.properties, now),
            ..Self::new(will.topic.as_str(), will.payload, will.qos, will.retain)
        }
    }

    /// The message as published at `now`: a Will's Message Expiry Interval counts from its
    /// publication, not from the CONNECT that carried it (5.0 §3.1.3.2.4).
    pub(crate) fn published_now(&self, now: Instant) -> Self {
        let mut message = self.clone();
        if let Some(properties) = &self.properties
            && let Some(seconds) = properties.message_expiry
        {
            let mut restarted = MessageProperties::clone(properties);
            restarted.expires_at = now.checked_add(Duration::from_secs(u64::from(seconds)));
            message.properties = Some(Arc::new(restarted));
        }
        message
    }

    /// A copy for one delivery, with the QoS and retain flag that delivery uses.
    pub(crate) fn for_delivery(&self, qos: QoS, retain: bool) -> Self {
        Self {
            topic: Arc::clone(&self.topic),
            payload: Arc::clone(&self.payload),
            qos,
            retain,
            shared: None,
            properties: self.properties.clone(),
            subscription_ids: None,
            source: None,
        }
    }
}

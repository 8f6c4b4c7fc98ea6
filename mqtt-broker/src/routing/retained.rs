//! [`RetainedStore`]: the last retained message of each topic (3.1.1 §3.3.1.3).
//!
//! A PUBLISH with RETAIN set replaces the topic's retained message [MQTT-3.3.1-5] [MQTT-3.3.1-7]; one
//! with an empty payload deletes it and is never stored itself [MQTT-3.3.1-10] [MQTT-3.3.1-11]. Retained
//! messages are not session state: they stay when sessions end [MQTT-3.1.2-7].
//!
//! A new subscription asks for every retained message its filter matches. The store answers by testing
//! each stored topic with `TopicFilter::matches`: a linear scan, simple and exact, which costs one pass
//! per SUBSCRIBE rather than per PUBLISH. This file does not deliver anything (`routing/router.rs` does).

use std::collections::BTreeMap;
use std::sync::Arc;

use mqtt_codec::{TopicFilter, TopicName};

use crate::message::Message;

/// Topic → its retained message.
#[derive(Debug, Default)]
pub(crate) struct RetainedStore {
    messages: BTreeMap<Arc<str>, Message>,
}

impl RetainedStore {
    /// Applies a PUBLISH that had RETAIN set.
    pub(crate) fn update(&mut self, message: &Message) {
        if message.payload.is_empty() {
            self.messages.remove(&message.topic); // [MQTT-3.3.1-10] [MQTT-3.3.1-11]
        } else {
            self.messages
                .insert(Arc::clone(&message.topic), message.clone()); // [MQTT-3.3.1-5]
        }
    }

    /// The retained messages whose topic `filter` matches [MQTT-3.3.1-6].
    pub(crate) fn matching(&self, filter: TopicFilter<'_>) -> Vec<Message> {
        self.messages
            .values()
            .filter(|message| TopicName::new(&message.topic).is_ok_and(|name| filter.matches(name)))
            .cloned()
            .collect()
    }

    /// The payload bytes of the retained messages (part of `$SYS/broker/store/messages/bytes`).
    pub(crate) fn payload_bytes(&self) -> usize {
        self.messages
            .values()
            .map(|message| message.payload.len())
            .sum()
    }

    /// The number of retained messages (`$SYS/broker/retained messages/count`).
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt_codec::QoS;

    fn all(store: &RetainedStore) -> Vec<Message> {
        TopicFilter::new("#").map_or_else(|_| Vec::new(), |filter| store.matching(filter))
    }

    #[test]
    fn replaced_then_deleted_by_an_empty_payload_mqtt_3_3_1_10() {
        let mut store = RetainedStore::default();
        store.update(&Message::new("a", b"1", QoS::AtLeastOnce, true));
        store.update(&Message::new("a", b"2", QoS::AtMostOnce, true));
        assert_eq!(
            all(&store),
            [Message::new("a", b"2", QoS::AtMostOnce, true)]
        );
        store.update(&Message::new("a", b"", QoS::AtMostOnce, true));
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn an_empty_payload_is_never_stored_mqtt_3_3_1_11() {
        let mut store = RetainedStore::default();
        store.update(&Message::new("a", b"", QoS::AtMostOnce, true));
        assert_eq!(store.len(), 0);
    }
}

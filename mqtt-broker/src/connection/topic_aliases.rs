//! [`OutboundAliases`]: the Topic Aliases the broker uses toward one 5.0 client, sans I/O.
//!
//! A client that announces a Topic Alias Maximum in CONNECT lets the broker replace a topic it has
//! already sent with a two-byte number (5.0 §3.3.2.3.4). The first PUBLISH of a topic carries the
//! topic and the alias, which tells the client the mapping; later ones carry the alias and an empty
//! topic. The mapping lives as long as the network connection, in both directions
//! [MQTT5-3.3.2-7], so this table belongs to the connection's writer, the one thread that sees
//! every outbound PUBLISH in the order the client will.
//!
//! Aliases go to topics in the order they are first sent, until the client's maximum (capped by
//! `max_topic_alias`) is reached; later topics go in full. An alias is never moved to another
//! topic: on a stream whose topics keep changing, moving aliases would cost a table update at the
//! client for every message and save nothing, and with a stable set of topics (the common case:
//! sensors, dashboards) the first ones seen are the ones that recur. A topic so short that the
//! alias property (three bytes) saves nothing keeps its name.
//!
//! This file only decides; `routing/outbound.rs` encodes and `connection/writer.rs` commits an
//! alias once the PUBLISH that sets it has really been queued for the socket.

use std::collections::HashMap;
use std::sync::Arc;

// How one PUBLISH names its topic; defined with the packets it shapes.
pub(crate) use crate::routing::outbound::AliasUse;

/// The shortest topic worth an alias: a reused alias saves the topic's bytes and costs the three
/// of the property.
const SHORTEST_ALIASED: usize = 4;

/// The aliases of one connection, toward its client.
#[derive(Debug)]
pub(crate) struct OutboundAliases {
    /// The largest alias the broker may send: the client's Topic Alias Maximum, capped by
    /// `max_topic_alias`. No alias above it is ever sent [MQTT5-3.1.2-26] [MQTT5-3.3.2-11].
    maximum: u16,
    /// Each aliased topic and its alias, 1 up to `maximum` in the order they were given.
    by_topic: HashMap<Arc<str>, u16>,
}

impl OutboundAliases {
    /// The table for a client that accepts `client_maximum` aliases, of which the broker uses at
    /// most `cap`; `None` when either is 0, or the client said nothing: then no alias is sent
    /// [MQTT5-3.1.2-27].
    pub(crate) fn new(client_maximum: Option<u16>, cap: u16) -> Option<Self> {
        let maximum = client_maximum.unwrap_or(0).min(cap);
        (maximum > 0).then(|| Self {
            maximum,
            by_topic: HashMap::new(),
        })
    }

    /// How the next PUBLISH to `topic` should name it: by its alias, with a new alias while one
    /// is free, or in full (`None`). Nothing changes until [`assigned`](Self::assigned).
    pub(crate) fn name(&self, topic: &str) -> Option<AliasUse> {
        if let Some(&alias) = self.by_topic.get(topic) {
            return Some(AliasUse::Reuse(alias));
        }
        let next = u16::try_from(self.by_topic.len() + 1).ok()?;
        (next <= self.maximum && topic.len() >= SHORTEST_ALIASED).then_some(AliasUse::Set(next))
    }

    /// The PUBLISH carrying `topic` with [`AliasUse::Set`]`(alias)` is on its way: from now on the
    /// client knows the alias.
    pub(crate) fn assigned(&mut self, topic: &Arc<str>, alias: u16) {
        self.by_topic.insert(Arc::clone(topic), alias);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_aliases_unless_both_sides_allow_some_mqtt5_3_1_2_26() {
        assert!(OutboundAliases::new(None, 10).is_none());
        assert!(OutboundAliases::new(Some(0), 10).is_none());
        assert!(OutboundAliases::new(Some(5), 0).is_none());
        assert!(OutboundAliases::new(Some(5), 10).is_some());
    }

    #[test]
    fn a_topic_is_set_once_then_reused_and_never_past_the_maximum() {
        let Some(mut aliases) = OutboundAliases::new(Some(2), 10) else {
            panic!("two aliases allowed");
        };
        let [a, b, c]: [Arc<str>; 3] = ["room/a", "room/b", "room/c"].map(Arc::from);
        assert_eq!(aliases.name(&a), Some(AliasUse::Set(1)));
        // Not sent yet: asked again, the same answer.
        assert_eq!(aliases.name(&a), Some(AliasUse::Set(1)));
        aliases.assigned(&a, 1);
        assert_eq!(aliases.name(&a), Some(AliasUse::Reuse(1)));
        assert_eq!(aliases.name(&b), Some(AliasUse::Set(2)));
        aliases.assigned(&b, 2);
        // The client's maximum is 2: a third topic goes in full, and the others keep theirs.
        assert_eq!(aliases.name(&c), None);
        assert_eq!(aliases.name(&b), Some(AliasUse::Reuse(2)));
    }

    #[test]
    fn the_brokers_cap_bounds_a_generous_client() {
        let Some(mut aliases) = OutboundAliases::new(Some(65_535), 1) else {
            panic!("one alias allowed");
        };
        let first: Arc<str> = Arc::from("first/topic");
        aliases.assigned(&first, 1);
        assert_eq!(aliases.name("second/topic"), None);
    }

    #[test]
    fn a_topic_shorter_than_the_property_keeps_its_name() {
        let Some(aliases) = OutboundAliases::new(Some(10), 10) else {
            panic!("aliases allowed");
        };
        assert_eq!(aliases.name("t/1"), None);
        assert_eq!(aliases.name("t/12"), Some(AliasUse::Set(1)));
    }
}

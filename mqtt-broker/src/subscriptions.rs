//! [`SubscriptionTree`]: which clients subscribed to which topic filters, indexed so that a PUBLISH
//! finds its subscribers without looking at every filter (3.1.1 §4.7).
//!
//! A trie of topic levels. Each node is reached by a path of literal levels and `+`; a subscription
//! `a/+/c` lives at the node `a` → `+` → `c`, and `a/#` lives in the `#` set of the node `a`. Matching a
//! topic name walks its levels, following at each node the child with the same literal and the `+`
//! child, and collects every `#` set met on the way (a `#` also matches its parent level, so `a/#`
//! matches `a`: 3.1.1 §4.7.1.2). Wildcards at the first level are not followed for a topic that starts
//! with `$` [MQTT-4.7.2-1]. Levels compare byte for byte [MQTT-4.7.3-4].
//!
//! The authoritative definition of matching is `mqtt_codec::TopicFilter::matches`; the test at the end
//! of this file checks the tree against it. This file knows nothing of sessions or delivery.

use std::collections::HashMap;
use std::sync::Arc;

use mqtt_codec::{FilterLevel, QoS, TopicFilter, TopicName};

/// Client identifier → the QoS granted to it.
type Subscribers = HashMap<Arc<str>, QoS>;

/// All subscriptions of all sessions.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionTree {
    root: Node,
    count: usize,
}

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<Box<str>, Node>,
    single: Option<Box<Node>>,
    /// Subscribers whose filter ends at this node.
    exact: Subscribers,
    /// Subscribers whose filter is this node's path followed by `#`.
    multi: Subscribers,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.single.is_none()
            && self.exact.is_empty()
            && self.multi.is_empty()
    }
}

impl SubscriptionTree {
    /// Subscribes `client` to `filter` with `qos`, replacing an identical subscription
    /// [MQTT-3.8.4-3]. True if it is new.
    pub(crate) fn insert(&mut self, filter: TopicFilter<'_>, client: &Arc<str>, qos: QoS) -> bool {
        let mut node = &mut self.root;
        let mut set = None;
        for level in filter.levels() {
            match level {
                FilterLevel::Literal(literal) => {
                    node = node.literal.entry(literal.into()).or_default();
                }
                FilterLevel::SingleLevel => {
                    node = node.single.get_or_insert_with(Box::default);
                }
                FilterLevel::MultiLevel => {
                    set = Some(&mut node.multi);
                    break;
                }
            }
        }
        let set = set.unwrap_or(&mut node.exact);
        let new = set.insert(Arc::clone(client), qos).is_none();
        if new {
            self.count += 1;
        }
        new
    }

    /// Removes the subscription of `client` whose filter is exactly `filter`, wildcards included
    /// [MQTT-3.10.4-1]. True if there was one. Nodes left empty are pruned.
    pub(crate) fn remove(&mut self, filter: TopicFilter<'_>, client: &str) -> bool {
        let levels: Vec<FilterLevel<'_>> = filter.levels().collect();
        let removed = remove_at(&mut self.root, &levels, client);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Every client with a subscription matching `topic`, each once, with the highest QoS granted by
    /// any of its matching subscriptions [MQTT-3.3.5-1].
    pub(crate) fn subscribers(&self, topic: TopicName<'_>) -> Subscribers {
        let levels: Vec<&str> = topic.levels().collect();
        let mut found = Subscribers::new();
        collect(&self.root, &levels, topic.is_dollar(), &mut found);
        found
    }

    /// The number of subscriptions (`$SYS/broker/subscriptions/count`).
    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

fn remove_at(node: &mut Node, levels: &[FilterLevel<'_>], client: &str) -> bool {
    let Some((first, rest)) = levels.split_first() else {
        return node.exact.remove(client).is_some();
    };
    match first {
        FilterLevel::MultiLevel => node.multi.remove(client).is_some(),
        FilterLevel::Literal(literal) => {
            let Some(child) = node.literal.get_mut(*literal) else {
                return false;
            };
            let removed = remove_at(child, rest, client);
            if child.is_empty() {
                node.literal.remove(*literal);
            }
            removed
        }
        FilterLevel::SingleLevel => {
            let Some(child) = node.single.as_deref_mut() else {
                return false;
            };
            let removed = remove_at(child, rest, client);
            if child.is_empty() {
                node.single = None;
            }
            removed
        }
    }
}

/// Visits `node`, reached by the levels already consumed, with `levels` of the topic still to match.
/// `at_root_of_dollar` is true only at the root, for a topic starting with `$`.
fn collect(node: &Node, levels: &[&str], at_root_of_dollar: bool, found: &mut Subscribers) {
    if !at_root_of_dollar {
        add(found, &node.multi);
    }
    let Some((first, rest)) = levels.split_first() else {
        add(found, &node.exact);
        return;
    };
    if let Some(child) = node.literal.get(*first) {
        collect(child, rest, false, found);
    }
    if let (Some(child), false) = (node.single.as_deref(), at_root_of_dollar) {
        collect(child, rest, false, found);
    }
}

fn add(found: &mut Subscribers, subscribers: &Subscribers) {
    for (client, &qos) in subscribers {
        found
            .entry(Arc::clone(client))
            .and_modify(|granted| *granted = (*granted).max(qos))
            .or_insert(qos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: &str) -> TopicFilter<'_> {
        TopicFilter::new(text).unwrap_or_else(|_| panic!("bad test filter {text}"))
    }

    fn name(text: &str) -> TopicName<'_> {
        TopicName::new(text).unwrap_or_else(|_| panic!("bad test name {text}"))
    }

    const FILTERS: &[&str] = &[
        "#",
        "+",
        "+/+",
        "/+",
        "a",
        "a/#",
        "a/+",
        "a/b",
        "a/b/c",
        "+/b/#",
        "a//b",
        "$SYS/#",
        "$SYS/+",
        "+/#",
        "a/+/c",
        "sport/tennis/player1/#",
        "sport/+",
    ];
    const NAMES: &[&str] = &[
        "a",
        "a/b",
        "a/b/c",
        "a//b",
        "/a",
        "/",
        "b",
        "$SYS/x",
        "$SYS",
        "a/x/c",
        "sport",
        "sport/",
        "sport/tennis/player1",
        "sport/tennis/player1/ranking",
        "x/b/y",
    ];

    #[test]
    fn the_tree_agrees_with_topic_filter_matches() {
        let mut tree = SubscriptionTree::default();
        let clients: Vec<Arc<str>> = FILTERS.iter().map(|f| Arc::from(*f)).collect();
        for (text, client) in FILTERS.iter().zip(&clients) {
            tree.insert(filter(text), client, QoS::AtMostOnce);
        }
        for topic in NAMES {
            let found = tree.subscribers(name(topic));
            for text in FILTERS {
                assert_eq!(
                    found.contains_key(*text),
                    filter(text).matches(name(topic)),
                    "filter {text} vs topic {topic}"
                );
            }
        }
    }

    #[test]
    fn overlapping_subscriptions_give_one_entry_at_the_highest_qos_mqtt_3_3_5_1() {
        let mut tree = SubscriptionTree::default();
        let client: Arc<str> = "c".into();
        tree.insert(filter("a/#"), &client, QoS::AtMostOnce);
        tree.insert(filter("a/+"), &client, QoS::ExactlyOnce);
        tree.insert(filter("a/b"), &client, QoS::AtLeastOnce);
        let found = tree.subscribers(name("a/b"));
        assert_eq!(found.len(), 1);
        assert_eq!(found.get("c"), Some(&QoS::ExactlyOnce));
    }

    #[test]
    fn resubscribing_replaces_and_unsubscribing_is_literal_mqtt_3_10_4_1() {
        let mut tree = SubscriptionTree::default();
        let client: Arc<str> = "c".into();
        assert!(tree.insert(filter("a/+"), &client, QoS::AtMostOnce));
        assert!(!tree.insert(filter("a/+"), &client, QoS::AtLeastOnce));
        assert_eq!(tree.len(), 1);
        assert!(!tree.remove(filter("a/b"), "c"));
        assert!(tree.remove(filter("a/+"), "c"));
        assert_eq!(tree.len(), 0);
        assert!(tree.root.is_empty(), "empty nodes are pruned");
    }
}

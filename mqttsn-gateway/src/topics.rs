//! Topic ids (§5.3.11, §6.5, §6.7): the predefined topics read from the configuration, global and per
//! client, and each client's own table of registered ids.
//!
//! The table is per client, as the specification strongly recommends [SN-7.3-1]: client A's id 3
//! and client B's id 3 may name different topics, and a client's table is forgotten only with its
//! session. Normal ids and predefined ids are separate spaces, told apart by TopicIdType on the wire
//! [SN-5.3.4-6], so a registered id never needs to avoid a predefined one.
//!
//! This file holds tables only; who registers what, and when, is decided in `translator/`.

use std::collections::{HashMap, HashSet};
use std::fmt;

use mqttsn_codec::TopicId;

/// The predefined topics: known to client and gateway in advance, never registered [SN-6.7-2].
///
/// The file format is Paho's `predefinedTopic.conf`: one `ClientId, TopicName, TopicId` per line,
/// `#` for comments, and `*` as the client id for a topic every client shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PredefinedTopics {
    /// Ids shared by all clients (client id `*`).
    global: HashMap<u16, String>,
    /// Ids of one client, which take precedence over the global ones.
    per_client: HashMap<String, HashMap<u16, String>>,
}

/// A line of the predefined topics file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredefinedTopicsError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for PredefinedTopicsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for PredefinedTopicsError {}

impl PredefinedTopics {
    /// Parses the text of a predefined topics file.
    pub fn parse(text: &str) -> Result<Self, PredefinedTopicsError> {
        let mut topics = Self::default();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: String| PredefinedTopicsError {
                line: index + 1,
                reason,
            };
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [client, name, id] = fields[..] else {
                return Err(error(format!(
                    "expected `ClientId, TopicName, TopicId`, found {line:?}"
                )));
            };
            let id: u16 = id
                .parse()
                .map_err(|_| error(format!("topic id {id:?} is not a number")))?;
            // [SN-5.3.11-1] 0x0000 and 0xFFFF are reserved.
            if TopicId(id).is_reserved() {
                return Err(error(format!("topic id {id} is reserved [SN-5.3.11-1]")));
            }
            mqtt_codec::TopicName::new(name)
                .map_err(|e| error(format!("{name:?} is not a topic name: {e}")))?;
            topics.insert(client, id, name);
        }
        Ok(topics)
    }

    /// Adds a topic: `client` is a client id, or `*` for every client.
    pub fn insert(&mut self, client: &str, id: u16, name: &str) {
        let table = if client == "*" {
            &mut self.global
        } else {
            self.per_client.entry(client.to_string()).or_default()
        };
        table.insert(id, name.to_string());
    }

    /// The topic name of predefined `id` for `client` (`None` for a client that never connected,
    /// which sees the global ids only).
    pub fn name(&self, client: Option<&str>, id: u16) -> Option<&str> {
        client
            .and_then(|client| self.per_client.get(client))
            .and_then(|table| table.get(&id))
            .or_else(|| self.global.get(&id))
            .map(String::as_str)
    }

    /// The predefined id of topic `name` for `client`, if it has one.
    pub fn id(&self, client: &str, name: &str) -> Option<u16> {
        let find = |table: &HashMap<u16, String>| {
            table
                .iter()
                .filter(|(_, topic)| topic.as_str() == name)
                .map(|(id, _)| *id)
                .min()
        };
        self.per_client
            .get(client)
            .and_then(find)
            .or_else(|| find(&self.global))
    }

    /// How many topics there are, global and per client together.
    pub fn len(&self) -> usize {
        self.global.len() + self.per_client.values().map(HashMap::len).sum::<usize>()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One client's registered topic ids, both those it asked for (REGISTER) and those the gateway gave
/// (SUBACK, or the gateway's own REGISTER).
///
/// An id is assigned before the client hears of it (a SUBSCRIBE by name gets its id at once, the
/// SUBACK that names it waits for the broker), so the registry also records which ids the client
/// has been *told*: the gateway publishes only with those [SN-6.10-1], and registers the others
/// first [SN-6.10-2].
#[derive(Debug, Clone, Default)]
pub(crate) struct Registry {
    by_id: HashMap<u16, String>,
    by_name: HashMap<String, u16>,
    /// The ids the client was given by SUBACK, REGACK or an accepted REGISTER of the gateway's.
    told: HashSet<u16>,
    /// The last id handed out; ids count up from 1 and skip reserved and used values.
    last: u16,
}

impl Registry {
    /// The id of `name`, assigning a fresh one if it has none; `None` when all 65 534 are taken.
    pub(crate) fn assign(&mut self, name: &str) -> Option<TopicId> {
        if let Some(&id) = self.by_name.get(name) {
            return Some(TopicId(id));
        }
        let id = self.fresh()?;
        self.by_id.insert(id, name.to_string());
        self.by_name.insert(name.to_string(), id);
        Some(TopicId(id))
    }

    /// The name registered under `id`.
    pub(crate) fn name(&self, id: TopicId) -> Option<&str> {
        self.by_id.get(&id.0).map(String::as_str)
    }

    /// The id registered for `name`, if the client has been told it: one it was not told must
    /// be registered before it is published with.
    pub(crate) fn told_id(&self, name: &str) -> Option<TopicId> {
        self.by_name
            .get(name)
            .filter(|id| self.told.contains(id))
            .copied()
            .map(TopicId)
    }

    /// Records that the client now knows `id` (a SUBACK or REGACK named it, or it accepted the
    /// gateway's REGISTER).
    pub(crate) fn tell(&mut self, id: TopicId) {
        if self.by_id.contains_key(&id.0) {
            self.told.insert(id.0);
        }
    }

    /// Forgets that the client knows `id`, keeping the id for the name: the client said it does
    /// not know it [SN-6.10-7], so it is registered again before the next PUBLISH with it.
    pub(crate) fn untell(&mut self, id: TopicId) {
        self.told.remove(&id.0);
    }

    /// Forgets that the client knows any id: a client that connects again to a kept session may
    /// have restarted and lost its table, so each id is registered again before it is used.
    pub(crate) fn untell_all(&mut self) {
        self.told.clear();
    }

    /// Forgets `id`: the client rejected it [SN-6.10-5].
    pub(crate) fn remove(&mut self, id: TopicId) {
        if let Some(name) = self.by_id.remove(&id.0) {
            self.by_name.remove(&name);
        }
        self.told.remove(&id.0);
    }

    /// Forgets everything (a clean session).
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    fn fresh(&mut self) -> Option<u16> {
        // [SN-5.3.11-1] Never 0x0000 or 0xFFFF.
        for _ in 0..u16::MAX {
            self.last = if self.last >= 0xFFFE {
                1
            } else {
                self.last + 1
            };
            if !self.by_id.contains_key(&self.last) {
                return Some(self.last);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paho_predefined_topics_file() {
        let topics = PredefinedTopics::parse(
            "# ClientId, TopicName, TopicId\n*, sensors/all, 1\nnode-1, node/one/cmd, 1\n\
             node-1 , node/one/temp , 2\n",
        )
        .expect("valid");
        assert_eq!(topics.len(), 3);
        // A per-client id takes precedence over the global one.
        assert_eq!(topics.name(Some("node-1"), 1), Some("node/one/cmd"));
        assert_eq!(topics.name(Some("node-2"), 1), Some("sensors/all"));
        assert_eq!(topics.name(None, 1), Some("sensors/all"));
        assert_eq!(topics.name(None, 2), None);
        assert_eq!(topics.id("node-1", "node/one/temp"), Some(2));
        assert_eq!(topics.id("node-2", "sensors/all"), Some(1));
    }

    #[test]
    fn reserved_ids_and_bad_lines_are_refused_sn_5_3_11_1() {
        let error = PredefinedTopics::parse("*, a, 65535").expect_err("reserved");
        assert!(error.reason.contains("SN-5.3.11-1"));
        assert!(PredefinedTopics::parse("*, a, 0").is_err());
        assert!(PredefinedTopics::parse("*, a/+, 3").is_err());
        assert_eq!(
            PredefinedTopics::parse("ok,a,1\n*, a")
                .expect_err("short")
                .line,
            2
        );
    }

    #[test]
    fn registry_hands_out_stable_fresh_ids_sn_5_3_11_1() {
        let mut registry = Registry::default();
        assert_eq!(registry.assign("a"), Some(TopicId(1)));
        assert_eq!(registry.assign("b"), Some(TopicId(2)));
        assert_eq!(registry.assign("a"), Some(TopicId(1)));
        registry.remove(TopicId(1));
        assert_eq!(registry.name(TopicId(1)), None);
        assert_eq!(registry.assign("c"), Some(TopicId(3)));
        // Wrapping skips 0xFFFF and 0x0000 and the ids in use.
        registry.last = 0xFFFD;
        assert_eq!(registry.assign("d"), Some(TopicId(0xFFFE)));
        assert_eq!(registry.assign("e"), Some(TopicId(1)));
        assert_eq!(registry.assign("f"), Some(TopicId(4)));
    }
}

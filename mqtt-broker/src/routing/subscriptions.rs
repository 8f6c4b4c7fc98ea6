//! [`SubscriptionTree`]: which sessions subscribed to which topic filters, indexed so that a PUBLISH
//! finds its subscribers without looking at every filter (3.1.1 §4.7).
//!
//! A trie of topic levels. Each node is reached by a path of literal levels and `+`; a subscription
//! `a/+/c` lives at the node `a` → `+` → `c`, and `a/#` lives in the `#` set of the node `a`. Matching a
//! topic name walks its levels, following at each node the child with the same literal and the `+`
//! child, and collects every `#` set met on the way (a `#` also matches its parent level, so `a/#`
//! matches `a`: 3.1.1 §4.7.1.2). Wildcards at the first level are not followed for a topic that starts
//! with `$` [MQTT-4.7.2-1]. Levels compare byte for byte [MQTT-4.7.3-4].
//!
//! # Built for the publish path
//!
//! Every PUBLISH walks this tree, so matching is written to cost no allocation and no hashing of
//! anything but the topic's own levels:
//!
//! - the levels are taken from the topic's `split` iterator as the walk goes (no `Vec` of levels);
//! - the result goes into a `Vec` the caller owns and reuses from message to message;
//! - each subscription carries a numeric `key` (one per session), and the subscribers of one filter
//!   are kept sorted by it, so that the one case needing de-duplication (a session with several
//!   filters matching the same topic) is a sort and merge of integers, done only when more than one
//!   filter matched;
//! - literal children are found with a small multiplicative hash (FxHash, at the end of this file)
//!   instead of the standard library's SipHash, which cost a fifth of all the broker's instructions
//!   (see `BENCHMARKS.md`).
//!
//! The tree is generic over `T`, the handle stored with each subscription: the router stores the
//! session's slot there, so that delivering a message needs no further lookup (no global lock, no
//! hashing of client identifiers). The tree itself knows nothing of sessions or delivery; it only
//! clones `T` into the result. Shared subscriptions (`routing/shared.rs`) use a tree of their own whose
//! handles are groups, so that this one, and the publish path through it, stay as they are.
//!
//! # Deep filters
//!
//! A filter or topic may have up to 32 768 levels (`/` repeated fills the 65 535 bytes a topic may
//! have [MQTT-4.7.3-3]), and a client chooses them. So nothing here recurses on depth: insert, remove
//! (with its pruning), match, `Debug` and even dropping a node walk the tree with a loop and, where
//! they must come back to a branch, a stack on the heap. A reader thread's stack is 128 KiB; a
//! recursive walk of 500 levels was enough to overflow it and abort the whole broker (issue 14).
//!
//! The authoritative definition of matching is `mqtt_codec::TopicFilter::matches`; the test at the end
//! of this file checks the tree against it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use mqtt_codec::{FilterLevel, QoS, TopicFilter, TopicName};

/// One subscription as the tree returns it: whose it is, the QoS granted, and the caller's handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscriber<T> {
    /// Identifies the session; unique among live sessions, so the same session's subscriptions can
    /// be told apart from another's without comparing strings.
    pub(crate) key: u64,
    /// The QoS granted to this subscription.
    pub(crate) qos: QoS,
    /// What the caller delivers to (the router: the session's slot).
    pub(crate) target: T,
}

/// All subscriptions of all sessions.
pub(crate) struct SubscriptionTree<T> {
    root: Node<T>,
    count: usize,
}

/// Only the count: a derived `Debug` would recurse through the nodes, as deep as a filter.
impl<T> std::fmt::Debug for SubscriptionTree<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionTree")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl<T> Default for SubscriptionTree<T> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            count: 0,
        }
    }
}

/// The subscriptions of one filter, sorted by key, at most one per key.
///
/// A sorted `Vec` rather than a map: most filters have one or a few subscribers, a `Vec` of them is
/// one allocation, and walking it to copy the matches out is a plain loop over contiguous memory.
#[derive(Debug)]
struct Subscribers<T>(Vec<Subscriber<T>>);

impl<T> Default for Subscribers<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> Subscribers<T> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Clone> Subscribers<T> {
    /// Adds or replaces `key`'s subscription. True if it is new.
    fn insert(&mut self, subscriber: Subscriber<T>) -> bool {
        match self
            .0
            .binary_search_by_key(&subscriber.key, |entry| entry.key)
        {
            Ok(index) => {
                self.0[index] = subscriber;
                false
            }
            Err(index) => {
                self.0.insert(index, subscriber);
                true
            }
        }
    }

    /// Removes `key`'s subscription. True if there was one.
    fn remove(&mut self, key: u64) -> bool {
        match self.0.binary_search_by_key(&key, |entry| entry.key) {
            Ok(index) => {
                self.0.remove(index);
                true
            }
            Err(_) => false,
        }
    }

    /// Appends a copy of every subscription to `found`; answers whether there was any.
    fn copy_into(&self, found: &mut Vec<Subscriber<T>>) -> bool {
        found.extend_from_slice(&self.0);
        !self.0.is_empty()
    }
}

struct Node<T> {
    literal: HashMap<Box<str>, Node<T>, FxBuildHasher>,
    single: Option<Box<Node<T>>>,
    /// Subscribers whose filter ends at this node.
    exact: Subscribers<T>,
    /// Subscribers whose filter is this node's path followed by `#`.
    multi: Subscribers<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Self {
            literal: HashMap::default(),
            single: None,
            exact: Subscribers::default(),
            multi: Subscribers::default(),
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.single.is_none()
            && self.exact.is_empty()
            && self.multi.is_empty()
    }

    /// Whether this node holds nothing but one child: removing that child would leave it empty.
    fn only_one_child(&self) -> bool {
        self.exact.is_empty()
            && self.multi.is_empty()
            && self.literal.len() + usize::from(self.single.is_some()) == 1
    }

    /// The child reached by `level`, if there is one (`None` for `#`, which has no node).
    fn child(&self, level: FilterLevel<'_>) -> Option<&Node<T>> {
        match level {
            FilterLevel::Literal(literal) => self.literal.get(literal),
            FilterLevel::SingleLevel => self.single.as_deref(),
            FilterLevel::MultiLevel => None,
        }
    }

    fn child_mut(&mut self, level: FilterLevel<'_>) -> Option<&mut Node<T>> {
        match level {
            FilterLevel::Literal(literal) => self.literal.get_mut(literal),
            FilterLevel::SingleLevel => self.single.as_deref_mut(),
            FilterLevel::MultiLevel => None,
        }
    }

    /// Detaches the child reached by `level` (which the caller then drops).
    fn detach(&mut self, level: FilterLevel<'_>) -> Option<Node<T>> {
        match level {
            FilterLevel::Literal(literal) => self.literal.remove(literal),
            FilterLevel::SingleLevel => self.single.take().map(|child| *child),
            FilterLevel::MultiLevel => None,
        }
    }

    /// Moves every child of this node onto `stack`.
    fn take_children(&mut self, stack: &mut Vec<Node<T>>) {
        stack.extend(self.literal.drain().map(|(_, child)| child));
        if let Some(child) = self.single.take() {
            stack.push(*child);
        }
    }
}

/// Dropping a node drops its children, and theirs: left to the compiler, that recursion is as deep
/// as the deepest filter. Here the descendants are moved onto a heap stack first, so each is dropped
/// with no children left and the recursion is one level whatever the depth.
impl<T> Drop for Node<T> {
    fn drop(&mut self) {
        if self.literal.is_empty() && self.single.is_none() {
            return;
        }
        let mut stack = Vec::new();
        self.take_children(&mut stack);
        while let Some(mut node) = stack.pop() {
            node.take_children(&mut stack);
        }
    }
}

impl<T: Clone> SubscriptionTree<T> {
    /// Subscribes session `key` to `filter` with `qos`, delivering to `target`; replaces an
    /// identical subscription of the same session [MQTT-3.8.4-3]. True if it is new.
    pub(crate) fn insert(
        &mut self,
        filter: TopicFilter<'_>,
        key: u64,
        qos: QoS,
        target: T,
    ) -> bool {
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
        let new = set.insert(Subscriber { key, qos, target });
        if new {
            self.count += 1;
        }
        new
    }

    /// Removes the subscription of session `key` whose filter is exactly `filter`, wildcards
    /// included [MQTT-3.10.4-1]. True if there was one. Nodes left empty are pruned.
    pub(crate) fn remove(&mut self, filter: TopicFilter<'_>, key: u64) -> bool {
        // Down the path to the set that holds the subscription, and out of it.
        let mut node = &mut self.root;
        let mut set = None;
        for level in filter.levels() {
            if level == FilterLevel::MultiLevel {
                set = Some(&mut node.multi);
                break;
            }
            match node.child_mut(level) {
                Some(child) => node = child,
                None => return false,
            }
        }
        let set = set.unwrap_or(&mut node.exact);
        if !set.remove(key) {
            return false;
        }
        self.count -= 1;
        self.prune(filter);
        true
    }

    /// Cuts off the part of `filter`'s path that the removal of its subscription left empty: the
    /// last node, if empty, and every node above it that held nothing but the way down to it. A
    /// first walk finds the highest such node without changing anything, a second detaches it;
    /// a loop each, so that a path of any depth is pruned without recursion.
    fn prune(&mut self, filter: TopicFilter<'_>) {
        let path = || {
            filter
                .levels()
                .take_while(|level| *level != FilterLevel::MultiLevel)
        };
        // `cut`: the number of levels above the highest node to detach, if any.
        let mut cut = None;
        let mut node = &self.root;
        for (depth, level) in path().enumerate() {
            let Some(child) = node.child(level) else {
                return;
            };
            if child.only_one_child() || child.is_empty() {
                cut = cut.or(Some(depth));
            } else {
                // This node keeps something besides the path: nothing above it may go.
                cut = None;
            }
            node = child;
        }
        if !node.is_empty() {
            return;
        }
        let Some(cut) = cut else {
            return;
        };
        let mut parent = &mut self.root;
        for (depth, level) in path().enumerate() {
            if depth == cut {
                // Dropped here, iteratively (see `Drop for Node`).
                drop(parent.detach(level));
                return;
            }
            match parent.child_mut(level) {
                Some(child) => parent = child,
                None => return,
            }
        }
    }

    /// Puts into `found` (emptied first) every session with a subscription matching `topic`, each
    /// once, with the highest QoS granted by any of its matching subscriptions [MQTT-3.3.5-1].
    /// Allocates only if `found` has to grow.
    pub(crate) fn subscribers(&self, topic: TopicName<'_>, found: &mut Vec<Subscriber<T>>) {
        found.clear();
        let levels = Levels {
            rest: Some(topic.as_str()),
        };
        let sets = collect(&self.root, levels, topic.is_dollar(), found);
        if sets > 1 {
            // Only a session with several matching filters can appear twice; within one set keys
            // are unique. Sort by key so duplicates are adjacent, then keep the first of each run
            // with the highest QoS of the run.
            found.sort_unstable_by_key(|subscriber| subscriber.key);
            found.dedup_by(|later, earlier| {
                let same = later.key == earlier.key;
                if same {
                    earlier.qos = earlier.qos.max(later.qos);
                }
                same
            });
        }
    }

    /// The number of subscriptions (`$SYS/broker/subscriptions/count`).
    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

/// Copies into `found` the sets of every node that `levels` (the whole topic) reaches from `root`,
/// and answers how many were not empty. `dollar` is true for a topic starting with `$`, whose first
/// level no wildcard matches [MQTT-4.7.2-1].
///
/// A depth-first walk without recursion: at each node the literal child is followed at once and the
/// `+` child, when both match, is kept on `pending` for later. `pending` is as deep as the number of
/// such forks, not the number of levels, and lives on the stack until it passes [`PENDING_INLINE`].
fn collect<'n, 'a, T: Clone>(
    root: &'n Node<T>,
    levels: Levels<'a>,
    dollar: bool,
    found: &mut Vec<Subscriber<T>>,
) -> usize {
    let mut sets = 0;
    let mut pending = Pending::default();
    let mut next = Some((root, levels));
    let mut at_root_of_dollar = dollar;
    while let Some((node, mut levels)) = next.take().or_else(|| pending.pop()) {
        if !at_root_of_dollar && node.multi.copy_into(found) {
            sets += 1;
        }
        let Some(first) = levels.next() else {
            if node.exact.copy_into(found) {
                sets += 1;
            }
            continue;
        };
        let literal = node.literal.get(first);
        let single = node.single.as_deref().filter(|_| !at_root_of_dollar);
        at_root_of_dollar = false;
        next = match (literal, single) {
            (Some(literal), Some(single)) => {
                pending.push((single, levels.clone()));
                Some((literal, levels))
            }
            (Some(child), None) | (None, Some(child)) => Some((child, levels)),
            (None, None) => None,
        };
    }
    sets
}

/// The forks [`collect`] has still to visit: a few in an array, more in a `Vec`, so that matching
/// allocates nothing unless a topic meets more than [`PENDING_INLINE`] forks.
struct Pending<'n, 'a, T> {
    inline: [Option<(&'n Node<T>, Levels<'a>)>; PENDING_INLINE],
    len: usize,
    /// Used only once `inline` is full, so the newest entry is always on top of `spill` when it
    /// has any.
    spill: Vec<(&'n Node<T>, Levels<'a>)>,
}

/// How many forks [`Pending`] holds before it allocates.
const PENDING_INLINE: usize = 8;

impl<T> Default for Pending<'_, '_, T> {
    fn default() -> Self {
        Self {
            inline: [const { None }; PENDING_INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }
}

impl<'n, 'a, T> Pending<'n, 'a, T> {
    fn push(&mut self, entry: (&'n Node<T>, Levels<'a>)) {
        if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = Some(entry);
            self.len += 1;
        } else {
            self.spill.push(entry);
        }
    }

    fn pop(&mut self) -> Option<(&'n Node<T>, Levels<'a>)> {
        if let Some(entry) = self.spill.pop() {
            return Some(entry);
        }
        self.len = self.len.checked_sub(1)?;
        self.inline.get_mut(self.len).and_then(Option::take)
    }
}

/// The levels of a topic name, split at `/` by a plain loop over the bytes. `str::split('/')` does
/// the same through a general character searcher whose set-up costs more than the search itself on
/// levels of a few bytes: on the three-level topics of the benchmark it was 210 instructions per
/// message of the 940 that matching took. A `/` is one byte and never part of another UTF-8
/// character, so every cut is at a character boundary.
#[derive(Debug, Clone)]
struct Levels<'a> {
    /// What is left to split, or `None` once the last level was returned.
    rest: Option<&'a str>,
}

impl<'a> Iterator for Levels<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|byte| byte == b'/') {
            Some(slash) => {
                self.rest = rest.get(slash + 1..);
                rest.get(..slash)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// FxHash, the hash rustc uses for its own tables: per 8 bytes of input, one rotate, one xor and one
/// multiply. About ten times cheaper than SipHash on a topic level.
///
/// It is not keyed, so someone who can choose many filters could choose ones that collide and make
/// lookups in one node slow. Filters come from authenticated clients, and a session's count is capped
/// by `max_subscriptions`; a broker exposed to hostile subscribers should set that cap.
#[derive(Debug, Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

type FxBuildHasher = BuildHasherDefault<FxHasher>;

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.hash
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

    fn matching(
        tree: &SubscriptionTree<&'static str>,
        topic: &str,
    ) -> Vec<Subscriber<&'static str>> {
        let mut found = Vec::new();
        tree.subscribers(name(topic), &mut found);
        found
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
        "a-level-longer-than-eight-bytes/b",
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
        "a-level-longer-than-eight-bytes/b",
        "a-level-longer-than-eight-bytez/b",
    ];

    #[test]
    fn the_tree_agrees_with_topic_filter_matches() {
        let mut tree = SubscriptionTree::default();
        // One session per filter, so every match is its own entry.
        for (key, text) in (0..).zip(FILTERS) {
            tree.insert(filter(text), key, QoS::AtMostOnce, *text);
        }
        for topic in NAMES {
            let found = matching(&tree, topic);
            for text in FILTERS {
                assert_eq!(
                    found.iter().any(|subscriber| subscriber.target == *text),
                    filter(text).matches(name(topic)),
                    "filter {text} vs topic {topic}"
                );
            }
        }
    }

    #[test]
    fn overlapping_subscriptions_give_one_entry_at_the_highest_qos_mqtt_3_3_5_1() {
        let mut tree = SubscriptionTree::default();
        tree.insert(filter("a/#"), 7, QoS::AtMostOnce, "c");
        tree.insert(filter("a/+"), 7, QoS::ExactlyOnce, "c");
        tree.insert(filter("a/b"), 7, QoS::AtLeastOnce, "c");
        tree.insert(filter("a/b"), 3, QoS::AtMostOnce, "d");
        let found = matching(&tree, "a/b");
        assert_eq!(
            found,
            [
                Subscriber {
                    key: 3,
                    qos: QoS::AtMostOnce,
                    target: "d"
                },
                Subscriber {
                    key: 7,
                    qos: QoS::ExactlyOnce,
                    target: "c"
                },
            ]
        );
    }

    #[test]
    fn the_result_buffer_is_emptied_and_reused() {
        let mut tree = SubscriptionTree::default();
        tree.insert(filter("a"), 1, QoS::AtMostOnce, "c");
        let mut found = Vec::new();
        tree.subscribers(name("a"), &mut found);
        tree.subscribers(name("a"), &mut found);
        assert_eq!(
            found.len(),
            1,
            "the second call does not append to the first"
        );
        tree.subscribers(name("b"), &mut found);
        assert!(found.is_empty());
    }

    #[test]
    fn resubscribing_replaces_and_unsubscribing_is_literal_mqtt_3_10_4_1() {
        let mut tree = SubscriptionTree::default();
        assert!(tree.insert(filter("a/+"), 1, QoS::AtMostOnce, "c"));
        assert!(!tree.insert(filter("a/+"), 1, QoS::AtLeastOnce, "c"));
        assert_eq!(tree.len(), 1);
        assert_eq!(matching(&tree, "a/x")[0].qos, QoS::AtLeastOnce);
        assert!(!tree.remove(filter("a/b"), 1));
        assert!(!tree.remove(filter("a/+"), 2), "another session's key");
        assert!(tree.remove(filter("a/+"), 1));
        assert_eq!(tree.len(), 0);
        assert!(tree.root.is_empty(), "empty nodes are pruned");
    }

    /// Runs `test` on a thread with a 256 KiB stack, less than a debug build needs to recurse
    /// through a few thousand levels, and fails if it panicked or overflowed (an overflow aborts the
    /// whole test binary, which fails too).
    fn on_a_small_stack(test: impl FnOnce() + Send + 'static) {
        let thread = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(test)
            .expect("test thread starts");
        assert!(thread.join().is_ok(), "the deep test panicked");
    }

    /// The deepest filter a SUBSCRIBE can carry: 65 535 bytes of `/`, 65 536 empty levels.
    fn deepest() -> String {
        "/".repeat(65_535)
    }

    #[test]
    fn a_filter_of_65536_levels_is_inserted_matched_removed_and_dropped_without_recursion() {
        on_a_small_stack(|| {
            let deep = deepest();
            let plus = "+/".repeat(32_767) + "+";
            let mut tree = SubscriptionTree::default();
            tree.insert(filter(&deep), 1, QoS::AtLeastOnce, "deep");
            tree.insert(filter(&plus), 2, QoS::AtMostOnce, "plus");
            tree.insert(
                filter(&format!("{deep}#")[1..]),
                3,
                QoS::AtMostOnce,
                "multi",
            );
            tree.insert(filter("a"), 4, QoS::AtMostOnce, "shallow");
            let targets = |tree: &SubscriptionTree<&'static str>, topic: &str| {
                let mut found: Vec<_> = matching(tree, topic)
                    .into_iter()
                    .map(|subscriber| subscriber.target)
                    .collect();
                found.sort_unstable();
                found
            };
            // 65 536 empty levels: the deep filter and the `#` one (whose path is one level
            // shorter); the `+` filter has 32 768 levels.
            assert_eq!(targets(&tree, &deep), ["deep", "multi"]);
            assert_eq!(targets(&tree, &"/".repeat(32_767)), ["plus"]);
            assert_eq!(targets(&tree, "a"), ["shallow"]);
            assert!(tree.remove(filter(&deep), 1));
            assert!(!tree.remove(filter(&deep), 1), "already gone");
            assert_eq!(targets(&tree, &deep), ["multi"]);
            assert!(tree.remove(filter(&plus), 2));
            assert_eq!(tree.len(), 2);
            // The rest is dropped with the tree, still on the small stack.
        });
    }

    #[test]
    fn a_deep_topic_meeting_many_forks_is_matched_without_recursion() {
        on_a_small_stack(|| {
            // Every level of the topic `x/x/.../x` has both a literal and a `+` child: a fork per
            // level, more than `PENDING_INLINE`, so the spill is used too.
            let depth = 2_000;
            let topic = vec!["x"; depth].join("/");
            let mut tree = SubscriptionTree::default();
            let literal = topic.clone();
            let mixed: String = (0..depth)
                .map(|level| if level % 2 == 0 { "+" } else { "x" })
                .collect::<Vec<_>>()
                .join("/");
            tree.insert(filter(&literal), 1, QoS::AtMostOnce, "literal");
            tree.insert(filter(&mixed), 2, QoS::AtMostOnce, "mixed");
            for level in 1..20 {
                let shallow = format!("{}/#", vec!["+"; level].join("/"));
                tree.insert(
                    filter(&shallow),
                    10 + level as u64,
                    QoS::AtMostOnce,
                    "shallow",
                );
            }
            let found = matching(&tree, &topic);
            assert_eq!(found.len(), 21, "{found:?}");
            assert_eq!(matching(&tree, &format!("{topic}/x")).len(), 19);
        });
    }

    #[test]
    fn pruning_keeps_what_other_filters_share_of_the_path() {
        let mut tree = SubscriptionTree::default();
        tree.insert(filter("a/b/c/d"), 1, QoS::AtMostOnce, "long");
        tree.insert(filter("a/b"), 2, QoS::AtMostOnce, "mid");
        tree.insert(filter("a/b/x/#"), 3, QoS::AtMostOnce, "side");
        assert!(tree.remove(filter("a/b/c/d"), 1));
        assert_eq!(matching(&tree, "a/b").len(), 1);
        assert_eq!(matching(&tree, "a/b/x/y").len(), 1);
        assert!(tree.remove(filter("a/b"), 2));
        assert_eq!(matching(&tree, "a/b/x").len(), 1);
        assert!(!tree.root.is_empty());
        assert!(tree.remove(filter("a/b/x/#"), 3));
        assert!(tree.root.is_empty(), "every node pruned");
    }

    #[test]
    fn levels_split_like_str_split() {
        for topic in NAMES.iter().chain(&["a/", "//", "é/ü"]) {
            let levels = Levels { rest: Some(topic) };
            assert!(levels.eq(topic.split('/')), "{topic}");
        }
    }

    #[test]
    fn fx_hash_tells_apart_inputs_that_differ_after_eight_bytes() {
        let hash = |text: &str| {
            let mut hasher = FxHasher::default();
            hasher.write(text.as_bytes());
            hasher.finish()
        };
        assert_ne!(hash("abcdefgh1"), hash("abcdefgh2"));
        assert_ne!(hash("a"), hash("b"));
    }
}

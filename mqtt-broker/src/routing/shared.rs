//! Shared subscriptions, an extension to 3.1.1: a filter `$share/<group>/<filter>` makes the session
//! a member of the group `<group>` for `<filter>`, and each message matching `<filter>` goes to one
//! member of the group instead of to all of them (as mosquitto and MQTT 5 §4.8.2 do).
//!
//! This module tells share names from ordinary filters ([`Filter::parse`]) and keeps the groups
//! ([`SharedSubscriptions`]): a subscription tree of their own, whose entries are groups rather than
//! sessions, and for each group its members in the order the round robin visits them. Choosing the
//! member that takes a message needs to know which members are connected and have room, which only
//! the router knows; so [`SharedSubscriptions::matching`] hands the router each matching group's
//! members, starting at the group's next turn, and the router gives the message to the first one
//! that can take it (`Router::publish`). Messages carry their group ([`SharedOrigin`](crate::message::SharedOrigin)) so that a
//! member whose session ends can give back what it had not acknowledged. This file holds no
//! session state and delivers nothing itself.
//!
//! The ordinary publish path pays one atomic load for all of this while no shared subscription
//! exists. Once a group exists anywhere, every PUBLISH also takes the groups' tree's read lock and
//! walks it, matching or not (no allocation unless a group matches). Keeping the groups in the
//! router's own tree, as a further set in each node, would save that lock, at the price of a larger
//! change to the code of the hot path; it was left for when a benchmark shows the need.
//!
//! Why the choices (group naming, retained messages, overlapping subscriptions) are what they are is
//! written down in `docs/mqtt-broker-choices.md`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use mqtt_codec::{QoS, TopicFilter, TopicName};
use parking_lot::{Mutex, RwLock};

use crate::message::GroupId;
use crate::routing::subscriptions::{Subscriber, SubscriptionTree};

/// What starts the filter of a shared subscription.
const PREFIX: &str = "$share/";

/// Why a filter was refused (the client gets SUBACK 0x80). All but the last are about share names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterError {
    /// `$share/` with no `/` after the group name, so no filter at all.
    NoFilter,
    /// The group name is empty.
    EmptyGroup,
    /// The group name holds `+` or `#`, which mosquitto refuses too: a group is named, not matched.
    WildcardInGroup,
    /// What follows the group name is not a valid topic filter [MQTT-4.7.1-2] [MQTT-4.7.1-3].
    BadFilter,
    /// An ordinary filter that is not valid (the codec refuses those in SUBSCRIBE; this is for
    /// filters read back from the persistent store).
    Invalid,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoFilter => "a share name needs a filter after `$share/<group>/`",
            Self::EmptyGroup => "the group name of a share is empty",
            Self::WildcardInGroup => "the group name of a share may not hold `+` or `#`",
            Self::BadFilter => "the filter after `$share/<group>/` is not a valid topic filter",
            Self::Invalid => "not a valid topic filter",
        })
    }
}

/// A subscription's filter as the broker reads it: an ordinary one, or a share name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Filter<'a> {
    /// An ordinary topic filter, for the router's subscription tree.
    Plain(TopicFilter<'a>),
    /// `$share/<group>/<filter>`, for [`SharedSubscriptions`].
    Shared(Share<'a>),
}

impl<'a> Filter<'a> {
    /// Reads `text`. A share name is told apart first: taken as it stands, `$share/g/a` is also a
    /// valid ordinary filter.
    pub(crate) fn parse(text: &'a str) -> Result<Self, FilterError> {
        match parse(text) {
            Some(share) => share.map(Self::Shared),
            None => TopicFilter::new(text)
                .map(Self::Plain)
                .map_err(|_| FilterError::Invalid),
        }
    }
}

/// A parsed `$share/<group>/<filter>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Share<'a> {
    /// The group's name: non-empty, no `/`, `+` or `#`.
    pub(crate) group: &'a str,
    /// The filter the group subscribes to; ACL checks and matching use this one.
    pub(crate) filter: TopicFilter<'a>,
    /// The same filter as text.
    pub(crate) filter_text: &'a str,
}

/// `None` for an ordinary filter; for one starting with `$share/`, the group and filter, or why it is
/// refused. The group name ends at the first `/`, so it can never contain one.
fn parse(filter: &str) -> Option<Result<Share<'_>, FilterError>> {
    let rest = filter.strip_prefix(PREFIX)?;
    Some(parse_rest(rest))
}

/// Whether `filter` is a share name (`$share/...`, valid or not): what `shared_subscriptions false`
/// refuses.
pub(crate) fn is_share_name(filter: &str) -> bool {
    filter.starts_with(PREFIX)
}

/// The filter that ACL rules and `max_topic_levels` judge: a shared subscription's own filter,
/// without `$share/<group>/`, so that an ACL written for `a/#` covers `$share/g/a/#` too. An invalid
/// share name is answered whole (it is refused anyway).
pub(crate) fn acl_filter(filter: &str) -> &str {
    match parse(filter) {
        Some(Ok(share)) => share.filter_text,
        _ => filter,
    }
}

fn parse_rest(rest: &str) -> Result<Share<'_>, FilterError> {
    let (group, filter) = rest.split_once('/').ok_or(FilterError::NoFilter)?;
    if group.is_empty() {
        return Err(FilterError::EmptyGroup);
    }
    if group.contains(['+', '#']) {
        return Err(FilterError::WildcardInGroup);
    }
    let filter_text = filter;
    let filter = TopicFilter::new(filter).map_err(|_| FilterError::BadFilter)?;
    Ok(Share {
        group,
        filter,
        filter_text,
    })
}

/// One member of a group: which session, the QoS it was granted, and the router's handle.
pub(crate) type Member<T> = Subscriber<T>;

/// One group for one filter: `$share/g/a` and `$share/g/b` are two groups, as in mosquitto.
#[derive(Debug)]
struct Group<T> {
    /// The group's name and filter, shared with the messages delivered through it.
    id: Arc<GroupId>,
    /// The group's key in the tree.
    key: u64,
    /// The members in the order they joined. A leaf lock, held only to copy or change the list.
    members: Mutex<Vec<Member<T>>>,
    /// Where the next message's round starts; grows by one per message.
    turn: AtomicUsize,
}

/// Every shared subscription of every session.
///
/// Locks, in this order: `groups`, then `tree`, then one group's `members`. The router may hold a
/// session's slot while calling in (subscribe, unsubscribe), and never holds any of these while it
/// locks a slot: [`matching`](Self::matching) copies the members out before the router uses them.
#[derive(Debug)]
pub(crate) struct SharedSubscriptions<T> {
    /// (group name, filter) → group.
    groups: Mutex<HashMap<GroupId, Arc<Group<T>>>>,
    /// The groups, indexed by filter, each under a key of its own.
    tree: RwLock<SubscriptionTree<Arc<Group<T>>>>,
    /// How many groups exist: 0 lets the publish path skip everything here.
    group_count: AtomicUsize,
    /// How many memberships exist, for `$SYS/broker/subscriptions/count` and `.../shared/count`.
    member_count: AtomicUsize,
    /// The tree key of the next group.
    next_key: AtomicU64,
}

impl<T> Default for SharedSubscriptions<T> {
    fn default() -> Self {
        Self {
            groups: Mutex::default(),
            tree: RwLock::new(SubscriptionTree::default()),
            group_count: AtomicUsize::new(0),
            member_count: AtomicUsize::new(0),
            next_key: AtomicU64::new(0),
        }
    }
}

impl<T: Clone> SharedSubscriptions<T> {
    /// Makes session `key` a member of `share`'s group with `qos`, or updates its QoS if it already
    /// is one [MQTT-3.8.4-3]. True if the membership is new.
    pub(crate) fn subscribe(&self, share: Share<'_>, key: u64, qos: QoS, target: T) -> bool {
        let mut groups = self.groups.lock();
        let id: GroupId = (share.group.into(), share.filter_text.into());
        let group = match groups.get(&id) {
            Some(group) => Arc::clone(group),
            None => {
                let group = Arc::new(Group {
                    id: Arc::new(id.clone()),
                    key: self.next_key.fetch_add(1, Ordering::Relaxed),
                    members: Mutex::new(Vec::new()),
                    turn: AtomicUsize::new(0),
                });
                self.tree.write().insert(
                    share.filter,
                    group.key,
                    QoS::ExactlyOnce,
                    Arc::clone(&group),
                );
                groups.insert(id, Arc::clone(&group));
                self.group_count.fetch_add(1, Ordering::Relaxed);
                group
            }
        };
        let mut members = group.members.lock();
        if let Some(member) = members.iter_mut().find(|member| member.key == key) {
            member.qos = qos;
            member.target = target;
            return false;
        }
        members.push(Member { key, qos, target });
        self.member_count.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Removes session `key` from `share`'s group; a group left empty is removed. True if it was a
    /// member.
    pub(crate) fn unsubscribe(&self, share: Share<'_>, key: u64) -> bool {
        let mut groups = self.groups.lock();
        let id = (share.group.into(), share.filter_text.into());
        let Some(group) = groups.get(&id) else {
            return false;
        };
        let mut members = group.members.lock();
        let Some(index) = members.iter().position(|member| member.key == key) else {
            return false;
        };
        members.remove(index);
        self.member_count.fetch_sub(1, Ordering::Relaxed);
        if members.is_empty() {
            drop(members);
            let group_key = group.key;
            groups.remove(&id);
            self.tree.write().remove(share.filter, group_key);
            self.group_count.fetch_sub(1, Ordering::Relaxed);
        }
        true
    }

    /// Calls `deliver` once per group with a subscription matching `topic`, with the group's
    /// members in the order this message should try them: the round robin's turn first. `deliver`
    /// answers nothing; the router decides which member takes the message.
    ///
    /// Costs one atomic load while no group exists.
    pub(crate) fn matching(
        &self,
        topic: TopicName<'_>,
        mut deliver: impl FnMut(&Arc<GroupId>, &[Member<T>]),
    ) {
        if self.group_count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut found = Vec::new();
        self.tree.read().subscribers(topic, &mut found);
        let mut order = Vec::new();
        for entry in found {
            if in_turn(&entry.target, &mut order) {
                deliver(&entry.target.id, &order);
            }
        }
    }

    /// Calls `deliver` with the members of group `id` in round-robin order, as
    /// [`matching`](Self::matching) does; false if the group no longer exists.
    pub(crate) fn members_of(
        &self,
        id: &GroupId,
        deliver: impl FnOnce(&Arc<GroupId>, &[Member<T>]),
    ) -> bool {
        let Some(group) = self.groups.lock().get(id).map(Arc::clone) else {
            return false;
        };
        let mut order = Vec::new();
        in_turn(&group, &mut order) && {
            deliver(&group.id, &order);
            true
        }
    }

    /// The number of memberships.
    pub(crate) fn len(&self) -> usize {
        self.member_count.load(Ordering::Relaxed)
    }
}

/// Puts into `order` the members of `group`, starting at its next turn, and moves the turn on. False
/// if the group has no member.
fn in_turn<T: Clone>(group: &Group<T>, order: &mut Vec<Member<T>>) -> bool {
    order.clear();
    let members = group.members.lock();
    if members.is_empty() {
        return false;
    }
    let start = group.turn.fetch_add(1, Ordering::Relaxed) % members.len();
    order.extend_from_slice(&members[start..]);
    order.extend_from_slice(&members[..start]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(text: &str) -> Share<'_> {
        match parse(text) {
            Some(Ok(share)) => share,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn name(text: &str) -> TopicName<'_> {
        TopicName::new(text).unwrap_or_else(|_| panic!("bad test name {text}"))
    }

    /// The members tried for each of `messages` messages on `topic`, first member only.
    fn firsts(
        shared: &SharedSubscriptions<&'static str>,
        topic: &str,
        messages: usize,
    ) -> Vec<&'static str> {
        let mut firsts = Vec::new();
        for _ in 0..messages {
            shared.matching(name(topic), |_, members| firsts.push(members[0].target));
        }
        firsts
    }

    #[test]
    fn share_names_are_parsed_like_mosquitto() {
        assert!(parse("a/b").is_none(), "an ordinary filter");
        assert!(parse("$SYS/#").is_none());
        assert!(parse("$sharex/g/a").is_none(), "not the prefix");
        let parsed = share("$share/g/a/+/#");
        assert_eq!(parsed.group, "g");
        assert_eq!(parsed.filter_text, "a/+/#");
        assert_eq!(
            share("$share/g//").filter_text,
            "/",
            "an empty level is a level"
        );
        assert_eq!(share("$share/g/#").filter_text, "#");
        assert_eq!(
            parse("$share/g").map(|r| r.err()),
            Some(Some(FilterError::NoFilter))
        );
        assert_eq!(
            parse("$share/").map(|r| r.err()),
            Some(Some(FilterError::NoFilter))
        );
        assert_eq!(
            parse("$share//a").map(|r| r.err()),
            Some(Some(FilterError::EmptyGroup))
        );
        assert_eq!(
            parse("$share/g/").map(|r| r.err()),
            Some(Some(FilterError::BadFilter))
        );
        assert_eq!(
            parse("$share/g+/a").map(|r| r.err()),
            Some(Some(FilterError::WildcardInGroup))
        );
        assert_eq!(
            parse("$share/#/a").map(|r| r.err()),
            Some(Some(FilterError::WildcardInGroup))
        );
        // [MQTT-4.7.1-2] [MQTT-4.7.1-3] apply to the filter part.
        assert_eq!(
            parse("$share/g/a#").map(|r| r.err()),
            Some(Some(FilterError::BadFilter))
        );
        assert_eq!(
            parse("$share/g/a+/b").map(|r| r.err()),
            Some(Some(FilterError::BadFilter))
        );
    }

    #[test]
    fn each_message_starts_at_the_next_member_in_turn() {
        let shared = SharedSubscriptions::default();
        assert!(shared.subscribe(share("$share/g/a/+"), 1, QoS::AtLeastOnce, "one"));
        assert!(shared.subscribe(share("$share/g/a/+"), 2, QoS::AtLeastOnce, "two"));
        assert!(shared.subscribe(share("$share/g/a/+"), 3, QoS::AtLeastOnce, "three"));
        assert_eq!(
            firsts(&shared, "a/x", 6),
            ["one", "two", "three", "one", "two", "three"]
        );
        let mut all = Vec::new();
        shared.matching(name("a/x"), |_, members| {
            all.extend(members.iter().map(|member| member.target));
        });
        assert_eq!(
            all,
            ["one", "two", "three"],
            "every member is offered, in turn order"
        );
        assert!(firsts(&shared, "b/x", 1).is_empty(), "no match, no group");
    }

    #[test]
    fn groups_are_per_name_and_filter_and_go_when_empty() {
        let shared = SharedSubscriptions::default();
        shared.subscribe(share("$share/g/a"), 1, QoS::AtMostOnce, "g-a");
        shared.subscribe(share("$share/h/a"), 2, QoS::AtMostOnce, "h-a");
        shared.subscribe(share("$share/g/#"), 3, QoS::AtMostOnce, "g-all");
        let mut got = firsts(&shared, "a", 1);
        got.sort_unstable();
        assert_eq!(got, ["g-a", "g-all", "h-a"], "one delivery per group");
        assert!(!shared.subscribe(share("$share/g/a"), 1, QoS::ExactlyOnce, "g-a"));
        assert_eq!(shared.len(), 3, "re-subscribing replaces");
        assert!(!shared.unsubscribe(share("$share/g/a"), 2), "not a member");
        assert!(shared.unsubscribe(share("$share/g/a"), 1));
        assert!(shared.unsubscribe(share("$share/h/a"), 2));
        assert!(shared.unsubscribe(share("$share/g/#"), 3));
        assert_eq!(shared.len(), 0);
        assert_eq!(shared.group_count.load(Ordering::Relaxed), 0);
        assert!(shared.groups.lock().is_empty());
        assert_eq!(
            shared.tree.read().len(),
            0,
            "the tree entries go with their groups"
        );
    }
}

//! [`AclFile`]: who may publish to and receive from which topics, in mosquitto's `acl_file` syntax.
//!
//! ```text
//! # Rules before the first `user` line apply to anonymous clients.
//! topic read public/#
//! user alice
//! topic readwrite sensors/#
//! topic deny sensors/secret
//! # Patterns apply to every client; %c is its client id, %u its user name.
//! pattern write devices/%c/status
//! ```
//!
//! The access word is `read`, `write`, `readwrite` or `deny`, and may be left out (meaning
//! `readwrite`) only when the filter is a single word. The filter is the rest of the line and may
//! contain `+` and `#` (and spaces, after an access word). A placeholder must be a whole level of a
//! pattern (`a/%u/b`, not `a/x%u`). Any other line is an error with its number.
//!
//! Strictness is the point: a typo must stop the broker, never change what a rule means. Read
//! leniently, `topic dney sensors/secret` would be a `readwrite` rule on a topic named
//! `dney sensors/secret`, and the topic meant to be denied would stay open (issue 14). So a rule of
//! two or more words must start with a known access word, and an unknown keyword is an error too.
//!
//! The rules, as mosquitto applies them:
//! - once an ACL file is loaded, anything no rule grants is denied;
//! - `deny` rules are looked at first, and win;
//! - a client's rules are those of its user (or the anonymous ones) plus every pattern;
//! - patterns are not applied to a client whose user name or client id contains `+` or `#`, which
//!   could otherwise widen a pattern into a wildcard; patterns with `%u` do not apply to anonymous
//!   clients;
//! - matching is MQTT's own (`TopicFilter::matches`), so a rule whose first level is a wildcard never
//!   grants a `$` topic [MQTT-4.7.2-1].
//!
//! A subscription is granted, as mosquitto grants it, when some `read` rule could match a topic
//! its filter matches (the two filters overlap: `a/#` with `topic read a/b/#`, or `#` with any read
//! rule not under `$`), unless a `deny` rule covers every topic of the filter. Deliveries, retained
//! ones included, are then filtered one by one by `read` (`routing/router.rs`), so a restricted
//! user's `#` receives exactly what it may read. A filter that no read rule could ever match is
//! refused (0x80 at 3.1.1), which mosquitto does not do (it grants, then delivers nothing); the
//! refusal tells the client at once. This file only answers questions; `connection/reader.rs` and
//! `routing/router.rs` act on the answers.

use std::collections::HashMap;

use mqtt_codec::{FilterLevel, TopicFilter, TopicName};

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// Receive messages published to it.
    Read,
    /// Publish to it.
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Access {
    fn grants(self, operation: Operation) -> bool {
        matches!(
            (self, operation),
            (Self::ReadWrite, _) | (Self::Read, Operation::Read) | (Self::Write, Operation::Write)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    access: Access,
    filter: String,
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AclFile {
    anonymous: Vec<Rule>,
    users: HashMap<String, Vec<Rule>>,
    patterns: Vec<Rule>,
}

impl AclFile {
    /// Parses the text of an ACL file; errors are `(line, message)`.
    pub(crate) fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut acl = Self::default();
        let mut user: Option<String> = None;
        for (index, line) in text.lines().enumerate() {
            let error = |message: String| (index + 1, message);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = line
                .split_once(char::is_whitespace)
                .map_or((line, ""), |(keyword, rest)| (keyword, rest.trim()));
            match keyword {
                "user" if !rest.is_empty() => user = Some(rest.to_owned()),
                "topic" | "pattern" if !rest.is_empty() => {
                    let rule = parse_rule(rest, keyword == "pattern").map_err(error)?;
                    match (keyword, &user) {
                        ("pattern", _) => acl.patterns.push(rule),
                        (_, Some(user)) => acl.users.entry(user.clone()).or_default().push(rule),
                        (_, None) => acl.anonymous.push(rule),
                    }
                }
                "user" | "topic" | "pattern" => {
                    return Err(error(format!("`{keyword}` needs a value")));
                }
                other => {
                    return Err(error(format!(
                        "unknown ACL line `{other} ...` (expected topic, user or pattern)"
                    )));
                }
            }
        }
        Ok(acl)
    }

    /// Whether the client may `operation` on `topic`.
    pub(crate) fn allows(
        &self,
        client_id: &str,
        user: Option<&str>,
        topic: &str,
        operation: Operation,
    ) -> bool {
        let Ok(topic) = TopicName::new(topic) else {
            return false;
        };
        let rules = self.rules_for(client_id, user);
        let matches = |filter: &str| TopicFilter::new(filter).is_ok_and(|f| f.matches(topic));
        if rules
            .iter()
            .any(|(access, filter)| *access == Access::Deny && matches(filter))
        {
            return false;
        }
        rules
            .iter()
            .any(|(access, filter)| access.grants(operation) && matches(filter))
    }

    /// Whether a subscription to `filter` may be granted (see the module doc).
    pub(crate) fn allows_subscription(
        &self,
        client_id: &str,
        user: Option<&str>,
        filter: &str,
    ) -> bool {
        let Ok(wanted) = TopicFilter::new(filter) else {
            return false;
        };
        let rules = self.rules_for(client_id, user);
        let covers = |rule: &str| TopicFilter::new(rule).is_ok_and(|rule| covers(rule, wanted));
        if rules
            .iter()
            .any(|(access, rule)| *access == Access::Deny && covers(rule))
        {
            return false;
        }
        let overlaps = |rule: &str| TopicFilter::new(rule).is_ok_and(|rule| overlaps(rule, wanted));
        rules
            .iter()
            .any(|(access, rule)| access.grants(Operation::Read) && overlaps(rule))
    }

    /// The rules that apply to a client, with patterns already substituted.
    fn rules_for(&self, client_id: &str, user: Option<&str>) -> Vec<(Access, String)> {
        let own = match user {
            Some(user) => self.users.get(user),
            None => Some(&self.anonymous),
        };
        let mut rules: Vec<(Access, String)> = own
            .into_iter()
            .flatten()
            .map(|rule| (rule.access, rule.filter.clone()))
            .collect();
        let dangerous = |s: &str| s.contains(['+', '#']);
        if dangerous(client_id) || user.is_some_and(dangerous) {
            return rules;
        }
        for pattern in &self.patterns {
            let mut levels = Vec::new();
            for level in pattern.filter.split('/') {
                match (level, user) {
                    ("%c", _) => levels.push(client_id),
                    ("%u", Some(user)) => levels.push(user),
                    ("%u", None) => break,
                    (level, _) => levels.push(level),
                }
            }
            if levels.len() == pattern.filter.split('/').count() {
                rules.push((pattern.access, levels.join("/")));
            }
        }
        rules
    }
}

fn parse_rule(rest: &str, pattern: bool) -> Result<Rule, String> {
    let (access, filter) = match rest.split_once(char::is_whitespace) {
        Some((word, filter)) => match word {
            "read" => (Access::Read, filter.trim()),
            "write" => (Access::Write, filter.trim()),
            "readwrite" => (Access::ReadWrite, filter.trim()),
            "deny" => (Access::Deny, filter.trim()),
            _ => {
                return Err(format!(
                    "unknown access `{word}` (expected read, write, readwrite or deny; a filter \
                     containing a space needs the access word before it)"
                ));
            }
        },
        None => (Access::ReadWrite, rest),
    };
    if let Err(error) = TopicFilter::new(filter) {
        return Err(format!("`{filter}` is not a topic filter: {error}"));
    }
    for level in filter.split('/') {
        if level.contains('%') && (!pattern || !matches!(level, "%c" | "%u")) {
            return Err(format!(
                "`{level}` in `{filter}`: %c and %u are only understood in `pattern` lines, as a \
                 whole level"
            ));
        }
    }
    Ok(Rule {
        access,
        filter: filter.to_owned(),
    })
}

/// Whether every topic `wanted` matches is also matched by `rule`.
fn covers(rule: TopicFilter<'_>, wanted: TopicFilter<'_>) -> bool {
    let mut rule_levels = rule.levels();
    let mut wanted_levels = wanted.levels();
    let mut first = true;
    loop {
        match (rule_levels.next(), wanted_levels.next()) {
            // `#` covers any rest, except that at the first level it does not cover `$` topics,
            // which a wanted literal `$...` names.
            (Some(FilterLevel::MultiLevel), Some(FilterLevel::Literal(l))) if first => {
                return !l.starts_with('$');
            }
            (Some(FilterLevel::MultiLevel), _) => return true,
            (None, None) => return true,
            (Some(FilterLevel::SingleLevel), Some(FilterLevel::Literal(l))) => {
                if first && l.starts_with('$') {
                    return false;
                }
            }
            (Some(FilterLevel::SingleLevel), Some(FilterLevel::SingleLevel)) => {}
            (Some(FilterLevel::Literal(a)), Some(FilterLevel::Literal(b))) if a == b => {}
            _ => return false,
        }
        first = false;
    }
}

/// Whether some topic is matched by both `a` and `b`. A wildcard at the first level matches no
/// `$` topic [MQTT-4.7.2-1], so it overlaps nothing that names one there.
fn overlaps(a: TopicFilter<'_>, b: TopicFilter<'_>) -> bool {
    let mut a_levels = a.levels();
    let mut b_levels = b.levels();
    let mut first = true;
    loop {
        match (a_levels.next(), b_levels.next()) {
            (
                Some(FilterLevel::Literal(l)),
                Some(FilterLevel::MultiLevel | FilterLevel::SingleLevel),
            )
            | (
                Some(FilterLevel::MultiLevel | FilterLevel::SingleLevel),
                Some(FilterLevel::Literal(l)),
            ) if first && l.starts_with('$') => {
                return false;
            }
            // `#` matches any rest, including none (`a/#` matches `a`) (3.1.1 §4.7.1.2).
            (Some(FilterLevel::MultiLevel), _) | (_, Some(FilterLevel::MultiLevel)) => return true,
            (None, None) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
            (Some(FilterLevel::Literal(x)), Some(FilterLevel::Literal(y))) if x != y => {
                return false;
            }
            _ => {}
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
# anonymous
topic read public/#

user alice
topic readwrite sensors/#
topic deny sensors/secret
topic write cmd/+

user bob
topic sensors/room1

pattern write devices/%c/status
pattern read users/%u/#
";

    fn acl() -> AclFile {
        AclFile::parse(EXAMPLE).expect("the example parses")
    }

    #[test]
    fn user_sections_anonymous_rules_and_deny_first() {
        let acl = acl();
        let alice = |topic, op| acl.allows("c1", Some("alice"), topic, op);
        assert!(alice("sensors/room1", Operation::Read));
        assert!(alice("sensors/room1", Operation::Write));
        assert!(!alice("sensors/secret", Operation::Read));
        assert!(alice("cmd/x", Operation::Write));
        assert!(!alice("cmd/x", Operation::Read));
        assert!(
            !alice("public/news", Operation::Read),
            "anonymous rules only"
        );
        assert!(acl.allows("c2", None, "public/news", Operation::Read));
        assert!(!acl.allows("c2", None, "public/news", Operation::Write));
        // No access word: readwrite.
        assert!(acl.allows("c3", Some("bob"), "sensors/room1", Operation::Write));
        assert!(!acl.allows("c3", Some("carol"), "sensors/room1", Operation::Read));
    }

    #[test]
    fn patterns_substitute_client_id_and_user() {
        let acl = acl();
        assert!(acl.allows("dev7", None, "devices/dev7/status", Operation::Write));
        assert!(!acl.allows("dev7", None, "devices/dev8/status", Operation::Write));
        assert!(acl.allows("x", Some("bob"), "users/bob/inbox", Operation::Read));
        assert!(!acl.allows("x", None, "users/%u/inbox", Operation::Read));
        // Wildcards in an identity do not widen a pattern.
        assert!(!acl.allows("+", None, "devices/a/status", Operation::Write));
        assert!(!acl.allows("#", None, "devices/#/status", Operation::Write));
    }

    #[test]
    fn wildcard_rules_do_not_grant_dollar_topics_mqtt_4_7_2_1() {
        let acl = AclFile::parse("topic read #\ntopic read +/x\n").expect("parses");
        assert!(!acl.allows("c", None, "$SYS/broker/uptime", Operation::Read));
        assert!(!acl.allows("c", None, "$SYS/x", Operation::Read));
        assert!(!acl.allows_subscription("c", None, "$SYS/#"));
        assert!(acl.allows_subscription("c", None, "a/b"));
    }

    #[test]
    fn subscriptions_need_a_covering_read_rule() {
        let acl = acl();
        let alice = |filter| acl.allows_subscription("c", Some("alice"), filter);
        assert!(alice("sensors/#"));
        assert!(alice("sensors/+"));
        assert!(alice("sensors/room1"));
        assert!(!alice("sensors/secret"), "denied");
        assert!(!alice("cmd/+"), "write only");
        assert!(!alice("other/#"), "no read rule could match");
        assert!(acl.allows_subscription("c", None, "public/+/x"));
    }

    /// mosquitto's behaviour: a filter partly covered by read rules is granted (deliveries are
    /// filtered by `read`); one no read rule could match is refused.
    #[test]
    fn a_partly_covered_subscription_is_granted_and_a_disjoint_one_refused() {
        let acl = AclFile::parse(
            "topic read a/b/#
topic read x/+/y
topic read $SYS/broker/#
",
        )
        .expect("parses");
        let granted = |filter| acl.allows_subscription("c", None, filter);
        assert!(granted("a/#"), "a/b/# lies inside it");
        assert!(granted("#"));
        assert!(granted("+/b"), "a/b");
        assert!(
            granted("a/b"),
            "a/b/# matches its parent a/b (3.1.1 §4.7.1.2)"
        );
        assert!(granted("x/z/+"), "x/z/y");
        assert!(granted("$SYS/#"), "a literal $ rule");
        assert!(!granted("a/c"), "disjoint");
        assert!(granted("a/+/c/d"), "a/b/c/d");
        assert!(!granted("a/c/+"), "a/c/... is not under a/b");
        assert!(!granted("x/+/z"));
        assert!(!granted("b/#"));
        // Wildcards at the first level never reach $ topics [MQTT-4.7.2-1].
        let wide = AclFile::parse(
            "topic read #
",
        )
        .expect("parses");
        assert!(!wide.allows_subscription("c", None, "$SYS/#"));
        assert!(!wide.allows_subscription("c", None, "$SYS/x"));
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        for (text, line) in [
            ("topic read a\nfoo bar\n", 2),
            ("user\n", 1),
            ("topic read a/#/b\n", 1),
            ("topic read a/%c\n", 1),
            ("pattern read a/x%c\n", 1),
            // Typos in the access word, which once made a readwrite rule on the topic
            // `dney sensors/secret` and left `sensors/secret` open.
            ("user alice\ntopic read a\ntopic dney sensors/secret\n", 3),
            ("pattern wrte devices/%c\n", 1),
            ("topic my topic\n", 1),
            ("Topic read a\n", 1),
            ("user alice\ntopics read a\n", 2),
        ] {
            assert_eq!(
                AclFile::parse(text).map_err(|(n, _)| n),
                Err(line),
                "{text}"
            );
        }
    }
}

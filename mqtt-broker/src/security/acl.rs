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
//! Unlike mosquitto, which accepts every SUBSCRIBE and only filters at delivery, a subscription is
//! granted only if one `read` rule covers every topic its filter can match and no `deny` rule covers it
//! all; `read` is checked again on every delivery, which settles the partial overlaps. This file only
//! answers questions; `connection/reader.rs` and `routing/router.rs` act on the answers.

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
        rules
            .iter()
            .any(|(access, rule)| access.grants(Operation::Read) && covers(rule))
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
        assert!(!alice("#"), "wider than any rule");
        assert!(!alice("sensors/secret"), "denied");
        assert!(!alice("cmd/+"), "write only");
        assert!(acl.allows_subscription("c", None, "public/+/x"));
        assert!(!acl.allows_subscription("c", None, "+/news"));
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

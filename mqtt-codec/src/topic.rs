//! Topic names, topic filters, and which names a filter matches (3.1.1 §4.7).
//!
//! These are pure functions shared by every part of the project that routes messages: the broker's
//! subscription tree, the client's message dispatch and the MQTT-SN gateway all call [`TopicFilter::matches`]
//! rather than keeping their own copy. Matching is byte-exact: no normalisation, case folding or
//! substitution of any kind [MQTT-4.7.3-4].

use core::fmt;

use crate::DecodeError;
use crate::wire::contains_any;

/// Why a string is not a valid topic name or topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TopicError {
    /// Zero length [MQTT-4.7.3-1].
    Empty,
    /// Longer than 65 535 bytes [MQTT-4.7.3-3].
    TooLong,
    /// Contains U+0000 [MQTT-4.7.3-2].
    NullCharacter,
    /// A topic name containing `+` or `#` [MQTT-4.7.1-1] [MQTT-3.3.2-2].
    WildcardInName,
    /// A topic filter with `#` not alone in the last level [MQTT-4.7.1-2] or `+` not alone in its
    /// level [MQTT-4.7.1-3].
    MisplacedWildcard,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty topic [MQTT-4.7.3-1]",
            Self::TooLong => "topic longer than 65535 bytes [MQTT-4.7.3-3]",
            Self::NullCharacter => "topic contains U+0000 [MQTT-4.7.3-2]",
            Self::WildcardInName => "wildcard in a topic name [MQTT-4.7.1-1]",
            Self::MisplacedWildcard => "misplaced wildcard in a topic filter [MQTT-4.7.1-2]",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TopicError {}

impl From<TopicError> for DecodeError {
    fn from(error: TopicError) -> Self {
        match error {
            TopicError::Empty => Self::EmptyTopic,
            // A decoded string has a two-byte length, so it is never too long.
            TopicError::TooLong => Self::UnexpectedEndOfPacket,
            TopicError::NullCharacter => Self::NullCharacter,
            TopicError::WildcardInName => Self::WildcardInTopicName,
            TopicError::MisplacedWildcard => Self::InvalidTopicFilter,
        }
    }
}

/// A topic name: where a PUBLISH is sent (3.1.1 §4.7). Never empty, never a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName<'a>(&'a str);

impl<'a> TopicName<'a> {
    /// Checks `name` against the topic name rules.
    #[inline]
    pub fn new(name: &'a str) -> Result<Self, TopicError> {
        // One pass over the bytes finds the common case, a clean name; only a bad name is looked at
        // again, to say what is wrong with it.
        if name.is_empty()
            || name.len() > usize::from(u16::MAX)
            || contains_any(name.as_bytes(), [0, b'+', b'#'])
        {
            check_common(name)?;
            return Err(TopicError::WildcardInName); // [MQTT-4.7.1-1] [MQTT-3.3.2-2]
        }
        Ok(Self(name))
    }

    /// The name as a string.
    #[inline]
    pub const fn as_str(self) -> &'a str {
        self.0
    }

    /// The levels of the name, split at each `/`. `a//b` has an empty middle level (3.1.1 §4.7.1.1).
    pub fn levels(self) -> core::str::Split<'a, char> {
        self.0.split('/')
    }

    /// Whether the name starts with `$`, marking a server-specific topic such as `$SYS/...` that
    /// wildcards at the first level do not match [MQTT-4.7.2-1].
    pub fn is_dollar(self) -> bool {
        self.0.starts_with('$')
    }
}

impl fmt::Display for TopicName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A topic filter: what a SUBSCRIBE asks for, possibly with wildcards (3.1.1 §4.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter<'a>(&'a str);

/// One level of a topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterLevel<'a> {
    /// A level that must equal the name's level exactly.
    Literal(&'a str),
    /// `+`: any one level, including an empty one (3.1.1 §4.7.1.3).
    SingleLevel,
    /// `#`: the parent level and any number of levels below it; always last (3.1.1 §4.7.1.2).
    MultiLevel,
}

impl<'a> TopicFilter<'a> {
    /// Checks `filter` against the topic filter rules.
    #[inline]
    pub fn new(filter: &'a str) -> Result<Self, TopicError> {
        check_common(filter)?;
        let bytes = filter.as_bytes();
        for (index, &byte) in bytes.iter().enumerate() {
            let starts_level = index == 0 || bytes[index - 1] == b'/';
            let ends_level = matches!(bytes.get(index + 1), None | Some(b'/'));
            let is_last = index + 1 == bytes.len();
            match byte {
                // `+` fills its whole level [MQTT-4.7.1-3].
                b'+' if !(starts_level && ends_level) => return Err(TopicError::MisplacedWildcard),
                // `#` fills the last level [MQTT-4.7.1-2].
                b'#' if !(starts_level && is_last) => return Err(TopicError::MisplacedWildcard),
                _ => {}
            }
        }
        Ok(Self(filter))
    }

    /// The filter as a string.
    #[inline]
    pub const fn as_str(self) -> &'a str {
        self.0
    }

    /// The levels of the filter, with wildcards told apart from literal levels.
    pub fn levels(self) -> impl Iterator<Item = FilterLevel<'a>> + Clone {
        self.0.split('/').map(|level| match level {
            "+" => FilterLevel::SingleLevel,
            "#" => FilterLevel::MultiLevel,
            literal => FilterLevel::Literal(literal),
        })
    }

    /// Whether the filter contains `+` or `#`.
    pub fn has_wildcards(self) -> bool {
        self.0.contains(['+', '#'])
    }

    /// Whether a message published to `name` is delivered to a subscription with this filter.
    ///
    /// Wildcards at the first level never match a name that starts with `$` [MQTT-4.7.2-1]; `#`
    /// also matches the level above it, so `sport/#` matches `sport` (3.1.1 §4.7.1.2).
    pub fn matches(self, name: TopicName<'_>) -> bool {
        if name.is_dollar() && self.0.starts_with(['+', '#']) {
            return false;
        }
        let mut name_levels = name.levels();
        for level in self.levels() {
            match level {
                FilterLevel::MultiLevel => return true,
                FilterLevel::SingleLevel => {
                    if name_levels.next().is_none() {
                        return false;
                    }
                }
                FilterLevel::Literal(literal) => {
                    if name_levels.next() != Some(literal) {
                        return false;
                    }
                }
            }
        }
        name_levels.next().is_none()
    }
}

impl fmt::Display for TopicFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The rules names and filters share (3.1.1 §4.7.3).
fn check_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty); // [MQTT-4.7.3-1]
    }
    if topic.len() > usize::from(u16::MAX) {
        return Err(TopicError::TooLong); // [MQTT-4.7.3-3]
    }
    if contains_any(topic.as_bytes(), [0, 0, 0]) {
        return Err(TopicError::NullCharacter); // [MQTT-4.7.3-2]
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(filter: &str, name: &str) -> bool {
        let filter = TopicFilter::new(filter).expect("test filter is valid");
        let name = TopicName::new(name).expect("test name is valid");
        filter.matches(name)
    }

    #[test]
    fn topics_are_at_least_one_character_mqtt_4_7_3_1() {
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
        assert_eq!(TopicFilter::new(""), Err(TopicError::Empty));
    }

    #[test]
    fn topics_refuse_null_mqtt_4_7_3_2() {
        assert_eq!(TopicName::new("a\0b"), Err(TopicError::NullCharacter));
        assert_eq!(TopicFilter::new("a/\0"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn topics_refuse_more_than_65535_bytes_mqtt_4_7_3_3() {
        let long = "a".repeat(65_536);
        assert_eq!(TopicName::new(&long), Err(TopicError::TooLong));
        assert!(TopicName::new(&long[1..]).is_ok());
    }

    #[test]
    fn names_refuse_wildcards_mqtt_4_7_1_1() {
        for name in ["+", "#", "a/+", "a/#", "a+b", "sport#"] {
            assert_eq!(
                TopicName::new(name),
                Err(TopicError::WildcardInName),
                "{name}"
            );
        }
    }

    #[test]
    fn hash_is_alone_and_last_mqtt_4_7_1_2() {
        for good in ["#", "sport/#", "sport/tennis/#", "/#", "+/#"] {
            assert!(TopicFilter::new(good).is_ok(), "{good}");
        }
        for bad in ["sport/tennis#", "sport/#/ranking", "#/", "##", "a/#b"] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::MisplacedWildcard),
                "{bad}"
            );
        }
    }

    #[test]
    fn plus_fills_a_whole_level_mqtt_4_7_1_3() {
        for good in ["+", "+/tennis/#", "sport/+/player1", "/+", "+/+", "a//+"] {
            assert!(TopicFilter::new(good).is_ok(), "{good}");
        }
        for bad in ["sport+", "sport/+player", "++", "a/+b/c"] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::MisplacedWildcard),
                "{bad}"
            );
        }
    }

    #[test]
    fn multi_level_wildcard_matches_parent_and_children() {
        // The examples of 3.1.1 §4.7.1.2.
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon"
        ));
        assert!(matches("sport/#", "sport"));
        assert!(matches("#", "a/b/c"));
        assert!(!matches("sport/tennis/#", "sport/football"));
    }

    #[test]
    fn single_level_wildcard_matches_exactly_one_level() {
        // The examples of 3.1.1 §4.7.1.3.
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(matches("sport/tennis/+", "sport/tennis/player2"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
    }

    #[test]
    fn wildcards_at_first_level_skip_dollar_topics_mqtt_4_7_2_1() {
        assert!(!matches("#", "$SYS/broker/uptime"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
        // Only a leading `$` counts.
        assert!(matches("#", "a/$SYS"));
    }

    #[test]
    fn matching_is_exact_mqtt_4_7_3_4() {
        assert!(!matches("Sport", "sport"));
        assert!(!matches("sport", "sport/"));
        assert!(!matches("sport", "/sport"));
        assert!(!matches("sport ", "sport"));
        assert!(matches("a//b", "a//b"));
    }
}

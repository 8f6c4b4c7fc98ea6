//! The MQTT 5.0 options of the tools, read as `mosquitto_pub` and `mosquitto_sub` read them:
//! `-D command identifier value` (and `-D command user-property name value`), and `-x` for the
//! session expiry interval.
//!
//! argh gives `-D` one value (the command) and leaves the identifier and value words among the
//! positional arguments, in order; since each property takes a known number of words, the words
//! are dealt back to their `-D` in order. The commands and properties each tool accepts are those
//! of mosquitto's manual pages, and the errors say what mosquitto's say.
//!
//! Differences from mosquitto: a number that does not parse is refused (mosquitto reads it as 0);
//! `-D publish topic-alias` is accepted and ignored (the client picks its own aliases, within the
//! server's maximum); `authentication-method` starts an exchange that fails if the server sends a
//! challenge (the tools cannot answer one), except `authentication-method SCRAM-SHA-256`, which
//! runs SCRAM with -u and -P (`connection.rs`), the password never sent.

use std::sync::Arc;

use mqtt_client::v5::{Authenticator, ConnectProperties, DisconnectProperties, PublishProperties};

/// Which tool is reading `-D`: each accepts its own set of commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    /// `mqtt-pub`: connect, publish, disconnect, will.
    Pub,
    /// `mqtt-sub`: connect, subscribe, unsubscribe, disconnect, will.
    Sub,
}

/// Everything `-D` set, by the packet it goes into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Properties {
    /// `-D connect ...`, and `-x`.
    pub(crate) connect: ConnectProperties,
    /// `-D connect authentication-method` and `authentication-data`.
    pub(crate) authentication: Option<(String, Option<Vec<u8>>)>,
    /// `-D publish ...` (mqtt-pub).
    pub(crate) publish: PublishProperties,
    /// `-D will ...`.
    pub(crate) will: PublishProperties,
    /// `-D subscribe user-property ...` (mqtt-sub).
    pub(crate) subscribe: Vec<(String, String)>,
    /// `-D unsubscribe user-property ...` (mqtt-sub).
    pub(crate) unsubscribe: Vec<(String, String)>,
    /// `-D disconnect ...`.
    pub(crate) disconnect: DisconnectProperties,
}

/// Parses the `-D` commands `commands` and their words `words` (argh's positionals, in order)
/// for `tool`. Leftover words are an error, as any stray argument is.
pub(crate) fn parse(
    tool: Tool,
    commands: &[String],
    words: &[String],
) -> Result<Properties, String> {
    let mut properties = Properties::default();
    let mut words = words.iter();
    for command in commands {
        let allowed: &[&str] = match (tool, command.as_str()) {
            (_, "connect") => &[
                "authentication-data",
                "authentication-method",
                "maximum-packet-size",
                "receive-maximum",
                "request-problem-information",
                "request-response-information",
                "session-expiry-interval",
                "topic-alias-maximum",
                "user-property",
            ],
            (Tool::Pub, "publish") => &[
                "content-type",
                "correlation-data",
                "message-expiry-interval",
                "payload-format-indicator",
                "response-topic",
                "topic-alias",
                "user-property",
            ],
            (Tool::Sub, "subscribe" | "unsubscribe") => &["user-property"],
            (_, "disconnect") => &["session-expiry-interval", "user-property"],
            (_, "will") => &[
                "content-type",
                "correlation-data",
                "message-expiry-interval",
                "payload-format-indicator",
                "response-topic",
                "user-property",
                "will-delay-interval",
            ],
            _ => return Err("Invalid command given in --property argument".into()),
        };
        let Some(name) = words.next() else {
            return Err("--property argument given but not enough arguments specified".into());
        };
        if !KNOWN.contains(&name.as_str()) {
            return Err("Invalid property name given in --property argument".into());
        }
        if !allowed.contains(&name.as_str()) {
            return Err(format!(
                "{name} property not allowed for {command} in --property argument"
            ));
        }
        let Some(value) = words.next() else {
            return Err("--property argument given but not enough arguments specified".into());
        };
        if name == "user-property" {
            let Some(second) = words.next() else {
                return Err("--property argument given but not enough arguments specified".into());
            };
            let pair = (value.clone(), second.clone());
            match command.as_str() {
                "connect" => properties.connect.user_properties.push(pair),
                "publish" => properties.publish.user_properties.push(pair),
                "will" => properties.will.user_properties.push(pair),
                "subscribe" => properties.subscribe.push(pair),
                "unsubscribe" => properties.unsubscribe.push(pair),
                _ => properties.disconnect.user_properties.push(pair),
            }
            continue;
        }
        set(&mut properties, command, name, value)?;
    }
    if let Some(word) = words.next() {
        return Err(format!("unexpected argument {word:?}"));
    }
    Ok(properties)
}

/// Every property name mosquitto knows, so that a known name in the wrong command gets its own
/// message.
const KNOWN: &[&str] = &[
    "payload-format-indicator",
    "message-expiry-interval",
    "content-type",
    "response-topic",
    "correlation-data",
    "subscription-identifier",
    "session-expiry-interval",
    "assigned-client-identifier",
    "server-keep-alive",
    "authentication-method",
    "authentication-data",
    "request-problem-information",
    "will-delay-interval",
    "request-response-information",
    "response-information",
    "server-reference",
    "reason-string",
    "receive-maximum",
    "topic-alias-maximum",
    "topic-alias",
    "maximum-qos",
    "retain-available",
    "user-property",
    "maximum-packet-size",
    "wildcard-subscription-available",
    "subscription-identifier-available",
    "shared-subscription-available",
];

fn set(properties: &mut Properties, command: &str, name: &str, value: &str) -> Result<(), String> {
    let number =
        |bits: &str| format!("{name} must be a {bits}-bit unsigned integer, not {value:?}");
    let message = match command {
        "publish" => Some(&mut properties.publish),
        "will" => Some(&mut properties.will),
        _ => None,
    };
    match (name, message) {
        ("content-type", Some(message)) => message.content_type = Some(value.to_owned()),
        ("correlation-data", Some(message)) => {
            // Binary data, given as a string, as mosquitto's tools take it.
            message.correlation_data = Some(value.as_bytes().to_vec());
        }
        ("message-expiry-interval", Some(message)) => {
            message.message_expiry_interval = Some(value.parse().map_err(|_| number("32"))?);
        }
        ("payload-format-indicator", Some(message)) => {
            message.payload_format_indicator = Some(value.parse().map_err(|_| number("8"))?);
        }
        ("response-topic", Some(message)) => message.response_topic = Some(value.to_owned()),
        ("will-delay-interval", Some(message)) => {
            message.will_delay_interval = Some(value.parse().map_err(|_| number("32"))?);
        }
        ("topic-alias", Some(_)) => {
            value.parse::<u16>().map_err(|_| number("16"))?;
            log::debug!("-D publish topic-alias: the client chooses topic aliases itself");
        }
        ("session-expiry-interval", None) if command == "disconnect" => {
            properties.disconnect.session_expiry_interval =
                Some(value.parse().map_err(|_| number("32"))?);
        }
        ("session-expiry-interval", None) => {
            properties.connect.session_expiry_interval =
                Some(value.parse().map_err(|_| number("32"))?);
        }
        ("maximum-packet-size", None) => {
            properties.connect.maximum_packet_size = Some(value.parse().map_err(|_| number("32"))?);
        }
        ("receive-maximum", None) => {
            properties.connect.receive_maximum = Some(value.parse().map_err(|_| number("16"))?);
        }
        ("topic-alias-maximum", None) => {
            properties.connect.topic_alias_maximum = Some(value.parse().map_err(|_| number("16"))?);
        }
        ("request-problem-information", None) => {
            let byte: u8 = value.parse().map_err(|_| number("8"))?;
            properties.connect.request_problem_information = Some(byte != 0);
        }
        ("request-response-information", None) => {
            let byte: u8 = value.parse().map_err(|_| number("8"))?;
            properties.connect.request_response_information = Some(byte != 0);
        }
        ("authentication-method", None) => {
            let data = properties.authentication.take().and_then(|(_, data)| data);
            properties.authentication = Some((value.to_owned(), data));
        }
        ("authentication-data", None) => {
            let method = properties
                .authentication
                .take()
                .map(|(method, _)| method)
                .unwrap_or_default();
            properties.authentication = Some((method, Some(value.as_bytes().to_vec())));
        }
        _ => {
            return Err(format!(
                "{name} property not allowed for {command} in --property argument"
            ));
        }
    }
    Ok(())
}

/// Reads `-x`: 0 to 4 294 967 294 seconds, or `-1`, `4294967295` or `∞` for a session that never
/// expires, as mosquitto's tools do.
pub(crate) fn session_expiry(value: &str) -> Result<u32, String> {
    match value {
        "-1" | "∞" => Ok(u32::MAX),
        _ => value
            .parse()
            .map_err(|_| "session-expiry-interval not a number".to_owned()),
    }
}

/// The authenticator of `-D connect authentication-method`: it sends the method and data of
/// CONNECT and cannot answer a challenge, which a command-line tool has no way to compute.
#[derive(Debug)]
pub(crate) struct FixedAuthentication {
    method: String,
    data: Option<Vec<u8>>,
}

impl FixedAuthentication {
    /// The authenticator for `method` with `data`.
    pub(crate) fn shared(method: String, data: Option<Vec<u8>>) -> Arc<dyn Authenticator> {
        Arc::new(Self { method, data })
    }
}

impl Authenticator for FixedAuthentication {
    fn method(&self) -> &str {
        &self.method
    }

    fn initial_data(&self) -> Result<Option<Vec<u8>>, String> {
        Ok(self.data.clone())
    }

    fn challenge(&self, _data: Option<&[u8]>) -> Result<Vec<u8>, String> {
        Err(format!(
            "the server sent an AUTH challenge for {}, which this tool cannot answer",
            self.method
        ))
    }

    fn finish(&self, _data: Option<&[u8]>) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn words_are_dealt_back_to_their_commands() {
        let parsed = parse(
            Tool::Pub,
            &words("connect publish publish will"),
            &words(
                "receive-maximum 5 user-property k v content-type text/plain will-delay-interval 9",
            ),
        )
        .expect("valid");
        assert_eq!(parsed.connect.receive_maximum, Some(5));
        assert_eq!(parsed.publish.user_properties, [("k".into(), "v".into())]);
        assert_eq!(parsed.publish.content_type.as_deref(), Some("text/plain"));
        assert_eq!(parsed.will.will_delay_interval, Some(9));
    }

    #[test]
    fn errors_are_mosquittos() {
        let refuse = |tool, commands: &str, rest: &str| {
            parse(tool, &words(commands), &words(rest)).expect_err("refused")
        };
        assert_eq!(
            refuse(Tool::Pub, "connect", "content-type x"),
            "content-type property not allowed for connect in --property argument"
        );
        assert_eq!(
            refuse(Tool::Pub, "bogus", "user-property a b"),
            "Invalid command given in --property argument"
        );
        assert_eq!(
            refuse(Tool::Pub, "publish", "nonsense 1"),
            "Invalid property name given in --property argument"
        );
        assert_eq!(
            refuse(Tool::Pub, "publish", "user-property a"),
            "--property argument given but not enough arguments specified"
        );
        // Subscribing is mqtt-sub's, publishing mqtt-pub's.
        assert_eq!(
            refuse(Tool::Pub, "subscribe", "user-property a b"),
            "Invalid command given in --property argument"
        );
        assert_eq!(
            refuse(Tool::Sub, "publish", "content-type a"),
            "Invalid command given in --property argument"
        );
        assert!(refuse(Tool::Pub, "publish", "message-expiry-interval abc").contains("32-bit"));
    }

    #[test]
    fn sub_takes_subscribe_and_unsubscribe_user_properties() {
        let parsed = parse(
            Tool::Sub,
            &words("subscribe unsubscribe disconnect"),
            &words("user-property a 1 user-property b 2 session-expiry-interval 0"),
        )
        .expect("valid");
        assert_eq!(parsed.subscribe, [("a".into(), "1".into())]);
        assert_eq!(parsed.unsubscribe, [("b".into(), "2".into())]);
        assert_eq!(parsed.disconnect.session_expiry_interval, Some(0));
    }

    #[test]
    fn authentication_method_and_data_go_together() {
        let parsed = parse(
            Tool::Pub,
            &words("connect connect"),
            &words("authentication-data secret authentication-method PLAIN"),
        )
        .expect("valid");
        assert_eq!(
            parsed.authentication,
            Some(("PLAIN".into(), Some(b"secret".to_vec())))
        );
    }

    #[test]
    fn session_expiry_reads_never_as_mosquitto_does() {
        assert_eq!(session_expiry("-1"), Ok(u32::MAX));
        assert_eq!(session_expiry("∞"), Ok(u32::MAX));
        assert_eq!(session_expiry("4294967295"), Ok(u32::MAX));
        assert_eq!(session_expiry("30"), Ok(30));
        assert!(session_expiry("soon").is_err());
    }
}

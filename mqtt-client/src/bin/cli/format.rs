//! `mqtt-sub -F`: a message printed as a format string says, with mosquitto_sub's specifiers
//! (`%t %p %x %X %l %q %r %m %I %U %j`, and at MQTT 5.0 `%A %C %D %E %F %P %R %S`), its flags and
//! field widths (`%-10t`, `%05l`, `%.3t`), its backslash escapes, and its `%j` JSON object laid
//! out as cJSON lays it out (`--pretty` included).
//!
//! Pure: a message and the time in, bytes out.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use mqtt_client::Message;

/// Formats `message` as the `-F` format string says; see `SubArgs` for the specifiers, with `%j`
/// indented over several lines when `pretty` (`--pretty`). Unknown specifiers are printed as they
/// are (mosquitto 1.x did so; 2.0 refuses the whole format).
pub(crate) fn format_message_with(
    format: &str,
    message: &Message,
    now: SystemTime,
    pretty: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '%' => {
                let spec = Spec::read(&mut chars);
                match spec
                    .conversion
                    .and_then(|conversion| field(conversion, message, now, pretty))
                {
                    Some(value) => spec.pad(value, &mut out),
                    // Unknown or missing: printed as written.
                    None => {
                        out.push(b'%');
                        out.extend_from_slice(spec.written.as_bytes());
                    }
                }
            }
            '\\' => match chars.next() {
                Some('n') => out.push(b'\n'),
                Some('t') => out.push(b'\t'),
                Some('r') => out.push(b'\r'),
                Some('0') => out.push(0),
                Some('a') => out.push(0x07),
                Some('e') => out.push(0x1b),
                Some('v') => out.push(0x0b),
                Some('\\') => out.push(b'\\'),
                Some(other) => {
                    out.push(b'\\');
                    let mut buffer = [0; 4];
                    out.extend_from_slice(other.encode_utf8(&mut buffer).as_bytes());
                }
                None => out.push(b'\\'),
            },
            other => {
                let mut buffer = [0; 4];
                out.extend_from_slice(other.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    out
}

/// The value of conversion `conversion` for `message`, or `None` for a letter mosquitto_sub does
/// not know.
fn field(conversion: char, message: &Message, now: SystemTime, pretty: bool) -> Option<Vec<u8>> {
    let text = |value: Option<&String>| value.map_or_else(Vec::new, |v| v.as_bytes().to_vec());
    let number = |value: Option<u32>| value.map_or_else(Vec::new, |v| v.to_string().into_bytes());
    let properties = &message.properties;
    Some(match conversion {
        '%' => b"%".to_vec(),
        't' => message.topic.as_bytes().to_vec(),
        'p' => message.payload.clone(),
        'x' => hex(&message.payload, false).into_bytes(),
        'X' => hex(&message.payload, true).into_bytes(),
        'l' => message.payload.len().to_string().into_bytes(),
        'q' => message.qos.bits().to_string().into_bytes(),
        'r' => vec![if message.retain { b'1' } else { b'0' }],
        'm' => message.packet_id.unwrap_or(0).to_string().into_bytes(),
        'I' => iso8601(now, false).into_bytes(),
        'U' => {
            let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            format!("{}.{:09}", since.as_secs(), since.subsec_nanos()).into_bytes()
        }
        'j' => json(message, now, pretty).into_bytes(),
        // The MQTT 5.0 properties, as mosquitto_sub prints them: nothing when absent.
        'A' => number(properties.topic_alias.map(u32::from)),
        'C' => text(properties.content_type.as_ref()),
        'D' => properties.correlation_data.clone().unwrap_or_default(),
        'E' => number(properties.message_expiry_interval),
        'F' => number(properties.payload_format_indicator.map(u32::from)),
        'P' => {
            let pairs: Vec<String> = properties
                .user_properties
                .iter()
                .map(|(name, value)| format!("{name}:{value}"))
                .collect();
            pairs.join(" ").into_bytes()
        }
        'R' => text(properties.response_topic.as_ref()),
        // The first identifier, as mosquitto_sub reads it.
        'S' => number(properties.subscription_identifiers.first().copied()),
        _ => return None,
    })
}

/// What follows a `%`: mosquitto_sub's flags (`-` left-align, `0` zero-pad), a minimum field
/// width, a maximum width after `.`, and the conversion letter.
struct Spec {
    left: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
    conversion: Option<char>,
    /// The characters read after `%`, for printing an unknown specifier as written.
    written: String,
}

/// The conversions a width applies to, those `0` pads, and those a maximum width cuts, as
/// mosquitto_sub's manual lists them (the others print their value alone).
const WIDTH: &str = "ACEFIlmpRStxX";
const ZERO: &str = "AEFlmSXx";
const PRECISION: &str = "CIRt";

impl Spec {
    fn read(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Self {
        let mut spec = Self {
            left: false,
            zero: false,
            width: 0,
            precision: None,
            conversion: None,
            written: String::new(),
        };
        while let Some(&flag @ ('-' | '0')) = chars.peek() {
            spec.left |= flag == '-';
            spec.zero |= flag == '0';
            spec.written.push(flag);
            chars.next();
        }
        spec.width = Self::number(chars, &mut spec.written);
        if chars.peek() == Some(&'.') {
            spec.written.push('.');
            chars.next();
            spec.precision = Some(Self::number(chars, &mut spec.written));
        }
        spec.conversion = chars.next();
        if let Some(conversion) = spec.conversion {
            spec.written.push(conversion);
        }
        spec
    }

    fn number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, written: &mut String) -> usize {
        let mut value: usize = 0;
        while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
            written.extend(chars.next());
            value = value.saturating_mul(10).saturating_add(digit as usize);
        }
        value
    }

    /// Writes `value` cut to the maximum width and padded to the minimum one, where the
    /// conversion takes them.
    fn pad(&self, mut value: Vec<u8>, out: &mut Vec<u8>) {
        let Some(conversion) = self.conversion else {
            return out.extend_from_slice(&value);
        };
        if !WIDTH.contains(conversion) {
            return out.extend_from_slice(&value);
        }
        if let Some(maximum) = self.precision
            && PRECISION.contains(conversion)
        {
            value.truncate(maximum);
        }
        let fill = self.width.saturating_sub(value.len());
        if self.left {
            out.extend_from_slice(&value);
            out.resize(out.len() + fill, b' ');
        } else {
            let pad = if self.zero && ZERO.contains(conversion) {
                b'0'
            } else {
                b' '
            };
            out.resize(out.len() + fill, pad);
            out.extend_from_slice(&value);
        }
    }
}

fn hex(bytes: &[u8], upper: bool) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = if upper {
            write!(text, "{byte:02X}")
        } else {
            write!(text, "{byte:02x}")
        };
    }
    text
}

/// `%j`: mosquitto's JSON object, with its members in its order; an empty payload is `null`, as
/// there. A payload that is not UTF-8 is given in hex under `payload_hex` (mosquitto prints the
/// bytes as they are, which is not JSON). `pretty` lays it out as mosquitto's `--pretty` does: one
/// member a line, a tab before each and after each colon.
fn json(message: &Message, now: SystemTime, pretty: bool) -> String {
    let payload = match std::str::from_utf8(&message.payload) {
        Ok("") => ("payload", "null".to_owned()),
        Ok(text) => ("payload", json_string(text)),
        Err(_) => (
            "payload_hex",
            format!("\"{}\"", hex(&message.payload, false)),
        ),
    };
    let mut members = vec![
        ("tst", format!("\"{}\"", iso8601(now, true))),
        ("topic", json_string(&message.topic)),
        ("qos", message.qos.bits().to_string()),
        ("retain", u8::from(message.retain).to_string()),
        ("payloadlen", message.payload.len().to_string()),
    ];
    let properties = json_properties(&message.properties, pretty);
    if !properties.is_empty() {
        members.push(("properties", json_object(&properties, pretty, 1)));
    }
    members.push(payload);
    json_object(&members, pretty, 0)
}

/// A JSON object of `members` (already encoded values), laid out as cJSON does: on one line, or
/// with `pretty` one member a line, indented by tabs to `depth`.
fn json_object(members: &[(&str, String)], pretty: bool, depth: usize) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(key, value)| {
            if pretty {
                format!("{}\"{key}\":\t{value}", "\t".repeat(depth + 1))
            } else {
                format!("\"{key}\":{value}")
            }
        })
        .collect();
    if pretty {
        format!("{{\n{}\n{}}}", members.join(",\n"), "\t".repeat(depth))
    } else {
        format!("{{{}}}", members.join(","))
    }
}

/// The `"properties"` members of `%j`, named and ordered as mosquitto_sub prints what mosquitto
/// forwards (user properties first, as one object keeping duplicate names).
fn json_properties(
    properties: &mqtt_client::v5::PublishProperties,
    pretty: bool,
) -> Vec<(&'static str, String)> {
    let mut members = Vec::new();
    if !properties.user_properties.is_empty() {
        // `json_object` writes keys as given, so a name is escaped (its quotes dropped) here.
        let escaped: Vec<(String, String)> = properties
            .user_properties
            .iter()
            .map(|(name, value)| {
                let key = json_string(name);
                let inner = key.get(1..key.len() - 1).unwrap_or_default().to_owned();
                (inner, json_string(value))
            })
            .collect();
        let pairs: Vec<(&str, String)> = escaped
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone()))
            .collect();
        members.push(("user-properties", json_object(&pairs, pretty, 2)));
    }
    if let Some(content_type) = &properties.content_type {
        members.push(("content-type", json_string(content_type)));
    }
    if let Some(topic) = &properties.response_topic {
        members.push(("response-topic", json_string(topic)));
    }
    if let Some(data) = &properties.correlation_data {
        members.push((
            "correlation-data",
            json_string(&String::from_utf8_lossy(data)),
        ));
    }
    if let Some(indicator) = properties.payload_format_indicator {
        members.push(("payload-format-indicator", indicator.to_string()));
    }
    if let Some(expiry) = properties.message_expiry_interval {
        members.push(("message-expiry-interval", expiry.to_string()));
    }
    for id in &properties.subscription_identifiers {
        members.push(("subscription-identifier", id.to_string()));
    }
    if let Some(alias) = properties.topic_alias {
        members.push(("topic-alias", alias.to_string()));
    }
    members
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `now` in ISO 8601, in UTC (this crate has no time zone database): `2016-08-10T09:47:38+0000`,
/// with microseconds when `micros` is set.
fn iso8601(now: SystemTime, micros: bool) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let time = seconds % 86_400;
    let (hour, minute, second) = (time / 3600, time / 60 % 60, time % 60);
    let fraction = if micros {
        format!(".{:06}", since.subsec_micros())
    } else {
        String::new()
    };
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}+0000")
}

/// The Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn widths_and_flags_are_mosquitto_subs() {
        let mut message = message();
        message.topic = "ab/cdef".into();
        message.payload = b"hey".to_vec();
        message.packet_id = Some(0);
        message.qos = QoS::AtMostOnce;
        message.retain = false;
        let epoch = UNIX_EPOCH + Duration::from_secs(1_470_822_458);
        let format = "[%10t][%-10t][%05l][%-05l][%.3t][%6.3t][%-6.3t][%3p][%5q][%5r][%5%][%05m][%-3l][%.2p][%3.1I]";
        // As mosquitto_sub 2.0.11 printed this message with this format.
        assert_eq!(
            String::from_utf8(format_message(format, &message, epoch)).expect("utf-8"),
            "[   ab/cdef][ab/cdef   ][00003][3    ][ab/][   ab/][ab/   ][hey][0][0][%][00000][3  ][hey][  2]"
        );
        // mosquitto_sub 2.0.11 prints only the first byte of the payload for `%08x` ("00000068");
        // here the whole payload's hex is padded.
        assert_eq!(format_message("%08x", &message, epoch), b"00686579");
        // An unknown letter keeps its flags and width as written.
        assert_eq!(format_message("%-5z|%", &message, epoch), b"%-5z|%");
    }

    use std::time::Duration;

    use super::*;
    use mqtt_client::QoS;

    /// One-line output, as without `--pretty`.
    fn format_message(format: &str, message: &Message, now: SystemTime) -> Vec<u8> {
        format_message_with(format, message, now, false)
    }

    fn message() -> Message {
        Message {
            topic: "a/b".into(),
            payload: b"hi \"you\"".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            dup: false,
            packet_id: Some(42),
            properties: mqtt_client::v5::PublishProperties::default(),
        }
    }

    #[test]
    fn format_specifiers() {
        let message = message();
        let epoch = UNIX_EPOCH + Duration::from_secs(1_470_822_458);
        let format =
            |spec: &str| String::from_utf8(format_message(spec, &message, epoch)).expect("utf-8");
        assert_eq!(format("%t|%p|%q|%r|%m|%l"), "a/b|hi \"you\"|1|1|42|8");
        assert_eq!(format("%x"), "68692022796f7522");
        assert_eq!(format("%X"), "68692022796F7522");
        assert_eq!(format("%I"), "2016-08-10T09:47:38+0000");
        assert_eq!(format("%U"), "1470822458.000000000");
        assert_eq!(format("100%% %z"), "100% %z");
        assert_eq!(format("a\\tb\\n"), "a\tb\n");
        assert_eq!(
            format("%j"),
            "{\"tst\":\"2016-08-10T09:47:38.000000+0000\",\"topic\":\"a/b\",\"qos\":1,\"retain\":1,\"payloadlen\":8,\"payload\":\"hi \\\"you\\\"\"}"
        );
    }

    #[test]
    fn json_has_payloadlen_null_for_empty_and_a_pretty_layout() {
        let epoch = UNIX_EPOCH + Duration::from_secs(1_470_822_458);
        let empty = Message {
            payload: Vec::new(),
            ..message()
        };
        let text = |message: &Message, pretty| {
            String::from_utf8(format_message_with("%j", message, epoch, pretty)).expect("utf-8")
        };
        assert!(
            text(&empty, false).ends_with(",\"payloadlen\":0,\"payload\":null}"),
            "{}",
            text(&empty, false)
        );
        assert_eq!(
            text(&message(), true),
            "{\n\t\"tst\":\t\"2016-08-10T09:47:38.000000+0000\",\n\t\"topic\":\t\"a/b\",\n\t\"qos\":\t1,\n\t\"retain\":\t1,\n\t\"payloadlen\":\t8,\n\t\"payload\":\t\"hi \\\"you\\\"\"\n}"
        );
    }

    #[test]
    fn properties_in_formats_are_mosquittos() {
        let mut message = message();
        message.properties = mqtt_client::v5::PublishProperties {
            content_type: Some("text/plain".into()),
            correlation_data: Some(b"cd".to_vec()),
            message_expiry_interval: Some(30),
            payload_format_indicator: Some(1),
            response_topic: Some("r/1".into()),
            user_properties: vec![("k1".into(), "v1".into()), ("k2".into(), "v2".into())],
            subscription_identifiers: vec![4, 9],
            topic_alias: None,
            will_delay_interval: None,
        };
        let now = UNIX_EPOCH;
        let line = format_message("[%A|%C|%D|%E|%F|%P|%R|%S]", &message, now);
        // As mosquitto_sub 2.0.11 printed this message (with %S from its first identifier).
        assert_eq!(
            String::from_utf8_lossy(&line),
            "[|text/plain|cd|30|1|k1:v1 k2:v2|r/1|4]"
        );
        // A message without properties prints them as nothing.
        let plain = format_message("[%C%P%S]", &self::message(), now);
        assert_eq!(plain, b"[]");
        let json = String::from_utf8_lossy(&format_message("%j", &message, now)).into_owned();
        assert!(
            json.contains(r#""payloadlen":8,"properties":{"user-properties":{"k1":"v1","k2":"v2"},"content-type":"text/plain","response-topic":"r/1","correlation-data":"cd","payload-format-indicator":1,"message-expiry-interval":30,"subscription-identifier":4,"subscription-identifier":9},"payload":"#),
            "{json}"
        );
    }

    #[test]
    fn pretty_json_nests_properties_as_cjson_does() {
        let mut message = message();
        message.properties.user_properties = vec![("k1".into(), "v1".into())];
        message.properties.message_expiry_interval = Some(30);
        let json = String::from_utf8_lossy(&format_message_with("%j", &message, UNIX_EPOCH, true))
            .into_owned();
        assert!(
            json.contains("\t\"properties\":\t{\n\t\t\"user-properties\":\t{\n\t\t\t\"k1\":\t\"v1\"\n\t\t},\n\t\t\"message-expiry-interval\":\t30\n\t},\n"),
            "{json}"
        );
    }

    #[test]
    fn dates_across_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}

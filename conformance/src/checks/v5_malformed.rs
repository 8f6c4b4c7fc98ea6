//! MQTT 5.0 Malformed Packets and Protocol Errors (5.0 §1.5, §2.1.3, §4.13): hostile bytes, written
//! out here by hand since no codec would write them, and the closed connection each must get. A
//! refused CONNECT may first get CONNACK with a Reason Code of 0x80 or above; a packet after CONNACK
//! may first get DISCONNECT with one ([`expect_error_close`]).

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::v5_common::{clean, expect_error_close, expect_refused_connect};
use crate::client::TestClient;
use crate::wire::{self, SURROGATE, flags};

const SECTION_CONNECT: &str = "MQTT5 3.1 CONNECT (malformed)";
const SECTION: &str = "MQTT5 4.13 Handling errors";

/// A hostile CONNECT: its connect flags, its property bytes (after the Property Length, which is
/// written from their length unless `property_length` says otherwise), and payload fields.
struct RawConnect<'a> {
    flags: u8,
    properties: &'a [u8],
    property_length: Option<&'a [u8]>,
    payload: Vec<u8>,
}

impl RawConnect<'_> {
    fn bytes(&self, context: &Context) -> Vec<u8> {
        let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05];
        let mut flags = self.flags;
        if context.user_name.is_some() {
            flags |= flags::USER_NAME;
        }
        if context.password.is_some() {
            flags |= flags::PASSWORD;
        }
        body.push(flags);
        body.extend_from_slice(&60u16.to_be_bytes());
        match self.property_length {
            Some(length) => body.extend_from_slice(length),
            // Every hostile property set here is shorter than 128 bytes: a one-byte length.
            None => body.push(self.properties.len() as u8),
        }
        body.extend_from_slice(self.properties);
        body.extend_from_slice(&self.payload);
        if let Some(user_name) = &context.user_name {
            body.extend(wire::field(user_name.as_bytes()));
        }
        if let Some(password) = &context.password {
            body.extend(wire::field(password.as_bytes()));
        }
        wire::packet(0x10, &body)
    }
}

/// A client identifier field.
fn id_field(context: &Context) -> Vec<u8> {
    wire::field(context.client_id().as_bytes())
}

/// The Will part of a payload: no Will Properties, a topic and a message.
fn will_fields(topic: &str) -> Vec<u8> {
    let mut out = vec![0x00];
    out.extend(wire::field(topic.as_bytes()));
    out.extend(wire::field(b"will"));
    out
}

macro_rules! connect_check {
    ($name:literal, $ids:expr, $summary:literal, $run:ident) => {
        Check {
            name: $name,
            section: SECTION_CONNECT,
            ids: $ids,
            summary: $summary,
            applies: Applies::V5,
            run: $run,
        }
    };
}

macro_rules! packet_check {
    ($name:literal, $ids:expr, $summary:literal, $run:ident) => {
        Check {
            name: $name,
            section: SECTION,
            ids: $ids,
            summary: $summary,
            applies: Applies::V5,
            run: $run,
        }
    };
}

pub(crate) const CHECKS: &[Check] = &[
    connect_check!(
        "v5-reserved-connect-flag",
        &["MQTT5-3.1.2-3", "MQTT5-3.1.4-1", "MQTT5-3.2.2-7"],
        "a CONNECT with the reserved flag set is refused and the connection closed",
        reserved_connect_flag
    ),
    connect_check!(
        "v5-connect-property-not-allowed",
        &["MQTT5-3.1.4-1", "MQTT5-3.2.2-7", "MQTT5-4.13.1-1"],
        "a CONNECT carrying a Topic Alias (a PUBLISH property) is refused",
        connect_property_not_allowed
    ),
    connect_check!(
        "v5-connect-duplicate-property",
        &["MQTT5-3.1.4-1", "MQTT5-3.2.2-7", "MQTT5-4.13.1-1"],
        "a CONNECT with Session Expiry Interval twice is refused",
        connect_duplicate_property
    ),
    connect_check!(
        "v5-connect-property-length-overrun",
        &["MQTT5-3.1.4-1", "MQTT5-4.13.1-1"],
        "a CONNECT whose Property Length runs past the packet is refused",
        connect_property_length_overrun
    ),
    connect_check!(
        "v5-non-minimal-variable-byte-integer",
        &["MQTT5-1.5.5-1", "MQTT5-3.1.4-1"],
        "a Property Length written in two bytes where one does (80 00) is malformed",
        non_minimal_variable_byte_integer
    ),
    connect_check!(
        "v5-will-qos-3",
        &["MQTT5-3.1.2-12", "MQTT5-3.1.4-1"],
        "a CONNECT with Will QoS 3 is refused",
        will_qos_3
    ),
    connect_check!(
        "v5-will-bits-without-will",
        &["MQTT5-3.1.2-11", "MQTT5-3.1.2-13"],
        "Will QoS or Will Retain set without the Will flag is refused",
        will_bits_without_will
    ),
    connect_check!(
        "v5-client-id-invalid-utf8",
        &["MQTT5-1.5.4-1", "MQTT5-3.1.3-4"],
        "a Client Identifier holding a UTF-16 surrogate is refused",
        client_id_invalid_utf8
    ),
    connect_check!(
        "v5-user-property-null-character",
        &["MQTT5-1.5.4-2", "MQTT5-1.5.7-1"],
        "a CONNECT User Property whose value contains U+0000 is refused",
        user_property_null_character
    ),
    connect_check!(
        "v5-will-flag-without-will-fields",
        &["MQTT5-3.1.2-9", "MQTT5-3.1.4-1"],
        "a CONNECT with the Will flag and no Will Properties, Topic or Payload is refused",
        will_flag_without_will_fields
    ),
    connect_check!(
        "v5-user-name-flag-without-user-name",
        &["MQTT5-3.1.2-17", "MQTT5-3.1.4-1"],
        "a CONNECT with the User Name flag and no User Name is refused",
        user_name_flag_without_user_name
    ),
    connect_check!(
        "v5-password-flag-without-password",
        &["MQTT5-3.1.2-19", "MQTT5-3.1.4-1"],
        "a CONNECT with the Password flag and no Password is refused",
        password_flag_without_password
    ),
    connect_check!(
        "v5-user-name-without-flag",
        &["MQTT5-3.1.2-16", "MQTT5-3.1.2-18", "MQTT5-3.1.4-1"],
        "a CONNECT with a User Name after the Client Identifier but neither flag set is refused",
        user_name_without_flag
    ),
    connect_check!(
        "v5-will-topic-invalid-utf8",
        &["MQTT5-3.1.3-11", "MQTT5-1.5.4-1"],
        "a Will Topic holding a surrogate is refused",
        will_topic_invalid_utf8
    ),
    connect_check!(
        "v5-user-name-invalid-utf8",
        &["MQTT5-3.1.3-12", "MQTT5-1.5.4-1"],
        "a User Name holding a surrogate is refused",
        user_name_invalid_utf8
    ),
    packet_check!(
        "v5-publish-qos-3",
        &["MQTT5-3.3.1-4", "MQTT5-4.13.1-1"],
        "a PUBLISH with both QoS bits set closes the connection",
        publish_qos_3
    ),
    packet_check!(
        "v5-publish-wildcard-topic",
        &["MQTT5-3.3.2-2", "MQTT5-4.7.0-1"],
        "a PUBLISH to a topic with a wildcard closes the connection",
        publish_wildcard_topic
    ),
    packet_check!(
        "v5-publish-invalid-utf8-topic",
        &["MQTT5-1.5.4-1", "MQTT5-3.3.2-1"],
        "a PUBLISH whose topic holds a surrogate closes the connection",
        publish_invalid_utf8_topic
    ),
    packet_check!(
        "v5-publish-property-not-allowed",
        &["MQTT5-4.13.1-1"],
        "a PUBLISH carrying a Session Expiry Interval (a CONNECT property) closes the connection",
        publish_property_not_allowed
    ),
    packet_check!(
        "v5-publish-empty-topic-without-alias",
        &["MQTT5-4.7.3-1", "MQTT5-3.3.2-1"],
        "a PUBLISH with an empty topic and no Topic Alias closes the connection",
        publish_empty_topic_without_alias
    ),
    packet_check!(
        "v5-publish-null-in-topic",
        &["MQTT5-4.7.3-2", "MQTT5-1.5.4-2"],
        "a PUBLISH whose topic contains U+0000 closes the connection",
        publish_null_in_topic
    ),
    packet_check!(
        "v5-content-type-invalid-utf8",
        &["MQTT5-3.3.2-19", "MQTT5-1.5.4-1"],
        "a PUBLISH whose Content Type holds a surrogate closes the connection",
        content_type_invalid_utf8
    ),
    packet_check!(
        "v5-response-topic-invalid-utf8",
        &["MQTT5-3.3.2-13", "MQTT5-1.5.4-1"],
        "a PUBLISH whose Response Topic holds a surrogate closes the connection",
        response_topic_invalid_utf8
    ),
    packet_check!(
        "v5-response-topic-wildcard",
        &["MQTT5-3.3.2-14", "MQTT5-4.13.1-1"],
        "a PUBLISH whose Response Topic holds '+' closes the connection",
        response_topic_wildcard
    ),
    packet_check!(
        "v5-subscribe-invalid-utf8",
        &["MQTT5-3.8.3-1", "MQTT5-1.5.4-1"],
        "a SUBSCRIBE whose filter holds a surrogate closes the connection",
        subscribe_invalid_utf8
    ),
    packet_check!(
        "v5-unsubscribe-invalid-utf8",
        &["MQTT5-3.10.3-1", "MQTT5-1.5.4-1"],
        "an UNSUBSCRIBE whose filter holds a surrogate closes the connection",
        unsubscribe_invalid_utf8
    ),
    packet_check!(
        "v5-pubrel-reserved-flags",
        &["MQTT5-3.6.1-1", "MQTT5-2.1.3-1"],
        "a PUBREL with flags 0000 instead of 0010 closes the connection",
        pubrel_reserved_flags
    ),
    packet_check!(
        "v5-subscribe-reserved-flags",
        &["MQTT5-3.8.1-1", "MQTT5-2.1.3-1"],
        "a SUBSCRIBE with flags 0000 instead of 0010 closes the connection",
        subscribe_reserved_flags
    ),
    packet_check!(
        "v5-subscribe-reserved-option-bits",
        &["MQTT5-3.8.3-5"],
        "a SUBSCRIBE whose options set a reserved bit closes the connection",
        subscribe_reserved_option_bits
    ),
    packet_check!(
        "v5-subscribe-no-filters",
        &["MQTT5-3.8.3-2"],
        "a SUBSCRIBE with no Topic Filter closes the connection",
        subscribe_no_filters
    ),
    packet_check!(
        "v5-unsubscribe-reserved-flags",
        &["MQTT5-3.10.1-1"],
        "an UNSUBSCRIBE with flags 0000 instead of 0010 closes the connection",
        unsubscribe_reserved_flags
    ),
    packet_check!(
        "v5-unsubscribe-no-filters",
        &["MQTT5-3.10.3-2"],
        "an UNSUBSCRIBE with no Topic Filter closes the connection",
        unsubscribe_no_filters
    ),
    packet_check!(
        "v5-disconnect-reserved-flags",
        &["MQTT5-3.14.1-1"],
        "a DISCONNECT with flags 0001 closes the connection",
        disconnect_reserved_flags
    ),
    packet_check!(
        "v5-auth-reserved-flags",
        &["MQTT5-3.15.1-1"],
        "an AUTH with flags 0001 closes the connection",
        auth_reserved_flags
    ),
];

/// Sends a hostile CONNECT and expects it refused.
fn refused(context: &Context, connect: &RawConnect<'_>) -> Result<Verdict, String> {
    let mut client = TestClient::open(context)?;
    client.send(&connect.bytes(context))?;
    expect_refused_connect(&mut client)?;
    Ok(Verdict::Pass)
}

fn reserved_connect_flag(context: &Context) -> Result<Verdict, String> {
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION | 0x01,
            properties: &[],
            property_length: None,
            payload: id_field(context),
        },
    )
}

fn connect_property_not_allowed(context: &Context) -> Result<Verdict, String> {
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION,
            properties: &[0x23, 0x00, 0x01],
            property_length: None,
            payload: id_field(context),
        },
    )
}

fn connect_duplicate_property(context: &Context) -> Result<Verdict, String> {
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION,
            properties: &[0x11, 0, 0, 0, 10, 0x11, 0, 0, 0, 20],
            property_length: None,
            payload: id_field(context),
        },
    )
}

fn connect_property_length_overrun(context: &Context) -> Result<Verdict, String> {
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION,
            properties: &[],
            // 100 bytes of properties are announced; the client identifier is all that follows.
            property_length: Some(&[100]),
            payload: id_field(context),
        },
    )
}

fn non_minimal_variable_byte_integer(context: &Context) -> Result<Verdict, String> {
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION,
            properties: &[],
            property_length: Some(&[0x80, 0x00]),
            payload: id_field(context),
        },
    )
}

fn will_qos_3(context: &Context) -> Result<Verdict, String> {
    let mut payload = id_field(context);
    payload.extend(will_fields(&context.topic("will")));
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION | flags::WILL | flags::WILL_QOS_1 | flags::WILL_QOS_2,
            properties: &[],
            property_length: None,
            payload,
        },
    )
}

fn will_bits_without_will(context: &Context) -> Result<Verdict, String> {
    for bits in [flags::WILL_QOS_1, flags::WILL_RETAIN] {
        let verdict = refused(
            context,
            &RawConnect {
                flags: flags::CLEAN_SESSION | bits,
                properties: &[],
                property_length: None,
                payload: id_field(context),
            },
        )
        .map_err(|error| {
            format!(
                "connect flags {:#04x}: {error}",
                flags::CLEAN_SESSION | bits
            )
        })?;
        if verdict != Verdict::Pass {
            return Ok(verdict);
        }
    }
    Ok(Verdict::Pass)
}

fn client_id_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let mut id = context.client_id().into_bytes();
    id.extend_from_slice(&SURROGATE);
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION,
            properties: &[],
            property_length: None,
            payload: wire::field(&id),
        },
    )
}

fn user_property_null_character(context: &Context) -> Result<Verdict, String> {
    // User Property (0x26): the name "k", the value "a", U+0000, "b".
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION,
            properties: &[0x26, 0x00, 0x01, b'k', 0x00, 0x03, b'a', 0x00, b'b'],
            property_length: None,
            payload: id_field(context),
        },
    )
}

/// Connects cleanly, sends `bytes`, and expects the connection closed.
fn closes(context: &Context, bytes: &[u8]) -> Result<Verdict, String> {
    let mut client = clean(context, &context.client_id())?;
    client.send(bytes)?;
    expect_error_close(&mut client)?;
    Ok(Verdict::Pass)
}

/// A QoS 0 PUBLISH body of a raw topic, an empty property set and a payload.
fn publish_body(topic: &[u8]) -> Vec<u8> {
    let mut body = wire::field(topic);
    body.push(0x00);
    body.extend_from_slice(b"x");
    body
}

fn publish_qos_3(context: &Context) -> Result<Verdict, String> {
    let mut body = wire::field(context.topic("q3").as_bytes());
    body.extend_from_slice(&[0x00, 0x01, 0x00]);
    body.extend_from_slice(b"x");
    closes(context, &wire::packet(0x36, &body))
}

fn publish_wildcard_topic(context: &Context) -> Result<Verdict, String> {
    let topic = format!("{}/+", context.topic("wild"));
    closes(
        context,
        &wire::packet(0x30, &publish_body(topic.as_bytes())),
    )
}

fn publish_invalid_utf8_topic(context: &Context) -> Result<Verdict, String> {
    let mut topic = context.topic("bad").into_bytes();
    topic.extend_from_slice(&SURROGATE);
    closes(context, &wire::packet(0x30, &publish_body(&topic)))
}

fn publish_property_not_allowed(context: &Context) -> Result<Verdict, String> {
    let mut body = wire::field(context.topic("prop").as_bytes());
    body.extend_from_slice(&[0x05, 0x11, 0, 0, 0, 10]);
    body.extend_from_slice(b"x");
    closes(context, &wire::packet(0x30, &body))
}

fn pubrel_reserved_flags(context: &Context) -> Result<Verdict, String> {
    closes(context, &[0x60, 0x02, 0x00, 0x01])
}

fn subscribe_body(context: &Context, options: u8) -> Vec<u8> {
    let mut body = vec![0x00, 0x01, 0x00];
    body.extend(wire::field(context.topic("s").as_bytes()));
    body.push(options);
    body
}

fn subscribe_reserved_flags(context: &Context) -> Result<Verdict, String> {
    closes(context, &wire::packet(0x80, &subscribe_body(context, 0x01)))
}

fn subscribe_reserved_option_bits(context: &Context) -> Result<Verdict, String> {
    closes(context, &wire::packet(0x82, &subscribe_body(context, 0x41)))
}

fn subscribe_no_filters(context: &Context) -> Result<Verdict, String> {
    closes(context, &wire::packet(0x82, &[0x00, 0x01, 0x00]))
}

fn unsubscribe_reserved_flags(context: &Context) -> Result<Verdict, String> {
    let mut body = vec![0x00, 0x01, 0x00];
    body.extend(wire::field(context.topic("u").as_bytes()));
    closes(context, &wire::packet(0xA0, &body))
}

fn unsubscribe_no_filters(context: &Context) -> Result<Verdict, String> {
    closes(context, &wire::packet(0xA2, &[0x00, 0x01, 0x00]))
}

fn disconnect_reserved_flags(context: &Context) -> Result<Verdict, String> {
    closes(context, &[0xE1, 0x00])
}

fn auth_reserved_flags(context: &Context) -> Result<Verdict, String> {
    closes(context, &[0xF1, 0x00])
}

/// The checks that leave out or add a credential field need the run to have none of its own.
fn without_credentials(context: &Context) -> Option<Verdict> {
    (context.user_name.is_some() || context.password.is_some()).then(|| {
        Verdict::Skip(
            "the run has credentials, which fill the fields this check leaves out".to_owned(),
        )
    })
}

fn will_flag_without_will_fields(context: &Context) -> Result<Verdict, String> {
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION | flags::WILL,
            properties: &[],
            property_length: None,
            payload: id_field(context),
        },
    )
}

fn user_name_flag_without_user_name(context: &Context) -> Result<Verdict, String> {
    if let Some(skip) = without_credentials(context) {
        return Ok(skip);
    }
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION | flags::USER_NAME,
            properties: &[],
            property_length: None,
            payload: id_field(context),
        },
    )
}

fn password_flag_without_password(context: &Context) -> Result<Verdict, String> {
    if let Some(skip) = without_credentials(context) {
        return Ok(skip);
    }
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION | flags::PASSWORD,
            properties: &[],
            property_length: None,
            payload: id_field(context),
        },
    )
}

fn user_name_without_flag(context: &Context) -> Result<Verdict, String> {
    if let Some(skip) = without_credentials(context) {
        return Ok(skip);
    }
    let mut payload = id_field(context);
    payload.extend(wire::field(b"user"));
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION,
            properties: &[],
            property_length: None,
            payload,
        },
    )
}

fn will_topic_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let mut topic = context.topic("will").into_bytes();
    topic.extend_from_slice(&SURROGATE);
    let mut payload = id_field(context);
    payload.push(0x00);
    payload.extend(wire::field(&topic));
    payload.extend(wire::field(b"will"));
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION | flags::WILL,
            properties: &[],
            property_length: None,
            payload,
        },
    )
}

fn user_name_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    if let Some(skip) = without_credentials(context) {
        return Ok(skip);
    }
    let mut payload = id_field(context);
    let mut name = b"user".to_vec();
    name.extend_from_slice(&SURROGATE);
    payload.extend(wire::field(&name));
    refused(
        context,
        &RawConnect {
            flags: flags::CLEAN_SESSION | flags::USER_NAME,
            properties: &[],
            property_length: None,
            payload,
        },
    )
}

fn publish_empty_topic_without_alias(context: &Context) -> Result<Verdict, String> {
    closes(context, &wire::packet(0x30, &publish_body(b"")))
}

fn publish_null_in_topic(context: &Context) -> Result<Verdict, String> {
    let mut topic = context.topic("nul").into_bytes();
    topic.extend_from_slice(&[0x00, b'x']);
    closes(context, &wire::packet(0x30, &publish_body(&topic)))
}

/// A QoS 0 PUBLISH with one string property `id` whose value is `value`.
fn publish_with_string_property(context: &Context, id: u8, value: &[u8]) -> Vec<u8> {
    let mut properties = vec![id];
    properties.extend(wire::field(value));
    let mut body = wire::field(context.topic("prop").as_bytes());
    // Every property set here is shorter than 128 bytes: a one-byte Property Length.
    body.push(properties.len() as u8);
    body.extend(properties);
    body.extend_from_slice(b"x");
    wire::packet(0x30, &body)
}

fn content_type_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let mut value = b"text/".to_vec();
    value.extend_from_slice(&SURROGATE);
    closes(
        context,
        &publish_with_string_property(context, 0x03, &value),
    )
}

fn response_topic_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let mut value = context.topic("reply").into_bytes();
    value.extend_from_slice(&SURROGATE);
    closes(
        context,
        &publish_with_string_property(context, 0x08, &value),
    )
}

fn response_topic_wildcard(context: &Context) -> Result<Verdict, String> {
    let value = format!("{}/+", context.topic("replies"));
    closes(
        context,
        &publish_with_string_property(context, 0x08, value.as_bytes()),
    )
}

fn subscribe_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let mut filter = context.topic("s").into_bytes();
    filter.extend_from_slice(&SURROGATE);
    let mut body = vec![0x00, 0x01, 0x00];
    body.extend(wire::field(&filter));
    body.push(0x01);
    closes(context, &wire::packet(0x82, &body))
}

fn unsubscribe_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let mut filter = context.topic("u").into_bytes();
    filter.extend_from_slice(&SURROGATE);
    let mut body = vec![0x00, 0x01, 0x00];
    body.extend(wire::field(&filter));
    closes(context, &wire::packet(0xA2, &body))
}

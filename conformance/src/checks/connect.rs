//! Connection set-up: CONNECT and CONNACK (3.1.1 §3.1, §3.2; 3.1 §3.1, §3.2).

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::publish::{publish, publisher, subscriber};
use crate::client::TestClient;
use crate::wire::{self, ConnectSpec, flags, kind};

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "connect-accepted",
        section: "3.2 CONNACK",
        ids: &[
            "MQTT-3.1.4-4",
            "MQTT-3.2.0-1",
            "MQTT-3.2.2-1",
            "MQTT-2.2.2-1",
            "MQTT-7.1.1-1",
        ],
        summary: "a valid CONNECT with a clean session is answered first by CONNACK 0 (20 02 00 00) over TCP",
        applies: Applies::Both,
        run: connect_accepted,
    },
    Check {
        name: "first-packet-not-connect",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.0-1", "MQTT-4.8.0-1"],
        summary: "a connection whose first packet is not CONNECT is closed",
        applies: Applies::V311,
        run: first_packet_not_connect,
    },
    Check {
        name: "second-connect",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.0-2"],
        summary: "a second CONNECT on a connection closes it",
        applies: Applies::V311,
        run: second_connect,
    },
    Check {
        name: "invalid-protocol-name",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-1", "MQTT-3.1.4-1"],
        summary: "a CONNECT naming protocol 'MQTX' is closed without any CONNACK carrying 0",
        applies: Applies::V311,
        run: invalid_protocol_name,
    },
    Check {
        name: "unsupported-protocol-level",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-2", "MQTT-3.2.2-4", "MQTT-3.2.2-5"],
        summary: "protocol level 9 is answered CONNACK 0x01 with Session Present 0, then closed",
        applies: Applies::V311,
        run: unsupported_protocol_level,
    },
    Check {
        name: "reserved-connect-flag",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-3", "MQTT-3.1.4-1"],
        summary: "a CONNECT with the reserved flag set is closed without CONNACK",
        applies: Applies::V311,
        run: reserved_connect_flag,
    },
    Check {
        name: "will-qos-without-will",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-13", "MQTT-3.1.4-1"],
        summary: "Will QoS set while the Will Flag is 0 is malformed: closed without CONNACK",
        applies: Applies::V311,
        run: will_qos_without_will,
    },
    Check {
        name: "password-without-user-name",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-22", "MQTT-3.1.4-1"],
        summary: "a password without a user name is malformed: closed without a successful CONNACK",
        applies: Applies::V311,
        run: password_without_user_name,
    },
    Check {
        name: "will-qos-3",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-14", "MQTT-3.1.4-1"],
        summary: "a Will QoS of 3 is malformed: closed without a successful CONNACK",
        applies: Applies::V311,
        run: will_qos_3,
    },
    Check {
        name: "will-retain-without-will",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-15", "MQTT-3.1.2-11", "MQTT-3.1.4-1"],
        summary: "Will Retain set while the Will Flag is 0 is malformed: closed without a successful CONNACK",
        applies: Applies::V311,
        run: will_retain_without_will,
    },
    Check {
        name: "will-flag-without-will-fields",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-9", "MQTT-3.1.4-1"],
        summary: "a Will Flag with no Will Topic and Will Message in the payload is closed without a successful CONNACK",
        applies: Applies::V311,
        run: will_flag_without_will_fields,
    },
    Check {
        name: "user-name-flag-without-user-name",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-19", "MQTT-3.1.4-1"],
        summary: "a User Name Flag with no user name in the payload is closed without a successful CONNACK",
        applies: Applies::V311,
        run: user_name_flag_without_user_name,
    },
    Check {
        name: "password-flag-without-password",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-21", "MQTT-3.1.4-1"],
        summary: "a Password Flag with no password in the payload is closed without a successful CONNACK",
        applies: Applies::V311,
        run: password_flag_without_password,
    },
    Check {
        name: "user-name-without-flag",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.2-18", "MQTT-3.1.2-20", "MQTT-3.1.4-1"],
        summary: "a user name and password in the payload with both flags 0 are closed without a successful CONNACK",
        applies: Applies::V311,
        run: user_name_without_flag,
    },
    Check {
        name: "client-id-missing",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.3-3", "MQTT-3.1.4-1"],
        summary: "a CONNECT whose payload lacks the client identifier is closed without a successful CONNACK",
        applies: Applies::V311,
        run: client_id_missing,
    },
    Check {
        name: "client-id-invalid-utf8",
        section: "1.5 Data representations",
        ids: &["MQTT-3.1.3-4", "MQTT-1.5.3-1"],
        summary: "a client identifier holding an encoded surrogate is closed without a successful CONNACK",
        applies: Applies::V311,
        run: client_id_invalid_utf8,
    },
    Check {
        name: "client-id-null-character",
        section: "1.5 Data representations",
        ids: &["MQTT-1.5.3-2"],
        summary: "a client identifier holding U+0000 is closed without a successful CONNACK",
        applies: Applies::V311,
        run: client_id_null_character,
    },
    Check {
        name: "will-topic-invalid-utf8",
        section: "1.5 Data representations",
        ids: &["MQTT-3.1.3-10", "MQTT-1.5.3-1"],
        summary: "a Will Topic holding an encoded surrogate is closed without a successful CONNACK",
        applies: Applies::V311,
        run: will_topic_invalid_utf8,
    },
    Check {
        name: "user-name-invalid-utf8",
        section: "1.5 Data representations",
        ids: &["MQTT-3.1.3-11", "MQTT-1.5.3-1"],
        summary: "a user name holding an encoded surrogate is closed without a successful CONNACK",
        applies: Applies::V311,
        run: user_name_invalid_utf8,
    },
    Check {
        name: "nothing-processed-after-refused-connect",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.4-5"],
        summary: "a PUBLISH sent right behind a refused CONNECT does not reach subscribers",
        applies: Applies::V311,
        run: nothing_processed_after_refused_connect,
    },
    Check {
        name: "client-id-23-alphanumeric",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.3-5"],
        summary: "a 23-character alphanumeric client identifier is accepted",
        applies: Applies::Both,
        run: client_id_23_alphanumeric,
    },
    Check {
        name: "empty-client-id-persistent",
        section: "3.1 CONNECT",
        ids: &[
            "MQTT-3.1.3-8",
            "MQTT-3.1.3-9",
            "MQTT-3.2.2-4",
            "MQTT-3.2.2-5",
        ],
        summary: "an empty client identifier with CleanSession 0 is refused with CONNACK 0x02, then closed",
        applies: Applies::V311,
        run: empty_client_id_persistent,
    },
    Check {
        name: "empty-client-id-clean",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.3-6"],
        summary: "an empty client identifier with CleanSession 1 may be accepted (observation)",
        applies: Applies::V311,
        run: empty_client_id_clean,
    },
    Check {
        name: "client-id-takeover",
        section: "3.1 CONNECT",
        ids: &["MQTT-3.1.4-2", "V31-DIFF-16"],
        summary: "a CONNECT with the client identifier of a connected client disconnects the older one",
        applies: Applies::Both,
        run: client_id_takeover,
    },
    Check {
        name: "disconnect-reserved-flags",
        section: "3.14 DISCONNECT",
        ids: &["MQTT-3.14.1-1"],
        summary: "a DISCONNECT with a reserved flag set closes the connection",
        applies: Applies::V311,
        run: disconnect_reserved_flags,
    },
    Check {
        name: "reserved-packet-type",
        section: "4.8 Handling errors",
        ids: &["MQTT-4.8.0-1", "V31-DIFF-33"],
        summary: "a packet of the reserved type 15 closes the connection",
        applies: Applies::Both,
        run: reserved_packet_type,
    },
    Check {
        name: "mqtt31-user-name-flag-without-field",
        section: "3.1 CONNECT",
        ids: &["V31-DIFF-10"],
        summary: "an MQTT 3.1 CONNECT with the User Name Flag but no user name is still accepted",
        applies: Applies::V31,
        run: mqtt31_user_name_flag_without_field,
    },
    Check {
        name: "mqtt31-will-flags-disregarded",
        section: "3.1 CONNECT",
        ids: &["V31-DIFF-13"],
        summary: "an MQTT 3.1 CONNECT with Will QoS and Will Retain but no Will Flag is accepted",
        applies: Applies::V31,
        run: mqtt31_will_flags_disregarded,
    },
    Check {
        name: "mqtt31-accepted",
        section: "3.1 CONNECT",
        ids: &["V31-DIFF-1", "V31-DIFF-2", "V31-DIFF-7"],
        summary: "an MQIsdp level 3 CONNECT is accepted with CONNACK 0 and byte 1 zero",
        applies: Applies::V31,
        run: mqtt31_accepted,
    },
    Check {
        name: "mqtt31-client-id-too-long",
        section: "3.1 CONNECT",
        ids: &["V31-DIFF-5"],
        summary: "an MQTT 3.1 client identifier of 24 characters is refused with CONNACK 0x02",
        applies: Applies::V31,
        run: mqtt31_client_id_too_long,
    },
    Check {
        name: "mqtt31-empty-client-id",
        section: "3.1 CONNECT",
        ids: &["V31-DIFF-6"],
        summary: "an empty MQTT 3.1 client identifier is refused with CONNACK 0x02",
        applies: Applies::V31,
        run: mqtt31_empty_client_id,
    },
    Check {
        name: "mqtt31-reserved-connect-flag",
        section: "3.1 CONNECT",
        ids: &["V31-DIFF-4"],
        summary: "an MQTT 3.1 CONNECT with reserved flag bit 0 set is either accepted or refused cleanly (an observation)",
        applies: Applies::V31,
        run: mqtt31_reserved_connect_flag,
    },
];

fn spec(client_id: &str, flags: u8) -> ConnectSpec<'_> {
    ConnectSpec {
        flags,
        keep_alive: 60,
        client_id,
        ..Default::default()
    }
}

/// Sends `bytes` as the first packet and expects the server to close, sending nothing or at most a
/// CONNACK that does not accept the connection.
fn refused(context: &Context, bytes: &[u8]) -> Result<Verdict, String> {
    let mut client = TestClient::open(context)?;
    client.send(bytes)?;
    loop {
        match client.next_within(context.timeout) {
            Err(_) => return Ok(Verdict::Pass), // closed
            Ok(None) => return Err(format!("still open after {:?}", context.timeout)),
            Ok(Some(frame)) if frame.kind() == kind::CONNACK && frame.body.get(1) != Some(&0) => {}
            Ok(Some(frame)) => return Err(format!("expected a close, got {}", frame.describe())),
        }
    }
}

fn connect_accepted(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut client = TestClient::open(context)?;
    client.send(&wire::connect(
        context.version,
        &context.connect_spec(&id, flags::CLEAN_SESSION),
    ))?;
    let connack = client.recv()?;
    if connack.first != 0x20 || connack.body != [0x00, 0x00] {
        return Err(format!("expected 20 02 00 00, got {}", connack.describe()));
    }
    client.disconnect()?;
    Ok(Verdict::Pass)
}

/// 3.1 calls bit 0 of the Connect Flags unused and sets no check on it [V31-DIFF-4]: accepting
/// and refusing are both the broker's choice, reported as an observation. What fails is anything
/// else: no answer, or an answer that is neither CONNACK nor a close.
fn mqtt31_reserved_connect_flag(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut client = TestClient::open(context)?;
    client.send(&wire::connect(
        context.version,
        &spec(&id, flags::CLEAN_SESSION | 0x01),
    ))?;
    let connack = match client.next_within(context.timeout) {
        Err(_) => return Ok(Verdict::Observation("closed without CONNACK".to_owned())),
        Ok(None) => {
            return Err(format!(
                "neither CONNACK nor a close within {:?}",
                context.timeout
            ));
        }
        Ok(Some(frame)) if frame.kind() == kind::CONNACK => frame,
        Ok(Some(frame)) => return Err(format!("expected CONNACK, got {}", frame.describe())),
    };
    if connack.body.get(1) != Some(&0) {
        return Ok(Verdict::Observation(format!(
            "refused with {}",
            connack.describe()
        )));
    }
    // Accepted: the connection must then work like any other.
    client.ping()?;
    client.disconnect()?;
    Ok(Verdict::Observation(
        "accepted, the bit disregarded as 3.1 allows".to_owned(),
    ))
}

fn first_packet_not_connect(context: &Context) -> Result<Verdict, String> {
    let mut client = TestClient::open(context)?;
    client.send(&wire::PINGREQ)?;
    client.expect_closed(&[])?;
    Ok(Verdict::Pass)
}

fn second_connect(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let (mut client, _) = TestClient::connect(context, &id, flags::CLEAN_SESSION)?;
    client.send(&wire::connect(
        context.version,
        &context.connect_spec(&id, flags::CLEAN_SESSION),
    ))?;
    client.expect_closed(&[])?;
    Ok(Verdict::Pass)
}

fn invalid_protocol_name(context: &Context) -> Result<Verdict, String> {
    // 10 0d | 00 04 'MQTX' | 04 | 02 | 00 3c | 00 01 'x'
    refused(
        context,
        &[
            0x10, 0x0d, 0, 4, b'M', b'Q', b'T', b'X', 4, 2, 0, 60, 0, 1, b'x',
        ],
    )
}

fn unsupported_protocol_level(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut bytes = wire::connect(context.version, &spec(&id, flags::CLEAN_SESSION));
    bytes[8] = 9; // the level byte, after 10 len 00 04 'MQTT'
    let mut client = TestClient::open(context)?;
    client.send(&bytes)?;
    let connack = client.expect(kind::CONNACK)?;
    if connack.body != [0x00, 0x01] {
        return Err(format!(
            "expected CONNACK 00 01, got {}",
            connack.describe()
        ));
    }
    client.expect_closed(&[])?;
    Ok(Verdict::Pass)
}

fn reserved_connect_flag(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    refused(
        context,
        &wire::connect(context.version, &spec(&id, flags::CLEAN_SESSION | 0x01)),
    )
}

fn will_qos_without_will(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    refused(
        context,
        &wire::connect(
            context.version,
            &spec(&id, flags::CLEAN_SESSION | flags::WILL_QOS_1),
        ),
    )
}

fn password_without_user_name(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut connect = spec(&id, flags::CLEAN_SESSION | flags::PASSWORD);
    connect.password = Some(b"secret");
    refused(context, &wire::connect(context.version, &connect))
}

fn client_id_23_alphanumeric(context: &Context) -> Result<Verdict, String> {
    let mut id = context.client_id();
    id.extend(std::iter::repeat_n('Z', 23usize.saturating_sub(id.len())));
    id.truncate(23);
    let (client, _) = TestClient::connect(context, &id, flags::CLEAN_SESSION)?;
    client.disconnect()?;
    Ok(Verdict::Pass)
}

fn empty_client_id_persistent(context: &Context) -> Result<Verdict, String> {
    let mut client = TestClient::open(context)?;
    client.send(&wire::connect(context.version, &spec("", 0)))?;
    let connack = client.expect(kind::CONNACK)?;
    if connack.body != [0x00, 0x02] {
        return Err(format!(
            "expected CONNACK 00 02, got {}",
            connack.describe()
        ));
    }
    client.expect_closed(&[])?;
    Ok(Verdict::Pass)
}

fn empty_client_id_clean(context: &Context) -> Result<Verdict, String> {
    let mut client = TestClient::open(context)?;
    client.send(&wire::connect(
        context.version,
        &spec("", flags::CLEAN_SESSION),
    ))?;
    let connack = client.expect(kind::CONNACK)?;
    Ok(match connack.body.as_slice() {
        [0x00, 0x00] => {
            Verdict::Observation("accepted; the server assigned an identifier".to_owned())
        }
        [0x00, 0x02] => Verdict::Observation("refused with 0x02 (identifier rejected)".to_owned()),
        _ => {
            return Err(format!(
                "expected CONNACK 0 or 2, got {}",
                connack.describe()
            ));
        }
    })
}

fn client_id_takeover(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let (mut older, _) = TestClient::connect(context, &id, flags::CLEAN_SESSION)?;
    let (newer, _) = TestClient::connect(context, &id, flags::CLEAN_SESSION)?;
    older.expect_closed(&[])?;
    newer.disconnect()?;
    Ok(Verdict::Pass)
}

fn disconnect_reserved_flags(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let (mut client, _) = TestClient::connect(context, &id, flags::CLEAN_SESSION)?;
    client.send(&[0xE1, 0x00])?;
    client.expect_closed(&[])?;
    Ok(Verdict::Pass)
}

fn mqtt31_accepted(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let (client, connack) = TestClient::connect(context, &id, flags::CLEAN_SESSION)?;
    if connack.body != [0x00, 0x00] {
        return Err(format!(
            "expected CONNACK 00 00, got {}",
            connack.describe()
        ));
    }
    client.disconnect()?;
    Ok(Verdict::Pass)
}

fn refused_with_2(context: &Context, client_id: &str) -> Result<Verdict, String> {
    let mut client = TestClient::open(context)?;
    client.send(&wire::connect(
        context.version,
        &spec(client_id, flags::CLEAN_SESSION),
    ))?;
    let connack = client.expect(kind::CONNACK)?;
    if connack.body.get(1) != Some(&0x02) {
        return Err(format!(
            "expected CONNACK return code 2, got {}",
            connack.describe()
        ));
    }
    Ok(Verdict::Pass)
}

fn mqtt31_client_id_too_long(context: &Context) -> Result<Verdict, String> {
    let mut id = context.client_id();
    id.extend(std::iter::repeat_n('x', 24usize.saturating_sub(id.len())));
    id.truncate(24);
    refused_with_2(context, &id)
}

fn mqtt31_empty_client_id(context: &Context) -> Result<Verdict, String> {
    refused_with_2(context, "")
}

/// A CONNECT that is not valid 3.1.1 must be closed, at most after a CONNACK refusing it
/// [MQTT-3.1.4-1]; `fields` is the whole payload.
fn refused_fields(context: &Context, flags: u8, fields: &[&[u8]]) -> Result<Verdict, String> {
    refused(
        context,
        &wire::connect_fields(context.version, flags, fields),
    )
}

fn will_qos_3(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("will");
    refused_fields(
        context,
        flags::CLEAN_SESSION | flags::WILL | flags::WILL_QOS_1 | flags::WILL_QOS_2,
        &[id.as_bytes(), topic.as_bytes(), b"gone"],
    )
}

fn will_retain_without_will(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    refused_fields(
        context,
        flags::CLEAN_SESSION | flags::WILL_RETAIN,
        &[id.as_bytes()],
    )
}

fn will_flag_without_will_fields(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    refused_fields(
        context,
        flags::CLEAN_SESSION | flags::WILL,
        &[id.as_bytes()],
    )
}

fn user_name_flag_without_user_name(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    refused_fields(
        context,
        flags::CLEAN_SESSION | flags::USER_NAME,
        &[id.as_bytes()],
    )
}

fn password_flag_without_password(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    refused_fields(
        context,
        flags::CLEAN_SESSION | flags::USER_NAME | flags::PASSWORD,
        &[id.as_bytes(), b"user"],
    )
}

fn user_name_without_flag(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    refused_fields(
        context,
        flags::CLEAN_SESSION,
        &[id.as_bytes(), b"user", b"secret"],
    )
}

fn client_id_missing(context: &Context) -> Result<Verdict, String> {
    refused_fields(context, flags::CLEAN_SESSION, &[])
}

fn client_id_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let mut id = context.client_id().into_bytes();
    id.extend_from_slice(&wire::SURROGATE);
    refused_fields(context, flags::CLEAN_SESSION, &[&id])
}

fn client_id_null_character(context: &Context) -> Result<Verdict, String> {
    let mut id = context.client_id().into_bytes();
    id.push(0);
    refused_fields(context, flags::CLEAN_SESSION, &[&id])
}

fn will_topic_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut topic = context.topic("will").into_bytes();
    topic.extend_from_slice(&wire::SURROGATE);
    refused_fields(
        context,
        flags::CLEAN_SESSION | flags::WILL,
        &[id.as_bytes(), &topic, b"gone"],
    )
}

fn user_name_invalid_utf8(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut user = b"user".to_vec();
    user.extend_from_slice(&wire::SURROGATE);
    refused_fields(
        context,
        flags::CLEAN_SESSION | flags::USER_NAME,
        &[id.as_bytes(), &user],
    )
}

fn nothing_processed_after_refused_connect(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("refused");
    let mut sub = subscriber(context, &topic, 1)?;
    // CONNECT with protocol level 9 (refused with CONNACK 0x01), and in the same write a PUBLISH
    // that a server still reading the connection would route.
    let id = context.client_id();
    let mut bytes = wire::connect(context.version, &spec(&id, flags::CLEAN_SESSION));
    bytes[8] = 9;
    bytes.extend(wire::publish(&topic, 1, false, false, 1, b"refused"));
    let mut client = TestClient::open(context)?;
    client.send(&bytes)?;
    // Whatever the server answers, the connection ends; then a sentinel on the same topic.
    let _ = client.expect_closed(&[kind::CONNACK, kind::PUBACK]);
    let mut sender = publisher(context)?;
    publish(&mut sender, &topic, 1, false, b"sentinel")?;
    let frame = sub.expect_publish()?;
    match frame.publish_parts() {
        Some((_, _, payload)) if payload == b"sentinel" => Ok(Verdict::Pass),
        _ => Err(format!(
            "a PUBLISH sent after the refused CONNECT was routed: {}",
            frame.describe()
        )),
    }
}

fn reserved_packet_type(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let (mut client, _) = TestClient::connect(context, &id, flags::CLEAN_SESSION)?;
    client.send(&[0xF0, 0x00])?;
    client.expect_closed(&[])?;
    Ok(Verdict::Pass)
}

/// Sends `bytes` and expects CONNACK 0.
fn accepted(context: &Context, bytes: &[u8]) -> Result<Verdict, String> {
    if context.user_name.is_some() {
        return Ok(Verdict::Skip(
            "the run uses credentials, which this check must leave out".to_owned(),
        ));
    }
    let mut client = TestClient::open(context)?;
    client.send(bytes)?;
    let connack = client.expect(kind::CONNACK)?;
    if connack.body != [0x00, 0x00] {
        return Err(format!(
            "expected CONNACK 00 00, got {}",
            connack.describe()
        ));
    }
    client.disconnect()?;
    Ok(Verdict::Pass)
}

fn mqtt31_user_name_flag_without_field(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    accepted(
        context,
        &wire::connect_fields(
            context.version,
            flags::CLEAN_SESSION | flags::USER_NAME,
            &[id.as_bytes()],
        ),
    )
}

fn mqtt31_will_flags_disregarded(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    accepted(
        context,
        &wire::connect_fields(
            context.version,
            flags::CLEAN_SESSION | flags::WILL_QOS_1 | flags::WILL_RETAIN,
            &[id.as_bytes()],
        ),
    )
}

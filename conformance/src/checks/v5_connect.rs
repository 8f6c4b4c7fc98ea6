//! MQTT 5.0 CONNECT and CONNACK (5.0 §3.1, §3.2): reason codes, properties, the Assigned Client
//! Identifier, Clean Start and Session Expiry, take-over and keep alive. Malformed CONNECTs are in
//! `v5_malformed.rs`.

use std::time::{Duration, Instant};

use mqtt_codec::v5::{Packet, Property, ReasonCode};

use crate::check::{Applies, Check, Context, Verdict};
use crate::checks::v5_common::{
    self, Watched5, connect, deliveries_before_ping, end_session, expect_error_close,
    expect_payload, publish, subscribe,
};
use crate::client::TestClient;
use crate::v5_wire::{self, options};
use crate::wire::{self, kind};

const SECTION_CONNECT: &str = "MQTT5 3.1 CONNECT";
const SECTION_CONNACK: &str = "MQTT5 3.2 CONNACK";

pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "v5-connect-accepted",
        section: SECTION_CONNACK,
        ids: &[
            "MQTT5-3.1.4-5",
            "MQTT5-3.2.0-1",
            "MQTT5-3.2.2-1",
            "MQTT5-3.2.2-2",
            "MQTT5-3.2.2-8",
            "MQTT5-2.2.2-1",
            "MQTT5-3.12.4-1",
        ],
        summary: "a 5.0 CONNECT with Clean Start is answered by a well-formed 5.0 CONNACK: Success, Session Present 0, reserved flags 0",
        applies: Applies::V5,
        run: connect_accepted,
    },
    Check {
        name: "v5-assigned-client-id",
        section: SECTION_CONNACK,
        ids: &["MQTT5-3.1.3-6", "MQTT5-3.1.3-7", "MQTT5-3.2.2-16"],
        summary: "an empty Client Identifier, if accepted, gets an Assigned Client Identifier in CONNACK, a different one per connection",
        applies: Applies::V5,
        run: assigned_client_id,
    },
    Check {
        name: "v5-session-resumed",
        section: SECTION_CONNECT,
        ids: &[
            "MQTT5-3.1.2-5",
            "MQTT5-3.1.2-23",
            "MQTT5-3.2.2-3",
            "MQTT5-4.5.0-1",
            "MQTT5-3.1.3-2",
        ],
        summary: "with a Session Expiry Interval, the session outlives the connection: Session Present 1 and a message queued meanwhile",
        applies: Applies::V5,
        run: session_resumed,
    },
    Check {
        name: "v5-clean-start-discards",
        section: SECTION_CONNECT,
        ids: &["MQTT5-3.1.2-4", "MQTT5-3.2.2-2", "MQTT5-3.1.4-4"],
        summary: "Clean Start 1 discards a stored session: Session Present 0 and its subscription gone",
        applies: Applies::V5,
        run: clean_start_discards,
    },
    Check {
        name: "v5-session-ends-without-expiry",
        section: SECTION_CONNECT,
        ids: &["MQTT5-4.1.0-2", "MQTT5-3.2.2-3", "MQTT5-3.1.2-6"],
        summary: "with no Session Expiry Interval the session ends with the connection: Clean Start 0 then finds none",
        applies: Applies::V5,
        run: session_ends_without_expiry,
    },
    Check {
        name: "v5-no-response-information-unasked",
        section: SECTION_CONNACK,
        ids: &["MQTT5-3.1.2-28"],
        summary: "CONNACK carries no Response Information unless the CONNECT requested it",
        applies: Applies::V5,
        run: no_response_information_unasked,
    },
    Check {
        name: "v5-second-connect",
        section: SECTION_CONNECT,
        ids: &["MQTT5-3.1.0-2", "MQTT5-4.13.1-1", "MQTT5-3.2.0-2"],
        summary: "a second CONNECT on a connection is a Protocol Error: the connection is closed, with no second CONNACK",
        applies: Applies::V5,
        run: second_connect,
    },
    Check {
        name: "v5-takeover-disconnect",
        section: SECTION_CONNECT,
        ids: &[
            "MQTT5-3.1.4-3",
            "MQTT5-3.14.2-1",
            "MQTT5-3.14.0-1",
            "MQTT5-3.14.2-2",
            "MQTT5-3.14.4-1",
            "MQTT5-3.14.4-2",
        ],
        summary: "a second connection with the same Client Identifier makes the server send DISCONNECT 0x8E to the first and close it",
        applies: Applies::V5,
        run: takeover_disconnect,
    },
    Check {
        name: "v5-first-packet-not-connect",
        section: SECTION_CONNECT,
        ids: &["MQTT5-3.1.0-1", "MQTT5-3.1.4-1"],
        summary: "a PINGREQ before CONNECT gets no PINGRESP: the connection is closed",
        applies: Applies::V5,
        run: first_packet_not_connect,
    },
    Check {
        name: "v5-unsupported-protocol-level",
        section: SECTION_CONNECT,
        ids: &["MQTT5-3.1.2-2", "MQTT5-3.2.2-6", "MQTT5-4.13.2-1"],
        summary: "a CONNECT of protocol level 6 is refused (CONNACK 0x84 at most, Session Present 0) and the connection closed",
        applies: Applies::V5,
        run: unsupported_protocol_level,
    },
    Check {
        name: "v5-invalid-protocol-name",
        section: SECTION_CONNECT,
        ids: &["MQTT5-3.1.2-1"],
        summary: "a CONNECT whose protocol name is not MQTT is refused and the connection closed",
        applies: Applies::V5,
        run: invalid_protocol_name,
    },
    Check {
        name: "v5-client-id-23-characters",
        section: SECTION_CONNECT,
        ids: &["MQTT5-3.1.3-5", "MQTT5-3.1.3-3"],
        summary: "a Client Identifier of 23 digits and letters is accepted",
        applies: Applies::V5,
        run: client_id_23_characters,
    },
    Check {
        name: "v5-no-authentication-unasked",
        section: SECTION_CONNACK,
        ids: &["MQTT5-4.12.0-6"],
        summary: "without an Authentication Method in CONNECT, CONNACK has none and no AUTH arrives",
        applies: Applies::V5,
        run: no_authentication_unasked,
    },
    Check {
        name: "v5-unsupported-authentication-method",
        section: SECTION_CONNACK,
        ids: &["MQTT5-4.12.0-1", "MQTT5-3.2.2-7"],
        summary: "an Authentication Method the server does not know is refused with a CONNACK of 0x80 or above, or a close",
        applies: Applies::V5,
        run: unsupported_authentication_method,
    },
    Check {
        name: "v5-auth-without-method",
        section: SECTION_CONNECT,
        ids: &["MQTT5-4.12.0-7", "MQTT5-4.13.1-1"],
        summary: "an AUTH on a connection made without an Authentication Method is a Protocol Error: closed",
        applies: Applies::V5,
        run: auth_without_method,
    },
    Check {
        name: "v5-keep-alive-expiry",
        section: SECTION_CONNECT,
        ids: &["MQTT5-3.1.2-22", "MQTT5-3.2.2-22"],
        summary: "a client silent for 1.5 times its 1-second Keep Alive (or the Server Keep Alive, if CONNACK has one) is disconnected",
        applies: Applies::V5,
        run: keep_alive_expiry,
    },
    Check {
        name: "v5-client-id-refusal-closes",
        section: SECTION_CONNECT,
        ids: &["MQTT5-3.1.3-8"],
        summary: "a Client Identifier with punctuation, which a server may refuse, is either accepted or refused with a CONNACK failure and a close",
        applies: Applies::V5,
        run: client_id_refusal_closes,
    },
    Check {
        name: "v5-refused-connect-processes-nothing",
        section: SECTION_CONNECT,
        ids: &["MQTT5-3.1.4-6"],
        summary: "a retained PUBLISH sent right behind a CONNECT that is refused is not processed: no later subscriber gets it",
        applies: Applies::V5,
        run: refused_connect_processes_nothing,
    },
    Check {
        name: "v5-session-kept-while-connected",
        section: SECTION_CONNECT,
        ids: &["MQTT5-4.1.0-1"],
        summary: "a connection open past its Session Expiry Interval of 1 s keeps its session: its subscription still delivers",
        applies: Applies::V5,
        run: session_kept_while_connected,
    },
];

fn connect_accepted(context: &Context) -> Result<Verdict, String> {
    let mut connected = connect(context, &context.client_id(), true, &[], None)?;
    let flags = connected.connack.get(2).copied().unwrap_or(0xFF);
    if flags != 0 {
        return Err(format!(
            "Connect Acknowledge Flags {flags:#04x}: Session Present must be 0 after Clean Start and bits 7-1 are reserved"
        ));
    }
    // Usable: the server answers PINGREQ on the accepted connection.
    let before = connected.client.ping()?;
    if let Some(frame) = before.first() {
        return Err(format!("unexpected {} before PINGRESP", frame.describe()));
    }
    connected.client.disconnect()?;
    Ok(Verdict::Pass)
}

fn assigned_client_id(context: &Context) -> Result<Verdict, String> {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut client = TestClient::open(context)?;
        client.send(&v5_wire::connect(context, "", true, &[], None)?)?;
        let frame = client.expect(kind::CONNACK)?;
        let bytes = v5_wire::bytes_of(&frame);
        let Packet::ConnAck(connack) = v5_wire::decode(&bytes)? else {
            return Err("expected CONNACK".to_owned());
        };
        if connack.reason == ReasonCode::CLIENT_IDENTIFIER_NOT_VALID {
            // Allowing an empty identifier is the server's choice [MQTT5-3.1.3-6].
            client.expect_closed(&[])?;
            return Ok(Verdict::Observation(
                "refuses an empty Client Identifier with 0x85".to_owned(),
            ));
        }
        if connack.reason != ReasonCode::SUCCESS {
            return Err(format!("CONNACK reason {}", connack.reason));
        }
        match connack.properties.assigned_client_identifier() {
            Some(id) if !id.is_empty() => ids.push(id.to_owned()),
            _ => {
                return Err(
                    "accepted an empty Client Identifier with no Assigned Client Identifier"
                        .to_owned(),
                );
            }
        }
        client.disconnect()?;
    }
    if ids[0] == ids[1] {
        return Err(format!("two connections were both assigned {}", ids[0]));
    }
    Ok(Verdict::Pass)
}

fn session_resumed(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("kept");
    let mut watched =
        Watched5::connect(context, &id, true, &[Property::SessionExpiryInterval(60)])?;
    subscribe(
        watched.client(),
        1,
        &[(&topic, options(1, false, false, 0))],
        &[],
    )?;
    watched.end(&[])?;
    let mut sender = v5_common::clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, b"while away", &[])?;
    let mut back = connect(context, &id, false, &[], None)?;
    if !back.session_present() {
        return Err("Session Present 0 on return to a session with Session Expiry 60".to_owned());
    }
    expect_payload(&mut back.client, b"while away")?;
    back.client.disconnect()?;
    sender.disconnect()?;
    end_session(context, &id)?;
    Ok(Verdict::Pass)
}

fn clean_start_discards(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("discarded");
    let mut watched =
        Watched5::connect(context, &id, true, &[Property::SessionExpiryInterval(60)])?;
    subscribe(
        watched.client(),
        1,
        &[(&topic, options(1, false, false, 0))],
        &[],
    )?;
    watched.end(&[])?;
    let mut back = connect(context, &id, true, &[], None)?;
    if back.session_present() {
        return Err("Session Present 1 after Clean Start 1".to_owned());
    }
    // The discarded subscription must not deliver: a QoS 1 message acknowledged to its publisher
    // has been given to every matching session [MQTT5-4.5.0-1] before the PINGRESP barrier.
    let mut sender = v5_common::clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, b"to nobody", &[])?;
    let arrived = deliveries_before_ping(&mut back.client)?;
    if !arrived.is_empty() {
        return Err("a subscription of the discarded session still delivered".to_owned());
    }
    back.client.disconnect()?;
    sender.disconnect()?;
    Ok(Verdict::Pass)
}

fn session_ends_without_expiry(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let topic = context.topic("gone");
    let mut watched = Watched5::connect(context, &id, true, &[])?;
    subscribe(
        watched.client(),
        1,
        &[(&topic, options(1, false, false, 0))],
        &[],
    )?;
    watched.end(&[])?;
    let back = connect(context, &id, false, &[], None)?;
    if back.session_present() {
        return Err(
            "Session Present 1: a session with no Session Expiry Interval outlived its connection"
                .to_owned(),
        );
    }
    back.client.disconnect()?;
    Ok(Verdict::Pass)
}

fn no_response_information_unasked(context: &Context) -> Result<Verdict, String> {
    let connected = connect(context, &context.client_id(), true, &[], None)?;
    if let Some(information) =
        connected.property(|properties| properties.response_information().map(str::to_owned))?
    {
        return Err(format!(
            "CONNACK carries Response Information '{information}' though none was requested"
        ));
    }
    connected.client.disconnect()?;
    // With Request Response Information 1, giving it is the server's choice.
    let asked = connect(
        context,
        &context.client_id(),
        true,
        &[Property::RequestResponseInformation(1)],
        None,
    )?;
    let given =
        asked.property(|properties| properties.response_information().map(str::to_owned))?;
    asked.client.disconnect()?;
    Ok(match given {
        Some(information) => Verdict::Observation(format!(
            "asked, it gives Response Information '{information}'"
        )),
        None => Verdict::Pass,
    })
}

fn second_connect(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut connected = connect(context, &id, true, &[], None)?;
    connected
        .client
        .send(&v5_wire::connect(context, &id, true, &[], None)?)?;
    expect_error_close(&mut connected.client)?;
    Ok(Verdict::Pass)
}

fn takeover_disconnect(context: &Context) -> Result<Verdict, String> {
    let id = context.client_id();
    let mut first = connect(context, &id, true, &[], None)?;
    let second = connect(context, &id, true, &[], None)?;
    let frame = first
        .client
        .expect(kind::DISCONNECT)
        .map_err(|error| format!("the first connection: {error}"))?;
    let bytes = v5_wire::bytes_of(&frame);
    match v5_wire::decode(&bytes)? {
        Packet::Disconnect(disconnect)
            if disconnect.properties.session_expiry_interval().is_some() =>
        {
            return Err("the server's DISCONNECT carries a Session Expiry Interval".to_owned());
        }
        Packet::Disconnect(disconnect) if disconnect.reason == ReasonCode::SESSION_TAKEN_OVER => {}
        Packet::Disconnect(disconnect) => {
            return Err(format!(
                "the first connection got DISCONNECT {}, not 0x8E (Session taken over)",
                disconnect.reason
            ));
        }
        other => {
            return Err(format!(
                "expected DISCONNECT, got {:?}",
                other.packet_type()
            ));
        }
    }
    first.client.expect_closed(&[])?;
    second.client.disconnect()?;
    Ok(Verdict::Pass)
}

fn keep_alive_expiry(context: &Context) -> Result<Verdict, String> {
    let mut client = TestClient::open(context)?;
    let mut bytes = v5_wire::connect(context, &context.client_id(), true, &[], None)?;
    // Keep Alive follows the one-byte Remaining Length, the protocol name, level and flags: bytes
    // 10 and 11 of this short packet.
    bytes[10] = 0;
    bytes[11] = 1;
    client.send(&bytes)?;
    let connack = v5_wire::bytes_of(&client.expect(kind::CONNACK)?);
    let started = Instant::now();
    // Without Server Keep Alive the client's own applies [MQTT5-3.2.2-22]; with one, that one.
    let seconds = match v5_wire::decode(&connack)? {
        Packet::ConnAck(connack) => connack.properties.server_keep_alive().unwrap_or(1),
        other => return Err(format!("expected CONNACK, got {:?}", other.packet_type())),
    };
    if seconds == 0 || seconds > 10 {
        return Ok(Verdict::Skip(format!(
            "the server replaced Keep Alive 1 s with a Server Keep Alive of {seconds} s"
        )));
    }
    let keep_alive = Duration::from_secs(u64::from(seconds));
    let limit = keep_alive * 3 / 2 + client.timeout();
    // The server may say why before closing: DISCONNECT 0x8D (Keep Alive timeout).
    client
        .expect_closed_within(limit, &[kind::DISCONNECT])
        .map_err(|error| format!("with Keep Alive {seconds} s: {error}"))?;
    let elapsed = started.elapsed();
    if elapsed < keep_alive * 9 / 10 {
        return Err(format!(
            "closed after {elapsed:?}, before Keep Alive passed"
        ));
    }
    Ok(Verdict::Pass)
}

fn first_packet_not_connect(context: &Context) -> Result<Verdict, String> {
    let mut client = TestClient::open(context)?;
    client.send(&wire::PINGREQ)?;
    client
        .expect_closed(&[])
        .map_err(|error| format!("after a PINGREQ before CONNECT: {error}"))?;
    Ok(Verdict::Pass)
}

/// A CONNECT refused for its protocol name or level: the server does not know which level to
/// answer in, so a CONNACK may come in the 5.0 shape (reason 0x84) or the 3.1.1 one (return code
/// 1); either way Session Present is 0 and the connection then closes.
fn refused_level(context: &Context, name: &[u8], level: u8) -> Result<Verdict, String> {
    let mut client = TestClient::open(context)?;
    let mut body = wire::field(name);
    body.extend_from_slice(&[level, 0x02, 0x00, 0x3C, 0x00]);
    body.extend(wire::field(context.client_id().as_bytes()));
    client.send(&wire::packet(0x10, &body))?;
    match client.next_within(client.timeout()) {
        Err(_) => Ok(Verdict::Pass),
        Ok(None) => Err("the connection stayed open, with no answer".to_owned()),
        Ok(Some(frame)) if frame.kind() == kind::CONNACK => {
            match frame.body.as_slice() {
                [0x00, 0x84, ..] | [0x00, 0x01] => {}
                _ => return Err(format!("answered {}", frame.describe())),
            }
            client.expect_closed(&[])?;
            Ok(Verdict::Pass)
        }
        Ok(Some(frame)) => Err(format!("answered {}", frame.describe())),
    }
}

fn unsupported_protocol_level(context: &Context) -> Result<Verdict, String> {
    refused_level(context, b"MQTT", 6)
}

fn invalid_protocol_name(context: &Context) -> Result<Verdict, String> {
    refused_level(context, b"MQTX", 5)
}

fn client_id_23_characters(context: &Context) -> Result<Verdict, String> {
    let base = context.client_id();
    let letters = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let id: String = base
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .chain(letters.chars().cycle())
        .take(23)
        .collect();
    let connected = connect(context, &id, true, &[], None)
        .map_err(|error| format!("Client Identifier {id}: {error}"))?;
    connected.client.disconnect()?;
    Ok(Verdict::Pass)
}

fn no_authentication_unasked(context: &Context) -> Result<Verdict, String> {
    let mut connected = connect(context, &context.client_id(), true, &[], None)?;
    if let Some(method) =
        connected.property(|properties| properties.authentication_method().map(str::to_owned))?
    {
        return Err(format!(
            "CONNACK carries Authentication Method '{method}', none was sent"
        ));
    }
    if let Some(frame) = connected.client.ping()?.first() {
        return Err(format!("unexpected {}", frame.describe()));
    }
    connected.client.disconnect()?;
    Ok(Verdict::Pass)
}

fn unsupported_authentication_method(context: &Context) -> Result<Verdict, String> {
    let mut client = TestClient::open(context)?;
    let method = Property::AuthenticationMethod("X-CONFORMANCE-UNKNOWN");
    client.send(&v5_wire::connect(
        context,
        &context.client_id(),
        true,
        &[method],
        None,
    )?)?;
    crate::checks::v5_common::expect_refused_connect(&mut client)
        .map_err(|error| format!("an unknown Authentication Method: {error}"))?;
    Ok(Verdict::Pass)
}

fn auth_without_method(context: &Context) -> Result<Verdict, String> {
    let mut client = v5_common::clean(context, &context.client_id())?;
    // AUTH with Reason Code 0x19 (Re-authenticate) and no properties.
    client.send(&[0xF0, 0x02, 0x19, 0x00])?;
    expect_error_close(&mut client)?;
    Ok(Verdict::Pass)
}

fn client_id_refusal_closes(context: &Context) -> Result<Verdict, String> {
    // Not only digits and letters, and longer than 23: a server may refuse it [MQTT5-3.1.3-5].
    let id = format!("{}-id/with:punctuation", context.client_id());
    let mut client = TestClient::open(context)?;
    client.send(&v5_wire::connect(context, &id, true, &[], None)?)?;
    let frame = match client.next_within(client.timeout()) {
        // Closed without CONNACK: a refusal that closes.
        Err(_) => return Ok(Verdict::Pass),
        Ok(None) => return Err("no answer to the CONNECT".to_owned()),
        Ok(Some(frame)) if frame.kind() == kind::CONNACK => frame,
        Ok(Some(frame)) => return Err(format!("expected CONNACK, got {}", frame.describe())),
    };
    let bytes = v5_wire::bytes_of(&frame);
    let reason = match v5_wire::decode(&bytes)? {
        Packet::ConnAck(connack) => connack.reason,
        other => return Err(format!("expected CONNACK, got {:?}", other.packet_type())),
    };
    if reason == ReasonCode::SUCCESS {
        client.disconnect()?;
        return Ok(Verdict::Observation(format!(
            "the Client Identifier {id:?} was accepted: the rule is about refusing one"
        )));
    }
    client
        .expect_closed(&[])
        .map_err(|error| format!("after CONNACK {reason} for {id:?}: {error}"))?;
    Ok(Verdict::Pass)
}

fn refused_connect_processes_nothing(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("after-refusal");
    let mut client = TestClient::open(context)?;
    // An Authentication Method no server knows, and in the same write a retained PUBLISH.
    let mut bytes = v5_wire::connect(
        context,
        &context.client_id(),
        true,
        &[Property::AuthenticationMethod("X-CONFORMANCE-UNKNOWN")],
        None,
    )?;
    bytes.extend(v5_wire::publish(&topic, 0, true, 0, b"smuggled", &[])?);
    client.send(&bytes)?;
    let refused = v5_common::expect_refused_connect(&mut client)
        .map_err(|error| format!("a CONNECT with an unknown Authentication Method: {error}"));
    // A new subscriber gets any retained message before the PINGRESP after its SUBACK.
    let mut sub = v5_common::subscriber(context, &topic, options(1, false, false, 0))?;
    let arrived = deliveries_before_ping(&mut sub)?;
    sub.disconnect()?;
    if !arrived.is_empty() {
        let mut cleaner = v5_common::clean(context, &context.client_id())?;
        publish(&mut cleaner, &topic, 1, true, b"", &[])?;
        cleaner.disconnect()?;
    }
    refused?;
    if !arrived.is_empty() {
        return Err(
            "the retained PUBLISH sent after a refused CONNECT was processed: a later subscriber got it"
                .to_owned(),
        );
    }
    Ok(Verdict::Pass)
}

fn session_kept_while_connected(context: &Context) -> Result<Verdict, String> {
    let topic = context.topic("still-here");
    let mut client = connect(
        context,
        &context.client_id(),
        true,
        &[Property::SessionExpiryInterval(1)],
        None,
    )?
    .client;
    v5_common::granted(&subscribe(
        &mut client,
        1,
        &[(&topic, options(1, false, false, 0))],
        &[],
    )?)?;
    // The interval counts from the end of the connection [MQTT5-3.1.2-23]; it passes here while
    // the connection is open, which is what is checked.
    std::thread::sleep(Duration::from_millis(2100));
    let mut sender = v5_common::clean(context, &context.client_id())?;
    publish(&mut sender, &topic, 1, false, b"kept", &[])?;
    let outcome = expect_payload(&mut client, b"kept")
        .map(drop)
        .map_err(|error| format!("2 s into a connection with Session Expiry 1 s: {error}"));
    client.disconnect()?;
    sender.disconnect()?;
    outcome.map(|()| Verdict::Pass)
}

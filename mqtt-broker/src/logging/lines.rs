//! mosquitto's own log lines, so that an operator's greps and log parsers keep working: the
//! connection lines (`connection_messages`, type notice) and, at `log_type debug`, one line per
//! packet in and out, with the same wording and fields as mosquitto 2.
//!
//! Packet lines are made from the packet's bytes, not from a decoded packet, so that one function
//! describes what the reader received and what the writer sent (including a QoS 0 PUBLISH encoded
//! once for many subscribers). The bytes are always a complete packet that was already decoded or
//! encoded; on anything shorter the line just says less. Payloads are never logged, only their
//! length. Callers check [`packet_lines_enabled`] first: formatting costs, and is skipped when
//! debug is off.

use std::net::SocketAddr;

use log::{debug, info};

use super::{Logger, NOTICE, SUBSCRIBE, UNSUBSCRIBE};

/// Whether a packet line would be written: `log_type debug` (or a debug level elsewhere).
pub(crate) fn packet_lines_enabled() -> bool {
    log::log_enabled!(log::Level::Debug)
}

/// Whether connection lines are wanted: `connection_messages` of the installed logger, or yes
/// when the program embedding the broker has its own logger.
fn connection_messages() -> bool {
    Logger::installed().is_none_or(Logger::connection_messages)
}

/// `New connection from 127.0.0.1:50000 on port 1883.`: a socket accepted, before CONNECT.
pub(crate) fn new_connection(peer: SocketAddr, port: u16) {
    if connection_messages() {
        info!(target: NOTICE, "New connection from {peer} on port {port}.");
    }
}

/// What a CONNECT said, for [`client_connected`].
pub(crate) struct Connected<'a> {
    pub(crate) peer: SocketAddr,
    pub(crate) client_id: &'a str,
    /// mosquitto's protocol number: 1 for 3.1, 2 for 3.1.1, 5 for 5.0.
    pub(crate) protocol: u8,
    pub(crate) clean: bool,
    pub(crate) keep_alive: u16,
    pub(crate) user_name: Option<&'a str>,
}

/// `New client connected from 127.0.0.1:50000 as c1 (p2, c1, k60, u'bob').`
pub(crate) fn client_connected(connected: &Connected<'_>) {
    if connection_messages() {
        info!(target: NOTICE, "{}", connected_line(connected));
    }
}

fn connected_line(connected: &Connected<'_>) -> String {
    let user = connected
        .user_name
        .map(|user| format!(", u'{user}'"))
        .unwrap_or_default();
    format!(
        "New client connected from {} as {} (p{}, c{}, k{}{user}).",
        connected.peer,
        connected.client_id,
        connected.protocol,
        u8::from(connected.clean),
        connected.keep_alive
    )
}

/// Why a client's connection ended, in mosquitto's four wordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It sent DISCONNECT.
    Disconnect,
    /// Nothing arrived within 1.5 keep-alives.
    KeepAlive,
    /// A malformed packet or a broken rule.
    ProtocolError,
    /// The socket closed or failed.
    Lost,
    /// A 5.0 re-authentication failed.
    NotAuthorised,
}

/// `Client c1 disconnected.` and its siblings.
pub(crate) fn client_disconnected(client_id: &str, ended: Ended) {
    if connection_messages() {
        info!(target: NOTICE, "{}", disconnected_line(client_id, ended));
    }
}

fn disconnected_line(client_id: &str, ended: Ended) -> String {
    match ended {
        Ended::Disconnect => format!("Client {client_id} disconnected."),
        Ended::KeepAlive => format!("Client {client_id} has exceeded timeout, disconnecting."),
        Ended::ProtocolError => format!("Client {client_id} disconnected due to protocol error."),
        Ended::Lost => format!("Client {client_id} closed its connection."),
        Ended::NotAuthorised => format!("Client {client_id} disconnected, not authorised."),
    }
}

/// The debug line for a packet received from `client_id`, and for SUBSCRIBE and UNSUBSCRIBE the
/// `subscribe`/`unsubscribe` lines (`c1 1 a/#`). `v5` says whether the connection speaks 5.0
/// (properties after the variable header).
pub(crate) fn received(client_id: &str, v5: bool, bytes: &[u8]) {
    // The hot path (every packet read) pays one atomic load and a byte test when debug is off.
    let subscription = bytes
        .first()
        .is_some_and(|first| matches!(first >> 4, 8 | 10));
    if !subscription && !packet_lines_enabled() {
        return;
    }
    let Some(packet) = Described::from_bytes(bytes, v5) else {
        return;
    };
    if packet_lines_enabled() {
        debug!("{}", packet.line("Received", "from", client_id));
        for (filter, qos) in &packet.filters {
            match qos {
                Some(qos) => debug!("\t{filter} (QoS {qos})"),
                None => debug!("\t{filter}"),
            }
        }
    }
    for (filter, qos) in &packet.filters {
        match qos {
            Some(qos) => info!(target: SUBSCRIBE, "{client_id} {qos} {filter}"),
            None => info!(target: UNSUBSCRIBE, "{client_id} {filter}"),
        }
    }
}

/// The debug line for a packet sent to `client_id`.
pub(crate) fn sent(client_id: &str, v5: bool, bytes: &[u8]) {
    if packet_lines_enabled()
        && let Some(packet) = Described::from_bytes(bytes, v5)
    {
        debug!("{}", packet.line("Sending", "to", client_id));
    }
}

/// What mosquitto shows of one packet.
#[derive(Debug, PartialEq)]
struct Described {
    name: &'static str,
    fields: Fields,
    /// SUBSCRIBE: (filter, Some(QoS)); UNSUBSCRIBE: (filter, None).
    filters: Vec<(String, Option<u8>)>,
}

#[derive(Debug, PartialEq)]
enum Fields {
    None,
    Publish {
        dup: bool,
        qos: u8,
        retain: bool,
        packet_id: u16,
        topic: String,
        payload: usize,
    },
    Ack {
        packet_id: u16,
        reason: Option<u8>,
    },
    ConnAck {
        session_present: bool,
        code: u8,
    },
}

impl Described {
    fn from_bytes(bytes: &[u8], v5: bool) -> Option<Self> {
        let first = *bytes.first()?;
        let (remaining, header) = remaining_length(&bytes[1..])?;
        let body = bytes.get(1 + header..)?;
        let body = body.get(..remaining.min(body.len()))?;
        let name = match first >> 4 {
            1 => "CONNECT",
            2 => "CONNACK",
            3 => "PUBLISH",
            4 => "PUBACK",
            5 => "PUBREC",
            6 => "PUBREL",
            7 => "PUBCOMP",
            8 => "SUBSCRIBE",
            9 => "SUBACK",
            10 => "UNSUBSCRIBE",
            11 => "UNSUBACK",
            12 => "PINGREQ",
            13 => "PINGRESP",
            14 => "DISCONNECT",
            _ => "AUTH",
        };
        let mut filters = Vec::new();
        let fields = match first >> 4 {
            2 => Fields::ConnAck {
                session_present: body.first().is_some_and(|flags| flags & 1 == 1),
                code: body.get(1).copied().unwrap_or(0),
            },
            3 => {
                let qos = (first >> 1) & 3;
                let (topic, mut at) = string(body, 0)?;
                let mut packet_id = 0;
                if qos > 0 {
                    packet_id = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]);
                    at += 2;
                }
                if v5 {
                    let (properties, used) = remaining_length(body.get(at..)?)?;
                    at += used + properties;
                }
                Fields::Publish {
                    dup: first & 8 != 0,
                    qos,
                    retain: first & 1 != 0,
                    packet_id,
                    topic,
                    payload: body.len().saturating_sub(at),
                }
            }
            4..=7 => Fields::Ack {
                packet_id: u16::from_be_bytes([*body.first()?, *body.get(1)?]),
                reason: body.get(2).copied(),
            },
            8 | 10 => {
                let mut at = 2;
                if v5 {
                    let (properties, used) = remaining_length(body.get(at..)?)?;
                    at += used + properties;
                }
                while at < body.len() {
                    let (filter, next) = string(body, at)?;
                    at = next;
                    let qos = if first >> 4 == 8 {
                        let options = *body.get(at)?;
                        at += 1;
                        Some(options & 3)
                    } else {
                        None
                    };
                    filters.push((filter, qos));
                }
                Fields::None
            }
            _ => Fields::None,
        };
        Some(Self {
            name,
            fields,
            filters,
        })
    }

    /// mosquitto's wording; the acknowledgements it receives are written differently from the
    /// ones it sends (`(Mid: 1, RC:0)` and `(m1, rc0)`).
    fn line(&self, verb: &str, preposition: &str, client_id: &str) -> String {
        let receiving = verb == "Received";
        let details = match &self.fields {
            Fields::None => String::new(),
            Fields::Publish {
                dup,
                qos,
                retain,
                packet_id,
                topic,
                payload,
            } => format!(
                " (d{}, q{qos}, r{}, m{packet_id}, '{topic}', ... ({payload} bytes))",
                u8::from(*dup),
                u8::from(*retain)
            ),
            Fields::Ack { packet_id, reason } => {
                let rc = reason.unwrap_or(0);
                match (receiving, self.name) {
                    (true, "PUBACK" | "PUBCOMP" | "PUBREC") => {
                        format!(" (Mid: {packet_id}, RC:{rc})")
                    }
                    (true, _) => format!(" (Mid: {packet_id})"),
                    (false, "PUBACK" | "PUBREC") => format!(" (m{packet_id}, rc{rc})"),
                    (false, _) => format!(" (m{packet_id})"),
                }
            }
            Fields::ConnAck {
                session_present,
                code,
            } => format!(" ({}, {code})", u8::from(*session_present)),
        };
        format!("{verb} {} {preposition} {client_id}{details}", self.name)
    }
}

/// A variable byte integer: (value, bytes used).
fn remaining_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (index, byte) in bytes.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

/// A length-prefixed UTF-8 string at `at`: (text, offset after it).
fn string(body: &[u8], at: usize) -> Option<(String, usize)> {
    let length = usize::from(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]));
    let text = body.get(at + 2..at + 2 + length)?;
    Some((String::from_utf8_lossy(text).into_owned(), at + 2 + length))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(verb: &str, bytes: &[u8], v5: bool) -> String {
        let preposition = if verb == "Received" { "from" } else { "to" };
        Described::from_bytes(bytes, v5)
            .expect("described")
            .line(verb, preposition, "c1")
    }

    // The expected lines are copied from mosquitto 2.0.11's `-v` output for the same packets.
    #[test]
    fn publish_lines_match_mosquitto() {
        // PUBLISH QoS 1, topic "a/b", id 1, payload "hello".
        let publish = [
            0x32, 12, 0, 3, b'a', b'/', b'b', 0, 1, b'h', b'e', b'l', b'l', b'o',
        ];
        assert_eq!(
            line("Received", &publish, false),
            "Received PUBLISH from c1 (d0, q1, r0, m1, 'a/b', ... (5 bytes))"
        );
        // QoS 0, retained, duplicate flag clear: no packet id, reported as m0.
        let qos0 = [0x31, 6, 0, 1, b't', b'x', b'y', b'z'];
        assert_eq!(
            line("Sending", &qos0, false),
            "Sending PUBLISH to c1 (d0, q0, r1, m0, 't', ... (3 bytes))"
        );
        // 5.0: an empty property block before the payload.
        let v5 = [0x34, 8, 0, 1, b't', 0, 9, 0, b'o', b'k'];
        assert_eq!(
            line("Received", &v5, true),
            "Received PUBLISH from c1 (d0, q2, r0, m9, 't', ... (2 bytes))"
        );
    }

    #[test]
    fn acknowledgement_lines_match_mosquitto_in_both_directions() {
        assert_eq!(
            line("Sending", &[0x40, 2, 0, 1], false),
            "Sending PUBACK to c1 (m1, rc0)"
        );
        assert_eq!(
            line("Sending", &[0x50, 2, 0, 1], false),
            "Sending PUBREC to c1 (m1, rc0)"
        );
        assert_eq!(
            line("Sending", &[0x70, 2, 0, 1], false),
            "Sending PUBCOMP to c1 (m1)"
        );
        assert_eq!(
            line("Received", &[0x40, 2, 0, 1], false),
            "Received PUBACK from c1 (Mid: 1, RC:0)"
        );
        assert_eq!(
            line("Received", &[0x62, 2, 0, 1], false),
            "Received PUBREL from c1 (Mid: 1)"
        );
        assert_eq!(
            line("Sending", &[0x20, 2, 0, 0], false),
            "Sending CONNACK to c1 (0, 0)"
        );
        assert_eq!(
            line("Sending", &[0x90, 3, 0, 1, 1], false),
            "Sending SUBACK to c1"
        );
        assert_eq!(
            line("Received", &[0xe0, 0], false),
            "Received DISCONNECT from c1"
        );
        assert_eq!(
            line("Received", &[0xc0, 0], false),
            "Received PINGREQ from c1"
        );
    }

    #[test]
    fn subscribe_filters_are_listed_with_their_qos() {
        let subscribe = [0x82, 8, 0, 1, 0, 3, b'a', b'/', b'#', 1];
        let described = Described::from_bytes(&subscribe, false).expect("described");
        assert_eq!(described.filters, vec![("a/#".to_owned(), Some(1))]);
        let unsubscribe = [0xa2, 5, 0, 2, 0, 1, b'x'];
        let described = Described::from_bytes(&unsubscribe, false).expect("described");
        assert_eq!(described.filters, vec![("x".to_owned(), None)]);
    }

    #[test]
    fn truncated_or_hostile_bytes_give_no_line_rather_than_a_panic() {
        for bytes in [
            &[][..],
            &[0x32],
            &[0x32, 0xff, 0xff, 0xff, 0xff],
            &[0x32, 4, 0, 9, b'a'],
            &[0x82, 3, 0, 1, 0],
            &[0x40, 1, 0],
        ] {
            if let Some(described) = Described::from_bytes(bytes, true) {
                let _ = described.line("Received", "from", "c1");
            }
        }
    }

    #[test]
    fn connection_lines_match_mosquitto() {
        let peer: SocketAddr = "127.0.0.1:37852".parse().expect("address");
        let connected = Connected {
            peer,
            client_id: "subber",
            protocol: 2,
            clean: true,
            keep_alive: 60,
            user_name: Some("bob"),
        };
        assert_eq!(
            connected_line(&connected),
            "New client connected from 127.0.0.1:37852 as subber (p2, c1, k60, u'bob')."
        );
        let anonymous = Connected {
            user_name: None,
            protocol: 5,
            ..connected
        };
        assert_eq!(
            connected_line(&anonymous),
            "New client connected from 127.0.0.1:37852 as subber (p5, c1, k60)."
        );
        assert_eq!(
            disconnected_line("subber", Ended::Disconnect),
            "Client subber disconnected."
        );
        assert_eq!(
            disconnected_line("subber", Ended::Lost),
            "Client subber closed its connection."
        );
    }
}

//! The bytes the suite sends and expects, written out by hand, independently of `mqtt-codec`.
//!
//! Every builder here follows the byte layouts of MQTT 3.1.1 §3 (and 3.1 §3 for CONNECT) directly, so
//! that a bug in the project's own codec cannot make the suite agree with a broker that shares the bug.
//! Reading is just as small: a [`Frame`] is the first byte and the body of one packet, cut from the
//! stream by its Remaining Length; checks look at the bytes themselves.

/// The protocol version a check connects with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// MQTT 3.1: `MQIsdp`, level 3.
    V31,
    /// MQTT 3.1.1: `MQTT`, level 4.
    V311,
    /// MQTT 5.0: `MQTT`, level 5. Its checks are the `v5-*` ones (`checks/v5_*.rs`); the bytes
    /// here write only its CONNECT, with empty property sets, so that [`crate::client::TestClient`]
    /// can open a 5.0 connection like any other.
    V5,
}

impl Version {
    /// How the command line and the reports name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::V31 => "3.1",
            Self::V311 => "3.1.1",
            Self::V5 => "5.0",
        }
    }
}

/// Packet types, as the high nibble of the first byte (3.1.1 §2.2.1).
pub mod kind {
    #![allow(missing_docs)]
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
    pub const AUTH: u8 = 15;

    /// A name for messages.
    pub fn name(kind: u8) -> &'static str {
        match kind {
            CONNECT => "CONNECT",
            CONNACK => "CONNACK",
            PUBLISH => "PUBLISH",
            PUBACK => "PUBACK",
            PUBREC => "PUBREC",
            PUBREL => "PUBREL",
            PUBCOMP => "PUBCOMP",
            SUBSCRIBE => "SUBSCRIBE",
            SUBACK => "SUBACK",
            UNSUBSCRIBE => "UNSUBSCRIBE",
            UNSUBACK => "UNSUBACK",
            PINGREQ => "PINGREQ",
            PINGRESP => "PINGRESP",
            DISCONNECT => "DISCONNECT",
            AUTH => "AUTH",
            _ => "reserved type",
        }
    }
}

/// A whole packet: `first` byte, then the Remaining Length (1 to 4 bytes, 3.1.1 §2.2.3), then `body`.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// A length-prefixed string or binary field (3.1.1 §1.5.3).
pub fn field(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// CONNECT flag bits (3.1.1 §3.1.2.3).
pub mod flags {
    #![allow(missing_docs)]
    pub const CLEAN_SESSION: u8 = 0x02;
    pub const WILL: u8 = 0x04;
    pub const WILL_QOS_1: u8 = 0x08;
    pub const WILL_QOS_2: u8 = 0x10;
    pub const WILL_RETAIN: u8 = 0x20;
    pub const PASSWORD: u8 = 0x40;
    pub const USER_NAME: u8 = 0x80;
}

/// What goes into a CONNECT, beyond the protocol name and level.
#[derive(Debug, Clone, Default)]
pub struct ConnectSpec<'a> {
    /// The connect flags byte, written as given (so checks can set reserved bits).
    pub flags: u8,
    /// Keep alive, seconds.
    pub keep_alive: u16,
    /// Client identifier.
    pub client_id: &'a str,
    /// Will topic and message, written when present (independently of the flags).
    pub will: Option<(&'a str, &'a [u8])>,
    /// User name, written when present.
    pub user_name: Option<&'a str>,
    /// Password, written when present.
    pub password: Option<&'a [u8]>,
}

/// The protocol name and level that open a CONNECT's variable header.
fn protocol_name_and_level(version: Version) -> Vec<u8> {
    match version {
        Version::V311 => vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04],
        Version::V5 => vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05],
        Version::V31 => vec![0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03],
    }
}

/// CONNECT: `00 04 'MQTT' 04` (3.1.1 §3.1.2) or `00 06 'MQIsdp' 03` (3.1 §3.1), flags, keep alive,
/// then the payload fields in their fixed order.
pub fn connect(version: Version, spec: &ConnectSpec<'_>) -> Vec<u8> {
    let mut body = protocol_name_and_level(version);
    body.push(spec.flags);
    body.extend_from_slice(&spec.keep_alive.to_be_bytes());
    if version == Version::V5 {
        // An empty CONNECT property set: a Property Length of zero [MQTT5-2.2.2-1].
        body.push(0);
    }
    body.extend(field(spec.client_id.as_bytes()));
    if let Some((topic, message)) = spec.will {
        if version == Version::V5 {
            // An empty set of Will Properties, before the Will Topic (5.0 §3.1.3.2).
            body.push(0);
        }
        body.extend(field(topic.as_bytes()));
        body.extend(field(message));
    }
    if let Some(user_name) = spec.user_name {
        body.extend(field(user_name.as_bytes()));
    }
    if let Some(password) = spec.password {
        body.extend(field(password));
    }
    packet(0x10, &body)
}

/// A CONNECT whose payload is exactly `fields`, each written as a length-prefixed field, whatever
/// the flags say: for checks that send payloads the flags do not describe, or strings that are not
/// well-formed UTF-8.
pub fn connect_fields(version: Version, flags: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut body = protocol_name_and_level(version);
    body.push(flags);
    body.extend_from_slice(&60u16.to_be_bytes());
    if version == Version::V5 {
        body.push(0);
    }
    for bytes in fields {
        body.extend(field(bytes));
    }
    packet(0x10, &body)
}

/// PUBLISH: first byte `0011 DUP QoS QoS RETAIN`, topic, packet identifier when QoS > 0, payload.
pub fn publish(topic: &str, qos: u8, retain: bool, dup: bool, id: u16, payload: &[u8]) -> Vec<u8> {
    publish_raw(topic.as_bytes(), qos, retain, dup, id, payload)
}

/// As [`publish`], with a topic given as bytes (which need not be well-formed UTF-8).
pub fn publish_raw(
    topic: &[u8],
    qos: u8,
    retain: bool,
    dup: bool,
    id: u16,
    payload: &[u8],
) -> Vec<u8> {
    let first = 0x30 | (u8::from(dup) << 3) | (qos << 1) | u8::from(retain);
    let mut body = field(topic);
    if qos > 0 {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    packet(first, &body)
}

/// A packet whose body is one packet identifier (PUBACK, PUBREC, PUBREL, PUBCOMP).
pub fn with_id(first: u8, id: u16) -> Vec<u8> {
    packet(first, &id.to_be_bytes())
}

/// SUBSCRIBE `82`: packet identifier, then (filter, requested QoS) pairs.
pub fn subscribe(id: u16, filters: &[(&str, u8)]) -> Vec<u8> {
    let raw: Vec<(&[u8], u8)> = filters
        .iter()
        .map(|(filter, qos)| (filter.as_bytes(), *qos))
        .collect();
    subscribe_raw(id, &raw)
}

/// As [`subscribe`], with filters given as bytes (which need not be well-formed UTF-8).
pub fn subscribe_raw(id: u16, filters: &[(&[u8], u8)]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    for (filter, qos) in filters {
        body.extend(field(filter));
        body.push(*qos);
    }
    packet(0x82, &body)
}

/// UNSUBSCRIBE `A2`: packet identifier, then filters.
pub fn unsubscribe(id: u16, filters: &[&str]) -> Vec<u8> {
    let raw: Vec<&[u8]> = filters.iter().map(|filter| filter.as_bytes()).collect();
    unsubscribe_raw(id, &raw)
}

/// As [`unsubscribe`], with filters given as bytes (which need not be well-formed UTF-8).
pub fn unsubscribe_raw(id: u16, filters: &[&[u8]]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    for filter in filters {
        body.extend(field(filter));
    }
    packet(0xA2, &body)
}

/// The encoded form of U+D800, a surrogate, which well-formed UTF-8 never contains [MQTT-1.5.3-1].
pub const SURROGATE: [u8; 3] = [0xED, 0xA0, 0x80];

/// PINGREQ `C0 00`.
pub const PINGREQ: [u8; 2] = [0xC0, 0x00];
/// DISCONNECT `E0 00`.
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

/// One packet as received: its first byte and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Type in the high nibble, flags in the low.
    pub first: u8,
    /// Everything after the Remaining Length.
    pub body: Vec<u8>,
}

impl Frame {
    /// The packet type (high nibble).
    pub fn kind(&self) -> u8 {
        self.first >> 4
    }

    /// The fixed-header flags (low nibble).
    pub fn flags(&self) -> u8 {
        self.first & 0x0F
    }

    /// The first two body bytes as a packet identifier, for the packets that start with one.
    pub fn packet_id(&self) -> Option<u16> {
        Some(u16::from_be_bytes([
            *self.body.first()?,
            *self.body.get(1)?,
        ]))
    }

    /// For a PUBLISH: (topic, packet identifier if QoS > 0, payload), or `None` if it is malformed.
    pub fn publish_parts(&self) -> Option<(String, Option<u16>, Vec<u8>)> {
        let len = usize::from(u16::from_be_bytes([
            *self.body.first()?,
            *self.body.get(1)?,
        ]));
        let topic = String::from_utf8(self.body.get(2..2 + len)?.to_vec()).ok()?;
        let mut at = 2 + len;
        let id = if self.qos() > 0 {
            let id = u16::from_be_bytes([*self.body.get(at)?, *self.body.get(at + 1)?]);
            at += 2;
            Some(id)
        } else {
            None
        };
        Some((topic, id, self.body.get(at..)?.to_vec()))
    }

    /// For a PUBLISH at QoS 1 or 2: its packet identifier.
    pub fn packet_id_of_publish(&self) -> Option<u16> {
        if self.kind() != kind::PUBLISH {
            return None;
        }
        self.publish_parts().and_then(|(_, id, _)| id)
    }

    /// For a PUBLISH: the QoS bits.
    pub fn qos(&self) -> u8 {
        (self.first >> 1) & 0x03
    }

    /// For a PUBLISH: the RETAIN bit.
    pub fn retain(&self) -> bool {
        self.first & 0x01 != 0
    }

    /// For a PUBLISH: the DUP bit.
    pub fn dup(&self) -> bool {
        self.first & 0x08 != 0
    }

    /// A short description for failure messages.
    pub fn describe(&self) -> String {
        let hex: Vec<String> = self
            .body
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "{} (first byte {:02x}, body {})",
            kind::name(self.kind()),
            self.first,
            hex.join(" ")
        )
    }
}

/// Cuts one frame from the front of `buffer`, if a whole one is there. `Err` for a Remaining Length
/// longer than four bytes.
pub fn take_frame(buffer: &mut Vec<u8>) -> Result<Option<Frame>, String> {
    let mut len = 0usize;
    let mut at = 1;
    loop {
        let Some(&byte) = buffer.get(at) else {
            return Ok(None);
        };
        len |= usize::from(byte & 0x7F) << (7 * (at - 1));
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if at == 5 {
            return Err("the server sent a Remaining Length longer than four bytes".to_owned());
        }
    }
    if buffer.len() < at + len {
        return Ok(None);
    }
    let body = buffer[at..at + len].to_vec();
    let first = buffer[0];
    buffer.drain(..at + len);
    Ok(Some(Frame { first, body }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_3_1_1_bytes() {
        let spec = ConnectSpec {
            flags: flags::CLEAN_SESSION,
            keep_alive: 60,
            client_id: "a",
            ..Default::default()
        };
        assert_eq!(
            connect(Version::V311, &spec),
            [
                0x10, 0x0d, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 1, b'a'
            ]
        );
    }

    #[test]
    fn remaining_length_of_200_takes_two_bytes() {
        let bytes = packet(0x30, &[0; 200]);
        assert_eq!(&bytes[..3], [0x30, 0xC8, 0x01]);
        let mut buffer = bytes.clone();
        let frame = take_frame(&mut buffer).expect("valid").expect("complete");
        assert_eq!(frame.body.len(), 200);
        assert!(buffer.is_empty());
    }

    #[test]
    fn publish_parts_read_back() {
        let mut buffer = publish("t/x", 1, true, false, 7, b"hi");
        let frame = take_frame(&mut buffer).expect("valid").expect("complete");
        assert_eq!(
            frame.publish_parts(),
            Some(("t/x".to_owned(), Some(7), b"hi".to_vec()))
        );
        assert!(frame.retain());
        assert_eq!(frame.qos(), 1);
    }
}

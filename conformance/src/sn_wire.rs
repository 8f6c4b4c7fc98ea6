//! The MQTT-SN 1.2 datagrams the gateway suite sends and expects, written out by hand from the
//! message layouts of MQTT-SN 1.2 §5, independently of `mqttsn-codec`.
//!
//! A bug in the project's MQTT-SN codec therefore cannot make the suite agree with a gateway built on
//! it. Builders return a whole datagram; [`SnFrame::parse`] cuts one datagram into its type and its
//! variable part and leaves every field to the check that looks at it. Multi-octet integers are
//! most significant octet first. Nothing here knows about sockets or time.

/// Message types, the octet after the Length (MQTT-SN 1.2 §5.2.2, Table 3).
pub mod msg {
    #![allow(missing_docs)]
    pub const ADVERTISE: u8 = 0x00;
    pub const SEARCHGW: u8 = 0x01;
    pub const GWINFO: u8 = 0x02;
    pub const CONNECT: u8 = 0x04;
    pub const CONNACK: u8 = 0x05;
    pub const WILLTOPICREQ: u8 = 0x06;
    pub const WILLTOPIC: u8 = 0x07;
    pub const WILLMSGREQ: u8 = 0x08;
    pub const WILLMSG: u8 = 0x09;
    pub const REGISTER: u8 = 0x0A;
    pub const REGACK: u8 = 0x0B;
    pub const PUBLISH: u8 = 0x0C;
    pub const PUBACK: u8 = 0x0D;
    pub const PUBCOMP: u8 = 0x0E;
    pub const PUBREC: u8 = 0x0F;
    pub const PUBREL: u8 = 0x10;
    pub const SUBSCRIBE: u8 = 0x12;
    pub const SUBACK: u8 = 0x13;
    pub const UNSUBSCRIBE: u8 = 0x14;
    pub const UNSUBACK: u8 = 0x15;
    pub const PINGREQ: u8 = 0x16;
    pub const PINGRESP: u8 = 0x17;
    pub const DISCONNECT: u8 = 0x18;
    pub const WILLTOPICUPD: u8 = 0x1A;
    pub const WILLTOPICRESP: u8 = 0x1B;
    pub const WILLMSGUPD: u8 = 0x1C;
    pub const WILLMSGRESP: u8 = 0x1D;
    pub const ENCAPSULATED: u8 = 0xFE;

    /// A name for messages.
    pub fn name(kind: u8) -> &'static str {
        match kind {
            ADVERTISE => "ADVERTISE",
            SEARCHGW => "SEARCHGW",
            GWINFO => "GWINFO",
            CONNECT => "CONNECT",
            CONNACK => "CONNACK",
            WILLTOPICREQ => "WILLTOPICREQ",
            WILLTOPIC => "WILLTOPIC",
            WILLMSGREQ => "WILLMSGREQ",
            WILLMSG => "WILLMSG",
            REGISTER => "REGISTER",
            REGACK => "REGACK",
            PUBLISH => "PUBLISH",
            PUBACK => "PUBACK",
            PUBCOMP => "PUBCOMP",
            PUBREC => "PUBREC",
            PUBREL => "PUBREL",
            SUBSCRIBE => "SUBSCRIBE",
            SUBACK => "SUBACK",
            UNSUBSCRIBE => "UNSUBSCRIBE",
            UNSUBACK => "UNSUBACK",
            PINGREQ => "PINGREQ",
            PINGRESP => "PINGRESP",
            DISCONNECT => "DISCONNECT",
            WILLTOPICUPD => "WILLTOPICUPD",
            WILLTOPICRESP => "WILLTOPICRESP",
            WILLMSGUPD => "WILLMSGUPD",
            WILLMSGRESP => "WILLMSGRESP",
            ENCAPSULATED => "Encapsulated",
            _ => "reserved type",
        }
    }
}

/// Bits of the Flags octet (MQTT-SN 1.2 §5.3.4, Table 4).
pub mod flag {
    #![allow(missing_docs)]
    pub const DUP: u8 = 0x80;
    pub const QOS_1: u8 = 0x20;
    pub const QOS_2: u8 = 0x40;
    /// QoS -1: both QoS bits set [SN-5.3.4-2].
    pub const QOS_MINUS_1: u8 = 0x60;
    pub const RETAIN: u8 = 0x10;
    pub const WILL: u8 = 0x08;
    pub const CLEAN_SESSION: u8 = 0x04;
    /// TopicIdType 0b00: a normal topic id (a topic name in SUBSCRIBE and UNSUBSCRIBE).
    pub const NORMAL: u8 = 0x00;
    /// TopicIdType 0b01: a predefined topic id.
    pub const PREDEFINED: u8 = 0x01;
    /// TopicIdType 0b10: a two-character short topic name.
    pub const SHORT: u8 = 0x02;

    /// The QoS bits for QoS 0, 1 or 2, or -1 for anything else.
    pub fn qos(qos: i8) -> u8 {
        match qos {
            0 => 0,
            1 => QOS_1,
            2 => QOS_2,
            _ => QOS_MINUS_1,
        }
    }
}

/// Return codes (MQTT-SN 1.2 §5.3.10, Table 5).
pub mod code {
    #![allow(missing_docs)]
    pub const ACCEPTED: u8 = 0x00;
    pub const CONGESTION: u8 = 0x01;
    pub const INVALID_TOPIC_ID: u8 = 0x02;
    pub const NOT_SUPPORTED: u8 = 0x03;
}

/// One datagram: Length (one octet, or `01` and two more when the total passes 255), MsgType, then
/// `body` [SN-5.2.1-1] [SN-5.2.1-2] [SN-5.2.1-3].
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let short = body.len() + 2;
    if short <= 0xFF {
        let mut out = vec![short as u8, kind];
        out.extend_from_slice(body);
        out
    } else {
        long_message(kind, body)
    }
}

/// The same datagram with the three-octet Length even when one octet would do, which a receiver
/// must accept [SN-5.2.1-4].
pub fn long_message(kind: u8, body: &[u8]) -> Vec<u8> {
    let total = (body.len() + 4).min(usize::from(u16::MAX)) as u16;
    let mut out = vec![0x01];
    out.extend_from_slice(&total.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

/// CONNECT: Flags, ProtocolId `01`, Duration (keep-alive, seconds), ClientId [SN-5.4.4-1].
pub fn connect(flags: u8, duration: u16, client_id: &str) -> Vec<u8> {
    connect_with_protocol(flags, 0x01, duration, client_id)
}

/// CONNECT with any ProtocolId, to offer a reserved one [SN-5.3.8-1].
pub fn connect_with_protocol(flags: u8, protocol: u8, duration: u16, client_id: &str) -> Vec<u8> {
    let mut body = vec![flags, protocol];
    body.extend_from_slice(&duration.to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    message(msg::CONNECT, &body)
}

/// WILLTOPIC: Flags (Will QoS, Will Retain), WillTopic [SN-5.4.7-1].
pub fn will_topic(flags: u8, topic: &str) -> Vec<u8> {
    with_flags(msg::WILLTOPIC, flags, topic.as_bytes())
}

/// WILLMSG: the Will message [SN-5.4.9-1].
pub fn will_msg(payload: &[u8]) -> Vec<u8> {
    message(msg::WILLMSG, payload)
}

/// WILLTOPICUPD: Flags, WillTopic; with no topic, the two-octet form that deletes the Will
/// [SN-5.4.22-1] [SN-5.4.22-2].
pub fn will_topic_update(flags: u8, topic: Option<&str>) -> Vec<u8> {
    match topic {
        Some(topic) => with_flags(msg::WILLTOPICUPD, flags, topic.as_bytes()),
        None => message(msg::WILLTOPICUPD, &[]),
    }
}

/// WILLMSGUPD: the new Will message [SN-5.4.23-1].
pub fn will_msg_update(payload: &[u8]) -> Vec<u8> {
    message(msg::WILLMSGUPD, payload)
}

/// REGISTER from a client: TopicId `0000`, MsgId, TopicName [SN-5.4.10-1].
pub fn register(msg_id: u16, topic: &str) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&msg_id.to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    message(msg::REGISTER, &body)
}

/// REGACK and PUBACK share a layout: TopicId, MsgId, ReturnCode [SN-5.4.11-1] [SN-5.4.13-1].
pub fn topic_ack(kind: u8, topic_id: u16, msg_id: u16, code: u8) -> Vec<u8> {
    let mut body = topic_id.to_be_bytes().to_vec();
    body.extend_from_slice(&msg_id.to_be_bytes());
    body.push(code);
    message(kind, &body)
}

/// PUBLISH: Flags, TopicId (or the two characters of a short name), MsgId, Data [SN-5.4.12-1].
pub fn publish(flags: u8, topic_id: u16, msg_id: u16, data: &[u8]) -> Vec<u8> {
    let mut body = vec![flags];
    body.extend_from_slice(&topic_id.to_be_bytes());
    body.extend_from_slice(&msg_id.to_be_bytes());
    body.extend_from_slice(data);
    message(msg::PUBLISH, &body)
}

/// A short topic name as the TopicId field carries it [SN-6.7-6].
pub fn short_name(name: [u8; 2]) -> u16 {
    u16::from_be_bytes(name)
}

/// PUBREC, PUBREL, PUBCOMP and UNSUBACK: a MsgId only [SN-5.4.14-1].
pub fn with_msg_id(kind: u8, msg_id: u16) -> Vec<u8> {
    message(kind, &msg_id.to_be_bytes())
}

/// What a SUBSCRIBE or UNSUBSCRIBE names: a topic name (or filter), a predefined id, a short name.
#[derive(Debug, Clone, Copy)]
pub enum Topic<'a> {
    /// TopicIdType 0b00, a name or filter.
    Name(&'a str),
    /// TopicIdType 0b01.
    Predefined(u16),
    /// TopicIdType 0b10.
    Short([u8; 2]),
}

impl Topic<'_> {
    fn type_bits(self) -> u8 {
        match self {
            Self::Name(_) => flag::NORMAL,
            Self::Predefined(_) => flag::PREDEFINED,
            Self::Short(_) => flag::SHORT,
        }
    }

    fn field(self) -> Vec<u8> {
        match self {
            Self::Name(name) => name.as_bytes().to_vec(),
            Self::Predefined(id) => id.to_be_bytes().to_vec(),
            Self::Short(name) => name.to_vec(),
        }
    }
}

/// SUBSCRIBE: Flags (requested QoS, TopicIdType), MsgId, then the topic [SN-5.4.15-1] [SN-5.4.15-2].
pub fn subscribe(qos: i8, msg_id: u16, topic: Topic<'_>) -> Vec<u8> {
    let mut body = vec![flag::qos(qos) | topic.type_bits()];
    body.extend_from_slice(&msg_id.to_be_bytes());
    body.extend(topic.field());
    message(msg::SUBSCRIBE, &body)
}

/// UNSUBSCRIBE: Flags (TopicIdType only), MsgId, then the topic [SN-5.4.17-1].
pub fn unsubscribe(msg_id: u16, topic: Topic<'_>) -> Vec<u8> {
    let mut body = vec![topic.type_bits()];
    body.extend_from_slice(&msg_id.to_be_bytes());
    body.extend(topic.field());
    message(msg::UNSUBSCRIBE, &body)
}

/// PINGREQ, with the ClientId of a sleeping client that wakes up [SN-5.4.19-1] [SN-5.4.19-2].
pub fn pingreq(client_id: Option<&str>) -> Vec<u8> {
    message(msg::PINGREQ, client_id.unwrap_or_default().as_bytes())
}

/// PINGRESP, header only [SN-5.4.20-1].
pub fn pingresp() -> Vec<u8> {
    message(msg::PINGRESP, &[])
}

/// DISCONNECT, with a sleep Duration when the client goes to sleep [SN-5.4.21-4] [SN-5.4.21-5].
pub fn disconnect(sleep: Option<u16>) -> Vec<u8> {
    match sleep {
        Some(duration) => message(msg::DISCONNECT, &duration.to_be_bytes()),
        None => message(msg::DISCONNECT, &[]),
    }
}

/// SEARCHGW: the broadcast Radius [SN-5.4.2-1].
pub fn searchgw(radius: u8) -> Vec<u8> {
    message(msg::SEARCHGW, &[radius])
}

/// A forwarder's frame: Length (up to the end of the node id), `FE`, Ctrl, Wireless Node Id, then
/// the MQTT-SN message whole [SN-5.5-1].
pub fn encapsulate(ctrl: u8, node: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut out = vec![(3 + node.len()).min(0xFF) as u8, msg::ENCAPSULATED, ctrl];
    out.extend_from_slice(node);
    out.extend_from_slice(inner);
    out
}

fn with_flags(kind: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut body = vec![flags];
    body.extend_from_slice(rest);
    message(kind, &body)
}

/// One received datagram: its MsgType and the octets after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnFrame {
    /// MsgType.
    pub kind: u8,
    /// The variable part.
    pub body: Vec<u8>,
}

/// A forwarder frame taken apart: Ctrl, Wireless Node Id, and the message inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encapsulated {
    /// The Ctrl octet.
    pub ctrl: u8,
    /// The Wireless Node Id.
    pub node: Vec<u8>,
    /// The message it carries.
    pub inner: SnFrame,
}

impl SnFrame {
    /// Reads one datagram. The Length must match the datagram's size: MQTT-SN has no streams, so
    /// any other value is the sender's error [SN-5.2.1-1].
    pub fn parse(datagram: &[u8]) -> Result<Self, String> {
        let (total, header) = match datagram {
            [0x01, high, low, _, ..] => (usize::from(u16::from_be_bytes([*high, *low])), 4),
            [length, _, ..] => (usize::from(*length), 2),
            _ => {
                return Err(format!(
                    "a datagram too short for a header: {datagram:02x?}"
                ));
            }
        };
        if total != datagram.len() || total < header {
            return Err(format!(
                "Length says {total} octets, the datagram has {}: {}",
                datagram.len(),
                hex(datagram)
            ));
        }
        Ok(Self {
            kind: datagram[header - 1],
            body: datagram[header..].to_vec(),
        })
    }

    /// Reads a forwarder frame [SN-5.5-1].
    pub fn parse_encapsulated(datagram: &[u8]) -> Result<Encapsulated, String> {
        let [length, msg::ENCAPSULATED, ctrl, ..] = datagram else {
            return Err(format!("not an encapsulated frame: {}", hex(datagram)));
        };
        let length = usize::from(*length);
        if length < 3 || length > datagram.len() {
            return Err(format!("bad encapsulation Length: {}", hex(datagram)));
        }
        Ok(Encapsulated {
            ctrl: *ctrl,
            node: datagram[3..length].to_vec(),
            inner: Self::parse(&datagram[length..])?,
        })
    }

    /// A big-endian `u16` at `at` in the body.
    pub fn u16_at(&self, at: usize) -> Option<u16> {
        Some(u16::from_be_bytes([
            *self.body.get(at)?,
            *self.body.get(at + 1)?,
        ]))
    }

    /// The Flags octet of PUBLISH, SUBACK, WILLTOPIC (the first octet of the body).
    pub fn flags(&self) -> u8 {
        self.body.first().copied().unwrap_or_default()
    }

    /// The QoS of the Flags octet: 0, 1, 2, or -1.
    pub fn qos(&self) -> i8 {
        match (self.flags() >> 5) & 0b11 {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => -1,
        }
    }

    /// The ReturnCode of CONNACK, WILLTOPICRESP, WILLMSGRESP (first octet), or of REGACK, PUBACK
    /// (fifth) and SUBACK (sixth).
    pub fn return_code(&self) -> Option<u8> {
        let at = match self.kind {
            msg::REGACK | msg::PUBACK => 4,
            msg::SUBACK => 5,
            _ => 0,
        };
        self.body.get(at).copied()
    }

    /// For PUBLISH: TopicId, MsgId and Data.
    pub fn publish_parts(&self) -> Option<(u16, u16, &[u8])> {
        if self.kind != msg::PUBLISH || self.body.len() < 5 {
            return None;
        }
        Some((self.u16_at(1)?, self.u16_at(3)?, &self.body[5..]))
    }

    /// For REGISTER: TopicId, MsgId and TopicName.
    pub fn register_parts(&self) -> Option<(u16, u16, &[u8])> {
        if self.kind != msg::REGISTER || self.body.len() < 4 {
            return None;
        }
        Some((self.u16_at(0)?, self.u16_at(2)?, &self.body[4..]))
    }

    /// The type and the bytes, for failure messages.
    pub fn describe(&self) -> String {
        format!("{} ({})", msg::name(self.kind), hex(&self.body))
    }
}

/// Octets as lower-case hex pairs.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each vector is written out from the tables of MQTT-SN 1.2 §5.4, field by field.

    #[test]
    fn connect_is_laid_out_as_in_the_table() {
        assert_eq!(
            connect(flag::CLEAN_SESSION | flag::WILL, 30, "ab"),
            [
                0x08, // Length: 8 octets in all
                0x04, // CONNECT
                0x0C, // Flags: Will, CleanSession
                0x01, // ProtocolId
                0x00, 0x1E, // Duration 30 s
                b'a', b'b', // ClientId
            ]
        );
    }

    #[test]
    fn publish_register_subscribe_and_acks() {
        assert_eq!(
            publish(flag::QOS_1 | flag::RETAIN, 0x0102, 7, b"x"),
            [0x08, 0x0C, 0x30, 0x01, 0x02, 0x00, 0x07, b'x']
        );
        assert_eq!(
            register(5, "a/b"),
            [0x09, 0x0A, 0x00, 0x00, 0x00, 0x05, b'a', b'/', b'b']
        );
        assert_eq!(
            subscribe(2, 3, Topic::Short(*b"ab")),
            [0x07, 0x12, 0x42, 0x00, 0x03, b'a', b'b']
        );
        assert_eq!(
            subscribe(0, 3, Topic::Name("a/#")),
            [0x08, 0x12, 0x00, 0x00, 0x03, b'a', b'/', b'#']
        );
        assert_eq!(
            topic_ack(msg::PUBACK, 9, 4, code::INVALID_TOPIC_ID),
            [0x07, 0x0D, 0x00, 0x09, 0x00, 0x04, 0x02]
        );
        assert_eq!(with_msg_id(msg::PUBREL, 0x0A0B), [0x04, 0x10, 0x0A, 0x0B]);
        assert_eq!(disconnect(Some(5)), [0x04, 0x18, 0x00, 0x05]);
        assert_eq!(pingreq(None), [0x02, 0x16]);
    }

    #[test]
    fn long_length_form() {
        assert_eq!(long_message(msg::PINGREQ, &[]), [0x01, 0x00, 0x04, 0x16]);
        let big = message(msg::WILLMSG, &[0u8; 300]);
        assert_eq!(&big[..4], [0x01, 0x01, 0x30, 0x09]);
        let frame = SnFrame::parse(&big).expect("parses");
        assert_eq!((frame.kind, frame.body.len()), (msg::WILLMSG, 300));
    }

    #[test]
    fn parse_refuses_a_length_that_disagrees() {
        assert!(SnFrame::parse(&[0x03, 0x05]).is_err());
        assert!(SnFrame::parse(&[0x02]).is_err());
        let frame = SnFrame::parse(&[0x03, 0x05, 0x00]).expect("CONNACK");
        assert_eq!((frame.kind, frame.return_code()), (msg::CONNACK, Some(0)));
    }

    #[test]
    fn encapsulation_round_trip() {
        let frame = encapsulate(0, &[0xAA, 0xBB], &pingreq(None));
        assert_eq!(frame, [0x05, 0xFE, 0x00, 0xAA, 0xBB, 0x02, 0x16]);
        let taken = SnFrame::parse_encapsulated(&frame).expect("parses");
        assert_eq!(taken.node, [0xAA, 0xBB]);
        assert_eq!(taken.inner.kind, msg::PINGREQ);
    }
}

//! [`ConnectionRules`]: the broker's per-connection protocol machine (`ProtocolMachine`, in
//! `connection/protocol.rs`) as public, sans-IO API: bytes and instants go in, [`Step`]s come out.
//!
//! The broker runs that machine on each connection's reader thread, between the decoder and the
//! router. It is crate-private, because its actions speak the broker's internal types; this file
//! wraps the same machine, unchanged, so that its rules can be read, tried and doc-tested without a
//! socket, a thread or a clock: CONNECT first and only once [MQTT-3.1.0-1] [MQTT-3.1.0-2], the
//! keep-alive [MQTT-3.1.2-24], PINGRESP [MQTT-3.12.4-1], the Will on an abnormal close
//! [MQTT-3.1.2-8], malformed bytes closing the connection [MQTT-4.8.0-1].
//!
//! What it does not do: keep sessions, route, or authenticate. Those are the router's, behind the
//! machine, so where the broker would act on the router this reports a step instead. In particular
//! CONNECT yields [`Step::Open`], not a CONNACK: the CONNACK is the session store's answer.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mqtt_broker::Config;
//! use mqtt_broker::sans_io::{ConnectionRules, Step};
//!
//! let start = Instant::now();
//! let mut rules = ConnectionRules::new(&Config::default(), start);
//!
//! // CONNECT at 3.1.1: clean session, keep-alive 10 s, client id "c". The machine asks for the
//! // session to be opened; nothing is sent yet.
//! let connect = [
//!     0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x0a, 0x00, 0x01, b'c',
//! ];
//! let steps = rules.receive(&connect, start);
//! assert!(
//!     matches!(&steps[..], [Step::Open { client_id, clean_session: true, keep_alive: 10 }] if client_id == "c"),
//!     "{steps:?}"
//! );
//!
//! // PINGREQ is answered with PINGRESP [MQTT-3.12.4-1]; the bytes are what the writer would send.
//! assert_eq!(rules.receive(&[0xc0, 0x00], start), [Step::Send(vec![0xd0, 0x00])]);
//!
//! // Packets may arrive split anywhere: half a PINGREQ is no step at all.
//! assert_eq!(rules.receive(&[0xc0], start), []);
//! assert_eq!(rules.receive(&[0x00], start), [Step::Send(vec![0xd0, 0x00])]);
//!
//! // Keep-alive: silence for one and a half times 10 s closes the connection [MQTT-3.1.2-24].
//! // Time is an argument, so nothing here sleeps.
//! assert_eq!(rules.deadline(), Some(start + Duration::from_secs(15)));
//! assert_eq!(rules.tick(start + Duration::from_secs(14)), []);
//! let steps = rules.tick(start + Duration::from_secs(15));
//! assert!(matches!(&steps[..], [Step::Close { reason, will: None }] if reason.contains("keep-alive")));
//!
//! // A closed connection processes nothing more.
//! assert_eq!(rules.receive(&[0xc0, 0x00], start + Duration::from_secs(16)), []);
//! ```

use std::time::Instant;

use mqtt_codec::{Decoder, QoS, Status};

use crate::config::Config;
use crate::connection::protocol::{Action, ProtocolMachine, Settings};

/// One connection's protocol rules, fed bytes and the time, without I/O. See the module's example.
#[derive(Debug)]
pub struct ConnectionRules {
    machine: ProtocolMachine,
    /// Bytes received and not yet a whole packet.
    buffer: Vec<u8>,
    /// Once closed, nothing more is decoded (the machine ignores it anyway).
    closed: bool,
}

/// What the broker would do next on this connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Write these bytes to the client: one packet, encoded at the connection's protocol level.
    Send(Vec<u8>),
    /// A valid CONNECT: open (or resume) this client's session. The broker's session store answers
    /// with CONNACK.
    Open {
        /// The client identifier, as given or as assigned [MQTT-3.1.3-6].
        client_id: String,
        /// CleanSession [MQTT-3.1.2-4].
        clean_session: bool,
        /// The keep-alive, in seconds.
        keep_alive: u16,
    },
    /// Route an application message to its subscribers.
    Publish {
        /// Its topic name.
        topic: String,
        /// Its payload.
        payload: Vec<u8>,
        /// The QoS it was published with.
        qos: QoS,
        /// Whether it is to be retained.
        retain: bool,
    },
    /// Something the session store carries out (subscribe, unsubscribe, an acknowledgement, a QoS
    /// 2 release, a message dropped for its size), described for reading.
    Store(String),
    /// Close the connection.
    Close {
        /// Why, as the broker logs it (with the rule id where one applies).
        reason: String,
        /// The topic of the Will the broker would publish, if any [MQTT-3.1.2-8].
        will: Option<String>,
    },
}

impl ConnectionRules {
    /// The rules of a connection accepted at `now`, with the settings of `config` that the machine
    /// uses (`connect_timeout`, `allow_zero_length_clientid`, `auto_id_prefix`,
    /// `message_size_limit`).
    pub fn new(config: &Config, now: Instant) -> Self {
        let settings = Settings::from_config(config);
        Self {
            machine: ProtocolMachine::new(settings, 1, now),
            buffer: Vec::new(),
            closed: false,
        }
    }

    /// Bytes from the client, received at `now`: every whole packet among them (with what came
    /// before) is decoded and handed to the machine; a partial one waits for more bytes.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Vec<Step> {
        if self.closed {
            return Vec::new();
        }
        self.buffer.extend_from_slice(bytes);
        let mut actions = Vec::new();
        let mut used = 0;
        while !self.closed {
            // The level can change with CONNECT, so the decoder follows the machine's.
            let decoder = Decoder::new(self.machine.level());
            match decoder.decode(&self.buffer[used..]) {
                Ok(Status::Complete((packet, len))) => {
                    used += len;
                    self.machine.packet_into(packet, now, &mut actions);
                }
                Ok(Status::Partial) => break,
                Err(error) => {
                    actions.extend(self.machine.malformed(error));
                    used = self.buffer.len();
                }
            }
            self.closed |= actions.iter().any(|a| matches!(a, Action::Close(_)));
        }
        self.buffer.drain(..used);
        self.steps(actions)
    }

    /// Time has passed: the connect timeout or the keep-alive may close the connection.
    pub fn tick(&mut self, now: Instant) -> Vec<Step> {
        let actions = self.machine.tick(now);
        self.closed |= actions.iter().any(|a| matches!(a, Action::Close(_)));
        self.steps(actions)
    }

    /// When [`tick`](Self::tick) next has something to decide, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        self.machine.deadline()
    }

    /// The socket closed or failed: the Will, if any, is to be published [MQTT-3.1.2-8].
    pub fn connection_lost(&mut self) -> Vec<Step> {
        self.closed = true;
        let actions = self.machine.connection_lost();
        self.steps(actions)
    }

    fn steps(&self, actions: Vec<Action>) -> Vec<Step> {
        actions
            .into_iter()
            .map(|action| match action {
                Action::Send(packet) => {
                    let mut bytes = Vec::new();
                    match packet.encode(self.machine.level(), &mut bytes) {
                        Ok(_) => Step::Send(bytes),
                        // Not reachable for packets the machine builds; reported, not a panic.
                        Err(error) => Step::Store(format!("{packet:?} not encodable: {error}")),
                    }
                }
                Action::Open(request) => Step::Open {
                    client_id: request.client_id.to_string(),
                    clean_session: request.clean_session,
                    keep_alive: request.keep_alive,
                },
                Action::Publish(message)
                | Action::PublishOnce {
                    message: Some(message),
                    ..
                } => Step::Publish {
                    topic: message.topic.to_string(),
                    payload: message.payload.to_vec(),
                    qos: message.qos,
                    retain: message.retain,
                },
                Action::Close(close) => Step::Close {
                    reason: close.reason.to_string(),
                    will: close.will.map(|will| will.topic.to_string()),
                },
                other => Step::Store(format!("{other:?}")),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECT_C: [u8; 15] = [
        0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x0a, 0x00, 0x01, b'c',
    ];

    fn connected(now: Instant) -> ConnectionRules {
        let mut rules = ConnectionRules::new(&Config::default(), now);
        let steps = rules.receive(&CONNECT_C, now);
        assert!(matches!(&steps[..], [Step::Open { .. }]), "{steps:?}");
        rules
    }

    #[test]
    fn a_second_connect_closes_mqtt_3_1_0_2() {
        let now = Instant::now();
        let mut rules = connected(now);
        let steps = rules.receive(&CONNECT_C, now);
        assert!(
            matches!(&steps[..], [Step::Close { reason, .. }] if reason.contains("MQTT-3.1.0-2")),
            "{steps:?}"
        );
    }

    #[test]
    fn a_first_packet_other_than_connect_closes_mqtt_3_1_0_1() {
        let now = Instant::now();
        let mut rules = ConnectionRules::new(&Config::default(), now);
        let steps = rules.receive(&[0xc0, 0x00], now);
        assert!(
            matches!(&steps[..], [Step::Close { reason, .. }] if reason.contains("MQTT-3.1.0-1")),
            "{steps:?}"
        );
    }

    #[test]
    fn malformed_bytes_close_and_the_rest_is_not_read_mqtt_4_8_0_1() {
        let now = Instant::now();
        let mut rules = connected(now);
        // PINGREQ with a non-zero flag nibble is malformed; the PINGREQ after it is never read.
        let steps = rules.receive(&[0xc1, 0x00, 0xc0, 0x00], now);
        assert!(matches!(&steps[..], [Step::Close { .. }]), "{steps:?}");
    }

    #[test]
    fn a_qos_1_publish_is_routed_and_acknowledged() {
        let now = Instant::now();
        let mut rules = connected(now);
        // PUBLISH QoS 1 to "t", packet id 7, payload "x".
        let steps = rules.receive(&[0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x07, b'x'], now);
        assert!(
            steps.contains(&Step::Publish {
                topic: "t".into(),
                payload: b"x".to_vec(),
                qos: QoS::AtLeastOnce,
                retain: false,
            }),
            "{steps:?}"
        );
        assert!(
            steps.contains(&Step::Send(vec![0x40, 0x02, 0x00, 0x07])),
            "{steps:?}"
        );
    }

    #[test]
    fn the_will_is_reported_when_the_connection_is_lost_mqtt_3_1_2_8() {
        let now = Instant::now();
        let mut rules = ConnectionRules::new(&Config::default(), now);
        // CONNECT with a Will on "w" (QoS 0, payload "bye"), clean session, keep-alive 0.
        let connect = [
            0x10, 0x15, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x06, 0x00, 0x00, 0x00, 0x01,
            b'c', 0x00, 0x01, b'w', 0x00, 0x03, b'b', b'y', b'e',
        ];
        let steps = rules.receive(&connect, now);
        assert!(matches!(&steps[..], [Step::Open { .. }]), "{steps:?}");
        assert_eq!(rules.deadline(), None, "keep-alive 0: no deadline");
        let steps = rules.connection_lost();
        assert!(
            matches!(&steps[..], [Step::Close { will: Some(topic), .. }] if topic == "w"),
            "{steps:?}"
        );
    }
}

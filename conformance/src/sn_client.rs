//! A raw MQTT-SN test node: a UDP socket that sends the datagrams of [`crate::sn_wire`] to the
//! gateway under test and reads its answers, each wait bounded by the run's timeout.
//!
//! It holds almost no protocol state: the checks decide what to send and what to expect. The one
//! convenience is [`SnClient::next_publish`], which answers the gateway's REGISTERs and completes
//! the receiver's side of a PUBLISH's QoS flow, so that checks about delivery need not repeat it.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::check::Context;
use crate::sn_wire::{self, SnFrame, Topic, code, flag, msg};

/// What a check gets back when something other than the expected message happens.
pub type Outcome<T> = Result<T, String>;

/// One node talking to the gateway under test from its own UDP port.
pub struct SnClient {
    socket: UdpSocket,
    timeout: Duration,
    /// PUBLISH and REGISTER messages that arrived while the node waited for something else (a
    /// gateway may forward a message before the SUBACK, or register a topic before it); served
    /// before anything new.
    set_aside: VecDeque<SnFrame>,
    /// Topic ids the gateway registered with this node [SN-5.4.10-2].
    registered: HashMap<u16, String>,
    next_msg_id: u16,
}

/// A PUBLISH received from the gateway, with the topic name its id was registered for (if the
/// gateway registered it with this node).
#[derive(Debug)]
pub struct Delivery {
    /// The PUBLISH as it arrived.
    pub frame: SnFrame,
    /// The name a REGISTER gave its TopicId, if any.
    pub name: Option<String>,
}

impl SnClient {
    /// A fresh node: a new UDP port, connected (in the socket sense) to the gateway, so that only
    /// the gateway's datagrams are read.
    pub fn open(context: &Context) -> Outcome<Self> {
        let gateway = gateway_address(context)?;
        let local: SocketAddr = if gateway.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).map_err(|error| format!("cannot bind UDP: {error}"))?;
        socket
            .connect(gateway)
            .map_err(|error| format!("cannot address {gateway}: {error}"))?;
        Ok(Self {
            socket,
            timeout: context.timeout,
            set_aside: VecDeque::new(),
            registered: HashMap::new(),
            next_msg_id: 1,
        })
    }

    /// A node that has completed CONNECT (no Will) with `flags` and keep-alive `duration`; fails
    /// unless the gateway answers CONNACK "accepted".
    pub fn connect(context: &Context, client_id: &str, flags: u8, duration: u16) -> Outcome<Self> {
        let mut client = Self::open(context)?;
        client.send(&sn_wire::connect(flags, duration, client_id))?;
        client.expect_accepted(msg::CONNACK)?;
        Ok(client)
    }

    /// A node connected with a clean session and a keep-alive of a minute.
    pub fn clean(context: &Context, client_id: &str) -> Outcome<Self> {
        Self::connect(context, client_id, flag::CLEAN_SESSION, 60)
    }

    /// The node's UDP address, as the gateway sees it on loopback.
    pub fn local_addr(&self) -> Outcome<SocketAddr> {
        self.socket.local_addr().map_err(|error| error.to_string())
    }

    /// A message id for the next REGISTER, PUBLISH or SUBSCRIBE: never 0, different each time.
    pub fn msg_id(&mut self) -> u16 {
        let id = self.next_msg_id;
        self.next_msg_id = self.next_msg_id.checked_add(1).unwrap_or(1);
        id
    }

    /// Sends one datagram as it is.
    pub fn send(&self, datagram: &[u8]) -> Outcome<()> {
        self.socket
            .send(datagram)
            .map(drop)
            .map_err(|error| format!("send failed: {error}"))
    }

    /// The next datagram within `wait`, or `None` after silence. A datagram that is not MQTT-SN
    /// is a failure of the gateway.
    pub fn next_within(&mut self, wait: Duration) -> Outcome<Option<SnFrame>> {
        if let Some(frame) = self.set_aside.pop_front() {
            return Ok(Some(frame));
        }
        self.receive(wait)?
            .map(|datagram| SnFrame::parse(&datagram))
            .transpose()
    }

    /// The next datagram within `wait`, unparsed (for encapsulated frames).
    pub fn receive(&self, wait: Duration) -> Outcome<Option<Vec<u8>>> {
        let wait = wait.max(Duration::from_millis(1));
        self.socket
            .set_read_timeout(Some(wait))
            .map_err(|error| error.to_string())?;
        let mut buffer = vec![0u8; 65536];
        match self.socket.recv(&mut buffer) {
            Ok(n) => {
                buffer.truncate(n);
                Ok(Some(buffer))
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(None)
            }
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                Err("the gateway's port is closed (ICMP port unreachable)".to_owned())
            }
            Err(error) => Err(format!("receive failed: {error}")),
        }
    }

    /// The next message within the timeout.
    pub fn recv(&mut self) -> Outcome<SnFrame> {
        self.next_within(self.timeout)?
            .ok_or_else(|| format!("no message within {:?}", self.timeout))
    }

    /// The next message, which must be of type `expected`.
    pub fn expect(&mut self, expected: u8) -> Outcome<SnFrame> {
        let frame = self
            .recv()
            .map_err(|error| format!("waiting for {}: {error}", msg::name(expected)))?;
        if frame.kind != expected {
            return Err(format!(
                "expected {}, got {}",
                msg::name(expected),
                frame.describe()
            ));
        }
        Ok(frame)
    }

    /// The next message of type `expected`, whose return code must be "accepted".
    pub fn expect_accepted(&mut self, expected: u8) -> Outcome<SnFrame> {
        let frame = self.wait_for(expected)?;
        if frame.return_code() != Some(code::ACCEPTED) {
            return Err(format!("refused: {}", frame.describe()));
        }
        Ok(frame)
    }

    /// Waits for a message of type `wanted`, setting aside PUBLISH and REGISTER messages that
    /// arrive first; they are served by the next [`recv`](Self::recv).
    pub fn wait_for(&mut self, wanted: u8) -> Outcome<SnFrame> {
        let deadline = Instant::now() + self.timeout;
        let mut kept = VecDeque::new();
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = match self.next_within(left) {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    break Err(format!(
                        "no {} within {:?}",
                        msg::name(wanted),
                        self.timeout
                    ));
                }
                Err(error) => break Err(error),
            };
            if frame.kind == wanted {
                break Ok(frame);
            }
            if !matches!(frame.kind, msg::PUBLISH | msg::REGISTER) {
                break Err(format!(
                    "expected {}, got {}",
                    msg::name(wanted),
                    frame.describe()
                ));
            }
            kept.push_back(frame);
        };
        kept.append(&mut self.set_aside);
        self.set_aside = kept;
        result
    }

    /// Registers `name` and returns the topic id the gateway assigned; the REGACK must echo the
    /// MsgId and accept [SN-5.4.11-1].
    pub fn register(&mut self, name: &str) -> Outcome<u16> {
        let id = self.msg_id();
        self.send(&sn_wire::register(id, name))?;
        let regack = self.expect_accepted(msg::REGACK)?;
        if regack.u16_at(2) != Some(id) {
            return Err(format!(
                "REGACK does not echo MsgId {id}: {}",
                regack.describe()
            ));
        }
        regack
            .u16_at(0)
            .ok_or_else(|| format!("REGACK too short: {}", regack.describe()))
    }

    /// Subscribes and returns the SUBACK, which must echo the MsgId and accept.
    pub fn subscribe(&mut self, qos: i8, topic: Topic<'_>) -> Outcome<SnFrame> {
        let id = self.msg_id();
        self.send(&sn_wire::subscribe(qos, id, topic))?;
        let suback = self.expect_accepted(msg::SUBACK)?;
        if suback.u16_at(3) != Some(id) {
            return Err(format!(
                "SUBACK does not echo MsgId {id}: {}",
                suback.describe()
            ));
        }
        Ok(suback)
    }

    /// Publishes at QoS 0, 1 or 2 (`flags` carries the TopicIdType and any other bits) and
    /// completes the sender's side of the flow; returns the MsgId used.
    pub fn publish(&mut self, qos: i8, flags: u8, topic_id: u16, data: &[u8]) -> Outcome<u16> {
        let id = if qos > 0 { self.msg_id() } else { 0 };
        self.send(&sn_wire::publish(
            flag::qos(qos) | flags,
            topic_id,
            id,
            data,
        ))?;
        match qos {
            1 => {
                let puback = self.expect_accepted(msg::PUBACK)?;
                if puback.u16_at(0) != Some(topic_id) || puback.u16_at(2) != Some(id) {
                    return Err(format!(
                        "PUBACK does not echo TopicId {topic_id:04x} and MsgId {id}: {}",
                        puback.describe()
                    ));
                }
            }
            2 => {
                let pubrec = self.wait_for(msg::PUBREC)?;
                if pubrec.u16_at(0) != Some(id) {
                    return Err(format!("PUBREC for another MsgId: {}", pubrec.describe()));
                }
                self.send(&sn_wire::with_msg_id(msg::PUBREL, id))?;
                let pubcomp = self.wait_for(msg::PUBCOMP)?;
                if pubcomp.u16_at(0) != Some(id) {
                    return Err(format!("PUBCOMP for another MsgId: {}", pubcomp.describe()));
                }
            }
            _ => {}
        }
        Ok(id)
    }

    /// The next PUBLISH from the gateway. REGISTERs before it are accepted with REGACK and
    /// remembered; the PUBLISH is acknowledged as its QoS requires [SN-6.6-2].
    pub fn next_publish(&mut self) -> Outcome<Delivery> {
        loop {
            let frame = self.recv()?;
            match frame.kind {
                msg::REGISTER => self.accept_register(&frame)?,
                msg::PUBLISH => {
                    self.acknowledge(&frame)?;
                    let name = frame
                        .publish_parts()
                        .and_then(|(topic, _, _)| self.registered.get(&topic).cloned());
                    return Ok(Delivery { frame, name });
                }
                _ => return Err(format!("expected PUBLISH, got {}", frame.describe())),
            }
        }
    }

    /// Answers a gateway's REGISTER with REGACK "accepted" and remembers the mapping
    /// [SN-6.10-3].
    pub fn accept_register(&mut self, frame: &SnFrame) -> Outcome<()> {
        let (topic, id, name) = frame
            .register_parts()
            .ok_or_else(|| format!("a REGISTER too short: {}", frame.describe()))?;
        let name = String::from_utf8_lossy(name).into_owned();
        self.registered.insert(topic, name);
        self.send(&sn_wire::topic_ack(msg::REGACK, topic, id, code::ACCEPTED))
    }

    /// Completes the receiver's side of a PUBLISH's QoS flow.
    pub fn acknowledge(&mut self, frame: &SnFrame) -> Outcome<()> {
        let Some((topic, id, _)) = frame.publish_parts() else {
            return Ok(());
        };
        match frame.qos() {
            1 => self.send(&sn_wire::topic_ack(msg::PUBACK, topic, id, code::ACCEPTED)),
            2 => {
                self.send(&sn_wire::with_msg_id(msg::PUBREC, id))?;
                let pubrel = self.wait_for(msg::PUBREL)?;
                if pubrel.u16_at(0) != Some(id) {
                    return Err(format!("PUBREL for another MsgId: {}", pubrel.describe()));
                }
                self.send(&sn_wire::with_msg_id(msg::PUBCOMP, id))
            }
            _ => Ok(()),
        }
    }

    /// A PINGREQ/PINGRESP round trip; everything the gateway sent before the PINGRESP is
    /// returned. Used as a barrier: the gateway has handled what this node sent before it.
    pub fn ping(&mut self) -> Outcome<Vec<SnFrame>> {
        self.send(&sn_wire::pingreq(None))?;
        let mut before = Vec::new();
        loop {
            let frame = self.recv()?;
            if frame.kind == msg::PINGRESP {
                return Ok(before);
            }
            before.push(frame);
        }
    }

    /// Sends DISCONNECT and waits for the gateway's DISCONNECT [SN-6.12-3].
    pub fn disconnect(mut self) -> Outcome<()> {
        self.send(&sn_wire::disconnect(None))?;
        loop {
            let frame = self.recv()?;
            match frame.kind {
                msg::DISCONNECT => return Ok(()),
                // Late deliveries may still arrive; they do not matter any more.
                msg::PUBLISH | msg::REGISTER | msg::PUBREL => {}
                _ => {
                    return Err(format!("expected DISCONNECT, got {}", frame.describe()));
                }
            }
        }
    }
}

/// The gateway's address from the context, or why there is none.
pub fn gateway_address(context: &Context) -> Outcome<SocketAddr> {
    context
        .gateway
        .as_ref()
        .map(|gateway| gateway.address)
        .ok_or_else(|| "no gateway address (--sn-port)".to_owned())
}

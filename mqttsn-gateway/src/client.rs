//! [`Client`]: a blocking MQTT-SN 1.2 client over UDP, for the `mqttsn-pub` and `mqttsn-sub` tools,
//! the gateway's tests and any program that wants to talk to a gateway.
//!
//! One socket, no threads: every call sends its message and waits for the answer, retransmitting
//! after T_retry up to N_retry times [SN-6.13-1] [SN-6.13-2]. Whatever arrives meanwhile is handled
//! on the spot: PUBLISHes from the gateway are acknowledged and queued for [`Client::recv`], the
//! gateway's REGISTERs are accepted [SN-6.10-3], its PINGREQs answered [SN-6.11-2]. Only one request
//! is outstanding at a time, which is what the specification asks of a client [SN-6.5-5]
//! [SN-6.6-6] [SN-6.9-6].
//!
//! It covers connection with a will (§6.2), registration (§6.5), publishing at QoS -1 to 2 (§6.6,
//! §6.8), predefined ids and short names (§6.7), subscriptions (§6.9), keep-alive pings (§6.11),
//! will updates (§6.4), sleeping and waking (§6.14), and sending through a forwarder (§5.5). It does
//! not search for gateways (it is given one address).
//!
//! # Keep-alive
//!
//! A connected client must send something at least once per keep-alive period, or the gateway
//! takes it for lost [SN-6.14-4]. Like Paho's clients, this one sends PINGREQ by itself when it has
//! sent nothing for a whole keep-alive period [SN-6.11-1]; having no thread, it does so while the
//! application waits in [`Client::recv`], which is where an idle subscriber spends its time. A
//! PINGREQ left unanswered after N_retry retransmissions means the gateway is gone, and `recv`
//! returns [`Error::TimedOut`] [SN-6.13-3]. A program that stays connected without calling `recv`
//! (a publisher that waits between readings) calls [`Client::ping`] itself, or `recv` with a short
//! timeout. No PINGREQ is sent while the client sleeps: its wake-ups are its own.

use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mqttsn_codec::{
    ClientId, Connect, Disconnect, Encapsulated, Message, MsgId, PingReq, PubAck, PubComp, PubRec,
    PubRel, Publish, PublishTopic, QoS, RegAck, Register, ReturnCode, ShortTopicName, Subscribe,
    SubscribeTopic, TopicFilter, TopicId, TopicName, Unsubscribe, WillMsg, WillTopic,
};

/// The will a client leaves with the gateway at connection [SN-6.2-2].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// The will topic.
    pub topic: String,
    /// The will message.
    pub message: Vec<u8>,
    /// Its QoS (0 to 2).
    pub qos: QoS,
    /// Its retain flag.
    pub retain: bool,
}

/// How to connect. Made with [`ClientOptions::new`], then adjusted field by field.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The gateway's UDP address.
    pub gateway: SocketAddr,
    /// The client id, 1 to 23 characters [SN-5.3.1-1].
    pub client_id: String,
    /// The keep-alive sent in CONNECT, in seconds (default 60) [SN-5.4.4-2].
    pub keep_alive: u16,
    /// Clean session (default true) [SN-5.3.4-5].
    pub clean_session: bool,
    /// The will, if any.
    pub will: Option<Will>,
    /// T_retry (default 5 s).
    pub retry_interval: Duration,
    /// N_retry (default 3).
    pub retry_count: u32,
    /// Send every message encapsulated as if from this wireless node, as a forwarder would (§5.5).
    pub wireless_node_id: Option<Vec<u8>>,
    /// The local address to bind (default: any port on the unspecified address of the gateway's
    /// family).
    pub bind: Option<SocketAddr>,
    /// Fail at once with [`Error::Unreachable`] when the system reports the gateway's port closed
    /// (ICMP "port unreachable"), instead of retransmitting until N_retry runs out. The socket is
    /// then connected to the gateway, which is what makes the system report it. Off by default:
    /// a client started before its gateway keeps trying; the tools turn it on.
    pub fail_fast: bool,
}

impl ClientOptions {
    /// Options for client `client_id` of the gateway at `gateway`, everything else at its default.
    pub fn new(gateway: SocketAddr, client_id: impl Into<String>) -> Self {
        Self {
            gateway,
            client_id: client_id.into(),
            keep_alive: 60,
            clean_session: true,
            will: None,
            retry_interval: Duration::from_secs(5),
            retry_count: 3,
            wireless_node_id: None,
            bind: None,
            fail_fast: false,
        }
    }
}

/// A topic to publish on (§6.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// A normal topic id, from REGISTER or SUBACK.
    Id(TopicId),
    /// A predefined topic id [SN-6.7-2].
    Predefined(u16),
    /// A two-character short topic name [SN-6.7-6].
    Short(String),
}

/// A topic to subscribe to or unsubscribe from (§6.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// A topic name or filter, wildcards allowed.
    Name(String),
    /// A predefined topic id.
    Predefined(u16),
    /// A two-character short topic name.
    Short(String),
}

/// A message received from the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The topic name, when the client knows it (registered, subscribed by name, or short).
    pub topic_name: Option<String>,
    /// The topic as it came.
    pub topic: PublishTopic,
    /// The payload.
    pub payload: Vec<u8>,
    /// The QoS it came with.
    pub qos: QoS,
    /// Its retain flag.
    pub retain: bool,
}

/// Sends one client's DISCONNECT from another thread; see [`Client::disconnector`].
#[derive(Debug)]
pub struct Disconnector {
    socket: UdpSocket,
    gateway: SocketAddr,
    datagram: Vec<u8>,
}

impl Disconnector {
    /// Sends the DISCONNECT.
    pub fn send(&self) -> Result<(), Error> {
        self.socket.send_to(&self.datagram, self.gateway)?;
        Ok(())
    }
}

/// What went wrong, by who is at fault.
#[derive(Debug)]
pub enum Error {
    /// The socket failed.
    Io(io::Error),
    /// No answer after N_retry retransmissions: the gateway is taken to be gone [SN-6.13-3].
    TimedOut(&'static str),
    /// The gateway refused, with this return code.
    Rejected(ReturnCode),
    /// The gateway sent DISCONNECT: the client must connect again [SN-5.4.21-3].
    Disconnected,
    /// The application asked for something the protocol does not allow.
    Invalid(String),
    /// Nothing listens on the gateway's port (ICMP "port unreachable"; with
    /// [`ClientOptions::fail_fast`] only).
    Unreachable,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "network error: {error}"),
            Self::TimedOut(what) => write!(f, "no {what} from the gateway"),
            Self::Rejected(code) => write!(f, "the gateway refused: {code}"),
            Self::Disconnected => f.write_str("the gateway disconnected the client"),
            Self::Invalid(reason) => f.write_str(reason),
            Self::Unreachable => f.write_str("no gateway on that port (ICMP port unreachable)"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// A connected MQTT-SN client.
#[derive(Debug)]
pub struct Client {
    socket: UdpSocket,
    options: ClientOptions,
    next_msg_id: u16,
    /// Topic names by normal id, learned from REGACK, SUBACK and the gateway's REGISTER.
    names: HashMap<u16, String>,
    /// Messages received and not yet handed to the application.
    inbox: VecDeque<Received>,
    /// MsgIds of QoS 2 messages received, until PUBREL: a retransmission is not delivered twice.
    qos2: HashSet<u16>,
    /// When the client last sent anything: the keep-alive counts from there. A `Cell` because
    /// sending takes `&self`.
    last_sent: Cell<Instant>,
    /// Whether the client is connected and awake, so that it pings on its own.
    pinging: bool,
}

impl Client {
    /// Connects to the gateway, going through the will dialogue if there is a will, and waits for
    /// CONNACK.
    pub fn connect(options: ClientOptions) -> Result<Self, Error> {
        let bind = options.bind.unwrap_or_else(|| {
            if options.gateway.is_ipv4() {
                SocketAddr::from(([0, 0, 0, 0], 0))
            } else {
                SocketAddr::from(([0u16; 8], 0))
            }
        });
        let socket = UdpSocket::bind(bind)?;
        if options.fail_fast {
            socket.connect(options.gateway)?;
        }
        let mut client = Self {
            socket,
            options,
            next_msg_id: 0,
            names: HashMap::new(),
            inbox: VecDeque::new(),
            qos2: HashSet::new(),
            last_sent: Cell::new(Instant::now()),
            pinging: false,
        };
        client.reconnect()?;
        Ok(client)
    }

    /// Connects again with the same options (after a DISCONNECT, a sleep, or the gateway's loss).
    pub fn reconnect(&mut self) -> Result<(), Error> {
        let id = self.options.client_id.clone();
        let client_id =
            ClientId::new(&id).map_err(|e| Error::Invalid(format!("client id: {e}")))?;
        let will = self.options.will.clone();
        let connect = Message::Connect(Connect {
            will: will.is_some(),
            clean_session: self.options.clean_session,
            duration: self.options.keep_alive,
            client_id,
        });
        self.pinging = false;
        let mut expecting_connack = will.is_none();
        loop {
            let answer = if expecting_connack {
                self.exchange("CONNACK", |_| connect, |m| matches!(m, Message::ConnAck(_)))?
            } else {
                self.exchange(
                    "WILLTOPICREQ",
                    |_| connect,
                    |m| matches!(m, Message::WillTopicReq | Message::ConnAck(_)),
                )?
            };
            match answer {
                Reply::ConnAck(ReturnCode::Accepted) => {
                    self.pinging = true;
                    return Ok(());
                }
                Reply::ConnAck(code) => return Err(Error::Rejected(code)),
                Reply::WillTopicReq => {
                    let Some(will) = &will else {
                        expecting_connack = true;
                        continue;
                    };
                    return self.will_dialogue(will);
                }
                _ => expecting_connack = true,
            }
        }
    }

    fn will_dialogue(&mut self, will: &Will) -> Result<(), Error> {
        let topic =
            TopicName::new(&will.topic).map_err(|e| Error::Invalid(format!("will topic: {e}")))?;
        let will_topic = Message::WillTopic(WillTopic::Set {
            qos: will.qos,
            retain: will.retain,
            topic,
        });
        self.exchange(
            "WILLMSGREQ",
            |_| will_topic,
            |m| matches!(m, Message::WillMsgReq),
        )?;
        let will_msg = Message::WillMsg(WillMsg {
            message: &will.message,
        });
        match self.exchange(
            "CONNACK",
            |_| will_msg,
            |m| matches!(m, Message::ConnAck(_)),
        )? {
            Reply::ConnAck(ReturnCode::Accepted) => {
                self.pinging = true;
                Ok(())
            }
            Reply::ConnAck(code) => Err(Error::Rejected(code)),
            _ => Err(Error::TimedOut("CONNACK")),
        }
    }

    /// A handle that sends this client's DISCONNECT from another thread (a signal handler's),
    /// from the client's own address so that the gateway takes it as this client's [SN-6.12-1].
    /// The gateway's answering DISCONNECT then ends the client's wait with
    /// [`Error::Disconnected`].
    pub fn disconnector(&self) -> Result<Disconnector, Error> {
        let bytes = encode(&Message::Disconnect(Disconnect { duration: None }))?;
        let datagram = match &self.options.wireless_node_id {
            None => bytes,
            Some(node) => {
                let frame = Encapsulated::new(0, node, &bytes)
                    .map_err(|e| Error::Invalid(format!("encapsulation: {e}")))?;
                encode(&Message::Encapsulated(frame))?
            }
        };
        Ok(Disconnector {
            socket: self.socket.try_clone()?,
            gateway: self.options.gateway,
            datagram,
        })
    }

    /// The client's local address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.socket.local_addr()?)
    }

    /// The options it was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Registers `topic` and returns its id [SN-6.5-3].
    pub fn register(&mut self, topic: &str) -> Result<TopicId, Error> {
        let topic_name =
            TopicName::new(topic).map_err(|e| Error::Invalid(format!("topic: {e}")))?;
        let msg_id = self.next_msg_id();
        let register = Message::Register(Register {
            topic_id: TopicId::UNASSIGNED,
            msg_id,
            topic_name,
        });
        match self.exchange(
            "REGACK",
            |_| register,
            |m| matches!(m, Message::RegAck(a) if a.msg_id == msg_id),
        )? {
            Reply::RegAck(topic_id, ReturnCode::Accepted) => {
                self.names.insert(topic_id.0, topic.to_string());
                Ok(topic_id)
            }
            Reply::RegAck(_, code) => Err(Error::Rejected(code)),
            _ => Err(Error::TimedOut("REGACK")),
        }
    }

    /// Publishes and waits for the end of the QoS flow: at once for QoS 0, PUBACK for QoS 1,
    /// PUBCOMP for QoS 2. For QoS -1 use [`Client::publish_minus_one`].
    pub fn publish(
        &mut self,
        topic: Topic,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), Error> {
        let topic = publish_topic(&topic)?;
        if qos == QoS::MinusOne {
            return Err(Error::Invalid(
                "QoS -1 is for clients that are not connected".into(),
            ));
        }
        let msg_id = if qos.needs_msg_id() {
            self.next_msg_id()
        } else {
            MsgId::NONE
        };
        let build = |dup| {
            Message::Publish(Publish {
                dup,
                qos,
                retain,
                topic,
                msg_id,
                data: payload,
            })
        };
        match qos {
            QoS::AtMostOnce | QoS::MinusOne => {
                self.send(&build(false))?;
                // [SN-6.6-3] A refusal may come back even at QoS 0; it is not waited for.
                Ok(())
            }
            QoS::AtLeastOnce => match self.exchange("PUBACK", build, |m| {
                matches!(m, Message::PubAck(a) if a.msg_id == msg_id || a.msg_id == MsgId::NONE)
            })? {
                Reply::PubAck(ReturnCode::Accepted) => Ok(()),
                Reply::PubAck(code) => Err(Error::Rejected(code)),
                _ => Err(Error::TimedOut("PUBACK")),
            },
            QoS::ExactlyOnce => {
                match self.exchange("PUBREC", build, |m| {
                    matches!(m, Message::PubRec(r) if r.msg_id == msg_id)
                        || matches!(m, Message::PubAck(a) if a.msg_id == msg_id)
                })? {
                    Reply::PubRec => {}
                    Reply::PubAck(code) => return Err(Error::Rejected(code)),
                    _ => return Err(Error::TimedOut("PUBREC")),
                }
                let pubrel = Message::PubRel(PubRel { msg_id });
                self.exchange("PUBCOMP", |_| pubrel, |m| {
                    matches!(m, Message::PubComp(c) if c.msg_id == msg_id)
                })?;
                Ok(())
            }
        }
    }

    /// Publishes at QoS -1 from a fresh socket, without connecting: a predefined id or a short
    /// name, fire and forget [SN-6.8-1] [SN-6.8-2].
    pub fn publish_minus_one(
        gateway: SocketAddr,
        topic: &Topic,
        payload: &[u8],
        retain: bool,
    ) -> Result<(), Error> {
        let topic = publish_topic(topic)?;
        if matches!(topic, PublishTopic::Normal(_)) {
            return Err(Error::Invalid(
                "QoS -1 needs a predefined topic id or a short topic name [SN-6.8-2]".into(),
            ));
        }
        let message = Message::Publish(Publish {
            dup: false,
            qos: QoS::MinusOne,
            retain,
            topic,
            msg_id: MsgId::NONE,
            data: payload,
        });
        let bind: SocketAddr = if gateway.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(bind)?;
        socket.send_to(&encode(&message)?, gateway)?;
        Ok(())
    }

    /// Subscribes and returns the topic id the gateway will publish with (0x0000 for a wildcard
    /// filter or a short name) and the QoS granted.
    pub fn subscribe(&mut self, filter: Filter, qos: QoS) -> Result<(TopicId, QoS), Error> {
        let msg_id = self.next_msg_id();
        let name = match &filter {
            Filter::Name(name) => Some(name.clone()),
            _ => None,
        };
        let topic = subscribe_topic(&filter)?;
        let build = |dup| {
            Message::Subscribe(Subscribe {
                dup,
                qos,
                msg_id,
                topic,
            })
        };
        match self.exchange(
            "SUBACK",
            build,
            |m| matches!(m, Message::SubAck(a) if a.msg_id == msg_id),
        )? {
            Reply::SubAck(topic_id, granted, ReturnCode::Accepted) => {
                if let Some(name) = name
                    && !topic_id.is_reserved()
                {
                    self.names.insert(topic_id.0, name);
                }
                Ok((topic_id, granted))
            }
            Reply::SubAck(_, _, code) => Err(Error::Rejected(code)),
            _ => Err(Error::TimedOut("SUBACK")),
        }
    }

    /// Unsubscribes.
    pub fn unsubscribe(&mut self, filter: Filter) -> Result<(), Error> {
        let msg_id = self.next_msg_id();
        let topic = subscribe_topic(&filter)?;
        let unsubscribe = Message::Unsubscribe(Unsubscribe { msg_id, topic });
        self.exchange(
            "UNSUBACK",
            |_| unsubscribe,
            |m| matches!(m, Message::UnsubAck(a) if a.msg_id == msg_id),
        )?;
        Ok(())
    }

    /// Sends PINGREQ and waits for PINGRESP [SN-6.11-1].
    pub fn ping(&mut self) -> Result<(), Error> {
        let ping = Message::PingReq(PingReq { client_id: None });
        self.exchange("PINGRESP", |_| ping, |m| matches!(m, Message::PingResp))?;
        Ok(())
    }

    /// Replaces the will topic, or deletes the will with `None` [SN-6.4-1] [SN-6.4-4].
    pub fn update_will_topic(&mut self, will: Option<(&str, QoS, bool)>) -> Result<(), Error> {
        let update = match will {
            None => WillTopic::Delete,
            Some((topic, qos, retain)) => WillTopic::Set {
                qos,
                retain,
                topic: TopicName::new(topic)
                    .map_err(|e| Error::Invalid(format!("will topic: {e}")))?,
            },
        };
        let message = Message::WillTopicUpd(update);
        match self.exchange(
            "WILLTOPICRESP",
            |_| message,
            |m| matches!(m, Message::WillTopicResp(_)),
        )? {
            Reply::WillResp(ReturnCode::Accepted) => Ok(()),
            Reply::WillResp(code) => Err(Error::Rejected(code)),
            _ => Err(Error::TimedOut("WILLTOPICRESP")),
        }
    }

    /// Replaces the will message [SN-6.4-1].
    pub fn update_will_message(&mut self, message: &[u8]) -> Result<(), Error> {
        let update = Message::WillMsgUpd(WillMsg { message });
        match self.exchange(
            "WILLMSGRESP",
            |_| update,
            |m| matches!(m, Message::WillMsgResp(_)),
        )? {
            Reply::WillResp(ReturnCode::Accepted) => Ok(()),
            Reply::WillResp(code) => Err(Error::Rejected(code)),
            _ => Err(Error::TimedOut("WILLMSGRESP")),
        }
    }

    /// Goes to sleep for `seconds`: DISCONNECT with a duration, acknowledged by DISCONNECT
    /// [SN-6.14-6].
    pub fn sleep(&mut self, seconds: u16) -> Result<(), Error> {
        self.pinging = false;
        let disconnect = Message::Disconnect(Disconnect {
            duration: Some(seconds),
        });
        self.exchange(
            "DISCONNECT",
            |_| disconnect,
            |m| matches!(m, Message::Disconnect(_)),
        )?;
        Ok(())
    }

    /// Wakes up to collect what the gateway buffered: PINGREQ with the client id, then every
    /// message up to PINGRESP [SN-5.4.19-2] [SN-6.14-10]. The client is asleep again afterwards.
    pub fn wake(&mut self) -> Result<Vec<Received>, Error> {
        let id = self.options.client_id.clone();
        let client_id =
            ClientId::new(&id).map_err(|e| Error::Invalid(format!("client id: {e}")))?;
        let ping = Message::PingReq(PingReq {
            client_id: Some(client_id),
        });
        self.exchange("PINGRESP", |_| ping, |m| matches!(m, Message::PingResp))?;
        Ok(self.inbox.drain(..).collect())
    }

    /// Disconnects: DISCONNECT, acknowledged by DISCONNECT [SN-6.12-3].
    pub fn disconnect(&mut self) -> Result<(), Error> {
        self.pinging = false;
        let disconnect = Message::Disconnect(Disconnect { duration: None });
        self.exchange(
            "DISCONNECT",
            |_| disconnect,
            |m| matches!(m, Message::Disconnect(_)),
        )?;
        Ok(())
    }

    /// The next message from the gateway, waiting at most `timeout`; `None` if none came.
    ///
    /// While it waits, the client keeps its connection alive: PINGREQ whenever a keep-alive period
    /// has passed without sending anything (see the module's documentation). A ping that is
    /// under way when `timeout` runs out is finished first, so the wait can overrun by up to
    /// N_retry times T_retry when the gateway is slow to answer.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Received>, Error> {
        let deadline = Instant::now() + timeout;
        while self.inbox.is_empty() {
            let ping_due = self.ping_due();
            let Some(bytes) =
                self.recv_datagram(ping_due.map_or(deadline, |due| due.min(deadline)))?
            else {
                if ping_due.is_some_and(|due| Instant::now() >= due) {
                    // [SN-6.11-1] Idle for a keep-alive period: PINGREQ, and PINGRESP expected.
                    self.ping()?;
                    continue;
                }
                break;
            };
            if matches!(self.unwrap(&bytes), Some(Message::Disconnect(_))) {
                self.pinging = false;
                return Err(Error::Disconnected);
            }
            self.handle_unsolicited(&bytes)?;
        }
        Ok(self.inbox.pop_front())
    }

    /// When the next keep-alive PINGREQ is due, if the client pings at all.
    fn ping_due(&self) -> Option<Instant> {
        (self.pinging && self.options.keep_alive > 0)
            .then(|| self.last_sent.get() + Duration::from_secs(self.options.keep_alive.into()))
    }

    /// Sends any message as it is, encapsulated if the client is behind a forwarder: for tests
    /// that need to send what this client would never send on its own.
    pub fn send_raw(&self, message: &Message<'_>) -> Result<(), Error> {
        self.send(message)
    }

    /// The next datagram from the gateway, unencapsulated, without interpreting it.
    pub fn recv_raw(&self, timeout: Duration) -> Result<Option<Vec<u8>>, Error> {
        let Some(bytes) = self.recv_datagram(Instant::now() + timeout)? else {
            return Ok(None);
        };
        Ok(Some(match &self.options.wireless_node_id {
            None => bytes,
            Some(_) => match Message::decode(&bytes) {
                Ok(Message::Encapsulated(frame)) => frame.message_bytes().to_vec(),
                _ => bytes,
            },
        }))
    }

    // ---------------------------------------------------------------------------------------------

    /// Sends `build(dup)` and waits for an answer `wanted` accepts, retransmitting with `dup` set
    /// after each T_retry [SN-6.13-2], and failing after N_retry retransmissions [SN-6.13-3].
    /// Every other message from the gateway restarts the timer [SN-6.14-12], which lets an awake
    /// client receive a long buffer.
    fn exchange<'m>(
        &mut self,
        what: &'static str,
        build: impl Fn(bool) -> Message<'m>,
        wanted: impl Fn(&Message<'_>) -> bool,
    ) -> Result<Reply, Error> {
        self.send(&build(false))?;
        let mut retries = 0;
        let mut deadline = Instant::now() + self.options.retry_interval;
        loop {
            let Some(bytes) = self.recv_datagram(deadline)? else {
                if retries >= self.options.retry_count {
                    return Err(Error::TimedOut(what));
                }
                retries += 1;
                self.send(&build(true))?;
                deadline = Instant::now() + self.options.retry_interval;
                continue;
            };
            let Some(message) = self.unwrap(&bytes) else {
                continue;
            };
            if wanted(&message) {
                return Ok(Reply::from(&message));
            }
            if let Message::Disconnect(_) = message {
                self.pinging = false;
                return Err(Error::Disconnected);
            }
            self.handle_unsolicited(&bytes)?;
            deadline = Instant::now() + self.options.retry_interval;
        }
    }

    /// Answers and records what the gateway sends on its own.
    fn handle_unsolicited(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let Some(message) = self.unwrap(bytes) else {
            return Ok(());
        };
        match message {
            Message::Publish(publish) => {
                let topic_name = match publish.topic {
                    PublishTopic::Normal(id) => self.names.get(&id.0).cloned(),
                    PublishTopic::Short(short) => Some(short.as_str().to_string()),
                    PublishTopic::Predefined(_) => None,
                };
                if let PublishTopic::Normal(id) = publish.topic
                    && topic_name.is_none()
                {
                    // [SN-6.10-7] An id the client does not know.
                    let puback = Message::PubAck(PubAck {
                        topic_id: id,
                        msg_id: publish.msg_id,
                        return_code: ReturnCode::InvalidTopicId,
                    });
                    return self.send(&puback);
                }
                let fresh = match publish.qos {
                    QoS::AtLeastOnce => {
                        self.send(&Message::PubAck(PubAck {
                            topic_id: TopicId(u16::from_be_bytes(publish.topic.to_array())),
                            msg_id: publish.msg_id,
                            return_code: ReturnCode::Accepted,
                        }))?;
                        true
                    }
                    QoS::ExactlyOnce => {
                        self.send(&Message::PubRec(PubRec {
                            msg_id: publish.msg_id,
                        }))?;
                        self.qos2.insert(publish.msg_id.0)
                    }
                    _ => true,
                };
                if fresh {
                    self.inbox.push_back(Received {
                        topic_name,
                        topic: publish.topic,
                        payload: publish.data.to_vec(),
                        qos: publish.qos,
                        retain: publish.retain,
                    });
                }
            }
            Message::PubRel(pubrel) => {
                self.qos2.remove(&pubrel.msg_id.0);
                self.send(&Message::PubComp(PubComp {
                    msg_id: pubrel.msg_id,
                }))?;
            }
            Message::Register(register) => {
                // [SN-6.10-3]
                self.names.insert(
                    register.topic_id.0,
                    register.topic_name.as_str().to_string(),
                );
                self.send(&Message::RegAck(RegAck {
                    topic_id: register.topic_id,
                    msg_id: register.msg_id,
                    return_code: ReturnCode::Accepted,
                }))?;
            }
            // [SN-6.11-2]
            Message::PingReq(_) => self.send(&Message::PingResp)?,
            _ => {}
        }
        Ok(())
    }

    fn unwrap<'b>(&self, bytes: &'b [u8]) -> Option<Message<'b>> {
        match Message::decode(bytes).ok()? {
            Message::Encapsulated(frame) => frame.message().ok(),
            message => Some(message),
        }
    }

    fn send(&self, message: &Message<'_>) -> Result<(), Error> {
        let bytes = encode(message)?;
        let datagram = match &self.options.wireless_node_id {
            None => bytes,
            Some(node) => {
                let frame = Encapsulated::new(0, node, &bytes)
                    .map_err(|e| Error::Invalid(format!("encapsulation: {e}")))?;
                encode(&Message::Encapsulated(frame))?
            }
        };
        match self.socket.send_to(&datagram, self.options.gateway) {
            Err(error)
                if self.options.fail_fast && error.kind() == io::ErrorKind::ConnectionRefused =>
            {
                return Err(Error::Unreachable);
            }
            result => result?,
        };
        self.last_sent.set(Instant::now());
        Ok(())
    }

    fn recv_datagram(&self, deadline: Instant) -> Result<Option<Vec<u8>>, Error> {
        let mut buffer = vec![0u8; 65_535];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket.set_read_timeout(Some(left))?;
            match self.socket.recv_from(&mut buffer) {
                Ok((len, from)) if from == self.options.gateway => {
                    buffer.truncate(len);
                    return Ok(Some(buffer));
                }
                // Datagrams from anyone else are not the gateway's.
                Ok(_) => {}
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                // A signal arrived (the tools handle SIGINT): wait on.
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // ICMP "port unreachable" from an earlier send: the gateway is not there (yet).
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    if self.options.fail_fast {
                        return Err(Error::Unreachable);
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    fn next_msg_id(&mut self) -> MsgId {
        self.next_msg_id = self.next_msg_id.checked_add(1).unwrap_or(1);
        MsgId(self.next_msg_id)
    }
}

/// The parts of an answer [`Client::exchange`] returns, owned.
enum Reply {
    ConnAck(ReturnCode),
    WillTopicReq,
    RegAck(TopicId, ReturnCode),
    PubAck(ReturnCode),
    PubRec,
    SubAck(TopicId, QoS, ReturnCode),
    WillResp(ReturnCode),
    Other,
}

impl From<&Message<'_>> for Reply {
    fn from(message: &Message<'_>) -> Self {
        match message {
            Message::ConnAck(a) => Self::ConnAck(a.return_code),
            Message::WillTopicReq => Self::WillTopicReq,
            Message::RegAck(a) => Self::RegAck(a.topic_id, a.return_code),
            Message::PubAck(a) => Self::PubAck(a.return_code),
            Message::PubRec(_) => Self::PubRec,
            Message::SubAck(a) => Self::SubAck(a.topic_id, a.qos, a.return_code),
            Message::WillTopicResp(a) | Message::WillMsgResp(a) => Self::WillResp(a.return_code),
            _ => Self::Other,
        }
    }
}

fn encode(message: &Message<'_>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(message.encoded_len());
    message
        .encode(&mut out)
        .map_err(|e| Error::Invalid(format!("cannot encode: {e}")))?;
    Ok(out)
}

fn short(name: &str) -> Result<ShortTopicName, Error> {
    ShortTopicName::new(name).map_err(|e| Error::Invalid(format!("short topic name: {e}")))
}

fn publish_topic(topic: &Topic) -> Result<PublishTopic, Error> {
    Ok(match topic {
        Topic::Id(id) => PublishTopic::Normal(*id),
        Topic::Predefined(id) => PublishTopic::Predefined(TopicId(*id)),
        Topic::Short(name) => PublishTopic::Short(short(name)?),
    })
}

fn subscribe_topic(filter: &Filter) -> Result<SubscribeTopic<'_>, Error> {
    Ok(match filter {
        Filter::Name(name) => SubscribeTopic::Name(
            TopicFilter::new(name).map_err(|e| Error::Invalid(format!("topic filter: {e}")))?,
        ),
        Filter::Predefined(id) => SubscribeTopic::Predefined(TopicId(*id)),
        Filter::Short(name) => SubscribeTopic::Short(short(name)?),
    })
}

#[cfg(test)]
mod tests {
    //! The client against a gateway played by the test on a plain UDP socket, so that the test
    //! decides what is answered and what is not.

    use std::thread;

    use super::*;

    /// How long the fake gateway waits for any one datagram before the test fails.
    const PATIENCE: Duration = Duration::from_secs(5);

    /// The next message the fake gateway receives, and from where.
    fn next(gateway: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buffer = vec![0u8; 1024];
        gateway.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let (len, from) = gateway
            .recv_from(&mut buffer)
            .expect("a datagram from the client within the test's patience");
        buffer.truncate(len);
        (buffer, from)
    }

    fn reply(gateway: &UdpSocket, to: SocketAddr, message: &Message<'_>) {
        gateway
            .send_to(&encode(message).expect("encodable"), to)
            .expect("sent");
    }

    #[test]
    fn an_idle_client_pings_at_its_keep_alive_and_notices_a_silent_gateway_sn_6_11_1_sn_6_13_3() {
        let gateway = UdpSocket::bind("127.0.0.1:0").expect("socket");
        let mut options = ClientOptions::new(gateway.local_addr().expect("address"), "pinger");
        options.keep_alive = 1;
        options.retry_interval = Duration::from_millis(200);
        options.retry_count = 2;
        // Before the client exists, so before it sends anything: its first PINGREQ is due a full
        // keep-alive period after its CONNECT, hence after this.
        let started = Instant::now();
        let client = thread::spawn(move || {
            let mut client = Client::connect(options)?;
            let first = client.recv(Duration::from_secs(30));
            let second = client.recv(Duration::from_secs(30));
            Ok::<_, Error>((first?, second))
        });
        let (connect, node) = next(&gateway);
        assert!(matches!(Message::decode(&connect), Ok(Message::Connect(_))));
        reply(
            &gateway,
            node,
            &Message::ConnAck(mqttsn_codec::ConnAck {
                return_code: ReturnCode::Accepted,
            }),
        );
        // Idle in recv: a PINGREQ after one keep-alive period, answered.
        let (ping, _) = next(&gateway);
        assert_eq!(
            Message::decode(&ping),
            Ok(Message::PingReq(PingReq { client_id: None }))
        );
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "not before it is due"
        );
        reply(&gateway, node, &Message::PingResp);
        // The first recv ends with a message.
        let short = ShortTopicName::new("ab").expect("valid");
        reply(
            &gateway,
            node,
            &Message::Publish(Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: false,
                topic: PublishTopic::Short(short),
                msg_id: MsgId::NONE,
                data: b"hi",
            }),
        );
        // Then the gateway falls silent: the PINGREQ and its N_retry retransmissions go unanswered.
        for _ in 0..3 {
            let (ping, _) = next(&gateway);
            assert!(matches!(Message::decode(&ping), Ok(Message::PingReq(_))));
        }
        let (first, second) = client
            .join()
            .expect("the client thread ends")
            .expect("connected, and the first recv succeeds");
        assert_eq!(first.map(|m| m.payload), Some(b"hi".to_vec()));
        assert!(
            matches!(second, Err(Error::TimedOut("PINGRESP"))),
            "{second:?}"
        );
    }

    #[test]
    fn a_client_without_keep_alive_does_not_ping() {
        let gateway = UdpSocket::bind("127.0.0.1:0").expect("socket");
        let mut options = ClientOptions::new(gateway.local_addr().expect("address"), "quiet");
        options.keep_alive = 0;
        let client = thread::spawn(move || {
            let mut client = Client::connect(options)?;
            client.recv(Duration::from_millis(1500))
        });
        let (_, node) = next(&gateway);
        reply(
            &gateway,
            node,
            &Message::ConnAck(mqttsn_codec::ConnAck {
                return_code: ReturnCode::Accepted,
            }),
        );
        assert!(matches!(client.join().expect("ends"), Ok(None)));
        // Nothing but the CONNECT came.
        gateway
            .set_read_timeout(Some(Duration::from_millis(1)))
            .expect("timeout");
        assert!(gateway.recv_from(&mut [0u8; 64]).is_err());
    }
}

//! A test double: a small MQTT 3.1 / 3.1.1 broker written only to prove the suite right, correct by
//! default, that can be told to break one rule.
//!
//! It is deliberately naive: one thread per connection, all state behind one lock, writes made
//! while holding it (the test clients read everything they are sent, and the packets are small). Its
//! logic is its own, independent of `mqtt-broker` and of the checks; it reads and writes bytes with
//! the suite's `wire` helpers, which its own unit tests pin. What it does not do: authentication,
//! `$SYS`, limits, persistence.
//!
//! Each [`Fault`] is one deliberate violation, switched on where the correct behaviour is written,
//! so that a reader sees the rule and its breach side by side.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use conformance::wire::{self, Frame, kind};

/// One rule the double can be told to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    // CONNECT and CONNACK.
    /// Sends a PINGRESP before the CONNACK.
    PingrespBeforeConnack,
    /// Accepts a CONNECT with the reserved flag set.
    AcceptReservedConnectFlag,
    /// Accepts any protocol name.
    AcceptAnyProtocolName,
    /// Accepts any protocol level.
    AcceptAnyLevel,
    /// Keeps the connection open after a refusing CONNACK.
    OpenAfterRefusal,
    /// Answers packets sent before CONNECT.
    AcceptNonConnectFirst,
    /// Ignores a second CONNECT.
    IgnoreSecondConnect,
    /// Accepts Will QoS and Will Retain without the Will Flag.
    WillBitsWithoutWill,
    /// Accepts a Will QoS of 3.
    AcceptWillQos3,
    /// Accepts a password without a user name.
    AcceptPasswordWithoutUserName,
    /// Treats a payload that ends early as having the missing fields absent (the 3.1 rule) at 3.1.1.
    TolerateMissingFields,
    /// Ignores bytes after the last field the flags announce.
    TolerateTrailingFields,
    /// Accepts strings that are not well-formed UTF-8.
    AcceptInvalidUtf8,
    /// Accepts strings holding U+0000.
    AcceptNullCharacter,
    /// Goes on reading and routing after refusing a CONNECT.
    ProcessAfterRefusal,
    /// Refuses client identifiers longer than 20 characters.
    RejectLongClientIds,
    /// Accepts an empty client identifier with CleanSession 0.
    AcceptEmptyIdPersistent,
    /// Refuses an empty client identifier with CONNACK 5.
    EmptyIdRefusedWith5,
    /// Keeps the older connection when a client identifier connects again.
    NoTakeover,
    /// Ignores a DISCONNECT whose reserved flags are set.
    IgnoreMalformedDisconnect,
    /// Ignores packets of the reserved types.
    IgnoreReservedTypes,
    /// Refuses MQTT 3.1 with CONNACK 1.
    RefuseMqtt31,
    /// Applies the 3.1.1 client identifier rules at 3.1 (any length, empty allowed).
    Mqtt31IdsLike311,
    /// Applies the 3.1.1 strictness about flags and fields at 3.1.
    Strict31,
    // PUBLISH and its flows.
    /// Sends QoS 0 messages with DUP set.
    Qos0WithDup,
    /// Sends QoS 0 messages with a packet identifier.
    Qos0WithPacketId,
    /// PUBACK carries the wrong identifier.
    PubackWrongId,
    /// PUBREC carries the wrong identifier.
    PubrecWrongId,
    /// PUBCOMP carries the wrong identifier.
    PubcompWrongId,
    /// Delivers a QoS 2 PUBLISH each time it arrives, duplicates included.
    Qos2DeliverTwice,
    /// Delivers at the published QoS whatever the subscription's.
    NoQosDowngrade,
    /// Forwards the DUP flag it received.
    PropagateDup,
    /// Accepts PUBLISH with QoS 3, as QoS 1.
    AcceptQos3,
    /// Accepts wildcards in topic names.
    AcceptWildcardTopic,
    /// Accepts packet identifier 0.
    AcceptPacketIdZero,
    /// Accepts PUBREL with flags 0000.
    IgnorePubrelFlags,
    /// Does not answer a PUBREL for an unknown identifier.
    NoPubcompForUnknown,
    /// Ignores an acknowledgement of the wrong kind (PUBREC for a QoS 1 delivery).
    IgnoreWrongAcks,
    /// Drops the connection on a filter of more than 1 000 levels, as a broker whose reader
    /// thread overflows its stack on a deep filter would.
    DiesOnDeepFilter,
    /// Acknowledges a PUBLISH to a topic of more than 1 000 levels and delivers it to nobody, as
    /// our broker did with `max_topic_levels`.
    AckAndDropDeepPublish,
    /// Ignores an acknowledgement at the wrong step of a QoS 2 flow (PUBACK for a QoS 2 delivery,
    /// PUBCOMP before PUBREC, PUBACK for a PUBREL).
    IgnoreWrongQos2Steps,
    /// Delivers at the QoS of the first matching subscription only.
    FirstOverlapWins,
    /// Does not answer PINGREQ.
    NoPingresp,
    /// Accepts zero-length topic names.
    AcceptEmptyTopic,
    /// Sends DUP set on the first transmission of QoS 1 and 2 messages.
    DupOnFirstTransmission,
    /// Sends PUBREL with flags 0000.
    PubrelWrongFlags,
    /// Delivers to the first matching client only.
    FirstSubscriberOnly,
    /// Swaps each pair of deliveries.
    SwapDeliveries,
    /// Sends each acknowledgement of a PUBLISH after the next one's.
    AcksOutOfOrder,
    /// Sends each PUBREL after the next one.
    PubrelsOutOfOrder,
    /// Forgets unacknowledged messages when the client goes.
    NoRedelivery,
    /// Re-sends on reconnect without DUP.
    RedeliverWithoutDup,
    /// Re-sends the PUBLISH, not the PUBREL, of a message the client has PUBRECed.
    ResendPublishAfterPubrec,
    /// Ignores the reserved flags of PINGREQ.
    AcceptPingreqFlags,
    // SUBSCRIBE and UNSUBSCRIBE.
    /// SUBACK carries the wrong identifier.
    SubackWrongId,
    /// SUBACK return codes in reverse order.
    SubackCodesReversed,
    /// Accepts SUBSCRIBE with flags 0000.
    AcceptSubscribeFlags,
    /// Accepts a SUBSCRIBE without filters.
    AcceptEmptySubscribe,
    /// Grants QoS 2 for a requested QoS 3.
    AcceptSubscribeQos3,
    /// Grants any filter, malformed wildcards included.
    AcceptInvalidFilter,
    /// Grants a zero-length filter.
    AcceptEmptyFilter,
    /// Adds a second subscription for an identical filter.
    ResubscribeAdds,
    /// Sends UNSUBACK only when a subscription was removed.
    UnsubackOnlyWhenRemoved,
    /// Acknowledges UNSUBSCRIBE but keeps the subscription.
    UnsubscribeIgnored,
    /// Removes every subscription the UNSUBSCRIBE filter matches.
    UnsubscribeMatching,
    /// Removes only the first filter of an UNSUBSCRIBE.
    UnsubscribeFirstOnly,
    /// Accepts UNSUBSCRIBE with flags 0000.
    AcceptUnsubscribeFlags,
    /// Accepts an UNSUBSCRIBE without filters.
    AcceptEmptyUnsubscribe,
    /// Forgets in-flight messages of a topic when it is unsubscribed.
    DropInflightOnUnsubscribe,
    // Retained messages.
    /// Stores nothing.
    NoRetain,
    /// Sends retained messages with RETAIN 0.
    RetainedWithoutFlag,
    /// Acknowledges everything but drops a QoS 1/2 delivery when 1 000 already wait for the
    /// session (mosquitto's drop-when-full).
    DropWhenQueueFull,
    /// Sends a new subscription only the first 1 000 matching retained messages (mosquitto's
    /// default queue, past which it drops them).
    RetainedCapped,
    /// Forwards RETAIN to existing subscribers.
    ForwardRetainFlag,
    /// Stores an empty retained message instead of deleting.
    KeepEmptyRetained,
    /// A non-retained message replaces the retained one.
    NonRetainedReplaces,
    /// Deletes a client's retained messages when its session ends.
    RetainedDiesWithSession,
    /// Ignores the RETAIN flag of QoS 0 messages.
    IgnoreQos0Retain,
    // The Will and Keep Alive.
    /// Never publishes a Will.
    NoWill,
    /// Publishes every Will without RETAIN.
    WillRetainIgnored,
    /// Publishes every Will with RETAIN.
    WillAlwaysRetained,
    /// Publishes the Will after a DISCONNECT too.
    WillAfterDisconnect,
    /// Remembers a Will per client identifier across connections.
    WillRemembered,
    /// Never expires a silent connection.
    NoKeepAlive,
    // Topics.
    /// '+' also matches several levels.
    PlusMatchesLevels,
    /// Wildcards match topics starting with '$'.
    DollarMatched,
    /// Matching ignores case.
    CaseInsensitive,
    /// Strips U+FEFF from topic names.
    StripBom,
    // Sessions.
    /// Session Present is always 0.
    SessionPresentAlways0,
    /// CleanSession 1 keeps the stored session.
    CleanSessionKeeps,
    /// Queues nothing for an offline session.
    NoOfflineQueue,
}

/// A running double, stopped when dropped.
pub(crate) struct Double {
    port: u16,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Double {
    /// Starts a double on a free loopback port; `None` is the correct broker.
    pub(crate) fn start(fault: Option<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().expect("bound").port();
        listener.set_nonblocking(true).expect("non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let broker = Arc::new(Broker {
            fault,
            state: Mutex::new(State::default()),
            serial: AtomicU64::new(0),
        });
        let stopping = Arc::clone(&stop);
        let acceptor = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let broker = Arc::clone(&broker);
                        std::thread::spawn(move || broker.serve(stream));
                    }
                    // Polling keeps the acceptor stoppable without a wake-up connection.
                    Err(error) if error.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return,
                }
            }
        });
        Self {
            port,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

struct Broker {
    fault: Option<Fault>,
    state: Mutex<State>,
    serial: AtomicU64,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Session>,
    /// Topic → (QoS, payload, the client id that published it).
    retained: BTreeMap<String, (u8, Vec<u8>, String)>,
    /// Wills remembered per client identifier ([`Fault::WillRemembered`]).
    remembered_wills: HashMap<String, Will>,
}

#[derive(Default)]
struct Session {
    persistent: bool,
    subscriptions: Vec<(String, u8)>,
    connection: Option<(u64, Writer)>,
    /// Outbound QoS 1 and 2 messages not yet completed, by identifier, in sending order.
    inflight: Vec<(u16, Outbound)>,
    queue: Vec<(String, u8, Vec<u8>)>,
    next_id: u16,
    /// Inbound QoS 2 identifiers between PUBREC and PUBREL.
    awaiting_pubrel: HashSet<u16>,
    /// A delivery held back by [`Fault::SwapDeliveries`].
    held: Option<Vec<u8>>,
    /// The Will of the current connection.
    will: Option<Will>,
    /// A PUBREL held back by [`Fault::PubrelsOutOfOrder`].
    held_pubrel: Option<Vec<u8>>,
}

#[derive(Clone)]
enum Outbound {
    Publish {
        topic: String,
        qos: u8,
        payload: Vec<u8>,
    },
    Released,
}

#[derive(Clone)]
struct Will {
    topic: String,
    payload: Vec<u8>,
    qos: u8,
    retain: bool,
}

type Writer = Arc<Mutex<TcpStream>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write(writer: &Writer, bytes: &[u8]) {
    let _ = lock(writer).write_all(bytes);
}

/// What the CONNECT said.
struct Connect {
    v31: bool,
    clean: bool,
    keep_alive: u16,
    client_id: String,
    will: Option<Will>,
}

/// Why a CONNECT is not accepted.
enum Refusal {
    /// Close without CONNACK.
    Close,
    /// CONNACK with this return code, then close.
    Code(u8),
}

/// Reads the fields of a packet body.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }
    fn u8(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn field(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.u16()?);
        let field = self.bytes.get(self.at..self.at + len)?;
        self.at += len;
        Some(field)
    }
    fn rest(&mut self) -> &'a [u8] {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        self.at = self.bytes.len();
        rest
    }
}

impl Broker {
    fn is(&self, fault: Fault) -> bool {
        self.fault == Some(fault)
    }

    /// A string field is acceptable: well-formed UTF-8 (Rust's definition excludes surrogates) and
    /// without U+0000, unless a fault says otherwise. At 3.1 no check is made.
    fn string(&self, bytes: &[u8], v31: bool) -> Option<String> {
        if !v31 && !self.is(Fault::AcceptNullCharacter) && bytes.contains(&0) {
            return None;
        }
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Some(text),
            Err(_) if v31 || self.is(Fault::AcceptInvalidUtf8) => {
                Some(String::from_utf8_lossy(bytes).into_owned())
            }
            Err(_) => None,
        }
    }

    fn serve(self: Arc<Self>, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let writer: Writer = Arc::new(Mutex::new(clone));
        let mut buffer = Vec::new();
        let Some(first) = read_frame(&mut stream, &mut buffer, Duration::from_secs(5)) else {
            return;
        };
        if first.kind() != kind::CONNECT {
            if self.is(Fault::AcceptNonConnectFirst) && first.kind() == kind::PINGREQ {
                write(&writer, &[0xD0, 0x00]);
                let _ = read_frame(&mut stream, &mut buffer, Duration::from_secs(5));
            }
            return;
        }
        let connect = match self.parse_connect(&first) {
            Ok(connect) => connect,
            Err(Refusal::Close) => return,
            Err(Refusal::Code(code)) => {
                write(&writer, &[0x20, 0x02, 0x00, code]);
                if self.is(Fault::ProcessAfterRefusal) {
                    while let Some(frame) =
                        read_frame(&mut stream, &mut buffer, Duration::from_secs(1))
                    {
                        if let Some((topic, _, payload)) = frame.publish_parts() {
                            let mut state = lock(&self.state);
                            self.route(&mut state, &topic, frame.qos(), false, &payload, "");
                        }
                    }
                }
                if self.is(Fault::OpenAfterRefusal) {
                    let _ = read_frame(&mut stream, &mut buffer, Duration::from_secs(10));
                }
                return;
            }
        };
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let client_id = connect.client_id.clone();
        self.open_session(&connect, serial, &writer);
        let keep_alive = Duration::from_millis(u64::from(connect.keep_alive) * 1500);
        let clean_end = loop {
            let wait = if connect.keep_alive == 0 || self.is(Fault::NoKeepAlive) {
                Duration::from_secs(3600)
            } else {
                keep_alive
            };
            let Some(frame) = read_frame(&mut stream, &mut buffer, wait) else {
                break false;
            };
            match self.handle(&frame, &connect, &writer) {
                Next::Continue => {}
                Next::Close => break false,
                Next::Disconnect => break true,
            }
        };
        let mut state = lock(&self.state);
        let still_ours = state
            .sessions
            .get(&client_id)
            .and_then(|session| session.connection.as_ref())
            .is_some_and(|(current, _)| *current == serial);
        // A connection taken over has had its Will published by the one that took it over.
        let mut will = None;
        if still_ours {
            if let Some(session) = state.sessions.get_mut(&client_id) {
                will = session.will.take();
                session.connection = None;
                if self.is(Fault::NoRedelivery) {
                    session.inflight.clear();
                }
            }
            if !connect.clean || self.is(Fault::CleanSessionKeeps) {
                if let Some(session) = state.sessions.get_mut(&client_id) {
                    session.persistent = true;
                }
            } else {
                state.sessions.remove(&client_id);
                if self.is(Fault::RetainedDiesWithSession) {
                    state
                        .retained
                        .retain(|_, (_, _, owner)| *owner != client_id);
                }
            }
        }
        if clean_end && !self.is(Fault::WillAfterDisconnect) {
            will = None;
        }
        self.publish_will(&mut state, will, &client_id);
        drop(state);
        // Closed only now, once the end of the connection has had all its effects: a check that
        // waits for the close (after DISCONNECT, say) may then rely on them, as it may with a
        // server that discards the Will before closing [MQTT-3.14.4-3]. Closing first let such a
        // check race the rest of this function.
        let _ = stream.shutdown(Shutdown::Both);
    }

    fn publish_will(&self, state: &mut State, will: Option<Will>, client_id: &str) {
        if let Some(will) = will.filter(|_| !self.is(Fault::NoWill)) {
            let retain = (will.retain || self.is(Fault::WillAlwaysRetained))
                && !self.is(Fault::WillRetainIgnored);
            self.route(
                state,
                &will.topic,
                will.qos,
                retain,
                &will.payload,
                client_id,
            );
        }
    }

    fn parse_connect(&self, frame: &Frame) -> Result<Connect, Refusal> {
        let mut reader = Reader::new(&frame.body);
        let name = reader.field().ok_or(Refusal::Close)?;
        let level = reader.u8().ok_or(Refusal::Close)?;
        let v31 = match (name, level) {
            (b"MQIsdp", 3) if self.is(Fault::RefuseMqtt31) => return Err(Refusal::Code(1)),
            (b"MQIsdp", 3) => true,
            (b"MQTT", 4) => false,
            (b"MQTT", _) if self.is(Fault::AcceptAnyLevel) => false,
            (b"MQTT", _) => return Err(Refusal::Code(1)),
            _ if self.is(Fault::AcceptAnyProtocolName) => false,
            _ => return Err(Refusal::Close),
        };
        let strict = !v31 || self.is(Fault::Strict31);
        let flags = reader.u8().ok_or(Refusal::Close)?;
        let keep_alive = reader.u16().ok_or(Refusal::Close)?;
        let will_flag = flags & 0x04 != 0;
        let will_qos = (flags >> 3) & 0x03;
        let will_retain = flags & 0x20 != 0;
        let user_flag = flags & 0x80 != 0;
        let password_flag = flags & 0x40 != 0;
        if !v31 && flags & 0x01 != 0 && !self.is(Fault::AcceptReservedConnectFlag) {
            return Err(Refusal::Close);
        }
        if strict
            && !will_flag
            && (will_qos != 0 || will_retain)
            && !self.is(Fault::WillBitsWithoutWill)
        {
            return Err(Refusal::Close);
        }
        if will_flag && will_qos == 3 && !self.is(Fault::AcceptWillQos3) {
            return Err(Refusal::Close);
        }
        if password_flag && !user_flag && !self.is(Fault::AcceptPasswordWithoutUserName) {
            return Err(Refusal::Close);
        }
        // A field the flags announce but the payload lacks: malformed at 3.1.1, absent at 3.1.
        let tolerant = !strict || self.is(Fault::TolerateMissingFields);
        let client_id = match reader.field() {
            Some(bytes) => self.string(bytes, v31).ok_or(Refusal::Close)?,
            None if tolerant => String::new(),
            None => return Err(Refusal::Close),
        };
        let will = if will_flag {
            match (reader.field(), reader.field()) {
                (Some(topic), Some(payload)) => Some(Will {
                    topic: self.string(topic, v31).ok_or(Refusal::Close)?,
                    payload: payload.to_vec(),
                    qos: will_qos.min(2),
                    retain: will_retain,
                }),
                _ if tolerant => None,
                _ => return Err(Refusal::Close),
            }
        } else {
            None
        };
        if user_flag {
            match reader.field() {
                Some(user) => {
                    self.string(user, v31).ok_or(Refusal::Close)?;
                }
                None if tolerant => {}
                None => return Err(Refusal::Close),
            }
        }
        if password_flag && reader.field().is_none() && !tolerant {
            return Err(Refusal::Close);
        }
        if !reader.done() && !v31 && !self.is(Fault::TolerateTrailingFields) {
            return Err(Refusal::Close);
        }
        let clean = flags & 0x02 != 0;
        let client_id = self.check_client_id(client_id, clean, v31)?;
        Ok(Connect {
            v31,
            clean,
            keep_alive,
            client_id,
            will,
        })
    }

    fn check_client_id(&self, id: String, clean: bool, v31: bool) -> Result<String, Refusal> {
        let limit = if self.is(Fault::RejectLongClientIds) {
            20
        } else if v31 && !self.is(Fault::Mqtt31IdsLike311) {
            23
        } else {
            usize::MAX
        };
        if id.chars().count() > limit {
            return Err(Refusal::Code(2));
        }
        if !id.is_empty() {
            return Ok(id);
        }
        if self.is(Fault::EmptyIdRefusedWith5) {
            return Err(Refusal::Code(5));
        }
        let allowed = if v31 {
            self.is(Fault::Mqtt31IdsLike311)
        } else {
            clean || self.is(Fault::AcceptEmptyIdPersistent)
        };
        if !allowed {
            return Err(Refusal::Code(2));
        }
        Ok(format!(
            "auto-{}",
            self.serial.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// Takes over or creates the session, sends CONNACK, then re-sends what is in flight and
    /// delivers what was queued.
    fn open_session(&self, connect: &Connect, serial: u64, writer: &Writer) {
        let mut state = lock(&self.state);
        let id = &connect.client_id;
        // Take-over: the older connection is closed and, having ended without DISCONNECT, leaves
        // its Will, published now so that it comes before anything the new connection causes.
        let old = state.sessions.get_mut(id).and_then(|session| {
            let (_, old_writer) = session.connection.take()?;
            Some((old_writer, session.will.take()))
        });
        if let Some((old_writer, old_will)) = old {
            if !self.is(Fault::NoTakeover) {
                let _ = lock(&old_writer).shutdown(Shutdown::Both);
            }
            self.publish_will(&mut state, old_will, id);
        }
        if connect.clean && !self.is(Fault::CleanSessionKeeps) {
            state.sessions.remove(id);
        }
        let mut will = connect.will.clone();
        if self.is(Fault::WillRemembered) {
            match &will {
                Some(will) => {
                    state.remembered_wills.insert(id.clone(), will.clone());
                }
                None => will = state.remembered_wills.get(id).cloned(),
            }
        }
        let session = state.sessions.entry(id.clone()).or_default();
        let present = session.persistent && !connect.clean && !connect.v31;
        // A session opened with CleanSession 0 outlives its connection from this moment, however the
        // connection ends. Marking it only when the connection's thread sees the end raced with a
        // client that reconnects at once: the reconnection took the session over first and found
        // it not yet persistent, so Session Present and the faults below depended on timing.
        if !connect.clean || self.is(Fault::CleanSessionKeeps) {
            session.persistent = true;
        }
        session.will = will;
        session.connection = Some((serial, Arc::clone(writer)));
        if self.is(Fault::PingrespBeforeConnack) {
            write(writer, &[0xD0, 0x00]);
        }
        let present = present && !self.is(Fault::SessionPresentAlways0);
        write(writer, &[0x20, 0x02, u8::from(present), 0x00]);
        for (id, outbound) in session.inflight.clone() {
            match outbound {
                Outbound::Publish {
                    topic,
                    qos,
                    payload,
                } => {
                    let dup = !self.is(Fault::RedeliverWithoutDup);
                    write(
                        writer,
                        &wire::publish(&topic, qos, false, dup, id, &payload),
                    );
                }
                Outbound::Released if self.is(Fault::ResendPublishAfterPubrec) => {
                    write(writer, &wire::publish("gone", 2, false, true, id, b"x"));
                }
                Outbound::Released => write(writer, &wire::with_id(0x62, id)),
            }
        }
        self.flush(session);
    }

    fn handle(&self, frame: &Frame, connect: &Connect, writer: &Writer) -> Next {
        let strict = !connect.v31 || self.is(Fault::Strict31);
        let id = frame.packet_id().unwrap_or(0);
        match (frame.kind(), frame.flags()) {
            (kind::PUBLISH, _) => return self.publish(frame, connect, writer),
            (ack @ (kind::PUBACK | kind::PUBCOMP), _) => {
                let mut state = lock(&self.state);
                // PUBACK answers only a QoS 1 PUBLISH, PUBCOMP only a PUBREL: anything else in
                // flight under this identifier is at another step of its flow.
                let wrong = state
                    .sessions
                    .get(&connect.client_id)
                    .is_some_and(|session| {
                        session.inflight.iter().any(|(held, entry)| {
                            *held == id
                                && match entry {
                                    Outbound::Publish { qos, .. } => {
                                        ack == kind::PUBCOMP || *qos == 2
                                    }
                                    Outbound::Released => ack == kind::PUBACK,
                                }
                        })
                    });
                if wrong && !self.is(Fault::IgnoreWrongQos2Steps) {
                    return Next::Close;
                }
                if let Some(session) = state.sessions.get_mut(&connect.client_id) {
                    session.inflight.retain(|(held, _)| *held != id);
                    self.flush(session);
                }
            }
            (kind::PUBREC, _) => {
                let mut state = lock(&self.state);
                // PUBREC for a QoS 1 delivery, which waits for PUBACK: a protocol violation.
                let wrong = state
                    .sessions
                    .get(&connect.client_id)
                    .is_some_and(|session| {
                        session.inflight.iter().any(|(held, entry)| {
                            *held == id && matches!(entry, Outbound::Publish { qos: 1, .. })
                        })
                    });
                if wrong && !self.is(Fault::IgnoreWrongAcks) {
                    return Next::Close;
                }
                if let Some(session) = state.sessions.get_mut(&connect.client_id)
                    && let Some(entry) = session.inflight.iter_mut().find(|(held, _)| *held == id)
                {
                    entry.1 = Outbound::Released;
                    let first = if self.is(Fault::PubrelWrongFlags) {
                        0x60
                    } else {
                        0x62
                    };
                    let pubrel = wire::with_id(first, id);
                    if self.is(Fault::PubrelsOutOfOrder) {
                        match session.held_pubrel.take() {
                            None => session.held_pubrel = Some(pubrel),
                            Some(held) => {
                                write(writer, &pubrel);
                                write(writer, &held);
                            }
                        }
                    } else {
                        write(writer, &pubrel);
                    }
                }
            }
            (kind::PUBREL, flags) => {
                if strict && flags != 2 && !self.is(Fault::IgnorePubrelFlags) {
                    return Next::Close;
                }
                let mut state = lock(&self.state);
                let known = state
                    .sessions
                    .get_mut(&connect.client_id)
                    .is_some_and(|session| session.awaiting_pubrel.remove(&id));
                if known || !self.is(Fault::NoPubcompForUnknown) {
                    let id = if self.is(Fault::PubcompWrongId) {
                        id.wrapping_add(1)
                    } else {
                        id
                    };
                    write(writer, &wire::with_id(0x70, id));
                }
            }
            (kind::SUBSCRIBE, flags) => {
                if strict && flags != 2 && !self.is(Fault::AcceptSubscribeFlags) {
                    return Next::Close;
                }
                return self.subscribe(frame, connect, writer);
            }
            (kind::UNSUBSCRIBE, flags) => {
                if strict && flags != 2 && !self.is(Fault::AcceptUnsubscribeFlags) {
                    return Next::Close;
                }
                return self.unsubscribe(frame, connect, writer);
            }
            (kind::PINGREQ, flags) => {
                if strict && flags != 0 && !self.is(Fault::AcceptPingreqFlags) {
                    return Next::Close;
                }
                if !self.is(Fault::NoPingresp) {
                    write(writer, &[0xD0, 0x00]);
                }
            }
            (kind::DISCONNECT, 0) => return Next::Disconnect,
            (kind::DISCONNECT, _) if !strict => return Next::Disconnect,
            (kind::DISCONNECT, _) if self.is(Fault::IgnoreMalformedDisconnect) => {}
            (kind::CONNECT, _) if self.is(Fault::IgnoreSecondConnect) => {}
            (0 | 15, _) if self.is(Fault::IgnoreReservedTypes) => {}
            _ => return Next::Close,
        }
        Next::Continue
    }

    fn publish(&self, frame: &Frame, connect: &Connect, writer: &Writer) -> Next {
        let strict = !connect.v31;
        let mut qos = frame.qos();
        if qos == 3 {
            if !self.is(Fault::AcceptQos3) {
                return Next::Close;
            }
            qos = 1;
        }
        let mut reader = Reader::new(&frame.body);
        let Some(topic) = reader.field() else {
            return Next::Close;
        };
        let Some(mut topic) = self.string(topic, connect.v31) else {
            return Next::Close;
        };
        if topic.is_empty() && !self.is(Fault::AcceptEmptyTopic) {
            return Next::Close;
        }
        if topic.contains(['+', '#']) && !self.is(Fault::AcceptWildcardTopic) {
            return Next::Close;
        }
        if self.is(Fault::StripBom) {
            topic = topic.replace('\u{feff}', "");
        }
        let id = if qos > 0 {
            match reader.u16() {
                Some(0) if strict && !self.is(Fault::AcceptPacketIdZero) => return Next::Close,
                Some(id) => id,
                None => return Next::Close,
            }
        } else {
            0
        };
        let payload = reader.rest().to_vec();
        let retain = frame.retain() && !(qos == 0 && self.is(Fault::IgnoreQos0Retain));
        let mut state = lock(&self.state);
        let duplicate = qos == 2
            && state
                .sessions
                .get(&connect.client_id)
                .is_some_and(|session| session.awaiting_pubrel.contains(&id))
            && !self.is(Fault::Qos2DeliverTwice);
        let dropped =
            self.is(Fault::AckAndDropDeepPublish) && topic.split('/').nth(1_000).is_some();
        if !duplicate && !dropped {
            let dup = frame.dup() && self.is(Fault::PropagateDup);
            self.route_with_dup(
                &mut state,
                &topic,
                qos,
                retain,
                &payload,
                &connect.client_id,
                dup,
            );
        }
        let Some(session) = state.sessions.get_mut(&connect.client_id) else {
            return Next::Close;
        };
        let answer = match qos {
            0 => return Next::Continue,
            1 if self.is(Fault::PubackWrongId) => wire::with_id(0x40, id.wrapping_add(1)),
            1 => wire::with_id(0x40, id),
            _ => {
                session.awaiting_pubrel.insert(id);
                let id = if self.is(Fault::PubrecWrongId) {
                    id.wrapping_add(1)
                } else {
                    id
                };
                wire::with_id(0x50, id)
            }
        };
        if self.is(Fault::AcksOutOfOrder) {
            match session.held.take() {
                None => session.held = Some(answer),
                Some(held) => {
                    write(writer, &answer);
                    write(writer, &held);
                }
            }
        } else {
            write(writer, &answer);
        }
        Next::Continue
    }

    fn subscribe(&self, frame: &Frame, connect: &Connect, writer: &Writer) -> Next {
        let mut reader = Reader::new(&frame.body);
        let Some(packet_id) = reader.u16() else {
            return Next::Close;
        };
        let mut wanted = Vec::new();
        while !reader.done() {
            let (Some(filter), Some(qos)) = (reader.field(), reader.u8()) else {
                return Next::Close;
            };
            let Some(filter) = self.string(filter, connect.v31) else {
                return Next::Close;
            };
            if qos > 2 && !self.is(Fault::AcceptSubscribeQos3) {
                return Next::Close;
            }
            if self.is(Fault::DiesOnDeepFilter) && filter.split('/').count() > 1_000 {
                return Next::Close;
            }
            wanted.push((filter, qos.min(2)));
        }
        if wanted.is_empty() && !self.is(Fault::AcceptEmptySubscribe) {
            return Next::Close;
        }
        let mut codes = Vec::new();
        let mut state = lock(&self.state);
        let Some(session) = state.sessions.get_mut(&connect.client_id) else {
            return Next::Close;
        };
        let mut granted = Vec::new();
        for (filter, qos) in wanted {
            let valid = (valid_filter(&filter) || self.is(Fault::AcceptInvalidFilter))
                && (!filter.is_empty() || self.is(Fault::AcceptEmptyFilter));
            if !valid {
                codes.push(0x80);
                continue;
            }
            codes.push(qos);
            let existing = session
                .subscriptions
                .iter_mut()
                .find(|(held, _)| *held == filter);
            match existing {
                Some(entry) if !self.is(Fault::ResubscribeAdds) => entry.1 = qos,
                _ => session.subscriptions.push((filter.clone(), qos)),
            }
            granted.push((filter, qos));
        }
        if self.is(Fault::SubackCodesReversed) {
            codes.reverse();
        }
        let packet_id = if self.is(Fault::SubackWrongId) {
            packet_id.wrapping_add(1)
        } else {
            packet_id
        };
        let mut body = packet_id.to_be_bytes().to_vec();
        body.extend(codes);
        write(writer, &wire::packet(0x90, &body));
        if self.is(Fault::NoRetain) {
            return Next::Continue;
        }
        let mut matching = Vec::new();
        for (filter, qos) in &granted {
            for (topic, (stored_qos, payload, _)) in &state.retained {
                if self.matches(filter, topic) {
                    matching.push((topic.clone(), (*stored_qos).min(*qos), payload.clone()));
                }
            }
        }
        if self.is(Fault::RetainedCapped) {
            matching.truncate(1_000);
        }
        if let Some(session) = state.sessions.get_mut(&connect.client_id) {
            for (topic, qos, payload) in matching {
                let retain = !self.is(Fault::RetainedWithoutFlag);
                self.deliver(session, &topic, qos, retain, false, &payload);
            }
        }
        Next::Continue
    }

    fn unsubscribe(&self, frame: &Frame, connect: &Connect, writer: &Writer) -> Next {
        let mut reader = Reader::new(&frame.body);
        let Some(packet_id) = reader.u16() else {
            return Next::Close;
        };
        let mut filters = Vec::new();
        while !reader.done() {
            let Some(filter) = reader.field() else {
                return Next::Close;
            };
            let Some(filter) = self.string(filter, connect.v31) else {
                return Next::Close;
            };
            filters.push(filter);
        }
        if filters.is_empty() && !self.is(Fault::AcceptEmptyUnsubscribe) {
            return Next::Close;
        }
        if self.is(Fault::UnsubscribeFirstOnly) {
            filters.truncate(1);
        }
        let mut state = lock(&self.state);
        let Some(session) = state.sessions.get_mut(&connect.client_id) else {
            return Next::Close;
        };
        let before = session.subscriptions.len();
        if !self.is(Fault::UnsubscribeIgnored) {
            let matching = self.is(Fault::UnsubscribeMatching);
            session.subscriptions.retain(|(held, _)| {
                !filters
                    .iter()
                    .any(|filter| held == filter || (matching && self.matches(filter, held)))
            });
        }
        if self.is(Fault::DropInflightOnUnsubscribe) {
            session.inflight.retain(|(_, outbound)| match outbound {
                Outbound::Publish { topic, .. } => {
                    !filters.iter().any(|filter| self.matches(filter, topic))
                }
                Outbound::Released => true,
            });
        }
        let removed = session.subscriptions.len() != before;
        if removed || !self.is(Fault::UnsubackOnlyWhenRemoved) {
            write(writer, &wire::with_id(0xB0, packet_id));
        }
        Next::Continue
    }

    fn route(
        &self,
        state: &mut State,
        topic: &str,
        qos: u8,
        retain: bool,
        payload: &[u8],
        from: &str,
    ) {
        self.route_with_dup(state, topic, qos, retain, payload, from, false);
    }

    /// Stores a retained message, then gives the message to every session with a matching
    /// subscription, once, at the highest QoS of its matching subscriptions.
    #[allow(clippy::too_many_arguments)]
    fn route_with_dup(
        &self,
        state: &mut State,
        topic: &str,
        qos: u8,
        retain: bool,
        payload: &[u8],
        from: &str,
        dup: bool,
    ) {
        if retain && !self.is(Fault::NoRetain) {
            if payload.is_empty() && !self.is(Fault::KeepEmptyRetained) {
                state.retained.remove(topic);
            } else {
                state
                    .retained
                    .insert(topic.to_owned(), (qos, payload.to_vec(), from.to_owned()));
            }
        } else if self.is(Fault::NonRetainedReplaces) && state.retained.contains_key(topic) {
            state
                .retained
                .insert(topic.to_owned(), (qos, payload.to_vec(), from.to_owned()));
        }
        let forward_retain = retain && self.is(Fault::ForwardRetainFlag);
        let mut ids: Vec<&String> = state.sessions.keys().collect();
        ids.sort();
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        for id in ids {
            let Some(session) = state.sessions.get_mut(&id) else {
                continue;
            };
            let granted = session
                .subscriptions
                .iter()
                .filter(|(filter, _)| self.matches(filter, topic))
                .map(|(_, granted)| *granted);
            let granted = if self.is(Fault::FirstOverlapWins) {
                granted.take(1).max()
            } else {
                granted.max()
            };
            let Some(granted) = granted else {
                continue;
            };
            let qos = if self.is(Fault::NoQosDowngrade) {
                qos
            } else {
                qos.min(granted)
            };
            let copies = if self.is(Fault::ResubscribeAdds) {
                session
                    .subscriptions
                    .iter()
                    .filter(|(filter, _)| self.matches(filter, topic))
                    .count()
            } else {
                1
            };
            for _ in 0..copies {
                self.deliver(session, topic, qos, forward_retain, dup, payload);
            }
            if self.is(Fault::FirstSubscriberOnly) {
                break;
            }
        }
    }

    /// Sends a message to a session now, or queues it while the session is offline or its window
    /// (ten messages) is full.
    fn deliver(
        &self,
        session: &mut Session,
        topic: &str,
        qos: u8,
        retain: bool,
        dup: bool,
        payload: &[u8],
    ) {
        let Some((_, writer)) = session.connection.clone() else {
            if qos > 0 && session.persistent && !self.is(Fault::NoOfflineQueue) {
                session
                    .queue
                    .push((topic.to_owned(), qos, payload.to_vec()));
            }
            return;
        };
        if qos > 0 && session.inflight.len() >= 10 {
            if self.is(Fault::DropWhenQueueFull) && session.queue.len() >= 1_000 {
                return;
            }
            session
                .queue
                .push((topic.to_owned(), qos, payload.to_vec()));
            return;
        }
        let bytes = if qos == 0 {
            let mut bytes = wire::publish(
                topic,
                0,
                retain,
                dup || self.is(Fault::Qos0WithDup),
                0,
                payload,
            );
            if self.is(Fault::Qos0WithPacketId) {
                bytes = wire::publish(topic, 1, retain, false, 7, payload);
                bytes[0] &= !0x06;
            }
            bytes
        } else {
            session.next_id = session.next_id % 0xFFFF + 1;
            let id = session.next_id;
            session.inflight.push((
                id,
                Outbound::Publish {
                    topic: topic.to_owned(),
                    qos,
                    payload: payload.to_vec(),
                },
            ));
            let dup = dup || self.is(Fault::DupOnFirstTransmission);
            wire::publish(topic, qos, retain, dup, id, payload)
        };
        if self.is(Fault::SwapDeliveries) && !retain {
            match session.held.take() {
                None => session.held = Some(bytes),
                Some(held) => {
                    write(&writer, &bytes);
                    write(&writer, &held);
                }
            }
            return;
        }
        write(&writer, &bytes);
    }

    /// Sends queued messages while the window has room.
    fn flush(&self, session: &mut Session) {
        while session.connection.is_some()
            && session.inflight.len() < 10
            && !session.queue.is_empty()
        {
            let (topic, qos, payload) = session.queue.remove(0);
            self.deliver(session, &topic, qos, false, false, &payload);
        }
    }

    /// Topic matching (3.1.1 §4.7), with the faults that break it.
    fn matches(&self, filter: &str, topic: &str) -> bool {
        let (filter, topic) = if self.is(Fault::CaseInsensitive) {
            (filter.to_lowercase(), topic.to_lowercase())
        } else {
            (filter.to_owned(), topic.to_owned())
        };
        if topic.starts_with('$')
            && filter.starts_with(['+', '#'])
            && !self.is(Fault::DollarMatched)
        {
            return false;
        }
        let filter: Vec<&str> = filter.split('/').collect();
        let topic: Vec<&str> = topic.split('/').collect();
        let mut at = 0;
        for (index, level) in filter.iter().enumerate() {
            match *level {
                "#" => return true,
                "+" if self.is(Fault::PlusMatchesLevels) => {
                    // Greedy: '+' eats every level but those the rest of the filter needs.
                    let rest = filter.len() - index - 1;
                    if topic.len() < at + 1 + rest {
                        return false;
                    }
                    at = topic.len() - rest;
                }
                "+" if at < topic.len() => at += 1,
                level if topic.get(at) == Some(&level) => at += 1,
                _ => return false,
            }
        }
        at == topic.len()
    }
}

enum Next {
    Continue,
    Close,
    Disconnect,
}

fn valid_filter(filter: &str) -> bool {
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(index, level)| {
        (!level.contains('#') || (*level == "#" && index == levels.len() - 1))
            && (!level.contains('+') || *level == "+")
    })
}

/// The next frame, or `None` when the connection ends, is malformed, or `wait` passes first.
fn read_frame(stream: &mut TcpStream, buffer: &mut Vec<u8>, wait: Duration) -> Option<Frame> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(frame) = wire::take_frame(buffer).ok()? {
            return Some(frame);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).ok()?;
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_double_matches_topics_by_the_rules() {
        let broker = Broker {
            fault: None,
            state: Mutex::new(State::default()),
            serial: AtomicU64::new(0),
        };
        assert!(broker.matches("a/+/c", "a/b/c"));
        assert!(!broker.matches("a/+/c", "a/b/x/c"));
        assert!(broker.matches("a/#", "a"));
        assert!(broker.matches("#", "a/b"));
        assert!(!broker.matches("#", "$SYS/x"));
        assert!(!broker.matches("a", "A"));
        assert!(valid_filter("a/+/#"));
        assert!(!valid_filter("a/#/b"));
        assert!(!valid_filter("a+"));
    }
}

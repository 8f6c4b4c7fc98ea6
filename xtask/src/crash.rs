//! `cargo xtask crash [--smoke] [--rounds N]`: the broker's durability promise, tested by killing it.
//!
//! A broker binary runs with `persistence true`. Four persistent subscribers (QoS 1 on `crash/1`,
//! QoS 2 on `crash/2` to `crash/4`; the one on `crash/4` is an MQTT 5.0 session that never expires,
//! so that 5.0 session state is covered too) and four publishers (one message at a time, payload = a
//! sequence number) run throughout, reconnecting whenever the broker is gone: a QoS 1 and a QoS 2
//! one with clean sessions, which give up a message whose acknowledgement a crash cut off, and two
//! QoS 2 ones with a persistent session, which send that PUBLISH again (same packet identifier, DUP
//! set) or its PUBREL, as its session requires [MQTT-4.3.3-1]: the broker must tell a resent
//! PUBLISH it has routed from one it has not, across the crash. The broker is killed
//! with SIGKILL at random moments and restarted, `rounds` times. At the end it is left running until
//! the subscribers have caught up, and the task checks: every message whose PUBLISH was acknowledged
//! (PUBACK for QoS 1, PUBREC for QoS 2) was received at least once on QoS 1 and exactly once on
//! QoS 2; no QoS 2 message was received twice. The counts are printed either way.
//!
//! The subscribers behave as a correct client must: the QoS 2 one remembers packet identifiers it
//! has delivered until their PUBREL (across reconnections), and drops a repeated PUBLISH meanwhile.
//! Sleeping is the point here (random kill moments); this is not a unit test.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use mqtt_codec::{
    ConnAck, Connect, ConnectReturnCode, Decoder, Delivery, List, Packet, PacketId, ProtocolLevel,
    PubAck, PubComp, PubRec, PubRel, Publish, QoS, Status, SubAck, Subscribe, Subscription,
    TopicFilter, TopicName, v5,
};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut rounds = 30;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--smoke" => rounds = 5,
            "--rounds" => {
                rounds = iter
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--rounds needs a number")?;
            }
            other => return Err(format!("crash: unknown argument {other}")),
        }
    }
    let binary = build_broker()?;
    let dir = std::env::temp_dir().join(format!("mqtt-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
    let port = free_port()?;
    let config = dir.join("broker.conf");
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\npersistence true\npersistence_location {}\n\
             sys_interval 0\nmax_queued_messages 0\nallow_anonymous true\n",
            dir.join("data").display()
        ),
    )
    .map_err(|error| error.to_string())?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut random = Random::seeded();

    let stop = Arc::new(AtomicBool::new(false));
    let mut broker = Broker::start(&binary, &config, address, &dir)?;
    // (topic number, QoS, persistent publisher, name in the report, 5.0 subscriber). The last
    // subscriber is a 5.0 session (Session Expiry 0xFFFFFFFF) fed by a 3.1.1 publisher.
    let cases = [
        (1u8, QoS::AtLeastOnce, false, "QoS 1", false),
        (2, QoS::ExactlyOnce, false, "QoS 2", false),
        (
            3,
            QoS::ExactlyOnce,
            true,
            "QoS 2, persistent publisher",
            false,
        ),
        (
            4,
            QoS::ExactlyOnce,
            true,
            "QoS 2, persistent publisher, 5.0 subscriber",
            true,
        ),
    ];
    let subscribers: Vec<_> = cases
        .iter()
        .map(|&(n, qos, _, _, mqtt5)| Subscriber::spawn(address, n, qos, mqtt5, Arc::clone(&stop)))
        .collect();
    for subscriber in &subscribers {
        subscriber.wait_subscribed(Duration::from_secs(20))?;
    }
    // The publishers have their own flag: the subscribers must keep reading after they stop.
    let publishers_stop = Arc::new(AtomicBool::new(false));
    let publishers: Vec<_> = cases
        .iter()
        .map(|&(n, qos, persistent, _, _)| {
            Publisher::spawn(address, n, qos, persistent, Arc::clone(&publishers_stop))
        })
        .collect();

    for round in 1..=rounds {
        thread::sleep(Duration::from_millis(50 + random.below(450)));
        broker.kill();
        eprintln!("crash: round {round}/{rounds}: broker killed with SIGKILL, restarting");
        broker = Broker::start(&binary, &config, address, &dir)?;
    }
    thread::sleep(Duration::from_millis(300));
    publishers_stop.store(true, Ordering::SeqCst);
    let acknowledged: Vec<BTreeSet<u64>> = publishers
        .into_iter()
        .map(|publisher| publisher.join())
        .collect();

    // Let the subscribers catch up with a live broker: as long as they make progress (a loaded
    // machine drains a long queue slowly), and at most five minutes.
    let total = |subscribers: &[Subscriber]| -> usize {
        subscribers
            .iter()
            .map(|s| s.received.lock().map_or(0, |r| r.len()))
            .sum()
    };
    let give_up = Instant::now() + Duration::from_secs(300);
    let mut last_progress = (Instant::now(), total(&subscribers));
    let mut report = String::new();
    let mut failed = false;
    loop {
        let done = subscribers
            .iter()
            .zip(&acknowledged)
            .all(|(subscriber, acked)| acked.iter().all(|seq| subscriber.count(*seq) > 0));
        let now = Instant::now();
        let received = total(&subscribers);
        if received > last_progress.1 {
            last_progress = (now, received);
        }
        if done || now > give_up || now - last_progress.0 > Duration::from_secs(20) {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    for ((subscriber, acked), (name, exactly_once)) in subscribers
        .iter()
        .zip(&acknowledged)
        .zip(cases.map(|(_, qos, _, name, _)| (name, qos == QoS::ExactlyOnce)))
    {
        let received = subscriber.received.lock().map_err(|_| "poisoned")?.clone();
        let missing = acked
            .iter()
            .filter(|seq| !received.contains_key(seq))
            .count();
        let duplicates: usize = received
            .values()
            .map(|&n| n.saturating_sub(1) as usize)
            .sum();
        let bad = missing > 0 || (exactly_once && duplicates > 0);
        if missing > 0 {
            let first: Vec<&u64> = acked
                .iter()
                .filter(|seq| !received.contains_key(seq))
                .take(10)
                .collect();
            report.push_str(&format!("crash: {name}: first missing: {first:?}\n"));
        }
        failed |= bad;
        report.push_str(&format!(
            "crash: {name}: {} acknowledged, {} distinct received, {missing} missing, \
             {duplicates} duplicates{}\n",
            acked.len(),
            received.len(),
            if bad { "  <-- FAILED" } else { "" }
        ));
    }
    stop.store(true, Ordering::SeqCst);
    drop(broker);
    eprint!("{report}");
    if failed {
        return Err(format!(
            "crash: durability broken after {rounds} kills (broker log and data kept in {})",
            dir.display()
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("crash: {rounds} SIGKILLs, every acknowledged message delivered as promised");
    Ok(())
}

fn build_broker() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let cargo = std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from);
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--release",
            "--package",
            "mqtt-broker",
            "--bin",
            "mqtt-broker",
        ])
        .current_dir(&root)
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err("building mqtt-broker failed".into());
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release").join("mqtt-broker"))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|error| error.to_string())
}

/// The broker process; killed with SIGKILL when dropped or on `kill`.
struct Broker(Child);

impl Broker {
    fn start(
        binary: &Path,
        config: &Path,
        address: SocketAddr,
        dir: &Path,
    ) -> Result<Self, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("broker.log"))
            .map_err(|error| error.to_string())?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
        let mut broker = Self(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(address).is_err() {
            if let Ok(Some(status)) = broker.0.try_wait() {
                return Err(format!(
                    "the broker exited with {status} at start; see {}",
                    dir.join("broker.log").display()
                ));
            }
            if Instant::now() > deadline {
                broker.kill();
                return Err(format!("the broker is not listening on {address}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(broker)
    }

    fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL on Unix
        let _ = self.0.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tiny xorshift generator: random kill moments without a dependency.
struct Random(u64);

impl Random {
    fn seeded() -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64);
        Self(nanos | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One raw MQTT 3.1.1 connection.
struct Link {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Whether the connection speaks MQTT 5.0. The code above it speaks in 3.1.1 packets either
    /// way; `send` and `next` translate the few it uses (see `v5_of` and `from_v5`).
    mqtt5: bool,
}

/// What a persistent 5.0 session asks for: it never expires [MQTT5-3.1.2-23] (a Session Expiry
/// Interval of 0xFFFFFFFF), as a 3.1.1 session with CleanSession 0 would not either.
const FOREVER: [v5::Property<'static>; 1] = [v5::Property::SessionExpiryInterval(u32::MAX)];

impl Link {
    /// Connects and waits for CONNACK 0; `None` while the broker is down.
    fn connect(address: SocketAddr, client_id: &str, clean: bool) -> Option<Self> {
        Self::connect_at(address, client_id, clean, false)
    }

    /// [`connect`](Self::connect), at MQTT 5.0 if `mqtt5`.
    fn connect_at(address: SocketAddr, client_id: &str, clean: bool, mqtt5: bool) -> Option<Self> {
        let stream = TcpStream::connect(address).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok()?;
        let mut link = Self {
            stream,
            buffer: Vec::new(),
            mqtt5,
        };
        link.send(&Packet::Connect(Connect {
            level: ProtocolLevel::Mqtt311,
            clean_session: clean,
            keep_alive: 0,
            client_id,
            will: None,
            user_name: None,
            password: None,
            bridge: false,
        }))
        .ok()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match link.next(|packet| match packet {
                Packet::ConnAck(connack) => Some(connack.code as u8),
                _ => None,
            }) {
                Ok(Some(Some(0))) => return Some(link),
                Ok(Some(_)) | Err(()) => return None,
                Ok(None) if Instant::now() > deadline => return None,
                Ok(None) => {}
            }
        }
    }

    fn send(&mut self, packet: &Packet<'_>) -> Result<(), ()> {
        let mut bytes = Vec::new();
        if self.mqtt5 {
            let mut subscriptions = Vec::new();
            if let Packet::Subscribe(subscribe) = packet {
                subscriptions.extend(subscribe.filters.iter().map(|entry| v5::Subscription {
                    filter: entry.filter,
                    options: v5::SubscriptionOptions {
                        qos: entry.qos,
                        ..v5::SubscriptionOptions::default()
                    },
                }));
            }
            v5_of(packet, &subscriptions)
                .ok_or(())?
                .encode(&mut bytes)
                .map_err(|_| ())?;
        } else {
            packet
                .encode(ProtocolLevel::Mqtt311, &mut bytes)
                .map_err(|_| ())?;
        }
        self.stream.write_all(&bytes).map_err(|_| ())
    }

    /// The next packet, mapped by `f`; `Ok(None)` on a read timeout, `Err` when the connection is
    /// gone.
    fn next<T>(&mut self, f: impl FnOnce(&Packet<'_>) -> T) -> Result<Option<T>, ()> {
        loop {
            if self.mqtt5 {
                match v5::Decoder::new().decode(&self.buffer) {
                    Ok(Status::Complete((packet, used))) => {
                        // A 5.0 packet the code above has no use for reads as a PINGRESP.
                        let value = f(&from_v5(&packet).unwrap_or(Packet::PingResp));
                        self.buffer.drain(..used);
                        return Ok(Some(value));
                    }
                    Ok(Status::Partial) => {}
                    Err(_) => return Err(()),
                }
            } else if let Ok(Status::Complete((packet, used))) =
                Decoder::new(ProtocolLevel::Mqtt311).decode(&self.buffer)
            {
                let value = f(&packet);
                self.buffer.drain(..used);
                return Ok(Some(value));
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(()),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Ok(None);
                }
                Err(_) => return Err(()),
            }
        }
    }
}

/// The 5.0 form of the 3.1.1 packets a crash client sends; `subscriptions` are a SUBSCRIBE's
/// entries with 5.0 options, made by the caller so that they outlive the packet.
fn v5_of<'a>(
    packet: &Packet<'a>,
    subscriptions: &'a [v5::Subscription<'a>],
) -> Option<v5::Packet<'a>> {
    let empty = v5::Properties::EMPTY;
    Some(match *packet {
        Packet::Connect(connect) => v5::Packet::Connect(v5::Connect {
            clean_start: connect.clean_session,
            keep_alive: connect.keep_alive,
            properties: if connect.clean_session {
                empty
            } else {
                v5::Properties::from_slice(&FOREVER)
            },
            client_id: connect.client_id,
            will: None,
            user_name: None,
            password: None,
            bridge: false,
        }),
        Packet::Publish(publish) => v5::Packet::Publish(v5::Publish {
            topic: Some(publish.topic),
            payload: publish.payload,
            delivery: publish.delivery,
            retain: publish.retain,
            properties: empty,
        }),
        Packet::Subscribe(subscribe) => v5::Packet::Subscribe(v5::Subscribe {
            packet_id: subscribe.packet_id,
            properties: empty,
            filters: List::from_slice(subscriptions),
        }),
        Packet::PubAck(ack) => v5::Packet::PubAck(v5::PubAck {
            packet_id: ack.packet_id,
            reason: v5::ReasonCode::SUCCESS,
            properties: empty,
        }),
        Packet::PubRec(ack) => v5::Packet::PubRec(v5::PubRec {
            packet_id: ack.packet_id,
            reason: v5::ReasonCode::SUCCESS,
            properties: empty,
        }),
        Packet::PubRel(ack) => v5::Packet::PubRel(v5::PubRel {
            packet_id: ack.packet_id,
            reason: v5::ReasonCode::SUCCESS,
            properties: empty,
        }),
        Packet::PubComp(ack) => v5::Packet::PubComp(v5::PubComp {
            packet_id: ack.packet_id,
            reason: v5::ReasonCode::SUCCESS,
            properties: empty,
        }),
        _ => return None,
    })
}

/// The 3.1.1 form of the 5.0 packets a crash client reads: CONNACK (accepted or not), SUBACK, and
/// the QoS flows. A PUBLISH without a topic name (a Topic Alias, which these clients never
/// allow) has none.
fn from_v5<'a>(packet: &v5::Packet<'a>) -> Option<Packet<'a>> {
    Some(match packet {
        v5::Packet::ConnAck(connack) => Packet::ConnAck(ConnAck {
            session_present: connack.session_present,
            code: if connack.reason == v5::ReasonCode::SUCCESS {
                ConnectReturnCode::Accepted
            } else {
                ConnectReturnCode::ServerUnavailable
            },
        }),
        v5::Packet::Publish(publish) => Packet::Publish(Publish {
            topic: publish.topic?,
            payload: publish.payload,
            delivery: publish.delivery,
            retain: publish.retain,
        }),
        v5::Packet::SubAck(suback) => Packet::SubAck(SubAck {
            packet_id: suback.packet_id,
            return_codes: List::from_slice(&[]),
        }),
        v5::Packet::PubAck(ack) => Packet::PubAck(PubAck {
            packet_id: ack.packet_id,
        }),
        v5::Packet::PubRec(ack) => Packet::PubRec(PubRec {
            packet_id: ack.packet_id,
        }),
        v5::Packet::PubRel(ack) => Packet::PubRel(PubRel {
            packet_id: ack.packet_id,
        }),
        v5::Packet::PubComp(ack) => Packet::PubComp(PubComp {
            packet_id: ack.packet_id,
        }),
        _ => return None,
    })
}

fn id(value: u16) -> PacketId {
    PacketId::new(value).unwrap_or(PacketId::MIN)
}

/// A persistent subscriber that counts what it receives.
struct Subscriber {
    received: Arc<Mutex<BTreeMap<u64, u32>>>,
    subscribed: Arc<AtomicBool>,
}

impl Subscriber {
    fn spawn(address: SocketAddr, n: u8, qos: QoS, mqtt5: bool, stop: Arc<AtomicBool>) -> Self {
        let received = Arc::new(Mutex::new(BTreeMap::new()));
        let subscribed = Arc::new(AtomicBool::new(false));
        let (counts, flag) = (Arc::clone(&received), Arc::clone(&subscribed));
        thread::spawn(move || {
            let topic = format!("crash/{n}");
            let client_id = format!("crash-sub-{n}");
            // Inbound QoS 2 identifiers delivered and not yet released: client-side session state.
            let mut awaiting_rel: BTreeMap<u16, u64> = BTreeMap::new();
            while !stop.load(Ordering::SeqCst) {
                let Some(mut link) = Link::connect_at(address, &client_id, false, mqtt5) else {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                };
                if !flag.load(Ordering::SeqCst) {
                    let entries = [Subscription {
                        filter: TopicFilter::new(&topic).unwrap_or_else(|_| unreachable!()),
                        qos,
                    }];
                    let subscribe = Packet::Subscribe(Subscribe {
                        packet_id: id(1),
                        filters: List::from_slice(&entries),
                    });
                    if link.send(&subscribe).is_err() {
                        continue;
                    }
                }
                while !stop.load(Ordering::SeqCst) {
                    enum Event {
                        SubAck,
                        Publish(u64, Option<u16>, QoS),
                        PubRel(u16),
                        Other,
                    }
                    let event = link.next(|packet| match packet {
                        Packet::SubAck(_) => Event::SubAck,
                        Packet::Publish(publish) => Event::Publish(
                            std::str::from_utf8(publish.payload)
                                .ok()
                                .and_then(|text| text.parse().ok())
                                .unwrap_or(u64::MAX),
                            publish.delivery.packet_id().map(PacketId::get),
                            publish.qos(),
                        ),
                        Packet::PubRel(rel) => Event::PubRel(rel.packet_id.get()),
                        _ => Event::Other,
                    });
                    let reply = match event {
                        Err(()) => break,
                        Ok(None) | Ok(Some(Event::Other)) => continue,
                        Ok(Some(Event::SubAck)) => {
                            flag.store(true, Ordering::SeqCst);
                            continue;
                        }
                        Ok(Some(Event::PubRel(packet_id))) => {
                            awaiting_rel.remove(&packet_id);
                            Packet::PubComp(PubComp {
                                packet_id: id(packet_id),
                            })
                        }
                        Ok(Some(Event::Publish(seq, packet_id, qos))) => {
                            let packet_id = packet_id.unwrap_or(1);
                            let new = match awaiting_rel.get(&packet_id) {
                                _ if qos != QoS::ExactlyOnce => true,
                                None => true,
                                Some(&held) if held == seq => false,
                                Some(&held) => {
                                    // The broker reused an identifier still awaiting PUBREL.
                                    eprintln!(
                                        "crash: packet id {packet_id} reused for {seq} while {held} \
                                         awaits PUBREL"
                                    );
                                    true
                                }
                            };
                            if qos == QoS::ExactlyOnce {
                                awaiting_rel.insert(packet_id, seq);
                            }
                            if new && let Ok(mut counts) = counts.lock() {
                                *counts.entry(seq).or_insert(0) += 1;
                            }
                            match qos {
                                QoS::ExactlyOnce => Packet::PubRec(PubRec {
                                    packet_id: id(packet_id),
                                }),
                                _ => Packet::PubAck(PubAck {
                                    packet_id: id(packet_id),
                                }),
                            }
                        }
                    };
                    if link.send(&reply).is_err() {
                        break;
                    }
                }
            }
        });
        Self {
            received,
            subscribed,
        }
    }

    fn wait_subscribed(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        while !self.subscribed.load(Ordering::SeqCst) {
            if Instant::now() > deadline {
                return Err("a subscriber could not subscribe".into());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn count(&self, seq: u64) -> u32 {
        self.received
            .lock()
            .map_or(0, |counts| counts.get(&seq).copied().unwrap_or(0))
    }
}

/// A publisher, one message at a time; answers the sequence numbers the broker acknowledged.
struct Publisher(thread::JoinHandle<BTreeSet<u64>>);

impl Publisher {
    fn spawn(
        address: SocketAddr,
        n: u8,
        qos: QoS,
        persistent: bool,
        stop: Arc<AtomicBool>,
    ) -> Self {
        if persistent {
            return Self(thread::spawn(move || persistent_qos2(address, n, &stop)));
        }
        Self(thread::spawn(move || {
            let topic = format!("crash/{n}");
            let client_id = format!("crash-pub-{n}");
            let mut acknowledged = BTreeSet::new();
            let mut seq: u64 = 0;
            let mut next_id: u16 = 0;
            while !stop.load(Ordering::SeqCst) {
                let Some(mut link) = Link::connect(address, &client_id, true) else {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                };
                while !stop.load(Ordering::SeqCst) {
                    seq += 1;
                    next_id = next_id % u16::MAX + 1;
                    let payload = seq.to_string();
                    let publish = Packet::Publish(Publish {
                        topic: TopicName::new(&topic).unwrap_or_else(|_| unreachable!()),
                        payload: payload.as_bytes(),
                        delivery: Delivery::new(qos, id(next_id), false),
                        retain: false,
                    });
                    if link.send(&publish).is_err() {
                        break;
                    }
                    // Wait for the acknowledgement; a lost connection leaves `seq` unacknowledged.
                    let acked = loop {
                        match link.next(|packet| match packet {
                            Packet::PubAck(ack) => Some(ack.packet_id.get()),
                            Packet::PubRec(ack) => Some(ack.packet_id.get()),
                            _ => None,
                        }) {
                            Ok(Some(Some(got))) if got == next_id => break true,
                            Ok(_) if !stop.load(Ordering::SeqCst) => continue,
                            _ => break false,
                        }
                    };
                    if !acked {
                        break;
                    }
                    acknowledged.insert(seq);
                    if qos == QoS::ExactlyOnce {
                        let release = Packet::PubRel(PubRel {
                            packet_id: id(next_id),
                        });
                        // PUBCOMP is not awaited: the message is already the broker's.
                        if link.send(&release).is_err() {
                            break;
                        }
                    }
                }
            }
            acknowledged
        }))
    }

    fn join(self) -> BTreeSet<u64> {
        self.0.join().unwrap_or_default()
    }
}

/// The QoS 2 publisher with a persistent session: a PUBLISH not answered by PUBREC is sent again
/// (DUP set, same identifier) after reconnecting, and a PUBREL not answered by PUBCOMP likewise.
/// Answers the sequence numbers acknowledged by PUBREC (for the first sending or a later one).
fn persistent_qos2(address: SocketAddr, n: u8, stop: &AtomicBool) -> BTreeSet<u64> {
    let topic = format!("crash/{n}");
    let client_id = format!("crash-pub-{n}");
    let mut acknowledged = BTreeSet::new();
    let mut seq: u64 = 1;
    let mut packet_id: u16 = 1;
    // Whether `seq` was sent before (its next sending has DUP set), and whether PUBREC came.
    let mut sent = false;
    let mut received = false;
    while !stop.load(Ordering::SeqCst) {
        let Some(mut link) = Link::connect(address, &client_id, false) else {
            thread::sleep(Duration::from_millis(20));
            continue;
        };
        while !stop.load(Ordering::SeqCst) {
            let payload = seq.to_string();
            let packet = if received {
                Packet::PubRel(PubRel {
                    packet_id: id(packet_id),
                })
            } else {
                Packet::Publish(Publish {
                    topic: TopicName::new(&topic).unwrap_or_else(|_| unreachable!()),
                    payload: payload.as_bytes(),
                    delivery: Delivery::new(QoS::ExactlyOnce, id(packet_id), sent),
                    retain: false,
                })
            };
            if link.send(&packet).is_err() {
                break;
            }
            sent = true;
            let answer = loop {
                match link.next(|packet| match packet {
                    Packet::PubRec(ack) if ack.packet_id.get() == packet_id => Some(true),
                    Packet::PubComp(ack) if ack.packet_id.get() == packet_id => Some(false),
                    _ => None,
                }) {
                    Ok(Some(Some(pubrec))) => break Some(pubrec),
                    Ok(_) if !stop.load(Ordering::SeqCst) => continue,
                    _ => break None,
                }
            };
            match answer {
                None => break,
                Some(true) => {
                    acknowledged.insert(seq);
                    received = true;
                }
                Some(false) if received => {
                    seq += 1;
                    packet_id = packet_id % u16::MAX + 1;
                    (sent, received) = (false, false);
                }
                Some(false) => {}
            }
        }
    }
    acknowledged
}

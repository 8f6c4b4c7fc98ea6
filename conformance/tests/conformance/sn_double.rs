//! Broken MQTT-SN gateways: a UDP relay in front of our gateway that breaks one rule each.
//!
//! A node's datagrams reach the relay's port; the relay passes them to the real gateway from a
//! port of its own per node (so the gateway still tells the nodes apart) and passes the answers
//! back. With no [`SnFault`] it changes nothing, and the suite passes through it as it passes
//! against the gateway itself. Each fault rewrites, drops, answers or reorders the datagrams of one
//! rule, so that the gateway the suite sees breaks exactly that rule; the rule and its breach sit
//! side by side in [`Relay::to_gateway`] and [`Relay::to_node`].
//!
//! Why a relay rather than a second gateway: the checks watch the broker behind the gateway too, so
//! a double needs a whole MQTT side; in front of a gateway that already has one, a double stays a
//! page long. It reads datagrams with the suite's `sn_wire` (pinned by that module's own vectors
//! from the specification's tables), not with `mqttsn-codec`.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use conformance::sn_wire::{self, code, flag, msg};

/// One rule the relay can be told to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnFault {
    /// Sets the Will flag of every CONNECT, so a CONNECT without it is answered with a Will prompt.
    WillPromptWithoutWill,
    /// CONNACK's Length octet says one octet more than the datagram holds.
    WrongLength,
    /// Sets DUP on the first sending of a PUBLISH to a node.
    DupOnFirstDelivery,
    /// Sends a node, before each PUBLISH, a copy of it cut short by one octet (as a gateway would
    /// that truncates what does not fit).
    TruncatedCopy,
    /// Drops datagrams written with the three-octet Length.
    DropLongLength,
    /// Clears the Will flag of every CONNECT: no Will dialogue, no Will.
    NoWillDialogue,
    /// Drops PINGREQ without a client id: no PINGRESP to a connected client.
    NoPingresp,
    /// The DISCONNECT the gateway sends carries a Duration.
    DisconnectWithDuration,
    /// Sets CleanSession on every CONNECT: nothing of a session survives.
    ForgetSessions,
    /// Clears CleanSession on every CONNECT: a clean connect keeps the old subscriptions.
    KeepSessionsOnClean,
    /// Keeps every connected node alive with PINGREQs of its own: nobody is ever lost.
    NeverLost,
    /// Acknowledges WILLTOPICUPD itself and never passes it on.
    IgnoreWillTopicUpdate,
    /// REGACK echoes another MsgId.
    RegackWrongMsgId,
    /// Accepts a QoS 1 PUBLISH from a node that never connected.
    AcceptBeforeConnect,
    /// Clears the Retain flag of a node's PUBLISH.
    ClearRetain,
    /// Uses a topic id again after the node rejected it, without a new REGISTER.
    NoReregister,
    /// Drops a node's QoS 0 PUBLISH on a normal topic id.
    DropQos0Publish,
    /// PUBACK carries another TopicId.
    PubackWrongTopicId,
    /// Treats a QoS 2 PUBLISH from a node as QoS 1.
    Qos2AsQos1,
    /// A QoS 0 PUBLISH to a node carries a MsgId.
    Qos0DeliveryWithMsgId,
    /// A QoS 1 PUBLISH to a node goes as QoS 0.
    Qos1DeliveryAsQos0,
    /// Drops the PUBREL of a QoS 2 delivery.
    DropPubrel,
    /// Drops QoS -1 PUBLISH.
    DropQosMinusOne,
    /// Reads a short topic name in a node's PUBLISH as a normal topic id.
    ShortAsNormal,
    /// Delivers on a short topic name with TopicIdType normal.
    ShortDeliveryAsNormal,
    /// Reads a predefined id in a node's PUBLISH as a normal topic id.
    PredefinedAsNormal,
    /// Delivers on a predefined id with TopicIdType normal.
    PredefinedDeliveryAsNormal,
    /// Accepts PUBLISH on unknown topic ids: PUBACK "invalid topic id" becomes "accepted".
    AcceptUnknownTopicIds,
    /// SUBACK for a wildcard filter carries a TopicId other than 0x0000.
    WildcardSubackTopicId,
    /// Sends the PUBLISH after a REGISTER without waiting for the node's REGACK.
    PublishBeforeRegack,
    /// Acknowledges UNSUBSCRIBE itself and never passes it on.
    IgnoreUnsubscribe,
    /// Answers a waking node's PINGREQ with PINGRESP at once, before the buffered messages.
    PingrespBeforeBuffered,
    /// Drops the PINGRESP that answers a waking node's PINGREQ.
    NoPingrespWhenAwake,
    /// Drops GWINFO.
    NoGwinfo,
    /// Answers a forwarder with the bare message, not encapsulated.
    Decapsulate,
    /// Holds a SUBACK back until the next PUBLISH to the node has gone: the PUBLISH overtakes
    /// the SUBACK that names its topic id.
    SubackAfterPublish,
    /// Drops retained PUBLISHes to a node that subscribed to a topic name another node already
    /// held (an aggregating gateway that does not subscribe upstream again).
    NoRetainedForLaterSubscriber,
    /// Answers REGISTERs to a node that connected without CleanSession itself: a returning node
    /// is never told the topic ids of its kept session.
    NoRegisterOnReturn,
    /// After a node's PUBACK "invalid topic id", drops the PUBLISHes sent again (DUP set) to it.
    NoResendAfterInvalidTopicId,
    /// Hears nothing on the multicast group (a gateway that never joined it).
    NotOnTheGroup,
}

/// A relay in front of a gateway, stopped when dropped.
pub(crate) struct Relay {
    address: SocketAddr,
    /// The multicast group the relay answers SEARCHGW on, for the gateway behind it.
    group: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// What the relay knows about one node.
struct Node {
    /// The relay's socket towards the gateway for this node.
    upstream: Arc<UdpSocket>,
    /// Whether it sent CONNECT (for [`SnFault::NeverLost`]).
    connected: bool,
    /// REGACKs the relay sent on the node's behalf ([`SnFault::PublishBeforeRegack`]), whose
    /// originals from the node are dropped.
    answered: Vec<u16>,
    /// Whether the node's last PINGREQ carried a client id (it is waking up).
    waking: bool,
    /// Topic names the gateway registered with the node ([`SnFault::NoReregister`]).
    registered: Vec<Vec<u8>>,
    /// A SUBACK held back ([`SnFault::SubackAfterPublish`]).
    held: Option<Vec<u8>>,
    /// Topic names the node subscribed to ([`SnFault::NoRetainedForLaterSubscriber`]).
    subscribed: Vec<Vec<u8>>,
    /// Whether it subscribed to a name another node held first.
    late: bool,
    /// Whether its last CONNECT kept the session ([`SnFault::NoRegisterOnReturn`]).
    kept: bool,
    /// Whether it answered a PUBLISH with "invalid topic id".
    refused: bool,
}

type Nodes = Arc<Mutex<HashMap<SocketAddr, Node>>>;

/// How long a relay thread blocks before it looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

impl Relay {
    /// A relay on `127.0.0.1:0` in front of the gateway at `gateway`.
    pub(crate) fn start(gateway: SocketAddr, fault: Option<SnFault>) -> Self {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("a UDP port"));
        front.set_read_timeout(Some(POLL)).expect("a read timeout");
        let address = front.local_addr().expect("an address");
        let stop = Arc::new(AtomicBool::new(false));
        let nodes: Nodes = Arc::default();
        let (group, interface) = crate::sn::group();
        let group_socket = UdpSocket::bind(group).expect("the group's port");
        let std::net::IpAddr::V4(group_ip) = group.ip() else {
            unreachable!("an IPv4 group");
        };
        group_socket
            .join_multicast_v4(&group_ip, &interface)
            .expect("the relay joins the group");
        group_socket
            .set_read_timeout(Some(POLL))
            .expect("a read timeout");
        let group_thread = {
            let (stop, front) = (Arc::clone(&stop), Arc::clone(&front));
            std::thread::spawn(move || group_loop(&group_socket, &front, gateway, fault, &stop))
        };
        let thread = {
            let (stop, nodes) = (Arc::clone(&stop), Arc::clone(&nodes));
            std::thread::spawn(move || front_loop(&front, gateway, fault, &nodes, &stop))
        };
        Self {
            address,
            group,
            stop,
            threads: vec![thread, group_thread],
        }
    }

    /// The multicast group nodes may search on.
    pub(crate) fn group(&self) -> SocketAddr {
        self.group
    }

    /// Where nodes send.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Passes what nodes send to the group on to the gateway's own address, and its answer back to
/// the node from the relay's front address: the relay's group stands for the gateway's.
fn group_loop(
    group: &UdpSocket,
    front: &UdpSocket,
    gateway: SocketAddr,
    fault: Option<SnFault>,
    stop: &AtomicBool,
) {
    let mut buffer = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = group.recv_from(&mut buffer) else {
            continue;
        };
        if fault == Some(SnFault::NotOnTheGroup)
            || header(&buffer[..n]).map(|h| h.1) != Some(msg::SEARCHGW)
        {
            continue;
        }
        let Ok(upstream) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        if upstream.connect(gateway).is_err() || upstream.send(&buffer[..n]).is_err() {
            continue;
        }
        let _ = upstream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut answer = vec![0u8; 1024];
        if let Ok(len) = upstream.recv(&mut answer) {
            let _ = front.send_to(&answer[..len], from);
        }
    }
}

/// Receives from nodes, starts a back loop for each new one, and passes datagrams on.
fn front_loop(
    front: &Arc<UdpSocket>,
    gateway: SocketAddr,
    fault: Option<SnFault>,
    nodes: &Nodes,
    stop: &Arc<AtomicBool>,
) {
    let mut backs = Vec::new();
    let mut last_keepalive = Instant::now();
    let mut buffer = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        if fault == Some(SnFault::NeverLost)
            && last_keepalive.elapsed() > Duration::from_millis(200)
        {
            last_keepalive = Instant::now();
            let nodes = nodes.lock().unwrap_or_else(PoisonError::into_inner);
            for node in nodes.values().filter(|node| node.connected) {
                let _ = node.upstream.send(&sn_wire::pingreq(None));
            }
        }
        let (n, from) = match front.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue;
            }
            Err(_) => break,
        };
        let datagram = &buffer[..n];
        let mut nodes_guard = nodes.lock().unwrap_or_else(PoisonError::into_inner);
        // A SUBSCRIBE by name to a name another node already holds marks the node as late.
        let held_elsewhere = match header(datagram) {
            Some((at, msg::SUBSCRIBE)) => {
                let name = datagram.get(at + 3..).unwrap_or_default().to_vec();
                nodes_guard
                    .iter()
                    .any(|(address, other)| *address != from && other.subscribed.contains(&name))
            }
            _ => false,
        };
        let node = nodes_guard.entry(from).or_insert_with(|| {
            let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("a UDP port"));
            upstream.connect(gateway).expect("the gateway's address");
            upstream
                .set_read_timeout(Some(POLL))
                .expect("a read timeout");
            let back = {
                let (upstream, front, nodes, stop) = (
                    Arc::clone(&upstream),
                    Arc::clone(front),
                    Arc::clone(nodes),
                    Arc::clone(stop),
                );
                std::thread::spawn(move || back_loop(&upstream, &front, from, fault, &nodes, &stop))
            };
            backs.push(back);
            Node {
                upstream,
                connected: false,
                answered: Vec::new(),
                waking: false,
                registered: Vec::new(),
                held: None,
                subscribed: Vec::new(),
                late: false,
                kept: false,
                refused: false,
            }
        });
        if let Some((at, msg::SUBSCRIBE)) = header(datagram) {
            node.subscribed
                .push(datagram.get(at + 3..).unwrap_or_default().to_vec());
            node.late |= held_elsewhere;
        }
        for out in to_gateway(fault, datagram, node) {
            match out {
                Out::Gateway(bytes) => {
                    let _ = node.upstream.send(&bytes);
                }
                Out::Node(bytes) => {
                    let _ = front.send_to(&bytes, from);
                }
            }
        }
    }
    for back in backs {
        let _ = back.join();
    }
}

/// Receives the gateway's datagrams for one node and passes them on.
fn back_loop(
    upstream: &UdpSocket,
    front: &UdpSocket,
    node_address: SocketAddr,
    fault: Option<SnFault>,
    nodes: &Nodes,
    stop: &AtomicBool,
) {
    let mut buffer = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let n = match upstream.recv(&mut buffer) {
            Ok(n) => n,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue;
            }
            Err(_) => continue,
        };
        let mut nodes = nodes.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(node) = nodes.get_mut(&node_address) else {
            continue;
        };
        for out in to_node(fault, &buffer[..n], node) {
            match out {
                Out::Gateway(bytes) => {
                    let _ = upstream.send(&bytes);
                }
                Out::Node(bytes) => {
                    let _ = front.send_to(&bytes, node_address);
                }
            }
        }
    }
}

/// Where a datagram goes next.
enum Out {
    Gateway(Vec<u8>),
    Node(Vec<u8>),
}

/// The header length (2 or 4) and MsgType of a datagram, if it has a header.
fn header(datagram: &[u8]) -> Option<(usize, u8)> {
    match datagram {
        [0x01, _, _, kind, ..] => Some((4, *kind)),
        [_, kind, ..] => Some((2, *kind)),
        _ => None,
    }
}

/// A copy of `datagram` with `f` applied to its body, re-framed.
fn rewrite(datagram: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let Some((at, kind)) = header(datagram) else {
        return datagram.to_vec();
    };
    let mut body = datagram[at..].to_vec();
    f(&mut body);
    sn_wire::message(kind, &body)
}

fn set_u16(body: &mut [u8], at: usize, value: u16) {
    if let Some(slot) = body.get_mut(at..at + 2) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
}

fn get_u16(body: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]))
}

/// A node's datagram on its way to the gateway.
fn to_gateway(fault: Option<SnFault>, datagram: &[u8], node: &mut Node) -> Vec<Out> {
    use SnFault::*;
    let forward = |bytes: Vec<u8>| vec![Out::Gateway(bytes)];
    let Some((at, kind)) = header(datagram) else {
        return forward(datagram.to_vec());
    };
    let body = &datagram[at..];
    let flags = body.first().copied().unwrap_or_default();
    if kind == msg::CONNECT {
        node.connected = true;
        node.kept = flags & flag::CLEAN_SESSION == 0;
    }
    if kind == msg::PUBACK && body.get(4) == Some(&code::INVALID_TOPIC_ID) {
        node.refused = true;
    }
    if kind == msg::PINGREQ {
        node.waking = !body.is_empty();
    }
    match (fault, kind) {
        (Some(DropLongLength), _) if at == 4 => vec![],
        (Some(WillPromptWithoutWill), msg::CONNECT) => {
            forward(rewrite(datagram, |b| b[0] |= flag::WILL))
        }
        (Some(NoWillDialogue), msg::CONNECT) => forward(rewrite(datagram, |b| b[0] &= !flag::WILL)),
        (Some(ForgetSessions), msg::CONNECT) => {
            forward(rewrite(datagram, |b| b[0] |= flag::CLEAN_SESSION))
        }
        (Some(KeepSessionsOnClean), msg::CONNECT) => {
            forward(rewrite(datagram, |b| b[0] &= !flag::CLEAN_SESSION))
        }
        (Some(NoPingresp), msg::PINGREQ) if body.is_empty() => vec![],
        (Some(IgnoreWillTopicUpdate), msg::WILLTOPICUPD) => {
            vec![Out::Node(sn_wire::message(
                msg::WILLTOPICRESP,
                &[code::ACCEPTED],
            ))]
        }
        (Some(IgnoreUnsubscribe), msg::UNSUBSCRIBE) => {
            vec![Out::Node(sn_wire::message(
                msg::UNSUBACK,
                body.get(1..3).unwrap_or_default(),
            ))]
        }
        (Some(AcceptBeforeConnect), msg::PUBLISH)
            if !node.connected && flags & 0x60 == flag::QOS_1 =>
        {
            let (topic, id) = (get_u16(body, 1), get_u16(body, 3));
            vec![Out::Node(sn_wire::topic_ack(
                msg::PUBACK,
                topic.unwrap_or_default(),
                id.unwrap_or_default(),
                code::ACCEPTED,
            ))]
        }
        (Some(ClearRetain), msg::PUBLISH) => forward(rewrite(datagram, |b| b[0] &= !flag::RETAIN)),
        (Some(DropQos0Publish), msg::PUBLISH) if flags & 0x63 == 0 => vec![],
        (Some(DropQosMinusOne), msg::PUBLISH) if flags & 0x60 == 0x60 => vec![],
        (Some(Qos2AsQos1), msg::PUBLISH) if flags & 0x60 == flag::QOS_2 => {
            forward(rewrite(datagram, |b| b[0] = (b[0] & !0x60) | flag::QOS_1))
        }
        (Some(ShortAsNormal), msg::PUBLISH) if flags & 0x03 == flag::SHORT => {
            forward(rewrite(datagram, |b| b[0] &= !0x03))
        }
        (Some(PredefinedAsNormal), msg::PUBLISH) if flags & 0x03 == flag::PREDEFINED => {
            forward(rewrite(datagram, |b| b[0] &= !0x03))
        }
        (Some(PublishBeforeRegack), msg::REGACK) => {
            let id = get_u16(body, 2).unwrap_or_default();
            if let Some(position) = node.answered.iter().position(|each| *each == id) {
                node.answered.remove(position);
                vec![]
            } else {
                forward(datagram.to_vec())
            }
        }
        (Some(PingrespBeforeBuffered), msg::PINGREQ) if !body.is_empty() => vec![
            Out::Node(sn_wire::pingresp()),
            Out::Gateway(datagram.to_vec()),
        ],
        _ => forward(datagram.to_vec()),
    }
}

/// The gateway's datagram on its way to a node.
fn to_node(fault: Option<SnFault>, datagram: &[u8], node: &mut Node) -> Vec<Out> {
    use SnFault::*;
    let forward = |bytes: Vec<u8>| vec![Out::Node(bytes)];
    let Some((at, kind)) = header(datagram) else {
        return forward(datagram.to_vec());
    };
    let body = &datagram[at..];
    let flags = body.first().copied().unwrap_or_default();
    if fault == Some(SubackAfterPublish) {
        if kind == msg::SUBACK {
            node.held = Some(datagram.to_vec());
            return vec![];
        }
        // Whatever comes next goes first, then the SUBACK.
        let mut out = vec![Out::Node(datagram.to_vec())];
        out.extend(node.held.take().map(Out::Node));
        return out;
    }
    match (fault, kind) {
        (Some(NoRetainedForLaterSubscriber), msg::PUBLISH)
            if node.late && flags & flag::RETAIN != 0 =>
        {
            vec![]
        }
        (Some(NoRegisterOnReturn), msg::REGISTER) if node.kept => {
            let (Some(topic), Some(id)) = (get_u16(body, 0), get_u16(body, 2)) else {
                return forward(datagram.to_vec());
            };
            vec![Out::Gateway(sn_wire::topic_ack(
                msg::REGACK,
                topic,
                id,
                code::ACCEPTED,
            ))]
        }
        (Some(NoResendAfterInvalidTopicId), msg::PUBLISH)
            if node.refused && flags & flag::DUP != 0 =>
        {
            vec![]
        }
        (Some(DisconnectWithDuration), msg::DISCONNECT) => forward(sn_wire::disconnect(Some(60))),
        (Some(WrongLength), msg::CONNACK) if at == 2 => {
            let mut bytes = datagram.to_vec();
            bytes[0] += 1;
            forward(bytes)
        }
        (Some(TruncatedCopy), msg::PUBLISH) => {
            let cut = rewrite(datagram, |b| {
                b.pop();
            });
            vec![Out::Node(cut), Out::Node(datagram.to_vec())]
        }
        (Some(DupOnFirstDelivery), msg::PUBLISH) => {
            forward(rewrite(datagram, |b| b[0] |= flag::DUP))
        }
        (Some(RegackWrongMsgId), msg::REGACK) => forward(rewrite(datagram, |b| {
            let id = get_u16(b, 2).unwrap_or_default();
            set_u16(b, 2, id.wrapping_add(1));
        })),
        (Some(PubackWrongTopicId), msg::PUBACK) => forward(rewrite(datagram, |b| {
            let id = get_u16(b, 0).unwrap_or_default();
            set_u16(b, 0, id ^ 0x4000);
        })),
        (Some(AcceptUnknownTopicIds), msg::PUBACK)
            if body.get(4) == Some(&code::INVALID_TOPIC_ID) =>
        {
            forward(rewrite(datagram, |b| b[4] = code::ACCEPTED))
        }
        (Some(WildcardSubackTopicId), msg::SUBACK) if get_u16(body, 1) == Some(0) => {
            forward(rewrite(datagram, |b| set_u16(b, 1, 0x0042)))
        }
        (Some(Qos0DeliveryWithMsgId), msg::PUBLISH) if flags & 0x60 == 0 => {
            forward(rewrite(datagram, |b| set_u16(b, 3, 0x1234)))
        }
        (Some(Qos1DeliveryAsQos0), msg::PUBLISH) if flags & 0x60 == flag::QOS_1 => {
            forward(rewrite(datagram, |b| b[0] &= !0x60))
        }
        (Some(ShortDeliveryAsNormal), msg::PUBLISH) if flags & 0x03 == flag::SHORT => {
            forward(rewrite(datagram, |b| b[0] &= !0x03))
        }
        (Some(PredefinedDeliveryAsNormal), msg::PUBLISH) if flags & 0x03 == flag::PREDEFINED => {
            forward(rewrite(datagram, |b| b[0] &= !0x03))
        }
        (Some(DropPubrel), msg::PUBREL) => vec![],
        (Some(NoGwinfo), msg::GWINFO) => vec![],
        (Some(NoPingrespWhenAwake), msg::PINGRESP) if node.waking => vec![],
        (Some(PublishBeforeRegack), msg::REGISTER) => {
            // Acknowledge at once for the node, so the gateway sends the PUBLISH before the node
            // has answered.
            let (topic, id) = (get_u16(body, 0), get_u16(body, 2));
            let (Some(topic), Some(id)) = (topic, id) else {
                return forward(datagram.to_vec());
            };
            node.answered.push(id);
            vec![
                Out::Node(datagram.to_vec()),
                Out::Gateway(sn_wire::topic_ack(msg::REGACK, topic, id, code::ACCEPTED)),
            ]
        }
        (Some(NoReregister), msg::REGISTER) => {
            let name = body.get(4..).unwrap_or_default().to_vec();
            let (Some(topic), Some(id)) = (get_u16(body, 0), get_u16(body, 2)) else {
                return forward(datagram.to_vec());
            };
            if node.registered.contains(&name) {
                // Known to the node once: acknowledged here, never shown to it again.
                vec![Out::Gateway(sn_wire::topic_ack(
                    msg::REGACK,
                    topic,
                    id,
                    code::ACCEPTED,
                ))]
            } else {
                node.registered.push(name);
                forward(datagram.to_vec())
            }
        }
        (Some(Decapsulate), msg::ENCAPSULATED) => {
            let length = usize::from(datagram[0]);
            forward(datagram.get(length..).unwrap_or_default().to_vec())
        }
        _ => forward(datagram.to_vec()),
    }
}

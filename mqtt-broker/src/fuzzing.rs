//! The broker's fuzzing entry point: arbitrary bytes become a script of several clients talking to
//! one `Router` (`routing/router.rs`) through their own `ProtocolMachine`s (`connection/protocol.rs`), on a fake clock, with no
//! thread and no socket read.
//!
//! It is the body of the `broker_session` fuzz target (`fuzz/` at the workspace root) and, so that CI
//! keeps it compiling and meaningful without a fuzzer, of a unit test that runs it over the seed
//! corpus in `fuzz/corpus/broker_session/`. It is public only for the fuzz crate (`#[doc(hidden)]`):
//! it is not part of the broker's API.
//!
//! What a run checks, beyond "nothing panics, nothing hangs": every packet the broker hands a writer
//! encodes, and decodes back to one whole packet at the connection's protocol level; CONNACK is the
//! first packet on every accepted connection [MQTT-3.2.0-1]; a closed session answers nothing more
//! [MQTT-3.1.4-5]. A client whose first packet names level 5 speaks MQTT 5.0 from then on, as in
//! `connection/reader.rs`, so 3.1.1 and 5.0 sessions meet in the same router.
//!
//! What it does not cover: `connection/reader.rs`'s glue around the same calls (authentication, the ACL and
//! `max_topic_levels` checks, blocking on a full channel, threads) and `connection/writer.rs`. The script
//! plays the writer itself: it drains a connection's channel when told to, and otherwise lets it
//! fill up, which is how slow consumers, starvation and the queue limits are reached.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mqtt_codec::v5::{self, ReasonCode};
use mqtt_codec::{Decoder, ProtocolLevel, Status};

use crate::connection::protocol::{Action, ProtocolMachine, Settings, ack_reason};
use crate::hooks::ClientInfo;
use crate::persistence::Restored;
use crate::routing::outbound::{OutPacket, Outbound, WriterRx, WriterTx, writer_channel};
use crate::routing::router::{Link, Router, SlotRef};
use crate::routing::session_state::Limits;
use crate::security::auth::{Security, SecuritySources};
use crate::transport::Stream;

/// Clients in one script: enough for take-overs, routing between sessions and persistent sessions
/// coming back, few enough that random bytes often address the same one twice.
const CLIENTS: usize = 4;
/// Small limits, so that short inputs reach them.
const LIMITS: Limits = Limits {
    max_inflight: 2,
    max_inflight_bytes: 0,
    max_queued: 4,
    // The fuzz target plays every client on one thread: nobody could make room for a wait.
    drop_when_full: true,
    max_queued_bytes: 0,
    stall: std::time::Duration::from_secs(30),
};
const CHANNEL_CAPACITY: usize = 4;
const MAX_SUBSCRIPTIONS: usize = 3;
const MAX_PACKET_SIZE: usize = 4096;

/// Runs the script `data` and answers how many packets the sessions were given (so that a test can
/// tell that its seeds reach past the decoder). Panics if an invariant listed in the module doc
/// breaks: that is what a fuzzer looks for.
///
/// The script is a sequence of commands. A command byte's low two bits choose a client; its upper
/// six bits choose what happens:
/// - 0 to 47: the next byte `n`, then `n` bytes the client sends (whatever is there, if fewer);
/// - 48 to 51: the clock advances by the next byte times 100 ms, and every session's timers run;
/// - 52 to 55: the client's writer drains its channel (a client that reads);
/// - 56 to 59: the client's connection drops; a new one takes its place;
/// - 60 to 63: nothing (so that any byte is a command).
pub fn session(data: &[u8]) -> usize {
    let Some(socket) = loopback() else {
        return 0;
    };
    // The defaults: anonymous clients allowed, no ACL.
    let Ok(security) = Security::load(&SecuritySources {
        anonymous_by_default: true,
        ..SecuritySources::default()
    }) else {
        return 0;
    };
    let router = Router::new(LIMITS, security, None, Restored::default());
    let start = Instant::now();
    let mut script = Script {
        router,
        clients: Vec::new(),
        now: start,
        next_id: 1,
        packets: 0,
        socket,
    };
    for _ in 0..CLIENTS {
        let client = script.fresh_client();
        script.clients.push(client);
    }
    let mut bytes = data.iter().copied();
    while let Some(command) = bytes.next() {
        let client = usize::from(command & 0x03);
        match command >> 2 {
            0..=47 => {
                let len = usize::from(bytes.next().unwrap_or(0));
                let chunk: Vec<u8> = bytes.by_ref().take(len).collect();
                script.receive(client, &chunk);
            }
            48..=51 => {
                let steps = u64::from(bytes.next().unwrap_or(0));
                script.now += Duration::from_millis(100 * steps);
                for client in 0..CLIENTS {
                    let actions = script.clients[client].protocol.tick(script.now);
                    script.execute(client, actions);
                }
            }
            52..=55 => script.drain(client),
            56..=59 => {
                let actions = script.clients[client].protocol.connection_lost();
                script.execute(client, actions);
            }
            _ => {}
        }
        for client in 0..CLIENTS {
            if script.clients[client].closed {
                script.clients[client] = script.fresh_client();
            }
        }
    }
    for client in 0..CLIENTS {
        let actions = script.clients[client].protocol.connection_lost();
        script.execute(client, actions);
        script.drain(client);
    }
    script.packets
}

/// One simulated connection.
struct Client {
    id: u64,
    protocol: ProtocolMachine,
    decoder: Decoder,
    decoder5: v5::Decoder,
    /// Bytes received and not yet a whole packet.
    buffer: Vec<u8>,
    attached: Option<Attached>,
    /// The session closed: the connection is over and will be replaced.
    closed: bool,
}

/// A connection whose CONNECT was accepted: its slot and both ends of its writer's channel.
struct Attached {
    slot: SlotRef,
    /// The session's client identifier: what it publishes is routed as its own (No Local).
    client_id: Arc<str>,
    tx: WriterTx,
    rx: WriterRx,
    starved: Arc<AtomicBool>,
    /// Whether the writer has seen a packet yet: the first must be CONNACK.
    started: bool,
}

struct Script {
    router: Router,
    clients: Vec<Client>,
    now: Instant,
    next_id: u64,
    packets: usize,
    /// A connected loopback socket nobody reads, cloned into every link: the router shuts links'
    /// sockets down on take-over, and needs one to do it to.
    socket: &'static TcpStream,
}

impl Script {
    fn fresh_client(&mut self) -> Client {
        let id = self.next_id;
        self.next_id += 1;
        let settings = Settings {
            connect_timeout: Duration::from_secs(2),
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".into(),
            message_size_limit: 64,
            max_packet_size: mqtt_codec::MAX_PACKET_SIZE,
            max_keepalive: 0,
            topic_alias_maximum: 10,
            retain_available: true,
            wildcard_subscriptions: true,
            subscription_identifiers: true,
            shared_subscriptions: true,
            clientid_prefixes: std::sync::Arc::from([]),
            receive_maximum: 20,
            response_information: None,
        };
        Client {
            id,
            protocol: ProtocolMachine::new(settings, id, self.now),
            decoder: Decoder::new(ProtocolLevel::Mqtt311).with_max_packet_size(MAX_PACKET_SIZE),
            decoder5: v5::Decoder::new().with_max_packet_size(MAX_PACKET_SIZE),
            buffer: Vec::new(),
            attached: None,
            closed: false,
        }
    }

    /// Bytes from the client: decode every whole packet and hand it to the session, as the reader
    /// thread does.
    fn receive(&mut self, client: usize, chunk: &[u8]) {
        if self.clients[client].closed {
            return;
        }
        self.clients[client].buffer.extend_from_slice(chunk);
        let buffer = std::mem::take(&mut self.clients[client].buffer);
        let mut consumed = 0;
        while !self.clients[client].closed {
            let state = &mut self.clients[client];
            let bytes = &buffer[consumed..];
            if !state.protocol.is_v5()
                && state.attached.is_none()
                && let Ok(Status::Complete(Some(5))) = v5::connect_level(bytes)
            {
                state.protocol.expect_v5();
            }
            let actions = if state.protocol.is_v5() {
                match state.decoder5.decode(bytes) {
                    Ok(Status::Complete((packet, used))) => {
                        consumed += used;
                        self.packets += 1;
                        let mut actions = Vec::new();
                        state.protocol.packet5_into(packet, self.now, &mut actions);
                        actions
                    }
                    Ok(Status::Partial) => break,
                    Err(error) => state.protocol.malformed(error),
                }
            } else {
                match state.decoder.decode(bytes) {
                    Ok(Status::Complete((packet, used))) => {
                        consumed += used;
                        self.packets += 1;
                        let mut actions = Vec::new();
                        state.protocol.packet_into(packet, self.now, &mut actions);
                        state.decoder.set_level(state.protocol.level());
                        actions
                    }
                    Ok(Status::Partial) => break,
                    Err(error) => state.protocol.malformed(error),
                }
            };
            self.execute(client, actions);
        }
        self.clients[client].buffer = buffer[consumed..].to_vec();
    }

    /// Carries out a session's actions against the router, as `connection/reader.rs` does.
    fn execute(&mut self, client: usize, actions: Vec<Action>) {
        for action in actions {
            let state = &self.clients[client];
            assert!(
                !state.closed,
                "an action after Close: {action:?} [MQTT-3.1.4-5]"
            );
            let id = state.id;
            let slot = state
                .attached
                .as_ref()
                .map(|attached| Arc::clone(&attached.slot));
            match (action, slot) {
                (Action::Send(packet), _) => self.send(client, packet),
                // No enhanced authenticator in the harness: the machine refuses the method
                // (0x8C).
                (Action::Authenticate { .. }, _) => {
                    let now = std::time::Instant::now();
                    let actions = self.clients[client].protocol.exchange_step(None, now);
                    self.execute(client, actions);
                }
                (Action::Open(request), _) => {
                    let (tx, rx) = writer_channel(CHANNEL_CAPACITY);
                    let starved = Arc::new(AtomicBool::new(false));
                    let Ok(socket) = self.socket.try_clone() else {
                        return;
                    };
                    let link = Link {
                        connection_id: id,
                        tx: tx.clone(),
                        stream: Arc::new(Stream::Plain(socket)),
                        starved: Arc::clone(&starved),
                        mqtt5: request.mqtt5.is_some(),
                    };
                    let info = Arc::new(ClientInfo::restored(Arc::clone(&request.client_id), None));
                    let opened = self.router.open(&request, info, link);
                    self.clients[client].attached = Some(Attached {
                        slot: opened.slot,
                        client_id: Arc::clone(&request.client_id),
                        tx,
                        rx,
                        starved,
                        started: false,
                    });
                    if let Some(old) = opened.taken_over {
                        // The old connection's socket is shut down; its reader sees the end.
                        let connection_id = old.connection_id;
                        old.disconnect_with(ReasonCode::SESSION_TAKEN_OVER);
                        if let Some(other) = self.clients.iter().position(|c| c.id == connection_id)
                        {
                            let actions = self.clients[other].protocol.connection_lost();
                            self.execute(other, actions);
                        }
                    }
                }
                // A client's QoS 0 PUBLISH, routed as the reader routes it: as the client's, so
                // that back-pressure can refuse it and No Local sees its publisher.
                (Action::Publish(message), _) => {
                    let publisher = self.clients[client]
                        .attached
                        .as_ref()
                        .map(|attached| Arc::clone(&attached.client_id));
                    if let Err(refused) =
                        self.router
                            .publish_from(&message, None, publisher.as_deref())
                    {
                        let actions = self.clients[client]
                            .protocol
                            .queue_full(refused.to_string());
                        self.execute(client, actions);
                    }
                }
                (Action::PublishOnce { packet_id, message }, Some(slot)) => {
                    let publisher = self.clients[client]
                        .attached
                        .as_ref()
                        .map(|attached| Arc::clone(&attached.client_id));
                    match self.router.publish_once(
                        &slot,
                        id,
                        packet_id,
                        message.as_ref(),
                        None,
                        publisher.as_deref(),
                    ) {
                        Ok(_) => self.send(client, OutPacket::PubRec(packet_id)),
                        Err(refused) => {
                            let actions = self.clients[client]
                                .protocol
                                .queue_full(refused.to_string());
                            self.execute(client, actions);
                        }
                    }
                }
                (Action::Release(packet_id), Some(slot)) => {
                    let _ = self.router.release(&slot, id, packet_id);
                    self.send(client, OutPacket::PubComp(packet_id));
                }
                (Action::Acknowledged(ack), Some(slot)) => {
                    match self.router.acknowledged(&slot, id, ack) {
                        Ok(Some(reply)) => self.send(client, reply),
                        Ok(None) => {}
                        Err(why) => {
                            let actions = self.clients[client].protocol.wrong_acknowledgement(why);
                            self.execute(client, actions);
                        }
                    }
                }
                (
                    Action::Subscribe {
                        packet_id,
                        filters,
                        options,
                        // Every feature is on in the harness: nothing is unoffered.
                        unoffered: _,
                    },
                    Some(slot),
                ) => {
                    let allowed = vec![true; filters.len()];
                    let level = self.clients[client].protocol.level();
                    let asked = crate::routing::router::Asked {
                        filters: &filters,
                        options: &options,
                        allowed: &allowed,
                    };
                    let done = self
                        .router
                        .subscribe(&slot, id, asked, MAX_SUBSCRIPTIONS, level);
                    self.send(
                        client,
                        OutPacket::SubAck {
                            packet_id,
                            codes: done.codes,
                        },
                    );
                    self.router.send_retained(&slot, id, &done.send_retained);
                }
                (Action::Unsubscribe { packet_id, filters }, Some(slot)) => {
                    let existed = self.router.unsubscribe(&slot, id, &filters);
                    if self.clients[client].protocol.is_v5() {
                        let codes = existed
                            .iter()
                            .map(|existed| {
                                if *existed {
                                    ReasonCode::SUCCESS
                                } else {
                                    ReasonCode::NO_SUBSCRIPTION_EXISTED
                                }
                            })
                            .collect();
                        self.send(client, OutPacket::UnsubAck5 { packet_id, codes });
                    } else {
                        self.send(client, OutPacket::UnsubAck(packet_id));
                    }
                }
                (Action::PublishAcked { packet_id, message }, Some(_)) => {
                    let forwarded = message.is_some();
                    let publisher = self.clients[client]
                        .attached
                        .as_ref()
                        .map(|attached| Arc::clone(&attached.client_id));
                    let delivered = message.map_or(Ok(0), |message| {
                        self.router
                            .publish_from(&message, None, publisher.as_deref())
                    });
                    match delivered {
                        Ok(delivered) => {
                            let code = ack_reason(true, forwarded, delivered);
                            self.send(client, OutPacket::PubAckWith(packet_id, code));
                        }
                        Err(refused) => {
                            let actions = self.clients[client]
                                .protocol
                                .queue_full(refused.to_string());
                            self.execute(client, actions);
                        }
                    }
                }
                (Action::SessionExpiry(seconds), Some(slot)) => {
                    self.router.set_session_expiry(&slot, id, seconds);
                }
                (Action::Dropped { .. }, _) => {}
                (Action::Close(close), slot) => {
                    if let Some(will) = close.will {
                        self.router.publish(&will);
                    }
                    if let Some(slot) = slot {
                        self.router.close(&slot, id);
                    }
                    self.clients[client].closed = true;
                    self.drain(client);
                }
                // Only an attached connection's session asks for these; the reader thread would
                // end the connection if one came anyway.
                (action, None) => panic!("{action:?} before the session was opened"),
            }
        }
    }

    /// Hands a packet to the client's writer. The reader thread blocks on a full channel; here the
    /// writer makes room first.
    fn send(&mut self, client: usize, packet: OutPacket) {
        let outbound = self.router.outbound(packet);
        let Some(attached) = &self.clients[client].attached else {
            // Before CONNECT is accepted, refusals are written straight to the socket.
            self.check(client, &outbound);
            return;
        };
        if attached.tx.is_full() {
            self.drain(client);
        }
        if let Some(attached) = &self.clients[client].attached {
            let _ = attached.tx.try_send(outbound);
        }
    }

    /// Plays the writer: takes everything from the channel, checks it, and asks for more if a
    /// publisher found the channel full.
    fn drain(&mut self, client: usize) {
        loop {
            let Some(attached) = &self.clients[client].attached else {
                return;
            };
            let Ok(outbound) = attached.rx.try_recv() else {
                if attached.starved.swap(false, Ordering::Relaxed) {
                    let slot = Arc::clone(&attached.slot);
                    self.router.pump(&slot, self.clients[client].id);
                    continue;
                }
                return;
            };
            self.check(client, &outbound);
        }
    }

    /// The writer's checks on one outbound packet.
    fn check(&mut self, client: usize, outbound: &Outbound) {
        let level = if self.clients[client].protocol.is_v5() {
            None
        } else {
            Some(self.clients[client].protocol.level())
        };
        let packets = match outbound {
            Outbound::Packet(packet) | Outbound::Durable(packet, _) => std::slice::from_ref(packet),
            Outbound::Batch(packets, _) => packets.as_slice(),
            Outbound::Close => return,
        };
        for packet in packets {
            self.check_packet(client, level, packet);
        }
    }

    /// The writer's checks on one packet, at `level` (`None`: 5.0).
    fn check_packet(&mut self, client: usize, level: Option<ProtocolLevel>, packet: &OutPacket) {
        if let Some(attached) = &mut self.clients[client].attached {
            if !attached.started {
                assert!(
                    matches!(packet, OutPacket::ConnAck { .. } | OutPacket::ConnAck5(_)),
                    "first packet {packet:?} is not CONNACK [MQTT-3.2.0-1] [MQTT5-3.2.0-1]"
                );
            }
            attached.started = true;
        }
        let mut bytes = Vec::new();
        // Server packets decode with a client's view: a decoder at the connection's level.
        let (encoded, decoded) = match level {
            Some(level) => {
                let encoded = packet.encode(level, &mut bytes);
                let decoded = Decoder::new(level)
                    .decode(&bytes)
                    .map(|status| match status {
                        Status::Complete((_, used)) => Status::Complete(used),
                        Status::Partial => Status::Partial,
                    });
                (encoded, decoded)
            }
            None => {
                let encoded = packet.encode5(self.now, &mut bytes);
                let decoded = v5::Decoder::new()
                    .decode(&bytes)
                    .map(|status| match status {
                        Status::Complete((_, used)) => Status::Complete(used),
                        Status::Partial => Status::Partial,
                    });
                (encoded, decoded)
            }
        };
        assert!(encoded.is_ok(), "{packet:?} does not encode: {encoded:?}");
        if bytes.is_empty() {
            return; // a 5.0-only packet (a server DISCONNECT) has no 3.1.1 form
        }
        match decoded {
            Ok(Status::Complete(used)) => {
                assert_eq!(used, bytes.len(), "{packet:?} encoded with trailing bytes");
            }
            other => panic!("{packet:?} encoded as {bytes:02x?}, which decodes as {other:?}"),
        }
    }
}

/// A connected loopback socket, made once per process.
fn loopback() -> Option<&'static TcpStream> {
    static SOCKET: OnceLock<Option<(TcpListener, TcpStream)>> = OnceLock::new();
    SOCKET
        .get_or_init(|| {
            let listener = TcpListener::bind("127.0.0.1:0").ok()?;
            let stream = TcpStream::connect(listener.local_addr().ok()?).ok()?;
            Some((listener, stream))
        })
        .as_ref()
        .map(|(_, stream)| stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed corpus of the fuzz target, run as a plain test: it keeps the harness compiling
    /// and working in CI, where no fuzzer runs.
    #[test]
    fn the_seed_corpus_runs_and_reaches_the_sessions() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/broker_session");
        let mut seeds = 0;
        let mut packets = 0;
        for entry in std::fs::read_dir(&dir).expect("the seed corpus is in the repository") {
            let data = std::fs::read(entry.expect("entry").path()).expect("a seed");
            packets += session(&data);
            seeds += 1;
        }
        assert!(seeds >= 3, "{seeds} seeds in {}", dir.display());
        assert!(
            packets >= 10,
            "the seeds reach the sessions: {packets} packets"
        );
    }

    /// The `mqtt5` seed (two 5.0 clients and a 3.1.1 one: subscription options and identifier,
    /// a topic alias, user properties, UNSUBSCRIBE, DISCONNECT with a Session Expiry Interval)
    /// gets every one of its ten packets decoded at its level: a 5.0 CONNECT taken for 3.1.1 would
    /// close the connection at once.
    #[test]
    fn the_5_0_seed_is_decoded_at_5_0() {
        let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus/broker_session/mqtt5");
        let data = std::fs::read(seed).expect("the 5.0 seed is in the repository");
        assert_eq!(session(&data), 10);
    }
}

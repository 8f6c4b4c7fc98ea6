//! [`Router`]: the state all connections share (the session registry, the subscription tree and the
//! retained store) and the operations that touch it: open and close a session, route a message,
//! subscribe, acknowledge.
//!
//! # Locks, and why there is no deadlock
//!
//! There are four kinds of lock, always taken in this order, never the other way round:
//!
//! 1. `sessions`, the registry (client identifier → slot). Held only to find, add or remove a slot.
//! 2. one `Slot` (a session and its live connection, if any). Never two slots at once.
//! 3. `subscriptions`, `retained` or `expiries` (`routing/session_expiry.rs`). These are leaves:
//!    nothing else is locked while one is held, except that (un)subscribing changes the
//!    shared-subscription groups under `subscriptions`.
//! 4. the locks inside `shared` (`routing/shared.rs`), taken last: nothing outside it is locked while one of
//!    them is held, so a publisher copies a group's members out before it locks their slots.
//!
//! A publisher never takes the registry: the subscription tree stores each subscription's slot, so it
//! copies its subscribers' slots out of the tree, releases the tree, and then locks one slot at a
//! time. Sixteen publishers feeding one subscriber therefore meet only on that subscriber's slot. Nothing in this file
//! blocks while holding a lock: packets go into channels with `try_send`, which never waits (the
//! thread that sent writes them later, with no lock held: `outbound::kick_all`), and
//! sockets are shut down only after every lock is released. A subscriber whose queue is full makes
//! its publishers wait before they route (and so before they acknowledge), on the slot's condition
//! variable, which releases the lock while waiting; a subscriber that makes no progress for
//! `write_timeout` is disconnected, which ends the wait (see ARCHITECTURE.md, "Slow subscribers, and
//! back-pressure").
//!
//! With persistence on, every change to a persistent session is appended to the log (`persistence/`)
//! while that session's slot is locked, and every change to the retained store while it is locked, so
//! the log holds each one's changes in the order they happened. Appending only encodes into a buffer:
//! no I/O under a lock here either. The authorisers' `read` (the ACL's, registered ones) is asked on
//! every delivery, with no lock held, as `hooks.rs` promises; when there is no authoriser it is not
//! asked at all.
//!
//! This file does not parse packets, run timers or own sockets; it holds no protocol state of a
//! connection (`connection/protocol.rs`) and does not decide outbound flow control (`routing/session_state.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use crossbeam_channel::TrySendError;
use log::{debug, info, warn};
use mqtt_codec::{
    ConnectReturnCode, PacketId, ProtocolLevel, QoS, SubAckReturnCode, TopicFilter, TopicName,
};
use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

use super::requests::{Ack, OpenRequest};
use crate::hooks::ClientInfo;
use crate::message::Message;
use crate::message::{GroupId, SharedOrigin};
use crate::metrics::Metrics;
use crate::persistence::{Persistence, Restored};
use crate::record::{Record, instant_of, wall_millis};
use crate::routing::outbound::{self, ConnAck5, OutPacket, Outbound, WriterTx};
use crate::routing::retained::RetainedStore;
use crate::routing::session_expiry::ExpirySchedule;
use crate::routing::session_state::{AckError, Limits, QueueChange, SessionState};
use crate::routing::shared::{Filter, SharedSubscriptions};
use crate::routing::subscriptions::{Subscriber, SubscriptionTree};
use crate::security::auth::Security;
use crate::subscription_options::SubscriptionOptions5;
use crate::transport::Stream;
use mqtt_codec::v5::{ReasonCode, RetainHandling};

/// A session's slot in the registry, shared by its connection threads and by publishers.
pub(crate) type SlotRef = Arc<Mutex<Slot>>;

/// One client identifier's session, and the connection currently attached to it.
#[derive(Debug)]
pub(crate) struct Slot {
    client_id: Arc<str>,
    /// A number for this slot, unique for the router's lifetime: the key of its entries in the
    /// subscription tree, cheaper to compare and sort than the client identifier.
    key: u64,
    /// The session state proper: what would be persisted.
    state: SessionState,
    /// CleanSession of the connection that opened it: a clean session is removed with its connection
    /// [MQTT-3.1.2-6].
    clean: bool,
    /// The live connection, or `None` while a persistent session waits for its client.
    link: Option<Link>,
    /// Who the client is (the user name it authenticated as, or claimed; its listener), for the
    /// authorisers asked at delivery.
    client: Arc<ClientInfo>,
    /// The LSN of this session's last log record: the mark a snapshot records for it.
    last_lsn: u64,
    /// Whether the connection that opened it is a bridge (see `OpenRequest::bridge`): messages
    /// reach it with their retain flag as published.
    bridge: bool,
    /// Whether it is one of our own bridges' local side, which the ACL does not apply to.
    trusted: bool,
    /// Notified whenever the queue may have room again or the link changed: publishers waiting for
    /// room in this session's queue wait on it, with this slot's mutex (see "Back-pressure" in the
    /// module doc). Waiting releases the mutex.
    room: Arc<Condvar>,
    /// Set while this session's own reader waits for room in some queue: a publisher never waits
    /// for a session whose reader is itself waiting, since that reader reads the acknowledgements
    /// that would make room (see "Back-pressure").
    reader_waiting: Arc<AtomicBool>,
    /// Counts the pumps that moved something out of the queue: a waiting publisher sees progress
    /// and keeps waiting, where a stuck subscriber (no progress for `write_timeout`) is cut off.
    progress: u64,
    /// When the queue last moved, or last started to hold something, or a connection attached:
    /// a connected client with messages waiting in its queue and no progress for `write_timeout`
    /// is stuck, publisher waiting or not (see [`Router::stall_left`]).
    progress_at: Instant,
    /// Whether the connection that opened it speaks 5.0: its deliveries carry properties and
    /// Subscription Identifiers, so they never share the 3.1.1 bytes of a QoS 0 PUBLISH.
    mqtt5: bool,
    /// The 5.0 client's Receive Maximum: its window is no wider [MQTT5-3.3.4-9] [MQTT5-4.9.0-2].
    receive_maximum: Option<u16>,
    /// The 5.0 client's Maximum Packet Size: a PUBLISH larger than that is not delivered to it
    /// [MQTT5-3.1.2-24] [MQTT5-3.1.2-25].
    maximum_packet_size: Option<usize>,
    /// How long the session outlives its connection: a 5.0 one's Session Expiry Interval, a 3.1.1
    /// one's `persistent_client_expiration`; `None`: for ever (0xFFFFFFFF at 5.0, no directive at
    /// 3.1.1).
    expiry: Option<std::time::Duration>,
    /// When its last connection closed, while it has none.
    detached_at: Option<Instant>,
    /// The connection that last opened it: a delayed Will is published only if no other has
    /// since [MQTT5-3.1.3-9].
    last_connection: u64,
}

impl Slot {
    /// Whether this is a session whose Session Expiry Interval (or `persistent_client_expiration`)
    /// passed while it had no connection: it is over [MQTT5-4.1.0-2], so nothing is delivered or
    /// queued to it, and the next CONNECT for its client identifier starts afresh. The expiry
    /// thread removes it from the registry soon after (see [`Router::expire_sessions`]); until
    /// then, this is what keeps it from taking messages.
    fn gone(&self) -> bool {
        self.gone_at(Instant::now())
    }

    /// [`gone`](Self::gone) at `now`.
    fn gone_at(&self, now: Instant) -> bool {
        self.link.is_none()
            && matches!(
                (self.expiry, self.detached_at),
                (Some(expiry), Some(detached_at))
                    if now.saturating_duration_since(detached_at) >= expiry
            )
    }

    /// When this session is over if no connection opens it first: a persistent session without
    /// a connection and with an expiry. `None` for a connected one, a clean one (removed with its
    /// connection) and one that never expires (or whose deadline is past what an `Instant` holds).
    fn expires_at(&self) -> Option<Instant> {
        if self.clean || self.link.is_some() {
            return None;
        }
        self.detached_at?.checked_add(self.expiry?)
    }
}

/// What [`Router::stall_left`] tells the thread that watches a connection (its writer's helper).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stall {
    /// Look again after this long, or as soon as there is something to write.
    CheckIn(std::time::Duration),
    /// Nothing waits in the session's queue (or the connection no longer owns it): nothing to
    /// watch.
    Nothing,
    /// Nothing to check (`write_timeout` zero): wait for something to write.
    Never,
    /// Messages wait for this client and it made no progress for `write_timeout`: end the
    /// connection (logged).
    Stuck,
}

/// How the router reaches a live connection.
#[derive(Debug)]
pub(crate) struct Link {
    /// Which connection: a slot ignores requests from a connection that was taken over.
    pub(crate) connection_id: u64,
    /// The connection's bounded channel, drained by its `Writer` (`connection/writer.rs`).
    pub(crate) tx: WriterTx,
    /// The socket, to shut down on take-over or broker shutdown.
    pub(crate) stream: Arc<Stream>,
    /// Set when a `try_send` found the channel full; the writer then calls [`Router::pump`].
    pub(crate) starved: Arc<AtomicBool>,
    /// Whether the client speaks 5.0, and is told why the broker ends its connection.
    pub(crate) mqtt5: bool,
}

impl Link {
    /// Asks the connection to end: its writer flushes and closes, and the shut-down socket ends its
    /// reader. Called with no lock held.
    pub(crate) fn disconnect(self) {
        let _ = self.tx.try_send(Outbound::Close);
        self.stream.shutdown();
        outbound::kick_all();
    }

    /// [`disconnect`](Self::disconnect), telling a 5.0 client why with a DISCONNECT: 0x8E when
    /// another connection took its session over [MQTT5-3.1.4-3], 0x8B at shutdown. The writer
    /// sends it, then closes the socket, which ends the reader; only if the writer's channel has
    /// no room is the socket cut at once, without it.
    pub(crate) fn disconnect_with(self, reason: ReasonCode) {
        if self.mqtt5
            && self
                .tx
                .try_send(Outbound::Packet(OutPacket::Disconnect(reason, None)))
                .is_ok()
            && self.tx.try_send(Outbound::Close).is_ok()
        {
            outbound::kick_all();
            return;
        }
        self.disconnect();
    }
}

/// The result of [`Router::open`].
#[derive(Debug)]
pub(crate) struct Opened {
    /// The session's slot, for every later request of this connection.
    pub(crate) slot: SlotRef,
    /// Session Present [MQTT-3.2.2-2] [MQTT-3.2.2-3].
    pub(crate) session_present: bool,
    /// The connection that had the same client identifier, to be disconnected [MQTT-3.1.4-2].
    pub(crate) taken_over: Option<Link>,
}

/// The broker's shared state.
#[derive(Debug)]
pub(crate) struct Router {
    limits: Limits,
    /// `persistent_client_expiration`: how long a 3.1.1 persistent session may stay without a
    /// connection before it is over, as a 5.0 session's Session Expiry Interval (`None`: for ever).
    persistent_expiry: Option<std::time::Duration>,
    /// `upgrade_outgoing_qos`: deliver at the subscription's QoS even above the published one
    /// (mosquitto's non-standard option; off, as the protocol requires [MQTT-3.8.4-6]).
    upgrade_qos: bool,
    /// `check_retain_source`: a retained message goes to a new subscriber only if its publisher
    /// may still publish to its topic.
    check_retain_source: bool,
    /// Client identifier → session. Locked first, briefly (see the module doc).
    sessions: Mutex<HashMap<Arc<str>, SlotRef>>,
    /// When each offline persistent session expires, for the expiry thread (`start.rs`), which
    /// sleeps until the first deadline and then calls [`expire_sessions`](Self::expire_sessions).
    /// Set and cancelled with the session's slot locked; its own lock is a leaf.
    expiries: ExpirySchedule,
    /// Every subscription, indexed by filter, each with its session's slot. Read-locked by
    /// publishers, write-locked by (un)subscribers and session clean-up; a leaf lock.
    subscriptions: RwLock<SubscriptionTree<SlotRef>>,
    /// The `$share/` subscriptions, apart from the others (see `routing/shared.rs`). Its locks come last in
    /// the lock order: no slot is locked while one of them is held.
    shared: SharedSubscriptions<SlotRef>,
    /// The key of the next slot created (see [`Slot::key`]).
    next_key: AtomicU64,
    /// The retained messages, and the LSN of the last log record about them. A leaf lock.
    retained: Mutex<(RetainedStore, u64)>,
    /// The password file, ACL and anonymous rule in force; replaced whole on reload. A leaf lock,
    /// held only to clone the `Arc`.
    security: RwLock<Arc<Security>>,
    /// The durable store, with `persistence true`.
    persistence: Option<Arc<Persistence>>,
    /// Clients with a live, accepted connection (`$SYS/broker/clients/connected`).
    connected: AtomicU64,
    /// Counters for `$SYS`.
    pub(crate) metrics: Metrics,
    /// When a dropped message (`queue_full_drop`) was last logged: at most one line per
    /// [`DROP_LOG_EVERY`]. A leaf lock.
    drop_logged: Mutex<Option<Instant>>,
    /// When a refused PUBLISH (an offline session's full queue) was last logged, likewise.
    refuse_logged: Mutex<Option<Instant>>,
}

/// Why a PUBLISH was refused upstream: a session that would have to queue it has its queue at a
/// limit and cannot be waited for (see [`Router::refuses`]): it is offline and persistent, or it
/// is connected but is the publisher's own session, or its reader waits for room itself. Nothing
/// was delivered to anyone; the publisher is not acknowledged, and its connection is closed
/// (3.1.1 has no negative acknowledgement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// The session whose queue is full.
    pub(crate) client_id: Arc<str>,
    /// The limit it is at: `max_queued_messages` or `max_queued_bytes`.
    pub(crate) limit: &'static str,
    /// Whether that session's client is connected (the publisher's own session, or one whose
    /// reader waits for room itself); otherwise it is offline.
    pub(crate) connected: bool,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PUBLISH not accepted: the queue of {} session {:?} is full ({}){}; \
             not acknowledged, the client is to send it again",
            if self.connected {
                "connected"
            } else {
                "offline"
            },
            self.client_id,
            self.limit,
            if self.connected {
                " and cannot be waited for (the publisher's own, or one waiting itself)"
            } else {
                ""
            }
        )
    }
}

/// How often, at most, dropped messages are logged.
const DROP_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

thread_local! {
    /// The `reader_waiting` flag of the session whose reader runs on this thread, once it has one
    /// (see [`Router::reader_of`]). The sys thread and bridges have none.
    static OWN_FLAG: std::cell::RefCell<Option<Arc<AtomicBool>>> = const { std::cell::RefCell::new(None) };
    /// Set when this thread waited in `await_room`; read and cleared by [`Router::waited`].
    static WAITED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set while this thread holds a group of log records open (see [`InGroup`]).
    static IN_GROUP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Who a routed message came from, which decides what a full queue does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A client's PUBLISH (also one a shared group's member left behind): it takes part in
    /// back-pressure. Its publisher waits for room in a connected subscriber's queue, and is
    /// refused upstream by one that cannot be waited for (see [`Router::refuses`]); once
    /// acknowledged, it is never dropped (unless `queue_full_drop`). At QoS 0 nothing was
    /// promised: a queue that cannot be waited for drops it.
    Client,
    /// A retained message for a new subscription, delivered by the subscriber's own reader: every
    /// one enters the queue, past its limit if need be (there are at most as many as the retained
    /// store holds, sharing its payloads), and leaves it at the pace the client acknowledges.
    Retained,
    /// The broker's own message: a Will, a `$SYS` update, a bridge's notification. Nobody was
    /// acknowledged for it and nobody can be refused, so it takes no part in back-pressure: it
    /// never waits for room (which would hold up the `$SYS` thread or a bridge for up to
    /// `write_timeout` behind one slow subscriber) and never goes past a limit (which would let
    /// `$SYS` grow a slow subscriber's queue without bound). A queue at a limit drops it, counted
    /// and logged, whether its client is connected or not.
    Broker,
}

/// A group of log records open on this thread (see `persistence/wal.rs`, "Groups"). While it is,
/// `await_room` does not wait: the log writes nothing after the group's start until it ends, so a
/// wait inside it would hold up every acknowledgement, the stuck subscriber's own included.
struct InGroup<'a> {
    _group: crate::persistence::Group<'a>,
}

impl<'a> InGroup<'a> {
    fn begin(persistence: &'a Persistence) -> Self {
        let group = persistence.begin_group();
        IN_GROUP.set(true);
        Self { _group: group }
    }
}

impl Drop for InGroup<'_> {
    fn drop(&mut self) {
        IN_GROUP.set(false);
    }
}

impl Router {
    /// `max_inflight_messages` (0: no limit): how many QoS 1/2 messages a lazy bridge can be sent
    /// before the rest queue, which bounds what it can count toward its `threshold`.
    pub(crate) fn max_inflight(&self) -> usize {
        self.limits.max_inflight
    }

    /// A broker state with the persistent sessions and retained messages of `restored`.
    pub(crate) fn new(
        limits: Limits,
        security: Security,
        persistence: Option<Arc<Persistence>>,
        restored: Restored<SessionState>,
    ) -> Self {
        let mut sessions = HashMap::new();
        let mut tree = SubscriptionTree::default();
        let shared = SharedSubscriptions::default();
        let mut key = 0;
        let expiries = ExpirySchedule::default();
        let (now, wall_now) = (Instant::now(), SystemTime::now());
        for (client_id, session) in restored.sessions {
            key += 1;
            let filters: Vec<(String, QoS)> = session
                .state
                .subscriptions
                .iter()
                .map(|(filter, qos)| (filter.clone(), *qos))
                .collect();
            let slot = Slot {
                client_id: Arc::clone(&client_id),
                key,
                state: session.state,
                clean: false,
                link: None,
                client: Arc::new(ClientInfo::restored(Arc::clone(&client_id), session.user)),
                last_lsn: session.last_lsn,
                bridge: false,
                trusted: false,
                room: Arc::default(),
                reader_waiting: Arc::default(),
                progress: 0,
                progress_at: now,
                mqtt5: session.expiry5.is_some(),
                receive_maximum: None,
                maximum_packet_size: None,
                expiry: session
                    .expiry5
                    .filter(|expiry| *expiry != u32::MAX)
                    .map(|expiry| std::time::Duration::from_secs(u64::from(expiry))),
                // Its expiry counts from when it lost its connection, the broker's downtime
                // included [MQTT5-4.1.0-2]; already past, the expiry thread ends it at once. A
                // session the log does not say that of (connected at a crash, or an older log)
                // counts from the restart.
                detached_at: Some(
                    session
                        .detached_at
                        .map_or(now, |millis| instant_of(millis, now, wall_now)),
                ),
                last_connection: 0,
            };
            if let Some(at) = slot.expires_at() {
                expiries.set(&client_id, at);
            }
            let slot_ref = Arc::new(Mutex::new(slot));
            for (filter, qos) in &filters {
                match Filter::parse(filter) {
                    Ok(Filter::Plain(valid)) => {
                        tree.insert(valid, key, *qos, Arc::clone(&slot_ref));
                    }
                    Ok(Filter::Shared(share)) => {
                        shared.subscribe(share, key, *qos, Arc::clone(&slot_ref));
                    }
                    Err(_) => {}
                }
            }
            sessions.insert(client_id, slot_ref);
        }
        let mut retained = RetainedStore::default();
        // One that expired while the broker was down is not sent to anyone again [MQTT5-3.3.2-5].
        for message in restored.retained.values().filter(|message| {
            message
                .properties
                .as_ref()
                .is_none_or(|properties| !properties.expired(now))
        }) {
            retained.update(message);
        }
        Self {
            limits,
            persistent_expiry: None,
            upgrade_qos: false,
            check_retain_source: true,
            sessions: Mutex::new(sessions),
            expiries,
            subscriptions: RwLock::new(tree),
            shared,
            next_key: AtomicU64::new(key + 1),
            retained: Mutex::new((retained, restored.retained_lsn)),
            security: RwLock::new(Arc::new(security)),
            persistence,
            connected: AtomicU64::new(0),
            metrics: Metrics::default(),
            drop_logged: Mutex::new(None),
            refuse_logged: Mutex::new(None),
        }
    }

    /// Sets `persistent_client_expiration`, before the router is shared: every 3.1.1 persistent
    /// session, those restored included (counted from when they lost their connection, as 5.0
    /// ones are), then expires after `after` without a connection, as mosquitto does.
    pub(crate) fn expire_persistent_sessions_after(&mut self, after: Option<std::time::Duration>) {
        self.persistent_expiry = after;
        for slot in self.sessions.lock().values() {
            let mut slot = slot.lock();
            if !slot.mqtt5 {
                slot.expiry = after;
                self.schedule_expiry(&slot);
            }
        }
    }

    /// The schedule the expiry thread waits on.
    pub(crate) fn expiries(&self) -> &ExpirySchedule {
        &self.expiries
    }

    /// Tells the schedule when `slot`'s session expires, or that it does not (the slot is locked
    /// by the caller).
    fn schedule_expiry(&self, slot: &Slot) {
        match slot.expires_at() {
            Some(at) => self.expiries.set(&slot.client_id, at),
            None => self.expiries.cancel(&slot.client_id),
        }
    }

    /// Ends every offline session whose expiry is due at `now` [MQTT5-4.1.0-2]: its subscriptions
    /// stop matching, its queue is freed, the messages a shared group gave it go to another member,
    /// the log forgets it (so a restart does not bring it back), and it leaves the registry.
    /// Counted in `$SYS/broker/clients/expired`. Called by the expiry thread when the schedule's
    /// first deadline passes; answers how many sessions it ended.
    ///
    /// A session a connection opened again since its deadline was set is no longer offline (or
    /// has a later deadline): it is checked under its lock and left alone.
    pub(crate) fn expire_sessions(&self, now: Instant) -> usize {
        let mut ended = 0;
        for client_id in self.expiries.take_due(now) {
            let mut sessions = self.sessions.lock();
            let Some(slot_ref) = sessions.get(&client_id).cloned() else {
                continue;
            };
            let mut slot = slot_ref.lock();
            if slot.clean || !slot.gone_at(now) {
                continue;
            }
            self.unsubscribe_all(&slot);
            let orphans = slot.state.take_shared();
            self.log(&mut slot, |client_id| Record::Forget {
                client_id: Arc::clone(client_id),
            });
            // Freed now, even if some thread still holds the slot (a delayed Will's).
            slot.state = SessionState::default();
            slot.clean = true;
            sessions.remove(&client_id);
            drop(slot);
            drop(sessions);
            Metrics::add(&self.metrics.clients_expired, 1);
            info!(
                "client {client_id:?}: session expired, it had no connection for its expiry interval"
            );
            self.redispatch(orphans);
            ended += 1;
        }
        ended
    }

    /// Sets `upgrade_outgoing_qos`, before the router is shared.
    pub(crate) fn upgrade_outgoing_qos(&mut self, on: bool) {
        self.upgrade_qos = on;
    }

    /// Sets `check_retain_source`, before the router is shared.
    pub(crate) fn check_retain_source(&mut self, on: bool) {
        self.check_retain_source = on;
    }

    /// The QoS a message published at `published` is delivered at to a subscription granted
    /// `granted`: the lower of the two [MQTT-3.8.4-6], or `granted` with `upgrade_outgoing_qos`.
    fn delivery_qos(&self, published: QoS, granted: QoS) -> QoS {
        if self.upgrade_qos {
            granted
        } else {
            published.min(granted)
        }
    }

    /// The security settings in force.
    pub(crate) fn security(&self) -> Arc<Security> {
        Arc::clone(&self.security.read())
    }

    /// Replaces the security settings (SIGHUP). Connections stay; the new rules apply to their next
    /// packet, and `read` to the next delivery.
    pub(crate) fn set_security(&self, security: Security) {
        *self.security.write() = Arc::new(security);
    }

    /// Wraps a packet for a writer: with persistence on, a packet that promises something waits for
    /// every record appended so far to be durable (see `persistence/mod.rs`).
    pub(crate) fn outbound(&self, packet: OutPacket) -> Outbound {
        match &self.persistence {
            Some(persistence) if packet.needs_durability() => {
                Outbound::Durable(packet, persistence.appended())
            }
            _ => Outbound::Packet(packet),
        }
    }

    /// [`outbound`](Self::outbound) for several packets at once: one channel message, durable up to
    /// everything appended so far if any of them promises something.
    pub(crate) fn outbound_batch(&self, packets: Vec<OutPacket>) -> Outbound {
        let lsn = match &self.persistence {
            Some(persistence) if packets.iter().any(OutPacket::needs_durability) => {
                persistence.appended()
            }
            _ => 0,
        };
        Outbound::Batch(packets, lsn)
    }

    /// Blocks until the log is durable up to `lsn`; false if it never will be.
    pub(crate) fn wait_durable(&self, lsn: u64) -> bool {
        self.persistence
            .as_ref()
            .is_none_or(|persistence| persistence.wait_durable(lsn))
    }

    /// Appends `record` if persistence is on and the slot's session is persistent.
    fn log(&self, slot: &mut Slot, record: impl FnOnce(&Arc<str>) -> Record) {
        if let Some(persistence) = &self.persistence
            && !slot.clean
        {
            slot.last_lsn = persistence.append(&record(&slot.client_id));
        }
    }

    /// The whole durable state as snapshot records, each session's taken under its lock with its
    /// mark (see `persistence/mod.rs`).
    pub(crate) fn snapshot(&self) -> Vec<Record> {
        let slots: Vec<SlotRef> = self.sessions.lock().values().cloned().collect();
        let mut records = Vec::new();
        for slot_ref in slots {
            let slot = slot_ref.lock();
            if slot.clean {
                continue;
            }
            records.push(Record::SessionMark {
                client_id: Arc::clone(&slot.client_id),
                lsn: slot.last_lsn,
            });
            records.push(Record::Session {
                client_id: Arc::clone(&slot.client_id),
                user: slot.client.user_name.clone(),
            });
            if slot.mqtt5 {
                records.push(Record::Session5 {
                    client_id: Arc::clone(&slot.client_id),
                    expiry: expiry_seconds(slot.expiry),
                });
            }
            if let (None, Some(detached_at)) = (&slot.link, slot.detached_at) {
                records.push(Record::Detached {
                    client_id: Arc::clone(&slot.client_id),
                    at: wall_millis(detached_at, Instant::now(), SystemTime::now()),
                });
            }
            slot.state.snapshot(&slot.client_id, &mut records);
        }
        let retained = self.retained.lock();
        records.push(Record::RetainedMark { lsn: retained.1 });
        if let Ok(all) = TopicFilter::new("#") {
            // `#` does not match `$` topics; the store does not hold retained `$SYS` messages of
            // ours in the log either, as the broker publishes them afresh.
            records.extend(retained.0.matching(all).into_iter().map(Record::Retain));
        }
        records
    }

    /// Opens the session of a valid CONNECT and attaches `link` to it. The CONNACK is queued first
    /// [MQTT-3.2.0-1] [MQTT-3.1.4-4], then whatever a resumed session has to re-send [MQTT-4.4.0-1],
    /// all under the slot's lock so that no publisher can slip a packet in before the CONNACK.
    pub(crate) fn open(
        &self,
        request: &OpenRequest,
        client: Arc<ClientInfo>,
        link: Link,
    ) -> Opened {
        let mut sessions = self.sessions.lock();
        let existed = sessions.contains_key(&request.client_id);
        let slot_ref = Arc::clone(
            sessions
                .entry(Arc::clone(&request.client_id))
                .or_insert_with(|| {
                    Arc::new(Mutex::new(Slot {
                        client_id: Arc::clone(&request.client_id),
                        key: self.next_key.fetch_add(1, Ordering::Relaxed),
                        state: SessionState::default(),
                        clean: true,
                        link: None,
                        client: Arc::clone(&client),
                        last_lsn: 0,
                        bridge: false,
                        trusted: false,
                        room: Arc::default(),
                        reader_waiting: Arc::default(),
                        progress: 0,
                        progress_at: Instant::now(),
                        mqtt5: false,
                        receive_maximum: None,
                        maximum_packet_size: None,
                        expiry: None,
                        detached_at: None,
                        last_connection: link.connection_id,
                    }))
                }),
        );
        let mut slot = slot_ref.lock();
        drop(sessions);
        let taken_over = slot.link.take();
        let mut orphans = Vec::new();
        // A session whose Session Expiry Interval passed while it had no connection is gone
        // [MQTT5-4.1.0-2]: if the expiry thread has not removed it yet, it is discarded here.
        let expired = slot.gone();
        if expired {
            Metrics::add(&self.metrics.clients_expired, 1);
        }
        self.expiries.cancel(&slot.client_id);
        slot.detached_at = None;
        slot.last_connection = link.connection_id;
        let session_present = if request.clean_start || slot.clean || expired {
            // Discard any previous session [MQTT-3.1.2-6] [MQTT5-3.1.2-4]; a clean one is never
            // resumed.
            self.unsubscribe_all(&slot);
            orphans = slot.state.take_shared();
            if !slot.clean {
                self.log(&mut slot, |client_id| Record::Forget {
                    client_id: Arc::clone(client_id),
                });
            }
            slot.state = SessionState::default();
            false
        } else {
            existed // [MQTT-3.1.2-4] [MQTT5-3.1.2-5]
        };
        slot.mqtt5 = request.mqtt5.is_some();
        slot.expiry = match &request.mqtt5 {
            Some(open) => (open.session_expiry != u32::MAX)
                .then(|| std::time::Duration::from_secs(u64::from(open.session_expiry))),
            // 3.1.1 has no expiry of its own: `persistent_client_expiration`, if configured.
            None => self.persistent_expiry,
        };
        slot.receive_maximum = request.mqtt5.as_ref().and_then(|open| open.receive_maximum);
        slot.maximum_packet_size = request
            .mqtt5
            .as_ref()
            .and_then(|open| open.maximum_packet_size)
            .and_then(|size| usize::try_from(size).ok());
        slot.clean = request.clean_session;
        slot.bridge = request.bridge;
        slot.trusted = request.trusted;
        let user = client.user_name.clone();
        slot.client = client;
        self.log(&mut slot, |client_id| Record::Session {
            client_id: Arc::clone(client_id),
            user,
        });
        if slot.mqtt5 {
            let expiry = expiry_seconds(slot.expiry);
            self.log(&mut slot, |client_id| Record::Session5 {
                client_id: Arc::clone(client_id),
                expiry,
            });
        }
        let connack = match &request.mqtt5 {
            None => OutPacket::ConnAck {
                session_present, // [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3]
                code: ConnectReturnCode::Accepted,
            },
            Some(open) => OutPacket::ConnAck5(Box::new(ConnAck5 {
                session_present,             // [MQTT5-3.2.2-2] [MQTT5-3.2.2-3]
                reason: ReasonCode::SUCCESS, // [MQTT5-3.1.4-5]
                properties: open.connack.clone(),
            })),
        };
        // The channel is new and empty: this cannot fail.
        let _ = link.tx.try_send(Outbound::Packet(connack));
        slot.state.resume();
        slot.link = Some(link);
        // A resumed session's queue has waited for its client, not for this connection.
        slot.progress_at = Instant::now();
        // This thread is the connection's reader: it is the one that must not be waited for while
        // it waits itself (see `await_room`).
        let flag = Arc::clone(&slot.reader_waiting);
        OWN_FLAG.with(|own| *own.borrow_mut() = Some(flag));
        self.pump_slot(&mut slot);
        drop(slot);
        self.redispatch(orphans);

        if taken_over.is_none() {
            let now = self.connected.fetch_add(1, Ordering::Relaxed) + 1;
            self.metrics
                .clients_maximum
                .fetch_max(now, Ordering::Relaxed);
        }
        Metrics::add(&self.metrics.connections, 1);
        Opened {
            slot: slot_ref,
            session_present,
            taken_over,
        }
    }

    /// Detaches connection `connection_id` from its session, and removes the session if it was clean
    /// [MQTT-3.1.2-6]. A connection that was taken over no longer owns the slot and changes nothing.
    pub(crate) fn close(&self, slot_ref: &SlotRef, connection_id: u64) {
        let mut sessions = self.sessions.lock();
        let mut slot = slot_ref.lock();
        if !owns(&slot, connection_id) {
            return;
        }
        slot.link = None;
        let now = Instant::now();
        slot.detached_at = Some(now);
        slot.state.forget_qos0();
        // From now on its interval runs [MQTT5-4.1.0-2], across a restart too.
        self.schedule_expiry(&slot);
        let at = wall_millis(now, now, SystemTime::now());
        self.log(&mut slot, |client_id| Record::Detached {
            client_id: Arc::clone(client_id),
            at,
        });
        // Publishers waiting for room stop waiting: there is nobody to wait for any more.
        slot.room.notify_all();
        self.connected.fetch_sub(1, Ordering::Relaxed);
        if slot.clean {
            self.unsubscribe_all(&slot);
            if sessions
                .get(&slot.client_id)
                .is_some_and(|current| Arc::ptr_eq(current, slot_ref))
            {
                sessions.remove(&slot.client_id);
            }
            let orphans = slot.state.take_shared();
            drop(slot);
            drop(sessions);
            self.redispatch(orphans);
        }
    }

    /// Gives messages that a group's member took but will never acknowledge (its session ended)
    /// back to their groups, each to another member. Called with no lock held. A group that has no
    /// member left has nobody to give them to: they are dropped and counted.
    fn redispatch(&self, orphans: Vec<Message>) {
        if orphans.is_empty() {
            return;
        }
        let security = self.security();
        for message in orphans {
            let Some(origin) = &message.shared else {
                continue;
            };
            let original = message.for_delivery(origin.qos, false);
            let given = self.shared.members_of(&origin.group, |group, members| {
                self.deliver_shared(group, members, &original, &security, Origin::Client);
            });
            if !given {
                Metrics::add(&self.metrics.publish_dropped, 1);
            }
        }
    }

    /// Detaches every live connection (broker shutdown) and returns them, to be disconnected once no
    /// lock is held.
    ///
    /// Each persistent session's expiry runs from now, and the log says so (as [`close`](Self::close)
    /// does), so that the time the broker is down counts against it.
    pub(crate) fn detach_all(&self) -> Vec<Link> {
        let slots: Vec<SlotRef> = self.sessions.lock().values().cloned().collect();
        let (now, wall_now) = (Instant::now(), SystemTime::now());
        let links: Vec<Link> = slots
            .iter()
            .filter_map(|slot| {
                let mut slot = slot.lock();
                let link = slot.link.take()?;
                slot.detached_at = Some(now);
                let at = wall_millis(now, now, wall_now);
                self.log(&mut slot, |client_id| Record::Detached {
                    client_id: Arc::clone(client_id),
                    at,
                });
                Some(link)
            })
            .collect();
        self.connected.store(0, Ordering::Relaxed);
        links
    }

    /// Routes a message from a client (or the broker) to every matching subscription.
    ///
    /// A retained message is stored first [MQTT-3.3.1-5]. Each subscriber gets one copy at the highest
    /// QoS its matching subscriptions granted [MQTT-3.3.5-1], lowered to the published QoS
    /// [MQTT-3.8.4-6], without the retain flag [MQTT-3.3.1-9] (except to a bridge that announced
    /// itself, which keeps the flag as published so that retained messages cross it). Subscribers of a persistent session
    /// that is offline get QoS 1 and 2 messages queued [MQTT-3.1.2-5].
    ///
    /// This is for the broker's own messages (Wills, `$SYS`, bridge notifications), which nobody
    /// could be refused to, and which no client was acknowledged for: they take no part in
    /// back-pressure (see [`Origin::Broker`]). A queue at a limit, its client connected or not,
    /// drops them, counted in `$SYS/broker/publish/messages/dropped` and logged.
    pub(crate) fn publish(&self, message: &Message) {
        let _ = self.route(message, None, None, Origin::Broker, None);
        // Its callers (Wills, `$SYS`, the log topic) are not readers with a kick of their own to
        // make before they block.
        outbound::kick_all();
    }

    /// [`publish`](Self::publish) for a client's PUBLISH, which may be refused: with back-pressure
    /// (no `queue_full_drop`), a QoS 1 or 2 message that an offline persistent session would have
    /// to queue while its queue is at a limit is delivered to nobody and answered `Err`, so that
    /// its publisher is not acknowledged (see [`Self::room_for_all`]).
    ///
    /// `bridge` is the client identifier of the bridge it came from, if it did: it is not sent back
    /// to that bridge's own session, which is what stops two brokers bridged both ways from passing
    /// a message back and forth for ever (mosquitto does the same). `publisher` is the client
    /// identifier of the session that published it: a 5.0 subscription with No Local does not
    /// send it back there [MQTT5-3.8.3-3].
    ///
    /// Answers how many sessions (and shared groups) it was given to: 0 is what a 5.0 publisher
    /// is told as 0x10, no matching subscribers.
    pub(crate) fn publish_from(
        &self,
        message: &Message,
        bridge: Option<&str>,
        publisher: Option<&str>,
    ) -> Result<usize, Refused> {
        self.route(message, bridge, publisher, Origin::Client, None)
    }

    /// `received`: the session and packet identifier of an inbound QoS 2 PUBLISH (see
    /// [`publish_once`](Self::publish_once)), whose `Received` record is logged with the
    /// subscribers' records, as one group.
    fn route(
        &self,
        message: &Message,
        bridge: Option<&str>,
        publisher: Option<&str>,
        origin: Origin,
        received: Option<(&SlotRef, PacketId)>,
    ) -> Result<usize, Refused> {
        if message.retain {
            let mut retained = self.retained.lock();
            retained.0.update(message);
            if let Some(persistence) = &self.persistence
                && !message.topic.starts_with('$')
            {
                retained.1 = persistence.append(&Record::Retain(message.clone()));
            }
        }
        let Ok(topic) = TopicName::new(&message.topic) else {
            self.log_received(received);
            return Ok(0);
        };
        // The list of subscribers is built in a buffer this thread keeps from one message to the
        // next, so that routing allocates nothing once the buffer has grown to the fan-out.
        let mut found = FOUND.take();
        self.subscriptions.read().subscribers(topic, &mut found);
        // The tree's read lock is released here, before any slot is locked: a subscriber holds its
        // slot while it waits for the write lock (see the lock order). So the slots are cloned out
        // of the tree (one reference-count increment each) rather than borrowed from it.
        let security = self.security();
        // With more than one subscriber, the QoS 0 form of the PUBLISH is encoded once, by the
        // first delivery that needs it, and its bytes are shared by every writer: encoding is the
        // writer's largest cost per delivery (see `BENCHMARKS.md`, item 7).
        let mut shared = (found.len() > 1).then(SharedQos0::default);
        // Checked before anyone gets the message, so that a refused one (resent later by its
        // publisher) reaches nobody twice. QoS 0 is never queued for an offline session.
        let checked = origin == Origin::Client
            && !self.limits.drop_when_full
            && message.qos != QoS::AtMostOnce;
        // The shared groups are then looked up first too (which moves their turns on once, as
        // delivering does), so that a group none of whose members can take the message refuses it
        // as well. Nothing is allocated when there is no shared subscription.
        let mut groups = Vec::new();
        if checked {
            self.shared.matching(topic, |group, members| {
                groups.push((Arc::clone(group), members.to_vec()));
            });
        }
        // With one subscriber and no group (the common case), nobody else could have got the
        // message first: its slot is checked as it is delivered to, which saves locking it twice.
        let inline = checked && found.len() == 1 && groups.is_empty();
        if checked
            && !inline
            && let Err(refused) = self
                .room_for_all(&found, message, bridge, &security)
                .and_then(|()| self.groups_room(&groups, message, &security))
        {
            found.clear();
            if found.capacity() <= FOUND_KEPT {
                FOUND.set(found);
            }
            return self.refuse(refused).map(|()| 0);
        }
        // With persistence, an inbound QoS 2 message is logged as one group: its publisher's
        // `Received` and every subscriber's `Enqueue` reach the disk together or not at all (see
        // `persistence/wal.rs`, "Groups"). Nothing may wait inside a group, so the waits for room
        // come first, and the deliveries in the group go past a queue that filled up meanwhile.
        // A clean session's publisher logs nothing, so needs no group.
        let _group = match (&self.persistence, received) {
            (Some(persistence), Some((publisher, _))) if !publisher.lock().clean => {
                self.await_room_all(&found, message, bridge, &security);
                Some(InGroup::begin(persistence))
            }
            _ => None,
        };
        let mut refusal = None;
        let mut delivered = 0;
        for subscriber in found.drain(..) {
            let mut slot = subscriber.target.lock();
            if bridge == Some(&*slot.client_id) || slot.gone() {
                continue;
            }
            let options5 = if slot.mqtt5 {
                match matching_options5(&slot, topic, publisher) {
                    Some(options) => Some(options),
                    None => continue, // No Local [MQTT5-3.8.3-3]
                }
            } else {
                None
            };
            if security.checks_reads() && !slot.trusted {
                // Ask with the slot unlocked; if meanwhile another connection took the session
                // over (another user, perhaps), ask again about the new one.
                let mut asked = Arc::clone(&slot.client);
                let allowed = loop {
                    drop(slot);
                    let allowed = security.may_receive(&asked, message);
                    slot = subscriber.target.lock();
                    if Arc::ptr_eq(&asked, &slot.client) {
                        break allowed;
                    }
                    asked = Arc::clone(&slot.client);
                };
                if !allowed {
                    continue;
                }
            }
            if inline
                && subscriber.qos != QoS::AtMostOnce
                && let Some(refused) = self.refuses(&mut slot)
            {
                refusal = Some(refused);
                break;
            }
            if origin == Origin::Client {
                self.await_room(&mut slot);
            }
            let retain = slot.bridge && message.retain;
            let mut copy =
                message.for_delivery(self.delivery_qos(message.qos, subscriber.qos), retain);
            if let Some((retain_as_published, ids)) = options5 {
                // [MQTT5-3.3.1-12] [MQTT5-3.3.1-13]
                copy.retain = retain_as_published && message.retain;
                copy.subscription_ids = ids;
            }
            // A bridge's copy keeps the retain flag, and a 5.0 one has properties of its own, so
            // neither can share the others' bytes.
            let shareable = !copy.retain && !slot.mqtt5;
            self.deliver(
                &mut slot,
                copy,
                if shareable { shared.as_mut() } else { None },
                checked,
                origin,
            );
            delivered += 1;
        }
        if found.capacity() <= FOUND_KEPT {
            FOUND.set(found);
        }
        if let Some(refused) = refusal {
            return self.refuse(refused).map(|()| 0);
        }
        if checked {
            for (group, members) in &groups {
                self.deliver_shared(group, members, message, &security, origin);
                delivered += 1;
            }
        } else {
            self.shared.matching(topic, |group, members| {
                self.deliver_shared(group, members, message, &security, origin);
                delivered += 1;
            });
        }
        self.log_received(received);
        Ok(delivered)
    }

    /// Logs the `Received` record of an inbound QoS 2 message routed to everyone, unless its
    /// identifier was discarded meanwhile (a clean take-over of its session).
    fn log_received(&self, received: Option<(&SlotRef, PacketId)>) {
        if let Some((slot_ref, packet_id)) = received {
            let mut slot = slot_ref.lock();
            if slot.state.routed_qos2(packet_id) {
                self.log(&mut slot, |client_id| Record::Received {
                    client_id: Arc::clone(client_id),
                    packet_id,
                });
            }
        }
    }

    /// The waits for room of a message about to be logged as one group, before the group begins:
    /// each subscriber in `found` that may read it and whose queue is full is waited for as in
    /// [`await_room`](Self::await_room).
    fn await_room_all(
        &self,
        found: &[Subscriber<SlotRef>],
        message: &Message,
        bridge: Option<&str>,
        security: &Security,
    ) {
        for subscriber in found {
            let mut slot = subscriber.target.lock();
            if bridge == Some(&*slot.client_id)
                || slot.link.is_none()
                || self.room_after_expiry(&mut slot)
            {
                continue;
            }
            if security.checks_reads() && !slot.trusted {
                let client = Arc::clone(&slot.client);
                drop(slot);
                if !security.may_receive(&client, message) {
                    continue;
                }
                slot = subscriber.target.lock();
            }
            self.await_room(&mut slot);
        }
    }

    /// [`room_for_all`](Self::room_for_all) for shared groups: a group refuses `message` when none
    /// of its members is connected or has room (`deliver_shared` would drop it) and one of them is
    /// a persistent session at a limit that may read the topic (a group nobody may read from
    /// refuses nothing: the message is not for it).
    fn groups_room(
        &self,
        groups: &[(Arc<GroupId>, Vec<Subscriber<SlotRef>>)],
        message: &Message,
        security: &Security,
    ) -> Result<(), Refused> {
        'groups: for (_, members) in groups {
            let mut full = Vec::new();
            for member in members {
                let mut slot = member.target.lock();
                if slot.link.is_some()
                    || (!slot.clean && !slot.gone() && self.room_after_expiry(&mut slot))
                {
                    continue 'groups;
                }
                if let (false, QoS::AtLeastOnce | QoS::ExactlyOnce, Some(limit)) = (
                    slot.clean || slot.gone(),
                    member.qos,
                    slot.state.full_at(self.limits),
                ) {
                    let refused = Refused {
                        client_id: Arc::clone(&slot.client_id),
                        limit,
                        connected: false,
                    };
                    full.push((refused, Arc::clone(&slot.client), slot.trusted));
                }
            }
            // Asked with no slot locked.
            for (refused, client, trusted) in full {
                if trusted || !security.checks_reads() || security.may_receive(&client, message) {
                    return Err(refused);
                }
            }
        }
        Ok(())
    }

    /// Whether every session among `found` that would queue `message` (a QoS 1 or 2 one) and
    /// cannot be waited for (see [`refuses`](Self::refuses): an offline persistent one, the
    /// publisher's own, one whose reader waits itself) has room for it; if one has not, the first
    /// such session and its limit.
    ///
    /// Each slot is locked in turn, as delivery does. A session that fills up or goes offline
    /// between this check and the delivery gets the message past its limit (by one message per
    /// publisher at most, as with back-pressure's other exceptions), never drops it. The ACL is
    /// asked only about a session that would refuse: one that may not read the topic gets nothing,
    /// so it refuses nothing either.
    fn room_for_all(
        &self,
        found: &[Subscriber<SlotRef>],
        message: &Message,
        bridge: Option<&str>,
        security: &Security,
    ) -> Result<(), Refused> {
        for subscriber in found {
            // Delivered at QoS 0, which is not kept for an offline session.
            if subscriber.qos == QoS::AtMostOnce {
                continue;
            }
            let mut slot = subscriber.target.lock();
            if slot.gone() || bridge == Some(&*slot.client_id) {
                continue;
            }
            let Some(refused) = self.refuses(&mut slot) else {
                continue;
            };
            if security.checks_reads() && !slot.trusted {
                let client = Arc::clone(&slot.client);
                drop(slot);
                if !security.may_receive(&client, message) {
                    continue;
                }
            }
            return Err(refused);
        }
        Ok(())
    }

    /// Whether `slot` refuses a QoS 1/2 message upstream, and why: its queue is at a limit and its
    /// publisher cannot wait for room in it. That is so for a persistent session that is offline
    /// (nothing drains its queue until its client is back); for the session of this thread's own
    /// connection (only this thread reads the acknowledgements that would make room); and for a
    /// session whose reader itself waits for room (two clients publishing to each other would wait
    /// for each other). Those are the cases [`await_room`](Self::await_room) does not wait in, and
    /// each used to take the message past the limit, without bound: a client publishing to its own
    /// subscription faster than it acknowledged grew its queue for ever.
    ///
    /// A queue at a limit first lets go of the messages that expired in it (see
    /// [`room_after_expiry`](Self::room_after_expiry)): expired messages refuse nobody.
    fn refuses(&self, slot: &mut Slot) -> Option<Refused> {
        self.room_after_expiry(slot);
        let connected = match &slot.link {
            None if slot.clean => return None,
            None => false,
            Some(_) => {
                let own = OWN_FLAG.with(|own| {
                    own.borrow()
                        .as_ref()
                        .is_some_and(|own| Arc::ptr_eq(own, &slot.reader_waiting))
                });
                if !own && !slot.reader_waiting.load(Ordering::SeqCst) {
                    return None;
                }
                true
            }
        };
        slot.state.full_at(self.limits).map(|limit| Refused {
            client_id: Arc::clone(&slot.client_id),
            limit,
            connected,
        })
    }

    /// Gives `message` to one member of a shared subscription's group: the first of `members` (in
    /// round-robin order) that is connected, has room in its queue and may read the topic; if none
    /// is, the first persistent session that has room and may, where it is queued like any message
    /// for an offline session (not at QoS 0, which an offline session does not keep). QoS is the
    /// lower of the message's and the member's [MQTT-3.8.4-6]. If no member can take it, it is
    /// dropped and counted like a message for a full queue.
    fn deliver_shared(
        &self,
        group: &Arc<GroupId>,
        members: &[Subscriber<SlotRef>],
        message: &Message,
        security: &Security,
        origin: Origin,
    ) {
        for connected in [true, false] {
            // Whether this member may take the message in this round.
            let fits = |slot: &Slot| {
                let candidate = if connected {
                    slot.link.is_some()
                } else {
                    !slot.clean && !slot.gone()
                };
                candidate && slot.state.has_room(self.limits)
            };
            for member in members {
                if !connected && self.delivery_qos(message.qos, member.qos) == QoS::AtMostOnce {
                    // An offline session keeps no QoS 0 message: given to one, it would be
                    // gone without a trace, where waiting for a connected member (below) or
                    // counting the drop says what became of it.
                    continue;
                }
                let mut slot = member.target.lock();
                self.room_after_expiry(&mut slot);
                if !fits(&slot) {
                    continue;
                }
                if security.checks_reads() && !slot.trusted {
                    // Asked with the slot unlocked, as in `publish_from`; the member is passed
                    // over if meanwhile another connection took its session over or it filled up.
                    let asked = Arc::clone(&slot.client);
                    drop(slot);
                    let allowed = security.may_receive(&asked, message);
                    slot = member.target.lock();
                    if !allowed || !Arc::ptr_eq(&asked, &slot.client) || !fits(&slot) {
                        continue;
                    }
                }
                let mut copy =
                    message.for_delivery(self.delivery_qos(message.qos, member.qos), false);
                copy.shared = Some(SharedOrigin {
                    group: Arc::clone(group),
                    qos: message.qos,
                });
                shared_options5(&slot, group, message, &mut copy);
                self.deliver(&mut slot, copy, None, false, origin);
                return;
            }
        }
        if !self.limits.drop_when_full && origin == Origin::Client {
            // Every member is full: with back-pressure the publisher waits for the first
            // connected one that may read the topic, as for an ordinary subscription.
            for member in members {
                let mut slot = member.target.lock();
                if slot.link.is_none() {
                    continue;
                }
                if security.checks_reads() && !slot.trusted {
                    let asked = Arc::clone(&slot.client);
                    drop(slot);
                    let allowed = security.may_receive(&asked, message);
                    slot = member.target.lock();
                    if !allowed || !Arc::ptr_eq(&asked, &slot.client) {
                        continue;
                    }
                }
                self.await_room(&mut slot);
                let mut copy =
                    message.for_delivery(self.delivery_qos(message.qos, member.qos), false);
                copy.shared = Some(SharedOrigin {
                    group: Arc::clone(group),
                    qos: message.qos,
                });
                shared_options5(&slot, group, message, &mut copy);
                self.deliver(&mut slot, copy, None, false, origin);
                return;
            }
        }
        Metrics::add(&self.metrics.publish_dropped, 1);
        debug!(
            "{} {}: no member could take a message on {}",
            group.0, group.1, message.topic
        );
    }

    /// An inbound QoS 2 PUBLISH: routes `message` unless `packet_id` is already awaiting PUBREL
    /// [MQTT-4.3.3-2]. The caller answers PUBREC either way, unless the message was refused
    /// (see [`publish_from`](Self::publish_from), whose `bridge` this is): then the identifier is
    /// forgotten again, so that the PUBLISH the client sends again is routed, not taken for a
    /// duplicate of one delivered. Answers how many it was given to, as `publish_from` does, or
    /// `None` when it was not routed (a duplicate, or no message).
    pub(crate) fn publish_once(
        &self,
        slot_ref: &SlotRef,
        connection_id: u64,
        packet_id: PacketId,
        message: Option<&Message>,
        bridge: Option<&str>,
        publisher: Option<&str>,
    ) -> Result<Option<usize>, Refused> {
        // The identifier is taken at once, so that a duplicate is known as one while the message
        // is routed, but its `Received` record is logged only with the subscribers' copies, as one
        // group (see `route`): logged first, a crash before the copies would leave an identifier
        // that makes the resent PUBLISH a duplicate, and the message would reach nobody.
        let first = {
            let mut slot = slot_ref.lock();
            owns(&slot, connection_id) && slot.state.receive_qos2(packet_id)
        };
        if !first {
            return Ok(None);
        }
        let Some(message) = message else {
            // Not to be delivered (the ACL): there is nobody's copy to log it with.
            self.log_received(Some((slot_ref, packet_id)));
            return Ok(None);
        };
        match self.route(
            message,
            bridge,
            publisher,
            Origin::Client,
            Some((slot_ref, packet_id)),
        ) {
            Ok(delivered) => Ok(Some(delivered)),
            Err(refused) => {
                // Whichever connection has the session now: the identifier is the session's. Its
                // `Received` was never logged.
                slot_ref.lock().state.release_qos2(packet_id);
                Err(refused)
            }
        }
    }

    /// Whether the delayed Will of connection `connection_id` is still to be published: no other
    /// connection has opened its session since (its slot's or a new one for the same client
    /// identifier) [MQTT5-3.1.3-9].
    pub(crate) fn will_due(&self, slot_ref: &SlotRef, connection_id: u64) -> bool {
        let sessions = self.sessions.lock();
        let slot = slot_ref.lock();
        let replaced = sessions
            .get(&slot.client_id)
            .is_some_and(|current| !Arc::ptr_eq(current, slot_ref));
        !replaced && slot.link.is_none() && slot.last_connection == connection_id
    }

    /// A 5.0 client's new Session Expiry Interval, from its DISCONNECT: 0 makes the session end
    /// with this connection [MQTT5-3.1.2-23] (5.0 §3.14.2.2.2), and forgets it on disk.
    pub(crate) fn set_session_expiry(&self, slot_ref: &SlotRef, connection_id: u64, seconds: u32) {
        let mut slot = slot_ref.lock();
        if !owns(&slot, connection_id) {
            return;
        }
        slot.expiry =
            (seconds != u32::MAX).then(|| std::time::Duration::from_secs(u64::from(seconds)));
        if seconds != 0 {
            self.log(&mut slot, |client_id| Record::Session5 {
                client_id: Arc::clone(client_id),
                expiry: seconds,
            });
            return;
        }
        if slot.clean {
            return;
        }
        self.log(&mut slot, |client_id| Record::Forget {
            client_id: Arc::clone(client_id),
        });
        slot.clean = true;
    }

    /// An inbound PUBREL: `packet_id` is free again. The caller answers PUBCOMP either way; this
    /// answers whether the identifier was known (a 5.0 client is told 0x92 if not).
    pub(crate) fn release(
        &self,
        slot_ref: &SlotRef,
        connection_id: u64,
        packet_id: PacketId,
    ) -> bool {
        let mut slot = slot_ref.lock();
        if !owns(&slot, connection_id) {
            return true;
        }
        if slot.state.release_qos2(packet_id) {
            self.log(&mut slot, |client_id| Record::Freed {
                client_id: Arc::clone(client_id),
                packet_id,
            });
            true
        } else {
            debug!(
                "{}: PUBREL for unknown packet id {packet_id}",
                slot.client_id
            );
            false
        }
    }

    /// An acknowledgement of an outbound message. Frees a window slot, which lets the next queued
    /// message go. Answers the PUBREL to send for a PUBREC.
    ///
    /// One for an identifier not in flight is ignored (a late duplicate, or one from before a
    /// reconnection; mosquitto does the same). One of the wrong kind for an identifier in flight
    /// (PUBREC or PUBCOMP for a QoS 1 message, PUBACK or PUBCOMP for a QoS 2 one before PUBREC,
    /// PUBACK after it) breaks the flow [MQTT-4.3.2-1] [MQTT-4.3.3-1]: it changes nothing and is
    /// answered `Err` with a description, and the connection is closed [MQTT-4.8.0-1], as
    /// mosquitto does (see `docs/mqtt-broker-choices.md`).
    pub(crate) fn acknowledged(
        &self,
        slot_ref: &SlotRef,
        connection_id: u64,
        ack: Ack,
    ) -> Result<Option<OutPacket>, String> {
        let mut slot = slot_ref.lock();
        if !owns(&slot, connection_id) {
            return Ok(None);
        }
        let outcome = match ack {
            Ack::PubAck(packet_id) => slot.state.puback(packet_id).map(|()| None),
            Ack::PubRec(packet_id) => slot.state.pubrec(packet_id).map(Some),
            Ack::PubComp(packet_id) => slot.state.pubcomp(packet_id).map(|()| None),
            Ack::PubRecRefused(packet_id) => slot.state.pubrec_refused(packet_id).map(|()| None),
        };
        let reply = match outcome {
            Ok(reply) => reply,
            // A 5.0 client is answered PUBREL 0x92, Packet Identifier not found, for a PUBREC
            // nothing waits on [MQTT5-3.6.2-1], so that its own QoS 2 state can end.
            Err(AckError::Unknown) if slot.mqtt5 && matches!(ack, Ack::PubRec(_)) => {
                debug!("{}: {ack} not in flight", slot.client_id);
                return Ok(match ack {
                    Ack::PubRec(packet_id) => Some(OutPacket::PubRelWith(
                        packet_id,
                        ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
                    )),
                    _ => None,
                });
            }
            Err(AckError::Unknown) => {
                debug!("{}: {ack} not in flight, ignored", slot.client_id);
                return Ok(None);
            }
            Err(AckError::WrongStep(expected)) => {
                return Err(format!("{ack}, which waits for {expected}"));
            }
        };
        {
            self.log(&mut slot, |client_id| match ack {
                Ack::PubRec(packet_id) => Record::Released {
                    client_id: Arc::clone(client_id),
                    packet_id,
                },
                Ack::PubAck(packet_id)
                | Ack::PubComp(packet_id)
                | Ack::PubRecRefused(packet_id) => Record::Completed {
                    client_id: Arc::clone(client_id),
                    packet_id,
                },
            });
        }
        self.pump_slot(&mut slot);
        Ok(reply)
    }

    /// Adds subscriptions, replacing identical ones [MQTT-3.8.4-3], and answers one return code per
    /// filter in order [MQTT-3.8.4-5] [MQTT-3.9.3-1], with the filters actually subscribed.
    ///
    /// `asked.allowed[i]` says whether the ACL and `max_topic_levels` let filter `i` through, and
    /// `asked.options[i]` are its 5.0 options (none at 3.1.1); `max_count`
    /// caps the subscriptions of one session (0: no cap). A refused filter gets 0x80 at 3.1.1; a 3.1
    /// client has no failure code and is answered as if granted, with nothing ever delivered
    /// [V31-DIFF-34].
    pub(crate) fn subscribe(
        &self,
        slot_ref: &SlotRef,
        connection_id: u64,
        asked: Asked<'_>,
        max_count: usize,
        level: ProtocolLevel,
    ) -> Subscribed {
        let Asked {
            filters,
            options,
            allowed,
        } = asked;
        let mut slot = slot_ref.lock();
        if !owns(&slot, connection_id) {
            return Subscribed::default();
        }
        let key = slot.key;
        let mut tree = self.subscriptions.write();
        let mut subscribed = Vec::new();
        let mut send_retained = Vec::new();
        let codes = filters
            .iter()
            .zip(allowed)
            .enumerate()
            .map(|(index, ((filter, qos), allowed))| {
                let room = max_count == 0
                    || slot.state.subscriptions.len() < max_count
                    || slot.state.subscriptions.contains_key(filter);
                let valid = Filter::parse(filter)
                    .map_err(|error| debug!("{}: {filter:?} refused: {error}", slot.client_id))
                    .ok();
                match valid {
                    Some(valid) if *allowed && room => {
                        match valid {
                            Filter::Plain(valid) => {
                                tree.insert(valid, key, *qos, Arc::clone(slot_ref))
                            }
                            Filter::Shared(share) => {
                                self.shared
                                    .subscribe(share, key, *qos, Arc::clone(slot_ref))
                            }
                        };
                        let existed = slot
                            .state
                            .subscriptions
                            .insert(filter.clone(), *qos)
                            .is_some();
                        let wanted = match options.get(index) {
                            Some(options5) => {
                                slot.state.options5.insert(filter.clone(), *options5);
                                self.log(&mut slot, |client_id| Record::Options5 {
                                    client_id: Arc::clone(client_id),
                                    filter: filter.clone(),
                                    options: *options5,
                                });
                                match options5.retain_handling {
                                    RetainHandling::SendOnSubscribe => true, // [MQTT5-3.3.1-9]
                                    RetainHandling::SendIfNew => !existed,   // [MQTT5-3.3.1-10]
                                    RetainHandling::DoNotSend => false,      // [MQTT5-3.3.1-11]
                                }
                            }
                            None => true,
                        };
                        if wanted {
                            send_retained.push((filter.clone(), *qos));
                        }
                        self.log(&mut slot, |client_id| Record::Subscribe {
                            client_id: Arc::clone(client_id),
                            filter: filter.clone(),
                            qos: *qos,
                        });
                        subscribed.push((filter.clone(), *qos));
                        SubAckReturnCode::Granted(*qos)
                    }
                    _ if level == ProtocolLevel::Mqtt31 => SubAckReturnCode::Granted(*qos),
                    _ => SubAckReturnCode::Failure,
                }
            })
            .collect();
        Subscribed {
            codes,
            subscribed,
            send_retained,
        }
    }

    /// Sends the retained messages matching new subscriptions, with the retain flag set
    /// [MQTT-3.3.1-6] [MQTT-3.3.1-8], at the lower of their QoS and the granted one [MQTT-3.8.4-6].
    pub(crate) fn send_retained(
        &self,
        slot_ref: &SlotRef,
        connection_id: u64,
        filters: &[(String, QoS)],
    ) {
        for (filter, granted) in filters {
            // A shared subscription gets no retained messages, as in MQTT 5 and mosquitto: each
            // new member would otherwise receive again what the group already had.
            let Ok(Filter::Plain(valid)) = Filter::parse(filter) else {
                continue;
            };
            let mut messages = self.retained.lock().0.matching(valid);
            // An expired retained message is not sent to a new subscriber [MQTT5-3.3.2-5].
            let now = Instant::now();
            messages.retain(|message| {
                message
                    .properties
                    .as_ref()
                    .is_none_or(|properties| !properties.expired(now))
            });
            let security = self.security();
            if security.checks_reads() && !slot_ref.lock().trusted {
                // Asked with no lock held; if another connection takes the session over
                // meanwhile, `owns` below notices and nothing is sent.
                let client = Arc::clone(&slot_ref.lock().client);
                messages.retain(|message| security.may_receive(&client, message));
            }
            if self.check_retain_source {
                // Its publisher may have lost the right to publish there since (a new ACL on
                // SIGHUP, a user removed), as mosquitto checks: asked as the publisher, which is
                // offline as far as this question goes (the ACL sees its identifier and user
                // name; with per_listener_settings, every listener's rules must allow it).
                messages.retain(|message| {
                    message.source.as_deref().is_none_or(|source| {
                        let publisher = ClientInfo::restored(
                            Arc::clone(&source.client_id),
                            source.user_name.clone(),
                        );
                        security.may_publish(&publisher, message)
                    })
                });
            }
            let mut slot = slot_ref.lock();
            if !owns(&slot, connection_id) {
                return;
            }
            // A 5.0 subscription's identifier goes with its retained messages too [MQTT5-3.3.4-3].
            let ids: Option<Arc<[u32]>> = slot
                .state
                .options5
                .get(filter)
                .and_then(|options| options.id)
                .map(|id| Arc::from([id]));
            for message in messages {
                let mut copy = message.for_delivery(self.delivery_qos(message.qos, *granted), true);
                copy.subscription_ids = ids.clone();
                self.deliver(&mut slot, copy, None, false, Origin::Retained);
            }
        }
    }

    /// Removes subscriptions whose filters equal the given ones exactly [MQTT-3.10.4-1]; unknown ones
    /// are ignored, and the caller answers UNSUBACK regardless [MQTT-3.10.4-5]. Messages already
    /// queued or in flight are still delivered [MQTT-3.10.4-3].
    ///
    /// Answers, per filter, whether a subscription existed: a 5.0 client is told 0x11 for one that
    /// did not [MQTT5-3.11.3-1].
    pub(crate) fn unsubscribe(
        &self,
        slot_ref: &SlotRef,
        connection_id: u64,
        filters: &[String],
    ) -> Vec<bool> {
        let mut slot = slot_ref.lock();
        if !owns(&slot, connection_id) {
            return vec![false; filters.len()];
        }
        let mut tree = self.subscriptions.write();
        let mut existed = Vec::with_capacity(filters.len());
        for filter in filters {
            self.remove_subscription(&mut tree, filter, slot.key);
            slot.state.options5.remove(filter);
            let removed = slot.state.subscriptions.remove(filter).is_some();
            if removed {
                self.log(&mut slot, |client_id| Record::Unsubscribe {
                    client_id: Arc::clone(client_id),
                    filter: filter.clone(),
                });
            }
            existed.push(removed);
        }
        existed
    }

    /// Sends what a session's window and the writer's channel now have room for; called by a writer
    /// that drained its channel after a `try_send` had found it full.
    pub(crate) fn pump(&self, slot_ref: &SlotRef, connection_id: u64) {
        let mut slot = slot_ref.lock();
        if owns(&slot, connection_id) {
            self.pump_slot(&mut slot);
        }
    }

    /// Figures for `$SYS`: clients connected, sessions in total, subscriptions, retained messages.
    pub(crate) fn counts(&self) -> (u64, u64, u64, u64) {
        let total = self.sessions.lock().len() as u64;
        let subscriptions = (self.subscriptions.read().len() + self.shared.len()) as u64;
        let retained = self.retained.lock().0.len() as u64;
        (
            self.connected.load(Ordering::Relaxed),
            total,
            subscriptions,
            retained,
        )
    }

    /// The messages the broker holds (retained, queued, in flight) and their payload bytes, for
    /// `$SYS/broker/store/messages/count` and `.../bytes`, and the outgoing messages awaiting an
    /// acknowledgement (`$SYS/broker/messages/inflight`). The slots are cloned out of `sessions`
    /// first and locked one at a time, as `snapshot` does (the lock order).
    pub(crate) fn stored(&self) -> (u64, u64, u64) {
        let slots: Vec<SlotRef> = self.sessions.lock().values().cloned().collect();
        let (mut count, mut bytes) = {
            let retained = self.retained.lock();
            (retained.0.len(), retained.0.payload_bytes())
        };
        let mut inflight = 0;
        for slot in slots {
            let ((held, held_bytes), awaiting) = slot.lock().state.held();
            count += held;
            bytes += held_bytes;
            inflight += awaiting;
        }
        (count as u64, bytes as u64, inflight as u64)
    }

    /// The number of shared-subscription memberships (`$SYS/broker/shared_subscriptions/count`).
    pub(crate) fn shared_count(&self) -> u64 {
        self.shared.len() as u64
    }

    /// One delivery to one session, with the slot locked.
    ///
    /// QoS 0 goes straight to the writer's channel when nothing is queued ahead of it. If the
    /// channel is full, it is queued like QoS 1 and 2 (up to `max_queued_messages`) and the writer
    /// pumps it once it has drained its channel: a burst is delayed, not dropped, for as long as the
    /// client is connected. Only a full queue drops a message.
    ///
    /// `shared`, when one message goes to several subscribers, holds its QoS 0 encoding once made.
    /// `checked`: [`Self::room_for_all`] found room for it in every offline session, so a queue
    /// full by now (filled meanwhile) takes it past its limit rather than drop it.
    fn deliver(
        &self,
        slot: &mut Slot,
        message: Message,
        shared: Option<&mut SharedQos0>,
        checked: bool,
        origin: Origin,
    ) {
        if let Some(maximum) = slot.maximum_packet_size
            && !fits(&message, maximum)
        {
            // Discarded as if sent [MQTT5-3.1.2-25]: before the window, so that no identifier
            // waits for an acknowledgement that cannot come.
            Metrics::add(&self.metrics.publish_dropped, 1);
            debug!(
                "{}: a message on {:?} is over the client's Maximum Packet Size {maximum}",
                slot.client_id, message.topic
            );
            return;
        }
        let message = match (&slot.link, message.qos, shared) {
            (Some(link), QoS::AtMostOnce, Some(shared)) if slot.state.nothing_queued() => {
                let bytes = shared
                    .bytes
                    .get_or_insert_with(|| OutPacket::encode_qos0(&message));
                match bytes {
                    Some(bytes) => match link
                        .tx
                        .try_send(Outbound::Packet(OutPacket::Encoded(Arc::clone(bytes))))
                    {
                        Ok(()) => return,
                        Err(TrySendError::Full(_)) => {
                            link.starved.store(true, Ordering::Relaxed);
                            message // queued below, as a message
                        }
                        Err(_) => return, // the writer is gone, and the connection with it
                    },
                    None => message, // cannot happen (see `encode_qos0`); queued and encoded later
                }
            }
            (Some(link), QoS::AtMostOnce, _) if slot.state.nothing_queued() => {
                let packet = OutPacket::Publish {
                    message,
                    delivery: mqtt_codec::Delivery::AtMostOnce,
                };
                match link.tx.try_send(self.outbound(packet)) {
                    Ok(()) => return,
                    Err(TrySendError::Full(Outbound::Packet(OutPacket::Publish {
                        message,
                        ..
                    }))) => {
                        link.starved.store(true, Ordering::Relaxed);
                        message
                    }
                    Err(_) => return, // the writer is gone, and the connection with it
                }
            }
            // QoS 0 is not kept for an offline session (3.1 §2.2 › Clean session flag).
            (None, QoS::AtMostOnce, _) => return,
            _ => message,
        };
        let qos0 = message.qos == QoS::AtMostOnce;
        let logged = (self.persistence.is_some() && !slot.clean && !qos0).then(|| message.clone());
        // With back-pressure, a connected client's queue is never a reason to drop: the publisher
        // waited for room in `await_room`, and what it still finds full (its own session, a cycle
        // of waits, a connection being cut) goes past the limit, by one message per publisher. Nor
        // is an offline one's, once `room_for_all` found room (it refuses the message otherwise).
        // The broker's own messages never go past a limit (see `Origin::Broker`).
        // Nor does QoS 0, which nobody was promised: a queue that could not be waited for drops it.
        let past_limit = match origin {
            Origin::Client => !qos0 && (slot.link.is_some() || checked),
            Origin::Retained => true,
            Origin::Broker => false,
        };
        let limits = if !self.limits.drop_when_full && past_limit {
            Limits {
                max_queued: 0,
                max_queued_bytes: 0,
                ..self.limits
            }
        } else {
            self.limits
        };
        // For the log line of a drop: which of the broker's messages it was.
        let topic = (origin == Origin::Broker).then(|| Arc::clone(&message.topic));
        let was_empty = slot.state.nothing_queued();
        if was_empty {
            // The queue starts to hold something: the time it may wait counts from now.
            slot.progress_at = Instant::now();
        }
        self.room_after_expiry(slot);
        let dropped = slot.state.enqueue(message, limits).is_err();
        if let (false, Some(message)) = (dropped, logged) {
            self.log(slot, |client_id| Record::Enqueue {
                client_id: Arc::clone(client_id),
                message,
            });
        }
        // A QoS 0 message is queued only behind others, and those are already waiting for a pump:
        // from the writer (the channel was full, `starved` is set) or from an acknowledgement (the
        // window was full). Pumping here too would only fail again, once per message.
        if !qos0 {
            self.pump_slot(slot);
        }
        if was_empty
            && !slot.state.nothing_queued()
            && let Some(link) = &slot.link
        {
            // Something stays in the queue (the window or the channel is full): somebody must
            // watch that it moves (see `stall_left`).
            link.tx.watch();
        }
        if dropped {
            Metrics::add(&self.metrics.publish_dropped, 1);
            self.log_drop(&slot.client_id, topic.as_deref(), qos0);
        }
    }

    /// Whether this thread waited for room since the last call (the reader then tells its session,
    /// whose keep-alive must not count the wait against the client).
    pub(crate) fn waited() -> bool {
        WAITED.replace(false)
    }

    /// Back-pressure: with `slot` locked, waits while its session's queue is full and its client is
    /// connected, so that the message about to be delivered is neither dropped nor piles up. The
    /// wait is on the slot's condition variable, which releases the slot's mutex: this thread holds
    /// no lock while it waits (the tree's was released before any slot was locked).
    ///
    /// It does not wait, and the message goes into the queue past its limit (by one message per
    /// publisher at most):
    /// - with `queue_full_drop` (the caller then drops it);
    /// - for the session of this thread's own connection (a client subscribed to what it
    ///   publishes): only this thread could read the acknowledgements that make room;
    /// - for a session whose reader is itself waiting for room: two clients publishing to each
    ///   other would otherwise wait for each other. The flag is set before the other's is read, so
    ///   of two such waits at least one sees the other and goes on.
    ///
    /// A subscriber that makes no progress (nothing leaves its queue) for `write_timeout` is stuck:
    /// its connection is cut, as its writer would have been, and the publisher goes on once the
    /// connection is closed (a clean session is gone; a persistent one keeps the message).
    fn await_room(&self, slot: &mut MutexGuard<'_, Slot>) {
        // Inside a group of log records nothing may wait (see `InGroup`).
        if self.limits.drop_when_full || IN_GROUP.get() {
            return;
        }
        let own = OWN_FLAG.with(|own| own.borrow().clone());
        let mut deadline = Instant::now() + self.limits.stall;
        let mut cut = false;
        while slot.link.is_some() && !self.room_after_expiry(slot) {
            if outbound::kicks_owed() {
                // What this thread delivered may not be written yet, and the subscriber cannot
                // acknowledge what it was not sent: written first, with no lock held.
                MutexGuard::unlocked(slot, outbound::kick_all);
                continue;
            }
            if own
                .as_ref()
                .is_some_and(|own| Arc::ptr_eq(own, &slot.reader_waiting))
            {
                return;
            }
            if let Some(own) = &own {
                own.store(true, Ordering::SeqCst);
            }
            if slot.reader_waiting.load(Ordering::SeqCst) {
                if let Some(own) = &own {
                    own.store(false, Ordering::SeqCst);
                }
                return;
            }
            let progress = slot.progress;
            WAITED.set(true);
            let room = Arc::clone(&slot.room);
            let timed_out = room.wait_until(slot, deadline).timed_out();
            if let Some(own) = &own {
                own.store(false, Ordering::SeqCst);
            }
            if slot.progress != progress {
                deadline = Instant::now() + self.limits.stall;
                continue;
            }
            if !timed_out {
                continue;
            }
            if cut {
                // The connection was cut and is still not closed: give up waiting for it.
                return;
            }
            cut = true;
            deadline = Instant::now() + self.limits.stall;
            if let Some(link) = &slot.link {
                warn!(
                    "client {:?}: no progress for {:?} with its queue full (max_queued_messages); \
                     disconnecting it so that its publishers can go on",
                    slot.client_id, self.limits.stall
                );
                let stream = Arc::clone(&link.stream);
                MutexGuard::unlocked(slot, || stream.shutdown());
            }
        }
    }

    /// Whether `slot`'s queue has room, once the messages that expired in it have left it if it is
    /// at a limit [MQTT5-3.3.2-5]. The pump drops expired messages only as they reach the front;
    /// without this, an offline session's queue full of expired messages would refuse every
    /// publisher until its client came back. Each one leaving is logged, with its position, so
    /// that the replay takes the same ones out (see `Record::Expired`).
    fn room_after_expiry(&self, slot: &mut Slot) -> bool {
        if slot.state.has_room(self.limits) {
            return true;
        }
        let Slot {
            state,
            client_id,
            clean,
            last_lsn,
            ..
        } = slot;
        let persistence = self.persistence.as_ref().filter(|_| !*clean);
        let dropped = state.drop_expired(Instant::now(), |position| {
            if let Some(persistence) = persistence {
                *last_lsn = persistence.append(&Record::Expired {
                    client_id: Arc::clone(client_id),
                    position,
                });
            }
        });
        if dropped > 0 {
            debug!("{client_id}: {dropped} expired messages left its full queue");
        }
        state.has_room(self.limits)
    }

    fn pump_slot(&self, slot: &mut Slot) {
        let queued = slot.state.queued();
        self.pump_inner(slot);
        let left = queued.saturating_sub(slot.state.queued());
        if left > 0 {
            slot.progress += 1;
            slot.progress_at = Instant::now();
            // One waiting publisher per place made. Waking them all (sixteen publishers behind one
            // subscriber) sent all but one back to sleep, a context switch each per message. One
            // not woken still sees `progress` move when its wait times out, so it is never taken
            // for stuck, and the end of the connection wakes them all (`close`).
            for _ in 0..left {
                if !slot.room.notify_one() {
                    break;
                }
            }
        }
    }

    /// Called by a connection's watching helper when it has nothing to write: whether its client
    /// is stuck.
    /// That is so when messages wait in its queue (its window is full of messages it has not
    /// acknowledged) and nothing left the queue for `write_timeout`. A writer blocked on the
    /// socket is held to `write_timeout` by the socket; this covers the client whose unread bytes
    /// all fit in the socket buffers, so that nothing blocks: it used to keep its connection and
    /// its queue until keep-alive expired (1.5 x keep-alive: 90 s for mosquitto's default 60 s,
    /// the 92 s of issue 14, item 8), or for ever with keep-alive 0, unless a publisher waited
    /// for room in its queue.
    pub(crate) fn stall_left(&self, slot_ref: &SlotRef, connection_id: u64) -> Stall {
        let stall = self.limits.stall;
        if stall.is_zero() {
            return Stall::Never;
        }
        let slot = slot_ref.lock();
        if !owns(&slot, connection_id) || slot.state.nothing_queued() {
            return Stall::Nothing;
        }
        let waited = slot.progress_at.elapsed();
        if waited < stall {
            return Stall::CheckIn(stall - waited);
        }
        warn!(
            "client {:?}: {} messages wait in its queue and none could be sent for {:?} \
             (write_timeout: its window is full of messages it does not acknowledge); \
             disconnecting it",
            slot.client_id,
            slot.state.queued(),
            stall
        );
        Stall::Stuck
    }

    fn pump_inner(&self, slot: &mut Slot) {
        let Slot {
            state,
            link,
            client_id,
            clean,
            last_lsn,
            receive_maximum,
            ..
        } = slot;
        // A 5.0 client's Receive Maximum narrows the window [MQTT5-3.3.4-9]; the other packets
        // are never held back for it [MQTT5-3.3.4-10].
        let limits = match *receive_maximum {
            Some(most) if self.limits.max_inflight == 0 => Limits {
                max_inflight: usize::from(most),
                ..self.limits
            },
            Some(most) => Limits {
                max_inflight: self.limits.max_inflight.min(usize::from(most)),
                ..self.limits
            },
            None => self.limits,
        };
        let Some(link) = link else {
            return;
        };
        let persistence = self.persistence.as_ref().filter(|_| !*clean);
        // Both are logged, so that the log's replay takes the same messages out of the queue: it
        // gives each assigned identifier to the message then at the front.
        let changed = |change| {
            if let Some(persistence) = persistence {
                let client_id = Arc::clone(client_id);
                *last_lsn = persistence.append(&match change {
                    QueueChange::Assigned(packet_id) => Record::Assign {
                        client_id,
                        packet_id,
                    },
                    QueueChange::Expired(position) => Record::Expired {
                        client_id,
                        position,
                    },
                });
            }
        };
        state.pump_with(limits, Some(Instant::now()), changed, |packet| {
            let sent = link.tx.try_send(self.outbound(packet)).is_ok();
            if !sent {
                link.starved.store(true, Ordering::Relaxed);
            }
            sent
        });
    }

    /// Logs a dropped message, at most once every [`DROP_LOG_EVERY`]: a flood of drops must not
    /// become a flood of log lines. `broker_topic`: the topic of one of the broker's own messages
    /// (see [`Origin::Broker`]); `None` for a client's, dropped only with `queue_full_drop`.
    fn log_drop(&self, client_id: &str, broker_topic: Option<&str>, qos0: bool) {
        let now = Instant::now();
        let mut last = self.drop_logged.lock();
        if last.is_none_or(|last| now.saturating_duration_since(last) >= DROP_LOG_EVERY) {
            *last = Some(now);
            drop(last);
            let what = match broker_topic {
                Some(topic) => format!(
                    "a message the broker published itself (a Will, $SYS or a bridge \
                     notification, on {topic:?}) dropped, its queue is full; no client was \
                     acknowledged for it"
                ),
                None if self.limits.drop_when_full => {
                    "outgoing message dropped, its queue is full (queue_full_drop true)".into()
                }
                None if qos0 => "QoS 0 message dropped, its queue is full and its publisher \
                                 could not wait (its own session, or one waiting itself)"
                    .into(),
                None => "outgoing message dropped, its queue is full".into(),
            };
            warn!(
                "client {client_id:?}: {what} (max_queued_messages / max_queued_bytes); counted in \
                 $SYS/broker/publish/messages/dropped, logged at most every {}s",
                DROP_LOG_EVERY.as_secs()
            );
        }
    }

    /// Counts and logs a refused PUBLISH, and answers it.
    fn refuse(&self, refused: Refused) -> Result<(), Refused> {
        Metrics::add(&self.metrics.publish_refused, 1);
        self.log_refusal(&refused);
        Err(refused)
    }

    /// Logs a refused PUBLISH, at most once every [`DROP_LOG_EVERY`], like a dropped one.
    fn log_refusal(&self, refused: &Refused) {
        let now = Instant::now();
        let mut last = self.refuse_logged.lock();
        if last.is_none_or(|last| now.saturating_duration_since(last) >= DROP_LOG_EVERY) {
            *last = Some(now);
            drop(last);
            warn!(
                "{} client {:?}: its queue is full ({}), so a QoS 1/2 PUBLISH for it was \
                 refused: its publisher is disconnected unacknowledged, to send it again later; \
                 counted in $SYS/broker/publish/messages/refused, logged at most every {}s",
                if refused.connected {
                    "connected (and not to be waited for)"
                } else {
                    "offline"
                },
                refused.client_id,
                refused.limit,
                DROP_LOG_EVERY.as_secs()
            );
        }
    }

    /// Removes every subscription of `slot` from the tree (the slot is locked by the caller).
    fn unsubscribe_all(&self, slot: &Slot) {
        if slot.state.subscriptions.is_empty() {
            return;
        }
        let mut tree = self.subscriptions.write();
        for filter in slot.state.subscriptions.keys() {
            self.remove_subscription(&mut tree, filter, slot.key);
        }
    }

    /// Removes session `key`'s subscription to `filter`, shared or not.
    fn remove_subscription(&self, tree: &mut SubscriptionTree<SlotRef>, filter: &str, key: u64) {
        match Filter::parse(filter) {
            Ok(Filter::Plain(valid)) => {
                tree.remove(valid, key);
            }
            Ok(Filter::Shared(share)) => {
                self.shared.unsubscribe(share, key);
            }
            Err(_) => {}
        }
    }
}

/// A Session Expiry Interval as the log keeps it (0xFFFFFFFF: never).
fn expiry_seconds(expiry: Option<std::time::Duration>) -> u32 {
    expiry.map_or(u32::MAX, |expiry| {
        u32::try_from(expiry.as_secs()).unwrap_or(u32::MAX - 1)
    })
}

/// A 5.0 member's options for its shared subscription, applied to its copy of `message`: its
/// Subscription Identifier [MQTT5-3.3.4-3] and Retain As Published [MQTT5-3.3.1-13].
fn shared_options5(slot: &Slot, group: &GroupId, message: &Message, copy: &mut Message) {
    if !slot.mqtt5 {
        return;
    }
    let filter = format!("$share/{}/{}", group.0, group.1);
    if let Some(options) = slot.state.options5.get(&filter) {
        copy.retain = options.retain_as_published && message.retain;
        copy.subscription_ids = options.id.map(|id| Arc::from([id]));
    }
}

/// Whether the 5.0 PUBLISH of `message` (with a packet identifier: the larger form) is at most
/// `maximum` bytes.
fn fits(message: &Message, maximum: usize) -> bool {
    let delivery = match PacketId::new(1) {
        Some(packet_id) if message.qos != QoS::AtMostOnce => {
            mqtt_codec::Delivery::new(message.qos, packet_id, false)
        }
        _ => mqtt_codec::Delivery::AtMostOnce,
    };
    let packet = OutPacket::Publish {
        message: message.clone(),
        delivery,
    };
    let mut bytes = Vec::new();
    packet
        .encode5(Instant::now(), &mut bytes)
        .is_ok_and(|len| len <= maximum)
}

/// What [`Router::subscribe`] is asked: the filters, in order, with what goes with each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'a> {
    /// Each filter with its requested QoS.
    pub(crate) filters: &'a [(String, QoS)],
    /// 5.0: each filter's other options; empty at 3.1.1.
    pub(crate) options: &'a [SubscriptionOptions5],
    /// Whether the authorisers and `max_topic_levels` let each filter through.
    pub(crate) allowed: &'a [bool],
}

/// What [`Router::subscribe`] did.
#[derive(Debug, Default)]
pub(crate) struct Subscribed {
    /// One return code per filter, in order [MQTT-3.9.3-1].
    pub(crate) codes: Vec<SubAckReturnCode>,
    /// The filters subscribed, with the QoS granted.
    pub(crate) subscribed: Vec<(String, QoS)>,
    /// Those whose retained messages are to be sent now: all at 3.1.1, at 5.0 as Retain Handling
    /// says.
    pub(crate) send_retained: Vec<(String, QoS)>,
}

/// How a 5.0 session's subscriptions matching `topic` want a message published by `publisher`
/// delivered: `None` when every one of them has No Local and the session is the publisher's
/// [MQTT5-3.8.3-3]; otherwise whether one of them has Retain As Published, and the Subscription
/// Identifiers of those that have one, all of them in the one copy [MQTT5-3.3.4-4].
fn matching_options5(
    slot: &Slot,
    topic: TopicName<'_>,
    publisher: Option<&str>,
) -> Option<(bool, Option<Arc<[u32]>>)> {
    let own = publisher == Some(&*slot.client_id);
    let (mut wanted, mut suppressed) = (false, false);
    let mut retain_as_published = false;
    let mut ids = Vec::new();
    for (filter, options) in &slot.state.options5 {
        let Ok(Filter::Plain(plain)) = Filter::parse(filter) else {
            continue;
        };
        if !plain.matches(topic) {
            continue;
        }
        if own && options.no_local {
            suppressed = true;
            continue;
        }
        wanted = true;
        retain_as_published |= options.retain_as_published;
        ids.extend(options.id);
    }
    match (wanted, suppressed) {
        (true, _) => Some((retain_as_published, (!ids.is_empty()).then(|| ids.into()))),
        (false, true) => None,
        // No 5.0 options recorded for what matched: delivered as at 3.1.1.
        (false, false) => Some((false, None)),
    }
}

/// The QoS 0 PUBLISH of one routed message, encoded by the first delivery that needs it; `None`
/// inside if encoding failed.
#[derive(Debug, Default)]
struct SharedQos0 {
    bytes: Option<Option<Arc<[u8]>>>,
}

thread_local! {
    /// Each publishing thread's buffer for the subscribers of one message (see [`Router::publish`]).
    static FOUND: std::cell::Cell<Vec<Subscriber<SlotRef>>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The largest subscriber buffer a thread keeps between messages (entries of 24 bytes): enough for
/// any ordinary fan-out, without pinning the memory of one huge fan-out in every reader thread.
const FOUND_KEPT: usize = 4096;

/// Whether connection `connection_id` is the one attached to `slot`.
fn owns(slot: &Slot, connection_id: u64) -> bool {
    slot.link
        .as_ref()
        .is_some_and(|link| link.connection_id == connection_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::RestoredSession;
    use crate::security::auth::SecuritySources;
    use std::time::Duration;

    const LIMITS: Limits = Limits {
        max_inflight: 2,
        max_inflight_bytes: 0,
        max_queued: 4,
        drop_when_full: true,
        max_queued_bytes: 0,
        stall: Duration::from_secs(30),
    };

    /// A router restored with one offline session per entry of `sessions`: its client identifier,
    /// its 5.0 Session Expiry Interval (`None`: a 3.1.1 session) and one subscription to `t/#`,
    /// the log not saying when it lost its connection.
    fn restored(sessions: &[(&str, Option<u32>)]) -> Router {
        let sessions: Vec<_> = sessions
            .iter()
            .map(|(client_id, expiry5)| (*client_id, *expiry5, None))
            .collect();
        restored_detached(&sessions)
    }

    /// [`restored`], each session with the wall-clock time the log says it lost its connection.
    fn restored_detached(sessions: &[(&str, Option<u32>, Option<u64>)]) -> Router {
        let mut restored = Restored::default();
        for (client_id, expiry5, detached_at) in sessions {
            let mut state = SessionState::default();
            state
                .subscriptions
                .insert("t/#".to_owned(), QoS::AtLeastOnce);
            restored.sessions.insert(
                Arc::from(*client_id),
                RestoredSession {
                    expiry5: *expiry5,
                    detached_at: *detached_at,
                    state,
                    ..RestoredSession::default()
                },
            );
        }
        let security = Security::load(&SecuritySources {
            anonymous_by_default: true,
            ..SecuritySources::default()
        })
        .unwrap_or_else(|error| panic!("default security: {error}"));
        Router::new(LIMITS, security, None, restored)
    }

    /// Sessions in the registry and subscriptions in the tree.
    fn held(router: &Router) -> (u64, u64) {
        let (_, sessions, subscriptions, _) = router.counts();
        (sessions, subscriptions)
    }

    /// An offline session is ended when its interval has passed, not when its client returns
    /// [MQTT5-4.1.0-2]: its subscription stops matching, it leaves the registry, and it is
    /// counted. Before then, and for a session that never expires, nothing happens. The clock is
    /// made up: nothing sleeps.
    #[test]
    fn an_offline_session_is_ended_when_its_interval_passes_mqtt5_4_1_0_2() {
        let restored_at = Instant::now();
        let router = restored(&[("brief", Some(60)), ("forever", Some(u32::MAX))]);
        assert_eq!(held(&router), (2, 2));
        assert_eq!(router.expiries.len(), 1, "only the one that can expire");
        assert_eq!(
            router.expire_sessions(restored_at + Duration::from_secs(30)),
            0
        );
        assert_eq!(held(&router), (2, 2));
        let message = Message::new("t/1", b"x", QoS::AtLeastOnce, false);
        assert_eq!(router.publish_from(&message, None, None), Ok(2));

        // A minute after the restart (which is when a restored session's interval starts).
        let later = Instant::now() + Duration::from_secs(61);
        assert_eq!(router.expire_sessions(later), 1);
        assert_eq!(
            held(&router),
            (1, 1),
            "the expired session and its subscription are gone"
        );
        assert_eq!(Metrics::read(&router.metrics.clients_expired), 1);
        assert_eq!(router.expiries.len(), 0);
        assert!(!router.sessions.lock().contains_key("brief"));
        assert_eq!(router.publish_from(&message, None, None), Ok(1));
        assert_eq!(router.expire_sessions(later + Duration::from_secs(3600)), 0);
    }

    /// A restored session's interval runs from when the log says it lost its connection, so the
    /// broker's downtime counts [MQTT5-4.1.0-2]: one whose interval passed meanwhile is due at
    /// once, one with time left is due when that runs out.
    #[test]
    fn the_downtime_counts_against_a_restored_sessions_interval_mqtt5_4_1_0_2() {
        let now = Instant::now();
        let wall_now = SystemTime::now();
        let ago = |seconds| wall_millis(now - Duration::from_secs(seconds), now, wall_now);
        let router = restored_detached(&[
            ("lapsed", Some(60), Some(ago(100))),
            ("left", Some(60), Some(ago(30))),
            ("unknown", Some(60), None),
        ]);
        assert_eq!(router.expire_sessions(now), 1);
        assert!(!router.sessions.lock().contains_key("lapsed"));
        assert_eq!(router.expire_sessions(now + Duration::from_secs(29)), 0);
        assert_eq!(router.expire_sessions(now + Duration::from_secs(31)), 1);
        assert!(!router.sessions.lock().contains_key("left"));
        // The log did not say: counted from the restart.
        assert_eq!(router.expire_sessions(now + Duration::from_secs(59)), 0);
        assert_eq!(held(&router), (1, 1));
    }

    /// The worst case for one sweep: ten thousand sessions due at the same instant all end in
    /// it, and leave nothing behind in the registry, the tree or the schedule.
    #[test]
    fn ten_thousand_sessions_due_at_once_all_end() {
        let names: Vec<String> = (0..10_000).map(|n| format!("s{n}")).collect();
        let sessions: Vec<(&str, Option<u32>)> =
            names.iter().map(|name| (name.as_str(), Some(60))).collect();
        let router = restored(&sessions);
        assert_eq!(held(&router), (10_000, 10_000));
        let later = Instant::now() + Duration::from_secs(61);
        assert_eq!(router.expire_sessions(later), 10_000);
        assert_eq!(held(&router), (0, 0));
        assert_eq!(router.expiries.len(), 0);
        assert_eq!(Metrics::read(&router.metrics.clients_expired), 10_000);
    }

    /// `persistent_client_expiration` gives 3.1.1 persistent sessions a deadline too, restored ones
    /// included; without it they never expire.
    #[test]
    fn persistent_client_expiration_ends_3_1_1_sessions_on_time() {
        let mut router = restored(&[("old", None)]);
        assert_eq!(router.expiries.len(), 0);
        router.expire_persistent_sessions_after(Some(Duration::from_secs(3600)));
        assert_eq!(router.expiries.len(), 1);
        let now = Instant::now();
        assert_eq!(router.expire_sessions(now), 0);
        assert_eq!(router.expire_sessions(now + Duration::from_secs(3601)), 1);
        assert_eq!(held(&router), (0, 0));
    }
}

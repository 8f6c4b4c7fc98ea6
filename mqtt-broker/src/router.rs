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
//! 3. `subscriptions` or `retained`. These are leaves: nothing else is locked while one is held.
//!
//! A publisher does not hold the registry while it locks a slot (it clones the slot's `Arc` and lets
//! go), and collects its subscribers from the tree before locking any slot. Nothing in this file
//! blocks while holding a lock: packets go to writer threads with `try_send`, which never waits, and
//! sockets are shut down only after every lock is released. A slow or stuck subscriber therefore
//! costs a publisher one failed `try_send`, never a wait (see ARCHITECTURE.md).
//!
//! This file does not parse packets, run timers or own sockets; it holds no protocol state of a
//! connection (`session.rs`) and does not decide outbound flow control (`store.rs`).

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::Sender;
use log::debug;
use mqtt_codec::{ConnectReturnCode, PacketId, QoS, SubAckReturnCode, TopicFilter, TopicName};
use parking_lot::{Mutex, RwLock};

use crate::message::Message;
use crate::metrics::Metrics;
use crate::outbound::{OutPacket, Outbound};
use crate::retained::RetainedStore;
use crate::session::{Ack, OpenRequest};
use crate::store::{Limits, SessionState};
use crate::subscriptions::SubscriptionTree;

/// A session's slot in the registry, shared by its connection threads and by publishers.
pub(crate) type SlotRef = Arc<Mutex<Slot>>;

/// One client identifier's session, and the connection currently attached to it.
#[derive(Debug)]
pub(crate) struct Slot {
    client_id: Arc<str>,
    /// The session state proper: what would be persisted.
    state: SessionState,
    /// CleanSession of the connection that opened it: a clean session is removed with its connection
    /// [MQTT-3.1.2-6].
    clean: bool,
    /// The live connection, or `None` while a persistent session waits for its client.
    link: Option<Link>,
}

/// How the router reaches a live connection.
#[derive(Debug)]
pub(crate) struct Link {
    /// Which connection: a slot ignores requests from a connection that was taken over.
    pub(crate) connection_id: u64,
    /// The writer thread's bounded channel.
    pub(crate) tx: Sender<Outbound>,
    /// The socket, to shut down on take-over or broker shutdown.
    pub(crate) stream: Arc<TcpStream>,
    /// Set when a `try_send` found the channel full; the writer then calls [`Router::pump`].
    pub(crate) starved: Arc<AtomicBool>,
}

impl Link {
    /// Asks the connection to end: its writer flushes and closes, and the shut-down socket ends its
    /// reader. Called with no lock held.
    pub(crate) fn disconnect(self) {
        let _ = self.tx.try_send(Outbound::Close);
        let _ = self.stream.shutdown(Shutdown::Both);
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
    /// Client identifier → session. Locked first, briefly (see the module doc).
    sessions: Mutex<HashMap<Arc<str>, SlotRef>>,
    /// Every subscription, indexed by filter. Read-locked by publishers, write-locked by
    /// (un)subscribers and session clean-up; a leaf lock.
    subscriptions: RwLock<SubscriptionTree>,
    /// The retained messages. A leaf lock.
    retained: Mutex<RetainedStore>,
    /// Clients with a live, accepted connection (`$SYS/broker/clients/connected`).
    connected: AtomicU64,
    /// Counters for `$SYS`.
    pub(crate) metrics: Metrics,
}

impl Router {
    /// An empty broker state.
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            sessions: Mutex::new(HashMap::new()),
            subscriptions: RwLock::new(SubscriptionTree::default()),
            retained: Mutex::new(RetainedStore::default()),
            connected: AtomicU64::new(0),
            metrics: Metrics::default(),
        }
    }

    /// Opens the session of a valid CONNECT and attaches `link` to it. The CONNACK is queued first
    /// [MQTT-3.2.0-1] [MQTT-3.1.4-4], then whatever a resumed session has to re-send [MQTT-4.4.0-1],
    /// all under the slot's lock so that no publisher can slip a packet in before the CONNACK.
    pub(crate) fn open(&self, request: &OpenRequest, link: Link) -> Opened {
        let mut sessions = self.sessions.lock();
        let existed = sessions.contains_key(&request.client_id);
        let slot_ref = Arc::clone(
            sessions
                .entry(Arc::clone(&request.client_id))
                .or_insert_with(|| {
                    Arc::new(Mutex::new(Slot {
                        client_id: Arc::clone(&request.client_id),
                        state: SessionState::default(),
                        clean: true,
                        link: None,
                    }))
                }),
        );
        let mut slot = slot_ref.lock();
        drop(sessions);
        let taken_over = slot.link.take();
        let session_present = if request.clean_session || slot.clean {
            // Discard any previous session [MQTT-3.1.2-6]; a clean one is never resumed.
            self.unsubscribe_all(&slot);
            slot.state = SessionState::default();
            false
        } else {
            existed // [MQTT-3.1.2-4]
        };
        slot.clean = request.clean_session;
        let connack = OutPacket::ConnAck {
            session_present, // [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3]
            code: ConnectReturnCode::Accepted,
        };
        // The channel is new and empty: this cannot fail.
        let _ = link.tx.try_send(Outbound::Packet(connack));
        slot.state.resume();
        slot.link = Some(link);
        self.pump_slot(&mut slot);
        drop(slot);

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
        self.connected.fetch_sub(1, Ordering::Relaxed);
        if slot.clean {
            self.unsubscribe_all(&slot);
            if sessions
                .get(&slot.client_id)
                .is_some_and(|current| Arc::ptr_eq(current, slot_ref))
            {
                sessions.remove(&slot.client_id);
            }
        }
    }

    /// Detaches every live connection (broker shutdown) and returns them, to be disconnected once no
    /// lock is held.
    pub(crate) fn detach_all(&self) -> Vec<Link> {
        let slots: Vec<SlotRef> = self.sessions.lock().values().cloned().collect();
        let links: Vec<Link> = slots
            .iter()
            .filter_map(|slot| slot.lock().link.take())
            .collect();
        self.connected.store(0, Ordering::Relaxed);
        links
    }

    /// Routes a message from a client (or the broker) to every matching subscription.
    ///
    /// A retained message is stored first [MQTT-3.3.1-5]. Each subscriber gets one copy at the highest
    /// QoS its matching subscriptions granted [MQTT-3.3.5-1], lowered to the published QoS
    /// [MQTT-3.8.4-6], without the retain flag [MQTT-3.3.1-9]. Subscribers of a persistent session
    /// that is offline get QoS 1 and 2 messages queued [MQTT-3.1.2-5].
    pub(crate) fn publish(&self, message: &Message) {
        if message.retain {
            self.retained.lock().update(message);
        }
        let Ok(topic) = TopicName::new(&message.topic) else {
            return;
        };
        let subscribers = self.subscriptions.read().subscribers(topic);
        for (client_id, granted) in subscribers {
            let Some(slot_ref) = self.sessions.lock().get(&client_id).cloned() else {
                continue;
            };
            let mut slot = slot_ref.lock();
            self.deliver(
                &mut slot,
                message.for_delivery(message.qos.min(granted), false),
            );
        }
    }

    /// An inbound QoS 2 PUBLISH: routes `message` unless `packet_id` is already awaiting PUBREL
    /// [MQTT-4.3.3-2]. The caller answers PUBREC either way.
    pub(crate) fn publish_once(
        &self,
        slot_ref: &SlotRef,
        connection_id: u64,
        packet_id: PacketId,
        message: Option<&Message>,
    ) {
        let first = {
            let mut slot = slot_ref.lock();
            owns(&slot, connection_id) && slot.state.receive_qos2(packet_id)
        };
        if let (true, Some(message)) = (first, message) {
            self.publish(message);
        }
    }

    /// An inbound PUBREL: `packet_id` is free again. The caller answers PUBCOMP either way.
    pub(crate) fn release(&self, slot_ref: &SlotRef, connection_id: u64, packet_id: PacketId) {
        let mut slot = slot_ref.lock();
        if owns(&slot, connection_id) && !slot.state.release_qos2(packet_id) {
            debug!(
                "{}: PUBREL for unknown packet id {packet_id}",
                slot.client_id
            );
        }
    }

    /// An acknowledgement of an outbound message. Frees a window slot, which lets the next queued
    /// message go. Answers the PUBREL to send for a PUBREC.
    pub(crate) fn acknowledged(
        &self,
        slot_ref: &SlotRef,
        connection_id: u64,
        ack: Ack,
    ) -> Option<OutPacket> {
        let mut slot = slot_ref.lock();
        if !owns(&slot, connection_id) {
            return None;
        }
        let (known, reply) = match ack {
            Ack::PubAck(packet_id) => (slot.state.puback(packet_id), None),
            Ack::PubRec(packet_id) => {
                let reply = slot.state.pubrec(packet_id);
                (reply.is_some(), reply)
            }
            Ack::PubComp(packet_id) => (slot.state.pubcomp(packet_id), None),
        };
        if !known {
            debug!("{}: {ack:?} for a packet id not in flight", slot.client_id);
        }
        self.pump_slot(&mut slot);
        reply
    }

    /// Adds subscriptions, replacing identical ones [MQTT-3.8.4-3], and answers one return code per
    /// filter in order [MQTT-3.8.4-5] [MQTT-3.9.3-1]. Every request is granted as asked: the broker
    /// supports QoS 2 and has no access control yet, so it never sends the failure code (which a 3.1
    /// client could not be sent anyway: [V31-DIFF-34]).
    pub(crate) fn subscribe(
        &self,
        slot_ref: &SlotRef,
        connection_id: u64,
        filters: &[(String, QoS)],
    ) -> Vec<SubAckReturnCode> {
        let mut slot = slot_ref.lock();
        if !owns(&slot, connection_id) {
            return Vec::new();
        }
        let client_id = Arc::clone(&slot.client_id);
        let mut tree = self.subscriptions.write();
        filters
            .iter()
            .map(|(filter, qos)| {
                if let Ok(valid) = TopicFilter::new(filter) {
                    tree.insert(valid, &client_id, *qos);
                    slot.state.subscriptions.insert(filter.clone(), *qos);
                }
                SubAckReturnCode::Granted(*qos)
            })
            .collect()
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
            let Ok(valid) = TopicFilter::new(filter) else {
                continue;
            };
            let messages = self.retained.lock().matching(valid);
            let mut slot = slot_ref.lock();
            if !owns(&slot, connection_id) {
                return;
            }
            for message in messages {
                self.deliver(
                    &mut slot,
                    message.for_delivery(message.qos.min(*granted), true),
                );
            }
        }
    }

    /// Removes subscriptions whose filters equal the given ones exactly [MQTT-3.10.4-1]; unknown ones
    /// are ignored, and the caller answers UNSUBACK regardless [MQTT-3.10.4-5]. Messages already
    /// queued or in flight are still delivered [MQTT-3.10.4-3].
    pub(crate) fn unsubscribe(&self, slot_ref: &SlotRef, connection_id: u64, filters: &[String]) {
        let mut slot = slot_ref.lock();
        if !owns(&slot, connection_id) {
            return;
        }
        let mut tree = self.subscriptions.write();
        for filter in filters {
            if let Ok(valid) = TopicFilter::new(filter) {
                tree.remove(valid, &slot.client_id);
            }
            slot.state.subscriptions.remove(filter);
        }
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
        let subscriptions = self.subscriptions.read().len() as u64;
        let retained = self.retained.lock().len() as u64;
        (
            self.connected.load(Ordering::Relaxed),
            total,
            subscriptions,
            retained,
        )
    }

    /// One delivery to one session, with the slot locked.
    fn deliver(&self, slot: &mut Slot, message: Message) {
        let dropped = match (&slot.link, message.qos) {
            (Some(link), QoS::AtMostOnce) => {
                let packet = OutPacket::Publish {
                    message,
                    delivery: mqtt_codec::Delivery::AtMostOnce,
                };
                link.tx.try_send(Outbound::Packet(packet)).is_err()
            }
            // QoS 0 is not kept for an offline session (3.1 §2.2 › Clean session flag).
            (None, QoS::AtMostOnce) => false,
            _ => {
                let dropped = slot.state.enqueue(message, self.limits).is_err();
                self.pump_slot(slot);
                dropped
            }
        };
        if dropped {
            Metrics::add(&self.metrics.publish_dropped, 1);
            debug!(
                "{}: outgoing message dropped (queue or channel full)",
                slot.client_id
            );
        }
    }

    fn pump_slot(&self, slot: &mut Slot) {
        let Slot { state, link, .. } = slot;
        let Some(link) = link else {
            return;
        };
        state.pump(self.limits, |packet| {
            let sent = link.tx.try_send(Outbound::Packet(packet)).is_ok();
            if !sent {
                link.starved.store(true, Ordering::Relaxed);
            }
            sent
        });
    }

    /// Removes every subscription of `slot` from the tree (the slot is locked by the caller).
    fn unsubscribe_all(&self, slot: &Slot) {
        if slot.state.subscriptions.is_empty() {
            return;
        }
        let mut tree = self.subscriptions.write();
        for filter in slot.state.subscriptions.keys() {
            if let Ok(valid) = TopicFilter::new(filter) {
                tree.remove(valid, &slot.client_id);
            }
        }
    }
}

/// Whether connection `connection_id` is the one attached to `slot`.
fn owns(slot: &Slot, connection_id: u64) -> bool {
    slot.link
        .as_ref()
        .is_some_and(|link| link.connection_id == connection_id)
}

//! The answer to CONNECT: accepting or refusing it (3.1.1 §3.2), and what a new connection does
//! with the session it inherits: resume every interrupted flow when the server kept the session
//! [MQTT-4.4.0-1], or start afresh and subscribe again when it did not.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use mqtt_codec::{ConnAck, ConnectReturnCode};

use super::publishing::Stage;
use super::requests::{Request, RequestKind};
use super::wire::Ack;
use super::{Event, Session, State};
use crate::Error;
use crate::v5::{SubscribeOptions, SubscribeProperties};

impl Session {
    /// A 3.1 / 3.1.1 CONNACK.
    pub(super) fn on_connack(&mut self, connack: ConnAck, now: Instant) -> Result<(), Error> {
        if connack.code != ConnectReturnCode::Accepted {
            // The server closes the connection after a refusal [MQTT-3.2.2-5].
            self.state = State::Disconnected;
            return Err(Error::Refused(connack.code));
        }
        self.accepted(connack.session_present, now)
    }

    /// The server accepted the connection, at either level (5.0 reads its properties first, in
    /// `v5_inbound.rs`).
    pub(super) fn accepted(&mut self, session_present: bool, now: Instant) -> Result<(), Error> {
        if session_present && self.options.clean_session {
            return Err(Error::violation(
                "reported a stored session for a clean-session connection",
                // 5.0 numbers the same rule differently.
                if self.is_v5() {
                    "MQTT5-3.2.2-2"
                } else {
                    "MQTT-3.2.2-1"
                },
            ));
        }
        self.state = State::Connected;
        self.events.push_back(Event::Connected { session_present });
        if session_present {
            self.resume(now)?;
        } else {
            self.start_afresh();
        }
        // Requests made or interrupted while disconnected, in the order they were made.
        let unsent: Vec<usize> = (0..self.requests.len())
            .filter(|&index| {
                self.requests
                    .get(index)
                    .is_some_and(|request| !request.sent)
            })
            .collect();
        for index in unsent {
            self.send_request(index, now)?;
        }
        self.fill_window(now)
    }

    /// The server kept our session: finish every interrupted flow where it stopped [MQTT-4.4.0-1],
    /// in the original order [MQTT-4.6.0-1].
    pub(super) fn resume(&mut self, now: Instant) -> Result<(), Error> {
        for index in 0..self.inflight.len() {
            let Some(entry) = self.inflight.get(index) else {
                break;
            };
            let packet_id = entry.packet_id;
            if entry.stage == Stage::PubComp {
                self.send_ack(Ack::PubRel, packet_id, now)?;
            } else {
                let message = entry.message.clone();
                self.send_publish(&message, packet_id, true, now)?; // [MQTT-3.3.1-1]
            }
        }
        Ok(())
    }

    /// The server has no session for us, either because we asked for a clean one or because it lost
    /// it. Nothing it knew survives, so: messages past PUBREC are complete (the server took them
    /// over when it sent PUBREC); the others are published again, as new messages with DUP 0 since
    /// this is a new session; the QoS 2 identifiers we held are forgotten; and every subscription is
    /// made again, so that a reconnect never silently loses them.
    pub(super) fn start_afresh(&mut self) {
        self.incoming_qos2.clear();
        let inflight = std::mem::take(&mut self.inflight);
        let mut resend = Vec::new();
        for entry in inflight {
            if entry.stage == Stage::PubComp {
                self.events.push_back(Event::Published(entry.token));
            } else {
                resend.push((entry.token, entry.message));
            }
        }
        for (token, message) in resend.into_iter().rev() {
            self.queued.push_front((token, message));
        }
        // Filters that a pending request will set anyway need no re-subscription.
        let pending: BTreeSet<&str> = self
            .requests
            .iter()
            .flat_map(|request| match &request.kind {
                RequestKind::Subscribe(filters, _) => {
                    filters.iter().map(|(filter, _)| filter.as_str()).collect()
                }
                RequestKind::Unsubscribe(filters, _) => {
                    filters.iter().map(String::as_str).collect::<Vec<_>>()
                }
            })
            .collect();
        // One SUBSCRIBE per subscription identifier, since an identifier belongs to a whole
        // SUBSCRIBE (5.0 §3.8.2.1.2); at 3.1.1 every filter has none, so there is one request.
        let mut again: BTreeMap<Option<u32>, Vec<(String, SubscribeOptions)>> = BTreeMap::new();
        for (filter, (options, id)) in &self.subscriptions {
            if !pending.contains(filter.as_str()) {
                again
                    .entry(*id)
                    .or_default()
                    .push((filter.clone(), *options));
            }
        }
        for (id, filters) in again.into_iter().rev() {
            log::info!(
                "no session on the server: subscribing again to {} filters",
                filters.len()
            );
            let packet_id = self.packet_id();
            let properties = SubscribeProperties {
                subscription_identifier: id,
                user_properties: Vec::new(),
            };
            self.requests.push_front(Request {
                token: None,
                packet_id,
                kind: RequestKind::Subscribe(filters, properties),
                sent: false,
            });
        }
    }
}

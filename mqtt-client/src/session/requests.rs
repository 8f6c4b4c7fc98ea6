//! SUBSCRIBE and UNSUBSCRIBE: the requests awaiting their SUBACK or UNSUBACK, the filters the
//! server granted (made again on a connection without a session), and matching each answer to its
//! request by packet identifier [MQTT-3.8.4-2] with one return code per filter [MQTT-3.8.4-5].

use std::time::Instant;

use mqtt_codec::{
    List, Packet, PacketId, QoS, SubAck, SubAckReturnCode, Subscribe, Subscription, TopicFilter,
    Unsubscribe,
};

use super::{Event, Session, State, Token};
use crate::Error;

#[derive(Debug)]
pub(super) struct Request {
    /// `None` for the session's own re-subscription after a reconnect.
    pub(super) token: Option<Token>,
    pub(super) packet_id: PacketId,
    pub(super) kind: RequestKind,
    /// Whether it was sent on the current connection.
    pub(super) sent: bool,
}

#[derive(Debug)]
pub(super) enum RequestKind {
    Subscribe(Vec<(String, QoS)>),
    Unsubscribe(Vec<String>),
}

impl Session {
    pub(super) fn on_suback(&mut self, suback: SubAck<'_>) -> Result<(), Error> {
        let Some(index) = self.request_index(suback.packet_id) else {
            log::debug!("ignoring a SUBACK for unknown packet {}", suback.packet_id);
            return Ok(());
        };
        let codes: Vec<SubAckReturnCode> = suback.return_codes.iter().collect();
        let Some(request) = self.requests.get(index) else {
            return Ok(());
        };
        let RequestKind::Subscribe(filters) = &request.kind else {
            return Err(Error::violation(
                "answered an UNSUBSCRIBE with a SUBACK",
                "MQTT-3.1.1 §3.10.4",
            ));
        };
        if codes.len() != filters.len() {
            return Err(Error::violation(
                format!(
                    "answered {} filters with {} return codes",
                    filters.len(),
                    codes.len()
                ),
                "MQTT-3.8.4-5",
            ));
        }
        for ((filter, qos), code) in filters.iter().zip(&codes) {
            match code {
                SubAckReturnCode::Granted(_) => {
                    self.subscriptions.insert(filter.clone(), *qos);
                }
                SubAckReturnCode::Failure => {
                    self.subscriptions.remove(filter);
                }
            }
        }
        if let Some(Request {
            token: Some(token), ..
        }) = self.requests.remove(index)
        {
            self.events.push_back(Event::Subscribed {
                token,
                return_codes: codes,
            });
        }
        Ok(())
    }

    pub(super) fn on_unsuback(&mut self, packet_id: PacketId) {
        let Some(request) = self
            .request_index(packet_id)
            .and_then(|index| self.requests.remove(index))
        else {
            log::debug!("ignoring an UNSUBACK for unknown packet {packet_id}");
            return;
        };
        if let RequestKind::Unsubscribe(filters) = &request.kind {
            for filter in filters {
                self.subscriptions.remove(filter);
            }
        }
        if let Some(token) = request.token {
            self.events.push_back(Event::Unsubscribed(token));
        }
    }

    pub(super) fn request(
        &mut self,
        token: Option<Token>,
        kind: RequestKind,
        now: Instant,
    ) -> Result<(), Error> {
        let packet_id = self.packet_id();
        self.requests.push_back(Request {
            token,
            packet_id,
            kind,
            sent: false,
        });
        if self.state == State::Connected {
            self.send_request(self.requests.len() - 1, now)?;
        }
        Ok(())
    }

    pub(super) fn send_request(&mut self, index: usize, now: Instant) -> Result<(), Error> {
        let Some(request) = self.requests.get(index) else {
            return Ok(());
        };
        let packet_id = request.packet_id;
        let level = self.options.level;
        let result = match &request.kind {
            RequestKind::Subscribe(filters) => {
                let entries: Vec<Subscription<'_>> = filters
                    .iter()
                    .filter_map(|(filter, qos)| {
                        Some(Subscription {
                            filter: TopicFilter::new(filter).ok()?,
                            qos: *qos,
                        })
                    })
                    .collect();
                let packet = Packet::from(Subscribe {
                    packet_id,
                    filters: List::from_slice(&entries),
                });
                packet.encode(level, &mut self.out)
            }
            RequestKind::Unsubscribe(filters) => {
                let entries: Vec<TopicFilter<'_>> = filters
                    .iter()
                    .filter_map(|filter| TopicFilter::new(filter).ok())
                    .collect();
                let packet = Packet::from(Unsubscribe {
                    packet_id,
                    filters: List::from_slice(&entries),
                });
                packet.encode(level, &mut self.out)
            }
        };
        match result {
            Ok(_) => {
                self.last_sent = now;
                if let Some(request) = self.requests.get_mut(index) {
                    request.sent = true;
                }
                Ok(())
            }
            Err(error) => {
                // Too large to encode: the request can never succeed, so fail it alone.
                if let Some(Request {
                    token: Some(token), ..
                }) = self.requests.remove(index)
                {
                    self.events.push_back(Event::Failed {
                        token,
                        error: error.into(),
                    });
                }
                Ok(())
            }
        }
    }

    pub(super) fn request_index(&self, packet_id: PacketId) -> Option<usize> {
        self.requests
            .iter()
            .position(|request| request.packet_id == packet_id && request.sent)
    }
}

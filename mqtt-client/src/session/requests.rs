//! SUBSCRIBE and UNSUBSCRIBE: the requests awaiting their SUBACK or UNSUBACK, the filters the
//! server granted (made again on a connection without a session), and matching each answer to its
//! request by packet identifier [MQTT-3.8.4-2] with one return code per filter [MQTT-3.8.4-5].

use std::time::Instant;

use mqtt_codec::v5::ReasonCode;
use mqtt_codec::{PacketId, QoS, SubAckReturnCode};

use super::{Event, Session, State, Token};
use crate::Error;
use crate::v5::{SubscribeOptions, SubscribeProperties};

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
    Subscribe(Vec<(String, SubscribeOptions)>, SubscribeProperties),
    Unsubscribe(Vec<String>, Vec<(String, String)>),
}

impl Session {
    /// A SUBACK, at either level, as Reason Codes (3.1.1's return codes mapped onto them: the
    /// granted QoS, or 0x80).
    pub(super) fn on_suback(
        &mut self,
        packet_id: PacketId,
        codes: Vec<ReasonCode>,
    ) -> Result<(), Error> {
        let Some(index) = self.request_index(packet_id) else {
            log::debug!("ignoring a SUBACK for unknown packet {packet_id}");
            return Ok(());
        };
        let Some(request) = self.requests.get(index) else {
            return Ok(());
        };
        let RequestKind::Subscribe(filters, properties) = &request.kind else {
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
        let id = properties.subscription_identifier;
        let mut return_codes = Vec::with_capacity(codes.len());
        for ((filter, options), code) in filters.iter().zip(&codes) {
            // 0x00 to 0x02 grant that QoS; anything else is a refusal (5.0 §3.9.3).
            match QoS::from_bits(code.get()) {
                Ok(granted) if !code.is_failure() => {
                    self.subscriptions.insert(filter.clone(), (*options, id));
                    return_codes.push(SubAckReturnCode::Granted(granted));
                }
                _ => {
                    self.subscriptions.remove(filter);
                    return_codes.push(SubAckReturnCode::Failure);
                }
            }
        }
        if let Some(Request {
            token: Some(token), ..
        }) = self.requests.remove(index)
        {
            self.events.push_back(Event::Subscribed {
                token,
                return_codes,
                reason_codes: codes,
            });
        }
        Ok(())
    }

    /// An UNSUBACK: `codes` is `None` at 3.1.1, whose UNSUBACK says only that the request was
    /// handled, and the server's list at 5.0.
    pub(super) fn on_unsuback(&mut self, packet_id: PacketId, codes: Option<Vec<ReasonCode>>) {
        let Some(request) = self
            .request_index(packet_id)
            .and_then(|index| self.requests.remove(index))
        else {
            log::debug!("ignoring an UNSUBACK for unknown packet {packet_id}");
            return;
        };
        let mut reason_codes = Vec::new();
        if let RequestKind::Unsubscribe(filters, _) = &request.kind {
            for (index, filter) in filters.iter().enumerate() {
                // A server missing a code for a filter is read as success, as at 3.1.1.
                let code = codes
                    .as_ref()
                    .and_then(|codes| codes.get(index).copied())
                    .unwrap_or(ReasonCode::SUCCESS);
                // A refused UNSUBSCRIBE leaves the subscription in place on the server, so it
                // stays in the list resubscribed after a reconnection too.
                if !code.is_failure() {
                    self.subscriptions.remove(filter);
                }
                reason_codes.push(code);
            }
        }
        if let Some(token) = request.token {
            self.events.push_back(Event::Unsubscribed {
                token,
                reason_codes,
            });
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
        // The request is put back after sending: the encoders borrow the session mutably.
        let kind = std::mem::replace(
            &mut self.requests[index].kind,
            RequestKind::Unsubscribe(Vec::new(), Vec::new()),
        );
        let result = match &kind {
            RequestKind::Subscribe(filters, properties) => {
                self.send_subscribe(packet_id, filters, properties, now)
            }
            RequestKind::Unsubscribe(filters, user_properties) => {
                self.send_unsubscribe(packet_id, filters, user_properties, now)
            }
        };
        if let Some(request) = self.requests.get_mut(index) {
            request.kind = kind;
        }
        match result {
            Ok(()) => {
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
                    self.events.push_back(Event::Failed { token, error });
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

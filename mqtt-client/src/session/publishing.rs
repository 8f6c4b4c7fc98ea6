//! Sending application messages: the in-flight window of QoS 1 and 2 flows, the queue behind it,
//! and the acknowledgements that move a flow on (3.1.1 §4.3.2, §4.3.3).
//!
//! A QoS 1 message waits for PUBACK; a QoS 2 message for PUBREC, then (after our PUBREL) for
//! PUBCOMP. Fresh identifiers come from `Session::packet_id` [MQTT-2.3.1-2]. This file does not
//! decide when a flow is resumed after a reconnection (`connack.rs` does).

use std::time::Instant;

use mqtt_codec::{PacketId, QoS};

use super::wire::Ack;
use super::{Event, FIRST_PACKET_ID, Message, Session, State, Token};
use crate::Error;

#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) token: Token,
    pub(super) packet_id: PacketId,
    pub(super) message: Message,
    pub(super) stage: Stage,
}

/// Where an outgoing QoS 1 or 2 message is in its flow, named after the packet it awaits. The
/// shared prefix is the point: these are the packet names of the specification.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    PubAck,
    PubRec,
    PubComp,
}

impl Session {
    /// PUBACK or PUBCOMP: the message at `stage` with `packet_id` is done.
    pub(super) fn on_ack(&mut self, packet_id: PacketId, stage: Stage) {
        let position = self
            .inflight
            .iter()
            .position(|entry| entry.packet_id == packet_id && entry.stage == stage);
        match position.and_then(|index| self.inflight.remove(index)) {
            Some(entry) => self.events.push_back(Event::Published(entry.token)),
            // A late acknowledgement of a message already completed, for example after a resend.
            None => log::debug!("ignoring an acknowledgement for unknown packet {packet_id}"),
        }
        // The window has room again; a failure to send would surface on the next call.
        if let Err(error) = self.fill_window(self.last_received) {
            log::warn!("cannot send a queued message: {error}");
        }
    }

    pub(super) fn on_pubrec(&mut self, packet_id: PacketId, now: Instant) -> Result<(), Error> {
        if let Some(entry) = self
            .inflight
            .iter_mut()
            .find(|entry| entry.packet_id == packet_id && entry.stage != Stage::PubAck)
        {
            // From here on only PUBREL is sent for this message [MQTT-4.3.3-1].
            entry.stage = Stage::PubComp;
        }
        // Answered even when unknown, so that the server can finish its side of the flow.
        self.send_ack(Ack::PubRel, packet_id, now) // [MQTT-2.3.1-6] [MQTT-4.6.0-4]
    }

    /// 5.0: the server refused the message at `stage` with `packet_id` in a PUBACK or PUBREC with a
    /// Reason Code of 0x80 or more. The flow ends there: no PUBREL follows a failed PUBREC
    /// [MQTT5-4.3.3-4], the identifier is free again, and the message no longer counts against
    /// the server's Receive Maximum [MQTT5-3.3.4-7].
    pub(super) fn on_refused(&mut self, packet_id: PacketId, stage: Stage, error: Error) {
        let position = self
            .inflight
            .iter()
            .position(|entry| entry.packet_id == packet_id && entry.stage == stage);
        match position.and_then(|index| self.inflight.remove(index)) {
            Some(entry) => self.events.push_back(Event::Failed {
                token: entry.token,
                error,
            }),
            None => log::debug!("ignoring a refusal for unknown packet {packet_id}"),
        }
        if let Err(error) = self.fill_window(self.last_received) {
            log::warn!("cannot send a queued message: {error}");
        }
    }

    /// Moves queued messages into the window while it has room.
    pub(super) fn fill_window(&mut self, now: Instant) -> Result<(), Error> {
        while self.state == State::Connected {
            let Some((_, front)) = self.queued.front() else {
                break;
            };
            if front.qos != QoS::AtMostOnce && self.inflight.len() >= self.send_window() {
                break;
            }
            let Some((token, message)) = self.queued.pop_front() else {
                break;
            };
            let sent = self
                .check_server_limits(&message)
                .and_then(|()| self.send_new(token, message, now));
            if let Err(error) = sent {
                self.events.push_back(Event::Failed { token, error });
            }
        }
        Ok(())
    }

    /// Sends a message for the first time on this session.
    pub(super) fn send_new(
        &mut self,
        token: Token,
        message: Message,
        now: Instant,
    ) -> Result<(), Error> {
        if message.qos == QoS::AtMostOnce {
            self.send_publish(&message, FIRST_PACKET_ID, false, now)?;
            self.events.push_back(Event::Published(token));
            return Ok(());
        }
        let packet_id = self.packet_id(); // [MQTT-4.3.2-1] [MQTT-4.3.3-1]
        self.send_publish(&message, packet_id, false, now)?;
        let stage = match message.qos {
            QoS::ExactlyOnce => Stage::PubRec,
            _ => Stage::PubAck,
        };
        self.inflight.push_back(InFlight {
            token,
            packet_id,
            message,
            stage,
        });
        Ok(())
    }
}

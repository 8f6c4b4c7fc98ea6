//! What the broker side reports: a connection up or lost, and the completion of a request the
//! translator made with an [`Ack`].
//!
//! When the gateway's own connection is lost, an aggregating gateway's clients have lost their
//! broker and are told with DISCONNECT rather than left believing they are connected
//! [SN-5.4.21-2]; a transparent client whose own connection is lost is told the same. Completions
//! become the MQTT-SN answers that waited for them: PUBACK, PUBREC, SUBACK, UNSUBACK.

use std::time::Instant;

use mqttsn_codec::{Message, PubAck, PubRec, ReturnCode, UnsubAck};

use super::{Translator, connack, connection, disconnection, discovery, subscriptions};
use crate::action::{Ack, AckKind, Action, ConnId, Outcome};
use crate::config::GatewayKind;
use crate::session::ClientState;

/// A gateway connection lost this soon after it came up was probably taken over.
const TAKEN_OVER_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) fn connected(
    translator: &mut Translator,
    now: Instant,
    conn: ConnId,
    actions: &mut Vec<Action>,
) {
    if conn == ConnId::GATEWAY {
        log::info!("gateway connection to the broker is up");
        translator.gateway_up = true;
        translator.gateway_up_since = Some(now);
        // [SN-6.1-1] Advertise at once, then every T_ADV.
        discovery::advertise(translator, now, actions);
        return;
    }
    let Some(id) = translator.owners.get(&conn).cloned() else {
        return;
    };
    if translator.client_state(&id) == Some(ClientState::AwaitingBroker) {
        connection::accept(translator, now, &id, actions);
    }
}

pub(super) fn lost(
    translator: &mut Translator,
    now: Instant,
    conn: ConnId,
    actions: &mut Vec<Action>,
) {
    if conn == ConnId::GATEWAY {
        log::warn!("gateway connection to the broker lost");
        translator.gateway_up = false;
        translator.stats.broker_losses += 1;
        if translator
            .gateway_up_since
            .take()
            .is_some_and(|since| now.saturating_duration_since(since) < TAKEN_OVER_WITHIN)
        {
            // A broker closes a connection when another one connects with its client id
            // [MQTT-3.1.4-2]; two gateways configured alike then keep taking each other over.
            log::warn!(
                "the broker closed the gateway's connection soon after accepting it: is another \
                 client (a second gateway?) using the client id {:?}? Give each gateway its own \
                 BrokerClientId, or leave it unset for a unique one",
                translator
                    .config
                    .broker_client_id
                    .as_deref()
                    .unwrap_or_default()
            );
        }
        if translator.config.kind == GatewayKind::Aggregating {
            // Every client depends on this connection: each is told, rather than left
            // believing it is connected [SN-5.4.21-2].
            let ids: Vec<String> = translator
                .sessions
                .iter()
                .filter(|(_, s)| {
                    s.state != ClientState::Disconnected && s.state != ClientState::Lost
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in ids {
                disconnection::tell_disconnected(translator, now, &id, actions);
            }
        }
        return;
    }
    let Some(id) = translator.owners.remove(&conn) else {
        return;
    };
    let Some(session) = translator.sessions.get_mut(&id) else {
        return;
    };
    session.conn = None;
    if session.state == ClientState::AwaitingBroker {
        // [SN-6.2-4] The broker could not be reached: congestion, try later.
        log::warn!("{id}: broker connection failed");
        translator.send_to(&id, &connack(ReturnCode::Congestion), actions);
        disconnection::disconnect(translator, now, &id, false, actions);
    } else {
        log::warn!("{id}: broker connection lost");
        disconnection::tell_disconnected(translator, now, &id, actions);
    }
    let _ = now;
}

pub(super) fn done(
    translator: &mut Translator,
    now: Instant,
    ack: Ack,
    outcome: Outcome,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(&ack.client) else {
        return;
    };
    if ack.conn != ConnId::GATEWAY && session.conn != Some(ack.conn) {
        // The answer of a connection the client no longer has.
        return;
    }
    let id = ack.client;
    match (ack.kind, outcome) {
        (AckKind::PubAck { msg_id, topic_id }, outcome) => {
            let return_code = match outcome {
                Outcome::Done(_) => ReturnCode::Accepted,
                _ => ReturnCode::Congestion,
            };
            let puback = Message::PubAck(PubAck {
                topic_id,
                msg_id,
                return_code,
            });
            translator.send_to(&id, &puback, actions);
        }
        (AckKind::PubRec { msg_id }, Outcome::Done(_)) => {
            translator.send_to(&id, &Message::PubRec(PubRec { msg_id }), actions);
        }
        (AckKind::PubRec { msg_id }, _) => {
            // Not forwarded: forget the id, so that the client's retransmission is tried again.
            session.qos2_received.remove(&msg_id.0);
        }
        (
            AckKind::SubAck {
                msg_id,
                topic_id,
                requested,
                filter,
            },
            outcome,
        ) => {
            if ack.conn == ConnId::GATEWAY && translator.config.kind == GatewayKind::Aggregating {
                subscriptions::retained_follow(translator, &id, &filter);
            }
            let granted = match outcome {
                Outcome::Done(granted) => Some(granted.unwrap_or(requested).min(requested)),
                _ => None,
            };
            if granted.is_none() {
                subscriptions::refused(translator, &id, &filter, actions);
            }
            subscriptions::suback(translator, &id, msg_id, topic_id, granted, actions);
        }
        (AckKind::UnsubAck { msg_id }, _) => {
            translator.send_to(&id, &Message::UnsubAck(UnsubAck { msg_id }), actions);
        }
    }
    let _ = now;
}

#[cfg(test)]
mod tests {
    use mqtt_client::QoS;

    use super::super::harness::*;
    use super::*;
    use crate::action::BrokerEvent;

    #[test]
    fn broker_loss_tells_the_clients_aggregating() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 30);
        h.connect(2, "c2", false, 30);
        let actions = h.broker(BrokerEvent::Lost(ConnId::GATEWAY));
        assert_eq!(
            types(&actions),
            [
                mqttsn_codec::MsgType::Disconnect,
                mqttsn_codec::MsgType::Disconnect
            ]
        );
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
        assert_eq!(h.state("c2"), Some(ClientState::Disconnected));
    }

    #[test]
    fn broker_loss_tells_the_client_transparent() {
        let mut h = Harness::new(GatewayKind::Transparent);
        h.connect(1, "c1", false, 30);
        let conn = h
            .translator
            .sessions
            .get("c1")
            .and_then(|s| s.conn)
            .expect("a connection");
        let actions = h.broker(BrokerEvent::Lost(conn));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::Disconnect]);
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
        // Late events from that connection are ignored.
        assert!(h.message(conn, "t", QoS::AtMostOnce).is_empty());
    }
}

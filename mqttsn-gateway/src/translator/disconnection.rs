//! How a connection ends: disconnected (§6.12, [SN-6.14-5]) by the client's DISCONNECT, a failed
//! set-up or the broker; lost ([SN-6.14-4], [SN-6.14-7]) with the will published by the gateway;
//! and a kept session expiring after its client stayed away.
//!
//! Timers are not here: `sleep.rs` and `session.rs` decide when a silent client is lost or a kept
//! session has expired; this file says what that means for the client's state, its broker
//! connection and what the gateway kept for it.

use std::time::Instant;

use mqttsn_codec::{Disconnect, Message};

use super::Translator;
use super::connection::{clean, set_state};
use crate::action::{Action, ConnId, ConnectRequest};
use crate::config::GatewayKind;
use crate::session::ClientState;

/// Disconnected [SN-6.14-5]: the client's own DISCONNECT, a failed set-up, or a broker loss.
/// `close` also closes a transparent client's broker connection. A clean session is then
/// forgotten: nothing of it would survive the next CONNECT.
pub(super) fn disconnect(
    translator: &mut Translator,
    now: Instant,
    id: &str,
    close: bool,
    actions: &mut Vec<Action>,
) {
    set_state(translator, id, ClientState::Disconnected);
    if let Some(session) = translator.sessions.get_mut(id) {
        session.away_since = Some(now);
    }
    // A kept session keeps what was on its way to the client (its queue and the message in
    // flight): both are sent again when it connects [MQTT-3.1.2-5]. A clean one is forgotten
    // below, and its messages with it.
    if close {
        close_connection(translator, id, actions);
    }
    forget_if_clean(translator, id, actions);
}

/// Lost [SN-6.14-4] [SN-6.14-7]: the will is published, the broker connection closed.
pub(super) fn lose(translator: &mut Translator, now: Instant, id: &str, actions: &mut Vec<Action>) {
    translator.stats.lost += 1;
    set_state(translator, id, ClientState::Lost);
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    session.away_since = Some(now);
    // The gateway publishes the will itself, on its own connection: MQTT 3.1.1 cannot change a
    // connection's will after CONNECT, which WILLTOPICUPD and WILLMSGUPD need, and an
    // aggregating gateway has no connection per client to carry one.
    if let Some((topic, qos, retain)) = session.will.clone() {
        log::info!("{id}: will published on {topic}");
        actions.push(Action::Publish {
            conn: ConnId::GATEWAY,
            topic,
            payload: session.will_message.clone(),
            qos,
            retain,
            ack: None,
        });
    }
    close_connection(translator, id, actions);
    forget_if_clean(translator, id, actions);
}

/// Closes a transparent client's own broker connection, if it has one open. For a kept
/// session the connection is remembered as retired, so that a message already on its way on
/// it is kept for the client (see `broker_message`).
fn close_connection(translator: &mut Translator, id: &str, actions: &mut Vec<Action>) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let Some(conn) = session.conn.take() else {
        return;
    };
    translator.owners.remove(&conn);
    actions.push(Action::Disconnect(conn));
    translator.retired.retain(|_, owner| owner != id);
    if !session.clean_session {
        translator.retired.insert(conn, id.to_string());
    }
}

pub(super) fn forget_if_clean(translator: &mut Translator, id: &str, actions: &mut Vec<Action>) {
    if translator.sessions.get(id).is_some_and(|s| s.clean_session) {
        clean(translator, id, actions);
        if let Some(session) = translator.sessions.remove(id) {
            translator.peers.remove(&session.peer);
        }
        translator.retired.retain(|_, owner| owner != id);
    }
}

/// The end of a kept session whose client stayed away past the session expiry: everything the
/// gateway kept for it goes (subscriptions, the aggregating kind's share of broker
/// subscriptions, topic ids, will, buffered messages). Behind a transparent gateway the broker
/// keeps a session of its own under the client's id; a connection with clean session 1,
/// closed at once, ends it too [MQTT-3.1.2-6], so that a later CONNECT does not find
/// subscriptions at the broker that the gateway no longer knows.
pub(super) fn expire_session(translator: &mut Translator, id: &str, actions: &mut Vec<Action>) {
    log::info!("{id}: kept session expired");
    clean(translator, id, actions);
    if let Some(session) = translator.sessions.remove(id) {
        // Only if the peer is still this client's: another client may have its address now.
        if translator
            .peers
            .get(&session.peer)
            .is_some_and(|owner| owner == id)
        {
            translator.peers.remove(&session.peer);
        }
    }
    translator.retired.retain(|_, owner| owner != id);
    if translator.config.kind == GatewayKind::Transparent {
        // Not in `owners`: the server closes it as soon as it is open, which is the point.
        let conn = ConnId(translator.next_conn);
        translator.next_conn += 1;
        actions.push(Action::Connect(
            conn,
            ConnectRequest {
                client_id: id.to_string(),
                clean_session: true,
                keep_alive: translator.config.broker_keep_alive,
            },
        ));
    }
}

/// Sends an unsolicited DISCONNECT and marks the client disconnected.
pub(super) fn tell_disconnected(
    translator: &mut Translator,
    now: Instant,
    id: &str,
    actions: &mut Vec<Action>,
) {
    translator.send_to(
        id,
        &Message::Disconnect(Disconnect { duration: None }),
        actions,
    );
    disconnect(translator, now, id, true, actions);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mqtt_client::QoS;
    use mqttsn_codec::{
        ClientId, Connect, MsgId, MsgType, PubAck, QoS as SnQoS, ReturnCode, TopicId,
    };

    use super::super::harness::*;
    use super::*;
    use crate::action::BrokerEvent;
    use crate::session::tolerance;

    fn reconnect(h: &mut Harness, n: u16, id: &str) -> Vec<Action> {
        let actions = h.from(
            n,
            Message::Connect(Connect {
                will: false,
                clean_session: false,
                duration: 30,
                client_id: ClientId::new(id).expect("valid"),
            }),
        );
        let mut all = actions.clone();
        for action in actions {
            if let Action::Connect(conn, _) = action {
                all.extend(h.broker(BrokerEvent::Connected(conn)));
            }
        }
        all
    }

    #[test]
    fn aggregating_keeps_qos_1_and_2_for_a_disconnected_kept_session_mqtt_3_1_2_5() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 30);
        h.subscribe(1, name("k/a"), SnQoS::ExactlyOnce);
        h.from(1, Message::Disconnect(Disconnect { duration: None }));
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
        assert!(sent(&h.message(ConnId::GATEWAY, "k/a", QoS::AtLeastOnce)).is_empty());
        // QoS 0 is not kept for a client that is away, as an MQTT server does not keep it.
        h.message(ConnId::GATEWAY, "k/a", QoS::AtMostOnce);
        h.message(ConnId::GATEWAY, "k/a", QoS::ExactlyOnce);
        assert_eq!(h.translator.buffered("c1"), 2);
        assert_eq!(h.translator.stats().buffered, 2);
        // [SN-6.3-5] Connecting again without a clean session: CONNACK, then the kept messages,
        // their topic registered again first [SN-6.10-2].
        let actions = reconnect(&mut h, 1, "c1");
        assert_eq!(types(&actions), [MsgType::ConnAck, MsgType::Register]);
        let actions = h.regack(1, &actions);
        assert_eq!(types(&actions), [MsgType::Publish]);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(first)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert_eq!(first.qos, SnQoS::AtLeastOnce);
        let actions = h.from(
            1,
            Message::PubAck(PubAck {
                topic_id: TopicId(1),
                msg_id: first.msg_id,
                return_code: ReturnCode::Accepted,
            }),
        );
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(second)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert_eq!(second.qos, SnQoS::ExactlyOnce);
    }

    #[test]
    fn a_lost_kept_session_keeps_its_message_in_flight_and_a_bounded_queue() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.translator.config.max_buffered = 2;
        h.connect(1, "c1", false, 10);
        h.subscribe(1, name("k/a"), SnQoS::AtLeastOnce);
        // One PUBLISH in flight, unanswered, when the client goes silent.
        assert_eq!(
            types(&h.message(ConnId::GATEWAY, "k/a", QoS::AtLeastOnce)),
            [MsgType::Publish]
        );
        h.advance(tolerance(Duration::from_secs(10)));
        assert_eq!(h.state("c1"), Some(ClientState::Lost));
        for _ in 0..3 {
            h.message(ConnId::GATEWAY, "k/a", QoS::AtLeastOnce);
        }
        assert_eq!(h.translator.buffered("c1"), 2);
        assert_eq!(
            h.translator.stats().dropped,
            1,
            "the third is dropped and counted"
        );
        // The message in flight goes again first, after its topic is registered again
        // [SN-6.10-2], under its MsgId and marked as a retransmission [SN-5.3.4-1].
        let actions = reconnect(&mut h, 1, "c1");
        assert_eq!(types(&actions), [MsgType::ConnAck, MsgType::Register]);
        let actions = h.regack(1, &actions);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(again)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert!(again.dup);
        assert_eq!(again.msg_id, MsgId(1), "the MsgId it was first sent with");
    }

    #[test]
    fn a_clean_session_keeps_nothing_while_away() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        h.subscribe(1, name("k/a"), SnQoS::AtLeastOnce);
        h.from(1, Message::Disconnect(Disconnect { duration: None }));
        h.message(ConnId::GATEWAY, "k/a", QoS::AtLeastOnce);
        assert_eq!(h.state("c1"), None);
        assert_eq!(h.translator.stats().buffered, 0);
    }

    #[test]
    fn a_message_on_a_closed_transparent_connection_is_kept_for_a_kept_session() {
        let mut h = Harness::new(GatewayKind::Transparent);
        h.connect(1, "c1", false, 30);
        h.subscribe(1, name("k/a"), SnQoS::AtLeastOnce);
        let conn = h
            .translator
            .sessions
            .get("c1")
            .and_then(|s| s.conn)
            .expect("a connection");
        let actions = h.from(1, Message::Disconnect(Disconnect { duration: None }));
        assert!(actions.contains(&Action::Disconnect(conn)));
        // The broker had already sent it before it saw the DISCONNECT.
        h.message(conn, "k/a", QoS::AtLeastOnce);
        assert_eq!(h.translator.buffered("c1"), 1);
        let actions = reconnect(&mut h, 1, "c1");
        assert_eq!(types(&actions), [MsgType::ConnAck, MsgType::Register]);
        assert_eq!(types(&h.regack(1, &actions)), [MsgType::Publish]);
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_kept_session_expires_after_its_client_stays_away_aggregating() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        assert_eq!(h.translator.config().session_expiry, Some(DAY));
        h.connect(1, "c1", false, 30);
        h.subscribe(1, name("k/a"), SnQoS::AtLeastOnce);
        h.from(1, Message::Disconnect(Disconnect { duration: None }));
        h.message(ConnId::GATEWAY, "k/a", QoS::AtLeastOnce);
        let limits = h.translator.limits();
        assert_eq!(
            h.translator.sessions["c1"].deadline(&limits),
            Some(h.now + DAY)
        );
        h.advance(DAY - SECOND);
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
        // A day away: the session, its kept message and its share of the broker subscription go.
        let actions = h.advance(SECOND);
        assert_eq!(h.state("c1"), None);
        assert_eq!(h.translator.stats().buffered, 0);
        assert!(actions.contains(&Action::Unsubscribe {
            conn: ConnId::GATEWAY,
            filter: "k/a".into(),
            ack: None
        }));
    }

    #[test]
    fn a_lost_kept_session_expires_and_the_brokers_session_is_ended_transparent_mqtt_3_1_2_6() {
        let mut h = Harness::new(GatewayKind::Transparent);
        h.translator.config.session_expiry = Some(Duration::from_secs(600));
        h.connect(1, "c1", false, 10);
        h.advance(tolerance(Duration::from_secs(10)));
        assert_eq!(h.state("c1"), Some(ClientState::Lost));
        assert!(h.advance(Duration::from_secs(599)).is_empty());
        let actions = h.advance(SECOND);
        assert_eq!(h.state("c1"), None);
        let [Action::Connect(conn, request)] = &actions[..] else {
            panic!("a clean connection to end the broker's session, got {actions:?}");
        };
        assert_eq!(request.client_id, "c1");
        assert!(request.clean_session);
        // Nobody wants it once open: the server closes it at once.
        assert!(!h.translator.wants(*conn));
    }

    #[test]
    fn coming_back_stops_the_expiry_and_leaving_again_restarts_it() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 30);
        h.from(1, Message::Disconnect(Disconnect { duration: None }));
        h.advance(DAY - SECOND);
        h.connect(1, "c1", false, 30);
        // Connected: only the keep-alive timer runs.
        h.from(
            1,
            Message::PingReq(mqttsn_codec::PingReq { client_id: None }),
        );
        let limits = h.translator.limits();
        assert_eq!(
            h.translator.sessions["c1"].deadline(&limits),
            Some(h.now + tolerance(Duration::from_secs(30)))
        );
        h.from(1, Message::Disconnect(Disconnect { duration: None }));
        h.advance(SECOND);
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
        h.advance(DAY);
        assert_eq!(h.state("c1"), None);
    }

    #[test]
    fn with_no_session_expiry_a_kept_session_stays() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.translator.config.session_expiry = None;
        h.connect(1, "c1", false, 30);
        h.from(1, Message::Disconnect(Disconnect { duration: None }));
        let limits = h.translator.limits();
        assert_eq!(h.translator.sessions["c1"].deadline(&limits), None);
        h.advance(DAY * 3650);
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
    }
}

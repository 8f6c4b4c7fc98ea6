//! Connection set-up and tear-down: CONNECT and the will dialogue (§6.2, §6.3), will updates while
//! connected (§6.4), and the state changes that end a connection: disconnected (§6.12, [SN-6.14-5])
//! and lost ([SN-6.14-4], [SN-6.14-7]), with the will published by the gateway.
//!
//! What happens to the broker side follows from the gateway kind: a transparent client gets its
//! own MQTT connection under its own client id [SN-4.1-1]; an aggregating one rides on the
//! gateway's shared connection [SN-4.2-1]. Timers are not here: `sleep.rs` and `session.rs` decide
//! when a silent client is lost; this file says what losing it means.

use std::time::Instant;

use mqttsn_codec::{
    ConnAck, Connect, Disconnect, Message, ReturnCode, WillMsg, WillResp, WillTopic,
};

use super::{Translator, connack, subscriptions};
use crate::action::{Action, ConnId, ConnectRequest, Peer};
use crate::config::GatewayKind;
use crate::session::{ClientState, Session, mqtt_qos};

pub(super) fn rebind(translator: &mut Translator, id: &str, peer: &Peer) {
    if let Some(session) = translator.sessions.get_mut(id)
        && session.peer != *peer
    {
        log::info!("{id}: moved from {} to {peer}", session.peer);
        translator.peers.remove(&session.peer);
        session.peer = peer.clone();
    }
    translator.peers.insert(peer.clone(), id.to_string());
}

pub(super) fn connect(
    translator: &mut Translator,
    now: Instant,
    peer: &Peer,
    connect: &Connect<'_>,
    actions: &mut Vec<Action>,
) {
    let id = connect.client_id.as_str().to_string();
    let live = translator
        .sessions
        .values()
        .filter(|s| s.state != ClientState::Lost)
        .count();
    if !translator.sessions.contains_key(&id) && live >= translator.config.max_clients {
        // [SN-6.2-4] A refusal carries its reason.
        log::warn!("{peer}: {id} refused, {live} clients already");
        let connack = Message::ConnAck(ConnAck {
            return_code: ReturnCode::Congestion,
        });
        translator.send(peer, &connack, actions);
        return;
    }
    // A peer that connects under a new client id leaves its old session behind.
    if let Some(old) = translator.peers.get(peer).cloned()
        && old != id
    {
        disconnect(translator, now, &old, false, actions);
    }
    let session = translator
        .sessions
        .entry(id.clone())
        .or_insert_with(|| Session::new(&id, peer.clone(), now));
    let was = session.state;
    let moved = session.peer != *peer;
    if session.peer != *peer && !matches!(was, ClientState::Disconnected | ClientState::Lost) {
        // The client id is in use from another address. As in MQTT, the new connection takes
        // the session over [MQTT-3.1.4-2]; the old node is told it is disconnected rather
        // than left believing it is connected [SN-5.4.21-2], and anything it sends from now
        // on is answered the same way (its address no longer maps to a client).
        let old = session.peer.clone();
        log::warn!("{id}: connected from {peer}, taking the session over from {old}");
        let disconnect = Message::Disconnect(Disconnect { duration: None });
        translator.send(&old, &disconnect, actions);
        rebind(translator, &id, peer);
    }
    if was == ClientState::AwaitingBroker {
        // A retransmitted CONNECT while the broker is being asked, or a take-over during it:
        // the answer is on its way, and goes to the client's address as it is now.
        return;
    }
    rebind(translator, &id, peer);
    if connect.clean_session {
        // [SN-6.3-2] [SN-6.3-3] A clean session starts from nothing, will included.
        clean(translator, &id, actions);
    }
    let Some(session) = translator.sessions.get_mut(&id) else {
        return;
    };
    session.clean_session = connect.clean_session;
    if !connect.clean_session
        && (moved || matches!(was, ClientState::Disconnected | ClientState::Lost))
    {
        // A kept session taken up again after a DISCONNECT or a loss, or by a node at another
        // address: the client may have restarted and no longer know its topic ids. (A
        // sleeping client that connects again never left, and keeps them [SN-6.14-14].)
        session.rejoin();
    }
    session.keep_alive = std::time::Duration::from_secs(connect.duration.into());
    session.last_heard = now;
    session.away_since = None;
    session.prompt_retries = 0;
    if connect.will {
        // [SN-6.2-2] [SN-6.3-4] Ask for the will; the new one replaces the stored one.
        set_state(translator, &id, ClientState::AwaitingWillTopic);
        translator.send_to(&id, &Message::WillTopicReq, actions);
    } else {
        // [SN-6.2-3] [SN-6.3-5]
        open(translator, now, &id, actions);
    }
}

/// Removes what a clean session discards, including the broker side of its subscriptions.
pub(super) fn clean(translator: &mut Translator, id: &str, actions: &mut Vec<Action>) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let filters: Vec<String> = session
        .subscriptions
        .iter()
        .map(|s| s.filter.clone())
        .collect();
    session.clear();
    translator.retired.retain(|_, owner| owner != id);
    let old_conn = session.conn.take();
    if let Some(conn) = old_conn {
        translator.owners.remove(&conn);
        actions.push(Action::Disconnect(conn));
    }
    if translator.config.kind == GatewayKind::Aggregating {
        for filter in filters {
            subscriptions::release(translator, &filter, actions);
        }
    }
}

/// The last step of the connection set-up: the broker side, then CONNACK.
pub(super) fn open(translator: &mut Translator, now: Instant, id: &str, actions: &mut Vec<Action>) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    match translator.config.kind {
        GatewayKind::Transparent if session.conn.is_none() => {
            // [SN-4.1-1] One MQTT connection per client, under the client's own id.
            let conn = ConnId(translator.next_conn);
            translator.next_conn += 1;
            session.conn = Some(conn);
            translator.owners.insert(conn, id.to_string());
            let request = ConnectRequest {
                client_id: id.to_string(),
                clean_session: session.clean_session,
                keep_alive: session.keep_alive.max(translator.config.broker_keep_alive),
            };
            actions.push(Action::Connect(conn, request));
            set_state(translator, id, ClientState::AwaitingBroker);
        }
        GatewayKind::Aggregating if !translator.gateway_up => {
            // [SN-6.2-4] No broker, no connection: the client is told to wait.
            translator.send_to(id, &connack(ReturnCode::Congestion), actions);
            disconnect(translator, now, id, false, actions);
        }
        // Aggregating with the broker up, or transparent with the client's connection still
        // open (a sleeping client connecting again without a clean session).
        _ => accept(translator, now, id, actions),
    }
}

pub(super) fn accept(
    translator: &mut Translator,
    now: Instant,
    id: &str,
    actions: &mut Vec<Action>,
) {
    translator.send_to(id, &connack(ReturnCode::Accepted), actions);
    set_state(translator, id, ClientState::Active);
    if let Some(session) = translator.sessions.get_mut(id) {
        session.last_heard = now;
        // A client that reconnects with messages kept from its sleep gets them now.
        let mut out = Vec::new();
        session.resend_inflight(now, &mut out);
        translator.send_out(id, out, actions);
    }
    translator.pump(now, id, actions);
}

pub(super) fn connected_message(
    translator: &mut Translator,
    now: Instant,
    id: &str,
    message: Message<'_>,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let state = session.state;
    // [SN-6.14-4] Any message shows the client is alive.
    if state != ClientState::Asleep {
        session.last_heard = now;
    }
    match (state, message) {
        (ClientState::AwaitingWillTopic, Message::WillTopic(will)) => {
            match will {
                // [SN-6.3-6] An empty WILLTOPIC deletes the will; there is no message to ask.
                WillTopic::Delete => {
                    session.will = None;
                    session.will_message.clear();
                    open(translator, now, id, actions);
                }
                WillTopic::Set { qos, retain, topic } => {
                    session.will = Some((topic.as_str().to_string(), mqtt_qos(qos), retain));
                    session.prompt_retries = 0;
                    set_state(translator, id, ClientState::AwaitingWillMsg);
                    translator.send_to(id, &Message::WillMsgReq, actions);
                }
            }
        }
        (ClientState::AwaitingWillMsg, Message::WillMsg(will)) => {
            session.will_message = will.message.to_vec();
            open(translator, now, id, actions);
        }
        (ClientState::AwaitingWillTopic | ClientState::AwaitingWillMsg, _) => {
            log::debug!("{id}: unexpected message during the will dialogue, ignored");
        }
        (ClientState::AwaitingBroker, _) => {
            log::debug!("{id}: message before CONNACK, ignored");
        }
        (ClientState::Disconnected | ClientState::Lost, message) => {
            let peer = session.peer.clone();
            translator.unknown(&peer, &message, actions);
        }
        (_, message) => translator.session_message(now, id, message, actions),
    }
}

pub(super) fn set_state(translator: &mut Translator, id: &str, state: ClientState) {
    if let Some(session) = translator.sessions.get_mut(id)
        && session.state != state
    {
        log::info!("{id} ({}): {} -> {state}", session.peer, session.state);
        session.state = state;
    }
}

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

/// WILLTOPICUPD from a connected client.
pub(super) fn will_topic_update(
    translator: &mut Translator,
    id: &str,
    will: WillTopic<'_>,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    match will {
        // [SN-6.4-4] An empty WILLTOPICUPD deletes topic and message.
        WillTopic::Delete => {
            session.will = None;
            session.will_message.clear();
        }
        // [SN-6.4-1] [SN-6.4-3] The topic alone is replaced.
        WillTopic::Set { qos, retain, topic } => {
            session.will = Some((topic.as_str().to_string(), mqtt_qos(qos), retain));
        }
    }
    // [SN-6.4-2] [SN-5.4.24-1]
    let resp = Message::WillTopicResp(WillResp {
        return_code: ReturnCode::Accepted,
    });
    translator.send_to(id, &resp, actions);
}

/// WILLMSGUPD from a connected client.
pub(super) fn will_message_update(
    translator: &mut Translator,
    id: &str,
    will: &WillMsg<'_>,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    session.will_message = will.message.to_vec();
    // [SN-6.4-2] [SN-5.4.25-1]
    let resp = Message::WillMsgResp(WillResp {
        return_code: ReturnCode::Accepted,
    });
    translator.send_to(id, &resp, actions);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mqtt_client::QoS;
    use mqttsn_codec::{ClientId, MsgId, MsgType, PubAck, QoS as SnQoS, TopicId, TopicName};

    use super::super::harness::*;
    use super::*;
    use crate::action::BrokerEvent;
    use crate::session::tolerance;

    #[test]
    fn will_dialogue_then_broker_then_connack_sn_6_2_2() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let actions = h.from(
            1,
            Message::Connect(Connect {
                will: true,
                clean_session: true,
                duration: 30,
                client_id: ClientId::new("c1").expect("valid"),
            }),
        );
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::WillTopicReq]);
        assert_eq!(h.state("c1"), Some(ClientState::AwaitingWillTopic));
        let actions = h.from(
            1,
            Message::WillTopic(WillTopic::Set {
                qos: SnQoS::AtLeastOnce,
                retain: true,
                topic: TopicName::new("wills/c1").expect("valid"),
            }),
        );
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::WillMsgReq]);
        let actions = h.from(1, Message::WillMsg(WillMsg { message: b"gone" }));
        let [Action::Connect(conn, request)] = &actions[..] else {
            panic!("expected a broker connection, got {actions:?}");
        };
        assert_eq!(request.client_id, "c1");
        assert_eq!(h.state("c1"), Some(ClientState::AwaitingBroker));
        let actions = h.broker(BrokerEvent::Connected(*conn));
        let (to, connack) = &sent(&actions)[0];
        assert_eq!(*to, node(1));
        assert_eq!(
            Message::decode(connack),
            Ok(connack_msg(ReturnCode::Accepted))
        );
        assert_eq!(h.state("c1"), Some(ClientState::Active));

        // [SN-6.14-4] Silent past the keep-alive (with [SN-7.2-2]'s tolerance): lost, will out.
        let limit = tolerance(Duration::from_secs(30));
        assert!(h.advance(limit - SECOND).is_empty());
        let actions = h.advance(SECOND);
        assert!(actions.contains(&Action::Publish {
            conn: ConnId::GATEWAY,
            topic: "wills/c1".into(),
            payload: b"gone".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            ack: None,
        }));
        assert!(actions.contains(&Action::Disconnect(*conn)));
        assert_eq!(h.translator.stats().lost, 1);
    }

    #[test]
    fn will_prompts_are_retransmitted_then_given_up_sn_6_13_1() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.from(
            1,
            Message::Connect(Connect {
                will: true,
                clean_session: false,
                duration: 30,
                client_id: ClientId::new("c1").expect("valid"),
            }),
        );
        for _ in 0..3 {
            let actions = h.advance(h.translator.config().retry_interval);
            assert_eq!(types(&actions), [mqttsn_codec::MsgType::WillTopicReq]);
        }
        assert!(types(&h.advance(h.translator.config().retry_interval)).is_empty());
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
    }

    #[test]
    fn a_transparent_connection_the_broker_refuses_is_congestion_sn_6_2_4() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let actions = h.from(
            1,
            Message::Connect(Connect {
                will: false,
                clean_session: true,
                duration: 30,
                client_id: ClientId::new("c1").expect("valid"),
            }),
        );
        let [Action::Connect(conn, _)] = &actions[..] else {
            panic!("{actions:?}");
        };
        let actions = h.broker(BrokerEvent::Lost(*conn));
        let (_, datagram) = &sent(&actions)[0];
        assert_eq!(
            Message::decode(datagram),
            Ok(connack_msg(ReturnCode::Congestion))
        );
        assert_eq!(h.state("c1"), None, "a clean session is forgotten");
    }

    #[test]
    fn an_aggregating_gateway_without_broker_answers_congestion_sn_6_2_4() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.broker(BrokerEvent::Lost(ConnId::GATEWAY));
        let actions = h.from(
            1,
            Message::Connect(Connect {
                will: false,
                clean_session: true,
                duration: 30,
                client_id: ClientId::new("c1").expect("valid"),
            }),
        );
        let (_, datagram) = &sent(&actions)[0];
        assert_eq!(
            Message::decode(datagram),
            Ok(connack_msg(ReturnCode::Congestion))
        );
    }

    #[test]
    fn will_updates_sn_6_4_1_to_4() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 10);
        let actions = h.from(
            1,
            Message::WillTopicUpd(WillTopic::Set {
                qos: SnQoS::AtMostOnce,
                retain: false,
                topic: TopicName::new("w/t").expect("valid"),
            }),
        );
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::WillTopicResp]);
        let actions = h.from(1, Message::WillMsgUpd(WillMsg { message: b"bye" }));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::WillMsgResp]);
        let actions = h.advance(Duration::from_secs(15));
        assert!(actions.iter().any(|a| matches!(a, Action::Publish { topic, payload, .. } if topic == "w/t" && payload == b"bye")));

        // An empty WILLTOPICUPD deletes the will: nothing is published when lost.
        h.connect(1, "c1", false, 10);
        h.from(1, Message::WillTopicUpd(WillTopic::Delete));
        let actions = h.advance(Duration::from_secs(15));
        assert_eq!(h.state("c1"), Some(ClientState::Lost));
        assert!(!actions.iter().any(|a| matches!(a, Action::Publish { .. })));
    }

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

    /// The datagrams sent to node `n`, decoded to their types.
    fn types_to(actions: &[Action], n: u16) -> Vec<MsgType> {
        sent(actions)
            .iter()
            .filter(|(to, _)| *to == node(n))
            .map(|(_, d)| Message::decode(d).expect("valid").msg_type())
            .collect()
    }

    fn connect_from(h: &mut Harness, n: u16, id: &str, clean: bool) -> Vec<Action> {
        h.from(
            n,
            Message::Connect(Connect {
                will: false,
                clean_session: clean,
                duration: 30,
                client_id: ClientId::new(id).expect("valid"),
            }),
        )
    }

    #[test]
    fn a_second_node_with_the_same_client_id_takes_over_aggregating_mqtt_3_1_4_2() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "twin", false, 30);
        h.subscribe(1, name("t/a"), SnQoS::AtMostOnce);
        let actions = connect_from(&mut h, 2, "twin", false);
        // The old node is told; the new one is connected, with the session kept.
        assert_eq!(types_to(&actions, 1), [MsgType::Disconnect]);
        assert_eq!(types_to(&actions, 2), [MsgType::ConnAck]);
        assert_eq!(h.state("twin"), Some(ClientState::Active));
        // The new node may not know the old one's topic ids: REGISTER first [SN-6.10-2].
        let actions = h.message(ConnId::GATEWAY, "t/a", QoS::AtMostOnce);
        assert_eq!(types_to(&actions, 2), [MsgType::Register]);
        assert!(types_to(&actions, 1).is_empty());
        assert_eq!(types_to(&h.regack(2, &actions), 2), [MsgType::Publish]);
        // [SN-5.4.21-2] Whatever the old node sends now is answered with DISCONNECT.
        let actions = h.from(
            1,
            Message::PingReq(mqttsn_codec::PingReq { client_id: None }),
        );
        assert_eq!(types_to(&actions, 1), [MsgType::Disconnect]);
        assert_eq!(h.state("twin"), Some(ClientState::Active));
    }

    #[test]
    fn a_second_node_with_the_same_client_id_takes_over_transparent_mqtt_3_1_4_2() {
        let mut h = Harness::new(GatewayKind::Transparent);
        h.connect(1, "twin", true, 30);
        let old = h.translator.sessions["twin"].conn.expect("a connection");
        let actions = connect_from(&mut h, 2, "twin", true);
        assert_eq!(types_to(&actions, 1), [MsgType::Disconnect]);
        assert!(actions.contains(&Action::Disconnect(old)));
        let Some(Action::Connect(new, request)) =
            actions.iter().find(|a| matches!(a, Action::Connect(..)))
        else {
            panic!("a new broker connection, got {actions:?}");
        };
        assert_eq!(request.client_id, "twin");
        let actions = h.broker(BrokerEvent::Connected(*new));
        assert_eq!(types_to(&actions, 2), [MsgType::ConnAck]);
        // The broker's own take-over ends the old connection: that is no news for the client.
        assert!(h.broker(BrokerEvent::Lost(old)).is_empty());
        assert_eq!(h.state("twin"), Some(ClientState::Active));
    }

    #[test]
    fn a_take_over_while_the_broker_is_asked_answers_the_new_node() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let actions = connect_from(&mut h, 1, "twin", true);
        let [Action::Connect(conn, _)] = &actions[..] else {
            panic!("{actions:?}");
        };
        // The same node retransmitting its CONNECT changes nothing.
        assert!(connect_from(&mut h, 1, "twin", true).is_empty());
        let actions = connect_from(&mut h, 2, "twin", true);
        assert_eq!(types(&actions), [MsgType::Disconnect]);
        assert_eq!(sent(&actions)[0].0, node(1));
        let actions = h.broker(BrokerEvent::Connected(*conn));
        assert_eq!(types_to(&actions, 2), [MsgType::ConnAck]);
    }

    #[test]
    fn a_disconnected_session_is_resumed_from_a_new_address_without_a_word_to_the_old() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "mover", false, 30);
        h.from(1, Message::Disconnect(Disconnect { duration: None }));
        let actions = connect_from(&mut h, 2, "mover", false);
        assert!(types_to(&actions, 1).is_empty());
        assert_eq!(types_to(&actions, 2), [MsgType::ConnAck]);
    }
}

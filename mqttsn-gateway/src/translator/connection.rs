//! Connection set-up: CONNECT and the will dialogue (§6.2, §6.3), a client id taken over from
//! another address, and the broker side opened before CONNACK. How a connection ends is in
//! `disconnection.rs`; will updates while connected in `will.rs`.
//!
//! What happens to the broker side follows from the gateway kind: a transparent client gets its
//! own MQTT connection under its own client id [SN-4.1-1]; an aggregating one rides on the
//! gateway's shared connection [SN-4.2-1].

use std::time::Instant;

use mqttsn_codec::{ConnAck, Connect, Disconnect, Message, ReturnCode, WillTopic};

use super::disconnection::disconnect;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mqtt_client::QoS;
    use mqttsn_codec::{ClientId, MsgType, QoS as SnQoS, TopicName, WillMsg};

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

//! Registration and publishing, both ways: the client's REGISTER and the gateway's (§6.5, §6.10),
//! PUBLISH at QoS -1 (§6.8), 0, 1 and 2 (§6.6), with normal, predefined and short topic ids (§6.7).
//!
//! From a client, a PUBLISH becomes an MQTT publication on the client's connection (transparent) or
//! the gateway's (aggregating); its QoS 1 or 2 answer waits for the broker's acknowledgement
//! (`broker.rs` sends it). Towards a client, a broker message is matched against the client's
//! subscriptions and queued in its session, which sends one message needing an answer at a time
//! (`session.rs`); the client's PUBACK, PUBREC, PUBCOMP and REGACK move that queue on.

use std::time::Instant;

use mqtt_client::QoS;
use mqttsn_codec::{
    Message, PubAck, PubComp, PubRec, PubRel, Publish, PublishTopic, QoS as SnQoS, RegAck,
    Register, ReturnCode, TopicId,
};

use super::Translator;
use crate::action::{Ack, AckKind, Action, ConnId, Peer};
use crate::config::GatewayKind;
use crate::session::{Delivery, mqtt_qos};

/// The client's REGISTER.
pub(super) fn client_register(
    translator: &mut Translator,
    id: &str,
    register: &Register<'_>,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    // [SN-6.5-2] A fresh id (or the one already given) in REGACK.
    let (topic_id, return_code) = match session.registry.assign(register.topic_name.as_str()) {
        Some(topic_id) => {
            // The REGACK tells the client the id.
            session.registry.tell(topic_id);
            (topic_id, ReturnCode::Accepted)
        }
        None => (TopicId::UNASSIGNED, ReturnCode::Congestion),
    };
    let regack = Message::RegAck(RegAck {
        topic_id,
        msg_id: register.msg_id,
        return_code,
    });
    translator.send_to(id, &regack, actions);
}

/// The client's REGACK for the gateway's REGISTER.
pub(super) fn client_regack(
    translator: &mut Translator,
    now: Instant,
    id: &str,
    regack: &RegAck,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let mut out = Vec::new();
    session.on_regack(
        regack.msg_id,
        regack.return_code == ReturnCode::Accepted,
        now,
        &mut out,
    );
    translator.send_out(id, out, actions);
    translator.pump(now, id, actions);
}

/// The client's PUBACK for a QoS 1 PUBLISH of the gateway's.
pub(super) fn client_puback(
    translator: &mut Translator,
    now: Instant,
    id: &str,
    puback: &PubAck,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let mut out = Vec::new();
    session.on_puback(
        puback.msg_id,
        puback.topic_id,
        puback.return_code == ReturnCode::InvalidTopicId,
        now,
        &mut out,
    );
    translator.send_out(id, out, actions);
    translator.pump(now, id, actions);
}

/// The client's PUBREC for a QoS 2 PUBLISH of the gateway's.
pub(super) fn client_pubrec(
    translator: &mut Translator,
    now: Instant,
    id: &str,
    pubrec: &PubRec,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let mut out = Vec::new();
    session.on_pubrec(pubrec.msg_id, now, &mut out);
    translator.send_out(id, out, actions);
}

/// The client's PUBCOMP for the gateway's PUBREL.
pub(super) fn client_pubcomp(
    translator: &mut Translator,
    now: Instant,
    id: &str,
    pubcomp: &PubComp,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    session.on_pubcomp(pubcomp.msg_id);
    translator.pump(now, id, actions);
}

/// The client's PUBREL, the end of its QoS 2 flow.
pub(super) fn client_pubrel(
    translator: &mut Translator,
    id: &str,
    pubrel: &PubRel,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    // [SN-5.4.14-1] PUBCOMP even for an unknown id, as MQTT does, so that a client that lost
    // our first PUBCOMP can finish.
    session.qos2_received.remove(&pubrel.msg_id.0);
    let pubcomp = Message::PubComp(PubComp {
        msg_id: pubrel.msg_id,
    });
    translator.send_to(id, &pubcomp, actions);
}

/// The topic name a client's PUBLISH names, if it names one the gateway knows.
pub(super) fn topic_name(
    translator: &Translator,
    client: Option<&str>,
    topic: PublishTopic,
) -> Option<String> {
    match topic {
        PublishTopic::Normal(id) => client
            .and_then(|c| translator.sessions.get(c))
            .and_then(|s| s.registry.name(id))
            .map(str::to_string),
        PublishTopic::Predefined(id) => translator
            .config
            .predefined
            .name(client, id.0)
            .map(str::to_string),
        PublishTopic::Short(short) => Some(short.as_str().to_string()),
    }
}

pub(super) fn publish_minus_one(
    translator: &mut Translator,
    peer: &Peer,
    publish: &Publish<'_>,
    actions: &mut Vec<Action>,
) {
    if !translator.config.qos_minus_one {
        log::debug!("{peer}: QoS -1 PUBLISH dropped: QoS-1 is turned off");
        return;
    }
    let client = translator.peers.get(peer).cloned();
    let Some(topic) = topic_name(translator, client.as_deref(), publish.topic) else {
        // [SN-6.7-3] An unknown predefined id.
        log::info!("{peer}: QoS -1 PUBLISH on an unknown topic id dropped");
        let puback = Message::PubAck(PubAck {
            topic_id: TopicId(u16::from_be_bytes(publish.topic.to_array())),
            msg_id: publish.msg_id,
            return_code: ReturnCode::InvalidTopicId,
        });
        translator.send(peer, &puback, actions);
        return;
    };
    // [SN-7.1-1] QoS -1 goes out on the gateway's own connection, at QoS 0.
    actions.push(Action::Publish {
        conn: ConnId::GATEWAY,
        topic,
        payload: publish.data.to_vec(),
        qos: QoS::AtMostOnce,
        retain: publish.retain,
        ack: None,
    });
}

pub(super) fn client_publish(
    translator: &mut Translator,
    id: &str,
    publish: &Publish<'_>,
    actions: &mut Vec<Action>,
) {
    let topic_id = TopicId(u16::from_be_bytes(publish.topic.to_array()));
    let Some(topic) = topic_name(translator, Some(id), publish.topic) else {
        // [SN-6.6-3] [SN-6.7-3] Whatever the QoS, an unknown id is refused with PUBACK.
        let puback = Message::PubAck(PubAck {
            topic_id,
            msg_id: publish.msg_id,
            return_code: ReturnCode::InvalidTopicId,
        });
        translator.send_to(id, &puback, actions);
        return;
    };
    let conn = conn_for(translator, id);
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let ack = match publish.qos {
        SnQoS::AtMostOnce | SnQoS::MinusOne => None,
        SnQoS::AtLeastOnce => Some(AckKind::PubAck {
            msg_id: publish.msg_id,
            topic_id,
        }),
        SnQoS::ExactlyOnce => {
            if !session.qos2_received.insert(publish.msg_id.0) {
                // A retransmission of a QoS 2 PUBLISH already forwarded: answer, do not
                // forward again [SN-6.6-2].
                let pubrec = Message::PubRec(PubRec {
                    msg_id: publish.msg_id,
                });
                translator.send_to(id, &pubrec, actions);
                return;
            }
            Some(AckKind::PubRec {
                msg_id: publish.msg_id,
            })
        }
    };
    actions.push(Action::Publish {
        conn,
        topic,
        payload: publish.data.to_vec(),
        qos: mqtt_qos(publish.qos),
        retain: publish.retain,
        ack: ack.map(|kind| Ack {
            client: id.to_string(),
            conn,
            kind,
        }),
    });
}

/// The broker connection a client's requests go to.
pub(super) fn conn_for(translator: &Translator, id: &str) -> ConnId {
    match translator.config.kind {
        GatewayKind::Aggregating => ConnId::GATEWAY,
        GatewayKind::Transparent => translator
            .sessions
            .get(id)
            .and_then(|s| s.conn)
            .unwrap_or(ConnId::GATEWAY),
    }
}

pub(super) fn broker_message(
    translator: &mut Translator,
    now: Instant,
    conn: ConnId,
    delivery: Delivery,
    actions: &mut Vec<Action>,
) {
    let targets: Vec<String> = match (translator.config.kind, translator.owners.get(&conn)) {
        (GatewayKind::Transparent, Some(owner)) => vec![owner.clone()],
        (GatewayKind::Transparent, None) => match translator.retired.get(&conn) {
            Some(owner) => vec![owner.clone()],
            None => return,
        },
        (GatewayKind::Aggregating, _) => {
            // A retained message is the answer to one node's SUBSCRIBE (see `Retained`): it
            // goes to the subscriptions that asked for it. One no subscription asked for (a
            // broker that sets the flag on live messages) goes to every match, as any other.
            let asked: Vec<String> = if delivery.retain {
                translator
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.wants_retained(&delivery.topic))
                    .map(|(id, _)| id.clone())
                    .collect()
            } else {
                Vec::new()
            };
            if asked.is_empty() {
                translator.sessions.keys().cloned().collect()
            } else {
                asked
            }
        }
    };
    for id in targets {
        let Some(session) = translator.sessions.get_mut(&id) else {
            continue;
        };
        let Some(qos) = session.matching_qos(&delivery.topic, delivery.qos) else {
            continue;
        };
        // In the aggregating kind the broker keeps nothing for a client that is away: the
        // gateway keeps its QoS 1 and 2 messages itself, in the same bounded queue a sleeping
        // client uses. (A transparent client's own connection is closed while it is away and its
        // broker session keeps them; only what was already on its way comes here.)
        if !session.takes(qos) {
            continue;
        }
        let copy = Delivery {
            qos,
            ..delivery.clone()
        };
        if !session.enqueue(copy, translator.config.max_buffered) {
            translator.stats.dropped += 1;
            log::warn!(
                "{id}: buffer full ({} messages), message on {} dropped ({} so far)",
                translator.config.max_buffered,
                delivery.topic,
                session.dropped
            );
        }
        translator.pump(now, &id, actions);
    }
}

#[cfg(test)]
mod tests {
    use mqttsn_codec::{MsgId, ShortTopicName, SubscribeTopic, TopicName};

    use super::super::harness::*;
    use super::*;
    use crate::action::{BrokerEvent, Outcome};
    use crate::session::ClientState;

    /// The broker's SUBACK has not come yet, so the client has not been given the id of its
    /// subscription: a message on the topic is preceded by a REGISTER of that id, never sent
    /// under an id the client cannot map [SN-6.10-1] [SN-6.10-2].
    #[test]
    fn a_message_before_the_suback_is_registered_first_sn_6_10_1() {
        for kind in [GatewayKind::Aggregating, GatewayKind::Transparent] {
            let mut h = Harness::new(kind);
            h.connect(1, "c1", true, 30);
            let actions = h.from(
                1,
                Message::Subscribe(mqttsn_codec::Subscribe {
                    dup: false,
                    qos: SnQoS::AtLeastOnce,
                    msg_id: MsgId(1),
                    topic: name("s/t"),
                }),
            );
            assert!(sent(&actions).is_empty(), "the SUBACK waits for the broker");
            let (conn, ack) = actions
                .iter()
                .find_map(|a| match a {
                    Action::Subscribe {
                        conn,
                        ack: Some(ack),
                        ..
                    } => Some((*conn, ack.clone())),
                    _ => None,
                })
                .expect("a broker SUBSCRIBE");
            let early = h.message(conn, "s/t", QoS::AtLeastOnce);
            assert_eq!(types(&early), [mqttsn_codec::MsgType::Register], "{kind:?}");
            let actions = h.broker(BrokerEvent::Done(
                ack,
                Outcome::Done(Some(QoS::AtLeastOnce)),
            ));
            let datagram = sent(&actions).swap_remove(0).1;
            let Ok(Message::SubAck(suback)) = Message::decode(&datagram) else {
                panic!("SUBACK");
            };
            let actions = h.regack(1, &early);
            let datagram = sent(&actions).swap_remove(0).1;
            let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
                panic!("PUBLISH after the REGACK");
            };
            assert_eq!(publish.topic, PublishTopic::Normal(suback.topic_id));
        }
    }

    /// [SN-6.10-7] A client that answers "invalid topic id" is sent a REGISTER and then the same
    /// message again, not dropped; a second refusal after an accepted REGISTER drops it.
    #[test]
    fn an_invalid_topic_id_answer_registers_and_resends_sn_6_10_7() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        h.subscribe(1, name("s/t"), SnQoS::AtLeastOnce);
        let refuse = |h: &mut Harness, actions: &[Action]| {
            let datagram = sent(actions).swap_remove(0).1;
            let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
                panic!("PUBLISH");
            };
            let PublishTopic::Normal(topic_id) = publish.topic else {
                panic!("a normal id");
            };
            let answer = h.from(
                1,
                Message::PubAck(PubAck {
                    topic_id,
                    msg_id: publish.msg_id,
                    return_code: ReturnCode::InvalidTopicId,
                }),
            );
            (publish.msg_id, answer)
        };
        let actions = h.message(ConnId::GATEWAY, "s/t", QoS::AtLeastOnce);
        let (msg_id, actions) = refuse(&mut h, &actions);
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::Register]);
        let actions = h.regack(1, &actions);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(again)) = Message::decode(&datagram) else {
            panic!("the same PUBLISH again");
        };
        assert_eq!((again.msg_id, again.dup), (msg_id, true));
        let (_, actions) = refuse(&mut h, &actions);
        assert!(sent(&actions).is_empty(), "refused twice: dropped");
        // Nothing is left in flight: the next message goes out (registered first again).
        let actions = h.message(ConnId::GATEWAY, "s/t", QoS::AtLeastOnce);
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::Register]);
    }

    #[test]
    fn wildcard_subscription_registers_before_publishing_sn_6_9_3_sn_6_10_4() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        let actions = h.subscribe(1, name("a/+"), SnQoS::AtMostOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::SubAck(suback)) = Message::decode(&datagram) else {
            panic!("SUBACK");
        };
        assert_eq!(suback.topic_id, TopicId::UNASSIGNED);
        let actions = h.message(ConnId::GATEWAY, "a/b", QoS::AtMostOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Register(register)) = Message::decode(&datagram) else {
            panic!("REGISTER first");
        };
        assert_eq!(register.topic_name.as_str(), "a/b");
        // A second message waits behind the REGACK.
        assert!(sent(&h.message(ConnId::GATEWAY, "a/b", QoS::AtMostOnce)).is_empty());
        let actions = h.from(
            1,
            Message::RegAck(RegAck {
                topic_id: register.topic_id,
                msg_id: register.msg_id,
                return_code: ReturnCode::Accepted,
            }),
        );
        assert_eq!(
            types(&actions),
            [
                mqttsn_codec::MsgType::Publish,
                mqttsn_codec::MsgType::Publish
            ]
        );
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert_eq!(publish.topic, PublishTopic::Normal(register.topic_id));
    }

    #[test]
    fn unacknowledged_publish_is_retransmitted_with_dup_then_the_client_is_lost_sn_6_13_1() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 0);
        h.subscribe(1, name("t/1"), SnQoS::ExactlyOnce);
        let actions = h.message(ConnId::GATEWAY, "t/1", QoS::ExactlyOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(first)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert!(!first.dup);
        let retry = h.translator.config().retry_interval;
        for _ in 0..3 {
            let actions = h.advance(retry);
            let datagram = sent(&actions).swap_remove(0).1;
            let Ok(Message::Publish(again)) = Message::decode(&datagram) else {
                panic!("PUBLISH again");
            };
            // [SN-5.3.4-1]
            assert!(again.dup);
            assert_eq!(again.msg_id, first.msg_id);
        }
        h.advance(retry);
        assert_eq!(h.state("c1"), Some(ClientState::Lost));
    }

    #[test]
    fn qos_2_towards_the_client_goes_through_pubrel() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        h.subscribe(1, name("t/1"), SnQoS::ExactlyOnce);
        let actions = h.message(ConnId::GATEWAY, "t/1", QoS::ExactlyOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        let actions = h.from(
            1,
            Message::PubRec(PubRec {
                msg_id: publish.msg_id,
            }),
        );
        assert_eq!(
            Message::decode(&sent(&actions)[0].1),
            Ok(Message::PubRel(mqttsn_codec::PubRel {
                msg_id: publish.msg_id
            }))
        );
        h.from(
            1,
            Message::PubComp(PubComp {
                msg_id: publish.msg_id,
            }),
        );
        // The window is free: the next message goes at once.
        assert_eq!(
            sent(&h.message(ConnId::GATEWAY, "t/1", QoS::ExactlyOnce)).len(),
            1
        );
    }

    #[test]
    fn client_qos_2_is_forwarded_once_and_answered_after_the_broker() {
        let mut h = Harness::new(GatewayKind::Transparent);
        h.connect(1, "c1", true, 30);
        let register = |h: &mut Harness| {
            h.from(
                1,
                Message::Register(Register {
                    topic_id: TopicId::UNASSIGNED,
                    msg_id: MsgId(1),
                    topic_name: TopicName::new("q/2").expect("valid"),
                }),
            )
        };
        let Ok(Message::RegAck(regack)) = Message::decode(&sent(&register(&mut h))[0].1) else {
            panic!("REGACK");
        };
        // [SN-6.5-2] Registering the same name again gives the same id.
        let Ok(Message::RegAck(again)) = Message::decode(&sent(&register(&mut h))[0].1) else {
            panic!("REGACK");
        };
        assert_eq!(again.topic_id, regack.topic_id);
        let publish = Message::Publish(Publish {
            dup: false,
            qos: SnQoS::ExactlyOnce,
            retain: false,
            topic: PublishTopic::Normal(regack.topic_id),
            msg_id: MsgId(9),
            data: b"x",
        });
        let actions = h.from(1, publish);
        let [
            Action::Publish {
                ack: Some(ack),
                topic,
                ..
            },
        ] = &actions[..]
        else {
            panic!("{actions:?}");
        };
        assert_eq!(topic, "q/2");
        // A retransmission before the broker answered is not forwarded again.
        let actions = h.from(1, publish);
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::PubRec]);
        let actions = h.broker(BrokerEvent::Done(ack.clone(), Outcome::Done(None)));
        assert_eq!(
            Message::decode(&sent(&actions)[0].1),
            Ok(Message::PubRec(PubRec { msg_id: MsgId(9) }))
        );
        let actions = h.from(
            1,
            Message::PubRel(mqttsn_codec::PubRel { msg_id: MsgId(9) }),
        );
        assert_eq!(
            Message::decode(&sent(&actions)[0].1),
            Ok(Message::PubComp(PubComp { msg_id: MsgId(9) }))
        );
    }

    #[test]
    fn unknown_topic_ids_are_refused_whatever_the_qos_sn_6_6_3_sn_6_7_3() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        for topic in [
            PublishTopic::Normal(TopicId(42)),
            PublishTopic::Predefined(TopicId(42)),
        ] {
            let actions = h.from(
                1,
                Message::Publish(Publish {
                    dup: false,
                    qos: SnQoS::AtMostOnce,
                    retain: false,
                    topic,
                    msg_id: MsgId::NONE,
                    data: b"x",
                }),
            );
            let datagram = sent(&actions).swap_remove(0).1;
            let Ok(Message::PubAck(puback)) = Message::decode(&datagram) else {
                panic!("PUBACK");
            };
            assert_eq!(puback.return_code, ReturnCode::InvalidTopicId);
            assert_eq!(puback.topic_id, TopicId(42));
        }
        let actions = h.subscribe(
            1,
            SubscribeTopic::Predefined(TopicId(42)),
            SnQoS::AtMostOnce,
        );
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::SubAck(suback)) = Message::decode(&datagram) else {
            panic!("SUBACK");
        };
        assert_eq!(suback.return_code, ReturnCode::InvalidTopicId);
    }

    #[test]
    fn predefined_and_short_topics_both_ways_sn_6_7_2_sn_6_7_6() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        // A per-client predefined id.
        let actions = h.subscribe(1, SubscribeTopic::Predefined(TopicId(8)), SnQoS::AtMostOnce);
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Subscribe { filter, .. } if filter == "pre/c1/eight"))
        );
        let short = ShortTopicName::new("ab").expect("valid");
        h.subscribe(1, SubscribeTopic::Short(short), SnQoS::AtMostOnce);
        let actions = h.message(ConnId::GATEWAY, "pre/c1/eight", QoS::AtMostOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert_eq!(publish.topic, PublishTopic::Predefined(TopicId(8)));
        let actions = h.message(ConnId::GATEWAY, "ab", QoS::AtMostOnce);
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
            panic!("PUBLISH");
        };
        assert_eq!(publish.topic, PublishTopic::Short(short));
    }

    #[test]
    fn qos_minus_one_from_a_stranger_sn_6_8_1() {
        let mut h = Harness::new(GatewayKind::Transparent);
        let publish = |topic| {
            Message::Publish(Publish {
                dup: false,
                qos: SnQoS::MinusOne,
                retain: false,
                topic,
                msg_id: MsgId::NONE,
                data: b"m1",
            })
        };
        let actions = h.from(9, publish(PublishTopic::Predefined(TopicId(7))));
        assert_eq!(
            actions,
            [Action::Publish {
                conn: ConnId::GATEWAY,
                topic: "pre/seven".into(),
                payload: b"m1".to_vec(),
                qos: QoS::AtMostOnce,
                retain: false,
                ack: None
            }]
        );
        // A per-client id is not known to a client that never connected.
        let actions = h.from(9, publish(PublishTopic::Predefined(TopicId(8))));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::PubAck]);
        let short = ShortTopicName::new("zz").expect("valid");
        let actions = h.from(9, publish(PublishTopic::Short(short)));
        assert!(matches!(&actions[..], [Action::Publish { topic, .. }] if topic == "zz"));
    }
}

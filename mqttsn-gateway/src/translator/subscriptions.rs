//! SUBSCRIBE and UNSUBSCRIBE (§6.9), by topic name or filter, predefined id or short name, and the
//! aggregating kind's bookkeeping (§4.2): one broker subscription per filter, shared by every client
//! that holds it and counted, made by the first and removed by the last.
//!
//! In a transparent gateway each request goes to the client's own connection and its SUBACK or
//! UNSUBACK waits for the broker's answer (`broker.rs` sends it). In an aggregating one every
//! SUBSCRIBE goes upstream too, even for a filter already held, so that each new subscriber gets
//! the retained messages (see `session::Retained`); only the first counts, and the last one out
//! unsubscribes.

use mqtt_client::QoS;
use mqttsn_codec::{
    Message, MsgId, QoS as SnQoS, ReturnCode, SubAck, Subscribe, SubscribeTopic, TopicId, UnsubAck,
    Unsubscribe,
};

use super::{Translator, publish};
use crate::action::{Ack, AckKind, Action, ConnId};
use crate::config::GatewayKind;
use crate::session::{Retained, Subscription, SubscriptionKind, mqtt_qos, sn_qos};

/// predefined id.
pub(super) fn subscription_topic(
    translator: &mut Translator,
    id: &str,
    topic: SubscribeTopic<'_>,
) -> Option<(String, TopicId, SubscriptionKind)> {
    match topic {
        SubscribeTopic::Name(filter) => {
            let name = filter.as_str().to_string();
            // [SN-6.9-3] A wildcard filter gets TopicId 0x0000; a plain name gets its id now,
            // which the gateway then publishes with [SN-5.4.16-2] [SN-6.10-1].
            let topic_id = if filter.has_wildcards() {
                TopicId::UNASSIGNED
            } else {
                translator
                    .sessions
                    .get_mut(id)
                    .and_then(|s| s.registry.assign(&name))
                    .unwrap_or(TopicId::UNASSIGNED)
            };
            Some((name, topic_id, SubscriptionKind::Name))
        }
        SubscribeTopic::Predefined(topic_id) => {
            let name = translator.config.predefined.name(Some(id), topic_id.0)?;
            Some((
                name.to_string(),
                topic_id,
                SubscriptionKind::Predefined(topic_id),
            ))
        }
        // [SN-6.7-6] No registration; the TopicId of the SUBACK is not relevant [SN-5.4.16-2].
        SubscribeTopic::Short(short) => Some((
            short.as_str().to_string(),
            TopicId::UNASSIGNED,
            SubscriptionKind::Short(short),
        )),
    }
}

pub(super) fn subscribe(
    translator: &mut Translator,
    id: &str,
    subscribe: &Subscribe<'_>,
    actions: &mut Vec<Action>,
) {
    let requested = mqtt_qos(subscribe.qos);
    let Some((filter, topic_id, kind)) = subscription_topic(translator, id, subscribe.topic) else {
        // [SN-6.7-3] An unknown predefined id.
        let suback = Message::SubAck(SubAck {
            qos: subscribe.qos,
            topic_id: TopicId::UNASSIGNED,
            msg_id: subscribe.msg_id,
            return_code: ReturnCode::InvalidTopicId,
        });
        translator.send_to(id, &suback, actions);
        return;
    };
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let known = session.subscriptions.iter().any(|s| s.filter == filter);
    session.subscriptions.retain(|s| s.filter != filter);
    session.subscriptions.push(Subscription {
        filter: filter.clone(),
        qos: requested,
        kind,
        retained: Retained::Pending,
    });
    let kind = AckKind::SubAck {
        msg_id: subscribe.msg_id,
        topic_id,
        requested,
        filter: filter.clone(),
    };
    match translator.config.kind {
        GatewayKind::Transparent => {
            let conn = publish::conn_for(translator, id);
            actions.push(Action::Subscribe {
                conn,
                filter,
                qos: requested,
                ack: Some(Ack {
                    client: id.to_string(),
                    conn,
                    kind,
                }),
            });
        }
        GatewayKind::Aggregating => {
            // [SN-4.2-1] One broker subscription per filter, shared and counted. It asks for
            // QoS 2 so that each client can be served at the QoS it asked for. A filter
            // already held is subscribed to again all the same: the broker then sends its
            // retained messages, which the new subscriber is owed as a transparent gateway's
            // would be [MQTT-3.3.1-6] [MQTT-3.8.4-3] (see `Retained`).
            let count = translator.shared.entry(filter.clone()).or_insert(0);
            if !known {
                *count += 1;
            }
            actions.push(Action::Subscribe {
                conn: ConnId::GATEWAY,
                filter,
                qos: QoS::ExactlyOnce,
                ack: Some(Ack {
                    client: id.to_string(),
                    conn: ConnId::GATEWAY,
                    kind,
                }),
            });
        }
    }
}

pub(super) fn suback(
    translator: &mut Translator,
    id: &str,
    msg_id: MsgId,
    topic_id: TopicId,
    granted: Option<QoS>,
    actions: &mut Vec<Action>,
) {
    // [SN-5.4.16-1] [SN-6.9-1] An accepted SUBACK tells the client the id; only from now on is
    // it published with [SN-6.10-1].
    if granted.is_some()
        && topic_id != TopicId::UNASSIGNED
        && let Some(session) = translator.sessions.get_mut(id)
    {
        session.registry.tell(topic_id);
    }
    let suback = Message::SubAck(match granted {
        Some(qos) => SubAck {
            qos: sn_qos(qos),
            topic_id,
            msg_id,
            return_code: ReturnCode::Accepted,
        },
        None => SubAck {
            qos: SnQoS::AtMostOnce,
            topic_id,
            msg_id,
            return_code: ReturnCode::NotSupported,
        },
    });
    translator.send_to(id, &suback, actions);
}

pub(super) fn unsubscribe(
    translator: &mut Translator,
    id: &str,
    unsubscribe: &Unsubscribe<'_>,
    actions: &mut Vec<Action>,
) {
    let unsuback = Message::UnsubAck(UnsubAck {
        msg_id: unsubscribe.msg_id,
    });
    let filter = match unsubscribe.topic {
        SubscribeTopic::Name(filter) => filter.as_str().to_string(),
        SubscribeTopic::Predefined(topic_id) => {
            match translator.config.predefined.name(Some(id), topic_id.0) {
                Some(name) => name.to_string(),
                None => {
                    // Nothing to remove; UNSUBACK has no return code [SN-5.4.18-1].
                    translator.send_to(id, &unsuback, actions);
                    return;
                }
            }
        }
        SubscribeTopic::Short(short) => short.as_str().to_string(),
    };
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let had = session.subscriptions.iter().any(|s| s.filter == filter);
    session.subscriptions.retain(|s| s.filter != filter);
    match translator.config.kind {
        GatewayKind::Transparent => {
            let conn = publish::conn_for(translator, id);
            actions.push(Action::Unsubscribe {
                conn,
                filter,
                ack: Some(Ack {
                    client: id.to_string(),
                    conn,
                    kind: AckKind::UnsubAck {
                        msg_id: unsubscribe.msg_id,
                    },
                }),
            });
        }
        GatewayKind::Aggregating => {
            if had {
                release(translator, &filter, actions);
            }
            // [SN-6.9-5]
            translator.send_to(id, &unsuback, actions);
        }
    }
}

/// Aggregating: the broker answered the SUBSCRIBE of `client` for `filter`. The retained
/// messages that follow are that subscription's; every other subscription answered earlier
/// has had all of its own, since the broker sends them before its next SUBACK.
pub(super) fn retained_follow(translator: &mut Translator, client: &str, filter: &str) {
    for (id, session) in &mut translator.sessions {
        for subscription in &mut session.subscriptions {
            if id == client && subscription.filter == filter {
                subscription.retained = Retained::Fresh;
            } else if subscription.retained == Retained::Fresh {
                subscription.retained = Retained::Settled;
            }
        }
    }
}

/// Aggregating: one client fewer holds `filter`; the last one out unsubscribes the gateway.
/// The broker refused (or never answered) a SUBSCRIBE: the client does not hold the filter, so the
/// gateway forgets it too, and an aggregating gateway gives back the share it counted for it (the
/// last share unsubscribes the gateway's connection). Only a subscription still held is released:
/// one already removed by UNSUBSCRIBE or a clean session was released then.
pub(super) fn refused(
    translator: &mut Translator,
    id: &str,
    filter: &str,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let held = session.subscriptions.len();
    session.subscriptions.retain(|s| s.filter != filter);
    if session.subscriptions.len() < held {
        log::info!("{id}: subscription to {filter} refused by the broker");
        if translator.config.kind == GatewayKind::Aggregating {
            release(translator, filter, actions);
        }
    }
}

pub(super) fn release(translator: &mut Translator, filter: &str, actions: &mut Vec<Action>) {
    if let Some(count) = translator.shared.get_mut(filter) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            translator.shared.remove(filter);
            actions.push(Action::Unsubscribe {
                conn: ConnId::GATEWAY,
                filter: filter.to_string(),
                ack: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use super::*;
    use crate::action::Outcome;

    fn retained(h: &mut Harness, topic: &str, retain: bool) -> Vec<Action> {
        h.broker(crate::action::BrokerEvent::Message {
            conn: ConnId::GATEWAY,
            topic: topic.into(),
            payload: b"r".to_vec(),
            qos: QoS::AtMostOnce,
            retain,
        })
    }

    /// Sends node `n`'s SUBSCRIBE to `filter` and answers the broker's SUBACK with `outcome`.
    fn subscribe_answered(h: &mut Harness, n: u16, filter: &str, outcome: Outcome) -> Vec<Action> {
        let actions = h.from(
            n,
            Message::Subscribe(Subscribe {
                dup: false,
                qos: SnQoS::AtMostOnce,
                msg_id: MsgId(7),
                topic: name(filter),
            }),
        );
        let mut all = actions.clone();
        for action in actions {
            if let Action::Subscribe { ack: Some(ack), .. } = action {
                all.extend(h.broker(crate::action::BrokerEvent::Done(ack, outcome)));
            }
        }
        all
    }

    /// A SUBSCRIBE the broker refuses is not held: the client is told so, the gateway forgets the
    /// filter, and an aggregating gateway's count is given back, so the last real holder's
    /// UNSUBSCRIBE still removes the broker subscription (it once stayed counted forever).
    #[test]
    fn a_refused_subscription_is_not_counted_aggregating() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        h.connect(2, "c2", true, 30);
        let actions = subscribe_answered(&mut h, 1, "x/y", Outcome::Failed);
        let refusal = sent(&actions)
            .into_iter()
            .find_map(|(_, d)| match Message::decode(&d) {
                Ok(Message::SubAck(suback)) => Some(suback.return_code),
                _ => None,
            });
        assert_eq!(refusal, Some(ReturnCode::NotSupported));
        assert!(h.translator.sessions["c1"].subscriptions.is_empty());
        assert!(!h.translator.shared.contains_key("x/y"), "nothing counted");
        subscribe_answered(&mut h, 2, "x/y", Outcome::Done(Some(QoS::AtMostOnce)));
        assert_eq!(h.translator.shared.get("x/y"), Some(&1));
        let actions = h.from(
            2,
            Message::Unsubscribe(Unsubscribe {
                msg_id: MsgId(8),
                topic: name("x/y"),
            }),
        );
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Unsubscribe { conn, filter, .. }
                if *conn == ConnId::GATEWAY && filter == "x/y")),
            "the last holder's UNSUBSCRIBE reaches the broker: {actions:?}"
        );
    }

    #[test]
    fn a_refused_subscription_is_forgotten_transparent() {
        let mut h = Harness::new(GatewayKind::Transparent);
        h.connect(1, "c1", true, 30);
        subscribe_answered(&mut h, 1, "x/y", Outcome::Failed);
        assert!(h.translator.sessions["c1"].subscriptions.is_empty());
    }

    /// [MQTT-3.3.1-8] [MQTT-3.8.4-3] A node subscribing to a filter the gateway already holds
    /// still gets its retained messages; the node that held it first does not get them twice.
    #[test]
    fn a_later_subscriber_gets_the_retained_messages_aggregating() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        h.connect(2, "c2", true, 30);
        h.subscribe(1, name("r/t"), SnQoS::AtMostOnce);
        assert_eq!(sent(&retained(&mut h, "r/t", true)).len(), 1, "c1's own");
        let actions = h.subscribe(2, name("r/t"), SnQoS::AtMostOnce);
        assert!(
            actions.iter().any(
                |a| matches!(a, Action::Subscribe { filter, conn, .. } if filter == "r/t" && *conn == ConnId::GATEWAY)
            ),
            "subscribed upstream again"
        );
        let actions = retained(&mut h, "r/t", true);
        let to: Vec<_> = sent(&actions).into_iter().map(|(to, _)| to).collect();
        assert_eq!(to, [node(2)], "only the new subscriber");
        // A live message goes to both.
        assert_eq!(sent(&retained(&mut h, "r/t", false)).len(), 2);
        // A broker that flags a live message as retained after all loses nobody: with no
        // subscription waiting for retained messages of that topic, it goes to every match.
        h.subscribe(1, name("other"), SnQoS::AtMostOnce);
        assert_eq!(sent(&retained(&mut h, "r/t", true)).len(), 2);
    }

    #[test]
    fn aggregating_subscriptions_are_shared_and_counted_sn_4_2_1() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", true, 30);
        h.connect(2, "c2", true, 30);
        let broker_subscribes = |actions: &[Action]| {
            actions
                .iter()
                .filter(|a| matches!(a, Action::Subscribe { .. }))
                .count()
        };
        assert_eq!(
            broker_subscribes(&h.subscribe(1, name("s/#"), SnQoS::AtLeastOnce)),
            1
        );
        // The second subscribes upstream again, for the retained messages [MQTT-3.8.4-3], but
        // one UNSUBSCRIBE still takes both away.
        assert_eq!(
            broker_subscribes(&h.subscribe(2, name("s/#"), SnQoS::AtMostOnce)),
            1
        );
        // One message reaches both, each at its own QoS.
        let actions = h.message(ConnId::GATEWAY, "s/x", QoS::ExactlyOnce);
        assert_eq!(sent(&actions).len(), 2, "a REGISTER to each");
        let unsubscribe = |h: &mut Harness, n| {
            h.from(
                n,
                Message::Unsubscribe(Unsubscribe {
                    msg_id: MsgId(5),
                    topic: name("s/#"),
                }),
            )
        };
        let actions = unsubscribe(&mut h, 1);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::Unsubscribe { .. }))
        );
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::UnsubAck]);
        let actions = unsubscribe(&mut h, 2);
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Unsubscribe { filter, .. } if filter == "s/#"))
        );
    }
}

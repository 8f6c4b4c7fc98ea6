//! Will updates while connected (§6.4): WILLTOPICUPD and WILLMSGUPD replace what the will
//! dialogue of CONNECT stored (`connection.rs`). The gateway publishes the will itself when the
//! client is lost (`disconnection.rs`), so an update only changes the session.

use mqttsn_codec::{Message, ReturnCode, WillMsg, WillResp, WillTopic};

use super::Translator;
use crate::action::Action;
use crate::session::mqtt_qos;

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

    use super::super::harness::*;
    use super::*;
    use crate::config::GatewayKind;
    use crate::session::ClientState;
    use mqttsn_codec::{QoS as SnQoS, TopicName};

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
}

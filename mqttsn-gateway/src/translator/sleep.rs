//! Keep-alive (§6.11) and sleeping clients (§6.14): PINGREQ and PINGRESP, DISCONNECT with a sleep
//! duration, and the wake-up with PINGREQ carrying the client id, after which the buffered messages
//! are delivered and PINGRESP sends the client back to sleep.
//!
//! The timers themselves (keep-alive, sleep duration, both with the tolerance of [SN-7.2-2]) are
//! checked by `Session::expire` in `session.rs`, driven by [`Translator::tick`]; the buffer is the
//! session's queue, bounded by `MaxBufferedMessages`.

use std::time::{Duration, Instant};

use mqttsn_codec::{Disconnect, Message, PingReq};

use super::{Translator, connection, disconnection};
use crate::action::Action;
use crate::session::ClientState;

/// PINGREQ from a connected client.
pub(super) fn ping(
    translator: &mut Translator,
    now: Instant,
    id: &str,
    ping: &PingReq<'_>,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    if ping.client_id.is_some() && matches!(session.state, ClientState::Asleep | ClientState::Awake)
    {
        // [SN-6.14-9] Awake: the sleep timer stops, the buffer drains, then PINGRESP
        // [SN-6.14-10], or PINGRESP at once if there is nothing [SN-6.14-11].
        session.last_heard = now;
        let mut out = Vec::new();
        session.resend_inflight(now, &mut out);
        connection::set_state(translator, id, ClientState::Awake);
        translator.send_out(id, out, actions);
        translator.pump(now, id, actions);
    } else {
        // [SN-6.11-1]
        translator.send_to(id, &Message::PingResp, actions);
    }
}

/// DISCONNECT from a connected client: to sleep, or to leave.
pub(super) fn client_disconnect(
    translator: &mut Translator,
    now: Instant,
    id: &str,
    disconnect: Disconnect,
    actions: &mut Vec<Action>,
) {
    let Some(session) = translator.sessions.get_mut(id) else {
        return;
    };
    let ack = Message::Disconnect(Disconnect { duration: None });
    match disconnect.duration {
        // [SN-6.14-6] [SN-6.14-15] DISCONNECT with a duration: asleep, acknowledged with a
        // DISCONNECT without one [SN-5.4.21-5]. The broker connection stays open so that
        // messages keep arriving for the buffer.
        Some(seconds) if seconds > 0 => {
            session.sleep = Duration::from_secs(seconds.into());
            session.last_heard = now;
            translator.send_to(id, &ack, actions);
            connection::set_state(translator, id, ClientState::Asleep);
        }
        // [SN-6.12-3] [SN-6.14-5]
        _ => {
            translator.send_to(id, &ack, actions);
            disconnection::disconnect(translator, now, id, true, actions);
        }
    }
}

#[cfg(test)]
mod tests {
    use mqtt_client::QoS;
    use mqttsn_codec::{ClientId, Connect, PubAck, QoS as SnQoS, ReturnCode, TopicId};

    use super::super::harness::*;
    use super::*;
    use crate::action::ConnId;
    use crate::config::GatewayKind;

    #[test]
    fn sleeping_client_buffers_then_wakes_and_sleeps_again_sn_6_14_8_to_11() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 30);
        h.subscribe(1, name("a/b"), SnQoS::AtLeastOnce);
        // [SN-6.14-6] DISCONNECT with a duration: acknowledged without one, asleep.
        let actions = h.from(1, Message::Disconnect(Disconnect { duration: Some(60) }));
        assert_eq!(
            Message::decode(&sent(&actions)[0].1),
            Ok(Message::Disconnect(Disconnect { duration: None }))
        );
        assert_eq!(h.state("c1"), Some(ClientState::Asleep));
        // [SN-6.14-8] Messages are buffered, not sent.
        assert!(sent(&h.message(ConnId::GATEWAY, "a/b", QoS::AtLeastOnce)).is_empty());
        assert!(sent(&h.message(ConnId::GATEWAY, "a/b", QoS::AtMostOnce)).is_empty());
        assert_eq!(h.translator.buffered("c1"), 2);
        // Not lost before the sleep duration (with tolerance) is over.
        assert!(h.advance(Duration::from_secs(80)).is_empty());
        // [SN-6.14-9] PINGREQ with the client id: awake, the QoS 1 message goes first.
        let actions = h.from(1, wake("c1"));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::Publish]);
        assert_eq!(h.state("c1"), Some(ClientState::Awake));
        let datagram = sent(&actions).swap_remove(0).1;
        let Ok(Message::Publish(publish)) = Message::decode(&datagram) else {
            panic!("a PUBLISH");
        };
        // [SN-6.14-10] Then the QoS 0 one, then PINGRESP: asleep again, the timer restarted.
        let actions = h.from(
            1,
            Message::PubAck(PubAck {
                topic_id: TopicId(1),
                msg_id: publish.msg_id,
                return_code: ReturnCode::Accepted,
            }),
        );
        assert_eq!(
            types(&actions),
            [
                mqttsn_codec::MsgType::Publish,
                mqttsn_codec::MsgType::PingResp
            ]
        );
        assert_eq!(h.state("c1"), Some(ClientState::Asleep));
        assert_eq!(h.translator.buffered("c1"), 0);
        // The buffer is not replayed on the next wake-up [SN-6.14-11].
        let actions = h.from(1, wake("c1"));
        assert_eq!(types(&actions), [mqttsn_codec::MsgType::PingResp]);
        assert_eq!(h.state("c1"), Some(ClientState::Asleep));
        // [SN-6.14-7] Silent past its sleep duration (60 s, and [SN-7.2-2]'s 50 %): lost.
        assert!(h.advance(Duration::from_secs(89)).is_empty());
        h.advance(Duration::from_secs(1));
        assert_eq!(h.state("c1"), Some(ClientState::Lost));
    }

    #[test]
    fn asleep_to_active_delivers_the_buffer_sn_6_14_14() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 30);
        h.subscribe(1, name("a/b"), SnQoS::AtMostOnce);
        h.from(1, Message::Disconnect(Disconnect { duration: Some(60) }));
        h.message(ConnId::GATEWAY, "a/b", QoS::AtMostOnce);
        let actions = h.from(
            1,
            Message::Connect(Connect {
                will: false,
                clean_session: false,
                duration: 30,
                client_id: ClientId::new("c1").expect("valid"),
            }),
        );
        assert_eq!(
            types(&actions),
            [
                mqttsn_codec::MsgType::ConnAck,
                mqttsn_codec::MsgType::Publish
            ]
        );
        assert_eq!(h.state("c1"), Some(ClientState::Active));
    }

    #[test]
    fn asleep_to_disconnected_and_new_sleep_durations_sn_6_14_14_15() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 30);
        h.from(1, Message::Disconnect(Disconnect { duration: Some(10) }));
        // [SN-6.14-15] A new duration while asleep replaces the old one.
        h.from(
            1,
            Message::Disconnect(Disconnect {
                duration: Some(600),
            }),
        );
        assert!(h.advance(Duration::from_secs(600)).is_empty());
        assert_eq!(h.state("c1"), Some(ClientState::Asleep));
        // [SN-6.14-14] DISCONNECT without a duration: disconnected, no timer.
        h.from(1, Message::Disconnect(Disconnect { duration: None }));
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
        // No keep-alive or sleep timer any more; only the kept session's expiry, a day later.
        h.advance(Duration::from_secs(80_000));
        assert_eq!(h.state("c1"), Some(ClientState::Disconnected));
    }

    #[test]
    fn a_full_sleep_buffer_drops_and_counts() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.translator.config.max_buffered = 2;
        h.connect(1, "c1", false, 30);
        h.subscribe(1, name("a/#"), SnQoS::AtMostOnce);
        h.from(1, Message::Disconnect(Disconnect { duration: Some(60) }));
        for _ in 0..5 {
            h.message(ConnId::GATEWAY, "a/b", QoS::AtMostOnce);
        }
        assert_eq!(h.translator.buffered("c1"), 2);
        assert_eq!(h.translator.stats().dropped, 3);
    }

    #[test]
    fn keep_alive_pings_keep_the_client_sn_6_11_1() {
        let mut h = Harness::new(GatewayKind::Aggregating);
        h.connect(1, "c1", false, 10);
        for _ in 0..5 {
            assert!(h.advance(Duration::from_secs(10)).is_empty());
            let actions = h.from(1, Message::PingReq(PingReq { client_id: None }));
            assert_eq!(types(&actions), [mqttsn_codec::MsgType::PingResp]);
        }
        assert_eq!(h.state("c1"), Some(ClientState::Active));
    }
}

//! Shared subscriptions (`$share/<group>/<filter>`), an extension to 3.1.1: one member of a group
//! takes each message, in turn; QoS, overlapping subscriptions and retained messages as documented in
//! `docs/mqtt-broker-choices.md`.

use std::time::Duration;

use mqtt_broker::Config;
use mqtt_codec::{
    Connect, List, Packet, ProtocolLevel, PubAck, QoS, Subscribe, Subscription, TopicFilter,
    Unsubscribe,
};

use crate::client::{Client, Got, TempDir, broker, broker_with, connect, id, publish};

/// Reads `count` PUBLISH packets, acknowledging those at QoS 1, and returns their payloads.
fn take(client: &mut Client, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| match client.recv() {
            Got::Publish {
                payload,
                qos,
                packet_id,
                ..
            } => {
                if qos == 1 {
                    let packet_id = id(packet_id.expect("QoS 1 has an id"));
                    client.send(Packet::PubAck(PubAck { packet_id }));
                }
                payload
            }
            other => panic!("expected a PUBLISH, got {other:?}"),
        })
        .collect()
}

/// Publishes `count` QoS 1 messages `0`, `1`, … on `topic`, each acknowledged before the next.
fn publish_numbered(publisher: &mut Client, topic: &str, count: u16) {
    for n in 0..count {
        publisher.publish(topic, n.to_string().as_bytes(), 1, n + 1, false);
        assert_eq!(publisher.recv(), Got::PubAck(n + 1));
    }
}

fn numbers(count: u16) -> Vec<Vec<u8>> {
    (0..count).map(|n| n.to_string().into_bytes()).collect()
}

/// Every message reaches exactly one member, and connected members take turns.
#[test]
fn each_message_goes_to_one_member_in_turn() {
    for members in [2usize, 3] {
        let (_broker, address) = broker();
        let mut clients: Vec<Client> = (0..members)
            .map(|n| {
                let (mut client, _) = Client::connect(address, &format!("m{n}"), true);
                client.subscribe("$share/workers/jobs/+", 1);
                client
            })
            .collect();
        let (mut publisher, _) = Client::connect(address, "pub", true);
        let per_member = 4;
        let total = u16::try_from(members * per_member).expect("small");
        publish_numbered(&mut publisher, "jobs/a", total);
        let mut all = Vec::new();
        for client in &mut clients {
            all.extend(take(client, per_member));
            client.barrier(); // and nothing more
        }
        all.sort();
        let mut expected = numbers(total);
        expected.sort();
        assert_eq!(
            all, expected,
            "{members} members: each message exactly once"
        );
    }
}

/// A member gets the lower of the published QoS and the QoS it was granted [MQTT-3.8.4-6].
#[test]
fn a_member_gets_the_lower_qos_mqtt_3_8_4_6() {
    let (_broker, address) = broker();
    let (mut member, _) = Client::connect(address, "member", true);
    member.subscribe("$share/g/q", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("q", b"two", 2, 1, false);
    assert_eq!(publisher.recv(), Got::PubRec(1));
    assert_eq!(
        member.recv(),
        publish("q", b"two", 1, Some(1), false, false)
    );

    let (mut low, _) = Client::connect(address, "low", true);
    low.subscribe("$share/h/z", 0);
    publisher.publish("z", b"one", 1, 2, false);
    assert_eq!(publisher.recv(), Got::PubAck(2));
    assert_eq!(low.recv(), publish("z", b"one", 0, None, false, false));
}

/// A session with an ordinary subscription and a group membership matching the same topic gets
/// the message through each: the group's delivery is the group's, apart from [MQTT-3.3.5-1]'s
/// single copy for the session's own subscriptions.
#[test]
fn an_ordinary_subscription_and_a_share_each_deliver_mqtt_3_3_5_1() {
    let (_broker, address) = broker();
    let (mut both, _) = Client::connect(address, "both", true);
    both.subscribe("t", 0);
    both.subscribe("$share/g/t", 0);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("t", b"x", 0, 0, false);
    publisher.barrier();
    assert_eq!(both.recv(), publish("t", b"x", 0, None, false, false));
    assert_eq!(both.recv(), publish("t", b"x", 0, None, false, false));
    both.barrier();
}

/// A shared subscribe delivers no retained message (as in MQTT 5 and mosquitto), while an ordinary
/// one does [MQTT-3.3.1-6].
#[test]
fn no_retained_message_on_a_shared_subscribe_mqtt_3_3_1_6() {
    let (_broker, address) = broker();
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("r", b"kept", 1, 1, true);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    let (mut member, _) = Client::connect(address, "member", true);
    member.subscribe("$share/g/r", 1);
    member.barrier();
    member.subscribe("r", 1);
    assert_eq!(
        member.recv(),
        publish("r", b"kept", 1, Some(1), false, true)
    );
}

/// A malformed share name is refused with 0x80 [MQTT-3.8.4-5] [MQTT-3.9.3-2]; the others in the same
/// SUBSCRIBE are granted.
#[test]
fn malformed_share_names_are_refused_mqtt_3_9_3_2() {
    let (_broker, address) = broker();
    let (mut client, _) = Client::connect(address, "c", true);
    let filters = [
        "$share//a",
        "$share/+/a",
        "$share/g",
        "$share/#",
        "$share/g/a",
    ];
    let entries: Vec<Subscription<'_>> = filters
        .iter()
        .map(|filter| Subscription {
            filter: TopicFilter::new(filter).expect("a valid filter as it stands"),
            qos: QoS::AtLeastOnce,
        })
        .collect();
    client.send(Packet::Subscribe(Subscribe {
        packet_id: id(7),
        filters: List::from_slice(&entries),
    }));
    assert_eq!(
        client.recv(),
        Got::SubAck(7, vec![0x80, 0x80, 0x80, 0x80, 1])
    );
}

/// At 3.1, which has no failure code, a malformed share name is answered as granted and nothing is
/// ever delivered on it [V31-DIFF-34]; a valid one works as at 3.1.1.
#[test]
fn at_3_1_a_malformed_share_name_is_granted_and_inert_v31_diff_34() {
    let (_broker, address) = broker();
    let (mut old, _) = Client::connect_with(
        address,
        Connect {
            level: ProtocolLevel::Mqtt31,
            ..connect("old", true)
        },
    );
    let entries = [Subscription {
        filter: TopicFilter::new("$share//a").expect("a valid filter as it stands"),
        qos: QoS::AtLeastOnce,
    }];
    old.send(Packet::Subscribe(Subscribe {
        packet_id: id(2),
        filters: List::from_slice(&entries),
    }));
    assert_eq!(old.recv(), Got::SubAck(2, vec![1]));
    old.subscribe("$share/g/b", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publish_numbered(&mut publisher, "a", 1);
    publish_numbered(&mut publisher, "b", 1);
    assert!(matches!(old.recv(), Got::Publish { ref topic, .. } if topic == "b"));
    old.barrier(); // and nothing on a
}

/// The ACL judges a share by its own filter, without `$share/<group>/`: a `read` rule for `a/#`
/// lets `$share/g/a/#` through and not `$share/g/b/#` [MQTT-3.8.4-5].
#[test]
fn the_acl_judges_the_filter_without_the_share_prefix_mqtt_3_8_4_5() {
    let dir = TempDir::new("shared-acl");
    let (_broker, address) = broker_with(Config {
        acl_file: Some(dir.file("acl", "topic read a/#\ntopic write #\n")),
        allow_anonymous: Some(true),
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut member, _) = Client::connect(address, "member", true);
    member.subscribe("$share/g/a/#", 1);
    let entries = [Subscription {
        filter: TopicFilter::new("$share/g/b/#").expect("filter"),
        qos: QoS::AtLeastOnce,
    }];
    member.send(Packet::Subscribe(Subscribe {
        packet_id: id(4),
        filters: List::from_slice(&entries),
    }));
    assert_eq!(member.recv(), Got::SubAck(4, vec![0x80]));
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publish_numbered(&mut publisher, "a/x", 1);
    assert_eq!(take(&mut member, 1), numbers(1));
}

/// A member that unsubscribes gets nothing more; the rest of the group takes everything
/// [MQTT-3.10.4-2].
#[test]
fn a_member_that_unsubscribes_leaves_the_group_mqtt_3_10_4_2() {
    let (_broker, address) = broker();
    let (mut stays, _) = Client::connect(address, "stays", true);
    stays.subscribe("$share/g/t", 1);
    let (mut leaves, _) = Client::connect(address, "leaves", true);
    leaves.subscribe("$share/g/t", 1);
    leaves.send(Packet::Unsubscribe(Unsubscribe {
        packet_id: id(3),
        filters: List::from_slice(&[TopicFilter::new("$share/g/t").expect("filter")]),
    }));
    assert_eq!(leaves.recv(), Got::UnsubAck(3));
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publish_numbered(&mut publisher, "t", 4);
    assert_eq!(take(&mut stays, 4), numbers(4));
    leaves.barrier();
}

/// Offline members are skipped while one is connected; with none connected, a persistent member's
/// session keeps the message for it [MQTT-3.1.2-5].
#[test]
fn offline_members_are_skipped_and_the_last_resort_is_a_persistent_session_mqtt_3_1_2_5() {
    let (_broker, address) = broker();
    let (mut away, _) = Client::connect(address, "away", false);
    away.subscribe("$share/g/t", 1);
    away.disconnect();
    let (mut here, _) = Client::connect(address, "here", true);
    here.subscribe("$share/g/t", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publish_numbered(&mut publisher, "t", 4);
    assert_eq!(
        take(&mut here, 4),
        numbers(4),
        "the connected member takes all"
    );
    here.disconnect(); // a clean session: it leaves the group
    publish_numbered(&mut publisher, "t", 2);
    let (mut away, present) = Client::connect(address, "away", false);
    assert!(present);
    assert_eq!(
        take(&mut away, 2),
        numbers(2),
        "kept for the persistent member"
    );
}

/// `$SYS/broker/shared_subscriptions/count` counts memberships, as mosquitto's does.
#[test]
fn memberships_are_counted_in_sys() {
    let (_broker, address) = broker_with(Config {
        sys_interval: Duration::from_secs(1),
        ..Config::default()
    });
    let (mut member, _) = Client::connect(address, "member", true);
    member.subscribe("$share/g/t", 0);
    member.subscribe("$share/h/t", 0);
    member.subscribe("$SYS/broker/shared_subscriptions/count", 0);
    // A figure published before the subscriptions may come first; then 2 at a refresh.
    loop {
        match member.recv() {
            Got::Publish { payload, .. } if payload == b"2" => break,
            Got::Publish { payload, .. } if payload == b"0" || payload == b"1" => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A member whose queue is full is passed over: the group gives its turn to a member with room
/// instead of dropping the message.
#[test]
fn a_member_with_a_full_queue_is_passed_over() {
    let (_broker, address) = broker_with(Config {
        max_inflight_messages: 1,
        max_queued_messages: 1,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut slow, _) = Client::connect(address, "slow", true);
    slow.subscribe("$share/g/t", 1);
    let (mut quick, _) = Client::connect(address, "quick", true);
    quick.subscribe("$share/g/t", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    // In turn: 0 to slow (in flight, never acknowledged yet), 1 to quick, 2 to slow (queued: its
    // queue is now full), 3 to quick.
    publish_numbered(&mut publisher, "t", 4);
    let mut all = take(&mut quick, 2);
    quick.barrier();
    // 4 is slow's turn, but slow has no room: quick takes it, and 5 in its own turn.
    for n in 4..6u16 {
        publisher.publish("t", n.to_string().as_bytes(), 1, n + 1, false);
        assert_eq!(publisher.recv(), Got::PubAck(n + 1));
    }
    all.extend(take(&mut quick, 2));
    quick.barrier();
    all.extend(take(&mut slow, 2));
    slow.barrier();
    all.sort();
    let mut expected = numbers(6);
    expected.sort();
    assert_eq!(all, expected, "each message exactly once, none dropped");
}

/// A persistent member's membership survives a restart, like its other subscriptions.
#[test]
fn a_membership_survives_a_restart() {
    let dir = TempDir::new("shared-persist");
    let config = || Config {
        persistence: true,
        persistence_location: dir.0.clone(),
        sys_interval: Duration::ZERO,
        ..Config::default()
    };
    let (broker, address) = broker_with(config());
    let (mut member, _) = Client::connect(address, "member", false);
    member.subscribe("$share/g/t", 1);
    member.disconnect();
    broker.shutdown();

    let (_broker, address) = broker_with(config());
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publish_numbered(&mut publisher, "t", 1);
    publisher.publish("$share/g/t", b"not a share", 1, 9, false);
    assert_eq!(publisher.recv(), Got::PubAck(9));
    let (mut member, present) = Client::connect(address, "member", false);
    assert!(present);
    assert_eq!(take(&mut member, 1), numbers(1));
    member.barrier();
}

/// A clean member that goes away gives back what it had not acknowledged, in flight or queued: the
/// rest of the group gets every message, and nothing the leaver acknowledged comes again.
#[test]
fn a_leaving_member_gives_back_its_unacknowledged_messages() {
    let (_broker, address) = broker_with(Config {
        max_inflight_messages: 2,
        sys_interval: Duration::ZERO,
        ..Config::default()
    });
    let (mut stays, _) = Client::connect(address, "stays", true);
    stays.subscribe("$share/g/t", 1);
    let (mut leaves, _) = Client::connect(address, "leaves", true);
    leaves.subscribe("$share/g/t", 1);
    let (mut publisher, _) = Client::connect(address, "pub", true);
    let total = 12;
    publish_numbered(&mut publisher, "t", total);
    // The leaver acknowledges one message, then holds two in flight (its window) and has three
    // queued behind them.
    let acknowledged = take(&mut leaves, 1);
    let Got::Publish { .. } = leaves.recv() else {
        panic!("a second message in flight");
    };
    // More may be on the way to it; whatever it has not acknowledged is the group's again.
    leaves.send(Packet::Disconnect);
    drop(leaves);
    let mut all = acknowledged;
    all.extend(take(&mut stays, usize::from(total) - 1));
    stays.barrier();
    all.sort();
    let mut expected = numbers(total);
    expected.sort();
    assert_eq!(all, expected, "each message exactly once across the group");
}

/// A QoS 0 message for a group whose only member is an offline persistent session is not given to
/// it, since an offline session keeps no QoS 0 message: it is dropped and counted in
/// `$SYS/broker/publish/messages/dropped`, not lost without a trace. A QoS 1 message is queued
/// for that member as before.
#[test]
fn a_qos_0_message_for_an_offline_only_group_is_counted_as_dropped() {
    let (_broker, address) = broker_with(Config {
        sys_interval: Duration::from_secs(1),
        ..Config::default()
    });
    let (mut member, _) = Client::connect(address, "away", false);
    member.subscribe("$share/g/news", 1);
    member.disconnect();
    let (mut publisher, _) = Client::connect(address, "pub", true);
    publisher.publish("news", b"gone", 0, 0, false);
    publisher.publish("news", b"kept", 1, 1, false);
    assert_eq!(publisher.recv(), Got::PubAck(1));
    assert_eq!(
        crate::limits::sys_counter(address, "$SYS/broker/publish/messages/dropped", |n| n >= 1),
        1
    );
    let (mut member, present) = Client::connect(address, "away", false);
    assert!(present);
    assert_eq!(take(&mut member, 1), [b"kept".to_vec()]);
    member.barrier();
}

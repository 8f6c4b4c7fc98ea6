//! Proof that the gateway checks can fail: each broken relay (see `sn_double.rs`) makes our gateway
//! break one rule, and the checks aimed at that rule must fail through it, while the correct relay
//! passes them all. `every_gateway_check_is_proven_to_fail` keeps the table complete.

use std::time::Duration;

use conformance::{Applies, CheckResult, Verdict, report};
use mqttsn_gateway::GatewayKind;

use crate::sn::{context, our_gateway};
use crate::sn_double::{Relay, SnFault};

/// The longest the suite waits for an answer. Failing checks mostly fail by waiting this long.
const TIMEOUT: Duration = Duration::from_millis(800);

/// How many faults run at once.
const WORKERS: usize = 6;

/// Each fault with the checks that must fail against it.
const TARGETS: &[(SnFault, &[&str])] = &[
    (SnFault::WillPromptWithoutWill, &["sn-connect-accepted"]),
    (SnFault::WrongLength, &["sn-connect-accepted"]),
    (SnFault::DupOnFirstDelivery, &["sn-deliver-qos1"]),
    (SnFault::TruncatedCopy, &["sn-oversized-not-delivered"]),
    (SnFault::DropLongLength, &["sn-long-length-form"]),
    (
        SnFault::NoWillDialogue,
        &[
            "sn-will-dialogue",
            "sn-keep-alive-will",
            "sn-will-update",
            "sn-persistent-will-prompted",
            "sn-clean-session-will-discards",
        ],
    ),
    (SnFault::NoPingresp, &["sn-pingreq"]),
    (
        SnFault::DisconnectWithDuration,
        &["sn-disconnect", "sn-sleep-nothing-buffered"],
    ),
    (SnFault::ForgetSessions, &["sn-persistent-session-kept"]),
    (
        SnFault::KeepSessionsOnClean,
        &[
            "sn-clean-session-discards",
            "sn-clean-session-will-discards",
        ],
    ),
    (SnFault::NeverLost, &["sn-keep-alive-will"]),
    (SnFault::IgnoreWillTopicUpdate, &["sn-will-update"]),
    (SnFault::RegackWrongMsgId, &["sn-register"]),
    (SnFault::AcceptBeforeConnect, &["sn-publish-before-connect"]),
    (SnFault::ClearRetain, &["sn-publish-retained"]),
    (SnFault::NoReregister, &["sn-rejected-id-registered-again"]),
    (SnFault::DropQos0Publish, &["sn-publish-qos0"]),
    (SnFault::PubackWrongTopicId, &["sn-publish-qos1"]),
    (SnFault::Qos2AsQos1, &["sn-publish-qos2"]),
    (SnFault::Qos0DeliveryWithMsgId, &["sn-deliver-qos0"]),
    (SnFault::Qos1DeliveryAsQos0, &["sn-deliver-qos1"]),
    (SnFault::DropPubrel, &["sn-deliver-qos2"]),
    (SnFault::DropQosMinusOne, &["sn-qos-minus-one"]),
    (SnFault::ShortAsNormal, &["sn-short-topic-publish"]),
    (
        SnFault::ShortDeliveryAsNormal,
        &["sn-short-topic-subscribe"],
    ),
    (SnFault::PredefinedAsNormal, &["sn-predefined-publish"]),
    (
        SnFault::PredefinedDeliveryAsNormal,
        &["sn-predefined-subscribe"],
    ),
    (
        SnFault::AcceptUnknownTopicIds,
        &[
            "sn-predefined-unknown",
            "sn-invalid-topic-id",
            "sn-topic-ids-per-client",
        ],
    ),
    (
        SnFault::WildcardSubackTopicId,
        &["sn-wildcard-plus", "sn-wildcard-hash"],
    ),
    (
        SnFault::PublishBeforeRegack,
        &["sn-wildcard-plus", "sn-wildcard-hash"],
    ),
    (SnFault::IgnoreUnsubscribe, &["sn-unsubscribe"]),
    (SnFault::PingrespBeforeBuffered, &["sn-sleep-buffers"]),
    (SnFault::NoPingrespWhenAwake, &["sn-sleep-nothing-buffered"]),
    (SnFault::NoGwinfo, &["sn-searchgw"]),
    (SnFault::Decapsulate, &["sn-encapsulated"]),
    (SnFault::SubackAfterPublish, &["sn-retained-after-suback"]),
    (
        SnFault::NoRetainedForLaterSubscriber,
        &["sn-retained-later-subscriber"],
    ),
    (
        SnFault::NoRegisterOnReturn,
        &["sn-kept-session-registers-again"],
    ),
    (
        SnFault::NoResendAfterInvalidTopicId,
        &["sn-invalid-topic-id-resent"],
    ),
    (SnFault::NotOnTheGroup, &["sn-searchgw-group"]),
];

/// Runs the named gateway checks (all when `names` is empty) through a relay with `fault`, in
/// front of our gateway and broker of its own, so that concurrent runs share nothing (not even the
/// predefined topic).
fn run_through(fault: Option<SnFault>, names: &[&str]) -> Vec<CheckResult> {
    let config = mqtt_broker::Config {
        listeners: vec!["127.0.0.1:0".parse().expect("an address")],
        ..mqtt_broker::Config::default()
    };
    let broker = mqtt_broker::Broker::start(config).expect("the broker starts");
    let port = broker.local_addrs()[0].port();
    let gateway = our_gateway(port, GatewayKind::Transparent);
    let relay = Relay::start(gateway.local_addr(), fault);
    let checks: Vec<_> = conformance::checks()
        .into_iter()
        .filter(|check| check.applies == Applies::Gateway)
        .filter(|check| names.is_empty() || names.contains(&check.name))
        .collect();
    let mut context = context(relay.address(), Some(port), TIMEOUT);
    if let Some(target) = context.gateway.as_mut() {
        target.group = Some(relay.group());
    }
    let results = conformance::run(&context, &checks, &[]);
    drop(relay);
    gateway.shutdown();
    broker.shutdown();
    results
}

#[test]
fn the_correct_relay_passes_every_gateway_check() {
    let results = run_through(None, &[]);
    let report = report::human(&results);
    assert!(
        results
            .iter()
            .all(|result| matches!(result.verdict, Verdict::Pass | Verdict::Observation(_))),
        "the correct relay failed or skipped checks:\n{report}"
    );
    let expected = conformance::checks()
        .iter()
        .filter(|check| check.applies == Applies::Gateway)
        .count();
    assert_eq!(results.len(), expected, "{report}");
}

#[test]
fn every_broken_relay_fails_its_checks() {
    let _heavy = crate::heavy();
    // A few faults at a time: the failing checks mostly wait for their timeout, so running side
    // by side keeps the test short, but each fault starts a broker, a gateway and a relay, and a
    // run of all at once loads the machine enough to disturb the timing of the other tests.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let finished = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                while let Some(&(fault, names)) =
                    TARGETS.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    let results = run_through(Some(fault), names);
                    finished
                        .lock()
                        .expect("no worker panicked")
                        .push((fault, results));
                }
            });
        }
    });
    let mut problems = Vec::new();
    for (fault, results) in finished.into_inner().expect("no worker panicked") {
        let target = TARGETS
            .iter()
            .find(|(each, _)| *each == fault)
            .map_or(&[][..], |(_, names)| *names);
        for name in target {
            if !results.iter().any(|result| result.name == *name) {
                problems.push(format!("{fault:?}: no check named {name} ran"));
            }
        }
        for result in &results {
            if !matches!(result.verdict, Verdict::Fail(_)) {
                problems.push(format!(
                    "{fault:?}: {} did not fail: {:?}",
                    result.name, result.verdict
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_gateway_check_is_proven_to_fail() {
    let missing: Vec<_> = conformance::checks()
        .into_iter()
        .filter(|check| check.applies == Applies::Gateway)
        .map(|check| check.name)
        .filter(|name| !TARGETS.iter().any(|(_, names)| names.contains(name)))
        .collect();
    assert!(
        missing.is_empty(),
        "gateway checks no broken relay makes fail: {missing:?}"
    );
}

//! Proof that the checks can fail: each deliberately broken double (see `double.rs`) breaks one rule,
//! and the checks aimed at that rule must fail against it, while the correct double passes them all.
//!
//! A check that no broken double makes fail is a defect: it may pass whatever the broker does.
//! `every_check_is_proven_to_fail` keeps the table complete.

use std::time::Duration;

use conformance::{CheckResult, Context, Verdict, Version, report};

use crate::double::{Double, Fault};

/// The longest the suite waits for an answer from a double. The doubles answer at once on loopback;
/// a failing check usually fails by waiting this long, so it is kept short.
const TIMEOUT: Duration = Duration::from_millis(800);

/// Which version a fault shows at: `None` for every version its checks apply to.
type Target = (Fault, Option<Version>, &'static [&'static str]);

/// Each fault with the checks that must fail against it.
const TARGETS: &[Target] = &[
    // CONNECT and CONNACK.
    (
        Fault::PingrespBeforeConnack,
        None,
        &["connect-accepted", "mqtt31-reserved-connect-flag"],
    ),
    (
        Fault::AcceptReservedConnectFlag,
        None,
        &["reserved-connect-flag"],
    ),
    (
        Fault::AcceptAnyProtocolName,
        None,
        &["invalid-protocol-name"],
    ),
    (Fault::AcceptAnyLevel, None, &["unsupported-protocol-level"]),
    (
        Fault::OpenAfterRefusal,
        Some(Version::V311),
        &["unsupported-protocol-level", "empty-client-id-persistent"],
    ),
    (
        Fault::AcceptNonConnectFirst,
        None,
        &["first-packet-not-connect"],
    ),
    (Fault::IgnoreSecondConnect, None, &["second-connect"]),
    (
        Fault::WillBitsWithoutWill,
        None,
        &["will-qos-without-will", "will-retain-without-will"],
    ),
    (Fault::AcceptWillQos3, None, &["will-qos-3"]),
    (
        Fault::AcceptPasswordWithoutUserName,
        None,
        &["password-without-user-name"],
    ),
    (
        Fault::TolerateMissingFields,
        Some(Version::V311),
        &[
            "will-flag-without-will-fields",
            "user-name-flag-without-user-name",
            "password-flag-without-password",
            "client-id-missing",
        ],
    ),
    (
        Fault::TolerateTrailingFields,
        None,
        &["user-name-without-flag"],
    ),
    (
        Fault::AcceptInvalidUtf8,
        None,
        &[
            "client-id-invalid-utf8",
            "will-topic-invalid-utf8",
            "user-name-invalid-utf8",
            "publish-invalid-utf8-topic",
            "subscribe-invalid-utf8",
            "unsubscribe-invalid-utf8",
        ],
    ),
    (
        Fault::AcceptNullCharacter,
        None,
        &["client-id-null-character", "publish-null-in-topic"],
    ),
    (
        Fault::ProcessAfterRefusal,
        None,
        &["nothing-processed-after-refused-connect"],
    ),
    (
        Fault::RejectLongClientIds,
        None,
        &["client-id-23-alphanumeric"],
    ),
    (
        Fault::AcceptEmptyIdPersistent,
        None,
        &["empty-client-id-persistent"],
    ),
    (Fault::EmptyIdRefusedWith5, None, &["empty-client-id-clean"]),
    (Fault::NoTakeover, None, &["client-id-takeover"]),
    (
        Fault::IgnoreMalformedDisconnect,
        None,
        &["disconnect-reserved-flags"],
    ),
    (Fault::IgnoreReservedTypes, None, &["reserved-packet-type"]),
    (Fault::RefuseMqtt31, None, &["mqtt31-accepted"]),
    (
        Fault::Mqtt31IdsLike311,
        None,
        &["mqtt31-client-id-too-long", "mqtt31-empty-client-id"],
    ),
    (
        Fault::Strict31,
        None,
        &[
            "mqtt31-user-name-flag-without-field",
            "mqtt31-will-flags-disregarded",
            "mqtt31-resent-subscribe-accepted",
        ],
    ),
    // PUBLISH and its flows.
    (Fault::Qos0WithDup, None, &["qos0-delivered"]),
    (Fault::Qos0WithPacketId, None, &["qos0-delivered"]),
    (Fault::PubackWrongId, None, &["qos1-puback"]),
    (Fault::PubrecWrongId, None, &["qos2-flow"]),
    (
        Fault::PubcompWrongId,
        None,
        &["qos2-flow", "pubrel-unknown-id"],
    ),
    (
        Fault::Qos2DeliverTwice,
        None,
        &["qos2-duplicate-not-delivered-twice"],
    ),
    (
        Fault::NoQosDowngrade,
        None,
        &["qos-downgraded-to-subscription"],
    ),
    (Fault::PropagateDup, None, &["dup-not-propagated"]),
    (Fault::AcceptQos3, None, &["publish-qos3"]),
    (
        Fault::AcceptWildcardTopic,
        None,
        &["publish-wildcard-topic"],
    ),
    (Fault::AcceptPacketIdZero, None, &["publish-packet-id-zero"]),
    (Fault::IgnorePubrelFlags, None, &["pubrel-reserved-flags"]),
    (Fault::NoPubcompForUnknown, None, &["pubrel-unknown-id"]),
    (
        Fault::IgnoreWrongAcks,
        None,
        &["wrong-acknowledgement-closes"],
    ),
    (Fault::DiesOnDeepFilter, None, &["deep-filter-survived"]),
    (
        Fault::AckAndDropDeepPublish,
        None,
        &["deep-publish-delivered-or-refused"],
    ),
    (
        Fault::IgnoreWrongQos2Steps,
        None,
        &[
            "qos2-answered-with-puback-closes",
            "qos2-pubcomp-before-pubrec-closes",
            "qos2-puback-after-pubrel-closes",
        ],
    ),
    (
        Fault::FirstOverlapWins,
        None,
        &["overlapping-subscriptions"],
    ),
    (Fault::NoPingresp, None, &["ping"]),
    (Fault::AcceptEmptyTopic, None, &["publish-empty-topic"]),
    (
        Fault::DupOnFirstTransmission,
        None,
        &["qos1-delivery", "qos2-delivery"],
    ),
    (Fault::PubrelWrongFlags, None, &["qos2-delivery"]),
    (
        Fault::FirstSubscriberOnly,
        None,
        &["every-subscriber-receives"],
    ),
    (Fault::SwapDeliveries, None, &["ordered-delivery"]),
    (
        Fault::AcksOutOfOrder,
        None,
        &["pubacks-in-order", "pubrecs-in-order"],
    ),
    (Fault::PubrelsOutOfOrder, None, &["pubrels-in-order"]),
    (
        Fault::NoRedelivery,
        None,
        &["redelivery-on-reconnect", "pubrel-resent-on-reconnect"],
    ),
    (
        Fault::RedeliverWithoutDup,
        None,
        &["redelivery-on-reconnect"],
    ),
    (
        Fault::ResendPublishAfterPubrec,
        None,
        &["pubrel-resent-on-reconnect"],
    ),
    (Fault::AcceptPingreqFlags, None, &["pingreq-reserved-flags"]),
    // SUBSCRIBE and UNSUBSCRIBE.
    (Fault::SubackWrongId, None, &["suback-order-and-id"]),
    (Fault::SubackCodesReversed, None, &["suback-order-and-id"]),
    (
        Fault::AcceptSubscribeFlags,
        None,
        &["subscribe-reserved-flags"],
    ),
    (Fault::AcceptEmptySubscribe, None, &["subscribe-empty"]),
    (Fault::AcceptSubscribeQos3, None, &["subscribe-qos3"]),
    (
        Fault::AcceptInvalidFilter,
        None,
        &["subscribe-invalid-filter"],
    ),
    (Fault::AcceptEmptyFilter, None, &["subscribe-empty-filter"]),
    (Fault::ResubscribeAdds, None, &["resubscribe-replaces"]),
    (Fault::UnsubackOnlyWhenRemoved, None, &["unsuback-always"]),
    (
        Fault::UnsubscribeIgnored,
        None,
        &["unsubscribe-stops-delivery", "unsubscribe-several"],
    ),
    (
        Fault::UnsubscribeMatching,
        None,
        &["unsubscribe-compares-literally"],
    ),
    (Fault::UnsubscribeFirstOnly, None, &["unsubscribe-several"]),
    (
        Fault::AcceptUnsubscribeFlags,
        None,
        &["unsubscribe-reserved-flags"],
    ),
    (Fault::AcceptEmptyUnsubscribe, None, &["unsubscribe-empty"]),
    (
        Fault::DropInflightOnUnsubscribe,
        None,
        &["inflight-completed-after-unsubscribe"],
    ),
    // Retained messages.
    (
        Fault::NoRetain,
        Some(Version::V311),
        &[
            "retained-to-new-subscriber",
            "retained-survives-session-end",
            "non-retained-keeps-retained",
            "resubscribe-replaces",
        ],
    ),
    (
        Fault::RetainedWithoutFlag,
        Some(Version::V311),
        &["retained-to-new-subscriber"],
    ),
    (Fault::RetainedCapped, None, &["retained-flood"]),
    (Fault::DropWhenQueueFull, None, &["overload-without-loss"]),
    (
        Fault::ForwardRetainFlag,
        Some(Version::V311),
        &["retain-cleared-for-live-delivery"],
    ),
    (
        Fault::KeepEmptyRetained,
        Some(Version::V311),
        &["empty-retained-deletes"],
    ),
    (
        Fault::NonRetainedReplaces,
        None,
        &["non-retained-keeps-retained"],
    ),
    (
        Fault::RetainedDiesWithSession,
        None,
        &["retained-survives-session-end"],
    ),
    (Fault::IgnoreQos0Retain, None, &["retained-qos0-replaces"]),
    // The Will and Keep Alive.
    (
        Fault::NoWill,
        None,
        &[
            "will-on-abnormal-close",
            "will-retained",
            "keep-alive-expiry",
        ],
    ),
    (Fault::WillRetainIgnored, None, &["will-retained"]),
    (Fault::WillAlwaysRetained, None, &["will-on-abnormal-close"]),
    (
        Fault::WillAfterDisconnect,
        None,
        &["no-will-after-disconnect"],
    ),
    (Fault::WillRemembered, None, &["no-will-without-will-flag"]),
    (Fault::NoKeepAlive, None, &["keep-alive-expiry"]),
    // Topics.
    (Fault::PlusMatchesLevels, None, &["wildcards-match"]),
    (
        Fault::DollarMatched,
        None,
        &["dollar-topics-not-matched-by-wildcards"],
    ),
    (Fault::CaseInsensitive, None, &["topics-case-sensitive"]),
    (Fault::StripBom, None, &["bom-not-stripped"]),
    // Sessions.
    (Fault::SessionPresentAlways0, None, &["session-present"]),
    (Fault::CleanSessionKeeps, None, &["clean-session-discards"]),
    (Fault::NoOfflineQueue, None, &["offline-messages-queued"]),
];

/// Runs the named checks against a double at every version they apply to (or only `version`).
fn run_against(fault: Option<Fault>, version: Option<Version>, names: &[&str]) -> Vec<CheckResult> {
    let double = Double::start(fault);
    let checks: Vec<_> = conformance::checks()
        .into_iter()
        .filter(|check| names.is_empty() || names.contains(&check.name))
        .collect();
    let mut results = Vec::new();
    for each in [Version::V31, Version::V311] {
        if version.is_some_and(|only| only != each) {
            continue;
        }
        let context = Context::new("127.0.0.1", double.port(), each, TIMEOUT);
        results.extend(conformance::run(&context, &checks, &[]));
    }
    results
}

#[test]
fn the_correct_double_passes_every_check() {
    let results = run_against(None, None, &[]);
    let report = report::human(&results);
    assert!(
        results
            .iter()
            .all(|result| matches!(result.verdict, Verdict::Pass | Verdict::Observation(_))),
        "the correct double failed or skipped checks:\n{report}"
    );
    assert_eq!(results.len(), expected_runs(), "{report}");
}

fn expected_runs() -> usize {
    conformance::checks()
        .iter()
        .map(|check| {
            [Version::V31, Version::V311]
                .into_iter()
                .filter(|version| check.applies.includes(*version))
                .count()
        })
        .sum()
}

#[test]
fn every_broken_double_fails_its_checks() {
    let _heavy = crate::heavy();
    // One thread per fault, each with its own double: the failing checks mostly wait for their
    // timeout, and running them side by side keeps the test short.
    let runs: Vec<_> = TARGETS
        .iter()
        .map(|&(fault, version, names)| {
            std::thread::spawn(move || (fault, run_against(Some(fault), version, names)))
        })
        .collect();
    let mut problems = Vec::new();
    for run in runs {
        let (fault, results) = run.join().expect("the run did not panic");
        let target = TARGETS
            .iter()
            .find(|(each, _, _)| *each == fault)
            .map_or(&[][..], |(_, _, names)| *names);
        for name in target {
            if !results.iter().any(|result| result.name == *name) {
                problems.push(format!("{fault:?}: no check named {name} ran"));
            }
        }
        for result in &results {
            if !matches!(result.verdict, Verdict::Fail(_)) {
                problems.push(format!(
                    "{fault:?}: {} at {} did not fail: {:?}",
                    result.name,
                    result.version.label(),
                    result.verdict
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_check_is_proven_to_fail() {
    // The gateway checks are proven by broken gateways, not by this broker double.
    let missing: Vec<_> = conformance::checks()
        .into_iter()
        .filter(|check| check.applies != conformance::Applies::Gateway)
        .map(|check| check.name)
        .filter(|name| !TARGETS.iter().any(|(_, _, names)| names.contains(name)))
        .collect();
    assert!(
        missing.is_empty(),
        "checks no broken double makes fail: {missing:?}"
    );
}

//! The MQTT 5.0 suite (`--version 5`, the `v5-*` checks) run against real servers and broken ones.
//!
//! `mosquitto_at_5_0`: every 5.0 check passes against mosquitto, is skipped, or is a deviation listed
//! with its evidence in `deviations/mosquitto-2.0.txt` (`@5.0`).
//!
//! `our_broker_at_5_0`: this project's broker, which speaks 5.0 since the v5broker merge: every
//! 5.0 check must pass, none skipped. Should it ever stop accepting a 5.0 CONNECT (a build without
//! 5.0, a regression), the test instead requires every check that needs a 5.0 connection to *fail*,
//! so that the suite cannot be seen passing a broker that cannot hold one.
//!
//! `v5_checks_are_proven_to_fail`: each [`Fault`] of the relay (`v5_double.rs`) in front of
//! mosquitto breaks one rule, and the checks aimed at it must fail through it; the transparent
//! relay must do as well as mosquitto itself; and every 5.0 check must be aimed at by a fault.

use std::time::Duration;

use conformance::{CheckResult, Context, Verdict, Version, report};

use crate::Mosquitto;
use crate::v5_double::{Fault, Relay};

/// mosquitto's configuration for the 5.0 runs: a Maximum Packet Size, so that
/// `v5-packet-too-large-refused` has a limit to test.
const MOSQUITTO_V5: &str = "max_packet_size 100000\n";

/// The 5.0 checks whose failure against mosquitto is a listed deviation. Against the relay in
/// front of it they fail already, so no fault can prove them; mosquitto's failing them, with the
/// evidence in the deviations file, is what shows they can fail; our broker passing them
/// (`our_broker_at_5_0`) shows they can pass.
///
/// `v5-keep-alive-expiry` is listed in the deviations file but not here: mosquitto's periodic
/// keep-alive timer sometimes lands inside the check's window, so it passes now and then, and
/// `KeepAliveZero` proves it can fail.
const MOSQUITTO_DEVIATES: &[&str] = &[
    "v5-takeover-disconnect",
    "v5-shared-no-local-refused",
    "v5-receive-maximum",
    "v5-publish-subscription-identifier",
    "v5-qos2-sent-not-expired",
    "v5-response-topic-wildcard",
];

fn v5_checks() -> Vec<&'static conformance::Check> {
    conformance::checks()
        .into_iter()
        .filter(|check| check.applies == conformance::Applies::V5)
        .collect()
}

fn run_v5(port: u16, deviations: &str, timeout: Duration) -> Vec<CheckResult> {
    let known = conformance::deviations::parse(deviations).expect("deviations file parses");
    let context = Context::new("127.0.0.1", port, Version::V5, timeout);
    conformance::run(&context, &v5_checks(), &known)
}

#[test]
fn mosquitto_at_5_0() {
    let broker = Mosquitto::with_config(MOSQUITTO_V5);
    let results = run_v5(
        broker.port,
        include_str!("../../deviations/mosquitto-2.0.txt"),
        Duration::from_secs(2),
    );
    let report = report::human(&results);
    assert!(
        results.iter().all(CheckResult::is_acceptable),
        "unexpected failures against mosquitto at 5.0:\n{report}"
    );
    assert_eq!(results.len(), v5_checks().len(), "{report}");
    // The listed deviations are still deviations: a newer mosquitto that fixes one should have
    // its entry removed.
    for name in MOSQUITTO_DEVIATES {
        let result = results
            .iter()
            .find(|result| result.name == *name)
            .expect("ran");
        assert!(
            result.deviation.is_some(),
            "{name} no longer deviates:\n{report}"
        );
    }
}

/// The checks that never open a 5.0 connection: a CONNECT refused before a level is agreed, or no
/// CONNECT at all. A broker that speaks only 3.1.1 passes them.
const LEVEL_INDEPENDENT: &[&str] = &[
    "v5-first-packet-not-connect",
    "v5-unsupported-protocol-level",
    "v5-invalid-protocol-name",
];

/// Whether the broker at `port` accepts a 5.0 CONNECT with a well-formed 5.0 CONNACK 0x00.
fn speaks_5_0(port: u16) -> bool {
    let context = Context::new("127.0.0.1", port, Version::V5, Duration::from_secs(2));
    let Ok(mut client) = conformance::client::TestClient::open(&context) else {
        return false;
    };
    let Ok(connect) =
        conformance::v5_wire::connect(&context, &context.client_id(), true, &[], None)
    else {
        return false;
    };
    if client.send(&connect).is_err() {
        return false;
    }
    let Ok(frame) = client.expect(conformance::wire::kind::CONNACK) else {
        return false;
    };
    let bytes = conformance::v5_wire::bytes_of(&frame);
    matches!(
        conformance::v5_wire::decode(&bytes),
        Ok(mqtt_codec::v5::Packet::ConnAck(connack)) if connack.reason.get() == 0
    )
}

#[test]
fn our_broker_at_5_0() {
    let config = mqtt_broker::Config {
        listeners: vec!["127.0.0.1:0".parse().expect("an address")],
        // A payload limit makes the broker state a Maximum Packet Size in CONNACK, so that
        // `v5-packet-too-large-refused` runs instead of skipping.
        message_size_limit: 100_000,
        ..mqtt_broker::Config::default()
    };
    let broker = mqtt_broker::Broker::start(config).expect("the broker starts");
    let port = broker.local_addrs()[0].port();
    let speaks = speaks_5_0(port);
    let results = run_v5(port, "", Duration::from_secs(1));
    let report = report::human(&results);
    if speaks {
        assert!(
            results.iter().all(CheckResult::is_acceptable),
            "failures against our broker at 5.0:\n{report}"
        );
        let skipped: Vec<&str> = results
            .iter()
            .filter(|result| matches!(result.verdict, Verdict::Skip(_)))
            .map(|result| result.name)
            .collect();
        assert!(
            skipped.is_empty(),
            "skipped against our broker: {skipped:?}\n{report}"
        );
    } else {
        // Not yet a 5.0 broker: the suite must say so with a failure on every check that needs a
        // 5.0 connection, not a pass or a skip that would read as conformance. The checks that
        // refuse a CONNECT before any level is agreed pass, as they should against a 3.1.1 broker.
        let wrong: Vec<String> = results
            .iter()
            .filter(|result| {
                let failed = matches!(result.verdict, Verdict::Fail(_));
                failed == LEVEL_INDEPENDENT.contains(&result.name)
            })
            .map(|result| format!("{}: {:?}", result.name, result.verdict))
            .collect();
        assert!(
            wrong.is_empty(),
            "against a broker refusing 5.0, these should fail (or, if level-independent, pass): {wrong:?}\n{report}"
        );
    }
    assert_eq!(results.len(), v5_checks().len(), "{report}");
    broker.shutdown();
}

/// Each fault with the checks that must fail through it.
const TARGETS: &[(Fault, &[&str])] = &[
    (Fault::ConnackV311Shape, &["v5-connect-accepted"]),
    (Fault::StripAssignedClientId, &["v5-assigned-client-id"]),
    (Fault::SessionPresentZero, &["v5-session-resumed"]),
    (Fault::CleanStartOff, &["v5-clean-start-discards"]),
    (
        Fault::SessionExpiryForever,
        &["v5-session-ends-without-expiry"],
    ),
    (
        Fault::InjectResponseInformation,
        &["v5-no-response-information-unasked"],
    ),
    (Fault::IgnoreSecondConnect, &["v5-second-connect"]),
    (
        Fault::AnswerPingBeforeConnect,
        &["v5-first-packet-not-connect"],
    ),
    (
        Fault::RejectLongClientIds,
        &["v5-client-id-23-characters", "v5-client-id-refusal-closes"],
    ),
    (
        Fault::InjectAuthenticationMethod,
        &["v5-no-authentication-unasked"],
    ),
    (
        Fault::StripAuthenticationMethod,
        &[
            "v5-unsupported-authentication-method",
            "v5-refused-connect-processes-nothing",
        ],
    ),
    (Fault::SwallowAuth, &["v5-auth-without-method"]),
    (
        Fault::SetDupOnDeliveries,
        &["v5-delivery-qos-and-dup", "v5-dup-not-propagated"],
    ),
    (Fault::UpgradeRequestedQos, &["v5-delivery-qos-and-dup"]),
    (Fault::ClearDupOnDeliveries, &["v5-redelivery-on-reconnect"]),
    (Fault::SwapDeliveries, &["v5-ordered-delivery"]),
    (Fault::DropReusedIds, &["v5-packet-id-reuse"]),
    (
        Fault::RedeliverDuplicate,
        &["v5-qos2-duplicate-delivered-once"],
    ),
    (Fault::ClearRetainInbound, &["v5-retained-lifecycle"]),
    (Fault::FakeUnsuback, &["v5-unsubscribe-stops-delivery"]),
    (Fault::WrongDeliveryTopic, &["v5-wildcards"]),
    (Fault::UnshareSubscriptions, &["v5-shared-subscription"]),
    (Fault::PubackNoMatchingSubscribers, &["v5-puback-success"]),
    (
        Fault::PubcompNotFound,
        &["v5-qos2-flow", "v5-qos2-released-after-expiry"],
    ),
    (Fault::ReuseDeliveryIds, &["v5-delivery-packet-ids-unused"]),
    (
        Fault::DropResentPubrel,
        &["v5-qos2-redelivery-on-reconnect"],
    ),
    (Fault::IgnoreFailedAcks, &["v5-failed-ack-not-resent"]),
    (
        Fault::RememberFailedPubrec,
        &["v5-pubrec-failure-then-new-message"],
    ),
    (
        Fault::DropRedeliveries,
        &[
            "v5-qos2-redelivery-on-reconnect",
            "v5-shared-delivery-completed-on-return",
            // Also one of mosquitto's deviations (see MOSQUITTO_DEVIATES).
            "v5-qos2-sent-not-expired",
        ],
    ),
    (
        Fault::HandOverToAnotherMember,
        &[
            "v5-shared-delivery-completed-on-return",
            "v5-shared-not-handed-over-after-session-end",
            "v5-shared-refusal-discards",
        ],
    ),
    (
        Fault::DropAcksAfterUnsubscribe,
        &["v5-unsubscribe-completes-inflight"],
    ),
    (
        Fault::DropDeliveriesAfterSessionExpiry,
        &["v5-session-kept-while-connected"],
    ),
    (Fault::StripByteOrderMark, &["v5-byte-order-mark-kept"]),
    (
        Fault::DollarCopiedUndollared,
        &["v5-dollar-topics-not-matched-by-wildcards"],
    ),
    (Fault::DropLongPackets, &["v5-longest-topic"]),
    (
        Fault::SubscriptionsAtFirstQos,
        &["v5-overlapping-highest-qos"],
    ),
    (
        Fault::UnderstateCapabilities,
        &[
            "v5-maximum-qos-subscriptions",
            "v5-will-qos-within-maximum",
            "v5-will-retain-within-retain-available",
        ],
    ),
    (
        Fault::InjectReasonString,
        &["v5-no-problem-information-unasked"],
    ),
    (
        Fault::StripTopicAliasMaximum,
        &["v5-topic-alias-over-maximum"],
    ),
    (
        Fault::ReverseUserProperties,
        &[
            "v5-user-properties-forwarded",
            "v5-will-properties-forwarded",
        ],
    ),
    (
        Fault::StripMessageProperties,
        &[
            "v5-message-properties-forwarded",
            "v5-will-properties-forwarded",
        ],
    ),
    (Fault::StripMessageExpiry, &["v5-message-expiry-forwarded"]),
    (
        Fault::IgnoreMessageExpiry,
        &["v5-message-expired-not-delivered"],
    ),
    (Fault::StripTopicAlias, &["v5-topic-alias-inbound"]),
    (
        Fault::ResolveAliasesUnbounded,
        &["v5-topic-alias-not-carried", "v5-topic-alias-over-maximum"],
    ),
    (Fault::InjectTopicAlias, &["v5-no-topic-alias-unasked"]),
    (
        Fault::AliasPastMaximum,
        &["v5-topic-alias-outbound-within-maximum"],
    ),
    (Fault::SubackReasonsReversed, &["v5-suback-reason-codes"]),
    (Fault::UnsubackAllSuccess, &["v5-unsuback-reason-codes"]),
    (
        Fault::ClearNoLocal,
        // The second is also one of mosquitto's deviations (see MOSQUITTO_DEVIATES).
        &["v5-no-local", "v5-shared-no-local-refused"],
    ),
    (Fault::ClearRetainAsPublished, &["v5-retain-as-published"]),
    (
        Fault::RetainHandlingAlwaysSend,
        &["v5-retain-handling-if-new", "v5-retain-handling-none"],
    ),
    (Fault::RetainHandlingIfNew, &["v5-retain-handling-send"]),
    (
        Fault::StripSubscriptionIdentifiers,
        &[
            "v5-subscription-identifier",
            "v5-subscription-identifiers-overlapping",
        ],
    ),
    (
        Fault::StripMaximumPacketSize,
        &["v5-maximum-packet-size-to-client"],
    ),
    (Fault::DropOversize, &["v5-packet-too-large-refused"]),
    (
        Fault::DisconnectNormalAsWill,
        &["v5-disconnect-normal-discards-will"],
    ),
    (
        Fault::DisconnectWillAsNormal,
        &[
            "v5-disconnect-with-will",
            // Their Watched5 helper ends connections with DISCONNECT 0x04 and awaits the Will.
            "v5-session-resumed",
        ],
    ),
    (
        Fault::StripWillDelay,
        &["v5-will-delay-elapsed", "v5-will-delay-reconnect"],
    ),
    (
        Fault::IgnoreMalformed,
        &[
            "v5-reserved-connect-flag",
            "v5-connect-property-not-allowed",
            "v5-connect-duplicate-property",
            "v5-connect-property-length-overrun",
            "v5-non-minimal-variable-byte-integer",
            "v5-will-qos-3",
            "v5-will-bits-without-will",
            "v5-client-id-invalid-utf8",
            "v5-user-property-null-character",
            "v5-publish-qos-3",
            "v5-publish-wildcard-topic",
            "v5-publish-invalid-utf8-topic",
            "v5-publish-property-not-allowed",
            "v5-pubrel-reserved-flags",
            "v5-subscribe-reserved-flags",
            "v5-subscribe-reserved-option-bits",
            "v5-subscribe-no-filters",
            "v5-unsubscribe-reserved-flags",
            "v5-unsubscribe-no-filters",
            "v5-disconnect-reserved-flags",
            "v5-auth-reserved-flags",
            "v5-topic-alias-zero",
            "v5-unsupported-protocol-level",
            "v5-invalid-protocol-name",
            "v5-invalid-filters-refused",
            "v5-will-flag-without-will-fields",
            "v5-user-name-flag-without-user-name",
            "v5-password-flag-without-password",
            "v5-user-name-without-flag",
            "v5-will-topic-invalid-utf8",
            "v5-user-name-invalid-utf8",
            "v5-publish-empty-topic-without-alias",
            "v5-publish-null-in-topic",
            "v5-content-type-invalid-utf8",
            "v5-response-topic-invalid-utf8",
            // Also one of mosquitto's deviations (see MOSQUITTO_DEVIATES).
            "v5-response-topic-wildcard",
            "v5-subscribe-invalid-utf8",
            "v5-unsubscribe-invalid-utf8",
        ],
    ),
    (Fault::ClearWillRetain, &["v5-will-retained"]),
    // Faults aimed at mosquitto's deviations: they break the rule further, which the checks
    // report, but mosquitto fails them already (see MOSQUITTO_DEVIATES).
    (
        Fault::DisconnectReasonUnspecified,
        &["v5-takeover-disconnect"],
    ),
    (Fault::KeepAliveZero, &["v5-keep-alive-expiry"]),
    (Fault::StripReceiveMaximum, &["v5-receive-maximum"]),
    (
        Fault::HalveReceiveMaximum,
        &["v5-server-receive-maximum-enforced"],
    ),
    (
        Fault::StripInboundSubscriptionIdentifier,
        &["v5-publish-subscription-identifier"],
    ),
];

/// The longest a 5.0 check waits for an answer from the relay; failing checks mostly fail by
/// waiting this long.
const TIMEOUT: Duration = Duration::from_millis(1000);

#[test]
fn v5_checks_are_proven_to_fail() {
    let _heavy = crate::heavy();
    let broker = Mosquitto::with_config(MOSQUITTO_V5);
    let all = v5_checks();
    let mut problems = Vec::new();

    // The transparent relay changes nothing: mosquitto's results, deviations included.
    let transparent = Relay::start(broker.port, Fault::None);
    let results = run_v5(
        transparent.port,
        include_str!("../../deviations/mosquitto-2.0.txt"),
        TIMEOUT * 2,
    );
    for result in results.iter().filter(|result| !result.is_acceptable()) {
        problems.push(format!(
            "{} fails through the transparent relay: {:?}",
            result.name, result.verdict
        ));
    }
    drop(transparent);

    for (fault, names) in TARGETS {
        let relay = Relay::start(broker.port, *fault);
        let checks: Vec<_> = all
            .iter()
            .copied()
            .filter(|check| names.contains(&check.name))
            .collect();
        assert_eq!(
            checks.len(),
            names.len(),
            "{fault:?} names an unknown check"
        );
        let context = Context::new("127.0.0.1", relay.port, Version::V5, TIMEOUT);
        for result in conformance::run(&context, &checks, &[]) {
            if !matches!(result.verdict, Verdict::Fail(_)) {
                problems.push(format!(
                    "{} did not fail through {fault:?}: {:?}",
                    result.name, result.verdict
                ));
            }
        }
    }

    for check in &all {
        if !TARGETS.iter().any(|(_, names)| names.contains(&check.name)) {
            problems.push(format!("{} is aimed at by no fault", check.name));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

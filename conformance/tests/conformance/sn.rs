//! The MQTT-SN gateway suite run against our gateway (`mqttsn-gateway`, in-process on
//! `127.0.0.1:0`), in both of its kinds, in front of our broker and in front of a real mosquitto.
//! Every check must pass, or be a deviation listed with its evidence.
//!
//! The gateway is configured with the predefined topic the suite is told about, as a user would
//! pass it with `--sn-predefined 1=<name>`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use conformance::{CheckResult, Context, GatewayTarget, Version, report};
use mqttsn_gateway::{Config, GatewayHandle, GatewayKind};

use crate::Mosquitto;

/// The predefined topic of the gateways under test: id 1 for every client.
pub(crate) const PREDEFINED: (u16, &str) = (1, "conformance/sn/predefined");

/// Our gateway in front of the broker at `broker_port`, once its own broker connection is up.
pub(crate) fn our_gateway(broker_port: u16, kind: GatewayKind) -> GatewayHandle {
    start(broker_config(broker_port, kind))
}

/// A multicast group on a free port, and the interface the kernel routes it to (multicast
/// loopback then delivers a datagram sent to it on this host; `lo` has no route for it).
pub(crate) fn group() -> (SocketAddr, std::net::Ipv4Addr) {
    let port = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free port")
        .port();
    let group = SocketAddr::from(([239, 255, 19, 5], port));
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").expect("a socket");
    probe
        .connect(group)
        .expect("a route for multicast on this machine (the group discovery check needs one)");
    match probe.local_addr().expect("an address").ip() {
        std::net::IpAddr::V4(interface) => (group, interface),
        std::net::IpAddr::V6(_) => unreachable!("an IPv4 group"),
    }
}

/// [`our_gateway`], also listening on a multicast group for SEARCHGW; with the group.
pub(crate) fn our_gateway_in_group(
    broker_port: u16,
    kind: GatewayKind,
) -> (GatewayHandle, SocketAddr) {
    let (group, interface) = group();
    let mut config = broker_config(broker_port, kind);
    config.advertise_address = Some(group);
    config.multicast_interface = interface;
    (start(config), group)
}

fn broker_config(broker_port: u16, kind: GatewayKind) -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        broker_host: "127.0.0.1".into(),
        broker_port,
        kind,
        // The gateway's own MQTT client id derives from its name: two gateways at one broker
        // need two names, or each would take the other's connection over.
        gateway_name: format!("conformance-{kind:?}-{}", std::process::id()),
        ..Config::default()
    };
    config.predefined.insert("*", PREDEFINED.0, PREDEFINED.1);
    config
}

fn start(config: Config) -> GatewayHandle {
    let gateway = mqttsn_gateway::Gateway::start(config).expect("the gateway starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gateway.stats().is_some_and(|stats| stats.broker_connected) {
        assert!(
            Instant::now() < deadline,
            "the gateway did not connect to its broker"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    gateway
}

/// The gateway context for a gateway at `gateway`, with its broker at `broker_port`.
pub(crate) fn context(gateway: SocketAddr, broker_port: Option<u16>, timeout: Duration) -> Context {
    let mut context = Context::new(
        "127.0.0.1",
        broker_port.unwrap_or(1),
        Version::V311,
        timeout,
    );
    context.gateway = Some(GatewayTarget {
        address: gateway,
        predefined: vec![(PREDEFINED.0, PREDEFINED.1.to_owned())],
        broker: broker_port.is_some(),
        group: None,
    });
    context
}

/// Runs every gateway check; the results and their report.
fn run_suite(
    (gateway, group): &(GatewayHandle, SocketAddr),
    broker_port: u16,
    deviations: &str,
) -> Vec<CheckResult> {
    let known = conformance::deviations::parse(deviations).expect("deviations file parses");
    let mut context = context(
        gateway.local_addr(),
        Some(broker_port),
        Duration::from_secs(3),
    );
    if let Some(target) = context.gateway.as_mut() {
        target.group = Some(*group);
    }
    conformance::run(&context, &conformance::checks(), &known)
}

fn gateway_checks() -> usize {
    conformance::checks()
        .iter()
        .filter(|check| check.applies == conformance::Applies::Gateway)
        .count()
}

fn assert_all_pass(results: &[CheckResult], what: &str) {
    let report = report::human(results);
    assert!(
        results.iter().all(CheckResult::is_acceptable),
        "failures against {what}:\n{report}"
    );
    assert!(
        results
            .iter()
            .all(|result| !matches!(result.verdict, conformance::Verdict::Skip(_))),
        "skipped checks against {what}:\n{report}"
    );
    assert_eq!(results.len(), gateway_checks(), "{report}");
}

const OUR_DEVIATIONS: &str = include_str!("../../deviations/mqttsn-gateway.txt");

#[test]
fn our_gateway_in_front_of_our_broker_passes() {
    let config = mqtt_broker::Config {
        listeners: vec!["127.0.0.1:0".parse().expect("an address")],
        ..mqtt_broker::Config::default()
    };
    let broker = mqtt_broker::Broker::start(config).expect("the broker starts");
    let port = broker.local_addrs()[0].port();
    // Both kinds side by side: each check waits on the network, not on the processor.
    let runs: Vec<_> = [GatewayKind::Transparent, GatewayKind::Aggregating]
        .into_iter()
        .map(|kind| {
            std::thread::spawn(move || {
                let gateway = our_gateway_in_group(port, kind);
                let results = run_suite(&gateway, port, OUR_DEVIATIONS);
                gateway.0.shutdown();
                (kind, results)
            })
        })
        .collect();
    for run in runs {
        let (kind, results) = run.join().expect("the run did not panic");
        assert_all_pass(&results, &format!("our {kind:?} gateway and our broker"));
    }
    broker.shutdown();
}

#[test]
fn our_gateway_in_front_of_mosquitto_passes() {
    let broker = Mosquitto::start();
    let gateway = our_gateway_in_group(broker.port, GatewayKind::Transparent);
    let results = run_suite(&gateway, broker.port, OUR_DEVIATIONS);
    gateway.0.shutdown();
    assert_all_pass(&results, "our transparent gateway and mosquitto");
}

#[test]
fn without_a_broker_address_the_observer_checks_are_skipped() {
    let config = mqtt_broker::Config {
        listeners: vec!["127.0.0.1:0".parse().expect("an address")],
        ..mqtt_broker::Config::default()
    };
    let broker = mqtt_broker::Broker::start(config).expect("the broker starts");
    let port = broker.local_addrs()[0].port();
    let gateway = our_gateway(port, GatewayKind::Transparent);
    let context = context(gateway.local_addr(), None, Duration::from_secs(3));
    let checks: Vec<_> = conformance::checks()
        .into_iter()
        .filter(|check| ["sn-publish-qos1", "sn-register"].contains(&check.name))
        .collect();
    let results = conformance::run(&context, &checks, &[]);
    gateway.shutdown();
    broker.shutdown();
    let verdicts: Vec<_> = results
        .iter()
        .map(|result| (result.name, result.verdict.clone()))
        .collect();
    assert!(
        matches!(
            verdicts.as_slice(),
            [
                ("sn-register", conformance::Verdict::Pass),
                ("sn-publish-qos1", conformance::Verdict::Skip(_))
            ]
        ),
        "{verdicts:?}"
    );
}

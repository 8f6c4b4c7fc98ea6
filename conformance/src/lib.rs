//! A black-box conformance suite for MQTT 3.1 / 3.1.1 / 5.0 brokers and MQTT-SN 1.2 gateways.
//!
//! Point it at any broker by address and it runs one check per behaviour, each naming the
//! specification statements it verifies (`MQTT-3.1.2-3` from the 3.1.1 statement catalogue,
//! `V31-DIFF-5` from the catalogue of 3.1 differences, `MQTT5-3.1.2-3` from the 5.0 catalogue for
//! the `v5-*` checks, which run only at [`Version::V5`]). Give the context a [`GatewayTarget`] and
//! it runs the gateway checks instead ([`Applies::Gateway`], citing `SN-6.2-2` style rule ids),
//! watching the broker behind the gateway through the context's host and port. The verdicts are:
//!
//! - **pass**: the broker did what the statements require;
//! - **fail**: it did not, and the report says what happened instead;
//! - **skip**: the check could not run against this broker (a precondition it does not meet);
//! - **observation**: behaviour the specification leaves to the server (MAY), reported, never failed;
//! - **deviation**: a failure listed in a known-deviations file, with the reason.
//!
//! # Independence
//!
//! The 3.x and MQTT-SN suites do not use this project's codecs. The bytes they send and expect are
//! written out in [`wire`] and [`sn_wire`], from the specifications' byte layouts, so that a bug in
//! `mqtt-codec` or `mqttsn-codec` cannot make the suite agree with a server built on it. The 5.0
//! suite reads and writes well-formed packets with `mqtt-codec`'s `v5` module ([`v5_wire`] says why
//! and what keeps it honest: the same checks run against mosquitto) and writes hostile bytes by hand.
//!
//! # Isolation
//!
//! Every check uses its own client identifiers and topics under a run prefix, and deletes the
//! retained messages it creates, so runs against a shared broker neither see each other nor leave
//! anything behind. Checks never sleep for a fixed time to prove that something did *not* happen:
//! they publish a sentinel after it, on a path the specification orders, and look at what arrives
//! first.
//!
//! ```no_run
//! use std::time::Duration;
//! use conformance::{Context, Version, run};
//!
//! let context = Context::new("127.0.0.1", 1883, Version::V311, Duration::from_secs(3));
//! let results = run(&context, &conformance::checks(), &[]);
//! println!("{}", conformance::report::human(&results));
//! ```

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

pub mod check;
mod checks;
pub mod client;
pub mod deviations;
pub mod report;
pub mod sn_client;
pub mod sn_wire;
pub mod tls;
pub mod v5_wire;
pub mod wire;

pub use check::{Applies, Check, Context, GatewayTarget, Verdict};
pub use deviations::KnownDeviation;
pub use wire::Version;

/// The outcome of one check at one protocol version.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The check's name.
    pub name: &'static str,
    /// Its section, for grouping.
    pub section: &'static str,
    /// The statements it verifies.
    pub ids: &'static [&'static str],
    /// The version it ran at (for a gateway check: the version of the broker-side observer).
    pub version: Version,
    /// How reports name the protocol level: `3.1`, `3.1.1`, or `SN` for a gateway check.
    pub level: &'static str,
    /// What it concluded.
    pub verdict: Verdict,
    /// The reason from the known-deviations file, when a failure is listed there.
    pub deviation: Option<String>,
    /// How long it took.
    pub elapsed: Duration,
}

impl CheckResult {
    /// Whether the run may still succeed: anything but an unlisted failure.
    pub fn is_acceptable(&self) -> bool {
        !matches!(self.verdict, Verdict::Fail(_)) || self.deviation.is_some()
    }
}

/// Every check of the suite, in specification order.
pub fn checks() -> Vec<&'static Check> {
    checks::all()
}

/// Runs `checks` that apply to the context, in order, one at a time: with a gateway address, the
/// gateway checks; otherwise the broker checks of the context's version.
pub fn run(
    context: &Context,
    checks: &[&'static Check],
    known: &[KnownDeviation],
) -> Vec<CheckResult> {
    checks
        .iter()
        .filter(|check| match context.gateway {
            Some(_) => check.applies == Applies::Gateway,
            None => check.applies.includes(context.version),
        })
        .map(|check| {
            let started = Instant::now();
            // The context is only read (its counter is atomic), so a check that panics leaves it
            // usable; the TLS configuration inside is what makes the assertion necessary.
            let verdict = match std::panic::catch_unwind(AssertUnwindSafe(|| (check.run)(context)))
            {
                Ok(Ok(verdict)) => verdict,
                Ok(Err(failure)) => Verdict::Fail(failure),
                Err(_) => Verdict::Fail("the check panicked (a bug in the suite)".to_owned()),
            };
            let deviation = match &verdict {
                Verdict::Fail(_) => deviations::reason_for(known, check, context.version),
                _ => None,
            };
            CheckResult {
                name: check.name,
                section: check.section,
                ids: check.ids,
                version: context.version,
                level: match check.applies {
                    Applies::Gateway => "SN",
                    _ => context.version.label(),
                },
                verdict,
                deviation,
                elapsed: started.elapsed(),
            }
        })
        .collect()
}

/// Whether `check` is selected by `filters`: none given, or one is a substring of its name or equal
/// to one of its statement ids.
pub fn selected(check: &Check, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|filter| {
            check.name.contains(filter.as_str()) || check.ids.contains(&filter.as_str())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_are_unique_and_every_check_cites_a_statement() {
        let all = checks();
        let mut names: Vec<_> = all.iter().map(|check| check.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate check names");
        assert!(all.iter().all(|check| !check.ids.is_empty()));
    }

    #[test]
    fn filters_match_names_and_ids() {
        let all = checks();
        let connect = all
            .iter()
            .find(|check| check.name == "connect-accepted")
            .expect("exists");
        assert!(selected(connect, &[]));
        assert!(selected(connect, &["connect".to_owned()]));
        assert!(selected(connect, &["MQTT-3.2.0-1".to_owned()]));
        assert!(!selected(connect, &["MQTT-3.2.0".to_owned()]));
    }
}

//! What survives a restart, and for how long: `persistence`, `persistence_location`,
//! `persistent_client_expiration`, and mosquitto's `autosave_interval` and `autosave_on_changes`.
//!
//! mosquitto keeps its state in memory and saves all of it to `mosquitto.db` every
//! `autosave_interval` seconds (or after that many changes with `autosave_on_changes`), so a crash
//! loses what changed since the last save. This broker writes each change to a write-ahead log as
//! it happens (`persistence/`), so nothing acknowledged is lost and there is no save to schedule:
//! both directives are accepted, checked, and change nothing. The log's compaction is decided by its
//! own size, not by them.

use std::time::Duration;

use super::super::{Parser, boolean, number};

pub(in crate::config) fn directive(
    parser: &mut Parser,
    name: &str,
    value: &str,
) -> Option<Result<(), String>> {
    let result = match name {
        "persistence" => boolean(name, value).map(|on| parser.config.persistence = on),
        "persistence_location" => {
            parser.config.persistence_location = value.into();
            Ok(())
        }
        "autosave_interval" => number(name, value, 0..=u32::MAX as usize).map(drop),
        "autosave_on_changes" => boolean(name, value).map(drop),
        "persistent_client_expiration" => expiration(value).map(|after| {
            parser.config.persistent_client_expiration = Some(after);
        }),
        _ => return None,
    };
    Some(result)
}

/// mosquitto's duration: a whole number and a unit, `h` (hours), `d`, `w`, `m` (months of 30 days)
/// or `y` (365 days).
fn expiration(value: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "`persistent_client_expiration` is a number and a unit (h, d, w, m or y), such as \
             `14d`, not `{value}`"
        )
    };
    let split = value.len().checked_sub(1).ok_or_else(bad)?;
    let (count, unit) = value.split_at_checked(split).ok_or_else(bad)?;
    let count: u64 = count.parse().map_err(|_| bad())?;
    let hours = match unit {
        "h" => 1,
        "d" => 24,
        "w" => 24 * 7,
        "m" => 24 * 30,
        "y" => 24 * 365,
        _ => return Err(bad()),
    };
    count
        .checked_mul(hours * 3600)
        .filter(|seconds| *seconds > 0)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

//! What survives a restart: `persistence`, `persistence_location`, and mosquitto's
//! `autosave_interval`, `autosave_on_changes` and `persistent_client_expiration`.
//!
//! mosquitto keeps its state in memory and saves all of it to `mosquitto.db` every
//! `autosave_interval` seconds (or after that many changes with `autosave_on_changes`), so a crash
//! loses what changed since the last save. This broker writes each change to a write-ahead log as
//! it happens (`persistence/`), so nothing acknowledged is lost and there is no save to schedule:
//! both directives are accepted, checked, and change nothing. The log's compaction is decided by its
//! own size, not by them.

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
        _ => return None,
    };
    Some(result)
}

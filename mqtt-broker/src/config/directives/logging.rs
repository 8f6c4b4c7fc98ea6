//! The log (`logging.rs`): `log_dest`, `log_type`, `log_timestamp`, `log_timestamp_format`,
//! `connection_messages`.
//!
//! As in mosquitto, the first `log_dest` and the first `log_type` replace the defaults (stderr; the
//! error, warning, notice and information types) and later ones add to them; `none` empties the list.

use super::super::{Parser, boolean};
use crate::{LogDestination, LogType};

/// Every type, as `log_type all` says.
pub(crate) const ALL_TYPES: [LogType; 8] = [
    LogType::Debug,
    LogType::Error,
    LogType::Warning,
    LogType::Notice,
    LogType::Information,
    LogType::Subscribe,
    LogType::Unsubscribe,
    LogType::Websockets,
];

pub(in crate::config) fn directive(
    parser: &mut Parser,
    name: &str,
    value: &str,
) -> Option<Result<(), String>> {
    let result = match name {
        "log_dest" => destination(value).map(|destination| {
            let logging = &mut parser.config.logging;
            if !std::mem::replace(&mut parser.log_dest_seen, true) {
                logging.destinations.clear();
            }
            match destination {
                LogDestination::None => logging.destinations = vec![LogDestination::None],
                other => {
                    logging.destinations.retain(|d| *d != LogDestination::None);
                    if !logging.destinations.contains(&other) {
                        logging.destinations.push(other);
                    }
                }
            }
        }),
        "log_type" => kinds(value).map(|kinds| {
            let logging = &mut parser.config.logging;
            if !std::mem::replace(&mut parser.log_type_seen, true) {
                logging.types.clear();
            }
            match kinds {
                None => logging.types.clear(),
                Some(kinds) => {
                    for kind in kinds {
                        if !logging.types.contains(kind) {
                            logging.types.push(*kind);
                        }
                    }
                }
            }
        }),
        "log_timestamp" => boolean(name, value).map(|on| parser.config.logging.timestamp = on),
        "log_timestamp_format" => {
            parser.config.logging.timestamp_format = Some(value.into());
            Ok(())
        }
        "connection_messages" => {
            boolean(name, value).map(|on| parser.config.logging.connection_messages = on)
        }
        _ => return None,
    };
    Some(result)
}

/// One `log_dest` value.
fn destination(value: &str) -> Result<LogDestination, String> {
    let (kind, rest) = value
        .split_once(char::is_whitespace)
        .map_or((value, ""), |(kind, rest)| (kind, rest.trim()));
    let destination = match kind {
        "stderr" => LogDestination::Stderr,
        "stdout" => LogDestination::Stdout,
        "syslog" => LogDestination::Syslog,
        "topic" => LogDestination::Topic,
        "none" => LogDestination::None,
        "file" if rest.is_empty() => return Err("`log_dest file` needs a path".into()),
        "file" => return Ok(LogDestination::File(rest.into())),
        // mosquitto's Windows event log has no meaning here.
        "dlt" => return Err("`log_dest dlt` is not supported: no DLT daemon support".into()),
        _ => {
            return Err(format!(
                "`log_dest` is stderr, stdout, file <path>, syslog, topic or none, not `{value}`"
            ));
        }
    };
    if rest.is_empty() {
        Ok(destination)
    } else {
        Err(format!("`log_dest {kind}` takes no further value"))
    }
}

/// One `log_type` value: its types, or `None` for `none`.
fn kinds(value: &str) -> Result<Option<&'static [LogType]>, String> {
    let kinds: &'static [LogType] = match value {
        "debug" => &[LogType::Debug],
        "error" => &[LogType::Error],
        "warning" => &[LogType::Warning],
        "notice" => &[LogType::Notice],
        "information" => &[LogType::Information],
        "subscribe" => &[LogType::Subscribe],
        "unsubscribe" => &[LogType::Unsubscribe],
        "websockets" => &[LogType::Websockets],
        "all" => &ALL_TYPES,
        "none" => return Ok(None),
        _ => {
            return Err(format!(
                "`log_type` is debug, error, warning, notice, information, subscribe, \
                 unsubscribe, websockets, all or none, not `{value}`"
            ));
        }
    };
    Ok(Some(kinds))
}

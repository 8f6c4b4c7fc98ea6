//! The process around the broker: `pid_file` and `user` (applied by the binary, `main.rs`).

use super::super::Parser;

pub(in crate::config) fn directive(
    parser: &mut Parser,
    name: &str,
    value: &str,
) -> Option<Result<(), String>> {
    match name {
        "pid_file" => parser.config.process.pid_file = Some(value.into()),
        "user" => parser.config.process.user = Some(value.into()),
        _ => return None,
    }
    Some(Ok(()))
}

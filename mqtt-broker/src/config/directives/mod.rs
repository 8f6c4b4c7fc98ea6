//! The directives, one function per group. Each `directive(parser, name, value)` returns `None` for
//! a name that is not its group's, and otherwise what became of the line: `Ok` or the message of an
//! error at that line. Settings that only the whole file can decide (listeners, local-only mode)
//! are left in the [`Parser`](super::Parser) for its final check.

pub(super) mod limits;
pub(super) mod listeners;
pub(super) mod logging;
pub(super) mod persistence;
pub(super) mod process;
pub(super) mod security;

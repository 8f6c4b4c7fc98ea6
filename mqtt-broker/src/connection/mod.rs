//! One client connection: its reader thread (`reader.rs`, the connection's one thread), its writing
//! side (`writer.rs`, which has no thread of its own but a helper while the client is behind), the
//! protocol rules they obey (`protocol.rs`, sans I/O, with their MQTT 5.0 form in `protocol/v5.rs`
//! and 5.0 enhanced authentication in `protocol/auth.rs`), and the Topic Aliases the writer uses
//! toward a 5.0 client (`topic_aliases.rs`, sans I/O).
//!
//! A connection's reader decodes packets and hands them to its protocol machine, then carries out
//! the actions the machine answers (route a message, open a session, send a packet, close); before
//! it blocks again, it writes what it put in channels (its own, and its subscribers') into their
//! sockets. Nobody holds a lock while blocked on I/O.

pub(crate) mod protocol;
mod reader;
pub(crate) mod topic_aliases;
pub(crate) mod writer;

use std::time::Duration;

pub(crate) use reader::{CONNACK_SERVER_UNAVAILABLE, Connection, Context};

/// How long without a read (or, in `writer.rs`, a write) makes a connection quiet: a small read or
/// write after such a spell gives its buffer back instead of keeping it while idle, and a helper
/// thread with nothing to do for as long ends. (Here, beside both files, so that neither imports
/// the other for it.)
pub(crate) const QUIET: Duration = Duration::from_secs(1);

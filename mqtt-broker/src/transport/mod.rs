//! What carries MQTT's bytes: plain TCP, TLS (`tls.rs`) and WebSocket (`websocket.rs`, with the
//! the base64 its handshake needs, `mqtt_scram::base64`), and for a bridge's local side an in-process duplex
//! (`duplex.rs`), all behind one [`Stream`] (`stream.rs`) that a connection's reader and writer share.

// Base64 (password files, the WebSocket handshake): the one copy, which SCRAM needs too.
pub(crate) use mqtt_scram::base64;
pub(crate) mod duplex;
pub(crate) mod http_dir;
mod stream;
pub(crate) mod tls;
pub(crate) mod websocket;

pub(crate) use stream::{HandshakeError, Stream};

//! The mosquitto directives this broker does not have, each with the reason, so that a file written
//! for mosquitto that uses one is refused by name ("`plugin` is not supported: ...") rather than as
//! a typo, and never silently ignored. (Bridge directives are `bridge/config.rs`'s.) The README's
//! "Differences from mosquitto" lists the same names.

/// Why `name` is refused, if it is a mosquitto directive we do not support.
pub(super) fn reason(name: &str) -> Option<&'static str> {
    if name.starts_with("plugin_opt_") || name.starts_with("auth_opt_") {
        return Some(PLUGINS);
    }
    UNSUPPORTED
        .iter()
        .find(|(unsupported, _)| *unsupported == name)
        .map(|(_, why)| *why)
}

const PLUGINS: &str = "plugins are Rust code registered by the program that embeds the broker \
                       (hooks.rs), not shared objects named in a file";

const TLS_ENGINE: &str = "rustls has no OpenSSL engines or key forms; give `keyfile` a PEM key";

const PSK: &str = "rustls has no pre-shared-key cipher suites; use certificates";

/// The names and the reasons.
pub(super) const UNSUPPORTED: &[(&str, &str)] = &[
    ("plugin", PLUGINS),
    ("auth_plugin", PLUGINS),
    ("auth_plugin_deny_special_chars", PLUGINS),
    ("global_plugin", PLUGINS),
    ("psk_file", PSK),
    ("psk_hint", PSK),
    ("tls_engine", TLS_ENGINE),
    ("tls_engine_kpass_sha1", TLS_ENGINE),
    ("tls_keyform", TLS_ENGINE),
    (
        "dhparamfile",
        "rustls offers only ECDHE key exchange, which needs no Diffie-Hellman parameters",
    ),
    (
        "persistence_file",
        "the persistent state is a write-ahead log and snapshot in `persistence_location`, not one \
         file (see the README, \"Persistence\")",
    ),
    (
        "log_facility",
        "syslog lines always go to the daemon facility",
    ),
    (
        "allow_duplicate_messages",
        "deprecated in mosquitto and always true here: a client subscribed by overlapping filters \
         gets one copy per matching subscription",
    ),
    (
        "queue_qos0_messages",
        "QoS 0 messages are not queued for offline persistent sessions, as the protocol allows",
    ),
    (
        "bind_interface",
        "binding to an interface by name needs SO_BINDTODEVICE, which std::net lacks; use \
         `listener <port> <address>`",
    ),
    (
        "socket_domain",
        "the listener's address decides IPv4 or IPv6; give `listener <port> ::` for IPv6",
    ),
    (
        "mount_point",
        "topic prefixes per listener are not implemented",
    ),
    ("max_qos", "the broker always grants QoS up to 2"),
    (
        "use_username_as_clientid",
        "client identifiers are never replaced by user names",
    ),
    (
        "websockets_log_level",
        "WebSocket handshakes are logged under `log_type websockets`; there is no libwebsockets",
    ),
    (
        "websockets_headers_size",
        "the WebSocket handshake's header size limit is fixed (transport/websocket.rs)",
    ),
    (
        "enable_control_api",
        "there is no $CONTROL API; manage users with mqtt-passwd and the ACL file",
    ),
];

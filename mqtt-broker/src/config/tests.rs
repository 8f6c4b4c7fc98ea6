//! The configuration parser's unit tests: each directive sets its field, errors name their file and
//! line, and every error of a file is reported at once.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::transport::tls::TlsSettings;

/// A plain listener on `address` (tests only: a bad literal is the test's own bug).
fn plain(address: &str) -> ListenerSettings {
    ListenerSettings::plain(
        address
            .parse()
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9)),
    )
}

/// Each listener's security settings, in order.
fn security(config: &Config) -> Vec<SecuritySettings> {
    config
        .listeners
        .iter()
        .map(|listener| listener.security.clone())
        .collect()
}

#[test]
fn the_shipped_example_parses_to_the_defaults() {
    let example = include_str!("../../mqtt-broker.conf");
    assert_eq!(
        Config::parse(example, "mqtt-broker.conf"),
        Ok(Config::default())
    );
}

#[test]
fn directives_set_their_fields() {
    let text = "# comment\n\nlistener 1883\nlistener 0 127.0.0.1\nmax_inflight_messages 5\n\
                max_queued_messages 7\nmessage_size_limit 100\nsys_interval 0\n\
                max_connections 3\nallow_zero_length_clientid false\nauto_id_prefix x-\n";
    let config = Config::parse(text, "t.conf");
    let expected = Config {
        listeners: vec![plain("0.0.0.0:1883"), plain("127.0.0.1:0")],
        max_inflight_messages: 5,
        max_queued_messages: 7,
        message_size_limit: 100,
        sys_interval: Duration::ZERO,
        max_connections: Some(3),
        connect_timeout: Duration::from_secs(10),
        allow_zero_length_clientid: false,
        auto_id_prefix: "x-".into(),
        local_only: false,
        ..Config::default()
    };
    assert_eq!(config, Ok(expected));
}

/// mosquitto 2: without any listener configured, the one default listener is on loopback and
/// the broker is in local-only mode (anonymous allowed by default); `port` or `bind_address`
/// configure the default listener, on every interface unless `bind_address` says otherwise.
#[test]
fn local_only_mode_until_a_listener_is_configured() {
    let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883);
    for text in ["", "persistence true\n", "allow_anonymous true\n"] {
        let config = Config::parse(text, "l.conf").expect("parses");
        assert!(config.local_only, "{text}");
        assert_eq!(
            config.listeners,
            [ListenerSettings::plain(loopback)],
            "{text}"
        );
    }
    assert!(Config::default().local_only);
    assert_eq!(
        Config::default().listeners,
        [ListenerSettings::plain(loopback)]
    );
    for (text, address) in [
        ("port 1884\n", "0.0.0.0:1884"),
        ("bind_address 127.0.0.1\n", "127.0.0.1:1883"),
        ("listener 1883\n", "0.0.0.0:1883"),
    ] {
        let config = Config::parse(text, "l.conf").expect("parses");
        assert!(!config.local_only, "{text}");
        assert_eq!(config.listeners, [plain(address)], "{text}");
    }
}

#[test]
fn errors_name_the_file_and_line() {
    let error = Config::parse("sys_interval 10\nmax_inflight_mesages 5\n", "b.conf");
    assert_eq!(
        error.map_err(|error| error.to_string()),
        Err("b.conf:2: unknown directive `max_inflight_mesages`".into())
    );
    for bad in [
        "sys_interval ten",
        "listener",
        "listener 70000",
        "persistence yes",
        "certfile a.pem",
        "listener 8883\ncafile ca.pem",
        "max_connections 0",
        "allow_zero_length_clientid yes",
    ] {
        assert!(
            matches!(
                Config::parse(bad, "c.conf"),
                Err(ConfigError { line: 1, .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn allow_anonymous_false_needs_a_way_to_authenticate() {
    assert!(Config::parse("allow_anonymous false\n", "a.conf").is_err());
    assert!(Config::parse("allow_anonymous false\npassword_file p\n", "a.conf").is_ok());
    // SCRAM users can still connect.
    assert!(Config::parse("allow_anonymous false\nscram_password_file s\n", "a.conf").is_ok());
}

/// `scram_password_file` is global, or with `per_listener_settings` the listener's above it.
#[test]
fn scram_password_file_is_a_security_setting() {
    let config = Config::parse("scram_password_file /etc/scram\n", "s.conf").expect("parses");
    assert_eq!(
        config.scram_password_file,
        Some(PathBuf::from("/etc/scram"))
    );
    assert_eq!(
        config.security_settings().scram_password_file,
        Some(PathBuf::from("/etc/scram"))
    );
    let text = "per_listener_settings true\nlistener 1883\nscram_password_file one\n";
    let config = Config::parse(text, "p.conf").expect("parses");
    assert_eq!(config.scram_password_file, None, "nothing global");
    assert_eq!(
        security(&config),
        [SecuritySettings {
            scram_password_file: Some("one".into()),
            ..SecuritySettings::default()
        }]
    );
}

#[test]
fn tls_directives_belong_to_the_listener_above_them() {
    let text = "listener 1883\nlistener 8883 127.0.0.1\ncertfile s.pem\nkeyfile s.key\n\
                cafile ca.pem\nrequire_certificate true\nuse_identity_as_username true\n\
                password_file pw\nacl_file acl\nallow_anonymous false\npersistence true\n\
                persistence_location /var/lib/mqtt\n";
    let config = Config::parse(text, "t.conf").expect("parses");
    assert_eq!(config.listeners.len(), 2);
    assert_eq!(
        config.listeners[1],
        ListenerSettings::tls(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8883),
            TlsSettings {
                certfile: "s.pem".into(),
                keyfile: "s.key".into(),
                cafile: Some("ca.pem".into()),
                require_certificate: true,
                use_identity_as_username: true,
                ..TlsSettings::default()
            },
        )
    );
    assert_eq!(config.password_file, Some(PathBuf::from("pw")));
    assert_eq!(config.allow_anonymous, Some(false));
    assert!(config.persistence);
    assert_eq!(config.persistence_location, PathBuf::from("/var/lib/mqtt"));
    // A keyfile without a certfile leaves the listener unencrypted: refused, naming its line.
    let error = Config::parse("listener 1\nlistener 2\nkeyfile k\n", "u.conf");
    assert_eq!(error.map_err(|error| error.line), Err(2));
}

#[test]
fn per_listener_settings_follow_their_listener_plain_ones_first() {
    let text = "per_listener_settings true\nlistener 8883\ncertfile s.pem\nkeyfile s.key\n\
                password_file tls.pw\nlistener 1883\nacl_file plain.acl\n\
                allow_anonymous true\n";
    let config = Config::parse(text, "p.conf").expect("parses");
    assert!(config.per_listener_settings);
    assert_eq!(config.password_file, None, "nothing global");
    assert_eq!(
        security(&config),
        [
            SecuritySettings {
                acl_file: Some("plain.acl".into()),
                allow_anonymous: Some(true),
                ..SecuritySettings::default()
            },
            SecuritySettings {
                password_file: Some("tls.pw".into()),
                ..SecuritySettings::default()
            },
        ]
    );
    // Without listener lines, they belong to the default listener.
    let config = Config::parse("per_listener_settings true\npassword_file p\n", "d.conf");
    assert_eq!(
        config.map(|config| security(&config)),
        Ok(vec![SecuritySettings {
            password_file: Some("p".into()),
            ..SecuritySettings::default()
        }])
    );
}

#[test]
fn protocol_websockets_makes_a_ws_or_wss_listener() {
    let text = "listener 1883\nlistener 9001\nprotocol websockets\nlistener 8883\n\
                protocol mqtt\ncertfile s.pem\nkeyfile s.key\nlistener 9443 127.0.0.1\n\
                protocol websockets\ncertfile s.pem\nkeyfile s.key\n";
    let config = Config::parse(text, "w.conf").expect("parses");
    let tls = TlsSettings {
        certfile: "s.pem".into(),
        keyfile: "s.key".into(),
        ..TlsSettings::default()
    };
    // Plain first, then TLS, then WebSocket: the order `local_addrs` has always had.
    assert_eq!(
        config.listeners,
        [
            plain("0.0.0.0:1883"),
            ListenerSettings::tls(
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8883),
                tls.clone()
            ),
            ListenerSettings::websocket(
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9001),
                None
            ),
            ListenerSettings::websocket(
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9443),
                Some(tls)
            ),
        ]
    );
    for (bad, line) in [
        ("protocol websockets\n", 1),
        ("listener 9001\nprotocol http\n", 2),
    ] {
        assert_eq!(
            Config::parse(bad, "x.conf").map_err(|error| error.line),
            Err(line),
            "{bad}"
        );
    }
}

#[test]
fn port_and_bind_address_make_the_default_listener() {
    let config = Config::parse("port 1884\nbind_address 127.0.0.1\n", "d.conf");
    assert_eq!(
        config.map(|config| config.listeners),
        Ok(vec![plain("127.0.0.1:1884")])
    );
}

/// One start reports every error of a file, each with its line, not only the first.
#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let text = "sys_interval ten\nlistener 1883\nmax_inflight_mesages 5\npersistence yes\n\
                listener 8883\nkeyfile k\n";
    let errors = Config::parse_all(text, "many.conf").expect_err("four errors");
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "many.conf:1: `sys_interval` needs a whole number from 0 to 86400, not `ten`",
            "many.conf:3: unknown directive `max_inflight_mesages`",
            "many.conf:4: `persistence` is `true` or `false`, not `yes`",
            "many.conf:5: this listener has TLS directives but not both `certfile` and \
             `keyfile`; it would not be encrypted",
        ]
    );
}

/// `log_dest` and `log_type` as in mosquitto: the first replaces the default, later ones add, and
/// `none` empties; the other logging directives set their fields.
#[test]
fn logging_directives_replace_then_add_to_the_defaults() {
    use crate::{LogDestination, LogType};
    let config = Config::parse(
        "log_dest file /var/log/b.log\nlog_dest syslog\nlog_dest topic\nlog_dest stdout\n\
         log_type subscribe\nlog_type unsubscribe\nlog_type websockets\nlog_type debug\n\
         log_timestamp false\nlog_timestamp_format %H:%M\nconnection_messages false\n",
        "l.conf",
    )
    .expect("parses");
    assert_eq!(
        config.logging.destinations,
        [
            LogDestination::File("/var/log/b.log".into()),
            LogDestination::Syslog,
            LogDestination::Topic,
            LogDestination::Stdout,
        ]
    );
    assert_eq!(
        config.logging.types,
        [
            LogType::Subscribe,
            LogType::Unsubscribe,
            LogType::Websockets,
            LogType::Debug
        ]
    );
    assert!(!config.logging.timestamp);
    assert_eq!(config.logging.timestamp_format.as_deref(), Some("%H:%M"));
    assert!(!config.logging.connection_messages);
    let all = Config::parse("log_type all\nlog_dest none\n", "a.conf").expect("parses");
    assert_eq!(all.logging.types.len(), 8);
    assert_eq!(all.logging.destinations, [LogDestination::None]);
    let none = Config::parse("log_type error\nlog_type none\n", "n.conf").expect("parses");
    assert!(none.logging.types.is_empty());
    for bad in [
        "log_dest file",
        "log_dest pigeon",
        "log_dest stderr now",
        "log_type everything",
        "log_timestamp yes",
        "connection_messages 1",
    ] {
        assert!(Config::parse(bad, "b.conf").is_err(), "{bad}");
    }
}

/// The limits and client directives of issue #18 set their fields; out-of-range values are refused.
#[test]
fn limit_and_client_directives_set_their_fields() {
    let config = Config::parse(
        "max_packet_size 2048\nmax_keepalive 300\nmax_topic_alias 0\nretain_available false\n\
         response_information responses/\nmemory_limit 1048576\n\
         clientid_prefixes sensor-, ops-\nautosave_interval 60\nautosave_on_changes true\n\
         metrics_listener 9100 127.0.0.1\npid_file /run/b.pid\nuser mqtt\n",
        "k.conf",
    )
    .expect("parses");
    assert_eq!(config.max_packet_size, 2048);
    assert_eq!(config.max_keepalive, 300);
    assert_eq!(config.max_topic_alias, 0);
    assert_eq!(config.response_information.as_deref(), Some("responses/"));
    assert_eq!(config.memory_limit, 1_048_576);
    assert!(!config.retain_available);
    assert_eq!(config.clientid_prefixes, ["sensor-", "ops-"]);
    assert_eq!(
        config.metrics_listener,
        Some(plain("127.0.0.1:9100").address)
    );
    assert_eq!(config.process.pid_file, Some(PathBuf::from("/run/b.pid")));
    assert_eq!(config.process.user.as_deref(), Some("mqtt"));
    for bad in [
        "max_packet_size 10",
        "max_keepalive 0",
        "max_keepalive 70000",
        "max_topic_alias 65536",
        "memory_limit lots",
        "retain_available no",
        "autosave_interval soon",
        "autosave_on_changes 5",
        "metrics_listener http",
    ] {
        assert!(Config::parse(bad, "b.conf").is_err(), "{bad}");
    }
}

/// The TLS directives belong to their listener; `ciphers` names are checked when read, and
/// `http_dir` only belongs to a WebSocket listener.
#[test]
fn tls_and_http_directives_belong_to_their_listener() {
    let config = Config::parse(
        "listener 8883\ncertfile s.pem\nkeyfile s.key\ncapath /etc/ssl/certs\ncrlfile c.pem\n\
         use_subject_as_username true\nciphers ECDHE-RSA-AES128-GCM-SHA256\n\
         ciphers_tls1.3 TLS_AES_256_GCM_SHA384\ntls_version tlsv1.3\n\
         listener 9001\nprotocol websockets\nhttp_dir /srv/www\n",
        "t.conf",
    )
    .expect("parses");
    let tls = config.listeners[0].tls.clone().expect("TLS");
    assert_eq!(tls.capath, Some(PathBuf::from("/etc/ssl/certs")));
    assert_eq!(tls.crlfile, Some(PathBuf::from("c.pem")));
    assert!(tls.use_subject_as_username);
    assert_eq!(tls.ciphers.as_deref(), Some("ECDHE-RSA-AES128-GCM-SHA256"));
    assert_eq!(tls.ciphers_tls13.as_deref(), Some("TLS_AES_256_GCM_SHA384"));
    assert_eq!(tls.tls_version, Some(crate::TlsVersion::Tls13));
    assert_eq!(
        config.listeners[1].http_dir,
        Some(PathBuf::from("/srv/www"))
    );
    for (bad, line) in [
        ("capath /etc/ssl/certs\n", 1),
        ("listener 1\nciphers HIGH:!aNULL\n", 2),
        ("listener 1\nciphers_tls1.3 TLS_AES_128_CCM_SHA256\n", 2),
        ("listener 1\ntls_version tlsv1.0\n", 2),
        ("listener 1\nhttp_dir /srv\n", 2),
        ("listener 1\ncapath /x\n", 1),
    ] {
        assert_eq!(
            Config::parse(bad, "x.conf").map_err(|error| error.line),
            Err(line),
            "{bad}"
        );
    }
}

/// mosquitto directives this broker lacks are refused by name with the reason, not as typos.
#[test]
fn unsupported_mosquitto_directives_are_refused_by_name() {
    for name in [
        "plugin",
        "plugin_opt_x",
        "auth_opt_db",
        "psk_file",
        "mount_point",
    ] {
        let error = Config::parse(&format!("{name} 1\n"), "u.conf").expect_err(name);
        assert!(
            error
                .message
                .starts_with(&format!("`{name}` is not supported: ")),
            "{error}"
        );
    }
}

/// `include_dir`: the `.conf` files of the directory in byte order (capitals first), nothing else;
/// errors name the included file; an included file cannot include.
#[test]
fn include_dir_reads_conf_files_in_byte_order() {
    let dir = std::env::temp_dir().join(format!("mqtt-include-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
    write("b.conf", "sys_interval 3\n");
    write("B.conf", "sys_interval 2\n");
    write("a.conf", "auto_id_prefix from-a-\n");
    write("z.txt", "not read at all\n");
    let main = format!("sys_interval 1\ninclude_dir {}\n", dir.display());
    let config = Config::parse(&main, "main.conf").expect("parses");
    // B.conf, a.conf, b.conf: b.conf's value is the last.
    assert_eq!(config.sys_interval, Duration::from_secs(3));
    assert_eq!(config.auto_id_prefix, "from-a-");
    write("c.conf", "\nbogus 1\ninclude_dir /tmp\n");
    let errors = Config::parse_all(&main, "main.conf").expect_err("errors");
    let c = dir.join("c.conf").display().to_string();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!((errors[0].file.as_str(), errors[0].line), (c.as_str(), 2));
    assert_eq!((errors[1].file.as_str(), errors[1].line), (c.as_str(), 3));
    let missing = Config::parse("include_dir /nonexistent/conf.d\n", "m.conf");
    assert_eq!(missing.map_err(|error| error.line), Err(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `persistent_client_expiration` in mosquitto's units.
#[test]
fn persistent_client_expiration_takes_mosquittos_units() {
    for (value, hours) in [
        ("2h", 2),
        ("14d", 336),
        ("1w", 168),
        ("1m", 720),
        ("1y", 8760),
    ] {
        let config = Config::parse(&format!("persistent_client_expiration {value}\n"), "e.conf")
            .expect("parses");
        assert_eq!(
            config.persistent_client_expiration,
            Some(Duration::from_secs(hours * 3600)),
            "{value}"
        );
    }
    for bad in ["14", "d", "0d", "14s", "-1d", "1.5d", "99999999999999999y"] {
        assert!(
            Config::parse(&format!("persistent_client_expiration {bad}\n"), "e.conf").is_err(),
            "{bad}"
        );
    }
}

/// A main file inside its own `include_dir` (mosquitto forbids it) cannot recurse: read again as an
/// included file, its `include_dir` line is an error, reported with the file and line.
#[test]
fn a_file_including_itself_does_not_recurse() {
    let dir = std::env::temp_dir().join(format!("mqtt-include-self-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let main = dir.join("main.conf");
    std::fs::write(&main, format!("include_dir {}\n", dir.display())).expect("write");
    let errors = Config::load(&main).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, 1);
    assert!(
        errors[0].message.contains("only read in the main"),
        "{errors:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `wildcard_subscriptions`, `subscription_identifiers` and `shared_subscriptions` (this broker's
/// own directives) default to true, take `true` or `false`, and a typo in the value or the name
/// is an error that says where and what.
#[test]
fn the_availability_directives_take_true_or_false() {
    let config = Config::parse("", "d.conf").expect("parses");
    assert!(
        config.wildcard_subscriptions
            && config.subscription_identifiers
            && config.shared_subscriptions
    );
    let config = Config::parse(
        "wildcard_subscriptions false\nsubscription_identifiers false\nshared_subscriptions false\n",
        "a.conf",
    )
    .expect("parses");
    assert!(
        !config.wildcard_subscriptions
            && !config.subscription_identifiers
            && !config.shared_subscriptions
    );
    assert_eq!(
        Config::parse("wildcard_subscriptions flase\n", "t.conf")
            .map(|_| ())
            .map_err(|error| error.to_string()),
        Err("t.conf:1: `wildcard_subscriptions` is `true` or `false`, not `flase`".into())
    );
    assert_eq!(
        Config::parse("\nshared_subscription false\n", "t.conf")
            .map(|_| ())
            .map_err(|error| error.to_string()),
        Err("t.conf:2: unknown directive `shared_subscription`".into())
    );
    assert!(Config::parse("subscription_identifiers 0\n", "t.conf").is_err());
}

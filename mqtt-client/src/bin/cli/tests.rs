//! The tools' option parsing and exit codes, without a network.

use std::time::Duration;

use argh::FromArgs;
use mqtt_client::{ProtocolLevel, QoS};

use super::connection::Url;
use super::options::QosArg;
use super::*;

fn parse_pub(args: &[&str]) -> Result<PubArgs, argh::EarlyExit> {
    PubArgs::from_args(&["mqtt-pub"], args)
}

fn parse_sub(args: &[&str]) -> Result<SubArgs, argh::EarlyExit> {
    SubArgs::from_args(&["mqtt-sub"], args)
}

#[test]
fn mosquitto_pub_flags_mean_what_they_mean_there() {
    let args = parse_pub(&[
        "-h", "broker", "-p", "1884", "-t", "a/b", "-m", "hello", "-q", "2", "-r", "-i", "me",
        "-k", "30", "-c", "-u", "user", "-P", "secret", "-V", "mqttv31", "-d",
    ])
    .expect("valid");
    assert_eq!(args.topic.as_deref(), Some("a/b"));
    assert_eq!(args.message.as_deref(), Some("hello"));
    assert!(args.retain && args.debug);
    assert_eq!(args.qos, QosArg(QoS::ExactlyOnce));
    let options = args
        .connection()
        .connect_options()
        .expect("valid")
        .build()
        .expect("valid");
    assert_eq!((options.host(), options.port()), ("broker", 1884));
    assert_eq!(options.client_id(), "me");
    assert_eq!(options.keep_alive(), Duration::from_secs(30));
    assert_eq!(options.level(), ProtocolLevel::Mqtt31);
}

#[test]
fn dash_h_is_the_host_not_help() {
    let args = parse_pub(&["-h", "example.org", "-t", "t", "-n"]).expect("valid");
    assert_eq!(args.host, "example.org");
    let help = parse_pub(&["--help"]).expect_err("help");
    assert!(help.status.is_ok());
    assert!(help.output.contains("-h, --host"), "{}", help.output);
    assert!(help.output.contains("Error codes"), "{}", help.output);
}

#[test]
fn defaults_are_mosquittos() {
    let args = parse_sub(&["-t", "#"]).expect("valid");
    let options = args
        .connection()
        .connect_options()
        .expect("valid")
        .build()
        .expect("valid");
    assert_eq!((options.host(), options.port()), ("localhost", 1883));
    assert_eq!(options.keep_alive(), Duration::from_secs(60));
    assert_eq!(options.level(), ProtocolLevel::Mqtt311);
    assert_eq!(args.qos, QosArg(QoS::AtMostOnce));
}

#[test]
fn tls_changes_the_default_port_to_8883() {
    let args = parse_sub(&["-t", "#", "--cafile", "ca.pem"]).expect("valid");
    let options = args
        .connection()
        .connect_options()
        .expect("valid")
        .build()
        .expect("valid");
    assert_eq!(options.port(), 8883);
}

#[test]
fn sub_takes_repeated_topics_and_its_own_flags() {
    let args = parse_sub(&[
        "-t", "a/#", "-t", "b", "-v", "-C", "3", "-W", "5", "-N", "-R", "-T", "a/x", "-F", "%t",
    ])
    .expect("valid");
    assert_eq!(args.topic, ["a/#", "b"]);
    assert!(args.verbose && args.no_eol && args.skip_retained);
    assert_eq!((args.count, args.timeout), (Some(3), Some(5)));
    assert_eq!(args.filter_out, ["a/x"]);
    assert_eq!(args.format.as_deref(), Some("%t"));
}

#[test]
fn bad_values_are_refused() {
    assert!(parse_pub(&["-t", "t", "-q", "3"]).is_err());
    assert!(parse_pub(&["-t", "t", "-V", "mqttv6"]).is_err());
    assert!(parse_pub(&["-t", "t", "-p", "http"]).is_err());
}

#[test]
fn inconsistent_options_are_usage_errors() {
    let usage = |args: &[&str]| {
        parse_pub(args)
            .expect("parses")
            .connection()
            .connect_options()
            .expect_err("usage error")
    };
    assert!(usage(&["-c"]).contains("-i"));
    assert!(usage(&["-P", "pw"]).contains("-u"));
    assert!(usage(&["--will-payload", "x"]).contains("--will-topic"));
    assert!(usage(&["--cert", "c.pem", "--key", "k.pem"]).contains("--cafile"));
    assert!(usage(&["-i", "a", "-I", "b"]).contains("-I"));
}

#[test]
fn id_prefix_appends_the_process_id() {
    let args = parse_pub(&["-I", "job-"]).expect("valid");
    let options = args
        .connection()
        .connect_options()
        .expect("valid")
        .build()
        .expect("valid");
    assert_eq!(options.client_id(), format!("job-{}", std::process::id()));
}

#[test]
fn will_options_make_a_will() {
    let args = parse_pub(&[
        "--will-topic",
        "w",
        "--will-payload",
        "bye",
        "--will-qos",
        "1",
        "--will-retain",
    ])
    .expect("valid");
    let connection = args.connection();
    assert_eq!(connection.will_qos, Some(QoS::AtLeastOnce));
    assert!(connection.connect_options().is_ok());
}

#[test]
fn urls_are_read_as_mosquitto_reads_them() {
    let url = Url::parse("mqtts://bob:s3:cret@broker.example:1885/a/b/#").expect("valid");
    assert_eq!(
        url,
        Url {
            tls: true,
            host: "broker.example".into(),
            port: 1885,
            username: Some("bob".into()),
            password: Some("s3:cret".into()),
            topic: "a/b/#".into(),
        }
    );
    let url = Url::parse("MQTT://host/t").expect("valid");
    assert_eq!((url.tls, url.port, url.username), (false, 1883, None));
    assert_eq!(Url::parse("mqtts://host/t").expect("valid").port, 8883);
    assert!(
        Url::parse("mqtt://host")
            .expect_err("no topic")
            .contains("topic")
    );
    assert!(
        Url::parse("http://host/t")
            .expect_err("scheme")
            .contains("scheme")
    );
    assert!(
        Url::parse("mqtt://host:x/t")
            .expect_err("port")
            .contains("port")
    );
}

#[test]
fn a_url_sets_host_port_and_credentials() {
    let args = parse_pub(&["-L", "mqtt://u:p@example.org:1999/t", "-m", "x"]).expect("valid");
    let options = args
        .connection()
        .connect_options()
        .expect("valid")
        .build()
        .expect("valid");
    assert_eq!((options.host(), options.port()), ("example.org", 1999));
}

#[test]
fn missing_features_and_bad_properties_are_refused_by_name() {
    let refused = |args: &[&str]| {
        parse_pub(args)
            .expect("parses")
            .connection()
            .connect_options()
            .expect_err("refused")
    };
    assert!(refused(&["-D", "connect", "content-type", "x"]).contains("not allowed for connect"));
    assert!(refused(&["-V", "5", "-x", "soon"]).contains("not a number"));
    assert!(refused(&["-V", "5", "-c"]).contains("client id"));
    assert!(refused(&["-A", "127.0.0.1"]).contains("-A"));
    assert!(refused(&["--unix", "/tmp/s"]).contains("--unix"));
    assert!(refused(&["--psk", "00", "--psk-identity", "me"]).contains("--psk"));
    assert!(refused(&["stray"]).contains("stray"));
    assert!(refused(&["--tls-version", "tlsv1.3"]).contains("--cafile"));
    assert!(refused(&["--cafile", "ca.pem", "--tls-version", "sslv3"]).contains("tlsv1.3"));
}

/// What the 5.0 options make of the connection, as mosquitto's tools would.
fn v5_of(args: &[&str]) -> Option<mqtt_client::ConnectOptions> {
    let options = parse_pub(args)
        .expect("parses")
        .connection()
        .connect_options()
        .expect("valid")
        .build()
        .expect("valid");
    options.is_mqtt5().then_some(options)
}

#[test]
fn dash_v_5_and_dash_d_speak_mqtt5_and_dash_x_alone_does_not() {
    assert!(v5_of(&["-V", "mqttv5"]).is_some());
    assert!(v5_of(&["-V", "5"]).is_some());
    assert!(v5_of(&["-D", "publish", "content-type", "a"]).is_some());
    // An explicit 3.x level wins over -D (mosquitto: the later option wins).
    assert!(v5_of(&["-V", "311", "-D", "publish", "content-type", "a"]).is_none());
    // -x applies to 5.0 clients only, and does not make one.
    assert!(v5_of(&["-x", "30"]).is_none());
    assert!(v5_of(&[]).is_none());
}

#[test]
fn session_expiry_comes_from_dash_x_or_dash_c() {
    let expiry = |args: &[&str]| {
        v5_of(args).and_then(|o| {
            o.connect_properties()
                .and_then(|p| p.session_expiry_interval)
        })
    };
    assert_eq!(expiry(&["-V", "5", "-x", "30"]), Some(30));
    assert_eq!(expiry(&["-V", "5", "-x", "-1", "-i", "me"]), Some(u32::MAX));
    // -c without -x: a session that never expires, as mosquitto asks.
    assert_eq!(expiry(&["-V", "5", "-c", "-i", "me"]), Some(u32::MAX));
    assert_eq!(expiry(&["-V", "5", "-c", "-i", "me", "-x", "60"]), Some(60));
    assert_eq!(expiry(&["-V", "5"]), None);
}

#[test]
fn connect_properties_of_dash_d_reach_the_options() {
    let options = v5_of(&[
        "-D",
        "connect",
        "receive-maximum",
        "7",
        "-D",
        "connect",
        "user-property",
        "a",
        "b",
    ])
    .expect("5.0");
    let properties = options.connect_properties().expect("5.0");
    assert_eq!(properties.receive_maximum, Some(7));
    assert_eq!(properties.user_properties, [("a".into(), "b".into())]);
}

#[test]
fn a_5_0_refusal_exits_with_its_reason_code() {
    let error = Error::RefusedWithReason {
        reason: mqtt_client::v5::ReasonCode::NOT_AUTHORIZED,
        reason_string: None,
        server_reference: None,
    };
    assert_eq!(exit_code(&error), 135);
}

#[test]
fn capath_turns_tls_on() {
    let args = parse_pub(&[
        "--capath",
        "/nonexistent",
        "--ciphers",
        "ECDHE-RSA-AES128-GCM-SHA256:RC4-MD5",
    ])
    .expect("valid");
    let options = args
        .connection()
        .connect_options()
        .expect("valid")
        .build()
        .expect("valid");
    assert_eq!(options.port(), 8883, "--capath turns TLS on");
}

#[test]
fn exit_codes_are_mosquittos() {
    use mqtt_client::ConnectReturnCode;
    assert_eq!(
        exit_code(&Error::Refused(ConnectReturnCode::NotAuthorized)),
        5
    );
    assert_eq!(
        exit_code(&Error::Refused(ConnectReturnCode::IdentifierRejected)),
        2
    );
    assert_eq!(exit_code(&Error::NotConnected), 1);
    assert_eq!(Failure::Timeout.exit_code(), EXIT_TIMEOUT);
}

/// `-D connect authentication-method SCRAM-SHA-256` turns -u and -P into the Scram authenticator:
/// the password is not put in CONNECT, and both are required.
#[test]
fn scram_takes_the_user_name_and_password_out_of_connect() {
    let args = parse_pub(&[
        "-t",
        "t",
        "-n",
        "-u",
        "sensor",
        "-P",
        "pencil",
        "-D",
        "connect",
        "authentication-method",
        "SCRAM-SHA-256",
    ])
    .expect("valid");
    let options = args
        .connection()
        .connect_options()
        .expect("valid")
        .build()
        .expect("valid");
    let shown = format!("{options:?}");
    assert!(
        shown.contains("Authenticator(\"SCRAM-SHA-256\")"),
        "{shown}"
    );
    assert!(!shown.contains("pencil"), "{shown}");
    for missing in [&["-u", "sensor"][..], &["-P", "pencil"][..], &[][..]] {
        let mut argv = vec![
            "-t",
            "t",
            "-n",
            "-D",
            "connect",
            "authentication-method",
            "SCRAM-SHA-256",
        ];
        argv.extend_from_slice(missing);
        let args = parse_pub(&argv).expect("parses");
        assert!(args.connection().connect_options().is_err(), "{missing:?}");
    }
}

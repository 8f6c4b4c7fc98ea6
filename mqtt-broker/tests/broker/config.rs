//! Configuration files as mosquitto users write them, end to end: Debian's stock
//! `/etc/mosquitto/mosquitto.conf` (the fixture `debian-mosquitto.conf`, its paths pointed at a
//! temporary directory) with a `conf.d` file adding a listener, run by our binary unchanged; one file
//! using every directive issue #18 names; and the directives whose effect a client can see
//! (`clientid_prefixes`, `retain_available`, `wildcard_subscriptions`, `subscription_identifiers`,
//! `shared_subscriptions`, `http_dir`, `pid_file`, and the TLS listener's `capath`,
//! `use_subject_as_username`, `crlfile`, `tls_version`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqtt_broker::{Broker, Config};

use crate::client::{Client, Got, TempDir, connack_code, connect};
use crate::tls::Certificates;

/// A port that was free a moment ago: a file cannot say "port 0" to a broker whose address the test
/// must then learn from outside, so the test picks one (as the bridge tests do).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// The broker binary, killed if the test ends before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `mqtt-broker -c conf` and waits until `port` accepts connections (the file's log goes
/// to a file, so there is no line on stderr to wait for; the wait is bounded).
fn run(conf: &std::path::Path, port: u16) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_mqtt-broker"))
        .arg("-c")
        .arg(conf)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mqtt-broker starts");
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = running.0.try_wait() {
            panic!("the broker exited with {status} instead of listening");
        }
        assert!(Instant::now() < deadline, "the broker never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    running
}

/// Stops the binary with SIGTERM and returns whether it exited 0.
fn stop(mut running: Running) -> bool {
    let _ = Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = running.0.try_wait() {
            return status.success();
        }
        assert!(
            Instant::now() < deadline,
            "the broker did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Issue #18's "done when": Debian's own mosquitto.conf (pid_file, persistence, log_dest file,
/// include_dir) with a conf.d listener starts our binary, a client connects and round-trips a
/// retained message, the pid file holds the broker's pid until a clean stop removes it, and the log
/// file has the connection line.
#[test]
fn debians_stock_mosquitto_conf_runs_unchanged() {
    let dir = TempDir::new("debian");
    for sub in ["run", "lib", "log", "conf.d"] {
        std::fs::create_dir_all(dir.0.join(sub)).expect("dirs");
    }
    let stock = include_str!("debian-mosquitto.conf");
    assert!(
        stock.contains("include_dir /etc/mosquitto/conf.d"),
        "the fixture is Debian's"
    );
    let root = dir.0.display().to_string();
    let text = stock
        .replace("/run/mosquitto/", &format!("{root}/run/"))
        .replace("/var/lib/mosquitto/", &format!("{root}/lib/"))
        .replace("/var/log/mosquitto/", &format!("{root}/log/"))
        .replace("/etc/mosquitto/conf.d", &format!("{root}/conf.d"));
    let conf = dir.file("mosquitto.conf", &text);
    let port = free_port();
    std::fs::write(
        dir.0.join("conf.d/local.conf"),
        format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
    )
    .expect("conf.d file");
    // Not a .conf file: include_dir skips it (it would be an error if read).
    std::fs::write(dir.0.join("conf.d/README"), "not a configuration file\n").expect("README");
    let running = run(&conf, port);
    let pid = std::fs::read_to_string(dir.0.join("run/mosquitto.pid")).expect("the pid file");
    assert_eq!(pid.trim(), running.0.id().to_string());

    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let (mut publisher, _) = Client::connect(address, "debian-pub", true);
    publisher.publish("debian/t", b"stock", 1, 1, true);
    assert_eq!(publisher.recv(), crate::client::Got::PubAck(1));
    publisher.disconnect();
    let (mut subscriber, _) = Client::connect(address, "debian-sub", true);
    subscriber.subscribe("debian/t", 0);
    match subscriber.recv() {
        crate::client::Got::Publish { payload, .. } => assert_eq!(payload, b"stock"),
        other => panic!("expected the retained message, got {other:?}"),
    }
    subscriber.disconnect();

    assert!(stop(running), "a clean exit");
    assert!(
        !dir.0.join("run/mosquitto.pid").exists(),
        "the pid file is removed at a clean exit"
    );
    let log = std::fs::read_to_string(dir.0.join("log/mosquitto.log")).expect("the log file");
    assert!(
        log.contains("New client connected from 127.0.0.1"),
        "log_dest file has the connection lines: {log}"
    );
    assert!(
        std::fs::read_dir(dir.0.join("lib"))
            .expect("persistence dir")
            .next()
            .is_some(),
        "persistence_location holds the store"
    );
}

/// One file with every directive of issue #18 that this broker accepts parses and starts a broker
/// (port 0 everywhere: the library reports the addresses), and the WebSocket listener's `http_dir`
/// serves a file and refuses a path out of the directory.
#[test]
fn a_file_with_every_new_directive_starts() {
    let certs = Certificates::generate();
    let dir = TempDir::new("every");
    std::fs::create_dir_all(dir.0.join("conf.d")).expect("conf.d");
    std::fs::create_dir_all(dir.0.join("www")).expect("www");
    std::fs::create_dir_all(dir.0.join("cas")).expect("cas");
    std::fs::copy(certs.path("ca.pem"), dir.0.join("cas/ca.pem")).expect("capath");
    std::fs::write(dir.0.join("www/index.html"), "<h1>broker</h1>").expect("index");
    std::fs::write(dir.0.join("secret"), "outside").expect("secret");
    dir.file("conf.d/b.conf", "max_keepalive 120\n");
    dir.file("conf.d/A.conf", "max_keepalive 60\n");
    let path = |name: &str| certs.path(name).display().to_string();
    let root = dir.0.display().to_string();
    let text = format!(
        "pid_file {root}/broker.pid\n\
         user root\n\
         log_dest file {root}/broker.log\n\
         log_dest stdout\n\
         log_type all\n\
         log_type none\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n\
         log_type information\n\
         log_type subscribe\n\
         log_type unsubscribe\n\
         log_type websockets\n\
         log_type debug\n\
         log_timestamp true\n\
         log_timestamp_format %Y-%m-%dT%H:%M:%S\n\
         connection_messages true\n\
         autosave_interval 1800\n\
         autosave_on_changes false\n\
         persistent_client_expiration 14d\n\
         persistence true\n\
         persistence_location {root}/\n\
         retain_available true\n\
         max_packet_size 1048576\n\
         max_inflight_bytes 0\n\
         upgrade_outgoing_qos false\n\
         check_retain_source true\n\
         memory_limit 104857600\n\
         allow_zero_length_clientid true\n\
         auto_id_prefix auto-\n\
         clientid_prefixes every-\n\
         metrics_listener 0 127.0.0.1\n\
         listener 0 127.0.0.1\n\
         allow_anonymous true\n\
         listener 0 127.0.0.1\n\
         protocol websockets\n\
         http_dir {root}/www\n\
         listener 0 127.0.0.1\n\
         certfile {cert}\n\
         keyfile {key}\n\
         capath {root}/cas\n\
         require_certificate false\n\
         use_subject_as_username true\n\
         ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384\n\
         ciphers_tls1.3 TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384\n\
         tls_version tlsv1.2\n\
         include_dir {root}/conf.d\n",
        cert = path("server.pem"),
        key = path("server.key"),
    );
    let conf = dir.file("every.conf", &text);
    let config = Config::load(&conf).unwrap_or_else(|errors| panic!("parses: {errors:?}"));
    // conf.d files in byte order: `A.conf` before `b.conf`, so b's value stands.
    assert_eq!(config.max_keepalive, 120);
    assert_eq!(config.clientid_prefixes, ["every-"]);
    assert!(config.process.pid_file.is_some());
    assert_eq!(config.logging.types.len(), 8);
    let broker = Broker::start(config).expect("the broker starts");
    assert!(broker.metrics_addr().is_some());
    let [plain, tls, ws] = broker.local_addrs() else {
        panic!("three listeners: {:?}", broker.local_addrs());
    };
    assert_ne!(plain.port(), tls.port());
    let get = |target: &str| {
        let mut stream = TcpStream::connect(ws).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(stream, "GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };
    let page = get("/index.html");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.ends_with("<h1>broker</h1>"), "{page}");
    for hostile in ["/../secret", "/%2e%2e/secret"] {
        let refused = get(hostile);
        assert!(refused.starts_with("HTTP/1.1 403"), "{hostile}: {refused}");
        assert!(!refused.contains("outside"), "{hostile}: {refused}");
    }
    // An identifier without the prefix is refused with CONNACK 2.
    let (_, code) = connack_code(*plain, connect("laptop", true));
    assert_eq!(code, 2);
    let (client, _) = Client::connect(*plain, "every-1", true);
    client.disconnect();
    broker.shutdown();
}

/// `retain_available false`: a retained PUBLISH closes its connection without PUBACK, and nothing
/// is retained for a later subscriber; an unretained one is delivered.
#[test]
fn retain_available_false_refuses_retained_publishes() {
    let config = Config::parse(
        "listener 0 127.0.0.1\nallow_anonymous true\nretain_available false\nsys_interval 0\n",
        "r.conf",
    )
    .expect("parses");
    let broker = Broker::start(config).expect("starts");
    let address = broker.local_addrs()[0];
    let (mut publisher, _) = Client::connect(address, "r-pub", true);
    publisher.publish("r/t", b"kept?", 1, 1, true);
    publisher.expect_closed();
    let (mut subscriber, _) = Client::connect(address, "r-sub", true);
    subscriber.subscribe("r/t", 1);
    let (mut publisher, _) = Client::connect(address, "r-pub2", true);
    publisher.publish("r/t", b"live", 1, 1, false);
    assert_eq!(publisher.recv(), crate::client::Got::PubAck(1));
    match subscriber.recv() {
        crate::client::Got::Publish {
            payload, retain, ..
        } => {
            assert_eq!(
                payload, b"live",
                "the refused retained message was never stored"
            );
            assert!(!retain);
        }
        other => panic!("expected the live message, got {other:?}"),
    }
    broker.shutdown();
}

/// A broker whose file switches wildcard subscriptions, Subscription Identifiers and shared
/// subscriptions off.
fn without_subscription_features() -> (mqtt_broker::BrokerHandle, SocketAddr) {
    let config = Config::parse(
        "listener 0 127.0.0.1\nallow_anonymous true\nsys_interval 0\n\
         wildcard_subscriptions false\nsubscription_identifiers false\nshared_subscriptions false\n",
        "f.conf",
    )
    .expect("parses");
    let broker = Broker::start(config).expect("starts");
    let address = broker.local_addrs()[0];
    (broker, address)
}

/// At 5.0 the three directives are true to what CONNACK announces: Wildcard Subscription,
/// Subscription Identifiers and Shared Subscription Available 0; a SUBSCRIBE that asks for one all
/// the same is a Protocol Error, DISCONNECT 0xA2, 0xA1 or 0x9E (5.0 §3.2.2.3.11 to §3.2.2.3.13),
/// and an ordinary filter is granted.
#[test]
fn switched_off_subscription_features_are_announced_and_refused_at_5_0() {
    use crate::mqtt5::{Client5, Got5, connect, options, p};
    use mqtt_codec::QoS;
    use mqtt_codec::v5::Property;

    let (broker, address) = without_subscription_features();
    let (mut client, connack) = Client5::connect_with(address, connect("f-5"));
    let Got5::ConnAck {
        reason: 0,
        properties,
        ..
    } = connack
    else {
        panic!("expected CONNACK 0, got {connack:?}");
    };
    for announced in [
        Property::WildcardSubscriptionAvailable(0),
        Property::SubscriptionIdentifierAvailable(0),
        Property::SharedSubscriptionAvailable(0),
    ] {
        assert!(properties.contains(&p(announced)), "{properties:?}");
    }
    assert_eq!(
        client.subscribe(1, &[("f/t", options(QoS::AtLeastOnce))], &[]),
        Got5::SubAck(1, vec![1])
    );
    let identifier = [Property::SubscriptionIdentifier(9)];
    let refused: [(&str, &[Property<'_>], u8); 3] = [
        ("f/+", &[], 0xA2),
        ("f/t", &identifier, 0xA1),
        ("$share/g/f/t", &[], 0x9E),
    ];
    for (filter, properties, code) in refused {
        let (mut client, _) = Client5::connect_with(address, connect("f-5-refused"));
        assert_eq!(
            client.subscribe(2, &[(filter, options(QoS::AtMostOnce))], properties),
            Got5::Disconnect(code),
            "{filter}"
        );
        client.expect_closed();
    }
    client.barrier();
    broker.shutdown();
}

/// At 3.1.1, which cannot announce what is missing, a filter the directives switch off is refused
/// alone with 0x80 [MQTT-3.8.4-5], the other filters of the same SUBSCRIBE granted.
#[test]
fn switched_off_subscription_features_are_refused_0x80_at_3_1_1_mqtt_3_8_4_5() {
    use mqtt_codec::{List, Packet, QoS, Subscribe, Subscription, TopicFilter};

    let (broker, address) = without_subscription_features();
    let (mut client, _) = Client::connect(address, "f-4", true);
    let entries = ["f/t", "f/#", "$share/g/f/t"].map(|filter| Subscription {
        filter: TopicFilter::new(filter).expect("filter"),
        qos: QoS::AtLeastOnce,
    });
    client.send(Packet::Subscribe(Subscribe {
        packet_id: crate::client::id(3),
        filters: List::from_slice(&entries),
    }));
    assert_eq!(client.recv(), Got::SubAck(3, vec![1, 0x80, 0x80]));
    client.barrier();
    broker.shutdown();
}

/// Runs a mosquitto tool against our TLS listener on `port` with `args`.
fn mosquitto(tool: &str, certs: &Certificates, port: u16, args: &[&str]) -> std::process::Output {
    Command::new(tool)
        .args(["-h", "localhost", "-p", &port.to_string(), "--cafile"])
        .arg(certs.path("ca.pem"))
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{tool} is needed (mosquitto-clients): {error}"))
}

/// `capath` (the CA found in a directory), `use_subject_as_username` (the ACL names the whole
/// subject, `CN=device-1`), and `crlfile` (a revoked certificate is refused at the handshake),
/// with mosquitto_pub as the client.
#[test]
fn capath_crlfile_and_the_subject_as_user_name() {
    let certs = Certificates::generate();
    certs.issue("revoked", "ca", "device-1", "clientAuth");
    let work = TempDir::new("crl");
    std::fs::write(
        work.0.join("ca.cnf"),
        "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\ndefault_md=sha256\n\
         default_crl_days=2\n",
    )
    .expect("ca.cnf");
    std::fs::write(work.0.join("index.txt"), "").expect("index");
    std::fs::write(work.0.join("crlnumber"), "01\n").expect("crlnumber");
    let ca = |args: &str| {
        let status = Command::new("openssl")
            .args(args.split_whitespace())
            .args(["-keyfile"])
            .arg(certs.path("ca.key"))
            .arg("-cert")
            .arg(certs.path("ca.pem"))
            .current_dir(&work.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args}");
    };
    ca(&format!(
        "ca -config ca.cnf -revoke {}",
        certs.path("revoked.pem").display()
    ));
    ca("ca -config ca.cnf -gencrl -out crl.pem");
    std::fs::create_dir_all(work.0.join("cas")).expect("cas");
    std::fs::copy(certs.path("ca.pem"), work.0.join("cas/ca.pem")).expect("copy");
    let acl = work.file("acl", "user CN=device-1\ntopic readwrite dev/#\n");
    let text = format!(
        "listener 0 127.0.0.1\ncertfile {}\nkeyfile {}\ncapath {}\ncrlfile {}\n\
         require_certificate true\nuse_subject_as_username true\nallow_anonymous false\n\
         acl_file {}\nsys_interval 0\n",
        certs.path("server.pem").display(),
        certs.path("server.key").display(),
        work.0.join("cas").display(),
        work.0.join("crl.pem").display(),
        acl.display()
    );
    let config = Config::parse(&text, "tls.conf").expect("parses");
    let broker = Broker::start(config).expect("starts");
    let port = broker.local_addrs()[0].port();
    let with = |name: &str, args: &[&str], tool: &str| {
        let mut all = vec![
            "--cert".to_owned(),
            certs.path(&format!("{name}.pem")).display().to_string(),
            "--key".to_owned(),
            certs.path(&format!("{name}.key")).display().to_string(),
        ];
        all.extend(args.iter().map(|arg| (*arg).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        mosquitto(tool, &certs, port, &all)
    };
    let published = with(
        "client",
        &["-t", "dev/x", "-m", "by subject", "-r", "-q", "1"],
        "mosquitto_pub",
    );
    assert!(published.status.success(), "{published:?}");
    let received = with(
        "client",
        &["-t", "dev/x", "-C", "1", "-W", "5"],
        "mosquitto_sub",
    );
    assert_eq!(
        String::from_utf8_lossy(&received.stdout).trim(),
        "by subject",
        "the ACL's `user CN=device-1` matched: {received:?}"
    );
    let revoked = with(
        "revoked",
        &["-t", "dev/x", "-m", "revoked", "-q", "1"],
        "mosquitto_pub",
    );
    assert!(
        !revoked.status.success(),
        "a revoked certificate is refused"
    );
    broker.shutdown();
}

/// `tls_version tlsv1.3`: a client limited to TLS 1.2 fails the handshake, one offering 1.3
/// completes it. (mosquitto_pub's `--tls-version tlsv1.2` is a minimum too, so a rustls client
/// limited to one version is used.)
#[test]
fn tls_version_sets_the_oldest_version_accepted() {
    use rustls::pki_types::ServerName;

    let certs = Certificates::generate();
    let text = format!(
        "listener 0 127.0.0.1\ncertfile {}\nkeyfile {}\ntls_version tlsv1.3\n\
         allow_anonymous true\nsys_interval 0\n",
        certs.path("server.pem").display(),
        certs.path("server.key").display(),
    );
    let broker = Broker::start(Config::parse(&text, "v.conf").expect("parses")).expect("starts");
    let address = broker.local_addrs()[0];
    let handshake = |version: &'static rustls::SupportedProtocolVersion| {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(certs.path("ca.pem")).expect("ca.pem") {
            roots.add(cert.expect("a CA certificate")).expect("usable");
        }
        let config = rustls::ClientConfig::builder_with_protocol_versions(&[version])
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").expect("name");
        let mut connection =
            rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("client");
        let mut tcp = TcpStream::connect(address).expect("connects");
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut result = Ok(());
        while connection.is_handshaking() {
            if let Err(error) = connection.complete_io(&mut tcp) {
                result = Err(error);
                break;
            }
        }
        result
    };
    assert!(
        handshake(&rustls::version::TLS12).is_err(),
        "TLS 1.2 only: refused"
    );
    assert!(
        handshake(&rustls::version::TLS13).is_ok(),
        "TLS 1.3: accepted"
    );
    broker.shutdown();
}

/// A file with several mistakes, run by the binary: every one is printed with its file and line
/// (the included file's name for its own), and the exit status is 3.
#[test]
fn the_binary_prints_every_error_and_exits_3() {
    let dir = TempDir::new("errors");
    std::fs::create_dir_all(dir.0.join("conf.d")).expect("conf.d");
    dir.file("conf.d/x.conf", "log_type everything\n");
    let conf = dir.file(
        "bad.conf",
        &format!(
            "max_inflight_mesages 5\nplugin /usr/lib/x.so\ninclude_dir {}\npersistence yes\n",
            dir.0.join("conf.d").display()
        ),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_mqtt-broker"))
        .arg("-c")
        .arg(&conf)
        .env_remove("RUST_LOG")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for wanted in [
        "bad.conf:1: unknown directive `max_inflight_mesages`",
        "bad.conf:2: `plugin` is not supported: ",
        "x.conf:1: `log_type` is debug, error,",
        "bad.conf:4: `persistence` is `true` or `false`",
    ] {
        assert!(stderr.contains(wanted), "{wanted} in {stderr}");
    }
}

/// `persistent_client_expiration` (set here from a program, in milliseconds, since the file's
/// smallest unit is an hour): a 3.1.1 persistent session left longer than that is over, so the
/// next CONNECT gets Session Present 0; without it the session is resumed.
#[test]
fn persistent_client_expiration_ends_idle_3_1_1_sessions() {
    for (expiration, resumed) in [(None, true), (Some(Duration::from_millis(1)), false)] {
        let broker = Broker::start(Config {
            listeners: vec!["127.0.0.1:0".parse().expect("address")],
            persistent_client_expiration: expiration,
            sys_interval: Duration::ZERO,
            ..Config::default()
        })
        .expect("starts");
        let address = broker.local_addrs()[0];
        let (mut client, _) = Client::connect(address, "expiring", false);
        client.subscribe("e/#", 1);
        client.disconnect();
        // The expiry is measured from the disconnection, which the broker sees after the
        // DISCONNECT: time has to pass, and nothing can be awaited instead of it.
        std::thread::sleep(Duration::from_millis(50));
        let (client, session_present) = Client::connect(address, "expiring", false);
        assert_eq!(session_present, resumed, "expiration {expiration:?}");
        client.disconnect();
        broker.shutdown();
    }
}

/// `persistent_client_expiration` ends a 3.1.1 persistent session on time, as a 5.0 session's
/// interval does, not only when its client returns: `$SYS/broker/clients/expired` counts it and
/// `clients/total` no longer does. `$SYS` is polled with a bounded deadline.
#[test]
fn persistent_client_expiration_ends_a_3_1_1_session_without_its_client() {
    let broker = Broker::start(Config {
        listeners: vec!["127.0.0.1:0".parse().expect("address")],
        persistent_client_expiration: Some(Duration::from_millis(300)),
        sys_interval: Duration::from_secs(1),
        ..Config::default()
    })
    .expect("starts");
    let address = broker.local_addrs()[0];
    let (mut watcher, _) = Client::connect(address, "watcher", true);
    watcher.subscribe("$SYS/broker/clients/+", 0);
    let (mut client, _) = Client::connect(address, "idle", false);
    client.subscribe("e/#", 1);
    client.disconnect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut expired, mut total) = (String::new(), String::new());
    while (expired.as_str(), total.as_str()) != ("1", "1") {
        assert!(
            Instant::now() < deadline,
            "expired {expired:?}, total {total:?}"
        );
        if let Got::Publish { topic, payload, .. } = watcher.recv() {
            let value = String::from_utf8_lossy(&payload).into_owned();
            match topic.as_str() {
                "$SYS/broker/clients/expired" => expired = value,
                "$SYS/broker/clients/total" => total = value,
                _ => {}
            }
        }
    }
    broker.shutdown();
}

/// The logging directives in a file run by the binary: `log_dest file`, `log_type subscribe` (and
/// error) only, `connection_messages false` and `log_timestamp false`: the subscription is logged,
/// the connection is not, and lines carry no timestamp.
#[test]
fn log_type_and_connection_messages_choose_the_lines() {
    let dir = TempDir::new("logtypes");
    let port = free_port();
    let log = dir.0.join("broker.log");
    let conf = dir.file(
        "log.conf",
        &format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest file {}\n\
             log_type subscribe\nlog_type error\nconnection_messages false\nlog_timestamp false\n",
            log.display()
        ),
    );
    let running = run(&conf, port);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let (mut client, _) = Client::connect(address, "log-1", true);
    client.subscribe("a/#", 1);
    client.disconnect();
    assert!(stop(running), "a clean exit");
    let text = std::fs::read_to_string(&log).expect("the log file");
    assert!(text.lines().any(|line| line == "log-1 1 a/#"), "{text}");
    assert!(!text.contains("New client connected"), "{text}");
    assert!(
        !text.contains("running"),
        "information lines are not wanted: {text}"
    );
}

/// `user` as mosquitto means it cannot be honoured here (see process.rs): started as root with
/// another user named, the binary refuses to start with exit 3; started as anyone else, it runs.
#[test]
fn user_as_root_is_refused_and_otherwise_ignored() {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let dir = TempDir::new("user");
    let port = free_port();
    let conf = dir.file(
        "user.conf",
        &format!("user nobody\nlistener {port} 127.0.0.1\nallow_anonymous true\n"),
    );
    if root {
        let output = Command::new(env!("CARGO_BIN_EXE_mqtt-broker"))
            .arg("-c")
            .arg(&conf)
            .env_remove("RUST_LOG")
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(3));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("`user nobody` is not supported when started as root"),
            "{stderr}"
        );
    } else {
        let running = run(&conf, port);
        assert!(stop(running));
    }
}

/// `ciphers` and `ciphers_tls1.3`: the suite a rustls client (offering all of them) ends up with is
/// the one the listener allows, at TLS 1.2 and at 1.3 (ChaCha20 in both, which a rustls client
/// offers last, so that the default could not pass for it).
#[test]
fn ciphers_choose_the_suites_offered() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    let certs = Certificates::generate();
    let text = format!(
        "listener 0 127.0.0.1\ncertfile {}\nkeyfile {}\nciphers ECDHE-ECDSA-CHACHA20-POLY1305\n\
         ciphers_tls1.3 TLS_CHACHA20_POLY1305_SHA256\nallow_anonymous true\nsys_interval 0\n",
        certs.path("server.pem").display(),
        certs.path("server.key").display(),
    );
    let broker = Broker::start(Config::parse(&text, "c.conf").expect("parses")).expect("starts");
    let address = broker.local_addrs()[0];
    let negotiated = |version: &'static rustls::SupportedProtocolVersion| {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(certs.path("ca.pem")).expect("ca.pem") {
            roots.add(cert.expect("a CA certificate")).expect("usable");
        }
        let config = rustls::ClientConfig::builder_with_protocol_versions(&[version])
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").expect("name");
        let mut connection =
            rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("client");
        let mut tcp = TcpStream::connect(address).expect("connects");
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        while connection.is_handshaking() {
            connection.complete_io(&mut tcp).expect("handshake");
        }
        connection
            .negotiated_cipher_suite()
            .map(|suite| suite.suite())
    };
    assert_eq!(
        negotiated(&rustls::version::TLS12),
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
    );
    assert_eq!(
        negotiated(&rustls::version::TLS13),
        Some(rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
    broker.shutdown();
}

/// `upgrade_outgoing_qos`: a QoS 0 message reaches a QoS 1 subscription at QoS 1 (with a packet
/// identifier, to acknowledge); without it, at QoS 0 as the protocol says [MQTT-3.8.4-6].
#[test]
fn upgrade_outgoing_qos_delivers_at_the_subscriptions_qos() {
    for (upgrade, delivered) in [(false, 0), (true, 1)] {
        let broker = Broker::start(Config {
            listeners: vec!["127.0.0.1:0".parse().expect("address")],
            upgrade_outgoing_qos: upgrade,
            sys_interval: Duration::ZERO,
            ..Config::default()
        })
        .expect("starts");
        let address = broker.local_addrs()[0];
        let (mut subscriber, _) = Client::connect(address, "up-sub", true);
        subscriber.subscribe("up/#", 1);
        let (mut publisher, _) = Client::connect(address, "up-pub", true);
        publisher.publish("up/t", b"low", 0, 0, false);
        publisher.barrier();
        match subscriber.recv() {
            crate::client::Got::Publish { qos, packet_id, .. } => {
                assert_eq!(qos, delivered, "upgrade_outgoing_qos {upgrade}");
                assert_eq!(packet_id.is_some(), upgrade);
                if let Some(id) = packet_id {
                    subscriber.send_raw(&[0x40, 2, (id >> 8) as u8, id as u8]);
                }
            }
            other => panic!("expected the message, got {other:?}"),
        }
        subscriber.disconnect();
        publisher.disconnect();
        broker.shutdown();
    }
}

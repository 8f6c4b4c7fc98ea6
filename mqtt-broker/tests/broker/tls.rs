//! TLS listeners (and a bridge over TLS), checked with mosquitto_pub and mosquitto_sub (Debian's
//! `mosquitto-clients`) and certificates made by the `openssl` command at test time: publish/subscribe
//! over TLS, client certificates required, the certificate's CN as user name, an untrusted certificate
//! refused, misconfiguration refused at start, certificates reloaded (with a rustls client in the
//! test, which can see the certificate presented), and a CONNECT record sent a byte at a time.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mqtt_broker::{Broker, Config, ListenerSettings, TlsSettings};

use crate::client::TempDir;

/// A CA, a server certificate for `localhost`, a client certificate (CN `device-1`) from that CA,
/// and a client certificate from another CA.
pub(crate) struct Certificates(TempDir);

impl Certificates {
    pub(crate) fn generate() -> Self {
        let certs = Self(TempDir::new("certs"));
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        for ca in ["ca", "rogue"] {
            certs.openssl(&format!(
                "req -x509 {ec} -keyout {ca}.key -out {ca}.pem -days 2 -subj /CN={ca}"
            ));
        }
        certs.issue("server", "ca", "localhost", "serverAuth");
        certs.issue("client", "ca", "device-1", "clientAuth");
        certs.issue("stranger", "rogue", "device-1", "clientAuth");
        certs
    }

    /// Runs `openssl` with the whitespace-separated `args` in the certificates' directory.
    pub(crate) fn openssl(&self, args: &str) {
        let status = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(&self.0.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("the TLS tests need the openssl command: apt-get install openssl");
        assert!(status.success(), "openssl {args}");
    }

    /// Makes `name.pem` and `name.key`: a certificate for `cn`, signed by `ca`, for `usage`
    /// (`serverAuth` certificates are also valid for the DNS name `localhost`).
    pub(crate) fn issue(&self, name: &str, ca: &str, cn: &str, usage: &str) {
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        let san = if usage == "serverAuth" {
            "subjectAltName=DNS:localhost\n"
        } else {
            ""
        };
        self.0.file(
            &format!("{name}.ext"),
            &format!("{san}basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n"),
        );
        self.openssl(&format!(
            "req {ec} -keyout {name}.key -out {name}.csr -subj /CN={cn}"
        ));
        self.openssl(&format!(
            "x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial \
             -out {name}.pem -days 2 -extfile {name}.ext"
        ));
    }

    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.0.0.join(file)
    }

    pub(crate) fn settings(&self, require: bool) -> TlsSettings {
        TlsSettings {
            certfile: self.path("server.pem"),
            keyfile: self.path("server.key"),
            cafile: Some(self.path("ca.pem")),
            require_certificate: require,
            use_identity_as_username: require,
            ..TlsSettings::default()
        }
    }
}

fn tls_broker(tls: TlsSettings, extra: Config) -> (mqtt_broker::BrokerHandle, u16) {
    let broker = Broker::start(Config {
        listeners: vec![ListenerSettings::tls(
            "127.0.0.1:0".parse().expect("address"),
            tls,
        )],
        sys_interval: Duration::ZERO,
        ..extra
    })
    .expect("the TLS broker starts");
    let port = broker.local_addrs()[0].port();
    (broker, port)
}

/// Runs a mosquitto tool against `localhost:port` with `--cafile ca.pem` and `args`.
fn mosquitto(tool: &str, certs: &Certificates, port: u16, args: &[&str]) -> Output {
    let ca = certs.path("ca.pem");
    Command::new(tool)
        .args(["-h", "localhost", "-p", &port.to_string(), "--cafile"])
        .arg(ca)
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!("{tool} is needed (apt-get install mosquitto-clients): {error}")
        })
}

/// mosquitto_pub and mosquitto_sub talk to a TLS listener; the retained message proves the
/// round trip without waiting for the subscriber.
#[test]
fn mosquitto_clients_publish_and_subscribe_over_tls() {
    let certs = Certificates::generate();
    let (_broker, port) = tls_broker(certs.settings(false), Config::default());
    let published = mosquitto(
        "mosquitto_pub",
        &certs,
        port,
        &["-t", "t", "-m", "over tls", "-r", "-q", "1"],
    );
    assert!(published.status.success(), "{published:?}");
    let received = mosquitto(
        "mosquitto_sub",
        &certs,
        port,
        &["-t", "t", "-C", "1", "-W", "5"],
    );
    assert!(received.status.success(), "{received:?}");
    assert_eq!(String::from_utf8_lossy(&received.stdout).trim(), "over tls");
}

/// The same at MQTT 5.0 (`-V mqttv5`), user property and all: a TLS listener speaks every level.
#[test]
fn mosquitto_clients_speak_mqtt_5_over_tls() {
    let certs = Certificates::generate();
    let (_broker, port) = tls_broker(certs.settings(false), Config::default());
    let published = mosquitto(
        "mosquitto_pub",
        &certs,
        port,
        &[
            "-V",
            "mqttv5",
            "-t",
            "t5",
            "-m",
            "v5 over tls",
            "-r",
            "-q",
            "1",
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
        ],
    );
    assert!(published.status.success(), "{published:?}");
    let received = mosquitto(
        "mosquitto_sub",
        &certs,
        port,
        &[
            "-V", "mqttv5", "-t", "t5", "-C", "1", "-W", "5", "-F", "%p %P",
        ],
    );
    assert!(received.status.success(), "{received:?}");
    assert_eq!(
        String::from_utf8_lossy(&received.stdout).trim(),
        "v5 over tls k:v"
    );
}

/// With require_certificate and use_identity_as_username, a client with a certificate from the CA
/// acts as its CN (which the ACL grants), one from another CA fails the handshake, and a failed
/// handshake affects nobody else.
#[test]
fn client_certificates_are_required_and_their_cn_is_the_user_name() {
    let certs = Certificates::generate();
    let dir = TempDir::new("tls-acl");
    let (_broker, port) = tls_broker(
        certs.settings(true),
        Config {
            allow_anonymous: Some(false),
            acl_file: Some(dir.file("acl", "user device-1\ntopic readwrite dev/#\n")),
            ..Config::default()
        },
    );
    let client = |file: &str| certs.path(file).display().to_string();
    let with_cert = |name: &str| {
        vec![
            "--cert".to_owned(),
            client(&format!("{name}.pem")),
            "--key".to_owned(),
            client(&format!("{name}.key")),
        ]
    };
    let run = |tool: &str, name: &str, args: &[&str]| {
        let mut all: Vec<String> = with_cert(name);
        all.extend(args.iter().map(|arg| (*arg).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        mosquitto(tool, &certs, port, &all)
    };
    let rogue = run("mosquitto_pub", "stranger", &["-t", "dev/x", "-m", "no"]);
    assert!(
        !rogue.status.success(),
        "an untrusted certificate is refused"
    );
    let anonymous = mosquitto("mosquitto_pub", &certs, port, &["-t", "dev/x", "-m", "no"]);
    assert!(!anonymous.status.success(), "no certificate, no connection");
    let published = run(
        "mosquitto_pub",
        "client",
        &["-t", "dev/x", "-m", "mine", "-r", "-q", "1"],
    );
    assert!(published.status.success(), "{published:?}");
    let received = run(
        "mosquitto_sub",
        "client",
        &["-t", "dev/x", "-C", "1", "-W", "5"],
    );
    assert_eq!(
        String::from_utf8_lossy(&received.stdout).trim(),
        "mine",
        "{received:?}"
    );
}

/// A key that does not belong to the certificate, or a missing file, stops the start with a
/// message naming the file.
#[test]
fn tls_misconfiguration_is_refused_at_start_naming_the_file() {
    let certs = Certificates::generate();
    let mismatched = TlsSettings {
        keyfile: certs.path("client.key"),
        ..certs.settings(false)
    };
    let missing = TlsSettings {
        cafile: Some(certs.path("nowhere.pem")),
        ..certs.settings(false)
    };
    for (settings, needle) in [(mismatched, "does not match"), (missing, "nowhere.pem")] {
        let error = Broker::start(Config {
            listeners: vec![ListenerSettings::tls(
                "127.0.0.1:0".parse().expect("address"),
                settings,
            )],
            ..Config::default()
        })
        .expect_err("refused");
        assert!(error.to_string().contains(needle), "{error}");
    }
}

/// A client that completes the TLS handshake, then sends the record carrying its CONNECT one byte
/// every 100 ms, is closed once `connect_timeout` has passed since it connected, before the record is
/// complete: decrypting waits for whole records, but that wait must not hide the deadline
/// [MQTT-3.1.0-1]. Meanwhile a plain listener of the same broker serves other clients.
#[test]
fn a_tls_record_sent_a_byte_at_a_time_is_cut_off_by_connect_timeout_mqtt_3_1_0_1() {
    use std::io::{Read, Write};
    use std::sync::mpsc;

    use rustls::pki_types::ServerName;

    let certs = Certificates::generate();
    let broker = Broker::start(Config {
        listeners: vec![
            "127.0.0.1:0".parse().expect("address"),
            ListenerSettings::tls(
                "127.0.0.1:0".parse().expect("address"),
                certs.settings(false),
            ),
        ],
        connect_timeout: Duration::from_secs(1),
        sys_interval: Duration::ZERO,
        ..Config::default()
    })
    .expect("the broker starts");
    let (plain, secure) = (broker.local_addrs()[0], broker.local_addrs()[1]);

    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = rustls::ClientConnection::new(client_config(&certs), name).expect("client");
    let mut tcp = std::net::TcpStream::connect(secure).expect("connects");
    tcp.set_read_timeout(Some(crate::client::WAIT))
        .expect("timeout");
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp).expect("handshake");
    }
    let mut connect = Vec::new();
    mqtt_codec::Packet::Connect(crate::client::connect("tls-dripper", true))
        .encode(mqtt_codec::ProtocolLevel::Mqtt311, &mut connect)
        .expect("encodes");
    tls.writer().write_all(&connect).expect("plaintext");
    let mut records = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut records).expect("records");
    }
    assert!(records.len() * 100 > 3_000, "the drip outlasts the timeout");
    let mut writer = tcp.try_clone().expect("clone");
    let (sent_tx, sent_rx) = mpsc::channel();
    let drip = std::thread::spawn(move || {
        let mut sent = 0;
        for byte in &records {
            if writer.write_all(&[*byte]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = sent_tx.send((sent, records.len()));
    });
    let (mut other, _) = crate::client::Client::connect(plain, "plain-neighbour", true);
    other.barrier();
    // The broker closes without a byte of application data: no CONNACK.
    let mut raw = [0u8; 4096];
    loop {
        match tcp.read(&mut raw) {
            Ok(0) => break,
            Ok(count) => {
                let mut bytes = &raw[..count];
                while !bytes.is_empty() {
                    tls.read_tls(&mut bytes).expect("records");
                }
                if tls.process_new_packets().is_err() {
                    break; // an alert: closed all the same
                }
                let mut plaintext = Vec::new();
                let _ = tls.reader().read_to_end(&mut plaintext);
                assert!(plaintext.is_empty(), "the broker answered {plaintext:?}");
            }
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!("not closed within {:?}: {error}", crate::client::WAIT),
        }
    }
    let (sent, total) = sent_rx
        .recv_timeout(crate::client::WAIT * 2)
        .expect("the drip ends");
    assert!(sent < total, "the whole record ({total} bytes) got through");
    drip.join().expect("drip thread");
}

/// A rustls client configuration trusting `ca.pem`.
pub(crate) fn client_config(certs: &Certificates) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(certs.path("ca.pem")).expect("ca.pem") {
        roots.add(cert.expect("a CA certificate")).expect("usable");
    }
    std::sync::Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

type TlsClient = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// An MQTT client over TLS to `localhost` at `address`, connected (CONNACK 0 received).
fn mqtt_over_tls(
    certs: &Certificates,
    address: std::net::SocketAddr,
    client_id: &str,
) -> TlsClient {
    use std::io::{Read, Write};

    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let connection = rustls::ClientConnection::new(client_config(certs), name).expect("client");
    let tcp = std::net::TcpStream::connect(address).expect("connects");
    tcp.set_read_timeout(Some(crate::client::WAIT))
        .expect("timeout");
    let mut client = rustls::StreamOwned::new(connection, tcp);
    let mut connect = Vec::new();
    mqtt_codec::Packet::Connect(crate::client::connect(client_id, true))
        .encode(mqtt_codec::ProtocolLevel::Mqtt311, &mut connect)
        .expect("encodes");
    client.write_all(&connect).expect("CONNECT");
    let mut connack = [0u8; 4];
    client.read_exact(&mut connack).expect("CONNACK");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    client
}

/// PINGREQ, PINGRESP: the connection is alive.
fn ping(client: &mut TlsClient) {
    use std::io::{Read, Write};

    client.write_all(&[0xC0, 0x00]).expect("PINGREQ");
    let mut pingresp = [0u8; 2];
    client.read_exact(&mut pingresp).expect("PINGRESP");
    assert_eq!(pingresp, [0xD0, 0x00]);
}

/// The certificate the server presented.
fn presented(client: &TlsClient) -> Vec<u8> {
    client
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| leaf.to_vec())
        .expect("the server presented a certificate")
}

/// The DER of the first certificate in a PEM file.
fn der(path: PathBuf) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    CertificateDer::from_pem_file(path)
        .expect("a PEM certificate")
        .to_vec()
}

/// Reloading (what SIGHUP does) reads certfile and keyfile again: new handshakes get the renewed
/// certificate, an established connection goes on undisturbed, and a broken certfile or a key that
/// does not match is refused, naming the file, with the listener keeping what it had.
#[test]
fn reload_puts_a_renewed_certificate_in_force_for_new_handshakes() {
    let certs = Certificates::generate();
    certs.issue("renewed", "ca", "localhost", "serverAuth");
    let live = TempDir::new("live-certs");
    let install = |pem: &str, key: &str| {
        std::fs::copy(certs.path(pem), live.0.join("live.pem")).expect("copy");
        std::fs::copy(certs.path(key), live.0.join("live.key")).expect("copy");
    };
    install("server.pem", "server.key");
    let settings = TlsSettings {
        certfile: live.0.join("live.pem"),
        keyfile: live.0.join("live.key"),
        ..TlsSettings::default()
    };
    let (broker, port) = tls_broker(settings, Config::default());
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (original, renewed) = (
        der(certs.path("server.pem")),
        der(certs.path("renewed.pem")),
    );
    assert_ne!(original, renewed);

    let mut before = mqtt_over_tls(&certs, address, "before");
    assert_eq!(presented(&before), original);
    install("renewed.pem", "renewed.key");
    broker.reload().expect("the renewed files load");
    let mut after = mqtt_over_tls(&certs, address, "after");
    assert_eq!(
        presented(&after),
        renewed,
        "a new handshake gets the new one"
    );
    ping(&mut before);

    std::fs::write(live.0.join("live.pem"), "not a certificate\n").expect("write");
    let error = broker.reload().expect_err("a broken certfile is refused");
    assert!(error.contains("live.pem"), "{error}");
    install("renewed.pem", "server.key");
    let error = broker.reload().expect_err("a mismatched key is refused");
    assert!(error.contains("does not match"), "{error}");
    let third = mqtt_over_tls(&certs, address, "third");
    assert_eq!(
        presented(&third),
        renewed,
        "the last good certificate stays"
    );
    ping(&mut before);
    ping(&mut after);
}

/// A bridge reaches a TLS-only broker that requires client certificates, with `bridge_cafile`,
/// `bridge_certfile` and `bridge_keyfile`, and carries a QoS 1 message over it.
#[test]
fn a_bridge_connects_over_tls_with_a_client_certificate() {
    let certs = Certificates::generate();
    let trust = format!("bridge_cafile {}\n", certs.path("ca.pem").display());
    bridge_over_tls(&certs, &trust);
}

/// The same with the CA found in a directory (`bridge_capath`, a file among others that are not
/// certificates), TLS 1.3 required (`bridge_tls_version`) and an ALPN protocol offered
/// (`bridge_alpn`, which a server without ALPN ignores).
#[test]
fn a_bridge_connects_over_tls_with_capath_tls_version_and_alpn() {
    let certs = Certificates::generate();
    let dir = crate::client::TempDir::new("bridge-capath");
    std::fs::copy(certs.path("ca.pem"), dir.0.join("ca.pem")).expect("the CA in the directory");
    std::fs::write(dir.0.join("README"), "not a certificate").expect("another file");
    let trust = format!(
        "bridge_capath {}\nbridge_tls_version tlsv1.3\nbridge_alpn mqtt\n",
        dir.0.display()
    );
    bridge_over_tls(&certs, &trust);
}

/// A bridge to a TLS broker requiring client certificates, trusting its CA as `trust` (bridge
/// directives) says; a QoS 1 message published locally must reach a subscriber on the remote.
fn bridge_over_tls(certs: &Certificates, trust: &str) {
    use mqtt_client::{Client, ConnectOptions, QoS, TlsOptions};

    let (remote, port) = tls_broker(certs.settings(true), Config::default());
    let text = format!(
        "connection secure\naddress localhost:{port}\nremote_clientid tls-bridge\n\
         restart_timeout 1\ntopic t/# out 1\n{trust}bridge_certfile {}\n\
         bridge_keyfile {}\n",
        certs.path("client.pem").display(),
        certs.path("client.key").display(),
    );
    let local = Broker::start(Config {
        listeners: vec!["127.0.0.1:0".parse().expect("address")],
        sys_interval: Duration::ZERO,
        ..Config::parse(&text, "bridge.conf").expect("parses")
    })
    .expect("the bridging broker starts");
    let local_port = local.local_addrs()[0].port();
    let tls = TlsOptions::system()
        .ca_file(certs.path("ca.pem"))
        .client_auth(certs.path("client.pem"), certs.path("client.key"));
    let sink = Client::connect(
        ConnectOptions::builder("localhost", port)
            .client_id("sink")
            .tls(tls)
            .build()
            .expect("options"),
    )
    .expect("the subscriber connects over TLS");
    let state = "$SYS/broker/connection/tls-bridge/state";
    sink.subscribe(&[("t/#", QoS::AtLeastOnce), (state, QoS::AtLeastOnce)])
        .expect("subscribe")
        .wait_timeout(Duration::from_secs(10))
        .expect("SUBACK");
    let messages = sink.messages();
    // The retained state says when the bridge is up on the remote side.
    let up = |message: &mqtt_client::Message| message.topic == state && message.payload == b"1";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let message = messages
            .recv_timeout(left)
            .expect("the bridge's state became 1 on the remote");
        if up(&message) {
            break;
        }
    }
    let publisher = Client::connect(
        ConnectOptions::builder("127.0.0.1", local_port)
            .build()
            .expect("options"),
    )
    .expect("publisher connects");
    publisher
        .publish("t/secret", "over TLS", QoS::AtLeastOnce, false)
        .expect("publish")
        .wait_timeout(Duration::from_secs(10))
        .expect("PUBACK");
    // The state may come twice (retained on subscribing, and live when the bridge came up at
    // that moment): what else arrives must be the message.
    let message = loop {
        let message = messages
            .recv_timeout(Duration::from_secs(20))
            .expect("the message crossed the TLS bridge");
        if !up(&message) {
            break message;
        }
    };
    assert_eq!(
        (message.topic.as_str(), message.qos),
        ("t/secret", QoS::AtLeastOnce)
    );
    assert_eq!(message.payload, b"over TLS");
    drop(local);
    drop(remote);
}

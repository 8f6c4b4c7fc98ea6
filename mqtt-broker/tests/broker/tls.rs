//! TLS listeners (and a bridge over TLS), checked with mosquitto_pub and mosquitto_sub (Debian's
//! `mosquitto-clients`) and certificates made by the `openssl` command at test time: publish/subscribe
//! over TLS, client certificates required, the certificate's CN as user name, an untrusted certificate
//! refused, and misconfiguration refused at start.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mqtt_broker::{Broker, Config, TlsListener, TlsSettings};

use crate::client::TempDir;

/// A CA, a server certificate for `localhost`, a client certificate (CN `device-1`) from that CA,
/// and a client certificate from another CA.
struct Certificates(TempDir);

impl Certificates {
    fn generate() -> Self {
        let dir = TempDir::new("certs");
        let openssl = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(&dir.0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("the TLS tests need the openssl command: apt-get install openssl");
            assert!(status.success(), "openssl {args:?}");
        };
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        for ca in ["ca", "rogue"] {
            let args =
                format!("req -x509 {ec} -keyout {ca}.key -out {ca}.pem -days 2 -subj /CN={ca}");
            openssl(&args.split(' ').collect::<Vec<_>>());
        }
        for (name, ca, cn, usage) in [
            ("server", "ca", "localhost", "serverAuth"),
            ("client", "ca", "device-1", "clientAuth"),
            ("stranger", "rogue", "device-1", "clientAuth"),
        ] {
            let san = if name == "server" {
                "subjectAltName=DNS:localhost\n"
            } else {
                ""
            };
            dir.file(
                &format!("{name}.ext"),
                &format!("{san}basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n"),
            );
            let args = format!("req {ec} -keyout {name}.key -out {name}.csr -subj /CN={cn}");
            openssl(&args.split(' ').collect::<Vec<_>>());
            let args = format!(
                "x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial \
                 -out {name}.pem -days 2 -extfile {name}.ext"
            );
            openssl(&args.split_whitespace().collect::<Vec<_>>());
        }
        Self(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.0.join(file)
    }

    fn settings(&self, require: bool) -> TlsSettings {
        TlsSettings {
            certfile: self.path("server.pem"),
            keyfile: self.path("server.key"),
            cafile: Some(self.path("ca.pem")),
            require_certificate: require,
            use_identity_as_username: require,
        }
    }
}

fn tls_broker(tls: TlsSettings, extra: Config) -> (mqtt_broker::BrokerHandle, u16) {
    let broker = Broker::start(Config {
        listeners: Vec::new(),
        tls_listeners: vec![TlsListener {
            address: "127.0.0.1:0".parse().expect("address"),
            tls,
        }],
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
            listeners: Vec::new(),
            tls_listeners: vec![TlsListener {
                address: "127.0.0.1:0".parse().expect("address"),
                tls: settings,
            }],
            ..Config::default()
        })
        .expect_err("refused");
        assert!(error.to_string().contains(needle), "{error}");
    }
}

/// A bridge reaches a TLS-only broker that requires client certificates, with `bridge_cafile`,
/// `bridge_certfile` and `bridge_keyfile`, and carries a QoS 1 message over it.
#[test]
fn a_bridge_connects_over_tls_with_a_client_certificate() {
    use mqtt_client::{Client, ConnectOptions, QoS, TlsOptions};

    let certs = Certificates::generate();
    let (remote, port) = tls_broker(certs.settings(true), Config::default());
    let text = format!(
        "connection secure\naddress localhost:{port}\nremote_clientid tls-bridge\n\
         restart_timeout 1\ntopic t/# out 1\nbridge_cafile {}\nbridge_certfile {}\n\
         bridge_keyfile {}\n",
        certs.path("ca.pem").display(),
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
    let message = messages
        .recv_timeout(Duration::from_secs(20))
        .expect("the message crossed the TLS bridge");
    assert_eq!(
        (message.topic.as_str(), message.qos),
        ("t/secret", QoS::AtLeastOnce)
    );
    assert_eq!(message.payload, b"over TLS");
    drop(local);
    drop(remote);
}

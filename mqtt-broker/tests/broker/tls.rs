//! TLS listeners, checked with mosquitto_pub and mosquitto_sub (Debian's `mosquitto-clients`) and
//! certificates made by the `openssl` command at test time: publish/subscribe over TLS, client
//! certificates required, the certificate's CN as user name, an untrusted certificate refused, and
//! misconfiguration refused at start.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mqtt_broker::{Broker, Config, TlsListener, TlsSettings};

use crate::client::TempDir;

/// A CA, a server certificate for `localhost`, a client certificate (CN `device-1`) from that CA,
/// and a client certificate from another CA.
pub(crate) struct Certificates(TempDir);

impl Certificates {
    pub(crate) fn generate() -> Self {
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

//! TLS through rustls against mosquitto's TLS listener, with certificates made for the test.

use mqtt_client::{Client, ConnectOptions, Error, QoS, TlsOptions};

use crate::support::{Broker, Certificates, PATIENCE, TempDir};

fn tls_options(broker: &Broker, host: &str, tls: TlsOptions) -> ConnectOptions {
    ConnectOptions::builder(host, broker.port())
        .connect_timeout(PATIENCE)
        .tls(tls)
        .build()
        .expect("options")
}

#[test]
fn publish_and_subscribe_over_tls_with_a_client_certificate() {
    let certificates = Certificates::generate();
    let broker = Broker::with_config(&certificates.broker_config(true));
    let tls = TlsOptions::system()
        .ca_file(certificates.path("ca.pem"))
        .client_auth(
            certificates.path("client.pem"),
            certificates.path("client.key"),
        );
    let client =
        Client::connect(tls_options(&broker, "localhost", tls)).expect("connected over TLS");
    client
        .subscribe(&[("secure/t", QoS::ExactlyOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    // A payload larger than one TLS record, to cross record boundaries both ways.
    let payload = vec![b'x'; 40_000];
    client
        .publish("secure/t", &payload, QoS::ExactlyOnce, false)
        .expect("sent")
        .wait()
        .expect("acknowledged");
    let message = client.messages().recv_timeout(PATIENCE).expect("delivered");
    assert_eq!(message.payload, payload);
    client.disconnect();
}

#[test]
fn server_certificate_must_name_the_host_unless_insecure() {
    let certificates = Certificates::generate();
    let broker = Broker::with_config(&certificates.broker_config(false));
    let trusting = TlsOptions::system().ca_file(certificates.path("ca.pem"));
    // The certificate names localhost, not 127.0.0.1.
    match Client::connect(tls_options(&broker, "127.0.0.1", trusting.clone())) {
        Err(Error::Tls(why)) => assert!(why.contains("certificate"), "{why}"),
        other => panic!("expected a certificate error, got {:?}", other.err()),
    }
    let insecure = trusting.insecure(true);
    let client = Client::connect(tls_options(&broker, "127.0.0.1", insecure)).expect("--insecure");
    client.disconnect();
}

#[test]
fn untrusted_server_is_refused() {
    let certificates = Certificates::generate();
    let other = Certificates::generate();
    let broker = Broker::with_config(&certificates.broker_config(false));
    let wrong_ca = TlsOptions::system().ca_file(other.path("ca.pem"));
    match Client::connect(tls_options(&broker, "localhost", wrong_ca)) {
        Err(Error::Tls(why)) => assert!(why.contains("certificate"), "{why}"),
        other => panic!("expected a certificate error, got {:?}", other.err()),
    }
}

#[test]
fn tools_speak_tls() {
    use std::process::Command;

    let certificates = Certificates::generate();
    let broker = Broker::with_config(&certificates.broker_config(false));
    let port = broker.port().to_string();
    let cafile = certificates.path("ca.pem");
    let output = Command::new(env!("CARGO_BIN_EXE_mqtt-sub"))
        .args([
            "-h",
            "localhost",
            "-p",
            &port,
            "--cafile",
            &cafile,
            "-t",
            "t",
            "-W",
            "1",
        ])
        .output()
        .expect("running mqtt-sub");
    // Connected and subscribed over TLS, then timed out waiting: the TLS part worked.
    assert_eq!(
        output.status.code(),
        Some(27),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status = Command::new(env!("CARGO_BIN_EXE_mqtt-pub"))
        .args([
            "-h",
            "localhost",
            "-p",
            &port,
            "--cafile",
            &cafile,
            "-t",
            "t",
            "-m",
            "x",
            "-q",
            "1",
        ])
        .status()
        .expect("running mqtt-pub");
    assert!(status.success());
}

/// `--capath`, `--tls-version`, `--ciphers` and `-L mqtts://` against mosquitto's TLS listener:
/// each working setting connects (then `-W 1` expires: exit 27), each bad one fails with exit 1
/// and says why.
#[test]
fn tools_take_mosquittos_tls_options() {
    use std::process::Command;

    let certificates = Certificates::generate();
    let broker = Broker::with_config(&certificates.broker_config(false));
    let port = broker.port().to_string();
    let cafile = certificates.path("ca.pem");
    let capath = TempDir::new("capath");
    std::fs::copy(&cafile, capath.path().join("ca.pem")).expect("copying the CA");
    std::fs::write(capath.path().join("notes.txt"), "not a certificate").expect("writing");
    let capath = capath.path().display().to_string();
    let empty = TempDir::new("nocerts");
    let empty = empty.path().display().to_string();
    let url = format!("mqtts://localhost:{port}/t");
    let sub = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_mqtt-sub"))
            .args(["-h", "localhost", "-p", &port, "-W", "1"])
            .args(args)
            .output()
            .expect("running mqtt-sub");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    for args in [
        &["-t", "t", "--capath", &capath][..],
        &["-t", "t", "--cafile", &cafile, "--tls-version", "tlsv1.3"],
        &["-t", "t", "--cafile", &cafile, "--tls-version", "tlsv1.2"],
        &[
            "-t",
            "t",
            "--cafile",
            &cafile,
            "--ciphers",
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256",
        ],
        &["-L", &url, "--cafile", &cafile],
    ] {
        let (code, stderr) = sub(args);
        assert_eq!(code, Some(27), "{args:?}: {stderr}");
    }
    let (code, stderr) = sub(&["-t", "t", "--capath", &empty]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no usable CA certificate"), "{stderr}");
    let (code, stderr) = sub(&["-t", "t", "--cafile", &cafile, "--ciphers", "RC4-MD5"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("RC4-MD5"), "{stderr}");
}

/// `TlsOptions::alpn` (mosquitto_sub's `--tls-alpn`): the protocol is offered in the handshake, and
/// a server that speaks only another refuses it. The server here is rustls itself with ALPN set,
/// since mosquitto ignores ALPN; it answers the handshake and reports what was agreed.
#[test]
fn alpn_is_offered_and_a_server_without_that_protocol_refuses() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;

    let certificates = Certificates::generate();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(certificates.path("server.pem"))
            .expect("server.pem")
            .collect::<Result<_, _>>()
            .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(certificates.path("server.key")).expect("server.key");
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    config.alpn_protocols = vec![b"mqtt".to_vec()];
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        let mut agreed = Vec::new();
        for _ in 0..2 {
            let (mut socket, _) = listener.accept().expect("accept");
            let mut connection =
                rustls::ServerConnection::new(Arc::clone(&config)).expect("connection");
            while connection.is_handshaking() {
                if connection.complete_io(&mut socket).is_err() {
                    break;
                }
            }
            agreed.push(connection.alpn_protocol().map(<[u8]>::to_vec));
        }
        agreed
    });
    for offered in ["mqtt", "x-other"] {
        let options = ConnectOptions::builder("localhost", port)
            .connect_timeout(std::time::Duration::from_secs(3))
            .tls(
                TlsOptions::system()
                    .ca_file(certificates.path("ca.pem"))
                    .alpn(offered.as_bytes()),
            )
            .build()
            .expect("options");
        // No MQTT server behind the handshake: the connect fails either way, after the
        // handshake for "mqtt" and at it for the other.
        let _ = Client::connect(options);
    }
    let agreed = server.join().expect("the server thread");
    assert_eq!(agreed, [Some(b"mqtt".to_vec()), None]);
}

//! TLS through rustls against mosquitto's TLS listener, with certificates made for the test.

use mqtt_client::{Client, ConnectOptions, Error, QoS, TlsOptions};

use crate::support::{Broker, Certificates, PATIENCE};

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

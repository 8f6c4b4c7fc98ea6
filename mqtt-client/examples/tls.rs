//! Connects over TLS, trusting the CA in `ca.pem`, and publishes one message.
//!
//! `cargo run --example tls -- <host> <port> <ca.pem> [<client.pem> <client.key>]`

use mqtt_client::{Client, ConnectOptions, Error, QoS, TlsOptions};

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, ca, rest @ ..] = &args[..] else {
        eprintln!("usage: tls <host> <port> <ca.pem> [<client.pem> <client.key>]");
        std::process::exit(1);
    };
    let port = port
        .parse()
        .map_err(|_| Error::InvalidOptions(format!("bad port {port}")))?;
    let mut tls = TlsOptions::system().ca_file(ca);
    if let [cert, key] = rest {
        tls = tls.client_auth(cert, key);
    }
    let options = ConnectOptions::builder(host.as_str(), port)
        .tls(tls)
        .build()?;
    let client = Client::connect(options)?;
    client
        .publish("examples/tls", "hello over TLS", QoS::AtLeastOnce, false)?
        .wait()?;
    println!("published over TLS");
    client.disconnect();
    Ok(())
}

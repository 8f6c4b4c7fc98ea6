//! The gateway's network ends: discovery over a real UDP socket (§6.1), listening on IPv6, and
//! reaching the broker with a user name and password, and over TLS (our broker in-process, and
//! mosquitto as a child). The TLS tests make their certificates with the `openssl` command, as the
//! broker's own TLS tests do.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use mqtt_client::QoS as MqttQoS;
use mqttsn_codec::{Advertise, GwInfo, Message, QoS, SearchGw};
use mqttsn_gateway::GatewayKind;
use mqttsn_gateway::client::Topic;

use crate::support::*;

/// The next datagram `socket` receives, decoded by the caller; fails the test after [`PATIENCE`].
fn next_datagram(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buffer = vec![0u8; 1024];
    socket.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let (len, from) = socket
        .recv_from(&mut buffer)
        .expect("a datagram within the test's patience");
    buffer.truncate(len);
    (buffer, from)
}

/// ADVERTISE goes to the configured address as soon as the broker is reached and then every
/// T_ADV, its Duration saying when the next comes [SN-6.1-1] [SN-5.4.1-1]; SEARCHGW is answered
/// with GWINFO straight to the searcher [SN-6.1-12]. The advertisement address is a unicast
/// socket on 127.0.0.1, which needs no multicast routing on the machine running the tests.
#[test]
fn advertise_and_searchgw_over_udp_sn_6_1_1_sn_6_1_12() {
    let broker = TestBroker::start(BrokerKind::Ours);
    let listener = UdpSocket::bind("127.0.0.1:0").expect("socket");
    let mut config = config(broker.port(), GatewayKind::Transparent);
    config.gateway_id = 42;
    config.advertise_address = Some(listener.local_addr().expect("address"));
    config.advertise_interval = Duration::from_secs(1);
    let gateway = gateway_with(config);
    for _ in 0..2 {
        let (datagram, from) = next_datagram(&listener);
        assert_eq!(
            from.port(),
            gateway.local_addr().port(),
            "from the gateway's socket"
        );
        assert_eq!(
            Message::decode(&datagram),
            Ok(Message::Advertise(Advertise {
                gw_id: 42,
                duration: 1
            }))
        );
    }
    let searcher = UdpSocket::bind("127.0.0.1:0").expect("socket");
    let mut searchgw = Vec::new();
    Message::SearchGw(SearchGw { radius: 1 })
        .encode(&mut searchgw)
        .expect("encodable");
    searcher
        .send_to(&searchgw, gateway.local_addr())
        .expect("sent");
    let (datagram, _) = next_datagram(&searcher);
    assert_eq!(
        Message::decode(&datagram),
        Ok(Message::GwInfo(GwInfo {
            gw_id: 42,
            gw_add: None
        }))
    );
}

/// The gateway listens on `[::1]`, and an MQTT-SN client publishes through it.
#[test]
fn the_gateway_listens_on_ipv6() {
    if UdpSocket::bind("[::1]:0").is_err() {
        println!("skipped: this machine has no IPv6 loopback (binding [::1] failed)");
        return;
    }
    let broker = TestBroker::start(BrokerKind::Ours);
    let mut config = config(broker.port(), GatewayKind::Aggregating);
    config.listen = "[::1]:0".parse().expect("address");
    let gateway = gateway_with(config);
    assert!(gateway.local_addr().is_ipv6());
    let watcher = broker.mqtt_client("v6-watcher");
    watcher
        .subscribe(&[("sn/v6", MqttQoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    let mut client = sn_client(&gateway, "v6-client");
    assert!(client.local_addr().expect("address").is_ipv6());
    let topic = client.register("sn/v6").expect("registered");
    client
        .publish(Topic::Id(topic), b"over v6", QoS::AtLeastOnce, false)
        .expect("published");
    assert_eq!(next_mqtt(&watcher).payload, b"over v6");
    client.disconnect().expect("disconnected");
    watcher.disconnect();
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "mqttsn-gw-tls-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA and a server certificate for `localhost` signed by it, made with `openssl`.
fn certificates() -> TempDir {
    let dir = TempDir::new();
    let openssl = |args: &str| {
        let status = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("the TLS test needs the openssl command: apt-get install openssl");
        assert!(status.success(), "openssl {args}");
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    openssl(&format!(
        "req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca"
    ));
    std::fs::write(
        dir.0.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("writing server.ext");
    openssl(&format!(
        "req {ec} -keyout server.key -out server.csr -subj /CN=localhost"
    ));
    openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
         -days 2 -extfile server.ext",
    );
    dir
}

/// Publishes through a gateway of each kind in front of the TLS broker on `localhost:port`, the
/// gateway trusting the CA of `RootCAfile`: the gateway's own connection and a transparent
/// client's connection both go through TLS.
fn publish_through_tls(port: u16, ca: &std::path::Path) {
    let watcher = mqtt_client::Client::connect(
        mqtt_client::ConnectOptions::builder("localhost", port)
            .client_id("tls-watcher")
            .tls(mqtt_client::TlsOptions::system().ca_file(ca.to_path_buf()))
            .connect_timeout(PATIENCE)
            .build()
            .expect("options"),
    )
    .expect("the watcher connects over TLS");
    watcher
        .subscribe(&[("sn/tls/#", MqttQoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    for kind in [GatewayKind::Transparent, GatewayKind::Aggregating] {
        let mut config = config(port, kind);
        config.broker_host = "localhost".into();
        config.tls = true;
        config.ca_file = Some(ca.to_path_buf());
        let gateway = gateway_with(config);
        let mut client = sn_client(&gateway, "tls-client");
        let topic = client.register("sn/tls/up").expect("registered");
        let payload = format!("{kind:?} over TLS");
        client
            .publish(
                Topic::Id(topic),
                payload.as_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .expect("published");
        assert_eq!(next_mqtt(&watcher).payload, payload.as_bytes());
        client.disconnect().expect("disconnected");
    }
    watcher.disconnect();
}

/// Our broker with a TLS listener.
#[test]
fn the_gateway_reaches_our_broker_over_tls() {
    let certs = certificates();
    let broker = mqtt_broker::Broker::start(mqtt_broker::Config {
        listeners: vec![mqtt_broker::ListenerSettings::tls(
            "127.0.0.1:0".parse().expect("address"),
            mqtt_broker::TlsSettings {
                certfile: certs.0.join("server.pem"),
                keyfile: certs.0.join("server.key"),
                ..mqtt_broker::TlsSettings::default()
            },
        )],
        ..Default::default()
    })
    .expect("the TLS broker starts");
    publish_through_tls(broker.local_addrs()[0].port(), &certs.0.join("ca.pem"));
    broker.shutdown();
}

/// mosquitto with a TLS listener.
#[test]
fn the_gateway_reaches_mosquitto_over_tls() {
    let certs = certificates();
    // mosquitto started as root reads its files as the `mosquitto` user: the throw-away key must
    // be readable by others.
    std::fs::set_permissions(
        certs.0.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod server.key");
    let port = free_port();
    let config = certs.0.join("mosquitto.conf");
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\ncertfile {}\nkeyfile {}\n",
            certs.0.join("server.pem").display(),
            certs.0.join("server.key").display()
        ),
    )
    .expect("writing mosquitto.conf");
    let _mosquitto = KillOnDrop(
        Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts (apt-get install mosquitto)"),
    );
    wait_until("mosquitto's TLS listener", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    publish_through_tls(port, &certs.0.join("ca.pem"));
}

/// A child process killed when the test ends, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The gateway logs in to a broker that refuses anonymous clients (`LoginID`, `Password`): both
/// kinds are served with the right password, and with a wrong one a transparent gateway answers
/// CONNECT with "rejected: congestion" [SN-6.2-4] rather than leaving the node waiting.
#[test]
fn the_gateway_logs_in_to_the_broker() {
    let dir = TempDir::new();
    let line = mqtt_broker::hash_line(
        "gateway",
        b"s3cret",
        std::num::NonZeroU32::new(1000).expect("non-zero"),
    )
    .expect("hash");
    let passwords = dir.0.join("passwords");
    std::fs::write(&passwords, line + "\n").expect("writing the password file");
    let broker = mqtt_broker::Broker::start(mqtt_broker::Config {
        listeners: vec!["127.0.0.1:0".parse().expect("address")],
        password_file: Some(passwords),
        ..Default::default()
    })
    .expect("the broker starts");
    let port = broker.local_addrs()[0].port();
    let watcher = mqtt_client::Client::connect(
        mqtt_client::ConnectOptions::builder("127.0.0.1", port)
            .client_id("login-watcher")
            .credentials("gateway", Some(b"s3cret".to_vec()))
            .connect_timeout(PATIENCE)
            .build()
            .expect("options"),
    )
    .expect("the watcher logs in");
    watcher
        .subscribe(&[("sn/login", MqttQoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    for kind in [GatewayKind::Transparent, GatewayKind::Aggregating] {
        let mut config = config(port, kind);
        config.user_name = Some("gateway".into());
        config.password = Some("s3cret".into());
        let gateway = gateway_with(config);
        let mut client = sn_client(&gateway, "login-client");
        let topic = client.register("sn/login").expect("registered");
        client
            .publish(Topic::Id(topic), b"logged in", QoS::AtLeastOnce, false)
            .expect("published");
        assert_eq!(next_mqtt(&watcher).payload, b"logged in");
        client.disconnect().expect("disconnected");
    }
    let mut config = config(port, GatewayKind::Transparent);
    config.user_name = Some("gateway".into());
    config.password = Some("wrong".into());
    let gateway = mqttsn_gateway::Gateway::start(config).expect("the gateway starts");
    let refused = mqttsn_gateway::client::Client::connect(sn_options(&gateway, "refused"));
    assert!(
        matches!(
            refused,
            Err(mqttsn_gateway::client::Error::Rejected(
                mqttsn_codec::ReturnCode::Congestion
            ))
        ),
        "{refused:?}"
    );
    watcher.disconnect();
}

/// The interface the kernel sends `group` out of, found without sending anything: a UDP socket
/// "connected" to the group takes that interface's address. `None` when there is no route.
fn route_to(group: SocketAddr) -> Option<std::net::Ipv4Addr> {
    let probe = UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect(group).ok()?;
    match probe.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

/// SEARCHGW sent to the multicast group of `MulticastIP`/`MulticastPortNo` is answered with
/// GWINFO [SN-6.1-12]: the gateway joins the group on the configured interface. The answer goes
/// to the searcher and to the group [SN-6.1-14]; only the searcher's copy is checked here, since
/// no second socket on this host can bind the group's port while the gateway holds it (the
/// standard library sets no SO_REUSEADDR), and the copy to the group is pinned by the unit test
/// `searchgw_on_the_group_is_answered_there_sn_6_1_12`. Before issue 19 the gateway never joined, so only
/// its ADVERTISE reached the group and a searcher on the group heard nothing.
///
/// The group is reached through the kernel's multicast loopback (IP_MULTICAST_LOOP, on by
/// default) on the interface the group is routed to: a membership on `lo` would not hear a
/// datagram the kernel sends out of another interface, and the standard library cannot choose the
/// sending interface (IP_MULTICAST_IF). A machine with no route for the group cannot run this.
fn searchgw_on_the_multicast_group(broker: BrokerKind) {
    let group = SocketAddr::from(([239, 255, 19, 4], free_port()));
    let Some(interface) = route_to(group) else {
        eprintln!(
            "no route for multicast on this machine: searchgw_on_the_multicast_group skipped"
        );
        return;
    };
    let broker = TestBroker::start(broker);
    let mut config = config(broker.port(), GatewayKind::Transparent);
    config.gateway_id = 19;
    config.advertise_address = Some(group);
    config.multicast_interface = interface;
    let gateway = gateway_with(config);
    let searcher = UdpSocket::bind("0.0.0.0:0").expect("socket");
    let mut searchgw = Vec::new();
    Message::SearchGw(SearchGw { radius: 1 })
        .encode(&mut searchgw)
        .expect("encodable");
    searcher
        .send_to(&searchgw, group)
        .expect("sent to the group");
    let gwinfo = Ok(Message::GwInfo(GwInfo {
        gw_id: 19,
        gw_add: None,
    }));
    let (datagram, from) = next_datagram(&searcher);
    assert_eq!(
        Message::decode(&datagram),
        gwinfo,
        "the searcher is answered"
    );
    assert_eq!(
        from.port(),
        gateway.local_addr().port(),
        "from the gateway's own port"
    );
}

#[test]
fn searchgw_on_the_multicast_group_ours() {
    searchgw_on_the_multicast_group(BrokerKind::Ours);
}

#[test]
fn searchgw_on_the_multicast_group_mosquitto() {
    searchgw_on_the_multicast_group(BrokerKind::Mosquitto);
}

/// Two gateways configured alike (same `GatewayName` and `GatewayID`) at one broker: each has a
/// client id of its own, so neither takes the other's connection over [MQTT-3.1.4-2]. Before
/// issue 19 both connected as `<name>-<id>`; the second took the first over, and the two went on
/// taking each other over.
fn two_gateways_with_one_name(broker: BrokerKind) {
    let broker = TestBroker::start(broker);
    let mut config = config(broker.port(), GatewayKind::Aggregating);
    config.gateway_name = format!("twin-gw-{}", free_port());
    let first = gateway_with(config.clone());
    let second = gateway_with(config);
    let watcher = broker.mqtt_client("twin-gw-watcher");
    watcher
        .subscribe(&[("t0", MqttQoS::AtLeastOnce), ("t1", MqttQoS::AtLeastOnce)])
        .expect("sent")
        .wait()
        .expect("subscribed");
    for (n, gateway) in [&first, &second].into_iter().enumerate() {
        let mut client = sn_client(gateway, &format!("twin-gw-node-{n}"));
        client
            .publish(
                Topic::Short(format!("t{n}")),
                b"hello",
                QoS::AtLeastOnce,
                false,
            )
            .expect("published");
        client.disconnect().expect("disconnected");
    }
    let mut topics: Vec<String> = (0..2).map(|_| next_mqtt(&watcher).topic).collect();
    topics.sort();
    assert_eq!(topics, ["t0", "t1"]);
    for gateway in [&first, &second] {
        let stats = gateway.stats().expect("stats");
        assert!(stats.broker_connected);
        assert_eq!(
            stats.broker_losses, 0,
            "a gateway's connection was taken over"
        );
    }
    watcher.disconnect();
}

#[test]
fn two_gateways_with_one_name_ours() {
    two_gateways_with_one_name(BrokerKind::Ours);
}

#[test]
fn two_gateways_with_one_name_mosquitto() {
    two_gateways_with_one_name(BrokerKind::Mosquitto);
}

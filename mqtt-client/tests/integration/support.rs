//! Test support: a real broker on a free loopback port, started per test and killed on drop.
//!
//! By default the broker is mosquitto, started as a child process with a minimal configuration file in
//! a temporary directory. With `MQTT_CLIENT_TEST_BROKER=ours` in the environment, [`Broker::start`]
//! starts this project's broker in-process instead (`cargo xtask ci` runs the tests both ways); tests
//! that need a configuration only mosquitto has here (passwords, TLS, persistence) ask for it with
//! [`Broker::with_config`] and always get mosquitto. A missing mosquitto fails the test with
//! instructions, rather than skipping it: CI installs it.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mqtt_client::{ConnectOptions, ConnectOptionsBuilder};

/// How long any single wait in these tests may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// A running broker.
pub(crate) struct Broker {
    child: Option<Child>,
    /// Set when the broker is ours, in-process, rather than a mosquitto child.
    ours: Option<mqtt_broker::BrokerHandle>,
    is_ours: bool,
    port: u16,
    /// Holds the configuration and the persistence file; removed when the broker is dropped.
    _dir: TempDir,
    config: PathBuf,
}

impl Broker {
    /// A broker that accepts anonymous clients: mosquitto, or ours when `MQTT_CLIENT_TEST_BROKER=ours`.
    pub(crate) fn start() -> Self {
        if std::env::var("MQTT_CLIENT_TEST_BROKER").as_deref() == Ok("ours") {
            let mut broker = Self {
                child: None,
                ours: None,
                is_ours: true,
                port: free_port(),
                _dir: TempDir::new("broker"),
                config: PathBuf::new(),
            };
            broker.spawn();
            return broker;
        }
        Self::with_config("allow_anonymous true\n")
    }

    /// A broker with `extra` appended to its configuration (after the `listener` line).
    pub(crate) fn with_config(extra: &str) -> Self {
        let dir = TempDir::new("broker");
        let port = free_port();
        let config = dir.path().join("mosquitto.conf");
        let text = format!(
            "listener {port} 127.0.0.1\npersistence_location {}/\n{extra}",
            dir.path().display()
        );
        fs::write(&config, text).expect("writing the broker configuration");
        let mut broker = Self {
            child: None,
            ours: None,
            is_ours: false,
            port,
            _dir: dir,
            config,
        };
        broker.spawn();
        broker
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Options for a client of this broker.
    pub(crate) fn options(&self) -> ConnectOptionsBuilder {
        ConnectOptions::builder("127.0.0.1", self.port).connect_timeout(PATIENCE)
    }

    /// Stops the broker cleanly (SIGTERM, so that a persistent broker saves its sessions).
    pub(crate) fn stop(&mut self) {
        if let Some(ours) = self.ours.take() {
            ours.shutdown();
        }
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + PATIENCE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the broker and starts it again on the same port with the same configuration.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        if self.is_ours {
            let config = mqtt_broker::Config {
                listeners: vec![std::net::SocketAddr::from(([127, 0, 0, 1], self.port)).into()],
                ..mqtt_broker::Config::default()
            };
            self.ours = Some(mqtt_broker::Broker::start(config).expect("starting our broker"));
            return;
        }
        let binary = mosquitto();
        let child = Command::new(binary)
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mosquitto");
        self.child = Some(child);
        wait_for_port(self.port);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The mosquitto binary, or a failed test saying how to install it.
fn mosquitto() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()]);
    for dir in candidates {
        let binary = dir.join("mosquitto");
        if binary.is_file() {
            return binary;
        }
    }
    panic!(
        "mosquitto is not installed, and these tests need a real broker: \
         install it with `apt-get install mosquitto mosquitto-clients` (CI does)"
    );
}

/// A port nobody listens on right now: bind to port 0, read the port, let it go.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("local address").port()
}

/// Waits until something accepts connections on `port`.
fn wait_for_port(port: u16) {
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the broker did not start listening on port {port}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A directory under the system's temporary directory, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("mqtt-client-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("creating a temporary directory");
        // mosquitto started as root drops to its own user, which must still be able to write its
        // persistence file here.
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o777));
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A fake server for misbehaviour a real broker never shows: it accepts one connection, reads the
/// CONNECT, writes `reply`, then reads and discards everything without ever answering.
pub(crate) fn silent_server(reply: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a fake server");
    let port = listener.local_addr().expect("local address").port();
    std::thread::spawn(move || {
        if let Ok((mut socket, _)) = listener.accept() {
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer);
            let _ = socket.write_all(reply);
            while matches!(socket.read(&mut buffer), Ok(n) if n > 0) {}
        }
    });
    port
}

/// A fake server like [`silent_server`] with a script: for each of `replies` it reads once from the
/// client (CONNECT first, then whatever the client sends next) and writes the reply. It keeps what
/// the client sends after the last one, and hands it over once the client has closed.
pub(crate) fn recording_server(
    replies: &'static [&'static [u8]],
) -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a fake server");
    let port = listener.local_addr().expect("local address").port();
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut socket, _)) = listener.accept() {
            let mut buffer = [0u8; 1024];
            for reply in replies {
                let _ = socket.read(&mut buffer);
                let _ = socket.write_all(reply);
            }
            let mut kept = Vec::new();
            while let Ok(read @ 1..) = socket.read(&mut buffer) {
                kept.extend_from_slice(&buffer[..read]);
            }
            let _ = sender.send(kept);
        }
    });
    (port, received)
}

/// Certificates for TLS tests, made with the `openssl` command: a CA, a server certificate for
/// `localhost` only (so that connecting to 127.0.0.1 is a name mismatch), and a client certificate.
pub(crate) struct Certificates {
    dir: TempDir,
}

impl Certificates {
    pub(crate) fn generate() -> Self {
        let dir = TempDir::new("certs");
        let openssl = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap_or_else(|error| {
                    panic!(
                        "the TLS tests need the openssl command ({error}): apt-get install openssl"
                    )
                });
            assert!(status.success(), "openssl {args:?} failed");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=test-ca",
                ],
            ]
            .concat(),
        );
        for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let pem = format!("{name}.pem");
            let ext = format!("{name}.ext");
            let san = if name == "server" {
                "subjectAltName=DNS:localhost\n"
            } else {
                ""
            };
            fs::write(
                dir.path().join(&ext),
                format!("{san}basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"),
            )
            .expect("writing the extensions file");
            openssl(
                &[
                    &["req"][..],
                    &ec,
                    &[
                        "-keyout",
                        &key,
                        "-out",
                        &csr,
                        "-subj",
                        &format!("/CN={name}"),
                    ],
                ]
                .concat(),
            );
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ]);
        }
        for entry in fs::read_dir(dir.path())
            .expect("listing certificates")
            .flatten()
        {
            // mosquitto may read them after dropping root.
            let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o644));
        }
        Self { dir }
    }

    /// The path of `file` (`ca.pem`, `server.pem`, `server.key`, `client.pem`, `client.key`).
    pub(crate) fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    /// A broker configuration for a TLS listener, asking for client certificates if `require`.
    pub(crate) fn broker_config(&self, require: bool) -> String {
        format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {require}\nallow_anonymous true\n",
            self.path("ca.pem"),
            self.path("server.pem"),
            self.path("server.key"),
        )
    }
}

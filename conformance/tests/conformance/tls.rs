//! The suite over TLS: a few checks through mosquitto's TLS listener, with a CA, a server certificate
//! for `localhost` and a client certificate made by `openssl` for the test.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use conformance::tls::{TlsOptions, client_config};
use conformance::{Context, Verdict, Version};

use crate::Mosquitto;

/// A directory of test certificates, removed when dropped.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn generate() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "conformance-tls-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let openssl = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("the TLS test needs the openssl command");
            assert!(status.success(), "openssl {args:?} failed");
        };
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        let run = |line: String| openssl(&line.split_whitespace().collect::<Vec<_>>());
        run(format!(
            "req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=conformance-ca"
        ));
        for (name, usage, san) in [
            ("server", "serverAuth", "subjectAltName=DNS:localhost\n"),
            ("client", "clientAuth", ""),
        ] {
            std::fs::write(
                dir.join(format!("{name}.ext")),
                format!("{san}basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n"),
            )
            .expect("extensions file");
            run(format!(
                "req {ec} -keyout {name}.key -out {name}.csr -subj /CN={name}"
            ));
            run(format!(
                "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out {name}.pem -days 2 -extfile {name}.ext"
            ));
        }
        for entry in std::fs::read_dir(&dir)
            .expect("listing certificates")
            .flatten()
        {
            // mosquitto started as root drops to its own user before it reads them: test keys only.
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644));
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn mosquitto_config(&self, require_certificate: bool) -> String {
        let file = |name: &str| self.path(name).display().to_string();
        format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {require_certificate}\n",
            file("ca.pem"),
            file("server.pem"),
            file("server.key")
        )
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_over_tls(host: &str, port: u16, options: &TlsOptions) -> Vec<Verdict> {
    let mut context = Context::new(host, port, Version::V311, Duration::from_secs(2));
    context.tls = Some(client_config(options).expect("a TLS configuration"));
    let checks: Vec<_> = conformance::checks()
        .into_iter()
        .filter(|check| ["connect-accepted", "qos2-delivery"].contains(&check.name))
        .collect();
    conformance::run(&context, &checks, &[])
        .into_iter()
        .map(|result| result.verdict)
        .collect()
}

fn all_pass(verdicts: &[Verdict]) -> bool {
    verdicts.len() == 2 && verdicts.iter().all(|verdict| *verdict == Verdict::Pass)
}

#[test]
fn checks_run_over_tls_with_a_client_certificate() {
    let certificates = Certificates::generate();
    let broker = Mosquitto::with_config(&certificates.mosquitto_config(true));
    let options = TlsOptions {
        ca_file: Some(certificates.path("ca.pem")),
        client_auth: Some((
            certificates.path("client.pem"),
            certificates.path("client.key"),
        )),
        insecure: false,
    };
    let verdicts = run_over_tls("localhost", broker.port, &options);
    assert!(all_pass(&verdicts), "{verdicts:?}");
}

#[test]
fn the_server_name_is_checked_unless_insecure() {
    let certificates = Certificates::generate();
    let broker = Mosquitto::with_config(&certificates.mosquitto_config(false));
    let trusting = TlsOptions {
        ca_file: Some(certificates.path("ca.pem")),
        ..TlsOptions::default()
    };
    // The certificate names localhost, not 127.0.0.1: every check fails at the handshake.
    let refused = run_over_tls("127.0.0.1", broker.port, &trusting);
    assert!(
        refused
            .iter()
            .all(|verdict| matches!(verdict, Verdict::Fail(why) if why.contains("certificate"))),
        "{refused:?}"
    );
    let insecure = TlsOptions {
        insecure: true,
        ..trusting
    };
    let verdicts = run_over_tls("127.0.0.1", broker.port, &insecure);
    assert!(all_pass(&verdicts), "{verdicts:?}");
}

#[test]
fn a_missing_ca_file_is_reported() {
    let options = TlsOptions {
        ca_file: Some(Path::new("/nonexistent/ca.pem").to_path_buf()),
        ..TlsOptions::default()
    };
    let error = client_config(&options).expect_err("no such file");
    assert!(error.contains("/nonexistent/ca.pem"), "{error}");
}

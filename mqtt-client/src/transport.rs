//! The byte stream under MQTT: TCP, or TLS over TCP through rustls, split into a read half and a
//! write half so that two threads can use them at once.
//!
//! MQTT needs an ordered, lossless, bidirectional byte stream (3.1.1 §4.2); TLS on top of it is the
//! usual way to secure it (3.1.1 §5.4). TCP_NODELAY is set because MQTT packets are small and
//! latency matters more than the few bytes Nagle's algorithm would save.
//!
//! For TLS the split needs care: one rustls `ClientConnection` holds the state of both directions.
//! It sits behind a lock that is held only to move bytes in and out of it, never during socket I/O:
//! the read half reads ciphertext from its own handle of the socket, then locks to decrypt; the write
//! half locks to encrypt, then writes the ciphertext after unlocking.
//!
//! This file knows nothing of MQTT packets.
//!
//! `conformance/src/tls.rs` holds a copy of the PEM loading and the `--insecure` verifier, on purpose:
//! the conformance suite depends on none of our MQTT crates. A fix to one belongs in both.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
};

use crate::error::Timeout;
use crate::{ConnectOptions, Error, TlsOptions};

/// Where operating systems keep their bundle of trusted CA certificates, most common first.
const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// The read half of a connection.
pub(crate) struct ReadHalf {
    inner: ReadInner,
}

enum ReadInner {
    Tcp(TcpStream),
    Tls {
        socket: TcpStream,
        tls: Arc<Mutex<ClientConnection>>,
        /// Ciphertext read from the socket and not yet given to rustls, as `raw[start..end]`.
        raw: Box<[u8]>,
        start: usize,
        end: usize,
    },
}

/// The write half of a connection.
pub(crate) struct WriteHalf {
    socket: TcpStream,
    tls: Option<Arc<Mutex<ClientConnection>>>,
}

/// Opens a connection to the server of `options`, completing the TLS handshake if asked, within the
/// connect timeout.
pub(crate) fn connect(options: &ConnectOptions) -> Result<(ReadHalf, WriteHalf), Error> {
    let timeout = options.connect_timeout;
    let socket = tcp_connect(&options.host, options.port, timeout)?;
    socket
        .set_nodelay(true)
        .map_err(|error| Error::io("setting TCP_NODELAY", error))?;
    // Writes that stall for this long mean a dead peer; the keep-alive would not fire while the
    // writer is stuck.
    let write_timeout = options.keep_alive.max(Duration::from_secs(10));
    socket
        .set_write_timeout(Some(write_timeout))
        .map_err(|error| Error::io("setting the write timeout", error))?;
    let reader_socket = socket
        .try_clone()
        .map_err(|error| Error::io("cloning the socket", error))?;
    let Some(tls_options) = &options.tls else {
        return Ok((
            ReadHalf {
                inner: ReadInner::Tcp(reader_socket),
            },
            WriteHalf { socket, tls: None },
        ));
    };
    let config = client_config(tls_options)?;
    let name = ServerName::try_from(options.host.clone())
        .map_err(|_| Error::Tls(format!("{:?} is not a valid server name", options.host)))?;
    let mut connection = ClientConnection::new(config, name)
        .map_err(|error| Error::Tls(format!("cannot start the handshake: {error}")))?;
    handshake(&mut connection, &socket, timeout)?;
    connection.set_buffer_limit(None);
    let tls = Arc::new(Mutex::new(connection));
    Ok((
        ReadHalf {
            inner: ReadInner::Tls {
                socket: reader_socket,
                tls: Arc::clone(&tls),
                raw: vec![0; 16 * 1024].into_boxed_slice(),
                start: 0,
                end: 0,
            },
        },
        WriteHalf {
            socket,
            tls: Some(tls),
        },
    ))
}

impl ReadHalf {
    /// Sets how long a read may wait; `None` waits for ever.
    pub(crate) fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match &self.inner {
            ReadInner::Tcp(socket) | ReadInner::Tls { socket, .. } => {
                socket.set_read_timeout(timeout)
            }
        }
    }
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (socket, tls, raw, start, end) = match &mut self.inner {
            ReadInner::Tcp(socket) => return socket.read(buf),
            ReadInner::Tls {
                socket,
                tls,
                raw,
                start,
                end,
            } => (socket, tls, raw, start, end),
        };
        loop {
            {
                let mut connection = tls.lock();
                match connection.reader().read(buf) {
                    Ok(read) => return Ok(read),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => return Err(error),
                }
                if *start < *end {
                    let used = connection.read_tls(&mut &raw[*start..*end])?;
                    *start += used;
                    connection
                        .process_new_packets()
                        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
                    continue;
                }
            }
            // No plaintext and no ciphertext left: read more, without holding the lock.
            let read = socket.read(raw)?;
            if read == 0 {
                return Ok(0);
            }
            *start = 0;
            *end = read;
        }
    }
}

impl WriteHalf {
    /// Writes all of `bytes`, encrypted if this is TLS.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(tls) = &self.tls else {
            return self.socket.write_all(bytes);
        };
        let mut ciphertext = Vec::with_capacity(bytes.len() + 64);
        {
            let mut connection = tls.lock();
            connection.writer().write_all(bytes)?;
            while connection.wants_write() {
                connection.write_tls(&mut ciphertext)?;
            }
        }
        self.socket.write_all(&ciphertext)
    }

    /// Closes both directions, which also ends a read blocked in the other half. Sends TLS
    /// close_notify first, on a best-effort basis.
    pub(crate) fn shutdown(&mut self) {
        if let Some(tls) = &self.tls {
            let mut ciphertext = Vec::new();
            {
                let mut connection = tls.lock();
                connection.send_close_notify();
                while connection.wants_write() {
                    if connection.write_tls(&mut ciphertext).is_err() {
                        break;
                    }
                }
            }
            let _ = self.socket.write_all(&ciphertext);
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

fn tcp_connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, Error> {
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|error| Error::io("resolving the server's address", error))?;
    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(socket) => return Ok(socket),
            Err(error) => last_error = Some(error),
        }
    }
    Err(match last_error {
        Some(error) if error.kind() == io::ErrorKind::TimedOut => Error::TimedOut(Timeout::Connect),
        Some(error) => Error::io("connecting to the server", error),
        None => Error::io(
            "resolving the server's address",
            io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address")),
        ),
    })
}

fn handshake(
    connection: &mut ClientConnection,
    socket: &TcpStream,
    timeout: Duration,
) -> Result<(), Error> {
    let mut socket = socket;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|error| Error::io("setting the read timeout", error))?;
    while connection.is_handshaking() {
        if let Err(error) = connection.complete_io(&mut socket) {
            return Err(match error.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    Error::TimedOut(Timeout::Connect)
                }
                io::ErrorKind::InvalidData => Error::Tls(format!("handshake failed: {error}")),
                _ => Error::io("TLS handshake", error),
            });
        }
    }
    socket
        .set_read_timeout(None)
        .map_err(|error| Error::io("clearing the read timeout", error))?;
    Ok(())
}

/// The rustls configuration for `options`: trust anchors, client certificate, host name checking.
pub(crate) fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, Error> {
    if let Some(config) = &options.config {
        return Ok(Arc::clone(config));
    }
    let roots = Arc::new(root_store(
        options.ca_file.as_deref(),
        options.ca_path.as_deref(),
    )?);
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &options.ciphers {
        provider.cipher_suites = cipher_suites(&provider.cipher_suites, names)?;
    }
    let provider = Arc::new(provider);
    let versions: &[&rustls::SupportedProtocolVersion] = if options.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|error| Error::Tls(error.to_string()))?;
    let builder = if options.insecure {
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|error| Error::Tls(error.to_string()))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(verifier)))
    } else {
        builder.with_root_certificates(roots)
    };
    let config = match &options.client_auth {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = read_certificates(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|error| {
                Error::Tls(format!(
                    "cannot read the private key {}: {error}",
                    key.display()
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|error| {
                Error::Tls(format!(
                    "client certificate and key do not work together: {error}"
                ))
            })?
        }
    };
    let mut config = config;
    config.alpn_protocols.clone_from(&options.alpn);
    Ok(Arc::new(config))
}

/// OpenSSL's names for the TLS 1.2 suites rustls has, beside their IANA names.
const OPENSSL_NAMES: [(&str, &str); 6] = [
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The suites of `all` that `names` allow (see [`TlsOptions::ciphers`]).
fn cipher_suites(
    all: &[rustls::SupportedCipherSuite],
    names: &[String],
) -> Result<Vec<rustls::SupportedCipherSuite>, Error> {
    let iana = |suite: &rustls::SupportedCipherSuite| format!("{:?}", suite.suite());
    let mut chosen = Vec::new();
    for name in names {
        let wanted = OPENSSL_NAMES
            .iter()
            .find(|(openssl, _)| openssl.eq_ignore_ascii_case(name))
            .map_or(name.as_str(), |(_, iana)| iana);
        // OpenSSL spells the TLS 1.3 suites TLS_AES_128_GCM_SHA256; rustls's Debug says TLS13_...
        let wanted = wanted.replacen("TLS_AES", "TLS13_AES", 1).replacen(
            "TLS_CHACHA20",
            "TLS13_CHACHA20",
            1,
        );
        let suite = all
            .iter()
            .find(|suite| iana(suite).eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| {
                Error::Tls(format!(
                    "unknown or unsupported cipher {name:?}; known: {}",
                    OPENSSL_NAMES.map(|(openssl, _)| openssl).join(", ")
                ))
            })?;
        if !chosen.contains(suite) {
            chosen.push(*suite);
        }
    }
    let names_tls13 = chosen
        .iter()
        .any(|suite| suite.version() == &rustls::version::TLS13);
    if !names_tls13 {
        chosen.extend(
            all.iter()
                .filter(|suite| suite.version() == &rustls::version::TLS13),
        );
    }
    Ok(chosen)
}

fn root_store(ca_file: Option<&Path>, ca_path: Option<&Path>) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    if let Some(dir) = ca_path {
        let entries = fs::read_dir(dir).map_err(|error| {
            Error::Tls(format!(
                "cannot read the CA directory {}: {error}",
                dir.display()
            ))
        })?;
        for entry in entries.flatten() {
            // Hash links and other files that are not PEM certificates are skipped, as OpenSSL does.
            if let Ok(certificates) = read_certificates(&entry.path()) {
                roots.add_parsable_certificates(certificates);
            }
        }
        if ca_file.is_none() {
            if roots.is_empty() {
                return Err(Error::Tls(format!(
                    "no usable CA certificate in {}",
                    dir.display()
                )));
            }
            return Ok(roots);
        }
    }
    let path = match ca_file {
        Some(path) => path,
        None => SYSTEM_CA_BUNDLES
            .iter()
            .map(Path::new)
            .find(|path| fs::metadata(path).is_ok())
            .ok_or_else(|| {
                Error::Tls("no system CA bundle found; give one with --cafile".into())
            })?,
    };
    let (added, _ignored) = roots.add_parsable_certificates(read_certificates(path)?);
    if added == 0 {
        return Err(Error::Tls(format!(
            "no usable CA certificate in {}",
            path.display()
        )));
    }
    Ok(roots)
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|error| {
            Error::Tls(format!(
                "cannot read certificates from {}: {error}",
                path.display()
            ))
        })?;
    if certificates.is_empty() {
        return Err(Error::Tls(format!("no certificate in {}", path.display())));
    }
    Ok(certificates)
}

/// Verifies the chain like the default verifier but accepts any server name: `--insecure`.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(suites: &[rustls::SupportedCipherSuite]) -> Vec<String> {
        suites
            .iter()
            .map(|suite| format!("{:?}", suite.suite()))
            .collect()
    }

    #[test]
    fn openssl_cipher_names_pick_tls12_suites_and_keep_tls13() {
        let all = rustls::crypto::ring::default_provider().cipher_suites;
        let chosen = cipher_suites(&all, &["ECDHE-RSA-AES128-GCM-SHA256".into()]).expect("known");
        let chosen = names(&chosen);
        assert!(chosen.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned()));
        assert!(!chosen.contains(&"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".to_owned()));
        assert!(
            chosen.iter().any(|name| name.starts_with("TLS13_")),
            "{chosen:?}"
        );
        let only13 = cipher_suites(&all, &["TLS_AES_128_GCM_SHA256".into()]).expect("known");
        assert_eq!(names(&only13), ["TLS13_AES_128_GCM_SHA256"]);
    }

    #[test]
    fn unknown_ciphers_are_named_in_the_error() {
        let all = rustls::crypto::ring::default_provider().cipher_suites;
        let Err(Error::Tls(why)) = cipher_suites(&all, &["RC4-MD5".into()]) else {
            panic!("RC4-MD5 accepted");
        };
        assert!(why.contains("RC4-MD5"), "{why}");
    }

    #[test]
    fn a_ca_directory_without_certificates_is_an_error() {
        let dir = std::env::temp_dir().join(format!("mqtt-capath-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        fs::write(dir.join("README"), "not a certificate").expect("write");
        let Err(Error::Tls(why)) = root_store(None, Some(&dir)) else {
            panic!("an empty CA directory accepted");
        };
        let _ = fs::remove_dir_all(&dir);
        assert!(why.contains("no usable CA certificate"), "{why}");
    }
}

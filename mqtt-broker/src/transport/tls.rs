//! TLS listeners: building a rustls [`ServerConfig`] from mosquitto's per-listener directives, and
//! reading the subject CN of a client certificate for `use_identity_as_username`.
//!
//! Every way the files can be wrong is found here, at start-up and again on reload (SIGHUP, when
//! `BrokerHandle::reload` builds each listener's configuration afresh and keeps the old one if the
//! new one fails), and reported with the file and what is wrong with it: a file that cannot be read, one with no PEM certificate or key in it, a key that does
//! not belong to the certificate, a CA file with nothing usable. A listener with `cafile` or
//! `require_certificate` but no `certfile`/`keyfile` is refused by the configuration parser, so a
//! listener is never silently plain when TLS was meant.
//!
//! TLS 1.2 and 1.3 are offered (rustls's defaults, ring provider). Client certificates are verified
//! against `cafile`; with `require_certificate false` a client may still present one, and it is then
//! verified too. No session tickets are sent: resumption would save a round trip on reconnect, but
//! tickets are writes after the handshake, and keeping the connection quiet after the handshake keeps
//! `transport/stream.rs` simple. This file does no I/O on connections (`transport/stream.rs` does).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// A listener's TLS settings (`certfile`, `keyfile`, `cafile`, `capath`, `crlfile`,
/// `require_certificate`, `use_identity_as_username`, `use_subject_as_username`, `ciphers`,
/// `ciphers_tls1.3`, `tls_version` after a `listener` line). `Default` has empty paths: set at least
/// `certfile` and `keyfile`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server's certificate chain, PEM, leaf first.
    pub certfile: PathBuf,
    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub keyfile: PathBuf,
    /// CA certificates that client certificates must chain to, PEM.
    pub cafile: Option<PathBuf>,
    /// Refuse clients without a valid certificate (as mosquitto's test port 8884).
    pub require_certificate: bool,
    /// The client certificate's subject CN is the user name; no password is checked.
    pub use_identity_as_username: bool,
    /// A directory of CA certificates (PEM files), as well as or instead of `cafile`.
    pub capath: Option<PathBuf>,
    /// Certificate revocation lists (PEM): a client certificate they revoke is refused.
    pub crlfile: Option<PathBuf>,
    /// The client certificate's whole subject (RFC 2253 form, `CN=dev,O=Org,C=GB`) is the user
    /// name, as mosquitto's `use_subject_as_username`; no password is checked.
    pub use_subject_as_username: bool,
    /// The TLS 1.2 cipher suites, OpenSSL names separated by `:` (`ciphers`); `None`: rustls's.
    pub ciphers: Option<String>,
    /// The TLS 1.3 cipher suites, IANA names separated by `:` (`ciphers_tls1.3`); `None`: all.
    pub ciphers_tls13: Option<String>,
    /// The oldest TLS version accepted (`tls_version`); `None`: 1.2.
    pub tls_version: Option<TlsVersion>,
}

/// `tls_version`: mosquitto's values name the oldest version a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// `tlsv1.1`: rustls has nothing older than 1.2, so the same as `tlsv1.2`.
    Tls11,
    /// `tlsv1.2`: 1.2 and 1.3 (the default).
    Tls12,
    /// `tlsv1.3`: 1.3 only.
    Tls13,
}

impl TlsVersion {
    /// Parses a `tls_version` value.
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        match value {
            "tlsv1.1" => Ok(Self::Tls11),
            "tlsv1.2" => Ok(Self::Tls12),
            "tlsv1.3" => Ok(Self::Tls13),
            _ => Err(format!(
                "`tls_version` is tlsv1.1, tlsv1.2 or tlsv1.3, not `{value}`"
            )),
        }
    }
}

/// OpenSSL's names of the TLS 1.2 suites rustls (ring) has.
const TLS12_NAMES: [(&str, rustls::CipherSuite); 6] = [
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The TLS 1.3 suites, by their IANA names (what OpenSSL's `ciphersuites` takes).
const TLS13_NAMES: [(&str, rustls::CipherSuite); 3] = [
    (
        "TLS_AES_128_GCM_SHA256",
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
];

/// The suites a `ciphers` value names. Only a list of suite names is understood, not OpenSSL's
/// keywords (`HIGH`, `!aNULL`...): a keyword is refused with the names that are accepted, so that
/// nobody believes a suite is disabled when it is not.
pub(crate) fn tls12_suites(value: &str) -> Result<Vec<rustls::CipherSuite>, String> {
    suites("ciphers", value, &TLS12_NAMES)
}

/// The suites a `ciphers_tls1.3` value names.
pub(crate) fn tls13_suites(value: &str) -> Result<Vec<rustls::CipherSuite>, String> {
    suites("ciphers_tls1.3", value, &TLS13_NAMES)
}

fn suites(
    directive: &str,
    value: &str,
    names: &[(&str, rustls::CipherSuite)],
) -> Result<Vec<rustls::CipherSuite>, String> {
    value
        .split([':', ',', ' '])
        .filter(|name| !name.is_empty())
        .map(|name| {
            names
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, suite)| *suite)
                .ok_or_else(|| {
                    let known: Vec<&str> = names.iter().map(|(known, _)| *known).collect();
                    format!(
                        "`{directive}`: `{name}` is not a suite this broker has; give a list of \
                         {}",
                        known.join(", ")
                    )
                })
        })
        .collect()
}

/// How to reissue a client certificate as X.509 v3: the advice the log gives with a v1 refusal.
pub(crate) const REISSUE_V3: &str = "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key \
     -CAcreateserial -out client.pem -days 365 -extfile client.ext, where client.ext holds \
     'basicConstraints=CA:FALSE' and 'extendedKeyUsage=clientAuth'";

/// Describes a failed TLS handshake for the log. A client certificate in X.509 version 1 (what
/// `openssl x509 -req` makes when given no extensions, as many mosquitto guides do) is refused by
/// rustls's verifier (webpki's `UnsupportedCertVersion`), by design and rightly: v1 cannot say
/// whether a certificate is a CA or what it may be used for. We keep the refusal and say plainly
/// what happened and how to reissue the certificate, instead of the bare error name.
pub(crate) fn describe_handshake_error(error: &rustls::Error) -> String {
    let text = error.to_string();
    if matches!(error, rustls::Error::InvalidCertificate(_))
        && format!("{error:?}").contains("UnsupportedCertVersion")
    {
        return format!(
            "{text}: the client certificate is X.509 version 1 (made without extensions), which \
             is refused; reissue it as version 3 with extensions: {REISSUE_V3}"
        );
    }
    text
}

/// Builds the rustls configuration of one listener, or says which file is wrong and how.
pub(crate) fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    let certs = read_certificates(&settings.certfile, "certfile")?;
    let key = PrivateKeyDer::from_pem_file(&settings.keyfile).map_err(|error| {
        format!(
            "keyfile {}: no usable private key: {error}",
            settings.keyfile.display()
        )
    })?;
    let provider = Arc::new(provider(settings)?);
    let versions: &[&rustls::SupportedProtocolVersion] = match settings.tls_version {
        Some(TlsVersion::Tls13) => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS12, &rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|error| {
            format!(
                "listener with certfile {}: the `ciphers`, `ciphers_tls1.3` and `tls_version` \
                 given leave no usable suite: {error}",
                settings.certfile.display()
            )
        })?;
    let roots = roots(settings)?;
    let builder = match roots {
        Some((roots, source)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if settings.require_certificate {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = match &settings.crlfile {
                Some(crlfile) => verifier.with_crls(read_crls(crlfile)?),
                None => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|error| format!("{source}: {error}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None if settings.require_certificate
            || settings.use_identity_as_username
            || settings.use_subject_as_username
            || settings.crlfile.is_some() =>
        {
            return Err(format!(
                "listener with certfile {}: require_certificate, use_identity_as_username, \
                 use_subject_as_username and crlfile need a cafile or capath to verify client \
                 certificates against",
                settings.certfile.display()
            ));
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(_) => format!(
                "keyfile {} does not match the certificate in certfile {}",
                settings.keyfile.display(),
                settings.certfile.display()
            ),
            other => format!(
                "certfile {} / keyfile {}: {other}",
                settings.certfile.display(),
                settings.keyfile.display()
            ),
        })?;
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// The ring provider with the suites `ciphers` and `ciphers_tls1.3` leave.
fn provider(settings: &TlsSettings) -> Result<rustls::crypto::CryptoProvider, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    let tls12 = settings.ciphers.as_deref().map(tls12_suites).transpose()?;
    let tls13 = settings
        .ciphers_tls13
        .as_deref()
        .map(tls13_suites)
        .transpose()?;
    provider.cipher_suites.retain(|suite| {
        let name = suite.suite();
        match suite.version() {
            version if *version == rustls::version::TLS13 => {
                tls13.as_ref().is_none_or(|names| names.contains(&name))
            }
            _ => tls12.as_ref().is_none_or(|names| names.contains(&name)),
        }
    });
    Ok(provider)
}

/// The CA certificates of `cafile` and every PEM file in `capath`, and what to name in an error;
/// `None` when neither is set.
fn roots(settings: &TlsSettings) -> Result<Option<(RootCertStore, String)>, String> {
    let mut roots = RootCertStore::empty();
    let mut sources = Vec::new();
    let add = |roots: &mut RootCertStore, path: &Path, directive: &str| {
        for cert in read_certificates(path, directive)? {
            roots.add(cert).map_err(|error| {
                format!(
                    "{directive} {}: unusable CA certificate: {error}",
                    path.display()
                )
            })?;
        }
        Ok::<(), String>(())
    };
    if let Some(cafile) = &settings.cafile {
        add(&mut roots, cafile, "cafile")?;
        sources.push(format!("cafile {}", cafile.display()));
    }
    if let Some(capath) = &settings.capath {
        // mosquitto's capath is OpenSSL's hashed directory; every file in it that holds PEM
        // certificates is read here, hashed names or not. Files without one are skipped.
        let entries = std::fs::read_dir(capath)
            .map_err(|error| format!("capath {}: {error}", capath.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        for file in files {
            let certs = CertificateDer::pem_file_iter(&file)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .unwrap_or_default();
            for cert in certs {
                roots.add(cert).map_err(|error| {
                    format!(
                        "capath {}: unusable CA certificate: {error}",
                        file.display()
                    )
                })?;
            }
        }
        if roots.is_empty() {
            return Err(format!(
                "capath {}: no PEM CA certificate in the directory",
                capath.display()
            ));
        }
        sources.push(format!("capath {}", capath.display()));
    }
    Ok((!sources.is_empty()).then(|| (roots, sources.join(", "))))
}

/// The revocation lists of `crlfile`.
fn read_crls(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateRevocationListDer<'static>>, String> {
    let crls = rustls::pki_types::CertificateRevocationListDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("crlfile {}: {error}", path.display()))?;
    if crls.is_empty() {
        return Err(format!(
            "crlfile {}: no PEM revocation list in the file",
            path.display()
        ));
    }
    Ok(crls)
}

fn read_certificates(path: &Path, directive: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("{directive} {}: {error}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{directive} {}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

/// The first common name (OID 2.5.4.3) of a DER certificate's subject, as mosquitto takes it.
///
/// A minimal DER walk: Certificate → TBSCertificate → (skip version, serial, signature, issuer,
/// validity) → subject → each RDN's attributes. Only the definite-length form DER allows is read.
pub(crate) fn common_name(certificate: &[u8]) -> Option<String> {
    let (0x30, certificate, _) = tlv(certificate)? else {
        return None;
    };
    let (0x30, mut tbs, _) = tlv(certificate)? else {
        return None;
    };
    if tbs.first() == Some(&0xA0) {
        tbs = tlv(tbs)?.2; // [0] version
    }
    for _ in 0..4 {
        tbs = tlv(tbs)?.2; // serial, signature, issuer, validity
    }
    let (0x30, mut subject, _) = tlv(tbs)? else {
        return None;
    };
    while !subject.is_empty() {
        let (_, mut set, rest) = tlv(subject)?;
        subject = rest;
        while !set.is_empty() {
            let (_, attribute, rest) = tlv(set)?;
            set = rest;
            let (0x06, oid, value) = tlv(attribute)? else {
                return None;
            };
            if oid == [0x55, 0x04, 0x03] {
                let (tag, value, _) = tlv(value)?;
                // UTF8String, PrintableString, TeletexString (as Latin-1 in practice), IA5String.
                return match tag {
                    0x0C | 0x13 | 0x16 => String::from_utf8(value.to_vec()).ok(),
                    0x14 => Some(value.iter().map(|&b| char::from(b)).collect()),
                    _ => None,
                };
            }
        }
    }
    None
}

/// The whole subject of a DER certificate in RFC 2253 form, as mosquitto's
/// `use_subject_as_username` gives it (OpenSSL's `XN_FLAG_RFC2253`): the last RDN first, `,`
/// between RDNs, `+` inside a multi-valued one, OpenSSL's short names (`CN`, `O`...) and the
/// dotted OID for others, with RFC 2253's escapes.
pub(crate) fn subject(certificate: &[u8]) -> Option<String> {
    let (0x30, certificate, _) = tlv(certificate)? else {
        return None;
    };
    let (0x30, mut tbs, _) = tlv(certificate)? else {
        return None;
    };
    if tbs.first() == Some(&0xA0) {
        tbs = tlv(tbs)?.2;
    }
    for _ in 0..4 {
        tbs = tlv(tbs)?.2;
    }
    let (0x30, mut name, _) = tlv(tbs)? else {
        return None;
    };
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (0x31, mut set, rest) = tlv(name)? else {
            return None;
        };
        name = rest;
        let mut attributes = Vec::new();
        while !set.is_empty() {
            let (0x30, attribute, rest) = tlv(set)? else {
                return None;
            };
            set = rest;
            let (0x06, oid, value) = tlv(attribute)? else {
                return None;
            };
            let (tag, text, _) = tlv(value)?;
            let text = match tag {
                0x0C | 0x13 | 0x16 => String::from_utf8(text.to_vec()).ok()?,
                0x14 => text.iter().map(|&b| char::from(b)).collect(),
                _ => return None,
            };
            attributes.push(format!("{}={}", short_name(oid), escape_rfc2253(&text)));
        }
        rdns.push(attributes.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// OpenSSL's short name of an attribute type, or its dotted OID.
fn short_name(oid: &[u8]) -> String {
    let known: &[(&[u8], &str)] = &[
        (&[0x55, 0x04, 0x03], "CN"),
        (&[0x55, 0x04, 0x05], "serialNumber"),
        (&[0x55, 0x04, 0x06], "C"),
        (&[0x55, 0x04, 0x07], "L"),
        (&[0x55, 0x04, 0x08], "ST"),
        (&[0x55, 0x04, 0x09], "street"),
        (&[0x55, 0x04, 0x0A], "O"),
        (&[0x55, 0x04, 0x0B], "OU"),
        (
            &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01],
            "emailAddress",
        ),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x19],
            "DC",
        ),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x01],
            "UID",
        ),
    ];
    if let Some((_, name)) = known.iter().find(|(known, _)| *known == oid) {
        return (*name).to_owned();
    }
    let mut arcs = Vec::new();
    let mut value = 0u64;
    for (index, byte) in oid.iter().enumerate() {
        value = value << 7 | u64::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            if index == arcs.len() && arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    let arcs: Vec<String> = arcs.iter().map(u64::to_string).collect();
    arcs.join(".")
}

/// RFC 2253 §2.4: a backslash before `,` `+` `"` `\` `<` `>` `;`, a leading `#` or space and a
/// trailing space.
fn escape_rfc2253(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let last = text.chars().count().saturating_sub(1);
    for (index, character) in text.chars().enumerate() {
        let special = matches!(character, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (index == 0 && matches!(character, '#' | ' '))
            || (index == last && character == ' ');
        if special {
            out.push('\\');
        }
        out.push(character);
    }
    out
}

/// One DER tag-length-value: the tag, the value and what follows.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |len, &b| len << 8 | usize::from(b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client certificate made the way many mosquitto guides make it (`openssl x509 -req` with
    /// no extensions file: X.509 version 1) is refused by the verifier every TLS listener uses,
    /// and the description says it is version 1 and how to reissue it. Needs the `openssl` command.
    #[test]
    fn a_version_1_client_certificate_is_refused_with_advice() {
        let dir = std::env::temp_dir().join(format!("mqtt-broker-v1-cert-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        for args in [
            format!("req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=ca"),
            format!("req {ec} -keyout v1.key -out v1.csr -subj /CN=device-1"),
            "x509 -req -in v1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out v1.pem -days 2"
                .to_owned(),
        ] {
            let status = std::process::Command::new("openssl")
                .args(args.split_whitespace())
                .current_dir(&dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("this test needs the openssl command: apt-get install openssl");
            assert!(status.success(), "openssl {args}");
        }
        let mut roots = RootCertStore::empty();
        for ca in read_certificates(&dir.join("ca.pem"), "cafile").expect("the CA") {
            roots.add(ca).expect("a usable CA");
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("a verifier");
        let v1 = read_certificates(&dir.join("v1.pem"), "test").expect("the v1 certificate");
        let error = verifier
            .verify_client_cert(&v1[0], &[], rustls::pki_types::UnixTime::now())
            .expect_err("rustls refuses X.509 v1");
        let _ = std::fs::remove_dir_all(&dir);
        let described = describe_handshake_error(&error);
        assert!(described.contains("X.509 version 1"), "{described}");
        assert!(described.contains("-extfile"), "{described}");
        let other = describe_handshake_error(&rustls::Error::DecryptError);
        assert!(!other.contains("version 1"), "{other}");
    }

    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    fn name(attributes: &[(&[u8], u8, &str)]) -> Vec<u8> {
        let sets: Vec<u8> = attributes
            .iter()
            .flat_map(|(oid, tag, value)| {
                let attribute = [der(0x06, oid), der(*tag, value.as_bytes())].concat();
                der(0x31, &der(0x30, &attribute))
            })
            .collect();
        der(0x30, &sets)
    }

    #[test]
    fn the_subject_cn_is_found_not_the_issuer_cn() {
        const CN: &[u8] = &[0x55, 0x04, 0x03];
        const O: &[u8] = &[0x55, 0x04, 0x0A];
        let tbs = [
            der(0xA0, &der(0x02, &[2])),
            der(0x02, &[1]),
            der(0x30, &der(0x06, &[1, 2])),
            name(&[(CN, 0x0C, "the-ca")]),
            der(0x30, &[]),
            name(&[(O, 0x13, "org"), (CN, 0x0C, "device-7")]),
            der(0x30, &[0; 200]),
        ]
        .concat();
        let certificate = der(0x30, &[der(0x30, &tbs), der(0x30, &[])].concat());
        assert_eq!(common_name(&certificate).as_deref(), Some("device-7"));
        // use_subject_as_username: RFC 2253, the last RDN first.
        assert_eq!(subject(&certificate).as_deref(), Some("CN=device-7,O=org"));
        let tricky = [
            der(0xA0, &der(0x02, &[2])),
            der(0x02, &[1]),
            der(0x30, &der(0x06, &[1, 2])),
            name(&[(CN, 0x0C, "the-ca")]),
            der(0x30, &[]),
            name(&[
                (&[0x55, 0x04, 0x06], 0x13, "GB"),
                (O, 0x0C, "a,b+c"),
                (&[0x2B, 0x06, 0x01], 0x0C, " x"),
            ]),
            der(0x30, &[0; 200]),
        ]
        .concat();
        let certificate = der(0x30, &[der(0x30, &tricky), der(0x30, &[])].concat());
        assert_eq!(
            subject(&certificate).as_deref(),
            Some("1.3.6.1=\\ x,O=a\\,b\\+c,C=GB")
        );
        assert_eq!(subject(&certificate[..10]), None);
        assert_eq!(common_name(&certificate[..10]), None);
        assert_eq!(common_name(b"\x30\x84\xff\xff\xff\xff"), None);
    }
}

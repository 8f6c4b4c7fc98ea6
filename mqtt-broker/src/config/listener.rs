//! [`ListenerSettings`]: one listener and everything that belongs to it (its protocol, TLS, HTTP
//! directory and, with `per_listener_settings`, its security), and [`PendingListener`], the same while
//! the lines after its `listener` line are still being read.
//!
//! A listener with some TLS directives but no `certfile` and `keyfile` is an error, never a plain
//! listener; `protocol websockets` with `certfile` and `keyfile` is a wss listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use super::{Place, SecuritySettings};
use crate::transport::tls::{TlsSettings, TlsVersion};

/// One listener: where, which protocol, and its own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    /// Where to listen; port 0 asks the system for a free port.
    pub address: SocketAddr,
    /// MQTT over WebSocket (`protocol websockets`) rather than MQTT over TCP.
    pub websocket: bool,
    /// TLS (`certfile`, `keyfile`, ...); `None` for plain TCP or ws.
    pub tls: Option<TlsSettings>,
    /// With `per_listener_settings`: this listener's `password_file`, `acl_file` and
    /// `allow_anonymous` (none of them: no password file, no ACL file, anonymous clients allowed).
    pub security: SecuritySettings,
    /// A WebSocket listener's `http_dir`: files under it are served to plain HTTP GET requests.
    pub http_dir: Option<PathBuf>,
}

impl ListenerSettings {
    /// A plain MQTT listener on `address`.
    pub fn plain(address: SocketAddr) -> Self {
        Self {
            address,
            websocket: false,
            tls: None,
            security: SecuritySettings::default(),
            http_dir: None,
        }
    }

    /// An MQTT over TLS listener on `address`.
    pub fn tls(address: SocketAddr, tls: TlsSettings) -> Self {
        Self {
            tls: Some(tls),
            ..Self::plain(address)
        }
    }

    /// A WebSocket listener on `address`: ws, or wss with `tls`.
    pub fn websocket(address: SocketAddr, tls: Option<TlsSettings>) -> Self {
        Self {
            websocket: true,
            tls,
            ..Self::plain(address)
        }
    }
}

impl From<SocketAddr> for ListenerSettings {
    fn from(address: SocketAddr) -> Self {
        Self::plain(address)
    }
}

/// `"127.0.0.1:0".parse()` is a plain listener there, so that a program's `listeners:
/// vec!["127.0.0.1:0".parse()?]` reads as it did when listeners were addresses.
impl FromStr for ListenerSettings {
    type Err = std::net::AddrParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(Self::plain)
    }
}

/// A `listener` line and the directives that followed it.
#[derive(Debug)]
pub(crate) struct PendingListener {
    pub(crate) place: Place,
    pub(crate) address: SocketAddr,
    pub(crate) websocket: bool,
    pub(crate) certfile: Option<PathBuf>,
    pub(crate) keyfile: Option<PathBuf>,
    pub(crate) cafile: Option<PathBuf>,
    pub(crate) capath: Option<PathBuf>,
    pub(crate) crlfile: Option<PathBuf>,
    pub(crate) require_certificate: bool,
    pub(crate) use_identity_as_username: bool,
    pub(crate) use_subject_as_username: bool,
    pub(crate) ciphers: Option<String>,
    pub(crate) ciphers_tls13: Option<String>,
    pub(crate) tls_version: Option<TlsVersion>,
    /// Whether any TLS directive was given.
    pub(crate) any_tls: bool,
    pub(crate) security: SecuritySettings,
    pub(crate) http_dir: Option<(Place, PathBuf)>,
}

impl PendingListener {
    pub(crate) fn new(place: Place, address: SocketAddr) -> Self {
        Self {
            place,
            address,
            websocket: false,
            certfile: None,
            keyfile: None,
            cafile: None,
            capath: None,
            crlfile: None,
            require_certificate: false,
            use_identity_as_username: false,
            use_subject_as_username: false,
            ciphers: None,
            ciphers_tls13: None,
            tls_version: None,
            any_tls: false,
            security: SecuritySettings::default(),
            http_dir: None,
        }
    }

    /// The listener, or what is wrong with it and where.
    pub(crate) fn finish(self) -> Result<ListenerSettings, (Place, String)> {
        let http_dir = match self.http_dir {
            Some((place, _)) if !self.websocket => {
                return Err((
                    place,
                    "`http_dir` belongs to a `protocol websockets` listener".into(),
                ));
            }
            Some((_, dir)) => Some(dir),
            None => None,
        };
        let tls = if self.any_tls {
            let (Some(certfile), Some(keyfile)) = (self.certfile, self.keyfile) else {
                return Err((
                    self.place,
                    "this listener has TLS directives but not both `certfile` and `keyfile`; it \
                     would not be encrypted"
                        .into(),
                ));
            };
            Some(TlsSettings {
                certfile,
                keyfile,
                cafile: self.cafile,
                capath: self.capath,
                crlfile: self.crlfile,
                require_certificate: self.require_certificate,
                use_identity_as_username: self.use_identity_as_username,
                use_subject_as_username: self.use_subject_as_username,
                ciphers: self.ciphers,
                ciphers_tls13: self.ciphers_tls13,
                tls_version: self.tls_version,
            })
        } else {
            None
        };
        Ok(ListenerSettings {
            address: self.address,
            websocket: self.websocket,
            tls,
            security: self.security,
            http_dir,
        })
    }
}

//! What a check is, what it can conclude, and the context it runs in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::wire::{ConnectSpec, Version};

/// What a check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The server did what the statements require.
    Pass,
    /// It did not; the text says what happened instead.
    Fail(String),
    /// The check could not run against this server (a precondition it does not meet).
    Skip(String),
    /// A behaviour the specification leaves to the server (MAY): reported, never a failure.
    Observation(String),
}

/// Which protocol versions a check applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Run at both 3.x levels (3.1 and 3.1.1).
    Both,
    /// Only over MQTT 3.1.1.
    V311,
    /// Only over MQTT 3.1.
    V31,
    /// Only over MQTT 5.0: the `v5-*` checks, citing `MQTT5-x.y.z-n`.
    V5,
    /// The MQTT-SN gateway suite: runs once, in a run given a gateway address.
    Gateway,
}

impl Applies {
    /// Whether the check runs at `version`.
    pub fn includes(self, version: Version) -> bool {
        match self {
            Self::Both => version != Version::V5,
            Self::V311 => version == Version::V311,
            Self::V31 => version == Version::V31,
            Self::V5 => version == Version::V5,
            Self::Gateway => false,
        }
    }
}

/// One behaviour checked against the server.
pub struct Check {
    /// A stable name, used by `--filter` and in known-deviation files.
    pub name: &'static str,
    /// The specification section it belongs to, for grouping reports (e.g. "3.1 CONNECT").
    pub section: &'static str,
    /// The statement ids it verifies: `MQTT-x.y.z-n`, or `V31-DIFF-n` for 3.1 behaviours.
    pub ids: &'static [&'static str],
    /// What is checked, in a sentence.
    pub summary: &'static str,
    /// The versions it applies to.
    pub applies: Applies,
    /// The check itself. `Err` is a failure, with what happened instead.
    pub run: fn(&Context) -> Result<Verdict, String>,
}

/// Where the server is and how to talk to it, shared by all checks of a run.
pub struct Context {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The version checks connect with.
    pub version: Version,
    /// Credentials, if the server needs them.
    pub user_name: Option<String>,
    /// Password, with a user name.
    pub password: Option<String>,
    /// The longest the suite waits for any one answer.
    pub timeout: Duration,
    /// Prefixed to every client id and topic, so runs against a shared server do not interfere.
    pub prefix: String,
    /// TLS for every connection, when set (see [`crate::tls`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The MQTT-SN gateway under test; when set, the run is the gateway suite, and `host` and
    /// `port` name the broker behind the gateway.
    pub gateway: Option<GatewayTarget>,
    counter: AtomicU32,
}

/// The MQTT-SN gateway a gateway run checks, and what the suite may assume about it.
#[derive(Debug, Clone)]
pub struct GatewayTarget {
    /// Its UDP address.
    pub address: SocketAddr,
    /// Predefined topics the gateway is configured with for every client (`--sn-predefined`):
    /// the checks about predefined ids run only when at least one is given.
    pub predefined: Vec<(u16, String)>,
    /// Whether `host` and `port` of the context name the broker behind the gateway, so that
    /// checks may observe from the broker's side; without it those checks are skipped.
    pub broker: bool,
    /// The multicast group (address and port) the gateway listens on for SEARCHGW
    /// (`--sn-group`); `sn-searchgw-group` is skipped without it.
    pub group: Option<SocketAddr>,
}

impl Context {
    /// A context with a fresh run prefix.
    pub fn new(host: &str, port: u16, version: Version, timeout: Duration) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        Self {
            host: host.to_owned(),
            port,
            version,
            user_name: None,
            password: None,
            timeout,
            prefix: format!("cf{:x}{:05x}", std::process::id() & 0xFFF, nanos & 0xFFFFF),
            tls: None,
            gateway: None,
            counter: AtomicU32::new(0),
        }
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A client identifier no other check or run uses: alphanumeric and at most 23 characters, so
    /// that every server must accept it [MQTT-3.1.3-5].
    pub fn client_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}c{n}", self.prefix)
    }

    /// A two-character short topic name no other check of this run uses [SN-6.7-6]. Short names
    /// cannot carry the run prefix, so they are derived from it: two runs at once may collide,
    /// rarely.
    pub fn short_topic(&self) -> [u8; 2] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let seed = self.prefix.bytes().fold(n.wrapping_mul(31), |hash, byte| {
            hash.wrapping_mul(131).wrapping_add(u32::from(byte))
        });
        let letters = b"abcdefghijklmnopqrstuvwxyz";
        [
            letters[(seed % 26) as usize],
            letters[((seed / 26) % 26) as usize],
        ]
    }

    /// A topic no other check or run uses, under the run prefix.
    pub fn topic(&self, suffix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}/t{n}/{suffix}", self.prefix)
    }

    /// A CONNECT with the run's credentials.
    pub fn connect_spec<'a>(&'a self, client_id: &'a str, flags: u8) -> ConnectSpec<'a> {
        let mut flags = flags;
        if self.user_name.is_some() {
            flags |= crate::wire::flags::USER_NAME;
        }
        if self.password.is_some() {
            flags |= crate::wire::flags::PASSWORD;
        }
        ConnectSpec {
            flags,
            keep_alive: 60,
            client_id,
            will: None,
            user_name: self.user_name.as_deref(),
            password: self.password.as_deref().map(str::as_bytes),
        }
    }
}

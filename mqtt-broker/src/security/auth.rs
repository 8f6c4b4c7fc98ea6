//! [`Security`]: who may connect and what each client may do, as one chain of authenticators and
//! authorisers per listener (`hooks.rs` defines the traits), replaced whole on `SIGHUP`.
//!
//! # Who may connect
//!
//! A listener's authenticators are asked in order, and the first that does not defer decides:
//! 1. on a `use_identity_as_username` listener, [`CertificateIdentity`]: a trusted certificate makes
//!    its subject CN the user name, whatever CONNECT said, and no password is checked; no
//!    certificate is CONNACK 5;
//! 2. the authenticators an embedding program registered (`hooks.rs`);
//! 3. the `password_file` ([`PasswordFile`] implements `Authenticator`): a user name with the
//!    matching password is accepted; a wrong or missing password, or a user name the file does not
//!    know, is CONNACK 4, bad user name or password; no user name defers;
//! 4. [`Anonymous`], the `allow_anonymous` rule, which never defers: whoever reached it is
//!    *anonymous*, accepted if anonymous access is on and refused with CONNACK 5 otherwise. An
//!    anonymous client that sent a user name keeps it for the ACL and the logs, as mosquitto does.
//!
//! `allow_anonymous` follows mosquitto 2: it defaults to `true` only in *local-only mode* (no
//! listener configured, so the one default listener is on loopback; see `Config::local_only`) and
//! then only without a `password_file`; as soon as a listener is configured it defaults to `false`.
//! An explicit line always wins. A refusal by default says in the log what line to add. After a refusal the connection is closed [MQTT-3.2.2-5] with Session
//! Present 0 [MQTT-3.2.2-4]. Passwords are never logged or kept.
//!
//! # Enhanced authentication (MQTT 5.0)
//!
//! A listener's chain also holds its enhanced authenticators: the registered ones, then the
//! built-in SCRAM-SHA-256 ([`ScramSha256`], `security/scram.rs`) when the listener has a source of
//! SCRAM credentials (a registered `ScramCredentialStore` or the `scram_password_file`).
//! [`Security::start_exchange`] asks those that name the client's Authentication Method, in order,
//! and the first that takes the client runs the exchange; none is the 0x8C of
//! `connection/protocol/auth.rs`. Unknown SCRAM users get stand-in credentials derived from a
//! secret drawn once per process, so that they fail at the proof exactly as a wrong password
//! does. A client that passes is not asked for a password again (see `connection/reader.rs`).
//!
//! # What a client may do
//!
//! A listener's authorisers (the registered ones, then the `acl_file`, see `security/acl.rs`) are asked the
//! same way; when all defer, the answer is yes. `read` is asked at every delivery, for the
//! subscriber's listener; a session restored from disk whose client has not reconnected has no
//! listener yet, and with `per_listener_settings` a message for it must then be allowed by every
//! listener's chain (mosquitto refuses all of them instead; we would rather not lose what every
//! listener allows).
//!
//! # Per listener or global
//!
//! Without `per_listener_settings` every listener's chain holds the same built-in members, loaded
//! once; with it, each listener loads its own `password_file`, `acl_file` and `allow_anonymous`.
//!
//! This file decides; `connection/reader.rs` sends the CONNACK and runs the hooks, and `routing/router.rs` asks
//! `read` at delivery.

use std::path::Path;
use std::sync::Arc;

use mqtt_codec::{ConnectReturnCode, QoS};

use crate::hooks::{
    Authentication, AuthenticationExchange, Authenticator, Authoriser, ClientInfo, ConnectRequest,
    EnhancedAuthenticator, ExchangeRequest, Hooks, MessageView, Permission, Plugins,
    ScramCredentialStore,
};
use crate::message::Message;
use crate::security::SecuritySettings;
use crate::security::acl::{AclFile, Operation};
use crate::security::password_file::PasswordFile;
use crate::security::scram::ScramSha256;
use crate::security::scram_file::ScramPasswordFile;

/// The security in force: one chain per listener, replaced as a whole on reload.
pub(crate) struct Security {
    /// One chain per listener, in `BrokerHandle::local_addrs` order.
    chains: Vec<Chain>,
    /// Whether the chains differ per listener (`per_listener_settings`).
    per_listener: bool,
    /// Whether any chain has an authoriser; when none has, deliveries are not checked at all.
    checks_reads: bool,
    /// The registered hooks, called in order.
    hooks: Vec<Arc<dyn Hooks>>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Security({}; {} hooks)",
            self.describe(),
            self.hooks.len()
        )
    }
}

/// The authenticators and authorisers of one listener.
struct Chain {
    authenticators: Vec<Arc<dyn Authenticator>>,
    authorisers: Vec<Arc<dyn Authoriser>>,
    /// The enhanced authenticators, in order, each with the methods it named when loaded.
    enhanced: Vec<(Vec<String>, Arc<dyn EnhancedAuthenticator>)>,
    /// For the log line after a (re)load.
    summary: String,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)
    }
}

/// Where the security settings come from, kept for reloads.
#[derive(Debug, Clone, Default)]
pub(crate) struct SecuritySources {
    /// The global `password_file`, `acl_file` and `allow_anonymous`.
    pub(crate) global: SecuritySettings,
    /// With `per_listener_settings`: each listener's, in `local_addrs` order.
    pub(crate) per_listener: Option<Vec<SecuritySettings>>,
    /// Each listener's `use_identity_as_username`, in `local_addrs` order.
    pub(crate) use_identity: Vec<bool>,
    /// Whether `allow_anonymous` defaults to true: local-only mode, every listener on loopback.
    pub(crate) anonymous_by_default: bool,
    /// What the embedding program registered; kept as they are on reload.
    pub(crate) plugins: Plugins,
}

/// A refused CONNECT: the code to answer and why, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ConnectReturnCode,
    pub(crate) why: String,
}

/// The members a configuration file adds to a chain, loaded from their files.
#[derive(Clone)]
struct Builtins {
    passwords: Option<Arc<PasswordFile>>,
    scram: Option<Arc<ScramPasswordFile>>,
    acl: Option<Arc<AclFile>>,
    anonymous: Arc<Anonymous>,
}

impl Builtins {
    fn load(settings: &SecuritySettings, anonymous_by_default: bool) -> Result<Self, String> {
        let passwords = match &settings.password_file {
            Some(path) => Some(Arc::new(
                PasswordFile::load(path).map_err(|error| error.to_string())?,
            )),
            None => None,
        };
        let scram = match &settings.scram_password_file {
            Some(path) => Some(Arc::new(
                ScramPasswordFile::load(path).map_err(|error| error.to_string())?,
            )),
            None => None,
        };
        let acl = match &settings.acl_file {
            Some(path) => Some(Arc::new(load_acl(path)?)),
            None => None,
        };
        let anonymous = match settings.allow_anonymous {
            Some(allowed) => Anonymous {
                allowed,
                why: "allow_anonymous false",
            },
            None => Anonymous {
                allowed: anonymous_by_default && passwords.is_none(),
                why: if anonymous_by_default {
                    "a password_file is set and allow_anonymous is not: add \
                     `allow_anonymous true` to let them in"
                } else {
                    "a listener is configured and allow_anonymous is not set (mosquitto 2's \
                     default): add `allow_anonymous true` to let them in"
                },
            },
        };
        Ok(Self {
            passwords,
            scram,
            acl,
            anonymous: Arc::new(anonymous),
        })
    }
}

impl Security {
    /// Builds every listener's chain, reading the password and ACL files; errors name the file and
    /// line (and the listener, with `per_listener_settings`).
    pub(crate) fn load(sources: &SecuritySources) -> Result<Self, String> {
        // Without per-listener settings the files are read once and every chain shares them.
        let shared = match &sources.per_listener {
            None => Some(Builtins::load(
                &sources.global,
                sources.anonymous_by_default,
            )?),
            Some(_) => None,
        };
        let scram_secret = scram_secret()?;
        let mut chains = Vec::new();
        for (index, use_identity) in sources.use_identity.iter().enumerate() {
            let builtins = match &shared {
                Some(shared) => shared.clone(),
                None => {
                    let settings = sources
                        .per_listener
                        .as_ref()
                        .and_then(|each| each.get(index))
                        .cloned()
                        .unwrap_or_default();
                    Builtins::load(&settings, sources.anonymous_by_default)
                        .map_err(|error| format!("listener {index}: {error}"))?
                }
            };
            chains.push(Chain::new(
                &builtins,
                *use_identity,
                &sources.plugins,
                scram_secret,
            ));
        }
        let checks_reads = chains.iter().any(|chain| !chain.authorisers.is_empty());
        Ok(Self {
            chains,
            per_listener: sources.per_listener.is_some(),
            checks_reads,
            hooks: sources.plugins.hooks.clone(),
        })
    }

    /// Each listener's chain in a few words, for the log line after a (re)load.
    pub(crate) fn describe(&self) -> String {
        if !self.per_listener
            && let Some(first) = self.chains.first()
        {
            return first.summary.clone();
        }
        let each: Vec<String> = self
            .chains
            .iter()
            .enumerate()
            .map(|(index, chain)| format!("listener {index}: {}", chain.summary))
            .collect();
        each.join("; ")
    }

    /// The registered hooks, to be called in order.
    pub(crate) fn hooks(&self) -> &[Arc<dyn Hooks>] {
        &self.hooks
    }

    /// Whether deliveries need a `read` check at all (any authoriser installed anywhere).
    pub(crate) fn checks_reads(&self) -> bool {
        self.checks_reads
    }

    /// Decides a CONNECT with its listener's authenticators. Answers the user name the client acts
    /// under.
    pub(crate) fn authenticate(
        &self,
        request: &ConnectRequest<'_>,
    ) -> Result<Option<Arc<str>>, Refusal> {
        let refuse = |code, why: String| Err(Refusal { code, why });
        let Some(chain) = self.chains.get(request.listener().index()) else {
            return refuse(
                ConnectReturnCode::NotAuthorized,
                "no security chain for this listener".into(),
            );
        };
        for authenticator in &chain.authenticators {
            match authenticator.authenticate(request) {
                Authentication::Defer => {}
                Authentication::Accept => return Ok(request.user_name().map(Arc::from)),
                Authentication::AcceptAs(user) => return Ok(Some(user.into())),
                Authentication::BadCredentials(why) => {
                    return refuse(ConnectReturnCode::BadUserNameOrPassword, why);
                }
                Authentication::NotAuthorised(why) => {
                    return refuse(ConnectReturnCode::NotAuthorized, why);
                }
            }
        }
        // `Anonymous` ends every chain and never defers; this is only a safe default.
        refuse(
            ConnectReturnCode::NotAuthorized,
            "no authenticator accepted the client".into(),
        )
    }

    /// Starts an enhanced authentication exchange of `method` for `request`'s client: the first of
    /// its listener's enhanced authenticators that names the method and takes the client runs it.
    /// `None` when none does: the method is not offered there (0x8C).
    pub(crate) fn start_exchange(
        &self,
        method: &str,
        request: &ExchangeRequest<'_>,
    ) -> Option<Box<dyn AuthenticationExchange>> {
        let chain = self.chains.get(request.listener().index())?;
        chain
            .enhanced
            .iter()
            .filter(|(methods, _)| methods.iter().any(|named| named == method))
            .find_map(|(_, authenticator)| authenticator.start(method, request))
    }

    /// Whether the client may publish `message` [MQTT-3.3.5-2].
    pub(crate) fn may_publish(&self, client: &ClientInfo, message: &Message) -> bool {
        let view = MessageView::new(message);
        self.decide(client, |authoriser| authoriser.may_publish(client, &view))
    }

    /// Whether the client may subscribe to `filter`.
    pub(crate) fn may_subscribe(&self, client: &ClientInfo, filter: &str, qos: QoS) -> bool {
        self.decide(client, |authoriser| {
            authoriser.may_subscribe(client, filter, qos)
        })
    }

    /// Whether the client may receive `message` (the `read` check at delivery).
    pub(crate) fn may_receive(&self, client: &ClientInfo, message: &Message) -> bool {
        if !self.checks_reads {
            return true;
        }
        let view = MessageView::new(message);
        self.decide(client, |authoriser| authoriser.may_receive(client, &view))
    }

    /// Asks the client's listener's authorisers; see the module doc for a client with no listener.
    fn decide(&self, client: &ClientInfo, ask: impl Fn(&dyn Authoriser) -> Permission) -> bool {
        let index = client.listener().map(|listener| listener.index());
        match index.and_then(|index| self.chains.get(index)) {
            Some(chain) => chain.decide(&ask),
            None if self.per_listener => self.chains.iter().all(|chain| chain.decide(&ask)),
            None => self.chains.first().is_none_or(|chain| chain.decide(&ask)),
        }
    }
}

/// The key of the stand-in SCRAM credentials of unknown users: random, never shown, and drawn once
/// per process, so that a reload does not change an unknown user's salt (a salt that changed on
/// `SIGHUP` while real users' stayed put would tell the two apart).
fn scram_secret() -> Result<[u8; 32], String> {
    static SECRET: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    if let Some(secret) = SECRET.get() {
        return Ok(*secret);
    }
    let mut drawn = [0; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut drawn)
        .map_err(|_| "the system's random number generator failed".to_owned())?;
    // Two first loads at once keep whichever was set first.
    Ok(*SECRET.get_or_init(|| drawn))
}

impl Chain {
    fn new(
        builtins: &Builtins,
        use_identity: bool,
        plugins: &Plugins,
        scram_secret: [u8; 32],
    ) -> Self {
        let mut authenticators: Vec<Arc<dyn Authenticator>> = Vec::new();
        if use_identity {
            authenticators.push(Arc::new(CertificateIdentity));
        }
        authenticators.extend(plugins.authenticators.iter().cloned());
        if let Some(passwords) = &builtins.passwords {
            authenticators.push(Arc::clone(passwords) as Arc<dyn Authenticator>);
        }
        authenticators.push(Arc::clone(&builtins.anonymous) as Arc<dyn Authenticator>);
        let mut scram = plugins.scram.clone();
        if let Some(file) = &builtins.scram {
            scram.push(Arc::clone(file) as Arc<dyn ScramCredentialStore>);
        }
        // The built-in SCRAM-SHA-256 comes after the registered methods, as the password file
        // comes after the registered authenticators, and only where credentials exist.
        let mut enhanced: Vec<Arc<dyn EnhancedAuthenticator>> = plugins.enhanced.clone();
        if !scram.is_empty() {
            enhanced.push(Arc::new(ScramSha256 {
                stores: scram,
                secret: scram_secret,
            }));
        }
        let enhanced: Vec<(Vec<String>, Arc<dyn EnhancedAuthenticator>)> = enhanced
            .into_iter()
            .map(|authenticator| (authenticator.methods(), authenticator))
            .collect();
        let mut methods: Vec<&str> = Vec::new();
        for method in enhanced.iter().flat_map(|(methods, _)| methods) {
            if !methods.contains(&method.as_str()) {
                methods.push(method);
            }
        }
        let mut authorisers: Vec<Arc<dyn Authoriser>> = plugins.authorisers.clone();
        if let Some(acl) = &builtins.acl {
            authorisers.push(Arc::clone(acl) as Arc<dyn Authoriser>);
        }
        let summary = format!(
            "{}{}{}{}, {}, anonymous clients {}",
            builtins
                .passwords
                .as_ref()
                .map_or("no password file".into(), |p| {
                    format!("{} users in the password file", p.len())
                }),
            match plugins.authenticators.len() {
                0 => String::new(),
                n => format!(" and {n} registered authenticators"),
            },
            match (&builtins.scram, plugins.scram.len()) {
                (None, 0) => String::new(),
                (Some(file), 0) => format!(", {} SCRAM users", file.len()),
                (None, n) => format!(", {n} registered SCRAM stores"),
                (Some(file), n) => {
                    format!(
                        ", {n} registered SCRAM stores and {} SCRAM users",
                        file.len()
                    )
                }
            },
            if methods.is_empty() {
                String::new()
            } else {
                format!(", enhanced authentication {}", methods.join(", "))
            },
            match (builtins.acl.is_some(), plugins.authorisers.len()) {
                (true, 0) => "ACL file loaded".to_owned(),
                (true, n) => format!("{n} registered authorisers and the ACL file"),
                (false, 0) => "no ACL file (every topic open)".to_owned(),
                (false, n) => format!("{n} registered authorisers, no ACL file"),
            },
            if builtins.anonymous.allowed {
                "allowed".to_owned()
            } else {
                format!("refused ({})", builtins.anonymous.why)
            },
        );
        Self {
            authenticators,
            authorisers,
            enhanced,
            summary,
        }
    }

    /// The first authoriser that does not defer decides; if all defer, allowed.
    fn decide(&self, ask: &impl Fn(&dyn Authoriser) -> Permission) -> bool {
        for authoriser in &self.authorisers {
            match ask(authoriser.as_ref()) {
                Permission::Allow => return true,
                Permission::Deny => return false,
                Permission::Defer => {}
            }
        }
        true
    }
}

/// `use_identity_as_username`: the certificate's subject CN is the user name.
struct CertificateIdentity;

impl Authenticator for CertificateIdentity {
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Authentication {
        match request.certificate_identity() {
            Some(name) => Authentication::AcceptAs(name.to_owned()),
            None => Authentication::NotAuthorised(
                "no client certificate on a use_identity_as_username listener".into(),
            ),
        }
    }
}

/// The password file checks user names it is given, and defers anonymous clients.
impl Authenticator for PasswordFile {
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Authentication {
        let Some(user) = request.user_name() else {
            return Authentication::Defer;
        };
        let password = request.password();
        // Verified even without a password, so that the answer takes the same time.
        if !self.verify(user, password.unwrap_or_default()) || password.is_none() {
            return Authentication::BadCredentials("unknown user name or wrong password".into());
        }
        Authentication::Accept
    }
}

/// `allow_anonymous`: the end of every chain, deciding for whoever no one else did.
struct Anonymous {
    allowed: bool,
    /// Why anonymous clients are refused, for the log: an explicit line, or the default.
    why: &'static str,
}

impl Authenticator for Anonymous {
    fn authenticate(&self, _: &ConnectRequest<'_>) -> Authentication {
        if self.allowed {
            Authentication::Accept
        } else {
            Authentication::NotAuthorised(format!(
                "anonymous clients are not allowed: {}",
                self.why
            ))
        }
    }
}

/// The ACL file decides everything it is asked: once loaded, what no rule grants is denied.
impl Authoriser for AclFile {
    fn may_publish(&self, client: &ClientInfo, message: &MessageView<'_>) -> Permission {
        permission(self.allows(
            client.client_id(),
            client.user_name(),
            message.topic(),
            Operation::Write,
        ))
    }

    fn may_subscribe(&self, client: &ClientInfo, filter: &str, _: QoS) -> Permission {
        permission(self.allows_subscription(client.client_id(), client.user_name(), filter))
    }

    fn may_receive(&self, client: &ClientInfo, message: &MessageView<'_>) -> Permission {
        permission(self.allows(
            client.client_id(),
            client.user_name(),
            message.topic(),
            Operation::Read,
        ))
    }
}

fn permission(allowed: bool) -> Permission {
    if allowed {
        Permission::Allow
    } else {
        Permission::Deny
    }
}

fn load_acl(path: &Path) -> Result<AclFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("{}:0: cannot read ACL file: {error}", path.display()))?;
    AclFile::parse(&text).map_err(|(line, message)| format!("{}:{line}: {message}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::{ExchangeStep, Listener};
    use std::net::{Ipv4Addr, SocketAddr};
    use std::num::NonZeroU32;

    fn listener(index: usize) -> Listener {
        Listener {
            index,
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, 1883)),
            tls: false,
        }
    }

    /// One listener (two with `per_listener`) whose chain has these built-ins and plugins.
    fn security(builtins: &[Builtins], use_identity: bool, plugins: &Plugins) -> Security {
        let chains: Vec<Chain> = builtins
            .iter()
            .map(|builtins| Chain::new(builtins, use_identity, plugins, [7; 32]))
            .collect();
        Security {
            checks_reads: chains.iter().any(|chain| !chain.authorisers.is_empty()),
            per_listener: chains.len() > 1,
            chains,
            hooks: Vec::new(),
        }
    }

    fn with_alice(allow_anonymous: Option<bool>) -> Builtins {
        let line = crate::security::password_file::hash_line("alice", b"pw", NonZeroU32::MIN)
            .expect("random works");
        let passwords = PasswordFile::parse(&line, "p").expect("parses");
        Builtins {
            passwords: Some(Arc::new(passwords)),
            scram: None,
            acl: None,
            anonymous: Arc::new(Anonymous {
                allowed: allow_anonymous.unwrap_or(false),
                why: "test",
            }),
        }
    }

    fn request<'a>(
        user: Option<&'a str>,
        password: Option<&'a [u8]>,
        certificate: Option<&'a str>,
        index: usize,
    ) -> ConnectRequest<'a> {
        ConnectRequest {
            client_id: "c",
            user_name: user,
            password,
            certificate_identity: certificate,
            listener: listener(index),
            peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 40000)),
            version: crate::hooks::ProtocolVersion::Mqtt311,
        }
    }

    fn code(security: &Security, user: Option<&str>, password: Option<&[u8]>) -> u8 {
        match security.authenticate(&request(user, password, None, 0)) {
            Ok(_) => 0,
            Err(refusal) => refusal.code as u8,
        }
    }

    #[test]
    fn bad_password_is_4_and_anonymous_is_5() {
        let security = security(&[with_alice(None)], false, &Plugins::default());
        assert_eq!(code(&security, Some("alice"), Some(b"pw")), 0);
        assert_eq!(code(&security, Some("alice"), Some(b"no")), 4);
        assert_eq!(code(&security, Some("alice"), None), 4);
        assert_eq!(code(&security, Some("eve"), Some(b"pw")), 4);
        assert_eq!(code(&security, None, None), 5);
        let open = self::security(&[with_alice(Some(true))], false, &Plugins::default());
        assert_eq!(code(&open, None, None), 0);
        assert_eq!(code(&open, Some("alice"), Some(b"no")), 4);
    }

    #[test]
    fn certificate_identity_replaces_the_user_name() {
        let security = security(&[with_alice(None)], true, &Plugins::default());
        let accepted = security.authenticate(&request(Some("alice"), None, Some("device-1"), 0));
        assert_eq!(accepted, Ok(Some("device-1".into())));
        let refused = security.authenticate(&request(None, None, None, 0));
        assert_eq!(
            refused.map_err(|refusal| refusal.code),
            Err(ConnectReturnCode::NotAuthorized)
        );
    }

    #[test]
    fn allow_anonymous_defaults_to_true_only_in_local_only_mode_without_a_password_file() {
        let load = |settings: SecuritySettings, anonymous_by_default: bool| {
            Security::load(&SecuritySources {
                global: settings,
                use_identity: vec![false],
                anonymous_by_default,
                ..SecuritySources::default()
            })
            .expect("nothing to read")
        };
        let local = load(SecuritySettings::default(), true);
        assert_eq!(code(&local, None, None), 0);
        // A configured listener: refused by default, and the log says what to add.
        let listener = load(SecuritySettings::default(), false);
        assert_eq!(code(&listener, None, None), 5);
        let refusal = listener.authenticate(&request(None, None, None, 0));
        assert!(
            refusal
                .as_ref()
                .is_err_and(|refusal| refusal.why.contains("allow_anonymous true")),
            "{refusal:?}"
        );
        assert!(
            listener.describe().contains("refused"),
            "{}",
            listener.describe()
        );
        let open = load(
            SecuritySettings {
                allow_anonymous: Some(true),
                ..SecuritySettings::default()
            },
            false,
        );
        assert_eq!(code(&open, None, None), 0);
        // A user name is not checked without a password file, and the client counts as anonymous.
        let closed = load(
            SecuritySettings {
                allow_anonymous: Some(false),
                ..SecuritySettings::default()
            },
            true,
        );
        assert_eq!(code(&closed, Some("x"), Some(b"y")), 5);
    }

    /// A registered authenticator comes before the password file; what it defers, the file decides.
    #[test]
    fn registered_authenticators_come_before_the_password_file() {
        struct Tokens;
        impl Authenticator for Tokens {
            fn authenticate(&self, request: &ConnectRequest<'_>) -> Authentication {
                match request.user_name() {
                    Some(user) if user.starts_with("dev-") => match request.password() {
                        Some(b"token") => Authentication::AcceptAs(format!("device:{user}")),
                        _ => Authentication::NotAuthorised("bad token".into()),
                    },
                    _ => Authentication::Defer,
                }
            }
        }
        let plugins = Plugins {
            authenticators: vec![Arc::new(Tokens)],
            ..Plugins::default()
        };
        let security = security(&[with_alice(None)], false, &plugins);
        assert_eq!(
            security.authenticate(&request(Some("dev-1"), Some(b"token"), None, 0)),
            Ok(Some("device:dev-1".into()))
        );
        assert_eq!(code(&security, Some("dev-1"), Some(b"pw")), 5);
        assert_eq!(code(&security, Some("alice"), Some(b"pw")), 0);
        assert_eq!(code(&security, Some("alice"), Some(b"token")), 4);
    }

    /// Authorisers: the first that does not defer decides, a registered one before the ACL file;
    /// all deferring is an allow. With no authoriser, deliveries are not checked at all.
    #[test]
    fn the_first_authoriser_that_does_not_defer_decides() {
        struct OpenStatus;
        impl Authoriser for OpenStatus {
            fn may_publish(&self, _: &ClientInfo, message: &MessageView<'_>) -> Permission {
                if message.topic().ends_with("/status") {
                    Permission::Allow
                } else {
                    Permission::Defer
                }
            }
        }
        let acl = AclFile::parse("topic read a/#\n").expect("parses");
        let builtins = Builtins {
            acl: Some(Arc::new(acl)),
            ..with_alice(Some(true))
        };
        let plugins = Plugins {
            authorisers: vec![Arc::new(OpenStatus)],
            ..Plugins::default()
        };
        let security = security(&[builtins], false, &plugins);
        let client = ClientInfo::restored("c".into(), None);
        let message = |topic: &str| Message::new(topic, b"", QoS::AtMostOnce, false);
        assert!(security.may_publish(&client, &message("x/status")));
        assert!(
            !security.may_publish(&client, &message("a/b")),
            "the ACL: read only"
        );
        assert!(security.may_receive(&client, &message("a/b")));
        assert!(security.may_subscribe(&client, "a/+", QoS::AtMostOnce));
        assert!(!security.may_subscribe(&client, "b", QoS::AtMostOnce));

        let open = self::security(&[with_alice(Some(true))], false, &Plugins::default());
        assert!(!open.checks_reads());
        assert!(open.may_publish(&client, &message("anything")));
    }

    /// With per_listener_settings, a session with no listener yet (restored from disk) receives
    /// only what every listener's chain allows.
    #[test]
    fn a_restored_session_needs_every_listener_to_allow_reads() {
        let with_acl = |text: &str| Builtins {
            acl: Some(Arc::new(AclFile::parse(text).expect("parses"))),
            ..with_alice(Some(true))
        };
        let security = security(
            &[with_acl("topic read #\n"), with_acl("topic read a/#\n")],
            false,
            &Plugins::default(),
        );
        let message = |topic: &str| Message::new(topic, b"", QoS::AtMostOnce, false);
        let restored = ClientInfo::restored("c".into(), None);
        assert!(security.may_receive(&restored, &message("a/1")));
        assert!(!security.may_receive(&restored, &message("b/1")));
        let on_first = ClientInfo {
            connection: Some(crate::hooks::ConnectionInfo {
                listener: listener(0),
                peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 40000)),
                version: crate::hooks::ProtocolVersion::Mqtt311,
                certificate_identity: None,
            }),
            ..restored
        };
        assert!(security.may_receive(&on_first, &message("b/1")));
    }

    /// Enhanced authentication methods: SCRAM-SHA-256 only where a source of SCRAM credentials
    /// exists; a registered method on every listener, asked before the built-in one; a method
    /// nobody names is not offered; an authenticator that declines leaves it to the next.
    #[test]
    fn an_exchange_starts_with_the_first_authenticator_naming_the_method() {
        struct Toy(&'static str, bool);
        struct Done(&'static str);
        impl AuthenticationExchange for Done {
            fn step(&mut self, _: Option<&[u8]>) -> ExchangeStep {
                ExchangeStep::Continue(self.0.into())
            }
        }
        impl EnhancedAuthenticator for Toy {
            fn methods(&self) -> Vec<String> {
                vec!["TOY".into(), "SCRAM-SHA-256".into()]
            }
            fn start(
                &self,
                _: &str,
                _: &ExchangeRequest<'_>,
            ) -> Option<Box<dyn AuthenticationExchange>> {
                self.1
                    .then(|| Box::new(Done(self.0)) as Box<dyn AuthenticationExchange>)
            }
        }
        let request = |index| ExchangeRequest {
            client_id: "c",
            user_name: None,
            authenticated_as: None,
            reauthentication: false,
            certificate_identity: None,
            listener: listener(index),
            peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 40000)),
        };
        let first = |security: &Security, method: &str, index| {
            security
                .start_exchange(method, &request(index))
                .map(|mut exchange| exchange.step(Some(b"n,,n=alice,r=abc")))
        };
        let none = security(&[with_alice(None)], false, &Plugins::default());
        assert_eq!(first(&none, "SCRAM-SHA-256", 0), None, "no credentials");
        let line = crate::security::scram_file::scram_line("alice", "pw", 4096).expect("random");
        let builtins = Builtins {
            scram: Some(Arc::new(
                ScramPasswordFile::parse(&line, "s").expect("parses"),
            )),
            ..with_alice(None)
        };
        let from_file = security(std::slice::from_ref(&builtins), false, &Plugins::default());
        assert!(matches!(
            first(&from_file, "SCRAM-SHA-256", 0),
            Some(ExchangeStep::Continue(data)) if data.starts_with(b"r=abc")
        ));
        assert_eq!(first(&from_file, "TOY", 0), None, "nobody names it");
        assert_eq!(
            first(&from_file, "SCRAM-SHA-256", 5),
            None,
            "no such listener"
        );
        let plugins = Plugins {
            enhanced: vec![Arc::new(Toy("declines", false)), Arc::new(Toy("toy", true))],
            ..Plugins::default()
        };
        let both = security(&[builtins], false, &plugins);
        for method in ["TOY", "SCRAM-SHA-256"] {
            assert_eq!(
                first(&both, method, 0),
                Some(ExchangeStep::Continue(b"toy".to_vec())),
                "{method}: the registered one, after the one that declined"
            );
        }
        assert!(
            both.describe()
                .contains("enhanced authentication TOY, SCRAM-SHA-256"),
            "{}",
            both.describe()
        );
    }

    /// The stand-in of an unknown user is the same after a reload, as a real user's salt is.
    #[test]
    fn the_stand_in_secret_survives_reloads() {
        assert_eq!(scram_secret(), scram_secret());
    }
}

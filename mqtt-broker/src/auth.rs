//! [`Security`]: who may connect (the password file, `allow_anonymous`, certificate identities) and
//! what each client may do (the ACL file), as one value that `SIGHUP` replaces whole.
//!
//! # Who may connect
//!
//! A client is *authenticated* when either
//! - its listener has `use_identity_as_username` and it presented a trusted certificate: its user
//!   name is the certificate's subject CN, whatever CONNECT said, and no password is checked; or
//! - a `password_file` is loaded and CONNECT carried a user name and the password that matches it.
//!
//! Every other client is *anonymous*, including one that sent a user name when there is no password
//! file to check it against (its user name is then kept only for the ACL and the logs, as mosquitto
//! does). Refusals, with their CONNACK codes (3.1.1 §3.2.2.3; 3.1 uses the same values):
//! - a user name with a wrong or missing password, or one the file does not know: **4**, bad user name
//!   or password;
//! - an anonymous client when anonymous access is off, or a `use_identity_as_username` listener
//!   without a certificate: **5**, not authorised.
//!
//! `allow_anonymous` defaults to `false` when a `password_file` is set and to `true` otherwise; an
//! explicit line always wins. After a refusal the connection is closed [MQTT-3.2.2-5] with Session
//! Present 0 [MQTT-3.2.2-4]. Passwords are never logged or kept.
//!
//! This file decides; `connection.rs` sends the CONNACK and `router.rs` enforces `read` at delivery.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mqtt_codec::ConnectReturnCode;

use crate::acl::{AclFile, Operation};
use crate::password_file::PasswordFile;

/// The security settings in force: replaced as a whole on reload.
#[derive(Debug, Default)]
pub(crate) struct Security {
    passwords: Option<PasswordFile>,
    acl: Option<AclFile>,
    allow_anonymous: bool,
}

/// Where the security settings come from, kept for reloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SecurityFiles {
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) acl_file: Option<PathBuf>,
    /// `allow_anonymous` as written in the configuration, if it was.
    pub(crate) allow_anonymous: Option<bool>,
}

/// A refused CONNECT: the code to answer and why, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ConnectReturnCode,
    pub(crate) why: String,
}

impl Security {
    /// Reads the password and ACL files; errors name the file and line.
    pub(crate) fn load(files: &SecurityFiles) -> Result<Self, String> {
        let passwords = match &files.password_file {
            Some(path) => Some(PasswordFile::load(path).map_err(|error| error.to_string())?),
            None => None,
        };
        let acl = match &files.acl_file {
            Some(path) => Some(load_acl(path)?),
            None => None,
        };
        Ok(Self {
            allow_anonymous: files.allow_anonymous.unwrap_or(passwords.is_none()),
            passwords,
            acl,
        })
    }

    /// How many users and whether there is an ACL, for the log line after a (re)load.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{}, {}, anonymous clients {}",
            self.passwords
                .as_ref()
                .map_or("no password file".into(), |p| {
                    format!("{} users in the password file", p.len())
                }),
            if self.acl.is_some() {
                "ACL file loaded"
            } else {
                "no ACL file (every topic open)"
            },
            if self.allow_anonymous {
                "allowed"
            } else {
                "refused"
            },
        )
    }

    /// Decides a CONNECT. `identity` is the certificate's CN on a `use_identity_as_username`
    /// listener (`Some(None)` when that listener got no certificate); `None` elsewhere. Answers the
    /// user name the client acts under.
    pub(crate) fn authenticate(
        &self,
        user_name: Option<&str>,
        password: Option<&[u8]>,
        identity: Option<Option<&str>>,
    ) -> Result<Option<Arc<str>>, Refusal> {
        let refuse = |code, why: &str| {
            Err(Refusal {
                code,
                why: why.to_owned(),
            })
        };
        match identity {
            Some(Some(name)) => return Ok(Some(name.into())),
            Some(None) => {
                return refuse(
                    ConnectReturnCode::NotAuthorized,
                    "no client certificate on a use_identity_as_username listener",
                );
            }
            None => {}
        }
        let authenticated = match (&self.passwords, user_name) {
            (Some(passwords), Some(user)) => {
                if !passwords.verify(user, password.unwrap_or_default()) || password.is_none() {
                    return refuse(
                        ConnectReturnCode::BadUserNameOrPassword,
                        "unknown user name or wrong password",
                    );
                }
                true
            }
            _ => false,
        };
        if !authenticated && !self.allow_anonymous {
            return refuse(
                ConnectReturnCode::NotAuthorized,
                "anonymous clients are not allowed (allow_anonymous false)",
            );
        }
        Ok(user_name.map(Arc::from))
    }

    /// Whether the client may publish to `topic` [MQTT-3.3.5-2].
    pub(crate) fn may_publish(&self, client_id: &str, user: Option<&str>, topic: &str) -> bool {
        self.acl
            .as_ref()
            .is_none_or(|acl| acl.allows(client_id, user, topic, Operation::Write))
    }

    /// Whether the client may receive a message published to `topic`.
    pub(crate) fn may_read(&self, client_id: &str, user: Option<&str>, topic: &str) -> bool {
        self.acl
            .as_ref()
            .is_none_or(|acl| acl.allows(client_id, user, topic, Operation::Read))
    }

    /// Whether the client may subscribe to `filter`.
    pub(crate) fn may_subscribe(&self, client_id: &str, user: Option<&str>, filter: &str) -> bool {
        self.acl
            .as_ref()
            .is_none_or(|acl| acl.allows_subscription(client_id, user, filter))
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
    use std::num::NonZeroU32;

    fn with_alice(allow_anonymous: Option<bool>) -> Security {
        let line =
            crate::password_file::hash_line("alice", b"pw", NonZeroU32::MIN).expect("random works");
        let passwords = PasswordFile::parse(&line, "p").expect("parses");
        Security {
            allow_anonymous: allow_anonymous.unwrap_or(false),
            passwords: Some(passwords),
            acl: None,
        }
    }

    fn code(result: Result<Option<Arc<str>>, Refusal>) -> u8 {
        match result {
            Ok(_) => 0,
            Err(refusal) => refusal.code as u8,
        }
    }

    #[test]
    fn bad_password_is_4_and_anonymous_is_5() {
        let security = with_alice(None);
        assert_eq!(
            code(security.authenticate(Some("alice"), Some(b"pw"), None)),
            0
        );
        assert_eq!(
            code(security.authenticate(Some("alice"), Some(b"no"), None)),
            4
        );
        assert_eq!(code(security.authenticate(Some("alice"), None, None)), 4);
        assert_eq!(
            code(security.authenticate(Some("eve"), Some(b"pw"), None)),
            4
        );
        assert_eq!(code(security.authenticate(None, None, None)), 5);
        let open = with_alice(Some(true));
        assert_eq!(code(open.authenticate(None, None, None)), 0);
        assert_eq!(code(open.authenticate(Some("alice"), Some(b"no"), None)), 4);
    }

    #[test]
    fn certificate_identity_replaces_the_user_name() {
        let security = with_alice(None);
        assert_eq!(
            security.authenticate(Some("alice"), None, Some(Some("device-1"))),
            Ok(Some("device-1".into()))
        );
        assert_eq!(code(security.authenticate(None, None, Some(None))), 5);
    }

    #[test]
    fn allow_anonymous_defaults_to_false_only_with_a_password_file() {
        let none = Security::load(&SecurityFiles::default()).expect("nothing to read");
        assert_eq!(code(none.authenticate(None, None, None)), 0);
        // A user name is not checked without a password file, and the client counts as anonymous.
        let closed = Security::load(&SecurityFiles {
            allow_anonymous: Some(false),
            ..SecurityFiles::default()
        })
        .expect("nothing to read");
        assert_eq!(code(closed.authenticate(Some("x"), Some(b"y"), None)), 5);
    }
}

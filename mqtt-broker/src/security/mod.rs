//! Who may connect, publish and subscribe: the chain of authenticators and authorisers
//! (`auth.rs`), mosquitto ACL files (`acl.rs`), password files (`password_file.rs`), the built-in
//! SCRAM-SHA-256 enhanced authentication (`scram.rs`) and its credential files (`scram_file.rs`),
//! and the
//! settings that choose them ([`SecuritySettings`], which the configuration file fills in).

use std::path::PathBuf;

pub(crate) mod acl;
pub(crate) mod auth;
pub(crate) mod password_file;
pub(crate) mod scram;
pub(crate) mod scram_file;

/// Who may connect and what they may do: the global settings, or one listener's with
/// `per_listener_settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecuritySettings {
    /// The mosquitto password file checked at CONNECT (`password_file`).
    pub password_file: Option<PathBuf>,
    /// The SCRAM-SHA-256 credentials of MQTT 5.0 clients using enhanced authentication
    /// (`scram_password_file`; none: SCRAM is refused with 0x8C unless a store is registered).
    pub scram_password_file: Option<PathBuf>,
    /// The mosquitto ACL file (`acl_file`; none: every client may use every topic).
    pub acl_file: Option<PathBuf>,
    /// `allow_anonymous`; `None` means true in [local-only mode](crate::Config::local_only) without a
    /// password file, and false otherwise.
    pub allow_anonymous: Option<bool>,
}

impl SecuritySettings {
    /// Whether nobody could ever connect: anonymous clients refused and no password file. (A
    /// `use_identity_as_username` listener or a registered authenticator may still let clients in.)
    pub(crate) fn locks_everyone_out(&self) -> bool {
        self.allow_anonymous == Some(false)
            && self.password_file.is_none()
            && self.scram_password_file.is_none()
    }
}

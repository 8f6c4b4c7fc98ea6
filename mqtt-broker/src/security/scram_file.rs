//! [`ScramPasswordFile`]: the `scram_password_file`, where the broker finds the SCRAM-SHA-256
//! credentials of MQTT 5.0 clients that authenticate with that method (`connection/protocol/auth.rs`).
//!
//! One user per line, `name:credentials`, the credentials in PostgreSQL's layout (see
//! `mqtt_scram::StoredCredentials`), which `mqtt-passwd --scram` writes:
//!
//! ```text
//! alice:SCRAM-SHA-256$4096:<salt, base64>$<StoredKey, base64>:<ServerKey, base64>
//! ```
//!
//! A separate file from the `password_file` because the two cannot be derived from each other: a
//! mosquitto `$7$` hash is PBKDF2-HMAC-SHA-512 of the password, SCRAM needs keys derived with
//! PBKDF2-HMAC-SHA-256, and neither file holds the password. Blank lines and `#` comments are
//! skipped; anything else that is not a user and credentials is an error naming the line, as in
//! the password file. The file holds no password: a stolen copy lets nobody log in, though it
//! lets an attacker pose as the broker to these users and guess passwords offline, so keep it
//! as private as a password file.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use mqtt_scram::StoredCredentials;

use crate::hooks::{Listener, ScramCredentialStore};
use crate::security::password_file::PasswordFileError;

/// The users and SCRAM credentials of one `scram_password_file`.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramPasswordFile {
    users: HashMap<String, StoredCredentials>,
}

impl fmt::Debug for ScramPasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScramPasswordFile({} users)", self.users.len())
    }
}

impl ScramPasswordFile {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, PasswordFileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| PasswordFileError {
            file: file.clone(),
            line: 0,
            message: format!("cannot read SCRAM password file: {error}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses the text of a SCRAM password file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, PasswordFileError> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let error = |message: String| PasswordFileError {
                file: file.into(),
                line: index + 1,
                message,
            };
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, credentials)) = line.split_once(':') else {
                return Err(error("not `user:SCRAM-SHA-256$...` (no colon)".into()));
            };
            if user.is_empty() {
                return Err(error("empty user name".into()));
            }
            let credentials: StoredCredentials = credentials
                .parse()
                .map_err(|why| error(format!("the credentials of {user:?}: {why}")))?;
            if users.insert(user.to_owned(), credentials).is_some() {
                return Err(error(format!("user {user:?} appears twice")));
            }
        }
        Ok(Self { users })
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl ScramCredentialStore for ScramPasswordFile {
    fn scram_credentials(&self, user: &str, _: Listener) -> Option<StoredCredentials> {
        self.users.get(user).cloned()
    }
}

/// A `scram_password_file` line for `user`, with a fresh random salt and `iterations`.
pub fn scram_line(user: &str, password: &str, iterations: u32) -> Result<String, String> {
    let credentials =
        StoredCredentials::generate(password, iterations).map_err(|error| error.to_string())?;
    Ok(format!("{user}:{credentials}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_written_by_scram_line_are_read_back() {
        let line = scram_line("alice", "secret", 4096).expect("random works");
        assert!(line.starts_with("alice:SCRAM-SHA-256$4096:"), "{line}");
        let file = ScramPasswordFile::parse(&format!("# users\n\n{line}\n"), "s").expect("parses");
        assert_eq!(file.len(), 1);
        let listener = Listener {
            index: 0,
            address: ([127, 0, 0, 1], 1883).into(),
            tls: false,
        };
        let found = file.scram_credentials("alice", listener).expect("alice");
        let expected = StoredCredentials::derive("secret", found.salt(), 4096).expect("derive");
        assert_eq!(found, expected);
        assert_eq!(file.scram_credentials("bob", listener), None);
    }

    #[test]
    fn damaged_lines_are_refused_with_their_number() {
        let good = scram_line("u", "pw", 4096).expect("random works");
        for (bad, needle) in [
            ("nocolon".to_owned(), "no colon"),
            (":SCRAM-SHA-256$".to_owned(), "empty user"),
            ("u:$7$101$abc$def".to_owned(), "SCRAM-SHA-256$"),
            (format!("{good}!"), "32 bytes"),
            (format!("{good}\n{good}"), "twice"),
        ] {
            let error = ScramPasswordFile::parse(&format!("# c\n{bad}\n"), "sp").expect_err(&bad);
            assert!(error.line >= 2, "{error}");
            assert!(error.message.contains(needle), "{bad}: {error}");
        }
    }

    #[test]
    fn a_non_ascii_password_is_refused_when_writing() {
        assert!(scram_line("u", "pässword", 4096).is_err());
    }
}

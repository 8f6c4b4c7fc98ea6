//! [`PasswordFile`]: mosquitto's password file format, read by the broker (`password_file`) and
//! written by the `mqtt-passwd` tool.
//!
//! One user per line, `name:hash`, where the hash is one of mosquitto's two forms:
//!
//! ```text
//! alice:$7$<iterations>$<salt, base64>$<PBKDF2-HMAC-SHA512(password, salt, iterations), base64>
//! bob:$6$<salt, base64>$<SHA-512(password bytes then salt bytes), base64>
//! ```
//!
//! `$7$` is what `mosquitto_passwd` 2.0 writes and what `mqtt-passwd` writes; `$6$` is the older form,
//! still accepted so that existing files keep working. Both hashes are 64 bytes. Salts of any length
//! are accepted when reading (mosquitto 2.0 writes 12 bytes, later versions 64); we write 12, which
//! every mosquitto since 2.0 reads. Blank lines and lines starting with `#` are skipped. Anything else
//! (a plain-text password, an unknown hash type, bad base64, a repeated user) is an error naming the
//! line: a damaged file must never silently lock a user out or, worse, let one in.
//!
//! Checking a password costs the same whether the user exists or not (an unknown user is checked
//! against a dummy hash), and the final comparison is constant-time, so neither the existence of a user
//! nor a prefix of a hash can be learnt by timing. This file does not decide who may connect
//! (`security/auth.rs`).

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, pbkdf2};

use crate::transport::base64;

/// The iteration count `mqtt-passwd` uses unless told otherwise: the figure OWASP recommends for
/// PBKDF2-HMAC-SHA512, and the default of mosquitto's development branch. It makes each check cost
/// roughly a tenth of a second of CPU, which is the point.
pub const DEFAULT_ITERATIONS: u32 = 210_000;
/// Salt bytes written: mosquitto 2.0's `SALT_LEN`, so 2.0 brokers accept our files.
const SALT_LEN: usize = 12;
/// Hash bytes of both forms (SHA-512's output).
const HASH_LEN: usize = 64;

/// The users and password hashes of one password file.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordFile {
    users: HashMap<String, Hash>,
}

impl fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hashes stay out of logs and panic messages.
        write!(f, "PasswordFile({} users)", self.users.len())
    }
}

/// A stored password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hash {
    /// `$6$`: SHA-512 of the password followed by the salt.
    Sha512 { salt: Vec<u8>, hash: Vec<u8> },
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2 {
        iterations: NonZeroU32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

/// A password file that could not be read or has a line that is not a user and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordFileError {
    /// The file, as given.
    pub file: String,
    /// The 1-based line, or 0 when the file could not be read.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PasswordFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for PasswordFileError {}

impl PasswordFile {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, PasswordFileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| PasswordFileError {
            file: file.clone(),
            line: 0,
            message: format!("cannot read password file: {error}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses the text of a password file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, PasswordFileError> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let error = |message: String| PasswordFileError {
                file: file.into(),
                line: index + 1,
                message,
            };
            let Some((user, hash)) = parse_line(line).map_err(error)? else {
                continue;
            };
            if users.insert(user.to_owned(), hash).is_some() {
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

    /// Whether `password` is `user`'s. Takes as long for an unknown user as for a known one.
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        match self.users.get(user) {
            Some(hash) => hash.verify(password),
            None => {
                // Same work as a default `$7$` entry, result discarded.
                let dummy = Hash::Pbkdf2 {
                    iterations: NonZeroU32::new(DEFAULT_ITERATIONS).unwrap_or(NonZeroU32::MIN),
                    salt: vec![0; SALT_LEN],
                    hash: vec![0; HASH_LEN],
                };
                let _ = dummy.verify(password);
                false
            }
        }
    }
}

impl Hash {
    fn verify(&self, password: &[u8]) -> bool {
        match self {
            // `pbkdf2::verify` compares in constant time.
            Self::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA512,
                *iterations,
                salt,
                password,
                hash,
            )
            .is_ok(),
            Self::Sha512 { salt, hash } => {
                let mut context = digest::Context::new(&digest::SHA512);
                context.update(password);
                context.update(salt);
                constant_time_eq(context.finish().as_ref(), hash)
            }
        }
    }
}

/// Compares two byte strings without an early exit, so the time taken does not say how many leading
/// bytes matched. (ring's own helper for this is deprecated for outside use.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(difference) == 0
}

/// Parses one line: `Ok(None)` for a blank line or a comment, the user and hash otherwise.
fn parse_line(line: &str) -> Result<Option<(&str, Hash)>, String> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let Some((user, hash)) = line.split_once(':') else {
        return Err("not `user:hash` (no colon)".into());
    };
    if user.is_empty() {
        return Err("empty user name".into());
    }
    let decode = |what: &str, text: &str, exact: Option<usize>| {
        let bytes =
            base64::decode(text).ok_or_else(|| format!("the {what} of {user:?} is not base64"))?;
        match exact {
            Some(len) if bytes.len() != len => Err(format!(
                "the {what} of {user:?} is {} bytes, not {len}",
                bytes.len()
            )),
            _ if bytes.is_empty() => Err(format!("the {what} of {user:?} is empty")),
            _ => Ok(bytes),
        }
    };
    let fields: Vec<&str> = hash.split('$').collect();
    let parsed = match fields.as_slice() {
        ["", "7", iterations, salt, hash] => {
            let iterations = iterations
                .parse::<u32>()
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| format!("bad iteration count {iterations:?} for {user:?}"))?;
            Hash::Pbkdf2 {
                iterations,
                salt: decode("salt", salt, None)?,
                hash: decode("hash", hash, Some(HASH_LEN))?,
            }
        }
        ["", "6", salt, hash] => Hash::Sha512 {
            salt: decode("salt", salt, None)?,
            hash: decode("hash", hash, Some(HASH_LEN))?,
        },
        ["", kind, ..] => {
            return Err(format!(
                "unknown hash type `${kind}$` for {user:?} (only $6$ and $7$ are understood)"
            ));
        }
        _ => {
            return Err(format!(
                "the password of {user:?} is not hashed; convert the file with `mqtt-passwd -U`"
            ));
        }
    };
    Ok(Some((user, parsed)))
}

/// Whether `line` is already a hashed `user:$6$...` or `user:$7$...` entry (or blank, or a comment):
/// what `mqtt-passwd -U` leaves alone.
pub fn is_hashed_or_blank(line: &str) -> bool {
    parse_line(line).is_ok()
}

/// The user name of a line, if it has one.
pub fn line_user(line: &str) -> Option<&str> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() || line.starts_with('#') {
        return None;
    }
    line.split_once(':').map(|(user, _)| user)
}

/// A `$7$` password file line for `user`, with a fresh random 12-byte salt.
pub fn hash_line(user: &str, password: &[u8], iterations: NonZeroU32) -> Result<String, String> {
    let mut salt = [0u8; SALT_LEN];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "the system's random number generator failed".to_owned())?;
    Ok(hash_line_with_salt(user, password, iterations, &salt))
}

fn hash_line_with_salt(user: &str, password: &[u8], iterations: NonZeroU32, salt: &[u8]) -> String {
    let mut hash = [0u8; HASH_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA512,
        iterations,
        salt,
        password,
        &mut hash,
    );
    format!(
        "{user}:$7${iterations}${}${}",
        base64::encode(salt),
        base64::encode(&hash)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iterations(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
    }

    /// Made with `mosquitto_passwd -b -c f alice secret` (mosquitto 2.0: 101 iterations).
    const MOSQUITTO_7: &str = "alice:$7$101$qzMdTlzaaTKa3QZy$XzM5ofH7hcwtcd71pMFccOUhEnP17TYudVdC7l9FwNwacPsJXyqB5LfgX5DAsLj4tHmW2dUmv3jZvZ1raHsbEA==";

    #[test]
    fn a_file_written_by_mosquitto_passwd_is_read() {
        let file = PasswordFile::parse(&format!("# users\n\n{MOSQUITTO_7}\n"), "p");
        let file = file.expect("parses");
        assert!(file.verify("alice", b"secret"));
        assert!(!file.verify("alice", b"Secret"));
        assert!(!file.verify("bob", b"secret"));
    }

    #[test]
    fn sha512_form_is_password_then_salt() {
        let salt = b"0123456789ab";
        let mut context = digest::Context::new(&digest::SHA512);
        context.update(b"pw");
        context.update(salt);
        let line = format!(
            "bob:$6${}${}",
            base64::encode(salt),
            base64::encode(context.finish().as_ref())
        );
        let file = PasswordFile::parse(&line, "p").expect("parses");
        assert!(file.verify("bob", b"pw"));
        assert!(!file.verify("bob", b"pw2"));
    }

    #[test]
    fn our_lines_verify_and_use_fresh_salts() {
        let a = hash_line("u", b"pw", iterations(3)).expect("random works");
        let b = hash_line("u", b"pw", iterations(3)).expect("random works");
        assert_ne!(a, b);
        let file = PasswordFile::parse(&a, "p").expect("parses");
        assert!(file.verify("u", b"pw"));
        assert!(a.starts_with("u:$7$3$") && a.len() == "u:$7$3$".len() + 16 + 1 + 88);
    }

    #[test]
    fn damaged_lines_are_refused_with_their_number() {
        let good = hash_line_with_salt("u", b"pw", iterations(2), b"saltsaltsalt");
        for (bad, needle) in [
            ("u:plain".to_owned(), "not hashed"),
            ("nocolon".to_owned(), "no colon"),
            ("u:$5$abc$def".to_owned(), "unknown hash type"),
            ("u:$7$0$c2FsdA==$aGFzaA==".to_owned(), "iteration"),
            (good.replace("$7$2$", "$7$x$"), "iteration"),
            (format!("{good}!"), "not base64"),
            ("u:$6$c2FsdA==$aGFzaA==".to_owned(), "not 64"),
            (format!("{good}\n{good}"), "twice"),
        ] {
            let text = format!("# comment\n{bad}\n");
            let error = PasswordFile::parse(&text, "pw").expect_err(&bad);
            assert!(error.line >= 2, "{error}");
            assert!(error.message.contains(needle), "{bad}: {error}");
            assert!(error.to_string().starts_with("pw:"), "{error}");
        }
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}

//! `mqtt-passwd`: manages password files for `password_file`, compatible with `mosquitto_passwd` for
//! its common uses, and with `--scram` the `scram_password_file` of MQTT 5.0 SCRAM-SHA-256 clients. The file format and the hashing are in the library (`security/password_file.rs`); this
//! file only parses arguments, prompts and rewrites the file.

use std::fs;
use std::io::{self, BufRead, IsTerminal, Write};
use std::num::NonZeroU32;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use mqtt_broker::{DEFAULT_ITERATIONS, hash_line, is_hashed_or_blank, line_user, scram_line};

const USAGE: &str = "\
mqtt-passwd manages password files for mqtt-broker's `password_file` (mosquitto's format).

Usage: mqtt-passwd [-H sha512-pbkdf2] [-I iterations] [-c | -D] passwordfile username
       mqtt-passwd [-H sha512-pbkdf2] [-I iterations] [-c] -b passwordfile username password
       mqtt-passwd [-I iterations] -U passwordfile
       mqtt-passwd --scram [-I iterations] [-c | -D] [-b] scrampasswordfile username [password]

 -b  batch mode: the password is on the command line (it is then visible to other users of this
     machine in the process list; prefer the prompt).
 -c  create a new password file, replacing an existing one.
 -D  delete the user from the file.
 -H  the hash to use; only sha512-pbkdf2 (`$7$`, the default) is written.
 -I  PBKDF2 iterations (default 210000). Lower values make brute force cheaper.
 -U  convert a file of `username:password` lines to hashed lines, leaving lines that are already
     hashed ($6$ or $7$) untouched.
 --scram  write SCRAM-SHA-256 credentials (`user:SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:
     <ServerKey>`) for mqtt-broker's `scram_password_file`, for MQTT 5.0 clients that authenticate
     with SCRAM-SHA-256; -I then defaults to 4096 (RFC 7677's minimum, paid by the client at every
     connection). User names and passwords must be printable ASCII. Not with -U or -H.

Without -b the password is prompted for twice on the terminal, without echo.
Each new entry gets a fresh random 12-byte salt. The file is rewritten atomically, mode 0600 when
created.
";

/// What to do.
enum Mode {
    Set {
        create: bool,
        password: Option<String>,
    },
    Delete,
    Convert,
}

fn main() -> ExitCode {
    if std::env::args().skip(1).eq(["--version"]) {
        println!(
            "{} ({}) {}",
            env!("CARGO_BIN_NAME"),
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("Error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (mut create, mut delete, mut batch, mut convert) = (false, false, false, false);
    let (mut scram, mut hash_named) = (false, false);
    let mut iterations = None;
    let mut positional = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" => create = true,
            "-D" => delete = true,
            "-b" => batch = true,
            "-U" => convert = true,
            "--scram" => scram = true,
            "-H" => match args.next().as_deref() {
                Some("sha512-pbkdf2") => hash_named = true,
                Some(other) => {
                    return Err(format!(
                        "hash {other:?} is not supported; only sha512-pbkdf2 is written"
                    ));
                }
                None => return Err("-H needs a hash name".into()),
            },
            "-I" => {
                iterations = Some(
                    args.next()
                        .and_then(|n| n.parse::<u32>().ok())
                        .filter(|&n| n > 0)
                        .ok_or("-I needs a positive number of iterations")?,
                );
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            flag if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("unknown option {flag}\n\n{USAGE}"));
            }
            _ => positional.push(arg),
        }
    }
    let exclusive = [
        create && delete,
        create && convert,
        delete && convert,
        batch && delete,
    ];
    if exclusive.iter().any(|&both| both) {
        return Err("-c, -D and -U exclude each other, and -b cannot be used with -D".into());
    }
    if scram && (convert || hash_named) {
        return Err("--scram writes SCRAM-SHA-256 only: not with -U or -H".into());
    }
    let iterations = iterations.unwrap_or(if scram {
        mqtt_scram::DEFAULT_ITERATIONS
    } else {
        DEFAULT_ITERATIONS
    });
    let iterations = NonZeroU32::new(iterations).ok_or("iterations must be positive")?;
    let wanted = match (convert, batch) {
        (true, _) => 1,
        (false, true) => 3,
        (false, false) => 2,
    };
    if positional.len() != wanted {
        return Err(format!("wrong number of arguments\n\n{USAGE}"));
    }
    let file = PathBuf::from(&positional[0]);
    let mode = if convert {
        Mode::Convert
    } else if delete {
        Mode::Delete
    } else {
        Mode::Set {
            create,
            password: positional.get(2).cloned(),
        }
    };
    let user = positional.get(1).map(String::as_str);
    if let Some(user) = user
        && (user.is_empty() || user.contains(':'))
    {
        return Err("a user name must not be empty or contain ':'".into());
    }
    let existing = match &mode {
        Mode::Set { create: true, .. } => String::new(),
        _ => fs::read_to_string(&file)
            .map_err(|error| format!("cannot read {}: {error}", file.display()))?,
    };
    let lines: Vec<String> = existing.lines().map(str::to_owned).collect();
    let updated = match (mode, user) {
        (Mode::Convert, _) => convert_lines(&lines, iterations)?,
        (Mode::Delete, Some(user)) => {
            let kept: Vec<String> = lines
                .iter()
                .filter(|line| line_user(line) != Some(user))
                .cloned()
                .collect();
            if kept.len() == lines.len() {
                return Err(format!("user {user} not found in {}", file.display()));
            }
            kept
        }
        (Mode::Set { password, .. }, Some(user)) => {
            let password = match password {
                Some(password) => password,
                None => prompt_twice()?,
            };
            if password.is_empty() {
                return Err("empty passwords are not allowed".into());
            }
            let entry = if scram {
                scram_line(user, &password, iterations.get())?
            } else {
                hash_line(user, password.as_bytes(), iterations)?
            };
            let mut replaced = false;
            let mut updated: Vec<String> = lines
                .iter()
                .map(|line| {
                    if line_user(line) == Some(user) {
                        replaced = true;
                        entry.clone()
                    } else {
                        line.clone()
                    }
                })
                .collect();
            if !replaced {
                updated.push(entry);
            }
            updated
        }
        (_, None) => return Err(USAGE.into()),
    };
    write_atomically(&file, &updated)
}

/// `-U`: hashes `user:password` lines; hashed lines, blank lines and comments are kept as they are.
fn convert_lines(lines: &[String], iterations: NonZeroU32) -> Result<Vec<String>, String> {
    lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            if is_hashed_or_blank(line) {
                return Ok(line.clone());
            }
            match line.split_once(':') {
                Some((user, password)) if !user.is_empty() => {
                    hash_line(user, password.as_bytes(), iterations)
                }
                _ => Err(format!("line {} is not `username:password`", index + 1)),
            }
        })
        .collect()
}

/// Asks for the password twice on the terminal, with echo off while it is typed.
fn prompt_twice() -> Result<String, String> {
    let first = prompt("Password: ")?;
    let second = prompt("Reenter password: ")?;
    if first != second {
        return Err("passwords do not match".into());
    }
    Ok(first)
}

fn prompt(text: &str) -> Result<String, String> {
    let stdin = io::stdin();
    let terminal = stdin.is_terminal();
    eprint!("{text}");
    let _ = io::stderr().flush();
    // `stty` on the terminal itself: echo off without unsafe code or a terminal crate.
    let stty = |setting: &str| {
        let _ = fs::File::open("/dev/tty").map(|tty| {
            Command::new("stty")
                .arg(setting)
                .stdin(tty)
                .stderr(Stdio::null())
                .status()
        });
    };
    if terminal {
        stty("-echo");
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        stty("echo");
        eprintln!();
    }
    read.map_err(|error| format!("cannot read the password: {error}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Writes the file through a temporary file and a rename, so that it is never half written.
fn write_atomically(path: &Path, lines: &[String]) -> Result<(), String> {
    let temporary = path.with_extension("tmp-mqtt-passwd");
    let mode = fs::metadata(path).map_or(0o600, |metadata| metadata.permissions().mode());
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    let result = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temporary, path));
    result.map_err(|error| format!("cannot write {}: {error}", path.display()))
}

//! What the `mqtt-broker` program does around the broker for `pid_file` and `user`
//! ([`ProcessSettings`](crate::ProcessSettings)): the pid file written at start and removed at a
//! clean exit, and the decision about running as another user.
//!
//! `user` cannot be honoured as mosquitto does (switch to that user after binding the listeners):
//! changing the process's user needs `setuid`, an unsafe call, and the workspace forbids unsafe code.
//! So: started by a user other than root, `user` changes nothing and a line says so, as mosquitto
//! does; started as root with `user` naming root, nothing to do; started as root with another user
//! named, the broker refuses to start rather than serve clients with root's rights. Run it as that
//! user instead (systemd `User=`, with `AmbientCapabilities=CAP_NET_BIND_SERVICE` for ports under
//! 1024).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A pid file written by [`PidFile::write`], removed when dropped (a clean exit).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's id and a newline to `path`, as mosquitto does.
    pub fn write(path: &Path) -> io::Result<Self> {
        fs::write(path, format!("{}\n", std::process::id()))?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_file(&self.path) {
            log::warn!("cannot remove pid file {}: {error}", self.path.display());
        }
    }
}

/// The effective user id of this process (the owner of `/proc/self`), if it can be read.
pub fn effective_uid() -> Option<u32> {
    fs::metadata("/proc/self")
        .ok()
        .map(|metadata| metadata.uid())
}

/// What `user <name>` means for a process running as `uid`: `Ok` with a line to log, or the
/// reason the broker must not start.
pub fn decide_user(name: &str, uid: Option<u32>) -> Result<String, String> {
    match uid {
        Some(0) if name == "root" => Ok("`user root`: running as root, as asked".into()),
        Some(0) => Err(format!(
            "`user {name}` is not supported when started as root: this broker cannot drop \
             privileges (setuid needs unsafe code, which this project forbids), and it will not \
             serve clients as root instead; start it as {name} (systemd User={name}, with \
             AmbientCapabilities=CAP_NET_BIND_SERVICE for ports under 1024)"
        )),
        Some(uid) => Ok(format!(
            "`user {name}` ignored: not started as root (uid {uid}), so there are no privileges \
             to drop"
        )),
        None => Ok(format!(
            "`user {name}` ignored: the process's user id cannot be read from /proc/self"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_is_refused_as_root_and_ignored_otherwise() {
        assert!(decide_user("mosquitto", Some(0)).is_err());
        assert!(decide_user("root", Some(0)).is_ok());
        let line = decide_user("mosquitto", Some(1000));
        assert!(line.is_ok_and(|line| line.contains("not started as root")));
    }

    #[test]
    fn the_pid_file_holds_the_pid_and_goes_at_drop() {
        let path = std::env::temp_dir().join(format!("mqtt-broker-pid-{}", std::process::id()));
        let pid_file = PidFile::write(&path).expect("writes");
        let text = fs::read_to_string(&path).expect("reads");
        assert_eq!(text, format!("{}\n", std::process::id()));
        drop(pid_file);
        assert!(!path.exists());
    }
}

//! `log_dest syslog`: one RFC 3164 datagram per line to the local syslog socket (`/dev/log`), with
//! the `daemon` facility as mosquitto uses. No crate: a Unix datagram socket and a format string.
//!
//! If the socket is missing (a container without a syslog daemon) lines are dropped, and the broker
//! says so once on stderr; a syslog daemon that starts later is picked up at the next reopen (SIGHUP).

use std::os::unix::net::UnixDatagram;
use std::path::Path;

use super::LogType;
use super::timestamp::Civil;

/// The syslog facility `daemon` (3), shifted as RFC 3164's PRI wants it.
const FACILITY_DAEMON: u8 = 3 << 3;

/// A connected syslog socket.
#[derive(Debug)]
pub(crate) struct Syslog {
    socket: Option<UnixDatagram>,
    pid: u32,
}

impl Syslog {
    /// Connects to the syslog socket at `path` (normally `/dev/log`).
    pub(crate) fn open(path: &Path) -> Self {
        let socket = UnixDatagram::unbound()
            .and_then(|socket| socket.connect(path).map(|()| socket))
            .map_err(|error| {
                eprintln!(
                    "log_dest syslog: cannot reach {}: {error}; syslog lines are dropped",
                    path.display()
                );
            })
            .ok();
        Self {
            socket,
            pid: std::process::id(),
        }
    }

    /// Sends one line; a failure (the daemon restarted, its buffer is full) loses only that line.
    pub(crate) fn send(&self, kind: LogType, epoch: u64, message: &str) {
        if let Some(socket) = &self.socket {
            let _ = socket.send(datagram(kind, epoch, self.pid, message).as_bytes());
        }
    }
}

/// The syslog severity of a log type: what syslog filters (and journald's priorities) act on.
fn severity(kind: LogType) -> u8 {
    match kind {
        LogType::Error => 3,
        LogType::Warning => 4,
        LogType::Notice => 5,
        LogType::Information | LogType::Subscribe | LogType::Unsubscribe | LogType::Websockets => 6,
        LogType::Debug => 7,
    }
}

/// RFC 3164 §4.1: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG`. The local socket needs no hostname
/// (the daemon adds it), as glibc's `syslog(3)` also leaves it out.
pub(crate) fn datagram(kind: LogType, epoch: u64, pid: u32, message: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let civil = Civil::from_epoch(epoch);
    format!(
        "<{}>{} {:2} {:02}:{:02}:{:02} mqtt-broker[{pid}]: {message}",
        FACILITY_DAEMON | severity(kind),
        MONTHS[civil.month as usize - 1],
        civil.day,
        civil.hour,
        civil.minute,
        civil.second,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_has_rfc_3164_pri_timestamp_and_tag() {
        // 1700000000 is Nov 14 22:13:20 UTC; daemon.warning is 3*8+4 = 28.
        assert_eq!(
            datagram(LogType::Warning, 1_700_000_000, 42, "disk full"),
            "<28>Nov 14 22:13:20 mqtt-broker[42]: disk full"
        );
        // A one-digit day is padded with a space, as RFC 3164 says.
        assert!(datagram(LogType::Debug, 0, 1, "x").starts_with("<31>Jan  1 00:00:00 "));
    }

    #[test]
    fn lines_reach_a_syslog_socket() {
        let dir = std::env::temp_dir().join(format!("mqtt-syslog-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log");
        let _ = std::fs::remove_file(&path);
        let daemon = UnixDatagram::bind(&path).expect("bind");
        let syslog = Syslog::open(&path);
        syslog.send(LogType::Error, 0, "hello");
        let mut buffer = [0; 256];
        let n = daemon.recv(&mut buffer).expect("recv");
        let line = std::str::from_utf8(&buffer[..n]).expect("utf8");
        assert!(
            line.starts_with("<27>Jan  1 00:00:00 mqtt-broker["),
            "{line}"
        );
        assert!(line.ends_with("]: hello"), "{line}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

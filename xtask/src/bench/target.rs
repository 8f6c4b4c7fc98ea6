//! The broker under test: started here as a child process (ours or mosquitto), or already running at
//! an address (`--against`). Reads its CPU time and resident memory from `/proc`.
//!
//! Each scenario gets a fresh process on a fresh loopback port, so that its peak memory (`VmHWM`) and
//! CPU time are its own. Brokers are started through `sh -c 'ulimit -n <hard limit>; exec ...'` so
//! that thousands of connections do not run out of file descriptors; the child is killed when its
//! [`Target`] is dropped, whatever happened. Output goes to a log file in the run's work directory,
//! which is removed at the end.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::scenario::BrokerSetup;

/// Which broker, and how to reach or start it.
#[derive(Debug, Clone)]
pub(crate) enum TargetKind {
    /// Our `mqtt-broker` binary, started per scenario.
    Ours { binary: PathBuf },
    /// mosquitto, started per scenario.
    Mosquitto { binary: PathBuf },
    /// A broker someone else started; its process is known only if `pid` is given.
    External {
        label: String,
        address: SocketAddr,
        pid: Option<u32>,
    },
}

impl TargetKind {
    /// The column heading.
    pub(crate) fn label(&self) -> String {
        match self {
            Self::Ours { .. } => "ours".to_owned(),
            Self::Mosquitto { .. } => "mosquitto".to_owned(),
            Self::External { label, .. } => label.clone(),
        }
    }

    /// Whether this is our broker, whose failures fail the run.
    pub(crate) fn is_ours(&self) -> bool {
        match self {
            Self::Ours { .. } => true,
            Self::External { label, .. } => label == "ours",
            Self::Mosquitto { .. } => false,
        }
    }

    /// The version line for the report's header.
    pub(crate) fn version(&self) -> String {
        match self {
            Self::Ours { binary } => format!(
                "ours: mqtt-broker {} ({}), {}",
                env!("CARGO_PKG_VERSION"),
                git_revision(),
                binary.display()
            ),
            Self::Mosquitto { binary } => {
                let output = Command::new(binary).arg("-h").output();
                let first = output
                    .ok()
                    .and_then(|out| {
                        String::from_utf8_lossy(&out.stdout)
                            .lines()
                            .next()
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| "version unknown".to_owned());
                format!("mosquitto: {first}, {}", binary.display())
            }
            Self::External {
                label,
                address,
                pid,
                ..
            } => match pid {
                Some(pid) => format!("{label}: {}, pid {pid}", command_line(*pid)),
                None => {
                    format!("{label}: at {address}; no pid given, so CPU and memory not measured")
                }
            },
        }
    }
}

/// Why a broker did not start.
#[derive(Debug)]
pub(crate) enum StartFailure {
    /// The broker refused the configuration the scenario needs (persistence, say).
    Unsupported(String),
    Error(String),
}

/// A broker ready for a scenario.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) address: SocketAddr,
    pid: Option<u32>,
    child: Option<Child>,
    log: Option<PathBuf>,
}

impl Target {
    /// Starts (or finds) the broker of `kind`, configured for `setup`, and waits until it listens.
    pub(crate) fn start(
        kind: &TargetKind,
        workdir: &WorkDir,
        setup: BrokerSetup,
    ) -> Result<Self, StartFailure> {
        let (binary, ours) = match kind {
            TargetKind::External { address, pid, .. } => {
                if setup != BrokerSetup::Plain {
                    return Err(StartFailure::Unsupported(
                        "configure persistence on a broker given by address yourself".to_owned(),
                    ));
                }
                return Ok(Self {
                    address: *address,
                    pid: *pid,
                    child: None,
                    log: None,
                });
            }
            TargetKind::Ours { binary } => (binary, true),
            TargetKind::Mosquitto { binary } => (binary, false),
        };
        let port = free_port().map_err(StartFailure::Error)?;
        let name = if ours { "ours" } else { "mosquitto" };
        let config = workdir.path.join(format!("{name}-{port}.conf"));
        let store = workdir.path.join(format!("{name}-{port}-store"));
        fs::write(&config, configuration(port, setup, &store, ours)).map_err(|error| {
            StartFailure::Error(format!("cannot write {}: {error}", config.display()))
        })?;
        if setup == BrokerSetup::Persistent {
            fs::create_dir_all(&store).map_err(|error| {
                StartFailure::Error(format!("cannot create the store: {error}"))
            })?;
        }
        let log = workdir.path.join(format!("{name}-{port}.log"));
        let output = fs::File::create(&log)
            .map_err(|error| StartFailure::Error(format!("cannot create the log: {error}")))?;
        let output2 = output
            .try_clone()
            .map_err(|error| StartFailure::Error(error.to_string()))?;
        // `ulimit -n` with no privilege can raise the soft limit up to the hard one; `exec` keeps the
        // pid, so the child's pid is the broker's.
        let child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$0\" \"$@\"")
            .arg(binary)
            .arg("-c")
            .arg(&config)
            .current_dir(&workdir.path)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(output2)
            .spawn()
            .map_err(|error| {
                StartFailure::Error(format!("cannot start {}: {error}", binary.display()))
            })?;
        let mut target = Self {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            pid: Some(child.id()),
            child: Some(child),
            log: Some(log),
        };
        target.wait_listening(setup)?;
        Ok(target)
    }

    fn wait_listening(&mut self, setup: BrokerSetup) -> Result<(), StartFailure> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(why) = self.exited() {
                return Err(if setup == BrokerSetup::Plain {
                    StartFailure::Error(why)
                } else {
                    StartFailure::Unsupported(why)
                });
            }
            if TcpStream::connect_timeout(&self.address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(StartFailure::Error(format!(
                    "not listening on {} after 10 s",
                    self.address
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// If the process we started has ended: how, with the last lines of its log.
    pub(crate) fn exited(&self) -> Option<String> {
        // `try_wait` needs `&mut`; reading /proc answers the same question without it.
        let pid = self.pid?;
        self.child.as_ref()?;
        let state = fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let zombie = state
            .as_deref()
            .and_then(|stat| stat.rsplit_once(')'))
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if state.is_some() && !zombie {
            return None;
        }
        let tail = self
            .log
            .as_ref()
            .and_then(|log| fs::read_to_string(log).ok())
            .map(|text| {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(3)..].join(" | ")
            })
            .unwrap_or_default();
        Some(format!("exited; its log ends: {tail}"))
    }

    /// CPU seconds (user + system) the broker has used so far, if its process is known.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid?)).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces: state is
        // field 3, utime 14 and stime 15 (proc(5)), so 11 and 12 after the state.
        let (_, rest) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let user: f64 = fields.get(11)?.parse().ok()?;
        let system: f64 = fields.get(12)?.parse().ok()?;
        Some((user + system) / clock_ticks())
    }

    /// Resident memory now and at its peak, in KiB.
    pub(crate) fn memory_kib(&self) -> Option<Memory> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<u64>().ok())
        };
        Some(Memory {
            resident: field("VmRSS:")?,
            peak: field("VmHWM:")?,
            threads: field("Threads:").unwrap_or(0),
        })
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Resident memory in KiB (`VmRSS`, `VmHWM`) and the thread count.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub(crate) resident: u64,
    pub(crate) peak: u64,
    pub(crate) threads: u64,
}

/// The broker configuration: loopback only, anonymous clients, defaults otherwise. Both brokers read
/// mosquitto's syntax; the store directory is mosquitto's `persistence_location`.
fn configuration(port: u16, setup: BrokerSetup, store: &Path, ours: bool) -> String {
    let mut config = format!("listener {port} 127.0.0.1\nallow_anonymous true\n");
    if setup == BrokerSetup::Persistent {
        config.push_str("persistence true\n");
        config.push_str(&format!("persistence_location {}/\n", store.display()));
    }
    if !ours {
        // mosquitto logs every connection by default; ours logs them at `info` on stderr. Both go to
        // the log file, so neither is slowed by a terminal.
        config.push_str("log_dest stderr\n");
    }
    config
}

/// A scratch directory for configurations, logs and stores, removed when dropped.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    pub(crate) fn new() -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        fs::create_dir_all(&path)
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// mosquitto from PATH or Debian's `/usr/sbin`.
pub(crate) fn find_mosquitto() -> Result<PathBuf, String> {
    let mut places: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    places.push("/usr/sbin".into());
    places
        .into_iter()
        .map(|dir| dir.join("mosquitto"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            "mosquitto not found on PATH or in /usr/sbin: install Debian's package \
             (apt-get install mosquitto), or compare with another broker by --against HOST:PORT"
                .to_owned()
        })
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("no free port: {error}"))
}

/// The one-minute load average, as a disturbance indicator printed with each run.
pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Runs this program again when it should: as the release build `release` if given, and under a
/// higher open-files limit when the current one is under `needed`. Answers the second run's result,
/// or `None` to carry on in this process.
pub(crate) fn relaunch(
    args: &[String],
    needed: u64,
    release: Option<&Path>,
) -> Result<Option<Result<(), String>>, String> {
    const MARK: &str = "XTASK_BENCH_RELAUNCHED";
    if std::env::var_os(MARK).is_some() {
        return Ok(None);
    }
    let (soft, hard) = open_files_limit().unwrap_or((u64::MAX, u64::MAX));
    if soft < needed && hard < needed {
        eprintln!(
            "bench: the open-files limit ({soft}, hard {hard}) is under {needed}: the idle \
             connection scenarios may fall short"
        );
    }
    if release.is_none() && soft >= needed {
        return Ok(None);
    }
    let exe = match release {
        Some(path) => path.to_owned(),
        None => std::env::current_exe().map_err(|error| format!("cannot find myself: {error}"))?,
    };
    let status = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$0\" \"$@\"")
        .arg(&exe)
        .arg("bench")
        .args(args)
        .env(MARK, "1")
        .status()
        .map_err(|error| format!("cannot run {}: {error}", exe.display()))?;
    Ok(Some(if status.success() {
        Ok(())
    } else {
        Err(format!("the benchmark failed ({status})"))
    }))
}

/// The soft and hard open-files limits of this process.
fn open_files_limit() -> Option<(u64, u64)> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let mut numbers = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .map(|word| word.parse::<u64>().unwrap_or(u64::MAX));
    Some((numbers.next()?, numbers.next()?))
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat` times; asked once.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn git_revision() -> String {
    let output = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(crate::workspace_root())
        .output();
    output
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown revision".to_owned())
}

fn command_line(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|&byte| byte == 0)
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|_| "process not found".to_owned())
}

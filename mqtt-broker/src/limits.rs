//! How many connections this machine can hold: the operating system limits that bound a
//! thread-per-connection server, read from `/proc`, and the connection limit derived from them.
//!
//! Each connection costs one thread (its reader, which also writes: `connection/writer.rs`) and one
//! file descriptor, and a second thread only while its client is behind (the writer's helper). A
//! thread costs four memory mappings (its stack and the stack's guard page, its signal stack and
//! that one's guard page), so `vm.max_map_count` (65 530 by default) is usually the first wall, near
//! 16 000 threads; then
//! `kernel.pid_max` / `kernel.threads-max` (every thread takes a pid) and the open-files limit
//! (`ulimit -n`). Hitting any of them makes thread creation or `accept` fail, so the broker stops
//! admitting clients (CONNACK 3) a safety margin before the nearest one. The README explains how an
//! operator raises each.
//!
//! This file only computes; `connection/reader.rs` enforces.

use std::fs;

/// Connections per helper thread kept room for: the limit leaves one thread in this many
/// connections for the helpers of clients that fall behind (`connection/writer.rs`). A helper
/// that cannot start ends its connection, which stays clean (the session keeps what was not
/// acknowledged), but should be rare.
const CONNECTIONS_PER_HELPER: usize = 16;
/// Memory mappings per thread, measured (see ARCHITECTURE.md, "Memory").
const MAPS_PER_THREAD: usize = 4;
/// Mappings, threads and files kept for everything else: the program, libraries, listeners, logs.
const RESERVE: usize = 1_000;

/// The system limits that bound the number of connections; `None` where unreadable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SystemLimits {
    /// `/proc/sys/vm/max_map_count`.
    pub(crate) max_map_count: Option<usize>,
    /// The smaller of `/proc/sys/kernel/pid_max` and `/proc/sys/kernel/threads-max`.
    pub(crate) max_threads: Option<usize>,
    /// The soft limit on open files of this process.
    pub(crate) open_files: Option<usize>,
}

impl SystemLimits {
    /// Reads the limits of this machine and process (Linux; elsewhere all `None`).
    pub(crate) fn read() -> Self {
        let number = |path: &str| fs::read_to_string(path).ok()?.trim().parse::<usize>().ok();
        let threads = match (
            number("/proc/sys/kernel/pid_max"),
            number("/proc/sys/kernel/threads-max"),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            max_map_count: number("/proc/sys/vm/max_map_count"),
            max_threads: threads,
            open_files: fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|text| open_files_soft_limit(&text)),
        }
    }

    /// The most connections these limits allow with the reserve kept, and which limit decides.
    pub(crate) fn max_connections(self) -> (usize, &'static str) {
        // Threads for `connections` connections: one each, and the helpers' share.
        let connections_for =
            |threads: usize| threads * CONNECTIONS_PER_HELPER / (CONNECTIONS_PER_HELPER + 1);
        let by_maps = self
            .max_map_count
            .map(|maps| connections_for(maps.saturating_sub(RESERVE) / MAPS_PER_THREAD));
        let by_threads = self
            .max_threads
            .map(|threads| connections_for(threads.saturating_sub(RESERVE)));
        let by_files = self
            .open_files
            .map(|files| files.saturating_sub(RESERVE / 10));
        [
            (by_maps, "vm.max_map_count"),
            (by_threads, "kernel.pid_max / kernel.threads-max"),
            (by_files, "the open files limit (ulimit -n)"),
        ]
        .into_iter()
        .filter_map(|(limit, name)| Some((limit?.max(1), name)))
        .min_by_key(|(limit, _)| *limit)
        .unwrap_or((10_000, "no readable system limit; a fixed default"))
    }
}

/// The soft "Max open files" of a `/proc/self/limits` text; "unlimited" is taken as no limit.
fn open_files_soft_limit(limits: &str) -> Option<usize> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_map_count_allows_more_than_15000_connections() {
        let limits = SystemLimits {
            max_map_count: Some(65_530),
            max_threads: Some(32_768),
            open_files: Some(20_000),
        };
        // (65 530 - 1 000) / 4 mappings = 16 132 threads, 16 in 17 of them readers.
        assert_eq!(limits.max_connections(), (15_183, "vm.max_map_count"));
    }

    #[test]
    fn the_smallest_limit_decides() {
        let limits = SystemLimits {
            max_map_count: Some(1_000_000),
            max_threads: Some(1_000_000),
            open_files: Some(1_024),
        };
        assert_eq!(limits.max_connections().0, 924);
    }

    #[test]
    fn open_files_are_read_from_proc_self_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max open files            20000                20000                files\n";
        assert_eq!(open_files_soft_limit(text), Some(20_000));
    }
}

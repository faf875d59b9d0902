//! The `process_*` family every Prometheus client library exports, read
//! from `/proc/self` at scrape time the way client_golang's procfs
//! collector does (`prometheus/client_golang:prometheus/process_collector_procfs.go`,
//! fields from proc(5)): CPU seconds (`utime + stime` over `USER_HZ`),
//! resident and virtual memory, open and maximum descriptors, and the start
//! time (`starttime` over `USER_HZ` after `btime`). A file that cannot be
//! read leaves its metrics out rather than failing the scrape.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second of `/proc/<pid>/stat` times. Linux fixes it at
/// 100 for userspace on every architecture (`USER_HZ`); procfs hard-codes
/// it the same way (`prometheus/procfs:proc_stat.go`, `userHZ = 100`).
const USER_HZ: f64 = 100.0;

/// What `/proc/self` says now.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, seconds.
    pub cpu_secs: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft `RLIMIT_NOFILE` (`None` when unlimited or unreadable).
    pub max_fds: Option<u64>,
    /// Start time, Unix seconds.
    pub start_time_secs: Option<f64>,
}

impl ProcessStats {
    /// Reads `/proc/self/{stat,status,limits,fd}` and `/proc/stat`.
    pub fn read() -> ProcessStats {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let stat = read("/proc/self/stat").and_then(|s| StatFields::parse(&s));
        let btime = read("/proc/stat").and_then(|s| field_after(&s, "btime"));
        ProcessStats {
            cpu_secs: stat.map(|s| (s.utime + s.stime) as f64 / USER_HZ),
            resident_bytes: read("/proc/self/status")
                .and_then(|s| field_after(&s, "VmRSS:"))
                .map(|kb| kb * 1024),
            virtual_bytes: stat.map(|s| s.vsize),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
            max_fds: read("/proc/self/limits").and_then(|s| max_open_files(&s)),
            start_time_secs: stat
                .zip(btime)
                .map(|(s, b)| b as f64 + s.starttime as f64 / USER_HZ),
        }
    }
}

/// The fields of `/proc/self/stat` we use (proc(5) numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatFields {
    /// (14) user-mode time, clock ticks.
    utime: u64,
    /// (15) kernel-mode time, clock ticks.
    stime: u64,
    /// (22) start time after boot, clock ticks.
    starttime: u64,
    /// (23) virtual memory size, bytes.
    vsize: u64,
}

impl StatFields {
    /// Parses a `stat` line. The command name (2) is in parentheses and may
    /// hold spaces and `)`, so fields are counted after its last `)`.
    fn parse(s: &str) -> Option<StatFields> {
        let rest = &s[s.rfind(')')? + 1..];
        // `rest` starts at field 3 (state): field n is at index n - 3.
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        let num = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
        Some(StatFields {
            utime: num(14)?,
            stime: num(15)?,
            starttime: num(22)?,
            vsize: num(23)?,
        })
    }
}

/// The number after `key` at the start of a line (`btime 1796283167`,
/// `VmRSS:   2200 kB`).
fn field_after(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.split_ascii_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<u64> {
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    rest.split_ascii_whitespace().next()?.parse().ok()
}

/// The scrape-time collector of the `process_*` family.
#[derive(Debug, Default)]
pub struct ProcessMetrics;

impl Collector for ProcessMetrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let p = ProcessStats::read();
        if let Some(v) = p.cpu_secs {
            let m = ConstCounter::new(v);
            m.encode(enc.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                m.metric_type(),
            )?)?;
        }
        let gauges: [(&str, &str, Option<f64>); 5] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                p.resident_bytes.map(|v| v as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                p.virtual_bytes.map(|v| v as f64),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                p.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                p.max_fds.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                p.start_time_secs,
            ),
        ];
        for (name, help, v) in gauges {
            if let Some(v) = v {
                let m = ConstGauge::new(v);
                m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A `stat` line as proc(5) describes it, with a command name holding a
    // space and a parenthesis (`cat` run as `a) b`).
    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "8663 (a) b) R 8661 8661 19847 0 -1 4194304 99 0 0 0 7 3 0 0 20 0 1 0 2986825 3133440 407 18446744073709551615 1 2";
        assert_eq!(
            StatFields::parse(line),
            Some(StatFields {
                utime: 7,
                stime: 3,
                starttime: 2_986_825,
                vsize: 3_133_440
            })
        );
        assert_eq!(StatFields::parse("1 (x) R 2"), None);
    }

    #[test]
    fn limits_and_status_fields() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                524288               files     \n";
        assert_eq!(max_open_files(limits), Some(20_000));
        assert_eq!(
            max_open_files(
                "Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
        assert_eq!(
            field_after("VmSize:\t    3892 kB\nVmRSS:\t    2200 kB\n", "VmRSS:"),
            Some(2200)
        );
    }

    #[test]
    fn this_process_reads_whole() {
        let p = ProcessStats::read();
        assert!(p.cpu_secs.is_some(), "{p:?}");
        assert!(p.resident_bytes.is_some_and(|b| b > 1 << 20), "{p:?}");
        assert!(p.virtual_bytes >= p.resident_bytes, "{p:?}");
        assert!(p.open_fds.is_some_and(|n| n >= 3), "{p:?}");
        let start = p.start_time_secs.unwrap();
        let now = crate::unix_now() as f64;
        assert!(
            start <= now + 1.0 && start > now - 86_400.0,
            "{start} {now}"
        );
    }
}

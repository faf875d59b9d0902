//! What a generated corpus contains, counted while it is written, so benches
//! and tests can assert that a pipeline saw exactly what was produced.

use std::collections::BTreeMap;
use std::fmt;

use crate::{Format, Framing};

/// Counts of one generated corpus. Everything here describes the bytes as
/// written: a status the format writes as `-` counts under status 0, an
/// event time is taken at the resolution the line shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpusStats {
    /// The format generated.
    pub format: Format,
    /// The framing applied.
    pub framing: Framing,
    /// Logical records: one access line, one FPM error line, one slow-log
    /// block, one debug.log entry (with its stack trace).
    pub records: u64,
    /// Physical lines written (newline characters in the output), framing
    /// chunks included.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Records attributed to each site, indexed by zero-based site index
    /// (`site_records[41]` is `site042`). For access logs these are requests;
    /// for FPM and WordPress logs, records of that site's pool or install.
    /// fpm_access and wordpress lines do not name their site (a real file
    /// belongs to one pod); the counts say which site the generator drew.
    pub site_records: Vec<u64>,
    /// Traefik requests whose Host matched no router (router `-`); not in
    /// `site_records`.
    pub stray_host_records: u64,
    /// Records per HTTP status as written; 0 = the line has no status
    /// (Traefik CLF writes `-` for responses Traefik made itself: unmatched
    /// Host, rate-limit middleware).
    pub status_counts: BTreeMap<u16, u64>,
    /// Records with a 5xx status.
    pub status_5xx: u64,
    /// Sum of the response-size field as written (0 where the format has
    /// none or writes `-`).
    pub body_bytes: u64,
    /// PHP-FPM error- and slow-log events.
    pub fpm: FpmCounts,
    /// PHP and WordPress debug.log entries.
    pub php: PhpCounts,
    /// Application-log (`text`) records by shape and level.
    pub text: TextCounts,
    /// Source lines longer than the framing limit, written as several chunks.
    pub split_lines: u64,
    /// Partial chunks written (CRI `P` lines, Docker lines without `\n`).
    pub partial_chunks: u64,
    /// Records whose event time is earlier than the record's before them.
    pub out_of_order: u64,
    /// Earliest event time written, Unix nanoseconds.
    pub min_ts_ns: i64,
    /// Latest event time written, Unix nanoseconds.
    pub max_ts_ns: i64,
    /// Sites that had an incident (a burst of 5xx and slow answers in the
    /// 35%-45% stretch of the corpus).
    pub incident_sites: Vec<usize>,
}

/// PHP-FPM events, one count per kind of line (fpm_error) or block (fpm_slow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FpmCounts {
    /// `child N started`.
    pub started: u64,
    /// `child N exited with code C after ...`.
    pub exited: u64,
    /// `child N exited on signal S (SIG...) after ...`.
    pub signaled: u64,
    /// `server reached pm.max_children setting (N), consider raising it`.
    pub max_children: u64,
    /// `seems busy (you may need to increase pm.start_servers, ...)`.
    pub seems_busy: u64,
    /// `executing too slow (T sec), logging` lines, or slow-log blocks.
    pub slow: u64,
    /// `execution timed out (T sec), terminating`.
    pub timed_out: u64,
    /// `child N said into stderr: "..."`.
    pub stderr: u64,
    /// Master lifecycle notices (`fpm is running`, `ready to handle connections`, reloads).
    pub lifecycle: u64,
    /// `DEBUG:` lines (microsecond timestamps).
    pub debug: u64,
}

impl FpmCounts {
    /// Children killed: signal exits (a request timeout is followed by its
    /// SIGTERM exit line, which is what a parser counts as a termination).
    pub fn terminated(&self) -> u64 {
        self.signaled
    }
}

/// PHP and WordPress `debug.log` entries by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhpCounts {
    /// `PHP Fatal error:` (uncaught, memory, time limit) and `PHP Parse error:`.
    pub fatal: u64,
    /// `PHP Warning:`.
    pub warning: u64,
    /// `PHP Notice:`.
    pub notice: u64,
    /// `PHP Deprecated:`.
    pub deprecated: u64,
    /// `WordPress database error ...`.
    pub database: u64,
}

/// Application-log (`text`) records: by shape, how many carry a date and
/// time, and by level. A stack trace counts once, as part of the record of
/// the line it follows (or, for a Go panic, as its own record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextCounts {
    /// zap, zerolog, logrus and slog JSON lines.
    pub json: u64,
    /// logrus and slog logfmt lines.
    pub logfmt: u64,
    /// klog lines.
    pub klog: u64,
    /// Python, gunicorn, uvicorn, Spring Boot, logback, Go `log` and bare
    /// console lines.
    pub plain: u64,
    /// Records with a Java stack trace.
    pub java: u64,
    /// Records with a Python traceback.
    pub python: u64,
    /// Go panics and fatal errors, and net/http's recovered panics.
    pub go: u64,
    /// Records whose first line starts with (or, for JSON and logfmt,
    /// holds) a full date and time; klog, logback and uvicorn write none.
    pub timed: u64,
    /// Records by the level a reader sees, named as the collector names
    /// them (`debug`, `info`, `warning`, `error`, `fatal`; `""` for none).
    pub levels: BTreeMap<&'static str, u64>,
}

impl TextCounts {
    /// Records with a stack trace.
    pub fn traces(&self) -> u64 {
        self.java + self.python + self.go
    }

    /// Records of this level (`""`: no level).
    pub fn level(&self, name: &str) -> u64 {
        self.levels.get(name).copied().unwrap_or(0)
    }
}

impl CorpusStats {
    /// The `n` busiest sites as `(site index, records)`, busiest first.
    pub fn top_sites(&self, n: usize) -> Vec<(usize, u64)> {
        let mut v: Vec<(usize, u64)> = self.site_records.iter().copied().enumerate().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Records with this status (0 when none).
    pub fn status(&self, code: u16) -> u64 {
        self.status_counts.get(&code).copied().unwrap_or(0)
    }
}

impl fmt::Display for CorpusStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "format {} framing {}: {} records, {} lines, {} bytes ({:.1} MiB)",
            self.format.name(),
            self.framing.name(),
            self.records,
            self.lines,
            self.bytes,
            self.bytes as f64 / (1024.0 * 1024.0)
        )?;
        if self.max_ts_ns >= self.min_ts_ns && self.records > 0 {
            writeln!(
                f,
                "event time {} .. {} ({} s), {} out of order",
                self.min_ts_ns / 1_000_000_000,
                self.max_ts_ns / 1_000_000_000,
                (self.max_ts_ns - self.min_ts_ns) / 1_000_000_000,
                self.out_of_order
            )?;
        }
        let active = self.site_records.iter().filter(|&&n| n > 0).count();
        let top: Vec<String> = self
            .top_sites(5)
            .iter()
            .map(|&(i, n)| format!("{}={n}", crate::site_slug(i)))
            .collect();
        writeln!(
            f,
            "sites: {active} of {} with records; top {}; stray hosts {}",
            self.site_records.len(),
            top.join(" "),
            self.stray_host_records
        )?;
        if !self.incident_sites.is_empty() {
            let names: Vec<String> = self
                .incident_sites
                .iter()
                .map(|&i| crate::site_slug(i))
                .collect();
            writeln!(f, "incidents: {}", names.join(" "))?;
        }
        if !self.status_counts.is_empty() {
            let s: Vec<String> = self
                .status_counts
                .iter()
                .map(|(k, v)| {
                    if *k == 0 {
                        format!("-={v}")
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect();
            writeln!(
                f,
                "status: {} (5xx {}); body bytes {}",
                s.join(" "),
                self.status_5xx,
                self.body_bytes
            )?;
        }
        let p = &self.fpm;
        if *p != FpmCounts::default() {
            writeln!(
                f,
                "fpm: started {} exited {} signaled {} max_children {} seems_busy {} slow {} timed_out {} stderr {} lifecycle {} debug {}",
                p.started,
                p.exited,
                p.signaled,
                p.max_children,
                p.seems_busy,
                p.slow,
                p.timed_out,
                p.stderr,
                p.lifecycle,
                p.debug
            )?;
        }
        let p = &self.php;
        if *p != PhpCounts::default() {
            writeln!(
                f,
                "php: fatal {} warning {} notice {} deprecated {} database {}",
                p.fatal, p.warning, p.notice, p.deprecated, p.database
            )?;
        }
        let t = &self.text;
        if *t != TextCounts::default() {
            let levels: Vec<String> = t
                .levels
                .iter()
                .map(|(k, v)| format!("{}={v}", if k.is_empty() { "-" } else { k }))
                .collect();
            writeln!(
                f,
                "text: json {} logfmt {} klog {} plain {}; traces java {} python {} go {}; timed {}; levels {}",
                t.json,
                t.logfmt,
                t.klog,
                t.plain,
                t.java,
                t.python,
                t.go,
                t.timed,
                levels.join(" ")
            )?;
        }
        if self.split_lines > 0 {
            writeln!(
                f,
                "framing: {} long lines split, {} partial chunks",
                self.split_lines, self.partial_chunks
            )?;
        }
        Ok(())
    }
}

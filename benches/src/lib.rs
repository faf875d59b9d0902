//! Seeded, deterministic log corpora of a WordPress hosting farm, for the
//! sitepulse benchmarks and tests.
//!
//! [`generate`] writes `lines` records of one [`Format`] (Traefik CLF or
//! JSON, nginx, PHP-FPM access/error/slow logs, WordPress `debug.log`, other
//! containers' application logs),
//! optionally wrapped in a container runtime's [`Framing`], and returns
//! [`CorpusStats`] describing exactly what was written, so a benchmark can
//! assert that the pipeline it times saw every request, status and site.
//!
//! The same [`CorpusConfig`] always produces the same bytes: randomness
//! comes from a PRNG written in this crate (no `rand` version drift), with
//! separate streams per concern so changing the framing does not change the
//! records.
//!
//! ```
//! use sitepulse_benches::{CorpusConfig, Format, generate};
//!
//! let cfg = CorpusConfig { format: Format::Nginx, lines: 100, ..CorpusConfig::default() };
//! let mut out = Vec::new();
//! let stats = generate(&cfg, &mut out).unwrap();
//! assert_eq!(stats.lines, 100);
//! assert_eq!(stats.bytes, out.len() as u64);
//! assert_eq!(stats.site_records.iter().sum::<u64>(), 100);
//! ```
//!
//! Sites are `site001.example.com` ... ; see [`site_name`], [`router_name`]
//! and friends for how each site appears in each format.

mod access;
mod agents;
mod apptext;
mod corpus;
mod fpm;
mod frame;
mod http;
mod rng;
mod sample;
mod site;
mod stats;
mod text;
mod wordpress;

use std::io::{self, Write};

pub use sample::{SampleFile, write_samples};
pub use site::{namespace, pod_ip, router_name, service_name, service_url, site_name, site_slug};
pub use stats::{CorpusStats, FpmCounts, PhpCounts, TextCounts};

/// A log format; names match the collector's parser names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Format {
    /// Traefik access log, `CommonLogFormatter`:
    /// `client - - [time] "GET /path HTTP/2.0" 200 1234 "referer" "ua" 42 "router" "http://10.42.1.17:80" 12ms`.
    #[default]
    TraefikClf,
    /// Traefik access log, JSON (one object per line, Traefik's field names).
    TraefikJson,
    /// nginx `combined` + ` $request_time $host`.
    Nginx,
    /// PHP-FPM `access.format = "%R - %u %t \"%m %r%Q%q\" %s %f %{mili}d %{kilo}M %C%%"`.
    FpmAccess,
    /// PHP-FPM master error log (`[22-Nov-2026 10:00:00] WARNING: [pool site042] ...`).
    FpmError,
    /// PHP-FPM slow log: multi-line blocks of a header, `script_filename` and frames.
    FpmSlow,
    /// WordPress `debug.log`: PHP errors and database errors; fatals carry a stack trace.
    /// Every site is installed under `/var/www/siteNNN/` (shared hosting, one
    /// PHP error log for all), so the script paths in a message name the site.
    WordPress,
    /// Application logs of the farm's other containers, in no format the
    /// collector knows: zap/zerolog/logrus/slog JSON, logrus/slog logfmt,
    /// klog, Python/Spring/logback lines with a leading time and level,
    /// bare console lines, and now and then a multi-line Java stack trace,
    /// Python traceback or Go panic (one record with the line it follows).
    Text,
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 8] = [
        Format::TraefikClf,
        Format::TraefikJson,
        Format::Nginx,
        Format::FpmAccess,
        Format::FpmError,
        Format::FpmSlow,
        Format::WordPress,
        Format::Text,
    ];

    /// The format's name: `traefik_clf`, `traefik_json`, `nginx`,
    /// `fpm_access`, `fpm_error`, `fpm_slow`, `wordpress`, `text`.
    pub fn name(self) -> &'static str {
        match self {
            Format::TraefikClf => "traefik_clf",
            Format::TraefikJson => "traefik_json",
            Format::Nginx => "nginx",
            Format::FpmAccess => "fpm_access",
            Format::FpmError => "fpm_error",
            Format::FpmSlow => "fpm_slow",
            Format::WordPress => "wordpress",
            Format::Text => "text",
        }
    }

    /// Looks a format up by [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether records describe HTTP requests (and so carry statuses).
    pub fn is_access(self) -> bool {
        matches!(
            self,
            Format::TraefikClf | Format::TraefikJson | Format::Nginx | Format::FpmAccess
        )
    }

    /// Whether one record spans several physical lines.
    pub fn is_multiline(self) -> bool {
        matches!(self, Format::FpmSlow | Format::WordPress | Format::Text)
    }

    /// Records per second when [`CorpusConfig::rps`] is `None`: 300 for
    /// access logs, a few per second for error logs, 100 for application
    /// logs.
    pub fn default_rps(self) -> f64 {
        match self {
            Format::TraefikClf | Format::TraefikJson | Format::Nginx | Format::FpmAccess => 300.0,
            Format::FpmError => 2.0,
            Format::FpmSlow => 0.5,
            Format::WordPress => 5.0,
            Format::Text => 100.0,
        }
    }

    /// The container stream the format goes to under CRI or Docker framing:
    /// `stdout` for Traefik and nginx access logs, `stderr` for PHP-FPM (the
    /// official image sends its access and error logs to stderr), PHP, and
    /// application logs (Go's `log`, zap and klog, and Python's
    /// `logging.StreamHandler`, write to stderr).
    pub fn stream(self) -> &'static [u8] {
        match self {
            Format::TraefikClf | Format::TraefikJson | Format::Nginx => b"stdout",
            _ => b"stderr",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How records are wrapped on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Framing {
    /// As the program writes its own log file.
    #[default]
    None,
    /// Kubernetes CRI log file (`/var/log/pods/...`):
    /// `2026-11-22T10:00:00.123456789Z stdout F <line>`, lines longer than
    /// [`CorpusConfig::max_line_bytes`] split into `P` chunks and a final `F`.
    Cri,
    /// Docker json-file: `{"log":"<line>\n","stream":"stdout","time":"..."}`,
    /// long lines split into entries without the trailing `\n` (cut on a
    /// UTF-8 character boundary).
    Docker,
}

impl Framing {
    /// Every framing.
    pub const ALL: [Framing; 3] = [Framing::None, Framing::Cri, Framing::Docker];

    /// `none`, `cri` or `docker`.
    pub fn name(self) -> &'static str {
        match self {
            Framing::None => "none",
            Framing::Cri => "cri",
            Framing::Docker => "docker",
        }
    }

    /// Looks a framing up by [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Framing> {
        Framing::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl std::fmt::Display for Framing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// 2026-11-22T10:00:00Z, the default corpus start.
pub const DEFAULT_START_UNIX_SECS: i64 = 1_795_341_600;

/// What to generate. `Default` is 100,000 Traefik CLF lines over 500 sites
/// from seed 1, starting 2026-11-22T10:00:00Z at 300 requests per second.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusConfig {
    /// PRNG seed; the same config and seed give the same bytes.
    pub seed: u64,
    /// Number of sites (`site001` ...), at most 64,000.
    pub sites: usize,
    /// Zipf exponent of site popularity (1.1: the busiest site gets ~18% of
    /// 500 sites' traffic, the median one ~0.04%).
    pub zipf_exponent: f64,
    /// Records to write: lines for single-line formats, blocks (fpm_slow) or
    /// entries (wordpress, text) for multi-line ones.
    pub lines: u64,
    /// Event time of the first record, Unix seconds (UTC).
    pub start_unix_secs: i64,
    /// Records per second; the corpus spans `lines / rps` seconds. `None`:
    /// [`Format::default_rps`].
    pub rps: Option<f64>,
    /// The format.
    pub format: Format,
    /// The framing.
    pub framing: Framing,
    /// Longest line content a CRI or Docker record holds before it is split
    /// (16 KiB, as containerd and Docker do; set it small to test joining).
    pub max_line_bytes: usize,
    /// Zero-based index of the one site every record belongs to (a per-pod
    /// file); `None`: all sites, Zipf-distributed.
    pub only_site: Option<usize>,
    /// Whether two popular sites have an incident (bursts of 502/503/504 and
    /// 3x slower answers, more FPM saturation events) during the 35%-45%
    /// stretch of the corpus.
    pub incidents: bool,
    /// Share of records whose event time is moved by up to ±2 s (out of
    /// order, as interleaved writers produce). Access logs and debug.log
    /// only; FPM's master writes in order.
    pub jitter_ratio: f64,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        CorpusConfig {
            seed: 1,
            sites: 500,
            zipf_exponent: 1.1,
            lines: 100_000,
            start_unix_secs: DEFAULT_START_UNIX_SECS,
            rps: None,
            format: Format::TraefikClf,
            framing: Framing::None,
            max_line_bytes: 16 * 1024,
            only_site: None,
            incidents: true,
            jitter_ratio: 0.03,
        }
    }
}

impl CorpusConfig {
    /// The default config for `format`.
    pub fn new(format: Format) -> Self {
        CorpusConfig {
            format,
            ..CorpusConfig::default()
        }
    }

    /// Records per second in effect.
    pub fn effective_rps(&self) -> f64 {
        self.rps.unwrap_or_else(|| self.format.default_rps())
    }

    /// Seconds of event time the corpus spans.
    pub fn span_secs(&self) -> f64 {
        self.lines as f64 / self.effective_rps()
    }

    fn validate(&self) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.sites == 0 || self.sites > 64_000 {
            return bad(format!("sites must be 1..=64000, got {}", self.sites));
        }
        if !(self.zipf_exponent.is_finite() && self.zipf_exponent >= 0.0) {
            return bad(format!(
                "zipf_exponent must be >= 0, got {}",
                self.zipf_exponent
            ));
        }
        let rps = self.effective_rps();
        if !(rps.is_finite() && rps > 0.0) {
            return bad(format!("rps must be > 0, got {rps}"));
        }
        if self.max_line_bytes == 0 {
            return bad("max_line_bytes must be > 0".into());
        }
        if let Some(s) = self.only_site
            && s >= self.sites
        {
            return bad(format!("only_site {s} is not below sites {}", self.sites));
        }
        if !(0.0..=1.0).contains(&self.jitter_ratio) {
            return bad(format!(
                "jitter_ratio must be 0..=1, got {}",
                self.jitter_ratio
            ));
        }
        let end = (self.span_secs() + self.start_unix_secs as f64 + 120.0) * 1e9;
        if self.start_unix_secs < 0 || end >= i64::MAX as f64 {
            return bad("start_unix_secs and span must fit Unix nanoseconds after 1970".into());
        }
        Ok(())
    }
}

/// Writes the corpus `cfg` describes to `out` and returns what was written.
/// Wrap a file in a `BufWriter`: records are written one `write_all` each.
///
/// # Errors
/// `InvalidInput` for a config out of range; otherwise any error of `out`.
///
/// # Performance
/// One reused line buffer, no allocation per record. Release build, one
/// core: 1M Traefik CLF lines (330 MB) in about 1 s of CPU, 1M Traefik JSON
/// lines (1.26 GB) in about 2.5 s.
pub fn generate(cfg: &CorpusConfig, out: &mut impl Write) -> io::Result<CorpusStats> {
    corpus::run(cfg, out)
}

/// [`generate`] into memory: the corpus bytes and their stats.
///
/// # Errors
/// `InvalidInput` for a config out of range.
pub fn generate_vec(cfg: &CorpusConfig) -> io::Result<(Vec<u8>, CorpusStats)> {
    let mut out = Vec::with_capacity((cfg.lines as usize).saturating_mul(320).min(1 << 30));
    let stats = generate(cfg, &mut out)?;
    Ok((out, stats))
}

#[cfg(test)]
mod tests;

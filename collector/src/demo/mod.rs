//! The bundled log writer behind `sitepulse run --demo`: a thread that
//! appends made-up but realistic Traefik, PHP-FPM and WordPress log lines,
//! stamped with the current time, under one directory, so a newcomer sees
//! live per-site numbers (with a periodic incident and log rotation) without
//! a hosting farm.
//!
//! The files, and what goes into them:
//!
//! - `traefik/access.log`: Traefik's common format, `lines_per_sec` lines a
//!   second spread over the second in 100 ms batches, for `site01`..`siteNN`
//!   with Zipf-like popularity, WordPress paths, a realistic status mix and
//!   log-normal latencies (static files fast, PHP slower). Router names are
//!   `websecure-siteNN-example-com@kubernetes`.
//! - `php-fpm/error.log`: the FPM master's lines (`fpm is running` at start,
//!   child recycling, slow and timed-out requests, `pm.max_children`
//!   warnings, PHP fatals a child wrote to stderr), pools named
//!   `siteNN-example-com` so they label as the router's site.
//! - `wordpress/debug.log`: PHP deprecations, notices, warnings, database
//!   errors and fatals (uncaught ones with a stack trace) in files under
//!   `/var/www/sites/siteNN.example.com/`.
//!
//! Every 60 s, from 10 s after the start, one of the busiest sites has a
//! 20 s incident: 30% of its requests fail with 5xx, the rest are ten times
//! slower, and its FPM pool and PHP log what goes wrong.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sitepulse_pipeline::time::{MONTH_NAMES, civil_from_days, format_clf};

mod samples;
mod traffic;

pub use samples::{SAMPLES, write_samples};
use traffic::Gen;

/// Most sites the writer makes up: names stay `siteNNN`-short and well
/// under the site table's default cap.
const MAX_SITES: u32 = 999;

/// Options of the demo writer.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Directory the logs are written under (`traefik/access.log`,
    /// `php-fpm/error.log`, `wordpress/debug.log`). Default:
    /// `sitepulse-demo` in the system's temporary directory.
    pub dir: PathBuf,
    /// Traefik access-log lines per second, over all sites (the FPM and
    /// WordPress logs add a few lines a second). Default 400.
    pub lines_per_sec: u32,
    /// Number of sites, `site01`..`siteNN`; 1 to 999. Default 24.
    pub sites: u32,
    /// Rotate `traefik/access.log` to `access.log.1` this often, the way
    /// logrotate's `create` does; 0 never rotates. Default 120.
    pub rotate_every_secs: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            dir: std::env::temp_dir().join("sitepulse-demo"),
            lines_per_sec: 400,
            sites: 24,
            rotate_every_secs: 120,
        }
    }
}

/// A running writer; dropping it or calling [`stop`](Self::stop) stops the
/// thread.
pub struct DemoWriter {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
    lines: Arc<AtomicU64>,
}

impl fmt::Debug for DemoWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoWriter")
            .field("lines_written", &self.lines_written())
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl DemoWriter {
    /// Creates `cfg.dir/traefik/access.log`, `cfg.dir/php-fpm/error.log`
    /// and `cfg.dir/wordpress/debug.log` (directories created; existing
    /// files appended to) and starts a std::thread that appends lines with
    /// the current wall-clock time.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] when `cfg.sites` is 0 or above
    /// 999; the error of creating a directory, opening a file or
    /// spawning the thread. Errors while running come from
    /// [`stop`](Self::stop).
    pub fn start(cfg: DemoConfig) -> io::Result<DemoWriter> {
        let timing = Timing::new(cfg.rotate_every_secs);
        Self::start_with(cfg, timing)
    }

    /// [`start`](Self::start) with explicit timing (tests shorten it).
    fn start_with(cfg: DemoConfig, timing: Timing) -> io::Result<DemoWriter> {
        if cfg.sites == 0 || cfg.sites > MAX_SITES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "demo: sites must be between 1 and {MAX_SITES}, got {}",
                    cfg.sites
                ),
            ));
        }
        let logs = Logs::open(&cfg.dir)?;
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 32);
        let (tx, rx) = mpsc::channel();
        let lines = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&lines);
        let thread = std::thread::Builder::new()
            .name("sitepulse-demo".into())
            .spawn(move || run(&cfg, timing, logs, &rx, &counter, seed))?;
        Ok(DemoWriter {
            stop: Some(tx),
            thread: Some(thread),
            lines,
        })
    }

    /// Lines written so far (all files; a stack trace counts each line).
    pub fn lines_written(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    /// Stops the thread after its current batch and waits for it.
    ///
    /// # Errors
    /// The first I/O error the thread met (it stops writing at the first
    /// one), or an error saying that it panicked.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        // Dropping the sender wakes the thread at once (Disconnected).
        drop(self.stop.take());
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("demo writer thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for DemoWriter {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// When things happen; [`Timing::new`] gives the documented schedule.
#[derive(Debug, Clone, Copy)]
struct Timing {
    tick: Duration,
    rotate_every: Option<Duration>,
    first_incident: Duration,
    incident_every: Duration,
    incident_len: Duration,
}

impl Timing {
    fn new(rotate_every_secs: u64) -> Timing {
        Timing {
            tick: Duration::from_millis(100),
            rotate_every: (rotate_every_secs > 0).then(|| Duration::from_secs(rotate_every_secs)),
            first_incident: Duration::from_secs(10),
            incident_every: Duration::from_secs(60),
            incident_len: Duration::from_secs(20),
        }
    }

    /// The number (0, 1, ...) of the incident under way `t` after the
    /// start, if one is.
    fn incident(&self, t: Duration) -> Option<u64> {
        let since = t.checked_sub(self.first_incident)?.as_nanos();
        let every = self.incident_every.as_nanos().max(1);
        (since % every < self.incident_len.as_nanos()).then(|| (since / every) as u64)
    }
}

/// The three open logs.
struct Logs {
    access_path: PathBuf,
    access: LogFile,
    fpm: LogFile,
    wp: LogFile,
}

/// A log file fed whole lines: `write!`/`writeln!` on it format into a
/// scratch buffer first and hand the `BufWriter` one complete line (or
/// multi-line record), so the buffer only ever spills whole lines and a
/// tailer never sees half of one.
struct LogFile {
    out: BufWriter<File>,
    scratch: Vec<u8>,
}

impl LogFile {
    fn new(file: File) -> LogFile {
        LogFile {
            out: BufWriter::with_capacity(64 * 1024, file),
            scratch: Vec::with_capacity(1024),
        }
    }

    /// What `write!` calls: formats `args`, then writes them in one piece.
    fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
        self.scratch.clear();
        self.scratch.write_fmt(args)?;
        self.out.write_all(&self.scratch)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Logs {
    fn open(dir: &Path) -> io::Result<Logs> {
        let open = |sub: &str, name: &str| -> io::Result<(PathBuf, LogFile)> {
            let d = dir.join(sub);
            fs::create_dir_all(&d)?;
            let path = d.join(name);
            let file = append(&path)?;
            Ok((path, LogFile::new(file)))
        };
        let (access_path, access) = open("traefik", "access.log")?;
        let (_, fpm) = open("php-fpm", "error.log")?;
        let (_, wp) = open("wordpress", "debug.log")?;
        Ok(Logs {
            access_path,
            access,
            fpm,
            wp,
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.access.flush()?;
        self.fpm.flush()?;
        self.wp.flush()
    }

    /// logrotate `create`: rename the live file to `.1` (replacing the
    /// older one), then create a new one at the path.
    fn rotate_access(&mut self) -> io::Result<()> {
        self.access.flush()?;
        let mut rotated = self.access_path.clone().into_os_string();
        rotated.push(".1");
        fs::rename(&self.access_path, rotated)?;
        self.access = LogFile::new(append(&self.access_path)?);
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The writer thread: a batch every tick until the sender goes away.
fn run(
    cfg: &DemoConfig,
    timing: Timing,
    mut logs: Logs,
    stop: &Receiver<()>,
    lines: &AtomicU64,
    seed: u64,
) -> io::Result<()> {
    const NS: u128 = 1_000_000_000;
    let mut g = Gen::new(seed, cfg.sites);
    let start = Instant::now();
    let mut next = start;
    let mut last_rotation = start;
    let mut owed: u128 = 0;
    let n = g.fpm_startup(&mut logs.fpm, &Stamp::now())?;
    logs.flush()?;
    lines.fetch_add(n, Ordering::Relaxed);
    loop {
        next += timing.tick;
        match stop.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        let now = Instant::now();
        if now.saturating_duration_since(next) > Duration::from_secs(1) {
            // Stalled (suspend, a slow disk): skip the backlog, not burst it.
            next = now;
        }
        if let Some(every) = timing.rotate_every
            && now.duration_since(last_rotation) >= every
        {
            logs.rotate_access()?;
            last_rotation = now;
        }
        owed += u128::from(cfg.lines_per_sec) * timing.tick.as_nanos();
        let requests = (owed / NS) as u64;
        owed %= NS;
        let incident = timing
            .incident(now.duration_since(start))
            .map(|k| g.incident_site(k));
        let batch = Batch {
            stamp: Stamp::now(),
            secs: timing.tick.as_secs_f64(),
            incident,
        };
        let n = g.batch(&mut logs, &batch, requests)?;
        logs.flush()?;
        lines.fetch_add(n, Ordering::Relaxed);
    }
}

/// A log timestamp, formatted once per batch.
struct Stamp {
    /// `22/Nov/2026:10:00:00 +0000`.
    clf: String,
    /// `22-Nov-2026 10:00:00`.
    php: String,
}

impl Stamp {
    fn now() -> Stamp {
        Stamp::at(crate::unix_now())
    }

    fn at(unix_secs: i64) -> Stamp {
        let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
        let sod = unix_secs.rem_euclid(86_400);
        let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
        let mon = MONTH_NAMES[(m as usize + 11) % 12];
        Stamp {
            clf: format_clf(unix_secs),
            php: format!("{d:02}-{mon}-{y:04} {hh:02}:{mm:02}:{ss:02}"),
        }
    }
}

/// What one batch is written with.
struct Batch {
    stamp: Stamp,
    /// Length of the batch's slice of time, for event rates.
    secs: f64,
    /// The site having an incident, if any.
    incident: Option<usize>,
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use sitepulse_pipeline::parse::{self, record_start};
    use sitepulse_pipeline::record::{Event, LogFormat};

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sitepulse-demo-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    /// A parsed record's fields the tests look at.
    #[derive(Debug)]
    struct Seen {
        ts: i64,
        router: String,
        status: u16,
        count: u64,
        event: Event,
        pool: String,
    }

    /// Physical lines of a file, checking that it ends with a whole line.
    fn lines(path: &Path) -> Vec<Vec<u8>> {
        let text = fs::read(path).unwrap();
        if text.is_empty() {
            return Vec::new();
        }
        assert_eq!(
            text.last(),
            Some(&b'\n'),
            "{}: partial last line",
            path.display()
        );
        text[..text.len() - 1]
            .split(|&c| c == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// Joins physical lines into records the way the framer does.
    fn records(source: LogFormat, lines: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for l in lines {
            match out.last_mut() {
                Some(last) if record_start(source).is_some_and(|s| !s(l)) => {
                    last.push(b'\n');
                    last.extend_from_slice(l);
                }
                _ => out.push(l.clone()),
            }
        }
        out
    }

    /// Parses every record of `bytes` as `source`, failing on any error.
    fn parse_all(source: LogFormat, bytes: &[Vec<u8>]) -> Vec<Seen> {
        records(source, bytes)
            .iter()
            .map(|r| match parse::parse(source, r) {
                Ok(rec) => Seen {
                    ts: rec.ts_ns.unwrap() / 1_000_000_000,
                    router: String::from_utf8(rec.router.to_vec()).unwrap(),
                    status: rec.status,
                    count: rec.request_count,
                    event: rec.event,
                    pool: String::from_utf8(rec.pool.to_vec()).unwrap(),
                },
                Err(e) => panic!("{}: {e}: {}", source.name(), String::from_utf8_lossy(r)),
            })
            .collect()
    }

    fn parse_file(source: LogFormat, path: &Path) -> Vec<Seen> {
        parse_all(source, &lines(path))
    }

    /// Timing with an incident under way from the start.
    fn fast(rotate_every: Option<Duration>) -> Timing {
        Timing {
            first_incident: Duration::ZERO,
            rotate_every,
            ..Timing::new(0)
        }
    }

    #[test]
    fn stamp_formats() {
        let s = Stamp::at(1_795_341_600);
        assert_eq!(s.clf, "22/Nov/2026:10:00:00 +0000");
        assert_eq!(s.php, "22-Nov-2026 10:00:00");
        let s = Stamp::at(1_795_341_600 - 10 * 86_400 * 31 + 3_723);
        assert_eq!(s.clf, "16/Jan/2026:11:02:03 +0000");
        assert_eq!(s.php, "16-Jan-2026 11:02:03");
    }

    #[test]
    fn incident_schedule() {
        let t = Timing::new(0);
        let at = |s| t.incident(Duration::from_secs(s));
        assert_eq!(
            (at(0), at(9), at(10), at(29), at(30)),
            (None, None, Some(0), Some(0), None)
        );
        assert_eq!(
            (at(69), at(70), at(89), at(90)),
            (None, Some(1), Some(1), None)
        );
    }

    #[test]
    fn writes_lines_every_parser_accepts() {
        let dir = tmp("run");
        let access = dir.join("traefik/access.log");
        // An existing file is appended to, not replaced.
        fs::create_dir_all(access.parent().unwrap()).unwrap();
        let old = fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/samples/traefik_clf.log"
        ))
        .unwrap();
        let old = old
            .split_inclusive(|&c| c == b'\n')
            .next()
            .unwrap()
            .to_vec();
        fs::write(&access, &old).unwrap();

        let before = crate::unix_now();
        let cfg = DemoConfig {
            dir: dir.clone(),
            lines_per_sec: 2000,
            sites: 24,
            rotate_every_secs: 0,
        };
        let w = DemoWriter::start_with(cfg, fast(None)).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let written = w.lines_written();
        w.stop().unwrap();
        let after = crate::unix_now();

        let mut access_lines = lines(&access);
        assert_eq!(access_lines.remove(0), old[..old.len() - 1]);
        let physical = access_lines.len()
            + lines(&dir.join("php-fpm/error.log")).len()
            + lines(&dir.join("wordpress/debug.log")).len();
        assert!(written >= 1000, "only {written} lines in 1.5 s");
        assert!(physical as u64 >= written, "{physical} < {written}");

        let traefik = parse_all(LogFormat::TraefikClf, &access_lines);
        let fpm = parse_file(LogFormat::FpmError, &dir.join("php-fpm/error.log"));
        let wp = parse_file(LogFormat::WordPress, &dir.join("wordpress/debug.log"));
        assert!(traefik.len() >= 1000, "{} access lines", traefik.len());
        assert!(fpm.len() >= 2, "{} FPM lines", fpm.len());
        for r in traefik.iter().chain(&fpm).chain(&wp) {
            assert!(
                (before - 1..=after + 1).contains(&r.ts),
                "time {} outside {before}..={after}",
                r.ts
            );
        }
        let routers: BTreeSet<&str> = traefik.iter().map(|r| r.router.as_str()).collect();
        assert!(routers.len() >= 5, "routers: {routers:?}");
        assert!(
            routers
                .iter()
                .all(|r| r.starts_with("websecure-site") && r.ends_with("-example-com@kubernetes"))
        );
        // Traefik's request counter runs on.
        assert!(traefik.windows(2).all(|w| w[1].count == w[0].count + 1));
        // Pools are named so they label as the router's site.
        for r in fpm.iter().filter(|r| !r.pool.is_empty()) {
            let router = format!("websecure-{}@kubernetes", r.pool);
            assert!(routers.contains(router.as_str()), "pool {}", r.pool);
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn rotates_like_logrotate_create() {
        let dir = tmp("rotate");
        let cfg = DemoConfig {
            dir: dir.clone(),
            lines_per_sec: 2000,
            sites: 8,
            rotate_every_secs: 0,
        };
        let timing = fast(Some(Duration::from_millis(350)));
        let w = DemoWriter::start_with(cfg, timing).unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        w.stop().unwrap();
        let rotated = dir.join("traefik/access.log.1");
        assert!(rotated.exists());
        let old = parse_file(LogFormat::TraefikClf, &rotated);
        let new = parse_file(LogFormat::TraefikClf, &dir.join("traefik/access.log"));
        assert!(
            !old.is_empty() && !new.is_empty(),
            "{} / {}",
            old.len(),
            new.len()
        );
        // The new file continues where the rotated one stopped.
        assert_eq!(
            old.last().unwrap().count + 1,
            new.first().unwrap().count,
            "lines lost or duplicated at rotation"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn rejects_bad_site_counts() {
        for sites in [0, MAX_SITES + 1] {
            let cfg = DemoConfig {
                dir: tmp("bad"),
                sites,
                ..DemoConfig::default()
            };
            let e = DemoWriter::start(cfg).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn drop_stops_the_thread() {
        let dir = tmp("drop");
        let cfg = DemoConfig {
            dir: dir.clone(),
            lines_per_sec: 100,
            ..DemoConfig::default()
        };
        let w = DemoWriter::start(cfg).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        drop(w);
        let len = fs::metadata(dir.join("traefik/access.log")).unwrap().len();
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(
            fs::metadata(dir.join("traefik/access.log")).unwrap().len(),
            len
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// Many batches in memory, no thread: every kind of line parses, the
    /// incident site fails about 30% of its requests and logs FPM trouble,
    /// and popularity is skewed.
    #[test]
    fn model_in_memory() {
        let mut g = Gen::new(42, 24);
        let dir = tmp("model");
        let mut logs = Logs::open(&dir).unwrap();
        let hot = 3;
        let st = Stamp::at(1_795_341_600);
        let mut b = Batch {
            stamp: st,
            secs: 0.1,
            incident: Some(hot),
        };
        let mut n = g.fpm_startup(&mut logs.fpm, &b.stamp).unwrap();
        for _ in 0..600 {
            n += g.batch(&mut logs, &b, 40).unwrap();
        }
        b.incident = None;
        for _ in 0..600 {
            n += g.batch(&mut logs, &b, 40).unwrap();
        }
        logs.flush().unwrap();
        drop(logs);

        let access = lines(&dir.join("traefik/access.log"));
        let fpm_lines = lines(&dir.join("php-fpm/error.log"));
        let wp_lines = lines(&dir.join("wordpress/debug.log"));
        assert_eq!(n as usize, access.len() + fpm_lines.len() + wp_lines.len());
        let traefik = parse_all(LogFormat::TraefikClf, &access);
        let fpm = parse_all(LogFormat::FpmError, &fpm_lines);
        let wp = parse_all(LogFormat::WordPress, &wp_lines);
        assert_eq!(traefik.len(), 48_000);

        let hot_router = format!("websecure-{}-example-com@kubernetes", g.sites[hot].name);
        let (mut by_router, mut hot_5xx, mut hot_n, mut cold_5xx) = (BTreeMap::new(), 0, 0, 0);
        for (i, r) in traefik.iter().enumerate() {
            *by_router.entry(r.router.as_str()).or_insert(0u32) += 1;
            let err = u32::from(r.status >= 500);
            if i < 24_000 && r.router == hot_router {
                hot_n += 1;
                hot_5xx += err;
            } else {
                cold_5xx += err;
            }
        }
        let hot_ratio = f64::from(hot_5xx) / f64::from(hot_n);
        let cold_ratio = f64::from(cold_5xx) / (48_000.0 - f64::from(hot_n));
        assert!(
            (0.25..0.36).contains(&hot_ratio),
            "incident 5xx {hot_ratio}"
        );
        assert!(cold_ratio < 0.02, "normal 5xx {cold_ratio}");
        assert_eq!(by_router.len(), 24);
        let top = by_router["websecure-site01-example-com@kubernetes"];
        let last = by_router["websecure-site24-example-com@kubernetes"];
        assert!(top > 10 * last, "site01 {top}, site24 {last}");

        let hot_pool = format!("{}-example-com", g.sites[hot].name);
        let count = |e: Event| {
            fpm.iter()
                .filter(|r| r.event == e && r.pool == hot_pool)
                .count()
        };
        assert!(count(Event::MaxChildrenReached) > 30);
        assert!(count(Event::SlowRequest) > 100);
        assert!(count(Event::RequestTimeout) > 10);
        assert!(count(Event::ChildTerminated) > 10);
        assert!(fpm.iter().any(|r| r.event == Event::ChildExited));
        assert!(fpm.iter().any(|r| r.event == Event::PhpFatal));
        assert!(wp.iter().any(|r| r.event == Event::PhpFatal));
        assert!(wp.iter().any(|r| r.event == Event::DatabaseError));
        assert!(wp.iter().any(|r| r.event == Event::PhpDeprecated));
        let _ = fs::remove_dir_all(&dir);
    }
}

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

use sitepulse_pipeline::time::civil_from_days;

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
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Stamp::at(i64::try_from(secs).unwrap_or(0))
    }

    fn at(unix_secs: i64) -> Stamp {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
        let sod = unix_secs.rem_euclid(86_400);
        let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
        let mon = MONTHS[(m as usize + 11) % 12];
        Stamp {
            clf: format!("{d:02}/{mon}/{y:04}:{hh:02}:{mm:02}:{ss:02} +0000"),
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

/// SplitMix64 (Steele, Lea and Flood): tiny, and good enough for made-up
/// traffic.
struct Rng(u64);

/// A new FPM child for `site`'s pool: its `started` line, and the pid
/// moves on.
fn respawn(
    out: &mut LogFile,
    t: &str,
    pool: &str,
    site: &mut Site,
    rng: &mut Rng,
) -> io::Result<()> {
    writeln!(
        out,
        "[{t}] NOTICE: [pool {pool}] child {} started",
        site.next_pid
    )?;
    site.next_pid += 1 + rng.below(5) as u32;
    Ok(())
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo))
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    /// One of `xs` with probability proportional to its weight.
    fn weighted<T: Copy>(&mut self, xs: &[(T, u32)]) -> T {
        let total: u64 = xs.iter().map(|&(_, w)| u64::from(w)).sum();
        let mut r = self.below(total);
        for &(x, w) in xs {
            if r < u64::from(w) {
                return x;
            }
            r -= u64::from(w);
        }
        xs[xs.len() - 1].0
    }

    /// Log-normal with the given median (Box-Muller for the normal).
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        median * (sigma * z).exp()
    }

    /// How many events of a `per_sec` rate fall in `secs`: the fraction is
    /// kept by chance, so the mean is exact.
    fn events(&mut self, per_sec: f64, secs: f64) -> u32 {
        (per_sec * secs + self.unit()) as u32
    }
}

/// One made-up site.
struct Site {
    /// `site07`.
    name: String,
    /// Zipf weight summed over this site and the more popular ones.
    cum_weight: f64,
    /// Latency multiplier: some sites are heavier than others.
    slowness: f64,
    /// Last octets of its two pods (`10.42.a.b`).
    pods: [(u8, u8); 2],
    /// `pm.max_children` of its pool.
    max_children: u32,
    /// Next FPM child pid of its pool.
    next_pid: u32,
}

/// What a request is, which decides path, status, size and latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Page,
    Static,
    Ajax,
    Rest,
    Cron,
    Login,
    Xmlrpc,
    Probe,
}

const KINDS: [(Kind, u32); 8] = [
    (Kind::Static, 40),
    (Kind::Page, 34),
    (Kind::Ajax, 8),
    (Kind::Rest, 6),
    (Kind::Cron, 3),
    (Kind::Login, 3),
    (Kind::Xmlrpc, 2),
    (Kind::Probe, 4),
];

const SLUGS: [&str; 10] = [
    "hello-world",
    "summer-sale",
    "how-to-brew-coffee",
    "release-notes",
    "team-update",
    "best-hiking-trails",
    "lemon-tart-recipe",
    "privacy-policy",
    "our-story",
    "black-friday-deals",
];
const CATEGORIES: [&str; 4] = ["news", "recipes", "travel", "uncategorized"];
const THEMES: [&str; 3] = ["twentytwentyfive", "astra", "generatepress"];
const PLUGINS: [&str; 4] = ["woocommerce", "contact-form-7", "elementor", "jetpack"];
const PROBES: [&str; 5] = [
    "/.env",
    "/wp-config.php.bak",
    "/wp-content/plugins/revslider/temp/update_extract/",
    "/old-page/",
    "/.git/config",
];
const BROWSERS: [(&str, u32); 7] = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
        30,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
        25,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36",
        15,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0",
        8,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Safari/605.1.15",
        10,
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/142.0.7444.59 Safari/537.36",
        8,
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
        4,
    ),
];
const SCANNERS: [&str; 3] = [
    "python-requests/2.32.3",
    "Mozilla/5.0 zgrab/0.x",
    "Go-http-client/1.1",
];

/// One request, before it is written.
struct Request {
    method: &'static str,
    path: String,
    status: u16,
    bytes: u64,
    ms: u64,
}

/// The traffic model and its state.
struct Gen {
    rng: Rng,
    seed: u64,
    sites: Vec<Site>,
    /// Traefik's per-instance request counter.
    requests: u64,
}

impl Gen {
    fn new(seed: u64, sites: u32) -> Gen {
        let mut rng = Rng(seed);
        let width = sites.to_string().len().max(2);
        let mut cum_weight = 0.0;
        let sites = (1..=sites)
            .map(|i| {
                cum_weight += 1.0 / f64::from(i).powf(1.1);
                let h = mix(seed ^ u64::from(i));
                Site {
                    name: format!("site{i:0width$}"),
                    cum_weight,
                    slowness: 0.6 + rng.unit() * 1.6,
                    pods: [
                        (1 + (h % 30) as u8, 2 + (h >> 8) as u8 % 250),
                        (1 + (h >> 16) as u8 % 30, 2 + (h >> 24) as u8 % 250),
                    ],
                    max_children: [5, 8, 10, 16, 20][(h >> 32) as usize % 5],
                    next_pid: rng.range(1000, 30_000) as u32,
                }
            })
            .collect();
        Gen {
            rng,
            seed,
            sites,
            requests: 1,
        }
    }

    /// A site by popularity (Zipf, exponent 1.1).
    fn pick_site(&mut self) -> usize {
        let total = self.sites.last().map_or(0.0, |s| s.cum_weight);
        let r = self.rng.unit() * total;
        self.sites
            .partition_point(|s| s.cum_weight <= r)
            .min(self.sites.len() - 1)
    }

    /// The site of incident number `k`: one of the six busiest, so it shows
    /// near the top of the table.
    fn incident_site(&self, k: u64) -> usize {
        (mix(self.seed ^ k.wrapping_mul(0x2545_F491_4F6C_DD1D)) % self.sites.len().min(6) as u64)
            as usize
    }

    /// Writes one batch: `requests` access-log lines, then the FPM and
    /// WordPress lines that fall in it. Returns the lines written.
    fn batch(&mut self, logs: &mut Logs, b: &Batch, requests: u64) -> io::Result<u64> {
        for _ in 0..requests {
            self.access_line(&mut logs.access, b)?;
        }
        let mut n = requests;
        for _ in 0..self.rng.events(0.3, b.secs) {
            let s = self.pick_site();
            n += self.fpm_event(&mut logs.fpm, b, s, false)?;
        }
        for _ in 0..self.rng.events(0.6, b.secs) {
            let s = self.pick_site();
            n += self.wp_event(&mut logs.wp, b, s, false)?;
        }
        if let Some(s) = b.incident {
            // About once a second, as FPM's process manager checks.
            for _ in 0..self.rng.events(1.0, b.secs) {
                n += self.fpm_max_children(&mut logs.fpm, b, s)?;
            }
            for _ in 0..self.rng.events(4.0, b.secs) {
                n += self.fpm_event(&mut logs.fpm, b, s, true)?;
            }
            for _ in 0..self.rng.events(1.0, b.secs) {
                n += self.wp_event(&mut logs.wp, b, s, true)?;
            }
        }
        Ok(n)
    }

    fn access_line(&mut self, out: &mut LogFile, b: &Batch) -> io::Result<()> {
        let s = self.pick_site();
        let hot = b.incident == Some(s);
        let kind = self.rng.weighted(&KINDS);
        let req = self.request(s, kind, hot);
        let rng = &mut self.rng;
        let site = &self.sites[s];
        let proto = if matches!(kind, Kind::Cron | Kind::Probe) || rng.chance(0.3) {
            "HTTP/1.1"
        } else {
            "HTTP/2.0"
        };
        let referer = match kind {
            Kind::Static | Kind::Ajax => format!("https://{}.example.com/", site.name),
            Kind::Page if rng.chance(0.35) => format!("https://{}.example.com/", site.name),
            Kind::Page if rng.chance(0.4) => "https://www.google.com/".to_owned(),
            _ => "-".to_owned(),
        };
        let ua = match kind {
            Kind::Cron => format!("WordPress/6.8.3; https://{}.example.com", site.name),
            Kind::Probe | Kind::Xmlrpc => (*rng.pick(&SCANNERS)).to_owned(),
            _ => rng.weighted(&BROWSERS).to_owned(),
        };
        let (a, c) = site.pods[rng.below(2) as usize];
        writeln!(
            out,
            "{} - - [{}] \"{} {} {proto}\" {} {} \"{referer}\" \"{ua}\" {} \"websecure-{}-example-com@kubernetes\" \"http://10.42.{a}.{c}:80\" {}ms",
            client(rng),
            b.stamp.clf,
            req.method,
            req.path,
            req.status,
            req.bytes,
            self.requests,
            site.name,
            req.ms,
        )?;
        self.requests += 1;
        Ok(())
    }

    /// Makes up a request of `kind` to site `s`; `hot` when the site has an
    /// incident.
    fn request(&mut self, s: usize, kind: Kind, hot: bool) -> Request {
        let rng = &mut self.rng;
        let site = &self.sites[s];
        let month = rng.range(1, 12);
        let (method, path) = match kind {
            Kind::Page => {
                let path = match rng.below(10) {
                    0..=2 => "/".to_owned(),
                    3 => format!("/?p={}", rng.range(2, 900)),
                    4 => format!("/category/{}/", rng.pick(&CATEGORIES)),
                    5 => format!("/?s={}", rng.pick(&CATEGORIES)),
                    _ => format!("/2026/{month:02}/{}/", rng.pick(&SLUGS)),
                };
                ("GET", path)
            }
            Kind::Static => {
                let path = match rng.below(6) {
                    0 => format!(
                        "/wp-content/themes/{}/style.css?ver=1.2.0",
                        rng.pick(&THEMES)
                    ),
                    1 => "/wp-includes/js/jquery/jquery.min.js?ver=3.7.1".to_owned(),
                    2 => "/wp-includes/css/dist/block-library/style.min.css?ver=6.8.3".to_owned(),
                    3 => format!(
                        "/wp-content/plugins/{}/assets/css/frontend.css?ver=9.4.2",
                        rng.pick(&PLUGINS)
                    ),
                    4 => format!(
                        "/wp-content/uploads/2026/{month:02}/{}-1024x683.jpg",
                        rng.pick(&SLUGS)
                    ),
                    _ => "/favicon.ico".to_owned(),
                };
                ("GET", path)
            }
            Kind::Ajax if rng.chance(0.7) => ("POST", "/wp-admin/admin-ajax.php".to_owned()),
            Kind::Ajax => (
                "GET",
                "/wp-admin/admin-ajax.php?action=heartbeat".to_owned(),
            ),
            Kind::Rest => {
                let path = match rng.below(3) {
                    0 => "/wp-json/wp/v2/posts?per_page=10".to_owned(),
                    1 => format!("/wp-json/wp/v2/pages/{}", rng.range(2, 60)),
                    _ => "/wp-json/wc/store/v1/cart".to_owned(),
                };
                ("GET", path)
            }
            Kind::Cron => (
                "POST",
                format!(
                    "/wp-cron.php?doing_wp_cron={}.{:06}",
                    1_795_341_600 + rng.below(10_000_000),
                    rng.below(1_000_000)
                ),
            ),
            Kind::Login if rng.chance(0.5) => ("POST", "/wp-login.php".to_owned()),
            Kind::Login => ("GET", "/wp-login.php".to_owned()),
            Kind::Xmlrpc => ("POST", "/xmlrpc.php".to_owned()),
            Kind::Probe => ("GET", (*rng.pick(&PROBES)).to_owned()),
        };

        let php = !matches!(kind, Kind::Static);
        let status = if hot && rng.chance(0.3) {
            rng.weighted(&[(502, 45), (504, 35), (500, 20)])
        } else if php && rng.chance(0.006) {
            rng.weighted(&[(500, 50), (502, 35), (504, 15)])
        } else {
            match kind {
                Kind::Static if rng.chance(0.3) => 304,
                Kind::Static if rng.chance(0.03) => 404,
                Kind::Page if path.starts_with("/?p=") => 301,
                Kind::Page if rng.chance(0.05) => 404,
                Kind::Login if method == "POST" && rng.chance(0.4) => 302,
                Kind::Xmlrpc if rng.chance(0.2) => 403,
                Kind::Probe => 404,
                _ => 200,
            }
        };

        let (median, sigma) = match (kind, status) {
            (_, 304) => (1.0, 0.5),
            (Kind::Static, _) => (2.0, 0.7),
            (_, 301 | 302) => (60.0 * site.slowness, 0.6),
            (Kind::Page, _) => (120.0 * site.slowness, 0.7),
            (Kind::Ajax, _) => (250.0 * site.slowness, 0.9),
            (Kind::Rest, _) => (180.0 * site.slowness, 0.8),
            (Kind::Cron, _) => (400.0 * site.slowness, 1.0),
            (Kind::Login | Kind::Xmlrpc, _) => (300.0 * site.slowness, 0.6),
            (Kind::Probe, _) => (150.0 * site.slowness, 0.5),
        };
        let ms = match status {
            // FPM's request_terminate_timeout, then the gateway gives up.
            504 => rng.range(30_000, 30_400) as f64,
            502 => rng.lognormal(8.0, 1.0),
            _ if hot => 10.0 * rng.lognormal(median, sigma),
            _ => rng.lognormal(median, sigma),
        };
        let bytes = match (kind, status) {
            (_, 301 | 302 | 304) => 0,
            (_, 403) => 146,
            (_, 500) => 2_700 + rng.below(200),
            (_, 502) => 11,
            (_, 504) => 15,
            (_, 404) => rng.lognormal(24_000.0, 0.2) as u64,
            (Kind::Static, _) => rng.lognormal(30_000.0, 1.0) as u64,
            (Kind::Page, _) => rng.lognormal(60_000.0, 0.5) as u64,
            (Kind::Ajax, _) => rng.lognormal(300.0, 1.0) as u64,
            (Kind::Rest, _) => rng.lognormal(12_000.0, 0.8) as u64,
            (Kind::Cron, _) => 0,
            _ => rng.lognormal(4_000.0, 0.5) as u64,
        };
        Request {
            method,
            path,
            status,
            bytes,
            ms: ms.clamp(0.0, 120_000.0).round() as u64,
        }
    }

    /// `fpm is running` and `ready to handle connections`, as FPM starts.
    fn fpm_startup(&mut self, out: &mut LogFile, st: &Stamp) -> io::Result<u64> {
        writeln!(out, "[{}] NOTICE: fpm is running, pid 1", st.php)?;
        writeln!(out, "[{}] NOTICE: ready to handle connections", st.php)?;
        Ok(2)
    }

    fn fpm_max_children(&mut self, out: &mut LogFile, b: &Batch, s: usize) -> io::Result<u64> {
        let site = &self.sites[s];
        writeln!(
            out,
            "[{}] WARNING: [pool {}-example-com] server reached pm.max_children setting ({}), consider raising it",
            b.stamp.php, site.name, site.max_children
        )?;
        Ok(1)
    }

    /// One FPM master event for site `s`: in an incident mostly slow and
    /// timed-out requests, otherwise mostly children recycled after
    /// `pm.max_requests`. Returns the lines written.
    fn fpm_event(&mut self, out: &mut LogFile, b: &Batch, s: usize, hot: bool) -> io::Result<u64> {
        #[derive(Clone, Copy)]
        enum What {
            Recycle,
            Slow,
            Timeout,
            Fatal,
            MaxChildren,
        }
        let what = if hot {
            self.rng
                .weighted(&[(What::Slow, 70), (What::Timeout, 20), (What::Fatal, 10)])
        } else {
            self.rng.weighted(&[
                (What::Recycle, 70),
                (What::Slow, 25),
                (What::MaxChildren, 5),
            ])
        };
        let rng = &mut self.rng;
        let site = &mut self.sites[s];
        let t = &b.stamp.php;
        let pool = format!("{}-example-com", site.name);
        let pid = site.next_pid.saturating_sub(1 + rng.below(40) as u32);
        let (script, method, uri) = *rng.pick(&[
            ("index.php", "GET", "/"),
            ("index.php", "GET", "/wp-json/wc/store/v1/cart"),
            (
                "wp-admin/admin-ajax.php",
                "POST",
                "/wp-admin/admin-ajax.php",
            ),
            ("wp-cron.php", "POST", "/wp-cron.php"),
            ("xmlrpc.php", "POST", "/xmlrpc.php"),
        ]);
        let root = format!("/var/www/sites/{}.example.com", site.name);
        match what {
            What::Recycle => {
                writeln!(
                    out,
                    "[{t}] NOTICE: [pool {pool}] child {pid} exited with code 0 after {}.{:06} seconds from start",
                    rng.range(60, 4000),
                    rng.below(1_000_000)
                )?;
                respawn(out, t, &pool, site, rng)?;
                Ok(2)
            }
            What::Slow => {
                writeln!(
                    out,
                    "[{t}] WARNING: [pool {pool}] child {pid}, script '{root}/{script}' (request: \"{method} {uri}\") executing too slow ({}.{:06} sec), logging",
                    rng.range(5, 12),
                    rng.below(1_000_000)
                )?;
                Ok(1)
            }
            What::Timeout => {
                writeln!(
                    out,
                    "[{t}] WARNING: [pool {pool}] child {pid}, script '{root}/{script}' (request: \"{method} {uri}\") execution timed out (30.{:06} sec), terminating",
                    rng.below(1_000_000)
                )?;
                writeln!(
                    out,
                    "[{t}] WARNING: [pool {pool}] child {pid} exited on signal 15 (SIGTERM) after {}.{:06} seconds from start",
                    rng.range(31, 900),
                    rng.below(1_000_000)
                )?;
                respawn(out, t, &pool, site, rng)?;
                Ok(3)
            }
            What::Fatal => {
                writeln!(
                    out,
                    "[{t}] WARNING: [pool {pool}] child {pid} said into stderr: \"NOTICE: PHP message: PHP Fatal error:  Allowed memory size of 268435456 bytes exhausted (tried to allocate 65536 bytes) in {root}/wp-includes/class-wpdb.php on line 2351\""
                )?;
                Ok(1)
            }
            What::MaxChildren => self.fpm_max_children(out, b, s),
        }
    }

    /// One `debug.log` record for site `s`: in an incident fatals and
    /// database errors, otherwise mostly deprecations, notices and
    /// warnings. Returns the lines written (a stack trace has several).
    fn wp_event(&mut self, out: &mut LogFile, b: &Batch, s: usize, hot: bool) -> io::Result<u64> {
        let rng = &mut self.rng;
        let root = format!("/var/www/sites/{}.example.com", self.sites[s].name);
        let t = &b.stamp.php;
        let what = if hot {
            rng.range(5, 10)
        } else {
            rng.weighted(&[(0, 30), (1, 25), (2, 20), (3, 15), (4, 5), (6, 3), (7, 2)])
        };
        match what {
            0 => writeln!(
                out,
                "[{t} UTC] PHP Deprecated:  Creation of dynamic property Acme_Slider::$settings is deprecated in {root}/wp-content/plugins/legacy-gallery/includes/class-legacy-gallery.php on line 692"
            )?,
            1 => writeln!(
                out,
                "[{t} UTC] PHP Notice:  Function _load_textdomain_just_in_time was called <strong>incorrectly</strong>. Translation loading for the <code>{}</code> domain was triggered too early. (This message was added in version 6.7.0.) in {root}/wp-includes/functions.php on line 6121",
                rng.pick(&PLUGINS)
            )?,
            2 => writeln!(
                out,
                "[{t} UTC] PHP Warning:  Undefined array key \"nonce\" in {root}/wp-content/plugins/jetpack/class.jetpack.php on line 1173"
            )?,
            3 => writeln!(
                out,
                "[{t} UTC] PHP Deprecated:  strpos(): Passing null to parameter #1 ($haystack) of type string is deprecated in {root}/wp-includes/functions.php on line 7374"
            )?,
            4 => writeln!(
                out,
                "[{t} UTC] PHP Warning:  foreach() argument must be of type array|object, null given in {root}/wp-content/themes/astra/template-parts/content.php on line 316"
            )?,
            5 => writeln!(
                out,
                "[{t} UTC] WordPress database error Lock wait timeout exceeded; try restarting transaction for query UPDATE `wp_options` SET `option_value` = '{}' WHERE `option_name` = '_transient_timeout_wc_count_comments' made by do_action_ref_array('action_scheduler_run_queue'), WP_Hook->do_action, ActionScheduler_QueueRunner->run",
                1_795_341_600 + rng.below(10_000_000)
            )?,
            6 => writeln!(
                out,
                "[{t} UTC] PHP Fatal error:  Maximum execution time of 30 seconds exceeded in {root}/wp-includes/Requests/src/Transport/Curl.php on line 205"
            )?,
            7 => writeln!(
                out,
                "[{t} UTC] PHP Fatal error:  Allowed memory size of 268435456 bytes exhausted (tried to allocate 65536 bytes) in {root}/wp-includes/class-wpdb.php on line 2351"
            )?,
            _ => {
                let file = format!("{root}/wp-content/plugins/shop-extras/shop-extras.php");
                write!(
                    out,
                    "[{t} UTC] PHP Fatal error:  Uncaught Error: Call to undefined function wc_get_product() in {file}:12\n\
                     Stack trace:\n\
                     #0 {root}/wp-includes/class-wp-hook.php(324): shop_extras_init('')\n\
                     #1 {root}/wp-includes/plugin.php(517): WP_Hook->apply_filters(NULL, Array)\n\
                     #2 {{main}}\n  thrown in {file} on line 12\n"
                )?;
                return Ok(6);
            }
        }
        Ok(1)
    }
}

/// A client address: a few thousand returning visitors, some over IPv6.
fn client(rng: &mut Rng) -> String {
    let h = mix(rng.below(3000) ^ 0x5EED);
    if h.is_multiple_of(20) {
        format!(
            "2a01:4f8:{:x}:{:x}::{:x}",
            h >> 48,
            (h >> 32) & 0xffff,
            h & 0xfff
        )
    } else {
        let a = match 20 + (h >> 8) % 200 {
            127 => 128,
            a => a,
        };
        format!(
            "{a}.{}.{}.{}",
            (h >> 16) & 0xff,
            (h >> 24) & 0xff,
            1 + (h >> 32) % 254
        )
    }
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

    fn unix_now() -> i64 {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        i64::try_from(d.as_secs()).unwrap()
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

        let before = unix_now();
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
        let after = unix_now();

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

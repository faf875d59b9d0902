//! The demo's traffic model: sites with Zipf-like popularity, what each
//! request is (page, static file, admin, cron, probe…), its status, size
//! and log-normal latency, and the FPM and WordPress lines that go with
//! it. Randomness comes from `rand` (a seeded `SmallRng`) and `rand_distr`.

use std::io;

use rand::prelude::*;
use rand::rngs::SmallRng;
use rand_distr::{LogNormal, Poisson};

use super::{Batch, LogFile, Logs, Stamp};

/// The generator's random source.
pub(super) type Rng = SmallRng;

/// The draws the traffic model makes, on top of [`rand::Rng`].
trait Draw: rand::Rng {
    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.random_range(0..n) }
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo))
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        self.random::<f64>()
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        self.random_bool(p.clamp(0.0, 1.0))
    }

    /// One of `xs`, uniformly.
    ///
    /// # Panics
    /// When `xs` is empty (every list here is a non-empty constant).
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T
    where
        Self: Sized,
    {
        xs.choose(self).expect("pick from a non-empty list")
    }

    /// One of `xs` with probability proportional to its weight.
    fn weighted<T: Copy>(&mut self, xs: &[(T, u32)]) -> T
    where
        Self: Sized,
    {
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

    /// Log-normal with the given median.
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64
    where
        Self: Sized,
    {
        LogNormal::new(median.ln(), sigma).map_or(median, |d| d.sample(self))
    }

    /// How many events of a `per_sec` rate fall in `secs` (Poisson).
    fn events(&mut self, per_sec: f64, secs: f64) -> u32
    where
        Self: Sized,
    {
        match Poisson::new(per_sec * secs) {
            Ok(d) => d.sample(self) as u32,
            Err(_) => 0,
        }
    }
}

impl Draw for Rng {}

/// A stable pseudo-random number for `x`: per-site properties and
/// returning visitors stay the same for a seed.
fn hash(x: u64) -> u64 {
    Rng::seed_from_u64(x).next_u64()
}

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

/// One made-up site.
pub(super) struct Site {
    /// `site07`.
    pub(super) name: String,
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
pub(super) struct Gen {
    rng: Rng,
    seed: u64,
    pub(super) sites: Vec<Site>,
    /// Traefik's per-instance request counter.
    requests: u64,
}

impl Gen {
    pub(super) fn new(seed: u64, sites: u32) -> Gen {
        let mut rng = Rng::seed_from_u64(seed);
        let width = sites.to_string().len().max(2);
        let mut cum_weight = 0.0;
        let sites = (1..=sites)
            .map(|i| {
                cum_weight += 1.0 / f64::from(i).powf(1.1);
                let h = hash(seed ^ u64::from(i));
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
    pub(super) fn incident_site(&self, k: u64) -> usize {
        (hash(self.seed ^ k.wrapping_mul(0x2545_F491_4F6C_DD1D)) % self.sites.len().min(6) as u64)
            as usize
    }

    /// Writes one batch: `requests` access-log lines, then the FPM and
    /// WordPress lines that fall in it. Returns the lines written.
    pub(super) fn batch(&mut self, logs: &mut Logs, b: &Batch, requests: u64) -> io::Result<u64> {
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
    pub(super) fn fpm_startup(&mut self, out: &mut LogFile, st: &Stamp) -> io::Result<u64> {
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
    let h = hash(rng.below(3000) ^ 0x5EED);
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

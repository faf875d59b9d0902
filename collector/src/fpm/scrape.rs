//! The `fpm_status:` section and the scraper: every interval, every
//! target (configured and discovered, each once) is asked for its status
//! page at the same time, and the round is published as one
//! [`FpmSnapshot`] through [`LiveState::set_fpm`]. A failed scrape marks
//! its pool down with the error, counts it, and is logged when the error
//! changes (not every round); the pool's last good numbers are kept but
//! no reader uses them while it is down. One failure is not "down": a
//! scrape that connected but got no answer in time means every worker of
//! the pool is busy (FPM answers the status page from one of them), so
//! the pool is published saturated, its last numbers with every worker
//! active ([`PoolStatus::saturated`]); so is a Unix socket whose listen
//! backlog stayed full for the whole timeout. HTTP targets' redirects are
//! not followed: a 3xx is a failed scrape.

use std::collections::{HashMap, HashSet};
use std::error::Error as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::fastcgi::{self, Endpoint, FcgiError};
use super::status::{self, PoolReport, StatusError};
use super::{FpmSnapshot, FpmTarget, PoolStatus};
use crate::run::LiveState;

/// The most bytes a status answer may have (a `?json` page is about
/// 400 bytes; `?full` with hundreds of workers stays far below).
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The `fpm_status:` section: PHP-FPM pools whose status pages are
/// scraped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FpmConfig {
    /// Pools to scrape, each with the site it serves. Pods annotated for
    /// discovery (when the Kubernetes API is enabled) are added to these.
    /// Each pool needs `pm.status_path` set (e.g. `/status`).
    pub targets: Vec<FpmTarget>,
    /// How often every target is scraped, in milliseconds.
    pub interval_ms: u64,
    /// How long one scrape may take, connection included, in
    /// milliseconds; at most `interval_ms`, so a round ends before the
    /// next begins. FPM answers its status page from a worker of the pool
    /// itself, so a saturated pool answers only when a worker frees (after
    /// the requests queued before it): a scrape that connected and then
    /// timed out marks the pool saturated (`phpfpm_up` 0, busy ratio 1).
    /// Too short a timeout calls a busy pool saturated before it can show
    /// its listen queue; too long one delays the round.
    pub timeout_ms: u64,
}

impl Default for FpmConfig {
    fn default() -> Self {
        FpmConfig {
            targets: Vec::new(),
            interval_ms: 1000,
            timeout_ms: 800,
        }
    }
}

/// An `fpm_status:` field that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fpm_status.{field}: {message}")]
pub struct FpmConfigError {
    /// The field, relative to `fpm_status:` (`targets[1].address`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl FpmConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// The first [`FpmConfigError`].
    pub fn validate(&self) -> Result<(), FpmConfigError> {
        let err = |field: String, message: String| Err(FpmConfigError { field, message });
        if !(100..=3_600_000).contains(&self.interval_ms) {
            return err(
                "interval_ms".into(),
                format!("must be between 100 and 3600000, got {}", self.interval_ms),
            );
        }
        if !(1..=self.interval_ms).contains(&self.timeout_ms) {
            return err(
                "timeout_ms".into(),
                format!(
                    "must be between 1 and interval_ms ({}), got {}",
                    self.interval_ms, self.timeout_ms
                ),
            );
        }
        for (i, t) in self.targets.iter().enumerate() {
            if let Err((field, message)) = t.check() {
                return err(format!("targets[{i}].{field}"), message);
            }
        }
        Ok(())
    }
}

/// How a target's address is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// FastCGI straight to the pool's listen socket.
    FastCgi(Endpoint),
    /// HTTP through a web server; the URL with `json` in its query.
    Http(String),
}

impl Address {
    /// Reads `tcp://host:port`, `unix:///path` or `http(s)://…`.
    ///
    /// # Errors
    /// What is wrong with it, in words.
    pub fn parse(s: &str) -> Result<Address, String> {
        let forms = "use tcp://host:port, unix:///path/to.sock or http://host:port/path";
        if let Some(rest) = s.strip_prefix("tcp://") {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| format!("{s:?} has no port; {forms}"))?;
            if host.is_empty() || host.contains('/') {
                return Err(format!("{s:?} has no host; {forms}"));
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(Address::FastCgi(Endpoint::Tcp(rest.to_owned()))),
                _ => Err(format!("{s:?}: the port must be 1 to 65535")),
            }
        } else if let Some(path) = s.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!("{s:?}: the socket path must be absolute ({forms})"));
            }
            Ok(Address::FastCgi(Endpoint::Unix(PathBuf::from(path))))
        } else if s.starts_with("http://") || s.starts_with("https://") {
            let mut url = reqwest::Url::parse(s).map_err(|e| format!("{s:?}: {e}"))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("{s:?} has no host"));
            }
            let query = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&json"),
                _ => "json".to_owned(),
            };
            url.set_query(Some(&query));
            Ok(Address::Http(url.into()))
        } else {
            Err(format!("{s:?}: unknown scheme; {forms}"))
        }
    }

    /// Whether FPM cannot measure the listen queue here.
    fn is_unix(&self) -> bool {
        matches!(self, Address::FastCgi(Endpoint::Unix(_)))
    }
}

impl FpmTarget {
    /// The field at fault and what is wrong.
    fn check(&self) -> Result<Address, (&'static str, String)> {
        if self.site.trim().is_empty() {
            return Err(("site", "must name the site the pool serves".into()));
        }
        let addr = Address::parse(&self.address).map_err(|e| ("address", e))?;
        if matches!(addr, Address::FastCgi(_))
            && (!self.status_path.starts_with('/') || self.status_path.contains(['?', '#']))
        {
            return Err((
                "status_path",
                format!(
                    "{:?}: must be the pool's pm.status_path, a path starting with / and without a query",
                    self.status_path
                ),
            ));
        }
        Ok(addr)
    }
}

/// Why one scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The target is unusable (a discovered one; configured ones are
    /// validated at start).
    #[error("bad target: {0}")]
    Target(String),
    /// FastCGI to the pool failed.
    #[error(transparent)]
    FastCgi(#[from] FcgiError),
    /// HTTP through the web server failed.
    #[error("{0}")]
    Http(String),
    /// HTTP: connected to the web server, but no complete answer in time
    /// (FPM behind it keeps the request while every worker is busy).
    #[error("connected, but no complete answer within {0} ms")]
    HttpNoAnswer(u128),
    /// The answer is not a status page.
    #[error(transparent)]
    Status(#[from] StatusError),
}

impl ScrapeError {
    /// The scrape connected but got no answer in time: the pool's workers
    /// are all busy (also the one that would answer the status page). Or,
    /// on a Unix socket, it could not connect because the listen backlog
    /// stayed full: connections wait for the busy workers there too.
    pub fn is_saturation(&self) -> bool {
        matches!(
            self,
            ScrapeError::FastCgi(FcgiError::NoAnswer(_) | FcgiError::BacklogFull(_))
                | ScrapeError::HttpNoAnswer(_)
        )
    }
}

/// An error and its sources, `: `-joined (reqwest's own text leaves out
/// why: `connection refused` is two sources down).
fn chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(e) = src {
        let t = e.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = e.source();
    }
    s
}

/// GET `url`, at most [`MAX_RESPONSE_BYTES`]; the body of a 2xx answer.
async fn http_get(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Vec<u8>, ScrapeError> {
    // The client's connect timeout is shorter than its total one
    // (`http_client`), so running out of time while connecting is a
    // connect error, and a timeout without one came after connecting.
    let fail = |e: reqwest::Error| match (e.is_timeout(), e.is_connect()) {
        (true, false) => ScrapeError::HttpNoAnswer(timeout.as_millis()),
        (true, true) => ScrapeError::Http(format!(
            "no connection within {} ms",
            connect_timeout(timeout).as_millis()
        )),
        _ => ScrapeError::Http(chain(&e)),
    };
    let too_large = || ScrapeError::Http(format!("the answer exceeds {MAX_RESPONSE_BYTES} bytes"));
    let mut resp = client.get(url).send().await.map_err(fail)?;
    if resp.status().is_redirection() {
        let to = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| {
                String::from_utf8_lossy(l.as_bytes())
                    .chars()
                    .take(200)
                    .collect()
            })
            .unwrap_or_else(|| "nowhere".to_owned());
        return Err(ScrapeError::Http(format!(
            "status {}: a redirect (to {to}), which is not followed: the status page must answer at the target's own address",
            resp.status().as_u16()
        )));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(fail)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let status = resp.status();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let text: String = text.trim().chars().take(200).collect();
        return Err(ScrapeError::Http(format!(
            "status {}: {text}",
            status.as_u16()
        )));
    }
    Ok(body)
}

/// Scrapes one target. `http`: the client for HTTP targets, or why there
/// is none.
///
/// # Errors
/// [`ScrapeError`].
pub async fn scrape(
    target: &FpmTarget,
    http: Result<&reqwest::Client, &str>,
    timeout: Duration,
) -> Result<PoolReport, ScrapeError> {
    let addr = target
        .check()
        .map_err(|(field, e)| ScrapeError::Target(format!("{field}: {e}")))?;
    let body = match &addr {
        Address::FastCgi(ep) => {
            fastcgi::get(ep, &target.status_path, "json", timeout, MAX_RESPONSE_BYTES).await?
        }
        Address::Http(url) => {
            let client = http.map_err(|e| ScrapeError::Http(format!("no HTTP client: {e}")))?;
            http_get(client, url, timeout).await?
        }
    };
    Ok(status::parse(&body, addr.is_unix())?)
}

/// How long an HTTP scrape may take to connect: half its time (at most
/// 10 s), so that a timeout is known to have come before or after the
/// connection (a sidecar on loopback or the pod network connects in
/// well under a millisecond).
fn connect_timeout(timeout: Duration) -> Duration {
    (timeout / 2).min(Duration::from_secs(10))
}

/// The client for HTTP targets: the sinks' (reqwest on rustls/ring), with
/// the connect timeout of [`connect_timeout`] and no redirects followed: a
/// status page (an annotated pod's, too) must not send the scraper to
/// another host, so a 3xx is a failed scrape.
fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a provider of its own; the first caller
    // installs ring, later calls find it there.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout(timeout))
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sitepulse/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Scrapes rounds of targets and keeps each pool's state between them.
#[derive(Debug)]
pub struct Scraper {
    timeout: Duration,
    http: Result<reqwest::Client, String>,
    pools: HashMap<FpmTarget, PoolStatus>,
}

impl Scraper {
    /// A scraper whose every scrape takes at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Scraper {
            timeout,
            http: http_client(timeout).map_err(|e| chain(&e)),
            pools: HashMap::new(),
        }
    }

    /// Scrapes every target at once and returns the round: one
    /// [`PoolStatus`] per target, in order. Pools of targets no longer
    /// given are forgotten.
    pub async fn round(&mut self, targets: &[FpmTarget]) -> FpmSnapshot {
        let mut set = JoinSet::new();
        for (i, t) in targets.iter().enumerate() {
            let t = t.clone();
            let http = self.http.clone();
            let timeout = self.timeout;
            set.spawn(async move {
                (
                    i,
                    scrape(&t, http.as_ref().map_err(String::as_str), timeout).await,
                )
            });
        }
        let mut results: Vec<Option<Result<PoolReport, ScrapeError>>> =
            targets.iter().map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            if let Ok((i, r)) = joined {
                results[i] = Some(r);
            }
        }
        let now = SystemTime::now();
        let mut pools = Vec::with_capacity(targets.len());
        let mut kept = HashMap::with_capacity(targets.len());
        for (t, r) in targets.iter().zip(results) {
            let mut p = self.pools.remove(t).unwrap_or_else(|| PoolStatus {
                site: t.site.clone(),
                pool: t.address.clone(),
                address: t.address.clone(),
                up: false,
                saturated: false,
                error: None,
                scraped: None,
                status: None,
                scrape_failures: 0,
            });
            p.scraped = Some(now);
            match r {
                Some(Ok(report)) => {
                    if let Some(e) = p.error.take() {
                        tracing::info!(site = %t.site, address = %t.address, pool = %report.pool, after = %e, "PHP-FPM status scrape works again");
                    }
                    p.up = true;
                    p.saturated = false;
                    p.pool = report.pool;
                    p.status = Some(report.status);
                }
                failed => {
                    let (text, saturated) = match failed {
                        Some(Err(e)) => (e.to_string(), e.is_saturation()),
                        _ => ("the scrape task failed".to_owned(), false),
                    };
                    if p.error.as_deref() != Some(text.as_str()) {
                        if saturated {
                            tracing::warn!(site = %t.site, address = %t.address, error = %text, "PHP-FPM pool saturated: every worker busy, the status page unanswered (logged again only when the error changes)");
                        } else {
                            tracing::warn!(site = %t.site, address = %t.address, error = %text, "PHP-FPM status scrape failed (logged again only when the error changes)");
                        }
                    }
                    p.up = false;
                    p.saturated = saturated;
                    if saturated && let Some(s) = p.status.as_mut() {
                        s.active_processes = s.total_processes;
                        s.idle_processes = 0;
                    }
                    p.error = Some(text);
                    p.scrape_failures += 1;
                }
            }
            kept.insert(t.clone(), p.clone());
            pools.push(p);
        }
        self.pools = kept;
        FpmSnapshot { pools }
    }
}

/// The configured targets, then the discovered ones not among them.
pub fn merge_targets(configured: &[FpmTarget], discovered: &[FpmTarget]) -> Vec<FpmTarget> {
    let mut seen = HashSet::new();
    configured
        .iter()
        .chain(discovered)
        .filter(|t| seen.insert(*t))
        .cloned()
        .collect()
}

/// The running scraper; dropping it stops it (and any scrape under way).
#[derive(Debug)]
pub struct FpmTask {
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for FpmTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Starts scraping on `rt`: a round every `cfg.interval_ms` (the first at
/// once) over `cfg.targets` and the latest `discovered` targets, each
/// published with `live.set_fpm`. `cfg` should be validated.
pub fn start(
    cfg: &FpmConfig,
    live: LiveState,
    rt: &tokio::runtime::Handle,
    mut discovered: watch::Receiver<Vec<FpmTarget>>,
) -> FpmTask {
    let configured = cfg.targets.clone();
    let interval = Duration::from_millis(cfg.interval_ms.max(1));
    let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
    let handle = rt.spawn(async move {
        let mut scraper = Scraper::new(timeout);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let targets = merge_targets(&configured, &discovered.borrow_and_update());
            let snap = scraper.round(&targets).await;
            live.set_fpm(snap);
        }
    });
    FpmTask { handle }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(site: &str, address: &str) -> FpmTarget {
        FpmTarget {
            site: site.into(),
            address: address.into(),
            status_path: "/status".into(),
        }
    }

    #[test]
    fn addresses_in_every_form() {
        assert_eq!(
            Address::parse("tcp://127.0.0.1:9000"),
            Ok(Address::FastCgi(Endpoint::Tcp("127.0.0.1:9000".into())))
        );
        assert_eq!(
            Address::parse("tcp://[::1]:9000"),
            Ok(Address::FastCgi(Endpoint::Tcp("[::1]:9000".into())))
        );
        assert_eq!(
            Address::parse("unix:///run/php/shop.sock"),
            Ok(Address::FastCgi(Endpoint::Unix(
                "/run/php/shop.sock".into()
            )))
        );
        assert_eq!(
            Address::parse("http://10.0.0.5:8080/fpm-status"),
            Ok(Address::Http("http://10.0.0.5:8080/fpm-status?json".into()))
        );
        assert_eq!(
            Address::parse("http://nginx/status?pool=a"),
            Ok(Address::Http("http://nginx/status?pool=a&json".into()))
        );
        for bad in [
            "tcp://127.0.0.1",
            "tcp://:9000",
            "tcp://host:0",
            "tcp://host:99999",
            "unix://run/php.sock",
            "fcgi://x:1",
            "http://",
            "127.0.0.1:9000",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_section_validates_and_names_the_field() {
        let ok: FpmConfig = serde_saphyr::from_str(
            "targets:\n  - site: shop\n    address: tcp://127.0.0.1:9000\n  - {site: blog, address: 'unix:///run/blog.sock', status_path: /fpm}\n",
        )
        .unwrap();
        assert_eq!(ok.interval_ms, 1000);
        assert_eq!(ok.timeout_ms, 800);
        assert_eq!(ok.targets[0].status_path, "/status");
        assert_eq!(ok.targets[1].status_path, "/fpm");
        assert_eq!(ok.validate(), Ok(()));
        assert!(serde_saphyr::from_str::<FpmConfig>("interval: 5\n").is_err());

        let msg = |c: FpmConfig| c.validate().unwrap_err().to_string();
        let mut c = ok.clone();
        c.targets[1].address = "unix://relative.sock".into();
        assert!(msg(c).starts_with("fpm_status.targets[1].address: \"unix://relative.sock\""),);
        let mut c = ok.clone();
        c.targets[0].status_path = "status".into();
        assert!(msg(c).starts_with("fpm_status.targets[0].status_path:"));
        let mut c = ok.clone();
        c.targets[0].site = " ".into();
        assert!(msg(c).starts_with("fpm_status.targets[0].site:"));
        let c = FpmConfig {
            timeout_ms: 2000,
            ..ok.clone()
        };
        assert_eq!(
            msg(c),
            "fpm_status.timeout_ms: must be between 1 and interval_ms (1000), got 2000"
        );
        let c = FpmConfig {
            interval_ms: 0,
            ..ok
        };
        assert!(msg(c).starts_with("fpm_status.interval_ms:"));
    }

    #[test]
    fn configured_and_discovered_targets_are_merged_once() {
        let a = target("shop", "tcp://127.0.0.1:9000");
        let b = target("blog", "unix:///run/blog.sock");
        let c = target("news", "http://10.0.0.1/status");
        assert_eq!(
            merge_targets(&[a.clone(), b.clone()], &[b.clone(), c.clone(), c.clone()]),
            vec![a, b, c]
        );
    }

    /// A refused connection: the pool is down, counted, and keeps its
    /// address as its name; targets that go away are forgotten.
    #[tokio::test]
    async fn failures_are_counted_per_pool() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dead = target("shop", &format!("tcp://127.0.0.1:{port}"));
        let bad = target("blog", "ftp://x");
        let mut s = Scraper::new(Duration::from_millis(500));
        let targets = [dead.clone(), bad.clone()];
        s.round(&targets).await;
        let snap = s.round(&targets).await;
        let p = &snap.pools[0];
        assert!(!p.up);
        assert_eq!(p.scrape_failures, 2);
        assert_eq!(p.pool, dead.address);
        let e = p.error.as_deref().unwrap();
        assert!(
            e.starts_with(&format!("cannot connect to tcp://127.0.0.1:{port}:")),
            "{e}"
        );
        assert!(
            snap.pools[1]
                .error
                .as_deref()
                .unwrap()
                .starts_with("bad target: address: \"ftp://x\": unknown scheme")
        );
        let snap = s.round(&[bad]).await;
        assert_eq!(snap.pools.len(), 1);
        assert_eq!(snap.pools[0].scrape_failures, 3);
        assert!(
            snap.site(|s| s == "blog")
                .is_some_and(|f| f.pools_down == 1)
        );
    }
}

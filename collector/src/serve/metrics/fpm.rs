//! PHP-FPM's status pages as `phpfpm_*` families, named as
//! hipages/php-fpm_exporter names them (`phpfpm/exporter.go`) so its
//! users' queries and dashboards keep working, with its counter/gauge
//! types: `up` and `scrape_failures` for every pool, the status numbers
//! for pools whose last scrape succeeded or that are saturated (connected,
//! no answer in time: `up` 0, every worker active — what the exporter
//! cannot show, as it drops a pool's numbers on any failed scrape), and
//! the listen-queue families only for pools where FPM can measure the
//! queue (TCP listeners). The numbers are FPM's own: the worker answering
//! the scrape counts as active here, as in the exporter (the autoscaler
//! values leave it out). Labels:
//! `pool` (FPM's name for it), `scrape_uri` (the target's address) and
//! `site` (in the site table's canonical form, as in `sitepulse_site_*`).
//! Counters end in `_total` as OpenMetrics requires (the exporter's
//! classic text has `phpfpm_accepted_connections` where we have
//! `phpfpm_accepted_connections_total`).

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::fpm::{FpmSnapshot, FpmStatus, PoolStatus};
use crate::run::LiveState;

/// The scrape-time collector of the `phpfpm_*` families.
#[derive(Debug)]
pub struct FpmMetrics {
    live: LiveState,
}

impl FpmMetrics {
    /// Over the scraper's latest round.
    pub fn new(live: LiveState) -> Self {
        FpmMetrics { live }
    }
}

impl Collector for FpmMetrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let snap = self.live.fpm();
        let published = self.live.published();
        let namer = &published.sites.namer;
        encode(&mut enc, &snap, |s| {
            namer.canonical(s).unwrap_or_else(|| s.to_owned())
        })
    }
}

/// A number of a status page, or `None` where it does not exist.
type Get = fn(&FpmStatus) -> Option<u64>;

/// The families over the pools that are up or saturated.
const FAMILIES: [(&str, &str, MetricType, Get); 11] = [
    (
        "phpfpm_start_since",
        "The number of seconds since FPM has started.",
        MetricType::Gauge,
        |s| Some(s.start_since_secs),
    ),
    (
        "phpfpm_accepted_connections",
        "The number of requests accepted by the pool.",
        MetricType::Counter,
        |s| Some(s.accepted_conn),
    ),
    (
        "phpfpm_listen_queue",
        "The number of requests in the queue of pending connections (TCP listeners only: FPM cannot measure it on a Unix socket).",
        MetricType::Gauge,
        |s| s.listen_queue,
    ),
    (
        "phpfpm_max_listen_queue",
        "The maximum number of requests in the queue of pending connections since FPM has started (TCP listeners only).",
        MetricType::Gauge,
        |s| s.max_listen_queue,
    ),
    (
        "phpfpm_listen_queue_length",
        "The size of the socket queue of pending connections (TCP listeners only).",
        MetricType::Gauge,
        |s| s.listen_queue_len,
    ),
    (
        "phpfpm_idle_processes",
        "The number of idle processes.",
        MetricType::Gauge,
        |s| Some(s.idle_processes),
    ),
    (
        "phpfpm_active_processes",
        "The number of active processes.",
        MetricType::Gauge,
        |s| Some(s.active_processes),
    ),
    (
        "phpfpm_total_processes",
        "The number of idle + active processes.",
        MetricType::Gauge,
        |s| Some(s.total_processes),
    ),
    (
        "phpfpm_max_active_processes",
        "The maximum number of active processes since FPM has started.",
        MetricType::Gauge,
        |s| Some(s.max_active_processes),
    ),
    (
        "phpfpm_max_children_reached",
        "The number of times the process limit has been reached, when pm tries to start more children (works only for pm 'dynamic' and 'ondemand').",
        MetricType::Counter,
        |s| Some(s.max_children_reached),
    ),
    (
        "phpfpm_slow_requests",
        "The number of requests that exceeded your 'request_slowlog_timeout' value.",
        MetricType::Counter,
        |s| Some(s.slow_requests),
    ),
];

/// One sample of `v` as `kind`.
fn sample(m: MetricEncoder<'_>, kind: MetricType, v: u64) -> fmt::Result {
    match kind {
        MetricType::Counter => ConstCounter::new(v).encode(m),
        _ => ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)).encode(m),
    }
}

/// Every `phpfpm_*` family of `snap`; `site` gives a pool's `site` label.
pub(super) fn encode(
    enc: &mut DescriptorEncoder,
    snap: &FpmSnapshot,
    site: impl Fn(&str) -> String,
) -> fmt::Result {
    if snap.pools.is_empty() {
        return Ok(());
    }
    let labeled: Vec<(&PoolStatus, String)> =
        snap.pools.iter().map(|p| (p, site(&p.site))).collect();
    let labels = |p: &'_ PoolStatus, site: &'_ str| -> [(&'static str, String); 3] {
        [
            ("pool", p.pool.clone()),
            ("scrape_uri", p.address.clone()),
            ("site", site.to_owned()),
        ]
    };
    let mut fam = enc.encode_descriptor(
        "phpfpm_up",
        "Could PHP-FPM be reached?",
        None,
        MetricType::Gauge,
    )?;
    for (p, s) in &labeled {
        sample(
            fam.encode_family(&labels(p, s))?,
            MetricType::Gauge,
            u64::from(p.up),
        )?;
    }
    let mut fam = enc.encode_descriptor(
        "phpfpm_scrape_failures",
        "The number of failures scraping from PHP-FPM.",
        None,
        MetricType::Counter,
    )?;
    for (p, s) in &labeled {
        sample(
            fam.encode_family(&labels(p, s))?,
            MetricType::Counter,
            p.scrape_failures,
        )?;
    }
    for (name, help, kind, get) in FAMILIES {
        let rows: Vec<_> = labeled
            .iter()
            .filter(|(p, _)| p.up || p.saturated)
            .filter_map(|(p, s)| Some((p, s, get(p.status.as_ref()?)?)))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let mut fam = enc.encode_descriptor(name, help, None, kind)?;
        for (p, s, v) in rows {
            sample(fam.encode_family(&labels(p, s))?, kind, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpm::FpmStatus;
    use prometheus_client::registry::Registry;

    fn pool(site: &str, pool: &str, address: &str, queue: Option<u64>) -> PoolStatus {
        PoolStatus {
            site: site.into(),
            pool: pool.into(),
            address: address.into(),
            up: true,
            saturated: false,
            error: None,
            scraped: Some(std::time::SystemTime::now()),
            status: Some(FpmStatus {
                start_since_secs: 60,
                accepted_conn: 120,
                listen_queue: queue,
                max_listen_queue: queue.map(|q| q + 1),
                listen_queue_len: queue.map(|_| 511),
                idle_processes: 0,
                active_processes: 2,
                total_processes: 2,
                max_active_processes: 2,
                max_children_reached: 1,
                slow_requests: 3,
            }),
            scrape_failures: 0,
        }
    }

    #[test]
    fn families_per_pool_with_the_queue_only_where_fpm_measures_it() {
        let mut down = pool("news", "tcp://10.0.0.9:9000", "tcp://10.0.0.9:9000", None);
        down.up = false;
        down.error = Some("connection refused".into());
        down.scrape_failures = 4;
        let snap = FpmSnapshot {
            pools: vec![
                pool("Shop.Example.org", "shop", "tcp://127.0.0.1:9001", Some(5)),
                pool("blog", "blog", "unix:///run/blog.sock", None),
                down,
            ],
        };
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let live = LiveState::new(tx, "/tmp/sitepulse-fpm-metrics-ckpt.json".into(), None);
        live.set_fpm(snap);
        let mut r = Registry::default();
        r.register_collector(Box::new(FpmMetrics::new(live)));
        let text = super::super::render(&r, super::super::Format::OpenMetrics).unwrap();
        let shop = r#"{pool="shop",scrape_uri="tcp://127.0.0.1:9001",site="shop.example.org"}"#;
        let blog = r#"{pool="blog",scrape_uri="unix:///run/blog.sock",site="blog"}"#;
        let news = r#"{pool="tcp://10.0.0.9:9000",scrape_uri="tcp://10.0.0.9:9000",site="news"}"#;
        for line in [
            "# TYPE phpfpm_up gauge".to_owned(),
            format!("phpfpm_up{shop} 1"),
            format!("phpfpm_up{news} 0"),
            "# TYPE phpfpm_scrape_failures counter".to_owned(),
            format!("phpfpm_scrape_failures_total{news} 4"),
            format!("phpfpm_scrape_failures_total{shop} 0"),
            format!("phpfpm_accepted_connections_total{blog} 120"),
            format!("phpfpm_listen_queue{shop} 5"),
            format!("phpfpm_max_listen_queue{shop} 6"),
            format!("phpfpm_listen_queue_length{shop} 511"),
            format!("phpfpm_active_processes{blog} 2"),
            format!("phpfpm_idle_processes{blog} 0"),
            format!("phpfpm_total_processes{shop} 2"),
            format!("phpfpm_max_active_processes{shop} 2"),
            format!("phpfpm_max_children_reached_total{shop} 1"),
            format!("phpfpm_slow_requests_total{blog} 3"),
            format!("phpfpm_start_since{blog} 60"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // No queue for the Unix pool, nothing but up/failures for the
        // pool that is down.
        assert!(
            !text.contains(&format!("phpfpm_listen_queue{blog}")),
            "{text}"
        );
        let news_lines = text.lines().filter(|l| l.contains("site=\"news\"")).count();
        assert_eq!(news_lines, 2, "{text}");
    }

    /// A saturated pool: down for `phpfpm_up`, its numbers with every
    /// worker active.
    #[test]
    fn a_saturated_pool_is_down_with_every_worker_active() {
        let mut p = pool("shop", "shop", "tcp://127.0.0.1:9001", Some(7));
        p.up = false;
        p.saturated = true;
        p.error = Some("connected, but no complete answer within 800 ms".into());
        p.scrape_failures = 1;
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let live = LiveState::new(tx, "/tmp/sitepulse-fpm-metrics-ckpt.json".into(), None);
        live.set_fpm(FpmSnapshot { pools: vec![p] });
        let mut r = Registry::default();
        r.register_collector(Box::new(FpmMetrics::new(live)));
        let text = super::super::render(&r, super::super::Format::OpenMetrics).unwrap();
        let shop = r#"{pool="shop",scrape_uri="tcp://127.0.0.1:9001",site="shop"}"#;
        for line in [
            format!("phpfpm_up{shop} 0"),
            format!("phpfpm_scrape_failures_total{shop} 1"),
            format!("phpfpm_active_processes{shop} 2"),
            format!("phpfpm_idle_processes{shop} 0"),
            format!("phpfpm_total_processes{shop} 2"),
            format!("phpfpm_listen_queue{shop} 7"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn nothing_without_targets() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let live = LiveState::new(tx, "/tmp/sitepulse-fpm-metrics-ckpt.json".into(), None);
        let mut r = Registry::default();
        r.register_collector(Box::new(FpmMetrics::new(live)));
        let text = super::super::render(&r, super::super::Format::OpenMetrics).unwrap();
        assert!(!text.contains("phpfpm"), "{text}");
    }
}

//! The per-site series of `/metrics` as plain data, for the metrics sinks
//! (Prometheus remote_write, OTLP metrics): the same families, metric
//! names, label names, label values and numbers that a Prometheus scrape of
//! `/metrics` stores, so a dashboard or alert works the same whether
//! Prometheus scraped sitepulse or sitepulse pushed.
//!
//! The families and the rules for which series appear follow
//! `collector/src/serve/metrics/sites.rs` (the scrape-time encoder) and
//! `docs/metrics.md` ("Per site"); a test here reads the doc's table so a
//! family renamed on one side only fails.

use sitepulse_pipeline::aggregate::{
    CLASS_NAMES, EVENT_NAMES, LATENCY_BUCKETS_SECS, PHP_ERROR_LEVELS, TRACKED_CODES,
};
use sitepulse_pipeline::snapshot::{SiteSnapshot, SitesSnapshot, WINDOW_NAMES};

/// What a family measures, as OpenMetrics types it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Monotonic since the process started; samples are named
    /// `<family>_total`.
    Counter,
    /// A value now; samples are named as the family.
    Gauge,
    /// Counts per bucket with these upper bounds (seconds; `+Inf` is
    /// implied after the last); samples `<family>_bucket` (cumulative, with
    /// an `le` label), `<family>_sum` and `<family>_count`.
    Histogram { bounds: &'static [f64] },
}

/// One series' number(s).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter's count.
    Counter(u64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram's buckets.
    Histogram(Histogram),
}

/// A histogram since start.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Observations per bucket, *not* cumulative (as OTLP carries them):
    /// one per bound of [`Kind::Histogram`], then the `+Inf` bucket.
    pub counts: Vec<u64>,
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations (the sum of `counts`).
    pub count: u64,
}

/// One series: its labels (without the metric name; `site` first, in
/// `/metrics` order) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(&'static str, String)>,
    pub value: Value,
}

/// One metric family over every site.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family name as OpenMetrics writes it in `# TYPE`
    /// (`sitepulse_site_requests`: a counter's without `_total`).
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    pub kind: Kind,
    pub series: Vec<Series>,
}

/// One flat sample, as a Prometheus scrape stores it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// The sample's metric name (`sitepulse_site_requests_total`,
    /// `..._bucket`, `..._sum`, `..._count`).
    pub name: &'a str,
    /// The series' labels.
    pub labels: &'a [(&'static str, String)],
    /// A bucket's `le` label value (`"0.005"`, `"1.0"`, `"+Inf"`).
    pub le: Option<&'a str>,
    pub value: f64,
}

/// The prefix of every family (the `/metrics` registry's).
pub const PREFIX: &str = "sitepulse";

/// Names of every per-site family, in `/metrics` order (with [`PREFIX`]).
pub const FAMILY_NAMES: [&str; 10] = [
    "sitepulse_site_requests",
    "sitepulse_site_requests_by_code",
    "sitepulse_site_response_bytes",
    "sitepulse_site_request_duration_seconds",
    "sitepulse_site_in_flight",
    "sitepulse_site_rps",
    "sitepulse_php_errors",
    "sitepulse_fpm_max_children_reached",
    "sitepulse_fpm_slow_requests",
    "sitepulse_fpm_child_terminations",
];

/// Label names the per-site series use (the metric sinks' external labels
/// must not take them).
pub const LABEL_NAMES: [&str; 7] = [
    "site",
    "code_class",
    "code",
    "window",
    "level",
    "pool",
    "le",
];

/// `EVENT_NAMES` index of FPM children killed.
fn child_terminations() -> usize {
    EVENT_NAMES
        .iter()
        .position(|n| *n == "fpm_child_terminations")
        .unwrap_or(2)
}

/// A histogram bound as an `le` label value, spelled as `/metrics` spells
/// it (prometheus-client writes bounds with `dtoa`: `0.005`, `1.0`,
/// `+Inf`; Prometheus 2.x stores the string as scraped).
pub fn le_value(bound: f64) -> String {
    if bound.is_infinite() && bound > 0.0 {
        "+Inf".to_owned()
    } else {
        // Rust's `{:?}` is the shortest round-trip form with a `.0` on
        // whole numbers, as dtoa writes them.
        format!("{bound:?}")
    }
}

impl Family {
    fn new(name: &'static str, help: &'static str, kind: Kind) -> Family {
        Family {
            name,
            help,
            kind,
            series: Vec::new(),
        }
    }

    /// Samples in this family once flattened (a histogram series is
    /// `bounds + 1` buckets, a sum and a count).
    pub fn sample_count(&self) -> usize {
        let per = match self.kind {
            Kind::Counter | Kind::Gauge => 1,
            Kind::Histogram { bounds } => bounds.len() + 3,
        };
        self.series.len() * per
    }

    /// Calls `f` with every sample of the family, as a scrape of
    /// `/metrics` stores them: counters as `<name>_total`; a histogram's
    /// cumulative `_bucket`s (`le` ascending, `+Inf` last), then `_sum` and
    /// `_count`.
    pub fn for_each_sample(&self, mut f: impl FnMut(&Sample<'_>)) {
        match self.kind {
            Kind::Counter | Kind::Gauge => {
                let name = match self.kind {
                    Kind::Counter => format!("{}_total", self.name),
                    _ => self.name.to_owned(),
                };
                for s in &self.series {
                    let value = match s.value {
                        Value::Counter(v) => v as f64,
                        Value::Gauge(v) => v,
                        Value::Histogram(_) => continue,
                    };
                    f(&Sample {
                        name: &name,
                        labels: &s.labels,
                        le: None,
                        value,
                    });
                }
            }
            Kind::Histogram { bounds } => {
                let bucket = format!("{}_bucket", self.name);
                let sum = format!("{}_sum", self.name);
                let count = format!("{}_count", self.name);
                let les: Vec<String> = bounds
                    .iter()
                    .copied()
                    .chain([f64::INFINITY])
                    .map(le_value)
                    .collect();
                for s in &self.series {
                    let Value::Histogram(h) = &s.value else {
                        continue;
                    };
                    let mut cumulative = 0u64;
                    for (le, n) in les.iter().zip(&h.counts) {
                        cumulative += n;
                        f(&Sample {
                            name: &bucket,
                            labels: &s.labels,
                            le: Some(le),
                            value: cumulative as f64,
                        });
                    }
                    f(&Sample {
                        name: &sum,
                        labels: &s.labels,
                        le: None,
                        value: h.sum,
                    });
                    f(&Sample {
                        name: &count,
                        labels: &s.labels,
                        le: None,
                        value: h.count as f64,
                    });
                }
            }
        }
    }
}

fn site(s: &SiteSnapshot) -> (&'static str, String) {
    ("site", s.name.clone())
}

/// Every per-site family of `snap`, in `/metrics` order, with the same
/// series `/metrics` exposes: request families only for sites that have
/// had a request (then every status class), a code, PHP level or killed
/// child once seen, every pool a site has.
pub fn site_families(snap: &SitesSnapshot) -> Vec<Family> {
    use Kind::{Counter, Gauge};
    let sites = &snap.sites[..];
    let served = || sites.iter().filter(|s| s.totals.requests() > 0);
    let [
        requests,
        by_code,
        bytes,
        duration,
        in_flight,
        rps,
        php,
        max_children,
        slow,
        killed,
    ] = FAMILY_NAMES;

    let mut out = Vec::with_capacity(FAMILY_NAMES.len());

    let mut f = Family::new(
        requests,
        "Requests since start, by site and status class (other: 1xx and no status).",
        Counter,
    );
    for s in served() {
        for (class, v) in CLASS_NAMES.iter().zip(s.totals.class) {
            f.series.push(Series {
                labels: vec![site(s), ("code_class", (*class).to_owned())],
                value: Value::Counter(v),
            });
        }
    }
    out.push(f);

    let mut f = Family::new(
        by_code,
        "Requests since start with a status of interest (499, 500, 502, 503, 504), by site and code.",
        Counter,
    );
    for s in sites {
        for (code, v) in TRACKED_CODES.iter().zip(s.totals.codes) {
            if v > 0 {
                f.series.push(Series {
                    labels: vec![site(s), ("code", code.to_string())],
                    value: Value::Counter(v),
                });
            }
        }
    }
    out.push(f);

    let mut f = Family::new(bytes, "Response body bytes since start, by site.", Counter);
    for s in served() {
        f.series.push(Series {
            labels: vec![site(s)],
            value: Value::Counter(s.totals.bytes),
        });
    }
    out.push(f);

    let mut f = Family::new(
        duration,
        "Request durations since start, by site (requests whose line has a duration).",
        Kind::Histogram {
            bounds: &LATENCY_BUCKETS_SECS,
        },
    );
    for s in served() {
        let h = &s.totals.latency;
        f.series.push(Series {
            labels: vec![site(s)],
            value: Value::Histogram(Histogram {
                counts: h.buckets.to_vec(),
                sum: h.sum_secs,
                count: h.count,
            }),
        });
    }
    out.push(f);

    let mut f = Family::new(
        in_flight,
        "Mean requests in flight over the last minute (Little's law: summed durations / seconds covered), by site.",
        Gauge,
    );
    for s in served() {
        f.series.push(Series {
            labels: vec![site(s)],
            value: Value::Gauge(s.windows[0].in_flight()),
        });
    }
    out.push(f);

    let mut f = Family::new(
        rps,
        "Requests per second over the window (requests / seconds the window covers), by site and window.",
        Gauge,
    );
    for s in served() {
        for (w, name) in s.windows.iter().zip(WINDOW_NAMES) {
            f.series.push(Series {
                labels: vec![site(s), ("window", name.to_owned())],
                value: Value::Gauge(w.rps()),
            });
        }
    }
    out.push(f);

    let mut f = Family::new(
        php,
        "PHP errors since start (debug.log, PHP's error log, FPM worker output), by site and level.",
        Counter,
    );
    for s in sites {
        for (level, v) in PHP_ERROR_LEVELS.iter().zip(s.totals.php_errors) {
            if v > 0 {
                f.series.push(Series {
                    labels: vec![site(s), ("level", (*level).to_owned())],
                    value: Value::Counter(v),
                });
            }
        }
    }
    out.push(f);

    for (name, help, slow) in [
        (
            max_children,
            "Times an FPM pool reached pm.max_children, by site and pool.",
            false,
        ),
        (
            slow,
            "FPM requests logged as executing too slow, by site and pool.",
            true,
        ),
    ] {
        let mut f = Family::new(name, help, Counter);
        for s in sites {
            for p in &s.totals.pools {
                let v = if slow {
                    p.slow_requests
                } else {
                    p.max_children_reached
                };
                f.series.push(Series {
                    labels: vec![site(s), ("pool", p.name.to_string())],
                    value: Value::Counter(v),
                });
            }
        }
        out.push(f);
    }

    let mut f = Family::new(
        killed,
        "FPM children killed (signal exits: request timeouts, OOM), by site.",
        Counter,
    );
    let k = child_terminations();
    for s in sites {
        let v = s.totals.events[k];
        if v > 0 {
            f.series.push(Series {
                labels: vec![site(s)],
                value: Value::Counter(v),
            });
        }
    }
    out.push(f);
    out
}

/// Samples in `families` once flattened.
pub fn sample_count(families: &[Family]) -> usize {
    families.iter().map(Family::sample_count).sum()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use sitepulse_pipeline::{NoObserver, Pipeline, PipelineConfig};

    use super::*;

    /// 2026-12-01T00:00:00Z: after every line below.
    const NOW: i64 = 1_796_083_200;

    fn clf(site: &str, status: &str, bytes: u32, ms: u32) -> String {
        format!(
            "10.42.0.1 - - [30/Nov/2026:23:59:30 +0000] \"GET / HTTP/1.1\" {status} {bytes} \"-\" \"curl/8\" 1 \"websecure-{site}-example-com@kubernetes\" \"http://10.42.1.1:80\" {ms}ms\n"
        )
    }

    /// A snapshot of two served sites (site001: 200, 200, 502, 404, `-`;
    /// site002: one 499) and FPM/PHP events of site001's and site003's
    /// pools, through a real pipeline.
    fn snapshot() -> SitesSnapshot {
        let mut cfg = PipelineConfig::default();
        cfg.sites.domains = vec!["example.com".into()];
        let mut p = Pipeline::new(&cfg, NOW).unwrap();
        let access = [
            clf("site001", "200", 100, 3),
            clf("site001", "200", 200, 40),
            clf("site001", "502", 0, 1500),
            clf("site001", "404", 50, 7),
            clf("site001", "-", 0, 2),
            clf("site002", "499", 0, 70_000),
        ]
        .concat();
        let r = p
            .process(
                "access",
                None,
                access.as_bytes(),
                &mut NoObserver,
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(r.records, 6);
        let fpm = "\
[30-Nov-2026 23:59:40] WARNING: [pool site001] server reached pm.max_children setting (8), consider raising it
[30-Nov-2026 23:59:41] WARNING: [pool site001] server reached pm.max_children setting (8), consider raising it
[30-Nov-2026 23:59:42] WARNING: [pool site001] child 45251 exited on signal 15 (SIGTERM) after 1037.629641 seconds from start
[30-Nov-2026 23:59:43] WARNING: [pool site003] child 34333 said into stderr: \"NOTICE: PHP message: PHP Deprecated:  strpos(): Passing null to parameter #1 ($haystack) of type string is deprecated in /var/www/html/wp-includes/functions.php on line 7374\"
";
        let r = p
            .process("fpm", None, fpm.as_bytes(), &mut NoObserver, &mut |_| {})
            .unwrap();
        assert_eq!(r.records, 4);
        p.tick(NOW);
        p.snapshot()
    }

    /// Every sample: `(sample name, labels with le)` → value.
    type Flat = BTreeMap<(String, Vec<(String, String)>), f64>;

    fn flat(fams: &[Family]) -> Flat {
        let mut out = BTreeMap::new();
        for f in fams {
            f.for_each_sample(|s| {
                let mut labels: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect();
                if let Some(le) = s.le {
                    labels.push(("le".into(), le.into()));
                }
                let dup = out.insert((s.name.to_owned(), labels), s.value);
                assert!(dup.is_none(), "{} twice", s.name);
            });
        }
        out
    }

    fn get(m: &Flat, name: &str, l: &[(&str, &str)]) -> f64 {
        let key = (
            name.to_owned(),
            l.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
        );
        *m.get(&key)
            .unwrap_or_else(|| panic!("no {name}{l:?} in {:#?}", m.keys()))
    }

    #[test]
    fn series_carry_the_snapshot_numbers() {
        let snap = snapshot();
        let fams = site_families(&snap);
        let names: Vec<&str> = fams.iter().map(|f| f.name).collect();
        assert_eq!(names, FAMILY_NAMES);
        let m = flat(&fams);
        let n = |c: &str| {
            get(
                &m,
                "sitepulse_site_requests_total",
                &[("site", "site001"), ("code_class", c)],
            )
        };
        assert_eq!(
            [n("2xx"), n("3xx"), n("4xx"), n("5xx"), n("other")],
            [2.0, 0.0, 1.0, 1.0, 1.0]
        );
        let n = |c: &str| {
            get(
                &m,
                "sitepulse_site_requests_total",
                &[("site", "site002"), ("code_class", c)],
            )
        };
        assert_eq!(n("4xx"), 1.0);
        // Codes: only those seen.
        assert_eq!(
            get(
                &m,
                "sitepulse_site_requests_by_code_total",
                &[("site", "site001"), ("code", "502")]
            ),
            1.0
        );
        assert_eq!(
            get(
                &m,
                "sitepulse_site_requests_by_code_total",
                &[("site", "site002"), ("code", "499")]
            ),
            1.0
        );
        let codes = m
            .keys()
            .filter(|k| k.0 == "sitepulse_site_requests_by_code_total")
            .count();
        assert_eq!(codes, 2);
        assert_eq!(
            get(
                &m,
                "sitepulse_site_response_bytes_total",
                &[("site", "site001")]
            ),
            350.0
        );
        // The histogram: cumulative buckets, +Inf last, sum in seconds.
        let b = |site: &str, le: &str| {
            get(
                &m,
                "sitepulse_site_request_duration_seconds_bucket",
                &[("site", site), ("le", le)],
            )
        };
        assert_eq!(b("site001", "0.005"), 2.0);
        assert_eq!(b("site001", "0.01"), 3.0);
        assert_eq!(b("site001", "0.05"), 4.0);
        assert_eq!(b("site001", "1.0"), 4.0);
        assert_eq!(b("site001", "2.5"), 5.0);
        assert_eq!(b("site001", "+Inf"), 5.0);
        assert_eq!(b("site002", "60.0"), 0.0);
        assert_eq!(b("site002", "+Inf"), 1.0);
        assert_eq!(
            get(
                &m,
                "sitepulse_site_request_duration_seconds_count",
                &[("site", "site001")]
            ),
            5.0
        );
        let sum = get(
            &m,
            "sitepulse_site_request_duration_seconds_sum",
            &[("site", "site001")],
        );
        assert!((sum - 1.552).abs() < 1e-9, "{sum}");
        // Gauges from the windows.
        for w in WINDOW_NAMES {
            let rps = get(
                &m,
                "sitepulse_site_rps",
                &[("site", "site001"), ("window", w)],
            );
            let want = snap.site("site001").unwrap().window(w).unwrap().rps();
            assert_eq!(rps, want, "{w}");
            assert!(rps > 0.0);
        }
        let inf = get(&m, "sitepulse_site_in_flight", &[("site", "site002")]);
        assert!(inf > 0.0, "{inf}");
        // FPM and PHP: per pool, per level seen, killed children.
        assert_eq!(
            get(
                &m,
                "sitepulse_fpm_max_children_reached_total",
                &[("site", "site001"), ("pool", "site001")]
            ),
            2.0
        );
        assert_eq!(
            get(
                &m,
                "sitepulse_fpm_slow_requests_total",
                &[("site", "site001"), ("pool", "site001")]
            ),
            0.0
        );
        assert_eq!(
            get(
                &m,
                "sitepulse_fpm_child_terminations_total",
                &[("site", "site001")]
            ),
            1.0
        );
        assert_eq!(
            get(
                &m,
                "sitepulse_php_errors_total",
                &[("site", "site003"), ("level", "deprecated")]
            ),
            1.0
        );
        // site003 has no request: no request family series.
        assert!(!m.keys().any(|k| k.0.starts_with("sitepulse_site_")
            && k.1.contains(&("site".into(), "site003".into()))));
        // The flat count agrees with sample_count.
        assert_eq!(m.len(), sample_count(&fams));
    }

    #[test]
    fn an_empty_snapshot_has_every_family_and_no_series() {
        let fams = site_families(&SitesSnapshot::default());
        assert_eq!(fams.len(), FAMILY_NAMES.len());
        assert_eq!(sample_count(&fams), 0);
    }

    /// The per-site table of docs/metrics.md: metric name → label names.
    fn documented() -> BTreeMap<String, BTreeSet<String>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let section = doc
            .split("\n## Per site\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("docs/metrics.md has a `## Per site` section");
        let mut out = BTreeMap::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_owned();
            let labels = cells[3]
                .split(',')
                .map(|l| l.trim().trim_matches('`').to_owned())
                .filter(|l| !l.is_empty() && l != "—")
                .collect();
            out.insert(name, labels);
        }
        out
    }

    #[test]
    fn names_and_labels_are_those_docs_metrics_md_lists() {
        let snap = snapshot();
        // Every family has a series in this snapshot: label names come
        // from the series, sample names from the kind.
        let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in site_families(&snap) {
            let name = match f.kind {
                Kind::Counter => format!("{}_total", f.name),
                _ => f.name.to_owned(),
            };
            let mut labels: BTreeSet<String> = f
                .series
                .iter()
                .flat_map(|s| s.labels.iter().map(|(k, _)| (*k).to_owned()))
                .collect();
            if matches!(f.kind, Kind::Histogram { .. }) {
                labels.insert("le".into());
            }
            assert!(
                !f.series.is_empty(),
                "{name}: no series in the test snapshot"
            );
            got.insert(name, labels);
        }
        assert_eq!(got, documented());
        for labels in got.values() {
            for l in labels {
                assert!(LABEL_NAMES.contains(&l.as_str()), "{l} not in LABEL_NAMES");
            }
        }
    }

    #[test]
    fn le_values_are_spelled_as_prometheus_client_writes_them() {
        use prometheus_client::metrics::histogram::Histogram as PcHistogram;
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register("h", "h", PcHistogram::new(LATENCY_BUCKETS_SECS));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
        let theirs: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
            .collect();
        let ours: Vec<String> = LATENCY_BUCKETS_SECS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .map(le_value)
            .collect();
        assert_eq!(theirs, ours);
    }
}

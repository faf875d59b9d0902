//! The per-site series of `/metrics` ([`crate::series`]) as OTLP metrics,
//! exported every `metrics_interval_secs` from the latest snapshot.
//!
//! Names and types follow the OpenTelemetry "Prometheus and OpenMetrics
//! Compatibility" specification
//! (<https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/>),
//! so that a Collector's `prometheus` / `prometheusremotewrite` exporter
//! gives back the names `/metrics` has:
//! - a Prometheus counter is an OTLP monotonic cumulative `Sum` named
//!   without `_total` ("Counters": the suffix is removed going to OTLP and
//!   added back going to Prometheus);
//! - a gauge is a `Gauge`; a histogram a cumulative explicit-bucket
//!   `Histogram` (its `_bucket`/`_sum`/`_count` come back from the bounds,
//!   counts, sum and count);
//! - the unit is the UCUM unit whose Prometheus suffix the name already
//!   ends with (`s` for `_seconds`, `By` for `_bytes`), so no suffix is
//!   appended twice ("Metric Metadata"), and empty otherwise (a `1` would
//!   add `_ratio`);
//! - labels are data point attributes with the same names and values.
//!
//! A counter's `start_time_unix_nano` is when this process first opened
//! the sink (the counters are "since start"); a series whose value went
//! down (its site was evicted and came back, or a reload rebuilt the
//! pipeline) starts again at the previous export's time, which OTLP
//! readers take as a reset.

use std::collections::HashMap;
use std::sync::OnceLock;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use sitepulse_pipeline::snapshot::SitesSnapshot;

use super::config::OtlpConfig;
use super::logs::{SCOPE_NAME, SERVICE_NAME};
use crate::series::{self, Family, Kind, Series, Value};

/// When this process first opened an OTLP metrics sink, Unix ns: the start
/// of every cumulative series (a reload reopens the sink, not the
/// counters).
static PROCESS_START_NS: OnceLock<u64> = OnceLock::new();

/// The start of the cumulative series, fixed on first use.
pub fn process_start_ns(now_ms: u64) -> u64 {
    *PROCESS_START_NS.get_or_init(|| now_ms.saturating_mul(1_000_000))
}

/// The OTLP unit of a family, from the Prometheus unit suffix its name
/// ends with.
pub fn unit(name: &str) -> &'static str {
    if name.ends_with("_seconds") {
        "s"
    } else if name.ends_with("_bytes") {
        "By"
    } else {
        ""
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// The node's name: `$NODE_NAME` (the DaemonSet sets it from
/// `spec.nodeName`), else the host name.
fn node_name() -> Option<String> {
    std::env::var("NODE_NAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The resource of every metrics export: `service.name`, and the node as
/// `service.instance.id` and `k8s.node.name` (a Collector's Prometheus
/// exporters make `service.instance.id` the `instance` label, so the
/// per-site series of two nodes stay apart), unless configured; then the
/// configured `resource_attributes`.
pub fn resource(cfg: &OtlpConfig, node: Option<&str>) -> Resource {
    let mut attributes = Vec::new();
    let set = |k: &str| cfg.resource_attributes.contains_key(k);
    if !set("service.name") {
        attributes.push(kv("service.name", SERVICE_NAME));
    }
    if let Some(n) = node {
        for k in ["service.instance.id", "k8s.node.name"] {
            if !set(k) {
                attributes.push(kv(k, n));
            }
        }
    }
    for (k, v) in &cfg.resource_attributes {
        attributes.push(kv(k, v));
    }
    Resource {
        attributes,
        ..Resource::default()
    }
}

/// An export cut into frames of at most about `batch_bytes`.
#[derive(Debug)]
pub struct Frames {
    /// `(encoded ExportMetricsServiceRequest, data points)`.
    pub frames: Vec<(Vec<u8>, u32)>,
    pub points: u64,
}

/// Builds the exports of successive snapshots.
#[derive(Debug)]
pub struct Exporter {
    resource: Resource,
    scope: InstrumentationScope,
    batch_bytes: usize,
    start_ns: u64,
    /// Per counter or histogram series: `(start, last count)`.
    cumulative: HashMap<String, (u64, u64)>,
    last_time_ns: u64,
}

/// What a data point is in the frame being filled.
enum Points {
    Number(Vec<NumberDataPoint>),
    Histogram(Vec<HistogramDataPoint>),
}

impl Exporter {
    /// `start_ns`: the start of every cumulative series.
    pub fn new(cfg: &OtlpConfig, start_ns: u64) -> Exporter {
        Exporter {
            resource: resource(cfg, node_name().as_deref()),
            scope: InstrumentationScope {
                name: SCOPE_NAME.into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..InstrumentationScope::default()
            },
            batch_bytes: cfg.batch_bytes as usize,
            start_ns,
            cumulative: HashMap::new(),
            last_time_ns: 0,
        }
    }

    /// The resource every export carries.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// The start time of a cumulative series now at `count` at `time_ns`
    /// (see the module doc for resets); never after `time_ns` (a snapshot
    /// taken before the sink opened).
    fn start_of(&mut self, key: String, count: u64, time_ns: u64) -> u64 {
        let fallback = (self.start_ns, count);
        let prev = self.last_time_ns.max(self.start_ns);
        let e = self.cumulative.entry(key).or_insert(fallback);
        if count < e.1 {
            e.0 = prev;
        }
        e.1 = count;
        e.0.min(time_ns)
    }

    /// The export of `snap` taken at `time_ms`, in frames.
    pub fn export(&mut self, snap: &SitesSnapshot, time_ms: u64) -> Frames {
        let time_ns = time_ms.saturating_mul(1_000_000);
        let families = series::site_families(snap);
        let mut out = Frames {
            frames: Vec::new(),
            points: 0,
        };
        let mut metrics: Vec<Metric> = Vec::new();
        let mut bytes = 0usize;
        let mut points = 0u32;
        let mut seen = std::collections::HashSet::new();
        for fam in &families {
            let mut cur = self.empty_points(fam);
            for s in &fam.series {
                let key = series_key(fam.name, s);
                let size = match self.point(fam, s, key.clone(), time_ns, &mut cur) {
                    Some(n) => n,
                    None => continue,
                };
                seen.insert(key);
                bytes += size;
                points += 1;
                if bytes >= self.batch_bytes {
                    let full = std::mem::replace(&mut cur, self.empty_points(fam));
                    metrics.push(metric(fam, full));
                    out.frames
                        .push(self.frame(std::mem::take(&mut metrics), points));
                    out.points += u64::from(points);
                    bytes = 0;
                    points = 0;
                }
            }
            if !cur.is_empty() {
                metrics.push(metric(fam, cur));
            }
        }
        if points > 0 {
            out.frames.push(self.frame(metrics, points));
            out.points += u64::from(points);
        }
        // Series gone from the snapshot are forgotten (the map follows
        // the site table).
        self.cumulative.retain(|k, _| seen.contains(k));
        self.last_time_ns = time_ns;
        out
    }

    fn empty_points(&self, fam: &Family) -> Points {
        match fam.kind {
            Kind::Histogram { .. } => Points::Histogram(Vec::new()),
            Kind::Counter | Kind::Gauge => Points::Number(Vec::new()),
        }
    }

    /// Adds the data point of `s` to `cur`; its encoded size.
    fn point(
        &mut self,
        fam: &Family,
        s: &Series,
        key: String,
        time_ns: u64,
        cur: &mut Points,
    ) -> Option<usize> {
        let attributes: Vec<KeyValue> = s.labels.iter().map(|(k, v)| kv(k, v)).collect();
        match (&s.value, cur) {
            (Value::Counter(v), Points::Number(list)) => {
                let start = self.start_of(key, *v, time_ns);
                let p = NumberDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time_ns,
                    value: Some(number_data_point::Value::AsInt(
                        i64::try_from(*v).unwrap_or(i64::MAX),
                    )),
                    ..NumberDataPoint::default()
                };
                let n = p.encoded_len() + 4;
                list.push(p);
                Some(n)
            }
            (Value::Gauge(v), Points::Number(list)) => {
                let p = NumberDataPoint {
                    attributes,
                    time_unix_nano: time_ns,
                    value: Some(number_data_point::Value::AsDouble(*v)),
                    ..NumberDataPoint::default()
                };
                let n = p.encoded_len() + 4;
                list.push(p);
                Some(n)
            }
            (Value::Histogram(h), Points::Histogram(list)) => {
                let Kind::Histogram { bounds } = fam.kind else {
                    return None;
                };
                let start = self.start_of(key, h.count, time_ns);
                let p = HistogramDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time_ns,
                    count: h.count,
                    sum: Some(h.sum),
                    bucket_counts: h.counts.clone(),
                    explicit_bounds: bounds.to_vec(),
                    ..HistogramDataPoint::default()
                };
                let n = p.encoded_len() + 4;
                list.push(p);
                Some(n)
            }
            _ => None,
        }
    }

    fn frame(&self, metrics: Vec<Metric>, points: u32) -> (Vec<u8>, u32) {
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(self.scope.clone()),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        (req.encode_to_vec(), points)
    }
}

impl Points {
    fn is_empty(&self) -> bool {
        match self {
            Points::Number(l) => l.is_empty(),
            Points::Histogram(l) => l.is_empty(),
        }
    }
}

/// A series' identity: family, then label pairs.
fn series_key(family: &str, s: &Series) -> String {
    let mut k = String::with_capacity(64);
    k.push_str(family);
    for (n, v) in &s.labels {
        k.push('\0');
        k.push_str(n);
        k.push('=');
        k.push_str(v);
    }
    k
}

/// The OTLP metric of `fam` with `points`.
fn metric(fam: &Family, points: Points) -> Metric {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let data = match (fam.kind, points) {
        (Kind::Counter, Points::Number(data_points)) => metric::Data::Sum(Sum {
            data_points,
            aggregation_temporality: cumulative,
            is_monotonic: true,
        }),
        (Kind::Gauge, Points::Number(data_points)) => metric::Data::Gauge(Gauge { data_points }),
        (_, Points::Histogram(data_points)) => metric::Data::Histogram(Histogram {
            data_points,
            aggregation_temporality: cumulative,
        }),
        (_, Points::Number(data_points)) => metric::Data::Gauge(Gauge { data_points }),
    };
    Metric {
        name: fam.name.to_owned(),
        description: fam.help.to_owned(),
        unit: unit(fam.name).to_owned(),
        data: Some(data),
        ..Metric::default()
    }
}

/// Exports the latest snapshot every `interval` into `spool` until
/// `shutdown` turns true. A snapshot no newer than the last one exported
/// is skipped; an export the spool has no room for is dropped and counted
/// (`spool_full`): the next one carries the same cumulative counts.
pub(crate) async fn run_exports(
    mut exporter: Exporter,
    interval: std::time::Duration,
    source: crate::SnapshotSource,
    spool: crate::spool::SharedSpool,
    stats: std::sync::Arc<crate::stats::SinkStats>,
    wake: std::sync::Arc<tokio::sync::Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use std::sync::atomic::Ordering::Relaxed;

    use crate::spool::Pushed;

    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ms = 0;
    let mut full_logged = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        let (snap, time_ms) = source();
        if time_ms <= last_ms {
            continue;
        }
        last_ms = time_ms;
        let export = exporter.export(&snap, time_ms);
        let now = crate::send::unix_ms();
        let mut s = spool.lock();
        let mut pushed = 0;
        for (frame, points) in &export.frames {
            let result = s.push(frame, *points, now);
            match result {
                Ok(Pushed::Stored) => {}
                Ok(Pushed::DroppedOldest { items, .. }) => {
                    stats.dropped("spool_full", items);
                }
                Ok(Pushed::Full) | Err(_) => {
                    stats.dropped("spool_full", u64::from(*points));
                    if !full_logged {
                        full_logged = true;
                        let error = result.err().map(|e| e.to_string());
                        tracing::warn!(
                            sink = "otlp",
                            signal = "metrics",
                            error,
                            "metrics spool full or unwritable: exports are dropped (counted) \
                             until the receiver catches up; counters are cumulative, so \
                             the next export carries what was missed"
                        );
                    }
                    continue;
                }
            }
            stats.accepted_items.fetch_add(u64::from(*points), Relaxed);
            pushed += 1;
        }
        stats.spool(&s);
        drop(s);
        if pushed == export.frames.len() {
            full_logged = false;
        }
        if pushed > 0 {
            wake.notify_one();
        }
    }
}

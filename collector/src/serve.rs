//! `run`'s HTTP endpoints, until the later sinks and APIs exist:
//!
//! - `GET /api/v1/sites`: live per-site numbers over 1m and 5m windows
//!   (requests, rps, error ratio, p50/p95/p99, in-flight), busiest first;
//! - `GET /api/v1/status`: every open file (read and committed offsets,
//!   size, bytes behind), counters per format, tailer and checkpoint state;
//! - `GET /metrics`: the same counters in the Prometheus text exposition
//!   format 0.0.4 (<https://prometheus.io/docs/instrumenting/exposition_formats/>),
//!   named like Promtail's and Vector's where they have one;
//! - `GET /healthz`.
//!
//! Handlers take the pipeline lock only to copy numbers out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde::Serialize;

use crate::aggregate::WindowStats;
use crate::label::SiteId;
use crate::live::{LiveState, SourceCounts, lock};

/// The router over a running collector's state.
pub fn router(state: LiveState) -> Router {
    Router::new()
        .route("/api/v1/sites", get(sites))
        .route("/api/v1/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(state)
}

/// One window of one site.
#[derive(Debug, Serialize)]
pub struct WindowJson {
    /// Requests in the window.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// 5xx / all requests.
    pub error_ratio: f64,
    /// Latency quantiles in milliseconds (`null` without requests).
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Mean requests in flight (Little's law).
    pub in_flight: f64,
}

impl From<&WindowStats> for WindowJson {
    fn from(w: &WindowStats) -> Self {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        WindowJson {
            requests: w.requests(),
            rps: round(w.rps()),
            error_ratio: round(w.error_ratio() * 1000.0) / 1000.0,
            p50_ms: w.quantile_ms(0.50).map(round),
            p95_ms: w.quantile_ms(0.95).map(round),
            p99_ms: w.quantile_ms(0.99).map(round),
            in_flight: round(w.in_flight()),
        }
    }
}

/// One site in `/api/v1/sites`.
#[derive(Debug, Serialize)]
pub struct SiteJson {
    /// Site name.
    pub site: String,
    /// Last minute.
    #[serde(rename = "1m")]
    pub m1: WindowJson,
    /// Last five minutes.
    #[serde(rename = "5m")]
    pub m5: WindowJson,
    /// Requests since start.
    pub total_requests: u64,
}

/// `/api/v1/sites`.
#[derive(Debug, Serialize)]
pub struct SitesJson {
    /// The windows' end, Unix seconds.
    pub now_unix: Option<i64>,
    /// Sites, busiest (5m rps) first.
    pub sites: Vec<SiteJson>,
}

async fn sites(State(st): State<LiveState>) -> Json<SitesJson> {
    let core = lock(&st.core);
    let agg = core.pipeline.aggregator();
    let table = core.pipeline.labeler().sites();
    let mut sites: Vec<SiteJson> = table
        .iter()
        .map(|(id, name)| site_json(agg, id, name))
        .collect();
    sites.sort_by(|a, b| {
        b.m5.rps
            .total_cmp(&a.m5.rps)
            .then(b.total_requests.cmp(&a.total_requests))
            .then(a.site.cmp(&b.site))
    });
    Json(SitesJson {
        now_unix: agg.now(),
        sites,
    })
}

fn site_json(agg: &crate::aggregate::Aggregator, id: SiteId, name: &str) -> SiteJson {
    SiteJson {
        site: name.to_owned(),
        m1: (&agg.window(id, 60)).into(),
        m5: (&agg.window(id, 300)).into(),
        total_requests: agg.totals(id).map_or(0, |t| t.requests()),
    }
}

/// One open file in `/api/v1/status`.
#[derive(Debug, Serialize)]
pub struct FileJson {
    /// The followed path.
    pub path: String,
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// Offset just after the last line read.
    pub read_offset: u64,
    /// Offset the next checkpoint records (lines committed downstream).
    pub committed_offset: Option<u64>,
    /// File size when last looked at.
    pub size: u64,
    /// `size - read_offset`.
    pub behind_bytes: u64,
    /// The file the path names (false: rotated away, being drained).
    pub current: bool,
}

/// `/api/v1/status`.
#[derive(Debug, Serialize)]
pub struct StatusJson {
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Open files.
    pub files: Vec<FileJson>,
    /// Paths followed.
    pub files_watched: u64,
    /// Bytes behind over all files.
    pub behind_bytes: u64,
    /// Physical lines read, all formats.
    pub lines: u64,
    /// Bytes read, all formats.
    pub bytes_read: u64,
    /// Counters per detected format (`unknown` before detection).
    pub sources: BTreeMap<&'static str, SourceCounts>,
    /// Rotations seen (rename-and-create, symlink swaps).
    pub rotations: u64,
    /// Truncations seen (copytruncate).
    pub truncations: u64,
    /// Bytes read from rotated copies after a truncation.
    pub copy_recovered_bytes: u64,
    /// Tailer state.
    pub tail: TailJson,
    /// Checkpoint state.
    pub checkpoint: CheckpointJson,
    /// Sites in the table.
    pub sites: usize,
    /// Records dated before the retention.
    pub late_records: u64,
    /// Records dated too far ahead.
    pub future_records: u64,
    /// Records labelled `_unknown`.
    pub unknown_site_records: u64,
    /// Tap write errors.
    pub tap_errors: u64,
}

/// Tailer counters.
#[derive(Debug, Serialize)]
pub struct TailJson {
    /// inotify in use (false: polling).
    pub inotify: bool,
    /// Directories watched.
    pub dirs_watched: u64,
    /// Watches that could not be added.
    pub watch_errors: u64,
    /// inotify queue overflows.
    pub overflows: u64,
    /// Discovery scans.
    pub scans: u64,
    /// Full sweeps.
    pub sweeps: u64,
    /// Poll errors.
    pub read_errors: u64,
    /// Files skipped as older than `ignore_older_secs`.
    pub ignored_old: u64,
    /// Rotated files found again from the checkpoint after a restart.
    pub orphans_recovered: u64,
    /// Checkpointed files not found again.
    pub orphans_lost: u64,
    /// Files closed after being drained.
    pub files_closed: u64,
}

/// Checkpoint state.
#[derive(Debug, Serialize)]
pub struct CheckpointJson {
    /// The file.
    pub path: String,
    /// Seconds since the last successful save (`null`: none yet).
    pub age_secs: Option<f64>,
    /// Saves so far.
    pub saves: u64,
    /// The last save's error, when it failed.
    pub error: Option<String>,
}

fn secs_since(t: SystemTime) -> f64 {
    SystemTime::now()
        .duration_since(t)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Builds the status document (also the source of `/metrics`).
pub fn status_json(st: &LiveState) -> StatusJson {
    let core = lock(&st.core);
    let sources = core.source_counts();
    let committed = core.committed();
    let agg = core.pipeline.aggregator().stats();
    let label = core.pipeline.labeler().stats();
    let nsites = core.pipeline.labeler().sites().len();
    let (saved, saves, error, tap_errors) = (
        core.checkpoint_saved,
        core.checkpoint_saves,
        core.checkpoint_error.clone(),
        core.tap_errors,
    );
    drop(core);
    let tail = lock(&st.tail).clone();
    let files: Vec<FileJson> = tail
        .files
        .iter()
        .map(|f| FileJson {
            path: f.path.display().to_string(),
            dev: f.id.dev,
            ino: f.id.ino,
            read_offset: f.offset,
            committed_offset: committed.get(&f.stream).copied(),
            size: f.size,
            behind_bytes: f.size.saturating_sub(f.offset),
            current: f.current,
        })
        .collect();
    let s = tail.stats;
    StatusJson {
        uptime_secs: secs_since(st.started) as u64,
        behind_bytes: files.iter().map(|f| f.behind_bytes).sum(),
        files_watched: s.files,
        lines: sources.values().map(|c| c.lines).sum(),
        bytes_read: sources.values().map(|c| c.bytes).sum(),
        files,
        sources,
        rotations: s.follow.rotations,
        truncations: s.follow.truncations,
        copy_recovered_bytes: s.follow.copy_bytes,
        tail: TailJson {
            inotify: s.inotify,
            dirs_watched: s.dirs_watched,
            watch_errors: s.watch_errors,
            overflows: s.overflows,
            scans: s.scans,
            sweeps: s.sweeps,
            read_errors: s.read_errors,
            ignored_old: s.ignored_old,
            orphans_recovered: s.orphans_recovered,
            orphans_lost: s.orphans_lost,
            files_closed: s.follow.closed,
        },
        checkpoint: CheckpointJson {
            path: st.checkpoint_path.display().to_string(),
            age_secs: saved.map(secs_since),
            saves,
            error,
        },
        sites: nsites,
        late_records: agg.late,
        future_records: agg.future,
        unknown_site_records: label.unknown_records,
        tap_errors,
    }
}

/// Asks the reader for a fresh file list and waits for it briefly (it is
/// built on demand, not on every tick).
async fn fresh_tail(st: &LiveState) {
    let asked = SystemTime::now();
    lock(&st.tail).wanted = true;
    for _ in 0..25 {
        if lock(&st.tail).taken.is_some_and(|t| t >= asked) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn status(State(st): State<LiveState>) -> Json<StatusJson> {
    fresh_tail(&st).await;
    Json(status_json(&st))
}

/// A label value escaped for the text format (`\\`, `"`, newline).
fn esc(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Renders the self-metrics in the Prometheus text format.
pub fn render_metrics(s: &StatusJson) -> String {
    let mut o = String::with_capacity(4096 + 160 * s.files.len());
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    let one = |o: &mut String, name: &str, v: f64| {
        let _ = writeln!(o, "{name} {v}");
    };
    family(
        &mut o,
        "sitepulse_files_watched",
        "gauge",
        "Paths being followed.",
    );
    one(&mut o, "sitepulse_files_watched", s.files_watched as f64);
    for (name, help, get) in [
        (
            "sitepulse_file_read_offset_bytes",
            "Offset just after the last line read, per open file.",
            (|f: &FileJson| f.read_offset) as fn(&FileJson) -> u64,
        ),
        (
            "sitepulse_file_behind_bytes",
            "File size minus read offset, per open file.",
            |f| f.behind_bytes,
        ),
    ] {
        family(&mut o, name, "gauge", help);
        for f in &s.files {
            let _ = writeln!(
                o,
                "{name}{{path=\"{}\",ino=\"{}\"}} {}",
                esc(&f.path),
                f.ino,
                get(f)
            );
        }
    }
    family(
        &mut o,
        "sitepulse_behind_bytes",
        "gauge",
        "Bytes written to tailed files and not read yet.",
    );
    one(&mut o, "sitepulse_behind_bytes", s.behind_bytes as f64);
    for (name, help, get) in [
        (
            "sitepulse_read_lines_total",
            "Physical lines read, by detected format.",
            (|c: &SourceCounts| c.lines) as fn(&SourceCounts) -> u64,
        ),
        (
            "sitepulse_read_bytes_total",
            "Bytes read, by detected format.",
            |c| c.bytes,
        ),
        (
            "sitepulse_records_total",
            "Records parsed, by format.",
            |c| c.records,
        ),
        (
            "sitepulse_truncated_lines_total",
            "Lines cut at max_line_bytes, by format.",
            |c| c.truncated,
        ),
    ] {
        family(&mut o, name, "counter", help);
        for (fmt, c) in &s.sources {
            let _ = writeln!(o, "{name}{{format=\"{fmt}\"}} {}", get(c));
        }
    }
    family(
        &mut o,
        "sitepulse_parse_errors_total",
        "counter",
        "Lines that did not parse, by format and reason.",
    );
    for (fmt, c) in &s.sources {
        for (reason, n) in &c.unparsed {
            let _ = writeln!(
                o,
                "sitepulse_parse_errors_total{{format=\"{fmt}\",reason=\"{reason}\"}} {n}"
            );
        }
    }
    let counters: [(&str, &str, u64); 14] = [
        (
            "sitepulse_rotations_total",
            "Rotations seen (rename-and-create, symlink swaps).",
            s.rotations,
        ),
        (
            "sitepulse_truncations_total",
            "Truncations seen (copytruncate).",
            s.truncations,
        ),
        (
            "sitepulse_copy_recovered_bytes_total",
            "Bytes read from a rotated copy after a truncation.",
            s.copy_recovered_bytes,
        ),
        (
            "sitepulse_files_closed_total",
            "Files closed after they were rotated away or deleted and drained.",
            s.tail.files_closed,
        ),
        (
            "sitepulse_tail_scans_total",
            "Discovery scans.",
            s.tail.scans,
        ),
        (
            "sitepulse_tail_sweeps_total",
            "Full sweeps (every file checked).",
            s.tail.sweeps,
        ),
        (
            "sitepulse_tail_read_errors_total",
            "Poll errors.",
            s.tail.read_errors,
        ),
        (
            "sitepulse_inotify_overflows_total",
            "inotify queue overflows.",
            s.tail.overflows,
        ),
        (
            "sitepulse_inotify_watch_errors_total",
            "inotify watches that could not be added.",
            s.tail.watch_errors,
        ),
        (
            "sitepulse_checkpoint_saves_total",
            "Checkpoint files written.",
            s.checkpoint.saves,
        ),
        (
            "sitepulse_late_records_total",
            "Records dated before the retention window.",
            s.late_records,
        ),
        (
            "sitepulse_future_records_total",
            "Records dated too far in the future.",
            s.future_records,
        ),
        (
            "sitepulse_unknown_site_records_total",
            "Records no site could be found for.",
            s.unknown_site_records,
        ),
        (
            "sitepulse_tap_errors_total",
            "Tap write errors.",
            s.tap_errors,
        ),
    ];
    for (name, help, v) in counters {
        family(&mut o, name, "counter", help);
        one(&mut o, name, v as f64);
    }
    let gauges: [(&str, &str, f64); 5] = [
        (
            "sitepulse_inotify_enabled",
            "1 when inotify wakes the tailer, 0 when it polls.",
            f64::from(u8::from(s.tail.inotify)),
        ),
        (
            "sitepulse_inotify_dirs_watched",
            "Directories under inotify watch.",
            s.tail.dirs_watched as f64,
        ),
        (
            "sitepulse_checkpoint_age_seconds",
            "Seconds since the last checkpoint save (-1: none yet).",
            s.checkpoint.age_secs.unwrap_or(-1.0),
        ),
        (
            "sitepulse_sites",
            "Sites in the site table.",
            s.sites as f64,
        ),
        (
            "sitepulse_uptime_seconds",
            "Seconds since start.",
            s.uptime_secs as f64,
        ),
    ];
    for (name, help, v) in gauges {
        family(&mut o, name, "gauge", help);
        one(&mut o, name, v);
    }
    o
}

async fn metrics(State(st): State<LiveState>) -> impl IntoResponse {
    fresh_tail(&st).await;
    let body = render_metrics(&status_json(&st));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

//! `GET /metrics`: self-metrics in the Prometheus text exposition format
//! 0.0.4 (<https://prometheus.io/docs/instrumenting/exposition_formats/>),
//! named like Promtail's and Vector's where they have one. Rendered from
//! the latest snapshots, once per snapshot; the HTTP server's own
//! counters are appended per request.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::api::{FileJson, StatusJson, status_json};
use super::{AppState, HttpStats};
use crate::run::SourceCounts;

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

/// Appends the HTTP server's counters.
fn render_http(o: &mut String, h: &HttpStats) {
    for (name, kind, help, v) in [
        (
            "sitepulse_http_connections_open",
            "gauge",
            "HTTP connections open now.",
            h.open.load(Ordering::Relaxed),
        ),
        (
            "sitepulse_http_connections_accepted_total",
            "counter",
            "HTTP connections accepted.",
            h.accepted.load(Ordering::Relaxed),
        ),
        (
            "sitepulse_http_connections_rejected_total",
            "counter",
            "HTTP connections refused at server.max_connections.",
            h.rejected.load(Ordering::Relaxed),
        ),
        (
            "sitepulse_http_accept_errors_total",
            "counter",
            "accept(2) errors.",
            h.accept_errors.load(Ordering::Relaxed),
        ),
    ] {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
    }
}

/// `/metrics`: rendered once per snapshot pair; asks the reader for a
/// fresher file list for the next scrape without waiting for it.
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    st.live.want_tail();
    let key = (st.live.published().seq, st.live.tail().seq);
    let cached = st.cache.metrics.load_full();
    let mut body = match cached.as_deref() {
        Some((k, text)) if *k == key => text.clone(),
        _ => {
            let text = render_metrics(&status_json(&st.live));
            st.cache.metrics.store(Some(Arc::new((key, text.clone()))));
            text
        }
    };
    render_http(&mut body, &st.http);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

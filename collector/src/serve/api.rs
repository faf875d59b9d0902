//! The JSON endpoints (every field is described in `docs/api.md`):
//!
//! - `GET /api/v1/sites` and `/api/v1/sites/{site}` ([`sites`]): per-site
//!   numbers over 1m, 5m and 1h and since start, chosen and ordered by
//!   query parameters;
//! - `GET /api/v1/status`: every open file (read and committed offsets,
//!   size, bytes behind), counters per format, tailer and checkpoint state;
//!   asks for fresh snapshots first (at most 500 ms).
//!
//! Errors are JSON ([`error`]).

pub mod error;
#[cfg(test)]
pub(crate) mod fixture;
pub mod sites;

use std::collections::BTreeMap;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Json;
use serde::Serialize;

pub use error::{ApiError, no_method, no_route};
pub use sites::{site, sites};

use super::AppState;
use super::metrics::MetricsCache;
use crate::run::{LiveState, SourceCounts};

/// Bodies rendered from one snapshot, reused until the next.
#[derive(Debug, Default)]
pub struct RenderCache {
    /// `/api/v1/sites`: the snapshot `seq` and the query string it was
    /// rendered for.
    pub sites: ArcSwapOption<(u64, String, Bytes)>,
    /// `/metrics`, per format.
    pub metrics: MetricsCache,
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
    /// Its descriptor was given back while it is idle (read to its end);
    /// it is reopened when it changes.
    pub parked: bool,
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
    /// Site labelling.
    pub label: LabelJson,
    /// Age of the per-site snapshot these numbers come from.
    pub snapshot_age_secs: Option<f64>,
    /// Each sink's counters, spool and lag.
    pub sinks: Vec<SinkJson>,
}

/// One sink on the status page.
#[derive(Debug, Serialize)]
pub struct SinkJson {
    pub name: &'static str,
    #[serde(flatten)]
    pub stats: sitepulse_sinks::stats::SinkStatsSnapshot,
    /// Files whose shipping cursor for this sink is behind the live one.
    pub lagging_files: u64,
    /// Bytes between those cursors.
    pub lag_bytes: u64,
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
    /// The last open failed for want of file descriptors.
    pub fd_exhausted: bool,
    /// Descriptors tailing holds now, and the most it may hold
    /// (`tail.max_open_files`).
    pub open_fds: u64,
    pub max_open_fds: u64,
    /// Followed files whose descriptor was given back while idle.
    pub parked: u64,
    /// Times a file was parked.
    pub parks: u64,
    /// Files waiting for a descriptor.
    pub waiting: u64,
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
    /// Failed saves so far (each retry counts).
    pub failures: u64,
    /// The last save's error, while saves fail (`null` once one succeeds).
    pub error: Option<String>,
    /// The corrupt checkpoint file moved aside at start (`null`: none).
    pub quarantined: Option<QuarantinedJson>,
}

/// Site labelling counters.
#[derive(Debug, Serialize)]
pub struct LabelJson {
    /// Records no site could be found for (`_unknown`).
    pub unknown_records: u64,
    /// Distinct site keys refused because the site table was full.
    pub sites_refused: u64,
    /// Times a site-key cache filled up and was emptied.
    pub cache_resets: u64,
    /// Records whose own key (router, service, Host, script, pool) named
    /// another site than their file's namespace.
    pub conflicting_records: u64,
    /// The first such pairs, `[site of the line's key, site of the
    /// namespace]` (see docs/sites.md).
    pub conflicts: Vec<[String; 2]>,
    /// Sites that look like one site under two naming schemes, `[short,
    /// long]` (`site007`, `site007-example-com`): a domain missing from
    /// `sites.domains` (see docs/sites.md).
    pub split_names: Vec<[String; 2]>,
}

/// A corrupt checkpoint file moved aside (`tail.checkpoint_corrupt`).
#[derive(Debug, Serialize)]
pub struct QuarantinedJson {
    /// Where it is now.
    pub moved_to: String,
    /// Why: the parse error with file, line and column.
    pub error: String,
}

fn secs_since(t: SystemTime) -> f64 {
    SystemTime::now()
        .duration_since(t)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Builds the status document from the latest snapshots.
pub fn status_json(st: &LiveState) -> StatusJson {
    let published = st.published();
    let ingest = &published.ingest;
    let tail = st.tail();
    let files: Vec<FileJson> = tail
        .files
        .iter()
        .map(|f| FileJson {
            path: f.path.display().to_string(),
            dev: f.id.dev,
            ino: f.id.ino,
            read_offset: f.offset,
            committed_offset: ingest.committed.get(&f.stream).copied(),
            size: f.size,
            behind_bytes: f.size.saturating_sub(f.offset),
            current: f.current,
            parked: f.parked,
        })
        .collect();
    let s = tail.stats;
    let sources = ingest.sources.clone();
    StatusJson {
        uptime_secs: secs_since(st.started()) as u64,
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
            fd_exhausted: s.fd_exhausted,
            open_fds: s.open_fds,
            max_open_fds: s.max_open_fds,
            parked: s.parked,
            parks: s.parks,
            waiting: s.waiting,
        },
        checkpoint: CheckpointJson {
            path: st.checkpoint_path().display().to_string(),
            age_secs: ingest.checkpoint_saved.map(secs_since),
            saves: ingest.checkpoint_saves,
            failures: ingest.checkpoint_failures,
            error: ingest.checkpoint_error.clone(),
            quarantined: st.checkpoint_quarantined().map(|q| QuarantinedJson {
                moved_to: q.to.display().to_string(),
                error: q.reason.clone(),
            }),
        },
        sites: published.sites.sites.len(),
        late_records: published.sites.agg.late,
        future_records: published.sites.agg.future,
        unknown_site_records: published.sites.label.unknown_records,
        tap_errors: ingest.tap_errors,
        label: LabelJson {
            unknown_records: published.sites.label.unknown_records,
            sites_refused: published.sites.label.sites_refused,
            cache_resets: published.sites.label.cache_resets,
            conflicting_records: published.sites.label.conflicts,
            conflicts: published
                .sites
                .conflicts
                .iter()
                .map(|(own, ns)| [own.clone(), ns.clone()])
                .collect(),
            split_names: published
                .sites
                .split_names
                .iter()
                .map(|(a, b)| [a.clone(), b.clone()])
                .collect(),
        },
        snapshot_age_secs: published.taken.map(secs_since),
        sinks: {
            let now_ms = sitepulse_sinks::send::unix_ms();
            st.sinks()
                .iter()
                .map(|v| SinkJson {
                    name: v.name,
                    stats: v.stats.snapshot(now_ms),
                    lagging_files: v.lagging_files,
                    lag_bytes: v.lag_bytes,
                })
                .collect()
        },
    }
}

/// `/api/v1/status`: asks for fresh snapshots first.
pub async fn status(State(st): State<AppState>) -> Json<StatusJson> {
    st.live.refresh().await;
    Json(status_json(&st.live))
}

//! The collector's own metrics: what it read and how, the tailer, the
//! checkpoint and the HTTP server, from the latest snapshots at scrape
//! time. Names follow Promtail's and Vector's where they have one. No
//! family is labelled by path or inode (unbounded): per-file numbers are on
//! `/api/v1/status`; here they are summed.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::super::HttpStats;
use crate::run::{LiveState, SourceCounts};

/// Reads one number of a `T`.
pub(super) type Get<T> = fn(&T) -> u64;

/// A counter family without labels.
pub(super) fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    let m = ConstCounter::new(v);
    m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
}

/// A gauge family without labels.
pub(super) fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> fmt::Result {
    let m = ConstGauge::new(v);
    m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
}

/// A counter family with one sample per label set.
fn counters<'a, const N: usize>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = ([(&'a str, &'a str); N], u64)>,
) -> fmt::Result {
    let mut fam = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(v).encode(fam.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The scrape-time collector of the `sitepulse_*` self-metrics.
#[derive(Debug)]
pub struct OwnMetrics {
    live: LiveState,
    http: Arc<HttpStats>,
    /// When the reader was last seen with nothing left to read (Unix ms of
    /// that file list; 0: never): the start of the current lag.
    caught_up_ms: AtomicU64,
}

impl OwnMetrics {
    /// Over a running collector's snapshots and its HTTP server's counters.
    pub fn new(live: LiveState, http: Arc<HttpStats>) -> Self {
        OwnMetrics {
            live,
            http,
            caught_up_ms: AtomicU64::new(0),
        }
    }

    /// `sitepulse_lag_seconds`: 0 while the latest file list shows every
    /// file read to its end; otherwise how long it has not: from the last
    /// file list that did (or the start) to the latest one. Its resolution
    /// is the file list's refresh: every scrape asks for one, so about the
    /// scrape interval.
    fn lag_secs(&self, behind: u64, taken: Option<SystemTime>) -> f64 {
        let Some(taken) = taken else { return 0.0 };
        let ms = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        };
        if behind == 0 {
            self.caught_up_ms.fetch_max(ms(taken), Ordering::Relaxed);
            return 0.0;
        }
        let since = match self.caught_up_ms.load(Ordering::Relaxed) {
            0 => ms(self.live.started()),
            t => t,
        };
        ms(taken).saturating_sub(since) as f64 / 1000.0
    }
}

impl Collector for OwnMetrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let published = self.live.published();
        let tail = self.live.tail();
        let ingest = &published.ingest;
        let (ts, fs) = (&tail.stats, &tail.stats.follow);
        let e = &mut enc;

        let sources = &ingest.sources;
        let per_format = |get: Get<SourceCounts>| {
            sources
                .iter()
                .map(move |(fmt, c)| ([("format", *fmt)], get(c)))
        };
        let by_format: [(&str, &str, Get<SourceCounts>); 4] = [
            (
                "read_lines",
                "Physical lines read, by detected format.",
                |c| c.lines,
            ),
            ("read_bytes", "Bytes read, by detected format.", |c| c.bytes),
            ("records", "Records parsed, by format.", |c| c.records),
            (
                "truncated_lines",
                "Lines cut at max_line_bytes, by format.",
                |c| c.truncated,
            ),
        ];
        for (name, help, get) in by_format {
            counters(e, name, help, per_format(get))?;
        }
        counters(
            e,
            "parse_errors",
            "Lines their format's parser refused (kept as text records), by format and reason.",
            sources.iter().flat_map(|(fmt, c)| {
                c.unparsed
                    .iter()
                    .map(move |(reason, n)| ([("format", *fmt), ("reason", *reason)], *n))
            }),
        )?;

        let behind: u64 = tail
            .files
            .iter()
            .map(|f| f.size.saturating_sub(f.offset))
            .sum();
        let sites = &published.sites;
        let cp = ingest;
        let counters_: [(&str, &str, u64); 26] = [
            (
                "rotations",
                "Rotations seen (rename-and-create, symlink swaps).",
                fs.rotations,
            ),
            (
                "truncations",
                "Truncations seen (copytruncate).",
                fs.truncations,
            ),
            (
                "copy_recovered_bytes",
                "Bytes read from a rotated copy after a truncation.",
                fs.copy_bytes,
            ),
            (
                "files_closed",
                "Files closed after they were rotated away or deleted and drained.",
                fs.closed,
            ),
            ("tail_scans", "Discovery scans.", ts.scans),
            (
                "tail_sweeps",
                "Full sweeps (every file checked).",
                ts.sweeps,
            ),
            ("tail_read_errors", "Poll errors.", ts.read_errors),
            (
                "tail_ignored_old_files",
                "Files left unread as older than ignore_older_secs.",
                ts.ignored_old,
            ),
            (
                "tail_orphans_recovered",
                "Rotated files named by the checkpoint found again after a restart.",
                ts.orphans_recovered,
            ),
            (
                "tail_orphans_lost",
                "Checkpointed files not found again after a restart.",
                ts.orphans_lost,
            ),
            (
                "tail_parks",
                "Times an idle file gave back its descriptor.",
                ts.parks,
            ),
            (
                "inotify_overflows",
                "inotify queue overflows.",
                ts.overflows,
            ),
            (
                "inotify_watch_errors",
                "inotify watches that could not be added.",
                ts.watch_errors,
            ),
            (
                "checkpoint_saves",
                "Checkpoint files written.",
                cp.checkpoint_saves,
            ),
            (
                "checkpoint_save_failures",
                "Checkpoint saves that failed (each retry counts).",
                cp.checkpoint_failures,
            ),
            (
                "checkpoint_quarantined",
                "Corrupt checkpoint files moved aside at start.",
                u64::from(self.live.checkpoint_quarantined().is_some()),
            ),
            (
                "aggregated_records",
                "Records counted into the per-site numbers.",
                sites.agg.records,
            ),
            (
                "late_records",
                "Records dated before the windows' retention (in totals, not in windows).",
                sites.agg.late,
            ),
            (
                "future_records",
                "Records dated too far ahead (in totals, not in windows).",
                sites.agg.future,
            ),
            (
                "saturated_counters",
                "Window counters that hit their ceiling (only absurd field values get there).",
                sites.agg.saturated,
            ),
            (
                "unknown_site_records",
                "Records no site could be found for (site _unknown).",
                sites.label.unknown_records,
            ),
            (
                "sites_refused",
                "Distinct site keys refused because the site table was full (sites.max_sites).",
                sites.label.sites_refused,
            ),
            (
                "site_name_conflicts",
                "Records whose own key named another site than their file's namespace (docs/sites.md).",
                sites.label.conflicts,
            ),
            (
                "site_key_cache_resets",
                "Times a site-key cache filled up and was emptied.",
                sites.label.cache_resets,
            ),
            ("tap_errors", "Tap write errors.", cp.tap_errors),
            (
                "http_accept_errors",
                "accept(2) errors of the HTTP server.",
                self.http.accept_errors.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in counters_ {
            counter(e, name, help, v)?;
        }
        for (name, help, v) in [
            (
                "http_connections_accepted",
                "HTTP connections accepted.",
                &self.http.accepted,
            ),
            (
                "http_connections_rejected",
                "HTTP connections refused at server.max_connections.",
                &self.http.rejected,
            ),
        ] {
            counter(e, name, help, v.load(Ordering::Relaxed))?;
        }

        let age = |t: Option<SystemTime>| {
            t.map_or(-1.0, |t| {
                SystemTime::now()
                    .duration_since(t)
                    .map_or(0.0, |d| d.as_secs_f64())
            })
        };
        let gauges: [(&str, &str, f64); 15] = [
            ("files_watched", "Paths being followed.", ts.files as f64),
            (
                "files_open",
                "File descriptors tailing holds (current files and rotated ones being drained).",
                ts.open_fds as f64,
            ),
            (
                "files_open_limit",
                "The most descriptors tailing may hold (tail.max_open_files).",
                ts.max_open_fds as f64,
            ),
            (
                "files_parked",
                "Followed files whose descriptor was given back while idle.",
                ts.parked as f64,
            ),
            (
                "files_waiting",
                "Files waiting for a descriptor.",
                ts.waiting as f64,
            ),
            (
                "behind_bytes",
                "Bytes written to followed files and not read yet (sizes as of the last file list).",
                behind as f64,
            ),
            (
                "lag_seconds",
                "0 when every followed file was read to its end at the last file list; else seconds since that was last so.",
                self.lag_secs(behind, tail.taken),
            ),
            (
                "inotify_enabled",
                "1 when inotify wakes the tailer, 0 when it polls.",
                f64::from(u8::from(ts.inotify)),
            ),
            (
                "inotify_dirs_watched",
                "Directories under inotify watch.",
                ts.dirs_watched as f64,
            ),
            (
                "fd_exhausted",
                "1 while the last file open failed for want of descriptors, else 0.",
                f64::from(u8::from(ts.fd_exhausted)),
            ),
            (
                "checkpoint_age_seconds",
                "Seconds since the last checkpoint save (-1: none yet).",
                age(cp.checkpoint_saved),
            ),
            (
                "checkpoint_failing",
                "1 while checkpoint saves fail (the last one failed), else 0.",
                f64::from(u8::from(cp.checkpoint_error.is_some())),
            ),
            (
                "snapshot_age_seconds",
                "Age of the per-site snapshot readers are served (-1: none yet).",
                age(published.taken),
            ),
            (
                "sites",
                "Sites in the site table.",
                sites.sites.len() as f64,
            ),
            (
                "http_connections_open",
                "HTTP connections open now.",
                self.http.open.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, help, v) in gauges {
            gauge(e, name, help, v)?;
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        super::sinks::encode(e, &self.live.sinks(), now_ms)?;
        super::keda::encode(e, self.live.keda_stats().as_deref())?;
        super::slo::encode(e, self.live.slo().as_deref(), self.live.alerts().as_deref())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn lag_runs_from_the_last_time_everything_was_read() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let live = LiveState::new(tx, "/tmp/sitepulse-lag-ckpt.json".into(), None);
        let started = live.started();
        let m = OwnMetrics::new(live, Arc::default());
        let at = |s: u64| Some(started + Duration::from_secs(s));
        assert_eq!(m.lag_secs(100, None), 0.0);
        // Behind from the start: the lag runs from the start.
        assert_eq!(m.lag_secs(100, at(3)), 3.0);
        assert_eq!(m.lag_secs(0, at(5)), 0.0);
        assert_eq!(m.lag_secs(4096, at(9)), 4.0);
        assert_eq!(m.lag_secs(1, at(12)), 7.0);
        assert_eq!(m.lag_secs(0, at(13)), 0.0);
        // An older file list cannot move the mark back.
        assert_eq!(m.lag_secs(0, at(10)), 0.0);
        assert_eq!(m.lag_secs(10, at(14)), 1.0);
    }
}

//! What `run` publishes for its readers. The pipeline thread is the only
//! writer of the per-site windows and ingest counters; once a tick (and
//! when a reader asks) it stores an immutable [`Published`] behind an
//! `ArcSwap`. The reader thread does the same with the file list
//! ([`TailSnapshot`]). HTTP handlers, and later the autoscaler APIs, SLO
//! evaluation and sinks, load the latest `Arc` without a lock: a thousand
//! readers a second cost ingest nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use sitepulse_pipeline::snapshot::SitesSnapshot;
use sitepulse_tail::checkpoint::Quarantined;
use sitepulse_tail::{FileStatus, StreamId, TailStats};

use super::batch::Msg;
use super::worker::SourceCounts;
use crate::autoscale::keda::KedaStats;
use crate::autoscale::values::ReadyPods;
use crate::fpm::FpmSnapshot;

/// Ingest counters as of one snapshot.
#[derive(Debug, Clone, Default)]
pub struct IngestSnapshot {
    /// Lines, bytes, records and parse errors per detected format, over
    /// every stream this run (closed and open).
    pub sources: BTreeMap<&'static str, SourceCounts>,
    /// Committed offset of each open stream.
    pub committed: HashMap<StreamId, u64>,
    /// Last successful checkpoint save.
    pub checkpoint_saved: Option<SystemTime>,
    /// Checkpoint saves so far.
    pub checkpoint_saves: u64,
    /// Checkpoint saves that failed so far (each retry counts).
    pub checkpoint_failures: u64,
    /// The last checkpoint save's error, while saves fail.
    pub checkpoint_error: Option<String>,
    /// Tap write errors.
    pub tap_errors: u64,
    /// The log sinks: counters and how far files lag for each.
    pub sinks: Vec<super::ship::SinkView>,
}

/// What the pipeline thread publishes.
#[derive(Debug, Default)]
pub struct Published {
    /// Increases with every publication.
    pub seq: u64,
    /// When it was taken (`None`: the empty state before the first one).
    pub taken: Option<SystemTime>,
    /// Every site's windows.
    pub sites: SitesSnapshot,
    /// Ingest and checkpoint counters.
    pub ingest: IngestSnapshot,
}

/// What the reader thread publishes: the open files and tailer counters.
#[derive(Debug, Clone, Default)]
pub struct TailSnapshot {
    /// Increases with every publication.
    pub seq: u64,
    /// Open files.
    pub files: Vec<FileStatus>,
    /// Tailer counters.
    pub stats: TailStats,
    /// When this was taken.
    pub taken: Option<SystemTime>,
    /// The first discovery scan (and restart recovery) is done.
    pub first_scan_done: bool,
}

/// The handles readers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    published: ArcSwap<Published>,
    tail: ArcSwap<TailSnapshot>,
    publish_wanted: AtomicBool,
    tail_wanted: AtomicBool,
    /// Wakes the pipeline thread for an on-demand publication.
    wake: SyncSender<Msg>,
    tail_seq: AtomicU64,
    started: SystemTime,
    checkpoint_path: PathBuf,
    quarantined: Option<Quarantined>,
    /// The metrics sinks (remote_write, OTLP metrics): they read
    /// snapshots, not records, so the pipeline thread does not know them.
    metric_sinks: ArcSwap<Vec<super::ship::SinkView>>,
    /// The PHP-FPM scraper's latest round.
    fpm: ArcSwap<FpmSnapshot>,
    /// Ready pods per site from the Kubernetes API; `None` when it is not
    /// enabled.
    ready_pods: ArcSwapOption<ReadyPods>,
    /// KEDA's scaler's counters, once it runs.
    keda: ArcSwapOption<KedaStats>,
    /// SLO evaluation's latest results, once it runs.
    slo: ArcSwapOption<crate::slo::SloShared>,
    /// The alerting hub, once it runs.
    alerts: ArcSwapOption<crate::slo::AlertHub>,
}

/// Older than this, the pipeline thread's snapshot means it stopped (it
/// publishes every `server.publish_interval_ms`, 250 ms by default).
const STALE_PUBLISHED: Duration = Duration::from_secs(10);

/// Older than this, the reader's snapshot means it stopped (it publishes
/// every 10 s, or sooner when asked).
const STALE_TAIL: Duration = Duration::from_secs(60);

/// How long a reader that asked for a fresh snapshot waits for it.
const FRESH_WAIT: Duration = Duration::from_millis(500);

impl LiveState {
    pub(crate) fn new(
        wake: SyncSender<Msg>,
        checkpoint_path: PathBuf,
        quarantined: Option<Quarantined>,
    ) -> Self {
        LiveState {
            inner: Arc::new(Inner {
                published: ArcSwap::from_pointee(Published::default()),
                tail: ArcSwap::from_pointee(TailSnapshot::default()),
                publish_wanted: AtomicBool::new(false),
                tail_wanted: AtomicBool::new(false),
                wake,
                tail_seq: AtomicU64::new(0),
                started: SystemTime::now(),
                checkpoint_path,
                quarantined,
                metric_sinks: ArcSwap::from_pointee(Vec::new()),
                fpm: ArcSwap::from_pointee(FpmSnapshot::default()),
                ready_pods: ArcSwapOption::empty(),
                keda: ArcSwapOption::empty(),
                slo: ArcSwapOption::empty(),
                alerts: ArcSwapOption::empty(),
            }),
        }
    }

    /// Every sink: the log sinks of the latest publication, then the
    /// metrics sinks.
    pub fn sinks(&self) -> Vec<super::ship::SinkView> {
        let mut v = self.published().ingest.sinks.clone();
        v.extend(self.inner.metric_sinks.load().iter().cloned());
        v
    }

    pub(crate) fn set_metric_sinks(&self, sinks: Vec<super::ship::SinkView>) {
        self.inner.metric_sinks.store(Arc::new(sinks));
    }

    /// The latest per-site snapshot for the metrics sinks, and when it was
    /// taken (Unix ms).
    pub(crate) fn snapshot_source(&self) -> sitepulse_sinks::SnapshotSource {
        let me = self.clone();
        Arc::new(move || {
            let p = me.published();
            let ms = p.taken.map_or(0, |t| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64)
            });
            (Arc::new(p.sites.clone()), ms)
        })
    }

    /// The PHP-FPM scraper's latest round.
    pub fn fpm(&self) -> Arc<FpmSnapshot> {
        self.inner.fpm.load_full()
    }

    /// Publishes a scrape round.
    pub fn set_fpm(&self, snap: FpmSnapshot) {
        self.inner.fpm.store(Arc::new(snap));
    }

    /// Ready pods per site, when the Kubernetes API is enabled.
    pub fn ready_pods(&self) -> Option<Arc<ReadyPods>> {
        self.inner.ready_pods.load_full()
    }

    /// Publishes the Kubernetes API's pod counts.
    pub fn set_ready_pods(&self, pods: ReadyPods) {
        self.inner.ready_pods.store(Some(Arc::new(pods)));
    }

    /// KEDA's scaler's counters, when it runs.
    pub fn keda_stats(&self) -> Option<Arc<KedaStats>> {
        self.inner.keda.load_full()
    }

    /// SLO evaluation's results, when it runs.
    pub fn slo(&self) -> Option<Arc<crate::slo::SloShared>> {
        self.inner.slo.load_full()
    }

    /// The alerting hub, when it runs.
    pub fn alerts(&self) -> Option<Arc<crate::slo::AlertHub>> {
        self.inner.alerts.load_full()
    }

    /// Where `/metrics` finds SLO evaluation and the alerting hub.
    pub fn set_slo(
        &self,
        slo: Arc<crate::slo::SloShared>,
        alerts: Option<Arc<crate::slo::AlertHub>>,
    ) {
        self.inner.slo.store(Some(slo));
        self.inner.alerts.store(alerts);
    }

    /// Where `/metrics` finds KEDA's scaler's counters.
    pub fn set_keda_stats(&self, stats: Arc<KedaStats>) {
        self.inner.keda.store(Some(stats));
    }

    /// The latest per-site and ingest snapshot (at most a tick old).
    pub fn published(&self) -> Arc<Published> {
        self.inner.published.load_full()
    }

    /// The latest file list and tailer counters (refreshed every 10 s, or
    /// when asked).
    pub fn tail(&self) -> Arc<TailSnapshot> {
        self.inner.tail.load_full()
    }

    /// When the collector started.
    pub fn started(&self) -> SystemTime {
        self.inner.started
    }

    /// Where checkpoints are saved.
    pub fn checkpoint_path(&self) -> &std::path::Path {
        &self.inner.checkpoint_path
    }

    /// The corrupt checkpoint file moved aside at start, if there was one.
    pub fn checkpoint_quarantined(&self) -> Option<&Quarantined> {
        self.inner.quarantined.as_ref()
    }

    /// Asks both threads for a fresh snapshot and waits (at most 500 ms,
    /// without blocking a runtime thread) until both have published one
    /// taken after the call. For the status endpoint and tests; the
    /// autoscaler path reads [`published`](Self::published) as it is.
    pub async fn refresh(&self) {
        let (p0, t0) = (self.published().seq, self.tail().seq);
        self.inner.publish_wanted.store(true, Ordering::Release);
        self.inner.tail_wanted.store(true, Ordering::Release);
        // A full queue means the pipeline thread is busy: it checks the
        // flag after each message anyway.
        let _ = self.inner.wake.try_send(Msg::Publish);
        let deadline = tokio::time::Instant::now() + FRESH_WAIT;
        while tokio::time::Instant::now() < deadline {
            if self.published().seq > p0 && self.tail().seq > t0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Asks for a fresh file list without waiting (the next read gets it).
    pub fn want_tail(&self) {
        self.inner.tail_wanted.store(true, Ordering::Release);
    }

    pub(crate) fn publish_wanted(&self) -> bool {
        self.inner.publish_wanted.load(Ordering::Acquire)
    }

    pub(crate) fn take_publish_wanted(&self) -> bool {
        self.inner.publish_wanted.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn take_tail_wanted(&self) -> bool {
        self.inner.tail_wanted.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn publish(&self, p: Published) {
        self.inner.published.store(Arc::new(p));
    }

    pub(crate) fn publish_tail(&self, mut t: TailSnapshot) {
        t.seq = self.inner.tail_seq.fetch_add(1, Ordering::AcqRel) + 1;
        self.inner.tail.store(Arc::new(t));
    }

    /// Whether the collector is ready: checkpoints loaded (it started),
    /// the first scan done, checkpoint saves succeeding and files
    /// openable. `Err` says what is missing.
    pub fn readiness(&self) -> Result<(), String> {
        let tail = self.tail();
        if !tail.first_scan_done {
            return Err("the first discovery scan has not finished".into());
        }
        if tail.stats.fd_exhausted {
            return Err("out of file descriptors: files cannot be opened".into());
        }
        let published = self.published();
        if let Some(e) = &published.ingest.checkpoint_error {
            return Err(format!("checkpoint saves are failing: {e}"));
        }
        // A thread that stopped publishing (a panic) leaves frozen numbers.
        let age = |t: Option<SystemTime>| t.and_then(|t| t.elapsed().ok());
        if let Some(a) = age(published.taken).filter(|a| *a > STALE_PUBLISHED) {
            return Err(format!("no per-site snapshot for {} s", a.as_secs()));
        }
        if let Some(a) = age(tail.taken).filter(|a| *a > STALE_TAIL) {
            return Err(format!("the reader has not reported for {} s", a.as_secs()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_after_the_first_scan_and_while_saves_and_opens_succeed() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let st = LiveState::new(tx, PathBuf::from("/tmp/ckpt.json"), None);
        assert!(st.readiness().unwrap_err().contains("first discovery scan"));
        st.publish_tail(TailSnapshot {
            first_scan_done: true,
            ..TailSnapshot::default()
        });
        assert_eq!(st.readiness(), Ok(()));
        assert_eq!(st.tail().seq, 1);
        st.publish(Published {
            seq: 1,
            ingest: IngestSnapshot {
                checkpoint_error: Some("No space left on device".into()),
                ..IngestSnapshot::default()
            },
            ..Published::default()
        });
        assert!(st.readiness().unwrap_err().contains("No space left"));
        st.publish(Published {
            taken: Some(SystemTime::now() - Duration::from_secs(30)),
            ..Published::default()
        });
        assert!(st.readiness().unwrap_err().contains("no per-site snapshot"));
        st.publish(Published::default());
        let stats = TailStats {
            fd_exhausted: true,
            ..TailStats::default()
        };
        st.publish_tail(TailSnapshot {
            first_scan_done: true,
            stats,
            ..TailSnapshot::default()
        });
        assert!(st.readiness().unwrap_err().contains("file descriptors"));
    }
}

//! OTLP/gRPC: every record as an OTLP log record, and the per-site series
//! of `/metrics` as OTLP metrics, to an OpenTelemetry Collector's OTLP
//! receiver (or anything that speaks `LogsService` / `MetricsService`).
//! Each signal has its own spool (`<spool_dir>/logs`, `<spool_dir>/metrics`)
//! and sender, so a receiver that refuses one signal does not hold the
//! other back.
//!
//! - `config.rs`: the `sinks.otlp:` section.
//! - `logs.rs`: log records written by hand into per-resource batches,
//!   sealed into `ExportLogsServiceRequest` frames.
//! - `metrics.rs`: the per-site series as an `ExportMetricsServiceRequest`
//!   every `metrics_interval_secs`.
//! - `deliver.rs`: one frame to the receiver with the generated gRPC
//!   clients; what each gRPC status means.
//!
//! A re-sent record is identical (same time, body and attributes); OTLP
//! has no deduplication, so a crash or an unacknowledged export can
//! deliver a batch twice (at-least-once, as the Collector's own exporters).

pub mod config;
pub mod deliver;
pub mod logs;
pub mod metrics;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::{Notify, watch};

pub use self::config::OtlpConfig;
use self::deliver::{LogsDeliver, MetricsDeliver};
use self::logs::{Batcher, Sealed};
use crate::entry::LogEntry;
use crate::logs::LogSink;
use crate::spool::{HEADER_BYTES, Pushed, SharedSpool, Spool, SpoolError};
use crate::stats::SinkStats;
use crate::{SinkError, SnapshotSource, send};

/// The OTLP logs sink's producer half, owned by the pipeline thread.
#[derive(Debug)]
pub struct OtlpLogSink {
    batcher: Batcher,
    spool: SharedSpool,
    wake: Arc<Notify>,
    stats: Arc<SinkStats>,
    /// Spool bytes free when last looked (only grows behind our back, as
    /// the sender acknowledges).
    room: u64,
    /// Sealed frames the spool refused (kept until it takes them).
    pending: Vec<Sealed>,
    /// Refusing entries until the spool is at most half full.
    blocked: bool,
}

/// Opens the OTLP logs sink: its spool in `<spool_dir>/logs` (`spool_dir`
/// is the sink's own, `<sinks.spool_dir>/otlp`), and the sender to spawn on
/// a tokio runtime (it runs until `shutdown` turns true).
///
/// # Errors
/// When the spool cannot be opened, or the endpoint or a header is not
/// usable.
pub fn open_logs(
    cfg: &OtlpConfig,
    spool_dir: &Path,
    shutdown: watch::Receiver<bool>,
) -> Result<(OtlpLogSink, impl Future<Output = ()> + Send + 'static), SinkError> {
    let spool = Spool::open(&spool_dir.join("logs"), cfg.spool.clone())?;
    let stats = Arc::new(SinkStats::default());
    stats.spool(&spool);
    let room = spool.max_bytes().saturating_sub(spool.bytes());
    let spool = SharedSpool::new(spool);
    let wake = Arc::new(Notify::new());
    let deliver = LogsDeliver::new(cfg, stats.clone()).map_err(SinkError::Other)?;
    let sender = send::run_sender(
        "otlp",
        spool.clone(),
        stats.clone(),
        cfg.retry.clone(),
        wake.clone(),
        shutdown,
        deliver,
    );
    Ok((
        OtlpLogSink {
            batcher: Batcher::new(cfg),
            spool,
            wake,
            stats,
            room,
            pending: Vec::new(),
            blocked: false,
        },
        sender,
    ))
}

/// Opens the OTLP metrics sink: its spool in `<spool_dir>/metrics`, and
/// the task to spawn on a tokio runtime, which exports `source`'s latest
/// snapshot every `metrics_interval_secs` and sends the exports (until
/// `shutdown` turns true). Its counters count data points.
///
/// # Errors
/// When the spool cannot be opened, or the endpoint or a header is not
/// usable.
pub fn open_metrics(
    cfg: &OtlpConfig,
    spool_dir: &Path,
    source: SnapshotSource,
    shutdown: watch::Receiver<bool>,
) -> Result<(Arc<SinkStats>, impl Future<Output = ()> + Send + 'static), SinkError> {
    let spool = Spool::open(&spool_dir.join("metrics"), cfg.spool.clone())?;
    let stats = Arc::new(SinkStats::default());
    stats.spool(&spool);
    let spool = SharedSpool::new(spool);
    let wake = Arc::new(Notify::new());
    let deliver = MetricsDeliver::new(cfg, stats.clone()).map_err(SinkError::Other)?;
    let sender = send::run_sender(
        "otlp",
        spool.clone(),
        stats.clone(),
        cfg.retry.clone(),
        wake.clone(),
        shutdown.clone(),
        deliver,
    );
    let exporter = metrics::Exporter::new(cfg, metrics::process_start_ns(send::unix_ms()));
    let exports = metrics::run_exports(
        exporter,
        std::time::Duration::from_secs(cfg.metrics_interval_secs),
        source,
        spool,
        stats.clone(),
        wake,
        shutdown,
    );
    Ok((stats, async move {
        tokio::join!(sender, exports);
    }))
}

impl OtlpLogSink {
    /// Pushes sealed frames to the spool; those it refuses stay pending.
    fn flush_pending(&mut self, now_ms: u64) -> Result<(), SpoolError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut spool = self.spool.lock();
        let mut result = Ok(());
        let mut pushed = 0;
        for s in &self.pending {
            match spool.push(&s.frame, s.entries, now_ms) {
                Ok(Pushed::Stored) => {}
                Ok(Pushed::DroppedOldest { frames, items }) => {
                    self.stats.dropped("spool_full", items);
                    tracing::warn!(
                        sink = "otlp",
                        signal = "logs",
                        frames,
                        records = items,
                        "spool full: dropped the oldest batches (spool.when_full: drop_oldest)"
                    );
                }
                Ok(Pushed::Full) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            self.stats
                .accepted_items
                .fetch_add(u64::from(s.entries), Relaxed);
            pushed += 1;
        }
        self.pending.drain(..pushed);
        self.stats.spool(&spool);
        self.room = spool.max_bytes().saturating_sub(spool.bytes());
        drop(spool);
        if pushed > 0 {
            self.wake.notify_one();
        }
        result
    }

    fn seal(&mut self, now_ms: u64) -> Result<(), SpoolError> {
        if let Some(s) = self.batcher.seal() {
            self.pending.push(s);
        }
        self.flush_pending(now_ms)
    }
}

impl LogSink for OtlpLogSink {
    fn name(&self) -> &'static str {
        "otlp"
    }

    fn offer(&mut self, entry: &LogEntry<'_>, now_unix_ms: u64) -> bool {
        if self.blocked || !self.pending.is_empty() {
            return false;
        }
        let need = self.batcher.open_bytes() + self.batcher.cost(entry) + HEADER_BYTES;
        if need > self.room {
            let spool = self.spool.lock();
            self.room = spool.max_bytes().saturating_sub(spool.bytes());
            drop(spool);
            if need > self.room {
                tracing::warn!(
                    sink = "otlp",
                    signal = "logs",
                    "spool full: shipping OTLP logs pauses (the log files keep the lines; \
                     per-site numbers keep flowing) until the spool is half empty"
                );
                self.blocked = true;
                self.stats.blocked.store(true, Relaxed);
                return false;
            }
        }
        if self.batcher.add(entry, now_unix_ms) {
            // A spool error keeps the frame pending; commit reports it.
            let _ = self.seal(now_unix_ms);
        }
        true
    }

    fn poll(&mut self, now_unix_ms: u64) -> Result<(), SpoolError> {
        if self.batcher.due(now_unix_ms) {
            self.seal(now_unix_ms)?;
        }
        self.flush_pending(now_unix_ms)
    }

    fn commit(&mut self, now_unix_ms: u64) -> Result<(), SpoolError> {
        if let Some(s) = self.batcher.seal() {
            self.pending.push(s);
        }
        self.flush_pending(now_unix_ms)?;
        if !self.pending.is_empty() {
            return Err(SpoolError::Full);
        }
        self.spool.lock().sync()
    }

    fn discard(&mut self) {
        let _ = self.batcher.seal();
        self.pending.clear();
        self.blocked = true;
        self.stats.blocked.store(true, Relaxed);
    }

    fn can_resume(&self) -> bool {
        let spool = self.spool.lock();
        spool.bytes() <= spool.max_bytes() / 2
    }

    fn resume(&mut self) {
        self.blocked = false;
        self.stats.blocked.store(false, Relaxed);
    }

    fn stats(&self) -> Arc<SinkStats> {
        self.stats.clone()
    }
}

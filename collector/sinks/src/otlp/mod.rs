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

use tokio::sync::{Notify, watch};

pub use self::config::OtlpConfig;
use self::deliver::{LogsDeliver, MetricsDeliver};
use self::logs::Batcher;
use crate::entry::LogEntry;
use crate::logs::{LogSink, Producer};
use crate::spool::{HEADER_BYTES, SharedSpool, Spool, SpoolError};
use crate::stats::SinkStats;
use crate::{SinkError, SnapshotSource, send};

/// The OTLP logs sink's producer half, owned by the pipeline thread.
#[derive(Debug)]
pub struct OtlpLogSink {
    batcher: Batcher,
    producer: Producer,
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
    let spool = SharedSpool::new(Spool::open(&spool_dir.join("logs"), cfg.spool.clone())?);
    let stats = Arc::new(SinkStats::default());
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
            producer: Producer::new("otlp", spool, wake, stats),
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
    fn seal(&mut self, now_ms: u64) -> Result<(), SpoolError> {
        match self.batcher.seal() {
            Some(s) => self.producer.push(s.frame, s.entries, now_ms),
            None => self.producer.flush(now_ms),
        }
    }
}

impl LogSink for OtlpLogSink {
    fn name(&self) -> &'static str {
        "otlp"
    }

    fn offer(&mut self, entry: &LogEntry<'_>, now_unix_ms: u64) -> bool {
        let need = self.batcher.open_bytes() + self.batcher.cost(entry) + HEADER_BYTES;
        if !self.producer.admit(need) {
            return false;
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
        self.producer.flush(now_unix_ms)
    }

    fn commit(&mut self, now_unix_ms: u64) -> Result<(), SpoolError> {
        self.seal(now_unix_ms)?;
        self.producer.commit(now_unix_ms)
    }

    fn can_resume(&self) -> bool {
        self.producer.can_resume()
    }

    fn resume(&mut self) {
        self.producer.resume();
    }

    fn stats(&self) -> Arc<SinkStats> {
        self.producer.stats()
    }
}

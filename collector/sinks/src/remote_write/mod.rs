//! Prometheus remote_write 1.0: the per-site series of `/metrics`
//! ([`crate::series`]) pushed every `interval_secs`, one sample per series
//! at the snapshot's time, as a Prometheus scrape of `/metrics` would store
//! them (same names, labels and values), plus `external_labels`.
//! Specification: <https://prometheus.io/docs/specs/prw/remote_write_spec/>.
//!
//! Each interval's request is one frame of the sink's spool, so a receiver
//! that is down or refuses with 5xx/429 loses nothing while the spool has
//! room, and a restart sends what was left, in order.
//!
//! - `config.rs`: the `sinks.prometheus_remote_write:` section.
//! - `proto.rs`: the `WriteRequest` messages (from Prometheus' `prompb`).
//! - `encode.rs`: a snapshot as a compressed request; stale markers.
//! - `deliver.rs`: one frame to the receiver.

pub mod config;
pub mod deliver;
pub mod encode;
pub mod proto;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use sitepulse_pipeline::snapshot::SitesSnapshot;
use tokio::sync::{Notify, watch};
use tokio::time::MissedTickBehavior;

pub use self::config::RemoteWriteConfig;
use self::deliver::RemoteWriteDeliver;
use self::encode::Encoder;
use crate::send::{self, unix_ms};
use crate::spool::{Pushed, SharedSpool, Spool, SpoolError};
use crate::stats::SinkStats;
use crate::{SinkError, SnapshotSource};

/// The sink's name: its spool directory, log field and metrics label.
pub const NAME: &str = "prometheus_remote_write";

/// Opens the remote_write sink: its spool in `spool_dir`, and the future to
/// spawn on a tokio runtime. That future runs until `shutdown` turns true:
/// a producer that every `interval_secs` reads `source` and spools one
/// request, and the sender that drains the spool in order. What is not
/// sent by then stays in the spool for the next start.
///
/// # Errors
/// When the spool cannot be opened or the HTTP client built.
pub fn open(
    cfg: &RemoteWriteConfig,
    spool_dir: &Path,
    source: SnapshotSource,
    shutdown: watch::Receiver<bool>,
) -> Result<(Arc<SinkStats>, impl Future<Output = ()> + Send + 'static), SinkError> {
    let spool = Spool::open(spool_dir, cfg.spool.clone())?;
    let stats = Arc::new(SinkStats::default());
    stats.spool(&spool);
    let spool = SharedSpool::new(spool);
    let wake = Arc::new(Notify::new());
    let deliver = RemoteWriteDeliver::new(cfg, stats.clone()).map_err(SinkError::Client)?;
    let sender = send::run_sender(
        NAME,
        spool.clone(),
        stats.clone(),
        cfg.retry.clone(),
        wake.clone(),
        shutdown.clone(),
        deliver,
    );
    let producer = Producer {
        encoder: Encoder::new(&cfg.external_labels),
        spool,
        stats: stats.clone(),
        wake,
        last_ts_ms: None,
        full: false,
    };
    let interval = Duration::from_secs(cfg.interval_secs.max(1));
    let run = async move {
        let spool = producer.spool.clone();
        tokio::join!(producer.run(source, interval, shutdown), sender);
        // The sender closed the spool when it stopped, perhaps before the
        // producer's last push finished: close again once both are done.
        if let Err(e) = spool.lock().close() {
            tracing::error!(sink = NAME, error = %e, "spool close failed");
        }
    };
    Ok((stats, run))
}

/// The producer half: snapshots into spooled frames.
#[derive(Debug)]
struct Producer {
    encoder: Encoder,
    spool: SharedSpool,
    stats: Arc<SinkStats>,
    wake: Arc<Notify>,
    /// Time of the last snapshot spooled.
    last_ts_ms: Option<u64>,
    /// The spool refused the last frame (`when_full: block`).
    full: bool,
}

impl Producer {
    async fn run(
        mut self,
        source: SnapshotSource,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                r = shutdown.changed() => {
                    if r.is_err() {
                        break;
                    }
                }
            }
            if *shutdown.borrow() {
                break;
            }
            let (snap, ts_ms) = source();
            // Encoding thousands of series, compressing and fsyncing are
            // blocking work: off the runtime's workers.
            let job = tokio::task::spawn_blocking(move || {
                self.step(&snap, ts_ms);
                self
            });
            match job.await {
                Ok(p) => self = p,
                Err(e) => {
                    tracing::error!(sink = NAME, error = %e, "remote_write producer failed");
                    return;
                }
            }
        }
    }

    /// Spools the request for one snapshot taken at `ts_ms`.
    fn step(&mut self, snap: &SitesSnapshot, ts_ms: u64) {
        // A snapshot no newer than the last one spooled (the pipeline is
        // stuck or slower than the interval) would repeat its samples at the
        // same time: nothing new to send.
        if self.last_ts_ms.is_some_and(|t| ts_ms <= t) {
            return;
        }
        let Some(enc) = self.encoder.encode(snap, ts_ms as i64) else {
            return;
        };
        self.last_ts_ms = Some(ts_ms);
        let samples = u64::from(enc.samples);
        let mut spool = self.spool.lock();
        let pushed = spool
            .push(&enc.body, enc.samples, unix_ms())
            .and_then(|p| spool.sync().map(|()| p));
        self.stats.spool(&spool);
        drop(spool);
        match pushed {
            Ok(Pushed::Stored) => self.stored(samples, 0, 0),
            Ok(Pushed::DroppedOldest { frames, items }) => self.stored(samples, frames, items),
            Ok(Pushed::Full) => {
                self.stats.dropped("spool_full", samples);
                if !self.full {
                    tracing::warn!(
                        sink = NAME,
                        "spool full: this interval's samples are dropped and counted, and \
                         each next one until the receiver takes the spooled ones \
                         (spool.when_full: block)"
                    );
                }
                self.full = true;
                self.stats.blocked.store(true, Relaxed);
            }
            Err(e) => {
                let reason = match e {
                    SpoolError::TooBig { .. } => "too_big",
                    _ => "spool_error",
                };
                self.stats.dropped(reason, samples);
                tracing::error!(sink = NAME, error = %e, samples, "cannot spool this interval's samples; dropped");
            }
        }
    }

    fn stored(&mut self, samples: u64, dropped_frames: u64, dropped_samples: u64) {
        self.stats.accepted_items.fetch_add(samples, Relaxed);
        if dropped_frames > 0 {
            self.stats.dropped("spool_full", dropped_samples);
            tracing::warn!(
                sink = NAME,
                frames = dropped_frames,
                samples = dropped_samples,
                "spool full: dropped the oldest intervals (spool.when_full: drop_oldest)"
            );
        }
        if self.full {
            tracing::info!(sink = NAME, "spool has room again");
            self.full = false;
            self.stats.blocked.store(false, Relaxed);
        }
        self.wake.notify_one();
    }
}

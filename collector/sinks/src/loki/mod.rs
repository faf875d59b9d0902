//! Loki: every record as a log entry of Loki's push API
//! (`/loki/api/v1/push`), protobuf + snappy (or JSON). Stream labels are a
//! few bounded fields (`site`, `source`, `level`, `namespace`, `node` by
//! default); high-cardinality ones (path, pod, trace id) go as structured
//! metadata. The entry's timestamp is the line's own, so a re-sent entry is
//! identical and Loki drops it.
//!
//! - `config.rs`: the `sinks.loki:` section.
//! - `proto.rs`: the push messages (from Loki's `push.proto`).
//! - `encode.rs`: the wire format written by hand on the hot path.
//! - `batch.rs`: open batches per tenant and stream, sealed into frames.
//! - `deliver.rs`: one frame to Loki, splitting refused batches.

pub mod batch;
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

use tokio::sync::{Notify, watch};

use self::batch::{Batcher, Sealed};
pub use self::config::{Encoding, LokiConfig};
use self::deliver::LokiDeliver;
use crate::entry::LogEntry;
use crate::logs::LogSink;
use crate::spool::{Pushed, SharedSpool, Spool, SpoolError};
use crate::stats::SinkStats;
use crate::{SinkError, send};

/// The Loki sink's producer half, owned by the pipeline thread.
#[derive(Debug)]
pub struct LokiSink {
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

/// Opens the Loki sink: its spool in `spool_dir`, and the sender to spawn
/// on a tokio runtime (it runs until `shutdown` turns true).
///
/// # Errors
/// When the spool cannot be opened or the HTTP client built.
pub fn open(
    cfg: &LokiConfig,
    spool_dir: &Path,
    shutdown: watch::Receiver<bool>,
) -> Result<(LokiSink, impl Future<Output = ()> + Send + 'static), SinkError> {
    let spool = Spool::open(spool_dir, cfg.spool.clone())?;
    let stats = Arc::new(SinkStats::default());
    stats.spool(&spool);
    let room = spool.max_bytes().saturating_sub(spool.bytes());
    let spool = SharedSpool::new(spool);
    let wake = Arc::new(Notify::new());
    let deliver = LokiDeliver::new(cfg, stats.clone()).map_err(SinkError::Client)?;
    let sender = send::run_sender(
        "loki",
        spool.clone(),
        stats.clone(),
        cfg.retry.clone(),
        wake.clone(),
        shutdown,
        deliver,
    );
    Ok((
        LokiSink {
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

/// Bytes a batch of `raw` encoded bytes may take in the spool: snappy's
/// worst case (`32 + n + n/6`) plus the frame header and tenant.
fn spooled_bound(raw: u64) -> u64 {
    raw + raw / 6 + 32 + 300
}

impl LokiSink {
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
                        sink = "loki",
                        frames,
                        entries = items,
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

    fn seal(&mut self, t: usize, now_ms: u64) -> Result<(), SpoolError> {
        if let Some(s) = self.batcher.seal(t) {
            self.pending.push(s);
        }
        self.flush_pending(now_ms)
    }
}

impl LogSink for LokiSink {
    fn name(&self) -> &'static str {
        "loki"
    }

    fn offer(&mut self, entry: &LogEntry<'_>, now_unix_ms: u64) -> bool {
        if self.blocked || !self.pending.is_empty() {
            return false;
        }
        let need = spooled_bound(self.batcher.open_bytes() + Batcher::cost(entry));
        if need > self.room {
            let spool = self.spool.lock();
            self.room = spool.max_bytes().saturating_sub(spool.bytes());
            drop(spool);
            if need > self.room {
                if !self.blocked {
                    tracing::warn!(
                        sink = "loki",
                        "spool full: shipping to Loki pauses (the log files keep the lines; \
                         per-site numbers keep flowing) until the spool is half empty"
                    );
                }
                self.blocked = true;
                self.stats.blocked.store(true, Relaxed);
                return false;
            }
        }
        if let Some(t) = self.batcher.add(entry, now_unix_ms) {
            // A spool error keeps the frame pending; commit reports it.
            let _ = self.seal(t, now_unix_ms);
        }
        true
    }

    fn poll(&mut self, now_unix_ms: u64) -> Result<(), SpoolError> {
        for t in self.batcher.due(now_unix_ms) {
            self.seal(t, now_unix_ms)?;
        }
        self.flush_pending(now_unix_ms)
    }

    fn commit(&mut self, now_unix_ms: u64) -> Result<(), SpoolError> {
        for t in self.batcher.open() {
            if let Some(s) = self.batcher.seal(t) {
                self.pending.push(s);
            }
        }
        self.flush_pending(now_unix_ms)?;
        if !self.pending.is_empty() {
            return Err(SpoolError::Full);
        }
        self.spool.lock().sync()
    }

    fn discard(&mut self) {
        for t in self.batcher.open() {
            let _ = self.batcher.seal(t);
        }
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

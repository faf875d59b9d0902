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

use tokio::sync::{Notify, watch};

use self::batch::Batcher;
pub use self::config::{Encoding, LokiConfig};
use self::deliver::LokiDeliver;
use crate::entry::LogEntry;
use crate::logs::{LogSink, Producer};
use crate::spool::{SharedSpool, Spool, SpoolError};
use crate::stats::SinkStats;
use crate::{SinkError, send};

/// The Loki sink's producer half, owned by the pipeline thread.
#[derive(Debug)]
pub struct LokiSink {
    batcher: Batcher,
    producer: Producer,
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
    let spool = SharedSpool::new(Spool::open(spool_dir, cfg.spool.clone())?);
    let stats = Arc::new(SinkStats::default());
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
            producer: Producer::new("loki", spool, wake, stats),
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
    fn seal(&mut self, t: usize, now_ms: u64) -> Result<(), SpoolError> {
        match self.batcher.seal(t) {
            Some(s) => self.producer.push(s.frame, s.entries, now_ms),
            None => self.producer.flush(now_ms),
        }
    }
}

impl LogSink for LokiSink {
    fn name(&self) -> &'static str {
        "loki"
    }

    fn offer(&mut self, entry: &LogEntry<'_>, now_unix_ms: u64) -> bool {
        let need = spooled_bound(self.batcher.open_bytes() + Batcher::cost(entry));
        if !self.producer.admit(need) {
            return false;
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
        self.producer.flush(now_unix_ms)
    }

    fn commit(&mut self, now_unix_ms: u64) -> Result<(), SpoolError> {
        for t in self.batcher.open() {
            self.seal(t, now_unix_ms)?;
        }
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

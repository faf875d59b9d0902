//! A sink's self-metrics: written by its producer and sender, read by
//! `/metrics` and `/api/v1/status` through [`SinkStats::snapshot`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Counters of one sink. Items are what the sink ships: log entries for
/// Loki and OTLP logs, samples for remote_write and OTLP metrics.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Requests the receiver acknowledged.
    pub sent_requests: AtomicU64,
    /// Items in them.
    pub sent_items: AtomicU64,
    /// Request bytes (compressed, as sent).
    pub sent_bytes: AtomicU64,
    /// Tries that will be made again.
    pub retries: AtomicU64,
    /// Items accepted into the spool.
    pub accepted_items: AtomicU64,
    /// Bytes in the spool, and its cap.
    pub spool_bytes: AtomicU64,
    pub spool_max_bytes: AtomicU64,
    /// Creation time of the oldest unacknowledged frame (0: none).
    pub oldest_unacked_unix_ms: AtomicU64,
    /// The spool refused a frame: shipping waits (the files keep the lines).
    pub blocked: AtomicBool,
    /// Failed requests by reason (`connect`, `timeout`, `http_503`, ...).
    failed: Mutex<BTreeMap<String, u64>>,
    /// Items dropped by reason (`rejected_too_old`, `spool_full`, ...).
    dropped: Mutex<BTreeMap<String, u64>>,
    /// The last error, for the status page.
    last_error: Mutex<Option<String>>,
    /// Bytes of files the sink lagged on that were gone before it caught
    /// up, by reason (`rotated_away`, `truncated`).
    lost: Mutex<BTreeMap<String, u64>>,
}

/// A copy of a sink's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SinkStatsSnapshot {
    pub sent_requests: u64,
    pub sent_items: u64,
    pub sent_bytes: u64,
    pub retries: u64,
    pub accepted_items: u64,
    pub spool_bytes: u64,
    pub spool_max_bytes: u64,
    /// Seconds since the oldest unacknowledged frame was spooled.
    pub oldest_unacked_age_secs: f64,
    pub blocked: bool,
    pub failed_requests: BTreeMap<String, u64>,
    pub dropped_items: BTreeMap<String, u64>,
    pub lost_bytes: BTreeMap<String, u64>,
    pub last_error: Option<String>,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, reason: &str, n: u64) {
    let mut m = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match m.get_mut(reason) {
        Some(v) => *v += n,
        None => {
            m.insert(reason.to_owned(), n);
        }
    }
}

impl SinkStats {
    /// A failed request, and why.
    pub fn failed(&self, reason: &str, error: String) {
        bump(&self.failed, reason, 1);
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
    }

    /// Items that will never be delivered, and why.
    pub fn dropped(&self, reason: &str, items: u64) {
        bump(&self.dropped, reason, items);
    }

    /// Bytes of lines gone from their file before the sink got them.
    pub fn lost(&self, reason: &str, bytes: u64) {
        bump(&self.lost, reason, bytes);
    }

    /// Items dropped for `reason` so far.
    pub fn dropped_count(&self, reason: &str) -> u64 {
        self.dropped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    /// Records the spool's size after a change.
    pub fn spool(&self, spool: &crate::spool::Spool) {
        self.spool_bytes.store(spool.bytes(), Relaxed);
        self.spool_max_bytes.store(spool.max_bytes(), Relaxed);
        self.oldest_unacked_unix_ms
            .store(spool.oldest_unix_ms().unwrap_or(0), Relaxed);
    }

    /// The counters now; `now_unix_ms` ages the oldest frame.
    pub fn snapshot(&self, now_unix_ms: u64) -> SinkStatsSnapshot {
        let oldest = self.oldest_unacked_unix_ms.load(Relaxed);
        let lock = |m: &Mutex<BTreeMap<String, u64>>| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        SinkStatsSnapshot {
            sent_requests: self.sent_requests.load(Relaxed),
            sent_items: self.sent_items.load(Relaxed),
            sent_bytes: self.sent_bytes.load(Relaxed),
            retries: self.retries.load(Relaxed),
            accepted_items: self.accepted_items.load(Relaxed),
            spool_bytes: self.spool_bytes.load(Relaxed),
            spool_max_bytes: self.spool_max_bytes.load(Relaxed),
            oldest_unacked_age_secs: if oldest == 0 {
                0.0
            } else {
                now_unix_ms.saturating_sub(oldest) as f64 / 1e3
            },
            blocked: self.blocked.load(Relaxed),
            failed_requests: lock(&self.failed),
            dropped_items: lock(&self.dropped),
            lost_bytes: lock(&self.lost),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }
}

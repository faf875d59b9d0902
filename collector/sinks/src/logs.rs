//! The interface between the pipeline thread and a log sink (Loki, OTLP
//! logs). The pipeline thread offers each record as a [`LogEntry`]; the
//! sink encodes it into its open batch and seals batches into its spool.
//! A refusal (`offer` is `false`: the spool is full under `when_full:
//! block`) tells the caller to hold that file's shipping cursor at this
//! record and re-read from there once [`LogSink::can_resume`] says so.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::Notify;

use crate::entry::LogEntry;
use crate::spool::{Pushed, SharedSpool, SpoolError};
use crate::stats::SinkStats;

/// A sink of log entries, driven by the pipeline thread.
pub trait LogSink: Send {
    /// The sink's name (`loki`, `otlp`): its spool directory, its cursor
    /// in the checkpoint, its metrics label.
    fn name(&self) -> &'static str;

    /// Takes `entry` into the open batch (sealing a full batch into the
    /// spool). `false` when the spool has no room: nothing was taken.
    fn offer(&mut self, entry: &LogEntry<'_>, now_unix_ms: u64) -> bool;

    /// Seals batches that waited their `batch_wait_ms`; called at least
    /// once a second.
    ///
    /// # Errors
    /// When the spool cannot be written (the batch stays open).
    fn poll(&mut self, now_unix_ms: u64) -> Result<(), SpoolError>;

    /// Seals every open batch and makes the spool durable: once it returns
    /// `Ok`, every entry offered so far survives a crash, and the caller's
    /// checkpoint may pass their lines.
    ///
    /// # Errors
    /// When the spool cannot be written or synced.
    fn commit(&mut self, now_unix_ms: u64) -> Result<(), SpoolError>;

    /// After a refusal: whether there is room again (the spool at most
    /// half full), so shipping can catch up.
    fn can_resume(&self) -> bool;

    /// Takes entries again (after a refusal or [`discard`](Self::discard)).
    fn resume(&mut self);

    /// Its counters.
    fn stats(&self) -> Arc<SinkStats>;
}

/// The spool side every log sink shares: admission against the spool's
/// room, sealed frames the spool has not taken yet, blocking and resuming,
/// and the commit (everything sealed is in the spool and synced). A sink
/// adds its own batching and encoding.
#[derive(Debug)]
pub struct Producer {
    /// For log lines (`loki`, `otlp logs`).
    what: &'static str,
    spool: SharedSpool,
    wake: Arc<Notify>,
    stats: Arc<SinkStats>,
    /// Spool bytes free when last looked (only grows behind our back, as
    /// the sender acknowledges).
    room: u64,
    /// Sealed frames and their entries, which the spool refused (kept
    /// until it takes them).
    pending: Vec<(Vec<u8>, u32)>,
    /// Refusing entries until the spool is at most half full.
    blocked: bool,
}

impl Producer {
    pub fn new(
        what: &'static str,
        spool: SharedSpool,
        wake: Arc<Notify>,
        stats: Arc<SinkStats>,
    ) -> Producer {
        let room = {
            let s = spool.lock();
            stats.spool(&s);
            s.max_bytes().saturating_sub(s.bytes())
        };
        Producer {
            what,
            spool,
            wake,
            stats,
            room,
            pending: Vec::new(),
            blocked: false,
        }
    }

    /// The sink's counters.
    pub fn stats(&self) -> Arc<SinkStats> {
        self.stats.clone()
    }

    /// Whether an entry that brings the open batch to `need` spooled bytes
    /// may be taken; `false` blocks the sink until [`resume`](Self::resume).
    pub fn admit(&mut self, need: u64) -> bool {
        if self.blocked || !self.pending.is_empty() {
            return false;
        }
        if need > self.room {
            let spool = self.spool.lock();
            self.room = spool.max_bytes().saturating_sub(spool.bytes());
            drop(spool);
            if need > self.room {
                tracing::warn!(
                    sink = self.what,
                    "spool full: shipping pauses (the log files keep the lines; \
                     per-site numbers keep flowing) until the spool is half empty"
                );
                self.blocked = true;
                self.stats.blocked.store(true, Relaxed);
                return false;
            }
        }
        true
    }

    /// Hands a sealed frame to the spool (kept pending if it refuses).
    ///
    /// # Errors
    /// When the spool cannot be written (the frame stays pending).
    pub fn push(&mut self, frame: Vec<u8>, entries: u32, now_ms: u64) -> Result<(), SpoolError> {
        self.pending.push((frame, entries));
        self.flush(now_ms)
    }

    /// Pushes pending frames to the spool; those it refuses stay pending.
    ///
    /// # Errors
    /// When the spool cannot be written.
    pub fn flush(&mut self, now_ms: u64) -> Result<(), SpoolError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut spool = self.spool.lock();
        let mut result = Ok(());
        let mut pushed = 0;
        for (frame, entries) in &self.pending {
            match spool.push(frame, *entries, now_ms) {
                Ok(Pushed::Stored) => {}
                Ok(Pushed::DroppedOldest { frames, items }) => {
                    self.stats.dropped("spool_full", items);
                    tracing::warn!(
                        sink = self.what,
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
                .fetch_add(u64::from(*entries), Relaxed);
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

    /// After the sink sealed its open batches: every frame in the spool,
    /// synced ([`LogSink::commit`]).
    ///
    /// # Errors
    /// [`SpoolError::Full`] when frames are still pending, or a write or
    /// sync error.
    pub fn commit(&mut self, now_ms: u64) -> Result<(), SpoolError> {
        self.flush(now_ms)?;
        if !self.pending.is_empty() {
            return Err(SpoolError::Full);
        }
        self.spool.lock().sync()
    }

    /// [`LogSink::can_resume`].
    pub fn can_resume(&self) -> bool {
        let spool = self.spool.lock();
        spool.bytes() <= spool.max_bytes() / 2
    }

    /// [`LogSink::resume`].
    pub fn resume(&mut self) {
        self.blocked = false;
        self.stats.blocked.store(false, Relaxed);
    }
}

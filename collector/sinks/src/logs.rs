//! The interface between the pipeline thread and a log sink (Loki, OTLP
//! logs). The pipeline thread offers each record as a [`LogEntry`]; the
//! sink encodes it into its open batch and seals batches into its spool.
//! A refusal (`offer` is `false`: the spool is full under `when_full:
//! block`) tells the caller to hold that file's shipping cursor at this
//! record and re-read from there once [`LogSink::can_resume`] says so.

use std::sync::Arc;

use crate::entry::LogEntry;
use crate::spool::SpoolError;
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

    /// After a failed [`commit`](Self::commit): forgets every entry not
    /// yet in the spool and refuses entries until [`resume`](Self::resume);
    /// the caller re-reads them from the files' last durable shipping
    /// cursors.
    fn discard(&mut self);

    /// After a refusal: whether there is room again (the spool at most
    /// half full), so shipping can catch up.
    fn can_resume(&self) -> bool;

    /// Takes entries again (after a refusal or [`discard`](Self::discard)).
    fn resume(&mut self);

    /// Its counters.
    fn stats(&self) -> Arc<SinkStats>;
}

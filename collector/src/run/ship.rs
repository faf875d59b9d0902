//! The log sinks on the pipeline thread: every record is offered to each
//! log sink (Loki, OTLP logs) whose shipping cursor for the record's file is
//! in step with the live cursor. A sink whose spool is full refuses; the
//! file's shipping cursor for that sink then stays at the refused record
//! while the live cursor (aggregation, the tap, the checkpoint's offset)
//! goes on. The lines in between are re-read from the file when the spool
//! has room again ([`super::catchup`]).
//!
//! Both cursors are in the checkpoint: `offset`, and `ship.<sink>` while a
//! sink lags. A sink's records become durable (sealed into its spool and
//! synced) before a checkpoint passes them, as the tap's do.

use std::sync::Arc;

use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::record::Record;
use sitepulse_pipeline::{Observer, Origin};
use sitepulse_sinks::entry::LogEntry;
use sitepulse_sinks::logs::LogSink;
use sitepulse_sinks::stats::SinkStats;

use super::tap::TapObserver;

/// The pipeline thread's observer: the tap and the log sinks.
pub(crate) struct Outputs {
    pub(crate) tap: TapObserver,
    pub(crate) ship: ShipObserver,
}

impl Observer for Outputs {
    fn record(&mut self, origin: &Origin<'_>, rec: &Record<'_>, site: SiteId, site_name: &str) {
        self.tap.record(origin, rec, site, site_name);
        self.ship.record(origin, rec, site, site_name);
    }
}

/// A sink's view for readers: its counters, and how far files lag for it.
#[derive(Debug, Clone)]
pub struct SinkView {
    pub name: &'static str,
    pub stats: Arc<SinkStats>,
    /// Files whose shipping cursor for this sink is behind the live one.
    pub lagging_files: u64,
    /// Bytes between those cursors, summed over the files.
    pub lag_bytes: u64,
}

/// Offers records to the log sinks.
pub(crate) struct ShipObserver {
    pub(crate) sinks: Vec<Box<dyn LogSink>>,
    /// This node's name (the `node` label).
    pub(crate) node: String,
    /// Wall clock, Unix ms, as of the current batch.
    pub(crate) now_ms: u64,
    /// For the stream being fed: per sink, whether its records go to it.
    live: Vec<bool>,
    /// Per sink: where the first record it refused starts.
    refused: Vec<Option<u64>>,
}

impl ShipObserver {
    pub(crate) fn new(sinks: Vec<Box<dyn LogSink>>, node: String) -> ShipObserver {
        let n = sinks.len();
        ShipObserver {
            sinks,
            node,
            now_ms: 0,
            live: vec![false; n],
            refused: vec![None; n],
        }
    }

    /// Before feeding a stream: `lag` is its shipping state per sink
    /// (`Some(offset)`: behind, its records are not offered).
    pub(crate) fn begin(&mut self, lag: &[Option<u64>]) {
        if !self.sinks.is_empty() {
            self.now_ms = sitepulse_sinks::send::unix_ms();
        }
        for (i, l) in self.live.iter_mut().enumerate() {
            *l = lag.get(i).is_some_and(Option::is_none);
        }
        self.refused.iter_mut().for_each(|r| *r = None);
    }

    /// Before re-reading a file for sink `only`.
    pub(crate) fn begin_only(&mut self, only: usize) {
        for (i, l) in self.live.iter_mut().enumerate() {
            *l = i == only;
        }
        self.refused.iter_mut().for_each(|r| *r = None);
    }

    /// After feeding: records the refusals into the stream's state.
    pub(crate) fn end(&mut self, lag: &mut [Option<u64>]) {
        for (l, r) in lag.iter_mut().zip(&self.refused) {
            if l.is_none() && r.is_some() {
                *l = *r;
            }
        }
        self.live.iter_mut().for_each(|l| *l = false);
    }

    /// Where sink `i` refused, since the last `begin`.
    pub(crate) fn refused(&self, i: usize) -> Option<u64> {
        self.refused.get(i).copied().flatten()
    }
}

impl Observer for ShipObserver {
    fn record(&mut self, origin: &Origin<'_>, rec: &Record<'_>, _site: SiteId, site_name: &str) {
        if !self.live.iter().any(|&l| l) {
            return;
        }
        let entry = LogEntry::of(origin, rec, site_name, &self.node);
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            if self.live[i] && !sink.offer(&entry, self.now_ms) {
                self.live[i] = false;
                self.refused[i] = Some(origin.message.start_offset);
            }
        }
    }
}

/// The node's name for the `node` label: `$NODE_NAME` (the DaemonSet sets it
/// from `spec.nodeName`), else the host name.
pub(crate) fn node_name() -> String {
    if let Some(n) = std::env::var_os("NODE_NAME").and_then(|s| s.into_string().ok())
        && !n.is_empty()
    {
        return n;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

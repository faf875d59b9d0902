//! Open batches: entries grouped per tenant and per stream (label set),
//! each stream's entries kept in timestamp order when sealed, sealed by
//! bytes or by age into a frame (`PushRequest`, snappy-compressed) for the
//! spool.

use std::collections::HashMap;

use super::config::LokiConfig;
use super::encode::{put_entry, put_label_value, put_stream};
use crate::entry::LogEntry;

/// One stream of an open batch.
#[derive(Debug)]
struct StreamBuf {
    labels: String,
    /// Encoded `entries` fields, back to back.
    buf: Vec<u8>,
    /// `(ts_ns, start, end)` of each entry in `buf`.
    idx: Vec<(i64, u32, u32)>,
    sorted: bool,
}

/// The open batch of one tenant.
#[derive(Debug, Default)]
struct TenantBatch {
    streams: Vec<StreamBuf>,
    by_labels: HashMap<String, usize>,
    /// Encoded bytes of all entries.
    bytes: u64,
    entries: u32,
    oldest_ms: Option<u64>,
}

/// A sealed batch: the spool frame and what it carries.
#[derive(Debug)]
pub struct Sealed {
    /// `tenant length (u8) | tenant | snappy(PushRequest)`.
    pub frame: Vec<u8>,
    pub entries: u32,
}

/// Every tenant's open batch.
#[derive(Debug)]
pub struct Batcher {
    labels: Vec<String>,
    static_labels: String,
    meta: Vec<String>,
    tenant_of: HashMap<String, usize>,
    tenants: Vec<String>,
    batches: Vec<TenantBatch>,
    batch_bytes: u64,
    batch_wait_ms: u64,
    scratch: String,
    /// One label value.
    value: String,
    /// Byte ranges of meta values in `meta_scratch`.
    meta_scratch: String,
    meta_ranges: Vec<(usize, usize, usize)>,
    body: Vec<u8>,
    order: Vec<(u32, u32)>,
    snappy: snap::raw::Encoder,
}

/// The tenant header value of a frame, and its compressed body.
pub fn split_frame(frame: &[u8]) -> (&str, &[u8]) {
    let Some((&n, rest)) = frame.split_first() else {
        return ("", &[]);
    };
    let n = (n as usize).min(rest.len());
    (std::str::from_utf8(&rest[..n]).unwrap_or(""), &rest[n..])
}

impl Batcher {
    pub fn new(cfg: &LokiConfig) -> Batcher {
        let mut static_labels = String::new();
        for (k, v) in &cfg.static_labels {
            static_labels.push_str(", ");
            static_labels.push_str(k);
            static_labels.push_str("=\"");
            put_label_value(&mut static_labels, v);
            static_labels.push('"');
        }
        let mut tenants = vec![cfg.tenant_id.clone()];
        let mut tenant_of = HashMap::new();
        for (t, sites) in &cfg.tenants {
            tenants.push(t.clone());
            for s in sites {
                tenant_of.insert(s.clone(), tenants.len() - 1);
            }
        }
        Batcher {
            labels: cfg.labels.clone(),
            static_labels,
            meta: cfg.structured_metadata.clone(),
            tenant_of,
            batches: tenants.iter().map(|_| TenantBatch::default()).collect(),
            tenants,
            batch_bytes: cfg.batch_bytes,
            batch_wait_ms: cfg.batch_wait_ms,
            scratch: String::with_capacity(256),
            value: String::with_capacity(128),
            meta_scratch: String::with_capacity(1024),
            meta_ranges: Vec::with_capacity(16),
            body: Vec::new(),
            order: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }

    /// Bytes held in open batches.
    pub fn open_bytes(&self) -> u64 {
        self.batches.iter().map(|b| b.bytes).sum()
    }

    /// An upper bound of what `e` adds to a batch.
    pub fn cost(e: &LogEntry<'_>) -> u64 {
        e.line.len() as u64 + 256
    }

    /// Adds `e`; returns the tenant index whose batch is now full.
    pub fn add(&mut self, e: &LogEntry<'_>, now_ms: u64) -> Option<usize> {
        let t = if self.tenant_of.is_empty() {
            0
        } else {
            self.tenant_of.get(e.site).copied().unwrap_or(0)
        };
        // The stream's label string.
        self.scratch.clear();
        self.scratch.push('{');
        let mut first = true;
        for name in &self.labels {
            let mark = self.scratch.len();
            if !first {
                self.scratch.push_str(", ");
            }
            self.scratch.push_str(name);
            self.scratch.push_str("=\"");
            self.value.clear();
            if e.field(name, &mut self.value) {
                put_label_value(&mut self.scratch, &self.value);
                self.scratch.push('"');
                first = false;
            } else {
                self.scratch.truncate(mark);
            }
        }
        if first && !self.static_labels.is_empty() {
            self.scratch.push_str(&self.static_labels[2..]);
        } else {
            self.scratch.push_str(&self.static_labels);
        }
        self.scratch.push('}');
        // Structured metadata.
        self.meta_scratch.clear();
        self.meta_ranges.clear();
        for (i, name) in self.meta.iter().enumerate() {
            let a = self.meta_scratch.len();
            if e.field(name, &mut self.meta_scratch) {
                self.meta_ranges.push((i, a, self.meta_scratch.len()));
            }
        }
        let (meta, meta_scratch) = (&self.meta, &self.meta_scratch);
        let pairs = self
            .meta_ranges
            .iter()
            .map(|&(i, a, b)| (meta[i].as_str(), &meta_scratch[a..b]));
        let line: std::borrow::Cow<'_, str> = String::from_utf8_lossy(e.line);
        let batch = &mut self.batches[t];
        let si = match batch.by_labels.get(self.scratch.as_str()) {
            Some(&i) => i,
            None => {
                batch.streams.push(StreamBuf {
                    labels: self.scratch.clone(),
                    buf: Vec::with_capacity(4096),
                    idx: Vec::with_capacity(64),
                    sorted: true,
                });
                batch
                    .by_labels
                    .insert(self.scratch.clone(), batch.streams.len() - 1);
                batch.streams.len() - 1
            }
        };
        let s = &mut batch.streams[si];
        let a = s.buf.len();
        put_entry(&mut s.buf, e.ts_ns, &line, pairs);
        if s.idx.last().is_some_and(|l| l.0 > e.ts_ns) {
            s.sorted = false;
        }
        s.idx.push((e.ts_ns, a as u32, s.buf.len() as u32));
        batch.bytes += (s.buf.len() - a) as u64;
        batch.entries += 1;
        batch.oldest_ms.get_or_insert(now_ms);
        (batch.bytes >= self.batch_bytes).then_some(t)
    }

    /// Tenants whose batch waited `batch_wait_ms`.
    pub fn due(&self, now_ms: u64) -> Vec<usize> {
        self.batches
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                b.oldest_ms
                    .is_some_and(|o| now_ms >= o + self.batch_wait_ms)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Tenants with an open batch.
    pub fn open(&self) -> Vec<usize> {
        (0..self.batches.len())
            .filter(|&i| self.batches[i].entries > 0)
            .collect()
    }

    /// The frame of tenant `t`'s batch, which is then empty; `None` when
    /// it was. Each stream's entries go in timestamp order (a stable sort:
    /// equal times keep their file order).
    pub fn seal(&mut self, t: usize) -> Option<Sealed> {
        let batch = &mut self.batches[t];
        if batch.entries == 0 {
            return None;
        }
        self.body.clear();
        for s in &mut batch.streams {
            if s.idx.is_empty() {
                continue;
            }
            if !s.sorted {
                s.idx.sort_by_key(|e| e.0);
            }
            self.order.clear();
            self.order.extend(s.idx.iter().map(|&(_, a, b)| (a, b)));
            put_stream(&mut self.body, &s.labels, &s.buf, &self.order);
        }
        let tenant = self.tenants[t].as_bytes();
        let tenant = &tenant[..tenant.len().min(255)];
        let mut frame =
            Vec::with_capacity(1 + tenant.len() + snap::raw::max_compress_len(self.body.len()));
        frame.push(tenant.len() as u8);
        frame.extend_from_slice(tenant);
        let at = frame.len();
        frame.resize(at + snap::raw::max_compress_len(self.body.len()), 0);
        let n = self
            .snappy
            .compress(&self.body, &mut frame[at..])
            .unwrap_or(0);
        frame.truncate(at + n);
        let entries = batch.entries;
        // Streams that stay busy keep their buffers; idle ones are dropped
        // so a batch's memory follows its traffic.
        batch.streams.retain(|s| !s.idx.is_empty());
        for s in &mut batch.streams {
            s.buf.clear();
            s.idx.clear();
            s.sorted = true;
        }
        batch.by_labels.clear();
        for (i, s) in batch.streams.iter().enumerate() {
            batch.by_labels.insert(s.labels.clone(), i);
        }
        batch.bytes = 0;
        batch.entries = 0;
        batch.oldest_ms = None;
        Some(Sealed { frame, entries })
    }
}

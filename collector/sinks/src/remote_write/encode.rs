//! One snapshot as one remote_write request: a sample of every per-site
//! series at the snapshot's time, labels sorted by name with `__name__`
//! among them, the protobuf block-compressed with snappy (the raw format,
//! not snappy's framing format), as the Remote-Write 1.0 specification
//! requires (<https://prometheus.io/docs/specs/prw/remote_write_spec/>).

use std::collections::{BTreeMap, HashSet};

use prost::Message;
use sitepulse_pipeline::snapshot::SitesSnapshot;

use super::proto::{Label, STALE_NAN_BITS, Sample, TimeSeries, WriteRequest, is_stale};
use crate::series::{Family, site_families};

/// A request ready to spool.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// The snappy-compressed `WriteRequest`: the POST body as is.
    pub body: Vec<u8>,
    /// Samples in it, stale markers included.
    pub samples: u32,
    /// Stale markers among them.
    pub stale: u32,
}

/// Turns snapshots into requests. It remembers the series of the last
/// request, so a series that is gone from the next snapshot gets a stale
/// marker (the specification: senders MUST send one when a series will no
/// longer be appended to) and PromQL stops returning it at once rather
/// than five minutes later.
#[derive(Debug, Default)]
pub struct Encoder {
    /// `external_labels`, as labels.
    external: Vec<Label>,
    /// Label sets of the last request.
    last: HashSet<Vec<Label>>,
}

impl Encoder {
    pub fn new(external_labels: &BTreeMap<String, String>) -> Encoder {
        Encoder {
            external: external_labels
                .iter()
                .map(|(k, v)| Label {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            last: HashSet::new(),
        }
    }

    /// The request for `families` at `ts_ms` (Unix milliseconds): one
    /// series per sample name and label set, each with one sample; then a
    /// stale marker for each series of the last request that is gone.
    pub fn request(&mut self, families: &[Family], ts_ms: i64) -> WriteRequest {
        let mut timeseries = Vec::with_capacity(crate::series::sample_count(families));
        let mut seen = HashSet::with_capacity(self.last.len());
        for f in families {
            f.for_each_sample(|s| {
                let mut labels = Vec::with_capacity(s.labels.len() + 2 + self.external.len());
                labels.push(Label {
                    name: "__name__".into(),
                    value: s.name.into(),
                });
                labels.extend(s.labels.iter().map(|(k, v)| Label {
                    name: (*k).into(),
                    value: v.clone(),
                }));
                if let Some(le) = s.le {
                    labels.push(Label {
                        name: "le".into(),
                        value: le.into(),
                    });
                }
                labels.extend(self.external.iter().cloned());
                // By name, bytewise: `__name__` is not always first (an
                // upper-case external label sorts before `_`).
                labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
                seen.insert(labels.clone());
                timeseries.push(TimeSeries {
                    labels,
                    samples: vec![Sample {
                        value: s.value,
                        timestamp: ts_ms,
                    }],
                });
            });
        }
        let mut gone: Vec<Vec<Label>> = self.last.difference(&seen).cloned().collect();
        gone.sort_unstable();
        timeseries.extend(gone.into_iter().map(|labels| TimeSeries {
            labels,
            samples: vec![Sample {
                value: f64::from_bits(STALE_NAN_BITS),
                timestamp: ts_ms,
            }],
        }));
        self.last = seen;
        WriteRequest { timeseries }
    }

    /// [`request`](Self::request) for every per-site family of `snap`,
    /// encoded and compressed; `None` when it would hold no sample (before
    /// the first line) or cannot be compressed (over 4 GiB).
    pub fn encode(&mut self, snap: &SitesSnapshot, ts_ms: i64) -> Option<Encoded> {
        let req = self.request(&site_families(snap), ts_ms);
        let samples = req.timeseries.len();
        if samples == 0 {
            return None;
        }
        let stale = req
            .timeseries
            .iter()
            .filter(|t| t.samples.iter().any(|s| is_stale(s.value)))
            .count();
        let body = snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .ok()?;
        Some(Encoded {
            body,
            samples: u32::try_from(samples).unwrap_or(u32::MAX),
            stale: stale as u32,
        })
    }
}

/// Decodes a spooled body (snappy, then protobuf).
pub fn decode(body: &[u8]) -> Option<WriteRequest> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    WriteRequest::decode(&raw[..]).ok()
}

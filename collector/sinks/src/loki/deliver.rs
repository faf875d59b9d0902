//! Sending one spooled Loki batch. A 400 (or 413/422) means Loki refused
//! some entries for good (too old, out of order, line too long, bad
//! labels): the batch is split in halves and each half sent again, down to
//! single entries, so only the refused entries are dropped — each counted
//! under its cause, and each cause logged once (then every ten minutes).
//! Loki stores the good entries of a refused push anyway; sending them
//! again is harmless because Loki drops an entry identical in stream,
//! timestamp and line to one it has.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;

use super::batch::split_frame;
use super::config::{Encoding, LokiConfig};
use super::encode::to_json;
use super::proto::{PushRequest, StreamAdapter};
use crate::send::{Deliver, Delivery, Posted, post};
use crate::spool::Frame;
use crate::stats::SinkStats;

/// Sends Loki frames.
pub struct LokiDeliver {
    client: reqwest::Client,
    endpoint: String,
    encoding: Encoding,
    headers: Vec<(String, String)>,
    stats: Arc<SinkStats>,
    /// When each refusal cause was last logged.
    logged: HashMap<&'static str, Instant>,
}

/// The counter reason of a Loki refusal, from its message (Loki's
/// validation errors, pkg/validation/validate.go).
pub fn refusal_reason(status: u16, body: &str) -> &'static str {
    let b = body.to_ascii_lowercase();
    if b.contains("too far behind")
        || b.contains("too old")
        || b.contains("greater_than_max_sample_age")
    {
        "rejected_too_old"
    } else if b.contains("out of order") || b.contains("out_of_order") {
        "rejected_out_of_order"
    } else if b.contains("too far in the future") || b.contains("too_far_in_future") {
        "rejected_too_new"
    } else if b.contains("line too long") || b.contains("line_too_long") || b.contains("exceed") {
        "rejected_line_too_long"
    } else if b.contains("structured metadata") {
        "rejected_structured_metadata"
    } else if b.contains("label") {
        "rejected_labels"
    } else if status == 413 {
        "rejected_too_large"
    } else {
        "rejected"
    }
}

fn entries(req: &PushRequest) -> usize {
    req.streams.iter().map(|s| s.entries.len()).sum()
}

/// Two halves of a request with at least two entries.
fn halve(req: PushRequest) -> (PushRequest, PushRequest) {
    let total = entries(&req);
    let mut left = PushRequest::default();
    let mut right = PushRequest::default();
    let mut seen = 0;
    for mut s in req.streams {
        let n = s.entries.len();
        if seen + n <= total / 2 {
            left.streams.push(s);
        } else if seen >= total / 2 {
            right.streams.push(s);
        } else {
            let cut = total / 2 - seen;
            let tail = s.entries.split_off(cut);
            right.streams.push(StreamAdapter {
                labels: s.labels.clone(),
                entries: tail,
                hash: 0,
            });
            left.streams.push(s);
        }
        seen += n;
    }
    (left, right)
}

impl LokiDeliver {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(cfg: &LokiConfig, stats: Arc<SinkStats>) -> Result<LokiDeliver, reqwest::Error> {
        Ok(LokiDeliver {
            client: crate::http::client(Duration::from_secs(cfg.timeout_secs))?,
            endpoint: cfg.endpoint.clone(),
            encoding: cfg.encoding,
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            stats,
            logged: HashMap::new(),
        })
    }

    fn request(&self, tenant: &str) -> reqwest::RequestBuilder {
        let mut r = self.client.post(&self.endpoint);
        r = match self.encoding {
            Encoding::Protobuf => r.header("Content-Type", "application/x-protobuf"),
            Encoding::Json => r.header("Content-Type", "application/json"),
        };
        if !tenant.is_empty() {
            r = r.header("X-Scope-OrgID", tenant);
        }
        for (k, v) in &self.headers {
            r = r.header(k.as_str(), v.as_str());
        }
        r
    }

    fn body(&self, req: &PushRequest) -> Vec<u8> {
        match self.encoding {
            Encoding::Protobuf => snap::raw::Encoder::new()
                .compress_vec(&req.encode_to_vec())
                .unwrap_or_default(),
            Encoding::Json => to_json(req),
        }
    }

    /// Splits a refused request until only refused entries are left.
    async fn split(&mut self, tenant: &str, req: PushRequest, first: (u16, String)) -> Delivery {
        let mut accepted = 0u64;
        // (request, the refusal it already got, if it is the whole batch)
        let mut work = vec![(req, Some(first))];
        while let Some((req, refusal)) = work.pop() {
            let n = entries(&req) as u64;
            let refusal = match refusal {
                Some(r) => Some(r),
                None => match post(self.request(tenant), self.body(&req)).await {
                    Posted::Ok => {
                        accepted += n;
                        None
                    }
                    Posted::Rejected { status, body } => Some((status, body)),
                    Posted::Retry(d) => return d,
                },
            };
            let Some((status, body)) = refusal else {
                continue;
            };
            if n <= 1 {
                let reason = refusal_reason(status, &body);
                self.stats.dropped(reason, n);
                let due = self
                    .logged
                    .get(reason)
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(600));
                if due {
                    self.logged.insert(reason, Instant::now());
                    tracing::warn!(
                        sink = "loki",
                        reason,
                        status,
                        total_dropped = self.stats.dropped_count(reason),
                        "Loki refused an entry; it is dropped and counted \
                         (sitepulse_sink_dropped_total{{sink=\"loki\",reason=\"{reason}\"}}): {}",
                        body.trim()
                    );
                }
                continue;
            }
            let (l, r) = halve(req);
            work.push((r, None));
            work.push((l, None));
        }
        Delivery::Done { items: accepted }
    }
}

impl Deliver for LokiDeliver {
    async fn deliver(&mut self, frame: &Frame) -> Delivery {
        let (tenant, compressed) = split_frame(&frame.payload);
        let tenant = tenant.to_owned();
        let body = match self.encoding {
            Encoding::Protobuf => compressed.to_vec(),
            Encoding::Json => match decode(compressed) {
                Some(req) => to_json(&req),
                None => return self.corrupt(frame),
            },
        };
        match post(self.request(&tenant), body).await {
            Posted::Ok => Delivery::Done {
                items: u64::from(frame.items),
            },
            Posted::Retry(d) => d,
            Posted::Rejected { status, body } => match decode(compressed) {
                Some(req) => self.split(&tenant, req, (status, body)).await,
                None => self.corrupt(frame),
            },
        }
    }
}

impl LokiDeliver {
    /// A frame that does not decode (cannot happen unless the disk
    /// corrupted it past its CRC): dropped, counted, logged.
    fn corrupt(&self, frame: &Frame) -> Delivery {
        self.stats.dropped("corrupt_frame", u64::from(frame.items));
        tracing::error!(
            sink = "loki",
            entries = frame.items,
            "a spooled batch does not decode; dropped"
        );
        Delivery::Done { items: 0 }
    }
}

/// Decodes a frame body (snappy, then protobuf).
pub fn decode(compressed: &[u8]) -> Option<PushRequest> {
    let raw = snap::raw::Decoder::new().decompress_vec(compressed).ok()?;
    PushRequest::decode(&raw[..]).ok()
}

#[cfg(test)]
mod tests {
    use super::super::proto::{EntryAdapter, Timestamp};
    use super::*;

    fn req(sizes: &[usize]) -> PushRequest {
        let mut n = 0;
        PushRequest {
            streams: sizes
                .iter()
                .enumerate()
                .map(|(i, &k)| StreamAdapter {
                    labels: format!("{{s=\"{i}\"}}"),
                    entries: (0..k)
                        .map(|_| {
                            n += 1;
                            EntryAdapter {
                                timestamp: Some(Timestamp {
                                    seconds: n,
                                    nanos: 0,
                                }),
                                line: format!("l{n}"),
                                structured_metadata: vec![],
                            }
                        })
                        .collect(),
                    hash: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn halves_keep_every_entry_once() {
        for sizes in [
            vec![2],
            vec![1, 1],
            vec![3, 4, 1],
            vec![10],
            vec![1, 9, 0, 2],
        ] {
            let r = req(&sizes);
            let all: Vec<String> = r
                .streams
                .iter()
                .flat_map(|s| s.entries.iter().map(|e| e.line.clone()))
                .collect();
            let (a, b) = halve(r);
            assert!(entries(&a) >= 1 && entries(&b) >= 1, "{sizes:?}");
            let got: Vec<String> = a
                .streams
                .iter()
                .chain(&b.streams)
                .flat_map(|s| s.entries.iter().map(|e| e.line.clone()))
                .collect();
            assert_eq!(got, all);
        }
    }

    #[test]
    fn reasons_from_loki_messages() {
        assert_eq!(
            refusal_reason(
                400,
                "entry for stream '{a=\"b\"}' has timestamp too old: 2020-01-01"
            ),
            "rejected_too_old"
        );
        assert_eq!(
            refusal_reason(
                400,
                "entry with timestamp 2024 ignored, reason: 'entry too far behind, oldest acceptable timestamp is: 2025'"
            ),
            "rejected_too_old"
        );
        assert_eq!(
            refusal_reason(400, "entry out of order"),
            "rejected_out_of_order"
        );
        assert_eq!(
            refusal_reason(400, "Max entry size '256' bytes exceeded for stream"),
            "rejected_line_too_long"
        );
        assert_eq!(refusal_reason(413, ""), "rejected_too_large");
    }
}

//! Sending one spooled remote_write request. The Remote-Write 1.0
//! specification (<https://prometheus.io/docs/specs/prw/remote_write_spec/>):
//! POST the snappy-compressed protobuf with `Content-Encoding: snappy`,
//! `Content-Type: application/x-protobuf`,
//! `X-Prometheus-Remote-Write-Version: 0.1.0` and a `User-Agent`; retry 5xx
//! and 429 with backoff; do not retry a 400.
//!
//! A 400 from Prometheus means it refused the request for good (a sample
//! out of order, older than its head accepts — "out of bounds" —, or a
//! duplicate with another value); it appends all of a request or none, so
//! the whole frame is dropped, counted under the cause found in the body,
//! and acknowledged. Other 4xx follow the crate's shared policy
//! ([`crate::retry::verdict`]): 401/403/404 are retried (an operator fixes
//! credentials or a URL; dropping would lose the samples meanwhile), where
//! the specification says not to retry them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::RemoteWriteConfig;
use crate::send::{Deliver, Delivery, Posted, post};
use crate::spool::Frame;
use crate::stats::SinkStats;

/// The protocol version header's value for Remote-Write 1.0.
pub const VERSION: &str = "0.1.0";

/// Sends remote_write frames.
pub struct RemoteWriteDeliver {
    client: reqwest::Client,
    endpoint: String,
    headers: Vec<(String, String)>,
    stats: Arc<SinkStats>,
    /// When each refusal cause was last logged.
    logged: HashMap<&'static str, Instant>,
}

/// The counter reason of a refusal, from its body (Prometheus'
/// `storage` errors, Mimir's and Thanos' validation messages).
pub fn refusal_reason(status: u16, body: &str) -> &'static str {
    let b = body.to_ascii_lowercase();
    if b.contains("out of bounds") || b.contains("too old") || b.contains("too far in the past") {
        "rejected_too_old"
    } else if b.contains("out of order") || b.contains("out-of-order") {
        "rejected_out_of_order"
    } else if b.contains("duplicate sample") {
        "rejected_duplicate"
    } else if b.contains("too far in the future") || b.contains("too new") {
        "rejected_too_new"
    } else if b.contains("label") {
        "rejected_labels"
    } else if status == 413 {
        "rejected_too_large"
    } else {
        "rejected"
    }
}

impl RemoteWriteDeliver {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        cfg: &RemoteWriteConfig,
        stats: Arc<SinkStats>,
    ) -> Result<RemoteWriteDeliver, reqwest::Error> {
        Ok(RemoteWriteDeliver {
            client: crate::http::client(Duration::from_secs(cfg.timeout_secs))?,
            endpoint: cfg.endpoint.clone(),
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            stats,
            logged: HashMap::new(),
        })
    }

    fn request(&self) -> reqwest::RequestBuilder {
        let mut r = self
            .client
            .post(&self.endpoint)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", VERSION);
        for (k, v) in &self.headers {
            r = r.header(k.as_str(), v.as_str());
        }
        r
    }

    /// Drops a refused frame: counted, logged once per cause (then every
    /// ten minutes).
    fn refused(&mut self, frame: &Frame, status: u16, body: &str) -> Delivery {
        let reason = refusal_reason(status, body);
        let n = u64::from(frame.items);
        self.stats.dropped(reason, n);
        self.stats.failed(
            &format!("http_{status}"),
            format!("HTTP {status}: {}", body.trim()),
        );
        let due = self
            .logged
            .get(reason)
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(600));
        if due {
            self.logged.insert(reason, Instant::now());
            tracing::warn!(
                sink = "prometheus_remote_write",
                reason,
                status,
                samples = n,
                total_dropped = self.stats.dropped_count(reason),
                "the receiver refused a push; its samples are dropped and counted \
                 (sitepulse_sink_dropped_total{{sink=\"prometheus_remote_write\",reason=\"{reason}\"}}): {}",
                body.trim()
            );
        }
        Delivery::Done { items: 0 }
    }
}

impl Deliver for RemoteWriteDeliver {
    async fn deliver(&mut self, frame: &Frame) -> Delivery {
        match post(self.request(), frame.payload.clone()).await {
            Posted::Ok => Delivery::Done {
                items: u64::from(frame.items),
            },
            Posted::Retry(d) => d,
            Posted::Rejected { status, body } => self.refused(frame, status, &body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_from_receiver_messages() {
        // Prometheus 2.x storage errors as its write handler returns them.
        assert_eq!(refusal_reason(400, "out of bounds\n"), "rejected_too_old");
        assert_eq!(
            refusal_reason(400, "out of order sample\n"),
            "rejected_out_of_order"
        );
        assert_eq!(
            refusal_reason(400, "duplicate sample for timestamp\n"),
            "rejected_duplicate"
        );
        // Mimir.
        assert_eq!(
            refusal_reason(
                400,
                "the sample has been rejected because its timestamp is too old (err-mimir-sample-timestamp-too-old)"
            ),
            "rejected_too_old"
        );
        assert_eq!(
            refusal_reason(
                400,
                "received a sample whose timestamp is too far in the future"
            ),
            "rejected_too_new"
        );
        assert_eq!(
            refusal_reason(
                400,
                "received a series whose label value length exceeds the limit"
            ),
            "rejected_labels"
        );
        assert_eq!(refusal_reason(413, ""), "rejected_too_large");
        assert_eq!(refusal_reason(400, "snappy: corrupt input"), "rejected");
    }
}

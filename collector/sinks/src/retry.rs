//! Retries with exponential backoff and full jitter (the AWS architecture
//! blog's "full jitter": sleep a uniform random time up to the capped
//! exponential), as Vector's and the OpenTelemetry Collector's exporters do,
//! so a farm of collectors does not hammer a recovering Loki in step.
//!
//! Sinks retry forever while their spool has room: a receiver that is down
//! costs disk, then (when the spool is full) reading ahead, never lines.

use std::time::Duration;

use rand::Rng;
use serde::Deserialize;

/// A sink's `retry:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First wait after a failure.
    pub initial_backoff_ms: u64,
    /// Longest wait between two tries.
    pub max_backoff_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff_ms: 250,
            max_backoff_ms: 30_000,
        }
    }
}

impl RetryConfig {
    /// Problems with the values, as `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.initial_backoff_ms == 0 {
            out.push(("initial_backoff_ms", "must be at least 1".into()));
        }
        if self.max_backoff_ms < self.initial_backoff_ms {
            out.push((
                "max_backoff_ms",
                "must be at least initial_backoff_ms".into(),
            ));
        }
        out
    }
}

/// The wait before each next try of one request.
#[derive(Debug, Clone)]
pub struct Backoff {
    cfg: RetryConfig,
    attempt: u32,
}

impl Backoff {
    pub fn new(cfg: &RetryConfig) -> Backoff {
        Backoff {
            cfg: cfg.clone(),
            attempt: 0,
        }
    }

    /// Tries failed so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The ceiling of the next wait: `initial × 2^attempt`, capped.
    pub fn ceiling(&self) -> Duration {
        let exp = self.attempt.min(30);
        let ms = self
            .cfg
            .initial_backoff_ms
            .saturating_mul(1u64 << exp)
            .min(self.cfg.max_backoff_ms);
        Duration::from_millis(ms)
    }

    /// The next wait (uniform in `[ceiling/2, ceiling]`: full jitter with a
    /// floor, so a retry storm still spreads but never spins), or the
    /// server's `Retry-After` when it gave one and it is longer.
    pub fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let ms = ceiling.as_millis() as u64;
        let wait = Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)));
        match retry_after {
            Some(ra) => wait.max(ra.min(Duration::from_millis(self.cfg.max_backoff_ms))),
            None => wait,
        }
    }

    /// A success: the next failure starts from the initial wait.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// What to do after an HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: acknowledged.
    Done,
    /// 429, 5xx, 408, and refusals that an operator fixes (401, 403, 404:
    /// wrong credentials or URL): wait and send again.
    Retry,
    /// 400 / 413 / 422: the receiver refuses (part of) the content; sending
    /// it again will not help. Sinks split the batch to keep what is good.
    Reject,
}

/// Classifies an HTTP status.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Done,
        400 | 413 | 422 => Verdict::Reject,
        _ => Verdict::Retry,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Loki,
/// Mimir or Prometheus and is ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_cap_with_jitter() {
        let cfg = RetryConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
        };
        let mut b = Backoff::new(&cfg);
        let mut last_ceiling = Duration::ZERO;
        for _ in 0..20 {
            let c = b.ceiling();
            assert!(c >= last_ceiling && c <= Duration::from_millis(1_000));
            let w = b.next(None);
            assert!(w >= c / 2 && w <= c, "{w:?} not in [{:?}, {c:?}]", c / 2);
            last_ceiling = c;
        }
        assert_eq!(b.ceiling(), Duration::from_millis(1_000));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let cfg = RetryConfig {
            initial_backoff_ms: 10,
            max_backoff_ms: 5_000,
        };
        let mut b = Backoff::new(&cfg);
        assert_eq!(b.next(Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(
            b.next(Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(verdict(204), Verdict::Done);
        assert_eq!(verdict(429), Verdict::Retry);
        assert_eq!(verdict(503), Verdict::Retry);
        assert_eq!(verdict(401), Verdict::Retry);
        assert_eq!(verdict(400), Verdict::Reject);
        assert_eq!(verdict(413), Verdict::Reject);
    }
}

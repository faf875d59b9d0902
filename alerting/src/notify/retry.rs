//! Retries with exponential backoff and jitter ([`with_retry`]), and the
//! per-notifier counters ([`NotifierStats`]) the collector exports.
//!
//! Attempt `k` (from 1) that fails with a retryable error
//! ([`NotifyError::is_retryable`]) is followed, after a pause drawn
//! uniformly from `[d/2, d]` with `d = min(initial_backoff_ms · 2^(k-1),
//! max_backoff_secs)` ("equal jitter"), by attempt `k + 1`, up to
//! `max_attempts`. The jitter keeps many notifiers that failed together
//! from retrying together.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::error::{FailureReason, NotifyError};

/// How a notifier retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per notification, the first included (at least 1).
    pub max_attempts: u32,
    /// The pause after the first failed attempt, before jitter, in
    /// milliseconds; it doubles after each further failure.
    pub initial_backoff_ms: u64,
    /// The longest pause between two attempts, in seconds.
    pub max_backoff_secs: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 5,
            initial_backoff_ms: 500,
            max_backoff_secs: 30,
        }
    }
}

impl RetryConfig {
    /// The pause after failed attempt `attempt` (from 1), jitter drawn
    /// from `rng`.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let cap = self.max_backoff_secs.saturating_mul(1000);
        let shift = attempt.saturating_sub(1).min(32);
        let d = self.initial_backoff_ms.saturating_mul(1 << shift).min(cap);
        let half = d / 2;
        Duration::from_millis(half + rng.random_range(0..=d - half))
    }
}

/// Counters of one notifier: notifications delivered, notifications lost
/// by reason (after the last attempt), and retries. Read them at scrape
/// time; every method is lock-free.
#[derive(Debug, Default)]
pub struct NotifierStats {
    sent: AtomicU64,
    retries: AtomicU64,
    failed: [AtomicU64; FailureReason::ALL.len()],
}

/// A copy of [`NotifierStats`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Notifications delivered.
    pub sent: u64,
    /// Attempts made after a failed one.
    pub retries: u64,
    /// Notifications given up on, per reason, in [`FailureReason::ALL`]
    /// order.
    pub failed: [u64; FailureReason::ALL.len()],
}

impl StatsSnapshot {
    /// Notifications given up on for `reason`.
    pub fn failed(&self, reason: FailureReason) -> u64 {
        self.failed[reason.index()]
    }

    /// Notifications given up on, for any reason.
    pub fn failed_total(&self) -> u64 {
        self.failed.iter().sum()
    }
}

impl NotifierStats {
    /// Notifications delivered.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Attempts made after a failed one.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Notifications given up on for `reason`.
    pub fn failed(&self, reason: FailureReason) -> u64 {
        self.failed[reason.index()].load(Ordering::Relaxed)
    }

    /// All counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            sent: self.sent(),
            retries: self.retries(),
            failed: FailureReason::ALL.map(|r| self.failed(r)),
        }
    }

    pub(crate) fn record_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_failed(&self, reason: FailureReason) {
        self.failed[reason.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `attempt` until it succeeds, fails with an error that is not
/// retryable, or `cfg.max_attempts` attempts were made, pausing between
/// attempts as the module docs say; counts the outcome in `stats`.
///
/// # Errors
/// The last attempt's error.
pub async fn with_retry<F, Fut>(
    cfg: &RetryConfig,
    stats: &NotifierStats,
    mut attempt: F,
) -> Result<(), NotifyError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), NotifyError>>,
{
    let max = cfg.max_attempts.max(1);
    let mut k = 1;
    loop {
        match attempt().await {
            Ok(()) => {
                stats.record_sent();
                return Ok(());
            }
            Err(e) if k < max && e.is_retryable() => {
                let pause = cfg.backoff(k, &mut rand::rng());
                tracing::warn!(
                    error = %e,
                    attempt = k,
                    pause_ms = pause.as_millis() as u64,
                    "notification failed, retrying"
                );
                stats.record_retry();
                tokio::time::sleep(pause).await;
                k += 1;
            }
            Err(e) => {
                tracing::error!(error = %e, attempts = k, "notification lost");
                stats.record_failed(e.reason());
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    fn connect() -> NotifyError {
        NotifyError::Connect {
            notifier: "webhook \"t\"".into(),
            target: "http://127.0.0.1:9/".into(),
            detail: "refused".into(),
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let cfg = RetryConfig {
            max_attempts: 10,
            initial_backoff_ms: 100,
            max_backoff_secs: 1,
        };
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..200 {
            for (k, d) in [
                (1, 100),
                (2, 200),
                (3, 400),
                (4, 800),
                (5, 1000),
                (40, 1000),
            ] {
                let p = cfg.backoff(k, &mut rng).as_millis() as u64;
                assert!(
                    p >= d / 2 && p <= d,
                    "attempt {k}: {p} ms not in [{}, {d}]",
                    d / 2
                );
            }
        }
        let zero = RetryConfig {
            initial_backoff_ms: 0,
            ..cfg
        };
        assert_eq!(zero.backoff(3, &mut rng), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_then_succeeds() {
        let cfg = RetryConfig {
            max_attempts: 4,
            initial_backoff_ms: 1000,
            max_backoff_secs: 60,
        };
        let stats = NotifierStats::default();
        let calls = AtomicU32::new(0);
        let t0 = tokio::time::Instant::now();
        let r = with_retry(&cfg, &stats, || async {
            if calls.fetch_add(1, Ordering::Relaxed) < 2 {
                Err(connect())
            } else {
                Ok(())
            }
        })
        .await;
        assert!(r.is_ok());
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        let waited = t0.elapsed();
        // Pauses of [0.5, 1] s and [1, 2] s.
        assert!(waited >= Duration::from_millis(1500) && waited <= Duration::from_secs(3));
        let s = stats.snapshot();
        assert_eq!((s.sent, s.retries, s.failed_total()), (1, 2, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts_and_counts_reason() {
        let cfg = RetryConfig {
            max_attempts: 3,
            ..RetryConfig::default()
        };
        let stats = NotifierStats::default();
        let calls = AtomicU32::new(0);
        let r = with_retry(&cfg, &stats, || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(connect())
        })
        .await;
        assert!(matches!(r, Err(NotifyError::Connect { .. })));
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        assert_eq!(stats.retries(), 2);
        assert_eq!(stats.failed(FailureReason::Connect), 1);
        assert_eq!(stats.sent(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_permanent_errors() {
        let stats = NotifierStats::default();
        let calls = AtomicU32::new(0);
        let r = with_retry(&RetryConfig::default(), &stats, || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(NotifyError::HttpStatus {
                notifier: "webhook \"t\"".into(),
                target: "http://127.0.0.1:9/".into(),
                status: 400,
                body: "bad".into(),
            })
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(stats.failed(FailureReason::HttpStatus), 1);
        assert_eq!(stats.retries(), 0);
    }
}

//! The sender every sink shares: takes the oldest frame of its spool,
//! hands it to the sink's [`Deliver`], acknowledges it on success and
//! otherwise waits (backoff with jitter) and tries the same frame again,
//! so frames arrive in spool order. It never drops a frame itself: a sink's
//! `Deliver` decides what part of a frame the receiver refused for good.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, watch};

use crate::retry::{Backoff, RetryConfig, Verdict, retry_after, verdict};
use crate::spool::{Frame, SharedSpool};
use crate::stats::SinkStats;

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver has the frame (all of it, or all it will ever take:
    /// the sink counted what it refused). `items` were accepted.
    Done { items: u64 },
    /// Send it again later.
    Retry {
        /// Counter label (`connect`, `timeout`, `http_503`, ...).
        reason: String,
        /// For the log and the status page.
        error: String,
        retry_after: Option<Duration>,
    },
}

/// A sink's way of sending one spooled frame.
pub trait Deliver: Send {
    fn deliver(&mut self, frame: &Frame) -> impl Future<Output = Delivery> + Send;
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What an HTTP POST came to, before the sink looks at a refusal.
#[derive(Debug)]
pub enum Posted {
    /// 2xx.
    Ok,
    /// The receiver refused the content (400, 413, 422), with its body.
    Rejected { status: u16, body: String },
    /// Anything to try again.
    Retry(Delivery),
}

/// POSTs `body`; classifies the answer.
pub async fn post(req: reqwest::RequestBuilder, body: Vec<u8>) -> Posted {
    let resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            let reason = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else {
                "request"
            };
            return Posted::Retry(Delivery::Retry {
                reason: reason.into(),
                error: error_chain(&e),
                retry_after: None,
            });
        }
    };
    let status = resp.status().as_u16();
    let after = retry_after(resp.headers());
    match verdict(status) {
        Verdict::Done => Posted::Ok,
        v => {
            let mut body = resp.text().await.unwrap_or_default();
            body.truncate(1024);
            if v == Verdict::Reject {
                Posted::Rejected { status, body }
            } else {
                Posted::Retry(Delivery::Retry {
                    reason: format!("http_{status}"),
                    error: format!("HTTP {status}: {}", body.trim()),
                    retry_after: after,
                })
            }
        }
    }
}

/// An error and its sources, one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Drains `spool` into `deliver` until `shutdown` turns true (the current
/// try is finished first; what is left stays in the spool for the next
/// start). `wake` is notified by the producer after each push.
pub async fn run_sender<D: Deliver>(
    name: &str,
    spool: SharedSpool,
    stats: Arc<SinkStats>,
    retry: RetryConfig,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
    mut deliver: D,
) {
    let mut backoff = Backoff::new(&retry);
    let mut failing: Option<String> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let frame = {
            let mut s = spool.lock();
            match s.peek() {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!(sink = name, error = %e, "spool unreadable; retrying");
                    None
                }
            }
        };
        let Some(frame) = frame else {
            tokio::select! {
                () = wake.notified() => {}
                // A dropped stop sender means stop too.
                r = shutdown.changed() => if r.is_err() { break },
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        };
        let bytes = frame.payload.len() as u64;
        match deliver.deliver(&frame).await {
            Delivery::Done { items } => {
                backoff.reset();
                stats.sent_requests.fetch_add(1, Relaxed);
                stats.sent_items.fetch_add(items, Relaxed);
                stats.sent_bytes.fetch_add(bytes, Relaxed);
                let mut s = spool.lock();
                if let Err(e) = s.ack() {
                    tracing::error!(sink = name, error = %e, "spool acknowledgement failed");
                }
                stats.spool(&s);
                if let Some(err) = failing.take() {
                    tracing::info!(sink = name, last_error = %err, "sink delivers again");
                }
            }
            Delivery::Retry {
                reason,
                error,
                retry_after,
            } => {
                stats.retries.fetch_add(1, Relaxed);
                stats.failed(&reason, error.clone());
                let wait = backoff.next(retry_after);
                // Once per change of error, not per retry.
                if failing.as_deref() != Some(error.as_str()) {
                    tracing::warn!(
                        sink = name,
                        error = %error,
                        spooled_bytes = spool.lock().bytes(),
                        "sink failing; retrying with backoff (next in {} ms), lines wait in the spool",
                        wait.as_millis()
                    );
                    failing = Some(error);
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    r = shutdown.changed() => if r.is_err() { break },
                }
            }
        }
    }
    let mut s = spool.lock();
    if let Err(e) = s.close() {
        tracing::error!(sink = name, error = %e, "spool close failed");
    }
}

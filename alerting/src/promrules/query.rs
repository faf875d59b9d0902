//! PromQL pieces: durations as Prometheus writes them, label matchers,
//! numbers, and each SLI's error and total queries over the collector's
//! series (docs/metrics.md, "Per site").

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sitepulse_pipeline::aggregate::LATENCY_BUCKETS_SECS;

use crate::spec::{Sli, Span};

/// Requests by status class (`code_class`: `2xx` … `5xx`, `other`).
pub const REQUESTS: &str = "sitepulse_site_requests_total";
/// Requests by status code (`code`: `499`, `500`, `502`, `503`, `504`).
pub const REQUESTS_BY_CODE: &str = "sitepulse_site_requests_by_code_total";
/// The latency histogram's buckets (`le`).
pub const DURATION_BUCKET: &str = "sitepulse_site_request_duration_seconds_bucket";
/// The latency histogram's count: requests with a duration.
pub const DURATION_COUNT: &str = "sitepulse_site_request_duration_seconds_count";

/// A duration as Prometheus's `model.Duration.String()` writes it (what
/// Sloth names its rules and windows with): years and weeks only when
/// exact, then days, hours, minutes and seconds (`5m`, `1d`, `4w` for
/// 28 days, `30d`, `1h30m`).
pub fn prom_duration(span: Span) -> String {
    let mut left = span.secs();
    if left == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, mult, exact) in [
        ("y", 365 * 86_400, true),
        ("w", 7 * 86_400, true),
        ("d", 86_400, false),
        ("h", 3600, false),
        ("m", 60, false),
        ("s", 1, false),
    ] {
        if exact && !left.is_multiple_of(mult) {
            continue;
        }
        let n = left / mult;
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
            left -= n * mult;
        }
    }
    out
}

/// A PromQL (and Go template) double-quoted string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A label matcher set as Prometheus's `LabelSet.String()` writes it
/// (Sloth's `LabelsToPromFilter`): `{a="x", b="y"}`, sorted by name.
pub fn matchers(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// A number as PromQL reads it back exactly: the shortest round-trip
/// form, never an exponent (`14.4`, `0.0010000000000000009`, `30`).
pub fn num(x: f64) -> String {
    format!("{x}")
}

/// The `le` label value of a latency bound in ms, spelled as the
/// collector's `/metrics` spells it (prometheus-client's dtoa: `0.25`,
/// `1.0`); `None` when the histogram has no such bound.
pub fn le_value(threshold_ms: u32) -> Option<String> {
    LATENCY_BUCKETS_SECS
        .iter()
        .find(|s| (*s * 1000.0).round() == f64::from(threshold_ms))
        .map(|s| format!("{s:?}"))
}

/// One site's SLI as two PromQL expressions over a window.
#[derive(Debug, Clone)]
pub struct SliQuery {
    site_matcher: String,
    sli: Sli,
    le: String,
}

impl SliQuery {
    /// The queries for `sli` on `site`; `None` when a latency threshold
    /// is not a bound of the histogram.
    pub fn new(site: &str, sli: Sli) -> Option<SliQuery> {
        let le = match sli {
            Sli::Latency { threshold_ms } => le_value(threshold_ms)?,
            Sli::Availability { .. } => String::new(),
        };
        Some(SliQuery {
            site_matcher: format!("site={}", quote(site)),
            sli,
            le,
        })
    }

    fn increase(&self, metric: &str, extra: Option<(&str, &str)>, window: &str) -> String {
        let sel = match extra {
            Some((k, v)) => format!("{k}={}, {}", quote(v), self.site_matcher),
            None => self.site_matcher.clone(),
        };
        format!("sum(increase({metric}{{{sel}}}[{window}]))")
    }

    /// Requests the SLI counts over `window`: every request for
    /// availability, those with a duration for latency.
    pub fn total(&self, window: &str) -> String {
        match self.sli {
            Sli::Availability { .. } => self.increase(REQUESTS, None, window),
            Sli::Latency { .. } => self.increase(DURATION_COUNT, None, window),
        }
    }

    /// Bad requests over `window`: 5xx (plus 499, absent until first
    /// seen, hence `or vector(0)`), or those slower than the threshold
    /// (the count minus the threshold's cumulative bucket).
    pub fn errors(&self, window: &str) -> String {
        match self.sli {
            Sli::Availability { with_499: false } => {
                self.increase(REQUESTS, Some(("code_class", "5xx")), window)
            }
            Sli::Availability { with_499: true } => format!(
                "{} + ({} or vector(0))",
                self.increase(REQUESTS, Some(("code_class", "5xx")), window),
                self.increase(REQUESTS_BY_CODE, Some(("code", "499")), window),
            ),
            Sli::Latency { .. } => format!(
                "{} - {}",
                self.increase(DURATION_COUNT, None, window),
                self.increase(DURATION_BUCKET, Some(("le", &self.le)), window),
            ),
        }
    }

    /// The error ratio over `window`, Sloth's events shape
    /// (`(errors)\n/\n(total)\n`): summed increases divided, so each
    /// request weighs the same whatever the window.
    pub fn error_ratio(&self, window: &str) -> String {
        format!("({})\n/\n({})\n", self.errors(window), self.total(window))
    }
}

//! The sinks' self-metrics (`sitepulse_sink_*{sink}`): what each sent,
//! retried, dropped (by reason) and lost, its spool, and how far files lag
//! behind for it. Names follow Vector's component metrics in spirit
//! (`component_sent_events_total` ...), prefixed as ours are.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::run::ship::SinkView;

/// Every sink family, one sample per sink (and reason).
pub(super) fn encode(enc: &mut DescriptorEncoder, views: &[SinkView], now_ms: u64) -> fmt::Result {
    if views.is_empty() {
        return Ok(());
    }
    let snaps: Vec<_> = views
        .iter()
        .map(|v| (v, v.stats.snapshot(now_ms)))
        .collect();
    type C = fn(&sitepulse_sinks::stats::SinkStatsSnapshot) -> u64;
    let counters: [(&str, &str, C); 5] = [
        (
            "sink_sent_requests",
            "Requests the receiver acknowledged.",
            |s| s.sent_requests,
        ),
        (
            "sink_sent_items",
            "Log entries or samples the receiver acknowledged.",
            |s| s.sent_items,
        ),
        (
            "sink_sent_bytes",
            "Request bytes acknowledged (compressed, as sent).",
            |s| s.sent_bytes,
        ),
        (
            "sink_retries",
            "Requests that failed and will be sent again.",
            |s| s.retries,
        ),
        (
            "sink_accepted_items",
            "Log entries or samples written to the spool.",
            |s| s.accepted_items,
        ),
    ];
    for (name, help, get) in counters {
        let mut fam = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (v, s) in &snaps {
            ConstCounter::new(get(s)).encode(fam.encode_family(&[("sink", v.name)])?)?;
        }
    }
    type R =
        fn(&sitepulse_sinks::stats::SinkStatsSnapshot) -> &std::collections::BTreeMap<String, u64>;
    let by_reason: [(&str, &str, R); 3] = [
        (
            "sink_failed_requests",
            "Failed requests by reason (connect, timeout, http_503, ...).",
            |s| &s.failed_requests,
        ),
        (
            "sink_dropped_items",
            "Items that will never be delivered, by reason (rejected_too_old, spool_full, ...).",
            |s| &s.dropped_items,
        ),
        (
            "sink_lost_bytes",
            "Bytes of lines gone from their file (rotated away, truncated) before a lagging sink re-read them.",
            |s| &s.lost_bytes,
        ),
    ];
    for (name, help, get) in by_reason {
        let mut fam = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (v, s) in &snaps {
            for (reason, n) in get(s) {
                ConstCounter::new(*n)
                    .encode(fam.encode_family(&[("sink", v.name), ("reason", reason.as_str())])?)?;
            }
        }
    }
    type G = fn(&SinkView, &sitepulse_sinks::stats::SinkStatsSnapshot) -> f64;
    let gauges: [(&str, &str, G); 6] = [
        (
            "sink_spool_bytes",
            "Bytes in the sink's spool, not yet acknowledged.",
            |_, s| s.spool_bytes as f64,
        ),
        (
            "sink_spool_max_bytes",
            "The spool's size cap (spool.max_bytes).",
            |_, s| s.spool_max_bytes as f64,
        ),
        (
            "sink_oldest_unacked_age_seconds",
            "Age of the oldest spooled batch not yet acknowledged (0: none).",
            |_, s| s.oldest_unacked_age_secs,
        ),
        (
            "sink_blocked",
            "1 while the spool is full and shipping waits (the files keep the lines), else 0.",
            |_, s| f64::from(u8::from(s.blocked)),
        ),
        (
            "sink_lagging_files",
            "Files whose shipping cursor for this sink is behind their live cursor.",
            |v, _| v.lagging_files as f64,
        ),
        (
            "sink_lag_bytes",
            "Bytes between the shipping and live cursors, over those files.",
            |v, _| v.lag_bytes as f64,
        ),
    ];
    for (name, help, get) in gauges {
        let mut fam = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (v, s) in &snaps {
            ConstGauge::new(get(v, s)).encode(fam.encode_family(&[("sink", v.name)])?)?;
        }
    }
    Ok(())
}

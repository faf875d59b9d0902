//! SLOs, alerts and deploys on `/metrics` (docs/metrics.md): per site
//! and SLO the objective, budget remaining, burn rate per window and which
//! severity alerts (`sitepulse_slo_*`); alerts by state; deploy outcomes,
//! deadline misses and durations (`sitepulse_deploy_*`).

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use sitepulse_alerting::Severity;
use sitepulse_alerting::alert::state::AlertState;
use sitepulse_alerting::deploy::DURATION_BUCKETS_SECS;
use sitepulse_alerting::notify::{FailureReason, StatsSnapshot};

use crate::slo::{AlertHub, SloShared};

/// The families, when SLO evaluation runs.
pub(super) fn encode(
    enc: &mut DescriptorEncoder,
    slo: Option<&SloShared>,
    hub: Option<&AlertHub>,
) -> fmt::Result {
    let Some(slo) = slo else {
        return Ok(());
    };
    let view = slo.view();
    type G = fn(&sitepulse_alerting::SloStatus) -> f64;
    let gauges: [(&str, &str, G); 4] = [
        (
            "slo_objective_ratio",
            "The SLO's objective: the fraction of requests that must be good, by site and SLO.",
            |s| s.slo.objective,
        ),
        (
            "slo_error_budget_remaining_ratio",
            "Fraction of the period's error budget left (negative: overspent), by site and SLO.",
            |s| s.budget_remaining,
        ),
        (
            "slo_period_requests",
            "Requests the SLO counted over its period (as far as the kept counts go back).",
            |s| s.period_requests as f64,
        ),
        ("slo_period_bad_requests", "Of those, the bad ones.", |s| {
            s.period_bad as f64
        }),
    ];
    for (name, help, get) in gauges {
        let mut fam = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for s in &view.statuses {
            ConstGauge::new(get(s)).encode(
                fam.encode_family(&[("site", s.site.as_str()), ("slo", s.slo.name.as_str())])?,
            )?;
        }
    }
    let mut fam = enc.encode_descriptor(
        "slo_burn_rate",
        "Error ratio over the budget per window (1: the budget lasts exactly the period), by site, SLO and window; absent for a window without requests.",
        None,
        MetricType::Gauge,
    )?;
    for s in &view.statuses {
        for w in &s.windows {
            if let Some(r) = w.burn_rate {
                let window = w.window.to_string();
                ConstGauge::new(r).encode(fam.encode_family(&[
                    ("site", s.site.as_str()),
                    ("slo", s.slo.name.as_str()),
                    ("window", window.as_str()),
                ])?)?;
            }
        }
    }
    let mut fam = enc.encode_descriptor(
        "slo_alerting",
        "1 when a burn-rate row of this severity alerts for the site's SLO (before pending, silences and inhibition), else 0.",
        None,
        MetricType::Gauge,
    )?;
    for s in &view.statuses {
        for sev in [Severity::Page, Severity::Ticket] {
            let on = s.checks.iter().any(|c| c.alerting && c.severity == sev);
            ConstGauge::new(i64::from(on)).encode(fam.encode_family(&[
                ("site", s.site.as_str()),
                ("slo", s.slo.name.as_str()),
                ("severity", sev.as_str()),
            ])?)?;
        }
    }
    let store: [(&str, &str, i64); 2] = [
        (
            "slo_count_series",
            "Series (site and way of counting) in the SLO count store.",
            view.series as i64,
        ),
        (
            "slo_count_bytes",
            "Bytes the SLO count store's buckets take.",
            view.store_bytes as i64,
        ),
    ];
    for (name, help, v) in store {
        let fam = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(v).encode(fam)?;
    }
    let fam = enc.encode_descriptor(
        "slo_count_save_failing",
        "1 while the SLO counts cannot be saved (a restart would lose what came since the last save).",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(i64::from(view.save_error.is_some())).encode(fam)?;

    let Some(hub) = hub else {
        return Ok(());
    };
    let av = hub.view();
    let mut fam = enc.encode_descriptor(
        "alerts",
        "Alerts by state (pending, firing, resolved within the last 15 minutes).",
        None,
        MetricType::Gauge,
    )?;
    for (st, name) in [
        (AlertState::Pending, "pending"),
        (AlertState::Firing, "firing"),
        (AlertState::Resolved, "resolved"),
    ] {
        let n = av.alerts.iter().filter(|a| a.state == st).count();
        ConstGauge::new(n as i64).encode(fam.encode_family(&[("state", name)])?)?;
    }
    let mut fam = enc.encode_descriptor(
        "alerts_muted",
        "Firing alerts muted, by why (silenced, inhibited).",
        None,
        MetricType::Gauge,
    )?;
    let firing = || av.alerts.iter().filter(|a| a.state == AlertState::Firing);
    ConstGauge::new(firing().filter(|a| !a.silenced_by.is_empty()).count() as i64)
        .encode(fam.encode_family(&[("reason", "silenced")])?)?;
    ConstGauge::new(firing().filter(|a| a.inhibited_by.is_some()).count() as i64)
        .encode(fam.encode_family(&[("reason", "inhibited")])?)?;
    let notifiers = hub.notifiers();
    let snaps: Vec<(&String, &'static str, StatsSnapshot)> = notifiers
        .iter()
        .map(|(name, n)| (name, n.kind(), n.stats().snapshot()))
        .collect();
    let mut fam = enc.encode_descriptor(
        "notifications_sent",
        "Notifications delivered, by receiver and kind.",
        None,
        MetricType::Counter,
    )?;
    for (name, kind, s) in &snaps {
        ConstCounter::new(s.sent)
            .encode(fam.encode_family(&[("receiver", name.as_str()), ("kind", *kind)])?)?;
    }
    let mut fam = enc.encode_descriptor(
        "notifications_failed",
        "Notifications given up on after their retries, by receiver and reason (the group is tried again a minute later).",
        None,
        MetricType::Counter,
    )?;
    for (name, _, s) in &snaps {
        for r in FailureReason::ALL {
            ConstCounter::new(s.failed(r)).encode(
                fam.encode_family(&[("receiver", name.as_str()), ("reason", r.as_str())])?,
            )?;
        }
    }
    let mut fam = enc.encode_descriptor(
        "notification_retries",
        "Notification attempts made after a failed one, by receiver.",
        None,
        MetricType::Counter,
    )?;
    for (name, _, s) in &snaps {
        ConstCounter::new(s.retries).encode(fam.encode_family(&[("receiver", name.as_str())])?)?;
    }
    let st = &av.deploy_stats;
    let mut fam = enc.encode_descriptor(
        "deploys",
        "Rollouts decided, by outcome (passed, slow, stalled, unhealthy, superseded).",
        None,
        MetricType::Counter,
    )?;
    for o in ["passed", "slow", "stalled", "unhealthy", "superseded"] {
        ConstCounter::new(st.outcomes.get(o).copied().unwrap_or(0))
            .encode(fam.encode_family(&[("outcome", o)])?)?;
    }
    let fam = enc.encode_descriptor(
        "deploy_deadline_misses",
        "Rollouts that missed their deadline (slow or stalled).",
        None,
        MetricType::Counter,
    )?;
    ConstCounter::new(st.deadline_misses).encode(fam)?;
    let fam = enc.encode_descriptor(
        "deploys_in_progress",
        "Rollouts in progress.",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(av.deploys_active.len() as i64).encode(fam)?;
    let mut fam = enc.encode_descriptor(
        "deploy_duration_seconds",
        "Time from a rollout's observed start to done.",
        None,
        MetricType::Histogram,
    )?;
    let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(DURATION_BUCKETS_SECS.len() + 1);
    for i in 0..=DURATION_BUCKETS_SECS.len() {
        buckets.push((
            DURATION_BUCKETS_SECS
                .get(i)
                .copied()
                .unwrap_or(f64::INFINITY),
            st.duration_buckets.get(i).copied().unwrap_or(0),
        ));
    }
    let count = st.duration_buckets.iter().sum();
    fam.encode_histogram::<NoLabelSet>(st.duration_sum_secs, count, &buckets, None)?;
    Ok(())
}

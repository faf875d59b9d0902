//! Rebuilding the SLO counts from Prometheus when they are lost (no
//! count file, or a damaged one) and `slo.rebuild_from_prometheus` names a
//! Prometheus that scraped sitepulse's `/metrics` (or took its
//! remote_write). One `query_range` per way of counting, step one hour
//! over the longest period: `sum by (site) (increase(<counter>[1h]))`
//! (Prometheus's HTTP API, `/api/v1/query_range`), each point the hour
//! before it. Only hour buckets are filled: the windows up to 6 h start
//! from live counts, so a rebuild never makes a page on its own.
//! `increase()` extrapolates to the hour's edges, so a rebuilt hour is
//! Prometheus's estimate, not an exact count.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use sitepulse_alerting::engine::SloEngine;
use sitepulse_alerting::promrules::query::{
    DURATION_BUCKET, DURATION_COUNT, REQUESTS, REQUESTS_BY_CODE, le_value,
};
use sitepulse_alerting::store::Counts;
use sitepulse_alerting::{Sli, SloSet};

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// Per site, per hour start, a value.
type Hourly = BTreeMap<String, BTreeMap<i64, f64>>;

async fn range(
    client: &reqwest::Client,
    base: &str,
    promql: &str,
    start: i64,
    end: i64,
) -> Result<Hourly, String> {
    let url = format!("{}/api/v1/query_range", base.trim_end_matches('/'));
    let mut full = reqwest::Url::parse(&url).map_err(|e| format!("{url}: {e}"))?;
    full.query_pairs_mut()
        .append_pair("query", promql)
        .append_pair("start", &start.to_string())
        .append_pair("end", &end.to_string())
        .append_pair("step", "3600");
    let resp = client
        .get(full)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
    let a: Answer = serde_json::from_str(&body).map_err(|e| {
        format!(
            "{url}: HTTP {status}, not a Prometheus answer ({e}): {}",
            body.chars().take(200).collect::<String>()
        )
    })?;
    if a.status != "success" {
        return Err(format!("{url}: {promql}: {}", a.error.unwrap_or(a.status)));
    }
    let mut out = Hourly::new();
    for s in a.data.map(|d| d.result).unwrap_or_default() {
        let Some(site) = s.metric.get("site") else {
            continue;
        };
        let m = out.entry(site.clone()).or_default();
        for (t, v) in s.values {
            if let Ok(v) = v.parse::<f64>()
                && v.is_finite()
                && v > 0.0
            {
                // The point at T is the increase over the hour before T.
                m.insert(t as i64 - 3600, v);
            }
        }
    }
    Ok(out)
}

/// Fills `engine`'s hour buckets from Prometheus at `base` for the
/// longest period up to `now`; returns the sites and hours filled.
///
/// # Errors
/// A query that fails (connection, HTTP, PromQL): nothing is filled.
pub async fn rebuild(
    engine: &mut SloEngine,
    set: &SloSet,
    base: &str,
    timeout: Duration,
    now: i64,
) -> Result<(usize, usize), String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let hours = SloEngine::longest(set).secs().div_ceil(3600) as i64;
    let end = now.div_euclid(3600) * 3600;
    let start = end - (hours - 1) * 3600;
    let sum = |metric: &str, sel: &str| format!("sum by (site) (increase({metric}{sel}[1h]))");
    let total = range(&client, base, &sum(REQUESTS, ""), start, end).await?;
    let errors = range(
        &client,
        base,
        &sum(REQUESTS, "{code_class=\"5xx\"}"),
        start,
        end,
    )
    .await?;
    let sites: BTreeSet<String> = total.keys().cloned().collect();
    let slis: BTreeSet<Sli> = sites
        .iter()
        .flat_map(|s| set.for_site(s).into_iter().map(|slo| slo.sli))
        .collect();
    let c499 = if slis
        .iter()
        .any(|s| matches!(s, Sli::Availability { with_499: true }))
    {
        range(
            &client,
            base,
            &sum(REQUESTS_BY_CODE, "{code=\"499\"}"),
            start,
            end,
        )
        .await?
    } else {
        Hourly::new()
    };
    let timed = if slis.iter().any(|s| matches!(s, Sli::Latency { .. })) {
        range(&client, base, &sum(DURATION_COUNT, ""), start, end).await?
    } else {
        Hourly::new()
    };
    let mut fast: BTreeMap<u32, Hourly> = BTreeMap::new();
    for s in &slis {
        if let Sli::Latency { threshold_ms } = s
            && let Some(le) = le_value(*threshold_ms)
        {
            let q = sum(DURATION_BUCKET, &format!("{{le=\"{le}\"}}"));
            fast.insert(*threshold_ms, range(&client, base, &q, start, end).await?);
        }
    }
    let get = |h: &Hourly, site: &str, t: i64| {
        h.get(site).and_then(|m| m.get(&t)).copied().unwrap_or(0.0)
    };
    let mut filled = 0;
    let store = engine.store_mut();
    for site in &sites {
        let site_slis: BTreeSet<Sli> = set.for_site(site).into_iter().map(|s| s.sli).collect();
        for (&t, &n) in &total[site] {
            for sli in &site_slis {
                let c = match sli {
                    Sli::Availability { with_499 } => {
                        let mut bad = get(&errors, site, t);
                        if *with_499 {
                            bad += get(&c499, site, t);
                        }
                        Counts {
                            total: n.round() as u64,
                            bad: bad.round() as u64,
                        }
                    }
                    Sli::Latency { threshold_ms } => {
                        let all = get(&timed, site, t);
                        let good = fast.get(threshold_ms).map_or(0.0, |h| get(h, site, t));
                        Counts {
                            total: all.round() as u64,
                            bad: (all - good).max(0.0).round() as u64,
                        }
                    }
                };
                store.add_hour(site, *sli, t, c);
            }
            filled += 1;
        }
    }
    Ok((sites.len(), filled))
}

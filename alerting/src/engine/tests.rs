//! Burn scenarios with controlled time: per-site totals as the pipeline
//! would publish them, a snapshot a minute.

use std::path::Path;

use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::snapshot::{SiteSnapshot, SiteTotals, SitesSnapshot};

use super::*;
use crate::spec::SloSet;

const T0: i64 = 1_800_000_000 - 1_800_000_000 % 86_400;

/// Sites' totals since start, advanced minute by minute.
#[derive(Default)]
struct Farm {
    sites: Vec<(String, SiteTotals)>,
}

impl Farm {
    fn site(&mut self, name: &str) -> &mut SiteTotals {
        if let Some(i) = self.sites.iter().position(|s| s.0 == name) {
            return &mut self.sites[i].1;
        }
        self.sites.push((name.to_owned(), SiteTotals::default()));
        &mut self.sites.last_mut().unwrap().1
    }

    /// `n` requests of which `bad` 5xx, each taking `ms`.
    fn requests(&mut self, name: &str, n: u64, bad: u64, ms: u32) {
        let t = self.site(name);
        t.class[1] += n - bad;
        t.class[4] += bad;
        t.latency.count += n;
        let i = latency_bounds_ms()
            .iter()
            .position(|&b| ms <= b)
            .unwrap_or(14);
        t.latency.buckets[i] += n;
    }

    fn snapshot(&self, at: i64) -> SitesSnapshot {
        SitesSnapshot {
            now_unix: Some(at),
            sites: self
                .sites
                .iter()
                .enumerate()
                .map(|(i, (name, totals))| SiteSnapshot {
                    id: SiteId(i as u16 + 1),
                    name: name.clone(),
                    windows: Default::default(),
                    totals: totals.clone(),
                    pods: 0,
                })
                .collect(),
            ..Default::default()
        }
    }
}

fn engine(spec: &str) -> SloEngine {
    SloEngine::new(
        SloSet::from_texts(&[(Path::new("t.yaml"), spec)]).unwrap(),
        None,
    )
}

const AVAIL_999: &str =
    "defaults:\n  - {name: availability, kind: availability, objective: 99.9}\n";

/// Runs `minutes` of traffic from minute `from`; `f(minute)` gives
/// (requests, 5xx) for `site`; returns the minute each severity first
/// alerted and the minute it last alerted.
fn run(
    e: &mut SloEngine,
    farm: &mut Farm,
    site: &str,
    from: i64,
    minutes: i64,
    f: impl Fn(i64) -> (u64, u64),
) -> Vec<(i64, Option<Severity>)> {
    let mut out = Vec::new();
    for m in from..from + minutes {
        let (n, bad) = f(m);
        farm.requests(site, n, bad, 20);
        e.observe(&farm.snapshot(T0 + m * 60 + 59));
        let st = e.evaluate_site(site);
        out.push((m, st.first().and_then(SloStatus::alerting)));
    }
    out
}

fn first(states: &[(i64, Option<Severity>)], sev: Severity) -> Option<i64> {
    states.iter().find(|s| s.1 == Some(sev)).map(|s| s.0)
}

#[test]
fn a_sustained_2_percent_spike_pages_when_the_fast_window_says() {
    let mut e = engine(AVAIL_999);
    let mut farm = Farm::default();
    // 6 clean hours at 10 req/s, then 2% errors.
    run(&mut e, &mut farm, "a", 0, 360, |_| (600, 0));
    let states = run(&mut e, &mut farm, "a", 360, 60, |_| (600, 12));
    // 2% is a 20x burn of a 0.1% budget; the 1h window passes 14.4x once
    // 72% of it burned: the 44th minute (the SRE workbook's detection
    // time, 14.4 × 0.1% × 1h / 2% = 43.2 min). The 5m window passed long
    // before.
    assert_eq!(first(&states, Severity::Page), Some(360 + 43), "{states:?}");
    let st = &e.evaluate_site("a")[0];
    let fast = &st.checks[0];
    assert!(fast.alerting && fast.short_burn_rate.unwrap() > 19.9);
}

#[test]
fn a_10_minute_2_percent_spike_pages_a_9999_slo_within_the_fast_window_and_resolves() {
    let mut e =
        engine("defaults:\n  - {name: availability, kind: availability, objective: 99.99}\n");
    let mut farm = Farm::default();
    run(&mut e, &mut farm, "a", 0, 360, |_| (600, 0));
    let states = run(&mut e, &mut farm, "a", 360, 30, |m| {
        (600, if m < 370 { 12 } else { 0 })
    });
    // 200x: the 1h window passes 14.4x in the 5th minute of the spike.
    let paged = first(&states, Severity::Page).unwrap();
    assert!(paged <= 360 + 5, "{states:?}");
    // After the spike the 5m window empties of errors: no longer alerting
    // 5 minutes after it ended.
    let last = states
        .iter()
        .rev()
        .find(|s| s.1 == Some(Severity::Page))
        .unwrap()
        .0;
    assert!((370..=374).contains(&last), "{states:?}");
    // The ticket rows still see the spent budget.
    assert_eq!(states.last().unwrap().1, Some(Severity::Ticket));
    let st = &e.evaluate_site("a")[0];
    assert_eq!(st.period_bad, 120);
    // 120 bad of 0.01% of 234,000 requests allowed: 23.4 → overspent.
    assert!(
        (st.budget_remaining - (1.0 - 120.0 / 23.4)).abs() < 1e-9,
        "{}",
        st.budget_remaining
    );
}

#[test]
fn a_10_minute_2_percent_spike_on_a_999_slo_is_not_page_worthy() {
    // It burns 0.46% of a 30-day budget: the workbook's table lets it
    // pass (a page needs 2% of the budget in an hour).
    let mut e = engine(AVAIL_999);
    let mut farm = Farm::default();
    run(&mut e, &mut farm, "a", 0, 360, |_| (600, 0));
    let states = run(&mut e, &mut farm, "a", 360, 120, |m| {
        (600, if m < 370 { 12 } else { 0 })
    });
    assert!(states.iter().all(|s| s.1.is_none()), "{states:?}");
    let fast = &e.evaluate_site("a")[0].windows;
    assert!(fast.iter().all(|w| w.burn_rate.unwrap_or(0.0) < 14.4));
}

#[test]
fn a_slow_burn_opens_a_ticket_not_a_page() {
    let mut e = engine(AVAIL_999);
    let mut farm = Farm::default();
    // 0.2% errors (2x) for 3 days.
    let states = run(&mut e, &mut farm, "a", 0, 3 * 1440, |_| (1000, 2));
    assert_eq!(first(&states, Severity::Page), None);
    let t = first(&states, Severity::Ticket).unwrap();
    assert!(t < 60, "ticket from the start of the data: {t}");
    let st = &e.evaluate_site("a")[0];
    // The 3d/6h row (1x) alerts; the 1d/2h row (3x) does not.
    assert!(
        st.checks[3].alerting && !st.checks[2].alerting,
        "{:?}",
        st.checks
    );
    assert!((st.checks[3].long_burn_rate.unwrap() - 2.0).abs() < 1e-9);
}

#[test]
fn low_traffic_does_not_page() {
    let mut e = engine(AVAIL_999);
    let mut farm = Farm::default();
    // 3 requests, 1 error: a 333x burn, under min_requests.
    let states = run(&mut e, &mut farm, "quiet", 0, 3, |m| {
        if m == 2 { (3, 1) } else { (0, 0) }
    });
    assert!(states.iter().all(|s| s.1.is_none()), "{states:?}");
    let st = &e.evaluate_site("quiet")[0];
    assert!(st.checks[0].below_min_requests && !st.checks[0].alerting);
}

#[test]
fn latency_and_499_are_counted_by_their_own_rules() {
    let mut e = engine(
        "defaults:\n  - {name: avail, kind: availability, objective: 99, errors_include_499: true}\n  - {name: fast, kind: latency, objective: 90, threshold_ms: 250}\n",
    );
    let mut farm = Farm::default();
    farm.requests("a", 80, 0, 100);
    farm.requests("a", 20, 0, 900);
    farm.site("a").codes[0] += 5;
    farm.site("a").class[3] += 5;
    e.observe(&farm.snapshot(T0));
    let st = e.evaluate_site("a");
    assert_eq!((st[0].period_requests, st[0].period_bad), (105, 5));
    assert_eq!((st[1].period_requests, st[1].period_bad), (100, 20));
}

#[test]
fn counter_resets_and_old_snapshots_are_handled() {
    let mut e = engine(AVAIL_999);
    let mut farm = Farm::default();
    farm.requests("a", 100, 1, 10);
    e.observe(&farm.snapshot(T0));
    // Same totals again: nothing new.
    e.observe(&farm.snapshot(T0 + 1));
    // An older snapshot is ignored.
    farm.requests("a", 100, 0, 10);
    e.observe(&farm.snapshot(T0 - 10));
    assert_eq!(e.evaluate_site("a")[0].period_requests, 100);
    // The pipeline was rebuilt: totals start again from 0.
    let mut fresh = Farm::default();
    fresh.requests("a", 7, 0, 10);
    e.observe(&fresh.snapshot(T0 + 2));
    assert_eq!(e.evaluate_site("a")[0].period_requests, 107);
    assert!(e.evaluate_site("never").is_empty());
    // `_unknown` has no SLO.
    let mut u = Farm::default();
    u.requests("_unknown", 500, 500, 10);
    e.observe(&u.snapshot(T0 + 3));
    assert!(e.evaluate_site("_unknown").is_empty());
}

#[test]
fn a_restart_keeps_the_period() {
    let mut e = engine(AVAIL_999);
    let mut farm = Farm::default();
    run(&mut e, &mut farm, "a", 0, 120, |_| (100, 1));
    let dir = std::env::temp_dir().join(format!("sitepulse-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("slo-counts");
    crate::persist::save(e.store(), &p).unwrap();
    let set = e.set().clone();
    let loaded = crate::persist::load(&p, Store::new(SloEngine::longest(&set)).hours()).unwrap();
    let mut e2 = SloEngine::new(set, loaded);
    // The new process's totals start at 0.
    let mut farm2 = Farm::default();
    farm2.requests("a", 100, 1, 20);
    e2.observe(&farm2.snapshot(T0 + 120 * 60 + 30));
    let st = &e2.evaluate_site("a")[0];
    assert_eq!((st.period_requests, st.period_bad), (12_100, 121));
    let _ = std::fs::remove_dir_all(&dir);
}

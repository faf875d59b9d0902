//! SLO evaluation at farm scale: 500 and 2,000 sites, two SLOs each (the
//! embedded default: availability and latency), with 30 days of counts
//! already kept (720 hourly and 360 minutely observations). One
//! evaluation tick is what `run` does every `slo.evaluate_interval_secs`
//! (1 s): the latest snapshot's totals into the count store, every site's
//! budget and burn rates, and the alerting hub's tick (conditions, alert
//! states, dispatcher). It runs on the blocking pool, so the figure to
//! watch is its share of one core. Results are checked first: every
//! site's period requests are what was fed.
//!
//! `cargo bench -p sitepulse-benches --bench slo` for figures;
//! `cargo test --benches` runs each once.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use sitepulse::slo::{AlertHub, AlertingConfig};
use sitepulse_alerting::SloSet;
use sitepulse_alerting::engine::SloEngine;
use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::snapshot::{SiteSnapshot, SiteTotals, SitesSnapshot};

const NOW: i64 = 1_800_000_000;

/// `sites` sites whose totals grow by `per_step` requests (1% 5xx, all
/// under 500 ms but 2%) at every call.
struct Farm {
    totals: Vec<SiteTotals>,
}

impl Farm {
    fn new(sites: usize) -> Farm {
        Farm {
            totals: vec![SiteTotals::default(); sites],
        }
    }

    fn step(&mut self, per_step: u64, at: i64) -> SitesSnapshot {
        for t in &mut self.totals {
            let bad = per_step / 100;
            t.class[1] += per_step - bad;
            t.class[4] += bad;
            t.latency.count += per_step;
            t.latency.buckets[3] += per_step - per_step / 50;
            t.latency.buckets[8] += per_step / 50;
        }
        SitesSnapshot {
            now_unix: Some(at),
            sites: self
                .totals
                .iter()
                .enumerate()
                .map(|(i, t)| SiteSnapshot {
                    id: SiteId(i as u16 + 1),
                    name: format!("site{i:04}"),
                    windows: Default::default(),
                    totals: t.clone(),
                    pods: 3,
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// An engine with 30 days of counts, and the farm that fed it.
fn warmed(sites: usize) -> (SloEngine, Farm) {
    let mut e = SloEngine::new(SloSet::load(&[]).unwrap(), None);
    let mut farm = Farm::new(sites);
    let start = NOW - 30 * 86_400;
    for h in 1..720 - 6 {
        e.observe(&farm.step(3600, start + h * 3600));
    }
    for m in 0..360 {
        e.observe(&farm.step(60, NOW - 6 * 3600 + m * 60));
    }
    (e, farm)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("slo_tick");
    g.sample_size(10);
    for sites in [500, 2000] {
        let (mut e, mut farm) = warmed(sites);
        let snap = farm.step(1, NOW + 1);
        e.observe(&snap);
        let st = e.evaluate();
        assert_eq!(st.len(), sites * 2);
        let want = (720 - 7) * 3600 + 360 * 60 + 1;
        assert!(
            st.iter().all(|s| s.period_requests == want),
            "{}",
            st[0].period_requests
        );
        let dir = std::env::temp_dir().join(format!(
            "sitepulse-bench-slo-{}-{sites}",
            std::process::id()
        ));
        let hub = AlertHub::open(&AlertingConfig::default(), dir.clone()).unwrap();
        let mut t = NOW + 2;
        // The snapshot is the pipeline thread's work, not this tick's:
        // built outside the timed part.
        g.bench_with_input(
            BenchmarkId::new("observe_evaluate", sites),
            &sites,
            |b, _| {
                b.iter_batched(
                    || {
                        t += 1;
                        farm.step(1, t)
                    },
                    |snap| {
                        e.observe(&snap);
                        e.evaluate().len()
                    },
                    BatchSize::LargeInput,
                )
            },
        );
        let statuses = e.evaluate();
        g.bench_with_input(BenchmarkId::new("hub_tick", sites), &sites, |b, _| {
            b.iter(|| {
                t += 1;
                black_box(hub.tick(&statuses, &mut e, t)).len()
            })
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

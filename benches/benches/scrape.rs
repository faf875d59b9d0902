//! A `/metrics` scrape with 500 active sites: the generator's Traefik,
//! FPM error-log and WordPress corpora (500 sites, Zipf popularity, farm
//! domain `example.com` so each site's tiers are one site) run through the
//! pipeline, and the snapshot it publishes encoded by prometheus-client in
//! both formats — every per-site family (requests by class and code, the
//! 15-bucket duration histogram, in-flight, rates, PHP errors, FPM pools),
//! the build info and the `process_*` family read from `/proc/self`. The
//! issue's target: under 20 ms per scrape. The encoded requests are checked
//! against the generator's counts first, so a fast wrong answer fails.
//!
//! `cargo bench -p sitepulse-benches --bench scrape` for figures;
//! `cargo test --benches` runs each once as a smoke test.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sitepulse::serve::metrics::{Format, render, snapshot_registry};
use sitepulse_benches::{CorpusConfig, Format as Corpus, generate_vec};
use sitepulse_pipeline::snapshot::SitesSnapshot;
use sitepulse_pipeline::{NoObserver, Pipeline, PipelineConfig};

const SITES: usize = 500;

/// The farm's snapshot, with every record of the three corpora in the
/// last hour, and the number of access-log requests written.
fn farm() -> (SitesSnapshot, u64) {
    let now = 1_800_000_000;
    let mut cfg = PipelineConfig::default();
    cfg.sites.domains = vec!["example.com".into()];
    let mut p = Pipeline::new(&cfg, now).unwrap();
    let mut requests = 0;
    for (format, lines) in [
        (Corpus::TraefikClf, 200_000),
        (Corpus::FpmError, 5_000),
        (Corpus::WordPress, 5_000),
    ] {
        let c = CorpusConfig {
            format,
            sites: SITES,
            lines,
            ..CorpusConfig::new(format)
        };
        let c = CorpusConfig {
            // Each corpus ends a little before `now`.
            start_unix_secs: now - 60 - c.span_secs().ceil() as i64,
            ..c
        };
        let (bytes, stats) = generate_vec(&c).unwrap();
        let r = p
            .process(
                format.name(),
                None,
                &bytes[..],
                &mut NoObserver,
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(r.records, stats.records, "{}", format.name());
        if format == Corpus::TraefikClf {
            requests = stats.records;
        }
    }
    p.tick(now);
    (p.snapshot(), requests)
}

/// Sums the values of `series` samples (`name{...} value` lines).
fn sum_of(text: &str, name: &str) -> (usize, f64) {
    let prefix = format!("{name}{{");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold((0, 0.0), |(n, s), v| (n + 1, s + v))
}

fn scrape(c: &mut Criterion) {
    let (snap, requests) = farm();
    let served = snap
        .sites
        .iter()
        .filter(|s| s.totals.requests() > 0 && s.name != "_unknown")
        .count();
    assert_eq!(served, SITES, "every site has requests");
    let with_pools = snap
        .sites
        .iter()
        .filter(|s| !s.totals.pools.is_empty())
        .count();
    let with_php = snap
        .sites
        .iter()
        .filter(|s| s.totals.php_errors.iter().any(|n| *n > 0))
        .count();
    assert!(
        with_pools > 100 && with_php > 100,
        "{with_pools} {with_php}"
    );
    let registry = snapshot_registry(Arc::new(snap));

    let mut g = c.benchmark_group("scrape");
    g.throughput(Throughput::Elements(SITES as u64));
    for (name, format) in [
        ("openmetrics/500_sites", Format::OpenMetrics),
        ("classic/500_sites", Format::Classic),
    ] {
        let text = render(&registry, format).unwrap();
        let (series, total) = sum_of(&text, "sitepulse_site_requests_total");
        assert!(series >= SITES * 5, "{series} request series");
        assert_eq!(total as u64, requests, "{name}: requests encoded");
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        eprintln!("{name}: {samples} samples, {} KiB", text.len() / 1024);
        g.bench_function(name, |b| {
            b.iter(|| black_box(render(black_box(&registry), format).unwrap().len()))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = scrape
}
criterion_main!(benches);

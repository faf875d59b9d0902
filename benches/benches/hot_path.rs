//! The hot path on the generator's seeded corpora (500 sites, Zipf
//! popularity): parse alone, and parse → label → aggregate through the
//! pipeline (framing, detection and multi-line joining included), per
//! format, the `text` application logs among them. Every benchmark
//! checks its counts against the generator's stats first, so a fast wrong
//! answer fails instead of reporting a figure.
//!
//! `cargo bench -p sitepulse-benches --bench hot_path` for figures;
//! `cargo test --benches` runs each once as a smoke test.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sitepulse_benches::{CorpusConfig, CorpusStats, Format, Framing, generate_vec};
use sitepulse_pipeline::PipelineConfig;
use sitepulse_pipeline::record::LogFormat;
use sitepulse_pipeline::{NoObserver, Pipeline};

const LINES: u64 = 100_000;

/// Wall-clock Unix seconds.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn corpus(format: Format, framing: Framing) -> (Vec<u8>, CorpusStats) {
    let cfg = CorpusConfig {
        format,
        framing,
        lines: LINES,
        ..CorpusConfig::default()
    };
    generate_vec(&cfg).expect("corpus")
}

fn source_of(format: Format) -> LogFormat {
    LogFormat::from_name(format.name()).expect("same names")
}

/// Runs the pipeline once and checks it saw exactly what was generated.
fn checked_pipeline(input: &[u8], stats: &CorpusStats, what: &str) -> Pipeline {
    let mut p = Pipeline::new(&PipelineConfig::default(), unix_now()).unwrap();
    let r = p
        .process(what, None, input, &mut NoObserver, &mut |_| {})
        .unwrap();
    assert_eq!(r.records, stats.records, "{what}: records");
    assert_eq!(r.unparsed_total(), 0, "{what}: unparsed {:?}", r.unparsed);
    if stats.format.is_access() {
        let total: u64 = (0..p.labeler().sites().len())
            .filter_map(|i| {
                p.aggregator()
                    .totals(sitepulse_pipeline::label::SiteId(i as u16))
            })
            .map(|t| t.requests())
            .sum();
        assert_eq!(total, stats.records, "{what}: requests aggregated");
    }
    p
}

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    let cases = [
        (Format::TraefikClf, Framing::None),
        (Format::TraefikJson, Framing::None),
        (Format::Nginx, Framing::None),
        (Format::FpmAccess, Framing::None),
        (Format::TraefikClf, Framing::Cri),
        (Format::FpmError, Framing::None),
        (Format::WordPress, Framing::None),
        (Format::Text, Framing::None),
        (Format::Text, Framing::Cri),
    ];
    for (format, framing) in cases {
        let (input, stats) = corpus(format, framing);
        let name = format!("{}/{}", format.name(), framing.name());
        let mut p = checked_pipeline(&input, &stats, &name);
        g.throughput(Throughput::Elements(stats.lines));
        g.bench_function(&name, |b| {
            b.iter(|| {
                let r = p
                    .process(
                        "bench",
                        None,
                        black_box(&input[..]),
                        &mut NoObserver,
                        &mut |_| {},
                    )
                    .unwrap();
                black_box(r.records)
            })
        });
    }
    g.finish();
}

fn parse_only(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for format in [
        Format::TraefikClf,
        Format::TraefikJson,
        Format::Nginx,
        Format::FpmAccess,
        Format::Text,
    ] {
        let (input, stats) = corpus(format, Framing::None);
        let source = source_of(format);
        let lines: Vec<&[u8]> = input
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let ok = lines
            .iter()
            .filter(|l| sitepulse_pipeline::parse::parse(source, l).is_ok())
            .count();
        // Parsed alone, each line of a text stack trace is a record too.
        let want = if format == Format::Text {
            lines.len() as u64
        } else {
            stats.records
        };
        assert_eq!(ok as u64, want, "{format}: every line parses");
        g.throughput(Throughput::Elements(lines.len() as u64));
        g.bench_function(format.name(), |b| {
            b.iter(|| {
                let mut n = 0u64;
                for l in &lines {
                    if let Ok(r) = sitepulse_pipeline::parse::parse(source, black_box(l)) {
                        n += u64::from(r.status) + u64::from(r.level.severity_number());
                    }
                }
                black_box(n)
            })
        });
    }
    g.finish();
}

/// What the pipeline thread pays once a tick (and per on-demand refresh)
/// so readers never touch the pipeline: every site's 1m and 5m windows
/// reduced to a snapshot.
fn snapshot(c: &mut Criterion) {
    let (input, stats) = corpus(Format::TraefikClf, Framing::None);
    let p = checked_pipeline(&input, &stats, "snapshot");
    let snap = p.snapshot();
    assert_eq!(snap.sites.len(), p.labeler().sites().len());
    let busy = snap
        .sites
        .iter()
        .filter(|s| s.windows[1].requests() > 0)
        .count();
    assert!(busy >= 400, "{busy} sites with requests in the 5m window");
    c.bench_function("snapshot/500_sites", |b| b.iter(|| black_box(p.snapshot())));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = parse_only, pipeline, snapshot
}
criterion_main!(benches);

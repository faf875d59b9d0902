//! The whole path from file bytes to encoded, compressed Loki batches:
//! frame → parse → label → aggregate, then each record as a Loki entry
//! (labels, structured metadata, the line) in per-stream batches sealed by
//! size into snappy-compressed `PushRequest`s — what the Loki sink does on
//! the pipeline thread, minus the spool's `write(2)`. Measured beside the
//! pipeline alone on the same corpus in the same run, so the difference is
//! the sink's cost. The target: ≤ 1 CPU µs per line for the whole
//! path (≥ 1 million lines/s per core).
//!
//! `cargo bench -p sitepulse-benches --bench loki` for figures;
//! `cargo test --benches` runs each once and checks every record became an
//! entry.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sitepulse_benches::{CorpusConfig, Format as Corpus, generate_vec};
use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::record::Record;
use sitepulse_pipeline::{NoObserver, Observer, Origin, Pipeline, PipelineConfig};
use sitepulse_sinks::entry::LogEntry;
use sitepulse_sinks::loki::LokiConfig;
use sitepulse_sinks::loki::batch::Batcher;

const SITES: usize = 500;
const LINES: u64 = 200_000;

/// Feeds every record to a Loki batcher; sealed frames are counted and
/// dropped.
struct LokiObserver {
    batcher: Batcher,
    entries: u64,
    frames: u64,
    compressed: u64,
    /// The first sealed frame and its entries, for the compression bench.
    first: Option<(Vec<u8>, u32)>,
}

impl Observer for LokiObserver {
    fn record(&mut self, origin: &Origin<'_>, rec: &Record<'_>, _site: SiteId, site_name: &str) {
        let e = LogEntry::of(origin, rec, site_name, "node-1");
        if let Some(t) = self.batcher.add(&e, 0) {
            self.seal(t);
        }
        self.entries += 1;
    }
}

impl LokiObserver {
    fn new() -> LokiObserver {
        let cfg = LokiConfig {
            endpoint: "http://127.0.0.1:3100/loki/api/v1/push".into(),
            ..LokiConfig::default()
        };
        LokiObserver {
            batcher: Batcher::new(&cfg),
            entries: 0,
            frames: 0,
            compressed: 0,
            first: None,
        }
    }

    fn seal(&mut self, t: usize) {
        if let Some(s) = self.batcher.seal(t) {
            self.frames += 1;
            self.compressed += s.frame.len() as u64;
            if self.first.is_none() {
                self.first = Some((s.frame.clone(), s.entries));
            }
            black_box(s);
        }
    }

    fn finish(&mut self) {
        for t in self.batcher.open() {
            self.seal(t);
        }
    }
}

fn corpus(format: Corpus) -> Vec<u8> {
    let c = CorpusConfig {
        format,
        sites: SITES,
        lines: LINES,
        start_unix_secs: 1_800_000_000 - 3600,
        ..CorpusConfig::new(format)
    };
    generate_vec(&c).unwrap().0
}

fn pipeline() -> Pipeline {
    let mut cfg = PipelineConfig::default();
    cfg.sites.domains = vec!["example.com".into()];
    Pipeline::new(&cfg, 1_800_000_000).unwrap()
}

fn loki(c: &mut Criterion) {
    for format in [Corpus::TraefikClf, Corpus::TraefikJson, Corpus::Nginx] {
        let bytes = corpus(format);
        // Once, checked: every record becomes an entry.
        let mut obs = LokiObserver::new();
        let r = pipeline()
            .process(format.name(), None, &bytes[..], &mut obs, &mut |_| {})
            .unwrap();
        obs.finish();
        assert_eq!(obs.entries, r.records, "{}", format.name());
        eprintln!(
            "{}: {} lines, {} bytes -> {} frames, {} bytes compressed ({:.1} bytes/line, ratio {:.1})",
            format.name(),
            r.records,
            bytes.len(),
            obs.frames,
            obs.compressed,
            obs.compressed as f64 / r.records as f64,
            bytes.len() as f64 / obs.compressed as f64
        );
        // Snappy alone, on one batch's body: its share of the sink's cost.
        let (frame, entries) = obs.first.take().unwrap();
        let (_, packed) = sitepulse_sinks::loki::batch::split_frame(&frame);
        let body = snap::raw::Decoder::new().decompress_vec(packed).unwrap();
        let mut g = c.benchmark_group(format!("loki/{}", format.name()));
        g.throughput(Throughput::Elements(u64::from(entries)));
        g.bench_function("snappy_only", |b| {
            let mut enc = snap::raw::Encoder::new();
            let mut out = vec![0u8; snap::raw::max_compress_len(body.len())];
            b.iter(|| black_box(enc.compress(&body, &mut out).unwrap()));
        });
        g.throughput(Throughput::Elements(LINES));
        g.sample_size(10);
        g.bench_function("pipeline", |b| {
            b.iter(|| {
                let mut p = pipeline();
                black_box(
                    p.process(
                        format.name(),
                        None,
                        &bytes[..],
                        &mut NoObserver,
                        &mut |_| {},
                    )
                    .unwrap(),
                )
            });
        });
        g.bench_function("pipeline+loki", |b| {
            b.iter(|| {
                let mut p = pipeline();
                let mut obs = LokiObserver::new();
                black_box(
                    p.process(format.name(), None, &bytes[..], &mut obs, &mut |_| {})
                        .unwrap(),
                );
                obs.finish();
                black_box(obs.compressed)
            });
        });
        g.finish();
    }
}

criterion_group!(benches, loki);
criterion_main!(benches);

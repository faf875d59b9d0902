//! Allocation and memory bounds of the hot path, measured with a counting
//! global allocator (per thread, so parallel tests do not disturb each
//! other): no heap allocation per line in steady state, for every format
//! and framing, and the per-site state of 500 sites over one hour within
//! 64 MiB.
#![allow(unsafe_code)] // the counting allocator below

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sitepulse_benches::{CorpusConfig, Format, Framing, generate};
use sitepulse_pipeline::PipelineConfig;
use sitepulse_pipeline::aggregate::{AggregateConfig, Aggregator};
use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::record::{LogFormat, Record};
use sitepulse_pipeline::{NoObserver, Pipeline};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn note(allocs: u64, bytes: i64) {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + allocs));
    let _ = LIVE.try_with(|l| {
        let v = l.get() + bytes;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: every method forwards to `System` with the caller's layout and
// pointer unchanged; the bookkeeping touches only const-initialised
// thread-locals (no allocation, no destructor) and never fails.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as i64);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as i64);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, -(layout.size() as i64));
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(1, new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn corpus(format: Format, framing: Framing, lines: u64) -> Vec<u8> {
    let cfg = CorpusConfig {
        format,
        framing,
        lines,
        seed: 7,
        ..CorpusConfig::default()
    };
    let mut out = Vec::new();
    generate(&cfg, &mut out).unwrap();
    out
}

/// Allocations made by one `process` call over `input`.
fn allocs_for(p: &mut Pipeline, input: &[u8]) -> (u64, u64) {
    let before = allocs();
    let r = p
        .process("corpus", None, input, &mut NoObserver, &mut |_| {})
        .unwrap();
    (allocs() - before, r.records)
}

/// Per-call costs (read buffer, sniffing, the report) are the same for any
/// input length, so a 3× longer input of the same lines must allocate
/// exactly as often as the 1× input once every site, key and sketch
/// bucket has been seen: zero allocations per line.
#[test]
fn no_allocation_per_line_in_steady_state() {
    let cases = [
        (Format::TraefikClf, Framing::None),
        (Format::TraefikJson, Framing::None),
        (Format::Nginx, Framing::None),
        (Format::FpmAccess, Framing::None),
        (Format::FpmError, Framing::None),
        (Format::FpmSlow, Framing::None),
        (Format::WordPress, Framing::None),
        (Format::TraefikClf, Framing::Cri),
        (Format::Nginx, Framing::Docker),
        (Format::Text, Framing::None),
        (Format::Text, Framing::Cri),
    ];
    for (format, framing) in cases {
        let once = corpus(format, framing, 20_000);
        let thrice = once.repeat(3);
        let mut p = Pipeline::new(&PipelineConfig::default(), sitepulse_tests::unix_now()).unwrap();
        // Warm up: sites, key caches, sketch buckets, reassembly buffers.
        allocs_for(&mut p, &thrice);
        let (a1, r1) = allocs_for(&mut p, &once);
        let (a3, r3) = allocs_for(&mut p, &thrice);
        assert!(
            r1 > 1000,
            "{format:?}/{framing:?}: corpus parsed ({r1} records)"
        );
        assert_eq!(r3, 3 * r1, "{format:?}/{framing:?}");
        assert_eq!(
            a3, a1,
            "{format:?}/{framing:?}: {a1} allocations for {r1} records, {a3} for {r3}"
        );
    }
}

/// Issue 14: WordPress lines dated in named zones (looked up in the bundled
/// IANA database, cached per thread) and lines of no known format through
/// the `text` fallback allocate nothing per line either.
#[test]
fn named_zones_and_the_text_fallback_allocate_nothing_per_line() {
    let mut once = String::new();
    for i in 0..2_000 {
        let zone = ["Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo"][i % 4];
        once.push_str(&format!(
            "[22-Nov-2026 10:{:02}:{:02} {zone}] PHP Warning:  w{i} in /var/www/site{:03}/wp-content/x.php on line {i}\n",
            i / 60 % 60,
            i % 60,
            i % 7
        ));
        if i % 10 == 0 {
            // A line its format refuses: a `text` record with the reason.
            once.push_str("[22-Nov-2026 10:00:00 Mars/Olympus] PHP Warning:  bad zone\n");
        }
    }
    let thrice = once.repeat(3);
    let mut p = Pipeline::new(&PipelineConfig::default(), sitepulse_tests::unix_now()).unwrap();
    allocs_for(&mut p, thrice.as_bytes());
    let (a1, r1) = allocs_for(&mut p, once.as_bytes());
    let (a3, r3) = allocs_for(&mut p, thrice.as_bytes());
    assert_eq!((r1, r3), (2_200, 6_600));
    assert_eq!(a3, a1, "{a1} allocations for {r1} records, {a3} for {r3}");
}

/// 500 sites, one hour, every site busy every second with a spread of
/// latencies: the aggregate's live heap stays within 64 MiB.
#[test]
fn five_hundred_sites_for_an_hour_within_64_mib() {
    let base = LIVE.with(Cell::get);
    let mut agg = Aggregator::new(&AggregateConfig::default()).unwrap();
    let t0 = 1_795_341_600i64;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for sec in 0..3600 {
        for site in 1..=500u16 {
            // Busier sites get more requests (Zipf-like), at least one.
            let n = 1 + 40 / u64::from(site);
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let rec = Record {
                    source: LogFormat::TraefikClf,
                    status: [200, 200, 200, 304, 404, 502][(x % 6) as usize],
                    bytes: x % 100_000,
                    // 1 ms .. ~4 s, spread over many sketch buckets.
                    duration_ns: Some(1_000_000 + (x >> 20) % 4_000_000_000),
                    ..Record::default()
                };
                agg.record(SiteId(site), t0 + sec, &rec);
            }
        }
    }
    let live = LIVE.with(Cell::get) - base;
    let reported = agg.heap_bytes() as i64;
    eprintln!(
        "500 sites x 3600 s: {:.1} MiB live heap (aggregator reports {:.1} MiB), {} records",
        live as f64 / 1048576.0,
        reported as f64 / 1048576.0,
        agg.stats().records
    );
    assert!(live <= 64 << 20, "{live} bytes");
    let w = agg.window(SiteId(1), 3600);
    assert_eq!(w.requests(), 41 * 3600);
    assert!(agg.window(SiteId(500), 60).requests() == 60);
}

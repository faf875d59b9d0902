//! End to end over generated corpora: every format and framing goes through
//! detection, framing, parsing, labelling and aggregation, and what comes
//! out must equal what the generator says it wrote — records, per-site
//! requests, status codes, bytes, FPM and PHP events — with nothing
//! unparsed.

use sitepulse_benches::{
    CorpusConfig, CorpusStats, Format, Framing, generate_vec, router_name, site_name, site_slug,
};
use sitepulse_pipeline::PipelineConfig;
use sitepulse_pipeline::aggregate::Totals;
use sitepulse_pipeline::frame::Framing as PipelineFraming;
use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::record::{LogFormat, Record};
use sitepulse_pipeline::{FileReport, NoObserver, Observer, Origin, Pipeline};

fn run(format: Format, framing: Framing, lines: u64) -> (Pipeline, FileReport, CorpusStats) {
    let cfg = CorpusConfig {
        format,
        framing,
        lines,
        seed: 42,
        // Small so CRI/Docker corpora exercise partial-line reassembly.
        max_line_bytes: 2048,
        ..CorpusConfig::default()
    };
    let (bytes, stats) = generate_vec(&cfg).unwrap();
    let mut p = Pipeline::new(&PipelineConfig::default(), sitepulse_tests::unix_now()).unwrap();
    let r = p
        .process("corpus", None, &bytes[..], &mut NoObserver, &mut |_| {})
        .unwrap();
    let what = format!("{format}/{framing}");
    assert_eq!(
        r.source,
        LogFormat::from_name(format.name()),
        "{what}: detected format"
    );
    let want_framing = match framing {
        Framing::None => PipelineFraming::Raw,
        Framing::Cri => PipelineFraming::Cri,
        Framing::Docker => PipelineFraming::Docker,
    };
    assert_eq!(r.framing, Some(want_framing), "{what}: detected framing");
    assert_eq!(r.unparsed_total(), 0, "{what}: unparsed {:?}", r.unparsed);
    assert_eq!(r.records, stats.records, "{what}: records");
    assert_eq!(r.lines, stats.lines, "{what}: physical lines");
    assert_eq!(r.bytes, stats.bytes, "{what}: bytes");
    (p, r, stats)
}

fn all_totals(p: &Pipeline) -> Vec<(String, &Totals)> {
    p.labeler()
        .sites()
        .iter()
        .filter_map(|(id, name)| p.aggregator().totals(id).map(|t| (name.to_owned(), t)))
        .collect()
}

fn site_totals<'p>(p: &'p Pipeline, name: &str) -> &'p Totals {
    let id = p
        .labeler()
        .sites()
        .get(name)
        .unwrap_or_else(|| panic!("no site {name}"));
    p.aggregator().totals(id).unwrap()
}

fn check_access(p: &Pipeline, stats: &CorpusStats, name_of: impl Fn(usize) -> String) {
    let totals = all_totals(p);
    let requests: u64 = totals.iter().map(|(_, t)| t.requests()).sum();
    assert_eq!(requests, stats.records, "every access record is a request");
    let sum = |f: &dyn Fn(&Totals) -> u64| totals.iter().map(|(_, t)| f(t)).sum::<u64>();
    assert_eq!(sum(&|t| t.class[4]), stats.status_5xx, "5xx");
    for (i, code) in [499u16, 500, 502, 503, 504].into_iter().enumerate() {
        assert_eq!(sum(&|t| t.codes[i]), stats.status(code), "status {code}");
    }
    assert_eq!(sum(&|t| t.bytes), stats.body_bytes, "bytes");
    for (i, &n) in stats.site_records.iter().enumerate() {
        if n > 0 {
            assert_eq!(site_totals(p, &name_of(i)).requests(), n, "site {i}");
        }
    }
    // Quantiles exist for the busiest site and are ordered.
    let (top, _) = stats.top_sites(1)[0];
    let t = site_totals(p, &name_of(top));
    let (p50, p99) = (
        t.latency.quantile_us(0.5).unwrap(),
        t.latency.quantile_us(0.99).unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99, "{p50} {p99}");
}

fn traefik_site(i: usize) -> String {
    let r = router_name(i);
    r.trim_start_matches("websecure-")
        .split('@')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn traefik_clf_all_framings() {
    for framing in [Framing::None, Framing::Cri, Framing::Docker] {
        let (p, _, stats) = run(Format::TraefikClf, framing, 30_000);
        check_access(&p, &stats, traefik_site);
        if framing != Framing::None {
            assert!(
                stats.partial_chunks > 0,
                "{framing}: corpus has partial lines"
            );
        }
    }
}

#[test]
fn traefik_json() {
    let (p, _, stats) = run(Format::TraefikJson, Framing::None, 20_000);
    check_access(&p, &stats, traefik_site);
}

#[test]
fn nginx() {
    let (p, _, stats) = run(Format::Nginx, Framing::None, 20_000);
    check_access(&p, &stats, site_name);
}

#[test]
fn fpm_access_counts_requests() {
    let (p, _, stats) = run(Format::FpmAccess, Framing::Cri, 10_000);
    // FPM access lines name no site (a real file belongs to one pod).
    let requests: u64 = all_totals(&p).iter().map(|(_, t)| t.requests()).sum();
    assert_eq!(requests, stats.records);
}

#[test]
fn fpm_error_events() {
    let (p, _, stats) = run(Format::FpmError, Framing::None, 20_000);
    let totals = all_totals(&p);
    let ev = |i: usize| totals.iter().map(|(_, t)| t.events[i]).sum::<u64>();
    assert_eq!(ev(0), stats.fpm.max_children, "max_children");
    assert_eq!(ev(1), stats.fpm.slow, "slow");
    assert_eq!(ev(2), stats.fpm.terminated(), "terminated");
    // Pools are named after sites: every site with records has its pool's
    // events under its own name; only the master's own lines (no pool) are
    // `_unknown`.
    for (i, &n) in stats.site_records.iter().enumerate() {
        if n > 0 {
            assert!(
                p.labeler().sites().get(&site_slug(i)).is_some(),
                "pool of site {i}"
            );
        }
    }
    let cfg = CorpusConfig {
        format: Format::FpmError,
        lines: 20_000,
        seed: 42,
        max_line_bytes: 2048,
        ..CorpusConfig::default()
    };
    let (bytes, _) = generate_vec(&cfg).unwrap();
    let mut p = Pipeline::new(&PipelineConfig::default(), sitepulse_tests::unix_now()).unwrap();
    let mut ev = Events::default();
    p.process("fpm", None, &bytes[..], &mut ev, &mut |_| {})
        .unwrap();
    assert!(ev.no_pool > 0);
    assert_eq!(ev.no_pool, ev.unknown_site);
    assert_eq!(p.labeler().stats().unknown_records, ev.no_pool);
}

/// Counts records by event and remembers the longest message.
#[derive(Default)]
struct Events {
    by_event: std::collections::BTreeMap<&'static str, u64>,
    longest: usize,
    no_pool: u64,
    unknown_site: u64,
}

impl Observer for Events {
    fn record(&mut self, _o: &Origin<'_>, rec: &Record<'_>, site: SiteId, _name: &str) {
        *self.by_event.entry(rec.event.name()).or_default() += 1;
        self.longest = self.longest.max(rec.message.len());
        self.no_pool += u64::from(rec.pool.is_empty());
        self.unknown_site += u64::from(site == SiteId::UNKNOWN);
    }
}

#[test]
fn fpm_slow_blocks_are_joined() {
    for framing in [Framing::None, Framing::Docker] {
        let cfg = CorpusConfig {
            format: Format::FpmSlow,
            framing,
            lines: 3_000,
            ..CorpusConfig::default()
        };
        let (bytes, stats) = generate_vec(&cfg).unwrap();
        let mut p = Pipeline::new(&PipelineConfig::default(), sitepulse_tests::unix_now()).unwrap();
        let mut ev = Events::default();
        let r = p
            .process("slow", None, &bytes[..], &mut ev, &mut |_| {})
            .unwrap();
        assert_eq!(r.records, stats.records, "{framing}");
        assert_eq!(
            ev.by_event.get("slow_trace"),
            Some(&stats.fpm.slow),
            "{framing}: one trace per block"
        );
        assert!(
            ev.longest > 100,
            "{framing}: frames joined into the message"
        );
        // The error log's `executing too slow` line is what counts as a slow
        // request; the trace that goes with it is not counted again.
        let slow: u64 = all_totals(&p).iter().map(|(_, t)| t.events[1]).sum();
        assert_eq!(slow, 0);
    }
}

#[test]
fn wordpress_fatals_with_stack_traces() {
    for framing in [Framing::None, Framing::Cri] {
        let (p, _, stats) = run(Format::WordPress, framing, 5_000);
        let fatals: u64 = all_totals(&p).iter().map(|(_, t)| t.events[3]).sum();
        assert_eq!(fatals, stats.php.fatal, "{framing}");
        assert!(stats.lines > stats.records, "stack traces span lines");
    }
}

/// One PHP error log for every site (shared hosting): the script path in
/// each message names its site, `/var/www/site007/...` → `site007`. Only
/// database errors, whose messages name no file, are `_unknown`. PHP
/// errors count by level.
#[test]
fn wordpress_lines_belong_to_the_site_their_script_names() {
    let (p, _, stats) = run(Format::WordPress, Framing::None, 20_000);
    let totals = all_totals(&p);
    for (name, _) in &totals {
        assert!(
            name == "_unknown" || (0..500).any(|i| *name == site_slug(i)),
            "{name}"
        );
    }
    let level = |i: usize| totals.iter().map(|(_, t)| t.php_errors[i]).sum::<u64>();
    let php = &stats.php;
    assert_eq!(
        [level(0), level(1), level(2), level(3), level(4)],
        [
            php.fatal,
            php.warning,
            php.notice,
            php.deprecated,
            php.database
        ]
    );
    assert_eq!(p.labeler().stats().unknown_records, php.database);
    let unknown = site_totals(&p, "_unknown");
    assert_eq!(unknown.php_errors[4], php.database);
    assert_eq!(unknown.php_errors[..4], [0, 0, 0, 0]);
    // Every site with lines got the ones naming it.
    let named = totals.iter().filter(|(n, _)| n != "_unknown").count();
    let with_lines = stats.site_records.iter().filter(|&&n| n > 0).count();
    assert!(
        named + 5 >= with_lines && named <= with_lines,
        "{named} {with_lines}"
    );
}

/// Lines of one file arriving in any order within the ring land in their
/// own second: replaying a corpus's lines reversed gives the same windows.
#[test]
fn out_of_order_lines_land_in_their_second() {
    let cfg = CorpusConfig {
        lines: 20_000,
        rps: Some(100.0),
        ..CorpusConfig::default()
    };
    let (bytes, _) = generate_vec(&cfg).unwrap();
    let mut reversed: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    reversed.reverse();
    let reversed = reversed.join(&b'\n');
    let windows = |input: &[u8]| {
        let mut p = Pipeline::new(&PipelineConfig::default(), sitepulse_tests::unix_now()).unwrap();
        p.process("x", None, input, &mut NoObserver, &mut |_| {})
            .unwrap();
        // Align the windows' end: both end at the corpus's last second.
        let site = p.labeler().sites().get(&traefik_site(0)).unwrap();
        (
            p.aggregator().window(site, 60).requests(),
            p.aggregator().window(site, 300).requests(),
            p.aggregator().window(site, 3600).requests(),
            p.aggregator().window(SiteId(0), 3600).requests(),
        )
    };
    let a = windows(&bytes);
    // The corpus spans 200 s: the 5m and 1h windows hold all of it.
    assert!(a.0 > 0 && a.1 > a.0 && a.2 == a.1, "{a:?}");
    assert_eq!(a, windows(&reversed));
}

//! Aggregator unit and property tests.

use super::*;
use crate::record::LogFormat;

fn access(status: u16, ms: u64) -> Record<'static> {
    Record {
        source: LogFormat::TraefikClf,
        status,
        bytes: 100,
        duration_ns: Some(ms * 1_000_000),
        ..Record::default()
    }
}

const T0: i64 = 1_795_341_600;

#[test]
fn windows_count_by_event_time() {
    let mut a = Aggregator::new(&AggregateConfig::default()).unwrap();
    let s = SiteId(1);
    for i in 0..120 {
        a.record(s, T0 + i, &access(200, 10));
    }
    a.record(s, T0 + 119, &access(502, 1000));
    // An out-of-order line lands in its own second.
    a.record(s, T0 + 30, &access(499, 5));
    let w1 = a.window(s, 60);
    assert_eq!(w1.requests(), 61);
    assert_eq!(w1.class[4], 1);
    assert_eq!(w1.codes, [0, 0, 1, 0, 0]);
    let w5 = a.window(s, 300);
    assert_eq!(w5.requests(), 122);
    assert_eq!(w5.codes[0], 1);
    assert_eq!(w5.bytes, 12_200);
    assert!((w1.rps() - 61.0 / 60.0).abs() < 1e-9);
    // The data began at T0: the 5m window covers 120 s of it, so a
    // steady load reads as itself, not as 2/5 of itself.
    assert_eq!((w1.covered_secs, w5.covered_secs), (60.0, 120.0));
    assert!((w5.rps() - 122.0 / 120.0).abs() < 1e-9);
    assert!((w5.error_ratio() - 1.0 / 122.0).abs() < 1e-9);
    // Little's law: (120 * 10ms + 1s + 5ms) / 120s covered.
    assert!((w5.in_flight() - 2.205 / 120.0).abs() < 1e-9);
    let p50 = w5.quantile_ms(0.5).unwrap();
    assert!((p50 - 10.0).abs() / 10.0 < 0.01, "{p50}");
    assert_eq!(a.totals(s).unwrap().requests(), 122);
}

#[test]
fn old_seconds_expire_and_late_lines_count() {
    let mut a = Aggregator::new(&AggregateConfig::default()).unwrap();
    let s = SiteId(3);
    a.record(s, T0, &access(200, 1));
    a.record(s, T0 + 3600, &access(200, 1));
    let w = a.window(s, 3600);
    assert_eq!(w.requests(), 1, "T0 fell out of the hour");
    a.record(s, T0 - 10, &access(200, 1));
    assert_eq!(a.stats().late, 1);
    assert_eq!(a.window(s, 3600).requests(), 1);
    assert_eq!(a.totals(s).unwrap().requests(), 3);
    // A site idle since long ago shows nothing in the windows.
    let idle = SiteId(4);
    a.record(idle, T0 + 3600, &access(200, 1));
    a.advance_to(T0 + 3600 + 7200);
    assert_eq!(a.window(idle, 3600).requests(), 0);
    assert_eq!(a.window(s, 60).requests(), 0);
}

#[test]
fn ring_wrap_reuses_slots() {
    let cfg = AggregateConfig {
        retention_secs: 60,
        slot_secs: 10,
        fine_secs: 60,
        ..AggregateConfig::default()
    };
    let mut a = Aggregator::new(&cfg).unwrap();
    let s = SiteId(1);
    for i in 0..600 {
        a.record(s, T0 + i, &access(200, 1 + (i as u64 % 7)));
    }
    let w = a.window(s, 60);
    assert_eq!(w.requests(), 60);
    assert_eq!(w.latency.count(), 60);
}

#[test]
fn events_and_saturation() {
    let mut a = Aggregator::new(&AggregateConfig::default()).unwrap();
    let s = SiteId(1);
    let ev = Record {
        source: LogFormat::FpmError,
        event: Event::MaxChildrenReached,
        ..Record::default()
    };
    a.record(s, T0, &ev);
    a.record(
        s,
        T0,
        &Record {
            event: Event::PhpFatal,
            source: LogFormat::WordPress,
            ..Record::default()
        },
    );
    let w = a.window(s, 60);
    assert_eq!(w.events, [1, 0, 0, 1]);
    assert_eq!(w.requests(), 0);
    // 70,000 requests of one class in one second (past a 16-bit
    // counter): counted exactly, in every window and in the totals.
    for _ in 0..70_000 {
        a.record(s, T0, &access(200, 1));
    }
    for secs in [60, 300, 3600] {
        assert_eq!(a.window(s, secs).class[1], 70_000);
    }
    assert_eq!(a.stats().saturated, 0);
    assert_eq!(a.totals(s).unwrap().class[1], 70_000);
}

#[test]
fn a_line_from_the_oldest_partial_slot_is_late_not_current() {
    let mut a = Aggregator::new(&AggregateConfig::default()).unwrap();
    let s = SiteId(1);
    // now = T0+3605: the hour back starts at T0+6, inside the block of
    // T0..T0+9, whose ring index is the current block's.
    a.record(s, T0 + 3605, &access(200, 1));
    a.record(s, T0 + 7, &access(502, 9000));
    assert_eq!(a.stats().late, 1);
    let w = a.window(s, 60);
    assert_eq!((w.requests(), w.class[4]), (1, 0));
    assert_eq!(w.latency.count(), 1);
}

#[test]
fn future_lines_do_not_move_the_windows() {
    let mut a = Aggregator::new(&AggregateConfig::default()).unwrap();
    a.set_future_limit(T0 + 300);
    let s = SiteId(1);
    a.record(s, T0, &access(200, 1));
    a.record(s, T0 + 100 * 365 * 86_400, &access(200, 1));
    a.record(s, T0 + 1, &access(200, 1));
    assert_eq!(a.now(), Some(T0 + 1));
    assert_eq!((a.stats().future, a.stats().late), (1, 0));
    assert_eq!(a.window(s, 60).requests(), 2);
    assert_eq!(a.totals(s).unwrap().requests(), 3);
}

#[test]
fn only_configured_sources_count_requests() {
    let cfg = AggregateConfig {
        request_sources: vec![LogFormat::TraefikClf],
        ..AggregateConfig::default()
    };
    let mut a = Aggregator::new(&cfg).unwrap();
    let s = SiteId(1);
    a.record(s, T0, &access(200, 1));
    let nginx = Record {
        source: LogFormat::Nginx,
        ..access(200, 1)
    };
    a.record(s, T0, &nginx);
    assert_eq!(a.window(s, 60).requests(), 1);
    let bad = AggregateConfig {
        request_sources: vec![LogFormat::FpmError],
        ..AggregateConfig::default()
    };
    let e = Aggregator::new(&bad).unwrap_err();
    assert_eq!(e.field, "request_sources");
}

#[test]
fn absurd_sizes_and_durations_saturate_without_panicking() {
    let mut a = Aggregator::new(&AggregateConfig::default()).unwrap();
    let s = SiteId(1);
    let huge = Record {
        bytes: u64::MAX,
        duration_ns: Some(u64::MAX),
        ..access(200, 1)
    };
    a.record(s, T0, &huge);
    a.record(s, T0, &huge);
    let t = a.totals(s).unwrap();
    assert_eq!((t.bytes, t.requests()), (u64::MAX, 2));
    assert_eq!(a.window(s, 60).bytes, u64::from(u32::MAX));
    assert_eq!(a.window(s, 3600).bytes, u64::MAX);
    assert!(a.stats().saturated >= 1);
}

proptest::proptest! {
    /// Against a naive model: a record counts in a window of up to
    /// `fine_secs` iff it was inside the one-second ring when it
    /// arrived and its second is in the window now; totals count all.
    #[test]
    fn short_windows_match_a_naive_model(
        steps in proptest::collection::vec((0u16..3, -40i64..400, 0usize..4), 1..400),
    ) {
        let mut a = Aggregator::new(&AggregateConfig::default()).unwrap();
        let mut kept: Vec<(u16, i64, u16)> = Vec::new();
        let mut now = i64::MIN;
        let mut sec = T0;
        for (site, delta, st) in steps {
            // Mostly forward, sometimes back (out of order), sometimes a gap.
            sec = (sec + delta / 4 + if delta > 380 { 600 } else { 0 }).max(T0);
            let status = [200, 404, 502, 503][st];
            a.record(SiteId(site), sec, &access(status, 3));
            now = now.max(sec);
            if sec > now - 300 {
                kept.push((site, sec, status));
            }
        }
        for site in 0..3u16 {
            for w in [60i64, 300] {
                let got = a.window(SiteId(site), w as u32);
                let want: Vec<_> = kept
                    .iter()
                    .filter(|(s, t, _)| *s == site && *t > now - w && *t <= now)
                    .collect();
                proptest::prop_assert_eq!(got.requests(), want.len() as u64);
                let want_5xx = want.iter().filter(|(_, _, st)| *st >= 500).count();
                proptest::prop_assert_eq!(got.class[4], want_5xx as u64);
            }
        }
    }
}

#[test]
fn rates_are_true_from_the_first_second() {
    // Live: started at T0 + 0.25, a steady 120 requests per second
    // (30 in the first quarter-covered second), clock at T0 + 10.5.
    let mut a = Aggregator::new(&AggregateConfig::default()).unwrap();
    let s = SiteId(1);
    a.mark_start(T0 as f64 + 0.25);
    a.set_clock(T0 as f64 + 0.25);
    for _ in 0..90 {
        a.record(s, T0, &access(200, 1));
    }
    for sec in 1..10 {
        for _ in 0..120 {
            a.record(s, T0 + sec, &access(200, 1));
        }
    }
    for _ in 0..60 {
        a.record(s, T0 + 10, &access(200, 1));
    }
    a.set_clock(T0 as f64 + 10.5);
    for secs in [60, 300, 3600] {
        let w = a.window(s, secs);
        assert!((w.covered_secs - 10.25).abs() < 1e-9, "{secs}: {w:?}");
        assert!((w.rps() - 1230.0 / 10.25).abs() < 1e-9, "{}", w.rps());
    }
    // A backlog dated before the start: covered from its first line.
    a.record(s, T0 - 20, &access(200, 1));
    assert!((a.window(s, 60).covered_secs - 30.5).abs() < 1e-9);
    // Once the window is full it covers its length (less the part of
    // the current second still to come).
    a.set_clock(T0 as f64 + 500.5);
    assert!((a.window(s, 60).covered_secs - 59.5).abs() < 1e-9);
    assert!((a.window(s, 300).covered_secs - 299.5).abs() < 1e-9);
    // The hour is read in 10 s slots: it covers from its oldest slot.
    assert!((a.window(s, 3600).covered_secs - 520.5).abs() < 1e-9);
    assert_eq!(a.covered_secs(60), a.window(s, 60).covered_secs);
    // Replay (no start mark): from the first line's second to the end
    // of the last one.
    let mut r = Aggregator::new(&AggregateConfig::default()).unwrap();
    r.record(s, T0, &access(200, 1));
    assert_eq!(r.window(s, 60).covered_secs, 1.0);
    r.record(s, T0 + 29, &access(200, 1));
    assert_eq!(r.window(s, 60).covered_secs, 30.0);
    assert_eq!(r.window(SiteId(7), 300).covered_secs, 30.0);
    assert_eq!(r.window(SiteId(7), 300).rps(), 0.0);
}

#[test]
fn totals_keep_a_histogram_php_errors_and_pools() {
    let mut a = Aggregator::new(&AggregateConfig::default()).unwrap();
    let s = SiteId(1);
    for ms in [1, 5, 6, 100, 100, 59_999, 60_000, 60_001, 3_600_000] {
        a.record(s, T0, &access(200, ms));
    }
    let t = a.totals(s).unwrap();
    // le 0.005: 1 ms and 5 ms; le 0.01: 6 ms; le 0.1: both 100 ms; le 60:
    // 59.999 s and 60 s; +Inf: the rest.
    assert_eq!(
        t.latency_buckets,
        [2, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2]
    );
    assert_eq!(t.timed_requests, 9);
    let ev = |event, pool: &'static [u8]| Record {
        source: LogFormat::FpmError,
        event,
        pool,
        ..Record::default()
    };
    for i in 0..12u8 {
        let pool: &'static [u8] = [
            b"p0", b"p1", b"p2", b"p3", b"p4", b"p5", b"p6", b"p7", b"p8", b"p9", b"pa", b"pb",
        ][usize::from(i)];
        a.record(s, T0, &ev(Event::MaxChildrenReached, pool));
    }
    a.record(s, T0, &ev(Event::MaxChildrenReached, b"p0"));
    a.record(s, T0, &ev(Event::SlowRequest, b"p1"));
    a.record(s, T0, &ev(Event::SlowRequest, b""));
    a.record(s, T0, &ev(Event::PhpFatal, b""));
    a.record(s, T0, &ev(Event::PhpWarning, b""));
    a.record(s, T0, &ev(Event::DatabaseError, b""));
    let t = a.totals(s).unwrap();
    let pools: Vec<(&str, u64, u64)> = t
        .pools
        .iter()
        .map(|p| (&*p.name, p.max_children_reached, p.slow_requests))
        .collect();
    assert_eq!(pools.len(), MAX_POOLS_PER_SITE + 1);
    assert_eq!(pools[0], ("p0", 2, 0));
    assert_eq!(pools[1], ("p1", 1, 1));
    assert_eq!(pools[MAX_POOLS_PER_SITE], (OTHER_POOL, 4, 1));
    assert_eq!(t.events[0], 13);
    assert_eq!(t.php_errors, [1, 1, 0, 0, 1]);
}

#[test]
fn config_validation() {
    let bad = AggregateConfig {
        retention_secs: 100,
        slot_secs: 30,
        fine_secs: 60,
        ..AggregateConfig::default()
    };
    assert!(Aggregator::new(&bad).is_err());
}

/// Issue 16: each bucket keeps its latest request with a trace id, with
/// the duration (in the bucket) and the record's time (else its second's).
#[test]
fn exemplars_latest_per_bucket() {
    let mut a = Aggregator::new(&AggregateConfig::default()).unwrap();
    let s = SiteId(2);
    let traced = |ms: u64, id: &'static [u8], ts_ns: Option<i64>| Record {
        trace_id: id,
        ts_ns,
        ..access(200, ms)
    };
    let (id1, id2) = (
        b"4bf92f3577b34da6a3ce929d0e0e4736",
        b"0af7651916cd43dd8448eb211c80319c",
    );
    let lines: [(i64, Record<'static>); 6] = [
        (T0, traced(7, id1, Some(T0 * 1_000_000_000 + 5))),
        (T0 + 1, traced(8, id2, None)),
        // An id the parser would not have given is no exemplar.
        (T0 + 1, traced(9, b"4BF92F3577B34DA6A3CE929D0E0E4736", None)),
        (T0 + 2, traced(5, id1, None)),
        (T0 + 2, traced(120_000, id1, None)),
        // Late lines count in the totals, and so keep their exemplar.
        (T0 - 7200, traced(300, id2, None)),
    ];
    // The same requests without ids first, so the sketches hold every
    // bucket they will need.
    for (sec, rec) in &lines {
        a.record(
            s,
            *sec,
            &Record {
                trace_id: b"",
                ..rec.clone()
            },
        );
    }
    let before = a.heap_bytes();
    assert!(a.totals(s).unwrap().exemplars.is_none());
    for (sec, rec) in &lines {
        a.record(s, *sec, rec);
    }
    let t = a.totals(s).unwrap();
    let ex = t.exemplars.as_deref().unwrap();
    let hex = |e: &Exemplar| crate::record::trace_id_hex(&e.trace_id);
    // 7, 8 and 9 ms fall in (5, 10] ms: the last traced one is kept.
    assert_eq!(&hex(&ex[1]), id2);
    assert_eq!(
        (ex[1].value_secs, ex[1].ts_ns),
        (0.008, (T0 + 1) * 1_000_000_000)
    );
    // Exactly 5 ms is `le="0.005"`.
    assert_eq!(&hex(&ex[0]), id1);
    assert_eq!(ex[0].value_secs, 0.005);
    assert!(ex[0].value_secs <= LATENCY_BUCKETS_SECS[0]);
    // Past the last bound: `+Inf`.
    assert_eq!(&hex(&ex[LATENCY_BUCKETS_SECS.len()]), id1);
    assert_eq!(ex[LATENCY_BUCKETS_SECS.len()].value_secs, 120.0);
    assert_eq!(&hex(&ex[6]), id2);
    assert_eq!(ex[6].ts_ns, (T0 - 7200) * 1_000_000_000);
    let set: Vec<usize> = (0..ex.len()).filter(|&i| ex[i].is_set()).collect();
    assert_eq!(set, [0, 1, 6, LATENCY_BUCKETS_SECS.len()]);
    assert_eq!(t.latency_buckets[1], 6);
    // One array per site, counted in the heap.
    assert_eq!(
        a.heap_bytes() - before,
        std::mem::size_of::<BucketExemplars>()
    );
    assert!(a.totals(SiteId(1)).is_none_or(|t| t.exemplars.is_none()));
}

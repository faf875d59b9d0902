//! Text reports for the command line: the `parse` summary (records and
//! unparsed lines by reason, per file) and the `replay` per-site table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use sitepulse_pipeline::aggregate::Totals;
use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::time::format_rfc3339;
use sitepulse_pipeline::{FileReport, Pipeline};

fn file_line(out: &mut String, r: &FileReport) {
    let _ = write!(
        out,
        "{}: {} records, {} unparsed, {} lines, {} bytes (format {}, framing {})",
        r.name,
        r.records,
        r.unparsed_total(),
        r.lines,
        r.bytes,
        r.source.map_or("unknown", |s| s.name()),
        r.framing.map_or("raw", |f| f.name()),
    );
    if r.truncated > 0 {
        let _ = write!(out, ", {} truncated", r.truncated);
    }
    if r.invalid_utf8 > 0 {
        let _ = write!(out, ", {} with invalid UTF-8", r.invalid_utf8);
    }
    out.push('\n');
    for (reason, n) in &r.unparsed {
        let _ = writeln!(out, "  unparsed {reason}: {n}");
    }
}

/// The stderr summary of `sitepulse parse`.
pub fn parse_summary(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for r in reports {
        file_line(&mut out, r);
    }
    if reports.len() > 1 {
        let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
        for r in reports {
            for (k, v) in &r.unparsed {
                *reasons.entry(k).or_default() += v;
            }
        }
        let records: u64 = reports.iter().map(|r| r.records).sum();
        let unparsed: u64 = reasons.values().sum();
        let _ = writeln!(out, "total: {records} records, {unparsed} unparsed");
        for (reason, n) in reasons {
            let _ = writeln!(out, "  unparsed {reason}: {n}");
        }
    }
    out
}

fn ms(t: &Totals, q: f64) -> String {
    t.latency
        .quantile_us(q)
        .map_or_else(|| "-".into(), |us| format!("{:.1}", us / 1000.0))
}

/// The per-site table and total line of `sitepulse replay`. `top` limits
/// the rows (0 = all).
pub fn replay_table(p: &Pipeline, reports: &[FileReport], elapsed: Duration, top: usize) -> String {
    let agg = p.aggregator();
    let sites = p.labeler().sites();
    let span_secs = match (agg.first(), agg.now()) {
        (Some(a), Some(b)) => (b - a + 1).max(1) as f64,
        _ => 1.0,
    };
    let mut rows: Vec<(SiteId, &Totals)> = sites
        .iter()
        .filter_map(|(id, _)| agg.totals(id).map(|t| (id, t)))
        .filter(|(_, t)| t.requests() > 0 || t.events.iter().any(|e| *e > 0))
        .collect();
    rows.sort_by(|a, b| {
        b.1.requests()
            .cmp(&a.1.requests())
            .then_with(|| {
                b.1.events
                    .iter()
                    .sum::<u64>()
                    .cmp(&a.1.events.iter().sum::<u64>())
            })
            .then_with(|| sites.name(a.0).cmp(sites.name(b.0)))
    });
    let shown = if top == 0 {
        rows.len()
    } else {
        top.min(rows.len())
    };
    let width = rows[..shown]
        .iter()
        .map(|(id, _)| sites.name(*id).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>6} {:>6} {:>6}",
        "site",
        "requests",
        "rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "5xx_%",
        "max_ch",
        "slow",
        "term",
        "fatal"
    );
    for (id, t) in &rows[..shown] {
        let n = t.requests();
        let err = if n == 0 {
            0.0
        } else {
            100.0 * t.class[4] as f64 / n as f64
        };
        let _ = writeln!(
            out,
            "{:<width$} {:>10} {:>9.2} {:>9} {:>9} {:>9} {:>7.2} {:>7} {:>6} {:>6} {:>6}",
            sites.name(*id),
            n,
            n as f64 / span_secs,
            ms(t, 0.5),
            ms(t, 0.95),
            ms(t, 0.99),
            err,
            t.events[0],
            t.events[1],
            t.events[2],
            t.events[3],
        );
    }
    if rows.len() > shown {
        let _ = writeln!(
            out,
            "({} more sites; --top 0 shows all)",
            rows.len() - shown
        );
    }
    let lines: u64 = reports.iter().map(|r| r.lines).sum();
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    let records: u64 = reports.iter().map(|r| r.records).sum();
    let unparsed: u64 = reports.iter().map(FileReport::unparsed_total).sum();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "total: {lines} lines, {records} records, {unparsed} unparsed, {:.1} MB in {:.3} s: {:.0} lines/s, {:.1} MB/s; {} sites",
        bytes as f64 / 1e6,
        secs,
        lines as f64 / secs,
        bytes as f64 / 1e6 / secs,
        rows.len(),
    );
    let _ = writeln!(
        out,
        "per-site state: {:.1} MiB for {} sites",
        agg.heap_bytes() as f64 / 1_048_576.0,
        agg.site_count()
    );
    if let (Some(a), Some(b)) = (agg.first(), agg.now()) {
        let _ = writeln!(
            out,
            "event time: {} .. {} ({} s)",
            format_rfc3339(a * 1_000_000_000),
            format_rfc3339(b * 1_000_000_000),
            span_secs
        );
    }
    let st = agg.stats();
    if st.late > 0 || st.future > 0 || st.saturated > 0 {
        let _ = writeln!(
            out,
            "windows: {} records older than the retention, {} dated in the future, {} saturated counters (all kept in the totals)",
            st.late, st.future, st.saturated
        );
    }
    let unknown = p.labeler().stats();
    if unknown.unknown_records > 0 || unknown.sites_refused > 0 {
        let _ = writeln!(
            out,
            "sites: {} records labelled _unknown, {} keys refused by the max_sites cap",
            unknown.unknown_records, unknown.sites_refused
        );
    }
    let split = p.labeler().split_names(8);
    if !split.is_empty() {
        let pairs: Vec<String> = split.iter().map(|(a, b)| format!("{a} / {b}")).collect();
        let _ = writeln!(
            out,
            "sites: these look like one site under two naming schemes: {}; if so, add the \
             domain to sites.domains (e.g. {}) or map them in sites.static_sites (docs/sites.md)",
            pairs.join(", "),
            split[0].1[split[0].0.len() + 1..].replace('-', ".")
        );
    }
    if unknown.conflicts > 0 {
        let t = p.labeler().sites();
        let pairs: Vec<String> = p
            .labeler()
            .conflicts()
            .iter()
            .map(|&(own, ns)| format!("{} / namespace {}", t.name(own), t.name(ns)))
            .collect();
        let _ = writeln!(
            out,
            "sites: {} records named another site than their namespace ({}): if those are one \
             site, add its domain to sites.domains or map them in sites.static_sites (docs/sites.md)",
            unknown.conflicts,
            pairs.join(", ")
        );
    }
    for r in reports
        .iter()
        .filter(|r| r.unparsed_total() > 0 || r.truncated > 0)
    {
        file_line(&mut out, r);
    }
    out
}

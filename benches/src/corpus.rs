//! The generation loop: schedules records in time, draws a site for each
//! (Zipf over a seeded popularity order, with incident sites), renders the
//! record in the configured format, frames it, and counts what was written.

use std::io::{self, Write};

use crate::fpm::{self, FpmModel};
use crate::frame::Sink;
use crate::http::{HttpModel, View};
use crate::rng::{Rng, Zipf};
use crate::site::Site;
use crate::stats::CorpusStats;
use crate::{CorpusConfig, Format, access, apptext, wordpress};

const NS: i64 = 1_000_000_000;

/// Independent random streams, so that e.g. the framing's write times do
/// not change the records.
mod stream {
    pub const POPULARITY: u64 = 1;
    pub const RECORDS: u64 = 2;
    pub const FRAMING: u64 = 3;
    pub const CLIENTS: u64 = 4;
}

pub(crate) fn run<W: Write>(cfg: &CorpusConfig, out: &mut W) -> io::Result<CorpusStats> {
    cfg.validate()?;
    let fmt = cfg.format;
    let step = ((1e9 / cfg.effective_rps()) as i64).max(1);
    let start_ns = cfg.start_unix_secs.saturating_mul(NS);
    let sites: Vec<Site> = (0..cfg.sites).map(Site::new).collect();

    // Popularity: rank r (Zipf) belongs to a seeded shuffle of the sites, so
    // the busiest site is not simply site001.
    let mut prng = Rng::new(cfg.seed, stream::POPULARITY);
    let mut by_rank: Vec<usize> = (0..cfg.sites).collect();
    for i in (1..by_rank.len()).rev() {
        let j = prng.below(i as u64 + 1) as usize;
        by_rank.swap(i, j);
    }
    let zipf = Zipf::new(cfg.sites, cfg.zipf_exponent);
    let mut incidents = Vec::new();
    if cfg.incidents && cfg.sites >= 10 {
        while incidents.len() < 2 {
            let s = by_rank[prng.range(1, 9) as usize];
            if !incidents.contains(&s) {
                incidents.push(s);
            }
        }
    }
    let (inc_from, inc_to) = (cfg.lines * 35 / 100, cfg.lines * 45 / 100);

    let mut rng = Rng::new(cfg.seed, stream::RECORDS);
    let mut frng = Rng::new(cfg.seed, stream::FRAMING);
    let mut http = fmt
        .is_access()
        .then(|| HttpModel::new(&mut Rng::new(cfg.seed, stream::CLIENTS)));
    let mut fpm_model = FpmModel::default();
    let mut sink = Sink::new(
        out,
        cfg.framing,
        cfg.max_line_bytes,
        fmt.stream(),
        fmt.is_multiline(),
    );

    let mut stats = CorpusStats {
        format: fmt,
        framing: cfg.framing,
        site_records: vec![0; cfg.sites],
        incident_sites: incidents.clone(),
        min_ts_ns: i64::MAX,
        max_ts_ns: i64::MIN,
        ..CorpusStats::default()
    };
    let mut status = [0u64; 1000];
    let mut line: Vec<u8> = Vec::with_capacity(4096);
    let mut request_count = 1 + rng.below(1_000_000);
    let mut prev_ts = i64::MIN;
    let jitters = matches!(
        fmt,
        Format::TraefikClf
            | Format::TraefikJson
            | Format::Nginx
            | Format::FpmAccess
            | Format::WordPress
    );

    for i in 0..cfg.lines {
        let sched = start_ns + i as i64 * step + rng.below(step as u64) as i64;
        let write_ns = sched + frng.range(20_000, 500_000) as i64;
        let at = if jitters && rng.chance(cfg.jitter_ratio) {
            (sched + rng.range(0, 4 * NS as u64) as i64 - 2 * NS).max(start_ns)
        } else {
            sched
        };
        let in_window = (inc_from..inc_to).contains(&i);
        let pick = |rng: &mut Rng| {
            let site = cfg.only_site.unwrap_or_else(|| by_rank[zipf.sample(rng)]);
            (site, in_window && incidents.contains(&site))
        };
        line.clear();

        // Each arm renders the record and reports (site, event time as
        // written, status as written, body bytes as written).
        let (site, ts, st, body): (Option<usize>, i64, Option<u16>, u64) = match fmt {
            Format::TraefikClf | Format::TraefikJson | Format::Nginx | Format::FpmAccess => {
                let m = http
                    .as_mut()
                    .expect("access formats build the request model");
                let (s, incident) = pick(&mut rng);
                let view = match fmt {
                    Format::Nginx => View::Nginx,
                    Format::FpmAccess => View::Fpm,
                    _ => View::Traefik,
                };
                let req = m.next(&mut rng, s, &sites[s].host, view, at, incident);
                let started = (at - req.dur_ns as i64).max(start_ns);
                let site = req.site.map(|s| &sites[s]);
                match fmt {
                    Format::TraefikClf => {
                        request_count += 1;
                        let st =
                            access::traefik_clf(&mut line, &req, m, site, started, request_count);
                        let body = if req.origin { req.bytes } else { 0 };
                        (req.site, floor_sec(started), Some(st), body)
                    }
                    Format::TraefikJson => {
                        request_count += 1;
                        access::traefik_json(
                            &mut line,
                            &mut rng,
                            &req,
                            m,
                            site,
                            started,
                            request_count,
                        );
                        (req.site, started, Some(req.status), req.bytes)
                    }
                    Format::Nginx => {
                        access::nginx(&mut line, &req, m, &sites[s], at);
                        (req.site, floor_sec(at), Some(req.status), req.bytes)
                    }
                    _ => {
                        access::fpm_access(&mut line, &mut rng, &req, m, started);
                        (req.site, floor_sec(started), Some(req.status), 0)
                    }
                }
            }
            Format::FpmError => {
                let site =
                    fpm_model.error_line(&mut line, &mut rng, &sites, pick, sched, &mut stats.fpm);
                (site, floor_sec(sched), None, 0)
            }
            Format::FpmSlow => {
                let (s, _) = pick(&mut rng);
                fpm::slow_block(&mut line, &mut rng, &sites[s], sched);
                stats.fpm.slow += 1;
                (Some(s), floor_sec(sched), None, 0)
            }
            Format::WordPress => {
                let (s, _) = pick(&mut rng);
                let from = line.len();
                wordpress::entry(&mut line, &mut rng, s, at, &mut stats.php);
                wordpress::relocate(&mut line, from, &sites[s].slug);
                (Some(s), floor_sec(at), None, 0)
            }
            Format::Text => {
                // A pod of the site's; its lines do not name the site.
                let (s, _) = pick(&mut rng);
                apptext::entry(&mut line, &mut rng, at, (i, cfg.lines), &mut stats.text);
                (Some(s), floor_sec(at), None, 0)
            }
        };

        stats.records += 1;
        match site {
            Some(s) => stats.site_records[s] += 1,
            None if fmt.is_access() => stats.stray_host_records += 1,
            None => {}
        }
        if let Some(st) = st {
            status[usize::from(st).min(status.len() - 1)] += 1;
        }
        stats.body_bytes += body;
        if ts < prev_ts {
            stats.out_of_order += 1;
        }
        prev_ts = ts;
        stats.min_ts_ns = stats.min_ts_ns.min(ts);
        stats.max_ts_ns = stats.max_ts_ns.max(ts);
        sink.emit(&line, write_ns)?;
    }

    stats.lines = sink.lines;
    stats.bytes = sink.bytes;
    stats.split_lines = sink.split_lines;
    stats.partial_chunks = sink.partial_chunks;
    for (code, &n) in status.iter().enumerate() {
        if n > 0 {
            stats.status_counts.insert(code as u16, n);
            if (500..600).contains(&code) {
                stats.status_5xx += n;
            }
        }
    }
    if stats.records == 0 {
        stats.min_ts_ns = 0;
        stats.max_ts_ns = 0;
    }
    Ok(stats)
}

fn floor_sec(ns: i64) -> i64 {
    ns.div_euclid(NS) * NS
}

//! Burn scenarios from generated Traefik logs with controlled timestamps,
//! through `sitepulse replay --slo` (the real pipeline; the burn-rate
//! windows move with the lines' own time, so hours replay in seconds):
//! a sustained 2% spike pages when the fast window says, a 10-minute spike
//! pages a 99.99% SLO within minutes and stops paging when it ends, a slow
//! 0.2% burn opens a ticket and never pages, and 3 requests with an error
//! page nobody.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use sitepulse_tests::{clf_time, tmpdir};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
/// 2026-11-01T00:00:00Z.
const T0: i64 = 1_793_491_200;
const HOUR: i64 = 3600;

fn line(out: &mut String, t: i64, site: &str, status: u16) {
    let _ = writeln!(
        out,
        "10.42.0.1 - - [{}] \"GET / HTTP/1.1\" {status} 512 \"-\" \"curl/8\" 1 \"websecure-{site}@kubernetes\" \"http://10.42.1.1:80\" 20ms",
        clf_time(t)
    );
}

/// Seven hours of four sites, one line per request, in time order.
fn corpus(path: &Path) -> u64 {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut n = 0u64;
    let mut counters = [0u64; 3];
    for s in 0..7 * HOUR {
        let t = T0 + s;
        let mut out = String::new();
        // spike: 5 req/s, 2% 5xx from 6h on (every 50th request).
        // quick: 5 req/s, 2% 5xx from 6h00 to 6h10.
        // slow: 5 req/s, 0.2% 5xx all along (every 500th).
        for (i, (site, bad_every, from, to)) in [
            ("spike", 50, 6 * HOUR, 7 * HOUR),
            ("quick", 50, 6 * HOUR, 6 * HOUR + 600),
            ("slow", 500, 0, 7 * HOUR),
        ]
        .into_iter()
        .enumerate()
        {
            for _ in 0..5 {
                counters[i] += 1;
                let bad = s >= from && s < to && counters[i] % bad_every == 0;
                line(&mut out, t, site, if bad { 503 } else { 200 });
                n += 1;
            }
        }
        // quiet: 3 requests, one of them an error, at 1h.
        if s == HOUR {
            for st in [200, 500, 200] {
                line(&mut out, t, "quiet", st);
                n += 1;
            }
        }
        f.write_all(out.as_bytes()).unwrap();
    }
    f.flush().unwrap();
    n
}

/// (minutes after T0, state) for one site/SLO.
fn changes(stdout: &str, what: &str) -> Vec<(i64, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (when, state, slo) = (w.next()?, w.next()?, w.next()?);
            if slo != what {
                return None;
            }
            let ts: jiff::Timestamp = when.parse().ok()?;
            Some(((ts.as_second() - T0) / 60, state.to_owned()))
        })
        .collect()
}

#[test]
fn burn_scenarios_page_ticket_and_recover_in_event_time() {
    let d = tmpdir("slo-replay", "burn");
    let log = d.join("access.log");
    let lines = corpus(&log);
    let spec = d.join("slos.yaml");
    std::fs::write(
        &spec,
        "defaults:\n  - {name: availability, kind: availability, objective: 99.9}\nsites:\n  quick:\n    slos:\n      - {name: availability, objective: 99.99}\n",
    )
    .unwrap();
    let cfg = d.join("sitepulse.yaml");
    std::fs::write(&cfg, format!("slo:\n  specs: [\"{}\"]\n", spec.display())).unwrap();
    let out = Command::new(BIN)
        .args(["replay", "--slo", "--config"])
        .arg(&cfg)
        .arg(&log)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&lines.to_string().chars().take(3).collect::<String>()),
        "{stdout}"
    );

    // spike: 2% is 20x a 0.1% budget. The 3d/6h ticket row (1x) trips
    // once the 6h window holds 18 minutes of it; the 1h/5m page row
    // (14.4x) once the hour holds 43.2 minutes: the SRE workbook's
    // detection time. Nothing before the spike.
    let spike = changes(&stdout, "spike/availability");
    let at = |state: &str| spike.iter().find(|c| c.1 == state).map(|c| c.0);
    let page = at("page").unwrap_or_else(|| panic!("no page: {spike:?}\n{stdout}"));
    assert!((360 + 42..=360 + 44).contains(&page), "{spike:?}");
    let ticket = at("ticket").unwrap();
    assert!((360 + 17..=360 + 19).contains(&ticket), "{spike:?}");
    assert!(spike.iter().all(|c| c.0 >= 360), "{spike:?}");

    // quick: 200x a 99.99% budget: pages within the fast window's first
    // minutes, stops paging within the 5 minutes after the spike (the short
    // window empties), then the ticket rows still see the spent budget.
    let quick = changes(&stdout, "quick/availability");
    let first_page = quick.iter().find(|c| c.1 == "page").map(|c| c.0).unwrap();
    assert!(first_page <= 360 + 5, "{quick:?}");
    let stop = quick
        .iter()
        .find(|c| c.0 > first_page && c.1 != "page")
        .unwrap();
    assert!((370..=376).contains(&stop.0), "{quick:?}");
    assert_eq!(stop.1, "ticket", "{quick:?}");

    // slow: 0.2% (2x) all along: a ticket, never a page.
    let slow = changes(&stdout, "slow/availability");
    assert!(slow.iter().any(|c| c.1 == "ticket"), "{slow:?}\n{stdout}");
    assert!(slow.iter().all(|c| c.1 != "page"), "{slow:?}");

    // quiet: 1 error in 3 requests is under min_requests.
    assert!(
        changes(&stdout, "quiet/availability").is_empty(),
        "{stdout}"
    );
}

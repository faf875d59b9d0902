//! SIGHUP on a real `sitepulse run`: a new source, a refused config and a
//! changed site section, with lines appended between them; every line
//! reaches the tap exactly once, the process outlives the bad config, and
//! a restart afterwards reads nothing again (the checkpoint followed).

// kill(2) only: `Child::kill` sends SIGKILL, a reload needs SIGHUP.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sitepulse_tests::http::{get_with, json};
use sitepulse_tests::{Collector, append, clf_time, tmpdir, unix_now, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const WAIT: Duration = Duration::from_secs(15);
const GRACE: Duration = Duration::from_secs(10);

/// A Traefik common-format line (as tests/lib.rs's `clf_line`) whose
/// request path names it, so the tap shows which line came through.
fn line(site: &str, path: &str) -> String {
    format!(
        "10.42.0.1 - - [{}] \"GET {path} HTTP/1.1\" 200 512 \"-\" \"curl/8\" 1 \"websecure-{site}@kubernetes\" \"http://10.42.1.1:80\" 12ms\n",
        clf_time(unix_now())
    )
}

fn lines(site: &str, tag: &str, range: std::ops::Range<u32>) -> String {
    range.map(|i| line(site, &format!("/{tag}/{i}"))).collect()
}

fn write_config(d: &Path, sources: &[&str], extra: &str) -> PathBuf {
    let p = d.join("sitepulse.yaml");
    let mut text = String::from("tail:\n  sources:\n");
    for s in sources {
        text.push_str(&format!(
            "    - include: [\"{}/logs/{s}/*.log\"]\n",
            d.display()
        ));
    }
    text.push_str(&format!(
        "  read_existing: beginning\n  checkpoint_path: \"{}\"\n  checkpoint_interval_ms: 100\nserver:\n  listen: \"127.0.0.1:0\"\n{extra}",
        d.join("ckpt.json").display()
    ));
    std::fs::write(&p, text).unwrap();
    p
}

fn sighup(c: &Collector) {
    let pid = libc::pid_t::try_from(c.child.id()).unwrap();
    // SAFETY: kill(2) takes no pointers; `pid` is our unreaped child.
    let rc = unsafe { libc::kill(pid, libc::SIGHUP) };
    assert_eq!(rc, 0, "kill(SIGHUP): {}", std::io::Error::last_os_error());
}

/// Request paths in the tap, each with how many records carried it.
fn tapped(tap: &Path) -> BTreeMap<String, u32> {
    let mut seen = BTreeMap::new();
    for l in std::fs::read_to_string(tap).unwrap_or_default().lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        if let Some(p) = v["path"].as_str() {
            *seen.entry(p.to_owned()).or_insert(0) += 1;
        }
    }
    seen
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

fn site_requests(port: u16, site: &str) -> u64 {
    let sites = json(port, "/api/v1/sites");
    sites["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"] == site)
        .and_then(|s| s["1m"]["requests"].as_u64())
        .unwrap_or(0)
}

#[test]
fn sighup_reloads_sources_and_sites_without_losing_or_repeating_a_line() {
    let d = tmpdir("reload", "hup");
    let (a, b) = (d.join("logs/a/access.log"), d.join("logs/b/access.log"));
    std::fs::create_dir_all(a.parent().unwrap()).unwrap();
    std::fs::create_dir_all(b.parent().unwrap()).unwrap();
    let tap = d.join("tap.jsonl");
    let cfg = write_config(&d, &["a"], "");
    let mut c = Collector::start(
        BIN,
        &[Path::new("--config"), &cfg, Path::new("--tap"), &tap],
        &d.join("run-1.log"),
    );
    let port = c.port;
    let total = |n: usize| {
        let tap = tap.clone();
        move || tapped(&tap).values().sum::<u32>() as usize == n
    };

    append(&a, &lines("shop-example-com", "a", 0..50));
    wait_for("50 lines of a", WAIT, total(50));
    // b is not a source yet: its lines wait for the reload.
    append(&b, &lines("blog-example-com", "b", 0..20));

    // 1. A new source; parse, sites and aggregate unchanged.
    write_config(&d, &["a", "b"], "");
    sighup(&c);
    wait_for("the first reload", WAIT, || {
        count(&c.log_text(), "config reloaded") == 1
    });
    assert!(c.log_text().contains("kept"), "{}", c.log_text());
    wait_for("b's 20 waiting lines", WAIT, total(70));
    append(&a, &lines("shop-example-com", "a", 50..80));
    append(&b, &lines("blog-example-com", "b", 20..30));
    wait_for("110 lines", WAIT, total(110));
    // The windows went on: the 50 lines before the reload still count.
    wait_for("shop's 80 requests in 1m", WAIT, || {
        site_requests(port, "shop-example-com") == 80
    });

    // 2. A config with a problem: refused, the running one stays.
    std::fs::write(
        &cfg,
        "tail:\n  sources: []\n  poll_ms: 1\nsites:\n  max_site: 3\n",
    )
    .unwrap();
    sighup(&c);
    wait_for("the refusal", WAIT, || {
        c.log_text().contains("reload refused")
    });
    let log = c.log_text();
    let cfg_name = cfg.display().to_string();
    assert!(
        log.contains(&format!(
            "{cfg_name}:3:12: tail.poll_ms: must be between 10 and 60000, got 1"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("{cfg_name}:5:3: sites.max_site: unknown key")),
        "{log}"
    );
    assert!(
        c.child.try_wait().unwrap().is_none(),
        "died on a bad config:\n{log}"
    );
    assert_eq!(get_with(port, "/readyz", &[]).unwrap().0, 200);
    append(&a, &lines("shop-example-com", "a", 80..90));
    append(&b, &lines("blog-example-com", "b", 30..40));
    wait_for("130 lines", WAIT, total(130));

    // 3. The site section changes: a new pipeline; b is dropped.
    write_config(&d, &["a"], "sites:\n  max_sites: 500\n");
    sighup(&c);
    wait_for("the second reload", WAIT, || {
        count(&c.log_text(), "config reloaded") == 2
    });
    assert!(c.log_text().contains("restarted"), "{}", c.log_text());
    append(&a, &lines("shop-example-com", "a", 90..95));
    wait_for("135 lines", WAIT, total(135));
    // Counters carry over the reloads.
    wait_for("status counts every line", WAIT, || {
        json(port, "/api/v1/status")["lines"] == 135
    });
    c.sigterm(GRACE).unwrap();

    let seen = tapped(&tap);
    let mut want: Vec<String> = (0..95).map(|i| format!("/a/{i}")).collect();
    want.extend((0..40).map(|i| format!("/b/{i}")));
    want.sort();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "lines tapped more than once: {twice:?}");
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), want);

    // A restart with both sources reads nothing again: the checkpoint
    // followed every reload.
    write_config(&d, &["a", "b"], "");
    let mut c = Collector::start(
        BIN,
        &[Path::new("--config"), &cfg, Path::new("--tap"), &tap],
        &d.join("run-2.log"),
    );
    append(&a, &line("shop-example-com", "/a/95"));
    wait_for("the one new line", WAIT, total(136));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(tapped(&tap).values().sum::<u32>(), 136);
    c.sigterm(GRACE).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

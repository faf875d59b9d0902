//! `sitepulse run` on a node with thousands of pod log files and a file
//! descriptor limit far below their number: every line of every file is
//! read, files that go quiet give their descriptor back and are reopened by
//! identity when they grow (also when they are rotated while closed),
//! checkpoints are saved and HTTP answers throughout, and an idle file costs
//! little memory.
//!
//! CI runs 5,000 files under `RLIMIT_NOFILE` 1024/1024. The soak
//! (`tests/soak/many_files.sh`) runs 50,000:
//!
//! ```text
//! SITEPULSE_MANY_FILES=50000 cargo test --release -p sitepulse --test many_files -- --nocapture
//! ```
//!
//! Also `SITEPULSE_MANY_NOFILE` (soft=hard limit, default 1024) and
//! `SITEPULSE_MANY_TIMEOUT_SECS` (per phase, default 300).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sitepulse_tests::http::get_with;
use sitepulse_tests::{Collector, clf_time, tmpdir, unix_now};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const GRACE: Duration = Duration::from_secs(30);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
    })
}

/// Files per pod directory (a node's `/var/log/pods/<pod>/<container>/`).
const PER_DIR: usize = 100;

struct Farm {
    dir: PathBuf,
    /// Lines written per file, in order.
    written: Vec<u32>,
}

impl Farm {
    fn path(&self, k: usize) -> PathBuf {
        self.dir
            .join(format!("logs/pod-{:04}/f{k}.log", k / PER_DIR))
    }

    fn line(k: usize, i: u32) -> String {
        format!(
            "10.1.{}.{} - - [{}] \"GET /many/{k}/{i} HTTP/1.1\" 200 512 \"-\" \"probe\" {i} \"websecure-site{:03}-example-com@kubernetes\" \"http://10.42.0.9:80\" 3ms\n",
            k % 256,
            i % 256,
            clf_time(unix_now()),
            k % 500
        )
    }

    /// Appends `count` lines to file `k`.
    fn append(&mut self, k: usize, count: u32) {
        let mut text = String::new();
        for _ in 0..count {
            text.push_str(&Self::line(k, self.written[k]));
            self.written[k] += 1;
        }
        sitepulse_tests::append(&self.path(k), &text);
    }

    fn total(&self) -> u64 {
        self.written.iter().map(|&w| u64::from(w)).sum()
    }
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Waits until the tap holds `want` records, checking on the way that
/// HTTP answers; returns the status seen last.
fn wait_lines(c: &mut Collector, tap: &Path, want: u64, what: &str, timeout: Duration) {
    let start = Instant::now();
    let mut last;
    loop {
        if let Some(st) = c.child.try_wait().unwrap() {
            panic!("{what}: collector exited ({st}):\n{}", tail(&c.log_text()));
        }
        let lines = count_lines(tap);
        if lines >= want {
            println!(
                "  {what}: {lines} records in {:.1}s",
                start.elapsed().as_secs_f64()
            );
            return;
        }
        match get_with(c.port, "/readyz", &[]) {
            Ok((_, body)) => last = format!("tap {lines}/{want}, readyz: {body}"),
            Err(e) => last = format!("tap {lines}/{want}, HTTP failed: {e}"),
        }
        assert!(
            start.elapsed() < timeout,
            "{what}: not done in {:.0}s: {last}\n{}",
            timeout.as_secs_f64(),
            tail(&c.log_text())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tail(text: &str) -> &str {
    let mut at = text.len().saturating_sub(4000);
    while !text.is_char_boundary(at) {
        at += 1;
    }
    &text[at..]
}

fn count_lines(p: &Path) -> u64 {
    fs::read(p).map_or(0, |b| memchr_count(&b))
}

fn memchr_count(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// Every `/many/<k>/<i>` line written must be in the tap; none twice.
fn check_tap(tap: &Path, farm: &Farm) {
    let text = fs::read_to_string(tap).unwrap();
    let mut seen: HashMap<(usize, u32), u32> = HashMap::new();
    for l in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("tap line {l}: {e}"));
        let p = v["path"].as_str().unwrap_or_default();
        let (k, i) = p
            .strip_prefix("/many/")
            .and_then(|r| r.split_once('/'))
            .and_then(|(k, i)| Some((k.parse().ok()?, i.parse().ok()?)))
            .unwrap_or_else(|| panic!("tap line without a /many/ path: {l}"));
        *seen.entry((k, i)).or_default() += 1;
    }
    let mut missing = Vec::new();
    for (k, &w) in farm.written.iter().enumerate() {
        for i in 0..w {
            if !seen.contains_key(&(k, i)) {
                missing.push((k, i));
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
    let mut msg = String::new();
    if !missing.is_empty() {
        write!(
            msg,
            "{} lines missing, e.g. {:?}; ",
            missing.len(),
            &missing[..missing.len().min(10)]
        )
        .unwrap();
    }
    if !twice.is_empty() {
        write!(
            msg,
            "{} lines tapped twice, e.g. {:?}",
            twice.len(),
            &twice[..twice.len().min(10)]
        )
        .unwrap();
    }
    assert!(msg.is_empty(), "{msg}");
}

fn checkpoint_entries(path: &Path) -> usize {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["files"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn thousands_of_files_under_a_low_fd_limit() {
    let n = env_u64("SITEPULSE_MANY_FILES", 5000) as usize;
    let nofile = env_u64("SITEPULSE_MANY_NOFILE", 1024);
    let timeout = Duration::from_secs(env_u64("SITEPULSE_MANY_TIMEOUT_SECS", 300));
    let d = tmpdir("many", "files");
    let mut farm = Farm {
        dir: d.clone(),
        written: vec![0; n],
    };
    for k in 0..n {
        if k % PER_DIR == 0 {
            fs::create_dir_all(farm.path(k).parent().unwrap()).unwrap();
        }
        farm.append(k, 2);
    }
    let ckpt = d.join("state/checkpoints.json");
    let tap = d.join("tap.jsonl");
    let cfg = d.join("sitepulse.yaml");
    fs::write(
        &cfg,
        format!(
            "tail:
  sources:
    - include: [\"{d}/logs/*/*.log\"]
  read_existing: beginning
  ignore_older_secs: 0
  rescan_secs: 2
  checkpoint_path: \"{c}\"
  checkpoint_interval_ms: 500
server:
  listen: \"127.0.0.1:0\"
aggregate:
  request_sources: [traefik_clf]
",
            d = d.display(),
            c = ckpt.display()
        ),
    )
    .unwrap();
    let args = [
        "--config".as_ref(),
        cfg.as_os_str(),
        "--tap".as_ref(),
        tap.as_os_str(),
    ];
    println!(
        "many files: {n} files, RLIMIT_NOFILE {nofile}/{nofile}, dir {}",
        d.display()
    );
    let t0 = Instant::now();
    let mut c =
        Collector::start_with_nofile(BIN, &args, &d.join("run-1.log"), Some((nofile, nofile)));
    let pid = c.child.id();

    // Every file read at start.
    wait_lines(&mut c, &tap, farm.total(), "initial read", timeout);
    let (rss, hwm) = rss_kib(pid);
    println!(
        "  after the initial read: RSS {rss} KiB (peak {hwm} KiB), {} descriptors open, {:.1}s",
        open_fds(pid),
        t0.elapsed().as_secs_f64()
    );

    // Each file grows: reopened by identity, read from where it stopped.
    for k in 0..n {
        farm.append(k, 1);
    }
    wait_lines(
        &mut c,
        &tap,
        farm.total(),
        "one line more in every file",
        timeout,
    );

    // A tenth are rotated (rename and create) right after a last line:
    // the line in the renamed file is read too.
    for k in (0..n).step_by(10) {
        farm.append(k, 1);
        let p = farm.path(k);
        fs::rename(&p, p.with_extension("log.1")).unwrap();
        farm.append(k, 1);
    }
    wait_lines(&mut c, &tap, farm.total(), "rotation of a tenth", timeout);

    // Checkpoints saved for every file, HTTP answering, memory.
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpoint_entries(&ckpt) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let entries = checkpoint_entries(&ckpt);
    // Memory before the status document (megabytes of JSON for this many
    // files) is built: what the files cost, not one answer.
    let (rss, hwm) = rss_kib(pid);
    let (ready, body) = get_with(c.port, "/readyz", &[]).expect("/readyz answers");
    let status = c.status().expect("/api/v1/status answers");
    let fds = open_fds(pid);
    println!(
        "  idle: RSS {rss} KiB (peak {hwm} KiB) = {:.2} KiB per file, {fds} descriptors open, {entries} checkpoint entries, readyz {ready} {body}",
        rss as f64 / n as f64
    );
    assert!(
        entries >= n,
        "checkpoint has {entries} entries for {n} files"
    );
    assert_eq!(ready, 200, "/readyz: {body}");
    assert!(
        (fds as u64) < nofile,
        "{fds} descriptors open under a limit of {nofile}"
    );
    let tail = &status["tail"];
    println!(
        "  tail: {} descriptors of {} held, {} files parked ({} parks), {} waiting",
        tail["open_fds"], tail["max_open_fds"], tail["parked"], tail["parks"], tail["waiting"]
    );
    assert_eq!(tail["waiting"], 0, "{tail}");
    assert_eq!(tail["fd_exhausted"], false, "{tail}");
    c.sigterm(GRACE).expect("graceful stop");
    check_tap(&tap, &farm);

    // A restart reads nothing twice and picks up what was written while
    // it was down.
    for k in (0..n).step_by(7) {
        farm.append(k, 1);
    }
    let mut c =
        Collector::start_with_nofile(BIN, &args, &d.join("run-2.log"), Some((nofile, nofile)));
    wait_lines(&mut c, &tap, farm.total(), "restart", timeout);
    std::thread::sleep(Duration::from_secs(3));
    c.sigterm(GRACE).expect("graceful stop");
    check_tap(&tap, &farm);
    println!("many files: {:.1}s in all", t0.elapsed().as_secs_f64());
    if std::env::var_os("SITEPULSE_MANY_KEEP").is_none() {
        let _ = fs::remove_dir_all(&d);
    }
}

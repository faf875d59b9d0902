//! `sitepulse run` under abuse: writers append Traefik lines at a high rate
//! and rotate them (rename-and-create, copytruncate, symlink swap) while the
//! collector is SIGKILLed and restarted. Every line must reach the tap at
//! least once, a line tapped twice must carry the same dedup key both times,
//! and after graceful (SIGTERM) restarts nothing is tapped twice.
//!
//! Sizes come from the environment; the default is CI-sized (debug build,
//! 2 cores). The large run:
//!
//! ```text
//! SITEPULSE_TORTURE_WRITERS=24 SITEPULSE_TORTURE_KILLS=10 SITEPULSE_TORTURE_RATE=5000 \
//!     cargo test --release -p sitepulse --test torture -- --nocapture
//! ```
//!
//! Also `SITEPULSE_TORTURE_SEED` (replays batch sizes, rotation and kill
//! timing) and `SITEPULSE_TORTURE_CATCHUP_SECS` (how long the collector may
//! take to catch up, default 60).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sitepulse_tests::{Collector, clf_time, open_append, unix_now};

/// Rotated generations kept next to the live file (`.1` … `.5`, or five old
/// symlink targets); the sixth oldest is deleted at each rotation.
const KEEP: usize = 5;
/// How long tap size and `behind_bytes == 0` must hold to count as caught
/// up: longer than `rescan_secs` so a file found by the rescan still counts.
const SETTLE: Duration = Duration::from_millis(2000);
/// SIGTERM to exit.
const GRACE: Duration = Duration::from_secs(10);
/// The user agent of the first line of `samples/traefik_clf.log`.
const UA: &str = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36";

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `app.log` → `app.log.1` (shifting `.1` → `.2` …), new `app.log`.
    RenameCreate,
    /// Copy `app.log` to `app.log.1`, truncate `app.log` to 0.
    CopyTruncate,
    /// `app.log` is a symlink to `data-N.txt`, swapped by rename to `data-(N+1).txt`.
    SymlinkSwap,
}

/// One file's worth of consecutive sequence numbers, for telling a missing
/// line's fate (was its file rotated, deleted, when).
#[derive(Debug, Clone)]
struct Gen {
    seqs: Range<u64>,
    rotated_at: Option<Duration>,
    evicted_at: Option<Duration>,
}

/// One log writer: owns `logs/w<i>.log` and its rotations. Writing and
/// rotating happen on one thread, so nothing is written between a copy and
/// its truncate (a well-behaved copytruncate).
struct Writer {
    i: usize,
    style: Style,
    logs: PathBuf,
    out: BufWriter<File>,
    /// The next sequence number; also how many lines were written.
    next: u64,
    gens: Vec<Gen>,
    t0: Instant,
}

impl Writer {
    fn new(i: usize, logs: &Path, t0: Instant) -> Writer {
        let style = match i % 3 {
            0 => Style::RenameCreate,
            1 => Style::CopyTruncate,
            _ => Style::SymlinkSwap,
        };
        let base = logs.join(format!("w{i}.log"));
        let file = match style {
            Style::SymlinkSwap => {
                let target = logs.join(format!("w{i}-data-0.txt"));
                let f = open_append(&target);
                std::os::unix::fs::symlink(&target, &base).unwrap();
                f
            }
            _ => open_append(&base),
        };
        Writer {
            i,
            style,
            logs: logs.to_owned(),
            out: BufWriter::new(file),
            next: 0,
            gens: vec![Gen {
                seqs: 0..0,
                rotated_at: None,
                evicted_at: None,
            }],
            t0,
        }
    }

    fn base(&self) -> PathBuf {
        self.logs.join(format!("w{}.log", self.i))
    }

    fn rotated(&self, k: usize) -> PathBuf {
        self.logs.join(format!("w{}.log.{k}", self.i))
    }

    /// A symlink target; `.txt`, so the `*.log` glob does not match it.
    fn data(&self, g: usize) -> PathBuf {
        self.logs.join(format!("w{}-data-{g}.txt", self.i))
    }

    fn rotations(&self) -> usize {
        self.gens.len() - 1
    }

    fn write_lines(&mut self, count: u64) {
        let ts = clf_time(unix_now());
        let i = self.i;
        for _ in 0..count {
            let n = self.next;
            writeln!(
                self.out,
                "10.42.{}.{} - - [{ts}] \"GET /seq/{i}/{n} HTTP/1.1\" 200 45865 \"-\" \"{UA}\" {n} \"websecure-site{i:03}-example-com@kubernetes\" \"http://10.42.17.7:80\" 27ms",
                i % 256,
                n % 256,
            )
            .unwrap();
            self.next += 1;
        }
        self.out.flush().unwrap();
        self.gens.last_mut().unwrap().seqs.end = self.next;
    }

    /// `.4` → `.5` (deleting the old `.5`), …, `.1` → `.2`.
    fn shift(&self) {
        for k in (1..KEEP).rev() {
            let from = self.rotated(k);
            if from.exists() {
                fs::rename(&from, self.rotated(k + 1)).unwrap();
            }
        }
    }

    fn rotate(&mut self) {
        self.out.flush().unwrap();
        let r = self.rotations();
        match self.style {
            Style::RenameCreate => {
                self.shift();
                fs::rename(self.base(), self.rotated(1)).unwrap();
                let f = OpenOptions::new()
                    .create_new(true)
                    .append(true)
                    .open(self.base())
                    .unwrap();
                self.out = BufWriter::new(f);
            }
            Style::CopyTruncate => {
                self.shift();
                fs::copy(self.base(), self.rotated(1)).unwrap();
                self.out.get_ref().set_len(0).unwrap();
            }
            Style::SymlinkSwap => {
                let f = open_append(&self.data(r + 1));
                let tmp = self.logs.join(format!("w{}.log.tmp", self.i));
                std::os::unix::fs::symlink(self.data(r + 1), &tmp).unwrap();
                fs::rename(&tmp, self.base()).unwrap();
                if r >= KEEP {
                    fs::remove_file(self.data(r - KEEP)).unwrap();
                }
                self.out = BufWriter::new(f);
            }
        }
        let now = self.t0.elapsed();
        self.gens[r].rotated_at = Some(now);
        if r >= KEEP {
            self.gens[r - KEEP].evicted_at = Some(now);
        }
        self.gens.push(Gen {
            seqs: self.next..self.next,
            rotated_at: None,
            evicted_at: None,
        });
    }

    /// The generation sequence number `n` was written to.
    fn gen_of(&self, n: u64) -> Option<&Gen> {
        self.gens
            .get(self.gens.partition_point(|g| g.seqs.end <= n))
    }

    /// Whether `n`'s generation was deleted inside one of the `down`
    /// windows (no collector could have opened it).
    fn deleted_while_down(&self, n: u64, down: &[(Duration, Duration)]) -> bool {
        self.gen_of(n)
            .and_then(|g| g.evicted_at)
            .is_some_and(|e| down.iter().any(|(from, to)| (*from..=*to).contains(&e)))
    }

    /// Where sequence number `n` was written, for failure reports.
    fn describe(&self, n: u64) -> String {
        let g = self.gens.partition_point(|g| g.seqs.end <= n);
        let Some(gn) = self.gens.get(g) else {
            return format!("n={n} past the last generation");
        };
        let mut s = format!("generation {g} (n {}..{})", gn.seqs.start, gn.seqs.end);
        if let Some(t) = gn.rotated_at {
            write!(s, ", rotated at {}", secs(t)).unwrap();
        }
        if let Some(t) = gn.evicted_at {
            write!(s, ", deleted at {}", secs(t)).unwrap();
        }
        s
    }
}

/// Writes `rate` lines/s in batches of 50–200, rotating every 300–500 ms,
/// until `stop`; hands the writer back.
fn spawn_writer(mut w: Writer, rate: u64, stop: Arc<AtomicBool>, seed: u64) -> JoinHandle<Writer> {
    thread::spawn(move || {
        let mut rng = SmallRng::seed_from_u64(seed);
        let start = Instant::now();
        let first = w.next;
        let mut next_rotation = start + ms(rng.random_range(300..=500));
        while !stop.load(Ordering::Relaxed) {
            w.write_lines(rng.random_range(50..=200));
            let now = Instant::now();
            if now >= next_rotation {
                w.rotate();
                next_rotation = now + ms(rng.random_range(300..=500));
            }
            let due = start + Duration::from_secs_f64((w.next - first) as f64 / rate as f64);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                thread::sleep(d);
            }
        }
        w
    })
}

/// The test's directory; removed on success, kept (with the collector's
/// stderr printed) on failure.
struct Scene {
    dir: PathBuf,
    logs: PathBuf,
    config: PathBuf,
    tap: PathBuf,
    stop: Arc<AtomicBool>,
    /// The tap's size when each collector run started: which run tapped a
    /// line.
    run_starts: Vec<u64>,
    /// When no collector could read: from a kill (or the start of the test)
    /// to the moment the next run answered `/readyz` (its first scan done,
    /// the files the checkpoint names open). A generation deleted inside
    /// such a window took its unread lines with it: a loss by nature.
    down: Vec<(Duration, Duration)>,
}

impl Scene {
    fn new() -> Scene {
        let dir = std::env::temp_dir().join(format!("sitepulse-torture-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let logs = dir.join("logs");
        fs::create_dir_all(&logs).unwrap();
        fs::create_dir_all(dir.join("state")).unwrap();
        let config = dir.join("sitepulse.yaml");
        let d = dir.display();
        fs::write(
            &config,
            format!(
                "tail:
  sources:
    - include: [\"{d}/logs/*.log\"]
  read_existing: beginning
  ignore_older_secs: 0
  rescan_secs: 1
  checkpoint_path: \"{d}/state/checkpoints.json\"
  checkpoint_interval_ms: 200
server:
  listen: \"127.0.0.1:0\"
aggregate:
  request_sources: [traefik_clf]
"
            ),
        )
        .unwrap();
        Scene {
            tap: dir.join("tap.jsonl"),
            dir,
            logs,
            config,
            stop: Arc::new(AtomicBool::new(false)),
            run_starts: Vec::new(),
            down: Vec::new(),
        }
    }

    fn tap_len(&self) -> u64 {
        fs::metadata(&self.tap).map_or(0, |m| m.len())
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if !thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
            return;
        }
        eprintln!(
            "torture: FAILED; left {} for inspection",
            self.dir.display()
        );
        let mut logs: Vec<PathBuf> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "stderr"))
            .collect();
        logs.sort();
        for p in logs {
            let text = fs::read(&p).unwrap_or_default();
            let tail = &text[text.len().saturating_sub(8000)..];
            eprintln!(
                "---- {} ({} bytes, last {}) ----\n{}",
                p.display(),
                text.len(),
                tail.len(),
                String::from_utf8_lossy(tail)
            );
        }
    }
}

/// Starts collector run number `run` (output to `collector-NN.log`), the
/// collector having been down since `down_since`; returns once it is ready
/// (or after 30 s: a run that never becomes ready fails later).
fn start(sc: &mut Scene, run: usize, down_since: Duration, t0: Instant) -> Collector {
    let col = start_only(sc, run);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && sitepulse_tests::http::get(col.port, "/readyz").is_err() {
        thread::sleep(ms(5));
    }
    sc.down.push((down_since, t0.elapsed()));
    col
}

fn start_only(sc: &mut Scene, run: usize) -> Collector {
    assert_eq!(sc.run_starts.len(), run);
    sc.run_starts.push(sc.tap_len());
    let log = sc.dir.join(format!("collector-{run:02}.log"));
    let args = [
        "--config".as_ref(),
        sc.config.as_os_str(),
        "--tap".as_ref(),
        sc.tap.as_os_str(),
    ];
    Collector::start(env!("CARGO_BIN_EXE_sitepulse"), &args, &log)
}

/// Polls status until `behind_bytes` is 0 and the tap has not grown for
/// [`SETTLE`]; returns the last status.
fn catch_up(col: &mut Collector, sc: &Scene, timeout: Duration) -> Result<Value, String> {
    let start = Instant::now();
    let mut last_len = u64::MAX;
    let mut settled_since = Instant::now();
    loop {
        if let Some(st) = col.child.try_wait().unwrap() {
            return Err(format!("collector exited while catching up: {st}"));
        }
        let len = sc.tap_len();
        let last = match col.status() {
            Ok(st) => {
                let behind = st["behind_bytes"].as_u64();
                if behind.is_none() {
                    return Err(format!("status has no behind_bytes: {st}"));
                }
                if behind != Some(0) || len != last_len {
                    settled_since = Instant::now();
                } else if settled_since.elapsed() >= SETTLE {
                    return Ok(st);
                }
                st.to_string()
            }
            Err(e) => {
                settled_since = Instant::now();
                e
            }
        };
        last_len = len;
        if start.elapsed() > timeout {
            return Err(format!(
                "not caught up after {}: tap {len} bytes, last status {last}",
                secs(timeout)
            ));
        }
        thread::sleep(ms(100));
    }
}

/// One tapped record of a `/seq/<w>/<n>` line.
#[derive(Debug)]
struct Rec {
    line: usize,
    /// The collector run that tapped it.
    run: usize,
    w: usize,
    n: u64,
    key: String,
    file: String,
    offset: u64,
}

struct Tap {
    recs: Vec<Rec>,
    /// Lines in the file (`\n`-terminated or not).
    lines: usize,
    /// Lines that were not one JSON record (line number, start of text).
    torn: Vec<(usize, String)>,
    /// Records whose path is not a `/seq/` path.
    foreign: Vec<String>,
}

impl Rec {
    /// `file@offset key`, with the file's name only.
    fn at(&self) -> String {
        let name = Path::new(&self.file)
            .file_name()
            .map_or(self.file.clone(), |n| n.to_string_lossy().into_owned());
        format!("{name}@{} key {}", self.offset, self.key)
    }
}

fn parse_rec(line: usize, run: usize, text: &str) -> Result<Rec, Option<String>> {
    let v: Value = serde_json::from_str(text).map_err(|_| None)?;
    let path = v["path"].as_str().unwrap_or_default();
    let seq = path
        .strip_prefix("/seq/")
        .and_then(|s| s.split_once('/'))
        .and_then(|(w, n)| Some((w.parse().ok()?, n.parse().ok()?)));
    let Some((w, n)) = seq else {
        return Err(Some(text.to_owned()));
    };
    Ok(Rec {
        line,
        run,
        w,
        n,
        key: v["key"].as_str().unwrap_or("<no key>").to_owned(),
        file: v["file"].as_str().unwrap_or("<no file>").to_owned(),
        offset: v["end_offset"].as_u64().unwrap_or(u64::MAX),
    })
}

/// Reads the tap; `run_starts` attributes each record to a run.
fn read_tap(path: &Path, run_starts: &[u64]) -> Tap {
    let bytes = fs::read(path).unwrap_or_default();
    let run_at = |off: usize| {
        run_starts
            .partition_point(|&s| s <= off as u64)
            .saturating_sub(1)
    };
    let mut tap = Tap {
        recs: Vec::new(),
        lines: 0,
        torn: Vec::new(),
        foreign: Vec::new(),
    };
    let mut pos = 0;
    for (i, raw) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let start = pos;
        pos += raw.len();
        tap.lines += 1;
        let l = String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(raw));
        match parse_rec(i, run_at(start), &l) {
            Ok(r) => tap.recs.push(r),
            Err(Some(f)) => tap.foreign.push(f),
            Err(None) => {
                tap.torn.push((i, l.chars().take(200).collect()));
                // A record appended after a torn one (a kill mid-write).
                if let Some(at) = l.rfind("{\"key\":").filter(|&at| at > 0)
                    && let Ok(r) = parse_rec(i, run_at(start + at), &l[at..])
                {
                    tap.recs.push(r);
                }
            }
        }
    }
    tap
}

/// What [`check`] counted.
struct Counts {
    expected: u64,
    tapped: usize,
    unique: u64,
    duplicates: usize,
    /// Missing lines whose generation was deleted while no collector could
    /// read it: lost by nature, reported apart and not a failure.
    lost_by_nature: u64,
    /// Every other missing line: a bug.
    missing: u64,
}

/// Checks that `recs` hold every sequence number in `expect[w]` for each
/// writer; with `once`, none twice, else repeats must share their key.
/// Failures go to `fails`, with the writers' history as evidence.
fn check(
    what: &str,
    recs: &[&Rec],
    expect: &[Range<u64>],
    once: bool,
    writers: &[Writer],
    down: &[(Duration, Duration)],
    fails: &mut Vec<String>,
) -> Counts {
    let mut seen: Vec<HashMap<u64, Vec<&Rec>>> = vec![HashMap::new(); expect.len()];
    let mut outside = Vec::new();
    for r in recs {
        if r.w < expect.len() && expect[r.w].contains(&r.n) {
            seen[r.w].entry(r.n).or_default().push(r);
        } else {
            outside.push(r);
        }
    }
    if !outside.is_empty() {
        let mut msg = format!(
            "{what}: {} records outside the expected sequence numbers, e.g.:",
            outside.len()
        );
        for r in outside.iter().take(10) {
            write!(msg, "\n  w{} n={} (tap line {}) {r:?}", r.w, r.n, r.line).unwrap();
        }
        fails.push(msg);
    }
    let mut counts = Counts {
        expected: 0,
        tapped: recs.len(),
        unique: 0,
        duplicates: 0,
        lost_by_nature: 0,
        missing: 0,
    };
    for (w, range) in expect.iter().enumerate() {
        let writer = &writers[w];
        counts.expected += range.end - range.start;
        counts.unique += seen[w].len() as u64;
        // Missing sequence numbers, as runs, split by their fate: a line
        // whose generation was deleted inside a down window was lost by
        // nature; any other missing line is a bug.
        let mut runs: Vec<Range<u64>> = Vec::new();
        let mut natural: Vec<Range<u64>> = Vec::new();
        for n in range.clone() {
            if seen[w].contains_key(&n) {
                continue;
            }
            let runs = if writer.deleted_while_down(n, down) {
                &mut natural
            } else {
                &mut runs
            };
            match runs.last_mut() {
                Some(run) if run.end == n => run.end = n + 1,
                _ => runs.push(n..n + 1),
            }
        }
        let total = |runs: &[Range<u64>]| runs.iter().map(|r| r.end - r.start).sum::<u64>();
        counts.lost_by_nature += total(&natural);
        counts.missing += total(&runs);
        if !natural.is_empty() {
            let mut msg = format!(
                "{what}: w{w} ({:?}) lost by nature {} lines (generation deleted while no collector ran):",
                writer.style,
                total(&natural)
            );
            for run in natural.iter().take(4) {
                write!(
                    msg,
                    "\n  n {}..{} in {}",
                    run.start,
                    run.end,
                    writer.describe(run.start)
                )
                .unwrap();
            }
            println!("{msg}");
        }
        if !runs.is_empty() {
            let missing = total(&runs);
            let mut msg = format!(
                "{what}: w{w} ({:?}) missing {missing} of {} lines in {} runs (not a loss by nature):",
                writer.style,
                range.end - range.start,
                runs.len()
            );
            for run in runs.iter().take(10) {
                write!(
                    msg,
                    "\n  n {}..{} ({} lines), first in {}",
                    run.start,
                    run.end,
                    run.end - run.start,
                    writer.describe(run.start)
                )
                .unwrap();
                for n in [run.start.checked_sub(1), Some(run.end)]
                    .into_iter()
                    .flatten()
                {
                    if let Some(occ) = seen[w].get(&n) {
                        write!(msg, "\n    n={n} tapped by").unwrap();
                        for r in occ {
                            write!(msg, " [run {} from {}]", r.run, r.at()).unwrap();
                        }
                    }
                }
            }
            fails.push(msg);
        }
        let mut bad = Vec::new();
        let mut dup_ns: Vec<_> = seen[w].iter().filter(|(_, v)| v.len() > 1).collect();
        dup_ns.sort_by_key(|(n, _)| **n);
        for (n, occ) in dup_ns {
            counts.duplicates += occ.len() - 1;
            if once || occ.iter().any(|r| r.key != occ[0].key) {
                bad.push((*n, occ));
            }
        }
        if !bad.is_empty() {
            let mut msg = if once {
                format!(
                    "{what}: w{w} ({:?}): {} lines tapped more than once:",
                    writer.style,
                    bad.len()
                )
            } else {
                format!(
                    "{what}: w{w} ({:?}): {} lines tapped again under another key:",
                    writer.style,
                    bad.len()
                )
            };
            for (n, occ) in bad.iter().take(8) {
                write!(msg, "\n  n={n} in {}:", writer.describe(*n)).unwrap();
                for r in occ.iter() {
                    write!(msg, "\n    tap line {} (run {}): {}", r.line, r.run, r.at()).unwrap();
                }
            }
            fails.push(msg);
        }
    }
    counts
}

fn report_tap_damage(what: &str, tap: &Tap, from_line: usize, fails: &mut Vec<String>) {
    let torn: Vec<_> = tap.torn.iter().filter(|(l, _)| *l >= from_line).collect();
    if !torn.is_empty() {
        // Not a failure by itself: a torn record is re-tapped from the
        // checkpoint; a record lost with it shows up as missing.
        println!("{what}: {} tap lines are not one JSON record:", torn.len());
        for (l, t) in torn.iter().take(5) {
            println!("  tap line {l}: {t}");
        }
    }
    if !tap.foreign.is_empty() {
        fails.push(format!(
            "{what}: {} tapped records without a /seq/ path, e.g. {}",
            tap.foreign.len(),
            tap.foreign[0]
        ));
    }
}

#[test]
fn torture_sigkill_restarts_lose_nothing() {
    let n_writers = env_u64("SITEPULSE_TORTURE_WRITERS", 6) as usize;
    let kills = env_u64("SITEPULSE_TORTURE_KILLS", 3);
    let rate = env_u64("SITEPULSE_TORTURE_RATE", 5000).max(1);
    let seed = env_u64(
        "SITEPULSE_TORTURE_SEED",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    let catch_up_limit = Duration::from_secs(env_u64("SITEPULSE_TORTURE_CATCHUP_SECS", 60));
    let t0 = Instant::now();
    let mut scene = Scene::new();
    println!(
        "torture: {n_writers} writers at {rate} lines/s, {kills} kills, SITEPULSE_TORTURE_SEED={seed}, dir {}",
        scene.dir.display()
    );
    let mut fails: Vec<String> = Vec::new();
    let mut rng = SmallRng::seed_from_u64(seed);

    // 1–2. Writers rotate at full speed while the collector is killed.
    let handles: Vec<_> = (0..n_writers)
        .map(|i| {
            let w = Writer::new(i, &scene.logs, t0);
            spawn_writer(w, rate, scene.stop.clone(), seed ^ (i as u64 + 1))
        })
        .collect();
    let mut run = 0;
    let mut col = start(&mut scene, run, Duration::ZERO, t0);
    for k in 1..=kills {
        thread::sleep(ms(rng.random_range(1000..=1500)));
        let st = col.status();
        let at = t0.elapsed();
        let killed = col.sigkill();
        println!(
            "  kill {k} of run {run} at {}: behind_bytes {}, lines {}",
            secs(at),
            st.as_ref()
                .map_or("?".into(), |s| s["behind_bytes"].to_string()),
            st.as_ref()
                .map_or_else(|e| e.clone(), |s| s["lines"].to_string()),
        );
        if let Err(e) = killed {
            fails.push(format!("run {run}: {e}"));
        }
        run += 1;
        col = start(&mut scene, run, at, t0);
    }
    thread::sleep(ms(rng.random_range(1000..=1500)));
    scene.stop.store(true, Ordering::Relaxed);
    let mut writers: Vec<Writer> = handles
        .into_iter()
        .map(|h| h.join().expect("writer thread panicked"))
        .collect();
    let stopped = t0.elapsed();
    match catch_up(&mut col, &scene, catch_up_limit) {
        Ok(st) => println!(
            "  caught up {} after the writers stopped: lines {}",
            secs(t0.elapsed() - stopped),
            st["lines"]
        ),
        Err(e) => fails.push(format!("run {run}: {e}")),
    }
    if let Err(e) = col.sigterm(GRACE) {
        fails.push(format!("run {run}: {e}"));
    }

    // 3. Every line at least once; repeats under one key.
    let tap = read_tap(&scene.tap, &scene.run_starts);
    report_tap_damage("kill phase", &tap, 0, &mut fails);
    let written: Vec<u64> = writers.iter().map(|w| w.next).collect();
    let expect: Vec<Range<u64>> = written.iter().map(|&n| 0..n).collect();
    let recs: Vec<&Rec> = tap.recs.iter().collect();
    let c = check(
        "kill phase",
        &recs,
        &expect,
        false,
        &writers,
        &scene.down,
        &mut fails,
    );
    println!(
        "kill phase: written {}, tapped {}, unique {}, duplicates {}, lost by nature {}, missing {}, torn tap lines {}",
        c.expected,
        c.tapped,
        c.unique,
        c.duplicates,
        c.lost_by_nature,
        c.missing,
        tap.torn.len()
    );
    for w in &writers {
        println!(
            "  w{} {:?}: {} lines, {} rotations",
            w.i,
            w.style,
            w.next,
            w.rotations()
        );
    }

    // 4. Graceful restarts re-tap nothing and lose nothing (each writer
    // rotates once in the middle of its batch).
    let noted = tap.lines;
    drop(tap);
    let batch = (rate / 5).max(100);
    for _ in 0..2 {
        run += 1;
        let mut col = start(&mut scene, run, t0.elapsed(), t0);
        for w in &mut writers {
            w.write_lines(batch / 2);
            w.rotate();
            w.write_lines(batch - batch / 2);
        }
        if let Err(e) = catch_up(&mut col, &scene, catch_up_limit) {
            fails.push(format!("run {run}: {e}"));
        }
        if let Err(e) = col.sigterm(GRACE) {
            fails.push(format!("run {run}: {e}"));
        }
    }
    let tap = read_tap(&scene.tap, &scene.run_starts);
    report_tap_damage("clean phase", &tap, noted, &mut fails);
    let expect: Vec<Range<u64>> = writers
        .iter()
        .zip(&written)
        .map(|(w, &from)| from..w.next)
        .collect();
    let recs: Vec<&Rec> = tap.recs.iter().filter(|r| r.line >= noted).collect();
    // Nothing is deleted while the collector is down in this phase.
    let c = check(
        "clean phase",
        &recs,
        &expect,
        true,
        &writers,
        &[],
        &mut fails,
    );
    println!(
        "clean phase: written {}, tapped {}, unique {}, duplicates {}, missing {}",
        c.expected, c.tapped, c.unique, c.duplicates, c.missing
    );
    println!("torture: {} in all", secs(t0.elapsed()));

    assert!(fails.is_empty(), "\n{}", fails.join("\n"));
}

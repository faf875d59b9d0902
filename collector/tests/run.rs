//! `sitepulse run` as a user meets it: the HTTP endpoints over live files,
//! a graceful stop and restart that reads nothing twice, and config errors
//! that name the file, line and field.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sitepulse_tests::http::{get, get_with, json};
use sitepulse_tests::{Collector, append, clf_line as clf, tmpdir, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");

fn config(d: &Path) -> PathBuf {
    config_with(d, &d.join("ckpt.json"), "")
}

/// The test config with the checkpoint at `ckpt` and `extra` lines added
/// to the `tail:` section.
fn config_with(d: &Path, ckpt: &Path, extra: &str) -> PathBuf {
    let p = d.join("sitepulse.yaml");
    std::fs::write(
        &p,
        format!(
            "tail:\n  sources:\n    - include: [\"{}/logs/*.log\"]\n  read_existing: beginning\n  checkpoint_path: \"{}\"\n  checkpoint_interval_ms: 100\n{extra}server:\n  listen: \"127.0.0.1:0\"\n",
            d.display(),
            ckpt.display()
        ),
    )
    .unwrap();
    p
}

fn start(d: &Path, cfg: &Path, n: usize) -> Collector {
    Collector::start(
        BIN,
        &[Path::new("--config"), cfg],
        &d.join(format!("run-{n}.log")),
    )
}

const WAIT: Duration = Duration::from_secs(10);
const GRACE: Duration = Duration::from_secs(10);

#[test]
fn endpoints_serve_live_sites_and_a_restart_reads_nothing_twice() {
    let d = tmpdir("run", "live");
    let log = d.join("logs/access.log");
    let mut text = String::new();
    for i in 0..90 {
        text.push_str(&clf(
            "shop-example-com",
            if i % 10 == 0 { 502 } else { 200 },
            40,
        ));
    }
    for _ in 0..10 {
        text.push_str(&clf("blog-example-com", 200, 900));
    }
    append(&log, &text);
    let cfg = config(&d);
    let mut c = start(&d, &cfg, 1);
    let port = c.port;

    wait_for("100 lines", WAIT, || {
        json(port, "/api/v1/status")["lines"] == 100
    });
    // Appended lines are picked up (inotify).
    append(&log, "not a log line\n");
    wait_for("the bad line", WAIT, || {
        json(port, "/api/v1/status")["lines"] == 101
    });

    let sites = json(port, "/api/v1/sites");
    let list = sites["sites"].as_array().unwrap();
    assert_eq!(list[0]["site"], "shop-example-com", "{sites}");
    let m1 = &list[0]["1m"];
    assert_eq!(m1["requests"], 90);
    // The rate divides by the seconds the window covers since the start
    // (or since the first line read, when older): a few here.
    let covered = m1["covered_secs"].as_f64().unwrap();
    assert!(covered > 0.0 && covered < 60.0, "{m1}");
    assert!(
        (m1["rps"].as_f64().unwrap() - 90.0 / covered).abs() < 0.01 * 90.0 / covered,
        "{m1}"
    );
    assert!(
        (m1["error_ratio"].as_f64().unwrap() - 0.1).abs() < 1e-9,
        "{m1}"
    );
    let p50 = m1["p50_ms"].as_f64().unwrap();
    assert!((39.0..41.0).contains(&p50), "{m1}");
    let blog = list
        .iter()
        .find(|s| s["site"] == "blog-example-com")
        .unwrap();
    assert!(blog["5m"]["p99_ms"].as_f64().unwrap() > 880.0, "{blog}");

    let status = json(port, "/api/v1/status");
    let f = &status["files"][0];
    assert_eq!(f["path"], log.display().to_string());
    assert_eq!(f["behind_bytes"], 0);
    // Every line is a record: the bad one too (as `text`, with its reason
    // counted as a parse error).
    assert_eq!(status["sources"]["traefik_clf"]["records"], 101);
    assert_eq!(
        status["sources"]["traefik_clf"]["parse_errors"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        1
    );
    assert_eq!(status["tail"]["inotify"], true);

    let metrics = get(port, "/metrics").unwrap();
    assert!(
        metrics.contains("sitepulse_read_lines_total{format=\"traefik_clf\"} 101"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE sitepulse_checkpoint_age_seconds gauge"));
    c.sigterm(GRACE).unwrap();

    // A graceful restart resumes at the checkpoint: only new lines count.
    append(&log, &clf("shop-example-com", 200, 40));
    let mut c = start(&d, &cfg, 2);
    let port = c.port;
    wait_for("the new line", WAIT, || {
        json(port, "/api/v1/status")["lines"] == 1
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(json(port, "/api/v1/status")["lines"], 1);
    c.sigterm(GRACE).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn config_errors_name_file_line_and_field() {
    let d = tmpdir("run", "badcfg");
    let p = d.join("bad.yaml");
    std::fs::write(
        &p,
        "tail:\n  sources:\n    - include: [\"/ok/*.log\"]\n    - format: auto\n      include: [\"/var/log/[\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:5:17: tail.sources[1].include[0]", p.display())),
        "{err}"
    );
    std::fs::write(&p, "server:\n  listen: \"localhost\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:2:11: server.listen", p.display())),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn demo_runs_from_a_copy_of_the_binary_with_its_samples_embedded() {
    let d = tmpdir("run", "demo");
    // A copy far from the build tree: nothing may be found through the
    // source path the binary was built from.
    let bin = d.join("sitepulse-copy");
    std::fs::copy(BIN, &bin).unwrap();
    let demo = d.join("demo");
    let mut c = Collector::start(
        bin.to_str().unwrap(),
        &[
            Path::new("--demo"),
            &demo,
            Path::new("--listen"),
            Path::new("127.0.0.1:0"),
        ],
        &d.join("demo.log"),
    );
    let sample_lines: usize = sitepulse::demo::SAMPLES
        .iter()
        .map(|(_, b)| b.iter().filter(|&&c| c == b'\n').count())
        .sum();
    for (rel, bytes) in sitepulse::demo::SAMPLES {
        // The live writer appends to some of them (wordpress/debug.log).
        let on_disk = std::fs::read(demo.join(rel)).unwrap();
        assert!(on_disk.starts_with(bytes), "{rel}");
    }
    // Every sample line is read, and the live writer adds more.
    wait_for("the samples and live lines", WAIT, || {
        json(c.port, "/api/v1/status")["lines"]
            .as_u64()
            .is_some_and(|n| n > sample_lines as u64)
    });
    let sites = json(c.port, "/api/v1/sites");
    assert!(sites["sites"].as_array().unwrap().len() > 5, "{sites}");
    c.sigterm(GRACE).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

/// `/readyz`: its status and body.
fn readyz(port: u16) -> (u16, String) {
    get_with(port, "/readyz", &[]).unwrap()
}

/// The value of an unlabelled sample in `/metrics`.
fn metric(port: u16, name: &str) -> f64 {
    let text = get(port, "/metrics").unwrap();
    let line = text
        .lines()
        .find(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"));
    line[name.len() + 1..].parse().unwrap()
}

/// Names in `dir` that end in `.tmp`.
fn tmp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// Issue 13 (3): checkpoint saves that fail show in /readyz, /metrics and
/// the log (once per change, not per try); a failed final save makes the
/// exit non-zero with the cause, and no temporary file is left. The save
/// is broken by turning the checkpoint's path into a directory (so the
/// rename fails after the temporary file was written), which works as
/// root too, where a read-only directory does not stop writes.
#[test]
fn issue_13_failed_checkpoint_saves_are_reported_and_fail_the_exit() {
    let d = tmpdir("run", "ckptfail");
    let log = d.join("logs/access.log");
    let ckpt = d.join("ckpt.json");
    append(&log, &clf("shop-example-com", 200, 40));
    // What a save that crashed midway leaves: removed at start.
    let stale = d.join("ckpt.json.tmp");
    std::fs::write(&stale, "{\"version\":1,\"writ").unwrap();
    let cfg = config(&d);
    let mut c = start(&d, &cfg, 1);
    let port = c.port;
    wait_for("the first save", WAIT, || {
        ckpt.is_file() && json(port, "/api/v1/status")["checkpoint"]["saves"].as_u64() > Some(0)
    });
    // Every save writes this same temporary name for a moment, so the
    // check is on the crashed save's bytes, not on the name.
    assert!(std::fs::read(&stale).map_or(true, |b| b != b"{\"version\":1,\"writ"));
    assert!(c.log_text().contains("ckpt.json.tmp"), "{}", c.log_text());
    assert_eq!(readyz(port).0, 200);

    let break_saves = || {
        std::fs::remove_file(&ckpt).unwrap();
        std::fs::create_dir(&ckpt).unwrap();
        append(&log, &clf("shop-example-com", 200, 40));
    };
    break_saves();
    wait_for("/readyz 503", WAIT, || readyz(port).0 == 503);
    let (_, why) = readyz(port);
    assert!(
        why.contains("checkpoint saves are failing") && why.contains("ckpt.json"),
        "{why}"
    );
    assert_eq!(metric(port, "sitepulse_checkpoint_failing"), 1.0);
    let failures = metric(port, "sitepulse_checkpoint_save_failures_total");
    assert!(failures >= 1.0, "{failures}");
    // Retries every 100 ms (published once a second); the log says it once.
    wait_for("more failures", WAIT, || {
        metric(port, "sitepulse_checkpoint_save_failures_total") > failures + 3.0
    });
    let text = c.log_text();
    assert_eq!(
        text.matches("checkpoint saves are failing").count(),
        1,
        "{text}"
    );
    assert_eq!(tmp_files(&d), Vec::<String>::new());

    std::fs::remove_dir(&ckpt).unwrap();
    wait_for("/readyz 200 again", WAIT, || readyz(port).0 == 200);
    assert_eq!(metric(port, "sitepulse_checkpoint_failing"), 0.0);
    assert_eq!(
        c.log_text()
            .matches("checkpoint saves succeed again")
            .count(),
        1
    );

    break_saves();
    wait_for("/readyz 503 again", WAIT, || readyz(port).0 == 503);
    let err = c.sigterm(GRACE).unwrap_err();
    assert!(err.contains("exited with"), "{err}");
    assert_eq!(c.child.try_wait().unwrap().and_then(|s| s.code()), Some(1));
    let text = c.log_text();
    assert!(
        text.contains("final checkpoint save failed")
            && text.contains(&format!("{}: Is a directory (os error 21)", ckpt.display())),
        "{text}"
    );
    assert!(!text.contains("checkpoint written"), "{text}");
    assert_eq!(tmp_files(&d), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&d);
}

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a `size` tmpfs at `dir`; `None` where this user cannot mount.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .ok()?;
        out.status.success().then(|| Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 13 (3) on a full disk: a small tmpfs is filled up, so writing the
/// temporary file fails with ENOSPC. Skipped where mounting is not allowed.
#[test]
fn issue_13_full_checkpoint_disk_is_reported_and_fails_the_exit() {
    use std::io::Write as _;
    let d = tmpdir("run", "ckptfull");
    let state = d.join("state");
    let Some(fs) = Tmpfs::mount(&state, "64k") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let log = d.join("logs/access.log");
    let ckpt = state.join("ckpt.json");
    append(&log, &clf("shop-example-com", 200, 40));
    let cfg = config_with(&d, &ckpt, "");
    let mut c = start(&d, &cfg, 1);
    let port = c.port;
    wait_for("the first save", WAIT, || ckpt.is_file());
    let mut fill = std::fs::File::create(state.join("fill")).unwrap();
    while fill.write_all(&[b'x'; 4096]).is_ok() {}
    let _ = fill.write_all(b"x");
    append(&log, &clf("shop-example-com", 200, 40));
    wait_for("/readyz 503", WAIT, || readyz(port).0 == 503);
    let (_, why) = readyz(port);
    assert!(why.contains("No space left on device"), "{why}");
    assert!(metric(port, "sitepulse_checkpoint_save_failures_total") >= 1.0);
    assert!(c.sigterm(GRACE).is_err());
    assert_eq!(c.child.try_wait().unwrap().and_then(|s| s.code()), Some(1));
    let text = c.log_text();
    assert!(
        text.contains("final checkpoint save failed") && text.contains("No space left on device"),
        "{text}"
    );
    assert!(!text.contains("checkpoint written"), "{text}");
    assert_eq!(tmp_files(&state), Vec::<String>::new());
    // Open files keep the mount busy.
    drop((fill, c));
    drop(fs);
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 13 (5): a corrupt checkpoint no longer stops the collector for
/// good (a crash loop on every node of a DaemonSet): it is moved aside,
/// said at ERROR, counted, and the start is a first start (here
/// `read_existing: beginning`, so the lines already there are read). With
/// `tail.checkpoint_corrupt: fail` the start fails naming file, line and
/// column, and the file stays.
#[test]
fn issue_13_corrupt_checkpoint_is_quarantined_not_a_crash_loop() {
    let d = tmpdir("run", "corrupt");
    let log = d.join("logs/access.log");
    for _ in 0..3 {
        append(&log, &clf("shop-example-com", 200, 40));
    }
    let ckpt = d.join("ckpt.json");
    let garbage: &[u8] = b"{\"version\": 1,\n \"files\": [\x00\xff not json";
    std::fs::write(&ckpt, garbage).unwrap();
    let quarantined = || -> Vec<PathBuf> {
        std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("ckpt.json.corrupt-")
            })
            .collect()
    };

    let cfg = config_with(&d, &ckpt, "  checkpoint_corrupt: fail\n");
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:2:", ckpt.display()))
            && err.contains("not a sitepulse checkpoint"),
        "{err}"
    );
    assert_eq!(std::fs::read(&ckpt).unwrap(), garbage);
    assert_eq!(quarantined(), Vec::<PathBuf>::new());

    let cfg = config(&d);
    let mut c = start(&d, &cfg, 1);
    let port = c.port;
    wait_for("/readyz 200", WAIT, || readyz(port).0 == 200);
    let moved = quarantined();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(std::fs::read(&moved[0]).unwrap(), garbage);
    let status = json(port, "/api/v1/status");
    let q = &status["checkpoint"]["quarantined"];
    assert_eq!(q["moved_to"], moved[0].display().to_string(), "{status}");
    assert!(
        q["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}:2:", ckpt.display())),
        "{q}"
    );
    assert_eq!(metric(port, "sitepulse_checkpoint_quarantined_total"), 1.0);
    let text = c.log_text();
    let line = text
        .lines()
        .find(|l| l.contains("checkpoint file is corrupt"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("ERROR") && line.contains(&moved[0].display().to_string()),
        "{line}"
    );
    wait_for("the lines already there", WAIT, || {
        json(port, "/api/v1/status")["lines"] == 3
    });
    wait_for("a new checkpoint", WAIT, || ckpt.is_file());
    c.sigterm(GRACE).unwrap();

    // The new checkpoint is good: a restart resumes from it.
    let mut c = start(&d, &cfg, 2);
    let port = c.port;
    wait_for("/readyz 200", WAIT, || readyz(port).0 == 200);
    let status = json(port, "/api/v1/status");
    assert_eq!(status["checkpoint"]["quarantined"], serde_json::Value::Null);
    assert_eq!(status["lines"], 0);
    assert_eq!(quarantined().len(), 1);
    c.sigterm(GRACE).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 14: a stack trace at the end of a file is joined into one record
/// and handed on after `max_wait_ms` without a next line (not held until
/// the file's next write); the next line is a record of its own.
#[test]
fn issue_14_a_trailing_stack_trace_is_one_record_after_max_wait() {
    let d = tmpdir("run", "multiline-wait");
    let log = d.join("logs/app.log");
    append(
        &log,
        "2026-11-22T10:00:00Z INFO started\n\
         2026-11-22T10:00:01Z ERROR request failed\n\
         java.lang.IllegalStateException: boom\n\
         \tat com.example.App.handle(App.java:42)\n\
         \tat com.example.App.main(App.java:10)\n",
    );
    let cfg = config_with(
        &d,
        &d.join("ckpt.json"),
        "  # joined records wait 300 ms for a next line\n",
    );
    // parse.multiline is global; set a short wait for this test.
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("parse:\n  multiline:\n    max_wait_ms: 300\n");
    std::fs::write(&cfg, text).unwrap();
    let tap = d.join("tap.jsonl");
    let mut c = Collector::start(
        BIN,
        &[Path::new("--config"), &cfg, Path::new("--tap"), &tap],
        &d.join("run-1.log"),
    );
    let records = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&tap)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    wait_for("the trace handed on without a next line", WAIT, || {
        records().len() == 2
    });
    let recs = records();
    // The message is what follows the time and the level.
    assert_eq!(
        (recs[0]["message"].as_str(), recs[0]["level"].as_str()),
        (Some("started"), Some("info"))
    );
    assert_eq!(
        (recs[1]["source"].as_str(), recs[1]["level"].as_str()),
        (Some("text"), Some("error"))
    );
    assert_eq!(recs[1]["frames"], 2);
    assert!(
        recs[1]["message"]
            .as_str()
            .unwrap()
            .ends_with("App.java:10)")
    );
    append(&log, "2026-11-22T10:00:02Z INFO next\n");
    wait_for("the next line", WAIT, || records().len() == 3);
    c.sigterm(GRACE).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 14: a file that began with lines of no known format (a banner) is
/// `text` until then, but once idle and parked its next lines are detected
/// again: the access lines that follow are parsed as what they are.
#[test]
fn issue_14_a_file_that_began_unknown_is_detected_again_after_parking() {
    let d = tmpdir("run", "redetect");
    let log = d.join("logs/access.log");
    append(&log, "Starting web server\nconfiguration loaded\n");
    let cfg = config_with(
        &d,
        &d.join("ckpt.json"),
        "  close_inactive_secs: 1\n  rescan_secs: 1\n",
    );
    let mut c = start(&d, &cfg, 1);
    let port = c.port;
    wait_for("the banner as text", WAIT, || {
        json(port, "/api/v1/status")["sources"]["text"]["records"] == 2
    });
    wait_for("the file parked", WAIT, || {
        json(port, "/api/v1/status")["tail"]["parks"].as_u64() > Some(0)
    });
    let mut text = String::new();
    for _ in 0..40 {
        text.push_str(&clf("shop-example-com", 200, 40));
    }
    append(&log, &text);
    wait_for("40 access records", WAIT, || {
        json(port, "/api/v1/status")["sources"]["traefik_clf"]["records"] == 40
    });
    c.sigterm(GRACE).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

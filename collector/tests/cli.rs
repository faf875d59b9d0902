//! The `sitepulse` binary's commands, run as a user would: real files,
//! stdin, exit codes, stdout JSON and the stderr summary.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sitepulse"))
}

fn tmpdir(name: &str) -> PathBuf {
    sitepulse_tests::tmpdir("cli", name)
}

fn write(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

const CLF: &str = "10.42.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET /wp-admin/admin-ajax.php HTTP/2.0\" 200 1234 \"-\" \"Mozilla/5.0\" 42 \"websecure-site042-example-com@kubernetes\" \"http://10.42.1.17:80\" 12ms\n\
2001:db8::1 - - [22/Nov/2026:10:00:01 +0000] \"POST /xmlrpc.php HTTP/1.1\" 502 0 \"-\" \"-\" 43 \"websecure-site007-example-com@kubernetes\" \"http://10.42.1.18:80\" 30012ms\r\n";

const FPM: &str = "[22-Nov-2026 10:00:00] WARNING: [pool site042] server reached pm.max_children setting (5), consider raising it\n\
[22-Nov-2026 10:00:01] WARNING: [pool site042] child 123 exited on signal 9 (SIGKILL) after 3.200000 seconds from start\n";

const WP: &str = "[22-Nov-2026 10:00:00 UTC] PHP Fatal error:  Uncaught Error: Call to undefined function foo() in /var/www/html/wp-content/plugins/x/x.php:12\n\
Stack trace:\n\
#0 /var/www/html/wp-includes/class-wp-hook.php(324): foo('')\n\
#1 {main}\n  thrown in /var/www/html/wp-content/plugins/x/x.php on line 12\n\
[22-Nov-2026 10:00:05 UTC] PHP Warning:  Undefined array key \"x\" in /var/www/html/index.php on line 5\n";

#[test]
fn parse_prints_one_json_object_per_record_with_fixed_keys() {
    let dir = tmpdir("parse");
    let clf = write(&dir, "traefik.log", CLF.as_bytes());
    let fpm = write(&dir, "fpm.log", FPM.as_bytes());
    let wp = write(&dir, "debug.log", WP.as_bytes());
    let (out, stdout, stderr) = run(bin().arg("parse").args([&clf, &fpm, &wp]));
    assert!(out.status.success(), "{stderr}");
    let recs = json_lines(&stdout);
    assert_eq!(recs.len(), 6, "{stdout}");
    let keys: Vec<Vec<String>> = recs
        .iter()
        .map(|r| r.as_object().unwrap().keys().cloned().collect())
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] == w[1]),
        "same keys for every format"
    );
    assert_eq!(recs[0]["site"], "site042-example-com");
    assert_eq!(recs[0]["duration_ms"], 12.0);
    assert_eq!(recs[1]["client"], "2001:db8::1");
    assert_eq!(recs[1]["status"], 502);
    assert_eq!(recs[1]["user_agent"], serde_json::Value::Null);
    assert_eq!(recs[2]["event"], "max_children_reached");
    assert_eq!(recs[2]["site"], "site042");
    assert_eq!(recs[3]["event"], "child_terminated");
    assert_eq!(recs[4]["event"], "php_fatal");
    assert!(recs[4]["message"].as_str().unwrap().contains("#1 {main}"));
    assert_eq!(recs[5]["event"], "php_warning");
    assert!(
        stderr.contains("traefik.log: 2 records, 0 unparsed"),
        "{stderr}"
    );
    assert!(stderr.contains("format fpm_error"), "{stderr}");
    assert!(stderr.contains("debug.log: 2 records"), "{stderr}");
}

#[test]
fn parse_reads_stdin_and_counts_bad_lines_by_reason() {
    let mut input = CLF.as_bytes().to_vec();
    input.extend_from_slice(b"not a log line at all\n\xff\xfe\x00 binary junk\n");
    input.extend_from_slice(&CLF.as_bytes()[..60]); // truncated final line
    let mut child = bin()
        .arg("parse")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Every line is a record: the three bad ones as `text` with the reason.
    let recs = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(recs.len(), 5);
    let errors: Vec<&str> = recs.iter().filter_map(|r| r["error"].as_str()).collect();
    assert_eq!(errors.len(), 3, "{recs:?}");
    assert!(
        recs.iter()
            .filter(|r| r["error"].is_string())
            .all(|r| r["source"] == "text")
    );
    assert!(stderr.contains("-: 5 records, 3 unparsed"), "{stderr}");
    assert!(stderr.contains("unparsed "), "{stderr}");
}

#[test]
fn parse_format_override_and_unknown_format() {
    let dir = tmpdir("override");
    let clf = write(&dir, "x.log", CLF.as_bytes());
    let (out, stdout, stderr) = run(bin().args(["parse", "--format", "nginx"]).arg(&clf));
    // Traefik lines are not nginx lines: nothing parses as the format,
    // exit 1, reasons listed; the lines still leave as `text` records.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let recs = json_lines(&stdout);
    assert!(
        !recs.is_empty()
            && recs
                .iter()
                .all(|r| r["source"] == "text" && r["error"].is_string())
    );
    assert!(stderr.contains("format nginx"), "{stderr}");
    let (out, _, stderr) = run(bin().args(["parse", "--format", "apache"]).arg(&clf));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("unknown format"), "{stderr}");
}

#[test]
fn replay_prints_sites_by_traffic_and_totals() {
    let dir = tmpdir("replay");
    let mut text = String::new();
    for _ in 0..3 {
        text.push_str(CLF);
    }
    // site042 gets 3 + 2 requests, site007 3.
    text.push_str(&CLF[..CLF.find('\n').unwrap() + 1].repeat(2));
    write(&dir, "a/traefik.log", text.as_bytes());
    write(&dir, "b/fpm.log", FPM.as_bytes());
    let (out, stdout, stderr) = run(bin().arg("replay").arg(&dir));
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("site ") && lines[0].contains("p99_ms"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("site042-example-com "), "{stdout}");
    assert!(lines[2].starts_with("site007-example-com "), "{stdout}");
    let cols: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(cols[1], "3");
    assert_eq!(cols[6], "100.00", "all 502: {stdout}");
    let fpm_row = lines.iter().find(|l| l.starts_with("site042 ")).unwrap();
    let cols: Vec<&str> = fpm_row.split_whitespace().collect();
    assert_eq!(&cols[7..11], ["1", "0", "1", "0"], "{stdout}");
    assert!(
        stdout.contains("total: 10 lines, 10 records, 0 unparsed"),
        "{stdout}"
    );
}

#[test]
fn config_errors_name_file_line_and_field() {
    let dir = tmpdir("config");
    let log = write(&dir, "x.log", CLF.as_bytes());
    let cfg = write(
        &dir,
        "bad.yaml",
        b"parse:\n  format: auto\nsites:\n  max_sites: 10\n  router_patern: x\n",
    );
    let (out, _, stderr) = run(bin().arg("replay").arg("--config").arg(&cfg).arg(&log));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains(&format!(
            "{}:5:3: sites.router_patern: unknown key `router_patern` (did you mean `router_pattern`?)",
            cfg.display()
        )),
        "{stderr}"
    );
    let cfg = write(
        &dir,
        "bad2.yaml",
        b"sites:\n  path_pattern: '/var/www/([^/]+)/'\n",
    );
    let (out, _, stderr) = run(bin().arg("replay").arg("--config").arg(&cfg).arg(&log));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("bad2.yaml:2:17: sites.path_pattern:"),
        "{stderr}"
    );
    let (out, _, stderr) = run(bin()
        .args(["replay", "--config", "/nonexistent.yaml"])
        .arg(&log));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("/nonexistent.yaml"), "{stderr}");
}

#[test]
fn cri_pod_logs_get_the_namespace_as_site() {
    let dir = tmpdir("pods");
    let line = "[22-Nov-2026 10:00:00] WARNING: [pool www] server reached pm.max_children setting (5), consider raising it";
    let (a, b) = line.split_at(30);
    let text = format!(
        "2026-11-22T10:00:00.1Z stderr P {a}\n2026-11-22T10:00:00.2Z stdout F unrelated\n2026-11-22T10:00:00.3Z stderr F {b}\n"
    );
    let p = write(
        &dir,
        "var/log/pods/shop_shop-php-7d9f_0b1c2d3e-1111-2222-3333-444455556666/php/0.log",
        text.as_bytes(),
    );
    let cfg = write(&dir, "c.yaml", b"sites:\n  resolve_order: [namespace]\n");
    let (out, stdout, stderr) = run(bin().arg("parse").arg("--config").arg(&cfg).arg(&p));
    assert!(out.status.success(), "{stderr}");
    let recs = json_lines(&stdout);
    // The stdout line (no FPM line: a `text` record) completes first; the
    // stderr partials join into one FPM record. Both carry the pod.
    assert_eq!(recs.len(), 2, "{stdout}\n{stderr}");
    assert_eq!(
        (recs[0]["source"].as_str(), recs[0]["message"].as_str()),
        (Some("text"), Some("unrelated"))
    );
    let fpm = &recs[1];
    assert_eq!(fpm["site"], "shop");
    assert_eq!(fpm["stream"], "stderr");
    assert_eq!(fpm["event"], "max_children_reached");
    for r in &recs {
        assert_eq!(
            (
                r["namespace"].as_str(),
                r["pod"].as_str(),
                r["container"].as_str()
            ),
            (Some("shop"), Some("shop-php-7d9f"), Some("php"))
        );
        assert_eq!(r["pod_uid"], "0b1c2d3e-1111-2222-3333-444455556666");
    }
    assert!(stderr.contains("framing cri"), "{stderr}");
    assert!(stderr.contains("unparsed format: 1"), "{stderr}");
}

/// Issue 13: an impossible date (30 Feb) is counted as a bad time, not
/// read as 2 March, and in a multi-line format it is not hidden inside the
/// previous record's message either.
#[test]
fn issue_13_impossible_dates_are_bad_time() {
    let dir = tmpdir("impossible-dates");
    let log = write(
        &dir,
        "debug.log",
        b"[22-Nov-2026 10:00:00 UTC] PHP Warning:  a in /a.php on line 1\n\
[30-Feb-2026 10:00:00 UTC] PHP Warning:  b in /b.php on line 2\n\
[22-Nov-2026 24:00:00 UTC] PHP Warning:  c in /c.php on line 3\n\
[29-Feb-2024 10:00:00 UTC] PHP Warning:  d in /d.php on line 4\n",
    );
    let (out, stdout, stderr) = run(bin().arg("parse").arg(&log));
    assert!(out.status.success(), "{stderr}");
    let recs = json_lines(&stdout);
    assert_eq!(recs.len(), 4, "{stdout}");
    assert_eq!(recs[0]["message"], "a in /a.php on line 1");
    for bad in &recs[1..3] {
        assert_eq!(
            (bad["source"].as_str(), bad["error"].as_str()),
            (Some("text"), Some("bad_time"))
        );
        assert_eq!(bad["ts"], serde_json::Value::Null);
    }
    assert_eq!(recs[3]["ts"], "2024-02-29T10:00:00.000000000Z");
    assert!(stderr.contains("4 records, 2 unparsed"), "{stderr}");
    assert!(stderr.contains("unparsed bad_time: 2"), "{stderr}");
}

/// Runs `cmd` with stdin closed and kills it after `limit`, so a command
/// that hangs fails the test instead of hanging the run.
fn run_within(cmd: &mut Command, limit: Duration) -> (ExitStatus, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).ok();
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    match status {
        Some(status) => (status, stdout, stderr),
        None => panic!("{cmd:?} still running after {limit:?}; stderr:\n{stderr}"),
    }
}

/// A directory of things that are not readable log files next to one that
/// is. `bad` are the paths that must be reported; the unreadable file is
/// left out when this process can read a mode-000 file anyway (root), and
/// then counts in `readable`, the files a replay of the directory reads.
struct Hostile {
    dir: PathBuf,
    good: PathBuf,
    bad: Vec<PathBuf>,
    readable: usize,
}

fn hostile_dir(name: &str) -> Hostile {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let dir = tmpdir(name);
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/traefik_clf.log"
    ))
    .unwrap();
    let line = sample.lines().next().unwrap();
    let good = write(&dir, "logs/good.log", format!("{line}\n").as_bytes());
    let fifo = dir.join("logs/fifo.log");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success(), "mkfifo");
    let sock = dir.join("logs/sock.log");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let (loop_a, loop_b) = (dir.join("logs/loop_a.log"), dir.join("logs/loop_b.log"));
    symlink(&loop_b, &loop_a).unwrap();
    symlink(&loop_a, &loop_b).unwrap();
    let dangling = dir.join("logs/dangling.log");
    symlink(dir.join("logs/nowhere.log"), &dangling).unwrap();
    // A directory link back up the tree: walked once, not forever.
    std::fs::create_dir_all(dir.join("logs/sub")).unwrap();
    symlink(dir.join("logs"), dir.join("logs/sub/up")).unwrap();
    let unreadable = write(&dir, "logs/unreadable.log", format!("{line}\n").as_bytes());
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut bad = vec![fifo, sock, loop_a, loop_b, dangling];
    let mut readable = 1;
    if std::fs::File::open(&unreadable).is_ok() {
        readable += 1;
        eprintln!(
            "note: this process reads a mode-000 file (root?): not checking that {} is reported",
            unreadable.display()
        );
    } else {
        bad.push(unreadable);
    }
    Hostile {
        dir,
        good,
        bad,
        readable,
    }
}

/// Issue 13: `replay DIR` hung on a FIFO in DIR and aborted on a symlink
/// loop or an unreadable file. Now every such path is named on stderr, the
/// rest is replayed, and the exit status says something was skipped.
#[test]
fn issue_13_replay_skips_what_it_cannot_read() {
    let h = hostile_dir("hostile-replay");
    let missing = h.dir.join("missing.log");
    let (status, stdout, stderr) = run_within(
        bin().arg("replay").arg(h.dir.join("logs")).arg(&missing),
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(2), "{stdout}\n{stderr}");
    // good.log once, even though logs/sub/up leads back to it.
    let n = h.readable;
    assert!(
        stdout.contains(&format!("total: {n} lines, {n} records, 0 unparsed")),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("site178-example-com"), "{stdout}");
    for p in h.bad.iter().chain([&missing]) {
        assert!(
            stderr.contains(&*p.to_string_lossy()),
            "{}: {stderr}",
            p.display()
        );
    }
    assert!(!stderr.contains(&*h.good.to_string_lossy()), "{stderr}");
    let skipped = h.bad.len() + 1;
    assert!(
        stderr.contains(&format!("files: {n} read, {skipped} skipped")),
        "{stderr}"
    );
}

/// Issue 13: `parse a missing b` stopped at the missing file with no
/// summary. Now it reports each bad path, parses the rest, prints the
/// summary and exits non-zero.
#[test]
fn issue_13_parse_reports_every_bad_path_and_goes_on() {
    let h = hostile_dir("hostile-parse");
    let missing = h.dir.join("missing.log");
    let mut args = vec![missing.clone()];
    args.extend(h.bad.iter().cloned());
    args.insert(1, h.good.clone());
    // A directory is not a file to parse either.
    args.push(h.dir.join("logs/sub"));
    let (status, stdout, stderr) =
        run_within(bin().arg("parse").args(&args), Duration::from_secs(20));
    assert_eq!(status.code(), Some(2), "{stdout}\n{stderr}");
    let recs = json_lines(&stdout);
    assert_eq!(recs.len(), 1, "{stdout}");
    assert_eq!(recs[0]["site"], "site178-example-com");
    assert!(
        stderr.contains("good.log: 1 records, 0 unparsed"),
        "{stderr}"
    );
    for p in args.iter().filter(|p| **p != h.good) {
        assert!(
            stderr.contains(&*p.to_string_lossy()),
            "{}: {stderr}",
            p.display()
        );
    }
    assert!(
        stderr.contains(&format!("files: 1 read, {} skipped", args.len() - 1)),
        "{stderr}"
    );
    // Stdin still works when no file is named.
    let (status, stdout, stderr) = run_within(bin().arg("parse"), Duration::from_secs(20));
    assert_eq!(
        status.code(),
        Some(1),
        "nothing on stdin, nothing parsed: {stderr}"
    );
    assert!(
        stdout.is_empty() && stderr.contains("-: 0 records"),
        "{stderr}"
    );
}

/// Issue 13: a FIFO among the files made `replay DIR` block in `open`
/// forever. It is now found with `stat` and skipped.
#[test]
fn issue_13_replay_does_not_open_a_fifo() {
    let dir = tmpdir("fifo");
    write(&dir, "logs/a.log", CLF.as_bytes());
    let fifo = dir.join("logs/b.log");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (status, stdout, stderr) = run_within(
        bin().arg("replay").arg(dir.join("logs")),
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stdout.contains("total: 2 lines, 2 records"), "{stdout}");
    assert!(
        stderr.contains(&format!("skipping {}: a FIFO", fifo.display())),
        "{stderr}"
    );
    assert!(stderr.contains("files: 1 read, 1 skipped"), "{stderr}");
}

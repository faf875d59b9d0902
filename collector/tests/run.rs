//! `sitepulse run` as a user meets it: the HTTP endpoints over live files,
//! a graceful stop and restart that reads nothing twice, and config errors
//! that name the file, line and field.

// Only for kill(2): the graceful stop needs SIGTERM.
#![allow(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sitepulse-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("logs")).unwrap();
    d
}

/// A Traefik CLF line dated now.
fn clf(site: &str, status: u16, ms: u32) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "10.42.0.1 - - [{d:02}/{mon}/{y}:{:02}:{:02}:{:02} +0000] \"GET / HTTP/1.1\" {status} 512 \"-\" \"curl/8\" 1 \"websecure-{site}@kubernetes\" \"http://10.42.1.1:80\" {ms}ms\n",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

fn config(d: &Path) -> PathBuf {
    let p = d.join("sitepulse.yaml");
    std::fs::write(
        &p,
        format!(
            "tail:\n  sources:\n    - include: [\"{}/logs/*.log\"]\n  read_existing: beginning\n  checkpoint_path: \"{}/ckpt.json\"\n  checkpoint_interval_ms: 100\nserver:\n  listen: \"127.0.0.1:0\"\n",
            d.display(),
            d.display()
        ),
    )
    .unwrap();
    p
}

/// Starts `run` and returns it with its HTTP port; the caller waits for it
/// (`sigterm`).
#[allow(clippy::zombie_processes)]
fn start(cfg: &Path) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sitepulse"))
        .args(["run", "--config"])
        .arg(cfg)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "run exited before listening"
        );
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            let port = rest.trim().parse().unwrap();
            // Keep draining stderr so the child never blocks on it.
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            return (child, port);
        }
    }
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

fn json(port: u16, path: &str) -> serde_json::Value {
    serde_json::from_str(&get(port, path)).unwrap()
}

/// Polls until `f` holds, or panics after 10 s.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(child: &mut Child) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn endpoints_serve_live_sites_and_a_restart_reads_nothing_twice() {
    let d = tmpdir("live");
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
    let (mut child, port) = start(&cfg);

    wait_for("100 lines", || json(port, "/api/v1/status")["lines"] == 100);
    // Appended lines are picked up (inotify).
    append(&log, "not a log line\n");
    wait_for("the bad line", || {
        json(port, "/api/v1/status")["lines"] == 101
    });

    let sites = json(port, "/api/v1/sites");
    let list = sites["sites"].as_array().unwrap();
    assert_eq!(list[0]["site"], "shop-example-com", "{sites}");
    let m1 = &list[0]["1m"];
    assert_eq!(m1["requests"], 90);
    assert!((m1["rps"].as_f64().unwrap() - 1.5).abs() < 1e-9, "{m1}");
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
    assert_eq!(status["sources"]["traefik_clf"]["records"], 100);
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

    let metrics = get(port, "/metrics");
    assert!(
        metrics.contains("sitepulse_read_lines_total{format=\"traefik_clf\"} 101"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE sitepulse_checkpoint_age_seconds gauge"));
    sigterm(&mut child);

    // A graceful restart resumes at the checkpoint: only new lines count.
    append(&log, &clf("shop-example-com", 200, 40));
    let (mut child, port) = start(&cfg);
    wait_for("the new line", || {
        json(port, "/api/v1/status")["lines"] == 1
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(json(port, "/api/v1/status")["lines"], 1);
    sigterm(&mut child);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn config_errors_name_file_line_and_field() {
    let d = tmpdir("badcfg");
    let p = d.join("bad.yaml");
    std::fs::write(
        &p,
        "tail:\n  sources:\n    - include: [\"/ok/*.log\"]\n    - format: auto\n      include: [\"/var/log/[\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sitepulse"))
        .args(["run", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:5: tail.sources[1].include", p.display())),
        "{err}"
    );
    std::fs::write(&p, "server:\n  listen: \"localhost\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sitepulse"))
        .args(["run", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:2: server.listen", p.display())),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

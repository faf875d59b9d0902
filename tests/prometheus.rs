//! Prometheus' own tools for the tests: a real `prometheus` server started
//! on 127.0.0.1 with a generated config and a temporary storage directory
//! (stopped on drop), PromQL instant queries over its HTTP API, and
//! `promtool check metrics`. Debian's `prometheus` package provides both
//! (`/usr/bin/prometheus`, `/usr/bin/promtool`); tests that need one skip
//! with a loud message when it is missing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http;
use crate::servers::free_port;

/// The corpus generator, for tests outside this package (the `sitepulse`
/// package's) that compare Prometheus' answers with a corpus' truth.
pub use sitepulse_benches as corpus;

/// Says loudly that a test is skipped for want of `tool`. Under CI
/// (`CI` set, as `.ci/run` and tests/run-all.sh's environments set it),
/// where run-all installs Prometheus, a missing tool fails the test
/// instead: a skip there would hide a broken set-up.
pub fn skip(tool: &str, why: &str) {
    let msg = format!(
        "{tool} not available ({why}); install Debian's `prometheus` package (tests/run-all.sh does)"
    );
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
        panic!("{msg}");
    }
    eprintln!("\n!!! SKIPPED: {msg} !!!\n");
}

/// `prometheus`: `$PROMETHEUS_BIN`, else the first on `PATH`.
pub fn prometheus_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROMETHEUS_BIN") {
        return Some(PathBuf::from(p));
    }
    which("prometheus")
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `promtool check metrics` on `text` (the classic text format): `None`
/// when promtool is missing (after saying so), else whether it passed and
/// what it printed (lint findings, parse errors).
pub fn promtool_check(text: &str) -> Option<(bool, String)> {
    let Some(bin) = which("promtool") else {
        skip("promtool", "not on PATH");
        return None;
    };
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("promtool reads its input");
    let out = child.wait_with_output().expect("promtool ends");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

/// A running Prometheus; killed on drop.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    /// Where its config, data and log are.
    pub dir: PathBuf,
}

impl Prometheus {
    /// Starts `bin` with `dir/prometheus.yml` scraping `job`'s targets
    /// (`127.0.0.1:<port>` each) every `scrape_secs`, data under `dir/data`
    /// and output in `dir/prometheus.log`; waits (at most 30 s) for
    /// `/-/ready`.
    ///
    /// # Panics
    /// When it exits or is not ready in time (with its log).
    pub fn start(bin: &Path, dir: &Path, job: &str, targets: &[u16], scrape_secs: u32) -> Self {
        Self::start_with(bin, dir, job, targets, scrape_secs, &[])
    }

    /// [`start`](Self::start) with more command-line flags
    /// (`--web.enable-remote-write-receiver`).
    ///
    /// # Panics
    /// As `start`.
    pub fn start_with(
        bin: &Path,
        dir: &Path,
        job: &str,
        targets: &[u16],
        scrape_secs: u32,
        flags: &[&str],
    ) -> Self {
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let targets: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let cfg = dir.join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: {scrape_secs}s\n  scrape_timeout: {scrape_secs}s\n  evaluation_interval: {scrape_secs}s\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let mut p = Prometheus {
            child,
            port,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if matches!(http::get_with(port, "/-/ready", &[]), Ok((200, _))) {
                return p;
            }
            if let Some(st) = p.child.try_wait().unwrap() {
                panic!("prometheus exited at start ({st}):\n{}", p.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready in 30 s:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What it has logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// A PromQL instant query: `data.result` of a successful answer.
    ///
    /// # Errors
    /// No answer, another status, or a body that is not a success.
    pub fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        let body = http::get(self.port, &path)?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if v["status"] != "success" {
            return Err(format!("{promql}: {body}"));
        }
        v["data"]["result"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("{promql}: no result array: {body}"))
    }

    /// An instant query whose answer is a vector: each series' value of
    /// label `by` (`""` when absent) and its number.
    ///
    /// # Errors
    /// As [`query`](Self::query), or a value that is not a number.
    pub fn vector(&self, promql: &str, by: &str) -> Result<Vec<(String, f64)>, String> {
        self.query(promql)?
            .iter()
            .map(|s| {
                let key = s["metric"][by].as_str().unwrap_or("").to_owned();
                let v = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{promql}: value of {s}"))?;
                Ok((key, v))
            })
            .collect()
    }

    /// SIGKILL and wait (its data is thrown away with `dir`).
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

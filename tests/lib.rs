//! Shared helpers of sitepulse's tests: the end-to-end tests in
//! `tests/tests/` and the `sitepulse` package's own integration tests
//! (`collector/tests/`) use these instead of copies of their own. One HTTP
//! client (reqwest), one way to start and stop a `sitepulse run` process,
//! one Traefik line maker.

// Only for kill(2) (`Child::kill` sends SIGKILL, a graceful stop needs
// SIGTERM) and setrlimit(2) in a child before exec.
#![allow(unsafe_code)]

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Wall-clock Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A Unix time in CLF form: `22/Nov/2026:10:00:00 +0000`.
pub fn clf_time(unix_secs: i64) -> String {
    sitepulse_pipeline::time::format_clf(unix_secs)
}

/// A Traefik common-format line for `site`'s router, dated now.
pub fn clf_line(site: &str, status: u16, ms: u32) -> String {
    format!(
        "10.42.0.1 - - [{}] \"GET / HTTP/1.1\" {status} 512 \"-\" \"curl/8\" 1 \"websecure-{site}@kubernetes\" \"http://10.42.1.1:80\" {ms}ms\n",
        clf_time(unix_now())
    )
}

/// A fresh, empty directory `$TMPDIR/sitepulse-<what>-<pid>-<name>` with a
/// `logs/` subdirectory.
pub fn tmpdir(what: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sitepulse-{what}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("logs")).unwrap();
    d
}

/// Opens `path` for appending (creating it).
///
/// # Panics
/// When it cannot be opened.
pub fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Appends `text` to `path` in one write.
pub fn append(path: &Path, text: &str) {
    open_append(path).write_all(text.as_bytes()).unwrap();
}

/// Polls until `f` holds; panics naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Installs rustls' ring provider, process-wide. The sinks build reqwest
/// with rustls and no default provider (ring, not aws-lc: no cmake or C++
/// build); cargo unifies that feature into every reqwest of the workspace,
/// so any client a test builds needs a provider installed first.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The one HTTP client of the tests.
pub mod http {
    use super::*;

    static CLIENT: LazyLock<reqwest::blocking::Client> = LazyLock::new(|| {
        install_tls();
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .expect("an HTTP client without TLS or proxies always builds")
    });

    /// GET `http://127.0.0.1:<port><path>` with extra headers: the status
    /// and the body.
    ///
    /// # Errors
    /// A message naming the request when it could not be made.
    pub fn get_with(
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, String), String> {
        let url = format!("http://127.0.0.1:{port}{path}");
        let mut req = CLIENT.get(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.text().map_err(|e| format!("GET {url}: body: {e}"))?;
        Ok((status, body))
    }

    /// `method` `http://127.0.0.1:<port><path>` with headers and a body:
    /// the status and the answer's body.
    ///
    /// # Errors
    /// A message naming the request when it could not be made.
    pub fn request(
        method: &str,
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, String), String> {
        let url = format!("http://127.0.0.1:{port}{path}");
        let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = CLIENT.request(m, &url).body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .map_err(|e| format!("{method} {url}: body: {e}"))?;
        Ok((status, text))
    }

    /// The body of a `200` answer to GET `path`.
    ///
    /// # Errors
    /// Another status (with the body), or no answer.
    pub fn get(port: u16, path: &str) -> Result<String, String> {
        match get_with(port, path, &[])? {
            (200, body) => Ok(body),
            (st, body) => Err(format!("GET {path}: {st}\n{body}")),
        }
    }

    /// A `200` JSON answer, parsed.
    ///
    /// # Panics
    /// On any other answer.
    pub fn json(port: u16, path: &str) -> Value {
        let body = get(port, path).unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }
}

/// One `sitepulse run` process with its HTTP port; SIGKILLed on drop if
/// still running. Its stdout and stderr go to a file.
#[derive(Debug)]
pub struct Collector {
    /// The process.
    pub child: Child,
    /// Its HTTP port.
    pub port: u16,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Collector {
    /// Starts `bin run <args>` with output to `log` and waits (at most
    /// 30 s) for its `listening on` line.
    ///
    /// # Panics
    /// When it exits or does not listen in time.
    pub fn start<S: AsRef<OsStr>>(bin: &str, args: &[S], log: &Path) -> Collector {
        Self::start_with_nofile(bin, args, log, None)
    }

    /// [`start`](Self::start) with `RLIMIT_NOFILE` set to `(soft, hard)`
    /// in the child, as a container runtime or systemd would set it.
    ///
    /// # Panics
    /// As `start`.
    pub fn start_with_nofile<S: AsRef<OsStr>>(
        bin: &str,
        args: &[S],
        log: &Path,
        nofile: Option<(u64, u64)>,
    ) -> Collector {
        use std::os::unix::process::CommandExt as _;
        let out = File::create(log).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        if let Some((soft, hard)) = nofile {
            let lim = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // SAFETY: runs in the forked child before exec; setrlimit(2) is
            // async-signal-safe and `lim` is a plain value on this stack.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        // A binary just copied (the demo test) may still be open for
        // writing in a child another test thread forked meanwhile: exec
        // then fails with ETXTBSY until that child has exec'd. Retry.
        let mut tries = 0;
        let child = loop {
            match cmd.spawn() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                r => break r.unwrap(),
            }
        };
        let mut c = Collector {
            child,
            port: 0,
            log: log.to_owned(),
        };
        const NEEDLE: &str = "listening on http://127.0.0.1:";
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(at) = text.find(NEEDLE) {
                let digits: String = text[at + NEEDLE.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                c.port = digits
                    .parse()
                    .unwrap_or_else(|e| panic!("port {digits:?}: {e}"));
                return c;
            }
            if let Some(st) = c.child.try_wait().unwrap() {
                panic!("sitepulse run exited at start ({st}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "sitepulse run: no `{NEEDLE}` line in 30 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `/api/v1/status`, parsed.
    ///
    /// # Errors
    /// No answer, another status, or a body that is not JSON.
    pub fn status(&self) -> Result<Value, String> {
        let body = http::get(self.port, "/api/v1/status")?;
        serde_json::from_str(&body).map_err(|e| format!("status JSON: {e}: {body}"))
    }

    /// SIGKILL, as a crash or an OOM kill would.
    ///
    /// # Errors
    /// When it had already died.
    pub fn sigkill(&mut self) -> Result<(), String> {
        if let Some(st) = self.child.try_wait().unwrap() {
            return Err(format!("sitepulse died on its own before the kill: {st}"));
        }
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        Ok(())
    }

    /// SIGTERM, then waits up to `grace` for an exit with status 0.
    ///
    /// # Errors
    /// It had died already, exited non-zero, or did not exit in time (it
    /// is then SIGKILLed).
    pub fn sigterm(&mut self, grace: Duration) -> Result<ExitStatus, String> {
        if let Some(st) = self.child.try_wait().unwrap() {
            return Err(format!("sitepulse died on its own before SIGTERM: {st}"));
        }
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) takes no pointers; `pid` is our unreaped child, so
        // the number cannot have been reused by another process.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM): {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + grace;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return if st.success() {
                    Ok(st)
                } else {
                    Err(format!("sitepulse exited with {st} after SIGTERM"))
                };
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "sitepulse still running {:.1} s after SIGTERM",
                    grace.as_secs_f64()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub mod loki_receiver;
pub mod otlp_receiver;
pub mod prometheus;
pub mod servers;

//! Real servers a test starts on 127.0.0.1 and stops, even when an
//! assertion fails: nginx and php-fpm (their children and a graceful
//! stop), Alertmanager, and aiosmtpd (an SMTP server storing what it gets
//! in a Maildir). The API is blocking std, usable from plain `#[test]`s
//! and from tokio tests alike. A server that is not installed fails the
//! test with the command that installs it: nothing is skipped.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Stops the servers, even when an assertion fails: the last started
/// first (the front before its backend), each as [`stop`] does.
pub struct Servers(pub Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            stop(c, STOP_GRACE);
        }
    }
}

/// How long a server may take to stop gracefully.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A process's parent and start time (clock ticks since boot), from
/// `/proc/<pid>/stat` (proc(5): fields 4 and 22; the name, field 2,
/// may hold spaces and parentheses, so fields count from its last `)`).
fn parent_and_start(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// The children of `pid` now, each with its start time (so a pid
/// reused later is not taken for one of them).
pub fn children_of(pid: u32) -> Vec<(u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let (parent, start) = parent_and_start(p)?;
            (parent == pid).then_some((p, start))
        })
        .collect()
}

/// Whether a process from [`children_of`] still runs (not a zombie:
/// one that exited and waits only to be reaped is not running).
pub fn still_running((pid, start): (u32, u64)) -> bool {
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 1..].trim_start().starts_with('Z')))
        .unwrap_or(false);
    !zombie && parent_and_start(pid).is_some_and(|(_, s)| s == start)
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) takes no pointers. Callers name their own
        // unreaped child, or a child of it whose start time they have
        // just checked, so the number names that process.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Stops a server the way its init script does: SIGQUIT, the graceful
/// stop of both php-fpm (the master stops its workers, each after its
/// request, and exits when they are gone) and nginx; after `grace`,
/// SIGKILL. A SIGKILLed php-fpm master leaves its workers running, so
/// its children as they were before the stop are SIGKILLed too, as is
/// any of them still alive after a graceful stop.
pub fn stop(child: &mut Child, grace: Duration) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let pid = child.id();
    let kids = children_of(pid);
    signal(pid, libc::SIGQUIT);
    let deadline = Instant::now() + grace;
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for kid in kids {
        if still_running(kid) {
            signal(kid.0, libc::SIGKILL);
        }
    }
}

/// The first existing path for a pattern whose last component may end
/// in `*` (the newest version sorts last: `/usr/sbin/php-fpm8.2`).
pub fn glob_first(pattern: &str) -> Option<PathBuf> {
    let p = Path::new(pattern);
    let name = p.file_name()?.to_str()?;
    let Some(prefix) = name.strip_suffix('*') else {
        return p.exists().then(|| p.to_owned());
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(p.parent()?)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|e| {
            e.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    found.sort();
    found.pop()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `f` on a thread of its own: reqwest's blocking client (what
/// [`crate::http`] uses) panics on a thread that is inside a tokio
/// runtime, as a `#[tokio::test]`'s is, and a new thread is in none.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A running Alertmanager (Debian's `prometheus-alertmanager`) on
/// 127.0.0.1 with clustering off and its data in a directory of its own;
/// killed on drop.
pub struct Alertmanager {
    child: Child,
    /// Its port.
    pub port: u16,
    /// `http://127.0.0.1:<port>`, also its `--web.external-url`.
    pub base: String,
    dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Alertmanager binary: `$ALERTMANAGER`, or Debian's.
///
/// # Panics
/// When it is not there, naming the package that installs it.
pub fn alertmanager_bin() -> PathBuf {
    let bin = PathBuf::from(
        std::env::var_os("ALERTMANAGER")
            .unwrap_or_else(|| "/usr/bin/prometheus-alertmanager".into()),
    );
    assert!(
        bin.is_file(),
        "{} not found: install Alertmanager with `apt-get install -y prometheus-alertmanager` \
         (tests/run-all.sh does) or set ALERTMANAGER to its binary",
        bin.display()
    );
    bin
}

impl Alertmanager {
    /// Starts Alertmanager with `config` (its YAML) on a free port and
    /// waits (at most 20 s) until `/-/ready` answers 200.
    ///
    /// # Panics
    /// No binary, or it exits or does not get ready in time (its log is
    /// in the message).
    pub fn start(config: &str) -> Alertmanager {
        let bin = alertmanager_bin();
        let dir = tempfile::Builder::new()
            .prefix("sitepulse-alertmanager-")
            .tempdir()
            .unwrap();
        let cfg = dir.path().join("alertmanager.yml");
        std::fs::write(&cfg, config).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--web.external-url={base}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut am = Alertmanager {
            child,
            port,
            base,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = off_runtime(|| crate::http::get_with(port, "/-/ready", &[]));
            if matches!(ready, Ok((200, _))) {
                return am;
            }
            if let Ok(Some(st)) = am.child.try_wait() {
                panic!("Alertmanager exited at start ({st}):\n{}", am.log());
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager not ready in 20 s ({ready:?}):\n{}",
                am.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What it has logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// `GET /api/v2/alerts` with `query` (`("filter", "alertname=\"X\"")`,
    /// `("active", "true")`): the alerts it lists.
    ///
    /// # Panics
    /// No answer, or not a 200 with a JSON array.
    pub fn alerts(&self, query: &[(&str, &str)]) -> Vec<Value> {
        let mut url = reqwest::Url::parse("http://127.0.0.1/api/v2/alerts").unwrap();
        url.query_pairs_mut().extend_pairs(query);
        let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
        let (st, body) = off_runtime(|| crate::http::get_with(self.port, &path, &[]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(st, 200, "GET {path}: {body}");
        match serde_json::from_str(&body) {
            Ok(Value::Array(a)) => a,
            _ => panic!("GET {path}: not a JSON array: {body}"),
        }
    }
}

/// Prints one JSON object per message in the Maildir `argv[1]`:
/// subject, from, to, content type, and the decoded text and HTML parts.
const READ_MAILDIR: &str = r#"
import email, email.policy, json, mailbox, sys
out = []
for key, msg in sorted(mailbox.Maildir(sys.argv[1], create=False).items()):
    m = email.message_from_bytes(bytes(msg), policy=email.policy.default)
    text = m.get_body(preferencelist=("plain",))
    html = m.get_body(preferencelist=("html",))
    out.append({
        "subject": m["subject"], "from": m["from"], "to": m["to"],
        "content_type": m.get_content_type(),
        "text": text.get_content() if text else None,
        "html": html.get_content() if html else None,
    })
print(json.dumps(out))
"#;

/// A Python with aiosmtpd: `$SITEPULSE_PYTHON`, or the workspace's
/// `target/pyvenv` that tests/run-all.sh makes. Checked once per process.
///
/// # Panics
/// When it cannot import aiosmtpd, with the commands that install it.
pub fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let py = std::env::var_os("SITEPULSE_PYTHON").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/pyvenv/bin/python"),
            PathBuf::from,
        );
        let ok = Command::new(&py)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "{} cannot import aiosmtpd: run tests/run-all.sh (it creates target/pyvenv with \
             aiosmtpd and sets SITEPULSE_PYTHON), or `python3 -m venv target/pyvenv && \
             target/pyvenv/bin/pip install aiosmtpd==1.4.6`",
            py.display()
        );
        py
    })
}

/// A running aiosmtpd on 127.0.0.1, storing each message in a Maildir;
/// killed on drop. Its log is `<maildir>.log`.
pub struct Smtpd {
    child: Child,
    /// Its port.
    pub port: u16,
    /// Where messages go.
    pub maildir: PathBuf,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtpd {
    /// Starts aiosmtpd on `port` (chosen by the caller, so a test can
    /// point a client at it before it runs), storing messages in
    /// `maildir`, and waits (at most 10 s) for its `220` greeting.
    ///
    /// # Panics
    /// No Python with aiosmtpd, or no greeting in time (its log is in the
    /// message).
    pub fn start(port: u16, maildir: &Path) -> Smtpd {
        Smtpd::start_with(port, maildir, &[])
    }

    /// As [`Smtpd::start`], with more aiosmtpd options (`--tlscert`,
    /// `--smtpscert`, ...). With implicit TLS (`--smtpscert`) the server
    /// waits for a handshake, so an accepted connection counts as ready.
    ///
    /// # Panics
    /// As `start`.
    pub fn start_with(port: u16, maildir: &Path, extra: &[&str]) -> Smtpd {
        let log = maildir.with_extension("log");
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n"])
            .args(extra)
            .arg("-l")
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut s = Smtpd {
            child,
            port,
            maildir: maildir.to_owned(),
        };
        let implicit_tls = extra.contains(&"--smtpscert");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) {
                let mut buf = [0u8; 3];
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                if implicit_tls || (c.read_exact(&mut buf).is_ok() && &buf == b"220") {
                    return s;
                }
            }
            let said = || std::fs::read_to_string(&log).unwrap_or_default();
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("aiosmtpd exited at start ({st}):\n{}", said());
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not greet on 127.0.0.1:{port} within 10 s:\n{}",
                said()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The messages it has stored, as [`read_maildir`] reads them.
    pub fn messages(&self) -> Vec<Value> {
        read_maildir(&self.maildir)
    }

    /// Waits (at most `timeout`) for at least `n` messages.
    ///
    /// # Panics
    /// Fewer in time.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<Value> {
        wait_for_messages(&self.maildir, n, timeout)
    }
}

/// The messages in `maildir`, as Python's `email` package reads them
/// (so a check does not rely on our MIME writer): per message `subject`,
/// `from`, `to`, `content_type`, and the decoded `text` and `html` parts
/// (null when absent). None while the Maildir does not exist.
///
/// # Panics
/// When the reader fails.
pub fn read_maildir(maildir: &Path) -> Vec<Value> {
    if !maildir.join("new").is_dir() {
        return Vec::new();
    }
    let out = Command::new(python())
        .args(["-c", READ_MAILDIR])
        .arg(maildir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reading {}: {}",
        maildir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout) {
        Ok(Value::Array(a)) => a,
        _ => panic!("{}", String::from_utf8_lossy(&out.stdout)),
    }
}

/// Polls [`read_maildir`] until it holds at least `n` messages.
///
/// # Panics
/// Fewer after `timeout`.
pub fn wait_for_messages(maildir: &Path, n: usize, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = read_maildir(maildir);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} messages in {} after {timeout:?}, wanted {n}",
            got.len(),
            maildir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

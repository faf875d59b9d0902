//! SLO burn to a receiver, end to end through a real `sitepulse run`,
//! each against a real server the test starts on 127.0.0.1 and stops:
//!
//! - Alertmanager: the page is pushed to it (its `/api/v2/alerts` lists it
//!   with our labels and summary), then resolved and gone once good
//!   traffic brings the burn down;
//! - SMTP (aiosmtpd): the page is due while nothing listens; sitepulse
//!   retries (counted on `/metrics`) until the server is up, and the
//!   message names site, SLO and burn rate;
//! - a webhook receiver: one POST of Alertmanager's payload, none more
//!   after a restart while the alert still fires (the notification log is
//!   kept in the state directory), and a test notification on demand.
//!
//! Traffic: 970 200s and 30 503s for `shop` burn the 0.1% budget 30x too
//! fast in every window, past both page rows of the default SLOs (1h/5m
//! over 14.4x, 6h/30m over 6x); 5,000 more 200s bring it to 5x, below
//! both (the ticket rows, 3x and 1x, only make a ticket pending for
//! `ticket_for_secs`, 10 min).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use sitepulse_tests::http::{get_with, request};
use sitepulse_tests::servers::{Alertmanager, Smtpd, free_port, python};
use sitepulse_tests::{Collector, append, clf_line, tmpdir, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const ALERT: &str = "SitepulseSLOErrorBudgetBurn";
const CI: (&str, &str) = ("authorization", "Bearer ci-t0ken");

/// Writes `sitepulse.yaml` in `d`: logs in `d/logs`, SLOs evaluated each
/// second, pages at once, and the given lines under `alerting:`.
fn config(d: &Path, alerting: &str) -> PathBuf {
    let p = d.join("sitepulse.yaml");
    std::fs::write(
        &p,
        format!(
            concat!(
                "tail:\n  sources:\n    - include: [\"{0}/logs/*.log\"]\n",
                "  read_existing: beginning\n  checkpoint_path: \"{0}/ckpt.json\"\n",
                "server:\n  listen: \"127.0.0.1:0\"\n",
                "slo:\n  evaluate_interval_secs: 1\n",
                "alerting:\n  page_for_secs: 0\n  state_dir: \"{0}/alerting\"\n{1}",
            ),
            d.display(),
            alerting
        ),
    )
    .unwrap();
    p
}

fn start(d: &Path, cfg: &Path, log: &str) -> Collector {
    Collector::start(BIN, &[Path::new("--config"), cfg], &d.join(log))
}

fn lines(n: usize, status: u16) -> String {
    (0..n).map(|_| clf_line("shop", status, 20)).collect()
}

/// Makes `shop` burn its availability budget 30x too fast.
fn burn(log: &Path) {
    append(log, &(lines(970, 200) + &lines(30, 503)));
}

/// A counter or gauge on `/metrics`: the sample named exactly `series`
/// (with its labels).
fn metric(port: u16, series: &str) -> Option<f64> {
    let (_, text) = get_with(port, "/metrics", &[]).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn alertmanager_gets_the_page_and_its_resolution() {
    let am = Alertmanager::start("route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n");
    let d = tmpdir("alerting-e2e", "am");
    let log = d.join("logs/access.log");
    let cfg = config(
        &d,
        &format!(
            concat!(
                "  receivers:\n",
                "    - name: am\n",
                "      alertmanager: {{urls: [\"{0}\"], resend_interval_secs: 5}}\n",
                "  routes:\n",
                "    - {{receiver: am, group_wait_secs: 0, group_interval_secs: 1, repeat_interval_secs: 5}}\n",
            ),
            am.base
        ),
    );
    burn(&log);
    let c = start(&d, &cfg, "run.log");
    let filter = format!("alertname=\"{ALERT}\"");
    let query = [("filter", filter.as_str()), ("active", "true")];
    let mut got = Vec::new();
    wait_for(
        "the page in Alertmanager's /api/v2/alerts",
        Duration::from_secs(20),
        || {
            got = am.alerts(&query);
            !got.is_empty()
        },
    );
    assert_eq!(got.len(), 1, "{got:#?}");
    let a = &got[0];
    for (k, v) in [
        ("alertname", ALERT),
        ("site", "shop"),
        ("slo", "availability"),
        ("severity", "page"),
    ] {
        assert_eq!(a["labels"][k], v, "{k}: {a:#}");
    }
    let summary = a["annotations"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("shop: SLO availability burning its error budget"),
        "{a:#}"
    );
    assert_eq!(a["status"]["state"], "active", "{a:#}");

    // Good traffic: the page resolves, sitepulse pushes the resolution
    // (endsAt now) and Alertmanager no longer lists it (its API leaves
    // out alerts whose endsAt has passed).
    append(&log, &lines(5000, 200));
    wait_for(
        "the page gone from Alertmanager",
        Duration::from_secs(20),
        || am.alerts(&[("filter", filter.as_str())]).is_empty(),
    );
    // By the resolution, not by expiry (endsAt lies 4 resends, 20 s,
    // ahead of each push).
    let text = c.log_text();
    assert!(
        text.lines().any(|l| l.contains("notified")
            && l.contains("receiver=am")
            && l.contains("status=\"resolved\"")),
        "no resolution pushed:\n{text}"
    );
}

#[test]
fn email_outage_is_retried_until_the_server_is_up() {
    python(); // Fails here, naming the install command, without aiosmtpd.
    let d = tmpdir("alerting-e2e", "mail");
    let log = d.join("logs/access.log");
    let port = free_port();
    let cfg = config(
        &d,
        &format!(
            concat!(
                "  receivers:\n",
                "    - name: mail\n",
                "      email: {{host: 127.0.0.1, port: {0}, tls: none, ",
                "from: \"sitepulse <sitepulse@example.org>\", to: [\"ops@example.org\"]}}\n",
                "      retry: {{max_attempts: 20, initial_backoff_ms: 200, max_backoff_secs: 1}}\n",
                "  routes:\n",
                "    - {{receiver: mail, group_wait_secs: 0}}\n",
            ),
            port
        ),
    );
    burn(&log);
    let c = start(&d, &cfg, "run.log");
    // The page is due while nothing listens on the port: refused, retried.
    wait_for(
        "a retry of the e-mail on /metrics",
        Duration::from_secs(20),
        || {
            metric(
                c.port,
                "sitepulse_notification_retries_total{receiver=\"mail\"}",
            )
            .is_some_and(|n| n > 0.0)
        },
    );
    let smtpd = Smtpd::start(port, &d.join("maildir"));
    let got = smtpd.wait_for_messages(1, Duration::from_secs(20));
    assert_eq!(got.len(), 1, "{got:#?}");
    let m = &got[0];
    assert_eq!(m["subject"], format!("[FIRING:1] {ALERT} shop"), "{m:#}");
    assert_eq!(m["to"], "ops@example.org", "{m:#}");
    let text = m["text"].as_str().unwrap_or_default();
    let html = m["html"].as_str().unwrap_or_default();
    for want in ["Site: shop", "SLO: availability", "Severity: page"] {
        assert!(text.contains(want), "{want:?} not in text part:\n{text}");
    }
    for want in ["<td>shop</td>", "<td>availability</td>"] {
        assert!(html.contains(want), "{want:?} not in HTML part:\n{html}");
    }
    // The burn rate at the time of sending: 30x once every line is
    // counted, above the page's 14.4x in any case.
    let rate = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Burn rate: "))
        .unwrap_or_else(|| panic!("no burn rate in the text part:\n{text}"));
    let long: f64 = rate
        .split_once("x (long window)")
        .and_then(|(r, _)| r.parse().ok())
        .unwrap_or_else(|| panic!("burn rate {rate:?}"));
    assert!(long > 14.4, "{rate}");
    assert!(
        html.contains(&format!("<td>{rate}</td>")),
        "{rate:?} not in HTML part:\n{html}"
    );
    assert_eq!(
        metric(
            c.port,
            "sitepulse_notifications_sent_total{receiver=\"mail\",kind=\"email\"}"
        ),
        Some(1.0)
    );
}

/// A webhook receiver on 127.0.0.1: answers each request 200 (one per
/// connection) and hands on its request line and JSON body.
struct Hook {
    port: u16,
    rx: mpsc::Receiver<(String, Value)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hook {
    fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut s) = conn else { continue };
                    let got = read_request(&mut s);
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    );
                    if tx.send(got).is_err() {
                        break;
                    }
                }
            }
        });
        Hook {
            port,
            rx,
            stop,
            thread: Some(thread),
        }
    }

    /// The next request within `timeout`.
    fn next(&self, timeout: Duration) -> Option<(String, Value)> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop up to see the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP/1.1 request with a `content-length` body: its request line
/// and the body as JSON (a string when it is not JSON).
fn read_request(s: &mut TcpStream) -> (String, Value) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return (String::from_utf8_lossy(&buf).into_owned(), Value::Null),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = &buf[head_end..buf.len().min(head_end + len)];
    let line = head.lines().next().unwrap_or_default().to_owned();
    let v = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    (line, v)
}

/// Whether the state directory's notification log has an entry for
/// receiver `hook` (the dispatcher's log, saved with the alert states).
fn logged_to_hook(d: &Path) -> bool {
    let Ok(b) = std::fs::read(d.join("alerting/alerts.json")) else {
        return false;
    };
    let v: Value = serde_json::from_slice(&b).unwrap_or_default();
    v["dispatcher"]["log"]
        .as_object()
        .is_some_and(|l| l.keys().any(|k| k.starts_with("hook\u{1f}")))
}

fn shop_page_firing(c: &Collector) -> bool {
    let Ok((200, body)) = get_with(c.port, "/api/v1/alerts?state=firing", &[CI]) else {
        return false;
    };
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    v["alerts"].as_array().is_some_and(|a| {
        a.iter().any(|a| {
            a["labels"]["alertname"] == ALERT
                && a["labels"]["site"] == "shop"
                && a["labels"]["severity"] == "page"
        })
    })
}

#[test]
fn webhook_pages_once_across_a_restart() {
    let hook = Hook::start();
    let d = tmpdir("alerting-e2e", "hook");
    std::fs::write(d.join("ci.token"), "ci-t0ken\n").unwrap();
    let log = d.join("logs/access.log");
    let cfg = config(
        &d,
        &format!(
            concat!(
                "  api:\n    writers:\n      - {{name: ci, token_file: \"{0}/ci.token\"}}\n",
                "  receivers:\n",
                "    - name: hook\n",
                "      webhook: {{url: \"http://127.0.0.1:{1}/hook\"}}\n",
                "  routes:\n",
                "    - {{receiver: hook, group_wait_secs: 0, group_interval_secs: 1, repeat_interval_secs: 3600}}\n",
            ),
            d.display(),
            hook.port
        ),
    );
    burn(&log);
    let mut c = start(&d, &cfg, "run.log");
    let (line, v) = hook
        .next(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no POST within 20 s:\n{}", c.log_text()));
    assert!(line.starts_with("POST /hook HTTP/1.1"), "{line}");
    assert_eq!(v["version"], "4", "{v:#}");
    assert_eq!(v["status"], "firing", "{v:#}");
    assert_eq!(v["receiver"], "hook", "{v:#}");
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(1), "{v:#}");
    let labels = &v["alerts"][0]["labels"];
    assert_eq!(labels["alertname"], ALERT, "{v:#}");
    assert_eq!(labels["site"], "shop", "{v:#}");
    assert_eq!(labels["slo"], "availability", "{v:#}");
    assert_eq!(labels["severity"], "page", "{v:#}");
    assert_eq!(v["alerts"][0]["status"], "firing", "{v:#}");

    // Stop once the delivery is in the saved notification log (it is
    // written when the POST has been answered).
    wait_for(
        "the notification log saved",
        Duration::from_secs(10),
        || logged_to_hook(&d),
    );
    c.sigterm(Duration::from_secs(15)).unwrap();
    // The same config and state: the checkpoint keeps the lines from
    // being read again, the counts and alert states come back from disk.
    let c = start(&d, &cfg, "run2.log");
    wait_for(
        "the page firing again after the restart",
        Duration::from_secs(15),
        || shop_page_firing(&c),
    );
    let quiet_until = Instant::now() + Duration::from_secs(5);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        if let Some(again) = hook.next(left) {
            panic!(
                "notified again after the restart, though the saved notification log \
                 says the receiver was told of this firing alert: {again:?}\n{}",
                c.log_text()
            );
        }
    }
    assert!(shop_page_firing(&c), "{}", c.log_text());

    // A test notification, asked for by a writer.
    let (st, body) = request(
        "POST",
        c.port,
        "/api/v1/notifications/test",
        &[CI, ("content-type", "application/json")],
        br#"{"receiver":"hook"}"#,
    )
    .unwrap();
    assert_eq!(st, 200, "{body}");
    let (_, v) = hook
        .next(Duration::from_secs(10))
        .expect("the test notification");
    assert_eq!(v["version"], "4", "{v:#}");
    assert_eq!(
        v["alerts"][0]["labels"]["alertname"], "SitepulseTestNotification",
        "{v:#}"
    );
    assert!(
        v["alerts"][0]["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("by ci")),
        "{v:#}"
    );
}

//! Line heads of Python (logging, gunicorn, uvicorn) and Java (Spring
//! Boot, logback) programs; the caller writes the message after them.

use super::{Event, Lvl, prose, push_hms, push_time};
use crate::rng::Rng;
use crate::text::{Civil, push_padded, push_u64, split_ns};

pub(super) const PY_LOGGERS: &[&str] = &["app.orders", "app.db", "worker.tasks", "app.payments"];

/// `2026-11-22 10:00:00,123 - app.orders - INFO - `
pub(super) fn py_logging(buf: &mut Vec<u8>, rng: &mut Rng, at: i64, lvl: Lvl) {
    push_time(buf, at, b'-', b' ', 3, b',', b"");
    buf.extend_from_slice(b" - ");
    buf.extend_from_slice(rng.pick(PY_LOGGERS).as_bytes());
    buf.extend_from_slice(b" - ");
    buf.extend_from_slice(lvl.python());
    buf.extend_from_slice(b" - ");
}

/// gunicorn's own log: `[2026-11-22 10:00:00 +0000] [1] [INFO] Booting worker with pid: 8`.
pub(super) fn gunicorn(buf: &mut Vec<u8>, rng: &mut Rng, at: i64, lvl: Lvl) {
    buf.push(b'[');
    push_time(buf, at, b'-', b' ', 0, b'.', b" +0000");
    buf.extend_from_slice(b"] [");
    let worker = rng.range(7, 40);
    push_u64(buf, if lvl == Lvl::Info { 1 } else { worker });
    buf.extend_from_slice(b"] [");
    buf.extend_from_slice(lvl.python());
    buf.extend_from_slice(b"] ");
    match lvl {
        Lvl::Debug => buf.extend_from_slice(b"GET /healthz"),
        Lvl::Info => {
            let msg = *rng.pick(&[
                "Booting worker with pid: ",
                "Booting worker with pid: ",
                "Using worker: gthread",
                "Handling signal: term",
                "Starting gunicorn 22.0.0",
            ]);
            buf.extend_from_slice(msg.as_bytes());
            if msg.ends_with(' ') {
                push_u64(buf, worker);
            }
        }
        Lvl::Warn => {
            buf.extend_from_slice(b"Worker with pid ");
            push_u64(buf, worker);
            buf.extend_from_slice(b" was terminated due to signal 9");
        }
        Lvl::Error => {
            buf.extend_from_slice(b"Worker (pid:");
            push_u64(buf, worker);
            buf.extend_from_slice(b") was sent SIGKILL! Perhaps out of memory?");
        }
    }
}

/// uvicorn's default formatter: `INFO:     ` (the level, a colon, padded
/// to nine) then its access line or the message.
pub(super) fn uvicorn(buf: &mut Vec<u8>, rng: &mut Rng, lvl: Lvl, ev: &Event) {
    let name = lvl.python();
    buf.extend_from_slice(name);
    buf.push(b':');
    for _ in name.len()..9 {
        buf.push(b' ');
    }
    if lvl == Lvl::Info && rng.chance(0.6) {
        buf.extend_from_slice(b"10.42.");
        push_u64(buf, rng.below(8));
        buf.push(b'.');
        push_u64(buf, rng.range(2, 250));
        buf.push(b':');
        push_u64(buf, rng.range(32_768, 60_999));
        buf.extend_from_slice(b" - \"GET /api/v1/health HTTP/1.1\" 200 OK");
    } else {
        prose(buf, ev);
    }
}

const THREADS: &[&str] = &[
    "main",
    "http-nio-8080-exec-3",
    "http-nio-8080-exec-10",
    "scheduling-1",
];
const JAVA_LOGGERS: &[(&str, &str)] = &[
    (
        "c.a.orders.web.OrderController",
        "com.acme.orders.web.OrderController",
    ),
    (
        "c.a.orders.service.OrderService",
        "com.acme.orders.service.OrderService",
    ),
    (
        "o.s.web.servlet.DispatcherServlet",
        "org.springframework.web.servlet.DispatcherServlet",
    ),
    (
        "c.zaxxer.hikari.pool.HikariPool",
        "com.zaxxer.hikari.pool.HikariPool",
    ),
];

/// Spring Boot 3's console pattern: `%d %5p PID --- [%15.15t]
/// %-40.40logger{39} : `.
pub(super) fn spring(buf: &mut Vec<u8>, rng: &mut Rng, at: i64, lvl: Lvl) {
    push_time(buf, at, b'-', b'T', 3, b'.', b"Z");
    buf.push(b' ');
    let l = lvl.upper();
    for _ in l.len()..5 {
        buf.push(b' ');
    }
    buf.extend_from_slice(l);
    buf.extend_from_slice(b" 1 --- [");
    let t = rng.pick(THREADS).as_bytes();
    let t = &t[t.len().saturating_sub(15)..];
    for _ in t.len()..15 {
        buf.push(b' ');
    }
    buf.extend_from_slice(t);
    buf.extend_from_slice(b"] ");
    let logger = rng.pick(JAVA_LOGGERS).0.as_bytes();
    buf.extend_from_slice(logger);
    for _ in logger.len()..40 {
        buf.push(b' ');
    }
    buf.extend_from_slice(b" : ");
}

/// logback's default: `%d{HH:mm:ss.SSS} [%thread] %-5level %logger{36} - `.
pub(super) fn logback(buf: &mut Vec<u8>, rng: &mut Rng, at: i64, lvl: Lvl) {
    let (secs, nanos) = split_ns(at);
    push_hms(buf, &Civil::from_unix(secs));
    buf.push(b'.');
    push_padded(buf, u64::from(nanos / 1_000_000), 3);
    buf.extend_from_slice(b" [");
    buf.extend_from_slice(rng.pick(THREADS).as_bytes());
    buf.extend_from_slice(b"] ");
    let l = lvl.upper();
    buf.extend_from_slice(l);
    for _ in l.len()..5 {
        buf.push(b' ');
    }
    buf.push(b' ');
    buf.extend_from_slice(rng.pick(JAVA_LOGGERS).0.as_bytes());
    buf.extend_from_slice(b" - ");
}

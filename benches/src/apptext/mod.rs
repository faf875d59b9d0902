//! Application logs of a farm's other containers (the `text` format): Go
//! services (zap, zerolog, logrus, slog, klog, the `log` package), Python
//! (logging, gunicorn, uvicorn), Java (Spring Boot, logback) and bare
//! console output, each line the way its logger prints it, and now and then
//! a multi-line Java stack trace, Python traceback or Go panic. The corpus
//! is the containers' logs one after another ([`APPS`]), each container
//! writing its own program's shapes.
//!
//! Shapes, from the loggers' documentation and source: zap's production
//! encoder (`zapcore.EncodeEntry`: level, epoch `ts`, caller, msg, fields,
//! stacktrace at error), zerolog (`level`, fields, RFC 3339 `time`,
//! `message`), logrus (`JSONFormatter`: keys sorted by `encoding/json`;
//! `TextFormatter`: `time=".." level=.. msg=".."` then sorted fields, `%q`
//! where a value needs it), slog (`JSONHandler`: RFC3339Nano time, durations
//! as nanoseconds; `TextHandler`: millisecond time, durations as
//! `Duration.String`), klog (`Lmmdd hh:mm:ss.uuuuuu %7d file:line]`),
//! Python logging (`%(asctime)s - %(name)s - %(levelname)s - %(message)s`
//! and basicConfig's `%(levelname)s:%(name)s:%(message)s`), gunicorn
//! (`[%Y-%m-%d %H:%M:%S %z] [pid] [LEVEL]`), uvicorn (`INFO:     `), Spring
//! Boot 3's console pattern and logback's default pattern.

mod go;
mod py_java;
mod traces;

use go::{klog, logrus_json, logrus_text, slog_json, slog_text, zap, zerolog};
use py_java::{PY_LOGGERS, gunicorn, logback, py_logging, spring, uvicorn};

use crate::rng::Rng;
use crate::stats::TextCounts;
use crate::text::{Civil, push_padded, push_u64, split_ns};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Zap,
    Zerolog,
    LogrusJson,
    SlogJson,
    LogrusText,
    SlogText,
    Klog,
    PyLogging,
    PyBasic,
    Gunicorn,
    Uvicorn,
    Spring,
    Logback,
    GoLog,
    Bare,
    /// A Spring Boot error line and a Java stack trace.
    JavaSpring,
    /// A logback error line and a Java stack trace.
    JavaLogback,
    /// A Python logging error line and a traceback.
    PyTraceLogging,
    /// uvicorn's `Exception in ASGI application` and a traceback.
    PyTraceUvicorn,
    /// A Go panic or fatal error (a crash).
    GoPanic,
    /// net/http's recovered panic, logged through `log`.
    GoHttpPanic,
}

/// One container's program: the shapes it writes (per mille) and its
/// share of the corpus.
struct App {
    share: u32,
    /// Its records start with a mark the collector's default multi-line
    /// rule knows: a date and time, a klog header, a JSON object or a
    /// logfmt pair.
    marked: bool,
    shapes: &'static [(Shape, u32)],
}

/// The containers, in the order their logs follow each other in the
/// corpus (as if their files were concatenated). One container writes one
/// kind of first line: the default multi-line rule joins an unmarked line
/// to the marked record above it, so the unmarked programs come first, and
/// the file ends in a crash (a Go panic starts an unmarked record), so a
/// corpus can follow itself.
const APPS: &[App] = &[
    // Node.js console output.
    App {
        share: 50,
        marked: false,
        shapes: &[(Shape::Bare, 1000)],
    },
    // FastAPI under uvicorn, the app logging through basicConfig.
    App {
        share: 65,
        marked: false,
        shapes: &[
            (Shape::Uvicorn, 600),
            (Shape::PyBasic, 380),
            (Shape::PyTraceUvicorn, 20),
        ],
    },
    App {
        share: 30,
        marked: false,
        shapes: &[(Shape::Logback, 975), (Shape::JavaLogback, 25)],
    },
    App {
        share: 150,
        marked: true,
        shapes: &[(Shape::Zap, 995), (Shape::GoPanic, 5)],
    },
    App {
        share: 100,
        marked: true,
        shapes: &[(Shape::Zerolog, 1000)],
    },
    App {
        share: 60,
        marked: true,
        shapes: &[(Shape::LogrusJson, 1000)],
    },
    App {
        share: 40,
        marked: true,
        shapes: &[(Shape::SlogJson, 1000)],
    },
    App {
        share: 80,
        marked: true,
        shapes: &[(Shape::LogrusText, 995), (Shape::GoPanic, 5)],
    },
    App {
        share: 90,
        marked: true,
        shapes: &[(Shape::SlogText, 1000)],
    },
    // A WSGI app under gunicorn, logging with asctime.
    App {
        share: 110,
        marked: true,
        shapes: &[
            (Shape::PyLogging, 700),
            (Shape::Gunicorn, 280),
            (Shape::PyTraceLogging, 20),
        ],
    },
    App {
        share: 70,
        marked: true,
        shapes: &[(Shape::Spring, 975), (Shape::JavaSpring, 25)],
    },
    App {
        share: 35,
        marked: true,
        shapes: &[(Shape::GoLog, 990), (Shape::GoHttpPanic, 10)],
    },
    // A Kubernetes controller.
    App {
        share: 110,
        marked: true,
        shapes: &[(Shape::Klog, 995), (Shape::GoPanic, 5)],
    },
];

/// The app record `i` of `lines` belongs to.
fn app_at(i: u64, lines: u64) -> &'static App {
    let total: u64 = APPS.iter().map(|a| u64::from(a.share)).sum();
    let mut end = 0u64;
    for app in APPS {
        end += u64::from(app.share);
        if u128::from(i) * u128::from(total) < u128::from(end) * u128::from(lines) {
            return app;
        }
    }
    &APPS[APPS.len() - 1]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lvl {
    Debug,
    Info,
    Warn,
    Error,
}

const LEVELS: &[(Lvl, u32)] = &[
    (Lvl::Debug, 4),
    (Lvl::Info, 76),
    (Lvl::Warn, 12),
    (Lvl::Error, 8),
];

impl Lvl {
    /// The normalised name a reader gives it (the pipeline's `Level::name`).
    fn expected(self) -> &'static str {
        match self {
            Lvl::Debug => "debug",
            Lvl::Info => "info",
            Lvl::Warn => "warning",
            Lvl::Error => "error",
        }
    }

    fn lower(self) -> &'static [u8] {
        match self {
            Lvl::Debug => b"debug",
            Lvl::Info => b"info",
            Lvl::Warn => b"warn",
            Lvl::Error => b"error",
        }
    }

    /// logrus's `Level.String()`.
    fn logrus(self) -> &'static [u8] {
        match self {
            Lvl::Warn => b"warning",
            l => l.lower(),
        }
    }

    /// slog's and Go's upper-case names.
    fn upper(self) -> &'static [u8] {
        match self {
            Lvl::Debug => b"DEBUG",
            Lvl::Info => b"INFO",
            Lvl::Warn => b"WARN",
            Lvl::Error => b"ERROR",
        }
    }

    /// Python's `levelname`.
    fn python(self) -> &'static [u8] {
        match self {
            Lvl::Warn => b"WARNING",
            l => l.upper(),
        }
    }
}

/// A field value as the program holds it.
#[derive(Debug, Clone, Copy)]
enum Val {
    Str(&'static str),
    Num(u64),
    /// A duration in microseconds, at least one millisecond.
    Dur(u64),
    /// A path or key ending in a number: `/api/v1/orders/48213`.
    Id(&'static str, u64),
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    Request,
    Query,
    CacheHit,
    JobDone,
    Connected,
    SlowQuery,
    Retry,
    Upstream,
    Decode,
}

/// A piece of an event's prose: text, or field `i` written plainly.
#[derive(Debug, Clone, Copy)]
enum P {
    L(&'static str),
    F(usize),
}

const MAX_FIELDS: usize = 4;

/// One event: its structured message, fields and prose.
#[derive(Debug, Clone, Copy)]
struct Event {
    msg: &'static str,
    kv: [(&'static str, Val); MAX_FIELDS],
    n: usize,
    prose: &'static [P],
}

impl Event {
    fn fields(&self) -> &[(&'static str, Val)] {
        &self.kv[..self.n]
    }
}

const TABLES: &[&str] = &[
    "orders",
    "order_lines",
    "customers",
    "inventory",
    "payments",
];
const JOBS: &[&str] = &["sync_inventory", "send_invoices", "rebuild_search_index"];
const UPSTREAMS: &[&str] = &[
    "http://payments.payments.svc.cluster.local:8080/v1/charges",
    "http://inventory.shop.svc.cluster.local/api/stock",
    "https://api.stripe.com/v1/payment_intents",
];
const ERRORS: &[&str] = &[
    "context deadline exceeded",
    "dial tcp 10.43.12.7:8080: connect: connection refused",
    "read tcp 10.42.1.17:40312->10.43.12.7:8080: read: connection reset by peer",
];
const DECODE_ERRORS: &[&str] = &[
    "strconv.Atoi: parsing \"abc\": invalid syntax",
    "unexpected end of JSON input",
    "json: cannot unmarshal string into Go struct field Order.total of type float64",
];
const PATHS: &[&str] = &["/api/v1/orders/", "/api/v1/customers/", "/api/v1/carts/"];
const METHODS: &[(&str, u32)] = &[("GET", 70), ("POST", 20), ("PUT", 6), ("DELETE", 4)];

/// One of `items`.
fn one(rng: &mut Rng, items: &[&'static str]) -> &'static str {
    items[rng.below(items.len() as u64) as usize]
}

fn event(rng: &mut Rng, lvl: Lvl) -> Event {
    use P::{F, L};
    let ev = match lvl {
        Lvl::Debug => *rng.pick(&[Ev::Query, Ev::CacheHit, Ev::Request]),
        Lvl::Info => *rng.pick(&[
            Ev::Request,
            Ev::Request,
            Ev::Request,
            Ev::JobDone,
            Ev::Connected,
        ]),
        Lvl::Warn => *rng.pick(&[Ev::SlowQuery, Ev::Retry]),
        Lvl::Error => *rng.pick(&[Ev::Upstream, Ev::Decode]),
    };
    let ms = |rng: &mut Rng, lo: u64, hi: u64| Val::Dur(rng.range(lo, hi));
    let none = ("", Val::Num(0));
    let (msg, kv, n, prose): (_, _, _, &'static [P]) = match ev {
        Ev::Request => (
            "request completed",
            [
                ("method", Val::Str(rng.weighted(METHODS))),
                ("path", Val::Id(one(rng, PATHS), rng.range(1000, 99_999))),
                (
                    "status",
                    Val::Num(*rng.pick(&[200, 200, 200, 201, 204, 404])),
                ),
                ("duration", ms(rng, 1_000, 250_000)),
            ],
            4,
            &[
                L("Completed "),
                F(0),
                L(" "),
                F(1),
                L(" with status "),
                F(2),
                L(" in "),
                F(3),
            ],
        ),
        Ev::Query => (
            "query executed",
            [
                ("table", Val::Str(one(rng, TABLES))),
                ("rows", Val::Num(rng.below(500))),
                ("duration", ms(rng, 1_000, 40_000)),
                none,
            ],
            3,
            &[
                L("Query on "),
                F(0),
                L(" returned "),
                F(1),
                L(" rows in "),
                F(2),
            ],
        ),
        Ev::CacheHit => (
            "cache hit",
            [
                ("key", Val::Id("session:", rng.range(100_000, 999_999))),
                ("ttl", Val::Num(rng.range(1, 3600))),
                none,
                none,
            ],
            2,
            &[L("Cache hit for key "), F(0), L(", ttl "), F(1), L("s")],
        ),
        Ev::JobDone => (
            "job finished",
            [
                ("job", Val::Str(one(rng, JOBS))),
                ("items", Val::Num(rng.below(20_000))),
                ("duration", ms(rng, 50_000, 90_000_000)),
                none,
            ],
            3,
            &[
                L("Job "),
                F(0),
                L(" finished: "),
                F(1),
                L(" items in "),
                F(2),
            ],
        ),
        Ev::Connected => (
            "connected to database",
            [
                ("host", Val::Str("postgres-rw.db.svc.cluster.local:5432")),
                ("pool_size", Val::Num(*rng.pick(&[10, 20, 50]))),
                none,
                none,
            ],
            2,
            &[L("Connected to "), F(0), L(", pool size "), F(1)],
        ),
        Ev::SlowQuery => (
            "slow query",
            [
                ("table", Val::Str(one(rng, TABLES))),
                ("duration", ms(rng, 1_000_000, 9_000_000)),
                none,
                none,
            ],
            2,
            &[L("Slow query on "), F(0), L(": took "), F(1)],
        ),
        Ev::Retry => (
            "retrying request",
            [
                ("url", Val::Str(one(rng, UPSTREAMS))),
                ("attempt", Val::Num(rng.range(1, 5))),
                ("backoff", ms(rng, 100_000, 3_200_000)),
                none,
            ],
            3,
            &[
                L("Retrying "),
                F(0),
                L(", attempt "),
                F(1),
                L(" after "),
                F(2),
            ],
        ),
        Ev::Upstream => (
            "upstream request failed",
            [
                ("url", Val::Str(one(rng, UPSTREAMS))),
                ("error", Val::Str(one(rng, ERRORS))),
                none,
                none,
            ],
            2,
            &[L("Request to "), F(0), L(" failed: "), F(1)],
        ),
        Ev::Decode => (
            "failed to decode message",
            [
                ("topic", Val::Str("orders.created")),
                ("error", Val::Str(one(rng, DECODE_ERRORS))),
                none,
                none,
            ],
            2,
            &[L("Failed to decode message from "), F(0), L(": "), F(1)],
        ),
    };
    Event { msg, kv, n, prose }
}

/// Writes record `i` of `lines` (one line, or a line and its stack trace),
/// each line ending in `\n`, dated `at`; counts it in `counts`. Returns
/// whether the record's first line carries a full date and time.
pub(crate) fn entry(
    buf: &mut Vec<u8>,
    rng: &mut Rng,
    at: i64,
    (i, lines): (u64, u64),
    counts: &mut TextCounts,
) -> bool {
    let app = app_at(i, lines);
    let mut shape = rng.weighted(app.shapes);
    if app.marked && i + 1 == lines {
        // The last container crashes.
        shape = Shape::GoPanic;
    }
    let lvl = rng.weighted(LEVELS);
    let ev = event(rng, lvl);
    let (kind, level, timed): (&mut u64, &'static str, bool) = match shape {
        Shape::Zap => {
            zap(buf, rng, at, lvl, &ev);
            (&mut counts.json, lvl.expected(), true)
        }
        Shape::Zerolog => {
            zerolog(buf, at, lvl, &ev);
            (&mut counts.json, lvl.expected(), true)
        }
        Shape::LogrusJson => {
            logrus_json(buf, at, lvl, &ev);
            (&mut counts.json, lvl.expected(), true)
        }
        Shape::SlogJson => {
            slog_json(buf, at, lvl, &ev);
            (&mut counts.json, lvl.expected(), true)
        }
        Shape::LogrusText => {
            logrus_text(buf, at, lvl, &ev);
            (&mut counts.logfmt, lvl.expected(), true)
        }
        Shape::SlogText => {
            slog_text(buf, at, lvl, &ev);
            (&mut counts.logfmt, lvl.expected(), true)
        }
        Shape::Klog => {
            klog(buf, rng, at, lvl, &ev);
            // klog has no debug level: verbose lines are `I`.
            let l = if lvl == Lvl::Debug {
                "info"
            } else {
                lvl.expected()
            };
            (&mut counts.klog, l, false)
        }
        Shape::PyLogging => {
            py_logging(buf, rng, at, lvl);
            prose(buf, &ev);
            (&mut counts.plain, lvl.expected(), true)
        }
        Shape::PyBasic => {
            buf.extend_from_slice(lvl.python());
            buf.push(b':');
            buf.extend_from_slice(rng.pick(PY_LOGGERS).as_bytes());
            buf.push(b':');
            prose(buf, &ev);
            (&mut counts.plain, lvl.expected(), false)
        }
        Shape::Gunicorn => {
            gunicorn(buf, rng, at, lvl);
            (&mut counts.plain, lvl.expected(), true)
        }
        Shape::Uvicorn => {
            uvicorn(buf, rng, lvl, &ev);
            (&mut counts.plain, lvl.expected(), false)
        }
        Shape::Spring => {
            spring(buf, rng, at, lvl);
            prose(buf, &ev);
            (&mut counts.plain, lvl.expected(), true)
        }
        Shape::Logback => {
            logback(buf, rng, at, lvl);
            prose(buf, &ev);
            (&mut counts.plain, lvl.expected(), false)
        }
        Shape::GoLog => {
            push_time(buf, at, b'/', b' ', 0, b'.', b"");
            buf.push(b' ');
            // hashicorp/logutils-style `[LEVEL]` prefixes, or none.
            let level = if rng.chance(0.5) {
                buf.push(b'[');
                buf.extend_from_slice(lvl.upper());
                buf.extend_from_slice(b"] ");
                lvl.expected()
            } else {
                ""
            };
            prose(buf, &ev);
            (&mut counts.plain, level, true)
        }
        Shape::Bare => {
            let level = bare(buf, rng, &ev);
            (&mut counts.plain, level, false)
        }
        Shape::JavaSpring => {
            spring(buf, rng, at, Lvl::Error);
            // Tomcat's StandardWrapperValve, as Spring Boot logs it.
            buf.extend_from_slice(
                b"Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception",
            );
            traces::java(buf, rng);
            (&mut counts.java, "error", true)
        }
        Shape::JavaLogback => {
            logback(buf, rng, at, Lvl::Error);
            buf.extend_from_slice(b"Order lookup failed");
            traces::java(buf, rng);
            (&mut counts.java, "error", false)
        }
        Shape::PyTraceLogging => {
            py_logging(buf, rng, at, Lvl::Error);
            buf.extend_from_slice(b"Task ");
            buf.extend_from_slice(one(rng, JOBS).as_bytes());
            buf.extend_from_slice(b" failed");
            traces::python(buf, rng);
            (&mut counts.python, "error", true)
        }
        Shape::PyTraceUvicorn => {
            buf.extend_from_slice(b"ERROR:    Exception in ASGI application");
            traces::python(buf, rng);
            (&mut counts.python, "error", false)
        }
        Shape::GoPanic => {
            traces::go_panic(buf, rng);
            (&mut counts.go, "fatal", false)
        }
        Shape::GoHttpPanic => {
            traces::go_http_panic(buf, at);
            (&mut counts.go, "", true)
        }
    };
    buf.push(b'\n');
    *kind += 1;
    counts.timed += u64::from(timed);
    *counts.levels.entry(level).or_default() += 1;
    timed
}

/// `date_sep` between the date's parts, `t` between date and time,
/// `frac` fraction digits after `frac_sep`, then `zone` as written.
fn push_time(
    buf: &mut Vec<u8>,
    ns: i64,
    date_sep: u8,
    t: u8,
    frac: u32,
    frac_sep: u8,
    zone: &[u8],
) {
    let (secs, nanos) = split_ns(ns);
    let c = Civil::from_unix(secs);
    push_padded(buf, c.year.max(0) as u64, 4);
    buf.push(date_sep);
    push_padded(buf, u64::from(c.month), 2);
    buf.push(date_sep);
    push_padded(buf, u64::from(c.day), 2);
    buf.push(t);
    push_hms(buf, &c);
    if frac > 0 {
        buf.push(frac_sep);
        push_padded(buf, u64::from(nanos / 10u32.pow(9 - frac)), frac as usize);
    }
    buf.extend_from_slice(zone);
}

fn push_hms(buf: &mut Vec<u8>, c: &Civil) {
    push_padded(buf, u64::from(c.hour), 2);
    buf.push(b':');
    push_padded(buf, u64::from(c.min), 2);
    buf.push(b':');
    push_padded(buf, u64::from(c.sec), 2);
}

/// Go's `time.RFC3339Nano`: trailing zeros of the fraction dropped.
fn push_rfc3339_nano(buf: &mut Vec<u8>, ns: i64) {
    push_time(buf, ns, b'-', b'T', 0, b'.', b"");
    let mut n = split_ns(ns).1;
    if n != 0 {
        let mut digits = 9;
        while n.is_multiple_of(10) {
            n /= 10;
            digits -= 1;
        }
        buf.push(b'.');
        push_padded(buf, u64::from(n), digits);
    }
    buf.push(b'Z');
}

/// Go's `Duration.String` for 1 ms and more: `12.345ms`, `1.5s`.
fn push_go_duration(buf: &mut Vec<u8>, us: u64) {
    if us >= 1_000_000 {
        push_float(buf, us, 6);
        buf.push(b's');
    } else {
        push_float(buf, us, 3);
        buf.extend_from_slice(b"ms");
    }
}

/// `v / 10^frac` as strconv's shortest float: no trailing zeros.
fn push_float(buf: &mut Vec<u8>, v: u64, frac: u32) {
    let scale = 10u64.pow(frac);
    push_u64(buf, v / scale);
    let (mut f, mut d) = (v % scale, frac as usize);
    if f == 0 {
        return;
    }
    while f.is_multiple_of(10) {
        f /= 10;
        d -= 1;
    }
    buf.push(b'.');
    push_padded(buf, f, d);
}

/// A value as prose or a Python/Java message prints it.
fn push_plain(buf: &mut Vec<u8>, v: Val) {
    match v {
        Val::Str(s) => buf.extend_from_slice(s.as_bytes()),
        Val::Num(n) => push_u64(buf, n),
        Val::Dur(us) => {
            push_u64(buf, us / 1_000);
            buf.extend_from_slice(b" ms");
        }
        Val::Id(p, n) => {
            buf.extend_from_slice(p.as_bytes());
            push_u64(buf, n);
        }
    }
}

fn prose(buf: &mut Vec<u8>, ev: &Event) {
    for p in ev.prose {
        match *p {
            P::L(s) => buf.extend_from_slice(s.as_bytes()),
            P::F(i) => push_plain(buf, ev.kv[i].1),
        }
    }
}

const BARE: &[&str] = &[
    "Listening on port 3000",
    "Server started",
    "> orders-web@2.4.1 start",
    "> node dist/main.js",
    "Compiled successfully in 2314 ms",
    "Connected to redis at redis-master.cache.svc:6379",
    "Loaded 24 routes",
    "Received SIGTERM, shutting down gracefully",
    "Waiting for connections on 0.0.0.0:8080",
];

/// Console output with no time and no level (an event's prose, or a
/// start-up line), now and then an npm warning. Returns the level a reader
/// sees.
fn bare(buf: &mut Vec<u8>, rng: &mut Rng, ev: &Event) -> &'static str {
    if rng.chance(0.5) {
        prose(buf, ev);
        ""
    } else if rng.chance(0.05) {
        // npm 8+: `npm WARN config production Use `--omit=dev` instead.`
        buf.extend_from_slice(b"npm WARN config production Use `--omit=dev` instead.");
        "warning"
    } else {
        buf.extend_from_slice(rng.pick(BARE).as_bytes());
        ""
    }
}

#[cfg(test)]
mod tests;

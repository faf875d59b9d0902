//! The Go loggers' lines: zap, zerolog, logrus (JSON and text), slog
//! (JSON and text) and klog.

use super::{
    Event, Lvl, MAX_FIELDS, Val, prose, push_float, push_go_duration, push_hms, push_plain,
    push_rfc3339_nano, push_time,
};
use crate::rng::Rng;
use crate::text::{Civil, push_json_escaped, push_padded, push_u64, split_ns};

/// How a JSON logger writes a `time.Duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DurJson {
    /// zap's production `SecondsDurationEncoder`: float seconds.
    Secs,
    /// zerolog's default: float milliseconds.
    Millis,
    /// `encoding/json` (logrus) and slog: integer nanoseconds.
    Nanos,
}

/// How a logfmt writer decides to quote a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quote {
    /// logrus `TextFormatter.needsQuoting`: anything outside
    /// `[A-Za-z0-9-._/@^+]`.
    Logrus,
    /// slog `TextHandler`: empty, or a space, `=`, `"` or control byte.
    Slog,
}

fn push_json_str(buf: &mut Vec<u8>, s: &[u8]) {
    buf.push(b'"');
    push_json_escaped(buf, s);
    buf.push(b'"');
}

fn push_json_val(buf: &mut Vec<u8>, v: Val, dur: DurJson) {
    match v {
        Val::Str(s) => push_json_str(buf, s.as_bytes()),
        Val::Num(n) => push_u64(buf, n),
        Val::Dur(us) => match dur {
            DurJson::Secs => push_float(buf, us, 6),
            DurJson::Millis => push_float(buf, us, 3),
            DurJson::Nanos => push_u64(buf, us * 1_000),
        },
        Val::Id(p, n) => {
            buf.push(b'"');
            buf.extend_from_slice(p.as_bytes());
            push_u64(buf, n);
            buf.push(b'"');
        }
    }
}

/// `,"key":value` for each field.
fn json_fields(buf: &mut Vec<u8>, ev: &Event, dur: DurJson) {
    for &(k, v) in ev.fields() {
        buf.extend_from_slice(b",\"");
        buf.extend_from_slice(k.as_bytes());
        buf.extend_from_slice(b"\":");
        push_json_val(buf, v, dur);
    }
}

const CALLERS: &[&str] = &[
    "api/server.go:142",
    "api/orders.go:57",
    "queue/consumer.go:118",
    "store/postgres.go:203",
    "cmd/main.go:64",
];

/// zap production: `{"level":"info","ts":1795341600.123456,"caller":..,
/// "msg":..,fields..}` and, at error, the caller's `stacktrace`.
pub(super) fn zap(buf: &mut Vec<u8>, rng: &mut Rng, at: i64, lvl: Lvl, ev: &Event) {
    buf.extend_from_slice(b"{\"level\":\"");
    buf.extend_from_slice(lvl.lower());
    buf.extend_from_slice(b"\",\"ts\":");
    // `float64(UnixNano) / 1e9` printed with strconv's shortest form.
    let ts = at as f64 / 1e9;
    let _ = std::io::Write::write_fmt(buf, format_args!("{ts}"));
    buf.extend_from_slice(b",\"caller\":\"");
    buf.extend_from_slice(rng.pick(CALLERS).as_bytes());
    buf.extend_from_slice(b"\",\"msg\":");
    push_json_str(buf, ev.msg.as_bytes());
    json_fields(buf, ev, DurJson::Secs);
    if lvl == Lvl::Error {
        buf.extend_from_slice(b",\"stacktrace\":");
        push_json_str(
            buf,
            b"github.com/acme/orders/internal/api.(*Server).handleOrder\n\t/src/internal/api/server.go:142\n\
              net/http.HandlerFunc.ServeHTTP\n\t/usr/local/go/src/net/http/server.go:2166\n\
              net/http.(*conn).serve\n\t/usr/local/go/src/net/http/server.go:2039",
        );
    }
    buf.push(b'}');
}

/// zerolog: level, the event's fields, `time` (RFC 3339, seconds), then
/// `message`.
pub(super) fn zerolog(buf: &mut Vec<u8>, at: i64, lvl: Lvl, ev: &Event) {
    buf.extend_from_slice(b"{\"level\":\"");
    buf.extend_from_slice(lvl.lower());
    buf.push(b'"');
    json_fields(buf, ev, DurJson::Millis);
    buf.extend_from_slice(b",\"time\":\"");
    push_time(buf, at, b'-', b'T', 0, b'.', b"Z");
    buf.extend_from_slice(b"\",\"message\":");
    push_json_str(buf, ev.msg.as_bytes());
    buf.push(b'}');
}

/// logrus `JSONFormatter`: one map, so `encoding/json` sorts every key.
pub(super) fn logrus_json(buf: &mut Vec<u8>, at: i64, lvl: Lvl, ev: &Event) {
    #[derive(Clone, Copy)]
    enum J {
        F(Val),
        Level,
        Msg,
        Time,
    }
    let mut all = [("", J::Level); MAX_FIELDS + 3];
    all[0] = ("level", J::Level);
    all[1] = ("msg", J::Msg);
    all[2] = ("time", J::Time);
    for (i, &(k, v)) in ev.fields().iter().enumerate() {
        all[3 + i] = (k, J::F(v));
    }
    let all = &mut all[..3 + ev.n];
    all.sort_unstable_by_key(|e| e.0);
    buf.push(b'{');
    for (i, &(k, v)) in all.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.push(b'"');
        buf.extend_from_slice(k.as_bytes());
        buf.extend_from_slice(b"\":");
        match v {
            J::F(v) => push_json_val(buf, v, DurJson::Nanos),
            J::Level => push_json_str(buf, lvl.logrus()),
            J::Msg => push_json_str(buf, ev.msg.as_bytes()),
            J::Time => {
                buf.push(b'"');
                push_time(buf, at, b'-', b'T', 0, b'.', b"Z");
                buf.push(b'"');
            }
        }
    }
    buf.push(b'}');
}

/// slog `JSONHandler`: time (RFC3339Nano), level, msg, then the fields.
pub(super) fn slog_json(buf: &mut Vec<u8>, at: i64, lvl: Lvl, ev: &Event) {
    buf.extend_from_slice(b"{\"time\":\"");
    push_rfc3339_nano(buf, at);
    buf.extend_from_slice(b"\",\"level\":\"");
    buf.extend_from_slice(lvl.upper());
    buf.extend_from_slice(b"\",\"msg\":");
    push_json_str(buf, ev.msg.as_bytes());
    json_fields(buf, ev, DurJson::Nanos);
    buf.push(b'}');
}

/// A logfmt value, quoted with Go's `%q` where `q` says it must be.
pub(super) fn push_logfmt(buf: &mut Vec<u8>, s: &[u8], q: Quote) {
    let needs = s.is_empty()
        || s.iter().any(|&c| match q {
            Quote::Logrus => !(c.is_ascii_alphanumeric() || b"-._/@^+".contains(&c)),
            Quote::Slog => c <= b' ' || c == b'=' || c == b'"' || c == 0x7f,
        });
    if !needs {
        buf.extend_from_slice(s);
        return;
    }
    buf.push(b'"');
    for &c in s {
        if c == b'"' || c == b'\\' {
            buf.push(b'\\');
        }
        buf.push(c);
    }
    buf.push(b'"');
}

fn logfmt_val(buf: &mut Vec<u8>, v: Val, q: Quote) {
    match v {
        Val::Str(s) => push_logfmt(buf, s.as_bytes(), q),
        Val::Dur(us) => push_go_duration(buf, us),
        v => push_plain(buf, v),
    }
}

/// logrus `TextFormatter` without a TTY: `time=".." level=.. msg=".."`,
/// then the fields sorted by key.
pub(super) fn logrus_text(buf: &mut Vec<u8>, at: i64, lvl: Lvl, ev: &Event) {
    buf.extend_from_slice(b"time=\"");
    push_time(buf, at, b'-', b'T', 0, b'.', b"Z");
    buf.extend_from_slice(b"\" level=");
    buf.extend_from_slice(lvl.logrus());
    buf.extend_from_slice(b" msg=");
    push_logfmt(buf, ev.msg.as_bytes(), Quote::Logrus);
    let mut kv = ev.kv;
    let kv = &mut kv[..ev.n];
    kv.sort_unstable_by_key(|e| e.0);
    for &(k, v) in kv.iter() {
        buf.push(b' ');
        buf.extend_from_slice(k.as_bytes());
        buf.push(b'=');
        logfmt_val(buf, v, Quote::Logrus);
    }
}

/// slog `TextHandler`: `time=..(ms) level=INFO msg=".."` and the fields.
pub(super) fn slog_text(buf: &mut Vec<u8>, at: i64, lvl: Lvl, ev: &Event) {
    buf.extend_from_slice(b"time=");
    push_time(buf, at, b'-', b'T', 3, b'.', b"Z");
    buf.extend_from_slice(b" level=");
    buf.extend_from_slice(lvl.upper());
    buf.extend_from_slice(b" msg=");
    push_logfmt(buf, ev.msg.as_bytes(), Quote::Slog);
    for &(k, v) in ev.fields() {
        buf.push(b' ');
        buf.extend_from_slice(k.as_bytes());
        buf.push(b'=');
        logfmt_val(buf, v, Quote::Slog);
    }
}

/// klog: `I1122 10:00:00.123456       1 file.go:42] ` then an `InfoS`
/// message (quoted, capitalised, `key="value"` strings) or printf prose.
pub(super) fn klog(buf: &mut Vec<u8>, rng: &mut Rng, at: i64, lvl: Lvl, ev: &Event) {
    let (secs, nanos) = split_ns(at);
    let c = Civil::from_unix(secs);
    buf.push(match lvl {
        Lvl::Debug | Lvl::Info => b'I',
        Lvl::Warn => b'W',
        Lvl::Error => b'E',
    });
    push_padded(buf, u64::from(c.month), 2);
    push_padded(buf, u64::from(c.day), 2);
    buf.push(b' ');
    push_hms(buf, &c);
    buf.push(b'.');
    push_padded(buf, u64::from(nanos / 1_000), 6);
    buf.extend_from_slice(b"       1 ");
    let caller = rng.pick(CALLERS);
    buf.extend_from_slice(&caller.as_bytes()[caller.find('/').map_or(0, |i| i + 1)..]);
    buf.extend_from_slice(b"] ");
    if rng.chance(0.3) {
        prose(buf, ev);
        return;
    }
    buf.push(b'"');
    let msg = ev.msg.as_bytes();
    buf.push(msg[0].to_ascii_uppercase());
    buf.extend_from_slice(&msg[1..]);
    buf.push(b'"');
    for &(k, v) in ev.fields() {
        buf.push(b' ');
        buf.extend_from_slice(k.as_bytes());
        buf.push(b'=');
        match v {
            Val::Num(n) => push_u64(buf, n),
            Val::Dur(us) => {
                buf.push(b'"');
                push_go_duration(buf, us);
                buf.push(b'"');
            }
            Val::Str(s) => push_logfmt(buf, s.as_bytes(), Quote::Logrus),
            v => {
                buf.push(b'"');
                push_plain(buf, v);
                buf.push(b'"');
            }
        }
    }
}

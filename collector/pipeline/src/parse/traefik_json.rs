//! Traefik access log in its JSON format (`accessLog.format: json`): one
//! object per line whose keys are Traefik's field names (`ClientHost`,
//! `DownstreamStatus`, `Duration`, ...) plus kept headers as
//! `request_<Name>`. Scanned with [`crate::parse::json`]; strings stay raw.
//!
//! Field sets differ by version (pkg/middlewares/accesslog/logdata.go):
//! v1 names the router `FrontendName` and the service `BackendName` /
//! `BackendURL`; v1 and v2 write the service URL as Go's `url.URL` object
//! (`{"Scheme":"http",…,"Host":"10.0.0.5:80",…}`), v3 as a string
//! (traefik#10891); `ClientHost` and `StartUTC` may be dropped by
//! `accessLog.fields`, leaving `ClientAddr` and `StartLocal`. With tracing
//! on, v3.2 and later write the request's `TraceId` (and `SpanId`), v3.6.11
//! and later also OpenTelemetry's `trace_id` (`span_id`); v3.3.3 to v3.3.6
//! wrote all-zero ids with tracing off (logger.go; traefik#10921, #11450,
//! #11715, d7cc334).

use memchr::memchr2;

use crate::json::{self, Value};
use crate::parse::{Field, ParseError};
use crate::record::{LogFormat, Record, traceparent_trace_id, valid_trace_id};
use crate::time;

/// Parses one Traefik JSON access-log line.
///
/// Fields read: `ClientHost` (else the host part of `ClientAddr`, IPv6
/// without its brackets), `ClientUsername`, `RequestHost` (else
/// `RequestAddr`), `RequestMethod`, `RequestPath`, `RequestProtocol`,
/// `DownstreamStatus` (else `OriginStatus`), `DownstreamContentSize` (else
/// `OriginContentSize`), `Duration` (nanoseconds, integer, kept exact, or
/// float such as `1.234e+06`; else `OriginDuration` + `Overhead`),
/// `RouterName` (v1 `FrontendName`), `ServiceName` (v1 `BackendName`),
/// `ServiceURL` (v1 `BackendURL`; of the object form, its `Host`),
/// `RequestCount`, `StartUTC` (else `StartLocal`, else `time`),
/// `request_User-Agent`, `request_Referer`, and the trace id: `TraceId` or
/// `trace_id`, else the trace-id field of `request_Traceparent` (the W3C
/// header, kept by `fields.headers`); an id that is not 32 lowercase hex
/// digits, or is all zero, is left out. Other keys are ignored, as
/// are non-string values of text fields. Text fields are the raw JSON
/// string contents, `-` becoming empty; [`Record::json_escaped`] is set
/// when any of them holds an escape.
///
/// # Errors
/// [`ParseError::Empty`] for a blank line; [`ParseError::Format`] for
/// anything that is not a JSON object with at least one of `RequestMethod`,
/// `RequestPath`, `DownstreamStatus`, `OriginStatus`, `ClientHost` or
/// `ClientAddr`; the
/// scanner's [`Field::Json`] errors for malformed JSON; and
/// [`ParseError::BadField`] for a number or timestamp field that does not
/// parse (offset of its value).
///
/// # Performance
/// One pass of [`json::for_each_member`] and a `match` per key; no
/// allocation. Around 600-byte lines cost well under a microsecond.
pub fn parse(line: &[u8]) -> Result<Record<'_>, ParseError> {
    let mut acc = Acc {
        line,
        rec: Record {
            source: LogFormat::TraefikJson,
            ..Record::default()
        },
        err: None,
        access: false,
        status: [None; 2],
        size: [None; 2],
        times: [None; 3],
        client_addr: b"",
        request_addr: b"",
        split_duration: [None; 2],
        traceparent: b"",
    };
    json::for_each_member(line, |key, value| acc.member(key, value))?;
    acc.finish()
}

struct Acc<'b> {
    line: &'b [u8],
    rec: Record<'b>,
    /// The first field error; the scan goes on so JSON errors win.
    err: Option<ParseError>,
    /// Whether a key only an access log has was seen.
    access: bool,
    /// `DownstreamStatus`, `OriginStatus`.
    status: [Option<u16>; 2],
    /// `DownstreamContentSize`, `OriginContentSize`.
    size: [Option<u64>; 2],
    /// `StartUTC`, `StartLocal`, `time`: raw value and its offset.
    times: [Option<(&'b [u8], usize)>; 3],
    /// `ClientAddr`, for a line without `ClientHost`.
    client_addr: &'b [u8],
    /// `RequestAddr`, for a line without `RequestHost`.
    request_addr: &'b [u8],
    /// `OriginDuration`, `Overhead`: their sum for a line without `Duration`.
    split_duration: [Option<u64>; 2],
    /// `request_Traceparent`, for a line without Traefik's own trace id.
    traceparent: &'b [u8],
}

impl<'b> Acc<'b> {
    fn offset(&self, part: &[u8]) -> usize {
        (part.as_ptr() as usize).wrapping_sub(self.line.as_ptr() as usize)
    }

    fn fail(&mut self, field: Field, part: &[u8]) {
        if self.err.is_none() {
            self.err = Some(ParseError::bad(field, self.offset(part)));
        }
    }

    /// A text field: raw string contents, `-` as empty.
    fn text(&mut self, value: Value<'b>) -> &'b [u8] {
        match value {
            Value::Str { raw, escaped } if raw != b"-" => {
                self.rec.json_escaped |= escaped;
                raw
            }
            _ => b"",
        }
    }

    /// A non-negative integer field; `None` when absent or `null`.
    fn number(&mut self, value: Value<'b>, field: Field) -> Option<u64> {
        let (raw, parsed) = match value {
            // Plain integers, the usual case, skip the general float path.
            Value::Num(raw) => (raw, time::parse_u64(raw).or_else(|| number_u64(raw))),
            Value::Str { raw, .. } => (raw, time::parse_u64(raw)),
            Value::Null => return None,
            Value::Bool(_) => (&b""[..], None),
            Value::Nested(raw) => (raw, None),
        };
        if parsed.is_none() {
            self.fail(field, raw);
        }
        parsed
    }

    fn status(&mut self, value: Value<'b>) -> Option<u16> {
        let v = self.number(value, Field::Status)?;
        match u16::try_from(v) {
            Ok(s) if s <= 999 => Some(s),
            _ => {
                if let Value::Num(raw) | Value::Str { raw, .. } = value {
                    self.fail(Field::Status, raw);
                }
                None
            }
        }
    }

    fn member(&mut self, key: &'b [u8], value: Value<'b>) {
        match key {
            b"ClientHost" => {
                self.access = true;
                self.rec.client = self.text(value);
            }
            b"ClientAddr" => {
                self.access = true;
                self.client_addr = self.text(value);
            }
            b"ClientUsername" => self.rec.user = self.text(value),
            b"RequestAddr" => self.request_addr = self.text(value),
            b"RequestHost" => self.rec.host = self.text(value),
            b"RequestMethod" => {
                self.access = true;
                self.rec.method = self.text(value);
            }
            b"RequestPath" => {
                self.access = true;
                self.rec.path = self.text(value);
            }
            b"RequestProtocol" => self.rec.protocol = self.text(value),
            b"DownstreamStatus" => {
                self.access = true;
                self.status[0] = self.status(value);
            }
            b"OriginStatus" => {
                self.access = true;
                self.status[1] = self.status(value);
            }
            b"DownstreamContentSize" => self.size[0] = self.number(value, Field::Bytes),
            b"OriginContentSize" => self.size[1] = self.number(value, Field::Bytes),
            b"Duration" => self.rec.duration_ns = self.number(value, Field::Duration),
            b"OriginDuration" => self.split_duration[0] = self.number(value, Field::Duration),
            b"Overhead" => self.split_duration[1] = self.number(value, Field::Duration),
            b"RouterName" | b"FrontendName" => self.rec.router = self.text(value),
            b"ServiceName" | b"BackendName" => self.rec.service = self.text(value),
            b"ServiceURL" | b"BackendURL" => self.rec.service_url = self.url(value),
            b"RequestCount" => {
                self.rec.request_count = self.number(value, Field::Count).unwrap_or(0);
            }
            b"request_User-Agent" => self.rec.user_agent = self.text(value),
            b"request_Referer" => self.rec.referer = self.text(value),
            b"TraceId" | b"trace_id" | b"request_Traceparent" => self.trace(key, value),
            b"StartUTC" | b"StartLocal" | b"time" => {
                let slot = match key {
                    b"StartUTC" => 0,
                    b"StartLocal" => 1,
                    _ => 2,
                };
                if let Value::Str { raw, .. } = value {
                    let at = self.offset(raw);
                    if let Some(t) = self.times.get_mut(slot) {
                        *t = Some((raw, at));
                    }
                }
            }
            _ => {}
        }
    }

    /// A trace id key. Out of line, so the keys every line has keep
    /// [`member`](Self::member) lean.
    #[inline(never)]
    fn trace(&mut self, key: &[u8], value: Value<'b>) {
        let Value::Str { raw, .. } = value else {
            return;
        };
        // Traefik's own id names the trace its spans went to; a kept
        // `traceparent` header (read in `finish`) is what the client sent,
        // the same trace when Traefik continued it. Escapes cannot occur
        // in a valid id, so the raw text is the id.
        if key == b"request_Traceparent" {
            self.traceparent = raw;
        } else if self.rec.trace_id.is_empty() && valid_trace_id(raw) {
            self.rec.trace_id = raw;
        }
    }

    /// A service URL: a string, or Go's `url.URL` object (v1, v2), of
    /// which the `Host` is kept (the scheme cannot join it without a copy).
    fn url(&mut self, value: Value<'b>) -> &'b [u8] {
        let Value::Nested(obj) = value else {
            return self.text(value);
        };
        let mut host = Value::Null;
        // A malformed object only loses the URL.
        let _ = json::for_each_member(obj, |k, v| {
            if k == b"Host" {
                host = v;
            }
        });
        self.text(host)
    }

    fn finish(mut self) -> Result<Record<'b>, ParseError> {
        if !self.access {
            return Err(ParseError::Format);
        }
        if let Some(e) = self.err {
            return Err(e);
        }
        if self.rec.client.is_empty() {
            self.rec.client = addr_host(self.client_addr);
        }
        if self.rec.host.is_empty() {
            self.rec.host = self.request_addr;
        }
        if self.rec.trace_id.is_empty()
            && let Some(id) = traceparent_trace_id(self.traceparent)
        {
            self.rec.trace_id = id;
        }
        if self.rec.duration_ns.is_none()
            && let [Some(origin), Some(overhead)] = self.split_duration
        {
            self.rec.duration_ns = origin.checked_add(overhead);
        }
        let [down, origin] = self.status;
        self.rec.status = down.or(origin).unwrap_or(0);
        let [down, origin] = self.size;
        self.rec.bytes = down.or(origin).unwrap_or(0);
        let mut first_bad = None;
        for (raw, at) in self.times.into_iter().flatten() {
            match time::parse_rfc3339(raw) {
                Some(ns) => {
                    self.rec.ts_ns = Some(ns);
                    first_bad = None;
                    break;
                }
                None => {
                    first_bad.get_or_insert(at);
                }
            }
        }
        if let Some(at) = first_bad {
            return Err(ParseError::bad(Field::Time, at));
        }
        Ok(self.rec)
    }
}

/// The host of a Go `RemoteAddr` as `net.SplitHostPort` splits it:
/// `10.0.0.1:5123` and `[2001:db8::1]:443` lose the port (and brackets); an
/// address it cannot split stays whole, as Traefik then logs it.
fn addr_host(addr: &[u8]) -> &[u8] {
    if let Some(rest) = addr.strip_prefix(b"[") {
        return match memchr::memchr(b']', rest) {
            Some(i) => rest.get(..i).unwrap_or_default(),
            None => addr,
        };
    }
    match (memchr::memchr(b':', addr), memchr::memrchr(b':', addr)) {
        (Some(i), Some(j)) if i == j => addr.get(..i).unwrap_or_default(),
        _ => addr,
    }
}

/// A non-negative JSON number as an integer, fraction truncated: `200`,
/// `12.9`, `1.234e+06`, `5E3`. `None` for negatives, malformed text and
/// values beyond `u64`; digits past u64's precision count as zeros.
fn number_u64(b: &[u8]) -> Option<u64> {
    let (mantissa, exp) = match memchr2(b'e', b'E', b) {
        Some(i) => (b.get(..i)?, Some(b.get(i + 1..)?)),
        None => (b, None),
    };
    let (int, frac) = match mantissa.iter().position(|&c| c == b'.') {
        Some(i) => (mantissa.get(..i)?, mantissa.get(i + 1..)?),
        None => (mantissa, &b""[..]),
    };
    if int.is_empty() {
        return None;
    }
    // value = v * 10^scale; digits beyond u64's precision are dropped.
    let mut v = 0u64;
    let mut scale = 0i64;
    let mut full = false;
    for (i, &c) in int.iter().chain(frac).enumerate() {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        let in_frac = i >= int.len();
        match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d))) {
            Some(n) if !full => {
                v = n;
                scale -= i64::from(in_frac);
            }
            _ => {
                full = true;
                scale += i64::from(!in_frac);
            }
        }
    }
    if let Some(exp) = exp {
        let (neg, digits) = match exp {
            [b'-', rest @ ..] => (true, rest),
            [b'+', rest @ ..] => (false, rest),
            rest => (false, rest),
        };
        if digits.is_empty() {
            return None;
        }
        let mut e = 0i64;
        for &c in digits {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            e = (e * 10 + i64::from(d)).min(10_000);
        }
        scale += if neg { -e } else { e };
    }
    if v == 0 {
        return Some(0);
    }
    if scale >= 0 {
        let pow = 10u64.checked_pow(u32::try_from(scale).ok()?)?;
        v.checked_mul(pow)
    } else {
        let shift = u32::try_from(-scale).ok()?;
        Some(10u64.checked_pow(shift).map_or(0, |pow| v / pow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: i64 = 1_795_341_600 * 1_000_000_000; // 2026-11-22T10:00:00Z

    /// Shaped like Traefik v3's output with `fields.headers.defaultmode: keep`.
    const LINE: &[u8] = br#"{"ClientAddr":"10.42.0.1:51234","ClientHost":"10.42.0.1","ClientPort":"51234","ClientUsername":"-","DownstreamContentSize":1234,"DownstreamStatus":200,"Duration":12345678,"OriginContentSize":1234,"OriginDuration":11000000,"OriginStatus":200,"Overhead":1345678,"RequestAddr":"site042.example.com","RequestContentSize":0,"RequestCount":42,"RequestHost":"site042.example.com","RequestMethod":"GET","RequestPath":"/wp-admin/admin-ajax.php?action=heartbeat","RequestPort":"-","RequestProtocol":"HTTP/2.0","RequestScheme":"https","RetryAttempts":0,"RouterName":"websecure-site042-example-com@kubernetes","ServiceAddr":"10.42.1.17:80","ServiceName":"default-site042-80@kubernetes","ServiceURL":"http://10.42.1.17:80","StartLocal":"2026-11-22T11:00:00.000000001+01:00","StartUTC":"2026-11-22T10:00:00.000000001Z","entryPointName":"websecure","level":"info","msg":"","request_Referer":"https://site042.example.com/wp-admin/","request_User-Agent":"Mozilla/5.0 (X11; Linux x86_64)","time":"2026-11-22T10:00:00Z"}"#;

    const SAMPLES: &[&[u8]] = &[
        LINE,
        br#"{"ClientHost":"2001:db8::1","DownstreamStatus":502,"Duration":1.234e+06,"OriginStatus":0,"RequestMethod":"POST","RequestPath":"/x?q=\"a\"","ServiceURL":{"Scheme":"http","Host":"b"},"request_User-Agent":"ua \u00e9","time":"2026-11-22T10:00:00Z"}"#,
        br#"{"RequestMethod":"GET","OriginStatus":404,"OriginContentSize":17,"StartLocal":"2026-11-22T11:00:00+01:00","RequestCount":null}"#,
        br#"{"RequestMethod":"GET","TraceId":"00000000000000000000000000000000","request_Traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#,
    ];

    #[test]
    fn typical_line() {
        let r = parse(LINE).unwrap();
        assert_eq!(
            r,
            Record {
                source: LogFormat::TraefikJson,
                ts_ns: Some(T + 1),
                client: b"10.42.0.1",
                method: b"GET",
                path: b"/wp-admin/admin-ajax.php?action=heartbeat",
                protocol: b"HTTP/2.0",
                status: 200,
                bytes: 1234,
                duration_ns: Some(12_345_678),
                referer: b"https://site042.example.com/wp-admin/",
                user_agent: b"Mozilla/5.0 (X11; Linux x86_64)",
                host: b"site042.example.com",
                router: b"websecure-site042-example-com@kubernetes",
                service: b"default-site042-80@kubernetes",
                service_url: b"http://10.42.1.17:80",
                request_count: 42,
                ..Record::default()
            }
        );
        assert!(LINE.len() > 900);
    }

    #[test]
    fn floats_escapes_and_fallbacks() {
        let r = parse(SAMPLES[1]).unwrap();
        assert_eq!(r.status, 502);
        assert_eq!(r.duration_ns, Some(1_234_000));
        assert_eq!(r.path, br#"/x?q=\"a\""#);
        assert_eq!(r.user_agent, br"ua \u00e9");
        assert!(r.json_escaped);
        // Issue 14: of a `url.URL` object, its Host.
        assert_eq!(r.service_url, b"b");
        assert_eq!(r.ts_ns, Some(T));

        let r = parse(SAMPLES[2]).unwrap();
        assert_eq!((r.status, r.bytes, r.request_count), (404, 17, 0));
        assert_eq!(r.ts_ns, Some(T));
        assert_eq!(r.duration_ns, None);
        assert!(!r.json_escaped);

        // Escapes in a field not stored do not count.
        let r = parse(br#"{"RequestMethod":"GET","msg":"a\"b"}"#).unwrap();
        assert!(!r.json_escaped);
        // A bad StartUTC falls back to a good StartLocal.
        let r =
            parse(br#"{"RequestMethod":"GET","StartUTC":"x","StartLocal":"2026-11-22T10:00:00Z"}"#)
                .unwrap();
        assert_eq!(r.ts_ns, Some(T));
        assert_eq!(
            parse(br#"{"RequestMethod":"GET","StartUTC":"x"}"#),
            Err(ParseError::bad(Field::Time, 35))
        );
        assert_eq!(
            parse(br#"{"RequestMethod":"GET","StartUTC":"9999-11-22T10:00:00Z"}"#),
            Err(ParseError::bad(Field::Time, 35))
        );
        // Issue 13: impossible dates are bad times, not rolled into March.
        for t in [
            "2026-02-30T10:00:00Z",
            "2025-02-29T10:00:00Z",
            "2026-04-31T10:00:00Z",
            "2026-11-22T24:00:00Z",
        ] {
            let line = format!(r#"{{"RequestMethod":"GET","StartUTC":"{t}"}}"#);
            assert_eq!(
                parse(line.as_bytes()),
                Err(ParseError::bad(Field::Time, 35)),
                "{t}"
            );
        }
        let r = parse(br#"{"RequestMethod":"GET","StartUTC":"2024-02-29T10:00:00Z"}"#).unwrap();
        assert_eq!(r.ts_ns, Some(1_709_200_800 * 1_000_000_000));
    }

    /// Real lines (`testdata/traefik/access_json.log`): 1-7 from
    /// elastic/integrations, packages/traefik/data_stream/access/_dev/test/
    /// pipeline/test-format-json.log (v1.7 `Backend*`/`FrontendName` and
    /// `url.URL` objects, v2 objects, lines without `ClientHost` or
    /// `StartUTC`); 8 from xavier-hernandez/goaccess-for-nginxproxymanager#108
    /// (v3, string `ServiceURL`).
    #[test]
    fn real_lines() {
        // client, host, status, bytes, duration ns, router, service, service URL, time.
        type Want = (
            &'static str,
            &'static str,
            u16,
            u64,
            u64,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
        );
        #[rustfmt::skip]
        const WANT: [Want; 8] = [
            ("127.0.0.1", "backend.elastic-package-service.docker.localhost", 404, 19, 40_356, "backend not found", "Traefik", "", "2021-03-16T18:56:54.735539596Z"),
            ("10.10.10.20", "backend.docker.docker.localhost", 200, 383, 100_000, "Host-backend-docker-docker-localhost-2", "backend-backend-docker", "10.10.10.20:80", "2021-03-16T19:08:41.039598834Z"),
            ("10.10.10.10", "10.10.10.11", 200, 2, 24_814, "ping@internal", "", "", "2024-02-01T15:43:38.669746824Z"),
            // No ClientHost, no StartUTC: the client from ClientAddr, the time from StartLocal.
            ("10.10.10.20", "10.10.10.11", 404, 19, 486_767, "service-foo-0101010101010101@kubernetescrd", "service-foo-0120101010101@kubernetescrd", "10.10.10.60:5678", "2024-02-02T17:07:08.048870614Z"),
            ("10.10.10.21", "foo.acme.com", 304, 0, 46_382_173, "service-bar-202020202020202@kubernetescrd", "service-bar-0d0d0d0d0d0@kubernetescrd", "10.10.10.90:8901", "2024-02-02T16:18:24.844946659Z"),
            ("175.16.199.10", "api-students.unpad.ac.id", 200, 88, 59_518_533, "app-unpad-students-api-prod-app-unpad-students-api-api-students-unpad-ac-id-api@kubernetes", "app-unpad-students-api-prod-app-unpad-students-api-80@kubernetes", "10.1.25.243:80", "2024-02-09T11:53:32.609696286Z"),
            ("::1", "backend.elastic-package-service.docker.localhost", 404, 19, 32_673, "", "", "", "2024-04-15T13:26:33.80902715Z"),
            ("XXX.XXX.XXX.XXX", "sub.example.com", 200, 185, 8_764_859, "https-ns@docker", "ns-ns@docker", "http://172.21.0.3:8564", "2024-12-29T11:42:41.965891254Z"),
        ];
        let log = include_bytes!("testdata/traefik/access_json.log");
        let lines: Vec<&[u8]> = log
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), WANT.len());
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        for (n, (line, w)) in lines.iter().zip(WANT).enumerate() {
            let r = parse(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
            let got = (
                s(r.client),
                s(r.host),
                r.status,
                r.bytes,
                r.duration_ns,
                s(r.router),
                s(r.service),
                s(r.service_url),
                r.ts_ns,
            );
            let ts = time::parse_rfc3339(w.8.as_bytes());
            let want = (
                w.0.to_string(),
                w.1.to_string(),
                w.2,
                w.3,
                Some(w.4),
                w.5.to_string(),
                w.6.to_string(),
                w.7.to_string(),
                ts,
            );
            assert_eq!(got, want, "line {}", n + 1);
        }
        assert_eq!(
            crate::parse::detect(lines.iter().copied()),
            Some(LogFormat::TraefikJson)
        );
    }

    /// Issue 14: the client from `ClientAddr` as Go's `net.SplitHostPort`
    /// splits it; durations exact past f64's 2^53; `Duration` dropped by
    /// `accessLog.fields` rebuilt from `OriginDuration` + `Overhead`.
    #[test]
    fn issue_14_fallbacks() {
        let client = |addr: &str| {
            let line = format!(r#"{{"ClientAddr":"{addr}","RequestMethod":"GET"}}"#);
            String::from_utf8_lossy(parse(line.as_bytes()).unwrap().client).into_owned()
        };
        assert_eq!(client("10.0.0.1:5123"), "10.0.0.1");
        assert_eq!(client("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(client("[fe80::1%eth0]:80"), "fe80::1%eth0");
        assert_eq!(client("2001:db8::1"), "2001:db8::1");
        assert_eq!(client("10.0.0.1"), "10.0.0.1");
        assert_eq!(client("-"), "");
        // ClientHost wins, whatever the order.
        let r = parse(
            br#"{"ClientHost":"203.0.113.9","ClientAddr":"10.0.0.1:5123","RequestMethod":"GET"}"#,
        )
        .unwrap();
        assert_eq!(r.client, b"203.0.113.9");
        // A ClientAddr alone makes an access line.
        let r = parse(br#"{"ClientAddr":"10.0.0.1:5123","level":"info","msg":""}"#).unwrap();
        assert_eq!(r.client, b"10.0.0.1");

        let r = parse(br#"{"RequestMethod":"GET","Duration":9007199254740993}"#).unwrap();
        assert_eq!(r.duration_ns, Some(9_007_199_254_740_993));
        let r = parse(br#"{"RequestMethod":"GET","OriginDuration":46361120,"Overhead":21053}"#)
            .unwrap();
        assert_eq!(r.duration_ns, Some(46_382_173));
        let r = parse(br#"{"RequestMethod":"GET","Duration":5,"OriginDuration":3,"Overhead":1}"#)
            .unwrap();
        assert_eq!(r.duration_ns, Some(5));
        let r = parse(br#"{"RequestMethod":"GET","OriginDuration":3}"#).unwrap();
        assert_eq!(r.duration_ns, None);

        // ServiceURL: string, object, absent, or an object without Host.
        let url = |v: &str| {
            let line = format!(r#"{{"RequestMethod":"GET","ServiceURL":{v}}}"#);
            String::from_utf8_lossy(parse(line.as_bytes()).unwrap().service_url).into_owned()
        };
        assert_eq!(url(r#""http://10.0.0.5:80""#), "http://10.0.0.5:80");
        assert_eq!(
            url(r#"{"Scheme":"http","Opaque":"","User":null,"Host":"10.0.0.5:80","Path":""}"#),
            "10.0.0.5:80"
        );
        assert_eq!(url(r#"{"Scheme":"http"}"#), "");
        assert_eq!(url(r#"["x"]"#), "");
        assert_eq!(url("null"), "");
        assert_eq!(
            parse(br#"{"RequestMethod":"GET"}"#).unwrap().service_url,
            b""
        );
        // RequestAddr when RequestHost was dropped.
        let r =
            parse(br#"{"RequestMethod":"GET","RequestAddr":"site042.example.com:8443"}"#).unwrap();
        assert_eq!(r.host, b"site042.example.com:8443");
    }

    /// Issue 16: trace ids. The lines are shaped as Traefik v3.6 writes
    /// them with tracing on (pkg/middlewares/accesslog/logger_test.go,
    /// "default config with tracing": `TraceId`, `SpanId`, `trace_id`,
    /// `span_id`), and with `fields.headers.names.traceparent: keep`
    /// (`request_Traceparent`, the header as Go canonicalises it; its value
    /// the W3C spec's example).
    #[test]
    fn issue_16_trace_ids() {
        const TRACED: &[u8] = br#"{"ClientAddr":"10.42.0.1:51234","ClientHost":"10.42.0.1","ClientPort":"51234","ClientUsername":"-","DownstreamContentSize":1234,"DownstreamStatus":200,"Duration":12345678,"OriginContentSize":1234,"OriginDuration":11000000,"OriginStatus":200,"Overhead":1345678,"RequestAddr":"site042.example.com","RequestContentSize":0,"RequestCount":42,"RequestHost":"site042.example.com","RequestMethod":"GET","RequestPath":"/","RequestPort":"-","RequestProtocol":"HTTP/2.0","RequestScheme":"https","RetryAttempts":0,"RouterName":"websecure-site042-example-com@kubernetes","ServiceAddr":"10.42.1.17:80","ServiceName":"default-site042-80@kubernetes","ServiceURL":"http://10.42.1.17:80","SpanId":"00f067aa0ba902b7","StartLocal":"2026-11-22T11:00:00.000000001+01:00","StartUTC":"2026-11-22T10:00:00.000000001Z","TraceId":"4bf92f3577b34da6a3ce929d0e0e4736","entryPointName":"websecure","level":"info","msg":"","span_id":"00f067aa0ba902b7","time":"2026-11-22T10:00:00Z","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#;
        const HEADER: &[u8] = br#"{"ClientHost":"10.42.0.1","DownstreamStatus":200,"Duration":1000000,"RequestHost":"site042.example.com","RequestMethod":"GET","RequestPath":"/","StartUTC":"2026-11-22T10:00:00Z","request_Traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","request_User-Agent":"curl/8.5.0"}"#;
        let r = parse(TRACED).unwrap();
        assert_eq!(r.trace_id, b"4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!((r.status, r.duration_ns), (200, Some(12_345_678)));
        let r = parse(HEADER).unwrap();
        assert_eq!(r.trace_id, b"0af7651916cd43dd8448eb211c80319c");
        assert_eq!(r.user_agent, b"curl/8.5.0");
        assert!(!r.json_escaped);

        let with = |fields: &str| {
            let line = format!(r#"{{"RequestMethod":"GET",{fields}}}"#);
            String::from_utf8(parse(line.as_bytes()).unwrap().trace_id.to_vec()).unwrap()
        };
        // Traefik's id wins over the header, whichever comes first.
        let tp =
            r#""request_Traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01""#;
        let own = r#""TraceId":"4bf92f3577b34da6a3ce929d0e0e4736""#;
        assert_eq!(
            with(&format!("{tp},{own}")),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            with(&format!("{own},{tp}")),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // `trace_id` alone (a `fields.names` that drops the deprecated one).
        assert_eq!(
            with(r#""trace_id":"4bf92f3577b34da6a3ce929d0e0e4736""#),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // Traefik v3.3.3 to v3.3.6 wrote zero ids with tracing off
        // (traefik#11715): none, or the header's.
        assert_eq!(
            with(r#""SpanId":"0000000000000000","TraceId":"00000000000000000000000000000000""#),
            ""
        );
        assert_eq!(
            with(&format!(
                r#""TraceId":"00000000000000000000000000000000",{tp}"#
            )),
            "0af7651916cd43dd8448eb211c80319c"
        );
        // Malformed, redacted, escaped or non-string values are left out.
        for v in [
            r#""TraceId":"4BF92F3577B34DA6A3CE929D0E0E4736""#,
            r#""TraceId":"4bf92f3577b34da6a3ce929d0e0e473""#,
            r#""TraceId":"\u0034bf92f3577b34da6a3ce929d0e0e4736""#,
            r#""TraceId":null"#,
            r#""trace_id":42"#,
            r#""request_Traceparent":"REDACTED""#,
            r#""request_Traceparent":"00-00000000000000000000000000000000-b7ad6b7169203331-01""#,
            r#""request_Traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01,00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01""#,
        ] {
            assert_eq!(with(v), "", "{v}");
        }
        // The lines without a trace id have none.
        assert_eq!(parse(LINE).unwrap().trace_id, b"");
    }

    #[test]
    fn numbers() {
        assert_eq!(number_u64(b"0"), Some(0));
        assert_eq!(number_u64(b"200"), Some(200));
        assert_eq!(number_u64(b"12.9"), Some(12));
        assert_eq!(number_u64(b"1.234e+06"), Some(1_234_000));
        assert_eq!(number_u64(b"1.2345678e3"), Some(1234));
        assert_eq!(number_u64(b"5E3"), Some(5000));
        assert_eq!(number_u64(b"5e-1"), Some(0));
        assert_eq!(number_u64(b"0e999999999999"), Some(0));
        assert_eq!(number_u64(b"1e999999999999"), None);
        assert_eq!(number_u64(b"1e-999999999999"), Some(0));
        assert_eq!(number_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(number_u64(b"28446744073709551616"), None);
        assert_eq!(
            number_u64(b"123456789012345678901234.5e-6"),
            Some(123_456_789_012_345_678)
        );
        assert_eq!(number_u64(b"-1"), None);
        assert_eq!(number_u64(b".5"), None);
        assert_eq!(number_u64(b"1e"), None);
        assert_eq!(number_u64(b""), None);
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b"{}"), Err(ParseError::Format));
        assert_eq!(
            parse(br#"{"log":"x\n","stream":"stdout","time":"2026-11-22T10:00:00Z"}"#),
            Err(ParseError::Format)
        );
        assert_eq!(
            parse(b"10.0.0.1 - - [22/Nov/2026:10:00:00 +0000]"),
            Err(ParseError::Format)
        );
        assert_eq!(
            parse(br#"{"RequestMethod":"GET","DownstreamStatus":-1}"#),
            Err(ParseError::bad(Field::Status, 42))
        );
        assert_eq!(
            parse(br#"{"RequestMethod":"GET","DownstreamStatus":1000}"#),
            Err(ParseError::bad(Field::Status, 42))
        );
        assert_eq!(
            parse(br#"{"RequestMethod":"GET","Duration":true}"#)
                .unwrap_err()
                .reason(),
            "bad_duration"
        );
        assert_eq!(
            parse(br#"{"RequestMethod":"GET","Duration":1"#),
            Err(ParseError::Truncated { field: Field::Json })
        );
    }

    proptest! {


        /// serde_json writes the object; the parser reads back the values.
        #[test]
        fn parses_what_serde_writes(
            host in "[a-z0-9.:-]{0,20}",
            path in "[ -~]{0,40}",
            ua in any::<String>(),
            status in 100u16..600,
            origin_only in any::<bool>(),
            size in any::<u64>(),
            duration in any::<u32>(),
            float_duration in any::<bool>(),
        ) {
            let mut obj = serde_json::json!({
                "ClientHost": host,
                "RequestMethod": "GET",
                "RequestPath": path,
                "OriginStatus": status,
                "OriginContentSize": size,
                "request_User-Agent": ua,
                "StartUTC": "2026-11-22T10:00:00Z",
            });
            if !origin_only {
                obj["DownstreamStatus"] = status.into();
                obj["DownstreamContentSize"] = size.into();
            }
            obj["Duration"] = if float_duration {
                serde_json::Value::from(f64::from(duration) * 1000.0)
            } else {
                duration.into()
            };
            let line = serde_json::to_vec(&obj).unwrap();
            let r = parse(&line).unwrap();
            let dash = |s: &str| if s == "-" { Vec::new() } else { s.as_bytes().to_vec() };
            prop_assert_eq!(r.client.to_vec(), dash(&host));
            prop_assert_eq!(json::unescape(r.path).into_owned(), dash(&path));
            prop_assert_eq!(json::unescape(r.user_agent).into_owned(), dash(&ua));
            prop_assert_eq!(r.status, status);
            prop_assert_eq!(r.bytes, size);
            let want = if float_duration { u64::from(duration) * 1000 } else { u64::from(duration) };
            prop_assert_eq!(r.duration_ns, Some(want));
            prop_assert_eq!(r.ts_ns, Some(T));
            prop_assert_eq!(r.json_escaped, r.path.contains(&b'\\') || r.user_agent.contains(&b'\\'));
        }
    }

    #[test]
    fn never_panics() {
        crate::parse::test_support::never_panics(|line| drop(parse(line)), SAMPLES);
    }
}

//! nginx access log in the `combined` format, plus the variants WordPress
//! hosting sidecars append: ` $request_time`, ` $host` or ` "$host"` (in
//! either order), and a quoted `"$http_x_forwarded_for"` after the
//! User-Agent; `key=value` timings (`rt=$request_time
//! urt="$upstream_response_time"`, the NGINX blog's APM format); and
//! ingress-nginx's default `upstreaminfo` format.
//!
//! ```text
//! $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//! ... $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id
//! ```
//!
//! nginx escapes `"`, `\` and non-printable bytes in variables as `\xHH`
//! (`escape=default`), so a quoted field ends at the first `"`; `\"` from
//! `escape=json` is tolerated. Escapes are left in the fields as written.
//! A variable with no value is written `-`, one with an empty value as
//! nothing (`""` when quoted), and `escape=json` writes both as nothing:
//! either way the field is absent.
//!
//! The `$upstream_*` variables hold one value per upstream server tried,
//! `, `-separated, and ` : ` between internal redirects
//! (ngx_http_upstream_module, "Embedded Variables"): `0.000, 0.002 : 0.001`.

use memchr::memchr;

use crate::parse::clf::{dash, head, is_escaped};
use crate::parse::trim_eol;
use crate::parse::{Field, ParseError};
use crate::record::{LogFormat, Record};
use crate::time;

/// Parses one nginx `combined` line, with the optional appended fields
/// described in the module docs.
///
/// Text fields borrow from `line`; `-` becomes an empty slice. A trailing
/// `$request_time` (`0.123`, seconds) becomes `duration_ns`; a trailing
/// `$host`, quoted or not, becomes `host`. An extra quoted field is taken as
/// `$http_x_forwarded_for` and ignored, unless it is the only quoted extra
/// and looks like a host name rather than a list of addresses. A bare `-`
/// appended field is an absent value and skipped. In a `key=value` field,
/// `rt` or `request_time` is the duration; the others are checked for shape
/// and skipped. An ingress-nginx line gives the duration from
/// `$request_time`, the service from `$proxy_upstream_name` and the service
/// URL from the last `$upstream_addr` (the server that answered). A request
/// that is not `METHOD target [protocol]` (`"\x16\x03\x01..."` from a TLS
/// handshake on a plain port, or `GET` alone) leaves method, path and
/// protocol empty and is kept whole as the message. A trailing `\r` is
/// ignored.
///
/// # Errors
/// [`ParseError::Empty`] for a blank line, [`ParseError::Format`] when the
/// line does not start like CLF (`client - `), [`ParseError::BadField`]
/// with [`Field::Trailing`] for unrecognised appended fields, and
/// [`ParseError::BadField`] / [`ParseError::Truncated`] naming the first
/// other field that does not fit.
///
/// # Performance
/// No allocation; one `memchr` per field.
pub fn parse(line: &[u8]) -> Result<Record<'_>, ParseError> {
    let s = trim_eol(line);
    let h = head(s)?;
    let (referer, pos) = quoted(s, h.end, Field::Referer)?;
    let (user_agent, mut pos) = quoted(s, pos, Field::UserAgent)?;

    let mut duration_ns = None;
    let mut host = &b""[..];
    let mut service = &b""[..];
    let mut service_url = &b""[..];
    if let Some(up) = ingress(s, pos) {
        let up = up?;
        duration_ns = Some(up.request_time_ns);
        service = up.upstream_name;
        service_url = up.upstream_addr;
        pos = s.len();
    }
    let mut extra_quoted: [Option<&[u8]>; 2] = [None, None];
    let mut n_quoted = 0;
    let mut host_unquoted = false;
    while pos < s.len() {
        if s.get(pos + 1) == Some(&b'"') {
            let (v, next) = quoted(s, pos, Field::Trailing)?;
            let slot = extra_quoted
                .get_mut(n_quoted)
                .ok_or_else(|| ParseError::bad(Field::Trailing, pos + 1))?;
            *slot = Some(v);
            n_quoted += 1;
            pos = next;
            continue;
        }
        if s.get(pos) != Some(&b' ') {
            return Err(ParseError::bad(Field::Trailing, pos));
        }
        let t0 = pos + 1;
        if let Some((key, value, next)) = key_value(s, t0) {
            if matches!(key, b"rt" | b"request_time") && value != b"-" {
                let ns = time::parse_scaled(value, 1_000_000_000)
                    .ok_or_else(|| ParseError::bad(Field::Duration, t0 + key.len() + 1))?;
                duration_ns = Some(ns);
            }
            pos = next;
            continue;
        }
        let rest = s.get(t0..).unwrap_or_default();
        let len = memchr(b' ', rest).unwrap_or(rest.len());
        let tok = rest.get(..len).unwrap_or_default();
        pos = t0 + len;
        if tok == b"-" {
            continue;
        }
        if duration_ns.is_none()
            && let Some(ns) = time::parse_scaled(tok, 1_000_000_000)
        {
            duration_ns = Some(ns);
        } else if !host_unquoted && is_host(tok) {
            host = tok;
            host_unquoted = true;
        } else {
            return Err(ParseError::bad(Field::Trailing, t0));
        }
    }
    match extra_quoted {
        [None, _] => {}
        [Some(one), None] => {
            if !host_unquoted && !is_address_list(one) && is_host(one) {
                host = one;
            }
        }
        [Some(_forwarded), Some(quoted_host)] => {
            if host_unquoted {
                return Err(ParseError::bad(Field::Host, pos));
            }
            host = dash(quoted_host);
        }
    }
    // Built in one expression so the record is written once, in place.
    Ok(Record {
        source: LogFormat::Nginx,
        ts_ns: h.ts_ns,
        client: h.client,
        user: h.user,
        method: h.method,
        path: h.path,
        protocol: h.protocol,
        status: h.status,
        bytes: h.bytes,
        duration_ns,
        referer: dash(referer),
        user_agent: dash(user_agent),
        host,
        service,
        service_url,
        message: h.raw_request,
        ..Record::default()
    })
}

/// `key=value` or `key="value"` at `t0`: key, value, and the index after.
/// `None` when the word there has no `=` after a `[A-Za-z0-9_]` key.
fn key_value(s: &[u8], t0: usize) -> Option<(&[u8], &[u8], usize)> {
    let word = s.get(t0..)?;
    let eq = word
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))?;
    if eq == 0 || word.get(eq) != Some(&b'=') {
        return None;
    }
    let key = word.get(..eq)?;
    let v0 = t0 + eq + 1;
    if s.get(v0) == Some(&b'"') {
        let (value, next) = close_quote(s, v0 + 1, Field::Trailing).ok()?;
        return Some((key, value, next));
    }
    let rest = s.get(v0..)?;
    let len = memchr(b' ', rest).unwrap_or(rest.len());
    let value = rest.get(..len)?;
    (memchr(b'"', value).is_none()).then_some((key, value, v0 + len))
}

/// What an ingress-nginx `upstreaminfo` tail gives.
struct Upstream<'b> {
    request_time_ns: u64,
    upstream_name: &'b [u8],
    upstream_addr: &'b [u8],
}

/// Reads ingress-nginx's tail at `pos` (the space after the User-Agent):
/// ` <request_length> <request_time> [<upstream>] [<alternative>] <addrs>
/// <lengths> <times> <statuses> [<req_id>]`, the four lists as nginx writes
/// `$upstream_*`. `None` when the line does not continue with a length, a
/// time and `[`; an error when it does but the rest does not fit.
fn ingress(s: &[u8], pos: usize) -> Option<Result<Upstream<'_>, ParseError>> {
    let word = |at: usize| {
        let rest = s.get(at..).unwrap_or_default();
        let len = memchr(b' ', rest).unwrap_or(rest.len());
        (rest.get(..len).unwrap_or_default(), at + len)
    };
    if s.get(pos) != Some(&b' ') {
        return None;
    }
    let (length, p) = word(pos + 1);
    time::parse_u64(length)?;
    let (rt, p) = word(p + 1);
    let request_time_ns = time::parse_scaled(rt, 1_000_000_000)?;
    if s.get(p..p + 2) != Some(b" [") {
        return None;
    }
    Some(upstream_tail(s, p + 2).map(|(name, addr)| Upstream {
        request_time_ns,
        upstream_name: name,
        upstream_addr: addr,
    }))
}

/// The part of [`ingress`] after the first `[`: the upstream name and the
/// last upstream address (empty for `-`).
fn upstream_tail(s: &[u8], n0: usize) -> Result<(&[u8], &[u8]), ParseError> {
    let bad = |at: usize| ParseError::bad(Field::Trailing, at);
    let close = |from: usize| {
        memchr(b']', s.get(from..).unwrap_or_default())
            .map(|i| from + i)
            .ok_or(bad(from))
    };
    let n1 = close(n0)?;
    let name = s.get(n0..n1).unwrap_or_default();
    let mut p = n1 + 1;
    // The alternative upstream, since ingress-nginx 0.23.
    if s.get(p..p + 2) == Some(b" [") {
        p = close(p + 2)? + 1;
    }
    let (addr, p) = upstream_list(s, p).ok_or(bad(p))?;
    let (_lengths, p) = upstream_list(s, p).ok_or(bad(p))?;
    let (times, p) = upstream_list(s, p).ok_or(bad(p))?;
    let (_statuses, mut p) = upstream_list(s, p).ok_or(bad(p))?;
    let item_ok = |t: &[u8]| t == b"-" || time::parse_scaled(t, 1_000_000_000).is_some();
    if !upstream_items(times).all(item_ok) {
        return Err(bad(p));
    }
    // `$req_id`, absent before ingress-nginx 0.12.
    if s.get(p) == Some(&b' ') {
        let rest = s.get(p + 1..).unwrap_or_default();
        if rest.is_empty() || !rest.iter().all(u8::is_ascii_alphanumeric) {
            return Err(bad(p + 1));
        }
        p = s.len();
    }
    if p != s.len() {
        return Err(bad(p));
    }
    let last = upstream_items(addr).last().unwrap_or_default();
    Ok((dash(name), dash(last)))
}

/// Reads ` <v>[, <v>…][ : <v>…]` at `p`: the list's text and the index after.
fn upstream_list(s: &[u8], p: usize) -> Option<(&[u8], usize)> {
    if s.get(p) != Some(&b' ') {
        return None;
    }
    let start = p + 1;
    let mut at = start;
    loop {
        let rest = s.get(at..)?;
        let len = memchr(b' ', rest).unwrap_or(rest.len());
        let item = rest.get(..len)?;
        if item.is_empty() || item == b":" || memchr(b'"', item).is_some() {
            return None;
        }
        at += len;
        if item.ends_with(b",") {
            at += 1;
        } else if s.get(at..at + 3) == Some(b" : ") {
            at += 3;
        } else {
            return Some((s.get(start..at)?, at));
        }
    }
}

/// The values of an `$upstream_*` list, separators dropped.
fn upstream_items(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&c| c == b' ')
        .map(|v| v.strip_suffix(b",").unwrap_or(v))
        .filter(|v| !v.is_empty() && *v != b":")
}

/// Reads ` "<value>"` starting at the space at `pos`; returns the value and
/// the index just after the closing quote.
fn quoted(s: &[u8], pos: usize, field: Field) -> Result<(&[u8], usize), ParseError> {
    match s.get(pos..pos + 2) {
        Some(b" \"") => {}
        Some(_) => return Err(ParseError::bad(field, pos)),
        None => return Err(ParseError::Truncated { field }),
    }
    close_quote(s, pos + 2, field)
}

/// The value of a quoted field whose contents start at `v0`, and the index
/// just after its closing quote.
fn close_quote(s: &[u8], v0: usize, field: Field) -> Result<(&[u8], usize), ParseError> {
    let mut from = v0;
    loop {
        let rest = s.get(from..).unwrap_or_default();
        let Some(i) = memchr(b'"', rest) else {
            return Err(ParseError::Truncated { field });
        };
        let q = from + i;
        if !is_escaped(s, q) {
            return Ok((s.get(v0..q).unwrap_or_default(), q + 1));
        }
        from = q + 1;
    }
}

/// Bytes allowed in a host: letters, digits and `.-_:[]`.
static HOST_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']');
        c += 1;
    }
    t
};

/// A host name, IPv4/IPv6 address or `[v6]`, optionally with a port.
fn is_host(b: &[u8]) -> bool {
    !b.is_empty() && b != b"-" && b.len() <= 255 && b.iter().all(|&c| HOST_BYTES[usize::from(c)])
}

/// An `X-Forwarded-For` value: `-` or addresses separated by `,` and spaces.
fn is_address_list(b: &[u8]) -> bool {
    b == b"-"
        || (b.iter().any(u8::is_ascii_digit)
            && b.iter()
                .all(|&c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':' | b',' | b' ')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: i64 = 1_795_341_600 * 1_000_000_000; // 2026-11-22T10:00:00Z

    const COMBINED: &[u8] = b"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] \"GET /wp-content/uploads/2026/11/a.jpg HTTP/1.1\" 200 48213 \"https://site042.example.com/\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36\"";

    const SAMPLES: &[&[u8]] = &[
        COMBINED,
        b"203.0.113.7 - bob [22/Nov/2026:11:00:00 +0100] \"POST /wp-admin/admin-ajax.php HTTP/2.0\" 200 61 \"-\" \"WordPress/6.7; https://x\" 0.123 site042.example.com\r",
        b"2001:db8::1 - - [22/Nov/2026:10:00:00 +0000] \"GET /?s=\\x22q\\x22 HTTP/1.1\" 404 0 \"-\" \"-\" \"198.51.100.1, 10.0.0.2\" 1.500 \"site042.example.com\"",
        b"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"\\x16\\x03\\x01\\x00\\xA5\\x01\\x00\\x00\" 400 157 \"-\" \"-\"",
        b"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl/8\" site042.example.com 0.004",
        b"127.0.0.1 - - [03/Dec/2026:13:59:34 +0000] \"GET /redir HTTP/1.1\" 200 8 \"-\" \"curl/7.88.1\" 84 0.000 [default-web-80] [] 127.0.0.1:18402 : 127.0.0.1:18402 0 : 8 0.000 : 0.000 404 : 200 65b0064d10c2ee54d8fd4c667dab34a4",
        b"127.0.0.1 - - [03/Dec/2026:13:59:33 +0000] \"GET /app/page1 HTTP/1.1\" 200 8 \"-\" \"curl/7.88.1\" rt=0.000 uct=\"-, 0.000\" uht=\"-, 0.000\" urt=\"0.000, 0.000\"",
    ];

    #[test]
    fn combined() {
        let r = parse(COMBINED).unwrap();
        assert_eq!(
            r,
            Record {
                source: LogFormat::Nginx,
                ts_ns: Some(T),
                client: b"203.0.113.7",
                method: b"GET",
                path: b"/wp-content/uploads/2026/11/a.jpg",
                protocol: b"HTTP/1.1",
                status: 200,
                bytes: 48213,
                referer: b"https://site042.example.com/",
                user_agent: b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
                ..Record::default()
            }
        );
    }

    #[test]
    fn request_time_and_host() {
        let r = parse(SAMPLES[1]).unwrap();
        assert_eq!(r.user, b"bob");
        assert_eq!(r.ts_ns, Some(T));
        assert_eq!(r.referer, b"");
        assert_eq!(r.duration_ns, Some(123_000_000));
        assert_eq!(r.host, b"site042.example.com");

        let r = parse(SAMPLES[4]).unwrap();
        assert_eq!(r.duration_ns, Some(4_000_000));
        assert_eq!(r.host, b"site042.example.com");
    }

    #[test]
    fn forwarded_for_and_quoted_host() {
        let r = parse(SAMPLES[2]).unwrap();
        assert_eq!(r.client, b"2001:db8::1");
        assert_eq!(r.path, b"/?s=\\x22q\\x22");
        assert_eq!(r.status, 404);
        assert_eq!(r.user_agent, b"");
        assert_eq!(r.duration_ns, Some(1_500_000_000));
        assert_eq!(r.host, b"site042.example.com");

        let base =
            "10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"";
        // Leaked so the records can borrow the lines; this is a test.
        let p =
            |extra: &str| parse(Box::leak(format!("{base}{extra}").into_boxed_str()).as_bytes());
        let r = p(" \"198.51.100.1\"").unwrap();
        assert_eq!((r.host, r.duration_ns), (&b""[..], None));
        let r = p(" \"-\"").unwrap();
        assert_eq!(r.host, b"");
        let r = p(" \"-\" 0.010").unwrap();
        assert_eq!((r.host, r.duration_ns), (&b""[..], Some(10_000_000)));
        let r = p(" \"site042.example.com\"").unwrap();
        assert_eq!(r.host, b"site042.example.com");
        let r = p(" 0.010 \"site042.example.com\"").unwrap();
        assert_eq!(
            (r.host, r.duration_ns),
            (&b"site042.example.com"[..], Some(10_000_000))
        );
        let r = p(" \"1.2.3.4\" site042.example.com 0.010").unwrap();
        assert_eq!(
            (r.host, r.duration_ns),
            (&b"site042.example.com"[..], Some(10_000_000))
        );
        let r = p(" \"1.2.3.4\" \"10.0.0.9:8080\"").unwrap();
        assert_eq!(r.host, b"10.0.0.9:8080");
        let r = p(" 10.0.0.9").unwrap();
        assert_eq!((r.host, r.duration_ns), (&b"10.0.0.9"[..], None));

        assert!(p(" 0.1 0.2 0.3").is_err());
        assert!(p(" a b").is_err());
        assert!(p(" \"a\" \"b\" \"c\"").is_err());
        assert!(p(" \"a\" \"b\" c").is_err());
        assert!(p("  0.1").is_err());
        assert!(p(" 0.1 ").is_err());
        assert!(p(" <script>").is_err());
        assert!(p("x").is_err());
        assert!(p(" \"unterminated").is_err());
    }

    #[test]
    fn garbage_request() {
        let r = parse(SAMPLES[3]).unwrap();
        // Issue 14: the raw request is the message, method and path empty.
        assert_eq!((r.method, r.path), (&b""[..], &b""[..]));
        assert_eq!(r.message, b"\\x16\\x03\\x01\\x00\\xA5\\x01\\x00\\x00");
        assert_eq!(r.status, 400);
        assert_eq!(r.bytes, 157);
        let r =
            parse(b"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"\" 400 0 \"-\" \"-\"").unwrap();
        assert_eq!((r.method, r.path, r.status), (&b""[..], &b""[..], 400));
    }

    #[test]
    fn json_escapes() {
        let r = parse(b"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"a\\\"b\\\\\" \"ua \\\"x\\\"\"").unwrap();
        assert_eq!(r.referer, b"a\\\"b\\\\");
        assert_eq!(r.user_agent, b"ua \\\"x\\\"");
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b"\r"), Err(ParseError::Empty));
        assert_eq!(parse(b"{\"a\":1}"), Err(ParseError::Format));
        assert_eq!(
            parse(b"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\""),
            Err(ParseError::Truncated {
                field: Field::UserAgent
            })
        );
        assert_eq!(
            parse(b"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5"),
            Err(ParseError::Truncated {
                field: Field::Referer
            })
        );
        // Issue 13: impossible dates are bad times.
        for t in ["30/Feb/2026", "29/Feb/2025", "31/Apr/2026"] {
            let line =
                format!("192.0.2.1 - - [{t}:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"");
            assert_eq!(
                parse(line.as_bytes()),
                Err(ParseError::bad(Field::Time, 15)),
                "{t}"
            );
        }
        assert!(
            parse(
                b"192.0.2.1 - - [29/Feb/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\""
            )
            .is_ok()
        );
        // Traefik's tail is not an nginx suffix.
        assert!(parse(b"10.42.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/2.0\" 200 1 \"-\" \"ua\" 42 \"r@k8s\" \"http://10.42.1.17:80\" 12ms").is_err());
    }

    /// Real nginx output (`testdata/nginx/`, see its README): the same 17
    /// requests in four formats.
    #[test]
    fn written_by_nginx() {
        // method, path, protocol, message (raw request), status, bytes, referer, user agent.
        type Want = (
            &'static [u8],
            &'static [u8],
            &'static [u8],
            &'static [u8],
            u16,
            u64,
            &'static [u8],
            &'static [u8],
        );
        const CURL: &[u8] = b"curl/7.88.1";
        #[rustfmt::skip]
        const WANT: [Want; 17] = [
            (b"GET", b"/static/a.css", b"HTTP/1.1", b"", 200, 3, b"https://site042.example.com/", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            // Headers sent empty: `""`, absent like `-`.
            (b"GET", b"/static/empty-headers", b"HTTP/1.1", b"", 200, 3, b"", b""),
            (b"GET", b"/static/no-ua", b"HTTP/1.1", b"", 200, 3, b"", b""),
            (b"GET", b"/static/q?x=%22y%22", b"HTTP/1.1", b"", 200, 3, b"", br"UA with \x22quotes\x22 and \x5Cbackslash"),
            (b"GET", b"/app/page1", b"HTTP/1.1", b"", 200, 8, b"", CURL),
            (b"GET", b"/app/page2", b"HTTP/1.1", b"", 200, 8, b"", CURL),
            (b"GET", b"/app/page3", b"HTTP/1.1", b"", 200, 8, b"", CURL),
            (b"GET", b"/app/page4", b"HTTP/1.1", b"", 200, 8, b"", CURL),
            (b"GET", b"/redir", b"HTTP/1.1", b"", 200, 8, b"", CURL),
            (b"HEAD", b"/static/head", b"HTTP/1.1", b"", 200, 0, b"", CURL),
            // Garbage requests: the raw request is the message.
            (b"", b"", b"", br"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03\x82;\x8A)QbY\xCB", 400, 157, b"", b""),
            (b"", b"", b"", b"GET", 400, 157, b"", b""),
            (b"", b"", b"", b"", 400, 0, b"", b""),
            (b"GET", br"/raw\x22quote", b"HTTP/1.1", b"", 404, 153, b"", br"bin\xFF\x01ua"),
            (b"", b"", b"", b"SSH-2.0-Go", 400, 157, b"", b""),
            (b"GET", b"/", b"HTTP/1.0", b"", 404, 153, b"", b""),
            (b"GET", b"/nover", b"", b"", 404, 153, b"", b""),
        ];
        let lines = |log: &'static [u8]| -> Vec<&'static [u8]> {
            log.split(|&c| c == b'\n')
                .filter(|l| !l.is_empty())
                .collect()
        };
        let files: [(&str, &'static [u8]); 4] = [
            ("combined", include_bytes!("testdata/nginx/combined.log")),
            ("ingress", include_bytes!("testdata/nginx/ingress.log")),
            ("apm", include_bytes!("testdata/nginx/apm.log")),
            ("jsonesc", include_bytes!("testdata/nginx/jsonesc.log")),
        ];
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        for (name, log) in files {
            let lines = lines(log);
            assert_eq!(lines.len(), WANT.len(), "{name}");
            for (i, (line, w)) in lines.iter().zip(WANT).enumerate() {
                let r = parse(line).unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1));
                let mut want = w;
                if name == "jsonesc" {
                    // escape=json: `\"`, `\\`, `\u00XX`, other bytes raw.
                    match i {
                        3 => want.7 = br#"UA with \"quotes\" and \\backslash"#,
                        10 => want.3 = b"\\u0016\\u0003\\u0001\\u0002\\u0000\\u0001\\u0000\\u0001\xfc\\u0003\\u0003\x82;\x8a)QbY\xcb",
                        13 => (want.1, want.7) = (br#"/raw\"quote"#, b"bin\xff\\u0001ua"),
                        _ => {}
                    }
                }
                let got = (
                    r.method,
                    r.path,
                    r.protocol,
                    r.message,
                    r.status,
                    r.bytes,
                    r.referer,
                    r.user_agent,
                );
                assert_eq!(got, want, "{name} line {}: {}", i + 1, show(line));
                assert_eq!(
                    (r.client, r.user, r.ts_ns.is_some()),
                    (&b"127.0.0.1"[..], &b""[..], true)
                );
                let timed = matches!(name, "ingress" | "apm");
                let ns = if i == 12 { 2_002_000_000 } else { 0 };
                assert_eq!(r.duration_ns, timed.then_some(ns), "{name} line {}", i + 1);
                if name == "ingress" {
                    let routed = !matches!(i, 10 | 11 | 12 | 14);
                    let service: &[u8] = if routed { b"default-web-80" } else { b"" };
                    let upstream: &[u8] = if (4..=8).contains(&i) {
                        b"127.0.0.1:18402"
                    } else {
                        b""
                    };
                    assert_eq!(
                        (r.service, r.service_url),
                        (service, upstream),
                        "{name} line {}",
                        i + 1
                    );
                }
            }
            assert_eq!(
                crate::parse::detect(lines.iter().copied()),
                Some(LogFormat::Nginx),
                "{name}"
            );
        }
    }

    /// Issue 14: `""` and `-` alike mean absent, in every field that can
    /// hold either; `$upstream_response_time` lists keep the record.
    #[test]
    fn absent_values_and_upstream_lists() {
        let base = "10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5";
        let p = |tail: &str| parse(Box::leak(format!("{base} {tail}").into_boxed_str()).as_bytes());
        for (dash, empty) in [
            (r#""-" "-""#, r#""" """#),
            (r#""-" "-" "-""#, r#""" "" """#),
            (r#""-" "-" "-" "-""#, r#""" "" "" """#),
            (r#""-" "-" 0.010 "-""#, r#""" "" 0.010 """#),
            (r#""-" "-" 0.010 -"#, r#""" "" 0.010"#),
            (r#""-" "-" - -"#, r#""" """#),
        ] {
            let (a, b) = (p(dash).unwrap(), p(empty).unwrap());
            assert_eq!(a, b, "{dash} | {empty}");
            assert_eq!(
                (a.referer, a.user_agent, a.host),
                (&b""[..], &b""[..], &b""[..])
            );
        }
        let r =
            p(r#""-" "ua" rt=0.004 uct="0.000, 0.001" uht="-, 0.002" urt="0.004, 0.002 : 0.001""#)
                .unwrap();
        assert_eq!(r.duration_ns, Some(4_000_000));
        let r = p(r#""-" "ua" request_time=1.5 upstream="-""#).unwrap();
        assert_eq!(r.duration_ns, Some(1_500_000_000));
        let r = p(r#""-" "ua" 312 0.004 [ns-svc-80] [] 10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80 0, 0 : 5 0.004, 0.002 : 0.001 502, 502 : 200 0123abcd"#).unwrap();
        assert_eq!(
            (r.duration_ns, r.service, r.service_url),
            (Some(4_000_000), &b"ns-svc-80"[..], &b"10.0.0.3:80"[..])
        );
        // ingress-nginx before 0.23 (no alternative upstream) and before 0.12 (no req_id).
        let r = p(r#""-" "ua" 312 0.004 [ns-svc-80] 10.0.0.1:80 5 0.004 200"#).unwrap();
        assert_eq!(
            (r.service, r.service_url),
            (&b"ns-svc-80"[..], &b"10.0.0.1:80"[..])
        );
        for bad in [
            r#""-" "ua" 312 0.004 [ns-svc-80] [] 10.0.0.1:80 5 x 200 id"#,
            r#""-" "ua" 312 0.004 [ns-svc-80] [] 10.0.0.1:80 5"#,
            r#""-" "ua" 312 0.004 [ns-svc-80"#,
            r#""-" "ua" rt=x"#,
            r#""-" "ua" k="unterminated"#,
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    /// nginx's `escape=default`: `"`, `\` and bytes outside 0x20..=0x7e as `\xHH`.
    fn nginx_escape(s: &[u8]) -> String {
        let mut out = String::new();
        for &c in s {
            if c == b'"' || c == b'\\' || !(0x20..=0x7e).contains(&c) {
                out.push_str(&format!("\\x{c:02X}"));
            } else {
                out.push(char::from(c));
            }
        }
        out
    }

    proptest! {


        /// Lines written the way nginx writes them parse back to the values
        /// that went in (escaped as nginx escapes them).
        #[test]
        fn parses_what_nginx_writes(
            path in prop::collection::vec(any::<u8>(), 0..60),
            status in 100u16..600,
            size in any::<u32>(),
            referer in prop::collection::vec(any::<u8>(), 0..40),
            ua in prop::collection::vec(any::<u8>(), 0..80),
            forwarded in prop::option::of("[0-9]{1,3}(\\.[0-9]{1,3}){3}(, [0-9a-f:]{3,20}){0,2}"),
            ms in prop::option::of(0u32..100_000),
            host in prop::option::of(("[a-z0-9.-]{1,40}", any::<bool>())),
            host_first in any::<bool>(),
        ) {
            let path = format!("/{}", nginx_escape(&path).replace(' ', "%20"));
            let (referer, ua) = (nginx_escape(&referer), nginx_escape(&ua));
            let or_dash = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
            let mut line = format!(
                "198.51.100.7 - - [22/Nov/2026:10:00:00 +0000] \"GET {path} HTTP/1.1\" {status} {size} \"{}\" \"{}\"",
                or_dash(&referer), or_dash(&ua),
            );
            if let Some(f) = &forwarded {
                line += &format!(" \"{f}\"");
            }
            let time = ms.map(|ms| format!(" {}.{:03}", ms / 1000, ms % 1000)).unwrap_or_default();
            let host_text = match &host {
                Some((h, true)) => format!(" \"{h}\""),
                Some((h, false)) => format!(" {h}"),
                None => String::new(),
            };
            if host_first {
                line += &host_text;
                line += &time;
            } else {
                line += &time;
                line += &host_text;
            }
            let r = parse(line.as_bytes());
            // An unquoted host that reads as a number is ambiguous; a quoted
            // host alone after no X-Forwarded-For may read as one.
            let ambiguous = host.as_ref().is_some_and(|(h, q)| {
                h == "-" || h.bytes().all(|c| c.is_ascii_digit() || c == b'.')
                    || (*q && forwarded.is_none() && is_address_list(h.as_bytes()))
                    || (!*q && time::parse_scaled(h.as_bytes(), 1).is_some())
            });
            prop_assume!(!ambiguous);
            let r = r.unwrap();
            prop_assert_eq!(r.path, path.as_bytes());
            prop_assert_eq!(r.status, status);
            prop_assert_eq!(r.bytes, u64::from(size));
            prop_assert_eq!(r.referer, if referer == "-" { &b""[..] } else { referer.as_bytes() });
            prop_assert_eq!(r.user_agent, if ua == "-" { &b""[..] } else { ua.as_bytes() });
            prop_assert_eq!(r.duration_ns, ms.map(|ms| u64::from(ms) * 1_000_000));
            let want_host = host.as_ref().map(|(h, _)| h.as_bytes()).unwrap_or_default();
            prop_assert_eq!(r.host, want_host);
        }
    }

    #[test]
    fn never_panics() {
        crate::parse::test_support::never_panics(|line| drop(parse(line)), SAMPLES);
    }
}

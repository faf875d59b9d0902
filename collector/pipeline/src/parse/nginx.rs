//! nginx access log in the `combined` format, plus the variants WordPress
//! hosting sidecars append: ` $request_time`, ` $host` or ` "$host"` (in
//! either order), and a quoted `"$http_x_forwarded_for"` after the
//! User-Agent.
//!
//! ```text
//! $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//! ```
//!
//! nginx escapes `"`, `\` and non-printable bytes in variables as `\xHH`
//! (`escape=default`), so a quoted field ends at the first `"`; `\"` from
//! `escape=json` is tolerated. Escapes are left in the fields as written.

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
/// and looks like a host name rather than a list of addresses. A request
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
        let rest = s.get(t0..).unwrap_or_default();
        let len = memchr(b' ', rest).unwrap_or(rest.len());
        let tok = rest.get(..len).unwrap_or_default();
        pos = t0 + len;
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
        message: h.raw_request,
        ..Record::default()
    })
}

/// Reads ` "<value>"` starting at the space at `pos`; returns the value and
/// the index just after the closing quote.
fn quoted(s: &[u8], pos: usize, field: Field) -> Result<(&[u8], usize), ParseError> {
    match s.get(pos..pos + 2) {
        Some(b" \"") => {}
        Some(_) => return Err(ParseError::bad(field, pos)),
        None => return Err(ParseError::Truncated { field }),
    }
    let v0 = pos + 2;
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

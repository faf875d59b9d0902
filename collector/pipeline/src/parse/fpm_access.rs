//! PHP-FPM access log (`access.log` / `access.format`, written by php-src
//! `fpm_log.c`). Reads the default format `%R - %u %t "%m %r" %s` and the
//! www.conf example `%R - %u %t "%m %r%Q%q" %s %f %{mili}d %{kilo}M %C%%`,
//! with `[%t]` and with any of the trailing fields missing.
//!
//! The line does not name its units, so bare numbers after `%s` follow the
//! www.conf example: the first is the duration in milliseconds (`%{mili}d`),
//! the second peak memory in KiB (`%{kilo}M`). A unit suffix written into
//! the format (`%{mili}dms`, `%{kilo}Mkb`, `%dms`...) overrides that.

use crate::parse::trim_eol;
use crate::parse::{Field, ParseError};
use crate::record::{LogFormat, Record};
use crate::time;

/// Parses one access-log line. A trailing `\r` or `\n` is ignored.
///
/// Sets `ts_ns` (`%t`, with its offset), `client` (`%R`), `user` (`%u`),
/// `method`, `path` (`%r%Q%q`), `status`, and when present `script` (`%f`),
/// `duration_ns`, `memory_bytes` and `cpu_pct` (`%C%%`). `-` and empty
/// fields read as empty.
///
/// # Errors
/// [`ParseError::Empty`] for a blank line; [`ParseError::Format`] when the
/// line does not start with `client - ` or its request carries a protocol
/// (`"GET / HTTP/1.1"` is nginx or Traefik, not FPM); otherwise
/// [`ParseError::BadField`] / [`ParseError::Truncated`] naming the field.
///
/// # Performance
/// One pass with `memchr`; no allocation.
pub fn parse(line: &[u8]) -> Result<Record<'_>, ParseError> {
    let line = trim_eol(line);
    if line.trim_ascii().is_empty() {
        return Err(ParseError::Empty);
    }
    let Some(sp) = memchr::memchr(b' ', line) else {
        return Err(ParseError::Format);
    };
    let client = &line[..sp];
    if !is_client(client) {
        return Err(ParseError::Format);
    }
    let rest = line[sp + 1..]
        .strip_prefix(b"- ")
        .ok_or(ParseError::Format)?;

    // %u: empty (FPM writes nothing, hence two spaces), `-`, or a name.
    let (user, rest) = match rest {
        [b' ', rest @ ..] => (&b""[..], rest),
        _ => {
            let sp =
                memchr::memchr(b' ', rest).ok_or(ParseError::Truncated { field: Field::User })?;
            (dash(&rest[..sp]), &rest[sp + 1..])
        }
    };

    // %t: `22/Nov/2026:10:00:00 +0000`, optionally in brackets.
    let at = offset(line, rest);
    let (stamp, rest) = match rest {
        [b'[', body @ ..] => match (body.get(..26), body.get(26), body.get(27..)) {
            (Some(stamp), Some(b']'), Some(rest)) => (stamp, rest),
            _ => return Err(short_or_bad(body.len() < 27, Field::Time, at)),
        },
        _ => match (rest.get(..26), rest.get(26..)) {
            (Some(stamp), Some(rest)) => (stamp, rest),
            _ => return Err(ParseError::Truncated { field: Field::Time }),
        },
    };
    let ts = time::parse_clf(stamp).ok_or(ParseError::bad(Field::Time, at))?;

    // "%m %r%Q%q"
    let at = offset(line, rest);
    let rest = match rest {
        [b' ', b'"', rest @ ..] => rest,
        [] | [b' '] => {
            return Err(ParseError::Truncated {
                field: Field::Request,
            });
        }
        _ => return Err(ParseError::bad(Field::Request, at)),
    };
    let close = closing_quote(rest).ok_or(ParseError::Truncated {
        field: Field::Request,
    })?;
    let request = &rest[..close];
    let rest = &rest[close + 1..];
    let (method, path) = match memchr::memchr(b' ', request) {
        Some(sp) => (&request[..sp], &request[sp + 1..]),
        None => return Err(ParseError::bad(Field::Request, offset(line, request))),
    };
    if memchr::memchr(b' ', path).is_some() {
        return Err(ParseError::Format);
    }
    let method = dash(method);
    if !method
        .iter()
        .all(|c| c.is_ascii_uppercase() || *c == b'_' || *c == b'-')
    {
        return Err(ParseError::bad(Field::Method, offset(line, method)));
    }

    // %s
    let rest = rest.strip_prefix(b" ").ok_or(ParseError::Truncated {
        field: Field::Status,
    })?;
    let (status, mut rest) = match memchr::memchr(b' ', rest) {
        Some(sp) => (&rest[..sp], &rest[sp + 1..]),
        None => (rest, &b""[..]),
    };
    let status = time::parse_u64(status)
        .filter(|s| *s <= 999)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or(ParseError::bad(Field::Status, offset(line, status)))?;

    let mut rec = Record {
        source: LogFormat::FpmAccess,
        ts_ns: Some(ts),
        client: dash(client),
        user,
        method,
        path: dash(path),
        status,
        ..Record::default()
    };

    // Optional tail: %f, %{mili}d, %{kilo}M, %C%%, each possibly absent.
    while !rest.is_empty() {
        let (tok, next) = match memchr::memchr(b' ', rest) {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (rest, &b""[..]),
        };
        rest = next;
        if tok.is_empty() {
            continue;
        }
        extra(&mut rec, tok).ok_or_else(|| ParseError::bad(field_of(tok), offset(line, tok)))?;
    }
    Ok(rec)
}

/// Reads one field after the status into `rec`; `None` when it fits none.
fn extra<'b>(rec: &mut Record<'b>, tok: &'b [u8]) -> Option<()> {
    if let Some(pct) = tok.strip_suffix(b"%") {
        // `%C` is printed "%.2f".
        let hundredths = time::parse_scaled(pct, 100)?;
        rec.cpu_pct = Some(hundredths as f32 / 100.0);
        return Some(());
    }
    let seen_number = rec.duration_ns.is_some() || rec.memory_bytes.is_some();
    let is_number = tok
        .first()
        .is_some_and(|c| c.is_ascii_digit() || *c == b'.');
    if !is_number {
        // `%f`, before any number; `-` when FPM had no script.
        let is_script = tok.first() == Some(&b'/') || tok == b"-";
        if seen_number || !rec.script.is_empty() || !is_script {
            return None;
        }
        rec.script = dash(tok);
        return Some(());
    }
    let n = tok
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'.')
        .count();
    let (num, unit) = (tok.get(..n)?, tok.get(n..)?);
    let kind = match unit {
        b"" if !seen_number => Unit::Time(1_000_000),
        b"" => Unit::Memory(1024),
        b"ms" => Unit::Time(1_000_000),
        b"s" | b"sec" => Unit::Time(1_000_000_000),
        b"us" | b"\xc2\xb5s" => Unit::Time(1_000),
        b"b" | b"B" => Unit::Memory(1),
        b"k" | b"K" | b"kb" | b"kB" | b"KB" | b"KiB" => Unit::Memory(1024),
        b"M" | b"m" | b"mb" | b"MB" | b"MiB" => Unit::Memory(1024 * 1024),
        _ => return None,
    };
    match kind {
        Unit::Time(scale) if rec.duration_ns.is_none() => {
            rec.duration_ns = Some(time::parse_scaled(num, scale)?);
        }
        Unit::Memory(scale) if rec.memory_bytes.is_none() => {
            rec.memory_bytes = Some(time::parse_scaled(num, scale)?);
        }
        _ => return None,
    }
    Some(())
}

enum Unit {
    /// Nanoseconds per unit.
    Time(u64),
    /// Bytes per unit.
    Memory(u64),
}

/// Which field a rejected tail token was most likely meant to be.
fn field_of(tok: &[u8]) -> Field {
    match (tok.first(), tok.last()) {
        (_, Some(b'%')) => Field::Cpu,
        (Some(b'/'), _) => Field::Script,
        (Some(c), _) if c.is_ascii_digit() => Field::Duration,
        _ => Field::Trailing,
    }
}

/// `%R`: an IPv4/IPv6 address as FPM prints it, or `-`.
fn is_client(b: &[u8]) -> bool {
    b == b"-"
        || (!b.is_empty()
            && b.len() <= 45
            && b.iter()
                .all(|c| c.is_ascii_hexdigit() || *c == b'.' || *c == b':'))
}

/// The request's closing quote: the first `"` followed by a space or the
/// end, so a stray `"` inside the URI does not end it early.
fn closing_quote(b: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'"', b).find(|&i| matches!(b.get(i + 1), None | Some(b' ')))
}

fn dash(b: &[u8]) -> &[u8] {
    if b == b"-" { b"" } else { b }
}

fn short_or_bad(short: bool, field: Field, at: usize) -> ParseError {
    if short {
        ParseError::Truncated { field }
    } else {
        ParseError::bad(field, at)
    }
}

/// Where `inner` (a subslice of `outer`) starts in `outer`.
fn offset(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: i64 = 1_795_341_600 * 1_000_000_000; // 2026-11-22T10:00:00Z

    fn ok(line: &[u8]) -> Record<'_> {
        match parse(line) {
            Ok(r) => r,
            Err(e) => panic!("{e}: {}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn default_format() {
        let r = ok(b"127.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /index.php\" 200");
        assert_eq!(r.source, LogFormat::FpmAccess);
        assert_eq!(r.ts_ns, Some(T));
        assert_eq!(r.client, b"127.0.0.1");
        assert_eq!(r.user, b"");
        assert_eq!(r.method, b"GET");
        assert_eq!(r.path, b"/index.php");
        assert_eq!(r.protocol, b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.script, b"");
        assert_eq!(
            (r.duration_ns, r.memory_bytes, r.cpu_pct),
            (None, None, None)
        );
    }

    #[test]
    fn www_conf_example() {
        let r = ok(b"10.42.0.5 -  22/Nov/2026:10:00:00 +0000 \"GET /index.php?p=42\" 200 /var/www/html/index.php 123.456 2048 45.67%");
        assert_eq!(r.client, b"10.42.0.5");
        assert_eq!(r.method, b"GET");
        assert_eq!(r.path, b"/index.php?p=42");
        assert_eq!(r.status, 200);
        assert_eq!(r.script, b"/var/www/html/index.php");
        assert_eq!(r.duration_ns, Some(123_456_000));
        assert_eq!(r.memory_bytes, Some(2048 * 1024));
        assert_eq!(r.cpu_pct, Some(45.67));
    }

    #[test]
    fn user_forms_and_offset() {
        let r = ok(b"::1 - alice 22/Nov/2026:11:00:00 +0100 \"POST /wp-login.php\" 302");
        assert_eq!(
            (r.client, r.user, r.ts_ns),
            (&b"::1"[..], &b"alice"[..], Some(T))
        );
        assert_eq!((r.method, r.status), (&b"POST"[..], 302));
        let r = ok(b"2001:db8::5 - - 22/Nov/2026:10:00:00 +0000 \"GET /\" 404");
        assert_eq!((r.client, r.user), (&b"2001:db8::5"[..], &b""[..]));
    }

    #[test]
    fn bracketed_time() {
        let r = ok(b"10.0.0.1 -  [22/Nov/2026:10:00:00 +0000] \"GET /wp-json/wp/v2/posts\" 200 /var/www/html/index.php 5.000 512 0.00%");
        assert_eq!(r.ts_ns, Some(T));
        assert_eq!(r.path, b"/wp-json/wp/v2/posts");
        assert_eq!(r.duration_ns, Some(5_000_000));
        assert_eq!(r.memory_bytes, Some(512 * 1024));
        assert_eq!(r.cpu_pct, Some(0.0));
    }

    #[test]
    fn missing_trailing_fields() {
        let base = "10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /index.php\" 200";
        let r = ok(format!("{base} /var/www/html/index.php").as_bytes())
            .script
            .to_vec();
        assert_eq!(r, b"/var/www/html/index.php");
        let line = format!("{base} /var/www/html/index.php 12.5");
        let r = ok(line.as_bytes());
        assert_eq!(
            (r.duration_ns, r.memory_bytes, r.cpu_pct),
            (Some(12_500_000), None, None)
        );
        let line = format!("{base} - 12.5 4096");
        let r = ok(line.as_bytes());
        assert_eq!(r.script, b"");
        assert_eq!(
            (r.duration_ns, r.memory_bytes),
            (Some(12_500_000), Some(4096 * 1024))
        );
        // Without %f.
        let line = format!("{base} 7.250 1024 99.99%");
        let r = ok(line.as_bytes());
        assert_eq!(r.script, b"");
        assert_eq!(
            (r.duration_ns, r.memory_bytes, r.cpu_pct),
            (Some(7_250_000), Some(1024 * 1024), Some(99.99))
        );
    }

    #[test]
    fn unit_suffixes() {
        let r = ok(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /index.php\" 200 /var/www/html/index.php 123.456ms 2048kb 45.67%");
        assert_eq!(
            (r.duration_ns, r.memory_bytes),
            (Some(123_456_000), Some(2048 * 1024))
        );
        let r = ok(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /index.php\" 200 0.123s 2MB");
        assert_eq!(
            (r.duration_ns, r.memory_bytes),
            (Some(123_000_000), Some(2 * 1024 * 1024))
        );
        let r = ok(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /index.php\" 200 3145728b");
        assert_eq!((r.duration_ns, r.memory_bytes), (None, Some(3_145_728)));
    }

    #[test]
    fn crlf_and_quote_in_uri() {
        let r = ok(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /?q=\"x\" 200 /var/www/html/index.php 1.000 2 3.00%\r\n");
        assert_eq!(r.path, b"/?q=\"x");
        assert_eq!(r.cpu_pct, Some(3.0));
        let r = ok(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"- -\" 0\r");
        assert_eq!((r.method, r.path, r.status), (&b""[..], &b""[..], 0));
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b"   \r\n"), Err(ParseError::Empty));
        // nginx / Traefik CLF: the request has a protocol.
        assert_eq!(
            parse(b"1.2.3.4 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"curl/8.0\""),
            Err(ParseError::Format)
        );
        assert_eq!(
            parse(b"[22-Nov-2026 10:00:00] NOTICE: ready to handle connections"),
            Err(ParseError::Format)
        );
        assert_eq!(parse(b"example.com - x"), Err(ParseError::Format));
        assert_eq!(
            parse(b"10.0.0.1 -  22/Nov/2026:10:00"),
            Err(ParseError::Truncated { field: Field::Time })
        );
        assert_eq!(
            parse(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /index"),
            Err(ParseError::Truncated {
                field: Field::Request
            })
        );
        assert_eq!(
            parse(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /index.php\""),
            Err(ParseError::Truncated {
                field: Field::Status
            })
        );
        assert_eq!(
            parse(b"10.0.0.1 -  22/Nov/9999:10:00:00 +0000 \"GET /\" 200"),
            Err(ParseError::bad(Field::Time, 12))
        );
        assert_eq!(
            parse(b"10.0.0.1 -  22/Xyz/2026:10:00:00 +0000 \"GET /\" 200"),
            Err(ParseError::bad(Field::Time, 12))
        );
        // Issue 13: impossible dates are bad times.
        for t in [
            "30/Feb/2026:10:00:00",
            "29/Feb/2025:10:00:00",
            "31/Apr/2026:10:00:00",
            "22/Nov/2026:24:00:00",
        ] {
            let line = format!("10.0.0.1 -  {t} +0000 \"GET /\" 200");
            assert_eq!(
                parse(line.as_bytes()),
                Err(ParseError::bad(Field::Time, 12)),
                "{t}"
            );
        }
        assert!(parse(b"10.0.0.1 -  29/Feb/2024:10:00:00 +0000 \"GET /\" 200").is_ok());
        assert_eq!(
            parse(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /\" 2x0"),
            Err(ParseError::bad(Field::Status, 47))
        );
        assert_eq!(
            parse(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"get /\" 200"),
            Err(ParseError::bad(Field::Method, 40))
        );
        // Common-log bytes and quoted fields do not fit the FPM tail.
        assert_eq!(
            parse(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /\" 200 1 2 3"),
            Err(ParseError::bad(Field::Duration, 55))
        );
        assert_eq!(
            parse(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /\" 200 \"-\""),
            Err(ParseError::bad(Field::Trailing, 51))
        );
        assert_eq!(
            parse(b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /\" 200 1 1.x%"),
            Err(ParseError::bad(Field::Cpu, 53))
        );
    }

    #[test]
    fn huge_uri() {
        let mut line = b"10.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /".to_vec();
        line.extend(std::iter::repeat_n(b'a', 1 << 20));
        line.extend_from_slice(b"\" 414");
        let r = ok(&line);
        assert_eq!((r.status, r.path.len()), (414, (1 << 20) + 1));
    }

    pub(crate) const SAMPLES: &[&[u8]] = &[
        b"127.0.0.1 -  22/Nov/2026:10:00:00 +0000 \"GET /index.php\" 200",
        b"10.42.0.5 -  22/Nov/2026:10:00:00 +0000 \"GET /index.php?p=42\" 200 /var/www/html/index.php 123.456 2048 45.67%",
        b"10.42.0.6 -  22/Nov/2026:10:00:01 +0000 \"POST /wp-admin/admin-ajax.php\" 500 /var/www/html/wp-admin/admin-ajax.php 30001.337 65536 99.80%",
        b"10.42.0.7 - editor 22/Nov/2026:10:00:02 +0000 \"GET /wp-cron.php?doing_wp_cron\" 200 /var/www/html/wp-cron.php 812.000 8192 12.00%\r",
    ];

    #[test]
    fn detect_picks_fpm_access() {
        assert_eq!(
            crate::parse::detect(SAMPLES.iter().copied()),
            Some(LogFormat::FpmAccess)
        );
    }

    proptest! {


        /// Oracle: fpm_log.c's output for the www.conf format reads back.
        #[test]
        fn www_conf_roundtrip(
            ip in (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255),
            method in "(GET|POST|HEAD|PUT|DELETE)",
            uri in "/[a-zA-Z0-9_/.?=&%-]{0,80}",
            status in 100u16..600,
            us in 0u64..10_000_000,
            kib in 0u64..10_000_000,
            cpu in 0u32..100_000,
        ) {
            let line = format!(
                "{}.{}.{}.{} -  22/Nov/2026:10:00:00 +0000 \"{method} {uri}\" {status} /var/www/html/index.php {}.{:03} {kib} {}.{:02}%",
                ip.0, ip.1, ip.2, ip.3, us / 1000, us % 1000, cpu / 100, cpu % 100
            );
            let r = parse(line.as_bytes()).unwrap();
            prop_assert_eq!(r.ts_ns, Some(T));
            prop_assert_eq!(r.method, method.as_bytes());
            prop_assert_eq!(r.path, uri.as_bytes());
            prop_assert_eq!(r.status, status);
            prop_assert_eq!(r.duration_ns, Some(us * 1_000));
            prop_assert_eq!(r.memory_bytes, Some(kib * 1024));
            prop_assert_eq!(r.cpu_pct, Some(cpu as f32 / 100.0));
        }
    }

    #[test]
    fn never_panics() {
        crate::parse::test_support::never_panics(|line| drop(parse(line)), SAMPLES);
    }
}

//! The Common Log Format head that Traefik's common format and nginx's
//! `combined` share (`client - user [time] "request" status size`), and the
//! byte helpers both parsers use on it.

use memchr::{memchr, memrchr};

use crate::parse::{Field, ParseError};
use crate::time;

/// Longest client text accepted (an IPv6 address with zone and brackets
/// fits); bounds the first scan on lines of another format.
const MAX_CLIENT: usize = 64;
/// Longest status / size / count token: `u64::MAX` has 20 digits.
pub(crate) const MAX_NUMBER: usize = 20;

/// `-` as empty, anything else as it is.
#[inline]
pub(crate) fn dash(b: &[u8]) -> &[u8] {
    if b == b"-" { b"" } else { b }
}

/// Whether the byte at `q` is preceded by an odd run of backslashes.
#[inline]
pub(crate) fn is_escaped(s: &[u8], q: usize) -> bool {
    if q == 0 || s.get(q - 1) != Some(&b'\\') {
        return false;
    }
    let before = s.get(..q).unwrap_or_default();
    before.iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
}

/// Index of the first `b` in at most `max` bytes of `s[from..]`. For the
/// short fields a plain loop is cheaper than setting up `memchr`.
#[inline]
fn find_short(s: &[u8], from: usize, max: usize, b: u8) -> Option<usize> {
    let hay = s.get(from..)?;
    let hay = hay.get(..max).unwrap_or(hay);
    hay.iter().position(|&c| c == b).map(|i| from + i)
}

#[cold]
pub(crate) fn need(s: &[u8], at: usize, field: Field) -> ParseError {
    if at >= s.len() {
        ParseError::Truncated { field }
    } else {
        ParseError::bad(field, at)
    }
}

#[cold]
fn empty_or_format(s: &[u8]) -> ParseError {
    if s.iter().all(u8::is_ascii_whitespace) {
        ParseError::Empty
    } else {
        ParseError::Format
    }
}

/// The CLF head shared with nginx: `client - user [time] "request" status
/// size`, with `-` already mapped to empty / 0 / `None`.
pub(crate) struct Head<'b> {
    pub client: &'b [u8],
    pub user: &'b [u8],
    pub ts_ns: Option<i64>,
    pub method: &'b [u8],
    pub path: &'b [u8],
    pub protocol: &'b [u8],
    /// The request as written when it is not `METHOD target [protocol]`
    /// (a TLS handshake or other bytes sent to a plain-HTTP port); empty
    /// otherwise, and for `-` or `""`.
    pub raw_request: &'b [u8],
    pub status: u16,
    pub bytes: u64,
    /// Index just after the size field.
    pub end: usize,
}

/// Parses the CLF head at the start of `s`.
#[inline]
pub(crate) fn head(s: &[u8]) -> Result<Head<'_>, ParseError> {
    let sp = match find_short(s, 0, MAX_CLIENT + 1, b' ') {
        Some(sp) if sp > 0 => sp,
        _ => return Err(empty_or_format(s)),
    };
    if s.get(sp..sp + 3) != Some(b" - ") {
        return Err(ParseError::Format);
    }
    let client = dash(s.get(..sp).unwrap_or_default());

    let u0 = sp + 3;
    let mut user = &b""[..];
    let br = if s.get(u0..u0 + 3) == Some(b"- [") {
        u0 + 2
    } else {
        let rest = s.get(u0..).unwrap_or_default();
        let br = u0 + memchr(b'[', rest).ok_or_else(|| need(s, s.len(), Field::Time))?;
        if br == u0 || s.get(br - 1) != Some(&b' ') {
            return Err(ParseError::bad(Field::User, br));
        }
        user = dash(s.get(u0..br - 1).unwrap_or_default());
        br
    };

    let t0 = br + 1;
    let mut ts_ns = None;
    let after = if s.get(t0..t0 + 2) == Some(b"-]") {
        t0 + 2
    } else {
        match (s.get(t0..t0 + 26), s.get(t0 + 26)) {
            (Some(t), Some(b']')) => {
                let ts = time::parse_clf(t).ok_or_else(|| ParseError::bad(Field::Time, t0))?;
                ts_ns = Some(ts);
            }
            _ => return Err(need(s, t0 + 27, Field::Time)),
        }
        t0 + 27
    };

    if s.get(after..after + 2) != Some(b" \"") {
        return Err(need(s, after, Field::Request));
    }
    let r0 = after + 2;
    // The request ends at the first unescaped `"` followed by ` ` and the
    // status (digits or `-`): Traefik does not escape a `"` in the query.
    let mut from = r0;
    let close = loop {
        let rest = s.get(from..).unwrap_or_default();
        let Some(i) = memchr(b'"', rest) else {
            return Err(ParseError::Truncated {
                field: Field::Request,
            });
        };
        let q = from + i;
        if matches!(s.get(q + 1..q + 3), Some([b' ', b'0'..=b'9' | b'-'])) && !is_escaped(s, q) {
            break q;
        }
        from = q + 1;
    };
    let (method, path, protocol, raw_request) = request_line(s.get(r0..close).unwrap_or_default());

    let st0 = close + 2;
    let status;
    let z0 = match s.get(st0..st0 + 4) {
        Some(&[a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9', b' ']) => {
            status = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            st0 + 4
        }
        _ => {
            let st_end = find_short(s, st0, MAX_NUMBER + 1, b' ')
                .ok_or_else(|| need(s, s.len(), Field::Status))?;
            status = match s.get(st0..st_end).unwrap_or_default() {
                b"-" => 0,
                st => time::parse_u64(st)
                    .filter(|&v| v <= 999)
                    .and_then(|v| u16::try_from(v).ok())
                    .ok_or_else(|| ParseError::bad(Field::Status, st0))?,
            };
            st_end + 1
        }
    };

    let z_end = find_short(s, z0, MAX_NUMBER + 1, b' ').unwrap_or(s.len());
    let bytes = match s.get(z0..z_end).unwrap_or_default() {
        b"-" => 0,
        size => time::parse_u64(size).ok_or_else(|| need(s, z0, Field::Bytes))?,
    };
    Ok(Head {
        client,
        user,
        ts_ns,
        method,
        path,
        protocol,
        raw_request,
        status,
        bytes,
        end: z_end,
    })
}

/// Splits `METHOD target protocol` into method, target and protocol. A
/// request whose first word is not a method token, or that has no target
/// (`GET` alone), is garbage: it comes back whole as the fourth value with
/// the others empty (`-` and `""` give all four empty).
#[inline]
fn request_line(req: &[u8]) -> (&[u8], &[u8], &[u8], &[u8]) {
    // A method is at most 32 bytes; no space that early means one token
    // (`-`, `GET`, a TLS handshake) or garbage.
    let Some(a) = find_short(req, 0, 33, b' ') else {
        return (b"", b"", b"", dash(req));
    };
    let method = req.get(..a).unwrap_or_default();
    let token = !method.is_empty()
        && method
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if !token || a + 1 >= req.len() {
        return (b"", b"", b"", req);
    }
    // Fast path for ` HTTP/x.y` at the end, else the last space.
    let n = req.len();
    let b = match n.checked_sub(9).and_then(|p| Some((p, req.get(p..)?))) {
        Some((p, [b' ', b'H', b'T', b'T', b'P', b'/', x, y, z]))
            if p > a && ![*x, *y, *z].contains(&b' ') =>
        {
            p
        }
        _ => memrchr(b' ', req).unwrap_or(a),
    };
    if b == a {
        return (
            dash(method),
            dash(req.get(a + 1..).unwrap_or_default()),
            b"",
            b"",
        );
    }
    (
        dash(method),
        dash(req.get(a + 1..b).unwrap_or_default()),
        dash(req.get(b + 1..).unwrap_or_default()),
        b"",
    )
}

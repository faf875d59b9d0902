//! Byte-level formatting into a reused `Vec<u8>`: integers, fixed-point
//! decimals, dates, and the escapings the real writers apply (Go's
//! `encoding/json`, nginx's `\xHH`). Nothing here allocates beyond growing
//! the buffer it is given.

/// Appends `v` in decimal.
#[inline]
pub fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends `v` zero-padded to at least `width` digits.
#[inline]
pub fn push_padded(buf: &mut Vec<u8>, v: u64, width: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut v = v;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in (tmp.len() - i)..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends `v / 10^frac` with exactly `frac` fraction digits
/// (`push_fixed(buf, 1234, 3)` writes `1.234`).
#[inline]
pub fn push_fixed(buf: &mut Vec<u8>, v: u64, frac: u32) {
    let scale = 10u64.pow(frac);
    push_u64(buf, v / scale);
    if frac > 0 {
        buf.push(b'.');
        push_padded(buf, v % scale, frac as usize);
    }
}

/// Appends `v` as lower-case hex zero-padded to `width` digits.
pub fn push_hex(buf: &mut Vec<u8>, v: u64, width: usize) {
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1) as usize;
    for _ in digits..width {
        buf.push(b'0');
    }
    for i in (0..digits).rev() {
        buf.push(HEX_LOWER[((v >> (i * 4)) & 15) as usize]);
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `s` escaped as the contents of a JSON string the way Go's
/// `encoding/json` (and Docker's json-file driver) write it: `"` and `\`
/// backslashed, `\n` `\r` `\t` short, other control bytes and the HTML
/// characters `<` `>` `&` as `\u00XX`, U+2028/U+2029 as `\u2028`/`\u2029`.
/// `s` is expected to be valid UTF-8; other non-ASCII bytes pass through.
pub fn push_json_escaped(buf: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if !JSON_SPECIAL[usize::from(b)] {
            i += 1;
            continue;
        }
        if b == 0xE2 {
            // Only U+2028 and U+2029 (E2 80 A8/A9) are escaped.
            let sep = s.get(i + 1) == Some(&0x80) && matches!(s.get(i + 2), Some(0xA8 | 0xA9));
            if !sep {
                i += 1;
                continue;
            }
            buf.extend_from_slice(&s[start..i]);
            buf.extend_from_slice(if s[i + 2] == 0xA8 {
                b"\\u2028"
            } else {
                b"\\u2029"
            });
            i += 3;
            start = i;
            continue;
        }
        buf.extend_from_slice(&s[start..i]);
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            _ => {
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX_LOWER[usize::from(b >> 4)]);
                buf.push(HEX_LOWER[usize::from(b & 15)]);
            }
        }
        i += 1;
        start = i;
    }
    buf.extend_from_slice(&s[start..]);
}

/// Bytes [`push_json_escaped`] must look at: control bytes, `"`, `\`, the
/// HTML characters, and 0xE2 (the lead byte of U+2028/U+2029).
const JSON_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xE2] = true;
    t
};

/// Appends `s` escaped the way nginx's default `log_format` escaping does:
/// `"`, `\`, control bytes and bytes >= 0x7F become `\xHH` (upper-case hex).
pub fn push_nginx_escaped(buf: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if b == b'"' || b == b'\\' || !(0x20..0x7F).contains(&b) {
            buf.extend_from_slice(&s[start..i]);
            buf.extend_from_slice(b"\\x");
            buf.push(HEX_UPPER[usize::from(b >> 4)]);
            buf.push(HEX_UPPER[usize::from(b & 15)]);
            start = i + 1;
        }
    }
    buf.extend_from_slice(&s[start..]);
}

/// Appends `s` with the URL-unsafe bytes of a query value percent-encoded
/// (`/` → `%2F`, `:` → `%3A`, space → `+`), as PHP's `urlencode` does.
pub fn push_urlencoded(buf: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => buf.push(b),
            b' ' => buf.push(b'+'),
            _ => {
                buf.push(b'%');
                buf.push(HEX_UPPER[usize::from(b >> 4)]);
                buf.push(HEX_UPPER[usize::from(b & 15)]);
            }
        }
    }
}

const NS: i64 = 1_000_000_000;
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A UTC calendar time, split from Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
}

impl Civil {
    /// Splits Unix seconds (UTC); Howard Hinnant's `civil_from_days`.
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            min: sod / 60 % 60,
            sec: sod % 60,
        }
    }

    fn month_abbr(&self) -> &'static [u8; 3] {
        MONTHS[(self.month - 1) as usize]
    }

    fn push_hms(&self, buf: &mut Vec<u8>) {
        push_padded(buf, u64::from(self.hour), 2);
        buf.push(b':');
        push_padded(buf, u64::from(self.min), 2);
        buf.push(b':');
        push_padded(buf, u64::from(self.sec), 2);
    }

    fn push_year(&self, buf: &mut Vec<u8>) {
        push_padded(buf, self.year.max(0) as u64, 4);
    }
}

/// Splits Unix nanoseconds into (seconds, nanoseconds within the second).
#[inline]
pub fn split_ns(ts_ns: i64) -> (i64, u32) {
    (ts_ns.div_euclid(NS), ts_ns.rem_euclid(NS) as u32)
}

/// `22/Nov/2026:10:00:00 +0000` (Common Log Format, nginx `$time_local`,
/// PHP-FPM `%t`).
pub fn push_clf_time(buf: &mut Vec<u8>, secs: i64) {
    let c = Civil::from_unix(secs);
    push_padded(buf, u64::from(c.day), 2);
    buf.push(b'/');
    buf.extend_from_slice(c.month_abbr());
    buf.push(b'/');
    c.push_year(buf);
    buf.push(b':');
    c.push_hms(buf);
    buf.extend_from_slice(b" +0000");
}

/// `22-Nov-2026 10:00:00` (PHP-FPM error and slow logs, PHP `error_log`).
pub fn push_dmy_time(buf: &mut Vec<u8>, secs: i64) {
    let c = Civil::from_unix(secs);
    push_padded(buf, u64::from(c.day), 2);
    buf.push(b'-');
    buf.extend_from_slice(c.month_abbr());
    buf.push(b'-');
    c.push_year(buf);
    buf.push(b' ');
    c.push_hms(buf);
}

/// How many fraction digits an RFC 3339 timestamp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frac {
    /// None: `2026-11-22T10:00:00Z` (logrus `time`).
    None,
    /// Always nine digits: `2026-11-22T10:00:00.120000000Z` (CRI log files).
    Fixed9,
    /// Go's `RFC3339Nano`: trailing zeros and a bare dot dropped
    /// (`2026-11-22T10:00:00.12Z`, `2026-11-22T10:00:00Z`).
    GoNano,
}

/// `2026-11-22T10:00:00.123456789Z`, UTC, with fraction digits per `frac`.
pub fn push_rfc3339(buf: &mut Vec<u8>, ts_ns: i64, frac: Frac) {
    let (secs, nanos) = split_ns(ts_ns);
    let c = Civil::from_unix(secs);
    c.push_year(buf);
    buf.push(b'-');
    push_padded(buf, u64::from(c.month), 2);
    buf.push(b'-');
    push_padded(buf, u64::from(c.day), 2);
    buf.push(b'T');
    c.push_hms(buf);
    match frac {
        Frac::None => {}
        Frac::Fixed9 => {
            buf.push(b'.');
            push_padded(buf, u64::from(nanos), 9);
        }
        Frac::GoNano => {
            if nanos != 0 {
                let mut n = nanos;
                let mut digits = 9;
                while n % 10 == 0 {
                    n /= 10;
                    digits -= 1;
                }
                buf.push(b'.');
                push_padded(buf, u64::from(n), digits);
            }
        }
    }
    buf.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(s(|b| push_u64(b, 0)), "0");
        assert_eq!(s(|b| push_u64(b, u64::MAX)), u64::MAX.to_string());
        assert_eq!(s(|b| push_padded(b, 7, 3)), "007");
        assert_eq!(s(|b| push_padded(b, 1234, 2)), "1234");
        assert_eq!(s(|b| push_fixed(b, 1234, 3)), "1.234");
        assert_eq!(s(|b| push_fixed(b, 5, 3)), "0.005");
        assert_eq!(s(|b| push_fixed(b, 5, 0)), "5");
        assert_eq!(s(|b| push_hex(b, 0x7f3c_2a81_50a0, 16)), "00007f3c2a8150a0");
        assert_eq!(s(|b| push_hex(b, 0, 2)), "00");
    }

    #[test]
    fn dates() {
        let t = 1_795_341_600; // 2026-11-22T10:00:00Z
        assert_eq!(s(|b| push_clf_time(b, t)), "22/Nov/2026:10:00:00 +0000");
        assert_eq!(s(|b| push_dmy_time(b, t + 61)), "22-Nov-2026 10:01:01");
        let ns = t * NS + 120_000_000;
        assert_eq!(
            s(|b| push_rfc3339(b, ns, Frac::Fixed9)),
            "2026-11-22T10:00:00.120000000Z"
        );
        assert_eq!(
            s(|b| push_rfc3339(b, ns, Frac::GoNano)),
            "2026-11-22T10:00:00.12Z"
        );
        assert_eq!(
            s(|b| push_rfc3339(b, t * NS, Frac::GoNano)),
            "2026-11-22T10:00:00Z"
        );
        assert_eq!(
            s(|b| push_rfc3339(b, ns, Frac::None)),
            "2026-11-22T10:00:00Z"
        );
        assert_eq!(
            s(|b| push_clf_time(b, 951_782_400)),
            "29/Feb/2000:00:00:00 +0000"
        );
        assert_eq!(s(|b| push_clf_time(b, 0)), "01/Jan/1970:00:00:00 +0000");
    }

    #[test]
    fn json_escaping_matches_go() {
        let got = s(|b| push_json_escaped(b, "a\"b\\c\nd<e>&f\u{1}g\u{2028}é".as_bytes()));
        assert_eq!(got, r#"a\"b\\c\nd\u003ce\u003e\u0026f\u0001g\u2028é"#);
    }

    #[test]
    fn nginx_escaping() {
        let got = s(|b| push_nginx_escaped(b, "say \"hi\" \\ é".as_bytes()));
        assert_eq!(got, r"say \x22hi\x22 \x5C \xC3\xA9");
    }

    #[test]
    fn urlencoding() {
        let got = s(|b| push_urlencoded(b, b"https://a.b/c d"));
        assert_eq!(got, "https%3A%2F%2Fa.b%2Fc+d");
    }
}

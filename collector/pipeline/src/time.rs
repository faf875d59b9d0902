//! Timestamp and number scanning shared by the parsers: fixed-layout dates
//! decoded by hand (no allocation, no locale, no time-zone database) into
//! Unix nanoseconds, UTC.

const NS_PER_SEC: i64 = 1_000_000_000;

/// Days since 1970-01-01 for a proleptic Gregorian date.
/// Howard Hinnant's `days_from_civil` (http://howardhinnant.github.io/date_algorithms.html).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Month number (1-12) from an English three-letter abbreviation
/// (`Jan`..`Dec`, case-sensitive as logs write it).
#[inline]
pub fn month_abbr(b: &[u8]) -> Option<u32> {
    let m = match b {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    };
    Some(m)
}

/// Exactly `N` ASCII digits as a number.
#[inline]
pub fn digits<const N: usize>(b: &[u8]) -> Option<u32> {
    if b.len() != N {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u32::from(d);
    }
    Some(v)
}

/// An unsigned decimal integer of 1..=19 digits (no sign, no spaces).
#[inline]
pub fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

/// A non-negative decimal number with an optional fraction (`12`, `0.123`,
/// `1.5e-3` is rejected) scaled to integer units: `parse_scaled(b"0.123",
/// 1_000_000_000)` is 123_000_000. Fraction digits beyond the scale's
/// precision are truncated.
pub fn parse_scaled(b: &[u8], scale: u64) -> Option<u64> {
    let (int, frac) = match memchr::memchr(b'.', b) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b""[..]),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let whole = if int.is_empty() { 0 } else { parse_u64(int)? };
    let mut v = whole.checked_mul(scale)?;
    let mut unit = scale;
    for &c in frac {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        unit /= 10;
        v = v.checked_add(u64::from(d) * unit)?;
    }
    Some(v)
}

/// Seconds plus a fraction as nanoseconds; `None` outside i64's range
/// (years before 1678 or after 2261).
#[inline]
fn to_ns(secs: i64, frac: i64) -> Option<i64> {
    secs.checked_mul(NS_PER_SEC)?.checked_add(frac)
}

#[inline]
fn hms(b: &[u8]) -> Option<i64> {
    // HH:MM:SS
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let h = digits::<2>(&b[0..2])?;
    let mi = digits::<2>(&b[3..5])?;
    let s = digits::<2>(&b[6..8])?;
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s))
}

#[inline]
fn ymd_secs(y: u32, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(i64::from(y), m, d) * 86_400)
}

/// `+hhmm` / `-hhmm` / `+hh:mm` as seconds east of UTC.
#[inline]
fn offset_secs(b: &[u8]) -> Option<i64> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = match b.len() {
        5 => (digits::<2>(&b[1..3])?, digits::<2>(&b[3..5])?),
        6 if b[3] == b':' => (digits::<2>(&b[1..3])?, digits::<2>(&b[4..6])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (i64::from(h) * 3600 + i64::from(m) * 60))
}

/// Fraction digits after a `.` as nanoseconds (up to 9 digits used, more
/// are ignored). Returns the value and how many bytes were consumed.
#[inline]
fn fraction_ns(b: &[u8]) -> (i64, usize) {
    let mut ns = 0i64;
    let mut scale = 100_000_000i64;
    let mut n = 0;
    while n < b.len() && b[n].is_ascii_digit() {
        if scale > 0 {
            ns += i64::from(b[n] - b'0') * scale;
            scale /= 10;
        }
        n += 1;
    }
    (ns, n)
}

/// Common Log Format time, the part inside the brackets:
/// `22/Nov/2026:10:00:00 +0000`.
pub fn parse_clf(b: &[u8]) -> Option<i64> {
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let d = digits::<2>(&b[0..2])?;
    let m = month_abbr(&b[3..6])?;
    let y = digits::<4>(&b[7..11])?;
    let t = hms(&b[12..20])?;
    let off = offset_secs(&b[21..26])?;
    to_ns(ymd_secs(y, m, d)? + t - off, 0)
}

/// RFC 3339 / ISO 8601 with `T` or space: `2026-11-22T10:00:00.123456789Z`,
/// `2026-11-22T11:00:00+01:00`, `2026-11-22 10:00:00`. A missing zone means UTC.
/// The whole slice must be the timestamp.
pub fn parse_rfc3339(b: &[u8]) -> Option<i64> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let y = digits::<4>(&b[0..4])?;
    let m = digits::<2>(&b[5..7])?;
    let d = digits::<2>(&b[8..10])?;
    let t = hms(&b[11..19])?;
    let mut rest = &b[19..];
    let mut frac = 0;
    if rest.first() == Some(&b'.') {
        let (ns, n) = fraction_ns(&rest[1..]);
        if n == 0 {
            return None;
        }
        frac = ns;
        rest = &rest[1 + n..];
    }
    let off = match rest {
        b"" | b"Z" | b"z" => 0,
        _ => offset_secs(rest)?,
    };
    to_ns(ymd_secs(y, m, d)? + t - off, frac)
}

/// PHP-FPM / PHP error-log time, the part inside the brackets:
/// `22-Nov-2026 10:00:00`, with an optional `.123456` fraction (FPM's
/// microsecond `log_level = debug` form) and an optional zone suffix
/// (` UTC`, ` +0100`). Names other than UTC/GMT are taken as UTC, since the
/// zone database is not consulted on the hot path.
pub fn parse_php(b: &[u8]) -> Option<i64> {
    if b.len() < 20 || b[2] != b'-' || b[6] != b'-' || b[11] != b' ' {
        return None;
    }
    let d = digits::<2>(&b[0..2])?;
    let m = month_abbr(&b[3..6])?;
    let y = digits::<4>(&b[7..11])?;
    let t = hms(&b[12..20])?;
    let mut rest = &b[20..];
    let mut frac = 0;
    if rest.first() == Some(&b'.') {
        let (ns, n) = fraction_ns(&rest[1..]);
        if n == 0 {
            return None;
        }
        frac = ns;
        rest = &rest[1 + n..];
    }
    let off = match rest {
        b"" => 0,
        [b' ', zone @ ..] => offset_secs(zone).unwrap_or(0),
        _ => return None,
    };
    to_ns(ymd_secs(y, m, d)? + t - off, frac)
}

/// Formats Unix nanoseconds as RFC 3339 UTC with nanoseconds
/// (`2026-11-22T10:00:00.123456789Z`), for output.
pub fn format_rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(NS_PER_SEC);
    let frac = ns.rem_euclid(NS_PER_SEC);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// English month abbreviations, as CLF and PHP write them.
pub const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats Unix seconds as a CLF time in UTC (`22/Nov/2026:10:00:00
/// +0000`), the inverse of [`parse_clf`] at second precision.
pub fn format_clf(unix_secs: i64) -> String {
    let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
    let sod = unix_secs.rem_euclid(86_400);
    format!(
        "{d:02}/{}/{y:04}:{:02}:{:02}:{:02} +0000",
        MONTH_NAMES[(m as usize + 11) % 12],
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_341_600; // 2026-11-22T10:00:00Z

    #[test]
    fn clf() {
        assert_eq!(
            parse_clf(b"22/Nov/2026:10:00:00 +0000"),
            Some(T * NS_PER_SEC)
        );
        assert_eq!(
            parse_clf(b"22/Nov/2026:11:30:00 +0130"),
            Some(T * NS_PER_SEC)
        );
        assert_eq!(parse_clf(b"22/Nov/2026:10:00:00 +000"), None);
        assert_eq!(parse_clf(b"22/Foo/2026:10:00:00 +0000"), None);
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339(b"2026-11-22T10:00:00Z"), Some(T * NS_PER_SEC));
        assert_eq!(
            parse_rfc3339(b"2026-11-22T10:00:00.123456789Z"),
            Some(T * NS_PER_SEC + 123_456_789)
        );
        assert_eq!(
            parse_rfc3339(b"2026-11-22T11:00:00.5+01:00"),
            Some(T * NS_PER_SEC + 500_000_000)
        );
        assert_eq!(parse_rfc3339(b"2026-11-22 10:00:00"), Some(T * NS_PER_SEC));
        assert_eq!(parse_rfc3339(b"2026-11-22T10:00:00."), None);
        assert_eq!(parse_rfc3339(b"2026-13-22T10:00:00Z"), None);
    }

    #[test]
    fn php() {
        assert_eq!(parse_php(b"22-Nov-2026 10:00:00"), Some(T * NS_PER_SEC));
        assert_eq!(parse_php(b"22-Nov-2026 10:00:00 UTC"), Some(T * NS_PER_SEC));
        assert_eq!(
            parse_php(b"22-Nov-2026 10:00:00.123456"),
            Some(T * NS_PER_SEC + 123_456_000)
        );
        assert_eq!(parse_php(b"22-Nov-2026 10:00"), None);
        assert_eq!(parse_php(b"22-Nov-9999 10:00:00"), None);
        assert_eq!(parse_clf(b"22/Nov/9999:10:00:00 +0000"), None);
        assert_eq!(parse_rfc3339(b"9999-11-22T10:00:00.999999999Z"), None);
    }

    #[test]
    fn clf_format_roundtrip() {
        let s = format_clf(T);
        assert_eq!(s, "22/Nov/2026:10:00:00 +0000");
        assert_eq!(parse_clf(s.as_bytes()), Some(T * NS_PER_SEC));
    }

    #[test]
    fn roundtrip_format() {
        assert_eq!(
            format_rfc3339(T * NS_PER_SEC + 5),
            "2026-11-22T10:00:00.000000005Z"
        );
        for days in [-800_000i64, -1, 0, 1, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_scaled(b"0.123", 1_000_000_000), Some(123_000_000));
        assert_eq!(parse_scaled(b"12", 1000), Some(12_000));
        assert_eq!(parse_scaled(b".5", 1000), Some(500));
        assert_eq!(parse_scaled(b"1.2345", 1000), Some(1234));
        assert_eq!(parse_scaled(b"1.x", 1000), None);
        assert_eq!(parse_scaled(b".", 1000), None);
    }
}

//! Timestamp and number scanning shared by the parsers: fixed-layout dates
//! decoded by hand (no allocation, no locale) into Unix nanoseconds, UTC.
//! Only PHP's named zones (`Europe/Berlin`) consult a time-zone database:
//! the IANA one bundled with jiff, cached per thread ([`parse_php_zoned`]).

const NS_PER_SEC: i64 = 1_000_000_000;

/// Days since 1970-01-01 for a proleptic Gregorian date.
/// Howard Hinnant's `days_from_civil` (http://howardhinnant.github.io/date_algorithms.html).
///
/// The arithmetic does not check the date: 30 February comes out as
/// 2 March. Callers check [`is_valid_date`] first.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days in each month of a common year (February has 29 in a leap year).
const MONTH_DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// Whether `y` is a Gregorian leap year: divisible by 4, and not by 100
/// unless by 400 (2000 and 2024 are, 1900 and 2025 are not).
#[inline]
pub fn is_leap_year(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Whether `y-m-d` names a real day: month 1-12 and day 1 to the month's
/// length, 29 February only in a leap year.
///
/// # Performance
/// A table lookup and a few comparisons.
#[inline]
pub fn is_valid_date(y: i64, m: u32, d: u32) -> bool {
    let Some(&len) = MONTH_DAYS.get((m as usize).wrapping_sub(1)) else {
        return false;
    };
    d >= 1 && (d <= len || (m == 2 && d == 29 && is_leap_year(y)))
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

/// `HH:MM:SS` as seconds into the day: hours 0-23, minutes 0-59, seconds
/// 0-60. RFC 3339 allows second 60 for a leap second and a log may copy it
/// from the clock; Unix time has no leap seconds, so `23:59:60` reads as
/// the next day's `00:00:00`, whatever the month (no leap-second table on
/// the hot path).
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

/// Seconds from the epoch to the start of a day; `None` for a day that does
/// not exist (30 Feb, 31 Apr, 29 Feb 2025), which every format then reports
/// as a bad time.
#[inline]
fn ymd_secs(y: u32, m: u32, d: u32) -> Option<i64> {
    let y = i64::from(y);
    if !is_valid_date(y, m, d) {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400)
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

/// Whether `b` is laid out like a PHP time (`dd-Mmm-yyyy hh:mm:ss`, then
/// nothing, a `.` fraction or a ` ` zone), whatever the values. The
/// multi-line formats start a record on this layout, so a line with an
/// impossible date (30 Feb, hour 24) becomes its own record, which
/// [`parse_php`] refuses as a bad time, instead of text joined to the
/// previous record.
///
/// # Performance
/// Twenty byte comparisons, no allocation.
pub fn is_php_layout(b: &[u8]) -> bool {
    const LAYOUT: &[u8; 20] = b"00-Mmm-0000 00:00:00";
    b.len() >= LAYOUT.len()
        && matches!(b.get(LAYOUT.len()), None | Some(b'.' | b' '))
        && month_abbr(&b[3..6]).is_some()
        && LAYOUT.iter().zip(b).all(|(&l, &c)| match l {
            b'0' => c.is_ascii_digit(),
            b'M' | b'm' => true,
            _ => c == l,
        })
}

/// PHP's error-log time with its zone resolved: `22-Nov-2026 11:00:00
/// Europe/Berlin` (what `php_log_err()` writes with `date("d-M-Y H:i:s e")`,
/// php-src `main/main.c`). No zone means UTC (FPM's own logs; the master's
/// local zone is not on the line); ` UTC` and numeric offsets (`+01:00`,
/// `-0500`) are read as [`parse_php`] reads them; any other name is looked
/// up in the IANA time-zone database bundled with jiff, and the local
/// clock reading converted to UTC at that zone's offset then (in a
/// daylight-saving fold, the earlier of the two instants, as
/// `jiff`'s `compatible` disambiguation does).
///
/// # Errors
/// `Err(at)`, the byte offset in `b` of what is wrong: 0 for the date and
/// time, the zone's start for a malformed offset or a name the database
/// does not know (`CEST` is an abbreviation, not a zone).
///
/// # Performance
/// A zone is looked up once per thread and name, then served from a small
/// cache ([`ZONE_CACHE`] names): the hot path allocates nothing.
pub fn parse_php_zoned(b: &[u8]) -> Result<i64, usize> {
    let zone_at = b
        .get(20..)
        .and_then(|tail| memchr::memchr(b' ', tail))
        .map(|i| 20 + i + 1);
    let Some(zone_at) = zone_at else {
        return parse_php(b).ok_or(0);
    };
    match &b[zone_at..] {
        b"UTC" => parse_php(b).ok_or(0),
        [b'+' | b'-', ..] => {
            offset_secs(&b[zone_at..]).ok_or(zone_at)?;
            parse_php(b).ok_or(0)
        }
        name => {
            let local = parse_php(&b[..zone_at - 1]).ok_or(0usize)?;
            let off = zone_offset_at_local(name, local.div_euclid(NS_PER_SEC)).ok_or(zone_at)?;
            local.checked_sub(off * NS_PER_SEC).ok_or(0usize)
        }
    }
}

/// How many zones each thread keeps resolved (a node's PHP logs use one or
/// two; an input cycling through more still works, re-resolving each).
pub const ZONE_CACHE: usize = 16;

/// Longest zone name looked up (`America/Argentina/ComodRivadavia` is 32).
const MAX_ZONE_NAME: usize = 48;

/// A resolved (or unknown: `None`) zone name.
struct CachedZone {
    name: [u8; MAX_ZONE_NAME],
    len: usize,
    tz: Option<jiff::tz::TimeZone>,
}

thread_local! {
    /// Zones this thread has resolved, and the slot the next one replaces.
    static ZONES: std::cell::RefCell<(Vec<CachedZone>, usize)> =
        const { std::cell::RefCell::new((Vec::new(), 0)) };
}

/// Seconds east of UTC that the IANA zone `name` has at the wall-clock
/// reading `local_secs` (local time counted as if it were UTC). `None` for
/// a name the bundled database does not know or that cannot be one.
pub fn zone_offset_at_local(name: &[u8], local_secs: i64) -> Option<i64> {
    let valid = !name.is_empty()
        && name.len() <= MAX_ZONE_NAME
        && name.iter().any(u8::is_ascii_alphabetic)
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b'+'));
    if !valid {
        return None;
    }
    // The reading's civil fields (a leap second was already folded into
    // the next minute by `hms`).
    let (y, m, d) = civil_from_days(local_secs.div_euclid(86_400));
    let sod = local_secs.rem_euclid(86_400);
    let dt = jiff::civil::DateTime::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
        i8::try_from(sod / 3600).ok()?,
        i8::try_from(sod / 60 % 60).ok()?,
        i8::try_from(sod % 60).ok()?,
        0,
    )
    .ok()?;
    ZONES.with(|zones| {
        let mut zones = zones.borrow_mut();
        let (cache, next) = &mut *zones;
        let found = cache.iter().position(|z| &z.name[..z.len] == name);
        let at = match found {
            Some(at) => at,
            None => {
                let tz = std::str::from_utf8(name)
                    .ok()
                    .and_then(|n| jiff::tz::TimeZoneDatabase::bundled().get(n).ok());
                let mut entry = CachedZone {
                    name: [0; MAX_ZONE_NAME],
                    len: name.len(),
                    tz,
                };
                entry.name[..name.len()].copy_from_slice(name);
                if cache.len() < ZONE_CACHE {
                    cache.reserve_exact(ZONE_CACHE);
                    cache.push(entry);
                    cache.len() - 1
                } else {
                    let at = *next % ZONE_CACHE;
                    *next = next.wrapping_add(1);
                    cache[at] = entry;
                    at
                }
            }
        };
        let tz = cache[at].tz.as_ref()?;
        let offset = match tz.to_ambiguous_timestamp(dt).offset() {
            jiff::tz::AmbiguousOffset::Unambiguous { offset } => offset,
            jiff::tz::AmbiguousOffset::Gap { before, .. }
            | jiff::tz::AmbiguousOffset::Fold { before, .. } => before,
        };
        Some(i64::from(offset.seconds()))
    })
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

    /// Named zones go through the IANA database: 2026's EU summer time runs
    /// 29 Mar 01:00Z to 25 Oct 01:00Z, US daylight time 8 Mar to 1 Nov (EU
    /// directive 2000/84/EC; US Energy Policy Act of 2005, both as the tz
    /// database's `europe` and `northamerica` files encode them).
    #[test]
    fn php_named_zones() {
        let ns = |s: &str| parse_php_zoned(s.as_bytes());
        let utc = |s: &str| parse_rfc3339(s.as_bytes()).unwrap();
        assert_eq!(ns("22-Nov-2026 11:00:00 Europe/Berlin"), Ok(T * NS_PER_SEC));
        assert_eq!(
            ns("22-Jul-2026 12:00:00 Europe/Berlin"),
            Ok(utc("2026-07-22T10:00:00Z"))
        );
        assert_eq!(
            ns("22-Nov-2026 05:00:00 America/New_York"),
            Ok(T * NS_PER_SEC)
        );
        assert_eq!(
            ns("22-Jul-2026 06:00:00 America/New_York"),
            Ok(utc("2026-07-22T10:00:00Z"))
        );
        assert_eq!(ns("22-Nov-2026 19:00:00 Asia/Tokyo"), Ok(T * NS_PER_SEC));
        // POSIX-style names count the other way: Etc/GMT+5 is UTC-5.
        assert_eq!(ns("22-Nov-2026 05:00:00 Etc/GMT+5"), Ok(T * NS_PER_SEC));
        assert_eq!(
            ns("22-Nov-2026 11:00:00.250000 Europe/Berlin"),
            Ok(T * NS_PER_SEC + 250_000_000)
        );
        // A fold (02:30 happens twice on 25 Oct): the earlier, still +02:00.
        assert_eq!(
            ns("25-Oct-2026 02:30:00 Europe/Berlin"),
            Ok(utc("2026-10-25T00:30:00Z"))
        );
        // A gap (02:30 never happens on 29 Mar): read at the offset before it.
        assert_eq!(
            ns("29-Mar-2026 02:30:00 Europe/Berlin"),
            Ok(utc("2026-03-29T01:30:00Z"))
        );
        // Unchanged forms.
        assert_eq!(ns("22-Nov-2026 10:00:00 UTC"), Ok(T * NS_PER_SEC));
        assert_eq!(ns("22-Nov-2026 10:00:00"), Ok(T * NS_PER_SEC));
        assert_eq!(ns("22-Nov-2026 11:00:00 +01:00"), Ok(T * NS_PER_SEC));
        assert_eq!(ns("22-Nov-2026 05:00:00 -0500"), Ok(T * NS_PER_SEC));
        assert_eq!(ns("22-Nov-2026 10:00:00 GMT"), Ok(T * NS_PER_SEC));
        // Never silently UTC: an unknown name or a bad offset is an error at
        // the zone; a bad date at 0.
        for bad in [
            "22-Nov-2026 10:00:00 Mars/Olympus",
            "22-Nov-2026 10:00:00 CEST",
            "22-Nov-2026 10:00:00 +25:00",
            "22-Nov-2026 10:00:00 Europe/Berlin!",
            "22-Nov-2026 10:00:00 ",
        ] {
            assert_eq!(ns(bad), Err(21), "{bad}");
        }
        assert_eq!(ns("30-Feb-2026 10:00:00 Europe/Berlin"), Err(0));
        assert_eq!(ns("22-Nov-2026 10:00"), Err(0));
        // More names than the cache holds still resolve.
        let zones = [
            "Europe/Berlin",
            "Europe/Paris",
            "Europe/London",
            "Europe/Madrid",
            "Europe/Rome",
            "Europe/Vienna",
            "Europe/Zurich",
            "Europe/Oslo",
            "Europe/Warsaw",
            "Europe/Prague",
            "Europe/Lisbon",
            "Europe/Dublin",
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Los_Angeles",
            "Asia/Tokyo",
            "Asia/Kolkata",
            "UTC",
        ];
        for _ in 0..2 {
            for z in zones {
                assert!(ns(&format!("22-Nov-2026 10:00:00 {z}")).is_ok(), "{z}");
            }
        }
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

    /// Issue 13: impossible dates were rolled over by `days_from_civil`
    /// (30 Feb read as 2 Mar) instead of being refused as a bad time.
    #[test]
    fn issue_13_impossible_dates_clf() {
        assert_eq!(parse_clf(b"30/Feb/2026:10:00:00 +0000"), None);
        assert_eq!(parse_clf(b"29/Feb/2025:10:00:00 +0000"), None);
        assert!(parse_clf(b"29/Feb/2024:10:00:00 +0000").is_some());
        assert_eq!(parse_clf(b"31/Apr/2026:10:00:00 +0000"), None);
        assert!(parse_clf(b"30/Apr/2026:10:00:00 +0000").is_some());
        assert_eq!(parse_clf(b"22/Nov/2026:24:00:00 +0000"), None);
        assert_eq!(parse_clf(b"00/Nov/2026:10:00:00 +0000"), None);
        // Century years leap only every 400.
        assert_eq!(parse_clf(b"29/Feb/1900:10:00:00 +0000"), None);
        assert!(parse_clf(b"29/Feb/2000:10:00:00 +0000").is_some());
    }

    #[test]
    fn issue_13_impossible_dates_rfc3339() {
        assert_eq!(parse_rfc3339(b"2026-02-30T10:00:00Z"), None);
        assert_eq!(parse_rfc3339(b"2025-02-29T10:00:00Z"), None);
        assert!(parse_rfc3339(b"2024-02-29T10:00:00Z").is_some());
        assert_eq!(parse_rfc3339(b"2026-04-31T10:00:00Z"), None);
        assert_eq!(parse_rfc3339(b"2026-11-22T24:00:00Z"), None);
        assert_eq!(parse_rfc3339(b"2026-11-22T10:60:00Z"), None);
        assert_eq!(parse_rfc3339(b"2026-00-22T10:00:00Z"), None);
        assert_eq!(parse_rfc3339(b"2026-11-00T10:00:00Z"), None);
        // A leap second is accepted and reads as the next minute's :00.
        assert_eq!(
            parse_rfc3339(b"2026-12-31T23:59:60Z"),
            parse_rfc3339(b"2027-01-01T00:00:00Z")
        );
        assert_eq!(parse_rfc3339(b"2026-12-31T23:59:61Z"), None);
    }

    #[test]
    fn issue_13_impossible_dates_php() {
        assert_eq!(parse_php(b"30-Feb-2026 10:00:00 UTC"), None);
        assert_eq!(parse_php(b"29-Feb-2025 10:00:00"), None);
        assert!(parse_php(b"29-Feb-2024 10:00:00").is_some());
        assert_eq!(parse_php(b"31-Apr-2026 10:00:00.123456"), None);
        assert_eq!(parse_php(b"22-Nov-2026 24:00:00"), None);
        // The layout still holds, so multi-line formats start a record here
        // and refuse it as a bad time rather than join it to the last one.
        for b in [
            &b"30-Feb-2026 10:00:00 UTC"[..],
            b"22-Nov-2026 25:00:00",
            b"22-Nov-2026 10:00:00.123456",
        ] {
            assert!(is_php_layout(b), "{}", String::from_utf8_lossy(b));
        }
        for b in [
            &b"22-Nov-2026 10:00"[..],
            b"22-Foo-2026 10:00:00",
            b"0x-Nov-2026 10:00:00",
            b"22-Nov-2026 10:00:00x",
            b"22-Nov-2026T10:00:00",
        ] {
            assert!(!is_php_layout(b), "{}", String::from_utf8_lossy(b));
        }
    }

    /// Naive oracle for the calendar: month lengths written out by hand.
    fn oracle_valid(y: u32, m: u32, d: u32) -> bool {
        let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let len = match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        (1..=len).contains(&d)
    }

    proptest::proptest! {
        /// Every format accepts exactly the real dates, and an accepted date
        /// reads back through `civil_from_days` as the day it names.
        #[test]
        fn accepted_dates_roundtrip(
            y in 1700u32..2250,
            m in 0u32..14,
            d in 0u32..33,
            h in 0u32..25,
            mi in 0u32..60,
            s in 0u32..60,
        ) {
            let mon = MONTH_NAMES.get((m as usize).wrapping_sub(1)).copied().unwrap_or("Xyz");
            let clf = format!("{d:02}/{mon}/{y:04}:{h:02}:{mi:02}:{s:02} +0000");
            let php = format!("{d:02}-{mon}-{y:04} {h:02}:{mi:02}:{s:02}");
            let iso = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
            let valid = oracle_valid(y, m, d) && h < 24;
            let got = [
                parse_clf(clf.as_bytes()),
                parse_php(php.as_bytes()),
                parse_rfc3339(iso.as_bytes()),
            ];
            for ns in got {
                proptest::prop_assert_eq!(ns.is_some(), valid, "{} {} {}", clf, php, iso);
                if let Some(ns) = ns {
                    let secs = ns.div_euclid(NS_PER_SEC);
                    let days = secs.div_euclid(86_400);
                    proptest::prop_assert_eq!(civil_from_days(days), (i64::from(y), m, d));
                    proptest::prop_assert_eq!(days_from_civil(i64::from(y), m, d), days);
                    proptest::prop_assert_eq!(
                        secs.rem_euclid(86_400),
                        i64::from(h * 3600 + mi * 60 + s)
                    );
                }
            }
        }
    }

    proptest::proptest! {
        /// Any zone text: an error, or a time within a day of the clock
        /// reading (real offsets span -12:00 to +14:00); never a panic.
        #[test]
        fn any_zone_name(zone in "[A-Za-z0-9_/+:-]{0,60}", secs in 0i64..86_400) {
            let naive = T + secs;
            let (y, m, d) = civil_from_days(naive.div_euclid(86_400));
            let sod = naive.rem_euclid(86_400);
            let mon = MONTH_NAMES[m as usize - 1];
            let line = format!(
                "{d:02}-{mon}-{y:04} {:02}:{:02}:{:02} {zone}",
                sod / 3600,
                sod / 60 % 60,
                sod % 60
            );
            if let Ok(ns) = parse_php_zoned(line.as_bytes()) {
                proptest::prop_assert!((ns / NS_PER_SEC - naive).abs() <= 26 * 3600, "{}", line);
            }
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

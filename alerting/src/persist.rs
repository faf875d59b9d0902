//! The count store on disk, so a period's worth of budget survives
//! restarts: one file, written atomically (a temporary file, `sync_all`,
//! rename over the old one, sync the directory), only the buckets that
//! hold something.
//!
//! Format `SPSLO1`, little-endian: magic (8 bytes), hours per series
//! (u32), series count (u32), then per series: site (u16 length + bytes),
//! SLI key (u16 length + bytes), last minute (i64), last hour (i64),
//! non-empty minute buckets (u32) each `(index u32, total u64, bad u64)`,
//! non-empty hour buckets likewise; a CRC32 of everything before it.

use std::fs;
use std::path::Path;

use crate::error::StoreError;
use crate::spec::Sli;
use crate::store::{Counts, MINUTES, Series, Store};

const MAGIC: &[u8; 8] = b"SPSLO1\n\0";

/// Writes `store` to `path` atomically.
///
/// # Errors
/// The I/O error, with the path.
pub fn save(store: &Store, path: &Path) -> Result<(), StoreError> {
    let mut buf = Vec::with_capacity(64 + store.len() * 256);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&(store.hours as u32).to_le_bytes());
    buf.extend_from_slice(&(store.len() as u32).to_le_bytes());
    let mut all: Vec<(&str, Sli, &Series)> = store.iter().collect();
    all.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for (site, sli, s) in all {
        put_str(&mut buf, site);
        put_str(&mut buf, &sli.key());
        buf.extend_from_slice(&s.last_minute.to_le_bytes());
        buf.extend_from_slice(&s.last_hour.to_le_bytes());
        for ring in [&s.minutes, &s.hours] {
            let used: Vec<(usize, &Counts)> = ring
                .iter()
                .enumerate()
                .filter(|(_, c)| c.total > 0 || c.bad > 0)
                .collect();
            buf.extend_from_slice(&(used.len() as u32).to_le_bytes());
            for (i, c) in used {
                buf.extend_from_slice(&(i as u32).to_le_bytes());
                buf.extend_from_slice(&c.total.to_le_bytes());
                buf.extend_from_slice(&c.bad.to_le_bytes());
            }
        }
    }
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());

    crate::alert::write_atomically(path, &buf).map_err(|error| StoreError::Io {
        path: path.to_owned(),
        error,
    })
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    buf.extend_from_slice(&(b.len() as u16).to_le_bytes());
    buf.extend_from_slice(b);
}

/// Reads a store written by [`save`] into one keeping `hours` hour
/// buckets (a longer or shorter period than before keeps what fits).
/// `Ok(None)` when there is no file.
///
/// # Errors
/// An I/O error, or a file that is not whole (bad magic, CRC, length):
/// the caller sets it aside and starts empty.
pub fn load(path: &Path, hours: usize) -> Result<Option<Store>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(StoreError::Io {
                path: path.to_owned(),
                error,
            });
        }
    };
    let corrupt = |reason: &str| StoreError::Corrupt {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if bytes.len() < MAGIC.len() + 12 || &bytes[..8] != MAGIC {
        return Err(corrupt("not a sitepulse SLO count file (SPSLO1)"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(corrupt("checksum mismatch: the file is damaged"));
    }
    let mut r = Reader { b: body, at: 8 };
    let short = || corrupt("truncated");
    let file_hours = r.u32().ok_or_else(short)? as usize;
    let n = r.u32().ok_or_else(short)?;
    let mut store = Store {
        hours,
        series: Default::default(),
    };
    for _ in 0..n {
        let site = r.str().ok_or_else(short)?;
        let key = r.str().ok_or_else(short)?;
        let last_minute = r.i64().ok_or_else(short)?;
        let last_hour = r.i64().ok_or_else(short)?;
        let mut s = Series {
            last_minute,
            minutes: vec![Counts::default(); MINUTES],
            last_hour,
            hours: vec![Counts::default(); hours],
        };
        for (ring, len, last) in [(0, MINUTES, last_minute), (1, file_hours, last_hour)] {
            let used = r.u32().ok_or_else(short)?;
            for _ in 0..used {
                let i = r.u32().ok_or_else(short)? as usize;
                let c = Counts {
                    total: r.u64().ok_or_else(short)?,
                    bad: r.u64().ok_or_else(short)?,
                };
                if i >= len || len == 0 {
                    return Err(corrupt("bucket index out of range"));
                }
                if ring == 0 {
                    s.minutes[i] = c;
                } else {
                    // The bucket's hour, from its index in the old ring,
                    // placed in the new ring when it still fits.
                    let back = (last.rem_euclid(len as i64) - i as i64).rem_euclid(len as i64);
                    let hour = last - back;
                    if back < hours as i64 {
                        s.hours[hour.rem_euclid(hours as i64) as usize] = c;
                    }
                }
            }
        }
        let Some(sli) = Sli::from_key(&key) else {
            // An SLI this version does not know (written by a newer one):
            // skipped, not an error.
            continue;
        };
        store.insert(site, sli, s);
    }
    if r.at != body.len() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(Some(store))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().ok()?) as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Span;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sitepulse-slo-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn sample() -> Store {
        let mut st = Store::new(Span(30 * 86_400));
        let t = 1_800_000_000;
        for i in 0..2000 {
            st.add(
                "site-a",
                Sli::Availability { with_499: false },
                t + i * 97,
                Counts {
                    total: 10 + i as u64,
                    bad: (i % 3) as u64,
                },
            );
            st.add(
                "site-b",
                Sli::Latency { threshold_ms: 500 },
                t + i * 31,
                Counts { total: 3, bad: 1 },
            );
        }
        st
    }

    #[test]
    fn round_trips() {
        let d = dir("rt");
        let p = d.join("slo-counts");
        assert!(load(&p, 721).unwrap().is_none());
        let st = sample();
        save(&st, &p).unwrap();
        assert_eq!(load(&p, st.hours()).unwrap().unwrap(), st);
        // A shorter period keeps the newest hours, with the same windows.
        let short = load(&p, 25).unwrap().unwrap();
        let now = 1_800_000_000 + 2000 * 97;
        for (site, sli, a) in st.iter() {
            let b = short.series(site, sli).unwrap();
            let key = (site, sli);
            assert_eq!(
                a.window(now, Span(86_400)),
                b.window(now, Span(86_400)),
                "{key:?}"
            );
            assert_eq!(a.window(now, Span(3600)), b.window(now, Span(3600)));
        }
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn damage_is_reported_never_a_panic() {
        let d = dir("bad");
        let p = d.join("slo-counts");
        save(&sample(), &p).unwrap();
        let good = fs::read(&p).unwrap();
        for cut in [0, 5, 20, good.len() / 2, good.len() - 1] {
            fs::write(&p, &good[..cut]).unwrap();
            assert!(
                matches!(load(&p, 721), Err(StoreError::Corrupt { .. })),
                "cut at {cut}"
            );
        }
        let mut flipped = good.clone();
        flipped[good.len() / 3] ^= 0x40;
        fs::write(&p, &flipped).unwrap();
        let e = load(&p, 721).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        let _ = fs::remove_dir_all(&d);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_load_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let d = std::env::temp_dir().join(format!("sitepulse-slo-prop-{}", std::process::id()));
            let _ = fs::create_dir_all(&d);
            let p = d.join("f");
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&bytes);
            let crc = crc32fast::hash(&b);
            b.extend_from_slice(&crc.to_le_bytes());
            fs::write(&p, &b).unwrap();
            let _ = load(&p, 30);
        }
    }
}

//! Per-site good/bad request counts in coarse buckets, enough to answer
//! every burn-rate window and the whole period: one-minute buckets for
//! the last six hours, one-hour buckets for the longest period in use.
//! A series (one site, one way of counting, [`Sli`]) is allocated when its
//! site first has a request, so idle sites cost nothing.
//!
//! A window of N minutes is the current minute and the N−1 before it; a
//! window over six hours is the current hour and the whole hours before
//! it. Counts are placed by the time they are given (the pipeline's
//! clock: event time in a replay); counts older than a bucket still kept
//! land in it, older ones only in what is still kept.

use std::collections::{BTreeMap, HashMap};

use crate::burn::MINUTE_WINDOWS_UP_TO_SECS;
use crate::spec::{Sli, Span};

/// Minute buckets kept.
pub const MINUTES: usize = (MINUTE_WINDOWS_UP_TO_SECS / 60) as usize;

/// Requests and the bad ones among them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests counted by the SLI.
    pub total: u64,
    /// Those that were not good.
    pub bad: u64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.total = self.total.saturating_add(o.total);
        self.bad = self.bad.saturating_add(o.bad);
    }
}

/// One site's counts for one SLI.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The newest minute written (Unix minutes).
    pub(crate) last_minute: i64,
    /// Ring by minute: index `minute % MINUTES`.
    pub(crate) minutes: Vec<Counts>,
    /// The newest hour written (Unix hours).
    pub(crate) last_hour: i64,
    /// Ring by hour: index `hour % hours.len()`.
    pub(crate) hours: Vec<Counts>,
}

impl Series {
    fn new(hours: usize, at_unix: i64) -> Series {
        Series {
            last_minute: at_unix.div_euclid(60),
            minutes: vec![Counts::default(); MINUTES],
            last_hour: at_unix.div_euclid(3600),
            hours: vec![Counts::default(); hours],
        }
    }

    /// Adds counts at `at_unix`.
    pub fn add(&mut self, at_unix: i64, c: Counts) {
        let m = at_unix.div_euclid(60);
        advance(&mut self.minutes, &mut self.last_minute, m);
        if m > self.last_minute - MINUTES as i64 {
            self.minutes[ring(m, MINUTES)].add(c);
        }
        let h = at_unix.div_euclid(3600);
        let n = self.hours.len();
        advance(&mut self.hours, &mut self.last_hour, h);
        if h > self.last_hour - n as i64 {
            self.hours[ring(h, n)].add(c);
        }
    }

    /// Adds a whole hour's counts (`hour_start` a multiple of 3600) to the
    /// hour buckets only: what a rebuild from Prometheus knows. The minute
    /// buckets (windows up to 6 h) are left to live counts.
    pub fn add_hour(&mut self, hour_start: i64, c: Counts) {
        let h = hour_start.div_euclid(3600);
        let n = self.hours.len();
        advance(&mut self.hours, &mut self.last_hour, h);
        if h > self.last_hour - n as i64 {
            self.hours[ring(h, n)].add(c);
        }
    }

    /// The counts of the window of `w` ending at `now_unix`.
    pub fn window(&self, now_unix: i64, w: Span) -> Counts {
        let mut sum = Counts::default();
        if w.secs() <= MINUTE_WINDOWS_UP_TO_SECS {
            let now = now_unix.div_euclid(60);
            let n = (w.secs() / 60).max(1) as i64;
            for m in (now - n + 1)..=now.min(self.last_minute) {
                if m > self.last_minute - MINUTES as i64 {
                    sum.add(self.minutes[ring(m, MINUTES)]);
                }
            }
        } else {
            let now = now_unix.div_euclid(3600);
            let n = w.secs().div_ceil(3600) as i64;
            let len = self.hours.len() as i64;
            for h in (now - n + 1)..=now.min(self.last_hour) {
                if h > self.last_hour - len {
                    sum.add(self.hours[ring(h, len as usize)]);
                }
            }
        }
        sum
    }

    /// The counts of several windows ending at `now_unix` in one pass per
    /// resolution (prefix sums from now backwards), in `spans`' order.
    ///
    /// # Performance
    /// At most 360 minute and `hours.len()` hour buckets read, however
    /// many windows: what evaluating every site each second costs.
    pub fn windows(&self, now_unix: i64, spans: &[Span]) -> Vec<Counts> {
        let mut out = vec![Counts::default(); spans.len()];
        let mut by_res = |minute: bool| {
            let (unit, len, last, ring_buf) = if minute {
                (60, MINUTES, self.last_minute, &self.minutes)
            } else {
                (3600, self.hours.len(), self.last_hour, &self.hours)
            };
            // (buckets, index in spans), shortest first.
            let mut want: Vec<(i64, usize)> = spans
                .iter()
                .enumerate()
                .filter(|(_, w)| (w.secs() <= MINUTE_WINDOWS_UP_TO_SECS) == minute)
                .map(|(i, w)| (w.secs().div_ceil(unit as u64).max(1) as i64, i))
                .collect();
            want.sort_unstable();
            let Some(&(longest, _)) = want.last() else {
                return;
            };
            let now = now_unix.div_euclid(unit);
            let mut acc = Counts::default();
            let mut next = 0;
            for k in 0..longest {
                let b = now - k;
                if b <= last && b > last - len as i64 {
                    acc.add(ring_buf[ring(b, len)]);
                }
                while next < want.len() && want[next].0 == k + 1 {
                    out[want[next].1] = acc;
                    next += 1;
                }
            }
        };
        by_res(true);
        by_res(false);
        out
    }

    /// Whether every bucket is empty.
    pub fn is_empty(&self) -> bool {
        self.minutes.iter().chain(&self.hours).all(|c| c.total == 0)
    }
}

fn ring(i: i64, len: usize) -> usize {
    i.rem_euclid(len as i64) as usize
}

/// Moves a ring's newest index to `to`, clearing the buckets it passes.
fn advance(buf: &mut [Counts], last: &mut i64, to: i64) {
    if to <= *last {
        return;
    }
    let len = buf.len() as i64;
    if to - *last >= len {
        buf.fill(Counts::default());
    } else {
        for i in (*last + 1)..=to {
            buf[ring(i, len as usize)] = Counts::default();
        }
    }
    *last = to;
}

/// Every site's series.
#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    /// Hour buckets per series: the longest period plus the current hour.
    pub(crate) hours: usize,
    /// By site (looked up by `&str`, no allocation), then by SLI.
    pub(crate) series: HashMap<String, BTreeMap<Sli, Series>>,
}

impl Store {
    /// A store keeping enough hours for `longest` (a period or window).
    pub fn new(longest: Span) -> Store {
        Store {
            hours: (longest.secs().div_ceil(3600) + 1) as usize,
            series: HashMap::new(),
        }
    }

    /// Hour buckets each series keeps.
    pub fn hours(&self) -> usize {
        self.hours
    }

    /// Adds `c` to a site's series at `at_unix`.
    pub fn add(&mut self, site: &str, sli: Sli, at_unix: i64, c: Counts) {
        if c.total == 0 && c.bad == 0 {
            return;
        }
        let hours = self.hours;
        self.site_mut(site)
            .entry(sli)
            .or_insert_with(|| Series::new(hours, at_unix))
            .add(at_unix, c);
    }

    fn site_mut(&mut self, site: &str) -> &mut BTreeMap<Sli, Series> {
        if !self.series.contains_key(site) {
            self.series.insert(site.to_owned(), BTreeMap::new());
        }
        self.series.get_mut(site).expect("inserted above")
    }

    /// Adds a whole hour's counts to a site's hour buckets (see
    /// [`Series::add_hour`]).
    pub fn add_hour(&mut self, site: &str, sli: Sli, hour_start: i64, c: Counts) {
        if c.total == 0 && c.bad == 0 {
            return;
        }
        let hours = self.hours;
        self.site_mut(site)
            .entry(sli)
            .or_insert_with(|| Series::new(hours, hour_start))
            .add_hour(hour_start, c);
    }

    /// Puts a whole series (read from disk).
    pub(crate) fn insert(&mut self, site: String, sli: Sli, s: Series) {
        self.series.entry(site).or_default().insert(sli, s);
    }

    /// A site's series, if it ever had a request.
    pub fn series(&self, site: &str, sli: Sli) -> Option<&Series> {
        self.series.get(site)?.get(&sli)
    }

    /// Whether the site has any series.
    pub fn has_site(&self, site: &str) -> bool {
        self.series.contains_key(site)
    }

    /// Every series with its site and SLI, sites in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Sli, &Series)> {
        self.series
            .iter()
            .flat_map(|(site, m)| m.iter().map(move |(sli, s)| (site.as_str(), *sli, s)))
    }

    /// Series kept.
    pub fn len(&self) -> usize {
        self.series.values().map(BTreeMap::len).sum()
    }

    /// Whether no series is kept.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Drops series with nothing left in any bucket as of `now_unix`.
    pub fn prune(&mut self, now_unix: i64) {
        for m in self.series.values_mut() {
            for s in m.values_mut() {
                advance(&mut s.minutes, &mut s.last_minute, now_unix.div_euclid(60));
                advance(&mut s.hours, &mut s.last_hour, now_unix.div_euclid(3600));
            }
            m.retain(|_, s| !s.is_empty());
        }
        self.series.retain(|_, m| !m.is_empty());
    }

    /// Bytes the buckets take (for `/metrics`).
    pub fn bytes(&self) -> usize {
        self.len() * (MINUTES + self.hours) * std::mem::size_of::<Counts>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Sli = Sli::Availability { with_499: false };

    fn c(total: u64, bad: u64) -> Counts {
        Counts { total, bad }
    }

    #[test]
    fn windows_sum_the_buckets_they_cover() {
        let mut st = Store::new(Span(30 * 86_400));
        let t0 = 1_800_000_000 - 1_800_000_000 % 86_400;
        // One request a second for 3 days, one bad a minute.
        for s in (0..3 * 86_400).step_by(60) {
            st.add("a", A, t0 + s, c(60, 1));
        }
        let now = t0 + 3 * 86_400 - 1;
        let s = st.series("a", A).unwrap();
        assert_eq!(s.window(now, Span(300)), c(300, 5));
        assert_eq!(s.window(now, Span(3600)), c(3600, 60));
        assert_eq!(s.window(now, Span(6 * 3600)), c(6 * 3600, 360));
        assert_eq!(s.window(now, Span(86_400)), c(86_400, 1440));
        assert_eq!(s.window(now, Span(3 * 86_400)), c(3 * 86_400, 3 * 1440));
        assert_eq!(s.window(now, Span(30 * 86_400)), c(3 * 86_400, 3 * 1440));
        // An hour later with no traffic the 5m window is empty, the 1d
        // window has lost an hour.
        let later = now + 3600;
        assert_eq!(s.window(later, Span(300)), c(0, 0));
        assert_eq!(s.window(later, Span(86_400)), c(82_800, 1380));
    }

    #[test]
    fn late_counts_land_in_their_bucket_and_old_ones_are_cleared() {
        let mut st = Store::new(Span(86_400));
        let t = 1_800_000_000;
        st.add("a", A, t, c(10, 1));
        st.add("a", A, t - 120, c(5, 5));
        let s = st.series("a", A).unwrap();
        assert_eq!(s.window(t, Span(60)), c(10, 1));
        assert_eq!(s.window(t, Span(300)), c(15, 6));
        // 2 days later everything is gone.
        st.add("a", A, t + 2 * 86_400, c(1, 0));
        let s = st.series("a", A).unwrap();
        assert_eq!(s.window(t + 2 * 86_400, Span(86_400)), c(1, 0));
        st.prune(t + 4 * 86_400);
        assert!(st.is_empty());
    }

    proptest::proptest! {
        /// Against a model that keeps every count with its time.
        #[test]
        fn matches_a_model(adds in proptest::collection::vec((0i64..200_000, 0u64..50, 0u64..5), 1..200), probe in 0i64..200_000) {
            let base = 1_800_000_000i64; // a whole hour
            let mut st = Store::new(Span(86_400));
            let mut model: Vec<(i64, Counts)> = Vec::new();
            let mut newest = i64::MIN;
            for &(dt, total, bad) in &adds {
                let bad = bad.min(total);
                st.add("s", A, base + dt, c(total, bad));
                if total > 0 || bad > 0 {
                    model.push((base + dt, c(total, bad)));
                    newest = newest.max(base + dt);
                }
            }
            let Some(s) = st.series("s", A) else { return Ok(()); };
            let now = (base + probe).max(newest);
            for w in [Span(300), Span(3600), Span(6 * 3600), Span(86_400)] {
                let got = s.window(now, w);
                let minute = w.secs() <= MINUTE_WINDOWS_UP_TO_SECS;
                let unit = if minute { 60 } else { 3600 };
                let keep = if minute { MINUTES as i64 } else { st.hours() as i64 };
                let n = w.secs().div_ceil(unit as u64) as i64;
                let now_b = now.div_euclid(unit);
                // What a model says survives: counts in the window whose
                // bucket had not fallen out of the ring when they came.
                let mut last = i64::MIN;
                let mut want = Counts::default();
                let mut kept: Vec<(i64, Counts)> = Vec::new();
                for &(t, cc) in &model {
                    let b = t.div_euclid(unit);
                    last = last.max(b);
                    kept.retain(|(kb, _)| *kb > last - keep);
                    if b > last - keep {
                        kept.push((b, cc));
                    }
                }
                for (b, cc) in kept {
                    if b > now_b - n && b <= now_b {
                        want.add(cc);
                    }
                }
                proptest::prop_assert_eq!(got, want, "window {}", w);
                proptest::prop_assert_eq!(s.windows(now, &[w])[0], want);
            }
        }
    }
}

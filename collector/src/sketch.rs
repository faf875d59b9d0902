//! A latency sketch with bounded relative error: log-linear buckets over
//! microseconds (64 linear sub-buckets per power of two, like HdrHistogram
//! with two significant digits), so any reported quantile is within 0.8% of
//! a true sample value. Buckets are counted, so sketches merge by adding and
//! windows expire by dropping slots.
//!
//! Two storages share the bucket layout: [`DenseSketch`] (a fixed array, for
//! cumulative totals and query-time merging) and [`SparseSketch`] (sorted
//! packed `bucket << 21 | count` words, for the many small per-slot sketches
//! of the rolling windows).

/// Linear sub-buckets per power of two (2^6 = 64): relative bucket width
/// ≤ 1/64, so the bucket midpoint is within 1/128 ≈ 0.78% of any value in it.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Largest tracked value in µs (u32::MAX µs ≈ 71.6 minutes); larger values
/// land in the last bucket.
const MAX_US: u64 = u32::MAX as u64;
/// Number of buckets: values 0..128 exactly, then 64 per power of two up to 2^32.
pub const BUCKETS: usize = ((32 - SUB_BITS as usize) + 1) * SUB as usize;

/// Bucket index of a value in microseconds.
///
/// # Performance
/// A leading-zero count and two shifts; no floating point.
#[inline]
pub fn bucket_of(us: u64) -> usize {
    let v = us.min(MAX_US);
    if v < 2 * SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // position of the top bit, ≥ 7
    let shift = e - SUB_BITS;
    let sub = (v >> shift) - SUB; // 0..64
    ((e - SUB_BITS + 1) as usize) * SUB as usize + sub as usize
}

/// The lower bound (inclusive) and width of a bucket, in µs.
#[inline]
fn bucket_bounds(idx: usize) -> (u64, u64) {
    let idx = idx as u64;
    if idx < 2 * SUB {
        return (idx, 1);
    }
    let group = idx / SUB; // ≥ 2
    let sub = idx % SUB;
    let shift = group - 1;
    ((SUB + sub) << shift, 1 << shift)
}

/// The representative value of a bucket (its midpoint), in µs.
#[inline]
pub fn bucket_value_us(idx: usize) -> f64 {
    let (lo, width) = bucket_bounds(idx);
    if width == 1 {
        lo as f64
    } else {
        lo as f64 + (width as f64 - 1.0) / 2.0
    }
}

/// A fixed array of bucket counts.
#[derive(Clone)]
pub struct DenseSketch {
    counts: Box<[u32; BUCKETS]>,
    total: u64,
}

impl Default for DenseSketch {
    fn default() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            total: 0,
        }
    }
}

impl std::fmt::Debug for DenseSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenseSketch")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl DenseSketch {
    /// Adds one value (µs). Counts saturate at `u32::MAX` per bucket.
    #[inline]
    pub fn add_us(&mut self, us: u64) {
        let c = &mut self.counts[bucket_of(us)];
        *c = c.saturating_add(1);
        self.total += 1;
    }

    /// Adds `n` to bucket `idx` (out-of-range indices are ignored).
    #[inline]
    pub fn add_bucket(&mut self, idx: usize, n: u32) {
        if let Some(c) = self.counts.get_mut(idx) {
            *c = c.saturating_add(n);
            self.total += u64::from(n);
        }
    }

    /// Adds every count of a sparse sketch.
    pub fn merge_sparse(&mut self, other: &SparseSketch) {
        for (idx, n) in other.iter() {
            self.add_bucket(idx, n);
        }
    }

    /// Number of values added.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Resets to empty, keeping the allocation.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
    }

    /// Non-empty buckets in ascending order, as (bucket index, count).
    pub fn iter(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (i, *c))
    }

    /// The `q`-quantile (0.0..=1.0) in µs, `None` when empty. Nearest-rank:
    /// the value of the bucket holding the ⌈q·n⌉-th smallest sample.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(bucket_value_us(i));
            }
        }
        None
    }
}

const COUNT_BITS: u32 = 21;
const COUNT_MAX: u32 = (1 << COUNT_BITS) - 1;

/// A small sorted sketch: one `u32` per non-empty bucket (`bucket << 21 |
/// count`). Counts saturate at 2^21 − 1 per bucket (2M samples of one
/// bucket in one slot). `clear` keeps capacity, so a reused slot does not
/// allocate once warm.
#[derive(Debug, Clone, Default)]
pub struct SparseSketch {
    words: Vec<u32>,
}

impl SparseSketch {
    /// Adds one value (µs).
    ///
    /// # Performance
    /// A binary search over the non-empty buckets; an insert (memmove) only
    /// the first time a bucket is hit in this slot.
    #[inline]
    pub fn add_us(&mut self, us: u64) {
        let idx = bucket_of(us) as u32;
        match self.words.binary_search_by_key(&idx, |w| w >> COUNT_BITS) {
            Ok(pos) => {
                let w = &mut self.words[pos];
                if *w & COUNT_MAX != COUNT_MAX {
                    *w += 1;
                }
            }
            Err(pos) => self.words.insert(pos, (idx << COUNT_BITS) | 1),
        }
    }

    /// Non-empty buckets in ascending order, as (bucket index, count).
    pub fn iter(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.words
            .iter()
            .map(|w| ((w >> COUNT_BITS) as usize, w & COUNT_MAX))
    }

    /// Whether no value was added since the last clear.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Resets to empty, keeping the allocation.
    pub fn clear(&mut self) {
        self.words.clear();
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout() {
        assert_eq!(BUCKETS, 1728);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(127), 127);
        assert_eq!(bucket_of(128), 128);
        assert_eq!(bucket_of(129), 128);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        let mut prev = 0;
        for v in (0..5_000_000u64).step_by(7) {
            let b = bucket_of(v);
            assert!(b >= prev);
            prev = b;
            let (lo, w) = bucket_bounds(b);
            assert!(
                lo <= v && v < lo + w,
                "{v} not in bucket {b} = [{lo}, {})",
                lo + w
            );
        }
    }

    proptest! {
        #[test]
        fn relative_error_within_one_percent(v in 1u64..u32::MAX as u64) {
            let est = bucket_value_us(bucket_of(v));
            let err = (est - v as f64).abs() / v as f64;
            prop_assert!(err <= 0.008, "v={v} est={est} err={err}");
        }

        #[test]
        fn quantiles_match_exact_within_one_percent(
            mut vals in proptest::collection::vec(1u64..100_000_000, 1..2000),
            q in 0.01f64..1.0,
        ) {
            let mut dense = DenseSketch::default();
            let mut sparse = SparseSketch::default();
            for &v in &vals {
                dense.add_us(v);
                sparse.add_us(v);
            }
            let mut merged = DenseSketch::default();
            merged.merge_sparse(&sparse);
            vals.sort_unstable();
            let rank = ((q * vals.len() as f64).ceil() as usize).max(1);
            let exact = vals[rank - 1] as f64;
            let est = dense.quantile_us(q).unwrap();
            prop_assert!((est - exact).abs() / exact <= 0.01, "q={q} exact={exact} est={est}");
            prop_assert_eq!(merged.quantile_us(q), dense.quantile_us(q));
        }
    }

    #[test]
    fn sparse_clear_keeps_capacity() {
        let mut s = SparseSketch::default();
        for v in 0..1000 {
            s.add_us(v * 37);
        }
        let cap = s.heap_bytes();
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.heap_bytes(), cap);
    }
}

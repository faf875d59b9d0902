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
/// bucket in one slot).
///
/// Stored as a boxed slice whose unused tail is zero (a real word always
/// has a count ≥ 1, so the length is the partition point of non-zero
/// words): 16 bytes inline instead of a `Vec`'s 24, which matters at 360
/// slots × 500 sites. `clear` keeps the allocation, so a reused slot does
/// not allocate once warm.
#[derive(Debug, Clone, Default)]
pub struct SparseSketch {
    words: Box<[u32]>,
}

impl SparseSketch {
    #[inline]
    fn len(&self) -> usize {
        self.words.partition_point(|w| *w != 0)
    }

    /// Adds one value (µs).
    ///
    /// # Performance
    /// Two binary searches over the non-empty buckets; a shift only the
    /// first time a bucket is hit in this slot, and an allocation only when
    /// the slot needs more buckets than it ever held.
    #[inline]
    pub fn add_us(&mut self, us: u64) {
        let idx = bucket_of(us) as u32;
        let len = self.len();
        match self.words[..len].binary_search_by_key(&idx, |w| w >> COUNT_BITS) {
            Ok(pos) => {
                let w = &mut self.words[pos];
                if *w & COUNT_MAX != COUNT_MAX {
                    *w += 1;
                }
            }
            Err(pos) => {
                if len == self.words.len() {
                    self.grow();
                }
                self.words.copy_within(pos..len, pos + 1);
                self.words[pos] = (idx << COUNT_BITS) | 1;
            }
        }
    }

    #[cold]
    fn grow(&mut self) {
        let cap = (self.words.len() * 2).clamp(4, BUCKETS);
        let mut words = vec![0u32; cap].into_boxed_slice();
        words[..self.words.len()].copy_from_slice(&self.words);
        self.words = words;
    }

    /// Non-empty buckets in ascending order, as (bucket index, count).
    pub fn iter(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.words[..self.len()]
            .iter()
            .map(|w| ((w >> COUNT_BITS) as usize, w & COUNT_MAX))
    }

    /// Whether no value was added since the last clear.
    pub fn is_empty(&self) -> bool {
        self.words.first().is_none_or(|w| *w == 0)
    }

    /// Resets to empty, keeping the allocation.
    pub fn clear(&mut self) {
        let len = self.len();
        self.words[..len].fill(0);
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 4
    }
}

const TOTAL_COUNT_BITS: u32 = 40;
const TOTAL_COUNT_MASK: u64 = (1 << TOTAL_COUNT_BITS) - 1;
/// Non-empty buckets at which a [`TotalSketch`] switches to dense storage:
/// the sparse words then take half the dense array's bytes.
const DENSE_AT: usize = BUCKETS / 4;

/// A cumulative sketch that starts sparse (`bucket << 40 | count` words)
/// and turns dense once it holds a quarter of all buckets, so the long tail
/// of quiet sites costs a few hundred bytes each and busy sites get O(1)
/// increments.
#[derive(Debug, Clone)]
pub enum TotalSketch {
    /// Sorted packed words.
    Sparse(Vec<u64>),
    /// A full bucket array.
    Dense(DenseSketch),
}

impl Default for TotalSketch {
    fn default() -> Self {
        TotalSketch::Sparse(Vec::new())
    }
}

impl TotalSketch {
    /// Adds one value (µs).
    #[inline]
    pub fn add_us(&mut self, us: u64) {
        match self {
            TotalSketch::Dense(d) => d.add_us(us),
            TotalSketch::Sparse(words) => {
                let idx = bucket_of(us) as u64;
                match words.binary_search_by_key(&idx, |w| w >> TOTAL_COUNT_BITS) {
                    Ok(pos) => {
                        if words[pos] & TOTAL_COUNT_MASK != TOTAL_COUNT_MASK {
                            words[pos] += 1;
                        }
                    }
                    Err(pos) => {
                        words.insert(pos, (idx << TOTAL_COUNT_BITS) | 1);
                        if words.len() > DENSE_AT {
                            self.densify();
                        }
                    }
                }
            }
        }
    }

    #[cold]
    fn densify(&mut self) {
        let mut d = DenseSketch::default();
        for (idx, n) in self.iter() {
            d.counts[idx] = u32::try_from(n).unwrap_or(u32::MAX);
            d.total += n;
        }
        *self = TotalSketch::Dense(d);
    }

    /// Non-empty buckets in ascending order, as (bucket index, count).
    pub fn iter(&self) -> Box<dyn Iterator<Item = (usize, u64)> + '_> {
        match self {
            TotalSketch::Dense(d) => Box::new(d.iter().map(|(i, c)| (i, u64::from(c)))),
            TotalSketch::Sparse(w) => Box::new(
                w.iter()
                    .map(|w| ((w >> TOTAL_COUNT_BITS) as usize, w & TOTAL_COUNT_MASK)),
            ),
        }
    }

    /// Number of values added.
    pub fn count(&self) -> u64 {
        match self {
            TotalSketch::Dense(d) => d.count(),
            TotalSketch::Sparse(w) => w.iter().map(|w| w & TOTAL_COUNT_MASK).sum(),
        }
    }

    /// The `q`-quantile in µs (nearest rank), `None` when empty.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (idx, n) in self.iter() {
            seen += n;
            if seen >= rank {
                return Some(bucket_value_us(idx));
            }
        }
        None
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        match self {
            TotalSketch::Dense(_) => BUCKETS * 4,
            TotalSketch::Sparse(w) => w.capacity() * 8,
        }
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
            mut vals in proptest::collection::vec(0u64..100_000_000, 1..2000),
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

    proptest! {
        #[test]
        fn total_sketch_matches_dense(vals in proptest::collection::vec(0u64..10_000_000_000, 0..3000)) {
            let mut dense = DenseSketch::default();
            let mut total = TotalSketch::default();
            for &v in &vals {
                dense.add_us(v);
                total.add_us(v);
            }
            prop_assert_eq!(total.count(), dense.count());
            for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
                prop_assert_eq!(total.quantile_us(q), dense.quantile_us(q));
            }
            let sparse = matches!(total, TotalSketch::Sparse(_));
            prop_assert_eq!(sparse, dense.iter().count() <= DENSE_AT);
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

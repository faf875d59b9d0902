//! Property checks every parser's tests share: no panic on any bytes, on
//! every truncation of a valid line, or on valid lines with random bytes
//! flipped and cut.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

/// Runs `check` (which calls the parser and ignores the result) on every
/// prefix and suffix of each sample, on arbitrary bytes, and on samples
/// with up to five bytes replaced and a random cut. A panic fails the
/// calling test, with proptest's shrunk input in the message.
///
/// # Panics
/// When `check` panics on some input (that is the point), or when
/// `samples` is empty.
pub(crate) fn never_panics(check: impl Fn(&[u8]), samples: &[&[u8]]) {
    assert!(!samples.is_empty(), "give at least one valid sample");
    for s in samples {
        for i in 0..=s.len() {
            check(&s[..i]);
            check(&s[i..]);
        }
    }
    let mut runner = TestRunner::new(Config::default());
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..300), |bytes| {
            check(&bytes);
            Ok(())
        })
        .unwrap();
    let mutations = (
        any::<Index>(),
        proptest::collection::vec((any::<Index>(), any::<u8>()), 1..6),
        any::<Index>(),
    );
    runner
        .run(&mutations, |(which, flips, cut)| {
            let mut line = which.get(samples).to_vec();
            for (at, b) in flips {
                if !line.is_empty() {
                    let i = at.index(line.len());
                    line[i] = b;
                }
            }
            check(&line);
            check(&line[..cut.index(line.len() + 1)]);
            Ok(())
        })
        .unwrap();
}

use std::path::PathBuf;

use super::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sitepulse-spool-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn cfg(max: u64, seg: u64, when_full: WhenFull) -> SpoolConfig {
    SpoolConfig {
        max_bytes: max,
        segment_bytes: seg,
        when_full,
    }
}

fn drain(s: &mut Spool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(f) = s.peek().unwrap() {
        out.push(f.payload);
        s.ack().unwrap();
    }
    out
}

#[test]
fn frames_leave_in_order_across_segments_and_restarts() {
    let d = dir("order");
    let mut s = Spool::open(&d, cfg(1 << 20, 1000, WhenFull::Block)).unwrap();
    for i in 0..100u32 {
        assert_eq!(
            s.push(format!("frame {i}").as_bytes(), i, 1).unwrap(),
            Pushed::Stored
        );
    }
    assert_eq!(s.frames(), 100);
    // Acknowledge 30, restart without a clean close (the ack file lags by
    // up to ACK_SAVE_EVERY frames), then everything from there comes back.
    for _ in 0..30 {
        s.peek().unwrap().unwrap();
        s.ack().unwrap();
    }
    s.sync().unwrap();
    drop(s);
    let mut s = Spool::open(&d, cfg(1 << 20, 1000, WhenFull::Block)).unwrap();
    let got = drain(&mut s);
    let first: usize = got[0][6..]
        .iter()
        .fold(0, |a, &c| a * 10 + usize::from(c - b'0'));
    assert!(
        first <= 30 && first > 30 - ACK_SAVE_EVERY as usize,
        "resumed at {first}"
    );
    assert_eq!(got.len(), 100 - first);
    for (k, f) in got.iter().enumerate() {
        assert_eq!(f, format!("frame {}", first + k).as_bytes());
    }
    // A clean close re-sends nothing.
    s.push(b"last", 1, 2).unwrap();
    s.close().unwrap();
    drop(s);
    let mut s = Spool::open(&d, cfg(1 << 20, 1000, WhenFull::Block)).unwrap();
    assert_eq!(drain(&mut s), vec![b"last".to_vec()]);
    s.close().unwrap();
    drop(s);
    let s = Spool::open(&d, cfg(1 << 20, 1000, WhenFull::Block)).unwrap();
    assert_eq!(s.frames(), 0);
    assert_eq!(s.bytes(), 0);
    // Finished segments are deleted.
    let segs = fs::read_dir(&d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count();
    assert!(segs <= 1, "{segs} segments left");
}

#[test]
fn a_torn_frame_is_cut() {
    let d = dir("torn");
    let mut s = Spool::open(&d, cfg(1 << 20, 1 << 16, WhenFull::Block)).unwrap();
    s.push(b"one", 1, 1).unwrap();
    s.push(b"two", 1, 1).unwrap();
    s.close().unwrap();
    drop(s);
    let seg = d.join(format!("{:020}.seg", 0));
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    // Half a header, as a crash mid-write leaves it.
    f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
    drop(f);
    let mut s = Spool::open(&d, cfg(1 << 20, 1 << 16, WhenFull::Block)).unwrap();
    s.push(b"three", 1, 1).unwrap();
    assert_eq!(
        drain(&mut s),
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    // A flipped byte fails the CRC: that frame and what follows are cut.
    s.push(b"four", 1, 1).unwrap();
    s.close().unwrap();
    drop(s);
    let len = fs::metadata(&seg).unwrap().len();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, b"X", len - 1).unwrap();
    let mut s = Spool::open(&d, cfg(1 << 20, 1 << 16, WhenFull::Block)).unwrap();
    assert!(drain(&mut s).is_empty());
}

#[test]
fn full_blocks_or_drops_the_oldest() {
    let d = dir("full");
    let frame = vec![7u8; 100_000];
    let mut s = Spool::open(&d, cfg(1 << 20, 1 << 18, WhenFull::Block)).unwrap();
    let mut stored = 0;
    while s.push(&frame, 10, 1).unwrap() == Pushed::Stored {
        stored += 1;
    }
    assert_eq!(stored, 10);
    assert!(s.bytes() <= 1 << 20);
    assert!(!s.has_room(100_000));
    s.peek().unwrap();
    s.ack().unwrap();
    assert_eq!(s.push(&frame, 10, 1).unwrap(), Pushed::Stored);
    assert!(matches!(
        s.push(&vec![0; 2 << 20], 1, 1),
        Err(SpoolError::TooBig { .. })
    ));

    let d = dir("drop");
    let mut s = Spool::open(&d, cfg(1 << 20, 1 << 18, WhenFull::DropOldest)).unwrap();
    for i in 0..25u8 {
        let mut f = frame.clone();
        f[0] = i;
        let p = s.push(&f, 10, 1).unwrap();
        if i < 10 {
            assert_eq!(p, Pushed::Stored);
        } else {
            assert_eq!(
                p,
                Pushed::DroppedOldest {
                    frames: 1,
                    items: 10
                }
            );
        }
    }
    // Dropped frames stay dropped across a restart without a clean close.
    s.sync().unwrap();
    drop(s);
    let mut s = Spool::open(&d, cfg(1 << 20, 1 << 18, WhenFull::DropOldest)).unwrap();
    assert_eq!(s.frames(), 10);
    let got = drain(&mut s);
    assert_eq!(got.len(), 10);
    assert_eq!(
        got.iter().map(|f| f[0]).collect::<Vec<_>>(),
        (15..25).collect::<Vec<u8>>()
    );
}

#[test]
fn sizes_survive_a_restart() {
    let d = dir("sizes");
    let mut s = Spool::open(&d, cfg(1 << 20, 1 << 16, WhenFull::Block)).unwrap();
    for _ in 0..50 {
        s.push(&[1u8; 5000], 3, 42).unwrap();
    }
    let (bytes, frames) = (s.bytes(), s.frames());
    s.close().unwrap();
    drop(s);
    let s = Spool::open(&d, cfg(1 << 20, 1 << 16, WhenFull::Block)).unwrap();
    assert_eq!((s.bytes(), s.frames()), (bytes, frames));
    assert_eq!(s.oldest_unix_ms(), Some(42));
}

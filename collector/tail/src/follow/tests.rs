//! The follower against a real directory: a model of appends, polls and
//! every rotation style (property test), and the counters.

use super::*;
use std::path::PathBuf;

/// logrotate's copytruncate of `path` to `copy`.
pub(crate) fn copytruncate(path: &Path, copy: &Path) {
    std::fs::copy(path, copy).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}
use proptest::prelude::*;
use std::io::Write;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "sitepulse-follow-{}-{name}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Adapts a line callback to follower events.
fn on_line(mut g: impl FnMut(RawLine<'_>)) -> impl FnMut(FollowEvent<'_>) {
    move |e| {
        if let FollowEvent::Line { line, .. } = e {
            g(line);
        }
    }
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    Poll,
    /// logrotate `create`: rename to .1, new empty file at the path.
    RenameCreate,
    /// logrotate `copytruncate` (after a poll: the collector kept up).
    CopyTruncate,
    /// `copytruncate` with lines the follower has not read yet: they
    /// are read from the copy.
    CopyTruncateUnread,
    /// Rename away without a new file yet; it appears with the next append.
    RenameOnly,
    /// Delete the file (its unread lines are gone for everyone).
    Delete,
    /// Give the current file's descriptor back (when it is read to its
    /// end); it is reopened by identity when it changes.
    Park,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..20).prop_map(Op::Append),
        3 => Just(Op::Poll),
        1 => Just(Op::RenameCreate),
        1 => Just(Op::CopyTruncate),
        1 => Just(Op::CopyTruncateUnread),
        1 => Just(Op::RenameOnly),
        1 => Just(Op::Delete),
        2 => Just(Op::Park),
    ]
}

/// A file renamed away or deleted before the follower ever opened it
/// takes its lines along (a path follower cannot know its new name):
/// they leave the expectation. Lines of a file it has open are drained.
fn forget_unopened(f: &Follower, path: &Path, expect: &mut Vec<String>, unread: &[String]) {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return;
    };
    // A parked follower finds its file again by inode alone (see
    // `find_inode`), whatever it holds now.
    let open_here = f
        .current()
        .is_some_and(|id| (id.dev, id.ino) == (m.dev(), m.ino()));
    if !open_here {
        expect.retain(|l| !unread.contains(l));
    }
}

/// Runs the ops against a real directory and a follower; returns the
/// lines that must be seen and the lines that were seen.
fn run_model(ops: &[Op]) -> (Vec<String>, Vec<String>) {
    let d = tmp("model");
    let path = d.join("app.log");
    let mut f = Follower::new(
        &path,
        FollowConfig {
            buffer_bytes: 64,
            ..FollowConfig::default()
        },
    );
    let mut seen = Vec::new();
    let mut expect = Vec::new();
    // Lines that may be read or not (see CopyTruncateUnread).
    let mut maybe: Vec<String> = Vec::new();
    // Lines written but not yet read: lost if the file is deleted.
    let mut unread_in_current: Vec<String> = Vec::new();
    // Whether the follower polled the current generation of the file
    // (since its creation or last truncation) while it had content.
    let mut gen_seen = false;
    let nonempty = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    let mut n = 0u32;
    let poll = |f: &mut Follower, seen: &mut Vec<String>| {
        f.poll(on_line(|l| {
            seen.push(String::from_utf8(l.bytes.to_vec()).unwrap())
        }))
        .unwrap();
    };
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Append(k) => {
                let lines: Vec<String> = (0..*k)
                    .map(|_| {
                        n += 1;
                        format!("line-{n:06}")
                    })
                    .collect();
                append(&path, &lines);
                expect.extend(lines.iter().cloned());
                unread_in_current.extend(lines);
            }
            Op::Poll => {
                poll(&mut f, &mut seen);
                unread_in_current.clear();
                gen_seen |= nonempty(&path);
            }
            Op::RenameCreate => {
                forget_unopened(&f, &path, &mut expect, &unread_in_current);
                unread_in_current.clear();
                gen_seen = false;
                if path.exists() {
                    std::fs::rename(&path, d.join(format!("app.log.{i}"))).unwrap();
                    File::create(&path).unwrap();
                }
            }
            Op::CopyTruncate => {
                poll(&mut f, &mut seen);
                unread_in_current.clear();
                gen_seen = false;
                if path.exists() {
                    copytruncate(&path, &d.join(format!("app.log.{i}")));
                }
            }
            Op::CopyTruncateUnread => {
                // The copy is found by the first bytes the follower saw
                // of this generation of the file; a generation it never
                // saw is only in a copy it cannot recognise.
                if !gen_seen {
                    // A parked follower may still find it (by inode, once
                    // freed and reused): such lines may be read, once.
                    maybe.extend(unread_in_current.iter().cloned());
                    expect.retain(|l| !unread_in_current.contains(l));
                }
                unread_in_current.clear();
                gen_seen = false;
                if path.exists() {
                    copytruncate(&path, &d.join(format!("app.log.{i}")));
                }
            }
            Op::RenameOnly => {
                forget_unopened(&f, &path, &mut expect, &unread_in_current);
                unread_in_current.clear();
                gen_seen = false;
                if path.exists() {
                    std::fs::rename(&path, d.join(format!("app.log.{i}"))).unwrap();
                }
            }
            Op::Park => {
                let _ = f.park();
            }
            Op::Delete => {
                if f.is_parked() {
                    // Not held open: lines written since it was parked go
                    // with it.
                    expect.retain(|l| !unread_in_current.contains(l));
                }
                forget_unopened(&f, &path, &mut expect, &unread_in_current);
                unread_in_current.clear();
                gen_seen = false;
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    for _ in 0..4 {
        poll(&mut f, &mut seen);
    }
    let _ = std::fs::remove_dir_all(&d);
    // Optional lines leave both sides; none may be read twice.
    let mut once = std::collections::HashSet::new();
    assert!(
        seen.iter().all(|l| once.insert(l.clone())),
        "a line read twice: {seen:?}"
    );
    seen.retain(|l| !maybe.contains(l));
    (expect, seen)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Every line written is read exactly once, in order, through any
    /// mix of appends, polls, rename-and-create, copytruncate, rename
    /// without a new file, and deletes.
    #[test]
    fn every_line_once_in_order(ops in proptest::collection::vec(op(), 1..40)) {
        let (expect, seen) = run_model(&ops);
        prop_assert_eq!(seen, expect);
    }
}

#[test]
fn rename_create_drains_the_old_file_first() {
    let ops = [
        Op::Append(3),
        Op::Poll,
        Op::Append(2),
        Op::RenameCreate,
        Op::Append(4),
    ];
    let (expect, seen) = run_model(&ops);
    assert_eq!(seen, expect);
    assert_eq!(seen.len(), 9);
}

#[test]
fn start_at_end_skips_existing_lines() {
    let d = tmp("end");
    let path = d.join("a.log");
    append(&path, &["old".into()]);
    let mut f = Follower::new(&path, FollowConfig::default());
    assert!(f.open(StartAt::End, |_| {}).unwrap());
    append(&path, &["new".into()]);
    let mut seen = Vec::new();
    f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
    assert_eq!(seen, [b"new".to_vec()]);
}

#[test]
fn truncation_and_rotation_are_counted() {
    let d = tmp("count");
    let path = d.join("a.log");
    append(&path, &["one".into(), "two".into()]);
    let mut f = Follower::new(&path, FollowConfig::default());
    f.open(StartAt::Beginning, |_| {}).unwrap();
    f.poll(|_| {}).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, &["three".into()]);
    let mut seen = Vec::new();
    f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
    assert_eq!(seen, [b"three".to_vec()]);
    std::fs::rename(&path, d.join("a.log.1")).unwrap();
    append(&path, &["four".into()]);
    f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
    assert_eq!(f.stats().truncations, 1);
    assert_eq!(f.stats().rotations, 1);
    for _ in 0..4 {
        f.poll(|_| {}).unwrap();
    }
    assert_eq!(f.stats().closed, 1);
}

#[test]
fn a_parked_file_is_reopened_by_identity_when_it_grows_or_moves() {
    let d = tmp("park");
    let path = d.join("a.log");
    append(&path, &["one".into()]);
    let mut f = Follower::new(&path, FollowConfig::default());
    f.open(StartAt::Beginning, |_| {}).unwrap();
    let mut seen = Vec::new();
    f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
    assert!(f.park().is_some(), "read to its end: parked");
    assert_eq!(f.open_count(), 0);
    assert!(!f.wants_unpark(), "nothing changed");
    f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
    assert!(f.is_parked(), "a poll without a change keeps it parked");
    // Grows: reopened, read from where it stopped, same stream.
    append(&path, &["two".into()]);
    f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
    assert!(!f.is_parked());
    assert!(f.park().is_some());
    // Written to, then renamed away while parked: found by inode.
    append(&path, &["three".into()]);
    std::fs::rename(&path, d.join("a.log.1")).unwrap();
    append(&path, &["four".into()]);
    f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
    assert_eq!(
        seen,
        [
            b"one".to_vec(),
            b"two".to_vec(),
            b"three".to_vec(),
            b"four".to_vec()
        ]
    );
    assert_eq!(f.stats().rotations, 1);
}

/// Issue 13: a file truncated and rewritten between two polls with the
/// same first KiB (same fingerprint) and past the read position is seen
/// by the bytes before the read position.
#[test]
fn a_rewrite_with_the_same_first_bytes_is_a_truncation() {
    let d = tmp("rewrite");
    let path = d.join("a.log");
    let header: Vec<String> = (0..12)
        .map(|i| format!("header {i:03} {}", "h".repeat(90)))
        .collect();
    let old: Vec<String> = (0..20).map(|i| format!("old line {i:03}")).collect();
    append(&path, &[header.clone(), old].concat());
    let mut f = Follower::new(&path, FollowConfig::default());
    f.open(StartAt::Beginning, |_| {}).unwrap();
    let mut seen = Vec::new();
    f.poll(on_line(|l| {
        seen.push(String::from_utf8(l.bytes.to_vec()).unwrap())
    }))
    .unwrap();
    assert_eq!(seen.len(), 32);
    // Truncated and rewritten, longer than before, same first KiB.
    std::fs::write(&path, b"").unwrap();
    let new: Vec<String> = (0..48)
        .map(|i| format!("new line {i:03} {}", "n".repeat(20)))
        .collect();
    let rewritten = [header.clone(), new.clone()].concat();
    append(&path, &rewritten);
    seen.clear();
    f.poll_with(
        Checks::DATA,
        on_line(|l| seen.push(String::from_utf8(l.bytes.to_vec()).unwrap())),
    )
    .unwrap();
    assert_eq!(seen, rewritten, "every line of the rewritten file, once");
    assert_eq!(f.stats().truncations, 1);
}

/// Issue 13: a checkpoint offset past the end of a file with the same
/// first bytes means it was truncated: read from the start, not the end.
#[test]
fn an_offset_past_the_end_reads_from_the_start() {
    let d = tmp("offset");
    let path = d.join("a.log");
    append(&path, &["one".into(), "two".into()]);
    let mut f = Follower::new(&path, FollowConfig::default());
    f.open(StartAt::Offset(1000), |_| {}).unwrap();
    let mut seen = Vec::new();
    f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
    assert_eq!(seen, [b"one".to_vec(), b"two".to_vec()]);
}

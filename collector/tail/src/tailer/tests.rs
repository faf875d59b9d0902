use super::*;
use crate::follow::tests::copytruncate;
use std::fs::File;
use std::io::Write;
use std::time::SystemTime;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sitepulse-tailer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("logs")).unwrap();
    d
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// Collects lines and where each stream ended.
#[derive(Default)]
struct Collect {
    lines: Vec<String>,
    /// stream → (id, end offset of its last line)
    ends: HashMap<StreamId, (FileId, PathBuf, u64)>,
    opened: Vec<(PathBuf, u64)>,
}

impl TailSink for Collect {
    fn event(&mut self, ev: FollowEvent<'_>, _source: SourceIndex) {
        match ev {
            FollowEvent::Opened {
                stream,
                id,
                path,
                offset,
                ..
            } => {
                self.opened.push((path.to_owned(), offset));
                self.ends.insert(stream, (id, path.to_owned(), offset));
            }
            FollowEvent::Parked { .. } => {}
            FollowEvent::Line { stream, id, line } => {
                self.lines
                    .push(String::from_utf8_lossy(line.bytes).into_owned());
                if let Some(e) = self.ends.get_mut(&stream) {
                    e.0 = id;
                    e.2 = line.end_offset;
                }
            }
            FollowEvent::Closed { .. } => {}
        }
    }
}

fn config(d: &Path) -> TailConfig {
    TailConfig {
        sources: vec![SourceConfig {
            include: vec![format!("{}/logs/*.log", d.display())],
            exclude: vec![],
            format: (),
            multiline: None,
        }],
        exclude: vec![],
        rescan_secs: 1,
        ..TailConfig::default()
    }
}

/// A tailer reading existing files from the beginning, with the
/// checkpoint in `d` (empty at first), and its sink.
fn start(d: &Path) -> (Tailer, Collect) {
    let cfg = TailConfig {
        read_existing: ReadExisting::Beginning,
        ..config(d)
    };
    let ck = Checkpoints::load(&d.join("ckpt.json")).unwrap();
    (Tailer::new(&cfg, ck).unwrap(), Collect::default())
}

fn steps(t: &mut Tailer, sink: &mut Collect, n: usize) {
    for _ in 0..n {
        t.step(Duration::from_millis(50), sink);
    }
}

/// Saves where every stream of `sink` got to, as the pipeline would.
fn save(d: &Path, sink: &Collect) {
    let mut c = Checkpoints::load(&d.join("ckpt.json")).unwrap();
    for (id, path, off) in sink.ends.values() {
        c.commit(*id, path, *off, None);
    }
    c.save().unwrap();
}

#[test]
fn first_start_reads_existing_from_end_new_files_from_beginning() {
    let d = tmp("first");
    append(&d.join("logs/old.log"), "old-1\nold-2\n");
    let ck = Checkpoints::load(&d.join("ckpt.json")).unwrap();
    let mut t = Tailer::new(&config(&d), ck).unwrap();
    let mut sink = Collect::default();
    steps(&mut t, &mut sink, 1);
    assert!(sink.lines.is_empty(), "{:?}", sink.lines);
    append(&d.join("logs/old.log"), "old-3\n");
    append(&d.join("logs/new.log"), "new-1\n");
    append(&d.join("logs/ignored.txt"), "nope\n");
    steps(&mut t, &mut sink, 6);
    sink.lines.sort();
    assert_eq!(sink.lines, ["new-1", "old-3"]);
    assert!(t.stats().scans >= 2);

    // beginning
    let d2 = tmp("first-beginning");
    append(&d2.join("logs/old.log"), "old-1\n");
    let (mut t, mut sink) = start(&d2);
    steps(&mut t, &mut sink, 1);
    assert_eq!(sink.lines, ["old-1"]);
}

#[test]
fn restart_resumes_at_checkpoint_and_finds_rotated_files() {
    let d = tmp("restart");
    let a = d.join("logs/a.log");
    let b = d.join("logs/b.log");
    append(&a, "a-1\na-2\n");
    append(&b, "b-1\n");
    let (mut t, mut sink) = start(&d);
    steps(&mut t, &mut sink, 1);
    assert_eq!(sink.lines.len(), 3);
    save(&d, &sink);
    drop(t);

    // While down: a grows, b is renamed away (and grows) and a new b
    // appears, c appears.
    append(&a, "a-3\n");
    append(&b, "b-2\n");
    std::fs::rename(&b, d.join("logs/b.log.1")).unwrap();
    append(&b, "b-new-1\n");
    append(&d.join("logs/c.log"), "c-1\n");
    let (mut t, mut sink) = start(&d);
    steps(&mut t, &mut sink, 3);
    sink.lines.sort();
    assert_eq!(sink.lines, ["a-3", "b-2", "b-new-1", "c-1"]);
    assert_eq!(t.stats().orphans_recovered, 1);
}

#[test]
fn copytruncate_while_down_reads_the_copy_tail() {
    let d = tmp("ct");
    let a = d.join("logs/a.log");
    append(&a, "a-1\n");
    let (mut t, mut sink) = start(&d);
    steps(&mut t, &mut sink, 1);
    save(&d, &sink);
    drop(t);
    append(&a, "a-2\n");
    copytruncate(&a, &d.join("logs/a.log.1"));
    append(&a, "a-3\n");
    let (mut t, mut sink) = start(&d);
    steps(&mut t, &mut sink, 3);
    sink.lines.sort();
    assert_eq!(sink.lines, ["a-2", "a-3"]);
}

/// Rotates `a.log` twice between two polls: the middle generation
/// never was the path when the tailer looked.
fn two_rotations_between_polls(copy: bool) {
    let d = tmp(if copy { "unseen-copy" } else { "unseen-rename" });
    let a = d.join("logs/a.log");
    let rotate = |n: usize| {
        let old = d.join(format!("logs/a.log.{n}"));
        if copy {
            copytruncate(&a, &old);
        } else {
            std::fs::rename(&a, &old).unwrap();
        }
    };
    append(&a, "g1-1\n");
    let (mut t, mut sink) = start(&d);
    steps(&mut t, &mut sink, 1);
    append(&a, "g1-2\n");
    std::thread::sleep(Duration::from_millis(20));
    rotate(1);
    append(&a, "g2-1\ng2-2\n");
    std::thread::sleep(Duration::from_millis(20));
    rotate(2);
    append(&a, "g3-1\n");
    steps(&mut t, &mut sink, 4);
    sink.lines.sort();
    assert_eq!(sink.lines, ["g1-1", "g1-2", "g2-1", "g2-2", "g3-1"]);
    assert_eq!(t.stats().unseen_generations, 1);
}

#[test]
fn generation_rotated_between_polls_is_read() {
    two_rotations_between_polls(false);
    two_rotations_between_polls(true);
}

#[test]
fn empty_file_copytruncated_before_a_poll_is_read_from_the_copy() {
    let d = tmp("empty-ct");
    let a = d.join("logs/a.log");
    append(&a, "");
    let (mut t, mut sink) = start(&d);
    steps(&mut t, &mut sink, 1);
    std::thread::sleep(Duration::from_millis(20));
    append(&a, "g1-1\ng1-2\n");
    copytruncate(&a, &d.join("logs/a.log.1"));
    append(&a, "g2-1 is longer\n");
    steps(&mut t, &mut sink, 4);
    sink.lines.sort();
    assert_eq!(sink.lines, ["g1-1", "g1-2", "g2-1 is longer"]);
}

#[test]
fn ignore_older_skips_until_the_file_changes() {
    let d = tmp("older");
    let p = d.join("logs/stale.log");
    append(&p, "stale-1\n");
    let old = SystemTime::now() - Duration::from_secs(3 * 86_400);
    File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (mut t, mut sink) = start(&d);
    steps(&mut t, &mut sink, 1);
    assert!(sink.lines.is_empty());
    assert_eq!(t.stats().ignored_old, 1);
    append(&p, "fresh-1\n");
    std::thread::sleep(Duration::from_millis(1100));
    steps(&mut t, &mut sink, 3);
    assert_eq!(sink.lines, ["fresh-1"]);
}

#[test]
fn bad_glob_names_the_source() {
    let cfg = TailConfig {
        sources: vec![SourceConfig {
            include: vec!["/var/log/[".into()],
            exclude: vec![],
            format: (),
            multiline: None,
        }],
        ..TailConfig::default()
    };
    let e = Tailer::check_globs(&cfg).unwrap_err();
    assert_eq!(e.section(), "sources[0].include");
    assert!(e.to_string().contains("/var/log/["), "{e}");
}

/// Generation `g` of `logs/app.log` when it is a swapped symlink.
fn swap_target(d: &Path, g: usize) -> PathBuf {
    d.join(format!("logs/app-data-{g}.txt"))
}

/// Points `logs/app.log` at generation `g`, atomically (a new link
/// renamed over the old one).
fn swap_link(d: &Path, g: usize) {
    let tmp = d.join("logs/app.log.tmp");
    std::os::unix::fs::symlink(swap_target(d, g), &tmp).unwrap();
    std::fs::rename(&tmp, d.join("logs/app.log")).unwrap();
}

/// Issue 13: a symlink swapped twice between two polls; the target in
/// between (never opened) is found by its name and read whole.
#[test]
fn a_symlink_swapped_twice_between_polls_loses_no_target() {
    let d = tmp("swap-twice");
    let link = d.join("logs/app.log");
    let data = |g: usize| swap_target(&d, g);
    let swap = |g: usize| swap_link(&d, g);
    append(&data(0), "g0-1\n");
    std::os::unix::fs::symlink(data(0), &link).unwrap();
    let (mut t, mut sink) = start(&d);
    steps(&mut t, &mut sink, 1);
    assert_eq!(sink.lines, ["g0-1"]);
    std::thread::sleep(Duration::from_millis(20));
    append(&data(1), "g1-1\ng1-2\n");
    swap(1);
    std::thread::sleep(Duration::from_millis(20));
    append(&data(2), "g2-1\n");
    swap(2);
    steps(&mut t, &mut sink, 4);
    // The target in between is read after the current one (each in order).
    sink.lines.sort();
    assert_eq!(sink.lines, ["g0-1", "g1-1", "g1-2", "g2-1"]);
}

/// Issue 13: a symlink swapped twice while the collector was down: the
/// checkpointed target is read from its checkpoint, the one in between
/// whole, the current one whole.
#[test]
fn a_symlink_swapped_twice_while_down_loses_no_target() {
    let d = tmp("swap-down");
    let link = d.join("logs/app.log");
    let data = |g: usize| swap_target(&d, g);
    let swap = |g: usize| swap_link(&d, g);
    append(&data(0), "g0-1\n");
    std::os::unix::fs::symlink(data(0), &link).unwrap();
    let (mut t, mut sink) = start(&d);
    steps(&mut t, &mut sink, 1);
    save(&d, &sink);
    drop(t);
    append(&data(0), "g0-2\n");
    std::thread::sleep(Duration::from_millis(20));
    append(&data(1), "g1-1\n");
    swap(1);
    std::thread::sleep(Duration::from_millis(20));
    append(&data(2), "g2-1\n");
    swap(2);
    let (mut t, mut sink) = start(&d);
    steps(&mut t, &mut sink, 3);
    sink.lines.sort();
    assert_eq!(sink.lines, ["g0-2", "g1-1", "g2-1"]);
}

//! Rotated siblings of a followed path: the copy a copytruncate left (read
//! for the lines the truncation took), and generations that left the path
//! between two polls.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::identity::FileId;

/// The rotated copy of a truncated file: a sibling whose name extends the
/// file's (`app.log.1`, `app.log-20261122`, as logrotate names them) that
/// starts with the bytes `id` was taken from and reaches at least `offset`.
/// The newest such file wins.
pub(crate) fn find_copy(path: &Path, id: &FileId, offset: u64) -> Option<(PathBuf, File)> {
    /// Directory entries looked at, at most (a log directory with thousands
    /// of rotated files should not stall the tailer).
    const MAX_ENTRIES: usize = 512;
    if id.fp_len == 0 {
        // An empty file when last seen: nothing to recognise the copy by.
        return None;
    }
    let dir = path.parent()?;
    let name = path.file_name()?.as_encoded_bytes();
    let mut best: Option<(i64, PathBuf, File)> = None;
    for entry in std::fs::read_dir(dir).ok()?.take(MAX_ENTRIES).flatten() {
        if !extends_name(name, entry.file_name().as_encoded_bytes()) {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        if !meta.is_file()
            || meta.len() < offset
            || (meta.dev(), meta.ino()) == (id.dev, id.ino)
            || !id.still_starts(&file).unwrap_or(false)
        {
            continue;
        }
        if best.as_ref().is_none_or(|(m, _, _)| meta.mtime() > *m) {
            best = Some((meta.mtime(), entry.path(), file));
        }
    }
    best.map(|(_, p, f)| (p, f))
}

/// Whether a sibling's name `cand` is a rotated name of `name`: it extends
/// it (`app.log.1`, `app.log-20261122`).
fn extends_name(name: &[u8], cand: &[u8]) -> bool {
    cand.len() > name.len() && cand.starts_with(name)
}

/// Modification time of an open file, ns since the epoch (0 if unknown).
pub fn mtime_ns(file: &File) -> i128 {
    file.metadata().map_or(0, |m| {
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
    })
}

/// Rotated generations of `path` (siblings whose names extend its name,
/// as logrotate and most writers name them) modified after `after_ns` and
/// not among `known` inodes: files that became the path and were rotated
/// away again between two polls, so no follower ever opened them. Oldest
/// first; compressed files are left alone.
pub fn unseen_generations(
    path: &Path,
    after_ns: i128,
    known: &dyn Fn(&File, u64, u64) -> bool,
) -> Vec<(PathBuf, File)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let name = name.as_encoded_bytes();
    let current = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    siblings_after(
        dir,
        &|cand| extends_name(name, cand),
        current,
        after_ns,
        known,
    )
}

/// A symlink swapped from `old` to `new` target: targets it pointed to in
/// between, which no poll saw — files in `old`'s directory whose names
/// start like both (`app-data-` of `app-data-7.txt` and `app-data-9.txt`),
/// modified after `after_ns`, not `new` and not `known`. Oldest first.
pub fn unseen_targets(
    old: &Path,
    new: &Path,
    after_ns: i128,
    known: &dyn Fn(&File, u64, u64) -> bool,
) -> Vec<(PathBuf, File)> {
    let (Some(dir), Some(a), Some(b)) = (old.parent(), old.file_name(), new.file_name()) else {
        return Vec::new();
    };
    if new.parent() != Some(dir) {
        return Vec::new();
    }
    let (a, b) = (a.as_encoded_bytes(), b.as_encoded_bytes());
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    // Names that differ from the first byte say nothing of a sequence.
    if common == 0 {
        return Vec::new();
    }
    let stem = &a[..common];
    let current = std::fs::metadata(new).ok().map(|m| (m.dev(), m.ino()));
    siblings_after(
        dir,
        &|cand| cand.starts_with(stem),
        current,
        after_ns,
        known,
    )
}

/// Regular, uncompressed files of `dir` whose names `accept` takes,
/// modified after `after_ns`, neither `current` nor `known`; oldest first.
fn siblings_after(
    dir: &Path,
    accept: &dyn Fn(&[u8]) -> bool,
    current: Option<(u64, u64)>,
    after_ns: i128,
    known: &dyn Fn(&File, u64, u64) -> bool,
) -> Vec<(PathBuf, File)> {
    const MAX_ENTRIES: usize = 512;
    const COMPRESSED: [&str; 6] = [".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4"];
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(i128, PathBuf, File)> = Vec::new();
    for entry in rd.take(MAX_ENTRIES).flatten() {
        let file_name = entry.file_name();
        let cand = file_name.as_encoded_bytes();
        // Rotated generations are regular files; a symlink next to the path
        // is a symlink swap in progress.
        if entry.file_type().is_ok_and(|t| t.is_symlink())
            || !accept(cand)
            || COMPRESSED.iter().any(|c| cand.ends_with(c.as_bytes()))
        {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        let id = (meta.dev(), meta.ino());
        let m = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        if !meta.is_file() || m <= after_ns || Some(id) == current || known(&file, id.0, id.1) {
            continue;
        }
        found.push((m, entry.path(), file));
    }
    found.sort_by_key(|(m, _, _)| *m);
    found.into_iter().map(|(_, p, f)| (p, f)).collect()
}

/// The file `id` names among `path`'s siblings (renamed away while it was
/// parked): the same inode. Its first bytes need not match: it may have
/// been truncated (and written) since, which the poll that reads it goes on
/// to see, reading the copy first. An inode freed and reused by a file the
/// path named since is one no poll saw either: reading it (its lines keyed
/// by that inode) loses nothing and repeats nothing under another key.
pub(crate) fn find_inode(path: &Path, id: &FileId) -> Option<(PathBuf, File)> {
    const MAX_ENTRIES: usize = 4096;
    let dir = path.parent()?;
    for entry in std::fs::read_dir(dir).ok()?.take(MAX_ENTRIES).flatten() {
        let same_inode = entry
            .metadata()
            .is_ok_and(|m| (m.dev(), m.ino()) == (id.dev, id.ino));
        if !same_inode {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        let Ok(m) = file.metadata() else {
            continue;
        };
        if m.is_file() && (m.dev(), m.ino()) == (id.dev, id.ino) {
            return Some((entry.path(), file));
        }
    }
    None
}

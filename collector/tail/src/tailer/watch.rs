//! inotify: which directories are watched (every followed file's, its
//! symlink target's, and those the globs reach) and what each queued
//! event asks the tailer to do.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};

use super::{MATCH, Tailer};

/// One inotify event, copied out of the read buffer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct WatchEvent {
    wd: WatchDescriptor,
    mask: EventMask,
    name: Option<OsString>,
}

pub(super) struct Watch {
    pub(super) ino: Inotify,
    pub(super) watches: Watches,
    pub(super) dirs: HashMap<WatchDescriptor, PathBuf>,
    pub(super) watched: HashSet<PathBuf>,
    pub(super) buf: Vec<u8>,
}

/// Where a symlink at `path` points now (absolute), `None` for a regular
/// file.
pub(super) fn symlink_target(path: &Path) -> Option<PathBuf> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    std::fs::canonicalize(path).ok()
}

pub(super) fn start_inotify() -> io::Result<Watch> {
    // Non-blocking (IN_NONBLOCK): the tailer reads what is queued when it
    // wakes.
    let ino = Inotify::init()?;
    let watches = ino.watches();
    Ok(Watch {
        ino,
        watches,
        dirs: HashMap::new(),
        watched: HashSet::new(),
        buf: vec![0u8; 64 * 1024],
    })
}

impl Tailer {
    /// Adds inotify watches for the directories the include globs reach:
    /// each pattern's fixed prefix and every existing directory matching
    /// a prefix of its wildcard directory levels (up to a `**`).
    pub(super) fn watch_globs(&mut self) {
        if self.watch.is_none() {
            return;
        }
        let mut dirs = Vec::new();
        for s in &self.sources {
            for p in &s.include {
                let comps: Vec<&str> = p.as_str().split('/').collect();
                let mut prefix = String::new();
                for (i, c) in comps.iter().enumerate().take(comps.len().saturating_sub(1)) {
                    if *c == "**" {
                        break;
                    }
                    if i > 0 {
                        prefix.push('/');
                    }
                    prefix.push_str(c);
                    if prefix.is_empty() {
                        continue;
                    }
                    if glob::Pattern::escape(c) == *c {
                        // Only the deepest fixed directory: its parents
                        // (/var, /var/log) are busy and say nothing.
                        let next_fixed = comps
                            .get(i + 1)
                            .is_some_and(|n| i + 2 < comps.len() && glob::Pattern::escape(n) == *n);
                        if !next_fixed {
                            dirs.push(PathBuf::from(&prefix));
                        }
                    } else if let Ok(paths) = glob::glob_with(&prefix, MATCH) {
                        dirs.extend(paths.flatten().filter(|d| d.is_dir()));
                    }
                }
            }
        }
        for d in dirs {
            if d.is_dir() {
                self.watch_dir(&d);
            }
        }
    }

    pub(super) fn watch_dir(&mut self, dir: &Path) {
        let Some(w) = &mut self.watch else {
            return;
        };
        if w.watched.contains(dir) {
            return;
        }
        let mask = WatchMask::MODIFY
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::ONLYDIR;
        match w.watches.add(dir, mask) {
            Ok(wd) => {
                w.dirs.insert(wd, dir.to_owned());
                w.watched.insert(dir.to_owned());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                self.stats.watch_errors += 1;
                if !self.poll_all {
                    tracing::warn!(
                        dir = %dir.display(),
                        error = %e,
                        "cannot add an inotify watch (fs.inotify.max_user_watches?); polling every file every {} ms",
                        self.cfg.poll_ms
                    );
                }
                self.poll_all = true;
            }
        }
    }
}

impl Tailer {
    /// Takes what inotify queued since the last step: followed paths with
    /// new data go to `data`, paths that were created, moved or deleted to
    /// `full` (checked for rotation), and an overflow sets `sweep`. A
    /// change a source's globs may care about schedules a scan.
    pub(super) fn read_events(
        &mut self,
        data: &mut HashSet<PathBuf>,
        full: &mut HashSet<PathBuf>,
        sweep: &mut bool,
    ) {
        let mut events = Vec::new();
        if let Some(w) = &mut self.watch {
            loop {
                match w.ino.read_events(&mut w.buf) {
                    Ok(evs) => {
                        let before = events.len();
                        events.extend(evs.map(|e| WatchEvent {
                            wd: e.wd,
                            mask: e.mask,
                            name: e.name.map(ToOwned::to_owned),
                        }));
                        if events.len() == before {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        if !self.poll_all {
                            tracing::warn!(error = %e, "reading inotify events failed; polling every {} ms", self.cfg.poll_ms);
                        }
                        self.poll_all = true;
                        break;
                    }
                }
            }
            for ev in events {
                if ev.mask.contains(EventMask::Q_OVERFLOW) {
                    self.stats.overflows += 1;
                    *sweep = true;
                    continue;
                }
                if ev.mask.contains(EventMask::IGNORED) {
                    if let Some(dir) = w.dirs.remove(&ev.wd) {
                        w.watched.remove(&dir);
                    }
                    continue;
                }
                let (Some(dir), Some(name)) = (w.dirs.get(&ev.wd), &ev.name) else {
                    continue;
                };
                let path = dir.join(name);
                let followed = if self.files.contains_key(path.as_path()) {
                    Some(path.clone())
                } else {
                    self.by_path.get(&path).cloned()
                };
                if ev.mask.intersects(EventMask::MODIFY) && !ev.mask.contains(EventMask::ISDIR) {
                    if let Some(p) = followed {
                        data.insert(p);
                    }
                } else {
                    // Created, moved or deleted: a rotation, a new file or
                    // directory. Check the file the name belongs to and look
                    // for new ones (other files in a watched directory, a
                    // checkpoint being saved, say, do not matter).
                    let relevant = followed.is_some()
                        || ev.mask.contains(EventMask::ISDIR)
                        || self
                            .sources
                            .iter()
                            .any(|s| s.include.iter().any(|p| p.matches_path_with(&path, MATCH)));
                    if let Some(p) = followed {
                        full.insert(p);
                    }
                    self.scan_pending |= relevant;
                }
            }
        }
    }
}

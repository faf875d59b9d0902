//! Read positions that survive restarts: one entry per file identity (not
//! per path), in a versioned JSON file written atomically (write a temp
//! file, `sync_all`, rename over the old one, sync the directory), so a
//! crash leaves either the old or the new checkpoint, never half of one.
//!
//! At start, [`Checkpoints::open`] also cleans up after a save that
//! crashed and, by [`CheckpointCorrupt`], moves a file that is not a
//! checkpoint aside instead of refusing to start.
//!
//! The owner decides what an offset means; the tailer records an offset
//! only once the lines before it are committed downstream (the aggregate,
//! later the sinks' acknowledgements), which makes delivery at-least-once
//! with `(file identity, offset)` as each line's dedup key.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::identity::FileId;

/// The newest checkpoint file format version this build writes and reads.
/// Version 2 adds the sinks' shipping cursors ([`Entry::ship`]); a file
/// with none is still written as version 1, so a rollback to a build
/// without sinks reads it.
pub const CHECKPOINT_VERSION: u32 = 2;

/// The versions this build reads.
pub const CHECKPOINT_VERSIONS_READ: [u32; 2] = [1, 2];

/// One file's committed position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Who the file is.
    pub id: FileId,
    /// Byte offset just after the last committed line.
    pub offset: u64,
    /// Where the file was last seen (informational: identity is `id`).
    pub path: String,
    /// When `offset` last changed, Unix seconds.
    pub updated_unix_secs: i64,
    /// `(dev, ino)` its lines are keyed by when it is a rotated copy of
    /// another file (absent: its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<(u64, u64)>,
    /// Shipping cursors of the sinks that lag behind `offset`, by sink
    /// name: the sink has every line before its cursor; lines from there
    /// to `offset` are re-read for it (they are aggregated already). A
    /// sink not named here has every line before `offset`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ship: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    written_unix_secs: i64,
    files: Vec<Entry>,
}

/// What [`Checkpoints::open`] does with a checkpoint file that does not
/// parse (`tail.checkpoint_corrupt`): not JSON, not UTF-8, a field this
/// format does not have.
///
/// A checkpoint of another format *version* is not corrupt: it always
/// fails the start ([`CheckpointError::Version`]), whatever this says. It
/// was written by a newer (or older) build, which can read it again after
/// a rollback; moving it aside would silently re-read or skip every file's
/// unread lines on a downgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointCorrupt {
    /// Rename it to `<path>.corrupt-<unix seconds>` (kept for a post
    /// mortem) and start as on a first start: [`Checkpoints::existed`] is
    /// false, so `tail.read_existing` applies to the files already there.
    /// A collector on every node must not crash-loop on one bad file.
    #[default]
    Quarantine,
    /// Refuse to start with [`CheckpointError::Parse`] (file, line and
    /// column), leaving the file where it is.
    Fail,
}

/// A checkpoint file [`Checkpoints::open`] moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// Where the file was.
    pub from: PathBuf,
    /// Where it is now: `<path>.corrupt-<unix seconds>`.
    pub to: PathBuf,
    /// Why: the parse error, with the file, line and column.
    pub reason: String,
}

/// A checkpoint file that cannot be read or written. Every variant names
/// the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing failed.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    /// The file is not a checkpoint (bad JSON, unknown field).
    #[error("{path}:{line}:{column}: not a sitepulse checkpoint: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Written by a build with another format version. Never quarantined
    /// (see [`CheckpointCorrupt`]).
    #[error(
        "{path}: checkpoint format version {found}, this build reads versions 1 and {CHECKPOINT_VERSION}"
    )]
    Version { path: PathBuf, found: u32 },
    /// Not a checkpoint, and it could not be moved aside.
    #[error("{corrupt}; moving it to {} failed: {error}", to.display())]
    Quarantine {
        /// The parse error.
        corrupt: String,
        to: PathBuf,
        error: io::Error,
    },
}

/// What [`Checkpoints::open`] found and did besides loading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opened {
    /// The temporary file of an interrupted save, removed.
    pub stale_tmp_removed: Option<PathBuf>,
    /// The checkpoint did not parse and was moved aside.
    pub quarantined: Option<Quarantined>,
}

/// The committed positions of every tailed file, keyed by identity.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    path: PathBuf,
    entries: HashMap<(u64, u64), Entry>,
    /// The file existed when loaded (this is a restart, not a first start).
    existed: bool,
    /// Entries changed since the last save.
    dirty: bool,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Checkpoints {
    /// Loads `path`; a missing file is an empty checkpoint (first start).
    ///
    /// # Errors
    /// [`CheckpointError`] for unreadable, malformed (including not UTF-8)
    /// or other-version files.
    pub fn load(path: &Path) -> Result<Checkpoints, CheckpointError> {
        let mut existed = true;
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                existed = false;
                Vec::new()
            }
            Err(error) => {
                return Err(CheckpointError::Io {
                    path: path.to_owned(),
                    error,
                });
            }
        };
        let mut entries = HashMap::new();
        if !text.iter().all(u8::is_ascii_whitespace) {
            // Check the version first so a future format gets a clear error
            // rather than an unknown-field one.
            #[derive(Deserialize)]
            struct Version {
                version: u32,
            }
            let parse_err = |e: serde_json::Error| CheckpointError::Parse {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            };
            let v: Version = serde_json::from_slice(&text).map_err(parse_err)?;
            if !CHECKPOINT_VERSIONS_READ.contains(&v.version) {
                return Err(CheckpointError::Version {
                    path: path.to_owned(),
                    found: v.version,
                });
            }
            let disk: OnDisk = serde_json::from_slice(&text).map_err(parse_err)?;
            for e in disk.files {
                entries.insert((e.id.dev, e.id.ino), e);
            }
        }
        Ok(Checkpoints {
            path: path.to_owned(),
            entries,
            existed,
            dirty: false,
        })
    }

    /// Loads `path` at the start of a run: first removes the temporary file
    /// a save that crashed midway left (`<path>.tmp`; the checkpoint itself
    /// is intact, the rename is atomic), then [`load`](Self::load)s; a file
    /// that does not parse is handled as `on_corrupt` says. After a
    /// quarantine the checkpoint is empty and [`existed`](Self::existed)
    /// is false: a first start. The report says what was cleaned up or
    /// moved, for the caller to log and count.
    ///
    /// # Errors
    /// As [`load`](Self::load), except that with
    /// [`CheckpointCorrupt::Quarantine`] a parse error is returned only as
    /// [`CheckpointError::Quarantine`], when the file cannot be moved.
    pub fn open(
        path: &Path,
        on_corrupt: CheckpointCorrupt,
    ) -> Result<(Checkpoints, Opened), CheckpointError> {
        let mut report = Opened::default();
        let tmp = tmp_path(path);
        // Only a plain file is ours to remove; anything else there makes
        // the next save fail with an error that names it.
        if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.is_file())
            && std::fs::remove_file(&tmp).is_ok()
        {
            report.stale_tmp_removed = Some(tmp);
        }
        let loaded = match Checkpoints::load(path) {
            Err(e @ CheckpointError::Parse { .. })
                if on_corrupt == CheckpointCorrupt::Quarantine =>
            {
                let corrupt = e.to_string();
                let to = quarantine_path(path, unix_now());
                if let Err(error) = std::fs::rename(path, &to) {
                    return Err(CheckpointError::Quarantine { corrupt, to, error });
                }
                report.quarantined = Some(Quarantined {
                    from: path.to_owned(),
                    to,
                    reason: corrupt,
                });
                Checkpoints {
                    path: path.to_owned(),
                    entries: HashMap::new(),
                    existed: false,
                    dirty: false,
                }
            }
            other => other?,
        };
        Ok((loaded, report))
    }

    /// Whether the checkpoint file existed when loaded: false on a first
    /// start, when files already present are read per `read_existing`.
    pub fn existed(&self) -> bool {
        self.existed
    }

    /// The file this checkpoint is saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry for inode `(dev, ino)`, whatever its fingerprint.
    pub fn get(&self, dev: u64, ino: u64) -> Option<&Entry> {
        self.entries.get(&(dev, ino))
    }

    /// Number of files with an entry.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no file has an entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The committed offset for the file now identified as `now` (open as
    /// `file`), if a checkpoint names the same file (same inode and a
    /// matching fingerprint; see [`FileId::same_file`]).
    ///
    /// # Errors
    /// I/O errors reading the file's first bytes.
    pub fn offset_of(&self, now: &FileId, file: &File) -> io::Result<Option<u64>> {
        match self.entries.get(&(now.dev, now.ino)) {
            Some(e) if e.id.same_file(now, file)? => Ok(Some(e.offset)),
            _ => Ok(None),
        }
    }

    /// Records that everything before `offset` of file `id` is committed.
    /// The newest identity replaces an older one of the same inode.
    pub fn commit(&mut self, id: FileId, path: &Path, offset: u64, key: Option<(u64, u64)>) {
        if let Some(e) = self.entries.get(&(id.dev, id.ino))
            && e.id == id
            && e.offset == offset
            && e.key == key
        {
            return;
        }
        // The sinks' cursors stay with the file (same identity).
        let ship = self
            .entries
            .get(&(id.dev, id.ino))
            .filter(|e| e.id.fp == id.fp || e.id.fp_len < id.fp_len)
            .map(|e| e.ship.clone())
            .unwrap_or_default();
        let e = Entry {
            id,
            offset,
            path: path.to_string_lossy().into_owned(),
            updated_unix_secs: unix_now(),
            key,
            ship,
        };
        self.entries.insert((id.dev, id.ino), e);
        self.dirty = true;
    }

    /// Sets (`Some`) or clears sink `sink`'s shipping cursor of the file
    /// `(dev, ino)`; a cursor at or past the entry's offset is cleared.
    pub fn set_ship(&mut self, dev: u64, ino: u64, sink: &str, at: Option<u64>) {
        let Some(e) = self.entries.get_mut(&(dev, ino)) else {
            return;
        };
        let at = at.filter(|&a| a < e.offset);
        let changed = match at {
            Some(a) => e.ship.insert(sink.to_owned(), a) != Some(a),
            None => e.ship.remove(sink).is_some(),
        };
        if changed {
            e.updated_unix_secs = unix_now();
            self.dirty = true;
        }
    }

    /// Whether entries changed since the last [`save`](Self::save) (or
    /// load): an unchanged checkpoint need not be written again.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Forgets a file (deleted and fully read).
    pub fn forget(&mut self, id: &FileId) {
        self.dirty |= self.entries.remove(&(id.dev, id.ino)).is_some();
    }

    /// Keeps only the entries `keep` accepts (e.g. files still present).
    pub fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|_, e| keep(e));
        self.dirty |= self.entries.len() != before;
    }

    /// All entries, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The temporary file [`save`](Self::save) writes before the rename:
    /// `<path>.tmp`.
    pub fn tmp_path(&self) -> PathBuf {
        tmp_path(&self.path)
    }

    /// Writes the checkpoint atomically: `<path>.tmp`, `sync_all`, rename,
    /// then `sync_all` on the directory so the rename itself is durable.
    /// When writing, syncing or renaming fails, the temporary file is
    /// removed (best effort) and the changes stay for the next try.
    ///
    /// # Errors
    /// [`CheckpointError::Io`] naming the file that could not be written.
    pub fn save(&mut self) -> Result<(), CheckpointError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |error| CheckpointError::Io { path, error }
        };
        let mut files: Vec<&Entry> = self.entries.values().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path).then(a.id.ino.cmp(&b.id.ino)));
        // One entry per line: compact (a node has thousands) yet readable.
        // Written from references: no entry is cloned per save.
        let version = if files.iter().any(|e| !e.ship.is_empty()) {
            CHECKPOINT_VERSION
        } else {
            1
        };
        let mut json = to_lines(version, unix_now(), &files)
            .map_err(|e| io_err(&self.path)(io::Error::other(e)))?;
        json.push(b'\n');
        let tmp = self.tmp_path();
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        let written = f
            .write_all(&json)
            .and_then(|()| f.sync_all())
            .map_err(io_err(&tmp));
        drop(f);
        let renamed =
            written.and_then(|()| std::fs::rename(&tmp, &self.path).map_err(io_err(&self.path)));
        if renamed.is_err() {
            // Half a checkpoint must not stay behind (nor fill a full disk
            // further); the next try writes it again.
            let _ = std::fs::remove_file(&tmp);
        }
        renamed?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
        self.dirty = false;
        Ok(())
    }
}

/// `<path>.tmp`: appended, not an extension swapped, so it can never be
/// the checkpoint itself or another file beside it.
fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// `<path>.corrupt-<unix seconds>`, with `-<n>` added when that is taken.
fn quarantine_path(path: &Path, now: i64) -> PathBuf {
    let mut base = path.as_os_str().to_owned();
    base.push(format!(".corrupt-{now}"));
    let mut to = PathBuf::from(&base);
    let mut n = 1;
    while std::fs::symlink_metadata(&to).is_ok() {
        let mut next = base.clone();
        next.push(format!("-{n}"));
        to = PathBuf::from(next);
        n += 1;
    }
    to
}

/// JSON with each file entry on its own line.
fn to_lines(version: u32, written_unix_secs: i64, files: &[&Entry]) -> serde_json::Result<Vec<u8>> {
    let mut out =
        format!("{{\"version\":{version},\"written_unix_secs\":{written_unix_secs},\"files\":[")
            .into_bytes();
    out.reserve(files.len() * 160);
    for (i, e) in files.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        serde_json::to_writer(&mut out, e)?;
    }
    out.extend_from_slice(b"\n]}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sitepulse-ckpt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn roundtrip_by_identity_not_path() {
        let d = tmp("roundtrip");
        let log = d.join("a.log");
        std::fs::write(&log, b"line one\nline two\n").unwrap();
        let f = File::open(&log).unwrap();
        let id = FileId::of(&f).unwrap();
        let ck = d.join("checkpoints.json");
        let mut c = Checkpoints::load(&ck).unwrap();
        assert_eq!(c.entries().count(), 0, "missing file = first start");
        c.commit(id, &log, 9, None);
        c.save().unwrap();
        assert!(!d.join("checkpoints.json.tmp").exists());
        // Rotated by rename: found under its new name.
        let rotated = d.join("a.log.1");
        std::fs::rename(&log, &rotated).unwrap();
        let c = Checkpoints::load(&ck).unwrap();
        let f = File::open(&rotated).unwrap();
        let now = FileId::of(&f).unwrap();
        assert_eq!(c.offset_of(&now, &f).unwrap(), Some(9));
        // A new file at the old path is not the checkpointed one.
        std::fs::write(&log, b"something else\n").unwrap();
        let g = File::open(&log).unwrap();
        let other = FileId::of(&g).unwrap();
        assert_eq!(c.offset_of(&other, &g).unwrap(), None);
    }

    #[test]
    fn bad_files_name_themselves() {
        let d = tmp("bad");
        let ck = d.join("c.json");
        std::fs::write(&ck, "{\"version\": 1,\n \"files\": [}").unwrap();
        let e = Checkpoints::load(&ck).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2:", ck.display())), "{e}");
        std::fs::write(
            &ck,
            r#"{"version": 3, "written_unix_secs": 0, "files": []}"#,
        )
        .unwrap();
        let e = Checkpoints::load(&ck).unwrap_err().to_string();
        assert!(
            e.contains("version 3") && e.contains(&ck.display().to_string()),
            "{e}"
        );
        let e = Checkpoints::load(&d).unwrap_err().to_string();
        assert!(e.starts_with(&d.display().to_string()), "{e}");
    }

    /// Names of the files in `d` that end in `.tmp`.
    fn tmp_files(d: &Path) -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    fn fake_id(ino: u64) -> FileId {
        FileId {
            dev: 1,
            ino,
            fp: 0,
            fp_len: 0,
        }
    }

    /// Shipping cursors survive a save and a later commit of the live
    /// offset; a file with none is written as version 1 (a rollback to a
    /// build without sinks reads it), one with a cursor as version 2.
    #[test]
    fn ship_cursors_round_trip() {
        let d = tmp("ship");
        let ck = d.join("c.json");
        let mut c = Checkpoints::load(&ck).unwrap();
        c.commit(fake_id(1), Path::new("/x/1.log"), 100, None);
        c.commit(fake_id(2), Path::new("/x/2.log"), 50, None);
        c.save().unwrap();
        assert!(
            std::fs::read_to_string(&ck)
                .unwrap()
                .contains("\"version\":1")
        );
        c.set_ship(1, 1, "loki", Some(40));
        c.set_ship(1, 2, "loki", Some(50)); // not behind: nothing to keep
        assert!(c.is_dirty());
        c.commit(fake_id(1), Path::new("/x/1.log"), 120, None);
        c.save().unwrap();
        assert!(
            std::fs::read_to_string(&ck)
                .unwrap()
                .contains("\"version\":2")
        );
        let l = Checkpoints::load(&ck).unwrap();
        assert_eq!(l.get(1, 1).unwrap().offset, 120);
        assert_eq!(l.get(1, 1).unwrap().ship.get("loki"), Some(&40));
        assert!(l.get(1, 2).unwrap().ship.is_empty());
        c.set_ship(1, 1, "loki", None);
        c.save().unwrap();
        assert!(
            Checkpoints::load(&ck)
                .unwrap()
                .get(1, 1)
                .unwrap()
                .ship
                .is_empty()
        );
    }

    /// Issue 13 (3): a save that fails once its temporary file exists (here
    /// the rename, onto a directory) names the file and leaves no temporary
    /// file behind; the changes stay for the next try.
    #[test]
    fn issue_13_failed_save_removes_its_temp_file() {
        let d = tmp("failsave");
        let ck = d.join("c.json");
        let mut c = Checkpoints::load(&ck).unwrap();
        c.commit(fake_id(1), Path::new("/x/1.log"), 10, None);
        std::fs::create_dir(&ck).unwrap();
        let e = c.save().unwrap_err().to_string();
        assert!(
            e.starts_with(&ck.display().to_string()) && e.contains("os error"),
            "{e}"
        );
        assert_eq!(tmp_files(&d), Vec::<String>::new());
        assert!(c.is_dirty());
        std::fs::remove_dir(&ck).unwrap();
        c.save().unwrap();
        assert!(!c.is_dirty());
        assert_eq!(tmp_files(&d), Vec::<String>::new());
        assert_eq!(Checkpoints::load(&ck).unwrap().len(), 1);
    }

    /// Issue 13 (3): a read-only directory fails the save with the OS error.
    /// Skipped where permissions do not stop writes (root).
    #[test]
    fn issue_13_read_only_directory_fails_the_save() {
        use std::os::unix::fs::PermissionsExt;
        let d = tmp("readonly");
        let ck = d.join("c.json");
        let mut c = Checkpoints::load(&ck).unwrap();
        c.commit(fake_id(1), Path::new("/x/1.log"), 10, None);
        c.save().unwrap();
        c.commit(fake_id(1), Path::new("/x/1.log"), 20, None);
        let mode = |m| std::fs::set_permissions(&d, std::fs::Permissions::from_mode(m)).unwrap();
        mode(0o555);
        if File::create(d.join("probe")).is_ok() {
            mode(0o755);
            eprintln!("skipped: permissions do not stop this user's writes (root)");
            return;
        }
        let e = c.save().unwrap_err().to_string();
        mode(0o755);
        assert!(e.contains("c.json") && e.contains("os error 13"), "{e}");
        assert_eq!(tmp_files(&d), Vec::<String>::new());
        assert_eq!(
            Checkpoints::load(&ck)
                .unwrap()
                .entries()
                .next()
                .unwrap()
                .offset,
            10
        );
    }

    /// Issue 13 (3): what a save that crashed midway left is removed at
    /// start, and said so; a directory in its place is not touched.
    #[test]
    fn issue_13_open_removes_a_stale_temp_file() {
        let d = tmp("stale");
        let ck = d.join("c.json");
        let mut c = Checkpoints::load(&ck).unwrap();
        c.commit(fake_id(1), Path::new("/x/1.log"), 10, None);
        c.save().unwrap();
        std::fs::write(d.join("c.json.tmp"), "{\"version\":1,\"wri").unwrap();
        let (c, report) = Checkpoints::open(&ck, CheckpointCorrupt::Fail).unwrap();
        assert_eq!(report.stale_tmp_removed, Some(d.join("c.json.tmp")));
        assert_eq!((c.len(), c.existed()), (1, true));
        assert_eq!(tmp_files(&d), Vec::<String>::new());
        std::fs::create_dir(d.join("c.json.tmp")).unwrap();
        let (_, report) = Checkpoints::open(&ck, CheckpointCorrupt::Fail).unwrap();
        assert_eq!(report, Opened::default());
        assert!(d.join("c.json.tmp").is_dir());
    }

    /// Issue 13 (5): a checkpoint that does not parse (here bytes that are
    /// not even UTF-8) is moved to `<path>.corrupt-<secs>` with its
    /// contents, and the start is a first start.
    #[test]
    fn issue_13_corrupt_checkpoint_is_quarantined() {
        let d = tmp("quarantine");
        let ck = d.join("c.json");
        let garbage = b"{\"version\": 1,\n \"files\": [\xff\xfe\x00garbage";
        std::fs::write(&ck, garbage).unwrap();
        let e = Checkpoints::load(&ck).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2:", ck.display())), "{e}");
        let before = unix_now();
        let (c, report) = Checkpoints::open(&ck, CheckpointCorrupt::Quarantine).unwrap();
        assert!(c.is_empty() && !c.existed() && !c.is_dirty());
        let q = report.quarantined.unwrap();
        assert_eq!(q.from, ck);
        assert_eq!(q.reason, e);
        let name = q.to.file_name().unwrap().to_str().unwrap();
        let secs: i64 = name
            .strip_prefix("c.json.corrupt-")
            .unwrap()
            .parse()
            .unwrap();
        assert!((before..=unix_now()).contains(&secs), "{name}");
        assert_eq!(std::fs::read(&q.to).unwrap(), garbage);
        assert!(!ck.exists());
        // A second one in the same second does not overwrite the first.
        assert_eq!(
            quarantine_path(&ck, secs),
            PathBuf::from(format!("{}-1", q.to.display()))
        );
    }

    /// Issue 13 (5): with `fail`, or for another format version, or when
    /// the file cannot be moved, the start fails naming the file and the
    /// file stays.
    #[test]
    fn issue_13_corrupt_checkpoint_fails_when_asked_and_versions_always_fail() {
        let d = tmp("corruptfail");
        let ck = d.join("c.json");
        std::fs::write(&ck, "{\"version\": 1,\n \"files\": [}").unwrap();
        let e = Checkpoints::open(&ck, CheckpointCorrupt::Fail)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&format!("{}:2:", ck.display())), "{e}");
        assert!(ck.exists());
        std::fs::write(
            &ck,
            r#"{"version": 3, "written_unix_secs": 0, "files": []}"#,
        )
        .unwrap();
        let e = Checkpoints::open(&ck, CheckpointCorrupt::Quarantine).unwrap_err();
        assert!(
            matches!(e, CheckpointError::Version { found: 3, .. }),
            "{e}"
        );
        assert!(ck.exists());
        // Where it cannot be moved (a read-only directory; root is not
        // stopped by one, so that case is skipped there).
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&ck, "[").unwrap();
        let mode = |m| std::fs::set_permissions(&d, std::fs::Permissions::from_mode(m)).unwrap();
        mode(0o555);
        if File::create(d.join("probe")).is_ok() {
            mode(0o755);
            eprintln!("skipped the read-only case: permissions do not stop this user (root)");
            return;
        }
        let e = Checkpoints::open(&ck, CheckpointCorrupt::Quarantine).unwrap_err();
        mode(0o755);
        let e = e.to_string();
        assert!(
            e.starts_with(&format!("{}:1:", ck.display())) && e.contains("os error 13"),
            "{e}"
        );
        assert!(ck.exists());
    }

    #[test]
    fn forget_and_retain() {
        let d = tmp("retain");
        let mut c = Checkpoints::load(&d.join("c.json")).unwrap();
        for ino in 1..=3 {
            let id = FileId {
                dev: 1,
                ino,
                fp: 0,
                fp_len: 0,
            };
            c.commit(id, Path::new(&format!("/x/{ino}.log")), ino * 10, None);
        }
        c.forget(&FileId {
            dev: 1,
            ino: 2,
            fp: 0,
            fp_len: 0,
        });
        c.retain(|e| e.offset != 30);
        let left: Vec<u64> = c.entries().map(|e| e.offset).collect();
        assert_eq!(left, [10]);
        c.save().unwrap();
        let again = Checkpoints::load(&d.join("c.json")).unwrap();
        assert_eq!(again.entries().next().unwrap().path, "/x/1.log");
    }
}

//! Read positions that survive restarts: one entry per file identity (not
//! per path), in a versioned JSON file written atomically (write a temp
//! file, `sync_all`, rename over the old one, sync the directory), so a
//! crash leaves either the old or the new checkpoint, never half of one.
//!
//! The owner decides what an offset means; the tailer records an offset
//! only once the lines before it are committed downstream (the aggregate,
//! later the sinks' acknowledgements), which makes delivery at-least-once
//! with `(file identity, offset)` as each line's dedup key.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::identity::FileId;

/// The checkpoint file format version this build writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;

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
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    written_unix_secs: i64,
    files: Vec<Entry>,
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
    /// Written by a build with another format version.
    #[error(
        "{path}: checkpoint format version {found}, this build reads version {CHECKPOINT_VERSION}"
    )]
    Version { path: PathBuf, found: u32 },
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
    /// [`CheckpointError`] for unreadable, malformed or other-version files.
    pub fn load(path: &Path) -> Result<Checkpoints, CheckpointError> {
        let mut existed = true;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                existed = false;
                String::new()
            }
            Err(error) => {
                return Err(CheckpointError::Io {
                    path: path.to_owned(),
                    error,
                });
            }
        };
        let mut entries = HashMap::new();
        if !text.trim().is_empty() {
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
            let v: Version = serde_json::from_str(&text).map_err(parse_err)?;
            if v.version != CHECKPOINT_VERSION {
                return Err(CheckpointError::Version {
                    path: path.to_owned(),
                    found: v.version,
                });
            }
            let disk: OnDisk = serde_json::from_str(&text).map_err(parse_err)?;
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
        let e = Entry {
            id,
            offset,
            path: path.to_string_lossy().into_owned(),
            updated_unix_secs: unix_now(),
            key,
        };
        self.entries.insert((id.dev, id.ino), e);
        self.dirty = true;
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

    /// Writes the checkpoint atomically: `<path>.tmp`, `sync_all`, rename,
    /// then `sync_all` on the directory so the rename itself is durable.
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
        let disk = OnDisk {
            version: CHECKPOINT_VERSION,
            written_unix_secs: unix_now(),
            files: files.into_iter().cloned().collect(),
        };
        // One entry per line: compact (a node has thousands) yet readable.
        let mut json = to_lines(&disk).map_err(|e| io_err(&self.path)(io::Error::other(e)))?;
        json.push(b'\n');
        let tmp = self.path.with_extension("tmp");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&json).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(io_err(&self.path))?;
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

/// JSON with each file entry on its own line.
fn to_lines(disk: &OnDisk) -> serde_json::Result<Vec<u8>> {
    let mut out = format!(
        "{{\"version\":{},\"written_unix_secs\":{},\"files\":[",
        disk.version, disk.written_unix_secs
    )
    .into_bytes();
    for (i, e) in disk.files.iter().enumerate() {
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
        assert!(!d.join("checkpoints.tmp").exists());
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
            r#"{"version": 2, "written_unix_secs": 0, "files": []}"#,
        )
        .unwrap();
        let e = Checkpoints::load(&ck).unwrap_err().to_string();
        assert!(
            e.contains("version 2") && e.contains(&ck.display().to_string()),
            "{e}"
        );
        let e = Checkpoints::load(&d).unwrap_err().to_string();
        assert!(e.starts_with(&d.display().to_string()), "{e}");
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

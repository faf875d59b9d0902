//! File identity for tailing: device + inode, confirmed by a fingerprint of
//! the file's first bytes. The inode survives renames (rotation by rename,
//! symlink swaps); the fingerprint tells a reused inode (delete, then a new
//! file gets the old number) from the original, and two files with the same
//! first KiB (OTel filelog's collision) are still two inodes.
//!
//! Files shorter than [`FINGERPRINT_BYTES`] are fingerprinted over what they
//! hold, with that length recorded; as they grow, the recorded prefix is
//! checked and the fingerprint extended, so short files are read at once
//! instead of waiting to reach a fingerprint size.

use std::fs::File;
use std::hash::Hasher;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

use serde::{Deserialize, Serialize};

/// Bytes at the start of a file that make up its fingerprint.
pub const FINGERPRINT_BYTES: usize = 1024;

/// A fingerprint over fewer bytes recognises another file by its first
/// bytes only when that file is no longer (see [`FileId::matches_head`]).
pub const MIN_MATCH_BYTES: usize = 128;

/// Who a file is, independent of its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// FNV-1a 64 of the first `fp_len` bytes (a stable, documented hash:
    /// checkpoints outlive the process and the crate versions).
    pub fp: u64,
    /// How many bytes `fp` covers (≤ [`FINGERPRINT_BYTES`]; less for a
    /// file that was shorter when fingerprinted).
    pub fp_len: u32,
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h = fnv::FnvHasher::default();
    h.write(bytes);
    h.finish()
}

/// Reads up to [`FINGERPRINT_BYTES`] from the start of `file` with
/// positional reads, so a reader sharing the descriptor keeps its place.
fn prefix(file: &File) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; FINGERPRINT_BYTES];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// A file's first [`FINGERPRINT_BYTES`] (fewer if it is shorter), read
/// positionally, to compare against many identities with
/// [`FileId::matches_head`].
///
/// # Errors
/// I/O errors reading.
pub fn head_of(file: &File) -> io::Result<Vec<u8>> {
    prefix(file)
}

impl FileId {
    /// Identifies an open file.
    ///
    /// # Errors
    /// I/O errors of `fstat` or reading the first bytes.
    pub fn of(file: &File) -> io::Result<FileId> {
        let meta = file.metadata()?;
        let head = prefix(file)?;
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            fp: fnv(&head),
            fp_len: head.len() as u32,
        })
    }

    /// Whether `self` (as recorded earlier, possibly over a shorter prefix)
    /// and `now` (just computed) are the same file: same device and inode,
    /// and `now`'s first `self.fp_len` bytes hash to `self.fp`. A file
    /// whose start was rewritten (copytruncate followed by new writes, or
    /// a reused inode) is not the same file.
    ///
    /// # Errors
    /// I/O errors reading `file`'s first bytes.
    pub fn same_file(&self, now: &FileId, file: &File) -> io::Result<bool> {
        if (self.dev, self.ino) != (now.dev, now.ino) || now.fp_len < self.fp_len {
            return Ok(false);
        }
        if now.fp_len == self.fp_len {
            return Ok(now.fp == self.fp);
        }
        let head = prefix(file)?;
        Ok(head
            .get(..self.fp_len as usize)
            .is_some_and(|p| fnv(p) == self.fp))
    }

    /// Whether `file` still starts with the bytes this identity was taken
    /// from (false after a copytruncate followed by new writes, even when
    /// the file has grown past the old read position).
    ///
    /// # Errors
    /// I/O errors reading the first bytes.
    pub fn still_starts(&self, file: &File) -> io::Result<bool> {
        let head = prefix(file)?;
        Ok(head
            .get(..self.fp_len as usize)
            .is_some_and(|p| fnv(p) == self.fp))
    }

    /// Whether `head` (a file's first bytes, from [`head_of`]) starts with
    /// the bytes this identity was taken from, on enough bytes to tell
    /// files apart: at least [`MIN_MATCH_BYTES`], or the whole of `head`.
    /// Log lines share their first bytes (`10.42.1.` of an access log): an
    /// identity taken when a file held a few bytes must not claim every
    /// file that starts alike (that would skip a generation never read).
    pub fn matches_head(&self, head: &[u8]) -> bool {
        let n = self.fp_len as usize;
        n > 0
            && (n >= MIN_MATCH_BYTES || n == head.len())
            && head.get(..n).is_some_and(|p| fnv(p) == self.fp)
    }

    /// Whether the fingerprint still covers less than [`FINGERPRINT_BYTES`]
    /// (the file was short), so it should be extended as the file grows.
    pub fn is_partial(&self) -> bool {
        (self.fp_len as usize) < FINGERPRINT_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sitepulse-id-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn rename_keeps_identity_and_short_files_grow_into_it() {
        let d = tmp("rename");
        let p = d.join("a.log");
        std::fs::write(&p, b"first line\n").unwrap();
        let f = File::open(&p).unwrap();
        let id = FileId::of(&f).unwrap();
        assert!(id.is_partial());
        assert_eq!(id.fp_len, 11);
        // Appends keep the identity (the recorded prefix still matches).
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(&[b'x'; 2000])
            .unwrap();
        let q = d.join("a.log.1");
        std::fs::rename(&p, &q).unwrap();
        let f2 = File::open(&q).unwrap();
        let now = FileId::of(&f2).unwrap();
        assert_eq!(now.fp_len as usize, FINGERPRINT_BYTES);
        assert!(id.same_file(&now, &f2).unwrap());
    }

    #[test]
    fn same_first_kib_different_files_and_rewritten_start() {
        let d = tmp("collide");
        let body = vec![b'a'; 4096];
        std::fs::write(d.join("x.log"), &body).unwrap();
        std::fs::write(d.join("y.log"), &body).unwrap();
        let x = File::open(d.join("x.log")).unwrap();
        let y = File::open(d.join("y.log")).unwrap();
        let (ix, iy) = (FileId::of(&x).unwrap(), FileId::of(&y).unwrap());
        assert_eq!(ix.fp, iy.fp);
        assert!(!ix.same_file(&iy, &y).unwrap(), "different inodes");
        // copytruncate, then different content: same inode, new file.
        std::fs::write(d.join("x.log"), b"new content after truncation").unwrap();
        let x2 = File::open(d.join("x.log")).unwrap();
        let now = FileId::of(&x2).unwrap();
        assert_eq!((now.dev, now.ino), (ix.dev, ix.ino));
        assert!(!ix.same_file(&now, &x2).unwrap());
    }

    #[test]
    fn a_short_fingerprint_claims_no_longer_file() {
        let d = tmp("short");
        let p = d.join("s.log");
        std::fs::write(&p, b"10.42.1.").unwrap();
        let id = FileId::of(&File::open(&p).unwrap()).unwrap();
        let other = b"10.42.1.7 - - [03/Dec/2026:10:00:00 +0000] GET /seq/1/2";
        assert!(!id.matches_head(other), "8 shared bytes say nothing");
        assert!(id.matches_head(b"10.42.1."), "the whole file matches");
        let long = vec![b'x'; 200];
        std::fs::write(&p, &long).unwrap();
        let id = FileId::of(&File::open(&p).unwrap()).unwrap();
        let mut grown = long.clone();
        grown.extend_from_slice(b"more");
        assert!(id.matches_head(&grown));
    }

    #[test]
    fn empty_file_matches_anything_it_grows_into() {
        let d = tmp("empty");
        let p = d.join("e.log");
        std::fs::write(&p, b"").unwrap();
        let id = FileId::of(&File::open(&p).unwrap()).unwrap();
        assert_eq!(id.fp_len, 0);
        std::fs::write(&p, b"hello\n").unwrap();
        let f = File::open(&p).unwrap();
        let now = FileId::of(&f).unwrap();
        assert!(id.same_file(&now, &f).unwrap());
    }
}

//! Finds the files to tail: include globs (with `**`), minus exclude
//! globs, one entry per file identity. A file reachable through several
//! paths — the kubelet's `/var/log/containers/*.log` symlinks point into
//! `/var/log/pods/` — is listed once, under its real (non-symlink) path
//! when that is matched too, so no line is read twice.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Globs that select files (`discover.include` / `exclude` in the config).
#[derive(Debug)]
pub struct Discovery {
    include: Vec<String>,
    exclude: Vec<glob::Pattern>,
}

/// A glob that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {pattern:?}: {message}")]
pub struct GlobError {
    /// `include` or `exclude`.
    pub field: &'static str,
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub message: String,
}

/// One file to tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The path to follow.
    pub path: PathBuf,
    /// `st_dev` of the file (after following symlinks).
    pub dev: u64,
    /// `st_ino` of the file (after following symlinks).
    pub ino: u64,
}

/// What a scan saw besides the files it returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Paths matched by an include glob.
    pub matched: u64,
    /// Matched paths dropped by an exclude glob.
    pub excluded: u64,
    /// Matched paths dropped as another path of an already listed file.
    pub duplicates: u64,
    /// Matched paths that could not be read (vanished, permissions).
    pub unreadable: u64,
}

impl Discovery {
    /// Compiles the globs.
    ///
    /// # Errors
    /// [`GlobError`] naming the first pattern that does not compile.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, GlobError> {
        let compile = |field: &'static str, p: &String| {
            glob::Pattern::new(p).map_err(|e| GlobError {
                field,
                pattern: p.clone(),
                message: e.to_string(),
            })
        };
        for p in include {
            compile("include", p)?;
        }
        let exclude = exclude
            .iter()
            .map(|p| compile("exclude", p))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            include: include.to_vec(),
            exclude,
        })
    }

    /// Lists the regular files the globs select now, sorted by path.
    pub fn scan(&self) -> (Vec<Found>, ScanStats) {
        let mut stats = ScanStats::default();
        // (dev, ino) → (found, reached through a symlink)
        let mut by_id: HashMap<(u64, u64), (Found, bool)> = HashMap::new();
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        for pattern in &self.include {
            let Ok(paths) = glob::glob_with(pattern, opts) else {
                continue; // compiled in `new`
            };
            for entry in paths {
                let Ok(path) = entry else {
                    stats.unreadable += 1;
                    continue;
                };
                stats.matched += 1;
                if self
                    .exclude
                    .iter()
                    .any(|x| x.matches_path_with(&path, opts))
                {
                    stats.excluded += 1;
                    continue;
                }
                let (Ok(meta), Ok(link)) =
                    (std::fs::metadata(&path), std::fs::symlink_metadata(&path))
                else {
                    stats.unreadable += 1;
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let is_link = link.file_type().is_symlink();
                let found = Found {
                    path,
                    dev: meta.dev(),
                    ino: meta.ino(),
                };
                match by_id.get_mut(&(found.dev, found.ino)) {
                    None => {
                        by_id.insert((found.dev, found.ino), (found, is_link));
                    }
                    Some(prev) => {
                        stats.duplicates += 1;
                        // Prefer the real path over a symlink to it.
                        if prev.1 && !is_link {
                            *prev = (found, false);
                        }
                    }
                }
            }
        }
        let mut files: Vec<Found> = by_id.into_values().map(|(f, _)| f).collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        (files, stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sitepulse-disc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn kubernetes_layout_lists_each_file_once() {
        let d = tmp("k8s");
        let pod = d.join("var/log/pods/shop_shop-php-7d9f_0b1c/php");
        std::fs::create_dir_all(&pod).unwrap();
        std::fs::write(pod.join("0.log"), b"x\n").unwrap();
        std::fs::write(pod.join("0.log.20261122-100000"), b"old\n").unwrap();
        let containers = d.join("var/log/containers");
        std::fs::create_dir_all(&containers).unwrap();
        std::os::unix::fs::symlink(
            pod.join("0.log"),
            containers.join("shop-php-7d9f_shop_php-abc.log"),
        )
        .unwrap();
        std::fs::write(containers.join("not-a-link.log"), b"y\n").unwrap();
        let root = d.display();
        let disc = Discovery::new(
            &[
                format!("{root}/var/log/containers/*.log"),
                format!("{root}/var/log/pods/*/*/*.log"),
            ],
            &[format!("{root}/**/not-*")],
        )
        .unwrap();
        let (files, stats) = disc.scan();
        let paths: Vec<String> = files
            .iter()
            .map(|f| f.path.strip_prefix(&d).unwrap().display().to_string())
            .collect();
        assert_eq!(paths, ["var/log/pods/shop_shop-php-7d9f_0b1c/php/0.log"]);
        assert_eq!(stats.duplicates, 1);
        assert_eq!(stats.excluded, 1);
        assert_eq!(stats.matched, 3);
    }

    #[test]
    fn double_star_and_symlink_only() {
        let d = tmp("star");
        std::fs::create_dir_all(d.join("a/b/c")).unwrap();
        std::fs::write(d.join("a/b/c/deep.log"), b"1\n").unwrap();
        std::fs::write(d.join("a/top.log"), b"2\n").unwrap();
        std::fs::create_dir_all(d.join("links")).unwrap();
        std::os::unix::fs::symlink(d.join("a/top.log"), d.join("links/top.log")).unwrap();
        let disc = Discovery::new(&[format!("{}/a/**/*.log", d.display())], &[]).unwrap();
        let (files, _) = disc.scan();
        assert_eq!(files.len(), 2);
        // Only the symlink is matched: it is followed.
        let disc = Discovery::new(&[format!("{}/links/*.log", d.display())], &[]).unwrap();
        let (files, _) = disc.scan();
        assert_eq!(files.len(), 1);
        assert!(files[0].path.ends_with("links/top.log"));
    }

    #[test]
    fn bad_globs_name_field_and_pattern() {
        let e = Discovery::new(&["/var/log/[".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("include: \"/var/log/[\""), "{e}");
        let e = Discovery::new(&[], &["***".into()])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("exclude: "), "{e}");
    }
}

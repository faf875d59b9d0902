//! Silences, as Alertmanager has them: matchers, a start and an end, who
//! made it and why. An alert every matcher of an active silence matches is
//! not notified (it stays visible, marked silenced). Silences are kept in
//! a small JSON file, written atomically on every change, so a restart
//! keeps them; expired ones are forgotten after `RETAIN_EXPIRED_SECS`.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::matcher::{Matcher, all_match};

/// Silences kept at most (active and recently expired): an API client
/// cannot grow memory without bound.
pub const MAX_SILENCES: usize = 10_000;

/// Expired silences are listed this long, then forgotten.
pub const RETAIN_EXPIRED_SECS: i64 = 5 * 86_400;

/// A silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Its id (16 hex digits).
    pub id: String,
    /// Every one must match an alert's labels.
    pub matchers: Vec<Matcher>,
    /// From (Unix seconds).
    pub starts_at: i64,
    /// Until (Unix seconds); an expired silence ends when it was expired.
    pub ends_at: i64,
    /// Who made it (the authenticated caller).
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// When it was made.
    pub created_at: i64,
    /// Who expired it early, if someone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_by: Option<String>,
}

impl Silence {
    /// `active`, `pending` (starts later) or `expired`.
    pub fn state(&self, now: i64) -> &'static str {
        if now >= self.ends_at {
            "expired"
        } else if now < self.starts_at {
            "pending"
        } else {
            "active"
        }
    }
}

/// What a caller asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewSilence {
    /// `["site=\"shop\"", "severity=\"ticket\""]`.
    pub matchers: Vec<Matcher>,
    /// Default: now.
    #[serde(default)]
    pub starts_at: Option<i64>,
    /// Required, after the start and after now.
    pub ends_at: i64,
    /// Required: why.
    pub comment: String,
}

/// A silence that cannot be made or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    /// The request is not a valid silence.
    #[error("{0}")]
    Invalid(String),
    /// No silence has this id.
    #[error("no silence {0}")]
    NotFound(String),
    /// [`MAX_SILENCES`] are kept already.
    #[error("{MAX_SILENCES} silences are kept already; expire some first")]
    Full,
    /// The file cannot be written (the change is not made).
    #[error("{0}")]
    Io(String),
}

/// Every silence, and where they are kept.
#[derive(Debug, Default)]
pub struct Silences {
    list: Vec<Silence>,
    path: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    silences: Vec<Silence>,
}

impl Silences {
    /// Silences kept in `path` (read back when it exists); `None`: in
    /// memory only.
    ///
    /// # Errors
    /// A file that exists but cannot be read or parsed.
    pub fn open(path: Option<&Path>) -> Result<Silences, SilenceError> {
        let mut s = Silences {
            list: Vec::new(),
            path: path.map(Path::to_owned),
        };
        if let Some(p) = path {
            match std::fs::read(p) {
                Ok(b) => {
                    let f: File = serde_json::from_slice(&b).map_err(|e| {
                        SilenceError::Io(format!("{}: not a silences file: {e}", p.display()))
                    })?;
                    s.list = f.silences;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(SilenceError::Io(format!("{}: {e}", p.display()))),
            }
        }
        Ok(s)
    }

    /// Adds a silence made by `by`; its id.
    ///
    /// # Errors
    /// An invalid request (no matcher, matchers that match every alert,
    /// an end not after the start or now, no comment), a full list, or a
    /// file that cannot be written.
    pub fn add(&mut self, new: NewSilence, by: &str, now: i64) -> Result<Silence, SilenceError> {
        let inv = |m: &str| Err(SilenceError::Invalid(m.to_owned()));
        if new.matchers.is_empty() {
            return inv("matchers: at least one");
        }
        // Alertmanager refuses silences whose matchers all match the empty
        // string: they would silence everything.
        let empty = BTreeMap::new();
        if new.matchers.iter().all(|m| m.matches(&empty)) {
            return inv(
                "matchers: at least one must not match an empty value (this would silence every alert)",
            );
        }
        let starts_at = new.starts_at.unwrap_or(now).max(now);
        if new.ends_at <= starts_at {
            return inv("endsAt: after startsAt and after now");
        }
        if new.comment.trim().is_empty() {
            return inv("comment: say why");
        }
        if new.comment.len() > 4096 {
            return inv("comment: at most 4096 bytes");
        }
        self.gc(now);
        if self.list.len() >= MAX_SILENCES {
            return Err(SilenceError::Full);
        }
        let s = Silence {
            id: new_id(now, self.list.len()),
            matchers: new.matchers,
            starts_at,
            ends_at: new.ends_at,
            created_by: by.to_owned(),
            comment: new.comment,
            created_at: now,
            expired_by: None,
        };
        self.list.push(s.clone());
        if let Err(e) = self.save() {
            self.list.pop();
            return Err(e);
        }
        Ok(s)
    }

    /// Ends a silence now.
    ///
    /// # Errors
    /// An unknown id, or a file that cannot be written.
    pub fn expire(&mut self, id: &str, by: &str, now: i64) -> Result<Silence, SilenceError> {
        let s = self
            .list
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| SilenceError::NotFound(id.to_owned()))?;
        let before = s.clone();
        if s.ends_at > now {
            s.ends_at = now;
            s.starts_at = s.starts_at.min(now);
            s.expired_by = Some(by.to_owned());
        }
        let after = s.clone();
        if let Err(e) = self.save() {
            if let Some(s) = self.list.iter_mut().find(|s| s.id == id) {
                *s = before;
            }
            return Err(e);
        }
        Ok(after)
    }

    /// Every silence kept.
    pub fn list(&self) -> &[Silence] {
        &self.list
    }

    /// Ids of the active silences that match `labels`.
    pub fn silencing(&self, labels: &BTreeMap<String, String>, now: i64) -> Vec<String> {
        self.list
            .iter()
            .filter(|s| s.state(now) == "active" && all_match(&s.matchers, labels))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Forgets silences expired more than [`RETAIN_EXPIRED_SECS`] ago.
    pub fn gc(&mut self, now: i64) {
        self.list.retain(|s| s.ends_at > now - RETAIN_EXPIRED_SECS);
    }

    fn save(&self) -> Result<(), SilenceError> {
        let Some(p) = &self.path else {
            return Ok(());
        };
        let body = serde_json::to_vec_pretty(&File {
            version: 1,
            silences: self.list.clone(),
        })
        .map_err(|e| SilenceError::Io(e.to_string()))?;
        super::write_atomically(p, &body)
            .map_err(|e| SilenceError::Io(format!("{}: {e}", p.display())))
    }
}

fn new_id(now: i64, n: usize) -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now);
    h.write_usize(n);
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::labels;

    fn new(matchers: &[&str], ends_at: i64) -> NewSilence {
        NewSilence {
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            starts_at: None,
            ends_at,
            comment: "deploying".into(),
        }
    }

    #[test]
    fn silences_match_expire_and_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("sitepulse-silences-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("silences.json");
        let mut s = Silences::open(Some(&p)).unwrap();
        let a = s.add(new(&["site=\"shop\""], 2000), "alice", 1000).unwrap();
        let shop = labels(&[("site", "shop"), ("severity", "page")]);
        assert_eq!(s.silencing(&shop, 1500), std::slice::from_ref(&a.id));
        assert!(s.silencing(&labels(&[("site", "blog")]), 1500).is_empty());
        assert!(s.silencing(&shop, 2000).is_empty(), "ended");
        let s2 = Silences::open(Some(&p)).unwrap();
        assert_eq!(s2.list(), s.list());
        let e = s.expire(&a.id, "bob", 1200).unwrap();
        assert_eq!((e.ends_at, e.expired_by.as_deref()), (1200, Some("bob")));
        assert!(s.silencing(&shop, 1300).is_empty());
        assert_eq!(
            s.expire("nope", "bob", 1),
            Err(SilenceError::NotFound("nope".into()))
        );
        s.gc(1200 + RETAIN_EXPIRED_SECS + 1);
        assert!(s.list().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_silences_are_refused() {
        let mut s = Silences::open(None).unwrap();
        for (n, why) in [
            (new(&[], 2000), "matchers"),
            (new(&["site=~\".*\""], 2000), "every alert"),
            (new(&["site=\"a\""], 900), "endsAt"),
            (
                NewSilence {
                    comment: " ".into(),
                    ..new(&["site=\"a\""], 2000)
                },
                "comment",
            ),
        ] {
            let e = s.add(n, "x", 1000).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
        assert!(s.list().is_empty());
    }
}

//! Alerts from SLO burn and deploy outcomes, and what happens to them
//! before a notifier sees them: [`matcher`]s, [`silence`]s and
//! [`inhibit`]ion rules, Alertmanager's vocabulary.

pub mod dispatch;
pub mod inhibit;
pub mod matcher;
pub mod silence;
pub mod state;

use std::io::Write;
use std::path::Path;

/// Writes `body` to `path` through `<path>.tmp`, `sync_all` and a rename,
/// then syncs the directory.
///
/// # Errors
/// The I/O error.
pub fn write_atomically(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(body).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        // A full disk, say: no half-written temporary file is left behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(d)?.sync_all()?;
    }
    Ok(())
}

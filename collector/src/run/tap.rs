//! `--tap FILE`: every record appended as a JSON line with its dedup key
//! (`dev:ino:first-line-hash:end-offset`), made durable before each
//! checkpoint save so a checkpoint never passes a record the tap lost.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::output;
use sitepulse_pipeline::record::Record;
use sitepulse_pipeline::{Observer, Origin};

/// The tap: every record as a JSON line with its dedup key. Lines are
/// written whole (a `write(2)` per 256 KiB of complete lines), so a crash
/// leaves at most one torn line at the end, which the next start closes
/// with a `\n` before appending.
pub(crate) struct Tap {
    out: File,
    pending: Vec<u8>,
    scratch: Vec<u8>,
}

const TAP_WRITE_BYTES: usize = 256 * 1024;

impl Tap {
    pub(crate) fn open(path: &Path) -> io::Result<Tap> {
        let mut out = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let len = out.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            out.read_exact_at(&mut last, len - 1)?;
            if last[0] != b'\n' {
                out.write_all(b"\n")?;
            }
        }
        Ok(Tap {
            out,
            pending: Vec::with_capacity(TAP_WRITE_BYTES + 4096),
            scratch: Vec::with_capacity(4096),
        })
    }

    /// Writes the complete lines held; on error they stay held (and the
    /// checkpoint does not move) until a later write succeeds.
    fn write_pending(&mut self) -> io::Result<()> {
        self.out.write_all(&self.pending)?;
        self.pending.clear();
        Ok(())
    }
}

/// The pipeline thread's observer: writes the tap, if there is one.
pub(crate) struct TapObserver {
    pub(crate) tap: Option<Tap>,
    /// `dev:ino:head:` of the stream being fed.
    pub(crate) key: String,
    pub(crate) errors: u64,
}

impl Observer for TapObserver {
    fn record(&mut self, origin: &Origin<'_>, rec: &Record<'_>, _site: SiteId, site_name: &str) {
        let Some(tap) = &mut self.tap else {
            return;
        };
        tap.scratch.clear();
        output::write_record(
            &mut tap.scratch,
            rec,
            &output::Origin::of(origin, site_name),
        );
        let end = origin.message.end_offset;
        let _ = write!(tap.pending, "{{\"key\":\"{}{end}\",", self.key);
        tap.pending.extend_from_slice(&tap.scratch[1..]);
        if tap.pending.len() >= TAP_WRITE_BYTES && tap.write_pending().is_err() {
            self.errors += 1;
        }
    }
}

impl TapObserver {
    /// Makes everything written so far durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if let Some(tap) = &mut self.tap {
            tap.write_pending()?;
            tap.out.sync_data()?;
        }
        Ok(())
    }
}

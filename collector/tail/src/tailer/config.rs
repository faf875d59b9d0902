//! The `tail:` section: which files, where reading starts, how often to
//! look, and how much is in flight.

use serde::Deserialize;

use super::{TailError, Tailer};
use crate::checkpoint::CheckpointCorrupt;

/// `tail:` section: which files, where to start, how often to look.
///
/// `F` is what the binary attaches to each source (its log format); the
/// tailer never reads it and tells the sink which source a file matched by
/// index instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    bound(deserialize = "F: Deserialize<'de> + Default")
)]
pub struct TailConfig<F = ()> {
    /// Globs to tail, each with an optional format.
    pub sources: Vec<SourceConfig<F>>,
    /// Globs never tailed, whatever source matches them.
    pub exclude: Vec<String>,
    /// Where files already present at the very first start are read from.
    pub read_existing: ReadExisting,
    /// Files not modified for this long are not read until they change
    /// (0 = no limit).
    pub ignore_older_secs: u64,
    /// Full sweep: rediscover files and check every one for rotation.
    pub rescan_secs: u64,
    /// Wake on inotify events (otherwise poll every `poll_ms`).
    pub inotify: bool,
    /// Poll interval for files no inotify watch covers.
    pub poll_ms: u64,
    /// inotify events are gathered for up to this long and then handled
    /// together (fewer wakeups on busy nodes; the added latency).
    pub notify_latency_ms: u64,
    /// How long a rotated-away file stays open after it stopped growing.
    pub linger_secs: u64,
    /// Checkpoint file; `auto` is `/var/lib/sitepulse/checkpoints.json`
    /// when that directory is writable, else
    /// `$XDG_STATE_HOME/sitepulse/checkpoints.json` (`~/.local/state`).
    pub checkpoint_path: String,
    /// A checkpoint file that does not parse at start: `quarantine` moves
    /// it to `<path>.corrupt-<unix seconds>` and starts as on a first start
    /// (`read_existing` applies); `fail` refuses to start. One of another
    /// format version always refuses.
    pub checkpoint_corrupt: CheckpointCorrupt,
    /// How often checkpoints are written (and at shutdown).
    pub checkpoint_interval_ms: u64,
    /// Checkpoint entries of files no longer open are dropped after this.
    pub forget_after_secs: u64,
    /// Read buffer per open file.
    pub read_buffer_bytes: usize,
    /// File descriptors tailing may hold at most (current files and
    /// rotated ones being drained); past it, files read to their end give
    /// theirs back and new ones wait their turn. 0: no limit of its own
    /// (`sitepulse run` sets it from `RLIMIT_NOFILE`, keeping what HTTP and
    /// checkpoints need).
    pub max_open_files: u64,
    /// A file read to its end and not written for this long gives its
    /// descriptor and buffer back; it is reopened by identity when it
    /// changes (Filebeat's `close_inactive`). 0: never.
    pub close_inactive_secs: u64,
    /// Bytes of lines handed over per batch.
    pub batch_bytes: usize,
    /// Batches in flight between reading and parsing; when they are all
    /// taken, reading waits (backpressure).
    pub queue_batches: usize,
}

impl<F: Default> Default for TailConfig<F> {
    fn default() -> Self {
        Self {
            sources: default_sources(),
            exclude: vec!["/var/log/pods/*_sitepulse-*/**".into()],
            read_existing: ReadExisting::End,
            ignore_older_secs: 86_400,
            rescan_secs: 60,
            inotify: true,
            poll_ms: 250,
            notify_latency_ms: 100,
            linger_secs: 30,
            checkpoint_path: "auto".into(),
            checkpoint_corrupt: CheckpointCorrupt::Quarantine,
            checkpoint_interval_ms: 1000,
            forget_after_secs: 86_400,
            read_buffer_bytes: 64 * 1024,
            max_open_files: 0,
            close_inactive_secs: 300,
            batch_bytes: 256 * 1024,
            queue_batches: 32,
        }
    }
}

/// The Kubernetes node layout plus the usual host paths of Traefik,
/// nginx, PHP-FPM and WordPress.
fn default_sources<F: Default>() -> Vec<SourceConfig<F>> {
    let src = |globs: &[&str]| SourceConfig {
        include: globs.iter().map(|g| (*g).to_owned()).collect(),
        exclude: Vec::new(),
        format: F::default(),
        multiline: None,
    };
    vec![
        src(&["/var/log/pods/*/*/*.log", "/var/log/containers/*.log"]),
        src(&["/var/log/traefik/*.log"]),
        src(&["/var/log/nginx/*.log"]),
        src(&["/var/log/php*-fpm.log", "/var/log/php-fpm/*.log"]),
        src(&[
            "/var/www/*/wp-content/debug.log",
            "/var/www/*/*/wp-content/debug.log",
        ]),
    ]
}

/// One `tail.sources` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "F: Deserialize<'de> + Default")
)]
pub struct SourceConfig<F = ()> {
    /// Globs (`*`, `?`, `[..]`, `**`) of files to tail.
    pub include: Vec<String>,
    /// Globs this source leaves out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Format of these files (`auto` when absent): the binary's; opaque
    /// to the tailer.
    #[serde(default)]
    pub format: F,
    /// How these files' lines join into records (`parse.multiline` when
    /// absent): carried for the pipeline, opaque to the tailer.
    #[serde(default)]
    pub multiline: Option<sitepulse_lines::MultilineConfig>,
}

impl<F> TailConfig<F> {
    /// Checks every setting and compiles every glob.
    ///
    /// # Errors
    /// [`TailError::Invalid`] for a value out of range (or a source
    /// without include globs), [`TailError::Glob`] for a glob that does not
    /// compile.
    pub fn validate(&self) -> Result<(), TailError> {
        let invalid = |field: &str, message: String| {
            Err(TailError::Invalid {
                field: field.to_owned(),
                message,
            })
        };
        let ranges: [(&str, u64, u64, u64); 8] = [
            ("close_inactive_secs", self.close_inactive_secs, 0, 86_400),
            ("rescan_secs", self.rescan_secs, 1, 3600),
            ("poll_ms", self.poll_ms, 10, 60_000),
            ("notify_latency_ms", self.notify_latency_ms, 1, 10_000),
            (
                "checkpoint_interval_ms",
                self.checkpoint_interval_ms,
                10,
                3_600_000,
            ),
            (
                "read_buffer_bytes",
                self.read_buffer_bytes as u64,
                4096,
                64 << 20,
            ),
            ("batch_bytes", self.batch_bytes as u64, 4096, 64 << 20),
            ("queue_batches", self.queue_batches as u64, 1, 4096),
        ];
        for (field, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return invalid(field, format!("must be between {lo} and {hi}, got {v}"));
            }
        }
        if self.checkpoint_path.is_empty() {
            return invalid("checkpoint_path", "must be a file path or auto".into());
        }
        for (i, src) in self.sources.iter().enumerate() {
            if src.include.is_empty() {
                return invalid("sources", format!("entry {i} has no include globs"));
            }
        }
        Tailer::check_globs(self)
    }

    /// The same settings without the per-source payload.
    pub fn without_formats(&self) -> TailConfig {
        TailConfig {
            sources: self
                .sources
                .iter()
                .map(|s| SourceConfig {
                    include: s.include.clone(),
                    exclude: s.exclude.clone(),
                    format: (),
                    multiline: s.multiline.clone(),
                })
                .collect(),
            exclude: self.exclude.clone(),
            read_existing: self.read_existing,
            ignore_older_secs: self.ignore_older_secs,
            rescan_secs: self.rescan_secs,
            inotify: self.inotify,
            poll_ms: self.poll_ms,
            notify_latency_ms: self.notify_latency_ms,
            linger_secs: self.linger_secs,
            checkpoint_path: self.checkpoint_path.clone(),
            checkpoint_corrupt: self.checkpoint_corrupt,
            checkpoint_interval_ms: self.checkpoint_interval_ms,
            forget_after_secs: self.forget_after_secs,
            read_buffer_bytes: self.read_buffer_bytes,
            max_open_files: self.max_open_files,
            close_inactive_secs: self.close_inactive_secs,
            batch_bytes: self.batch_bytes,
            queue_batches: self.queue_batches,
        }
    }
}

/// Where files present at the first start are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadExisting {
    /// Only lines written from now on (the default: a first start on a
    /// busy node does not replay days of logs).
    #[default]
    End,
    /// Everything in them.
    Beginning,
}

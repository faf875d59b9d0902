//! How lines join into multi-line records, as configured (globally under
//! `parse.multiline`, per source under `tail.sources[].multiline`). Plain
//! data: the pipeline compiles it (`frame::Multiline`), the tailer carries
//! it per source without knowing what it means.

use serde::Deserialize;

/// Which joining applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultilineMode {
    /// A known multi-line format's own rule (PHP-FPM slow log, WordPress
    /// `debug.log`); for lines of no known format, the common stack-trace
    /// shapes (Java, Python, Go, PHP).
    #[default]
    Auto,
    /// Every line is a record.
    Off,
    /// `start_pattern` / `continue_pattern` (regular expressions).
    Custom,
}

/// Multi-line joining settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultilineConfig {
    /// `auto` (default), `off` or `custom`.
    pub mode: MultilineMode,
    /// `custom`: a line matching this starts a record.
    pub start_pattern: Option<String>,
    /// `custom`: a line matching this continues the open record.
    pub continue_pattern: Option<String>,
    /// Lines in one record at most; the next starts a new record.
    pub max_lines: u32,
    /// How long an open record waits for its next line before it is
    /// handed on as complete (tailing only; a file's end flushes at once).
    pub max_wait_ms: u64,
}

impl Default for MultilineConfig {
    fn default() -> Self {
        MultilineConfig {
            mode: MultilineMode::Auto,
            start_pattern: None,
            continue_pattern: None,
            max_lines: 500,
            max_wait_ms: 1000,
        }
    }
}

impl MultilineConfig {
    /// Checks the settings other than the patterns' syntax (which the
    /// pipeline compiles): `(field, message)` for the first wrong one.
    ///
    /// # Errors
    /// A range or a missing pattern.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=100_000).contains(&self.max_lines) {
            return Err((
                "max_lines",
                format!("must be between 1 and 100000, got {}", self.max_lines),
            ));
        }
        if !(1..=600_000).contains(&self.max_wait_ms) {
            return Err((
                "max_wait_ms",
                format!("must be between 1 and 600000, got {}", self.max_wait_ms),
            ));
        }
        let has_pattern = self.start_pattern.is_some() || self.continue_pattern.is_some();
        match self.mode {
            MultilineMode::Custom if !has_pattern => Err((
                "mode",
                "custom needs start_pattern or continue_pattern".to_owned(),
            )),
            MultilineMode::Auto | MultilineMode::Off if has_pattern => Err((
                "start_pattern",
                "patterns apply only with mode: custom".to_owned(),
            )),
            _ => Ok(()),
        }
    }
}

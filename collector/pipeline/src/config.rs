//! The pipeline's own config sections (`parse:`, `sites:`, `aggregate:`)
//! and their validation. The binary reads the file and names lines; this
//! module says which field is wrong and why.

use serde::Deserialize;

use crate::aggregate::{AggregateConfig, Aggregator};
use crate::label::{Labeler, SitesConfig};
use crate::record::LogFormat;

/// Everything [`Pipeline::new`](crate::Pipeline::new) needs.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    /// `parse:`: framing and format of the inputs.
    pub parse: ParseConfig,
    /// `sites:`: how records map to sites.
    pub sites: SitesConfig,
    /// `aggregate:`: the per-site windows.
    pub aggregate: AggregateConfig,
}

/// A field of the pipeline's sections that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigFieldError {
    /// Dotted path of the field (`parse.max_line_bytes`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl PipelineConfig {
    /// Checks every value the stages would reject.
    ///
    /// # Errors
    /// The first [`ConfigFieldError`] found.
    pub fn validate(&self) -> Result<(), ConfigFieldError> {
        let invalid = |field: &str, message: String| ConfigFieldError {
            field: field.to_owned(),
            message,
        };
        if !(1024..=64 * 1024 * 1024).contains(&self.parse.max_line_bytes) {
            return Err(invalid(
                "parse.max_line_bytes",
                format!(
                    "must be between 1024 and 67108864, got {}",
                    self.parse.max_line_bytes
                ),
            ));
        }
        if !(1..=10_000).contains(&self.parse.detect_lines) {
            return Err(invalid(
                "parse.detect_lines",
                format!(
                    "must be between 1 and 10000, got {}",
                    self.parse.detect_lines
                ),
            ));
        }
        if let Err(e) = crate::join::JoinRule::compile(&self.parse.multiline) {
            return Err(invalid(&format!("parse.multiline.{}", e.field), e.message));
        }
        if let Err(e) = Labeler::new(&self.sites) {
            let msg = e.to_string();
            let (field, rest) = msg.split_once(": ").unwrap_or(("sites", msg.as_str()));
            return Err(invalid(field, rest.to_owned()));
        }
        if let Err(e) = Aggregator::new(&self.aggregate) {
            return Err(invalid(&format!("aggregate.{}", e.field), e.message));
        }
        Ok(())
    }
}

/// A format name or `auto` (detect per file from its first lines). The
/// names are [`LogFormat::name`]'s, so the list lives in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum FormatChoice {
    /// Detect from the first `detect_lines` lines of each file.
    #[default]
    Auto,
    /// Every file is this format.
    Fixed(LogFormat),
}

impl FormatChoice {
    /// The fixed source, `None` for `auto`.
    pub fn source(self) -> Option<LogFormat> {
        match self {
            FormatChoice::Auto => None,
            FormatChoice::Fixed(s) => Some(s),
        }
    }

    /// `auto` or a [`LogFormat::name`].
    ///
    /// # Errors
    /// A message listing the accepted names.
    pub fn from_name(name: &str) -> Result<FormatChoice, String> {
        if name == "auto" {
            return Ok(FormatChoice::Auto);
        }
        LogFormat::from_name(name)
            .map(FormatChoice::Fixed)
            .ok_or_else(|| {
                let names: Vec<&str> = LogFormat::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown format {name:?}; expected auto or one of: {}",
                    names.join(", ")
                )
            })
    }
}

impl TryFrom<String> for FormatChoice {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        FormatChoice::from_name(&name)
    }
}

/// Container framing, or `auto` (detect per file from its first line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FramingChoice {
    /// Detect: CRI, Docker json-file, or plain lines.
    #[default]
    Auto,
    /// Plain lines.
    Raw,
    /// containerd / CRI-O `<time> <stream> <P|F> <msg>`.
    Cri,
    /// Docker json-file `{"log":…,"stream":…,"time":…}`.
    Docker,
}

/// `parse:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParseConfig {
    /// Log format of every file, or `auto`.
    pub format: FormatChoice,
    /// Container framing of every file, or `auto`.
    pub framing: FramingChoice,
    /// Lines longer than this are truncated (and counted).
    pub max_line_bytes: usize,
    /// How many leading lines format detection looks at.
    pub detect_lines: usize,
    /// How lines join into multi-line records, for every file whose tail
    /// source does not set its own.
    pub multiline: crate::join::MultilineConfig,
}

impl Default for ParseConfig {
    fn default() -> Self {
        Self {
            format: FormatChoice::Auto,
            framing: FramingChoice::Auto,
            max_line_bytes: 256 * 1024,
            detect_lines: 32,
            multiline: crate::join::MultilineConfig::default(),
        }
    }
}

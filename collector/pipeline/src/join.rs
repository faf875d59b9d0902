//! Which multi-line rule a file's lines get: the configured
//! [`MultilineConfig`] (global, or a tail source's own), compiled once,
//! applied to the format detected for the file.

use std::sync::Arc;

use regex::bytes::Regex;
pub use sitepulse_lines::{MultilineConfig, MultilineMode};

use crate::frame::{CustomRule, Multiline};
use crate::parse;
use crate::record::LogFormat;

/// A compiled [`MultilineConfig`].
#[derive(Debug, Clone)]
pub struct JoinRule {
    mode: MultilineMode,
    custom: Option<Arc<CustomRule>>,
    /// Lines in one record at most.
    pub max_lines: u32,
    /// How long an open record waits for its next line (tailing).
    pub max_wait_ms: u64,
}

impl Default for JoinRule {
    fn default() -> Self {
        // The default settings have no pattern: compiling cannot fail.
        JoinRule::compile(&MultilineConfig::default()).unwrap_or(JoinRule {
            mode: MultilineMode::Auto,
            custom: None,
            max_lines: 500,
            max_wait_ms: 1000,
        })
    }
}

/// A multi-line setting that is wrong: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct JoinConfigError {
    /// The key under `multiline`.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl JoinRule {
    /// Compiles the patterns and checks the ranges.
    ///
    /// # Errors
    /// [`JoinConfigError`] naming the key.
    pub fn compile(cfg: &MultilineConfig) -> Result<Self, JoinConfigError> {
        cfg.check()
            .map_err(|(field, message)| JoinConfigError { field, message })?;
        let re = |field: &'static str, p: &Option<String>| {
            p.as_deref()
                .map(Regex::new)
                .transpose()
                .map_err(|e| JoinConfigError {
                    field,
                    message: e.to_string(),
                })
        };
        let custom = match cfg.mode {
            MultilineMode::Custom => Some(Arc::new(CustomRule {
                start: re("start_pattern", &cfg.start_pattern)?,
                continues: re("continue_pattern", &cfg.continue_pattern)?,
            })),
            _ => None,
        };
        Ok(JoinRule {
            mode: cfg.mode,
            custom,
            max_lines: cfg.max_lines,
            max_wait_ms: cfg.max_wait_ms,
        })
    }

    /// The rule for a file detected as `source` (`None`: not detected).
    pub fn for_source(&self, source: Option<LogFormat>) -> Multiline {
        match (self.mode, &self.custom) {
            (MultilineMode::Off, _) => Multiline::Off,
            (MultilineMode::Custom, Some(c)) => Multiline::Custom(Arc::clone(c)),
            _ => match source.and_then(parse::record_start) {
                Some(starts) => Multiline::Starts(starts),
                None if source.is_none_or(|s| s == LogFormat::Text) => Multiline::Auto,
                None => Multiline::Off,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_by_mode_and_format() {
        let auto = JoinRule::default();
        assert!(matches!(
            auto.for_source(Some(LogFormat::Text)),
            Multiline::Auto
        ));
        assert!(matches!(
            auto.for_source(Some(LogFormat::Nginx)),
            Multiline::Off
        ));
        assert!(matches!(
            auto.for_source(Some(LogFormat::WordPress)),
            Multiline::Starts(_)
        ));
        let off = JoinRule::compile(&MultilineConfig {
            mode: MultilineMode::Off,
            ..MultilineConfig::default()
        })
        .unwrap();
        assert!(matches!(
            off.for_source(Some(LogFormat::WordPress)),
            Multiline::Off
        ));
        let custom = MultilineConfig {
            mode: MultilineMode::Custom,
            start_pattern: Some("^\\[".into()),
            ..MultilineConfig::default()
        };
        let rule = JoinRule::compile(&custom).unwrap();
        assert!(matches!(
            rule.for_source(Some(LogFormat::Nginx)),
            Multiline::Custom(_)
        ));
    }

    #[test]
    fn errors_name_the_key() {
        let bad = MultilineConfig {
            mode: MultilineMode::Custom,
            continue_pattern: Some("(".into()),
            ..MultilineConfig::default()
        };
        assert_eq!(
            JoinRule::compile(&bad).unwrap_err().field,
            "continue_pattern"
        );
        let none = MultilineConfig {
            mode: MultilineMode::Custom,
            ..MultilineConfig::default()
        };
        assert_eq!(JoinRule::compile(&none).unwrap_err().field, "mode");
        let zero = MultilineConfig {
            max_lines: 0,
            ..MultilineConfig::default()
        };
        assert_eq!(JoinRule::compile(&zero).unwrap_err().field, "max_lines");
    }
}

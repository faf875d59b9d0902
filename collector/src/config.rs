//! The YAML config file, assembled from each crate's sections: `parse`,
//! `sites` and `aggregate` are the pipeline's, `tail` the tailer's (with
//! a log format per source), `server` the HTTP server's. Every field is
//! defaulted so an empty file (or none: the embedded [`DEFAULT_YAML`])
//! works. Each crate validates its own section; this module reads the file
//! and names the line of the field a crate rejected.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sitepulse_pipeline::aggregate::AggregateConfig;
use sitepulse_pipeline::label::SitesConfig;
use sitepulse_pipeline::{FormatChoice, ParseConfig, PipelineConfig};
use sitepulse_tail::{TailConfig, TailError};

use crate::serve::ServerConfig;

/// The config used when no `--config` is given.
pub const DEFAULT_YAML: &str = include_str!("default.yaml");

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How lines are framed and parsed.
    pub parse: ParseConfig,
    /// How records are mapped to sites.
    pub sites: SitesConfig,
    /// Per-site windows.
    pub aggregate: AggregateConfig,
    /// Which files `run` tails and how, with each source's log format.
    pub tail: TailConfig<FormatChoice>,
    /// `run`'s HTTP endpoints.
    pub server: ServerConfig,
}

/// A config that cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// YAML syntax, an unknown field, or a value of the wrong type.
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    /// A value that parses but cannot be used.
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
}

impl Config {
    /// The pipeline's sections.
    pub fn pipeline(&self) -> PipelineConfig {
        PipelineConfig {
            parse: self.parse.clone(),
            sites: self.sites.clone(),
            aggregate: self.aggregate.clone(),
        }
    }

    /// The embedded default config.
    ///
    /// # Panics
    /// Only if the embedded default is invalid, which a unit test rules out.
    pub fn embedded() -> Config {
        Config::from_yaml(Path::new("<embedded default>"), DEFAULT_YAML)
            .expect("the embedded default config is valid")
    }

    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, line and field.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Config::from_yaml(path, &text)
    }

    /// Parses and validates YAML text; `path` is only used in errors.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, line and field.
    pub fn from_yaml(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: e.to_string(),
            })?
        };
        cfg.validate(path, text)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line: line_of(text, field),
            field: field.to_owned(),
            message,
        };
        if let Err(e) = self.pipeline().validate() {
            return Err(invalid(&e.field, e.message));
        }
        if let Err(e) = self.server.validate() {
            return Err(invalid(&format!("server.{}", e.field), e.message));
        }
        match self.tail.validate() {
            Ok(()) => {}
            Err(TailError::Glob { section, source }) => {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    line: line_of_glob(text, &section),
                    field: format!("tail.{section}"),
                    message: format!("{:?}: {}", source.pattern, source.message),
                });
            }
            Err(TailError::Invalid { field, message }) => {
                return Err(invalid(&format!("tail.{field}"), message));
            }
        }
        for (i, source) in self.tail.sources.iter().enumerate() {
            if let Some(m) = &source.multiline
                && let Err(e) = sitepulse_pipeline::join::JoinRule::compile(m)
            {
                return Err(invalid(
                    &format!("tail.sources[{i}].multiline.{}", e.field),
                    e.message,
                ));
            }
        }
        Ok(())
    }
}
/// The 1-based line where a dotted field (`sites.router_pattern`) is set,
/// found by walking the YAML's indentation; 0 when it is not in the text
/// (a default value).
fn line_of(text: &str, dotted: &str) -> usize {
    let mut want = dotted.split('.').peekable();
    let mut indent: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let ind = line.len() - body.len();
        if indent.is_some_and(|i| ind <= i) {
            // Left the section we were inside of.
            return 0;
        }
        let Some(key) = want.peek() else { break };
        let k = body.trim_start_matches("- ");
        if k.strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with(':'))
        {
            want.next();
            if want.peek().is_none() {
                return n + 1;
            }
            indent = Some(ind);
        }
    }
    0
}

/// The line of a glob list in the `tail:` section: `exclude`, or
/// `sources[i].include` / `sources[i].exclude` (the i-th list item under
/// `sources:`); 0 when not written out.
fn line_of_glob(text: &str, section: &str) -> usize {
    let Some(rest) = section.strip_prefix("sources[") else {
        return line_of(text, &format!("tail.{section}"));
    };
    let Some((index, key)) = rest.split_once("].") else {
        return 0;
    };
    let (Ok(index), start) = (index.parse::<usize>(), line_of(text, "tail.sources")) else {
        return 0;
    };
    if start == 0 {
        return 0;
    }
    let mut item = None;
    for (n, line) in text.lines().enumerate().skip(start) {
        let body = line.trim_start();
        if body.starts_with("- ") {
            item = Some(item.map_or(0, |i| i + 1));
        }
        if item == Some(index)
            && body
                .trim_start_matches("- ")
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        {
            return n + 1;
        }
        if item.is_some_and(|i| i > index) {
            break;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use sitepulse_pipeline::record::LogFormat;

    #[test]
    fn embedded_default_is_valid_and_matches_defaults() {
        let cfg = Config::embedded();
        assert_eq!(cfg.parse.max_line_bytes, 256 * 1024);
        assert_eq!(cfg.sites.max_sites, 2000);
        assert_eq!(cfg.aggregate.retention_secs, 3600);
        // The embedded file documents the defaults: it must spell them exactly.
        assert_eq!(format!("{cfg:?}"), format!("{:?}", Config::default()));
        assert!(Config::from_yaml(Path::new("x"), "").is_ok());
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let text = "parse:\n  format: auto\n  max_line_byte: 10\n";
        let e = Config::from_yaml(Path::new("/etc/sitepulse.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/sitepulse.yaml: "), "{e}");
        assert!(e.contains("max_line_byte"), "{e}");
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn bad_value_type_names_line() {
        let text = "sites:\n  max_sites: lots\n";
        let e = Config::from_yaml(Path::new("c.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn invalid_value_names_line_and_field() {
        let text = "# comment\nparse:\n  format: nginx\nsites:\n  max_sites: 100\n  router_pattern: \"(\"\n";
        let e = Config::from_yaml(Path::new("c.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yaml:6: sites.router_pattern: "), "{e}");
        let text = "parse:\n  max_line_bytes: 10\n";
        let e = Config::from_yaml(Path::new("c.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yaml:2: parse.max_line_bytes: "), "{e}");
        let text = "aggregate:\n  retention_secs: 7\n";
        let e = Config::from_yaml(Path::new("c.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yaml:2: aggregate.retention_secs: "), "{e}");
    }

    #[test]
    fn multiline_per_source_and_its_errors() {
        let ok = "tail:\n  sources:\n    - include: [/x/*.log]\n      multiline:\n        mode: custom\n        start_pattern: '^\\['\n        max_lines: 50\n";
        let cfg = Config::from_yaml(Path::new("c.yaml"), ok).unwrap();
        let m = cfg.tail.sources[0].multiline.as_ref().unwrap();
        assert_eq!(
            (m.max_lines, m.start_pattern.as_deref()),
            (50, Some("^\\["))
        );
        let bad = ok.replace("'^\\['", "'('");
        let e = Config::from_yaml(Path::new("c.yaml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tail.sources[0].multiline.start_pattern"), "{e}");
        let global = "parse:\n  multiline:\n    mode: off\n    max_wait_ms: 0\n";
        let e = Config::from_yaml(Path::new("c.yaml"), global)
            .unwrap_err()
            .to_string();
        assert!(e.contains("parse.multiline.max_wait_ms"), "{e}");
        let unknown = "parse:\n  multiline:\n    mode: off\n    max_line: 3\n";
        assert!(Config::from_yaml(Path::new("c.yaml"), unknown).is_err());
    }

    #[test]
    fn format_names_come_from_sources() {
        let cfg = Config::from_yaml(Path::new("c.yaml"), "parse:\n  format: wordpress\n").unwrap();
        assert_eq!(cfg.parse.format.source(), Some(LogFormat::WordPress));
        let e = Config::from_yaml(Path::new("c.yaml"), "parse:\n  format: apache\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("unknown format \"apache\""),
            "{e}"
        );
    }

    #[test]
    fn line_of_walks_sections() {
        let t = "a:\n  x: 1\nb:\n  x: 2\n  y:\n    z: 3\n";
        assert_eq!(line_of(t, "b.x"), 4);
        assert_eq!(line_of(t, "b.y.z"), 6);
        assert_eq!(line_of(t, "a.y"), 0);
    }
}

//! The YAML config file: one struct per section, every field defaulted so an
//! empty file (or none: the embedded [`DEFAULT_YAML`]) works. Loading
//! validates everything the later stages need, and every error names the
//! file, the line and the field.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::aggregate::{AggregateConfig, Aggregator};
use crate::label::{Labeler, SitesConfig};
use crate::record::Source;
use crate::tail::TailConfig;

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
    /// Which files `run` tails and how.
    pub tail: TailConfig,
    /// `run`'s HTTP endpoints.
    pub server: ServerConfig,
}

/// `server:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the HTTP endpoints (`/api/v1/sites`, `/api/v1/status`,
    /// `/metrics`); loopback unless set otherwise. Port 0 picks a free one.
    pub listen: String,
    /// After SIGTERM/SIGINT: how long to finish in-flight batches and
    /// write checkpoints before exiting anyway.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".into(),
            shutdown_grace_secs: 10,
        }
    }
}

/// A format name or `auto` (detect per file from its first lines). The
/// names are [`Source::name`]'s, so the list lives in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum FormatChoice {
    /// Detect from the first `detect_lines` lines of each file.
    #[default]
    Auto,
    /// Every file is this format.
    Fixed(Source),
}

impl FormatChoice {
    /// The fixed source, `None` for `auto`.
    pub fn source(self) -> Option<Source> {
        match self {
            FormatChoice::Auto => None,
            FormatChoice::Fixed(s) => Some(s),
        }
    }

    /// `auto` or a [`Source::name`].
    ///
    /// # Errors
    /// A message listing the accepted names.
    pub fn from_name(name: &str) -> Result<FormatChoice, String> {
        if name == "auto" {
            return Ok(FormatChoice::Auto);
        }
        Source::from_name(name)
            .map(FormatChoice::Fixed)
            .ok_or_else(|| {
                let names: Vec<&str> = Source::ALL.iter().map(|s| s.name()).collect();
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
}

impl Default for ParseConfig {
    fn default() -> Self {
        Self {
            format: FormatChoice::Auto,
            framing: FramingChoice::Auto,
            max_line_bytes: 256 * 1024,
            detect_lines: 32,
        }
    }
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
        if let Err(e) = Labeler::new(&self.sites) {
            let msg = e.to_string();
            let (field, rest) = msg.split_once(": ").unwrap_or(("sites", msg.as_str()));
            return Err(invalid(field, rest.to_owned()));
        }
        if let Err(e) = Aggregator::new(&self.aggregate) {
            return Err(invalid(&format!("aggregate.{}", e.field), e.message));
        }
        if let Err(e) = self.server.listen.parse::<std::net::SocketAddr>() {
            return Err(invalid(
                "server.listen",
                format!("{:?} is not an address:port: {e}", self.server.listen),
            ));
        }
        let t = &self.tail;
        let ranges: [(&str, u64, u64, u64); 7] = [
            ("tail.rescan_secs", t.rescan_secs, 1, 3600),
            ("tail.poll_ms", t.poll_ms, 10, 60_000),
            ("tail.notify_latency_ms", t.notify_latency_ms, 1, 10_000),
            (
                "tail.checkpoint_interval_ms",
                t.checkpoint_interval_ms,
                10,
                3_600_000,
            ),
            (
                "tail.read_buffer_bytes",
                t.read_buffer_bytes as u64,
                4096,
                64 << 20,
            ),
            ("tail.batch_bytes", t.batch_bytes as u64, 4096, 64 << 20),
            ("tail.queue_batches", t.queue_batches as u64, 1, 4096),
        ];
        for (field, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(invalid(
                    field,
                    format!("must be between {lo} and {hi}, got {v}"),
                ));
            }
        }
        if t.checkpoint_path.is_empty() {
            return Err(invalid(
                "tail.checkpoint_path",
                "must be a file path or auto".into(),
            ));
        }
        for (i, src) in t.sources.iter().enumerate() {
            if src.include.is_empty() {
                return Err(invalid(
                    "tail.sources",
                    format!("entry {i} has no include globs"),
                ));
            }
        }
        if let Err(crate::tail::TailError::Glob { section, source }) =
            crate::tail::Tailer::check_globs(t)
        {
            let field = format!("tail.{section}");
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                line: line_of_glob(text, &section),
                field,
                message: format!("{:?}: {}", source.pattern, source.message),
            });
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
    fn format_names_come_from_sources() {
        let cfg = Config::from_yaml(Path::new("c.yaml"), "parse:\n  format: wordpress\n").unwrap();
        assert_eq!(cfg.parse.format.source(), Some(Source::WordPress));
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

//! Where the binary's log goes and how it looks: stderr, as text for a
//! terminal or `journalctl`, or as one JSON object per line (the
//! `tracing-subscriber` JSON formatter, fields flattened to the top level)
//! for a log shipper.
//!
//! What is logged: `--log-level` when given, else `SITEPULSE_LOG`, else
//! the command's default (`info` for `run`, `warn` for the others). Both
//! take a level (`error`, `warn`, `info`, `debug`, `trace`) or a full
//! `EnvFilter` directive (`info,sitepulse_tail=debug`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colours on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the
    /// message and every field at the top level.
    Json,
}

/// The environment variable holding a filter directive.
pub const ENV: &str = "SITEPULSE_LOG";

/// Checks a `--log-level` value (for clap).
///
/// # Errors
/// Why the directive does not parse.
pub fn parse_level(s: &str) -> Result<String, String> {
    EnvFilter::try_new(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("not a level or filter directive: {e}"))
}

/// Installs the subscriber.
///
/// # Errors
/// `SITEPULSE_LOG` is set but does not parse (a usage error).
pub fn init(format: LogFormat, level: Option<&str>, default: &str) -> Result<(), String> {
    let directive = match level {
        Some(l) => l.to_owned(),
        None => match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => {
                EnvFilter::try_new(&v).map_err(|e| format!("{ENV}={v:?}: {e}"))?;
                v
            }
            _ => default.to_owned(),
        },
    };
    let filter = EnvFilter::try_new(&directive).map_err(|e| format!("{directive:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests that call in twice) keeps the first.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    Ok(())
}

//! Parsers, one module per log format. Each exposes
//! `fn parse(line: &[u8]) -> Result<Record<'_>, ParseError>` that borrows
//! from the line and never panics on any bytes; this module adds per-file
//! format detection and dispatch. Helpers shared by several formats live
//! in their own modules ([`clf`] for the Common Log Format head, [`php`]
//! for PHP's error logger) so no format imports another.

#[cfg(test)]
pub(crate) mod test_support;

pub(crate) mod clf;
pub mod fpm_access;
pub mod fpm_error;
pub mod fpm_slow;
pub mod nginx;
pub(crate) mod php;
pub mod text;
pub mod traefik_app;
pub mod traefik_clf;
pub mod traefik_json;
pub mod wordpress;

pub use crate::field::{Field, ParseError};
use crate::frame::RecordStart;
use crate::record::{LogFormat, Record};

/// The line without its trailing `\r` / `\n` bytes.
#[inline]
pub(crate) fn trim_eol(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = b {
        b = rest;
    }
    b
}

/// Parses one line (or one joined multi-line block) as `source`.
///
/// # Errors
/// The parser's [`ParseError`]; never panics on any bytes.
///
/// # Performance
/// A `match` and a direct call; the parsers allocate nothing.
#[inline]
pub fn parse(source: LogFormat, line: &[u8]) -> Result<Record<'_>, ParseError> {
    match source {
        LogFormat::TraefikClf => traefik_clf::parse(line),
        LogFormat::TraefikJson => traefik_json::parse(line),
        LogFormat::Nginx => nginx::parse(line),
        LogFormat::FpmError => fpm_error::parse(line),
        LogFormat::FpmSlow => fpm_slow::parse(line),
        LogFormat::FpmAccess => fpm_access::parse(line),
        LogFormat::WordPress => wordpress::parse(line),
        LogFormat::TraefikApp => traefik_app::parse(line),
        LogFormat::Text => Ok(text::parse(line)),
    }
}

/// How records of a multi-line `source` start (a line that does not start
/// one continues the previous record); `None` for single-line sources.
/// The framer joins lines with it without knowing any format.
pub fn record_start(source: LogFormat) -> Option<RecordStart> {
    match source {
        LogFormat::FpmSlow => Some(fpm_slow::starts_record),
        LogFormat::WordPress => Some(wordpress::starts_record),
        _ => None,
    }
}

/// Detects the format of a file from its first lines: each candidate parses
/// the sample and the one that accepts the most lines wins (ties go to nginx,
/// then the order of [`LogFormat::ALL`]). Returns `None` when no parser accepts
/// any line.
///
/// Multi-line formats are tried on the sample split at record starts, so a
/// slow-log block or a stack trace counts as one accepted record.
pub fn detect<'a>(lines: impl IntoIterator<Item = &'a [u8]> + Clone) -> Option<LogFormat> {
    // Plain `combined` lines are both nginx and Traefik's genericCLF; on a
    // tie, call them nginx (full Traefik CLF lines fail the nginx parser on
    // their router/service tail, so Traefik still wins when it is Traefik).
    // Traefik's app log comes after its access log: a JSON access line is
    // refused by the app parser anyway, and a tie goes to the earlier one.
    // `Text` is no candidate: it accepts every line and is the driver's
    // fallback when nothing here does.
    const ORDER: [LogFormat; 8] = [
        LogFormat::Nginx,
        LogFormat::TraefikClf,
        LogFormat::TraefikJson,
        LogFormat::FpmError,
        LogFormat::FpmSlow,
        LogFormat::FpmAccess,
        LogFormat::WordPress,
        LogFormat::TraefikApp,
    ];
    let mut best: Option<(LogFormat, usize)> = None;
    for source in ORDER {
        let (mut ok, mut total) = (0usize, 0usize);
        if let Some(starts) = record_start(source) {
            // Join physical lines into blocks the way the framer will.
            let mut block: Vec<u8> = Vec::new();
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            for line in lines.clone() {
                if starts(line) && !block.is_empty() {
                    blocks.push(std::mem::take(&mut block));
                }
                if !block.is_empty() {
                    block.push(b'\n');
                }
                block.extend_from_slice(line);
            }
            if !block.is_empty() {
                blocks.push(block);
            }
            ok = blocks.iter().filter(|b| parse(source, b).is_ok()).count();
            total = blocks.len();
        } else {
            for line in lines.clone() {
                total += 1;
                if parse(source, line).is_ok() {
                    ok += 1;
                }
            }
        }
        // Any Go program logs through logrus or zerolog: Traefik's app log
        // needs a line only Traefik writes.
        if source == LogFormat::TraefikApp
            && !lines.clone().into_iter().any(traefik_app::is_traefik)
        {
            continue;
        }
        // A format that reads only a stray line of a file of another shape
        // is not the file's format (its lines would all come out as errors);
        // a quarter is enough for a container mixing an access and an error log.
        if ok > 0 && ok * 4 >= total && best.is_none_or(|(_, n)| ok > n) {
            best = Some((source, ok));
        }
    }
    best.map(|(s, _)| s)
}

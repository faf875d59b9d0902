//! `parse` and `replay`: files (or stdin) through the pipeline without
//! tailing, for checking a format and measuring the hot path.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use sitepulse::config::Config;
use sitepulse::{report, unix_now};
use sitepulse_pipeline::frame::Stream;
use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::output::{self, write_record};
use sitepulse_pipeline::record::Record;
use sitepulse_pipeline::{FileReport, FormatChoice, NoObserver, Observer, Origin, Pipeline};

pub fn load_config(path: Option<&Path>, format: Option<FormatChoice>) -> Result<Config> {
    let mut cfg = match path {
        Some(p) => Config::load(p)?,
        None => Config::embedded(),
    };
    if let Some(f) = format {
        cfg.parse.format = f;
    }
    Ok(cfg)
}

/// Prints records as JSON lines to a buffered stdout; remembers the first
/// write error (a closed pipe ends the output quietly).
struct JsonOut<W: Write> {
    out: W,
    buf: Vec<u8>,
    error: Option<io::Error>,
}

impl<W: Write> JsonOut<W> {
    fn flush_buf(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&self.buf)
        {
            self.error = Some(e);
        }
        self.buf.clear();
    }
}

impl<W: Write> Observer for JsonOut<W> {
    fn record(&mut self, origin: &Origin<'_>, rec: &Record<'_>, _site: SiteId, site_name: &str) {
        let o = output::Origin {
            site: site_name,
            file: origin.name,
            offset: origin.message.end_offset,
            stream: match origin.message.stream {
                Stream::Unknown => "",
                s => s.name(),
            },
        };
        write_record(&mut self.buf, rec, &o);
        if self.buf.len() > 64 * 1024 {
            self.flush_buf();
        }
    }
}

pub fn cmd_parse(
    config: Option<&Path>,
    format: Option<FormatChoice>,
    files: &[PathBuf],
) -> Result<ExitCode> {
    let cfg = load_config(config, format)?;
    let mut pipeline = Pipeline::new(&cfg.pipeline(), unix_now())?;
    let mut reports = Vec::new();
    let mut out = JsonOut {
        out: io::stdout().lock(),
        buf: Vec::new(),
        error: None,
    };
    let files = if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    };
    for path in &files {
        reports.push(run_one(&mut pipeline, path, &mut out, None, 0)?);
        out.flush_buf();
    }
    out.out.flush().ok();
    if let Some(e) = out.error
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return Err(e).context("writing to stdout");
    }
    eprint!("{}", report::parse_summary(&reports));
    let records: u64 = reports.iter().map(|r| r.records).sum();
    Ok(if records == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_one(
    pipeline: &mut Pipeline,
    path: &Path,
    obs: &mut impl Observer,
    bar: Option<&ProgressBar>,
    base: u64,
) -> Result<FileReport> {
    let mut tick = |done: u64| {
        if let Some(b) = bar {
            b.set_position(base + done);
        }
    };
    pipeline.refresh_clock(unix_now());
    if path == Path::new("-") {
        return Ok(pipeline.process("-", None, io::stdin().lock(), obs, &mut tick)?);
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let name = path.display().to_string();
    pipeline
        .process(&name, Some(path), file, obs, &mut tick)
        .with_context(|| format!("reading {}", path.display()))
}

pub fn cmd_replay(
    config: Option<&Path>,
    format: Option<FormatChoice>,
    top: usize,
    files: &[PathBuf],
) -> Result<ExitCode> {
    let cfg = load_config(config, format)?;
    let mut pipeline = Pipeline::new(&cfg.pipeline(), unix_now())?;
    let files = &expand(files)?;
    let total_bytes: u64 = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(total_bytes);
        b.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let started = Instant::now();
    let mut reports = Vec::new();
    let mut base = 0u64;
    for path in files {
        let report = run_one(&mut pipeline, path, &mut NoObserver, bar.as_ref(), base)?;
        base += report.bytes;
        reports.push(report);
    }
    let elapsed = started.elapsed();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let table = report::replay_table(&pipeline, &reports, elapsed, top);
    let mut out = io::stdout().lock();
    out.write_all(table.as_bytes()).ok();
    Ok(ExitCode::SUCCESS)
}

/// Replaces directories by the files under them (recursively, sorted), so
/// `replay collector/samples` replays a whole sample tree.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            let mut found = Vec::new();
            while let Some(dir) = stack.pop() {
                for entry in
                    std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
                {
                    let path = entry?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        found.push(path);
                    }
                }
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

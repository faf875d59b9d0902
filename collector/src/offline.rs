//! `parse` and `replay`: files (or stdin) through the pipeline without
//! tailing, for checking a format and measuring the hot path.

use std::collections::HashSet;
use std::fmt::Display;
use std::fs::{self, File, FileType, Metadata};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use sitepulse::config::Config;
use sitepulse::slo::replay::SloReplay;
use sitepulse::{report, unix_now};
use sitepulse_alerting::engine::SloEngine;
use sitepulse_pipeline::field::ParseError;
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
    /// `--show-errors`: how many failing lines may still be printed.
    show_errors: u64,
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
        let o = output::Origin::of(origin, site_name);
        if let Some(err) = rec.error
            && self.show_errors > 0
        {
            self.show_errors -= 1;
            eprintln!("{}", show_error(&o, err, origin.message.bytes));
        }
        write_record(&mut self.buf, rec, &o);
        if self.buf.len() > 64 * 1024 {
            self.flush_buf();
        }
    }
}

/// One `--show-errors` line: `file:offset: reason: line` (the line cut at
/// 300 bytes, invalid UTF-8 shown lossily).
fn show_error(o: &output::Origin<'_>, err: ParseError, line: &[u8]) -> String {
    const SHOWN: usize = 300;
    let cut = &line[..line.len().min(SHOWN)];
    let more = if line.len() > SHOWN { "…" } else { "" };
    format!(
        "{}:{}: {} ({err}): {}{more}",
        o.file,
        o.offset,
        err.reason(),
        String::from_utf8_lossy(cut)
    )
}

pub fn cmd_parse(
    config: Option<&Path>,
    format: Option<FormatChoice>,
    show_errors: u64,
    files: &[PathBuf],
) -> Result<ExitCode> {
    let cfg = load_config(config, format)?;
    let mut pipeline = Pipeline::new(&cfg.pipeline(), unix_now())?;
    let mut reports = Vec::new();
    let mut out = JsonOut {
        out: io::stdout().lock(),
        buf: Vec::new(),
        error: None,
        show_errors,
    };
    let files = if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    };
    let mut skips = Skips::default();
    for path in &files {
        match run_one(&mut pipeline, path, &mut out, None, 0, None) {
            Ok(report) => reports.push(report),
            Err(why) => skips.report(path, why, None),
        }
        out.flush_buf();
    }
    out.out.flush().ok();
    if let Some(e) = out.error
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        // A failure after the start: 1, not the usage/config 2.
        eprintln!("sitepulse: writing to stdout: {e}");
        return Ok(ExitCode::from(1));
    }
    eprint!("{}", report::parse_summary(&reports));
    if files.len() > 1 || skips.count > 0 {
        eprintln!("{}", skips.summary(reports.len()));
    }
    // Every line is a record; "nothing parsed" is when none parsed as its
    // file's format (all came out as `text` with an error).
    let parsed: u64 = reports
        .iter()
        .map(|r| r.records.saturating_sub(r.unparsed_total()))
        .sum();
    Ok(if skips.count > 0 {
        ExitCode::from(EXIT_SKIPPED)
    } else if parsed == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Exit status when some input could not be read (the rest was): the same
/// code as any other error, since the output is incomplete.
const EXIT_SKIPPED: u8 = 2;

/// Inputs not read, each reported on stderr when found.
#[derive(Default)]
struct Skips {
    count: usize,
}

impl Skips {
    fn report(&mut self, path: &Path, why: impl Display, bar: Option<&ProgressBar>) {
        self.count += 1;
        let msg = format!("sitepulse: skipping {}: {why}", path.display());
        match bar {
            Some(b) => b.suspend(|| eprintln!("{msg}")),
            None => eprintln!("{msg}"),
        }
    }

    fn summary(&self, read: usize) -> String {
        format!("files: {read} read, {} skipped", self.count)
    }
}

/// What a path is, found with `stat` rather than `open`: opening a FIFO
/// blocks until a writer comes.
enum Kind {
    File,
    Dir(Metadata),
    /// Neither: a FIFO, socket or device, named for the message.
    Other(&'static str),
}

/// Follows symlinks; the error names a dangling link or a loop as such.
fn kind(path: &Path) -> Result<Kind, String> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            let link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            return Err(match (link, e.kind()) {
                (true, io::ErrorKind::NotFound) => format!("dangling symlink ({e})"),
                (true, _) => format!("symlink cannot be followed ({e})"),
                (false, _) => e.to_string(),
            });
        }
    };
    let ft = meta.file_type();
    Ok(if ft.is_file() {
        Kind::File
    } else if ft.is_dir() {
        Kind::Dir(meta)
    } else {
        Kind::Other(describe(ft))
    })
}

fn describe(ft: FileType) -> &'static str {
    if ft.is_fifo() {
        "a FIFO, not a regular file"
    } else if ft.is_socket() {
        "a socket, not a regular file"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device, not a regular file"
    } else {
        "not a regular file"
    }
}

/// Runs one file (or stdin, `-`) through the pipeline. A path that is not a
/// regular file is refused before it is opened.
///
/// # Errors
/// Why the path was not read, or not to its end, for the caller to report.
fn run_one(
    pipeline: &mut Pipeline,
    path: &Path,
    obs: &mut impl Observer,
    bar: Option<&ProgressBar>,
    base: u64,
    slo: Option<&mut SloReplay>,
) -> Result<FileReport, String> {
    let mut tick = |done: u64| {
        if let Some(b) = bar {
            b.set_position(base + done);
        }
    };
    pipeline.refresh_clock(unix_now());
    if path == Path::new("-") {
        return match slo {
            Some(r) => r.process(pipeline, "-", None, io::stdin().lock()),
            None => pipeline.process("-", None, io::stdin().lock(), obs, &mut tick),
        }
        .map_err(|e| format!("reading stdin: {e}"));
    }
    match kind(path)? {
        Kind::File => {}
        Kind::Dir(_) => return Err("a directory (replay walks directories)".into()),
        Kind::Other(what) => return Err(what.into()),
    }
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    // Replaced since the stat above? Check what was opened.
    match file.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(m) => return Err(describe(m.file_type()).into()),
        Err(e) => return Err(format!("cannot stat: {e}")),
    }
    let name = path.display().to_string();
    match slo {
        Some(r) => r.process(pipeline, &name, Some(path), file),
        None => pipeline.process(&name, Some(path), file, obs, &mut tick),
    }
    .map_err(|e| format!("read failed: {e}"))
}

pub fn cmd_replay(
    config: Option<&Path>,
    format: Option<FormatChoice>,
    top: usize,
    slo: bool,
    files: &[PathBuf],
) -> Result<ExitCode> {
    let cfg = load_config(config, format)?;
    let mut pipeline = Pipeline::new(&cfg.pipeline(), unix_now())?;
    let mut slo = if slo {
        let set = cfg
            .slo
            .load()
            .map_err(|e| anyhow::anyhow!("slo.{}: {}", e.field, e.message))?;
        Some(SloReplay::new(SloEngine::new(set, None)))
    } else {
        None
    };
    let mut skips = Skips::default();
    let files = &expand(files, &mut skips);
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
        match run_one(
            &mut pipeline,
            path,
            &mut NoObserver,
            bar.as_ref(),
            base,
            slo.as_mut(),
        ) {
            Ok(report) => {
                base += report.bytes;
                reports.push(report);
            }
            Err(why) => skips.report(path, why, bar.as_ref()),
        }
    }
    let elapsed = started.elapsed();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut table = report::replay_table(&pipeline, &reports, elapsed, top);
    if let Some(r) = &mut slo {
        r.finish(&pipeline);
        table.push('\n');
        table.push_str(&r.table());
    }
    let mut out = io::stdout().lock();
    out.write_all(table.as_bytes()).ok();
    out.flush().ok();
    eprintln!("{}", skips.summary(reports.len()));
    Ok(if skips.count > 0 {
        ExitCode::from(EXIT_SKIPPED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Replaces directories by the regular files under them (recursively,
/// sorted), so `replay collector/samples` replays a whole sample tree.
/// Anything else (FIFO, socket, device, dangling or looping symlink, a
/// directory that cannot be listed) is reported to `skips` and left out;
/// `-` (stdin) and named files pass through, checked when opened.
fn expand(paths: &[PathBuf], skips: &mut Skips) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(p.clone());
            continue;
        }
        match kind(p) {
            Ok(Kind::Dir(meta)) => {
                let mut found = walk(p, &meta, skips);
                found.sort();
                out.extend(found);
            }
            _ => out.push(p.clone()),
        }
    }
    out
}

/// The regular files under `root`. Symlinks are followed, but a directory
/// is walked once, known by device and inode, so a link back up the tree
/// ends instead of recursing forever.
fn walk(root: &Path, meta: &Metadata, skips: &mut Skips) -> Vec<PathBuf> {
    let mut seen = HashSet::from([(meta.dev(), meta.ino())]);
    let mut stack = vec![root.to_path_buf()];
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                skips.report(&dir, format!("cannot list directory: {e}"), None);
                continue;
            }
        };
        for entry in entries {
            let path = match entry {
                Ok(entry) => entry.path(),
                Err(e) => {
                    skips.report(&dir, format!("listing stopped: {e}"), None);
                    break;
                }
            };
            match kind(&path) {
                Ok(Kind::File) => found.push(path),
                Ok(Kind::Dir(m)) => {
                    if seen.insert((m.dev(), m.ino())) {
                        stack.push(path);
                    } else {
                        eprintln!(
                            "sitepulse: not walking {} again: a directory already walked (a symlink loop or a second link)",
                            path.display()
                        );
                    }
                }
                Ok(Kind::Other(what)) => skips.report(&path, what, None),
                Err(why) => skips.report(&path, why, None),
            }
        }
    }
    found
}

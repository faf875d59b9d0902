//! The `sitepulse` binary: wires the pipeline to the command line. Errors
//! from the library are typed; here they become `anyhow` chains and an exit
//! code.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

mod bin_run;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use sitepulse::config::{Config, FormatChoice};
use sitepulse::frame::Stream;
use sitepulse::label::SiteId;
use sitepulse::output::{self, write_record};
use sitepulse::pipeline::{FileReport, NoObserver, Observer, Origin, Pipeline};
use sitepulse::record::Record;
use sitepulse::report;

#[derive(Parser)]
#[command(
    name = "sitepulse",
    version,
    about = "Per-site observability for WordPress hosting farms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse log lines and print one JSON object per record; a summary of
    /// records and unparsed lines by reason goes to stderr. Reads stdin when
    /// no file is given.
    Parse {
        /// Force a format instead of detecting it per file.
        #[arg(long, value_parser = FormatChoice::from_name)]
        format: Option<FormatChoice>,
        /// Config file (defaults to the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Files to read (`-` for stdin).
        files: Vec<PathBuf>,
    },
    /// Run files through parse → label → aggregate and print a per-site
    /// table sorted by traffic, then totals and throughput.
    Replay {
        /// Config file (defaults to the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Force a format instead of detecting it per file.
        #[arg(long, value_parser = FormatChoice::from_name)]
        format: Option<FormatChoice>,
        /// Rows in the site table (0 = all).
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// Files to replay; a directory stands for every file under it.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Tail the configured log files and keep per-site state live, served
    /// on /api/v1/sites, /api/v1/status and /metrics; checkpoints make a
    /// restart resume where the last run stopped.
    Run {
        /// Config file (defaults to the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// HTTP address (overrides server.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Append every record as a JSON line with its dedup key
        /// ("dev:ino:first-line-hash:end-offset") to this file.
        #[arg(long)]
        tap: Option<PathBuf>,
        /// Demo: a bundled writer appends live Traefik, PHP-FPM and
        /// WordPress logs to DIR (default: $TMPDIR/sitepulse-demo), which
        /// is tailed instead of the configured sources; the busiest sites
        /// are printed every 2 s.
        #[arg(long, num_args = 0..=1, default_missing_value = "auto", value_name = "DIR")]
        demo: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Parse {
            format,
            config,
            files,
        } => cmd_parse(config.as_deref(), format, &files),
        Command::Replay {
            config,
            format,
            top,
            files,
        } => cmd_replay(config.as_deref(), format, top, &files),
        Command::Run {
            config,
            listen,
            tap,
            demo,
        } => load_config(config.as_deref(), None).and_then(|cfg| {
            let demo = demo.map(|d| {
                if d.as_os_str() == "auto" {
                    std::env::temp_dir().join("sitepulse-demo")
                } else {
                    d
                }
            });
            bin_run::cmd_run(cfg, bin_run::RunOpts { listen, tap, demo })
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sitepulse: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_config(path: Option<&Path>, format: Option<FormatChoice>) -> Result<Config> {
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

fn cmd_parse(
    config: Option<&Path>,
    format: Option<FormatChoice>,
    files: &[PathBuf],
) -> Result<ExitCode> {
    let cfg = load_config(config, format)?;
    let mut pipeline = Pipeline::new(&cfg)?;
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
    if path == Path::new("-") {
        return Ok(pipeline.process("-", None, io::stdin().lock(), obs, &mut tick)?);
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let name = path.display().to_string();
    pipeline
        .process(&name, Some(path), file, obs, &mut tick)
        .with_context(|| format!("reading {}", path.display()))
}

fn cmd_replay(
    config: Option<&Path>,
    format: Option<FormatChoice>,
    top: usize,
    files: &[PathBuf],
) -> Result<ExitCode> {
    let cfg = load_config(config, format)?;
    let mut pipeline = Pipeline::new(&cfg)?;
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

//! `gen-corpus`: writes a seeded log corpus of a WordPress hosting farm to a
//! file or stdout and prints what it wrote to stderr; `--sample-dir` writes
//! the small per-format sample set instead.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use sitepulse_benches::{
    CorpusConfig, DEFAULT_START_UNIX_SECS, Format, Framing, generate, write_samples,
};

/// Generate a deterministic log corpus (Traefik, nginx, PHP-FPM, WordPress,
/// application logs) for benchmarks and tests.
#[derive(Debug, Parser)]
#[command(name = "gen-corpus", version)]
struct Args {
    /// traefik_clf, traefik_json, nginx, fpm_access, fpm_error, fpm_slow, wordpress or text.
    #[arg(long, value_parser = parse_format, required_unless_present = "sample_dir")]
    format: Option<Format>,
    /// Records to write (lines; blocks/entries for fpm_slow, wordpress and text).
    #[arg(long, default_value_t = 100_000)]
    lines: u64,
    /// Number of sites (site001.example.com ...).
    #[arg(long, default_value_t = 500)]
    sites: usize,
    /// PRNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Records per second of event time [default: 300 for access logs,
    /// 2 fpm_error, 0.5 fpm_slow, 5 wordpress, 100 text].
    #[arg(long)]
    rps: Option<f64>,
    /// Event time of the first record, Unix seconds (default 2026-11-22T10:00:00Z).
    #[arg(long, default_value_t = DEFAULT_START_UNIX_SECS)]
    start: i64,
    /// none, cri (Kubernetes /var/log/pods) or docker (json-file).
    #[arg(long, default_value = "none", value_parser = parse_framing)]
    framing: Framing,
    /// Longest line content in one CRI/Docker record before splitting.
    #[arg(long, default_value_t = 16 * 1024)]
    max_line_bytes: usize,
    /// Only this site, one-based (7 = site007), as in a per-pod file.
    #[arg(long)]
    site: Option<usize>,
    /// No incident (5xx burst) on two popular sites.
    #[arg(long)]
    no_incidents: bool,
    /// Output file, or - for stdout.
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Write one sample file per format and framing into this directory instead.
    #[arg(long, conflicts_with = "format")]
    sample_dir: Option<PathBuf>,
    /// Do not print stats.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!("unknown format {s:?}; one of {}", names.join(", "))
    })
}

fn parse_framing(s: &str) -> Result<Framing, String> {
    Framing::from_name(s).ok_or_else(|| format!("unknown framing {s:?}; one of none, cri, docker"))
}

fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    if let Some(dir) = &args.sample_dir {
        let files = write_samples(dir, args.seed)
            .with_context(|| format!("writing samples into {}", dir.display()))?;
        if !args.quiet {
            for f in &files {
                eprintln!(
                    "{}: {} {} records, {} lines, {} bytes",
                    f.path.display(),
                    f.stats.format,
                    f.stats.records,
                    f.stats.lines,
                    f.stats.bytes
                );
            }
        }
        return Ok(());
    }
    let Some(format) = args.format else {
        bail!("--format is required");
    };
    let only_site = match args.site {
        Some(0) => bail!("--site is one-based: 1 is site001"),
        Some(n) => Some(n - 1),
        None => None,
    };
    let cfg = CorpusConfig {
        seed: args.seed,
        sites: args.sites,
        lines: args.lines,
        start_unix_secs: args.start,
        rps: args.rps,
        format,
        framing: args.framing,
        max_line_bytes: args.max_line_bytes,
        only_site,
        incidents: !args.no_incidents,
        ..CorpusConfig::default()
    };
    let stats = if args.out.as_os_str() == "-" {
        let stdout = io::stdout();
        let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
        let stats = generate(&cfg, &mut out)?;
        out.flush()?;
        stats
    } else {
        let file =
            File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let stats =
            generate(&cfg, &mut out).with_context(|| format!("writing {}", args.out.display()))?;
        out.flush()?;
        stats
    };
    if !args.quiet {
        let secs = started.elapsed().as_secs_f64();
        eprint!("{stats}");
        eprintln!(
            "generated in {secs:.2} s: {:.0} records/s, {:.0} MiB/s",
            stats.records as f64 / secs,
            stats.bytes as f64 / secs / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-corpus: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! The `sitepulse` binary: wires the pipeline to the command line. Errors
//! from the library are typed; here they become `anyhow` chains and an exit
//! code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sitepulse_pipeline::FormatChoice;

mod bin_run;
mod offline;

use offline::{cmd_parse, cmd_replay, load_config};

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
    /// no file is given. A path that is not a readable regular file (missing,
    /// unreadable, a FIFO, a broken symlink) is named on stderr and skipped.
    /// Exit status: 0, 1 when no record parsed, 2 when a path was skipped or
    /// on a config error.
    Parse {
        /// Force a format instead of detecting it per file.
        #[arg(long, value_parser = FormatChoice::from_name)]
        format: Option<FormatChoice>,
        /// Config file (defaults to the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the first N lines that did not parse as their file's
        /// format to stderr, each with its file, offset, field and reason.
        #[arg(long, value_name = "N", default_value_t = 0)]
        show_errors: u64,
        /// Files to read (`-` for stdin).
        files: Vec<PathBuf>,
    },
    /// Run files through parse → label → aggregate and print a per-site
    /// table sorted by traffic, then totals and throughput. Paths that are
    /// not readable regular files are named on stderr and skipped; the exit
    /// status is then 2, as for a config error.
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
        /// Files to replay; a directory stands for every regular file under
        /// it (symlinks followed, each directory walked once).
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
            show_errors,
            files,
        } => cmd_parse(config.as_deref(), format, show_errors, &files),
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

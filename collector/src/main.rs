//! The `sitepulse` binary: wires the pipeline to the command line. Errors
//! from the library are typed; here they become `anyhow` chains and an exit
//! code.
//!
//! Exit codes (docs/cli.md): 0 success; 1 the command started but failed
//! (`run`: the last checkpoint was not written or shutdown overran its
//! grace; `parse`: nothing parsed, or stdout failed; `validate`: the
//! config has problems); 2 nothing was done: a usage error (clap's), a
//! config error, or a start that failed (an input or checkpoint that
//! cannot be read, an address that cannot be bound). A command returns
//! `Err` only for the latter; failures after a start are exit codes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use sitepulse::config::{self, summary};
use sitepulse_pipeline::FormatChoice;

mod bin_run;
mod logging;
mod offline;
mod rules_cmd;

use logging::LogFormat;
use offline::{cmd_parse, cmd_replay, load_config};

#[derive(Parser)]
#[command(
    name = "sitepulse",
    version,
    about = "Per-site observability for WordPress hosting farms",
    after_help = "Exit status: 0 success, 1 failure after a start (or validate found problems), 2 usage or config error. Documentation: docs/cli.md, docs/config.md."
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// What is logged: a level (error, warn, info, debug, trace) or an
    /// EnvFilter directive (info,sitepulse_tail=debug). Overrides
    /// SITEPULSE_LOG; the default is info for run, warn otherwise.
    #[arg(long, global = true, value_name = "LEVEL", value_parser = logging::parse_level)]
    log_level: Option<String>,
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
        /// Evaluate the SLOs (the config's slo.specs) as the lines' own
        /// time goes by, and print when each would have paged, opened a
        /// ticket or recovered.
        #[arg(long)]
        slo: bool,
        /// Files to replay; a directory stands for every regular file under
        /// it (symlinks followed, each directory walked once).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Tail the configured log files and keep per-site state live, served
    /// on /api/v1/sites, /api/v1/status and /metrics; checkpoints make a
    /// restart resume where the last run stopped. SIGTERM or SIGINT stops
    /// it (checkpoint saved); SIGHUP reloads the config file.
    Run {
        /// Config file (defaults to the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// HTTP address (overrides server.listen): IP:PORT, HOST:PORT,
        /// [IPv6]:PORT or :PORT (every IPv4 interface).
        #[arg(long, value_name = "ADDR")]
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
    /// Check a config file: list every problem (file:line:column: field:
    /// what is allowed) and exit 1, or print what `run` would do with it
    /// and exit 0. Without --config, the embedded default is checked.
    Validate {
        /// Config file (defaults to the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Prometheus rules for the SLOs: `rules generate` writes recording and
    /// alerting rules with Sloth's names (slo:sli_error:ratio_rate5m,
    /// slo:period_error_budget_remaining:ratio, ...) equivalent to what
    /// `run` evaluates, for `promtool check rules` and Prometheus.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Print a shell completion script to stdout, e.g.
    /// `sitepulse completions bash > /etc/bash_completion.d/sitepulse`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Write the rules for the config's SLO specs (slo.specs, or the
    /// embedded rules/slos.yaml) and the sites named.
    Generate {
        /// Config file (defaults to the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// SLO spec file or directory instead of the config's (repeat).
        #[arg(long = "spec", value_name = "PATH")]
        specs: Vec<String>,
        /// A site to write rules for (repeat); sites the specs name are
        /// always included.
        #[arg(long = "site", value_name = "NAME")]
        sites: Vec<String>,
        /// A file of site names, one per line.
        #[arg(long, value_name = "FILE")]
        sites_file: Option<PathBuf>,
        /// Write here instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Run { .. }) {
        "info"
    } else {
        "warn"
    };
    if let Err(e) = logging::init(cli.log_format, cli.log_level.as_deref(), default_level) {
        eprintln!("sitepulse: {e}");
        return ExitCode::from(2);
    }
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
            slo,
            files,
        } => cmd_replay(config.as_deref(), format, top, slo, &files),
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
            bin_run::cmd_run(
                cfg,
                bin_run::RunOpts {
                    config,
                    listen,
                    tap,
                    demo,
                },
            )
        }),
        Command::Validate { config } => Ok(cmd_validate(config.as_deref())),
        Command::Rules {
            command:
                RulesCommand::Generate {
                    config,
                    specs,
                    sites,
                    sites_file,
                    out,
                },
        } => rules_cmd::generate(rules_cmd::GenerateOpts {
            config,
            specs,
            sites,
            sites_file,
            out,
        }),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "sitepulse",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // One problem per line (a config lists all of its own).
            for line in format!("{e:#}").lines() {
                eprintln!("sitepulse: {line}");
            }
            ExitCode::from(2)
        }
    }
}

/// `validate`: every problem on stderr and 1, or the summary on stdout
/// (warnings on stderr) and 0.
fn cmd_validate(path: Option<&Path>) -> ExitCode {
    let (name, text) = match path {
        Some(p) => match config::read(p) {
            Ok(t) => (p.to_owned(), t),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        },
        None => (
            PathBuf::from("<embedded default>"),
            config::DEFAULT_YAML.to_owned(),
        ),
    };
    let checked = config::check(&text);
    let cfg = match checked.config {
        Some(cfg) if checked.problems.is_empty() => cfg,
        _ => {
            let mut err = std::io::stderr().lock();
            for p in &checked.problems {
                let _ = writeln!(err, "{}", p.display(&name));
            }
            let n = checked.problems.len();
            let _ = writeln!(
                err,
                "{}: {n} problem{}; `run` would refuse this config",
                name.display(),
                if n == 1 { "" } else { "s" }
            );
            return ExitCode::from(1);
        }
    };
    let env: Vec<(String, bool)> = checked
        .env
        .iter()
        .map(|n| (n.clone(), std::env::var_os(n).is_some()))
        .collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}: valid", name.display());
    let _ = write!(out, "{}", summary::summary(&cfg, &env));
    for w in summary::warnings(&cfg) {
        eprintln!("warning: {w}");
    }
    ExitCode::SUCCESS
}

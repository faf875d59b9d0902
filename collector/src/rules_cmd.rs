//! `sitepulse rules generate`: the Prometheus recording and alerting rules
//! equivalent to the SLOs `run` evaluates (Sloth's names; see
//! `sitepulse_alerting::promrules`), for teams whose Prometheus should
//! evaluate them too. `promtool check rules` accepts the output.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sitepulse_alerting::promrules;

use crate::offline::load_config;

/// What `rules generate` was given.
pub struct GenerateOpts {
    /// The config whose `slo.specs` to read (embedded default otherwise).
    pub config: Option<PathBuf>,
    /// Spec files or directories instead of the config's.
    pub specs: Vec<String>,
    /// Sites to write rules for (besides those the specs name).
    pub sites: Vec<String>,
    /// A file of site names, one per line (`#` comments).
    pub sites_file: Option<PathBuf>,
    /// Where to write; stdout when absent.
    pub out: Option<PathBuf>,
}

/// Writes the rules.
///
/// # Errors
/// A config or spec that cannot be used, no site, a file that cannot be
/// written.
pub fn generate(opts: GenerateOpts) -> Result<ExitCode> {
    let mut cfg = load_config(opts.config.as_deref(), None)?.slo;
    if !opts.specs.is_empty() {
        cfg.specs = opts.specs;
    }
    let set = cfg
        .load()
        .map_err(|e| anyhow::anyhow!("slo.{}: {}", e.field, e.message))?;
    let mut sites = opts.sites;
    if let Some(f) = &opts.sites_file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        sites.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    if sites.is_empty() && set.named_sites().next().is_none() {
        bail!(
            "no site: name them with --site NAME (repeated) or --sites-file FILE (curl -s http://HOST:9464/api/v1/sites?limit=0 lists a collector's)"
        );
    }
    let text = promrules::generate(&set, &sites).context("generating the rules")?;
    match &opts.out {
        Some(p) => write_file(p, &text)?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing to stdout")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn write_file(p: &Path, text: &str) -> Result<()> {
    std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))
}

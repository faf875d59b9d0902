//! The `slo:` section: which spec files, where the counts are kept.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sitepulse_alerting::SloSet;

/// The `slo:` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SloConfig {
    /// Evaluate SLOs in `run` (`/api/v1/slos`).
    pub enabled: bool,
    /// SLO spec files, or directories of them (`*.yaml`, `*.yml`, read in
    /// name order): ours (`version: sitepulse/v1`) or Sloth's
    /// (`prometheus/v1`). Empty: the embedded `rules/slos.yaml` (99.9%
    /// availability and 99% under 500 ms over 30 days for every site).
    pub specs: Vec<String>,
    /// Where per-site counts are kept across restarts; `auto` is
    /// `slo-counts` beside the checkpoint file.
    pub state_path: String,
    /// How often the counts are saved (and once at shutdown).
    pub save_interval_secs: u64,
    /// How often SLOs are evaluated from the latest snapshot.
    pub evaluate_interval_secs: u64,
    /// A Prometheus that keeps sitepulse's series (`http://prometheus:9090`):
    /// when the count file is missing or damaged, the period's hour
    /// buckets are rebuilt from it at start. Empty: counts start from now.
    pub rebuild_from_prometheus: String,
    /// How long each of the rebuild's queries may take.
    pub rebuild_timeout_secs: u64,
}

impl Default for SloConfig {
    fn default() -> Self {
        SloConfig {
            enabled: true,
            specs: Vec::new(),
            state_path: "auto".into(),
            save_interval_secs: 60,
            evaluate_interval_secs: 1,
            rebuild_from_prometheus: String::new(),
            rebuild_timeout_secs: 30,
        }
    }
}

/// A problem with the section: the field under `slo.` and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloConfigError {
    /// `specs[1]`, `save_interval_secs`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl SloConfig {
    /// The spec files named, directories expanded.
    ///
    /// # Errors
    /// A path that does not exist or a directory that cannot be listed.
    pub fn spec_files(&self) -> Result<Vec<PathBuf>, SloConfigError> {
        let mut out = Vec::new();
        for (i, s) in self.specs.iter().enumerate() {
            let err = |m: String| SloConfigError {
                field: format!("specs[{i}]"),
                message: m,
            };
            let p = Path::new(s);
            if p.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(|e| err(format!("{s}: {e}")))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                    .collect();
                files.sort();
                if files.is_empty() {
                    return Err(err(format!(
                        "{s}: no *.yaml or *.yml file in this directory"
                    )));
                }
                out.extend(files);
            } else if p.exists() {
                out.push(p.to_owned());
            } else {
                return Err(err(format!("{s}: no such file or directory")));
            }
        }
        Ok(out)
    }

    /// Loads the specs.
    ///
    /// # Errors
    /// The first problem, with the file, line and field where known.
    pub fn load(&self) -> Result<SloSet, SloConfigError> {
        let files = self.spec_files()?;
        SloSet::load(&files).map_err(|e| {
            let path = match &e {
                sitepulse_alerting::SpecError::Read { path, .. }
                | sitepulse_alerting::SpecError::Yaml { path, .. }
                | sitepulse_alerting::SpecError::Invalid { path, .. } => path.clone(),
            };
            let i = self
                .specs
                .iter()
                .position(|s| path.starts_with(s))
                .unwrap_or(0);
            SloConfigError {
                field: format!("specs[{i}]"),
                message: e.to_string(),
            }
        })
    }

    /// Checks the section (the spec files included, when enabled).
    ///
    /// # Errors
    /// The first problem.
    pub fn validate(&self) -> Result<(), SloConfigError> {
        for (field, v) in [
            ("save_interval_secs", self.save_interval_secs),
            ("evaluate_interval_secs", self.evaluate_interval_secs),
        ] {
            if v == 0 || v > 3600 {
                return Err(SloConfigError {
                    field: field.into(),
                    message: format!("{v}: between 1 and 3600"),
                });
            }
        }
        let url = &self.rebuild_from_prometheus;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(SloConfigError {
                field: "rebuild_from_prometheus".into(),
                message: format!(
                    "`{}`: an http:// or https:// URL",
                    self.rebuild_from_prometheus
                ),
            });
        }
        if !(1..=600).contains(&self.rebuild_timeout_secs) {
            return Err(SloConfigError {
                field: "rebuild_timeout_secs".into(),
                message: format!("{}: between 1 and 600", self.rebuild_timeout_secs),
            });
        }
        if self.enabled {
            self.load()?;
        }
        Ok(())
    }

    /// The count file: `state_path`, or `slo-counts` beside the
    /// checkpoint for `auto`.
    pub fn state_file(&self, checkpoint: &Path) -> PathBuf {
        if self.state_path.is_empty() || self.state_path == "auto" {
            checkpoint
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join("slo-counts")
        } else {
            PathBuf::from(&self.state_path)
        }
    }
}

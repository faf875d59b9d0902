//! The YAML config file, assembled from each crate's sections: `parse`,
//! `sites` and `aggregate` are the pipeline's, `tail` the tailer's (with
//! a log format per source), `server` the HTTP server's. Every field is
//! defaulted so an empty file (or none: the embedded [`DEFAULT_YAML`])
//! works.
//!
//! Loading [`check`]s the whole file and reports every problem it can
//! find, each as `file:line:column: field: what is allowed`: `${VAR}`
//! references ([`env`]), YAML syntax, unknown keys and wrong types (serde,
//! through serde_path_to_error for the field), and each crate's own
//! validation. Positions are serde-saphyr's ([`locate`]); the messages
//! are ours ([`diag`]).

pub mod diag;
pub mod env;
pub mod locate;
pub mod summary;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sitepulse_pipeline::aggregate::AggregateConfig;
use sitepulse_pipeline::label::SitesConfig;
use sitepulse_pipeline::{FormatChoice, ParseConfig, PipelineConfig};
use sitepulse_tail::{TailConfig, TailError};

use crate::serve::ServerConfig;
use locate::{Node, Pos, Step};

/// The config used when no `--config` is given.
pub const DEFAULT_YAML: &str = include_str!("../default.yaml");

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How lines are framed and parsed.
    pub parse: ParseConfig,
    /// How records are mapped to sites.
    pub sites: SitesConfig,
    /// Per-site windows.
    pub aggregate: AggregateConfig,
    /// Which files `run` tails and how, with each source's log format.
    pub tail: TailConfig<FormatChoice>,
    /// `run`'s HTTP endpoints.
    pub server: ServerConfig,
    /// Where records and per-site series are forwarded (Loki,
    /// Prometheus remote_write, OTLP); none by default.
    pub sinks: sitepulse_sinks::SinksConfig,
    /// What autoscalers read, and through which interfaces.
    pub autoscale: crate::autoscale::AutoscaleConfig,
    /// PHP-FPM status pages to scrape (queue, busy workers).
    pub fpm_status: crate::fpm::FpmConfig,
    /// The Kubernetes API (ready pods, FPM targets from annotations); off
    /// by default.
    pub kubernetes: crate::kube::KubeConfig,
    /// SLOs: spec files, where the counts are kept.
    pub slo: crate::slo::SloConfig,
    /// Alerts from SLO burn and deploys: routes, receivers, API access.
    pub alerting: crate::slo::AlertingConfig,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line; 0 when the field is not written in the file (a
    /// default value, or a rule across fields).
    pub line: u64,
    /// 1-based column, in characters; 0 with `line`.
    pub column: u64,
    /// The field, dotted (`tail.sources[1].include[0]`); empty for a
    /// problem of the text itself (YAML syntax, a `${VAR}`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl Problem {
    /// `file:line:column: field: message`, leaving out what is unknown.
    pub fn display<'a>(&'a self, file: &'a Path) -> impl fmt::Display + 'a {
        struct D<'a>(&'a Problem, &'a Path);
        impl fmt::Display for D<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let p = self.0;
                write!(f, "{}", self.1.display())?;
                if p.line > 0 {
                    write!(f, ":{}:{}", p.line, p.column)?;
                }
                if !p.field.is_empty() {
                    write!(f, ": {}", p.field)?;
                }
                write!(f, ": {}", p.message)
            }
        }
        D(self, file)
    }
}

/// A config that cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Every problem found, one per line.
    #[error("{}", problems_text(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn problems_text(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| p.display(path).to_string())
        .collect();
    lines.join("\n")
}

impl ConfigError {
    /// The problems (one for a file that could not be read).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Read { error, .. } => vec![Problem {
                line: 0,
                column: 0,
                field: String::new(),
                message: error.to_string(),
            }],
            ConfigError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// The config, when there is no problem.
    pub config: Option<Config>,
    /// Every problem found, in file order (those without a line last).
    pub problems: Vec<Problem>,
    /// Environment variables the file references.
    pub env: BTreeSet<String>,
}

impl Config {
    /// The pipeline's sections.
    pub fn pipeline(&self) -> PipelineConfig {
        PipelineConfig {
            parse: self.parse.clone(),
            sites: self.sites.clone(),
            aggregate: self.aggregate.clone(),
        }
    }

    /// The embedded default config.
    ///
    /// # Panics
    /// Only if the embedded default is invalid, which a unit test rules out.
    pub fn embedded() -> Config {
        Config::from_yaml(Path::new("<embedded default>"), DEFAULT_YAML)
            .expect("the embedded default config is valid")
    }

    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError`] with every problem found.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read(path)?;
        Config::from_yaml(path, &text)
    }

    /// Parses and validates YAML text; `path` is only used in errors.
    ///
    /// # Errors
    /// [`ConfigError`] with every problem found.
    pub fn from_yaml(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let checked = check(text);
        match checked.config {
            Some(cfg) if checked.problems.is_empty() => Ok(cfg),
            _ => Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems: checked.problems,
            }),
        }
    }

    /// Every problem of the sections, each crate checking its own: at
    /// most one per check (each returns its first), as `(field, message)`.
    fn validation_errors(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Err(e) = self.pipeline().validate() {
            out.push((e.field, e.message));
        }
        if let Err(e) = self.server.validate() {
            out.push((format!("server.{}", e.field), e.message));
        }
        match self.tail.validate() {
            Ok(()) => {}
            Err(TailError::Glob { section, source }) => {
                let mut field = format!("tail.{section}");
                let list = match locate::steps(&section).as_slice() {
                    [Step::Key(s), Step::Index(i), Step::Key(k)] if s == "sources" => {
                        self.tail.sources.get(*i).map(|src| {
                            if k == "include" {
                                &src.include
                            } else {
                                &src.exclude
                            }
                        })
                    }
                    [Step::Key(k)] if k == "exclude" => Some(&self.tail.exclude),
                    _ => None,
                };
                if let Some(j) = list.and_then(|l| l.iter().position(|p| *p == source.pattern)) {
                    field.push_str(&format!("[{j}]"));
                }
                out.push((field, format!("{:?}: {}", source.pattern, source.message)));
            }
            Err(TailError::Invalid { field, message }) => {
                // "entry 2 has no include globs" is about one source.
                let entry = message
                    .strip_prefix("entry ")
                    .and_then(|r| r.split_once(' '))
                    .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)));
                match entry {
                    Some((i, rest)) if field == "sources" => {
                        out.push((format!("tail.sources[{i}]"), rest.to_owned()));
                    }
                    _ => out.push((format!("tail.{field}"), message)),
                }
            }
        }
        for p in self.sinks.problems() {
            out.push((format!("sinks.{}", p.field), p.message));
        }
        if let Err(e) = self.autoscale.validate() {
            out.push((format!("autoscale.{}", e.field), e.message));
        }
        if let Err(e) = self.fpm_status.validate() {
            out.push((format!("fpm_status.{}", e.field), e.message));
        }
        if let Err(e) = self.kubernetes.validate() {
            out.push((format!("kubernetes.{}", e.field), e.message));
        }
        if let Err(e) = self.slo.validate() {
            out.push((format!("slo.{}", e.field), e.message));
        }
        if let Err((field, message)) = self.alerting.validate() {
            out.push((format!("alerting.{field}"), message));
        }
        // The pod counts are known current at each reopened watch: a watch
        // held open longer than they may age leaves a quiet cluster's
        // counts refused as stale between events.
        let max_pods_age = self.autoscale.freshness.max_pods_age_secs;
        if self.kubernetes.enabled && self.kubernetes.resync_secs >= max_pods_age {
            out.push((
                "kubernetes.resync_secs".into(),
                format!(
                    "must be below autoscale.freshness.max_pods_age_secs ({max_pods_age}), got {}: \
                     a quiet cluster's pod counts would be refused as stale between watches",
                    self.kubernetes.resync_secs
                ),
            ));
        }
        for (i, source) in self.tail.sources.iter().enumerate() {
            if let Some(m) = &source.multiline
                && let Err(e) = sitepulse_pipeline::join::JoinRule::compile(m)
            {
                out.push((
                    format!("tail.sources[{i}].multiline.{}", e.field),
                    e.message,
                ));
            }
        }
        out
    }
}

/// Reads a config file.
///
/// # Errors
/// [`ConfigError::Read`].
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_owned(),
        error,
    })
}

/// At most this many problems are reported (and passes made).
const MAX_PROBLEMS: usize = 100;

/// Checks config text (`${VAR}`s from the process environment) and
/// reports every problem found.
pub fn check(text: &str) -> Checked {
    check_with(text, &|name| std::env::var(name).ok())
}

/// [`check`] with the variables from `lookup`.
pub fn check_with(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Checked {
    let expanded = env::expand(text, lookup);
    let mut c = Collector {
        columns: &expanded.columns,
        problems: Vec::new(),
        tree: None,
        removed: BTreeMap::new(),
    };
    for p in &expanded.problems {
        c.problems.push(Problem {
            line: p.line,
            column: p.column,
            field: String::new(),
            message: p.message.clone(),
        });
    }
    let config = c.run(&expanded.text);
    // A reference that failed became nothing: what that caused on its
    // line (a missing value) is not a problem of its own.
    let env_lines: HashSet<u64> = expanded.problems.iter().map(|p| p.line).collect();
    let mut problems = c.problems;
    let env_count = expanded.problems.len();
    let mut i = 0;
    problems.retain(|p| {
        i += 1;
        i <= env_count || !env_lines.contains(&p.line)
    });
    // File order; problems without a position after those with one.
    problems.sort_by_key(|p| (p.line == 0, p.line, p.column));
    Checked {
        config: config.filter(|_| problems.is_empty()),
        problems,
        env: expanded.names,
    }
}

/// The passes of one check.
struct Collector<'a> {
    columns: &'a env::ColumnMap,
    problems: Vec<Problem>,
    tree: Option<Node>,
    /// List items taken out of the value, by the list's field path as
    /// written: a later path's index is shifted back by them.
    removed: BTreeMap<String, Vec<usize>>,
}

impl Collector<'_> {
    fn push(&mut self, field: String, at: Option<Pos>, message: String) {
        let (line, column) = at.map_or((0, 0), |p| {
            (p.line, self.columns.original(p.line, p.column))
        });
        // One problem per line of output (a regex error spans several).
        let message = if message.contains('\n') {
            let parts: Vec<&str> = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            parts.join(" ")
        } else {
            message
        };
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                line,
                column,
                field,
                message,
            });
        }
    }

    /// Where `field` is written: its value, or its key (for an unknown
    /// or duplicate key); the closest written ancestor's key for a field
    /// left at its default.
    fn locate(&self, field: &str, key: bool) -> Option<Pos> {
        let f = self.tree.as_ref()?.find(field)?;
        Some(if key { f.key } else { f.value })
    }

    /// The passes; the config read (possibly without the entries that
    /// failed), or `None` when the text could not be read at all.
    fn run(&mut self, text: &str) -> Option<Config> {
        if text.trim().is_empty() {
            self.validate(Config::default(), None);
            return Some(Config::default());
        }
        // YAML syntax: the one problem after which nothing can be read.
        match locate::tree(text) {
            Ok(t) => self.tree = Some(t),
            Err(e) => {
                let at = e.location().map(Pos::of);
                self.push(String::new(), at, diag::saphyr_message(&e));
                return None;
            }
        }
        if let Some(t) = &self.tree {
            // A `${VAR}` problem names the key written on its line.
            for p in self.problems.iter_mut().filter(|p| p.field.is_empty()) {
                p.field = t.field_at(p.line, p.column).unwrap_or_default();
            }
        }
        let dups = self.tree.as_ref().map(Node::duplicates).unwrap_or_default();
        for d in dups {
            let first = d.first;
            self.push(
                d.field,
                Some(d.at),
                format!(
                    "set twice (first on line {}); a key may appear once per section",
                    first.line
                ),
            );
        }
        let opts = || locate::options(serde_saphyr::DuplicateKeyPolicy::LastWins);
        // The plain value keeps `off` (a multiline mode) as text; see
        // `from_value` for the booleans it then reads back.
        let value_opts = || {
            let mut o = opts();
            o.strict_booleans = true;
            o
        };
        let mut field = None;
        let typed: Result<Config, serde_saphyr::Error> =
            serde_saphyr::with_deserializer_from_str_with_options(text, opts(), |d| {
                serde_path_to_error::deserialize(d).map_err(|e| {
                    field = Some(e.path().to_string());
                    e.into_inner()
                })
            });
        let mut value: Option<serde_json::Value> = None;
        let cfg = match typed {
            Ok(cfg) => cfg,
            Err(e) => {
                let field = field.unwrap_or_default();
                let field = clean_path(&field);
                let at = e
                    .location()
                    .map(Pos::of)
                    .or_else(|| self.locate(&field, false));
                self.push(field.clone(), at, diag::saphyr_message(&e));
                // The rest from a plain value, each failing entry taken out.
                let mut v: serde_json::Value =
                    serde_saphyr::from_str_with_options(text, value_opts()).ok()?;
                if !self.remove(&mut v, &field) {
                    return None;
                }
                let cfg = self.read_value(&mut v)?;
                value = Some(v);
                cfg
            }
        };
        self.validate(
            cfg.clone(),
            value.or_else(|| serde_saphyr::from_str_with_options(text, value_opts()).ok()),
        );
        Some(cfg)
    }

    /// Reads the config from `v`, taking out each entry serde refuses
    /// (and reporting it) until it reads.
    fn read_value(&mut self, v: &mut serde_json::Value) -> Option<Config> {
        for _ in 0..MAX_PROBLEMS {
            match from_value(v) {
                Ok(cfg) => return Some(cfg),
                Err(e) => {
                    let current = clean_path(&e.path().to_string());
                    let written = self.written(&current);
                    let msg = e.inner().to_string();
                    let at = self.locate(&written, msg.starts_with("unknown field"));
                    self.push(written, at, diag::serde_message(&msg));
                    if !self.remove(v, &current) {
                        return None;
                    }
                }
            }
        }
        None
    }

    /// Runs every crate's validation; after each round the fields that
    /// failed are taken out of `value` (their defaults apply) and the
    /// config read again, so one bad value does not hide the next.
    fn validate(&mut self, mut cfg: Config, mut value: Option<serde_json::Value>) {
        let mut seen = HashSet::new();
        // Keys taken out so far: a later error that names one (`custom
        // needs start_pattern`) is what the removal caused, not a problem
        // of the file.
        let mut gone: Vec<String> = Vec::new();
        for _ in 0..MAX_PROBLEMS {
            let fresh: Vec<(String, String, String)> = cfg
                .validation_errors()
                .into_iter()
                .map(|(field, message)| (self.written(&field), field, message))
                .filter(|(written, _, message)| seen.insert((written.clone(), message.clone())))
                .filter(|(_, _, message)| !gone.iter().any(|g| names(message, g)))
                .collect();
            if fresh.is_empty() {
                return;
            }
            let mut changed = false;
            // Positions first: a removal shifts the indices of later ones.
            for (written, _, message) in &fresh {
                let at = self.locate(written, false);
                self.push(written.clone(), at, message.clone());
            }
            for (_, field, _) in &fresh {
                // The key, or the list an item was taken from.
                let last_key = locate::steps(field)
                    .into_iter()
                    .rev()
                    .find_map(|s| match s {
                        Step::Key(k) => Some(k),
                        Step::Index(_) => None,
                    });
                gone.extend(last_key);
            }
            let mut order: Vec<&String> = fresh.iter().map(|(_, f, _)| f).collect();
            order.sort_by_key(|f| locate::steps(f));
            for field in order.into_iter().rev() {
                if let Some(v) = value.as_mut() {
                    changed |= self.remove(v, field);
                }
            }
            let next = value
                .as_mut()
                .filter(|_| changed)
                .and_then(|v| from_value(v).ok());
            match next {
                Some(c) => cfg = c,
                None => return,
            }
        }
    }

    /// The field path as written in the file, for a path in the value
    /// that lost list items.
    fn written(&self, current: &str) -> String {
        let mut out = String::new();
        for step in locate::steps(current) {
            match step {
                Step::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&k);
                }
                Step::Index(mut i) => {
                    if let Some(gone) = self.removed.get(&out) {
                        for g in gone {
                            if *g <= i {
                                i += 1;
                            }
                        }
                    }
                    out.push_str(&format!("[{i}]"));
                }
            }
        }
        out
    }

    /// Takes the entry at `current` (a path in the value) out of `v`.
    /// `false` when there is no such entry.
    fn remove(&mut self, v: &mut serde_json::Value, current: &str) -> bool {
        let steps = locate::steps(current);
        let Some((last, parents)) = steps.split_last() else {
            return false;
        };
        let mut node = &mut *v;
        for s in parents {
            let next = match (node, s) {
                (serde_json::Value::Object(m), Step::Key(k)) => m.get_mut(k),
                (serde_json::Value::Array(a), Step::Index(i)) => a.get_mut(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return false,
            }
        }
        match (node, last) {
            (serde_json::Value::Object(m), Step::Key(k)) => m.remove(k).is_some(),
            (serde_json::Value::Array(a), Step::Index(i)) if *i < a.len() => {
                let list = current[..current.rfind('[').unwrap_or(0)].to_owned();
                let list = self.written(&list);
                let written = self.written(current);
                let idx = locate::steps(&written)
                    .last()
                    .and_then(|s| match s {
                        Step::Index(i) => Some(*i),
                        Step::Key(_) => None,
                    })
                    .unwrap_or(*i);
                a.remove(*i);
                let gone = self.removed.entry(list).or_default();
                gone.push(idx);
                gone.sort_unstable();
                true
            }
            _ => false,
        }
    }
}

/// Reads the config from a plain value. A value is typed by its looks
/// there (`1234` is a number), while the typed read of the YAML gives a
/// text field the text as written: such a scalar is turned back into
/// text (or `yes`/`on` into a boolean, as YAML 1.1 reads them) and the
/// read tried again, so only what the typed read would refuse is an
/// error.
fn from_value(
    v: &mut serde_json::Value,
) -> Result<Config, serde_path_to_error::Error<serde_json::Error>> {
    use serde_json::Value;
    for _ in 0..MAX_PROBLEMS {
        let err = match serde_path_to_error::deserialize::<_, Config>(&*v) {
            Ok(cfg) => return Ok(cfg),
            Err(e) => e,
        };
        let msg = err.inner().to_string();
        let path = err.path().to_string();
        let Some(slot) = value_at(v, &path) else {
            return Err(err);
        };
        let fixed = match &*slot {
            Value::Number(n) if msg.ends_with("expected a string") => Value::String(n.to_string()),
            Value::Bool(b) if msg.ends_with("expected a string") => Value::String(b.to_string()),
            Value::String(t) if msg.ends_with("expected a boolean") => {
                match t.to_ascii_lowercase().as_str() {
                    "yes" | "on" | "y" => Value::Bool(true),
                    "no" | "off" | "n" => Value::Bool(false),
                    _ => return Err(err),
                }
            }
            _ => return Err(err),
        };
        *slot = fixed;
    }
    serde_path_to_error::deserialize::<_, Config>(&*v)
}

fn value_at<'v>(v: &'v mut serde_json::Value, path: &str) -> Option<&'v mut serde_json::Value> {
    let mut node = v;
    for s in locate::steps(path) {
        node = match (node, s) {
            (serde_json::Value::Object(m), Step::Key(k)) => m.get_mut(&k)?,
            (serde_json::Value::Array(a), Step::Index(i)) => a.get_mut(i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Whether `message` names the key `key` (as a word).
fn names(message: &str, key: &str) -> bool {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == key)
}

/// serde_path_to_error's path without its unknown tail (`sites.?`).
fn clean_path(path: &str) -> String {
    let mut out = path.trim_end_matches(".?").to_owned();
    if out == "?" || out == "." {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests;

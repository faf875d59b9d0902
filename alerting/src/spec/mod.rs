//! SLO specs: the YAML files under `rules/` (ours, [`SpecFile`], or
//! Sloth's `prometheus/v1`, [`sloth`]) and the SLOs each site gets from
//! them ([`SloSet::for_site`]): the file's `defaults` for every site, then
//! each matching `groups` entry in file order, then the site's own entry.
//! An entry whose `name` is already there changes only the fields it
//! writes; a new name adds an SLO; `disable` removes one.

pub mod duration;
pub mod sloth;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sitepulse_pipeline::aggregate::LATENCY_BUCKETS_SECS;

pub use duration::Span;

use crate::burn::BurnTable;
use crate::error::SpecError;

/// The spec used when the config names no file: every site gets a 99.9%
/// availability and a 99% / 500 ms latency objective over 30 days.
pub const DEFAULT_SPEC_YAML: &str = include_str!("../../../rules/slos.yaml");

/// What a request must be to count as good.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SliKind {
    /// Not answered 5xx (and not 499 when `errors_include_499`).
    Availability,
    /// Answered within `threshold_ms`.
    Latency,
}

/// How good and total requests are counted: what the count store keys
/// on, so SLOs that count the same way share their history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Sli {
    /// Bad: 5xx, and 499 (the client gave up) when `true`.
    Availability { with_499: bool },
    /// Bad: slower than this many ms (a latency histogram bound).
    Latency { threshold_ms: u32 },
}

impl Sli {
    /// A short stable name: `availability`, `availability_499`,
    /// `latency_500ms` (the count store's key on disk).
    pub fn key(&self) -> String {
        match self {
            Sli::Availability { with_499: false } => "availability".into(),
            Sli::Availability { with_499: true } => "availability_499".into(),
            Sli::Latency { threshold_ms } => format!("latency_{threshold_ms}ms"),
        }
    }

    /// Parses [`key`](Self::key).
    pub fn from_key(s: &str) -> Option<Sli> {
        match s {
            "availability" => Some(Sli::Availability { with_499: false }),
            "availability_499" => Some(Sli::Availability { with_499: true }),
            _ => {
                let ms = s
                    .strip_prefix("latency_")?
                    .strip_suffix("ms")?
                    .parse()
                    .ok()?;
                latency_bound_ok(ms).then_some(Sli::Latency { threshold_ms: ms })
            }
        }
    }
}

/// The latency thresholds an SLO may use: the bounds of the collector's
/// latency histogram, in ms.
pub fn latency_bounds_ms() -> Vec<u32> {
    LATENCY_BUCKETS_SECS
        .iter()
        .map(|s| (s * 1000.0).round() as u32)
        .collect()
}

fn latency_bound_ok(ms: u32) -> bool {
    latency_bounds_ms().contains(&ms)
}

/// One SLO as written in a file: complete under `defaults` or as a new
/// name, partial when it changes an SLO of the same name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloEntry {
    /// The SLO's name, unique per site (`availability`, `latency`).
    pub name: String,
    /// `availability` or `latency`.
    pub kind: Option<SliKind>,
    /// Percent of requests that must be good, e.g. `99.9`.
    pub objective: Option<f64>,
    /// The period the error budget covers: `30d` (default) or `28d`.
    pub period: Option<Span>,
    /// Latency SLOs: good requests are answered within this many ms; one
    /// of the latency histogram's bounds (5, 10, 25, 50, 100, 250, 500,
    /// 1000, 2500, 5000, 10000, 20000, 30000, 60000).
    pub threshold_ms: Option<u32>,
    /// Availability SLOs: count 499 (the client closed the connection
    /// first, often a timeout upstream) as an error too. Default false.
    pub errors_include_499: Option<bool>,
    /// Shown in the API and notifications.
    pub description: Option<String>,
    /// Labels added to this SLO's alerts.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A group of sites sharing overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    /// Shown in errors.
    pub name: String,
    /// Site names; `*` matches any run of characters (`shop-*`).
    pub sites: Vec<String>,
    /// SLOs changed or added for these sites.
    #[serde(default)]
    pub slos: Vec<SloEntry>,
    /// SLO names these sites do not have.
    #[serde(default)]
    pub disable: Vec<String>,
}

/// One site's own overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteEntry {
    /// SLOs changed or added for this site.
    #[serde(default)]
    pub slos: Vec<SloEntry>,
    /// SLO names this site does not have.
    #[serde(default)]
    pub disable: Vec<String>,
}

/// A spec file of ours (`version: sitepulse/v1`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpecFile {
    /// `sitepulse/v1`.
    pub version: String,
    /// The period of SLOs that name none (default `30d`).
    pub period: Option<Span>,
    /// SLOs every site gets.
    pub defaults: Vec<SloEntry>,
    /// Overrides for groups of sites, applied in order.
    pub groups: Vec<GroupEntry>,
    /// Overrides per site, by name.
    pub sites: BTreeMap<String, SiteEntry>,
    /// The multi-window multi-burn-rate alert table (default: the SRE
    /// workbook's, scaled to each SLO's period).
    pub burn_alerts: Option<BurnTable>,
}

/// One site's SLO, complete.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slo {
    /// Unique per site.
    pub name: String,
    /// How requests are counted.
    pub sli: Sli,
    /// Fraction of requests that must be good (0.999).
    pub objective: f64,
    /// The budget's period.
    pub period: Span,
    /// Shown in the API and notifications.
    pub description: String,
    /// Labels added to its alerts.
    pub labels: BTreeMap<String, String>,
}

impl Slo {
    /// The fraction of requests that may be bad over the period.
    pub fn budget(&self) -> f64 {
        1.0 - self.objective
    }
}

/// Every spec loaded, ready to answer which SLOs a site has.
#[derive(Debug, Clone, Default)]
pub struct SloSet {
    period: Option<Span>,
    defaults: Vec<SloEntry>,
    groups: Vec<GroupEntry>,
    sites: BTreeMap<String, SiteEntry>,
    /// The alert table.
    pub burn: BurnTable,
}

/// A default period when a file names none.
pub const DEFAULT_PERIOD: Span = Span(30 * 86_400);

impl SloSet {
    /// Loads and checks the files (ours or Sloth's, told apart by
    /// `version`); with no file, [`DEFAULT_SPEC_YAML`].
    ///
    /// # Errors
    /// The first file that cannot be read or is invalid, with its path
    /// and, where known, the line and the field.
    pub fn load(paths: &[PathBuf]) -> Result<SloSet, SpecError> {
        if paths.is_empty() {
            return SloSet::from_texts(&[(
                Path::new("<embedded rules/slos.yaml>"),
                DEFAULT_SPEC_YAML,
            )]);
        }
        let texts = paths
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .map(|t| (p.as_path(), t))
                    .map_err(|e| SpecError::Read {
                        path: p.clone(),
                        error: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<(&Path, &str)> = texts.iter().map(|(p, t)| (*p, t.as_str())).collect();
        SloSet::from_texts(&refs)
    }

    /// As [`load`](Self::load), from texts in memory.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn from_texts(files: &[(&Path, &str)]) -> Result<SloSet, SpecError> {
        let mut set = SloSet::default();
        let mut burn = None;
        for &(path, text) in files {
            let invalid = |field: String, message: String| SpecError::Invalid {
                path: path.to_owned(),
                field,
                message,
            };
            let version = sloth::version_of(text);
            if version.as_deref() == Some(sloth::VERSION) {
                let (site, entries) = sloth::parse(text).map_err(|(f, m)| invalid(f, m))?;
                let e = set.sites.entry(site).or_default();
                for s in entries {
                    e.disable.retain(|d| *d != s.name);
                    e.slos.retain(|x| x.name != s.name);
                    e.slos.push(s);
                }
                continue;
            }
            let file: SpecFile = serde_saphyr::from_str(text).map_err(|e| SpecError::Yaml {
                path: path.to_owned(),
                error: e.to_string(),
            })?;
            if !matches!(file.version.as_str(), "" | "sitepulse/v1") {
                return Err(invalid(
                    "version".into(),
                    format!(
                        "`{}`: write sitepulse/v1 or Sloth's prometheus/v1",
                        file.version
                    ),
                ));
            }
            if file.period.is_some() {
                set.period = file.period;
            }
            if let Some(b) = file.burn_alerts {
                burn = Some(b);
            }
            set.defaults.extend(file.defaults);
            set.groups.extend(file.groups);
            for (name, s) in file.sites {
                let e = set.sites.entry(name).or_default();
                e.slos.extend(s.slos);
                e.disable.extend(s.disable);
            }
            // Each file's entries are checked as soon as it is merged, so
            // an error names the file that brought it.
            set.check().map_err(|(f, m)| invalid(f, m))?;
        }
        set.burn = burn.unwrap_or_default();
        set.burn.check().map_err(|(f, m)| SpecError::Invalid {
            path: files.last().map(|f| f.0.to_owned()).unwrap_or_default(),
            field: format!("burn_alerts.{f}"),
            message: m,
        })?;
        set.check().map_err(|(f, m)| SpecError::Invalid {
            path: files.last().map(|f| f.0.to_owned()).unwrap_or_default(),
            field: f,
            message: m,
        })?;
        Ok(set)
    }

    /// Every SLO a site has, in order of first definition.
    pub fn for_site(&self, site: &str) -> Vec<Slo> {
        let period = self.period.unwrap_or(DEFAULT_PERIOD);
        self.entries_for(site)
            .iter()
            .filter_map(|e| complete(e, period).ok())
            .collect()
    }

    /// A site's entries merged: defaults, matching groups, its own.
    fn entries_for(&self, site: &str) -> Vec<SloEntry> {
        let mut acc: Vec<SloEntry> = Vec::new();
        let apply = |acc: &mut Vec<SloEntry>, entries: &[SloEntry], disable: &[String]| {
            for e in entries {
                match acc.iter_mut().find(|a| a.name == e.name) {
                    Some(a) => merge(a, e),
                    None => acc.push(e.clone()),
                }
            }
            acc.retain(|a| !disable.contains(&a.name));
        };
        apply(&mut acc, &self.defaults, &[]);
        for g in self
            .groups
            .iter()
            .filter(|g| g.sites.iter().any(|p| glob_match(p, site)))
        {
            apply(&mut acc, &g.slos, &g.disable);
        }
        if let Some(s) = self.sites.get(site) {
            apply(&mut acc, &s.slos, &s.disable);
        }
        acc
    }

    /// The longest period any SLO may have: the file's, and every
    /// entry's own (defaults, groups, sites).
    pub fn longest_period(&self) -> Span {
        let base = self.period.unwrap_or(DEFAULT_PERIOD);
        self.defaults
            .iter()
            .chain(self.groups.iter().flat_map(|g| g.slos.iter()))
            .chain(self.sites.values().flat_map(|s| s.slos.iter()))
            .filter_map(|e| e.period)
            .fold(base, Span::max)
    }

    /// Whether any site has an SLO at all.
    pub fn is_empty(&self) -> bool {
        self.defaults.is_empty()
            && self.groups.iter().all(|g| g.slos.is_empty())
            && self.sites.values().all(|s| s.slos.is_empty())
    }

    /// The site names with entries of their own.
    pub fn named_sites(&self) -> impl Iterator<Item = &str> {
        self.sites.keys().map(String::as_str)
    }

    /// Checks every entry as it would be used: complete SLOs complete,
    /// values in range. `(field, message)` on the first problem.
    fn check(&self) -> Result<(), (String, String)> {
        let period = self.period.unwrap_or(DEFAULT_PERIOD);
        for (i, e) in self.defaults.iter().enumerate() {
            let at = format!("defaults[{i}]");
            check_values(e).map_err(|(f, m)| (format!("{at}.{f}"), m))?;
            complete(e, period).map_err(|(f, m)| (format!("{at}.{f}"), m))?;
        }
        let known = |name: &str| self.defaults.iter().any(|d| d.name == name);
        for (gi, g) in self.groups.iter().enumerate() {
            if g.sites.is_empty() {
                return Err((
                    format!("groups[{gi}].sites"),
                    format!("group `{}` lists no site", g.name),
                ));
            }
            for (i, e) in g.slos.iter().enumerate() {
                let at = format!("groups[{gi}].slos[{i}]");
                check_entry(e, known(&e.name), period)
                    .map_err(|(f, m)| (format!("{at}.{f}"), m))?;
            }
        }
        for (site, s) in &self.sites {
            for (i, e) in s.slos.iter().enumerate() {
                let at = format!("sites.{site}.slos[{i}]");
                let base = known(&e.name)
                    || self.groups.iter().any(|g| {
                        g.slos.iter().any(|x| x.name == e.name)
                            && g.sites.iter().any(|p| glob_match(p, site))
                    });
                check_entry(e, base, period).map_err(|(f, m)| (format!("{at}.{f}"), m))?;
            }
            // The resolved set must hold together too (a kind changed to
            // latency without a threshold, say).
            for e in self.entries_for(site) {
                complete(&e, period)
                    .map_err(|(f, m)| (format!("sites.{site}: slo `{}`: {f}", e.name), m))?;
            }
        }
        Ok(())
    }
}

/// An override of an existing SLO may be partial; a new one must be whole.
fn check_entry(e: &SloEntry, overrides: bool, period: Span) -> Result<(), (String, String)> {
    check_values(e)?;
    if !overrides {
        complete(e, period)?;
    }
    Ok(())
}

fn check_values(e: &SloEntry) -> Result<(), (String, String)> {
    if e.name.is_empty()
        || !e
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err((
            "name".into(),
            format!("`{}`: letters, digits, `-` and `_` only", e.name),
        ));
    }
    if let Some(o) = e.objective
        && !(o > 0.0 && o < 100.0)
    {
        return Err((
            "objective".into(),
            format!("{o}: a percent above 0 and below 100 (99.9)"),
        ));
    }
    if let Some(ms) = e.threshold_ms
        && !latency_bound_ok(ms)
    {
        return Err((
            "threshold_ms".into(),
            format!(
                "{ms}: one of the latency histogram's bounds: {:?}",
                latency_bounds_ms()
            ),
        ));
    }
    if let Some(p) = e.period
        && !(3600..=90 * 86_400).contains(&p.secs())
    {
        return Err((
            "period".into(),
            format!("{p}: between 1h and 90d (28d and 30d are usual)"),
        ));
    }
    Ok(())
}

/// The SLO an entry describes, or the first field it lacks.
fn complete(e: &SloEntry, period: Span) -> Result<Slo, (String, String)> {
    let kind = e.kind.ok_or_else(|| {
        (
            "kind".to_owned(),
            format!("slo `{}` needs a kind: availability or latency", e.name),
        )
    })?;
    let objective = e.objective.ok_or_else(|| {
        (
            "objective".to_owned(),
            format!("slo `{}` needs an objective, a percent (99.9)", e.name),
        )
    })?;
    let sli = match kind {
        SliKind::Availability => {
            if e.threshold_ms.is_some() {
                return Err((
                    "threshold_ms".into(),
                    format!(
                        "slo `{}` is an availability SLO: threshold_ms is for latency",
                        e.name
                    ),
                ));
            }
            Sli::Availability {
                with_499: e.errors_include_499.unwrap_or(false),
            }
        }
        SliKind::Latency => {
            if e.errors_include_499.is_some() {
                return Err((
                    "errors_include_499".into(),
                    format!(
                        "slo `{}` is a latency SLO: errors_include_499 is for availability",
                        e.name
                    ),
                ));
            }
            Sli::Latency {
                threshold_ms: e.threshold_ms.ok_or_else(|| {
                    (
                        "threshold_ms".to_owned(),
                        format!("latency slo `{}` needs threshold_ms", e.name),
                    )
                })?,
            }
        }
    };
    Ok(Slo {
        name: e.name.clone(),
        sli,
        objective: objective / 100.0,
        period: e.period.unwrap_or(period),
        description: e.description.clone().unwrap_or_default(),
        labels: e.labels.clone(),
    })
}

/// Fields an override writes replace the base's; labels merge.
fn merge(base: &mut SloEntry, over: &SloEntry) {
    macro_rules! take {
        ($($f:ident),*) => {$(
            if over.$f.is_some() {
                base.$f = over.$f.clone();
            }
        )*};
    }
    take!(
        kind,
        objective,
        period,
        threshold_ms,
        errors_include_499,
        description
    );
    if over.kind.is_some() {
        // A kind change drops the other kind's field.
        match over.kind {
            Some(SliKind::Availability) if over.threshold_ms.is_none() => base.threshold_ms = None,
            Some(SliKind::Latency) if over.errors_include_499.is_none() => {
                base.errors_include_499 = None
            }
            _ => {}
        }
    }
    base.labels
        .extend(over.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// `*` matches any run of characters; everything else itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;

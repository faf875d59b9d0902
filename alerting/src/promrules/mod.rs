//! The SLOs as a Prometheus rule file ([`generate`]), so a Prometheus
//! scraping the collector records and alerts on the same SLOs as the
//! engine, and Sloth's dashboards and tools read them.
//!
//! Names and labels are Sloth's (`github.com/slok/sloth`,
//! `pkg/common/conventions/slo.go`; the rule shapes of its core plugins
//! `internal/plugin/slo/core/{sli_rules_v1,metadata_rules_v1,
//! alert_rules_v1}` and its fixture
//! `test/integration/prometheus/testdata/out-base-28d.yaml.tpl`). A site
//! is Sloth's *service*; per site and SLO, three groups:
//!
//! - `sloth-slo-sli-recordings-<id>`: `slo:sli_error:ratio_rate<w>` for
//!   every window of the burn table and the SLO's period (`5m` … `3d`,
//!   `30d`; windows are spelled as Prometheus spells durations, as Sloth
//!   does, so a 28-day period is `4w`), labelled `sloth_window`.
//!   **Unlike Sloth**, the period's rule is not the average of the 5m
//!   ratios (`sum_over_time / count_over_time`, Sloth's "optimized" SLI)
//!   but, as every other window, summed errors over summed requests
//!   (Sloth's `denominator_corrected_rules_v1` with `disableOptimized`):
//!   each request weighs the same, quiet nights do not dilute a busy
//!   day's errors, and it agrees with the engine.
//! - `sloth-slo-meta-recordings-<id>`: `slo:objective:ratio`,
//!   `slo:error_budget:ratio`, `slo:time_period:days`,
//!   `slo:current_burn_rate:ratio` (the shortest window),
//!   `slo:period_burn_rate:ratio`,
//!   `slo:period_error_budget_remaining:ratio` and `sloth_slo_info`. The
//!   burn rates keep their SLI's `sloth_window`, as Sloth's do.
//! - `sloth-slo-alerts-<id>`: one alert per severity of the burn table
//!   (page, ticket), each row `max(short > factor × budget) and max(long >
//!   factor × budget)`, rows `or`ed, as Sloth writes them; factors are
//!   [`BurnWindow::factor_for`] the SLO's period. Each row also needs
//!   `min_requests` counted over its long window, as the engine does.
//!   Every alert is named [`ALERT_NAME`] (Sloth names them per SLO): the
//!   labels `site`, `slo`, `severity` and `sloth_severity` tell them apart.
//!
//! `<id>` (`sloth_id`) is `<site>-<slo>`; every recorded series has
//! `sloth_id`, `sloth_service` (the site), `sloth_slo`, `site` and the
//! SLO's labels. The SLI queries read the collector's
//! `sitepulse_site_requests_total` (5xx), `..._requests_by_code_total`
//! (499) and `sitepulse_site_request_duration_seconds` (the threshold's
//! bucket), with `increase()` so counter resets are handled.
//!
//! Output is deterministic: sites and SLOs sorted by name, labels by key.
//! As with Sloth, the groups run apart, so a meta rule or an alert may
//! read the SLI of the previous evaluation.

pub mod query;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::burn::{BurnTable, BurnWindow, Severity};
use crate::spec::{Sli, Slo, SloSet, Span};

pub use query::prom_duration;
use query::{SliQuery, matchers, num};

/// The name of every alert the file has.
pub const ALERT_NAME: &str = "SitepulseSLOErrorBudgetBurn";

/// `sloth_spec` of `sloth_slo_info`: the spec format the SLOs came from.
pub const SPEC_NAME: &str = "sitepulse/v1";

/// `sloth_mode` of `sloth_slo_info` (Sloth's are `cli-gen-prom`, …).
pub const MODE: &str = "sitepulse-gen-prom";

/// Label names the generator writes itself, which an SLO's `labels` may
/// not use (nor any `sloth_` or `__` name).
pub const RESERVED_LABELS: &[&str] = &["site", "slo", "severity", "alertname"];

/// A rule file that cannot be generated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromRulesError {
    /// A site name Prometheus cannot hold in a label.
    #[error("site `{site}`: {reason}")]
    BadSite { site: String, reason: &'static str },
    /// An SLO label that is no Prometheus label name or one the generator
    /// writes.
    #[error("site `{site}`, slo `{slo}`: label `{label}`: {reason}")]
    BadLabel {
        site: String,
        slo: String,
        label: String,
        reason: &'static str,
    },
    /// A latency threshold that is not a bound of the histogram.
    #[error("site `{site}`, slo `{slo}`: {threshold_ms} ms is not a latency histogram bound")]
    BadThreshold {
        site: String,
        slo: String,
        threshold_ms: u32,
    },
    /// Two site and SLO pairs give the same `sloth_id` (`a-b` + `c` and
    /// `a` + `b-c`), so their groups would clash.
    #[error(
        "sloth_id `{id}` is both site `{first_site}` slo `{first_slo}` and site `{site}` slo `{slo}`: rename one"
    )]
    DuplicateId {
        id: String,
        first_site: String,
        first_slo: String,
        site: String,
        slo: String,
    },
    /// The YAML encoder failed.
    #[error("encoding the rule file: {0}")]
    Yaml(String),
}

/// A Prometheus rule file (`rule_files:`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleFile {
    /// Evaluated in order; rules within a group too.
    pub groups: Vec<RuleGroup>,
}

/// One rule group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleGroup {
    /// Unique in the file.
    pub name: String,
    /// Recording or alerting rules.
    pub rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alerting rule (`alert`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// The series recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The alert's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// The PromQL expression.
    pub expr: String,
    /// Labels added to the result.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Alerts only: templated texts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

const HEADER: &str = "\
# Code generated by sitepulse from its SLO specs. DO NOT EDIT.
# Rule names and labels follow Sloth (https://github.com/slok/sloth).
# Every slo:sli_error:ratio_rate<window>, the period's included, is summed
# errors over summed requests in the window (weighted by requests), not an
# average of 5m ratios.
";

/// The rule file for `sites` and every site the specs name, as YAML.
///
/// # Errors
/// A site name that cannot be a label value, an SLO label that cannot be
/// a label name or is reserved ([`RESERVED_LABELS`]), or two sites whose
/// `sloth_id`s clash ([`PromRulesError`]).
pub fn generate(set: &SloSet, sites: &[String]) -> Result<String, PromRulesError> {
    let file = rule_file(set, sites)?;
    let body = serde_saphyr::to_string(&file).map_err(|e| PromRulesError::Yaml(e.to_string()))?;
    Ok(format!("{HEADER}{body}"))
}

/// As [`generate`], before encoding.
///
/// # Errors
/// As [`generate`].
pub fn rule_file(set: &SloSet, sites: &[String]) -> Result<RuleFile, PromRulesError> {
    let all: BTreeSet<&str> = sites
        .iter()
        .map(String::as_str)
        .chain(set.named_sites())
        .collect();
    let mut ids: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut groups = Vec::new();
    for site in all {
        check_site(site)?;
        let mut slos = set.for_site(site);
        slos.sort_by(|a, b| a.name.cmp(&b.name));
        for slo in &slos {
            let rules = SloRules::new(site, slo, &set.burn)?;
            if let Some((s, n)) = ids.insert(rules.id.clone(), (site.to_owned(), slo.name.clone()))
            {
                return Err(PromRulesError::DuplicateId {
                    id: rules.id,
                    first_site: s,
                    first_slo: n,
                    site: site.to_owned(),
                    slo: slo.name.clone(),
                });
            }
            groups.extend(rules.groups());
        }
    }
    Ok(RuleFile { groups })
}

fn check_site(site: &str) -> Result<(), PromRulesError> {
    let reason = if site.is_empty() {
        "empty"
    } else if site.chars().any(char::is_control) {
        "holds a control character"
    } else {
        return Ok(());
    };
    Err(PromRulesError::BadSite {
        site: site.to_owned(),
        reason,
    })
}

/// Whether `s` is a Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name_ok(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// One site's SLO and what its rules share.
struct SloRules<'a> {
    site: &'a str,
    slo: &'a Slo,
    table: &'a BurnTable,
    id: String,
    sli: SliQuery,
    /// `sloth_id`, `sloth_service`, `sloth_slo`: Sloth's filter.
    id_labels: BTreeMap<String, String>,
    /// The SLO's labels, `site` and the id labels: every recorded series'.
    labels: BTreeMap<String, String>,
}

impl<'a> SloRules<'a> {
    fn new(site: &'a str, slo: &'a Slo, table: &'a BurnTable) -> Result<Self, PromRulesError> {
        let bad_label = |label: &str, reason| PromRulesError::BadLabel {
            site: site.to_owned(),
            slo: slo.name.clone(),
            label: label.to_owned(),
            reason,
        };
        for k in slo.labels.keys() {
            if !label_name_ok(k) {
                return Err(bad_label(k, "letters, digits and `_`, not first a digit"));
            }
            if RESERVED_LABELS.contains(&k.as_str())
                || k.starts_with("sloth_")
                || k.starts_with("__")
            {
                return Err(bad_label(k, "the rule generator writes this label itself"));
            }
        }
        let sli = SliQuery::new(site, slo.sli).ok_or_else(|| PromRulesError::BadThreshold {
            site: site.to_owned(),
            slo: slo.name.clone(),
            threshold_ms: match slo.sli {
                Sli::Latency { threshold_ms } => threshold_ms,
                Sli::Availability { .. } => 0,
            },
        })?;
        let id = format!("{site}-{}", slo.name);
        let id_labels: BTreeMap<String, String> = [
            ("sloth_id", id.as_str()),
            ("sloth_service", site),
            ("sloth_slo", slo.name.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut labels = slo.labels.clone();
        labels.insert("site".into(), site.to_owned());
        labels.extend(id_labels.clone());
        Ok(SloRules {
            site,
            slo,
            table,
            id,
            sli,
            id_labels,
            labels,
        })
    }

    fn groups(&self) -> [RuleGroup; 3] {
        [
            RuleGroup {
                name: format!("sloth-slo-sli-recordings-{}", self.id),
                rules: self.sli_rules(),
            },
            RuleGroup {
                name: format!("sloth-slo-meta-recordings-{}", self.id),
                rules: self.meta_rules(),
            },
            RuleGroup {
                name: format!("sloth-slo-alerts-{}", self.id),
                rules: self.alert_rules(),
            },
        ]
    }

    /// Every window the table reads and the period, shortest first.
    fn windows(&self) -> BTreeSet<Span> {
        let mut w: BTreeSet<Span> = self.table.windows_used().into_iter().collect();
        w.insert(self.slo.period);
        w
    }

    fn record(&self, name: String, expr: String, labels: BTreeMap<String, String>) -> Rule {
        Rule {
            record: Some(name),
            alert: None,
            expr,
            labels,
            annotations: BTreeMap::new(),
        }
    }

    /// The SLI recorded over `window`, selected by Sloth's filter.
    fn sli_series(&self, window: Span) -> String {
        format!("{}{}", sli_metric(window), matchers(&self.id_labels))
    }

    fn sli_rules(&self) -> Vec<Rule> {
        self.windows()
            .into_iter()
            .map(|w| {
                let ws = prom_duration(w);
                let mut labels = self.labels.clone();
                labels.insert("sloth_window".into(), ws.clone());
                // Every window, the period's too, divides summed increases:
                // a ratio weighted by requests, not Sloth's average of the
                // 5m ratios over the period.
                self.record(sli_metric(w), self.sli.error_ratio(&ws), labels)
            })
            .collect()
    }

    fn meta_rules(&self) -> Vec<Rule> {
        let filter = matchers(&self.id_labels);
        let objective = num(self.slo.objective);
        let shortest = self.windows().first().copied().unwrap_or(self.slo.period);
        let burn_rate = |w: Span| {
            format!(
                "{}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{filter}\n",
                self.sli_series(w)
            )
        };
        let mut info = self.labels.clone();
        for (k, v) in [
            ("sloth_mode", MODE.to_owned()),
            ("sloth_objective", percent(self.slo.objective)),
            ("sloth_spec", SPEC_NAME.to_owned()),
            ("sloth_version", env!("CARGO_PKG_VERSION").to_owned()),
        ] {
            info.insert(k.into(), v);
        }
        let days = self.slo.period.secs() as f64 / 86_400.0;
        vec![
            self.record(
                "slo:objective:ratio".into(),
                format!("vector({objective})"),
                self.labels.clone(),
            ),
            self.record(
                "slo:error_budget:ratio".into(),
                format!("vector(1-{objective})"),
                self.labels.clone(),
            ),
            self.record(
                "slo:time_period:days".into(),
                format!("vector({})", num(days)),
                self.labels.clone(),
            ),
            self.record(
                "slo:current_burn_rate:ratio".into(),
                burn_rate(shortest),
                self.labels.clone(),
            ),
            self.record(
                "slo:period_burn_rate:ratio".into(),
                burn_rate(self.slo.period),
                self.labels.clone(),
            ),
            self.record(
                "slo:period_error_budget_remaining:ratio".into(),
                format!("1 - slo:period_burn_rate:ratio{filter}"),
                self.labels.clone(),
            ),
            self.record("sloth_slo_info".into(), "vector(1)".into(), info),
        ]
    }

    fn alert_rules(&self) -> Vec<Rule> {
        [Severity::Page, Severity::Ticket]
            .into_iter()
            .filter_map(|sev| {
                let rows: Vec<&BurnWindow> = self
                    .table
                    .windows
                    .iter()
                    .filter(|w| w.severity == sev)
                    .collect();
                (!rows.is_empty()).then(|| self.alert(sev, &rows))
            })
            .collect()
    }

    fn alert(&self, sev: Severity, rows: &[&BurnWindow]) -> Rule {
        let budget = num(self.slo.budget());
        let filter = matchers(&self.id_labels);
        let cond = |w: Span, factor: &str| {
            format!(
                "    max({}{filter} > ({factor} * {budget})) without (sloth_window)\n",
                sli_metric(w)
            )
        };
        let expr = rows
            .iter()
            .map(|r| {
                let factor = num(r.factor_for(self.slo.period));
                format!(
                    "(\n{}    and\n{}    and on()\n    ({} >= {})\n)\n",
                    cond(r.short, &factor),
                    cond(r.long, &factor),
                    self.sli.total(&prom_duration(r.long)),
                    self.table.min_requests,
                )
            })
            .collect::<Vec<_>>()
            .join("or\n");
        let thresholds = rows
            .iter()
            .map(|r| {
                format!(
                    "{}x over {} and {}",
                    num(round_to(r.factor_for(self.slo.period), 2)),
                    prom_duration(r.long),
                    prom_duration(r.short)
                )
            })
            .collect::<Vec<_>>()
            .join(", or ");
        let s = sev.as_str();
        let labels: BTreeMap<String, String> = [
            ("severity", s),
            ("sloth_severity", s),
            ("site", self.site),
            ("slo", self.slo.name.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let annotations: BTreeMap<String, String> = [
            (
                "title",
                format!(
                    "({s}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast."
                ),
            ),
            (
                "summary",
                "Site {{$labels.site}}: SLO {{$labels.sloth_slo}} burns its error budget too fast."
                    .to_owned(),
            ),
            (
                "description",
                format!(
                    "Site {{{{$labels.site}}}}, SLO {{{{$labels.sloth_slo}}}} ({}% over {}): {{{{ $value | humanizePercentage }}}} of requests failed over the short window, a burn rate of the error budget above {thresholds}.",
                    percent(self.slo.objective),
                    prom_duration(self.slo.period),
                ),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Rule {
            record: None,
            alert: Some(ALERT_NAME.into()),
            expr,
            labels,
            annotations,
        }
    }
}

/// `slo:sli_error:ratio_rate<window>`.
fn sli_metric(window: Span) -> String {
    format!("slo:sli_error:ratio_rate{}", prom_duration(window))
}

/// A fraction as the percent a spec writes (`0.999` → `99.9`).
fn percent(fraction: f64) -> String {
    num(round_to(fraction * 100.0, 9))
}

fn round_to(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

#[cfg(test)]
mod tests;

//! Sloth's `prometheus/v1` SLO spec, so teams can bring theirs
//! (<https://sloth.dev/specs/prometheus/>, `pkg/prometheus/api/v1` in
//! slok/sloth). The file's `service` is the site (or its `labels.site`);
//! each SLO keeps its name, objective, description and labels (the spec's,
//! the SLO's and its alerting labels). Sloth's SLIs are PromQL that
//! sitepulse does not run: the SLI is read from
//!
//! - `sli.plugin` with id `sitepulse/availability` (option
//!   `errors_include_499: "true"`) or `sitepulse/latency` (option
//!   `threshold_ms`), or
//! - `sli.events` / `sli.raw` whose error query selects 5xx codes
//!   (`code=~"5.."`; with 499 when it names 499) for availability, or
//!   subtracts a histogram bucket (`le="0.5"`) for latency.
//!
//! Anything else is refused with the SLO and the field, rather than
//! evaluated as something it is not.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{SliKind, SloEntry};

/// The `version` Sloth's spec carries.
pub const VERSION: &str = "prometheus/v1";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[allow(dead_code)]
    version: String,
    service: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    slos: Vec<SlothSlo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothSlo {
    name: String,
    objective: f64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    sli: SlothSli,
    #[serde(default)]
    alerting: Option<Alerting>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothSli {
    events: Option<Events>,
    raw: Option<Raw>,
    plugin: Option<Plugin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Events {
    error_query: String,
    #[allow(dead_code)]
    total_query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    error_ratio_query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Plugin {
    id: String,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Alerting {
    #[serde(default)]
    #[allow(dead_code)]
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    page_alert: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    ticket_alert: Option<serde_json::Value>,
}

/// The `version:` of a YAML text, when it has one at the top level.
pub fn version_of(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct V {
        version: Option<String>,
    }
    // Unknown keys are fine here: only the version is wanted.
    serde_saphyr::from_str::<V>(text).ok()?.version
}

/// The site and its SLO entries; `(field, message)` when the spec cannot
/// be used.
pub fn parse(text: &str) -> Result<(String, Vec<SloEntry>), (String, String)> {
    let spec: Spec = serde_saphyr::from_str(text).map_err(|e| (String::new(), e.to_string()))?;
    let site = spec
        .labels
        .get("site")
        .cloned()
        .unwrap_or_else(|| spec.service.clone());
    if site.is_empty() {
        return Err(("service".into(), "names no site".into()));
    }
    let mut out = Vec::new();
    for (i, s) in spec.slos.into_iter().enumerate() {
        let at = |f: &str| format!("slos[{i}].{f}");
        let (kind, threshold_ms, with_499) =
            sli_of(&s.sli).map_err(|m| (at("sli"), format!("slo `{}`: {m}", s.name)))?;
        let mut labels = spec.labels.clone();
        labels.extend(s.labels);
        if let Some(a) = s.alerting {
            labels.extend(a.labels);
        }
        labels.remove("site");
        out.push(SloEntry {
            name: s.name,
            kind: Some(kind),
            objective: Some(s.objective),
            period: None,
            threshold_ms,
            errors_include_499: with_499,
            description: (!s.description.is_empty()).then_some(s.description),
            labels,
        });
    }
    Ok((site, out))
}

type SliParts = (SliKind, Option<u32>, Option<bool>);

fn sli_of(sli: &SlothSli) -> Result<SliParts, String> {
    if let Some(p) = &sli.plugin {
        return match p.id.as_str() {
            "sitepulse/availability" => {
                let with = match p.options.get("errors_include_499").map(String::as_str) {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(v) => {
                        return Err(format!(
                            "plugin option errors_include_499 `{v}`: true or false"
                        ));
                    }
                };
                Ok((SliKind::Availability, None, Some(with)))
            }
            "sitepulse/latency" => {
                let ms = p
                    .options
                    .get("threshold_ms")
                    .and_then(|v| v.parse().ok())
                    .ok_or("plugin sitepulse/latency needs option threshold_ms, a number of ms")?;
                Ok((SliKind::Latency, Some(ms), None))
            }
            other => Err(format!(
                "plugin `{other}`: sitepulse evaluates its own counters; use plugin sitepulse/availability or sitepulse/latency"
            )),
        };
    }
    let query = match (&sli.events, &sli.raw) {
        (Some(e), _) => &e.error_query,
        (None, Some(r)) => &r.error_ratio_query,
        (None, None) => return Err("sli needs events, raw or plugin".into()),
    };
    if let Some(le) = le_of(query) {
        let ms = (le * 1000.0).round();
        if ms >= 1.0 && ms <= f64::from(u32::MAX) {
            return Ok((SliKind::Latency, Some(ms as u32), None));
        }
    }
    let q = query.replace(' ', "");
    if q.contains("5..") || q.contains("5xx") || q.contains("\"5") {
        return Ok((SliKind::Availability, None, Some(q.contains("499"))));
    }
    Err(format!(
        "cannot tell what the error query counts (`{query}`): sitepulse evaluates its own counters; select 5xx codes (code=~\"5..\"), a histogram bucket (le=\"0.5\"), or use plugin sitepulse/availability or sitepulse/latency"
    ))
}

/// The `le="…"` bound a latency query subtracts, in seconds.
fn le_of(query: &str) -> Option<f64> {
    let i = query.find("le=\"").or_else(|| query.find("le=~\""))?;
    let rest = &query[i..];
    let start = rest.find('"')? + 1;
    let end = rest[start..].find('"')? + start;
    rest[start..end].parse().ok()
}

//! The `labelSelector` of an external metrics request, and the metric name
//! in its path: what site, metric and window the HPA asks for.
//!
//! The HPA turns an External metric's `selector` (matchLabels and
//! matchExpressions) into the selector string syntax of
//! `k8s.io/apimachinery/pkg/labels/selector.go`: requirements joined by
//! `,`, each `key=value`, `key==value`, `key!=value`, `key in (a,b)`,
//! `key notin (a)`, `key`, `!key`, `key>n`, `key<n`. We answer exactly one
//! value per query (the HPA sums the items), so only requirements that pick
//! one value make sense: `site` and `window` with `=`, `==` or `in` with a
//! single value. Anything else is refused with a message rather than
//! ignored, so a mistyped selector cannot scale on the wrong series.

use crate::autoscale::query::{Metric, Query, Window};

/// What is wrong with a request's metric name or selector (a `400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

fn bad(msg: impl Into<String>) -> BadRequest {
    BadRequest(msg.into())
}

/// The longest label value Kubernetes accepts, and so the longest we read.
const MAX_VALUE: usize = 63;

/// The site and window a selector names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selected {
    /// `site=…`.
    pub site: Option<String>,
    /// `window=…`.
    pub window: Option<Window>,
}

/// Splits `s` at the commas that are not inside parentheses.
fn requirements(s: &str) -> Result<Vec<&str>, BadRequest> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0u32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| bad("labelSelector: unbalanced `)`"))?;
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(bad("labelSelector: unbalanced `(`"));
    }
    out.push(&s[start..]);
    Ok(out)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')
}

/// A label value: non-empty, at most 63 characters of `[A-Za-z0-9._-]`.
fn value(v: &str) -> Result<&str, BadRequest> {
    let v = v.trim();
    if v.is_empty() || v.len() > MAX_VALUE || !v.chars().all(is_key_char) || v.contains('/') {
        return Err(bad(format!(
            "labelSelector: `{v}` is not a label value (1 to 63 of A-Z a-z 0-9 . _ -)"
        )));
    }
    Ok(v)
}

/// One requirement as key and the single value it pins, or why it pins
/// none.
fn requirement(req: &str) -> Result<(&str, &str), BadRequest> {
    let req = req.trim();
    let key_end = req.find(|c: char| !is_key_char(c)).unwrap_or(req.len());
    let (key, rest) = req.split_at(key_end);
    let rest = rest.trim_start();
    let pins = |why: &str| {
        bad(format!(
            "labelSelector: `{req}` {why}; write `key=value` or `key in (value)` with one value"
        ))
    };
    if key.is_empty() {
        return Err(pins("has no label key"));
    }
    if let Some(v) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
        return Ok((key, value(v)?));
    }
    if rest.is_empty() {
        return Err(pins("only asks that the label exists"));
    }
    if rest.starts_with("!=") || rest.starts_with('>') || rest.starts_with('<') {
        return Err(pins("does not pick one value"));
    }
    let word_end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let (word, set) = rest.split_at(word_end);
    let set = set.trim();
    let inner = set
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| pins("is not a selector requirement"))?;
    match word {
        "in" => {
            let mut vals = inner.split(',').map(str::trim).filter(|v| !v.is_empty());
            match (vals.next(), vals.next()) {
                (Some(v), None) => Ok((key, value(v)?)),
                (None, _) => Err(pins("has an empty set")),
                (Some(_), Some(_)) => Err(pins(
                    "names several values, and each query answers one value (the HPA sums items)",
                )),
            }
        }
        "notin" => Err(pins("does not pick one value")),
        _ => Err(pins("is not a selector requirement")),
    }
}

/// Reads a `labelSelector`.
///
/// # Errors
/// A requirement that is not `site`/`window` pinned to one value, a label
/// given twice with different values, or an unknown window.
pub fn parse(selector: &str) -> Result<Selected, BadRequest> {
    let mut out = Selected::default();
    if selector.trim().is_empty() {
        return Ok(out);
    }
    for req in requirements(selector)? {
        if req.trim_start().starts_with('!') {
            return Err(bad(format!(
                "labelSelector: `{}` only asks that a label is absent",
                req.trim()
            )));
        }
        let (key, val) = requirement(req)?;
        match key {
            "site" => {
                if out.site.as_deref().is_some_and(|s| s != val) {
                    return Err(bad("labelSelector: `site` is given twice, differently"));
                }
                out.site = Some(val.to_owned());
            }
            "window" => {
                let w = Window::parse(val).ok_or_else(|| {
                    bad(format!(
                        "labelSelector: window `{val}` is not one of 1m, 5m"
                    ))
                })?;
                if out.window.is_some_and(|o| o != w) {
                    return Err(bad("labelSelector: `window` is given twice, differently"));
                }
                out.window = Some(w);
            }
            other => {
                return Err(bad(format!(
                    "labelSelector: unknown label `{other}`; this API reads `site` (required) and `window` (1m or 5m)"
                )));
            }
        }
    }
    Ok(out)
}

/// Reads a metric name from the request path: one of
/// [`Metric::ALL`]'s names, any case (the HPA lowercases it), `-` for
/// `_`, and an optional `-1m`/`-5m` (or `_5m`) window suffix.
///
/// # Errors
/// An unknown metric, with the known names.
pub fn metric(name: &str) -> Result<(Metric, Option<Window>), BadRequest> {
    let lower = name.to_ascii_lowercase().replace('-', "_");
    let (base, window) = match lower.rsplit_once('_') {
        Some((base, w)) if Window::parse(w).is_some() => (base, Window::parse(w)),
        _ => (lower.as_str(), None),
    };
    let m = Metric::parse(base).ok_or_else(|| {
        bad(format!(
            "unknown metric `{name}`; one of {} (with `-` for `_` if you like, and `-5m` for the five-minute window)",
            Metric::names()
        ))
    })?;
    Ok((m, window))
}

/// The query a request asks: its path's metric and its selector.
///
/// # Errors
/// As [`metric`] and [`parse`]; a selector without `site`; a window in
/// both the name and the selector that disagree.
pub fn query(metric_name: &str, selector: &str) -> Result<Query, BadRequest> {
    let (metric, named) = metric(metric_name)?;
    let sel = parse(selector)?;
    let site = sel.site.ok_or_else(|| {
        bad("labelSelector must name the site: `site=<name>` (an External metric's selector.matchLabels)")
    })?;
    let window = match (named, sel.window) {
        (Some(a), Some(b)) if a != b => {
            return Err(bad(format!(
                "the metric name says window {} and labelSelector says {}",
                a.name(),
                b.name()
            )));
        }
        (a, b) => a.or(b).unwrap_or_default(),
    };
    Ok(Query {
        site,
        metric,
        window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_the_hpa_writes() {
        let q = query("rps", "site=site042").unwrap();
        assert_eq!(
            (q.site.as_str(), q.metric, q.window),
            ("site042", Metric::Rps, Window::OneMinute)
        );
        for sel in [
            "site==site042",
            " site = site042 ",
            "site in (site042)",
            "site in ( site042 )",
            "site=site042,site in (site042)",
        ] {
            assert_eq!(query("rps", sel).unwrap().site, "site042", "{sel}");
        }
        let q = query("fpm-busy-ratio-5m", "site=shop-example-com").unwrap();
        assert_eq!(
            (q.metric, q.window),
            (Metric::FpmBusyRatio, Window::FiveMinutes)
        );
        let q = query("P95_MS", "site=a,window=5m").unwrap();
        assert_eq!((q.metric, q.window), (Metric::P95Ms, Window::FiveMinutes));
        let q = query("rps_per_pod_1m", "window in (1m),site=a").unwrap();
        assert_eq!((q.metric, q.window), (Metric::RpsPerPod, Window::OneMinute));
        for m in Metric::ALL {
            assert_eq!(metric(m.name()).unwrap(), (m, None));
            assert_eq!(metric(&m.name().replace('_', "-")).unwrap(), (m, None));
        }
    }

    #[test]
    fn selectors_that_pick_no_single_value_are_refused() {
        let bad = [
            ("rps", ""),
            ("rps", "window=5m"),
            ("rps", "site"),
            ("rps", "!site"),
            ("rps", "site!=a"),
            ("rps", "site notin (a)"),
            ("rps", "site in (a,b)"),
            ("rps", "site in ()"),
            ("rps", "site>1"),
            ("rps", "site=a,site=b"),
            ("rps", "site=a,app=b"),
            ("rps", "site=a,window=1h"),
            ("rps", "site=a b"),
            ("rps", "site=a/b"),
            ("rps", "site=(a"),
            ("rps", "site in (a"),
            ("rps", "site=a)"),
            ("rps", "=a"),
            ("rps", "site in a"),
            ("rps", &format!("site={}", "a".repeat(64))),
            ("rps-5m", "site=a,window=1m"),
            ("qps", "site=a"),
            ("rps-1h", "site=a"),
            ("", "site=a"),
        ];
        for (m, sel) in bad {
            let e = query(m, sel).unwrap_err();
            assert!(!e.0.is_empty(), "{m} {sel}");
        }
        assert!(
            query("qps", "site=a")
                .unwrap_err()
                .0
                .contains("rps_per_pod")
        );
    }

    #[test]
    fn any_bytes_are_refused_or_read_never_a_panic() {
        let samples = [
            "site=\u{e9}",
            "((((",
            "))))",
            ",,,",
            "site in (,,,)",
            "\u{0}",
            "site==",
            "site in",
            "site =in (a)",
            "!",
            "a=b=c",
            "in (a)",
            "site=a,",
            ",site=a",
        ];
        for s in samples {
            let _ = parse(s);
            let _ = query(s, s);
        }
    }
}

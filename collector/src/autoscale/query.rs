//! What an autoscaler asks for: a site, a metric, a window, and (for KEDA)
//! a target per pod. The same names are used by every interface: KEDA's
//! external scaler metadata, the metrics-api JSON and the external metrics
//! API's metric names (docs/autoscale.md).

use std::collections::HashMap;
use std::fmt;

/// A per-site value an autoscaler can scale on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Requests per second over the window (the default).
    Rps,
    /// Requests per second per pod serving the site.
    RpsPerPod,
    /// Requests in flight, by Little's law (rps × mean duration).
    Inflight,
    /// PHP-FPM `listen queue`: requests waiting for a worker.
    FpmQueue,
    /// PHP-FPM busy workers / all workers.
    FpmBusyRatio,
    /// PHP-FPM busy workers.
    FpmActive,
    /// 95th percentile request duration, ms.
    P95Ms,
    /// Fraction of requests answered 5xx.
    ErrorRatio,
    /// `server reached pm.max_children` warnings per second (FPM's log).
    FpmMaxChildrenRate,
    /// Slow requests per second (FPM's log).
    FpmSlowRate,
}

impl Metric {
    /// Every metric, in the order the docs list them.
    pub const ALL: [Metric; 10] = [
        Metric::Rps,
        Metric::RpsPerPod,
        Metric::Inflight,
        Metric::FpmQueue,
        Metric::FpmBusyRatio,
        Metric::FpmActive,
        Metric::P95Ms,
        Metric::ErrorRatio,
        Metric::FpmMaxChildrenRate,
        Metric::FpmSlowRate,
    ];

    /// The name users write (`metric: fpm_queue`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Rps => "rps",
            Metric::RpsPerPod => "rps_per_pod",
            Metric::Inflight => "inflight",
            Metric::FpmQueue => "fpm_queue",
            Metric::FpmBusyRatio => "fpm_busy_ratio",
            Metric::FpmActive => "fpm_active",
            Metric::P95Ms => "p95_ms",
            Metric::ErrorRatio => "error_ratio",
            Metric::FpmMaxChildrenRate => "fpm_max_children_rate",
            Metric::FpmSlowRate => "fpm_slow_rate",
        }
    }

    /// The metric called `name`.
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Every name, for error messages.
    pub fn names() -> String {
        Metric::ALL.map(Metric::name).join(", ")
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The window a rate or ratio is taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Window {
    /// The last minute (the default).
    #[default]
    OneMinute,
    /// The last five minutes.
    FiveMinutes,
}

impl Window {
    /// `1m` or `5m`.
    pub fn name(self) -> &'static str {
        match self {
            Window::OneMinute => "1m",
            Window::FiveMinutes => "5m",
        }
    }

    /// The window called `name`.
    pub fn parse(name: &str) -> Option<Window> {
        match name {
            "1m" => Some(Window::OneMinute),
            "5m" => Some(Window::FiveMinutes),
            _ => None,
        }
    }

    /// Its index in a site snapshot's windows
    /// ([`sitepulse_pipeline::snapshot::WINDOWS_SECS`]).
    pub fn index(self) -> usize {
        match self {
            Window::OneMinute => 0,
            Window::FiveMinutes => 1,
        }
    }
}

/// One value of one site.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// The site, in any spelling the site table accepts.
    pub site: String,
    /// What to measure.
    pub metric: Metric,
    /// Over which window.
    pub window: Window,
}

/// A KEDA trigger: the query and the target it scales to.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// What it reads.
    pub query: Query,
    /// Target value per pod (`target`).
    pub target: f64,
    /// Above this the scaler is active (`activationThreshold`, default 0).
    pub activation: f64,
}

/// Trigger metadata that cannot be used: the key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct QueryError {
    /// The metadata key (`site`, `metric`, `target`, …).
    pub key: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl QueryError {
    fn new(key: &'static str, message: impl Into<String>) -> Self {
        QueryError {
            key,
            message: message.into(),
        }
    }
}

/// Keys a trigger may carry besides ours: KEDA's own, which it reads
/// itself and passes on with the rest (kedacore/keda
/// `pkg/scalers/external_scaler.go`, `externalScalerMetadata`).
const KEDA_KEYS: [&str; 3] = ["scalerAddress", "enableTLS", "unsafeSsl"];

impl Query {
    /// Reads `site` (or `siteFromEnv`), `metric` and `window` from trigger
    /// metadata or query parameters.
    ///
    /// KEDA sends a `…FromEnv` key with the variable's value in place of
    /// its name, and leaves the key out when the scale target's container
    /// has no such variable (kedacore/keda `pkg/scalers/external_scaler.go`,
    /// `parseExternalScalerMetadata`): `siteFromEnv` holds the site.
    ///
    /// # Errors
    /// A missing `site`, an unknown metric or window.
    pub fn from_params(meta: &HashMap<String, String>) -> Result<Query, QueryError> {
        let (key, given) = match (meta.get("site"), meta.get("siteFromEnv")) {
            (Some(s), _) => ("site", s),
            (None, Some(s)) => ("siteFromEnv", s),
            (None, None) => {
                return Err(QueryError::new(
                    "site",
                    "is required (or `siteFromEnv`, which KEDA leaves out when the \
                     scale target's container has no such variable)",
                ));
            }
        };
        let site = match given.trim() {
            "" => return Err(QueryError::new(key, "is empty")),
            s => s.to_owned(),
        };
        let metric = match meta.get("metric").map(|s| s.trim()) {
            None | Some("") => Metric::Rps,
            Some(m) => Metric::parse(m).ok_or_else(|| {
                QueryError::new(
                    "metric",
                    format!("unknown metric `{m}`; one of {}", Metric::names()),
                )
            })?,
        };
        let window = match meta.get("window").map(|s| s.trim()) {
            None | Some("") => Window::default(),
            Some(w) => Window::parse(w).ok_or_else(|| {
                QueryError::new("window", format!("unknown window `{w}`; one of 1m, 5m"))
            })?,
        };
        Ok(Query {
            site,
            metric,
            window,
        })
    }

    /// The metric's name as KEDA and the HPA see it: `{site}-{metric}` (KEDA prefixes `s{trigger index}-` itself)
    /// (plus `-5m` for the five-minute window), lowercase, only `[a-z0-9-]`,
    /// as the external metric names the HPA accepts.
    pub fn metric_name(&self) -> String {
        let mut out = String::with_capacity(self.site.len() + 24);
        for c in self.site.chars() {
            match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9' | '-') => out.push(c),
                _ => out.push('-'),
            }
        }
        out.push('-');
        out.push_str(&self.metric.name().replace('_', "-"));
        if self.window != Window::OneMinute {
            out.push('-');
            out.push_str(self.window.name());
        }
        out
    }
}

impl Trigger {
    /// Reads a KEDA external scaler trigger's metadata.
    ///
    /// # Errors
    /// A missing or malformed key, or one that is not ours.
    pub fn from_metadata(meta: &HashMap<String, String>) -> Result<Trigger, QueryError> {
        let query = Query::from_params(meta)?;
        let number = |key: &'static str| -> Result<Option<f64>, QueryError> {
            let Some(v) = meta.get(key).map(|s| s.trim()) else {
                return Ok(None);
            };
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                _ => Err(QueryError::new(key, format!("`{v}` is not a number ≥ 0"))),
            }
        };
        let target = number("target")?.ok_or_else(|| {
            QueryError::new("target", "is required: the value per pod to scale to")
        })?;
        if target == 0.0 {
            return Err(QueryError::new("target", "must be greater than 0"));
        }
        let activation = number("activationThreshold")?.unwrap_or(0.0);
        const OURS: [&str; 6] = [
            "site",
            "siteFromEnv",
            "metric",
            "window",
            "target",
            "activationThreshold",
        ];
        if let Some(k) = meta
            .keys()
            .find(|k| !OURS.contains(&k.as_str()) && !KEDA_KEYS.contains(&k.as_str()))
        {
            return Err(QueryError::new(
                "metadata",
                format!("unknown key `{k}`; known: {}", OURS.join(", ")),
            ));
        }
        Ok(Trigger {
            query,
            target,
            activation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_and_names() {
        let t = Trigger::from_metadata(&meta(&[("site", "site042"), ("target", "15")])).unwrap();
        assert_eq!(t.query.metric, Metric::Rps);
        assert_eq!(t.query.window, Window::OneMinute);
        assert_eq!((t.target, t.activation), (15.0, 0.0));
        assert_eq!(t.query.metric_name(), "site042-rps");
        let t = Trigger::from_metadata(&meta(&[
            ("site", "Site_042.example.com"),
            ("metric", "fpm_busy_ratio"),
            ("window", "5m"),
            ("target", "0.7"),
            ("activationThreshold", "0.1"),
            ("scalerAddress", "x:9465"),
        ]))
        .unwrap();
        assert_eq!(
            t.query.metric_name(),
            "site-042-example-com-fpm-busy-ratio-5m"
        );
        assert_eq!(t.activation, 0.1);
        // KEDA passes `siteFromEnv` resolved: its value is the site.
        let t = Trigger::from_metadata(&meta(&[
            ("siteFromEnv", "site042"),
            ("target", "15"),
            ("enableTLS", "false"),
        ]))
        .unwrap();
        assert_eq!(t.query.site, "site042");
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()), Some(m));
        }
    }

    #[test]
    fn bad_metadata_names_the_key() {
        let bad = [
            (vec![("target", "1")], "site"),
            (vec![("siteFromEnv", ""), ("target", "1")], "siteFromEnv"),
            (vec![("site", " "), ("target", "1")], "site"),
            (vec![("site", "a")], "target"),
            (vec![("site", "a"), ("target", "x")], "target"),
            (vec![("site", "a"), ("target", "-1")], "target"),
            (vec![("site", "a"), ("target", "0")], "target"),
            (vec![("site", "a"), ("target", "NaN")], "target"),
            (
                vec![("site", "a"), ("target", "1"), ("metric", "qps")],
                "metric",
            ),
            (
                vec![("site", "a"), ("target", "1"), ("window", "1h")],
                "window",
            ),
            (
                vec![("site", "a"), ("target", "1"), ("activationThreshold", "x")],
                "activationThreshold",
            ),
            (
                vec![("site", "a"), ("target", "1"), ("tagret", "1")],
                "metadata",
            ),
        ];
        for (kv, key) in bad {
            let e = Trigger::from_metadata(&meta(&kv)).unwrap_err();
            assert_eq!(e.key, key, "{kv:?}: {e}");
        }
    }
}

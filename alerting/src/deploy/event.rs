//! Deploy events as the webhook takes them (`POST /api/v1/deploys`, a
//! JSON object; docs/slo.md has the contract and deploy/ an Argo CD
//! notifications template) and as the Kubernetes watch makes them.
//!
//! ```json
//! {"site": "shop", "version": "v42", "event": "started",
//!  "started_at": "2026-12-04T10:00:00Z", "deadline_secs": 600,
//!  "rollback": "argocd app rollback shop"}
//! ```
//!
//! `event` is `started` (default), `finished` or `failed` (with a
//! `reason`); `started_at` (RFC 3339 or Unix seconds) defaults to when
//! the event arrives; `deadline` (RFC 3339) may replace `deadline_secs`.

use serde::Deserialize;

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployEventKind {
    /// A rollout started, with its own deadline (or the default).
    Started { deadline_secs: Option<u64> },
    /// It is done (all replicas updated and available).
    Finished,
    /// It stopped making progress.
    Failed { reason: String },
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployEvent {
    /// The site.
    pub site: String,
    /// The version rolled out.
    pub version: String,
    /// What happened.
    pub kind: DeployEventKind,
    /// When it happened (Unix seconds); `None`: when it arrived.
    pub at: Option<i64>,
    /// Who said so (`webhook:<caller>`, `kubernetes`).
    pub source: String,
    /// How to roll back.
    pub rollback_hint: Option<String>,
}

/// An event that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A field is missing or wrong.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// `finished`/`failed` for a site with nothing rolling.
    #[error("site {0}: no rollout in progress")]
    NoRollout(String),
    /// `finished`/`failed` for another version than the one rolling.
    #[error("site {site}: {rolling} is rolling out, not {got}")]
    OtherVersion {
        site: String,
        rolling: String,
        got: String,
    },
    /// Too many rollouts in progress.
    #[error("{0} rollouts are in progress already")]
    TooMany(usize),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Time {
    Unix(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    site: String,
    version: String,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    started_at: Option<Time>,
    #[serde(default)]
    at: Option<Time>,
    #[serde(default)]
    deadline_secs: Option<u64>,
    #[serde(default)]
    deadline: Option<Time>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    rollback: Option<String>,
}

fn unix(t: &Time, field: &'static str) -> Result<i64, EventError> {
    match t {
        Time::Unix(s) => Ok(*s),
        Time::Text(s) => s
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_second())
            .map_err(|e| EventError::Invalid {
                field,
                message: format!(
                    "`{s}`: an RFC 3339 time (2026-12-04T10:00:00Z) or Unix seconds: {e}"
                ),
            }),
    }
}

fn short(field: &'static str, v: &str, max: usize) -> Result<(), EventError> {
    if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
        return Err(EventError::Invalid {
            field,
            message: format!("1 to {max} bytes, no control characters"),
        });
    }
    Ok(())
}

impl DeployEvent {
    /// Parses the webhook's JSON body; `who` is the authenticated caller.
    ///
    /// # Errors
    /// Not JSON, an unknown key, a missing or bad field (named).
    pub fn from_json(body: &[u8], who: &str) -> Result<DeployEvent, EventError> {
        let b: Body = serde_json::from_slice(body).map_err(|e| EventError::Invalid {
            field: "body",
            message: format!("{e} (keys: site, version, event, started_at, deadline_secs, deadline, reason, rollback)"),
        })?;
        short("site", &b.site, 253)?;
        short("version", &b.version, 256)?;
        let at = match (&b.started_at, &b.at) {
            (Some(t), _) => Some(unix(t, "started_at")?),
            (None, Some(t)) => Some(unix(t, "at")?),
            (None, None) => None,
        };
        let kind = match b.event.as_deref().unwrap_or("started") {
            "started" => {
                let deadline_secs = match (b.deadline_secs, &b.deadline) {
                    (Some(_), Some(_)) => {
                        return Err(EventError::Invalid {
                            field: "deadline",
                            message: "give deadline_secs or deadline, not both".into(),
                        });
                    }
                    (Some(0), None) => {
                        return Err(EventError::Invalid {
                            field: "deadline_secs",
                            message: "above 0".into(),
                        });
                    }
                    (Some(s), None) if s > super::MAX_DEADLINE_SECS as u64 => {
                        return Err(EventError::Invalid {
                            field: "deadline_secs",
                            message: format!("{s}: at most {} (7 days)", super::MAX_DEADLINE_SECS),
                        });
                    }
                    (Some(s), None) => Some(s),
                    (None, Some(t)) => {
                        let end = unix(t, "deadline")?;
                        let start = at.ok_or(EventError::Invalid {
                            field: "deadline",
                            message: "an absolute deadline needs started_at".into(),
                        })?;
                        if end <= start || end - start > super::MAX_DEADLINE_SECS {
                            return Err(EventError::Invalid {
                                field: "deadline",
                                message: "after started_at, by at most 7 days".into(),
                            });
                        }
                        Some((end - start) as u64)
                    }
                    (None, None) => None,
                };
                DeployEventKind::Started { deadline_secs }
            }
            "finished" | "succeeded" | "deployed" => DeployEventKind::Finished,
            "failed" | "stalled" => DeployEventKind::Failed {
                reason: b.reason.clone().unwrap_or_else(|| "reported failed".into()),
            },
            other => {
                return Err(EventError::Invalid {
                    field: "event",
                    message: format!("`{other}`: started, finished or failed"),
                });
            }
        };
        if let Some(r) = &b.rollback {
            short("rollback", r, 1024)?;
        }
        Ok(DeployEvent {
            site: b.site,
            version: b.version,
            kind,
            at,
            source: format!("webhook:{who}"),
            rollback_hint: b.rollback,
        })
    }
}

//! What every notifier takes: an [`Alert`] as Alertmanager's
//! `template.Alert` has it, and a [`Notification`] (one group of alerts
//! for one receiver) as its `template.Data` has it
//! (`prometheus/alertmanager:template/template.go`, v0.25).
//!
//! [`Alert::fingerprint`] is Prometheus's `model.LabelSet.Fingerprint`
//! (`prometheus/common:model/signature.go`, `labelSetToFingerprint`):
//! FNV-1a 64 over each label's name, a `0xff` byte, its value and a
//! `0xff` byte, in label-name order; Alertmanager prints it as 16 hex
//! digits. Times are written as Go's `time.Time` marshals them (RFC 3339
//! with trimmed fractional seconds), with Go's zero time for "not set".

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How Go's `encoding/json` writes a zero `time.Time`: Alertmanager's
/// `endsAt` of an alert that is still firing.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Whether an alert is still true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Its condition holds.
    Firing,
    /// Its condition held and no longer does.
    Resolved,
}

impl AlertStatus {
    /// `"firing"` or `"resolved"`, as Alertmanager writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert, as a notifier sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// What identifies it (`alertname`, `site`, `slo`, `severity`, ...).
    pub labels: BTreeMap<String, String>,
    /// What describes it (`summary`, `description`, `burn_rate_long`,
    /// `burn_rate_short`, `budget_remaining`, `dashboard`, ...).
    pub annotations: BTreeMap<String, String>,
    /// When it started firing, Unix milliseconds.
    pub starts_at: i64,
    /// When it resolved, Unix milliseconds; `None` while it fires.
    pub ends_at: Option<i64>,
    /// A link to what produced it (empty when there is none).
    pub generator_url: String,
    /// Firing or resolved.
    pub status: AlertStatus,
}

impl Alert {
    /// Alertmanager's fingerprint of the labels, as 16 lowercase hex
    /// digits (`fmt.Sprintf("%016x", ...)`).
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", fingerprint(&self.labels))
    }
}

/// Prometheus's `model.LabelSet.Fingerprint` of `labels`: FNV-1a 64 over
/// `name 0xff value 0xff` per label in name order; the empty set gives
/// FNV's offset basis.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    const SEP: u8 = 0xff;
    let mut h = OFFSET;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= u64::from(x);
            h = h.wrapping_mul(PRIME);
        }
    };
    // BTreeMap<String, _> iterates in byte order, as Go's sort.Strings.
    for (k, v) in labels {
        eat(k.as_bytes());
        eat(&[SEP]);
        eat(v.as_bytes());
        eat(&[SEP]);
    }
    h
}

/// One notification: a group of alerts for one receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The receiver's name.
    pub receiver: String,
    /// The group's key, unique per route and group labels (Alertmanager
    /// writes `{}:{alertname="X"}`).
    pub group_key: String,
    /// The labels the group was made by.
    pub group_labels: BTreeMap<String, String>,
    /// Labels every alert has with the same value.
    pub common_labels: BTreeMap<String, String>,
    /// Annotations every alert has with the same value.
    pub common_annotations: BTreeMap<String, String>,
    /// Where the alerting UI lives, for links back.
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<Alert>,
    /// Alerts left out before this notification was made.
    pub truncated_alerts: u64,
}

impl Notification {
    /// A notification of `alerts` with common labels and annotations
    /// computed as Alertmanager's `template.Data` does (pairs equal in
    /// every alert).
    pub fn new(
        receiver: impl Into<String>,
        group_key: impl Into<String>,
        group_labels: BTreeMap<String, String>,
        external_url: impl Into<String>,
        alerts: Vec<Alert>,
    ) -> Self {
        let common_labels = common(alerts.iter().map(|a| &a.labels));
        let common_annotations = common(alerts.iter().map(|a| &a.annotations));
        Notification {
            receiver: receiver.into(),
            group_key: group_key.into(),
            group_labels,
            common_labels,
            common_annotations,
            external_url: external_url.into(),
            alerts,
            truncated_alerts: 0,
        }
    }

    /// Firing if any alert fires, else resolved (Alertmanager's
    /// `types.Alerts(...).Status()`).
    pub fn status(&self) -> AlertStatus {
        status_of(&self.alerts)
    }
}

/// Firing if any of `alerts` fires.
pub(crate) fn status_of(alerts: &[Alert]) -> AlertStatus {
    if alerts.iter().any(|a| a.status == AlertStatus::Firing) {
        AlertStatus::Firing
    } else {
        AlertStatus::Resolved
    }
}

/// The pairs every map of `maps` has.
fn common<'a>(
    mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut out = first.clone();
    for m in maps {
        out.retain(|k, v| m.get(k) == Some(v));
        if out.is_empty() {
            break;
        }
    }
    out
}

/// Formats Unix milliseconds as Go's `time.Time` in UTC marshals to JSON
/// (`time.RFC3339Nano`: fractional seconds without trailing zeros, none
/// when whole): `2026-11-23T10:00:00.25Z`.
pub fn format_go_time(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = sitepulse_pipeline::time::civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if ms != 0 {
        let frac = format!(".{ms:03}");
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// An alert's `endsAt` as Alertmanager's notifications write it: its end
/// when resolved, Go's zero time while firing (`types.Alerts` hides an
/// end not yet reached).
pub(crate) fn ends_at_text(a: &Alert) -> String {
    match (a.status, a.ends_at) {
        (AlertStatus::Resolved, Some(ms)) => format_go_time(ms),
        _ => GO_ZERO_TIME.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::labels;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        Alert {
            labels: labels(pairs),
            annotations: BTreeMap::new(),
            starts_at: 0,
            ends_at: None,
            generator_url: String::new(),
            status: AlertStatus::Firing,
        }
    }

    #[test]
    fn fingerprint_matches_prometheus() {
        // The empty set is FNV-1a's offset basis (`emptyLabelSignature`).
        assert_eq!(alert(&[]).fingerprint(), "cbf29ce484222325");
        // FNV-1a 64 of "a\xffb\xff", computed byte by byte by hand:
        // the separator is part of the hashed bytes.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in b"a\xffb\xff" {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        assert_eq!(alert(&[("a", "b")]).fingerprint(), format!("{h:016x}"));
        // Order of insertion does not matter; names and values do.
        let x = alert(&[("site", "shop"), ("alertname", "X")]);
        let y = alert(&[("alertname", "X"), ("site", "shop")]);
        assert_eq!(x.fingerprint(), y.fingerprint());
        assert_ne!(
            alert(&[("ab", "c")]).fingerprint(),
            alert(&[("a", "bc")]).fingerprint()
        );
        assert_eq!(x.fingerprint().len(), 16);
        // As Alertmanager 0.25 answered for this label set on
        // `GET /api/v2/alerts` (tests/notify_alertmanager.rs checks more).
        assert_eq!(
            alert(&[("alertname", "X"), ("site", "a")]).fingerprint(),
            "0809a1c245ca5096"
        );
    }

    #[test]
    fn go_time_format() {
        assert_eq!(format_go_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_go_time(1_795_428_000_250), "2026-11-23T10:00:00.25Z");
        assert_eq!(
            format_go_time(1_795_428_000_001),
            "2026-11-23T10:00:00.001Z"
        );
        assert_eq!(format_go_time(1_795_428_000_120), "2026-11-23T10:00:00.12Z");
        assert_eq!(format_go_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn common_labels_and_status() {
        let mut a = alert(&[("alertname", "X"), ("site", "a"), ("slo", "avail")]);
        a.annotations = labels(&[("summary", "same")]);
        let mut b = alert(&[("alertname", "X"), ("site", "b"), ("slo", "avail")]);
        b.annotations = labels(&[("summary", "same")]);
        b.status = AlertStatus::Resolved;
        let n = Notification::new("ops", "{}:{}", BTreeMap::new(), "", vec![a, b.clone()]);
        assert_eq!(
            n.common_labels,
            labels(&[("alertname", "X"), ("slo", "avail")])
        );
        assert_eq!(n.common_annotations, labels(&[("summary", "same")]));
        assert_eq!(n.status(), AlertStatus::Firing);
        let n = Notification::new("ops", "{}:{}", BTreeMap::new(), "", vec![b]);
        assert_eq!(n.status(), AlertStatus::Resolved);
        let n = Notification::new("ops", "{}:{}", BTreeMap::new(), "", Vec::new());
        assert!(n.common_labels.is_empty());
    }

    #[test]
    fn ends_at_hidden_while_firing() {
        let mut a = alert(&[]);
        a.ends_at = Some(1000);
        assert_eq!(ends_at_text(&a), GO_ZERO_TIME);
        a.status = AlertStatus::Resolved;
        assert_eq!(ends_at_text(&a), "1970-01-01T00:00:01Z");
    }
}

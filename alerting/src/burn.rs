//! Multi-window, multi-burn-rate alerts (the Google SRE workbook, ch. 5,
//! "Alerting on SLOs", as Sloth generates them): an alert fires when the
//! error budget burns faster than `factor` over a long window *and* a
//! short one (the short one makes it stop soon after the burn stops).
//! The factor is the share of the period's budget a window may consume:
//! `budget_percent / 100 × period / long`, so the default table gives the
//! workbook's 14.4 / 6 / 3 / 1 for a 30-day period and scales for others.

use serde::{Deserialize, Serialize};

use crate::spec::Span;

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Someone looks now.
    Page,
    /// Someone looks within working hours.
    Ticket,
}

impl Severity {
    /// `page` or `ticket` (the `severity` label).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One row of the table: both windows must burn faster than the factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnWindow {
    /// `page` or `ticket`.
    pub severity: Severity,
    /// The long window (`1h`).
    pub long: Span,
    /// The short window (`5m`), usually a twelfth of the long one.
    pub short: Span,
    /// Percent of the period's budget that burning over `long` alerts
    /// (2 → 14.4× for 1h of 30d). Either this or `factor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_percent: Option<f64>,
    /// A fixed burn-rate factor, whatever the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
}

impl BurnWindow {
    /// The burn rate above which this row alerts for an SLO of `period`.
    pub fn factor_for(&self, period: Span) -> f64 {
        match (self.factor, self.budget_percent) {
            (Some(f), _) => f,
            (None, Some(p)) => p / 100.0 * period.secs() as f64 / self.long.secs() as f64,
            (None, None) => f64::INFINITY,
        }
    }
}

/// The alert table (`burn_alerts:` in a spec file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BurnTable {
    /// Requests the long window must hold before its row may alert, so a
    /// site with 3 requests and 1 error does not page.
    pub min_requests: u64,
    /// The rows, checked in order; a page and a ticket may both fire.
    pub windows: Vec<BurnWindow>,
}

impl Default for BurnTable {
    fn default() -> Self {
        let row = |severity, long, short, pct| BurnWindow {
            severity,
            long: Span(long),
            short: Span(short),
            budget_percent: Some(pct),
            factor: None,
        };
        BurnTable {
            min_requests: 100,
            windows: vec![
                row(Severity::Page, 3600, 300, 2.0),
                row(Severity::Page, 6 * 3600, 1800, 5.0),
                row(Severity::Ticket, 86_400, 2 * 3600, 10.0),
                row(Severity::Ticket, 3 * 86_400, 6 * 3600, 10.0),
            ],
        }
    }
}

/// The longest window kept at minute resolution; longer ones are read
/// from hourly buckets and must be whole hours.
pub const MINUTE_WINDOWS_UP_TO_SECS: u64 = 6 * 3600;

/// Checks a window's length: whole minutes up to 6h, whole hours above.
pub fn window_ok(w: Span) -> Result<(), String> {
    let s = w.secs();
    if !s.is_multiple_of(60) {
        return Err(format!("{w}: whole minutes"));
    }
    if s > MINUTE_WINDOWS_UP_TO_SECS && !s.is_multiple_of(3600) {
        return Err(format!("{w}: windows over 6h are whole hours"));
    }
    if s > 90 * 86_400 {
        return Err(format!("{w}: at most 90d"));
    }
    Ok(())
}

impl BurnTable {
    /// `(field, message)` on the first problem.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.windows.is_empty() {
            return Err((
                "windows".into(),
                "at least one row (or leave burn_alerts out for the default table)".into(),
            ));
        }
        for (i, w) in self.windows.iter().enumerate() {
            let at = |f: &str| format!("windows[{i}].{f}");
            window_ok(w.long).map_err(|m| (at("long"), m))?;
            window_ok(w.short).map_err(|m| (at("short"), m))?;
            if w.short >= w.long {
                return Err((
                    at("short"),
                    format!("{} must be shorter than long ({})", w.short, w.long),
                ));
            }
            match (w.budget_percent, w.factor) {
                (Some(p), None) if p > 0.0 && p <= 100.0 => {}
                (None, Some(f)) if f > 0.0 && f.is_finite() => {}
                (Some(_), Some(_)) => {
                    return Err((
                        at("factor"),
                        "write budget_percent or factor, not both".into(),
                    ));
                }
                (None, None) => {
                    return Err((
                        at("budget_percent"),
                        "write budget_percent (2) or factor (14.4)".into(),
                    ));
                }
                (Some(p), None) => {
                    return Err((at("budget_percent"), format!("{p}: above 0, at most 100")));
                }
                (None, Some(f)) => return Err((at("factor"), format!("{f}: a positive number"))),
            }
        }
        Ok(())
    }

    /// Every window the table reads, shortest first.
    pub fn windows_used(&self) -> Vec<Span> {
        let mut v: Vec<Span> = self
            .windows
            .iter()
            .flat_map(|w| [w.long, w.short])
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Burn rate: the error ratio over the budget (1 = the budget lasts
/// exactly the period). `None` without requests.
pub fn burn_rate(total: u64, bad: u64, budget: f64) -> Option<f64> {
    (total > 0).then(|| bad as f64 / total as f64 / budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_is_the_workbooks_for_30_days_and_scales() {
        let t = BurnTable::default();
        t.check().unwrap();
        let f: Vec<f64> = t
            .windows
            .iter()
            .map(|w| w.factor_for(Span(30 * 86_400)))
            .collect();
        for (got, want) in f.iter().zip([14.4, 6.0, 3.0, 1.0]) {
            assert!((got - want).abs() < 1e-9, "{f:?}");
        }
        let f28: Vec<f64> = t
            .windows
            .iter()
            .map(|w| w.factor_for(Span(28 * 86_400)))
            .collect();
        for (got, want) in f28.iter().zip([13.44, 5.6, 2.8, 0.9333333333]) {
            assert!((got - want).abs() < 1e-6, "{f28:?}");
        }
        assert_eq!(
            t.windows_used()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
        );
    }

    #[test]
    fn bad_rows_are_named() {
        let mut t = BurnTable::default();
        t.windows[1].short = Span(7 * 3600);
        assert_eq!(t.check().unwrap_err().0, "windows[1].short");
        let mut t = BurnTable::default();
        t.windows[2].long = Span(86_400 + 60);
        assert_eq!(t.check().unwrap_err().0, "windows[2].long");
        let mut t = BurnTable::default();
        t.windows[0].factor = Some(14.4);
        assert_eq!(t.check().unwrap_err().0, "windows[0].factor");
        assert_eq!(burn_rate(0, 0, 0.001), None);
        assert!((burn_rate(1000, 2, 0.001).unwrap() - 2.0).abs() < 1e-9);
    }
}

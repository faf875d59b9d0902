//! Routing, grouping and the notification log, as Alertmanager's
//! dispatcher does them (`dispatch/dispatch.go`, `notify/notify.go`'s
//! DedupStage): each firing alert goes to the first route whose matchers
//! match (and on to the next while `continue` is set); within a route,
//! alerts with the same `group_by` labels form a group. A new group waits
//! `group_wait` before its first notification, then is looked at every
//! `group_interval`: it is notified when it has a firing alert its
//! receiver was not told of, when an alert it was told of resolved
//! (`send_resolved`), or when `repeat_interval` passed since the last
//! notification with alerts still firing. `resolve_immediately` sends a
//! resolution without waiting for the interval.
//!
//! The notification log (what each receiver was last told per group, and
//! when) is what prevents a second page for the same alerts: it is saved
//! with the alert states, so a restart does not page again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::matcher::{Matcher, all_match};
use super::state::{AlertSet, AlertState, Tracked};

/// One route: which alerts, to which receiver, grouped how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Route {
    /// The receiver's name.
    pub receiver: String,
    /// Alerts it takes (all when empty).
    pub matchers: Vec<Matcher>,
    /// Go on to the next route after this one matched.
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    /// Labels that make a group.
    pub group_by: Vec<String>,
    /// A new group's wait before its first notification.
    pub group_wait_secs: u64,
    /// Between two looks at a group.
    pub group_interval_secs: u64,
    /// A group still firing is notified again after this long.
    pub repeat_interval_secs: u64,
    /// Tell the receiver when alerts it was told of resolve.
    pub send_resolved: bool,
    /// Send a resolution at once instead of at the next interval.
    pub resolve_immediately: bool,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            receiver: String::new(),
            matchers: Vec::new(),
            continue_matching: false,
            group_by: vec!["alertname".into(), "site".into()],
            group_wait_secs: 30,
            group_interval_secs: 300,
            repeat_interval_secs: 4 * 3600,
            send_resolved: true,
            resolve_immediately: false,
        }
    }
}

/// One alert in a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct OutAlert {
    /// Its fingerprint.
    pub fingerprint: u64,
    /// Its labels, annotations and times.
    pub alert: Tracked,
}

/// A notification due: one group for one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The route's index.
    pub route: usize,
    /// The receiver's name.
    pub receiver: String,
    /// `{}/{alertname="...",site="..."}`-like, stable per group.
    pub group_key: String,
    /// The `group_by` labels' values.
    pub group_labels: BTreeMap<String, String>,
    /// Firing alerts, then resolved ones.
    pub alerts: Vec<OutAlert>,
}

impl Outgoing {
    fn firing(&self) -> BTreeSet<u64> {
        self.alerts
            .iter()
            .filter(|a| a.alert.state == AlertState::Firing)
            .map(|a| a.fingerprint)
            .collect()
    }
}

/// What a receiver was last told of a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Firing alerts notified.
    pub firing: BTreeSet<u64>,
    /// When (Unix seconds).
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq)]
struct Group {
    next_flush: i64,
    in_flight: bool,
}

/// The dispatcher's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dispatcher {
    /// Receiver ⨯ group key → what it was told.
    pub log: BTreeMap<String, LogEntry>,
    #[serde(skip)]
    groups: BTreeMap<String, Group>,
}

/// Each group's route, labels and alerts during one tick.
type Members = BTreeMap<String, (usize, BTreeMap<String, String>, Vec<OutAlert>)>;

/// Log entries older than this are forgotten (Alertmanager keeps its
/// notification log 5 days).
pub const LOG_RETENTION_SECS: i64 = 5 * 86_400;

fn log_key(receiver: &str, group_key: &str) -> String {
    format!("{receiver}\u{1f}{group_key}")
}

impl Dispatcher {
    /// The notifications due at `now`. `muted` says whether a firing
    /// alert is silenced or inhibited (it is then left out, as if not
    /// firing). Each one returned is in flight until [`sent`](Self::sent)
    /// or [`failed`](Self::failed).
    pub fn tick(
        &mut self,
        routes: &[Route],
        alerts: &AlertSet,
        muted: &dyn Fn(u64, &Tracked) -> bool,
        now: i64,
    ) -> Vec<Outgoing> {
        // Members of each group this tick.
        let mut members: Members = BTreeMap::new();
        for (fp, a) in alerts.iter() {
            let notifiable = match a.state {
                AlertState::Pending => false,
                AlertState::Firing => !muted(fp, a),
                AlertState::Resolved => true,
            };
            if !notifiable {
                continue;
            }
            for (i, key, group_labels) in groups_of(routes, &a.labels) {
                members
                    .entry(key)
                    .or_insert_with(|| (i, group_labels, Vec::new()))
                    .2
                    .push(OutAlert {
                        fingerprint: fp,
                        alert: a.clone(),
                    });
            }
        }
        let mut out = Vec::new();
        for (key, (i, group_labels, mut list)) in members {
            let r = &routes[i];
            let lk = log_key(&r.receiver, &key);
            let told = self.log.get(&lk).cloned().unwrap_or_default();
            // A new group waits group_wait from when its first alert
            // fired (not from this look at it, which may come later).
            let since = list
                .iter()
                .filter_map(|a| a.alert.fired_at)
                .min()
                .unwrap_or(now);
            let g = self.groups.entry(key.clone()).or_insert(Group {
                next_flush: since + r.group_wait_secs as i64,
                in_flight: false,
            });
            if g.in_flight {
                continue;
            }
            // Resolved alerts matter only to a receiver told they fired.
            list.retain(|a| {
                a.alert.state == AlertState::Firing || told.firing.contains(&a.fingerprint)
            });
            let resolved_news = list.iter().any(|a| a.alert.state == AlertState::Resolved);
            let due =
                g.next_flush <= now || (r.resolve_immediately && r.send_resolved && resolved_news);
            if !due {
                continue;
            }
            g.next_flush = now + r.group_interval_secs as i64;
            let firing: BTreeSet<u64> = list
                .iter()
                .filter(|a| a.alert.state == AlertState::Firing)
                .map(|a| a.fingerprint)
                .collect();
            // New to the receiver: not among the alerts it was told fire,
            // or fired again since it was told (a resolution it never
            // heard of in between).
            let new_firing = list.iter().any(|a| {
                a.alert.state == AlertState::Firing
                    && (!told.firing.contains(&a.fingerprint)
                        || a.alert.fired_at.is_some_and(|t| t > told.at))
            });
            let repeat = !firing.is_empty() && now - told.at >= r.repeat_interval_secs as i64;
            let resolved = r.send_resolved && resolved_news;
            if !(new_firing || repeat || resolved) {
                if firing.is_empty() && !told.firing.is_empty() {
                    // Resolutions this receiver does not want: forget them.
                    self.log.insert(lk, LogEntry { firing, at: now });
                }
                continue;
            }
            if !r.send_resolved {
                list.retain(|a| a.alert.state == AlertState::Firing);
            }
            list.sort_by_key(|a| (a.alert.state != AlertState::Firing, a.fingerprint));
            g.in_flight = true;
            out.push(Outgoing {
                route: i,
                receiver: r.receiver.clone(),
                group_key: key,
                group_labels,
                alerts: list,
            });
        }
        self.log.retain(|_, e| now - e.at < LOG_RETENTION_SECS);
        out
    }

    /// A notification was delivered: the log remembers it.
    pub fn sent(&mut self, n: &Outgoing, now: i64) {
        self.log.insert(
            log_key(&n.receiver, &n.group_key),
            LogEntry {
                firing: n.firing(),
                at: now,
            },
        );
        if let Some(g) = self.groups.get_mut(&n.group_key) {
            g.in_flight = false;
        }
    }

    /// A notification failed for good (after its retries): the group is
    /// looked at again after `retry_secs`.
    pub fn failed(&mut self, n: &Outgoing, now: i64, retry_secs: i64) {
        if let Some(g) = self.groups.get_mut(&n.group_key) {
            g.in_flight = false;
            g.next_flush = now + retry_secs;
        }
    }

    /// Forgets groups with no alert left in `alerts` (after a tick).
    pub fn gc(&mut self, routes: &[Route], alerts: &AlertSet) {
        let keys: BTreeSet<String> = alerts
            .iter()
            .flat_map(|(_, a)| groups_of(routes, &a.labels))
            .map(|(_, key, _)| key)
            .collect();
        self.groups.retain(|k, g| g.in_flight || keys.contains(k));
    }
}

/// The groups an alert with `labels` joins: the first route whose
/// matchers match, and the next ones while `continue`; each as (route
/// index, group key, the `group_by` labels' values).
fn groups_of(
    routes: &[Route],
    labels: &BTreeMap<String, String>,
) -> Vec<(usize, String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        if !all_match(&r.matchers, labels) {
            continue;
        }
        let group_labels: BTreeMap<String, String> = r
            .group_by
            .iter()
            .filter_map(|l| labels.get(l).map(|v| (l.clone(), v.clone())))
            .collect();
        out.push((i, group_key(i, &group_labels), group_labels));
        if !r.continue_matching {
            break;
        }
    }
    out
}

/// `<route>:{label="value",...}` — Alertmanager writes `{}:{...}` with
/// the route's path; ours is the route's index.
fn group_key(route: usize, labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
        .collect();
    format!("{{}}/{route}:{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests;

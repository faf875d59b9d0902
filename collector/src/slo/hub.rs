//! The alerting hub: alert states, the dispatcher and its notification
//! log, silences and deploy rollouts, behind one mutex that the SLO task
//! takes once per evaluation and API handlers take for a change (both
//! briefly: no I/O but the state file, which is small). Readers get the
//! latest [`AlertsView`] without the lock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use sitepulse_alerting::SloStatus;
use sitepulse_alerting::alert::dispatch::{Dispatcher, Outgoing};
use sitepulse_alerting::alert::inhibit::{InhibitRule, inhibited_by};
use sitepulse_alerting::alert::silence::{NewSilence, Silence, SilenceError, Silences};
use sitepulse_alerting::alert::state::{
    AlertSet, AlertState, ForSecs, SloAlertConfig, Tracked, slo_conditions,
};
use sitepulse_alerting::alert::write_atomically;
use sitepulse_alerting::deploy::{DeployEvent, DeployStats, DeployTracker, EventError, Rollout};
use sitepulse_alerting::engine::SloEngine;
use sitepulse_alerting::notify::{Alert, AlertStatus, Notification, Notifier};

use super::alerting_config::AlertingConfig;
use super::auth::Access;

/// One alert as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    /// 16 hex digits, as Alertmanager writes fingerprints.
    pub fingerprint: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// `pending`, `firing` or `resolved`.
    pub state: AlertState,
    /// When its condition became true (Unix seconds).
    pub active_at: i64,
    /// When it started firing.
    pub fired_at: Option<i64>,
    /// When it resolved.
    pub resolved_at: Option<i64>,
    /// Silences muting it.
    pub silenced_by: Vec<String>,
    /// The labels of the alert inhibiting it, if one does.
    pub inhibited_by: Option<BTreeMap<String, String>>,
}

/// What readers see.
#[derive(Debug, Default)]
pub struct AlertsView {
    /// Every alert (pending, firing, recently resolved).
    pub alerts: Vec<AlertView>,
    /// Rollouts in progress.
    pub deploys_active: Vec<Rollout>,
    /// Recent rollouts, newest first (at most 100).
    pub deploys_recent: Vec<Rollout>,
    /// Deploy counters.
    pub deploy_stats: DeployStats,
    /// Every silence kept.
    pub silences: Vec<Silence>,
    /// The state file's last save error.
    pub save_error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    alerts: AlertSet,
    dispatcher: Dispatcher,
    silences: Silences,
    deploys: DeployTracker,
    dirty: bool,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    alerts: AlertSet,
    dispatcher: Dispatcher,
    deploys: DeployTracker,
}

/// The hub.
#[derive(Debug)]
pub struct AlertHub {
    cfg: AlertingConfig,
    inhibit: Vec<InhibitRule>,
    /// Who may change and read.
    pub access: Access,
    state: Mutex<State>,
    view: ArcSwap<AlertsView>,
    file: PathBuf,
    /// Each receiver's notifier, by name.
    notifiers: BTreeMap<String, Arc<Notifier>>,
}

impl AlertHub {
    /// Opens the hub, reading back its state files from `dir`.
    ///
    /// # Errors
    /// A directory that cannot be made, an access config that cannot be
    /// loaded, a silences file that cannot be read. A damaged state file
    /// is set aside and the hub starts empty (logged).
    pub fn open(cfg: &AlertingConfig, dir: PathBuf) -> Result<AlertHub, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let access = Access::new(&cfg.api).map_err(|(f, m)| format!("alerting.api.{f}: {m}"))?;
        let silences =
            Silences::open(Some(&dir.join("silences.json"))).map_err(|e| e.to_string())?;
        let file = dir.join("alerts.json");
        let mut st = State {
            silences,
            ..State::default()
        };
        match std::fs::read(&file) {
            Ok(b) => match serde_json::from_slice::<Saved>(&b) {
                Ok(s) => {
                    st.alerts = s.alerts;
                    st.dispatcher = s.dispatcher;
                    st.deploys = s.deploys;
                    tracing::info!(
                        alerts = st.alerts.len(),
                        "alert states and notification log read back"
                    );
                }
                Err(e) => {
                    let aside = file.with_extension("json.corrupt");
                    let _ = std::fs::rename(&file, &aside);
                    tracing::error!(error = %e, set_aside = %aside.display(), "alert state file cannot be read; starting without it (a firing alert may be notified again)");
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", file.display())),
        }
        let mut notifiers = BTreeMap::new();
        for r in &cfg.receivers {
            notifiers.insert(r.name.clone(), Arc::new(r.build()?));
        }
        Ok(AlertHub {
            notifiers,
            inhibit: cfg.inhibit(),
            cfg: cfg.clone(),
            access,
            state: Mutex::new(st),
            view: ArcSwap::default(),
            file,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest view.
    pub fn view(&self) -> Arc<AlertsView> {
        self.view.load_full()
    }

    /// The config.
    pub fn config(&self) -> &AlertingConfig {
        &self.cfg
    }

    /// One evaluation at `now` (Unix seconds): deploys judged, conditions
    /// applied, notifications due returned (each in flight until
    /// [`sent`](Self::sent) or [`failed`](Self::failed)).
    pub fn tick(&self, statuses: &[SloStatus], engine: &mut SloEngine, now: i64) -> Vec<Outgoing> {
        let mut st = self.lock();
        let min = engine.min_requests();
        st.deploys
            .evaluate(&self.cfg.deploys, now, min, &mut |site, since| {
                engine.health_since(site, since)
            });
        let slo_cfg = SloAlertConfig {
            dashboard_url: self.cfg.dashboard_url.clone(),
            farm_min_sites: self.cfg.farm_incident_min_sites,
            farm_min_fraction: self.cfg.farm_incident_min_fraction,
        };
        let mut conditions = slo_conditions(statuses, &slo_cfg);
        conditions.extend(st.deploys.conditions(&self.cfg.deploys, now));
        let for_secs = ForSecs {
            page: self.cfg.page_for_secs as i64,
            ticket: self.cfg.ticket_for_secs as i64,
        };
        // Pending alerts are saved too, so a restart does not wait their
        // `for` again: a change in the pending set makes the state dirty.
        let pending = |a: &AlertSet| {
            a.iter()
                .filter(|(_, t)| t.state == AlertState::Pending)
                .fold(0u64, |acc, (fp, _)| {
                    acc.wrapping_add(fp.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                })
        };
        let pending_before = pending(&st.alerts);
        let changed = st.alerts.update(conditions, for_secs, now);
        if pending(&st.alerts) != pending_before {
            st.dirty = true;
        }
        for fp in &changed {
            if let Some(a) = st.alerts.get(*fp) {
                tracing::info!(alert = %label_text(&a.labels), state = ?a.state, "alert");
            }
        }
        let firing: Vec<BTreeMap<String, String>> = st
            .alerts
            .iter()
            .filter(|(_, a)| a.state == AlertState::Firing)
            .map(|(_, a)| a.labels.clone())
            .collect();
        let mut views = Vec::new();
        for (fp, a) in st.alerts.iter() {
            let silenced_by = st.silences.silencing(&a.labels, now);
            let inhibited = if a.state == AlertState::Firing {
                inhibited_by(&self.inhibit, &firing, &a.labels).cloned()
            } else {
                None
            };
            views.push(view_of(fp, a, silenced_by, inhibited));
        }
        let muted: BTreeMap<u64, bool> = views
            .iter()
            .map(|v| {
                (
                    u64::from_str_radix(&v.fingerprint, 16).unwrap_or(0),
                    !v.silenced_by.is_empty() || v.inhibited_by.is_some(),
                )
            })
            .collect();
        let State {
            alerts, dispatcher, ..
        } = &mut *st;
        let outs = dispatcher.tick(
            &self.cfg.routes,
            alerts,
            &|fp, _: &Tracked| muted.get(&fp).copied().unwrap_or(false),
            now,
        );
        dispatcher.gc(&self.cfg.routes, alerts);
        st.silences.gc(now);
        if !changed.is_empty() {
            st.dirty = true;
        }
        let save_error = if st.dirty {
            self.save(&mut st)
        } else {
            self.view.load().save_error.clone()
        };
        let mut recent: Vec<Rollout> = st.deploys.history().cloned().collect();
        recent.reverse();
        recent.truncate(100);
        self.view.store(Arc::new(AlertsView {
            alerts: views,
            deploys_active: st.deploys.active().cloned().collect(),
            deploys_recent: recent,
            deploy_stats: st.deploys.stats.clone(),
            silences: st.silences.list().to_vec(),
            save_error,
        }));
        outs
    }

    fn save(&self, st: &mut State) -> Option<String> {
        let saved = Saved {
            version: 1,
            alerts: st.alerts.clone(),
            dispatcher: st.dispatcher.clone(),
            deploys: st.deploys.clone(),
        };
        let body = serde_json::to_vec(&saved).unwrap_or_default();
        match write_atomically(&self.file, &body) {
            Ok(()) => {
                st.dirty = false;
                None
            }
            Err(e) => {
                tracing::error!(file = %self.file.display(), error = %e, "cannot save the alert states; a restart may notify again");
                Some(format!("{}: {e}", self.file.display()))
            }
        }
    }

    /// A notification was delivered.
    pub fn sent(&self, n: &Outgoing, now: i64) {
        let mut st = self.lock();
        st.dispatcher.sent(n, now);
        st.dirty = true;
        let _ = self.save(&mut st);
    }

    /// A notification failed after its retries: looked at again later.
    pub fn failed(&self, n: &Outgoing, now: i64) {
        self.lock().dispatcher.failed(n, now, 60);
    }

    /// A receiver's notifier.
    pub fn notifier(&self, name: &str) -> Option<Arc<Notifier>> {
        self.notifiers.get(name).cloned()
    }

    /// Every notifier, by receiver name.
    pub fn notifiers(&self) -> &BTreeMap<String, Arc<Notifier>> {
        &self.notifiers
    }

    /// A due notification as notifiers take it.
    pub fn notification(&self, o: &Outgoing) -> Notification {
        let generator = format!(
            "{}/api/v1/alerts",
            self.cfg.external_url.trim_end_matches('/')
        );
        let alerts = o
            .alerts
            .iter()
            .map(|a| Alert {
                labels: a.alert.labels.clone(),
                annotations: a.alert.annotations.clone(),
                starts_at: a.alert.fired_at.unwrap_or(a.alert.active_at) * 1000,
                ends_at: a.alert.resolved_at.map(|t| t * 1000),
                generator_url: generator.clone(),
                status: if a.alert.state == AlertState::Firing {
                    AlertStatus::Firing
                } else {
                    AlertStatus::Resolved
                },
            })
            .collect();
        Notification::new(
            &o.receiver,
            &o.group_key,
            o.group_labels.clone(),
            &self.cfg.external_url,
            alerts,
        )
    }

    /// A deploy event from `who`.
    ///
    /// # Errors
    /// As [`DeployTracker::apply`].
    pub fn deploy(&self, ev: DeployEvent, now: i64) -> Result<(), EventError> {
        let mut st = self.lock();
        let what = format!("{:?}", ev.kind);
        let (site, version, source) = (ev.site.clone(), ev.version.clone(), ev.source.clone());
        st.deploys.apply(ev, &self.cfg.deploys, now)?;
        st.dirty = true;
        let _ = self.save(&mut st);
        tracing::info!(%site, %version, by = %source, event = %what, "deploy event accepted");
        Ok(())
    }

    /// A new silence by `who`.
    ///
    /// # Errors
    /// As [`Silences::add`].
    pub fn silence(&self, new: NewSilence, who: &str, now: i64) -> Result<Silence, SilenceError> {
        let s = self.lock().silences.add(new, who, now)?;
        let m: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
        tracing::info!(id = %s.id, by = %who, matchers = %m.join(","), ends_at = s.ends_at, comment = %s.comment, "silence created");
        Ok(s)
    }

    /// Expires a silence.
    ///
    /// # Errors
    /// As [`Silences::expire`].
    pub fn expire(&self, id: &str, who: &str, now: i64) -> Result<Silence, SilenceError> {
        let s = self.lock().silences.expire(id, who, now)?;
        tracing::info!(id = %s.id, by = %who, "silence expired");
        Ok(s)
    }

    /// Every silence now (not waiting for the next evaluation).
    pub fn silences(&self) -> Vec<Silence> {
        self.lock().silences.list().to_vec()
    }
}

fn label_text(l: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(","))
}

fn view_of(
    fp: u64,
    a: &Tracked,
    silenced_by: Vec<String>,
    inhibited_by: Option<BTreeMap<String, String>>,
) -> AlertView {
    AlertView {
        fingerprint: format!("{fp:016x}"),
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        state: a.state,
        active_at: a.active_at,
        fired_at: a.fired_at,
        resolved_at: a.resolved_at,
        silenced_by,
        inhibited_by,
    }
}

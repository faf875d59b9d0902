//! Rollouts from watching Deployments (`apps/v1`), for deploy deadlines
//! (docs/slo.md). A Deployment carrying `kubernetes.site_label` names its
//! site. A new `deployment.kubernetes.io/revision` (a new ReplicaSet: the
//! pod template changed) starts a rollout, timed from when it is seen,
//! with the deadline of the `sitepulse.io/deploy-deadline-secs`
//! annotation or `alerting.deploys.default_deadline_secs`. It is done by
//! `kubectl rollout status`'s criteria (`kubectl/pkg/polymorphichelpers/
//! rollout_status.go`: the generation observed, every replica updated and
//! available, no old replica left) with the `Progressing` condition's
//! reason `NewReplicaSetAvailable`; it stalled when that reason is
//! `ProgressDeadlineExceeded`.
//!
//! A cluster's Deployments already mid-rollout when the watch starts are
//! tracked from that moment; finished ones only remembered.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use sitepulse_alerting::deploy::{DeployEvent, DeployEventKind, EventError};

use super::KubeConfig;
use super::client::{Client, KubeError};
use super::pods::KubeTask;
use super::watch::{Notice, ObjectMeta, Resource, Store, WatchParams, Watcher, null_as_default};
use crate::slo::AlertHub;

/// The annotation that sets a Deployment's rollout deadline, seconds.
pub const DEADLINE_ANNOTATION: &str = "sitepulse.io/deploy-deadline-secs";

/// The annotation the Deployment controller writes with each new
/// ReplicaSet.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// `apps/v1` `Deployment`, the fields read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Deployment {
    /// Metadata (generation, annotations).
    pub metadata: ObjectMeta,
    /// Desired state.
    pub spec: DeploymentSpec,
    /// Observed state.
    pub status: DeploymentStatus,
}

/// `DeploymentSpec`, the fields read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Desired replicas (absent: 1).
    pub replicas: Option<i64>,
    /// The pod template.
    pub template: PodTemplate,
}

/// `PodTemplateSpec`, the images only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodTemplate {
    /// The pod spec.
    pub spec: TemplateSpec,
}

/// The containers of a template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TemplateSpec {
    /// Containers.
    #[serde(deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
}

/// A container's image.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Container {
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
}

/// `DeploymentStatus`, the fields read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// The generation the controller acted on.
    pub observed_generation: i64,
    /// Pods (old and new).
    pub replicas: i64,
    /// Pods of the new template.
    pub updated_replicas: i64,
    /// Available pods.
    pub available_replicas: i64,
    /// Conditions.
    #[serde(deserialize_with = "null_as_default")]
    pub conditions: Vec<Condition>,
}

/// A Deployment condition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Condition {
    /// `Progressing`, `Available`, `ReplicaFailure`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// `NewReplicaSetAvailable`, `ProgressDeadlineExceeded`, ...
    pub reason: String,
    /// Human-readable.
    pub message: String,
}

impl Resource for Deployment {
    const API_PATH: &'static str = "/apis/apps/v1";
    const PLURAL: &'static str = "deployments";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

/// Where a rollout is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Still going: why not done.
    InProgress(String),
    /// Done.
    Done,
    /// Stalled: the condition's message.
    Stalled(String),
}

impl Deployment {
    /// The revision (`0` when the controller has not written one).
    pub fn revision(&self) -> &str {
        self.metadata
            .annotations
            .get(REVISION_ANNOTATION)
            .map_or("0", String::as_str)
    }

    /// `image, image` of its containers.
    pub fn images(&self) -> String {
        let v: Vec<&str> = self
            .spec
            .template
            .spec
            .containers
            .iter()
            .map(|c| c.image.as_str())
            .collect();
        v.join(",")
    }

    fn progressing(&self) -> Option<&Condition> {
        self.status
            .conditions
            .iter()
            .find(|c| c.kind == "Progressing")
    }

    /// kubectl rollout status's verdict, with `NewReplicaSetAvailable`
    /// required for done.
    pub fn rollout(&self) -> Rollout {
        let st = &self.status;
        if self.metadata.generation > st.observed_generation {
            return Rollout::InProgress(
                "waiting for the deployment spec update to be observed".into(),
            );
        }
        if let Some(c) = self.progressing()
            && c.reason == "ProgressDeadlineExceeded"
        {
            return Rollout::Stalled(format!("ProgressDeadlineExceeded: {}", c.message));
        }
        let want = self.spec.replicas.unwrap_or(1);
        if st.updated_replicas < want {
            return Rollout::InProgress(format!(
                "{} of {want} new replicas updated",
                st.updated_replicas
            ));
        }
        if st.replicas > st.updated_replicas {
            return Rollout::InProgress(format!(
                "{} old replicas pending termination",
                st.replicas - st.updated_replicas
            ));
        }
        if st.available_replicas < st.updated_replicas {
            return Rollout::InProgress(format!(
                "{} of {} updated replicas available",
                st.available_replicas, st.updated_replicas
            ));
        }
        match self.progressing() {
            Some(c) if c.reason == "NewReplicaSetAvailable" => Rollout::Done,
            _ => Rollout::InProgress(
                "waiting for the Progressing condition's NewReplicaSetAvailable".into(),
            ),
        }
    }
}

/// What the watch remembers of one Deployment.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    revision: String,
    /// The rollout of this revision is tracked (started, not yet told
    /// done or stalled).
    tracking: bool,
}

/// Deploy events from one store change. `seen` is what was known before
/// (by namespace and name); the first list starts nothing for finished
/// Deployments.
pub fn events(
    store: &Store<Deployment>,
    seen: &mut BTreeMap<(String, String), SeenState>,
    site_label: &str,
    default_deadline_secs: Option<u64>,
) -> Vec<DeployEvent> {
    let mut out = Vec::new();
    for (key, d) in store {
        let Some(site) = d.metadata.labels.get(site_label).filter(|s| !s.is_empty()) else {
            continue;
        };
        let rev = d.revision().to_owned();
        let state = d.rollout();
        let version = format!("{} rev {rev} ({})", d.metadata.name, d.images());
        let mk = |kind| DeployEvent {
            site: site.clone(),
            version: version.clone(),
            kind,
            at: None,
            source: "kubernetes".into(),
            rollback_hint: Some(format!(
                "kubectl rollout undo deployment/{} -n {}",
                d.metadata.name, d.metadata.namespace
            )),
        };
        let deadline = d
            .metadata
            .annotations
            .get(DEADLINE_ANNOTATION)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s > 0)
            .or(default_deadline_secs);
        let prev = seen.get(key).cloned();
        let started = match &prev {
            None => state != Rollout::Done,
            Some(p) => p.0.revision != rev,
        };
        if prev.is_none() && state == Rollout::Done {
            // First sight of a finished Deployment: a rollout of it that
            // was tracked before a restart ended meanwhile (the hub
            // ignores this for a site with nothing rolling).
            out.push(mk(DeployEventKind::Finished));
        }
        let mut now = Seen {
            revision: rev.clone(),
            tracking: prev
                .as_ref()
                .is_some_and(|p| p.0.revision == rev && p.0.tracking),
        };
        if started {
            out.push(mk(DeployEventKind::Started {
                deadline_secs: deadline,
            }));
            now.tracking = true;
        }
        if now.tracking {
            match &state {
                Rollout::Done => {
                    out.push(mk(DeployEventKind::Finished));
                    now.tracking = false;
                }
                Rollout::Stalled(why) => {
                    out.push(mk(DeployEventKind::Failed {
                        reason: why.clone(),
                    }));
                    now.tracking = false;
                }
                Rollout::InProgress(_) => {}
            }
        }
        seen.insert(key.clone(), SeenState(now));
    }
    seen.retain(|k, _| store.contains_key(k));
    out
}

/// What the watch remembers of one Deployment (opaque).
#[derive(Debug, Clone, PartialEq)]
pub struct SeenState(Seen);

/// Starts watching Deployments (one watch per namespace of
/// `cfg.namespaces`, or one of all), handing deploy events to `hub`.
///
/// # Errors
/// As [`Client::from_config`].
pub fn start(
    cfg: &KubeConfig,
    hub: Arc<AlertHub>,
    rt: &tokio::runtime::Handle,
) -> Result<KubeTask, KubeError> {
    if !cfg.enabled {
        return Ok(KubeTask::none());
    }
    let client = Arc::new(Client::from_config(cfg)?);
    let namespaces: Vec<Option<String>> = if cfg.namespaces.is_empty() {
        vec![None]
    } else {
        cfg.namespaces.iter().cloned().map(Some).collect()
    };
    let mut tasks = Vec::new();
    for namespace in namespaces {
        let params = WatchParams {
            namespace,
            label_selector: cfg.site_label.clone(),
            field_selector: String::new(),
            page_size: cfg.list_page_size,
            timeout_secs: cfg.resync_secs,
            coalesce: std::time::Duration::ZERO,
        };
        let watcher = Watcher::<Deployment>::new(client.clone(), params);
        let hub = hub.clone();
        let site_label = cfg.site_label.clone();
        let seen = Mutex::new(BTreeMap::new());
        tasks.push(rt.spawn(watcher.run(move |store, notice| {
            if notice == Notice::Current {
                return;
            }
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            let evs = events(store, &mut seen, &site_label, None);
            if evs.is_empty() {
                return;
            }
            // The hub saves its state with an fsync: off the runtime.
            let hub = hub.clone();
            tokio::task::spawn_blocking(move || {
                let now = crate::unix_now();
                for ev in evs {
                    match hub.deploy(ev, now) {
                        Ok(()) => {}
                        // A finished Deployment nobody was tracking.
                        Err(EventError::NoRollout(_) | EventError::OtherVersion { .. }) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "kubernetes: deploy event not applied")
                        }
                    }
                }
            });
        })));
    }
    tracing::info!("kubernetes: watching Deployments for rollouts (deploy deadlines)");
    Ok(KubeTask::from_tasks(tasks))
}

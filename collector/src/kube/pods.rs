//! The pod watch behind two autoscaling inputs: ready pods per site (the
//! divisor of rps per pod) and the PHP-FPM status targets of this node's
//! pods (from an annotation, with the pod's IP filled in). One watch of
//! the pods that carry the site label (per configured namespace) feeds
//! both; after each list, event, bookmark and reopened watch the counts
//! are published to [`LiveState`] and the targets to the scraper's
//! channel (when they changed).
//!
//! The pod fields read are those of the `core/v1` `Pod` reference
//! (<https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/>):
//! `spec.nodeName`, `status.phase`, `status.podIP`, `status.conditions`.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::sync::watch;

use super::KubeConfig;
use super::client::{Client, KubeError};
use super::watch::{Notice, ObjectMeta, Resource, Store, WatchParams, Watcher, null_as_default};
use crate::autoscale::values::ReadyPods;
use crate::fpm::FpmTarget;
use crate::run::LiveState;

/// `core/v1` `Pod`, the fields we read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Pod {
    /// Name, namespace, labels (the site label), annotations (the FPM
    /// status page), deletion timestamp.
    pub metadata: ObjectMeta,
    /// `spec`.
    pub spec: PodSpec,
    /// `status`.
    pub status: PodStatus,
}

/// `core/v1` `PodSpec`, the field we read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    /// The node the pod is scheduled on (empty until it is).
    pub node_name: String,
}

/// `core/v1` `PodStatus`, the fields we read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: String,
    /// The pod's primary IP (empty until assigned).
    #[serde(rename = "podIP")]
    pub pod_ip: String,
    /// `PodScheduled`, `Initialized`, `ContainersReady`, `Ready`, ….
    #[serde(deserialize_with = "null_as_default")]
    pub conditions: Vec<PodCondition>,
}

/// `core/v1` `PodCondition`, the fields we read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PodCondition {
    /// The condition (`Ready`).
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
}

impl Resource for Pod {
    const API_PATH: &'static str = "/api/v1";
    const PLURAL: &'static str = "pods";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Pod {
    /// Ready for traffic: condition `Ready` is `True` and the pod is not
    /// terminating (the endpoints controller takes a terminating pod out
    /// of service before its readiness changes).
    pub fn is_ready(&self) -> bool {
        self.metadata.deletion_timestamp.is_none()
            && self
                .status
                .conditions
                .iter()
                .any(|c| c.kind == "Ready" && c.status == "True")
    }

    /// The value of `site_label`: the pod's site.
    pub fn site(&self, site_label: &str) -> Option<&str> {
        self.metadata
            .labels
            .get(site_label)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// Ready pods per site among `pods`; a site whose pods are all unready
/// counts 0 (known, not missing).
pub fn ready_by_site<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    site_label: &str,
) -> HashMap<String, u32> {
    let mut out: HashMap<String, u32> = HashMap::new();
    for p in pods {
        if let Some(site) = p.site(site_label) {
            let n = out.entry(site.to_owned()).or_default();
            *n += u32::from(p.is_ready());
        }
    }
    out
}

/// The FPM targets of the running pods of `node` that carry `annotation`
/// (sorted), and the pods whose annotation cannot be read, with why.
pub fn fpm_targets<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    node: &str,
    site_label: &str,
    annotation: &str,
) -> (Vec<FpmTarget>, Vec<(String, String)>) {
    let mut targets = Vec::new();
    let mut bad = Vec::new();
    for p in pods {
        let (Some(site), Some(value)) =
            (p.site(site_label), p.metadata.annotations.get(annotation))
        else {
            continue;
        };
        if p.spec.node_name != node || p.status.phase != "Running" || p.status.pod_ip.is_empty() {
            continue;
        }
        match parse_fpm_annotation(value, &p.status.pod_ip) {
            Ok(list) => targets.extend(list.into_iter().map(|(address, status_path)| FpmTarget {
                site: site.to_owned(),
                address,
                status_path,
            })),
            Err(why) => bad.push((
                format!("{}/{}", p.metadata.namespace, p.metadata.name),
                format!("{annotation}: `{value}`: {why}"),
            )),
        }
    }
    targets.sort_by(|a, b| (&a.site, &a.address).cmp(&(&b.site, &b.address)));
    targets.dedup();
    (targets, bad)
}

/// Pod events in a burst (a rollout, a node drain) recompute the counts
/// and targets, O(pods), at most this often ([`WatchParams::coalesce`]).
pub const COALESCE_EVENTS: Duration = Duration::from_millis(250);

/// The most status addresses one pod's annotation may name (one per
/// pool; a pod runs one or a few). An annotation with more is ignored.
pub const MAX_TARGETS_PER_POD: usize = 4;

/// The most discovered targets published (this node's pods together);
/// past it the rest are left out, with a warning. A node runs at most a
/// few hundred pods, so only a broken or hostile setup gets here.
pub const MAX_DISCOVERED_TARGETS: usize = 4096;

/// Reads an FPM annotation, `tcp://:9000/status` or `http://:8080/status`
/// (at most [`MAX_TARGETS_PER_POD`], separated by commas), into
/// `(address, status_path)` pairs: the host is `pod_ip`; a FastCGI
/// address's path is its status path (`/status` when none); an HTTP
/// address keeps its path (`/status` when none) and the status path is
/// unused.
///
/// Whoever may create a pod writes its annotations, so an annotation may
/// only point the scraper at the pod itself: the host must be omitted
/// (`tcp://:9000`) or be the pod's own IP. Any other host (a node or
/// cloud metadata address, a service name, `localhost`, which would be
/// sitepulse's own pod or node) is refused, and so is a `unix://` path,
/// which would name a socket on sitepulse's node, not in the pod.
///
/// # Errors
/// A scheme other than `tcp` or `http`, a host other than the pod's IP,
/// a missing or bad port for `tcp`, more than [`MAX_TARGETS_PER_POD`]
/// addresses, whitespace or control characters inside an address.
pub fn parse_fpm_annotation(value: &str, pod_ip: &str) -> Result<Vec<(String, String)>, String> {
    let pod_addr: IpAddr = pod_ip
        .parse()
        .map_err(|_| format!("the pod's IP `{pod_ip}` is not an IP address"))?;
    let ip = match pod_addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let mut out = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if out.len() == MAX_TARGETS_PER_POD {
            return Err(format!(
                "more than {MAX_TARGETS_PER_POD} addresses (at most one per pool)"
            ));
        }
        if part.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "`{part}` contains whitespace or control characters"
            ));
        }
        let (scheme, rest) = part
            .split_once("://")
            .ok_or("expected tcp://:port/path or http://:port/path")?;
        match scheme {
            "tcp" | "http" => {}
            "unix" => {
                return Err(
                    "a unix:// socket path would name a socket on sitepulse's node, not in the pod: not accepted from annotations (listen on TCP in the pod, or configure the socket in fpm_status.targets)"
                        .into(),
                );
            }
            other => return Err(format!("scheme `{other}` is not tcp or http")),
        }
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let (host, port) = split_host_port(authority)?;
        if !host.is_empty() {
            let bare = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            if bare.parse::<IpAddr>().ok() != Some(pod_addr) {
                return Err(format!(
                    "host `{host}` is not the pod's IP ({pod_ip}): an annotation may only name the pod itself; leave the host out (`{scheme}://:port/path`)"
                ));
            }
        }
        let path = if path.is_empty() { "/status" } else { path };
        match scheme {
            "tcp" => {
                let port = port.ok_or("a tcp:// address needs a port")?;
                out.push((format!("tcp://{ip}:{port}"), path.to_owned()));
            }
            _ => {
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                out.push((format!("http://{ip}{port}{path}"), "/status".to_owned()));
            }
        }
    }
    if out.is_empty() {
        return Err("empty".into());
    }
    Ok(out)
}

/// `host:port`, `[v6]:port`, `:port`, `host`: the host as written and the
/// port, checked.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or("unclosed `[` in the host")?;
        let (h, rest) = authority.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if rest.is_empty() => (h, None),
            None => return Err(format!("`{rest}` after the host")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("bad port `{p}`")),
        },
    };
    Ok((host, port))
}

/// The pod watch's tasks; dropping it stops them.
#[derive(Debug)]
pub struct KubeTask {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl KubeTask {
    /// Nothing running.
    pub fn none() -> KubeTask {
        KubeTask { tasks: Vec::new() }
    }

    /// Running `tasks` (aborted when dropped).
    pub fn from_tasks(tasks: Vec<tokio::task::JoinHandle<()>>) -> KubeTask {
        KubeTask { tasks }
    }

    /// Whether anything runs (`false` when `kubernetes.enabled` is off).
    pub fn is_running(&self) -> bool {
        self.tasks.iter().any(|t| !t.is_finished())
    }
}

impl Drop for KubeTask {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts watching pods on `rt` (one watch per namespace of
/// `cfg.namespaces`, or one of all), publishing [`ReadyPods`] to `live`
/// and this node's FPM targets to `fpm_targets`. With `enabled` off it
/// starts nothing and publishes nothing (`live.ready_pods()` stays
/// `None`).
///
/// # Errors
/// What [`Client::from_config`] refuses: no API URL, an unreadable token
/// or CA file. Failures of the API itself are retried, logged, and show
/// as the pod counts growing stale.
pub fn start(
    cfg: &KubeConfig,
    live: LiveState,
    rt: &tokio::runtime::Handle,
    fpm_targets: watch::Sender<Vec<FpmTarget>>,
) -> Result<KubeTask, KubeError> {
    if !cfg.enabled {
        return Ok(KubeTask { tasks: Vec::new() });
    }
    let client = Arc::new(Client::from_config(cfg)?);
    let node = cfg.resolved_node_name();
    match &node {
        Some(n) => {
            tracing::info!(node = %n, "kubernetes: discovering PHP-FPM targets from annotation {}", cfg.fpm_annotation)
        }
        None => tracing::info!(
            "kubernetes: no node_name and no NODE_NAME: PHP-FPM targets are not discovered"
        ),
    }
    let namespaces: Vec<Option<String>> = if cfg.namespaces.is_empty() {
        vec![None]
    } else {
        cfg.namespaces.iter().cloned().map(Some).collect()
    };
    let shared = Arc::new(Mutex::new(Shared {
        live,
        fpm_tx: fpm_targets,
        node,
        site_label: cfg.site_label.clone(),
        annotation: cfg.fpm_annotation.clone(),
        parts: vec![Part::default(); namespaces.len()],
        bad: BTreeSet::new(),
        listed: false,
        capped: false,
    }));
    let mut tasks = Vec::new();
    for (i, namespace) in namespaces.into_iter().enumerate() {
        let params = WatchParams {
            namespace,
            // A bare key selects the pods that carry the label.
            label_selector: cfg.site_label.clone(),
            field_selector: String::new(),
            page_size: cfg.list_page_size,
            timeout_secs: cfg.resync_secs,
            coalesce: COALESCE_EVENTS,
        };
        let watcher = Watcher::<Pod>::new(client.clone(), params);
        let shared = shared.clone();
        tasks.push(rt.spawn(watcher.run(move |store, notice| {
            shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .update(i, store, notice);
        })));
    }
    Ok(KubeTask { tasks })
}

/// What one watcher (namespace) contributes.
#[derive(Debug, Clone, Default)]
struct Part {
    ready: HashMap<String, u32>,
    fpm: Vec<FpmTarget>,
    bad: Vec<(String, String)>,
    synced: Option<SystemTime>,
}

/// The watchers' combined view and where it is published.
struct Shared {
    live: LiveState,
    fpm_tx: watch::Sender<Vec<FpmTarget>>,
    node: Option<String>,
    site_label: String,
    annotation: String,
    parts: Vec<Part>,
    /// Pods with an unreadable annotation, already logged.
    bad: BTreeSet<(String, String)>,
    /// Every watcher has listed once (logged).
    listed: bool,
    /// More targets than [`MAX_DISCOVERED_TARGETS`] (warned).
    capped: bool,
}

impl Shared {
    fn update(&mut self, i: usize, store: &Store<Pod>, notice: Notice) {
        let Some(part) = self.parts.get_mut(i) else {
            return;
        };
        part.synced = Some(SystemTime::now());
        if notice != Notice::Current {
            part.ready = ready_by_site(store.values(), &self.site_label);
            if let Some(node) = &self.node {
                (part.fpm, part.bad) =
                    fpm_targets(store.values(), node, &self.site_label, &self.annotation);
            }
        }
        self.publish();
    }

    fn publish(&mut self) {
        let mut by_site: HashMap<String, u32> = HashMap::new();
        for p in &self.parts {
            for (site, n) in &p.ready {
                *by_site.entry(site.clone()).or_default() += n;
            }
        }
        // The oldest watcher's: one namespace failing makes the counts
        // stale, which an answer must then say.
        let synced = self
            .parts
            .iter()
            .map(|p| p.synced)
            .collect::<Option<Vec<_>>>()
            .and_then(|v| v.into_iter().min());
        if synced.is_some() && !self.listed {
            self.listed = true;
            tracing::info!(
                sites = by_site.len(),
                ready_pods = by_site.values().sum::<u32>(),
                "kubernetes: pods listed"
            );
        }
        let old = self.live.ready_pods();
        if let Some(old) = &old {
            for (site, n) in &by_site {
                let before = old.by_site.get(site).copied();
                if before != Some(*n) {
                    tracing::debug!(site = %site, ?before, now = n, "kubernetes: ready pods changed");
                }
            }
        }
        self.live.set_ready_pods(ReadyPods { by_site, synced });

        let mut fpm: Vec<FpmTarget> = self
            .parts
            .iter()
            .flat_map(|p| p.fpm.iter().cloned())
            .collect();
        fpm.sort_by(|a, b| (&a.site, &a.address).cmp(&(&b.site, &b.address)));
        cap_targets(&mut fpm, &mut self.capped);
        self.fpm_tx.send_if_modified(|cur| {
            if *cur == fpm {
                return false;
            }
            let diff: Vec<String> = cur
                .iter()
                .filter(|t| !fpm.contains(t))
                .map(|t| format!("-{}={}", t.site, t.address))
                .chain(
                    fpm.iter()
                        .filter(|t| !cur.contains(t))
                        .map(|t| format!("+{}={}", t.site, t.address)),
                )
                .collect();
            tracing::info!(
                targets = fpm.len(),
                "kubernetes: PHP-FPM targets changed: {}",
                diff.join(", ")
            );
            *cur = fpm;
            true
        });

        let bad: BTreeSet<(String, String)> = self
            .parts
            .iter()
            .flat_map(|p| p.bad.iter().cloned())
            .collect();
        for (pod, why) in bad.difference(&self.bad) {
            tracing::warn!(pod = %pod, "kubernetes: PHP-FPM annotation ignored, the pod is not scraped (logged once per pod and reason): {why}");
        }
        self.bad = bad;
    }
}

/// Leaves at most [`MAX_DISCOVERED_TARGETS`] of `fpm` (sorted: the first
/// by site, then address); warns when the cap is first exceeded
/// (`capped` remembers it) and says when it no longer is.
pub(crate) fn cap_targets(fpm: &mut Vec<FpmTarget>, capped: &mut bool) {
    if fpm.len() > MAX_DISCOVERED_TARGETS {
        if !*capped {
            tracing::warn!(
                found = fpm.len(),
                max = MAX_DISCOVERED_TARGETS,
                "kubernetes: more PHP-FPM targets than the cap: the rest (by site, then address) are not scraped (logged again after the count falls below the cap)"
            );
            *capped = true;
        }
        fpm.truncate(MAX_DISCOVERED_TARGETS);
    } else if *capped {
        tracing::info!(
            targets = fpm.len(),
            "kubernetes: PHP-FPM targets within the cap again"
        );
        *capped = false;
    }
}

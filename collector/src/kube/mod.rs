//! A small in-cluster client of the Kubernetes API: list-then-watch of one
//! resource kind into a local store ([`watch::Watcher`]), and the pod
//! watch that publishes ready pods per site (for rps per pod) and the
//! PHP-FPM status targets of this node's pods ([`pods::start`]).
//!
//! Our own rather than the `kube` and `k8s-openapi` crates: those compile
//! every API type of every Kubernetes version and cost minutes of build
//! on CI's two cores, for the five fields of a pod we read. What we need
//! is an HTTPS GET with a bearer token, JSON lines and the list/watch
//! protocol of
//! <https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes>,
//! which [`watch`] follows.

pub mod client;
pub mod deployments;
pub mod pods;
pub mod watch;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::Deserialize;

pub use client::{Client, KubeError};
pub use pods::{KubeTask, Pod, start};
pub use watch::{Notice, Resource, Store, Watcher};

/// Where a pod's service account token is mounted (a projected volume the
/// kubelet refreshes before it expires).
pub const TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// The cluster CA that signed the API server's certificate, mounted beside
/// the token.
pub const CA_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// `kubernetes:` section: the API, read when sitepulse runs in a cluster.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubeConfig {
    /// Read the Kubernetes API (ready pods per site, PHP-FPM targets from
    /// pod annotations). Off by default: the logs alone work anywhere.
    pub enabled: bool,
    /// The API server, `https://host:port` (or `http://` for a local
    /// `kubectl proxy`). Empty: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
    /// the variables the kubelet sets in every container (as client-go's
    /// `InClusterConfig` reads them).
    pub api_url: String,
    /// The service account token, sent as `Authorization: Bearer`. Read
    /// again whenever the file changes: projected tokens rotate (about
    /// hourly) and an old one stops working.
    pub token_file: PathBuf,
    /// The CA bundle that signed the API server's certificate; the only
    /// roots trusted for `https://` URLs.
    pub ca_file: PathBuf,
    /// This node's name, for PHP-FPM discovery (only this node's pods are
    /// scraped). Empty: the `NODE_NAME` environment variable, which the
    /// DaemonSet sets from `spec.nodeName` through the downward API; when
    /// that is unset too, FPM targets are not discovered.
    pub node_name: String,
    /// The namespaces whose pods are watched (one watch each); empty: all.
    pub namespaces: Vec<String>,
    /// The pod label whose value names the pod's site; only pods that
    /// carry it are watched.
    pub site_label: String,
    /// The pod annotation naming the pod's PHP-FPM status page:
    /// `tcp://:9000/status` (FastCGI to the pool, status path after the
    /// port) or `http://:8080/status` (through a web server); the host is
    /// the pod's IP, so leave it out (or write the pod's IP). Several
    /// pools: separated by commas, at most 4 per pod. Any other host, and
    /// `unix://` paths, are refused (the pod is skipped, with a warning):
    /// whoever may create a pod must not be able to point the scraper
    /// elsewhere. At most 4096 discovered targets are scraped.
    pub fpm_annotation: String,
    /// The longest a watch request stays open (its `timeoutSeconds`):
    /// the server then ends it and it is opened again from the last
    /// resource version, which also proves the connection alive. Keep it
    /// below `autoscale.freshness.max_pods_age_secs`: the counts are
    /// known current at each list, event, bookmark and reopened watch.
    pub resync_secs: u64,
    /// Objects per page of a list (`limit`; `continue` fetches the next),
    /// so a large cluster is not read in one response.
    pub list_page_size: u32,
}

impl Default for KubeConfig {
    fn default() -> Self {
        KubeConfig {
            enabled: false,
            api_url: String::new(),
            token_file: TOKEN_FILE.into(),
            ca_file: CA_FILE.into(),
            node_name: String::new(),
            namespaces: Vec::new(),
            site_label: "app.kubernetes.io/instance".into(),
            fpm_annotation: "sitepulse.io/fpm-status".into(),
            resync_secs: 60,
            list_page_size: 500,
        }
    }
}

/// A `kubernetes:` field that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kubernetes.{field}: {message}")]
pub struct KubeConfigError {
    /// The field, relative to `kubernetes:`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl KubeConfig {
    /// Checks every value (also when not enabled, so a mistake shows
    /// before it is switched on). Files are not read here: a config is
    /// often validated outside the cluster it is meant for.
    ///
    /// # Errors
    /// The first unusable field.
    pub fn validate(&self) -> Result<(), KubeConfigError> {
        let err = |field: &str, message: String| {
            Err(KubeConfigError {
                field: field.into(),
                message,
            })
        };
        if !self.api_url.is_empty()
            && let Err(m) = check_api_url(&self.api_url)
        {
            return err("api_url", m);
        }
        if self.token_file.as_os_str().is_empty() {
            return err("token_file", "must not be empty".into());
        }
        if self.ca_file.as_os_str().is_empty() {
            return err("ca_file", "must not be empty".into());
        }
        for (i, ns) in self.namespaces.iter().enumerate() {
            if !is_dns_label(ns) {
                return err(
                    &format!("namespaces[{i}]"),
                    format!("`{ns}` is not a namespace name (a DNS label: a-z, 0-9, `-`)"),
                );
            }
        }
        if let Err(m) = check_label_key(&self.site_label) {
            return err("site_label", m);
        }
        if let Err(m) = check_label_key(&self.fpm_annotation) {
            return err("fpm_annotation", m);
        }
        if !(5..=3600).contains(&self.resync_secs) {
            return err(
                "resync_secs",
                format!("must be between 5 and 3600, got {}", self.resync_secs),
            );
        }
        if !(1..=10_000).contains(&self.list_page_size) {
            return err(
                "list_page_size",
                format!("must be between 1 and 10000, got {}", self.list_page_size),
            );
        }
        Ok(())
    }

    /// The API server's URL without a trailing `/`: `api_url`, else the
    /// in-cluster service variables.
    ///
    /// # Errors
    /// [`KubeError::NoApiUrl`] outside a cluster with no `api_url`.
    pub fn resolved_api_url(&self) -> Result<String, KubeError> {
        if !self.api_url.is_empty() {
            return Ok(self.api_url.trim_end_matches('/').to_owned());
        }
        let host = std::env::var("KUBERNETES_SERVICE_HOST").unwrap_or_default();
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_default();
        if host.is_empty() || port.is_empty() {
            return Err(KubeError::NoApiUrl);
        }
        // An IPv6 service address needs brackets in a URL.
        if host.contains(':') {
            Ok(format!("https://[{host}]:{port}"))
        } else {
            Ok(format!("https://{host}:{port}"))
        }
    }

    /// This node's name: `node_name`, else `$NODE_NAME`; `None` when
    /// neither is set.
    pub fn resolved_node_name(&self) -> Option<String> {
        if !self.node_name.is_empty() {
            return Some(self.node_name.clone());
        }
        std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty())
    }
}

fn check_api_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("`{url}` must start with https:// (or http://)"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    if url.contains(['?', '#', ' ']) {
        return Err(format!(
            "`{url}` must be a plain URL without query or spaces"
        ));
    }
    Ok(())
}

/// A DNS-1123 label: what namespace names are.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A label or annotation key: an optional DNS subdomain prefix and `/`,
/// then a name of at most 63 characters of alphanumerics, `-`, `_`, `.`
/// (<https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set>).
fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    let prefix_ok =
        prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    if name_ok && prefix_ok {
        Ok(())
    } else {
        Err(format!(
            "`{key}` is not a label key (`prefix.example/name`, name of 1-63 characters a-z, 0-9, `-`, `_`, `.`)"
        ))
    }
}

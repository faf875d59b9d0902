//! Kubernetes pod metadata from a log file's path: the kubelet's
//! `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<N>.log` layout and the
//! `/var/log/containers/<pod>_<namespace>_<container>-<id>.log` symlinks.
//! The path alone labels a line with its namespace and pod, without asking
//! the API server.

use std::path::Path;

/// What a pod log path says about the pod. Borrows from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodMeta<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Pod name.
    pub pod: &'a str,
    /// Pod UID (`/var/log/pods` form only).
    pub uid: Option<&'a str>,
    /// Container name.
    pub container: &'a str,
    /// Container ID (`/var/log/containers` form only).
    pub container_id: Option<&'a str>,
    /// Restart count, the `<N>` of `<N>.log` (`/var/log/pods` form only).
    pub restart: Option<u32>,
}

impl<'a> PodMeta<'a> {
    /// Parses either layout from the path's last components (so a host
    /// mount such as `/host/var/log/pods/...` works too). Kubelet-rotated
    /// files (`0.log.20261122-100000`, with or without `.gz`) keep their
    /// metadata. Returns `None` for any other path.
    pub fn from_path(path: &'a Path) -> Option<Self> {
        let s = path.to_str()?;
        let mut comps = s.rsplit('/');
        let file = comps.next()?;
        let parent = comps.next()?;
        if parent == "containers" {
            return Self::from_container_link(file);
        }
        let container = parent;
        let pod_dir = comps.next()?;
        if comps.next()? != "pods" {
            return None;
        }
        let mut it = pod_dir.split('_');
        let (namespace, pod, uid) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        let uid_ok = !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !dns_label(namespace) || !dns_subdomain(pod) || !uid_ok || !dns_label(container) {
            return None;
        }
        let (n, tail) = file.split_once(".log")?;
        if !(tail.is_empty() || tail.starts_with('.')) {
            return None;
        }
        let restart = u32::try_from(crate::time::parse_u64(n.as_bytes())?).ok()?;
        Some(PodMeta {
            namespace,
            pod,
            uid: Some(uid),
            container,
            container_id: None,
            restart: Some(restart),
        })
    }

    fn from_container_link(file: &'a str) -> Option<Self> {
        let stem = file.strip_suffix(".log")?;
        let mut it = stem.split('_');
        let (pod, namespace, rest) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        let (container, id) = rest.rsplit_once('-')?;
        let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !dns_label(namespace) || !dns_subdomain(pod) || !dns_label(container) || !hex(id) {
            return None;
        }
        Some(PodMeta {
            namespace,
            pod,
            uid: None,
            container,
            container_id: Some(id),
            restart: None,
        })
    }
}

/// What a pod log path says, owned: kept once per open file and put on
/// every record of it. Empty strings where the layout does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodLabels {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Pod UID.
    pub pod_uid: String,
    /// Container name.
    pub container: String,
    /// Container ID.
    pub container_id: String,
}

impl PodLabels {
    /// The labels of `path`, or `None` when it is no pod log path.
    pub fn from_path(path: &Path) -> Option<Self> {
        PodMeta::from_path(path).map(|m| m.labels())
    }
}

impl PodMeta<'_> {
    /// An owned copy of what this path says.
    pub fn labels(&self) -> PodLabels {
        PodLabels {
            namespace: self.namespace.to_owned(),
            pod: self.pod.to_owned(),
            pod_uid: self.uid.unwrap_or_default().to_owned(),
            container: self.container.to_owned(),
            container_id: self.container_id.unwrap_or_default().to_owned(),
        }
    }
}

/// A lower-case RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63.
fn dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A lower-case RFC 1123 subdomain: labels joined by `.`, ≤ 253.
fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(p: &str) -> Option<PodMeta<'_>> {
        PodMeta::from_path(Path::new(p))
    }

    #[test]
    fn pods_layout() {
        let m = meta(
            "/var/log/pods/site042_wp-7d9f-abcde_0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/php-fpm/3.log",
        );
        assert_eq!(
            m,
            Some(PodMeta {
                namespace: "site042",
                pod: "wp-7d9f-abcde",
                uid: Some("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"),
                container: "php-fpm",
                container_id: None,
                restart: Some(3),
            })
        );
        let rotated = meta("/host/var/log/pods/ns_p.x_uid/c/0.log.20261122-100000.gz").unwrap();
        assert_eq!((rotated.pod, rotated.restart), ("p.x", Some(0)));
    }

    #[test]
    fn containers_layout() {
        let id = "4f9a1c2b3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4";
        let path = format!("/var/log/containers/wp-7d9f-abcde_site042_php-fpm-{id}.log");
        let m = meta(&path).unwrap();
        assert_eq!(
            (
                m.pod,
                m.namespace,
                m.container,
                m.container_id,
                m.uid,
                m.restart
            ),
            ("wp-7d9f-abcde", "site042", "php-fpm", Some(id), None, None)
        );
    }

    #[test]
    fn rejects_other_paths() {
        for p in [
            "",
            "/",
            "0.log",
            "/var/log/nginx/access.log",
            "/var/log/pods/ns_pod_uid/c/x.log",
            "/var/log/pods/ns_pod_uid/c/0.txt",
            "/var/log/pods/ns_pod_uid/c/0.logx",
            "/var/log/pods/ns_pod/c/0.log",
            "/var/log/pods/ns_pod_uid_x/c/0.log",
            "/var/log/pods/NS_pod_uid/c/0.log",
            "/var/log/pods/ns__uid/c/0.log",
            "/var/log/pods/ns_pod_uid/C_x/0.log",
            "/var/log/elsewhere/ns_pod_uid/c/0.log",
            "/var/log/pods/ns_pod_uid/c/99999999999.log",
            "/var/log/containers/pod_ns_c.log",
            "/var/log/containers/pod_ns_c-xyz.log",
            "/var/log/containers/pod_ns_c-abc.txt",
            "/var/log/containers/pod_ns-abc.log",
        ] {
            assert_eq!(meta(p), None, "{p}");
        }
    }
}

//! Kubernetes pod metadata from a log file's path. The kubelet names every
//! container log after the pod and container it belongs to, so the path
//! alone labels a line with its namespace, pod, pod UID and container,
//! without asking the API server. Every layout a kubelet or Docker has
//! written is read (see [`PodLayout`]), under any mount prefix
//! (`/host/var/log/...`), and rotated generations keep their metadata.
//!
//! Sources, kubernetes/kubernetes:
//! - `pkg/kubelet/kuberuntime/helpers.go`: `BuildPodLogsDirectory` joins
//!   `<namespace>_<pod>_<uid>` under `podLogsDir` (default `/var/log/pods`,
//!   a `KubeletConfiguration` field), `BuildContainerLogsDirectory` adds
//!   `<container>`, `buildContainerLogsPath` names `<restartCount>.log`.
//!   `parsePodUIDFromLogsDirectory` still reads "the old pod log directory
//!   /var/log/pods/UID".
//! - the same file before the namespaced directory (e.g. commit
//!   `007dfb7f`): `buildPodLogsDirectory(podUID)` = `/var/log/pods/<uid>`
//!   and `buildContainerLogsPath` = `<container>_<restartCount>.log`; a
//!   later form kept the UID directory with `<container>/<restartCount>.log`.
//! - `pkg/kubelet/kuberuntime/legacy.go`: `legacyLogSymlink` =
//!   `/var/log/containers/<pod>_<namespace>_<container>-<containerID>.log`,
//!   cut to 255 bytes (`ext4MaxFileNameLen`); a container ID "as short as
//!   6 characters" still names the container.
//! - `pkg/kubelet/logs/container_log_manager.go`: rotation renames
//!   `<N>.log` to `<N>.log.<20060102-150405>`, then compresses it to `.gz`
//!   (through a `.tmp`).
//! - moby/moby `daemon/logger/jsonfilelog`: Docker's own
//!   `<data-root>/containers/<id>/<id>-json.log`, rotated to `.1`, `.2.gz`.

use std::path::Path;

/// Which path layout a [`PodMeta`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodLayout {
    /// `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<N>.log`
    /// (kubelet 1.14 on): everything but the container ID.
    Pods,
    /// `/var/log/pods/<uid>/<container>/<N>.log` (older kubelets): UID,
    /// container and restart count.
    PodsByUid,
    /// `/var/log/pods/<uid>/<container>_<N>.log` (the first CRI kubelets):
    /// UID, container and restart count.
    PodsByUidFlat,
    /// `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`
    /// symlinks: everything but the UID.
    Containers,
    /// Docker's own `<data-root>/containers/<id>/<id>-json.log`: the
    /// container ID only.
    Docker,
}

/// What a pod log path says about the pod. Borrows from the path; a field
/// the layout does not carry is `""` or `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodMeta<'a> {
    /// The layout read.
    pub layout: PodLayout,
    /// Namespace; `""` in the UID-only and Docker layouts.
    pub namespace: &'a str,
    /// Pod name; `""` in the UID-only and Docker layouts.
    pub pod: &'a str,
    /// Pod UID (the `/var/log/pods` layouts).
    pub uid: Option<&'a str>,
    /// Container name; `""` in the Docker layout, and for a
    /// `/var/log/containers` name cut so short that the container is lost.
    pub container: &'a str,
    /// Container ID (`/var/log/containers` and Docker layouts; a prefix
    /// when the kubelet cut the symlink name at 255 bytes).
    pub container_id: Option<&'a str>,
    /// Restart count, the `<N>` of `<N>.log` (the `/var/log/pods` layouts).
    pub restart: Option<u32>,
}

/// The longest file name the kubelet writes under `/var/log/containers`
/// (`ext4MaxFileNameLen` in kubelet's `legacy.go`); longer names are cut.
const MAX_FILE_NAME: usize = 255;

impl<'a> PodMeta<'a> {
    /// Reads any [`PodLayout`] from the path's last components, so a host
    /// mount such as `/host/var/log/pods/...` or a custom `podLogsDir`
    /// works too. Rotated files (`0.log.20261122-100000`, with `.gz` or
    /// `.tmp`; Docker's `-json.log.1`) keep their metadata. Returns `None`
    /// for any other path.
    ///
    /// # Performance
    /// A few splits of the path; call it once per file, not per line.
    pub fn from_path(path: &'a Path) -> Option<Self> {
        let s = path.to_str()?;
        let mut comps = s.rsplit('/');
        let file = comps.next()?;
        let parent = comps.next()?;
        let grand = comps.next();
        if parent == "containers" {
            return Self::from_container_link(file);
        }
        if grand == Some("containers")
            && let Some(m) = Self::from_docker(parent, file)
        {
            return Some(m);
        }
        if grand == Some("pods")
            && let Some(m) = Self::from_uid_flat(parent, file)
        {
            return Some(m);
        }
        Self::from_pod_dir(grand?, parent, file, comps.next() == Some("pods"))
    }

    /// `<namespace>_<pod>_<uid>/<container>/<N>.log` (under any
    /// `podLogsDir` when the UID is well-formed) or, right under `pods`,
    /// `<uid>/<container>/<N>.log`.
    fn from_pod_dir(pod_dir: &'a str, container: &'a str, file: &str, pods: bool) -> Option<Self> {
        let restart = Some(restart_count(file)?);
        if !dns_label(container) {
            return None;
        }
        let mut it = pod_dir.split('_');
        let (namespace, pod, uid, layout) = match (it.next()?, it.next(), it.next(), it.next()) {
            // A bare UID directory is too common a shape to trust anywhere
            // but right under `pods`.
            (uid, None, None, None) if pods && strict_uid(uid) => {
                ("", "", uid, PodLayout::PodsByUid)
            }
            (ns, Some(pod), Some(uid), None)
                if dns_label(ns)
                    && dns_subdomain(pod)
                    && (strict_uid(uid) || (pods && loose_uid(uid))) =>
            {
                (ns, pod, uid, PodLayout::Pods)
            }
            _ => return None,
        };
        Some(PodMeta {
            layout,
            namespace,
            pod,
            uid: Some(uid),
            container,
            container_id: None,
            restart,
        })
    }

    /// `<uid>/<container>_<N>.log[.rotated]`, right under `pods`.
    fn from_uid_flat(uid_dir: &'a str, file: &'a str) -> Option<Self> {
        if !strict_uid(uid_dir) {
            return None;
        }
        let (name, tail) = file.split_once(".log")?;
        if !(tail.is_empty() || tail.starts_with('.')) {
            return None;
        }
        let (container, n) = name.rsplit_once('_')?;
        let restart = u32::try_from(crate::time::parse_u64(n.as_bytes())?).ok()?;
        if !dns_label(container) {
            return None;
        }
        Some(PodMeta {
            layout: PodLayout::PodsByUidFlat,
            namespace: "",
            pod: "",
            uid: Some(uid_dir),
            container,
            container_id: None,
            restart: Some(restart),
        })
    }

    /// `<pod>_<namespace>_<container>-<id>.log`, possibly cut at 255 bytes.
    fn from_container_link(file: &'a str) -> Option<Self> {
        let stem = file.strip_suffix(".log")?;
        let mut it = stem.split('_');
        let (pod, namespace, rest) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || !dns_label(namespace) || !dns_subdomain(pod) {
            return None;
        }
        let cut = file.len() == MAX_FILE_NAME;
        let (container, id) = match rest.rsplit_once('-') {
            Some((c, id)) if dns_label(c) && hex(id) && id.len() >= 6 => (c, Some(id)),
            // Cut inside the container name or its ID: the pod is known,
            // the container is not.
            _ if cut => ("", None),
            _ => return None,
        };
        Some(PodMeta {
            layout: PodLayout::Containers,
            namespace,
            pod,
            uid: None,
            container,
            container_id: id,
            restart: None,
        })
    }

    /// `<id>/<id>-json.log[.N][.gz]` under a Docker `containers` directory.
    fn from_docker(dir: &'a str, file: &'a str) -> Option<Self> {
        let rest = file.strip_prefix(dir)?.strip_prefix("-json.log")?;
        if !(rest.is_empty() || rest.starts_with('.')) || dir.len() != 64 || !hex(dir) {
            return None;
        }
        Some(PodMeta {
            layout: PodLayout::Docker,
            namespace: "",
            pod: "",
            uid: None,
            container: "",
            container_id: Some(dir),
            restart: None,
        })
    }
}

/// `<N>.log`, or a rotated `<N>.log.<suffix>`: the restart count.
fn restart_count(file: &str) -> Option<u32> {
    let (n, tail) = file.split_once(".log")?;
    if !(tail.is_empty() || tail.starts_with('.')) {
        return None;
    }
    u32::try_from(crate::time::parse_u64(n.as_bytes())?).ok()
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

/// Lower-case hex digits, at least one.
fn hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A pod UID as the API server and kubelet write it: a canonical UUID
/// (`8-4-4-4-12` lower-case hex), or the 32 hex digits of a static pod's
/// manifest hash.
fn strict_uid(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        32 => hex(s),
        36 => b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        }),
        _ => false,
    }
}

/// Any UID-like token (letters, digits, `-`): accepted right under `pods`,
/// where the directory layout already says what it is.
fn loose_uid(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A lower-case RFC 1123 label, ≤ 63 bytes (namespaces, containers).
fn dns_label(s: &str) -> bool {
    s.len() <= 63 && label_chars(s)
}

/// A lower-case RFC 1123 subdomain, ≤ 253 bytes (pod names). Like
/// Kubernetes' `IsDNS1123Subdomain`, its dot-separated labels are not held
/// to 63 bytes each.
fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(label_chars)
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(p: &str) -> Option<PodMeta<'_>> {
        PodMeta::from_path(Path::new(p))
    }

    /// (layout, namespace, pod, uid, container, container id, restart).
    type Fields<'a> = (
        PodLayout,
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
        Option<u32>,
    );

    fn fields<'a>(m: &PodMeta<'a>) -> Fields<'a> {
        let PodMeta {
            layout,
            namespace,
            pod,
            uid,
            container,
            container_id,
            restart,
        } = *m;
        (
            layout,
            namespace,
            pod,
            uid,
            container,
            container_id,
            restart,
        )
    }

    // A node's listing quoted in dec1/practical_devops
    // cloud/devops/kubernetes/ref/troubleshooting/general.md: a static pod
    // (32-hex manifest hash as UID) and a DaemonSet pod (UUID).
    const PROXY_ID: &str = "c269a18400e27b14085c57f8e36f5b4d5471c140eb27e8b0f632c056547555de";

    #[test]
    fn pods_layout() {
        let m = meta(
            "/var/log/pods/site042_wp-7d9f-abcde_0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/php-fpm/3.log",
        )
        .unwrap();
        assert_eq!(
            fields(&m),
            (
                PodLayout::Pods,
                "site042",
                "wp-7d9f-abcde",
                Some("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"),
                "php-fpm",
                None,
                Some(3)
            )
        );
        let m = meta(
            "/var/log/pods/kube-system_kube-apiserver-controlplane_33d556edd3ae8ef21980288cef77ae8b/kube-apiserver/0.log",
        )
        .unwrap();
        assert_eq!(
            (m.namespace, m.pod, m.uid, m.container),
            (
                "kube-system",
                "kube-apiserver-controlplane",
                Some("33d556edd3ae8ef21980288cef77ae8b"),
                "kube-apiserver"
            )
        );
        let rotated = meta("/host/var/log/pods/ns_p.x_uid/c/0.log.20261122-100000.gz").unwrap();
        assert_eq!((rotated.pod, rotated.restart), ("p.x", Some(0)));
    }

    /// Every name the kubelet's container log manager gives a generation
    /// (`<N>.log.<20060102-150405>`, `.gz`, the `.tmp` it compresses
    /// through) keeps the labels of the live file.
    #[test]
    fn rotated_generations() {
        let dir = "/var/log/pods/site042_wp-0_0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/php-fpm";
        let live_path = format!("{dir}/2.log");
        let live = meta(&live_path).unwrap();
        for suffix in [
            ".20261122-100000",
            ".20261122-100000.gz",
            ".20261122-100000.tmp",
        ] {
            let p = format!("{dir}/2.log{suffix}");
            assert_eq!(meta(&p), Some(live), "{p}");
        }
    }

    /// A custom `podLogsDir` (KubeletConfiguration): the namespaced
    /// directory is trusted under any parent when its UID is well-formed.
    #[test]
    fn custom_pod_logs_dir() {
        let m = meta(
            "/data/kubelet/logs/site042_wp-0_0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/nginx/1.log",
        )
        .unwrap();
        assert_eq!(
            (m.namespace, m.pod, m.container),
            ("site042", "wp-0", "nginx")
        );
        // A loose UID only right under `pods`.
        assert_eq!(meta("/data/kubelet/logs/ns_pod_uid/c/0.log"), None);
    }

    /// The UID-only layouts of older kubelets.
    #[test]
    fn pods_by_uid_layouts() {
        // Listed in rancher/rke issue 169 (a 2018 node):
        // /var/log/pods/c3c323a0-f273-11e7-a23e-5ab0d5506cd4/testcontainer_0.log
        let m =
            meta("/var/log/pods/c3c323a0-f273-11e7-a23e-5ab0d5506cd4/testcontainer_0.log").unwrap();
        assert_eq!(
            fields(&m),
            (
                PodLayout::PodsByUidFlat,
                "",
                "",
                Some("c3c323a0-f273-11e7-a23e-5ab0d5506cd4"),
                "testcontainer",
                None,
                Some(0)
            )
        );
        let m =
            meta("/host/var/log/pods/c3c323a0-f273-11e7-a23e-5ab0d5506cd4/php-fpm/12.log").unwrap();
        assert_eq!(
            fields(&m),
            (
                PodLayout::PodsByUid,
                "",
                "",
                Some("c3c323a0-f273-11e7-a23e-5ab0d5506cd4"),
                "php-fpm",
                None,
                Some(12)
            )
        );
        let l = m.labels();
        assert_eq!(
            (
                l.namespace.as_str(),
                l.pod_uid.as_str(),
                l.container.as_str()
            ),
            ("", "c3c323a0-f273-11e7-a23e-5ab0d5506cd4", "php-fpm")
        );
    }

    #[test]
    fn containers_layout() {
        let id = "4f9a1c2b3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4";
        let path = format!("/var/log/containers/wp-7d9f-abcde_site042_php-fpm-{id}.log");
        let m = meta(&path).unwrap();
        assert_eq!(
            fields(&m),
            (
                PodLayout::Containers,
                "site042",
                "wp-7d9f-abcde",
                None,
                "php-fpm",
                Some(id),
                None
            )
        );
        let p =
            format!("/var/log/containers/kube-proxy-6xsx9_kube-system_kube-proxy-{PROXY_ID}.log");
        let m = meta(&p).unwrap();
        assert_eq!(
            (m.pod, m.namespace, m.container, m.container_id),
            (
                "kube-proxy-6xsx9",
                "kube-system",
                "kube-proxy",
                Some(PROXY_ID)
            )
        );
    }

    /// kubelet's `logSymlink` cuts `<pod>_<ns>_<container>-<id>` to 251
    /// bytes before `.log`: the ID loses its tail, or the container is cut
    /// off entirely when the pod name is long.
    #[test]
    fn containers_layout_cut_at_255_bytes() {
        let link = |pod: &str, container: &str| {
            let mut name = format!("{pod}_site042_{container}-{PROXY_ID}");
            name.truncate(MAX_FILE_NAME - ".log".len());
            format!("/var/log/containers/{name}.log")
        };
        let pod = format!("wp-{}", "a".repeat(180));
        let p = link(&pod, "php-fpm");
        let m = meta(&p).unwrap();
        let id = m.container_id.unwrap();
        assert!(id.len() < 64 && PROXY_ID.starts_with(id), "{id}");
        assert_eq!(
            (m.pod, m.namespace, m.container),
            (pod.as_str(), "site042", "php-fpm")
        );
        // 240 bytes of pod name: the cut falls inside the container name.
        let pod = format!("wp-{}", "b".repeat(237));
        let p = link(&pod, "php-fpm");
        let m = meta(&p).unwrap();
        assert_eq!(
            (m.pod, m.namespace, m.container, m.container_id),
            (pod.as_str(), "site042", "", None)
        );
    }

    /// Docker's own json-file path (moby `daemon/logger/jsonfilelog`), as
    /// a Docker 20.10 daemon wrote them for this module's fixtures, under
    /// a custom data-root too; `.1` is its rotated generation.
    #[test]
    fn docker_layout() {
        let id = "805d86907509c4cd24be54dacd90c15620ea994d9475dfe43c927c370aa571d3";
        for p in [
            format!("/var/lib/docker/containers/{id}/{id}-json.log"),
            format!("/var/lib/docker/containers/{id}/{id}-json.log.1"),
            format!("/var/lib/docker/containers/{id}/{id}-json.log.2.gz"),
            format!("/host/data/docker/containers/{id}/{id}-json.log"),
        ] {
            let m = meta(&p).unwrap_or_else(|| panic!("{p}"));
            assert_eq!(
                fields(&m),
                (PodLayout::Docker, "", "", None, "", Some(id), None),
                "{p}"
            );
        }
        let other = "4f9a1c2b3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4";
        for p in [
            format!("/var/lib/docker/containers/{id}/{other}-json.log"),
            format!("/var/lib/docker/containers/{id}/{id}.log"),
            format!("/var/lib/docker/containers/{id}/{id}-json.logx"),
            "/var/lib/docker/containers/abc/abc-json.log".to_string(),
        ] {
            assert_eq!(meta(&p), None, "{p}");
        }
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
            "/var/log/pods/not-a-uid/c/0.log",
            "/var/log/pods/not-a-uid/c_0.log",
            "/var/log/pods/c3c323a0-f273-11e7-a23e-5ab0d5506cd4/c_x.log",
            "/var/log/pods/c3c323a0-f273-11e7-a23e-5ab0d5506cd4/C_0.log",
            "/srv/c3c323a0-f273-11e7-a23e-5ab0d5506cd4/c/0.log",
            "/var/log/containers/pod_ns_c.log",
            "/var/log/containers/pod_ns_c-xyz.log",
            "/var/log/containers/pod_ns_c-abc.log",
            "/var/log/containers/pod_ns_c-abc.txt",
            "/var/log/containers/pod_ns-abc.log",
        ] {
            assert_eq!(meta(p), None, "{p}");
        }
    }
}

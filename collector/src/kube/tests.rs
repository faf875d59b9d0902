//! The pod watch against a fake API server.
//!
//! A fake, because no Kubernetes cluster can be installed here (no kind,
//! k3s or container runtime on the test machines). It implements the part
//! of the API the client uses as the API concepts page describes it
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes>,
//! and `#retrieving-large-results-sets-in-chunks` for pagination): LIST
//! with `limit`/`continue` and the list's `resourceVersion`, WATCH from a
//! resource version replaying the history after it and then streaming
//! JSON lines, `BOOKMARK` events, a `410` `ERROR` event for a version no
//! longer in the history, a bearer token check and `403` for a namespace
//! the service account may not read. It can drop connections mid-stream. The pods it
//! serves are real `kubectl get pod -o json` objects (`testdata/`), full
//! of fields the client ignores.

mod deployments;
mod fake;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::pods::{fpm_targets, parse_fpm_annotation, ready_by_site};
use super::*;
use crate::fpm::FpmTarget;
use crate::run::LiveState;
use fake::{Fake, Seen};

const WORDPRESS: &str = include_str!("testdata/pod-wordpress.json");
const PENDING: &str = include_str!("testdata/pod-pending.json");
const LABEL: &str = "app.kubernetes.io/instance";

// ------------------------------------------------------------ fixtures

/// The WordPress fixture as pod `name` of `site` on `node` at `ip`, Ready
/// or not (the `Ready` and `ContainersReady` conditions and the container
/// statuses, as the kubelet writes them).
fn wp_pod(name: &str, site: &str, node: &str, ip: &str, ready: bool) -> Value {
    let mut p: Value = serde_json::from_str(WORDPRESS).unwrap();
    p["metadata"]["name"] = json!(name);
    p["metadata"]["namespace"] = json!(format!("wp-{site}"));
    p["metadata"]["labels"][LABEL] = json!(site);
    p["spec"]["nodeName"] = json!(node);
    p["status"]["podIP"] = json!(ip);
    p["status"]["podIPs"] = json!([{"ip": ip}]);
    set_ready(&mut p, ready);
    p
}

fn set_ready(p: &mut Value, ready: bool) {
    let s = if ready { "True" } else { "False" };
    for c in p["status"]["conditions"].as_array_mut().unwrap() {
        if c["type"] == "Ready" || c["type"] == "ContainersReady" {
            c["status"] = json!(s);
        }
    }
    for c in p["status"]["containerStatuses"].as_array_mut().unwrap() {
        c["ready"] = json!(ready);
    }
}

fn pending_pod() -> Value {
    serde_json::from_str(PENDING).unwrap()
}

// --------------------------------------------------------------- runner

struct Running {
    live: LiveState,
    fpm: tokio::sync::watch::Receiver<Vec<FpmTarget>>,
    token: PathBuf,
    _task: KubeTask,
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sitepulse-kube-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes a token as the kubelet does: a new file renamed over the old.
fn write_token(path: &Path, token: &str) {
    let t = path.with_extension("tmp");
    std::fs::write(&t, format!("{token}\n")).unwrap();
    std::fs::rename(&t, path).unwrap();
}

fn run(fake: &Fake, name: &str, edit: impl FnOnce(&mut KubeConfig)) -> Running {
    let dir = tmp(name);
    let token = dir.join("token");
    write_token(&token, &fake.lock().token);
    let mut cfg = KubeConfig {
        enabled: true,
        api_url: fake.url.clone(),
        token_file: token.clone(),
        ca_file: dir.join("ca.crt"), // not read for http://
        node_name: "node-1".into(),
        resync_secs: 30,
        ..KubeConfig::default()
    };
    edit(&mut cfg);
    cfg.validate().unwrap();
    let (wake, _) = std::sync::mpsc::sync_channel(1);
    let live = LiveState::new(wake, dir.join("ckpt.json"), None);
    let (tx, fpm) = tokio::sync::watch::channel(Vec::new());
    let task = start(&cfg, live.clone(), &tokio::runtime::Handle::current(), tx).unwrap();
    Running {
        live,
        fpm,
        token,
        _task: task,
    }
}

impl Running {
    fn ready(&self) -> Option<BTreeMap<String, u32>> {
        self.live
            .ready_pods()
            .filter(|p| p.synced.is_some())
            .map(|p| p.by_site.iter().map(|(k, v)| (k.clone(), *v)).collect())
    }

    fn synced(&self) -> Option<SystemTime> {
        self.live.ready_pods().and_then(|p| p.synced)
    }
}

fn counts(pairs: &[(&str, u32)]) -> Option<BTreeMap<String, u32>> {
    Some(pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect())
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_counts_follow_readiness_and_deletion() {
    let fake = Fake::start("t0k3n").await;
    fake.put(wp_pod("a", "site042", "node-1", "10.42.1.17", true));
    fake.put(wp_pod("b", "site042", "node-2", "10.42.2.9", false));
    fake.put(pending_pod());
    let mut other = wp_pod("unlabelled", "x", "node-1", "10.42.1.99", true);
    other["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove(LABEL);
    fake.put(other);
    let r = run(&fake, "ready", |_| {});

    until("the first list", || {
        r.ready() == counts(&[("site042", 1), ("site7", 0)])
    })
    .await;
    let first = &fake.seen()[0];
    assert_eq!(first.auth, "Bearer t0k3n", "the bearer token is sent");
    assert_eq!(
        first.query.get("labelSelector").map(String::as_str),
        Some(LABEL)
    );
    until("the watch", || fake.open_watches() == 1).await;
    let w = fake.seen().into_iter().find(Seen::is_watch).unwrap();
    assert_eq!(
        w.query["resourceVersion"], "1004",
        "the watch starts at the list's version"
    );
    assert_eq!(w.query["allowWatchBookmarks"], "true");
    assert_eq!(w.query["timeoutSeconds"], "30");

    fake.put(wp_pod("b", "site042", "node-2", "10.42.2.9", true));
    until("b Ready", || {
        r.ready() == counts(&[("site042", 2), ("site7", 0)])
    })
    .await;
    fake.put(wp_pod("a", "site042", "node-1", "10.42.1.17", false));
    until("a NotReady", || {
        r.ready() == counts(&[("site042", 1), ("site7", 0)])
    })
    .await;
    // Terminating: still Ready=True, but out of service.
    let mut b = wp_pod("b", "site042", "node-2", "10.42.2.9", true);
    b["metadata"]["deletionTimestamp"] = json!("2025-03-11T11:00:00Z");
    fake.put(b);
    until("b terminating", || {
        r.ready() == counts(&[("site042", 0), ("site7", 0)])
    })
    .await;
    fake.delete_with("wp-site042", "b", true);
    fake.delete_with("wp-site042", "a", true);
    until("both deleted", || r.ready() == counts(&[("site7", 0)])).await;

    // A bookmark changes nothing but says the counts are current.
    let before = r.synced().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    fake.bookmark();
    until("the bookmark", || r.synced().unwrap() > before).await;
    assert_eq!(r.ready(), counts(&[("site7", 0)]));
    assert_eq!(fake.lists(), 1, "events alone, no relist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fpm_targets_of_this_nodes_running_pods_with_their_ip() {
    let fake = Fake::start("t").await;
    fake.put(wp_pod("a", "site042", "node-1", "10.42.1.17", true));
    fake.put(wp_pod("elsewhere", "site9", "node-2", "10.42.2.4", true));
    fake.put(pending_pod()); // node-1, no IP yet
    let mut bad = wp_pod("sock", "site5", "node-1", "10.42.1.30", true);
    bad["metadata"]["annotations"]["sitepulse.io/fpm-status"] = json!("unix:///run/php/fpm.sock");
    fake.put(bad);
    let mut foreign = wp_pod("ssrf", "site6", "node-1", "10.42.1.31", true);
    foreign["metadata"]["annotations"]["sitepulse.io/fpm-status"] =
        json!("http://169.254.169.254/latest/meta-data/");
    fake.put(foreign);
    let mut r = run(&fake, "fpm", |_| {});

    let a = FpmTarget {
        site: "site042".into(),
        address: "tcp://10.42.1.17:9000".into(),
        status_path: "/status".into(),
    };
    until("site042's target", || *r.fpm.borrow() == vec![a.clone()]).await;

    // The pending pod starts: Running, with an IP.
    let mut p = pending_pod();
    p["status"]["phase"] = json!("Running");
    p["status"]["podIP"] = json!("10.42.1.21");
    fake.put(p);
    let site7 = FpmTarget {
        site: "site7".into(),
        address: "http://10.42.1.21:8080/fpm-status".into(),
        status_path: "/status".into(),
    };
    until("site7's target", || {
        *r.fpm.borrow() == vec![a.clone(), site7.clone()]
    })
    .await;
    r.fpm.mark_unchanged();

    // A change that moves no target publishes nothing.
    fake.put(wp_pod("a", "site042", "node-1", "10.42.1.17", false));
    until("a NotReady", || {
        r.ready().is_some_and(|c| c["site042"] == 0)
    })
    .await;
    assert!(!r.fpm.has_changed().unwrap());

    fake.delete_with("wp-site042", "a", true);
    until("a's target gone", || *r.fpm.borrow() == vec![site7.clone()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_forces_a_relist_that_sees_what_the_history_lost() {
    let fake = Fake::start("t").await;
    fake.put(wp_pod("a", "site042", "node-1", "10.42.1.17", true));
    fake.put(wp_pod("b", "site042", "node-1", "10.42.1.18", true));
    let r = run(&fake, "gone", |_| {});
    until("the list", || r.ready() == counts(&[("site042", 2)])).await;
    until("the watch", || fake.open_watches() == 1).await;

    // Changes whose events the client never gets, then a compaction.
    fake.delete_with("wp-site042", "b", false);
    fake.put_with(wp_pod("c", "site8", "node-1", "10.42.1.40", true), false);
    fake.put_with(wp_pod("a", "site042", "node-1", "10.42.1.17", false), false);
    fake.expire();

    until("the relist", || {
        r.ready() == counts(&[("site042", 0), ("site8", 1)])
    })
    .await;
    assert_eq!(fake.lists(), 2);
    until("a new watch", || fake.open_watches() == 1).await;
    let last = fake.seen().into_iter().rfind(Seen::is_watch).unwrap();
    assert_eq!(last.query["resourceVersion"], fake.lock().rv.to_string());
    fake.put(wp_pod("d", "site8", "node-1", "10.42.1.41", true));
    until("events after the relist", || {
        r.ready() == counts(&[("site042", 0), ("site8", 2)])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_resumes_from_its_version_without_losing_an_event() {
    let fake = Fake::start("t").await;
    fake.put(wp_pod("a", "site042", "node-1", "10.42.1.17", true));
    let r = run(&fake, "drop", |_| {});
    until("the watch", || fake.open_watches() == 1).await;
    fake.put(wp_pod("b", "site042", "node-1", "10.42.1.18", true));
    until("b", || r.ready() == counts(&[("site042", 2)])).await;
    let rv_before = fake.lock().rv;

    // The connection dies, and while the server refuses watches a pod
    // turns NotReady: the client must get that event on its next watch.
    fake.lock().down = true;
    fake.drop_watches();
    fake.put(wp_pod("a", "site042", "node-1", "10.42.1.17", false));
    until("a refused watch", || {
        fake.seen().iter().filter(|s| s.is_watch()).count() >= 3
    })
    .await;
    fake.lock().down = false;

    until("the lost event", || r.ready() == counts(&[("site042", 1)])).await;
    assert_eq!(fake.lists(), 1, "resumed, not relisted");
    let watches: Vec<Seen> = fake.seen().into_iter().filter(Seen::is_watch).collect();
    assert!(
        watches[1..]
            .iter()
            .all(|w| w.query["resourceVersion"] == rv_before.to_string()),
        "every retry watches from the last version seen: {watches:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_is_read_in_pages() {
    let fake = Fake::start("t").await;
    for i in 0..5 {
        fake.put(wp_pod(
            &format!("p{i}"),
            "site042",
            "node-1",
            &format!("10.42.1.{i}"),
            i % 2 == 0,
        ));
    }
    let r = run(&fake, "pages", |c| c.list_page_size = 2);
    until("the list", || r.ready() == counts(&[("site042", 3)])).await;
    let lists: Vec<Seen> = fake.seen().into_iter().filter(|s| !s.is_watch()).collect();
    assert_eq!(lists.len(), 3);
    assert!(lists.iter().all(|l| l.query["limit"] == "2"));
    assert_eq!(lists[0].query.get("continue"), None);
    assert_eq!(lists[1].query["continue"], "2:1005");
    assert_eq!(lists[2].query["continue"], "4:1005");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_is_picked_up() {
    let fake = Fake::start("first").await;
    fake.put(wp_pod("a", "site042", "node-1", "10.42.1.17", true));
    let r = run(&fake, "token", |_| {});
    until("the watch", || fake.open_watches() == 1).await;

    // The kubelet rotates the token; the server stops taking the old one.
    write_token(&r.token, "second");
    fake.lock().token = "second".into();
    fake.drop_watches();
    until("a watch with the new token", || fake.open_watches() == 1).await;
    let seen = fake.seen();
    assert!(seen[..2].iter().all(|s| s.auth == "Bearer first"));
    assert_eq!(seen.last().unwrap().auth, "Bearer second");
    assert!(
        seen.iter()
            .all(|s| s.auth != "Bearer " && !s.auth.is_empty())
    );
    fake.put(wp_pod("b", "site042", "node-1", "10.42.1.18", true));
    until("events on the new token", || {
        r.ready() == counts(&[("site042", 2)])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_watch_per_namespace_counts_summed_synced_only_when_all_are() {
    let fake = Fake::start("t").await;
    fake.put(wp_pod("a", "site042", "node-1", "10.42.1.17", true));
    fake.put(wp_pod("b", "site9", "node-1", "10.42.1.18", true));
    fake.put(pending_pod()); // wp-site7
    let r = run(&fake, "ns", |c| {
        c.namespaces = vec!["wp-site042".into(), "wp-site7".into()]
    });
    until("both lists", || {
        r.ready() == counts(&[("site042", 1), ("site7", 0)])
    })
    .await;
    until("both watches", || fake.open_watches() == 2).await;
    let mut p = pending_pod();
    set_ready(&mut p, true);
    p["status"]["phase"] = json!("Running");
    fake.put(p);
    fake.put(wp_pod("c", "site042", "node-1", "10.42.1.19", true));
    fake.put(wp_pod("b", "site9", "node-1", "10.42.1.18", false)); // not watched
    until("events of both", || {
        r.ready() == counts(&[("site042", 2), ("site7", 1)])
    })
    .await;
    drop(r);

    // One namespace the service account may not read: the counts are
    // never marked current, so answers call them missing, not 0.
    fake.lock().forbidden.push("wp-site7".into());
    let site7_lists = || {
        let seen = fake.seen();
        seen.iter()
            .filter(|s| !s.is_watch() && s.ns.as_deref() == Some("wp-site7"))
            .count()
    };
    let before = site7_lists();
    let r = run(&fake, "ns-forbidden", |c| {
        c.namespaces = vec!["wp-site042".into(), "wp-site7".into()]
    });
    until("two refused lists", || site7_lists() >= before + 2).await;
    let pods = r.live.ready_pods().unwrap();
    assert_eq!(pods.synced, None);
    assert_eq!(pods.by_site.get("site042"), Some(&2));
}

// ------------------------------------------------------- without a server

#[test]
fn the_fixtures_read_as_pods() {
    let p: Pod = serde_json::from_str(WORDPRESS).unwrap();
    assert_eq!(p.metadata.name, "site042-wordpress-7d9c6b5f4-x2kqp");
    assert_eq!(p.metadata.namespace, "wp-site042");
    assert_eq!(p.site(LABEL), Some("site042"));
    assert_eq!(p.metadata.resource_version, "48213377");
    assert_eq!(p.spec.node_name, "node-1");
    assert_eq!(p.status.phase, "Running");
    assert_eq!(p.status.pod_ip, "10.42.1.17");
    assert!(p.is_ready());
    let q: Pod = serde_json::from_str(PENDING).unwrap();
    assert!(!q.is_ready());
    assert_eq!(q.status.pod_ip, "");
    assert_eq!(
        ready_by_site([&p, &q], LABEL),
        HashMap::from([("site042".into(), 1), ("site7".into(), 0)])
    );
    let (t, bad) = fpm_targets([&p, &q], "node-1", LABEL, "sitepulse.io/fpm-status");
    assert_eq!(t.len(), 1);
    assert!(bad.is_empty());
    assert!(
        fpm_targets([&p], "node-2", LABEL, "sitepulse.io/fpm-status")
            .0
            .is_empty()
    );
    // `null` where a list or map may be.
    let n: Pod = serde_json::from_str(
        r#"{"metadata":{"name":"x","labels":null,"annotations":null},"status":{"conditions":null}}"#,
    )
    .unwrap();
    assert!(!n.is_ready());
}

#[test]
fn fpm_annotations() {
    let ok = |v: &str, ip: &str| parse_fpm_annotation(v, ip).unwrap();
    let pair = |a: &str, p: &str| (a.to_owned(), p.to_owned());
    assert_eq!(
        ok("tcp://:9000/status", "10.0.0.5"),
        vec![pair("tcp://10.0.0.5:9000", "/status")]
    );
    assert_eq!(
        ok("tcp://:9000", "10.0.0.5"),
        vec![pair("tcp://10.0.0.5:9000", "/status")]
    );
    assert_eq!(
        ok("tcp://:9001/fpm", "fd00::7"),
        vec![pair("tcp://[fd00::7]:9001", "/fpm")]
    );
    // The pod's own IP may be written, in any spelling of it.
    assert_eq!(
        ok("tcp://10.0.0.5:9000/s", "10.0.0.5"),
        vec![pair("tcp://10.0.0.5:9000", "/s")]
    );
    assert_eq!(
        ok("http://[fd00:0:0::7]:8080/s", "fd00::7"),
        vec![pair("http://[fd00::7]:8080/s", "/status")]
    );
    assert_eq!(
        ok("http://:8080/status?json", "10.0.0.5"),
        vec![pair("http://10.0.0.5:8080/status?json", "/status")]
    );
    assert_eq!(
        ok("http://", "10.0.0.5"),
        vec![pair("http://10.0.0.5/status", "/status")]
    );
    assert_eq!(
        ok("tcp://:9000/a, tcp://:9001/b", "10.0.0.5"),
        vec![
            pair("tcp://10.0.0.5:9000", "/a"),
            pair("tcp://10.0.0.5:9001", "/b")
        ]
    );
    for bad in [
        "",
        ",",
        ":9000",
        "tcp://:0/s",
        "tcp://:x/s",
        "tcp://host/s",
        "tcp://[::1/s",
        "unix:///run/php.sock",
        "https://:443/",
        "tcp://:9000/a tcp://:9001/b",
    ] {
        assert!(parse_fpm_annotation(bad, "10.0.0.5").is_err(), "{bad:?}");
    }
}

/// Whoever creates a pod writes its annotations: they may point the
/// scraper at the pod only, not at other hosts (cloud metadata, the node,
/// sitepulse itself, services) nor at sockets on sitepulse's node.
#[test]
fn fpm_annotations_name_the_pod_only() {
    let err = |v: &str| parse_fpm_annotation(v, "10.0.0.5").unwrap_err();
    for foreign in [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254:80/computeMetadata/v1/",
        "tcp://metadata.google.internal:80/",
        "tcp://127.0.0.1:9000/status",
        "http://localhost:8080/status",
        "http://[::1]:8080/status",
        "tcp://10.0.0.6:9000",
        "http://0x0a.0.0.5/status",
        "http://10.0.0.5.nip.io/status",
        "http://user@10.0.0.5/status",
        "http://kubernetes.default.svc/api",
        // One bad address spoils the annotation.
        "tcp://:9000/status, http://169.254.169.254/",
    ] {
        let e = err(foreign);
        assert!(
            e.contains("is not the pod's IP (10.0.0.5)"),
            "{foreign}: {e}"
        );
    }
    let e = err("http://169.254.169.254/latest/meta-data/");
    assert_eq!(
        e,
        "host `169.254.169.254` is not the pod's IP (10.0.0.5): an annotation may only name the pod itself; leave the host out (`http://:port/path`)"
    );
    for sock in ["unix:///run/php/fpm.sock", "unix:///var/run/docker.sock"] {
        assert!(err(sock).contains("socket on sitepulse's node"), "{sock}");
    }
    // At most four per pod.
    let four = "tcp://:9000/a,tcp://:9001/b,tcp://:9002/c,tcp://:9003/d";
    assert_eq!(parse_fpm_annotation(four, "10.0.0.5").unwrap().len(), 4);
    assert_eq!(
        err(&format!("{four},tcp://:9004/e")),
        "more than 4 addresses (at most one per pool)"
    );
    // Through fpm_targets: the pod is left out, and said why.
    let mut p: Pod = serde_json::from_str(WORDPRESS).unwrap();
    p.metadata.annotations.insert(
        "sitepulse.io/fpm-status".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
    );
    let (t, bad) = fpm_targets([&p], "node-1", LABEL, "sitepulse.io/fpm-status");
    assert!(t.is_empty());
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, "wp-site042/site042-wordpress-7d9c6b5f4-x2kqp");
    assert!(
        bad[0].1.contains("is not the pod's IP (10.42.1.17)"),
        "{bad:?}"
    );
}

#[test]
fn discovered_targets_are_capped() {
    let t = |i: usize| FpmTarget {
        site: format!("s{i:05}"),
        address: "tcp://10.0.0.1:9000".into(),
        status_path: "/status".into(),
    };
    let mut capped = false;
    let mut v: Vec<FpmTarget> = (0..pods::MAX_DISCOVERED_TARGETS + 10).map(t).collect();
    pods::cap_targets(&mut v, &mut capped);
    assert!(capped);
    assert_eq!(v.len(), pods::MAX_DISCOVERED_TARGETS);
    assert_eq!(v.last(), Some(&t(pods::MAX_DISCOVERED_TARGETS - 1)));
    let mut v: Vec<FpmTarget> = (0..3).map(t).collect();
    pods::cap_targets(&mut v, &mut capped);
    assert!(!capped);
    assert_eq!(v.len(), 3);
}

/// A burst of events is told as its first at once, then one notice for
/// the rest once the interval has passed.
#[test]
fn events_in_a_burst_are_coalesced() {
    let every = Duration::from_millis(250);
    let t0 = tokio::time::Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut c = watch::Coalesce::new(every);
    assert_eq!(c.due(), None);
    assert!(c.changed(ms(0)), "the first at once");
    assert!(!c.changed(ms(1)));
    assert!(!c.changed(ms(100)));
    assert!(c.is_pending());
    assert_eq!(c.due(), Some(ms(250)));
    c.told(ms(250));
    assert!(!c.is_pending() && c.due().is_none());
    // A quiet while later: at once again.
    assert!(c.changed(ms(900)));
    let mut z = watch::Coalesce::new(Duration::ZERO);
    assert!(z.changed(ms(0)) && z.changed(ms(0)));
}

#[test]
fn config_defaults_and_validation() {
    let d = KubeConfig::default();
    assert!(!d.enabled);
    assert_eq!(d.token_file, Path::new(TOKEN_FILE));
    assert_eq!(d.site_label, LABEL);
    d.validate().unwrap();
    let field = |edit: fn(&mut KubeConfig)| {
        let mut c = KubeConfig::default();
        edit(&mut c);
        c.validate().unwrap_err().field
    };
    assert_eq!(
        field(|c| c.api_url = "kubernetes.default.svc".into()),
        "api_url"
    );
    assert_eq!(
        field(|c| c.namespaces = vec!["ok".into(), "Not_OK".into()]),
        "namespaces[1]"
    );
    assert_eq!(field(|c| c.site_label = "bad key!".into()), "site_label");
    assert_eq!(field(|c| c.fpm_annotation = "/x".into()), "fpm_annotation");
    assert_eq!(field(|c| c.resync_secs = 0), "resync_secs");
    assert_eq!(field(|c| c.list_page_size = 0), "list_page_size");
    assert_eq!(field(|c| c.token_file = PathBuf::new()), "token_file");
    let y: KubeConfig =
        serde_saphyr::from_str("enabled: true\nnamespaces: [wp]\nresync_secs: 45\n").unwrap();
    assert_eq!(
        (y.enabled, y.resync_secs, y.namespaces.len()),
        (true, 45, 1)
    );
    assert!(serde_saphyr::from_str::<KubeConfig>("resync: 45\n").is_err());
    let e = KubeConfig {
        api_url: "http://127.0.0.1:1/".into(),
        ..d
    };
    assert_eq!(e.resolved_api_url().unwrap(), "http://127.0.0.1:1");
}

#[tokio::test]
async fn start_reports_what_it_cannot_use_and_does_nothing_when_disabled() {
    let (wake, _) = std::sync::mpsc::sync_channel(1);
    let live = LiveState::new(wake, PathBuf::from("/tmp/ckpt.json"), None);
    let rt = tokio::runtime::Handle::current();
    let (tx, _rx) = tokio::sync::watch::channel(Vec::new());
    let off = start(&KubeConfig::default(), live.clone(), &rt, tx.clone()).unwrap();
    assert!(!off.is_running());
    assert!(live.ready_pods().is_none());
    let dir = tmp("start");
    let cfg = KubeConfig {
        enabled: true,
        api_url: "https://127.0.0.1:6443".into(),
        token_file: dir.join("missing-token"),
        ..KubeConfig::default()
    };
    let e = start(&cfg, live.clone(), &rt, tx.clone()).unwrap_err();
    assert!(matches!(e, KubeError::Token { .. }), "{e}");
    write_token(&dir.join("token"), "x");
    let cfg = KubeConfig {
        token_file: dir.join("token"),
        ca_file: dir.join("missing-ca.crt"),
        ..cfg
    };
    let e = start(&cfg, live, &rt, tx).unwrap_err();
    assert!(matches!(e, KubeError::Ca { .. }), "{e}");
}

//! The external metrics API (`external.metrics.k8s.io/v1beta1`) over real
//! TLS on 127.0.0.1, in front of a real collector tailing a Traefik log:
//! certificates made here (a serving CA and its server certificate for
//! 127.0.0.1, the front proxy's CA and `front-proxy-client`, a client of
//! another CA), a reqwest client with a client identity as the
//! aggregation layer, a serving certificate rotated on disk.
//!
//! Responses are checked against Kubernetes' own types: the discovery
//! documents and `Status` against the strict JSON schemas of
//! `io.k8s.apimachinery.pkg.apis.meta.v1` that the `kubernetes-validate`
//! package (PyPI) bundles, found through the Python in `SITEPULSE_PYTHON`
//! (default `python3`); `ExternalMetricValueList`, in no bundled schema,
//! against serde structs written from k8s.io/metrics
//! `pkg/apis/external_metrics/v1beta1/types.go` that refuse unknown fields.
//! The deploy/autoscale manifests go through `kubernetes-validate
//! --strict` too. Under CI (`CI` set) a missing validator fails the test;
//! elsewhere that part is skipped with a note.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde::Deserialize;
use serde_json::Value;
use sitepulse::autoscale::external::{ExternalMetricsConfig, serve};
use sitepulse::autoscale::values::Freshness;
use sitepulse::config::Config;
use sitepulse::run::Live;
use sitepulse_tests::{append, clf_line, install_tls, tmpdir, wait_for};

const GV: &str = "/apis/external.metrics.k8s.io/v1beta1";

/// A CA that signs the certificates of one side.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.distinguished_name.push(DnType::CommonName, name);
        Ca {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `sans`, with `cn`, for server or client auth: its
    /// certificate PEM and key PEM.
    fn leaf(&self, cn: &str, sans: &[&str], client: bool) -> (String, String) {
        let mut p =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// `types.go`'s `ExternalMetricValueList`: `metav1.TypeMeta` inline,
/// `metav1.ListMeta` as `metadata`, `items`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct ExternalMetricValueList {
    kind: String,
    api_version: String,
    #[serde(default)]
    metadata: ListMeta,
    items: Vec<ExternalMetricValue>,
}

/// apimachinery `metav1.ListMeta`: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct ListMeta {
    self_link: Option<String>,
    resource_version: Option<String>,
    #[serde(rename = "continue")]
    cont: Option<String>,
    remaining_item_count: Option<i64>,
}

/// `types.go`'s `ExternalMetricValue`: `metricName`, `metricLabels`,
/// `timestamp` and `value` are not `omitempty`; `window` is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct ExternalMetricValue {
    kind: Option<String>,
    api_version: Option<String>,
    metric_name: String,
    metric_labels: BTreeMap<String, String>,
    timestamp: String,
    window: Option<i64>,
    value: String,
}

/// A canonical DecimalSI Quantity (apimachinery quantity.go): digits
/// without leading zeros, a suffix, no three trailing zeros a larger
/// suffix would absorb. Its value.
fn quantity(s: &str) -> f64 {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(digits_end);
    assert!(!digits.is_empty(), "{s}: no digits");
    assert!(
        digits == "0" || !digits.starts_with('0'),
        "{s}: leading zero"
    );
    let exp = match suffix {
        "n" => -9,
        "u" => -6,
        "m" => -3,
        "" => 0,
        "k" => 3,
        "M" => 6,
        "G" => 9,
        "T" => 12,
        "P" => 15,
        "E" => 18,
        other => panic!("{s}: suffix {other:?} is not DecimalSI"),
    };
    if digits != "0" && exp < 18 {
        assert!(!digits.ends_with("000"), "{s} is not canonical");
    }
    let v = digits.parse::<f64>().unwrap() * 10f64.powi(exp);
    if neg { -v } else { v }
}

/// The Python that has `kubernetes_validate`, or `None` (outside CI).
fn validator() -> Option<String> {
    let py = std::env::var("SITEPULSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import kubernetes_validate, jsonschema, referencing"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    let msg = format!(
        "{py} cannot import kubernetes_validate: `pip install kubernetes-validate` (tests/run-all.sh) and set SITEPULSE_PYTHON"
    );
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("SKIPPED the Kubernetes schema checks: {msg}");
    None
}

/// Checks each JSON document against kubernetes-validate's strict schema
/// of its `meta/v1` kind (`<kind>-meta-v1.json`: the package's own
/// `validate()` looks up `<kind>-v1.json` for apiVersion v1, which the
/// meta kinds do not have).
const META_SCHEMAS: &str = r#"
import json, sys
import jsonschema
from referencing import Registry, Resource
import kubernetes_validate.utils as kv
version = kv.latest_version()
d = "kubernetes-json-schema/v%s-local-strict" % version
defs = kv.schema_contents(d + "/_definitions.json", version)
for path in sys.argv[1:]:
    doc = json.load(open(path))
    schema = kv.schema_contents("%s/%s-meta-v1.json" % (d, doc["kind"].lower()), version)
    registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
    jsonschema.validators.Draft202012Validator(schema, registry=registry).validate(doc)
    print("valid", doc["kind"], "against Kubernetes", version, path)
"#;

fn validate_meta(py: &str, dir: &Path, docs: &[(&str, Value)]) {
    let mut paths = Vec::new();
    for (name, doc) in docs {
        let p = dir.join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_vec(doc).unwrap()).unwrap();
        paths.push(p);
    }
    let out = Command::new(py)
        .arg("-c")
        .arg(META_SCHEMAS)
        .args(&paths)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("valid ").count(), docs.len(), "{text}");
}

fn client(ca: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    install_tls();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()]);
    if let Some((cert, key)) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    b.build().unwrap()
}

async fn get(c: &reqwest::Client, port: u16, path: &str) -> Result<(u16, Value), reqwest::Error> {
    let resp = c
        .get(format!("https://127.0.0.1:{port}{path}"))
        .header(
            "X-Remote-User",
            "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
        )
        .header("X-Remote-Group", "system:serviceaccounts")
        .send()
        .await?;
    let code = resp.status().as_u16();
    let text = resp.text().await?;
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((code, v))
}

fn write(d: &Path, name: &str, text: &str) -> PathBuf {
    let p = d.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_metrics_over_tls_with_the_front_proxy_certificate() {
    let d = tmpdir("external-metrics", "tls");
    // site042: 27 × 200 and 3 × 503 (10 % errors).
    let mut lines = String::new();
    for i in 0..30 {
        lines += &clf_line("site042", if i % 10 == 0 { 503 } else { 200 }, 20);
    }
    append(&d.join("logs/access.log"), &lines);
    let yaml = format!(
        "tail:\n  sources:\n    - include: [\"{0}/logs/*.log\"]\n  read_existing: beginning\n  checkpoint_path: \"{0}/ckpt.json\"\n",
        d.display()
    );
    let cfg = Config::from_yaml(Path::new("test.yaml"), &yaml).unwrap();
    let live = Live::start(&cfg, None).unwrap();
    let state = live.state().clone();
    wait_for("site042's 30 requests", Duration::from_secs(20), || {
        state
            .published()
            .sites
            .site("site042")
            .is_some_and(|s| s.windows[0].requests() == 30)
    });

    let serving = Ca::new("sitepulse serving CA");
    let front = Ca::new("front-proxy-ca");
    let stranger = Ca::new("some other CA");
    let (crt, key) = serving.leaf("sitepulse", &["127.0.0.1", "localhost"], false);
    let proxy = front.leaf("front-proxy-client", &[], true);
    let intruder = front.leaf("intruder", &[], true);
    let forged = stranger.leaf("front-proxy-client", &[], true);

    let ext = ExternalMetricsConfig {
        listen: "127.0.0.1:0".into(),
        tls_cert_file: Some(write(&d, "tls.crt", &crt)),
        tls_key_file: Some(write(&d, "tls.key", &key)),
        client_ca_file: Some(write(&d, "front-proxy-ca.crt", &front.pem())),
        allowed_names: vec!["front-proxy-client".into()],
        ..ExternalMetricsConfig::default()
    };
    ext.validate().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let ext = ext.clone();
        let state = state.clone();
        tokio::spawn(async move {
            serve(&ext, listener, state, Freshness::default(), async {
                let _ = stopped.await;
            })
            .await
        })
    };

    let hpa = client(&serving.pem(), Some((&proxy.0, &proxy.1)));
    let mut meta_docs: Vec<(&str, Value)> = Vec::new();

    // Discovery, as the aggregator's legacy fetch reads it.
    for (name, path, kind) in [
        ("apis", "/apis", "APIGroupList"),
        ("group", "/apis/external.metrics.k8s.io", "APIGroup"),
        ("resources", GV, "APIResourceList"),
    ] {
        let (code, v) = get(&hpa, port, path).await.unwrap();
        assert_eq!((code, v["kind"].as_str()), (200, Some(kind)), "{path}: {v}");
        meta_docs.push((name, v));
    }

    // The HPA's query: `rps` with matchLabels site=site042.
    let (code, v) = get(
        &hpa,
        port,
        &format!("{GV}/namespaces/site042/rps?labelSelector=site%3Dsite042"),
    )
    .await
    .unwrap();
    assert_eq!(code, 200, "{v}");
    let list: ExternalMetricValueList = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(list.kind, "ExternalMetricValueList");
    assert_eq!(list.api_version, "external.metrics.k8s.io/v1beta1");
    assert_eq!(list.items.len(), 1, "{v}");
    let item = &list.items[0];
    assert_eq!(item.metric_name, "rps");
    assert_eq!(item.metric_labels["site"], "site042");
    let at = sitepulse_pipeline::time::parse_rfc3339(item.timestamp.as_bytes())
        .unwrap_or_else(|| panic!("timestamp {}", item.timestamp));
    assert_eq!(at % 1_000_000_000, 0, "metav1.Time is whole seconds");
    assert!(
        (at / 1_000_000_000 - sitepulse::unix_now()).abs() <= 5,
        "{}",
        item.timestamp
    );
    let window = item.window.expect("a rate carries its window");
    let rps = quantity(&item.value);
    // 30 requests over the seconds the window covers, which `window`
    // rounds up: in (window - 1, window].
    let lo = 30.0 / window as f64;
    let hi = if window > 1 {
        30.0 / (window - 1) as f64
    } else {
        f64::INFINITY
    };
    assert!(
        rps >= lo && rps <= hi,
        "rps {} with window {window}",
        item.value
    );

    // The error ratio over 5m, asked with `-` and the window suffix.
    let (code, v) = get(
        &hpa,
        port,
        &format!("{GV}/namespaces/x/error-ratio-5m?labelSelector=site+in+%28site042%29"),
    )
    .await
    .unwrap();
    assert_eq!(code, 200, "{v}");
    let list: ExternalMetricValueList = serde_json::from_value(v).unwrap();
    assert_eq!(list.items[0].value, "100m");
    assert_eq!(list.items[0].metric_labels["window"], "5m");

    // Errors: Status objects.
    for (name, tail, code) in [
        ("notfound", "rps?labelSelector=site%3Dsite999", 404),
        ("badrequest", "rps?labelSelector=site%21%3Dsite042", 400),
        (
            "unavailable",
            "fpm_busy_ratio?labelSelector=site%3Dsite042",
            503,
        ),
    ] {
        let (c, v) = get(&hpa, port, &format!("{GV}/namespaces/x/{tail}"))
            .await
            .unwrap();
        assert_eq!(
            (c, v["kind"].as_str(), v["code"].as_u64()),
            (code, Some("Status"), Some(u64::from(code))),
            "{tail}: {v}"
        );
        meta_docs.push((name, v));
    }

    // No client certificate: probes answer, the API does not.
    let anonymous = client(&serving.pem(), None);
    let (c, body) = get(&anonymous, port, "/livez").await.unwrap();
    assert_eq!((c, body), (200, Value::String("ok\n".into())));
    assert_eq!(get(&anonymous, port, "/healthz").await.unwrap().0, 200);
    let (c, v) = get(&anonymous, port, GV).await.unwrap();
    assert_eq!(
        (c, v["reason"].as_str()),
        (401, Some("Unauthorized")),
        "{v}"
    );
    meta_docs.push(("unauthorized", v));
    // The right CA, a CN outside allowed_names.
    let (c, v) = get(
        &client(&serving.pem(), Some((&intruder.0, &intruder.1))),
        port,
        GV,
    )
    .await
    .unwrap();
    assert_eq!((c, v["reason"].as_str()), (403, Some("Forbidden")), "{v}");
    meta_docs.push(("forbidden", v));
    // The right CN from another CA: the handshake itself fails.
    let e = get(
        &client(&serving.pem(), Some((&forged.0, &forged.1))),
        port,
        GV,
    )
    .await
    .unwrap_err();
    assert!(e.is_connect() || e.is_request(), "{e:?}");

    // Rotation: a serving certificate from a new CA, written over the
    // files; new connections get it within a few seconds.
    let serving2 = Ca::new("sitepulse serving CA 2");
    let (crt2, key2) = serving2.leaf("sitepulse", &["127.0.0.1"], false);
    let trusts_new = client(&serving2.pem(), Some((&proxy.0, &proxy.1)));
    assert!(
        get(&trusts_new, port, GV).await.is_err(),
        "the new CA is not served yet"
    );
    std::fs::write(d.join("tls.key.new"), &key2).unwrap();
    std::fs::write(d.join("tls.crt.new"), &crt2).unwrap();
    std::fs::rename(d.join("tls.key.new"), d.join("tls.key")).unwrap();
    std::fs::rename(d.join("tls.crt.new"), d.join("tls.crt")).unwrap();
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        // A fresh client each time: no pooled connection from before.
        let c = client(&serving2.pem(), Some((&proxy.0, &proxy.1)));
        match get(&c, port, GV).await {
            Ok((200, _)) => break,
            other => assert!(Instant::now() < end, "rotation not picked up: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        get(
            &client(&serving.pem(), Some((&proxy.0, &proxy.1))),
            port,
            GV
        )
        .await
        .is_err(),
        "the old certificate is still served"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    live.stop().unwrap();

    if let Some(py) = validator() {
        validate_meta(&py, &d, &meta_docs);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// `kubernetes-validate --strict` over deploy/autoscale and deploy/slo:
/// every kind it has a schema for passes; the KEDA kinds (CRDs, in no
/// bundled schema) are the only ones it skips.
#[test]
fn deploy_manifests_validate() {
    let Some(py) = validator() else { return };
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in ["autoscale", "slo"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy")
            .join(sub);
        let before = files.len();
        files.extend(
            std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
        );
        assert!(files.len() > before, "{}", dir.display());
    }
    files.sort();
    let out = Command::new(&py)
        .args(["-m", "kubernetes_validate", "--strict", "-k", "1.30"])
        .args(&files)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for line in text.lines() {
        assert!(
            line.starts_with("INFO ")
                || (line.starts_with("WARN ")
                    && (line.contains("kind ScaledObject")
                        || line.contains("kind TriggerAuthentication"))),
            "{line}\n{text}"
        );
    }
    for kind in [
        "apiservice/v1beta1.external.metrics.k8s.io",
        "clusterrolebinding/",
        "rolebinding/",
        "clusterrole/",
        "service/sitepulse",
        "horizontalpodautoscaler/",
        "clusterrole/sitepulse-deployments",
        "configmap/argocd-notifications-cm",
        "secret/argocd-notifications-secret",
        "configmap/sitepulse-alerting",
        "configmap/sitepulse-slos",
    ] {
        assert!(
            text.contains(&format!("passed for resource {kind}")),
            "{kind}: {text}"
        );
    }
}

/// `run`'s own endpoints over TLS (`server.tls_cert_file`/`tls_key_file`,
/// the same reloading certificate code): the alerting API takes a deploy
/// event over HTTPS, and a plain-HTTP request gets no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_its_api_over_tls() {
    let d = tmpdir("tls", "run");
    let ca = Ca::new("sitepulse test CA");
    let (cert, key) = ca.leaf("sitepulse", &["127.0.0.1", "localhost"], false);
    std::fs::write(d.join("tls.crt"), &cert).unwrap();
    std::fs::write(d.join("tls.key"), &key).unwrap();
    std::fs::write(d.join("token"), "t0ken").unwrap();
    let cfg = d.join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            concat!(
                "tail:\n  sources: []\n  checkpoint_path: \"{0}/ckpt.json\"\n",
                "server:\n  listen: \"127.0.0.1:0\"\n  tls_cert_file: \"{0}/tls.crt\"\n  tls_key_file: \"{0}/tls.key\"\n",
                "alerting:\n  api:\n    writers:\n      - {{name: ci, token_file: \"{0}/token\"}}\n",
            ),
            d.display()
        ),
    )
    .unwrap();
    let log = d.join("run.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sitepulse"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let mut port = 0u16;
    wait_for("listening on https://", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(at) = text.find("listening on https://127.0.0.1:") {
            port = text[at + 31..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap();
            return true;
        }
        assert!(child.try_wait().unwrap().is_none(), "run exited:\n{text}");
        false
    });
    let c = client(&ca.pem(), None);
    let url = |p: &str| format!("https://127.0.0.1:{port}{p}");
    let r = c.get(url("/healthz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .post(url("/api/v1/deploys"))
        .header("authorization", "Bearer t0ken")
        .body(r#"{"site":"shop","version":"v1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    let plain = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(
        plain
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_err()
    );
    let _ = child.kill();
    let _ = child.wait();
}

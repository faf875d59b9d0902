//! The fake API server of the kube tests (see `super`'s doc for why a
//! fake): LIST with `limit`/`continue`, WATCH replaying the history after
//! a resource version then streaming JSON lines, BOOKMARK, a 410 `ERROR`
//! after a compaction, dropped connections, bearer token and 403 checks.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// The namespace of the path, `None` for all.
    pub(super) ns: Option<String>,
    pub(super) auth: String,
    pub(super) query: HashMap<String, String>,
}

impl Seen {
    pub(super) fn is_watch(&self) -> bool {
        self.query.get("watch").is_some_and(|w| w == "1")
    }
}

type Line = Result<Bytes, std::io::Error>;

#[derive(Default)]
pub(super) struct Inner {
    pub(super) rv: u64,
    pods: BTreeMap<(String, String), Value>,
    /// Every event after `oldest`: (version, type, object).
    history: Vec<(u64, &'static str, Value)>,
    /// A watch or `continue` from before this version gets 410.
    oldest: u64,
    /// Open watches: namespace (`None`: all), label key selected.
    watches: Vec<(Option<String>, String, mpsc::UnboundedSender<Line>)>,
    pub(super) token: String,
    /// Namespaces answered 403.
    pub(super) forbidden: Vec<String>,
    /// Watch requests answered 503 (the server briefly unavailable).
    pub(super) down: bool,
    seen: Vec<Seen>,
}

/// Whether a watch or list of `ns` with `selector` (a label key) sees `obj`
/// (a `Status` or bookmark, without a namespace, goes to every watch).
fn selects(ns: &Option<String>, selector: &str, obj: &Value) -> bool {
    let m = &obj["metadata"];
    let Some(obj_ns) = m["namespace"].as_str() else {
        return true;
    };
    ns.as_deref().is_none_or(|n| n == obj_ns)
        && (selector.is_empty() || m["labels"].get(selector).is_some())
}

impl Inner {
    fn event(&mut self, kind: &'static str, obj: Value, record: bool) {
        if record {
            self.history.push((self.rv, kind, obj.clone()));
        }
        let line = Bytes::from(format!("{}\n", json!({"type": kind, "object": obj})));
        self.watches
            .retain(|(ns, sel, w)| !selects(ns, sel, &obj) || w.send(Ok(line.clone())).is_ok());
    }
}

/// A watch response body: the lines a channel sends; an `Err` cuts the
/// connection off mid-body.
struct ChannelBody(mpsc::UnboundedReceiver<Line>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(hyper::body::Frame::data)))
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn all_pods(
    state: State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
) -> Response {
    pods(state, None, headers, query)
}

async fn namespaced_pods(
    state: State<Arc<Mutex<Inner>>>,
    UrlPath(ns): UrlPath<String>,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
) -> Response {
    pods(state, Some(ns), headers, query)
}

fn pods(
    State(inner): State<Arc<Mutex<Inner>>>,
    ns: Option<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut s = inner.lock().unwrap();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    s.seen.push(Seen {
        ns: ns.clone(),
        auth: auth.clone(),
        query: query.clone(),
    });
    if auth != format!("Bearer {}", s.token) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &status(401, "Unauthorized", "Unauthorized"),
        );
    }
    if let Some(n) = ns.as_ref().filter(|n| s.forbidden.contains(n)) {
        let m = format!(
            "pods is forbidden: User \"system:serviceaccount:monitoring:sitepulse\" cannot list resource \"pods\" in API group \"\" in the namespace \"{n}\""
        );
        return json_response(StatusCode::FORBIDDEN, &status(403, "Forbidden", &m));
    }
    // Only the selector the client sends: the pods carrying the label.
    let selector = query.get("labelSelector").cloned().unwrap_or_default();
    let selected = |p: &Value| selects(&ns, &selector, p);
    let num = |k: &str| query.get(k).and_then(|v| v.parse::<u64>().ok());
    if query.get("watch").is_some_and(|w| w == "1") {
        if s.down {
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &status(503, "ServiceUnavailable", "apiserver is shutting down"),
            );
        }
        let from = num("resourceVersion").unwrap_or(0);
        let (tx, rx) = mpsc::unbounded_channel();
        if from < s.oldest {
            let st = status(
                410,
                "Expired",
                &format!("too old resource version: {from} ({})", s.oldest),
            );
            let _ = tx.send(Ok(Bytes::from(format!(
                "{}\n",
                json!({"type": "ERROR", "object": st})
            ))));
        } else {
            for (_, kind, obj) in s
                .history
                .iter()
                .filter(|(rv, _, o)| *rv > from && selected(o))
            {
                let _ = tx.send(Ok(Bytes::from(format!(
                    "{}\n",
                    json!({"type": kind, "object": obj})
                ))));
            }
            if let Some(t) = num("timeoutSeconds") {
                let end = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(t)).await;
                    drop(end);
                });
            }
            s.watches.push((ns, selector, tx));
        }
        // With the sender of an expired watch dropped here, the stream
        // ends after the ERROR line, as the API server's does.
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::new(ChannelBody(rx)))
            .unwrap();
    }
    let limit = num("limit").unwrap_or(u64::MAX) as usize;
    let (offset, list_rv) = match query.get("continue") {
        Some(c) => {
            let (o, rv) = c.split_once(':').unwrap();
            (o.parse::<usize>().unwrap(), rv.parse::<u64>().unwrap())
        }
        None => (0, s.rv),
    };
    let items: Vec<&Value> = s.pods.values().filter(|p| selected(p)).collect();
    let page: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(limit)
        .map(|&p| p.clone())
        .collect();
    let mut meta = json!({"resourceVersion": list_rv.to_string()});
    if offset + page.len() < items.len() {
        meta["continue"] = json!(format!("{}:{list_rv}", offset + page.len()));
        meta["remainingItemCount"] = json!(items.len() - offset - page.len());
    }
    json_response(
        StatusCode::OK,
        &json!({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": page}),
    )
}

/// The fake API server on a free loopback port; stopped when dropped.
pub(super) struct Fake {
    pub(super) url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    pub(super) async fn start(token: &str) -> Fake {
        let inner = Arc::new(Mutex::new(Inner {
            rv: 1000,
            token: token.into(),
            ..Inner::default()
        }));
        let app = axum::Router::new()
            .route("/api/v1/pods", get(all_pods))
            .route("/api/v1/namespaces/{ns}/pods", get(namespaced_pods))
            // The same store answers for Deployments (a fake started for
            // the deployment watch holds only those).
            .route("/apis/apps/v1/deployments", get(all_pods))
            .route(
                "/apis/apps/v1/namespaces/{ns}/deployments",
                get(namespaced_pods),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake { url, inner, task }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Creates or replaces a pod; `record: false` changes it without an
    /// event, as if the change fell into history that was compacted.
    pub(super) fn put_with(&self, mut pod: Value, record: bool) {
        let mut s = self.lock();
        s.rv += 1;
        pod["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        let key = key_of(&pod);
        let kind = if s.pods.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        s.pods.insert(key, pod.clone());
        if record {
            s.event(kind, pod, true);
        }
    }

    pub(super) fn put(&self, pod: Value) {
        self.put_with(pod, true);
    }

    pub(super) fn delete_with(&self, ns: &str, name: &str, record: bool) {
        let mut s = self.lock();
        s.rv += 1;
        let mut pod = s
            .pods
            .remove(&(ns.into(), name.into()))
            .expect("no such pod");
        pod["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        if record {
            s.event("DELETED", pod, true);
        }
    }

    pub(super) fn bookmark(&self) {
        let mut s = self.lock();
        let obj = json!({"kind": "Pod", "apiVersion": "v1",
                         "metadata": {"resourceVersion": s.rv.to_string()}});
        s.event("BOOKMARK", obj, false);
    }

    /// Cuts every open watch connection off mid-body.
    pub(super) fn drop_watches(&self) {
        for (_, _, w) in self.lock().watches.drain(..) {
            let _ = w.send(Err(std::io::Error::other("connection reset")));
        }
    }

    /// Compacts the history: versions before now are gone; open watches
    /// get a 410 `ERROR` event and end.
    pub(super) fn expire(&self) {
        let mut s = self.lock();
        s.oldest = s.rv;
        s.history.clear();
        let st = status(410, "Expired", "too old resource version");
        s.event("ERROR", st, false);
        s.watches.clear();
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    pub(super) fn lists(&self) -> usize {
        self.seen().iter().filter(|r| !r.is_watch()).count()
    }

    pub(super) fn open_watches(&self) -> usize {
        self.lock()
            .watches
            .iter()
            .filter(|(_, _, w)| !w.is_closed())
            .count()
    }
}

fn key_of(pod: &Value) -> (String, String) {
    let m = &pod["metadata"];
    (
        m["namespace"].as_str().unwrap().into(),
        m["name"].as_str().unwrap().into(),
    )
}

//! A Loki push receiver for the tests (Loki has no installable binary
//! here): `POST /loki/api/v1/push` decoded exactly as Loki's distributor
//! decodes it — protobuf `logproto.PushRequest` (messages written from
//! Loki's `pkg/push/push.proto`, in `sitepulse_sinks::loki::proto`) in a
//! snappy block, or the JSON form — and every entry kept with its tenant,
//! parsed labels, timestamp and structured metadata. It can be stopped
//! (connection refused) and started again on the same port, made to answer
//! 429/503 for a number of pushes, and made to refuse entries with a 400
//! as Loki's validation does (for lines containing a marker).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use prost::Message;
use sitepulse_sinks::loki::proto::PushRequest;

/// One entry as Loki stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub tenant: String,
    pub labels: BTreeMap<String, String>,
    pub ts_ns: i64,
    pub line: String,
    pub meta: BTreeMap<String, String>,
}

/// What the receiver does with the next pushes.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Answer this status (429, 503) to this many pushes first.
    pub fail: Option<(u16, u32)>,
    /// Refuse (400) entries whose line contains this, keeping the others
    /// (as Loki does with a partly invalid push).
    pub refuse_marker: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<Received>,
    pushes: u64,
    failed: u64,
    refused: u64,
    /// Pushes with a stream whose entries were not in time order.
    unordered: u64,
    behaviour: Behaviour,
    content_types: BTreeMap<String, u64>,
}

/// A running (or stopped) receiver.
pub struct LokiReceiver {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
    server: Option<(tokio::sync::oneshot::Sender<()>, JoinHandle<()>)>,
}

/// The pairs of a Loki label string `{a="x", b="y"}`.
pub fn parse_labels(s: &str) -> BTreeMap<String, String> {
    sitepulse_sinks::loki::encode::parse_labels(s)
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

async fn push(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let tenant = headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut g = inner.lock().unwrap();
    *g.content_types.entry(ctype.clone()).or_default() += 1;
    if let Some((status, n)) = g.behaviour.fail
        && n > 0
    {
        g.behaviour.fail = Some((status, n - 1));
        g.failed += 1;
        return (StatusCode::from_u16(status).unwrap(), "try later\n".into());
    }
    let req = if ctype.starts_with("application/json") {
        match json_request(&body) {
            Some(r) => r,
            None => return (StatusCode::BAD_REQUEST, "bad JSON\n".into()),
        }
    } else {
        let raw = match snap::raw::Decoder::new().decompress_vec(&body) {
            Ok(r) => r,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("snappy: {e}\n")),
        };
        match PushRequest::decode(&raw[..]) {
            Ok(r) => r,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("protobuf: {e}\n")),
        }
    };
    g.pushes += 1;
    let marker = g.behaviour.refuse_marker.clone();
    let mut refused = Vec::new();
    for s in req.streams {
        let labels = parse_labels(&s.labels);
        if s.entries.windows(2).any(|w| w[0].ts_ns() > w[1].ts_ns()) {
            g.unordered += 1;
        }
        for e in s.entries {
            if marker.as_deref().is_some_and(|m| e.line.contains(m)) {
                refused.push(format!(
                    "entry for stream '{}' has timestamp too old: {}",
                    s.labels,
                    e.ts_ns()
                ));
                continue;
            }
            g.entries.push(Received {
                tenant: tenant.clone(),
                labels: labels.clone(),
                ts_ns: e.ts_ns(),
                line: e.line,
                meta: e
                    .structured_metadata
                    .into_iter()
                    .map(|p| (p.name, p.value))
                    .collect(),
            });
        }
    }
    if refused.is_empty() {
        (StatusCode::NO_CONTENT, String::new())
    } else {
        g.refused += refused.len() as u64;
        (StatusCode::BAD_REQUEST, refused.join("\n"))
    }
}

/// Loki's JSON push form, as a PushRequest.
fn json_request(body: &[u8]) -> Option<PushRequest> {
    use sitepulse_sinks::loki::proto::{EntryAdapter, LabelPairAdapter, StreamAdapter, Timestamp};
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut req = PushRequest::default();
    for s in v.get("streams")?.as_array()? {
        let labels: Vec<String> = s
            .get("stream")?
            .as_object()?
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut out = StreamAdapter {
            labels: format!("{{{}}}", labels.join(", ")),
            ..StreamAdapter::default()
        };
        for e in s.get("values")?.as_array()? {
            let ns: i64 = e.get(0)?.as_str()?.parse().ok()?;
            out.entries.push(EntryAdapter {
                timestamp: Some(Timestamp {
                    seconds: ns.div_euclid(1_000_000_000),
                    nanos: ns.rem_euclid(1_000_000_000) as i32,
                }),
                line: e.get(1)?.as_str()?.to_owned(),
                structured_metadata: e
                    .get(2)
                    .and_then(|m| m.as_object())
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| LabelPairAdapter {
                                name: k.clone(),
                                value: v.as_str().unwrap_or_default().to_owned(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        req.streams.push(out);
    }
    Some(req)
}

impl LokiReceiver {
    /// A receiver on a free loopback port, not yet listening (pushes are
    /// refused until [`start`](Self::start)).
    pub fn new() -> LokiReceiver {
        LokiReceiver {
            port: crate::servers::free_port(),
            inner: Arc::default(),
            server: None,
        }
    }

    /// The push URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/loki/api/v1/push", self.port)
    }

    /// Starts listening (again) on its port.
    ///
    /// # Panics
    /// When the port cannot be bound.
    pub fn start(&mut self) {
        if self.server.is_some() {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route("/loki/api/v1/push", post(push))
                    .with_state(inner);
                let listener = tokio::net::TcpListener::bind(addr).await;
                let listener = match listener {
                    Ok(l) => {
                        ready_tx.send(Ok(())).unwrap();
                        l
                    }
                    Err(e) => {
                        ready_tx.send(Err(e.to_string())).unwrap();
                        return;
                    }
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        ready_rx.recv().unwrap().expect("Loki receiver: bind");
        self.server = Some((tx, handle));
    }

    /// Stops listening: pushes are refused (connection refused).
    pub fn stop(&mut self) {
        if let Some((tx, handle)) = self.server.take() {
            let _ = tx.send(());
            let _ = handle.join();
        }
    }

    /// Sets what the next pushes get.
    pub fn set(&self, b: Behaviour) {
        self.inner.lock().unwrap().behaviour = b;
    }

    /// Every entry received so far.
    pub fn entries(&self) -> Vec<Received> {
        self.inner.lock().unwrap().entries.clone()
    }

    /// `(pushes accepted, pushes failed on purpose, entries refused,
    /// pushes with a stream out of time order)`.
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        let g = self.inner.lock().unwrap();
        (g.pushes, g.failed, g.refused, g.unordered)
    }

    /// Pushes by `Content-Type`.
    pub fn content_types(&self) -> BTreeMap<String, u64> {
        self.inner.lock().unwrap().content_types.clone()
    }
}

impl Default for LokiReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for LokiReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

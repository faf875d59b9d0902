//! A real OTLP/gRPC receiver for the tests: a tonic server on 127.0.0.1
//! serving opentelemetry-proto's `LogsService` and `MetricsService`, which
//! keeps every export it accepts, and can be told to fail (a gRPC status
//! for the next N calls, with `RetryInfo` if asked), to answer with a
//! partial success, or to stop (connections refused) and start again on
//! the same port. Everything it stores is exactly what came over the wire.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use opentelemetry_proto::tonic as proto;
use prost::Message;
use proto::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use proto::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use proto::collector::metrics::v1::metrics_service_server::{MetricsService, MetricsServiceServer};
use proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use proto::common::v1::KeyValue;
use proto::logs::v1::LogRecord;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
pub use tonic::Code;
use tonic::{Request, Response, Status};

/// How the next calls fail.
#[derive(Debug, Clone)]
struct Failure {
    code: Code,
    remaining: u64,
    /// Sent as `google.rpc.RetryInfo` in the status details.
    retry_after: Option<Duration>,
}

#[derive(Debug, Default)]
struct State {
    logs: Vec<ExportLogsServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    /// ASCII metadata of each accepted call.
    headers: Vec<BTreeMap<String, String>>,
    calls: u64,
    refused: u64,
    /// Failures to answer, in turn.
    fail: VecDeque<Failure>,
    /// `(rejected, message, calls left)`.
    partial: Option<(i64, String, u64)>,
}

#[derive(Debug, Clone, Default)]
struct Shared(Arc<Mutex<State>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a call; the status it must fail with, or the partial
    /// success to answer.
    fn admit<T>(&self, req: &Request<T>) -> Result<Option<(i64, String)>, Status> {
        let mut s = self.lock();
        s.calls += 1;
        if let Some(f) = s.fail.front_mut() {
            f.remaining -= 1;
            let (code, after) = (f.code, f.retry_after);
            if f.remaining == 0 {
                s.fail.pop_front();
            }
            s.refused += 1;
            return Err(match after {
                Some(d) => {
                    Status::with_details(code, "test receiver refuses", retry_info(code, d).into())
                }
                None => Status::new(code, "test receiver refuses"),
            });
        }
        let headers = req
            .metadata()
            .iter()
            .filter_map(|kv| match kv {
                tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                    Some((k.to_string(), v.to_str().ok()?.to_owned()))
                }
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        s.headers.push(headers);
        Ok(match &mut s.partial {
            Some((n, msg, left)) if *left > 0 => {
                *left -= 1;
                Some((*n, msg.clone()))
            }
            _ => None,
        })
    }
}

/// `google.rpc.Status { code, details: [Any(RetryInfo { retry_delay })] }`.
fn retry_info(code: Code, after: Duration) -> Vec<u8> {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(message, repeated, tag = "3")]
        details: Vec<Any>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Any {
        #[prost(string, tag = "1")]
        type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        retry_delay: Option<Dur>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Dur {
        #[prost(int64, tag = "1")]
        seconds: i64,
        #[prost(int32, tag = "2")]
        nanos: i32,
    }
    RpcStatus {
        code: code as i32,
        details: vec![Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: RetryInfo {
                retry_delay: Some(Dur {
                    seconds: after.as_secs() as i64,
                    nanos: after.subsec_nanos() as i32,
                }),
            }
            .encode_to_vec(),
        }],
    }
    .encode_to_vec()
}

#[tonic::async_trait]
impl LogsService for Shared {
    async fn export(
        &self,
        req: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let partial = self.admit(&req)?;
        self.lock().logs.push(req.into_inner());
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: partial.map(|(n, m)| ExportLogsPartialSuccess {
                rejected_log_records: n,
                error_message: m,
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Shared {
    async fn export(
        &self,
        req: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let partial = self.admit(&req)?;
        self.lock().metrics.push(req.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: partial.map(|(n, m)| ExportMetricsPartialSuccess {
                rejected_data_points: n,
                error_message: m,
            }),
        }))
    }
}

/// The receiver. Needs a tokio runtime (it runs as a task of the caller's);
/// stopped on drop.
#[derive(Debug)]
pub struct OtlpReceiver {
    addr: SocketAddr,
    state: Shared,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl OtlpReceiver {
    /// Starts a receiver on a free port of 127.0.0.1.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start() -> OtlpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut r = OtlpReceiver {
            addr: listener.local_addr().unwrap(),
            state: Shared::default(),
            server: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (tx, rx) = oneshot::channel::<()>();
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(LogsServiceServer::new(state.clone()))
                .add_service(MetricsServiceServer::new(state))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = rx.await;
                    },
                )
                .await
                .unwrap();
        });
        self.server = Some((tx, task));
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving: the port refuses connections, open ones are closed.
    pub async fn stop(&mut self) {
        if let Some((tx, task)) = self.server.take() {
            let _ = tx.send(());
            // A graceful stop waits for open connections to finish; a
            // client that keeps one open must not hang the test.
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                panic!("the OTLP receiver did not stop within 5 s");
            }
        }
    }

    /// Serves again on the same port, keeping what it stored.
    ///
    /// # Panics
    /// When the port cannot be bound again within 5 s.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) => {
                    tries += 1;
                    assert!(tries < 100, "rebinding {}: {e}", self.addr);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.serve(listener);
    }

    /// After the failures already queued, the next `calls` exports fail
    /// with `code` (with `RetryInfo` of `retry_after` when given).
    pub fn fail_next(&self, code: Code, calls: u64, retry_after: Option<Duration>) {
        if calls > 0 {
            self.state.lock().fail.push_back(Failure {
                code,
                remaining: calls,
                retry_after,
            });
        }
    }

    /// The next `calls` accepted exports answer a partial success with
    /// `rejected` items and `message` (the exports are still stored).
    pub fn partial_next(&self, rejected: i64, message: &str, calls: u64) {
        self.state.lock().partial = Some((rejected, message.to_owned(), calls));
    }

    /// Calls answered so far, accepted or refused.
    pub fn calls(&self) -> u64 {
        self.state.lock().calls
    }

    /// Calls refused by [`fail_next`](Self::fail_next).
    pub fn refused(&self) -> u64 {
        self.state.lock().refused
    }

    /// Every accepted logs export, in arrival order.
    pub fn logs(&self) -> Vec<ExportLogsServiceRequest> {
        self.state.lock().logs.clone()
    }

    /// Every accepted metrics export, in arrival order.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.state.lock().metrics.clone()
    }

    /// The ASCII metadata of each accepted call.
    pub fn headers(&self) -> Vec<BTreeMap<String, String>> {
        self.state.lock().headers.clone()
    }

    /// Every accepted log record with its resource's attributes, in
    /// arrival order.
    pub fn log_records(&self) -> Vec<(Vec<KeyValue>, LogRecord)> {
        let s = self.state.lock();
        let mut out = Vec::new();
        for req in &s.logs {
            for rl in &req.resource_logs {
                let res = rl
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for sl in &rl.scope_logs {
                    for rec in &sl.log_records {
                        out.push((res.clone(), rec.clone()));
                    }
                }
            }
        }
        out
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some((tx, task)) = self.server.take() {
            let _ = tx.send(());
            task.abort();
        }
    }
}

//! Sending one spooled frame with the generated OTLP/gRPC clients
//! (`LogsServiceClient`, `MetricsServiceClient`) over one tonic
//! [`Channel`] per signal. The OpenTelemetry SDK's exporters do not fit:
//! they export the SDK's own log records and metric readers, while we
//! forward records and series built elsewhere, spooled as encoded requests.
//!
//! What a gRPC status means follows the OTLP specification, "Failures"
//! (<https://opentelemetry.io/docs/specs/otlp/#failures>): CANCELLED,
//! DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are
//! retried, waiting at least the server's `google.rpc.RetryInfo` delay when
//! it sends one ("OTLP/gRPC Throttling"). Two deliberate departures, both
//! because a spool behind the sink makes waiting cheap and dropping final:
//! RESOURCE_EXHAUSTED is retried with or without RetryInfo (the spec
//! retries it only with), and UNAUTHENTICATED, PERMISSION_DENIED and
//! UNIMPLEMENTED (wrong token, or a Collector without that signal's
//! pipeline: an operator fixes them) are retried as the HTTP sinks retry
//! 401/403/404. Every other status drops the frame, counted
//! (`rejected_<code>`) and logged once per code. A partial success drops
//! the rejected records or data points (`rejected_partial`), logged once
//! per distinct message.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataKey, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::config::OtlpConfig;
use crate::send::{Deliver, Delivery};
use crate::spool::Frame;
use crate::stats::SinkStats;

/// Distinct partial-success messages remembered (so each is logged once);
/// past this, the set starts over.
const MESSAGES_REMEMBERED: usize = 256;

/// The connection settings both signals share, checked at startup.
///
/// # Errors
/// When the endpoint is not a URL, TLS cannot be set up, or a header is not
/// valid gRPC metadata (`OtlpConfig::problems` names these first).
pub fn endpoint(cfg: &OtlpConfig) -> Result<Endpoint, String> {
    let timeout = Duration::from_secs(cfg.timeout_secs);
    let mut ep = Endpoint::from_shared(cfg.endpoint.clone())
        .map_err(|e| format!("endpoint {:?}: {e}", cfg.endpoint))?
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .user_agent(concat!("sitepulse/", env!("CARGO_PKG_VERSION")))
        .map_err(|e| e.to_string())?;
    if cfg.endpoint.starts_with("https://") {
        ep = ep
            .tls_config(ClientTlsConfig::new().with_native_roots())
            .map_err(|e| format!("TLS: {e}"))?;
    }
    Ok(ep)
}

/// One `headers:` entry as gRPC metadata.
type Header = (MetadataKey<Ascii>, MetadataValue<Ascii>);

/// `headers:` as gRPC metadata.
fn metadata(cfg: &OtlpConfig) -> Result<Vec<Header>, String> {
    cfg.headers
        .iter()
        .map(|(k, v)| {
            let key = MetadataKey::from_bytes(k.as_bytes())
                .map_err(|_| format!("header {k:?} is not a gRPC metadata key"))?;
            let value = MetadataValue::from_str(v)
                .map_err(|_| format!("the value of header {k:?} is not printable ASCII"))?;
            Ok((key, value))
        })
        .collect()
}

/// The lower-case name of a gRPC status code, for counter labels.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// Whether a status is worth sending the same frame again (see the module
/// doc for the two departures from the spec).
pub fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss
            | Code::ResourceExhausted
            | Code::Unauthenticated
            | Code::PermissionDenied
            | Code::Unimplemented
    )
}

/// `google.rpc.Status` (googleapis `google/rpc/status.proto`): what a
/// server puts in `grpc-status-details-bin`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo` (`google/rpc/error_details.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The `type_url` of [`RetryInfo`] in a status' details.
pub const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The delay of a `RetryInfo` among a status' details, if any.
pub fn retry_delay(details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(details).ok()?;
    let any = status
        .details
        .iter()
        .find(|a| a.type_url == RETRY_INFO_TYPE)?;
    let d = RetryInfo::decode(&any.value[..]).ok()?.retry_delay?;
    let secs = u64::try_from(d.seconds).ok()?;
    let nanos = u32::try_from(d.nanos).ok()?.min(999_999_999);
    Some(Duration::new(secs, nanos))
}

/// What both signals' deliverers share: the channel (made on first use,
/// inside the sender's runtime), metadata, counters, and what was logged.
struct Grpc {
    /// `logs` or `metrics`: the log field and the spool directory.
    signal: &'static str,
    /// What an item is in messages (`log records`, `data points`).
    items: &'static str,
    endpoint: Endpoint,
    channel: Option<Channel>,
    headers: Vec<Header>,
    timeout: Duration,
    stats: Arc<SinkStats>,
    partial_logged: HashSet<String>,
    /// When each refusal code was last logged.
    refusal_logged: HashMap<Code, Instant>,
}

impl Grpc {
    fn new(
        cfg: &OtlpConfig,
        signal: &'static str,
        items: &'static str,
        stats: Arc<SinkStats>,
    ) -> Result<Grpc, String> {
        Ok(Grpc {
            signal,
            items,
            endpoint: endpoint(cfg)?,
            channel: None,
            headers: metadata(cfg)?,
            timeout: Duration::from_secs(cfg.timeout_secs),
            stats,
            partial_logged: HashSet::new(),
            refusal_logged: HashMap::new(),
        })
    }

    /// The channel, connecting lazily (it reconnects by itself after the
    /// receiver goes away).
    fn channel(&mut self) -> Channel {
        self.channel
            .get_or_insert_with(|| self.endpoint.connect_lazy())
            .clone()
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(self.timeout);
        let md = req.metadata_mut();
        for (k, v) in &self.headers {
            md.insert(k.clone(), v.clone());
        }
        req
    }

    /// The delivery an export came to: `Ok` with the partial success'
    /// `(rejected, error_message)`, or the status.
    fn outcome(&mut self, result: Result<(i64, String), tonic::Status>, items: u32) -> Delivery {
        let items = u64::from(items);
        match result {
            Ok((rejected, message)) => {
                let rejected = u64::try_from(rejected).unwrap_or(0).min(items);
                if rejected > 0 {
                    self.stats.dropped("rejected_partial", rejected);
                }
                if (rejected > 0 || !message.is_empty()) && self.first_time(&message) {
                    tracing::warn!(
                        sink = "otlp",
                        signal = self.signal,
                        rejected,
                        "the receiver took the export but rejected {rejected} {}; \
                         they are dropped and counted (reason rejected_partial): {message}",
                        self.items
                    );
                }
                Delivery::Done {
                    items: items - rejected,
                }
            }
            Err(status) => {
                let code = status.code();
                if retryable(code) {
                    return Delivery::Retry {
                        reason: format!("grpc_{}", code_name(code)),
                        error: format!(
                            "OTLP {}: gRPC {}: {}",
                            self.signal,
                            code_name(code),
                            status_text(&status)
                        ),
                        retry_after: retry_delay(status.details()),
                    };
                }
                let reason = format!("rejected_{}", code_name(code));
                self.stats.dropped(&reason, items);
                let due = self
                    .refusal_logged
                    .get(&code)
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(600));
                if due {
                    self.refusal_logged.insert(code, Instant::now());
                    tracing::error!(
                        sink = "otlp",
                        signal = self.signal,
                        items,
                        total_dropped = self.stats.dropped_count(&reason),
                        "the receiver refused an export for good (gRPC {}); its {} are dropped \
                         and counted (reason {reason}): {}",
                        code_name(code),
                        self.items,
                        status_text(&status)
                    );
                }
                Delivery::Done { items: 0 }
            }
        }
    }

    /// Whether `message` is new (to log it once).
    fn first_time(&mut self, message: &str) -> bool {
        if self.partial_logged.contains(message) {
            return false;
        }
        if self.partial_logged.len() >= MESSAGES_REMEMBERED {
            self.partial_logged.clear();
        }
        self.partial_logged.insert(message.to_owned());
        true
    }

    /// A frame that does not decode (cannot happen unless the disk
    /// corrupted it past its CRC): dropped, counted, logged.
    fn corrupt(&self, frame: &Frame) -> Delivery {
        self.stats.dropped("corrupt_frame", u64::from(frame.items));
        tracing::error!(
            sink = "otlp",
            signal = self.signal,
            items = frame.items,
            "a spooled export does not decode; dropped"
        );
        Delivery::Done { items: 0 }
    }
}

/// A status' message and its source chain (tonic puts the transport error,
/// "tcp connect error: Connection refused", in the source).
fn status_text(status: &tonic::Status) -> String {
    let mut s = status.message().to_owned();
    let mut cur = std::error::Error::source(status);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Sends logs frames (`ExportLogsServiceRequest`).
pub struct LogsDeliver(Grpc);

impl LogsDeliver {
    /// # Errors
    /// As [`endpoint`], or a header that is not gRPC metadata.
    pub fn new(cfg: &OtlpConfig, stats: Arc<SinkStats>) -> Result<LogsDeliver, String> {
        Grpc::new(cfg, "logs", "log records", stats).map(LogsDeliver)
    }
}

impl Deliver for LogsDeliver {
    async fn deliver(&mut self, frame: &Frame) -> Delivery {
        let Ok(req) = ExportLogsServiceRequest::decode(&frame.payload[..]) else {
            return self.0.corrupt(frame);
        };
        let mut client = LogsServiceClient::new(self.0.channel());
        let result = client.export(self.0.request(req)).await.map(|r| {
            let p = r.into_inner().partial_success.unwrap_or_default();
            (p.rejected_log_records, p.error_message)
        });
        self.0.outcome(result, frame.items)
    }
}

/// Sends metrics frames (`ExportMetricsServiceRequest`).
pub struct MetricsDeliver(Grpc);

impl MetricsDeliver {
    /// # Errors
    /// As [`endpoint`], or a header that is not gRPC metadata.
    pub fn new(cfg: &OtlpConfig, stats: Arc<SinkStats>) -> Result<MetricsDeliver, String> {
        Grpc::new(cfg, "metrics", "data points", stats).map(MetricsDeliver)
    }
}

impl Deliver for MetricsDeliver {
    async fn deliver(&mut self, frame: &Frame) -> Delivery {
        let Ok(req) = ExportMetricsServiceRequest::decode(&frame.payload[..]) else {
            return self.0.corrupt(frame);
        };
        let mut client = MetricsServiceClient::new(self.0.channel());
        let result = client.export(self.0.request(req)).await.map(|r| {
            let p = r.into_inner().partial_success.unwrap_or_default();
            (p.rejected_data_points, p.error_message)
        });
        self.0.outcome(result, frame.items)
    }
}

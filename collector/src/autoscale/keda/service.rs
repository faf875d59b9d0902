//! The `ExternalScaler` methods: trigger metadata read into a
//! [`Trigger`], the value read from the latest snapshots, errors turned
//! into gRPC statuses.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{OwnedSemaphorePermit, watch};
use tonic::codegen::tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::externalscaler::external_scaler_server::ExternalScaler;
use super::externalscaler::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};
use super::{KedaScaler, KedaStats, Method, STREAM_CHECK};
use crate::autoscale::query::{QueryError, Trigger};
use crate::autoscale::values::{ValueError, View};

/// What tonic serves: the scaler, and the server's stop signal that ends
/// open streams.
pub(super) struct Service {
    pub(super) scaler: KedaScaler,
    pub(super) stop: watch::Receiver<bool>,
}

/// A metadata key that cannot be used: InvalidArgument naming the key.
pub(super) fn metadata_status(e: &QueryError) -> Status {
    Status::invalid_argument(format!("trigger metadata: {e}"))
}

/// A value that cannot be given, as the status KEDA logs.
pub(super) fn value_status(e: &ValueError) -> Status {
    let msg = e.to_string();
    match e {
        ValueError::UnknownSite(_) => Status::not_found(msg),
        ValueError::NotReady | ValueError::Stale { .. } => Status::unavailable(msg),
        ValueError::Unavailable { .. } => Status::failed_precondition(msg),
    }
}

fn trigger(meta: &HashMap<String, String>) -> Result<Trigger, Status> {
    Trigger::from_metadata(meta).map_err(|e| metadata_status(&e))
}

/// `targetSize`, deprecated but still read by KEDA when
/// `targetSizeFloat` is 0: rounded up so a target of 0.7 does not become
/// 0 (which the HPA refuses), at least 1.
fn int_target(target: f64) -> i64 {
    // `as` saturates; the target is finite and > 0 (Trigger checks).
    (target.ceil() as i64).max(1)
}

/// `metricValue`, deprecated: KEDA reads it only when `metricValueFloat`
/// is not > 0 (`GetMetricsAndActivity`).
fn int_value(v: f64) -> i64 {
    v.round() as i64
}

impl KedaScaler {
    fn value(&self, t: &Trigger) -> Result<f64, Status> {
        View::load(&self.live, self.freshness)
            .value(&t.query)
            .map_err(|e| value_status(&e))
    }

    fn active(&self, t: &Trigger) -> Result<bool, Status> {
        Ok(self.value(t)? > t.activation)
    }

    /// Counts a call of `m` and, when it failed, an error.
    fn counted<T>(&self, m: Method, r: Result<T, Status>) -> Result<T, Status> {
        self.stats.call(m);
        if let Err(s) = &r {
            self.stats.error(m);
            tracing::debug!(method = m.name(), code = ?s.code(), message = s.message(), "KEDA call refused");
        }
        r
    }

    fn is_active(&self, r: &ScaledObjectRef) -> Result<IsActiveResponse, Status> {
        let t = trigger(&r.scaler_metadata)?;
        Ok(IsActiveResponse {
            result: self.active(&t)?,
        })
    }

    fn metric_spec(r: &ScaledObjectRef) -> Result<GetMetricSpecResponse, Status> {
        let t = trigger(&r.scaler_metadata)?;
        Ok(GetMetricSpecResponse {
            metric_specs: vec![MetricSpec {
                metric_name: t.query.metric_name(),
                target_size: int_target(t.target),
                target_size_float: t.target,
            }],
        })
    }

    fn metrics(&self, req: &GetMetricsRequest) -> Result<GetMetricsResponse, Status> {
        let r = req
            .scaled_object_ref
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("scaledObjectRef is missing"))?;
        let t = trigger(&r.scaler_metadata)?;
        let name = t.query.metric_name();
        if req.metric_name != name {
            return Err(Status::invalid_argument(format!(
                "metricName `{}` is not this trigger's metric: GetMetricSpec names it `{name}`",
                req.metric_name
            )));
        }
        let v = self.value(&t)?;
        Ok(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: name,
                metric_value: int_value(v),
                metric_value_float: v,
            }],
        })
    }
}

/// Counts an open stream, and holds its `max_streams` slot, while it
/// lives.
struct StreamGuard {
    stats: Arc<KedaStats>,
    _slot: OwnedSemaphorePermit,
}

impl StreamGuard {
    fn new(stats: Arc<KedaStats>, slot: OwnedSemaphorePermit) -> Self {
        stats.streams_open.fetch_add(1, Ordering::Relaxed);
        StreamGuard { stats, _slot: slot }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.stats.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One `StreamIsActive` between polls.
struct Watch {
    scaler: KedaScaler,
    trigger: Trigger,
    /// The last state sent; `None` before the first.
    sent: Option<bool>,
    /// The first state, read when the call came.
    first: bool,
    stop: watch::Receiver<bool>,
    _open: StreamGuard,
}

impl Watch {
    /// The next message: the first state at once, then the next change.
    /// `None` ends the stream (server stopping); an error ends it after
    /// that item.
    async fn next(mut self) -> Option<(Result<IsActiveResponse, Status>, Option<Watch>)> {
        if self.sent.is_none() {
            self.sent = Some(self.first);
            let first = IsActiveResponse { result: self.first };
            return Some((Ok(first), Some(self)));
        }
        loop {
            tokio::select! {
                // Also when the sender is gone: the server has stopped.
                _ = self.stop.wait_for(|&stop| stop) => return None,
                () = tokio::time::sleep(STREAM_CHECK) => {}
            }
            match self.scaler.active(&self.trigger) {
                Ok(a) if Some(a) == self.sent => {}
                Ok(a) => {
                    self.sent = Some(a);
                    return Some((Ok(IsActiveResponse { result: a }), Some(self)));
                }
                Err(s) => {
                    self.scaler.stats.error(Method::StreamIsActive);
                    return Some((Err(s), None));
                }
            }
        }
    }
}

type ActiveStream = Pin<Box<dyn Stream<Item = Result<IsActiveResponse, Status>> + Send>>;
type SpecStream = Pin<Box<dyn Stream<Item = Result<GetMetricSpecResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalScaler for Service {
    async fn is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        let s = &self.scaler;
        s.counted(Method::IsActive, s.is_active(request.get_ref()))
            .map(Response::new)
    }

    type StreamIsActiveStream = ActiveStream;

    async fn stream_is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<ActiveStream>, Status> {
        let s = &self.scaler;
        // Refused before it counts as a call: a refusal is counted by its
        // limit.
        let slot = s.limits.stream_slot(&s.stats)?;
        let opened =
            trigger(&request.get_ref().scaler_metadata).and_then(|t| Ok((s.active(&t)?, t)));
        let (first, trigger) = s.counted(Method::StreamIsActive, opened)?;
        let w = Watch {
            scaler: s.clone(),
            trigger,
            sent: None,
            first,
            stop: self.stop.clone(),
            _open: StreamGuard::new(s.stats(), slot),
        };
        // Dropped with the response body when KEDA cancels or hangs up:
        // nothing outlives the client.
        let stream = futures_util::stream::unfold(Some(w), |w| async move { w?.next().await });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        let r = KedaScaler::metric_spec(request.get_ref());
        self.scaler
            .counted(Method::GetMetricSpec, r)
            .map(Response::new)
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let s = &self.scaler;
        s.counted(Method::GetMetrics, s.metrics(request.get_ref()))
            .map(Response::new)
    }

    type StreamMetricSpecStream = SpecStream;

    /// A trigger's target is its own metadata and never changes, so there
    /// is nothing to push; KEDA stops asking on Unimplemented and keeps
    /// using GetMetricSpec (kedacore/keda `pkg/scalers/external_scaler.go`,
    /// `streamMetricSpecOnce`).
    async fn stream_metric_spec(
        &self,
        _request: Request<ScaledObjectRef>,
    ) -> Result<Response<SpecStream>, Status> {
        // Counted as a call, not an error: it is the answer KEDA expects.
        self.scaler.stats.call(Method::StreamMetricSpec);
        Err(Status::unimplemented(
            "metric specs never change for a trigger: use GetMetricSpec",
        ))
    }
}

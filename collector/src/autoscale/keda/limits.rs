//! What one client may hold of the scaler: connections, calls in flight,
//! open `StreamIsActive` streams, a call's time and request size
//! (`autoscale.keda.*`, [`KedaConfig`]). Past a limit a client is refused
//! at once and counted ([`KedaStats::rejected`]); nothing queues.
//!
//! Where each is enforced:
//!
//! - connections: [`incoming`] accepts, and closes a connection past
//!   `max_connections` at once (a gRPC client sees Unavailable and
//!   retries), rather than leaving it in the kernel's backlog where its
//!   connect succeeds and then hangs;
//! - calls in flight: [`InFlightLayer`], a tower layer in front of the
//!   routes, so a call holds its slot while its request is read and
//!   answered (for `StreamIsActive`, until the first state is ready);
//!   past `max_concurrent_requests`, and past `request_timeout_ms`, the
//!   call gets its status without reaching the service;
//! - streams: the service takes a slot per open `StreamIsActive`
//!   ([`Limits::stream_slot`]) and gives it back when the stream ends;
//! - request size: tonic's decoder (`max_decoding_message_size`) answers
//!   OutOfRange, which the layer counts, since the service never does.
//!
//! HTTP/2 itself is bounded too (`serve`): SETTINGS_MAX_CONCURRENT_STREAMS
//! per connection is `max_streams + max_concurrent_requests` — KEDA
//! multiplexes every trigger of one `scalerAddress` over one connection,
//! and a gRPC client past that setting waits for a free stream instead of
//! failing, so a lower value would stall KEDA silently — and keepalive
//! pings close connections whose peer stopped answering, which ends their
//! streams and frees their slots.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::codegen::tokio_stream::Stream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tower::{Layer, Service};

use super::{KedaConfig, KedaStats, Limit};

/// The limits of one server, shared by its connections.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    pub(super) max_connections: usize,
    pub(super) max_streams: usize,
    pub(super) max_concurrent_requests: usize,
    pub(super) request_timeout: Duration,
    pub(super) max_request_bytes: usize,
    pub(super) keepalive_interval: Duration,
    pub(super) keepalive_timeout: Duration,
    streams: Arc<Semaphore>,
}

impl Limits {
    pub(super) fn new(cfg: &KedaConfig) -> Self {
        Limits {
            max_connections: cfg.max_connections,
            max_streams: cfg.max_streams,
            max_concurrent_requests: cfg.max_concurrent_requests,
            request_timeout: Duration::from_millis(cfg.request_timeout_ms),
            max_request_bytes: cfg.max_request_bytes,
            keepalive_interval: Duration::from_secs(cfg.http2_keepalive_interval_secs),
            keepalive_timeout: Duration::from_secs(cfg.http2_keepalive_timeout_secs),
            streams: Arc::new(Semaphore::new(cfg.max_streams)),
        }
    }

    /// HTTP/2 streams one connection may have open: every call the other
    /// limits could admit, so that HTTP/2 never refuses (or makes a client
    /// wait for) what the counted limits would answer.
    pub(super) fn http2_max_concurrent_streams(&self) -> u32 {
        u32::try_from(self.max_streams + self.max_concurrent_requests).unwrap_or(u32::MAX)
    }

    /// A slot for one `StreamIsActive`, held while it is open; past
    /// `max_streams` ResourceExhausted, counted.
    pub(super) fn stream_slot(&self, stats: &KedaStats) -> Result<OwnedSemaphorePermit, Status> {
        Arc::clone(&self.streams).try_acquire_owned().map_err(|_| {
            stats.reject(Limit::MaxStreams);
            Status::resource_exhausted(format!(
                "autoscale.keda.max_streams: {} StreamIsActive streams are open, the most \
                 this scaler serves; retry later",
                self.max_streams
            ))
        })
    }
}

/// An accepted connection, holding its `max_connections` slot until hyper
/// drops it.
pub(super) struct Conn {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
    _open: ConnGuard,
}

/// Counts an open connection while it lives.
struct ConnGuard(Arc<KedaStats>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.tcp.connect_info()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// After a failed accept (out of file descriptors, mostly), a pause, so
/// the accept loop does not spin while nothing can be accepted.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The connections of `listener`, at most `max_connections` open at once:
/// one past it is closed as soon as it is accepted, and counted.
pub(super) fn incoming(
    listener: TcpListener,
    max_connections: usize,
    stats: Arc<KedaStats>,
) -> impl Stream<Item = io::Result<Conn>> {
    let slots = Arc::new(Semaphore::new(max_connections));
    futures_util::stream::unfold(
        (listener, slots, stats),
        move |(listener, slots, stats)| async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::debug!("KEDA external scaler: accept: {e}");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        return Some((Err(e), (listener, slots, stats)));
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    stats.reject(Limit::MaxConnections);
                    tracing::debug!(
                        %peer,
                        "KEDA external scaler: connection closed, autoscale.keda.max_connections ({max_connections}) are open"
                    );
                    drop(tcp);
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                stats.connections_open.fetch_add(1, Ordering::Relaxed);
                let conn = Conn {
                    tcp,
                    _slot: slot,
                    _open: ConnGuard(Arc::clone(&stats)),
                };
                return Some((Ok(conn), (listener, slots, stats)));
            }
        },
    )
}

/// `max_concurrent_requests` and `request_timeout_ms`, in front of the
/// routes.
#[derive(Debug, Clone)]
pub(super) struct InFlightLayer {
    slots: Arc<Semaphore>,
    max: usize,
    timeout: Duration,
    stats: Arc<KedaStats>,
}

impl InFlightLayer {
    pub(super) fn new(limits: &Limits, stats: Arc<KedaStats>) -> Self {
        InFlightLayer {
            slots: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            max: limits.max_concurrent_requests,
            timeout: limits.request_timeout,
            stats,
        }
    }
}

impl<S> Layer<S> for InFlightLayer {
    type Service = InFlight<S>;

    fn layer(&self, inner: S) -> InFlight<S> {
        InFlight {
            inner,
            limits: self.clone(),
        }
    }
}

/// [`InFlightLayer`]'s service.
#[derive(Debug, Clone)]
pub(super) struct InFlight<S> {
    inner: S,
    limits: InFlightLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for InFlight<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let l = &self.limits;
        let Ok(slot) = Arc::clone(&l.slots).try_acquire_owned() else {
            l.stats.reject(Limit::MaxConcurrentRequests);
            let s = Status::resource_exhausted(format!(
                "autoscale.keda.max_concurrent_requests: {} calls are in flight, the most \
                 this scaler serves at once; retry later",
                l.max
            ));
            return Box::pin(std::future::ready(Ok(s.into_http())));
        };
        // The clone that was made ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (timeout, stats) = (l.timeout, Arc::clone(&l.stats));
        Box::pin(async move {
            let answered = tokio::time::timeout(timeout, inner.call(req)).await;
            drop(slot);
            let response = match answered {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_elapsed) => {
                    stats.reject(Limit::RequestTimeout);
                    let s = Status::deadline_exceeded(format!(
                        "autoscale.keda.request_timeout_ms: no answer within {} ms",
                        timeout.as_millis()
                    ));
                    return Ok(s.into_http());
                }
            };
            // Only tonic's decoder answers OutOfRange here: a request
            // larger than max_request_bytes.
            if grpc_status(&response) == Some(tonic::Code::OutOfRange) {
                stats.reject(Limit::MaxRequestBytes);
            }
            Ok(response)
        })
    }
}

/// The status of a response that carries it in its headers (an error
/// answered before any message).
fn grpc_status(r: &Response<Body>) -> Option<tonic::Code> {
    let v = r.headers().get("grpc-status")?.to_str().ok()?;
    Some(tonic::Code::from_i32(v.parse().ok()?))
}

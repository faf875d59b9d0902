//! The scaler's limits (`autoscale.keda.*`): each refuses at once with its
//! status, counts the refusal, and gives its slot back when the holder
//! ends — over real loopback connections, except the in-flight layer,
//! which is driven directly with a service that answers only when told.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tonic::Code;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tower::{Layer, Service, ServiceExt};

use super::limits::{InFlightLayer, Limits};
use super::tests::{Server, obj, until};
use super::{KedaConfig, KedaStats, Limit};
use crate::serve::api::fixture;

const SHOP: [(&str, &str); 2] = [("site", "shop-example-com"), ("target", "1")];

#[tokio::test]
async fn a_stream_past_max_streams_is_refused_and_its_slot_comes_back() {
    let cfg = KedaConfig {
        max_streams: 2,
        ..KedaConfig::default()
    };
    let mut s = Server::start_with(fixture::live(fixture::snapshot()), &cfg).await;
    let first = s.client.stream_is_active(obj(&SHOP)).await.unwrap();
    let _second = s.client.stream_is_active(obj(&SHOP)).await.unwrap();
    let refused = s.client.stream_is_active(obj(&SHOP)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("autoscale.keda.max_streams"),
        "{refused:?}"
    );
    assert_eq!(s.stats.rejected(Limit::MaxStreams), 1);
    assert_eq!(s.stats.streams_open(), 2);
    // Other calls go on meanwhile.
    assert!(s.client.is_active(obj(&SHOP)).await.is_ok());

    drop(first);
    let stats = Arc::clone(&s.stats);
    until("the dropped stream ends", || stats.streams_open() == 1).await;
    assert!(s.client.stream_is_active(obj(&SHOP)).await.is_ok());
    assert_eq!(s.stats.rejected(Limit::MaxStreams), 1);
    s.stop().await;
}

#[tokio::test]
async fn a_request_past_max_request_bytes_is_out_of_range() {
    let cfg = KedaConfig {
        max_request_bytes: 1024,
        ..KedaConfig::default()
    };
    let mut s = Server::start_with(fixture::live(fixture::snapshot()), &cfg).await;
    let big = "x".repeat(2000);
    let refused = s
        .client
        .is_active(obj(&[
            ("site", "shop-example-com"),
            ("target", "1"),
            ("padding", &big),
        ]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
    assert_eq!(s.stats.rejected(Limit::MaxRequestBytes), 1);
    // The connection is still good.
    assert!(s.client.is_active(obj(&SHOP)).await.is_ok());
    s.stop().await;
}

#[tokio::test]
async fn a_connection_past_max_connections_is_closed_at_once() {
    let cfg = KedaConfig {
        max_connections: 1,
        ..KedaConfig::default()
    };
    // The test client's connection is the one allowed.
    let mut s = Server::start_with(fixture::live(fixture::snapshot()), &cfg).await;
    assert!(s.client.is_active(obj(&SHOP)).await.is_ok());
    assert_eq!(s.stats.connections_open(), 1);

    let mut extra = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf))
        .await
        .expect("closed at once, not left hanging");
    // End of stream or a reset: either way nothing is served.
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert_eq!(s.stats.rejected(Limit::MaxConnections), 1);
    assert_eq!(s.stats.connections_open(), 1);
    // The admitted client is untouched.
    assert!(s.client.is_active(obj(&SHOP)).await.is_ok());
    s.stop().await;
}

/// A service that answers each call once `go` is notified.
fn held(
    go: Arc<Notify>,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future = impl Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |_req: Request<Body>| {
        let go = Arc::clone(&go);
        async move {
            go.notified().await;
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }
    })
}

fn grpc_code(r: &Response<Body>) -> Option<Code> {
    let v = r.headers().get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(v.parse().ok()?))
}

fn layer(cfg: &KedaConfig, stats: &Arc<KedaStats>) -> InFlightLayer {
    InFlightLayer::new(&Limits::new(cfg), Arc::clone(stats))
}

#[tokio::test]
async fn a_call_past_max_concurrent_requests_is_refused_not_queued() {
    let cfg = KedaConfig {
        max_concurrent_requests: 1,
        ..KedaConfig::default()
    };
    let stats = Arc::new(KedaStats::default());
    let go = Arc::new(Notify::new());
    let mut svc = layer(&cfg, &stats).layer(held(Arc::clone(&go)));

    let first = svc.ready().await.unwrap().call(Request::new(Body::empty()));
    let first = tokio::spawn(first);
    tokio::task::yield_now().await;
    let refused = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(Body::empty()))
        .await
        .unwrap();
    assert_eq!(grpc_code(&refused), Some(Code::ResourceExhausted));
    assert_eq!(stats.rejected(Limit::MaxConcurrentRequests), 1);

    // Once the first is answered its slot is free again.
    go.notify_one();
    let answered = first.await.unwrap().unwrap();
    assert_eq!(grpc_code(&answered), None);
    let next = svc.ready().await.unwrap().call(Request::new(Body::empty()));
    let next = tokio::spawn(next);
    tokio::task::yield_now().await;
    go.notify_one();
    assert_eq!(grpc_code(&next.await.unwrap().unwrap()), None);
    assert_eq!(stats.rejected(Limit::MaxConcurrentRequests), 1);
}

#[tokio::test]
async fn a_call_not_answered_within_request_timeout_is_deadline_exceeded() {
    let cfg = KedaConfig {
        request_timeout_ms: 100,
        max_concurrent_requests: 1,
        ..KedaConfig::default()
    };
    let stats = Arc::new(KedaStats::default());
    let go = Arc::new(Notify::new());
    let mut svc = layer(&cfg, &stats).layer(held(go));
    let t0 = std::time::Instant::now();
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(Body::empty()))
        .await
        .unwrap();
    assert_eq!(grpc_code(&r), Some(Code::DeadlineExceeded));
    assert!(t0.elapsed() >= Duration::from_millis(100));
    assert_eq!(stats.rejected(Limit::RequestTimeout), 1);
    // The timed-out call gave its slot back.
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(Body::empty()))
        .await
        .unwrap();
    assert_eq!(grpc_code(&r), Some(Code::DeadlineExceeded));
    assert_eq!(stats.rejected(Limit::MaxConcurrentRequests), 0);
}

#[test]
fn limits_out_of_range_are_refused_naming_the_key() {
    let bad = [
        (
            KedaConfig {
                max_connections: 0,
                ..KedaConfig::default()
            },
            "keda.max_connections",
        ),
        (
            KedaConfig {
                max_streams: 70_000,
                ..KedaConfig::default()
            },
            "keda.max_streams",
        ),
        (
            KedaConfig {
                request_timeout_ms: 50,
                ..KedaConfig::default()
            },
            "keda.request_timeout_ms",
        ),
        (
            KedaConfig {
                max_request_bytes: 100,
                ..KedaConfig::default()
            },
            "keda.max_request_bytes",
        ),
        (
            KedaConfig {
                http2_keepalive_timeout_secs: 0,
                ..KedaConfig::default()
            },
            "keda.http2_keepalive_timeout_secs",
        ),
    ];
    for (cfg, field) in bad {
        let e = cfg.validate().unwrap_err();
        assert_eq!(e.field, field, "{e:?}");
        assert!(e.message.contains("must be between"), "{e:?}");
    }
    assert!(KedaConfig::default().validate().is_ok());
}

//! The two corrections of [`FpmSnapshot::site`] (saturated pools count as
//! busy, the scrape's own worker is not load), and the scraper telling a
//! saturated pool (connected, no answer) from one that is down (refused),
//! over FastCGI on TCP and on a Unix socket and over HTTP. The servers
//! here replay what php-fpm 8.2 answered (captured in `fastcgi.rs`), then
//! stop answering as a pool with every worker busy does; the real pools
//! are in `collector/tests/fpm_status.rs` and `autoscale_fpm.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::scrape::Scraper;
use super::*;

fn status(active: u64, total: u64, queue: Option<u64>) -> FpmStatus {
    FpmStatus {
        listen_queue: queue,
        idle_processes: total - active,
        active_processes: active,
        total_processes: total,
        ..FpmStatus::default()
    }
}

fn pool(site: &str, up: bool, saturated: bool, status: Option<FpmStatus>) -> PoolStatus {
    PoolStatus {
        site: site.into(),
        pool: site.into(),
        address: format!("tcp://127.0.0.1:9000/{site}"),
        up,
        saturated,
        error: (!up).then(|| "x".into()),
        scraped: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100)),
        status,
        scrape_failures: 0,
    }
}

fn one(p: PoolStatus) -> SiteFpm {
    FpmSnapshot { pools: vec![p] }.site(|_| true).unwrap()
}

#[test]
fn the_scrape_s_own_worker_is_counted_idle() {
    // An idle pool: the status request is the one active worker.
    let s = one(pool("a", true, false, Some(status(1, 2, Some(0)))));
    assert_eq!((s.active_processes, s.idle_processes), (0, 2));
    assert_eq!(s.busy_ratio(), 0.0);
    // One request besides the scrape.
    let s = one(pool("a", true, false, Some(status(2, 4, Some(0)))));
    assert_eq!(
        (s.active_processes, s.idle_processes, s.total_processes),
        (1, 3, 4)
    );
    // A Unix socket (no queue to read): the same.
    let s = one(pool("a", true, false, Some(status(2, 2, None))));
    assert_eq!((s.active_processes, s.idle_processes), (1, 1));
    // Never below 0 (an HTTP sidecar's page of a pool it did not ask).
    let s = one(pool("a", true, false, Some(status(0, 2, Some(0)))));
    assert_eq!((s.active_processes, s.idle_processes), (0, 2));
    // Requests waiting: the freed worker takes the next at once.
    let s = one(pool("a", true, false, Some(status(2, 2, Some(3)))));
    assert_eq!((s.active_processes, s.idle_processes), (2, 0));
    assert_eq!(s.busy_ratio(), 1.0);
    assert_eq!(s.listen_queue, Some(3));
    // Summed over a site's pools, one worker per pool that answered.
    let snap = FpmSnapshot {
        pools: vec![
            pool("a", true, false, Some(status(1, 2, Some(0)))),
            pool("a", true, false, Some(status(2, 2, None))),
            pool("b", true, false, Some(status(2, 2, Some(0)))),
        ],
    };
    let s = snap.site(|n| n == "a").unwrap();
    assert_eq!(
        (s.active_processes, s.idle_processes, s.total_processes),
        (1, 3, 4)
    );
    assert_eq!((s.pools_up, s.pools_saturated, s.pools_down), (2, 0, 0));
}

#[test]
fn a_saturated_pool_counts_as_up_and_fully_busy() {
    // As the scraper leaves it: the last numbers, every worker active.
    let s = one(pool("a", false, true, Some(status(2, 2, Some(4)))));
    assert_eq!((s.pools_up, s.pools_saturated, s.pools_down), (1, 1, 0));
    assert_eq!((s.active_processes, s.idle_processes), (2, 0));
    assert_eq!(s.busy_ratio(), 1.0);
    assert_eq!(s.listen_queue, Some(4));
    assert_eq!(
        s.oldest_scrape,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100))
    );
    // Saturated before any good scrape: no numbers to tell, so down.
    let s = one(pool("a", false, true, None));
    assert_eq!((s.pools_up, s.pools_down), (0, 1));
    // Refused or unreachable: down, whatever its last numbers.
    let s = one(pool("a", false, false, Some(status(1, 2, Some(0)))));
    assert_eq!((s.pools_up, s.pools_saturated, s.pools_down), (0, 0, 1));
    assert_eq!(s.total_processes, 0);
    // A saturated pool beside one that answered.
    let snap = FpmSnapshot {
        pools: vec![
            pool("a", false, true, Some(status(2, 2, None))),
            pool("a", true, false, Some(status(1, 2, None))),
        ],
    };
    let s = snap.site(|_| true).unwrap();
    assert_eq!((s.active_processes, s.total_processes), (2, 4));
    assert_eq!((s.pools_up, s.pools_saturated), (2, 1));
}

/// A pool's listen socket: while `answer` is set each connection gets
/// `reply` once its request is read; otherwise connections are accepted
/// (the kernel's backlog does that anyway) and held unanswered, as FPM
/// holds them while every worker is busy.
struct Pool {
    answer: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Pool {
    /// Stops it: the listener is closed when this returns.
    async fn stop(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads until the request is in: FastCGI's empty FCGI_STDIN record
/// (`1 5 0 1 0 0`) or HTTP's blank line.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(s: &mut S) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = s.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(6).any(|w| w == [1, 5, 0, 1, 0, 0])
            || buf.windows(4).any(|w| w == b"\r\n\r\n")
        {
            return;
        }
    }
}

macro_rules! serve {
    ($listener:expr, $reply:expr) => {{
        let answer = Arc::new(AtomicBool::new(true));
        let on = answer.clone();
        let reply: Vec<u8> = $reply;
        let listener = $listener;
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                if on.load(Ordering::SeqCst) {
                    read_request(&mut s).await;
                    let _ = s.write_all(&reply).await;
                    let _ = s.shutdown().await;
                } else {
                    held.push(s);
                }
            }
        });
        Pool { answer, task }
    }};
}

fn target(address: String) -> FpmTarget {
    FpmTarget {
        site: "shop".into(),
        address,
        status_path: "/status".into(),
    }
}

/// Two rounds, answered then held: the second publishes the pool
/// saturated with the first's numbers, every worker active.
async fn saturates(pool: &Pool, t: FpmTarget, queue: Option<u64>) {
    let mut s = Scraper::new(Duration::from_millis(300));
    let snap = s.round(std::slice::from_ref(&t)).await;
    let p = &snap.pools[0];
    assert!(p.up && !p.saturated, "{p:?}");
    assert_eq!(p.pool, "shop_example_org");
    pool.answer.store(false, Ordering::SeqCst);
    let snap = s.round(std::slice::from_ref(&t)).await;
    let p = &snap.pools[0];
    assert!(!p.up && p.saturated, "{p:?}");
    assert_eq!(
        p.error.as_deref(),
        Some("connected, but no complete answer within 300 ms")
    );
    assert_eq!(p.scrape_failures, 1);
    let st = p.status.as_ref().unwrap();
    assert_eq!(
        (st.active_processes, st.idle_processes, st.total_processes),
        (2, 0, 2)
    );
    assert_eq!(st.listen_queue, queue);
    let site = snap.site(|_| true).unwrap();
    assert_eq!(site.busy_ratio(), 1.0);
    assert_eq!((site.pools_up, site.pools_saturated), (1, 1));
    // Answering again: up, and no longer saturated.
    pool.answer.store(true, Ordering::SeqCst);
    let snap = s.round(std::slice::from_ref(&t)).await;
    assert!(snap.pools[0].up && !snap.pools[0].saturated);
    assert_eq!(snap.site(|_| true).unwrap().busy_ratio(), 0.0);
}

#[tokio::test]
async fn no_answer_after_connecting_is_saturation_over_fastcgi_on_tcp() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("tcp://{}", l.local_addr().unwrap());
    let pool = serve!(l, super::fastcgi::tests::captured_tcp_answer());
    saturates(&pool, target(addr), Some(0)).await;
}

#[tokio::test]
async fn no_answer_after_connecting_is_saturation_over_fastcgi_on_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("sitepulse-fpm-sat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shop.sock");
    let l = tokio::net::UnixListener::bind(&path).unwrap();
    let pool = serve!(l, super::fastcgi::tests::captured_tcp_answer());
    saturates(&pool, target(format!("unix://{}", path.display())), None).await;
    drop(pool);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn no_answer_after_connecting_is_saturation_over_http() {
    let body = super::status::tests::CAPTURED_TCP;
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}/status", l.local_addr().unwrap());
    let pool = serve!(l, reply.into_bytes());
    saturates(&pool, target(addr), Some(0)).await;
}

/// Refused after a good scrape (FPM stopped): down, not saturated, its
/// last numbers unused.
#[tokio::test]
async fn a_refused_pool_is_down_not_saturated() {
    let body = super::status::tests::CAPTURED_TCP;
    let http_reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    for (scheme, reply) in [
        ("tcp", super::fastcgi::tests::captured_tcp_answer()),
        ("http", http_reply.into_bytes()),
    ] {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = l.local_addr().unwrap();
        let t = target(match scheme {
            "tcp" => format!("tcp://{local}"),
            _ => format!("http://{local}/status"),
        });
        let mut pool = serve!(l, reply);
        let mut s = Scraper::new(Duration::from_millis(300));
        assert!(s.round(std::slice::from_ref(&t)).await.pools[0].up);
        pool.stop().await;
        let snap = s.round(std::slice::from_ref(&t)).await;
        let p = &snap.pools[0];
        assert!(!p.up && !p.saturated, "{p:?}");
        assert!(p.status.is_some());
        let site = snap.site(|_| true).unwrap();
        assert_eq!(
            (site.pools_up, site.pools_down, site.total_processes),
            (0, 1, 0)
        );
    }
}

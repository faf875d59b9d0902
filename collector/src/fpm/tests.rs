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

/// An HTTP status target that answers with a redirect is a failed scrape
/// (down, not saturated): the redirect is not followed, so a status page
/// cannot send the scraper to another host.
#[tokio::test]
async fn a_redirect_is_a_failed_scrape_and_not_followed() {
    use std::sync::atomic::AtomicUsize;
    // Where the redirect points: a real status page, which must never be
    // asked.
    let body = super::status::tests::CAPTURED_TCP;
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_url = format!("http://{}/status", elsewhere.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let ok_reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let other = tokio::spawn(async move {
        while let Ok((mut s, _)) = elsewhere.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            read_request(&mut s).await;
            let _ = s.write_all(ok_reply.as_bytes()).await;
            let _ = s.shutdown().await;
        }
    });
    for code in [301, 302, 307, 308] {
        let reply = format!(
            "HTTP/1.1 {code} Moved\r\nLocation: {elsewhere_url}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let t = target(format!("http://{}/status", l.local_addr().unwrap()));
        let _pool = serve!(l, reply.into_bytes());
        let mut s = Scraper::new(Duration::from_millis(500));
        let snap = s.round(std::slice::from_ref(&t)).await;
        let p = &snap.pools[0];
        assert!(!p.up && !p.saturated, "{p:?}");
        assert_eq!(
            p.error.as_deref(),
            Some(
                format!(
                    "status {code}: a redirect (to {elsewhere_url}), which is not followed: the status page must answer at the target's own address"
                )
                .as_str()
            )
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirect was followed");
    other.abort();
}

/// A Unix socket whose listen backlog is full: Linux answers a
/// non-blocking connect with EAGAIN rather than waiting. The pool is
/// saturated (requests wait for its busy workers), not down; a backlog
/// that frees within the timeout is only a slower scrape.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_full_unix_backlog_is_saturation() {
    use super::fastcgi::{self, Endpoint, FcgiError};
    let dir = std::env::temp_dir().join(format!("sitepulse-fpm-backlog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shop.sock");
    let sock = tokio::net::UnixSocket::new_stream().unwrap();
    sock.bind(&path).unwrap();
    // Backlog 0: Linux queues one connection, then refuses with EAGAIN.
    let l = sock.listen(0).unwrap();
    let t = target(format!("unix://{}", path.display()));
    let reply = super::fastcgi::tests::captured_tcp_answer();
    let mut s = Scraper::new(Duration::from_millis(300));

    // One good scrape, answered by hand; then nothing is accepted.
    let answer_once = {
        let reply = reply.clone();
        tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            read_request(&mut c).await;
            c.write_all(&reply).await.unwrap();
            c.shutdown().await.unwrap();
            l
        })
    };
    assert!(s.round(std::slice::from_ref(&t)).await.pools[0].up);
    let l = answer_once.await.unwrap();

    // Fill the backlog.
    let mut held = Vec::new();
    loop {
        match tokio::net::UnixStream::connect(&path).await {
            Ok(c) => held.push(c),
            Err(e) if fastcgi::is_backlog_full(&e) => break,
            Err(e) => panic!("connect: {e}"),
        }
        assert!(held.len() < 64, "the backlog never filled");
    }

    let e = fastcgi::request(
        &Endpoint::Unix(path.clone()),
        &[],
        Duration::from_millis(50),
        1024,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, FcgiError::BacklogFull(50)), "{e}");

    let snap = s.round(std::slice::from_ref(&t)).await;
    let p = &snap.pools[0];
    assert!(!p.up && p.saturated, "{p:?}");
    assert_eq!(
        p.error.as_deref(),
        Some("the Unix socket's listen backlog stayed full for 300 ms (connect: EAGAIN)")
    );
    let st = p.status.as_ref().unwrap();
    assert_eq!(
        (st.active_processes, st.idle_processes, st.total_processes),
        (2, 0, 2)
    );
    assert_eq!(st.listen_queue, None);
    let site = snap.site(|_| true).unwrap();
    assert_eq!(site.busy_ratio(), 1.0);
    assert_eq!((site.pools_up, site.pools_saturated), (1, 1));

    // Room after 50 ms (the queued connections taken, then answered):
    // the scrape waits for it and succeeds.
    drop(held);
    let (snap, _pool) = tokio::join!(s.round(std::slice::from_ref(&t)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        serve!(l, reply)
    });
    let p = &snap.pools[0];
    assert!(p.up && !p.saturated, "{p:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

//! PHP-FPM's status pages scraped from a real php-fpm (Debian's
//! php8.2-fpm) with three pools, one per site — `shop` and `blog` on TCP,
//! `news` on a Unix socket, each `pm = static` with two workers — and a
//! real nginx in front that serves a sleeping PHP script for `shop` and
//! passes `/status/shop` and `/status/news` to the pools' status pages.
//! Eight client threads load `shop` through nginx, so its listen queue
//! fills while the other sites stay idle. The test scrapes over FastCGI on
//! TCP, FastCGI on the Unix socket and HTTP through nginx, then runs the
//! scraper (`fpm::start`) into a real collector's `LiveState` and reads the
//! published snapshot and `/metrics`. A scraper with a short timeout sees
//! the idle pools answer (the scrape's own worker counted idle) and then,
//! under load, `shop` saturated: connected, unanswered, every worker busy.
//! Stopping php-fpm leaves none of its workers running.
//!
//! Needs `php-fpm*` and `nginx` in /usr/sbin (tests/run-all.sh installs
//! them); skipped with a loud message without them, a failure under CI.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sitepulse::config::Config;
use sitepulse::fpm::scrape::{Scraper, scrape};
use sitepulse::fpm::status::PoolReport;
use sitepulse::fpm::{self, FpmConfig, FpmSnapshot, FpmTarget};
use sitepulse::run::Live;
use sitepulse::serve::HttpStats;
use sitepulse::serve::metrics::{Format, registry, render};
use sitepulse_tests::servers::{Servers, children_of, free_port, glob_first, still_running};
use sitepulse_tests::{tmpdir, wait_for};

/// How many clients load `shop` at once (two workers serve them).
const CLIENTS: usize = 8;

/// A program the test needs: its path, or `None` after saying loudly that
/// the test is skipped (a failure under CI, where run-all installs it).
fn require(pattern: &str) -> Option<PathBuf> {
    if let Some(p) = glob_first(pattern) {
        return Some(p);
    }
    let msg = format!(
        "{pattern} not found; install Debian's php8.2-fpm and nginx (tests/run-all.sh does)"
    );
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
        panic!("{msg}");
    }
    eprintln!("\n!!! SKIPPED: {msg} !!!\n");
    None
}

/// The FastCGI parameters nginx sends for a location, `script` as
/// SCRIPT_NAME and SCRIPT_FILENAME.
fn fastcgi_params(script: &str) -> String {
    format!(
        "fastcgi_param QUERY_STRING $query_string; fastcgi_param REQUEST_METHOD $request_method; \
         fastcgi_param CONTENT_TYPE $content_type; fastcgi_param CONTENT_LENGTH $content_length; \
         fastcgi_param SCRIPT_NAME {script}; fastcgi_param SCRIPT_FILENAME {script}; \
         fastcgi_param REQUEST_URI $request_uri; fastcgi_param DOCUMENT_URI $document_uri; \
         fastcgi_param SERVER_PROTOCOL $server_protocol; fastcgi_param GATEWAY_INTERFACE CGI/1.1; \
         fastcgi_param REMOTE_ADDR $remote_addr; fastcgi_param SERVER_NAME $server_name;"
    )
}

/// php-fpm and nginx, running.
struct Farm {
    dir: PathBuf,
    shop: u16,
    blog: u16,
    nginx: u16,
    // php-fpm, then nginx: stopped the other way round, each with SIGQUIT.
    _servers: Servers,
}

impl Farm {
    fn start(fpm_bin: &Path, nginx_bin: &Path) -> Farm {
        let dir = tmpdir("fpm-status", "farm");
        for d in ["www", "tmp"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let d = dir.display();
        std::fs::write(
            dir.join("www/sleep.php"),
            "<?php usleep(300000); echo 'slept';\n",
        )
        .unwrap();
        let (shop, blog, nginx) = (free_port(), free_port(), free_port());
        let pool = |name: &str, listen: &str| {
            format!(
                "[{name}]\nlisten = {listen}\npm = static\npm.max_children = 2\npm.status_path = /status\n"
            )
        };
        let conf = format!(
            "[global]\nerror_log = {d}/logs/fpm-error.log\ndaemonize = no\npid = {d}/fpm.pid\n{}{}{}",
            pool("shop", &format!("127.0.0.1:{shop}")),
            pool("blog", &format!("127.0.0.1:{blog}")),
            pool("news", &format!("{d}/news.sock")),
        );
        std::fs::write(dir.join("php-fpm.conf"), conf).unwrap();
        let sleep = fastcgi_params(&format!("{d}/www/sleep.php"));
        let status = fastcgi_params("/status");
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/logs/nginx-error.log;
events {{ worker_connections 256; }}
http {{
  access_log {d}/logs/nginx-access.log;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{
    listen 127.0.0.1:{nginx};
    location = /shop/sleep.php {{ {sleep} fastcgi_pass 127.0.0.1:{shop}; }}
    location = /status/shop {{ {status} fastcgi_pass 127.0.0.1:{shop}; }}
    location = /status/news {{ {status} fastcgi_pass unix:{d}/news.sock; }}
  }}
}}
"#
            ),
        )
        .unwrap();
        let fpm = Command::new(fpm_bin)
            .args(["-R", "-y"])
            .arg(dir.join("php-fpm.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut servers = Servers(vec![fpm]);
        let up = |port| TcpStream::connect(("127.0.0.1", port)).is_ok();
        wait_for("php-fpm's pools", Duration::from_secs(10), || {
            up(shop) && up(blog) && dir.join("news.sock").exists()
        });
        servers.0.push(
            Command::new(nginx_bin)
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .arg("-p")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for("nginx", Duration::from_secs(10), || up(nginx));
        Farm {
            dir,
            shop,
            blog,
            nginx,
            _servers: servers,
        }
    }

    fn target(&self, site: &str, address: String) -> FpmTarget {
        FpmTarget {
            site: site.into(),
            address,
            status_path: "/status".into(),
        }
    }

    fn shop_tcp(&self) -> FpmTarget {
        self.target("shop", format!("tcp://127.0.0.1:{}", self.shop))
    }

    fn blog_tcp(&self) -> FpmTarget {
        self.target("blog", format!("tcp://127.0.0.1:{}", self.blog))
    }

    fn news_unix(&self) -> FpmTarget {
        let sock = self.dir.join("news.sock");
        self.target("news", format!("unix://{}", sock.display()))
    }

    fn shop_http(&self) -> FpmTarget {
        self.target(
            "shop",
            format!("http://127.0.0.1:{}/status/shop", self.nginx),
        )
    }

    fn news_http(&self) -> FpmTarget {
        self.target(
            "news",
            format!("http://127.0.0.1:{}/status/news", self.nginx),
        )
    }
}

/// Client threads requesting `/shop/sleep.php` through nginx, one request
/// after another, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let threads = (0..CLIENTS)
            .map(|_| {
                let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let good = get(port, "/shop/sleep.php")
                            .is_ok_and(|r| r.starts_with("HTTP/1.1 200") && r.ends_with("slept"));
                        if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Stops the clients; the requests that succeeded and failed.
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// One HTTP/1.0 GET on loopback, the whole answer as text.
fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: shop.example.org\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn busy(r: &PoolReport) -> f64 {
    r.status.active_processes as f64 / r.status.total_processes as f64
}

#[test]
fn queue_and_busy_ratio_rise_for_the_loaded_site_only() {
    let (Some(fpm_bin), Some(nginx_bin)) =
        (require("/usr/sbin/php-fpm*"), require("/usr/sbin/nginx"))
    else {
        return;
    };
    sitepulse_tests::install_tls();
    let farm = Farm::start(&fpm_bin, &nginx_bin);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = sitepulse_sinks::http::client(Duration::from_secs(5)).unwrap();
    // A saturated pool answers its status page only when a worker frees.
    let timeout = Duration::from_secs(5);
    let scrape_now = |t: &FpmTarget| {
        rt.block_on(scrape(t, Ok(&client), timeout))
            .unwrap_or_else(|e| panic!("{}: {e}", t.address))
    };

    // Idle: the status request itself is the one busy worker.
    for t in [farm.shop_tcp(), farm.blog_tcp()] {
        let r = scrape_now(&t);
        assert_eq!(r.pool, t.site);
        assert_eq!(r.status.listen_queue, Some(0), "{r:?}");
        assert!(r.status.listen_queue_len.is_some_and(|n| n > 0), "{r:?}");
        assert_eq!(
            (r.status.active_processes, r.status.total_processes),
            (1, 2)
        );
    }
    let news = scrape_now(&farm.news_unix());
    assert_eq!(news.pool, "news");
    assert_eq!(news.status.listen_queue, None);
    assert_eq!(news.status.max_listen_queue, None);
    assert_eq!(news.status.listen_queue_len, None);
    assert_eq!(news.status.total_processes, 2);

    // A scraper with a timeout far shorter than the wait behind a queue
    // of sleeping requests; idle, every pool answers it.
    let short = Duration::from_millis(250);
    let mut quick = Scraper::new(short);
    let pools = [farm.shop_tcp(), farm.blog_tcp(), farm.news_unix()];
    let idle = rt.block_on(quick.round(&pools));
    assert!(idle.pools.iter().all(|p| p.up && !p.saturated), "{idle:?}");
    // The scrape's own worker is not load: an idle site is 0 busy.
    let shop_idle = idle.site(|s| s == "shop").unwrap();
    assert_eq!(
        (shop_idle.active_processes, shop_idle.idle_processes),
        (0, 2),
        "{idle:?}"
    );
    assert_eq!(shop_idle.busy_ratio(), 0.0);

    let load = Load::start(farm.nginx);

    // FastCGI on TCP: shop's queue fills and both workers are busy...
    let mut loaded = None;
    wait_for(
        "a queue on shop's listen socket",
        Duration::from_secs(20),
        || {
            let r = scrape_now(&farm.shop_tcp());
            let q = r.status.listen_queue.unwrap_or(0);
            loaded = Some(r);
            q > 0
        },
    );
    let shop = loaded.unwrap();
    assert_eq!(busy(&shop), 1.0, "{shop:?}");
    assert!(shop.status.max_listen_queue >= shop.status.listen_queue);
    // ...while blog, idle, has none and a free worker.
    let blog = scrape_now(&farm.blog_tcp());
    assert_eq!(blog.status.listen_queue, Some(0), "{blog:?}");
    assert_eq!(blog.status.max_listen_queue, Some(0), "{blog:?}");
    assert!(busy(&blog) < 1.0, "{blog:?}");
    // FastCGI on the Unix socket: no queue to read.
    let news = scrape_now(&farm.news_unix());
    assert_eq!(news.status.listen_queue, None);
    assert!(busy(&news) < 1.0, "{news:?}");
    // HTTP through nginx: the same for shop; the Unix pool is recognised
    // by its `listen queue len` 0.
    wait_for(
        "shop's queue through nginx",
        Duration::from_secs(20),
        || {
            let r = scrape_now(&farm.shop_http());
            r.status.listen_queue.unwrap_or(0) > 0 && busy(&r) == 1.0
        },
    );
    let news = scrape_now(&farm.news_http());
    assert_eq!(news.pool, "news");
    assert_eq!(news.status.listen_queue, None);
    assert_eq!(news.status.listen_queue_len, None);

    // Saturated: the status request waits behind the queue, so the short
    // scrape connects and times out; shop is published with every worker
    // busy, the others answer.
    let mut sat = None;
    wait_for("shop saturated", Duration::from_secs(20), || {
        let snap = rt.block_on(quick.round(&pools));
        let done = snap.pools[0].saturated;
        sat = Some(snap);
        done
    });
    let sat = sat.unwrap();
    let p = &sat.pools[0];
    assert!(!p.up, "{p:?}");
    assert_eq!(
        p.error.as_deref(),
        Some("connected, but no complete answer within 250 ms")
    );
    let st = p.status.as_ref().unwrap();
    assert_eq!((st.active_processes, st.idle_processes), (2, 0), "{p:?}");
    let shop = sat.site(|s| s == "shop").unwrap();
    assert_eq!((shop.pools_up, shop.pools_saturated), (1, 1));
    assert_eq!(shop.busy_ratio(), 1.0);
    assert!(sat.pools[1].up && sat.pools[2].up, "{sat:?}");
    assert!(sat.site(|s| s == "blog").unwrap().busy_ratio() < 1.0);

    // The scraper, into a real collector's LiveState: configured targets,
    // and discovered ones (one of them a duplicate).
    let d = &farm.dir;
    let yaml = format!(
        "tail:\n  sources:\n    - include: [\"{0}/logs/none-*.log\"]\n  checkpoint_path: \"{0}/ckpt.json\"\n",
        d.display()
    );
    let cfg = Config::from_yaml(Path::new("test.yaml"), &yaml).unwrap();
    let live = Live::start(&cfg, None).unwrap();
    let state = live.state().clone();
    let fpm_cfg = FpmConfig {
        targets: vec![farm.shop_tcp(), farm.blog_tcp(), farm.news_unix()],
        interval_ms: 3000,
        timeout_ms: 3000,
    };
    fpm_cfg.validate().unwrap();
    let (_tx, discovered) =
        tokio::sync::watch::channel(vec![farm.shop_http(), farm.news_http(), farm.shop_tcp()]);
    let task = fpm::start(&fpm_cfg, state.clone(), rt.handle(), discovered);
    let site = |snap: &FpmSnapshot, name: &str| snap.site(|s| s == name).unwrap();
    let mut seen = None;
    wait_for(
        "a round that shows shop's load",
        Duration::from_secs(30),
        || {
            let snap = state.fpm();
            let ok = snap.pools.len() == 5 && snap.pools.iter().all(|p| p.up) && {
                let s = site(&snap, "shop");
                s.listen_queue.is_some_and(|q| q > 0) && s.busy_ratio() == 1.0
            };
            seen = Some(snap);
            ok
        },
    );
    let snap = seen.unwrap();
    let addresses: Vec<&str> = snap.pools.iter().map(|p| p.address.as_str()).collect();
    assert_eq!(
        addresses,
        [
            &farm.shop_tcp().address,
            &farm.blog_tcp().address,
            &farm.news_unix().address,
            &farm.shop_http().address,
            &farm.news_http().address,
        ]
    );
    let (shop, blog, news) = (
        site(&snap, "shop"),
        site(&snap, "blog"),
        site(&snap, "news"),
    );
    assert_eq!((shop.pools_up, shop.pools_down), (2, 0));
    assert_eq!(blog.listen_queue, Some(0), "{blog:?}");
    assert!(blog.busy_ratio() < 1.0, "{blog:?}");
    assert_eq!(news.listen_queue, None, "{news:?}");
    // (Not news' busy ratio: its two targets are scraped at once, and
    // each status page is answered by one of its two workers.)
    assert_eq!(news.pools_up, 2);

    // /metrics shows the same round.
    let r = registry(state.clone(), Arc::new(HttpStats::default()));
    let text = render(&r, Format::OpenMetrics).unwrap();
    let shop_label = format!(
        r#"{{pool="shop",scrape_uri="{}",site="shop"}}"#,
        farm.shop_tcp().address
    );
    let queue: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("phpfpm_listen_queue{shop_label} ")))
        .unwrap_or_else(|| panic!("no phpfpm_listen_queue for shop in\n{text}"))
        .parse()
        .unwrap();
    assert!(queue > 0);
    assert!(text.contains(&format!("phpfpm_up{shop_label} 1")), "{text}");
    assert!(
        !text.contains(r#"phpfpm_listen_queue{pool="news""#),
        "{text}"
    );
    assert!(
        text.contains(r#"phpfpm_active_processes{pool="news""#),
        "{text}"
    );

    drop(task);
    let (ok, failed) = load.stop();
    assert!(ok > 0);
    assert_eq!(failed, 0, "{ok} requests served");
    live.stop().unwrap();

    // Stopping php-fpm stops its workers too.
    let workers = children_of(farm._servers.0[0].id());
    assert_eq!(workers.len(), 6, "{workers:?}");
    drop(farm);
    let left: Vec<_> = workers.into_iter().filter(|&w| still_running(w)).collect();
    assert!(left.is_empty(), "php-fpm workers left running: {left:?}");
}

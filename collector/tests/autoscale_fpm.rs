//! The autoscaler's PHP-FPM proof with real components (issue 17), through
//! the `sitepulse run` binary: Debian's php8.2-fpm with one pool per site —
//! `shop.example.org` and `blog.example.org` on TCP, `news.example.org` on
//! a Unix socket, `pm = dynamic` with `pm.max_children = 2`, pools named
//! like their sites (`shop_example_org`: docs/sites.md gives both the
//! site `shop-example-org`) and the error log in a file — behind a real
//! nginx writing its access log in the sidecar format (`$host` last).
//! sitepulse tails both logs and scrapes the three status pages over
//! FastCGI (`fpm_status.targets`).
//!
//! A Rust load generator (threads, each request counted when its answer
//! is read) sends [`REQUESTS`] requests to a PHP script that sleeps on
//! `shop`. While it runs, `/api/v1/autoscale/{site}` shows `shop`'s busy
//! ratio at 1 (from a page showing a listen queue, or a saturated pool)
//! and its listen queue above 0, `blog` and `news` idle (0 busy: the
//! scrape's own worker is not counted), `news`' queue unmeasured (null),
//! and KEDA's `GetMetrics` (the tonic client) answers `fpm_busy_ratio` 1.
//! Afterwards: `requests` over the 1m window is exactly what the load
//! generator counted (plus one warm-up request a site),
//! `fpm_max_children_rate` > 0 for `shop` only (FPM's own `server reached
//! pm.max_children` warnings from its error log), `shop` idle again, and
//! `GetMetrics` answers `rps` between the HTTP API's rates before and
//! after it.
//!
//! Needs `php-fpm*` and `nginx` in /usr/sbin (tests/run-all.sh installs
//! them); skipped with a loud message without them, a failure under CI.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sitepulse::autoscale::keda::externalscaler::external_scaler_client::ExternalScalerClient;
use sitepulse::autoscale::keda::externalscaler::{GetMetricsRequest, ScaledObjectRef};
use sitepulse::autoscale::query::{Metric, Query, Window};
use sitepulse_tests::servers::{Servers, free_port, glob_first};
use sitepulse_tests::{Collector, tmpdir, wait_for};
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");

/// Requests the load generator sends to `shop`.
const REQUESTS: u64 = 40;
/// Its threads: with two workers, two requests wait at any time, so the
/// status request waits behind about two sleeps — answered within the
/// scrape timeout, with a queue to show.
const THREADS: usize = 4;
/// How long the script sleeps, ms.
const SLEEP_MS: u64 = 300;

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

/// The three sites: name (the Host), pool name, listen address.
struct Site {
    host: &'static str,
    listen: String,
}

/// php-fpm and nginx, running.
struct Farm {
    dir: PathBuf,
    sites: [Site; 3],
    nginx: u16,
    // php-fpm, then nginx: stopped the other way round.
    servers: Servers,
}

impl Farm {
    fn start(fpm_bin: &Path, nginx_bin: &Path) -> Farm {
        let dir = tmpdir("autoscale-fpm", "farm");
        for d in ["www", "tmp"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let d = dir.display();
        std::fs::write(
            dir.join("www/sleep.php"),
            format!("<?php usleep({}); echo 'slept';\n", SLEEP_MS * 1000),
        )
        .unwrap();
        std::fs::write(dir.join("www/hello.php"), "<?php echo 'hello';\n").unwrap();
        let sites = [
            Site {
                host: "shop.example.org",
                listen: format!("127.0.0.1:{}", free_port()),
            },
            Site {
                host: "blog.example.org",
                listen: format!("127.0.0.1:{}", free_port()),
            },
            Site {
                host: "news.example.org",
                listen: format!("{d}/news.sock"),
            },
        ];
        let mut conf = format!(
            "[global]\nerror_log = {d}/logs/fpm-error.log\nlog_level = notice\ndaemonize = no\npid = {d}/fpm.pid\n"
        );
        let mut servers = String::new();
        for s in &sites {
            let pool = s.host.replace('.', "_");
            conf += &format!(
                "[{pool}]\nlisten = {}\npm = dynamic\npm.max_children = 2\npm.start_servers = 2\n\
                 pm.min_spare_servers = 1\npm.max_spare_servers = 2\npm.status_path = /status\n",
                s.listen
            );
            let pass = if s.listen.starts_with('/') {
                format!("unix:{}", s.listen)
            } else {
                s.listen.clone()
            };
            servers += &format!(
                "  server {{\n    listen 127.0.0.1:{{port}};\n    server_name {};\n    root {d}/www;\n    \
                 location ~ \\.php$ {{\n      include /etc/nginx/fastcgi_params;\n      \
                 fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;\n      \
                 fastcgi_pass {pass};\n    }}\n  }}\n",
                s.host
            );
        }
        std::fs::write(dir.join("php-fpm.conf"), conf).unwrap();
        let nginx = free_port();
        // The sidecar format sitepulse detects as nginx (tests/tests/real_servers.rs).
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
  log_format sidecar '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $host';
  access_log {d}/logs/nginx-access.log sidecar;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
{}}}
"#,
                servers.replace("{port}", &nginx.to_string())
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
        let mut running = Servers(vec![fpm]);
        let up = |addr: &str| TcpStream::connect(addr).is_ok();
        wait_for("php-fpm's pools", Duration::from_secs(10), || {
            up(&sites[0].listen) && up(&sites[1].listen) && Path::new(&sites[2].listen).exists()
        });
        running.0.push(
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
        wait_for("nginx", Duration::from_secs(10), || {
            up(&format!("127.0.0.1:{nginx}"))
        });
        Farm {
            dir,
            sites,
            nginx,
            servers: running,
        }
    }

    /// The `fpm_status.targets` of the three pools.
    fn targets(&self) -> String {
        self.sites
            .iter()
            .map(|s| {
                let scheme = if s.listen.starts_with('/') {
                    "unix://"
                } else {
                    "tcp://"
                };
                format!(
                    "    - {{site: {}, address: \"{scheme}{}\"}}\n",
                    s.host, s.listen
                )
            })
            .collect()
    }
}

/// One HTTP/1.0 GET through nginx: the status, once the whole answer is
/// read.
fn get(port: u16, host: &str, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    out.get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {out:?}")))
}

/// [`THREADS`] threads sending [`REQUESTS`] requests to `shop` between
/// them, one after another each.
struct Load {
    answered: Arc<AtomicU64>,
    ok: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let next = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicU64::new(0));
        let ok = Arc::new(AtomicU64::new(0));
        let threads = (0..THREADS)
            .map(|_| {
                let (next, answered, ok) = (next.clone(), answered.clone(), ok.clone());
                std::thread::spawn(move || {
                    while next.fetch_add(1, Ordering::SeqCst) < REQUESTS {
                        if let Ok(status) = get(port, "shop.example.org", "/sleep.php") {
                            answered.fetch_add(1, Ordering::SeqCst);
                            if status == 200 {
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            answered,
            ok,
            threads,
        }
    }

    fn running(&self) -> bool {
        self.threads.iter().any(|t| !t.is_finished())
    }

    /// Waits for the last answer: (answered, answered 200).
    fn finish(self) -> (u64, u64) {
        for t in self.threads {
            t.join().unwrap();
        }
        (
            self.answered.load(Ordering::SeqCst),
            self.ok.load(Ordering::SeqCst),
        )
    }
}

/// `/api/v1/autoscale/{site}`.
fn values(port: u16, site: &str) -> Value {
    sitepulse_tests::http::json(port, &format!("/api/v1/autoscale/{site}"))
}

fn fpm_f64(v: &Value, key: &str) -> f64 {
    v["fpm"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("fpm.{key} in {v}"))
}

/// The KEDA port, from the `KEDA external scaler (gRPC) on` line.
fn keda_port(run: &Collector) -> u16 {
    const NEEDLE: &str = "KEDA external scaler (gRPC) on 127.0.0.1:";
    let mut port = 0;
    wait_for("the KEDA scaler's line", Duration::from_secs(10), || {
        let text = run.log_text();
        if let Some(at) = text.find(NEEDLE) {
            let digits: String = text[at + NEEDLE.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            port = digits.parse().unwrap_or(0);
        }
        port != 0
    });
    port
}

/// A `GetMetrics` for the trigger `{site, metric, target}`, named as
/// `GetMetricSpec` names it.
fn metrics_req(site: &str, metric: &str) -> GetMetricsRequest {
    GetMetricsRequest {
        scaled_object_ref: Some(ScaledObjectRef {
            name: "shop".into(),
            namespace: "default".into(),
            scaler_metadata: [
                ("site".to_owned(), site.to_owned()),
                ("metric".to_owned(), metric.to_owned()),
                ("target".to_owned(), "1".to_owned()),
            ]
            .into(),
        }),
        metric_name: Query {
            site: site.to_owned(),
            metric: Metric::parse(metric).unwrap(),
            window: Window::OneMinute,
        }
        .metric_name(),
    }
}

/// What `GetMetrics` answers (float), or its gRPC status.
fn keda(
    rt: &tokio::runtime::Runtime,
    client: &mut ExternalScalerClient<Channel>,
    site: &str,
    metric: &str,
) -> Result<f64, tonic::Status> {
    let r = rt.block_on(client.get_metrics(metrics_req(site, metric)))?;
    let v = &r.into_inner().metric_values;
    assert_eq!(v.len(), 1, "{v:?}");
    Ok(v[0].metric_value_float)
}

#[test]
fn fpm_saturation_and_requests_reach_the_autoscaler_for_the_loaded_site_only() {
    let (Some(fpm_bin), Some(nginx_bin)) =
        (require("/usr/sbin/php-fpm*"), require("/usr/sbin/nginx"))
    else {
        return;
    };
    sitepulse_tests::install_tls();
    let farm = Farm::start(&fpm_bin, &nginx_bin);
    let d = farm.dir.display();
    let cfg = farm.dir.join("sitepulse.yaml");
    std::fs::write(
        &cfg,
        format!(
            "tail:\n  sources:\n    - include: [\"{d}/logs/*.log\"]\n  read_existing: beginning\n  \
             checkpoint_path: \"{d}/ckpt.json\"\nserver:\n  listen: \"127.0.0.1:0\"\n\
             fpm_status:\n  interval_ms: 1000\n  timeout_ms: 900\n  targets:\n{}",
            farm.targets()
        ),
    )
    .unwrap();
    let run = Collector::start(
        BIN,
        &["--config".as_ref(), cfg.as_os_str()],
        &farm.dir.join("sitepulse.log"),
    );
    let port = run.port;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let keda_port = keda_port(&run);
    let mut grpc = rt.block_on(async {
        let ch = Channel::from_shared(format!("http://127.0.0.1:{keda_port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        ExternalScalerClient::new(ch)
    });

    // One request a site makes the three known; idle, each is 0 busy
    // (the scrape's own worker left out), TCP pools show an empty queue,
    // the Unix pool none.
    for s in &farm.sites {
        assert_eq!(get(farm.nginx, s.host, "/hello.php").unwrap(), 200);
    }
    let hosts: Vec<&str> = farm.sites.iter().map(|s| s.host).collect();
    let ready = |v: &Value| v["requests"] == 1 && v["fpm"]["pools_up"] == 1;
    wait_for(
        "the three sites with a request and a scraped pool",
        Duration::from_secs(20),
        || {
            hosts.iter().all(|h| {
                sitepulse_tests::http::get(port, &format!("/api/v1/autoscale/{h}"))
                    .is_ok_and(|b| serde_json::from_str(&b).is_ok_and(|v| ready(&v)))
            })
        },
    );
    wait_for("idle pools", Duration::from_secs(10), || {
        hosts
            .iter()
            .all(|h| fpm_f64(&values(port, h), "busy_ratio") == 0.0)
    });
    let (shop, blog, news) = (hosts[0], hosts[1], hosts[2]);
    assert_eq!(values(port, shop)["fpm"]["listen_queue"], 0);
    assert_eq!(values(port, blog)["fpm"]["listen_queue"], 0);
    assert!(values(port, news)["fpm"]["listen_queue"].is_null());
    assert_eq!(
        keda(&rt, &mut grpc, "shop-example-org", "fpm_busy_ratio").unwrap(),
        0.0
    );

    // Load on shop: watch every site while it runs.
    let load = Load::start(farm.nginx);
    let t0 = Instant::now();
    let (mut shop_busy, mut shop_queue, mut keda_busy) = (0.0f64, 0u64, 0.0f64);
    let mut shop_saturated = false;
    let (mut others_busy, mut news_queue_seen) = (0.0f64, false);
    while load.running() {
        let v = values(port, shop);
        shop_busy = shop_busy.max(fpm_f64(&v, "busy_ratio"));
        shop_queue = shop_queue.max(v["fpm"]["listen_queue"].as_u64().unwrap_or(0));
        shop_saturated |= v["fpm"]["pools_saturated"].as_u64().is_some_and(|n| n > 0);
        for h in [blog, news] {
            let v = values(port, h);
            others_busy = others_busy.max(fpm_f64(&v, "busy_ratio"));
            news_queue_seen |= h == news && !v["fpm"]["listen_queue"].is_null();
        }
        if let Ok(b) = keda(&rt, &mut grpc, "shop-example-org", "fpm_busy_ratio") {
            keda_busy = keda_busy.max(b);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let load_secs = t0.elapsed().as_secs_f64();
    let (answered, ok) = load.finish();
    assert_eq!(answered, REQUESTS, "every request answered");
    assert_eq!(ok, REQUESTS, "every request answered 200");
    let seen = format!(
        "over {load_secs:.1} s of load: shop busy {shop_busy} (saturated: {shop_saturated}), queue {shop_queue}; KEDA busy {keda_busy}; blog/news busy {others_busy}"
    );
    eprintln!("{seen}");
    assert_eq!(shop_busy, 1.0, "{seen}");
    assert!(shop_queue > 0, "{seen}");
    assert_eq!(keda_busy, 1.0, "{seen}");
    assert_eq!(others_busy, 0.0, "{seen}");
    assert!(!news_queue_seen, "a queue for the Unix pool: {seen}");

    // Every answered request is one line of nginx's log, read.
    let expected = REQUESTS + 1;
    wait_for("shop's requests counted", Duration::from_secs(10), || {
        values(port, shop)["requests"] == expected
    });
    std::thread::sleep(Duration::from_millis(1500));
    let v = values(port, shop);
    assert_eq!(v["requests"], expected, "{v}");
    for h in [blog, news] {
        assert_eq!(values(port, h)["requests"], 1);
    }
    // FPM's own warnings, from its error log, for shop only.
    let log = std::fs::read_to_string(farm.dir.join("logs/fpm-error.log")).unwrap();
    assert!(
        log.contains("WARNING: [pool shop_example_org] server reached pm.max_children setting (2)"),
        "{log}"
    );
    wait_for("shop's max_children rate", Duration::from_secs(10), || {
        values(port, shop)["fpm_max_children_rate"]
            .as_f64()
            .is_some_and(|r| r > 0.0)
    });
    for h in [blog, news] {
        assert_eq!(values(port, h)["fpm_max_children_rate"], 0.0);
    }
    assert!(keda(&rt, &mut grpc, "shop-example-org", "fpm_max_children_rate").unwrap() > 0.0);
    // Idle again once the load is over.
    wait_for("shop idle again", Duration::from_secs(10), || {
        fpm_f64(&values(port, shop), "busy_ratio") == 0.0
    });
    assert_eq!(
        keda(&rt, &mut grpc, "shop-example-org", "fpm_busy_ratio").unwrap(),
        0.0
    );
    // KEDA's rps for the site between the HTTP API's before and after it
    // (the window covers more seconds, the same requests).
    let before = values(port, shop)["rps"].as_f64().unwrap();
    let rps = keda(&rt, &mut grpc, "shop-example-org", "rps").unwrap();
    let after = values(port, shop)["rps"].as_f64().unwrap();
    assert!(
        after <= rps && rps <= before && rps > 0.0,
        "{after} <= {rps} <= {before}"
    );
    // The Unix pool's queue is refused, not a 0.
    let e = keda(&rt, &mut grpc, "news-example-org", "fpm_queue").unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");

    drop(run);
    drop(farm.servers);
}

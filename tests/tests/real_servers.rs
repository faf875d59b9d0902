//! Logs written by real servers, not by our generator: the test starts
//! nginx (with the WordPress-sidecar `log_format` that appends
//! `$request_time $host`) in front of PHP-FPM (access log in the www.conf
//! extended format, slow log, error log, PHP `error_log`) on 127.0.0.1,
//! sends requests that make each log speak — a normal page, a PHP fatal, a
//! 404, slow requests queued behind `pm.max_children = 1` — stops both, and
//! runs every file through the pipeline: each format must be detected,
//! every line parsed, and the records must say what happened.
//!
//! Needs `nginx` and `php-fpm` (tests/run-all.sh installs them).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sitepulse_pipeline::PipelineConfig;
use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::record::{Event, LogFormat, Record};
use sitepulse_pipeline::{FileReport, Observer, Origin, Pipeline};
use sitepulse_tests::servers::{Servers, free_port, glob_first};

fn find_binary(candidates: &[&str]) -> PathBuf {
    for c in candidates {
        if let Some(p) = glob_first(c) {
            return p;
        }
    }
    panic!("none of {candidates:?} found: run tests/run-all.sh, which installs nginx and php-fpm");
}

fn get(port: u16, path: &str, host: &str, ua: &str) -> u16 {
    sitepulse_tests::http::get_with(port, path, &[("host", host), ("user-agent", ua)])
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

fn wait_for_port(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the test looks at in each record.
#[derive(Debug)]
struct Seen {
    event: Event,
    site: String,
    status: u16,
    duration_ns: Option<u64>,
    path: String,
    user_agent: String,
}

#[derive(Default)]
struct Collect {
    records: Vec<Seen>,
}

impl Observer for Collect {
    fn record(&mut self, _o: &Origin<'_>, r: &Record<'_>, _site: SiteId, name: &str) {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.records.push(Seen {
            event: r.event,
            site: name.to_owned(),
            status: r.status,
            duration_ns: r.duration_ns,
            path: s(r.path),
            user_agent: s(r.user_agent),
        });
    }
}

fn run(p: &mut Pipeline, path: &Path) -> (FileReport, Collect) {
    let mut c = Collect::default();
    let f = std::fs::File::open(path).unwrap();
    let r = p
        .process(
            &path.display().to_string(),
            Some(path),
            f,
            &mut c,
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(
        r.unparsed_total(),
        0,
        "{}: {:?}",
        path.display(),
        r.unparsed
    );
    (r, c)
}

#[test]
fn nginx_and_php_fpm_logs_parse_and_label() {
    let nginx = find_binary(&["/usr/sbin/nginx"]);
    let fpm = find_binary(&["/usr/sbin/php-fpm*"]);
    let dir = std::env::temp_dir().join(format!("sitepulse-real-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["www", "logs", "tmp"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let d = dir.display();
    std::fs::write(
        dir.join("www/index.php"),
        "<?php echo 'hello ', $_SERVER['HTTP_HOST'];\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("www/slow.php"),
        "<?php usleep(1500000); echo 'slow';\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("www/fatal.php"),
        "<?php undefined_function_for_test();\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("php-fpm.conf"),
        format!(
            r#"[global]
error_log = {d}/logs/fpm-error.log
log_level = notice
daemonize = no
pid = {d}/fpm.pid
[site1]
listen = {d}/fpm.sock
pm = dynamic
pm.max_children = 1
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 1
access.log = {d}/logs/fpm-access.log
access.format = "%R - %u %t \"%m %r%Q%q\" %s %f %{{mili}}d %{{kilo}}M %C%%"
slowlog = {d}/logs/fpm-slow.log
request_slowlog_timeout = 1s
php_admin_value[error_log] = {d}/logs/debug.log
php_admin_flag[log_errors] = on
"#
        ),
    )
    .unwrap();
    let port = free_port();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/logs/nginx-error.log;
events {{}}
http {{
  log_format sidecar '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $host';
  access_log {d}/logs/nginx-access.log sidecar;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{
    listen 127.0.0.1:{port};
    root {d}/www;
    location ~ \.php$ {{
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass unix:{d}/fpm.sock;
    }}
  }}
}}
"#
        ),
    )
    .unwrap();
    let quiet = || (Stdio::null(), Stdio::null());
    let (o, e) = quiet();
    let fpm_child = Command::new(&fpm)
        .args(["-R", "-y"])
        .arg(dir.join("php-fpm.conf"))
        .stdout(o)
        .stderr(e)
        .spawn()
        .unwrap();
    let mut servers = Servers(vec![fpm_child]);
    let start = Instant::now();
    while !dir.join("fpm.sock").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "php-fpm did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (o, e) = quiet();
    servers.0.push(
        Command::new(&nginx)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(&dir)
            .stdout(o)
            .stderr(e)
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);

    let ua = r#"Mozilla/5.0 (X11; Linux x86_64) "quoted" sitepulse-test"#;
    assert_eq!(
        get(port, "/index.php?p=42", "www.site1.example.com", ua),
        200
    );
    assert_eq!(get(port, "/fatal.php", "site1.example.com", "curl/8"), 500);
    assert_eq!(
        get(port, "/missing.html", "site1.example.com", "curl/8"),
        404
    );
    // Three 1.5 s requests against one child: they queue, the slow log
    // traces them, and the process manager finds no idle child.
    let slow: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || get(port, "/slow.php", "site1.example.com", "curl/8")))
        .collect();
    for t in slow {
        assert_eq!(t.join().unwrap(), 200);
    }
    // Let FPM's once-a-second maintenance and the log writes settle: the
    // slow log gets its three traces (written by the master, which can lag
    // under load), then one more tick.
    let slow_log = dir.join("logs").join("fpm-slow.log");
    sitepulse_tests::wait_for("three slow-log traces", Duration::from_secs(10), || {
        std::fs::read_to_string(&slow_log)
            .map(|t| t.matches("script_filename").count() >= 3)
            .unwrap_or(false)
    });
    std::thread::sleep(Duration::from_millis(1200));
    drop(servers);

    let logs = dir.join("logs");
    let mut p = Pipeline::new(&PipelineConfig::default(), sitepulse_tests::unix_now()).unwrap();

    let (r, c) = run(&mut p, &logs.join("nginx-access.log"));
    assert_eq!(r.source, Some(LogFormat::Nginx));
    assert_eq!(r.records, 6);
    let first = &c.records[0];
    assert_eq!(
        (first.site.as_str(), first.status),
        ("site1-example-com", 200)
    );
    assert_eq!(first.path, "/index.php?p=42");
    // nginx writes `"` as \x22; the parser keeps it as written.
    assert_eq!(
        first.user_agent,
        r"Mozilla/5.0 (X11; Linux x86_64) \x22quoted\x22 sitepulse-test"
    );
    assert!(
        c.records.iter().all(|r| r.duration_ns.is_some()),
        "request_time parsed"
    );
    let statuses: Vec<u16> = c.records.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..3], [200, 500, 404]);
    let slowest = c
        .records
        .iter()
        .filter_map(|r| r.duration_ns)
        .max()
        .unwrap();
    assert!(slowest >= 1_500_000_000, "{slowest} ns");

    let (r, c) = run(&mut p, &logs.join("fpm-access.log"));
    assert_eq!(r.source, Some(LogFormat::FpmAccess));
    assert_eq!(r.records, 5, "nginx served the 404 itself");
    let slow_ms: Vec<u64> = c
        .records
        .iter()
        .filter(|r| r.path == "/slow.php")
        .filter_map(|r| r.duration_ns.map(|ns| ns / 1_000_000))
        .collect();
    assert_eq!(slow_ms.len(), 3);
    assert!(
        slow_ms.iter().all(|ms| (1500..3000).contains(ms)),
        "{slow_ms:?}"
    );

    let (r, c) = run(&mut p, &logs.join("fpm-slow.log"));
    assert_eq!(r.source, Some(LogFormat::FpmSlow));
    assert_eq!(r.records, 3);
    assert!(
        c.records
            .iter()
            .all(|r| r.event == Event::SlowTrace && r.site == "site1")
    );

    let (r, c) = run(&mut p, &logs.join("fpm-error.log"));
    assert_eq!(r.source, Some(LogFormat::FpmError));
    let count = |ev: Event| c.records.iter().filter(|r| r.event == ev).count();
    assert_eq!(count(Event::SlowRequest), 3);
    assert!(count(Event::MaxChildrenReached) >= 1, "{:?}", c.records);
    assert!(
        count(Event::Lifecycle) >= 2,
        "fpm is running, ready to handle connections"
    );

    let (r, c) = run(&mut p, &logs.join("debug.log"));
    assert_eq!(r.source, Some(LogFormat::WordPress));
    assert_eq!(r.records, 1, "the stack trace is joined into the fatal");
    assert_eq!(c.records[0].event, Event::PhpFatal);

    // The site's aggregate: FPM events under the pool's site, requests
    // under the Host's.
    let agg = p.aggregator();
    let site1 = p.labeler().sites().get("site1").unwrap();
    let t = agg.totals(site1).unwrap();
    assert_eq!(
        t.events[1], 3,
        "slow requests counted once (error log, not slow log)"
    );
    assert!(t.events[0] >= 1, "max_children reached");
    // Above, nginx's Host names `site1-example-com` and FPM's pool `site1`:
    // two sites. With the farm domain configured they are one, whichever
    // log is read first.
    for order in [
        ["nginx-access.log", "fpm-error.log"],
        ["fpm-error.log", "nginx-access.log"],
    ] {
        let mut cfg = PipelineConfig::default();
        cfg.sites.domains = vec!["example.com".into()];
        let mut p = Pipeline::new(&cfg, sitepulse_tests::unix_now()).unwrap();
        for f in order.iter().chain(&["fpm-access.log", "fpm-slow.log"]) {
            run(&mut p, &logs.join(f));
        }
        let names: Vec<&str> = p.labeler().sites().iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["_unknown", "site1"], "{order:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

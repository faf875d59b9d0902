//! A small farm for the serve tests: Traefik, FPM and WordPress lines in
//! the formats of `collector/samples/` (Traefik's CLF access log with
//! router and duration, FPM's error log, WordPress `debug.log`), run
//! through the pipeline into a snapshot, and a [`LiveState`] publishing it.

use std::path::Path;

use sitepulse_pipeline::snapshot::SitesSnapshot;
use sitepulse_pipeline::{NoObserver, Pipeline, PipelineConfig};

use crate::run::{LiveState, Published};

/// 2026-11-22T10:00:00Z, the samples' first second.
pub const T0: i64 = 1_795_341_600;

/// `n` Traefik CLF lines for `router` at `T0 + sec`.
fn clf(out: &mut String, router: &str, n: usize, status: u16, ms: u32, sec: i64) {
    let t = sitepulse_pipeline::time::format_clf(T0 + sec);
    for _ in 0..n {
        out.push_str(&format!(
            "10.42.0.1 - - [{t}] \"GET / HTTP/1.1\" {status} 512 \"-\" \"curl/8\" 1 \"websecure-{router}@kubernetes\" \"http://10.42.1.1:80\" {ms}ms\n"
        ));
    }
}

/// The Traefik lines: `shop-example-com` 8 × 200 (20 ms), 1 × 404
/// (20 ms), 1 × 503 (900 ms); `blog-example-com` 3 × 200 (1.2 s);
/// `quiet-example-com` 1 × 302 (3 ms).
pub fn traefik_lines() -> String {
    let mut s = String::new();
    clf(&mut s, "shop-example-com", 8, 200, 20, 10);
    clf(&mut s, "shop-example-com", 1, 404, 20, 11);
    clf(&mut s, "shop-example-com", 1, 503, 900, 12);
    clf(&mut s, "blog-example-com", 3, 200, 1200, 20);
    clf(&mut s, "quiet-example-com", 1, 302, 3, 30);
    s
}

/// FPM error-log lines: pool `shop` reaches max_children twice and logs
/// one slow request; pool `blog` reaches it once.
pub const FPM_ERROR: &str = "\
[22-Nov-2026 10:00:05] WARNING: [pool shop] server reached pm.max_children setting (5), consider raising it
[22-Nov-2026 10:00:06] WARNING: [pool shop] server reached pm.max_children setting (5), consider raising it
[22-Nov-2026 10:00:07] WARNING: [pool shop] child 4711, script '/var/www/shop/index.php' (request: \"GET /index.php\") executing too slow (5.123456 sec), logging
[22-Nov-2026 10:00:08] WARNING: [pool blog] server reached pm.max_children setting (8), consider raising it
";

/// `debug.log` lines of the install at `/var/www/shop/`.
pub const DEBUG_LOG: &str = "\
[22-Nov-2026 10:00:09 UTC] PHP Warning:  Undefined variable $x in /var/www/shop/wp-content/plugins/a/a.php on line 3
[22-Nov-2026 10:00:09 UTC] PHP Warning:  Undefined variable $y in /var/www/shop/wp-content/plugins/a/a.php on line 4
[22-Nov-2026 10:00:10 UTC] PHP Fatal error:  Uncaught Error: Call to undefined function b() in /var/www/shop/wp-content/plugins/a/a.php:9
";

/// The farm's snapshot, its windows ending at `T0 + 60`.
pub fn snapshot() -> SitesSnapshot {
    let mut p = Pipeline::new(&PipelineConfig::default(), T0 + 60).unwrap();
    let traefik = traefik_lines();
    let inputs: [(&str, Option<&Path>, &[u8]); 3] = [
        ("traefik", None, traefik.as_bytes()),
        ("fpm", None, FPM_ERROR.as_bytes()),
        (
            "debug.log",
            Some(Path::new("/var/www/shop/wp-content/debug.log")),
            DEBUG_LOG.as_bytes(),
        ),
    ];
    for (name, path, bytes) in inputs {
        p.process(name, path, bytes, &mut NoObserver, &mut |_| {})
            .unwrap();
    }
    p.tick(T0 + 60);
    p.snapshot()
}

/// A [`LiveState`] that has published `snap` (and nothing from a reader).
pub fn live(snap: SitesSnapshot) -> LiveState {
    let (tx, _rx) = std::sync::mpsc::sync_channel(1);
    let live = LiveState::new(tx, "/tmp/sitepulse-fixture-ckpt.json".into(), None);
    live.publish(Published {
        seq: 1,
        taken: Some(std::time::SystemTime::now()),
        sites: snap,
        ..Published::default()
    });
    live
}

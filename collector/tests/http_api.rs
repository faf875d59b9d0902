//! `/api/v1/sites` over a real `sitepulse run`: the query parameters
//! choose and order what is listed, every window says the seconds it
//! covers and its rate divides by them, and every error (a bad parameter,
//! an unknown site, a path no route serves) is a JSON body with a message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sitepulse_tests::http::{get_with, json};
use sitepulse_tests::{Collector, append, clf_line, tmpdir, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const WAIT: Duration = Duration::from_secs(20);

fn config(d: &Path) -> PathBuf {
    let p = d.join("sitepulse.yaml");
    std::fs::write(
        &p,
        format!(
            "tail:\n  sources:\n    - include: [\"{}/logs/*.log\"]\n  read_existing: beginning\n  checkpoint_path: \"{}/ckpt.json\"\nserver:\n  listen: \"127.0.0.1:0\"\n",
            d.display(),
            d.display()
        ),
    )
    .unwrap();
    p
}

/// shop-example-com: 9 × 200 (20 ms) and 1 × 503 (900 ms);
/// blog-example-com: 3 × 200 (1.2 s); quiet-example-com: 1 × 200 (3 ms).
fn lines() -> String {
    let mut s = String::new();
    for _ in 0..9 {
        s += &clf_line("shop-example-com", 200, 20);
    }
    s += &clf_line("shop-example-com", 503, 900);
    for _ in 0..3 {
        s += &clf_line("blog-example-com", 200, 1200);
    }
    s += &clf_line("quiet-example-com", 200, 3);
    s
}

fn names(v: &Value) -> Vec<&str> {
    v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site"].as_str().unwrap())
        .collect()
}

/// GET `path`: status and JSON body (whatever the status).
fn call(port: u16, path: &str) -> (u16, Value) {
    let (st, body) = get_with(port, path, &[]).unwrap();
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (st, v)
}

#[test]
fn sites_honours_window_sort_limit_and_site_and_errors_are_json() {
    let d = tmpdir("http-api", "sites");
    append(&d.join("logs/access.log"), &lines());
    let cfg = config(&d);
    let mut c = Collector::start(BIN, &[Path::new("--config"), &cfg], &d.join("run.log"));
    let port = c.port;
    wait_for("14 lines", WAIT, || {
        json(port, "/api/v1/status")["lines"] == 14
    });

    let v = json(port, "/api/v1/sites?window=1m&sort=requests&limit=2");
    assert_eq!(v["window"], "1m");
    assert_eq!(v["sort"], "requests");
    assert_eq!(names(&v), ["shop-example-com", "blog-example-com"], "{v}");
    let shop = &v["sites"][0];
    assert!(
        shop.get("5m").is_none() && shop.get("1h").is_none(),
        "{shop}"
    );
    let m1 = &shop["1m"];
    assert_eq!(m1["secs"], 60);
    assert_eq!(m1["requests"], 10);
    assert_eq!(m1["errors"], 1);
    assert_eq!(m1["error_ratio"], 0.1);
    assert_eq!(m1["codes"]["503"], 1);
    // Right after the start the window covers a few seconds, and the rate
    // divides by them, not by 60.
    let covered = m1["covered_secs"].as_f64().unwrap();
    assert!(covered > 0.0 && covered < 60.0, "{m1}");
    let rps = m1["rps"].as_f64().unwrap();
    assert!(
        (rps - 10.0 / covered).abs() <= 0.01 * 10.0 / covered,
        "{m1}"
    );

    // Defaults: every window, busiest (1m rps) first.
    let v = json(port, "/api/v1/sites");
    assert_eq!(v["window"], Value::Null);
    assert_eq!(v["sort"], "rps");
    assert_eq!(
        names(&v)[..3],
        ["shop-example-com", "blog-example-com", "quiet-example-com"]
    );
    for w in ["1m", "5m", "1h"] {
        assert_eq!(v["sites"][0][w]["requests"], 10, "{w}: {v}");
    }

    let v = json(port, "/api/v1/sites?sort=p95&window=5m");
    assert_eq!(names(&v)[0], "blog-example-com", "{v}");
    let v = json(
        port,
        "/api/v1/sites?sort=name&site=shop-example-com,quiet-example-com",
    );
    assert_eq!(names(&v), ["quiet-example-com", "shop-example-com"]);
    let v = json(port, "/api/v1/sites/blog-example-com");
    assert_eq!(v["1h"]["requests"], 3);

    for (path, status, param, says) in [
        (
            "/api/v1/sites?window=15m",
            400,
            Some("window"),
            "use one of 1m, 5m, 1h",
        ),
        (
            "/api/v1/sites?limit=-1",
            400,
            Some("limit"),
            "from 1 to 100000",
        ),
        ("/api/v1/sites?sort=slowest", 400, Some("sort"), "p95"),
        (
            "/api/v1/sites?order=asc",
            400,
            None,
            "unknown parameter \"order\"",
        ),
        (
            "/api/v1/sites?site=nope",
            404,
            None,
            "no site named \"nope\"",
        ),
        ("/api/v1/sites/nope", 404, None, "no site named \"nope\""),
        ("/api/v1/nope", 404, None, "no endpoint at /api/v1/nope"),
    ] {
        let (st, v) = call(port, path);
        assert_eq!(st, status, "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{path}: {v}");
        assert_eq!(v["parameter"].as_str(), param, "{path}: {v}");
    }

    c.sigterm(Duration::from_secs(10)).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

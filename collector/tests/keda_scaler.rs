//! KEDA's external scaler, called by a gRPC client nobody here wrote:
//! Python grpcio, with stubs generated from
//! `collector/proto/externalscaler.proto` at test time by grpcio-tools
//! (`keda_scaler.py` beside this file). The scaler answers from a real
//! collector (`Live::start`) tailing Traefik lines, on a free loopback
//! port.
//!
//! Python comes from the venv `$SITEPULSE_PYVENV` (tests/run-all.sh makes
//! it), else one this test makes under the target directory (`pip install
//! grpcio grpcio-tools`). Without python or grpcio the test is skipped,
//! except under CI (`CI` set), where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sitepulse::autoscale::keda::{KedaScaler, Method};
use sitepulse::autoscale::query::Window;
use sitepulse::autoscale::values::{Freshness, View};
use sitepulse::config::Config;
use sitepulse::run::Live;
use sitepulse_tests::{append, clf_line, tmpdir, wait_for};

/// Skips the test (or fails it under CI) with `why`.
fn unavailable(why: &str) -> Option<PathBuf> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}: tests/run-all.sh installs it"
    );
    eprintln!("skipped: {why}");
    None
}

fn has_grpc(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import grpc, grpc_tools.protoc"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A python with grpcio and grpcio-tools, making the venv if needed.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("SITEPULSE_PYVENV").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyvenv-grpc"),
        PathBuf::from,
    );
    let py = venv.join("bin/python");
    if has_grpc(&py) {
        return Some(py);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return unavailable("python3 with venv (Debian: python3-venv) is missing");
    }
    let installed = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "grpcio", "grpcio-tools"])
        .status()
        .is_ok_and(|s| s.success());
    if !installed || !has_grpc(&py) {
        return unavailable("pip could not install grpcio and grpcio-tools");
    }
    Some(py)
}

fn config(d: &Path) -> Config {
    let text = format!(
        "tail:\n  sources:\n    - include: [\"{0}/logs/*.log\"]\n  read_existing: beginning\n  checkpoint_path: \"{0}/ckpt.json\"\n",
        d.display()
    );
    Config::from_yaml(&d.join("sitepulse.yaml"), &text).unwrap()
}

#[test]
fn python_grpcio_client_against_a_real_collector() {
    let Some(py) = python() else { return };
    let d = tmpdir("keda", "grpcio");
    let proto_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let stubs = d.join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    let protoc = Command::new(&py)
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(&proto_dir)
        .arg(format!("--python_out={}", stubs.display()))
        .arg(format!("--grpc_python_out={}", stubs.display()))
        .arg(proto_dir.join("externalscaler.proto"))
        .output()
        .unwrap();
    assert!(
        protoc.status.success(),
        "grpc_tools.protoc: {}",
        String::from_utf8_lossy(&protoc.stderr)
    );

    // shop-example-com: 30 × 200 and 10 × 503; quiet-example-com: one
    // line now, 600 more when the client has its stream's first state.
    let log = d.join("logs/access.log");
    let mut lines = String::new();
    for i in 0..40 {
        lines += &clf_line("shop-example-com", if i < 30 { 200 } else { 503 }, 20);
    }
    lines += &clf_line("quiet-example-com", 200, 3);
    append(&log, &lines);
    let live = Live::start(&config(&d), None).unwrap();
    let state = live.state().clone();
    let freshness = Freshness::default();
    let requests = |site: &str| {
        View::load(&state, freshness)
            .values(site, Window::OneMinute)
            .map_or(0, |v| v.requests)
    };
    wait_for("41 lines in the snapshot", Duration::from_secs(20), || {
        requests("shop-example-com") == 40 && requests("quiet-example-com") == 1
    });
    // quiet's one request over more than 2 s is below its threshold (5/s).
    std::thread::sleep(Duration::from_secs(2));
    let more: String = (0..600)
        .map(|_| clf_line("quiet-example-com", 200, 3))
        .collect();
    let more_path = d.join("more.log");
    std::fs::write(&more_path, more).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let scaler = KedaScaler::new(state.clone(), freshness);
    let stats = scaler.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(scaler.serve(listener, async {
        let _ = stopped.await;
    }));

    let rps = |v: &View| v.values("shop-example-com", Window::OneMinute).unwrap().rps;
    let rps_before = rps(&View::load(&state, freshness));
    let run = Command::new(&py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keda_scaler.py"))
        .arg(port.to_string())
        .arg(&stubs)
        .arg(&log)
        .arg(&more_path)
        .output()
        .unwrap();
    let rps_after = rps(&View::load(&state, freshness));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "keda_scaler.py failed: {}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    eprintln!("keda_scaler.py: {out}");

    // No new shop lines: its rate only falls as the window covers more.
    let got = out["rps"].as_f64().unwrap();
    assert!(
        rps_after <= got && got <= rps_before && got > 0.0,
        "{rps_after} <= {got} <= {rps_before}"
    );
    assert_eq!(out["rps_int"].as_i64().unwrap(), got.round() as i64);
    let from_env = out["rps_from_env"].as_f64().unwrap();
    assert!(rps_after <= from_env && from_env <= rps_before, "{out}");
    assert_eq!(out["error_ratio"], 0.25);
    assert_eq!(out["error_ratio_int"], 0);
    assert_eq!(out["active_at_0"], true);
    assert_eq!(out["active_at_1e6"], false);
    assert_eq!(out["errors"].as_array().unwrap().len(), 5, "{out}");
    assert_eq!(out["stream_first"], false, "{out}");
    assert!(out["stream_first_secs"].as_f64().unwrap() < 1.0, "{out}");
    assert_eq!(out["stream_second"], true, "{out}");
    // Tail, a publication (every second) and a check (every 100 ms); 3 s
    // leaves room for a loaded CI machine.
    assert!(out["stream_change_secs"].as_f64().unwrap() < 3.0, "{out}");

    // What the service counted, and the cancelled stream is gone.
    wait_for("the stream closed", Duration::from_secs(5), || {
        stats.streams_open() == 0
    });
    assert_eq!(stats.calls(Method::GetMetricSpec), 3);
    assert_eq!(stats.calls(Method::GetMetrics), 6);
    assert_eq!(stats.errors(Method::GetMetrics), 3);
    assert_eq!(stats.calls(Method::IsActive), 3);
    assert_eq!(stats.errors(Method::IsActive), 1);
    assert_eq!(stats.calls(Method::StreamIsActive), 1);
    assert_eq!(stats.calls(Method::StreamMetricSpec), 1);

    stop.send(()).unwrap();
    rt.block_on(server).unwrap().unwrap();
    live.stop().unwrap();
}

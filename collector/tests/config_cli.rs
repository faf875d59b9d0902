//! The config and command-line surface as a user meets it: `validate`,
//! `${VAR}` in a config, the `--listen` forms, the log flags, shell
//! completions and the exit codes docs/cli.md lists.

// kill(2) only, for SIGTERM to a run started here.
#![allow(unsafe_code)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sitepulse_tests::http::get_with;
use sitepulse_tests::{Collector, tmpdir};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const GRACE: Duration = Duration::from_secs(10);

fn bin() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("SITEPULSE_LOG");
    c
}

fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A config in `d` tailing `d/logs/*.log`, with `extra` appended.
fn config(d: &Path, extra: &str) -> PathBuf {
    let p = d.join("sitepulse.yaml");
    std::fs::write(
        &p,
        format!(
            "tail:\n  sources:\n    - include: [\"{0}/logs/*.log\"]\n  checkpoint_path: \"{0}/ckpt.json\"\n{extra}",
            d.display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn validate_prints_what_would_run_or_every_problem() {
    let d = tmpdir("config-cli", "validate");
    std::fs::write(d.join("logs/a.log"), "x\n").unwrap();
    let cfg = config(&d, "server:\n  listen: \"localhost:9464\"\n");
    let (code, out, err) = run(bin().args(["validate", "--config"]).arg(&cfg));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with(&format!("{}: valid\n", cfg.display())),
        "{out}"
    );
    assert!(
        out.contains("[0] format auto, multiline parse.multiline, 1 file match now"),
        "{out}"
    );
    assert!(
        out.contains("server: listen localhost:9464 (127.0.0.1:9464"),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");

    // Every problem, in file order, each as file:line:column: field: message.
    std::fs::write(
        &cfg,
        "parse:\n  format: apache\ntail:\n  sources:\n    - include: [\"/var/log/[\"]\n  poll_ms: 1\n  read_existing: begining\nserver: {listen: \"localhost\", max_connections: 0}\n",
    )
    .unwrap();
    let (code, out, err) = run(bin().args(["validate", "--config"]).arg(&cfg));
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty(), "{out}");
    let f = cfg.display();
    let want = [
        format!("{f}:2:11: parse.format: unknown format \"apache\""),
        format!("{f}:5:17: tail.sources[0].include[0]: \"/var/log/[\""),
        format!("{f}:6:12: tail.poll_ms: must be between 10 and 60000, got 1"),
        format!(
            "{f}:7:18: tail.read_existing: `begining` is not allowed here; one of: end, beginning (did you mean `beginning`?)"
        ),
        format!("{f}:8:18: server.listen: \"localhost\" has no port"),
        format!("{f}:8:48: server.max_connections: must be between 1 and 1048576, got 0"),
        format!("{f}: 6 problems; `run` would refuse this config"),
    ];
    let got: Vec<&str> = err.lines().collect();
    assert_eq!(got.len(), want.len(), "{err}");
    for (g, w) in got.iter().zip(&want) {
        assert!(g.starts_with(w.as_str()), "{g}\n  wanted {w}");
    }

    // The embedded default is valid; a missing file is not.
    let (code, out, _) = run(bin().arg("validate"));
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with("<embedded default>: valid\nsources: 5\n"),
        "{out}"
    );
    let (code, _, err) = run(bin().args(["validate", "--config", "/nonexistent.yaml"]));
    assert_eq!(code, Some(1));
    assert!(err.starts_with("/nonexistent.yaml: "), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_config_without_sources_warns_in_validate_and_run() {
    let d = tmpdir("config-cli", "nosources");
    let cfg = d.join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "tail:\n  sources: []\n  checkpoint_path: \"{}/ckpt.json\"\nserver:\n  listen: \"127.0.0.1:0\"\n",
            d.display()
        ),
    )
    .unwrap();
    let (code, out, err) = run(bin().args(["validate", "--config"]).arg(&cfg));
    assert_eq!(code, Some(0));
    assert!(out.contains("sources: 0\n"), "{out}");
    assert!(err.starts_with("warning: tail.sources is empty"), "{err}");
    let mut c = Collector::start(BIN, &[Path::new("--config"), &cfg], &d.join("run.log"));
    assert!(
        c.log_text().contains("WARN tail.sources is empty"),
        "{}",
        c.log_text()
    );
    c.sigterm(GRACE).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn env_references_in_the_config() {
    let d = tmpdir("config-cli", "env");
    let cfg = config(
        &d,
        "server:\n  listen: \"${SP_TEST_LISTEN}\"\n  shutdown_grace_secs: ${SP_TEST_GRACE:-7}\nsites:\n  router_pattern: '^(?P<site>.+)$$'\n",
    );
    let (code, out, err) = run(bin()
        .args(["validate", "--config"])
        .arg(&cfg)
        .env("SP_TEST_LISTEN", "127.0.0.1:9999")
        .env_remove("SP_TEST_GRACE"));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("environment: SP_TEST_GRACE (unset: default used), SP_TEST_LISTEN\n"),
        "{out}"
    );
    assert!(
        out.contains("server: listen 127.0.0.1:9999 (127.0.0.1:9999); at most 1024 connections; shutdown grace 7 s"),
        "{out}"
    );
    // Unset and without a default: named, with its line, and run refuses.
    let (code, _, err) = run(bin()
        .args(["run", "--config"])
        .arg(&cfg)
        .env_remove("SP_TEST_LISTEN"));
    assert_eq!(code, Some(2));
    assert_eq!(
        err.trim_end(),
        format!(
            "sitepulse: {}:6:12: server.listen: environment variable SP_TEST_LISTEN is not set (give a default with `${{SP_TEST_LISTEN:-default}}`)",
            cfg.display()
        )
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// Starts `run` with `args` and waits for its `listening on http://` line:
/// the address it printed.
fn listening(args: &[&str], log: &Path) -> (std::process::Child, String) {
    let out = std::fs::File::create(log).unwrap();
    let mut child = bin()
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(at) = text.find("listening on http://") {
            let addr: String = text[at + 20..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect();
            return (child, addr);
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("run exited ({st}):\n{text}");
        }
        assert!(Instant::now() < deadline, "no listening line:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(child: &mut std::process::Child) -> Option<i32> {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) takes no pointers; `pid` is our unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    child.wait().unwrap().code()
}

#[test]
fn listen_accepts_port_only_host_names_and_ip_forms() {
    let d = tmpdir("config-cli", "listen");
    let cfg = config(&d, "");
    let c = cfg.to_str().unwrap();
    for (listen, prefix) in [
        (":0", "0.0.0.0:"),
        ("localhost:0", "127.0.0.1:"),
        ("0.0.0.0:0", "0.0.0.0:"),
        ("127.0.0.1:0", "127.0.0.1:"),
    ] {
        let (mut child, addr) = listening(&["--config", c, "--listen", listen], &d.join("run.log"));
        assert!(addr.starts_with(prefix), "{listen}: {addr}");
        let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(get_with(port, "/healthz", &[]).unwrap().0, 200, "{listen}");
        assert_eq!(sigterm(&mut child), Some(0), "{listen}");
    }
    // IPv6 loopback, where the host has it.
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let (mut child, addr) =
            listening(&["--config", c, "--listen", "[::1]:0"], &d.join("run.log"));
        assert!(addr.starts_with("[::1]:"), "{addr}");
        assert_eq!(sigterm(&mut child), Some(0));
    }
    // Not an address: a usage error, nothing started.
    let (code, _, err) = run(bin().args(["run", "--config", c, "--listen", "9464"]));
    assert_eq!(code, Some(2));
    assert!(err.contains("\"9464\" has no port"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn log_format_json_and_log_level() {
    let d = tmpdir("config-cli", "logs");
    let cfg = config(&d, "server:\n  listen: \"127.0.0.1:0\"\n");
    let c = cfg.to_str().unwrap();
    let log = d.join("run.log");
    let (mut child, _) = listening(&["--config", c, "--log-format", "json"], &log);
    assert_eq!(sigterm(&mut child), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let listening = events
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("listening on http://127.0.0.1:"))
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(listening["level"], "INFO");
    assert!(listening["timestamp"].is_string());
    let tailing = events.iter().find(|e| e["message"] == "tailing").unwrap();
    assert_eq!(tailing["sources"], 1);

    // --log-level over SITEPULSE_LOG: `warn` hides the info lines.
    let (mut child, _) = {
        let out = std::fs::File::create(&log).unwrap();
        let mut child = bin()
            .args(["run", "--config", c, "--log-level", "warn"])
            .env("SITEPULSE_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(800));
        assert!(child.try_wait().unwrap().is_none());
        (child, ())
    };
    assert_eq!(sigterm(&mut child), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("INFO") && !text.contains("DEBUG"), "{text}");

    // A bad SITEPULSE_LOG is a usage error naming it.
    let (code, _, err) = run(bin().arg("validate").env("SITEPULSE_LOG", "info,=x="));
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("sitepulse: SITEPULSE_LOG=\"info,=x=\""),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = run(bin().args(["completions", shell]));
        assert_eq!(code, Some(0), "{shell}: {err}");
        for word in ["validate", "completions", "log-format", "listen"] {
            assert!(out.contains(word), "{shell}: no {word}");
        }
    }
    let (code, _, _) = run(bin().args(["completions", "tcsh"]));
    assert_eq!(code, Some(2));
}

#[test]
fn exit_codes() {
    // Usage (clap): 2.
    assert_eq!(run(bin().arg("--no-such-flag")).0, Some(2));
    assert_eq!(run(bin().args(["run", "--tap"])).0, Some(2));
    // Config: 2; validate's answer about it: 1.
    let d = tmpdir("config-cli", "exit");
    let bad = d.join("bad.yaml");
    std::fs::write(&bad, "sites:\n  max_sites: lots\n").unwrap();
    let mut empty = bin();
    empty
        .args(["parse", "--config"])
        .arg(&bad)
        .stdin(Stdio::null());
    assert_eq!(run(&mut empty).0, Some(2));
    assert_eq!(
        run(bin().args(["validate", "--config"]).arg(&bad)).0,
        Some(1)
    );
    // A start that fails (the address is taken): 2.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cfg = config(&d, "");
    let (code, _, err) = run(bin()
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}")]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("binding 127.0.0.1:{port}")), "{err}");
    // Nothing parsed: 1 (parse's own failure).
    let mut parse = bin()
        .args(["parse"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(parse.stdin.take());
    let mut s = String::new();
    parse.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(parse.wait().unwrap().code(), Some(1), "{s}");
    let _ = std::fs::remove_dir_all(&d);
}

/// The config deploy/autoscale ships in its ConfigMap passes `validate`
/// (its bearer token file pointed at a file here).
#[test]
fn deploy_autoscale_config_validates() {
    let d = tmpdir("config-cli", "deploy");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/autoscale/config.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut lines = text.lines().skip_while(|l| *l != "  config.yaml: |");
    assert!(
        lines.next().is_some(),
        "no config.yaml key in {}",
        manifest.display()
    );
    let embedded: String = lines
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let token = d.join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    assert!(embedded.contains("/secrets/token"), "{embedded}");
    let cfg = d.join("c.yaml");
    std::fs::write(
        &cfg,
        embedded.replace("/secrets/token", &token.display().to_string()),
    )
    .unwrap();
    let (code, out, err) = run(bin().args(["validate", "--config"]).arg(&cfg));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("autoscale: KEDA scaler (gRPC) 0.0.0.0:9465; /api/v1/autoscale bearer token"),
        "{out}"
    );
    assert!(out.contains("kubernetes: on"), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}

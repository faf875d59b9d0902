//! Rates are true from the first second after a start: a steady load reads
//! as itself in the 1m, 5m and 1h windows while they fill, not as a rate
//! climbing from zero (which would make an autoscaler scale a busy site
//! down after every restart). The minute-long version, side by side with
//! the code before, is `benches/live/warmup.sh`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sitepulse_tests::http::json;
use sitepulse_tests::{Collector, clf_line, open_append, tmpdir};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const RPS: u32 = 50;

#[test]
fn a_steady_load_reads_as_itself_while_the_windows_fill() {
    let d = tmpdir("rates", "warmup");
    let log = d.join("logs/access.log");
    let stop = Arc::new(AtomicBool::new(false));
    // The writer: RPS lines a second, evenly spaced, dated when written.
    let writer = {
        let (stop, mut f) = (stop.clone(), open_append(&log));
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let due = (t0.elapsed().as_secs_f64() * f64::from(RPS)) as u32;
                while n < due {
                    f.write_all(clf_line("steady-example-org", 200, 20).as_bytes())
                        .unwrap();
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    // A backlog the collector does not read (it starts at the end).
    std::thread::sleep(Duration::from_millis(1500));
    let cfg = d.join("sitepulse.yaml");
    std::fs::write(
        &cfg,
        format!(
            "tail:\n  sources:\n    - include: [\"{}/logs/*.log\"]\n  read_existing: end\n  checkpoint_path: \"{}/ckpt.json\"\nserver:\n  listen: \"127.0.0.1:0\"\n",
            d.display(),
            d.display()
        ),
    )
    .unwrap();
    let mut c = Collector::start(BIN, &[Path::new("--config"), &cfg], &d.join("run.log"));
    let started = Instant::now();
    let mut seen = Vec::new();
    for s in 2..=5u64 {
        std::thread::sleep(Duration::from_secs(s).saturating_sub(started.elapsed()));
        let sites = json(c.port, "/api/v1/sites");
        let site = sites["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["site"] == "steady-example-org")
            .cloned()
            .unwrap_or_else(|| panic!("no site after {s} s: {sites}"));
        for w in ["1m", "5m", "1h"] {
            let rps = site[w]["rps"].as_f64().unwrap();
            let covered = site[w]["covered_secs"].as_f64().unwrap();
            seen.push(format!("{s}s {w}: {rps:.1} rps over {covered:.2} s"));
            // The covered time is the time since the start, not the window.
            assert!(
                covered > s as f64 - 1.0 && covered < s as f64 + 1.5,
                "{seen:?}"
            );
            // Within 25% of the load on a busy 2-core CI machine (the
            // lines read so far lag the clock by a few ms to a few 100 ms);
            // the code before read 2/60, 3/60 ... of it.
            let want = f64::from(RPS);
            assert!(rps > 0.75 * want && rps < 1.15 * want, "{seen:?}");
        }
    }
    eprintln!("{seen:#?}");
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    c.sigterm(Duration::from_secs(10)).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

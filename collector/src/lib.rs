//! The `sitepulse` binary's library half: config assembly, the `run` role
//! (tailer and pipeline threads publishing snapshots), its HTTP server,
//! the replay report and the demo writer. The binary (`main.rs`) only
//! parses the command line and wires these; integration tests drive them
//! directly. See ARCHITECTURE.md at the repository root.

pub mod autoscale;
pub mod config;
pub mod demo;
pub mod fpm;
pub mod kube;
pub mod limits;
pub mod listen;
pub mod report;
pub mod run;
pub mod serve;
pub mod slo;

/// Wall-clock Unix seconds: the time the binary hands the pipeline (which
/// reads no clock of its own).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Wall-clock time in Unix seconds, fractional.
pub fn unix_now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

//! A new config for a running collector (SIGHUP): the engine of the old
//! one stops as on shutdown (every batch read is finished and the
//! checkpoint saved), and an engine of the new one starts from that very
//! checkpoint, so no line is lost or read twice. What readers hold — the
//! published state, the HTTP server, readiness — stays up throughout.
//!
//! The per-site windows live in the pipeline: when the `parse`, `sites`
//! and `aggregate` sections are unchanged, the old pipeline is handed to
//! the new engine and the windows go on; when one of them changed, a new
//! pipeline starts (names and windows may differ) and rates cover the
//! time since the reload. Counters (lines, parse errors, checkpoint
//! saves, tailer events) carry over either way, so they never go back.
//!
//! `server:` (the HTTP server keeps running), `tail.checkpoint_path`,
//! `tail.checkpoint_corrupt` and `tail.queue_batches` take effect at the
//! next start; a reload that changes them says so and keeps the old
//! values.

use sitepulse_pipeline::{Pipeline, PipelineError};
use sitepulse_tail::{Checkpoints, TailStats};

use super::{Handover, Live, SaveError, StopError};
use crate::config::Config;

/// What a reload did.
#[derive(Debug)]
pub struct Reloaded {
    /// Settings that changed but apply at the next start only; they keep
    /// their running values.
    pub needs_restart: Vec<&'static str>,
    /// The per-site windows went on (the pipeline's sections did not
    /// change).
    pub windows_kept: bool,
    /// The old engine's last checkpoint save failed: the new one starts
    /// from the positions held in memory, which a later save writes.
    pub save_error: Option<SaveError>,
}

/// A reload that did not happen, or left no engine.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new pipeline could not be built; the old engine runs on.
    #[error("the new config's pipeline cannot be built; the running config stays")]
    Refused(#[source] PipelineError),
    /// The old engine stopped but no new one runs: the collector cannot
    /// go on.
    #[error("the reload stopped the collector")]
    Stopped(#[source] StopError),
    /// The new engine could not start: the collector cannot go on.
    #[error("the new config's engine did not start")]
    Failed(#[source] super::LiveError),
}

impl Live {
    /// Switches the running collector to `new` (already validated).
    ///
    /// # Errors
    /// [`ReloadError::Refused`] when nothing changed; the other variants
    /// when the collector has stopped and the process should exit.
    pub fn reload(&mut self, mut new: Config) -> Result<Reloaded, ReloadError> {
        let old = &self.cfg;
        let mut needs_restart = Vec::new();
        // Sections read once at start, kept as they run: the HTTP server,
        // and the autoscaler's servers, the FPM scraper and the Kubernetes
        // client, started once beside the engine; they apply at the next
        // start.
        macro_rules! kept_until_restart {
            ($($section:ident),*) => {$(
                if format!("{:?}", new.$section) != format!("{:?}", old.$section) {
                    needs_restart.push(stringify!($section));
                    new.$section = old.$section.clone();
                }
            )*};
        }
        kept_until_restart!(server, autoscale, fpm_status, kubernetes, slo, alerting);
        if new.tail.checkpoint_path != old.tail.checkpoint_path {
            needs_restart.push("tail.checkpoint_path");
            new.tail
                .checkpoint_path
                .clone_from(&old.tail.checkpoint_path);
        }
        if new.tail.checkpoint_corrupt != old.tail.checkpoint_corrupt {
            needs_restart.push("tail.checkpoint_corrupt");
            new.tail.checkpoint_corrupt = old.tail.checkpoint_corrupt;
        }
        if new.tail.queue_batches != old.tail.queue_batches {
            needs_restart.push("tail.queue_batches");
            new.tail.queue_batches = old.tail.queue_batches;
        }
        let windows_kept = format!("{:?}", new.pipeline()) == format!("{:?}", old.pipeline());
        let old_sinks = old.sinks.clone();
        // Built before the old engine stops, so a failure changes nothing.
        let fresh = if windows_kept {
            None
        } else {
            let now = crate::unix_now_f64();
            let mut p =
                Pipeline::new(&new.pipeline(), now.floor() as i64).map_err(ReloadError::Refused)?;
            p.start_live(now);
            Some(p)
        };
        let Some(engine) = self.engine.take() else {
            return Err(ReloadError::Stopped(StopError::Panicked("pipeline")));
        };
        let (end, tail_base) = engine.stop().map_err(ReloadError::Stopped)?;
        let save_error = end.saved.err();
        // After a good save the file is what the engine held; read back,
        // it also counts as existing (files new to it are read from their
        // start, as files that appear while running are).
        let checkpoints = match &save_error {
            None => Checkpoints::load(end.checkpoints.path()).unwrap_or(end.checkpoints),
            Some(_) => end.checkpoints,
        };
        // Sinks: the same producers and senders when `sinks:` is unchanged;
        // else the old senders stop (the old engine committed every batch
        // to the spools) and the new sinks open on those spools.
        let log_sinks = if new.sinks == old_sinks {
            end.log_sinks
        } else {
            drop(end.log_sinks);
            if let Some(s) = self.sinks.take() {
                s.stop();
            }
            let (set, logs) = super::sinks::SinkSet::open(&new.sinks, &self.state)
                .map_err(|e| ReloadError::Failed(e.into()))?;
            self.sinks = Some(set);
            logs
        };
        let published = self.state.published();
        let handover = Handover {
            checkpoints,
            pipeline: fresh.unwrap_or(end.pipeline),
            rx: end.rx,
            tail_base,
            ingest: published.ingest.clone(),
            seq: published.seq,
            log_sinks,
        };
        let engine = self.spawn(&new, handover).map_err(ReloadError::Failed)?;
        self.engine = Some(engine);
        self.cfg = new;
        Ok(Reloaded {
            needs_restart,
            windows_kept,
            save_error,
        })
    }
}

/// The tailer's counters of the engines before (`base`) added to the
/// current engine's (`now`); gauges (files open, watches, descriptors)
/// are the current engine's.
pub(crate) fn add_counters(base: &TailStats, now: TailStats) -> TailStats {
    let mut s = now;
    s.watch_errors += base.watch_errors;
    s.overflows += base.overflows;
    s.scans += base.scans;
    s.sweeps += base.sweeps;
    s.follow.rotations += base.follow.rotations;
    s.follow.truncations += base.follow.truncations;
    s.follow.copy_bytes += base.follow.copy_bytes;
    s.follow.closed += base.follow.closed;
    s.read_errors += base.read_errors;
    s.orphans_recovered += base.orphans_recovered;
    s.orphans_lost += base.orphans_lost;
    s.unseen_generations += base.unseen_generations;
    s.parks += base.parks;
    s
}

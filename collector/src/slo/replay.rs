//! SLOs over a replay: files run through the pipeline line by line and,
//! each time the lines' own time enters a new minute, the per-site totals
//! go to an [`SloEngine`] at that minute, which is then evaluated. So a
//! day of logs replays in seconds with the burn-rate windows moving in
//! event time, and the result is when each site's SLO would have paged,
//! opened a ticket or recovered (`sitepulse replay --slo`).

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::Path;

use sitepulse_alerting::engine::SloEngine;
use sitepulse_alerting::{Severity, SloStatus};
use sitepulse_lines::{LineReader, RawLine};
use sitepulse_pipeline::label::SiteId;
use sitepulse_pipeline::record::Record;
use sitepulse_pipeline::{FileFeed, FileReport, Observer, Origin, Pipeline};

/// One change of an SLO's alert state, at event time.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The minute it was seen (Unix seconds, event time).
    pub at: i64,
    /// The site.
    pub site: String,
    /// The SLO.
    pub slo: String,
    /// The new state: `page`, `ticket` or `ok`.
    pub state: &'static str,
    /// The alerting row's burn rates (long, short), when alerting.
    pub burn: Option<(String, f64, String, f64)>,
}

/// Watches records' event time for a new minute.
struct MinuteWatch {
    minute: Option<i64>,
    crossed: Option<i64>,
}

impl Observer for MinuteWatch {
    fn record(&mut self, _o: &Origin<'_>, rec: &Record<'_>, _s: SiteId, _n: &str) {
        let Some(ns) = rec.ts_ns else {
            return;
        };
        let m = ns.div_euclid(60_000_000_000);
        if self.minute.is_none_or(|cur| m > cur) {
            if let Some(cur) = self.minute {
                self.crossed = Some(self.crossed.unwrap_or(cur).max(cur));
            }
            self.minute = Some(m);
        }
    }
}

/// Replays with SLO evaluation.
pub struct SloReplay {
    engine: SloEngine,
    watch: MinuteWatch,
    state: std::collections::BTreeMap<(String, String), &'static str>,
    /// Every change seen so far.
    pub transitions: Vec<Transition>,
}

fn state_of(s: &SloStatus) -> &'static str {
    match s.alerting() {
        Some(Severity::Page) => "page",
        Some(Severity::Ticket) => "ticket",
        None => "ok",
    }
}

impl SloReplay {
    /// Over `engine` (a fresh one: replays start with no history).
    pub fn new(engine: SloEngine) -> Self {
        SloReplay {
            engine,
            watch: MinuteWatch {
                minute: None,
                crossed: None,
            },
            state: Default::default(),
            transitions: Vec::new(),
        }
    }

    /// Counts up to the end of the minute `m` ended, then evaluates.
    fn step(&mut self, pipeline: &Pipeline, minute_end: i64) {
        let mut snap = pipeline.snapshot();
        snap.now_unix = Some(minute_end);
        self.engine.observe(&snap);
        for s in self.engine.evaluate() {
            let key = (s.site.clone(), s.slo.name.clone());
            let now = state_of(&s);
            let before = self.state.get(&key).copied().unwrap_or("ok");
            if now != before {
                let burn = s.checks.iter().find(|c| c.alerting).map(|c| {
                    (
                        c.long.to_string(),
                        c.long_burn_rate.unwrap_or(0.0),
                        c.short.to_string(),
                        c.short_burn_rate.unwrap_or(0.0),
                    )
                });
                self.transitions.push(Transition {
                    at: minute_end,
                    site: s.site.clone(),
                    slo: s.slo.name.clone(),
                    state: now,
                    burn,
                });
                self.state.insert(key, now);
            }
        }
    }

    /// Runs one input through `pipeline`, evaluating at each new minute of
    /// event time.
    ///
    /// # Errors
    /// A read error.
    pub fn process<R: Read>(
        &mut self,
        pipeline: &mut Pipeline,
        name: &str,
        path: Option<&Path>,
        mut rdr: R,
    ) -> io::Result<FileReport> {
        const SNIFF: usize = 64 * 1024;
        let mut prefix = Vec::with_capacity(SNIFF);
        (&mut rdr).take(SNIFF as u64).read_to_end(&mut prefix)?;
        let mut feed = pipeline.open_feed(name, path, &prefix, prefix.len() < SNIFF);
        let mut reader = LineReader::new(io::Cursor::new(prefix).chain(rdr));
        while reader.next_batch(|line| self.line(pipeline, &mut feed, line))? {}
        reader.finish(|line| self.line(pipeline, &mut feed, line));
        pipeline.flush(&mut feed, &mut self.watch);
        let mut report = feed.report().clone();
        let stats = reader.stats();
        report.lines = stats.lines;
        report.bytes = stats.bytes;
        Ok(report)
    }

    fn line(&mut self, pipeline: &mut Pipeline, feed: &mut FileFeed, line: RawLine<'_>) {
        pipeline.feed(feed, line, &mut self.watch);
        if let Some(m) = self.watch.crossed.take() {
            // The record that crossed is already counted: it lands in the
            // minute that ended, a second early at most.
            self.step(pipeline, m * 60 + 59);
        }
    }

    /// Evaluates the last minute seen.
    pub fn finish(&mut self, pipeline: &Pipeline) {
        if let Some(m) = self.watch.minute {
            self.step(pipeline, m * 60 + 59);
        }
    }

    /// The transitions as a table.
    pub fn table(&self) -> String {
        let mut out = String::from("SLO alerts over the replay (event time, UTC):\n");
        if self.transitions.is_empty() {
            out.push_str("  none: every SLO stayed within its burn-rate thresholds\n");
        }
        for t in &self.transitions {
            let when = jiff::Timestamp::from_second(t.at)
                .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|_| t.at.to_string());
            let _ = write!(out, "  {when}  {:<6}  {}/{}", t.state, t.site, t.slo);
            if let Some((l, lr, s, sr)) = &t.burn {
                let _ = write!(out, "  burn {l} {lr:.1}x, {s} {sr:.1}x");
            }
            out.push('\n');
        }
        out
    }
}

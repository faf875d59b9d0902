//! Drives one input through the hot path: read → frame → parse → label →
//! aggregate, detecting each file's framing and format from its first
//! lines. The pipeline owns the labeler and the aggregator; an
//! [`Observer`] sees every record and every line that did not parse (with
//! its raw bytes), which is how `parse` prints and how later sinks attach.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

use crate::aggregate::Aggregator;
use crate::config::{FormatChoice, FramingChoice, ParseConfig, PipelineConfig};
use crate::field::Field;
use crate::frame::{
    FrameConfig, Framed, Framer, Framing, LineReader, Message, PodLabels, PodMeta, RawLine,
};
use crate::join::JoinRule;
use crate::label::{FileKeys, FileSites, Labeler, SiteId};
use crate::parse::{self, ParseError};
use crate::record::{LogFormat, Record};
use crate::snapshot::SitesSnapshot;

/// Bytes read from the start of an input to detect framing and format.
const SNIFF_BYTES: usize = 64 * 1024;

/// How far past wall-clock time a line may be dated before it counts as
/// `future` (clock skew between nodes, buffered writers).
pub const MAX_FUTURE_SECS: i64 = 300;

/// What one input was and what became of its lines.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// Name shown to the user (path, or `-` for stdin).
    pub name: String,
    /// Detected or configured format; `None` when nothing matched.
    pub source: Option<LogFormat>,
    /// Detected or configured framing.
    pub framing: Option<Framing>,
    /// Physical lines read.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Records parsed (after reassembly and joining).
    pub records: u64,
    /// Lines (messages) that did not parse, by reason.
    pub unparsed: BTreeMap<&'static str, u64>,
    /// Messages cut at `max_line_bytes` (parsed or not).
    pub truncated: u64,
    /// Parsed records whose bytes are not valid UTF-8 (kept, and counted).
    pub invalid_utf8: u64,
}

impl FileReport {
    /// All lines that did not become records.
    pub fn unparsed_total(&self) -> u64 {
        self.unparsed.values().sum()
    }
}

/// Where a record or a bad line came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The input's display name.
    pub name: &'a str,
    /// The framed message (bytes, stream, container time, offsets).
    pub message: &'a Message<'a>,
    /// What the file's path says of its pod (Kubernetes log layouts).
    pub pod: Option<&'a PodLabels>,
    /// The event second the record was counted in: its own time, else the
    /// container runtime's, else the previous record's (a sink stamps a
    /// line without a time with it, so a re-read stamps it the same).
    pub event_sec: i64,
}

/// Receives the pipeline's output besides the aggregate. The method
/// defaults to doing nothing.
pub trait Observer {
    /// A record, labelled with its site (id and name). Every message is
    /// one: a line that did not parse as its file's format comes as a
    /// [`LogFormat::Text`] record with [`Record::error`] set.
    fn record(&mut self, _origin: &Origin<'_>, _rec: &Record<'_>, _site: SiteId, _site_name: &str) {
    }
}

/// An observer that ignores everything (replay).
pub struct NoObserver;

impl Observer for NoObserver {}

/// The hot path for any number of inputs, sharing one site table and one
/// aggregate.
///
/// A clone is a deep copy, and cheap while the pipeline is still empty:
/// building one compiles the labeler's regexes, so the pipeline fuzz target
/// builds it once and clones it per input.
#[derive(Debug, Clone)]
pub struct Pipeline {
    parse: ParseConfig,
    /// `parse.multiline`, compiled.
    join: JoinRule,
    labeler: Labeler,
    agg: Aggregator,
    /// Event second of the last record, for lines without a timestamp.
    last_sec: Option<i64>,
    /// Wall-clock second as the caller last said ([`tick`](Self::tick),
    /// [`refresh_clock`](Self::refresh_clock)): the pipeline reads no clock.
    now_sec: i64,
    /// Records go to the aggregate (off for a pipeline that only labels
    /// records for a sink re-reading a file: see [`set_aggregate`](Self::set_aggregate)).
    aggregate: bool,
}

/// A pipeline could not be built from the config.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The sites section is invalid.
    #[error(transparent)]
    Label(#[from] crate::label::LabelConfigError),
    /// The aggregate section is invalid.
    #[error(transparent)]
    Aggregate(#[from] crate::aggregate::AggregateConfigError),
    /// `parse.multiline` is invalid.
    #[error("parse.multiline.{0}")]
    Multiline(#[from] crate::join::JoinConfigError),
}

impl Pipeline {
    /// Builds the stages from a config, with the wall clock at
    /// `now_unix_secs` (see [`refresh_clock`](Self::refresh_clock)).
    ///
    /// # Errors
    /// [`PipelineError`] when a section is invalid (a config that passed
    /// [`PipelineConfig::validate`] never is).
    pub fn new(cfg: &PipelineConfig, now_unix_secs: i64) -> Result<Self, PipelineError> {
        let mut p = Self {
            join: JoinRule::compile(&cfg.parse.multiline)?,
            parse: cfg.parse.clone(),
            labeler: Labeler::new(&cfg.sites)?,
            agg: Aggregator::new(&cfg.aggregate)?,
            last_sec: None,
            now_sec: now_unix_secs,
            aggregate: true,
        };
        p.refresh_clock(now_unix_secs);
        Ok(p)
    }

    /// Whether records are counted in the per-site windows. A pipeline
    /// that re-reads a file for a sink that fell behind only labels them:
    /// the live pipeline counted those lines already.
    pub fn set_aggregate(&mut self, on: bool) {
        self.aggregate = on;
    }

    /// The labeler (site table and its counters).
    pub fn labeler(&self) -> &Labeler {
        &self.labeler
    }

    /// The aggregate.
    pub fn aggregator(&self) -> &Aggregator {
        &self.agg
    }

    /// An immutable copy of every site's windows, for readers that must
    /// not wait on (or hold up) ingest.
    pub fn snapshot(&self) -> SitesSnapshot {
        SitesSnapshot::take(&self.agg, &self.labeler)
    }

    /// Starts an input: detects framing and format from `prefix` (its
    /// first bytes; `complete` when that is the whole input so far) and
    /// resolves the file-level site keys of `path`. Lines then go in with
    /// [`feed`](Self::feed), in file order; this is how a tailer drives the
    /// pipeline one file at a time.
    pub fn open_feed(
        &mut self,
        name: &str,
        path: Option<&Path>,
        prefix: &[u8],
        complete: bool,
    ) -> FileFeed {
        self.open_feed_as(name, path, prefix, complete, self.parse.format, None)
    }

    /// [`open_feed`](Self::open_feed) with the format and multi-line rule a
    /// tail source names (`auto` falls back to `parse.format`, no rule to
    /// `parse.multiline`).
    pub fn open_feed_as(
        &mut self,
        name: &str,
        path: Option<&Path>,
        prefix: &[u8],
        complete: bool,
        format: FormatChoice,
        join: Option<&JoinRule>,
    ) -> FileFeed {
        let format = match format {
            FormatChoice::Auto => self.parse.format,
            fixed => fixed,
        };
        let (framing, source) = sniff(prefix, &self.parse, format, complete);
        let join = join.unwrap_or(&self.join);
        let keys = file_keys(path);
        FileFeed {
            name: name.to_owned(),
            pod: path.and_then(PodLabels::from_path).map(Box::new),
            source,
            framer: Framer::with_rule(
                FrameConfig {
                    max_line_bytes: self.parse.max_line_bytes,
                    framing,
                },
                join.for_source(source),
                join.max_lines,
            ),
            max_wait_ms: join.max_wait_ms,
            file_sites: self.labeler.file_sites(&keys),
            report: FileReport {
                name: name.to_owned(),
                source,
                framing,
                ..FileReport::default()
            },
        }
    }

    /// Runs one physical line of `feed`'s input through the stages.
    ///
    /// # Performance
    /// Per line: framing, one parse, one label lookup, one aggregate update.
    #[inline]
    pub fn feed(&mut self, feed: &mut FileFeed, line: RawLine<'_>, obs: &mut impl Observer) {
        feed.report.lines += 1;
        feed.report.bytes = line.end_offset.max(feed.report.bytes);
        let (framer, mut stage) = self.stage(feed, obs);
        framer.push(line, |m| stage.framed(m));
    }

    /// Hands out what `feed` still holds (a partial CRI line, a multi-line
    /// record waiting for its next start): at end of input, or when the
    /// file has been idle long enough.
    pub fn flush(&mut self, feed: &mut FileFeed, obs: &mut impl Observer) {
        let (framer, mut stage) = self.stage(feed, obs);
        framer.flush(|m| stage.framed(m));
        stage.report.framing = framer.framing().or(stage.report.framing);
    }

    /// Splits `feed` into its framer and the per-message stage that borrows
    /// the pipeline's labeler and aggregate.
    fn stage<'p, O: Observer>(
        &'p mut self,
        feed: &'p mut FileFeed,
        obs: &'p mut O,
    ) -> (&'p mut Framer, Stage<'p, O>) {
        let FileFeed {
            name,
            max_wait_ms: _,
            pod,
            source,
            framer,
            file_sites,
            report,
        } = feed;
        let stage = Stage {
            name,
            pod: pod.as_deref(),
            source: *source,
            labeler: &mut self.labeler,
            agg: &mut self.agg,
            aggregate: self.aggregate,
            file_sites,
            last_sec: &mut self.last_sec,
            now_sec: self.now_sec,
            report,
            obs,
        };
        (framer, stage)
    }

    /// Tells the pipeline the wall-clock time: the latest event second
    /// that still counts in the windows becomes `now_unix_secs` plus
    /// [`MAX_FUTURE_SECS`], and a first record without a time of its own is
    /// dated now. A caller that runs for long calls it on its ticks.
    pub fn refresh_clock(&mut self, now_unix_secs: i64) {
        self.now_sec = now_unix_secs;
        self.agg
            .set_future_limit(now_unix_secs.saturating_add(MAX_FUTURE_SECS));
    }

    /// Live mode's tick: refreshes the clock and moves the windows' end to
    /// `now_unix_secs`, so an idle site's rates fall to zero.
    pub fn tick(&mut self, now_unix_secs: i64) {
        self.refresh_clock(now_unix_secs);
        self.agg.advance_to(now_unix_secs);
    }

    /// Live mode's start: rates cover time from `now_unix` (Unix seconds,
    /// fractional) on, or from the first earlier line read (a backlog), so
    /// they are true from the first second rather than climbing while the
    /// windows fill. Then ticks.
    pub fn start_live(&mut self, now_unix: f64) {
        self.agg.mark_start(now_unix);
        self.tick_at(now_unix);
    }

    /// [`tick`](Self::tick) with a fractional clock: the current second
    /// counts in rates as far as it has passed.
    pub fn tick_at(&mut self, now_unix: f64) {
        let sec = now_unix.floor() as i64;
        self.refresh_clock(sec);
        self.agg.set_clock(now_unix);
    }

    /// Reads `rdr` to its end through every stage. `path` (when the input
    /// is a file) supplies file-level site keys; `progress` is called with
    /// the bytes read so far after each buffer.
    ///
    /// # Errors
    /// Only I/O errors of `rdr`; bad lines are counted in the report.
    pub fn process<R: Read>(
        &mut self,
        name: &str,
        path: Option<&Path>,
        mut rdr: R,
        obs: &mut impl Observer,
        progress: &mut dyn FnMut(u64),
    ) -> io::Result<FileReport> {
        let mut prefix = Vec::with_capacity(SNIFF_BYTES);
        (&mut rdr)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut prefix)?;
        let mut feed = self.open_feed(name, path, &prefix, prefix.len() < SNIFF_BYTES);
        let mut reader = LineReader::with_limits(
            io::Cursor::new(prefix).chain(rdr),
            crate::frame::DEFAULT_BUFFER_BYTES,
            self.parse.max_line_bytes,
        );
        while reader.next_batch(|line| self.feed(&mut feed, line, obs))? {
            progress(reader.offset());
        }
        reader.finish(|line| self.feed(&mut feed, line, obs));
        self.flush(&mut feed, obs);
        progress(reader.offset());
        let lines = reader.stats();
        let mut report = feed.report;
        report.lines = lines.lines;
        report.bytes = lines.bytes;
        Ok(report)
    }
}

/// One input's state inside the pipeline: its detected format, framer and
/// file-level sites, and its report so far.
#[derive(Debug)]
pub struct FileFeed {
    name: String,
    /// How long an open multi-line record waits for its next line.
    max_wait_ms: u64,
    pod: Option<Box<PodLabels>>,
    source: Option<LogFormat>,
    framer: Framer,
    file_sites: FileSites,
    report: FileReport,
}

impl FileFeed {
    /// The input's report so far (`lines` counts lines fed; `bytes` is the
    /// highest end offset seen).
    pub fn report(&self) -> &FileReport {
        &self.report
    }

    /// The earliest container partial line still open (see
    /// [`Framer::partial_offset`]): what an idle file must not flush.
    pub fn partial_offset(&self) -> Option<u64> {
        self.framer.partial_offset()
    }

    /// How long an open multi-line record may wait for its next line before
    /// the caller should [`flush`](Pipeline::flush) it.
    pub fn max_wait_ms(&self) -> u64 {
        self.max_wait_ms
    }

    /// The earliest file offset still held by the framer (an open partial
    /// line or multi-line record): a checkpoint must not pass it.
    pub fn pending_offset(&self) -> Option<u64> {
        self.framer.pending_offset()
    }
}

/// The per-message work, borrowed out of the pipeline for one input.
struct Stage<'p, O> {
    name: &'p str,
    pod: Option<&'p PodLabels>,
    source: Option<LogFormat>,
    labeler: &'p mut Labeler,
    agg: &'p mut Aggregator,
    aggregate: bool,
    file_sites: &'p FileSites,
    last_sec: &'p mut Option<i64>,
    now_sec: i64,
    report: &'p mut FileReport,
    obs: &'p mut O,
}

impl<O: Observer> Stage<'_, O> {
    /// One framed message becomes exactly one record: parsed as the file's
    /// format, or, when that fails (or the framing is broken, or no format
    /// was detected), as [`LogFormat::Text`] with the reason kept in
    /// [`Record::error`] and counted in the report.
    #[inline]
    fn framed(&mut self, m: Framed<'_>) {
        let msg = match m {
            Ok(msg) => msg,
            Err(bad) => {
                let reason = bad.error.reason();
                *self.report.unparsed.entry(reason).or_default() += 1;
                let msg = Message {
                    bytes: bad.line.bytes,
                    start_offset: bad.line.start_offset,
                    end_offset: bad.line.end_offset,
                    truncated: bad.line.truncated,
                    ..Message::default()
                };
                let mut rec = parse::text::parse(msg.bytes);
                rec.error = Some(ParseError::bad(Field::Framing, 0));
                self.emit(&msg, rec);
                return;
            }
        };
        self.report.truncated += u64::from(msg.truncated);
        let source = self.source.unwrap_or(LogFormat::Text);
        let rec = match parse::parse(source, msg.bytes) {
            Ok(rec) => rec,
            // An empty message (a blank line, an empty container line) is
            // a record with an empty message, not an error.
            Err(_) if msg.bytes.trim_ascii().is_empty() => parse::text::parse(msg.bytes),
            Err(e) => self.unparsed(msg.bytes, e),
        };
        self.emit(&msg, rec);
    }

    #[cold]
    fn unparsed<'m>(&mut self, bytes: &'m [u8], e: ParseError) -> Record<'m> {
        *self.report.unparsed.entry(e.reason()).or_default() += 1;
        let mut rec = parse::text::parse(bytes);
        rec.error = Some(e);
        rec
    }

    #[inline]
    fn emit(&mut self, msg: &Message<'_>, mut rec: Record<'_>) {
        self.report.records += 1;
        if std::str::from_utf8(msg.bytes).is_err() {
            self.report.invalid_utf8 += 1;
        }
        // No time on the line: the container runtime's, else the previous
        // record's second (so an old file replays consistently); wall-clock
        // time only for a first record.
        rec.ts_ns = rec.ts_ns.or(msg.ts_ns);
        let sec = match rec.ts_ns {
            Some(ns) => ns.div_euclid(1_000_000_000),
            None => self
                .last_sec
                .or_else(|| self.agg.now())
                .unwrap_or(self.now_sec),
        };
        *self.last_sec = Some(sec);
        let site = self.labeler.label(&rec, self.file_sites);
        if self.aggregate {
            self.agg.record(site, sec, &rec);
        }
        let origin = Origin {
            name: self.name,
            message: msg,
            pod: self.pod,
            event_sec: sec,
        };
        self.obs
            .record(&origin, &rec, site, self.labeler.sites().name(site));
    }
}

/// File-level site keys: the Kubernetes namespace from a pod log path, and
/// the path itself.
pub fn file_keys(path: Option<&Path>) -> FileKeys {
    FileKeys {
        namespace: path
            .and_then(PodMeta::from_path)
            .filter(|m| !m.namespace.is_empty())
            .map(|m| m.namespace.to_owned()),
        path: path.map(|p| p.to_string_lossy().into_owned()),
    }
}

/// Detects framing and format from the first bytes of an input. `complete`
/// says the prefix is the whole input (so its last line is whole too).
fn sniff(
    prefix: &[u8],
    cfg: &ParseConfig,
    format: FormatChoice,
    complete: bool,
) -> (Option<Framing>, Option<LogFormat>) {
    let framing = match cfg.framing {
        FramingChoice::Auto => None,
        FramingChoice::Raw => Some(Framing::Raw),
        FramingChoice::Cri => Some(Framing::Cri),
        FramingChoice::Docker => Some(Framing::Docker),
    };
    let mut reader = LineReader::with_limits(prefix, prefix.len().max(1), cfg.max_line_bytes);
    // No multi-line rule: the framer unwraps without joining.
    let mut framer = Framer::new(
        FrameConfig {
            max_line_bytes: cfg.max_line_bytes,
            framing,
        },
        None,
    );
    let mut sample: Vec<Vec<u8>> = Vec::new();
    let want = cfg.detect_lines;
    let mut keep = |m: Framed<'_>| {
        if let Ok(m) = m
            && sample.len() < want
            && !m.bytes.is_empty()
        {
            sample.push(m.bytes.to_vec());
        }
    };
    // Reading a slice cannot fail. The last line of a prefix cut at
    // SNIFF_BYTES is partial: leave it out of the sample.
    while let Ok(true) = reader.next_batch(|line| framer.push(line, &mut keep)) {}
    if complete {
        reader.finish(|line| framer.push(line, &mut keep));
    }
    framer.flush(&mut keep);
    // No known format: every line is a `text` record.
    let source = format
        .source()
        .or_else(|| parse::detect(sample.iter().map(Vec::as_slice)))
        .or(Some(LogFormat::Text));
    (framer.framing().or(framing), source)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect {
        sites: Vec<String>,
        bad: Vec<(&'static str, Vec<u8>)>,
    }

    impl Observer for Collect {
        fn record(&mut self, _o: &Origin<'_>, rec: &Record<'_>, site: SiteId, _name: &str) {
            self.sites.push(format!("{}", site.0));
            if let Some(e) = rec.error {
                self.bad.push((e.reason(), rec.message.to_vec()));
            }
        }
    }

    /// 2026-12-01T00:00:00Z: after every line below.
    const NOW: i64 = 1_796_083_200;

    const CLF: &str = "10.42.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 512 \"-\" \"curl/8\" 1 \"websecure-site001-example-com@kubernetes\" \"http://10.42.1.1:80\" 12ms\n";

    fn run(input: &[u8], cfg: &PipelineConfig) -> (Pipeline, FileReport, Collect) {
        let mut p = Pipeline::new(cfg, NOW).unwrap();
        let mut c = Collect {
            sites: vec![],
            bad: vec![],
        };
        let r = p.process("t", None, input, &mut c, &mut |_| {}).unwrap();
        (p, r, c)
    }

    #[test]
    fn detects_and_aggregates_clf() {
        let mut input = CLF.repeat(50).into_bytes();
        input.extend_from_slice(b"garbage line\n\n");
        input.extend_from_slice(CLF.as_bytes());
        let (p, r, c) = run(&input, &PipelineConfig::default());
        assert_eq!(r.source, Some(LogFormat::TraefikClf));
        assert_eq!(r.framing, Some(Framing::Raw));
        // Every line is a record: the garbage line and the blank one too.
        assert_eq!(r.records, 53);
        assert_eq!(r.unparsed_total(), 1);
        assert_eq!(c.bad.len(), 1);
        assert_eq!(c.bad[0].1, b"garbage line");
        let site = p.labeler().sites().get("site001-example-com").unwrap();
        assert_eq!(p.aggregator().totals(site).unwrap().requests(), 51);
    }

    #[test]
    fn undetectable_input_is_text_records() {
        let (_, r, c) = run(
            b"\x00\xff\xfe binary\nmore junk\n",
            &PipelineConfig::default(),
        );
        assert_eq!(r.source, Some(LogFormat::Text));
        assert_eq!((r.records, r.unparsed_total()), (2, 0));
        assert_eq!(c.sites.len(), 2);
        assert!(c.bad.is_empty());
    }

    #[test]
    fn over_long_line_is_truncated_counted_and_the_rest_survives() {
        let cfg = PipelineConfig::default();
        let mut input = CLF.repeat(3).into_bytes();
        let huge_ua = "A".repeat(300 * 1024);
        input.extend_from_slice(CLF.replace("curl/8", &huge_ua).as_bytes());
        input.extend_from_slice(CLF.repeat(2).as_bytes());
        let (_, r, c) = run(&input, &cfg);
        assert_eq!(r.lines, 6);
        assert_eq!(r.truncated, 1);
        // The cut line lost its Traefik tail: a text record (capped) with
        // the reason.
        assert_eq!(r.records, 6);
        assert_eq!(r.unparsed_total(), 1);
        assert_eq!(c.bad[0].1.len(), cfg.parse.max_line_bytes);
    }

    #[test]
    fn cri_framed_input() {
        let mut input = Vec::new();
        for _ in 0..5 {
            input.extend_from_slice(b"2026-11-22T10:00:00.5Z stdout F ");
            input.extend_from_slice(CLF.as_bytes());
        }
        // A line split into two partials at an awkward place.
        let (a, b) = CLF.split_at(40);
        input.extend_from_slice(format!("2026-11-22T10:00:01Z stdout P {a}\n").as_bytes());
        input.extend_from_slice(format!("2026-11-22T10:00:01Z stdout F {b}").as_bytes());
        let (_, r, _) = run(&input, &PipelineConfig::default());
        assert_eq!(r.framing, Some(Framing::Cri));
        assert_eq!(r.source, Some(LogFormat::TraefikClf));
        assert_eq!(r.records, 6);
        assert_eq!(r.unparsed_total(), 0);
    }

    /// Offsets of every record, in the order handed out.
    struct Spans(Vec<(u64, u64, bool)>);

    impl Observer for Spans {
        fn record(&mut self, o: &Origin<'_>, _rec: &Record<'_>, _site: SiteId, _name: &str) {
            let framed = o.message.stream != crate::frame::Stream::Unknown;
            self.0
                .push((o.message.start_offset, o.message.end_offset, framed));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Any lines (known formats, stack traces, junk, blank, any bytes)
        /// in any framing: every byte of the input is in a record, raw
        /// records tile the input, and nothing panics.
        #[test]
        fn every_line_leaves_as_a_record(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        CLF.trim_end().to_owned(),
                        "[22-Nov-2026 10:00:00 UTC] PHP Fatal error:  x in /a.php:3".to_owned(),
                        "Stack trace:".to_owned(),
                        "#0 {main}".to_owned(),
                        "\tat a.B.c(B.java:1)".to_owned(),
                        "java.lang.IllegalStateException: boom".to_owned(),
                        "Traceback (most recent call last):".to_owned(),
                        "panic: boom".to_owned(),
                        "goroutine 1 [running]:".to_owned(),
                        "2026-11-22T10:00:00Z ERROR x".to_owned(),
                        "{\"level\":\"warn\",\"msg\":\"m\"}".to_owned(),
                        "2026-11-22T10:00:00.5Z stdout F hello".to_owned(),
                        "2026-11-22T10:00:00.5Z stderr P part".to_owned(),
                        String::new(),
                        "   ".to_owned(),
                    ]),
                    "[ -~]{0,40}",
                ],
                0..40,
            ),
            tail_newline in proptest::bool::ANY,
        ) {
            let mut input = lines.join("\n");
            if tail_newline && !input.is_empty() {
                input.push('\n');
            }
            let mut p = Pipeline::new(&PipelineConfig::default(), NOW).unwrap();
            let mut spans = Spans(Vec::new());
            let r = p.process("t", None, input.as_bytes(), &mut spans, &mut |_| {}).unwrap();
            proptest::prop_assert_eq!(r.records as usize, spans.0.len());
            let framed = spans.0.iter().any(|s| s.2);
            let mut sorted = spans.0.clone();
            sorted.sort_unstable();
            let mut at = 0u64;
            for (start, end, _) in sorted {
                if framed {
                    proptest::prop_assert!(start <= at, "gap at {}", at);
                    at = at.max(end);
                } else {
                    proptest::prop_assert_eq!(start, at);
                    at = end;
                }
            }
            proptest::prop_assert_eq!(at, input.len() as u64);
        }
    }
}

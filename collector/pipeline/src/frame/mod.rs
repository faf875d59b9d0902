//! The frame stage, between the file reader and the parsers: splits bytes
//! into lines ([`LineReader`]), unwraps container log framing (CRI, Docker
//! `json-file`) and reassembles split lines, then joins multi-line records
//! ([`Joiner`]). [`Framer`] wires these for one file.
//!
//! Everything is borrowed from one reused read buffer or from per-instance
//! scratch buffers, so steady state allocates nothing per line, and every
//! buffer is bounded by `max_line_bytes`: longer messages are cut there and
//! flagged `truncated`.
//!
//! ```
//! use sitepulse_pipeline::frame::{FrameConfig, Framer, LineReader, Stream};
//!
//! let file = b"2026-11-22T10:00:00Z stdout P GET /wp-\n\
//!              2026-11-22T10:00:00Z stdout F login.php\n";
//! let mut framer = Framer::new(FrameConfig::default(), None);
//! let mut out = Vec::new();
//! framer
//!     .read_all(&mut LineReader::new(&file[..]), |m| {
//!         let m = m.unwrap();
//!         out.push((m.bytes.to_vec(), m.stream, m.end_offset));
//!     })
//!     .unwrap();
//! assert_eq!(out, [(b"GET /wp-login.php".to_vec(), Stream::Stdout, 79)]);
//! ```

pub mod cri;
mod docker;

pub mod multiline;
pub mod pod;
pub mod rules;

use std::io::Read;

pub use multiline::{JoinStats, Joiner};
pub use pod::{PodLabels, PodMeta};
pub use rules::{CustomRule, LineState, Multiline};
pub use sitepulse_lines::{
    DEFAULT_BUFFER_BYTES, DEFAULT_MAX_LINE_BYTES, LineReader, LineStats, RawLine,
};

/// Whether a line starts a new record of a multi-line format (a line that
/// does not continues the previous one). The parse stage supplies it per
/// format (`parse::record_start`), so framing knows no format.
pub type RecordStart = fn(&[u8]) -> bool;

/// Which output stream of a container a message was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
    /// Not a container log, or a stream name this framer does not know.
    #[default]
    Unknown = 2,
}

impl Stream {
    /// `stdout`, `stderr` or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Unknown => "unknown",
        }
    }
}

/// How a file wraps its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// Plain lines, as the program wrote them.
    Raw,
    /// CRI runtime lines (containerd, CRI-O): `<time> <stream> <P|F> <msg>`.
    Cri,
    /// Docker `json-file`: `{"log":"...\n","stream":"stdout","time":"..."}`.
    Docker,
}

impl Framing {
    /// `raw`, `cri` or `docker`, as in config files.
    pub fn name(self) -> &'static str {
        match self {
            Framing::Raw => "raw",
            Framing::Cri => "cri",
            Framing::Docker => "docker",
        }
    }

    /// Looks a framing up by its [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Framing> {
        [Framing::Raw, Framing::Cri, Framing::Docker]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

/// Guesses a file's framing from its first line: Docker when it is a JSON
/// object whose first member is `"log"` (Docker always writes it first),
/// CRI when it starts with an RFC 3339 time and `stdout`/`stderr` (tagged or
/// not), raw otherwise.
///
/// # Performance
/// A prefix check and at most one timestamp parse.
pub fn detect_framing(first_line: &[u8]) -> Framing {
    let trimmed = first_line.trim_ascii_start();
    if let Some(rest) = trimmed.strip_prefix(b"{") {
        if let Some(rest) = rest.trim_ascii_start().strip_prefix(b"\"log\"")
            && rest.trim_ascii_start().starts_with(b":")
        {
            return Framing::Docker;
        }
        return Framing::Raw;
    }
    match cri::parse_line(first_line) {
        Ok(_) => Framing::Cri,
        Err(_) => Framing::Raw,
    }
}

/// One framed message: a log line (or a reassembled / joined record) ready
/// for a parser. Borrows from the reader's buffer or a framer's scratch
/// buffer, so it lives only for the callback that receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Message<'b> {
    /// The message text, without container framing or line end; for a
    /// multi-line record, its lines joined with `\n`.
    pub bytes: &'b [u8],
    /// Container stream; [`Stream::Unknown`] for raw files.
    pub stream: Stream,
    /// The container runtime's timestamp (of the first part), Unix
    /// nanoseconds; `None` for raw files.
    pub ts_ns: Option<i64>,
    /// Cut at `max_line_bytes` somewhere (line, reassembly or join).
    pub truncated: bool,
    /// File offset of the first physical line that went into this message.
    pub start_offset: u64,
    /// File offset just after the last physical line that completed it.
    pub end_offset: u64,
}

/// Why a physical line could not be unwrapped. Tiny and `Copy`: bad lines
/// are normal input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FrameError {
    /// CRI: the first field is not an RFC 3339 timestamp.
    CriTime = 0,
    /// CRI: the second field is not `stdout` or `stderr`.
    CriStream = 1,
    /// Docker: not a well-formed JSON object.
    DockerJson = 2,
    /// Docker: no `log` string member.
    DockerLog = 3,
    /// Docker: a bad escape inside `log`.
    DockerEscape = 4,
    /// Docker: a `time` that is not an RFC 3339 time with a zone.
    DockerTime = 5,
}

impl FrameError {
    /// Every error, in counter order.
    pub const ALL: [FrameError; 6] = [
        FrameError::CriTime,
        FrameError::CriStream,
        FrameError::DockerJson,
        FrameError::DockerLog,
        FrameError::DockerEscape,
        FrameError::DockerTime,
    ];

    /// A stable reason label for counters: `cri_time`, `docker_json`, ...
    pub fn reason(self) -> &'static str {
        match self {
            FrameError::CriTime => "cri_time",
            FrameError::CriStream => "cri_stream",
            FrameError::DockerJson => "docker_json",
            FrameError::DockerLog => "docker_log",
            FrameError::DockerEscape => "docker_escape",
            FrameError::DockerTime => "docker_time",
        }
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameError::CriTime => {
                "CRI line does not start with an RFC 3339 timestamp with a zone (Z or +hh:mm)"
            }
            FrameError::CriStream => "CRI line has no stdout/stderr stream field",
            FrameError::DockerJson => "Docker json-file line is not a JSON object",
            FrameError::DockerLog => "Docker json-file line has no \"log\" string",
            FrameError::DockerEscape => "Docker json-file \"log\" has a bad escape",
            FrameError::DockerTime => {
                "Docker json-file \"time\" is not an RFC 3339 timestamp with a zone"
            }
        })
    }
}

impl std::error::Error for FrameError {}

/// A physical line that could not be unwrapped, handed back whole so the
/// caller can count it, sample it to its log, or forward it raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed<'b> {
    /// Why.
    pub error: FrameError,
    /// The line as read.
    pub line: RawLine<'b>,
}

/// What a [`Framer`] hands out: a message, or a line it could not unwrap.
pub type Framed<'b> = Result<Message<'b>, Malformed<'b>>;

/// Counters of a [`Framer`], cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Physical lines pushed.
    pub lines: u64,
    /// Messages handed out (after reassembly and joining).
    pub messages: u64,
    /// Messages handed out with the `truncated` flag.
    pub truncated: u64,
    /// Container messages reassembled from more than one line (CRI `P`,
    /// Docker's 16 KiB splits).
    pub reassembled: u64,
    /// Multi-line records made of more than one line.
    pub joined: u64,
    /// Bytes dropped by the cap during reassembly and joining (the line
    /// reader counts its own).
    pub discarded_bytes: u64,
    /// CRI lines without a `P`/`F` tag, taken as full lines.
    pub untagged: u64,
    /// Lines handed back as [`Malformed`], indexed like [`FrameError::ALL`].
    pub malformed: [u64; FrameError::ALL.len()],
}

impl FrameStats {
    /// `(error, count)` for every reason seen at least once.
    pub fn malformed(&self) -> impl Iterator<Item = (FrameError, u64)> + '_ {
        FrameError::ALL
            .into_iter()
            .zip(self.malformed)
            .filter(|&(_, n)| n > 0)
    }
}

/// Options of a [`Framer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameConfig {
    /// Cap on one message (reassembled or joined); longer ones are cut and
    /// flagged. Default [`DEFAULT_MAX_LINE_BYTES`].
    pub max_line_bytes: usize,
    /// The file's framing; `None` detects it from the first non-empty line
    /// with [`detect_framing`].
    pub framing: Option<Framing>,
}

impl Default for FrameConfig {
    fn default() -> Self {
        FrameConfig {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            framing: None,
        }
    }
}

/// The frame stage for one file: unwraps container framing, reassembles
/// split lines per stream, and joins multi-line records when the format is
/// multi-line (per stream, so stdout and stderr records never mix).
///
/// Feed it lines with [`push`](Self::push) (typically from
/// [`LineReader::next_batch`]) and call [`flush`](Self::flush) at end of
/// input or on an idle timeout; or let [`read_all`](Self::read_all) do both.
/// Messages come out in input order per stream; a [`Malformed`] line is
/// handed out at once, ahead of any record still being joined.
#[derive(Debug)]
pub struct Framer {
    max: usize,
    framing: Option<Framing>,
    cri: cri::Reassembler,
    docker: docker::Decoder,
    joiners: [Joiner; 3],
    /// How lines join into records, and each stream's state under it.
    rule: Multiline,
    states: [LineState; 3],
    stats: FrameStats,
}

impl Framer {
    /// A framer for a file whose records start as `multiline` says
    /// (`None`: one message is one record).
    pub fn new(config: FrameConfig, multiline: Option<RecordStart>) -> Self {
        Self::with_rule(
            config,
            multiline.map_or(Multiline::Off, Multiline::Starts),
            u32::MAX,
        )
    }

    /// A framer joining lines under `rule`, at most `max_lines` lines to a
    /// record (the next line then starts a new one).
    pub fn with_rule(config: FrameConfig, rule: Multiline, max_lines: u32) -> Self {
        let max = config.max_line_bytes.max(1);
        let joiner = || Joiner::new(max).with_max_lines(max_lines);
        Framer {
            max,
            framing: config.framing,
            cri: cri::Reassembler::default(),
            docker: docker::Decoder::default(),
            joiners: [joiner(), joiner(), joiner()],
            rule,
            states: [LineState::default(); 3],
            stats: FrameStats::default(),
        }
    }

    /// The framing in use; `None` until detected.
    pub fn framing(&self) -> Option<Framing> {
        self.framing
    }

    /// Changes how records start (after format detection on the first
    /// messages); takes effect for the next line. Flush first if records
    /// are open.
    pub fn set_multiline(&mut self, multiline: Option<RecordStart>) {
        self.rule = multiline.map_or(Multiline::Off, Multiline::Starts);
    }

    /// Frames one physical line; `f` receives the message it completes, if
    /// any (none while a partial or a multi-line record stays open), or the
    /// line as [`Malformed`].
    ///
    /// # Performance
    /// Raw single-line files: no copy. A complete CRI line: no copy. Docker
    /// lines whose `log` has no escape but the final `\n`: no copy.
    /// Reassembly, unescaping and joining copy into reused buffers.
    pub fn push(&mut self, line: RawLine<'_>, mut f: impl FnMut(Framed<'_>)) {
        self.stats.lines += 1;
        let framing = match self.framing {
            Some(fr) => fr,
            // An empty first line says nothing about the framing.
            None if line.bytes.is_empty() => Framing::Raw,
            None => *self.framing.insert(detect_framing(line.bytes)),
        };
        let (rule, states, joiners) = (&self.rule, &mut self.states, &mut self.joiners);
        let joining = rule.is_on();
        let (mut messages, mut truncated) = (0u64, 0u64);
        let mut out = |m: Framed<'_>| match m {
            Ok(m) if joining => {
                let i = m.stream as usize;
                let starts = joins(rule, &mut states[i], &joiners[i], m.bytes);
                joiners[i].push(m, starts, |m| {
                    messages += 1;
                    truncated += u64::from(m.truncated);
                    f(Ok(m));
                });
            }
            Ok(m) => {
                messages += 1;
                truncated += u64::from(m.truncated);
                f(Ok(m));
            }
            Err(e) => f(Err(e)),
        };
        match framing {
            Framing::Raw => out(Ok(Message {
                bytes: cap(line.bytes, self.max, &mut self.stats),
                stream: Stream::Unknown,
                ts_ns: None,
                truncated: line.truncated || line.bytes.len() > self.max,
                start_offset: line.start_offset,
                end_offset: line.end_offset,
            })),
            Framing::Cri => self.cri.push(line, self.max, &mut self.stats, &mut out),
            Framing::Docker => self.docker.push(line, self.max, &mut self.stats, &mut out),
        }
        self.stats.messages += messages;
        self.stats.truncated += truncated;
    }

    /// Emits everything still held: open container partials (as if their
    /// final part had come) and open multi-line records. Call at end of
    /// input, or when no line came for a while.
    pub fn flush(&mut self, mut f: impl FnMut(Framed<'_>)) {
        let (rule, states, joiners) = (&self.rule, &mut self.states, &mut self.joiners);
        let joining = rule.is_on();
        let (mut messages, mut truncated) = (0u64, 0u64);
        let mut count = |m: Message<'_>| {
            messages += 1;
            truncated += u64::from(m.truncated);
            f(Ok(m));
        };
        let mut out = |m: Framed<'_>| match m {
            Ok(m) if joining => {
                let i = m.stream as usize;
                let starts = joins(rule, &mut states[i], &joiners[i], m.bytes);
                joiners[i].push(m, starts, &mut count);
            }
            Ok(m) => count(m),
            Err(_) => {}
        };
        self.cri.flush(&mut self.stats, &mut out);
        self.docker.flush(&mut self.stats, &mut out);
        for j in joiners.iter_mut() {
            j.flush(&mut count);
        }
        self.stats.messages += messages;
        self.stats.truncated += truncated;
    }

    /// Reads `rdr` to its end, frames every line (including a final one
    /// without `\n`) and flushes: the whole job for a file replay.
    ///
    /// # Errors
    /// Read errors from `rdr`; messages before the error were delivered.
    pub fn read_all<R: Read>(
        &mut self,
        rdr: &mut LineReader<R>,
        mut f: impl FnMut(Framed<'_>),
    ) -> std::io::Result<()> {
        while rdr.next_batch(|l| self.push(l, &mut f))? {}
        rdr.finish(|l| self.push(l, &mut f));
        self.flush(f);
        Ok(())
    }

    /// File offset of the earliest line still held (an open partial or
    /// multi-line record). A checkpoint must stay at or before it, or a
    /// restart would lose that line; `None` when nothing is held.
    pub fn pending_offset(&self) -> Option<u64> {
        let joined = self.joiners.iter().filter_map(Joiner::pending_offset);
        [self.cri.pending_offset(), self.docker.pending_offset()]
            .into_iter()
            .flatten()
            .chain(joined)
            .min()
    }

    /// File offset of the earliest container partial still open (a CRI
    /// `P` line, a Docker split line waiting for its end): unlike an open
    /// multi-line record, it is not complete when the file goes idle.
    pub fn partial_offset(&self) -> Option<u64> {
        [self.cri.pending_offset(), self.docker.pending_offset()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Counters so far, including the joiners'.
    pub fn stats(&self) -> FrameStats {
        let mut s = self.stats;
        for j in &self.joiners {
            let js = j.stats();
            s.joined += js.joined;
            s.discarded_bytes += js.discarded_bytes;
        }
        s
    }
}

/// Whether `line` starts a record of the stream whose joiner is `j`.
#[inline]
fn joins(rule: &Multiline, st: &mut LineState, j: &Joiner, line: &[u8]) -> bool {
    let open = j.pending_offset().is_some();
    rule.starts(st, line, open) || (!open && rule.orphans_open())
}

/// `bytes` cut at `max` (the reader's cap may be larger than the framer's),
/// counting what is dropped.
#[inline]
fn cap<'b>(bytes: &'b [u8], max: usize, stats: &mut FrameStats) -> &'b [u8] {
    if bytes.len() > max {
        stats.discarded_bytes += (bytes.len() - max) as u64;
        &bytes[..max]
    } else {
        bytes
    }
}

/// One stream's message being reassembled from container parts.
#[derive(Debug, Default)]
struct Partial {
    buf: Vec<u8>,
    open: bool,
    parts: u32,
    ts_ns: Option<i64>,
    truncated: bool,
    start_offset: u64,
    end_offset: u64,
}

impl Partial {
    /// Adds one part (opening the message on the first), capped at `max`.
    fn append(
        &mut self,
        part: &[u8],
        ts_ns: Option<i64>,
        line: &RawLine<'_>,
        max: usize,
        stats: &mut FrameStats,
    ) {
        if !self.open {
            self.open = true;
            self.parts = 0;
            self.ts_ns = ts_ns;
            self.truncated = false;
            self.start_offset = line.start_offset;
        }
        self.parts += 1;
        self.end_offset = line.end_offset;
        self.truncated |= line.truncated;
        let take = max.saturating_sub(self.buf.len()).min(part.len());
        self.buf.extend_from_slice(&part[..take]);
        if take < part.len() {
            self.truncated = true;
            stats.discarded_bytes += (part.len() - take) as u64;
        }
    }

    /// Hands the message out and resets for the next one.
    fn emit(
        &mut self,
        stream: Stream,
        end_offset: u64,
        stats: &mut FrameStats,
        f: &mut impl FnMut(Framed<'_>),
    ) {
        stats.reassembled += u64::from(self.parts > 1);
        f(Ok(Message {
            bytes: &self.buf,
            stream,
            ts_ns: self.ts_ns,
            truncated: self.truncated,
            start_offset: self.start_offset,
            end_offset,
        }));
        self.buf.clear();
        self.open = false;
    }

    fn pending_offset(&self) -> Option<u64> {
        self.open.then_some(self.start_offset)
    }
}

#[cfg(test)]
mod tests;

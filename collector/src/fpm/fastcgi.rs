//! A FastCGI client for one request at a time: enough to ask a PHP-FPM
//! pool for its status page straight on its listen socket, without a web
//! server in front. FPM speaks FastCGI, not HTTP.
//!
//! Written from the FastCGI 1.0 specification
//! (<https://fastcgi-archives.github.io/FastCGI_Specification.html>), which
//! the section numbers below refer to. One request per connection
//! (`FCGI_KEEP_CONN` off: FPM closes the connection after
//! `FCGI_END_REQUEST`), request id 1, the Responder role.
//!
//! The reader ([`ResponseReader`]) is fed whatever bytes arrive, in any
//! pieces, and never panics on any of them (a property test feeds it
//! random bytes); everything it keeps is bounded by a byte cap.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// `FCGI_VERSION_1` (§8).
const VERSION_1: u8 = 1;
/// Record types (§8).
const BEGIN_REQUEST: u8 = 1;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;
/// `FCGI_RESPONDER` (§6.2), the role of a CGI/1.1 program.
const RESPONDER: u16 = 1;
/// The one request id this client uses (§3.3: 0 is reserved for
/// management records).
const REQUEST_ID: u16 = 1;
/// `FCGI_HEADER_LEN` (§8).
const HEADER_LEN: usize = 8;
/// `contentLength` is two bytes (§3.3).
const MAX_CONTENT: usize = u16::MAX as usize;

/// Why a FastCGI request failed.
#[derive(Debug, thiserror::Error)]
pub enum FcgiError {
    /// The connection could not be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address as given.
        addr: String,
        /// What the system said.
        source: io::Error,
    },
    /// Reading or writing failed.
    #[error("{what}: {source}")]
    Io {
        /// `sending the request` or `reading the response`.
        what: &'static str,
        /// What the system said.
        source: io::Error,
    },
    /// No connection in time (the listen socket's backlog is full, or the
    /// host does not answer).
    #[error("no connection within {0} ms")]
    Timeout(u128),
    /// A Unix socket's listen backlog stayed full for the whole time:
    /// every connect failed with `EAGAIN` (Linux answers a non-blocking
    /// connect so, where TCP would wait), until the time ran out. The pool
    /// is not down but saturated: connections are queued for its workers
    /// faster than they take them.
    #[error("the Unix socket's listen backlog stayed full for {0} ms (connect: EAGAIN)")]
    BacklogFull(u128),
    /// Connected (the listen socket accepted), but no complete answer in
    /// time. FPM answers from one of the pool's own workers, so this is
    /// what a pool with every worker busy looks like.
    #[error("connected, but no complete answer within {0} ms")]
    NoAnswer(u128),
    /// The answer is larger than the cap.
    #[error("the answer exceeds {0} bytes")]
    TooLarge(usize),
    /// Bytes that are not FastCGI records as §3.3 defines them.
    #[error("not a FastCGI answer: {0}")]
    Protocol(String),
    /// The connection closed before `FCGI_END_REQUEST`.
    #[error("the connection closed before the end of the answer")]
    Truncated,
    /// `FCGI_END_REQUEST` with a `protocolStatus` other than
    /// `FCGI_REQUEST_COMPLETE` (§5.5).
    #[error("the application refused the request: {0}")]
    Refused(&'static str),
    /// A name or value too long for a name-value pair (§3.4: 31 bits).
    #[error("a parameter is too long to encode ({0} bytes)")]
    ParamTooLong(usize),
    /// The CGI headers at the start of `FCGI_STDOUT` are malformed.
    #[error("malformed CGI response headers: {0}")]
    Headers(String),
    /// The CGI `Status:` header says the request failed.
    #[error("status {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Status {
        /// The status code.
        status: u16,
        /// What FPM wrote to `FCGI_STDERR`, or the start of the body.
        detail: Option<String>,
    },
}

/// Where a FastCGI application listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `host:port`, resolved at connect time.
    Tcp(String),
    /// A Unix socket's path.
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

/// Appends one record (§3.3) of `kind` with `content` (at most 65,535
/// bytes), padded to a multiple of eight bytes as §3.3 recommends.
fn push_record(out: &mut Vec<u8>, kind: u8, content: &[u8]) {
    debug_assert!(content.len() <= MAX_CONTENT);
    let len = content.len() as u16;
    let pad = (8 - content.len() % 8) % 8;
    let id = REQUEST_ID.to_be_bytes();
    let l = len.to_be_bytes();
    out.extend_from_slice(&[VERSION_1, kind, id[0], id[1], l[0], l[1], pad as u8, 0]);
    out.extend_from_slice(content);
    out.resize(out.len() + pad, 0);
}

/// Appends a stream (§3.3, "Stream records"): the bytes in records of at
/// most 65,535 bytes, then the empty record that ends the stream.
fn push_stream(out: &mut Vec<u8>, kind: u8, bytes: &[u8]) {
    for chunk in bytes.chunks(MAX_CONTENT) {
        push_record(out, kind, chunk);
    }
    push_record(out, kind, &[]);
}

/// A length of a name-value pair (§3.4): one byte below 128, else four
/// bytes, big-endian, with the high bit set.
fn push_len(out: &mut Vec<u8>, len: usize) -> Result<(), FcgiError> {
    if len < 128 {
        out.push(len as u8);
        return Ok(());
    }
    let n = u32::try_from(len)
        .ok()
        .filter(|n| *n <= 0x7fff_ffff)
        .ok_or(FcgiError::ParamTooLong(len))?;
    out.extend_from_slice(&(n | 0x8000_0000).to_be_bytes());
    Ok(())
}

/// Appends one name-value pair (§3.4): name length, value length, name,
/// value.
///
/// # Errors
/// [`FcgiError::ParamTooLong`] for a name or value of 2³¹ bytes or more.
pub fn push_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Result<(), FcgiError> {
    push_len(out, name.len())?;
    push_len(out, value.len())?;
    out.extend_from_slice(name);
    out.extend_from_slice(value);
    Ok(())
}

/// The bytes of a whole request: `FCGI_BEGIN_REQUEST` (§5.1: Responder,
/// flags 0, so the application closes the connection when done), the
/// `FCGI_PARAMS` stream (§5.2) and an empty `FCGI_STDIN` stream (§5.3: a
/// GET has no body).
///
/// # Errors
/// [`FcgiError::ParamTooLong`].
pub fn encode_request(params: &[(&str, &str)]) -> Result<Vec<u8>, FcgiError> {
    let mut pairs = Vec::new();
    for (n, v) in params {
        push_pair(&mut pairs, n.as_bytes(), v.as_bytes())?;
    }
    let mut out = Vec::with_capacity(pairs.len() + 64);
    let role = RESPONDER.to_be_bytes();
    push_record(
        &mut out,
        BEGIN_REQUEST,
        &[role[0], role[1], 0, 0, 0, 0, 0, 0],
    );
    push_stream(&mut out, PARAMS, &pairs);
    push_stream(&mut out, STDIN, &[]);
    Ok(out)
}

/// One record as read (§3.3), borrowing its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// `type`.
    pub kind: u8,
    /// `requestId`.
    pub request_id: u16,
    /// `contentData` (padding removed).
    pub content: &'a [u8],
}

/// The record at the start of `buf` and the bytes it takes, or `None`
/// while `buf` holds less than a whole record.
///
/// # Errors
/// [`FcgiError::Protocol`] for a version other than 1.
pub fn parse_record(buf: &[u8]) -> Result<Option<(Record<'_>, usize)>, FcgiError> {
    let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    if h[0] != VERSION_1 {
        return Err(FcgiError::Protocol(format!("record version {}", h[0])));
    }
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let total = HEADER_LEN + len + usize::from(h[6]);
    if buf.len() < total {
        return Ok(None);
    }
    let rec = Record {
        kind: h[1],
        request_id: u16::from_be_bytes([h[2], h[3]]),
        content: &buf[HEADER_LEN..HEADER_LEN + len],
    };
    Ok(Some((rec, total)))
}

/// What the application answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The `FCGI_STDOUT` stream: CGI headers, a blank line, the body.
    pub stdout: Vec<u8>,
    /// The `FCGI_STDERR` stream (FPM writes e.g. `Primary script unknown`).
    pub stderr: Vec<u8>,
    /// `appStatus` of `FCGI_END_REQUEST` (§5.5).
    pub app_status: u32,
}

/// Reads a response from bytes as they arrive: whole records out of a
/// buffer, `FCGI_STDOUT`/`FCGI_STDERR` content kept, done at
/// `FCGI_END_REQUEST`. At most `cap` bytes are accepted in all.
#[derive(Debug)]
pub struct ResponseReader {
    buf: Vec<u8>,
    resp: Response,
    received: usize,
    cap: usize,
    done: bool,
}

impl ResponseReader {
    /// A reader that accepts at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        ResponseReader {
            buf: Vec::new(),
            resp: Response::default(),
            received: 0,
            cap,
            done: false,
        }
    }

    /// Takes the next bytes; `Ok(true)` once `FCGI_END_REQUEST` arrived
    /// (bytes after it are ignored).
    ///
    /// # Errors
    /// [`FcgiError::TooLarge`] past the cap, [`FcgiError::Protocol`] for
    /// bytes that are not records of this request, [`FcgiError::Refused`]
    /// for an `FCGI_END_REQUEST` that is not `FCGI_REQUEST_COMPLETE`.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, FcgiError> {
        if self.done {
            return Ok(true);
        }
        self.received = self.received.saturating_add(bytes.len());
        if self.received > self.cap {
            return Err(FcgiError::TooLarge(self.cap));
        }
        // Taken out while records borrow it and `take` borrows `self`.
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(bytes);
        let mut pos = 0;
        let result = loop {
            match parse_record(&buf[pos..]) {
                Ok(None) => break Ok(false),
                Err(e) => break Err(e),
                Ok(Some((rec, used))) => {
                    pos += used;
                    match self.take(rec) {
                        Ok(false) => {}
                        other => break other,
                    }
                }
            }
        };
        buf.drain(..pos);
        self.buf = buf;
        result
    }

    /// One record; `Ok(true)` at the end of the request.
    fn take(&mut self, rec: Record<'_>) -> Result<bool, FcgiError> {
        // Management records (§4, request id 0), e.g. FCGI_UNKNOWN_TYPE,
        // say nothing about this request.
        if rec.request_id == 0 {
            return Ok(false);
        }
        if rec.request_id != REQUEST_ID {
            return Err(FcgiError::Protocol(format!(
                "a record for request {}, not {REQUEST_ID}",
                rec.request_id
            )));
        }
        match rec.kind {
            STDOUT => self.resp.stdout.extend_from_slice(rec.content),
            STDERR => self.resp.stderr.extend_from_slice(rec.content),
            END_REQUEST => {
                // FCGI_EndRequestBody (§5.5): appStatus (4), protocolStatus
                // (1), reserved (3, which FPM leaves unset).
                let Some(b) = rec.content.first_chunk::<5>() else {
                    return Err(FcgiError::Protocol(format!(
                        "FCGI_END_REQUEST of {} bytes",
                        rec.content.len()
                    )));
                };
                self.resp.app_status = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                self.done = true;
                return match b[4] {
                    0 => Ok(true),
                    1 => Err(FcgiError::Refused("cannot multiplex connections")),
                    2 => Err(FcgiError::Refused("overloaded")),
                    3 => Err(FcgiError::Refused("unknown role")),
                    _ => Err(FcgiError::Refused("unknown protocol status")),
                };
            }
            k => {
                return Err(FcgiError::Protocol(format!("unexpected record type {k}")));
            }
        }
        Ok(false)
    }

    /// The response, once `FCGI_END_REQUEST` arrived.
    ///
    /// # Errors
    /// [`FcgiError::Truncated`] before it.
    pub fn finish(self) -> Result<Response, FcgiError> {
        if self.done {
            Ok(self.resp)
        } else {
            Err(FcgiError::Truncated)
        }
    }
}

/// A CGI response (RFC 3875 §6.2) split into status, content type and
/// body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiResponse<'a> {
    /// `Status:`, 200 without one.
    pub status: u16,
    /// `Content-Type:`, if given.
    pub content_type: Option<&'a str>,
    /// What follows the blank line.
    pub body: &'a [u8],
}

/// Splits `stdout` into its CGI headers and body (RFC 3875 §6.2: header
/// lines, then a blank line; PHP ends lines with CRLF, a bare LF is
/// accepted too).
///
/// # Errors
/// [`FcgiError::Headers`] without a blank line, for a line that is not
/// `Name: value`, or a `Status:` without a three-digit code.
pub fn split_cgi(stdout: &[u8]) -> Result<CgiResponse<'_>, FcgiError> {
    let crlf = memchr::memmem::find(stdout, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = memchr::memmem::find(stdout, b"\n\n").map(|i| (i, i + 2));
    let (head_end, body_start) = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a
            .or(b)
            .ok_or_else(|| FcgiError::Headers("no blank line after the headers".into()))?,
    };
    let head = std::str::from_utf8(&stdout[..head_end])
        .map_err(|_| FcgiError::Headers("headers are not UTF-8".into()))?;
    let mut out = CgiResponse {
        status: 200,
        content_type: None,
        body: &stdout[body_start..],
    };
    for line in head.split('\n').map(|l| l.trim_end_matches('\r')) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(FcgiError::Headers(format!("line {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            out.status = value
                .get(..3)
                .and_then(|c| c.parse().ok())
                .filter(|c| (100..=999).contains(c))
                .ok_or_else(|| FcgiError::Headers(format!("Status: {value}")))?;
        } else if name.eq_ignore_ascii_case("content-type") {
            out.content_type = Some(value);
        }
    }
    Ok(out)
}

/// Writes `request` to `stream` and reads the response (at most `cap`
/// bytes).
async fn exchange<S>(mut stream: S, request: &[u8], cap: usize) -> Result<Response, FcgiError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let io = |what| move |source| FcgiError::Io { what, source };
    stream
        .write_all(request)
        .await
        .map_err(io("sending the request"))?;
    stream.flush().await.map_err(io("sending the request"))?;
    let mut reader = ResponseReader::new(cap);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(io("reading the answer"))?;
        if n == 0 || reader.feed(&chunk[..n])? {
            return reader.finish();
        }
    }
}

/// Sends one request with `params` to `endpoint` and reads the whole
/// response, all within `timeout`, accepting at most `cap` bytes. The
/// time is one budget, but running out of it before the connection is
/// made ([`FcgiError::Timeout`]) and after ([`FcgiError::NoAnswer`]) are
/// told apart: the second is a busy pool, the first an unreachable one.
/// On a Unix socket whose backlog is full, the connect is tried again
/// until the deadline, and [`FcgiError::BacklogFull`] (a busy pool too)
/// when there is never room.
///
/// # Errors
/// Every [`FcgiError`] but [`FcgiError::Headers`] and
/// [`FcgiError::Status`].
pub async fn request(
    endpoint: &Endpoint,
    params: &[(&str, &str)],
    timeout: Duration,
    cap: usize,
) -> Result<Response, FcgiError> {
    let req = encode_request(params)?;
    let deadline = tokio::time::Instant::now() + timeout;
    let connect = |source| FcgiError::Connect {
        addr: endpoint.to_string(),
        source,
    };
    let ms = timeout.as_millis();
    let answer =
        |r: Result<Result<Response, FcgiError>, _>| r.map_err(|_| FcgiError::NoAnswer(ms))?;
    match endpoint {
        Endpoint::Tcp(addr) => {
            let s =
                tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr.as_str()))
                    .await
                    .map_err(|_| FcgiError::Timeout(ms))?
                    .map_err(connect)?;
            answer(tokio::time::timeout_at(deadline, exchange(s, &req, cap)).await)
        }
        Endpoint::Unix(path) => {
            let s = connect_unix(path, deadline, ms).await?.map_err(connect)?;
            answer(tokio::time::timeout_at(deadline, exchange(s, &req, cap)).await)
        }
    }
}

/// The first wait after a connect that found the backlog full, and the
/// longest: a full backlog frees as soon as a worker takes a connection.
const BACKLOG_RETRY_FIRST: Duration = Duration::from_millis(1);
const BACKLOG_RETRY_MAX: Duration = Duration::from_millis(20);

/// Whether a failed connect on a Unix socket means its listen backlog is
/// full: `EAGAIN` (Linux; a blocking connect would wait for room there).
/// Any other error (no such file, refused: nothing listens) means the
/// pool is down.
pub fn is_backlog_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Connects to a Unix socket by `deadline`, trying again while its
/// backlog is full ([`is_backlog_full`]), as a blocking connect would
/// wait; [`FcgiError::BacklogFull`] when it stays full until the
/// deadline. The inner error is any other connect failure.
async fn connect_unix(
    path: &std::path::Path,
    deadline: tokio::time::Instant,
    ms: u128,
) -> Result<io::Result<tokio::net::UnixStream>, FcgiError> {
    let mut wait = BACKLOG_RETRY_FIRST;
    loop {
        match tokio::time::timeout_at(deadline, tokio::net::UnixStream::connect(path)).await {
            Err(_) => return Err(FcgiError::Timeout(ms)),
            Ok(Err(e)) if is_backlog_full(&e) => {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Err(FcgiError::BacklogFull(ms));
                }
                tokio::time::sleep_until((now + wait).min(deadline)).await;
                wait = (wait * 2).min(BACKLOG_RETRY_MAX);
            }
            Ok(r) => return Ok(r),
        }
    }
}

/// At most this much of an error text is kept.
const MAX_DETAIL: usize = 200;

fn detail(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut end = text.len().min(MAX_DETAIL);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(text[..end].to_owned())
}

/// A GET as a web server would send it for `path?query` (the CGI/1.1
/// meta-variables of RFC 3875 §4.1 that FPM reads), returning the body of
/// a 2xx answer.
///
/// # Errors
/// As [`request`]; [`FcgiError::Headers`] for malformed CGI headers;
/// [`FcgiError::Status`] for a status other than 2xx, with what FPM wrote
/// to stderr (`Primary script unknown`, `Access denied.`) or the start of
/// the body.
pub async fn get(
    endpoint: &Endpoint,
    path: &str,
    query: &str,
    timeout: Duration,
    cap: usize,
) -> Result<Vec<u8>, FcgiError> {
    let uri = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let params = [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        (
            "SERVER_SOFTWARE",
            concat!("sitepulse/", env!("CARGO_PKG_VERSION")),
        ),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_NAME", "localhost"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REQUEST_METHOD", "GET"),
        // FPM matches `pm.status_path` against SCRIPT_NAME; the status
        // page is answered before any file is opened, so SCRIPT_FILENAME
        // only has to be present.
        ("SCRIPT_NAME", path),
        ("SCRIPT_FILENAME", path),
        ("DOCUMENT_URI", path),
        ("REQUEST_URI", &uri),
        ("QUERY_STRING", query),
        ("CONTENT_LENGTH", "0"),
    ];
    let resp = request(endpoint, &params, timeout, cap).await?;
    let cgi = split_cgi(&resp.stdout);
    let cgi = match cgi {
        Ok(c) => c,
        // FPM answers nothing on stdout when it refuses outright.
        Err(_) if resp.stdout.is_empty() => {
            return Err(FcgiError::Status {
                status: 500,
                detail: detail(&resp.stderr),
            });
        }
        Err(e) => return Err(e),
    };
    if !(200..300).contains(&cgi.status) {
        return Err(FcgiError::Status {
            status: cgi.status,
            detail: detail(&resp.stderr).or_else(|| detail(cgi.body)),
        });
    }
    Ok(cgi.body.to_vec())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn name_value_pairs_use_one_byte_lengths_below_128_and_four_above() {
        let mut out = Vec::new();
        push_pair(&mut out, b"QUERY_STRING", b"json").unwrap();
        assert_eq!(&out[..2], &[12, 4]);
        assert_eq!(&out[2..], b"QUERY_STRINGjson");
        let long = vec![b'a'; 300];
        let mut out = Vec::new();
        push_pair(&mut out, b"X", &long).unwrap();
        // 1-byte name length, then 300 = 0x012c with the high bit set.
        assert_eq!(&out[..5], &[1, 0x80, 0x00, 0x01, 0x2c]);
        assert_eq!(out.len(), 5 + 1 + 300);
        let mut out = Vec::new();
        push_pair(&mut out, &[b'n'; 127], b"").unwrap();
        assert_eq!(&out[..2], &[127, 0]);
        let mut out = Vec::new();
        push_pair(&mut out, &[b'n'; 128], b"").unwrap();
        assert_eq!(&out[..5], &[0x80, 0, 0, 128, 0]);
    }

    #[test]
    fn a_request_is_begin_params_empty_params_empty_stdin() {
        let req = encode_request(&[("SCRIPT_NAME", "/status")]).unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = [
            // FCGI_BEGIN_REQUEST, id 1, 8 bytes, no padding.
            &[1, 1, 0, 1, 0, 8, 0, 0][..],
            // Responder, flags 0 (no keep-alive), 5 reserved.
            &[0, 1, 0, 0, 0, 0, 0, 0],
            // FCGI_PARAMS, 2 + 11 + 7 = 20 bytes, 4 of padding.
            &[1, 4, 0, 1, 0, 20, 4, 0],
            &[11, 7], b"SCRIPT_NAME", b"/status", &[0, 0, 0, 0],
            // The empty FCGI_PARAMS that ends the stream.
            &[1, 4, 0, 1, 0, 0, 0, 0],
            // The empty FCGI_STDIN.
            &[1, 5, 0, 1, 0, 0, 0, 0],
        ]
        .concat();
        assert_eq!(req, want);
    }

    #[test]
    fn a_long_params_stream_is_split_into_records_of_at_most_65535_bytes() {
        let big = "v".repeat(70_000);
        let req = encode_request(&[("X", &big)]).unwrap();
        let mut pos = 0;
        let mut params = Vec::new();
        while let Some((rec, used)) = parse_record(&req[pos..]).unwrap() {
            if rec.kind == PARAMS {
                params.push(rec.content.len());
            }
            pos += used;
        }
        assert_eq!(pos, req.len());
        assert_eq!(params, vec![65_535, 70_006 - 65_535, 0]);
    }

    /// What php-fpm 8.2 (Debian) answered on a TCP pool to the request
    /// `get` sends, captured byte for byte: one FCGI_STDOUT record (439
    /// bytes, 1 of padding) and FCGI_END_REQUEST, whose reserved bytes FPM
    /// leaves unset (here `{"p`). No empty FCGI_STDOUT ends the stream.
    pub(crate) fn captured_tcp_answer() -> Vec<u8> {
        let headers = "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\nCache-Control: no-cache, no-store, must-revalidate, max-age=0\r\nContent-Type: application/json\r\n\r\n";
        let body = super::super::status::tests::CAPTURED_TCP;
        assert_eq!(headers.len() + body.len(), 0x01b7);
        [
            &[1, 6, 0, 1, 0x01, 0xb7, 1, 0][..],
            headers.as_bytes(),
            body.as_bytes(),
            &[0],
            &[1, 3, 0, 1, 0, 8, 0, 0],
            &[0, 0, 0, 0, 0, b'{', b'"', b'p'],
        ]
        .concat()
    }

    #[test]
    fn fpm_s_captured_answer_decodes_whole_and_byte_by_byte() {
        let bytes = captured_tcp_answer();
        let mut r = ResponseReader::new(1 << 20);
        assert!(r.feed(&bytes).unwrap());
        let whole = r.finish().unwrap();
        assert_eq!(whole.app_status, 0);
        assert!(whole.stderr.is_empty());
        let cgi = split_cgi(&whole.stdout).unwrap();
        assert_eq!(cgi.status, 200);
        assert_eq!(cgi.content_type, Some("application/json"));
        assert_eq!(
            cgi.body,
            super::super::status::tests::CAPTURED_TCP.as_bytes()
        );

        let mut r = ResponseReader::new(1 << 20);
        let mut done = false;
        for b in &bytes {
            done = r.feed(std::slice::from_ref(b)).unwrap();
        }
        assert!(done);
        assert_eq!(r.finish().unwrap(), whole);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let mut r = ResponseReader::new(16);
        assert!(matches!(r.feed(&[0u8; 17]), Err(FcgiError::TooLarge(16))));
        let mut r = ResponseReader::new(1024);
        let e = r.feed(&[2, 6, 0, 1, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(e.to_string(), "not a FastCGI answer: record version 2");
        let mut r = ResponseReader::new(1024);
        r.feed(&[1, 6, 0, 1, 0, 2, 0, 0, b'h']).unwrap();
        assert!(matches!(r.finish(), Err(FcgiError::Truncated)));
        let mut r = ResponseReader::new(1024);
        let e = r
            .feed(&[1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the application refused the request: overloaded"
        );
        let mut r = ResponseReader::new(1024);
        let e = r.feed(&[1, 6, 0, 9, 0, 0, 0, 0]).unwrap_err();
        assert!(e.to_string().contains("request 9"), "{e}");
        // A management record (id 0) is skipped.
        let mut r = ResponseReader::new(1024);
        assert!(
            r.feed(&[1, 11, 0, 0, 0, 8, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0])
                .is_ok_and(|done| !done)
        );
    }

    #[test]
    fn cgi_headers_give_status_and_content_type() {
        let c = split_cgi(b"Status: 404 Not Found\r\nContent-type: text/html; charset=UTF-8\r\n\r\nFile not found.\n").unwrap();
        assert_eq!(c.status, 404);
        assert_eq!(c.content_type, Some("text/html; charset=UTF-8"));
        assert_eq!(c.body, b"File not found.\n");
        let c = split_cgi(b"Content-Type: text/plain\n\nok").unwrap();
        assert_eq!((c.status, c.body), (200, &b"ok"[..]));
        assert!(split_cgi(b"Content-Type: text/plain\r\n").is_err());
        assert!(split_cgi(b"Status: x\r\n\r\n").is_err());
        assert!(split_cgi(b"garbage\r\n\r\n").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes, in any pieces: no panic, and the pieces change
        /// nothing but where an error is found.
        #[test]
        fn the_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..600) {
            let mut small = ResponseReader::new(64);
            let _ = small.feed(&bytes).and_then(|_| small.finish());
            let mut whole = ResponseReader::new(4096);
            let w = whole.feed(&bytes);
            let mut split = ResponseReader::new(4096);
            let cut = cut.min(bytes.len());
            let s = split.feed(&bytes[..cut]).and_then(|d| if d { Ok(d) } else { split.feed(&bytes[cut..]) });
            prop_assert_eq!(w.is_ok(), s.is_ok());
            if w.is_ok() {
                let (a, b) = (whole.finish(), split.finish());
                prop_assert_eq!(a.ok(), b.ok());
            }
            let _ = split_cgi(&bytes);
        }

        /// Records built from random streams decode to the same streams.
        #[test]
        fn records_round_trip(out in proptest::collection::vec(any::<u8>(), 0..3000), err in proptest::collection::vec(any::<u8>(), 0..100), status in any::<u32>()) {
            let mut bytes = Vec::new();
            for c in out.chunks(700) {
                push_record(&mut bytes, STDOUT, c);
            }
            push_record(&mut bytes, STDERR, &err);
            let s = status.to_be_bytes();
            push_record(&mut bytes, END_REQUEST, &[s[0], s[1], s[2], s[3], 0, 0, 0, 0]);
            let mut r = ResponseReader::new(1 << 20);
            prop_assert!(r.feed(&bytes).unwrap());
            let resp = r.finish().unwrap();
            prop_assert_eq!(resp.stdout, out);
            prop_assert_eq!(resp.stderr, err);
            prop_assert_eq!(resp.app_status, status);
        }
    }
}

//! [`NotifyError`]: what went wrong when a notifier was built or sent,
//! naming the notifier, the URL or host, and what happened; and
//! [`FailureReason`], its coarse kind for the failure counters.

use std::fmt;
use std::path::PathBuf;

/// How much of an HTTP error body or SMTP reply an error keeps.
pub const EXCERPT_BYTES: usize = 512;

/// Why a notification failed, as a counter label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// No connection could be made.
    Connect,
    /// No answer in time.
    Timeout,
    /// An HTTP status other than 2xx.
    HttpStatus,
    /// An SMTP reply other than success.
    Smtp,
    /// TLS failed (handshake, certificate).
    Tls,
    /// The configuration or a secret file is not usable.
    Config,
    /// Anything else (a broken connection, a malformed answer).
    Other,
}

impl FailureReason {
    /// Every reason, in counter order.
    pub const ALL: [FailureReason; 7] = [
        FailureReason::Connect,
        FailureReason::Timeout,
        FailureReason::HttpStatus,
        FailureReason::Smtp,
        FailureReason::Tls,
        FailureReason::Config,
        FailureReason::Other,
    ];

    /// The label value (`connect`, `timeout`, `http_status`, `smtp`,
    /// `tls`, `config`, `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Connect => "connect",
            FailureReason::Timeout => "timeout",
            FailureReason::HttpStatus => "http_status",
            FailureReason::Smtp => "smtp",
            FailureReason::Tls => "tls",
            FailureReason::Config => "config",
            FailureReason::Other => "other",
        }
    }

    /// Its index in [`FailureReason::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A notifier that could not be built or could not deliver.
///
/// `notifier` reads `webhook "ops"`: the kind and the configured name.
/// `target` is the URL (without user info or query, which may hold
/// secrets) or the SMTP `host:port`.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// No connection could be made.
    #[error("{notifier}: cannot connect to {target}: {detail}")]
    Connect {
        /// Which notifier.
        notifier: String,
        /// Which URL or host.
        target: String,
        /// The cause, as the OS or library said it.
        detail: String,
    },
    /// No answer within the configured timeout.
    #[error("{notifier}: no answer from {target} within {timeout_secs} s")]
    Timeout {
        /// Which notifier.
        notifier: String,
        /// Which URL or host.
        target: String,
        /// The configured timeout.
        timeout_secs: u64,
    },
    /// The server answered with an HTTP status other than 2xx.
    #[error("{notifier}: {target} answered HTTP {status}: {body}")]
    HttpStatus {
        /// Which notifier.
        notifier: String,
        /// Which URL.
        target: String,
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The SMTP server refused (a 4xx or 5xx reply).
    #[error("{notifier}: {target} answered SMTP {code}: {message}")]
    Smtp {
        /// Which notifier.
        notifier: String,
        /// Which `host:port`.
        target: String,
        /// The reply code.
        code: u16,
        /// The reply text.
        message: String,
    },
    /// TLS with the server failed.
    #[error("{notifier}: TLS with {target} failed: {detail}")]
    Tls {
        /// Which notifier.
        notifier: String,
        /// Which URL or host.
        target: String,
        /// The cause.
        detail: String,
    },
    /// A configuration value is not usable.
    #[error("{notifier}: {field}: {detail}")]
    Config {
        /// Which notifier.
        notifier: String,
        /// The field at fault.
        field: &'static str,
        /// What is wrong and what is allowed.
        detail: String,
    },
    /// A file the configuration names (a token, password, HMAC key or
    /// CA file) cannot be read.
    #[error("{notifier}: cannot read {field} {}: {source}", path.display())]
    SecretFile {
        /// Which notifier.
        notifier: String,
        /// The field naming the file.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure (a connection broken mid-request, an answer that
    /// does not parse).
    #[error("{notifier}: {target}: {detail}")]
    Other {
        /// Which notifier.
        notifier: String,
        /// Which URL or host.
        target: String,
        /// What happened.
        detail: String,
    },
    /// Every one of several targets failed (an Alertmanager HA pair).
    #[error("{notifier}: every target failed: {}", list(errors))]
    AllFailed {
        /// Which notifier.
        notifier: String,
        /// One error per target, in configured order.
        errors: Vec<NotifyError>,
    },
}

fn list(errors: &[NotifyError]) -> String {
    let v: Vec<String> = errors.iter().map(|e| format!("[{e}]")).collect();
    v.join(", ")
}

impl NotifyError {
    /// The reason counted for it. For [`NotifyError::AllFailed`], the
    /// first target's.
    pub fn reason(&self) -> FailureReason {
        match self {
            NotifyError::Connect { .. } => FailureReason::Connect,
            NotifyError::Timeout { .. } => FailureReason::Timeout,
            NotifyError::HttpStatus { .. } => FailureReason::HttpStatus,
            NotifyError::Smtp { .. } => FailureReason::Smtp,
            NotifyError::Tls { .. } => FailureReason::Tls,
            NotifyError::Config { .. } | NotifyError::SecretFile { .. } => FailureReason::Config,
            NotifyError::Other { .. } => FailureReason::Other,
            NotifyError::AllFailed { errors, .. } => errors
                .first()
                .map_or(FailureReason::Other, NotifyError::reason),
        }
    }

    /// Whether trying again may help: connection failures, timeouts,
    /// HTTP 5xx, 429 and 408, SMTP 4xx (transient) replies. Other 4xx,
    /// SMTP 5xx, TLS and configuration errors will fail again.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Connect { .. } | NotifyError::Timeout { .. } => true,
            NotifyError::Other { .. } => true,
            NotifyError::HttpStatus { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
            NotifyError::Smtp { code, .. } => (400..500).contains(code),
            NotifyError::Tls { .. }
            | NotifyError::Config { .. }
            | NotifyError::SecretFile { .. } => false,
            NotifyError::AllFailed { errors, .. } => errors.iter().any(NotifyError::is_retryable),
        }
    }
}

/// `url` without user info, query or fragment, for messages.
pub(crate) fn redact_url(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    // Setting these on an http(s) URL cannot fail.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// `err` and its sources, joined by `: `, as one line; a source that
/// repeats its parent's text (or is repeated by it) is said once.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut src = err.source();
    while let Some(e) = src {
        let s = e.to_string();
        match parts.last_mut() {
            Some(last) if s.contains(last.as_str()) => *last = s,
            Some(last) if last.contains(&s) => {}
            _ => parts.push(s),
        }
        src = e.source();
    }
    parts.join(": ")
}

/// A reqwest failure on `target` as a [`NotifyError`].
pub(crate) fn from_reqwest(
    notifier: &str,
    target: &str,
    timeout_secs: u64,
    err: &reqwest::Error,
) -> NotifyError {
    let (notifier, target) = (notifier.to_owned(), target.to_owned());
    // reqwest's text names the URL, query (a token, say) included: the
    // error is told without it; `target` names where, redacted.
    let detail = match err.url() {
        Some(u) => chain(err).replace(u.as_str(), "<url>"),
        None => chain(err),
    };
    if err.is_timeout() {
        NotifyError::Timeout {
            notifier,
            target,
            timeout_secs,
        }
    } else if err.is_connect() {
        if is_tls(err) {
            NotifyError::Tls {
                notifier,
                target,
                detail,
            }
        } else {
            NotifyError::Connect {
                notifier,
                target,
                detail,
            }
        }
    } else {
        NotifyError::Other {
            notifier,
            target,
            detail,
        }
    }
}

/// Whether a rustls error is among `err`'s sources, directly or inside
/// an `io::Error` (whose `source()` skips the error it wraps).
pub(crate) fn is_tls(err: &dyn std::error::Error) -> bool {
    let mut src = err.source();
    while let Some(e) = src {
        if e.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.get_ref().is_some_and(|i| i.is::<rustls::Error>())
        {
            return true;
        }
        src = e.source();
    }
    false
}

/// The first [`EXCERPT_BYTES`] of `body` as text, cut on a character
/// boundary, `…` marking a cut.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.len() <= EXCERPT_BYTES {
        return text.to_owned();
    }
    let mut end = EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_token_in_the_url_never_reaches_the_message() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/hook?token=s3cret");
        let client = super::super::http_client("test", std::time::Duration::from_secs(5)).unwrap();
        let e = client.post(&url).send().await.unwrap_err();
        assert!(
            e.to_string().contains("s3cret"),
            "reqwest names the URL: {e}"
        );
        let n = super::from_reqwest("webhook \"ops\"", "http://127.0.0.1/hook", 5, &e);
        assert!(!n.to_string().contains("s3cret"), "{n}");
    }

    use super::*;

    fn status(code: u16) -> NotifyError {
        NotifyError::HttpStatus {
            notifier: "webhook \"ops\"".into(),
            target: "http://127.0.0.1:1/hook".into(),
            status: code,
            body: "no".into(),
        }
    }

    #[test]
    fn retryable_by_status() {
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(404).is_retryable());
        let e = status(502);
        assert_eq!(e.reason(), FailureReason::HttpStatus);
        assert_eq!(
            e.to_string(),
            "webhook \"ops\": http://127.0.0.1:1/hook answered HTTP 502: no"
        );
    }

    #[test]
    fn excerpt_cuts_on_char_boundary() {
        let body = "é".repeat(EXCERPT_BYTES);
        let e = excerpt(body.as_bytes());
        assert!(e.ends_with('…'));
        assert!(e.len() <= EXCERPT_BYTES + '…'.len_utf8());
        assert_eq!(excerpt(b"  short \n"), "short");
    }

    #[test]
    fn redacts_secrets_in_urls() {
        let u = reqwest::Url::parse("https://user:pw@hooks.example/x?token=s#f").unwrap();
        assert_eq!(redact_url(&u), "https://hooks.example/x");
    }

    #[test]
    fn reasons_are_in_index_order() {
        for (i, r) in FailureReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}

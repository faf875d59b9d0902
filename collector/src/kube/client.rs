//! HTTP to the API server as a pod's service account: reqwest on rustls
//! (ring, as `sitepulse_sinks::http`) trusting only the cluster CA, and
//! the bearer token read again whenever its file changes. Errors carry the
//! server's `Status` message, so a missing RBAC rule reads as the API
//! server wrote it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::KubeConfig;

/// How long one list page may take (a watch has its own deadline).
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the API could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// Neither `api_url` nor the in-cluster service variables.
    #[error(
        "no Kubernetes API URL: set kubernetes.api_url, or run in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset)"
    )]
    NoApiUrl,
    /// `api_url` is not a URL.
    #[error("kubernetes.api_url `{url}`: {message}")]
    BadUrl {
        /// As configured.
        url: String,
        /// What the URL parser said.
        message: String,
    },
    /// The token file cannot be read or is empty.
    #[error("token file {}: {message}", path.display())]
    Token {
        /// `token_file`.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The CA file cannot be read or holds no certificate.
    #[error("CA file {}: {message}", path.display())]
    Ca {
        /// `ca_file`.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// reqwest could not build its TLS configuration.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// The request failed before an answer (connection, TLS, timeout,
    /// a body cut off).
    #[error("GET {path}: {message}")]
    Request {
        /// Path and query.
        path: String,
        /// The error and its causes.
        message: String,
    },
    /// The server refused (401 bad token, 403 missing RBAC rule, …).
    #[error("GET {path}: HTTP {status}: {message}")]
    Status {
        /// Path and query.
        path: String,
        /// The HTTP status (or the `code` of a watch `ERROR` event).
        status: u16,
        /// The `Status` object's message.
        message: String,
    },
    /// 410 Gone: the resource version asked for is no longer in the
    /// server's history (or a list's `continue` token expired); the
    /// client lists again.
    #[error("resource version too old (410 Gone): {message}")]
    Gone {
        /// The server's message.
        message: String,
    },
    /// An answer that is not the JSON expected.
    #[error("{what}: {message}")]
    Decode {
        /// Which answer.
        what: String,
        /// serde_json's error.
        message: String,
    },
    /// A watch that sent no byte (not even a bookmark) for this long: a
    /// connection that died without a FIN.
    #[error("the watch sent nothing for {secs} s")]
    Idle {
        /// The deadline.
        secs: u64,
    },
    /// A watch event line longer than the limit.
    #[error("a watch event is longer than {max_bytes} bytes")]
    TooLarge {
        /// The limit.
        max_bytes: usize,
    },
}

/// `meta/v1` `Status`: what the server answers instead of an object, in
/// an error response and in a watch `ERROR` event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Status {
    /// Human-readable.
    pub message: String,
    /// Machine-readable (`Expired`, `Gone`, `Forbidden`, …).
    pub reason: String,
    /// The HTTP status it stands for.
    pub code: u16,
}

impl Status {
    /// The error it stands for, for a request to `path`.
    pub fn into_error(self, path: &str, http_status: u16) -> KubeError {
        let code = if self.code != 0 {
            self.code
        } else {
            http_status
        };
        let message = if self.message.is_empty() {
            self.reason
        } else {
            self.message
        };
        if code == 410 {
            KubeError::Gone { message }
        } else {
            KubeError::Status {
                path: path.to_owned(),
                status: code,
                message,
            }
        }
    }
}

/// A client of one API server.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: TokenFile,
}

impl Client {
    /// A client of `cfg`'s API server (`api_url` or the in-cluster
    /// variables), with its token and CA files.
    ///
    /// # Errors
    /// No URL, a bad URL, an unreadable or empty token file, an
    /// unreadable CA file (for `https://`), or TLS setup.
    pub fn from_config(cfg: &KubeConfig) -> Result<Client, KubeError> {
        Client::new(&cfg.resolved_api_url()?, &cfg.token_file, &cfg.ca_file)
    }

    /// A client of `api_url`, authenticating with the token in
    /// `token_file` and trusting only the certificates of `ca_file` (read
    /// for `https://` URLs only).
    ///
    /// # Errors
    /// As [`Client::from_config`].
    pub fn new(api_url: &str, token_file: &Path, ca_file: &Path) -> Result<Client, KubeError> {
        let base = Url::parse(api_url).map_err(|e| KubeError::BadUrl {
            url: api_url.to_owned(),
            message: e.to_string(),
        })?;
        let token = TokenFile::open(token_file)?;
        sitepulse_sinks::http::install_provider();
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("sitepulse/", env!("CARGO_PKG_VERSION")));
        if base.scheme() == "https" {
            let ca_err = |message: String| KubeError::Ca {
                path: ca_file.to_owned(),
                message,
            };
            let pem = std::fs::read(ca_file).map_err(|e| ca_err(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_err(error_chain(&e)))?;
            if certs.is_empty() {
                return Err(ca_err("holds no PEM certificate".into()));
            }
            b = b.tls_certs_only(certs);
        }
        let http = b.build().map_err(|e| KubeError::Build(error_chain(&e)))?;
        Ok(Client { http, base, token })
    }

    /// The URL of `path` (`/api/v1/pods`) with `query`.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{path}", self.base.path().trim_end_matches('/'));
        url.set_path(&joined);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// GETs `url`: the response when its status is 2xx.
    ///
    /// `timeout` bounds the whole exchange, body included; a watch passes
    /// `None` and bounds each read instead.
    ///
    /// # Errors
    /// [`KubeError::Request`], [`KubeError::Gone`] for 410,
    /// [`KubeError::Status`] for another refusal.
    pub async fn get(
        &self,
        url: Url,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, KubeError> {
        let path = path_of(&url);
        let token = self.token.bearer();
        let mut req = self
            .http
            .get(url)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await.map_err(|e| KubeError::Request {
            path: path.clone(),
            message: error_chain(&e),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().await.unwrap_or_default();
        let st: Status = serde_json::from_slice(&body).unwrap_or_else(|_| Status {
            message: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
            ..Status::default()
        });
        Err(st.into_error(&path, status.as_u16()))
    }

    /// GETs `url` and decodes its JSON body as `T`.
    ///
    /// # Errors
    /// As [`Client::get`], and [`KubeError::Decode`].
    pub async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, KubeError> {
        let path = path_of(&url);
        let resp = self.get(url, Some(LIST_TIMEOUT)).await?;
        let body = resp.bytes().await.map_err(|e| KubeError::Request {
            path: path.clone(),
            message: error_chain(&e),
        })?;
        serde_json::from_slice(&body).map_err(|e| KubeError::Decode {
            what: format!("GET {path}"),
            message: e.to_string(),
        })
    }
}

fn path_of(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// An error and its causes, `: `-separated (reqwest's own `Display` stops
/// at "error sending request").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// The service account token, read again when the file changes. The
/// kubelet writes a projected token through a symlink swap (`..data`), so
/// a rotation shows as another inode; a rewrite in place as another size
/// or modification time. The file is looked at on every request, which
/// costs a `stat` per list page or watch.
#[derive(Debug)]
struct TokenFile {
    path: PathBuf,
    cur: Mutex<(Stamp, String)>,
}

/// What tells that a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: Option<SystemTime>,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime: m.modified().ok(),
    })
}

fn read_token(path: &Path) -> Result<(Stamp, String), KubeError> {
    let err = |message: String| KubeError::Token {
        path: path.to_owned(),
        message,
    };
    let st = stamp(path).map_err(|e| err(e.to_string()))?;
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(err("is empty".into()));
    }
    Ok((st, token.to_owned()))
}

impl TokenFile {
    fn open(path: &Path) -> Result<TokenFile, KubeError> {
        Ok(TokenFile {
            path: path.to_owned(),
            cur: Mutex::new(read_token(path)?),
        })
    }

    /// The current token. A changed file that cannot be read keeps the
    /// previous token (still valid for a while after a rotation) and
    /// logs why.
    fn bearer(&self) -> String {
        let mut cur = self.cur.lock().unwrap_or_else(|p| p.into_inner());
        if stamp(&self.path).ok() != Some(cur.0) {
            match read_token(&self.path) {
                Ok(new) => {
                    if new.1 != cur.1 {
                        tracing::info!(file = %self.path.display(), "kubernetes: token file changed; using the new token");
                    }
                    *cur = new;
                }
                Err(e) => {
                    tracing::warn!("kubernetes: {e}; keeping the previous token");
                }
            }
        }
        cur.1.clone()
    }
}

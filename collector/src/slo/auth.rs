//! Who may change what (docs/slo.md): the endpoints that change state
//! (deploy events, silences, test notifications) are off until callers
//! are configured, and then each request must carry one caller's
//! credential — a bearer token read from a file, or an HMAC-SHA256
//! signature with a key read from a file: `X-Sitepulse-Timestamp: <Unix
//! seconds>` and `X-Sitepulse-Signature: sha256=<hex>` over
//! `<timestamp>\n<METHOD>\n<path>\n<body>` (GitHub's
//! `X-Hub-Signature-256` signs the body alone; the time, method and path
//! make a captured signature useless for another request, and after
//! [`MAX_SKEW_SECS`] for the same one). The caller's name is
//! logged with every change it makes. Read endpoints may require a
//! token too. Secret files are read again when they change.

use std::path::Path;

use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::autoscale::metrics_api::SecretFile;
use crate::serve::api::ApiError;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-sitepulse-signature";

/// The header with the signing time, Unix seconds.
pub const TIMESTAMP_HEADER: &str = "x-sitepulse-timestamp";

/// A signature older or newer than this (seconds) is refused.
pub const MAX_SKEW_SECS: i64 = 300;

/// One caller.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallerConfig {
    /// Logged as who made each change (`argocd`, `ci`, `alice`).
    pub name: String,
    /// A file holding its bearer token.
    pub token_file: Option<String>,
    /// A file holding its HMAC-SHA256 key: requests are signed instead.
    pub hmac_key_file: Option<String>,
}

/// The `alerting.api` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiAccessConfig {
    /// Who may post deploy events, make and expire silences and send test
    /// notifications. Empty: those endpoints answer 403 to everyone.
    pub writers: Vec<CallerConfig>,
    /// Who may read /api/v1/slos, /alerts, /silences and /deploys
    /// (bearer tokens only). Empty: anyone who reaches the port.
    pub readers: Vec<CallerConfig>,
    /// Largest body a state-changing endpoint takes (413 beyond).
    pub max_body_bytes: usize,
}

impl Default for ApiAccessConfig {
    fn default() -> Self {
        ApiAccessConfig {
            writers: Vec::new(),
            readers: Vec::new(),
            max_body_bytes: 64 * 1024,
        }
    }
}

impl ApiAccessConfig {
    /// `(field, message)` on the first problem (files are opened here).
    pub fn validate(&self) -> Result<(), (String, String)> {
        Access::new(self).map(|_| ())
    }
}

#[derive(Debug)]
struct Caller {
    name: String,
    token: Option<SecretFile>,
    hmac: Option<SecretFile>,
}

/// The callers, secrets loaded.
#[derive(Debug, Default)]
pub struct Access {
    writers: Vec<Caller>,
    readers: Vec<Caller>,
    /// Largest body of a state-changing request.
    pub max_body_bytes: usize,
}

fn callers(
    list: &[CallerConfig],
    section: &str,
    hmac_ok: bool,
) -> Result<Vec<Caller>, (String, String)> {
    let mut out: Vec<Caller> = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let at = |f: &str| format!("{section}[{i}].{f}");
        if c.name.is_empty()
            || c.name.len() > 64
            || c.name.chars().any(|ch| ch.is_control() || ch == ' ')
        {
            return Err((at("name"), "1 to 64 characters, no spaces".into()));
        }
        if out.iter().any(|o| o.name == c.name) {
            return Err((at("name"), format!("`{}` is named twice", c.name)));
        }
        let open =
            |f: &Option<String>, field: &str| -> Result<Option<SecretFile>, (String, String)> {
                f.as_ref()
                    .map(|p| SecretFile::open(Path::new(p)).map_err(|e| (at(field), e)))
                    .transpose()
            };
        let token = open(&c.token_file, "token_file")?;
        let hmac = open(&c.hmac_key_file, "hmac_key_file")?;
        if hmac.is_some() && !hmac_ok {
            return Err((at("hmac_key_file"), "readers use tokens only".into()));
        }
        if token.is_none() && hmac.is_none() {
            return Err((at("token_file"), "give token_file or hmac_key_file".into()));
        }
        out.push(Caller {
            name: c.name.clone(),
            token,
            hmac,
        });
    }
    Ok(out)
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: msg.to_owned(),
        parameter: None,
    }
}

fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let v = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = v.split_at(v.iter().position(|&b| b == b' ')?);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| rest.trim_ascii())
}

/// `sha256=<hex>` of HMAC-SHA256 over `data` under `key`.
pub fn sign(key: &[u8], data: &[u8]) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&k, data);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// What a request's signature covers: `<ts>\n<METHOD>\n<path>\n<body>`.
pub fn signed_payload(ts: i64, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!("{ts}\n{}\n{path}\n", method.to_ascii_uppercase()).into_bytes();
    v.extend_from_slice(body);
    v
}

/// The two headers a signed request carries, for a client (and tests):
/// `(timestamp, signature)`.
pub fn sign_request(
    key: &[u8],
    ts: i64,
    method: &str,
    path: &str,
    body: &[u8],
) -> (String, String) {
    (
        ts.to_string(),
        sign(key, &signed_payload(ts, method, path, body)),
    )
}

fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

impl Access {
    /// Loads every secret.
    ///
    /// # Errors
    /// `(field, message)`: a caller without a name or credential, a file
    /// that cannot be read.
    pub fn new(cfg: &ApiAccessConfig) -> Result<Access, (String, String)> {
        if cfg.max_body_bytes == 0 || cfg.max_body_bytes > 16 << 20 {
            return Err(("max_body_bytes".into(), "between 1 and 16 MiB".into()));
        }
        Ok(Access {
            writers: callers(&cfg.writers, "writers", true)?,
            readers: callers(&cfg.readers, "readers", false)?,
            max_body_bytes: cfg.max_body_bytes,
        })
    }

    /// The writer that sent this request, or why it is refused: 403 when
    /// no writer is configured, 401 for a missing or wrong credential,
    /// 413 for a body over the limit.
    ///
    /// # Errors
    /// As above; the message says what to send, never a secret.
    pub fn writer(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<String, ApiError> {
        self.writer_at(method, path, headers, body, crate::unix_now())
    }

    /// [`writer`](Self::writer) at a given time (tests).
    ///
    /// # Errors
    /// As `writer`.
    pub fn writer_at(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<String, ApiError> {
        if self.writers.is_empty() {
            return Err(ApiError {
                status: StatusCode::FORBIDDEN,
                message: "this endpoint is off: configure alerting.api.writers to allow changes"
                    .into(),
                parameter: None,
            });
        }
        if body.len() > self.max_body_bytes {
            return Err(ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!(
                    "the body is over {} bytes (alerting.api.max_body_bytes)",
                    self.max_body_bytes
                ),
                parameter: None,
            });
        }
        if let Some(sig) = headers.get(SIGNATURE_HEADER) {
            let presented = sig
                .as_bytes()
                .strip_prefix(b"sha256=")
                .and_then(unhex)
                .ok_or_else(|| {
                    unauthorized("X-Sitepulse-Signature: write sha256=<hex of HMAC-SHA256>")
                })?;
            let ts: i64 = headers
                .get(TIMESTAMP_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| {
                    unauthorized("a signed request carries X-Sitepulse-Timestamp: <Unix seconds>")
                })?;
            if (now - ts).abs() > MAX_SKEW_SECS {
                return Err(unauthorized(&format!(
                    "X-Sitepulse-Timestamp {ts} is more than {MAX_SKEW_SECS} s from this clock ({now})"
                )));
            }
            let data = signed_payload(ts, method, path, body);
            for c in &self.writers {
                let Some(h) = &c.hmac else {
                    continue;
                };
                let ok = h.with_current(|key| {
                    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
                    ring::hmac::verify(&k, &data, &presented).is_ok()
                });
                if ok {
                    return Ok(c.name.clone());
                }
            }
            return Err(unauthorized("the signature matches no configured key"));
        }
        let Some(token) = bearer(headers) else {
            return Err(unauthorized(
                "send Authorization: Bearer <token>, or X-Sitepulse-Timestamp and X-Sitepulse-Signature (docs/slo.md)",
            ));
        };
        self.writers
            .iter()
            .find(|c| c.token.as_ref().is_some_and(|t| t.matches(token)))
            .map(|c| c.name.clone())
            .ok_or_else(|| unauthorized("the bearer token matches no writer"))
    }

    /// Whether a read is allowed: anyone without readers configured,
    /// otherwise a reader's or a writer's token.
    ///
    /// # Errors
    /// 401 with what to send.
    pub fn reader(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.readers.is_empty() {
            return Ok(());
        }
        let Some(token) = bearer(headers) else {
            return Err(unauthorized("send Authorization: Bearer <token>"));
        };
        let ok = self
            .readers
            .iter()
            .chain(&self.writers)
            .any(|c| c.token.as_ref().is_some_and(|t| t.matches(token)));
        if ok {
            Ok(())
        } else {
            Err(unauthorized("the bearer token matches no reader"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(dir: &Path) -> Access {
        std::fs::write(dir.join("ci"), "s3cret\n").unwrap();
        std::fs::write(dir.join("argo"), "k3y").unwrap();
        std::fs::write(dir.join("ro"), "look").unwrap();
        let c = |name: &str, token: Option<&str>, hmac: Option<&str>| CallerConfig {
            name: name.into(),
            token_file: token.map(|f| dir.join(f).display().to_string()),
            hmac_key_file: hmac.map(|f| dir.join(f).display().to_string()),
        };
        Access::new(&ApiAccessConfig {
            writers: vec![c("ci", Some("ci"), None), c("argocd", None, Some("argo"))],
            readers: vec![c("grafana", Some("ro"), None)],
            max_body_bytes: 100,
        })
        .unwrap()
    }

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn each_bad_case_is_refused_and_good_ones_name_the_caller() {
        let dir = std::env::temp_dir().join(format!("sitepulse-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = access(&dir);
        let body = br#"{"site":"a","version":"v1"}"#;
        let now = 1_800_000_000;
        let w = |headers: &HeaderMap, body: &[u8]| {
            a.writer_at("POST", "/api/v1/deploys", headers, body, now)
        };
        let signed = |key: &[u8], ts: i64, method: &str, path: &str, body: &[u8]| {
            let (t, sig) = sign_request(key, ts, method, path, body);
            h(&[(TIMESTAMP_HEADER, &t), (SIGNATURE_HEADER, &sig)])
        };
        assert_eq!(
            w(&h(&[("authorization", "Bearer s3cret")]), body).unwrap(),
            "ci"
        );
        let good = signed(b"k3y", now - 10, "post", "/api/v1/deploys", body);
        assert_eq!(w(&good, body).unwrap(), "argocd");
        let status = |r: Result<String, ApiError>| r.unwrap_err().status.as_u16();
        assert_eq!(status(w(&h(&[]), body)), 401);
        assert_eq!(
            status(w(&h(&[("authorization", "Bearer nope")]), body)),
            401
        );
        assert_eq!(
            status(w(&h(&[("authorization", "Basic czNjcmV0")]), body)),
            401
        );
        // A reader's token does not write.
        assert_eq!(
            status(w(&h(&[("authorization", "Bearer look")]), body)),
            401
        );
        // A signature of another body, path, method or time, by another
        // key, too old, without its time, or malformed.
        let no_time = sign_request(b"k3y", now, "POST", "/api/v1/deploys", body).1;
        for bad in [
            signed(b"k3y", now, "POST", "/api/v1/deploys", b"{}"),
            signed(b"k3y", now, "POST", "/api/v1/silences", body),
            signed(b"k3y", now, "DELETE", "/api/v1/deploys", body),
            signed(b"s3cret", now, "POST", "/api/v1/deploys", body),
            signed(
                b"k3y",
                now - MAX_SKEW_SECS - 1,
                "POST",
                "/api/v1/deploys",
                body,
            ),
            h(&[(SIGNATURE_HEADER, &no_time)]),
            h(&[
                (TIMESTAMP_HEADER, &now.to_string()),
                (SIGNATURE_HEADER, "sha256=zz"),
            ]),
        ] {
            assert_eq!(status(w(&bad, body)), 401, "{bad:?}");
        }
        // The time of a good signature changed: refused.
        let mut moved = signed(b"k3y", now, "POST", "/api/v1/deploys", body);
        moved.insert(TIMESTAMP_HEADER, (now - 1).to_string().parse().unwrap());
        assert_eq!(status(w(&moved, body)), 401);
        assert_eq!(
            status(w(&h(&[("authorization", "Bearer s3cret")]), &[b'x'; 101])),
            413
        );
        assert!(a.reader(&h(&[("authorization", "Bearer look")])).is_ok());
        assert!(a.reader(&h(&[("authorization", "Bearer s3cret")])).is_ok());
        assert!(a.reader(&h(&[])).is_err());
        let off = Access::new(&ApiAccessConfig::default()).unwrap();
        let r = off.writer_at(
            "POST",
            "/x",
            &h(&[("authorization", "Bearer s3cret")]),
            body,
            now,
        );
        assert_eq!(status(r), 403);
        assert!(off.reader(&h(&[])).is_ok());
        // Known HMAC-SHA256 test vector (RFC 4231, case 2).
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The external metrics API's TLS: the serving certificate read from files
//! and read again when they change, and the client certificates of the
//! aggregation layer's front proxy.
//!
//! The kube-apiserver proxies requests for an aggregated API with its
//! front-proxy client certificate (`--proxy-client-cert-file`), signed by
//! the CA in `extension-apiserver-authentication`'s
//! `requestheader-client-ca-file`, with the CN in
//! `requestheader-allowed-names` (usually `front-proxy-client`):
//! <https://kubernetes.io/docs/tasks/extend-kubernetes/configure-aggregation-layer/#authentication-flow>.
//! Like an extension apiserver, we verify a presented certificate against
//! that CA during the handshake (a certificate from another CA fails the
//! handshake), let connections without one through (kubelet probes of
//! `/healthz` present none), and check the CN per request.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

/// A TLS file that cannot be used: the config field, the file and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {path}: {message}")]
pub struct TlsError {
    /// The field of `autoscale.external_metrics` that names the file.
    pub field: &'static str,
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl TlsError {
    fn new(field: &'static str, path: &Path, message: impl Into<String>) -> Self {
        TlsError {
            field,
            path: path.display().to_string(),
            message: message.into(),
        }
    }
}

/// The ring provider, the one the sinks' client uses too.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file, in order.
///
/// # Errors
/// A file that cannot be read, is not PEM, or holds no certificate.
pub fn read_certs(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::new(field, path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(field, path, e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::new(field, path, "holds no PEM CERTIFICATE block"));
    }
    Ok(certs)
}

/// The serving certificate chain and its key, checked to match.
///
/// # Errors
/// Either file unusable, or a key that is not the certificate's.
pub fn read_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = read_certs("tls_cert_file", cert)?;
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::new("tls_key_file", key, format!("no usable private key: {e}")))?;
    CertifiedKey::from_der(chain, der, &provider()).map_err(|e| {
        TlsError::new(
            "tls_key_file",
            key,
            format!("cannot serve {} with it: {e}", cert.display()),
        )
    })
}

/// How often the certificate files are looked at again.
pub const RECHECK: Duration = Duration::from_secs(2);

/// What identifies a file's version: modification time and length (a
/// Kubernetes secret volume swaps a symlink to new files, which changes
/// both; `cp` over the file changes the time).
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[derive(Debug)]
struct Watch {
    checked: Instant,
    stamps: [Option<(SystemTime, u64)>; 2],
}

/// The serving certificate, read again when its files change (looked at
/// no more often than every [`RECHECK`], on the handshake that comes
/// next). A change that cannot be loaded (a key written before its
/// certificate, say) keeps the previous pair and is tried again at the
/// next look.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
    watch: Mutex<Watch>,
}

impl ReloadingCert {
    /// Reads the pair.
    ///
    /// # Errors
    /// As [`read_certified_key`].
    pub fn open(cert: &Path, key: &Path) -> Result<ReloadingCert, TlsError> {
        let stamps = [stamp(cert), stamp(key)];
        let ck = read_certified_key(cert, key)?;
        Ok(ReloadingCert {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: ArcSwap::from_pointee(ck),
            watch: Mutex::new(Watch {
                checked: Instant::now(),
                stamps,
            }),
        })
    }

    /// Reloads the pair if a file changed since the last look, at most
    /// every [`RECHECK`].
    pub fn refresh(&self) {
        let mut w = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        if w.checked.elapsed() < RECHECK {
            return;
        }
        w.checked = Instant::now();
        let stamps = [stamp(&self.cert), stamp(&self.key)];
        if stamps == w.stamps {
            return;
        }
        match read_certified_key(&self.cert, &self.key) {
            Ok(ck) => {
                self.current.store(Arc::new(ck));
                w.stamps = stamps;
                tracing::info!(
                    cert = %self.cert.display(),
                    "serving certificate changed; new connections use it"
                );
            }
            Err(e) => {
                tracing::warn!("the serving certificate changed but {e}; keeping the previous one");
            }
        }
    }

    /// The pair served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(self.current())
    }
}

/// The server's TLS config: the reloading certificate, client
/// certificates verified against `client_ca` when presented, HTTP/1.1
/// only (the aggregator and the HPA's client speak it; h2 is not offered).
///
/// # Errors
/// A CA file that holds no usable certificate.
pub fn server_config(
    cert: Arc<ReloadingCert>,
    client_ca: &Path,
) -> Result<rustls::ServerConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in read_certs("client_ca_file", client_ca)? {
        roots
            .add(c)
            .map_err(|e| TlsError::new("client_ca_file", client_ca, e.to_string()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::new("client_ca_file", client_ca, e.to_string()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new("tls_cert_file", &cert.cert, e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A TLS config for a server without client certificates (`run`'s HTTP
/// endpoints with `server.tls_*`): the reloading certificate, HTTP/1.1.
///
/// # Errors
/// When rustls refuses the protocol versions (never with ring).
pub fn server_config_plain(cert: Arc<ReloadingCert>) -> Result<rustls::ServerConfig, TlsError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new("tls_cert_file", &cert.cert, e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The subject CN of a DER certificate (the first, if several), or `None`
/// when it has none or cannot be read. Never panics on any bytes.
pub fn common_name(der: &[u8]) -> Option<String> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let cn = cert.tbs_certificate().subject().common_name().ok()??;
    Some(cn.value().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_never_panics_and_reads_rcgen_certs() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "front-proxy-client");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "sitepulse tests");
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            common_name(cert.der()).as_deref(),
            Some("front-proxy-client")
        );
        let bare = rcgen::CertificateParams::new(vec!["x".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        // rcgen names a certificate without a CN "rcgen self signed cert".
        assert!(common_name(bare.der()).is_some());
        let der = cert.der().to_vec();
        for cut in 0..der.len() {
            let _ = common_name(&der[..cut]);
        }
        let mut flipped = der.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = common_name(&flipped);
            flipped[i] ^= 0xff;
        }
        assert_eq!(common_name(b""), None);
    }
}

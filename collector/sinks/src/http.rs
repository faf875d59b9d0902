//! The HTTP client the HTTP sinks share: reqwest on rustls with the ring
//! provider (no C toolchain beyond ring's own), HTTP/1.1 keep-alive.

use std::time::Duration;

/// A client with `timeout` per request.
///
/// # Errors
/// When reqwest cannot build its TLS configuration.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("sitepulse/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Installs rustls' ring provider as the process-wide default, which
/// reqwest (built with no provider of its own) needs before it builds a
/// client: for clients other crates build with their own settings.
pub fn install_provider() {
    // The first caller installs it, later calls find it there (an `Err`
    // then only says it was already set).
    let _ = rustls::crypto::ring::default_provider().install_default();
}

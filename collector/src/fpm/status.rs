//! FPM's status page as JSON (`pm.status_path?json`, without `full`) read
//! into an [`FpmStatus`]. The fields are those `fpm_status.c` writes
//! (php-src `sapi/fpm/fpm/fpm_status.c`, the JSON `short_syntax`):
//! `pool`, `process manager`, `start time`, `start since`, `accepted
//! conn`, `listen queue`, `max listen queue`, `listen queue len` (only
//! where FPM is built with `HAVE_FPM_LQ`), `idle processes`, `active
//! processes`, `total processes`, `max active processes`, `max children
//! reached`, `slow requests`.
//!
//! **The listen queue.** FPM reads it from the listening socket's
//! `TCP_INFO`, so it measures it only on TCP listeners; on a Unix socket it
//! reports `listen queue` 0 and `listen queue len` 0 whatever is waiting.
//! Such a 0 would tell an autoscaler "nothing waits" while requests pile
//! up, so the three queue fields are `None` (unavailable) when the pool is
//! scraped on a Unix socket, or when the page reports `listen queue len`
//! 0 (a pool behind an HTTP sidecar that listens on a Unix socket), or
//! when the fields are missing. For those pools the busy ratio and `max
//! children reached` tell saturation.

use super::FpmStatus;

/// Why a status page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// Not the JSON object FPM writes, or a field missing or of the
    /// wrong type.
    #[error("status page{}: {message}", field.as_deref().map(|f| format!(" field `{f}`")).unwrap_or_default())]
    Json {
        /// The field at fault, when the error is in one.
        field: Option<String>,
        /// What serde_json said.
        message: String,
    },
}

/// One pool's status page.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolReport {
    /// `pool`: the pool's name.
    pub pool: String,
    /// `process manager`: `static`, `dynamic` or `ondemand`.
    pub process_manager: String,
    /// The numbers.
    pub status: FpmStatus,
}

/// The page as FPM writes it. Unknown keys (`processes` of `?full`) are
/// ignored.
#[derive(serde::Deserialize)]
struct Page {
    pool: String,
    #[serde(rename = "process manager")]
    process_manager: String,
    #[serde(rename = "start since")]
    start_since: u64,
    #[serde(rename = "accepted conn")]
    accepted_conn: u64,
    // `%u`, `%u` and `%d` in fpm_status.c: signed, so a negative value is
    // read (as unavailable) rather than refused.
    #[serde(rename = "listen queue")]
    listen_queue: Option<i64>,
    #[serde(rename = "max listen queue")]
    max_listen_queue: Option<i64>,
    #[serde(rename = "listen queue len")]
    listen_queue_len: Option<i64>,
    #[serde(rename = "idle processes")]
    idle_processes: u64,
    #[serde(rename = "active processes")]
    active_processes: u64,
    #[serde(rename = "total processes")]
    total_processes: u64,
    #[serde(rename = "max active processes")]
    max_active_processes: u64,
    #[serde(rename = "max children reached")]
    max_children_reached: u64,
    #[serde(rename = "slow requests")]
    slow_requests: u64,
}

/// Reads a `?json` status page. `unix_socket`: the pool was scraped on
/// its Unix socket, where FPM cannot measure the listen queue.
///
/// # Errors
/// [`StatusError::Json`] naming the missing or malformed field.
pub fn parse(body: &[u8], unix_socket: bool) -> Result<PoolReport, StatusError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let page: Page = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        StatusError::Json {
            field: (path != ".").then_some(path),
            message: e.into_inner().to_string(),
        }
    })?;
    de.end().map_err(|e| StatusError::Json {
        field: None,
        message: e.to_string(),
    })?;
    let measured = !unix_socket && page.listen_queue_len.is_some_and(|n| n > 0);
    let queue = |v: Option<i64>| v.filter(|_| measured).and_then(|v| u64::try_from(v).ok());
    Ok(PoolReport {
        pool: page.pool,
        process_manager: page.process_manager,
        status: FpmStatus {
            start_since_secs: page.start_since,
            accepted_conn: page.accepted_conn,
            listen_queue: queue(page.listen_queue),
            max_listen_queue: queue(page.max_listen_queue),
            listen_queue_len: queue(page.listen_queue_len),
            idle_processes: page.idle_processes,
            active_processes: page.active_processes,
            total_processes: page.total_processes,
            max_active_processes: page.max_active_processes,
            max_children_reached: page.max_children_reached,
            slow_requests: page.slow_requests,
        },
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `GET /status?json` answered by php-fpm 8.2 (Debian) for a TCP pool
    /// (`listen = 127.0.0.1:…`, `pm = static`, `pm.max_children = 2`).
    pub(crate) const CAPTURED_TCP: &str = r#"{"pool":"shop_example_org","process manager":"static","start time":1796329695,"start since":5,"accepted conn":4,"listen queue":0,"max listen queue":0,"listen queue len":4096,"idle processes":1,"active processes":1,"total processes":2,"max active processes":1,"max children reached":0,"slow requests":0}"#;

    /// The same for a pool on a Unix socket: queue and its length 0.
    const CAPTURED_UNIX: &str = r#"{"pool":"blog","process manager":"static","start time":1796329695,"start since":1,"accepted conn":1,"listen queue":0,"max listen queue":0,"listen queue len":0,"idle processes":1,"active processes":1,"total processes":2,"max active processes":1,"max children reached":0,"slow requests":0}"#;

    /// `?json&full` (the `processes` list is ignored).
    const CAPTURED_FULL: &str = r#"{"pool":"shop_example_org","process manager":"static","start time":1796329695,"start since":1,"accepted conn":2,"listen queue":3,"max listen queue":5,"listen queue len":4096,"idle processes":1,"active processes":1,"total processes":2,"max active processes":1,"max children reached":0,"slow requests":0, "processes":[{"pid":18789,"state":"Running","start time":1796329695,"start since":1,"requests":1,"request duration":546,"request method":"GET","request uri":"\/status?json&full","content length":0,"user":"-","script":"-","last request cpu":0.00,"last request memory":0}]}"#;

    #[test]
    fn a_tcp_pool_s_page_gives_every_field() {
        let r = parse(CAPTURED_TCP.as_bytes(), false).unwrap();
        assert_eq!(r.pool, "shop_example_org");
        assert_eq!(r.process_manager, "static");
        assert_eq!(
            r.status,
            FpmStatus {
                start_since_secs: 5,
                accepted_conn: 4,
                listen_queue: Some(0),
                max_listen_queue: Some(0),
                listen_queue_len: Some(4096),
                idle_processes: 1,
                active_processes: 1,
                total_processes: 2,
                max_active_processes: 1,
                max_children_reached: 0,
                slow_requests: 0,
            }
        );
        let r = parse(CAPTURED_FULL.as_bytes(), false).unwrap();
        assert_eq!(
            (r.status.listen_queue, r.status.max_listen_queue),
            (Some(3), Some(5))
        );
    }

    #[test]
    fn the_queue_is_unavailable_on_a_unix_socket() {
        // Scraped on the socket itself.
        let r = parse(CAPTURED_TCP.as_bytes(), true).unwrap();
        assert_eq!(r.status.listen_queue, None);
        assert_eq!(r.status.max_listen_queue, None);
        assert_eq!(r.status.listen_queue_len, None);
        assert_eq!(r.status.total_processes, 2);
        // Through HTTP: the page's `listen queue len` 0 gives it away.
        let r = parse(CAPTURED_UNIX.as_bytes(), false).unwrap();
        assert_eq!(r.status.listen_queue, None);
        assert_eq!(r.status.listen_queue_len, None);
        // An FPM built without HAVE_FPM_LQ writes no queue fields.
        let no_lq = CAPTURED_TCP.replace(
            r#""listen queue":0,"max listen queue":0,"listen queue len":4096,"#,
            "",
        );
        let r = parse(no_lq.as_bytes(), false).unwrap();
        assert_eq!(r.status.listen_queue, None);
    }

    #[test]
    fn errors_name_the_field() {
        let missing = CAPTURED_TCP.replace(r#""idle processes":1,"#, "");
        let e = parse(missing.as_bytes(), false).unwrap_err().to_string();
        assert!(
            e.starts_with("status page: missing field `idle processes` at line 1"),
            "{e}"
        );
        let bad = CAPTURED_TCP.replace(r#""accepted conn":4"#, r#""accepted conn":"x""#);
        let e = parse(bad.as_bytes(), false).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("status page field `accepted conn`: invalid type: string \"x\""),
            "{e}"
        );
        let e = parse(b"pool: www\nprocess manager: static\n", false).unwrap_err();
        assert!(
            e.to_string().starts_with("status page: expected value"),
            "{e}"
        );
        let e = parse(format!("{CAPTURED_TCP} x").as_bytes(), false).unwrap_err();
        assert!(e.to_string().contains("trailing characters"), "{e}");
        assert!(parse(b"", false).is_err());
    }
}

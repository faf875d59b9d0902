//! The process's file descriptor limit, and the share of it tailing may
//! take. A node with thousands of pod log files meets the default soft
//! limit (1024) long before its hard limit, so `run` raises the soft limit
//! to the hard one at start (as Vector, Fluent Bit and Go programs do), and
//! then keeps back what the HTTP server and checkpoints need: tailing must
//! never take the descriptor a checkpoint save or a scrape needs.

/// Descriptors kept back besides HTTP connections: stdio, the tap, the
/// checkpoint being written and its directory, inotify, the runtime's
/// epoll and event descriptors, the listener, and files opened briefly
/// while looking for rotated copies.
const RESERVED: u64 = 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft
/// limit in force afterwards (the old one when raising failed, which is
/// logged).
pub fn raise_nofile() -> u64 {
    let before = rlimit::Resource::NOFILE
        .get()
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => {
            if now != before {
                tracing::info!(
                    from = before,
                    to = now,
                    "raised the file descriptor limit (RLIMIT_NOFILE) to its hard limit"
                );
            }
            now
        }
        Err(e) => {
            tracing::warn!(limit = before, error = %e, "cannot raise the file descriptor limit (RLIMIT_NOFILE)");
            before
        }
    }
}

/// Descriptors tailing may hold under a soft limit of `nofile` when the
/// HTTP server accepts up to `max_connections`: what is left after
/// [`RESERVED`] and the connections (at most a quarter of the limit goes
/// to them, so a low limit still tails), never less than 16.
pub fn tail_budget(nofile: u64, max_connections: u64) -> u64 {
    let http = max_connections.min(nofile / 4);
    nofile.saturating_sub(RESERVED + http).max(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_keeps_http_and_checkpoints_their_share() {
        // The default soft limit with the default max_connections.
        assert_eq!(tail_budget(1024, 1024), 1024 - 64 - 256);
        // A raised limit: every connection keeps its descriptor.
        assert_eq!(tail_budget(1 << 20, 1024), (1 << 20) - 64 - 1024);
        // Absurdly low limits still tail something.
        assert_eq!(tail_budget(32, 1024), 16);
    }
}

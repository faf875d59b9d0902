//! The forms `server.listen` and `--listen` accept, as Prometheus
//! exporters and Go programs taught people to write them:
//!
//! - `127.0.0.1:9464`, `0.0.0.0:9464`, `[::1]:9464`, `[::]:9464`: an IP
//!   address and port;
//! - `:9464`: every IPv4 interface (`0.0.0.0:9464`);
//! - `localhost:9464`, `node-7.example.com:9464`: a host name, resolved at
//!   start; the first of its addresses that can be bound is used (IPv4
//!   ones first). `localhost` is always 127.0.0.1 then ::1 (RFC 6761),
//!   even where no /etc/hosts names it.
//!
//! Port 0 picks a free port (logged at start).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

/// A parsed listen address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// An IP address (`:port` is `0.0.0.0:port`).
    Addr(SocketAddr),
    /// A host name, resolved when bound.
    Host { host: String, port: u16 },
}

const FORMS: &str = "expected HOST:PORT, IP:PORT, [IPv6]:PORT or :PORT (every interface), e.g. 127.0.0.1:9464, localhost:9464, :9464";

impl Listen {
    /// Parses a listen address.
    ///
    /// # Errors
    /// What is wrong, with the forms allowed.
    pub fn parse(s: &str) -> Result<Listen, String> {
        let s = s.trim();
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(Listen::Addr(a));
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(format!("{s:?} has no port: {FORMS}"));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{s:?}: the port {port:?} is not a number from 0 to 65535"))?;
        if host.is_empty() {
            return Ok(Listen::Addr(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port,
            )));
        }
        let name_ok = host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if !name_ok || host.contains(':') {
            return Err(format!(
                "{s:?}: {host:?} is not an IP address or host name: {FORMS}"
            ));
        }
        Ok(Listen::Host {
            host: host.to_owned(),
            port,
        })
    }

    /// The addresses to try, in order (a name's IPv4 addresses first).
    ///
    /// # Errors
    /// The name does not resolve.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, String> {
        match self {
            Listen::Addr(a) => Ok(vec![*a]),
            // RFC 6761 §6.3: `localhost` is the loopback, whatever the
            // resolver says (a minimal container may have no /etc/hosts).
            Listen::Host { host, port }
                if host.eq_ignore_ascii_case("localhost")
                    || host.to_ascii_lowercase().ends_with(".localhost") =>
            {
                Ok(vec![
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), *port),
                    SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), *port),
                ])
            }
            Listen::Host { host, port } => {
                let mut addrs: Vec<SocketAddr> = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| format!("{host}: {e}"))?
                    .collect();
                addrs.sort_by_key(|a| a.is_ipv6());
                addrs.dedup();
                if addrs.is_empty() {
                    return Err(format!("{host}: no address"));
                }
                Ok(addrs)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let addr = |s: &str| Listen::parse(s).unwrap();
        assert_eq!(addr(":9464"), Listen::Addr("0.0.0.0:9464".parse().unwrap()));
        assert_eq!(
            addr("0.0.0.0:9464"),
            Listen::Addr("0.0.0.0:9464".parse().unwrap())
        );
        assert_eq!(
            addr("[::1]:9464"),
            Listen::Addr("[::1]:9464".parse().unwrap())
        );
        assert_eq!(
            addr("localhost:9464"),
            Listen::Host {
                host: "localhost".into(),
                port: 9464
            }
        );
        for bad in [
            "localhost",
            "9464",
            "a b:1",
            ":99999",
            "host:x",
            "::1:80",
            "",
        ] {
            assert!(Listen::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn localhost_resolves_to_loopback_ipv4_first() {
        let addrs = addr_list("localhost:0");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        if addrs.iter().any(SocketAddr::is_ipv4) {
            assert!(addrs[0].is_ipv4(), "{addrs:?}");
        }
    }

    fn addr_list(s: &str) -> Vec<SocketAddr> {
        Listen::parse(s).unwrap().resolve().unwrap()
    }
}

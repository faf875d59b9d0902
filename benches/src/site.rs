//! The farm's site table: names, Traefik router and service names, pod
//! addresses and namespaces, all pure functions of a zero-based site index so
//! tests can compute what a line should be labelled without the generator.

/// `site042`: the Kubernetes namespace, FPM pool and the stem of every other
/// name for zero-based index `i` (names are one-based: index 0 is `site001`).
pub fn site_slug(i: usize) -> String {
    format!("site{:03}", i + 1)
}

/// `site042.example.com`: the Host header and nginx `$host` of site `i`.
pub fn site_name(i: usize) -> String {
    format!("site{:03}.example.com", i + 1)
}

/// `websecure-site042-example-com@kubernetes`: the Traefik router of site `i`.
pub fn router_name(i: usize) -> String {
    format!("websecure-site{:03}-example-com@kubernetes", i + 1)
}

/// `site042-example-com-php-80@kubernetes`: the Traefik service of site `i`.
pub fn service_name(i: usize) -> String {
    format!("site{:03}-example-com-php-80@kubernetes", i + 1)
}

/// `site042`: the Kubernetes namespace of site `i` (same as [`site_slug`]).
pub fn namespace(i: usize) -> String {
    site_slug(i)
}

/// `10.42.x.y`: the pod IP of site `i`. Pods spread over 32 nodes, each with
/// its own `/24` (as flannel assigns them); unique for up to 64,000 sites.
pub fn pod_ip(i: usize) -> String {
    let node = i % 32 + 32 * (i / (32 * 250));
    let slot = 2 + (i / 32) % 250;
    format!("10.42.{node}.{slot}")
}

/// `http://10.42.x.y:80`: the Traefik service URL of site `i`.
pub fn service_url(i: usize) -> String {
    format!("http://{}:80", pod_ip(i))
}

/// Every name of one site, rendered once so lines are built by copying.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub slug: Box<[u8]>,
    pub host: Box<[u8]>,
    pub router: Box<[u8]>,
    pub service: Box<[u8]>,
    pub url: Box<[u8]>,
    /// `10.42.x.y:80`
    pub addr: Box<[u8]>,
}

impl Site {
    pub fn new(i: usize) -> Site {
        let b = |s: String| s.into_bytes().into_boxed_slice();
        Site {
            slug: b(site_slug(i)),
            host: b(site_name(i)),
            router: b(router_name(i)),
            service: b(service_name(i)),
            url: b(service_url(i)),
            addr: b(format!("{}:80", pod_ip(i))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(site_name(41), "site042.example.com");
        assert_eq!(router_name(0), "websecure-site001-example-com@kubernetes");
        assert_eq!(service_name(499), "site500-example-com-php-80@kubernetes");
        assert_eq!(namespace(6), "site007");
        assert_eq!(site_name(1233), "site1234.example.com");
        assert!(service_url(41).starts_with("http://10.42."));
    }

    #[test]
    fn pod_ips_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            assert!(seen.insert(pod_ip(i)), "duplicate pod ip for {i}");
        }
    }
}

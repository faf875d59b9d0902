//! The `sites:` section: which keys name a site, the patterns that read a
//! site out of them, the farm's domains, and the mapping table.

use serde::Deserialize;

/// Which key of a record (or of the file it came from) names its site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Traefik router name, through `router_pattern`.
    Router,
    /// Traefik service name, through `service_pattern`.
    Service,
    /// HTTP Host header / nginx `$host`, lower-cased, port stripped.
    Host,
    /// The PHP script a line names (FPM slow and access logs, PHP errors
    /// `in /var/www/site007/wp-content/...`), through `path_pattern`.
    Script,
    /// Kubernetes namespace from a /var/log/pods/ path.
    Namespace,
    /// PHP-FPM pool name.
    Pool,
    /// The log file's path, through `path_pattern`.
    Path,
}

/// Number of [`KeyKind`]s.
pub(crate) const KEY_KINDS: usize = 7;

impl KeyKind {
    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}

/// One explicitly configured site and the keys that name it: the mapping
/// table for farms whose names do not follow one scheme.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticSite {
    /// Site name used in metrics and APIs, kept as written.
    pub name: String,
    /// Host names (exact, after normalisation: lower case, no port, no
    /// `www.` when `strip_www`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Site names captured from router names by `router_pattern`.
    #[serde(default)]
    pub routers: Vec<String>,
    /// Site names captured from service names by `service_pattern`.
    #[serde(default)]
    pub services: Vec<String>,
    /// Kubernetes namespaces.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// PHP-FPM pool names.
    #[serde(default)]
    pub pools: Vec<String>,
    /// Directory names captured by `path_pattern` from script and file
    /// paths (`site007` of `/var/www/site007/...`).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Names that stand for this site whatever key they come from,
    /// compared in canonical form (so `shop.example.com` also matches the
    /// router capture `shop-example-com`).
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// How records are mapped to sites (`sites:` in the config file).
///
/// The name of a site is a pure function of the key it was read from
/// (never of which line came first), in three steps: the key's pattern or
/// normalisation (`router_pattern`, `service_pattern`, `path_pattern`, host
/// rules), then the mapping table (`static_sites`), then the canonical
/// form: lower case, a farm domain of `domains` removed, `.` written `-`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SitesConfig {
    /// Keys tried in order; the first that yields a site wins.
    pub resolve_order: Vec<KeyKind>,
    /// Regex over Traefik router names with a `site` capture group.
    /// The default strips a `web-`/`websecure-` entrypoint prefix and the
    /// `@provider` suffix: `websecure-site042-example-com@kubernetes` →
    /// `site042-example-com`.
    pub router_pattern: String,
    /// Regex over Traefik service names with a `site` capture group. The
    /// default strips the `@provider` suffix, a port number and a role
    /// suffix (`-php`, `-fpm`, `-nginx`, `-wordpress`, `-web`, `-svc`, ...):
    /// `site042-example-com-php-80@kubernetes` → `site042-example-com`.
    pub service_pattern: String,
    /// Regex over file and script paths with a `site` capture group.
    pub path_pattern: String,
    /// Drop a leading `www.` from Host headers so both spellings are one site.
    pub strip_www: bool,
    /// The farm's own domains: a name under one of them is named by what
    /// comes before it, so the Host `site042.example.com`, the router
    /// capture `site042-example-com`, the namespace and pool `site042` and
    /// the install path `/var/www/site042/` are one site, `site042`.
    /// Customers' own domains (not listed) keep their full name.
    pub domains: Vec<String>,
    /// Names that never name a site: stock document roots (`html`,
    /// `htdocs`, ...) and the stock FPM pool (`www`).
    pub ignore_names: Vec<String>,
    /// Create a site for every new key (up to `max_sites`); when false only
    /// `static_sites` exist and everything else is `_unknown`.
    pub auto_create: bool,
    /// Hard cap on the number of sites (including `_unknown`). Bounds memory
    /// and label cardinality against floods of random Host headers.
    pub max_sites: usize,
    /// Write `.` (and `_`) as `-` in site names, so the Traefik router capture
    /// `site042-example-com` and the Host `site042.example.com` (nginx,
    /// FPM) are one site, `site042-example-com`, whichever comes first.
    /// When false, names keep their dots and those two stay apart.
    pub merge_dots_and_dashes: bool,
    /// Namespaces that never name a site (the ingress controller's and the
    /// cluster's own pods).
    pub exclude_namespaces: Vec<String>,
    /// Explicit sites and their aliases: the mapping table.
    pub static_sites: Vec<StaticSite>,
}

impl Default for SitesConfig {
    fn default() -> Self {
        Self {
            resolve_order: vec![
                KeyKind::Router,
                KeyKind::Service,
                KeyKind::Host,
                KeyKind::Script,
                KeyKind::Namespace,
                KeyKind::Pool,
                KeyKind::Path,
            ],
            router_pattern:
                r"^(?:(?:web|websecure|http|https)-)?(?P<site>[^@]+?)(?:@[A-Za-z0-9_-]+)?$".into(),
            service_pattern: concat!(
                r"^(?P<site>[^@]+?)",
                r"(?:-(?:php|fpm|php-fpm|nginx|wordpress|wp|web|http|https|app|svc|service))*",
                r"(?:-[0-9]+)?(?:@[A-Za-z0-9_-]+)?$"
            )
            .into(),
            // Plesk's `/var/www/vhosts/<domain>/` before the plain `/var/www/<site>/`.
            path_pattern: r"/(?:sites|vhosts|www(?:/vhosts)?)/(?P<site>[A-Za-z0-9._-]+)/".into(),
            strip_www: true,
            domains: Vec::new(),
            ignore_names: [
                "html",
                "htdocs",
                "public_html",
                "public",
                "web",
                "www",
                "default",
            ]
            .map(String::from)
            .to_vec(),
            auto_create: true,
            max_sites: 2000,
            merge_dots_and_dashes: true,
            exclude_namespaces: [
                "kube-system",
                "kube-public",
                "traefik",
                "ingress-nginx",
                "monitoring",
                "logging",
            ]
            .map(String::from)
            .to_vec(),
            static_sites: Vec::new(),
        }
    }
}

/// A config value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LabelConfigError {
    /// A pattern is not a valid regex or lacks the `site` group.
    #[error("sites.{field}: {reason}")]
    Pattern { field: &'static str, reason: String },
    /// `max_sites` is outside 2..=65535.
    #[error("sites.max_sites: must be between 2 and 65535, got {0}")]
    MaxSites(usize),
    /// A domain that is not a DNS name.
    #[error("sites.domains: {0:?} is not a domain name (letters, digits, `-`, `.`)")]
    Domain(String),
    /// Two static sites share a name or a key, or there are more than
    /// `max_sites`.
    #[error("sites.static_sites: {0}")]
    Static(String),
}

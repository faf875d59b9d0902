//! Labels each record with the site it belongs to. A site is a small
//! integer ([`SiteId`]) into a capped [`SiteTable`]; keys (router name, Host
//! header, Kubernetes namespace, FPM pool, file path) are turned into site
//! names once per distinct key and cached, so the per-line cost is one hash
//! lookup. Keys that match no rule, and new sites beyond the cap, go to
//! [`SiteId::UNKNOWN`] and are counted.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use regex::bytes::Regex;
use serde::Deserialize;

use crate::record::Record;

/// Index of a site in the [`SiteTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteId(pub u16);

impl SiteId {
    /// The `_unknown` site: records whose keys resolve to no site.
    pub const UNKNOWN: SiteId = SiteId(0);

    /// The id as an index into per-site vectors.
    #[inline]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Name of the site that collects unresolvable records.
pub const UNKNOWN_SITE: &str = "_unknown";

/// Which key of a record (or of the file it came from) names its site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Traefik router name, through `router_pattern`.
    Router,
    /// HTTP Host header / nginx `$host`, lower-cased, port stripped.
    Host,
    /// Kubernetes namespace from a /var/log/pods/ path.
    Namespace,
    /// PHP-FPM pool name.
    Pool,
    /// The log file's path, through `path_pattern`.
    Path,
}

const KEY_KINDS: usize = 5;

impl KeyKind {
    fn slot(self) -> usize {
        self as usize
    }
}

/// One explicitly configured site and the keys that name it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticSite {
    /// Site name used in metrics and APIs.
    pub name: String,
    /// Host names (exact, after normalisation).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Site names captured from router names by `router_pattern`.
    #[serde(default)]
    pub routers: Vec<String>,
    /// Kubernetes namespaces.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// PHP-FPM pool names.
    #[serde(default)]
    pub pools: Vec<String>,
}

/// How records are mapped to sites (`sites:` in the config file).
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
    /// Regex over file paths with a `site` capture group.
    pub path_pattern: String,
    /// Drop a leading `www.` from Host headers so both spellings are one site.
    pub strip_www: bool,
    /// Create a site for every new key (up to `max_sites`); when false only
    /// `static_sites` exist and everything else is `_unknown`.
    pub auto_create: bool,
    /// Hard cap on the number of sites (including `_unknown`). Bounds memory
    /// and label cardinality against floods of random Host headers.
    pub max_sites: usize,
    /// Treat names that differ only in `.` versus `-` as one site, so the
    /// Traefik router capture `site042-example-com` and the Host
    /// `site042.example.com` (nginx, FPM) count together. The first
    /// spelling seen names the site.
    pub merge_dots_and_dashes: bool,
    /// Namespaces that never name a site (the ingress controller's and the
    /// cluster's own pods).
    pub exclude_namespaces: Vec<String>,
    /// Explicit sites and their aliases.
    pub static_sites: Vec<StaticSite>,
}

impl Default for SitesConfig {
    fn default() -> Self {
        Self {
            resolve_order: vec![
                KeyKind::Router,
                KeyKind::Host,
                KeyKind::Namespace,
                KeyKind::Pool,
                KeyKind::Path,
            ],
            router_pattern:
                r"^(?:(?:web|websecure|http|https)-)?(?P<site>[^@]+?)(?:@[A-Za-z0-9_-]+)?$".into(),
            path_pattern: r"/(?:sites|www|vhosts)/(?P<site>[A-Za-z0-9._-]+)/".into(),
            strip_www: true,
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
    /// Two static sites share a name, or there are more than `max_sites`.
    #[error("sites.static_sites: {0}")]
    Static(String),
}

/// The capped table of site names.
#[derive(Debug, Clone)]
pub struct SiteTable {
    names: Vec<Box<str>>,
    by_name: HashMap<Box<str>, SiteId, RandomState>,
    max: usize,
    merge: bool,
}

impl SiteTable {
    fn new(max: usize, merge: bool) -> Self {
        let mut t = Self {
            names: Vec::new(),
            by_name: HashMap::default(),
            max,
            merge,
        };
        t.names.push(UNKNOWN_SITE.into());
        t.by_name.insert(UNKNOWN_SITE.into(), SiteId::UNKNOWN);
        t
    }

    /// The key `by_name` is indexed by: the name, or with `merge` its
    /// dashed spelling.
    fn key(&self, name: &str) -> Box<str> {
        if self.merge {
            name.replace('.', "-").into()
        } else {
            name.into()
        }
    }

    /// Returns the id of `name`, creating it if there is room.
    fn intern(&mut self, name: &str) -> Option<SiteId> {
        let key = self.key(name);
        if let Some(id) = self.by_name.get(&key) {
            return Some(*id);
        }
        if self.names.len() >= self.max {
            return None;
        }
        let id = SiteId(u16::try_from(self.names.len()).ok()?);
        self.names.push(name.into());
        self.by_name.insert(key, id);
        Some(id)
    }

    /// Name of a site (`_unknown` for ids not in the table).
    pub fn name(&self, id: SiteId) -> &str {
        self.names.get(id.index()).map_or(UNKNOWN_SITE, |n| n)
    }

    /// Looks a site up by name (either spelling when merging).
    pub fn get(&self, name: &str) -> Option<SiteId> {
        self.by_name.get(&self.key(name)).copied()
    }

    /// Number of sites, `_unknown` included.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always false: `_unknown` is always present.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// All sites in id order.
    pub fn iter(&self) -> impl Iterator<Item = (SiteId, &str)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (SiteId(i as u16), &**n))
    }
}

/// Counters of the labelling stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabelStats {
    /// Records labelled `_unknown`.
    pub unknown_records: u64,
    /// Distinct keys refused because the site table was full.
    pub sites_refused: u64,
    /// Times a key cache filled up (4 × `max_sites` distinct keys of one
    /// kind) and was emptied.
    pub cache_resets: u64,
}

/// Site keys that come from the file rather than from each line.
#[derive(Debug, Clone, Default)]
pub struct FileKeys {
    /// Kubernetes namespace (from a /var/log/pods/ path).
    pub namespace: Option<String>,
    /// The file's path.
    pub path: Option<String>,
}

/// Per-file resolution results, computed once by [`Labeler::file_sites`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSites {
    namespace: Option<SiteId>,
    path: Option<SiteId>,
}

/// Maps records to sites, caching per distinct key.
#[derive(Debug, Clone)]
pub struct Labeler {
    table: SiteTable,
    order: Vec<KeyKind>,
    router_re: Regex,
    path_re: Regex,
    strip_www: bool,
    auto_create: bool,
    exclude_namespaces: Vec<String>,
    /// Per key kind: raw key → resolved site (`None` = key names no site).
    cache: [HashMap<Box<[u8]>, Option<SiteId>, RandomState>; KEY_KINDS],
    /// Per key kind: normalised key → static site.
    aliases: [HashMap<Box<str>, SiteId, RandomState>; KEY_KINDS],
    max_cached_keys: usize,
    scratch: Vec<u8>,
    stats: LabelStats,
}

impl Labeler {
    /// Validates the config and builds the labeler.
    ///
    /// # Errors
    /// [`LabelConfigError`] naming the offending field.
    pub fn new(cfg: &SitesConfig) -> Result<Self, LabelConfigError> {
        if !(2..=65_535).contains(&cfg.max_sites) {
            return Err(LabelConfigError::MaxSites(cfg.max_sites));
        }
        let compile = |field: &'static str, pat: &str| -> Result<Regex, LabelConfigError> {
            let re = Regex::new(pat).map_err(|e| LabelConfigError::Pattern {
                field,
                reason: e.to_string(),
            })?;
            if re.capture_names().flatten().all(|n| n != "site") {
                return Err(LabelConfigError::Pattern {
                    field,
                    reason: "needs a named capture group `(?P<site>...)`".into(),
                });
            }
            Ok(re)
        };
        let router_re = compile("router_pattern", &cfg.router_pattern)?;
        let path_re = compile("path_pattern", &cfg.path_pattern)?;
        let mut table = SiteTable::new(cfg.max_sites, cfg.merge_dots_and_dashes);
        let mut aliases: [HashMap<Box<str>, SiteId, RandomState>; KEY_KINDS] = Default::default();
        for s in &cfg.static_sites {
            if table.get(&s.name).is_some() {
                return Err(LabelConfigError::Static(format!(
                    "site {:?} is listed twice",
                    s.name
                )));
            }
            let id = table.intern(&s.name).ok_or_else(|| {
                LabelConfigError::Static(format!(
                    "more static sites than max_sites ({})",
                    cfg.max_sites
                ))
            })?;
            let mut add = |kind: KeyKind, keys: &[String]| {
                for k in keys {
                    aliases[kind.slot()].insert(k.to_ascii_lowercase().into(), id);
                }
            };
            add(KeyKind::Host, &s.hosts);
            add(KeyKind::Router, &s.routers);
            add(KeyKind::Namespace, &s.namespaces);
            add(KeyKind::Pool, &s.pools);
        }
        Ok(Self {
            table,
            order: cfg.resolve_order.clone(),
            router_re,
            path_re,
            strip_www: cfg.strip_www,
            auto_create: cfg.auto_create,
            exclude_namespaces: cfg.exclude_namespaces.clone(),
            cache: Default::default(),
            aliases,
            max_cached_keys: cfg.max_sites.saturating_mul(4),
            scratch: Vec::new(),
            stats: LabelStats::default(),
        })
    }

    /// The site table.
    pub fn sites(&self) -> &SiteTable {
        &self.table
    }

    /// Counters so far.
    pub fn stats(&self) -> LabelStats {
        self.stats
    }

    /// Resolves the file-level keys once per file.
    pub fn file_sites(&mut self, keys: &FileKeys) -> FileSites {
        FileSites {
            namespace: keys
                .namespace
                .as_deref()
                .filter(|ns| !self.exclude_namespaces.iter().any(|x| x == ns))
                .and_then(|ns| self.lookup(KeyKind::Namespace, ns.as_bytes(), false)),
            path: keys
                .path
                .as_deref()
                .and_then(|p| self.lookup(KeyKind::Path, p.as_bytes(), false)),
        }
    }

    /// The site of one record: the first key in `resolve_order` that names
    /// a site, else `_unknown`.
    ///
    /// # Performance
    /// One hash lookup per key tried; a regex only the first time a key is seen.
    #[inline]
    pub fn label(&mut self, rec: &Record<'_>, file: &FileSites) -> SiteId {
        for i in 0..self.order.len() {
            let found = match self.order[i] {
                KeyKind::Router => self.lookup(KeyKind::Router, rec.router, rec.json_escaped),
                KeyKind::Host => self.lookup(KeyKind::Host, rec.host, rec.json_escaped),
                KeyKind::Pool => self.lookup(KeyKind::Pool, rec.pool, rec.json_escaped),
                KeyKind::Namespace => file.namespace,
                KeyKind::Path => file.path,
            };
            if let Some(id) = found {
                return id;
            }
        }
        self.stats.unknown_records += 1;
        SiteId::UNKNOWN
    }

    fn lookup(&mut self, kind: KeyKind, key: &[u8], escaped: bool) -> Option<SiteId> {
        if key.is_empty() {
            return None;
        }
        if let Some(hit) = self.cache[kind.slot()].get(key) {
            return *hit;
        }
        self.resolve_new(kind, key, escaped)
    }

    #[cold]
    fn resolve_new(&mut self, kind: KeyKind, key: &[u8], escaped: bool) -> Option<SiteId> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let raw: &[u8] = if escaped && memchr::memchr(b'\\', key).is_some() {
            if crate::json::unescape_into(key, &mut scratch).is_err() {
                scratch.clear();
            }
            &scratch
        } else {
            key
        };
        let name = self.site_name(kind, raw);
        let id = match name {
            None => None,
            // A key that names no known site (or one beyond the cap) lets
            // the next key in `resolve_order` try; `label` counts what ends
            // up `_unknown`.
            Some(name) => match self.aliases[kind.slot()].get(name.as_str()) {
                Some(id) => Some(*id),
                None if self.auto_create => {
                    let id = self.table.intern(&name);
                    self.stats.sites_refused += u64::from(id.is_none());
                    id
                }
                None => None,
            },
        };
        self.scratch = scratch;
        let cache = &mut self.cache[kind.slot()];
        if cache.len() >= self.max_cached_keys {
            // A flood of distinct keys (random Host headers): start over
            // rather than stop caching, so real keys stay one lookup away.
            cache.clear();
            self.stats.cache_resets += 1;
        }
        cache.insert(key.into(), id);
        id
    }

    /// The normalised site name a key stands for, `None` when it names none.
    fn site_name(&self, kind: KeyKind, raw: &[u8]) -> Option<String> {
        let captured = |re: &Regex| -> Option<String> {
            let caps = re.captures(raw)?;
            let m = caps.name("site")?;
            let s = std::str::from_utf8(m.as_bytes()).ok()?;
            (!s.is_empty()).then(|| s.to_ascii_lowercase())
        };
        match kind {
            KeyKind::Router => captured(&self.router_re),
            // The document roots of stock images name no site.
            KeyKind::Path => captured(&self.path_re).filter(|s| {
                !matches!(
                    s.as_str(),
                    "html" | "htdocs" | "public_html" | "public" | "web"
                )
            }),
            KeyKind::Host => normalise_host(raw, self.strip_www),
            KeyKind::Namespace | KeyKind::Pool => {
                let s = std::str::from_utf8(raw).ok()?;
                let ok = s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
                (ok && s != "-").then(|| s.to_ascii_lowercase())
            }
        }
    }
}

/// Lower-cases a Host header, drops the port and a trailing dot (and
/// `www.` when asked); `None` for IP literals and anything that is not a
/// plausible DNS name, so scanners hitting the node's address do not
/// create sites.
fn normalise_host(raw: &[u8], strip_www: bool) -> Option<String> {
    if raw.first() == Some(&b'[') {
        return None; // IPv6 literal
    }
    let host = match memchr::memchr(b':', raw) {
        Some(i) => &raw[..i],
        None => raw,
    };
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty()
        || host.len() > 253
        || !host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        || host.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        || !host.contains(&b'.')
    {
        return None;
    }
    let mut s = String::from_utf8(host.to_ascii_lowercase()).ok()?;
    if strip_www && s.starts_with("www.") && s.len() > 4 {
        s.drain(..4);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(router: &'a [u8], host: &'a [u8], pool: &'a [u8]) -> Record<'a> {
        Record {
            router,
            host,
            pool,
            ..Record::default()
        }
    }

    #[test]
    fn router_then_host_then_file() {
        let mut l = Labeler::new(&SitesConfig::default()).unwrap();
        let none = FileSites::default();
        let a = l.label(
            &rec(b"websecure-site042-example-com@kubernetes", b"", b""),
            &none,
        );
        assert_eq!(l.sites().name(a), "site042-example-com");
        let b = l.label(&rec(b"", b"WWW.Site7.Example.com:443", b""), &none);
        assert_eq!(l.sites().name(b), "site7.example.com");
        let c = l.label(&rec(b"", b"", b"site9"), &none);
        assert_eq!(l.sites().name(c), "site9");
        let file = l.file_sites(&FileKeys {
            namespace: Some("shop".into()),
            path: None,
        });
        let d = l.label(&rec(b"", b"10.0.0.1", b""), &file);
        assert_eq!(l.sites().name(d), "shop");
        let e = l.label(&rec(b"", b"", b""), &none);
        assert_eq!(e, SiteId::UNKNOWN);
        assert_eq!(l.stats().unknown_records, 1);
        // Cached: same id again.
        assert_eq!(
            l.label(
                &rec(b"websecure-site042-example-com@kubernetes", b"", b""),
                &none
            ),
            a
        );
    }

    #[test]
    fn router_and_host_spellings_are_one_site() {
        let mut l = Labeler::new(&SitesConfig::default()).unwrap();
        let none = FileSites::default();
        let a = l.label(
            &rec(b"websecure-site042-example-com@kubernetes", b"", b""),
            &none,
        );
        let b = l.label(&rec(b"", b"site042.example.com", b""), &none);
        assert_eq!(a, b);
        assert_eq!(l.sites().name(a), "site042-example-com");
        assert_eq!(l.sites().get("site042.example.com"), Some(a));
        let cfg = SitesConfig {
            merge_dots_and_dashes: false,
            ..SitesConfig::default()
        };
        let mut l = Labeler::new(&cfg).unwrap();
        let a = l.label(
            &rec(b"websecure-site042-example-com@kubernetes", b"", b""),
            &none,
        );
        let b = l.label(&rec(b"", b"site042.example.com", b""), &none);
        assert_ne!(a, b);
    }

    #[test]
    fn excluded_namespaces_name_no_site() {
        let mut l = Labeler::new(&SitesConfig::default()).unwrap();
        let file = l.file_sites(&FileKeys {
            namespace: Some("kube-system".into()),
            path: None,
        });
        assert_eq!(l.label(&rec(b"", b"", b""), &file), SiteId::UNKNOWN);
    }

    #[test]
    fn cap_bounds_sites_and_cache() {
        let cfg = SitesConfig {
            max_sites: 10,
            ..SitesConfig::default()
        };
        let mut l = Labeler::new(&cfg).unwrap();
        let none = FileSites::default();
        for i in 0..10_000 {
            let host = format!("random{i}.example.org");
            l.label(&rec(b"", host.as_bytes(), b""), &none);
        }
        assert_eq!(l.sites().len(), 10);
        assert_eq!(l.stats().sites_refused, 9_991);
        assert_eq!(l.stats().unknown_records, 9_991);
        assert!(l.cache[KeyKind::Host.slot()].len() <= 40);
        assert_eq!(l.stats().cache_resets, 10_000 / 40 - 1);
        // A site created before the flood still resolves (and is cached again).
        let id = l.label(&rec(b"", b"random3.example.org", b""), &none);
        assert_eq!(l.sites().name(id), "random3.example.org");
    }

    #[test]
    fn static_sites_alias_keys() {
        let cfg = SitesConfig {
            auto_create: false,
            static_sites: vec![StaticSite {
                name: "shop".into(),
                hosts: vec!["shop.example.com".into()],
                routers: vec!["shop-example-com".into()],
                ..StaticSite::default()
            }],
            ..SitesConfig::default()
        };
        let mut l = Labeler::new(&cfg).unwrap();
        let none = FileSites::default();
        let a = l.label(
            &rec(b"websecure-shop-example-com@kubernetescrd", b"", b""),
            &none,
        );
        let b = l.label(&rec(b"", b"www.shop.example.com", b""), &none);
        let c = l.label(&rec(b"", b"other.example.com", b""), &none);
        assert_eq!(l.sites().name(a), "shop");
        assert_eq!(a, b);
        assert_eq!(c, SiteId::UNKNOWN);
        assert_eq!(l.stats().unknown_records, 1);
        // An unknown Host falls through to the next key: the pool.
        let cfg = SitesConfig {
            static_sites: vec![StaticSite {
                name: "shop".into(),
                pools: vec!["shop".into()],
                ..StaticSite::default()
            }],
            ..cfg
        };
        let mut l = Labeler::new(&cfg).unwrap();
        let d = l.label(&rec(b"", b"other.example.com", b"shop"), &none);
        assert_eq!(l.sites().name(d), "shop");
    }

    #[test]
    fn bad_patterns_name_the_field() {
        let cfg = SitesConfig {
            router_pattern: "(unclosed".into(),
            ..SitesConfig::default()
        };
        let e = Labeler::new(&cfg).unwrap_err().to_string();
        assert!(e.starts_with("sites.router_pattern:"), "{e}");
        let cfg = SitesConfig {
            path_pattern: "/var/www/([^/]+)/".into(),
            ..SitesConfig::default()
        };
        let e = Labeler::new(&cfg).unwrap_err().to_string();
        assert!(e.contains("path_pattern") && e.contains("site"), "{e}");
    }

    #[test]
    fn stock_document_roots_name_no_site() {
        let mut l = Labeler::new(&SitesConfig::default()).unwrap();
        let f = l.file_sites(&FileKeys {
            namespace: None,
            path: Some("/var/www/html/wp-content/debug.log".into()),
        });
        assert_eq!(l.label(&rec(b"", b"", b""), &f), SiteId::UNKNOWN);
        let f = l.file_sites(&FileKeys {
            namespace: None,
            path: Some("/srv/sites/shop.example.com/logs/debug.log".into()),
        });
        let id = l.label(&rec(b"", b"", b""), &f);
        assert_eq!(l.sites().name(id), "shop.example.com");
    }

    #[test]
    fn hosts_that_are_not_sites() {
        for h in [
            &b"10.1.2.3"[..],
            b"[2001:db8::1]:443",
            b"localhost",
            b"bad host",
            b"-",
        ] {
            assert_eq!(
                normalise_host(h, true),
                None,
                "{:?}",
                String::from_utf8_lossy(h)
            );
        }
    }
}
